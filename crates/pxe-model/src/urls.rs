//! The URLs and TFTP paths the suite hands out, in one place, so that the daemon
//! that hands a path out and the daemon that serves it always agree.

use crate::inventory::{Distro, Family, Inventory, Machine, Profile, Tree};
use crate::mac::MacAddr;

/// Prefix under which distro trees are served, over TFTP and HTTP alike:
/// `trees/<distro>/<path in tree>`.
pub const TREES: &str = "trees";

/// Path of a file inside a distro's tree, as loaders ask for it over TFTP (no leading slash).
pub fn tree_path(distro: &Distro, file: &str) -> String {
    format!("{TREES}/{}/{}", distro.name, file.trim_start_matches('/'))
}

/// Base URL of a distro's tree: httpd-tree's `/trees/<distro>` or the mirror's URL.
pub fn tree_url(inv: &Inventory, distro: &Distro) -> String {
    match &distro.tree {
        Tree::Dir(_) => format!("{}/{TREES}/{}", inv.servers.http, distro.name),
        Tree::Url(u) => u.clone(),
    }
}

/// URL of a file inside a distro's tree.
pub fn tree_file_url(inv: &Inventory, distro: &Distro, file: &str) -> String {
    format!("{}/{}", tree_url(inv, distro), file.trim_start_matches('/'))
}

/// URL of a boot loader served by httpd-tree (UEFI HTTP boot).
pub fn loader_url(inv: &Inventory, file: &str) -> String {
    format!(
        "{}/loaders/{}",
        inv.servers.http,
        file.trim_start_matches('/')
    )
}

/// URL of a machine's iPXE script.
pub fn ipxe_script_url(inv: &Inventory, mac: &MacAddr) -> String {
    format!("{}/boot/{}.ipxe", inv.servers.http, mac.colon())
}

/// URL of a machine's answer file (`/ks/<mac>`, `/preseed/<mac>`, `/autoinstall/<mac>/user-data`).
pub fn machine_answer_url(inv: &Inventory, family: Family, m: &Machine) -> String {
    let mac = primary_mac(m).colon();
    match family {
        Family::Redhat => format!("{}/ks/{mac}", inv.servers.http),
        Family::Debian => format!("{}/preseed/{mac}", inv.servers.http),
        Family::Ubuntu => format!("{}/autoinstall/{mac}/user-data", inv.servers.http),
    }
}

/// URL of a profile's answer file, for menu entries that no machine owns.
pub fn profile_answer_url(inv: &Inventory, family: Family, p: &Profile) -> String {
    match family {
        Family::Ubuntu => format!(
            "{}/profiles/{}/autoinstall/user-data",
            inv.servers.http, p.name
        ),
        _ => format!("{}/profiles/{}/answer", inv.servers.http, p.name),
    }
}

/// The callback the installer makes when it has finished.
pub fn installed_url(inv: &Inventory, m: &Machine) -> String {
    format!(
        "{}/api/v1/machines/{}/installed",
        inv.servers.http,
        primary_mac(m).colon()
    )
}

/// The first MAC is the machine's name in URLs; the inventory guarantees one exists.
pub fn primary_mac(m: &Machine) -> MacAddr {
    m.macs.first().copied().unwrap_or(MacAddr([0; 6]))
}

/// A request for `trees/<distro>/<rest>` (leading `/` optional): the distro, and the
/// path inside its tree, still to be resolved safely by the server. `None` when the
/// path is not under `trees/` or names no distro of the inventory.
pub fn tree_request<'a>(inv: &'a Inventory, path: &'a str) -> Option<(&'a Distro, &'a str)> {
    let rest = path
        .trim_start_matches('/')
        .strip_prefix(TREES)?
        .strip_prefix('/')?;
    let (name, inside) = rest.split_once('/').unwrap_or((rest, ""));
    inv.distros.get(name).map(|d| (d, inside))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_requests() {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://h\"}\ndistros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n";
        let inv = crate::load_str("t.yaml", text, std::path::Path::new(".")).expect("loads");
        let (d, inside) = tree_request(&inv, "/trees/c7/images/pxeboot/vmlinuz").expect("c7");
        assert_eq!((d.name.as_str(), inside), ("c7", "images/pxeboot/vmlinuz"));
        assert_eq!(tree_request(&inv, "trees/c7").map(|(_, i)| i), Some(""));
        assert!(tree_request(&inv, "trees/c8/x").is_none());
        assert!(tree_request(&inv, "treesx/c7/x").is_none());
        assert!(tree_request(&inv, "pxelinux.0").is_none());
    }
}
