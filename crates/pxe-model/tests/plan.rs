//! Boot plans, table-driven: one line of client description in, one line of decision out.
//!
//! Client words: `mac=…` `arch=N` `vc=PXEClient|HTTPClient|d-i|-` `uc=iPXE|rfc3004`
//! `opt175` `state=pending|installing|installed`.

mod common;

use pxe_model::{BootFile, ClientInfo, InstallState, MacAddr, Target, plan, plan_v6};

fn describe(inv: &pxe_model::Inventory, scenario: &str) -> String {
    describe_with(inv, scenario, plan)
}

type Planner = fn(
    &pxe_model::Inventory,
    &ClientInfo,
    InstallState,
) -> Result<pxe_model::BootPlan, pxe_model::NoBoot>;

fn describe_with(inv: &pxe_model::Inventory, scenario: &str, planner: Planner) -> String {
    let mut client = ClientInfo::new(MacAddr([0; 6]));
    client.vendor_class = Some("PXEClient:Arch:00000:UNDI:002001".into());
    let mut state = InstallState::Pending;
    for word in scenario.split_whitespace() {
        let (k, v) = word.split_once('=').unwrap_or((word, ""));
        match k {
            "mac" => client.mac = v.parse().expect("mac"),
            "arch" => client.arch = Some(v.parse().expect("arch")),
            "vc" if v == "-" => client.vendor_class = None,
            "vc" => client.vendor_class = Some(v.to_owned()),
            "uc" if v == "rfc3004" => client.user_class = Some(b"\x04iPXE".to_vec()),
            "uc" => client.user_class = Some(v.as_bytes().to_vec()),
            "opt175" => client.ipxe_options = true,
            "state" => {
                state = match v {
                    "installing" => InstallState::Installing,
                    "installed" => InstallState::Installed,
                    _ => InstallState::Pending,
                }
            }
            other => panic!("unknown scenario word {other}"),
        }
    }
    match planner(inv, &client, state) {
        Err(why) => format!("none: {why:?}"),
        Ok(p) => {
            let file = match &p.boot_file {
                BootFile::Tftp(f) => format!("tftp:{f}"),
                BootFile::Url(u) => format!("url:{u}"),
            };
            let target = match &p.target {
                Target::Install { profile } => format!("install:{profile}"),
                Target::LocalDisk => "local".into(),
                Target::Menu => "menu".into(),
            };
            format!(
                "{} {file} next={} vc={} {target}",
                p.machine.as_deref().unwrap_or("-"),
                p.next_server.map_or("-".into(), |a| a.to_string()),
                p.vendor_class.unwrap_or("-"),
            )
        }
    }
}

#[track_caller]
fn check(scenario: &str, want: &str) {
    assert_eq!(describe(&common::lab(), scenario), want, "{scenario}");
}

const WEB: &str = "mac=52:54:00:12:34:56";
const DB: &str = "mac=52:54:00:ab:cd:01";
const HTTP: &str = "http://10.77.0.3:8080";

#[test]
fn classic_chain_per_architecture() {
    check(
        &format!("{WEB} arch=0"),
        "web01 tftp:pxelinux.0 next=10.77.0.2 vc=- install:centos7-ks",
    );
    check(
        &format!("{WEB} arch=6"),
        "web01 tftp:grubia32.efi next=10.77.0.2 vc=- install:centos7-ks",
    );
    check(
        &format!("{WEB} arch=7"),
        "web01 tftp:grubx64.efi next=10.77.0.2 vc=- install:centos7-ks",
    );
    check(
        &format!("{WEB} arch=9"),
        "web01 tftp:grubx64.efi next=10.77.0.2 vc=- install:centos7-ks",
    );
    check(
        &format!("{WEB} arch=11"),
        "web01 tftp:grubaa64.efi next=10.77.0.2 vc=- install:centos7-ks",
    );
}

#[test]
fn a_pxe_client_without_option_93_is_bios() {
    check(
        WEB,
        "web01 tftp:pxelinux.0 next=10.77.0.2 vc=- install:centos7-ks",
    );
}

#[test]
fn uefi_http_boot_gets_a_url_and_httpclient_echoed() {
    let vc = "vc=HTTPClient:Arch:00016:UNDI:003001";
    check(
        &format!("{WEB} arch=16 {vc}"),
        &format!("web01 url:{HTTP}/loaders/grubx64.efi next=- vc=HTTPClient install:centos7-ks"),
    );
    check(
        &format!("{WEB} arch=15 {vc}"),
        &format!("web01 url:{HTTP}/loaders/grubia32.efi next=- vc=HTTPClient install:centos7-ks"),
    );
    check(
        &format!("{WEB} arch=19 {vc}"),
        &format!("web01 url:{HTTP}/loaders/grubaa64.efi next=- vc=HTTPClient install:centos7-ks"),
    );
    check(
        &format!("{DB} arch=16 {vc}"),
        &format!("db01 url:{HTTP}/loaders/ipxe.efi next=- vc=HTTPClient install:debian12-preseed"),
    );
}

#[test]
fn pxeclient_vs_httpclient_with_the_same_arch() {
    check(
        &format!("{WEB} arch=7 vc=HTTPClient"),
        &format!("web01 url:{HTTP}/loaders/grubx64.efi next=- vc=HTTPClient install:centos7-ks"),
    );
    check(
        &format!("{WEB} arch=7 vc=PXEClient"),
        "web01 tftp:grubx64.efi next=10.77.0.2 vc=- install:centos7-ks",
    );
}

#[test]
fn ipxe_chain_hands_out_ipxe_once_then_the_script() {
    check(
        &format!("{DB} arch=0"),
        "db01 tftp:undionly.kpxe next=10.77.0.2 vc=- install:debian12-preseed",
    );
    check(
        &format!("{DB} arch=7"),
        "db01 tftp:ipxe.efi next=10.77.0.2 vc=- install:debian12-preseed",
    );
    let script =
        format!("db01 url:{HTTP}/boot/52:54:00:ab:cd:01.ipxe next=- vc=- install:debian12-preseed");
    check(&format!("{DB} arch=0 uc=iPXE"), &script);
    check(&format!("{DB} arch=0 uc=iPXE opt175"), &script);
    check(&format!("{DB} arch=0 opt175"), &script);
    check(&format!("{DB} arch=7 uc=rfc3004"), &script);
    check(
        "mac=52:54:00:ab:cd:02 arch=0 uc=iPXE",
        &format!(
            "db01 url:{HTTP}/boot/52:54:00:ab:cd:02.ipxe next=- vc=- install:debian12-preseed"
        ),
    );
}

#[test]
fn classic_chain_gives_an_ipxe_rom_pxelinux_like_any_rom() {
    check(
        &format!("{WEB} arch=0 uc=iPXE opt175"),
        "web01 tftp:pxelinux.0 next=10.77.0.2 vc=- install:centos7-ks",
    );
}

#[test]
fn install_states() {
    check(
        &format!("{WEB} arch=0 state=pending"),
        "web01 tftp:pxelinux.0 next=10.77.0.2 vc=- install:centos7-ks",
    );
    check(
        &format!("{WEB} arch=0 state=installing"),
        "web01 tftp:pxelinux.0 next=10.77.0.2 vc=- install:centos7-ks",
    );
    check(
        &format!("{WEB} arch=0 state=installed"),
        "web01 tftp:pxelinux.0 next=10.77.0.2 vc=- local",
    );
    check(
        &format!("{DB} arch=0 uc=iPXE state=installed"),
        &format!("db01 url:{HTTP}/boot/52:54:00:ab:cd:01.ipxe next=- vc=- local"),
    );
    check(
        "mac=52:54:00:77:00:01 arch=0 state=pending",
        "gw01 tftp:pxelinux.0 next=10.77.0.2 vc=- local",
    );
}

#[test]
fn unknown_machines_get_the_menu_or_nothing() {
    check(
        "mac=52:54:00:99:99:99 arch=0",
        "- tftp:pxelinux.0 next=10.77.0.2 vc=- menu",
    );
    check(
        "mac=52:54:00:99:99:99 arch=7 uc=iPXE",
        "- tftp:grubx64.efi next=10.77.0.2 vc=- menu",
    );
    let text = std::fs::read_to_string(common::fixtures().join("inventory/good/render-lab.yaml"))
        .expect("read");
    let ignoring = pxe_model::load_str(
        "ignore.yaml",
        &text.replace("menu:\n", "unknown_machines: ignore\nmenu:\n"),
        std::path::Path::new("."),
    )
    .unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(
        describe(&ignoring, "mac=52:54:00:99:99:99 arch=0"),
        "none: UnknownMachine"
    );
    assert_eq!(
        describe(&ignoring, &format!("{WEB} arch=0")),
        "web01 tftp:pxelinux.0 next=10.77.0.2 vc=- install:centos7-ks"
    );
}

#[test]
fn clients_that_are_not_booting_get_no_boot_file() {
    check(&format!("{WEB} vc=d-i"), "none: NotABootClient");
    check(&format!("{WEB} vc=-"), "none: NotABootClient");
    check(&format!("{WEB} arch=2"), "none: UnknownArch(2)");
}

/// Over IPv6 every boot file is a URL: a TFTP loader names `servers.tftp6`, and there is no
/// next-server; without `tftp6` a TFTP loader is no boot file at all.
#[test]
fn ipv6_plans_are_urls() {
    let mut inv = common::lab();
    let v6 = |inv: &pxe_model::Inventory, s: &str| describe_with(inv, s, plan_v6);
    assert_eq!(
        v6(&inv, &format!("{WEB} arch=7")),
        "none: NoTftp6",
        "no tftp6 in the inventory"
    );
    inv.servers.tftp6 = Some("fd00:77::2".parse().expect("v6"));
    assert_eq!(
        v6(&inv, &format!("{WEB} arch=7")),
        "web01 url:tftp://[fd00:77::2]/grubx64.efi next=- vc=- install:centos7-ks"
    );
    assert_eq!(
        v6(&inv, &format!("{DB} arch=7")),
        "db01 url:tftp://[fd00:77::2]/ipxe.efi next=- vc=- install:debian12-preseed"
    );
    // iPXE, HTTP boot: the same URLs as over IPv4 (servers.http says the host).
    assert_eq!(
        v6(&inv, &format!("{DB} arch=7 uc=iPXE")),
        format!("db01 url:{HTTP}/boot/52:54:00:ab:cd:01.ipxe next=- vc=- install:debian12-preseed")
    );
    assert_eq!(
        v6(&inv, &format!("{DB} arch=16 vc=HTTPClient")),
        format!("db01 url:{HTTP}/loaders/ipxe.efi next=- vc=HTTPClient install:debian12-preseed")
    );
}
