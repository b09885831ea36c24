//! What a booting client says about itself in DHCP, reduced to what a boot plan needs.

use crate::mac::MacAddr;
use std::net::Ipv4Addr;

/// Client system architecture, DHCP option 93 (RFC 4578, IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientArch {
    /// 0: x86 BIOS.
    Bios,
    /// 6: x86 UEFI.
    UefiIa32,
    /// 7 (and 9, which some firmware sends for the same machine): x64 UEFI.
    UefiX64,
    /// 11: ARM 64-bit UEFI.
    UefiArm64,
    /// 15: x86 UEFI HTTP boot.
    HttpIa32,
    /// 16: x64 UEFI HTTP boot.
    HttpX64,
    /// 19: ARM 64-bit UEFI HTTP boot.
    HttpArm64,
    /// Anything else: no loader is known for it.
    Other(u16),
}

impl ClientArch {
    pub fn from_code(code: u16) -> ClientArch {
        match code {
            0 => ClientArch::Bios,
            6 => ClientArch::UefiIa32,
            7 | 9 => ClientArch::UefiX64,
            11 => ClientArch::UefiArm64,
            15 => ClientArch::HttpIa32,
            16 => ClientArch::HttpX64,
            19 => ClientArch::HttpArm64,
            other => ClientArch::Other(other),
        }
    }

    /// True for the UEFI HTTP boot architectures, which take a URL as boot file.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            ClientArch::HttpIa32 | ClientArch::HttpX64 | ClientArch::HttpArm64
        )
    }

    /// The firmware family, which decides the loader.
    pub fn firmware(self) -> Option<Firmware> {
        match self {
            ClientArch::Bios => Some(Firmware::Bios),
            ClientArch::UefiIa32 | ClientArch::HttpIa32 => Some(Firmware::UefiIa32),
            ClientArch::UefiX64 | ClientArch::HttpX64 => Some(Firmware::UefiX64),
            ClientArch::UefiArm64 | ClientArch::HttpArm64 => Some(Firmware::UefiArm64),
            ClientArch::Other(_) => None,
        }
    }
}

/// The firmware families a loader is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Firmware {
    Bios,
    UefiIa32,
    UefiX64,
    UefiArm64,
}

impl Firmware {
    pub fn is_uefi(self) -> bool {
        self != Firmware::Bios
    }
}

/// What a DHCP client said, as far as booting goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// `chaddr`.
    pub mac: MacAddr,
    /// Option 93, if sent.
    pub arch: Option<u16>,
    /// Option 60, if sent (`PXEClient:Arch:00007:UNDI:003016`, `HTTPClient:…`, `d-i`).
    pub vendor_class: Option<String>,
    /// Option 77, raw (iPXE sends the bare string `iPXE`).
    pub user_class: Option<Vec<u8>>,
    /// Whether option 175 (iPXE's encapsulated options) was present.
    pub ipxe_options: bool,
    /// Option 97, the 16 bytes of the machine UUID (after the type byte), if sent.
    pub uuid: Option<[u8; 16]>,
    /// The address the client has or is being given, if known (for pxelinux's hex-IP names).
    pub address: Option<Ipv4Addr>,
}

impl ClientInfo {
    /// A client that said nothing but its MAC.
    pub fn new(mac: MacAddr) -> ClientInfo {
        ClientInfo {
            mac,
            arch: None,
            vendor_class: None,
            user_class: None,
            ipxe_options: false,
            uuid: None,
            address: None,
        }
    }

    /// The architecture; a PXE client that leaves out option 93 is taken to be BIOS.
    pub fn client_arch(&self) -> ClientArch {
        ClientArch::from_code(self.arch.unwrap_or(0))
    }

    pub fn is_pxe(&self) -> bool {
        self.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with("PXEClient"))
    }

    pub fn is_http_client(&self) -> bool {
        self.vendor_class
            .as_deref()
            .is_some_and(|v| v.starts_with("HTTPClient"))
    }

    /// True when the client is already running iPXE: user class `iPXE` (bare, as iPXE
    /// sends it, or RFC 3004 length-prefixed) or option 175 present.
    pub fn is_ipxe(&self) -> bool {
        if self.ipxe_options {
            return true;
        }
        let Some(uc) = self.user_class.as_deref() else {
            return false;
        };
        if uc == b"iPXE" {
            return true;
        }
        // RFC 3004: a sequence of (length, bytes) items.
        let mut rest = uc;
        while let Some((&len, tail)) = rest.split_first() {
            let len = usize::from(len);
            if len > tail.len() {
                return false;
            }
            if &tail[..len] == b"iPXE" {
                return true;
            }
            rest = &tail[len..];
        }
        false
    }

    /// The UUID in the form pxelinux asks for: lower-case, dashed, with the first
    /// three fields in the byte order SMBIOS stores them (pxelinux prints the raw bytes).
    pub fn uuid_string(&self) -> Option<String> {
        self.uuid.map(|u| format_uuid(&u))
    }
}

/// Formats 16 bytes as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, in byte order.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientInfo {
        ClientInfo::new(MacAddr([0x52, 0x54, 0, 1, 2, 3]))
    }

    #[test]
    fn arch_codes() {
        assert_eq!(ClientArch::from_code(9), ClientArch::UefiX64);
        assert_eq!(ClientArch::from_code(7), ClientArch::UefiX64);
        assert_eq!(
            ClientArch::from_code(16).firmware(),
            Some(Firmware::UefiX64)
        );
        assert!(ClientArch::from_code(19).is_http());
        assert_eq!(ClientArch::from_code(2).firmware(), None);
    }

    #[test]
    fn ipxe_detection() {
        let mut c = client();
        assert!(!c.is_ipxe());
        c.user_class = Some(b"iPXE".to_vec());
        assert!(c.is_ipxe());
        c.user_class = Some(b"\x04iPXE".to_vec());
        assert!(c.is_ipxe());
        c.user_class = Some(b"\x05iPXE".to_vec());
        assert!(!c.is_ipxe());
        c.user_class = None;
        c.ipxe_options = true;
        assert!(c.is_ipxe());
    }

    #[test]
    fn uuid_format() {
        let mut u = [0u8; 16];
        for (i, b) in u.iter_mut().enumerate() {
            *b = i as u8;
        }
        assert_eq!(format_uuid(&u), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
