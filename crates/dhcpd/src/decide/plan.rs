//! Boot files for inventory machines: what the client says (architecture, vendor class, user
//! class, iPXE options, UUID) and the machine's install state go to `pxe_model::plan`; its
//! boot file, next server and vendor class replace what `dhcpd.conf` set, for inventory
//! machines only. A client that is not booting (an installer or an OS asking for an address)
//! keeps the configuration's answer.

use std::net::Ipv4Addr;

use pxe_model::{BootFile, ClientInfo, InstallState, MacAddr, plan};

use crate::eval::{OptionState, Sv};
use crate::model::{DHCP, HostDecl, SERVER};
use crate::request::code;

use super::packet::Ctx;

impl Ctx<'_> {
    /// What a boot plan needs to know about the client.
    pub(super) fn client_info(&self, ip: Ipv4Addr) -> Option<ClientInfo> {
        let req = self.req;
        let mac: [u8; 6] = req.chaddr.get(..6)?.try_into().ok()?;
        let mut c = ClientInfo::new(MacAddr(mac));
        c.arch = req
            .option(code::CLIENT_ARCHITECTURE)
            .and_then(|d| d.get(..2))
            .map(|d| u16::from_be_bytes([d[0], d[1]]));
        c.vendor_class = req
            .option(code::VENDOR_CLASS_IDENTIFIER)
            .map(|d| String::from_utf8_lossy(d).into_owned());
        c.user_class = req.option(code::USER_CLASS).map(<[u8]>::to_vec);
        c.ipxe_options = req.option(code::IPXE_ENCAPSULATED).is_some();
        c.uuid = req
            .option(code::CLIENT_MACHINE_ID)
            .filter(|d| d.len() == 17 && d[0] == 0)
            .and_then(|d| <[u8; 16]>::try_from(&d[1..]).ok());
        c.address = Some(ip);
        Some(c)
    }

    /// Put an inventory machine's boot plan into the reply's options.
    pub(super) fn apply_boot_plan(&self, host: &HostDecl, ip: Ipv4Addr, st: &mut OptionState) {
        let (Some(inv), Some(_)) = (self.cfg.inventory.as_deref(), host.machine.as_ref()) else {
            return;
        };
        let Some(client) = self.client_info(ip) else {
            return;
        };
        let state = self.facts.install_state.unwrap_or(InstallState::Pending);
        let Ok(p) = plan(inv, &client, state) else {
            return;
        };
        st.set(
            SERVER,
            Sv::Filename,
            p.boot_file.as_str().as_bytes().to_vec(),
        );
        match (&p.boot_file, p.next_server) {
            (BootFile::Tftp(_), Some(ns)) => st.set(SERVER, Sv::NextServer, ns.octets().to_vec()),
            _ => st.remove(SERVER, Sv::NextServer),
        }
        if let Some(vc) = p.vendor_class {
            st.set(DHCP, code::VENDOR_CLASS_IDENTIFIER, vc.as_bytes().to_vec());
        }
    }
}
