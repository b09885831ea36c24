//! What each kind of simulated firmware sends and negotiates: its DHCP identity (client
//! architecture, vendor and user class) and the TFTP options it asks for, as observed of
//! real clients (iPXE, pxelinux, OVMF, GRUB) booting in the lab.

use std::fmt;
use std::str::FromStr;

/// A kind of network-booting machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Firmware {
    /// A BIOS PXE ROM (arch 0) loading pxelinux, which fetches its config and the kernel.
    Bios,
    /// UEFI x64 PXE as OVMF sends it (arch 7), loading GRUB's network image.
    Uefi,
    /// UEFI x64 firmware that says arch 9 (RFC 4578's other EFI x86-64 code).
    Uefi9,
    /// iPXE (arch 0 with user class `iPXE`): its boot file is usually a script URL.
    Ipxe,
}

impl Firmware {
    pub const ALL: [Firmware; 4] = [
        Firmware::Bios,
        Firmware::Uefi,
        Firmware::Uefi9,
        Firmware::Ipxe,
    ];

    /// RFC 4578 client system architecture (option 93).
    pub fn arch(self) -> u16 {
        match self {
            Firmware::Bios | Firmware::Ipxe => 0,
            Firmware::Uefi => 7,
            Firmware::Uefi9 => 9,
        }
    }

    /// Option 60 as the firmware sends it.
    pub fn vendor_class(self) -> String {
        let undi = if self.arch() == 0 { "002001" } else { "003000" };
        format!("PXEClient:Arch:{:05}:UNDI:{undi}", self.arch())
    }

    /// Option 77, when the firmware sends one.
    pub fn user_class(self) -> Option<&'static [u8]> {
        match self {
            Firmware::Ipxe => Some(b"iPXE"),
            _ => None,
        }
    }

    /// TFTP options for the boot loader itself (what the firmware asks).
    pub fn loader_options(self) -> TftpOptions {
        match self {
            // iPXE, as the BIOS ROM and as a client of its own.
            Firmware::Bios | Firmware::Ipxe => TftpOptions::new(1432, 1),
            // OVMF: blksize 1468, windowsize 4, after a tsize probe it aborts.
            Firmware::Uefi | Firmware::Uefi9 => TftpOptions {
                probe_size: true,
                ..TftpOptions::new(1468, 4)
            },
        }
    }

    /// TFTP options for what the loader fetches next (its config, the kernel).
    pub fn next_options(self) -> TftpOptions {
        match self {
            Firmware::Bios => TftpOptions::new(1408, 1),
            Firmware::Ipxe => TftpOptions::new(1432, 1),
            Firmware::Uefi | Firmware::Uefi9 => TftpOptions::new(1024, 1),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
            Firmware::Uefi9 => "uefi9",
            Firmware::Ipxe => "ipxe",
        }
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Firmware {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Firmware::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown firmware `{s}` (expected bios, uefi, uefi9 or ipxe)"))
    }
}

/// The options of one TFTP read request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TftpOptions {
    pub blksize: u16,
    /// RFC 7440 windowsize; 1 is plain lock-step and is not asked for.
    pub windowsize: u16,
    /// First ask for `tsize` and abort after the OACK (OVMF's size probe), then read.
    pub probe_size: bool,
}

impl TftpOptions {
    pub fn new(blksize: u16, windowsize: u16) -> TftpOptions {
        TftpOptions {
            blksize,
            windowsize,
            probe_size: false,
        }
    }
}

/// How many machines of each firmware a storm has: `bios=40,uefi=40,ipxe=20` in percent
/// (or any weights).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix(Vec<(Firmware, u32)>);

impl Mix {
    /// The firmware of machine `i`: the weights interleaved (smooth weighted round robin)
    /// so that any prefix of a storm (a ramp's first second) has about the mix of the whole.
    pub fn pick(&self, i: usize) -> Firmware {
        let total: i64 = self.0.iter().map(|(_, w)| i64::from(*w)).sum();
        let slot = i % usize::try_from(total.max(1)).unwrap_or(1);
        let mut current = vec![0i64; self.0.len()];
        let mut chosen = 0;
        for _ in 0..=slot {
            for (c, (_, w)) in current.iter_mut().zip(&self.0) {
                *c += i64::from(*w);
            }
            chosen = (0..current.len())
                .max_by_key(|k| (current[*k], usize::MAX - *k))
                .unwrap_or(0);
            current[chosen] -= total;
        }
        self.0.get(chosen).map_or(Firmware::Bios, |(f, _)| *f)
    }

    pub fn parts(&self) -> &[(Firmware, u32)] {
        &self.0
    }
}

impl Default for Mix {
    fn default() -> Mix {
        Mix(vec![
            (Firmware::Bios, 40),
            (Firmware::Uefi, 30),
            (Firmware::Uefi9, 10),
            (Firmware::Ipxe, 20),
        ])
    }
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Mix, String> {
        let mut parts = Vec::new();
        for item in s.split(',').filter(|p| !p.is_empty()) {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: expected FIRMWARE=WEIGHT, e.g. bios=40"))?;
            let firmware: Firmware = name.trim().parse()?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("`{item}`: the weight must be a whole number"))?;
            if parts.iter().any(|(f, _)| *f == firmware) {
                return Err(format!("`{name}` is named twice"));
            }
            if weight > 0 {
                parts.push((firmware, weight));
            }
        }
        if parts.is_empty() {
            return Err("the mix names no firmware with a weight above 0".into());
        }
        Ok(Mix(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_class_is_what_firmware_sends() {
        assert_eq!(
            Firmware::Bios.vendor_class(),
            "PXEClient:Arch:00000:UNDI:002001"
        );
        assert_eq!(
            Firmware::Uefi.vendor_class(),
            "PXEClient:Arch:00007:UNDI:003000"
        );
        assert_eq!(Firmware::Uefi9.arch(), 9);
        assert_eq!(Firmware::Ipxe.user_class(), Some(&b"iPXE"[..]));
    }

    #[test]
    fn mix_follows_its_weights() {
        let mix: Mix = "bios=3,uefi=1".parse().expect("mix");
        let n = 4000;
        let bios = (0..n).filter(|i| mix.pick(*i) == Firmware::Bios).count();
        assert!((2900..3100).contains(&bios), "bios {bios} of {n}");
        // Any early slice already has both kinds.
        assert!((0..20).any(|i| mix.pick(i) == Firmware::Uefi));
    }

    #[test]
    fn mix_refuses_nonsense() {
        assert!("bios".parse::<Mix>().is_err());
        assert!("bios=x".parse::<Mix>().is_err());
        assert!("arm=1".parse::<Mix>().is_err());
        assert!("bios=0".parse::<Mix>().is_err());
        assert!("bios=1,bios=2".parse::<Mix>().is_err());
    }
}
