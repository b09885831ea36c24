//! The soak's tallies: kills and where they landed, ACKs captured, promises checked and
//! broken, torn records, restart times, the lease file at the end, wall time. Printed as one
//! summary block on standard error and written as JSON for `cargo xtask soak`.

use std::time::Duration;

use serde_json::json;

/// What a soak counted.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    /// The generator's seed (`PXE_SOAK_SEED` repeats a run's schedule), `None` for the
    /// steady schedule.
    pub(crate) seed: Option<u64>,
    /// The kills asked for.
    pub(crate) requested: u32,
    /// The time budget ran out before every kill asked for was done.
    pub(crate) stopped_by_budget: bool,
    /// Kills in a storm of DORA exchanges.
    pub(crate) storm_kills: u32,
    /// Kills during start-up (while the lease file is read and rewritten).
    pub(crate) startup_kills: u32,
    /// Kills meant for the start-up that came just after it (the server was ready, no
    /// storm yet).
    pub(crate) idle_kills: u32,
    /// Start-up kills that left the rewrite's temporary file behind: they landed in the
    /// middle of the rewrite.
    pub(crate) mid_rewrite_kills: u32,
    /// DHCPACK packets captured on the client side.
    pub(crate) ack_packets: usize,
    /// Packets the kernel dropped before tcpdump read them (ACKs among them go unchecked).
    pub(crate) capture_drops: usize,
    /// Distinct leases those ACKs gave (address and client, per round).
    pub(crate) acked_leases: usize,
    /// Promises looked up in the lease file, summed over every check.
    pub(crate) lookups: usize,
    /// Every broken promise: an ACKed lease the file lost.
    pub(crate) lost: Vec<String>,
    /// Addresses ACKed to a second client while the first one's lease ran.
    pub(crate) double_grants: Vec<String>,
    /// Parse errors in the lease file as the server reads it.
    pub(crate) file_errors: Vec<String>,
    /// `dropped an unterminated last record` lines in the server's start-up logs.
    pub(crate) torn_dropped_on_start: usize,
    /// Kills after which the file ended in an unterminated record.
    pub(crate) torn_after_kill: usize,
    /// Spawn to `Server starting service.`, for each start after a kill.
    pub(crate) restarts: Vec<Duration>,
    pub(crate) file_bytes: u64,
    pub(crate) file_leases: usize,
    /// Rewrite temporaries of an earlier run that starts removed (`removed, a lease-file
    /// rewrite a crash interrupted` lines in their logs).
    pub(crate) temporaries_removed_on_start: usize,
    /// Rewrite temporaries (`dhcpd.leases.<time>.<random>`) left in the lease directory
    /// after the final restart and clean stop (must be none).
    pub(crate) temporaries_left: usize,
    pub(crate) wall: Duration,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Figures {
    pub(crate) fn kills(&self) -> u32 {
        self.storm_kills + self.startup_kills + self.idle_kills
    }

    /// Median and maximum restart time.
    pub(crate) fn restart_times(&self) -> (Duration, Duration) {
        let mut t = self.restarts.clone();
        t.sort();
        let median = t.get(t.len() / 2).copied().unwrap_or_default();
        (median, t.last().copied().unwrap_or_default())
    }

    fn build() -> &'static str {
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    }

    /// One line on the way: kills, ACKs, losses, time.
    pub(crate) fn progress(&self, elapsed: Duration) -> String {
        format!(
            "soak: {} of {} kills, {} ACKs captured, {} lost, lease file {} bytes, {:.0} s",
            self.kills(),
            self.requested,
            self.ack_packets,
            self.lost.len(),
            self.file_bytes,
            elapsed.as_secs_f64()
        )
    }

    /// What was done of what was asked.
    fn done(&self) -> String {
        if self.stopped_by_budget {
            format!(
                "{} SIGKILLs of dhcpd (of {} asked for: the time budget ran out)",
                self.kills(),
                self.requested
            )
        } else {
            format!("{} SIGKILLs of dhcpd", self.kills())
        }
    }

    /// The summary block.
    pub(crate) fn summary(&self) -> String {
        let (median, max) = self.restart_times();
        let kills = self.kills().max(1);
        let seed = self
            .seed
            .map_or_else(|| "steady schedule".into(), |s| format!("seed {s}"));
        format!(
            "crash soak: {} ({} build, {seed})
  where: {} in a DORA storm, {} during start-up ({} of those in the middle of the lease-file rewrite), {} just after it
  ACKs captured: {} ({} leases; packets the capture dropped: {}); lease lookups after the kills: {}
  ACKed leases lost: {}; addresses ACKed to two clients at once: {}
  lease-file errors: {}
  torn records dropped on start: {} (files ending torn after a kill: {}); rewrite temporaries removed on start: {}
  restart, spawn to ready: median {:.1} ms, max {:.1} ms ({} restarts)
  lease file at the end: {} bytes, {} leases; rewrite temporaries left: {}
  wall time: {:.0} s ({:.2} s a kill)",
            self.done(),
            Self::build(),
            self.storm_kills,
            self.startup_kills,
            self.mid_rewrite_kills,
            self.idle_kills,
            self.ack_packets,
            self.acked_leases,
            self.capture_drops,
            self.lookups,
            self.lost.len(),
            self.double_grants.len(),
            self.file_errors.len(),
            self.torn_dropped_on_start,
            self.torn_after_kill,
            self.temporaries_removed_on_start,
            millis(median),
            millis(max),
            self.restarts.len(),
            self.file_bytes,
            self.file_leases,
            self.temporaries_left,
            self.wall.as_secs_f64(),
            self.wall.as_secs_f64() / f64::from(kills),
        )
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let (median, max) = self.restart_times();
        json!({
            "build": Self::build(),
            "seed": self.seed,
            "kills": self.kills(),
            "requested": self.requested,
            "stopped_by_budget": self.stopped_by_budget,
            "storm_kills": self.storm_kills,
            "startup_kills": self.startup_kills,
            "mid_rewrite_kills": self.mid_rewrite_kills,
            "idle_kills": self.idle_kills,
            "ack_packets": self.ack_packets,
            "acked_leases": self.acked_leases,
            "capture_drops": self.capture_drops,
            "lease_lookups": self.lookups,
            "lost": self.lost.len(),
            "lost_leases": self.lost,
            "double_grants": self.double_grants,
            "file_errors": self.file_errors,
            "torn_dropped_on_start": self.torn_dropped_on_start,
            "torn_after_kill": self.torn_after_kill,
            "rewrite_temporaries_removed_on_start": self.temporaries_removed_on_start,
            "restarts": self.restarts.len(),
            "restart_median_ms": millis(median),
            "restart_max_ms": millis(max),
            "lease_file_bytes": self.file_bytes,
            "lease_file_leases": self.file_leases,
            "rewrite_temporaries_left": self.temporaries_left,
            "wall_s": self.wall.as_secs_f64(),
        })
    }

    /// Print the summary; write the JSON to `PXE_SOAK_REPORT` when it is set.
    pub(crate) fn report(&self) {
        eprintln!("{}", self.summary());
        if let Some(path) = std::env::var_os("PXE_SOAK_REPORT") {
            let text = serde_json::to_string_pretty(&self.json()).expect("figures as JSON");
            std::fs::write(&path, text + "\n")
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
    }

    /// Fail, listing them, when a lease was lost, an address given twice or the file did
    /// not read cleanly.
    pub(crate) fn assert_nothing_lost(&self) {
        assert!(
            self.lost.is_empty() && self.double_grants.is_empty() && self.file_errors.is_empty(),
            "{} ACKed leases lost over {} kills:\n{}\naddresses ACKed to two clients:\n{}\n\
             lease-file errors:\n{}",
            self.lost.len(),
            self.kills(),
            self.lost.join("\n"),
            self.double_grants.join("\n"),
            self.file_errors.join("\n")
        );
    }
}
