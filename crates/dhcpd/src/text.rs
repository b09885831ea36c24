//! Text of addresses and bytes for log lines, written without `core::fmt`: these run for
//! every packet, and formatting through `format!` cost a few per cent of a DORA's CPU (a
//! `format!` a byte for a client identifier). The text is the same as `Display` and
//! `{:02x}` give; the tests compare them.

use std::net::Ipv4Addr;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`, two digits each, nothing between (as `{:02x}` a byte).
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// `ip` in dotted decimal, as its `Display` writes it.
pub fn dotted(ip: Ipv4Addr) -> String {
    let mut s = String::with_capacity(15);
    for (i, b) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if b >= 100 {
            s.push(char::from(b'0' + b / 100));
        }
        if b >= 10 {
            s.push(char::from(b'0' + b / 10 % 10));
        }
        s.push(char::from(b'0' + b % 10));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_is_display_for_every_octet_value() {
        for b in 0..=255u8 {
            for ip in [
                Ipv4Addr::new(b, 0, 0, 0),
                Ipv4Addr::new(1, b, 10, 100),
                Ipv4Addr::new(255, 9, b, 99),
                Ipv4Addr::new(0, 200, 7, b),
            ] {
                assert_eq!(dotted(ip), ip.to_string());
            }
        }
    }

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        let all: Vec<u8> = (0..=255u8).collect();
        let want: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), want);
        assert_eq!(hex(&[]), "");
    }
}
