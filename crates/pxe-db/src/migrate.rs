//! The schema's versioned migrations. Each daemon applies the missing ones at start (and
//! `pxe-db migrate` does for operators who migrate by hand), in one transaction under an
//! advisory lock, so that several daemons starting at once apply each step once; a database
//! whose version is newer than the binary's is refused, never written to.

use postgres::Client;

use crate::DbError;

/// One step of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version (1, 2, …: the schema's version once it is applied).
    pub version: i32,
    /// What it makes.
    pub name: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

/// Every step, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "dhcp leases and OMAPI records",
        sql: include_str!("../migrations/0001_dhcp_leases.sql"),
    },
    Migration {
        version: 2,
        name: "lease writes announced to the other servers",
        sql: include_str!("../migrations/0002_dhcp_lease_notify.sql"),
    },
    Migration {
        version: 3,
        name: "install state, boot timelines and acknowledged addresses",
        sql: include_str!("../migrations/0003_install_state.sql"),
    },
    Migration {
        version: 4,
        name: "the callback tokens' key, shared by every daemon; timeline entries announced",
        sql: include_str!("../migrations/0004_token_secret.sql"),
    },
    Migration {
        version: 5,
        name: "the addresses dhcpd -6 bound, beside the IPv4 ones",
        sql: include_str!("../migrations/0005_acked6.sql"),
    },
];

/// The newest version this binary knows.
pub fn newest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The advisory lock the migrations run under (any number; "pxe" in ASCII).
const LOCK: i64 = 0x0070_7865;

const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS pxe_schema (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL
)";

/// Where a database stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The versions applied, in order, with their names and when.
    pub applied: Vec<(i32, String, String)>,
    /// The newest version this binary knows.
    pub binary: i32,
}

impl SchemaStatus {
    /// The database's version (0: nothing applied).
    pub fn version(&self) -> i32 {
        self.applied.last().map_or(0, |a| a.0)
    }

    /// The steps this binary would apply.
    pub fn pending(&self) -> Vec<&'static Migration> {
        MIGRATIONS
            .iter()
            .filter(|m| m.version > self.version())
            .collect()
    }
}

/// The database's schema version and history (nothing is written).
pub fn status(client: &mut Client) -> Result<SchemaStatus, DbError> {
    let exists = client
        .query_one("SELECT to_regclass('pxe_schema') IS NOT NULL", &[])
        .map_err(DbError::pg("reading the schema version"))?;
    let mut applied = Vec::new();
    if exists.get::<_, bool>(0) {
        let rows = client
            .query(
                "SELECT version, name, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 FROM pxe_schema ORDER BY version",
                &[],
            )
            .map_err(DbError::pg("reading the schema version"))?;
        applied = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
    }
    Ok(SchemaStatus {
        applied,
        binary: newest(),
    })
}

/// Apply the missing steps (by `who`, recorded with each): returns the versions applied now
/// (none when the schema was current). Refused when the database is newer than the binary.
pub fn migrate(client: &mut Client, who: &str) -> Result<Vec<i32>, DbError> {
    let mut tx = client
        .transaction()
        .map_err(DbError::pg("starting the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .map_err(DbError::pg("locking the schema"))?;
    tx.batch_execute(SCHEMA_TABLE)
        .map_err(DbError::pg("making the schema table"))?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM pxe_schema", &[])
        .map_err(DbError::pg("reading the schema version"))?
        .get(0);
    if current > newest() {
        return Err(DbError::TooNew {
            database: current,
            binary: newest(),
        });
    }
    let mut done = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.sql)
            .map_err(DbError::pg("applying a migration"))?;
        tx.execute(
            "INSERT INTO pxe_schema (version, name, applied_by) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &who],
        )
        .map_err(DbError::pg("recording a migration"))?;
        done.push(m.version);
    }
    tx.commit()
        .map_err(DbError::pg("committing the migration"))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
            assert!(!m.sql.trim().is_empty());
        }
    }
}
