//! OMAPI `lease` objects, as ISC's `dhcp_lease_lookup` and `dhcp_lease_stuff_values` treat
//! them: found by handle, address (every address of a range is a lease, a free one when
//! nobody had it), client identifier or hardware address; read with the fields ISC sends;
//! changed in `state` and `ends` (other values are ignored, as ISC ignores them; a new end
//! moves the lease to its next binding state, as ISC's re-commit does), with ISC's
//! log lines (`lease … state changed from active to released`, `lease … end changed from …
//! to …`), as ISC 4.4.3-P1 does it on this machine.

use std::net::Ipv4Addr;

use super::objects::{Obj, World};
use super::status::Status;
use super::wire::{Value, find, int};
use crate::lease::{BindingState, BindingValue, Hardware, Lease};

/// The lease a key found, merged into what earlier keys found.
fn merge(found: &mut Option<Ipv4Addr>, ip: Option<Ipv4Addr>) -> Result<(), Status> {
    match (*found, ip) {
        (Some(a), b) if Some(a) != b => Err(Status::KEY_CONFLICT),
        (_, None) => Err(Status::NOT_FOUND),
        (None, Some(b)) => {
            *found = Some(b);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The one lease whose field matches (more than one: MULTIPLE, as ISC's `n_hw`/`n_uid`).
fn only<'a>(mut leases: impl Iterator<Item = &'a Lease>) -> Result<Option<Ipv4Addr>, Status> {
    match (leases.next(), leases.next()) {
        (Some(_), Some(_)) => Err(Status::MULTIPLE),
        (l, _) => Ok(l.map(|l| l.ip)),
    }
}

/// The lease the object values name.
pub(super) fn lookup(values: &[Value], w: &mut World<'_>) -> Result<Ipv4Addr, Status> {
    let mut found = None;
    if let Some(v) = find(values, "handle") {
        let h = int(v).ok_or(Status::INVALID_ARG)?;
        match w.handles.get(h) {
            Some(Obj::Lease(ip)) => found = Some(*ip),
            Some(_) => return Err(Status::INVALID_ARG),
            None => return Err(Status::NOT_FOUND),
        }
    }
    if let Some(v) = find(values, "ip-address") {
        let ip = <[u8; 4]>::try_from(v)
            .ok()
            .map(Ipv4Addr::from)
            .filter(|ip| w.table.get(*ip).is_some() || w.cfg.pool_of(*ip).is_some());
        merge(&mut found, ip)?;
    }
    if let Some(uid) = find(values, "dhcp-client-identifier") {
        let ip = only(w.table.iter().filter(|l| l.uid.as_deref() == Some(uid)))?;
        merge(&mut found, ip)?;
    }
    if let Some(addr) = find(values, "hardware-address") {
        let htype = match find(values, "hardware-type") {
            None => 1,
            Some([0, 0, 0, t]) => *t,
            Some(_) => return Err(Status::INVALID_ARG),
        };
        // An address too long for any lease matches none.
        let ip = match Hardware::new(htype, addr) {
            Some(hw) => only(w.table.iter().filter(|l| l.has_hardware(&hw)))?,
            None => None,
        };
        merge(&mut found, ip)?;
    }
    found.ok_or(Status::NO_KEYS)
}

/// ISC's numbers for binding states (`FTS_FREE` = 1 …).
fn state_number(s: BindingState) -> u32 {
    match s {
        BindingState::Free => 1,
        BindingState::Active => 2,
        BindingState::Expired => 3,
        BindingState::Released => 4,
        BindingState::Abandoned => 5,
        BindingState::Reset => 6,
        BindingState::Backup => 7,
    }
}

fn u32_value(name: &str, v: u32) -> Value {
    (name.as_bytes().to_vec(), v.to_be_bytes().to_vec())
}

/// The values ISC sends for a lease, in its order: state, ip-address,
/// dhcp-client-identifier, client-hostname, subnet, pool, hardware-address and -type,
/// ends, starts, tstp, tsfp, atsfp, cltt, flags.
pub(super) fn values(ip: Ipv4Addr, w: &mut World<'_>) -> Vec<Value> {
    let free = Lease {
        ip,
        ..Lease::default()
    };
    let l = current(ip, w).unwrap_or(free);
    let mut out = vec![
        u32_value("state", state_number(l.state)),
        (b"ip-address".to_vec(), ip.octets().to_vec()),
    ];
    if let Some(uid) = &l.uid {
        out.push((b"dhcp-client-identifier".to_vec(), uid.to_vec()));
    }
    if let Some(name) = &l.client_hostname {
        out.push((b"client-hostname".to_vec(), name.to_vec()));
    }
    let subnet = w.cfg.find_subnet(ip).map(|s| w.handles.of(Obj::Subnet(s)));
    let pool = w.cfg.pool_of(ip).map(|(p, _)| w.handles.of(Obj::Pool(p)));
    out.push(u32_value("subnet", subnet.unwrap_or(0)));
    out.push(u32_value("pool", pool.unwrap_or(0)));
    if let Some(hw) = &l.hardware {
        out.push((b"hardware-address".to_vec(), hw.addr().to_vec()));
        out.push(u32_value("hardware-type", u32::from(hw.htype)));
    }
    for (name, t) in [
        ("ends", l.ends),
        ("starts", l.starts),
        ("tstp", l.tstp),
        ("tsfp", l.tsfp()),
        ("atsfp", l.atsfp()),
        ("cltt", l.cltt),
    ] {
        out.push(u32_value(name, t as u32));
    }
    out.push((b"flags".to_vec(), vec![0]));
    // The lease's variables (`set vendor-class-identifier = …` and the like), as ISC's
    // `binding_scope_stuff_values` sends them: data as is, numbers and booleans as 4 bytes.
    for (name, value) in l.bindings() {
        let bytes = match value {
            BindingValue::Data(d) => d.clone(),
            BindingValue::Number(n) => (*n as u32).to_be_bytes().to_vec(),
            BindingValue::Bool(b) => u32::from(*b).to_be_bytes().to_vec(),
        };
        out.push((name.as_bytes().to_vec(), bytes));
    }
    out
}

/// The lease at `ip` as this request sees it: changed by it, else in the table.
fn current(ip: Ipv4Addr, w: &World<'_>) -> Option<Lease> {
    match &w.changed_lease {
        Some((l, _)) if l.ip == ip => Some(l.clone()),
        _ => w.table.get(ip).cloned(),
    }
}

/// ISC's binding state for its number (the inverse of [`state_number`]).
fn state_of(n: u32) -> Option<BindingState> {
    [
        BindingState::Free,
        BindingState::Active,
        BindingState::Expired,
        BindingState::Released,
        BindingState::Abandoned,
        BindingState::Reset,
        BindingState::Backup,
    ]
    .into_iter()
    .find(|s| state_number(*s) == n)
}

/// An update of the lease at `ip`: `state` (1 to 7) and `ends` (seconds since the epoch)
/// are taken, in the order sent; a bad value refuses the whole update. The changed lease
/// waits in `w.changed_lease` for the shell to write it. Host and group records never change.
pub(super) fn update(
    ip: Ipv4Addr,
    values: &[Value],
    w: &mut World<'_>,
) -> Result<Vec<crate::lease::records::ObjectRecord>, Status> {
    let old = current(ip, w).unwrap_or(Lease {
        ip,
        ..Lease::default()
    });
    let mut new = old.clone();
    let mut lines = Vec::new();
    for (name, v) in values {
        match name.as_slice() {
            b"state" => {
                let state = int(v).and_then(state_of).ok_or(Status::INVALID_ARG)?;
                if state != new.state {
                    lines.push(format!(
                        "lease {ip} state changed from {} to {}",
                        new.state.name(),
                        state.name()
                    ));
                    new.state = state;
                    new.next_state = if state == BindingState::Active {
                        BindingState::Free
                    } else {
                        state
                    };
                }
            }
            b"ends" => {
                let ends = crate::lease::Time::from(int(v).ok_or(Status::INVALID_ARG)?);
                if ends != new.ends {
                    lines.push(format!(
                        "lease {ip} end changed from {} to {ends}",
                        new.ends
                    ));
                    // ISC re-commits the lease with it: it takes its next binding state
                    // (an active lease becomes free) and that state's time is the new end.
                    new.ends = ends;
                    new.state = new.next_state;
                    new.tstp = ends;
                }
            }
            _ => {}
        }
    }
    if new != old {
        w.changed_lease = Some((new, lines));
    }
    Ok(Vec::new())
}
