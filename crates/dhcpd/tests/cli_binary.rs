//! Runs the built `dhcpd` binary: `-t -cf` on fixtures gives ISC's exit status and first error
//! line; `--help`, `--version`, `-6` and bad flags behave.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::process::Command;

use common::{expected, fixtures_dir};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dhcpd"))
        .args(args)
        .current_dir(fixtures_dir())
        .output()
        .expect("run dhcpd")
}

#[test]
fn dash_t_on_every_fixture() {
    for (file, (accepts, first)) in expected() {
        let out = run(&["-t", "-cf", &file]);
        assert_eq!(
            out.status.code(),
            Some(if accepts { 0 } else { 1 }),
            "{file}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        if accepts {
            assert!(
                err.contains(&format!("Config file: {file}")),
                "{file}: {err}"
            );
        } else {
            assert!(
                err.lines().any(|l| l == first),
                "{file}: {first:?} not in {err}"
            );
            let closing = if first.starts_with("Can't open") || first.starts_with("Internal") {
                first.as_str()
            } else {
                "Configuration file errors encountered -- exiting"
            };
            assert!(err.contains(closing), "{file}: {err}");
        }
    }
}

#[test]
fn quiet_prints_nothing_like_isc() {
    let out = run(&["-t", "-q", "-cf", "err-bad-mask.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.is_empty());
}

#[test]
fn missing_config_file() {
    let out = run(&["-t", "-cf", "does-not-exist.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Can't open does-not-exist.conf: No such file or directory")
    );
}

#[test]
fn help_version_and_refusals() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("-cf FILE"));
    assert!(run(&["--version"]).status.success());
    let v6 = run(&["-6", "-t", "-cf", "no-such-dhcpd6.conf"]);
    assert_eq!(v6.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&v6.stderr).contains("Can't open no-such-dhcpd6.conf"));
    let both = run(&["-6", "-4", "-t"]);
    assert_eq!(both.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&both.stderr).contains("both IPv4 and IPv6"));
    let bad = run(&["-bogus"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Unknown command -bogus"));
}

/// The example lab's `dhcpd.conf` (deploy/examples) is accepted, as ISC's `dhcpd -t` accepts it.
#[test]
fn example_lab_config_is_accepted() {
    let conf =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples/dhcpd.conf");
    let out = run(&["-t", "-cf", conf.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dash_t_reports_too_deep_nesting_with_its_line() {
    // ISC 4.4.3 dies with SIGSEGV on this file; ours names the line.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("deep.conf");
    let n = 200_000;
    std::fs::write(
        &conf,
        format!(
            "subnet 10.0.0.0 netmask 255.255.255.0 {{ range 10.0.0.10 10.0.0.20; }}\n\nif {}true{} {{ }}\n",
            "(".repeat(n),
            ")".repeat(n)
        ),
    )
    .unwrap();
    let path = conf.display().to_string();
    let out = run(&["-t", "-cf", &path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{path} line 3: expression nested too deeply (more than 100 levels)."
        )),
        "{err}"
    );
    assert!(err.contains("Configuration file errors encountered -- exiting"));
}

#[test]
fn dash_t_refuses_an_omapi_key_with_no_key_block() {
    // ISC 4.4.3 exits 1 too, naming the key with garbage bytes (`OMAPI key M-\@M-5a^E: not
    // found`); ours names it.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("omapi.conf");
    let good = "key omapi_key { algorithm hmac-md5; secret \"c2VjcmV0\"; }\nomapi-port 7911;\n";
    std::fs::write(&conf, format!("{good}omapi-key nokey;\n")).unwrap();
    let path = conf.display().to_string();
    let out = run(&["-t", "-cf", &path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("OMAPI key nokey: not found\n\nexiting."),
        "{err}"
    );
    std::fs::write(&conf, format!("{good}omapi-key omapi_key;\n")).unwrap();
    let out = run(&["-t", "-cf", &path]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
