//! Process set-up at the binary's edge: detaching (without `-f`/`-d`), the PID file, and
//! dropping privileges to `-user`/`-group` once the sockets are open.

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

/// Detach from the terminal (ISC forks into the background unless `-f` or `-d`).
pub fn detach() -> io::Result<()> {
    nix::unistd::daemon(true, false).map_err(io::Error::from)
}

/// Write our PID.
pub fn write_pid(path: &Path) -> io::Result<()> {
    std::fs::write(path, format!("{}\n", std::process::id()))
}
