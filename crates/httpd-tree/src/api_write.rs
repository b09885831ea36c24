//! Changes through the API: machines added, replaced and removed as files of the
//! inventory's `machines_dir` ([`pxe_model::machine_dir`]), which every daemon loads with
//! the inventory and watches.
//!
//! One change at a time: under a lock, the inventory is loaded afresh from its files (so
//! a change is checked against what is on disk now, not against a state a moment old),
//! the body is checked field by field, the file is written atomically, and the inventory
//! is loaded again and put in place before the answer leaves, so the next request sees
//! the change. Bad bodies get a JSON error naming the field.

use crate::api::{self, Record};
use crate::body::Body;
use crate::deploy::ReportBody;
use crate::route::{Change, State};
use crate::service::{Shared, json, with_store};
use http::{HeaderValue, Request, Response, StatusCode, header};
use pxe_model::machine_dir::{self, FieldError};
use pxe_model::{Inventory, LoadError};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A refusal, answered as JSON `{"error": …, "field": …}` (`field` null when the body
/// as a whole is wrong).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn response(&self) -> Response<Body> {
        let mut r = json(&json!({ "error": self.message, "field": self.field }));
        *r.status_mut() = self.status;
        r
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        ApiError::new(status, (!e.field.is_empty()).then_some(&e.field), e.message)
    }
}

/// The request's JSON body (read before routing), or why not.
pub(crate) fn body_json(req: &Request<()>) -> Result<Value, ApiError> {
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, None, m);
    match req.extensions().get::<ReportBody>() {
        Some(ReportBody::Read(bytes)) => {
            serde_json::from_slice(bytes).map_err(|e| bad(&format!("the body is not JSON: {e}")))
        }
        Some(ReportBody::Unreadable(why)) => Err(bad(why)),
        None => Err(bad(
            "a JSON body is required (Content-Type: application/json)",
        )),
    }
}

pub(crate) fn load(path: &Path) -> Result<Inventory, String> {
    pxe_model::load(path).map_err(|e| match e {
        LoadError::Invalid(d) => d.render(),
        e => e.to_string(),
    })
}

/// What a change did, for the answer.
enum Done {
    Written {
        name: String,
        file: PathBuf,
        created: bool,
    },
    Removed {
        name: String,
        file: PathBuf,
    },
}

/// Checks and applies one change to the files (blocking: file I/O).
fn apply(inv_path: &Path, change: &Change, body: Option<&Value>) -> Result<Done, ApiError> {
    let inv = load(inv_path).map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            None,
            format!("the inventory does not load now, so nothing was changed:\n{e}"),
        )
    })?;
    let Some(dir) = inv.machines_dir.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            None,
            format!(
                "{} has no machines_dir, so machines cannot be changed through the API: add \
                 `machines_dir: machines.d` to it",
                inv.source_name()
            ),
        ));
    };
    let io_error = |e: std::io::Error| {
        tracing::error!(%e, dir = %dir.display(), "cannot write the machines directory");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            format!("cannot write the machines directory {}: {e}", dir.display()),
        )
    };
    let in_file = |name: &str| inv.machines.contains_key(name) && !inv.api_machines.contains(name);
    match change {
        Change::Add | Change::Put { .. } => {
            let body = body.unwrap_or(&Value::Null);
            let replacing = match change {
                Change::Put { name } => {
                    if in_file(name) {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            Some("name"),
                            format!(
                                "machine \"{name}\" is defined in {}; change it there",
                                inv.source_name()
                            ),
                        ));
                    }
                    Some(name.as_str())
                }
                _ => None,
            };
            let spec = machine_dir::spec_from_json(&inv, body, replacing)?;
            let created = !inv.api_machines.contains(&spec.name);
            let file = machine_dir::write(&dir, &spec).map_err(io_error)?;
            Ok(Done::Written {
                name: spec.name,
                file,
                created,
            })
        }
        Change::Delete { name } => {
            let loaded = inv.api_machines.contains(name);
            // A file that was not loaded (a conflict) can be removed too: that is how a
            // conflict is settled from the API's side.
            let unloaded = inv
                .problems
                .iter()
                .any(|p| p.entry == "machine" && &p.name == name);
            if !loaded && !unloaded {
                return Err(if in_file(name) {
                    ApiError::new(
                        StatusCode::CONFLICT,
                        Some("name"),
                        format!(
                            "machine \"{name}\" is defined in {}; remove it there",
                            inv.source_name()
                        ),
                    )
                } else {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        Some("name"),
                        format!("no machine \"{name}\" in the machines directory"),
                    )
                });
            }
            machine_dir::remove(&dir, name).map_err(io_error)?;
            Ok(Done::Removed {
                name: name.clone(),
                file: machine_dir::path_of(&dir, name),
            })
        }
    }
}

/// Runs one change through the API, machines, profiles or distros alike: the body taken
/// (POST and PUT), then under the API's lock and on the blocking pool `apply` and a fresh
/// load of the inventory, so the next request sees the change (the other daemons' watchers
/// see the file). The change's outcome and the inventory, or the answer to give.
pub(crate) async fn apply_locked<D: Send + 'static>(
    shared: &Shared,
    state: &State,
    req: &Request<()>,
    change: Change,
    apply: impl FnOnce(&Path, &Change, Option<&Value>) -> Result<D, ApiError> + Send + 'static,
) -> Result<(D, Inventory), Response<Body>> {
    let Some(inv_path) = state.inventory_file.clone() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, None, "no inventory").response());
    };
    let body = match change {
        Change::Add | Change::Put { .. } => Some(body_json(req).map_err(|e| e.response())?),
        Change::Delete { .. } => None,
    };
    let _one_at_a_time = shared.changes.lock().await;
    let done = tokio::task::spawn_blocking(move || {
        let done = apply(&inv_path, &change, body.as_ref())?;
        let inv = load(&inv_path).map_err(|e| {
            tracing::error!("the inventory does not load after a change: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                format!("the change was written but the inventory does not load: {e}"),
            )
        })?;
        Ok::<_, ApiError>((done, inv))
    })
    .await;
    match done {
        Ok(Ok(x)) => Ok(x),
        Ok(Err(e)) => Err(e.response()),
        Err(e) => {
            tracing::error!(%e, "API change task failed");
            Err(
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, None, "the change failed")
                    .response(),
            )
        }
    }
}

/// Answers one change (the route checked the admin token).
pub async fn change(
    shared: &Shared,
    state: &State,
    req: &Request<()>,
    change: Change,
    now: u64,
) -> Response<Body> {
    let (done, inv) = match apply_locked(shared, state, req, change, |path, change, body| {
        apply(path, change, body)
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let new_state = state.with_inventory(inv);
    let resp = match &done {
        Done::Written {
            name,
            file,
            created,
        } => {
            tracing::info!(machine = %name, file = %file.display(), created, "machine written through the API");
            let Some((inv, m)) = new_state
                .inventory
                .as_ref()
                .and_then(|i| Some((i, i.machines.get(name)?)))
            else {
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "written, not loaded",
                )
                .response();
            };
            let rec = record(shared, name.clone()).await;
            let mut doc = api::machine(inv, m, &rec, now);
            doc["file"] = json!(file.display().to_string());
            let mut r = json(&doc);
            if *created {
                *r.status_mut() = StatusCode::CREATED;
                if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/machines/{name}")) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
            }
            r
        }
        Done::Removed { name, file } => {
            tracing::info!(machine = %name, file = %file.display(), "machine removed through the API");
            json(&json!({ "removed": name, "file": file.display().to_string() }))
        }
    };
    shared.replace_state(new_state);
    resp
}

async fn record(shared: &Shared, name: String) -> Record {
    with_store(&shared.store, "read", move |s| {
        Ok(Record {
            state: s.get(&name)?,
            events: s.events(&name, crate::service::TIMELINE_LIMIT)?,
        })
    })
    .await
    .unwrap_or_default()
}
