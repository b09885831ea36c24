//! The URLs and TFTP paths the suite hands out, in one place, so that the daemon
//! that hands a path out and the daemon that serves it always agree.
//!
//! Every path httpd-tree serves by name is an [`Endpoint`]: [`Endpoint`]'s `Display` spells
//! it and [`Endpoint::parse`] reads it back, side by side, one arm per shape. The `*_url`
//! functions put an endpoint behind the inventory's `servers.http`; renderers, boot plans
//! and the API use only them, and httpd-tree's router matches only what `parse` returns.

use std::fmt;

use crate::inventory::{Distro, Family, Inventory, Machine, Profile, Tree};
use crate::mac::MacAddr;

/// Prefix under which distro trees are served, over TFTP and HTTP alike:
/// `trees/<distro>/<path in tree>`.
pub const TREES: &str = "trees";
/// Prefix of boot loaders served over HTTP (UEFI HTTP boot): `loaders/<file>`.
pub const LOADERS: &str = "loaders";
/// File name suffix of iPXE scripts: `boot/<mac or name>.ipxe`.
pub const IPXE_SUFFIX: &str = ".ipxe";

/// A file of cloud-init's NoCloud data source; cloud-init appends these names to the seed URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCloud {
    /// `user-data`: the autoinstall configuration.
    UserData,
    /// `meta-data`: instance id and hostname.
    MetaData,
    /// `vendor-data`: empty.
    VendorData,
}

impl NoCloud {
    /// Every NoCloud file, in the order cloud-init fetches them.
    pub const ALL: [NoCloud; 3] = [NoCloud::MetaData, NoCloud::UserData, NoCloud::VendorData];

    /// The file name.
    pub fn file(self) -> &'static str {
        match self {
            NoCloud::UserData => "user-data",
            NoCloud::MetaData => "meta-data",
            NoCloud::VendorData => "vendor-data",
        }
    }

    /// The file of this name.
    pub fn parse(name: &str) -> Option<NoCloud> {
        NoCloud::ALL.into_iter().find(|n| n.file() == name)
    }
}

/// A state change a machine's callback URL asks for (`POST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `installed`: the installer finished (the answer file's late command).
    Installed,
    /// `reinstall`: the operator wants the machine installed again.
    Reinstall,
    /// `report`: the deploy agent reports a step, its progress or its failure.
    Report,
    /// `booted`: the installed system's first boot.
    Booted,
    /// `power`: the operator switches the machine through its BMC.
    Power,
}

impl Action {
    /// Both actions.
    pub const ALL: [Action; 5] = [
        Action::Installed,
        Action::Reinstall,
        Action::Report,
        Action::Booted,
        Action::Power,
    ];

    /// The last segment of the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Installed => "installed",
            Action::Reinstall => "reinstall",
            Action::Report => "report",
            Action::Booted => "booted",
            Action::Power => "power",
        }
    }

    /// The action of this name.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// A path httpd-tree serves by what it names. `key` is a machine's MAC address (any
/// spelling) or its name; `file` of the NoCloud shapes is kept as asked, so that the server
/// can say which file does not exist ([`NoCloud::parse`] reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `/ks/<key>`: a Red Hat family machine's kickstart.
    Kickstart { key: &'a str },
    /// `/preseed/<key>`: a Debian machine's preseed.
    Preseed { key: &'a str },
    /// `/autoinstall/<key>/<file>`: an Ubuntu machine's NoCloud files.
    Autoinstall { key: &'a str, file: &'a str },
    /// `/profiles/<profile>/answer`: a profile's answer file (menu entries).
    ProfileAnswer { profile: &'a str },
    /// `/profiles/<profile>/autoinstall/<file>`: a profile's NoCloud files (menu entries).
    ProfileAutoinstall { profile: &'a str, file: &'a str },
    /// `/boot/<key>.ipxe`: a machine's iPXE script.
    IpxeScript { key: &'a str },
    /// `/deploy/<key>`: a machine's deploy plan (JSON), for the deploy agent.
    DeployPlan { key: &'a str },
    /// `/api/v1/machines`.
    Machines,
    /// `/api/v1/profiles`.
    Profiles,
    /// `/api/v1/distros`.
    Distros,
    /// `/api/v1/machines/<key>`.
    Machine { key: &'a str },
    /// `/api/v1/profiles/<name>`.
    Profile { name: &'a str },
    /// `/api/v1/distros/<name>`.
    Distro { name: &'a str },
    /// `/api/v1/machines/<key>/<action>`: the install-complete callback, or reinstall.
    Callback { key: &'a str, action: Action },
    /// `/trees/<distro>/<inside…>`: a distro's install tree (no `inside`: its base).
    Tree {
        distro: &'a str,
        inside: &'a [&'a str],
    },
    /// `/loaders/<inside…>`: boot loaders.
    Loader { inside: &'a [&'a str] },
    /// `/status`: the status page.
    Status,
    /// `/metrics`: Prometheus metrics.
    Metrics,
}

impl<'a> Endpoint<'a> {
    /// The answer file of a machine known by `key`, for its distro's `family`.
    pub fn machine_answer(family: Family, key: &'a str) -> Endpoint<'a> {
        match family {
            Family::Redhat => Endpoint::Kickstart { key },
            Family::Debian => Endpoint::Preseed { key },
            Family::Ubuntu => Endpoint::Autoinstall {
                key,
                file: NoCloud::UserData.file(),
            },
        }
    }

    /// The answer file of a profile, for its distro's `family`.
    pub fn profile_answer(family: Family, profile: &'a str) -> Endpoint<'a> {
        match family {
            Family::Ubuntu => Endpoint::ProfileAutoinstall {
                profile,
                file: NoCloud::UserData.file(),
            },
            Family::Redhat | Family::Debian => Endpoint::ProfileAnswer { profile },
        }
    }

    /// Reads a request path, given as its decoded, non-empty segments: the inverse of
    /// `Display`. `None` for paths that are no endpoint (pages, menus, files of `--root`).
    pub fn parse(segs: &'a [&'a str]) -> Option<Endpoint<'a>> {
        Some(match segs {
            ["ks", key] => Endpoint::Kickstart { key },
            ["preseed", key] => Endpoint::Preseed { key },
            ["autoinstall", key, file] => Endpoint::Autoinstall { key, file },
            ["profiles", profile, "answer"] => Endpoint::ProfileAnswer { profile },
            ["profiles", profile, "autoinstall", file] => {
                Endpoint::ProfileAutoinstall { profile, file }
            }
            ["boot", name] => Endpoint::IpxeScript {
                key: name.strip_suffix(IPXE_SUFFIX)?,
            },
            ["deploy", key] => Endpoint::DeployPlan { key },
            ["api", "v1", "machines"] => Endpoint::Machines,
            ["api", "v1", "profiles"] => Endpoint::Profiles,
            ["api", "v1", "distros"] => Endpoint::Distros,
            ["api", "v1", "machines", key] => Endpoint::Machine { key },
            ["api", "v1", "profiles", name] => Endpoint::Profile { name },
            ["api", "v1", "distros", name] => Endpoint::Distro { name },
            ["api", "v1", "machines", key, action] => Endpoint::Callback {
                key,
                action: Action::parse(action)?,
            },
            [TREES, distro, inside @ ..] => Endpoint::Tree { distro, inside },
            [LOADERS, inside @ ..] => Endpoint::Loader { inside },
            ["status"] => Endpoint::Status,
            ["metrics"] => Endpoint::Metrics,
            _ => return None,
        })
    }

    /// The absolute URL on httpd-tree.
    pub fn url(&self, inv: &Inventory) -> String {
        format!("{}{self}", inv.servers.http)
    }
}

/// The path, with its leading `/`: the inverse of [`Endpoint::parse`].
impl fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Kickstart { key } => write!(f, "/ks/{key}"),
            Endpoint::Preseed { key } => write!(f, "/preseed/{key}"),
            Endpoint::Autoinstall { key, file } => write!(f, "/autoinstall/{key}/{file}"),
            Endpoint::ProfileAnswer { profile } => write!(f, "/profiles/{profile}/answer"),
            Endpoint::ProfileAutoinstall { profile, file } => {
                write!(f, "/profiles/{profile}/autoinstall/{file}")
            }
            Endpoint::IpxeScript { key } => write!(f, "/boot/{key}{IPXE_SUFFIX}"),
            Endpoint::DeployPlan { key } => write!(f, "/deploy/{key}"),
            Endpoint::Machines => f.write_str("/api/v1/machines"),
            Endpoint::Profiles => f.write_str("/api/v1/profiles"),
            Endpoint::Distros => f.write_str("/api/v1/distros"),
            Endpoint::Machine { key } => write!(f, "/api/v1/machines/{key}"),
            Endpoint::Profile { name } => write!(f, "/api/v1/profiles/{name}"),
            Endpoint::Distro { name } => write!(f, "/api/v1/distros/{name}"),
            Endpoint::Callback { key, action } => {
                write!(f, "/api/v1/machines/{key}/{}", action.as_str())
            }
            Endpoint::Tree { distro, inside } => {
                write!(f, "/{TREES}/{distro}")?;
                inside.iter().try_for_each(|s| write!(f, "/{s}"))
            }
            Endpoint::Loader { inside } => {
                write!(f, "/{LOADERS}")?;
                inside.iter().try_for_each(|s| write!(f, "/{s}"))
            }
            Endpoint::Status => f.write_str("/status"),
            Endpoint::Metrics => f.write_str("/metrics"),
        }
    }
}

/// The non-empty segments of a `/`-separated path.
fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Path of a file inside a distro's tree, as loaders ask for it over TFTP (no leading slash).
pub fn tree_path(distro: &Distro, file: &str) -> String {
    let inside = segments(file);
    let path = Endpoint::Tree {
        distro: &distro.name,
        inside: &inside,
    }
    .to_string();
    path.trim_start_matches('/').to_owned()
}

/// A request for `trees/<distro>/<rest>` (leading `/` optional), as tftpd gets it: the
/// distro, and the path inside its tree, still to be resolved safely by the server. `None`
/// when the path is not under `trees/` or names no distro of the inventory.
pub fn tree_request<'a>(inv: &'a Inventory, path: &'a str) -> Option<(&'a Distro, &'a str)> {
    let rest = path
        .trim_start_matches('/')
        .strip_prefix(TREES)?
        .strip_prefix('/')?;
    let (name, inside) = rest.split_once('/').unwrap_or((rest, ""));
    inv.distros.get(name).map(|d| (d, inside))
}

/// Base URL of a distro's tree: httpd-tree's `/trees/<distro>` or the mirror's URL.
pub fn tree_url(inv: &Inventory, distro: &Distro) -> String {
    match &distro.tree {
        Tree::Dir(_) => tree_file_url(inv, distro, ""),
        Tree::Url(u) => u.clone(),
    }
}

/// URL of a file inside a distro's tree.
pub fn tree_file_url(inv: &Inventory, distro: &Distro, file: &str) -> String {
    match &distro.tree {
        Tree::Dir(_) => {
            let inside = segments(file);
            Endpoint::Tree {
                distro: &distro.name,
                inside: &inside,
            }
            .url(inv)
        }
        Tree::Url(u) => format!("{u}/{}", file.trim_start_matches('/')),
    }
}

/// URL of a boot loader served by httpd-tree (UEFI HTTP boot).
pub fn loader_url(inv: &Inventory, file: &str) -> String {
    let inside = segments(file);
    Endpoint::Loader { inside: &inside }.url(inv)
}

/// URL of a machine's iPXE script.
pub fn ipxe_script_url(inv: &Inventory, mac: &MacAddr) -> String {
    Endpoint::IpxeScript { key: &mac.colon() }.url(inv)
}

/// URL of a machine's answer file (`/ks/<mac>`, `/preseed/<mac>`, `/autoinstall/<mac>/user-data`).
pub fn machine_answer_url(inv: &Inventory, family: Family, m: &Machine) -> String {
    Endpoint::machine_answer(family, &primary_mac(m).colon()).url(inv)
}

/// URL of a profile's answer file, for menu entries that no machine owns.
pub fn profile_answer_url(inv: &Inventory, family: Family, p: &Profile) -> String {
    Endpoint::profile_answer(family, &p.name).url(inv)
}

/// The callback the installer makes when it has finished.
pub fn installed_url(inv: &Inventory, m: &Machine) -> String {
    Endpoint::Callback {
        key: &primary_mac(m).colon(),
        action: Action::Installed,
    }
    .url(inv)
}

/// The first MAC is the machine's name in URLs; the inventory guarantees one exists.
pub fn primary_mac(m: &Machine) -> MacAddr {
    m.macs.first().copied().unwrap_or(MacAddr([0; 6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://h\"}\ndistros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n";
        crate::load_str("t.yaml", text, std::path::Path::new(".")).expect("loads")
    }

    #[test]
    fn tree_requests() {
        let inv = inventory();
        let (d, inside) = tree_request(&inv, "/trees/c7/images/pxeboot/vmlinuz").expect("c7");
        assert_eq!((d.name.as_str(), inside), ("c7", "images/pxeboot/vmlinuz"));
        assert_eq!(tree_request(&inv, "trees/c7").map(|(_, i)| i), Some(""));
        assert!(tree_request(&inv, "trees/c8/x").is_none());
        assert!(tree_request(&inv, "treesx/c7/x").is_none());
        assert!(tree_request(&inv, "pxelinux.0").is_none());
        let c7 = &inv.distros["c7"];
        let path = tree_path(c7, "/images/pxeboot/vmlinuz");
        assert_eq!(path, "trees/c7/images/pxeboot/vmlinuz");
        assert_eq!(
            tree_request(&inv, &path).map(|(d, i)| (d.name.clone(), i.to_owned())),
            Some(("c7".to_owned(), "images/pxeboot/vmlinuz".to_owned()))
        );
        assert_eq!(tree_url(&inv, c7), "http://h/trees/c7");
        assert_eq!(tree_file_url(&inv, c7, "k"), "http://h/trees/c7/k");
    }

    /// Every shape, spelt then read back, is itself; the spellings are the documented ones.
    #[test]
    fn every_endpoint_reads_back_as_itself() {
        let inside = ["images", "pxeboot", "vmlinuz"];
        let cases = [
            (Endpoint::Kickstart { key: "web01" }, "/ks/web01"),
            (Endpoint::Preseed { key: "db01" }, "/preseed/db01"),
            (
                Endpoint::Autoinstall {
                    key: "52:54:00:ab:cd:10",
                    file: "meta-data",
                },
                "/autoinstall/52:54:00:ab:cd:10/meta-data",
            ),
            (
                Endpoint::ProfileAnswer { profile: "p" },
                "/profiles/p/answer",
            ),
            (
                Endpoint::ProfileAutoinstall {
                    profile: "u",
                    file: "user-data",
                },
                "/profiles/u/autoinstall/user-data",
            ),
            (
                Endpoint::IpxeScript {
                    key: "52:54:00:12:34:56",
                },
                "/boot/52:54:00:12:34:56.ipxe",
            ),
            (
                Endpoint::DeployPlan {
                    key: "52:54:00:12:34:56",
                },
                "/deploy/52:54:00:12:34:56",
            ),
            (
                Endpoint::Callback {
                    key: "web01",
                    action: Action::Report,
                },
                "/api/v1/machines/web01/report",
            ),
            (
                Endpoint::Callback {
                    key: "web01",
                    action: Action::Booted,
                },
                "/api/v1/machines/web01/booted",
            ),
            (Endpoint::Machines, "/api/v1/machines"),
            (Endpoint::Machine { key: "web01" }, "/api/v1/machines/web01"),
            (Endpoint::Profile { name: "web" }, "/api/v1/profiles/web"),
            (Endpoint::Distro { name: "deb12" }, "/api/v1/distros/deb12"),
            (
                Endpoint::Callback {
                    key: "web01",
                    action: Action::Installed,
                },
                "/api/v1/machines/web01/installed",
            ),
            (
                Endpoint::Callback {
                    key: "web01",
                    action: Action::Reinstall,
                },
                "/api/v1/machines/web01/reinstall",
            ),
            (
                Endpoint::Tree {
                    distro: "c7",
                    inside: &inside,
                },
                "/trees/c7/images/pxeboot/vmlinuz",
            ),
            (
                Endpoint::Tree {
                    distro: "c7",
                    inside: &[],
                },
                "/trees/c7",
            ),
            (
                Endpoint::Loader {
                    inside: &["grubx64.efi"],
                },
                "/loaders/grubx64.efi",
            ),
            (Endpoint::Status, "/status"),
            (Endpoint::Metrics, "/metrics"),
        ];
        for (endpoint, spelt) in cases {
            let path = endpoint.to_string();
            assert_eq!(path, spelt);
            let segs = segments(&path);
            assert_eq!(Endpoint::parse(&segs), Some(endpoint), "{path}");
        }
        for other in [
            "/",
            "/boot.ipxe",
            "/boot/x.efi",
            "/api/v1/machines/web01/explode",
            "/pxelinux.cfg/default",
        ] {
            assert_eq!(Endpoint::parse(&segments(other)), None, "{other}");
        }
    }

    #[test]
    fn answer_files_by_family() {
        let inv = inventory();
        let url = |f| Endpoint::machine_answer(f, "m").url(&inv);
        assert_eq!(url(Family::Redhat), "http://h/ks/m");
        assert_eq!(url(Family::Debian), "http://h/preseed/m");
        assert_eq!(url(Family::Ubuntu), "http://h/autoinstall/m/user-data");
        let url = |f| Endpoint::profile_answer(f, "p").to_string();
        assert_eq!(url(Family::Redhat), "/profiles/p/answer");
        assert_eq!(url(Family::Ubuntu), "/profiles/p/autoinstall/user-data");
        for n in NoCloud::ALL {
            assert_eq!(NoCloud::parse(n.file()), Some(n));
        }
        assert_eq!(NoCloud::parse("network-config"), None);
    }
}
