//! OMAPI `host` objects, as ISC's `dhcp_host_*` functions treat them: lookup by handle,
//! client identifier, hardware address, leased address and name (keys that name different
//! hosts are a key conflict); creation (a host needs a hardware address or a client
//! identifier, and a name nobody has); changes; removal. Every change is a host record,
//! written as ISC writes it, and parsed with the configuration's own parser before it is
//! entered, so that what runs now and what is read at the next start are the same text.

use std::net::Ipv4Addr;

use super::objects::{Obj, World};
use super::status::Status;
use super::wire::{Value, find, int};
use crate::lease::Hardware;
use crate::lease::records::{NewHost, ObjectRecord};
use crate::model::{Config, HostId, NamedGroup};

/// The named groups of a configuration, by name.
type NamedGroups = std::collections::HashMap<String, NamedGroup>;

/// The longest hardware address ISC's host objects hold.
const MAX_HW: usize = 16;

/// The hardware type a lookup or a host gets from `hardware-type` (Ethernet without one).
fn hardware_type(values: &[Value]) -> Result<u8, Status> {
    match find(values, "hardware-type") {
        None => Ok(1),
        Some(v) => match v {
            [0, 0, 0, t] => Ok(*t),
            _ => Err(Status::INVALID_ARG),
        },
    }
}

/// One key's host, merged into what the earlier keys found (ISC's rule: a different host
/// is a key conflict; none is "not found").
fn merge(found: &mut Option<HostId>, host: Option<HostId>) -> Result<(), Status> {
    match (*found, host) {
        (Some(a), b) if Some(a) != b => Err(Status::KEY_CONFLICT),
        (_, None) => Err(Status::NOT_FOUND),
        (None, Some(b)) => {
            *found = Some(b);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The host the object values name: `Ok(name)`, or NOT_FOUND, NO_KEYS (no key given),
/// KEY_CONFLICT or INVALID_ARG.
pub(super) fn lookup(values: &[Value], w: &mut World<'_>) -> Result<String, Status> {
    let cfg: &Config = w.cfg;
    let mut found: Option<HostId> = None;
    if let Some(v) = find(values, "handle") {
        let h = int(v).ok_or(Status::INVALID_ARG)?;
        match w.handles.get(h) {
            Some(Obj::Host(name)) => found = cfg.host_by_name(name),
            Some(_) => return Err(Status::INVALID_ARG),
            None => return Err(Status::NOT_FOUND),
        }
    }
    if let Some(uid) = find(values, "dhcp-client-identifier") {
        merge(&mut found, cfg.hosts_by_uid(uid).first().copied())?;
    }
    if let Some(addr) = find(values, "hardware-address") {
        // An address too long for any host matches none.
        let hw = Hardware::new(hardware_type(values)?, addr);
        let host = hw.and_then(|hw| cfg.hosts_by_hardware(&hw).first().copied());
        merge(&mut found, host)?;
    }
    if let Some(v) = find(values, "ip-address") {
        // ISC looks the address up as a lease (every address of a range is one) and takes
        // the host of that lease's hardware address.
        let ip = <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from);
        let lease = ip.and_then(|ip| w.table.get(ip));
        let known = lease.is_some() || ip.is_some_and(|ip| cfg.pool_of(ip).is_some());
        if !known && found.is_none() {
            return Err(Status::NOT_FOUND);
        }
        let host = lease
            .and_then(|l| l.hardware.as_ref())
            .and_then(|hw| cfg.hosts_by_hardware(hw).first().copied());
        match (found, host) {
            (Some(a), Some(b)) if a != b => return Err(Status::KEY_CONFLICT),
            (None, None) => return Err(Status::NOT_FOUND),
            (None, Some(b)) => found = Some(b),
            _ => {}
        }
    }
    if let Some(name) = find(values, "name") {
        let name = String::from_utf8_lossy(name);
        merge(&mut found, cfg.host_by_name(&name))?;
    }
    let id = found.ok_or(Status::NO_KEYS)?;
    cfg.hosts
        .get(id)
        .map(|h| h.name.clone())
        .ok_or(Status::NOT_FOUND)
}

/// The values ISC sends for a host: `ip-address` (its fixed addresses), then
/// `dhcp-client-identifier`, `name`, `hardware-address` and `hardware-type`.
pub(super) fn values(cfg: &Config, id: HostId) -> Vec<Value> {
    let Some(h) = cfg.hosts.get(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !h.fixed.is_empty() {
        let ips: Vec<u8> = h.fixed.iter().flat_map(|ip| ip.octets()).collect();
        out.push((b"ip-address".to_vec(), ips));
    }
    if let Some(uid) = &h.uid {
        out.push((b"dhcp-client-identifier".to_vec(), uid.clone()));
    }
    out.push((b"name".to_vec(), h.name.as_bytes().to_vec()));
    if let Some(hw) = &h.hardware {
        out.push((b"hardware-address".to_vec(), hw.addr().to_vec()));
        out.push((
            b"hardware-type".to_vec(),
            u32::from(hw.htype).to_be_bytes().to_vec(),
        ));
    }
    out
}

/// Set one value on a host being made or changed, as ISC's `dhcp_host_set_value`
/// (`groups`: the named groups a host can be put in).
fn set(
    h: &mut NewHost,
    name: &[u8],
    v: &[u8],
    values: &[Value],
    groups: &NamedGroups,
) -> Result<(), Status> {
    match name {
        b"name" => {
            if !h.name.is_empty() {
                return Err(Status::EXISTS);
            }
            h.name = String::from_utf8_lossy(v).into_owned();
        }
        // A named group of dhcpd.conf or one made over OMAPI (ISC: not found otherwise).
        b"group" => {
            let name = String::from_utf8_lossy(v).into_owned();
            if !groups.contains_key(&name) {
                return Err(Status::NOT_FOUND);
            }
            h.group = Some(name);
        }
        b"hardware-address" => {
            if h.hardware.is_some() {
                return Err(Status::EXISTS);
            }
            if v.len() > MAX_HW {
                return Err(Status::INVALID_ARG);
            }
            h.hardware = Some(Hardware::new(hardware_type(values)?, v).ok_or(Status::INVALID_ARG)?);
        }
        b"hardware-type" => {
            let t = hardware_type(values)?;
            if let Some(hw) = &mut h.hardware {
                hw.htype = t;
            }
        }
        b"dhcp-client-identifier" => {
            if h.uid.is_some() {
                return Err(Status::EXISTS);
            }
            h.uid = Some(v.to_vec());
        }
        b"ip-address" => {
            h.fixed = v
                .chunks_exact(4)
                .filter_map(|c| <[u8; 4]>::try_from(c).ok().map(Ipv4Addr::from))
                .collect();
        }
        b"statements" => {
            if h.statements.is_some() {
                return Err(Status::EXISTS);
            }
            h.statements = Some(String::from_utf8_lossy(v).into_owned());
        }
        // ISC keeps any other value on the object's generic part, where it does nothing.
        _ => {}
    }
    Ok(())
}

/// Enter `h` (its record parsed as dhcpd.conf text) into the configuration.
fn enter(h: &NewHost, w: &mut World<'_>) -> Result<ObjectRecord, Status> {
    super::state::enter_new_record(ObjectRecord::created(h), w)
}

/// Make a host from the object values (`create` of an OPEN that found none).
pub(super) fn create(
    values: &[Value],
    w: &mut World<'_>,
) -> Result<(String, Vec<ObjectRecord>), Status> {
    let mut h = NewHost::default();
    for (name, v) in values {
        set(&mut h, name, v, values, &w.cfg.named_groups)?;
    }
    // ISC's "updated" signal: a host needs some identifier, and a name of its own.
    if h.hardware.is_none() && h.uid.is_none() {
        return Err(Status::INVALID_ARG);
    }
    if h.name.is_empty() {
        // ISC: the time and the object's address; here the time and a number used once.
        h.name = format!("nh{:08x}{:08x}", w.now as u32, w.handles.fresh());
    }
    if w.cfg.host_by_name(&h.name).is_some() {
        return Err(Status::EXISTS);
    }
    let record = enter(&h, w)?;
    Ok((h.name, vec![record]))
}

/// The statements of a host record as written (its lines indented by eight spaces).
fn record_statements(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("        "))
        .map(str::trim)
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}

/// Change the host `name` with the object values, as ISC does for an UPDATE or an OPEN with
/// `update` (or a `create` that found the host): the name and set identifiers cannot
/// change; the addresses can. Hosts of dhcpd.conf are not changed over OMAPI here (their
/// statements could not be written back in full).
pub(super) fn update(
    name: &str,
    values: &[Value],
    w: &mut World<'_>,
) -> Result<Vec<ObjectRecord>, Status> {
    let id = w.cfg.host_by_name(name).ok_or(Status::NOT_FOUND)?;
    let decl = w.cfg.hosts.get(id).ok_or(Status::NOT_FOUND)?;
    if !decl.dynamic {
        return Err(Status::NOT_IMPLEMENTED);
    }
    let last = w
        .records
        .iter()
        .rev()
        .find(|r| r.name == name && !r.deleted);
    let mut h = NewHost {
        name: decl.name.clone(),
        hardware: decl.hardware.clone(),
        uid: decl.uid.clone(),
        fixed: decl.fixed.clone(),
        group: decl.named_group.clone(),
        statements: last.and_then(|r| record_statements(&r.text)),
    };
    for (n, v) in values {
        set(&mut h, n, v, values, &w.cfg.named_groups)?;
    }
    Ok(vec![enter(&h, w)?])
}

/// Remove the host `name` (OMAPI's `remove`): ISC's `delete_host`.
pub(super) fn remove(name: &str, w: &mut World<'_>) -> Result<Vec<ObjectRecord>, Status> {
    let id = w.cfg.host_by_name(name).ok_or(Status::NOT_FOUND)?;
    let dynamic = w.cfg.hosts.get(id).is_some_and(|h| h.dynamic);
    w.cfg.remove_hosts_named(name);
    let record = ObjectRecord::deleted(name, dynamic);
    w.records.push(record.clone());
    Ok(vec![record])
}
