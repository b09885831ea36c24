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
    let plan: DeployPlan = serde_json::from_str(&text).map_err(|e| FetchError::BadPlan {
        url: url.to_owned(),
        message: e.to_string(),
    })?;
    if plan.version != PLAN_VERSION {
        return Err(FetchError::BadPlan {
            url: url.to_owned(),
            message: format!("version {}, this agent reads {PLAN_VERSION}", plan.version),
        });
    }
    Ok(plan)
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
        let r = Report {
            step,
            status: StepStatus::Failed,
            done_bytes: None,
            total_bytes: None,
            message: message.to_owned(),
            log_tail: pxe_model::deploy_plan::tail(log_tail, 16 * 1024).to_owned(),
        };
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
