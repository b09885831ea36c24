//! The mirror's signing key: a throwaway Ed25519 key made once by gpg in a private home
//! under the target directory (no passphrase: it guards a lab archive, not a release), its
//! public keyring published next to the archive, and the `InRelease` / `Release.gpg`
//! signatures. The gpg-agent that gpg starts for that home is stopped when done.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const USER_ID: &str = "pxe-suite lab archive (throwaway key of cargo xtask mirror)";

pub(crate) struct Signer {
    home: PathBuf,
}

impl Signer {
    /// Opens the key in `home`, making it first if there is none.
    pub(crate) fn open(home: &Path) -> Result<Signer> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))?;
        let signer = Signer {
            home: home.to_owned(),
        };
        let listed = signer.gpg(&["--list-secret-keys", "--with-colons"])?;
        if !listed.contains("\nsec:") && !listed.starts_with("sec:") {
            eprintln!(
                "mirror: making the archive's signing key (Ed25519, in {})",
                home.display()
            );
            signer.gpg(&[
                "--passphrase",
                "",
                "--quick-generate-key",
                USER_ID,
                "ed25519",
                "sign",
                "never",
            ])?;
        }
        Ok(signer)
    }

    fn gpg(&self, args: &[&str]) -> Result<String> {
        let output = Command::new("gpg")
            .env("GNUPGHOME", &self.home)
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
            .args(args)
            .output()
            .context("running gpg (package gnupg)")?;
        if !output.status.success() {
            bail!(
                "gpg {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Writes the public key as a binary keyring (`.gpg`, for apt's Signed-By and
    /// debootstrap's `--keyring`) and as armored text (`.asc`).
    pub(crate) fn export(&self, keyring: &Path) -> Result<()> {
        let armored = keyring.with_extension("asc");
        for (path, armor) in [(keyring, false), (armored.as_path(), true)] {
            let _ = std::fs::remove_file(path);
            let out = path.display().to_string();
            let mut args = vec!["--output", out.as_str()];
            if armor {
                args.push("--armor");
            }
            args.extend(["--export", USER_ID]);
            self.gpg(&args)?;
        }
        Ok(())
    }

    /// Signs `release` into `InRelease` (inline) and `Release.gpg` (detached) beside it.
    pub(crate) fn sign(&self, release: &Path) -> Result<()> {
        let dir = release.parent().context("Release has no directory")?;
        let release = release.display().to_string();
        for (name, mode) in [
            ("InRelease", "--clearsign"),
            ("Release.gpg", "--detach-sign"),
        ] {
            let out = dir.join(name);
            let _ = std::fs::remove_file(&out);
            let out = out.display().to_string();
            self.gpg(&[
                "--armor",
                "--digest-algo",
                "SHA512",
                "--local-user",
                USER_ID,
                "--output",
                &out,
                mode,
                &release,
            ])?;
        }
        Ok(())
    }

    /// Checks `InRelease` against the published keyring, as apt's gpgv does.
    pub(crate) fn verify(keyring: &Path, in_release: &Path) -> Result<()> {
        let output = Command::new("gpgv")
            .arg("--keyring")
            .arg(keyring)
            .arg(in_release)
            .output()
            .context("running gpgv")?;
        if !output.status.success() {
            bail!(
                "{} does not verify with {}: {}",
                in_release.display(),
                keyring.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }
}

impl Drop for Signer {
    /// Stops the gpg-agent started for this home (only that one: it is found by its socket).
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .status();
    }
}
