//! Files that boot loaders ask for and boot on without: shim's optional revocation and
//! certificate files, GRUB's module lists and config candidates. A "file not found" for one
//! of them is expected; tftpd's transfer line and httpd-tree's request line say so
//! (`probe`), so that an operator looking for why a machine did not boot can skip them and
//! see the miss that matters.
//!
//! Seen in the lab (`cargo xtask e2e --case secureboot`): Debian 12's shim (16.1) asks for
//! `revocations_sku.efi`, `revocations_sbat.efi` and `shim_certificate_0.efi` beside
//! itself before `grubx64.efi`, over TFTP and over HTTP boot alike; GRUB asks for `command.lst`, `fs.lst`, `crypto.lst` and
//! `terminal.lst` under its prefix before its `grub.cfg`.

/// What a missing file is, when it is one that loaders probe for and go on without.
pub fn known(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ends_efi = name.len() > 4 && name[name.len() - 4..].eq_ignore_ascii_case(".efi");
    if ends_efi && (name.starts_with("revocations") || name.starts_with("shim_certificate")) {
        return Some("shim: optional revocation or certificate file, boots on without it");
    }
    if matches!(
        name,
        "command.lst" | "fs.lst" | "crypto.lst" | "terminal.lst" | "moddep.lst"
    ) {
        return Some("GRUB: optional module list under its prefix, boots on without it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::known;

    #[test]
    fn shim_and_grub_probes_are_known_and_loaders_are_not() {
        for probe in [
            "trees/debian12/debian-installer/amd64/revocations_sbat.efi",
            "revocations_sku.efi",
            "/EFI/BOOT/shim_certificate_0.efi",
            "/debian-installer/amd64/grub/x86_64-efi/command.lst",
            "grub/x86_64-efi/terminal.lst",
        ] {
            assert!(known(probe).is_some(), "{probe}");
        }
        for needed in [
            "trees/debian12/debian-installer/amd64/grubx64.efi",
            "bootnetx64.efi",
            "grub/grub.cfg",
            "revocations.txt",
            "pxelinux.0",
            ".efi",
        ] {
            assert_eq!(known(needed), None, "{needed}");
        }
    }
}
