//! What the agent writes into the installed system: hostname, network, users and keys
//! (a cloud-init NoCloud seed when the image has cloud-init, the files themselves
//! otherwise), and the first-boot unit that reports back. Pure: [`files`] says what to
//! write, [`write_files`] writes it beneath a root.

use pxe_model::deploy_plan::DeployPlan;
use std::path::Path;

/// Where the first-boot unit finds the machine's token (removed once it has reported).
pub const TOKEN_FILE: &str = "etc/pxe-deploy/token";
/// The first-boot unit.
pub const FIRST_BOOT_UNIT: &str = "pxe-first-boot.service";

/// A file to write, relative to the installed system's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub content: String,
    pub mode: u32,
}

fn file(path: &str, content: String, mode: u32) -> File {
    File {
        path: path.to_owned(),
        content,
        mode,
    }
}

/// Whether the installed system has cloud-init (then it gets a NoCloud seed).
pub fn has_cloud_init(root: &Path) -> bool {
    ["usr/bin/cloud-init", "usr/local/bin/cloud-init"]
        .iter()
        .any(|p| root.join(p).exists())
}

fn short(hostname: &str) -> &str {
    hostname.split('.').next().unwrap_or(hostname)
}

/// YAML's double-quoted string: JSON's string syntax is a subset of it.
fn yaml_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A NoCloud seed (`/var/lib/cloud/seed/nocloud/`): hostname, users and keys, DHCP on
/// the machine's MAC.
pub fn nocloud_seed(plan: &DeployPlan) -> Vec<File> {
    let dir = "var/lib/cloud/seed/nocloud";
    let meta = format!(
        "instance-id: pxe-{}\nlocal-hostname: {}\n",
        plan.machine,
        short(&plan.hostname)
    );
    let mut user = String::from("#cloud-config\n");
    user.push_str(&format!(
        "hostname: {}\nfqdn: {}\npreserve_hostname: false\nusers:\n  - default\n",
        yaml_str(short(&plan.hostname)),
        yaml_str(&plan.hostname)
    ));
    for u in &plan.users {
        user.push_str(&format!(
            "  - name: {}\n    shell: /bin/bash\n",
            yaml_str(&u.name)
        ));
        if u.sudo {
            user.push_str("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n");
        }
        match &u.password_hash {
            Some(h) => user.push_str(&format!(
                "    lock_passwd: false\n    hashed_passwd: {}\n",
                yaml_str(h)
            )),
            None => user.push_str("    lock_passwd: true\n"),
        }
        if !u.ssh_keys.is_empty() {
            user.push_str("    ssh_authorized_keys:\n");
            for k in &u.ssh_keys {
                user.push_str(&format!("      - {}\n", yaml_str(k)));
            }
        }
    }
    let network = format!(
        "version: 2\nethernets:\n  pxe0:\n    match:\n      macaddress: {}\n    dhcp4: true\n",
        yaml_str(&plan.network.mac)
    );
    vec![
        file(&format!("{dir}/meta-data"), meta, 0o600),
        file(&format!("{dir}/user-data"), user, 0o600),
        file(&format!("{dir}/network-config"), network, 0o600),
    ]
}

/// Hostname and network as plain files (systemd-networkd), for systems without
/// cloud-init. Users are made with `useradd` (see `run`); their keys and sudo rules are
/// in [`user_files`].
pub fn direct_files(plan: &DeployPlan) -> Vec<File> {
    let name = short(&plan.hostname);
    let hosts = if plan.hostname == name {
        format!("127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n")
    } else {
        format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{}\t{name}\n",
            plan.hostname
        )
    };
    vec![
        file("etc/hostname", format!("{name}\n"), 0o644),
        file("etc/hosts", hosts, 0o644),
        file(
            "etc/systemd/network/10-pxe-deploy.network",
            format!(
                "# Written by pxe-deploy: DHCP on the interface the machine installed over.\n\
                 [Match]\nMACAddress={}\n\n[Network]\nDHCP=ipv4\n",
                plan.network.mac
            ),
            0o644,
        ),
    ]
}

/// Each user's `authorized_keys` and sudo rule (ownership is set by the caller).
pub fn user_files(plan: &DeployPlan) -> Vec<File> {
    let mut out = Vec::new();
    for u in &plan.users {
        if !u.ssh_keys.is_empty() {
            out.push(file(
                &format!("home/{}/.ssh/authorized_keys", u.name),
                u.ssh_keys.iter().map(|k| format!("{k}\n")).collect(),
                0o600,
            ));
        }
        if u.sudo {
            out.push(file(
                &format!("etc/sudoers.d/90-pxe-deploy-{}", u.name),
                format!("{} ALL=(ALL) NOPASSWD:ALL\n", u.name),
                0o440,
            ));
        }
    }
    out
}

/// The first-boot unit, its script and the token it reports with.
pub fn first_boot_files(plan: &DeployPlan) -> Vec<File> {
    let url = &plan.urls.booted;
    let script = format!(
        r#"#!/bin/sh
# Written by pxe-deploy: tells httpd-tree once that this system booted, then
# removes its token (the unit runs only while the token file exists).
token=$(cat /{TOKEN_FILE}) || exit 0
url='{url}'
i=0
while [ $i -lt 30 ]; do
    if command -v curl >/dev/null; then
        curl -fsS -X POST -H "Authorization: Bearer $token" "$url" && ok=1
    else
        wget -q -O /dev/null --header="Authorization: Bearer $token" --post-data '' "$url" && ok=1
    fi
    if [ "${{ok:-0}}" = 1 ]; then
        rm -f /{TOKEN_FILE}
        exit 0
    fi
    i=$((i + 1))
    sleep 10
done
exit 1
"#
    );
    let unit = format!(
        "[Unit]\nDescription=Report the first boot to httpd-tree (pxe-deploy)\n\
         Wants=network-online.target\nAfter=network-online.target\n\
         ConditionPathExists=/{TOKEN_FILE}\n\n[Service]\nType=oneshot\n\
         ExecStart=/usr/local/lib/pxe-deploy/first-boot\n\n[Install]\nWantedBy=multi-user.target\n"
    );
    vec![
        file("usr/local/lib/pxe-deploy/first-boot", script, 0o755),
        file(
            &format!("etc/systemd/system/{FIRST_BOOT_UNIT}"),
            unit,
            0o644,
        ),
        file(TOKEN_FILE, format!("{}\n", plan.token), 0o600),
    ]
}

/// Writes files beneath `root` (parents created), each with its mode.
pub fn write_files(root: &Path, files: &[File]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    for f in files {
        let path = root.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.content)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
    }
    Ok(())
}

/// Enables the first-boot unit (the symlink `systemctl enable` would make).
pub fn enable_first_boot(root: &Path) -> std::io::Result<()> {
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants)?;
    let link = wants.join(FIRST_BOOT_UNIT);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(format!("/etc/systemd/system/{FIRST_BOOT_UNIT}"), link)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pxe_model::deploy::{Disk, Image, ImageFormat, Source, User};
    use pxe_model::deploy_plan::{Network, PlanUrls};

    pub(crate) fn plan() -> DeployPlan {
        DeployPlan {
            version: 1,
            machine: "web01".into(),
            hostname: "web01.lab.example".into(),
            network: Network {
                mac: "52:54:00:de:01:01".into(),
                address: None,
            },
            source: Source::Image(Image {
                url: "http://h/i.raw".into(),
                format: ImageFormat::Raw,
                sha256: "0".repeat(64),
            }),
            disk: Disk::default(),
            users: vec![User {
                name: "ops".into(),
                ssh_keys: vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@lab".into()],
                sudo: true,
                password_hash: None,
            }],
            post: String::new(),
            urls: PlanUrls {
                report: "http://h/api/v1/machines/m/report".into(),
                installed: "http://h/api/v1/machines/m/installed".into(),
                booted: "http://h/api/v1/machines/m/booted".into(),
            },
            token: "0123456789abcdef0123456789abcdef".into(),
        }
    }

    #[test]
    fn the_seed_is_yaml_cloud_init_reads() {
        let seed = nocloud_seed(&plan());
        let user = &seed[1].content;
        assert!(user.starts_with("#cloud-config\n"), "{user}");
        assert!(
            user.contains("hostname: \"web01\"\nfqdn: \"web01.lab.example\""),
            "{user}"
        );
        assert!(
            user.contains(
                "ssh_authorized_keys:\n      - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@lab\""
            ),
            "{user}"
        );
        assert!(user.contains("sudo: \"ALL=(ALL) NOPASSWD:ALL\""), "{user}");
        assert_eq!(
            seed[0].content,
            "instance-id: pxe-web01\nlocal-hostname: web01\n"
        );
        assert!(
            seed[2]
                .content
                .contains("macaddress: \"52:54:00:de:01:01\"")
        );
    }

    #[test]
    fn direct_files_and_first_boot() {
        let p = plan();
        let files = direct_files(&p);
        assert_eq!(files[0].content, "web01\n");
        assert!(
            files[1]
                .content
                .contains("127.0.1.1\tweb01.lab.example\tweb01\n")
        );
        let users = user_files(&p);
        assert_eq!(users[0].path, "home/ops/.ssh/authorized_keys");
        assert_eq!(users[1].content, "ops ALL=(ALL) NOPASSWD:ALL\n");
        let fb = first_boot_files(&p);
        assert!(
            fb[0]
                .content
                .contains("url='http://h/api/v1/machines/m/booted'")
        );
        assert_eq!(fb[2].mode, 0o600, "the token is the root's only");
        let dir = tempfile::tempdir().expect("tempdir");
        write_files(dir.path(), &fb).expect("write");
        enable_first_boot(dir.path()).expect("enable");
        let link = dir
            .path()
            .join("etc/systemd/system/multi-user.target.wants/pxe-first-boot.service");
        assert_eq!(
            std::fs::read_link(link).expect("a link"),
            Path::new("/etc/systemd/system/pxe-first-boot.service")
        );
        let sh = crate::log::run(
            &mut crate::log::Log::default(),
            "sh",
            &[
                "-n",
                &dir.path()
                    .join("usr/local/lib/pxe-deploy/first-boot")
                    .display()
                    .to_string(),
            ],
        );
        assert!(sh.is_ok(), "the script parses: {sh:?}");
    }
}
