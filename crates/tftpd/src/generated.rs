//! Generated files (per-machine boot menus rendered from an inventory) and the lookup order
//! that combines them with files on disk.
//!
//! Order for a read: remap, then the lexical path checks, then the disk. A file on disk wins;
//! only when the disk says "not found" is the [`Generator`] asked, with the name relative to
//! the root, so a refused name (`..`, symlink out, not world-readable) never reaches it.

use std::net::IpAddr;
use std::sync::Arc;

use crate::remap::Rules;
use crate::resolve::{self, Access, Denied, Policy, Resolved, Roots};

/// Something that can produce files that do not exist on disk.
pub trait Generator: Send + Sync {
    /// The content of `name` (relative to the root, `/`-separated) for `client`, if this
    /// generator knows it.
    fn generate(&self, client: IpAddr, name: &str) -> Option<Vec<u8>>;
}

/// Where a request's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A file under a root.
    File(Resolved),
    /// Generated content, with the relative name it was generated for.
    Generated {
        /// The relative name.
        name: String,
        /// The bytes.
        content: Arc<[u8]>,
    },
}

/// Everything a lookup needs besides the request.
pub struct Lookup<'a> {
    /// The roots.
    pub roots: &'a Roots,
    /// `-p` / `-c`.
    pub policy: Policy,
    /// `-m` rules, if any.
    pub remap: Option<&'a Rules>,
    /// The generated-files hook, if any.
    pub generator: Option<&'a dyn Generator>,
}

impl Lookup<'_> {
    /// Finds the source (read) or target (write) of a request.
    pub fn find(&self, requested: &str, access: Access, client: IpAddr) -> Result<Found, Denied> {
        let name = match self.remap {
            Some(rules) => rules.apply(requested, access, client)?,
            None => requested.to_owned(),
        };
        match resolve::resolve(self.roots, &name, access, &self.policy) {
            Ok(r) => Ok(Found::File(r)),
            Err(Denied::NotFound) if access == Access::Read => {
                let relative = resolve::normalize(self.roots, &name)?.relative;
                self.generator
                    .and_then(|g| g.generate(client.to_canonical(), &relative))
                    .map(|content| Found::Generated {
                        name: relative,
                        content: content.into(),
                    })
                    .ok_or(Denied::NotFound)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use std::fs;

    /// Knows `pxelinux.cfg/01-<anything>` and `grub.cfg`, and records nothing else.
    struct Menus;

    impl Generator for Menus {
        fn generate(&self, client: IpAddr, name: &str) -> Option<Vec<u8>> {
            if name.starts_with("pxelinux.cfg/01-") || name == "grub.cfg" {
                Some(format!("menu for {client} {name}").into_bytes())
            } else {
                None
            }
        }
    }

    #[test]
    fn disk_wins_generated_fills_gaps_and_refusals_stay_refusals() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("grub.cfg"), b"on disk").unwrap();
        let roots = Roots::new(&[dir.path().to_path_buf()], true).unwrap();
        let remap = Rules::parse("r ^menu$ pxelinux.cfg/01-aa").unwrap();
        let lookup = Lookup {
            roots: &roots,
            policy: Policy::default(),
            remap: Some(&remap),
            generator: Some(&Menus),
        };
        let client: IpAddr = "::ffff:192.0.2.5".parse().unwrap();

        assert!(matches!(
            lookup.find("grub.cfg", Access::Read, client),
            Ok(Found::File(r)) if r.relative == "grub.cfg"
        ));
        let Ok(Found::Generated { name, content }) =
            lookup.find("/pxelinux.cfg/01-52-54-00-aa-bb-cc", Access::Read, client)
        else {
            panic!("not generated")
        };
        assert_eq!(name, "pxelinux.cfg/01-52-54-00-aa-bb-cc");
        assert_eq!(
            &*content,
            b"menu for 192.0.2.5 pxelinux.cfg/01-52-54-00-aa-bb-cc"
        );
        assert!(matches!(
            lookup.find("menu", Access::Read, client),
            Ok(Found::Generated { name, .. }) if name == "pxelinux.cfg/01-aa"
        ));
        assert_eq!(
            lookup.find("pxelinux.cfg/default", Access::Read, client),
            Err(Denied::NotFound)
        );
        assert_eq!(
            lookup
                .find("../pxelinux.cfg/01-aa", Access::Read, client)
                .map_err(|d| d.code().to_u16()),
            Err(2)
        );
        assert_eq!(
            lookup.find("pxelinux.cfg/01-aa", Access::Write, client),
            Err(Denied::NotFound),
            "generated names are never written"
        );
    }
}
