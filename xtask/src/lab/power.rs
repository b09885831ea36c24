//! The power case of issue 16: a machine is reinstalled *now* through its BMC.
//!
//! OpenIPMI's `ipmi_sim` is the BMC of one qemu VM, `web01`, on the lab's bridge. Its
//! chassis is a shell script ipmi_sim runs for every chassis command (`chassis_control`
//! in its lan.conf): power on starts qemu (`-daemonize`, its PID in a file of the case's
//! directory), power off kills that PID, and the boot device set by `chassis bootdev pxe`
//! makes the next power on (once) start qemu with the NIC first instead of the disk.
//! `startcmd`, ipmi_sim's own way of running a VM, answered chassis control with
//! "Invalid data field in request" here.
//!
//! `power-reinstall-ipmi`: web01 is installed (its state says so) and its disk holds a
//! boot sector that says so on the console. The operator turns it on with `pxectl power`
//! (it boots its disk), then runs `pxectl reinstall web01 --power-cycle`: httpd-tree marks
//! it for reinstall and tells the BMC, through the real ipmitool, next boot network and a
//! power cycle. The BMC kills the VM and starts it again with the network first; it gets
//! its install entry over DHCP and TFTP, the lab's initramfs posts the install callback and
//! powers off, and the state is installed again. A last `pxectl power web01 on` boots the
//! disk (the override was for one boot) and `pxectl power web01 status` says on.

use super::daemons::{self, Inv, Store};
use super::menus;
use super::net::{Netns, in_ns};
use super::probe::{Logs, Phase, Source, all_seen, phase, watch_until};
use super::procs::Proc;
use super::{Lab, Report, initramfs, interrupted, ns_name, pxelinux_name, root_dir};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CASE: &str = "power-reinstall-ipmi";
const MACHINE: &str = "web01";
const MAC: &str = "52:54:00:77:00:40";
/// The BMC's address on the lab bridge (ipmi_sim listens there, port 623).
const BMC_ADDR: &str = "10.77.0.5";
const BMC_USER: &str = "admin";
/// The lab BMC's password: in its lan.conf and a 0600 file httpd-tree reads; never logged.
const BMC_PASSWORD: &str = "lab-bmc-web01-5d1f";
const SERVER: &str = "http://10.77.0.3:8080";
const TAP: &str = "tap0";

/// The power cases as named cases.
pub(crate) fn named() -> Vec<super::named::Named> {
    vec![super::named::Named {
        name: CASE,
        describe: "case power-reinstall-ipmi: ipmi_sim is the BMC of a qemu VM; the installed \
                   machine boots its disk, `pxectl reinstall web01 --power-cycle` makes the BMC \
                   restart it from the network: a new qemu, its install entry over DHCP and \
                   TFTP, the install callback, state installed; then it powers on from its disk",
        in_ci: true,
    }]
}

pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    match name {
        CASE => reinstall_ipmi(lab),
        other => bail!("no power case {other}"),
    }
}

/// The case's inventory: the lab's marker as web01's install, and web01's BMC.
fn inventory(password_file: &Path) -> String {
    format!(
        "# Written by cargo xtask e2e --case {CASE}.
servers:
  tftp: 10.77.0.2
  http: {SERVER}

loaders:
  bios: pxelinux.0

distros:
  marker:
    arch: x86_64
    family: debian
    tree: trees/marker
    kernel: linux
    initrd: marker.img

profiles:
  marker-classic:
    distro: marker
    chain: classic
    kernel_args: console=ttyS0 panic=-1
    description: the lab's marker install (its initramfs posts the callback)

machines:
  {MACHINE}:
    mac: {MAC}
    profile: marker-classic
    power:
      driver: ipmi
      address: {BMC_ADDR}
      port: 623
      cipher_suite: 3
      username: {BMC_USER}
      password_file: {}
",
        password_file.display()
    )
}

/// One argument for a POSIX shell.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The files of web01's VM and BMC, all in one directory.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// qemu for web01, daemonized with its PID in `qemu.pid`; the NIC or the disk first.
/// Console and firmware output are appended, so every boot of the case is in one log.
fn vm_argv(f: &Files, accel: super::qemu::Accel, network_first: bool) -> Vec<String> {
    let (nic, disk) = if network_first { (1, 2) } else { (2, 1) };
    let mut v: Vec<String> = [
        "qemu-system-x86_64",
        "-name",
        MACHINE,
        "-m",
        "1024",
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
    ]
    .map(String::from)
    .into();
    v.extend(accel.args());
    v.push("-chardev".into());
    v.push(format!(
        "file,id=s0,path={},append=on",
        f.path("serial.log").display()
    ));
    v.extend(["-serial", "chardev:s0"].map(String::from));
    v.push("-chardev".into());
    v.push(format!(
        "file,id=fw,path={},append=on",
        f.path("firmware.log").display()
    ));
    v.extend(["-device", "isa-debugcon,iobase=0x402,chardev=fw"].map(String::from));
    v.push("-drive".into());
    v.push(format!(
        "file={},format=raw,if=none,id=d0",
        f.path("disk.raw").display()
    ));
    v.push("-device".into());
    v.push(format!("virtio-blk-pci,drive=d0,bootindex={disk}"));
    v.push("-netdev".into());
    v.push(format!("tap,id=n0,ifname={TAP},script=no,downscript=no"));
    v.push("-device".into());
    v.push(format!(
        "virtio-net-pci,netdev=n0,mac={MAC},bootindex={nic}"
    ));
    v.extend(["-daemonize", "-pidfile"].map(String::from));
    v.push(f.path("qemu.pid").display().to_string());
    v
}

/// The chassis of web01 for ipmi_sim's `chassis_control`. ipmi_sim runs it as
/// `chassis.sh 0x20 get power boot`, `… set power 0|1` and `… set boot pxe|default|…`;
/// a `get` is answered with `power:1` and `boot:pxe` lines.
fn chassis_script(f: &Files, accel: super::qemu::Accel) -> String {
    let cmd = |network_first| {
        vm_argv(f, accel, network_first)
            .iter()
            .map(|a| quoted(a))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        r#"#!/bin/sh
# web01's chassis for ipmi_sim, written by cargo xtask e2e --case {CASE}.
# Power is on while web01's qemu runs (its PID in qemu.pid). Power on starts it with the
# network first when the boot device was set to pxe (used once, as IPMI's next-boot
# flag), else the disk first; power off kills that PID.
d={dir}
say() {{ echo "$(date +%H:%M:%S) $*" >> "$d/bmc.log"; }}
vm_pid() {{
  p=$(cat "$d/qemu.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && [ -r "/proc/$p/stat" ] || return 1
  # Exited but not reaped yet is off; a PID some other program got since is not ours.
  case "$(cut -d' ' -f3 "/proc/$p/stat")" in Z|X) return 1;; esac
  tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "-name {MACHINE} " || return 1
}}
power_on() {{
  if vm_pid; then say "power on: web01 runs already (qemu pid $p)"; return 0; fi
  rm -f "$d/qemu.pid"
  if [ "$(cat "$d/boot" 2>/dev/null)" = pxe ]; then
    echo default > "$d/boot"
    first="network first (the boot override, used once)"
    {net} >> "$d/qemu.log" 2>&1 < /dev/null
  else
    first="disk first"
    {disk} >> "$d/qemu.log" 2>&1 < /dev/null
  fi
  if vm_pid; then say "power on: started qemu pid $p, $first"
  else say "power on: qemu did not start (qemu.log says why)"; fi
}}
power_off() {{
  if ! vm_pid; then say "power off: web01 is off already"; return 0; fi
  kill -KILL "$p"
  i=0
  while vm_pid && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  say "power off: killed qemu pid $p"
}}
shift
case "$1" in
get)
  shift
  for w in "$@"; do
    case $w in
    power) if vm_pid; then echo power:1; else echo power:0; fi ;;
    boot) echo "boot:$(cat "$d/boot" 2>/dev/null || echo default)" ;;
    esac
  done ;;
set)
  shift
  while [ $# -ge 2 ]; do
    case $1 in
    power) if [ "$2" = 1 ]; then power_on; else power_off; fi ;;
    boot) echo "$2" > "$d/boot"; say "boot device for the next power on: $2" ;;
    *) say "set $1 $2: not handled" ;;
    esac
    shift 2
  done ;;
esac
exit 0
"#,
        dir = quoted(&f.dir.display().to_string()),
        net = cmd(true),
        disk = cmd(false),
    )
}

/// ipmi_sim's lan.conf: one BMC on [`BMC_ADDR`], user admin, the chassis script.
fn lan_conf(f: &Files) -> String {
    format!(
        "name \"web01-bmc\"\nset_working_mc 0x20\n  startlan 1\n    addr {BMC_ADDR} 623\n    \
         priv_limit admin\n    allowed_auths_callback none md2 md5 straight\n    \
         allowed_auths_user none md2 md5 straight\n    allowed_auths_operator none md2 md5 straight\n    \
         allowed_auths_admin none md2 md5 straight\n    guid 5a1e0c4b9d2f47e8a6b3c1d0e9f8a7b6\n  \
         endlan\n  chassis_control \"{} 0x20\"\n  \
         user 2 true \"{BMC_USER}\" \"{BMC_PASSWORD}\" admin 10 none md2 md5 straight\n",
        f.path("chassis.sh").display()
    )
}

const BMC_EMU: &str = "mc_setbmc 0x20\n\
    mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n";

/// web01's qemu PID while it runs (not a zombie, and still web01's qemu).
fn vm_pid(f: &Files) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(f.path("qemu.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(") ")?.1.chars().next()?;
    if matches!(state, 'Z' | 'X') {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let ours = format!("-name\0{MACHINE}\0");
    cmdline
        .windows(ours.len())
        .any(|w| w == ours.as_bytes())
        .then_some(pid)
}

/// ipmi_sim and the VM its chassis script started. Dropping it stops ipmi_sim first (so
/// nothing powers the VM on again), then kills the VM by its PID.
struct Bmc {
    sim: Proc,
    files: Files,
}

impl Drop for Bmc {
    fn drop(&mut self) {
        self.sim.stop();
        if let Some(pid) = vm_pid(&self.files) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            for _ in 0..50 {
                if vm_pid(&self.files).is_none() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Bmc {
    fn start(ns: &str, files: Files, accel: super::qemu::Accel) -> Result<Bmc> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(files.path("bmc-state"))?;
        let script = files.path("chassis.sh");
        std::fs::write(&script, chassis_script(&files, accel))?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        let conf = files.path("lan.conf");
        std::fs::write(&conf, lan_conf(&files))?;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600))?;
        std::fs::write(files.path("bmc.emu"), BMC_EMU)?;
        std::fs::write(files.path("bmc.log"), "")?;
        let mut argv = in_ns(ns);
        argv.push("ipmi_sim".into());
        argv.extend(["-c".into(), files.path("lan.conf").display().to_string()]);
        argv.extend(["-f".into(), files.path("bmc.emu").display().to_string()]);
        argv.extend(["-s".into(), files.path("bmc-state").display().to_string()]);
        argv.push("-n".into());
        let sim = Proc::spawn("ipmi_sim", &argv, &files.path("ipmi_sim.log"))
            .context("ipmi_sim (Debian package openipmi)")?;
        Ok(Bmc { sim, files })
    }

    /// Waits until the BMC answers ipmitool on its address.
    fn wait_ready(&mut self, ns: &str, password_file: &Path) -> Result<()> {
        for _ in 0..50 {
            if !self.sim.alive() {
                bail!("ipmi_sim exited at start:\n{}", self.sim.log_text());
            }
            let mut argv = in_ns(ns);
            argv.extend(
                [
                    "ipmitool", "-I", "lanplus", "-H", BMC_ADDR, "-C", "3", "-U", BMC_USER, "-R",
                    "1", "-N", "1", "-f",
                ]
                .map(String::from),
            );
            argv.push(password_file.display().to_string());
            argv.extend(["chassis", "power", "status"].map(String::from));
            let (prog, args) = argv.split_first().context("empty command")?;
            let ok = Command::new(prog)
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("ipmi_sim did not answer on {BMC_ADDR}:623")
    }
}

/// The real pxectl, built with the daemons ([`super::build_daemons`]).
fn pxectl_bin(lab: &Lab) -> Result<PathBuf> {
    let bin = lab.bins.dir.join("pxectl");
    if !bin.exists() {
        bail!("no pxectl at {}", bin.display());
    }
    Ok(bin)
}

/// The operator: the real pxectl in the lab's namespace, with the admin token, `--json`.
struct Operator {
    ns: String,
    bin: PathBuf,
    token: PathBuf,
    started: Instant,
}

impl Operator {
    fn run(&self, args: &[&str]) -> Result<Value> {
        let mut argv = in_ns(&self.ns);
        argv.push(self.bin.display().to_string());
        argv.extend(["--server", SERVER, "--token-file"].map(String::from));
        argv.push(self.token.display().to_string());
        argv.push("--json".into());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let (prog, rest) = argv.split_first().context("empty command")?;
        let out = Command::new(prog)
            .args(rest)
            .output()
            .context("running pxectl")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        // One line: the answer's JSON without its indentation.
        let answer = serde_json::from_str::<Value>(stdout.trim());
        println!(
            "  {:>6.1}s  OPER  pxectl {} -> {}",
            self.started.elapsed().as_secs_f64(),
            args.join(" "),
            answer
                .as_ref()
                .map_or_else(|_| stdout.trim().to_owned(), Value::to_string)
        );
        if !out.status.success() {
            bail!(
                "pxectl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        answer.with_context(|| format!("pxectl {}: not JSON: {stdout}", args.join(" ")))
    }
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Watches one stretch of the case; `Err` says what went wrong (a fatal line, the
/// phases not seen).
fn watch(
    logs: &Logs,
    phases: &[Phase],
    fatal: &[Phase],
    limit: Duration,
    f: &Files,
    until_off: bool,
) -> Result<(), String> {
    let (seen, fatal) = watch_until(
        logs,
        phases,
        &all_seen(),
        fatal,
        limit,
        &interrupted,
        // A boot that powers the VM off ends the watch (one more look follows).
        || !until_off || vm_pid(f).is_some(),
    );
    let missing: Vec<&str> = phases
        .iter()
        .zip(&seen)
        .filter(|(_, s)| s.is_none())
        .map(|(p, _)| p.label.as_str())
        .collect();
    let mut why = Vec::new();
    if let Some(line) = fatal {
        why.push(format!("stopped at {line}"));
    }
    if !missing.is_empty() {
        why.push(format!("not seen: {}", missing.join("; ")));
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

fn disk_boot_phases(first_boot: bool) -> Vec<Phase> {
    let label = if first_boot {
        "BMC: powers web01 on, disk first (no boot override)"
    } else {
        "BMC: powers web01 on, disk first (the override was for one boot)"
    };
    vec![
        phase(Source::Bmc, "disk first", label),
        phase(
            Source::Firmware,
            "Booting from Hard Disk",
            "BIOS: SeaBIOS boots the disk",
        ),
        phase(
            Source::Serial,
            menus::DISK_MARKER,
            "VM: the installed system runs (the disk's boot sector)",
        ),
    ]
}

/// What the BMC does at once when told to reinstall with a power cycle.
fn cycle_phases() -> Vec<Phase> {
    vec![
        phase(
            Source::Bmc,
            "boot device for the next power on: pxe",
            "BMC: told next boot network (chassis bootdev pxe)",
        ),
        phase(
            Source::Bmc,
            "power off: killed qemu pid",
            "BMC: power cycle, off: the running VM is killed",
        ),
        phase(
            Source::Bmc,
            "network first (the boot override",
            "BMC: power cycle, on: a new qemu, network first",
        ),
        phase(
            Source::Http,
            "reinstall with power cycle",
            "HTTP: httpd-tree logged the reinstall and what the BMC said",
        ),
    ]
}

/// The network boot the power cycle leads to, through to the install callback.
fn install_phases() -> Vec<Phase> {
    vec![
        phase(
            Source::Dhcp,
            "DHCPACK on",
            "DHCP: web01 boots from the network (pxelinux.0)",
        ),
        phase(Source::Tftp, "pxelinux.0", "TFTP: pxelinux.0"),
        phase(
            Source::Tftp,
            &pxelinux_name(MAC),
            "TFTP: generated pxelinux.cfg/01-<mac>",
        ),
        phase(
            Source::Tftp,
            "trees/marker/linux",
            "TFTP: the install kernel (its install entry, not local boot)",
        ),
        phase(Source::Tftp, "trees/marker/marker.img", "TFTP: initrd"),
        phase(
            Source::Http,
            &format!("/preseed/{MAC}"),
            "HTTP: its answer file",
        ),
        phase(
            Source::Serial,
            initramfs::CALLBACK_DONE,
            "VM: install-complete callback made",
        ),
    ]
}

/// A disk whose boot sector says the installed system runs (case h's), 1 MiB raw.
fn write_disk(path: &Path) -> Result<()> {
    let mut bytes = menus::boot_sector();
    bytes.resize(1 << 20, 0);
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn reinstall_ipmi(lab: &mut Lab) -> Result<Report> {
    use pxe_model::state::StateEvent;
    use pxe_model::{InstallState, StateStore};
    use std::os::unix::fs::PermissionsExt;
    let started = Instant::now();
    if lab.dhcp != super::Dhcp::Ours {
        bail!("the power case needs our dhcpd (it reads the inventory); drop --dhcpd isc");
    }
    let pxectl = pxectl_bin(lab)?;
    let files = Files {
        dir: lab.work.join("power-web01"),
    };
    std::fs::create_dir_all(&files.dir)?;
    let password_file = files.path("bmc-password");
    std::fs::write(&password_file, format!("{BMC_PASSWORD}\n"))?;
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))?;
    let token = files.path("admin-token");
    std::fs::write(&token, "lab-power-admin-token-7f3a91c2\n")?;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600))?;
    write_disk(&files.path("disk.raw"))?;
    for log in ["serial.log", "firmware.log"] {
        std::fs::write(files.path(log), "")?;
    }

    // One namespace: the bridge carries TFTP, HTTP and the BMC's address; web01's tap
    // stays for every qemu the BMC starts.
    let ns = Netns::create(&ns_name("power"))?;
    ns.bridge("br0")?;
    for cidr in ["10.77.0.2/24", "10.77.0.3/24", &format!("{BMC_ADDR}/24")] {
        ns.addr("br0", cidr)?;
    }
    ns.tap(TAP, "br0")?;
    let ns_id = ns.name.clone();
    lab.nets.push(ns);
    let (inv, state) = lab.inventory("power", Some(&inventory(&password_file)))?;
    // web01 was installed long ago: its state says so before any daemon starts.
    let store = pxe_model::FileStore::open(&state)?;
    store.apply(MACHINE, StateEvent::Installed, 0)?;
    let invref = Inv {
        file: &inv,
        state: Store::Dir(&state),
    };
    let conf = root_dir().join("deploy/examples/lab/dhcpd.conf");
    let d = daemons::dhcpd(
        &lab.bins,
        lab.dhcp,
        &ns_id,
        "br0",
        &conf,
        Some(&invref),
        &lab.work,
    )?;
    let t = daemons::tftpd(
        &lab.bins,
        &ns_id,
        "10.77.0.2",
        &lab.assets.tftp_root,
        Some(&invref),
        &lab.work,
    )?;
    let h = daemons::httpd_with_admin(
        &lab.bins,
        &ns_id,
        "10.77.0.3",
        &lab.assets.tftp_root,
        &invref,
        &token,
        &lab.work,
    )?;
    let logs = Logs::new(vec![
        (Source::Dhcp, d.log.clone()),
        (Source::Tftp, t.log.clone()),
        (Source::Http, h.log.clone()),
        (Source::Serial, files.path("serial.log")),
        (Source::Firmware, files.path("firmware.log")),
        (Source::Bmc, files.path("bmc.log")),
    ]);
    lab.procs.extend([d, t, h]);
    lab.settle()?;
    let mut bmc = Bmc::start(&ns_id, files, lab.accel)?;
    bmc.wait_ready(&ns_id, &password_file)?;
    let f = &bmc.files;
    println!(
        "  {:>6.1}s  prep  web01 ({MAC}) installed; its BMC: ipmi_sim on {BMC_ADDR}:623, chassis {}",
        started.elapsed().as_secs_f64(),
        f.path("chassis.sh").display()
    );
    let op = Operator {
        ns: ns_id.clone(),
        bin: pxectl,
        token,
        started,
    };
    let mut report = Report {
        name: CASE.into(),
        ok: true,
        why: String::new(),
        took: Duration::ZERO,
    };
    let tcg = lab.accel == super::qemu::Accel::Tcg;
    let limit = |secs: u64| Duration::from_secs(if tcg { secs } else { secs / 2 });
    let disk_fatal = [phase(Source::Firmware, "No bootable device", "")];

    // 1. The operator turns the installed machine on: it boots its disk.
    println!("  1. power on the installed web01 (phase times from each pxectl answer)");
    let this = logs.tail();
    let on = op.run(&["power", MACHINE, "on"])?;
    if field(&on, "power") != "on" {
        report.fail(format!("power on: the BMC says {on}"));
    }
    let seen = watch(
        &this,
        &disk_boot_phases(true),
        &disk_fatal,
        limit(120),
        f,
        false,
    );
    let before = vm_pid(f);
    if let Err(why) = seen {
        report.fail(format!("power on: {why}"));
    } else if before.is_none() {
        report.fail("power on: web01's qemu is not running".into());
    }
    if !report.ok {
        report.took = started.elapsed();
        return Ok(report);
    }
    if let Some(pid) = before {
        println!("          web01 runs as qemu pid {pid}");
    }
    if interrupted() {
        bail!("interrupted");
    }

    // 2. Reinstall now: the BMC restarts it from the network; it installs and calls back.
    println!("  2. reinstall web01 now, through its BMC");
    let this = logs.tail();
    let r = op.run(&["reinstall", MACHINE, "--power-cycle"])?;
    if field(&r, "state") != "pending" || field(&r, "power") != "on" {
        report.fail(format!(
            "reinstall answered {r} (want state pending, power on)"
        ));
    }
    let during = vm_pid(f);
    // The disk booting means the override did not work.
    let fatal = [
        disk_fatal[0].clone(),
        phase(Source::Serial, menus::DISK_MARKER, ""),
        phase(Source::Firmware, "Booting from Hard Disk", ""),
    ];
    // The BMC acts within seconds; without it nothing else can follow.
    let bmc_acted = watch(
        &this,
        &cycle_phases(),
        &[],
        Duration::from_secs(30),
        f,
        false,
    );
    if let Err(why) = bmc_acted {
        report.fail(format!("the BMC after the reinstall: {why}"));
    } else if let Err(why) = watch(&this, &install_phases(), &fatal, limit(300), f, true) {
        report.fail(format!("the network boot after the power cycle: {why}"));
    }
    match (before, during) {
        (Some(a), Some(b)) if a != b => {
            println!("          the BMC restarted web01: qemu pid {a} killed, pid {b} started")
        }
        (a, b) => report.fail(format!(
            "web01 was not restarted by its BMC (qemu pid {a:?} before the reinstall, {b:?} after)"
        )),
    }
    // The initramfs powers the VM off after its callback (qemu runs with -no-reboot).
    for _ in 0..60 {
        if !report.ok || vm_pid(f).is_none() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let s = store.get(MACHINE)?;
    let reinstalled = s
        .history
        .iter()
        .any(|t| t.event == StateEvent::Reinstall && t.to == InstallState::Pending);
    println!(
        "          web01's state: {} (generation {}), history: {}",
        s.state.as_str(),
        s.generation,
        s.history
            .iter()
            .map(|t| format!("{}->{}", t.from.as_str(), t.to.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if s.state != InstallState::Installed || !reinstalled || s.generation != 1 {
        report.fail(format!(
            "web01 is {} in generation {} after the reinstall (want installed, 1)",
            s.state.as_str(),
            s.generation
        ));
    }
    if !report.ok || interrupted() {
        report.took = started.elapsed();
        return Ok(report);
    }
    let off = op.run(&["power", MACHINE, "status"])?;
    if field(&off, "power") != "off" {
        report.fail(format!(
            "after the install powered web01 off the BMC says {off}"
        ));
    }

    // 3. Powered on again it boots its disk (the network was for one boot), and is on.
    println!("  3. power web01 on again: its disk, the network override was for one boot");
    let this = logs.tail();
    op.run(&["power", MACHINE, "on"])?;
    if let Err(why) = watch(
        &this,
        &disk_boot_phases(false),
        &disk_fatal,
        limit(120),
        f,
        false,
    ) {
        report.fail(format!("power on after the install: {why}"));
    }
    if this.text(Source::Tftp).contains("trees/marker/linux") {
        report.fail("web01 fetched its install kernel again after the install".into());
    }
    let status = op.run(&["power", MACHINE, "status"])?;
    if field(&status, "power") != "on" {
        report.fail(format!("pxectl power web01 status: {status}"));
    }
    report.took = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inventory_gives_web01_an_ipmi_bmc_without_its_password() {
        let text = inventory(Path::new("/lab/bmc-password"));
        let inv = pxe_model::load_str("inventory.yaml", &text, Path::new("/lab"))
            .expect("the case's inventory loads");
        let m = inv.machines.get(MACHINE).expect("web01");
        let p = m.power.as_ref().expect("web01 has power settings");
        assert_eq!(p.cipher_suite, Some(3));
        assert!(!text.contains(BMC_PASSWORD));
    }

    #[test]
    fn the_chassis_starts_the_vm_network_first_only_after_bootdev_pxe() {
        let f = Files {
            dir: PathBuf::from("/lab/power-web01"),
        };
        let net = vm_argv(&f, super::super::qemu::Accel::Tcg, true).join(" ");
        let disk = vm_argv(&f, super::super::qemu::Accel::Tcg, false).join(" ");
        assert!(net.contains(&format!("mac={MAC},bootindex=1")), "{net}");
        assert!(net.contains("drive=d0,bootindex=2"), "{net}");
        assert!(disk.contains(&format!("mac={MAC},bootindex=2")), "{disk}");
        assert!(disk.contains("drive=d0,bootindex=1"), "{disk}");
        let script = chassis_script(&f, super::super::qemu::Accel::Tcg);
        let pxe = script.find("= pxe ]").expect("the pxe test");
        let first_net = script.find("bootindex=1'").expect("a command");
        assert!(
            pxe < first_net,
            "the network-first command is the pxe branch"
        );
        assert!(script.contains("echo default > \"$d/boot\""), "used once");
        assert!(script.contains("kill -KILL \"$p\""), "killed by its PID");
    }

    #[test]
    fn the_power_family_runs_in_a_plain_e2e() {
        use super::super::named;
        assert_eq!(named::select("power").expect("the family"), vec![CASE]);
        assert!(named::in_ci().contains(&CASE));
    }
}
