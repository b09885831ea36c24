//! The packaged sysctl.d file (`usr/lib/sysctl.d/50-pxe-suite.conf`): every setting must
//! name a kernel parameter this kernel has and may change, with a value it can hold.
//!
//! The check reads `/proc/sys` and applies nothing: the settings are global (the neighbour
//! thresholds exist only in the first network namespace, and `net.core.rmem_max` is
//! read-only in the others), so applying them would change the machine CI runs on. A
//! misspelt name, which `systemd-sysctl` only logs at boot, is what this catches.

use anyhow::{Context, Result, bail};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One `name = value` line.
#[derive(Debug, PartialEq, Eq)]
struct Setting {
    line: usize,
    name: String,
    value: String,
}

/// The settings of a sysctl.d file, in order (comments and blank lines skipped), or the
/// first line that is not `name = value`.
fn settings(text: &str) -> Result<Vec<Setting>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            bail!("line {}: expected `name = value`, found {line:?}", i + 1);
        };
        out.push(Setting {
            line: i + 1,
            name: name.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(out)
}

/// Where a parameter lives under `/proc/sys` (`net.core.rmem_max` → `net/core/rmem_max`).
fn proc_path(name: &str) -> PathBuf {
    Path::new("/proc/sys").join(name.replace('.', "/"))
}

/// Every setting of `file` names a writable parameter of this kernel and is an integer.
pub(super) fn check(file: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let all = settings(&text).with_context(|| file.display().to_string())?;
    if all.is_empty() {
        bail!("{}: no setting", file.display());
    }
    for s in &all {
        let path = proc_path(&s.name);
        let meta = std::fs::metadata(&path).with_context(|| {
            format!(
                "{} line {}: {} is not a parameter of this kernel ({})",
                file.display(),
                s.line,
                s.name,
                path.display()
            )
        })?;
        if meta.permissions().mode() & 0o200 == 0 {
            bail!(
                "{} line {}: {} cannot be set",
                file.display(),
                s.line,
                s.name
            );
        }
        if s.value.parse::<u64>().is_err() {
            bail!(
                "{} line {}: {} = {:?} is not a whole number",
                file.display(),
                s.line,
                s.name,
                s.value
            );
        }
    }
    Ok(format!(
        "{} settings, each a parameter of this kernel",
        all.len()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[test]
    fn settings_skip_comments_and_refuse_other_lines() {
        let got = settings("# c\n\n; c\nnet.core.rmem_max = 8388608\n a.b=1 \n").unwrap();
        assert_eq!(
            got,
            [
                Setting {
                    line: 4,
                    name: "net.core.rmem_max".into(),
                    value: "8388608".into()
                },
                Setting {
                    line: 5,
                    name: "a.b".into(),
                    value: "1".into()
                }
            ]
        );
        let e = settings("a.b = 1\nnet.core.rmem_max 5\n").unwrap_err();
        assert!(e.to_string().starts_with("line 2:"), "{e}");
        assert_eq!(
            proc_path("net.core.rmem_max"),
            Path::new("/proc/sys/net/core/rmem_max")
        );
    }

    #[test]
    fn the_packaged_file_passes_and_a_misspelt_name_does_not() {
        let root = crate::ci::workspace_root();
        let packaged = root.join("deploy/systemd/pxe-suite.sysctl");
        check(&packaged).unwrap();
        let dir = std::env::temp_dir().join(format!("pxe-sysctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.conf");
        std::fs::write(&bad, "net.core.rmem_maxx = 8388608\n").unwrap();
        let e = check(&bad).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(format!("{e:#}").contains("not a parameter"), "{e:#}");
    }
}
