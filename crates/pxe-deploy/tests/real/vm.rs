//! The deploy initramfs in a VM (ignored by default: it needs `cargo xtask deploy-image`
//! and qemu, and takes about a minute under TCG): Debian's kernel boots the initramfs
//! with the plan URL on its command line, gets an address from qemu's user network,
//! and the agent installs an image from httpd-tree (on this machine, 10.0.2.2 to the
//! guest) onto the VM's virtio disk, then reboots, which ends qemu (`-no-reboot`).
//!
//! Run: `cargo xtask deploy-image && cargo test -p pxe-deploy --test real -- --ignored`

use crate::deploy::installed_disk;
use crate::support::{Lab, MAC, MIB, golden, sha256_hex};
use std::path::PathBuf;
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

#[test]
#[ignore = "needs cargo xtask deploy-image and qemu; about a minute under TCG"]
fn the_deploy_initramfs_installs_an_image_in_a_vm() {
    let images = image_dir();
    let (vmlinuz, initrd) = (images.join("vmlinuz"), images.join("initrd.gz"));
    assert!(
        vmlinuz.exists() && initrd.exists(),
        "no deploy image in {}: run cargo xtask deploy-image",
        images.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let g = golden(dir.path(), 40 * MIB, 21);
    let fetched = zstd::encode_all(&g.bytes[..], 3).expect("zstd");
    let lab = Lab::start_as("disk.raw.zst", &fetched, &sha256_hex(&fetched), "10.0.2.2");
    let disk = lab.disk(96 * MIB);
    let serial = dir.path().join("serial.log");
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
    let exited = loop {
        if let Ok(Some(status)) = qemu.try_wait() {
            break Some(status);
        }
        // A failed deploy stays on the console with a shell: no need to wait longer.
        let failed = std::fs::read_to_string(&serial)
            .is_ok_and(|l| l.contains("pxe-deploy initramfs: a shell on the console"));
        if failed || started.elapsed() > TIMEOUT {
            let _ = qemu.kill();
            let _ = qemu.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let log = std::fs::read_to_string(&serial).unwrap_or_default();
    let agent: Vec<&str> = log.lines().filter(|l| l.contains("pxe-deploy")).collect();
    eprintln!(
        "the VM ran {:.1} s; its console:\n{}",
        started.elapsed().as_secs_f64(),
        agent.join("\n")
    );
    assert!(
        exited.is_some(),
        "the VM did not reboot within {} s",
        TIMEOUT.as_secs()
    );
    assert!(log.contains("pxe-deploy: installed"), "{log}");
    assert_eq!(lab.machine()["state"], "installed");
    installed_disk(&disk, &g);
}
