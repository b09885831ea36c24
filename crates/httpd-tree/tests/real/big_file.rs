//! A sparse 5 GiB file (made with `set_len`, never committed): lengths and ranges past
//! 4 GiB, with curl and wget.

use crate::support::{Server, curl, curl_status, lab, run, sha256_hex};
use std::os::unix::fs::FileExt;

const LEN: u64 = 5 * 1024 * 1024 * 1024;
const FOUR_GIB: u64 = 4 * 1024 * 1024 * 1024;

/// Marker bytes written at an offset: the rest of the file is a hole (zeros).
fn marker(offset: u64) -> Vec<u8> {
    format!("<{offset:016x}>").into_bytes()
}

fn expected(at: u64, len: u64, markers: &[u64]) -> Vec<u8> {
    let mut out = vec![0u8; len as usize];
    for &m in markers {
        for (i, b) in marker(m).iter().enumerate() {
            let pos = m + i as u64;
            if pos >= at && pos < at + len {
                out[(pos - at) as usize] = *b;
            }
        }
    }
    out
}

#[test]
fn ranges_past_four_gib() {
    let lab = lab();
    let path = lab.tree("centos7").join("big.iso");
    let f = std::fs::File::create(&path).expect("create");
    f.set_len(LEN).expect("sparse 5 GiB");
    let markers = [0, FOUR_GIB - 9, FOUR_GIB + 1000, LEN - 18];
    for &m in &markers {
        f.write_all_at(&marker(m), m).expect("marker");
    }
    drop(f);
    let server = Server::for_lab(&lab, &[]);
    let url = server.url("/trees/centos7/big.iso");

    let head = String::from_utf8(curl(&["-s", "-I", &url])).expect("utf-8");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {LEN}")),
        "{head}"
    );
    assert!(head.contains("application/x-iso9660-image"), "{head}");

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("part");
    for (first, last) in [
        (FOUR_GIB - 16, FOUR_GIB + 15),
        (FOUR_GIB + 990, FOUR_GIB + 1029),
        (LEN - 64, LEN - 1),
        (FOUR_GIB, FOUR_GIB),
    ] {
        let code = curl_status(&["-r", &format!("{first}-{last}"), &url], &out);
        assert_eq!(code, 206, "{first}-{last}");
        let got = std::fs::read(&out).expect("read");
        assert_eq!(
            got,
            expected(first, last - first + 1, &markers),
            "{first}-{last}"
        );
    }
    // Suffix range: the last 18 bytes are the last marker.
    assert_eq!(curl_status(&["-r", "-18", &url], &out), 206);
    assert_eq!(std::fs::read(&out).expect("read"), marker(LEN - 18));
    // Past the end: 416 with the 64-bit length.
    let head = String::from_utf8(curl(&[
        "-s",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-r",
        &format!("{LEN}-"),
        &url,
    ]))
    .expect("utf-8");
    assert!(head.starts_with("HTTP/1.1 416"), "{head}");
    assert!(head.contains(&format!("bytes */{LEN}")), "{head}");
    // Several ranges across the 4 GiB line, as multipart/byteranges.
    let body = curl(&[
        "-s",
        "-r",
        &format!("0-17,{}-{},{}-", FOUR_GIB + 1000, FOUR_GIB + 1017, LEN - 18),
        &url,
    ]);
    let text = String::from_utf8_lossy(&body);
    for (first, last) in [
        (0, 17),
        (FOUR_GIB + 1000, FOUR_GIB + 1017),
        (LEN - 18, LEN - 1),
    ] {
        assert!(
            text.contains(&format!("Content-Range: bytes {first}-{last}/{LEN}")),
            "{text}"
        );
        assert!(
            text.contains(&String::from_utf8_lossy(&marker(first)).into_owned()),
            "{text}"
        );
    }

    // wget fetches the last MiB from an offset past 4 GiB.
    let tail = dir.path().join("tail");
    let start = LEN - 1024 * 1024;
    let o = run(
        "wget",
        "wget",
        &[
            "-q",
            &format!("--start-pos={start}"),
            "-O",
            tail.to_str().expect("path"),
            &url,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = std::fs::read(&tail).expect("read");
    assert_eq!(got.len() as u64, 1024 * 1024);
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&expected(start, 1024 * 1024, &markers))
    );
}
