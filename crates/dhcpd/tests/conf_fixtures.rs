//! The parser against the fixture corpus: for every `fixtures/conf/*.conf`, our verdict and first
//! error line must equal what ISC dhcpd 4.4.3 printed (recorded in `EXPECTED.tsv`; the
//! `isc_agrees` tests re-check that record against the real ISC binary).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use common::{expected, fixtures_dir, ours};

macro_rules! fixture_test {
    ($name:ident, $file:expr) => {
        #[test]
        fn $name() {
            let exp = expected();
            let e = exp
                .get($file)
                .unwrap_or_else(|| panic!("{} missing from EXPECTED.tsv", $file));
            let (accepts, first) = ours($file);
            assert_eq!(accepts, e.0, "{}: verdict differs from ISC", $file);
            assert_eq!(first, e.1, "{}: first error line differs from ISC", $file);
        }
    };
}

fixture_test!(fixture_bare_identifier, "bare-identifier.conf");
fixture_test!(fixture_centos7_kickstart, "centos7-kickstart.conf");
fixture_test!(fixture_classes_match, "classes-match.conf");
fixture_test!(
    fixture_classic_pxe_option_space_as_pasted,
    "classic-pxe-option-space.as-pasted.conf"
);
fixture_test!(
    fixture_classic_pxe_option_space,
    "classic-pxe-option-space.conf"
);
fixture_test!(
    fixture_dynamic_bootp_as_pasted,
    "dynamic-bootp.as-pasted.conf"
);
fixture_test!(fixture_dynamic_bootp, "dynamic-bootp.conf");
fixture_test!(fixture_err_arch_undefined, "err-arch-undefined.conf");
fixture_test!(fixture_err_bad_boolean, "err-bad-boolean.conf");
fixture_test!(fixture_err_bad_hardware, "err-bad-hardware.conf");
fixture_test!(fixture_err_bad_ip, "err-bad-ip.conf");
fixture_test!(fixture_err_bad_mask, "err-bad-mask.conf");
fixture_test!(fixture_err_bad_type, "err-bad-type.conf");
fixture_test!(fixture_err_class_no_name, "err-class-no-name.conf");
fixture_test!(
    fixture_err_double_encapsulate,
    "err-double-encapsulate.conf"
);
fixture_test!(fixture_err_flattened_block, "err-flattened-block.conf");
fixture_test!(fixture_err_flattened, "err-flattened.conf");
fixture_test!(
    fixture_err_fullwidth_semicolon,
    "err-fullwidth-semicolon.conf"
);
fixture_test!(fixture_err_host_in_host, "err-host-in-host.conf");
fixture_test!(
    fixture_err_lone_typographic_quote,
    "err-lone-typographic-quote.conf"
);
fixture_test!(fixture_err_missing_include, "err-missing-include.conf");
fixture_test!(fixture_err_missing_semicolon, "err-missing-semicolon.conf");
fixture_test!(fixture_err_nested_pool, "err-nested-pool.conf");
fixture_test!(fixture_err_no_space_named, "err-no-space-named.conf");
fixture_test!(
    fixture_err_option_scoped_definition,
    "err-option-scoped-definition.conf"
);
fixture_test!(
    fixture_err_range_outside_subnet,
    "err-range-outside-subnet.conf"
);
fixture_test!(fixture_err_subnet6, "err-subnet6.conf");
fixture_test!(fixture_err_two_errors, "err-two-errors.conf");
fixture_test!(
    fixture_err_typographic_quotes,
    "err-typographic-quotes.conf"
);
fixture_test!(fixture_err_unbalanced_brace, "err-unbalanced-brace.conf");
fixture_test!(fixture_err_unknown_enum, "err-unknown-enum.conf");
fixture_test!(fixture_err_unknown_option, "err-unknown-option.conf");
fixture_test!(fixture_err_unknown_space, "err-unknown-space.conf");
fixture_test!(
    fixture_err_unterminated_string,
    "err-unterminated-string.conf"
);
fixture_test!(fixture_expressions_ok, "expressions-ok.conf");
fixture_test!(fixture_expressions, "expressions.conf");
fixture_test!(fixture_global_params, "global-params.conf");
fixture_test!(fixture_host_in_subnet, "host-in-subnet.conf");
fixture_test!(fixture_hosts_fixed, "hosts-fixed.conf");
fixture_test!(fixture_if_elsif_else, "if-elsif-else.conf");
fixture_test!(fixture_include_ok, "include-ok.conf");
fixture_test!(fixture_ipxe_chainload, "ipxe-chainload.conf");
fixture_test!(fixture_ipxe_option_space, "ipxe-option-space.conf");
fixture_test!(fixture_mixed_case_keywords, "mixed-case-keywords.conf");
fixture_test!(fixture_named_group, "named-group.conf");
fixture_test!(fixture_noncontiguous_mask, "noncontiguous-mask.conf");
fixture_test!(fixture_not_authoritative, "not-authoritative.conf");
fixture_test!(fixture_option_definitions, "option-definitions.conf");
fixture_test!(fixture_pool_permits, "pool-permits.conf");
fixture_test!(
    fixture_pxe_system_type_builtin,
    "pxe-system-type-builtin.conf"
);
fixture_test!(fixture_range_dynamic_bootp, "range-dynamic-bootp.conf");
fixture_test!(fixture_redefine_user_class, "redefine-user-class.conf");
fixture_test!(fixture_shared_network_pools, "shared-network-pools.conf");
fixture_test!(fixture_standard_options, "standard-options.conf");
fixture_test!(fixture_subclass_spawn, "subclass-spawn.conf");
fixture_test!(fixture_switch_case_ok, "switch-case-ok.conf");
fixture_test!(fixture_switch_case, "switch-case.conf");
fixture_test!(fixture_uefi_arch, "uefi-arch.conf");
fixture_test!(fixture_unsupported_kept, "unsupported-kept.conf");
fixture_test!(fixture_vendor_option_space, "vendor-option-space.conf");

fixture_test!(fixture_cobbler, "cobbler.conf");
fixture_test!(fixture_foreman, "foreman.conf");
fixture_test!(fixture_maas_on_events, "maas-on-events.conf");
fixture_test!(fixture_on_events_bodiless, "on-events-bodiless.conf");
fixture_test!(fixture_err_execute_no_comma, "err-execute-no-comma.conf");
fixture_test!(
    fixture_err_execute_no_semicolon,
    "err-execute-no-semicolon.conf"
);
fixture_test!(
    fixture_err_execute_numeric_arg,
    "err-execute-numeric-arg.conf"
);
fixture_test!(fixture_err_execute_unquoted, "err-execute-unquoted.conf");
fixture_test!(fixture_err_on_unknown_event, "err-on-unknown-event.conf");

#[test]
fn every_fixture_is_listed_and_tested() {
    let exp = expected();
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".conf"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = exp.keys().cloned().collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "EXPECTED.tsv and the fixture files disagree"
    );
    assert_eq!(
        on_disk.len(),
        COUNT,
        "add a fixture_test! line for each new fixture"
    );
    assert!(on_disk.len() >= 40);
}

const COUNT: usize = 69;

/// Parse `text` as `deep.conf` on a thread with the stack of a reload (tokio's blocking
/// threads get 2 MiB): every error headline, and whether the file is accepted.
fn parse_on_small_stack(text: String) -> (bool, Vec<String>) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let loaded = dhcpd::conf::parse_str(
                "deep.conf",
                text.as_bytes(),
                dhcpd::conf::ParseOptions::default(),
                &|_| Err(std::io::ErrorKind::NotFound.into()),
            );
            let errors = loaded
                .output
                .iter()
                .filter_map(|o| match o {
                    dhcpd::conf::Output::Error(d) => Some(d.headline()),
                    dhcpd::conf::Output::Log(_) => None,
                })
                .collect();
            (loaded.is_ok(), errors)
        })
        .unwrap()
        .join()
        .unwrap()
}

const DEEP_HEAD: &str = "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }\n\n";

#[test]
fn too_deep_nesting_is_an_error_on_its_line() {
    // ISC 4.4.3's `dhcpd -t` dies with SIGSEGV on each of these.
    let n = 100_000;
    let cases = [
        (
            "expression",
            format!("if {}true{} {{ }}\n", "(".repeat(n), ")".repeat(n)),
        ),
        ("expression", format!("if {}true {{ }}\n", "not ".repeat(n))),
        (
            "expression",
            format!(
                "option domain-name = {}\"x\"{};\n",
                "concat (\"a\", ".repeat(n),
                ")".repeat(n)
            ),
        ),
        // Nested `if`s (statements, counted with the expressions in them): the condition of
        // the hundredth is the first thing too deep.
        (
            "expression",
            format!("{}{}\n", "if true {\n".repeat(n), "}\n".repeat(n)),
        ),
        (
            "declaration",
            format!("{}{}\n", "group {\n".repeat(n), "}\n".repeat(n)),
        ),
    ];
    for (what, body) in cases {
        let (ok, errors) = parse_on_small_stack(format!("{DEEP_HEAD}{body}"));
        assert!(!ok, "{what}: accepted");
        let line = errors.first().cloned().unwrap_or_default();
        assert!(
            line.starts_with("deep.conf line ")
                && line.ends_with(&format!("{what} nested too deeply (more than 100 levels).")),
            "{what}: {errors:?}"
        );
        let at: u32 = line["deep.conf line ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((3..=103).contains(&at), "{what}: {line}");
        assert_eq!(errors.len(), 1, "{what}: one error, no cascade: {errors:?}");
    }
}

#[test]
fn nesting_below_the_limit_is_accepted() {
    let n = 90;
    for body in [
        format!("if {}true{} {{ }}\n", "(".repeat(n), ")".repeat(n)),
        format!("{}{}\n", "if true {\n".repeat(n), "}\n".repeat(n)),
        format!("{}{}\n", "group {\n".repeat(n), "}\n".repeat(n)),
    ] {
        let (ok, errors) = parse_on_small_stack(format!("{DEEP_HEAD}{body}"));
        assert!(ok, "{errors:?}");
    }
}

#[test]
fn recursive_functions_are_errors_at_the_call() {
    let text = "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
define second (arg) { return third (arg); }
define first (arg) {
  return second (arg);
}
define third (arg) {
  return first (arg);
}
define direct (arg) { return direct (arg); }
define fine (arg) { return second (arg); }
define twice (arg) { return concat (fine (arg), fine (arg)); }
option domain-name = first (\"a\");
";
    let (ok, errors) = parse_on_small_stack(text.to_string());
    assert!(!ok);
    assert_eq!(
        errors,
        [
            "deep.conf line 7: recursive function third: third -> first -> second -> third.",
            "deep.conf line 9: recursive function direct: direct -> direct.",
        ]
    );
}
