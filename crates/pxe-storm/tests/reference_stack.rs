//! pxe-storm against the reference stack, for real: ISC dhcpd, tftpd-hpa and nginx in a
//! network namespace, the storm in another, joined by a veth pair. The storm's namespace
//! holds the pool's addresses (a local route), so that each machine fetches from its own
//! leased address, and ignores pings (ISC's ping check would otherwise find every address
//! taken). Needs root and the Debian packages isc-dhcp-server, tftpd-hpa and nginx-light.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn need(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("{program} is missing: apt-get install {package}");
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Two namespaces: `srv` (s0, 10.91.N.1/24, the servers) and `cli` (c0, 10.91.N.2/24 and
/// the pool 10.91.N.128/25 as local addresses, the storm). Deleted on drop with every
/// process the test started (by PID).
struct Net {
    srv: String,
    cli: String,
    net: u8,
    dir: tempfile::TempDir,
    procs: Vec<Child>,
}

impl Net {
    fn new(tag: &str) -> Net {
        let id = std::process::id() % 100_000;
        let net = 10 + (std::process::id() % 200) as u8;
        let n = Net {
            srv: format!("sts{tag}{id}"),
            cli: format!("stc{tag}{id}"),
            net,
            dir: tempfile::tempdir().unwrap(),
            procs: Vec::new(),
        };
        ip(&["netns", "add", &n.srv]);
        ip(&["netns", "add", &n.cli]);
        let (a, b) = (format!("vs{tag}{id}"), format!("vc{tag}{id}"));
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["link", "set", &a, "netns", &n.srv]);
        ip(&["link", "set", &b, "netns", &n.cli]);
        ip(&["-n", &n.srv, "link", "set", &a, "name", "s0"]);
        ip(&["-n", &n.cli, "link", "set", &b, "name", "c0"]);
        ip(&[
            "-n",
            &n.srv,
            "addr",
            "add",
            &format!("10.91.{net}.1/24"),
            "dev",
            "s0",
        ]);
        ip(&[
            "-n",
            &n.cli,
            "addr",
            "add",
            &format!("10.91.{net}.2/24"),
            "dev",
            "c0",
        ]);
        for (ns, dev) in [(&n.srv, "s0"), (&n.cli, "c0")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "-n",
            &n.cli,
            "route",
            "add",
            "local",
            &format!("10.91.{net}.128/25"),
            "dev",
            "lo",
        ]);
        run(Command::new("ip").args([
            "netns",
            "exec",
            &n.cli,
            "sysctl",
            "-qw",
            "net.ipv4.icmp_echo_ignore_all=1",
        ]));
        n
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn spawn(&mut self, ns: &str, program: &Path, args: &[&str], log: &str) {
        let out = std::fs::File::create(self.path(log)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.procs.push(child);
    }

    /// The reference stack: ISC dhcpd (BIOS gets pxelinux.0, UEFI arch 7/9 grubx64.efi,
    /// iPXE a script URL), tftpd-hpa and nginx serving the same directory.
    fn start_reference_stack(&mut self) {
        let net = self.net;
        let root = self.path("root");
        for (file, size) in [
            ("pxelinux.0", 42_000),
            ("grubx64.efi", 900_000),
            ("vmlinuz", 3_000_000),
            ("pxelinux.cfg/default", 300),
            ("grub/grub.cfg", 300),
            ("script.ipxe", 200),
            ("answers/common.cfg", 4096),
        ] {
            let p = root.join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(p, body).unwrap();
        }
        let conf = format!(
            "option arch code 93 = unsigned integer 16;\n\
             ddns-update-style none;\nauthoritative;\nping-check false;\n\
             default-lease-time 600;\nmax-lease-time 600;\n\
             subnet 10.91.{net}.0 netmask 255.255.255.0 {{\n\
               range 10.91.{net}.130 10.91.{net}.250;\n\
               next-server 10.91.{net}.1;\n\
               if exists user-class and option user-class = \"iPXE\" {{\n\
                 filename \"http://10.91.{net}.1:8088/script.ipxe\";\n\
               }} elsif option arch = 00:07 or option arch = 00:09 {{\n\
                 filename \"grubx64.efi\";\n\
               }} else {{\n\
                 filename \"pxelinux.0\";\n\
               }}\n\
             }}\n"
        );
        std::fs::write(self.path("dhcpd.conf"), conf).unwrap();
        std::fs::write(self.path("dhcpd.leases"), "").unwrap();
        let nginx_conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log {d}/nginx-access.log;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               server {{ listen 10.91.{net}.1:8088; root {r}; }}\n}}\n",
            d = self.dir.path().display(),
            r = root.display()
        );
        std::fs::write(self.path("nginx.conf"), nginx_conf).unwrap();
        let srv = self.srv.clone();
        let (conf, leases, pid) = (
            self.path("dhcpd.conf"),
            self.path("dhcpd.leases"),
            self.path("dhcpd.pid"),
        );
        let dhcpd = need("dhcpd", "isc-dhcp-server");
        self.spawn(
            &srv,
            &dhcpd,
            &[
                "-4",
                "-f",
                "-d",
                "-cf",
                conf.to_str().unwrap(),
                "-lf",
                leases.to_str().unwrap(),
                "-pf",
                pid.to_str().unwrap(),
                "s0",
            ],
            "dhcpd.log",
        );
        let tftpd = need("in.tftpd", "tftpd-hpa");
        let listen = format!("10.91.{net}.1:69");
        self.spawn(
            &srv,
            &tftpd,
            &["-L", "-s", "-a", &listen, root.to_str().unwrap()],
            "tftpd.log",
        );
        let nginx = need("nginx", "nginx-light");
        let nconf = self.path("nginx.conf");
        self.spawn(&srv, &nginx, &["-c", nconf.to_str().unwrap()], "nginx.log");
        // Ready when nginx wrote its pid file and ISC dhcpd says it serves.
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = |n: &Net| {
            n.path("nginx.pid").exists()
                && std::fs::read_to_string(n.path("dhcpd.log"))
                    .is_ok_and(|l| l.contains("Server starting service."))
        };
        while Instant::now() < deadline && !ready(self) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            ready(self),
            "the reference stack did not start:\n{}",
            self.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    fn logs(&self) -> String {
        ["dhcpd.log", "tftpd.log", "nginx.log", "nginx-error.log"]
            .iter()
            .map(|f| {
                format!(
                    "== {f}\n{}",
                    std::fs::read_to_string(self.path(f)).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn storm(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.cli, env!("CARGO_BIN_EXE_pxe-storm")])
            .args(["-i", "c0", "--bind-leased", "--mac-prefix", "02:91:00"])
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = Command::new("kill").arg(p.id().to_string()).status();
            let _ = p.wait();
        }
        for ns in [&self.srv, &self.cli] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn script_args(net: u8) -> Vec<String> {
    vec![
        "--config".into(),
        "bios=pxelinux.cfg/default".into(),
        "--config".into(),
        "uefi=grub/grub.cfg".into(),
        "--config".into(),
        "uefi9=grub/grub.cfg".into(),
        "--kernel".into(),
        "vmlinuz".into(),
        "--answer".into(),
        format!("http://10.91.{net}.1:8088/answers/common.cfg?mac={{mac}}"),
    ]
}

#[test]
fn forty_machines_boot_through_isc_tftpd_hpa_and_nginx() {
    let mut net = Net::new("a");
    net.start_reference_stack();
    let args = script_args(net.net);
    let mut all: Vec<&str> = vec!["-n", "40", "--ramp", "1", "--json"];
    let json = net.path("storm.json");
    all.push(json.to_str().unwrap());
    all.extend(args.iter().map(String::as_str));
    let (ok, out) = net.storm(&all);
    assert!(ok, "storm failed:\n{out}\n{}", net.logs());
    assert!(out.contains("machines 40: 40 finished, 0 failed"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let phases = summary["phases"].as_array().unwrap();
    let names: Vec<&str> = phases
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dhcp", "loader", "config", "kernel", "answer"]);
    // The kernel phase ran for the 32 non-iPXE machines of the default mix and the
    // answer file for all 40; every machine was leased by ISC.
    assert_eq!(phases[0]["done"], 40);
    // The generator lost nothing of what the servers sent (its namespace's counter).
    assert_eq!(summary["own"]["udp_drops"], 0, "{out}");
    assert_eq!(phases[4]["done"], 40);
    let leases = std::fs::read_to_string(net.path("dhcpd.leases")).unwrap();
    assert!(leases.matches("hardware ethernet 02:91:00:").count() >= 40);
    // nginx saw every answer file fetched from the machine's own leased address.
    let access = std::fs::read_to_string(net.path("nginx-access.log")).unwrap();
    let answers: Vec<&str> = access.lines().filter(|l| l.contains("/answers/")).collect();
    assert_eq!(answers.len(), 40, "{access}");
    assert!(
        answers
            .iter()
            .all(|l| l.starts_with(&format!("10.91.{}.", net.net))
                && !l.starts_with(&format!("10.91.{}.2 ", net.net)))
    );
}

#[test]
fn a_missing_file_is_reported_per_machine_and_fails_the_storm() {
    let mut net = Net::new("b");
    net.start_reference_stack();
    let (ok, out) = net.storm(&[
        "-n",
        "6",
        "--mix",
        "bios=1",
        "--config",
        "bios=pxelinux.cfg/{mac_dashes}",
        "--tftp-timeout",
        "1",
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("machines 6: 0 finished, 6 failed"),
        "{out}\n{}",
        net.logs()
    );
    assert!(
        out.contains(
            "failure ×6: config: ERROR 1: File not found (e.g. tftp pxelinux.cfg/01-02-91-00-"
        ),
        "{out}"
    );
}
