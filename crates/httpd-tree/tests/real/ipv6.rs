//! IPv6: httpd-tree on `--listen [::1]:0` serves a boot loader at /loaders/ the way edk2's
//! HTTP boot client fetches it over IPv6 (HEAD, then GET), checked with curl.

use crate::support::{Server, curl, pseudo_random, sha256_hex};

#[test]
fn ipv6_loopback_serves_loader_head_and_get() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loader = pseudo_random(70_000, 0x6006);
    std::fs::write(dir.path().join("ipxe.efi"), &loader).expect("write loader");
    let loaders = dir.path().display().to_string();
    let server = Server::start_on("[::1]:0", &["--loaders", loaders.as_str()]);
    assert!(
        server.url("/").starts_with("http://[::1]:"),
        "{}",
        server.url("/")
    );

    let url = server.url("/loaders/ipxe.efi");
    let head = String::from_utf8(curl(&["-sfI", &url])).expect("utf-8");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {}", loader.len())),
        "{head}"
    );
    let body = curl(&["-sf", &url]);
    assert_eq!(sha256_hex(&body), sha256_hex(&loader));
}
