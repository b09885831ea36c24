//! Per-machine callback tokens: HMAC-SHA256 of the machine name and its install
//! generation under a secret kept in the state directory. A token proves the caller got
//! that machine's answer file of that install; it changes nothing for any other machine,
//! and a reinstall (a new generation) makes every earlier token stale.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The key behind every machine token.
#[derive(Clone)]
pub struct Secret(pub(crate) Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn from_bytes(bytes: &[u8]) -> Secret {
        Secret(bytes.to_vec())
    }

    /// The key itself: only for copying it to another store (`pxe-db import-state`).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The keyed MAC of `machine`'s token for install `generation`, before truncation.
fn token_mac(secret: &Secret, machine: &str, generation: u64) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length; `None` cannot happen.
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).ok()?;
    mac.update(b"pxe-suite installed callback v2\0");
    mac.update(machine.as_bytes());
    // The name cannot hold a NUL, so name and generation cannot be confused.
    mac.update(b"\0");
    mac.update(&generation.to_be_bytes());
    Some(mac)
}

/// Bytes of the token: the MAC's first 16.
const TOKEN_BYTES: usize = 16;

/// The token a machine's answer file for install `generation` carries: 32 hex digits.
pub fn machine_token(secret: &Secret, machine: &str, generation: u64) -> String {
    let Some(mac) = token_mac(secret, machine, generation) else {
        return String::new();
    };
    let out = mac.finalize().into_bytes();
    out.iter()
        .take(TOKEN_BYTES)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `text` has a token's form (32 hex digits), whatever it is the token of.
pub fn token_shaped(text: &str) -> bool {
    token_bytes(text).is_some()
}

/// 32 hex digits as 16 bytes; anything else is `None`.
fn token_bytes(text: &str) -> Option<Vec<u8>> {
    if text.len() != TOKEN_BYTES * 2 {
        return None;
    }
    (0..TOKEN_BYTES)
        .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Whether `presented` is `machine`'s token for install `generation`, compared in
/// constant time (the MAC crate's `verify`).
pub fn token_matches(secret: &Secret, machine: &str, generation: u64, presented: &str) -> bool {
    let (Some(mac), Some(bytes)) = (
        token_mac(secret, machine, generation),
        token_bytes(presented),
    ) else {
        return false;
    };
    mac.verify_truncated_left(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_machine_and_secret() {
        let s1 = Secret::from_bytes(b"one");
        let s2 = Secret::from_bytes(b"two");
        let a = machine_token(&s1, "web01", 0);
        assert_eq!(a.len(), 32);
        assert!(token_shaped(&a));
        assert_ne!(a, machine_token(&s1, "web02", 0));
        assert_ne!(a, machine_token(&s2, "web01", 0));
        assert!(token_matches(&s1, "web01", 0, &a));
        assert!(!token_matches(&s1, "web02", 0, &a));
        assert!(!token_matches(&s1, "web01", 0, ""));
        assert!(!token_shaped(""));
        assert!(!token_matches(
            &s1,
            "web01",
            0,
            &format!("g{}", a.get(1..).unwrap_or_default())
        ));
        assert!(!token_matches(
            &s1,
            "web01",
            0,
            &format!("é{}", a.get(2..).unwrap_or_default())
        ));
        assert!(
            token_matches(&s1, "web01", 0, &a.to_uppercase()),
            "hex digits in either case"
        );
    }

    #[test]
    fn each_generation_has_its_own_token() {
        let s = Secret::from_bytes(&[9u8; 32]);
        let g0 = machine_token(&s, "web01", 0);
        let g1 = machine_token(&s, "web01", 1);
        assert_ne!(g0, g1);
        assert!(token_matches(&s, "web01", 1, &g1));
        assert!(
            !token_matches(&s, "web01", 1, &g0),
            "stale after a reinstall"
        );
        assert!(!token_matches(&s, "web01", 0, &g1));
        // Name and generation cannot be traded against each other.
        assert_ne!(machine_token(&s, "web0", 1), machine_token(&s, "web01", 0));
    }
}
