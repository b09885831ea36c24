//! The deploy plan: what the deploy agent (`pxe-deploy`) does on one machine, as JSON,
//! and the reports it sends back while it does it.
//!
//! httpd-tree renders a plan per machine from its profile's `deploy` section
//! ([`render`]) and serves it only to that machine, like an answer file; the plan
//! carries the machine's callback token, which the agent sends back in the
//! `Authorization` header of every [`Report`], never in a URL.

use crate::deploy::{Deploy, Disk, Image, Packages, Source, User};
use crate::inventory::{Inventory, Machine};
use crate::urls::{self, Action, Endpoint};
use serde::{Deserialize, Serialize};

/// The plan format's version; an agent refuses a plan of another version.
pub const PLAN_VERSION: u32 = 1;
/// The largest report body httpd-tree reads, in bytes.
pub const MAX_REPORT_BYTES: usize = 64 * 1024;
/// How much of a log tail the timeline keeps, in bytes (the end of it).
pub const LOG_TAIL_KEPT: usize = 4096;

/// One machine's deploy plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployPlan {
    pub version: u32,
    /// The machine's name in the inventory.
    pub machine: String,
    pub hostname: String,
    pub network: Network,
    pub source: Source,
    pub disk: Disk,
    pub users: Vec<User>,
    /// A shell script run in the installed system last; empty: none.
    pub post: String,
    pub urls: PlanUrls,
    /// The machine's callback token for this install generation (send it as
    /// `Authorization: Bearer`).
    pub token: String,
}

/// How the installed system reaches the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The MAC of the interface to configure (the machine's first).
    pub mac: String,
    /// The fixed IPv4 address; `None`: DHCP (dhcpd hands it out anyway).
    pub address: Option<String>,
}

/// Where the agent reports to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanUrls {
    /// `POST` a [`Report`] for each step and its progress.
    pub report: String,
    /// `POST` when the install is complete (the same callback installers make).
    pub installed: String,
    /// `POST` from the installed system's first boot.
    pub booted: String,
}

/// A step of a deploy, in the order the agent runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The plan was fetched and checked.
    Plan,
    /// The image is written to the disk.
    Image,
    /// The last partition and its file system grow to the disk.
    Grow,
    /// The disk is partitioned and formatted (packages mode).
    Partition,
    /// debootstrap builds the system (packages mode).
    Debootstrap,
    /// The kernel and GRUB are installed (packages mode).
    Bootloader,
    /// Hostname, network, users and keys.
    Configure,
    /// The profile's post-install script.
    Post,
    /// The first-boot unit that reports back.
    FirstBoot,
    /// The install-complete callback and the reboot.
    Finish,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Plan => "plan",
            Step::Image => "image",
            Step::Grow => "grow",
            Step::Partition => "partition",
            Step::Debootstrap => "debootstrap",
            Step::Bootloader => "bootloader",
            Step::Configure => "configure",
            Step::Post => "post",
            Step::FirstBoot => "first_boot",
            Step::Finish => "finish",
        }
    }

    /// The step named `name` ([`Step::as_str`]'s inverse).
    pub fn parse(name: &str) -> Option<Step> {
        STEPS.iter().copied().find(|s| s.as_str() == name)
    }
}

/// Every step, in the order the agent runs them.
pub const STEPS: [Step; 10] = [
    Step::Plan,
    Step::Image,
    Step::Grow,
    Step::Partition,
    Step::Debootstrap,
    Step::Bootloader,
    Step::Configure,
    Step::Post,
    Step::FirstBoot,
    Step::Finish,
];

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    /// Bytes written so far (`done_bytes` of `total_bytes`).
    Progress,
    Done,
    /// The deploy stops here: the machine becomes `failed`.
    Failed,
}

/// What the agent reports: a step's start, progress, end or failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub step: Step,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    /// One line: what happened (for a failure, why).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The end of the step's log (for a failure).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_tail: String,
}

/// The marker between a timeline entry's first line and the log tail of a failure.
const LOG_TAIL_MARK: &str = "\n--- log tail ---\n";

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Started => "started",
            StepStatus::Progress => "progress",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Option<StepStatus> {
        [
            StepStatus::Started,
            StepStatus::Progress,
            StepStatus::Done,
            StepStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

impl Report {
    /// The timeline entry's text: `image progress 1048576/4194304 bytes (25%)`,
    /// `image failed: sha256 mismatch ...`, with the end of the log tail.
    pub fn timeline_detail(&self) -> String {
        let mut s = format!("{} {}", self.step.as_str(), self.status.as_str());
        match (self.done_bytes, self.total_bytes) {
            (Some(done), Some(total)) if total > 0 => s.push_str(&format!(
                " {done}/{total} bytes ({}%)",
                done.saturating_mul(100) / total
            )),
            (Some(done), _) => s.push_str(&format!(" {done} bytes")),
            _ => {}
        }
        let message = one_line(&self.message);
        if !message.is_empty() {
            s.push_str(": ");
            s.push_str(&message);
        }
        if !self.log_tail.is_empty() {
            s.push_str(LOG_TAIL_MARK);
            s.push_str(tail(&self.log_tail, LOG_TAIL_KEPT));
        }
        s
    }

    /// The report a timeline entry was written from ([`Report::timeline_detail`]'s
    /// inverse, up to what the entry keeps: the message on one line, the end of the log).
    /// `None` when the entry is not a report's.
    pub fn from_timeline_detail(detail: &str) -> Option<Report> {
        let (line, log_tail) = match detail.split_once(LOG_TAIL_MARK) {
            Some((line, tail)) => (line, tail.to_owned()),
            None => (detail, String::new()),
        };
        let (head, message) = match line.split_once(": ") {
            Some((head, message)) => (head, message.to_owned()),
            None => (line, String::new()),
        };
        let mut words = head.split(' ');
        let step = Step::parse(words.next()?)?;
        let status = StepStatus::parse(words.next()?)?;
        let (done_bytes, total_bytes) = match (words.next(), words.next(), words.next()) {
            (None, _, _) => (None, None),
            (Some(n), Some("bytes"), None) => (Some(n.parse().ok()?), None),
            (Some(pair), Some("bytes"), Some(_percent)) => {
                let (done, total) = pair.split_once('/')?;
                (Some(done.parse().ok()?), Some(total.parse().ok()?))
            }
            _ => return None,
        };
        if words.next().is_some() {
            return None;
        }
        Some(Report {
            step,
            status,
            done_bytes,
            total_bytes,
            message,
            log_tail,
        })
    }
}

/// The text on one line, control characters replaced, at most 300 characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A URL written as `/path` is on httpd-tree.
fn absolute(inv: &Inventory, url: &str) -> String {
    if url.starts_with('/') {
        format!("{}{url}", inv.servers.http)
    } else {
        url.to_owned()
    }
}

/// The plan of `machine`, installed as `deploy` says, with its callback token.
pub fn render(inv: &Inventory, machine: &Machine, deploy: &Deploy, token: &str) -> DeployPlan {
    let mac = urls::primary_mac(machine).colon();
    let source = match &deploy.source {
        Source::Image(i) => Source::Image(Image {
            url: absolute(inv, &i.url),
            ..i.clone()
        }),
        Source::Packages(p) => Source::Packages(Packages {
            mirror: absolute(inv, &p.mirror),
            keyring: p.keyring.as_deref().map(|k| absolute(inv, k)),
            ..p.clone()
        }),
    };
    let callback = |action| Endpoint::Callback { key: &mac, action }.url(inv);
    DeployPlan {
        version: PLAN_VERSION,
        machine: machine.name.clone(),
        hostname: machine.hostname.clone(),
        network: Network {
            mac: mac.clone(),
            address: machine.address.map(|a| a.to_string()),
        },
        source,
        disk: deploy.disk.clone(),
        users: deploy.users.clone(),
        post: deploy.post.clone(),
        urls: PlanUrls {
            report: callback(Action::Report),
            installed: callback(Action::Installed),
            booted: callback(Action::Booted),
        },
        token: token.to_owned(),
    }
}

/// URL of a machine's deploy plan (`pxe.plan=` on the deploy kernel's command line).
pub fn plan_url(inv: &Inventory, m: &Machine) -> String {
    Endpoint::DeployPlan {
        key: &urls::primary_mac(m).colon(),
    }
    .url(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_say_step_progress_and_reason() {
        let r = Report {
            step: Step::Image,
            status: StepStatus::Progress,
            done_bytes: Some(1 << 20),
            total_bytes: Some(4 << 20),
            message: String::new(),
            log_tail: String::new(),
        };
        assert_eq!(
            r.timeline_detail(),
            "image progress 1048576/4194304 bytes (25%)"
        );
        let f = Report {
            step: Step::Grow,
            status: StepStatus::Failed,
            done_bytes: None,
            total_bytes: None,
            message: "resize2fs exited 1\nsecond line".into(),
            log_tail: format!("{}END", "x".repeat(10_000)),
        };
        let d = f.timeline_detail();
        assert!(
            d.starts_with("grow failed: resize2fs exited 1 second line\n--- log tail ---\n"),
            "{d}"
        );
        assert!(
            d.ends_with("END") && d.len() < LOG_TAIL_KEPT + 100,
            "{}",
            d.len()
        );
    }

    #[test]
    fn a_timeline_entry_gives_its_report_back() {
        let reports = [
            Report {
                step: Step::Image,
                status: StepStatus::Progress,
                done_bytes: Some(1 << 20),
                total_bytes: Some(4 << 20),
                message: String::new(),
                log_tail: String::new(),
            },
            Report {
                step: Step::FirstBoot,
                status: StepStatus::Done,
                done_bytes: Some(7),
                total_bytes: None,
                message: "unit installed: pxe-firstboot.service".into(),
                log_tail: String::new(),
            },
            Report {
                step: Step::Grow,
                status: StepStatus::Failed,
                done_bytes: None,
                total_bytes: None,
                message: "resize2fs exited 1: bad superblock".into(),
                log_tail: "line one\nline two: x".into(),
            },
            // A total of 0 is written without it, and read back so.
            Report {
                step: Step::Plan,
                status: StepStatus::Started,
                done_bytes: Some(0),
                total_bytes: None,
                message: String::new(),
                log_tail: String::new(),
            },
        ];
        for r in reports {
            let detail = r.timeline_detail();
            assert_eq!(
                Report::from_timeline_detail(&detail).as_ref(),
                Some(&r),
                "{detail}"
            );
        }
        for other in [
            "",
            "DHCPACK 10.0.0.50",
            "pxelinux.0",
            "image",
            "disk started",
            "image begun",
            "image progress x/4 bytes (25%)",
            "image progress 1/4 bytes (25%) more",
            "image progress 1/4 (25%)",
        ] {
            assert_eq!(Report::from_timeline_detail(other), None, "{other:?}");
        }
        for s in STEPS {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn tails_cut_at_characters() {
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(tail("abc", 10), "abc");
    }

    #[test]
    fn reports_with_unknown_fields_are_refused() {
        let ok: Result<Report, _> = serde_json::from_str(r#"{"step":"image","status":"started"}"#);
        assert!(ok.is_ok());
        let bad: Result<Report, _> =
            serde_json::from_str(r#"{"step":"image","status":"started","extra":1}"#);
        assert!(bad.is_err());
        let bad: Result<Report, _> = serde_json::from_str(r#"{"step":"disk","status":"started"}"#);
        assert!(bad.is_err());
    }
}
