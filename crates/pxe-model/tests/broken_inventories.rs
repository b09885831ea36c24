//! Each broken inventory under `tests/fixtures/inventory/bad/` gives exactly the
//! errors in its `.expect` file, as `file:line:col: message` lines.
//!
//! After a deliberate change of wording, `PXE_BLESS=1 cargo test -p pxe-model --test
//! broken_inventories` rewrites the `.expect` files; review the diff before committing.

use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/inventory/bad")
}

fn check(case: &str) {
    let path = dir().join(format!("{case}.yaml"));
    let got = match pxe_model::load(&path) {
        Ok(_) => panic!("{case}: loaded, but it is broken"),
        Err(pxe_model::LoadError::Invalid(d)) => {
            // Paths relative to the fixture directory, so the expectations do not
            // depend on where the checkout is.
            let prefix = format!("{}/", dir().display());
            d.items
                .iter()
                .map(|i| i.to_string().replace(&prefix, ""))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => panic!("{case}: {e}"),
    };
    let expect_path = dir().join(format!("{case}.expect"));
    if std::env::var_os("PXE_BLESS").is_some() {
        std::fs::write(&expect_path, format!("{got}\n")).expect("write expectation");
        return;
    }
    let want = std::fs::read_to_string(&expect_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
    assert_eq!(got, want.trim_end(), "{case}");
}

macro_rules! cases {
    ($($name:ident => $file:literal,)*) => {
        $( #[test] fn $name() { check($file); } )*

        #[test]
        fn every_fixture_has_a_test() {
            let listed = [$($file),*];
            for entry in std::fs::read_dir(dir()).expect("fixture dir") {
                let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".yaml") {
                    assert!(listed.contains(&stem), "fixture {name} has no test");
                }
            }
        }
    };
}

cases! {
    unknown_top_key => "01-unknown-top-key",
    unknown_machine_key => "02-unknown-machine-key",
    unknown_distro_key => "03-unknown-distro-key",
    unknown_profile_key => "04-unknown-profile-key",
    unknown_server_key => "05-unknown-server-key",
    dangling_profile => "06-dangling-profile",
    dangling_distro => "07-dangling-distro",
    dangling_parent => "08-dangling-parent",
    inheritance_cycle => "09-inheritance-cycle",
    self_parent => "10-self-parent",
    duplicate_mac => "11-duplicate-mac",
    duplicate_mac_other_spelling => "12-duplicate-mac-other-spelling",
    duplicate_mac_in_list => "13-duplicate-mac-in-list",
    duplicate_address => "14-duplicate-address",
    malformed_mac => "15-malformed-mac",
    malformed_mac_in_list => "16-malformed-mac-in-list",
    malformed_address => "17-malformed-address",
    missing_servers => "18-missing-servers",
    http_not_a_url => "19-http-not-a-url",
    bad_family => "20-bad-family",
    bad_arch => "21-bad-arch",
    missing_kernel => "22-missing-kernel",
    bad_netboot => "23-bad-netboot",
    netboot_yes => "24-netboot-yes",
    bad_chain => "25-bad-chain",
    yaml_unclosed_bracket => "26-yaml-unclosed-bracket",
    yaml_duplicate_key => "27-yaml-duplicate-key",
    machine_without_mac => "28-machine-without-mac",
    machine_without_profile => "29-machine-without-profile",
    bad_uuid => "30-bad-uuid",
    duplicate_uuid => "31-duplicate-uuid",
    kernel_path_escapes => "32-kernel-path-escapes",
    profile_without_distro => "33-profile-without-distro",
    menu_default_unknown => "34-menu-default-unknown",
    machine_name_with_slash => "35-machine-name-with-slash",
    classic_chain_url_tree => "36-classic-chain-url-tree",
    template_missing => "37-template-missing",
    template_syntax_error => "38-template-syntax-error",
    machines_not_a_mapping => "39-machines-not-a-mapping",
    bad_hostname => "40-bad-hostname",
    menu_timeout_not_a_number => "41-menu-timeout-not-a-number",
    many_errors_at_once => "42-many-errors-at-once",
    deploy_errors => "43-deploy-errors",
    tree_locations => "44-tree-locations",
    menu_entries => "45-menu-entries",
    power_settings => "46-power-settings",
}
