//! The server's DUID (RFC 8415 §11): DUID-LLT from the interface's MAC address and the time,
//! made once and then kept in `dhcpd6.leases` (`server-duid`), as ISC does.

use crate::lease::Time;

/// Seconds from the Unix epoch to 2000-01-01 00:00:00 UTC, the DUID-LLT epoch.
const DUID_EPOCH: Time = 946_684_800;

/// DUID-LLT: type 1, hardware type 1 (Ethernet), time since 2000 (mod 2^32), the MAC.
pub fn llt(mac: [u8; 6], now: Time) -> Vec<u8> {
    let since = (now - DUID_EPOCH).rem_euclid(1 << 32);
    let since = u32::try_from(since).unwrap_or(0);
    let mut d = vec![0, 1, 0, 1];
    d.extend_from_slice(&since.to_be_bytes());
    d.extend_from_slice(&mac);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llt_layout() {
        // 2026-12-06 00:00:00 UTC is 1796515200.
        let d = llt([0x52, 0x54, 0, 0x77, 0, 0x70], 1_796_515_200);
        assert_eq!(&d[..4], &[0, 1, 0, 1]);
        let since = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
        assert_eq!(i64::from(since), 1_796_515_200 - DUID_EPOCH);
        assert_eq!(&d[8..], &[0x52, 0x54, 0, 0x77, 0, 0x70]);
    }
}
