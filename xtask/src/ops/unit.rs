//! Reading a systemd unit file the way systemd does for the parts the checks use: sections
//! and assignments, `ExecStart=` command lines with their prefixes, quoting and `$VAR` /
//! `${VAR}` expansion (systemd.service(5), "Command lines"), and the execution settings
//! that decide who a service runs as (`User=`, `SupplementaryGroups=`,
//! `AmbientCapabilities=`, …), turned into a `setpriv(1)` command line so a check can start
//! the service as systemd would.

use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// A parsed unit: every assignment, in order, per section.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub(crate) name: String,
    entries: Vec<(String, String, String)>,
}

impl Unit {
    pub(crate) fn parse(name: &str, text: &str) -> Result<Unit> {
        let mut entries = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if pending.is_empty() && (line.is_empty() || line.starts_with(['#', ';'])) {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let line = format!("{pending}{line}");
            pending.clear();
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_string();
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                bail!("{name}:{}: expected KEY=VALUE: {line}", n + 1);
            };
            entries.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Unit {
            name: name.to_string(),
            entries,
        })
    }

    /// Every value of `key` in `section`, in order (an empty assignment resets the list,
    /// as systemd does for list settings).
    pub(crate) fn all(&self, section: &str, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (s, k, v) in &self.entries {
            if s == section && k == key {
                if v.is_empty() {
                    out.clear();
                } else {
                    out.push(v.clone());
                }
            }
        }
        out
    }

    /// The last value of `key` in `section`.
    pub(crate) fn get(&self, section: &str, key: &str) -> Option<String> {
        self.all(section, key).pop()
    }

    /// The environment systemd would give the command: `Environment=` and the
    /// `EnvironmentFile=`s (a leading `-` means the file may be missing), read with `read`
    /// (inside the installed system).
    pub(crate) fn environment(
        &self,
        read: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        for e in self.all("Service", "Environment") {
            for word in split_words(&e)? {
                if let Some((k, v)) = word.split_once('=') {
                    env.insert(k.to_string(), v.to_string());
                }
            }
        }
        for f in self.all("Service", "EnvironmentFile") {
            let (optional, path) = match f.strip_prefix('-') {
                Some(p) => (true, p),
                None => (false, f.as_str()),
            };
            match read(path) {
                Ok(text) => {
                    for line in text.lines().map(str::trim) {
                        if line.is_empty() || line.starts_with(['#', ';']) {
                            continue;
                        }
                        if let Some((k, v)) = line.split_once('=') {
                            let v = v.trim().trim_matches('"').trim_matches('\'');
                            env.insert(k.trim().to_string(), v.to_string());
                        }
                    }
                }
                Err(_) if optional => {}
                Err(e) => bail!("{}: EnvironmentFile {path}: {e}", self.name),
            }
        }
        Ok(env)
    }

    /// `ExecStart=` (or another `Exec*=`) as argv, expanded with `env`; prefixes such as
    /// `-` or `@` are dropped (none of ours uses `@`).
    pub(crate) fn command(
        &self,
        key: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<Vec<Vec<String>>> {
        self.all("Service", key)
            .iter()
            .map(|line| expand_command(line, env))
            .collect()
    }

    /// The groups of `SupplementaryGroups=`, in order.
    pub(crate) fn supplementary_groups(&self) -> Vec<String> {
        self.all("Service", "SupplementaryGroups")
            .iter()
            .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    }

    /// The supplementary groups systemd gives the process: the unit's group, the groups
    /// `member_of` says list the user (/etc/group, as initgroups reads it), then
    /// `SupplementaryGroups=`.
    pub(crate) fn groups(&self, member_of: &[String]) -> Vec<String> {
        let Some(user) = self.get("Service", "User") else {
            return Vec::new();
        };
        let primary = self.get("Service", "Group").unwrap_or(user);
        let mut out: Vec<String> = Vec::new();
        for g in std::iter::once(primary)
            .chain(member_of.iter().cloned())
            .chain(self.supplementary_groups())
        {
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }

    /// The `setpriv` arguments that give a command the unit's user, group, supplementary
    /// groups ([`Unit::groups`]), capabilities and no-new-privileges, as systemd applies
    /// them before exec.
    pub(crate) fn setpriv(&self, member_of: &[String]) -> Vec<String> {
        let mut v = vec!["setpriv".to_string()];
        if let Some(u) = self.get("Service", "User") {
            v.push(format!("--reuid={u}"));
            v.push(format!(
                "--regid={}",
                self.get("Service", "Group").unwrap_or_else(|| u.clone())
            ));
            v.push(format!("--groups={}", self.groups(member_of).join(",")));
        }
        let caps: Vec<String> = self
            .all("Service", "AmbientCapabilities")
            .iter()
            .flat_map(|l| l.split_whitespace().map(cap_name).collect::<Vec<_>>())
            .collect();
        let bounding: Vec<String> = self
            .all("Service", "CapabilityBoundingSet")
            .iter()
            .flat_map(|l| l.split_whitespace().map(cap_name).collect::<Vec<_>>())
            .collect();
        let list = |c: &[String]| {
            std::iter::once("-all".to_string())
                .chain(c.iter().map(|c| format!("+{c}")))
                .collect::<Vec<_>>()
                .join(",")
        };
        v.push(format!("--inh-caps={}", list(&caps)));
        if !caps.is_empty() {
            v.push(format!("--ambient-caps={}", list(&caps)));
        }
        v.push(format!("--bounding-set={}", list(&bounding)));
        if self.get("Service", "NoNewPrivileges").as_deref() == Some("yes") {
            v.push("--no-new-privs".into());
        }
        v.push("--".into());
        v
    }
}

/// `CAP_NET_RAW` → `net_raw`, setpriv's spelling.
fn cap_name(c: &str) -> String {
    c.trim_start_matches("CAP_").to_ascii_lowercase()
}

/// Splits on whitespace, honouring double and single quotes and backslash escapes.
fn split_words(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                    in_word = true;
                }
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        bail!("unterminated quote in: {line}");
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// One command line: prefixes off, words split, `$VAR` words replaced by the variable's
/// words (none when unset or empty) and `${VAR}` replaced in place.
pub(crate) fn expand_command(line: &str, env: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let line = line.trim_start_matches(['-', '@', ':', '+', '!']);
    let mut argv = Vec::new();
    for word in split_words(line)? {
        if let Some(name) = word.strip_prefix('$')
            && !name.starts_with('{')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            if let Some(v) = env.get(name) {
                argv.extend(v.split_whitespace().map(str::to_string));
            }
            continue;
        }
        argv.push(expand_braced(&word, env));
    }
    if argv.is_empty() {
        bail!("empty command line");
    }
    Ok(argv)
}

fn expand_braced(word: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push_str(env.get(&after[..end]).map_or("", String::as_str));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "\
# comment
[Unit]
Description=demo

[Service]
Environment=A=1 \"B=two words\"
ExecStart=-/usr/sbin/demo -f \\
  --flag \"quoted arg\" $ARGS $UNSET ${A}x
User=pxe
AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW
CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW
NoNewPrivileges=yes
";

    #[test]
    fn exec_start_is_split_and_expanded_like_systemd() {
        let u = Unit::parse("demo.service", UNIT).expect("parses");
        let mut env = u
            .environment(|p| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    p.to_string(),
                ))
            })
            .expect("env");
        assert_eq!(env.get("B").map(String::as_str), Some("two words"));
        env.insert("ARGS".into(), "eth0  eth1".into());
        let cmd = u.command("ExecStart", &env).expect("command");
        assert_eq!(
            cmd,
            vec![vec![
                "/usr/sbin/demo",
                "-f",
                "--flag",
                "quoted arg",
                "eth0",
                "eth1",
                "1x"
            ]]
        );
    }

    #[test]
    fn setpriv_carries_user_and_capabilities() {
        let u = Unit::parse("demo.service", UNIT).expect("parses");
        let s = u.setpriv(&[]).join(" ");
        assert_eq!(
            s,
            "setpriv --reuid=pxe --regid=pxe --groups=pxe \
             --inh-caps=-all,+net_bind_service,+net_raw \
             --ambient-caps=-all,+net_bind_service,+net_raw \
             --bounding-set=-all,+net_bind_service,+net_raw --no-new-privs --"
        );
    }

    #[test]
    fn groups_are_the_units_then_the_users_then_supplementary_ones() {
        let text = "[Service]\nUser=pxe-dhcpd\nGroup=pxe-dhcpd\n\
                    SupplementaryGroups=pxe-state\nSupplementaryGroups=adm pxe-state\n";
        let u = Unit::parse("x", text).expect("parses");
        assert_eq!(
            u.groups(&["lp".to_string(), "pxe-dhcpd".to_string()]),
            vec!["pxe-dhcpd", "lp", "pxe-state", "adm"]
        );
        assert!(
            u.setpriv(&[])
                .contains(&"--groups=pxe-dhcpd,pxe-state,adm".to_string())
        );
        let root = Unit::parse("x", "[Service]\nSupplementaryGroups=adm\n").expect("parses");
        assert!(root.groups(&[]).is_empty(), "no User=: root's own groups");
    }

    #[test]
    fn empty_assignment_resets_and_bad_lines_fail() {
        let u = Unit::parse("x", "[Service]\nExecStart=/a\nExecStart=\nExecStart=/b\n")
            .expect("parses");
        assert_eq!(u.all("Service", "ExecStart"), vec!["/b"]);
        assert!(Unit::parse("x", "[Service]\nnonsense\n").is_err());
        assert!(expand_command("/a \"open", &BTreeMap::new()).is_err());
    }
}
