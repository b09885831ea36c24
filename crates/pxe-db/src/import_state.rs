//! `pxe-db import-state DIR`: a file state directory (tftpd's and httpd-tree's
//! `--state-dir`) copied into the database, for a site moving from one host to several.
//!
//! - Each machine's state goes in unless the database already has a row for it (the
//!   database's is newer truth: it is kept, and the machine is counted as kept).
//! - Its timeline goes in with it (the last [`EVENTS_KEEP`] entries), and the address dhcpd
//!   last acknowledged to it.
//! - The directory's token key becomes the database's, unless the database has one: then
//!   tokens rendered from the directory stop being accepted, and the report says so.

use std::collections::BTreeSet;
use std::path::Path;

use pxe_model::state::{EVENTS_KEEP, FileStore, StateError, StateStore};

use crate::state::PgStateStore;

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Machines whose state was copied.
    pub states: usize,
    /// Machines the database already had (theirs kept).
    pub kept: Vec<String>,
    /// Timeline entries copied.
    pub events: usize,
    /// Acknowledged addresses copied.
    pub acked: usize,
    /// The directory's token key is the database's now (false: the database had another).
    pub key_adopted: bool,
}

/// Every machine the directory knows something of: a state, a timeline or an address.
fn machines_in(dir: &Path, files: &FileStore) -> Result<BTreeSet<String>, StateError> {
    let mut names: BTreeSet<String> = files.all()?.into_keys().collect();
    for (sub, ext) in [("events", "jsonl"), ("acked", "json")] {
        let path = dir.join(sub);
        let entries = std::fs::read_dir(&path).map_err(|e| StateError::Io {
            path: path.clone(),
            source: e,
        })?;
        for entry in entries.flatten() {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if let Some(name) = file.strip_suffix(&format!(".{ext}")) {
                names.insert(name.to_owned());
            }
        }
    }
    Ok(names)
}

/// Copies the state directory `dir` into `db` (see the module's rules).
pub fn import_state(dir: &Path, db: &PgStateStore) -> Result<Imported, StateError> {
    if !dir.is_dir() {
        return Err(StateError::Io {
            path: dir.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such state directory"),
        });
    }
    let files = FileStore::open(dir)?;
    let mut out = Imported::default();
    let key = files.secret()?;
    let before = pxe_model::state::machine_token(&key, "import-check", 0);
    let adopted = db.adopt_secret(key.bytes())?;
    out.key_adopted = pxe_model::state::machine_token(&adopted, "import-check", 0) == before;
    let states = files.all()?;
    for name in machines_in(dir, &files)? {
        if let Some(state) = states.get(&name) {
            if db.insert_state(&name, state)? {
                out.states += 1;
            } else {
                out.kept.push(name.clone());
                continue;
            }
        }
        for event in files.events(&name, EVENTS_KEEP)? {
            db.record(&name, &event)?;
            out.events += 1;
        }
        if let Some(address) = files.acked_address(&name)? {
            let at = states.get(&name).map_or(0, |s| s.since);
            db.record_ack(&name, address, at)?;
            out.acked += 1;
        }
    }
    Ok(out)
}
