//! `dhcpd -6`'s command line: ISC's flags that apply to the DHCPv6 process, with its
//! Debian default paths (`/etc/dhcp/dhcpd6.conf`, `/var/lib/dhcp/dhcpd6.leases`), plus our
//! `--inventory` and `--state-dir` (boot plans over IPv6, as the IPv4 process has them).

/// Parsed `dhcpd -6` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args6 {
    pub conf: String,
    pub leases: String,
    pub pid_file: String,
    pub no_pid: bool,
    pub foreground: bool,
    pub debug: bool,
    pub quiet: bool,
    /// `-t`: check the configuration and exit.
    pub test: bool,
    /// `-p PORT`: the server port; clients are sent to PORT - 1 (ISC's rule).
    pub port: u16,
    pub interfaces: Vec<String>,
    /// `--inventory FILE` (ours): boot URLs from the inventory's plans.
    pub inventory: Option<String>,
    /// `--state-dir DIR` (ours): install states read, bound addresses recorded.
    pub state_dir: Option<String>,
}

impl Default for Args6 {
    fn default() -> Self {
        Args6 {
            conf: "/etc/dhcp/dhcpd6.conf".into(),
            leases: "/var/lib/dhcp/dhcpd6.leases".into(),
            pid_file: "/run/dhcpd6.pid".into(),
            no_pid: false,
            foreground: false,
            debug: false,
            quiet: false,
            test: false,
            port: 547,
            interfaces: Vec::new(),
            inventory: None,
            state_dir: None,
        }
    }
}

/// Does the command line ask for DHCPv6 (`-6`)?
pub fn wants_v6(args: &[String]) -> bool {
    args.iter().any(|a| a == "-6")
}

/// Parses the arguments (without the program name) of `dhcpd -6`.
pub fn parse(args: &[String]) -> Result<Args6, String> {
    let mut a = Args6::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("No argument for command: {arg}"))
        };
        match arg.as_str() {
            "-6" => {}
            "-4" | "-4o6" => {
                return Err(
                    "Server cannot run in both IPv4 and IPv6 mode at the same time.".into(),
                );
            }
            "-cf" => a.conf = value()?,
            "-lf" => a.leases = value()?,
            "-pf" => a.pid_file = value()?,
            "--no-pid" => a.no_pid = true,
            "-f" => a.foreground = true,
            "-d" => {
                a.debug = true;
                a.foreground = true;
            }
            "-q" => a.quiet = true,
            "-t" => a.test = true,
            "--inventory" => a.inventory = Some(value()?),
            "--state-dir" => a.state_dir = Some(value()?),
            "-p" => {
                let v = value()?;
                a.port = v
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 1)
                    .ok_or_else(|| format!("{v}: invalid port"))?;
            }
            s if s.starts_with('-') => {
                return Err(format!("Unknown command {s} (not supported with -6)"));
            }
            _ => a.interfaces.push(arg.clone()),
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn isc_flags_and_refusals() {
        let a = parse(&v("-6 -d -cf c -lf l -p 5547 eth0")).expect("parse");
        assert_eq!(
            (a.conf.as_str(), a.leases.as_str(), a.port),
            ("c", "l", 5547)
        );
        assert!(a.debug && a.foreground);
        assert_eq!(a.interfaces, vec!["eth0"]);
        assert!(parse(&v("-6 -4")).is_err());
        assert!(parse(&v("-6 -cf")).is_err());
        let ours = parse(&v("-6 --inventory inv.yaml --state-dir /var/lib/pxe br0")).expect("ours");
        assert_eq!(ours.inventory.as_deref(), Some("inv.yaml"));
        assert_eq!(ours.state_dir.as_deref(), Some("/var/lib/pxe"));
        assert!(parse(&v("-6 --inventory")).is_err());
        assert!(parse(&v("-6 --database x")).is_err(), "not with -6 yet");
        assert!(wants_v6(&v("-d -6")) && !wants_v6(&v("-d")));
    }
}
