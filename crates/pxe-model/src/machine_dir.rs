//! Machines added through the API: one YAML file per machine, `NAME.yaml`, in the
//! directory the inventory names with `machines_dir`.
//!
//! The inventory file stays the declarative source (it can live in git); what operators
//! add with `pxectl` or the API lives beside it and is loaded with it by every daemon
//! ([`crate::load`]). A file is the value of a `machines.NAME` entry, checked by the same
//! code. A file whose name, MAC, address or UUID is already given by the inventory file
//! (or by an earlier file) is not loaded: it becomes a [`Problem`], which the daemons log
//! and httpd-tree shows on its status page and in its API, so neither side silently wins.
//!
//! Files are written atomically: a temporary file beside it, fsync, rename, fsync of the
//! directory; a crash leaves the old file or the new one, never half of one.

use crate::build::{Seen, machine, parse_hostname, parse_uuid};
use crate::diag::{At, Diagnostics, Pos};
use crate::inventory::{Inventory, Netboot};
use crate::mac::MacAddr;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The suffix of a machine's file.
pub const SUFFIX: &str = ".yaml";

/// A file of the machines, profiles or distros directory that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    /// `machine`, `profile` or `distro`: what the file holds.
    pub entry: &'static str,
    /// The entry the file is named after.
    pub name: String,
    /// `conflict` (with the inventory file or an earlier file) or `invalid`.
    pub kind: &'static str,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.message.trim_end())
    }
}

/// A machine's file name in the directory.
pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    crate::entry_dir::path_of(dir, name)
}

/// Loads every `*.yaml` of `dir` into `inv` (a missing directory is an empty one).
/// Files are read in name order; what cannot be loaded goes to `inv.problems`.
pub(crate) fn merge(inv: &mut Inventory, dir: &Path) -> std::io::Result<()> {
    let files = crate::entry_dir::list(dir)?;
    let profiles: BTreeSet<String> = inv.profiles.keys().cloned().collect();
    for (name, path) in files {
        let shown = path.display().to_string();
        let problem = |kind, message: String| Problem {
            file: shown.clone(),
            entry: "machine",
            name: name.clone(),
            kind,
            message,
        };
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                inv.problems
                    .push(problem("invalid", format!("cannot read it: {e}")));
                continue;
            }
        };
        let mut d = Diagnostics::new(&shown, &text);
        let parsed = crate::yaml::parse(&text, &mut d).and_then(|node| {
            let at = At::new(name.clone(), Pos::at(1, 1));
            machine(&at, &node, &profiles, &mut Seen::default(), &mut d)
        });
        d.finish();
        let m = match parsed {
            Some(m) if d.is_empty() => m,
            _ => {
                inv.problems.push(problem("invalid", d.render()));
                continue;
            }
        };
        if let Some(clash) = clash(inv, &m) {
            inv.problems.push(problem("conflict", clash));
            continue;
        }
        for mac in &m.macs {
            inv.by_mac.insert(*mac, m.name.clone());
        }
        inv.api_machines.insert(m.name.clone());
        inv.machines.insert(m.name.clone(), m);
    }
    Ok(())
}

/// Where a machine that was loaded comes from, for messages.
fn origin(inv: &Inventory, name: &str) -> String {
    if inv.api_machines.contains(name) {
        format!("the machines directory's {name}{SUFFIX}")
    } else {
        inv.source_name().to_owned()
    }
}

/// What `m` would take that another machine has already: its name, a MAC, its address
/// or its UUID.
pub fn clash(inv: &Inventory, m: &crate::Machine) -> Option<String> {
    let not_loaded = "; this file is not loaded until one of the two goes";
    if inv.machines.contains_key(&m.name) {
        return Some(format!(
            "conflict: machine \"{}\" is also defined in {}{not_loaded}",
            m.name,
            origin(inv, &m.name)
        ));
    }
    for mac in &m.macs {
        if let Some(other) = inv.by_mac.get(mac) {
            return Some(format!(
                "conflict: MAC {mac} is machine \"{other}\"'s in {}{not_loaded}",
                origin(inv, other)
            ));
        }
    }
    if let Some(a) = m.address
        && let Some(other) = inv.machine_by_address(a)
    {
        return Some(format!(
            "conflict: address {a} is machine \"{}\"'s in {}{not_loaded}",
            other.name,
            origin(inv, &other.name)
        ));
    }
    if let Some(u) = &m.uuid
        && let Some(other) = inv.machine_by_uuid(u)
    {
        return Some(format!(
            "conflict: UUID {u} is machine \"{}\"'s in {}{not_loaded}",
            other.name,
            origin(inv, &other.name)
        ));
    }
    None
}

/// A machine as the API receives it, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub macs: Vec<MacAddr>,
    pub hostname: Option<String>,
    pub address: Option<Ipv4Addr>,
    pub uuid: Option<String>,
    pub profile: String,
    pub netboot: Netboot,
}

/// Why a request body is refused: the field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// 400: not the right JSON shape; 422: a value that is not valid; 409: a value some
    /// other machine has.
    pub status: u16,
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(status: u16, field: &str, message: impl Into<String>) -> Self {
        FieldError {
            status,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The body's keys.
pub const FIELDS: &[&str] = &[
    "name", "mac", "hostname", "address", "uuid", "profile", "netboot",
];

/// Checks a machine sent as JSON (`{"name", "mac", "profile", …}`) against the inventory.
/// `replacing`: the name of the API machine it replaces (a PUT), whose own MACs, address
/// and name do not clash with it.
pub fn spec_from_json(
    inv: &Inventory,
    body: &Value,
    replacing: Option<&str>,
) -> Result<Spec, FieldError> {
    let Some(obj) = body.as_object() else {
        return Err(FieldError::new(400, "", "the body must be a JSON object"));
    };
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(FieldError::new(
            400,
            k,
            format!("unknown field `{k}`, expected one of {}", FIELDS.join(", ")),
        ));
    }
    let text = |key: &str| -> Result<Option<&str>, FieldError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(FieldError::new(
                400,
                key,
                format!("`{key}` must be a string"),
            )),
        }
    };
    let name = match (text("name")?, replacing) {
        (Some(n), Some(r)) if n != r => {
            return Err(FieldError::new(
                422,
                "name",
                format!("the name in the body ({n}) is not the one in the path ({r})"),
            ));
        }
        (Some(n), _) => n.to_owned(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => return Err(FieldError::new(422, "name", "`name` is required")),
    };
    if !crate::state::valid_name(&name) {
        return Err(FieldError::new(
            422,
            "name",
            format!(
                "machine name \"{name}\" must be letters, digits, `.`, `_` or `-`, not starting \
                 with `.`"
            ),
        ));
    }
    let mac_texts: Vec<&str> = match obj.get("mac") {
        None | Some(Value::Null) => {
            return Err(FieldError::new(
                422,
                "mac",
                "`mac` is required (one address or a list)",
            ));
        }
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| FieldError::new(400, "mac", "`mac` must list strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(FieldError::new(
                400,
                "mac",
                "`mac` must be a string or a list of strings",
            ));
        }
    };
    if mac_texts.is_empty() {
        return Err(FieldError::new(
            422,
            "mac",
            "`mac` needs at least one address",
        ));
    }
    let mut macs = Vec::new();
    for t in mac_texts {
        let mac = t
            .parse::<MacAddr>()
            .map_err(|e| FieldError::new(422, "mac", e.to_string()))?;
        if !macs.contains(&mac) {
            macs.push(mac);
        }
    }
    let hostname = text("hostname")?
        .map(|h| parse_hostname(h).map_err(|e| FieldError::new(422, "hostname", e)))
        .transpose()?;
    if hostname.is_none()
        && let Err(e) = parse_hostname(&name)
    {
        return Err(FieldError::new(
            422,
            "hostname",
            format!("the machine name is not a host name ({e}): give `hostname`"),
        ));
    }
    let address = text("address")?
        .map(|a| {
            a.parse::<Ipv4Addr>().map_err(|_| {
                FieldError::new(
                    422,
                    "address",
                    format!("expected an IPv4 address such as 10.0.0.50, found \"{a}\""),
                )
            })
        })
        .transpose()?;
    let uuid = text("uuid")?
        .map(|u| parse_uuid(u).map_err(|e| FieldError::new(422, "uuid", e)))
        .transpose()?;
    let profile = text("profile")?
        .ok_or_else(|| FieldError::new(422, "profile", "`profile` is required"))?
        .to_owned();
    if !inv.profiles.contains_key(&profile) {
        return Err(FieldError::new(
            422,
            "profile",
            format!(
                "profile \"{profile}\" not found (defined: {})",
                inv.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let netboot = match text("netboot")? {
        None | Some("install") => Netboot::Install,
        Some("local") => Netboot::Local,
        Some(other) => {
            return Err(FieldError::new(
                422,
                "netboot",
                format!("expected install or local, found \"{other}\""),
            ));
        }
    };
    let spec = Spec {
        name,
        macs,
        hostname,
        address,
        uuid,
        profile,
        netboot,
    };
    // Clashes are checked against the inventory without the machine being replaced.
    let mut others = inv.clone();
    if let Some(r) = replacing
        && let Some(old) = others.machines.remove(r)
    {
        for mac in &old.macs {
            others.by_mac.remove(mac);
        }
        others.api_machines.remove(r);
    }
    let as_machine = crate::Machine {
        name: spec.name.clone(),
        macs: spec.macs.clone(),
        hostname: spec.hostname.clone().unwrap_or_else(|| spec.name.clone()),
        address: spec.address,
        uuid: spec.uuid.clone(),
        profile: spec.profile.clone(),
        power: None,
        netboot: spec.netboot,
    };
    if let Some(msg) = clash(&others, &as_machine) {
        let field = if others.machines.contains_key(&spec.name) {
            "name"
        } else if msg.contains(" MAC ") {
            "mac"
        } else if msg.contains(" address ") {
            "address"
        } else {
            "uuid"
        };
        let msg = msg.split("; this file").next().unwrap_or(&msg).to_owned();
        return Err(FieldError::new(409, field, msg));
    }
    Ok(spec)
}

impl Spec {
    /// The file's text: the keys of a `machines.NAME` entry, every string quoted.
    pub fn to_yaml(&self) -> String {
        let q = |s: &str| Value::String(s.to_owned()).to_string();
        let mut out = format!(
            "# Written by httpd-tree's API (pxectl); machine \"{}\".\n",
            self.name
        );
        let macs: Vec<String> = self.macs.iter().map(|m| q(&m.colon())).collect();
        out.push_str(&format!("mac: [{}]\n", macs.join(", ")));
        if let Some(h) = &self.hostname {
            out.push_str(&format!("hostname: {}\n", q(h)));
        }
        if let Some(a) = self.address {
            out.push_str(&format!("address: {}\n", q(&a.to_string())));
        }
        if let Some(u) = &self.uuid {
            out.push_str(&format!("uuid: {}\n", q(u)));
        }
        out.push_str(&format!("profile: {}\n", q(&self.profile)));
        if self.netboot == Netboot::Local {
            out.push_str("netboot: local\n");
        }
        out
    }
}

/// Writes a machine's file atomically (creating the directory if needed).
pub fn write(dir: &Path, spec: &Spec) -> std::io::Result<PathBuf> {
    crate::entry_dir::write_atomic(dir, &spec.name, &spec.to_yaml())
}

/// Removes a machine's file; false when there was none.
pub fn remove(dir: &Path, name: &str) -> std::io::Result<bool> {
    crate::entry_dir::remove(dir, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INV: &str = "servers: {tftp: 10.0.0.2, http: \"http://10.0.0.3\"}\n\
        distros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n\
        profiles:\n  p: {distro: c7}\n\
        machines_dir: machines.d\n\
        machines:\n  web01: {mac: 52:54:00:12:34:56, profile: p, address: 10.0.0.50}\n";

    fn lab() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let inv = dir.path().join("inventory.yaml");
        fs::write(&inv, INV).expect("write");
        (dir, inv)
    }

    #[test]
    fn written_file_loads_back_and_removal_forgets_it() {
        let (dir, path) = lab();
        let inv = crate::load(&path).expect("loads");
        let spec = spec_from_json(
            &inv,
            &json!({"name": "db01", "mac": "52-54-00-aa-bb-cc", "profile": "p", "address": "10.0.0.60"}),
            None,
        )
        .expect("valid");
        let file = write(&dir.path().join("machines.d"), &spec).expect("written");
        assert!(file.ends_with("machines.d/db01.yaml"));
        let inv = crate::load(&path).expect("loads");
        let m = inv
            .find_machine("52:54:00:aa:bb:cc")
            .expect("db01 found by MAC");
        assert_eq!(m.name, "db01");
        assert_eq!(m.address, Some(Ipv4Addr::new(10, 0, 0, 60)));
        assert!(inv.api_machines.contains("db01"));
        assert!(!inv.api_machines.contains("web01"));
        assert!(inv.problems.is_empty(), "{:?}", inv.problems);
        assert!(remove(&dir.path().join("machines.d"), "db01").expect("removed"));
        let inv = crate::load(&path).expect("loads");
        assert!(inv.find_machine("db01").is_none());
    }

    #[test]
    fn a_file_clashing_with_the_inventory_is_a_problem_not_a_winner() {
        let (dir, path) = lab();
        let md = dir.path().join("machines.d");
        fs::create_dir(&md).expect("mkdir");
        fs::write(
            md.join("web01.yaml"),
            "mac: 52:54:00:00:00:01\nprofile: p\n",
        )
        .expect("w");
        fs::write(
            md.join("other.yaml"),
            "mac: 52:54:00:12:34:56\nprofile: p\n",
        )
        .expect("w");
        fs::write(
            md.join("bad.yaml"),
            "mac: 52:54:00:00:00:02\nprofile: nope\n",
        )
        .expect("w");
        let inv = crate::load(&path).expect("loads");
        let web01 = inv
            .find_machine("web01")
            .expect("the inventory's web01 stays");
        assert_eq!(web01.macs[0].colon(), "52:54:00:12:34:56");
        assert!(inv.find_machine("52:54:00:00:00:01").is_none());
        assert!(inv.find_machine("other").is_none());
        assert!(inv.find_machine("bad").is_none());
        let kinds: Vec<(&str, &str)> = inv
            .problems
            .iter()
            .map(|p| (p.name.as_str(), p.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("bad", "invalid"),
                ("other", "conflict"),
                ("web01", "conflict")
            ]
        );
        assert!(
            inv.problems[0]
                .message
                .contains("profile \"nope\" not found")
        );
        assert!(
            inv.problems[0].message.contains("bad.yaml:2:10"),
            "{}",
            inv.problems[0].message
        );
        assert!(
            inv.problems[1]
                .message
                .contains("MAC 52:54:00:12:34:56 is machine \"web01\"'s in inventory.yaml")
        );
        assert!(
            inv.problems[2]
                .message
                .contains("machine \"web01\" is also defined in inventory.yaml")
        );
    }

    #[test]
    fn bad_bodies_name_their_field() {
        let (_dir, path) = lab();
        let inv = crate::load(&path).expect("loads");
        let err = |body: Value| {
            let e = spec_from_json(&inv, &body, None).expect_err("refused");
            (e.status, e.field)
        };
        let ok = json!({"name": "db01", "mac": "52:54:00:aa:bb:cc", "profile": "p"});
        assert!(spec_from_json(&inv, &ok, None).is_ok());
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        assert_eq!(err(json!([1])), (400, String::new()));
        assert_eq!(err(with("mac", json!("52:54:00"))), (422, "mac".into()));
        assert_eq!(err(with("mac", json!(7))), (400, "mac".into()));
        assert_eq!(err(with("profile", json!("nope"))), (422, "profile".into()));
        assert_eq!(
            err(with("address", json!("10.0.0"))),
            (422, "address".into())
        );
        assert_eq!(err(with("name", json!("../x"))), (422, "name".into()));
        assert_eq!(
            err(with("netboot", json!("maybe"))),
            (422, "netboot".into())
        );
        assert_eq!(err(with("colour", json!("red"))), (400, "colour".into()));
        assert_eq!(err(with("name", json!("web01"))), (409, "name".into()));
        assert_eq!(
            err(with("mac", json!("52:54:00:12:34:56"))),
            (409, "mac".into())
        );
        assert_eq!(
            err(with("address", json!("10.0.0.50"))),
            (409, "address".into())
        );
    }
}
