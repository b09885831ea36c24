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
}

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

impl Report {
    /// The timeline entry's text: `image progress 1048576/4194304 bytes (25%)`,
    /// `image failed: sha256 mismatch ...`, with the end of the log tail.
    pub fn timeline_detail(&self) -> String {
        let status = match self.status {
            StepStatus::Started => "started",
            StepStatus::Progress => "progress",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
        };
        let mut s = format!("{} {status}", self.step.as_str());
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
            s.push_str("\n--- log tail ---\n");
            s.push_str(tail(&self.log_tail, LOG_TAIL_KEPT));
        }
        s
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
