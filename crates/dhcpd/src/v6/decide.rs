//! The pure DHCPv6 core: a client message, the configuration, the bindings, the addresses of
//! the receiving link and the time in; a reply (or none, with the reason) and binding
//! changes out. No I/O.
//!
//! SOLICIT gets an ADVERTISE; REQUEST, RENEW and REBIND a REPLY that binds the address (a
//! RENEW or REBIND for an IA without a binding is answered as a REQUEST, so a client whose
//! binding was lost gets its address again); CONFIRM a REPLY with Success or NotOnLink;
//! RELEASE and DECLINE a REPLY with Success after freeing or abandoning the address;
//! INFORMATION-REQUEST a REPLY with the options only. Messages naming another server (or none
//! where one is required) are dropped, as RFC 8415 §16 says.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use super::conf::{Config6, Host6, Stmt, Subnet6};
use super::leases::{self, Binding, State, Table};
use super::wire::{self, IaAddr, IaNa, Message, Opt, code, kind, status};
use crate::lease::Time;

/// What the server does with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub reply: Option<Message>,
    /// Bindings to write (key, new state), in order.
    pub changes: Vec<(Vec<u8>, Binding)>,
    /// One line for the log: what was done and why.
    pub note: String,
}

fn drop(note: impl Into<String>) -> Decision {
    Decision {
        reply: None,
        changes: Vec::new(),
        note: note.into(),
    }
}

/// Decides the answer to `msg` received on a link with addresses `link`.
pub fn decide(
    conf: &Config6,
    server_duid: &[u8],
    table: &Table,
    msg: &Message,
    link: &[Ipv6Addr],
    now: Time,
) -> Decision {
    let client_id = msg.get(code::CLIENT_ID);
    let server_id = msg.get(code::SERVER_ID);
    let ours = server_id == Some(server_duid);
    let needs_ours = matches!(
        msg.kind,
        kind::REQUEST | kind::RENEW | kind::RELEASE | kind::DECLINE
    );
    match msg.kind {
        kind::SOLICIT | kind::CONFIRM | kind::REBIND if server_id.is_some() => {
            return drop("carries a server identifier it must not have");
        }
        _ if needs_ours && !ours => return drop("for another server"),
        kind::INFORMATION_REQUEST if server_id.is_some() && !ours => {
            return drop("for another server");
        }
        kind::SOLICIT
        | kind::REQUEST
        | kind::RENEW
        | kind::REBIND
        | kind::CONFIRM
        | kind::RELEASE
        | kind::DECLINE
        | kind::INFORMATION_REQUEST => {}
        k => return drop(format!("message type {k} is not for a server")),
    }
    let Some(client_id) = client_id.filter(|c| !c.is_empty()) else {
        if msg.kind != kind::INFORMATION_REQUEST {
            return drop("no client identifier");
        }
        return info_reply(conf, server_duid, msg, link, None);
    };
    let Some(subnet) = conf
        .subnets
        .iter()
        .find(|s| link.iter().any(|a| s.contains(*a)))
    else {
        return drop("no subnet6 declaration for the link's addresses");
    };
    let host = conf.hosts.iter().find(|h| h.client_id == client_id);
    let ias = match msg.ia_nas() {
        Ok(ias) => ias,
        Err(e) => return drop(format!("malformed IA_NA: {e}")),
    };
    let mut reply = Message {
        kind: if msg.kind == kind::SOLICIT {
            kind::ADVERTISE
        } else {
            kind::REPLY
        },
        xid: msg.xid,
        options: vec![
            Opt {
                code: code::SERVER_ID,
                data: server_duid.to_vec(),
            },
            Opt {
                code: code::CLIENT_ID,
                data: client_id.to_vec(),
            },
        ],
    };
    let mut changes = Vec::new();
    let note = match msg.kind {
        kind::CONFIRM => {
            let mut addrs = Vec::new();
            for ia in &ias {
                match ia.addrs() {
                    Ok(a) => addrs.extend(a.into_iter().map(|a| a.addr)),
                    Err(e) => return drop(format!("malformed IAADDR: {e}")),
                }
            }
            if addrs.is_empty() {
                return drop("CONFIRM without addresses");
            }
            let on_link = addrs.iter().all(|a| subnet.contains(*a));
            reply.options.push(if on_link {
                wire::status_opt(status::SUCCESS, "all addresses on link")
            } else {
                wire::status_opt(status::NOT_ON_LINK, "not on link")
            });
            format!(
                "confirm: {}",
                if on_link { "on link" } else { "not on link" }
            )
        }
        kind::RELEASE | kind::DECLINE => {
            let to = if msg.kind == kind::RELEASE {
                State::Released
            } else {
                State::Abandoned
            };
            let mut done = Vec::new();
            for ia in &ias {
                let key = leases::key(ia.iaid, client_id);
                let Some(b) = table.ias.get(&key) else {
                    continue;
                };
                let named = ia.addrs().unwrap_or_default();
                if named.iter().any(|a| a.addr == b.addr) {
                    done.push(b.addr.to_string());
                    changes.push((
                        key,
                        Binding {
                            state: to,
                            cltt: now,
                            ends: if to == State::Released { now } else { b.ends },
                            ..b.clone()
                        },
                    ));
                }
            }
            reply
                .options
                .push(wire::status_opt(status::SUCCESS, "done"));
            format!(
                "{} {}",
                if to == State::Released {
                    "released"
                } else {
                    "declined"
                },
                done.join(",")
            )
        }
        kind::INFORMATION_REQUEST => {
            return info_reply(conf, server_duid, msg, link, Some(client_id));
        }
        _ => {
            let binds = msg.kind != kind::SOLICIT;
            let mut given = Vec::new();
            // Addresses handed to earlier IAs of this message are taken.
            let mut taken: Vec<Ipv6Addr> = Vec::new();
            for ia in &ias {
                let key = leases::key(ia.iaid, client_id);
                match pick(conf, subnet, host, table, &key, &taken, now) {
                    Some(addr) => {
                        taken.push(addr);
                        let valid = conf.default_lease_time;
                        let preferred = conf.preferred_lifetime.min(valid);
                        let mut opts = vec![
                            IaAddr {
                                addr,
                                preferred,
                                valid,
                                options: Vec::new(),
                            }
                            .to_opt(),
                        ];
                        // Addresses the client asked about that it does not get: lifetimes 0.
                        for old in ia.addrs().unwrap_or_default() {
                            if old.addr != addr && msg.kind != kind::SOLICIT {
                                opts.push(
                                    IaAddr {
                                        addr: old.addr,
                                        preferred: 0,
                                        valid: 0,
                                        options: Vec::new(),
                                    }
                                    .to_opt(),
                                );
                            }
                        }
                        reply.options.push(
                            IaNa {
                                iaid: ia.iaid,
                                t1: preferred / 2,
                                t2: preferred / 5 * 4,
                                options: opts,
                            }
                            .to_opt(),
                        );
                        given.push(addr.to_string());
                        if binds {
                            changes.push((
                                key,
                                Binding {
                                    addr,
                                    state: State::Active,
                                    cltt: now,
                                    preferred,
                                    valid,
                                    ends: now + Time::from(valid),
                                },
                            ));
                        }
                    }
                    None => reply.options.push(
                        IaNa {
                            iaid: ia.iaid,
                            t1: 0,
                            t2: 0,
                            options: vec![wire::status_opt(
                                status::NO_ADDRS_AVAIL,
                                "no addresses available",
                            )],
                        }
                        .to_opt(),
                    ),
                }
            }
            format!(
                "{} {}{}",
                if binds { "bound" } else { "advertised" },
                if given.is_empty() {
                    "no address".to_string()
                } else {
                    given.join(",")
                },
                host.map(|h| format!(" (host {})", h.name))
                    .unwrap_or_default()
            )
        }
    };
    add_options(conf, Some(subnet), host, msg, &mut reply);
    Decision {
        reply: Some(reply),
        changes,
        note,
    }
}

fn info_reply(
    conf: &Config6,
    server_duid: &[u8],
    msg: &Message,
    link: &[Ipv6Addr],
    client_id: Option<&[u8]>,
) -> Decision {
    let subnet = conf
        .subnets
        .iter()
        .find(|s| link.iter().any(|a| s.contains(*a)));
    let host = client_id.and_then(|c| conf.hosts.iter().find(|h| h.client_id == c));
    let mut reply = Message {
        kind: kind::REPLY,
        xid: msg.xid,
        options: vec![Opt {
            code: code::SERVER_ID,
            data: server_duid.to_vec(),
        }],
    };
    if let Some(c) = client_id {
        reply.options.push(Opt {
            code: code::CLIENT_ID,
            data: c.to_vec(),
        });
    }
    add_options(conf, subnet, host, msg, &mut reply);
    Decision {
        reply: Some(reply),
        changes: Vec::new(),
        note: "information".into(),
    }
}

/// The address for IA `key`: the host's fixed address, else the IA's binding, else the
/// first free address of the subnet's ranges.
fn pick(
    conf: &Config6,
    subnet: &Subnet6,
    host: Option<&Host6>,
    table: &Table,
    key: &[u8],
    taken: &[Ipv6Addr],
    now: Time,
) -> Option<Ipv6Addr> {
    if let Some(a) = host.and_then(|h| h.fixed) {
        return (subnet.contains(a) && !taken.contains(&a)).then_some(a);
    }
    let fixed: Vec<Ipv6Addr> = conf.hosts.iter().filter_map(|h| h.fixed).collect();
    let usable = |a: Ipv6Addr| {
        !taken.contains(&a) && !fixed.contains(&a) && table.holder(a, now).is_none_or(|k| k == key)
    };
    if let Some(b) = table.ias.get(key)
        && b.state == State::Active
        && subnet
            .ranges
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&b.addr))
        && usable(b.addr)
    {
        return Some(b.addr);
    }
    // A bounded walk: a /64 range is not searched address by address past this.
    const MAX_WALK: u128 = 1 << 16;
    for (lo, hi) in &subnet.ranges {
        let (lo, hi) = (u128::from(*lo), u128::from(*hi));
        let end = hi.min(lo.saturating_add(MAX_WALK));
        for n in lo..=end {
            let a = Ipv6Addr::from(n);
            if usable(a) {
                return Some(a);
            }
        }
    }
    None
}

/// Runs the statements (global, subnet, classes, host: each later scope wins) and puts the
/// options the client asked for in its Option Request Option into `reply`; echoes an
/// `HTTPClient` vendor class, without which edk2 ignores the boot URL.
fn add_options(
    conf: &Config6,
    subnet: Option<&Subnet6>,
    host: Option<&Host6>,
    msg: &Message,
    reply: &mut Message,
) {
    let mut set = BTreeMap::new();
    run(&conf.stmts, msg, false, &mut set);
    if let Some(s) = subnet {
        run(&s.stmts, msg, false, &mut set);
    }
    run(&conf.stmts, msg, true, &mut set);
    if let Some(h) = host {
        run(&h.stmts, msg, false, &mut set);
    }
    for (code, data) in set {
        if msg.requests(code) || code == code::PREFERENCE {
            reply.options.push(Opt { code, data });
        }
    }
    if let Some(vc) = msg.get(code::VENDOR_CLASS)
        && wire::vendor_class_starts_with(vc, b"HTTPClient")
    {
        reply.options.push(Opt {
            code: code::VENDOR_CLASS,
            data: vc.to_vec(),
        });
    }
}

/// Runs `stmts`: with `classes` only the classes (at the top), else everything but them.
fn run(stmts: &[Stmt], msg: &Message, classes: bool, set: &mut BTreeMap<u16, Vec<u8>>) {
    for s in stmts {
        match s {
            Stmt::Option { code, data } if !classes => {
                set.insert(*code, data.clone());
            }
            Stmt::Option { .. } => {}
            Stmt::If {
                arms,
                otherwise,
                class,
            } if *class == classes => {
                let chosen = arms
                    .iter()
                    .find(|(t, _)| msg.get(t.code) == Some(t.equals.as_slice()))
                    .map_or(otherwise, |(_, b)| b);
                run(chosen, msg, false, set);
            }
            Stmt::If { .. } => {}
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
