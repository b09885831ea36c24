//! Secrets compared in constant time (`subtle`), so that the time a comparison takes does
//! not tell an attacker how many leading bytes of a guessed token were right.

use subtle::ConstantTimeEq as _;

/// Whether `presented` equals `expected`, in time that depends only on their lengths.
pub fn same(expected: &[u8], presented: &[u8]) -> bool {
    expected.len() == presented.len() && bool::from(expected.ct_eq(presented))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_every_byte_and_the_length_agree() {
        assert!(same(b"0123abcd", b"0123abcd"));
        assert!(!same(b"0123abcd", b"0123abce"));
        assert!(!same(b"0123abcd", b"0123abc"));
        assert!(!same(b"", b"x"));
        assert!(same(b"", b""));
    }
}
