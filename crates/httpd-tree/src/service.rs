//! The HTTP service: a request in, [`route`] decides, and this module produces the
//! response: files streamed from trees, rendered answer files and boot files, the API,
//! the status page and metrics. State changes (answer fetched, installed, reinstall)
//! and boot-timeline entries are written here, on the blocking pool.

use crate::access_log::{self, AccessLog};
use crate::api::{self, Record};
use crate::body::Body;
use crate::metrics::{MachineCounts, Metrics};
use crate::owner::{self, Client};
use crate::route::{self, AnswerPart, Caller, Kept, Note, Peer, Route, State, Whose};
use crate::{html, mime, static_file, status_page};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::{Frame, Incoming, SizeHint};
use pxe_model::render::BootFileKind;
use pxe_model::state::{BootEvent, Phase, StateEvent, StateStore, machine_token};
use pxe_model::{Distro, InstallState, Inventory, Machine, Profile};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Most timeline entries read per machine for pages and the API.
pub const TIMELINE_LIMIT: usize = 200;

/// Where install state lives: the state directory or the database.
pub type Store = Arc<dyn StateStore>;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    state: RwLock<Arc<State>>,
    pub store: Option<Store>,
    pub metrics: Metrics,
    pub access_log: AccessLog,
    /// Changes through the API, one at a time.
    pub changes: tokio::sync::Mutex<()>,
    /// The web console's logins and machine summaries.
    pub console: crate::console::Console,
}

impl Shared {
    pub fn new(state: State, store: Option<Store>, access_log: AccessLog) -> Shared {
        Shared {
            state: RwLock::new(Arc::new(state)),
            store,
            metrics: Metrics::default(),
            access_log,
            changes: tokio::sync::Mutex::new(()),
            console: crate::console::Console::default(),
        }
    }

    /// The current state (a cheap clone of an `Arc`).
    pub fn state(&self) -> Arc<State> {
        Arc::clone(&self.state.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the state (inventory reload).
    pub fn replace_state(&self, state: State) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
    }
}

/// Unix time in milliseconds: the shell's one clock read per request.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A plain-text response.
pub fn plain(status: StatusCode, text: impl Into<String>) -> Response<Body> {
    typed(status, mime::TEXT, Bytes::from(text.into()))
}

pub(crate) fn typed(status: StatusCode, ctype: &'static str, body: Bytes) -> Response<Body> {
    let len = body.len();
    let mut r = Response::new(Body::bytes(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

pub(crate) fn no_store(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Runs store work on the blocking pool; `None` without a store or when it failed
/// (failures are logged).
pub(crate) async fn with_store<T: Send + 'static>(
    store: &Option<Store>,
    what: &'static str,
    f: impl FnOnce(&dyn StateStore) -> Result<T, pxe_model::state::StateError> + Send + 'static,
) -> Option<T> {
    let store = Arc::clone(store.as_ref()?);
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::error!(%e, "state store: {what} failed");
            None
        }
        Err(e) => {
            tracing::error!(%e, "state store task: {what} failed");
            None
        }
    }
}

pub(crate) async fn record(
    shared: &Shared,
    machine: String,
    phase: Phase,
    detail: String,
    at: u64,
) {
    let event = BootEvent { at, phase, detail };
    with_store(&shared.store, "record", move |s| s.record(&machine, &event)).await;
}

/// Every inventory machine's name.
fn all_names(state: &State) -> Vec<String> {
    state
        .inventory
        .as_ref()
        .map(|inv| inv.machines.keys().cloned().collect())
        .unwrap_or_default()
}

/// Reads the state and timeline of these machines.
pub(crate) async fn records(
    shared: &Shared,
    names: Vec<String>,
) -> std::collections::BTreeMap<String, Record> {
    with_store(&shared.store, "read", move |s| {
        let mut out = std::collections::BTreeMap::new();
        for n in names {
            let rec = Record {
                state: s.get(&n)?,
                events: s.events(&n, TIMELINE_LIMIT)?,
            };
            out.insert(n, rec);
        }
        Ok(out)
    })
    .await
    .unwrap_or_default()
}

pub(crate) fn json(value: &serde_json::Value) -> Response<Body> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    no_store(typed(StatusCode::OK, mime::JSON, Bytes::from(text)))
}

/// The response to a routed request.
pub async fn respond(
    shared: &Shared,
    state: &State,
    req: &Request<()>,
    route: Route<'_>,
    now: u64,
) -> Response<Body> {
    let get = req.method() == Method::GET;
    match route {
        Route::Refused {
            status,
            reason,
            allow,
        } => refusal(status, &reason, allow),
        Route::Redirect { location } => redirect(&location),
        Route::File { file, note, .. } => {
            if get && let Some(note) = note {
                record_note(shared, state, note, now).await;
            }
            static_file::serve(req.method(), req.headers(), file).await
        }
        Route::Listing { dir, shown } => static_file::listing(dir, shown).await,
        Route::Index => index(state),
        Route::TreesIndex => trees_index(state),
        Route::Answer {
            machine,
            profile,
            distro,
            part,
        } => {
            let Some(inv) = state.inventory.as_ref() else {
                return no_inventory();
            };
            // The token is bound to the machine's install generation.
            let generation = match machine {
                Some(m) if part == AnswerPart::Main => match generation_of(shared, m).await {
                    Ok(g) => g,
                    Err(resp) => return resp,
                },
                _ => 0,
            };
            let text = match answer_text(state, inv, machine, profile, distro, part, generation) {
                Ok(text) => text,
                Err((status, text)) => return plain(status, text),
            };
            // Only the answer file itself starts the install, not NoCloud's other files.
            if get
                && part == AnswerPart::Main
                && let Some(m) = machine
            {
                answer_fetched(shared, m, Phase::AnswerFile, req.uri().path(), now).await;
            }
            no_store(plain(StatusCode::OK, text))
        }
        Route::DeployPlan { machine, deploy } => {
            crate::deploy::plan(shared, state, req, machine, deploy, now).await
        }
        Route::DeployReport { machine, token } => {
            crate::deploy::report(shared, state, req, machine, token, now).await
        }
        Route::BootFile { kind, note } => boot_file(shared, state, get, &kind, note, now).await,
        Route::ApiMachines => api_machines(shared, state, now).await,
        Route::ApiMachine { machine } => api_machine(shared, state, machine, now).await,
        Route::ApiList { what } => match state.inventory.as_ref() {
            Some(inv) => json(&api::listed(inv, what)),
            None => no_inventory(),
        },
        Route::ApiChange {
            of: Kept::Machines,
            change,
        } => crate::api_write::change(shared, state, req, change, now).await,
        Route::ApiChange {
            of: Kept::Entries(kind),
            change,
        } => crate::api_entries::change(shared, state, req, kind, change).await,
        Route::Callback {
            machine,
            event: StateEvent::Reinstall,
            by,
        } => crate::power::reinstall(shared, state, req, machine, by, now).await,
        Route::Callback { machine, event, by } => {
            callback(shared, state, &machine.name, event, by, now).await
        }
        Route::Power { machine } => crate::power::power(shared, req, machine, now).await,
        Route::Status { full } => status(shared, state, full, now).await,
        Route::Metrics => metrics_page(shared, state).await,
    }
}

pub(crate) fn no_inventory() -> Response<Body> {
    plain(StatusCode::NOT_FOUND, "no inventory\n")
}

async fn api_machines(shared: &Shared, state: &State, now: u64) -> Response<Body> {
    let Some(inv) = state.inventory.as_ref() else {
        return no_inventory();
    };
    let recs = records(shared, all_names(state)).await;
    json(&api::machines(
        inv,
        &|n| recs.get(n).cloned().unwrap_or_default(),
        now,
    ))
}

async fn api_machine(
    shared: &Shared,
    state: &State,
    machine: &Machine,
    now: u64,
) -> Response<Body> {
    let Some(inv) = state.inventory.as_ref() else {
        return no_inventory();
    };
    let mut recs = records(shared, vec![machine.name.clone()]).await;
    let rec = recs.remove(&machine.name).unwrap_or_default();
    json(&api::machine(inv, machine, &rec, now))
}

async fn status(shared: &Shared, state: &State, full: bool, now: u64) -> Response<Body> {
    let Some(inv) = state.inventory.as_ref() else {
        return no_inventory();
    };
    let html = if full {
        let recs = records(shared, all_names(state)).await;
        status_page::render(inv, &|n| recs.get(n).cloned().unwrap_or_default(), now)
    } else {
        status_page::summary(inv, &machine_counts(shared, inv).await, now)
    };
    no_store(typed(StatusCode::OK, mime::HTML, Bytes::from(html)))
}

pub(crate) fn refusal(
    status: StatusCode,
    reason: &str,
    allow: Option<&'static str>,
) -> Response<Body> {
    let mut r = plain(status, format!("{reason}\n"));
    if let Some(a) = allow {
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(a));
    }
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

fn redirect(location: &str) -> Response<Body> {
    let mut r = plain(StatusCode::MOVED_PERMANENTLY, format!("see {location}\n"));
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A machine's own file goes only to that machine (see [`pxe_model::owner`]); anyone else gets 403,
/// a log line naming the machine and the address, and an entry on the machine's timeline.
async fn only_for_owner<'s>(
    shared: &Shared,
    route: Route<'s>,
    client: IpAddr,
    path: &str,
    now: u64,
) -> Route<'s> {
    let Some(m) = route.owner() else {
        return route;
    };
    if pxe_model::owner::is_machine(m, client, None) {
        return route;
    }
    let name = m.name.clone();
    let acked = with_store(&shared.store, "read", move |s| {
        s.acked_address_for(&name, client)
    })
    .await
    .flatten();
    if pxe_model::owner::is_machine(m, client, acked) {
        return route;
    }
    let reason = pxe_model::owner::refusal_text(m, client, acked);
    tracing::warn!(machine = %m.name, %client, path, "per-machine file refused: {reason}");
    record(
        shared,
        m.name.clone(),
        Phase::Refused,
        format!("refused {path} to {client}"),
        now,
    )
    .await;
    Route::Refused {
        status: StatusCode::FORBIDDEN,
        reason,
        allow: None,
    }
}

/// Records a route's boot-timeline note (an HTTP fetch). A note by address goes to the
/// machine dhcpd last acknowledged that address to, when it is one of the inventory's.
async fn record_note(shared: &Shared, state: &State, note: Note<'_>, now: u64) {
    let name = match note.whose {
        Whose::Machine(m) => m.name.clone(),
        Whose::AckedAt(address) => {
            let found = with_store(&shared.store, "read", move |s| s.machine_acked_at(address))
                .await
                .flatten();
            let known = |n: &String| {
                state
                    .inventory
                    .as_ref()
                    .is_some_and(|i| i.machines.contains_key(n))
            };
            match found.filter(known) {
                Some(name) => name,
                None => return,
            }
        }
    };
    record(shared, name, Phase::Http, note.detail, now).await;
}

/// A generated boot file, rendered with the install state of the machine it is for.
async fn boot_file(
    shared: &Shared,
    state: &State,
    get: bool,
    kind: &BootFileKind,
    note: Option<Note<'_>>,
    now: u64,
) -> Response<Body> {
    let Some(inv) = state.inventory.as_ref() else {
        return no_inventory();
    };
    let install_state = match note.as_ref() {
        Some(n) => {
            let name = n.machine().map(|m| m.name.clone()).unwrap_or_default();
            with_store(&shared.store, "read", move |s| Ok(s.get(&name)?.state))
                .await
                .unwrap_or(InstallState::Pending)
        }
        None => InstallState::Pending,
    };
    let Some(generated) = pxe_model::render::render(inv, kind, &|_| install_state) else {
        return plain(StatusCode::NOT_FOUND, "no such boot file\n");
    };
    if get && let Some(note) = note {
        record_note(shared, state, note, now).await;
    }
    no_store(plain(StatusCode::OK, generated.content))
}

/// How many of the inventory's machines are in each install state (states only, no
/// timelines are read).
async fn machine_counts(shared: &Shared, inv: &Inventory) -> MachineCounts {
    let names: Vec<String> = inv.machines.keys().cloned().collect();
    let states = with_store(&shared.store, "read", move |s| {
        names
            .into_iter()
            .map(|n| Ok(s.get(&n)?.state))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .unwrap_or_default();
    let mut c = MachineCounts::default();
    for (i, _) in inv.machines.keys().enumerate() {
        match states.get(i).copied().unwrap_or(InstallState::Pending) {
            InstallState::Pending => c.pending += 1,
            InstallState::Installing => c.installing += 1,
            InstallState::Installed => c.installed += 1,
            InstallState::Failed => c.failed += 1,
        }
    }
    c
}

async fn metrics_page(shared: &Shared, state: &State) -> Response<Body> {
    let counts = match &state.inventory {
        Some(inv) => Some(machine_counts(shared, inv).await),
        None => None,
    };
    no_store(typed(
        StatusCode::OK,
        mime::PROMETHEUS,
        Bytes::from(shared.metrics.render(counts)),
    ))
}

fn index(state: &State) -> Response<Body> {
    let mut body = String::from("<h1>pxe-suite httpd-tree</h1>\n<ul>\n");
    body.push_str("<li><a href=\"/status\">status</a>: machines and their installs</li>\n");
    body.push_str("<li><a href=\"/trees/\">trees</a>: install trees</li>\n");
    body.push_str("<li><a href=\"/api/v1/machines\">/api/v1/machines</a>: the same as JSON</li>\n");
    body.push_str("<li><a href=\"/metrics\">metrics</a>: Prometheus</li>\n");
    if state.loaders.is_some() {
        body.push_str(
            "<li><a href=\"/loaders/\">loaders</a>: boot loaders for UEFI HTTP boot</li>\n",
        );
    }
    body.push_str("</ul>\n");
    typed(
        StatusCode::OK,
        mime::HTML,
        Bytes::from(html::page("httpd-tree", &body)),
    )
}

fn trees_index(state: &State) -> Response<Body> {
    let mut body = String::from("<h1>Install trees</h1>\n<ul>\n");
    if let Some(inv) = &state.inventory {
        for d in inv.distros.values() {
            match &d.tree {
                pxe_model::Tree::Dir(_) => body.push_str(&format!(
                    "<li><a href=\"./{}/\">{}/</a> ({} {})</li>\n",
                    html::encode_segment(&d.name),
                    html::escape(&d.name),
                    d.family.as_str(),
                    d.arch.as_str()
                )),
                pxe_model::Tree::Url(u) => body.push_str(&format!(
                    "<li>{}: mirror <a href=\"{}\">{}</a></li>\n",
                    html::escape(&d.name),
                    html::escape(u),
                    html::escape(u)
                )),
            }
        }
        for name in inv.trees.keys() {
            body.push_str(&format!(
                "<li><a href=\"./{}/\">{}/</a> (tree)</li>\n",
                html::encode_segment(name),
                html::escape(name),
            ));
        }
    }
    body.push_str("</ul>\n");
    typed(
        StatusCode::OK,
        mime::HTML,
        Bytes::from(html::page("Install trees", &body)),
    )
}

/// NoCloud meta-data: an instance id (a new one per machine) and the hostname.
fn meta_data(machine: Option<&Machine>, profile: &Profile) -> String {
    match machine {
        Some(m) => format!(
            "instance-id: pxe-{}\nlocal-hostname: {}\n",
            m.name,
            pxe_model::plan::short_hostname(&m.hostname)
        ),
        None => format!("instance-id: pxe-profile-{}\n", profile.name),
    }
}

/// The text of an answer file's `part`, or the status and text of the error. A machine's
/// main part carries its callback token.
pub(crate) fn answer_text(
    state: &State,
    inv: &Inventory,
    machine: Option<&Machine>,
    profile: &Profile,
    distro: &Distro,
    part: AnswerPart,
    generation: u64,
) -> Result<String, (StatusCode, &'static str)> {
    match part {
        AnswerPart::MetaData => return Ok(meta_data(machine, profile)),
        AnswerPart::VendorData => return Ok(String::new()),
        AnswerPart::Main => {}
    }
    let token = match (machine, &state.secret) {
        (Some(m), Some(secret)) => Some(machine_token(secret, &m.name, generation)),
        (Some(_), None) => {
            tracing::error!("no token secret: the server runs without --state-dir");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "no state directory: cannot issue a callback token\n",
            ));
        }
        (None, _) => None,
    };
    pxe_model::render::answer::render(inv, profile, distro, machine.zip(token.as_deref())).map_err(
        |e| {
            tracing::error!(
                template = %e.name,
                line = e.line.unwrap_or(0),
                machine = %machine.map_or("-", |m| m.name.as_str()),
                profile = %profile.name,
                "answer file not served: {e}"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the answer file's template failed to render; the server log names the template and line\n",
            )
        },
    )
}

/// The machine's install generation, which its token is bound to (0 without a store), or
/// the error response when the store cannot be read.
pub(crate) async fn generation_of(
    shared: &Shared,
    machine: &Machine,
) -> Result<u64, Response<Body>> {
    if shared.store.is_none() {
        return Ok(0);
    }
    let name = machine.name.clone();
    with_store(&shared.store, "read", move |s| Ok(s.get(&name)?.generation))
        .await
        .ok_or_else(|| {
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the install state; see the server log\n",
            )
        })
}

/// A machine fetched its answer file or deploy plan (`phase` says which): its install
/// starts (state and timeline). The state file is only written when the state changes
/// (a pending or failed machine starts installing); fetching it again writes no state.
pub(crate) async fn answer_fetched(
    shared: &Shared,
    machine: &Machine,
    phase: Phase,
    path: &str,
    now: u64,
) {
    let name = machine.name.clone();
    let applied = with_store(&shared.store, "apply", move |s| {
        s.apply_if(&name, StateEvent::AnswerFetched, now, &|st| {
            pxe_model::state::next(st.state, StateEvent::AnswerFetched).is_some()
        })
    })
    .await
    .flatten();
    if let Some((st, Some(t))) = &applied {
        tracing::info!(machine = %machine.name, from = t.from.as_str(), to = st.state.as_str(), "answer file fetched");
    }
    record(shared, machine.name.clone(), phase, path.to_owned(), now).await;
}

async fn callback(
    shared: &Shared,
    state: &State,
    machine: &str,
    event: StateEvent,
    by: Caller,
    now: u64,
) -> Response<Body> {
    match apply_callback(shared, state, machine, event, by, now).await {
        Ok(v) => json(&v),
        Err(r) => r,
    }
}

/// Applies a state change; the answer's JSON, or the refusal.
pub(crate) async fn apply_callback(
    shared: &Shared,
    state: &State,
    machine: &str,
    event: StateEvent,
    by: Caller,
    now: u64,
) -> Result<serde_json::Value, Response<Body>> {
    let name = machine.to_owned();
    let secret = state.secret.clone();
    // A machine's token is checked under the state lock, against the generation it was
    // issued for: a reinstall in between makes it stale.
    let applied = with_store(&shared.store, "apply", move |s| {
        s.apply_if(&name, event, now, &|st| match &by {
            Caller::Admin => true,
            Caller::Machine(token) => secret.as_ref().is_some_and(|secret| {
                if event == StateEvent::Booted {
                    st.accepts_boot_token(secret, &name, token)
                } else {
                    st.accepts_token(secret, &name, token)
                }
            }),
        })
    })
    .await;
    let Some(applied) = applied else {
        return Err(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot write the state; see the server log\n",
        ));
    };
    let Some((st, transition)) = applied else {
        let reason = format!(
            "the token is not valid for machine {machine}: not its token, or stale (issued \
             before a reinstall), or already used (the install is over)"
        );
        tracing::warn!(%machine, event = ?event, "callback refused: {reason}");
        record(
            shared,
            machine.to_owned(),
            Phase::Refused,
            format!("{event:?} callback with a stale, used or foreign token"),
            now,
        )
        .await;
        return Err(refusal(StatusCode::UNAUTHORIZED, &reason, None));
    };
    let (phase, detail) = match event {
        StateEvent::Installed => (Phase::Installed, "installer reported completion"),
        StateEvent::Reinstall => (Phase::Reinstall, "reinstall requested"),
        StateEvent::AnswerFetched => (Phase::AnswerFile, "answer file fetched"),
        StateEvent::Failed => (Phase::DeployFailed, "deploy failed"),
        StateEvent::Booted => (Phase::FirstBoot, "installed system booted"),
    };
    tracing::info!(%machine, state = st.state.as_str(), changed = transition.is_some(), "{detail}");
    record(shared, machine.to_owned(), phase, detail.to_owned(), now).await;
    Ok(serde_json::json!({
        "machine": machine,
        "state": st.state.as_str(),
        "changed": transition.is_some(),
    }))
}

/// A body that counts what it sends and, when dropped (sent, or the client went away),
/// writes the access-log line, the byte counter and the request's log event.
pub struct Tracked {
    inner: Body,
    sent: u64,
    done: Option<Finish>,
}

/// What the access log and the request's log event say, once the body is over.
struct Finish {
    shared: Arc<Shared>,
    route: &'static str,
    client: SocketAddr,
    at_ms: u64,
    started: Instant,
    method: Method,
    uri: http::Uri,
    version: &'static str,
    status: u16,
    /// The inventory machine the route found.
    machine: Option<String>,
    referer: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

/// A header's value as text for the log line.
fn header_text(v: &Option<HeaderValue>) -> Option<std::borrow::Cow<'_, str>> {
    v.as_ref().map(|v| String::from_utf8_lossy(v.as_bytes()))
}

impl Finish {
    /// The access-log line, the byte counter and the log event of the request.
    fn report(self, sent: u64) {
        self.shared.metrics.bytes(self.route, sent);
        let target = route::logged_target(&self.uri);
        let (referer, user_agent) = (header_text(&self.referer), header_text(&self.user_agent));
        self.shared.access_log.write(&access_log::Entry {
            client: self.client.ip(),
            at_ms: self.at_ms,
            method: self.method.as_str(),
            target: &target,
            version: self.version,
            status: self.status,
            bytes: sent,
            referer: referer.as_deref(),
            user_agent: user_agent.as_deref(),
        });
        let client = SocketAddr::new(self.client.ip().to_canonical(), self.client.port());
        // A file loaders ask for and boot on without (shim under HTTP boot): said so.
        let probe = (self.status == 404)
            .then(|| pxe_model::loader_probes::known(self.uri.path()))
            .flatten();
        // With an access-log file, a request that names no machine and went well is
        // already there: its event is debug, as nginx keeps requests out of its error log.
        // A machine's requests, refusals, errors and probes stay in the daemon's log.
        let routine = self.shared.access_log.is_file()
            && self.machine.is_none()
            && self.status < 400
            && probe.is_none();
        macro_rules! request_event {
            ($level:ident) => {
                tracing::$level!(
                    %client,
                    method = %self.method,
                    path = %target,
                    status = self.status,
                    bytes = sent,
                    machine = self.machine.as_deref(),
                    route = self.route,
                    probe,
                    duration_ms =
                        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "request"
                )
            };
        }
        if routine {
            request_event!(debug);
        } else {
            request_event!(info);
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(f) = self.done.take() {
            f.report(self.sent);
        }
    }
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &r
            && let Some(d) = frame.data_ref()
        {
            this.sent += d.len() as u64;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> SizeHint {
        hyper::body::Body::size_hint(&self.inner)
    }
}

fn version_str(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

/// Handles one request from `peer`.
pub async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Tracked> {
    let wants_body = crate::deploy::wants_body(&req) || crate::console::wants_body(&req);
    let (mut parts, body) = req.into_parts();
    if wants_body {
        parts
            .extensions
            .insert(crate::deploy::read_body(body).await);
    }
    handle_head(shared, peer, Request::from_parts(parts, ())).await
}

/// Handles one request from `peer` by its head (a deploy report's body, read by
/// [`handle`], comes as a [`crate::deploy::ReportBody`] extension).
pub async fn handle_head(
    shared: Arc<Shared>,
    peer: SocketAddr,
    mut req: Request<()>,
) -> Response<Tracked> {
    let started = Instant::now();
    let now = now_ms();
    req.extensions_mut().insert(Peer(peer));
    let state = shared.state();
    let trusted = state
        .inventory
        .as_ref()
        .map_or(&[][..], |inv| &inv.servers.trusted_proxies[..]);
    let client = owner::client_address(peer.ip(), req.headers(), trusted);
    req.extensions_mut().insert(Client(client));
    let (label, machine, mut resp) = if crate::console::wants(&state, &req) {
        let resp = crate::console::respond(&shared, &state, &req, now).await;
        ("console", None, resp)
    } else {
        let route = route::route(&state, &req);
        let machine = route.machine().map(|m| m.name.clone());
        let route = only_for_owner(&shared, route, client, req.uri().path(), now).await;
        let label = route.label();
        (
            label,
            machine,
            respond(&shared, &state, &req, route, now).await,
        )
    };
    if req.method() == Method::HEAD {
        // hyper sends no body for HEAD; drop ours so nothing is read for it.
        *resp.body_mut() = Body::empty();
    }
    // Plain-text reasons echo parts of the request: never let a browser sniff them as HTML.
    resp.headers_mut().insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    let status = resp.status().as_u16();
    shared.metrics.request(label, status, started.elapsed());
    let (mut parts, ()) = req.into_parts();
    let finish = Finish {
        shared: Arc::clone(&shared),
        route: label,
        client: peer,
        at_ms: now,
        started,
        version: version_str(parts.version),
        status,
        machine,
        referer: parts.headers.remove(header::REFERER),
        user_agent: parts.headers.remove(header::USER_AGENT),
        method: parts.method,
        uri: parts.uri,
    };
    resp.map(|inner| Tracked {
        inner,
        sent: 0,
        done: Some(finish),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use crate::route::urls_tests::{RENDER_LAB, lab};
    use http_body_util::BodyExt as _;
    use pxe_daemon::logging::capture::Capture;
    use pxe_model::state::FileStore;
    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Serves `requests` (client, target) as the daemon does, with its JSON log format:
    /// the log lines, the body lengths and the access log.
    async fn serve(requests: &[(&str, &str)]) -> (Vec<Value>, Vec<usize>, String) {
        let dir = tempfile::tempdir().unwrap();
        let access = dir.path().join("access.log");
        let shared = Arc::new(Shared::new(
            lab(RENDER_LAB, dir.path()),
            None,
            AccessLog::file(&access).unwrap(),
        ));
        let lines = Capture::default();
        let subscriber = tracing_subscriber::registry()
            .with(pxe_daemon::LogFormat::Json.layer(lines.clone(), true));
        let guard = tracing::subscriber::set_default(subscriber);
        let mut lengths = Vec::new();
        for (client, target) in requests {
            let req = Request::get(*target).body(()).unwrap();
            let resp = handle_head(Arc::clone(&shared), client.parse().unwrap(), req).await;
            // The event is written when the body is over.
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            lengths.push(body.len());
        }
        drop(guard);
        drop(shared);
        let json = lines
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (json, lengths, std::fs::read_to_string(&access).unwrap())
    }

    #[tokio::test]
    async fn each_request_is_one_json_event_with_its_fields() {
        let (lines, lengths, access) = serve(&[
            ("10.77.0.50:40000", "/ks/web01?x=1&token=hunter2"),
            ("192.0.2.9:5000", "/trees/centos7/images/pxeboot/vmlinuz"),
            ("192.0.2.9:5001", "/ks/nosuch"),
            ("[::ffff:10.77.0.51]:68", "/preseed/52-54-00-ab-cd-02"),
            (
                "192.0.2.9:5002",
                "/trees/centos7/EFI/BOOT/revocations_sbat.efi",
            ),
        ])
        .await;
        let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
        assert_eq!(requests.len(), 5, "{lines:#?}");
        let field = |i: usize, name: &str| requests[i][name].clone();
        for (i, want) in [
            (
                "10.77.0.50:40000",
                "/ks/web01?x=1&token=REDACTED",
                200,
                "web01",
            ),
            (
                "192.0.2.9:5000",
                "/trees/centos7/images/pxeboot/vmlinuz",
                200,
                "",
            ),
            ("192.0.2.9:5001", "/ks/nosuch", 404, ""),
            ("10.77.0.51:68", "/preseed/52-54-00-ab-cd-02", 200, "db01"),
        ]
        .iter()
        .enumerate()
        {
            let (client, path, status, machine) = *want;
            // With an access-log file, only a request that names no machine and went
            // well is debug (the access log has it).
            let routine = machine.is_empty() && status < 400;
            assert_eq!(
                field(i, "level"),
                if routine { "DEBUG" } else { "INFO" },
                "{:?}",
                requests[i]
            );
            assert_eq!(field(i, "client"), client, "{:?}", requests[i]);
            assert_eq!(field(i, "method"), "GET");
            assert_eq!(field(i, "path"), path);
            assert_eq!(field(i, "status"), status);
            assert_eq!(field(i, "bytes"), lengths[i] as u64);
            assert!(field(i, "duration_ms").is_u64());
            if machine.is_empty() {
                assert_eq!(field(i, "machine"), Value::Null, "no machine: no field");
            } else {
                assert_eq!(field(i, "machine"), machine);
            }
        }
        assert_eq!(field(0, "route"), "answer");
        // A miss loaders go on without says so; any other miss does not.
        assert_eq!(field(4, "status"), 404);
        assert_eq!(
            field(4, "probe"),
            "shim: optional revocation or certificate file, boots on without it"
        );
        assert_eq!(field(2, "probe"), Value::Null, "{:?}", requests[2]);
        assert_eq!(lengths[1], 4, "the kernel's bytes");
        // Filterable by machine, as `jq 'select(.machine == "web01")'` would.
        let web01: Vec<&&Value> = requests
            .iter()
            .filter(|l| l["machine"] == "web01")
            .collect();
        assert_eq!(web01.len(), 1);
        // No token in any log.
        let text = format!("{lines:?}{access}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            access.contains("\"GET /ks/web01?x=1&token=REDACTED HTTP/1.1\" 200"),
            "{access}"
        );
    }

    /// POSTs `target` with `Authorization: Bearer <token>`: the status and the body.
    async fn post(shared: &Arc<Shared>, target: &str, token: &str) -> (u16, String) {
        let req = Request::post(target)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .unwrap();
        let resp = handle_head(Arc::clone(shared), "10.77.0.50:1".parse().unwrap(), req).await;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn callback_tokens_are_bound_to_the_install_generation() {
        const ADMIN: &str = "service-test-admin-token";
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&dir.path().join("state")).unwrap();
        let secret = store.secret().unwrap();
        let mut state = lab(RENDER_LAB, dir.path());
        state.secret = Some(secret.clone());
        state.admin_token = Some(ADMIN.to_owned());
        let shared = Arc::new(Shared::new(
            state,
            Some(Arc::new(store.clone())),
            AccessLog::file(&dir.path().join("access.log")).unwrap(),
        ));
        let installed = "/api/v1/machines/web01/installed";
        let reinstall = "/api/v1/machines/web01/reinstall";
        let g0 = machine_token(&secret, "web01", 0);
        let g1 = machine_token(&secret, "web01", 1);
        let db01 = machine_token(&secret, "db01", 0);
        // Another machine's token, and a token of a generation not reached yet.
        assert_eq!(post(&shared, installed, &db01).await.0, 401);
        assert_eq!(post(&shared, installed, &g1).await.0, 401);
        assert_eq!(store.get("web01").unwrap().state, InstallState::Pending);
        // The answer file carries the current generation's token.
        let req = Request::get("/ks/web01").body(()).unwrap();
        let resp = handle_head(Arc::clone(&shared), "10.77.0.50:1".parse().unwrap(), req).await;
        let ks = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&ks).contains(&g0));
        let (status, body) = post(&shared, installed, &g0).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(store.get("web01").unwrap().state, InstallState::Installed);
        // Used: the installed machine's token no longer works.
        let (status, body) = post(&shared, installed, &g0).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("stale") && !body.contains(&g0), "{body}");
        // A reinstall: a new generation, the old token is stale, the new one works.
        assert_eq!(post(&shared, reinstall, &g0).await.0, 401);
        assert_eq!(post(&shared, reinstall, ADMIN).await.0, 200);
        assert_eq!(store.get("web01").unwrap().generation, 1);
        assert_eq!(post(&shared, installed, &g0).await.0, 401, "stale");
        assert_eq!(store.get("web01").unwrap().state, InstallState::Pending);
        let req = Request::get("/ks/web01").body(()).unwrap();
        let resp = handle_head(Arc::clone(&shared), "10.77.0.50:1".parse().unwrap(), req).await;
        let ks = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes())
            .into_owned();
        assert!(ks.contains(&g1) && !ks.contains(&g0), "{ks}");
        assert_eq!(post(&shared, installed, &g1).await.0, 200);
        // The refusals are on the machine's timeline.
        let refused = store
            .events("web01", 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.phase == Phase::Refused)
            .count();
        assert_eq!(refused, 4);
    }

    #[tokio::test]
    async fn a_kernel_fetched_from_a_pool_address_goes_to_the_machine_acked_there() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&dir.path().join("state")).unwrap();
        let shared = Arc::new(Shared::new(
            lab(RENDER_LAB, dir.path()),
            Some(Arc::new(store.clone())),
            AccessLog::file(&dir.path().join("access.log")).unwrap(),
        ));
        let kernel = "/trees/ubuntu2404/casper/vmlinuz";
        let fetch = |from: &'static str| {
            let shared = Arc::clone(&shared);
            async move {
                let req = Request::get(kernel).body(()).unwrap();
                let resp = handle_head(shared, from.parse().unwrap(), req).await;
                assert_eq!(resp.status(), 200);
                drop(resp.into_body().collect().await.unwrap());
            }
        };
        // ub01 has no fixed address: dhcpd acknowledged it 10.77.0.120.
        store
            .record_ack("ub01", "10.77.0.120".parse().unwrap(), 1)
            .unwrap();
        fetch("10.77.0.120:4000").await;
        fetch("10.77.0.121:4000").await;
        let details: Vec<String> = store
            .events("ub01", 10)
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect();
        assert_eq!(details, [kernel], "once: 10.77.0.121 is nobody's");
    }

    #[tokio::test]
    async fn fetching_an_answer_file_again_writes_no_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(&dir.path().join("state")).unwrap();
        let mut state = lab(RENDER_LAB, dir.path());
        state.secret = Some(store.secret().unwrap());
        let shared = Arc::new(Shared::new(
            state,
            Some(Arc::new(store.clone())),
            AccessLog::file(&dir.path().join("access.log")).unwrap(),
        ));
        let fetch = || async {
            let req = Request::get("/ks/web01").body(()).unwrap();
            let resp = handle_head(Arc::clone(&shared), "10.77.0.50:1".parse().unwrap(), req).await;
            assert_eq!(resp.status(), 200);
            drop(resp.into_body().collect().await.unwrap());
        };
        let path = dir.path().join("state/machines/web01.json");
        fetch().await;
        let first = std::fs::read(&path).unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        for _ in 0..3 {
            fetch().await;
        }
        assert_eq!(std::fs::read(&path).unwrap(), first);
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap()),
            inode,
            "not even rewritten"
        );
        assert_eq!(store.get("web01").unwrap().state, InstallState::Installing);
    }

    #[test]
    fn tokens_are_redacted_in_logged_targets() {
        let logged = |t: &str| route::logged_target(&t.parse().unwrap()).into_owned();
        assert_eq!(logged("/ks/web01"), "/ks/web01");
        assert_eq!(logged("/a?token=s3cret"), "/a?token=REDACTED");
        assert_eq!(
            logged("/a?tokens=1&token=s&b=2&token=t"),
            "/a?tokens=1&token=REDACTED&b=2&token=REDACTED"
        );
        assert_eq!(logged("/a?x=token=s"), "/a?x=token=s", "a value, not a key");
    }
}
