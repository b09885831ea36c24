//! Table tests of `route` against the render-lab inventory, and a property test:
//! whatever the path, `route` does not panic and never points outside a tree.

use super::*;
use pxe_model::state::machine_token;
use std::net::SocketAddr;

/// The render-lab inventory with its trees in a temp dir (debian12's left missing),
/// a root, a loaders directory, and a secret file outside all of them.
struct Lab {
    dir: tempfile::TempDir,
    state: State,
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/inventory/good/render-lab.yaml"
);
const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "read-only-token-9876543210";

fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path();
    let text = std::fs::read_to_string(FIXTURE)
        .expect("fixture")
        .replace("/srv/trees", &base.join("trees").display().to_string());
    std::fs::write(base.join("inv.yaml"), &text).expect("write");
    let c7 = base.join("trees/centos7");
    std::fs::create_dir_all(c7.join("images/pxeboot")).expect("mkdir");
    std::fs::write(c7.join("images/pxeboot/vmlinuz"), "kernel").expect("write");
    std::fs::write(c7.join("images/pxeboot/initrd.img"), "initrd").expect("write");
    std::fs::write(c7.join(".treeinfo"), "[general]\n").expect("write");
    std::fs::create_dir_all(base.join("trees/ubuntu2404/casper")).expect("mkdir");
    std::fs::write(base.join("secret.txt"), "TOP-SECRET").expect("write");
    std::os::unix::fs::symlink(base.join("secret.txt"), c7.join("leak")).expect("symlink");
    std::os::unix::fs::symlink("images/pxeboot/vmlinuz", c7.join("vmlinuz")).expect("symlink");
    std::fs::create_dir_all(base.join("root/sub")).expect("mkdir");
    std::fs::write(base.join("root/hello.txt"), "hello").expect("write");
    std::fs::create_dir_all(base.join("loaders")).expect("mkdir");
    std::fs::write(base.join("loaders/grubx64.efi"), "efi").expect("write");
    let inventory = pxe_model::load(&base.join("inv.yaml")).expect("inventory loads");
    let state = State {
        inventory: Some(inventory),
        inventory_file: Some(base.join("inv.yaml")),
        root: None,
        loaders: Some(base.join("loaders").canonicalize().expect("canon")),
        secret: Some(Secret::from_bytes(b"route-test-secret")),
        admin_token: Some(ADMIN.to_owned()),
        read_token: Some(READER.to_owned()),
        public_status: false,
    };
    Lab { dir, state }
}

fn req(method: &str, target: &str) -> Request<()> {
    req_from(method, target, "192.0.2.9:5000", None)
}

fn req_from(method: &str, target: &str, peer: &str, auth: Option<&str>) -> Request<()> {
    let mut b = Request::builder().method(method).uri(target);
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    let mut r = b.body(()).expect("request");
    let peer: SocketAddr = peer.parse().expect("peer");
    r.extensions_mut().insert(Peer(peer));
    r
}

fn get<'s>(state: &'s State, target: &str) -> Route<'s> {
    route(state, &req("GET", target))
}

fn status_of(r: &Route<'_>) -> Option<StatusCode> {
    match r {
        Route::Refused { status, .. } => Some(*status),
        _ => None,
    }
}

/// The inventory machine of this name.
fn machine<'s>(state: &'s State, name: &str) -> &'s Machine {
    let inv = state.inventory.as_ref().expect("an inventory");
    inv.machines.get(name).expect("a machine of the inventory")
}

fn answer<'s>(
    state: &'s State,
    machine_name: Option<&str>,
    profile: &str,
    part: AnswerPart,
) -> Route<'s> {
    let inv = state.inventory.as_ref().expect("an inventory");
    let (profile, distro) = inv.profile_and_distro(profile).expect("a profile");
    Route::Answer {
        machine: machine_name.map(|n| machine(state, n)),
        profile,
        distro,
        part,
    }
}

#[test]
fn answer_files_by_any_mac_spelling_or_name() {
    let lab = lab();
    let web01 = answer(&lab.state, Some("web01"), "centos7-ks", AnswerPart::Main);
    for t in [
        "/ks/52:54:00:12:34:56",
        "/ks/52-54-00-12-34-56",
        "/ks/525400123456",
        "/ks/5254.0012.3456",
        "/ks/52:54:00:12:34:56",
        "/ks/52%3A54%3A00%3A12%3A34%3A56",
        "/ks/52:54:0:12:34:56",
        "/ks/web01",
        "//ks//web01",
    ] {
        assert_eq!(get(&lab.state, t), web01, "{t}");
    }
    // The target, then the machine, profile and part it is the answer file of.
    for (t, machine, profile, part) in [
        // A machine's second MAC.
        (
            "/preseed/52:54:00:AB:CD:02",
            Some("db01"),
            "debian12-preseed",
            AnswerPart::Main,
        ),
        (
            "/autoinstall/52:54:00:ab:cd:10/user-data",
            Some("ub01"),
            "ubuntu-auto",
            AnswerPart::Main,
        ),
        (
            "/autoinstall/ub01/meta-data",
            Some("ub01"),
            "ubuntu-auto",
            AnswerPart::MetaData,
        ),
        (
            "/autoinstall/ub01/vendor-data",
            Some("ub01"),
            "ubuntu-auto",
            AnswerPart::VendorData,
        ),
        (
            "/profiles/centos7-ks/answer",
            None,
            "centos7-ks",
            AnswerPart::Main,
        ),
        (
            "/profiles/ubuntu-auto/autoinstall/user-data",
            None,
            "ubuntu-auto",
            AnswerPart::Main,
        ),
    ] {
        let want = answer(&lab.state, machine, profile, part);
        assert_eq!(get(&lab.state, t), want, "{t}");
    }
    assert_eq!(
        route(&lab.state, &req("HEAD", "/ks/web01")),
        web01,
        "HEAD routes like GET"
    );
}

#[test]
fn unknown_or_mismatched_answer_files_are_404_with_a_reason() {
    let lab = lab();
    let cases = [
        (
            "/ks/00:11:22:33:44:55",
            "no machine with MAC address or name \"00:11:22:33:44:55\"",
        ),
        ("/ks/nosuch", "no machine"),
        ("/preseed/web01", "its answer file is /ks/52:54:00:12:34:56"),
        ("/ks/db01", "its answer file is /preseed/52:54:00:ab:cd:01"),
        ("/ks/ub01", "/autoinstall/52:54:00:ab:cd:10/user-data"),
        ("/autoinstall/ub01/network-config", "no network-config"),
        (
            "/profiles/ubuntu-auto/answer",
            "/profiles/ubuntu-auto/autoinstall/user-data",
        ),
        (
            "/profiles/centos7-ks/autoinstall/user-data",
            "/profiles/centos7-ks/answer",
        ),
        ("/profiles/nope/answer", "no profile \"nope\""),
        ("/boot/00:11:22:33:44:zz.ipxe", "no machine"),
    ];
    for (t, want) in cases {
        match get(&lab.state, t) {
            Route::Refused { status, reason, .. } => {
                assert_eq!(status, StatusCode::NOT_FOUND, "{t}");
                assert!(reason.contains(want), "{t}: {reason}");
            }
            other => panic!("{t}: {other:?}"),
        }
    }
}

#[test]
fn boot_files() {
    let lab = lab();
    let note = |m: &str, d: &str| Some(Note::of(machine(&lab.state, m), d));
    let cases = [
        (
            "/boot/52:54:00:12:34:56.ipxe",
            BootFileKind::IpxeMachine("web01".into()),
            note("web01", "/boot/52:54:00:12:34:56.ipxe"),
        ),
        ("/boot.ipxe", BootFileKind::IpxeChain, None),
        ("/boot/52:54:00:99:99:99.ipxe", BootFileKind::IpxeMenu, None),
        ("/grub/grub.cfg", BootFileKind::GrubRoot, None),
        (
            "/grub/grub.cfg-01-52-54-00-12-34-56",
            BootFileKind::GrubMachine("web01".into()),
            note("web01", "/grub/grub.cfg-01-52-54-00-12-34-56"),
        ),
        (
            "/pxelinux.cfg/01-52-54-00-ab-cd-01",
            BootFileKind::PxelinuxMachine("db01".into()),
            note("db01", "/pxelinux.cfg/01-52-54-00-ab-cd-01"),
        ),
        ("/pxelinux.cfg/default", BootFileKind::PxelinuxDefault, None),
        ("/loaders/grub.cfg", BootFileKind::GrubRoot, None),
    ];
    for (t, kind, note) in cases {
        assert_eq!(get(&lab.state, t), Route::BootFile { kind, note }, "{t}");
    }
    // GRUB asks for its MAC's file whether or not it exists: an unknown MAC gets the menu.
    assert_eq!(
        get(&lab.state, "/grub/grub.cfg-01-00-00-00-00-00-01"),
        Route::BootFile {
            kind: BootFileKind::GrubMenu,
            note: None
        }
    );
    assert_eq!(
        status_of(&get(&lab.state, "/grub/grub.cfg-not-a-mac")),
        Some(StatusCode::NOT_FOUND)
    );
}

#[test]
fn trees_and_loaders() {
    let lab = lab();
    let c7 = lab
        .dir
        .path()
        .join("trees/centos7")
        .canonicalize()
        .expect("canon");
    match get(&lab.state, "/trees/centos7/images/pxeboot/vmlinuz") {
        Route::File { file, area, note } => {
            assert_eq!(file.path, c7.join("images/pxeboot/vmlinuz"));
            assert_eq!(file.root, c7);
            assert_eq!(area, Area::Tree("centos7".into()));
            // No fixed address: the service asks the state store whose address it is
            // (nobody's here; see service's pool-address test).
            assert_eq!(
                note.map(|n| n.whose),
                Some(Whose::AckedAt("192.0.2.9".parse().expect("ip")))
            );
        }
        other => panic!("{other:?}"),
    }
    // web01's fixed address fetching its kernel lands on its timeline.
    match route(
        &lab.state,
        &req_from(
            "GET",
            "/trees/centos7/images/pxeboot/vmlinuz",
            "10.77.0.50:4000",
            None,
        ),
    ) {
        Route::File { note, .. } => assert_eq!(
            note,
            Some(Note::of(
                machine(&lab.state, "web01"),
                "/trees/centos7/images/pxeboot/vmlinuz"
            ))
        ),
        other => panic!("{other:?}"),
    }
    match route(
        &lab.state,
        &req_from(
            "GET",
            "/trees/centos7/.treeinfo",
            "[::ffff:10.77.0.50]:4000",
            None,
        ),
    ) {
        Route::File { note, .. } => assert_eq!(note, None, "only loaders, kernels and initrds"),
        other => panic!("{other:?}"),
    }
    match get(&lab.state, "/trees/centos7/vmlinuz") {
        Route::File { file, .. } => assert_eq!(
            file.path,
            c7.join("images/pxeboot/vmlinuz"),
            "a symlink inside"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        get(&lab.state, "/trees/centos7"),
        Route::Redirect {
            location: "/trees/centos7/".into()
        }
    );
    assert_eq!(
        get(&lab.state, "/trees/centos7/images"),
        Route::Redirect {
            location: "/trees/centos7/images/".into()
        }
    );
    assert_eq!(
        get(&lab.state, "/trees/centos7/images/"),
        Route::Listing {
            dir: c7.join("images"),
            shown: "/trees/centos7/images/".into()
        }
    );
    assert_eq!(get(&lab.state, "/trees/"), Route::TreesIndex);
    assert_eq!(
        get(&lab.state, "/trees"),
        Route::Redirect {
            location: "/trees/".into()
        }
    );
    assert_eq!(get(&lab.state, "/"), Route::Index);
    for (t, want) in [
        ("/trees/nope/x", StatusCode::NOT_FOUND),
        ("/trees/centos7/missing", StatusCode::NOT_FOUND),
        (
            "/trees/centos7/images/pxeboot/vmlinuz/",
            StatusCode::NOT_FOUND,
        ),
        ("/trees/debian12/x", StatusCode::NOT_FOUND),
        ("/trees/centos7/leak", StatusCode::FORBIDDEN),
        ("/trees/centos7/../../secret.txt", StatusCode::FORBIDDEN),
        ("/loaders/nothing.efi", StatusCode::NOT_FOUND),
        ("/loaders/../secret.txt", StatusCode::FORBIDDEN),
    ] {
        assert_eq!(status_of(&get(&lab.state, t)), Some(want), "{t}");
    }
    match get(&lab.state, "/trees/debian12/x") {
        Route::Refused { reason, .. } => assert!(reason.contains("not mounted"), "{reason}"),
        other => panic!("{other:?}"),
    }
    match route(
        &lab.state,
        &req_from("GET", "/loaders/grubx64.efi", "10.77.0.51:68", None),
    ) {
        Route::File { area, note, .. } => {
            assert_eq!(area, Area::Loaders);
            assert_eq!(
                note.and_then(|n| n.machine()).map(|m| m.name.as_str()),
                Some("db01")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn api_and_pages() {
    let lab = lab();
    let read = |target: &str, token: &str| {
        route(
            &lab.state,
            &req_from(
                "GET",
                target,
                "192.0.2.9:5000",
                Some(&format!("Bearer {token}")),
            ),
        )
    };
    for token in [ADMIN, READER] {
        assert_eq!(read("/api/v1/machines", token), Route::ApiMachines);
        assert_eq!(
            read("/api/v1/machines/52-54-00-AB-CD-10", token),
            Route::ApiMachine {
                machine: machine(&lab.state, "ub01")
            }
        );
        assert_eq!(
            status_of(&read("/api/v1/machines/zz", token)),
            Some(StatusCode::NOT_FOUND)
        );
        assert_eq!(read("/status", token), Route::Status { full: true });
    }
    // Without a token, with a wrong one, or with one in the query string: 401, and
    // nothing says whether the machine exists.
    for bad in [
        get(&lab.state, "/api/v1/machines"),
        get(&lab.state, "/api/v1/machines/ub01"),
        get(&lab.state, "/api/v1/machines/zz"),
        read("/api/v1/machines", "read-only-token-987654321x"),
        get(&lab.state, &format!("/api/v1/machines?token={READER}")),
    ] {
        assert_eq!(status_of(&bad), Some(StatusCode::UNAUTHORIZED), "{bad:?}");
    }
    assert_eq!(
        status_of(&get(&lab.state, "/api/v2/machines")),
        Some(StatusCode::NOT_FOUND)
    );
    assert_eq!(get(&lab.state, "/status"), Route::Status { full: false });
    let public = State {
        public_status: true,
        ..lab.state
    };
    assert_eq!(get(&public, "/status"), Route::Status { full: true });
    let no_tokens = State {
        admin_token: None,
        read_token: None,
        ..public
    };
    assert_eq!(
        status_of(&get(&no_tokens, "/api/v1/machines")),
        Some(StatusCode::FORBIDDEN),
        "no token configured: the API is off"
    );
    let lab = self::lab();
    assert_eq!(get(&lab.state, "/metrics"), Route::Metrics);
}

#[test]
fn callbacks_need_a_token_in_the_header() {
    // The route checks the token's form and the admin token; whether a machine token is
    // the machine's current one is the service's check, under the state lock
    // (`service::tests::callback_tokens_are_bound_to_the_install_generation`).
    let lab = lab();
    let secret = Secret::from_bytes(b"route-test-secret");
    let web01 = machine_token(&secret, "web01", 0);
    let post = |target: &str, auth: Option<&str>| {
        route(&lab.state, &req_from("POST", target, "10.77.0.50:1", auth))
    };
    let by_token = |m: &str, t: &str| Route::Callback {
        machine: machine(&lab.state, m),
        event: StateEvent::Installed,
        by: Caller::Machine(t.to_owned()),
    };
    let url = "/api/v1/machines/52:54:00:12:34:56/installed";
    assert_eq!(
        post(url, Some(&format!("Bearer {web01}"))),
        by_token("web01", &web01)
    );
    assert_eq!(
        post(url, Some(&format!("bearer   {web01}"))),
        by_token("web01", &web01)
    );
    assert_eq!(
        post(url, Some(&format!("Bearer {ADMIN}"))),
        Route::Callback {
            machine: machine(&lab.state, "web01"),
            event: StateEvent::Installed,
            by: Caller::Admin,
        },
        "the admin may too"
    );
    for bad in [
        post(url, None),
        // Never from the query string, not even with a good token.
        post(&format!("{url}?token={web01}"), None),
        post(
            &format!("/api/v1/machines/web01/installed?x=1&token={web01}"),
            None,
        ),
        post(
            &format!("{url}?token={web01}"),
            Some(&format!("Bearer {web01}")),
        ),
        post(url, Some("Bearer ")),
        post(url, Some(&format!("Basic {web01}"))),
        post(url, Some(&format!("Bearer {}", &web01[..31]))),
        post(url, Some(&format!("Bearer {web01}0"))),
        post(
            "/api/v1/machines/web01/reinstall",
            Some(&format!("Bearer {web01}")),
        ),
    ] {
        assert_eq!(status_of(&bad), Some(StatusCode::UNAUTHORIZED), "{bad:?}");
    }
    assert_eq!(
        post(
            "/api/v1/machines/web01/reinstall",
            Some(&format!("Bearer {ADMIN}"))
        ),
        Route::Callback {
            machine: machine(&lab.state, "web01"),
            event: StateEvent::Reinstall,
            by: Caller::Admin,
        }
    );
    assert_eq!(
        status_of(&post("/api/v1/machines/nosuch/installed", Some("Bearer x"))),
        Some(StatusCode::NOT_FOUND)
    );
    match get(&lab.state, url) {
        Route::Refused { status, allow, .. } => {
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(allow, Some("POST"));
        }
        other => panic!("{other:?}"),
    }
    let no_admin = State {
        admin_token: None,
        ..lab.state
    };
    assert_eq!(
        status_of(&route(
            &no_admin,
            &req_from(
                "POST",
                "/api/v1/machines/web01/reinstall",
                "10.0.0.1:1",
                Some("Bearer anything-at-all-here")
            )
        )),
        Some(StatusCode::FORBIDDEN)
    );
}

#[test]
fn methods_other_than_get_and_head_are_405() {
    let lab = lab();
    for (m, t) in [
        ("POST", "/ks/web01"),
        ("PUT", "/trees/centos7/.treeinfo"),
        ("DELETE", "/status"),
        ("OPTIONS", "/metrics"),
    ] {
        match route(&lab.state, &req(m, t)) {
            Route::Refused { status, allow, .. } => {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {t}");
                assert_eq!(allow, Some("GET, HEAD"));
            }
            other => panic!("{m} {t}: {other:?}"),
        }
    }
}

#[test]
fn hostile_paths() {
    let lab = lab();
    let cases = [
        (
            "/trees/centos7/%2e%2e/%2e%2e/secret.txt",
            StatusCode::FORBIDDEN,
        ),
        (
            "/trees/centos7/%2E%2E/%2E%2E/secret.txt",
            StatusCode::FORBIDDEN,
        ),
        (
            "/trees/centos7/..%2f..%2fsecret.txt",
            StatusCode::BAD_REQUEST,
        ),
        ("/trees/centos7/%2f..%2fsecret.txt", StatusCode::BAD_REQUEST),
        ("/trees/centos7/images%00/x", StatusCode::BAD_REQUEST),
        (
            "/trees/centos7/..%5c..%5csecret.txt",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/trees/centos7/%c0%ae%c0%ae/secret.txt",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/trees/centos7/%252e%252e/%252e%252e/secret.txt",
            StatusCode::NOT_FOUND,
        ),
        ("/trees/centos7/%", StatusCode::BAD_REQUEST),
        ("/ks/..", StatusCode::FORBIDDEN),
        ("/ks/%2e%2e%2fweb01", StatusCode::BAD_REQUEST),
        (
            "/api/v1/machines/../../../secret.txt",
            StatusCode::FORBIDDEN,
        ),
    ];
    for (t, want) in cases {
        assert_eq!(status_of(&get(&lab.state, t)), Some(want), "{t}");
    }
    let long = format!("/trees/centos7/{}", "a".repeat(MAX_TARGET));
    assert_eq!(
        status_of(&get(&lab.state, &long)),
        Some(StatusCode::URI_TOO_LONG)
    );
}

#[test]
fn a_plain_root_without_inventory() {
    let lab = lab();
    let root = lab.dir.path().join("root").canonicalize().expect("canon");
    let state = State {
        root: Some(root.clone()),
        ..State::default()
    };
    assert_eq!(
        get(&state, "/"),
        Route::Listing {
            dir: root.clone(),
            shown: "/".into()
        }
    );
    match get(&state, "/hello.txt") {
        Route::File { file, area, .. } => {
            assert_eq!(file.path, root.join("hello.txt"));
            assert_eq!(area, Area::Root);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        get(&state, "/sub"),
        Route::Redirect {
            location: "/sub/".into()
        }
    );
    assert_eq!(
        get(&state, "/metrics"),
        Route::Metrics,
        "metrics are always served"
    );
    for t in [
        "/status",
        "/ks/web01",
        "/api/v1/machines",
        "/boot.ipxe",
        "/loaders/x",
        "/../secret.txt",
    ] {
        assert!(status_of(&get(&state, t)).is_some(), "{t}");
    }
    // With an inventory too, the root fills in the paths the inventory does not own.
    let both = State {
        root: Some(root.clone()),
        ..lab.state
    };
    assert!(matches!(
        get(&both, "/hello.txt"),
        Route::File {
            area: Area::Root,
            ..
        }
    ));
    assert_eq!(
        get(&both, "/"),
        Route::Listing {
            dir: root,
            shown: "/".into()
        }
    );
    assert_eq!(get(&both, "/status"), Route::Status { full: false });
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Names that exist in the lab's trees (so cases reach files), and hostile pieces.
    fn piece() -> impl Strategy<Value = String> {
        let real = prop_oneof![
            Just(".treeinfo"),
            Just("vmlinuz"),
            Just("images"),
            Just("pxeboot"),
            Just("images/pxeboot"),
            Just("initrd.img"),
            Just("grubx64.efi"),
            Just("casper"),
            Just("leak"),
            Just("etc"),
            Just("passwd"),
            Just("secret.txt"),
            Just("centos7"),
            Just("trees"),
        ];
        let hostile = prop_oneof![
            Just(".."),
            Just("."),
            Just(""),
            Just("%2e%2e"),
            Just("%2E%2e"),
            Just(".%2e"),
            Just("%2f"),
            Just("%2F"),
            Just("%5c"),
            Just("\\"),
            Just("%00"),
            Just("%25"),
            Just("%252e%252e"),
            Just("%c0%ae%c0%ae"),
            Just("%"),
            Just("ks"),
            Just("web01"),
            Just("api/v1/machines"),
            Just("installed"),
            Just("boot"),
            Just(".ipxe"),
            Just("grub.cfg"),
            Just("pxelinux.cfg"),
            Just("52:54:00:12:34:56"),
        ];
        prop_oneof![
            3 => real.prop_map(str::to_owned),
            2 => hostile.prop_map(str::to_owned),
            1 => "[a-zA-Z0-9%._~:-]{0,6}",
        ]
    }

    /// Never panics, and a file or listing it routes to is always inside a tree.
    #[test]
    fn never_panics_and_never_leaves_a_tree() {
        let lab = lab();
        let allowed: Vec<PathBuf> = ["trees/centos7", "trees/ubuntu2404", "loaders"]
            .iter()
            .map(|p| lab.dir.path().join(p).canonicalize().expect("canon"))
            .collect();
        let secret = lab
            .dir
            .path()
            .join("secret.txt")
            .canonicalize()
            .expect("canon");
        let inside = |p: &Path| allowed.iter().any(|a| p.starts_with(a));
        let prefix = prop_oneof![
            1 => Just(""),
            1 => Just("trees/"),
            3 => Just("trees/centos7/"),
            1 => Just("trees/centos7/images/pxeboot/"),
            1 => Just("trees/ubuntu2404/"),
            1 => Just("loaders/"),
        ];
        let strategy = (
            prefix,
            proptest::collection::vec(piece(), 0..5),
            any::<bool>(),
            prop_oneof![Just("GET"), Just("HEAD"), Just("POST")],
        );
        let served = std::sync::atomic::AtomicUsize::new(0);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
        let result = runner.run(&strategy, |(prefix, pieces, joined, method)| {
            // Pieces joined as segments, or run together (encodings across segments).
            let rest = if joined {
                pieces.join("/")
            } else {
                pieces.concat()
            };
            let target = format!("/{prefix}{rest}");
            let Ok(uri) = target.parse::<http::Uri>() else {
                return Ok(());
            };
            let mut r = Request::builder()
                .method(method)
                .uri(uri)
                .body(())
                .expect("request");
            r.extensions_mut()
                .insert(Peer("10.77.0.50:1".parse().expect("peer")));
            match &route(&lab.state, &r) {
                Route::File { file, .. } => {
                    served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    prop_assert!(inside(&file.path), "{target} -> {:?}", file.path);
                    prop_assert!(file.path.starts_with(&file.root));
                    prop_assert_ne!(&file.path, &secret);
                }
                Route::Listing { dir, .. } => {
                    served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    prop_assert!(inside(dir), "{target} -> {dir:?}");
                }
                _ => {}
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        // The generator does reach files, or the property would say nothing.
        let served = served.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            served > 100,
            "only {served} cases reached a file or directory"
        );
    }
}

/// Every `(method, path)` of docs/api.yaml's `paths`.
fn documented_routes() -> std::collections::BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.yaml");
    let text = std::fs::read_to_string(path).expect("docs/api.yaml");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("docs/api.yaml is YAML");
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = std::collections::BTreeSet::new();
    for (p, item) in paths {
        for m in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(m).is_some() {
                out.insert((m.to_ascii_uppercase(), p.clone()));
            }
        }
    }
    out
}

/// The router is probed with every method on every documented path, on every path of
/// `API_ROUTES` and on near misses; what it answers (anything but "no such endpoint" 404
/// or 405) must be exactly what docs/api.yaml documents.
#[test]
fn api_yaml_documents_every_route() {
    let lab = lab();
    let documented = documented_routes();
    let known: std::collections::BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, known, "docs/api.yaml against route::API_ROUTES");
    let mut probes: std::collections::BTreeSet<String> =
        known.iter().map(|(_, p)| p.clone()).collect();
    for extra in [
        "/api/v1",
        "/api/v1/machines/{machine}/frobnicate",
        "/api/v1/machines/{machine}/installed/x",
        "/api/v1/profiles/{profile}/x",
        "/api/v1/distros/{distro}/x",
        "/api/v1/trees",
        "/api/v1/users",
        "/api/v2/machines",
        "/api/machines",
    ] {
        probes.insert(extra.to_owned());
    }
    let auth = format!("Bearer {ADMIN}");
    let mut answered = std::collections::BTreeSet::new();
    for path in &probes {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let target = path
                .replace("{machine}", "web01")
                .replace("{profile}", "centos7-ks")
                .replace("{distro}", "centos7");
            let r = route(
                &lab.state,
                &req_from(method, &target, "10.77.0.50:1", Some(&auth)),
            );
            let unknown = matches!(
                &r,
                Route::Refused { status, reason, .. }
                    if *status == StatusCode::METHOD_NOT_ALLOWED
                        || (*status == StatusCode::NOT_FOUND && reason.contains("no such API endpoint"))
            );
            if !unknown {
                answered.insert((method.to_owned(), path.clone()));
            }
        }
    }
    assert_eq!(
        answered, known,
        "routes the router answers against docs/api.yaml"
    );
}

/// Changes take the admin token: none is 401, the read-only one 403, a wrong one 401.
#[test]
fn changing_machines_takes_the_admin_token() {
    let lab = lab();
    let with = |method: &str, target: &str, token: Option<&str>| {
        let auth = token.map(|t| format!("Bearer {t}"));
        route(
            &lab.state,
            &req_from(method, target, "192.0.2.9:5000", auth.as_deref()),
        )
    };
    assert_eq!(
        with("POST", "/api/v1/machines", Some(ADMIN)),
        Route::ApiChange {
            of: Kept::Machines,
            change: Change::Add
        }
    );
    assert_eq!(
        with("PUT", "/api/v1/machines/new01", Some(ADMIN)),
        Route::ApiChange {
            of: Kept::Machines,
            change: Change::Put {
                name: "new01".into()
            }
        }
    );
    assert_eq!(
        with("DELETE", "/api/v1/machines/web01", Some(ADMIN)),
        Route::ApiChange {
            of: Kept::Machines,
            change: Change::Delete {
                name: "web01".into()
            }
        }
    );
    for (method, target) in [
        ("POST", "/api/v1/machines"),
        ("PUT", "/api/v1/machines/new01"),
        ("DELETE", "/api/v1/machines/web01"),
    ] {
        assert_eq!(
            status_of(&with(method, target, None)),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status_of(&with(method, target, Some(READER))),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            status_of(&with(method, target, Some("not-a-token-of-this-server"))),
            Some(StatusCode::UNAUTHORIZED)
        );
    }
    assert_eq!(
        with("GET", "/api/v1/profiles", Some(READER)),
        Route::ApiList {
            what: Listed::Profiles
        }
    );
    assert_eq!(
        status_of(&with("GET", "/api/v1/distros", None)),
        Some(StatusCode::UNAUTHORIZED)
    );
}
