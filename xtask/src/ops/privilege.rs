//! Least privilege across the three units (docs/security.md, "Least privilege: three
//! users"), checked as each unit's own user.
//!
//! Once the service checks have run dhcpd, httpd-tree and tftpd against one state
//! directory, a probe runs with the credentials each unit's daemon gets
//! ([`Launch::as_unit`]: its `User=`, `Group=`, supplementary groups, capabilities,
//! no-new-privileges and `UMask=`) and opens every path of the unit's row of the table
//! below: each open must succeed, or fail with EACCES, as the row says. A path a probe needs
//! must exist first, so that no refusal is an ENOENT in disguise. The upgrade check lays
//! out a state directory as the single user `pxe` left it, installs over it, and expects
//! the same table.
//!
//! The units' mount namespaces (`ProtectSystem=strict`, `ReadWritePaths=`,
//! `ReadOnlyPaths=`) are not applied here: the file permissions alone must keep each
//! daemon to its part; the namespaces narrow it further under systemd.

use super::services::{Launch, OPS_MACHINE, STATE_DIR, owner_and_mode};
use super::sysroot::Sysroot;
use anyhow::{Context, Result, bail};

/// dhcpd's lease file.
const LEASES: &str = "/var/lib/dhcp/dhcpd.leases";

/// What a probe does to its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Opens the file for reading.
    Read,
    /// Opens the existing file for appending (and writes nothing).
    Write,
    /// Creates a new file in the directory (removed again as root).
    Create,
}

/// One line of a unit's row: a path, what is tried, and whether it may be done.
struct Probe {
    access: Access,
    path: String,
    allowed: bool,
}

fn probe(access: Access, path: &str, allowed: bool) -> Probe {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{STATE_DIR}/{path}")
    };
    Probe {
        access,
        path,
        allowed,
    }
}

/// The table: what each unit's user may and may not do. Relative paths are in the state
/// directory; `<m>` stands for the machine the checks recorded.
fn table(unit: &str) -> Vec<Probe> {
    use Access::{Create, Read, Write};
    let m = OPS_MACHINE;
    let rows: Vec<(Access, String, bool)> = match unit {
        "dhcpd.service" => vec![
            (Read, "secret".into(), false),
            (Write, LEASES.into(), true),
            (Write, format!("events/{m}.jsonl"), true),
            (Create, "events".into(), true),
            (Write, format!("acked/{m}.json"), true),
            (Create, "acked".into(), true),
            (Create, "acked6".into(), true),
            (Write, format!("machines/{m}.json"), false),
            (Create, "machines".into(), false),
            (Create, STATE_DIR.into(), false),
        ],
        "tftpd.service" | "tftpd-standalone.service" => vec![
            (Read, "secret".into(), false),
            (Write, LEASES.into(), false),
            (Read, LEASES.into(), false),
            (Create, "/var/lib/dhcp".into(), false),
            (Read, format!("machines/{m}.json"), true),
            (Write, format!("machines/{m}.json"), false),
            (Create, "machines".into(), false),
            (Write, format!("events/{m}.jsonl"), true),
            (Create, "events".into(), true),
            (Read, format!("acked/{m}.json"), true),
            (Write, format!("acked/{m}.json"), false),
            (Create, "acked".into(), false),
            (Create, "acked6".into(), false),
            (Create, STATE_DIR.into(), false),
        ],
        "httpd-tree.service" => vec![
            (Read, "secret".into(), true),
            (Read, format!("acked/{m}.json"), true),
            (Read, format!("events/{m}.jsonl"), true),
            (Write, format!("events/{m}.jsonl"), true),
            (Write, format!("machines/{m}.json"), true),
            (Create, "machines".into(), true),
            (Create, STATE_DIR.into(), true),
            (Write, format!("acked/{m}.json"), false),
            (Create, "acked".into(), false),
            (Create, "acked6".into(), false),
            (Write, LEASES.into(), false),
            (Read, LEASES.into(), false),
        ],
        _ => Vec::new(),
    };
    rows.into_iter()
        .map(|(a, p, allowed)| probe(a, &p, allowed))
        .collect()
}

/// The units whose users the table covers.
pub(crate) const UNITS: &[&str] = &[
    "dhcpd.service",
    "tftpd.service",
    "tftpd-standalone.service",
    "httpd-tree.service",
];

/// How a probe ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    /// EACCES.
    Refused,
    /// Anything else: the message.
    Failed(String),
}

/// The `dd` command line of a probe; `target` is the file it opens.
fn command(access: Access, target: &str) -> Vec<String> {
    let mut argv = vec!["dd".to_string(), "status=none".to_string()];
    match access {
        Access::Read => argv.extend([
            format!("if={target}"),
            "of=/dev/null".into(),
            "count=1".into(),
        ]),
        Access::Write => argv.extend([
            "if=/dev/null".into(),
            format!("of={target}"),
            "conv=notrunc".into(),
            "oflag=append".into(),
        ]),
        Access::Create => argv.extend(["if=/dev/null".into(), format!("of={target}")]),
    }
    argv
}

/// Runs one probe as the unit would run its daemon.
fn run(sysroot: &Sysroot, launch: &Launch<'_>, p: &Probe) -> Result<Outcome> {
    let exists = |path: &str| {
        sysroot
            .inside(None, &["test".into(), "-e".into(), path.into()])
            .status()
            .map(|s| s.success())
    };
    if !exists(&p.path)? {
        bail!("{} does not exist: the probe would prove nothing", p.path);
    }
    let target = match p.access {
        Access::Create => format!("{}/.ops-probe", p.path),
        _ => p.path.clone(),
    };
    if p.access == Access::Create && exists(&target)? {
        sysroot.run_inside(&["rm", "-f", &target])?;
    }
    let argv = launch.as_unit(&command(p.access, &target));
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .context("running a probe")?;
    if p.access == Access::Create && out.status.success() {
        sysroot.run_inside(&["rm", "-f", &target])?;
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Ok(if out.status.success() {
        Outcome::Allowed
    } else if err.ends_with("Permission denied") {
        Outcome::Refused
    } else {
        Outcome::Failed(err)
    })
}

/// A unit's row of the table, probed as its user; each mismatch is named.
pub(crate) fn check(sysroot: &Sysroot, unit: &str) -> Result<String> {
    let launch = Launch::of(sysroot, unit)?;
    let user = launch
        .unit
        .get("Service", "User")
        .with_context(|| format!("{unit} has no User="))?;
    let rows = table(unit);
    if rows.is_empty() {
        bail!("no row for {unit} in the table");
    }
    let mut wrong = Vec::new();
    let (mut allowed, mut refused) = (0, 0);
    for p in &rows {
        let got = run(sysroot, &launch, p)?;
        let verb = format!("{:?} {}", p.access, p.path).to_lowercase();
        match (&got, p.allowed) {
            (Outcome::Allowed, true) => allowed += 1,
            (Outcome::Refused, false) => refused += 1,
            (Outcome::Allowed, false) => wrong.push(format!("{verb}: allowed, must be refused")),
            (Outcome::Refused, true) => wrong.push(format!("{verb}: EACCES, must be allowed")),
            (Outcome::Failed(e), _) => wrong.push(format!("{verb}: {e}")),
        }
    }
    if !wrong.is_empty() {
        bail!("as {user} ({unit}):\n{}", wrong.join("\n"));
    }
    let groups = launch.unit.groups(&[]).join(",");
    Ok(format!(
        "as {user} (groups {groups}): {allowed} opens allowed, {refused} refused with EACCES"
    ))
}

/// The `User=` of an installed unit.
fn unit_user(sysroot: &Sysroot, unit: &str) -> Result<String> {
    Launch::of(sysroot, unit)?
        .unit
        .get("Service", "User")
        .with_context(|| format!("{unit} has no User="))
}

/// The group of the state directory, as tmpfiles.d made it.
fn state_group(sysroot: &Sysroot) -> Result<String> {
    let top = owner_and_mode(sysroot, STATE_DIR)?;
    top.split_once(':')
        .and_then(|(_, r)| r.split_whitespace().next())
        .map(str::to_string)
        .with_context(|| format!("{STATE_DIR}: no group in {top}"))
}

/// Each path (relative ones in the state directory) must have the owner, group and mode
/// given as `user:group mode`.
fn expect_owners(sysroot: &Sysroot, wants: &[(String, String)]) -> Result<String> {
    let mut seen = Vec::new();
    for (path, want) in wants {
        let path = if path.starts_with('/') {
            path.clone()
        } else {
            format!("{STATE_DIR}/{path}")
        };
        let got = owner_and_mode(sysroot, &path)?;
        if &got != want {
            bail!("{path} is {got}, not {want}");
        }
        seen.push(format!("{path} {got}"));
    }
    Ok(seen.join("; "))
}

/// After the service checks: the token key is httpd-tree's user's alone, and the files one
/// daemon reads or appends to across users were written by another unit's user and carry
/// the state directory's group.
pub(crate) fn owners(sysroot: &Sysroot) -> Result<String> {
    let dhcpd = unit_user(sysroot, "dhcpd.service")?;
    let httpd = unit_user(sysroot, "httpd-tree.service")?;
    let group = state_group(sysroot)?;
    let m = OPS_MACHINE;
    expect_owners(
        sysroot,
        &[
            ("secret".into(), format!("{httpd}:{httpd} 600")),
            (format!("acked/{m}.json"), format!("{dhcpd}:{group} 640")),
            ("acked6".into(), format!("{dhcpd}:{group} 2750")),
            (format!("events/{m}.jsonl"), format!("{dhcpd}:{group} 660")),
            (format!("machines/{m}.json"), format!("{httpd}:{group} 640")),
        ],
    )
}

/// The state directory and lease file as the units of the single user `pxe` left them
/// (`StateDirectory=pxe-suite`, `UMask=0027`; a timeline first written by tftpd, whose
/// umask was 0022).
const OLD_LAYOUT: &str = r#"set -e
mkdir -p /usr/lib/sysusers.d
echo 'u pxe - "pxe-suite network install daemons" /var/lib/pxe-suite -' \
  > /usr/lib/sysusers.d/pxe-suite.conf
systemd-sysusers /usr/lib/sysusers.d/pxe-suite.conf
S=/var/lib/pxe-suite
install -d -m 0750 $S $S/machines $S/events $S/acked /var/lib/dhcp
umask 0027
head -c 32 /dev/urandom > $S/secret
chmod 0600 $S/secret
echo '{"address":"10.78.0.100","at":1}' > $S/acked/ops01.json
echo '{"state": "installed"}' > $S/machines/ops01.json
: > $S/machines/ops01.lock
: > $S/events/ops01.lock
: > /var/lib/dhcp/dhcpd.leases
umask 0022
echo '{"at":1,"phase":"tftp","detail":"pxelinux.0 (1 bytes)"}' > $S/events/ops01.jsonl
chown -R pxe:pxe $S /var/lib/dhcp
"#;

/// An upgrade from the single user `pxe`: [`OLD_LAYOUT`] in a fresh sysroot, the tarball
/// installed over it (sysusers.d, tmpfiles.d), dhcpd.service's `StateDirectory=` applied
/// as at its first start; then every file has its new owner and every unit's row of the
/// table holds.
pub(crate) fn upgrade(tarball: &std::path::Path, work: &std::path::Path) -> Result<String> {
    let base = work.join("upgrade");
    let _ = std::fs::remove_dir_all(&base);
    let sysroot = Sysroot::create(&base, &[])?;
    sysroot.run_inside(&["sh", "-c", OLD_LAYOUT])?;
    super::install(&sysroot, tarball)?;
    Launch::of(&sysroot, "dhcpd.service")?.state_dirs()?;
    let dhcpd = unit_user(&sysroot, "dhcpd.service")?;
    let httpd = unit_user(&sysroot, "httpd-tree.service")?;
    let group = state_group(&sysroot)?;
    let m = OPS_MACHINE;
    let owners = expect_owners(
        &sysroot,
        &[
            (STATE_DIR.into(), format!("{httpd}:{group} 750")),
            ("secret".into(), format!("{httpd}:{httpd} 600")),
            ("machines".into(), format!("{httpd}:{group} 2750")),
            (format!("machines/{m}.json"), format!("{httpd}:{group} 640")),
            ("events".into(), format!("{httpd}:{group} 2770")),
            (format!("events/{m}.jsonl"), format!("{httpd}:{group} 660")),
            (format!("events/{m}.lock"), format!("{httpd}:{group} 660")),
            ("acked".into(), format!("{dhcpd}:{group} 2750")),
            (format!("acked/{m}.json"), format!("{dhcpd}:{group} 640")),
            ("acked6".into(), format!("{dhcpd}:{group} 2750")),
            (LEASES.into(), format!("{dhcpd}:{dhcpd} 640")),
        ],
    )?;
    for unit in UNITS {
        check(&sysroot, unit).with_context(|| format!("after the upgrade, {owners}"))?;
    }
    Ok(format!(
        "the table holds for {} units after the upgrade; {owners}",
        UNITS.len()
    ))
}
