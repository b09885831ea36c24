//! `httpd-tree import` of what is not an installer's tree: a Debian archive becomes a
//! tree entry (`trees: NAME: PATH`) that a profile's `deploy: packages:` installs from, with
//! its suites and architectures read from `dists/<suite>/Release`; a disk image (raw,
//! zstd, xz, gzip, qcow2, told by its bytes) becomes the `image:` entry of a profile's
//! `deploy:` (URL under its directory's tree, format, SHA-256), and its directory a tree.

use crate::cli::ImportArgs;
use crate::import_cmd::{add, copied};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use pxe_model::deploy::ImageFormat;
use pxe_model::import::archive::{self, Archive};
use pxe_model::import::image::{self, HEAD_BYTES};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

/// A path as a double-quoted YAML scalar.
fn quoted(path: &Path) -> String {
    let s = path.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `bookworm (stable 12.8; amd64, all; main)`.
fn describe(a: &Archive) -> String {
    a.suites
        .iter()
        .map(|s| {
            let mut what = Vec::new();
            what.extend(s.suite.iter().filter(|x| **x != s.dir).cloned());
            what.extend(s.version.iter().cloned());
            let what = if what.is_empty() {
                String::new()
            } else {
                format!("{}; ", what.join(" "))
            };
            format!(
                "{} ({what}{}; {})",
                s.dir,
                s.architectures.join(", "),
                s.components.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Debian archive: a tree entry, and how a profile installs from it.
pub fn archive(args: &ImportArgs, source: &Path) -> anyhow::Result<Option<String>> {
    let root = copied(args, source.to_owned())?;
    let found = archive::read(&root)?
        .with_context(|| format!("{}: no dists/ directory", root.display()))?;
    let suite = found
        .main_suite()
        .map_or("bookworm", |s| s.dir.as_str())
        .to_owned();
    let what = describe(&found);
    let entry = format!(
        "  {}: {}  # Debian archive: {what}\n",
        args.name,
        quoted(&root)
    );
    let hint = format!(
        "# A profile installs from it with:\n#   deploy:\n#     packages: {{mirror: /trees/{}/, suite: {suite}, packages: []}}\n",
        args.name
    );
    match &args.write {
        None => Ok(Some(format!("trees:\n{entry}{hint}"))),
        Some(inv_path) => {
            add(inv_path, "trees", &args.name, &entry, |inv| {
                inv.distros.contains_key(&args.name) || inv.trees.contains_key(&args.name)
            })?;
            eprintln!(
                "added tree {} (Debian archive: {what}) to {}",
                args.name,
                inv_path.display()
            );
            eprint!("{hint}");
            Ok(None)
        }
    }
}

/// Up to `max` bytes from a reader.
fn read_up_to(mut r: impl Read, max: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(max);
    r.by_ref().take(max as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The first bytes of a compressed file's content.
fn inner_head(file: &Path, format: ImageFormat) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let head = match format {
        ImageFormat::RawZstd => {
            zstd::stream::read::Decoder::new(f).and_then(|d| read_up_to(d, HEAD_BYTES))
        }
        ImageFormat::RawXz => read_up_to(liblzma::read::XzDecoder::new(f), HEAD_BYTES),
        _ => read_up_to(flate2::read::GzDecoder::new(f), HEAD_BYTES),
    };
    head.with_context(|| {
        format!(
            "{}: a {} file that does not decompress",
            file.display(),
            format.as_str()
        )
    })
}

/// The SHA-256 of a file (lower-case hex) and its size, with a progress bar.
fn sha256(file: &Path) -> anyhow::Result<(String, u64)> {
    let mut f =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = f
        .metadata()
        .with_context(|| format!("{}", file.display()))?
        .len();
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("sha256");
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", file.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let mut hex = String::with_capacity(64);
    for b in hasher.finalize() {
        let _ = write!(hex, "{b:02x}");
    }
    Ok((hex, size))
}

/// A file name that goes into a URL as it is.
fn url_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// A disk image: its `deploy: image:` entry, and a tree for its directory.
pub fn image(args: &ImportArgs, file: &Path) -> anyhow::Result<Option<String>> {
    if args.copy_to.is_some() {
        bail!(
            "--copy-to copies trees; put the image in the directory to serve and import it \
             there"
        );
    }
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if !url_safe(name) {
        bail!(
            "{}: rename the image to letters, digits, '.', '_', '-' and '+' (its name goes \
             into a URL)",
            file.display()
        );
    }
    let head = {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        read_up_to(f, HEAD_BYTES).with_context(|| format!("cannot read {}", file.display()))?
    };
    let inner = match image::compression(&head) {
        Some(format) => Some(inner_head(file, format)?),
        None => None,
    };
    let format = image::detect(&head, inner.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let by_name = ImageFormat::from_url(name);
    if by_name != format {
        eprintln!(
            "httpd-tree import: {name}: its name says {} but its bytes say {}; the entry says {}",
            by_name.as_str(),
            format.as_str(),
            format.as_str()
        );
    }
    let dir = file.parent().unwrap_or(Path::new("/"));
    let (sha, size) = sha256(file)?;
    // An inventory that already serves the directory keeps its tree's name.
    let existing = match &args.write {
        Some(inv_path) => {
            let text = std::fs::read_to_string(inv_path)
                .with_context(|| format!("cannot read {}", inv_path.display()))?;
            let base = inv_path.parent().unwrap_or(Path::new("."));
            let inv = pxe_model::load_str(&inv_path.display().to_string(), &text, base)
                .map_err(|d| anyhow::anyhow!("{}", d.render()))?;
            let same = |p: &Path| p.canonicalize().is_ok_and(|p| p == dir);
            inv.trees
                .iter()
                .find(|(_, p)| same(p))
                .map(|(n, _)| n.clone())
                .or_else(|| {
                    inv.distros
                        .values()
                        .find(|d| matches!(&d.tree, pxe_model::Tree::Dir(p) if same(p)))
                        .map(|d| d.name.clone())
                })
        }
        None => None,
    };
    let tree = existing.clone().unwrap_or_else(|| args.name.clone());
    let entry = format!("  {tree}: {}  # disk images\n", quoted(dir));
    let image = format!(
        "# {name}: {}, {}; a profile's deploy: takes\nimage:\n  url: /trees/{tree}/{name}\n  format: {}\n  sha256: {sha}\n",
        human_size(size),
        describe_format(format),
        format.as_str(),
    );
    match &args.write {
        None => Ok(Some(format!("trees:\n{entry}{image}"))),
        Some(inv_path) => {
            if existing.is_none() {
                add(inv_path, "trees", &tree, &entry, |inv| {
                    inv.distros.contains_key(&tree) || inv.trees.contains_key(&tree)
                })?;
                eprintln!(
                    "added tree {tree} ({}) to {}",
                    dir.display(),
                    inv_path.display()
                );
            } else {
                eprintln!("{} is served already as the tree {tree}", dir.display());
            }
            Ok(Some(image))
        }
    }
}

fn describe_format(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Raw => "a raw disk",
        ImageFormat::RawZstd => "a raw disk compressed with zstd",
        ImageFormat::RawXz => "a raw disk compressed with xz",
        ImageFormat::RawGzip => "a raw disk compressed with gzip",
        ImageFormat::Qcow2 => "a qcow2 disk",
    }
}

fn human_size(n: u64) -> String {
    pxe_model::timeline::human_bytes(n)
}
