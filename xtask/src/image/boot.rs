//! `cargo xtask image --check`: the image boots from its disk under qemu (TCG) with
//! SeaBIOS and with OVMF, no network device, each until the marker line shows on the
//! serial console; the time to it is reported. The disk is opened with `snapshot=on`, so
//! the image is never written.
//!
//! qemu is the one on PATH; when there is none, Debian's qemu-system-x86 and the libraries
//! this machine lacks are unpacked (`apt-get download`, `dpkg -x`) under the target
//! directory and run from there: installing the package would remove the machine's newer
//! qemu-utils, which breaks it.

use super::rootfs::{HOSTNAME, MARKER};
use crate::lab::procs::Proc;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a boot may take to show the marker (TCG on a shared machine).
const LIMIT: Duration = Duration::from_secs(6 * 60);
/// How long GRUB's menu may take (seen here: under 7 s with either firmware); a disk the
/// firmware cannot boot often shows nothing at all, so the check need not wait [`LIMIT`].
const GRUB_LIMIT: Duration = Duration::from_secs(90);
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Debian packages unpacked when qemu is not installed: qemu, its firmware, and the
/// libraries of its dependencies that a machine without it usually lacks.
const QEMU_DEBS: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-common",
    "qemu-system-data",
    "seabios",
    "libcapstone4",
    "libfdt1",
    "libpmem1",
    "libndctl6",
    "libdaxctl1",
    "librdmacm1",
    "libibverbs1",
    "libnl-3-200",
    "libnl-route-3-200",
    "libslirp0",
    "libvdeplug2",
];

#[derive(Debug, Clone, Copy)]
pub(crate) enum Firmware {
    SeaBios,
    Ovmf,
}

impl Firmware {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Firmware::SeaBios => "SeaBIOS",
            Firmware::Ovmf => "OVMF",
        }
    }
}

/// How to start qemu: the program, its library path and data directories.
pub(crate) struct Qemu {
    program: PathBuf,
    lib_path: Option<PathBuf>,
    data_dirs: Vec<PathBuf>,
}

impl Qemu {
    /// The installed qemu, or one unpacked under `cache`.
    pub(crate) fn find(cache: &Path) -> Result<Qemu> {
        let installed = Command::new("qemu-system-x86_64")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if installed {
            return Ok(Qemu {
                program: "qemu-system-x86_64".into(),
                lib_path: None,
                data_dirs: Vec::new(),
            });
        }
        let root = cache.join("qemu-root");
        let qemu = Qemu {
            program: root.join("usr/bin/qemu-system-x86_64"),
            lib_path: Some(root.join("usr/lib/x86_64-linux-gnu")),
            data_dirs: vec![root.join("usr/share/qemu"), root.join("usr/share/seabios")],
        };
        if !qemu.runs() {
            unpack(cache, &root)?;
            if !qemu.runs() {
                bail!("the qemu unpacked in {} does not start", root.display());
            }
        }
        Ok(qemu)
    }

    fn runs(&self) -> bool {
        self.base_command()
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn base_command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        if let Some(lib) = &self.lib_path {
            cmd.env("LD_LIBRARY_PATH", lib);
        }
        cmd
    }

    /// The whole command line of a boot of `disk` with `firmware`, serial to `serial`.
    /// `firmware_log` gets the firmware's debug port (0x402): SeaBIOS says there which
    /// device it boots, or that none is bootable.
    fn argv(
        &self,
        disk: &Path,
        firmware: Firmware,
        serial: &Path,
        firmware_log: &Path,
        vars: &Path,
    ) -> Vec<String> {
        let mut argv = vec![self.program.display().to_string()];
        for dir in &self.data_dirs {
            argv.extend(["-L".to_owned(), dir.display().to_string()]);
        }
        argv.extend(
            [
                "-accel",
                "tcg",
                "-m",
                "1024",
                "-nodefaults",
                "-display",
                "none",
                "-no-reboot",
                // No network device: the disk alone boots.
                "-nic",
                "none",
            ]
            .map(String::from),
        );
        argv.push("-serial".into());
        argv.push(format!("file:{}", serial.display()));
        argv.push("-chardev".into());
        argv.push(format!("file,id=firmware,path={}", firmware_log.display()));
        argv.extend(["-device", "isa-debugcon,iobase=0x402,chardev=firmware"].map(String::from));
        argv.push("-drive".into());
        argv.push(format!(
            "file={},format=raw,if=virtio,snapshot=on",
            disk.display()
        ));
        if let Firmware::Ovmf = firmware {
            argv.push("-drive".into());
            argv.push(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
            ));
            argv.push("-drive".into());
            argv.push(format!(
                "if=pflash,format=raw,unit=1,file={}",
                vars.display()
            ));
        }
        argv
    }
}

fn unpack(cache: &Path, root: &Path) -> Result<()> {
    eprintln!(
        "image: qemu-system-x86_64 is not installed; unpacking Debian's under {}",
        root.display()
    );
    let debs = cache.join("qemu-debs");
    let _ = std::fs::remove_dir_all(&debs);
    std::fs::create_dir_all(&debs)?;
    let status = Command::new("apt-get")
        .args(["download", "-qq"])
        .args(QEMU_DEBS)
        .current_dir(&debs)
        .status()
        .context("running apt-get download")?;
    if !status.success() {
        bail!("apt-get download of qemu's packages failed ({status})");
    }
    for entry in std::fs::read_dir(&debs)? {
        let deb = entry?.path();
        let status = Command::new("dpkg")
            .arg("-x")
            .arg(&deb)
            .arg(root)
            .status()
            .context("running dpkg -x")?;
        if !status.success() {
            bail!("dpkg -x {} failed", deb.display());
        }
    }
    Ok(())
}

/// What a boot shows on the serial console, in order, and what each line proves.
pub(crate) const PHASES: &[(&str, &str)] = &[
    ("GRUB", "GNU GRUB"),
    ("kernel", "Linux version"),
    ("login prompt", "login:"),
    ("marker", MARKER),
];

/// Lines after which the boot cannot succeed (on the serial console or the firmware's
/// debug port): the check stops at once instead of waiting out its limit.
pub(crate) const FATAL: &[&str] = &[
    // SeaBIOS, when no disk has a boot sector.
    "No bootable device",
    // OVMF, when no boot option loads.
    "No bootable option or device was found",
    // OVMF, when the disk's option failed and the next one, its built-in shell, started
    // (seen with BOOTX64.EFI removed from the ESP).
    "starting Boot0002 \"EFI Internal Shell\"",
    "Shell> ",
    // GRUB, when its core finds no root or no modules.
    "grub rescue>",
    "Kernel panic",
    // The initramfs, when it finds no root.
    "(initramfs)",
];

/// The first line of `text` that holds one of [`FATAL`].
pub(crate) fn fatal(text: &str) -> Option<&str> {
    text.lines()
        .find(|line| FATAL.iter().any(|f| line.contains(f)))
        .map(str::trim)
}

/// The last line of `text` with letters in it, cut to 160 characters.
fn last_line(text: &str) -> Option<&str> {
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.chars().any(char::is_alphabetic))?;
    Some(
        line.char_indices()
            .nth(160)
            .map_or(line, |(i, _)| &line[..i]),
    )
}

/// When each of [`PHASES`] showed, from qemu's start.
pub(crate) type Times = Vec<(&'static str, Duration)>;

/// The needle of phase `name` for this image: the prompt and the marker name the host.
fn needle(name: &str, text: &str) -> String {
    match name {
        "login prompt" => format!("{HOSTNAME} {text}"),
        "marker" => format!("{text} {HOSTNAME}"),
        _ => text.to_owned(),
    }
}

/// The phases of [`PHASES`] that `serial` shows (the console's text so far).
pub(crate) fn seen(serial: &str) -> Vec<&'static str> {
    PHASES
        .iter()
        .filter(|(name, text)| serial.contains(&needle(name, text)))
        .map(|(name, _)| *name)
        .collect()
}

/// Boots `disk` once with `firmware` until every phase has shown; returns when each did.
pub(crate) fn boot(qemu: &Qemu, disk: &Path, firmware: Firmware, work: &Path) -> Result<Times> {
    std::fs::create_dir_all(work)?;
    let tag = firmware.name().to_ascii_lowercase();
    let serial = work.join(format!("{tag}.serial.log"));
    let vars = work.join(format!("{tag}.OVMF_VARS.fd"));
    if let Firmware::Ovmf = firmware {
        std::fs::copy(OVMF_VARS, &vars).context("copying OVMF's variables (package ovmf)")?;
    }
    let firmware_log = work.join(format!("{tag}.firmware.log"));
    let _ = std::fs::remove_file(&serial);
    let argv = qemu.argv(disk, firmware, &serial, &firmware_log, &vars);
    let start = Instant::now();
    let mut cmd = qemu.base_command();
    cmd.args(&argv[1..]);
    let mut vm = Proc::spawn_command(
        &format!("qemu-{tag}"),
        cmd,
        &work.join(format!("{tag}.qemu.log")),
    )?;
    vm.log = serial.clone();
    eprintln!(
        "image: booting with {} (TCG, pid {}), waiting up to {} s for \"{HOSTNAME} login:\" \
         and \"{MARKER} {HOSTNAME}\"",
        firmware.name(),
        vm.pid(),
        LIMIT.as_secs()
    );
    let mut times: Times = Vec::new();
    let mut ended = false;
    while times.len() < PHASES.len() && start.elapsed() < LIMIT {
        ended = !vm.alive();
        let console = vm.log_text();
        let firmware_text = std::fs::read(&firmware_log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if let Some(line) = fatal(&console).or_else(|| fatal(&firmware_text)) {
            let line = line.to_owned();
            vm.stop();
            bail!(
                "{}: the boot failed after {:.0} s: \"{line}\"; the console: {}, the firmware's \
                 log: {}",
                firmware.name(),
                start.elapsed().as_secs_f64(),
                serial.display(),
                firmware_log.display()
            );
        }
        if start.elapsed() > GRUB_LIMIT && !seen(&console).contains(&"GRUB") {
            vm.stop();
            let last = last_line(&firmware_text)
                .or_else(|| last_line(&console))
                .unwrap_or("(nothing)")
                .to_owned();
            bail!(
                "{}: no GRUB menu on the serial console within {} s; the last line of the \
                 firmware: \"{last}\"; the console: {}, the firmware's log: {}",
                firmware.name(),
                GRUB_LIMIT.as_secs(),
                serial.display(),
                firmware_log.display()
            );
        }
        for name in seen(&console) {
            if !times.iter().any(|(n, _)| *n == name) {
                let at = start.elapsed();
                eprintln!(
                    "image: {}: {name} after {:.1} s",
                    firmware.name(),
                    at.as_secs_f64()
                );
                times.push((name, at));
            }
        }
        if ended {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    vm.stop();
    if times.len() < PHASES.len() {
        let missing: Vec<&str> = PHASES
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !times.iter().any(|(n, _)| n == name))
            .collect();
        bail!(
            "{}: no {} on the serial console within {} s (qemu {}); the console: {}, the \
             firmware's log: {}",
            firmware.name(),
            missing.join(", "),
            LIMIT.as_secs(),
            if ended { "ended by itself" } else { "stopped" },
            serial.display(),
            firmware_log.display()
        );
    }
    times.sort_by_key(|(_, t)| *t);
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_name_the_host() {
        let console = "GNU GRUB  version 2.06\r\n[    0.0] Linux version 6.1.0\r\n\
                       debian12 login: [ 50.1] sh[399]: pxe-suite-image: booted debian12\r\n";
        assert_eq!(seen(console), ["GRUB", "kernel", "login prompt", "marker"]);
        // Another host's prompt and marker prove nothing.
        let other = "GNU GRUB\nLinux version\nother login: pxe-suite-image: booted other\n";
        assert_eq!(seen(other), ["GRUB", "kernel"]);
    }

    #[test]
    fn fatal_lines_stop_the_wait() {
        let seabios = "Booting from Hard Disk...\nBoot failed: not a bootable disk\n\n\
                       No bootable device.  Retrying in 60 seconds.\n";
        assert_eq!(
            fatal(seabios),
            Some("No bootable device.  Retrying in 60 seconds.")
        );
        assert_eq!(
            fatal("error: no such device: 1234.\ngrub rescue> "),
            Some("grub rescue>")
        );
        assert_eq!(
            fatal("GNU GRUB\n[ 1.0] Linux version 6.1\ndebian12 login:"),
            None
        );
    }
}
