//! The deploy agent's side of httpd-tree: its machine's plan, and its reports.
//!
//! The plan is a machine's own file, like an answer file: [`crate::route`] routes it, the
//! service's owner rule keeps it to the machine's address, and it carries the machine's
//! token for the current install generation. Reports come back with that token in
//! `Authorization: Bearer` and a JSON [`Report`] body of at most
//! [`MAX_REPORT_BYTES`](pxe_model::deploy_plan::MAX_REPORT_BYTES); each one becomes a
//! timeline entry, and a failed step turns the machine `failed` under the state lock.

use crate::body::Body;
use crate::route::State;
use crate::service::{
    Shared, answer_fetched, generation_of, json, no_inventory, no_store, plain, record, refusal,
    typed, with_store,
};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use pxe_model::Machine;
use pxe_model::deploy::Deploy;
use pxe_model::deploy_plan::{self, MAX_REPORT_BYTES, Report, StepStatus};
use pxe_model::state::{Phase, StateEvent, machine_token};
use std::time::Duration;

/// How long a report's body may take to arrive.
pub const REPORT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request body read before routing, attached as an extension: only POSTs to a
/// machine's `report` URL have one.
#[derive(Debug, Clone)]
pub enum ReportBody {
    Read(Bytes),
    /// Larger than [`MAX_REPORT_BYTES`], or slower than [`REPORT_BODY_TIMEOUT`], or broken.
    Unreadable(&'static str),
}

/// The API's collections whose entries are added (POST) and replaced (PUT) with a body.
const CHANGED: [&str; 3] = ["/api/v1/machines", "/api/v1/profiles", "/api/v1/distros"];

/// Whether a request's body is read: a deploy report's, and an API change's (a POST or
/// PUT of a machine, profile or distro); no other body is read.
pub fn wants_body(req: &Request<Incoming>) -> bool {
    let path = req.uri().path().trim_end_matches('/');
    match *req.method() {
        Method::POST => {
            path.ends_with("/report")
                || path.ends_with("/power")
                || path.ends_with("/reinstall")
                || CHANGED.contains(&path)
        }
        Method::PUT => CHANGED.iter().any(|c| {
            path.strip_prefix(c)
                .is_some_and(|rest| rest.starts_with('/'))
        }),
        _ => false,
    }
}

/// Reads a report's body, bounded in size and time.
pub async fn read_body(body: Incoming) -> ReportBody {
    let limited = Limited::new(body, MAX_REPORT_BYTES);
    match tokio::time::timeout(REPORT_BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => ReportBody::Read(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            ReportBody::Unreadable("the report is larger than 64 KiB")
        }
        Ok(Err(_)) => ReportBody::Unreadable("the report's body broke off"),
        Err(_) => ReportBody::Unreadable("the report's body took too long"),
    }
}

/// `GET /deploy/<mac>`: the machine's plan, with its token; fetching it starts the install.
pub async fn plan(
    shared: &Shared,
    state: &State,
    req: &Request<()>,
    machine: &Machine,
    deploy: &Deploy,
    now: u64,
) -> Response<Body> {
    let Some(inv) = state.inventory.as_ref() else {
        return no_inventory();
    };
    let Some(secret) = state.secret.as_ref() else {
        tracing::error!("no token secret: the server runs without --state-dir");
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "no state directory: cannot issue a callback token\n",
        );
    };
    let generation = match generation_of(shared, machine).await {
        Ok(g) => g,
        Err(resp) => return resp,
    };
    let token = machine_token(secret, &machine.name, generation);
    let plan = deploy_plan::render(inv, machine, deploy, &token);
    let Ok(mut text) = serde_json::to_string_pretty(&plan) else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot write the plan\n");
    };
    text.push('\n');
    if req.method() == Method::GET {
        answer_fetched(shared, machine, Phase::DeployPlan, req.uri().path(), now).await;
    }
    no_store(typed(StatusCode::OK, crate::mime::JSON, Bytes::from(text)))
}

/// `POST /api/v1/machines/<mac>/report`: a step, its progress, or its failure.
pub async fn report(
    shared: &Shared,
    state: &State,
    req: &Request<()>,
    machine: &Machine,
    token: String,
    now: u64,
) -> Response<Body> {
    let report = match parse(req) {
        Ok(r) => r,
        Err(reason) => return refusal(StatusCode::BAD_REQUEST, &reason, None),
    };
    let Some(secret) = state.secret.clone() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "no state directory\n");
    };
    let name = machine.name.clone();
    let failed = report.status == StepStatus::Failed;
    // A failure is checked and applied under the state lock, so a reinstall cannot slip
    // in between; any other report only reads the state to check the token, and writes
    // nothing but its timeline entry.
    let checked = with_store(&shared.store, "apply", move |s| {
        if failed {
            s.apply_if(&name, StateEvent::Failed, now, &|st| {
                st.accepts_token(&secret, &name, &token)
            })
            .map(|r| r.map(|(st, _)| st))
        } else {
            let st = s.get(&name)?;
            Ok(st.accepts_token(&secret, &name, &token).then_some(st))
        }
    })
    .await;
    let Some(checked) = checked else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot read or write the state; see the server log\n",
        );
    };
    let Some(st) = checked else {
        let reason = format!(
            "the token is not valid for reports of machine {}: not its token, or stale \
             (issued before a reinstall), or the install is over",
            machine.name
        );
        tracing::warn!(machine = %machine.name, "deploy report refused: {reason}");
        record(
            shared,
            machine.name.clone(),
            Phase::Refused,
            "deploy report with a stale, used or foreign token".to_owned(),
            now,
        )
        .await;
        return refusal(StatusCode::UNAUTHORIZED, &reason, None);
    };
    let detail = report.timeline_detail();
    let phase = if failed {
        tracing::error!(machine = %machine.name, step = report.step.as_str(), message = %report.message, "deploy failed");
        Phase::DeployFailed
    } else {
        tracing::info!(machine = %machine.name, step = report.step.as_str(), status = ?report.status, done = report.done_bytes, total = report.total_bytes, "deploy report");
        Phase::DeployStep
    };
    record(shared, machine.name.clone(), phase, detail, now).await;
    json(&serde_json::json!({
        "machine": machine.name,
        "state": st.state.as_str(),
    }))
}

/// The report in the request's body, or why it is not one.
fn parse(req: &Request<()>) -> Result<Report, String> {
    match req.extensions().get::<ReportBody>() {
        Some(ReportBody::Read(bytes)) => serde_json::from_slice::<Report>(bytes)
            .map_err(|e| format!("the body is not a deploy report: {e}")),
        Some(ReportBody::Unreadable(why)) => Err((*why).to_owned()),
        None => Err("a report needs a JSON body".to_owned()),
    }
}
