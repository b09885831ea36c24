//! The commands. Each reads or changes through the API and prints a table for people, or
//! the API's JSON with `--json`. Exit status: 0 ok, 1 refused (by the server, or a bad
//! command line), 2 the server could not be reached or failed.

use crate::cli::{AddArgs, Cli, Command, Global, ImportArgs, MachinesArgs};
use crate::client::{Client, Failure, segment};
use crate::{hosts, table};
use pxe_model::timeline::human_ms;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::process::ExitCode;

/// What a command prints, or why it failed.
type Outcome = Result<String, anyhow::Error>;

/// Runs the command line.
#[allow(clippy::print_stdout)] // pxectl is a command-line tool: its output is the point
pub fn main(cli: Cli) -> ExitCode {
    match run(&cli) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pxectl: {e:#}");
            match e.downcast_ref::<Failure>() {
                Some(Failure::Unreachable(_)) => ExitCode::from(2),
                Some(Failure::Refused { status, .. }) if *status >= 500 => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}

fn client(g: &Global) -> anyhow::Result<Client> {
    let Some(server) = g.server.as_deref() else {
        anyhow::bail!("no server: give --server URL or set PXECTL_SERVER");
    };
    Client::new(server, g.token_file.as_deref())
}

/// Runs one command and returns what it prints.
pub fn run(cli: &Cli) -> Outcome {
    let c = client(&cli.global)?;
    let json_out = cli.global.json;
    match &cli.command {
        Command::Machines(a) => machines(&c, a, json_out),
        Command::Add(a) => add(&c, a, json_out),
        Command::Remove(a) => {
            let v = c.call(
                "DELETE",
                &format!("/api/v1/machines/{}", segment(&a.name)),
                None,
            )?;
            Ok(if json_out {
                pretty(&v)
            } else {
                format!("removed {} ({})\n", text(&v["removed"]), text(&v["file"]))
            })
        }
        Command::Reinstall(a) => {
            let path = format!("/api/v1/machines/{}/reinstall", segment(&a.name));
            let body = a.power_cycle.then(|| json!({ "power_cycle": true }));
            let v = c.call("POST", &path, body.as_ref())?;
            Ok(if json_out {
                pretty(&v)
            } else {
                let already = if v["changed"] == json!(true) {
                    ""
                } else {
                    " (already)"
                };
                if a.power_cycle {
                    format!(
                        "{}: {}{}; next boot from the network, power cycled (power {}): {}\n",
                        text(&v["machine"]),
                        text(&v["state"]),
                        already,
                        text(&v["power"]),
                        text(&v["detail"])
                    )
                } else {
                    format!(
                        "{}: {}{}; it installs at its next network boot\n",
                        text(&v["machine"]),
                        text(&v["state"]),
                        already
                    )
                }
            })
        }
        Command::Power(a) => {
            let path = format!("/api/v1/machines/{}/power", segment(&a.name));
            let body = json!({ "action": a.action.as_str() });
            let v = c.call("POST", &path, Some(&body))?;
            Ok(if json_out {
                pretty(&v)
            } else {
                crate::table::render(
                    &["MACHINE", "ACTION", "POWER", "BMC SAID"],
                    &[vec![
                        text(&v["machine"]),
                        text(&v["action"]),
                        text(&v["power"]),
                        text(&v["detail"]),
                    ]],
                )
            })
        }
        Command::Show(a) => {
            let v = c.call(
                "GET",
                &format!("/api/v1/machines/{}", segment(&a.name)),
                None,
            )?;
            Ok(if json_out { pretty(&v) } else { show(&v) })
        }
        Command::ImportHosts(a) => import_hosts(&c, a, json_out),
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// A JSON value as a cell: strings bare, null as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Shell-style `*` and `?`; without either, a part of the name.
fn name_matches(pattern: &str, name: &str) -> bool {
    fn glob(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => glob(&p[1..], n) || (!n.is_empty() && glob(p, &n[1..])),
            (Some('?'), Some(_)) => glob(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => glob(&p[1..], &n[1..]),
            _ => false,
        }
    }
    if pattern.contains(['*', '?']) {
        let p: Vec<char> = pattern.chars().collect();
        let n: Vec<char> = name.chars().collect();
        glob(&p, &n)
    } else {
        name.contains(pattern)
    }
}

fn machines(c: &Client, a: &MachinesArgs, json_out: bool) -> Outcome {
    const STATES: &[&str] = &["pending", "installing", "installed", "failed"];
    if let Some(s) = &a.state
        && !STATES.contains(&s.as_str())
    {
        anyhow::bail!("--state {s}: expected one of {}", STATES.join(", "));
    }
    let doc = c.call("GET", "/api/v1/machines", None)?;
    let keep = |m: &Value| {
        a.state.as_ref().is_none_or(|s| m["state"] == json!(s))
            && a.profile.as_ref().is_none_or(|p| m["profile"] == json!(p))
            && a.name
                .as_ref()
                .is_none_or(|n| name_matches(n, m["name"].as_str().unwrap_or_default()))
    };
    let list: Vec<&Value> = doc["machines"]
        .as_array()
        .map(|l| l.iter().filter(|m| keep(m)).collect())
        .unwrap_or_default();
    let problems = doc["problems"].as_array().cloned().unwrap_or_default();
    if json_out {
        return Ok(pretty(
            &json!({ "inventory": doc["inventory"], "machines": list, "problems": problems }),
        ));
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| {
            vec![
                text(&m["name"]),
                text(&m["macs"]),
                text(&m["address"]),
                text(&m["profile"]),
                text(&m["state"]),
                text(&m["since"]),
                text(&m["source"]),
            ]
        })
        .collect();
    let mut out = table::render(
        &[
            "NAME", "MAC", "ADDRESS", "PROFILE", "STATE", "SINCE", "SOURCE",
        ],
        &rows,
    );
    for p in &problems {
        let _ = writeln!(
            out,
            "\nnot loaded ({}): {}: {}",
            text(&p["kind"]),
            text(&p["file"]),
            text(&p["message"]).trim_end()
        );
    }
    Ok(out)
}

fn add(c: &Client, a: &AddArgs, json_out: bool) -> Outcome {
    let mut body = json!({ "name": a.name, "mac": a.mac, "profile": a.profile });
    for (key, v) in [
        ("address", &a.address),
        ("hostname", &a.hostname),
        ("uuid", &a.uuid),
    ] {
        if let Some(v) = v {
            body[key] = json!(v);
        }
    }
    if a.local {
        body["netboot"] = json!("local");
    }
    let v = c.call("POST", "/api/v1/machines", Some(&body))?;
    Ok(if json_out {
        pretty(&v)
    } else {
        format!(
            "added {} ({}, profile {}) as {}\n",
            text(&v["name"]),
            text(&v["macs"]),
            text(&v["profile"]),
            text(&v["file"])
        )
    })
}

/// `pxectl show`: the machine, its latest install stage by stage, and the diagnosis.
pub fn show(m: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  ({}, from {})",
        text(&m["name"]),
        text(&m["hostname"]),
        text(&m["source"])
    );
    for (label, key) in [
        ("MAC", "macs"),
        ("address", "address"),
        ("profile", "profile"),
        ("distro", "distro"),
        ("netboot", "netboot"),
        ("state", "state"),
        ("since", "since"),
    ] {
        let _ = writeln!(out, "  {label:<9}{}", text(&m[key]));
    }
    let stages = m["install"]["stages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if stages.is_empty() {
        out.push_str("\nno boot seen yet\n");
    } else {
        let ms = |v: &Value| v.as_u64().map_or_else(|| "-".to_owned(), human_ms);
        let rows: Vec<Vec<String>> = stages
            .iter()
            .map(|s| {
                let mut took = ms(&s["took_ms"]);
                if s["running"] == json!(true) {
                    took.push_str(" (running)");
                }
                let mut detail = text(&s["detail"]);
                if let Some(p) = s["percent"].as_u64() {
                    detail = format!("{p}% {detail}");
                }
                vec![
                    text(&s["label"]),
                    text(&s["at"]),
                    format!("+{}", ms(&s["since_start_ms"])),
                    took,
                    detail,
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table::render(
            &["STAGE", "AT", "AFTER", "TOOK", "DETAIL"],
            &rows,
        ));
        let install = &m["install"];
        if let Some(t) = install["install_ms"].as_u64() {
            let _ = writeln!(out, "install took {}", human_ms(t));
        }
        if let Some(t) = install["to_first_boot_ms"].as_u64() {
            let _ = writeln!(out, "first boot {} after the first event", human_ms(t));
        }
    }
    if let Some(d) = m["diagnosis"].as_object() {
        let _ = writeln!(
            out,
            "\ndiagnosis ({}): {}",
            text(&d["stage"]),
            text(&d["message"])
        );
    }
    out
}

fn import_hosts(c: &Client, a: &ImportArgs, json_out: bool) -> Outcome {
    let file = a
        .file
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the path is not UTF-8"))?;
    let found = hosts::read(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let doc = c.call("GET", "/api/v1/machines", None)?;
    let owner_of = |mac: &str| -> Option<String> {
        doc["machines"].as_array()?.iter().find_map(|m| {
            m["macs"]
                .as_array()?
                .iter()
                .any(|x| x.as_str() == Some(mac))
                .then(|| text(&m["name"]))
        })
    };
    let mut report = Vec::new();
    let mut failed = false;
    for h in &found {
        let name = hosts::machine_name(&h.name);
        let (result, note) = match &h.mac {
            None => (
                "skipped".to_owned(),
                "no hardware ethernet: nothing to match a machine by".to_owned(),
            ),
            Some(mac) => match owner_of(mac) {
                Some(owner) => (
                    "shadows".to_owned(),
                    format!(
                        "MAC {mac} is machine {owner}'s: while this host block stays, dhcpd \
                         answers {mac} from it and not from the inventory; remove the block \
                         (not imported)"
                    ),
                ),
                None if a.dry_run => (
                    "would import".to_owned(),
                    format!("as {name}; then remove the host block, or it shadows the machine"),
                ),
                None => {
                    let mut body = json!({ "name": name, "mac": mac, "profile": a.profile });
                    if let Some(ip) = h.address {
                        body["address"] = json!(ip.to_string());
                    }
                    match c.call("POST", "/api/v1/machines", Some(&body)) {
                        Ok(_) => (
                            "imported".to_owned(),
                            format!(
                                "as {name}; remove the host block ({}): until then it shadows \
                                 the machine in dhcpd",
                                h.at
                            ),
                        ),
                        Err(e @ Failure::Unreachable(_)) => return Err(e.into()),
                        Err(e) => {
                            failed = true;
                            ("refused".to_owned(), e.to_string())
                        }
                    }
                }
            },
        };
        report.push((h, name, result, note));
    }
    let out = if json_out {
        pretty(&Value::Array(
            report
                .iter()
                .map(|(h, name, result, note)| {
                    json!({
                        "host": h.name, "at": h.at, "mac": h.mac,
                        "address": h.address.map(|a| a.to_string()),
                        "machine": name, "result": result, "note": note,
                    })
                })
                .collect(),
        ))
    } else {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|(h, _, result, note)| {
                vec![
                    h.name.clone(),
                    h.at.clone(),
                    h.mac.clone().unwrap_or_else(|| "-".into()),
                    result.clone(),
                    note.clone(),
                ]
            })
            .collect();
        table::render(&["HOST", "AT", "MAC", "RESULT", "NOTE"], &rows)
    };
    if failed {
        // The report goes out with the failure, so nothing is left unsaid.
        anyhow::bail!("{out}some host blocks were refused (see RESULT)");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns() {
        assert!(name_matches("web*", "web01"));
        assert!(!name_matches("web*", "db01"));
        assert!(name_matches("w?b01", "web01"));
        assert!(name_matches("eb0", "web01"));
        assert!(!name_matches("web0?", "web010"));
    }
}
