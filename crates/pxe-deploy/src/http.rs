//! HTTP to httpd-tree and mirrors: the plan, the image, and reports back.

use pxe_model::deploy_plan::{DeployPlan, PLAN_VERSION, Report, Step, StepStatus};
use std::io::Read;
use std::time::{Duration, Instant};

/// How long a connection may take to open, and a read may stall.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Progress is reported at most this often (the first and the last always).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("GET {url}: {status} {text}")]
    Status {
        url: String,
        status: u16,
        text: String,
    },
    #[error("GET {url}: {message}")]
    Transport { url: String, message: String },
    #[error("the plan at {url} is not a deploy plan: {message}")]
    BadPlan { url: String, message: String },
}

/// An HTTP client with the agent's timeouts.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(READ_TIMEOUT)
        .build()
}

fn get(agent: &ureq::Agent, url: &str) -> Result<ureq::Response, FetchError> {
    if !url.starts_with("http://") {
        return Err(FetchError::Transport {
            url: url.to_owned(),
            message: "the deploy agent speaks plain HTTP only (no TLS in the initramfs): \
                      serve the image from httpd-tree (`httpd-tree import`) or an http:// \
                      mirror, and check it with the plan's sha256"
                .to_owned(),
        });
    }
    match agent.get(url).call() {
        Ok(r) => Ok(r),
        Err(ureq::Error::Status(status, r)) => {
            let text: String = r
                .into_string()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            Err(FetchError::Status {
                url: url.to_owned(),
                status,
                text: text.trim().to_owned(),
            })
        }
        Err(e) => Err(FetchError::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        }),
    }
}

/// Fetches and reads the machine's plan; refuses another version of the format.
pub fn fetch_plan(agent: &ureq::Agent, url: &str) -> Result<DeployPlan, FetchError> {
    let text = get(agent, url)?
        .into_string()
        .map_err(|e| FetchError::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
    parse_plan(&text).map_err(|message| FetchError::BadPlan {
        url: url.to_owned(),
        message,
    })
}

/// Reads a plan's JSON; refuses another version of the format (checked first, so that a
/// newer plan says so rather than failing on a field this agent does not know).
pub fn parse_plan(text: &str) -> Result<DeployPlan, String> {
    let version = serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| e.to_string())?
        .get("version")
        .and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if v == u64::from(PLAN_VERSION) => {}
        Some(v) => return Err(format!("version {v}, this agent reads {PLAN_VERSION}")),
        None => return Err("no \"version\"".to_owned()),
    }
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Opens an image for reading: the body and its length, if the server said.
pub fn open(
    agent: &ureq::Agent,
    url: &str,
) -> Result<(Box<dyn Read + Send>, Option<u64>), FetchError> {
    let r = get(agent, url)?;
    let len = r
        .header("Content-Length")
        .and_then(|v| v.trim().parse().ok());
    Ok((r.into_reader(), len))
}

/// The most of a failure's message that is sent (characters).
pub const MESSAGE_CHARS: usize = 2000;
/// The most a failure report may take as JSON: half of what httpd-tree reads, so that
/// escaped control characters cannot push it over.
pub const FAILURE_REPORT_BYTES: usize = pxe_model::deploy_plan::MAX_REPORT_BYTES / 2;

/// A failure report with the end of the log: as much of it as fits in
/// [`FAILURE_REPORT_BYTES`] of JSON, always its newest lines.
pub fn failure_report(step: Step, message: &str, log: &str) -> Report {
    let mut r = Report {
        step,
        status: StepStatus::Failed,
        done_bytes: None,
        total_bytes: None,
        message: message.chars().take(MESSAGE_CHARS).collect(),
        log_tail: String::new(),
    };
    let json_len = |r: &Report| serde_json::to_string(r).map_or(usize::MAX, |j| j.len());
    let room = FAILURE_REPORT_BYTES.saturating_sub(json_len(&r));
    let mut keep = room;
    loop {
        r.log_tail = pxe_model::deploy_plan::tail(log, keep).to_owned();
        let size = json_len(&r);
        if size <= FAILURE_REPORT_BYTES || r.log_tail.is_empty() {
            return r;
        }
        keep = shrink(r.log_tail.len(), size - (FAILURE_REPORT_BYTES - room), room);
    }
}

/// How many bytes of a tail of `len` bytes, `json` bytes once escaped, to keep for
/// `room` bytes of JSON: in proportion, and always fewer than before.
fn shrink(len: usize, json: usize, room: usize) -> usize {
    let scaled = (len as u128 * room as u128 / json.max(1) as u128) as usize;
    scaled.min(len.saturating_sub(1))
}

/// Sends reports to httpd-tree with the machine's token; progress is thinned out.
pub struct Reporter {
    agent: ureq::Agent,
    report_url: String,
    token: String,
    last_progress: Option<Instant>,
}

impl Reporter {
    pub fn new(agent: ureq::Agent, plan: &DeployPlan) -> Reporter {
        Reporter {
            agent,
            report_url: plan.urls.report.clone(),
            token: plan.token.clone(),
            last_progress: None,
        }
    }

    /// POSTs a JSON body (empty: no body) with the token; the error says what went wrong.
    pub fn post(&self, url: &str, body: Option<&Report>) -> Result<(), String> {
        let req = self
            .agent
            .post(url)
            .set("Authorization", &format!("Bearer {}", self.token));
        let result = match body {
            Some(r) => req.send_json(r),
            None => req.send_string(""),
        };
        match result {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(status, r)) => Err(format!(
                "POST {url}: {status} {}",
                r.into_string().unwrap_or_default().trim()
            )),
            Err(e) => Err(format!("POST {url}: {e}")),
        }
    }

    /// Reports a step's change; a report that cannot be sent is logged, not fatal.
    pub fn step(&mut self, step: Step, status: StepStatus, message: &str) {
        let r = Report {
            step,
            status,
            done_bytes: None,
            total_bytes: None,
            message: message.to_owned(),
            log_tail: String::new(),
        };
        self.send(&r);
    }

    /// Reports bytes done of the total, at most every [`PROGRESS_EVERY`] unless `last`.
    pub fn progress(&mut self, step: Step, done: u64, total: Option<u64>, last: bool) {
        let due = self
            .last_progress
            .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if !(due || last) {
            return;
        }
        self.last_progress = Some(Instant::now());
        let r = Report {
            step,
            status: StepStatus::Progress,
            done_bytes: Some(done),
            total_bytes: total,
            message: String::new(),
            log_tail: String::new(),
        };
        self.send(&r);
    }

    /// Reports a failure with the end of the log; retried, since it matters most.
    pub fn failed(&mut self, step: Step, message: &str, log_tail: &str) -> Result<(), String> {
        let r = failure_report(step, message, log_tail);
        let mut last = Ok(());
        for attempt in 0..5 {
            last = self.post(&self.report_url, Some(&r));
            if last.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1 << attempt));
        }
        last
    }

    fn send(&self, r: &Report) {
        if let Err(e) = self.post(&self.report_url, Some(r)) {
            eprintln!("pxe-deploy: report not sent: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plan_json() -> serde_json::Value {
        serde_json::to_value(crate::configure::tests::plan()).expect("a plan serialises")
    }

    #[test]
    fn reads_a_plan_of_its_version_only() {
        let good = plan_json();
        let plan = parse_plan(&good.to_string()).expect("the plan reads");
        assert_eq!(plan, crate::configure::tests::plan());
        let mut newer = good.clone();
        newer["version"] = 2.into();
        newer["something_new"] = true.into();
        let e = parse_plan(&newer.to_string()).expect_err("a newer plan");
        assert_eq!(e, "version 2, this agent reads 1");
        let mut unknown = good.clone();
        unknown["disk"]["sise"] = 3.into();
        let e = parse_plan(&unknown.to_string()).expect_err("an unknown field");
        assert!(e.contains("sise"), "{e}");
        let mut unknown = good.clone();
        unknown["tokn"] = "x".into();
        let e = parse_plan(&unknown.to_string()).expect_err("an unknown field");
        assert!(e.contains("tokn"), "{e}");
        let mut no_version = good;
        no_version
            .as_object_mut()
            .expect("an object")
            .remove("version");
        assert_eq!(
            parse_plan(&no_version.to_string()).expect_err("no version"),
            "no \"version\""
        );
        assert!(parse_plan("<html>404</html>").is_err());
        assert!(parse_plan("[1]").is_err());
    }

    #[test]
    fn only_plain_http_is_fetched() {
        let Err(e) = open(&agent(), "https://cloud.debian.org/images/x.raw") else {
            panic!("https was fetched");
        };
        let text = e.to_string();
        assert!(
            text.starts_with("GET https://cloud.debian.org/images/x.raw: "),
            "{text}"
        );
        assert!(text.contains("plain HTTP only"), "{text}");
        assert!(matches!(
            fetch_plan(&agent(), "ftp://h/p"),
            Err(FetchError::Transport { .. })
        ));
    }

    #[test]
    fn a_failure_report_carries_the_newest_log_lines() {
        let mut log = String::new();
        for i in 0..5000 {
            log.push_str(&format!("$ step {i}: something happened\n"));
        }
        let r = failure_report(Step::Grow, "growpart /dev/vda 1: exited 2", &log);
        assert_eq!(r.status, StepStatus::Failed);
        assert_eq!(r.message, "growpart /dev/vda 1: exited 2");
        assert!(r.log_tail.ends_with("$ step 4999: something happened\n"));
        assert!(!r.log_tail.contains("step 10:"), "the oldest lines go");
        assert!(r.log_tail.len() > 16 * 1024, "as much as fits");
        let json = serde_json::to_string(&r).expect("json");
        assert!(json.len() <= FAILURE_REPORT_BYTES, "{}", json.len());
        // What httpd-tree reads back.
        let back: Report = serde_json::from_str(&json).expect("a report");
        assert_eq!(back, r);
    }

    /// A log of `len` characters from `seed`: control characters (six bytes of JSON
    /// each), quotes, multi-byte characters and plain text, `escapes` percent of them
    /// the kind that grows when escaped.
    fn log_of(seed: u64, len: usize, escapes: u64) -> String {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match (x % 100 < escapes, x >> 60) {
                    (true, 0..=11) => char::from(((x >> 8) % 32) as u8),
                    (true, _) => '"',
                    (false, 0..=1) => 'é',
                    (false, 2) => '\u{1f600}',
                    (false, 3) => '\n',
                    (false, _) => char::from(b'a' + ((x >> 8) % 26) as u8),
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the log holds, the report fits what httpd-tree reads, its tail is the
        /// log's end, and no more of it was dropped than had to be.
        #[test]
        fn failure_reports_fit_the_servers_limit(
            seed in any::<u64>(),
            len in 0usize..60_000,
            escapes in 0u64..=100,
            message_len in 0usize..3000,
        ) {
            let log = log_of(seed, len, escapes);
            let message = log_of(!seed, message_len, escapes);
            let r = failure_report(Step::Image, &message, &log);
            let json = serde_json::to_string(&r).expect("json");
            prop_assert!(json.len() <= FAILURE_REPORT_BYTES);
            prop_assert!(log.ends_with(&r.log_tail));
            prop_assert!(message.starts_with(&r.message));
            prop_assert!(r.message.chars().count() <= MESSAGE_CHARS);
            if serde_json::to_string(&failure_report(Step::Image, &message, "")).map_or(0, |j| j.len())
                + 6 * 4 * 1024 <= FAILURE_REPORT_BYTES
            {
                prop_assert!(
                    r.log_tail.len() >= log.len().min(4 * 1024),
                    "at least 4 KiB of the log's end is kept whenever it fits"
                );
            }
        }
    }
}
