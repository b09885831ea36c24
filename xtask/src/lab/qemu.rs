//! The VMs: qemu with its iPXE option ROM (BIOS), OVMF with or without the ROM (UEFI),
//! KVM when it really boots guests here, TCG otherwise.

use super::net::in_ns;
use super::procs::Proc;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// How the VM's firmware boots from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Firmware {
    /// SeaBIOS with qemu's NIC option ROM, which is iPXE.
    BiosIpxeRom,
    /// OVMF with the NIC's iPXE ROM removed, so OVMF's own PXE runs (arch 7).
    UefiOwnPxe,
    /// OVMF's own network stack steered to UEFI HTTP boot over IPv4 (arch 16,
    /// `HTTPClient`): its fw_cfg switches turn PXE and IPv6 off.
    UefiHttpBoot,
    /// OVMF's Secure Boot build with Microsoft's keys enrolled (Secure Boot on), its own
    /// PXE (arch 7). It needs SMM, so q35 with `smm=on` and a secure pflash.
    UefiSecureBoot,
    /// An arm64 machine: qemu's `virt` board with a Cortex-A57 under TCG and the edk2
    /// build for it (package qemu-efi-aarch64), its own PXE (arch 11).
    UefiArm64,
    /// OVMF's own network stack with IPv4 off (`IPv4Support`): PXE over IPv6.
    UefiIpv6Pxe,
}

/// edk2 for qemu's arm64 `virt` board, as one image given to `-bios`.
const AAVMF_BIOS: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub(crate) fn args(self) -> Vec<String> {
        match self {
            Accel::Kvm => vec!["-accel".into(), "kvm".into(), "-cpu".into(), "host".into()],
            Accel::Tcg => vec!["-accel".into(), "tcg".into()],
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG",
        }
    }
}

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// The Secure Boot build, and a variable store with Microsoft's UEFI CA 2011 in db and
/// Secure Boot enabled (package `ovmf`).
const OVMF_CODE_SECBOOT: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
const OVMF_VARS_MS: &str = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";

/// Starts a VM in namespace `ns` on tap `tap`; its serial console goes to `serial`.
pub(crate) fn start(
    ns: &str,
    name: &str,
    mac: &str,
    tap: &str,
    firmware: Firmware,
    accel: Accel,
    work: &Path,
) -> Result<Proc> {
    let serial = work.join(format!("{name}.serial.log"));
    let mut argv = in_ns(ns);
    let program = if firmware == Firmware::UefiArm64 {
        "qemu-system-aarch64"
    } else {
        "qemu-system-x86_64"
    };
    argv.extend(
        [
            program,
            "-name",
            name,
            "-m",
            "1024",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-serial",
        ]
        .map(String::from),
    );
    argv.push(format!("file:{}", serial.display()));
    if firmware == Firmware::UefiArm64 {
        // Another architecture: emulated whatever this host's KVM can do.
        argv.extend(Accel::Tcg.args());
    } else {
        argv.extend(accel.args());
    }
    argv.push("-netdev".into());
    argv.push(format!("tap,id=n0,ifname={tap},script=no,downscript=no"));
    let mut nic = format!("virtio-net-pci,netdev=n0,mac={mac}");
    match firmware {
        Firmware::BiosIpxeRom => {
            argv.extend(["-boot", "n"].map(String::from));
        }
        Firmware::UefiArm64 => {
            // No option ROM: edk2's own PXE runs.
            nic.push_str(",romfile=");
            argv.extend(
                [
                    "-machine",
                    "virt",
                    "-cpu",
                    "cortex-a57",
                    "-bios",
                    AAVMF_BIOS,
                ]
                .map(String::from),
            );
        }
        Firmware::UefiOwnPxe
        | Firmware::UefiHttpBoot
        | Firmware::UefiSecureBoot
        | Firmware::UefiIpv6Pxe => {
            nic.push_str(",romfile=");
            if firmware == Firmware::UefiIpv6Pxe {
                argv.push("-fw_cfg".into());
                argv.push("name=opt/org.tianocore/IPv4Support,string=no".into());
            }
            if firmware == Firmware::UefiHttpBoot {
                for switch in ["IPv4PXESupport", "IPv6Support", "IPv6PXESupport"] {
                    argv.push("-fw_cfg".into());
                    argv.push(format!("name=opt/org.tianocore/{switch},string=no"));
                }
            }
            let (code, vars_from) = if firmware == Firmware::UefiSecureBoot {
                argv.extend(
                    [
                        "-machine",
                        "q35,smm=on",
                        "-global",
                        "driver=cfi.pflash01,property=secure,value=on",
                    ]
                    .map(String::from),
                );
                (OVMF_CODE_SECBOOT, OVMF_VARS_MS)
            } else {
                (OVMF_CODE, OVMF_VARS)
            };
            let vars = work.join(format!("{name}.OVMF_VARS.fd"));
            std::fs::copy(vars_from, &vars)
                .with_context(|| format!("copying {vars_from} (package ovmf)"))?;
            argv.push("-drive".into());
            argv.push(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={code}"
            ));
            argv.push("-drive".into());
            argv.push(format!(
                "if=pflash,format=raw,unit=1,file={}",
                vars.display()
            ));
        }
    }
    argv.push("-device".into());
    argv.push(nic);
    // The serial log is the one the lab reads; the process log holds qemu's own messages.
    let mut p = Proc::spawn(name, &argv, &work.join(format!("{name}.qemu.log")))?;
    p.log = serial;
    Ok(p)
}

/// KVM only if a guest really boots with it: `/dev/kvm` exists here but guests hang.
pub(crate) fn detect(work: &Path, kernel: &Path, initrd: &Path, marker: &str) -> Accel {
    if !Path::new("/dev/kvm").exists() {
        return Accel::Tcg;
    }
    let serial = work.join("kvm-probe.serial.log");
    let argv: Vec<String> = [
        "qemu-system-x86_64",
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-m",
        "256",
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-kernel",
    ]
    .map(String::from)
    .into_iter()
    .chain([
        kernel.display().to_string(),
        "-initrd".into(),
        initrd.display().to_string(),
        "-append".into(),
        "console=ttyS0 panic=-1".into(),
        "-serial".into(),
        format!("file:{}", serial.display()),
    ])
    .collect();
    let Ok(mut p) = Proc::spawn("kvm-probe", &argv, &work.join("kvm-probe.qemu.log")) else {
        return Accel::Tcg;
    };
    p.log = serial;
    if p.wait_for(marker, std::time::Duration::from_secs(20)) {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// The firmware of an install case's VM, and how it boots from the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DiskFirmware {
    /// SeaBIOS, with qemu's iPXE option ROM on the NIC.
    Bios,
    /// OVMF with its own PXE (the NIC's ROM removed: client architecture 7) and the
    /// machine's own variable store, kept from one boot to the next as NVRAM is.
    Uefi {
        /// A writable copy of `OVMF_VARS_4M.fd` (see [`fresh_ovmf_vars`]).
        vars: PathBuf,
    },
}

/// A new machine's empty UEFI variable store: no boot entries yet.
pub(crate) fn fresh_ovmf_vars(to: &Path) -> Result<()> {
    std::fs::copy(OVMF_VARS, to)
        .with_context(|| format!("copying {OVMF_VARS} to {} (package ovmf)", to.display()))?;
    Ok(())
}

/// A VM of the install cases: a virtio disk, and a NIC first in the boot order when there
/// is one; with none (`-nic none`) the disk alone.
pub(crate) struct DiskVm<'a> {
    pub(crate) name: &'a str,
    pub(crate) firmware: &'a DiskFirmware,
    /// The namespace and the VM's tap and MAC; `None`: no network device at all.
    pub(crate) nic: Option<(&'a str, &'a str, &'a str)>,
    /// A qcow2 file.
    pub(crate) disk: &'a Path,
    /// RAM in MiB.
    pub(crate) memory_mib: u32,
    pub(crate) serial: &'a Path,
    /// The debug port (0x402): SeaBIOS says there which device it boots, or that none is
    /// bootable. Debian's OVMF is a release build and writes nothing there; it says what
    /// it boots on the serial console (`BdsDxe: starting Boot0001 …`).
    pub(crate) firmware_log: &'a Path,
    /// A VGA card (qemu's std VGA, with VESA modes), as graphical boot menus want.
    pub(crate) vga: bool,
}

/// Starts a [`DiskVm`]. Zero writes become zero clusters (`detect-zeroes`) and the host's
/// page cache takes the writes (`cache=unsafe`): the disk is the run's own, and the
/// deploy agent writes a whole raw image.
pub(crate) fn start_disk_vm(vm: &DiskVm<'_>, accel: Accel, work: &Path) -> Result<Proc> {
    let mut argv = match vm.nic {
        Some((ns, _, _)) => in_ns(ns),
        None => Vec::new(),
    };
    argv.extend(["qemu-system-x86_64", "-name", vm.name, "-m"].map(String::from));
    argv.push(vm.memory_mib.to_string());
    argv.extend(
        [
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-serial",
        ]
        .map(String::from),
    );
    argv.push(format!("file:{}", vm.serial.display()));
    argv.extend(accel.args());
    argv.push("-chardev".into());
    argv.push(format!(
        "file,id=firmware,path={}",
        vm.firmware_log.display()
    ));
    argv.extend(["-device", "isa-debugcon,iobase=0x402,chardev=firmware"].map(String::from));
    if vm.vga {
        argv.extend(["-vga", "std"].map(String::from));
    }
    // OVMF follows `bootindex`, as SeaBIOS does.
    let mut rom = "";
    if let DiskFirmware::Uefi { vars } = vm.firmware {
        rom = ",romfile=";
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
    argv.push("-drive".into());
    argv.push(format!(
        "file={},format=qcow2,if=none,id=d0,cache=unsafe,detect-zeroes=unmap,discard=unmap",
        vm.disk.display()
    ));
    argv.extend(["-device", "virtio-blk-pci,drive=d0,bootindex=2"].map(String::from));
    match vm.nic {
        Some((_, tap, mac)) => {
            argv.push("-netdev".into());
            argv.push(format!("tap,id=n0,ifname={tap},script=no,downscript=no"));
            argv.push("-device".into());
            argv.push(format!(
                "virtio-net-pci,netdev=n0,mac={mac},bootindex=1{rom}"
            ));
        }
        None => argv.extend(["-nic", "none"].map(String::from)),
    }
    let mut p = Proc::spawn(vm.name, &argv, &work.join(format!("{}.qemu.log", vm.name)))?;
    p.log = vm.serial.to_owned();
    Ok(p)
}
