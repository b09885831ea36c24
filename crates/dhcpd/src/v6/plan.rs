//! Inventory boot plans over DHCPv6: who the client is (its MAC, from its DUID or the
//! EUI-64 of its link-local source), what it says of itself (architecture, option 61;
//! vendor class, option 16; user class `iPXE`, option 15), and `pxe_model::plan_v6`'s
//! boot URL put into the reply as option 59 in place of what `dhcpd6.conf` set. Pure: the
//! shell passes the install state in.

use std::net::Ipv6Addr;

use pxe_model::{BootPlan, ClientInfo, InstallState, Inventory, MacAddr, NoBoot, plan_v6};

use super::wire::{Message, Opt, code, kind};

/// Option 15, User Class (RFC 8415 §21.15): length-prefixed (two bytes) strings.
const USER_CLASS: u16 = 15;

/// Where a client's MAC address was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacFrom {
    /// A DUID-LLT or DUID-LL of hardware type 1 (Ethernet).
    Duid,
    /// The interface identifier (modified EUI-64) of a link-local source address.
    LinkLocal,
}

impl MacFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            MacFrom::Duid => "duid",
            MacFrom::LinkLocal => "link-local",
        }
    }
}

/// The client's MAC address: its DUID's when the DUID carries one (edk2 may send a
/// DUID-UUID, iPXE a DUID-UUID or DUID-LL), else the one its link-local source was made
/// from. Neither: none (a privacy address, a relayed message).
pub fn client_mac(msg: &Message, source: Ipv6Addr) -> Option<(MacAddr, MacFrom)> {
    if let Some(mac) = msg.get(code::CLIENT_ID).and_then(mac_of_duid) {
        return Some((mac, MacFrom::Duid));
    }
    mac_of_link_local(source).map(|m| (m, MacFrom::LinkLocal))
}

/// DUID-LLT (type 1: hardware type, time, address) or DUID-LL (type 3: hardware type,
/// address) with hardware type 1 and a 6-byte address.
fn mac_of_duid(duid: &[u8]) -> Option<MacAddr> {
    let address = match duid {
        [0, 1, 0, 1, _, _, _, _, rest @ ..] | [0, 3, 0, 1, rest @ ..] => rest,
        _ => return None,
    };
    <[u8; 6]>::try_from(address).ok().map(MacAddr)
}

/// `fe80::XXYY:ZZff:feAA:BBCC` made from `XX^02:YY:ZZ:AA:BB:CC` (RFC 4291 appendix A).
fn mac_of_link_local(a: Ipv6Addr) -> Option<MacAddr> {
    let o = a.octets();
    let link_local = o[0] == 0xfe && o[1] & 0xc0 == 0x80 && o[2..8] == [0; 6];
    if !link_local || o[11] != 0xff || o[12] != 0xfe {
        return None;
    }
    Some(MacAddr([o[8] ^ 0x02, o[9], o[10], o[13], o[14], o[15]]))
}

/// What a boot plan needs to know, read from the client's options.
pub fn client_info(msg: &Message, mac: MacAddr) -> ClientInfo {
    let mut c = ClientInfo::new(mac);
    c.arch = msg
        .get(code::CLIENT_ARCH_TYPE)
        .and_then(|d| d.get(..2))
        .map(|d| u16::from_be_bytes([d[0], d[1]]));
    c.vendor_class = msg
        .get(code::VENDOR_CLASS)
        .and_then(|d| strings(d.get(4..)?).into_iter().next())
        .map(|s| String::from_utf8_lossy(s).into_owned());
    let ipxe = msg
        .get(USER_CLASS)
        .is_some_and(|d| strings(d).contains(&b"iPXE".as_slice()));
    // The plan reads iPXE's user class in its DHCPv4 form; over DHCPv6 each string has a
    // two-byte length.
    c.user_class = ipxe.then(|| b"iPXE".to_vec());
    c
}

/// The strings of a User Class or Vendor Class option's data (each with a two-byte
/// length); a string cut short ends the list.
fn strings(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        let Some(s) = tail.get(..len) else { break };
        out.push(s);
        rest = &tail[len..];
    }
    out
}

/// Puts the plan's boot URL in `reply` (an Advertise or Reply to a client that asked for
/// option 59), replacing the configuration's. The plan, or why there is none.
pub fn apply(
    inv: &Inventory,
    client: &ClientInfo,
    state: InstallState,
    msg: &Message,
    reply: &mut Message,
) -> Result<BootPlan, NoBoot> {
    if !matches!(reply.kind, kind::ADVERTISE | kind::REPLY) || !msg.requests(code::BOOTFILE_URL) {
        return Err(NoBoot::NotABootClient);
    }
    let p = plan_v6(inv, client, state)?;
    reply.options.retain(|o| o.code != code::BOOTFILE_URL);
    reply.options.push(Opt {
        code: code::BOOTFILE_URL,
        data: p.boot_file.as_str().as_bytes().to_vec(),
    });
    Ok(p)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
