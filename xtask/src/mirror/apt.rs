//! A private apt: its own configuration, sources (the machine's Debian 12 entries), lists,
//! archives and an empty dpkg status under the cache directory. Resolving against the empty
//! status gives what a new system needs, with apt's own choices among alternatives; nothing
//! of the machine's apt is read or changed.

use super::index::{self, Stanza};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The suites taken from the machine's sources: the release, its updates and security.
const SUITES: &[&str] = &["bookworm", "bookworm-updates", "bookworm-security"];

pub(crate) struct Apt {
    dir: PathBuf,
    /// The network namespace apt runs in (`ip netns exec`), if any.
    netns: Option<String>,
}

/// A file to fetch: where from, where to, and the SHA-256 the index gives for it.
pub(crate) struct Fetch {
    pub(crate) uri: String,
    pub(crate) dest: PathBuf,
    pub(crate) sha256: String,
    pub(crate) size: u64,
}

impl Apt {
    /// Lays out the private configuration under `dir` with `sources` (deb822 text).
    pub(crate) fn new(dir: &Path, sources: &str) -> Result<Apt> {
        for sub in [
            "etc/apt.conf.d",
            "etc/preferences.d",
            "etc/sources.list.d",
            "lists/partial",
            "archives/partial",
            "state",
        ] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        write(&dir.join("state/status"), "")?;
        write(&dir.join("etc/sources.list.d/debian.sources"), sources)?;
        write(&dir.join("apt.conf"), &apt_conf(dir))?;
        Ok(Apt {
            dir: dir.to_owned(),
            netns: None,
        })
    }

    /// Runs apt in network namespace `ns` from now on.
    pub(crate) fn in_netns(mut self, ns: &str) -> Apt {
        self.netns = Some(ns.to_owned());
        self
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        };
        cmd.env("APT_CONFIG", self.dir.join("apt.conf"))
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LC_ALL", "C.UTF-8");
        cmd
    }

    /// `apt-get update`, failing on any index it could not fetch.
    pub(crate) fn update(&self) -> Result<()> {
        let status = self
            .command("apt-get")
            .args(["update", "-qq", "--error-on=any"])
            .status()
            .context("running apt-get update")?;
        if !status.success() {
            bail!("apt-get update (private configuration) failed ({status})");
        }
        Ok(())
    }

    /// `apt-get install --download-only` of `names` on the empty system: the files land in
    /// [`Apt::archives`], each checked by apt against the index.
    pub(crate) fn download_only(&self, names: &[String]) -> Result<()> {
        let output = self
            .command("apt-get")
            .args(["install", "--download-only", "-qq", "-y"])
            .args(names)
            .output()
            .context("running apt-get install --download-only")?;
        if !output.status.success() {
            bail!(
                "apt-get install --download-only failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Where apt keeps what it downloaded.
    pub(crate) fn archives(&self) -> PathBuf {
        self.dir.join("archives")
    }

    /// Every stanza of every `Packages` list fetched.
    pub(crate) fn stanzas(&self) -> Result<Vec<Stanza>> {
        let lists = self.dir.join("lists");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&lists).context("reading the private apt lists")? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with("_Packages") {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                out.extend(index::stanzas(&text));
            }
        }
        if out.is_empty() {
            bail!(
                "apt-get update left no Packages list in {}",
                lists.display()
            );
        }
        Ok(out)
    }

    /// What installing `names` on an empty system downloads: (URI, path in the archive).
    pub(crate) fn resolve(&self, names: &[String]) -> Result<Vec<(String, String)>> {
        let output = self
            .command("apt-get")
            .args(["install", "--print-uris", "-qq", "-y"])
            .args(names)
            .output()
            .context("running apt-get install --print-uris")?;
        if !output.status.success() {
            bail!(
                "apt-get could not resolve the package list: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text.lines().filter_map(index::parse_print_uri).collect())
    }

    /// Downloads `batch` with apt's own fetcher (`apt-helper download-file`), which checks
    /// each file's SHA-256 and leaves nothing under the final name when it does not match.
    pub(crate) fn download(&self, batch: &[Fetch]) -> Result<()> {
        let mut cmd = self.command("/usr/lib/apt/apt-helper");
        cmd.args(["-qq", "download-file"]);
        for f in batch {
            if let Some(parent) = f.dest.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            cmd.arg(&f.uri)
                .arg(&f.dest)
                .arg(format!("SHA256:{}", f.sha256));
        }
        let status = cmd.status().context("running apt-helper download-file")?;
        if !status.success() {
            bail!("apt-helper download-file failed ({status})");
        }
        Ok(())
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The private apt configuration: every directory under `dir`, amd64 only, no
/// Recommends (as debootstrap and mmdebstrap install), plain-text lists, no translations.
fn apt_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "Dir::Etc \"{d}/etc\";\n\
         Dir::Etc::SourceList \"{d}/etc/sources.list\";\n\
         Dir::Etc::SourceParts \"{d}/etc/sources.list.d\";\n\
         Dir::Etc::Parts \"{d}/etc/apt.conf.d\";\n\
         Dir::Etc::Preferences \"{d}/etc/preferences\";\n\
         Dir::Etc::PreferencesParts \"{d}/etc/preferences.d\";\n\
         Dir::State \"{d}/state\";\n\
         Dir::State::Lists \"{d}/lists\";\n\
         Dir::State::status \"{d}/state/status\";\n\
         Dir::Cache \"{d}/cache\";\n\
         Dir::Cache::archives \"{d}/archives\";\n\
         Dir::Cache::pkgcache \"\";\n\
         Dir::Cache::srcpkgcache \"\";\n\
         APT::Architecture \"amd64\";\n\
         APT::Architectures {{ \"amd64\"; }};\n\
         APT::Install-Recommends \"false\";\n\
         APT::Install-Suggests \"false\";\n\
         APT::Sandbox::User \"root\";\n\
         Acquire::Languages \"none\";\n\
         Acquire::GzipIndexes \"false\";\n\
         Acquire::Check-Valid-Until \"false\";\n\
         Acquire::Retries \"3\";\n"
    )
}

/// The machine's Debian 12 sources as deb822 text: entries of its `*.sources` files whose
/// Suites name bookworm, its updates or security (others dropped), component `main`
/// only; one-line `*.list` entries converted.
pub(crate) fn machine_sources() -> Result<String> {
    let mut deb822 = Vec::new();
    let mut one_line = Vec::new();
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("sources") => deb822.push(text),
            Some("list") => one_line.push(text),
            _ if path.ends_with("sources.list") => one_line.push(text),
            _ => {}
        }
    }
    let text = select_sources(&deb822, &one_line);
    if text.is_empty() {
        bail!("the machine's apt sources name no Debian 12 (bookworm) suite");
    }
    Ok(text)
}

/// Pure part of [`machine_sources`].
pub(crate) fn select_sources(deb822: &[String], one_line: &[String]) -> String {
    let mut out = Vec::new();
    for text in deb822 {
        for stanza in index::stanzas(text) {
            if let Some(s) = filter_stanza(stanza.text()) {
                out.push(s);
            }
        }
    }
    for text in one_line {
        out.extend(text.lines().filter_map(convert_line));
    }
    out.join("\n")
}

fn wanted_suites(suites: &str) -> Vec<&str> {
    suites
        .split_whitespace()
        .filter(|s| SUITES.contains(s))
        .collect()
}

fn filter_stanza(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut deb = false;
    let mut any_suite = false;
    let mut enabled = true;
    for line in text.lines() {
        let (key, value) = line.split_once(':').unwrap_or((line, ""));
        match key.to_ascii_lowercase().as_str() {
            "types" => deb = value.split_whitespace().any(|t| t == "deb"),
            "enabled" => enabled = value.trim() != "no",
            _ => {}
        }
        if line.starts_with('#') {
            continue;
        } else if key.eq_ignore_ascii_case("types") {
            out.push_str("Types: deb\n");
        } else if key.eq_ignore_ascii_case("suites") {
            let suites = wanted_suites(value);
            any_suite = !suites.is_empty();
            out.push_str(&format!("Suites: {}\n", suites.join(" ")));
        } else if key.eq_ignore_ascii_case("components") {
            out.push_str("Components: main\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    (deb && any_suite && enabled).then_some(out)
}

/// `deb [options] URI SUITE COMPONENTS...` to a deb822 stanza, if its suite is wanted.
fn convert_line(line: &str) -> Option<String> {
    let line = line.split('#').next()?.trim();
    let rest = line.strip_prefix("deb ")?.trim_start();
    let (options, rest) = match rest.strip_prefix('[') {
        Some(r) => r.split_once(']')?,
        None => ("", rest),
    };
    let mut words = rest.split_whitespace();
    let (uri, suite) = (words.next()?, words.next()?);
    if !SUITES.contains(&suite) {
        return None;
    }
    let mut out = format!("Types: deb\nURIs: {uri}\nSuites: {suite}\nComponents: main\n");
    for opt in options.split_whitespace() {
        if let Some(keyring) = opt.strip_prefix("signed-by=") {
            out.push_str(&format!("Signed-By: {keyring}\n"));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_debian_12_suites_and_main() {
        let deb822 = "\
Types: deb
# a mirror of the release
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates bookworm-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://other.example/apt
Suites: nodistro
Components: main
";
        let lists = "deb [arch=amd64 signed-by=/k.gpg] http://sec.example/debian-security \
                     bookworm-security main\n\
                     deb http://other.example cloud-sdk-bookworm main\n";
        let text = select_sources(&[deb822.to_owned()], &[lists.to_owned()]);
        assert_eq!(
            text,
            "Types: deb\n\
             URIs: http://mirror.example/debian\n\
             Suites: bookworm bookworm-updates\n\
             Components: main\n\
             Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\
             \n\
             Types: deb\n\
             URIs: http://sec.example/debian-security\n\
             Suites: bookworm-security\n\
             Components: main\n\
             Signed-By: /k.gpg\n"
        );
    }

    #[test]
    fn config_keeps_everything_private() {
        let conf = apt_conf(Path::new("/c"));
        assert!(conf.contains("Dir::State::status \"/c/state/status\";\n"));
        assert!(conf.contains("Dir::Etc::Parts \"/c/etc/apt.conf.d\";\n"));
        assert!(conf.contains("APT::Install-Recommends \"false\";\n"));
    }
}
