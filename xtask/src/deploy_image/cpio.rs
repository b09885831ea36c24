//! A reproducible `newc` cpio archive: entries sorted by name (parents first), one
//! modification time for all, owner root, inode numbers in that order. The kernel
//! unpacks it as the initramfs; nothing of the machine that built it gets in.

use std::collections::BTreeMap;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File { mode: u32, data: Vec<u8> },
    Symlink(String),
}

/// The archive's entries by path (no leading `/`).
#[derive(Debug, Default)]
pub(crate) struct Archive {
    entries: BTreeMap<String, Node>,
}

impl Archive {
    /// Adds a directory and its parents.
    pub(crate) fn dir(&mut self, path: &str) {
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            self.entries.entry(at.clone()).or_insert(Node::Dir);
        }
    }

    fn parent(&mut self, path: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
    }

    /// Adds a file (its parents as directories); a later one replaces an earlier one.
    pub(crate) fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        self.parent(path);
        self.entries
            .insert(path.to_owned(), Node::File { mode, data });
    }

    pub(crate) fn symlink(&mut self, path: &str, target: &str) {
        self.parent(path);
        self.entries
            .insert(path.to_owned(), Node::Symlink(target.to_owned()));
    }

    pub(crate) fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    /// The archive's bytes, every entry with modification time `mtime`.
    pub(crate) fn write(&self, mtime: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mtime = u32::try_from(mtime).unwrap_or(u32::MAX);
        for (ino, (path, node)) in (1u32..).zip(&self.entries) {
            let (mode, data): (u32, &[u8]) = match node {
                Node::Dir => (0o040_755, &[]),
                Node::File { mode, data } => (0o100_000 | mode, data),
                Node::Symlink(target) => (0o120_777, target.as_bytes()),
            };
            header(&mut out, ino, mode, mtime, path, data);
        }
        header(&mut out, 0, 0, 0, "TRAILER!!!", &[]);
        // The kernel reads archives in 512-byte blocks, as cpio writes them.
        while !out.len().is_multiple_of(512) {
            out.push(0);
        }
        out
    }
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn header(out: &mut Vec<u8>, ino: u32, mode: u32, mtime: u32, name: &str, data: &[u8]) {
    let nlink = if mode & 0o170_000 == 0o040_000 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        mtime,
        u32::try_from(data.len()).unwrap_or(u32::MAX),
        0, // dev major
        0, // dev minor
        0, // rdev major
        0, // rdev minor
        u32::try_from(name.len() + 1).unwrap_or(u32::MAX),
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The archive's entries as (name, mode, mtime, data), read back.
    fn read(bytes: &[u8]) -> Vec<(String, u32, u32, Vec<u8>)> {
        let field = |at: usize, n: usize| {
            let hex =
                std::str::from_utf8(&bytes[at + 6 + n * 8..at + 6 + (n + 1) * 8]).expect("hex");
            u32::from_str_radix(hex, 16).expect("a field")
        };
        let up4 = |n: usize| n.div_ceil(4) * 4;
        let mut at = 0;
        let mut out = Vec::new();
        loop {
            assert_eq!(&bytes[at..at + 6], b"070701");
            let (mode, mtime) = (field(at, 1), field(at, 5));
            let (size, namesize) = (field(at, 6) as usize, field(at, 11) as usize);
            let name =
                String::from_utf8(bytes[at + 110..at + 110 + namesize - 1].to_vec()).expect("name");
            let data_at = up4(at + 110 + namesize);
            let data = bytes[data_at..data_at + size].to_vec();
            at = up4(data_at + size);
            if name == "TRAILER!!!" {
                return out;
            }
            out.push((name, mode, mtime, data));
        }
    }

    #[test]
    fn sorted_with_parents_and_one_mtime() {
        let mut a = Archive::default();
        a.file("usr/bin/b", 0o755, b"bee".to_vec());
        a.symlink("bin", "usr/bin");
        a.file("init", 0o755, b"#!/bin/sh\n".to_vec());
        let bytes = a.write(1_700_000_000);
        assert_eq!(bytes.len() % 512, 0);
        let entries = read(&bytes);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["bin", "init", "usr", "usr/bin", "usr/bin/b"]);
        assert!(entries.iter().all(|e| e.2 == 1_700_000_000));
        assert_eq!(entries[0].1, 0o120_777);
        assert_eq!(entries[0].3, b"usr/bin");
        assert_eq!(entries[2].1, 0o040_755);
        assert_eq!(
            (entries[4].1, entries[4].3.as_slice()),
            (0o100_755, &b"bee"[..])
        );
        let mut b = Archive::default();
        b.symlink("bin", "usr/bin");
        b.file("init", 0o755, b"#!/bin/sh\n".to_vec());
        b.file("usr/bin/b", 0o755, b"bee".to_vec());
        assert_eq!(
            b.write(1_700_000_000),
            bytes,
            "the order of adding does not matter"
        );
    }
}
