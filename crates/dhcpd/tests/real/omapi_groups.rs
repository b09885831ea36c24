//! OMAPI `group` objects (issue 15 part 1) with omshell, against ISC dhcpd and ours in the
//! same test: a group made with a name and statements, a duplicate, one without statements,
//! lookups (of an OMAPI group and of a named group of dhcpd.conf), a host made in a group and
//! in an unknown one, a change refused, removal; outputs compared with handles masked, and
//! the group records both servers write to dhcpd.leases compared. Then a host in an OMAPI
//! group boots dhclient with the group's file name, also after a restart (the group and the
//! host's reference to it read back from dhcpd.leases), and a removed group stays removed;
//! ISC, started on a lease file ours wrote, reads our group and host records.

use std::path::Path;

use crate::omapi::{SECRET, conf, dhclient_run, mask, omshell};
use crate::side_by_side::{Which, start};
use crate::support::Lab;

/// The tests' dhcpd.conf with a named group of its own.
fn conf_with_group(lab: &Lab) -> String {
    format!("{}group conf-grp {{ filename \"conf.0\"; }}\n", conf(lab))
}

const MAKE_PXE: &str =
    "new group\nset name = \"pxe\"\nset statements = \"filename \\\"group.0\\\";\"\ncreate";

/// The steps, in order, each with what ISC's answer must show (so that two servers failing
/// alike do not pass).
fn steps() -> Vec<(&'static str, String, &'static str)> {
    let host = |name: &str, mac: &str, group: &str| {
        format!(
            "new host\nset name = \"{name}\"\nset hardware-address = {mac}\nset hardware-type = 1\n\
             set group = \"{group}\"\ncreate"
        )
    };
    vec![
        ("make", MAKE_PXE.into(), "name = \"pxe\""),
        ("make again", MAKE_PXE.into(), "can't open object: already exists"),
        (
            "make without statements",
            "new group\nset name = \"bare\"\ncreate".into(),
            "can't open object: invalid argument",
        ),
        (
            "open",
            "new group\nset name = \"pxe\"\nopen".into(),
            "name = \"pxe\"",
        ),
        (
            "open a group of dhcpd.conf",
            "new group\nset name = \"conf-grp\"\nopen".into(),
            "name = \"conf-grp\"",
        ),
        (
            "open unknown",
            "new group\nset name = \"nope\"\nopen".into(),
            "can't open object: not found",
        ),
        (
            "host in the group",
            host("in-pxe", "52:54:00:15:00:31", "pxe"),
            "name = \"in-pxe\"",
        ),
        (
            "host in an unknown group",
            host("in-nope", "52:54:00:15:00:32", "nope"),
            "can't open object: not found",
        ),
        (
            "change statements",
            "new group\nset name = \"pxe\"\nopen\nset statements = \"filename \\\"x.0\\\";\"\nupdate"
                .into(),
            "already exists",
        ),
        (
            "remove",
            "new group\nset name = \"conf-grp\"\nopen\nremove".into(),
            "obj: <null>\n> ",
        ),
        (
            "open removed",
            "new group\nset name = \"conf-grp\"\nopen".into(),
            "can't open object: not found",
        ),
    ]
}

/// The group records of a lease file, their statement lines left out (ISC prints statements
/// in its parsed form; ours keeps them as sent).
fn group_records(leases: &Path) -> Vec<String> {
    crate::omapi::records(leases, "group ")
}

#[test]
fn r15_omshell_group_objects_answer_as_isc_dhcpd() {
    let labs = [Lab::new(), Lab::new()];
    let servers = [
        start(&labs[0], &Which::Isc, &conf_with_group(&labs[0])),
        start(&labs[1], &Which::Ours, &conf_with_group(&labs[1])),
    ];
    let mut compared = 0;
    for (what, body, must) in steps() {
        let theirs = mask(&omshell(&labs[0], Some(SECRET), &body));
        let ours = mask(&omshell(&labs[1], Some(SECRET), &body));
        assert!(theirs.contains(must), "{what}: ISC said\n{theirs}");
        assert_eq!(ours, theirs, "{what}: ours vs ISC\n{}", servers[1].log());
        compared += 1;
    }
    assert_eq!(compared, 11);
    let theirs = group_records(&labs[0].path("dhcpd.leases"));
    assert!(!theirs.is_empty(), "ISC wrote no group record");
    assert_eq!(group_records(&labs[1].path("dhcpd.leases")), theirs);
}

#[test]
fn r15_a_host_in_an_omapi_group_boots_with_its_statements_and_outlives_a_restart() {
    let lab = Lab::new();
    lab.set_client_mac("52:54:00:15:00:33");
    let conf = conf(&lab);
    let mut server = lab.start_ours(&conf, &[]);
    let made = omshell(&lab, Some(SECRET), MAKE_PXE);
    assert!(made.contains("name = \"pxe\""), "{made}");
    let host = format!(
        "new host\nset name = \"grouped\"\nset ip-address = {}\n\
         set hardware-address = 52:54:00:15:00:33\nset hardware-type = 1\n\
         set group = \"pxe\"\ncreate",
        lab.ip(70)
    );
    let made = omshell(&lab, Some(SECRET), &host);
    assert!(made.contains("name = \"grouped\""), "{made}");
    let want = format!("{} group.0\n", lab.ip(70));
    assert_eq!(dhclient_run(&lab), want, "{}", server.log());
    // A restart reads the group and the host's reference to it back from dhcpd.leases.
    server.signal("TERM");
    assert_eq!(
        server.wait_exit(crate::omapi::WAIT),
        Some(0),
        "{}",
        server.log()
    );
    let mut server = lab.start_ours(&conf, &[]);
    assert_eq!(dhclient_run(&lab), want, "{}", server.log());
    assert!(!server.log().contains("record"), "{}", server.log());
    // A removed group stays removed after a restart.
    let gone = omshell(
        &lab,
        Some(SECRET),
        "new group\nset name = \"pxe\"\nopen\nremove",
    );
    assert!(gone.ends_with("obj: <null>\n> "), "{gone}");
    server.signal("TERM");
    assert_eq!(
        server.wait_exit(crate::omapi::WAIT),
        Some(0),
        "{}",
        server.log()
    );
    let server = lab.start_ours(&conf, &[]);
    let out = omshell(&lab, Some(SECRET), "new group\nset name = \"pxe\"\nopen");
    assert!(
        out.contains("can't open object: not found"),
        "{out}\n{}",
        server.log()
    );
}

#[test]
fn r15_group_records_written_by_ours_are_read_by_isc_dhcpd() {
    let lab = Lab::new();
    let conf = conf(&lab);
    let mut ours = lab.start_ours(&conf, &[]);
    assert!(omshell(&lab, Some(SECRET), MAKE_PXE).contains("name = \"pxe\""));
    let host = "new host\nset name = \"in-pxe\"\nset hardware-address = 52:54:00:15:00:34\n\
                set hardware-type = 1\nset group = \"pxe\"\ncreate";
    assert!(omshell(&lab, Some(SECRET), host).contains("name = \"in-pxe\""));
    ours.signal("TERM");
    assert_eq!(
        ours.wait_exit(crate::omapi::WAIT),
        Some(0),
        "{}",
        ours.log()
    );
    // Switching back: ISC, started on the file ours wrote, knows the group and the host.
    let isc = crate::omapi::start_isc_keeping_leases(&lab, &conf);
    let group = omshell(&lab, Some(SECRET), "new group\nset name = \"pxe\"\nopen");
    assert!(
        group.ends_with("name = \"pxe\"\n> "),
        "{group}\n{}",
        isc.log()
    );
    let host = omshell(&lab, Some(SECRET), "new host\nset name = \"in-pxe\"\nopen");
    assert!(
        host.contains("hardware-address = 52:54:00:15:00:34"),
        "{host}\n{}",
        isc.log()
    );
    assert!(!isc.log().contains("unknown group"), "{}", isc.log());
}
