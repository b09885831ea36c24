//! The image's root filesystem as a directory: mmdebstrap (as root, `--mode=root`) from the
//! lab's mirror, Priority required and important plus the mirror's package list, then the
//! files that make it a deployable image: fstab by UUID, GRUB's configuration with the
//! serial console, the boot marker unit, cloud-init (NoCloud, growpart), sshd without root
//! login, and no per-machine identity left in it (host keys, machine-id).
//! The texts are pure functions, tested below.

use crate::mirror;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};

/// What the marker unit prints on the serial console once the system is up; a test waits
/// for `MARKER` followed by the hostname.
pub(crate) const MARKER: &str = "pxe-suite-image: booted";
pub(crate) const HOSTNAME: &str = "debian12";
/// The kernel's consoles: the last one is /dev/console, where the marker goes.
pub(crate) const CONSOLES: &str = "console=tty0 console=ttyS0,115200n8";

/// Identifiers chosen for one build.
pub(crate) struct Ids {
    /// ext4 UUID of the root filesystem.
    pub(crate) root_uuid: String,
    /// FAT volume id of the ESP, `XXXX-XXXX`.
    pub(crate) esp_id: String,
}

/// Runs mmdebstrap into `root` (an absent or empty directory).
pub(crate) fn debootstrap(root: &Path, mirror_dir: &Path, log: &Path) -> Result<()> {
    let keyring = mirror_dir.join(mirror::KEYRING);
    let source = format!(
        "deb [signed-by={}] copy://{} {} main",
        keyring.display(),
        mirror_dir.display(),
        mirror::SUITE
    );
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = Command::new("mmdebstrap")
        .args([
            "--mode=root",
            "--variant=important",
            "--format=directory",
            // Merged /usr the debootstrap way (symlinks plus usr-is-merged).
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            "--aptopt=APT::Install-Recommends \"false\"",
        ])
        .arg(format!("--include={}", mirror::PACKAGES.join(",")))
        .arg(mirror::SUITE)
        .arg(root)
        .arg(source)
        .stdout(log_file.try_clone()?)
        .stderr(Stdio::piped())
        .spawn()
        .context("running mmdebstrap (package mmdebstrap)")?;
    let stderr = child.stderr.take().context("mmdebstrap's stderr")?;
    let relayed = relay_progress(stderr, log_file);
    let status = child.wait().context("waiting for mmdebstrap")?;
    relayed?;
    if !status.success() {
        eprintln!("image: the last lines of {}:", log.display());
        for line in last_lines(log, LOG_TAIL_LINES) {
            eprintln!("image:   {line}");
        }
        eprintln!("image: {}", crate::ci::disk_free(log));
        bail!("mmdebstrap failed ({status}); its log: {}", log.display());
    }
    Ok(())
}

/// How much of mmdebstrap's log a failure shows: its error is near the end, and CI keeps
/// only what was printed.
const LOG_TAIL_LINES: usize = 40;

/// The last `count` lines of a file (none when it cannot be read).
fn last_lines(path: &Path, count: usize) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(count);
    lines[skip..].iter().map(|l| (*l).to_owned()).collect()
}

/// Copies mmdebstrap's messages into its log and shows its phases (`I: ...` lines) on
/// stderr with the time since the start, one line each (rewritten in place on a terminal);
/// its errors and warnings (`E: `, `W: `) are shown as they come, whole.
fn relay_progress(from: impl std::io::Read, mut log: std::fs::File) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let start = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut shown = false;
    for line in std::io::BufReader::new(from).split(b'\n') {
        let line = line.context("reading mmdebstrap's output")?;
        log.write_all(&line)
            .and_then(|()| log.write_all(b"\n"))
            .context("writing mmdebstrap's log")?;
        let text = String::from_utf8_lossy(&line);
        if text.starts_with("E: ") || text.starts_with("W: ") {
            if shown {
                eprintln!();
                shown = false;
            }
            eprintln!("image: mmdebstrap: {text}");
        } else if let Some(phase) = text.strip_prefix("I: ") {
            let phase: String = phase.chars().take(70).collect();
            let secs = start.elapsed().as_secs();
            if tty {
                eprint!("\r\x1b[Kimage: mmdebstrap [{secs:>3} s] {phase}");
                shown = true;
            } else {
                eprintln!("image: mmdebstrap [{secs:>3} s] {phase}");
            }
        }
    }
    if shown {
        eprintln!();
    }
    Ok(())
}

/// Writes the image's own files into `root`.
pub(crate) fn configure(root: &Path, ids: &Ids, keyring: &Path) -> Result<()> {
    write(root, "etc/fstab", &fstab(ids))?;
    write(root, "etc/hostname", &format!("{HOSTNAME}\n"))?;
    write(root, "etc/hosts", &hosts())?;
    write(root, "boot/grub/grub.cfg", &grub_cfg(&ids.root_uuid))?;
    write(root, "etc/default/grub.d/50-pxe-suite.cfg", DEFAULT_GRUB)?;
    write(root, "etc/cloud/cloud.cfg.d/90-pxe-suite.cfg", CLOUD_CFG)?;
    write(root, "etc/ssh/sshd_config.d/50-pxe-suite.conf", SSHD)?;
    write(root, "etc/apt/sources.list", SOURCES_LIST)?;
    for (name, text) in [
        (MARKER_UNIT_NAME, MARKER_UNIT),
        (KEYGEN_UNIT_NAME, KEYGEN_UNIT),
    ] {
        write(root, &format!("etc/systemd/system/{name}"), text)?;
        enable(root, name)?;
    }
    let keyrings = root.join("etc/apt/keyrings");
    std::fs::create_dir_all(&keyrings)?;
    std::fs::copy(keyring, keyrings.join(mirror::KEYRING)).context("copying the keyring")?;
    forget_identity(root)?;
    check_root_locked(root)?;
    copy_grub_modules(root)
}

fn write(root: &Path, rel: &str, text: &str) -> Result<()> {
    let path = root.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

fn enable(root: &Path, unit: &str) -> Result<()> {
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants)?;
    let link = wants.join(unit);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(format!("/etc/systemd/system/{unit}"), &link)
        .with_context(|| format!("enabling {unit}"))
}

/// Host keys and machine-id are made on each machine's first boot, not shared by every
/// copy of the image.
fn forget_identity(root: &Path) -> Result<()> {
    let ssh = root.join("etc/ssh");
    for entry in std::fs::read_dir(&ssh).context("reading etc/ssh")? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("ssh_host_") {
            std::fs::remove_file(&path)?;
        }
    }
    std::fs::write(root.join("etc/machine-id"), "")?;
    let _ = std::fs::remove_file(root.join("var/lib/dbus/machine-id"));
    Ok(())
}

/// Root has no password that can match (`*` or a `!`-locked one).
fn check_root_locked(root: &Path) -> Result<()> {
    let shadow = std::fs::read_to_string(root.join("etc/shadow")).context("reading shadow")?;
    let field = shadow
        .lines()
        .find_map(|l| l.strip_prefix("root:"))
        .and_then(|rest| rest.split(':').next())
        .context("no root entry in etc/shadow")?;
    if field == "*" || field.starts_with('!') {
        Ok(())
    } else {
        bail!("root has a usable password in the image")
    }
}

/// GRUB loads its modules from /boot/grub/<platform> (grub-install copies them there).
fn copy_grub_modules(root: &Path) -> Result<()> {
    for platform in ["i386-pc", "x86_64-efi"] {
        let from = root.join("usr/lib/grub").join(platform);
        let to = root.join("boot/grub").join(platform);
        std::fs::create_dir_all(&to)?;
        for entry in
            std::fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))?
        {
            let path = entry?.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "mod" | "lst" | "img") {
                let name = path.file_name().context("a file name")?;
                std::fs::copy(&path, to.join(name))?;
            }
        }
    }
    Ok(())
}

pub(crate) fn fstab(ids: &Ids) -> String {
    format!(
        "# <file system> <mount point> <type> <options> <dump> <pass>\n\
         UUID={} / ext4 errors=remount-ro 0 1\n\
         UUID={} /boot/efi vfat umask=0077,nofail 0 2\n",
        ids.root_uuid, ids.esp_id
    )
}

fn hosts() -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
}

/// The first boot's GRUB menu, read by both the BIOS and the UEFI GRUB. It boots the
/// `/vmlinuz` and `/initrd.img` links, which kernel upgrades keep current; update-grub on
/// the installed system writes an equivalent one from /etc/default/grub.d.
pub(crate) fn grub_cfg(root_uuid: &str) -> String {
    format!(
        "serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         set timeout=1\n\
         search --no-floppy --fs-uuid --set=root {root_uuid}\n\
         menuentry 'Debian GNU/Linux 12 (pxe-suite image)' {{\n\
         \tlinux /vmlinuz root=UUID={root_uuid} ro {CONSOLES}\n\
         \tinitrd /initrd.img\n\
         }}\n"
    )
}

/// GRUB's early configuration, built into core.img and BOOTX64.EFI: find the root by
/// UUID and read /boot/grub from it.
pub(crate) fn grub_early_cfg(root_uuid: &str) -> String {
    format!(
        "search --no-floppy --fs-uuid --set=root {root_uuid}\n\
         set prefix=($root)/boot/grub\n"
    )
}

const DEFAULT_GRUB: &str = "\
# pxe-suite image: serial console, as the image's first grub.cfg has it.
GRUB_TIMEOUT=1
GRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8\"
GRUB_TERMINAL=\"console serial\"
GRUB_SERIAL_COMMAND=\"serial --unit=0 --speed=115200\"
";

/// NoCloud (a seed on a CIDATA disk, or `ds=nocloud` with a URL on the kernel's command
/// line), None as the fallback so first-boot modules (growpart, resize, host keys) always
/// run; no root login; the locale left alone (the image has no `locales` package, and
/// cloud-init's default, en_US.UTF-8, would fail on every boot).
const CLOUD_CFG: &str = "\
# pxe-suite image
datasource_list: [ NoCloud, None ]
locale: false
growpart:
  mode: auto
  devices: ['/']
resize_rootfs: true
disable_root: true
ssh_pwauth: false
";

const SSHD: &str = "\
# pxe-suite image: keys only, never root.
PermitRootLogin no
PasswordAuthentication no
";

const SOURCES_LIST: &str = "\
# The deploy writes this machine's sources (the lab's mirror is signed by
# /etc/apt/keyrings/pxe-suite-lab-archive.gpg).
";

const MARKER_UNIT_NAME: &str = "pxe-suite-image-marker.service";
const MARKER_UNIT: &str = "\
[Unit]
Description=pxe-suite image: say on the console that the system is up
After=multi-user.target cloud-final.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo \"pxe-suite-image: booted $(hostname)\"'
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
";

const KEYGEN_UNIT_NAME: &str = "pxe-suite-ssh-host-keys.service";
const KEYGEN_UNIT: &str = "\
[Unit]
Description=pxe-suite image: SSH host keys for this machine (when cloud-init made none)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_unit_prints_the_marker() {
        assert!(MARKER_UNIT.contains(&format!("echo \"{MARKER} $(hostname)\"")));
        assert!(DEFAULT_GRUB.contains(CONSOLES));
    }

    #[test]
    fn fstab_and_grub_name_the_root_by_uuid() {
        let ids = Ids {
            root_uuid: "0f0e0d0c-0000-4000-8000-000000000001".into(),
            esp_id: "1234-ABCD".into(),
        };
        let f = fstab(&ids);
        assert!(f.contains("UUID=0f0e0d0c-0000-4000-8000-000000000001 / ext4 "));
        assert!(f.contains("UUID=1234-ABCD /boot/efi vfat "));
        let g = grub_cfg(&ids.root_uuid);
        assert!(g.contains(
            "linux /vmlinuz root=UUID=0f0e0d0c-0000-4000-8000-000000000001 ro \
             console=tty0 console=ttyS0,115200n8\n"
        ));
        assert!(g.starts_with("serial --unit=0 --speed=115200\n"));
        assert_eq!(
            grub_early_cfg("u"),
            "search --no-floppy --fs-uuid --set=root u\nset prefix=($root)/boot/grub\n"
        );
    }
}
