//! Process set-up at the binary's edge: detaching (without `-f`/`-d`), the PID file, and
//! dropping privileges to `-user`/`-group` once the sockets are open, or, as root without
//! `-user`, the capabilities that are no longer needed (`CAP_NET_RAW` for the packet socket,
//! `CAP_NET_BIND_SERVICE` for port 67, and everything else but those for its own files).

use std::io;
use std::path::Path;

use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};

/// The numeric ids for `-user` / `-group` (a user's primary group when only `-user` is given).
pub fn resolve_ids(user: Option<&str>, group: Option<&str>) -> io::Result<Option<(u32, u32)>> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let u =
        match user {
            Some(name) => Some(User::from_name(name).map_err(io::Error::from)?.ok_or_else(
                || io::Error::new(io::ErrorKind::NotFound, format!("no user named {name}")),
            )?),
            None => None,
        };
    let gid = match group {
        Some(name) => {
            Group::from_name(name)
                .map_err(io::Error::from)?
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("no group named {name}"))
                })?
                .gid
        }
        None => u.as_ref().map_or_else(Gid::current, |u| u.gid),
    };
    let uid = u.map_or_else(Uid::current, |u| u.uid);
    Ok(Some((uid.as_raw(), gid.as_raw())))
}

/// Become `uid`/`gid` (group first, then user, as ISC does).
pub fn drop_privileges(uid: u32, gid: u32) -> io::Result<()> {
    let gid = Gid::from_raw(gid);
    setgroups(&[gid]).map_err(io::Error::from)?;
    setgid(gid).map_err(io::Error::from)?;
    setuid(Uid::from_raw(uid)).map_err(io::Error::from)?;
    Ok(())
}

/// The capabilities a root dhcpd keeps once its sockets are open: those that let it write its
/// lease file, backups, PID file and the shared state directory whoever owns them, and give
/// rewritten files to their owner.
pub const KEEP_CAPABILITIES: [caps::Capability; 4] = [
    caps::Capability::CAP_CHOWN,
    caps::Capability::CAP_DAC_OVERRIDE,
    caps::Capability::CAP_DAC_READ_SEARCH,
    caps::Capability::CAP_FOWNER,
];

/// Drop every capability but [`KEEP_CAPABILITIES`] from the bounding, inheritable, ambient,
/// effective and permitted sets, for good. Capabilities are per thread: call this before any
/// other thread starts. Returns the names of what was kept.
pub fn drop_capabilities() -> io::Result<Vec<String>> {
    use caps::{CapSet, CapsHashSet};
    let err = |e: caps::errors::CapsError| io::Error::other(e.to_string());
    let permitted = caps::read(None, CapSet::Permitted).map_err(err)?;
    let keep: CapsHashSet = KEEP_CAPABILITIES
        .into_iter()
        .filter(|c| permitted.contains(c))
        .collect();
    // The bounding set first: that takes CAP_SETPCAP, which is about to go.
    for c in caps::all() {
        if !keep.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, c).map_err(err)?;
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(err)?;
    caps::clear(None, CapSet::Inheritable).map_err(err)?;
    caps::set(None, CapSet::Effective, &keep).map_err(err)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(err)?;
    let mut names: Vec<String> = keep.iter().map(|c| c.to_string().to_lowercase()).collect();
    names.sort();
    Ok(names)
}

/// Detach from the terminal (ISC forks into the background unless `-f` or `-d`).
pub fn detach() -> io::Result<()> {
    nix::unistd::daemon(true, false).map_err(io::Error::from)
}

/// Write our PID.
pub fn write_pid(path: &Path) -> io::Result<()> {
    std::fs::write(path, format!("{}\n", std::process::id()))
}
