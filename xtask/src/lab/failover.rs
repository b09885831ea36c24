//! The layout of the install case `install-dhcp-failover`: a throwaway PostgreSQL holds
//! the leases and the install state; two of our dhcpd with the same dhcpd.conf use it,
//! A in the namespace of the bridge (with tftpd and httpd-tree, also on the database) and
//! B in a namespace of its own, linked to the bridge by a veth pair with its own address.
//!
//! B is started with A (so that a B that cannot start fails the case before any VM
//! boots) and then held with SIGSTOP: the VM's first DHCP must be answered by A. When A
//! logs its first DHCPACK to the VM's MAC, B gets SIGCONT and A SIGKILL; everything after
//! that (the deploy initramfs's DHCP, the reboot's network boot, the first boot) can only
//! be B's.

use super::daemons::{self, Dhcp, Inv, Store};
use super::net::Netns;
use super::probe::{Logs, Source};
use super::procs::Proc;
use super::{Lab, ns_name};
use anyhow::{Context, Result, bail};
use pxe_db::scratch::ScratchServer;
use pxe_model::StateStore as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// B's address on the install network (A answers from the bridge's 10.77.0.2).
const B_CIDR: &str = "10.77.0.4/24";

/// The two dhcpd and the database they share.
pub(super) struct Pair {
    a: Proc,
    b: Proc,
    /// When A was killed, and how far each log had got by then.
    handover: Option<Handover>,
    /// Fields drop in order: the daemons stop before their database.
    _db: ScratchServer,
}

/// The moment of the kill.
struct Handover {
    at: Instant,
    a_log_len: usize,
    b_log_len: usize,
}

/// What the failover layout gives the install case.
pub(super) struct Layout {
    pub(super) ns: String,
    pub(super) logs: Logs,
    pub(super) pair: Pair,
    pub(super) url: String,
}

impl Lab {
    /// Starts the database, A, tftpd and httpd-tree in one namespace and B in another,
    /// all with `--database`, and holds B.
    pub(super) fn failover_hosts(
        &mut self,
        tag: &str,
        conf: &Path,
        inventory: &str,
        tftp_root: &Path,
    ) -> Result<Layout> {
        let db =
            ScratchServer::start().context("a throwaway PostgreSQL (Debian package postgresql)")?;
        let url = db.url();
        let lan = Netns::create(&ns_name(tag))?;
        lan.bridge("br0")?;
        lan.addr("br0", "10.77.0.2/24")?;
        lan.addr("br0", "10.77.0.3/24")?;
        let b_host = Netns::create(&ns_name("dhcp-b"))?;
        lan.link_host("br0", &b_host, "eth0", B_CIDR)?;
        let (ns, b_ns) = (lan.name.clone(), b_host.name.clone());
        self.nets.extend([lan, b_host]);
        let (inv, _state) = self.inventory(tag, Some(inventory))?;
        let invref = Inv {
            file: &inv,
            state: Store::Database(&url),
        };
        let work = self.work.clone();
        let a = daemons::dhcpd(
            &self.bins,
            Dhcp::Ours,
            &ns,
            "br0",
            conf,
            Some(&invref),
            &work,
        )?;
        let t = daemons::tftpd(
            &self.bins,
            &ns,
            "10.77.0.2",
            tftp_root,
            Some(&invref),
            &work,
        )?;
        let h = daemons::httpd(&self.bins, &ns, "10.77.0.3", tftp_root, &invref, &work)?;
        let mut b = daemons::dhcpd(
            &self.bins,
            Dhcp::Ours,
            &b_ns,
            "eth0",
            conf,
            Some(&invref),
            &work,
        )?;
        let logs = Logs::new(vec![
            (Source::Dhcp, a.log.clone()),
            (Source::Dhcp, b.log.clone()),
            (Source::Tftp, t.log.clone()),
            (Source::Http, h.log.clone()),
        ]);
        self.procs.extend([t, h]);
        self.settle()?;
        let mut a = a;
        for (name, p) in [("A", &mut a), ("B", &mut b)] {
            if !p.wait_for("Server starting service.", Duration::from_secs(20)) {
                bail!("dhcpd {name} did not start:\n{}", p.log_text());
            }
        }
        b.signal("STOP")?;
        println!(
            "          PostgreSQL (throwaway) holds leases and install state; dhcpd A (pid {}) \
             on 10.77.0.2, dhcpd B (pid {}) on {B_CIDR}, held with SIGSTOP",
            a.pid(),
            b.pid()
        );
        Ok(Layout {
            ns,
            logs,
            pair: Pair {
                a,
                b,
                handover: None,
                _db: db,
            },
            url,
        })
    }
}

/// The addresses of the DHCPACKs to `mac` in a dhcpd log, in order
/// (`DHCPACK on ADDR to MAC via IFACE`).
fn acks_to(log: &str, mac: &str) -> Vec<String> {
    let to = format!(" to {mac} ");
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once("DHCPACK on ")?.1;
            let (addr, after) = rest.split_once(' ')?;
            format!(" {after}")
                .starts_with(&to)
                .then(|| addr.to_owned())
        })
        .collect()
}

impl Pair {
    /// Called while the VM runs: at A's first DHCPACK to `mac`, SIGCONT to B and
    /// SIGKILL to A; once.
    pub(super) fn tick(&mut self, mac: &str, started: Instant) {
        if self.handover.is_some() || acks_to(&self.a.log_text(), mac).is_empty() {
            return;
        }
        if let Err(e) = self.b.signal("CONT") {
            println!("  dhcpd B: {e:#}");
        }
        let b_log_len = self.b.log_text().len();
        self.a.kill_now();
        let a_log_len = self.a.log_text().len();
        println!(
            "  {:>6.1}s  DHCP  dhcpd A acknowledged {mac}: SIGKILL to A (pid {}), B resumes",
            started.elapsed().as_secs_f64(),
            self.a.pid()
        );
        self.handover = Some(Handover {
            at: Instant::now(),
            a_log_len,
            b_log_len,
        });
    }

    /// Whether A gave the first lease and B every later one, to the same address; the
    /// lines to print, or why not.
    pub(super) fn verdict(&mut self, mac: &str) -> Result<Vec<String>, String> {
        let Some(h) = &self.handover else {
            return Err("dhcpd A never acknowledged the VM, so it was never killed".into());
        };
        if self.a.alive() {
            return Err("dhcpd A still runs after its SIGKILL".into());
        }
        let a_text = self.a.log_text();
        let b_text = self.b.log_text();
        let a_acks = acks_to(&a_text[..h.a_log_len.min(a_text.len())], mac);
        let b_before = acks_to(b_text.get(..h.b_log_len).unwrap_or(""), mac);
        let b_after = acks_to(b_text.get(h.b_log_len..).unwrap_or(""), mac);
        let Some(first) = a_acks.first() else {
            return Err("no DHCPACK from dhcpd A before the kill".into());
        };
        if !b_before.is_empty() {
            return Err(format!("dhcpd B acknowledged {mac} before A was killed"));
        }
        // The deploy initramfs, the reboot's network boot and the installed system.
        if b_after.len() < 3 {
            return Err(format!(
                "dhcpd B acknowledged {mac} {} times after the kill (want 3: deploy \
                 initramfs, network boot again, first boot): {b_after:?}",
                b_after.len()
            ));
        }
        // The deploy initramfs and the reboot's network boot ask as the client A served (the
        // same hardware address and client identifier): they must get A's address back. The
        // installed system's DHCP client (systemd-networkd: a DUID-based client identifier)
        // is another client under ISC's rules, and may get another address.
        if let Some(other) = b_after.iter().take(2).find(|a| *a != first) {
            return Err(format!(
                "dhcpd B gave {other}, A had given {first}: the lease row was not shared"
            ));
        }
        if !self.b.alive() {
            return Err("dhcpd B died".into());
        }
        Ok(vec![
            format!(
                "dhcpd A: DHCPACK on {first} to {mac} before its SIGKILL ({} in all)",
                a_acks.len()
            ),
            format!(
                "dhcpd B: {} DHCPACKs to {mac} after it ({}), none before; the install \
                 went on {:.0} s after the kill",
                b_after.len(),
                b_after.join(", "),
                h.at.elapsed().as_secs_f64()
            ),
        ])
    }
}

/// The machine's timeline, copied from the database into the file the phases watch
/// (one JSON event a line, as a state directory holds it).
pub(super) struct TimelineCopy {
    store: pxe_db::state::PgStateStore,
    machine: &'static str,
    file: PathBuf,
}

impl TimelineCopy {
    pub(super) fn new(url: &str, machine: &'static str, file: &Path) -> Result<TimelineCopy> {
        let url: pxe_db::DatabaseUrl = url.parse().context("the scratch database's URL")?;
        Ok(TimelineCopy {
            store: pxe_db::state::PgStateStore::new(url),
            machine,
            file: file.to_owned(),
        })
    }

    /// Rewrites the file from the database (events only grow, so the file does too).
    pub(super) fn refresh(&self) {
        let Ok(events) = self.store.events(self.machine, 10_000) else {
            return;
        };
        let mut text = String::new();
        for e in &events {
            if let Ok(line) = serde_json::to_string(e) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        let tmp = self.file.with_extension("jsonl.new");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &self.file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::acks_to;

    #[test]
    fn acks_to_one_mac() {
        let log = "\
DHCPDISCOVER from 52:54:00:77:00:33 via br0
DHCPACK on 10.77.0.150 to 52:54:00:77:00:33 via br0
DHCPACK on 10.77.0.151 to 52:54:00:77:00:330 via br0
DHCPACK on 10.77.0.152 to 52:54:00:77:00:34 via br0
2026 INFO DHCPACK on 10.77.0.150 to 52:54:00:77:00:33 (host) via eth0
";
        assert_eq!(
            acks_to(log, "52:54:00:77:00:33"),
            ["10.77.0.150", "10.77.0.150"]
        );
    }
}
