//! pxe-suite's shared PostgreSQL database, the backend that lets several dhcpd, tftpd and
//! httpd-tree hosts share one truth (the file backends stay the embedded default).
//!
//! - [`url`]: how every daemon names the database (`--database URL` or `PXE_DATABASE_URL`),
//!   parsed as libpq takes it (`postgresql://` URLs or `key=value` strings, passwords, the
//!   `sslmode` family with `sslrootcert`), and the connection it opens (synchronous commit on).
//! - [`migrate`]: the schema's versioned migrations, applied by the daemons at start under an
//!   advisory lock (so that several starting at once apply each step once), refused when the
//!   database is newer than the binary.
//! - [`scratch`]: a throwaway PostgreSQL server (`initdb` into a temporary directory,
//!   `pg_ctl` on a private socket) for tests and benchmarks.

pub mod cli;
pub mod import_state;
pub mod manual;
pub mod migrate;
pub mod scratch;
pub mod state;
pub mod state_watch;
pub mod url;

pub use migrate::{SchemaStatus, migrate, status};
pub use url::{DatabaseUrl, ENV};

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL or connection string does not parse.
    #[error("database URL: {0}")]
    Url(String),
    /// TLS could not be set up (a CA file that does not load, for example).
    #[error("database TLS: {0}")]
    Tls(String),
    /// The server refused or failed a request, or could not be reached.
    #[error("database {what}: {source}")]
    Postgres {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: postgres::Error,
    },
    /// The schema in the database is newer than this binary knows.
    #[error(
        "the database's schema is version {database}, newer than this binary's {binary}: upgrade the binary (or point it at another database)"
    )]
    TooNew {
        /// The database's version.
        database: i32,
        /// The newest version this binary knows.
        binary: i32,
    },
    /// Install state could not be read or written.
    #[error("{0}")]
    State(String),
}

impl DbError {
    /// A `Postgres` error doing `what`.
    pub fn pg(what: &'static str) -> impl FnOnce(postgres::Error) -> DbError {
        move |source| DbError::Postgres { what, source }
    }
}
