//! Distros and profiles kept one file each in `distros_dir` and `profiles_dir`: loaded
//! with the inventory file and checked by the same code, never a silent winner over it.

use pxe_model::entry_dir::{self, Entry, Overrides};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};

const INV: &str = "servers: {tftp: 10.0.0.2, http: \"http://10.0.0.3\"}\n\
    distros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n\
    profiles:\n  base: {distro: c7, kernel_args: quiet}\n\
    distros_dir: distros.d\n\
    profiles_dir: profiles.d\n\
    machines:\n  web01: {mac: 52:54:00:12:34:56, profile: web}\n";

fn lab(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let inv = dir.path().join("inventory.yaml");
    fs::write(&inv, INV).expect("write inventory");
    for (rel, text) in files {
        let path = dir.path().join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write file");
    }
    (dir, inv)
}

fn problems(inv: &pxe_model::Inventory) -> Vec<(&str, &str, &str)> {
    inv.problems
        .iter()
        .map(|p| (p.entry, p.name.as_str(), p.kind))
        .collect()
}

#[test]
fn files_join_the_inventory_and_may_name_its_entries_both_ways() {
    let (_dir, path) = lab(&[
        (
            "distros.d/deb12.yaml",
            "family: debian\ntree: /srv/deb12\nkernel: linux\ninitrd: initrd.gz\n",
        ),
        ("profiles.d/web.yaml", "parent: base\ndistro: deb12\n"),
    ]);
    let inv = pxe_model::load(&path).expect("loads");
    assert!(inv.problems.is_empty(), "{:?}", inv.problems);
    let web = &inv.profiles["web"];
    assert_eq!(web.distro, "deb12");
    assert_eq!(
        web.kernel_args, "quiet",
        "inherited from the inventory file's parent"
    );
    assert_eq!(inv.machines["web01"].profile, "web");
    assert!(inv.api_profiles.contains("web") && !inv.api_profiles.contains("base"));
    assert!(inv.api_distros.contains("deb12") && !inv.api_distros.contains("c7"));
}

#[test]
fn a_file_named_like_an_inventory_entry_is_a_conflict_and_the_file_loses() {
    let (_dir, path) = lab(&[
        ("profiles.d/web.yaml", "distro: c7\n"),
        (
            "profiles.d/base.yaml",
            "distro: c7\nkernel_args: from-the-file\n",
        ),
    ]);
    let inv = pxe_model::load(&path).expect("loads");
    assert_eq!(problems(&inv), vec![("profile", "base", "conflict")]);
    assert_eq!(inv.profiles["base"].kernel_args, "quiet");
    assert!(!inv.api_profiles.contains("base"));
}

#[test]
fn a_wrong_file_is_left_out_with_its_place_and_the_rest_loads() {
    let (dir, path) = lab(&[
        ("profiles.d/web.yaml", "distro: c7\n"),
        ("profiles.d/db.yaml", "distro: c7\nkernel_argz: x\n"),
        ("distros.d/broken.yaml", "family: [unclosed\n"),
    ]);
    let inv = pxe_model::load(&path).expect("loads");
    let mut got = problems(&inv);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("distro", "broken", "invalid"),
            ("profile", "db", "invalid")
        ]
    );
    let db = inv.problems.iter().find(|p| p.name == "db").expect("db");
    assert!(
        db.message.starts_with("2:1: unknown key `kernel_argz`"),
        "{}",
        db.message
    );
    assert_eq!(
        Path::new(&db.file),
        dir.path().join("profiles.d/db.yaml").as_path()
    );
    assert!(!inv.profiles.contains_key("db") && inv.profiles.contains_key("web"));
}

#[test]
fn an_inventory_machine_on_a_left_out_profile_fails_the_load_naming_both() {
    let (_dir, path) = lab(&[("profiles.d/web.yaml", "distro: nosuch\n")]);
    let Err(pxe_model::LoadError::Invalid(d)) = pxe_model::load(&path) else {
        panic!("loaded with web01 on a profile that is not there");
    };
    let text = d.to_string();
    assert!(
        text.contains("inventory.yaml:") && text.contains("\"web\""),
        "{text}"
    );
}

#[test]
fn json_from_the_api_becomes_a_file_that_loads_back() {
    let (dir, path) = lab(&[]);
    let body = json!({"name": "web", "distro": "c7", "kernel_args": "console=ttyS0 quiet",
                      "vars": {"role": "frontend"}});
    let text = entry_dir::yaml_of(Entry::Profile, "web", &body).expect("yaml");
    entry_dir::write_atomic(&dir.path().join("profiles.d"), "web", &text).expect("write");
    let inv = pxe_model::load(&path).expect("loads");
    let web = &inv.profiles["web"];
    assert_eq!(web.kernel_args, "console=ttyS0 quiet");
    assert_eq!(web.vars.get("role").map(String::as_str), Some("frontend"));
    assert!(entry_dir::yaml_of(Entry::Profile, "web", &json!(["no"])).is_err());
}

#[test]
fn overrides_check_a_change_before_it_is_written() {
    let (dir, path) = lab(&[("profiles.d/web.yaml", "distro: c7\n")]);
    let web = entry_dir::path_of(&dir.path().join("profiles.d"), "web");
    let mut gone = Overrides::default();
    gone.files.insert(web.clone(), None);
    assert!(
        pxe_model::load_with(&path, &gone).is_err(),
        "web01 still names the profile"
    );
    let mut changed = Overrides::default();
    changed
        .files
        .insert(web, Some("distro: c7\nkernel_args: new\n".to_owned()));
    let inv = pxe_model::load_with(&path, &changed).expect("loads");
    assert_eq!(inv.profiles["web"].kernel_args, "new");
    let on_disk = pxe_model::load(&path).expect("loads");
    assert_eq!(
        on_disk.profiles["web"].kernel_args, "",
        "nothing was written"
    );
}
