//! The archive's indexes as text: Debian control stanzas read from apt's lists, the
//! `Packages` index written from the chosen stanzas, and the `Release` file with the
//! hashes of the indexes. Pure functions over text, tested below.

/// One paragraph of a Debian control file (a `Packages` entry), kept as its exact text so
/// the mirror's index says what Debian's says (Priority, Section, hashes, descriptions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stanza {
    text: String,
}

impl Stanza {
    /// The value of field `name` (first line only; continuation lines are not joined).
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (!line.starts_with([' ', '\t']) && key.eq_ignore_ascii_case(name)).then(|| value.trim())
        })
    }

    pub(crate) fn package(&self) -> &str {
        self.field("Package").unwrap_or("")
    }

    /// The file's path from the archive root (`pool/main/...`).
    pub(crate) fn filename(&self) -> &str {
        self.field("Filename").unwrap_or("")
    }

    pub(crate) fn size(&self) -> Option<u64> {
        self.field("Size")?.parse().ok()
    }

    pub(crate) fn sha256(&self) -> Option<&str> {
        self.field("SHA256")
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

/// Splits a control file into its paragraphs (blank-line separated).
pub(crate) fn stanzas(text: &str) -> Vec<Stanza> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(Stanza {
                    text: std::mem::take(&mut current),
                });
            }
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.is_empty() {
        out.push(Stanza { text: current });
    }
    out
}

/// Names of the packages whose Priority is `required` or `important`: the base system
/// debootstrap and mmdebstrap's `important` variant install.
pub(crate) fn base_names(stanzas: &[Stanza]) -> Vec<String> {
    let mut names: Vec<String> = stanzas
        .iter()
        .filter(|s| matches!(s.field("Priority"), Some("required" | "important")))
        .map(|s| s.package().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The `Packages` index of the chosen stanzas, sorted by package name then file.
pub(crate) fn packages_text(chosen: &[Stanza]) -> String {
    let mut sorted: Vec<&Stanza> = chosen.iter().collect();
    sorted.sort_by(|a, b| (a.package(), a.filename()).cmp(&(b.package(), b.filename())));
    let mut out = String::new();
    for (i, s) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(s.text());
    }
    out
}

/// What `Release` says about the archive besides its files.
pub(crate) struct ReleaseInfo<'a> {
    pub(crate) suite: &'a str,
    pub(crate) codename: &'a str,
    pub(crate) version: &'a str,
    /// RFC 2822 date in UTC, e.g. `Thu, 04 Dec 2025 09:44:00 UTC`.
    pub(crate) date: &'a str,
}

/// One index file listed in `Release`: path from `dists/<suite>/`, size, SHA-256 (hex).
pub(crate) struct IndexFile {
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

/// The `Release` file of a one-component (`main`), one-architecture (`amd64`) suite.
/// Only SHA256 sums: apt, debootstrap and mmdebstrap all use them and ignore MD5.
pub(crate) fn release_text(info: &ReleaseInfo<'_>, files: &[IndexFile]) -> String {
    let fields = [
        ("Origin", "pxe-suite lab"),
        ("Label", "pxe-suite lab Debian 12 subset"),
        ("Suite", info.suite),
        ("Version", info.version),
        ("Codename", info.codename),
        ("Date", info.date),
        ("Acquire-By-Hash", "no"),
        ("Architectures", "amd64"),
        ("Components", "main"),
        (
            "Description",
            "Debian 12 packages of the pxe-suite lab (a subset of bookworm main)",
        ),
    ];
    let mut out = String::new();
    for (name, value) in fields {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out.push_str("SHA256:\n");
    for f in files {
        out.push_str(&format!(" {} {:>16} {}\n", f.sha256, f.size, f.path));
    }
    out
}

/// Decodes `%XX` escapes (apt's URIs write `+` as `%2b`).
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// One line of `apt-get --print-uris`: `'URI' file size hash`. Returns the URI and the
/// file's path in the archive (`pool/...`, as the index's `Filename` says it).
pub(crate) fn parse_print_uri(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('\'')?;
    let (uri, _) = rest.split_once('\'')?;
    let decoded = percent_decode(uri);
    let at = decoded.find("/pool/")?;
    Some((uri.to_owned(), decoded[at + 1..].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGES: &str = "\
Package: libc6
Version: 2.36-9+deb12u14
Priority: optional
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb
Size: 2759320
SHA256: aa
Description: GNU C Library
 shared libraries

Package: bash
Essential: yes
Priority: required
Filename: pool/main/b/bash/bash_5.2.15-2+b8_amd64.deb
Size: 1491000
SHA256: bb

Package: apt
Priority: important
Filename: pool/main/a/apt/apt_2.6.1_amd64.deb
Size: 1400000
SHA256: cc
";

    #[test]
    fn splits_and_reads_fields() {
        let s = stanzas(PACKAGES);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].package(), "libc6");
        assert_eq!(s[0].size(), Some(2_759_320));
        assert_eq!(s[0].sha256(), Some("aa"));
        assert_eq!(
            s[1].filename(),
            "pool/main/b/bash/bash_5.2.15-2+b8_amd64.deb"
        );
        // A continuation line is not a field.
        assert_eq!(s[0].field("shared libraries"), None);
        assert!(s[0].text().ends_with(" shared libraries\n"));
    }

    #[test]
    fn base_is_required_and_important() {
        assert_eq!(base_names(&stanzas(PACKAGES)), ["apt", "bash"]);
    }

    #[test]
    fn packages_index_is_sorted_and_blank_line_separated() {
        let text = packages_text(&stanzas(PACKAGES));
        assert!(text.starts_with("Package: apt\n"));
        assert_eq!(stanzas(&text).len(), 3);
        assert!(text.contains("SHA256: cc\n\nPackage: bash\n"));
        assert!(!text.ends_with("\n\n"));
    }

    #[test]
    fn release_lists_sha256_of_each_index() {
        let info = ReleaseInfo {
            suite: "bookworm",
            codename: "bookworm",
            version: "12",
            date: "Thu, 04 Dec 2025 09:44:00 UTC",
        };
        let files = [IndexFile {
            path: "main/binary-amd64/Packages".into(),
            size: 1234,
            sha256: "ab".repeat(32),
        }];
        let text = release_text(&info, &files);
        let expected = format!(
            "Origin: pxe-suite lab\n\
             Label: pxe-suite lab Debian 12 subset\n\
             Suite: bookworm\n\
             Version: 12\n\
             Codename: bookworm\n\
             Date: Thu, 04 Dec 2025 09:44:00 UTC\n\
             Acquire-By-Hash: no\n\
             Architectures: amd64\n\
             Components: main\n\
             Description: Debian 12 packages of the pxe-suite lab (a subset of bookworm main)\n\
             SHA256:\n \
             {}             1234 main/binary-amd64/Packages\n",
            "ab".repeat(32)
        );
        assert_eq!(text, expected);
        // apt reads it as a control stanza.
        assert_eq!(stanzas(&text)[0].field("Codename"), Some("bookworm"));
    }

    #[test]
    fn print_uris_lines() {
        let line = "'http://deb.example/debian-security/pool/updates/main/x/xz-utils/\
                    liblzma5_5.4.1-1%2bdeb12u2_amd64.deb' liblzma5_5.4.1-1+deb12u2_amd64.deb \
                    205796 MD5Sum:00";
        let (uri, path) = parse_print_uri(line).expect("a print-uris line");
        assert!(uri.ends_with("%2bdeb12u2_amd64.deb"));
        assert_eq!(
            path,
            "pool/updates/main/x/xz-utils/liblzma5_5.4.1-1+deb12u2_amd64.deb"
        );
        assert_eq!(parse_print_uri("Reading package lists..."), None);
        assert_eq!(percent_decode("a%2Bb%zz%2"), "a+b%zz%2");
    }
}
