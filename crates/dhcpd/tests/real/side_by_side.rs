//! Side by side with ISC dhcpd 4.4.3 (Debian's isc-dhcp-server): the same configuration, the
//! same crafted requests sent from the client namespace, and the replies captured there;
//! ISC's and ours must agree on message type, yiaddr, siaddr, giaddr, ciaddr, flags, file,
//! sname and every option with its value, in order. Each scenario starts both servers on a
//! fresh lease file. The test code speaks only bytes and packets: it never calls our core.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::support::{Lab, Proc, in_netns, need, read_pcap, wait_for};

/// How long a reply is awaited before concluding there is none (generous: the machine may be
/// busy, and ISC pings an address for a second before offering it).
const REPLY_WAIT: Duration = Duration::from_secs(8);

/// A request in the compact notation of the core's table tests.
pub(crate) struct Packet {
    bytes: Vec<u8>,
    /// Send from the relay address (port 67) to the server.
    relayed: bool,
    /// Send from `ciaddr` (port 68) to the server.
    from_ci: bool,
    xid: u32,
}

fn hex(s: &str) -> Vec<u8> {
    s.split(':')
        .filter(|x| !x.is_empty())
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect()
}

pub(crate) fn packet(line: &str, xid: u32) -> Packet {
    let mut words = line.split_whitespace();
    let kind = words.next().unwrap();
    let mut p = vec![0u8; 240];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x99, 0, 1]);
    p[236..240].copy_from_slice(&dhcpd::wire::MAGIC);
    let mut opts: Vec<(u8, Vec<u8>)> = Vec::new();
    let t = match kind {
        "DISCOVER" => Some(1),
        "REQUEST" => Some(3),
        "DECLINE" => Some(4),
        "RELEASE" => Some(7),
        "INFORM" => Some(8),
        "BOOTP" => None,
        other => panic!("unknown packet type {other}"),
    };
    if let Some(t) = t {
        opts.push((53, vec![t]));
    }
    let (mut relayed, mut from_ci) = (false, false);
    for w in words {
        let (k, v) = w.split_once('=').unwrap_or((w, ""));
        let ip = || v.parse::<Ipv4Addr>().unwrap().octets();
        match k {
            "mac" => p[28..34].copy_from_slice(&hex(v)),
            "ci" => {
                p[12..16].copy_from_slice(&ip());
                from_ci = true;
            }
            "gi" => {
                p[24..28].copy_from_slice(&ip());
                relayed = true;
            }
            "req" => opts.push((50, ip().to_vec())),
            "sid" => opts.push((54, ip().to_vec())),
            "lt" => opts.push((51, v.parse::<u32>().unwrap().to_be_bytes().to_vec())),
            "prl" => opts.push((55, v.split(',').map(|x| x.parse::<u8>().unwrap()).collect())),
            "vci" => opts.push((60, v.as_bytes().to_vec())),
            "cid" => opts.push((61, hex(v))),
            "uc" => opts.push((77, v.as_bytes().to_vec())),
            "arch" => opts.push((93, v.parse::<u16>().unwrap().to_be_bytes().to_vec())),
            "host" => opts.push((12, v.as_bytes().to_vec())),
            "mms" => opts.push((57, v.parse::<u16>().unwrap().to_be_bytes().to_vec())),
            "o118" => opts.push((118, ip().to_vec())),
            "o82" => opts.push((82, hex(v))),
            "o175" => opts.push((175, hex(v))),
            "bcast" => p[10] = 0x80,
            other => panic!("unknown key {other}"),
        }
    }
    // Relay agent information goes last, as a relay appends it.
    opts.sort_by_key(|(c, _)| u8::from(*c == 82));
    for (c, d) in opts {
        p.push(c);
        p.push(d.len() as u8);
        p.extend_from_slice(&d);
    }
    p.push(255);
    if p.len() < 300 {
        p.resize(300, 0);
    }
    Packet {
        bytes: p,
        relayed,
        from_ci,
        xid,
    }
}

/// Send one request from the client namespace.
fn send(lab: &Lab, p: &Packet) {
    let server = lab.ip(1);
    let (bind, to) = if p.relayed {
        ((lab.relay_ip(1), 67), SocketAddr::from((server, 67)))
    } else if p.from_ci {
        ((lab.ip(2), 68), SocketAddr::from((server, 67)))
    } else {
        (
            (Ipv4Addr::UNSPECIFIED, 68),
            SocketAddr::from((Ipv4Addr::BROADCAST, 67)),
        )
    };
    in_netns(&lab.cli, || {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_broadcast(true).unwrap();
        s.bind_device(Some(b"c0")).unwrap();
        s.bind(&SockAddr::from(SocketAddr::from(bind))).unwrap();
        s.send_to(&p.bytes, &SockAddr::from(to)).unwrap();
    });
}

/// A reply as compared: every field that matters, every option with its value, in order.
fn render(r: &dhcpd::request::Request) -> String {
    let text = |d: &[u8]| {
        let end = d.iter().position(|b| *b == 0).unwrap_or(d.len());
        String::from_utf8_lossy(&d[..end]).into_owned()
    };
    let t = match r.msg_type() {
        Some(2) => "OFFER".to_string(),
        Some(5) => "ACK".into(),
        Some(6) => "NAK".into(),
        Some(n) => format!("type{n}"),
        None => "BOOTREPLY".into(),
    };
    let mut s = format!(
        "{t} yi={} si={} gi={} ci={} flags={:04x} file={:?} sname={:?}",
        r.yiaddr,
        r.siaddr,
        r.giaddr,
        r.ciaddr,
        r.flags,
        text(&r.file),
        text(&r.sname)
    );
    for (c, d) in &r.options {
        let v: Vec<String> = d.iter().map(|b| format!("{b:02x}")).collect();
        s.push_str(&format!("\n    {c}={}", v.join(":")));
    }
    s
}

pub(crate) enum Which {
    Isc,
    Ours,
}

pub(crate) fn start(lab: &Lab, which: &Which, conf: &str) -> Proc {
    // A fresh lease file for each server.
    std::fs::write(lab.path("dhcpd.leases"), "").unwrap();
    match which {
        Which::Ours => lab.start_ours(conf, &[]),
        Which::Isc => {
            std::fs::write(lab.path("dhcpd.conf"), conf).unwrap();
            let isc = need("dhcpd", "isc-dhcp-server");
            let (cf, lf, pf) = (
                lab.path("dhcpd.conf"),
                lab.path("dhcpd.leases"),
                lab.path("isc.pid"),
            );
            let args: Vec<String> = vec![
                "-f".into(),
                "-d".into(),
                "-4".into(),
                "-cf".into(),
                cf.display().to_string(),
                "-lf".into(),
                lf.display().to_string(),
                "-pf".into(),
                pf.display().to_string(),
                "s0".into(),
            ];
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let p = lab.spawn(&lab.srv, &isc, &argv, "isc.log");
            assert!(
                p.wait_log("Server starting service.", Duration::from_secs(20)),
                "ISC dhcpd did not start:\n{}",
                p.log()
            );
            p
        }
    }
}

/// Run the packets against one server; the rendered reply (or "no reply") per packet.
pub(crate) fn replies(
    lab: &Lab,
    which: &Which,
    conf: &str,
    packets: &[String],
    tag: &str,
) -> Vec<String> {
    let server = start(lab, which, conf);
    let (cap, pcap) = lab.capture_dhcp(tag);
    let mut out = Vec::new();
    for (i, line) in packets.iter().enumerate() {
        let xid = 0x5000_0000 + i as u32;
        let pkt = packet(line, xid);
        send(lab, &pkt);
        // A reply is awaited for a while; some requests rightly get none (ISC may also ping an
        // address before offering it, which takes a second).
        let reply = || {
            read_pcap(&pcap)
                .into_iter()
                .find(|s| s.xid == pkt.xid && s.packet.op == 2)
        };
        let got = if wait_for(REPLY_WAIT, || reply().is_some()) {
            reply().map_or_else(|| "no reply".into(), |s| render(&s.packet))
        } else {
            "no reply".to_string()
        };
        out.push(format!("{line}\n  => {got}"));
    }
    drop(cap);
    drop(server);
    out
}

/// One configuration and its requests.
struct Scenario {
    name: &'static str,
    conf: String,
    packets: Vec<String>,
}

fn scenarios(lab: &Lab) -> Vec<Scenario> {
    let n = lab.net;
    let net = format!("10.199.{n}");
    let relay = format!("10.200.{n}");
    let subnet = |extra: &str| {
        format!(
            "subnet {net}.0 netmask 255.255.255.0 {{\n  range {net}.10 {net}.30;\n  option routers {net}.1;\n  option domain-name-servers {net}.1;\n  option domain-name \"lab.test\";\n{extra}\n}}\n"
        )
    };
    let pxe_prl = "1,2,3,4,5,6,11,12,13,15,16,17,18,22,23,28,40,41,42,43,50,51,54,58,59,60,66,67,97,128,129,130,131,132,133,134,135";
    let uefi_prl = "1,2,3,4,5,6,12,13,15,17,18,22,23,28,40,41,42,43,50,51,54,58,59,60,66,67,97,128,129,130,131,132,133,134,135";
    let pxe_conf = format!(
        r#"option space PXE;
option PXE.mtftp-ip code 1 = ip-address;
option PXE.discovery-control code 6 = unsigned integer 8;
option arch code 93 = unsigned integer 16;
option space ipxe;
option ipxe-encap-opts code 175 = encapsulate ipxe;
option ipxe.no-pxedhcp code 176 = unsigned integer 8;
option ipxe.no-pxedhcp 1;
authoritative;
default-lease-time 600;
max-lease-time 7200;
class "pxeclients" {{
  match if substring (option vendor-class-identifier, 0, 9) = "PXEClient";
  next-server {net}.5;
  option vendor-class-identifier "PXEClient";
  vendor-option-space PXE;
  option PXE.discovery-control 3;
  if exists user-class and option user-class = "iPXE" {{
    filename "http://{net}.5/boot.ipxe";
  }} elsif option arch = 00:07 or option arch = 00:09 {{
    filename "grubx64.efi";
  }} else {{
    filename "pxelinux.0";
  }}
}}
class "httpclients" {{
  match if substring (option vendor-class-identifier, 0, 10) = "HTTPClient";
  option vendor-class-identifier "HTTPClient";
  filename "http://{net}.5/EFI/BOOT/bootx64.efi";
}}
{}"#,
        subnet("")
    );
    vec![
        Scenario {
            name: "pxe clients",
            conf: pxe_conf,
            packets: vec![
                format!("DISCOVER mac=52:54:00:99:00:01 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 prl={pxe_prl}"),
                format!("REQUEST mac=52:54:00:99:00:01 vci=PXEClient:Arch:00000:UNDI:002001 arch=0 req={net}.10 sid={net}.1 prl={pxe_prl}"),
                format!("DISCOVER mac=52:54:00:99:00:07 vci=PXEClient:Arch:00007:UNDI:003016 arch=7 prl={uefi_prl}"),
                format!("DISCOVER mac=52:54:00:99:00:09 vci=PXEClient:Arch:00009:UNDI:003016 arch=9 prl={uefi_prl}"),
                format!("DISCOVER mac=52:54:00:99:00:0a vci=PXEClient:Arch:00000:UNDI:002001 arch=0 uc=iPXE prl=1,3,6,7,12,15,17,26,43,60,66,67,119,128,129,130,131,132,133,134,135,175,203"),
                "DISCOVER mac=52:54:00:99:00:0b vci=HTTPClient:Arch:00016:UNDI:003001 arch=16 prl=1,3,6,15,43,60,66,67".to_string(),
                "DISCOVER mac=52:54:00:99:00:0c prl=1,3,6,15,28,42".to_string(),
            ],
        },
        Scenario {
            name: "option order and lease times",
            conf: format!("default-lease-time 600;\nmax-lease-time 7200;\n{}", subnet("  option ntp-servers 10.1.1.1;\n  option interface-mtu 1400;")),
            packets: vec![
                "DISCOVER mac=52:54:00:99:01:01".to_string(),
                "DISCOVER mac=52:54:00:99:01:02 prl=3,1".to_string(),
                "DISCOVER mac=52:54:00:99:01:03 prl=3,6".to_string(),
                "DISCOVER mac=52:54:00:99:01:04 lt=120 prl=1,51".to_string(),
                "DISCOVER mac=52:54:00:99:01:05 lt=100000 prl=1,3,42,26".to_string(),
                "DISCOVER mac=52:54:00:99:01:06 bcast prl=1,3,6,15,58,59".to_string(),
            ],
        },
        Scenario {
            name: "fixed host and pool",
            conf: format!(
                "authoritative;\nhost pc1 {{ hardware ethernet 52:54:00:99:02:42; fixed-address {net}.42; option domain-name \"host.test\"; filename \"host.0\"; next-server {net}.7; }}\n{}",
                subnet("")
            ),
            packets: vec![
                "DISCOVER mac=52:54:00:99:02:42 prl=1,3,15".to_string(),
                format!("REQUEST mac=52:54:00:99:02:42 req={net}.42 prl=1,3,15"),
                format!("REQUEST mac=52:54:00:99:02:42 req={net}.11 prl=1,3,15"),
                "DISCOVER mac=52:54:00:99:02:01 prl=1,3,15".to_string(),
            ],
        },
        Scenario {
            name: "unknown clients denied",
            conf: format!(
                "host known {{ hardware ethernet 52:54:00:99:03:02; }}\nsubnet {net}.0 netmask 255.255.255.0 {{\n  pool {{ deny unknown-clients; range {net}.10 {net}.20; }}\n}}\n"
            ),
            packets: vec![
                "DISCOVER mac=52:54:00:99:03:01 prl=1,3".to_string(),
                "DISCOVER mac=52:54:00:99:03:02 prl=1,3".to_string(),
            ],
        },
        Scenario {
            name: "relay",
            conf: format!(
                "{}subnet {relay}.0 netmask 255.255.255.0 {{ range {relay}.10 {relay}.30; option routers {relay}.1; }}\n",
                subnet("")
            ),
            packets: vec![
                format!("DISCOVER mac=52:54:00:99:04:01 gi={relay}.1 prl=1,3,6 o82=01:04:65:74:68:31:02:02:ab:cd"),
                format!("REQUEST mac=52:54:00:99:04:01 gi={relay}.1 req={relay}.10 prl=1,3,6 o82=01:04:65:74:68:31"),
                format!("DISCOVER mac=52:54:00:99:04:02 gi={relay}.1 prl=1,3"),
                // RFC 3527 link selection: the relay names the client's subnet.
                format!("DISCOVER mac=52:54:00:99:04:03 gi={relay}.1 prl=1,3 o82=01:02:70:31:05:04:0a:c7:{n:02x}:00"),
            ],
        },
        Scenario {
            name: "bootp dynamic and fixed",
            conf: format!(
                "subnet {net}.0 netmask 255.255.255.0 {{\n  range dynamic-bootp {net}.100 {net}.110;\n  option routers {net}.1;\n  option domain-name-servers {net}.1;\n  filename \"boot.0\";\n  next-server {net}.5;\n}}\nhost bootpfixed {{ hardware ethernet 52:54:00:99:05:42; fixed-address {net}.42; }}\n"
            ),
            packets: vec![
                "BOOTP mac=52:54:00:99:05:01".to_string(),
                "BOOTP mac=52:54:00:99:05:42".to_string(),
            ],
        },
        Scenario {
            name: "bootp needs dynamic-bootp",
            conf: subnet("  filename \"boot.0\";"),
            packets: vec!["BOOTP mac=52:54:00:99:06:01".to_string()],
        },
        Scenario {
            name: "inform authoritative",
            conf: format!(
                "authoritative;\n{}subnet {relay}.0 netmask 255.255.255.0 {{ range {relay}.10 {relay}.30; option routers {relay}.1; }}\n",
                subnet("")
            ),
            packets: vec![
                format!("INFORM mac=52:54:00:99:07:01 ci={net}.2 prl=1,3,6,15,51"),
                format!("INFORM mac=52:54:00:99:07:02 gi={relay}.1 prl=1,3,6,15"),
            ],
        },
        Scenario {
            name: "inform not authoritative",
            conf: subnet(""),
            packets: vec![format!("INFORM mac=52:54:00:99:08:01 ci={net}.2 prl=1,3,6,15")],
        },
        Scenario {
            name: "request for a wrong address, not authoritative",
            conf: subnet(""),
            packets: vec![
                "REQUEST mac=52:54:00:99:09:01 req=10.99.0.5".to_string(),
                format!("REQUEST mac=52:54:00:99:09:02 req={net}.15 prl=1,3"),
            ],
        },
        Scenario {
            name: "request for a wrong address, authoritative",
            conf: format!("authoritative;\n{}subnet {relay}.0 netmask 255.255.255.0 {{ range {relay}.10 {relay}.30; }}\n", subnet("")),
            packets: vec![
                "REQUEST mac=52:54:00:99:0a:01 req=10.99.0.5".to_string(),
                format!("REQUEST mac=52:54:00:99:0a:02 req=10.99.0.5 gi={relay}.1"),
                format!("REQUEST mac=52:54:00:99:0a:03 req={net}.15 prl=1,3"),
                format!("DISCOVER mac=52:54:00:99:0a:04 prl=1,3"),
                format!("REQUEST mac=52:54:00:99:0a:04 req={net}.10 sid=10.99.0.1 prl=1,3"),
            ],
        },
        Scenario {
            name: "release then discover, decline then discover",
            conf: subnet("  default-lease-time 600;"),
            packets: vec![
                "DISCOVER mac=52:54:00:99:0b:01 prl=1,3".to_string(),
                format!("REQUEST mac=52:54:00:99:0b:01 req={net}.10 prl=1,3"),
                format!("RELEASE mac=52:54:00:99:0b:01 ci={net}.10"),
                "DISCOVER mac=52:54:00:99:0b:02 prl=1,3".to_string(),
                "DISCOVER mac=52:54:00:99:0b:01 prl=1,3".to_string(),
                format!("REQUEST mac=52:54:00:99:0b:03 req={net}.12 prl=1,3"),
                format!("DECLINE mac=52:54:00:99:0b:03 req={net}.12"),
                "DISCOVER mac=52:54:00:99:0b:03 prl=1,3".to_string(),
            ],
        },
        Scenario {
            name: "classes, subclasses and host names",
            conf: format!(
                "use-host-decl-names on;\nclass \"vendor\" {{ match option vendor-class-identifier; }}\nsubclass \"vendor\" \"d-i\" {{ option domain-name \"installer.test\"; }}\nhost named {{ hardware ethernet 52:54:00:99:0c:03; }}\n{}",
                subnet("")
            ),
            packets: vec![
                "DISCOVER mac=52:54:00:99:0c:01 vci=d-i prl=1,3,6,12,15".to_string(),
                "DISCOVER mac=52:54:00:99:0c:02 vci=other prl=1,3,6,12,15".to_string(),
                "DISCOVER mac=52:54:00:99:0c:03 prl=1,12,15".to_string(),
            ],
        },
        Scenario {
            name: "no request list: many options in ISC's hash order",
            conf: subnet(
                "  option ntp-servers 10.1.1.1;\n  option time-offset 3600;\n  option interface-mtu 1400;\n  option broadcast-address 10.199.255.255;\n  option log-servers 10.1.1.2;\n  option netbios-name-servers 10.1.1.3;\n  option tftp-server-name \"tftp.lab\";\n  option bootfile-name \"boot.file\";\n  option domain-search \"lab.test\", \"other.test\";",
            ),
            packets: vec![
                "DISCOVER mac=52:54:00:99:0d:01".to_string(),
                "DISCOVER mac=52:54:00:99:0d:02 prl=66,67,1,3,119,42,2".to_string(),
            ],
        },
        Scenario {
            name: "message size limits and BOOTP's small vendor area",
            conf: format!(
                "{}subnet {relay}.0 netmask 255.255.255.0 {{\n  range dynamic-bootp {relay}.100 {relay}.110;\n  option routers {relay}.1;\n  option domain-name-servers 10.1.1.1, 10.1.1.2, 10.1.1.3;\n  option domain-name \"a-rather-long-domain-name.example.test\";\n  option ntp-servers 10.1.1.4, 10.1.1.5;\n  option nis-domain \"nis.example.test\";\n}}\n",
                subnet(&format!(
                    "  option nis-domain \"{}\";\n  option merit-dump \"{}\";\n  option root-path \"{}\";\n  option extensions-path \"{}\";",
                    "n".repeat(120),
                    "m".repeat(100),
                    "r".repeat(110),
                    "e".repeat(90)
                ))
            ),
            packets: vec![
                "DISCOVER mac=52:54:00:99:0e:01 prl=1,3,6,15,40,14,17,18".to_string(),
                "DISCOVER mac=52:54:00:99:0e:02 mms=1500 prl=1,3,6,15,40,14,17,18".to_string(),
                format!("BOOTP mac=52:54:00:99:0e:03 gi={relay}.1"),
            ],
        },
        Scenario {
            name: "server parameters",
            conf: format!(
                "min-lease-time 900;\ndefault-lease-time 1200;\nmax-lease-time 3600;\necho-client-id true;\nalways-broadcast on;\nserver-name \"boot.lab\";\n{}",
                subnet("  option dhcp-renewal-time 100;\n  option dhcp-rebinding-time 5000;")
            ),
            packets: vec![
                "DISCOVER mac=52:54:00:99:0f:01 cid=01:52:54:00:99:0f:01 prl=1,3,58,59 lt=60".to_string(),
                format!("REQUEST mac=52:54:00:99:0f:01 cid=01:52:54:00:99:0f:01 req={net}.10 prl=1,3,58,59"),
                format!("REQUEST mac=52:54:00:99:0f:02 cid=01:02 req=10.99.0.9 prl=1,3"),
            ],
        },
        Scenario {
            // Names of lease addresses by reverse lookup, from the server namespace's own
            // /etc/hosts ([`EtcForNamespace`]); one configured host name is replaced.
            name: "get-lease-hostnames",
            conf: format!(
                "get-lease-hostnames true;\nclass \"named\" {{\n  match if option vendor-class-identifier = \"named\";\n  option host-name \"configured\";\n}}\n{}",
                subnet("")
            ),
            packets: vec![
                "DISCOVER mac=52:54:00:99:12:01 prl=1,3,12".to_string(),
                "DISCOVER mac=52:54:00:99:12:02".to_string(),
                "DISCOVER mac=52:54:00:99:12:03 prl=1,3,12".to_string(),
                "DISCOVER mac=52:54:00:99:12:04 vci=named prl=1,3,12".to_string(),
                "DISCOVER mac=52:54:00:99:12:05 vci=named prl=1,3,12".to_string(),
            ],
        },
        Scenario {
            // Site-local codes (224 and up) come from the space `site-option-space` names,
            // and a DHCP-space option with such a code is then not sent.
            name: "site option space",
            conf: format!(
                "option space local;\noption local.clock-name code 224 = text;\noption local.boot-mode code 230 = unsigned integer 8;\noption local.rack code 240 = ip-address;\noption dhcp-224 code 224 = text;\noption dhcp-224 \"from the dhcp space\";\noption local.clock-name \"clock.lab\";\noption local.boot-mode 2;\nclass \"racked\" {{\n  match if substring (option vendor-class-identifier, 0, 4) = \"rack\";\n  site-option-space \"local\";\n  option local.rack {net}.7;\n}}\noption space low;\noption low.early code 200 = text;\noption low.late code 231 = unsigned integer 8;\noption dhcp-210 code 210 = text;\noption dhcp-210 \"dhcp 210\";\nclass \"low\" {{\n  match if option vendor-class-identifier = \"low\";\n  site-option-space \"low\";\n  option low.early \"early\";\n  option low.late 7;\n}}\n{}",
                subnet("")
            ),
            packets: vec![
                "DISCOVER mac=52:54:00:99:11:01 vci=rack1 prl=1,3,224,230,240".to_string(),
                "DISCOVER mac=52:54:00:99:11:02 vci=rack2".to_string(),
                "DISCOVER mac=52:54:00:99:11:03 prl=1,3,224,230,240".to_string(),
                "DISCOVER mac=52:54:00:99:11:04".to_string(),
                // A site space declaring a code below 224 moves the cut-off down to it.
                "DISCOVER mac=52:54:00:99:11:05 vci=low prl=1,3,200,210,224,231".to_string(),
                "DISCOVER mac=52:54:00:99:11:06 vci=low".to_string(),
            ],
        },
        Scenario {
            // Through a relay: from a client on the segment, ours ignores option 118 (ISC
            // honours it; see docs/migrate-from-isc-dhcpd.md).
            name: "subnet selection option",
            conf: format!("authoritative;\n{}subnet {relay}.0 netmask 255.255.255.0 {{ range {relay}.10 {relay}.30; option routers {relay}.1; }}\n", subnet("")),
            packets: vec![format!("DISCOVER mac=52:54:00:99:10:01 gi={relay}.1 o118={net}.0 prl=1,3,118")],
        },
    ]
}

/// `/etc/netns/NS/`: `ip netns exec NS` mounts its files over `/etc`, so the servers of the
/// namespace read these `hosts` (names for some of the lab's addresses) and `resolv.conf`
/// (a name server on the namespace's own loopback, where nothing listens: no lookup leaves
/// the namespace). Removed when dropped.
struct EtcForNamespace(std::path::PathBuf);

impl EtcForNamespace {
    fn new(lab: &Lab) -> EtcForNamespace {
        let dir = std::path::Path::new("/etc/netns").join(&lab.srv);
        std::fs::create_dir_all(&dir).unwrap();
        let hosts = format!(
            "127.0.0.1 localhost\n{} alpha.lab.test alpha\n{} beta.lab.test\n{} delta.lab.test\n",
            lab.ip(10),
            lab.ip(11),
            lab.ip(14)
        );
        std::fs::write(dir.join("hosts"), hosts).unwrap();
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        EtcForNamespace(dir)
    }
}

impl Drop for EtcForNamespace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn replies_match_isc_dhcpd() {
    let lab = Lab::new();
    lab.client_addresses();
    let _etc = EtcForNamespace::new(&lab);
    let mut differ = Vec::new();
    let mut pairs = 0;
    for (i, s) in scenarios(&lab).iter().enumerate() {
        let theirs = replies(&lab, &Which::Isc, &s.conf, &s.packets, &format!("isc{i}"));
        let ours = replies(&lab, &Which::Ours, &s.conf, &s.packets, &format!("ours{i}"));
        pairs += s.packets.len();
        // The transcript, for reading (`cargo test … -- --nocapture`).
        println!("[{}]\n{}", s.name, theirs.join("\n"));
        for (t, o) in theirs.iter().zip(&ours) {
            if t != o {
                differ.push(format!("[{}]\nISC:  {t}\nours: {o}", s.name));
            }
        }
    }
    assert!(pairs >= 30, "only {pairs} request/config pairs");
    assert!(
        differ.is_empty(),
        "{} of {pairs} replies differ from ISC:\n{}",
        differ.len(),
        differ.join("\n\n")
    );
}
