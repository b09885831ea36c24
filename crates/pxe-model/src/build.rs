//! Building an `Inventory` from its YAML: every check, every error collected.

use crate::anaconda::{Anaconda, treeinfo_release};
use crate::diag::{At, Diagnostics, Pos, defined_list};
use crate::entry_dir::{self, Entry, Overrides};
use crate::inventory::{
    Arch, Chain, Distro, Family, Inventory, Loaders, Machine, Menu, Netboot, Profile, Release,
    ReleaseFrom, Servers, Tree, UnknownPolicy,
};
use crate::location::TreeSpec;
use crate::mac::MacAddr;
use crate::machine_dir::Problem;
use crate::schema;
use crate::template::{Templates, builtin_for};
use crate::yaml::{Fields, Node};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Builds an inventory from YAML text and the files of its `distros_dir` and
/// `profiles_dir` ([`crate::entry_dir`]). `base_dir` is where relative paths start.
///
/// A file of those directories that does not pass the checks is left out and becomes a
/// problem of the inventory, and the load is tried again without it; only errors of the
/// inventory file itself (or of its templates) fail the load.
pub(crate) fn build(
    file: &str,
    text: &str,
    base_dir: &Path,
    overrides: &Overrides,
) -> Result<Inventory, Diagnostics> {
    let mut excluded: BTreeMap<PathBuf, Problem> = BTreeMap::new();
    loop {
        let leave_out = excluded.keys().cloned().collect();
        match build_once(file, text, base_dir, overrides, &leave_out) {
            Ok(mut inv) => {
                inv.problems.extend(excluded.into_values());
                return Ok(inv);
            }
            Err((d, dir_files)) => {
                let blamed = entry_dir::blame(&d, &dir_files);
                if blamed.is_empty() {
                    return Err(d);
                }
                excluded.extend(blamed);
            }
        }
    }
}

/// The files of the entry directories that took part in an attempt: path → what and whose.
type DirFiles = BTreeMap<PathBuf, (Entry, String)>;

/// One attempt of [`build`], leaving out the files of `excluded`.
fn build_once(
    file: &str,
    text: &str,
    base_dir: &Path,
    overrides: &Overrides,
    excluded: &BTreeSet<PathBuf>,
) -> Result<Inventory, (Diagnostics, DirFiles)> {
    let mut d = Diagnostics::new(file, text);
    let Some(root) = crate::yaml::parse(text, &mut d) else {
        return Err((d, DirFiles::new()));
    };
    let top = Fields::open(
        &root,
        root.pos,
        "the inventory",
        &schema::TOP.names(),
        &mut d,
    );
    let mut problems = Vec::new();
    let mut dir_files = DirFiles::new();
    let mut from_dirs = BTreeMap::new();
    let mut entry_node = |kind: Entry, key: &str, d: &mut Diagnostics| {
        let dir_key = top.text(kind.dir_key(), d);
        let dir = dir_key.as_ref().map(|t| base_dir.join(&t.value));
        let files = match (&dir, &dir_key) {
            (Some(dir), Some(at)) => entry_dir::read(dir, overrides).unwrap_or_else(|e| {
                d.error(at.pos, format!("cannot read {}: {e}", dir.display()));
                Vec::new()
            }),
            _ => Vec::new(),
        };
        let (node, names) =
            entry_dir::merged(kind, top.get(key), &files, excluded, d, &mut problems);
        for (name, path) in &names {
            dir_files.insert(path.clone(), (kind, name.clone()));
        }
        from_dirs.insert(kind, names.into_keys().collect::<BTreeSet<String>>());
        (node, dir)
    };
    let (distros_node, distros_dir) = entry_node(Entry::Distro, "distros", &mut d);
    let (profiles_node, profiles_dir) = entry_node(Entry::Profile, "profiles", &mut d);
    let servers = servers(&top, &mut d);
    let unknown = top
        .choice("unknown_machines", &["menu", "ignore"], &mut d)
        .map_or(UnknownPolicy::Menu, |c| {
            if c.value == "ignore" {
                UnknownPolicy::Ignore
            } else {
                UnknownPolicy::Menu
            }
        });
    let menu_node = top.get("menu");
    let global_loaders = top
        .get("loaders")
        .map(|n| loaders(n, "the inventory", Loaders::default(), &mut d))
        .unwrap_or_default();
    let distros = distros(distros_node.as_ref(), &global_loaders, base_dir, &mut d);
    let trees = trees(top.get("trees"), &distros, base_dir, &mut d);
    let declared_distros = declared(distros_node.as_ref());
    let declared_profiles = declared(profiles_node.as_ref());
    let mut templates = Templates::new();
    let profiles = profiles(
        profiles_node.as_ref(),
        &distros,
        &declared_distros,
        &mut templates,
        base_dir,
        &mut d,
    );
    let machines = machines(top.get("machines"), &declared_profiles, &mut d);
    let machines_dir = top
        .text("machines_dir", &mut d)
        .map(|t| base_dir.join(t.value));
    let menu = menu(
        menu_node,
        &distros,
        &declared_distros,
        &declared_profiles,
        &mut d,
    );
    d.finish();
    if !d.is_empty() {
        return Err((d, dir_files));
    }
    let (Some(servers), Some(menu)) = (servers, menu) else {
        // Both report an error when they are None, so this is unreachable in practice.
        d.error(root.pos, "the inventory is incomplete");
        return Err((d, dir_files));
    };
    let by_mac = machines
        .values()
        .flat_map(|m| m.macs.iter().map(|mac| (*mac, m.name.clone())))
        .collect();
    Ok(Inventory {
        source: file.to_owned(),
        servers,
        unknown,
        menu,
        loaders: global_loaders,
        distros: distros.into_iter().map(|(k, v)| (k, v.value)).collect(),
        trees,
        profiles: profiles.into_iter().map(|(k, v)| (k, v.value)).collect(),
        machines,
        templates,
        by_mac,
        machines_dir,
        api_machines: BTreeSet::new(),
        distros_dir,
        api_distros: from_dirs.remove(&Entry::Distro).unwrap_or_default(),
        profiles_dir,
        api_profiles: from_dirs.remove(&Entry::Profile).unwrap_or_default(),
        problems,
    })
}

/// The names declared under a mapping, whether or not their entries are valid, so that
/// one bad distro is reported once and not again at every profile that names it.
fn declared(node: Option<&Node>) -> BTreeSet<String> {
    let mut scratch = Diagnostics::default();
    node.map(|n| {
        n.entries("", &mut scratch)
            .into_iter()
            .map(|(k, _)| k.value)
            .collect()
    })
    .unwrap_or_default()
}

fn servers(top: &Fields<'_>, d: &mut Diagnostics) -> Option<Servers> {
    let Some(node) = top.get("servers") else {
        d.error(top.pos, "the inventory needs `servers` (tftp: the next-server address, http: the base URL of httpd-tree)");
        return None;
    };
    let f = Fields::open(node, node.pos, "servers", &schema::SERVERS.names(), d);
    let tftp = if f.get("tftp").is_some() {
        f.parsed("tftp", d, parse_ipv4)
    } else {
        d.error(
            f.pos,
            "servers needs `tftp` (the address handed out as next-server)",
        );
        None
    };
    let tftp6 = match f.get("tftp6") {
        Some(_) => f.parsed("tftp6", d, parse_ipv6).map(|v| v.value),
        None => None,
    };
    let http = if f.get("http").is_some() {
        f.parsed("http", d, parse_http_url)
    } else {
        d.error(f.pos, "servers needs `http` (the base URL of httpd-tree)");
        None
    };
    let trusted_proxies = addresses(
        f.get("trusted_proxies"),
        "a proxy whose X-Forwarded-For is believed",
        d,
    );
    let tftp_nat_gateways = addresses(
        f.get("tftp_nat_gateways"),
        "a NAT gateway whose TFTP requests may fetch any machine's boot files",
        d,
    );
    Some(Servers {
        tftp: tftp?.value,
        tftp6,
        http: http?.value,
        trusted_proxies,
        tftp_nat_gateways,
    })
}

/// A list of IP addresses (or a single one); `what` says what an address there is for, in
/// the error about one that does not parse.
fn addresses(node: Option<&Node>, what: &str, d: &mut Diagnostics) -> Vec<std::net::IpAddr> {
    let mut found = Vec::new();
    for t in node
        .map(|n| n.text_list("an IP address", d))
        .unwrap_or_default()
    {
        match t.value.parse::<std::net::IpAddr>() {
            Ok(a) => found.push(a),
            Err(_) => d.error(
                t.pos,
                format!(
                    "expected an IP address such as 10.0.0.4 ({what}), found \"{}\"",
                    t.value
                ),
            ),
        }
    }
    found
}

fn menu(
    node: Option<&Node>,
    distros: &BTreeMap<String, At<Distro>>,
    declared_distros: &BTreeSet<String>,
    profiles: &BTreeSet<String>,
    d: &mut Diagnostics,
) -> Option<Menu> {
    let mut menu = Menu {
        title: "pxe-suite boot menu".into(),
        timeout: 10,
        default: "local".into(),
        look: crate::menu::Look::default(),
        entries: Vec::new(),
    };
    let Some(node) = node else {
        return Some(menu);
    };
    let f = Fields::open(node, node.pos, "menu", &schema::MENU.names(), d);
    menu.look = crate::menu::look(&f, d);
    menu.entries = crate::menu::entries(f.get("entries"), distros, declared_distros, profiles, d);
    if let Some(t) = f.text("title", d) {
        menu.title = t.value;
    }
    if let Some(t) = f.parsed("timeout", d, |s| {
        s.parse::<u32>()
            .ok()
            .filter(|n| *n <= 3600)
            .ok_or_else(|| format!("expected seconds from 0 to 3600, found \"{s}\""))
    }) {
        menu.timeout = t.value;
    }
    if let Some(t) = f.text("default", d) {
        let entry = menu.entries.iter().any(|e| e.name == t.value);
        if t.value != "local" && !profiles.contains(&t.value) && !entry {
            d.error(
                t.pos,
                format!(
                    "menu default \"{}\" is neither `local` nor a profile {}{}",
                    t.value,
                    defined_list(profiles.iter()),
                    if menu.entries.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " nor a menu entry ({})",
                            menu.entries
                                .iter()
                                .map(|e| e.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
            );
        }
        menu.default = t.value;
    }
    Some(menu)
}

fn distros(
    node: Option<&Node>,
    defaults: &Loaders,
    base_dir: &Path,
    d: &mut Diagnostics,
) -> BTreeMap<String, At<Distro>> {
    let mut out = BTreeMap::new();
    let Some(node) = node else { return out };
    for (name, n) in node.entries("distros", d) {
        let what = format!("distro \"{}\"", name.value);
        let f = Fields::open(n, name.pos, &what, &schema::DISTRO.names(), d);
        let arch = f.parsed("arch", d, |s| {
            Arch::parse(s)
                .ok_or_else(|| format!("expected one of {}, found \"{s}\"", Arch::NAMES.join(", ")))
        });
        let family = if f.get("family").is_some() {
            f.parsed("family", d, |s| {
                Family::parse(s).ok_or_else(|| {
                    format!(
                        "expected one of {}, found \"{s}\"",
                        Family::NAMES.join(", ")
                    )
                })
            })
        } else {
            d.error(
                f.pos,
                format!(
                    "{what} needs `family` (one of {})",
                    Family::NAMES.join(", ")
                ),
            );
            None
        };
        let tree = f.required_text("tree", &what, d).and_then(|t| {
            match crate::location::parse_tree(&t.value) {
                Ok(TreeSpec::Url(u)) => Some(At::new(Tree::Url(u), t.pos)),
                // Relative to the inventory file, like template paths.
                Ok(TreeSpec::Dir(p)) => Some(At::new(Tree::Dir(base_dir.join(p)), t.pos)),
                Err(e) => {
                    d.error(t.pos, e);
                    None
                }
            }
        });
        if let (Some(fam), Some(t)) = (&family, &tree)
            && let Err(e) = crate::location::family_reaches(fam.value, &t.value)
        {
            d.error(t.pos, format!("{what}: {e}"));
        }
        let tree = tree.map(|t| t.value);
        let kernel = f.required_text("kernel", &what, d);
        let initrd = f.required_text("initrd", &what, d);
        for path in [&kernel, &initrd].into_iter().flatten() {
            check_relative_path(path, d);
        }
        let loaders = f.get("loaders").map_or_else(
            || defaults.clone(),
            |n| loaders(n, &what, defaults.clone(), d),
        );
        check_name(&name, "distro", d);
        let version = f.text("version", d);
        let (Some(family), Some(tree), Some(kernel), Some(initrd)) = (family, tree, kernel, initrd)
        else {
            continue;
        };
        let release = release(family.value, version, &tree, d);
        let distro = Distro {
            name: name.value.clone(),
            arch: arch.map_or(Arch::X86_64, |a| a.value),
            family: family.value,
            tree,
            kernel: kernel.value,
            initrd: initrd.value,
            loaders,
            release,
        };
        out.insert(name.value, At::new(distro, name.pos));
    }
    out
}

/// `trees`: plain directories served at `/trees/<name>/` (a Debian archive for package
/// deploys, a directory of disk images), sharing the URL space of the distros' trees.
fn trees(
    node: Option<&Node>,
    distros: &BTreeMap<String, At<Distro>>,
    base_dir: &Path,
    d: &mut Diagnostics,
) -> BTreeMap<String, std::path::PathBuf> {
    let mut out = BTreeMap::new();
    let Some(node) = node else { return out };
    for (name, n) in node.entries("trees", d) {
        check_name(&name, "tree", d);
        let Some(path) = n.text(&format!("the directory of tree \"{}\"", name.value), d) else {
            continue;
        };
        if distros.contains_key(&name.value) {
            d.error(
                name.pos,
                format!(
                    "tree \"{}\" has the name of a distro: /trees/{}/ would be two directories",
                    name.value, name.value
                ),
            );
            continue;
        }
        if path.value.contains("://") {
            d.error(
                path.pos,
                format!(
                    "expected a directory served by httpd-tree, found the URL \"{}\" (a mirror \
                     elsewhere needs no entry: give its URL to the profile)",
                    path.value
                ),
            );
            continue;
        }
        out.insert(name.value, base_dir.join(&path.value));
    }
    out
}

/// A distro's release: its `version`, or for a Red Hat family tree on disk its
/// `.treeinfo` (the installer generation, hence its kernel arguments, follows from it).
fn release(
    family: Family,
    version: Option<At<String>>,
    tree: &Tree,
    d: &mut Diagnostics,
) -> Option<Release> {
    if let Some(v) = version {
        if family == Family::Redhat && Anaconda::of_release(&v.value).is_none() {
            d.error(
                v.pos,
                format!(
                    "expected a release with its major version, such as 6.10, 7, \"CentOS \
                     5.11\" or \"Fedora 18\", found \"{}\"",
                    v.value
                ),
            );
        }
        return Some(Release {
            text: v.value,
            from: ReleaseFrom::Inventory,
        });
    }
    let (Family::Redhat, Tree::Dir(dir)) = (family, tree) else {
        return None;
    };
    // A tree that is not there yet (checked on another host) says nothing.
    let text = std::fs::read_to_string(dir.join(".treeinfo")).ok()?;
    Some(Release {
        text: treeinfo_release(&text)?,
        from: ReleaseFrom::Treeinfo,
    })
}

/// Kernel and initrd paths are served under the tree: no `..` may climb out of it.
fn check_relative_path(path: &At<String>, d: &mut Diagnostics) {
    if path.value.split('/').any(|c| c == "..") {
        d.error(
            path.pos,
            format!("path \"{}\" must not contain `..`", path.value),
        );
    }
}

fn loaders(node: &Node, what: &str, defaults: Loaders, d: &mut Diagnostics) -> Loaders {
    let f = Fields::open(
        node,
        node.pos,
        &format!("the loaders of {what}"),
        &schema::LOADERS.names(),
        d,
    );
    let mut l = defaults;
    for (key, slot) in [
        ("bios", &mut l.bios),
        ("uefi_ia32", &mut l.uefi_ia32),
        ("uefi_x64", &mut l.uefi_x64),
        ("uefi_arm64", &mut l.uefi_arm64),
        ("ipxe_bios", &mut l.ipxe_bios),
        ("ipxe_uefi", &mut l.ipxe_uefi),
    ] {
        if let Some(t) = f.text(key, d) {
            check_relative_path(&t, d);
            *slot = t.value.trim_start_matches('/').to_owned();
        }
    }
    l
}

/// A profile as written, before inheritance.
struct RawProfile {
    name: At<String>,
    parent: Option<At<String>>,
    distro: Option<At<String>>,
    template: Option<At<String>>,
    kernel_args: Option<String>,
    chain: Option<Chain>,
    description: Option<String>,
    vars: BTreeMap<String, String>,
    deploy: Option<crate::deploy::Deploy>,
}

fn profiles(
    node: Option<&Node>,
    distros: &BTreeMap<String, At<Distro>>,
    declared_distros: &BTreeSet<String>,
    templates: &mut Templates,
    base_dir: &Path,
    d: &mut Diagnostics,
) -> BTreeMap<String, At<Profile>> {
    let Some(node) = node else {
        return BTreeMap::new();
    };
    let mut raw: BTreeMap<String, RawProfile> = BTreeMap::new();
    for (name, n) in node.entries("profiles", d) {
        let what = format!("profile \"{}\"", name.value);
        let f = Fields::open(n, name.pos, &what, &schema::PROFILE.names(), d);
        check_name(&name, "profile", d);
        let chain = f.choice("chain", Chain::NAMES, d).map(|c| {
            if c.value == "ipxe" {
                Chain::Ipxe
            } else {
                Chain::Classic
            }
        });
        let mut vars = BTreeMap::new();
        if let Some(v) = f.get("vars") {
            for (k, val) in v.entries(&format!("the vars of {what}"), d) {
                if let Some(t) = val.text(&format!("a text value for `{}`", k.value), d) {
                    vars.insert(k.value, t.value);
                }
            }
        }
        let p = RawProfile {
            parent: f.text("parent", d),
            distro: f.text("distro", d),
            template: f.text("template", d),
            kernel_args: f.text("kernel_args", d).map(|t| t.value),
            chain,
            description: f.text("description", d).map(|t| t.value),
            vars,
            deploy: f
                .get("deploy")
                .and_then(|n| crate::build_deploy::deploy(n, &name.value, d)),
            name: name.clone(),
        };
        raw.insert(name.value, p);
    }
    // References first, so that inheritance only follows parents that exist.
    for p in raw.values() {
        if let Some(parent) = &p.parent
            && !raw.contains_key(&parent.value)
        {
            d.error(
                parent.pos,
                format!(
                    "parent profile \"{}\" not found {}",
                    parent.value,
                    defined_list(raw.keys())
                ),
            );
        }
        if let Some(distro) = &p.distro
            && !declared_distros.contains(&distro.value)
        {
            d.error(
                distro.pos,
                format!(
                    "distro \"{}\" not found {}",
                    distro.value,
                    defined_list(declared_distros.iter())
                ),
            );
        }
    }
    let mut out = BTreeMap::new();
    for p in raw.values() {
        let Some(chain_of) = ancestry(p, &raw, d) else {
            continue;
        };
        // Nearest definition wins: the profile itself, then its parent, and so on.
        let pick =
            |get: &dyn Fn(&RawProfile) -> Option<&At<String>>| chain_of.iter().find_map(|q| get(q));
        let Some(distro) = pick(&|q| q.distro.as_ref()) else {
            d.error(
                p.name.pos,
                format!(
                    "profile \"{}\" needs `distro` (itself or from a parent)",
                    p.name.value
                ),
            );
            continue;
        };
        let Some(dist) = distros.get(&distro.value) else {
            continue;
        };
        let template = match pick(&|q| q.template.as_ref()) {
            Some(t) => match load_template(t, templates, base_dir, d) {
                Some(name) => name,
                None => continue,
            },
            None => builtin_for(dist.value.family).to_owned(),
        };
        let chain = chain_of
            .iter()
            .find_map(|q| q.chain)
            .unwrap_or(Chain::Classic);
        if chain == Chain::Classic && !crate::location::bootable_over_tftp(&dist.value) {
            d.error(
                p.name.pos,
                format!(
                    "profile \"{}\" boots over TFTP (chain: classic) but distro \"{}\" has a URL tree, which TFTP cannot serve: set `chain: ipxe` or give the distro a local `tree` directory",
                    p.name.value, dist.value.name
                ),
            );
        }
        let mut vars = BTreeMap::new();
        for q in chain_of.iter().rev() {
            vars.extend(q.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let profile = Profile {
            name: p.name.value.clone(),
            parent: p.parent.as_ref().map(|x| x.value.clone()),
            distro: distro.value.clone(),
            template,
            kernel_args: chain_of
                .iter()
                .find_map(|q| q.kernel_args.clone())
                .unwrap_or_default(),
            chain,
            description: chain_of
                .iter()
                .find_map(|q| q.description.clone())
                .unwrap_or_else(|| format!("{} ({})", p.name.value, dist.value.name)),
            vars,
            deploy: chain_of.iter().find_map(|q| q.deploy.clone()),
        };
        out.insert(p.name.value.clone(), At::new(profile, p.name.pos));
    }
    out
}

/// The profile and its ancestors, nearest first; `None` (with an error) on a cycle.
fn ancestry<'a>(
    p: &'a RawProfile,
    raw: &'a BTreeMap<String, RawProfile>,
    d: &mut Diagnostics,
) -> Option<Vec<&'a RawProfile>> {
    let mut seen = vec![p];
    let mut cur = p;
    while let Some(parent) = &cur.parent {
        let next = raw.get(&parent.value)?;
        if seen.iter().any(|s| s.name.value == next.name.value) {
            let path: Vec<&str> = seen
                .iter()
                .map(|s| s.name.value.as_str())
                .chain([next.name.value.as_str()])
                .collect();
            if next.name.value == p.name.value {
                d.error(
                    parent.pos,
                    format!("profile inheritance cycle: {}", path.join(" -> ")),
                );
            }
            return None;
        }
        seen.push(next);
        cur = next;
    }
    Some(seen)
}

/// Reads and compiles a template file once; returns the name it is stored under.
fn load_template(
    t: &At<String>,
    templates: &mut Templates,
    base_dir: &Path,
    d: &mut Diagnostics,
) -> Option<String> {
    if t.value.starts_with("builtin:") {
        if templates.contains(&t.value) {
            return Some(t.value.clone());
        }
        d.error(t.pos, format!("no built-in template \"{}\" (built in: builtin:kickstart, builtin:preseed, builtin:autoinstall)", t.value));
        return None;
    }
    if templates.contains(&t.value) {
        return Some(t.value.clone());
    }
    let path = base_dir.join(&t.value);
    match std::fs::read_to_string(&path) {
        Ok(src) => match templates.add(&t.value, src) {
            Ok(()) => Some(t.value.clone()),
            Err(e) => {
                d.error_in(
                    &path.display().to_string(),
                    Pos::at(u32::try_from(e.line.unwrap_or(1)).unwrap_or(1), 1),
                    format!(
                        "{} (template of a profile at {}:{}:{})",
                        e.message,
                        d.file_of(t.pos).to_owned(),
                        t.pos.line,
                        t.pos.col
                    ),
                );
                None
            }
        },
        Err(e) => {
            d.error(
                t.pos,
                format!("cannot read template {}: {e}", path.display()),
            );
            None
        }
    }
}

fn machines(
    node: Option<&Node>,
    profiles: &BTreeSet<String>,
    d: &mut Diagnostics,
) -> BTreeMap<String, Machine> {
    let mut out = BTreeMap::new();
    let Some(node) = node else { return out };
    let mut seen = Seen::default();
    for (name, n) in node.entries("machines", d) {
        if let Some(m) = machine(&name, n, profiles, &mut seen, d) {
            out.insert(name.value.clone(), m);
        }
    }
    out
}

/// The MACs, addresses and UUIDs given so far, with the machine and place that has each.
#[derive(Default)]
pub(crate) struct Seen {
    macs: HashMap<MacAddr, At<String>>,
    addresses: HashMap<Ipv4Addr, At<String>>,
    uuids: HashMap<String, At<String>>,
}

/// One machine's entry (`machines.NAME`, or a file of the machines directory).
pub(crate) fn machine(
    name: &At<String>,
    n: &Node,
    profiles: &BTreeSet<String>,
    seen: &mut Seen,
    d: &mut Diagnostics,
) -> Option<Machine> {
    let Seen {
        macs,
        addresses,
        uuids,
    } = seen;
    {
        let what = format!("machine \"{}\"", name.value);
        let f = Fields::open(n, name.pos, &what, &schema::MACHINE.names(), d);
        check_name(name, "machine", d);
        let mut mac_list = Vec::new();
        match f.get("mac") {
            None => d.error(f.pos, format!("{what} needs `mac` (one address or a list)")),
            Some(m) => {
                let items = m.text_list("a MAC address", d);
                if items.is_empty() {
                    d.error(m.pos, format!("{what} needs at least one MAC address"));
                }
                for t in items {
                    match t.value.parse::<MacAddr>() {
                        Ok(mac) => {
                            if let Some(first) = macs.get(&mac) {
                                d.error(t.pos, format!("duplicate MAC {mac}: already given to machine \"{}\" at line {}", first.value, first.pos.line));
                            } else {
                                macs.insert(mac, At::new(name.value.clone(), t.pos));
                            }
                            mac_list.push(mac);
                        }
                        Err(e) => d.error(t.pos, e.to_string()),
                    }
                }
            }
        }
        let address = f.parsed("address", d, parse_ipv4);
        if let Some(a) = &address {
            if let Some(first) = addresses.get(&a.value) {
                d.error(
                    a.pos,
                    format!(
                        "duplicate address {}: already given to machine \"{}\" at line {}",
                        a.value, first.value, first.pos.line
                    ),
                );
            } else {
                addresses.insert(a.value, At::new(name.value.clone(), a.pos));
            }
        }
        let uuid = f.parsed("uuid", d, parse_uuid);
        if let Some(u) = &uuid {
            if let Some(first) = uuids.get(&u.value) {
                d.error(
                    u.pos,
                    format!(
                        "duplicate UUID {}: already given to machine \"{}\" at line {}",
                        u.value, first.value, first.pos.line
                    ),
                );
            } else {
                uuids.insert(u.value.clone(), At::new(name.value.clone(), u.pos));
            }
        }
        let hostname = f.parsed("hostname", d, parse_hostname);
        if hostname.is_none()
            && f.get("hostname").is_none()
            && crate::state::valid_name(&name.value)
            && let Err(e) = parse_hostname(&name.value)
        {
            d.error(
                name.pos,
                format!("machine name used as hostname: {e}; set `hostname`"),
            );
        }
        let profile = f.required_text("profile", &what, d);
        if let Some(p) = &profile
            && !profiles.contains(&p.value)
        {
            d.error(
                p.pos,
                format!(
                    "profile \"{}\" not found {}",
                    p.value,
                    defined_list(profiles.iter())
                ),
            );
        }
        let netboot = f
            .choice("netboot", &["install", "local"], d)
            .map_or(Netboot::Install, |c| {
                if c.value == "local" {
                    Netboot::Local
                } else {
                    Netboot::Install
                }
            });
        let power = f
            .get("power")
            .and_then(|n| crate::build_power::power(n, &name.value, d));
        let profile = profile?;
        Some(Machine {
            name: name.value.clone(),
            macs: mac_list,
            hostname: hostname.map_or_else(|| name.value.clone(), |h| h.value),
            address: address.map(|a| a.value),
            uuid: uuid.map(|u| u.value),
            profile: profile.value,
            netboot,
            power,
        })
    }
}

/// Names become file names and URL path segments, so they stay plain.
fn check_name(name: &At<String>, what: &str, d: &mut Diagnostics) {
    if !crate::state::valid_name(&name.value) {
        d.error(
            name.pos,
            format!(
                "{what} name \"{}\" must be letters, digits, `.`, `_` or `-`, not starting with `.`",
                name.value
            ),
        );
    }
}

fn parse_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse::<Ipv4Addr>()
        .map_err(|_| format!("expected an IPv4 address such as 10.0.0.2, found \"{s}\""))
}

fn parse_ipv6(s: &str) -> Result<std::net::Ipv6Addr, String> {
    s.parse::<std::net::Ipv6Addr>()
        .map_err(|_| format!("expected an IPv6 address such as fd00::2, found \"{s}\""))
}

fn parse_http_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("expected an http:// or https:// URL, found \"{s}\""))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!("expected a URL with a host, found \"{s}\""));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// A UUID, 32 hex digits with or without the usual dashes; stored dashed and lower-case.
pub(crate) fn parse_uuid(s: &str) -> Result<String, String> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let dashes_ok = !s.contains('-')
        || (s.len() == 36 && [8, 13, 18, 23].iter().all(|i| s.get(*i..=*i) == Some("-")));
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) || !dashes_ok {
        return Err(format!(
            "expected a UUID such as 8f3c2a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b, found \"{s}\""
        ));
    }
    let h = hex.to_ascii_lowercase();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// RFC 1123 host names: labels of letters, digits and hyphens, dot-separated.
pub(crate) fn parse_hostname(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "\"{s}\" is not a valid host name (letters, digits, hyphens, dots)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const REST: &str = "distros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n";

    #[test]
    fn trusted_proxies_are_addresses() {
        let text = format!(
            "servers:\n  tftp: 10.0.0.2\n  http: http://10.0.0.3\n  trusted_proxies: [10.0.0.4, \"2001:db8::4\"]\n{REST}"
        );
        let inv = crate::load_str("inv.yaml", &text, Path::new(".")).expect("loads");
        let want: Vec<std::net::IpAddr> = vec![
            "10.0.0.4".parse().expect("ip"),
            "2001:db8::4".parse().expect("ip"),
        ];
        assert_eq!(inv.servers.trusted_proxies, want);
        let one = format!(
            "servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\", trusted_proxies: 10.0.0.4}}\n{REST}"
        );
        let inv = crate::load_str("inv.yaml", &one, Path::new(".")).expect("loads");
        assert_eq!(inv.servers.trusted_proxies.len(), 1);
        let none = format!("servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\"}}\n{REST}");
        let inv = crate::load_str("inv.yaml", &none, Path::new(".")).expect("loads");
        assert!(inv.servers.trusted_proxies.is_empty(), "default: none");
        let bad = format!(
            "servers:\n  tftp: 10.0.0.2\n  http: http://10.0.0.3\n  trusted_proxies: [10.0.0.4, proxy.lan]\n{REST}"
        );
        let e = crate::load_str("inv.yaml", &bad, Path::new("."))
            .expect_err("a name is not an address")
            .render();
        assert!(
            e.contains("inv.yaml:4:") && e.contains("\"proxy.lan\""),
            "{e}"
        );
    }

    #[test]
    fn tftp_nat_gateways_are_addresses() {
        let text = format!(
            "servers:\n  tftp: 10.0.0.2\n  http: http://10.0.0.3\n  tftp_nat_gateways: [10.0.0.9, 10.1.0.1]\n{REST}"
        );
        let inv = crate::load_str("inv.yaml", &text, Path::new(".")).expect("loads");
        let want: Vec<std::net::IpAddr> = vec![
            "10.0.0.9".parse().expect("ip"),
            "10.1.0.1".parse().expect("ip"),
        ];
        assert_eq!(inv.servers.tftp_nat_gateways, want);
        assert!(inv.servers.trusted_proxies.is_empty(), "a key of its own");
        let one = format!(
            "servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\", tftp_nat_gateways: 10.0.0.9}}\n{REST}"
        );
        let inv = crate::load_str("inv.yaml", &one, Path::new(".")).expect("loads");
        assert_eq!(inv.servers.tftp_nat_gateways.len(), 1);
        let none = format!("servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\"}}\n{REST}");
        let inv = crate::load_str("inv.yaml", &none, Path::new(".")).expect("loads");
        assert!(inv.servers.tftp_nat_gateways.is_empty(), "default: none");
        let bad = format!(
            "servers:\n  tftp: 10.0.0.2\n  http: http://10.0.0.3\n  tftp_nat_gateways: [gw.lan]\n{REST}"
        );
        let e = crate::load_str("inv.yaml", &bad, Path::new("."))
            .expect_err("a name is not an address")
            .render();
        assert!(
            e.contains("inv.yaml:4:") && e.contains("\"gw.lan\"") && e.contains("NAT gateway"),
            "{e}"
        );
    }

    #[test]
    fn tftp6_is_an_ipv6_address_or_absent() {
        let none = format!("servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\"}}\n{REST}");
        let inv = crate::load_str("inv.yaml", &none, Path::new(".")).expect("loads");
        assert_eq!(inv.servers.tftp6, None);
        let v6 = format!(
            "servers:\n  tftp: 10.0.0.2\n  tftp6: fd00:77::2\n  http: http://[fd00:77::3]:8080\n{REST}"
        );
        let inv = crate::load_str("inv.yaml", &v6, Path::new(".")).expect("loads");
        assert_eq!(inv.servers.tftp6, Some("fd00:77::2".parse().expect("v6")));
        assert_eq!(inv.servers.http, "http://[fd00:77::3]:8080");
        let bad = format!(
            "servers:\n  tftp: 10.0.0.2\n  tftp6: 10.0.0.2\n  http: http://10.0.0.3\n{REST}"
        );
        let e = crate::load_str("inv.yaml", &bad, Path::new("."))
            .expect_err("an IPv4 address is no tftp6")
            .render();
        assert!(
            e.contains("inv.yaml:3:") && e.contains("tftp6") && e.contains("IPv6 address"),
            "{e}"
        );
    }
}
