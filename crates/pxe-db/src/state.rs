//! Install state in PostgreSQL: the [`StateStore`] backend that lets several tftpd,
//! httpd-tree and dhcpd share one truth (issue 14 part 4), beside the embedded
//! [`pxe_model::FileStore`].
//!
//! - A machine's state is one row of `pxe_machine_state` holding the same JSON the file
//!   backend writes, and a version. A change reads the row, applies the event with the same
//!   pure rule ([`MachineState::apply`]), and writes it back only if the version is still
//!   the one read (an insert that loses to another writer's insert, or an update naming the
//!   version); a lost race reads again and reapplies, so two processes applying events to
//!   one machine at once lose none of them.
//! - Boot timelines are rows of `pxe_boot_events`, cut to the last [`EVENTS_KEEP`] per
//!   machine every [`TRIM_EVERY`] appends of this process.
//! - The address dhcpd last acknowledged to a machine is a row of `pxe_acked`, searched by
//!   address too.
//! - Every state change is announced on the `pxe_machine_state` channel (a trigger: the
//!   machine's name), for the pages that follow states live.
//!
//! One connection per store, behind a mutex; a broken connection is opened again at the
//! next call, and the call that found it broken fails (the caller logs it, as for a file
//! it cannot write).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::Client;
use pxe_model::state::{
    BootEvent, EVENTS_KEEP, MIN_SECRET, MachineState, Secret, StateError, StateEvent, StateStore,
    Transition,
};

use crate::DatabaseUrl;

/// How often (in appends by this process) a machine's timeline is cut back.
pub const TRIM_EVERY: u64 = 32;

/// How many times a change is retried after losing its compare-and-swap.
const RACES: usize = 64;

/// Install state in a PostgreSQL database (migrated by the caller: [`crate::migrate`]).
pub struct PgStateStore {
    url: DatabaseUrl,
    client: Mutex<Option<Client>>,
    appends: AtomicU64,
}

impl std::fmt::Debug for PgStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStateStore")
            .field("url", &self.url.to_string())
            .finish_non_exhaustive()
    }
}

fn backend(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Backend(format!("{what}: {e}"))
}

/// JSON text, passed as `$n::text::jsonb` and read back as `col::text` (no JSON type mapping
/// needed in the driver).
fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StateError> {
    serde_json::to_string(v).map_err(|e| backend("encoding", e))
}

fn from_json<T: serde::de::DeserializeOwned>(machine: &str, text: &str) -> Result<T, StateError> {
    serde_json::from_str(text).map_err(|e| backend(&format!("the row of {machine}"), e))
}

impl PgStateStore {
    /// A store on `url`; the connection is opened at the first call.
    pub fn new(url: DatabaseUrl) -> PgStateStore {
        PgStateStore {
            url,
            client: Mutex::new(None),
            appends: AtomicU64::new(0),
        }
    }

    /// Runs `f` on the connection (opened when there is none); a connection that failed
    /// is dropped so that the next call opens a new one.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StateError> {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.url.connect().map_err(|e| backend("connecting", e))?);
        }
        let Some(client) = guard.as_mut() else {
            return Err(backend("connecting", "no connection"));
        };
        let out = f(client);
        if out.is_err() && client.is_closed() {
            *guard = None;
        }
        out.map_err(|e| backend("query", e))
    }

    /// The stored state and its version (0: no row yet).
    fn read(client: &mut Client, machine: &str) -> Result<(Option<String>, i64), postgres::Error> {
        let row = client.query_opt(
            "SELECT state::text, version FROM pxe_machine_state WHERE name = $1",
            &[&machine],
        )?;
        Ok(match row {
            None => (None, 0),
            Some(r) => (Some(r.get(0)), r.get(1)),
        })
    }

    /// Writes `state` if the row is still at `version`; false when another writer got
    /// there first.
    fn swap(
        client: &mut Client,
        machine: &str,
        state: &str,
        version: i64,
    ) -> Result<bool, postgres::Error> {
        let written = if version == 0 {
            client.execute(
                "INSERT INTO pxe_machine_state (name, state, version) VALUES ($1, $2::text::jsonb, 1)
                 ON CONFLICT (name) DO NOTHING",
                &[&machine, &state],
            )?
        } else {
            client.execute(
                "UPDATE pxe_machine_state SET state = $2::text::jsonb, version = version + 1,
                     written_at = now()
                 WHERE name = $1 AND version = $3",
                &[&machine, &state, &version],
            )?
        };
        Ok(written == 1)
    }
}

/// The row of `pxe_secrets` that holds the callback tokens' key.
const TOKEN_KEY: &str = "callback-token";

impl PgStateStore {
    /// Stores `key` as the callback tokens' key unless the database has one already; the
    /// key the database holds afterwards (the one every daemon on it uses).
    pub fn adopt_secret(&self, key: &[u8]) -> Result<Secret, StateError> {
        if key.len() < MIN_SECRET {
            return Err(backend(
                "the token key",
                format!("{} bytes, fewer than {MIN_SECRET}", key.len()),
            ));
        }
        let stored: Vec<u8> = self.with(|c| {
            c.execute(
                "INSERT INTO pxe_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&TOKEN_KEY, &key],
            )?;
            c.query_one("SELECT value FROM pxe_secrets WHERE name = $1", &[&TOKEN_KEY])
                .map(|r| r.get(0))
        })?;
        if stored.len() < MIN_SECRET {
            return Err(backend("the token key", "shorter than its minimum"));
        }
        Ok(Secret::from_bytes(&stored))
    }

    /// A store on `url` connected now, its schema migrated on that connection (`who` names
    /// the migrating process): how a daemon opens it at start, before it drops privileges.
    pub fn open(url: DatabaseUrl, who: &str) -> Result<PgStateStore, crate::DbError> {
        let mut client = url.connect()?;
        crate::migrate(&mut client, who)?;
        Ok(PgStateStore {
            url,
            client: Mutex::new(Some(client)),
            appends: AtomicU64::new(0),
        })
    }

    /// Writes `state` as `machine`'s if the database has no row for it; false when it has
    /// one (left as it is).
    pub fn insert_state(&self, machine: &str, state: &MachineState) -> Result<bool, StateError> {
        let text = to_json(state)?;
        self.with(|c| Self::swap(c, machine, &text, 0))
    }

    /// A machine's state (default: pending, never changed) and its row's version.
    fn state_and_version(&self, machine: &str) -> Result<(MachineState, i64), StateError> {
        let (text, version) = self.with(|c| Self::read(c, machine))?;
        let state = match text {
            Some(t) => from_json(machine, &t)?,
            None => MachineState::default(),
        };
        Ok((state, version))
    }
}

impl StateStore for PgStateStore {
    fn install_states(&self) -> Result<BTreeMap<String, pxe_model::InstallState>, StateError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT name, to_json(state->'state')::text FROM pxe_machine_state",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                let name: String = r.get(0);
                let state: String = r.get(1);
                let state = from_json(&name, &state)?;
                Ok((name, state))
            })
            .collect()
    }

    fn remote(&self) -> bool {
        true
    }

    fn secret(&self) -> Result<Secret, StateError> {
        let mut key = [0u8; 32];
        openssl::rand::rand_bytes(&mut key).map_err(|e| backend("random key", e))?;
        self.adopt_secret(&key)
    }

    fn get(&self, machine: &str) -> Result<MachineState, StateError> {
        Ok(self.state_and_version(machine)?.0)
    }

    fn all(&self) -> Result<BTreeMap<String, MachineState>, StateError> {
        let rows =
            self.with(|c| c.query("SELECT name, state::text FROM pxe_machine_state", &[]))?;
        rows.into_iter()
            .map(|r| {
                let name: String = r.get(0);
                let state = from_json(&name, r.get::<_, &str>(1))?;
                Ok((name, state))
            })
            .collect()
    }

    fn apply(
        &self,
        machine: &str,
        event: StateEvent,
        at: u64,
    ) -> Result<(MachineState, Option<Transition>), StateError> {
        self.apply_if(machine, event, at, &|_| true)?
            .ok_or_else(|| backend("apply", "refused without a rule"))
    }

    fn apply_if(
        &self,
        machine: &str,
        event: StateEvent,
        at: u64,
        allowed: &dyn Fn(&MachineState) -> bool,
    ) -> Result<Option<(MachineState, Option<Transition>)>, StateError> {
        for _ in 0..RACES {
            let (mut state, version) = self.state_and_version(machine)?;
            if !allowed(&state) {
                return Ok(None);
            }
            let transition = state.apply(event, at);
            let json = to_json(&state)?;
            if self.with(|c| Self::swap(c, machine, &json, version))? {
                return Ok(Some((state, transition)));
            }
        }
        Err(backend(
            "apply",
            format!("{machine}: lost {RACES} races in a row to other writers"),
        ))
    }

    fn record(&self, machine: &str, event: &BootEvent) -> Result<(), StateError> {
        let json = to_json(event)?;
        let trim = self.appends.fetch_add(1, Ordering::Relaxed) % TRIM_EVERY == TRIM_EVERY - 1;
        let keep = i64::try_from(EVENTS_KEEP).unwrap_or(i64::MAX);
        self.with(|c| {
            c.execute(
                "INSERT INTO pxe_boot_events (machine, event) VALUES ($1, $2::text::jsonb)",
                &[&machine, &json],
            )?;
            if trim {
                c.execute(
                    "DELETE FROM pxe_boot_events WHERE machine = $1 AND id < (
                         SELECT id FROM pxe_boot_events WHERE machine = $1
                         ORDER BY id DESC OFFSET $2 LIMIT 1)",
                    &[&machine, &(keep - 1)],
                )?;
            }
            Ok(())
        })
    }

    fn events(&self, machine: &str, limit: usize) -> Result<Vec<BootEvent>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.with(|c| {
            c.query(
                "SELECT event::text FROM (SELECT id, event FROM pxe_boot_events WHERE machine = $1
                     ORDER BY id DESC LIMIT $2) t ORDER BY id",
                &[&machine, &limit],
            )
        })?;
        rows.into_iter()
            .map(|r| from_json(machine, r.get::<_, &str>(0)))
            .collect()
    }

    fn record_ack(&self, machine: &str, address: Ipv4Addr, at: u64) -> Result<(), StateError> {
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        let address = IpAddr::V4(address);
        self.with(|c| {
            c.execute(
                "INSERT INTO pxe_acked (machine, address, at) VALUES ($1, $2, $3)
                 ON CONFLICT (machine) DO UPDATE SET address = $2, at = $3",
                &[&machine, &address, &at],
            )
            .map(drop)
        })
    }

    fn acked_address(&self, machine: &str) -> Result<Option<Ipv4Addr>, StateError> {
        let row = self.with(|c| {
            c.query_opt(
                "SELECT address FROM pxe_acked WHERE machine = $1",
                &[&machine],
            )
        })?;
        Ok(row.and_then(|r| match r.get::<_, IpAddr>(0) {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }))
    }

    fn record_ack6(&self, machine: &str, address: Ipv6Addr, at: u64) -> Result<(), StateError> {
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        let address = IpAddr::V6(address);
        self.with(|c| {
            c.execute(
                "INSERT INTO pxe_acked6 (machine, address, at) VALUES ($1, $2, $3)
                 ON CONFLICT (machine) DO UPDATE SET address = $2, at = $3",
                &[&machine, &address, &at],
            )
            .map(drop)
        })
    }

    fn acked_address6(&self, machine: &str) -> Result<Option<Ipv6Addr>, StateError> {
        let row = self.with(|c| {
            c.query_opt(
                "SELECT address FROM pxe_acked6 WHERE machine = $1",
                &[&machine],
            )
        })?;
        Ok(row.and_then(|r| match r.get::<_, IpAddr>(0) {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }))
    }

    fn machine_acked_at(&self, address: Ipv4Addr) -> Result<Option<String>, StateError> {
        let address = IpAddr::V4(address);
        let row = self.with(|c| {
            c.query_opt(
                "SELECT machine FROM pxe_acked WHERE address = $1 ORDER BY at DESC LIMIT 1",
                &[&address],
            )
        })?;
        Ok(row.map(|r| r.get(0)))
    }
}
