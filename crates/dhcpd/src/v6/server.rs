//! The DHCPv6 socket shell (placeholder until the next step).
