//! The pure router: a request and the loaded [`State`] in, a [`Route`] out.
//!
//! No socket and no clock: the file system is only consulted to resolve paths inside
//! trees (through [`crate::safe_path`]). The client's address, when a route depends on
//! it, comes from the [`Peer`] request extension.
//!
//! The paths pxe-model hands out are read by [`pxe_model::urls::Endpoint::parse`], next to
//! where they are spelt; a route borrows the machine, profile and distro it found from the
//! [`State`], so the service never looks them up again.

use crate::safe_path::{self, Refused, Resolved};
use http::{Method, Request, StatusCode, header};
use pxe_model::deploy::Deploy;
use pxe_model::entry_dir::Entry;
use pxe_model::render::{self, BootFileKind};
use pxe_model::state::{Secret, StateEvent, token_shaped};
use pxe_model::urls::{self, Action, Endpoint, NoCloud};
use pxe_model::{Distro, Family, Inventory, Machine, Profile, Tree};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Everything routing depends on, loaded once (and again on reload).
#[derive(Debug, Default)]
pub struct State {
    pub inventory: Option<Inventory>,
    /// The inventory file it was loaded from (the API's changes load it again).
    pub inventory_file: Option<PathBuf>,
    /// A plain tree served at `/` (canonical path).
    pub root: Option<PathBuf>,
    /// Boot loaders for UEFI HTTP boot, served at `/loaders/` (canonical path).
    pub loaders: Option<PathBuf>,
    /// The key of the per-machine callback tokens (from the state directory).
    pub secret: Option<Secret>,
    /// The operator's token for `reinstall` (and for `installed` on any machine), and
    /// for reading the API and the full status page.
    pub admin_token: Option<String>,
    /// A token that may only read: the machine API and the full status page.
    pub read_token: Option<String>,
    /// `/status` shows every machine to anyone (`--public-status`); otherwise anyone gets
    /// counts only, and the full page needs a token.
    pub public_status: bool,
}

impl State {
    /// The same state with another inventory (loaded again after a change).
    pub fn with_inventory(&self, inventory: Inventory) -> State {
        State {
            inventory: Some(inventory),
            inventory_file: self.inventory_file.clone(),
            root: self.root.clone(),
            loaders: self.loaders.clone(),
            secret: self.secret.clone(),
            admin_token: self.admin_token.clone(),
            read_token: self.read_token.clone(),
            public_status: self.public_status,
        }
    }
}

/// The client's address, attached to requests by the server as an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Who asks for a state change.
#[derive(Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator's admin token.
    Admin,
    /// A token of a machine's shape, to be checked against its current generation.
    Machine(String),
}

impl std::fmt::Debug for Caller {
    // Tokens never go into logs, not even into debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Admin => f.write_str("Admin"),
            Caller::Machine(_) => f.write_str("Machine(..)"),
        }
    }
}

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
pub struct Note<'s> {
    pub whose: Whose<'s>,
    pub detail: String,
}

/// Whose timeline a [`Note`] goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whose<'s> {
    /// A machine known when routing: the file was made for it, or the client has its
    /// fixed address.
    Machine(&'s Machine),
    /// The machine dhcpd last acknowledged this address to, if any: the service asks the
    /// state store (a machine on a pool address).
    AckedAt(Ipv4Addr),
}

impl<'s> Note<'s> {
    pub fn of(machine: &'s Machine, detail: impl Into<String>) -> Self {
        Note {
            whose: Whose::Machine(machine),
            detail: detail.into(),
        }
    }

    /// The machine, when routing knew it.
    pub fn machine(&self) -> Option<&'s Machine> {
        match self.whose {
            Whose::Machine(m) => Some(m),
            Whose::AckedAt(_) => None,
        }
    }
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

/// What `GET /api/v1/<list>` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Profiles,
    Distros,
}

/// A change to the machines, profiles or distros directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `POST /api/v1/machines` (or profiles, distros): a new entry, named in the body.
    Add,
    /// `PUT /api/v1/machines/<name>`: an entry of the directory replaced (or created).
    Put { name: String },
    /// `DELETE /api/v1/machines/<name>`: an entry's file removed.
    Delete { name: String },
}

/// Which directory a [`Change`] is made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    Machines,
    /// `distros_dir` or `profiles_dir` ([`pxe_model::entry_dir`]).
    Entries(Entry),
}

/// Every route of the JSON API, as `(method, path)` with OpenAPI's `{machine}` for a
/// machine's name or MAC (GET implies HEAD). docs/api.yaml documents exactly these; a
/// test probes the router with every method and path to hold both to it.
pub const API_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/machines"),
    ("POST", "/api/v1/machines"),
    ("GET", "/api/v1/machines/{machine}"),
    ("PUT", "/api/v1/machines/{machine}"),
    ("DELETE", "/api/v1/machines/{machine}"),
    ("POST", "/api/v1/machines/{machine}/installed"),
    ("POST", "/api/v1/machines/{machine}/reinstall"),
    ("POST", "/api/v1/machines/{machine}/report"),
    ("POST", "/api/v1/machines/{machine}/booted"),
    ("POST", "/api/v1/machines/{machine}/power"),
    ("GET", "/api/v1/profiles"),
    ("POST", "/api/v1/profiles"),
    ("PUT", "/api/v1/profiles/{profile}"),
    ("DELETE", "/api/v1/profiles/{profile}"),
    ("GET", "/api/v1/distros"),
    ("POST", "/api/v1/distros"),
    ("PUT", "/api/v1/distros/{distro}"),
    ("DELETE", "/api/v1/distros/{distro}"),
];

/// What a request gets; `'s` is the [`State`] it was routed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'s> {
    /// A regular file inside a tree.
    File {
        file: Resolved,
        area: Area,
        note: Option<Note<'s>>,
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
        machine: Option<&'s Machine>,
        profile: &'s Profile,
        distro: &'s Distro,
        part: AnswerPart,
    },
    /// A machine's deploy plan (JSON, with its callback token), for the deploy agent.
    DeployPlan {
        machine: &'s Machine,
        deploy: &'s Deploy,
    },
    /// A deploy agent's report (step, progress or failure), with the token it presented,
    /// which the service checks against the machine's install generation.
    DeployReport {
        machine: &'s Machine,
        token: String,
    },
    /// A generated boot file (iPXE script, GRUB config, pxelinux config).
    BootFile {
        kind: BootFileKind,
        note: Option<Note<'s>>,
    },
    /// `GET /api/v1/machines` (with the admin or the read-only token).
    ApiMachines,
    /// `GET /api/v1/machines/<mac or name>`.
    ApiMachine {
        machine: &'s Machine,
    },
    /// `GET /api/v1/profiles` and `/api/v1/distros`.
    ApiList {
        what: Listed,
    },
    /// A change to the machines, profiles or distros kept in directories, by the admin
    /// token; the body is read before routing and checked by the service.
    ApiChange {
        of: Kept,
        change: Change,
    },
    /// A state change, by the operator or (for `installed`) by a machine's token, which
    /// the service checks against the machine's install generation under the state lock.
    Callback {
        machine: &'s Machine,
        event: StateEvent,
        by: Caller,
    },
    /// `POST /api/v1/machines/<name>/power` with the admin token: the body (read before
    /// routing) names the action, which the service runs on the machine's BMC.
    Power {
        machine: &'s Machine,
    },
    /// `/status`: every machine (`full`), or the public summary (counts).
    Status {
        full: bool,
    },
    Metrics,
    /// Refused or not found, with a reason for the client.
    Refused {
        status: StatusCode,
        reason: String,
        /// `Allow` for 405.
        allow: Option<&'static str>,
    },
}

impl<'s> Route<'s> {
    /// The inventory machine the request is about, when the route found one.
    pub fn machine(&self) -> Option<&'s Machine> {
        match self {
            Route::Answer { machine, .. } => *machine,
            Route::ApiMachine { machine }
            | Route::Callback { machine, .. }
            | Route::DeployPlan { machine, .. }
            | Route::DeployReport { machine, .. }
            | Route::Power { machine } => Some(machine),
            Route::File { note, .. } | Route::BootFile { note, .. } => {
                note.as_ref().and_then(Note::machine)
            }
            _ => None,
        }
    }

    /// The machine whose own file this is, when only that machine may fetch it: a
    /// machine's answer file (every part) or its generated boot file (iPXE script,
    /// per-MAC pxelinux or GRUB config). Menus, trees and loaders are for anyone.
    pub fn owner(&self) -> Option<&'s Machine> {
        match self {
            Route::Answer { machine, .. } => *machine,
            Route::DeployPlan { machine, .. } => Some(machine),
            Route::BootFile {
                kind:
                    BootFileKind::PxelinuxMachine(_)
                    | BootFileKind::GrubMachine(_)
                    | BootFileKind::IpxeMachine(_),
                note,
            } => note.as_ref().and_then(Note::machine),
            _ => None,
        }
    }

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
            Route::Answer { .. } | Route::DeployPlan { .. } => "answer",
            Route::BootFile { .. } => "boot_file",
            Route::ApiMachines
            | Route::ApiMachine { .. }
            | Route::ApiList { .. }
            | Route::ApiChange { .. }
            | Route::Power { .. } => "api",
            Route::Callback { .. } | Route::DeployReport { .. } => "callback",
            Route::Status { .. } => "status",
            Route::Metrics => "metrics",
            Route::Refused { .. } => "refused",
        }
    }
}

/// Longest request target accepted (path and query), in bytes.
pub const MAX_TARGET: usize = 4096;

fn refused<'s>(status: StatusCode, reason: impl Into<String>) -> Route<'s> {
    Route::Refused {
        status,
        reason: reason.into(),
        allow: None,
    }
}

fn not_found<'s>(reason: impl Into<String>) -> Route<'s> {
    refused(StatusCode::NOT_FOUND, reason)
}

fn from_refusal<'s>(r: Refused) -> Route<'s> {
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

/// The client's IPv4 address, if it has one (IPv4-mapped IPv6 included): the
/// [`crate::owner::Client`] the service decided on (trusted proxies' `X-Forwarded-For`
/// applied), else the connection's peer.
fn requester(req: &Request<()>) -> Option<Ipv4Addr> {
    let ip = match req.extensions().get::<crate::owner::Client>() {
        Some(c) => c.0,
        None => req.extensions().get::<Peer>()?.0.ip(),
    };
    match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    }
}

/// The query parameter that once carried a callback token. Tokens travel only in the
/// `Authorization` header now; a `?token=` is refused, and still redacted in logs.
pub const TOKEN_PARAM: &str = "token";
/// What a token's value is replaced by in logged request targets.
pub const REDACTED: &str = "REDACTED";

/// The request target (path and query) as logs show it: the value of every
/// [`TOKEN_PARAM`] parameter replaced by [`REDACTED`], since tokens never go into logs.
pub fn logged_target(uri: &http::Uri) -> Cow<'_, str> {
    let Some(pq) = uri.path_and_query() else {
        return Cow::Borrowed(uri.path());
    };
    let is_token = |pair: &str| pair.split_once('=').is_some_and(|(k, _)| k == TOKEN_PARAM);
    let Some(query) = pq.query().filter(|q| q.split('&').any(is_token)) else {
        return Cow::Borrowed(pq.as_str());
    };
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| {
            if is_token(pair) {
                Cow::Owned(format!("{TOKEN_PARAM}={REDACTED}"))
            } else {
                Cow::Borrowed(pair)
            }
        })
        .collect();
    Cow::Owned(format!("{}?{}", pq.path(), pairs.join("&")))
}

/// Whether the request target carries a `token=` query parameter.
fn token_in_query(req: &Request<()>) -> bool {
    req.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split_once('=').is_some_and(|(k, _)| k == TOKEN_PARAM))
    })
}

/// The token presented: `Authorization: Bearer <t>` (never the query string).
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
    None
}

/// Decides what a request gets.
pub fn route<'s>(state: &'s State, req: &Request<()>) -> Route<'s> {
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
    let t = Target {
        raw,
        decoded: &decoded,
        segs: &segs,
        dir_slash: decoded.ends_with('/'),
    };
    let r = match (&state.inventory, Endpoint::parse(&segs)) {
        (_, Some(Endpoint::Metrics)) => Route::Metrics,
        (Some(inv), Some(endpoint)) => inventory_endpoint(state, inv, req, &t, endpoint),
        (Some(_), None) => match t.segs {
            ["api", ..] => not_found("no such API endpoint"),
            [urls::TREES] if t.dir_slash => Route::TreesIndex,
            [urls::TREES] => Route::Redirect {
                location: format!("{raw}/"),
            },
            [] if state.root.is_none() => Route::Index,
            _ => fallback(state, req, &t),
        },
        (None, Some(Endpoint::Loader { inside })) if state.loaders.is_some() => {
            loaders(state, req, &t, inside)
        }
        (None, _) if t.segs.is_empty() && state.root.is_none() => {
            not_found("nothing is served here")
        }
        (None, _) => fallback(state, req, &t),
    };
    // A callback has checked its method (POST) already.
    let readable = req.method() == Method::GET || req.method() == Method::HEAD;
    if readable
        || matches!(
            r,
            Route::Refused { .. }
                | Route::Callback { .. }
                | Route::DeployReport { .. }
                | Route::Power { .. }
                | Route::ApiChange { .. }
        )
    {
        r
    } else {
        Route::Refused {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: format!("{} is not served here", req.method()),
            allow: Some("GET, HEAD"),
        }
    }
}

/// What an endpoint of the inventory's is.
fn inventory_endpoint<'s>(
    state: &'s State,
    inv: &'s Inventory,
    req: &Request<()>,
    t: &Target<'_>,
    endpoint: Endpoint<'_>,
) -> Route<'s> {
    match endpoint {
        Endpoint::Status => Route::Status {
            full: state.public_status || may_read(state, req).is_ok(),
        },
        Endpoint::Metrics => Route::Metrics,
        Endpoint::Machines => match *req.method() {
            Method::POST => change(state, req, Kept::Machines, Change::Add),
            Method::GET | Method::HEAD => match may_read(state, req) {
                Ok(()) => Route::ApiMachines,
                Err(r) => r,
            },
            _ => not_allowed(req, "GET, HEAD, POST"),
        },
        Endpoint::Machine { key } => match *req.method() {
            Method::PUT => change(state, req, Kept::Machines, Change::Put { name: key.into() }),
            Method::DELETE => change(
                state,
                req,
                Kept::Machines,
                Change::Delete { name: key.into() },
            ),
            Method::GET | Method::HEAD => match may_read(state, req) {
                Err(r) => r,
                Ok(()) => match inv.find_machine(key) {
                    Some(machine) => Route::ApiMachine { machine },
                    None => unknown_machine(inv, key),
                },
            },
            _ => not_allowed(req, "GET, HEAD, PUT, DELETE"),
        },
        Endpoint::Profiles => entries(state, req, Entry::Profile, Listed::Profiles),
        Endpoint::Distros => entries(state, req, Entry::Distro, Listed::Distros),
        Endpoint::Profile { name } => entry(state, req, Entry::Profile, name),
        Endpoint::Distro { name } => entry(state, req, Entry::Distro, name),
        Endpoint::Callback { key, action } => callback(state, inv, req, key, action),
        Endpoint::Kickstart { key } => machine_answer(inv, key, Family::Redhat, AnswerPart::Main),
        Endpoint::Preseed { key } => machine_answer(inv, key, Family::Debian, AnswerPart::Main),
        Endpoint::Autoinstall { key, file } => match nocloud_part(file) {
            Some(p) => machine_answer(inv, key, Family::Ubuntu, p),
            None => no_nocloud_file(file),
        },
        Endpoint::ProfileAnswer { profile } => profile_answer(inv, profile, None),
        Endpoint::ProfileAutoinstall { profile, file } => profile_answer(inv, profile, Some(file)),
        Endpoint::Tree { distro, inside } => tree(inv, req, t, distro, inside),
        Endpoint::Loader { inside } => loaders(state, req, t, inside),
        Endpoint::IpxeScript { key } => {
            boot_file(inv, req, t.decoded).unwrap_or_else(|| unknown_machine(inv, key))
        }
        Endpoint::DeployPlan { key } => deploy_plan(inv, key),
    }
}

/// A machine's deploy plan: only for a machine whose profile has a `deploy` section.
fn deploy_plan<'s>(inv: &'s Inventory, key: &str) -> Route<'s> {
    let Some(m) = inv.find_machine(key) else {
        return unknown_machine(inv, key);
    };
    match inv.profile_of(m).and_then(|(p, _)| p.deploy.as_ref()) {
        Some(deploy) => Route::DeployPlan { machine: m, deploy },
        None => not_found(format!(
            "machine {} installs with its distro's installer, not the deploy agent: its \
             profile has no deploy section",
            m.name
        )),
    }
}

/// `/api/v1/profiles` or `/api/v1/distros`: the list, or a new entry.
fn entries<'s>(state: &State, req: &Request<()>, kind: Entry, what: Listed) -> Route<'s> {
    match *req.method() {
        Method::POST => change(state, req, Kept::Entries(kind), Change::Add),
        Method::GET | Method::HEAD => match may_read(state, req) {
            Ok(()) => Route::ApiList { what },
            Err(r) => r,
        },
        _ => not_allowed(req, "GET, HEAD, POST"),
    }
}

/// `/api/v1/profiles/<name>` or `/api/v1/distros/<name>`: replaced or removed.
fn entry<'s>(state: &State, req: &Request<()>, kind: Entry, name: &str) -> Route<'s> {
    let of = Kept::Entries(kind);
    match *req.method() {
        Method::PUT => change(state, req, of, Change::Put { name: name.into() }),
        Method::DELETE => change(state, req, of, Change::Delete { name: name.into() }),
        _ => not_allowed(req, "PUT, DELETE"),
    }
}

fn not_allowed<'s>(req: &Request<()>, allow: &'static str) -> Route<'s> {
    Route::Refused {
        status: StatusCode::METHOD_NOT_ALLOWED,
        reason: format!("{} is not served here", req.method()),
        allow: Some(allow),
    }
}

/// A change to the machines directory, if the admin token comes with it: 401 without a
/// token or with a wrong one, 403 with the read-only token or with no admin token set.
fn change<'s>(state: &State, req: &Request<()>, of: Kept, change: Change) -> Route<'s> {
    if token_in_query(req) {
        return refused(
            StatusCode::UNAUTHORIZED,
            "tokens are not taken from the query string; send Authorization: Bearer <token>",
        );
    }
    let Some(admin) = state.admin_token.as_deref() else {
        return refused(
            StatusCode::FORBIDDEN,
            "changes through the API are disabled: the server has no --admin-token-file",
        );
    };
    let Some(token) = presented_token(req) else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "a change through the API needs the admin token (Authorization: Bearer <token>)",
        );
    };
    if pxe_daemon::secret::same(admin.as_bytes(), token.as_bytes()) {
        Route::ApiChange { of, change }
    } else if state
        .read_token
        .as_deref()
        .is_some_and(|r| pxe_daemon::secret::same(r.as_bytes(), token.as_bytes()))
    {
        refused(
            StatusCode::FORBIDDEN,
            "the read-only token may not change machines; the admin token may",
        )
    } else {
        refused(StatusCode::UNAUTHORIZED, "the token is not the admin token")
    }
}

/// Whether the request may read the machine API: the admin token or the read-only token
/// in `Authorization: Bearer`, else the refusal (401).
fn may_read<'s>(state: &State, req: &Request<()>) -> Result<(), Route<'s>> {
    if token_in_query(req) {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "tokens are not taken from the query string; send Authorization: Bearer <token>",
        ));
    }
    if state.admin_token.is_none() && state.read_token.is_none() {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "the machine API is disabled: the server has neither --admin-token-file nor \
             --read-token-file",
        ));
    }
    let Some(token) = presented_token(req) else {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "the machine API needs the admin or the read-only token (Authorization: Bearer \
             <token>)",
        ));
    };
    let same = |t: &Option<String>| {
        t.as_deref()
            .is_some_and(|t| pxe_daemon::secret::same(t.as_bytes(), token.as_bytes()))
    };
    if same(&state.admin_token) || same(&state.read_token) {
        Ok(())
    } else {
        Err(refused(
            StatusCode::UNAUTHORIZED,
            "the token is neither the admin nor the read-only token",
        ))
    }
}

fn unknown_machine<'s>(inv: &Inventory, key: &str) -> Route<'s> {
    not_found(format!(
        "no machine with MAC address or name {key:?} in {}",
        inv.source_name()
    ))
}

fn no_nocloud_file<'s>(file: &str) -> Route<'s> {
    not_found(format!("no {file} in the NoCloud data source"))
}

fn nocloud_part(file: &str) -> Option<AnswerPart> {
    Some(match NoCloud::parse(file)? {
        NoCloud::UserData => AnswerPart::Main,
        NoCloud::MetaData => AnswerPart::MetaData,
        NoCloud::VendorData => AnswerPart::VendorData,
    })
}

fn machine_answer<'s>(
    inv: &'s Inventory,
    key: &str,
    family: Family,
    part: AnswerPart,
) -> Route<'s> {
    let Some(m) = inv.find_machine(key) else {
        return unknown_machine(inv, key);
    };
    let Some((profile, distro)) = inv.profile_of(m) else {
        return not_found(format!("machine {} has no profile", m.name));
    };
    if distro.family != family {
        let mac = urls::primary_mac(m).colon();
        return not_found(format!(
            "machine {} installs {} with {}; its answer file is {}",
            m.name,
            distro.name,
            distro.family.answer_kind(),
            Endpoint::machine_answer(distro.family, &mac)
        ));
    }
    Route::Answer {
        machine: Some(m),
        profile,
        distro,
        part,
    }
}

/// A profile's answer file: `nocloud_file` is the NoCloud file asked for, `None` for the
/// kickstart or preseed.
fn profile_answer<'s>(inv: &'s Inventory, name: &str, nocloud_file: Option<&str>) -> Route<'s> {
    let Some((profile, distro)) = inv.profile_and_distro(name) else {
        return not_found(format!("no profile {name:?} in {}", inv.source_name()));
    };
    let ubuntu = distro.family == Family::Ubuntu;
    if ubuntu != nocloud_file.is_some() {
        return not_found(format!(
            "profile {} installs with {}; its answer file is {}",
            profile.name,
            distro.family.answer_kind(),
            Endpoint::profile_answer(distro.family, &profile.name)
        ));
    }
    let part = match nocloud_file {
        Some(file) => match nocloud_part(file) {
            Some(part) => part,
            None => return no_nocloud_file(file),
        },
        None => AnswerPart::Main,
    };
    Route::Answer {
        machine: None,
        profile,
        distro,
        part,
    }
}

fn callback<'s>(
    state: &State,
    inv: &'s Inventory,
    req: &Request<()>,
    key: &str,
    action: Action,
) -> Route<'s> {
    if req.method() != Method::POST {
        return Route::Refused {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: format!("{} takes POST", action.as_str()),
            allow: Some("POST"),
        };
    }
    let Some(m) = inv.find_machine(key) else {
        return unknown_machine(inv, key);
    };
    if token_in_query(req) {
        return refused(
            StatusCode::UNAUTHORIZED,
            "tokens are not taken from the query string (it ends up in logs and histories); \
             send Authorization: Bearer <token>",
        );
    }
    let Some(token) = presented_token(req) else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "a token is required (Authorization: Bearer <token>)",
        );
    };
    let admin = state
        .admin_token
        .as_deref()
        .is_some_and(|a| pxe_daemon::secret::same(a.as_bytes(), token.as_bytes()));
    let invalid = || {
        refused(
            StatusCode::UNAUTHORIZED,
            format!(
                "the token is not valid for {} of machine {}",
                action.as_str(),
                m.name
            ),
        )
    };
    match action {
        Action::Installed if admin => Route::Callback {
            machine: m,
            event: StateEvent::Installed,
            by: Caller::Admin,
        },
        // Checked against the machine's generation by the service, under the state lock.
        Action::Installed if state.secret.is_some() && token_shaped(&token) => Route::Callback {
            machine: m,
            event: StateEvent::Installed,
            by: Caller::Machine(token),
        },
        Action::Installed => invalid(),
        Action::Reinstall if state.admin_token.is_none() => refused(
            StatusCode::FORBIDDEN,
            "reinstall is disabled: the server has no --admin-token-file",
        ),
        Action::Reinstall if admin => Route::Callback {
            machine: m,
            event: StateEvent::Reinstall,
            by: Caller::Admin,
        },
        Action::Reinstall => invalid(),
        // Only the machine itself reports its deploy and its first boot.
        Action::Report if state.secret.is_some() && token_shaped(&token) => {
            Route::DeployReport { machine: m, token }
        }
        Action::Booted if state.secret.is_some() && token_shaped(&token) => Route::Callback {
            machine: m,
            event: StateEvent::Booted,
            by: Caller::Machine(token),
        },
        Action::Report | Action::Booted => invalid(),
        Action::Power if state.admin_token.is_none() => refused(
            StatusCode::FORBIDDEN,
            "power control is disabled: the server has no --admin-token-file",
        ),
        Action::Power if admin => Route::Power { machine: m },
        Action::Power => invalid(),
    }
}

/// A request's path, decoded once.
struct Target<'r> {
    /// As received (percent-encoded).
    raw: &'r str,
    decoded: &'r str,
    /// The decoded path's non-empty segments.
    segs: &'r [&'r str],
    /// The path ends in `/` (a directory is asked for).
    dir_slash: bool,
}

/// A file or directory under `root`, or why not.
fn on_disk<'s>(
    root: &Path,
    segs: &[&str],
    t: &Target<'_>,
    shown: &str,
    area: Area,
) -> Result<Route<'s>, Refused> {
    let file = safe_path::resolve(root, segs)?;
    if file.is_dir() {
        if t.dir_slash {
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
                location: format!("{}/", t.raw),
            })
        }
    } else if t.dir_slash && !segs.is_empty() {
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

/// A timeline note for the machine at the client's address: the one whose fixed address
/// it is, or else the one dhcpd last acknowledged it to (looked up by the service).
fn note_by_address<'s>(inv: &'s Inventory, req: &Request<()>, detail: &str) -> Option<Note<'s>> {
    let address = requester(req)?;
    let whose = match inv.machine_by_address(address) {
        Some(machine) => Whose::Machine(machine),
        None => Whose::AckedAt(address),
    };
    Some(Note {
        whose,
        detail: detail.to_owned(),
    })
}

fn tree<'s>(
    inv: &'s Inventory,
    req: &Request<()>,
    t: &Target<'_>,
    distro: &str,
    inside: &[&str],
) -> Route<'s> {
    let Some(d) = inv.distros.get(distro) else {
        return plain_tree(inv, t, distro, inside);
    };
    let dir = match &d.tree {
        Tree::Dir(dir) => dir,
        Tree::Url(url) => {
            return not_found(format!("distro {distro} is served from its mirror, {url}"));
        }
    };
    let shown = Endpoint::Tree { distro, inside }.to_string();
    match on_disk(dir, inside, t, &shown, Area::Tree(distro.to_owned())) {
        Ok(Route::File { file, area, .. }) => {
            let rel = inside.join("/");
            let boots =
                rel == d.kernel.trim_start_matches('/') || rel == d.initrd.trim_start_matches('/');
            let note = boots.then(|| note_by_address(inv, req, &shown)).flatten();
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

/// A tree of the inventory's `trees` (an archive, images): files for anyone, no notes.
fn plain_tree<'s>(inv: &'s Inventory, t: &Target<'_>, name: &str, inside: &[&str]) -> Route<'s> {
    let Some(dir) = inv.trees.get(name) else {
        return not_found(format!(
            "no distro or tree {name:?} in {}",
            inv.source_name()
        ));
    };
    let shown = Endpoint::Tree {
        distro: name,
        inside,
    }
    .to_string();
    match on_disk(dir, inside, t, &shown, Area::Tree(name.to_owned())) {
        Ok(r) => r,
        Err(Refused::NotFound) if !dir.is_dir() => not_found(format!(
            "the tree {name} ({}) is not there: not mounted?",
            dir.display()
        )),
        Err(r) => from_refusal(r),
    }
}

fn loaders<'s>(state: &'s State, req: &Request<()>, t: &Target<'_>, inside: &[&str]) -> Route<'s> {
    // Disk first, then generated files (GRUB asks `$prefix/grub.cfg` next to itself).
    let mut refusal = Refused::NotFound;
    if let Some(dir) = &state.loaders {
        match on_disk(dir, inside, t, t.decoded, Area::Loaders) {
            Ok(Route::File { file, area, .. }) => {
                let note = state
                    .inventory
                    .as_ref()
                    .and_then(|inv| note_by_address(inv, req, t.decoded));
                return Route::File { file, area, note };
            }
            Ok(r) => return r,
            Err(r) => refusal = r,
        }
    }
    if refusal == Refused::NotFound
        && let Some(inv) = &state.inventory
        && let Some(r) = boot_file(inv, req, t.decoded)
    {
        return r;
    }
    if state.loaders.is_none() && refusal == Refused::NotFound {
        return not_found("no boot loaders are served here (no --loaders directory)");
    }
    from_refusal(refusal)
}

fn boot_file<'s>(inv: &'s Inventory, req: &Request<()>, decoded: &str) -> Option<Route<'s>> {
    let kind = render::classify(inv, decoded, requester(req))?;
    let machine = match &kind {
        BootFileKind::PxelinuxMachine(n)
        | BootFileKind::GrubMachine(n)
        | BootFileKind::IpxeMachine(n) => inv.machines.get(n),
        _ => None,
    };
    Some(Route::BootFile {
        kind,
        note: machine.map(|machine| Note::of(machine, decoded)),
    })
}

/// `--root` files, then generated boot files, then 404.
fn fallback<'s>(state: &'s State, req: &Request<()>, t: &Target<'_>) -> Route<'s> {
    let mut refusal = Refused::NotFound;
    if let Some(root) = &state.root {
        match on_disk(root, t.segs, t, t.decoded, Area::Root) {
            Ok(r) => return r,
            Err(r) => refusal = r,
        }
    }
    if refusal == Refused::NotFound
        && let Some(inv) = &state.inventory
        && let Some(r) = boot_file(inv, req, t.decoded)
    {
        return r;
    }
    from_refusal(refusal)
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "route_urls_tests.rs"]
pub(crate) mod urls_tests;
