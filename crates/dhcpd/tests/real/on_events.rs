//! `on commit` / `on release` / `on expiry` with `execute()` (issue 15 part 2), as MAAS uses
//! them: ISC's dhclient gets a lease and the commit hook sees its address and MAC;
//! `dhclient -r` runs the release hook; a hook that outlives its timeout is killed and logged
//! while another client is served; side by side with ISC dhcpd, the same requests give the
//! hooks the same arguments and the same exit-status lines, and a lease that runs out runs
//! the same expiry hook.

use std::path::Path;
use std::time::Duration;

use crate::support::{Lab, need, run, wait_for};

const WAIT: Duration = Duration::from_secs(30);

/// A shell script at `path` running `body`, executable.
fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    run(std::process::Command::new("chmod").arg("755").arg(path));
}

/// The lab's subnet with MAAS's way of notifying: the event, the address and the MAC.
fn notify_conf(lab: &Lab, hook: &Path) -> String {
    let hook = hook.display();
    format!(
        "authoritative;
default-lease-time 600;
max-lease-time 600;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {lo} {hi}; }}
on commit {{
  set clhw = binary-to-ascii (16, 8, \":\", substring (hardware, 1, 6));
  set clip = binary-to-ascii (10, 8, \".\", leased-address);
  set cllt = binary-to-ascii (10, 32, \"\", encode-int (lease-time, 32));
  execute (\"{hook}\", \"commit\", clip, clhw, cllt);
}}
on release {{
  set clhw = binary-to-ascii (16, 8, \":\", substring (hardware, 1, 6));
  set clip = binary-to-ascii (10, 8, \".\", leased-address);
  execute (\"{hook}\", \"release\", clip, clhw);
}}
",
        n = lab.net,
        lo = lab.ip(10),
        hi = lab.ip(50),
    )
}

/// dhclient's arguments with its files in the lab (`extra` first, the interface last).
fn dhclient_args(lab: &Lab, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    for (flag, name) in [
        ("-cf", "dhclient.conf"),
        ("-lf", "dhclient.leases"),
        ("-pf", "dhclient.pid"),
        ("-sf", "dhclient-script.sh"),
    ] {
        v.push(flag.into());
        v.push(lab.path(name).display().to_string());
    }
    v.push("c0".into());
    v
}

/// dhclient's files: a script that configures the address it gets (so its release can be
/// unicast from it), an empty lease file, a configuration.
fn dhclient_files(lab: &Lab) {
    script(
        &lab.path("dhclient-script.sh"),
        "case $reason in\n\
         BOUND|RENEW|REBIND|REBOOT) ip addr replace $new_ip_address/$new_subnet_mask dev $interface ;;\n\
         EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev $interface ;;\n\
         esac\nexit 0",
    );
    std::fs::write(lab.path("dhclient.leases"), "").unwrap();
    std::fs::write(lab.path("dhclient.conf"), "request subnet-mask;\n").unwrap();
}

#[test]
fn r15_commit_and_release_run_their_programs_for_dhclient_across_a_restart() {
    let dhclient = need("dhclient", "isc-dhcp-client");
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:42:00:05");
    let hook = lab.path("hook.sh");
    let calls = lab.path("calls.txt");
    script(&hook, &format!("echo \"$@\" >> {}", calls.display()));
    let server = lab.start_ours(&notify_conf(&lab, &hook), &[]);
    dhclient_files(&lab);
    let a = dhclient_args(&lab, &["-d", "-v"]);
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let client = lab.spawn(&lab.cli, &dhclient, &argv, "dhclient.log");
    let read = || std::fs::read_to_string(&calls).unwrap_or_default();
    // binary-to-ascii writes no leading zeros: ISC's `52:54:0:42:0:5`.
    let commit = format!("commit {} 52:54:0:42:0:5 600", lab.ip(10));
    assert!(
        wait_for(WAIT, || read().contains(&commit)),
        "no commit hook: {:?}\ndhclient:\n{}\nserver:\n{}",
        read(),
        client.log(),
        server.log()
    );
    // The lease was on disk before the hook ran, with its release statements.
    let table = lab.leases();
    let on_disk = table.get(lab.ip(10)).expect("lease on disk");
    assert_eq!(on_disk.stored_on().len(), 1, "{on_disk:?}");
    // dhclient -r releases only what dhclient wrote to its lease file, which it does after
    // the ACK (and its script): stopped before that, there is nothing to release (a CI
    // flake under load).
    let client_leases = lab.path("dhclient.leases");
    let written = format!("fixed-address {};", lab.ip(10));
    assert!(
        wait_for(WAIT, || std::fs::read_to_string(&client_leases)
            .unwrap_or_default()
            .contains(&written)),
        "dhclient never wrote its lease:\n{}",
        client.log()
    );
    drop(client);
    // A restart: the release statements come back from the lease file.
    let mut server = server;
    server.signal("TERM");
    assert_eq!(server.wait_exit(WAIT), Some(0), "{}", server.log());
    let server = lab.start_ours(&notify_conf(&lab, &hook), &[]);
    let a = dhclient_args(&lab, &["-r", "-v"]);
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = lab.cmd(&lab.cli, &dhclient).args(&argv).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let release = format!("release {} 52:54:0:42:0:5", lab.ip(10));
    assert!(
        wait_for(WAIT, || read().contains(&release)),
        "no release hook: {:?}\nserver:\n{}",
        read(),
        server.log()
    );
    assert!(!server.log().contains("exit status"), "{}", server.log());
}

#[test]
fn r15_a_hook_past_its_timeout_is_killed_while_another_client_is_served() {
    let busybox = need("busybox", "busybox");
    let mut lab = Lab::new();
    let second = lab.add_link();
    let hook = lab.path("slow.sh");
    let marks = lab.path("marks.txt");
    script(
        &hook,
        &format!(
            "echo \"start $1 pid $$\" >> {m}\necho \"hook output for $1\"\nsleep 60\necho \"end $1\" >> {m}",
            m = marks.display()
        ),
    );
    let conf = format!(
        "authoritative;
dhcp-cache-threshold 0;
option space pxe-suite;
option pxe-suite.execute-timeout code 3 = unsigned integer 32;
option pxe-suite.execute-timeout 15;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {lo} {hi}; }}
subnet 10.201.{n}.0 netmask 255.255.255.0 {{ range 10.201.{n}.10 10.201.{n}.20; }}
on commit {{
  execute (\"{hook}\", binary-to-ascii (10, 8, \".\", leased-address));
}}
",
        n = lab.net,
        lo = lab.ip(10),
        hi = lab.ip(20),
        hook = hook.display(),
    );
    let server = lab.start_ours(&conf, &["--all-interfaces"]);
    let report = lab.path("udhcpc.sh");
    script(&report, "echo \"$1 ip=$ip\"\nexit 0");
    // One DORA; true when the client was bound (udhcpc -n exits 0 even when it was not).
    let udhcpc = |ns: &str| {
        let out = lab
            .cmd(ns, &busybox)
            .args([
                "udhcpc", "-q", "-f", "-n", "-t", "3", "-T", "2", "-i", "c0", "-s",
            ])
            .arg(&report)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("bound ip=")
    };
    let read = || std::fs::read_to_string(&marks).unwrap_or_default();
    assert!(udhcpc(&lab.cli), "first client: {}", server.log());
    let first = format!("start {}", lab.ip(10));
    assert!(
        wait_for(WAIT, || read().contains(&first)),
        "{:?}\n{}",
        read(),
        server.log()
    );
    // The first hook sleeps (15 s before it is killed); the second client, who gives up
    // after three tries two seconds apart, is answered meanwhile. (No cache threshold: a
    // retransmitted REQUEST is answered only through the committer, never from the table.)
    let pid = read()
        .split_whitespace()
        .skip_while(|w| *w != "pid")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    assert!(udhcpc(&second), "second client: {}", server.log());
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the first hook (pid {pid:?}) ended before the second client was answered:\n{}",
        server.log()
    );
    let killed = format!(
        "execute: {} (on commit for lease {}) still running after 15 s: killed",
        hook.display(),
        lab.ip(10)
    );
    assert!(
        server.wait_log(&killed, WAIT),
        "no timeout line:\n{}",
        server.log()
    );
    assert!(
        server.wait_log(&format!("execute: {} exit status 9", hook.display()), WAIT),
        "{}",
        server.log()
    );
    assert!(
        server.log().contains(&format!(
            "execute: {}: hook output for {}",
            hook.display(),
            lab.ip(10)
        )),
        "its output is logged: {}",
        server.log()
    );
    // The second client's hook ran after the first was killed; neither reached its end.
    let second_mark = format!("start 10.201.{}.10", lab.net);
    assert!(
        wait_for(WAIT, || read().contains(&second_mark)),
        "{:?}\n{}",
        read(),
        server.log()
    );
    assert!(!read().contains("end "), "{:?}", read());
}

#[test]
fn r15_hooks_get_the_arguments_and_statuses_isc_gives_them() {
    use crate::side_by_side::{Which, replies};
    let lab = Lab::new();
    lab.client_addresses();
    let hook = lab.path("hook.sh");
    let calls = lab.path("calls.txt");
    script(&hook, &format!("echo \"$@\" >> {}", calls.display()));
    let fail = lab.path("fail.sh");
    script(&fail, "exit 3");
    let net = format!("10.199.{}", lab.net);
    let (hook, fail, missing) = (
        hook.display(),
        fail.display(),
        lab.path("missing.sh").display().to_string(),
    );
    let conf = format!(
        "authoritative;
default-lease-time 600;
max-lease-time 600;
subnet {net}.0 netmask 255.255.255.0 {{ range {net}.10 {net}.30; }}
on commit {{
  set clhw = binary-to-ascii (16, 8, \":\", substring (hardware, 1, 6));
  set clip = binary-to-ascii (10, 8, \".\", leased-address);
  set cllt = binary-to-ascii (10, 32, \"\", encode-int (lease-time, 32));
  set clht = pick-first-value (option agent.remote-id, option host-name, \"\");
  execute (\"{hook}\", \"commit\", clip, clhw, cllt, clht, 61:62:00:63, \"\");
  execute (\"{hook}\", \"never\", option domain-name);
  execute (\"{fail}\", \"x\");
  execute (\"{missing}\");
}}
on release {{
  execute (\"{hook}\", \"release\", binary-to-ascii (10, 8, \".\", leased-address),
           binary-to-ascii (16, 8, \":\", substring (hardware, 1, 6)));
}}
on expiry {{
  execute (\"{hook}\", \"expiry\", binary-to-ascii (10, 8, \".\", leased-address),
           binary-to-ascii (16, 8, \":\", substring (hardware, 1, 6)));
}}
"
    );
    let packets = [
        "DISCOVER mac=52:54:00:99:15:01 host=node1".to_string(),
        format!("REQUEST mac=52:54:00:99:15:01 req={net}.10 host=node1"),
        format!("REQUEST mac=52:54:00:99:15:02 req={net}.11"),
        format!("RELEASE mac=52:54:00:99:15:01 ci={net}.10"),
        // An abandoned lease leaves `active`: its expiry handler runs, without a MAC.
        format!("DECLINE mac=52:54:00:99:15:02 req={net}.11"),
    ];
    // What each server's hooks wrote, and its lines about them.
    let run = |which: Which, tag: &str, log: &str| {
        let _ = std::fs::remove_file(&calls);
        let answered = replies(&lab, &which, &conf, &packets, tag);
        let calls = std::fs::read_to_string(&calls).unwrap_or_default();
        let text = std::fs::read_to_string(lab.path(log)).unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains("exit status") || l.starts_with("Unable to execute"))
            .map(str::to_owned)
            .collect();
        (answered, calls, lines)
    };
    let theirs = run(Which::Isc, "isc-hooks", "isc.log");
    let ours = run(Which::Ours, "ours-hooks", "dhcpd.log");
    let want = format!(
        "commit {net}.10 52:54:0:99:15:1 600 node1 ab \n\
         commit {net}.11 52:54:0:99:15:2 600  ab \n\
         release {net}.10 52:54:0:99:15:1\n\
         expiry {net}.11 \n"
    );
    assert_eq!(theirs.1, want, "ISC's hooks, as this test expects them");
    assert_eq!(ours.1, theirs.1, "the hooks' arguments differ from ISC's");
    assert_eq!(
        ours.2, theirs.2,
        "the lines about exit statuses differ from ISC's"
    );
    assert_eq!(ours.0, theirs.0, "the replies differ from ISC's");
}

#[test]
fn r15_expiry_runs_when_the_lease_ends_as_with_isc() {
    use crate::side_by_side::{Which, start};
    let busybox = need("busybox", "busybox");
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:42:00:07");
    let hook = lab.path("hook.sh");
    let calls = lab.path("calls.txt");
    script(&hook, &format!("echo \"$@\" >> {}", calls.display()));
    let conf = format!(
        "authoritative;
min-lease-time 6;
default-lease-time 6;
max-lease-time 6;
subnet 10.199.{n}.0 netmask 255.255.255.0 {{ range {lo} {hi}; }}
on expiry {{
  execute (\"{hook}\", \"expiry\", binary-to-ascii (10, 8, \".\", leased-address),
           binary-to-ascii (16, 8, \":\", substring (hardware, 1, 6)));
}}
",
        n = lab.net,
        lo = lab.ip(10),
        hi = lab.ip(20),
        hook = hook.display(),
    );
    let want = format!("expiry {} 52:54:0:42:0:7\n", lab.ip(10));
    for which in [Which::Isc, Which::Ours] {
        let _ = std::fs::remove_file(&calls);
        let server = start(&lab, &which, &conf);
        // udhcpc -q leaves without releasing: the lease runs out after 6 s.
        let out = lab
            .cmd(&lab.cli, &busybox)
            .args([
                "udhcpc",
                "-q",
                "-f",
                "-n",
                "-t",
                "4",
                "-T",
                "2",
                "-i",
                "c0",
                "-s",
                "/bin/true",
            ])
            .output()
            .unwrap();
        let read = || std::fs::read_to_string(&calls).unwrap_or_default();
        assert!(
            wait_for(WAIT, || read() == want),
            "{:?} instead of {want:?}\nudhcpc: {}\nserver:\n{}",
            read(),
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
        drop(server);
    }
}
