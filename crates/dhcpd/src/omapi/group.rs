//! OMAPI `group` objects, as ISC's `dhcp_group_*` functions treat them: lookup by handle or
//! name; creation (statements are required, a name is generated when none is given);
//! no change to a group that has its name and statements (ISC refuses both as "already
//! exists"); removal. Made and removed groups are records for dhcpd.leases, written as
//! ISC's `write_group` writes them; a host made over OMAPI can be put in any named group.

use super::objects::{Obj, World};
use super::status::Status;
use super::wire::{Value, find, int};
use crate::lease::records::ObjectRecord;

/// The group the object values name: `Ok(name)`, or NOT_FOUND, NO_KEYS (no key given),
/// KEY_CONFLICT or INVALID_ARG (a handle of another kind of object).
pub(super) fn lookup(values: &[Value], w: &World<'_>) -> Result<String, Status> {
    let mut found: Option<String> = None;
    if let Some(v) = find(values, "handle") {
        let h = int(v).ok_or(Status::INVALID_ARG)?;
        match w.handles.get(h) {
            Some(Obj::Group(name)) => found = Some(name.clone()),
            Some(_) => return Err(Status::INVALID_ARG),
            None => return Err(Status::NOT_FOUND),
        }
    }
    if let Some(v) = find(values, "name") {
        let name = String::from_utf8_lossy(v).into_owned();
        if w.cfg.named_groups.contains_key(&name) {
            if found.as_ref().is_some_and(|f| *f != name) {
                return Err(Status::KEY_CONFLICT);
            }
            found = Some(name);
        } else if found.is_none() {
            return Err(Status::NOT_FOUND);
        }
    }
    let name = found.ok_or(Status::NO_KEYS)?;
    // A handle of a group removed since.
    if !w.cfg.named_groups.contains_key(&name) {
        return Err(Status::NOT_FOUND);
    }
    Ok(name)
}

/// What ISC sends for a group: its name only (nothing for one removed since).
pub(super) fn values(name: &str, w: &World<'_>) -> Vec<Value> {
    if !w.cfg.named_groups.contains_key(name) {
        return Vec::new();
    }
    vec![(b"name".to_vec(), name.as_bytes().to_vec())]
}

/// Make a group from the object values (`create` of an OPEN that found none).
pub(super) fn create(
    values: &[Value],
    w: &mut World<'_>,
) -> Result<(String, Vec<ObjectRecord>), Status> {
    let mut name: Option<String> = None;
    let mut statements: Option<String> = None;
    for (n, v) in values {
        match n.as_slice() {
            b"name" => {
                if name.is_some() {
                    return Err(Status::EXISTS);
                }
                name = Some(String::from_utf8_lossy(v).into_owned());
            }
            b"statements" => {
                if statements.is_some() {
                    return Err(Status::EXISTS);
                }
                statements = Some(String::from_utf8_lossy(v).into_owned());
            }
            // ISC keeps any other value on the object's generic part, where it does nothing.
            _ => {}
        }
    }
    // ISC's "updated" signal: a group is not valid without statements.
    let statements = statements.ok_or(Status::INVALID_ARG)?;
    // ISC: "ng", the time and the object's address; here the time and a number used once.
    let name = name.unwrap_or_else(|| format!("ng{:08x}{:08x}", w.now as u32, w.handles.fresh()));
    let record = ObjectRecord::group_created(&name, &statements);
    let record = super::state::enter_new_record(record, w)?;
    Ok((name, vec![record]))
}

/// Change a group with the object values: its name and (once it has some) its statements
/// cannot change, as in ISC; other values do nothing.
pub(super) fn update(name: &str, values: &[Value], w: &World<'_>) -> Result<(), Status> {
    let named = w.cfg.named_groups.get(name).ok_or(Status::NOT_FOUND)?;
    let has_statements = w
        .cfg
        .groups
        .get(named.id)
        .is_some_and(|g| !g.stmts.is_empty());
    for (n, _) in values {
        match n.as_slice() {
            b"name" => return Err(Status::EXISTS),
            b"statements" if has_statements => return Err(Status::EXISTS),
            // Statements for a named group of dhcpd.conf that has none: not taken here.
            b"statements" => return Err(Status::NOT_IMPLEMENTED),
            _ => {}
        }
    }
    Ok(())
}

/// Remove the group `name` (OMAPI's `remove`): hosts already in it keep its statements,
/// hosts made from now on cannot name it.
pub(super) fn remove(name: &str, w: &mut World<'_>) -> Result<Vec<ObjectRecord>, Status> {
    let named = w.cfg.named_groups.remove(name).ok_or(Status::NOT_FOUND)?;
    let record = ObjectRecord::group_deleted(name, named.dynamic);
    w.records.push(record.clone());
    Ok(vec![record])
}
