//! A Debian archive (a mirror, or `cargo xtask mirror`'s subset): `dists/<suite>/Release`
//! (or `InRelease`) names the suite, its codename, architectures and components, and
//! lists the package indices under it. Such a tree is what a profile's `deploy: packages:`
//! installs from.

use super::ImportError;
use std::path::{Path, PathBuf};

/// One suite of an archive, as its `Release` file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// The directory under `dists/` (what debootstrap is given).
    pub dir: String,
    /// `Suite:` (`stable`), if any.
    pub suite: Option<String>,
    /// `Codename:` (`bookworm`), if any.
    pub codename: Option<String>,
    /// `Version:` (`12.8`), if any.
    pub version: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
}

/// A Debian archive found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub root: PathBuf,
    /// Sorted by directory name; suites that are symbolic links to another are left out.
    pub suites: Vec<Suite>,
}

impl Archive {
    /// The suite a deploy most likely wants: the first that is not `-updates`,
    /// `-security`, `-backports` or `-proposed-updates` (else the first).
    pub fn main_suite(&self) -> Option<&Suite> {
        let plain = |s: &&Suite| {
            !["-updates", "-security", "-backports", "-proposed-updates"]
                .iter()
                .any(|end| s.dir.ends_with(end))
        };
        self.suites
            .iter()
            .find(plain)
            .or_else(|| self.suites.first())
    }
}

/// The text of a `Release` file, or of an `InRelease` file with its clear-signature
/// armour removed.
fn unsigned(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("-----BEGIN PGP SIGNED MESSAGE-----") else {
        return text;
    };
    // Armour headers (`Hash: SHA512`) end at the first empty line.
    let body = rest
        .find("\n\n")
        .map_or(rest, |i| rest.get(i + 2..).unwrap_or_default());
    body.split("\n-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap_or(body)
}

/// Parses a `Release` (or `InRelease`) file of suite directory `dir`. The error says
/// what was expected.
pub fn parse_release(dir: &str, text: &str) -> Result<Suite, String> {
    let mut suite = Suite {
        dir: dir.to_owned(),
        suite: None,
        codename: None,
        version: None,
        architectures: Vec::new(),
        components: Vec::new(),
    };
    let mut seen_field = false;
    for line in unsigned(text).lines() {
        // Continuation lines (the checksum lists) start with a space.
        if line.starts_with([' ', '\t']) || line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!(
                "line {line:?} is not a `Field: value` line of a Release file"
            ));
        };
        seen_field = true;
        let value = value.trim();
        let words = || value.split_whitespace().map(str::to_owned).collect();
        match key {
            "Suite" => suite.suite = Some(value.to_owned()),
            "Codename" => suite.codename = Some(value.to_owned()),
            "Version" => suite.version = Some(value.to_owned()),
            "Architectures" => suite.architectures = words(),
            "Components" => suite.components = words(),
            _ => {}
        }
    }
    if !seen_field {
        return Err(
            "empty; expected a Debian Release file (Suite, Codename, Architectures, Components)"
                .into(),
        );
    }
    if suite.suite.is_none() && suite.codename.is_none() {
        return Err("no Suite or Codename field".into());
    }
    if suite.architectures.is_empty() {
        return Err("no Architectures field".into());
    }
    if suite.components.is_empty() {
        return Err("no Components field".into());
    }
    Ok(suite)
}

/// Whether the suite has a package index for `arch` in one of its components.
fn has_packages(suite_dir: &Path, s: &Suite, arch: &str) -> bool {
    s.components.iter().any(|c| {
        ["Packages", "Packages.gz", "Packages.xz"].iter().any(|f| {
            suite_dir
                .join(c)
                .join(format!("binary-{arch}"))
                .join(f)
                .is_file()
        })
    })
}

/// Reads the archive under `root`: every `dists/<dir>/Release` (or `InRelease`). `None`
/// when there is no `dists/` directory; an error when there is one but no usable suite.
pub fn read(root: &Path) -> Result<Option<Archive>, ImportError> {
    let dists = root.join("dists");
    if !dists.is_dir() {
        return Ok(None);
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ImportError::Io { path, source }
    };
    let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(&dists)
        .map_err(io(&dists))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    names.sort();
    let mut suites = Vec::new();
    let mut problems = Vec::new();
    for (name, dir) in &names {
        // `stable -> bookworm`: the same suite twice.
        if dir
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            continue;
        }
        let (file, text) = match ["Release", "InRelease"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
        {
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(io(&p))?;
                (p, text)
            }
            None => {
                problems.push(format!("dists/{name}: no Release or InRelease file"));
                continue;
            }
        };
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        match parse_release(name, &text) {
            Err(why) => problems.push(format!("{rel}: {why}")),
            Ok(s) => {
                let binary: Vec<&str> = s
                    .architectures
                    .iter()
                    .map(String::as_str)
                    .filter(|a| *a != "all")
                    .collect();
                if !binary.iter().any(|a| has_packages(dir, &s, a)) {
                    problems.push(format!(
                        "{rel}: no package index for {} (expected \
                         dists/{name}/<component>/binary-<arch>/Packages, .gz or .xz)",
                        binary.join(", ")
                    ));
                    continue;
                }
                suites.push(s);
            }
        }
    }
    if suites.is_empty() {
        let why = if problems.is_empty() {
            "no suite directory".to_owned()
        } else {
            problems.join("; ")
        };
        return Err(ImportError::Bad {
            path: dists,
            message: format!("not a usable Debian archive: {why}"),
        });
    }
    Ok(Some(Archive {
        root: root.to_owned(),
        suites,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = "Origin: pxe-suite lab\nLabel: Debian\nSuite: stable\nVersion: 12.8\nCodename: bookworm\nDate: Sat, 05 Dec 2026 10:00:00 UTC\nArchitectures: amd64 all\nComponents: main\nDescription: the lab's subset\nSHA256:\n 3f0c9e7c0ed6ba8d3bbf0fbbc8b9a0a42e4e85c5d7f1c5b2a3e4d5c6b7a89012   1234 main/binary-amd64/Packages\n";

    #[test]
    fn a_release_file_names_suite_codename_architectures_and_components() {
        let s = parse_release("bookworm", RELEASE).expect("parses");
        assert_eq!(s.dir, "bookworm");
        assert_eq!(s.suite.as_deref(), Some("stable"));
        assert_eq!(s.codename.as_deref(), Some("bookworm"));
        assert_eq!(s.version.as_deref(), Some("12.8"));
        assert_eq!(s.architectures, ["amd64", "all"]);
        assert_eq!(s.components, ["main"]);
    }

    #[test]
    fn an_inrelease_file_is_read_through_its_signature() {
        let signed = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{RELEASE}-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n-----END PGP SIGNATURE-----\n"
        );
        let s = parse_release("bookworm", &signed).expect("parses");
        assert_eq!(s.codename.as_deref(), Some("bookworm"));
        assert_eq!(s.architectures, ["amd64", "all"]);
    }

    #[test]
    fn what_is_missing_is_said() {
        for (text, want) in [
            ("", "empty; expected a Debian Release file"),
            ("<html>404</html>\n", "is not a `Field: value` line"),
            (
                "Suite: stable\nComponents: main\n",
                "no Architectures field",
            ),
            (
                "Architectures: amd64\nComponents: main\n",
                "no Suite or Codename field",
            ),
            (
                "Codename: bookworm\nArchitectures: amd64\n",
                "no Components field",
            ),
        ] {
            let e = parse_release("x", text).expect_err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
