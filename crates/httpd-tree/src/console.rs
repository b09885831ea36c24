//! The web console at `/`: the machine list, a machine's page, live updates as
//! server-sent events (`/console/events`), and the operator's login (`/login`,
//! `/logout`). Reading needs a session, a bearer token, or `--public-status`; every
//! action needs a session (a login with the admin token) and the session's CSRF token,
//! and is carried out by the JSON API as the admin token would be
//! (`POST /api/v1/machines/{machine}/reinstall` and `/power`), so the console adds no
//! way to change state that the API does not check.

use crate::body::Body;
use crate::console_feed::Feed;
use crate::console_page::{self, Filter, Viewer};
use crate::console_session::{self, Sessions};
use crate::deploy::ReportBody;
use crate::route::{AnswerPart, Peer, State, presented_token};
use crate::service::{self, Shared, no_store, plain, typed};
use crate::{html, mime};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use pxe_model::Machine;
use pxe_model::render::BootFileKind;
use std::sync::Arc;

/// What the console keeps: the logins and the machines' summaries.
#[derive(Debug, Default)]
pub struct Console {
    pub sessions: Sessions,
    pub feed: Feed,
}

/// The header a script's state-changing request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The machine list's own path, for when `--root` serves `/`.
pub const CONSOLE_HOME: &str = "/console/";

/// Where the machine list is: `/`, or [`CONSOLE_HOME`] when `--root` serves `/`.
pub fn home(state: &State) -> &'static str {
    if state.root.is_none() {
        "/"
    } else {
        CONSOLE_HOME
    }
}

/// Whether the console answers this request (instead of [`crate::route`]).
pub fn wants(state: &State, req: &Request<()>) -> bool {
    let p = req.uri().path();
    state.inventory.is_some()
        && ((p == "/" && state.root.is_none())
            || p == CONSOLE_HOME
            || p == "/login"
            || p == "/logout"
            || p.starts_with("/console/"))
}

/// Whether the console reads this request's body: the login's and the actions'.
pub fn wants_body(req: &Request<Incoming>) -> bool {
    let p = req.uri().path();
    req.method() == Method::POST
        && (p == "/login" || p == "/logout" || p.starts_with("/console/machines/"))
}

/// The session of the request, as its CSRF token.
fn session_csrf(shared: &Shared, req: &Request<()>, now: u64) -> Option<String> {
    let cookies = req.headers().get_all(header::COOKIE);
    cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(console_session::from_cookies)
        .find_map(|id| shared.console.sessions.csrf(id, now))
}

fn session_id(req: &Request<()>) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(console_session::from_cookies)
        .map(str::to_owned)
}

/// Whether a bearer token presented is the admin or the read-only token.
fn bearer_reads(state: &State, req: &Request<()>) -> bool {
    let Some(t) = presented_token(req) else {
        return false;
    };
    [&state.admin_token, &state.read_token].iter().any(|k| {
        k.as_deref()
            .is_some_and(|k| pxe_daemon::secret::same(k.as_bytes(), t.as_bytes()))
    })
}

fn body_of(req: &Request<()>) -> &[u8] {
    match req.extensions().get::<ReportBody>() {
        Some(ReportBody::Read(b)) => b,
        _ => &[],
    }
}

fn see_other(location: &str) -> Response<Body> {
    let mut r = plain(StatusCode::SEE_OTHER, format!("see {location}\n"));
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// An HTML page with the console's security headers: no inline script, no framing.
fn html_page(status: StatusCode, text: String) -> Response<Body> {
    let mut r = no_store(typed(status, mime::HTML, Bytes::from(text)));
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// A refusal with a log line (the reason, never a token).
fn refuse(status: StatusCode, reason: &str, req: &Request<()>) -> Response<Body> {
    tracing::warn!(
        path = req.uri().path(),
        status = status.as_u16(),
        "console: {reason}"
    );
    plain(status, format!("{reason}\n"))
}

/// A browser's cross-site request: an `Origin` that is not this host.
fn foreign_origin(req: &Request<()>) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    origin_host != host
}

/// The console's answer to a request [`wants`] took.
pub async fn respond(
    shared: &Arc<Shared>,
    state: &State,
    req: &Request<()>,
    now: u64,
) -> Response<Body> {
    let Some(inv) = state.inventory.as_ref() else {
        return service::no_inventory();
    };
    let path = req.uri().path();
    let csrf = session_csrf(shared, req, now);
    let may_view = state.public_status || csrf.is_some() || bearer_reads(state, req);
    let home = home(state);
    let viewer = Viewer {
        csrf: csrf.as_deref(),
        home,
    };
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let post = req.method() == Method::POST;
    if post && foreign_origin(req) {
        return refuse(StatusCode::FORBIDDEN, "a request from another site", req);
    }
    match path {
        p if get && (p == home || p == CONSOLE_HOME) => {
            if !may_view {
                return see_other("/login");
            }
            refresh(shared).await;
            let filter = Filter::parse(req.uri().query());
            let feed = &shared.console.feed;
            html_page(
                StatusCode::OK,
                console_page::list(inv, &|n| feed.summary(n), &filter, viewer, now),
            )
        }
        "/console/console.js" if get => {
            let mut r = typed(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                Bytes::from_static(console_page::SCRIPT.as_bytes()),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        "/console/events" if get => {
            if !may_view {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "log in to follow the machines",
                    req,
                );
            }
            let Some(rx) = shared.console.feed.subscribe() else {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many event streams are open; try again later",
                    req,
                );
            };
            let mut r = Response::new(Body::live(rx));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        "/login" if get => html_page(StatusCode::OK, console_page::login(None, home)),
        "/login" if post => login(shared, state, req, now),
        "/logout" if post => {
            let (Some(id), Some(csrf)) = (session_id(req), csrf) else {
                return see_other("/login");
            };
            let presented = console_session::form_value(body_of(req), "csrf").unwrap_or_default();
            if !pxe_daemon::secret::same(csrf.as_bytes(), presented.as_bytes()) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "the CSRF token is missing or wrong",
                    req,
                );
            }
            shared.console.sessions.end(&id);
            let mut r = see_other("/login");
            if let Ok(v) = HeaderValue::from_str(&console_session::clear_cookie()) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        _ => match path.strip_prefix("/console/machines/") {
            Some(rest) => {
                machine_path(
                    shared,
                    state,
                    inv,
                    req,
                    rest,
                    csrf.as_deref(),
                    may_view,
                    now,
                )
                .await
            }
            None if get || post => refuse(StatusCode::NOT_FOUND, "no such console page", req),
            None => refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                "the console takes GET and POST",
                req,
            ),
        },
    }
}

/// Reads the machines whose files changed into the feed (and to the streams).
pub async fn refresh(shared: &Arc<Shared>) {
    let Some(store) = shared.store.clone() else {
        return;
    };
    let sh = Arc::clone(shared);
    let everyone: Vec<String> = shared
        .state()
        .inventory
        .as_ref()
        .map(|inv| inv.machines.keys().cloned().collect())
        .unwrap_or_default();
    let changed =
        tokio::task::spawn_blocking(move || sh.console.feed.refresh(store.as_ref(), &everyone))
            .await
            .unwrap_or(0);
    // The counts per state over the inventory's machines follow the changes.
    if changed > 0
        && let Some(inv) = shared.state().inventory.as_ref()
    {
        let feed = &shared.console.feed;
        let c = console_page::counts(inv, &|n| feed.summary(n));
        let data = serde_json::json!({
            "pending": c[0], "installing": c[1], "installed": c[2], "failed": c[3],
        });
        feed.announce(format!("event: counts\ndata: {data}\n\n"));
    }
}

fn login(shared: &Shared, state: &State, req: &Request<()>, now: u64) -> Response<Body> {
    let Some(admin) = state.admin_token.as_deref() else {
        return html_page(
            StatusCode::FORBIDDEN,
            console_page::login(
                Some("logins are disabled: the server has no --admin-token-file"),
                home(state),
            ),
        );
    };
    let presented = console_session::form_value(body_of(req), "token").unwrap_or_default();
    if !pxe_daemon::secret::same(admin.as_bytes(), presented.trim().as_bytes()) {
        tracing::warn!("console: a login with a wrong token");
        return html_page(
            StatusCode::UNAUTHORIZED,
            console_page::login(Some("that is not the admin token"), home(state)),
        );
    }
    let (id, _) = match shared.console.sessions.start(now) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(%e, "console: cannot read random bytes for a session");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot start a session\n",
            );
        }
    };
    tracing::info!("console: operator logged in");
    let secure = req
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut r = see_other(home(state));
    if let Ok(v) = HeaderValue::from_str(&console_session::set_cookie(&id, secure)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `/console/machines/<name>` and its actions.
#[allow(clippy::too_many_arguments)]
async fn machine_path(
    shared: &Arc<Shared>,
    state: &State,
    inv: &pxe_model::Inventory,
    req: &Request<()>,
    rest: &str,
    csrf: Option<&str>,
    may_view: bool,
    now: u64,
) -> Response<Body> {
    let (key, action) = match rest.split_once('/') {
        Some((k, a)) => (k, Some(a)),
        None => (rest, None),
    };
    let Ok(key) = crate::safe_path::decode(key) else {
        return refuse(StatusCode::BAD_REQUEST, "a malformed machine name", req);
    };
    let Some(m) = inv.find_machine(&key) else {
        return refuse(StatusCode::NOT_FOUND, "no such machine", req);
    };
    match (req.method().clone(), action) {
        (Method::GET | Method::HEAD, None) => {
            if !may_view {
                return see_other("/login");
            }
            let viewer = Viewer {
                csrf,
                home: home(state),
            };
            machine_page(shared, state, inv, m, viewer, now).await
        }
        (Method::POST, Some(action @ ("reinstall" | "power"))) => {
            let Some(csrf) = csrf else {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "log in with the admin token to act on machines",
                    req,
                );
            };
            // A form carries the token as a field, a script in a header.
            let presented = match action {
                "reinstall" => console_session::form_value(body_of(req), "csrf"),
                _ => req
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            }
            .unwrap_or_default();
            if !pxe_daemon::secret::same(csrf.as_bytes(), presented.as_bytes()) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "the CSRF token is missing or wrong",
                    req,
                );
            }
            let body = if action == "power" {
                Bytes::copy_from_slice(body_of(req))
            } else {
                Bytes::new()
            };
            let (status, text) = as_admin(shared, state, req, m, action, body).await;
            if action == "reinstall" && status.is_success() {
                return see_other(&format!(
                    "/console/machines/{}",
                    html::encode_segment(&m.name)
                ));
            }
            let mut r = plain(status, text);
            if action == "power" && status.is_success() {
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime::JSON));
            }
            r
        }
        (Method::POST, _) => refuse(StatusCode::NOT_FOUND, "no such action", req),
        _ => refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "the console takes GET and POST",
            req,
        ),
    }
}

/// Carries out `action` through the API, as the admin token: its status and its text.
async fn as_admin(
    shared: &Arc<Shared>,
    state: &State,
    req: &Request<()>,
    m: &Machine,
    action: &str,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(admin) = state.admin_token.as_deref() else {
        return (
            StatusCode::FORBIDDEN,
            "the server has no --admin-token-file\n".into(),
        );
    };
    let Ok(auth) = HeaderValue::from_str(&format!("Bearer {admin}")) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "bad admin token\n".into(),
        );
    };
    let uri = format!(
        "/api/v1/machines/{}/{action}",
        html::encode_segment(&m.name)
    );
    let Ok(mut inner) = Request::builder()
        .method(Method::POST)
        .uri(&uri)
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, mime::JSON)
        .body(())
    else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot build the request\n".into(),
        );
    };
    inner.extensions_mut().insert(ReportBody::Read(body));
    if let Some(peer) = req.extensions().get::<Peer>() {
        inner.extensions_mut().insert(*peer);
    }
    tracing::info!(machine = %m.name, action, "console: operator action");
    // The API decides, as for a request with the admin token (not through the console,
    // which answered this request already).
    let route = crate::route::route(state, &inner);
    let resp = service::respond(shared, state, &inner, route, service::now_ms()).await;
    let status = resp.status();
    let text = match resp.into_body().collect().await {
        Ok(c) => String::from_utf8_lossy(&c.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    (status, text)
}

async fn machine_page(
    shared: &Arc<Shared>,
    state: &State,
    inv: &pxe_model::Inventory,
    m: &Machine,
    viewer: Viewer<'_>,
    now: u64,
) -> Response<Body> {
    let mut recs = service::records(shared, vec![m.name.clone()]).await;
    let rec = recs.remove(&m.name).unwrap_or_default();
    let install_state = rec.state.state;
    let boot = pxe_model::render::render(inv, &BootFileKind::IpxeMachine(m.name.clone()), &|_| {
        install_state
    })
    .map(|g| g.content)
    .ok_or_else(|| "no iPXE script for this machine".to_owned());
    let answer = match inv.profile_of(m) {
        None => Err("the machine has no profile".to_owned()),
        Some((p, _)) if p.deploy.is_some() => Err(
            "the machine installs with the deploy agent (a deploy plan, no answer file)".to_owned(),
        ),
        Some((p, d)) => match service::generation_of(shared, m).await {
            Ok(g) => service::answer_text(state, inv, Some(m), p, d, AnswerPart::Main, g)
                .map_err(|(_, why)| why.trim().to_owned()),
            Err(_) => Err("cannot read the machine's state".to_owned()),
        },
    };
    html_page(
        StatusCode::OK,
        console_page::machine(inv, m, &rec, &boot, &answer, viewer, now),
    )
}

#[cfg(test)]
#[path = "console_tests.rs"]
mod tests;
