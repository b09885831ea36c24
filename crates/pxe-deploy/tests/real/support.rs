//! The lab of the agent's real tests: an inventory whose profile deploys an image from a
//! distro tree, httpd-tree serving it on 127.0.0.1 (its own entry point, the one its
//! binary runs, on a thread of this process: Cargo builds only this package's binaries
//! for its tests), disk images made with sfdisk and mkfs.ext4, and the agent binary.

use pxe_model::StateStore;
use pxe_model::state::BootEvent;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub(crate) const ADMIN_TOKEN: &str = "deploy-admin-token-2c9e41f0a7b3";
pub(crate) const MAC: &str = "52:54:00:de:01:01";
pub(crate) const MACHINE: &str = "web01";
pub(crate) const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsKeyForTheLabOnly ops@lab";
pub(crate) const MIB: u64 = 1 << 20;

/// Deterministic bytes that do not compress (xorshift).
pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs a program that must succeed; its standard output.
pub(crate) fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (util-linux, e2fsprogs installed?)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn need_root() {
    assert!(
        nix_euid_is_root(),
        "these tests attach loop devices and mount them: run them as root"
    );
}

fn nix_euid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
            .unwrap_or(false)
    })
}

/// A disk as a cloud image has it: GPT, bytes of `seed` between the table and the
/// first partition (they must land exactly), and an ext4 root over the rest holding
/// `/etc/passwd` and friends, `/home` and `/payload`.
pub(crate) struct Golden {
    pub(crate) bytes: Vec<u8>,
    pub(crate) payload: Vec<u8>,
    /// Sectors of the root partition.
    pub(crate) root_sectors: u64,
}

/// First sector of the root partition (1 MiB, as every partitioner aligns).
pub(crate) const ROOT_START: u64 = 2048;
/// Where the gap between the GPT (34 sectors) and the root starts, in bytes.
pub(crate) const GAP: std::ops::Range<usize> = 34 * 512..(ROOT_START * 512) as usize;

pub(crate) fn golden(dir: &Path, size: u64, seed: u64) -> Golden {
    let img = dir.join("golden.img");
    let f = std::fs::File::create(&img).expect("golden image");
    f.set_len(size).expect("size");
    drop(f);
    let img_s = img.display().to_string();
    let table = format!("label: gpt\nstart={ROOT_START},type=L\n");
    let mut sfdisk = Command::new("sfdisk")
        .args(["-q", &img_s])
        .stdin(Stdio::piped())
        .spawn()
        .expect("sfdisk (util-linux)");
    {
        use std::io::Write as _;
        let mut stdin = sfdisk.stdin.take().expect("stdin");
        stdin.write_all(table.as_bytes()).expect("table");
    }
    assert!(sfdisk.wait().expect("sfdisk").success(), "sfdisk");
    let root = dir.join("golden-root");
    let payload = pseudo_random(300_000, seed ^ 0x55);
    for d in ["etc", "home", "root"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\n").expect("group");
    std::fs::write(root.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").expect("shadow");
    std::fs::write(root.join("etc/gshadow"), "root:*::\n").expect("gshadow");
    std::fs::write(root.join("payload"), &payload).expect("payload");
    host_shell(&root);
    let table = sh("sfdisk", &["--json", &img_s]);
    let v: serde_json::Value = serde_json::from_str(&table).expect("sfdisk json");
    let root_sectors = v["partitiontable"]["partitions"][0]["size"]
        .as_u64()
        .expect("a size");
    sh(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-E",
            &format!("offset={}", ROOT_START * 512),
            "-d",
            &root.display().to_string(),
            &img_s,
            &format!("{}k", root_sectors / 2),
        ],
    );
    let mut bytes = std::fs::read(&img).expect("read golden");
    bytes[GAP].copy_from_slice(&pseudo_random(GAP.len(), seed));
    Golden {
        bytes,
        payload,
        root_sectors,
    }
}

/// This machine's busybox as the image's `/bin/sh`, with the libraries `ldd` names at
/// their paths, so that the profile's post script runs in a chroot of the image.
fn host_shell(root: &Path) {
    let busybox = "/usr/bin/busybox";
    for line in sh("ldd", &[busybox]).lines() {
        let path = match line.split("=>").nth(1) {
            Some(rest) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let at = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().expect("a parent")).expect("lib dir");
        std::fs::copy(path, &at).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    std::fs::create_dir_all(root.join("bin")).expect("bin");
    std::fs::copy(busybox, root.join("bin/busybox")).expect("busybox (apt-get install busybox)");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("sh");
}

/// httpd-tree on 127.0.0.1 with an inventory whose profile deploys `image_name` from
/// the distro tree `agent`.
pub(crate) struct Lab {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) base: String,
    pub(crate) state_dir: PathBuf,
}

impl Lab {
    /// `image` is put in the tree as `image_name`; the plan says `sha256`.
    pub(crate) fn start(image_name: &str, image: &[u8], sha256: &str) -> Lab {
        Lab::start_as(image_name, image, sha256, "127.0.0.1")
    }

    /// As [`Lab::start`], the plan's URLs on `host` (a VM on qemu's user network
    /// reaches this machine's 127.0.0.1 as 10.0.2.2).
    pub(crate) fn start_as(image_name: &str, image: &[u8], sha256: &str, host: &str) -> Lab {
        Lab::start_with_post(image_name, image, sha256, host, "")
    }

    /// As [`Lab::start_as`], the profile's `post` script `post` (none when empty).
    pub(crate) fn start_with_post(
        image_name: &str,
        image: &[u8],
        sha256: &str,
        host: &str,
        post: &str,
    ) -> Lab {
        need_root();
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(&tree).expect("tree");
        std::fs::write(tree.join(image_name), image).expect("image");
        let deploy = format!(
            "      image:\n\
             \x20       url: /trees/agent/{image_name}\n        sha256: {sha256}\n{}",
            post_yaml(post)
        );
        Lab::serve(dir, &tree, &deploy, host)
    }

    /// httpd-tree serving `tree` as the distro tree `agent`, the profile's deploy section
    /// (besides its users) being `deploy` (lines indented by six spaces).
    pub(crate) fn serve(dir: tempfile::TempDir, tree: &Path, deploy: &str, host: &str) -> Lab {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let plan_base = format!("http://{host}:{port}");
        let inventory = dir.path().join("inventory.yaml");
        std::fs::write(
            &inventory,
            format!(
                "servers:\n  tftp: 127.0.0.1\n  http: {plan_base}\n\
                 distros:\n  agent:\n    family: debian\n    tree: {tree}\n    kernel: vmlinuz\n    initrd: initrd.img\n\
                 profiles:\n  disk-image:\n    distro: agent\n    deploy:\n\
                 {deploy}\
                 \x20     users:\n        -\n          name: ops\n          sudo: true\n          ssh_keys:\n            - {KEY}\n\
                 machines:\n  {MACHINE}:\n    mac: {MAC}\n    hostname: web01.lab.example\n    profile: disk-image\n",
                tree = tree.display(),
            ),
        )
        .expect("inventory");
        let state_dir = dir.path().join("state");
        let store = pxe_model::FileStore::open(&state_dir).expect("state dir");
        // As dhcpd would have: the machine was acknowledged this test's address.
        store
            .record_ack(MACHINE, std::net::Ipv4Addr::LOCALHOST, 1)
            .expect("record_ack");
        let token_file = dir.path().join("admin-token");
        std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).expect("token");
        let args: Vec<String> = vec![
            "httpd-tree".into(),
            "--quiet".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--inventory".into(),
            inventory.display().to_string(),
            "--state-dir".into(),
            state_dir.display().to_string(),
            "--admin-token-file".into(),
            token_file.display().to_string(),
            "--access-log".into(),
            dir.path().join("access.log").display().to_string(),
        ];
        use clap::Parser as _;
        let cli = httpd_tree::cli::Cli::try_parse_from(args).expect("httpd-tree's command line");
        std::thread::spawn(move || httpd_tree::app::main(cli));
        wait_for_port(port);
        Lab {
            dir,
            base,
            state_dir,
        }
    }

    pub(crate) fn plan_url(&self) -> String {
        format!("{}/deploy/{MAC}", self.base)
    }

    pub(crate) fn port(&self) -> &str {
        self.base.rsplit(':').next().unwrap_or_default()
    }

    /// A disk (a file of `size` bytes, zeros) for the agent.
    pub(crate) fn disk(&self, size: u64) -> PathBuf {
        let path = self.dir.path().join("disk.img");
        let f = std::fs::File::create(&path).expect("disk");
        f.set_len(size).expect("disk size");
        path
    }

    /// Runs the agent binary on `disk`, not rebooting.
    pub(crate) fn agent(&self, disk: &Path) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_pxe-deploy"))
            .arg("--plan")
            .arg(self.plan_url())
            .arg("--target")
            .arg(disk)
            .arg("--no-reboot")
            .arg("--work-dir")
            .arg(self.dir.path().join("work"))
            .stdin(Stdio::null())
            .output()
            .expect("run pxe-deploy");
        eprintln!(
            "pxe-deploy: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A GET with the admin token; status and body.
    pub(crate) fn admin(&self, path: &str) -> String {
        let r = ureq::get(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        r.into_string().expect("a body")
    }

    pub(crate) fn machine(&self) -> serde_json::Value {
        serde_json::from_str(&self.admin(&format!("/api/v1/machines/{MACHINE}"))).expect("json")
    }

    /// The deploy steps and failures on the machine's timeline, oldest first.
    pub(crate) fn steps(&self) -> Vec<String> {
        let store = pxe_model::FileStore::open(&self.state_dir).expect("state");
        store
            .events(MACHINE, 500)
            .expect("events")
            .into_iter()
            .filter(|e: &BootEvent| {
                use pxe_model::state::Phase;
                matches!(e.phase, Phase::DeployStep | Phase::DeployFailed)
            })
            .map(|e| e.detail)
            .collect()
    }
}

/// The profile's `post:` key (a literal block), or nothing.
fn post_yaml(script: &str) -> String {
    if script.is_empty() {
        return String::new();
    }
    let mut y = String::from("      post: |\n");
    for l in script.lines() {
        y.push_str("        ");
        y.push_str(l);
        y.push('\n');
    }
    y
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn wait_for_port(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("httpd-tree did not listen on 127.0.0.1:{port} within 15 s");
}

/// The disk's root partition mounted read-only, unmounted and detached when dropped.
pub(crate) struct Mounted {
    pub(crate) dir: tempfile::TempDir,
    dev: String,
}

impl Mounted {
    pub(crate) fn new(disk: &Path) -> Mounted {
        Mounted::partition(disk, 1)
    }

    /// Partition `n` of the disk, mounted read-only.
    pub(crate) fn partition(disk: &Path, n: u32) -> Mounted {
        let dev = sh(
            "losetup",
            &[
                "--find",
                "--show",
                "--read-only",
                &disk.display().to_string(),
            ],
        )
        .trim()
        .to_owned();
        let m = Mounted {
            dir: tempfile::tempdir().expect("mountpoint"),
            dev,
        };
        sh("partx", &["--update", &m.dev]);
        // devtmpfs makes and removes nodes asynchronously: a node of the loop device's
        // previous user may still be there, or this one not yet.
        let part = format!("{}p{n}", m.dev);
        let target = m.dir.path().display().to_string();
        let mut last = String::new();
        for _ in 0..50 {
            let out = Command::new("mount")
                .args(["-o", "ro", &part, &target])
                .output()
                .expect("mount");
            if out.status.success() {
                return m;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("mount {part}: {last}");
    }

    pub(crate) fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(rel)).unwrap_or_else(|e| panic!("/{rel}: {e}"))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}
