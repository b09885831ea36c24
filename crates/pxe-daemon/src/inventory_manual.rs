//! pxe-inventory(5): the inventory file's manual, its key lists taken from
//! `pxe_model::schema`, the same table the loader checks keys against.

use crate::manual::{Block, Manual, Section};
use pxe_model::schema::{self, Need};

/// The example printed at the end of the page.
const EXAMPLE: &str = include_str!("../../../deploy/examples/inventory.yaml");

/// The manual page.
pub fn manual() -> Manual {
    let mut sections: Vec<Section> = schema::ALL
        .iter()
        .map(|m| Section {
            title: m.path.to_uppercase(),
            blocks: vec![
                Block::Para(m.doc.to_string()),
                Block::Defs(
                    m.keys
                        .iter()
                        .map(|k| {
                            let need = match k.required {
                                Need::Required => " (required)",
                                Need::Inherited => " (required, may be inherited)",
                                Need::Optional => "",
                            };
                            (format!("{}{need}", k.name), k.doc.to_string())
                        })
                        .collect(),
                ),
            ],
            in_help: false,
        })
        .collect();
    sections.push(Section {
        title: "TEMPLATES".into(),
        blocks: vec![Block::Para(
            "Answer-file templates are minijinja. They see machine (name, hostname, \
             short_hostname, domain, mac, macs, address, uuid; absent for a menu entry), \
             profile, distro, server (tftp, http), urls (answer, tree, tree_scheme, tree_host, \
             tree_path, installed: the install-complete callback), vars and token (the \
             machine's callback token). Templates are compiled when the inventory loads; an \
             undefined variable fails the render with the template's name and line, and no \
             partial file is ever served."
                .into(),
        )],
        in_help: false,
    });
    sections.push(Section {
        title: "INSTALL STATE".into(),
        blocks: vec![Block::Para(
            "Each machine is pending, installing (its answer file was fetched) or installed \
             (its installer called POST /api/v1/machines/MAC/installed with its token). An \
             installed machine, or one with netboot: local, gets local boot from every \
             generated file (pxelinux LOCALBOOT 0; GRUB on UEFI chainloads the disk's own \
             loader from its EFI system partition, and exits on BIOS or when it finds none; \
             iPXE exit), so it never reinstalls in a loop. POST /api/v1/machines/MAC/reinstall with the admin token \
             puts it back to pending. The state lives in the state directory (--state-dir) \
             shared by the daemons."
                .into(),
        )],
        in_help: false,
    });
    sections.push(Section {
        title: "EXAMPLE".into(),
        blocks: vec![Block::Verbatim(EXAMPLE.trim_end().to_string())],
        in_help: false,
    });
    sections.push(Section {
        title: "SEE ALSO".into(),
        blocks: vec![Block::Para("dhcpd(8), tftpd(8), httpd-tree(8)".into())],
        in_help: false,
    });
    Manual {
        name: "pxe-inventory".into(),
        section: 5,
        version: env!("CARGO_PKG_VERSION").into(),
        summary: "the pxe-suite inventory: distros, profiles and machines".into(),
        synopsis: vec!["/etc/pxe-suite/inventory.yaml".into()],
        description: vec![
            Block::Para(
                "One YAML file says what every machine boots. dhcpd, tftpd and httpd-tree all \
                 read it (--inventory FILE), so the three can run on different hosts and still \
                 agree. Check it with httpd-tree --check --inventory FILE."
                    .into(),
            ),
            Block::Para(
                "Unknown keys are errors. Every error names the file, line and column and what \
                 was expected, and all errors are reported at once. Booleans follow YAML 1.2 \
                 (true and false only). Names of distros, profiles and machines are letters, \
                 digits, dot, underscore and hyphen: they become file names in the state \
                 directory and parts of URLs."
                    .into(),
            ),
        ],
        options: Vec::new(),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_schema_is_in_the_page() {
        let page = manual().roff();
        for m in schema::ALL {
            for k in m.keys {
                let term = format!(".B {}", k.name.replace('-', "\\-"));
                assert!(page.contains(&term), "{} missing from the page", k.name);
            }
        }
        assert!(page.contains(".SH PROFILES.NAME\n"), "{page}");
        assert!(page.starts_with(".TH PXE\\-INVENTORY 5 "));
    }

    #[test]
    fn committed_page_is_current() {
        let page = manual().roff();
        crate::manual::assert_committed(&page, env!("CARGO_MANIFEST_DIR"), "man5/pxe-inventory.5");
    }
}
