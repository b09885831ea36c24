//! Tests of the DHCPv6 core: each message type against one configuration (global, class,
//! subnet6 and host scopes) and a binding table built by applying earlier decisions.

use super::*;
use crate::v6::conf;

const CONF: &str = r#"
default-lease-time 3600;
preferred-lifetime 1800;
option dhcp6.client-arch-type code 61 = array of unsigned integer 16;
option dhcp6.bootfile-url "tftp://[fd00:77::1]/loaders/bootx64.efi";
class "http" {
  match if option dhcp6.client-arch-type = 00:10;
  option dhcp6.bootfile-url "http://[fd00:77::1]:8080/loaders/ipxe.efi";
}
subnet6 fd00:77::/64 {
  range6 fd00:77::100 fd00:77::101;
  option dhcp6.bootfile-url "tftp://[fd00:77::1]/subnet.efi";
}
host web01 {
  host-identifier option dhcp6.client-id 00:04:aa:bb;
  fixed-address6 fd00:77::10;
}
"#;

const SERVER: [u8; 4] = [0, 3, 0, 1];
const NOW: Time = 1_796_536_800;

fn link() -> Vec<Ipv6Addr> {
    vec![
        "fe80::1".parse().expect("ll"),
        "fd00:77::1".parse().expect("g"),
    ]
}

fn msg(k: u8, client: &[u8], extra: Vec<Opt>) -> Message {
    let mut options = vec![
        Opt {
            code: code::CLIENT_ID,
            data: client.to_vec(),
        },
        IaNa {
            iaid: [0, 0, 0, 1],
            t1: 0,
            t2: 0,
            options: vec![],
        }
        .to_opt(),
        Opt {
            code: code::ORO,
            data: vec![0, 59, 0, 60],
        },
    ];
    if k != kind::SOLICIT && k != kind::CONFIRM && k != kind::REBIND {
        options.push(Opt {
            code: code::SERVER_ID,
            data: SERVER.to_vec(),
        });
    }
    options.extend(extra);
    Message {
        kind: k,
        xid: [1, 2, 3],
        options,
    }
}

fn arch(a: u16) -> Opt {
    Opt {
        code: code::CLIENT_ARCH_TYPE,
        data: a.to_be_bytes().to_vec(),
    }
}

fn http_vendor() -> Opt {
    let mut d = 343u32.to_be_bytes().to_vec();
    let s = b"HTTPClient:Arch:00016:UNDI:003000";
    d.extend_from_slice(&(s.len() as u16).to_be_bytes());
    d.extend_from_slice(s);
    Opt {
        code: code::VENDOR_CLASS,
        data: d,
    }
}

fn go(table: &Table, m: &Message) -> Decision {
    let c = conf::parse(CONF).expect("conf");
    decide(&c, &SERVER, table, m, &link(), NOW)
}

fn addr_of(reply: &Message) -> Option<IaAddr> {
    let ia = reply.ia_nas().expect("ia").into_iter().next()?;
    ia.addrs().expect("addrs").into_iter().next()
}

fn apply(table: &mut Table, d: &Decision) {
    for (k, b) in &d.changes {
        table.ias.insert(k.clone(), b.clone());
    }
}

#[test]
fn http_boot_solicit_gets_class_url_and_vendor_class_echoed() {
    let d = go(
        &Table::default(),
        &msg(kind::SOLICIT, &[0, 4, 1], vec![arch(16), http_vendor()]),
    );
    let r = d.reply.expect("advertise");
    assert_eq!(r.kind, kind::ADVERTISE);
    assert_eq!(r.xid, [1, 2, 3]);
    assert_eq!(r.get(code::SERVER_ID), Some(&SERVER[..]));
    assert_eq!(
        r.get(code::BOOTFILE_URL),
        Some(&b"http://[fd00:77::1]:8080/loaders/ipxe.efi"[..])
    );
    assert_eq!(r.get(code::VENDOR_CLASS), Some(&http_vendor().data[..]));
    let a = addr_of(&r).expect("address");
    assert_eq!(a.addr.to_string(), "fd00:77::100");
    assert_eq!((a.preferred, a.valid), (1800, 3600));
    assert!(d.changes.is_empty(), "an ADVERTISE binds nothing");
}

#[test]
fn pxe_gets_subnet_url_without_vendor_class_and_only_when_asked() {
    let d = go(
        &Table::default(),
        &msg(kind::SOLICIT, &[0, 4, 1], vec![arch(7)]),
    );
    let r = d.reply.expect("advertise");
    assert_eq!(
        r.get(code::BOOTFILE_URL),
        Some(&b"tftp://[fd00:77::1]/subnet.efi"[..])
    );
    assert_eq!(r.get(code::VENDOR_CLASS), None);
    let mut m = msg(kind::SOLICIT, &[0, 4, 1], vec![]);
    m.options.retain(|o| o.code != code::ORO);
    let r = go(&Table::default(), &m).reply.expect("advertise");
    assert_eq!(r.get(code::BOOTFILE_URL), None, "not in the ORO");
}

#[test]
fn request_binds_renew_keeps_and_others_get_the_next_then_none() {
    let mut t = Table::default();
    let d = go(&t, &msg(kind::REQUEST, &[0, 4, 1], vec![]));
    assert_eq!(d.reply.as_ref().map(|r| r.kind), Some(kind::REPLY));
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].1.ends, NOW + 3600);
    apply(&mut t, &d);
    let d = go(&t, &msg(kind::RENEW, &[0, 4, 1], vec![]));
    assert_eq!(
        addr_of(&d.reply.expect("r"))
            .map(|a| a.addr.to_string())
            .as_deref(),
        Some("fd00:77::100")
    );
    let d = go(&t, &msg(kind::REQUEST, &[0, 4, 2], vec![]));
    apply(&mut t, &d);
    assert_eq!(
        addr_of(&d.reply.expect("r"))
            .map(|a| a.addr.to_string())
            .as_deref(),
        Some("fd00:77::101")
    );
    let r = go(&t, &msg(kind::SOLICIT, &[0, 4, 3], vec![]))
        .reply
        .expect("r");
    assert!(addr_of(&r).is_none());
    let ia = r.ia_nas().expect("ia").remove(0);
    let st = wire::first(&ia.options, code::STATUS_CODE).expect("status");
    assert_eq!(u16::from_be_bytes([st[0], st[1]]), status::NO_ADDRS_AVAIL);
}

#[test]
fn release_frees_and_decline_abandons() {
    let mut t = Table::default();
    let d = go(&t, &msg(kind::REQUEST, &[0, 4, 1], vec![]));
    apply(&mut t, &d);
    let mut rel = msg(kind::RELEASE, &[0, 4, 1], vec![]);
    rel.options.retain(|o| o.code != code::IA_NA);
    rel.options.push(
        IaNa {
            iaid: [0, 0, 0, 1],
            t1: 0,
            t2: 0,
            options: vec![
                IaAddr {
                    addr: "fd00:77::100".parse().expect("a"),
                    preferred: 0,
                    valid: 0,
                    options: vec![],
                }
                .to_opt(),
            ],
        }
        .to_opt(),
    );
    let d = go(&t, &rel);
    assert_eq!(d.changes[0].1.state, State::Released);
    apply(&mut t, &d);
    let r = go(&t, &msg(kind::SOLICIT, &[0, 4, 9], vec![]))
        .reply
        .expect("r");
    assert_eq!(
        addr_of(&r).map(|a| a.addr.to_string()).as_deref(),
        Some("fd00:77::100")
    );
    rel.kind = kind::DECLINE;
    let mut t2 = Table::default();
    let d = go(&t2, &msg(kind::REQUEST, &[0, 4, 1], vec![]));
    apply(&mut t2, &d);
    let d = go(&t2, &rel);
    assert_eq!(d.changes[0].1.state, State::Abandoned);
    apply(&mut t2, &d);
    let r = go(&t2, &msg(kind::SOLICIT, &[0, 4, 9], vec![]))
        .reply
        .expect("r");
    assert_eq!(
        addr_of(&r).map(|a| a.addr.to_string()).as_deref(),
        Some("fd00:77::101")
    );
}

#[test]
fn host_gets_its_fixed_address_which_no_one_else_gets() {
    let r = go(
        &Table::default(),
        &msg(kind::REQUEST, &[0, 4, 0xaa, 0xbb], vec![]),
    )
    .reply
    .expect("r");
    assert_eq!(
        addr_of(&r).map(|a| a.addr.to_string()).as_deref(),
        Some("fd00:77::10")
    );
}

#[test]
fn wrong_server_missing_client_id_and_foreign_link_are_dropped() {
    let mut m = msg(kind::REQUEST, &[0, 4, 1], vec![]);
    for o in &mut m.options {
        if o.code == code::SERVER_ID {
            o.data = vec![0, 3, 0, 9];
        }
    }
    assert!(go(&Table::default(), &m).reply.is_none());
    let mut m = msg(kind::SOLICIT, &[0, 4, 1], vec![]);
    m.options.retain(|o| o.code != code::CLIENT_ID);
    assert!(go(&Table::default(), &m).reply.is_none());
    let c = conf::parse(CONF).expect("conf");
    let d = decide(
        &c,
        &SERVER,
        &Table::default(),
        &msg(kind::SOLICIT, &[0, 4, 1], vec![]),
        &["fd00:99::1".parse().expect("a")],
        NOW,
    );
    assert!(d.reply.is_none(), "{}", d.note);
}

#[test]
fn confirm_says_on_link_or_not() {
    let with = |a: &str| {
        let mut m = msg(kind::CONFIRM, &[0, 4, 1], vec![]);
        m.options.retain(|o| o.code != code::IA_NA);
        m.options.push(
            IaNa {
                iaid: [0, 0, 0, 1],
                t1: 0,
                t2: 0,
                options: vec![
                    IaAddr {
                        addr: a.parse().expect("a"),
                        preferred: 0,
                        valid: 0,
                        options: vec![],
                    }
                    .to_opt(),
                ],
            }
            .to_opt(),
        );
        let r = go(&Table::default(), &m).reply.expect("reply");
        let st = r.get(code::STATUS_CODE).expect("status").to_vec();
        u16::from_be_bytes([st[0], st[1]])
    };
    assert_eq!(with("fd00:77::100"), status::SUCCESS);
    assert_eq!(with("fd00:99::100"), status::NOT_ON_LINK);
}
