//! OMAPI authenticators: the `key` blocks of dhcpd.conf as HMAC keys, signing outgoing
//! messages and checking incoming signatures in constant time.
//!
//! ISC names the algorithms as DNS TSIG does (`HMAC-MD5.SIG-ALG.REG.INT.`, `hmac-sha256`…),
//! compares them without regard to case, and sends a signature as long as the digest.

use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

/// An HMAC algorithm ISC dhcpd 4.4 accepts for OMAPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-MD5 (what omshell, Foreman and MAAS use).
    Md5,
    /// HMAC-SHA1.
    Sha1,
    /// HMAC-SHA224.
    Sha224,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA384.
    Sha384,
    /// HMAC-SHA512.
    Sha512,
}

impl Algorithm {
    /// The algorithm a `key` block or an authenticator object names (`hmac-md5`, with or
    /// without ISC's `.SIG-ALG.REG.INT` suffix and final dot, any case).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        let n = name.trim_end_matches('.').to_ascii_lowercase();
        let n = n.strip_suffix(".sig-alg.reg.int").unwrap_or(&n);
        Some(match n {
            "hmac-md5" => Algorithm::Md5,
            "hmac-sha1" => Algorithm::Sha1,
            "hmac-sha224" => Algorithm::Sha224,
            "hmac-sha256" => Algorithm::Sha256,
            "hmac-sha384" => Algorithm::Sha384,
            "hmac-sha512" => Algorithm::Sha512,
            _ => return None,
        })
    }

    /// The name ISC gives it on the wire.
    pub fn wire_name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "HMAC-MD5.SIG-ALG.REG.INT.",
            Algorithm::Sha1 => "HMAC-SHA1.SIG-ALG.REG.INT.",
            Algorithm::Sha224 => "HMAC-SHA224.SIG-ALG.REG.INT.",
            Algorithm::Sha256 => "HMAC-SHA256.SIG-ALG.REG.INT.",
            Algorithm::Sha384 => "HMAC-SHA384.SIG-ALG.REG.INT.",
            Algorithm::Sha512 => "HMAC-SHA512.SIG-ALG.REG.INT.",
        }
    }

    /// Bytes of its signatures.
    pub fn sig_len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha224 => 28,
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }
}

/// A key: its name (as the `key` block and the client name it), algorithm and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// The `key` block's name.
    pub name: String,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The decoded secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn mac<M: Mac + KeyInit>(secret: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so this cannot fail.
    match <M as KeyInit>::new_from_slice(secret) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl Key {
    /// The signature of `data` (the bytes from `authlen` up to the signature).
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let s = &self.secret;
        match self.algorithm {
            Algorithm::Md5 => mac::<Hmac<md5::Md5>>(s, data),
            Algorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(s, data),
            Algorithm::Sha224 => mac::<Hmac<sha2::Sha224>>(s, data),
            Algorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(s, data),
            Algorithm::Sha384 => mac::<Hmac<sha2::Sha384>>(s, data),
            Algorithm::Sha512 => mac::<Hmac<sha2::Sha512>>(s, data),
        }
    }

    /// Whether `signature` is this key's over `data`, in time independent of where they
    /// differ.
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> bool {
        let want = self.sign(data);
        want.len() == signature.len() && bool::from(want.ct_eq(signature))
    }
}

/// Decode a `secret` of a `key` block (base64).
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// RFC 2104's and RFC 4231's test vectors: the right functions are wired in.
    #[test]
    fn rfc_vectors() {
        let k = |a| Key {
            name: "k".into(),
            algorithm: a,
            secret: b"Jefe".to_vec(),
        };
        let data = b"what do ya want for nothing?";
        assert_eq!(
            hex(&k(Algorithm::Md5).sign(data)),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex(&k(Algorithm::Sha1).sign(data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex(&k(Algorithm::Sha256).sign(data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        for a in [
            Algorithm::Md5,
            Algorithm::Sha1,
            Algorithm::Sha224,
            Algorithm::Sha256,
            Algorithm::Sha384,
            Algorithm::Sha512,
        ] {
            assert_eq!(k(a).sign(data).len(), a.sig_len());
            assert_eq!(Algorithm::from_name(a.wire_name()), Some(a));
        }
    }

    #[test]
    fn verify_refuses_changed_bytes() {
        let k = Key {
            name: "omapi_key".into(),
            algorithm: Algorithm::Md5,
            secret: b"secret".to_vec(),
        };
        let sig = k.sign(b"message");
        assert!(k.verify(b"message", &sig));
        assert!(!k.verify(b"messagf", &sig));
        assert!(!k.verify(b"message", &sig[..15]));
        let other = Key {
            secret: b"secreu".to_vec(),
            ..k.clone()
        };
        assert!(!other.verify(b"message", &sig));
    }

    #[test]
    fn names() {
        assert_eq!(Algorithm::from_name("hmac-md5"), Some(Algorithm::Md5));
        assert_eq!(
            Algorithm::from_name("HMAC-MD5.SIG-ALG.REG.INT"),
            Some(Algorithm::Md5)
        );
        assert_eq!(Algorithm::from_name("hmac-sha512"), Some(Algorithm::Sha512));
        assert_eq!(Algorithm::from_name("hmac-md4"), None);
        assert_eq!(decode_secret("c2VjcmV0"), Some(b"secret".to_vec()));
        assert_eq!(decode_secret("%%"), None);
    }
}
