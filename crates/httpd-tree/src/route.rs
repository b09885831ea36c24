//! The pure router: a request and the loaded [`State`] in, a [`Route`] out.
//!
//! No socket and no clock: the file system is only consulted to resolve paths inside
//! trees (through [`crate::safe_path`]). The client's address, when a route depends on
//! it, comes from the [`Peer`] request extension.

use crate::safe_path::{self, Refused, Resolved};
use http::{Method, Request, StatusCode, header};
use pxe_model::render::{self, BootFileKind};
use pxe_model::state::{Secret, StateEvent, token_matches};
use pxe_model::{Family, Inventory, Machine, Tree};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Everything routing depends on, loaded once (and again on reload).
#[derive(Debug, Default)]
pub struct State {
    pub inventory: Option<Inventory>,
    /// A plain tree served at `/` (canonical path).
    pub root: Option<PathBuf>,
    /// Boot loaders for UEFI HTTP boot, served at `/loaders/` (canonical path).
    pub loaders: Option<PathBuf>,
    /// The key of the per-machine callback tokens (from the state directory).
    pub secret: Option<Secret>,
    /// The operator's token for `reinstall` (and for `installed` on any machine).
    pub admin_token: Option<String>,
}

/// The client's address, attached to requests by the server as an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Which tree a file came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// `/trees/<distro>/`.
    Tree(String),
    /// `/loaders/`.
    Loaders,
    /// `--root`.
    Root,
}

/// A boot-timeline entry to record when the response is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub machine: String,
    pub detail: String,
}

/// The part of an answer file asked for (cloud-init's NoCloud data source fetches three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerPart {
    /// The kickstart, the preseed, or autoinstall's `user-data`.
    Main,
    /// NoCloud `meta-data`.
    MetaData,
    /// NoCloud `vendor-data` (empty).
    VendorData,
}

/// What a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A regular file inside a tree.
    File {
        file: Resolved,
        area: Area,
        note: Option<Note>,
    },
    /// A directory listing; `shown` is the decoded URL path, ending in `/`.
    Listing {
        dir: PathBuf,
        shown: String,
    },
    /// A directory asked for without its trailing slash.
    Redirect {
        location: String,
    },
    /// The home page (with an inventory and no `--root`).
    Index,
    /// `/trees/`: the inventory's distros.
    TreesIndex,
    /// An answer file of a machine (with its callback) or of a profile (a menu entry's).
    Answer {
        machine: Option<String>,
        profile: String,
        part: AnswerPart,
    },
    /// A generated boot file (iPXE script, GRUB config, pxelinux config).
    BootFile {
        kind: BootFileKind,
        note: Option<Note>,
    },
    /// `GET /api/v1/machines`.
    ApiMachines,
    /// `GET /api/v1/machines/<mac or name>`.
    ApiMachine {
        machine: String,
    },
    /// An authorised state change.
    Callback {
        machine: String,
        event: StateEvent,
    },
    Status,
    Metrics,
    /// Refused or not found, with a reason for the client.
    Refused {
        status: StatusCode,
        reason: String,
        /// `Allow` for 405.
        allow: Option<&'static str>,
    },
}

impl Route {
    /// The metrics label (one of [`crate::metrics::ROUTES`]).
    pub fn label(&self) -> &'static str {
        match self {
            Route::File {
                area: Area::Tree(_),
                ..
            } => "tree",
            Route::File {
                area: Area::Loaders,
                ..
            } => "loader",
            Route::File {
                area: Area::Root, ..
            } => "root",
            Route::Listing { .. } | Route::TreesIndex => "listing",
            Route::Redirect { .. } => "redirect",
            Route::Index => "index",
            Route::Answer { .. } => "answer",
            Route::BootFile { .. } => "boot_file",
            Route::ApiMachines | Route::ApiMachine { .. } => "api",
            Route::Callback { .. } => "callback",
            Route::Status => "status",
            Route::Metrics => "metrics",
            Route::Refused { .. } => "refused",
        }
    }
}

/// Longest request target accepted (path and query), in bytes.
pub const MAX_TARGET: usize = 4096;

fn refused(status: StatusCode, reason: impl Into<String>) -> Route {
    Route::Refused {
        status,
        reason: reason.into(),
        allow: None,
    }
}

fn not_found(reason: impl Into<String>) -> Route {
    refused(StatusCode::NOT_FOUND, reason)
}

fn from_refusal(r: Refused) -> Route {
    match r {
        Refused::Malformed => refused(
            StatusCode::BAD_REQUEST,
            "malformed path (bad percent-encoding, encoded slash, NUL or backslash)",
        ),
        Refused::Escapes => refused(StatusCode::FORBIDDEN, "path leaves the tree"),
        Refused::TooLong => refused(StatusCode::URI_TOO_LONG, "path too long"),
        Refused::NotFound => not_found("not found"),
    }
}

/// The client's IPv4 address, if it has one (IPv4-mapped IPv6 included).
fn requester(req: &Request<()>) -> Option<Ipv4Addr> {
    match req.extensions().get::<Peer>()?.0.ip() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    }
}

/// The token presented: `Authorization: Bearer <t>`, else `?token=<t>`.
pub fn presented_token(req: &Request<()>) -> Option<String> {
    if let Some(v) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some((scheme, t)) = v.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return Some(t.trim().to_owned());
        }
    }
    let query = req.uri().query()?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| safe_path::decode(v).ok()).flatten()
    })
}

/// Constant-time string comparison.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Decides what a request gets.
pub fn route(state: &State, req: &Request<()>) -> Route {
    let target_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > MAX_TARGET {
        return refused(StatusCode::URI_TOO_LONG, "request target too long");
    }
    let raw = req.uri().path();
    let decoded = match safe_path::decode(raw) {
        Ok(d) => d,
        Err(r) => return from_refusal(r),
    };
    let segs = match safe_path::segments(&decoded) {
        Ok(s) => s,
        Err(r) => return from_refusal(r),
    };
    let dir_slash = decoded.ends_with('/');
    let r = match (&state.inventory, segs.as_slice()) {
        (
            Some(inv),
            [
                "api",
                "v1",
                "machines",
                key,
                action @ ("installed" | "reinstall"),
            ],
        ) => {
            if req.method() != Method::POST {
                return Route::Refused {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    reason: format!("{action} takes POST"),
                    allow: Some("POST"),
                };
            }
            return callback(state, inv, req, key, action);
        }
        (_, ["metrics"]) => Route::Metrics,
        (Some(_), ["status"]) => Route::Status,
        (Some(_), ["api", "v1", "machines"]) => Route::ApiMachines,
        (Some(inv), ["api", "v1", "machines", key]) => match inv.find_machine(key) {
            Some(m) => Route::ApiMachine {
                machine: m.name.clone(),
            },
            None => unknown_machine(inv, key),
        },
        (Some(_), ["api", ..]) => not_found("no such API endpoint"),
        (Some(inv), ["ks", key]) => machine_answer(inv, key, Family::Redhat, AnswerPart::Main),
        (Some(inv), ["preseed", key]) => machine_answer(inv, key, Family::Debian, AnswerPart::Main),
        (Some(inv), ["autoinstall", key, part]) => match nocloud_part(part) {
            Some(p) => machine_answer(inv, key, Family::Ubuntu, p),
            None => not_found(format!("no {part} in the NoCloud data source")),
        },
        (Some(inv), ["profiles", name, "answer"]) => profile_answer(inv, name, false, "answer"),
        (Some(inv), ["profiles", name, "autoinstall", part]) => {
            profile_answer(inv, name, true, part)
        }
        (Some(_), ["trees"]) if dir_slash => Route::TreesIndex,
        (Some(_), ["trees"]) => Route::Redirect {
            location: format!("{raw}/"),
        },
        (Some(inv), ["trees", distro, inside @ ..]) => {
            tree(inv, req, raw, distro, inside, dir_slash)
        }
        (_, ["loaders", inside @ ..]) if state.loaders.is_some() || state.inventory.is_some() => {
            loaders(state, req, raw, &decoded, inside, dir_slash)
        }
        (Some(inv), ["boot", name]) if name.ends_with(".ipxe") => {
            match boot_file(inv, req, &decoded) {
                Some(r) => r,
                None => unknown_machine(inv, name.trim_end_matches(".ipxe")),
            }
        }
        (None, []) if state.root.is_none() => not_found("nothing is served here"),
        (Some(_), []) if state.root.is_none() => Route::Index,
        _ => fallback(state, req, raw, &decoded, &segs, dir_slash),
    };
    let readable = req.method() == Method::GET || req.method() == Method::HEAD;
    if readable || matches!(r, Route::Refused { .. }) {
        r
    } else {
        Route::Refused {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: format!("{} is not served here", req.method()),
            allow: Some("GET, HEAD"),
        }
    }
}

fn unknown_machine(inv: &Inventory, key: &str) -> Route {
    not_found(format!(
        "no machine with MAC address or name {key:?} in {}",
        inv.source_name()
    ))
}

fn nocloud_part(part: &str) -> Option<AnswerPart> {
    match part {
        "user-data" => Some(AnswerPart::Main),
        "meta-data" => Some(AnswerPart::MetaData),
        "vendor-data" => Some(AnswerPart::VendorData),
        _ => None,
    }
}

/// Where a machine's answer file is, for messages.
fn answer_path(family: Family, m: &Machine) -> String {
    let mac = pxe_model::urls::primary_mac(m).colon();
    match family {
        Family::Redhat => format!("/ks/{mac}"),
        Family::Debian => format!("/preseed/{mac}"),
        Family::Ubuntu => format!("/autoinstall/{mac}/user-data"),
    }
}

fn machine_answer(inv: &Inventory, key: &str, family: Family, part: AnswerPart) -> Route {
    let Some(m) = inv.find_machine(key) else {
        return unknown_machine(inv, key);
    };
    let Some((p, d)) = inv.profile_of(m) else {
        return not_found(format!("machine {} has no profile", m.name));
    };
    if d.family != family {
        return not_found(format!(
            "machine {} installs {} with {}; its answer file is {}",
            m.name,
            d.name,
            d.family.answer_kind(),
            answer_path(d.family, m)
        ));
    }
    Route::Answer {
        machine: Some(m.name.clone()),
        profile: p.name.clone(),
        part,
    }
}

fn profile_answer(inv: &Inventory, name: &str, nocloud: bool, part: &str) -> Route {
    let Some((p, d)) = inv.profile_and_distro(name) else {
        return not_found(format!("no profile {name:?} in {}", inv.source_name()));
    };
    let ubuntu = d.family == Family::Ubuntu;
    if ubuntu != nocloud {
        return not_found(format!(
            "profile {} installs with {}; its answer file is {}",
            p.name,
            d.family.answer_kind(),
            if ubuntu {
                format!("/profiles/{}/autoinstall/user-data", p.name)
            } else {
                format!("/profiles/{}/answer", p.name)
            }
        ));
    }
    let part = if nocloud {
        match nocloud_part(part) {
            Some(x) => x,
            None => return not_found(format!("no {part} in the NoCloud data source")),
        }
    } else {
        AnswerPart::Main
    };
    Route::Answer {
        machine: None,
        profile: p.name.clone(),
        part,
    }
}

fn callback(state: &State, inv: &Inventory, req: &Request<()>, key: &str, action: &str) -> Route {
    let Some(m) = inv.find_machine(key) else {
        return unknown_machine(inv, key);
    };
    let Some(token) = presented_token(req) else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "a token is required (Authorization: Bearer <token> or ?token=<token>)",
        );
    };
    let admin = state
        .admin_token
        .as_deref()
        .is_some_and(|a| same(a, &token));
    let (ok, event) = match action {
        "installed" => {
            let own = state
                .secret
                .as_ref()
                .is_some_and(|s| token_matches(s, &m.name, &token));
            (own || admin, StateEvent::Installed)
        }
        _ => {
            if state.admin_token.is_none() {
                return refused(
                    StatusCode::FORBIDDEN,
                    "reinstall is disabled: the server has no --admin-token-file",
                );
            }
            (admin, StateEvent::Reinstall)
        }
    };
    if !ok {
        return refused(
            StatusCode::UNAUTHORIZED,
            format!("the token is not valid for {action} of machine {}", m.name),
        );
    }
    Route::Callback {
        machine: m.name.clone(),
        event,
    }
}

/// A file or directory under `root`, or why not.
fn on_disk(
    root: &Path,
    segs: &[&str],
    raw: &str,
    shown: &str,
    dir_slash: bool,
    area: Area,
) -> Result<Route, Refused> {
    let file = safe_path::resolve(root, segs)?;
    if file.is_dir() {
        if dir_slash {
            Ok(Route::Listing {
                dir: file.path,
                shown: if shown.ends_with('/') {
                    shown.to_owned()
                } else {
                    format!("{shown}/")
                },
            })
        } else {
            Ok(Route::Redirect {
                location: format!("{raw}/"),
            })
        }
    } else if dir_slash && !segs.is_empty() {
        // `file/` names a directory that is not there.
        Err(Refused::NotFound)
    } else {
        Ok(Route::File {
            file,
            area,
            note: None,
        })
    }
}

fn tree(
    inv: &Inventory,
    req: &Request<()>,
    raw: &str,
    distro: &str,
    inside: &[&str],
    dir_slash: bool,
) -> Route {
    let Some(d) = inv.distros.get(distro) else {
        return not_found(format!("no distro {distro:?} in {}", inv.source_name()));
    };
    let dir = match &d.tree {
        Tree::Dir(dir) => dir,
        Tree::Url(url) => {
            return not_found(format!("distro {distro} is served from its mirror, {url}"));
        }
    };
    let shown = format!("/trees/{distro}/{}", inside.join("/"));
    match on_disk(
        dir,
        inside,
        raw,
        &shown,
        dir_slash,
        Area::Tree(distro.to_owned()),
    ) {
        Ok(Route::File { file, area, .. }) => {
            let rel = inside.join("/");
            let boots =
                rel == d.kernel.trim_start_matches('/') || rel == d.initrd.trim_start_matches('/');
            let note = boots
                .then(|| requester(req))
                .flatten()
                .and_then(|ip| inv.machine_by_address(ip))
                .map(|m| Note {
                    machine: m.name.clone(),
                    detail: shown.clone(),
                });
            Route::File { file, area, note }
        }
        Ok(r) => r,
        Err(Refused::NotFound) if !Path::new(dir).is_dir() => not_found(format!(
            "the tree of {distro} ({}) is not there: not mounted?",
            dir.display()
        )),
        Err(r) => from_refusal(r),
    }
}

fn loaders(
    state: &State,
    req: &Request<()>,
    raw: &str,
    decoded: &str,
    inside: &[&str],
    dir_slash: bool,
) -> Route {
    // Disk first, then generated files (GRUB asks `$prefix/grub.cfg` next to itself).
    let mut refusal = Refused::NotFound;
    if let Some(dir) = &state.loaders {
        match on_disk(dir, inside, raw, decoded, dir_slash, Area::Loaders) {
            Ok(Route::File { file, area, .. }) => {
                let note = state.inventory.as_ref().and_then(|inv| {
                    let m = inv.machine_by_address(requester(req)?)?;
                    Some(Note {
                        machine: m.name.clone(),
                        detail: decoded.to_owned(),
                    })
                });
                return Route::File { file, area, note };
            }
            Ok(r) => return r,
            Err(r) => refusal = r,
        }
    }
    if refusal == Refused::NotFound
        && let Some(inv) = &state.inventory
        && let Some(r) = boot_file(inv, req, decoded)
    {
        return r;
    }
    if state.loaders.is_none() && refusal == Refused::NotFound {
        return not_found("no boot loaders are served here (no --loaders directory)");
    }
    from_refusal(refusal)
}

fn boot_file(inv: &Inventory, req: &Request<()>, decoded: &str) -> Option<Route> {
    let kind = render::classify(inv, decoded, requester(req))?;
    let machine = match &kind {
        BootFileKind::PxelinuxMachine(n)
        | BootFileKind::GrubMachine(n)
        | BootFileKind::IpxeMachine(n) => Some(n.clone()),
        _ => None,
    };
    Some(Route::BootFile {
        kind,
        note: machine.map(|machine| Note {
            machine,
            detail: decoded.to_owned(),
        }),
    })
}

/// `--root` files, then generated boot files, then 404.
fn fallback(
    state: &State,
    req: &Request<()>,
    raw: &str,
    decoded: &str,
    segs: &[&str],
    dir_slash: bool,
) -> Route {
    let mut refusal = Refused::NotFound;
    if let Some(root) = &state.root {
        match on_disk(root, segs, raw, decoded, dir_slash, Area::Root) {
            Ok(r) => return r,
            Err(r) => refusal = r,
        }
    }
    if refusal == Refused::NotFound
        && let Some(inv) = &state.inventory
        && let Some(r) = boot_file(inv, req, decoded)
    {
        return r;
    }
    from_refusal(refusal)
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
