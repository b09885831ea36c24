//! The console through the service, as a browser would reach it: login and sessions, CSRF
//! and Origin checks, actions forwarded to the API, masking, and the event stream.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::*;
use crate::route::urls_tests::{RENDER_LAB, lab};
use crate::service::handle_head;
use pxe_model::state::{FileStore, StateEvent};

const ADMIN: &str = "console-admin-token-0123456789";

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    let mut state = lab(RENDER_LAB, dir);
    state.admin_token = Some(ADMIN.into());
    let store = FileStore::open(&dir.join("state")).unwrap();
    Arc::new(Shared::new(
        state,
        Some(Arc::new(store)),
        crate::access_log::AccessLog::file(&dir.join("access.log")).unwrap(),
    ))
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

async fn send(shared: &Arc<Shared>, req: Request<()>) -> Answer {
    let resp = handle_head(Arc::clone(shared), "127.0.0.1:1".parse().unwrap(), req).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn with_body(method: Method, target: &str, cookie: Option<&str>, body: &str) -> Request<()> {
    let mut b = Request::builder()
        .method(method)
        .uri(target)
        .header(header::HOST, "h");
    if let Some(c) = cookie {
        b = b.header(
            header::COOKIE,
            format!("other=1; {}={c}", console_session::COOKIE),
        );
    }
    let mut req = b.body(()).unwrap();
    req.extensions_mut()
        .insert(ReportBody::Read(Bytes::from(body.to_owned())));
    req
}

fn get(target: &str, cookie: Option<&str>) -> Request<()> {
    with_body(Method::GET, target, cookie, "")
}

/// Logs in: the session id.
async fn log_in(shared: &Arc<Shared>) -> String {
    let a = send(
        shared,
        with_body(Method::POST, "/login", None, &format!("token={ADMIN}")),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap()
}

fn csrf_of(page: &str) -> String {
    page.split("<meta name=\"csrf\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn reading_needs_a_login_and_a_wrong_token_gets_none() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared(dir.path());
    let a = send(&shared, get("/", None)).await;
    assert_eq!(a.status, 303);
    assert_eq!(a.headers[header::LOCATION], "/login");
    assert_eq!(
        send(&shared, get("/console/events", None)).await.status,
        401
    );
    assert_eq!(
        send(&shared, get("/console/machines/web01", None))
            .await
            .status,
        303
    );
    let wrong = send(
        &shared,
        with_body(Method::POST, "/login", None, "token=nope"),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    assert!(send(&shared, get("/", Some("made-up"))).await.status == 303);
    let id = log_in(&shared).await;
    let page = send(&shared, get("/", Some(&id))).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<tr data-machine=\"web01\">"),
        "{}",
        page.body
    );
    assert!(
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    // A bearer token reads too (scripts), and --public-status shows it to anyone.
    let mut bearer = get("/", None);
    bearer.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {ADMIN}").parse().unwrap(),
    );
    assert_eq!(send(&shared, bearer).await.status, 200);
}

#[tokio::test]
async fn an_action_needs_the_session_and_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared(dir.path());
    let store = shared.store.clone().unwrap();
    store.apply("web01", StateEvent::Installed, 1).unwrap();
    let target = "/console/machines/web01/reinstall";
    // No session: refused, whatever the form says.
    let a = send(&shared, with_body(Method::POST, target, None, "csrf=x")).await;
    assert_eq!(a.status, 401, "{}", a.body);
    let id = log_in(&shared).await;
    let page = send(&shared, get("/console/machines/web01", Some(&id))).await;
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    assert_eq!(csrf.len(), 64);
    // A session without the token (what a cross-site form would send): refused.
    let a = send(&shared, with_body(Method::POST, target, Some(&id), "")).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = send(
        &shared,
        with_body(Method::POST, target, Some(&id), "csrf=0000"),
    )
    .await;
    assert_eq!(a.status, 403);
    // Another site's page, even with the token.
    let mut cross = with_body(Method::POST, target, Some(&id), &format!("csrf={csrf}"));
    cross
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    assert_eq!(send(&shared, cross).await.status, 403);
    assert_eq!(
        store.get("web01").unwrap().state.as_str(),
        "installed",
        "unchanged"
    );
    let a = send(
        &shared,
        with_body(Method::POST, target, Some(&id), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.headers[header::LOCATION], "/console/machines/web01");
    assert_eq!(
        store.get("web01").unwrap().state.as_str(),
        "pending",
        "reinstalled"
    );
    // Power goes to the API with the admin token: its answer comes back as it is.
    let mut power = with_body(
        Method::POST,
        "/console/machines/web01/power",
        Some(&id),
        "{\"action\":\"status\"}",
    );
    let a = send(&shared, power).await;
    assert_eq!(a.status, 403, "no CSRF header: {}", a.body);
    power = with_body(
        Method::POST,
        "/console/machines/web01/power",
        Some(&id),
        "{\"action\":\"status\"}",
    );
    power
        .headers_mut()
        .insert(CSRF_HEADER, csrf.parse().unwrap());
    let a = send(&shared, power).await;
    assert!(
        a.status == 404 || a.status == 409 || a.status == 200,
        "the API's answer: {} {}",
        a.status,
        a.body
    );
    // Logged out, the session is gone.
    let a = send(
        &shared,
        with_body(Method::POST, "/logout", Some(&id), &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(a.status, 303);
    assert!(
        a.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(send(&shared, get("/", Some(&id))).await.status, 303);
}

#[tokio::test]
async fn the_machine_page_masks_the_answer_file_token() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared(dir.path());
    let id = log_in(&shared).await;
    let page = send(&shared, get("/console/machines/web01", Some(&id))).await;
    assert_eq!(page.status, 200);
    let answer = page.body.split("<pre id=\"answer-file\">").nth(1).unwrap();
    assert!(
        answer.contains("Bearer ********") || answer.contains("********"),
        "{answer}"
    );
    let secret = shared.state().secret.clone().unwrap();
    let token = pxe_model::state::machine_token(&secret, "web01", 0);
    let token1 = pxe_model::state::machine_token(&secret, "web01", 1);
    assert!(
        !page.body.contains(&token) && !page.body.contains(&token1),
        "token shown"
    );
    assert!(
        page.body.contains("<pre id=\"boot-config\">#!ipxe"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn events_stream_the_changes() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared(dir.path());
    let id = log_in(&shared).await;
    let resp = handle_head(
        Arc::clone(&shared),
        "127.0.0.1:1".parse().unwrap(),
        get("/console/events", Some(&id)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body();
    let hello = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(hello.starts_with(b"retry:"));
    shared
        .store
        .clone()
        .unwrap()
        .apply("db01", StateEvent::AnswerFetched, 7)
        .unwrap();
    refresh(&shared).await;
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    let text = String::from_utf8_lossy(&frame);
    assert!(
        text.contains("\"name\":\"db01\"") && text.contains("installing"),
        "{text}"
    );
}

#[tokio::test]
async fn the_cookie_is_secure_behind_a_tls_proxy_only() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared(dir.path());
    let body = format!("token={ADMIN}");
    let plain = send(&shared, with_body(Method::POST, "/login", None, &body)).await;
    let cookie = plain.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!cookie.contains("Secure"), "{cookie}");
    let mut tls = with_body(Method::POST, "/login", None, &body);
    tls.headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let a = send(&shared, tls).await;
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert_eq!(shared.console.sessions.len(), 2, "two logins, two sessions");
}

#[tokio::test]
async fn with_a_root_tree_at_slash_the_console_is_at_console() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "the root tree").unwrap();
    let mut state = lab(RENDER_LAB, dir.path());
    state.admin_token = Some(ADMIN.into());
    state.root = Some(root.canonicalize().unwrap());
    state.public_status = true;
    let shared = Arc::new(Shared::new(
        state,
        Some(Arc::new(
            FileStore::open(&dir.path().join("state")).unwrap(),
        )),
        crate::access_log::AccessLog::file(&dir.path().join("access.log")).unwrap(),
    ));
    let a = send(&shared, get("/index.html", None)).await;
    assert_eq!(a.body, "the root tree");
    let list = send(&shared, get("/console/", None)).await;
    assert_eq!(list.status, 200);
    assert!(
        list.body
            .contains("<form id=\"search\" method=\"get\" action=\"/console/\">")
    );
    assert!(
        list.body
            .contains("<nav><a href=\"/console/\">Machines</a>")
    );
    let a = send(
        &shared,
        with_body(Method::POST, "/login", None, &format!("token={ADMIN}")),
    )
    .await;
    assert_eq!(a.headers[header::LOCATION], "/console/");
}
