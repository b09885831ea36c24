//! The JSON API's documents: machines with their profile, install state and boot
//! timeline. Pure: the records are read by the caller.

use crate::timeline::{self, Milestones};
use pxe_daemon::time;
use pxe_model::state::{BootEvent, MachineState};
use pxe_model::{Inventory, Machine, Netboot, urls};
use serde_json::{Value, json};

/// What the store holds about one machine.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub state: MachineState,
    /// Oldest first.
    pub events: Vec<BootEvent>,
}

fn time(ms: Option<u64>) -> Value {
    ms.map_or(Value::Null, |t| Value::String(time::rfc3339(t)))
}

fn milestones_json(m: &Milestones) -> Value {
    json!({
        "dhcp": time(m.dhcp),
        "loader": m.loader.as_ref().map_or(Value::Null, |(at, file)| json!({"at": time::rfc3339(*at), "file": file})),
        "kernel": time(m.kernel),
        "answer_file": time(m.answer),
        "deploy_plan": time(m.plan),
        "deploy_step": m.deploy_step.as_ref().map_or(Value::Null, |(at, what)| json!({"at": time::rfc3339(*at), "report": what})),
        "installed": time(m.installed),
        "first_boot": time(m.first_boot),
    })
}

/// One machine's document.
pub fn machine(inv: &Inventory, m: &Machine, rec: &Record) -> Value {
    let pd = inv.profile_of(m);
    let distro = pd.map(|(_, d)| d);
    let milestones = timeline::milestones(&rec.events, &rec.state, distro);
    json!({
        "name": m.name,
        "hostname": m.hostname,
        "macs": m.macs.iter().map(|x| x.colon()).collect::<Vec<_>>(),
        "address": m.address.map(|a| a.to_string()),
        "profile": m.profile,
        "distro": distro.map(|d| d.name.clone()),
        "netboot": match m.netboot { Netboot::Install => "install", Netboot::Local => "local" },
        "state": rec.state.state.as_str(),
        "failure": timeline::failure(&rec.events, &rec.state),
        "since": time((rec.state.since > 0).then_some(rec.state.since)),
        "answer_url": distro.map(|d| urls::machine_answer_url(inv, d.family, m)),
        "milestones": milestones_json(&milestones),
        "timeline": rec.events.iter().map(|e| json!({
            "at": time::rfc3339(e.at),
            "at_ms": e.at,
            "phase": e.phase,
            "detail": e.detail,
        })).collect::<Vec<_>>(),
        "history": rec.state.history.iter().map(|t| json!({
            "at": time::rfc3339(t.at),
            "from": t.from.as_str(),
            "to": t.to.as_str(),
            "event": t.event,
        })).collect::<Vec<_>>(),
    })
}

/// Every machine, in inventory order.
pub fn machines(inv: &Inventory, records: &dyn Fn(&str) -> Record) -> Value {
    let list: Vec<Value> = inv
        .machines
        .values()
        .map(|m| machine(inv, m, &records(&m.name)))
        .collect();
    json!({ "inventory": inv.source_name(), "machines": list })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pxe_model::state::{Phase, StateEvent};

    #[test]
    fn document_shape() {
        let text = "servers: {tftp: 10.0.0.2, http: \"http://10.0.0.3\"}\n\
            distros:\n  c7: {family: redhat, tree: /srv/c7, kernel: k, initrd: i}\n\
            profiles:\n  p: {distro: c7}\n\
            machines:\n  web01: {mac: 52:54:00:12:34:56, profile: p, address: 10.0.0.50}\n";
        let inv = pxe_model::load_str("inv.yaml", text, std::path::Path::new(".")).expect("loads");
        let mut rec = Record::default();
        rec.state
            .apply(StateEvent::AnswerFetched, 1_700_000_000_000);
        rec.events.push(BootEvent {
            at: 1_700_000_000_000,
            phase: Phase::AnswerFile,
            detail: "/ks/52:54:00:12:34:56".into(),
        });
        let doc = machines(&inv, &|_| rec.clone());
        let m = &doc["machines"][0];
        assert_eq!(m["name"], "web01");
        assert_eq!(m["macs"][0], "52:54:00:12:34:56");
        assert_eq!(m["profile"], "p");
        assert_eq!(m["distro"], "c7");
        assert_eq!(m["state"], "installing");
        assert_eq!(m["since"], "2023-11-14T22:13:20.000Z");
        assert_eq!(m["answer_url"], "http://10.0.0.3/ks/52:54:00:12:34:56");
        assert_eq!(m["milestones"]["answer_file"], "2023-11-14T22:13:20.000Z");
        assert_eq!(m["milestones"]["installed"], Value::Null);
        assert_eq!(m["timeline"][0]["phase"], "answer_file");
        assert_eq!(m["history"][0]["to"], "installing");
    }
}
