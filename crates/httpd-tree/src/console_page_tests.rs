//! The console pages rendered without a socket or a clock: the list, its search and filters,
//! paging, a machine page, masking and escaping.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::*;
use pxe_model::state::{BootEvent, Phase, StateEvent};

const HEAD: &str = "servers: {tftp: 10.0.0.2, http: \"http://10.0.0.3\"}\n\
    distros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n\
    profiles:\n  p: {distro: c7}\n  q: {distro: c7}\nmachines:\n";

/// An inventory of `n` machines `m0000`…, odd ones on profile `q`.
fn inventory(n: usize) -> Inventory {
    let mut text = HEAD.to_owned();
    for i in 0..n {
        let _ = writeln!(
            text,
            "  m{i:04}: {{mac: \"52:54:00:00:{:02x}:{:02x}\", profile: {}}}",
            i / 256,
            i % 256,
            if i % 2 == 1 { "q" } else { "p" }
        );
    }
    pxe_model::load_str("inv.yaml", &text, std::path::Path::new(".")).unwrap()
}

fn summary_of(name: &str) -> Summary {
    let n: usize = name[1..].parse().unwrap_or(0);
    Summary {
        state: STATES[n % 4],
        last_seen: Some(1_700_000_000_000 + n as u64),
        last_event: format!("event of {name}"),
    }
}

const NOBODY: Viewer<'static> = Viewer {
    csrf: None,
    home: "/",
};

fn rows(html: &str) -> Vec<&str> {
    html.split("<tr data-machine=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect()
}

#[test]
fn the_list_is_searched_filtered_and_paged_on_the_server() {
    let inv = inventory(250);
    let all = list(&inv, &summary_of, &Filter::default(), NOBODY, 0);
    assert_eq!(rows(&all).len(), PAGE_ROWS, "one page of rows");
    assert!(all.contains("250 of 250 machines match"), "{all}");
    assert!(all.contains("page 1 of 3"));
    assert!(
        all.contains("<span id=\"count-installing\">63</span>"),
        "counts over all machines"
    );
    let by_name = Filter::parse(Some("q=M012"));
    assert_eq!(
        rows(&list(&inv, &summary_of, &by_name, NOBODY, 0)),
        (120..130).map(|i| format!("m{i:04}")).collect::<Vec<_>>()
    );
    // A MAC typed with dashes or colons, any case.
    let by_mac = Filter::parse(Some("q=52-54-00-00-00-0A"));
    assert_eq!(
        rows(&list(&inv, &summary_of, &by_mac, NOBODY, 0)),
        ["m0010"]
    );
    let installed_q = Filter::parse(Some("state=installed&profile=q"));
    let html = list(&inv, &summary_of, &installed_q, NOBODY, 0);
    assert!(rows(&html).iter().all(|n| {
        let i: usize = n[1..].parse().unwrap();
        i % 4 == 2 && i % 2 == 1
    }));
    assert!(rows(&html).is_empty(), "no machine is both: {html}");
    let failed_q = Filter::parse(Some("state=failed&profile=q&page=0"));
    assert_eq!(
        rows(&list(&inv, &summary_of, &failed_q, NOBODY, 0)).len(),
        62
    );
    let last = Filter::parse(Some("page=2"));
    let html = list(&inv, &summary_of, &last, NOBODY, 0);
    assert_eq!(rows(&html).len(), 50);
    assert!(
        html.contains("href=\"/?q=&state=&profile=&page=1\""),
        "previous"
    );
}

#[test]
fn every_field_is_escaped() {
    // The inventory refuses such names; the pages escape them all the same.
    let mut inv = inventory(1);
    let mut m = inv.machines.remove("m0000").unwrap();
    m.name = "<script>alert(1)</script>".into();
    m.hostname = "x<img src=x onerror=alert(2)>".into();
    inv.machines.insert(m.name.clone(), m);
    let evil = |_: &str| Summary {
        state: "installing",
        last_seen: Some(1),
        last_event: "<script>alert(3)</script>".into(),
    };
    let filter = Filter::parse(Some("q=%3Cscript%3E"));
    let html = list(
        &inv,
        &evil,
        &filter,
        Viewer {
            csrf: Some("\"><script>"),
            home: "/",
        },
        0,
    );
    assert_eq!(rows(&html).len(), 1, "{html}");
    assert!(
        html.contains("value=\"&lt;script&gt;\""),
        "the search is echoed escaped"
    );
    let m = inv.machines.values().next().unwrap();
    let mut rec = Record::default();
    rec.events.push(BootEvent {
        at: 1,
        phase: Phase::Http,
        detail: "<script>alert(4)</script>".into(),
    });
    let page = machine(
        &inv,
        m,
        &rec,
        &Ok("<script>alert(5)</script>".into()),
        &Err("<script>alert(6)</script>".into()),
        Viewer {
            csrf: Some("c"),
            home: "/",
        },
        0,
    );
    for html in [&html, &page] {
        // The one script is the console's own file.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(html.contains("<script src=\"/console/console.js\" defer></script>"));
        assert!(!html.contains("<img"), "{html}");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;script&gt;alert(3)&lt;/script&gt;"));
    assert!(page.contains("&lt;script&gt;alert(4)&lt;/script&gt;"));
    assert!(page.contains("&lt;script&gt;alert(6)&lt;/script&gt;"));
    // The link to the machine's page encodes its name.
    assert!(html.contains("/console/machines/%3Cscript%3Ealert%281%29%3C%2Fscript%3E"));
}

#[test]
fn secrets_are_masked() {
    let ks = "rootpw --iscrypted $6$salt$hash\n\
        d-i passwd/root-password-crypted password $6$x$y\n\
        user --name=ops --password=hunter2 --plaintext\n\
        curl -H 'Authorization: Bearer 0123abcd' http://x/done\n  \
        password: \"$6$abc\"\n\
        network --bootproto=dhcp\n\
        # no password here\n\
        ssh_keys:\n  -----BEGIN OPENSSH PRIVATE KEY-----\n  b3BlbnNzaC1rZXktdjEAAAA\n  -----END OPENSSH PRIVATE KEY-----\n";
    let m = mask(ks);
    for secret in [
        "$6$salt$hash",
        "$6$x$y",
        "hunter2",
        "0123abcd",
        "$6$abc",
        "b3BlbnNz",
    ] {
        assert!(!m.contains(secret), "{secret} in {m}");
    }
    assert!(m.contains("rootpw ********\n"), "{m}");
    assert!(
        m.contains("d-i passwd/root-password-crypted ********\n"),
        "{m}"
    );
    assert!(
        m.contains("network --bootproto=dhcp\n"),
        "other lines kept: {m}"
    );
    assert!(m.contains("  password: ********\n"), "{m}");
    assert!(
        m.contains("# no password ********"),
        "masked when unsure: {m}"
    );
    assert!(m.contains("-----END OPENSSH PRIVATE KEY-----"), "{m}");
    assert_eq!(m.lines().count(), ks.lines().count());
}

#[test]
fn the_machine_page_shows_the_diagnosis_and_the_actions_only_when_logged_in() {
    let inv = inventory(1);
    let m = inv.machines.values().next().unwrap();
    let mut rec = Record::default();
    rec.state.apply(StateEvent::AnswerFetched, 1_000);
    rec.events.push(BootEvent {
        at: 500,
        phase: Phase::Dhcp,
        detail: "DHCPACK 10.0.0.9".into(),
    });
    // An hour later nothing more came: the diagnosis says where it stopped.
    let now = 3_600_000 * 4;
    let boot = Ok("#!ipxe\n".to_owned());
    let ans = Ok("rootpw --plaintext secret123\n".to_owned());
    let anon = machine(&inv, m, &rec, &boot, &ans, NOBODY, now);
    assert!(
        anon.contains("id=\"diagnosis\" class=\"diagnosis\""),
        "{anon}"
    );
    assert!(anon.contains("id=\"actions-locked\""));
    assert!(!anon.contains("id=\"reinstall\""));
    assert!(!anon.contains("secret123"), "{anon}");
    let op = machine(
        &inv,
        m,
        &rec,
        &boot,
        &ans,
        Viewer {
            csrf: Some("tok"),
            home: "/",
        },
        now,
    );
    assert!(op.contains("<input type=\"hidden\" name=\"csrf\" value=\"tok\">"));
    assert_eq!(op.matches("data-power=").count(), 4);
    assert!(op.contains("<meta name=\"csrf\" content=\"tok\">"));
}

#[test]
fn a_page_of_five_thousand_machines_is_quick() {
    let inv = inventory(5_000);
    let started = std::time::Instant::now();
    let rounds = 20;
    let mut html = String::new();
    for _ in 0..rounds {
        html = list(
            &inv,
            &summary_of,
            &Filter::parse(Some("q=m4&state=failed")),
            NOBODY,
            0,
        );
    }
    let per_page = started.elapsed() / rounds;
    assert_eq!(rows(&html).len(), PAGE_ROWS);
    assert!(html.contains("250 of 5000 machines match"), "{html}");
    eprintln!("a filtered page of 5,000 machines: {per_page:?}");
    // Debug build, shared CI machine: generous, but far from a page per machine.
    assert!(
        per_page < std::time::Duration::from_millis(250),
        "{per_page:?}"
    );
}
