//! The HTTP service: a request in, [`route`] decides, and this module produces the
//! response: files streamed from trees, rendered answer files and boot files, the API,
//! the status page and metrics. State changes (answer fetched, installed, reinstall)
//! and boot-timeline entries are written here, on the blocking pool.

use crate::access_log::{self, AccessLog};
use crate::api::{self, Record};
use crate::body::Body;
use crate::metrics::{MachineCounts, Metrics};
use crate::route::{self, AnswerPart, Note, Peer, Route, State};
use crate::{html, mime, static_file, status_page};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::{Frame, Incoming, SizeHint};
use pxe_model::state::{BootEvent, FileStore, Phase, StateEvent, StateStore, machine_token};
use pxe_model::{InstallState, Inventory};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Most timeline entries read per machine for pages and the API.
pub const TIMELINE_LIMIT: usize = 200;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    state: RwLock<Arc<State>>,
    pub store: Option<Arc<FileStore>>,
    pub metrics: Metrics,
    pub access_log: AccessLog,
}

impl Shared {
    pub fn new(state: State, store: Option<FileStore>, access_log: AccessLog) -> Shared {
        Shared {
            state: RwLock::new(Arc::new(state)),
            store: store.map(Arc::new),
            metrics: Metrics::default(),
            access_log,
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

fn typed(status: StatusCode, ctype: &'static str, body: Bytes) -> Response<Body> {
    let len = body.len();
    let mut r = Response::new(Body::bytes(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

fn no_store(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Runs store work on the blocking pool; `None` without a store or when it failed
/// (failures are logged).
async fn with_store<T: Send + 'static>(
    store: &Option<Arc<FileStore>>,
    what: &'static str,
    f: impl FnOnce(&FileStore) -> Result<T, pxe_model::state::StateError> + Send + 'static,
) -> Option<T> {
    let store = Arc::clone(store.as_ref()?);
    match tokio::task::spawn_blocking(move || f(&store)).await {
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

async fn record(shared: &Shared, machine: String, phase: Phase, detail: String, at: u64) {
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
async fn records(
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

fn json(value: &serde_json::Value) -> Response<Body> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    no_store(typed(StatusCode::OK, mime::JSON, Bytes::from(text)))
}

/// The response to a routed request.
pub async fn respond(
    shared: &Shared,
    state: &Arc<State>,
    req: &Request<()>,
    route: Route,
    now: u64,
) -> Response<Body> {
    let get = req.method() == Method::GET;
    match route {
        Route::Refused {
            status,
            reason,
            allow,
        } => {
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
        Route::Redirect { location } => {
            let mut r = plain(StatusCode::MOVED_PERMANENTLY, format!("see {location}\n"));
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Route::File { file, note, .. } => {
            if get && let Some(Note { machine, detail }) = note {
                record(shared, machine, Phase::Http, detail, now).await;
            }
            static_file::serve(req.method(), req.headers(), file).await
        }
        Route::Listing { dir, shown } => static_file::listing(dir, shown).await,
        Route::Index => index(state),
        Route::TreesIndex => trees_index(state),
        Route::Answer {
            machine,
            profile,
            part,
        } => {
            answer(
                shared,
                state,
                get,
                machine,
                &profile,
                part,
                req.uri().path(),
                now,
            )
            .await
        }
        Route::BootFile { kind, note } => {
            let Some(inv) = state.inventory.as_ref() else {
                return plain(StatusCode::NOT_FOUND, "no inventory\n");
            };
            let names: Vec<String> = note.iter().map(|n| n.machine.clone()).collect();
            let states = with_store(&shared.store, "read", move |s| {
                names
                    .into_iter()
                    .map(|n| Ok((n.clone(), s.get(&n)?.state)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .unwrap_or_default();
            let state_of = |name: &str| {
                states
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(InstallState::Pending, |(_, s)| *s)
            };
            match pxe_model::render::render(inv, &kind, &state_of) {
                Some(generated) => {
                    if get && let Some(Note { machine, detail }) = note {
                        record(shared, machine, Phase::Http, detail, now).await;
                    }
                    no_store(plain(StatusCode::OK, generated.content))
                }
                None => plain(StatusCode::NOT_FOUND, "no such boot file\n"),
            }
        }
        Route::ApiMachines => {
            let Some(inv) = state.inventory.as_ref() else {
                return plain(StatusCode::NOT_FOUND, "no inventory\n");
            };
            let recs = records(shared, all_names(state)).await;
            json(&api::machines(inv, &|n| {
                recs.get(n).cloned().unwrap_or_default()
            }))
        }
        Route::ApiMachine { machine } => {
            let Some((inv, m)) = state
                .inventory
                .as_ref()
                .and_then(|inv| Some((inv, inv.machines.get(&machine)?)))
            else {
                return plain(StatusCode::NOT_FOUND, "no such machine\n");
            };
            let recs = records(shared, vec![machine.clone()]).await;
            json(&api::machine(
                inv,
                m,
                &recs.get(&machine).cloned().unwrap_or_default(),
            ))
        }
        Route::Callback { machine, event } => callback(shared, machine, event, now).await,
        Route::Status => {
            let Some(inv) = state.inventory.as_ref() else {
                return plain(StatusCode::NOT_FOUND, "no inventory\n");
            };
            let recs = records(shared, all_names(state)).await;
            let html = status_page::render(inv, &|n| recs.get(n).cloned().unwrap_or_default(), now);
            no_store(typed(StatusCode::OK, mime::HTML, Bytes::from(html)))
        }
        Route::Metrics => {
            let counts = if state.inventory.is_some() {
                let recs = records(shared, all_names(state)).await;
                let mut c = MachineCounts::default();
                if let Some(inv) = &state.inventory {
                    for name in inv.machines.keys() {
                        match recs
                            .get(name)
                            .map_or(InstallState::Pending, |r| r.state.state)
                        {
                            InstallState::Pending => c.pending += 1,
                            InstallState::Installing => c.installing += 1,
                            InstallState::Installed => c.installed += 1,
                        }
                    }
                }
                Some(c)
            } else {
                None
            };
            no_store(typed(
                StatusCode::OK,
                mime::PROMETHEUS,
                Bytes::from(shared.metrics.render(counts)),
            ))
        }
    }
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
    }
    body.push_str("</ul>\n");
    typed(
        StatusCode::OK,
        mime::HTML,
        Bytes::from(html::page("Install trees", &body)),
    )
}

/// NoCloud meta-data: an instance id (a new one per machine) and the hostname.
fn meta_data(inv: &Inventory, machine: Option<&pxe_model::Machine>, profile: &str) -> String {
    let _ = inv;
    match machine {
        Some(m) => format!(
            "instance-id: pxe-{}\nlocal-hostname: {}\n",
            m.name,
            pxe_model::plan::short_hostname(&m.hostname)
        ),
        None => format!("instance-id: pxe-profile-{profile}\n"),
    }
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
async fn answer(
    shared: &Shared,
    state: &Arc<State>,
    get: bool,
    machine: Option<String>,
    profile: &str,
    part: AnswerPart,
    path: &str,
    now: u64,
) -> Response<Body> {
    let Some(inv) = state.inventory.as_ref() else {
        return plain(StatusCode::NOT_FOUND, "no inventory\n");
    };
    let Some((p, d)) = inv.profile_and_distro(profile) else {
        return plain(StatusCode::NOT_FOUND, "no such profile\n");
    };
    let m = machine.as_deref().and_then(|n| inv.machines.get(n));
    let text = match part {
        AnswerPart::MetaData => return no_store(plain(StatusCode::OK, meta_data(inv, m, profile))),
        AnswerPart::VendorData => return no_store(plain(StatusCode::OK, "")),
        AnswerPart::Main => {
            let token = match (m, &state.secret) {
                (Some(m), Some(secret)) => Some(machine_token(secret, &m.name)),
                (Some(_), None) => {
                    tracing::error!("no token secret: the server runs without --state-dir");
                    return plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "no state directory: cannot issue a callback token\n",
                    );
                }
                (None, _) => None,
            };
            let rendered = pxe_model::render::answer::render(inv, p, d, m.zip(token.as_deref()));
            match rendered {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(
                        template = %e.name,
                        line = e.line.unwrap_or(0),
                        machine = %machine.as_deref().unwrap_or("-"),
                        profile = %profile,
                        "answer file not served: {e}"
                    );
                    return plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the answer file's template failed to render; the server log names the template and line\n",
                    );
                }
            }
        }
    };
    if get && let Some(name) = machine {
        let (n2, detail) = (name.clone(), path.to_owned());
        let applied = with_store(&shared.store, "apply", move |s| {
            s.apply(&n2, StateEvent::AnswerFetched, now)
        })
        .await;
        if let Some((st, Some(t))) = &applied {
            tracing::info!(machine = %name, from = t.from.as_str(), to = st.state.as_str(), "answer file fetched");
        }
        record(shared, name, Phase::AnswerFile, detail, now).await;
    }
    no_store(plain(StatusCode::OK, text))
}

async fn callback(shared: &Shared, machine: String, event: StateEvent, now: u64) -> Response<Body> {
    let name = machine.clone();
    let Some((st, transition)) =
        with_store(&shared.store, "apply", move |s| s.apply(&name, event, now)).await
    else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot write the state; see the server log\n",
        );
    };
    let (phase, detail) = match event {
        StateEvent::Installed => (Phase::Installed, "installer reported completion"),
        StateEvent::Reinstall => (Phase::Reinstall, "reinstall requested"),
        StateEvent::AnswerFetched => (Phase::AnswerFile, "answer file fetched"),
    };
    tracing::info!(%machine, state = st.state.as_str(), changed = transition.is_some(), "{detail}");
    record(shared, machine.clone(), phase, detail.to_owned(), now).await;
    json(&serde_json::json!({
        "machine": machine,
        "state": st.state.as_str(),
        "changed": transition.is_some(),
    }))
}

/// A body that counts what it sends and, when dropped (sent, or the client went away),
/// writes the access-log line and the byte counter.
pub struct Tracked {
    inner: Body,
    sent: u64,
    done: Option<Finish>,
}

struct Finish {
    shared: Arc<Shared>,
    route: &'static str,
    client: SocketAddr,
    at_ms: u64,
    method: Method,
    uri: http::Uri,
    version: &'static str,
    status: u16,
    referer: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

/// A header's value as text for the log line.
fn header_text(v: &Option<HeaderValue>) -> Option<std::borrow::Cow<'_, str>> {
    v.as_ref().map(|v| String::from_utf8_lossy(v.as_bytes()))
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(f) = self.done.take() {
            f.shared.metrics.bytes(f.route, self.sent);
            let (referer, user_agent) = (header_text(&f.referer), header_text(&f.user_agent));
            f.shared.access_log.write(&access_log::Entry {
                client: f.client.ip(),
                at_ms: f.at_ms,
                method: f.method.as_str(),
                target: f
                    .uri
                    .path_and_query()
                    .map_or_else(|| f.uri.path(), |pq| pq.as_str()),
                version: f.version,
                status: f.status,
                bytes: self.sent,
                referer: referer.as_deref(),
                user_agent: user_agent.as_deref(),
            });
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
    let started = Instant::now();
    let now = now_ms();
    let (parts, _body) = req.into_parts();
    let mut req = Request::from_parts(parts, ());
    req.extensions_mut().insert(Peer(peer));
    let state = shared.state();
    let route = route::route(&state, &req);
    let label = route.label();
    tracing::debug!(%peer, method = %req.method(), path = req.uri().path(), route = ?route, "request");
    let mut resp = respond(&shared, &state, &req, route, now).await;
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
        version: version_str(parts.version),
        status,
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
