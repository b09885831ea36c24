//! Hostile URLs, sent byte for byte over a raw connection (no client normalises them),
//! against a tree from the inventory, a `--root` tree and a `--loaders` tree, each with
//! symlinks leading out to a secret. Every one is refused (400, 403 or 404) and the
//! secret never appears in a body.

use crate::support::{SECRET_MARKER, Server, curl, lab, raw};

/// Targets under a tree prefix (`{T}` is replaced by it).
const UNDER_TREE: &[&str] = &[
    "{T}/../../secret.txt",
    "{T}/../../../../../../../../etc/passwd",
    "{T}/./../../secret.txt",
    "{T}/images/../../../secret.txt",
    "{T}/images/pxeboot/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "{T}/%2e%2e/%2e%2e/secret.txt",
    "{T}/%2E%2E/%2E%2E/secret.txt",
    "{T}/.%2e/.%2e/secret.txt",
    "{T}/%2e./%2e./secret.txt",
    "{T}/..%2f..%2fsecret.txt",
    "{T}/..%2F..%2Fsecret.txt",
    "{T}/%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "{T}/%2e%2e%2f%2e%2e%2fsecret.txt",
    "{T}/..%5c..%5csecret.txt",
    "{T}/%2e%2e%5c%2e%2e%5csecret.txt",
    "{T}/..\\..\\secret.txt",
    "{T}/%252e%252e/%252e%252e/secret.txt",
    "{T}/%252e%252e%252f%252e%252e%252fsecret.txt",
    "{T}/%%32%65%%32%65/%%32%65%%32%65/secret.txt",
    "{T}/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
    "{T}/%c0%af..%c0%af..%c0%afsecret.txt",
    "{T}/%e0%80%ae%e0%80%ae/secret.txt",
    "{T}/%c1%9c..%c1%9c..%c1%9csecret.txt",
    "{T}/%u002e%u002e/secret.txt",
    "{T}/%ef%bc%8e%ef%bc%8e/%ef%bc%8e%ef%bc%8e/secret.txt",
    "{T}/images/pxeboot/vmlinuz%00.txt",
    "{T}/%00/../../secret.txt",
    "{T}/%2e%2e%00/secret.txt",
    "{T}/.%00./secret.txt",
    "{T}/leak-rel",
    "{T}/leak-rel%00",
    "{T}/leak-abs",
    "{T}/leak-dir",
    "{T}/leak-dir/",
    "{T}/leak-dir/secret.txt",
    "{T}/leak-dir/../secret.txt",
    "{T}/etc/passwd",
    "{T}/etc/",
    "{T}/%2e%2e%2fleak-abs",
    "{T}//..//..//secret.txt",
    "{T}/....//....//secret.txt",
    "{T}/.../secret.txt",
    "{T}/..;/..;/secret.txt",
    "{T}/vmlinuz-link/../../../secret.txt",
    "{T}/images%2fpxeboot%2fvmlinuz",
    "{T}/%",
    "{T}/%zz/secret.txt",
];

/// Targets outside any tree prefix.
const ELSEWHERE: &[&str] = &[
    "/../../../../secret.txt",
    "/%2e%2e/%2e%2e/secret.txt",
    "//../secret.txt",
    "/trees/../secret.txt",
    "/trees/%2e%2e/secret.txt",
    "/trees/%2e%2e%2fsecret.txt",
    "/loaders/../secret.txt",
    "/ks/../../secret.txt",
    "/ks/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/api/v1/machines/..%2f..%2f..%2fsecret.txt",
    "/grub/../../secret.txt",
    "/pxelinux.cfg/..%2f..%2fsecret.txt",
    "/boot/..%2f..%2fsecret.txt.ipxe",
    "/status/../../secret.txt",
];

fn refused_everywhere(server: &Server, targets: &[String]) -> usize {
    let mut checked = 0;
    for t in targets {
        let req = format!("GET {t} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let r = raw(server.port, req.as_bytes());
        assert!(
            matches!(r.status, 400 | 403 | 404),
            "{t}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains(SECRET_MARKER), "{t} leaked the secret");
        assert!(!body.contains("root:x:0:0"), "{t} leaked /etc/passwd");
        checked += 1;
        // The same target in absolute form.
        let abs = format!(
            "GET http://127.0.0.1:{}{t} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            server.port
        );
        let r = raw(server.port, abs.as_bytes());
        assert!(
            matches!(r.status, 400 | 403 | 404),
            "absolute {t}: {}",
            r.status
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains(SECRET_MARKER),
            "absolute {t}"
        );
    }
    checked
}

fn expand(prefix: &str) -> Vec<String> {
    UNDER_TREE
        .iter()
        .map(|t| t.replace("{T}", prefix))
        .collect()
}

#[test]
fn hostile_urls_against_an_inventory_tree() {
    let lab = lab();
    let server = Server::for_lab(&lab, &[]);
    let mut targets = expand("/trees/centos7");
    targets.extend(ELSEWHERE.iter().map(|s| s.to_string()));
    let n = refused_everywhere(&server, &targets);
    assert!(n >= 50, "only {n} hostile URLs");
    // The same tree still serves its own files.
    let ok = raw(
        server.port,
        b"GET /trees/centos7/vmlinuz-link HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ok.status, 200);
    // curl with --path-as-is sends dot segments unchanged.
    for t in [
        "/trees/centos7/../../secret.txt",
        "/trees/centos7/leak-abs",
        "/trees/centos7/etc/passwd",
    ] {
        let out = curl(&["-s", "--path-as-is", "-w", "\n%{http_code}", &server.url(t)]);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains(SECRET_MARKER), "{t}");
        let code = text.rsplit('\n').next().unwrap_or("");
        assert!(matches!(code, "400" | "403" | "404"), "{t}: {text}");
    }
}

#[test]
fn hostile_urls_against_root_and_loaders() {
    let lab = lab();
    let tree = lab.tree("centos7");
    let loaders = lab.path("loaders");
    std::fs::create_dir_all(&loaders).expect("mkdir");
    std::fs::write(loaders.join("grubx64.efi"), b"efi").expect("write");
    std::os::unix::fs::symlink(lab.path("outside/secret.txt"), loaders.join("leak-abs"))
        .expect("symlink");
    std::os::unix::fs::symlink("../outside/secret.txt", loaders.join("leak-rel")).expect("symlink");
    std::os::unix::fs::symlink(lab.path("outside"), loaders.join("leak-dir")).expect("symlink");
    std::os::unix::fs::symlink("/etc", loaders.join("etc")).expect("symlink");
    let server = Server::start(&[
        "--root",
        tree.to_str().expect("path"),
        "--loaders",
        loaders.to_str().expect("path"),
    ]);
    let mut targets = expand("");
    targets.extend(expand("/loaders"));
    targets.extend(ELSEWHERE.iter().map(|s| s.to_string()));
    let n = refused_everywhere(&server, &targets);
    assert!(n >= 100, "only {n} hostile URLs");
    let ok = raw(
        server.port,
        b"GET /loaders/grubx64.efi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((ok.status, ok.body.as_slice()), (200, b"efi".as_slice()));
}
