//! Distros and profiles added through the API: one YAML file per entry, `NAME.yaml`, in
//! the directories the inventory names with `distros_dir` and `profiles_dir`.
//!
//! A file holds the value of a `distros.NAME` or `profiles.NAME` entry. The files are read
//! into the same load as the inventory file (its diagnostics carry each file as a source
//! of its own), so an entry from a file is checked by the same code, may name or inherit
//! from the inventory file's entries and the other way round. Like the machines of
//! [`crate::machine_dir`], a file is never a silent winner: a file whose name the
//! inventory file already defines, or that does not pass the checks, is left out and
//! becomes a [`Problem`] that the daemons log and httpd-tree shows.

use crate::diag::{Diagnostics, Pos};
use crate::machine_dir::{Problem, SUFFIX};
use crate::yaml::{Kind, Node};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The two kinds of entries kept in directories by this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    Distro,
    Profile,
}

impl Entry {
    /// The word used in messages and in [`Problem::entry`].
    pub fn word(self) -> &'static str {
        match self {
            Entry::Distro => "distro",
            Entry::Profile => "profile",
        }
    }

    /// The inventory key naming the directory.
    pub fn dir_key(self) -> &'static str {
        match self {
            Entry::Distro => "distros_dir",
            Entry::Profile => "profiles_dir",
        }
    }
}

/// What one load of the directories is told from outside: files already found wrong in an
/// earlier attempt of the same load, and (for the API) contents that replace the disk's.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// File → its text (`Some`) or its removal (`None`), as if already written.
    pub files: BTreeMap<PathBuf, Option<String>>,
}

/// One file of a directory, as read.
#[derive(Debug, Clone)]
pub(crate) struct EntryFile {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) text: String,
}

/// A file's path in a directory.
pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{SUFFIX}"))
}

/// Whether `name` can name an entry, and so a file of a directory: letters, digits, `.`,
/// `_` and `-`, not starting with `.` (no `/`, no `..`: a name never leads out of its
/// directory).
pub fn valid_name(name: &str) -> bool {
    crate::state::valid_name(name)
}

fn refuse_bad_name(name: &str) -> std::io::Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "\"{name}\" cannot name a file: letters, digits, `.`, `_` or `-`, not starting with `.`"
            ),
        ))
    }
}

/// The entry files of `dir`: each `NAME.yaml` that is not a dotfile (an API write's
/// temporary file), as (NAME, path), in name order; none for a missing directory.
pub(crate) fn list(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<(String, PathBuf)> = match fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let file = e.file_name().to_str()?.to_owned();
                let name = file.strip_suffix(SUFFIX)?.to_owned();
                (!file.starts_with('.')).then(|| (name, e.path()))
            })
            .collect(),
    };
    files.sort();
    Ok(files)
}

/// The `*.yaml` files of `dir` in name order (none for a missing directory), with the
/// overrides applied.
pub(crate) fn read(dir: &Path, overrides: &Overrides) -> std::io::Result<Vec<EntryFile>> {
    let mut files: BTreeMap<String, PathBuf> = list(dir)?.into_iter().collect();
    for (path, text) in &overrides.files {
        if path.parent() != Some(dir) {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_suffix(SUFFIX));
        if let (Some(name), Some(_)) = (name, text) {
            files.insert(name.to_owned(), path.clone());
        }
    }
    let mut out = Vec::new();
    for (name, path) in files {
        let text = match overrides.files.get(&path) {
            Some(Some(t)) => t.clone(),
            Some(None) => continue,
            None => fs::read_to_string(&path)?,
        };
        out.push(EntryFile { name, path, text });
    }
    Ok(out)
}

/// The names of a mapping node's entries (its keys as written).
fn keys(node: Option<&Node>) -> BTreeSet<String> {
    match node.map(|n| &n.kind) {
        Some(Kind::Map(entries)) => entries
            .iter()
            .filter_map(|(k, _)| match &k.kind {
                Kind::Scalar(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// The inventory file's mapping for `kind` with the directory's files added as entries.
/// A file named like an entry of the inventory file is a conflict and left out; so is a
/// file of `excluded`. Each file added becomes a source of `d`, so an error in it names
/// it. Returns the merged node and the names that came from files.
pub(crate) fn merged(
    kind: Entry,
    base: Option<&Node>,
    files: &[EntryFile],
    excluded: &BTreeSet<PathBuf>,
    d: &mut Diagnostics,
    problems: &mut Vec<Problem>,
) -> (Option<Node>, BTreeMap<String, PathBuf>) {
    let in_file = keys(base);
    let mut added = Vec::new();
    let mut from_files = BTreeMap::new();
    for f in files.iter().filter(|f| !excluded.contains(&f.path)) {
        let shown = f.path.display().to_string();
        if in_file.contains(&f.name) {
            problems.push(Problem {
                file: shown,
                entry: kind.word(),
                name: f.name.clone(),
                kind: "conflict",
                message: format!(
                    "{} \"{}\" is also defined in the inventory file; remove one of the two",
                    kind.word(),
                    f.name
                ),
            });
            continue;
        }
        let src = d.add_source(&shown, &f.text);
        // Named before it is parsed, so that a syntax error is blamed on it too.
        from_files.insert(f.name.clone(), f.path.clone());
        let Some(value) = crate::yaml::parse_in(&f.text, src, d) else {
            continue;
        };
        let key = Node {
            kind: Kind::Scalar(f.name.clone()),
            pos: Pos {
                line: 1,
                col: 1,
                src,
            },
        };
        added.push((key, value));
    }
    if added.is_empty() {
        return (base.cloned(), from_files);
    }
    let node = match base {
        None => Node {
            kind: Kind::Map(added),
            pos: Pos::at(1, 1),
        },
        Some(Node {
            kind: Kind::Map(entries),
            pos,
        }) => {
            let mut all = entries.clone();
            all.extend(added);
            Node {
                kind: Kind::Map(all),
                pos: *pos,
            }
        }
        // Not a mapping: its own error is reported; the files wait for it to be fixed.
        Some(other) => other.clone(),
    };
    (Some(node), from_files)
}

/// The problems of the files an attempt at loading found wrong, and their paths: every
/// diagnostic that points into one of `files` is that file's. Empty when all the errors are
/// the inventory file's own (or a template's).
pub(crate) fn blame(
    d: &Diagnostics,
    files: &BTreeMap<PathBuf, (Entry, String)>,
) -> Vec<(PathBuf, Problem)> {
    let mut by_file: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for item in &d.items {
        let path = PathBuf::from(&item.file);
        if files.contains_key(&path) {
            by_file.entry(path).or_default().push(format!(
                "{}:{}: {}",
                item.pos.line, item.pos.col, item.message
            ));
        }
    }
    by_file
        .into_iter()
        .filter_map(|(path, lines)| {
            let (entry, name) = files.get(&path)?;
            let problem = Problem {
                file: path.display().to_string(),
                entry: entry.word(),
                name: name.clone(),
                kind: "invalid",
                message: lines.join("\n"),
            };
            Some((path, problem))
        })
        .collect()
}

/// Writes `text` as the file of `name` in `dir`, atomically: a temporary file beside it,
/// fsync, rename, fsync of the directory (created if needed). A crash leaves the old file
/// or the new one, never half of one.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    refuse_bad_name(name)?;
    fs::create_dir_all(dir)?;
    let path = path_of(dir, name);
    let tmp = dir.join(format!(".{name}{SUFFIX}.tmp.{}", std::process::id()));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    File::open(dir)?.sync_all()?;
    Ok(path)
}

/// Removes the file of `name`; false when there was none.
pub fn remove(dir: &Path, name: &str) -> std::io::Result<bool> {
    refuse_bad_name(name)?;
    match fs::remove_file(path_of(dir, name)) {
        Ok(()) => {
            File::open(dir)?.sync_all()?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The text of an entry's file from the JSON an API client sent (an object with the
/// entry's keys; `name` is the file's name and not written). JSON values become YAML as
/// they are; the load that follows checks every key.
pub fn yaml_of(kind: Entry, name: &str, body: &serde_json::Value) -> Result<String, String> {
    let serde_json::Value::Object(fields) = body else {
        return Err(format!("a {} is a JSON object", kind.word()));
    };
    let mut fields = fields.clone();
    fields.remove("name");
    let yaml = serde_saphyr::to_string(&fields).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Written by httpd-tree's API; {} \"{name}\".\n{yaml}",
        kind.word()
    ))
}
