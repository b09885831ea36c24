//! The deploy initramfs in a VM (ignored by default: it needs `cargo xtask deploy-image`
//! and qemu, and takes about 20 s under TCG): Debian's kernel boots the initramfs
//! with the plan URL on its command line, gets an address from qemu's user network,
//! and the agent installs an image from httpd-tree (on this machine, 10.0.2.2 to the
//! guest) onto the VM's virtio disk, then reboots, which ends qemu (`-no-reboot`).
//!
//! Run: `cargo xtask deploy-image && cargo test -p pxe-deploy --test real -- --ignored`

use crate::deploy::installed_disk;
use crate::support::{Lab, MAC, MIB, golden, sha256_hex};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the VM may take, from qemu's start to its exit.
const TIMEOUT: Duration = Duration::from_secs(420);

fn image_dir() -> PathBuf {
    std::env::var_os("PXE_DEPLOY_IMAGE_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/deploy-image/out"
            ))
        },
        PathBuf::from,
    )
}

/// What a VM run came to: whether qemu exited (the agent rebooted), its console.
struct Run {
    rebooted: bool,
    console: String,
}

/// Boots the deploy kernel and initramfs on `disk` with `lab`'s plan URL, until the
/// VM reboots (which ends qemu), drops to its failure shell, or [`TIMEOUT`] passes.
fn boot(lab: &Lab, disk: &Path, work: &Path) -> Run {
    let images = image_dir();
    let (vmlinuz, initrd) = (images.join("vmlinuz"), images.join("initrd.gz"));
    assert!(
        vmlinuz.exists() && initrd.exists(),
        "no deploy image in {}: run cargo xtask deploy-image",
        images.display()
    );
    let serial = work.join("serial.log");
    let started = Instant::now();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args([
            "-accel", "tcg", "-m", "1024", "-display", "none", "-monitor", "none",
        ])
        .arg("-no-reboot")
        .args(["-nic", &format!("user,model=virtio-net-pci,mac={MAC}")])
        .args([
            "-drive",
            &format!("file={},format=raw,if=virtio", disk.display()),
        ])
        .arg("-kernel")
        .arg(&vmlinuz)
        .arg("-initrd")
        .arg(&initrd)
        .args([
            "-append",
            &format!(
                "console=ttyS0 panic=-1 pxe.plan=http://10.0.2.2:{}/deploy/{MAC}",
                lab.port()
            ),
        ])
        .args(["-serial", &format!("file:{}", serial.display())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 (apt-get install qemu-system-x86)");
    let rebooted = loop {
        if let Ok(Some(_)) = qemu.try_wait() {
            break true;
        }
        // A failed deploy stays on the console with a shell: no need to wait longer.
        let failed = std::fs::read_to_string(&serial)
            .is_ok_and(|l| l.contains("pxe-deploy initramfs: a shell on the console"));
        if failed || started.elapsed() > TIMEOUT {
            let _ = qemu.kill();
            let _ = qemu.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let console = std::fs::read_to_string(&serial).unwrap_or_default();
    let agent: Vec<&str> = console
        .lines()
        .filter(|l| l.contains("pxe-deploy"))
        .collect();
    eprintln!(
        "the VM ran {:.1} s; its console:\n{}",
        started.elapsed().as_secs_f64(),
        agent.join("\n")
    );
    Run { rebooted, console }
}

#[test]
#[ignore = "needs cargo xtask deploy-image and qemu; about 20 s under TCG"]
fn the_deploy_initramfs_installs_an_image_in_a_vm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = golden(dir.path(), 40 * MIB, 21);
    let fetched = zstd::encode_all(&g.bytes[..], 3).expect("zstd");
    let lab = Lab::start_as("disk.raw.zst", &fetched, &sha256_hex(&fetched), "10.0.2.2");
    let disk = lab.disk(96 * MIB);
    let run = boot(&lab, &disk, dir.path());
    assert!(
        run.rebooted,
        "the VM did not reboot (the agent failed, or {} s passed)",
        TIMEOUT.as_secs()
    );
    assert!(
        run.console.contains("pxe-deploy: installed"),
        "{}",
        run.console
    );
    assert_eq!(lab.machine()["state"], "installed");
    installed_disk(&disk, &g);
}

#[test]
#[ignore = "needs cargo xtask deploy-image and qemu; about 20 s under TCG"]
fn a_bad_image_in_a_vm_stays_on_the_console_and_the_machine_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = golden(dir.path(), 8 * MIB, 23);
    let fetched = zstd::encode_all(&g.bytes[..], 3).expect("zstd");
    let wrong = sha256_hex(b"another image");
    let lab = Lab::start_as("disk.raw.zst", &fetched, &wrong, "10.0.2.2");
    let disk = lab.disk(16 * MIB);
    let run = boot(&lab, &disk, dir.path());
    assert!(!run.rebooted, "no reboot after a failure: {}", run.console);
    assert!(
        run.console.contains("sha256 mismatch") && run.console.contains("does not reboot"),
        "{}",
        run.console
    );
    let m = lab.machine();
    assert_eq!(m["state"], "failed", "{m}");
    assert!(
        m["failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("image failed: sha256 mismatch")),
        "{m}"
    );
    let written = std::fs::read(&disk).expect("disk");
    assert!(
        written[..MIB as usize].iter().all(|b| *b == 0),
        "the table wiped"
    );
}
