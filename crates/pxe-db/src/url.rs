//! How a daemon names its database: `--database URL` or `PXE_DATABASE_URL`, a libpq
//! connection URL (`postgresql://user:password@host:port/dbname?param=value`) or a libpq
//! `key=value` string. What libpq does and the PostgreSQL client crate does not is done here:
//! `sslmode` `verify-ca` and `verify-full` with `sslrootcert` (the crate knows only `disable`,
//! `prefer` and `require`), and the password from `PGPASSWORD` when the URL has none.

use std::str::FromStr;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;

use crate::DbError;

/// The environment variable every daemon reads when `--database` is not given.
pub const ENV: &str = "PXE_DATABASE_URL";

/// How long a connection may take when the URL does not say (`connect_timeout`).
pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// libpq's `sslmode`, as far as it decides how the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// `disable`: no TLS.
    Disable,
    /// `allow` and `prefer` (libpq's default): TLS when the server offers it, unverified.
    Prefer,
    /// `require`: TLS or nothing; the certificate is verified against `sslrootcert` when one
    /// is given (as libpq does when a root certificate exists), not otherwise.
    Require,
    /// `verify-ca`: TLS, the chain checked against `sslrootcert` (or the system's roots).
    VerifyCa,
    /// `verify-full`: as `verify-ca`, and the host name must match the certificate.
    VerifyFull,
}

/// A parsed database URL.
#[derive(Clone)]
pub struct DatabaseUrl {
    config: postgres::Config,
    ssl_mode: SslMode,
    root_cert: Option<String>,
    shown: String,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// The URL with its password masked (for logs and `--help` output).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The value of `sslmode` and `sslrootcert` taken out of a URL's query or a key=value
/// string (the rest is left for the client crate).
fn take_tls_params(text: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    if text.contains("://") {
        let Some((base, query)) = text.split_once('?') else {
            return (text.to_string(), None, None);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("sslmode", v)) => mode = Some(v.to_string()),
                Some(("sslrootcert", v)) => root = Some(v.to_string()),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, mode, root);
    }
    let mut kept = Vec::new();
    for word in text.split_whitespace() {
        match word.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_string()),
            Some(("sslrootcert", v)) => root = Some(v.to_string()),
            _ => kept.push(word),
        }
    }
    (kept.join(" "), mode, root)
}

fn ssl_mode(word: Option<&str>) -> Result<SslMode, DbError> {
    Ok(match word.unwrap_or("prefer") {
        "disable" => SslMode::Disable,
        "allow" | "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            return Err(DbError::Url(format!(
                "sslmode {other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
            )));
        }
    })
}

/// The URL as logs may show it: any password replaced by `***`.
fn masked(text: &str) -> String {
    if let Some((scheme, rest)) = text.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    text.split_whitespace()
        .map(|w| {
            if w.starts_with("password=") {
                "password=***"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl FromStr for DatabaseUrl {
    type Err = DbError;

    fn from_str(text: &str) -> Result<DatabaseUrl, DbError> {
        let text = text.trim();
        if text.contains("://")
            && !(text.starts_with("postgresql://") || text.starts_with("postgres://"))
        {
            return Err(DbError::Url(format!(
                "{}: expected a postgresql:// URL or a libpq key=value string",
                masked(text)
            )));
        }
        let (rest, mode, root_cert) = take_tls_params(text);
        let ssl_mode = ssl_mode(mode.as_deref())?;
        let mut config = postgres::Config::from_str(&rest)
            .map_err(|e| DbError::Url(format!("{}: {e}", masked(text))))?;
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        if config.get_password().is_none()
            && let Ok(p) = std::env::var("PGPASSWORD")
        {
            config.password(p);
        }
        if config.get_application_name().is_none() {
            config.application_name("pxe-suite");
        }
        // libpq waits for ever by default; a daemon asking on its packet path must not.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        Ok(DatabaseUrl {
            config,
            ssl_mode,
            root_cert,
            shown: masked(text),
        })
    }
}

impl DatabaseUrl {
    /// The database a daemon uses: `--database` when given, else `PXE_DATABASE_URL` when
    /// set and not empty, else none (the file backends).
    pub fn from_arg_or_env(arg: Option<&str>) -> Result<Option<DatabaseUrl>, DbError> {
        let env = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty());
        arg.map(str::to_string)
            .or(env)
            .map(|t| t.parse())
            .transpose()
    }

    /// How certificates are checked.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The same URL naming `application_name` (shown in `pg_stat_activity`).
    pub fn for_application(mut self, name: &str) -> DatabaseUrl {
        self.config.application_name(name);
        self
    }

    fn tls(&self) -> Result<MakeTlsConnector, DbError> {
        let tls = |e: openssl::error::ErrorStack| DbError::Tls(e.to_string());
        let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(tls)?;
        let verify = match self.ssl_mode {
            SslMode::Disable | SslMode::Prefer => false,
            SslMode::Require => self.root_cert.is_some(),
            SslMode::VerifyCa | SslMode::VerifyFull => true,
        };
        if let Some(path) = &self.root_cert {
            b.set_ca_file(path)
                .map_err(|e| DbError::Tls(format!("sslrootcert {path}: {e}")))?;
        }
        b.set_verify(if verify {
            SslVerifyMode::PEER
        } else {
            SslVerifyMode::NONE
        });
        let mut connector = MakeTlsConnector::new(b.build());
        // Only verify-full checks the host name, as in libpq.
        let full = self.ssl_mode == SslMode::VerifyFull;
        connector.set_callback(move |c, _| {
            c.set_verify_hostname(full);
            Ok(())
        });
        Ok(connector)
    }

    /// Open a connection, with synchronous commit on (an acknowledged commit is on the
    /// primary's disk, and on a synchronous standby's when the operator has one).
    pub fn connect(&self) -> Result<postgres::Client, DbError> {
        let mut client = if self.ssl_mode == SslMode::Disable {
            self.config.connect(postgres::NoTls)
        } else {
            self.config.connect(self.tls()?)
        }
        .map_err(DbError::pg("connecting"))?;
        client
            .batch_execute("SET synchronous_commit = on")
            .map_err(DbError::pg("setting synchronous_commit"))?;
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_and_strings_as_libpq_takes_them() {
        let u: DatabaseUrl = "postgresql://pxe:s3cret@db.example:6543/leases?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3"
            .parse()
            .unwrap();
        assert_eq!(u.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(u.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(u.config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(u.config.get_dbname(), Some("leases"));
        assert_eq!(u.config.get_ports(), &[6543]);
        assert_eq!(
            u.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3)),
            "the URL's own timeout"
        );
        assert_eq!(
            u.to_string(),
            "postgresql://pxe:***@db.example:6543/leases?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3"
        );
        let k: DatabaseUrl = "host=/run/postgresql dbname=pxe user=pxe password=x sslmode=disable"
            .parse()
            .unwrap();
        assert_eq!(k.ssl_mode(), SslMode::Disable);
        assert_eq!(
            k.config.get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT),
            "never an endless wait"
        );
        assert_eq!(
            k.to_string(),
            "host=/run/postgresql dbname=pxe user=pxe password=*** sslmode=disable"
        );
        assert_eq!(
            "postgres://localhost/pxe"
                .parse::<DatabaseUrl>()
                .unwrap()
                .ssl_mode(),
            SslMode::Prefer
        );
    }

    #[test]
    fn bad_urls_say_what_was_expected() {
        let e = "mysql://x/y"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a postgresql:// URL"), "{e}");
        let e = "postgresql://x/y?sslmode=maybe"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("sslmode \"maybe\": expected disable"), "{e}");
        let e = "postgresql://u:pw@x:notaport/y"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("u:***@"), "the password is not shown: {e}");
        assert!(!e.contains("pw"), "{e}");
    }
}
