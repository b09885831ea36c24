//! The API client: one blocking request at a time (ureq), the token in
//! `Authorization: Bearer`, and the API's refusals turned into [`Failure`]s that say what
//! the server said (its JSON `error` and `field`, or its plain text).

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Why a request did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with an error status (exit 1).
    Refused {
        status: u16,
        message: String,
        field: Option<String>,
    },
    /// No answer, or an answer that is not the API's (exit 2).
    Unreachable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused {
                status,
                message,
                field: Some(field),
            } => write!(f, "{status}: field `{field}`: {message}"),
            Failure::Refused {
                status, message, ..
            } => write!(f, "{status}: {message}"),
            Failure::Unreachable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Failure {}

/// A server and the token to present.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// `server` is httpd-tree's base URL; `token_file` holds the token (one word).
    pub fn new(server: &str, token_file: Option<&Path>) -> anyhow::Result<Client> {
        if !server.starts_with("http://") {
            anyhow::bail!(
                "--server {server}: expected an http:// URL (pxectl speaks plain HTTP, as \
                 httpd-tree serves)"
            );
        }
        let token = match token_file {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    anyhow::anyhow!("cannot read the token file {}: {e}", p.display())
                })?;
                let t = text.trim();
                if t.is_empty() || t.contains(char::is_whitespace) {
                    anyhow::bail!("{}: the token must be one word", p.display());
                }
                Some(t.to_owned())
            }
        };
        Ok(Client {
            base: server.trim_end_matches('/').to_owned(),
            token,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
        })
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let r = self.agent.request(method, &format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.set("Authorization", &format!("Bearer {t}")),
            None => r,
        }
    }

    /// Sends a request (with a JSON body or none) and reads the JSON answer.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let req = self.request(method, path);
        let res = match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        };
        match res {
            Ok(resp) => {
                let text = resp
                    .into_string()
                    .map_err(|e| Failure::Unreachable(format!("reading the answer: {e}")))?;
                serde_json::from_str(&text).map_err(|e| {
                    Failure::Unreachable(format!("{method} {path}: the answer is not JSON: {e}"))
                })
            }
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let (message, field) = match serde_json::from_str::<Value>(&text) {
                    Ok(v) if v.get("error").is_some() => (
                        v["error"].as_str().unwrap_or_default().to_owned(),
                        v["field"].as_str().map(str::to_owned),
                    ),
                    _ => (text.trim().to_owned(), None),
                };
                Err(Failure::Refused {
                    status,
                    message,
                    field,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(Failure::Unreachable(format!(
                "cannot reach {}: {t}",
                self.base
            ))),
        }
    }
}

/// A path segment: a machine's name or MAC, percent-encoded where it must be.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
