//! The deploy section of profiles and the plans rendered from it.

mod common;

use expect_test::expect;
use pxe_model::deploy::{ImageFormat, Source};
use pxe_model::deploy_plan::{self, DeployPlan, PLAN_VERSION};

fn lab() -> pxe_model::Inventory {
    pxe_model::load(&common::fixtures().join("inventory/good/deploy.yaml")).expect("loads")
}

#[test]
fn deploy_sections_load_and_inherit() {
    let inv = lab();
    let web = inv.profiles["image-web"]
        .deploy
        .as_ref()
        .expect("inherited");
    let Source::Image(img) = &web.source else {
        panic!("an image profile")
    };
    assert_eq!(img.format, ImageFormat::RawZstd, "from the URL's ending");
    assert_eq!(web.users[0].name, "ops");
    assert!(web.users[0].sudo);
    let pk = inv.profiles["packages"].deploy.as_ref().expect("deploy");
    let Source::Packages(p) = &pk.source else {
        panic!("a packages profile")
    };
    assert_eq!(
        p.mirror, "http://10.0.0.3:8080/trees/debian12-mirror",
        "no trailing /"
    );
    assert_eq!(p.packages, ["openssh-server", "curl"]);
    assert_eq!(
        p.keyring.as_deref(),
        Some("/trees/debian12-mirror/pxe-suite-lab-archive.gpg")
    );
    // In the plan, on the inventory's http server, as the mirror.
    let db = &inv.machines["db01"];
    let plan = deploy_plan::render(&inv, db, pk, "TOKEN");
    let Source::Packages(rendered) = &plan.source else {
        panic!("a packages plan")
    };
    assert_eq!(
        rendered.keyring.as_deref(),
        Some("http://10.0.0.3:8080/trees/debian12-mirror/pxe-suite-lab-archive.gpg")
    );
    let https = std::fs::read_to_string(common::fixtures().join("inventory/good/deploy.yaml"))
        .expect("fixture")
        .replace("keyring: /trees/", "keyring: https://10.0.0.3/trees/");
    let e =
        pxe_model::load_str("deploy.yaml", &https, &common::fixtures()).expect_err("https refused");
    assert!(
        format!("{e:?}").contains("`keyring`: the deploy agent fetches plain http:// only"),
        "{e:?}"
    );
    assert_eq!(pk.disk.device, None, "the agent picks the disk");
    assert_eq!(pk.users[0].ssh_keys.len(), 1, "one key without a list");
}

#[test]
fn a_machines_plan_is_json_with_absolute_urls_and_its_token() {
    let inv = lab();
    let m = &inv.machines["web01"];
    let (profile, _) = inv.profile_of(m).expect("profile");
    let deploy = profile.deploy.as_ref().expect("deploy");
    let plan = deploy_plan::render(&inv, m, deploy, "TOKEN");
    let text = serde_json::to_string_pretty(&plan).expect("json");
    expect![[r##"
        {
          "version": 1,
          "machine": "web01",
          "hostname": "web01.lab.example",
          "network": {
            "mac": "52:54:00:de:01:01",
            "address": "10.0.0.61"
          },
          "source": {
            "image": {
              "url": "http://10.0.0.3:8080/images/debian-12-generic-amd64.raw.zst",
              "format": "raw.zst",
              "sha256": "3f0c9e7c0ed6ba8d3bbf0fbbc8b9a0a42e4e85c5d7f1c5b2a3e4d5c6b7a89012"
            }
          },
          "disk": {
            "device": "/dev/vda",
            "firmware": "uefi",
            "filesystem": "ext4"
          },
          "users": [
            {
              "name": "ops",
              "ssh_keys": [
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsKeyForTheLabOnly ops@lab"
              ],
              "sudo": true,
              "password_hash": null
            }
          ],
          "post": "#!/bin/sh\necho deployed > /etc/motd\n",
          "urls": {
            "report": "http://10.0.0.3:8080/api/v1/machines/52:54:00:de:01:01/report",
            "installed": "http://10.0.0.3:8080/api/v1/machines/52:54:00:de:01:01/installed",
            "booted": "http://10.0.0.3:8080/api/v1/machines/52:54:00:de:01:01/booted"
          },
          "token": "TOKEN"
        }"##]]
    .assert_eq(&text);
    let back: DeployPlan = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, plan);
    assert_eq!(back.version, PLAN_VERSION);
}

#[test]
fn deploy_machines_boot_the_agent_with_their_plan_url() {
    let inv = lab();
    let m = &inv.machines["web01"];
    let text = pxe_model::render::pxelinux::machine_file(&inv, m, pxe_model::InstallState::Pending);
    assert!(
        text.contains(
            "ip=dhcp pxe.plan=http://10.0.0.3:8080/deploy/52:54:00:de:01:01 console=ttyS0"
        ),
        "{text}"
    );
    assert!(!text.contains("auto=true"), "no preseed arguments: {text}");
}
