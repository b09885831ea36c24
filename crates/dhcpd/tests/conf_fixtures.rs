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

const COUNT: usize = 60;
