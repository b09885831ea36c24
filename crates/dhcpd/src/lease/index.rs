//! The keys and values of the lease table's client indexes, sized for tables of tens of
//! thousands of leases (issue 17): a client's bytes inline when short, and its addresses
//! inline when it has one (nearly every client), a set only beyond.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::Hardware;

/// Longest key kept inline: a hardware type and address (ISC: at most 16 bytes) or a client
/// identifier of type and MAC (7 bytes) fit with room to spare.
const INLINE: usize = 22;

/// A client's identifying bytes as an index key: its client identifier, or its hardware
/// type followed by its hardware address. 24 bytes, with no allocation up to [`INLINE`]
/// bytes. Equal bytes always make the same variant, so the derived `Eq` and `Hash` agree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ClientBytes {
    Short { len: u8, bytes: [u8; INLINE] },
    Long(Box<[u8]>),
}

impl ClientBytes {
    pub(super) fn new(b: &[u8]) -> ClientBytes {
        match u8::try_from(b.len()) {
            Ok(len) if b.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..b.len()].copy_from_slice(b);
                ClientBytes::Short { len, bytes }
            }
            _ => ClientBytes::Long(b.into()),
        }
    }

    /// The key of a hardware address: its type, then its bytes.
    pub(super) fn hardware(hw: &Hardware) -> ClientBytes {
        let mut b = Vec::with_capacity(1 + hw.addr.len());
        b.push(hw.htype);
        b.extend_from_slice(&hw.addr);
        ClientBytes::new(&b)
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
    /// per lease. A change that makes them larger (a `Vec` key, a set per client) puts
    /// tens of bytes back on every lease.
    #[test]
    fn index_entries_stay_small() {
        assert!(
            size_of::<ClientBytes>() <= 24,
            "{}",
            size_of::<ClientBytes>()
        );
        assert!(size_of::<Addresses>() <= 16, "{}", size_of::<Addresses>());
    }

    #[test]
    fn keys_equal_by_bytes_only() {
        let short = ClientBytes::new(&[1, 0x52, 0x54, 0, 1, 2, 3]);
        assert_eq!(short, ClientBytes::new(&[1, 0x52, 0x54, 0, 1, 2, 3]));
        assert_ne!(short, ClientBytes::new(&[1, 0x52, 0x54, 0, 1, 2, 3, 0]));
        assert!(matches!(short, ClientBytes::Short { .. }));
        let long = [7u8; 40];
        assert_eq!(ClientBytes::new(&long), ClientBytes::Long(long.into()));
        assert_ne!(ClientBytes::new(&long[..22]), ClientBytes::new(&long[..23]));
        let hw = Hardware::ethernet([0x52, 0x54, 0, 1, 2, 3]);
        assert_eq!(
            ClientBytes::hardware(&hw),
            ClientBytes::new(&[1, 0x52, 0x54, 0, 1, 2, 3])
        );
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
