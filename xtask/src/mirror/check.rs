//! `cargo xtask mirror --check`: the archive as a client sees it. httpd-tree serves it
//! (`--root`, nothing else) on 127.0.0.1 in a network namespace made for the check and
//! deleted after it; a private apt there, trusting only the published keyring, runs
//! `apt-get update` (the signature and the index hashes) and downloads over HTTP, for an
//! empty system, each package set the mirror was built from. Every file of the index must
//! have come, each checked by apt against the index.

use super::{APART, KEYRING, PACKAGES, SUITE, apt, index};
use crate::lab::{net::Netns, procs::Proc};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::{Duration, Instant};

const LISTEN: &str = "127.0.0.1:8080";

/// The private apt's one source: the archive served at `url`, trusted by `keyring`.
pub(crate) fn sources(url: &str, keyring: &Path) -> String {
    format!(
        "Types: deb\nURIs: {url}\nSuites: {SUITE}\nComponents: main\nSigned-By: {}\n",
        keyring.display()
    )
}

/// Runs the check on the archive at `out`, with work files under `work`.
pub(crate) fn run(out: &Path, work: &Path) -> Result<()> {
    let start = Instant::now();
    let bins = crate::lab::build_daemons()?;
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let ns = Netns::create(&format!("pxm-mirror-{}", std::process::id()))?;
    let mut argv = crate::lab::net::in_ns(&ns.name);
    argv.push(bins.path("httpd-tree"));
    argv.extend(["--listen".into(), LISTEN.into(), "--root".into()]);
    argv.push(out.display().to_string());
    let mut httpd = Proc::spawn("httpd-tree", &argv, &work.join("httpd-tree.log"))?;
    if !httpd.wait_for("ready", Duration::from_secs(20)) {
        bail!(
            "httpd-tree did not start; its log: {}",
            work.join("httpd-tree.log").display()
        );
    }
    let url = format!("http://{LISTEN}/");
    eprintln!(
        "mirror check: httpd-tree --root {} on {url} in namespace {} (pid {})",
        out.display(),
        ns.name,
        httpd.pid()
    );
    let apt =
        apt::Apt::new(&work.join("apt"), &sources(&url, &out.join(KEYRING)))?.in_netns(&ns.name);
    apt.update()
        .context("apt-get update against the served archive")?;
    let listed = index::stanzas(
        &std::fs::read_to_string(super::packages_path(out)).context("reading Packages")?,
    );
    let mut sets = vec![index::base_names(&apt.stanzas()?)];
    sets[0].extend(PACKAGES.iter().map(|p| (*p).to_owned()));
    sets.extend(
        APART
            .iter()
            .map(|s| s.iter().map(|p| (*p).to_owned()).collect()),
    );
    for set in &sets {
        apt.download_only(set)?;
    }
    let fetched = debs_in(&apt.archives())?;
    httpd.stop();
    if fetched != listed.len() {
        bail!(
            "apt fetched {fetched} packages over HTTP; the index lists {}",
            listed.len()
        );
    }
    println!(
        "mirror check: apt-get update (signature good) and {fetched} of {} packages fetched \
         over HTTP from httpd-tree and verified by apt, in {:.1} s",
        listed.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn debs_in(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        if entry?.path().extension().is_some_and(|e| e == "deb") {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_signed_source() {
        assert_eq!(
            sources("http://h/", Path::new("/k.gpg")),
            "Types: deb\nURIs: http://h/\nSuites: bookworm\nComponents: main\n\
             Signed-By: /k.gpg\n"
        );
    }
}
