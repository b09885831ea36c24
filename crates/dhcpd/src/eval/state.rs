//! The option state a packet's scopes build up (ISC's `option_state`): values by space and
//! code, remembering the order ISC's hash table would list them in, since a reply to a client
//! without a parameter request list carries options in that order.

use std::collections::HashMap;

use crate::model::{SERVER, SpaceId};

/// The server parameters the core reads by code (space `server`, ISC's `SV_*` in `dhcpd.h`),
/// named as in `dhcpd.conf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Sv {
    /// `default-lease-time`.
    DefaultLeaseTime = 1,
    /// `max-lease-time`.
    MaxLeaseTime = 2,
    /// `min-lease-time`.
    MinLeaseTime = 3,
    /// `dynamic-bootp-lease-cutoff`.
    DynamicBootpLeaseCutoff = 4,
    /// `dynamic-bootp-lease-length`.
    DynamicBootpLeaseLength = 5,
    /// `boot-unknown-clients` (`allow`/`deny`/`ignore unknown-clients`).
    BootUnknownClients = 6,
    /// `allow-bootp` (`allow`/`deny`/`ignore bootp`).
    AllowBootp = 8,
    /// `allow-booting` (`allow`/`deny`/`ignore booting`).
    AllowBooting = 9,
    /// `one-lease-per-client`.
    OneLeasePerClient = 10,
    /// `get-lease-hostnames`.
    GetLeaseHostnames = 11,
    /// `use-host-decl-names`.
    UseHostDeclNames = 12,
    /// `use-lease-addr-for-default-route`.
    UseLeaseAddrForDefaultRoute = 13,
    /// `min-secs`.
    MinSecs = 14,
    /// `filename`.
    Filename = 15,
    /// `server-name`.
    ServerName = 16,
    /// `next-server`.
    NextServer = 17,
    /// `vendor-option-space`.
    VendorOptionSpace = 19,
    /// `always-reply-rfc1048`.
    AlwaysReplyRfc1048 = 20,
    /// `site-option-space`.
    SiteOptionSpace = 21,
    /// `always-broadcast`.
    AlwaysBroadcast = 22,
    /// `declines` (`allow`/`deny`/`ignore declines`).
    Declines = 29,
    /// `stash-agent-options`.
    StashAgentOptions = 37,
    /// `dhcp-cache-threshold`.
    CacheThreshold = 78,
    /// `ignore-client-uids`.
    IgnoreClientUids = 82,
    /// `echo-client-id`.
    EchoClientId = 85,
    /// `abandon-lease-time`.
    AbandonLeaseTime = 89,
    /// `ping-check`.
    PingCheck = 42,
    /// `ping-timeout` (seconds).
    PingTimeout = 46,
    /// `ping-cltt-secs`.
    PingClttSecs = 99,
    /// `ping-timeout-ms`.
    PingTimeoutMs = 100,
}

impl From<Sv> for u32 {
    fn from(p: Sv) -> u32 {
        p as u32
    }
}

/// The value `ignore` gives an access parameter (`allow` is 1, `deny` 0): denied, without a
/// log line.
pub const IGNORE: u8 = 2;

/// ISC's option hash: 17 buckets, bucket of a code as `compute_option_hash`.
pub const HASH_SIZE: u32 = 17;

/// The bucket ISC's option hash puts `code` in.
pub fn bucket(code: u32) -> u32 {
    ((code & 31) + ((code >> 5) & 31)) % HASH_SIZE
}

#[derive(Debug, Clone)]
struct Slot {
    data: Vec<u8>,
    /// When the option first entered the table (a replacement keeps its place).
    seq: u64,
}

/// Option values by (space, code).
#[derive(Debug, Clone, Default)]
pub struct OptionState {
    map: HashMap<(SpaceId, u32), Slot>,
    seq: u64,
}

impl OptionState {
    /// An empty state.
    pub fn new() -> OptionState {
        OptionState::default()
    }

    /// The value of an option.
    pub fn get(&self, space: SpaceId, code: impl Into<u32>) -> Option<&[u8]> {
        self.map
            .get(&(space, code.into()))
            .map(|s| s.data.as_slice())
    }

    /// Is an option set?
    pub fn has(&self, space: SpaceId, code: impl Into<u32>) -> bool {
        self.map.contains_key(&(space, code.into()))
    }

    /// Set (or replace, keeping its place) an option.
    pub fn set(&mut self, space: SpaceId, code: impl Into<u32>, data: Vec<u8>) {
        let code = code.into();
        if let Some(slot) = self.map.get_mut(&(space, code)) {
            slot.data = data;
            return;
        }
        self.seq += 1;
        self.map.insert(
            (space, code),
            Slot {
                data,
                seq: self.seq,
            },
        );
    }

    /// Remove an option.
    pub fn remove(&mut self, space: SpaceId, code: impl Into<u32>) {
        self.map.remove(&(space, code.into()));
    }

    /// A server parameter as ISC's `evaluate_boolean_option_cache` reads it: first byte
    /// non-zero (and not `ignore`). `None` when not set.
    pub fn flag(&self, param: Sv) -> Option<bool> {
        self.get(SERVER, param)
            .map(|d| d.first().is_some_and(|b| *b != 0 && *b != IGNORE))
    }

    /// An access parameter (`allow`/`deny`/`ignore`) is `ignore`: denied without a log line.
    pub fn ignored(&self, param: Sv) -> bool {
        self.get(SERVER, param).and_then(|d| d.first().copied()) == Some(IGNORE)
    }

    /// A four-byte parameter (lease times).
    pub fn u32(&self, space: SpaceId, code: impl Into<u32>) -> Option<u32> {
        let d = self.get(space, code)?;
        let b: [u8; 4] = d.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// The codes set in `space`, in ISC's hash-table walk order: by bucket, and within a
    /// bucket the most recently added first.
    pub fn hash_order(&self, space: SpaceId) -> Vec<u32> {
        let mut v: Vec<(u32, u64, u32)> = self
            .map
            .iter()
            .filter(|((s, _), _)| *s == space)
            .map(|((_, c), slot)| (bucket(*c), slot.seq, *c))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        v.into_iter().map(|(_, _, c)| c).collect()
    }

    /// Does the state hold any option of `space`?
    pub fn any_in(&self, space: SpaceId) -> bool {
        self.map.keys().any(|(s, _)| *s == space)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DHCP;

    #[test]
    fn iscs_hash_walk_order() {
        // Observed from ISC 4.4.3 without a PRL: after 1, 3, 6 come 28 then 15.
        let mut s = OptionState::new();
        for c in [1u32, 3, 6, 15, 28] {
            s.set(DHCP, c, vec![0]);
        }
        assert_eq!(s.hash_order(DHCP), vec![1, 3, 6, 28, 15]);
        assert_eq!(bucket(28), 11);
        // Same bucket: the later one first; replacing keeps the place.
        let mut s = OptionState::new();
        s.set(DHCP, 2u32, vec![0]);
        s.set(DHCP, 19u32, vec![0]);
        assert_eq!(bucket(19), 2);
        assert_eq!(s.hash_order(DHCP), vec![19, 2]);
        s.set(DHCP, 2u32, vec![1]);
        assert_eq!(s.hash_order(DHCP), vec![19, 2]);
        assert_eq!(s.get(DHCP, 2u32), Some(&[1u8][..]));
    }

    #[test]
    fn flags_and_numbers() {
        let mut s = OptionState::new();
        s.set(SERVER, Sv::BootUnknownClients, vec![0]);
        s.set(SERVER, Sv::AllowBooting, vec![IGNORE]);
        s.set(SERVER, Sv::DefaultLeaseTime, 600u32.to_be_bytes().to_vec());
        assert_eq!(s.flag(Sv::BootUnknownClients), Some(false));
        assert!(!s.ignored(Sv::BootUnknownClients));
        assert_eq!(s.flag(Sv::AllowBooting), Some(false), "ignore is not allow");
        assert!(s.ignored(Sv::AllowBooting));
        assert_eq!(s.flag(Sv::AllowBootp), None);
        assert_eq!(s.u32(SERVER, Sv::DefaultLeaseTime), Some(600));
    }
}
