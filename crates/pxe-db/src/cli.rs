//! pxe-db's command line. Its definitions are also the manual page's ([`crate::manual`]).

use clap::{Parser, Subcommand};

/// pxe-suite's shared PostgreSQL database: show or apply the schema's migrations.
///
/// The database is named as the daemons name it: --database URL, or the PXE_DATABASE_URL
/// environment variable; a libpq URL (postgresql://user:password@host:port/dbname?sslmode=
/// verify-full&sslrootcert=/etc/ssl/ca.pem) or key=value string.
#[derive(Debug, Parser)]
#[command(name = "pxe-db", version, after_help = crate::manual::after_help())]
pub struct Cli {
    /// The database (else PXE_DATABASE_URL).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the schema version, the steps applied (with when) and those this binary would
    /// apply. Exits 0 when current, 3 when steps are pending, 4 when the database is newer
    /// than this binary.
    Status,
    /// Apply the missing steps (each once, even with daemons starting at the same time).
    Migrate,
    /// Copy a file state directory (the daemons' --state-dir) into the database: each
    /// machine's install state (unless the database has one already: the database's is
    /// kept and listed), its timeline and last acknowledged address, and the callback
    /// tokens' key (unless the database has one). Migrates the schema first.
    ImportState {
        /// The state directory.
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}
