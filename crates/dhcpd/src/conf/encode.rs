//! Encoding a configured option value to the bytes that go on the wire (the option's data,
//! without code and length). Pure: host names must have been resolved by the caller.

use super::ast::{Atom, OptionValue};

/// Why a value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A host name still needs a DNS lookup.
    #[error("host name `{0}` must be resolved before encoding")]
    Unresolved(String),
    /// The value is an expression, evaluated per packet.
    #[error("option value is an expression; evaluate it per packet")]
    Expression,
    /// A domain name label is longer than 63 bytes or empty in the middle.
    #[error("invalid domain name `{0}`")]
    BadDomain(String),
    /// An IPv6 literal did not parse.
    #[error("invalid IPv6 address `{0}`")]
    BadIp6(String),
}

/// Encode `value` (parsed from a configuration) to option data bytes.
pub fn encode(value: &OptionValue) -> Result<Vec<u8>, EncodeError> {
    let atoms = match value {
        OptionValue::Atoms(a) => a,
        OptionValue::Empty => return Ok(Vec::new()),
        OptionValue::Expr(_) => return Err(EncodeError::Expression),
    };
    let mut out = Vec::new();
    for a in atoms {
        encode_atom(a, &mut out)?;
    }
    Ok(out)
}

fn encode_atom(a: &Atom, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match a {
        Atom::Ip(ip) => out.extend_from_slice(&ip.octets()),
        Atom::HostName(n) => return Err(EncodeError::Unresolved(n.clone())),
        Atom::Ip6(s) => {
            let ip: std::net::Ipv6Addr = s.parse().map_err(|_| EncodeError::BadIp6(s.clone()))?;
            out.extend_from_slice(&ip.octets());
        }
        Atom::Int { value, bits, .. } => match bits {
            8 => out.push(*value as u8),
            16 => out.extend_from_slice(&(*value as u16).to_be_bytes()),
            _ => out.extend_from_slice(&(*value as u32).to_be_bytes()),
        },
        Atom::Time(t) => out.extend_from_slice(&t.to_be_bytes()),
        Atom::Bool(b) | Atom::Enum(_, b) => out.push(*b),
        Atom::Text(b) | Atom::Data(b) => out.extend_from_slice(b),
        Atom::Ident(s) | Atom::Key(s) => out.extend_from_slice(s.as_bytes()),
        Atom::DomainName(n) => encode_name(n, out)?,
        Atom::DomainList(names, compressed) => {
            if *compressed {
                encode_compressed(names, out)?;
            } else {
                for n in names {
                    encode_name(n, out)?;
                }
            }
        }
    }
    Ok(())
}

/// A list of names with RFC 1035 compression (RFC 3397 for option 119): a name whose tail was
/// written before ends in a pointer to it. Pointers are offsets into this option's data.
fn encode_compressed(names: &[String], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let base = out.len();
    // Earlier suffixes: their offset (in this option's data) and their labels, lower-cased.
    let mut seen: Vec<(usize, Vec<String>)> = Vec::new();
    for name in names {
        let trimmed = name.strip_suffix('.').unwrap_or(name);
        let labels: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('.').collect()
        };
        if labels.iter().any(|l| l.is_empty() || l.len() > 63) {
            return Err(EncodeError::BadDomain(name.clone()));
        }
        let lower: Vec<String> = labels.iter().map(|l| l.to_ascii_lowercase()).collect();
        let mut pointer = None;
        let mut k = 0;
        while k < lower.len() {
            if let Some((off, _)) = seen.iter().find(|(_, l)| l.as_slice() == &lower[k..]) {
                pointer = Some(*off);
                break;
            }
            k += 1;
        }
        for (i, label) in labels.iter().take(k).enumerate() {
            let off = out.len() - base;
            if off < 0x3fff {
                seen.push((off, lower[i..].to_vec()));
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        match pointer {
            Some(off) => {
                out.push(0xc0 | (off >> 8) as u8);
                out.push((off & 0xff) as u8);
            }
            None => out.push(0),
        }
    }
    Ok(())
}

fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(EncodeError::BadDomain(name.to_string()));
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{ParseOptions, ast::Item, ast::Stmt, parse_str};

    fn value_of(conf: &str) -> OptionValue {
        let loaded = parse_str("t", conf.as_bytes(), ParseOptions::default(), &|_| {
            Err(std::io::ErrorKind::NotFound.into())
        });
        assert!(loaded.is_ok(), "{:?}", loaded.output);
        loaded
            .config
            .root
            .items
            .iter()
            .rev()
            .find_map(|i| match i {
                Item::Stmt(_, Stmt::Option { value, .. }) => Some(value.clone()),
                _ => None,
            })
            .expect("an option statement")
    }

    #[test]
    fn ip_arrays() {
        assert_eq!(
            encode(&value_of("option routers 10.0.0.1, 10.0.0.2;")),
            Ok(vec![10, 0, 0, 1, 10, 0, 0, 2])
        );
    }

    #[test]
    fn integers_and_hex() {
        assert_eq!(
            encode(&value_of(
                "option arch code 93 = unsigned integer 16; option arch 7;"
            )),
            Ok(vec![0, 7])
        );
        assert_eq!(
            encode(&value_of("option pxe-system-type 7, 9;")),
            Ok(vec![0, 7, 0, 9])
        );
        assert_eq!(
            encode(&value_of("option time-offset -3600;")),
            Ok((-3600i32).to_be_bytes().to_vec())
        );
        assert_eq!(
            encode(&value_of("option dhcp-parameter-request-list 1,3,6;")),
            Ok(vec![1, 3, 6])
        );
    }

    #[test]
    fn text_and_data() {
        assert_eq!(
            encode(&value_of("option domain-name \"example.org\";")),
            Ok(b"example.org".to_vec())
        );
        assert_eq!(
            encode(&value_of("option vendor-class-identifier \"PXEClient\";")),
            Ok(b"PXEClient".to_vec())
        );
        assert_eq!(
            encode(&value_of("option dhcp-client-identifier 01:aa:bb;")),
            Ok(vec![1, 0xaa, 0xbb])
        );
        assert_eq!(encode(&value_of("option ip-forwarding off;")), Ok(vec![0]));
    }

    #[test]
    fn records_and_domain_lists() {
        assert_eq!(
            encode(&value_of(
                "option foo code 200 = { ip-address, unsigned integer 8, text }; option foo 1.2.3.4 9 \"x\";"
            )),
            Ok(vec![1, 2, 3, 4, 9, b'x'])
        );
        assert_eq!(
            encode(&value_of("option domain-search \"a.b\", \"c\";")),
            Ok(vec![1, b'a', 1, b'b', 0, 1, b'c', 0])
        );
        // As ISC compresses it: the second name ends in a pointer to "test" at offset 4.
        assert_eq!(
            encode(&value_of(
                "option domain-search \"lab.test\", \"other.test\", \"LAB.test\";"
            )),
            Ok(vec![
                3, b'l', b'a', b'b', 4, b't', b'e', b's', b't', 0, 5, b'o', b't', b'h', b'e', b'r',
                0xc0, 4, 0xc0, 0
            ])
        );
    }

    #[test]
    fn unresolved_names_are_reported() {
        assert_eq!(
            encode(&value_of("option domain-name-servers ns1.example.org;")),
            Err(EncodeError::Unresolved("ns1.example.org".into()))
        );
    }
}
