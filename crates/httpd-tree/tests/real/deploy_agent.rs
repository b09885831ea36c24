//! The deploy agent's side of httpd-tree, with curl as the agent: its plan only to its
//! machine's address, reports with the plan's generation-bound token in the header, a
//! failed step turning the machine `failed` with its reason on /status and in the API,
//! and the first-boot report once the install is over.

use crate::support::{ADMIN_TOKEN, OWNER, STRANGER, Server, acknowledge_all, curl_status};
use pxe_model::StateStore;
use pxe_model::deploy_plan::DeployPlan;
use pxe_model::state::{InstallState, Phase};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/inventory/good/deploy.yaml"
);
const MAC: &str = "52:54:00:de:01:02";
const MACHINE: &str = "db01";

struct DeployLab {
    _dir: tempfile::TempDir,
    state_dir: std::path::PathBuf,
    out: std::path::PathBuf,
    server: Server,
}

fn deploy_lab() -> DeployLab {
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("inventory.yaml");
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    std::fs::write(&inventory, text).expect("write inventory");
    let state_dir = dir.path().join("state");
    acknowledge_all(&inventory, &state_dir, OWNER);
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).expect("token file");
    let server = Server::start(&[
        "--inventory".as_ref(),
        inventory.as_os_str(),
        "--state-dir".as_ref(),
        state_dir.as_os_str(),
        "--admin-token-file".as_ref(),
        token_file.as_os_str(),
    ]);
    DeployLab {
        out: dir.path().join("body"),
        state_dir,
        server,
        _dir: dir,
    }
}

impl DeployLab {
    fn get(&self, from: &str, path: &str, extra: &[&str]) -> (u16, String) {
        let url = self.server.url(path);
        let mut args = vec!["--interface", from];
        args.extend_from_slice(extra);
        args.push(&url);
        let status = curl_status(&args, &self.out);
        (
            status,
            std::fs::read_to_string(&self.out).unwrap_or_default(),
        )
    }

    /// POSTs `body` (JSON) to the machine's `action` URL with `token` as the bearer.
    fn post(&self, action: &str, token: &str, body: &str) -> (u16, String) {
        let url = self.server.url(&format!("/api/v1/machines/{MAC}/{action}"));
        let bearer = format!("Authorization: Bearer {token}");
        let status = curl_status(
            &[
                "-X",
                "POST",
                "-H",
                &bearer,
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
                &url,
            ],
            &self.out,
        );
        (
            status,
            std::fs::read_to_string(&self.out).unwrap_or_default(),
        )
    }

    fn plan(&self) -> DeployPlan {
        let (status, body) = self.get(OWNER, &format!("/deploy/{MAC}"), &[]);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("a deploy plan")
    }

    fn store(&self) -> pxe_model::FileStore {
        pxe_model::FileStore::open(&self.state_dir).expect("state")
    }

    fn admin(&self, path: &str) -> String {
        let bearer = format!("Authorization: Bearer {ADMIN_TOKEN}");
        let (status, body) = self.get(OWNER, path, &["-H", &bearer]);
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

#[test]
fn the_plan_goes_only_to_its_machine_and_starts_the_install() {
    let lab = deploy_lab();
    let (status, body) = lab.get(STRANGER, &format!("/deploy/{MAC}"), &[]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(STRANGER) && body.contains(MACHINE), "{body}");
    assert!(!body.contains("token"), "{body}");
    let plan = lab.plan();
    assert_eq!(plan.machine, MACHINE);
    assert_eq!(
        plan.urls.report,
        format!("http://10.0.0.3:8080/api/v1/machines/{MAC}/report")
    );
    assert_eq!(plan.token.len(), 32, "a machine token");
    let st = lab.store().get(MACHINE).expect("state");
    assert_eq!(st.state, InstallState::Installing);
    let events = lab.store().events(MACHINE, 50).expect("events");
    assert!(
        events.iter().any(|e| e.phase == Phase::DeployPlan),
        "{events:?}"
    );
    // A machine of an installer profile has no plan.
    let (status, body) = lab.get(OWNER, "/deploy/52:54:00:12:34:56", &[]);
    assert_eq!(status, 404, "{body}");
}

#[test]
fn reports_need_the_plans_token_in_the_header_and_a_bounded_json_body() {
    let lab = deploy_lab();
    let plan = lab.plan();
    let started = r#"{"step":"image","status":"started"}"#;
    let progress =
        r#"{"step":"image","status":"progress","done_bytes":1048576,"total_bytes":4194304}"#;
    assert_eq!(lab.post("report", &plan.token, started).0, 200);
    let (status, body) = lab.post("report", &plan.token, progress);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"installing\""), "{body}");
    // Another token of the right shape, the admin token, no token, a token in the URL.
    let other = "0123456789abcdef0123456789abcdef";
    let (status, body) = lab.post("report", other, progress);
    assert_eq!(status, 401, "{body}");
    assert_eq!(lab.post("report", ADMIN_TOKEN, progress).0, 401);
    let url = lab.server.url(&format!(
        "/api/v1/machines/{MAC}/report?token={}",
        plan.token
    ));
    assert_eq!(
        curl_status(&["-X", "POST", "--data-binary", progress, &url], &lab.out),
        401
    );
    // Not a report, an unknown step, too large.
    assert_eq!(lab.post("report", &plan.token, "{}").0, 400);
    assert_eq!(lab.post("report", &plan.token, "not json").0, 400);
    let (status, body) = lab.post(
        "report",
        &plan.token,
        r#"{"step":"disk","status":"started"}"#,
    );
    assert_eq!(status, 400, "{body}");
    let huge = format!(
        r#"{{"step":"image","status":"failed","log_tail":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let (status, body) = lab.post("report", &plan.token, &huge);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("64 KiB"), "{body}");
    assert_eq!(
        lab.store().get(MACHINE).expect("state").state,
        InstallState::Installing,
        "nothing refused changed the state"
    );
    // The progress is on the timeline, in bytes of the total.
    let events = lab.store().events(MACHINE, 50).expect("events");
    let steps: Vec<&str> = events
        .iter()
        .filter(|e| e.phase == Phase::DeployStep)
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "image started",
            "image progress 1048576/4194304 bytes (25%)"
        ]
    );
    let api = lab.admin(&format!("/api/v1/machines/{MACHINE}"));
    assert!(
        api.contains("image progress 1048576/4194304 bytes (25%)"),
        "{api}"
    );
}

#[test]
fn a_failed_step_leaves_the_machine_failed_with_its_reason_until_a_reinstall() {
    let lab = deploy_lab();
    let plan = lab.plan();
    let failed = r#"{"step":"image","status":"failed","message":"sha256 mismatch: expected 3f0c9e7c, got 9d1a2b3c","log_tail":"fetching http://10.0.0.3:8080/images/x.raw.zst\nwrote 4194304 bytes\n<script>alert(1)</script>"}"#;
    let (status, body) = lab.post("report", &plan.token, failed);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"failed\""), "{body}");
    assert_eq!(
        lab.store().get(MACHINE).expect("state").state,
        InstallState::Failed
    );
    let page = lab.admin("/status");
    assert!(
        page.contains("<td class=\"state failed\">failed<br><small class=\"reason\">image failed: sha256 mismatch: expected 3f0c9e7c, got 9d1a2b3c</small>"),
        "{page}"
    );
    assert!(
        page.contains("wrote 4194304 bytes"),
        "the log tail on the timeline"
    );
    assert!(
        !page.contains("<script>alert") && page.contains("&lt;script&gt;"),
        "escaped"
    );
    let api = lab.admin(&format!("/api/v1/machines/{MACHINE}"));
    let doc: serde_json::Value = serde_json::from_str(&api).expect("json");
    assert_eq!(doc["state"], "failed");
    assert!(
        doc["failure"]
            .as_str()
            .is_some_and(|f| f.starts_with("image failed: sha256 mismatch")),
        "{doc}"
    );
    // The public summary counts it.
    let (_, summary) = lab.get(OWNER, "/status", &[]);
    assert!(summary.contains("<td class=\"failed\">1</td>"), "{summary}");
    // The installed callback is not made by a failed agent, and its boot plan still
    // installs: a reinstall starts a new generation, and the old token is stale.
    let bearer = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let reinstall = lab.server.url(&format!("/api/v1/machines/{MAC}/reinstall"));
    assert_eq!(
        curl_status(&["-X", "POST", "-H", &bearer, &reinstall], &lab.out),
        200
    );
    let (status, _) = lab.post("report", &plan.token, r#"{"step":"plan","status":"done"}"#);
    assert_eq!(status, 401, "a token of the earlier generation");
    let again = lab.plan();
    assert_ne!(again.token, plan.token);
    assert_eq!(
        lab.post("report", &again.token, r#"{"step":"plan","status":"done"}"#)
            .0,
        200
    );
}

#[test]
fn installed_then_first_boot_once() {
    let lab = deploy_lab();
    let plan = lab.plan();
    // Not before the install is over.
    assert_eq!(lab.post("booted", &plan.token, "").0, 401);
    let (status, body) = lab.post("installed", &plan.token, "");
    assert_eq!(status, 200, "{body}");
    // The install is over: reports are refused, the first boot is taken once.
    assert_eq!(
        lab.post(
            "report",
            &plan.token,
            r#"{"step":"finish","status":"done"}"#
        )
        .0,
        401
    );
    let (status, body) = lab.post("booted", &plan.token, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(lab.post("booted", &plan.token, "").0, 401, "only once");
    let api = lab.admin(&format!("/api/v1/machines/{MACHINE}"));
    let doc: serde_json::Value = serde_json::from_str(&api).expect("json");
    assert_eq!(doc["state"], "installed");
    assert!(doc["milestones"]["deploy_plan"].is_string(), "{doc}");
    assert!(doc["milestones"]["first_boot"].is_string(), "{doc}");
    assert!(doc["milestones"]["installed"].is_string(), "{doc}");
}

/// Unix time in milliseconds, as the server's clock reads it.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// Milliseconds in a stage document's field, or a panic naming it.
fn ms(stage: &serde_json::Value, field: &str) -> u64 {
    stage[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {stage}"))
}

#[test]
fn the_timeline_shows_the_install_stage_by_stage_with_durations() {
    use pxe_model::state::BootEvent;
    use pxe_model::timeline::human_ms;
    let lab = deploy_lab();
    // dhcpd and tftpd write the same state directory: a boot 30 s ago, as they record it.
    let store = lab.store();
    let t0 = now_ms() - 30_000;
    for (at, phase, detail) in [
        (
            t0,
            Phase::Dhcp,
            "DHCPACK 127.0.0.1 to 52:54:00:de:01:02 pxelinux.0",
        ),
        (t0 + 150, Phase::Tftp, "pxelinux.0 (42480 bytes)"),
        (
            t0 + 300,
            Phase::Tftp,
            "pxelinux.cfg/01-52-54-00-de-01-02 (190 bytes)",
        ),
        (
            t0 + 2_000,
            Phase::Tftp,
            "trees/pxe-deploy/vmlinuz (8193984 bytes)",
        ),
        (
            t0 + 4_000,
            Phase::Tftp,
            "trees/pxe-deploy/initrd.img (13954321 bytes)",
        ),
        (
            t0 + 20_000,
            Phase::Dhcp,
            "DHCPACK 127.0.0.1 to 52:54:00:de:01:02",
        ),
    ] {
        let detail = detail.to_owned();
        store
            .record(MACHINE, &BootEvent { at, phase, detail })
            .expect("record");
    }
    let plan = lab.plan();
    let report = |body: &str| {
        let (status, text) = lab.post("report", &plan.token, body);
        assert_eq!(status, 200, "{body}: {text}");
    };
    report(r#"{"step":"plan","status":"done"}"#);
    let image_started = now_ms();
    report(r#"{"step":"image","status":"started"}"#);
    report(r#"{"step":"image","status":"progress","done_bytes":0,"total_bytes":4194304}"#);
    std::thread::sleep(std::time::Duration::from_millis(400));
    report(r#"{"step":"image","status":"progress","done_bytes":2097152,"total_bytes":4194304}"#);
    // Half written, still running: the API and the page say so.
    let api = lab.admin(&format!("/api/v1/machines/{MAC}"));
    let doc: serde_json::Value = serde_json::from_str(&api).expect("json");
    let stages = doc["install"]["stages"].as_array().expect("stages");
    let last = stages.last().expect("a stage");
    assert_eq!(last["stage"], "deploy_step", "{last}");
    assert_eq!(last["step"], "image");
    assert_eq!(last["running"], true);
    assert_eq!(last["percent"], 50);
    assert_eq!(last["done_bytes"], 2_097_152);
    assert!(ms(last, "took_ms") >= 400, "{last}");
    let page = lab.admin("/status");
    assert!(
        page.contains("deploy: image progress, 2.0 MiB of 4.0 MiB (50%) <small>running for "),
        "{page}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    report(r#"{"step":"image","status":"progress","done_bytes":4194304,"total_bytes":4194304}"#);
    report(r#"{"step":"image","status":"done"}"#);
    let image_done = now_ms();
    report(r#"{"step":"finish","status":"started"}"#);
    assert_eq!(lab.post("installed", &plan.token, "").0, 200);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(lab.post("booted", &plan.token, "").0, 200);

    let api = lab.admin(&format!("/api/v1/machines/{MAC}"));
    let doc: serde_json::Value = serde_json::from_str(&api).expect("json");
    let install = &doc["install"];
    let labels: Vec<&str> = install["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["label"].as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "DHCP",
            "loader",
            "kernel",
            "deploy plan",
            "deploy: plan",
            "deploy: image",
            "deploy: finish",
            "installed",
            "first boot"
        ],
        "{install}"
    );
    let stage = |i: usize| &install["stages"][i];
    assert_eq!(
        stage(0)["detail"],
        "DHCPACK 127.0.0.1 to 52:54:00:de:01:02 pxelinux.0"
    );
    assert_eq!(stage(0)["took_ms"], 150);
    assert_eq!(stage(1)["detail"], "pxelinux.0 (42480 bytes)");
    assert_eq!(stage(2)["since_start_ms"], 2_000);
    assert!(ms(stage(3), "since_start_ms") >= 30_000, "{}", stage(3));
    let image = stage(5);
    assert_eq!(image["status"], "done");
    assert_eq!(image["done_bytes"], 4_194_304);
    assert_eq!(image["total_bytes"], 4_194_304);
    assert_eq!(image["running"], false);
    let took = ms(image, "took_ms");
    assert!(
        (700..=image_done - image_started).contains(&took),
        "image took {took} ms, measured at most {} ms",
        image_done - image_started
    );
    assert!(
        ms(stage(7), "took_ms") >= 200,
        "installed until the first boot"
    );
    assert_eq!(stage(8)["took_ms"], serde_json::Value::Null);
    assert!(ms(install, "install_ms") >= 30_000);
    assert!(ms(install, "to_first_boot_ms") > ms(install, "install_ms"));
    assert_eq!(doc["milestones"]["deploy_step"]["step"], "finish");

    let page = lab.admin("/status");
    let totals = format!(
        "installed {} after the first event, first boot after {}.",
        human_ms(ms(install, "install_ms")),
        human_ms(ms(install, "to_first_boot_ms"))
    );
    for want in [
        "<tr class=\"stage deploy-image\"><td>deploy: image done</td>",
        "<td class=\"bytes\">4.0 MiB of 4.0 MiB (100%)</td>",
        "<td>+2.0 s</td>",
        &totals,
    ] {
        assert!(page.contains(want), "{want} in {page}");
    }
    // Who may see it: the machine list and timelines need a token, as before.
    let (status, body) = lab.get(OWNER, &format!("/api/v1/machines/{MAC}"), &[]);
    assert_eq!(status, 401, "{body}");
    let (status, summary) = lab.get(STRANGER, "/status", &[]);
    assert_eq!(status, 200);
    for hidden in [MACHINE, "deploy: image", "4.0 MiB", "pxelinux.0"] {
        assert!(!summary.contains(hidden), "{hidden} in {summary}");
    }
}
