//! A BMC for tests: OpenIPMI's `ipmi_sim` on a loopback UDP port, user `admin` with
//! [`PASSWORD`], whose chassis power and boot device are handled by a `chassis_control`
//! script that keeps them in files of its directory, so a test reads what the BMC was
//! really told. Shared by httpd-tree's and pxectl's real tests (`#[path]`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) const PASSWORD: &str = "lab-bmc-pw-3c9e";

/// `ipmi_sim` with one BMC, killed (by its PID) when dropped.
pub(crate) struct Bmc {
    child: Child,
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    s.local_addr().expect("addr").port()
}

impl Bmc {
    pub(crate) fn start(dir: &Path) -> Bmc {
        std::fs::create_dir_all(dir.join("state")).expect("mkdir");
        let script = dir.join("chassis.sh");
        // ipmi_sim runs `chassis.sh 0x20 get power boot` and `chassis.sh 0x20 set power 1`.
        let text = format!(
            "#!/bin/sh\nd={d}\necho \"$*\" >> $d/calls\n[ \"$2\" = get ] && {{ shift 2; for p in \"$@\"; do \
             case $p in power) echo \"power:$(cat $d/power 2>/dev/null || echo 0)\";; \
             boot) echo \"boot:$(cat $d/boot 2>/dev/null || echo default)\";; esac; done; exit 0; }}\n\
             [ \"$2\" = set ] && {{ shift 2; while [ $# -ge 2 ]; do echo \"$2\" > $d/$1; shift 2; done; }}\nexit 0\n",
            d = dir.display()
        );
        std::fs::write(&script, text).expect("script");
        Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .expect("chmod");
        let port = free_udp_port();
        let conf = format!(
            "name \"lab\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    \
             priv_limit admin\n    allowed_auths_callback none md2 md5 straight\n    \
             allowed_auths_user none md2 md5 straight\n    allowed_auths_operator none md2 md5 straight\n    \
             allowed_auths_admin none md2 md5 straight\n    guid a123456789abcdefa123456789abcdef\n  \
             endlan\n  chassis_control \"{} 0x20\"\n  user 2 true \"admin\" \"{PASSWORD}\" admin 10 none md2 md5 straight\n",
            script.display()
        );
        std::fs::write(dir.join("lan.conf"), conf).expect("lan.conf");
        std::fs::write(
            dir.join("bmc.emu"),
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n",
        )
        .expect("emu");
        let child = match Command::new("ipmi_sim")
            .arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("bmc.emu"))
            .arg("-s")
            .arg(dir.join("state"))
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("cannot run ipmi_sim ({e}): apt-get install openipmi"),
        };
        let bmc = Bmc {
            child,
            port,
            dir: dir.to_owned(),
        };
        std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).expect("pw");
        // Ready once ipmitool gets an answer.
        for _ in 0..50 {
            let ok = Command::new("ipmitool")
                .args([
                    "-I",
                    "lanplus",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-C",
                    "3",
                    "-U",
                    "admin",
                    "-f",
                ])
                .arg(dir.join("pw"))
                .args(["-R", "1", "-N", "1", "chassis", "power", "status"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return bmc;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("ipmi_sim did not answer on 127.0.0.1:{port}");
    }

    /// What the chassis script was last told for `what` (`power`: 1 or 0; `boot`).
    pub(crate) fn chassis(&self, what: &str) -> String {
        std::fs::read_to_string(self.dir.join(what))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    pub(crate) fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("calls")).unwrap_or_default()
    }
}
