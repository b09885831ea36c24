//! `get-lease-hostnames` off the packet path. ISC looks a lease address's name up while it
//! answers, so a slow resolver stalls every client; here a thread of its own looks up the
//! name of every pool address (when some scope of the configuration turns the parameter
//! on), through the system resolver (`/etc/hosts`, then DNS, as `nsswitch.conf` says), and
//! the core reads the results ([`crate::decide::LeaseHostnames`]). The server waits for the
//! first round up to [`FIRST_ROUND_WAIT`] before it answers (with `/etc/hosts` or a working
//! DNS that is a few milliseconds); an address not looked up yet gets no name; each is looked
//! up again every [`REFRESH`].

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::decide::LeaseHostnames;
use crate::eval::Sv;
use crate::model::{Config, Exec, SERVER};

/// How often the names are looked up again.
pub const REFRESH: Duration = Duration::from_secs(600);

/// How long [`start`] waits for the first round of lookups.
pub const FIRST_ROUND_WAIT: Duration = Duration::from_secs(2);

/// At most this many addresses are looked up (the first of the pools, in order).
pub const MAX_ADDRESSES: usize = 65_536;

/// `getnameinfo`'s flag for "a name or an error", not the address as text (glibc's value).
const NI_NAMEREQD: i32 = 8;

/// The names the core reads, shared with the thread that fills them.
pub type Shared = Arc<RwLock<LeaseHostnames>>;

/// Does any scope of `cfg` set `get-lease-hostnames` (to any value: the core evaluates it
/// per lease)?
pub fn wanted(cfg: &Config) -> bool {
    fn sets_it(stmts: &[Exec]) -> bool {
        stmts.iter().any(|s| match s {
            Exec::Opt { space, code, .. } => {
                *space == SERVER && *code == u32::from(Sv::GetLeaseHostnames)
            }
            Exec::If {
                then, otherwise, ..
            } => sets_it(then) || sets_it(otherwise),
            Exec::Switch { body, .. } => sets_it(body),
            _ => false,
        })
    }
    cfg.groups.iter().any(|g| sets_it(&g.stmts))
}

/// Every address of every pool range of `cfg`, up to [`MAX_ADDRESSES`].
pub fn pool_addresses(cfg: &Config) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for range in cfg.pools.iter().flat_map(|p| &p.ranges) {
        let (low, high) = (u32::from(range.low), u32::from(range.high));
        for a in low..=high {
            if out.len() >= MAX_ADDRESSES {
                return out;
            }
            out.push(Ipv4Addr::from(a));
        }
    }
    out
}

/// The name of `ip` by reverse lookup: `None` when there is none.
pub fn reverse(ip: Ipv4Addr) -> Option<String> {
    dns_lookup::getnameinfo(&SocketAddr::from((ip, 0)), NI_NAMEREQD)
        .ok()
        .map(|(host, _)| host)
}

/// Starts the thread that looks up `addresses` into the returned map, now and every
/// [`REFRESH`], and waits for its first round up to [`FIRST_ROUND_WAIT`]; the thread ends
/// once the map has no other holder.
pub fn start(addresses: Vec<Ipv4Addr>) -> std::io::Result<Shared> {
    let names: Shared = Arc::default();
    let filled = names.clone();
    let (first_round, done) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("lease-hostnames".into())
        .spawn(move || {
            loop {
                for ip in &addresses {
                    if Arc::strong_count(&filled) == 1 {
                        return;
                    }
                    let name = reverse(*ip);
                    if let Ok(mut map) = filled.write() {
                        map.insert(*ip, name);
                    }
                }
                let _ = first_round.send(());
                tracing::debug!(
                    "get-lease-hostnames: {} addresses looked up",
                    addresses.len()
                );
                let mut slept = Duration::ZERO;
                while slept < REFRESH {
                    if Arc::strong_count(&filled) == 1 {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    slept += Duration::from_secs(1);
                }
            }
        })?;
    if done.recv_timeout(FIRST_ROUND_WAIT).is_err() {
        tracing::warn!(
            "get-lease-hostnames: the lookups take longer than {} s; addresses get their names as they come",
            FIRST_ROUND_WAIT.as_secs()
        );
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn config(text: &str) -> Config {
        let loaded = crate::conf::parse_str(
            "t.conf",
            text.as_bytes(),
            crate::conf::ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        crate::model::compile(&loaded.config, &crate::model::no_dns)
            .unwrap()
            .0
    }

    #[test]
    fn wanted_when_any_scope_sets_it_and_the_pools_give_the_addresses() {
        let plain = "subnet 10.0.0.0 netmask 255.255.255.0 { range 10.0.0.10 10.0.0.12; }";
        assert!(!wanted(&config(plain)));
        let nested = "subnet 10.0.0.0 netmask 255.255.255.0 {\n  range 10.0.0.10 10.0.0.12;\n  pool { range 10.0.0.20 10.0.0.21; if option host-name = \"x\" { get-lease-hostnames true; } }\n}";
        let cfg = config(nested);
        assert!(wanted(&cfg));
        let addrs = pool_addresses(&cfg);
        assert_eq!(addrs.len(), 5, "{addrs:?}");
        assert!(addrs.contains(&Ipv4Addr::new(10, 0, 0, 21)));
    }

    #[test]
    fn loopback_has_a_name_from_etc_hosts() {
        // /etc/hosts names 127.0.0.1 on every Debian system (no DNS query leaves the host;
        // the real test covers addresses without a name in a namespace of its own).
        assert!(reverse(Ipv4Addr::LOCALHOST).is_some());
    }
}
