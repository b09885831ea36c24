//! Boot plans over DHCPv6: the MAC from a DUID or a link-local source, the client's options
//! read the way edk2 and iPXE send them, and option 59 replaced in the reply.

use super::*;

const INVENTORY: &str = r#"
servers:
  tftp: 10.0.0.2
  tftp6: fd00:77::2
  http: http://[fd00:77::3]:8080
unknown_machines: ignore
loaders:
  bios: pxelinux.0
  uefi_x64: grubnetx64.efi
  ipxe_bios: undionly.kpxe
  ipxe_uefi: ipxe.efi
distros:
  deb:
    arch: x86_64
    family: debian
    tree: trees/deb
    kernel: linux
    initrd: initrd.gz
profiles:
  viaipxe:
    distro: deb
    chain: ipxe
machines:
  v6-vm:
    mac: 52:54:00:77:00:70
    profile: viaipxe
"#;

fn inventory() -> Inventory {
    pxe_model::load_str(
        "inventory.yaml",
        INVENTORY,
        std::path::Path::new("/nonexistent"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn ip(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn opt(code: u16, data: &[u8]) -> Opt {
    Opt {
        code,
        data: data.to_vec(),
    }
}

/// A length-prefixed (two bytes) string, as options 15 and 16 carry them.
fn item(s: &str) -> Vec<u8> {
    let mut v = u16::try_from(s.len()).unwrap_or(0).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

fn vendor_class(s: &str) -> Opt {
    let mut d = 343u32.to_be_bytes().to_vec();
    d.extend(item(s));
    opt(code::VENDOR_CLASS, &d)
}

/// A Solicit as edk2 sends it: a DUID-UUID (no MAC in it), ORO with 59, arch, vendor class.
fn edk2(arch: u16, class: &str) -> Message {
    Message {
        kind: kind::SOLICIT,
        xid: [1, 2, 3],
        options: vec![
            opt(
                code::CLIENT_ID,
                &[0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
            ),
            opt(code::ORO, &[0, 59, 0, 60]),
            opt(code::CLIENT_ARCH_TYPE, &arch.to_be_bytes()),
            vendor_class(class),
        ],
    }
}

fn advertise() -> Message {
    Message {
        kind: kind::ADVERTISE,
        xid: [1, 2, 3],
        options: vec![opt(
            code::BOOTFILE_URL,
            b"tftp://[fd00:77::1]/from-conf.efi",
        )],
    }
}

fn boot_url(m: &Message) -> Vec<String> {
    m.options
        .iter()
        .filter(|o| o.code == code::BOOTFILE_URL)
        .map(|o| String::from_utf8_lossy(&o.data).into_owned())
        .collect()
}

const LINK_LOCAL: &str = "fe80::5054:ff:fe77:70";
const MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0x77, 0, 0x70]);

#[test]
fn the_mac_comes_from_the_duid_or_the_link_local_source() {
    let msg = edk2(7, "PXEClient:Arch:00007:UNDI:003016");
    assert_eq!(
        client_mac(&msg, ip(LINK_LOCAL)),
        Some((MAC, MacFrom::LinkLocal)),
        "a DUID-UUID names no MAC"
    );
    assert_eq!(client_mac(&msg, ip("fd00:77::100")), None, "not link-local");
    assert_eq!(
        client_mac(&msg, ip("fe80::1234:5678:9abc:def0")),
        None,
        "no ff:fe in the middle: not made from a MAC"
    );
    let mut ll = msg.clone();
    ll.options[0] = opt(code::CLIENT_ID, &[0, 3, 0, 1, 0x52, 0x54, 0, 0x77, 0, 0x71]);
    let mac71 = MacAddr([0x52, 0x54, 0, 0x77, 0, 0x71]);
    assert_eq!(
        client_mac(&ll, ip(LINK_LOCAL)),
        Some((mac71, MacFrom::Duid)),
        "DUID-LL wins over the source"
    );
    let mut llt = msg;
    llt.options[0] = opt(
        code::CLIENT_ID,
        &[0, 1, 0, 1, 9, 9, 9, 9, 0x52, 0x54, 0, 0x77, 0, 0x71],
    );
    assert_eq!(
        client_mac(&llt, ip("fd00::1")),
        Some((mac71, MacFrom::Duid))
    );
    llt.options[0] = opt(code::CLIENT_ID, &[0, 1, 0, 6, 9, 9, 9, 9, 1, 2, 3, 4, 5, 6]);
    assert_eq!(client_mac(&llt, ip("fd00::1")), None, "not Ethernet");
}

#[test]
fn edk2_pxe_gets_ipxe_over_tftp6_in_place_of_the_configurations_url() {
    let msg = edk2(7, "PXEClient:Arch:00007:UNDI:003016");
    let client = client_info(&msg, MAC);
    assert_eq!(client.arch, Some(7));
    let mut reply = advertise();
    let p = apply(
        &inventory(),
        &client,
        InstallState::Pending,
        &msg,
        &mut reply,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.machine.as_deref(), Some("v6-vm"));
    assert_eq!(boot_url(&reply), ["tftp://[fd00:77::2]/ipxe.efi"]);
}

#[test]
fn http_boot_gets_the_loaders_url() {
    let msg = edk2(16, "HTTPClient:Arch:00016:UNDI:003001");
    let mut reply = advertise();
    apply(
        &inventory(),
        &client_info(&msg, MAC),
        InstallState::Pending,
        &msg,
        &mut reply,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        boot_url(&reply),
        ["http://[fd00:77::3]:8080/loaders/ipxe.efi"]
    );
}

#[test]
fn ipxe_gets_its_script_once_it_runs() {
    let mut msg = edk2(7, "PXEClient:Arch:00007:UNDI:003016");
    // iPXE's user class: one string, "iPXE", with a two-byte length.
    msg.options.push(opt(USER_CLASS, &item("iPXE")));
    let client = client_info(&msg, MAC);
    assert!(client.is_ipxe());
    let mut reply = advertise();
    apply(
        &inventory(),
        &client,
        InstallState::Pending,
        &msg,
        &mut reply,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        boot_url(&reply),
        ["http://[fd00:77::3]:8080/boot/52:54:00:77:00:70.ipxe"]
    );
    // Its DHCPv4 form (one-byte length) is not iPXE's DHCPv6 user class.
    let mut v4_form = edk2(7, "PXEClient");
    v4_form.options.push(opt(USER_CLASS, b"\x04iPXE"));
    assert!(!client_info(&v4_form, MAC).is_ipxe());
}

#[test]
fn no_plan_leaves_the_reply_as_the_configuration_made_it() {
    let inv = inventory();
    let other = MacAddr([0x52, 0x54, 0, 0x77, 0, 0x99]);
    let msg = edk2(7, "PXEClient:Arch:00007:UNDI:003016");
    let mut reply = advertise();
    let why = apply(
        &inv,
        &client_info(&msg, other),
        InstallState::Pending,
        &msg,
        &mut reply,
    );
    assert_eq!(why.err(), Some(NoBoot::UnknownMachine));
    assert_eq!(boot_url(&reply), ["tftp://[fd00:77::1]/from-conf.efi"]);
    // A client that did not ask for a boot file (an OS renewing) gets none added.
    let mut os = msg.clone();
    os.options.retain(|o| o.code != code::ORO);
    let mut reply = advertise();
    let why = apply(
        &inv,
        &client_info(&os, MAC),
        InstallState::Pending,
        &os,
        &mut reply,
    );
    assert_eq!(why.err(), Some(NoBoot::NotABootClient));
    assert_eq!(boot_url(&reply), ["tftp://[fd00:77::1]/from-conf.efi"]);
}
