//! A deploy end to end, without a VM: the agent binary, httpd-tree, a file as the disk.

use std::path::Path;

use crate::support::{
    GAP, Golden, KEY, Lab, MIB, Mounted, ROOT_START, golden, pseudo_random, sh, sha256_hex,
};

/// The steps' progress entries: `image progress <done>/<total> bytes (<pct>%)`.
fn progress(steps: &[String]) -> Vec<(u64, u64)> {
    steps
        .iter()
        .filter_map(|s| {
            let rest = s.strip_prefix("image progress ")?;
            let (done, rest) = rest.split_once('/')?;
            let total = rest.split_whitespace().next()?;
            Some((done.parse().ok()?, total.parse().ok()?))
        })
        .collect()
}

fn position(steps: &[String], prefix: &str) -> usize {
    steps
        .iter()
        .position(|s| s.starts_with(prefix))
        .unwrap_or_else(|| panic!("no step {prefix:?} in {steps:#?}"))
}

#[test]
fn a_zstd_image_is_written_verified_grown_configured_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = golden(dir.path(), 40 * MIB, 7);
    let fetched = zstd::encode_all(&g.bytes[..], 3).expect("zstd");
    let lab = Lab::start("disk.raw.zst", &fetched, &sha256_hex(&fetched));
    let disk = lab.disk(96 * MIB);
    let out = lab.agent(&disk);
    assert!(out.status.success(), "the agent installed: {}", out.status);

    installed_disk(&disk, &g);

    // Every step reached httpd-tree, in order, with bytes of the total.
    let steps = lab.steps();
    let order = [
        "plan done: machine web01",
        "image started",
        "image progress",
        "image done",
        "grow started",
        "grow done",
        "configure started",
        "configure done",
        "first_boot done",
        "finish started",
    ];
    let at: Vec<usize> = order.iter().map(|p| position(&steps, p)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{steps:#?}");
    let p = progress(&steps);
    let total = fetched.len() as u64;
    assert!(p.iter().all(|(_, t)| *t == total), "{p:?} of {total}");
    assert!(p.windows(2).all(|w| w[0].0 <= w[1].0), "growing: {p:?}");
    assert_eq!(p.last(), Some(&(total, total)), "the last says all of it");
    let done = &steps[position(&steps, "image done")];
    assert!(
        done.contains(&format!("{} bytes written, sha256 verified", g.bytes.len())),
        "{done}"
    );
    let m = lab.machine();
    assert_eq!(m["state"], "installed", "{m}");
    assert!(m["milestones"]["deploy_plan"].is_string(), "{m}");
    assert!(m["milestones"]["installed"].is_string(), "{m}");
}

#[test]
fn a_bad_checksum_leaves_the_machine_failed_and_the_disk_unbootable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = golden(dir.path(), 8 * MIB, 11);
    let fetched = zstd::encode_all(&g.bytes[..], 3).expect("zstd");
    let wrong = sha256_hex(b"not the image");
    let lab = Lab::start("disk.raw.zst", &fetched, &wrong);
    let disk = lab.disk(16 * MIB);
    std::fs::write(&disk, pseudo_random(16 << 20, 3)).expect("an old disk");
    let out = lab.agent(&disk);
    assert_eq!(out.status.code(), Some(1), "the agent failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not reboot"), "{stderr}");

    // Nothing boots from the disk: both ends zeroed, the table gone.
    let written = std::fs::read(&disk).expect("disk");
    assert!(
        written[..MIB as usize].iter().all(|b| *b == 0),
        "the start wiped"
    );
    assert!(
        written[written.len() - MIB as usize..]
            .iter()
            .all(|b| *b == 0),
        "the backup GPT wiped"
    );

    // No success was reported; the failure is, with the reason and the log's tail.
    let steps = lab.steps();
    assert!(
        !steps
            .iter()
            .any(|s| s.starts_with("image done") || s.starts_with("grow")),
        "{steps:#?}"
    );
    let failed = &steps[position(&steps, "image failed: sha256 mismatch")];
    assert!(
        failed.contains(&format!("the plan says {wrong}")),
        "{failed}"
    );
    assert!(
        failed.contains(&sha256_hex(&fetched)),
        "the digest it got: {failed}"
    );
    assert!(failed.contains("--- log tail ---"), "{failed}");
    assert!(failed.contains("wiping the partition tables"), "{failed}");
    let m = lab.machine();
    assert_eq!(m["state"], "failed", "{m}");
    assert!(
        m["failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("image failed: sha256 mismatch")),
        "{m}"
    );
    assert!(m["milestones"]["installed"].is_null(), "{m}");
    let page = lab.admin("/status");
    assert!(
        page.contains(
            "<td class=\"state failed\">failed<br><small class=\"reason\">image failed: sha256 mismatch"
        ),
        "{page}"
    );
}

#[test]
fn a_raw_image_lands_byte_exact_and_a_later_failure_is_reported_with_its_log() {
    // No partition table: written and verified, then nothing to grow.
    let image = pseudo_random(5 * MIB as usize + 4321, 5);
    let lab = Lab::start("blob.raw", &image, &sha256_hex(&image));
    let disk = lab.disk(8 * MIB);
    let out = lab.agent(&disk);
    assert_eq!(out.status.code(), Some(1), "the agent failed");
    let written = std::fs::read(&disk).expect("disk");
    assert!(written[..image.len()] == image[..], "byte for byte");
    assert!(
        written[image.len()..].iter().all(|b| *b == 0),
        "nothing after it"
    );

    let steps = lab.steps();
    let p = progress(&steps);
    let total = image.len() as u64;
    assert_eq!(p.last(), Some(&(total, total)), "{steps:#?}");
    assert!(
        steps[position(&steps, "image done")].contains(&format!("{total} bytes written")),
        "{steps:#?}"
    );
    let failed = &steps[position(&steps, "grow failed")];
    assert!(failed.contains("no partition table"), "{failed}");
    assert!(
        failed.contains("--- log tail ---") && failed.contains("$ sfdisk --json /dev/loop"),
        "the commands it ran: {failed}"
    );
    let m = lab.machine();
    assert_eq!(m["state"], "failed", "{m}");
    assert!(
        m["failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("grow failed")),
        "{m}"
    );
}

#[test]
fn a_qcow2_image_is_converted_to_the_disk_by_qemu_img() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = golden(dir.path(), 24 * MIB, 13);
    let raw = dir.path().join("golden.raw");
    std::fs::write(&raw, &g.bytes).expect("raw");
    let qcow2 = dir.path().join("golden.qcow2");
    sh(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            &raw.display().to_string(),
            &qcow2.display().to_string(),
        ],
    );
    let fetched = std::fs::read(&qcow2).expect("qcow2");
    let lab = Lab::start("disk.qcow2", &fetched, &sha256_hex(&fetched));
    let disk = lab.disk(48 * MIB);
    let out = lab.agent(&disk);
    assert!(out.status.success(), "the agent installed: {}", out.status);
    let written = std::fs::read(&disk).expect("disk");
    assert!(written[GAP] == g.bytes[GAP], "the image's bytes");
    let root = Mounted::new(&disk);
    assert!(root.read("payload") == g.payload, "the root's files");
    assert_eq!(root.read("etc/hostname"), b"web01\n");
    let steps = lab.steps();
    let total = fetched.len() as u64;
    assert_eq!(progress(&steps).last(), Some(&(total, total)), "{steps:#?}");
    assert_eq!(lab.machine()["state"], "installed");
}

/// The image landed on `disk` (a 96 MiB file): the bytes before the root exactly, the
/// root's files, grown to the disk, configured as the plan says, the first-boot unit.
pub(crate) fn installed_disk(disk: &Path, g: &Golden) {
    let written = std::fs::read(disk).expect("disk");
    assert!(
        written[GAP] == g.bytes[GAP],
        "the bytes between the table and the root are the image's"
    );
    let table = sh("sfdisk", &["--json", &disk.display().to_string()]);
    let v: serde_json::Value = serde_json::from_str(&table).expect("json");
    let part = &v["partitiontable"]["partitions"][0];
    assert_eq!(part["start"], ROOT_START);
    let sectors = part["size"].as_u64().expect("size");
    assert!(
        sectors > g.root_sectors + 100_000,
        "the root grew to the disk: {sectors} sectors, {} in the image",
        g.root_sectors
    );
    {
        let root = Mounted::new(disk);
        assert!(root.read("payload") == g.payload, "the root's files");
        assert_eq!(root.read("etc/hostname"), b"web01\n");
        assert_eq!(
            String::from_utf8(root.read("home/ops/.ssh/authorized_keys")).expect("utf-8"),
            format!("{KEY}\n")
        );
        let passwd = String::from_utf8(root.read("etc/passwd")).expect("utf-8");
        assert!(passwd.contains("\nops:x:"), "useradd made ops: {passwd}");
        let token = String::from_utf8(root.read("etc/pxe-deploy/token")).expect("utf-8");
        assert_eq!(token.trim().len(), 32, "the first boot's token");
        assert!(
            root.dir
                .path()
                .join("etc/systemd/system/multi-user.target.wants/pxe-first-boot.service")
                .is_symlink()
        );
        let df = sh(
            "df",
            &[
                "-B1",
                "--output=size",
                &root.dir.path().display().to_string(),
            ],
        );
        let size: u64 = df
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df");
        assert!(
            size > 60 * MIB,
            "the file system grew with its partition: {size}"
        );
    }
}

#[test]
fn the_post_script_runs_in_the_installed_system() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = golden(dir.path(), 24 * MIB, 31);
    let post = "#!/bin/sh\nread -r h < /etc/hostname\necho \"deployed on $h\" > /etc/motd\n\
                test -e /proc/self/mounts && test -e /dev/null && echo mounts-ok > /post-mounts";
    let lab = Lab::start_with_post(
        "disk.raw",
        &g.bytes,
        &sha256_hex(&g.bytes),
        "127.0.0.1",
        post,
    );
    let disk = lab.disk(32 * MIB);
    assert!(lab.agent(&disk).status.success(), "installed");
    let steps = lab.steps();
    assert!(
        position(&steps, "configure done") < position(&steps, "post started")
            && position(&steps, "post started") < position(&steps, "post done")
            && position(&steps, "post done") < position(&steps, "first_boot done"),
        "{steps:#?}"
    );
    let root = Mounted::new(&disk);
    assert_eq!(root.read("etc/motd"), b"deployed on web01\n");
    assert_eq!(
        root.read("post-mounts"),
        b"mounts-ok\n",
        "/proc and /dev inside"
    );
    assert!(
        !root.dir.path().join("pxe-deploy-post.sh").exists(),
        "the script is removed"
    );
}

#[test]
fn a_failing_post_script_fails_the_deploy_with_its_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = golden(dir.path(), 24 * MIB, 33);
    let post = "#!/bin/sh\necho post-script-says-no >&2\nexit 3";
    let lab = Lab::start_with_post(
        "disk.raw",
        &g.bytes,
        &sha256_hex(&g.bytes),
        "127.0.0.1",
        post,
    );
    let disk = lab.disk(32 * MIB);
    assert_eq!(lab.agent(&disk).status.code(), Some(1), "failed");
    let steps = lab.steps();
    let failed = &steps[position(&steps, "post failed")];
    assert!(failed.contains("exited 3"), "{failed}");
    assert!(
        failed.contains("post-script-says-no"),
        "its output: {failed}"
    );
    assert!(
        !steps
            .iter()
            .any(|s| s.starts_with("first_boot") || s.starts_with("finish")),
        "{steps:#?}"
    );
    let m = lab.machine();
    assert_eq!(m["state"], "failed", "{m}");
    assert!(
        m["failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("post failed")),
        "{m}"
    );
    // Everything was unmounted and detached: the disk mounts again here.
    let root = Mounted::new(&disk);
    assert_eq!(root.read("etc/hostname"), b"web01\n");
}
