//! Changes through the API to distros and profiles: files of the inventory's
//! `distros_dir` and `profiles_dir` ([`pxe_model::entry_dir`]), which every daemon loads
//! with the inventory and watches.
//!
//! As for machines ([`crate::api_write`]): one change at a time, checked against the files
//! as they are now. A change is checked by loading the whole inventory as if it were
//! already written, so a profile naming a missing distro, a removal that leaves a machine
//! without its profile, or a name the inventory file already uses is refused before
//! anything is written, with the loader's own messages.

use crate::api_write::{ApiError, apply_locked, load};
use crate::body::Body;
use crate::route::{Change, State};
use crate::service::{Shared, json};
use http::{HeaderValue, Request, Response, StatusCode, header};
use pxe_model::entry_dir::{self, Entry, Overrides};
use pxe_model::{Inventory, LoadError};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What a change did, for the answer and the log.
enum Done {
    Written { file: PathBuf, created: bool },
    Removed { file: PathBuf },
}

/// The entry's directory and the names that came from it.
fn kept(inv: &Inventory, kind: Entry) -> (Option<&PathBuf>, &BTreeSet<String>) {
    match kind {
        Entry::Distro => (inv.distros_dir.as_ref(), &inv.api_distros),
        Entry::Profile => (inv.profiles_dir.as_ref(), &inv.api_profiles),
    }
}

fn defined(inv: &Inventory, kind: Entry, name: &str) -> bool {
    match kind {
        Entry::Distro => inv.distros.contains_key(name),
        Entry::Profile => inv.profiles.contains_key(name),
    }
}

/// The name a change is about: the path's, or for POST the body's `name`; one that could
/// not name a file of the directory (`..`, `/`) is refused before anything is read.
fn name_of(change: &Change, body: Option<&Value>) -> Result<String, ApiError> {
    let name = named(change, body)?;
    if entry_dir::valid_name(&name) {
        Ok(name)
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
            format!(
                "\"{name}\": a name is letters, digits, `.`, `_` or `-`, not starting with `.`"
            ),
        ))
    }
}

fn named(change: &Change, body: Option<&Value>) -> Result<String, ApiError> {
    let in_body = body.and_then(|b| b.get("name"));
    match change {
        Change::Put { name } | Change::Delete { name } => match in_body {
            Some(v) if v.as_str() != Some(name) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("name"),
                format!(
                    "the body's name differs from the path's \"{name}\"; a rename is a DELETE and a POST"
                ),
            )),
            _ => Ok(name.clone()),
        },
        Change::Add => match in_body.and_then(Value::as_str) {
            Some(n) if !n.is_empty() => Ok(n.to_owned()),
            _ => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("name"),
                "`name` (a text) is required",
            )),
        },
    }
}

/// Every entry an inventory has loaded, as `machine web01`, `profile web`, `distro deb12`.
fn loaded(inv: &Inventory) -> BTreeSet<String> {
    let named = |word: &str, names: &mut dyn Iterator<Item = &String>| {
        names.map(|n| format!("{word} {n}")).collect::<Vec<_>>()
    };
    let mut all = named("machine", &mut inv.machines.keys());
    all.extend(named("profile", &mut inv.profiles.keys()));
    all.extend(named("distro", &mut inv.distros.keys()));
    all.into_iter().collect()
}

/// Loads the inventory as if `file` held `text` (or were gone), and says why not when
/// the change would break it, would itself not be loaded, or would leave out another
/// entry that loads now (a machine of the machines directory on a removed profile).
fn check(
    inv_path: &Path,
    now: &Inventory,
    file: &Path,
    text: Option<String>,
) -> Result<(), ApiError> {
    let mut overrides = Overrides::default();
    overrides.files.insert(file.to_owned(), text.clone());
    let after = match pxe_model::load_with(inv_path, &overrides) {
        Err(LoadError::Invalid(d)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                None,
                format!(
                    "refused: with this change the inventory would not load:\n{}",
                    d.render()
                ),
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                e.to_string(),
            ));
        }
        Ok(after) => after,
    };
    if let Some(p) = after.problems.iter().find(|p| Path::new(&p.file) == file) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            format!("refused: {}", p.message),
        ));
    }
    let still = loaded(&after);
    let lost: Vec<String> = loaded(now)
        .into_iter()
        .filter(|e| !still.contains(e))
        .collect();
    // The entry removed by a DELETE is the one loss that is asked for.
    let asked = text.is_none() as usize;
    if lost.len() > asked {
        let why: Vec<String> = after
            .problems
            .iter()
            .filter(|p| lost.contains(&format!("{} {}", p.entry, p.name)))
            .map(|p| format!("{}: {}", p.file, p.message.trim_end()))
            .collect();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            None,
            format!(
                "refused: {} would no longer be loaded:\n{}",
                lost.join(", "),
                why.join("\n")
            ),
        ));
    }
    Ok(())
}

/// Checks and applies one change to the files (blocking: file I/O).
fn apply(
    inv_path: &Path,
    kind: Entry,
    change: &Change,
    body: Option<&Value>,
) -> Result<(String, Done), ApiError> {
    let word = kind.word();
    let inv = load(inv_path).map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            None,
            format!("the inventory does not load now, so nothing was changed:\n{e}"),
        )
    })?;
    let (Some(dir), from_dir) = kept(&inv, kind) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            None,
            format!(
                "{} has no {key}, so {word}s cannot be changed through the API: add \
                 `{key}: {word}s.d` to it",
                inv.source_name(),
                key = kind.dir_key()
            ),
        ));
    };
    let name = name_of(change, body)?;
    let file = entry_dir::path_of(dir, &name);
    let in_file = defined(&inv, kind, &name) && !from_dir.contains(&name);
    let not_loaded = inv
        .problems
        .iter()
        .any(|p| p.entry == word && p.name == name);
    if in_file && !not_loaded {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            Some("name"),
            format!(
                "{word} \"{name}\" is defined in {}; change it there",
                inv.source_name()
            ),
        ));
    }
    let io_error = |e: std::io::Error| {
        tracing::error!(%e, dir = %dir.display(), "cannot write the {word}s directory");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            format!("cannot write the {word}s directory {}: {e}", dir.display()),
        )
    };
    match change {
        Change::Add | Change::Put { .. } => {
            let created = !from_dir.contains(&name);
            if matches!(change, Change::Add) && !created {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    Some("name"),
                    format!("{word} \"{name}\" exists; PUT /api/v1/{word}s/{name} replaces it"),
                ));
            }
            let text = entry_dir::yaml_of(kind, &name, body.unwrap_or(&Value::Null))
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, None, e))?;
            check(inv_path, &inv, &file, Some(text.clone()))?;
            let file = entry_dir::write_atomic(dir, &name, &text).map_err(io_error)?;
            Ok((name, Done::Written { file, created }))
        }
        Change::Delete { .. } => {
            if !from_dir.contains(&name) && !not_loaded {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    Some("name"),
                    format!("no {word} \"{name}\" in the {word}s directory"),
                ));
            }
            // A file that is not loaded can always go: that settles its problem.
            if !not_loaded {
                check(inv_path, &inv, &file, None)?;
            }
            entry_dir::remove(dir, &name).map_err(io_error)?;
            Ok((name, Done::Removed { file }))
        }
    }
}

/// Answers one change to a distro or profile (the route checked the admin token).
pub async fn change(
    shared: &Shared,
    state: &State,
    req: &Request<()>,
    kind: Entry,
    change: Change,
) -> Response<Body> {
    let ((name, done), inv) =
        match apply_locked(shared, state, req, change, move |path, change, body| {
            apply(path, kind, change, body)
        })
        .await
        {
            Ok(x) => x,
            Err(r) => return r,
        };
    let word = kind.word();
    let resp = match &done {
        Done::Written { file, created } => {
            tracing::info!(entry = word, name = %name, file = %file.display(), created, "{word} written through the API");
            let mut r = json(&json!({ "name": name, "file": file.display().to_string() }));
            if *created {
                *r.status_mut() = StatusCode::CREATED;
                if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/{word}s/{name}")) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
            }
            r
        }
        Done::Removed { file } => {
            tracing::info!(entry = word, name = %name, file = %file.display(), "{word} removed through the API");
            json(&json!({ "removed": name, "file": file.display().to_string() }))
        }
    };
    shared.replace_state(state.with_inventory(inv));
    resp
}
