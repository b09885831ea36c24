//! Power control of a machine through its BMC: the settings a machine's `power:` entry
//! holds and, with no I/O, what is sent to the BMC (the `ipmitool` command line, the
//! Redfish requests) and how its answers read.
//!
//! The password is never held here: the settings say where it is (a file or an
//! environment variable of the daemon), and the command line built from them makes
//! `ipmitool` read it from there (`-f FILE`, or `-E` with `IPMI_PASSWORD` set in the
//! child's environment), so it never appears in an argument list, a log or an answer.

use std::path::PathBuf;

/// How the BMC is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// IPMI v2.0 over the LAN (RMCP+), through `ipmitool -I lanplus`.
    Ipmi,
    /// Redfish over HTTP(S).
    Redfish,
}

impl Driver {
    pub const NAMES: &'static [&'static str] = &["ipmi", "redfish"];

    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Ipmi => "ipmi",
            Driver::Redfish => "redfish",
        }
    }
}

/// Where the BMC password is, never the password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// A file whose first line is the password (ipmitool's `-f`).
    File(PathBuf),
    /// An environment variable of the daemon that holds it.
    Env(String),
}

/// A machine's BMC settings (`machines.NAME.power`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Power {
    pub driver: Driver,
    /// IPMI: a host name or address. Redfish: the service's base URL
    /// (`https://10.0.0.9`), without a trailing slash.
    pub address: String,
    /// IPMI's UDP port (623 when not given); Redfish takes its port from the URL.
    pub port: Option<u16>,
    pub username: String,
    pub password: Password,
    /// Redfish: the ComputerSystem's path (default `/redfish/v1/Systems/1`).
    pub system: String,
    /// IPMI: the RMCP+ cipher suite (`-C`); `None` lets ipmitool ask the BMC.
    pub cipher_suite: Option<u8>,
}

/// The default Redfish ComputerSystem path.
pub const DEFAULT_SYSTEM: &str = "/redfish/v1/Systems/1";

/// What an operator asks of a machine's power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    On,
    Off,
    Cycle,
    Status,
}

impl Action {
    pub const NAMES: &'static [&'static str] = &["on", "off", "cycle", "status"];

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "on" => Some(Action::On),
            "off" => Some(Action::Off),
            "cycle" => Some(Action::Cycle),
            "status" => Some(Action::Status),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::On => "on",
            Action::Off => "off",
            Action::Cycle => "cycle",
            Action::Status => "status",
        }
    }
}

/// A machine's power as its BMC reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    On,
    Off,
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::On => "on",
            State::Off => "off",
            State::Unknown => "unknown",
        }
    }
}

/// One `ipmitool` run: its arguments and the environment it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiCommand {
    /// The arguments after the program name.
    pub args: Vec<String>,
    /// `Some(NAME)`: set `IPMI_PASSWORD` in the child to the value of the daemon's
    /// variable NAME (`-E` is in `args`).
    pub password_env: Option<String>,
}

/// What an `ipmitool` run does on the chassis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpmiOp {
    Power(Action),
    /// `chassis bootdev pxe`: the next boot (only) from the network.
    BootPxe,
}

/// The `ipmitool` command line for `op` on the BMC of `p`.
pub fn ipmitool(p: &Power, op: IpmiOp) -> IpmiCommand {
    let mut args: Vec<String> = vec![
        "-I".into(),
        "lanplus".into(),
        "-H".into(),
        p.address.clone(),
    ];
    if let Some(port) = p.port {
        args.push("-p".into());
        args.push(port.to_string());
    }
    if let Some(c) = p.cipher_suite {
        args.push("-C".into());
        args.push(c.to_string());
    }
    args.push("-U".into());
    args.push(p.username.clone());
    let password_env = match &p.password {
        Password::File(f) => {
            args.push("-f".into());
            args.push(f.display().to_string());
            None
        }
        Password::Env(name) => {
            args.push("-E".into());
            Some(name.clone())
        }
    };
    args.push("chassis".into());
    match op {
        IpmiOp::Power(a) => {
            args.push("power".into());
            args.push(a.as_str().into());
        }
        IpmiOp::BootPxe => {
            args.push("bootdev".into());
            args.push("pxe".into());
        }
    }
    IpmiCommand { args, password_env }
}

/// Reads `ipmitool chassis power status` output (`Chassis Power is on`).
pub fn parse_ipmi_status(out: &str) -> State {
    for line in out.lines() {
        let line = line.trim().to_ascii_lowercase();
        if let Some(rest) = line.strip_prefix("chassis power is ") {
            return match rest.trim() {
                "on" => State::On,
                "off" => State::Off,
                _ => State::Unknown,
            };
        }
    }
    State::Unknown
}

/// HTTP method of a Redfish request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
}

/// One Redfish request: method, URL and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct RedfishRequest {
    pub method: Method,
    pub url: String,
    pub body: Option<serde_json::Value>,
}

/// The Redfish ResetType for a power action, given the machine's state (`cycle` of a
/// machine that is off turns it on, as `ForceRestart` of an off system is refused by
/// many BMCs). `None` for `status`.
pub fn reset_type(a: Action, now: State) -> Option<&'static str> {
    match a {
        Action::On => Some("On"),
        Action::Off => Some("ForceOff"),
        Action::Cycle if now == State::Off => Some("On"),
        Action::Cycle => Some("ForceRestart"),
        Action::Status => None,
    }
}

/// The request that reads the system (its `PowerState`).
pub fn redfish_status(p: &Power) -> RedfishRequest {
    RedfishRequest {
        method: Method::Get,
        url: format!("{}{}", p.address, p.system),
        body: None,
    }
}

/// `ComputerSystem.Reset` with `reset_type`.
pub fn redfish_reset(p: &Power, reset_type: &str) -> RedfishRequest {
    RedfishRequest {
        method: Method::Post,
        url: format!("{}{}/Actions/ComputerSystem.Reset", p.address, p.system),
        body: Some(serde_json::json!({ "ResetType": reset_type })),
    }
}

/// The next boot (once) from the network.
pub fn redfish_boot_pxe(p: &Power) -> RedfishRequest {
    RedfishRequest {
        method: Method::Patch,
        url: format!("{}{}", p.address, p.system),
        body: Some(serde_json::json!({
            "Boot": {
                "BootSourceOverrideTarget": "Pxe",
                "BootSourceOverrideEnabled": "Once"
            }
        })),
    }
}

/// Reads a ComputerSystem's `PowerState` (`On`, `Off`, `PoweringOn`, `PoweringOff`).
pub fn parse_redfish_state(system: &serde_json::Value) -> State {
    match system.get("PowerState").and_then(|v| v.as_str()) {
        Some("On") | Some("PoweringOff") => State::On,
        Some("Off") | Some("PoweringOn") => State::Off,
        _ => State::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipmi(password: Password) -> Power {
        Power {
            driver: Driver::Ipmi,
            address: "10.0.0.9".into(),
            port: Some(9623),
            username: "admin".into(),
            password,
            system: DEFAULT_SYSTEM.into(),
            cipher_suite: None,
        }
    }

    #[test]
    fn ipmitool_reads_the_password_from_a_file_never_argv() {
        let c = ipmitool(
            &ipmi(Password::File("/etc/pxe/bmc-web01".into())),
            IpmiOp::Power(Action::Cycle),
        );
        assert_eq!(
            c.args.join(" "),
            "-I lanplus -H 10.0.0.9 -p 9623 -U admin -f /etc/pxe/bmc-web01 chassis power cycle"
        );
        assert_eq!(c.password_env, None);
        assert!(!c.args.iter().any(|a| a == "-P"));
    }

    #[test]
    fn ipmitool_takes_an_env_password_with_dash_e() {
        let mut p = ipmi(Password::Env("WEB01_BMC".into()));
        p.port = None;
        p.cipher_suite = Some(3);
        let c = ipmitool(&p, IpmiOp::BootPxe);
        assert_eq!(
            c.args.join(" "),
            "-I lanplus -H 10.0.0.9 -C 3 -U admin -E chassis bootdev pxe"
        );
        assert_eq!(c.password_env.as_deref(), Some("WEB01_BMC"));
        for a in Action::NAMES {
            let act = Action::parse(a).unwrap_or(Action::Status);
            let c = ipmitool(&p, IpmiOp::Power(act));
            assert_eq!(c.args[c.args.len() - 1], *a);
            assert_eq!(c.args[c.args.len() - 2], "power");
        }
    }

    #[test]
    fn power_status_output_is_read() {
        assert_eq!(parse_ipmi_status("Chassis Power is on\n"), State::On);
        assert_eq!(parse_ipmi_status("Chassis Power is off\n"), State::Off);
        assert_eq!(
            parse_ipmi_status("Chassis Power Control: Up/On\n"),
            State::Unknown
        );
        assert_eq!(parse_ipmi_status(""), State::Unknown);
    }

    #[test]
    fn redfish_requests() {
        let mut p = ipmi(Password::Env("X".into()));
        p.driver = Driver::Redfish;
        p.address = "https://bmc.example".into();
        let r = redfish_reset(&p, "ForceRestart");
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.url,
            "https://bmc.example/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
        );
        assert_eq!(
            r.body,
            Some(serde_json::json!({"ResetType": "ForceRestart"}))
        );
        let b = redfish_boot_pxe(&p);
        assert_eq!(b.method, Method::Patch);
        assert_eq!(b.url, "https://bmc.example/redfish/v1/Systems/1");
        assert_eq!(
            b.body,
            Some(
                serde_json::json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}})
            )
        );
        assert_eq!(redfish_status(&p).method, Method::Get);
        assert_eq!(reset_type(Action::On, State::Off), Some("On"));
        assert_eq!(reset_type(Action::Off, State::On), Some("ForceOff"));
        assert_eq!(reset_type(Action::Cycle, State::On), Some("ForceRestart"));
        assert_eq!(reset_type(Action::Cycle, State::Off), Some("On"));
        assert_eq!(reset_type(Action::Status, State::On), None);
        assert_eq!(
            parse_redfish_state(&serde_json::json!({"PowerState": "Off"})),
            State::Off
        );
        assert_eq!(
            parse_redfish_state(&serde_json::json!({"PowerState": "On"})),
            State::On
        );
        assert_eq!(parse_redfish_state(&serde_json::json!({})), State::Unknown);
    }
}
