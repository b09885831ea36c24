//! The OMAPI core without sockets: a session's signing rules and the answers to Foreman's
//! requests, decoded back from the bytes a client would read.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::objects::{Handles, Request, Response, World, process};
use super::session::{Session, Verdict};
use super::sign::{Algorithm, Key};
use super::status::Status;
use super::wire::{Limits, Message, Op, decode, encode_unsigned, find, int};
use crate::lease::LeaseTable;
use crate::lease::records::ObjectRecord;
use crate::model::{Config, compile, no_dns};

fn key() -> Key {
    Key {
        name: "omapi_key".into(),
        algorithm: Algorithm::Md5,
        secret: b"secretsecret".to_vec(),
    }
}

/// What a client reads: the message of `bytes`, with its signature checked by `key`.
fn read(bytes: &[u8], key: Option<&Key>) -> Message {
    let f = decode(bytes, &Limits::default()).unwrap().unwrap();
    assert_eq!(f.len, bytes.len());
    if let Some(k) = key {
        assert!(k.verify(&bytes[f.signed.clone()], &f.message.signature));
    } else {
        assert!(f.message.signature.is_empty());
    }
    f.message
}

/// A client message, signed by `key` under `authid` when given.
fn send(s: &mut Session, m: Message, key: Option<(&Key, u32)>) -> Verdict {
    let mut m = m;
    let bytes = match key {
        Some((k, authid)) => {
            m.authid = authid;
            let mut b = encode_unsigned(&m, k.algorithm.sig_len());
            let sig = k.sign(&b[4..]);
            b.extend_from_slice(&sig);
            b
        }
        None => encode_unsigned(&m, 0),
    };
    let f = decode(&bytes, &Limits::default()).unwrap().unwrap();
    s.check(&f, &bytes)
}

fn open_authenticator(s: &mut Session, k: &Key) -> u32 {
    let m = Message {
        op: Op::Open.code(),
        id: 1,
        message: vec![(b"type".to_vec(), b"authenticator".to_vec())],
        object: vec![
            (b"name".to_vec(), k.name.as_bytes().to_vec()),
            (b"algorithm".to_vec(), b"hmac-md5.SIG-ALG.REG.INT.".to_vec()),
        ],
        ..Message::default()
    };
    let Verdict::Answer(bytes) = send(s, m, None) else {
        panic!("the authenticator is answered by the session");
    };
    let a = read(&bytes, None);
    assert_eq!(a.op(), Some(Op::Update));
    assert_eq!(a.rid, 1);
    assert_eq!(
        find(&a.object, "algorithm"),
        Some(&b"HMAC-MD5.SIG-ALG.REG.INT."[..])
    );
    assert!(s.authenticated());
    a.handle
}

fn open_host(name: &str) -> Message {
    Message {
        op: Op::Open.code(),
        id: 2,
        message: vec![(b"type".to_vec(), b"host".to_vec())],
        object: vec![(b"name".to_vec(), name.as_bytes().to_vec())],
        ..Message::default()
    }
}

fn status_of(m: &Message) -> u32 {
    assert_eq!(m.op(), Some(Op::Status));
    int(find(&m.message, "result").unwrap()).unwrap()
}

#[test]
fn signed_after_the_authenticator_and_refused_otherwise() {
    let k = key();
    let mut s = Session::new(Some(k.clone()), 100);
    // Before the authenticator: "No authenticator on message", unsigned.
    let Verdict::Answer(b) = send(&mut s, open_host("a"), None) else {
        panic!()
    };
    let m = read(&b, None);
    assert_eq!(status_of(&m), Status::NO_KEYS.0);
    assert_eq!(
        find(&m.message, "message"),
        Some(&b"No authenticator on message"[..])
    );
    let auth = open_authenticator(&mut s, &k);
    // Signed with the key: handed to the objects, and the answer is signed.
    let v = send(&mut s, open_host("a"), Some((&k, auth)));
    let Verdict::Process(req) = v else {
        panic!("{v:?}")
    };
    assert_eq!(req.op, Op::Open.code());
    let b = s
        .answer(Response::status(
            Status::NOT_FOUND,
            "no object matches specification",
        ))
        .unwrap();
    let m = read(&b, Some(&k));
    assert_eq!(
        (m.authid, m.rid, status_of(&m)),
        (auth, 2, Status::NOT_FOUND.0)
    );
    // Signed with another secret: an unsigned "invalid TSIG key", as ISC.
    let wrong = Key {
        secret: b"wrongkey".to_vec(),
        ..k.clone()
    };
    let Verdict::Answer(b) = send(&mut s, open_host("a"), Some((&wrong, auth))) else {
        panic!()
    };
    assert_eq!(status_of(&read(&b, None)), Status::INVALID_KEY.0);
    // Under a handle that is not its authenticator's.
    let Verdict::Answer(b) = send(&mut s, open_host("a"), Some((&k, auth + 1))) else {
        panic!()
    };
    assert_eq!(status_of(&read(&b, None)), Status::KEY_UNKNOWN.0);
    // An authenticator naming another key is not found.
    let mut s = Session::new(Some(k.clone()), 1);
    let other = Key {
        name: "other".into(),
        ..k.clone()
    };
    let m = Message {
        op: Op::Open.code(),
        message: vec![(b"type".to_vec(), b"authenticator".to_vec())],
        object: vec![(b"name".to_vec(), other.name.as_bytes().to_vec())],
        ..Message::default()
    };
    let Verdict::Answer(b) = send(&mut s, m, None) else {
        panic!()
    };
    assert_eq!(status_of(&read(&b, None)), Status::NOT_FOUND.0);
    assert!(!s.authenticated());
}

#[test]
fn without_a_key_requests_go_unsigned_and_answers_too() {
    let mut s = Session::new(None, 7);
    let Verdict::Process(_) = send(&mut s, open_host("a"), None) else {
        panic!()
    };
    let b = s
        .answer(Response::Update {
            handle: 3,
            object: vec![],
        })
        .unwrap();
    let m = read(&b, None);
    assert_eq!((m.op(), m.handle, m.id, m.rid), (Some(Op::Update), 3, 7, 2));
    // A message answering one this server never sent closes the connection.
    let mut stray = open_host("a");
    stray.rid = 9;
    assert_eq!(send(&mut s, stray, None), Verdict::Close);
}

const CONF: &str = "
subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.20; }
host conf { hardware ethernet 52:54:00:00:00:09; fixed-address 10.0.0.9; }
";

fn config() -> Config {
    let loaded = crate::conf::parse_str(
        "t.conf",
        CONF.as_bytes(),
        crate::conf::ParseOptions::default(),
        &|_| Err(std::io::ErrorKind::NotFound.into()),
    );
    compile(&loaded.config, &no_dns).unwrap().0
}

struct Server {
    cfg: Config,
    table: LeaseTable,
    handles: Handles,
    records: Vec<ObjectRecord>,
}

impl Server {
    fn new() -> Server {
        Server {
            cfg: config(),
            table: LeaseTable::new(),
            handles: Handles::default(),
            records: Vec::new(),
        }
    }

    fn ask(
        &mut self,
        op: Op,
        handle: u32,
        message: &[(&str, &[u8])],
        object: &[(&str, &[u8])],
    ) -> (Response, Vec<ObjectRecord>) {
        let list = |l: &[(&str, &[u8])]| {
            l.iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
                .collect()
        };
        let req = Request {
            op: op.code(),
            handle,
            message: list(message),
            object: list(object),
        };
        let mut w = World {
            cfg: &mut self.cfg,
            table: &self.table,
            handles: &mut self.handles,
            records: &mut self.records,
            now: 1_700_000_000,
            changed_lease: None,
            shutdown: false,
        };
        let out = process(&req, &mut w);
        (out.response, out.records)
    }
}

const ONE: &[u8] = &[0, 0, 0, 1];
const MAC: &[u8] = &[0x52, 0x54, 0, 0, 0, 1];

fn create(s: &mut Server, name: &str, mac: &[u8], ip: [u8; 4]) -> (Response, Vec<ObjectRecord>) {
    s.ask(
        Op::Open,
        0,
        &[("type", b"host"), ("create", ONE), ("exclusive", ONE)],
        &[
            ("name", name.as_bytes()),
            ("ip-address", &ip),
            ("hardware-address", mac),
            ("hardware-type", ONE),
            ("statements", b"filename = \"pxelinux.0\";"),
        ],
    )
}

fn status(r: &Response) -> Status {
    match r {
        Response::Status { result, .. } => *result,
        other => panic!("not a status: {other:?}"),
    }
}

#[test]
fn foreman_adds_looks_up_and_deletes_a_host() {
    let mut s = Server::new();
    let (r, records) = create(&mut s, "web1", MAC, [10, 0, 0, 77]);
    let Response::Update { handle, object } = r else {
        panic!("{r:?}")
    };
    assert_eq!(find(&object, "ip-address"), Some(&[10, 0, 0, 77][..]));
    assert_eq!(find(&object, "hardware-type"), Some(ONE));
    assert_eq!(records.len(), 1);
    assert!(records[0].text.contains("filename = \"pxelinux.0\";"));
    // Entered at once: the client's hardware address finds it, with its fixed address.
    let hw = crate::lease::Hardware::ethernet([0x52, 0x54, 0, 0, 0, 1]);
    let id = *s.cfg.hosts_by_hardware(&hw).first().unwrap();
    assert_eq!(
        s.cfg.hosts[id].fixed,
        vec![std::net::Ipv4Addr::new(10, 0, 0, 77)]
    );
    // The same name again, another MAC under a new name, and a lookup.
    assert_eq!(
        status(&create(&mut s, "web1", &[1, 2, 3, 4, 5, 6], [10, 0, 0, 78]).0),
        Status::EXISTS
    );
    assert_eq!(
        status(&create(&mut s, "web2", MAC, [10, 0, 0, 79]).0),
        Status::KEY_CONFLICT
    );
    let (r, _) = s.ask(
        Op::Open,
        0,
        &[("type", b"host")],
        &[("hardware-address", MAC)],
    );
    let Response::Update { handle: h2, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(h2, handle);
    // Removed by its handle: gone from lookups and from the packet path, and recorded.
    let (r, records) = s.ask(Op::Delete, handle, &[], &[]);
    assert_eq!(status(&r), Status::SUCCESS);
    assert_eq!(records, vec![ObjectRecord::deleted("web1", true)]);
    assert!(s.cfg.hosts_by_hardware(&hw).is_empty());
    let (r, _) = s.ask(
        Op::Open,
        0,
        &[("type", b"host")],
        &[("hardware-address", MAC)],
    );
    assert_eq!(status(&r), Status::NOT_FOUND);
    // A handle nobody was given.
    assert_eq!(
        status(&s.ask(Op::Delete, 999, &[], &[]).0),
        Status::NOT_FOUND
    );
    // A host of dhcpd.conf can be removed too, and its deletion is not `dynamic`.
    let (r, _) = s.ask(Op::Open, 0, &[("type", b"host")], &[("name", b"conf")]);
    let Response::Update { handle, .. } = r else {
        panic!("{r:?}")
    };
    let (_, records) = s.ask(Op::Delete, handle, &[], &[]);
    assert_eq!(records, vec![ObjectRecord::deleted("conf", false)]);
}

#[test]
fn a_host_needs_an_identifier_and_statements_that_parse() {
    let mut s = Server::new();
    let (r, _) = s.ask(
        Op::Open,
        0,
        &[("type", b"host"), ("create", ONE)],
        &[("name", b"x")],
    );
    assert_eq!(status(&r), Status::INVALID_ARG);
    let (r, records) = s.ask(
        Op::Open,
        0,
        &[("type", b"host"), ("create", ONE)],
        &[
            ("hardware-address", MAC),
            ("statements", b"filename \"x\" junk;"),
        ],
    );
    assert_eq!(status(&r), Status::BAD_PARSE);
    assert!(records.is_empty());
    assert!(
        s.cfg
            .hosts_by_hardware(&crate::lease::Hardware::ethernet([0x52, 0x54, 0, 0, 0, 1]))
            .is_empty()
    );
}

#[test]
fn leases_are_found_by_address_and_not_made() {
    let mut s = Server::new();
    let (r, _) = s.ask(
        Op::Open,
        0,
        &[("type", b"lease")],
        &[("ip-address", &[10, 0, 0, 12])],
    );
    let Response::Update { object, .. } = r else {
        panic!("{r:?}")
    };
    let names: Vec<String> = object
        .iter()
        .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "state",
            "ip-address",
            "subnet",
            "pool",
            "ends",
            "starts",
            "tstp",
            "tsfp",
            "atsfp",
            "cltt",
            "flags"
        ]
    );
    assert_eq!(find(&object, "state"), Some(ONE));
    let (r, _) = s.ask(
        Op::Open,
        0,
        &[("type", b"lease")],
        &[("ip-address", &[10, 0, 1, 12])],
    );
    assert_eq!(status(&r), Status::NOT_FOUND);
    let (r, _) = s.ask(
        Op::Open,
        0,
        &[("type", b"lease"), ("create", ONE)],
        &[("hardware-address", MAC)],
    );
    assert_eq!(status(&r), Status::NOT_IMPLEMENTED);
    let (r, _) = s.ask(Op::Open, 0, &[("type", b"class")], &[("name", b"g")]);
    assert_eq!(status(&r), Status::NOT_IMPLEMENTED);
}

#[test]
fn hosts_made_and_deleted_again_leave_no_records_behind() {
    let mut state = super::state::OmapiState::new(Vec::new());
    let mut cfg = config();
    let table = LeaseTable::new();
    let req = |op: Op, handle: u32, message: Vec<(&str, &[u8])>, object: Vec<(&str, &[u8])>| {
        let list = |l: Vec<(&str, &[u8])>| {
            l.into_iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
                .collect()
        };
        Request {
            op: op.code(),
            handle,
            message: list(message),
            object: list(object),
        }
    };
    for _ in 0..500 {
        let made = state.handle(
            &mut cfg,
            &table,
            &req(
                Op::Open,
                0,
                vec![("type", b"host"), ("create", ONE)],
                vec![("name", b"cycle"), ("hardware-address", MAC)],
            ),
            0,
        );
        let Response::Update { handle, .. } = made.response else {
            panic!("{:?}", made.response)
        };
        let gone = state.handle(
            &mut cfg,
            &table,
            &req(Op::Delete, handle, vec![], vec![]),
            0,
        );
        assert_eq!(status(&gone.response), Status::SUCCESS);
    }
    assert!(state.records().len() <= 130, "{}", state.records().len());
    // What is kept still replays to the same end: no host named `cycle`.
    let mut fresh = config();
    assert!(state.replay(&mut fresh).is_empty());
    assert_eq!(fresh.host_by_name("cycle"), None);
}

fn make_group(s: &mut Server, name: &str) -> u32 {
    let (r, records) = s.ask(
        Op::Open,
        0,
        &[("type", b"group"), ("create", ONE), ("exclusive", ONE)],
        &[
            ("name", name.as_bytes()),
            ("statements", b"filename \"g.0\";"),
        ],
    );
    let Response::Update { handle, object } = r else {
        panic!("{r:?}")
    };
    assert_eq!(object, vec![(b"name".to_vec(), name.as_bytes().to_vec())]);
    assert_eq!(records.len(), 1);
    handle
}

#[test]
fn groups_are_found_by_handle_and_name_and_hold_the_hosts_put_in_them() {
    let mut s = Server::new();
    let g1 = make_group(&mut s, "g1");
    make_group(&mut s, "g2");
    // A handle and a name that name different groups are a key conflict, as in ISC.
    let handle = g1.to_be_bytes();
    let (r, _) = s.ask(
        Op::Open,
        0,
        &[("type", b"group")],
        &[("handle", &handle), ("name", b"g2")],
    );
    assert_eq!(status(&r), Status::KEY_CONFLICT);
    // A host made in g1 has g1's scope as its parent.
    let (r, records) = s.ask(
        Op::Open,
        0,
        &[("type", b"host"), ("create", ONE)],
        &[("name", b"h1"), ("hardware-address", MAC), ("group", b"g1")],
    );
    assert!(matches!(r, Response::Update { .. }), "{r:?}");
    assert!(records[0].text.contains("\n  group \"g1\";"), "{records:?}");
    let h1 = s.cfg.host_by_name("h1").unwrap();
    let parent = s.cfg.groups[s.cfg.hosts[h1].group].parent;
    assert_eq!(parent, Some(s.cfg.named_groups["g1"].id));
    // Removed: its handle finds nothing, and hosts can no longer name it.
    let (r, records) = s.ask(Op::Delete, g1, &[], &[]);
    assert_eq!(status(&r), Status::SUCCESS);
    assert!(records[0].deleted);
    let (r, _) = s.ask(Op::Refresh, g1, &[], &[]);
    assert_eq!(
        r,
        Response::Update {
            handle: g1,
            object: Vec::new()
        }
    );
    let (r, _) = s.ask(Op::Open, 0, &[("type", b"group")], &[("handle", &handle)]);
    assert_eq!(status(&r), Status::NOT_FOUND);
    let (r, _) = s.ask(
        Op::Open,
        0,
        &[("type", b"host"), ("create", ONE)],
        &[
            ("name", b"h2"),
            ("hardware-address", &[1, 2, 3, 4, 5, 6]),
            ("group", b"g1"),
        ],
    );
    assert_eq!(status(&r), Status::NOT_FOUND);
}
