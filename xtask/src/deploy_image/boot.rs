//! `--boot-check`: boots the deploy kernel and initramfs under qemu (TCG, so that it
//! runs anywhere), with qemu's user network (its DHCP server answers udhcpc) and a plan
//! URL where no server listens, and waits until the agent says it is fetching the plan.

use super::Output;
use anyhow::{Context, Result, bail};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the agent logs first.
const FETCHING: &str = "pxe-deploy: fetching the deploy plan";
/// How long TCG may take to boot Debian's kernel and get a DHCP answer.
const TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) fn check(out: &Output) -> Result<()> {
    let dir = out.initrd.parent().context("out dir")?;
    let serial = dir.join("boot-check.serial.log");
    let _ = std::fs::remove_file(&serial);
    let started = Instant::now();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args([
            "-accel", "tcg", "-m", "1024", "-display", "none", "-monitor", "none",
        ])
        .args(["-no-reboot", "-nic", "user,model=virtio-net-pci"])
        .arg("-kernel")
        .arg(&out.vmlinuz)
        .arg("-initrd")
        .arg(&out.initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 pxe.plan=http://10.0.2.2:9/deploy/52:54:00:12:34:56",
        ])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("qemu-system-x86_64 (apt-get install qemu-system-x86)")?;
    let result = wait(&serial, started);
    let _ = qemu.kill();
    let _ = qemu.wait();
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    match result {
        Some(at) => {
            for l in log.lines().filter(|l| l.contains("pxe-deploy")) {
                eprintln!("  | {}", l.trim_end());
            }
            eprintln!(
                "xtask deploy-image: boot check ok: the agent fetched its plan {:.1} s after qemu started (TCG)",
                at.as_secs_f64()
            );
            Ok(())
        }
        None => bail!(
            "the deploy image did not reach {FETCHING:?} within {} s; the serial console ({}):\n{}",
            TIMEOUT.as_secs(),
            serial.display(),
            tail(&log, 40)
        ),
    }
}

fn wait(serial: &std::path::Path, started: Instant) -> Option<Duration> {
    while started.elapsed() < TIMEOUT {
        if std::fs::read_to_string(serial).is_ok_and(|l| l.contains(FETCHING)) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    None
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
