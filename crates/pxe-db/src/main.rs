//! `pxe-db`: the schema of pxe-suite's shared database, for operators who migrate by hand
//! (the daemons also migrate at start).

use std::process::ExitCode;

use clap::Parser;
use pxe_db::cli::{Cli, Command};
use pxe_db::{DatabaseUrl, migrate, status};

fn run(cli: &Cli) -> Result<ExitCode, pxe_db::DbError> {
    let Some(url) = DatabaseUrl::from_arg_or_env(cli.database.as_deref())? else {
        return Err(pxe_db::DbError::Url(format!(
            "no database: give --database URL or set {}",
            pxe_db::ENV
        )));
    };
    let mut client = url.clone().for_application("pxe-db").connect()?;
    match cli.command {
        Command::Status => {
            let s = status(&mut client)?;
            println!(
                "schema version {} (this binary knows up to {})",
                s.version(),
                s.binary
            );
            for (v, name, when) in &s.applied {
                println!("  applied {v}: {name} ({when})");
            }
            if s.version() > s.binary {
                println!("the database is newer than this binary");
                return Ok(ExitCode::from(4));
            }
            let pending = s.pending();
            for m in &pending {
                println!("  pending {}: {}", m.version, m.name);
            }
            Ok(if pending.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Migrate => {
            let done = migrate(&mut client, "pxe-db")?;
            if done.is_empty() {
                println!("schema already current");
            }
            for v in done {
                println!("applied {v}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportState { ref dir } => {
            migrate(&mut client, "pxe-db")?;
            let store = pxe_db::state::PgStateStore::new(url.for_application("pxe-db"));
            let done = pxe_db::import_state::import_state(dir, &store)
                .map_err(|e| pxe_db::DbError::State(e.to_string()))?;
            println!(
                "imported {} machine states, {} timeline entries, {} acknowledged addresses from {}",
                done.states,
                done.events,
                done.acked,
                dir.display()
            );
            for name in &done.kept {
                println!("  kept the database's state of {name} (not imported)");
            }
            if done.key_adopted {
                println!("callback token key: the directory's (its tokens stay valid)");
            } else {
                println!(
                    "callback token key: the database already had another; tokens rendered from \
                     the directory are no longer accepted (machines installing now need a reinstall)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pxe-db: {e}");
            ExitCode::FAILURE
        }
    }
}
