//! Tests of the shell: addresses in logs, and each transfer's one log event with its
//! fields, as the JSON log format shows them (what `jq` filters on).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::*;
use crate::inventory::InventoryFiles;
use crate::packet::TftpOption;
use pxe_daemon::logging::capture::Capture;
use std::os::unix::fs::PermissionsExt;
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn mapped_addresses_are_logged_as_ipv4() {
    let a: SocketAddr = "[::ffff:192.0.2.9]:1234".parse().unwrap();
    assert_eq!(display_addr(a).to_string(), "192.0.2.9:1234");
    let b: SocketAddr = "[2001:db8::1]:69".parse().unwrap();
    assert_eq!(display_addr(b), b);
}

/// A root with `pxelinux.0` (1000 bytes), and the render-lab inventory in which web01's
/// fixed address is 127.0.0.1 (the test client's).
fn server(dir: &std::path::Path) -> Arc<Server> {
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    let loader = root.join("pxelinux.0");
    std::fs::write(&loader, vec![7u8; 1000]).unwrap();
    std::fs::set_permissions(&loader, std::fs::Permissions::from_mode(0o644)).unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/inventory/good/render-lab.yaml"
    );
    let text = std::fs::read_to_string(fixture)
        .unwrap()
        .replace("address: 10.77.0.50", "address: 127.0.0.1");
    let path = dir.join("inventory.yaml");
    std::fs::write(&path, text).unwrap();
    let files = InventoryFiles::load(&path, None).unwrap();
    Server::new(Settings {
        roots: Roots::new(&[root], true).unwrap(),
        policy: Policy::default(),
        remap: None,
        limits: Limits::default(),
        max_retries: 2,
        port_range: None,
        max_transfers: 4,
        transfer_threads: 4,
        max_per_client: 4,
        bounds: crate::guard::Bounds::default(),
        busy_poll: Duration::ZERO,
        generator: Some(Arc::new(files)),
    })
}

/// A client that acknowledges every block, or answers the first packet with ERROR `give_up`.
fn client(sock: std::net::UdpSocket, give_up: Option<u16>) -> std::thread::JoinHandle<()> {
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let reply = match (packet::parse(&buf[..n]), give_up) {
                (_, Some(code)) => packet::encode_error(ErrorCode::from_u16(code), "no thanks"),
                (Ok(Packet::Oack(_)), None) => packet::encode_ack(0),
                (Ok(Packet::Data { block, data }), None) => {
                    let last = data.len() < 1024;
                    sock.send_to(&packet::encode_ack(block), from).unwrap();
                    if last {
                        return;
                    }
                    continue;
                }
                _ => return,
            };
            sock.send_to(&reply, from).unwrap();
            if give_up.is_some() {
                return;
            }
        }
    })
}

/// Runs one RRQ of `file` from a client on 127.0.0.1, on a transfer thread or (`on_loop`)
/// as a task of an event loop: its one `transfer` log line, as the JSON log format writes
/// it, and the client's port.
fn logged_transfer(
    server: &Arc<Server>,
    file: &str,
    give_up: Option<u16>,
    on_loop: bool,
) -> (String, u16) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = sock.local_addr().unwrap();
    let ack = client(sock, give_up);
    let option = |name: &str, value: &str| TftpOption {
        name: name.into(),
        value: value.into(),
    };
    let req = Request {
        filename: file.into(),
        mode: Mode::Octet,
        options: vec![
            option("blksize", "1024"),
            option("tsize", "0"),
            option("windowsize", "2"),
            option("timeout", "3"),
        ],
    };
    let lines = Capture::default();
    let subscriber =
        tracing_subscriber::registry().with(pxe_daemon::LogFormat::Json.layer(lines.clone(), true));
    server.active.fetch_add(1, Ordering::Relaxed);
    assert!(server.claim_client(peer.ip().to_canonical()));
    let slot = ActiveSlot(Arc::clone(server), peer.ip().to_canonical());
    tracing::subscriber::with_default(subscriber, || {
        if on_loop {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            if let Some(rest) = server.start_on_loop(req, peer, peer.ip(), slot) {
                rt.block_on(rest);
            }
        } else {
            server.transfer(req, Access::Read, peer, peer.ip(), slot);
        }
    });
    ack.join().unwrap();
    let text = lines.text();
    let transfers: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#""message":"transfer""#))
        .collect();
    assert_eq!(transfers.len(), 1, "{text}");
    (transfers[0].to_owned(), peer.port())
}

/// A file asked for, the ERROR code the client gives up with (if it does), and the fields
/// its log line has and has not.
type Case<'a> = (&'a str, Option<u16>, &'a [&'a str], &'a [&'a str]);

#[test]
fn each_transfer_is_one_json_event_with_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let cases: [Case<'_>; 6] = [
        // A file on disk, asked for from web01's fixed address.
        (
            "pxelinux.0",
            None,
            &[
                r#""level":"INFO""#,
                r#""op":"RRQ""#,
                r#""file":"pxelinux.0""#,
                r#""mode":"octet""#,
                r#""machine":"web01""#,
                r#""bytes":1000,"#,
                r#""blksize":1024,"#,
                r#""windowsize":2,"#,
                r#""tsize":1000,"#,
                r#""timeout":3,"#,
                r#""result":"ok""#,
                r#""duration_ms":"#,
            ],
            &["error_code"],
        ),
        // A boot menu generated for web01, asked for from its address.
        (
            "pxelinux.cfg/01-52-54-00-12-34-56",
            None,
            &[
                r#""file":"pxelinux.cfg/01-52-54-00-12-34-56""#,
                r#""machine":"web01""#,
                r#""result":"ok""#,
            ],
            &["error_code"],
        ),
        // db01's menu, asked for from web01's address: refused, and logged under db01.
        (
            "pxelinux.cfg/01-52-54-00-ab-cd-01",
            Some(0),
            &[
                r#""file":"pxelinux.cfg/01-52-54-00-ab-cd-01""#,
                r#""machine":"db01""#,
                r#""result":"refused: access violation: File is only for its machine's address""#,
                r#""error_code":2,"#,
                r#""bytes":0,"#,
            ],
            &["blksize", "windowsize", "tsize"],
        ),
        // Refused: the code sent, and no options.
        (
            "missing.bin",
            Some(0),
            &[
                r#""file":"missing.bin""#,
                r#""result":"refused: file not found""#,
                r#""error_code":1,"#,
                r#""bytes":0,"#,
            ],
            &["blksize", "windowsize", "tsize", "probe"],
        ),
        // A file shim probes for and boots on without: the miss says so.
        (
            "revocations_sbat.efi",
            Some(0),
            &[
                r#""result":"refused: file not found""#,
                r#""error_code":1,"#,
                r#""probe":"shim: optional revocation or certificate file, boots on without it""#,
            ],
            &["blksize"],
        ),
        // The client gives up after the OACK (OVMF's size probe): its code.
        (
            "pxelinux.0",
            Some(8),
            &[
                r#""result":"client error 8: no thanks""#,
                r#""error_code":8,"#,
                r#""machine":"web01""#,
            ],
            &[],
        ),
    ];
    for ((file, give_up, there, not_there), on_loop) in cases
        .into_iter()
        .flat_map(|case| [(case, false), (case, true)])
    {
        let (line, port) = logged_transfer(&server, file, give_up, on_loop);
        let client = format!(r#""client":"127.0.0.1:{port}""#);
        for field in there.iter().copied().chain([client.as_str()]) {
            assert!(line.contains(field), "{field} in {line}");
        }
        for field in not_there {
            assert!(!line.contains(field), "no {field} in {line}");
        }
    }
}
