//! Talking to a machine's BMC: `ipmitool -I lanplus` for IPMI, `curl` for Redfish, each
//! run as a child process with the command line [`pxe_model::power`] builds. The password
//! reaches the child only through a file it reads (`-f`), its environment (`-E`), or
//! its standard input (curl's `-K -`), never through its arguments, and it is never
//! logged or answered.

use pxe_model::power::{self, Action, Driver, IpmiOp, Password, Power, State};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one BMC command may take.
const TIMEOUT: Duration = Duration::from_secs(40);

/// How many times the state is read again (every 0.5 s) while a machine switched on or
/// cycled is not on yet.
const SETTLE_TRIES: u32 = 20;

/// What the BMC did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub power: State,
    /// What the BMC said, one line.
    pub detail: String,
}

/// Why the BMC could not be used: what the client program said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcError(pub String);

/// Runs `action` on the machine's BMC, then reads its power state.
pub async fn act(p: &Power, action: Action) -> Result<Outcome, BmcError> {
    let p = p.clone();
    run_blocking(move || act_now(&p, action)).await
}

/// Sets the next boot (once) to the network.
pub async fn boot_pxe(p: &Power) -> Result<String, BmcError> {
    let p = p.clone();
    run_blocking(move || match p.driver {
        Driver::Ipmi => ipmi(&p, IpmiOp::BootPxe),
        Driver::Redfish => redfish(&p, &power::redfish_boot_pxe(&p))
            .map(|_| "next boot: network (Pxe, once)".to_owned()),
    })
    .await
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BmcError> + Send + 'static,
) -> Result<T, BmcError> {
    match tokio::time::timeout(TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(BmcError(format!("the BMC task failed: {e}"))),
        Err(_) => Err(BmcError(format!(
            "the BMC did not answer within {} s",
            TIMEOUT.as_secs()
        ))),
    }
}

fn act_now(p: &Power, action: Action) -> Result<Outcome, BmcError> {
    match p.driver {
        Driver::Ipmi => {
            let status = |p: &Power| {
                ipmi(p, IpmiOp::Power(Action::Status)).map(|o| power::parse_ipmi_status(&o))
            };
            let detail = match action {
                Action::Status => String::new(),
                // A BMC refuses to cycle a machine that is off: that is a power on.
                Action::Cycle if status(p)? == State::Off => ipmi(p, IpmiOp::Power(Action::On))?,
                a => ipmi(p, IpmiOp::Power(a))?,
            };
            let mut now = status(p)?;
            // A cycle turns the power back on after the BMC's power-cycle interval
            // (ipmi_sim: about a second): wait for it, a while.
            let want_on = matches!(action, Action::On | Action::Cycle);
            for _ in 0..SETTLE_TRIES {
                if !want_on || now == State::On {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
                now = status(p)?;
            }
            let detail = if detail.is_empty() {
                format!("Chassis Power is {}", now.as_str())
            } else {
                detail
            };
            Ok(Outcome { power: now, detail })
        }
        Driver::Redfish => {
            let status = |p: &Power| {
                redfish(p, &power::redfish_status(p)).map(|v| power::parse_redfish_state(&v))
            };
            let before = status(p)?;
            let detail = match power::reset_type(action, before) {
                None => format!("PowerState {}", before.as_str()),
                Some(t) => {
                    redfish(p, &power::redfish_reset(p, t))?;
                    format!("ComputerSystem.Reset {t}")
                }
            };
            Ok(Outcome {
                power: status(p)?,
                detail,
            })
        }
    }
}

/// The first lines of what a program wrote, as one line, bounded.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "Unable to Get Channel Cipher Suites")
        .collect();
    let mut s = lines.join("; ");
    if s.len() > 400 {
        let mut cut = 400;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The password a setting points at, for the Redfish client's standard input.
fn password(p: &Password) -> Result<String, BmcError> {
    match p {
        Password::File(f) => std::fs::read_to_string(f)
            .map(|t| t.lines().next().unwrap_or_default().to_owned())
            .map_err(|e| {
                BmcError(format!(
                    "cannot read the password file {}: {e}",
                    f.display()
                ))
            }),
        Password::Env(name) => std::env::var(name).map_err(|_| {
            BmcError(format!(
                "the environment variable {name} (password_env) is not set for httpd-tree"
            ))
        }),
    }
}

fn ipmi(p: &Power, op: IpmiOp) -> Result<String, BmcError> {
    let c = power::ipmitool(p, op);
    let mut cmd = Command::new("ipmitool");
    cmd.args(&c.args)
        .stdin(Stdio::null())
        .env_remove("IPMI_PASSWORD");
    if let Some(name) = &c.password_env {
        let value = std::env::var(name).map_err(|_| {
            BmcError(format!(
                "the environment variable {name} (password_env) is not set for httpd-tree"
            ))
        })?;
        cmd.env("IPMI_PASSWORD", value);
    }
    let out = cmd
        .output()
        .map_err(|e| BmcError(format!("cannot run ipmitool: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        Ok(one_line(&stdout))
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let said = one_line(&format!("{stderr}\n{stdout}"));
        Err(BmcError(format!(
            "ipmitool failed ({}): {}",
            out.status,
            if said.is_empty() { "no message" } else { &said }
        )))
    }
}

/// Quotes a value for a curl config file.
fn curl_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn redfish(p: &Power, r: &power::RedfishRequest) -> Result<serde_json::Value, BmcError> {
    let method = match r.method {
        power::Method::Get => "GET",
        power::Method::Post => "POST",
        power::Method::Patch => "PATCH",
    };
    // Everything but the method goes through the config on standard input: the URL,
    // the body and the credentials.
    let mut config = format!(
        "url = {}\nuser = {}\nheader = \"Accept: application/json\"\n",
        curl_quoted(&r.url),
        curl_quoted(&format!("{}:{}", p.username, password(&p.password)?))
    );
    if let Some(body) = &r.body {
        config.push_str("header = \"Content-Type: application/json\"\n");
        config.push_str(&format!("data = {}\n", curl_quoted(&body.to_string())));
    }
    let mut child = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
            "-K",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BmcError(format!("cannot run curl: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(config.as_bytes())
            .map_err(|e| BmcError(format!("cannot hand curl its request: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| BmcError(format!("curl: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(BmcError(format!(
            "Redfish request {method} {} failed: {}",
            r.url,
            one_line(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let code: u16 = code.trim().parse().unwrap_or(0);
    if !(200..300).contains(&code) {
        return Err(BmcError(format!(
            "Redfish {method} {} answered HTTP {code}: {}",
            r.url,
            one_line(body)
        )));
    }
    if body.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(body)
        .map_err(|e| BmcError(format!("Redfish {method} {} answered no JSON: {e}", r.url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_config_values_are_quoted() {
        assert_eq!(curl_quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(curl_quoted("x\ny"), r#""x\ny""#);
    }

    #[test]
    fn messages_drop_ipmitools_cipher_noise() {
        assert_eq!(
            one_line(
                "Unable to Get Channel Cipher Suites\nError: Unable to establish IPMI v2 / RMCP+ session\n"
            ),
            "Error: Unable to establish IPMI v2 / RMCP+ session"
        );
    }
}
