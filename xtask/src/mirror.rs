//! `cargo xtask mirror [--out DIR]`: the Debian 12 archive the lab installs from without
//! the internet, built from the package registry into the target directory
//! (default `target/lab/mirror`).
//!
//! What it holds: the packages of Priority required and important, [`PACKAGES`] (kernel,
//! GRUB for BIOS and UEFI, openssh-server, cloud-init, ...) and the sets of [`APART`]
//! (packages that conflict with each other, resolved one set at a time), each with its
//! dependency closure as apt resolves it for an empty system (no Recommends, as
//! debootstrap and mmdebstrap install).
//!
//! How: a private apt (`mirror/apt.rs`) resolves and downloads, checking every file's
//! SHA-256; the `Packages` index is Debian's own stanzas of the chosen versions, so
//! Priority, Section and hashes are Debian's; `Release` lists the indexes' SHA-256 and is
//! signed with a throwaway key kept under the target directory (`mirror/sign.rs`), whose
//! public keyring sits at the archive's root (`pxe-suite-lab-archive.gpg`).
//!
//! Cached: when the recipe (this list, the machine's Debian sources) is the one the stamp
//! names and every file of the index is in the pool with its size and SHA-256, a run only
//! verifies. Otherwise it fetches what is missing or wrong and drops what is no longer
//! listed.

mod apt;
mod check;
mod index;
mod sign;

use anyhow::{Context, Result, bail};
use index::{IndexFile, ReleaseInfo, Stanza};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Packages of the lab's Debian 12 systems besides those of Priority required and
/// important (which already bring ifupdown, isc-dhcp-client, apt and the like).
pub(crate) const PACKAGES: &[&str] = &[
    "linux-image-amd64",
    "initramfs-tools",
    "systemd-sysv",
    // debootstrap's bookworm script adds it to the base (merged /usr).
    "usr-is-merged",
    // GRUB's images for both firmwares, and update-grub; the image installs both itself.
    "grub-pc-bin",
    "grub-efi-amd64-bin",
    "grub2-common",
    "openssh-server",
    "sudo",
    "cloud-init",
    "cloud-guest-utils",
    "e2fsprogs",
    "dosfstools",
    "fdisk",
    "parted",
    "zstd",
    "xz-utils",
    "ca-certificates",
    "curl",
];

/// Sets resolved one at a time: GRUB's packages that keep the boot loader installed on
/// upgrades conflict with each other, and a debootstrap from this mirror picks one.
pub(crate) const APART: &[&[&str]] = &[&["grub-pc"], &["grub-efi-amd64"]];

/// The suite the archive serves, as Debian names it.
pub(crate) const SUITE: &str = "bookworm";
/// The public keyring, at the archive's root.
pub(crate) const KEYRING: &str = "pxe-suite-lab-archive.gpg";
/// Changed whenever the way the archive is built changes, so the cache is rebuilt.
const RECIPE: &str = "mirror recipe 1";
const STAMP: &str = ".pxe-suite-mirror.stamp";
/// Files per apt-helper run: enough for parallel downloads, often enough for progress.
const BATCH: usize = 12;

pub(crate) fn default_out() -> PathBuf {
    lab_dir().join("mirror")
}

/// `target/lab`, where the lab's built artifacts live.
pub(crate) fn lab_dir() -> PathBuf {
    crate::dist::target_dir(&crate::ci::workspace_root()).join("lab")
}

const HELP: &str = "\
usage: cargo xtask mirror [--out DIR] [--check]

Builds the Debian 12 (bookworm) archive the lab installs from without the internet: the
packages of Priority required and important, a kernel (linux-image-amd64), GRUB for BIOS
and UEFI (grub-pc, grub-efi-amd64 and their -bin packages), openssh-server, cloud-init,
sudo and a few disk tools, each with its dependency closure as apt resolves it for an
empty system without Recommends. The packages come from the machine's own Debian sources
(/etc/apt/sources.list*: bookworm, bookworm-updates, bookworm-security, component main),
read by a private apt under target/lab/cache/mirror-apt; every file is checked against the
SHA-256 of Debian's index.

The result is a normal archive: dists/bookworm/{Release,InRelease,Release.gpg},
dists/bookworm/main/binary-amd64/Packages{,.gz,.xz} and pool/. Release is signed with a
throwaway Ed25519 key kept in target/lab/cache/mirror-gnupg; its public key is at the
archive's root (pxe-suite-lab-archive.gpg for apt's Signed-By and debootstrap --keyring,
.asc beside it). Serve the directory over HTTP (httpd-tree --root) or use it as file://.

Cached: a second run verifies every pool file against the index and the signature and
says \"up to date\"; a change of this list or of the machine's sources fetches only what is
missing and drops what is no longer listed. Progress goes to stderr.

options:
  --out DIR   where the archive goes (default target/lab/mirror)
  --check     then use it as a client would (as root): httpd-tree serves it on 127.0.0.1
              in a network namespace made for the check; a private apt there, trusting
              only the published keyring, runs apt-get update and downloads every package
              set over HTTP; fails unless every file of the index came and verified
  -h, --help  this text
";

pub(crate) fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprint!("{HELP}");
        return Ok(());
    }
    let check = args.iter().any(|a| a == "--check");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--check").cloned().collect();
    let out = parse_out(&rest, "mirror", default_out())?;
    crate::ci::install(crate::lab::assets::MIRROR_PACKAGES)?;
    build(&out)?;
    if check {
        if !crate::lab::nix_is_root() {
            bail!("cargo xtask mirror --check needs root (a network namespace)");
        }
        check::run(&out, &lab_dir().join("cache/mirror-check"))?;
    }
    Ok(())
}

/// `--out PATH` or the default; anything else is an error.
pub(crate) fn parse_out(args: &[String], task: &str, default: PathBuf) -> Result<PathBuf> {
    let mut out = default;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(it.next().context("--out needs a path")?),
            other => bail!("unknown option {other} (cargo xtask {task} [--out PATH])"),
        }
    }
    Ok(out)
}

/// Builds (or verifies) the mirror at `out`; returns its `Packages` index's SHA-256, which
/// names its content for the image's cache.
pub(crate) fn build(out: &Path) -> Result<String> {
    let start = Instant::now();
    let cache = lab_dir().join("cache");
    let signer = sign::Signer::open(&cache.join("mirror-gnupg"))?;
    let sources = apt::machine_sources()?;
    let stamp = recipe_stamp(&sources);
    if read(&out.join(STAMP)).as_deref() == Some(stamp.as_str()) {
        if let Ok((count, bytes)) = verify(out) {
            eprintln!(
                "mirror: up to date: {count} packages ({}) verified in {:.1} s: {}",
                mib(bytes),
                start.elapsed().as_secs_f64(),
                out.display()
            );
            return packages_sha256(out);
        }
        eprintln!("mirror: the pool does not match its index; fetching again");
    }
    let _ = std::fs::remove_file(out.join(STAMP));
    let chosen = resolve(&cache.join("mirror-apt"), &sources, out)?;
    prune(out, &chosen)?;
    write_indexes(out, &chosen, &signer)?;
    signer.export(&out.join(KEYRING))?;
    sign::Signer::verify(&out.join(KEYRING), &release_dir(out).join("InRelease"))?;
    std::fs::write(out.join(STAMP), &stamp).context("writing the mirror's stamp")?;
    let bytes: u64 = chosen.iter().filter_map(Stanza::size).sum();
    eprintln!(
        "mirror: {} packages ({}) in {:.0} s: {}",
        chosen.len(),
        mib(bytes),
        start.elapsed().as_secs_f64(),
        out.display()
    );
    packages_sha256(out)
}

fn recipe_stamp(sources: &str) -> String {
    let text = format!("{RECIPE}\n{PACKAGES:?}\n{APART:?}\n{sources}");
    sha256_hex(text.as_bytes())
}

fn release_dir(out: &Path) -> PathBuf {
    out.join("dists").join(SUITE)
}

pub(crate) fn packages_path(out: &Path) -> PathBuf {
    release_dir(out).join("main/binary-amd64/Packages")
}

fn packages_sha256(out: &Path) -> Result<String> {
    sha256_file(&packages_path(out))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

/// Resolves the package sets with the private apt, fetches what the pool lacks, and
/// returns the chosen stanzas.
fn resolve(apt_dir: &Path, sources: &str, out: &Path) -> Result<Vec<Stanza>> {
    let apt = apt::Apt::new(apt_dir, sources)?;
    eprintln!(
        "mirror: apt-get update (private configuration in {})",
        apt_dir.display()
    );
    apt.update()?;
    let all = apt.stanzas()?;
    let mut first: Vec<String> = index::base_names(&all);
    first.extend(PACKAGES.iter().map(|p| (*p).to_owned()));
    let mut sets = vec![first];
    sets.extend(
        APART
            .iter()
            .map(|s| s.iter().map(|p| (*p).to_owned()).collect()),
    );
    // Path in the archive -> URI, over every set.
    let mut uris = BTreeMap::new();
    for set in &sets {
        uris.extend(apt.resolve(set)?.into_iter().map(|(uri, path)| (path, uri)));
    }
    let by_path: BTreeMap<&str, &Stanza> = all.iter().map(|s| (s.filename(), s)).collect();
    let mut chosen = Vec::new();
    let mut fetches = Vec::new();
    for (path, uri) in &uris {
        let stanza = by_path
            .get(path.as_str())
            .with_context(|| format!("{path} is in no Packages list apt fetched"))?;
        let (sha256, size) = (
            stanza.sha256().context("a stanza without SHA256")?,
            stanza.size().context("a stanza without Size")?,
        );
        let dest = out.join(path);
        if !file_matches(&dest, size, sha256) {
            fetches.push(apt::Fetch {
                uri: uri.clone(),
                dest,
                sha256: sha256.to_owned(),
                size,
            });
        }
        chosen.push((*stanza).clone());
    }
    fetch(&apt, &fetches, chosen.len())?;
    Ok(chosen)
}

/// Downloads in batches, showing packages and bytes fetched of the total: a progress bar
/// on a terminal, a line per batch otherwise (CI logs).
fn fetch(apt: &apt::Apt, fetches: &[apt::Fetch], total: usize) -> Result<()> {
    let have = total - fetches.len();
    let bytes_total: u64 = fetches.iter().map(|f| f.size).sum();
    eprintln!(
        "mirror: {have} of {total} packages already in the pool; fetching {} ({})",
        fetches.len(),
        mib(bytes_total)
    );
    if fetches.is_empty() {
        return Ok(());
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(bytes_total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "mirror: fetching [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let mut done = 0;
    let mut bytes = 0;
    for batch in fetches.chunks(BATCH) {
        apt.download(batch)?;
        done += batch.len();
        let size: u64 = batch.iter().map(|f| f.size).sum();
        bytes += size;
        match &bar {
            Some(bar) => {
                bar.inc(size);
                bar.set_message(format!("{done}/{} packages", fetches.len()));
            }
            None => eprintln!(
                "mirror: fetched {done}/{} packages, {} of {}",
                fetches.len(),
                mib(bytes),
                mib(bytes_total)
            ),
        }
    }
    if let Some(bar) = bar {
        bar.finish();
    }
    Ok(())
}

/// Removes pool files no longer listed (from an older list) and empty directories.
fn prune(out: &Path, chosen: &[Stanza]) -> Result<()> {
    let keep: std::collections::BTreeSet<PathBuf> =
        chosen.iter().map(|s| out.join(s.filename())).collect();
    let pool = out.join("pool");
    for file in files_under(&pool)? {
        if !keep.contains(&file) {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    Ok(())
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// Writes `Packages` (plain, gzip, xz) and a signed `Release`.
fn write_indexes(out: &Path, chosen: &[Stanza], signer: &sign::Signer) -> Result<()> {
    let packages = packages_path(out);
    let dir = packages.parent().context("Packages has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&packages, index::packages_text(chosen)).context("writing Packages")?;
    compress(&packages, "gzip", "gz")?;
    compress(&packages, "xz", "xz")?;
    let mut files = Vec::new();
    for name in ["Packages", "Packages.gz", "Packages.xz"] {
        let path = dir.join(name);
        files.push(IndexFile {
            path: format!("main/binary-amd64/{name}"),
            size: std::fs::metadata(&path)?.len(),
            sha256: sha256_file(&path)?,
        });
    }
    let date = jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S UTC")
        .to_string();
    let info = ReleaseInfo {
        suite: SUITE,
        codename: SUITE,
        version: "12",
        date: &date,
    };
    let release = release_dir(out).join("Release");
    std::fs::write(&release, index::release_text(&info, &files)).context("writing Release")?;
    signer.sign(&release)
}

/// `program -9 -n -c FILE > FILE.ext` (gzip and xz take the same options).
fn compress(path: &Path, program: &str, ext: &str) -> Result<()> {
    let target = path.with_extension(ext);
    let file =
        std::fs::File::create(&target).with_context(|| format!("creating {}", target.display()))?;
    let mut cmd = std::process::Command::new(program);
    if program == "gzip" {
        cmd.arg("-n");
    }
    let status = cmd
        .args(["-9", "-c"])
        .arg(path)
        .stdout(file)
        .status()
        .with_context(|| format!("running {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", path.display());
    }
    Ok(())
}

/// Every file of the index is in the pool with its size and SHA-256, and `InRelease`
/// verifies with the published keyring. Returns (packages, bytes).
fn verify(out: &Path) -> Result<(usize, u64)> {
    sign::Signer::verify(&out.join(KEYRING), &release_dir(out).join("InRelease"))?;
    let text = std::fs::read_to_string(packages_path(out)).context("reading Packages")?;
    let stanzas = index::stanzas(&text);
    let mut bytes = 0;
    for s in &stanzas {
        let (size, sha256) = (s.size().unwrap_or(0), s.sha256().unwrap_or(""));
        if !file_matches(&out.join(s.filename()), size, sha256) {
            bail!("{} is missing or differs", s.filename());
        }
        bytes += size;
    }
    if stanzas.is_empty() {
        bail!("empty Packages index");
    }
    Ok((stanzas.len(), bytes))
}

fn file_matches(path: &Path, size: u64, sha256: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() == size)
        && sha256_file(path).is_ok_and(|h| h == sha256)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_text() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn out_option() {
        let d = PathBuf::from("/d");
        assert_eq!(parse_out(&[], "mirror", d.clone()).ok(), Some(d.clone()));
        let args = ["--out".to_owned(), "/x".to_owned()];
        assert_eq!(
            parse_out(&args, "mirror", d.clone()).ok(),
            Some(PathBuf::from("/x"))
        );
        assert!(parse_out(&["--bogus".to_owned()], "mirror", d).is_err());
    }

    #[test]
    fn stamp_follows_the_sources() {
        assert_ne!(recipe_stamp("a"), recipe_stamp("b"));
        assert_eq!(recipe_stamp("a"), recipe_stamp("a"));
    }
}
