//! `POST /api/v1/machines/<name>/power` and `reinstall` with `power_cycle`: the
//! operator's power control through the machine's BMC ([`crate::bmc`]). Each action, and
//! what the BMC answered, is a line of the machine's timeline.

use crate::api_write::{ApiError, body_json};
use crate::bmc::{self, BmcError};
use crate::body::Body;
use crate::route::{Caller, State};
use crate::service::{Shared, apply_callback, json, record};
use http::{Request, Response, StatusCode};
use pxe_model::Machine;
use pxe_model::power::{Action, Power};
use pxe_model::state::{Phase, StateEvent};
use serde_json::{Value, json};

/// The machine's BMC settings, or 409.
fn settings(machine: &Machine) -> Result<&Power, ApiError> {
    machine.power.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            None,
            format!(
                "machine {} has no power settings (machines.{}.power in the inventory)",
                machine.name, machine.name
            ),
        )
    })
}

/// The BMC's failure as 502, logged and on the timeline.
async fn bmc_failed(
    shared: &Shared,
    machine: &str,
    what: &str,
    e: BmcError,
    now: u64,
) -> Response<Body> {
    tracing::warn!(%machine, "power {what} failed: {}", e.0);
    record(
        shared,
        machine.to_owned(),
        Phase::Power,
        format!("{what} failed: {}", e.0),
        now,
    )
    .await;
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        None,
        format!(
            "the BMC of machine {machine} refused or failed {what}: {}",
            e.0
        ),
    )
    .response()
}

/// The action the body names.
fn action_of(body: &Value) -> Result<Action, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, Some("action"), m);
    let Some(obj) = body.as_object() else {
        return Err(bad("the body must be a JSON object with \"action\"".into()));
    };
    if let Some(k) = obj.keys().find(|k| *k != "action") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(k),
            format!("unknown field {k:?}; the body is {{\"action\": ...}}"),
        ));
    }
    match obj.get("action") {
        None => Err(bad(format!(
            "\"action\" is required: one of {}",
            Action::NAMES.join(", ")
        ))),
        Some(v) => v.as_str().and_then(Action::parse).ok_or_else(|| {
            bad(format!(
                "\"action\" must be one of {}, found {v}",
                Action::NAMES.join(", ")
            ))
        }),
    }
}

/// `POST /api/v1/machines/<name>/power`.
pub async fn power(
    shared: &Shared,
    req: &Request<()>,
    machine: &Machine,
    now: u64,
) -> Response<Body> {
    let name = machine.name.as_str();
    let action = match body_json(req).and_then(|b| action_of(&b)) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(machine = %name, "power refused: {}", e.message);
            return e.response();
        }
    };
    let p = match settings(machine) {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    match bmc::act(p, action).await {
        Ok(out) => {
            tracing::info!(machine = %name, action = action.as_str(), power = out.power.as_str(), "power: {}", out.detail);
            if action != Action::Status {
                record(
                    shared,
                    name.to_owned(),
                    Phase::Power,
                    format!("power {} by the operator: {}", action.as_str(), out.detail),
                    now,
                )
                .await;
            }
            json(&json!({
                "machine": name,
                "action": action.as_str(),
                "power": out.power.as_str(),
                "detail": out.detail,
            }))
        }
        Err(e) => bmc_failed(shared, name, &format!("power {}", action.as_str()), e, now).await,
    }
}

/// Whether the reinstall's body asks for a power cycle (no body: no).
fn power_cycle_of(req: &Request<()>) -> Result<bool, ApiError> {
    use crate::deploy::ReportBody;
    if let Some(ReportBody::Read(b)) = req.extensions().get::<ReportBody>()
        && b.iter().all(u8::is_ascii_whitespace)
    {
        return Ok(false);
    }
    if req.extensions().get::<ReportBody>().is_none() {
        return Ok(false);
    }
    let body = body_json(req)?;
    let bad = |field: &str, m: &str| {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(field),
            m,
        ))
    };
    let Some(obj) = body.as_object() else {
        return bad(
            "power_cycle",
            "the body must be a JSON object, such as {\"power_cycle\": true}",
        );
    };
    if let Some(k) = obj.keys().find(|k| *k != "power_cycle") {
        return bad(
            k,
            "unknown field; the body is {\"power_cycle\": true|false}",
        );
    }
    match obj.get("power_cycle") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => bad("power_cycle", "\"power_cycle\" must be true or false"),
    }
}

/// `POST /api/v1/machines/<name>/reinstall`, optionally `{"power_cycle": true}`: the
/// machine is marked for reinstall; then its next boot is set to the network and it is
/// power-cycled (turned on when it was off).
pub async fn reinstall(
    shared: &Shared,
    state: &State,
    req: &Request<()>,
    machine: &Machine,
    by: Caller,
    now: u64,
) -> Response<Body> {
    let name = machine.name.as_str();
    let cycle = match power_cycle_of(req) {
        Ok(c) => c,
        Err(e) => return e.response(),
    };
    // Refused before anything changes when the machine has no BMC.
    let p = match cycle.then(|| settings(machine)).transpose() {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let mut answer = match apply_callback(shared, state, name, StateEvent::Reinstall, by, now).await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(p) = p else {
        return json(&answer);
    };
    let boot = match bmc::boot_pxe(p).await {
        Ok(d) => d,
        Err(e) => {
            return bmc_failed(
                shared,
                name,
                "setting the next boot to the network (the reinstall is marked)",
                e,
                now,
            )
            .await;
        }
    };
    let out = match bmc::act(p, Action::Cycle).await {
        Ok(o) => o,
        Err(e) => {
            return bmc_failed(
                shared,
                name,
                "the power cycle (the reinstall is marked, the next boot is the network)",
                e,
                now,
            )
            .await;
        }
    };
    let detail = format!("{boot}; {}", out.detail);
    tracing::info!(machine = %name, power = out.power.as_str(), "reinstall with power cycle: {detail}");
    record(
        shared,
        name.to_owned(),
        Phase::Power,
        format!("reinstall: next boot from the network, power cycle: {detail}"),
        now,
    )
    .await;
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("power".into(), json!(out.power.as_str()));
        obj.insert("detail".into(), json!(detail));
    }
    json(&answer)
}
