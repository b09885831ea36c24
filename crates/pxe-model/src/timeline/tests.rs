//! Tests of `timeline::build`: a deploy from DHCP to the first boot with its durations, a
//! running step, a failed one, which events are the install, and the JSON document.

use super::*;
use crate::state::Transition;

fn ev(at: u64, phase: Phase, detail: &str) -> BootEvent {
    BootEvent {
        at,
        phase,
        detail: detail.into(),
    }
}

fn step(at: u64, step: Step, status: StepStatus, bytes: Option<(u64, u64)>) -> BootEvent {
    let r = Report {
        step,
        status,
        done_bytes: bytes.map(|b| b.0),
        total_bytes: bytes.map(|b| b.1),
        message: String::new(),
        log_tail: String::new(),
    };
    let phase = if status == StepStatus::Failed {
        Phase::DeployFailed
    } else {
        Phase::DeployStep
    };
    ev(at, phase, &r.timeline_detail())
}

fn distro() -> Distro {
    let text = "servers: {tftp: 10.0.0.2, http: \"http://h\"}\ndistros:\n  agent: {family: debian, tree: /srv/agent, kernel: vmlinuz, initrd: initrd.img}\n";
    let inv = crate::load_str("t.yaml", text, std::path::Path::new(".")).expect("loads");
    inv.distros["agent"].clone()
}

fn state(events: &[(StateEvent, u64)]) -> MachineState {
    let mut s = MachineState::default();
    for (e, at) in events {
        s.apply(*e, *at);
    }
    s
}

/// `(stage label, since start, took, running)` of each stage.
fn summary(i: &Install) -> Vec<(String, u64, Option<u64>, bool)> {
    i.stages
        .iter()
        .map(|s| (s.stage.label(), s.since_start_ms, s.took_ms, s.running))
        .collect()
}

fn s(
    label: &str,
    since: u64,
    took: Option<u64>,
    running: bool,
) -> (String, u64, Option<u64>, bool) {
    (label.to_owned(), since, took, running)
}

/// A deploy as the lab's install-image-bios records it: the initramfs asks DHCP again,
/// the image is reported in progress, and the machine reboots to a local-boot menu.
fn deploy_install() -> Vec<BootEvent> {
    use Step::*;
    use StepStatus::*;
    vec![
        ev(1_000, Phase::Dhcp, "DHCPACK 10.0.0.50 pxelinux.0"),
        // As tftpd writes them.
        ev(1_100, Phase::Tftp, "pxelinux.0 (42480 bytes)"),
        ev(
            1_200,
            Phase::Tftp,
            "pxelinux.cfg/01-52-54-00-12-34-56 (210 bytes)",
        ),
        ev(2_000, Phase::Tftp, "trees/agent/vmlinuz (8193984 bytes)"),
        ev(
            2_500,
            Phase::Tftp,
            "trees/agent/initrd.img (13954321 bytes)",
        ),
        ev(8_000, Phase::Dhcp, "DHCPACK 10.0.0.50"),
        ev(9_000, Phase::DeployPlan, "/deploy/52:54:00:12:34:56"),
        step(9_010, Plan, Done, None),
        step(9_100, Image, Started, None),
        step(9_100, Image, Progress, Some((0, 400))),
        step(11_100, Image, Progress, Some((200, 400))),
        ev(11_200, Phase::Http, "/images/debian12.raw.zst"),
        step(13_100, Image, Progress, Some((400, 400))),
        step(13_200, Image, Done, None),
        step(13_300, Grow, Started, None),
        step(14_300, Grow, Done, None),
        step(14_400, Finish, Started, None),
        ev(15_500, Phase::Installed, "installer reported completion"),
        ev(40_000, Phase::Dhcp, "DHCPACK 10.0.0.50 pxelinux.0"),
        ev(40_100, Phase::Tftp, "pxelinux.0"),
        ev(40_200, Phase::Tftp, "pxelinux.cfg/01-52-54-00-12-34-56"),
        ev(70_000, Phase::FirstBoot, "installed system booted"),
    ]
}

#[test]
fn a_deploy_from_dhcp_to_first_boot_with_durations() {
    let d = distro();
    let st = state(&[
        (StateEvent::AnswerFetched, 9_000),
        (StateEvent::Installed, 15_500),
        (StateEvent::Booted, 70_000),
    ]);
    let i = build(&deploy_install(), &st, Some(&d), 99_999);
    assert_eq!(
        summary(&i),
        vec![
            s("DHCP", 0, Some(100), false),
            s("loader", 100, Some(900), false),
            s("kernel", 1_000, Some(7_000), false),
            s("deploy plan", 8_000, Some(10), false),
            s("deploy: plan", 8_010, Some(0), false),
            s("deploy: image", 8_100, Some(4_100), false),
            s("deploy: grow", 12_300, Some(1_000), false),
            s("deploy: finish", 13_400, Some(1_100), false),
            s("installed", 14_500, Some(54_500), false),
            s("first boot", 69_000, None, false),
        ]
    );
    assert_eq!(i.start, Some(1_000));
    assert_eq!(i.install_ms, Some(14_500));
    assert_eq!(i.to_first_boot_ms, Some(69_000));
    let image = i.stage(Stage::DeployStep(Step::Image)).expect("image step");
    assert_eq!(
        (image.done_bytes, image.total_bytes),
        (Some(400), Some(400))
    );
    assert_eq!(image.percent(), Some(100));
    assert_eq!(image.status, Some(StepStatus::Done));
    assert_eq!(
        i.stage(Stage::Loader).map(|l| l.detail.as_str()),
        Some("pxelinux.0 (42480 bytes)")
    );
    assert_eq!(
        i.stage(Stage::Dhcp).map(|l| l.detail.as_str()),
        Some("DHCPACK 10.0.0.50 pxelinux.0"),
        "the boot's first exchange, not the initramfs's nor the reboot's"
    );
}

#[test]
fn a_running_install_shows_its_progress_and_how_long_the_step_has_run() {
    let d = distro();
    let events: Vec<BootEvent> = deploy_install().into_iter().take(11).collect();
    let st = state(&[(StateEvent::AnswerFetched, 9_000)]);
    let i = build(&events, &st, Some(&d), 12_100);
    let image = i.last_step().expect("a step");
    assert_eq!(image.stage, Stage::DeployStep(Step::Image));
    assert!(image.running);
    assert_eq!(image.took_ms, Some(3_000), "from its start to now");
    assert_eq!(
        (image.done_bytes, image.total_bytes),
        (Some(200), Some(400))
    );
    assert_eq!(image.percent(), Some(50));
    assert_eq!(i.install_ms, None);
    assert_eq!(
        i.stages.iter().filter(|s| s.running).count(),
        1,
        "only the last stage runs"
    );
}

#[test]
fn a_failed_step_ends_the_install_and_nothing_runs() {
    let d = distro();
    let mut events: Vec<BootEvent> = deploy_install().into_iter().take(11).collect();
    let failed = Report {
        step: Step::Image,
        status: StepStatus::Failed,
        done_bytes: None,
        total_bytes: None,
        message: "sha256 mismatch: expected 3f0c, got 9d1a".into(),
        log_tail: "wrote 200 bytes".into(),
    };
    events.push(ev(12_000, Phase::DeployFailed, &failed.timeline_detail()));
    let st = state(&[
        (StateEvent::AnswerFetched, 9_000),
        (StateEvent::Failed, 12_000),
    ]);
    let i = build(&events, &st, Some(&d), 50_000);
    let image = i.last_step().expect("a step");
    assert_eq!(image.status, Some(StepStatus::Failed));
    assert_eq!(image.took_ms, Some(2_900));
    assert_eq!(image.detail, "sha256 mismatch: expected 3f0c, got 9d1a");
    assert_eq!(
        (image.done_bytes, image.total_bytes),
        (Some(200), Some(400))
    );
    assert!(i.stages.iter().all(|s| !s.running));
    assert_eq!(failure(&events, &st), Some(events[11].detail.as_str()));
    let mut again = st.clone();
    again.apply(StateEvent::Reinstall, 13_000);
    assert_eq!(failure(&events, &again), None, "a reinstall clears it");
    let running = state(&[(StateEvent::AnswerFetched, 9_000)]);
    assert_eq!(failure(&events, &running), None, "not failed");
}

#[test]
fn earlier_boots_and_attempts_are_history() {
    let d = distro();
    let mut events = vec![
        // A boot before the reinstall, then one that got its kernel and stopped.
        ev(10, Phase::Dhcp, "old"),
        ev(11, Phase::DeployPlan, "/deploy/x"),
        ev(12, Phase::Reinstall, "admin"),
        ev(100, Phase::Dhcp, "aborted boot"),
        ev(101, Phase::Tftp, "pxelinux.0"),
        ev(102, Phase::Tftp, "vmlinuz"),
        // iPXE: the ROM's exchange, then iPXE's own; the install counts from the first.
        ev(500, Phase::Dhcp, "ROM"),
        ev(501, Phase::Tftp, "undionly.kpxe"),
        ev(502, Phase::Dhcp, "iPXE"),
        ev(503, Phase::Http, "/boot/52:54:00:12:34:56.ipxe"),
        ev(504, Phase::Http, "/trees/agent/vmlinuz"),
        ev(505, Phase::Http, "/trees/agent/initrd.img"),
        ev(600, Phase::DeployPlan, "/deploy/52:54:00:12:34:56"),
    ];
    let st = state(&[(StateEvent::AnswerFetched, 600)]);
    let i = build(&events, &st, Some(&d), 600);
    assert_eq!(
        summary(&i),
        vec![
            s("DHCP", 0, Some(1), false),
            s("loader", 1, Some(3), false),
            s("kernel", 4, Some(96), false),
            s("deploy plan", 100, Some(0), true),
        ]
    );
    assert_eq!(i.stage(Stage::Dhcp).map(|e| e.detail.as_str()), Some("ROM"));
    // A reinstall: the next install has not begun; its boot is shown as it comes.
    events.push(ev(700, Phase::Reinstall, "admin"));
    events.push(ev(800, Phase::Dhcp, "new"));
    let st = state(&[
        (StateEvent::AnswerFetched, 600),
        (StateEvent::Reinstall, 700),
    ]);
    let i = build(&events, &st, Some(&d), 1_000);
    assert_eq!(summary(&i), vec![s("DHCP", 0, Some(200), true)]);
    assert_eq!(
        build(&[], &MachineState::default(), None, 5),
        Install::default()
    );
}

#[test]
fn a_classic_install_without_dhcp_and_a_trimmed_timeline() {
    let d = distro();
    // Another DHCP server: nothing from DHCP; the answer file starts the installer.
    let events = vec![
        ev(5, Phase::Tftp, "pxelinux.0"),
        ev(7, Phase::Tftp, "vmlinuz"),
        ev(9, Phase::AnswerFile, "/ks/52:54:00:12:34:56"),
        ev(60, Phase::Installed, "installer reported completion"),
    ];
    let st = state(&[(StateEvent::AnswerFetched, 9), (StateEvent::Installed, 60)]);
    let i = build(&events, &st, Some(&d), 1_000);
    assert_eq!(
        summary(&i),
        vec![
            s("loader", 0, Some(2), false),
            s("kernel", 2, Some(2), false),
            s("answer file", 4, Some(51), false),
            s("installed", 55, None, false),
        ]
    );
    // The timeline was cut: the state history still says when it installed and booted.
    let mut st = MachineState {
        state: InstallState::Installed,
        since: 99,
        booted: Some(150),
        ..MachineState::default()
    };
    st.history.push(Transition {
        from: InstallState::Installing,
        to: InstallState::Installed,
        event: StateEvent::Installed,
        at: 42,
    });
    let i = build(&[], &st, Some(&d), 1_000);
    assert_eq!(
        summary(&i),
        vec![
            s("installed", 0, Some(108), false),
            s("first boot", 108, None, false)
        ]
    );
}

#[test]
fn the_json_document_names_stage_and_step() {
    let d = distro();
    let st = state(&[(StateEvent::AnswerFetched, 9_000)]);
    let events: Vec<BootEvent> = deploy_install().into_iter().take(11).collect();
    let v = serde_json::to_value(build(&events, &st, Some(&d), 12_100)).expect("json");
    assert_eq!(v["stages"][0]["stage"], "dhcp");
    assert_eq!(v["stages"][5]["stage"], "deploy_step");
    assert_eq!(v["stages"][5]["step"], "image");
    assert_eq!(v["stages"][5]["done_bytes"], 200);
    assert_eq!(v["stages"][5]["total_bytes"], 400);
    assert_eq!(v["stages"][5]["running"], true);
    assert!(v["stages"][0].get("done_bytes").is_none());
}

#[test]
fn durations_and_sizes_read_as_people_write_them() {
    assert_eq!(human_ms(850), "850 ms");
    assert_eq!(human_ms(12_400), "12.4 s");
    assert_eq!(human_ms(185_000), "3 min 05 s");
    assert_eq!(human_ms(7_380_000), "2 h 03 min");
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(40 << 20), "40.0 MiB");
    assert_eq!(human_bytes(3 << 30), "3.0 GiB");
}
