//! `/status`: the page a person reads while machines install. Every machine, its
//! install state, and its latest boot as DHCP → loader → kernel → answer file →
//! installed, with times; then each machine's recent timeline. Without
//! `--public-status` and without a token, anyone gets only the [`summary`]: how many
//! machines are in each state, no names, MACs or timelines.

use crate::api::Record;
use crate::html::{escape, page};
use crate::timeline;
use pxe_daemon::time;
use pxe_model::Inventory;
use std::fmt::Write;

/// How often the page reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 15;

fn cell(t: Option<u64>) -> String {
    t.map(time::readable).unwrap_or_else(|| "–".to_owned())
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
    body.push_str("<table id=\"machines\">\n<thead><tr><th>Machine</th><th>MAC</th><th>Profile</th><th>State</th>\
        <th>DHCP</th><th>Loader</th><th>Kernel</th><th>Answer file / plan</th><th>Deploy</th><th>Installed</th><th>First boot</th></tr></thead>\n<tbody>\n");
    let mut details = String::new();
    for m in inv.machines.values() {
        let rec = records(&m.name);
        let distro = inv.profile_of(m).map(|(_, d)| d);
        let ms = timeline::milestones(&rec.events, &rec.state, distro);
        let state = rec.state.state.as_str();
        let mac = m.macs.first().map(|x| x.colon()).unwrap_or_default();
        let loader = match &ms.loader {
            Some((at, file)) => {
                format!("{} <small>{}</small>", time::readable(*at), escape(file))
            }
            None => "–".to_owned(),
        };
        let _ = writeln!(
            body,
            "<tr data-machine=\"{n}\"><td class=\"machine\"><a href=\"#m-{n}\">{n}</a></td><td class=\"mac\">{mac}</td>\
             <td class=\"profile\">{p}</td><td class=\"state {state}\">{state}{why}</td><td>{}</td><td>{loader}</td>\
             <td>{}</td><td>{}</td><td class=\"deploy\">{step}</td><td>{}</td><td>{}</td></tr>",
            cell(ms.dhcp),
            cell(ms.kernel),
            cell(ms.answer.or(ms.plan)),
            cell(ms.installed),
            cell(ms.first_boot),
            why = timeline::failure(&rec.events, &rec.state).map_or_else(String::new, |f| {
                format!(
                    "<br><small class=\"reason\">{}</small>",
                    escape(f.lines().next().unwrap_or(f))
                )
            }),
            step = ms.deploy_step.as_ref().map_or_else(
                || "–".to_owned(),
                |(at, what)| format!(
                    "{} <small>{}</small>",
                    time::readable(*at),
                    escape(what.lines().next().unwrap_or(what))
                )
            ),
            n = escape(&m.name),
            p = escape(&m.profile),
        );
        let _ = writeln!(details, "<h2 id=\"m-{0}\">{0}</h2>", escape(&m.name));
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
