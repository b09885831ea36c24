//! What OMAPI requests do to the server's objects, as ISC's `omapi_message_process` does it:
//! a pure function of the request, the configuration and the lease table. Handles name the
//! objects a client has seen; `host` and `group` objects can be made, changed and removed
//! (the change comes back as records for dhcpd.leases), `lease` objects read and changed.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::status::Status;
use super::wire::{Op, Value, find, int};
use crate::lease::records::ObjectRecord;
use crate::lease::{Lease, LeaseTable, Time};
use crate::model::Config;

/// An object a handle names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Obj {
    /// An authenticator (a `key`), opened by a connection.
    Authenticator(String),
    /// A host, by name.
    Host(String),
    /// A named group, by name.
    Group(String),
    /// A host object made by an OPEN without keys and never entered (as ISC: it has no
    /// values and is in no table).
    Unentered(u32),
    /// The lease of an address.
    Lease(Ipv4Addr),
    /// A subnet (only named by leases).
    Subnet(usize),
    /// A pool (only named by leases).
    Pool(usize),
    /// The server itself (ISC's `control` object: `state = 2` shuts it down).
    Control,
}

/// At most this many handles are kept; past it, those of objects that are gone are dropped.
const MAX_HANDLES: usize = 65_536;

/// The handle table: one number per object, for the life of the server.
#[derive(Debug, Default)]
pub struct Handles {
    last: u32,
    by_number: HashMap<u32, Obj>,
    by_obj: HashMap<Obj, u32>,
}

impl Handles {
    /// The handle of `o`, given one when it has none.
    pub fn of(&mut self, o: Obj) -> u32 {
        if let Some(h) = self.by_obj.get(&o) {
            return *h;
        }
        self.last = self.last.wrapping_add(1).max(1);
        let h = self.last;
        self.by_number.insert(h, o.clone());
        self.by_obj.insert(o, h);
        h
    }

    /// A number no handle had or will have (for ISC's generated host names).
    pub fn fresh(&mut self) -> u32 {
        self.last = self.last.wrapping_add(1).max(1);
        self.last
    }

    /// The object handle `h` names.
    pub fn get(&self, h: u32) -> Option<&Obj> {
        self.by_number.get(&h)
    }

    /// Forget the handles of hosts that are gone once the table is full.
    fn prune(&mut self, cfg: &Config) {
        if self.by_number.len() <= MAX_HANDLES {
            return;
        }
        self.by_number.retain(|_, o| match o {
            Obj::Host(name) => cfg.host_by_name(name).is_some(),
            Obj::Group(name) => cfg.named_groups.contains_key(name),
            Obj::Unentered(_) => false,
            _ => true,
        });
        let keep = &self.by_number;
        self.by_obj.retain(|_, h| keep.contains_key(h));
    }
}

/// A request that passed the connection's checks (signature, key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The raw op.
    pub op: u32,
    /// The handle it names.
    pub handle: u32,
    /// The message's values.
    pub message: Vec<Value>,
    /// The object's values.
    pub object: Vec<Value>,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// An UPDATE carrying an object's values.
    Update {
        /// The object's handle.
        handle: u32,
        /// Its values, in ISC's order.
        object: Vec<Value>,
    },
    /// A STATUS.
    Status {
        /// The result.
        result: Status,
        /// ISC's message text, when it sends one.
        text: Option<&'static str>,
    },
    /// Nothing is answered and the connection is closed (ISC disconnects then).
    Close,
}

impl Response {
    /// A STATUS with a text.
    pub fn status(result: Status, text: &'static str) -> Response {
        Response::Status {
            result,
            text: Some(text),
        }
    }
}

/// What a request did.
#[derive(Debug)]
pub struct Outcome {
    /// The answer.
    pub response: Response,
    /// Host and group records to make durable before the answer leaves (the configuration has taken
    /// the change already).
    pub records: Vec<ObjectRecord>,
    /// A lease changed by an update (`state`, `ends`), with ISC's log lines for it: the
    /// shell enters it in the table and writes it before the answer leaves.
    pub lease: Option<(Lease, Vec<String>)>,
    /// The `control` object was set to `state = 2`: the server stops once it has answered.
    pub shutdown: bool,
}

impl From<Response> for Outcome {
    fn from(response: Response) -> Outcome {
        Outcome {
            response,
            records: Vec::new(),
            lease: None,
            shutdown: false,
        }
    }
}

/// The state OMAPI requests work on.
pub struct World<'a> {
    /// The live configuration (hosts are entered and removed in it).
    pub cfg: &'a mut Config,
    /// The lease table.
    pub table: &'a LeaseTable,
    /// The handles.
    pub handles: &'a mut Handles,
    /// Every host and group record so far (read at start, then made), in order: changes of a host
    /// start from its last record.
    pub records: &'a mut Vec<ObjectRecord>,
    /// The time now.
    pub now: Time,
    /// A lease this request changed (not in `table` yet), with its log lines.
    pub changed_lease: Option<(Lease, Vec<String>)>,
    /// This request asked the server to shut down.
    pub shutdown: bool,
}

/// An OMAPI boolean or integer flag (4 bytes; absent: false).
fn flag(list: &[Value], name: &str) -> Result<bool, ()> {
    match find(list, name) {
        None => Ok(false),
        Some(v) => int(v).map(|n| n != 0).ok_or(()),
    }
}

/// Carry out one request.
pub fn process(req: &Request, w: &mut World<'_>) -> Outcome {
    w.handles.prune(w.cfg);
    match Op::from_code(req.op) {
        Some(Op::Open) => open(req, w),
        Some(Op::Refresh) => match w.handles.get(req.handle).cloned() {
            Some(o) => values_of(&o, req.handle, w).into(),
            None => Response::status(Status::NOT_FOUND, "no matching handle").into(),
        },
        Some(Op::Update) => update(req, w),
        Some(Op::Notify) => {
            Response::status(Status::NOT_IMPLEMENTED, "notify not implemented yet").into()
        }
        Some(Op::Delete) => delete(req, w),
        // A STATUS that answers nothing of ours, or an unknown op: ISC drops the connection.
        Some(Op::Status) | None => Response::Close.into(),
    }
}

/// The object types this server looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host,
    Group,
    Lease,
    Control,
}

fn open(req: &Request, w: &mut World<'_>) -> Outcome {
    let Ok(create) = flag(&req.message, "create") else {
        return Response::status(Status::INVALID_ARG, "invalid create flag value").into();
    };
    let Ok(update) = flag(&req.message, "update") else {
        return Response::status(Status::INVALID_ARG, "invalid update flag value").into();
    };
    let Ok(exclusive) = flag(&req.message, "exclusive") else {
        return Response::status(Status::INVALID_ARG, "invalid exclusive flag value").into();
    };
    let kind = match find(&req.message, "type") {
        Some(b"host") => Some(Kind::Host),
        Some(b"group") => Some(Kind::Group),
        Some(b"lease") => Some(Kind::Lease),
        Some(b"control") => Some(Kind::Control),
        // No failover peer is ever configured here: ISC, without one, finds none.
        Some(b"failover-state") => {
            return Response::status(Status::NOT_FOUND, "no object matches specification").into();
        }
        // Types ISC knows that this server does not serve over OMAPI.
        Some(
            b"class" | b"subclass" | b"pool" | b"subnet" | b"shared-network" | b"failover-link"
            | b"failover-listener",
        ) => {
            return Response::status(Status::NOT_IMPLEMENTED, "unsearchable object type").into();
        }
        _ => None,
    };
    let Some(kind) = kind else {
        if create {
            return Response::status(Status::INVALID_ARG, "type required on create").into();
        }
        return match w.handles.get(req.handle).cloned() {
            Some(o) => values_of(&o, req.handle, w).into(),
            None => Response::status(Status::NOT_FOUND, "no matching handle").into(),
        };
    };
    let found = match kind {
        Kind::Host => super::host::lookup(&req.object, w).map(Obj::Host),
        Kind::Group => super::group::lookup(&req.object, w).map(Obj::Group),
        Kind::Lease => super::lease::lookup(&req.object, w).map(Obj::Lease),
        Kind::Control => Ok(Obj::Control),
    };
    let found = match found {
        Ok(o) => Some(o),
        Err(s) if s == Status::NOT_FOUND || s == Status::NO_KEYS => {
            if s == Status::NOT_FOUND && !create {
                return Response::status(Status::NOT_FOUND, "no object matches specification")
                    .into();
            }
            None
        }
        Err(s) => return Response::status(s, "object lookup failed").into(),
    };
    if found.is_some() && create && exclusive {
        return Response::status(Status::EXISTS, "specified object already exists").into();
    }
    let obj = match (found, kind) {
        (Some(o), _) => o,
        (None, Kind::Lease | Kind::Control) => {
            return Response::status(Status::NOT_IMPLEMENTED, "can't create new object").into();
        }
        (None, Kind::Host) if !(create || update) => {
            // ISC makes an empty host object that is never entered.
            let n = w.handles.fresh();
            let h = w.handles.of(Obj::Unentered(n));
            return Response::Update {
                handle: h,
                object: Vec::new(),
            }
            .into();
        }
        (None, Kind::Host | Kind::Group) => {
            let made = match kind {
                Kind::Group => {
                    super::group::create(&req.object, w).map(|(n, r)| (Obj::Group(n), r))
                }
                _ => super::host::create(&req.object, w).map(|(n, r)| (Obj::Host(n), r)),
            };
            return match made {
                Ok((obj, records)) => {
                    let h = w.handles.of(obj.clone());
                    Outcome {
                        response: values_of(&obj, h, w),
                        records,
                        lease: None,
                        shutdown: false,
                    }
                }
                Err(s) => Response::status(s, "can't update object").into(),
            };
        }
    };
    let mut records = Vec::new();
    if create || update {
        match change(&obj, &req.object, w) {
            Ok(r) => records = r,
            Err(s) => return Response::status(s, "can't update object").into(),
        }
    }
    let h = w.handles.of(obj.clone());
    Outcome {
        response: values_of(&obj, h, w),
        records,
        lease: None,
        shutdown: false,
    }
}

/// Apply `values` to an existing object.
fn change(o: &Obj, values: &[Value], w: &mut World<'_>) -> Result<Vec<ObjectRecord>, Status> {
    match o {
        Obj::Host(name) => super::host::update(name, values, w),
        Obj::Group(name) => super::group::update(name, values, w).map(|()| Vec::new()),
        Obj::Lease(ip) => super::lease::update(*ip, values, w),
        Obj::Control => {
            // ISC's server states: 2 is shutdown; the others change nothing.
            if let Some(v) = find(values, "state") {
                let state = int(v).ok_or(Status::INVALID_ARG)?;
                w.shutdown |= state == 2;
            }
            Ok(Vec::new())
        }
        _ => Err(Status::NOT_IMPLEMENTED),
    }
}

fn update(req: &Request, w: &mut World<'_>) -> Outcome {
    let Some(o) = w.handles.get(req.handle).cloned() else {
        return Response::status(Status::NOT_FOUND, "no matching handle").into();
    };
    if matches!(o, Obj::Authenticator(_)) {
        return Response::status(Status::SUCCESS, "cannot update authenticator").into();
    }
    match change(&o, &req.object, w) {
        // ISC goes down without answering: the client sees its connection reset.
        Ok(_) if w.shutdown => Response::Close.into(),
        Ok(records) => Outcome {
            response: Response::Status {
                result: Status::SUCCESS,
                text: None,
            },
            records,
            lease: None,
            shutdown: false,
        },
        Err(s) => Response::status(s, "can't update object").into(),
    }
}

fn delete(req: &Request, w: &mut World<'_>) -> Outcome {
    let Some(o) = w.handles.get(req.handle).cloned() else {
        return Response::status(Status::NOT_FOUND, "no matching handle").into();
    };
    let removed = match &o {
        Obj::Host(name) => Some(super::host::remove(name, w)),
        Obj::Group(name) => Some(super::group::remove(name, w)),
        _ => None,
    };
    match (o, removed) {
        (_, Some(removed)) => match removed {
            Ok(records) => Outcome {
                response: Response::Status {
                    result: Status::SUCCESS,
                    text: None,
                },
                records,
                lease: None,
                shutdown: false,
            },
            Err(s) => Response::Status {
                result: s,
                text: None,
            }
            .into(),
        },
        (Obj::Unentered(_), None) => Response::Status {
            result: Status::SUCCESS,
            text: None,
        }
        .into(),
        _ => Response::status(Status::NOT_IMPLEMENTED, "no remove method for object").into(),
    }
}

/// An UPDATE with the current values of `o`.
fn values_of(o: &Obj, handle: u32, w: &mut World<'_>) -> Response {
    let object = match o {
        Obj::Host(name) => match w.cfg.host_by_name(name) {
            Some(id) => super::host::values(w.cfg, id),
            // The handle of a host deleted since.
            None => Vec::new(),
        },
        Obj::Group(name) => super::group::values(name, w),
        Obj::Lease(ip) => super::lease::values(*ip, w),
        Obj::Authenticator(name) => vec![(b"name".to_vec(), name.as_bytes().to_vec())],
        Obj::Control => vec![(b"state".to_vec(), vec![0, 0, 0, 0])],
        Obj::Unentered(_) | Obj::Subnet(_) | Obj::Pool(_) => Vec::new(),
    };
    Response::Update { handle, object }
}
