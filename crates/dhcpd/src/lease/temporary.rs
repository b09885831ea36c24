//! The names of the lease file's rewrite temporaries, and their removal at start.
//!
//! A rewrite writes the new file as `dhcpd.leases.<time>.<16 hex digits>` beside the lease
//! file and renames it over the file once it is synced. A crash (SIGKILL, power cut) between
//! the two leaves the temporary behind; the lease file itself is whole (the rename never
//! happened), so the temporary holds nothing the file lacks. Each start removes the ones it
//! finds, so that they do not pile up crash after crash. Only regular files whose name is
//! exactly of that form for this lease file are removed: not `dhcpd -T`'s scratch file
//! (`dhcpd.leases.<pid>`), not the backup (`dhcpd.leases~`), not an operator's copy, and no
//! symbolic link (which is neither followed nor removed).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Time;

/// Hex digits of the random part of a temporary's name.
const RANDOM_DIGITS: usize = 16;

/// The temporary for a rewrite of `lease_file` at `now`, with 64 random bits `random`.
pub(super) fn name(lease_file: &Path, now: Time, random: u64) -> PathBuf {
    let mut s = lease_file.as_os_str().to_owned();
    s.push(format!(".{now}.{random:0RANDOM_DIGITS$x}"));
    PathBuf::from(s)
}

/// Whether `candidate` (a file name) is a rewrite temporary of the lease file named
/// `lease_name`: `<lease_name>.<decimal digits>.<16 lowercase hex digits>`.
fn is_temporary(lease_name: &OsStr, candidate: &OsStr) -> bool {
    let Some(rest) = candidate
        .as_bytes()
        .strip_prefix(lease_name.as_bytes())
        .and_then(|r| r.strip_prefix(b"."))
    else {
        return false;
    };
    let mut parts = rest.splitn(2, |b| *b == b'.');
    let (Some(time), Some(random)) = (parts.next(), parts.next()) else {
        return false;
    };
    !time.is_empty()
        && time.iter().all(u8::is_ascii_digit)
        && random.len() == RANDOM_DIGITS
        && random
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The directory the lease file is in.
fn directory(lease_file: &Path) -> &Path {
    match lease_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Remove the rewrite temporaries of `lease_file` that an interrupted rewrite left in its
/// directory; returns a log line for each one removed and for each one that could not be.
/// Call it only when no rewrite of this file runs (at start).
pub(super) fn remove_stale(lease_file: &Path) -> Vec<String> {
    let (dir, Some(lease_name)) = (directory(lease_file), lease_file.file_name()) else {
        return Vec::new();
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return vec![format!(
                "{}: not checked for stale rewrite temporaries: {e}",
                dir.display()
            )];
        }
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| is_temporary(lease_name, &e.file_name()))
        // `file_type` does not follow a symbolic link: a link is left alone.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| remove_one(&e.path()))
        .collect()
}

/// Unlink one temporary (unlinking never follows a link); the log line saying so.
fn remove_one(path: &Path) -> String {
    match std::fs::remove_file(path) {
        Ok(()) => format!(
            "{}: removed, a lease-file rewrite a crash interrupted (the lease file was not \
             replaced, nothing is lost).",
            path.display()
        ),
        Err(e) => format!(
            "{}: stale lease-file rewrite not removed: {e}",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(candidate: &str) -> bool {
        is_temporary(OsStr::new("dhcpd.leases"), OsStr::new(candidate))
    }

    #[test]
    fn only_names_of_the_rewrite_form_are_temporaries() {
        let made = name(Path::new("/var/lib/dhcp/dhcpd.leases"), 1_764_921_600, 0xab);
        let made = made.file_name().expect("a file name");
        assert_eq!(made, "dhcpd.leases.1764921600.00000000000000ab");
        assert!(is_temporary(OsStr::new("dhcpd.leases"), made));
        assert!(matches("dhcpd.leases.1.0123456789abcdef"));
        for other in [
            "dhcpd.leases",
            "dhcpd.leases~",
            "dhcpd.leases.4242",                      // dhcpd -T's scratch file
            "dhcpd.leases.1764921600",                // ISC's own temporary
            "dhcpd.leases.1764921600.00000000000000", // too short
            "dhcpd.leases.1764921600.00000000000000abc", // too long
            "dhcpd.leases.1764921600.00000000000000AB", // not ours: upper case
            "dhcpd.leases..00000000000000ab",
            "dhcpd.leases.17x4.00000000000000ab",
            "dhcpd.leases.1.2.00000000000000ab",
            "dhcpd.leases.1764921600.00000000000000ab~",
            "dhcpd.leases6.1764921600.00000000000000ab",
            "other.leases.1764921600.00000000000000ab",
        ] {
            assert!(!matches(other), "{other}");
        }
    }

    #[test]
    fn a_start_removes_its_own_stale_temporaries_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |n: &str| dir.path().join(n);
        let lease_file = at("dhcpd.leases");
        std::fs::write(&lease_file, "whole\n").expect("lease file");
        let stale = [
            name(&lease_file, 1_764_921_600, 1),
            name(&lease_file, 1_764_921_601, u64::MAX),
        ];
        for s in &stale {
            std::fs::write(s, "half a rewrite").expect("stale temporary");
        }
        let kept = [
            "dhcpd.leases~",
            "dhcpd.leases.4242",
            "dhcpd.leases.1764921600",
        ];
        for k in kept {
            std::fs::write(at(k), "kept").expect("other file");
        }
        // A link and a directory with a temporary's name: neither followed nor removed.
        let target = at("target");
        std::fs::write(&target, "target").expect("target");
        let link = name(&lease_file, 1_764_921_602, 2);
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let subdir = name(&lease_file, 1_764_921_603, 3);
        std::fs::create_dir(&subdir).expect("directory");

        let log = remove_stale(&lease_file);
        assert_eq!(log.len(), 2, "{log:?}");
        assert!(log.iter().all(|l| l.contains("removed")), "{log:?}");
        assert!(stale.iter().all(|s| !s.exists()));
        assert!(kept.iter().all(|k| at(k).exists()));
        assert_eq!(
            std::fs::read_to_string(&lease_file).expect("read"),
            "whole\n"
        );
        assert!(link.symlink_metadata().is_ok(), "the link stays");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "target");
        assert!(subdir.is_dir());
        assert!(
            remove_stale(&lease_file).is_empty(),
            "nothing left to remove"
        );
    }

    #[test]
    fn an_unreadable_directory_is_a_log_line() {
        let log = remove_stale(Path::new("/nonexistent-pxe-dir/dhcpd.leases"));
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(log[0].contains("not checked"), "{log:?}");
    }
}
