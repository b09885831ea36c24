//! `--check`'s look at what pxelinux will load from the roots: the COM32 modules the
//! inventory's generated menu needs, and the hand-written files under `pxelinux.cfg/`
//! (a hand-written `default` beside the generated per-MAC files is a supported layout: a
//! file on disk is served before anything generated, and no upload may replace it).

use std::path::{Path, PathBuf};

/// What the check found, as lines for the operator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Information and warnings (the check still passes).
    pub notes: Vec<String>,
    /// Mistakes in hand-written files: `file:line:col: message` (the check fails).
    pub errors: Vec<String>,
}

fn exists_in(roots: &[PathBuf], path: &str) -> bool {
    roots.iter().any(|r| r.join(path).is_file())
}

/// Checks the roots (and the inventory's menu, when there is one).
pub fn check(roots: &[PathBuf], inventory: Option<&pxe_model::Inventory>) -> Report {
    let mut report = Report::default();
    if let Some(inv) = inventory {
        let needed = pxe_model::syslinux::menu_modules(inv);
        report.notes.push(format!(
            "pxelinux menu (ui {}) needs: {}",
            inv.menu.look.ui.module(),
            needed.join(" ")
        ));
        let missing: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|m| !exists_in(roots, m))
            .collect();
        if !missing.is_empty() {
            report.notes.push(format!(
                "warning: not under the TFTP root ({}): {}; the generated pxelinux menu will not start on BIOS machines (Debian: copy them from /usr/lib/syslinux/modules/bios/)",
                show(roots),
                missing.join(" ")
            ));
        }
    }
    for root in roots {
        let dir = root.join("pxelinux.cfg");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            lint_file(&file, roots, &mut report);
        }
    }
    report
}

fn lint_file(file: &Path, roots: &[PathBuf], report: &mut Report) {
    let text = match std::fs::read(file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            report
                .errors
                .push(format!("{}: cannot read: {e}", file.display()));
            return;
        }
    };
    report.notes.push(format!(
        "hand-written {} (served before any generated file of that name)",
        file.display()
    ));
    for f in pxe_model::syslinux::lint(&text, &|p| exists_in(roots, p)) {
        report.errors.push(format!(
            "{}:{}:{}: {}",
            file.display(),
            f.line,
            f.col,
            f.message
        ));
    }
}

fn show(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
