//! `cargo xtask`: project tasks, so that "works here" means "passes CI".
//!
//! - `ci`: installs what the tests need, then fmt, clippy, tidy and the whole test suite.
//! - `tidy`: the tree's own rules (module docs, workspace dependencies, no stdout in the
//!   daemons outside their command lines, no unused dependency, the fuzz targets build).
//! - `demo`: the lab: a VM installs itself through our three daemons, then boots from disk.
//! - `e2e`: every lab case (BIOS, UEFI, iPXE, installer, no reinstall loop, split hosts,
//!   classic config, HTTP boot, and the named families power, secureboot, proxydhcp,
//!   arm64); CI runs it.
//! - `ops`: the deployment checked for real (dist, units, xinetd, Containerfiles); CI runs it.
//! - `dist`, `man`: the release tree and tarball; the manual pages.
//! - `deploy-image`: the deploy agent's kernel and initramfs, from Debian packages.
//! - `soak`: the crash soak (dhcpd SIGKILLed 1000 times, no ACKed lease lost); too long for
//!   `ci`, run before resolving.

mod bench;
mod ci;
mod deploy_image;
mod dist;
mod fuzz;
mod image;
mod lab;
mod man;
mod mirror;
mod ops;
mod soak;
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci      install test dependencies (apt-get, as root), then cargo fmt --check,
          cargo clippy --all-targets -D warnings, tidy, each fuzz target for 20 s
          (cargo xtask fuzz --seconds 20), cargo test --workspace, the
          deployment checks (ops), every lab case (e2e) and, in a process of its
          own, the install case install-image-bios (builds mirror, image and deploy
          initramfs when missing); --install-only runs just that case
  tidy    the tree's rules, each problem as file:line: every module opens with a //! doc;
          members take every dependency from [workspace.dependencies]; the daemons write
          to stdout only on their listed command-line paths; no unused dependency (cargo
          machete, installed when missing); the fuzz targets build (cargo check);
          --quick: only the first three
  demo    the PXE lab: a VM network-boots through our dhcpd, tftpd and httpd-tree,
          installs (a marker initramfs makes the installer's calls), then boots again
          and gets its local disk; as root, installs what it needs; --install: a real
          install instead (install-image-bios, see e2e), its phases shown live
  e2e     every lab case, a to j and the named ones marked for CI (power-*, secureboot-*,
          proxydhcp-*, arm64-*), with the phases each passed through; fails if any fails
          options: --case LETTERS (e.g. --case ab) or a family or case name (--case
          secureboot, --case proxydhcp-uefi), --dhcpd ours|isc, --keep;
          --case install runs the install cases instead (an empty disk installed by the
          deploy agent, booted from disk, then booted with no network: an image on
          SeaBIOS and on OVMF, debootstrap from the lab mirror behind iPXE); named only,
          not in the default run; --case install-image-bios, install-image-uefi or
          install-packages-ipxe picks one; builds cargo xtask mirror, image and
          deploy-image first, cached)
  fuzz    bounded runs of the fuzz targets (cargo-fuzz): --seconds N (default 30),
          --sanitizer address|none, TARGET...; fails on any crash
  dist    release binaries, manual pages, units and example configurations laid out as
          they install (usr/sbin, etc, lib/systemd/system, usr/share/man) under
          target/dist/, plus a tarball; --only SERVICE, --out DIR, --no-tarball
  ops     the deployment checked for real: dist installed in a private overlay of this
          machine, systemd-analyze verify and security on the units, each daemon started
          from its unit answering a real client, socket activation, xinetd, the
          Containerfiles (hadolint, build steps run without an engine); CI runs it
  deploy-image
          the deploy initramfs (target/deploy-image/out/initrd.gz, a sorted cpio with
          one mtime: SOURCE_DATE_EPOCH or the last commit's) and its kernel (vmlinuz),
          from Debian packages (apt-get download, cached): busybox-static, the disk
          tools with their libraries, linux-image-amd64 and its modules, and pxe-deploy
          (release build); --boot-check boots it under qemu (TCG) until the agent asks
          for its plan
  man     write the manual pages (deploy/man/) from the daemons' --help definitions;
          CI fails when the committed pages are not current
  mirror  the Debian 12 archive subset the lab installs from (target/lab/mirror): base
          system, kernel, GRUB BIOS and EFI, openssh-server, cloud-init and their
          dependencies, signed; cached; --out DIR; --check serves it with httpd-tree
          in a private namespace and fetches it all with apt; see --help
  image   a bootable Debian 12 disk image built from that mirror
          (target/lab/images/debian12.raw, .raw.zst, .qcow2: GPT, BIOS and UEFI GRUB,
          serial console); cached; --check boots it with SeaBIOS and OVMF to the login
          prompt; as root; see --help
  bench   side-by-side benchmarks with the reference servers (bench tftp, bench http,
          bench dhcp; bench dhcp --database: ours and Kea with their leases in one
          durable PostgreSQL server); ratios go to docs/performance.md
  soak    the crash soak: SIGKILLs our dhcpd --kills N times (default 1000) in DORA storms
          and during its start-up, restarting it on the same lease file, and finds every
          ACK captured on the wire in that file; figures from target/soak/report.json go
          to docs/performance.md; fails if any ACKed lease is lost. Not part of ci (1000
          kills take about 35 minutes): run it before resolving. --seed N repeats a run's
          schedule; --max-minutes M starts no kill after M minutes (and then fails: not
          whole)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("tidy") => tidy::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("demo") => lab::demo(&args[1..]),
        Some("e2e") => lab::e2e(&args[1..]),
        Some("man") => man::run(&args[1..]),
        Some("dist") => dist::run(&args[1..]),
        Some("deploy-image") => deploy_image::run(&args[1..]),
        Some("ops") => ops::run(&args[1..]),
        Some("mirror") => mirror::run(&args[1..]),
        Some("image") => image::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("-h" | "--help") | None => {
            eprint!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
