//! Generated files (per-machine boot menus rendered from an inventory, files of distro trees
//! outside the roots) and the lookup order that combines them with files on disk.
//!
//! Order for a read: remap, then the lexical path checks, then the disk. A file on disk wins;
//! only when the disk says "not found" is the [`Generator`] asked, with the name relative to
//! the root, so a refused name (`..`, symlink out, not world-readable) never reaches it.

use std::net::IpAddr;
use std::sync::Arc;

use crate::remap::Rules;
use crate::resolve::{self, Access, Denied, Policy, Resolved, Roots};

/// Something that can produce files that do not exist under the roots.
pub trait Generator: Send + Sync {
    /// What `name` (relative to the root, `/`-separated, already lexically clean) is for
    /// `client`. [`Denied::NotFound`] when this generator does not know the name; other
    /// refusals (a tree file that is a symlink out of its tree) are sent to the client as
    /// they are.
    fn generate(&self, client: IpAddr, name: &str, policy: &Policy) -> Result<Generated, Denied>;

    /// Told after a read transfer finished successfully, for any file (on disk or not);
    /// `now_ms` is the Unix time in milliseconds. May block (file I/O): the server calls it
    /// off the async workers.
    fn served(&self, _served: &Served<'_>, _now_ms: u64) {}

    /// The inventory machine a client is, by its address (`client` IPv4-mapped addresses
    /// as IPv4), for the transfer's log line; `None` when the generator knows no machines.
    fn machine_at(&self, _client: IpAddr) -> Option<String> {
        None
    }

    /// Whether `name` (relative to the root) is one this generator makes, or lies in the
    /// space of names it makes (boot menus, distro trees): a write to it is refused, so an
    /// upload can never put a file on disk that would win over a generated one.
    fn claims(&self, _name: &str) -> bool {
        false
    }
}

/// What a generator produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generated {
    /// Bytes computed for this request.
    Content {
        /// The bytes.
        content: Vec<u8>,
        /// The inventory machine the content was made for, if any.
        machine: Option<String>,
    },
    /// A file outside the roots, checked by the same rules as files under them; its
    /// `root` is the directory the file must stay beneath when it is opened.
    File(Resolved),
}

/// Where a request's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A file under a root.
    File(Resolved),
    /// A file a generator found outside the roots (a distro tree).
    Outside {
        /// The name relative to the TFTP root.
        name: String,
        /// The file, with the directory it must stay beneath.
        file: Resolved,
    },
    /// Generated content.
    Generated {
        /// The name relative to the TFTP root.
        name: String,
        /// The bytes.
        content: Arc<[u8]>,
        /// The inventory machine the content was made for, if any.
        machine: Option<String>,
    },
}

impl Found {
    /// The served name, relative to the TFTP root.
    pub fn name(&self) -> &str {
        match self {
            Found::File(r) => &r.relative,
            Found::Outside { name, .. } | Found::Generated { name, .. } => name,
        }
    }

    /// The machine generated content was made for.
    pub fn machine(&self) -> Option<&str> {
        match self {
            Found::Generated { machine, .. } => machine.as_deref(),
            Found::File(_) | Found::Outside { .. } => None,
        }
    }
}

/// A finished read, as reported to [`Generator::served`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served<'a> {
    /// The client's address (IPv4-mapped addresses as IPv4).
    pub client: IpAddr,
    /// The name relative to the TFTP root.
    pub name: &'a str,
    /// The machine generated content was made for, or else the one the client is
    /// ([`Generator::machine_at`]), if any.
    pub machine: Option<&'a str>,
    /// Payload bytes sent.
    pub bytes: u64,
}

/// Everything a lookup needs besides the request.
/// The ERROR message to a write of a name the generator makes.
pub const RESERVED: &str = "Name reserved by the inventory";

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
        if access == Access::Write
            && let Some(generator) = self.generator
        {
            let relative = resolve::normalize(self.roots, &name)?.relative;
            if generator.claims(&relative) {
                return Err(Denied::Access(RESERVED));
            }
        }
        match resolve::resolve(self.roots, &name, access, &self.policy) {
            Ok(r) => Ok(Found::File(r)),
            Err(Denied::NotFound) if access == Access::Read => {
                let relative = resolve::normalize(self.roots, &name)?.relative;
                let generator = self.generator.ok_or(Denied::NotFound)?;
                match generator.generate(client.to_canonical(), &relative, &self.policy)? {
                    Generated::Content { content, machine } => Ok(Found::Generated {
                        name: relative,
                        content: content.into(),
                        machine,
                    }),
                    Generated::File(file) => Ok(Found::Outside {
                        name: relative,
                        file,
                    }),
                }
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

    /// Knows `pxelinux.cfg/01-<anything>`, `grub.cfg` and `outside/<file>` (from a second
    /// directory).
    struct Menus(Roots);

    impl Generator for Menus {
        fn generate(
            &self,
            client: IpAddr,
            name: &str,
            policy: &Policy,
        ) -> Result<Generated, Denied> {
            if let Some(inside) = name.strip_prefix("outside/") {
                return resolve::resolve(&self.0, inside, Access::Read, policy)
                    .map(Generated::File);
            }
            if name.starts_with("pxelinux.cfg/01-") || name == "grub.cfg" {
                Ok(Generated::Content {
                    content: format!("menu for {client} {name}").into_bytes(),
                    machine: Some("m1".into()),
                })
            } else {
                Err(Denied::NotFound)
            }
        }
    }

    #[test]
    fn writes_to_claimed_names_are_refused_even_with_create() {
        struct Claims;
        impl Generator for Claims {
            fn generate(&self, _: IpAddr, _: &str, _: &Policy) -> Result<Generated, Denied> {
                Err(Denied::NotFound)
            }
            fn claims(&self, name: &str) -> bool {
                name.starts_with("pxelinux.cfg/")
            }
        }
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("pxelinux.cfg")).unwrap();
        let roots = Roots::new(&[dir.path().to_path_buf()], true).unwrap();
        let lookup = Lookup {
            roots: &roots,
            policy: Policy {
                permissive: true,
                create: true,
            },
            remap: None,
            generator: Some(&Claims),
        };
        let client: IpAddr = "192.0.2.5".parse().unwrap();
        assert_eq!(
            lookup.find("/pxelinux.cfg/01-aa", Access::Write, client),
            Err(Denied::Access(RESERVED))
        );
        assert!(matches!(
            lookup.find("upload.bin", Access::Write, client),
            Ok(Found::File(r)) if !r.exists
        ));
    }

    #[test]
    fn disk_wins_generated_fills_gaps_and_refusals_stay_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("grub.cfg"), b"on disk").unwrap();
        fs::write(other.path().join("kernel"), b"kernel").unwrap();
        std::os::unix::fs::symlink(dir.path().join("grub.cfg"), other.path().join("out")).unwrap();
        let roots = Roots::new(&[dir.path().to_path_buf()], true).unwrap();
        let menus = Menus(Roots::new(&[other.path().to_path_buf()], true).unwrap());
        let remap = Rules::parse("r ^menu$ pxelinux.cfg/01-aa").unwrap();
        let lookup = Lookup {
            roots: &roots,
            policy: Policy::default(),
            remap: Some(&remap),
            generator: Some(&menus),
        };
        let client: IpAddr = "::ffff:192.0.2.5".parse().unwrap();

        assert!(matches!(
            lookup.find("grub.cfg", Access::Read, client),
            Ok(Found::File(r)) if r.relative == "grub.cfg"
        ));
        let found = lookup
            .find("/pxelinux.cfg/01-52-54-00-aa-bb-cc", Access::Read, client)
            .unwrap();
        assert_eq!(found.name(), "pxelinux.cfg/01-52-54-00-aa-bb-cc");
        assert_eq!(found.machine(), Some("m1"));
        let Found::Generated { content, .. } = found else {
            panic!("not generated")
        };
        assert_eq!(
            &*content,
            b"menu for 192.0.2.5 pxelinux.cfg/01-52-54-00-aa-bb-cc"
        );
        assert!(matches!(
            lookup.find("menu", Access::Read, client),
            Ok(Found::Generated { name, .. }) if name == "pxelinux.cfg/01-aa"
        ));
        let outside = lookup.find("outside/kernel", Access::Read, client).unwrap();
        assert_eq!(
            (outside.name(), outside.machine()),
            ("outside/kernel", None)
        );
        assert!(
            matches!(&outside, Found::Outside { file, .. } if file.path.ends_with("kernel") && file.root == other.path().canonicalize().unwrap())
        );
        assert_eq!(
            lookup.find("outside/out", Access::Read, client),
            Err(Denied::Access("Path leaves the root")),
            "a generator's refusal reaches the client"
        );
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
