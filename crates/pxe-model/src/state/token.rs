//! Per-machine callback tokens: HMAC-SHA256 of the machine name under a secret kept
//! in the state directory. A token proves the caller got that machine's answer file;
//! it changes nothing for any other machine.

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
}

/// The token a machine's answer file carries: 32 hex digits.
pub fn machine_token(secret: &Secret, machine: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&secret.0) else {
        // HMAC takes keys of any length; this branch cannot be reached.
        return String::new();
    };
    mac.update(b"pxe-suite installed callback\0");
    mac.update(machine.as_bytes());
    let out = mac.finalize().into_bytes();
    out.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Compares a presented token with the expected one in constant time.
pub fn token_matches(secret: &Secret, machine: &str, presented: &str) -> bool {
    let want = machine_token(secret, machine);
    if want.is_empty() || want.len() != presented.len() {
        return false;
    }
    want.bytes()
        .zip(presented.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_machine_and_secret() {
        let s1 = Secret::from_bytes(b"one");
        let s2 = Secret::from_bytes(b"two");
        let a = machine_token(&s1, "web01");
        assert_eq!(a.len(), 32);
        assert_ne!(a, machine_token(&s1, "web02"));
        assert_ne!(a, machine_token(&s2, "web01"));
        assert!(token_matches(&s1, "web01", &a));
        assert!(!token_matches(&s1, "web02", &a));
        assert!(!token_matches(&s1, "web01", ""));
    }
}
