//! The keys and values of the lease table's client indexes, sized for tables of tens of
//! thousands of leases (issue 17): a hash of the client's bytes, and its addresses inline
//! when it has one (nearly every client), a set only beyond.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::Ipv4Addr;

use super::Hardware;

/// How the client indexes key a client: a 64-bit hash of its hardware type and address, or of
/// its client identifier, 8 bytes inline instead of the bytes themselves. Bytes of two
/// clients may hash alike, so a lookup keeps only the leases that are the client's; the
/// hash's keys are random per table, so clients cannot choose to collide.
#[derive(Debug, Clone, Default)]
pub(super) struct ClientKeys(RandomState);

impl ClientKeys {
    pub(super) fn hardware(&self, hw: &Hardware) -> u64 {
        self.0.hash_one((hw.htype, hw.addr()))
    }

    pub(super) fn uid(&self, uid: &[u8]) -> u64 {
        self.0.hash_one(uid)
    }
}

/// A client index: addresses by a key of [`ClientKeys`]. The key already is a keyed hash of
/// the client's bytes, so the map takes it as its hash as it is instead of hashing it again
/// (a second SipHash of every key on every lookup was a few per cent of a DORA's CPU).
pub(super) type ClientIndex = HashMap<u64, Addresses, BuildHasherDefault<KeyIsHash>>;

/// The [`Hasher`] of a [`ClientIndex`]: its hash is the `u64` key itself.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys reach here (`write_u64`); anything else is folded in all the same.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The addresses of one client, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum Addresses {
    #[default]
    None,
    One(Ipv4Addr),
    /// Boxed: rare, and a set inline (24 bytes, no niche) would make every entry 32.
    #[allow(clippy::box_collection)]
    Many(Box<BTreeSet<Ipv4Addr>>),
}

impl Addresses {
    pub(super) fn insert(&mut self, ip: Ipv4Addr) {
        match self {
            Addresses::None => *self = Addresses::One(ip),
            Addresses::One(a) if *a == ip => {}
            Addresses::One(a) => *self = Addresses::Many(Box::new(BTreeSet::from([*a, ip]))),
            Addresses::Many(set) => {
                set.insert(ip);
            }
        }
    }

    pub(super) fn remove(&mut self, ip: Ipv4Addr) {
        match self {
            Addresses::One(a) if *a == ip => *self = Addresses::None,
            Addresses::Many(set) => {
                set.remove(&ip);
                if set.len() == 1
                    && let Some(&last) = set.first()
                {
                    *self = Addresses::One(last);
                }
            }
            _ => {}
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        *self == Addresses::None
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let (one, many) = match self {
            Addresses::None => (None, None),
            Addresses::One(a) => (Some(*a), None),
            Addresses::Many(set) => (None, Some(set.iter().copied())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compact layout issue 17 asks for: these sit in a hash table once per client, twice
    /// per lease, beside an 8-byte key. A change that makes them larger (a set per client)
    /// puts tens of bytes back on every lease.
    #[test]
    fn index_entries_stay_small() {
        assert!(size_of::<Addresses>() <= 16, "{}", size_of::<Addresses>());
    }

    #[test]
    fn keys_by_bytes_and_type() {
        let k = ClientKeys::default();
        let hw = Hardware::ethernet([0x52, 0x54, 0, 1, 2, 3]);
        assert_eq!(k.hardware(&hw), k.hardware(&hw.clone()));
        let token_ring = Hardware {
            htype: 6,
            ..hw.clone()
        };
        assert_ne!(k.hardware(&hw), k.hardware(&token_ring));
        assert_eq!(k.uid(&[1, 2, 3]), k.uid(&[1, 2, 3]));
        assert_ne!(k.uid(&[1, 2, 3]), k.uid(&[1, 2, 3, 0]));
    }

    #[test]
    fn addresses_one_then_many_then_one() {
        let ip = |n| Ipv4Addr::new(10, 0, 0, n);
        let mut a = Addresses::default();
        assert!(a.is_empty());
        a.insert(ip(5));
        a.insert(ip(5));
        assert_eq!(a, Addresses::One(ip(5)));
        a.insert(ip(2));
        a.insert(ip(9));
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![ip(2), ip(5), ip(9)]);
        a.remove(ip(5));
        a.remove(ip(2));
        assert_eq!(a, Addresses::One(ip(9)));
        a.remove(ip(1));
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![ip(9)]);
        a.remove(ip(9));
        assert!(a.is_empty());
    }
}
