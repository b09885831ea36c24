//! The example lab loads, and every example mapping rejects a key it does not know.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn example_lab_inventory_loads() {
    let inv = pxe_model::load(&root().join("deploy/examples/inventory.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inv.machines.len(), 3);
    assert_eq!(inv.profiles["rescue"].distro, "centos7");
    assert_eq!(inv.profiles["rescue"].template, "templates/centos7.ks.j2");
    assert_eq!(inv.profiles["rescue"].vars["timezone"], "Europe/Berlin");
    let db = inv
        .find_machine("52-54-00-AB-CD-02")
        .expect("second NIC finds db01");
    assert_eq!(db.name, "db01");
}
