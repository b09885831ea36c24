//! Answer files (kickstart, preseed, autoinstall) from the profile's template.

use crate::inventory::{Distro, Inventory, Machine, Profile};
use crate::plan::{domain_of, short_hostname};
use crate::template::TemplateError;
use crate::urls;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct MachineVars<'a> {
    name: &'a str,
    hostname: &'a str,
    short_hostname: &'a str,
    domain: &'a str,
    mac: String,
    macs: Vec<String>,
    address: Option<String>,
    uuid: Option<&'a str>,
}

#[derive(Serialize)]
struct ProfileVars<'a> {
    name: &'a str,
    description: &'a str,
    kernel_args: &'a str,
}

#[derive(Serialize)]
struct DistroVars<'a> {
    name: &'a str,
    family: &'a str,
    arch: &'a str,
    /// The release (`version` or the tree's `.treeinfo`), empty when unknown.
    version: &'a str,
    /// For the redhat family, anaconda's generation: `el5`, `el6` or `el7+`; empty for
    /// the other families.
    installer: &'a str,
}

#[derive(Serialize)]
struct ServerVars {
    tftp: String,
    http: String,
}

#[derive(Serialize)]
struct UrlVars {
    answer: String,
    tree: String,
    tree_scheme: String,
    tree_host: String,
    tree_path: String,
    /// Empty for a profile's menu answer file: no machine to mark installed.
    installed: String,
}

#[derive(Serialize)]
struct Context<'a> {
    machine: Option<MachineVars<'a>>,
    profile: ProfileVars<'a>,
    distro: DistroVars<'a>,
    server: ServerVars,
    urls: UrlVars,
    vars: &'a BTreeMap<String, String>,
    token: &'a str,
}

/// Renders the answer file of `profile` for `machine` (with its callback and token),
/// or for no machine (a menu entry's answer file, with no callback).
pub fn render(
    inv: &Inventory,
    profile: &Profile,
    distro: &Distro,
    machine: Option<(&Machine, &str)>,
) -> Result<String, TemplateError> {
    let tree = urls::tree_url(inv, distro);
    let (tree_scheme, tree_host, tree_path) = crate::location::split(&tree);
    let ctx = Context {
        machine: machine.map(|(m, _)| MachineVars {
            name: &m.name,
            hostname: &m.hostname,
            short_hostname: short_hostname(&m.hostname),
            domain: domain_of(&m.hostname),
            mac: urls::primary_mac(m).colon(),
            macs: m.macs.iter().map(|x| x.colon()).collect(),
            address: m.address.map(|a| a.to_string()),
            uuid: m.uuid.as_deref(),
        }),
        profile: ProfileVars {
            name: &profile.name,
            description: &profile.description,
            kernel_args: &profile.kernel_args,
        },
        distro: DistroVars {
            name: &distro.name,
            family: distro.family.as_str(),
            arch: distro.arch.as_str(),
            version: distro.release.as_ref().map_or("", |r| r.text.as_str()),
            installer: match distro.family {
                crate::Family::Redhat => distro.anaconda().as_str(),
                _ => "",
            },
        },
        server: ServerVars {
            tftp: inv.servers.tftp.to_string(),
            http: inv.servers.http.clone(),
        },
        urls: UrlVars {
            answer: match machine {
                Some((m, _)) => urls::machine_answer_url(inv, distro.family, m),
                None => urls::profile_answer_url(inv, distro.family, profile),
            },
            tree,
            tree_scheme,
            tree_host,
            tree_path,
            installed: machine
                .map(|(m, _)| urls::installed_url(inv, m))
                .unwrap_or_default(),
        },
        vars: &profile.vars,
        token: machine.map_or("", |(_, t)| t),
    };
    inv.templates.render(&profile.template, &ctx)
}
