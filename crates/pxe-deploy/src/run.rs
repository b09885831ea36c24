//! The deploy, step by step: plan → image → grow → configure → post → first boot →
//! installed → reboot. A failed step is reported with the log's tail and stops the
//! deploy: the machine stays `failed` on httpd-tree and the agent does not reboot.

use crate::configure;
use crate::disk::{self, Device, Mounts};
use crate::http::{self, Reporter};
use crate::log::{Log, run};
use crate::packages;
use crate::stream;
use pxe_model::deploy::{BootFirmware, Filesystem, Image, ImageFormat, Packages, Source};
use pxe_model::deploy_plan::{DeployPlan, Step, StepStatus};
use std::path::{Path, PathBuf};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The deploy plan's URL (`pxe.plan=` on the kernel command line).
    pub plan_url: String,
    /// The disk to write instead of the plan's (a file is attached as a loop device).
    pub target: Option<PathBuf>,
    /// Reboot once installed.
    pub reboot: bool,
    /// Where the installed root is mounted and a qcow2 image is kept while converted.
    pub work_dir: PathBuf,
}

/// A step that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} failed: {message}", step.as_str())]
pub struct Failure {
    pub step: Step,
    pub message: String,
}

fn fail(step: Step) -> impl Fn(String) -> Failure {
    move |message| Failure { step, message }
}

/// Runs the whole deploy. `Ok` once the install-complete callback was taken.
pub fn deploy(opts: &Options, log: &mut Log) -> Result<(), Failure> {
    let agent = http::agent();
    log.line(format!("fetching the deploy plan {}", opts.plan_url));
    let plan =
        http::fetch_plan(&agent, &opts.plan_url).map_err(|e| fail(Step::Plan)(e.to_string()))?;
    let mut rep = Reporter::new(agent, &plan);
    rep.step(
        Step::Plan,
        StepStatus::Done,
        &format!("machine {}", plan.machine),
    );
    if let Err(f) = steps(&plan, opts, &mut rep, log) {
        log.line(format!("{f}"));
        if let Err(e) = rep.failed(f.step, &f.message, &log.tail()) {
            log.line(format!("the failure could not be reported: {e}"));
        }
        return Err(f);
    }
    rep.step(
        Step::Finish,
        StepStatus::Started,
        "install-complete callback",
    );
    rep.post(&plan.urls.installed, None)
        .map_err(fail(Step::Finish))?;
    log.line("installed");
    if opts.reboot {
        let _ = run(log, "sync", &[]);
        run(log, "reboot", &["-f"]).map_err(|e| fail(Step::Finish)(e.to_string()))?;
    }
    Ok(())
}

/// Every step after the plan; the first failure ends them.
fn steps(
    plan: &DeployPlan,
    opts: &Options,
    rep: &mut Reporter,
    log: &mut Log,
) -> Result<(), Failure> {
    let target = opts
        .target
        .clone()
        .or_else(|| plan.disk.device.as_ref().map(PathBuf::from))
        .or_else(|| disk::pick_disk(Path::new("/sys/block")))
        .ok_or_else(|| {
            fail(Step::Image)(
                "no disk found: none is fixed, non-removable and non-empty".to_owned(),
            )
        })?;
    log.line(format!("target disk {}", target.display()));
    let root = opts.work_dir.join("root");
    let mut mounts = Mounts::default();
    let dev = match &plan.source {
        Source::Image(img) => {
            write_image(img, &target, opts, rep, log)?;
            let dev = Device::attach(&target, log).map_err(|e| fail(Step::Grow)(e.to_string()))?;
            rep.step(Step::Grow, StepStatus::Started, "");
            let (root_part, fstype) =
                disk::grow_last(&dev, log).map_err(|e| fail(Step::Grow)(e.to_string()))?;
            rep.step(
                Step::Grow,
                StepStatus::Done,
                &format!("{} ({fstype})", root_part.node),
            );
            mounts
                .mount(log, &root_part.node, &root, false)
                .map_err(|e| fail(Step::Configure)(e.to_string()))?;
            disk::grow_mounted(&fstype, &root, log).map_err(|e| fail(Step::Grow)(e.to_string()))?;
            dev
        }
        Source::Packages(p) => {
            let result = build_system(plan, p, &target, &root, opts, &mut mounts, rep, log);
            match result {
                Ok(dev) => dev,
                Err(f) => {
                    // Nothing half-built may boot: unmounted, then the tables wiped.
                    let _ = mounts.unmount_all(log);
                    drop(mounts);
                    if let Err(e) = disk::wipe_labels(&target) {
                        log.line(format!("wiping {} failed: {e}", target.display()));
                    }
                    return Err(f);
                }
            }
        }
    };
    rep.step(Step::Configure, StepStatus::Started, "");
    configure_root(plan, &root, log).map_err(fail(Step::Configure))?;
    rep.step(Step::Configure, StepStatus::Done, "");
    if !plan.post.trim().is_empty() {
        rep.step(Step::Post, StepStatus::Started, "");
        post_script(plan, &root, &mut mounts, log).map_err(fail(Step::Post))?;
        rep.step(Step::Post, StepStatus::Done, "");
    }
    configure::write_files(&root, &configure::first_boot_files(plan))
        .and_then(|()| configure::enable_first_boot(&root))
        .map_err(|e| fail(Step::FirstBoot)(format!("writing the first-boot unit: {e}")))?;
    rep.step(
        Step::FirstBoot,
        StepStatus::Done,
        configure::FIRST_BOOT_UNIT,
    );
    mounts
        .unmount_all(log)
        .map_err(|e| fail(Step::Finish)(e.to_string()))?;
    drop(dev);
    Ok(())
}

/// Packages mode up to a bootable system: partition and format, debootstrap, apt's
/// sources, kernel and GRUB, fstab. The root (and ESP) stay mounted at `root`.
#[allow(clippy::too_many_arguments)]
fn build_system(
    plan: &DeployPlan,
    p: &Packages,
    target: &Path,
    root: &Path,
    opts: &Options,
    mounts: &mut Mounts,
    rep: &mut Reporter,
    log: &mut Log,
) -> Result<Device, Failure> {
    let fs = plan.disk.filesystem;
    let firmware = plan.disk.firmware;
    rep.step(
        Step::Partition,
        StepStatus::Started,
        "GPT: bios-boot, esp, root",
    );
    let dev = Device::attach(target, log).map_err(|e| fail(Step::Partition)(e.to_string()))?;
    let root_node = packages::partition(&dev, fs, log).map_err(fail(Step::Partition))?;
    packages::mount(&dev, root, mounts, log).map_err(fail(Step::Partition))?;
    rep.step(
        Step::Partition,
        StepStatus::Done,
        &format!("{root_node} ({})", fs_name(fs)),
    );
    let keyring = match &p.keyring {
        Some(url) => Some(fetch_keyring(url, opts).map_err(fail(Step::Debootstrap))?),
        None => None,
    };
    rep.step(
        Step::Debootstrap,
        StepStatus::Started,
        &format!("{} {}", p.mirror, p.suite),
    );
    let started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let mut progress = |line: &str| {
        // debootstrap's own progress lines: "I: Retrieving …", "I: Configuring …".
        if let Some(what) = line.strip_prefix("I: ")
            && last.elapsed() >= http::PROGRESS_EVERY
        {
            last = std::time::Instant::now();
            rep.step(Step::Debootstrap, StepStatus::Progress, what);
        }
    };
    packages::bootstrap(p, firmware, root, keyring.as_deref(), log, &mut progress)
        .map_err(fail(Step::Debootstrap))?;
    packages::apt_sources(p, root, keyring.as_deref()).map_err(fail(Step::Debootstrap))?;
    rep.step(
        Step::Debootstrap,
        StepStatus::Done,
        &format!("in {} s", started.elapsed().as_secs()),
    );
    rep.step(
        Step::Bootloader,
        StepStatus::Started,
        firmware_name(firmware),
    );
    packages::bootloader(&dev, firmware, fs, root, mounts, log).map_err(fail(Step::Bootloader))?;
    rep.step(
        Step::Bootloader,
        StepStatus::Done,
        &format!("kernel, GRUB ({}), fstab", firmware_name(firmware)),
    );
    Ok(dev)
}

fn fs_name(fs: Filesystem) -> &'static str {
    match fs {
        Filesystem::Ext4 => "ext4",
        Filesystem::Xfs => "xfs",
    }
}

fn firmware_name(f: BootFirmware) -> &'static str {
    match f {
        BootFirmware::Bios => "BIOS",
        BootFirmware::Uefi => "EFI",
        BootFirmware::Both => "BIOS and EFI",
    }
}

/// The mirror's keyring, fetched into the work directory.
fn fetch_keyring(url: &str, opts: &Options) -> Result<PathBuf, String> {
    std::fs::create_dir_all(&opts.work_dir).map_err(|e| e.to_string())?;
    let path = opts.work_dir.join("mirror-keyring.gpg");
    let (mut body, _) = http::open(&http::agent(), url).map_err(|e| e.to_string())?;
    let mut out = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::copy(&mut body, &mut out).map_err(|e| format!("fetching {url}: {e}"))?;
    Ok(path)
}

/// Writes the image to the disk, verified; a disk whose image failed is wiped.
fn write_image(
    img: &Image,
    target: &Path,
    opts: &Options,
    rep: &mut Reporter,
    log: &mut Log,
) -> Result<(), Failure> {
    rep.step(Step::Image, StepStatus::Started, &img.url);
    log.line(format!(
        "writing {} ({}) to {}",
        img.url,
        img.format.as_str(),
        target.display()
    ));
    let result = match img.format {
        ImageFormat::Qcow2 => write_qcow2(img, target, opts, rep, log),
        _ => stream_image(img, target, rep),
    };
    match result {
        Ok(written) => {
            log.line(format!("{written} bytes written, sha256 verified"));
            rep.step(
                Step::Image,
                StepStatus::Done,
                &format!("{written} bytes written, sha256 verified"),
            );
            Ok(())
        }
        Err(message) => {
            log.line(format!(
                "image failed: {message}; wiping the partition tables"
            ));
            if let Err(e) = disk::wipe_labels(target) {
                log.line(format!("wiping {} failed: {e}", target.display()));
            }
            Err(fail(Step::Image)(message))
        }
    }
}

/// Raw and compressed raw: fetched, hashed, decompressed and written in one pass.
fn stream_image(img: &Image, target: &Path, rep: &mut Reporter) -> Result<u64, String> {
    let (body, total) = http::open(&http::agent(), &img.url).map_err(|e| e.to_string())?;
    let mut disk = std::fs::OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(|e| format!("opening {}: {e}", target.display()))?;
    let w = stream::write_image(body, total, img.format, &img.sha256, &mut disk, &mut |p| {
        rep.progress(Step::Image, p.fetched, p.total, false)
    })
    .map_err(|e| e.to_string())?;
    disk.sync_all()
        .map_err(|e| format!("syncing {}: {e}", target.display()))?;
    rep.progress(Step::Image, w.fetched, total, true);
    Ok(w.written)
}

/// qcow2 needs random access: fetched (and verified) to a file first, then converted
/// to the disk by `qemu-img convert`.
fn write_qcow2(
    img: &Image,
    target: &Path,
    opts: &Options,
    rep: &mut Reporter,
    log: &mut Log,
) -> Result<u64, String> {
    std::fs::create_dir_all(&opts.work_dir).map_err(|e| e.to_string())?;
    let file = opts.work_dir.join("image.qcow2");
    let (body, total) = http::open(&http::agent(), &img.url).map_err(|e| e.to_string())?;
    let mut out = std::fs::File::create(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let w = stream::fetch_verified(body, total, &img.sha256, &mut out, &mut |p| {
        rep.progress(Step::Image, p.fetched, p.total, false)
    });
    drop(out);
    let w = match w {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            return Err(e.to_string());
        }
    };
    rep.progress(Step::Image, w.fetched, total, true);
    let converted = run(
        log,
        "qemu-img",
        &[
            "convert",
            "-n",
            "-f",
            "qcow2",
            "-O",
            "raw",
            &file.display().to_string(),
            &target.display().to_string(),
        ],
    );
    let _ = std::fs::remove_file(&file);
    converted.map_err(|e| e.to_string())?;
    Ok(w.fetched)
}

/// Hostname, network, users and keys in the mounted root.
fn configure_root(plan: &DeployPlan, root: &Path, log: &mut Log) -> Result<(), String> {
    let io = |e: std::io::Error| format!("writing into the installed system: {e}");
    configure::write_files(root, &configure::direct_files(plan)).map_err(io)?;
    if configure::has_cloud_init(root) {
        log.line("cloud-init found: users and keys go to its NoCloud seed");
        return configure::write_files(root, &configure::nocloud_seed(plan)).map_err(io);
    }
    let root_s = root.display().to_string();
    for u in &plan.users {
        if !user_exists(root, &u.name) {
            run(
                log,
                "useradd",
                &[
                    "--root",
                    &root_s,
                    "--create-home",
                    "--shell",
                    "/bin/bash",
                    &u.name,
                ],
            )
            .map_err(|e| e.to_string())?;
        }
        if let Some(hash) = &u.password_hash {
            run(
                log,
                "usermod",
                &["--root", &root_s, "--password", hash, &u.name],
            )
            .map_err(|e| e.to_string())?;
        }
    }
    configure::write_files(root, &configure::user_files(plan)).map_err(io)?;
    for u in &plan.users {
        own_home_ssh(root, &u.name).map_err(io)?;
    }
    Ok(())
}

/// The user's uid and gid in the root's `/etc/passwd`.
fn ids(root: &Path, user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&user))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

fn user_exists(root: &Path, user: &str) -> bool {
    ids(root, user).is_some()
}

/// `~/.ssh` and its keys belong to the user.
fn own_home_ssh(root: &Path, user: &str) -> std::io::Result<()> {
    let Some((uid, gid)) = ids(root, user) else {
        return Ok(());
    };
    let ssh = root.join("home").join(user).join(".ssh");
    if !ssh.exists() {
        return Ok(());
    }
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700))?;
    std::os::unix::fs::chown(&ssh, Some(uid), Some(gid))?;
    for e in std::fs::read_dir(&ssh)? {
        std::os::unix::fs::chown(e?.path(), Some(uid), Some(gid))?;
    }
    Ok(())
}

/// Runs the profile's post script in the installed system (with /dev, /proc, /sys).
fn post_script(
    plan: &DeployPlan,
    root: &Path,
    mounts: &mut Mounts,
    log: &mut Log,
) -> Result<(), String> {
    packages::chroot_mounts(root, mounts, log)?;
    let script = root.join("pxe-deploy-post.sh");
    std::fs::write(&script, &plan.post).map_err(|e| e.to_string())?;
    let result = run(
        log,
        "chroot",
        &[
            &root.display().to_string(),
            "/bin/sh",
            "/pxe-deploy-post.sh",
        ],
    );
    let _ = std::fs::remove_file(&script);
    result.map(|_| ()).map_err(|e| e.to_string())
}
