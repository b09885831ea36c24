//! The lease table's client indexes, sized for tables of tens of thousands of leases
//! (issue 17): a 32-bit hash of the client's bytes as the key, and its address inline as
//! the value (8 bytes an entry), a set elsewhere only for a key with more than one.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::Ipv4Addr;

use super::Hardware;

/// How the client indexes key a client: a 32-bit hash of its hardware type and address, or
/// of its client identifier, instead of the bytes themselves. Bytes of two clients may hash
/// alike (among 65,000 clients about one pair does), so a lookup keeps only the leases that
/// are the client's; the hash's keys are random per table, so clients cannot choose to
/// collide.
#[derive(Debug, Clone, Default)]
pub(super) struct ClientKeys(RandomState);

impl ClientKeys {
    pub(super) fn hardware(&self, hw: &Hardware) -> u32 {
        fold(self.0.hash_one((hw.htype, hw.addr())))
    }

    pub(super) fn uid(&self, uid: &[u8]) -> u32 {
        fold(self.0.hash_one(uid))
    }
}

/// The 64 bits of a hash in 32.
fn fold(h: u64) -> u32 {
    let folded = h ^ (h >> 32);
    folded as u32
}

/// The [`Hasher`] of an index's map: the key already is a keyed hash of the client's bytes,
/// so it is used as it is (a second SipHash of every key on every lookup was a few per cent
/// of a DORA's CPU), spread over 64 bits so that the map's probing, which reads the top
/// bits, sees them vary.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u32` keys reach here (`write_u32`); anything else is folded in all the same.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The value in [`ClientIndex::one`] that sends a lookup to [`ClientIndex::many`].
const SEE_MANY: u32 = 0;

/// A client index: addresses by a key of [`ClientKeys`], ascending.
#[derive(Debug, Clone, Default)]
pub(super) struct ClientIndex {
    /// A key's one address, inline; [`SEE_MANY`] (0.0.0.0, which no lease of a range has)
    /// when its addresses are in `many`.
    one: HashMap<u32, u32, BuildHasherDefault<KeyIsHash>>,
    /// The keys with more than one address (a client with leases in two subnets, two
    /// clients whose bytes hash alike), or with the address 0.0.0.0.
    many: HashMap<u32, BTreeSet<Ipv4Addr>, BuildHasherDefault<KeyIsHash>>,
}

impl ClientIndex {
    pub(super) fn insert(&mut self, key: u32, ip: Ipv4Addr) {
        let bits = u32::from(ip);
        match self.one.get(&key).copied() {
            None if bits != SEE_MANY => {
                self.one.insert(key, bits);
            }
            None | Some(SEE_MANY) => {
                self.one.insert(key, SEE_MANY);
                self.many.entry(key).or_default().insert(ip);
            }
            Some(a) if a == bits => {}
            Some(a) => {
                self.one.insert(key, SEE_MANY);
                self.many
                    .insert(key, BTreeSet::from([Ipv4Addr::from(a), ip]));
            }
        }
    }

    pub(super) fn remove(&mut self, key: u32, ip: Ipv4Addr) {
        match self.one.get(&key).copied() {
            Some(SEE_MANY) => {
                let Some(set) = self.many.get_mut(&key) else {
                    self.one.remove(&key);
                    return;
                };
                set.remove(&ip);
                let last = set.first().copied().map(u32::from);
                match (set.len(), last) {
                    (0, _) => {
                        self.many.remove(&key);
                        self.one.remove(&key);
                    }
                    (1, Some(last)) if last != SEE_MANY => {
                        self.one.insert(key, last);
                        self.many.remove(&key);
                    }
                    _ => {}
                }
            }
            Some(a) if a == u32::from(ip) => {
                self.one.remove(&key);
            }
            _ => {}
        }
    }

    /// The addresses of `key`, ascending.
    pub(super) fn get(&self, key: u32) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let (one, many) = match self.one.get(&key).copied() {
            None => (None, None),
            Some(SEE_MANY) => (None, self.many.get(&key)),
            Some(a) => (Some(Ipv4Addr::from(a)), None),
        };
        one.into_iter()
            .chain(many.into_iter().flat_map(|set| set.iter().copied()))
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.one.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compact layout issue 17 asks for: an index holds an entry per client, two per
    /// lease. A change that makes them larger puts bytes back on every lease.
    #[test]
    fn index_entries_stay_small() {
        assert_eq!(size_of::<(u32, u32)>(), 8);
        let mut index = ClientIndex::default();
        for n in 0..1000u32 {
            index.insert(n, Ipv4Addr::from(0x0a00_0000 + n));
        }
        assert!(index.many.is_empty(), "one address a key stays inline");
        assert!(index.one.capacity() < 2048, "{}", index.one.capacity());
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
        let mut index = ClientIndex::default();
        let got = |index: &ClientIndex, k| index.get(k).collect::<Vec<_>>();
        assert!(index.is_empty());
        index.insert(7, ip(5));
        index.insert(7, ip(5));
        assert_eq!(got(&index, 7), [ip(5)]);
        assert!(index.many.is_empty());
        index.insert(7, ip(9));
        index.insert(7, ip(2));
        index.insert(8, ip(3));
        assert_eq!(got(&index, 7), [ip(2), ip(5), ip(9)]);
        assert_eq!(got(&index, 8), [ip(3)]);
        index.remove(7, ip(5));
        index.remove(7, ip(2));
        assert_eq!(got(&index, 7), [ip(9)]);
        assert!(index.many.is_empty(), "back inline");
        index.remove(7, ip(1));
        index.remove(8, ip(9));
        assert_eq!(got(&index, 7), [ip(9)]);
        index.remove(7, ip(9));
        index.remove(8, ip(3));
        assert!(index.is_empty());
        assert!(got(&index, 7).is_empty());
    }

    /// 0.0.0.0 is the inline marker, so a lease there (never one of a range, but a file may
    /// hold anything) is kept in the set, and found.
    #[test]
    fn the_zero_address_is_kept_apart() {
        let zero = Ipv4Addr::UNSPECIFIED;
        let mut index = ClientIndex::default();
        index.insert(1, zero);
        assert_eq!(index.get(1).collect::<Vec<_>>(), [zero]);
        index.insert(1, Ipv4Addr::new(10, 0, 0, 1));
        index.remove(1, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(index.get(1).collect::<Vec<_>>(), [zero]);
        index.remove(1, zero);
        assert!(index.is_empty() && index.many.is_empty());
    }
}
