//! The JSON API's documents: machines with their profile, install state, their latest
//! install stage by stage with durations ([`pxe_model::timeline`]) and the boot timeline.
//! Pure: the records and the time are read by the caller.

use pxe_daemon::time;
use pxe_model::state::{BootEvent, MachineState};
use pxe_model::timeline::{self, Install, Stage};
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

/// When each stage of the install began: the short form.
fn milestones_json(i: &Install) -> Value {
    let at = |stage: Stage| time(i.stage(stage).map(|s| s.at));
    json!({
        "dhcp": at(Stage::Dhcp),
        "loader": i.stage(Stage::Loader).map_or(Value::Null, |s| json!({"at": time::rfc3339(s.at), "file": s.detail})),
        "kernel": at(Stage::Kernel),
        "answer_file": at(Stage::AnswerFile),
        "deploy_plan": at(Stage::DeployPlan),
        "deploy_step": i.last_step().map_or(Value::Null, |s| {
            let mut v = stage_json(s);
            v["report"] = json!(s.detail);
            v
        }),
        "installed": at(Stage::Installed),
        "first_boot": at(Stage::FirstBoot),
    })
}

/// One stage: its name (and step), when it began (RFC 3339 and Unix milliseconds), how
/// long after the first event, how long it took, and a step's status and bytes.
fn stage_json(s: &timeline::StageEntry) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    v["at"] = json!(time::rfc3339(s.at));
    v["at_ms"] = json!(s.at);
    v["label"] = json!(s.stage.label());
    if let Some(p) = s.percent() {
        v["percent"] = json!(p);
    }
    v
}

/// The latest install, stage by stage.
fn install_json(i: &Install) -> Value {
    json!({
        "start": time(i.start),
        "install_ms": i.install_ms,
        "to_first_boot_ms": i.to_first_boot_ms,
        "stages": i.stages.iter().map(stage_json).collect::<Vec<_>>(),
    })
}

/// One machine's document; `now` is when it is made (how long a running stage ran).
pub fn machine(inv: &Inventory, m: &Machine, rec: &Record, now: u64) -> Value {
    let pd = inv.profile_of(m);
    let distro = pd.map(|(_, d)| d);
    let install = timeline::build(&rec.events, &rec.state, distro, now);
    json!({
        "name": m.name,
        "source": source(inv.api_machines.contains(&m.name)),
        "hostname": m.hostname,
        "macs": m.macs.iter().map(|x| x.colon()).collect::<Vec<_>>(),
        "address": m.address.map(|a| a.to_string()),
        "profile": m.profile,
        "distro": distro.map(|d| d.name.clone()),
        "netboot": match m.netboot { Netboot::Install => "install", Netboot::Local => "local" },
        "state": rec.state.state.as_str(),
        "failure": timeline::failure(&rec.events, &rec.state),
        "diagnosis": pxe_model::stall::diagnose(&rec.events, &rec.state, distro, now),
        "since": time((rec.state.since > 0).then_some(rec.state.since)),
        "answer_url": distro.map(|d| urls::machine_answer_url(inv, d.family, m)),
        "milestones": milestones_json(&install),
        "install": install_json(&install),
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
pub fn machines(inv: &Inventory, records: &dyn Fn(&str) -> Record, now: u64) -> Value {
    let list: Vec<Value> = inv
        .machines
        .values()
        .map(|m| machine(inv, m, &records(&m.name), now))
        .collect();
    json!({ "inventory": inv.source_name(), "machines": list, "problems": inv.problems })
}

/// Where an entry was defined: a file written through the API, or the inventory file.
fn source(from_api_dir: bool) -> &'static str {
    if from_api_dir { "api" } else { "inventory" }
}

/// The files of one kind of entry that were not loaded.
fn problems_of<'i>(inv: &'i Inventory, entry: &str) -> Vec<&'i pxe_model::machine_dir::Problem> {
    inv.problems.iter().filter(|p| p.entry == entry).collect()
}

/// `GET /api/v1/profiles` or `/api/v1/distros`.
pub fn listed(inv: &Inventory, what: crate::route::Listed) -> Value {
    match what {
        crate::route::Listed::Profiles => json!({ "profiles": inv.profiles.values().map(|p| json!({
            "name": p.name,
            "distro": p.distro,
            "machines": inv.machines.values().filter(|m| m.profile == p.name).count(),
            "source": source(inv.api_profiles.contains(&p.name)),
        })).collect::<Vec<_>>(), "problems": problems_of(inv, "profile") }),
        crate::route::Listed::Distros => json!({ "distros": inv.distros.values().map(|d| json!({
            "name": d.name,
            "family": d.family.as_str(),
            "arch": d.arch.as_str(),
            "source": source(inv.api_distros.contains(&d.name)),
        })).collect::<Vec<_>>(), "problems": problems_of(inv, "distro") }),
    }
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
        let doc = machines(&inv, &|_| rec.clone(), 1_700_000_002_500);
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
        let stage = &m["install"]["stages"][0];
        assert_eq!(stage["stage"], "answer_file");
        assert_eq!(stage["at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(stage["took_ms"], 2_500, "running until now");
        assert_eq!(stage["running"], true);
        assert_eq!(m["timeline"][0]["phase"], "answer_file");
        assert_eq!(m["history"][0]["to"], "installing");
    }
}
