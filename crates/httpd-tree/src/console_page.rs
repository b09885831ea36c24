//! The console's pages, rendered on the server: the machine list (searched, filtered and
//! cut into pages on the server, so 5,000 machines cost one page of rows), a machine's
//! page (facts, stall diagnosis, install stage by stage, timeline, the rendered boot
//! config and answer file with their secrets masked, and the actions), and the login.
//! Pure: the summaries, records and time come from the caller. Every text from the
//! inventory or the timelines is escaped; the script is a separate file
//! ([`SCRIPT`]) so the pages can forbid inline scripts.

use crate::api::Record;
use crate::console_feed::Summary;
use crate::html::{encode_segment, escape};
use pxe_daemon::time;
use pxe_model::{Inventory, Machine, timeline};
use std::fmt::Write;

/// Rows per page of the machine list.
pub const PAGE_ROWS: usize = 100;
/// The install states, in the order the filter offers them.
pub const STATES: [&str; 4] = ["pending", "installing", "installed", "failed"];
/// What a masked secret shows instead.
pub const MASK: &str = "********";

/// The list's search and filters, from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Part of a name, hostname, MAC or profile (case-insensitive).
    pub q: String,
    pub state: String,
    pub profile: String,
    /// 0-based.
    pub page: usize,
}

impl Filter {
    /// Reads `q`, `state`, `profile` and `page` from a query string.
    pub fn parse(query: Option<&str>) -> Filter {
        let mut f = Filter::default();
        for pair in query.unwrap_or_default().split('&') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let v = crate::console_session::form_value(format!("v={v}").as_bytes(), "v")
                .unwrap_or_default();
            match k {
                "q" => f.q = v.trim().to_lowercase(),
                "state" => f.state = v,
                "profile" => f.profile = v,
                "page" => f.page = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        f
    }

    fn matches(&self, m: &Machine, s: &Summary) -> bool {
        if !self.state.is_empty() && s.state != self.state {
            return false;
        }
        if !self.profile.is_empty() && m.profile != self.profile {
            return false;
        }
        if self.q.is_empty() {
            return true;
        }
        let q = self.q.replace('-', ":");
        m.name.to_lowercase().contains(&self.q)
            || m.hostname.to_lowercase().contains(&self.q)
            || m.profile.to_lowercase().contains(&self.q)
            || m.macs.iter().any(|mac| mac.colon().contains(&q))
    }

    /// The MAC the list shows for `m`: the one the search matched, else the first.
    fn shown_mac(&self, m: &Machine) -> String {
        let q = self.q.replace('-', ":");
        let macs: Vec<String> = m.macs.iter().map(|x| x.colon()).collect();
        let matched = (!q.is_empty())
            .then(|| macs.iter().find(|mac| mac.contains(&q)))
            .flatten();
        matched.or(macs.first()).cloned().unwrap_or_default()
    }

    /// The query string of this filter on another page.
    fn query(&self, page: usize) -> String {
        let enc = |s: &str| encode_segment(s);
        format!(
            "?q={}&state={}&profile={}&page={page}",
            enc(&self.q),
            enc(&self.state),
            enc(&self.profile)
        )
    }
}

/// Who looks at the page: logged in (with the session's CSRF token) or not.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub csrf: Option<&'a str>,
    /// Where the machine list is: `/`, or `/console/` when `--root` serves `/`.
    pub home: &'a str,
}

/// The script of the pages: live updates and the power buttons.
pub const SCRIPT: &str = include_str!("console.js");

/// The page around a body, with the navigation and the script.
fn frame(title: &str, viewer: Viewer<'_>, body: &str) -> String {
    let mut nav = format!(
        "<nav><a href=\"{}\">Machines</a> · <a href=\"/status\">Status</a> · \
         <a href=\"/trees/\">Trees</a> · <a href=\"/metrics\">Metrics</a> · ",
        escape(viewer.home)
    );
    match viewer.csrf {
        Some(csrf) => {
            let _ = write!(
                nav,
                "<form method=\"post\" action=\"/logout\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button id=\"logout\" type=\"submit\">Log out</button></form>",
                escape(csrf)
            );
        }
        None => nav.push_str("<a id=\"login\" href=\"/login\">Log in</a>"),
    }
    nav.push_str(" <span id=\"live\" class=\"off\">not live</span></nav>\n");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width\">\n\
         <meta name=\"csrf\" content=\"{csrf}\">\n<title>{title}</title>\n<style>\n{STYLE}</style>\n\
         <script src=\"/console/console.js\" defer></script>\n</head>\n<body>\n{nav}{body}</body>\n</html>\n",
        csrf = escape(viewer.csrf.unwrap_or_default()),
        title = escape(title),
    )
}

const STYLE: &str = "body { font-family: sans-serif; margin: 1.2em; }\n\
    nav { margin-bottom: 1em; } form.inline { display: inline; }\n\
    table { border-collapse: collapse; }\n\
    th, td { text-align: left; padding: 0.2em 0.7em; border-bottom: 1px solid #ddd; vertical-align: top; }\n\
    .pending { color: #8a6d00; } .installing { color: #0b5cad; } .installed { color: #217a21; } .failed { color: #b00020; }\n\
    #live.on { color: #217a21; } #live.off { color: #888; }\n\
    tr.flash { background: #fff6c0; }\n\
    .diagnosis { border-left: 4px solid #b00020; padding: 0.3em 0.8em; background: #fdf0f0; }\n\
    .healthy { border-left: 4px solid #217a21; padding: 0.3em 0.8em; background: #f0fdf0; }\n\
    pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; max-height: 30em; }\n\
    #power-result { min-height: 1.2em; }\n";

/// How many of the inventory's machines are in each of [`STATES`].
pub fn counts(inv: &Inventory, summary: &dyn Fn(&str) -> Summary) -> [usize; 4] {
    let mut counts = [0usize; 4];
    for m in inv.machines.values() {
        if let Some(i) = STATES.iter().position(|x| *x == summary(&m.name).state) {
            counts[i] += 1;
        }
    }
    counts
}

/// The machine list.
pub fn list(
    inv: &Inventory,
    summary: &dyn Fn(&str) -> Summary,
    filter: &Filter,
    viewer: Viewer<'_>,
    now_ms: u64,
) -> String {
    let mut counts = [0usize; 4];
    let mut shown: Vec<(&Machine, Summary)> = Vec::new();
    for m in inv.machines.values() {
        let s = summary(&m.name);
        if let Some(i) = STATES.iter().position(|x| *x == s.state) {
            counts[i] += 1;
        }
        if filter.matches(m, &s) {
            shown.push((m, s));
        }
    }
    let pages = shown.len().div_ceil(PAGE_ROWS).max(1);
    let page = filter.page.min(pages - 1);
    let from = page * PAGE_ROWS;
    let rows = &shown[from.min(shown.len())..(from + PAGE_ROWS).min(shown.len())];
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>Machines</h1>\n<p id=\"counts\">{} machines: <span id=\"count-pending\">{}</span> \
         pending, <span id=\"count-installing\">{}</span> installing, \
         <span id=\"count-installed\">{}</span> installed, <span id=\"count-failed\">{}</span> \
         failed. Generated {}. Times are UTC.</p>",
        inv.machines.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        time::readable(now_ms)
    );
    // The search, answered by the server.
    let _ = write!(
        b,
        "<form id=\"search\" method=\"get\" action=\"{}\">\
         <input id=\"q\" name=\"q\" type=\"search\" placeholder=\"name, MAC, hostname, profile\" value=\"{}\" autofocus> ",
        escape(viewer.home),
        escape(&filter.q)
    );
    b.push_str("<select id=\"state\" name=\"state\"><option value=\"\">any state</option>");
    for s in STATES {
        let sel = if filter.state == s { " selected" } else { "" };
        let _ = write!(b, "<option{sel}>{s}</option>");
    }
    b.push_str(
        "</select> <select id=\"profile\" name=\"profile\"><option value=\"\">any profile</option>",
    );
    for p in inv.profiles.keys() {
        let sel = if &filter.profile == p {
            " selected"
        } else {
            ""
        };
        let _ = write!(b, "<option{sel} value=\"{0}\">{0}</option>", escape(p));
    }
    b.push_str("</select> <button type=\"submit\">Search</button></form>\n");
    let _ = writeln!(
        b,
        "<p id=\"shown\">{} of {} machines match; showing {}–{}.</p>",
        shown.len(),
        inv.machines.len(),
        if rows.is_empty() { 0 } else { from + 1 },
        from + rows.len()
    );
    b.push_str(
        "<table id=\"machines\">\n<thead><tr><th>Machine</th><th>MAC</th><th>Profile</th>\
         <th>State</th><th>Last seen</th><th>Last event</th></tr></thead>\n<tbody>\n",
    );
    for (m, s) in rows {
        let _ = writeln!(
            b,
            "<tr data-machine=\"{n}\"><td class=\"machine\"><a href=\"/console/machines/{link}\">{n}</a></td>\
             <td class=\"mac\">{mac}</td><td class=\"profile\">{p}</td><td class=\"state {st}\">{st}</td>\
             <td class=\"last-seen\">{seen}</td><td class=\"last-event\">{ev}</td></tr>",
            n = escape(&m.name),
            link = encode_segment(&m.name),
            mac = filter.shown_mac(m),
            p = escape(&m.profile),
            st = s.state,
            seen = s.last_seen.map_or_else(|| "–".to_owned(), time::readable),
            ev = escape(s.last_event.lines().next().unwrap_or_default()),
        );
    }
    b.push_str("</tbody>\n</table>\n<p id=\"pages\">");
    if page > 0 {
        let _ = write!(
            b,
            "<a id=\"prev\" href=\"{}{}\">previous</a> ",
            escape(viewer.home),
            filter.query(page - 1)
        );
    }
    let _ = write!(b, "page {} of {pages}", page + 1);
    if page + 1 < pages {
        let _ = write!(
            b,
            " <a id=\"next\" href=\"{}{}\">next</a>",
            escape(viewer.home),
            filter.query(page + 1)
        );
    }
    b.push_str("</p>\n");
    frame("pxe-suite console", viewer, &b)
}

/// Lines that carry a secret in answer files and boot configs: a root password (plain or
/// hashed), a user's password, a callback token.
const SECRET_WORDS: [&str; 6] = ["password", "passwd", "rootpw", "token", "secret", "bearer"];

/// The text with every secret masked: on a line naming a secret, everything after the
/// word that names it (and its `:` or `=`) is replaced by [`MASK`], and so is every line
/// of a PEM private key. A secret on a line of its own under a key that names it (a YAML
/// block such as cloud-init's `chpasswd: list: |`) is not recognised.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Inside a PEM private key: every line up to its END line is masked.
    let mut in_key = false;
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.contains("-----BEGIN") && body.contains("PRIVATE KEY") {
            in_key = true;
            let _ = write!(out, "{body}{nl}");
            continue;
        }
        if in_key {
            if body.contains("-----END") {
                in_key = false;
                out.push_str(body);
            } else {
                out.push_str(MASK);
            }
            out.push_str(nl);
            continue;
        }
        let lower = body.to_ascii_lowercase();
        let hit = SECRET_WORDS
            .iter()
            .filter_map(|w| lower.find(w).map(|i| i + w.len()))
            .min();
        match hit {
            Some(end) => {
                // Keep the rest of the word (`passwd/root-password-crypted`), then mask.
                let rest = &body[end..];
                let word_end = rest
                    .find(|c: char| c.is_whitespace() || matches!(c, ':' | '=' | '"' | '\''))
                    .unwrap_or(rest.len());
                let kept = &body[..end + word_end];
                let after = &body[end + word_end..];
                if after
                    .trim_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '='))
                    .is_empty()
                {
                    out.push_str(body);
                } else {
                    let sep: String = after
                        .chars()
                        .take_while(|c| c.is_whitespace() || matches!(c, ':' | '='))
                        .collect();
                    let _ = write!(out, "{kept}{sep}{MASK}");
                }
            }
            None => out.push_str(body),
        }
        out.push_str(nl);
    }
    out
}

/// A machine's page. `boot_config` and `answer` are the rendered files (unmasked: they
/// are masked here), or why there are none.
pub fn machine(
    inv: &Inventory,
    m: &Machine,
    rec: &Record,
    boot_config: &Result<String, String>,
    answer: &Result<String, String>,
    viewer: Viewer<'_>,
    now_ms: u64,
) -> String {
    let distro = inv.profile_of(m).map(|(_, d)| d);
    let install = timeline::build(&rec.events, &rec.state, distro, now_ms);
    let n = escape(&m.name);
    let state = rec.state.state.as_str();
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1 data-page-machine=\"{n}\">{n}</h1>\n<table id=\"facts\">\n\
         <tr><th>State</th><td id=\"machine-state\" class=\"state {state}\">{state}</td></tr>\n\
         <tr><th>Since</th><td>{}</td></tr>\n<tr><th>MAC</th><td>{}</td></tr>\n\
         <tr><th>Hostname</th><td>{}</td></tr>\n<tr><th>Address</th><td>{}</td></tr>\n\
         <tr><th>Profile</th><td>{}</td></tr>\n<tr><th>Distro</th><td>{}</td></tr>\n</table>",
        if rec.state.since > 0 {
            time::readable(rec.state.since)
        } else {
            "–".to_owned()
        },
        m.macs
            .iter()
            .map(|x| x.colon())
            .collect::<Vec<_>>()
            .join(", "),
        escape(&m.hostname),
        m.address
            .map_or_else(|| "dhcp pool".to_owned(), |a| a.to_string()),
        escape(&m.profile),
        escape(distro.map_or("–", |d| d.name.as_str())),
    );
    b.push_str("<h2>Diagnosis</h2>\n");
    match pxe_model::stall::diagnose(&rec.events, &rec.state, distro, now_ms) {
        Some(stall) => {
            let _ = writeln!(
                b,
                "<p id=\"diagnosis\" class=\"diagnosis\" data-stage=\"{}\">Stalled at <b>{}</b> since {}: {}</p>",
                stall.stage,
                stall.stage,
                time::readable(stall.since),
                escape(&stall.message)
            );
        }
        None => {
            b.push_str("<p id=\"diagnosis\" class=\"healthy\">No stall: nothing to look at.</p>\n")
        }
    }
    b.push_str("<h2>Actions</h2>\n");
    match viewer.csrf {
        Some(csrf) => {
            let link = encode_segment(&m.name);
            let _ = writeln!(
                b,
                "<form id=\"reinstall\" method=\"post\" action=\"/console/machines/{link}/reinstall\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button type=\"submit\">Reinstall</button></form>\n<p>Power: ",
                escape(csrf)
            );
            for action in ["on", "off", "cycle", "status"] {
                let _ = write!(
                    b,
                    "<button type=\"button\" class=\"power\" data-power=\"{action}\" \
                     data-url=\"/console/machines/{link}/power\">{action}</button> "
                );
            }
            b.push_str("</p>\n<pre id=\"power-result\"></pre>\n");
        }
        None => b.push_str(
            "<p id=\"actions-locked\"><a href=\"/login\">Log in</a> with the admin token to \
             reinstall or power this machine.</p>\n",
        ),
    }
    b.push_str("<h2>Install, stage by stage</h2>\n");
    if install.stages.is_empty() {
        b.push_str("<p>No install recorded yet.</p>\n");
    } else {
        b.push_str(&crate::status_page::install_table(&install));
    }
    b.push_str("<h2>Timeline</h2>\n");
    if rec.events.is_empty() {
        b.push_str("<p>No boot recorded yet.</p>\n");
    } else {
        b.push_str("<ol id=\"timeline\" class=\"timeline\">\n");
        for e in &rec.events {
            let phase = serde_json::to_value(e.phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(
                b,
                "<li>{} <b>{}</b> {}</li>",
                time::readable(e.at),
                escape(&phase),
                escape(&e.detail)
            );
        }
        b.push_str("</ol>\n");
    }
    for (id, title, file) in [
        ("boot-config", "Boot config (iPXE script)", boot_config),
        ("answer-file", "Answer file", answer),
    ] {
        let _ = writeln!(b, "<h2>{title}</h2>");
        match file {
            Ok(text) => {
                let _ = writeln!(b, "<pre id=\"{id}\">{}</pre>", escape(&mask(text)));
            }
            Err(why) => {
                let _ = writeln!(b, "<p id=\"{id}\">{}</p>", escape(why));
            }
        }
    }
    frame(&format!("{} · pxe-suite console", m.name), viewer, &b)
}

/// The login form; `error` says why the last try failed.
pub fn login(error: Option<&str>, home: &str) -> String {
    let mut b = String::from("<h1>Log in</h1>\n");
    if let Some(e) = error {
        let _ = writeln!(
            b,
            "<p id=\"login-error\" class=\"failed\">{}</p>",
            escape(e)
        );
    }
    b.push_str(
        "<form id=\"login-form\" method=\"post\" action=\"/login\">\
         <label>Admin token <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\"></label> \
         <button type=\"submit\">Log in</button></form>\n\
         <p>The token is the content of httpd-tree's <code>--admin-token-file</code>.</p>\n",
    );
    frame(
        "Log in · pxe-suite console",
        Viewer { csrf: None, home },
        &b,
    )
}

#[cfg(test)]
#[path = "console_page_tests.rs"]
mod tests;
