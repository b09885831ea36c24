//! Hostile and ordinary names against the path policy, in a real temp directory tree.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::*;
use crate::remap::Rules;

/// ```text
/// base/root/            0755   the served tree
///   pub.txt 0644, private.txt 0600, writable.txt 0666, sub/file.txt 0644
///   link_in -> pub.txt, abs_in -> <base>/root/pub.txt
///   link_out -> <base>/outside/secret.txt, dirlink_out -> <base>/outside
///   uplink -> .., chain1 -> chain2 -> /etc, dangling -> /nonexistent/x
/// base/outside/secret.txt
/// base/rootfoo/secret.txt   (a sibling whose name extends the root's)
/// ```
fn tree() -> (tempfile::TempDir, std::path::PathBuf) {
    let base = tempfile::tempdir().unwrap();
    let b = base.path();
    let root = b.join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(b.join("outside")).unwrap();
    fs::create_dir_all(b.join("rootfoo")).unwrap();
    let file = |p: &Path, mode: u32| {
        fs::write(p, b"x").unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    };
    file(&root.join("pub.txt"), 0o644);
    file(&root.join("private.txt"), 0o600);
    file(&root.join("writable.txt"), 0o666);
    file(&root.join("sub/file.txt"), 0o644);
    file(&b.join("outside/secret.txt"), 0o644);
    file(&b.join("rootfoo/secret.txt"), 0o644);
    symlink("pub.txt", root.join("link_in")).unwrap();
    symlink(root.join("pub.txt"), root.join("abs_in")).unwrap();
    symlink(b.join("outside/secret.txt"), root.join("link_out")).unwrap();
    symlink(b.join("outside"), root.join("dirlink_out")).unwrap();
    symlink("..", root.join("uplink")).unwrap();
    symlink("chain2", root.join("chain1")).unwrap();
    symlink("/etc", root.join("chain2")).unwrap();
    symlink("/nonexistent/x", root.join("dangling")).unwrap();
    (base, root)
}

fn code(r: Result<Resolved, Denied>) -> u16 {
    match r {
        Ok(_) => 0,
        Err(d) => d.code().to_u16(),
    }
}

const READ: Policy = Policy {
    permissive: false,
    create: false,
};
const CREATE: Policy = Policy {
    permissive: false,
    create: true,
};

#[test]
fn hostile_names_are_refused_like_tftpd_hpa() {
    let (_base, root) = tree();
    let secure = Roots::new(std::slice::from_ref(&root), true).unwrap();
    let plain = Roots::new(std::slice::from_ref(&root), false).unwrap();
    let r = root.display().to_string();
    let long_component = "a".repeat(256);
    let long_name = "x/".repeat(2100);
    // (roots, access, policy, name, expected TFTP error code)
    let cases: Vec<(&Roots, Access, Policy, String, u16)> = vec![
        (
            &secure,
            Access::Read,
            READ,
            "../outside/secret.txt".into(),
            2,
        ),
        (
            &secure,
            Access::Read,
            READ,
            "/../outside/secret.txt".into(),
            2,
        ),
        (
            &secure,
            Access::Read,
            READ,
            "sub/../../outside/secret.txt".into(),
            2,
        ),
        (&secure, Access::Read, READ, "sub/../pub.txt".into(), 2),
        (&secure, Access::Read, READ, "..".into(), 2),
        (&secure, Access::Read, READ, "./../outside".into(), 2),
        (&secure, Access::Read, READ, "sub/./../..".into(), 2),
        (&secure, Access::Read, READ, "//../outside".into(), 2),
        (&secure, Access::Read, READ, "sub/file.txt/..".into(), 2),
        (
            &secure,
            Access::Read,
            READ,
            "..\\outside\\secret.txt".into(),
            2,
        ),
        (&secure, Access::Read, READ, "sub\\file.txt".into(), 2),
        (&secure, Access::Read, READ, "pub.txt\0".into(), 2),
        (&secure, Access::Read, READ, "\0".into(), 2),
        (&secure, Access::Read, READ, "sub/\0x".into(), 2),
        (&secure, Access::Read, READ, "pub.txt\n".into(), 2),
        (&secure, Access::Read, READ, "pub\r.txt".into(), 2),
        (&secure, Access::Read, READ, "\t".into(), 2),
        (&secure, Access::Read, READ, "\u{7f}".into(), 2),
        (&secure, Access::Read, READ, "\u{fffd}.txt".into(), 2),
        (&secure, Access::Read, READ, long_component.clone(), 2),
        (&secure, Access::Read, READ, long_name, 2),
        (&secure, Access::Read, READ, "".into(), 2),
        (&secure, Access::Read, READ, "/".into(), 2),
        (&secure, Access::Read, READ, "./".into(), 2),
        (&secure, Access::Read, READ, "link_out".into(), 2),
        (
            &secure,
            Access::Read,
            READ,
            "dirlink_out/secret.txt".into(),
            2,
        ),
        (&secure, Access::Read, READ, "dirlink_out".into(), 2),
        (
            &secure,
            Access::Read,
            READ,
            "uplink/outside/secret.txt".into(),
            2,
        ),
        (&secure, Access::Read, READ, "chain1/passwd".into(), 2),
        (&secure, Access::Read, READ, "private.txt".into(), 2),
        (&secure, Access::Read, READ, "sub".into(), 2),
        (&secure, Access::Read, READ, "nonexistent".into(), 1),
        (&secure, Access::Read, READ, "dangling".into(), 1),
        (
            &secure,
            Access::Read,
            READ,
            "%2e%2e/outside/secret.txt".into(),
            1,
        ),
        (
            &secure,
            Access::Read,
            READ,
            "..%2foutside%2fsecret.txt".into(),
            1,
        ),
        (&secure, Access::Read, READ, "%2e%2e%5coutside".into(), 1),
        (
            &secure,
            Access::Read,
            READ,
            "\u{ff0e}\u{ff0e}/outside/secret.txt".into(),
            1,
        ),
        (
            &secure,
            Access::Read,
            READ,
            "..\u{2215}outside\u{2215}secret.txt".into(),
            1,
        ),
        (&secure, Access::Read, READ, "....".into(), 1),
        (
            &secure,
            Access::Read,
            READ,
            format!("sub/{}", "a".repeat(255)),
            1,
        ),
        (&secure, Access::Read, READ, format!("{r}/pub.txt"), 1),
        (&secure, Access::Write, CREATE, "dangling".into(), 2),
        (&secure, Access::Write, CREATE, "link_out".into(), 2),
        (&secure, Access::Write, CREATE, "../new.txt".into(), 2),
        (
            &secure,
            Access::Write,
            CREATE,
            "dirlink_out/new.txt".into(),
            2,
        ),
        (&secure, Access::Write, CREATE, "uplink/new.txt".into(), 2),
        (
            &secure,
            Access::Write,
            CREATE,
            "missingdir/new.txt".into(),
            1,
        ),
        (&secure, Access::Write, CREATE, "pub.txt".into(), 2),
        (&secure, Access::Write, READ, "new.txt".into(), 1),
        (&secure, Access::Write, READ, "pub.txt".into(), 2),
        (&plain, Access::Read, READ, "pub.txt".into(), 2),
        (&plain, Access::Read, READ, "/etc/passwd".into(), 2),
        (&plain, Access::Read, READ, format!("{r}foo/secret.txt"), 2),
        (
            &plain,
            Access::Read,
            READ,
            format!("{r}/../outside/secret.txt"),
            2,
        ),
        (&plain, Access::Read, READ, format!("{r}/link_out"), 2),
        (
            &plain,
            Access::Read,
            READ,
            format!("{r}/dirlink_out/secret.txt"),
            2,
        ),
        (&plain, Access::Read, READ, r.clone(), 2),
        (&plain, Access::Read, READ, format!("{r}/missing"), 1),
        (&plain, Access::Write, CREATE, format!("{r}foo/new.txt"), 2),
    ];
    assert!(cases.len() >= 50, "at least 50 hostile names");
    let mut wrong = Vec::new();
    for (roots, access, policy, name, want) in &cases {
        let got = code(resolve(roots, name, *access, policy));
        if got != *want {
            wrong.push(format!("{name:?} ({access:?}): got {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
}

#[test]
fn ordinary_names_resolve() {
    let (_base, root) = tree();
    let secure = Roots::new(std::slice::from_ref(&root), true).unwrap();
    let plain = Roots::new(std::slice::from_ref(&root), false).unwrap();
    let croot = root.canonicalize().unwrap();
    for name in [
        "pub.txt",
        "/pub.txt",
        "//sub//file.txt",
        "./sub/./file.txt",
        "link_in",
        "abs_in",
        "pub.txt/",
    ] {
        let got = resolve(&secure, name, Access::Read, &READ);
        assert!(got.is_ok(), "{name}: {got:?}");
        assert!(got.unwrap().path.starts_with(&croot));
    }
    let r = root.display();
    assert!(resolve(&plain, &format!("{r}/sub/file.txt"), Access::Read, &READ).is_ok());
    let perm = Policy {
        permissive: true,
        create: false,
    };
    assert!(resolve(&secure, "private.txt", Access::Read, &perm).is_ok());
    assert!(resolve(&secure, "writable.txt", Access::Write, &READ).is_ok());
    let new = resolve(&secure, "sub/new.txt", Access::Write, &CREATE).unwrap();
    assert!(!new.exists);
    assert_eq!(new.path, croot.join("sub/new.txt"));
    assert_eq!(
        normalize(&secure, "//sub/./file.txt").unwrap().relative,
        "sub/file.txt"
    );
}

#[test]
fn remap_results_are_checked_again() {
    let (_base, root) = tree();
    let secure = Roots::new(std::slice::from_ref(&root), true).unwrap();
    let rules = Rules::parse(
        "r ^evil$ ../outside/secret.txt\n\
         r ^abs$ /etc/passwd\n\
         r ^ip$ \\i/../../x\n\
         r ^bs$ a\\\\b\n\
         r ^out$ link_out\n\
         rg \\\\ /\n",
    )
    .unwrap();
    let client: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let cases = [
        ("evil", 2),
        ("abs", 1),
        ("ip", 2),
        ("bs", 0),
        ("out", 2),
        ("sub\\file.txt", 0),
        ("..\\outside\\secret.txt", 2),
    ];
    for (name, want) in cases {
        let mapped = rules.apply(name, Access::Read, client).unwrap();
        let got = code(resolve(&secure, &mapped, Access::Read, &READ));
        // "bs" maps to a\b, which the global rule then turns into a/b: not found, error 1.
        let want = if name == "bs" { 1 } else { want };
        assert_eq!(got, want, "{name} -> {mapped}");
    }
}

#[test]
fn non_utf8_request_from_the_wire_is_refused() {
    let (_base, root) = tree();
    let secure = Roots::new(std::slice::from_ref(&root), true).unwrap();
    // An overlong UTF-8 encoding of "." twice, as a client could send it.
    let raw = b"\0\x01\xc0\xae\xc0\xae/outside/secret.txt\0octet\0";
    let Ok(crate::packet::Packet::Rrq(req)) = crate::packet::parse(raw) else {
        panic!("not an RRQ")
    };
    assert_eq!(
        code(resolve(&secure, &req.filename, Access::Read, &READ)),
        2
    );
}
