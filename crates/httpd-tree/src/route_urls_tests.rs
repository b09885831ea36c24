//! Every URL pxe-model hands out for httpd-tree (in boot menus, iPXE scripts, answer files and
//! DHCP boot plans) comes back through [`route`] to the handler it was made for, never a 404:
//! the spelling in `pxe_model::urls` and the reading here cannot drift apart unnoticed.

use super::*;
use pxe_model::render::answer;
use pxe_model::state::{InstallState, machine_token};
use pxe_model::{BootFile, ClientInfo, Inventory, plan};
use std::path::Path;

pub(crate) const RENDER_LAB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/inventory/good/render-lab.yaml"
);
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/examples/inventory.yaml"
);
const SECRET: &[u8] = b"url-test-secret";

/// An inventory with every tree's kernel and initrd (`boot`) and every loader on disk.
pub(crate) fn lab(fixture: &str, dir: &Path) -> State {
    let text = std::fs::read_to_string(fixture)
        .expect("fixture")
        .replace("/srv/trees", &dir.join("trees").display().to_string());
    let base = Path::new(fixture).parent().expect("fixture directory");
    let inventory = pxe_model::load_str("inventory.yaml", &text, base).expect("inventory loads");
    for d in inventory.distros.values() {
        if let Tree::Dir(tree) = &d.tree {
            for file in [&d.kernel, &d.initrd] {
                let path = tree.join(file.trim_start_matches('/'));
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, "boot").expect("write");
            }
        }
    }
    let loaders = dir.join("loaders");
    std::fs::create_dir_all(&loaders).expect("mkdir");
    let l = &inventory.loaders;
    for name in [
        &l.bios,
        &l.uefi_ia32,
        &l.uefi_x64,
        &l.uefi_arm64,
        &l.ipxe_bios,
        &l.ipxe_uefi,
    ] {
        std::fs::write(loaders.join(name), "efi").expect("write");
    }
    State {
        inventory: Some(inventory),
        inventory_file: None,
        root: None,
        loaders: Some(loaders.canonicalize().expect("canon")),
        secret: Some(Secret::from_bytes(SECRET)),
        admin_token: None,
        read_token: None,
        public_status: false,
    }
}

/// What pxe-model hands out, by the machine it was made for (`None`: menus, profiles).
fn handed_out(inv: &Inventory) -> Vec<(Option<&Machine>, String)> {
    let secret = Secret::from_bytes(SECRET);
    let pending = |_: &str| InstallState::Pending;
    let mut docs = Vec::new();
    for kind in [
        BootFileKind::PxelinuxDefault,
        BootFileKind::GrubRoot,
        BootFileKind::GrubMenu,
        BootFileKind::IpxeMenu,
    ] {
        let menu = render::render(inv, &kind, &pending).expect("a menu");
        docs.push((None, menu.content));
    }
    for (p, d) in inv
        .profiles
        .keys()
        .filter_map(|p| inv.profile_and_distro(p))
    {
        docs.push((None, answer::render(inv, p, d, None).expect("renders")));
    }
    let chain = render::render(inv, &BootFileKind::IpxeChain, &pending).expect("chain");
    for m in inv.machines.values() {
        let mac = urls::primary_mac(m);
        // iPXE expands `${mac}` in the generic script.
        docs.push((Some(m), chain.content.replace("${mac}", &mac.colon())));
        for kind in [
            BootFileKind::PxelinuxMachine(m.name.clone()),
            BootFileKind::GrubMachine(m.name.clone()),
            BootFileKind::IpxeMachine(m.name.clone()),
        ] {
            let file = render::render(inv, &kind, &pending).expect("a machine file");
            docs.push((Some(m), file.content));
        }
        if let Some((p, d)) = inv.profile_of(m) {
            let token = machine_token(&secret, &m.name, 0);
            let text = answer::render(inv, p, d, Some((m, &token))).expect("renders");
            docs.push((Some(m), text));
        }
        // DHCP: UEFI HTTP boot gets a loader's URL, a client already in iPXE its script's.
        let mut http_boot = ClientInfo::new(mac);
        http_boot.arch = Some(16);
        http_boot.vendor_class = Some("HTTPClient:Arch:00016:UNDI:003001".into());
        let mut ipxe = ClientInfo::new(mac);
        ipxe.user_class = Some(b"iPXE".to_vec());
        for client in [http_boot, ipxe] {
            if let Ok(p) = plan(inv, &client, InstallState::Pending)
                && let BootFile::Url(url) = p.boot_file
            {
                docs.push((Some(m), url));
            }
        }
    }
    docs
}

/// The URLs on httpd-tree in `text`. A NoCloud seed (`ds=nocloud-net;s=<url>/`) stands for
/// the files cloud-init fetches from it.
fn http_urls(text: &str, base: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(base) {
        let rest = &text[at..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(rest.len());
        let url = &rest[..end];
        if text[..at].ends_with("nocloud-net;s=") {
            out.extend(NoCloud::ALL.iter().map(|f| format!("{url}{}", f.file())));
        } else {
            out.push(url.to_owned());
        }
    }
    out
}

/// The handler (metrics label) an endpoint is made for.
fn handler(endpoint: &Endpoint<'_>) -> &'static str {
    match endpoint {
        Endpoint::Kickstart { .. }
        | Endpoint::Preseed { .. }
        | Endpoint::Autoinstall { .. }
        | Endpoint::ProfileAnswer { .. }
        | Endpoint::ProfileAutoinstall { .. } => "answer",
        Endpoint::IpxeScript { .. } => "boot_file",
        Endpoint::DeployPlan { .. } => "answer",
        Endpoint::Machines
        | Endpoint::Machine { .. }
        | Endpoint::Profiles
        | Endpoint::Distros
        | Endpoint::Profile { .. }
        | Endpoint::Distro { .. } => "api",
        Endpoint::Callback { .. } => "callback",
        Endpoint::Tree { .. } => "tree",
        Endpoint::Loader { .. } => "loader",
        Endpoint::Status => "status",
        Endpoint::Metrics => "metrics",
    }
}

/// Routes `url` as the machine it was made for would ask for it (from its fixed address;
/// the callback by POST, with its token in the header unless the URL carries it).
fn check(state: &State, machine: Option<&Machine>, url: &str) {
    let inv = state.inventory.as_ref().expect("inventory");
    let target = url
        .strip_prefix(inv.servers.http.as_str())
        .expect("on httpd-tree");
    let path = target.split('?').next().unwrap_or(target);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let endpoint = Endpoint::parse(&segs)
        .unwrap_or_else(|| panic!("{url}: not a shape of pxe_model::urls::Endpoint"));
    let peer = machine
        .and_then(|m| m.address)
        .map_or_else(|| "192.0.2.9:5000".to_owned(), |a| format!("{a}:5000"));
    let method = match endpoint {
        Endpoint::Callback { .. } => "POST",
        _ => "GET",
    };
    let bearer = machine
        .filter(|_| !target.contains(&format!("{TOKEN_PARAM}=")))
        .map(|m| {
            format!(
                "Bearer {}",
                machine_token(&Secret::from_bytes(SECRET), &m.name, 0)
            )
        });
    let req = |target: &str| {
        let mut b = Request::builder().method(method).uri(target);
        if let Some(a) = &bearer {
            b = b.header(header::AUTHORIZATION, a);
        }
        let mut r = b.body(()).expect("request");
        r.extensions_mut().insert(Peer(peer.parse().expect("peer")));
        r
    };
    let mut got = route(state, &req(target));
    let mut want = handler(&endpoint);
    if let (Endpoint::Tree { inside: [], .. }, Route::Redirect { location }) = (endpoint, &got) {
        // A tree's base URL: the installer follows the redirect to the listing.
        got = route(state, &req(location));
        want = "listing";
    }
    assert_eq!(got.label(), want, "{url} from {peer}: {got:?}");
    let per_machine = matches!(want, "answer" | "boot_file" | "callback");
    match (got.machine(), machine) {
        (Some(found), Some(m)) => assert_eq!(found.name, m.name, "{url}"),
        (Some(found), None) => panic!("{url} of a menu routes to machine {}", found.name),
        (None, Some(m)) if per_machine => panic!("{url} of {} routes to no machine", m.name),
        (None, _) => {}
    }
}

#[test]
fn every_url_handed_out_routes_back_to_its_handler() {
    for fixture in [RENDER_LAB, EXAMPLE] {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = lab(fixture, dir.path());
        let inv = state.inventory.as_ref().expect("inventory");
        let mut seen = std::collections::BTreeSet::new();
        for (machine, text) in handed_out(inv) {
            for url in http_urls(&text, &inv.servers.http) {
                check(&state, machine, &url);
                let path = url.split('?').next().unwrap_or(&url).to_owned();
                seen.insert(path.split('/').nth(3).unwrap_or_default().to_owned());
            }
        }
        // The shapes the renderers and boot plans use, so that the test keeps seeing them.
        for prefix in ["ks", "profiles", "boot", "api", "trees", "loaders"] {
            assert!(
                seen.contains(prefix),
                "{fixture}: no /{prefix}/ URL in {seen:?}"
            );
        }
        if fixture == RENDER_LAB {
            for prefix in ["preseed", "autoinstall"] {
                assert!(
                    seen.contains(prefix),
                    "{fixture}: no /{prefix}/ URL in {seen:?}"
                );
            }
        }
    }
}
