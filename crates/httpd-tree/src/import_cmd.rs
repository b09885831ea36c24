//! `httpd-tree import PATH --name NAME`: read an install tree with pxe-model's import,
//! optionally copy it first (with a progress bar), and print the distro entry or add it
//! to an inventory file (validated before it is written). A Debian archive or a disk
//! image becomes a tree entry instead ([`crate::import_more`]).

use crate::cli::ImportArgs;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use pxe_model::Arch;
use pxe_model::import::{ImportError, archive};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs the subcommand: 0 done, 1 bad input, 2 I/O failure.
#[allow(clippy::print_stdout)] // the distro entry is the command's output
pub fn run(args: &ImportArgs) -> ExitCode {
    match import(args) {
        Ok(Some(yaml)) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("httpd-tree import: {e:#}");
            ExitCode::from(1)
        }
    }
}

pub(crate) fn valid_distro_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with(['.', '-'])
}

fn import(args: &ImportArgs) -> anyhow::Result<Option<String>> {
    if !valid_distro_name(&args.name) {
        bail!(
            "name {:?}: use letters, digits, '.', '_' and '-'",
            args.name
        );
    }
    let arch = match &args.arch {
        None => None,
        Some(a) => Some(
            Arch::parse(a)
                .with_context(|| format!("unknown architecture {a:?} (x86_64, i386, aarch64)"))?,
        ),
    };
    let source = args
        .path
        .canonicalize()
        .with_context(|| format!("{}", args.path.display()))?;
    if source.is_file() {
        return crate::import_more::image(args, &source);
    }
    // Recognise the tree before copying gigabytes of something else.
    match pxe_model::import::import(&source, arch) {
        Ok(_) => {}
        Err(ImportError::Unknown(_)) => {
            return match archive::read(&source)? {
                Some(_) => crate::import_more::archive(args, &source),
                None => bail!(
                    "{}: not an install tree, a Debian archive or a disk image: expected a \
                     .treeinfo, a debian-installer/, install.*/ or casper/ directory, a \
                     dists/<suite>/Release file, or an image file (raw, .zst, .xz, .gz, qcow2)",
                    source.display()
                ),
            };
        }
        Err(e) => return Err(e.into()),
    }
    let tree = copied(args, source)?;
    let found = pxe_model::import::import(&tree, arch)?;
    let entry = found.to_yaml(&args.name);
    match &args.write {
        None => Ok(Some(format!("distros:\n{entry}"))),
        Some(inv_path) => {
            let release = found.release.clone();
            add(inv_path, "distros", &args.name, &entry, |inv| {
                inv.distros.contains_key(&args.name) || inv.trees.contains_key(&args.name)
            })?;
            eprintln!(
                "added distro {} ({release}) to {}",
                args.name,
                inv_path.display()
            );
            Ok(None)
        }
    }
}

/// The tree to import: `source`, or its copy under `--copy-to`.
pub(crate) fn copied(args: &ImportArgs, source: PathBuf) -> anyhow::Result<PathBuf> {
    match &args.copy_to {
        Some(dir) => {
            let dest = dir.join(&args.name);
            copy_tree(&source, &dest)?;
            dest.canonicalize()
                .with_context(|| format!("{}", dest.display()))
        }
        None => Ok(source),
    }
}

/// Adds `entry` to the inventory's `section` (checked to load before it is written),
/// unless `taken` says the name is used.
pub(crate) fn add(
    inv_path: &Path,
    section: &str,
    name: &str,
    entry: &str,
    taken: impl Fn(&pxe_model::Inventory) -> bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(inv_path)
        .with_context(|| format!("cannot read {}", inv_path.display()))?;
    let base = inv_path.parent().unwrap_or(Path::new("."));
    let shown = inv_path.display().to_string();
    if let Ok(inv) = pxe_model::load_str(&shown, &text, base)
        && taken(&inv)
    {
        bail!("{shown} already has a distro or tree {name}");
    }
    let new = add_entry(&text, section, entry).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    if let Err(d) = pxe_model::load_str(&shown, &new, base) {
        bail!(
            "the inventory would not load with the new entry; nothing written:\n{}",
            d.render()
        );
    }
    write_atomic(inv_path, new.as_bytes())
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Inserts an entry (indented by two spaces, as `Imported::to_yaml` writes it) at the
/// end of the inventory's block-style `section:` mapping (`distros`, `trees`),
/// re-indented to match it; or appends the section when there is none.
pub fn add_entry(text: &str, section: &str, entry: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let head = format!("{section}:");
    let Some(start) = lines.iter().position(|l| {
        l.strip_prefix(head.as_str())
            .is_some_and(is_blank_or_comment)
    }) else {
        if lines.iter().any(|l| l.starts_with(head.as_str())) {
            return Err(format!(
                "its {head} mapping is written in flow style; add the entry by hand"
            ));
        }
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&head);
        out.push('\n');
        out.push_str(entry);
        return Ok(out);
    };
    // The block ends before the next line at column 0 that is not a comment.
    let mut last = start;
    let mut indent = None;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if is_blank_or_comment(line) {
            continue;
        }
        if indent_of(line) == 0 {
            break;
        }
        indent.get_or_insert(indent_of(line));
        last = i;
    }
    let indent = indent.unwrap_or(2);
    let reindented: String = entry
        .lines()
        .map(|l| {
            let own = indent_of(l);
            // Entry lines are at 2 (the key) or 4 (its fields): scale to the file's unit.
            format!("{}{}\n", " ".repeat(own / 2 * indent), l.trim_start())
        })
        .collect();
    let mut out = String::with_capacity(text.len() + reindented.len());
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i == last {
            out.push_str(&reindented);
        }
    }
    Ok(out)
}

/// Every file under `src`, with its size, directories first.
fn walk(src: &Path) -> anyhow::Result<(Vec<(PathBuf, std::fs::Metadata)>, u64)> {
    let mut out = Vec::new();
    let mut total = 0;
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let meta = path
                .symlink_metadata()
                .with_context(|| format!("{}", path.display()))?;
            if meta.is_dir() {
                stack.push(path.clone());
            } else if meta.is_file() {
                total += meta.len();
            }
            out.push((path, meta));
        }
    }
    Ok((out, total))
}

/// Copies a tree to `dest` (which must not exist or be empty), showing bytes copied.
pub fn copy_tree(src: &Path, dest: &Path) -> anyhow::Result<()> {
    if dest.exists()
        && std::fs::read_dir(dest)
            .with_context(|| format!("{}", dest.display()))?
            .next()
            .is_some()
    {
        bail!("{} exists and is not empty", dest.display());
    }
    let (entries, total) = walk(src)?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(format!("copying {}", src.display()));
    let mut buf = vec![0u8; 1 << 20];
    // Directories come before their contents: `walk` pushes a directory before reading it.
    let mut dirs: Vec<_> = entries.iter().filter(|(_, m)| m.is_dir()).collect();
    dirs.sort_by_key(|(p, _)| p.components().count());
    for (p, _) in dirs {
        let rel = p.strip_prefix(src).unwrap_or(p);
        std::fs::create_dir_all(dest.join(rel))
            .with_context(|| format!("cannot create {}", dest.join(rel).display()))?;
    }
    for (p, meta) in &entries {
        let rel = p.strip_prefix(src).unwrap_or(p);
        let to = dest.join(rel);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(p).with_context(|| format!("{}", p.display()))?;
            std::os::unix::fs::symlink(&target, &to)
                .with_context(|| format!("cannot link {}", to.display()))?;
        } else if meta.is_file() {
            let mut from =
                std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            let mut out = std::fs::File::create(&to)
                .with_context(|| format!("cannot create {}", to.display()))?;
            loop {
                let n = from
                    .read(&mut buf)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])
                    .with_context(|| format!("cannot write {}", to.display()))?;
                bar.inc(n as u64);
            }
        }
    }
    bar.finish_with_message(format!("copied {}", src.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = "  rocky9:  # Rocky Linux 9.2\n    arch: x86_64\n    family: redhat\n    tree: /srv/r9\n    kernel: k\n    initrd: i\n";

    #[test]
    fn inserted_at_the_end_of_the_block_with_its_indent() {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://h\"}\ndistros:\n    c7:\n        family: redhat\n        tree: /srv/c7\n        kernel: k\n        initrd: i\n\n# profiles next\nprofiles:\n    p: {distro: c7}\n";
        let out = add_entry(text, "distros", ENTRY).expect("adds");
        let inv = pxe_model::load_str("t.yaml", &out, Path::new(".")).expect(&out);
        assert!(inv.distros.contains_key("rocky9"));
        assert!(inv.distros.contains_key("c7"));
        assert!(
            out.contains("\n    rocky9:  # Rocky Linux 9.2\n        arch: x86_64\n"),
            "{out}"
        );
        assert_eq!(inv.profiles.len(), 1);
    }

    #[test]
    fn appended_when_missing_and_refused_in_flow_style() {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://h\"}";
        let out = add_entry(text, "distros", ENTRY).expect("adds");
        let inv = pxe_model::load_str("t.yaml", &out, Path::new(".")).expect(&out);
        assert!(inv.distros.contains_key("rocky9"));
        assert!(add_entry("distros: {}\n", "distros", ENTRY).is_err());
    }

    #[test]
    fn names() {
        assert!(valid_distro_name("rocky9-x86_64"));
        for bad in ["", "../x", "a b", ".x", "-x", "a/b"] {
            assert!(!valid_distro_name(bad), "{bad}");
        }
    }

    #[test]
    fn copies_files_links_and_dirs() {
        let t = tempfile::tempdir().expect("tempdir");
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("a/b")).expect("mkdir");
        std::fs::write(src.join("a/b/f"), vec![7u8; 3_000_000]).expect("write");
        std::fs::write(src.join("top"), "x").expect("write");
        std::os::unix::fs::symlink("top", src.join("link")).expect("symlink");
        let dest = t.path().join("out/d");
        copy_tree(&src, &dest).expect("copies");
        assert_eq!(
            std::fs::read(dest.join("a/b/f")).expect("read").len(),
            3_000_000
        );
        assert_eq!(
            std::fs::read_link(dest.join("link")).expect("link"),
            PathBuf::from("top")
        );
        assert!(
            copy_tree(&src, &dest).is_err(),
            "a non-empty destination is refused"
        );
    }
}
