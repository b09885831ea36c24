//! One DHCP exchange as log pipelines query it: every ISC line of an exchange
//! (`DHCPDISCOVER from 52:54:00:12:34:56 via eth1`, `DHCPOFFER on …`) carries the same
//! structured fields, so `jq 'select(.mac == "52:54:00:12:34:56")'` over JSON logs, or
//! `journalctl MAC=…`-style filters over journal lines, find what a machine asked and got.
//! The text and syslog lines stay ISC's own words: those formats print the message only.

use std::net::Ipv4Addr;

use crate::decide::Outcome;
use crate::request::{Request, code, msg};

/// The fields of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The interface the request came in on.
    pub iface: String,
    /// The transaction id, as 8 hex digits.
    pub xid: String,
    /// The client's hardware address, as ISC prints it.
    pub mac: String,
    /// Option 61, in hex, when sent.
    pub client_id: Option<String>,
    /// The request's message type (`DHCPDISCOVER`, `BOOTREQUEST`); not `message`, which
    /// is the line itself in JSON.
    pub message_type: String,
    /// What the server decided (`Offer`, `Ack`, `NakWrongSubnet`, …).
    pub reason: String,
    /// The address handed out, or the one the client asked about.
    pub address: Option<Ipv4Addr>,
}

impl Exchange {
    /// The fields of a change no DHCP packet asked for (an OMAPI request, a timer):
    /// what, why, and the address it is about.
    pub fn internal(message_type: &str, reason: &str, address: Option<Ipv4Addr>) -> Exchange {
        Exchange {
            iface: String::new(),
            xid: String::new(),
            mac: String::new(),
            client_id: None,
            message_type: message_type.into(),
            reason: reason.into(),
            address,
        }
    }

    /// The fields of `req` and what was decided for it.
    pub fn of(req: &Request, outcome: &Outcome) -> Exchange {
        let offered = outcome
            .reply
            .as_ref()
            .map(|r| r.yiaddr)
            .filter(|a| !a.is_unspecified());
        let asked = req
            .option_ip(code::REQUESTED_IP_ADDRESS)
            .or_else(|| (!req.ciaddr.is_unspecified()).then_some(req.ciaddr));
        Exchange {
            iface: req.meta.iface.clone(),
            xid: format!("{:08x}", req.xid),
            mac: req.hw_text(),
            client_id: req.client_id().map(crate::text::hex),
            message_type: req
                .msg_type()
                .map_or_else(|| "BOOTREQUEST".to_owned(), msg::name),
            reason: format!("{:?}", outcome.reason),
            address: offered.or(asked),
        }
    }

    /// Logs `lines` (ISC's wording) at info, each with the exchange's fields.
    pub fn log(&self, lines: &[String]) {
        let address = self.address.map(crate::text::dotted);
        for line in lines {
            tracing::info!(
                iface = %self.iface,
                xid = %self.xid,
                mac = %self.mac,
                client_id = self.client_id.as_deref(),
                message_type = %self.message_type,
                reason = %self.reason,
                address = address.as_deref(),
                "{line}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;
    use crate::decide::Reason;
    use pxe_daemon::logging::capture::Capture;
    use tracing_subscriber::layer::SubscriberExt as _;

    fn discover() -> Request {
        let mut req = Request {
            xid: 0x1234_abcd,
            options: vec![
                (code::MESSAGE_TYPE, vec![msg::DISCOVER]),
                (
                    code::CLIENT_IDENTIFIER,
                    vec![1, 0x52, 0x54, 0, 0x12, 0x34, 0x56],
                ),
            ],
            ..Request::default()
        };
        req.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        req.meta.iface = "eth1".into();
        req
    }

    fn capture(format: pxe_daemon::LogFormat, bare: bool, ex: &Exchange) -> String {
        let buf = Capture::default();
        let layer = if bare {
            pxe_daemon::logging::message_only_layer(buf.clone())
        } else {
            format.layer(buf.clone(), false)
        };
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            ex.log(&["DHCPDISCOVER from 52:54:00:12:34:56 via eth1".to_owned()]);
        });
        buf.text()
    }

    #[test]
    fn json_lines_carry_the_exchange_and_text_lines_stay_isc() {
        let req = discover();
        let outcome = crate::decide::Outcome {
            reply: None,
            changes: Vec::new(),
            reason: Reason::Offer,
            log: Vec::new(),
            boot: None,
            hooks: Vec::new(),
            ping: None,
        };
        let ex = Exchange::of(&req, &outcome);
        let json = capture(pxe_daemon::LogFormat::Json, false, &ex);
        let line: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(line["mac"], "52:54:00:12:34:56", "{json}");
        assert_eq!(line["xid"], "1234abcd", "{json}");
        assert_eq!(line["iface"], "eth1", "{json}");
        assert_eq!(line["client_id"], "01525400123456", "{json}");
        assert_eq!(
            line["message"], "DHCPDISCOVER from 52:54:00:12:34:56 via eth1",
            "{json}"
        );
        assert_eq!(line["reason"], "Offer", "{json}");
        assert_eq!(line["message_type"], "DHCPDISCOVER", "{json}");
        let text = capture(pxe_daemon::LogFormat::Text, true, &ex);
        assert_eq!(text, "DHCPDISCOVER from 52:54:00:12:34:56 via eth1\n");
    }
}
