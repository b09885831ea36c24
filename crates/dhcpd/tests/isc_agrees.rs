//! Keeps EXPECTED.tsv honest: runs the real ISC `dhcpd -t -4 -cf` (Debian's isc-dhcp-server) on
//! every fixture and checks the recorded verdict and first error line, then checks that our
//! binary prints the same error block as ISC, line for line, caret for caret.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::process::Command;

use common::{error_block, expected, fixtures_dir, isc_dhcpd};

fn isc_run(file: &str) -> (bool, Vec<u8>) {
    // `-t` only parses; ISC exits right after reading the configuration, it never serves.
    let out = Command::new(isc_dhcpd())
        .args(["-t", "-4", "-cf", file])
        .current_dir(fixtures_dir())
        .output()
        .expect("run ISC dhcpd");
    (out.status.success(), out.stderr)
}

fn first_error(stderr: &[u8], file: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .skip(4)
        .find(|l| {
            l.starts_with(&format!("{file} line "))
                || l.starts_with("Can't open")
                || l.starts_with("Internal inconsistency")
        })
        .unwrap_or_default()
        .to_string()
}

#[test]
fn expected_tsv_matches_real_isc() {
    let mut wrong = Vec::new();
    for (file, (accepts, first)) in expected() {
        let (ok, stderr) = isc_run(&file);
        let isc_first = first_error(&stderr, &file);
        if ok != accepts || isc_first != first {
            wrong.push(format!(
                "{file}: ISC says {ok} {isc_first:?}, EXPECTED.tsv says {accepts} {first:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "EXPECTED.tsv drifted from ISC:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn our_error_output_matches_isc_byte_for_byte() {
    let mut wrong = Vec::new();
    for (file, (accepts, _)) in expected() {
        if accepts {
            continue;
        }
        let (_, isc) = isc_run(&file);
        let ours = Command::new(env!("CARGO_BIN_EXE_dhcpd"))
            .args(["-t", "-cf", &file])
            .current_dir(fixtures_dir())
            .output()
            .expect("run our dhcpd");
        let (a, b) = (error_block(&isc), error_block(&ours.stderr));
        // ISC's fatal errors are followed by its bug-report paragraph; compare up to it.
        let cut = |v: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
            v.into_iter()
                .take_while(|l| !l.is_empty() && l.as_slice() != b"exiting.")
                .collect()
        };
        if cut(a.clone()) != cut(b.clone()) {
            wrong.push(format!(
                "{file}:\n--- ISC\n{}\n--- ours\n{}",
                String::from_utf8_lossy(&a.join(&b'\n')),
                String::from_utf8_lossy(&b.join(&b'\n'))
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
