//! `--database` (issue 14 part 4): install state, acknowledged addresses and boot events in
//! a real, throwaway PostgreSQL instead of a state directory. The menus follow the state
//! written there by another process (as httpd-tree would), and what tftpd served is on the
//! machines' timelines in the database, after the server dropped its privileges.

use pxe_db::scratch::ScratchServer;
use pxe_db::state::PgStateStore;
use pxe_model::InstallState;
use pxe_model::state::{StateEvent, StateStore};

use crate::inventory::{KERNEL, Lab, WEB01, fetch_text, now_ms};
use crate::support::{Server, assert_same};

#[test]
fn menus_follow_the_state_in_the_database_and_served_files_land_on_its_timelines() {
    let pg = ScratchServer::start().expect("a throwaway PostgreSQL");
    let url: pxe_db::DatabaseUrl = pg.url().parse().expect("url");
    pxe_db::migrate(&mut url.connect().expect("connect"), "test").expect("migrate");
    let db = PgStateStore::new(url);
    let lab = Lab::new();
    // dhcpd's acknowledgements of the lab (127.0.0.1 to web01 and db01) move into the database.
    pxe_db::import_state::import_state(&lab.state, &db).expect("import");
    let server = Server::start(&[
        "--inventory",
        &lab.inventory.display().to_string(),
        "--database",
        &pg.url(),
        "-s",
        &lab.tree.root.display().to_string(),
    ]);
    let pending = fetch_text(&lab, &server, WEB01, 1);
    assert_eq!(pending, lab.rendered(WEB01, InstallState::Pending));
    // Another process (httpd-tree's callback) marks web01 installed in the database.
    db.apply("web01", StateEvent::Installed, now_ms())
        .expect("installed");
    let installed = fetch_text(&lab, &server, WEB01, 2);
    assert_eq!(installed, lab.rendered(WEB01, InstallState::Installed));
    assert!(installed.contains("LOCALBOOT"), "{installed}");
    // A tree file goes to the machine whose acknowledged address fetched it (gw01's fixed
    // address is 127.0.0.1 too: the fixed one wins), and the menus to web01.
    let out = lab.tree.out("kernel");
    let o = crate::inventory::tftp_get(&server, KERNEL, &out);
    assert_same(&out, &lab.kernel, "kernel from the tree", &o);
    server.wait_log(&[&format!("file={KERNEL}"), "result=ok"]);
    let web01: Vec<String> = db
        .events("web01", 10)
        .expect("events")
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        web01,
        [
            format!("{WEB01} ({} bytes)", pending.len()),
            format!("{WEB01} ({} bytes)", installed.len()),
        ]
    );
    let gw01 = db.events("gw01", 10).expect("events");
    assert!(
        gw01.iter().any(|e| e.detail.starts_with(KERNEL)),
        "{gw01:?}"
    );
    server.wait_log(&["install state in the database"]);
}
