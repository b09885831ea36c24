//! ISC's result codes as they travel in an OMAPI STATUS message (`result`, a 4-byte integer),
//! with the texts ISC's libraries give them (omshell prints these: `can't open object: not
//! found`). The numbers are those of BIND 9's libisc, which ISC dhcpd 4.4 links, and of its
//! own DHCP result class (class 6, so base `6 << 16`).

/// One ISC result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u32);

/// The first code of ISC dhcpd's own result class.
const DHCP_CLASS: u32 = 6 << 16;

impl Status {
    /// Success.
    pub const SUCCESS: Status = Status(0);
    /// `already exists`.
    pub const EXISTS: Status = Status(18);
    /// `not found`.
    pub const NOT_FOUND: Status = Status(23);
    /// `failure`.
    pub const FAILURE: Status = Status(25);
    /// `not implemented`.
    pub const NOT_IMPLEMENTED: Status = Status(27);
    /// `I/O error`.
    pub const IO_ERROR: Status = Status(26);
    /// `no more`.
    pub const NO_MORE: Status = Status(29);
    /// `unexpected error`.
    pub const UNEXPECTED: Status = Status(34);
    /// `protocol version mismatch`.
    pub const VERSION_MISMATCH: Status = Status(DHCP_CLASS + 1);
    /// `protocol error`.
    pub const PROTOCOL_ERROR: Status = Status(DHCP_CLASS + 2);
    /// `invalid argument`.
    pub const INVALID_ARG: Status = Status(DHCP_CLASS + 3);
    /// `more than one object matches key`.
    pub const MULTIPLE: Status = Status(DHCP_CLASS + 6);
    /// `key conflict`.
    pub const KEY_CONFLICT: Status = Status(DHCP_CLASS + 7);
    /// `parse error(s) occurred`.
    pub const BAD_PARSE: Status = Status(DHCP_CLASS + 8);
    /// `no key specified`.
    pub const NO_KEYS: Status = Status(DHCP_CLASS + 9);
    /// `zone TSIG key not known`.
    pub const KEY_UNKNOWN: Status = Status(DHCP_CLASS + 10);
    /// `invalid TSIG key`.
    pub const INVALID_KEY: Status = Status(DHCP_CLASS + 11);
    /// `not implemented` (ISC dhcpd's own code).
    pub const NOT_IMPL: Status = Status(DHCP_CLASS + 16);
    /// `unknown attribute`.
    pub const UNKNOWN_ATTRIBUTE: Status = Status(DHCP_CLASS + 32);

    /// ISC's text for this code (`unknown result code` for one it has no text for).
    pub fn text(self) -> &'static str {
        match self.0 {
            0 => "success",
            18 => "already exists",
            23 => "not found",
            25 => "failure",
            26 => "I/O error",
            27 => "not implemented",
            29 => "no more",
            34 => "unexpected error",
            n if n >= DHCP_CLASS => DHCP_TEXTS
                .get((n - DHCP_CLASS) as usize)
                .copied()
                .unwrap_or("unknown result code"),
            _ => "unknown result code",
        }
    }
}

/// ISC dhcpd's result class texts (omapip/result.c), by offset from the class base.
const DHCP_TEXTS: [&str; 33] = [
    "host unknown",
    "protocol version mismatch",
    "protocol error",
    "invalid argument",
    "data not yet available",
    "object unchanged",
    "more than one object matches key",
    "key conflict",
    "parse error(s) occurred",
    "no key specified",
    "zone TSIG key not known",
    "invalid TSIG key",
    "operation in progress",
    "DNS format error",
    "DNS server failed",
    "no such domain",
    "not implemented",
    "refused",
    "domain already exists",
    "RRset already exists",
    "no such RRset",
    "not authorized",
    "not a zone",
    "bad DNS signature",
    "bad DNS key",
    "clock skew too great",
    "no root zone",
    "destination address required",
    "cross-zone update",
    "no TSIG signature",
    "not equal",
    "connection reset by peer",
    "unknown attribute",
];

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn texts_omshell_prints() {
        assert_eq!(Status::NOT_FOUND.text(), "not found");
        assert_eq!(Status::EXISTS.text(), "already exists");
        assert_eq!(Status::KEY_CONFLICT.text(), "key conflict");
        assert_eq!(Status::NO_KEYS.text(), "no key specified");
        assert_eq!(Status::INVALID_KEY.text(), "invalid TSIG key");
        assert_eq!(Status::UNKNOWN_ATTRIBUTE.text(), "unknown attribute");
        assert_eq!(Status(7 << 16).text(), "unknown result code");
    }
}
