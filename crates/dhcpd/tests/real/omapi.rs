//! OMAPI (issue 15 parts 1 and 4) with the real clients: omshell running the command
//! sequences Foreman's smart-proxy issues (add a host with statements, a duplicate add, an
//! add reusing a MAC under another name, lookups, delete, delete of an unknown host, lease
//! lookups), an unsigned request and a wrong key, against ISC dhcpd and against ours, the
//! outputs compared with handles masked and the lease files' host records compared; then a
//! host added over OMAPI boots ISC's dhclient with its fixed address and file name, and it
//! and its deletion survive reloads and restarts; pypureomapi's calls get what ISC gives. Hostile clients: an oversized message and a pile of
//! connections from one address do not keep omshell out.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::side_by_side::{Which, start};
use crate::support::{Lab, in_netns, need, run, wait_for};

pub(crate) const WAIT: Duration = Duration::from_secs(30);
/// The key of the tests' dhcpd.conf (`secretsecret`), as Foreman's installer writes it.
pub(crate) const SECRET: &str = "c2VjcmV0c2VjcmV0";

pub(crate) fn conf(lab: &Lab) -> String {
    format!(
        "key omapi_key {{ algorithm HMAC-MD5; secret \"{SECRET}\"; }}
omapi-port 7911;
omapi-key omapi_key;
authoritative;
default-lease-time 600;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {lo} {hi}; }}
",
        n = lab.net,
        lo = lab.ip(10),
        hi = lab.ip(50),
    )
}

/// omshell in the server's namespace against 127.0.0.1:7911: the key (when given), connect,
/// then `body`. Its whole output.
pub(crate) fn omshell(lab: &Lab, secret: Option<&str>, body: &str) -> String {
    let omshell = need("omshell", "isc-dhcp-server");
    let mut script = String::new();
    if let Some(s) = secret {
        script.push_str(&format!("key omapi_key {s}\n"));
    }
    script.push_str("server 127.0.0.1\nport 7911\nconnect\n");
    script.push_str(body);
    script.push('\n');
    let timeout = need("timeout", "coreutils");
    let mut child = lab
        .cmd(&lab.srv, &timeout)
        .arg("20")
        .arg(&omshell)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(124), "omshell hung:\n{script}");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Handles differ between servers (they number objects as they meet them): masked.
pub(crate) fn mask(out: &str) -> String {
    out.lines()
        .map(|l| {
            for name in ["subnet = ", "pool = ", "host = "] {
                if let Some(i) = l.find(name) {
                    return format!("{}{name}<handle>", &l[..i]);
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The host records of a lease file, their statement lines left out (ISC prints statements
/// in its parsed form; ours keeps them as sent).
fn host_records(leases: &Path) -> Vec<String> {
    records(leases, "host ")
}

/// The records of a lease file that start with `keyword` (`host `, `group `), their
/// statement lines left out.
pub(crate) fn records(leases: &Path, keyword: &str) -> Vec<String> {
    let text = std::fs::read_to_string(leases).unwrap();
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for l in text.lines() {
        if l.starts_with(keyword) {
            cur = Some(String::new());
        }
        if let Some(c) = &mut cur {
            if !l.starts_with("        ") {
                c.push_str(l);
                c.push('\n');
            }
            if l == "}" {
                out.push(std::mem::take(c));
                cur = None;
            }
        }
    }
    out
}

/// Foreman's smart-proxy sequences (and MAAS's lookups), in order, with what each must
/// show (so that two servers failing alike do not pass).
fn sequences(lab: &Lab) -> Vec<(&'static str, Option<&'static str>, String, &'static str)> {
    let add = |name: &str, ip: u8, mac: &str| {
        format!(
            "new host\nset name = \"{name}\"\nset ip-address = {}\nset hardware-address = {mac}\n\
             set hardware-type = 1\n\
             set statements = \"filename = \\\"pxelinux.0\\\"; next-server = 0a:c7:{:02x}:01; option host-name = \\\"{name}\\\";\"\n\
             create",
            lab.ip(ip),
            lab.net,
        )
    };
    vec![
        (
            "add",
            Some(SECRET),
            add("web1.example.com", 77, "52:54:00:15:00:01"),
            "hardware-type = 00:00:00:01",
        ),
        (
            "duplicate add",
            Some(SECRET),
            add("web1.example.com", 78, "52:54:00:15:00:02"),
            "can't open object: already exists",
        ),
        (
            "MAC reused under another name",
            Some(SECRET),
            add("web2.example.com", 79, "52:54:00:15:00:01"),
            "can't open object: key conflict",
        ),
        (
            "lookup by MAC",
            Some(SECRET),
            "new host\nset hardware-address = 52:54:00:15:00:01\nopen".into(),
            "name = \"web1.example.com\"",
        ),
        (
            "lookup by name",
            Some(SECRET),
            "new host\nset name = \"web1.example.com\"\nopen".into(),
            "hardware-address = 52:54:00:15:00:01",
        ),
        (
            "unsigned",
            None,
            "new host\nset name = \"web1.example.com\"\nopen".into(),
            "can't open object: no key specified",
        ),
        (
            "wrong key",
            Some("d3JvbmdrZXk="),
            "new host\nset name = \"web1.example.com\"\nopen".into(),
            "can't open object: connection reset by peer",
        ),
        (
            "free lease by address",
            Some(SECRET),
            format!("new lease\nset ip-address = {}\nopen", lab.ip(20)),
            "state = 00:00:00:01",
        ),
        (
            "lease outside every range",
            Some(SECRET),
            format!("new lease\nset ip-address = {}\nopen", lab.ip(200)),
            "can't open object: not found",
        ),
        (
            "lease by unknown MAC",
            Some(SECRET),
            "new lease\nset hardware-address = 52:54:00:15:00:09\nopen".into(),
            "can't open object: not found",
        ),
        (
            "delete",
            Some(SECRET),
            "new host\nset hardware-address = 52:54:00:15:00:01\nopen\nremove".into(),
            "obj: <null>\n> ",
        ),
        (
            "delete unknown",
            Some(SECRET),
            "new host\nset hardware-address = 52:54:00:15:00:01\nopen\nremove".into(),
            "can't destroy object: not found",
        ),
    ]
}

#[test]
fn r15_omshell_foreman_sequences_answer_as_isc_dhcpd() {
    let isc_lab = Lab::new();
    let ours_lab = Lab::new();
    let _isc = start(&isc_lab, &Which::Isc, &conf(&isc_lab));
    let ours = start(&ours_lab, &Which::Ours, &conf(&ours_lab));
    let isc_seq = sequences(&isc_lab);
    let ours_seq = sequences(&ours_lab);
    let mut compared = 0;
    for ((what, secret, body, must), (_, _, ours_body, _)) in isc_seq.iter().zip(&ours_seq) {
        let theirs = mask(&omshell(&isc_lab, *secret, body));
        // Both labs' addresses differ in one octet: compare with ISC's lab's numbers.
        let mine = mask(&omshell(&ours_lab, *secret, ours_body));
        let mine = mine.replace(
            &format!("0a:c7:{:02x}:", ours_lab.net),
            &format!("0a:c7:{:02x}:", isc_lab.net),
        );
        assert!(theirs.contains(must), "{what}: ISC said\n{theirs}");
        assert_eq!(mine, theirs, "{what}: ours vs ISC\n{}", ours.log());
        compared += 1;
    }
    assert_eq!(compared, 12);
    let records = |lab: &Lab| {
        host_records(&lab.path("dhcpd.leases"))
            .join("")
            .replace(&lab.ip(77).to_string(), "<fixed>")
    };
    let theirs = records(&isc_lab);
    assert!(theirs.contains("deleted;"), "{theirs}");
    assert_eq!(records(&ours_lab), theirs);
}

/// dhclient's files: a script that writes what it was given.
pub(crate) fn dhclient_run(lab: &Lab) -> String {
    let dhclient = need("dhclient", "isc-dhcp-client");
    let seen = lab.path("seen.txt");
    let script = lab.path("dhclient-script.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase $reason in BOUND|RENEW|REBOOT) echo \"$new_ip_address $new_filename\" > {} ;; esac\nexit 0\n",
            seen.display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("755").arg(&script));
    std::fs::write(lab.path("dhclient.leases"), "").unwrap();
    let _ = std::fs::remove_file(&seen);
    let mut args: Vec<String> = vec!["-1".into(), "-v".into()];
    for (flag, name) in [
        ("-lf", "dhclient.leases"),
        ("-pf", "dhclient.pid"),
        ("-sf", "dhclient-script.sh"),
    ] {
        args.push(flag.into());
        args.push(lab.path(name).display().to_string());
    }
    args.push("c0".into());
    let out = lab.cmd(&lab.cli, &dhclient).args(&args).output().unwrap();
    // dhclient -1 leaves a daemon behind once bound: stop it by its PID file.
    let pid = || std::fs::read_to_string(lab.path("dhclient.pid")).unwrap_or_default();
    if wait_for(Duration::from_secs(5), || !pid().trim().is_empty()) {
        let _ = Command::new("kill").arg(pid().trim()).status();
    }
    std::fs::read_to_string(&seen).unwrap_or_else(|_| {
        panic!(
            "dhclient bound nothing:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn r15_an_omapi_host_boots_dhclient_and_outlives_reloads_and_restarts() {
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:15:00:01");
    let conf = conf(&lab);
    let mut server = lab.start_ours(&conf, &[]);
    let add = format!(
        "new host\nset name = \"web1\"\nset ip-address = {}\nset hardware-address = 52:54:00:15:00:01\n\
         set hardware-type = 1\nset statements = \"filename = \\\"pxelinux.0\\\";\"\ncreate",
        lab.ip(77)
    );
    let out = omshell(&lab, Some(SECRET), &add);
    assert!(out.contains("hardware-type = 00:00:00:01"), "{out}");
    // At once, without a reload.
    let want = format!("{} pxelinux.0\n", lab.ip(77));
    assert_eq!(dhclient_run(&lab), want, "{}", server.log());
    // A reload of dhcpd.conf keeps it.
    server.signal("HUP");
    assert!(
        server.wait_log("configuration reloaded", WAIT),
        "{}",
        server.log()
    );
    assert_eq!(dhclient_run(&lab), want, "{}", server.log());
    // A restart reads the host back from dhcpd.leases.
    server.signal("TERM");
    assert_eq!(server.wait_exit(WAIT), Some(0), "{}", server.log());
    let mut server = lab.start_ours(&conf, &[]);
    assert_eq!(dhclient_run(&lab), want, "{}", server.log());
    let out = omshell(
        &lab,
        Some(SECRET),
        "new host\nset name = \"web1\"\nopen\nremove",
    );
    assert!(out.ends_with("obj: <null>\n> "), "{out}");
    // Deleted: the client now gets an address of the range, without a file name; also
    // after a restart.
    server.signal("TERM");
    assert_eq!(server.wait_exit(WAIT), Some(0), "{}", server.log());
    let server = lab.start_ours(&conf, &[]);
    let got = dhclient_run(&lab);
    assert_eq!(got, format!("{} \n", lab.ip(10)), "{}", server.log());
    let out = omshell(&lab, Some(SECRET), "new host\nset name = \"web1\"\nopen");
    assert!(out.contains("can't open object: not found"), "{out}");
}

/// A raw OMAPI client: connect from `ns` to the server and exchange startups.
fn raw_client(ns: &str, server: Ipv4Addr) -> TcpStream {
    in_netns(ns, || {
        let mut s = TcpStream::connect(SocketAddrV4::new(server, 7911)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.write_all(&[0, 0, 0, 100, 0, 0, 0, 24]).unwrap();
        let mut intro = [0u8; 8];
        s.read_exact(&mut intro).unwrap();
        assert_eq!(intro, [0, 0, 0, 100, 0, 0, 0, 24]);
        s
    })
}

#[test]
fn r15_an_oversized_message_is_cut_off_and_others_are_served() {
    let lab = Lab::new();
    lab.client_addresses();
    let server = lab.start_ours(&conf(&lab), &[]);
    let mut s = raw_client(&lab.cli, lab.ip(1));
    // A header, then a name whose value claims 16 MiB.
    let mut m = vec![0u8; 24];
    m[11] = 1;
    m.extend_from_slice(&4u16.to_be_bytes());
    m.extend_from_slice(b"type");
    m.extend_from_slice(&(16u32 << 20).to_be_bytes());
    s.write_all(&m).unwrap();
    let mut rest = Vec::new();
    // The server closes the connection on the length alone: well before its 30 s bound on
    // a message's arrival, which is what would close it if it waited for the value.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n = s.read_to_end(&mut rest).unwrap();
    assert_eq!(n, 0, "{rest:?}");
    let out = omshell(&lab, Some(SECRET), "new host\nset name = \"nobody\"\nopen");
    assert!(
        out.contains("can't open object: not found"),
        "{out}\n{}",
        server.log()
    );
}

#[test]
fn r15_a_pile_of_connections_from_one_address_does_not_keep_omshell_out() {
    let lab = Lab::new();
    lab.client_addresses();
    let server = lab.start_ours(&conf(&lab), &[]);
    // 40 idle connections from the client's address: the server keeps 16 of them.
    let kept: Vec<TcpStream> = in_netns(&lab.cli, || {
        (0..40)
            .filter_map(|_| {
                let mut s = TcpStream::connect(SocketAddrV4::new(lab.ip(1), 7911)).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                let mut intro = [0u8; 8];
                s.read_exact(&mut intro).ok()?;
                Some(s)
            })
            .collect()
    });
    assert_eq!(kept.len(), 16, "{}", server.log());
    assert!(
        wait_for(WAIT, || server.log().contains("too many connections")),
        "{}",
        server.log()
    );
    // omshell, from another address (the server's own loopback), is served.
    let out = omshell(&lab, Some(SECRET), "new host\nset name = \"nobody\"\nopen");
    assert!(out.contains("can't open object: not found"), "{out}");
    drop(kept);
}

/// pypureomapi's calls (as MAAS-era tools make them) against a server in `lab`: its output.
fn pypureomapi_calls(lab: &Lab) -> String {
    let python = need("python3", "python3");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/omapi/pypureomapi_calls.py");
    let out = lab
        .cmd(&lab.srv, &python)
        .arg(&script)
        .args(["127.0.0.1", "7911", "omapi_key", SECRET])
        .args([lab.ip(60), lab.ip(61), lab.ip(62), lab.ip(20)].map(|ip| ip.to_string()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pypureomapi (apt-get install python3-pypureomapi): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn r15_pypureomapi_adds_looks_up_and_deletes_as_with_isc_dhcpd() {
    let isc_lab = Lab::new();
    let ours_lab = Lab::new();
    let _isc = start(&isc_lab, &Which::Isc, &conf(&isc_lab));
    let ours = start(&ours_lab, &Which::Ours, &conf(&ours_lab));
    let theirs = pypureomapi_calls(&isc_lab).replace(&format!("10.199.{}.", isc_lab.net), "NET.");
    let mine = pypureomapi_calls(&ours_lab).replace(&format!("10.199.{}.", ours_lab.net), "NET.");
    for must in [
        "add_host: None",
        "add_host again: OmapiError add failed",
        "add_host of a second unnamed host: None",
        "lookup_ip_host: 'NET.60'",
        "del_host again: OmapiErrorNotFound",
        "wrong key: OmapiError received message is signed with wrong authenticator",
    ] {
        assert!(theirs.contains(must), "ISC said:\n{theirs}");
    }
    assert_eq!(mine, theirs, "{}", ours.log());
}

#[test]
fn r15_an_omapi_port_without_a_key_is_warned_about_and_serves_unsigned() {
    let lab = Lab::new();
    let unkeyed = conf(&lab).replace("omapi-key omapi_key;\n", "");
    let server = lab.start_ours(&unkeyed, &[]);
    assert!(
        server.log().contains(
            "OMAPI listens on 0.0.0.0:7911 without omapi-key: anyone who can reach this port can add and delete hosts"
        ),
        "{}",
        server.log()
    );
    let out = omshell(&lab, None, "new host\nset name = \"nobody\"\nopen");
    assert!(out.contains("can't open object: not found"), "{out}");
}

/// Start ISC's dhcpd in `lab` on the lease file as it stands.
pub(crate) fn start_isc_keeping_leases(lab: &Lab, conf: &str) -> crate::support::Proc {
    std::fs::write(lab.path("dhcpd.conf"), conf).unwrap();
    let isc = need("dhcpd", "isc-dhcp-server");
    let (cf, lf, pf) = (
        lab.path("dhcpd.conf").display().to_string(),
        lab.path("dhcpd.leases").display().to_string(),
        lab.path("isc.pid").display().to_string(),
    );
    let argv = ["-f", "-d", "-4", "-cf", &cf, "-lf", &lf, "-pf", &pf, "s0"];
    let p = lab.spawn(&lab.srv, &isc, &argv, "isc.log");
    assert!(
        p.wait_log("Server starting service.", WAIT),
        "ISC dhcpd did not start:\n{}",
        p.log()
    );
    p
}

#[test]
fn r15_host_records_pass_between_ours_and_isc_dhcpd() {
    let lab = Lab::new();
    let conf = conf(&lab);
    let lookup = |name: &str| {
        omshell(
            &lab,
            Some(SECRET),
            &format!("new host\nset name = \"{name}\"\nopen"),
        )
    };
    let add = |name: &str, mac: &str, ip: u8| {
        format!(
            "new host\nset name = \"{name}\"\nset ip-address = {}\nset hardware-address = {mac}\n\
             set statements = \"filename = \\\"pxelinux.0\\\";\"\ncreate",
            lab.ip(ip)
        )
    };
    // Ours writes a host; ISC, started on the same file (switching back), serves it.
    let mut ours = lab.start_ours(&conf, &[]);
    assert!(
        omshell(&lab, Some(SECRET), &add("ours1", "52:54:00:17:00:01", 81))
            .contains("hardware-type")
    );
    ours.signal("TERM");
    assert_eq!(ours.wait_exit(WAIT), Some(0), "{}", ours.log());
    let mut isc = start_isc_keeping_leases(&lab, &conf);
    let seen = lookup("ours1");
    assert!(
        seen.contains("hardware-address = 52:54:00:17:00:01"),
        "{seen}\n{}",
        isc.log()
    );
    // ISC writes one (in its own statement form) and deletes ours; ours reads both.
    assert!(
        omshell(&lab, Some(SECRET), &add("isc1", "52:54:00:17:00:02", 82))
            .contains("hardware-type")
    );
    let gone = omshell(
        &lab,
        Some(SECRET),
        "new host\nset name = \"ours1\"\nopen\nremove",
    );
    assert!(gone.ends_with("obj: <null>\n> "), "{gone}");
    isc.signal("TERM");
    assert!(isc.wait_exit(WAIT).is_some());
    let leases = std::fs::read_to_string(lab.path("dhcpd.leases")).unwrap();
    assert!(
        leases.contains("supersede server.filename = \"pxelinux.0\";"),
        "{leases}"
    );
    let ours = lab.start_ours(&conf, &[]);
    let seen = lookup("isc1");
    assert!(
        seen.contains("hardware-address = 52:54:00:17:00:02"),
        "{seen}\n{}",
        ours.log()
    );
    assert!(lookup("ours1").contains("can't open object: not found"));
    assert!(!ours.log().contains("host record"), "{}", ours.log());
}

/// One DORA from the client namespace with busybox udhcpc (client identifier 01:MAC).
fn take_a_lease(lab: &Lab) {
    let busybox = need("busybox", "busybox");
    let out = lab
        .cmd(&lab.cli, &busybox)
        .args([
            "udhcpc",
            "-q",
            "-f",
            "-n",
            "-t",
            "5",
            "-T",
            "2",
            "-i",
            "c0",
            "-s",
            "/bin/true",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// omshell's output with the times of the DORA (which differ between the labs) masked.
fn mask_times(out: &str) -> String {
    mask(out)
        .lines()
        .map(|l| {
            for name in ["starts = ", "cltt = ", "tstp = ", "ends = "] {
                if l.starts_with(name) && !l.ends_with("7f:00:00:00") {
                    return format!("{name}<time>");
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn r15_lease_state_and_end_changed_over_omapi_as_isc_dhcpd_does() {
    let labs = [Lab::new(), Lab::new()];
    for lab in &labs {
        lab.set_client_mac("52:54:00:15:00:20");
    }
    let mut servers = vec![
        start(&labs[0], &Which::Isc, &conf(&labs[0])),
        start(&labs[1], &Which::Ours, &conf(&labs[1])),
    ];
    let open = |lab: &Lab| format!("new lease\nset ip-address = {}\nopen", lab.ip(10));
    let steps = |lab: &Lab| {
        vec![
            format!("{}\nset ends = 7f:00:00:00\nupdate", open(lab)),
            format!("{}\nset state = 00:00:00:04\nupdate", open(lab)),
            format!("{}\nset state = 00:00:00:09\nupdate", open(lab)),
            format!("{}\nset client-hostname = \"renamed\"\nupdate", open(lab)),
            open(lab),
        ]
    };
    let mut outputs: Vec<Vec<String>> = Vec::new();
    for lab in &labs {
        take_a_lease(lab);
        let theirs_net = format!("0a:c7:{:02x}:", labs[0].net);
        let net = format!("0a:c7:{:02x}:", lab.net);
        outputs.push(
            steps(lab)
                .iter()
                .map(|body| {
                    mask_times(&omshell(lab, Some(SECRET), body)).replace(&net, &theirs_net)
                })
                .collect(),
        );
    }
    assert!(
        outputs[0][0].contains("ends = 7f:00:00:00"),
        "{}",
        outputs[0][0]
    );
    assert!(
        outputs[0][1].contains("state = 00:00:00:04"),
        "{}",
        outputs[0][1]
    );
    assert!(
        outputs[0][2].contains("can't update object: invalid argument"),
        "{}",
        outputs[0][2]
    );
    for (i, (theirs, ours)) in outputs[0].iter().zip(&outputs[1]).enumerate() {
        assert_eq!(ours, theirs, "step {i}: ours vs ISC\n{}", servers[1].log());
    }
    for (lab, server) in labs.iter().zip(&servers) {
        let log = server.log();
        for line in [
            format!("lease {} end changed from ", lab.ip(10)),
            // The new end re-committed the active lease as free first (as ISC does).
            format!("lease {} state changed from free to released", lab.ip(10)),
        ] {
            assert!(log.contains(&line), "{line} not in\n{log}");
        }
    }
    // Ours wrote the change before answering: it is there after a restart.
    let ours = servers.pop().unwrap();
    ours.signal("TERM");
    drop(ours);
    let restarted = labs[1].start_ours(&conf(&labs[1]), &[]);
    let after = omshell(&labs[1], Some(SECRET), &open(&labs[1]));
    assert!(
        after.contains("state = 00:00:00:04") && after.contains("ends = 7f:00:00:00"),
        "{after}\n{}",
        restarted.log()
    );
}

#[test]
fn r15_control_shuts_the_server_down_and_failover_state_is_not_found_as_with_isc_dhcpd() {
    let labs = [Lab::new(), Lab::new()];
    let mut servers = [
        start(&labs[0], &Which::Isc, &conf(&labs[0])),
        start(&labs[1], &Which::Ours, &conf(&labs[1])),
    ];
    let steps = [
        "new failover-state\nset name = \"peer\"\nopen",
        "new control\nopen",
        "new control\nopen\nset state = 00:00:00:02\nupdate",
    ];
    let mut outputs: Vec<Vec<String>> = Vec::new();
    for lab in &labs {
        outputs.push(
            steps
                .iter()
                .map(|b| omshell(lab, Some(SECRET), b))
                .collect(),
        );
    }
    assert!(
        outputs[0][0].contains("can't open object: not found"),
        "{}",
        outputs[0][0]
    );
    assert!(
        outputs[0][2].contains("state = 00:00:00:02"),
        "{}",
        outputs[0][2]
    );
    for (i, (theirs, ours)) in outputs[0].iter().zip(&outputs[1]).enumerate() {
        assert_eq!(ours, theirs, "step {i}: ours vs ISC\n{}", servers[1].log());
    }
    for (name, server) in ["ISC", "ours"].iter().zip(servers.iter_mut()) {
        let code = server.wait_exit(WAIT);
        assert_eq!(code, Some(0), "{name} did not stop:\n{}", server.log());
    }
    assert!(
        servers[1].log().contains("OMAPI: shutdown requested"),
        "{}",
        servers[1].log()
    );
}
