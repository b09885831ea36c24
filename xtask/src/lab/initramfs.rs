//! The marker initramfs: an `/init` that prints a marker on the serial console and
//! powers the machine off. The overlay is a `newc` cpio archive written by hand, so it
//! needs no root and no external tool.

/// What `/init` prints once the kernel has started it.
pub(crate) const MARKER: &str = "PXE-SUITE-LAB-MARKER-OK";

struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn new() -> Cpio {
        Cpio {
            out: Vec::new(),
            ino: 1,
        }
    }

    fn pad4(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) {
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            u32::try_from(data.len()).unwrap_or(u32::MAX),
            0,
            0,
            0,
            0,
            u32::try_from(name.len() + 1).unwrap_or(u32::MAX),
            0,
        ];
        self.ino += 1;
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad4();
        self.out.extend_from_slice(data);
        self.pad4();
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040_755, &[]);
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, 0o100_000 | mode, data);
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[]);
        self.out
    }
}

/// `/init` of the marker: prints the marker; when the kernel command line carries an
/// answer-file URL (`url=`, as the lab's debian-family profiles do), it also does what
/// an installer does on the network: its own DHCP exchange, the answer-file fetch, and
/// the answer file's `late_command` (the install-complete callback).
const INIT: &str = r#"#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo
echo MARKER
url=""
for a in $(cat /proc/cmdline); do case "$a" in url=*) url="${a#url=}";; esac; done
if [ -n "$url" ]; then
  modprobe virtio_pci 2>/dev/null; modprobe virtio_net
  ip link set eth0 up
  if udhcpc -i eth0 -s /etc/lab-udhcpc -n -q -t 10 -V d-i; then
    if wget -q -O /tmp/answer "$url"; then
      echo ANSWER-FETCHED
      late=$(sed -n 's/^d-i preseed\/late_command string //p' /tmp/answer)
      if [ -n "$late" ] && sh -c "$late"; then echo CALLBACK-DONE; fi
    fi
  fi
fi
poweroff -f
"#;

const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  bound|renew) ip addr add "$ip/${mask:-24}" dev "$interface" ;;
esac
"#;

/// Lines `/init` prints, in order.
pub(crate) const ANSWER_FETCHED: &str = "PXE-SUITE-LAB-ANSWER-FETCHED";
pub(crate) const CALLBACK_DONE: &str = "PXE-SUITE-LAB-CALLBACK-DONE";

/// The marker initrd: the installer's initrd (for its busybox, kmod and modules)
/// followed by an overlay archive whose `/init` replaces the installer's. The kernel
/// unpacks concatenated archives in order, so later entries win.
pub(crate) fn build(installer_initrd: &[u8]) -> Vec<u8> {
    let init = INIT
        .replace("MARKER", MARKER)
        .replace("ANSWER-FETCHED", ANSWER_FETCHED)
        .replace("CALLBACK-DONE", CALLBACK_DONE);
    let mut c = Cpio::new();
    c.dir(".");
    c.dir("etc");
    c.file("init", 0o755, init.as_bytes());
    c.file("etc/lab-udhcpc", 0o755, UDHCPC_SCRIPT.as_bytes());
    let overlay = c.finish();
    let mut out = installer_initrd.to_vec();
    // A compressed archive is followed by the next one at a 4-byte boundary.
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(&overlay);
    out
}
