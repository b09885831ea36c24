//! The lab network: network namespaces, a bridge with STP off, tap devices for the
//! VMs, veth links for split hosts. Addresses exist only inside these namespaces, and
//! everything is deleted when the `Lab` is dropped (Ctrl-C included).

use anyhow::{Context, Result, bail};
use std::process::Command;

/// Runs `ip` with arguments, failing with its stderr.
pub(crate) fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (Debian package iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `ip netns exec NS …` as a list of arguments to prefix a command with.
pub(crate) fn in_ns(ns: &str) -> Vec<String> {
    vec!["ip".into(), "netns".into(), "exec".into(), ns.into()]
}

/// A namespace that is deleted on drop.
pub(crate) struct Netns {
    pub(crate) name: String,
}

impl Netns {
    pub(crate) fn create(name: &str) -> Result<Netns> {
        // A namespace left over by a killed run of the same name goes first.
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME …`
    pub(crate) fn ip(&self, args: &[&str]) -> Result<()> {
        let mut v = vec!["-n", self.name.as_str()];
        v.extend_from_slice(args);
        ip(&v)
    }

    /// A bridge with STP off and no forward delay, so early boot packets are not lost.
    pub(crate) fn bridge(&self, name: &str) -> Result<()> {
        self.ip(&[
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        self.ip(&["link", "set", name, "up"])
    }

    pub(crate) fn addr(&self, dev: &str, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", dev])
    }

    /// A tap device on the bridge, for one VM.
    pub(crate) fn tap(&self, name: &str, bridge: &str) -> Result<()> {
        self.ip(&["tuntap", "add", "dev", name, "mode", "tap"])?;
        self.ip(&["link", "set", name, "master", bridge])?;
        self.ip(&["link", "set", name, "up"])
    }

    /// A veth pair from this namespace's bridge to another namespace, with an address there.
    pub(crate) fn link_host(
        &self,
        bridge: &str,
        host: &Netns,
        ifname: &str,
        cidr: &str,
    ) -> Result<()> {
        let outer = format!("v{}", &host.name.chars().rev().take(8).collect::<String>());
        self.ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", ifname, "netns", &host.name,
        ])?;
        self.ip(&["link", "set", &outer, "master", bridge])?;
        self.ip(&["link", "set", &outer, "up"])?;
        host.addr(ifname, cidr)?;
        host.ip(&["link", "set", ifname, "up"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("lab: could not delete namespace {}: {e:#}", self.name);
        }
    }
}
