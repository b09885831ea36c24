//! Leases in PostgreSQL ([`PgStore`]): the [`LeaseStore`] every dhcpd sharing one database
//! uses. A row per address (`dhcp_leases`, see pxe-db's migrations) holds the lease's
//! searchable fields and its whole text in dhcpd.leases syntax, which is what is read back,
//! so nothing the file backend keeps is lost. Every write is a compare-and-swap on the row's
//! `version` ([`Cas`]): a new row is an insert that loses on conflict, a change names the
//! version the server's decision was made against (the core task's table keeps it, so a
//! decision and its check always agree) and gives the row a new random one; a lost race
//! rolls the whole batch back (no reply of it leaves, the clients retransmit) and the
//! winning rows are read and handed back to the core task. A batch is one transaction with
//! synchronous commit: when `commit` returns, the leases are on the database's disk. While
//! the database cannot be reached every commit fails (no ACK leaves) and the next one tries
//! to connect again, so the server recovers by itself when the database returns.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use postgres::Client;
use pxe_db::DatabaseUrl;

use super::records::ObjectRecord;
use super::store::{Cas, LeaseStore, RowNow, StoreError};
use super::{Lease, LeaseFile, LeaseTable, Time};

/// A batch's outcome: written, or the addresses another server wrote first.
type Written = Result<(), Vec<Ipv4Addr>>;

/// The lease store on a PostgreSQL database.
pub struct PgStore {
    url: DatabaseUrl,
    client: Option<Client>,
    /// Who writes (`written_by`): `dhcpd@HOSTNAME/PID`, one name per server process.
    writer: String,
    /// The listener for other servers' writes (started by the committer's first
    /// [`LeaseStore::observed`], after the process forked into the background).
    watch: Option<super::pg_watch::Watch>,
    /// The database could not be reached at the last try (logged once per outage).
    down: bool,
    /// When the table was last read (the database's clock, seconds since the epoch): the
    /// listener reads what others wrote after it.
    loaded_at: f64,
}

fn db_error(what: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |e| StoreError::Database(format!("{what}: {e}"))
}

/// Rows of `SELECT address, version, lease`: their leases' text, one after another, and each
/// address's version.
fn lease_rows(rows: &[postgres::Row]) -> (String, HashMap<Ipv4Addr, i64>) {
    let mut text = String::new();
    let mut versions = HashMap::new();
    for r in rows {
        if let IpAddr::V4(ip) = r.get::<_, IpAddr>(0) {
            versions.insert(ip, r.get::<_, i64>(1));
        }
        text.push_str(r.get::<_, &str>(2));
    }
    (text, versions)
}

/// The rows at `ips` as they are now, one per address asked for (`lease: None` and version
/// 0 where there is no row).
pub(super) fn rows_at(
    client: &mut Client,
    ips: &[Ipv4Addr],
) -> Result<Vec<RowNow>, postgres::Error> {
    let addresses: Vec<IpAddr> = ips.iter().map(|ip| IpAddr::V4(*ip)).collect();
    let rows = client.query(
        "SELECT address, version, lease FROM dhcp_leases WHERE address = ANY($1)",
        &[&addresses],
    )?;
    let (text, versions) = lease_rows(&rows);
    let mut leases: HashMap<Ipv4Addr, Lease> =
        super::parse::parse("lease database", text.as_bytes())
            .leases
            .into_iter()
            .map(|l| (l.ip, l))
            .collect();
    Ok(ips
        .iter()
        .map(|ip| RowNow {
            ip: *ip,
            lease: leases.remove(ip),
            version: versions.get(ip).copied().unwrap_or(0),
        })
        .collect())
}

/// Relay agent sub-options as they came in option 82: code, length, data.
fn agent_bytes(l: &Lease) -> Option<Vec<u8>> {
    if l.agent_options().is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for (code, data) in l.agent_options() {
        out.push(*code);
        out.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
        out.extend(data.iter().take(255));
    }
    Some(out)
}

const INSERT: &str =
    "INSERT INTO dhcp_leases (address, binding_state, next_binding_state, starts, ends,
        tstp, cltt, hardware_type, hardware_address, client_id, client_hostname, agent_options,
        lease, version, written_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $14)
    ON CONFLICT (address) DO NOTHING";

const UPDATE: &str = "UPDATE dhcp_leases SET binding_state = $2, next_binding_state = $3,
        starts = $4, ends = $5, tstp = $6, cltt = $7, hardware_type = $8,
        hardware_address = $9, client_id = $10, client_hostname = $11, agent_options = $12,
        lease = $13, version = $15, written_by = $14, written_at = now()
    WHERE address = $1 AND version = $16";

impl PgStore {
    /// A store on `url` (nothing is opened until [`LeaseStore::load`]).
    pub fn new(url: DatabaseUrl) -> PgStore {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".into());
        PgStore {
            url: url.for_application("dhcpd"),
            client: None,
            writer: format!("dhcpd@{host}/{}", std::process::id()),
            watch: None,
            down: false,
            loaded_at: 0.0,
        }
    }

    /// The open connection, made (and the schema migrated) when there is none.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let opened = self.url.connect().and_then(|mut c| {
                pxe_db::migrate(&mut c, &self.writer)?;
                Ok(c)
            });
            match opened {
                Ok(c) => {
                    if self.down {
                        tracing::info!("lease database {} reachable again", self.url);
                        self.down = false;
                    }
                    self.client = Some(c);
                }
                Err(e) => {
                    if !self.down {
                        tracing::error!("lease database {} unreachable: {e}", self.url);
                        self.down = true;
                    }
                    return Err(StoreError::Database(e.to_string()));
                }
            }
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Database("no connection".into()))
    }

    /// Close the connection (the next request opens one): before the process forks into
    /// the background, so that the child does not share a connection with its parent.
    pub fn disconnect(&mut self) {
        self.client = None;
    }

    /// After a failed request: drop a connection that broke, so the next call reconnects.
    fn forget_broken(&mut self) {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
        }
    }

    /// Write one batch in one transaction, each lease with its compare-and-swap:
    /// `Ok(Err(addresses))` when another server wrote those first (nothing of the batch is
    /// written then).
    fn write_batch(&mut self, writes: &[(&Lease, Cas)]) -> Result<Written, StoreError> {
        let writer = self.writer.clone();
        let client = self.client()?;
        let mut tx = client
            .transaction()
            .map_err(db_error("starting a commit"))?;
        let insert = tx.prepare(INSERT).map_err(db_error("preparing"))?;
        let update = tx.prepare(UPDATE).map_err(db_error("preparing"))?;
        let mut lost = Vec::new();
        for (l, cas) in writes {
            let address = IpAddr::V4(l.ip);
            let (state, next) = (l.state.name(), l.next_state.name());
            let (htype, haddr) = match &l.hardware {
                Some(h) => (Some(i16::from(h.htype)), Some(h.addr())),
                None => (None, None),
            };
            let text = super::write::lease(l);
            let agent = agent_bytes(l);
            let (uid, hostname) = (l.uid.as_deref(), l.client_hostname.as_deref());
            let params: [&(dyn postgres::types::ToSql + Sync); 16] = [
                &address,
                &state,
                &next,
                &l.starts,
                &l.ends,
                &l.tstp,
                &l.cltt,
                &htype,
                &haddr,
                &uid,
                &hostname,
                &agent,
                &text,
                &writer,
                &cas.written,
                &cas.expected,
            ];
            let rows = if cas.expected == 0 {
                tx.execute(&insert, &params[..15])
            } else {
                tx.execute(&update, &params)
            }
            .map_err(db_error("writing a lease"))?;
            if rows != 1 {
                lost.push(l.ip);
            }
        }
        if !lost.is_empty() {
            // Dropped without a commit: the transaction rolls back.
            return Ok(Err(lost));
        }
        tx.commit().map_err(db_error("committing"))?;
        Ok(Ok(()))
    }

    /// The rows at `ips` as they are now (after a lost race: the server decides against
    /// them from now on), those without a row included.
    fn reread(&mut self, ips: &[Ipv4Addr]) -> Result<Vec<RowNow>, StoreError> {
        let client = self.client()?;
        rows_at(client, ips).map_err(db_error("reading leases"))
    }

    /// Copy the leases and OMAPI records of an ISC-format lease file into the database:
    /// leases whose address has no row yet, and the records (only when the database has
    /// none). Returns how many leases were copied.
    pub fn import(&mut self, file: &LeaseFile) -> Result<usize, StoreError> {
        // The last lease of each address is the one that counts, as when a file is read.
        let mut last: HashMap<Ipv4Addr, &Lease> = HashMap::new();
        for l in &file.leases {
            last.insert(l.ip, l);
        }
        let mut leases: Vec<&Lease> = last.into_values().collect();
        leases.sort_by_key(|l| l.ip);
        let mut copied = 0;
        // One address at a time: an address another server holds is skipped, not a failure.
        for l in leases {
            let cas = Cas {
                expected: 0,
                written: fastrand::i64(1..),
            };
            match self.write_batch(&[(l, cas)]) {
                Ok(Ok(())) => copied += 1,
                Ok(Err(_)) => {}
                Err(e) => {
                    self.forget_broken();
                    return Err(e);
                }
            }
        }
        let client = self.client()?;
        let has_records: bool = client
            .query_one("SELECT exists (SELECT 1 FROM dhcp_omapi_records)", &[])
            .map_err(db_error("reading OMAPI records"))?
            .get(0);
        if !has_records {
            self.commit_records(&file.records)?;
        }
        Ok(copied)
    }
}

impl LeaseStore for PgStore {
    fn load(&mut self) -> Result<LeaseFile, StoreError> {
        let client = self.client()?;
        let loaded_at: f64 = client
            .query_one("SELECT extract(epoch FROM clock_timestamp())::float8", &[])
            .map_err(db_error("reading the database's clock"))?
            .get(0);
        let rows = client
            .query(
                "SELECT address, version, lease FROM dhcp_leases ORDER BY address",
                &[],
            )
            .map_err(db_error("reading leases"))?;
        let records = client
            .query("SELECT record FROM dhcp_omapi_records ORDER BY seq", &[])
            .map_err(db_error("reading OMAPI records"))?;
        let (mut text, versions) = lease_rows(&rows);
        for r in &records {
            text.push_str(r.get::<_, &str>(0));
        }
        let mut file =
            super::parse::parse(&format!("lease database {}", self.url), text.as_bytes());
        file.db_versions = versions;
        self.loaded_at = loaded_at;
        Ok(file)
    }

    fn commit(&mut self, _leases: &[Lease]) -> Result<(), StoreError> {
        // Every write to a shared database names the version its decision saw.
        Err(StoreError::Database(
            "a lease write without its compare-and-swap versions".into(),
        ))
    }

    fn commit_cas(&mut self, leases: &[Lease], cas: &[Cas]) -> Result<(), StoreError> {
        if leases.is_empty() {
            return Ok(());
        }
        // One write per address: the batch's last lease of it, from the version its first
        // write expected to the one its last write gives.
        let mut by_ip: HashMap<Ipv4Addr, (&Lease, Cas)> = HashMap::new();
        for (l, c) in leases.iter().zip(cas) {
            by_ip
                .entry(l.ip)
                .and_modify(|(last, w)| {
                    *last = l;
                    w.written = c.written;
                })
                .or_insert((l, *c));
        }
        let mut batch: Vec<(&Lease, Cas)> = by_ip.into_values().collect();
        // The same order on every server, so two batches never wait on each other's rows.
        batch.sort_by_key(|(l, _)| l.ip);
        match self.write_batch(&batch) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(lost)) => {
                tracing::warn!(
                    "lease database: {} not as this server last saw them (written by another server, or an earlier write lost): the requests that wrote them get no reply",
                    lost.iter()
                        .map(Ipv4Addr::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let won = self.reread(&lost).inspect_err(|_| self.forget_broken())?;
                Err(StoreError::Conflict(won))
            }
            Err(e) => {
                self.forget_broken();
                Err(e)
            }
        }
    }

    fn commit_records(&mut self, records: &[ObjectRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let writer = self.writer.clone();
        let client = self.client()?;
        let written = (|| {
            let mut tx = client.transaction()?;
            for r in records {
                tx.execute(
                    "INSERT INTO dhcp_omapi_records (kind, name, dynamic, deleted, record, written_by)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&r.kind.word(), &r.name, &r.dynamic, &r.deleted, &r.text, &writer],
                )?;
            }
            tx.commit()
        })();
        if let Err(e) = written {
            self.forget_broken();
            return Err(StoreError::Database(format!("writing OMAPI records: {e}")));
        }
        Ok(())
    }

    fn observed(&mut self) -> Vec<RowNow> {
        match &self.watch {
            Some(w) => w.take(),
            None => {
                self.watch = Some(super::pg_watch::Watch::start(
                    self.url.clone(),
                    self.writer.clone(),
                    self.loaded_at,
                ));
                Vec::new()
            }
        }
    }

    fn compact(&mut self, _live: &LeaseTable, _now: Time) -> Result<(), StoreError> {
        // Rows are rewritten in place: there is no history to fold.
        Ok(())
    }
}
