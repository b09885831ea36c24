//! `/status`: the page a person reads while machines install. Every machine, its
//! install state, and its latest install as DHCP → loader → kernel → answer file or
//! deploy plan → deploy steps with bytes written → installed → first boot, each with its
//! time and how long after the first event; then each machine's install stage by stage
//! (how long each took) and its recent timeline. Without
//! `--public-status` and without a token, anyone gets only the [`summary`]: how many
//! machines are in each state, no names, MACs or timelines.

use crate::api::Record;
use crate::html::{escape, page};
use pxe_daemon::time;
use pxe_model::Inventory;
use pxe_model::timeline::{self, Install, Stage, StageEntry, human_bytes, human_ms};
use std::fmt::Write;

/// How often the page reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 15;

/// When a stage began, and how long after the install's first event.
fn cell(s: Option<&StageEntry>) -> String {
    match s {
        Some(s) if s.since_start_ms > 0 => format!(
            "{} <small class=\"since\">+{}</small>",
            time::readable(s.at),
            human_ms(s.since_start_ms)
        ),
        Some(s) => time::readable(s.at),
        None => "–".to_owned(),
    }
}

/// A deploy step's bytes: `200.0 MiB of 400.0 MiB (50%)`.
fn bytes(s: &StageEntry) -> String {
    match (s.done_bytes, s.total_bytes, s.percent()) {
        (Some(done), Some(total), Some(p)) => {
            format!("{} of {} ({p}%)", human_bytes(done), human_bytes(total))
        }
        (Some(done), _, _) => human_bytes(done),
        _ => String::new(),
    }
}

/// How long a stage took, or has been running.
fn took(s: &StageEntry) -> String {
    match (s.took_ms, s.running) {
        (Some(ms), true) => format!("running for {}", human_ms(ms)),
        (Some(ms), false) => human_ms(ms),
        (None, _) => "–".to_owned(),
    }
}

/// The deploy column: the latest step, its status, bytes and time.
fn deploy_cell(install: &Install) -> String {
    let Some(s) = install.last_step() else {
        return "–".to_owned();
    };
    let status = s.status.map_or("", |st| st.as_str());
    let mut out = format!("{} {status}", escape(&s.stage.label()));
    let b = bytes(s);
    if !b.is_empty() {
        let _ = write!(out, ", {b}");
    }
    let _ = write!(out, " <small>{}</small>", took(s));
    out
}

/// A machine's install, one row per stage.
pub(crate) fn install_table(install: &Install) -> String {
    let mut t = String::from(
        "<table class=\"install\">\n<thead><tr><th>Stage</th><th>Began</th><th>Since start</th>\
         <th>Took</th><th>Progress</th><th>Detail</th></tr></thead>\n<tbody>\n",
    );
    for s in &install.stages {
        let detail = s.detail.lines().next().unwrap_or_default();
        let stage = match s.stage {
            Stage::DeployStep(step) => format!("deploy-{}", step.as_str()),
            other => other.label().replace(' ', "-").to_lowercase(),
        };
        let status = s
            .status
            .map_or(String::new(), |st| format!(" {}", st.as_str()));
        let _ = writeln!(
            t,
            "<tr class=\"stage {stage}{}\"><td>{}{status}</td><td>{}</td><td>+{}</td><td class=\"took\">{}</td><td class=\"bytes\">{}</td><td>{}</td></tr>",
            if s.running { " running" } else { "" },
            escape(&s.stage.label()),
            time::readable(s.at),
            human_ms(s.since_start_ms),
            took(s),
            bytes(s),
            escape(detail),
        );
    }
    t.push_str("</tbody>\n</table>\n");
    let mut totals = Vec::new();
    if let Some(ms) = install.install_ms {
        totals.push(format!("installed {} after the first event", human_ms(ms)));
    }
    if let Some(ms) = install.to_first_boot_ms {
        totals.push(format!("first boot after {}", human_ms(ms)));
    }
    if !totals.is_empty() {
        let _ = writeln!(t, "<p class=\"totals\">{}.</p>", totals.join(", "));
    }
    t
}

/// The public summary: counts only. `now_ms` is when it was generated.
pub fn summary(inv: &Inventory, counts: &crate::metrics::MachineCounts, now_ms: u64) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "<h1>pxe-suite: install status</h1>");
    let _ = writeln!(
        body,
        "<p>{} machines. Generated {}. Times are UTC.</p>",
        inv.machines.len(),
        time::readable(now_ms)
    );
    let _ = writeln!(
        body,
        "<table id=\"summary\">\n<tr><th>Pending</th><th>Installing</th><th>Installed</th><th>Failed</th></tr>\n\
         <tr><td class=\"pending\">{}</td><td class=\"installing\">{}</td><td class=\"installed\">{}</td><td class=\"failed\">{}</td></tr>\n</table>",
        counts.pending, counts.installing, counts.installed, counts.failed
    );
    if !inv.problems.is_empty() {
        let _ = writeln!(
            body,
            "<p class=\"problems\">{} file(s) of the machines, profiles or distros directories not \
             loaded (a conflict with the inventory file, or an error): see the full page.</p>",
            inv.problems.len()
        );
    }
    body.push_str(
        "<p>Machines and their timelines are shown with the admin or the read-only token, \
         or to everyone when httpd-tree runs with --public-status.</p>\n",
    );
    page("pxe-suite status", &body).replacen(
        "<meta charset=\"utf-8\">",
        &format!(
            "<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"
        ),
        1,
    )
}

/// The files of the machines, profiles and distros directories that were not loaded,
/// each with its reason.
fn problems(inv: &Inventory, body: &mut String) {
    if inv.problems.is_empty() {
        return;
    }
    body.push_str(
        "<section id=\"problems\">\n<h2>Not loaded: conflicts and errors in the machines, \
         profiles and distros directories</h2>\n<ul>\n",
    );
    for p in &inv.problems {
        let _ = writeln!(
            body,
            "<li class=\"problem {}\" data-{}=\"{}\"><code>{}</code>: <pre>{}</pre></li>",
            p.kind,
            p.entry,
            escape(&p.name),
            escape(&p.file),
            escape(p.message.trim_end())
        );
    }
    body.push_str("</ul>\n</section>\n");
}

/// The page. `now_ms` is when it was generated.
pub fn render(inv: &Inventory, records: &dyn Fn(&str) -> Record, now_ms: u64) -> String {
    let mut body = String::new();
    let _ = writeln!(body, "<h1>pxe-suite: install status</h1>");
    let _ = writeln!(
        body,
        "<p>Inventory <code>{}</code>, {} machines. Generated {}. Times are UTC.</p>",
        escape(inv.source_name()),
        inv.machines.len(),
        time::readable(now_ms)
    );
    problems(inv, &mut body);
    body.push_str("<table id=\"machines\">\n<thead><tr><th>Machine</th><th>MAC</th><th>Profile</th><th>State</th>\
        <th>DHCP</th><th>Loader</th><th>Kernel</th><th>Answer file / plan</th><th>Deploy</th><th>Installed</th><th>First boot</th></tr></thead>\n<tbody>\n");
    let mut details = String::new();
    for m in inv.machines.values() {
        let rec = records(&m.name);
        let distro = inv.profile_of(m).map(|(_, d)| d);
        let install = timeline::build(&rec.events, &rec.state, distro, now_ms);
        let state = rec.state.state.as_str();
        let mac = m.macs.first().map(|x| x.colon()).unwrap_or_default();
        let loader = match install.stage(Stage::Loader) {
            Some(l) => format!("{} <small>{}</small>", cell(Some(l)), escape(&l.detail)),
            None => "–".to_owned(),
        };
        let _ = writeln!(
            body,
            "<tr data-machine=\"{n}\"><td class=\"machine\"><a href=\"#m-{n}\">{n}</a></td><td class=\"mac\">{mac}</td>\
             <td class=\"profile\">{p}</td><td class=\"state {state}\">{state}{why}</td><td>{}</td><td>{loader}</td>\
             <td>{}</td><td>{}</td><td class=\"deploy\">{step}</td><td>{}</td><td>{}</td></tr>",
            cell(install.stage(Stage::Dhcp)),
            cell(install.stage(Stage::Kernel)),
            cell(
                install
                    .stage(Stage::AnswerFile)
                    .or(install.stage(Stage::DeployPlan))
            ),
            cell(install.stage(Stage::Installed)),
            cell(install.stage(Stage::FirstBoot)),
            why = timeline::failure(&rec.events, &rec.state).map_or_else(String::new, |f| {
                format!(
                    "<br><small class=\"reason\">{}</small>",
                    escape(f.lines().next().unwrap_or(f))
                )
            }),
            step = deploy_cell(&install),
            n = escape(&m.name),
            p = escape(&m.profile),
        );
        let _ = writeln!(details, "<h2 id=\"m-{0}\">{0}</h2>", escape(&m.name));
        if !install.stages.is_empty() {
            details.push_str(&install_table(&install));
        }
        if rec.events.is_empty() {
            details.push_str("<p>No boot recorded yet.</p>\n");
        } else {
            details.push_str("<ol class=\"timeline\">\n");
            for e in &rec.events {
                let phase = serde_json::to_value(e.phase)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                // A failed deploy step carries its log tail: keep its lines.
                let detail = match e.detail.split_once('\n') {
                    Some((first, rest)) => format!("{}<pre>{}</pre>", escape(first), escape(rest)),
                    None => escape(&e.detail),
                };
                let _ = writeln!(
                    details,
                    "<li>{} <b>{}</b> {detail}</li>",
                    time::readable(e.at),
                    escape(&phase),
                );
            }
            details.push_str("</ol>\n");
        }
    }
    body.push_str("</tbody>\n</table>\n");
    body.push_str(&details);
    // A person watches installs progress: the page reloads itself.
    page("pxe-suite status", &body).replacen(
        "<meta charset=\"utf-8\">",
        &format!(
            "<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"
        ),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pxe_model::state::{BootEvent, Phase, StateEvent};

    #[test]
    fn one_row_per_machine_with_escaped_details() {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://10.0.0.3\"}\n\
            distros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n\
            profiles:\n  p: {distro: c7}\n\
            machines:\n  a: {mac: 52:54:00:00:00:01, profile: p}\n  b: {mac: 52:54:00:00:00:02, profile: p}\n";
        let inv = pxe_model::load_str("inv.yaml", text, std::path::Path::new(".")).expect("loads");
        let records = |name: &str| {
            let mut r = Record::default();
            if name == "b" {
                r.state.apply(StateEvent::Installed, 1_000);
                r.events.push(BootEvent {
                    at: 500,
                    phase: Phase::Http,
                    detail: "<script>x</script>".into(),
                });
            }
            r
        };
        let html = render(&inv, &records, 2_000);
        assert_eq!(html.matches("<tr data-machine=").count(), 2);
        assert!(html.contains("<td class=\"state installed\">installed</td>"));
        assert!(html.contains("<td class=\"state pending\">pending</td>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("1970-01-01 00:00:01Z"), "installed time");
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
    }

    #[test]
    fn the_summary_names_no_machine() {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://10.0.0.3\"}\n\
            distros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n\
            profiles:\n  p: {distro: c7}\n\
            machines:\n  alpha: {mac: 52:54:00:00:00:01, profile: p}\n  beta: {mac: 52:54:00:00:00:02, profile: p}\n";
        let inv = pxe_model::load_str("inv.yaml", text, std::path::Path::new(".")).expect("loads");
        let counts = crate::metrics::MachineCounts {
            pending: 1,
            installing: 0,
            installed: 1,
            failed: 0,
        };
        let html = summary(&inv, &counts, 0);
        assert!(html.contains("2 machines"), "{html}");
        assert!(html.contains("<td class=\"installed\">1</td>"), "{html}");
        for secret in ["alpha", "beta", "52:54:00", "inv.yaml"] {
            assert!(!html.contains(secret), "{secret} in {html}");
        }
    }
}
