//! A private copy of this machine to install into: an overlay of `/` with a tmpfs on top,
//! in a mount namespace of its own, held open by one `sleep` process. The dist tarball is
//! unpacked at its `/`, units and daemons run in it through `chroot`, and nothing reaches
//! the real filesystem: when the holder is killed the namespace and its tmpfs are gone.
//!
//! `/proc`, `/sys` and `/dev` are the machine's (bound in), and a host directory is bound
//! at `/run/pxe-ops` so the checks can exchange sockets and files with what runs inside.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where the shared directory appears inside.
pub(crate) const SHARE_INSIDE: &str = "/run/pxe-ops";

pub(crate) struct Sysroot {
    /// The overlay's mount point (only meaningful inside the namespace).
    root: PathBuf,
    /// The directory bound at [`SHARE_INSIDE`].
    pub(crate) share: PathBuf,
    holder: Child,
}

impl Sysroot {
    /// Creates the namespace and the overlay under `base` (a fresh directory). `binds`
    /// are machine directories bound at their own paths, so that writes there (the cargo
    /// target directory) outlive the overlay.
    pub(crate) fn create(base: &Path, binds: &[&Path]) -> Result<Sysroot> {
        let layers = base.join("layers");
        let root = base.join("root");
        let share = base.join("share");
        for d in [&layers, &root, &share] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let mut extra = String::new();
        for b in binds {
            std::fs::create_dir_all(b).with_context(|| format!("creating {}", b.display()))?;
            extra.push_str(&format!(
                "mkdir -p '{root}{b}'\nmount --bind '{b}' '{root}{b}'\n",
                root = root.display(),
                b = b.display()
            ));
        }
        let script = format!(
            "set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 pxe-ops-layers '{layers}'
mkdir '{layers}/up' '{layers}/work'
mount -t overlay pxe-ops-root -o 'lowerdir=/,upperdir={layers}/up,workdir={layers}/work' '{root}'
for d in proc sys dev; do mount --rbind /$d '{root}'/$d; done
mkdir -p '{root}{SHARE_INSIDE}'
mount --bind '{share}' '{root}{SHARE_INSIDE}'
{extra}echo ready
exec sleep 1000000",
            layers = layers.display(),
            root = root.display(),
            share = share.display(),
        );
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running unshare (Debian package util-linux)")?;
        let mut line = String::new();
        if let Some(out) = holder.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().context("waiting for unshare")?;
            bail!(
                "the sysroot overlay could not be set up: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(Sysroot {
            root,
            share,
            holder,
        })
    }

    fn nsenter(&self, netns: Option<&str>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id()));
        if let Some(ns) = netns {
            c.arg(format!("--net=/run/netns/{ns}"));
        }
        c.arg("--");
        c
    }

    /// A command in the namespace that sees the machine's paths and the overlay at
    /// [`Sysroot::root`] (for copying files in).
    pub(crate) fn outside(&self, program: &str) -> Command {
        let mut c = self.nsenter(None);
        c.arg(program);
        c
    }

    /// The overlay's path, for [`Sysroot::outside`] commands.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The command line that runs `argv` inside the installed system (`chroot`),
    /// optionally in a network namespace.
    pub(crate) fn inside_argv(&self, netns: Option<&str>, argv: &[String]) -> Vec<String> {
        let mut v = vec![
            "nsenter".to_string(),
            format!("--mount=/proc/{}/ns/mnt", self.holder.id()),
        ];
        if let Some(ns) = netns {
            v.push(format!("--net=/run/netns/{ns}"));
        }
        v.extend([
            "--".to_string(),
            "chroot".to_string(),
            self.root.display().to_string(),
        ]);
        v.extend(argv.iter().cloned());
        v
    }

    /// [`Sysroot::inside_argv`] as a command.
    pub(crate) fn inside(&self, netns: Option<&str>, argv: &[String]) -> Command {
        let v = self.inside_argv(netns, argv);
        let mut c = Command::new(&v[0]);
        c.args(&v[1..]);
        c
    }

    /// Runs a command inside and returns its standard output; fails with its output.
    pub(crate) fn run_inside(&self, argv: &[&str]) -> Result<String> {
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_string()).collect();
        output(&mut self.inside(None, &argv), &argv.join(" "))
    }

    /// Writes a file inside (creating directories), through the namespace.
    pub(crate) fn write(&self, path: &str, text: &str) -> Result<()> {
        let staged = self.share.join("staged");
        std::fs::write(&staged, text).context("staging a file")?;
        let dir = Path::new(path).parent().context("file has a directory")?;
        let dir = dir.to_string_lossy();
        let from = format!("{SHARE_INSIDE}/staged");
        self.run_inside(&["mkdir", "-p", &dir])?;
        self.run_inside(&["cp", &from, path])?;
        self.run_inside(&["chmod", "0644", path])?;
        Ok(())
    }

    /// Reads a file inside; `None` when it does not exist.
    pub(crate) fn read_optional(&self, path: &str) -> Result<Option<String>> {
        let out = self
            .inside(
                None,
                &["test".to_string(), "-e".to_string(), path.to_string()],
            )
            .status()
            .context("running test -e")?;
        if out.success() {
            self.read(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a file inside.
    pub(crate) fn read(&self, path: &str) -> Result<String> {
        self.run_inside(&["cat", path])
    }
}

/// Runs `cmd`, returning its standard output, or an error with both outputs.
pub(crate) fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Drop for Sysroot {
    fn drop(&mut self) {
        // The holder is the namespace's last process once the checks have stopped theirs.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
