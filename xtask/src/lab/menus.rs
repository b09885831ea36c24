//! Case h (issue 16 part 5): the generated pxelinux menu as the seed guides style it, run
//! by Debian's real pxelinux in a SeaBIOS VM. The inventory asks for vesamenu.c32 with a
//! background image and a local-boot entry (`localboot: 0xffff`, written `LOCALBOOT -1`)
//! as the default; our tftpd serves the menu, the module, its libraries and the image; when
//! the menu times out pxelinux hands the machine back to the BIOS, which boots its disk: a
//! boot sector that says so on the serial console.

use super::probe::{Logs, Source, phase};
use super::qemu::{self, DiskFirmware, DiskVm};
use super::{Lab, Report, interrupted, net, root_dir, verdict};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

const MAC: &str = "52:54:00:77:00:21";

/// What the disk's boot sector prints on COM1.
pub(crate) const DISK_MARKER: &str = "pxe-lab: local disk boot sector running";

/// The syslinux 6 files the menu needs (`tftpd --check` lists the same).
const MODULES: &[&str] = &["ldlinux.c32", "libutil.c32", "libcom32.c32", "vesamenu.c32"];

const INVENTORY: &str = "\
# Case h: no machines; an unknown machine gets the menu, styled as the seed guides do.
servers:
  tftp: 10.77.0.2
  http: http://10.77.0.3:8080
menu:
  title: pxe-suite lab (vesamenu)
  timeout: 3
  default: next-device
  ui: vesamenu
  background: splash.png
  prompt: false
  colors:
    title: \"1;36;44 #c00090f0 #00000000 std\"
  entries:
    next-device:
      kind: local
      label: Boot the next device (the disk)
      localboot: \"0xffff\"
";

/// A BIOS boot sector: write [`DISK_MARKER`] to COM1 (port 0x3f8), then halt. Assembled
/// from (GNU as, `.code16`, linked at 0x7c00):
/// `cli; cld; xor %ax,%ax; mov %ax,%ds; mov $msg,%si; mov $0x3f8,%dx;
///  1: lodsb; test %al,%al; jz 2f; out %al,%dx; jmp 1b; 2: hlt; jmp 2b; msg: .asciz "…\r\n"`.
pub(super) fn boot_sector() -> Vec<u8> {
    let mut s = vec![
        0xfa, 0xfc, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x17, 0x7c, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0,
        0x74, 0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd,
    ];
    // The message starts right after the code, at 0x7c17 (the `mov $msg,%si` above).
    debug_assert_eq!(s.len(), 0x17);
    s.extend_from_slice(DISK_MARKER.as_bytes());
    s.extend_from_slice(b"\r\n\0");
    s.resize(510, 0);
    s.extend_from_slice(&[0x55, 0xaa]);
    s
}

/// The TFTP root: Debian's pxelinux.0 and modules, and the splash image.
fn tftp_root(lab: &Lab) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let root = lab.work.join("menus-tftpboot");
    std::fs::create_dir_all(&root)?;
    std::fs::copy(super::assets::PXELINUX, root.join("pxelinux.0"))?;
    for m in MODULES {
        std::fs::copy(
            Path::new("/usr/lib/syslinux/modules/bios").join(m),
            root.join(m),
        )
        .with_context(|| format!("{m} (syslinux-common)"))?;
    }
    std::fs::copy(
        root_dir().join("deploy/examples/lab/splash.png"),
        root.join("splash.png"),
    )?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
    for e in std::fs::read_dir(&root)? {
        std::fs::set_permissions(e?.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(root)
}

/// A qcow2 disk whose first sector is [`boot_sector`].
fn disk(lab: &Lab) -> Result<PathBuf> {
    let raw = lab.work.join("menus-disk.raw");
    let mut bytes = boot_sector();
    bytes.resize(1 << 20, 0);
    std::fs::write(&raw, bytes)?;
    let qcow = lab.work.join("menus-disk.qcow2");
    let _ = std::fs::remove_file(&qcow);
    let status = std::process::Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&qcow)
        .status()
        .context("qemu-img")?;
    anyhow::ensure!(status.success(), "qemu-img convert failed ({status})");
    Ok(qcow)
}

pub(crate) fn case_h(lab: &mut Lab) -> Result<Report> {
    let root = tftp_root(lab)?;
    let qcow = disk(lab)?;
    // dhcpd gives boot files to inventory machines only; this one is unknown, so the
    // classic `class "pxeclients"` configuration names pxelinux.0 for it.
    let conf = root_dir().join("deploy/examples/lab/dhcpd-classic.conf");
    let (ns, logs, _) = lab.single_host("menus", &conf, Some(Some(INVENTORY)), &root)?;
    let start = Instant::now();
    let tap = "tapmenu0";
    let serial = lab.work.join("menus-vm.serial.log");
    let firmware_log = lab.work.join("menus-vm.firmware.log");
    for f in [&serial, &firmware_log] {
        let _ = std::fs::remove_file(f);
    }
    let mut files: Vec<(Source, PathBuf)> =
        logs.files.iter().map(|(s, p, _)| (*s, p.clone())).collect();
    files.push((Source::Serial, serial.clone()));
    files.push((Source::Firmware, firmware_log.clone()));
    let these = Logs::new(files);
    let netns = lab
        .nets
        .iter()
        .find(|n| n.name == ns)
        .context("the VM's namespace")?;
    let _ = netns.ip(&["link", "del", tap]);
    netns.tap(tap, "br0")?;
    let vm = DiskVm {
        name: "menus-vm",
        firmware: &DiskFirmware::Bios,
        nic: Some((&ns, tap, MAC)),
        disk: &qcow,
        serial: &serial,
        firmware_log: &firmware_log,
        vga: true,
        memory_mib: 1024,
    };
    let phases = vec![
        phase(Source::Dhcp, "DHCPACK on", "DHCP: address and pxelinux.0"),
        phase(Source::Tftp, "file=pxelinux.0", "TFTP: Debian's pxelinux.0"),
        phase(Source::Tftp, "file=ldlinux.c32", "TFTP: ldlinux.c32"),
        phase(
            Source::Tftp,
            "file=pxelinux.cfg/default",
            "TFTP: generated pxelinux.cfg/default (vesamenu, localboot entry)",
        ),
        phase(Source::Tftp, "file=vesamenu.c32", "TFTP: vesamenu.c32"),
        phase(Source::Tftp, "file=libcom32.c32", "TFTP: libcom32.c32"),
        phase(Source::Tftp, "file=libutil.c32", "TFTP: libutil.c32"),
        phase(
            Source::Tftp,
            "file=splash.png",
            "TFTP: the background image",
        ),
        phase(
            Source::Firmware,
            "Booting from Hard Disk",
            "BIOS: LOCALBOOT -1 handed back, next device is the disk",
        ),
        phase(
            Source::Serial,
            DISK_MARKER,
            "VM: the disk's boot sector runs",
        ),
    ];
    let done = phase(Source::Serial, DISK_MARKER, "");
    let limit = match lab.accel {
        qemu::Accel::Kvm => std::time::Duration::from_secs(120),
        qemu::Accel::Tcg => std::time::Duration::from_secs(240),
    };
    let mut q = qemu::start_disk_vm(&vm, lab.accel, &lab.work)?;
    let seen = super::probe::watch(&these, &phases, &done, limit, &interrupted, || q.alive());
    q.stop();
    let _ = net::ip(&["-n", &ns, "link", "del", tap]);
    let r = verdict(
        "h. Real pxelinux: vesamenu menu, LOCALBOOT to the disk",
        &phases,
        &seen,
        start.elapsed(),
    );
    lab.stop_all();
    Ok(r)
}

const MEMTEST_MAC: &str = "52:54:00:77:00:22";

/// Debian's memtest86+ for BIOS (a Linux-bootable image, named `.bin`).
const MEMTEST: &str = "/boot/memtest86+x64.bin";

const MEMTEST_INVENTORY: &str = "\
# Case i: the menu's memtest entry is its default.
servers:
  tftp: 10.77.0.2
  http: http://10.77.0.3:8080
menu:
  timeout: 1
  default: memtest
  entries:
    memtest:
      kind: memtest
      label: Memory test
      kernel: memtest86+x64.bin
      kernel_args: console=ttyS0,115200
";

/// Case i: the generated menu's memtest entry starts Debian's memtest86+ through pxelinux
/// (a `LINUX` line: under `KERNEL`, ldlinux would load the `.bin` as a boot sector).
pub(crate) fn case_i(lab: &mut Lab) -> Result<Report> {
    use std::os::unix::fs::PermissionsExt;
    let root = lab.work.join("memtest-tftpboot");
    std::fs::create_dir_all(&root)?;
    std::fs::copy(super::assets::PXELINUX, root.join("pxelinux.0"))?;
    for m in ["ldlinux.c32", "libutil.c32", "menu.c32"] {
        std::fs::copy(
            Path::new("/usr/lib/syslinux/modules/bios").join(m),
            root.join(m),
        )?;
    }
    std::fs::copy(MEMTEST, root.join("memtest86+x64.bin")).context("memtest86+")?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
    for e in std::fs::read_dir(&root)? {
        std::fs::set_permissions(e?.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    let conf = root_dir().join("deploy/examples/lab/dhcpd-classic.conf");
    let (ns, logs, _) = lab.single_host("memtest", &conf, Some(Some(MEMTEST_INVENTORY)), &root)?;
    let spec = super::Spec {
        title: "i. Real pxelinux: the menu's memtest entry runs memtest86+",
        vm: "memtest-vm",
        mac: MEMTEST_MAC,
        firmware: qemu::Firmware::BiosIpxeRom,
        phases: vec![
            phase(Source::Dhcp, "DHCPACK on", "DHCP: address and pxelinux.0"),
            phase(Source::Tftp, "file=pxelinux.0", "TFTP: Debian's pxelinux.0"),
            phase(
                Source::Tftp,
                "file=pxelinux.cfg/default",
                "TFTP: generated pxelinux.cfg/default (memtest entry)",
            ),
            phase(Source::Tftp, "file=menu.c32", "TFTP: menu.c32"),
            phase(
                Source::Tftp,
                "file=memtest86+x64.bin",
                "TFTP: memtest86+x64.bin",
            ),
            phase(
                Source::Serial,
                "Memtest86+",
                "VM: memtest86+ runs (serial console)",
            ),
        ],
        done: phase(Source::Serial, "Memtest86+", ""),
        tcg_secs: 240,
    };
    let r = lab.run(&ns, &logs, &spec);
    lab.stop_all();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_sector_is_one_sector_with_its_signature_and_message() {
        let s = boot_sector();
        assert_eq!(s.len(), 512);
        assert_eq!(&s[510..], &[0x55, 0xaa]);
        // `mov $msg,%si` points at the message.
        let at = usize::from(u16::from_le_bytes([s[7], s[8]]) - 0x7c00);
        assert!(s[at..].starts_with(DISK_MARKER.as_bytes()));
    }

    #[test]
    fn the_inventory_renders_the_menu_the_case_expects() {
        let inv = pxe_model::load_str("case-h.yaml", INVENTORY, Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}"));
        let menu = pxe_model::render::pxelinux::default_menu(&inv);
        for want in [
            "UI vesamenu.c32\n",
            "DEFAULT next-device\n",
            "MENU BACKGROUND splash.png\n",
            "  LOCALBOOT -1\n",
        ] {
            assert!(menu.contains(want), "{want}\n{menu}");
        }
        assert_eq!(pxe_model::syslinux::menu_modules(&inv), MODULES);
    }

    #[test]
    fn the_memtest_menu_loads_it_as_a_linux_image() {
        let inv = pxe_model::load_str("case-i.yaml", MEMTEST_INVENTORY, Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}"));
        let menu = pxe_model::render::pxelinux::default_menu(&inv);
        assert!(
            menu.contains("DEFAULT memtest\n")
                && menu.contains("  LINUX memtest86+x64.bin\n  APPEND console=ttyS0,115200\n"),
            "{menu}"
        );
    }
}
