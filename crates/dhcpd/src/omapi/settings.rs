//! What dhcpd.conf says about OMAPI: `omapi-port`, `omapi-key` and the `key` block the latter
//! names, read from the global scope as ISC does.

use super::sign::{Algorithm, Key, decode_secret};
use crate::conf::ast;

/// The OMAPI listener's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmapiSettings {
    /// `omapi-port`.
    pub port: u16,
    /// The key of `omapi-key`, when set: then every request must be signed with it.
    pub key: Option<Key>,
}

/// Why the OMAPI settings cannot be used (ISC refuses to start on these too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// `omapi-key` names no `key` block.
    #[error("{0}: not found")]
    UnknownKey(String),
    /// The key's algorithm is not an HMAC ISC supports.
    #[error("{name}: unsupported algorithm {algorithm:?}")]
    Algorithm {
        /// The key.
        name: String,
        /// What it says.
        algorithm: String,
    },
    /// The key has no valid base64 secret.
    #[error("{0}: missing or invalid secret")]
    Secret(String),
}

/// The last value of a global `option server.NAME` statement.
fn global_option<'a>(root: &'a ast::Scope, want: &str) -> Option<&'a ast::Atom> {
    root.items.iter().rev().find_map(|item| match item {
        ast::Item::Stmt(
            _,
            ast::Stmt::Option {
                space,
                name,
                value: ast::OptionValue::Atoms(atoms),
                ..
            },
        ) if space == "server" && name == want => atoms.first(),
        _ => None,
    })
}

/// The OMAPI settings of a configuration: `None` without `omapi-port`.
pub fn omapi_settings(cfg: &ast::Config) -> Result<Option<OmapiSettings>, SettingsError> {
    let Some(ast::Atom::Int { value, .. }) = global_option(&cfg.root, "omapi-port") else {
        return Ok(None);
    };
    let port = u16::try_from(*value).unwrap_or(0);
    let key = match global_option(&cfg.root, "omapi-key") {
        Some(ast::Atom::Key(name)) => Some(key(cfg, name)?),
        _ => None,
    };
    Ok(Some(OmapiSettings { port, key }))
}

/// The `key` block named `name` (the last one of that name), as an HMAC key.
pub fn key(cfg: &ast::Config, name: &str) -> Result<Key, SettingsError> {
    let want = name.trim_end_matches('.');
    let k = cfg
        .keys
        .iter()
        .rev()
        .find(|k| k.name.eq_ignore_ascii_case(want))
        .ok_or_else(|| SettingsError::UnknownKey(name.to_string()))?;
    let alg_text = k.algorithm.clone().unwrap_or_default();
    let algorithm = Algorithm::from_name(&alg_text).ok_or_else(|| SettingsError::Algorithm {
        name: k.name.clone(),
        algorithm: alg_text,
    })?;
    let secret = k
        .secret
        .as_deref()
        .and_then(decode_secret)
        .ok_or_else(|| SettingsError::Secret(k.name.clone()))?;
    Ok(Key {
        name: k.name.clone(),
        algorithm,
        secret,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    fn parse(text: &str) -> ast::Config {
        let loaded = crate::conf::parse_str(
            "t.conf",
            text.as_bytes(),
            crate::conf::ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        assert!(loaded.is_ok(), "{text}");
        loaded.config
    }

    #[test]
    fn foreman_and_maas_keys() {
        // Foreman's installer writes the algorithm and a quoted secret; MAAS the long name
        // and an unquoted one, with BIND 8's trailing `;`.
        let cfg = parse(
            "key omapi_key { algorithm HMAC-MD5; secret \"c2VjcmV0\"; }\n\
             key \"maas\" { algorithm HMAC-MD5.SIG-ALG.REG.INT.; secret c2VjcmV0+/8=; };\n\
             omapi-port 7911;\nomapi-key maas;\n",
        );
        let s = omapi_settings(&cfg).unwrap().unwrap();
        assert_eq!(s.port, 7911);
        let k = s.key.unwrap();
        assert_eq!(k.name, "maas");
        assert_eq!(k.algorithm, Algorithm::Md5);
        assert_eq!(k.secret, b"secret\xfb\xff".to_vec());
        let k = key(&cfg, "omapi_key").unwrap();
        assert_eq!(k.secret, b"secret".to_vec());
    }

    #[test]
    fn without_port_or_key() {
        assert_eq!(omapi_settings(&parse("omapi-key k;\n")).unwrap(), None);
        let s = omapi_settings(&parse("omapi-port 9991;\n"))
            .unwrap()
            .unwrap();
        assert_eq!((s.port, s.key), (9991, None));
        assert_eq!(
            omapi_settings(&parse("omapi-port 7911;\nomapi-key nokey;\n")),
            Err(SettingsError::UnknownKey("nokey".into()))
        );
        let bad = parse(
            "key k { algorithm hmac-md4; secret \"c2VjcmV0\"; }\nomapi-port 1;\nomapi-key k;\n",
        );
        assert!(matches!(
            omapi_settings(&bad),
            Err(SettingsError::Algorithm { .. })
        ));
    }
}
