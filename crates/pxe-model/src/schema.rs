//! The inventory's keys, each with what it means: the single list that the loader checks
//! keys against (an unknown key is an error naming these) and that pxe-inventory(5) is
//! generated from, so the manual cannot describe a key the loader refuses, or miss one.

/// One key of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key as written in YAML.
    pub name: &'static str,
    /// Whether it must be present.
    pub required: Need,
    /// What it means and takes.
    pub doc: &'static str,
}

/// Whether a key must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// It must be there.
    Required,
    /// It may be left out (the doc says what then).
    Optional,
    /// Required, but a parent profile may give it.
    Inherited,
}

/// A mapping of the inventory and its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// How the manual names it (`distros.NAME`).
    pub path: &'static str,
    /// What it is.
    pub doc: &'static str,
    /// Its keys, in the order the manual lists them.
    pub keys: &'static [Key],
}

impl Mapping {
    /// The key names, for the unknown-key check.
    pub fn names(&self) -> Vec<&'static str> {
        self.keys.iter().map(|k| k.name).collect()
    }
}

const fn req(name: &'static str, doc: &'static str) -> Key {
    Key {
        name,
        required: Need::Required,
        doc,
    }
}

const fn opt(name: &'static str, doc: &'static str) -> Key {
    Key {
        name,
        required: Need::Optional,
        doc,
    }
}

/// The top level.
pub const TOP: Mapping = Mapping {
    path: "(top level)",
    doc: "The file is one YAML mapping with these keys.",
    keys: &[
        req(
            "servers",
            "Where the machines reach the suite: a mapping with tftp and http.",
        ),
        opt(
            "unknown_machines",
            "menu (the default): a machine not listed gets a menu of every profile, local boot \
             preselected; ignore: it gets no boot file at all.",
        ),
        opt(
            "menu",
            "The boot menu: a mapping with title, timeout and default.",
        ),
        opt(
            "loaders",
            "Boot loader file names under the TFTP root, per firmware (see loaders).",
        ),
        opt("distros", "Distribution name to distro (see distros.NAME)."),
        opt(
            "trees",
            "Tree name to a directory served at /trees/NAME/ like a distro's tree, with no \
             kernel: a Debian archive for deploy: packages:, a directory of disk images for \
             deploy: image:. Relative paths start at the inventory's directory; a name may \
             not be a distro's. httpd-tree import PATH --name NAME writes one.",
        ),
        opt("profiles", "Profile name to profile (see profiles.NAME)."),
        opt("machines", "Machine name to machine (see machines.NAME)."),
        opt(
            "machines_dir",
            "A directory of machines added through httpd-tree's API or pxectl, one file \
             NAME.yaml each with the keys of machines.NAME; relative paths start at the \
             inventory's directory. Loaded with the inventory and watched by the daemons; a \
             file whose name, MAC, address or UUID is already the inventory file's is not \
             loaded and is reported as a conflict.",
        ),
        opt(
            "distros_dir",
            "A directory of distros added through httpd-tree's API, one file NAME.yaml each \
             with the keys of distros.NAME; relative paths start at the inventory's \
             directory. Loaded with the inventory and watched by the daemons; a file named \
             like a distro of the inventory file, or that does not pass the checks, is not \
             loaded and is reported (conflict or invalid).",
        ),
        opt(
            "profiles_dir",
            "A directory of profiles added through httpd-tree's API, one file NAME.yaml each \
             with the keys of profiles.NAME (they may name the inventory file's distros and \
             parents, and the other way round); relative paths start at the inventory's \
             directory. Loaded and reported like distros_dir.",
        ),
    ],
};

/// `servers`.
pub const SERVERS: Mapping = Mapping {
    path: "servers",
    doc: "The addresses written into boot files and answer files.",
    keys: &[
        req(
            "tftp",
            "The IPv4 address of the TFTP server, handed out by dhcpd as next-server.",
        ),
        opt(
            "tftp6",
            "The IPv6 address of the TFTP server: dhcpd -6 hands IPv6 PXE clients \
             tftp://[ADDRESS]/LOADER as their boot file URL. Default: none, and such \
             clients get no boot file (UEFI HTTP boot and iPXE are given http URLs).",
        ),
        req(
            "http",
            "The base URL of httpd-tree, for example http://10.0.0.3:8080 (or \
             http://[fd00::3]:8080 on an IPv6-only network: every URL in boot files and \
             answer files starts with it).",
        ),
        opt(
            "trusted_proxies",
            "Addresses (one or a list) of HTTP proxies or NAT gateways in front of httpd-tree \
             whose X-Forwarded-For header names the client. Per-machine files (answer \
             files, iPXE scripts, per-MAC pxelinux and GRUB configs) go only to the \
             machine's own address: its fixed address or the one dhcpd last acknowledged \
             to it. A request from a listed proxy is judged by the right-most address in \
             X-Forwarded-For that is not itself a listed proxy; the header from anyone \
             else is ignored. Default: none.",
        ),
        opt(
            "tftp_nat_gateways",
            "Addresses (one or a list) of NAT gateways that installers behind them reach \
             tftpd through. tftpd serves a machine's per-MAC pxelinux and GRUB configs and \
             its iPXE script only to the machine's own address, as httpd-tree does, but a \
             TFTP request cannot name the client behind a NAT: a request from a listed \
             address gets any machine's TFTP files. Answer files stay with httpd-tree's \
             rule. Default: none.",
        ),
    ],
};

/// `menu`.
pub const MENU: Mapping = Mapping {
    path: "menu",
    doc: "The menu shown to machines that are not listed (and to listed ones whose profile \
          asks for it).",
    keys: &[
        opt("title", "The menu's title."),
        opt(
            "timeout",
            "Seconds before the default entry boots, 0 to 3600 (default 10).",
        ),
        opt(
            "default",
            "local (the default, so a menu never installs by itself), a profile name or \
             the name of one of the entries (a loader that cannot show that entry starts \
             local instead).",
        ),
        opt(
            "ui",
            "The pxelinux menu module: menu (menu.c32, the default) or vesamenu \
             (vesamenu.c32, graphical). tftpd --check lists the COM32 modules the menu \
             needs and says which are missing from the TFTP root.",
        ),
        opt(
            "background",
            "MENU BACKGROUND: an image (PNG, JPEG or LSS16, normally 640x480) under the \
             TFTP root; needs ui: vesamenu.",
        ),
        opt(
            "colors",
            "MENU COLOR per element: a mapping from an element (screen, border, title, \
             unsel, hotkey, sel, hotsel, disabled, scrollbar, tabmsg, cmdmark, cmdline, \
             pwdborder, pwdheader, pwdentry, timeout_msg, timeout, help, msgXX) to \
             \"ansi foreground background shadow\", as syslinux's menu.txt describes.",
        ),
        opt(
            "help",
            "Help screens: a mapping from a function key (F1 to F12) to a text file under \
             the TFTP root that pxelinux shows when the key is pressed.",
        ),
        opt(
            "prompt",
            "true or false: pxelinux's PROMPT 1 or 0 (default true).",
        ),
        opt(
            "entries",
            "More menu entries after local boot and the profiles: entry name to entry \
             (see menu.entries.NAME), in the order written.",
        ),
    ],
};

/// `menu.entries.NAME`.
pub const MENU_ENTRY: Mapping = Mapping {
    path: "menu.entries.NAME",
    doc: "A menu entry that is not a profile's install. Each loader renders the kinds it \
          can boot and leaves out the others: pxelinux all but winpe, GRUB local, \
          memtest with efi_kernel, rescue, install and chain with efi, iPXE all. Files \
          named here are paths under the TFTP root (iPXE fetches them from httpd-tree's \
          loaders).",
    keys: &[
        req(
            "kind",
            "local, memtest, rescue, install (interactive, no answer file), chain or \
             winpe.",
        ),
        opt("label", "The text shown (default: the entry's name)."),
        opt(
            "localboot",
            "kind local: pxelinux's LOCALBOOT type, 0 (the default), 4, 5, or -1 (0xffff, \
             written as -1) to hand back to the BIOS for its next boot device. GRUB finds \
             the disk's own UEFI loader; iPXE exits.",
        ),
        opt(
            "disk",
            "kind local: boot BIOS disk hdN through chain.c32 instead (hd0, hd1, ...); \
             iPXE uses sanboot --drive 0x80+N.",
        ),
        opt(
            "partition",
            "kind local with disk: the partition chain.c32 boots.",
        ),
        opt(
            "kernel",
            "kind memtest: memtest86+ for BIOS (loaded with LINUX, since pxelinux would \
             take a .bin for a boot sector).",
        ),
        opt(
            "efi_kernel",
            "kind memtest: memtest86+ for UEFI (memtest86+x64.efi), for GRUB and iPXE on \
             UEFI.",
        ),
        opt(
            "distro",
            "kinds rescue and install: the distro whose installer boots (rescue: \
             inst.rescue, rescue, rescue/enable=true per family; Ubuntu has none).",
        ),
        opt(
            "kernel_args",
            "kinds memtest, rescue and install: kernel arguments added.",
        ),
        opt(
            "bios",
            "kind chain: a network boot program for BIOS, chained by pxelinux through \
             pxechn.c32.",
        ),
        opt("efi", "kind chain: an EFI program GRUB chainloads."),
        opt(
            "url",
            "kind chain: what iPXE chains to (http://, https://, tftp://).",
        ),
        opt(
            "wimboot",
            "kind winpe: wimboot, a path under the TFTP root or a URL.",
        ),
        opt(
            "files",
            "kind winpe: the directory (path under the TFTP root or URL) holding \
             boot/bcd, boot/boot.sdi and sources/boot.wim. No Windows image could be \
             booted where this suite is tested.",
        ),
    ],
};

/// `loaders` (top level and per distro).
pub const LOADERS: Mapping = Mapping {
    path: "loaders",
    doc: "Boot loader file names relative to the TFTP root, per firmware; a distro may \
          override any of them.",
    keys: &[
        opt("bios", "BIOS PXE (default pxelinux.0)."),
        opt("uefi_ia32", "32-bit UEFI (default grubia32.efi)."),
        opt("uefi_x64", "x86-64 UEFI (default grubx64.efi)."),
        opt("uefi_arm64", "ARM64 UEFI (default grubaa64.efi)."),
        opt(
            "ipxe_bios",
            "iPXE for BIOS, for the ipxe chain (default undionly.kpxe).",
        ),
        opt(
            "ipxe_uefi",
            "iPXE for UEFI, for the ipxe chain (default ipxe.efi).",
        ),
    ],
};

/// `distros.NAME`.
pub const DISTRO: Mapping = Mapping {
    path: "distros.NAME",
    doc: "An install tree and how to boot its installer. `httpd-tree import PATH --distro \
          NAME` writes this entry from a tree's .treeinfo or its Debian/Ubuntu layout.",
    keys: &[
        opt("arch", "x86_64 (the default), i386 or aarch64."),
        req(
            "family",
            "redhat (kickstart), debian (preseed) or ubuntu (autoinstall): decides the \
             answer file and the kernel arguments that point at it.",
        ),
        req(
            "tree",
            "The install tree: a directory (relative to the inventory's directory; served \
             at /trees/NAME/ over HTTP and trees/NAME/ over TFTP, without copying), an \
             http:// or https:// mirror URL (then only the ipxe chain can boot it), or a \
             tree on an FTP or NFS server, ftp://HOST/PATH or nfs:HOST:/PATH (then kernel \
             and initrd are paths under the TFTP root, and the kernel arguments and answer \
             file point the installer at the server: inst.repo=nfs:..., kickstart nfs \
             --server, preseed mirror/ftp/...; Debian takes no NFS tree, Ubuntu only \
             http and https). Any other scheme, or HOST:/PATH without nfs:, is an error.",
        ),
        req(
            "kernel",
            "The installer's kernel, a path inside the tree (no ..).",
        ),
        req(
            "initrd",
            "The installer's initrd, a path inside the tree (no ..).",
        ),
        opt(
            "loaders",
            "Overrides of the top-level loaders for this distro.",
        ),
        opt(
            "version",
            "The release its installer belongs to (6.10, 7, \"CentOS 5.11\", \"Fedora \
             18\"). For the redhat family it picks the kernel arguments: ks= and method= \
             for EL 5, ks= and repo= for EL 6 (and Fedora before 19), inst.ks= and \
             inst.repo= for EL 7 and later. Without it, a tree on disk is asked (its \
             .treeinfo), else EL 7 and later is assumed.",
        ),
    ],
};

/// `profiles.NAME`.
pub const PROFILE: Mapping = Mapping {
    path: "profiles.NAME",
    doc: "What gets installed and how. A profile may inherit from a parent: the nearest \
          definition of a key wins, vars merge; a cycle is an error.",
    keys: &[
        opt("parent", "The profile this one inherits from."),
        Key {
            name: "distro",
            required: Need::Inherited,
            doc: "The distro it installs (here or in a parent).",
        },
        opt(
            "template",
            "The answer-file template: a minijinja file relative to the inventory, or \
             builtin:kickstart, builtin:preseed, builtin:autoinstall (the default for the \
             distro's family).",
        ),
        opt(
            "kernel_args",
            "Kernel arguments added after the ones the family needs (inst.ks=..., \
             auto=true priority=critical url=..., autoinstall ds=nocloud-net;s=...).",
        ),
        opt(
            "chain",
            "classic (the default: pxelinux for BIOS, GRUB for UEFI, all over TFTP) or \
             ipxe (iPXE, then scripts, kernel and initrd over HTTP).",
        ),
        opt("description", "The menu label."),
        opt(
            "vars",
            "Free-form template variables (timezone, root_password_hash, mirror_host, ...).",
        ),
        opt(
            "deploy",
            "Install with the deploy agent (pxe-deploy) instead of the distro's installer: \
             a mapping with image or packages, disk, users and post (see \
             profiles.NAME.deploy). The distro is then the deploy initramfs's kernel and \
             initrd.",
        ),
    ],
};

/// `profiles.NAME.deploy`.
pub const DEPLOY: Mapping = Mapping {
    path: "profiles.NAME.deploy",
    doc: "What the deploy agent writes: exactly one of image and packages, then the disk, \
          the users and the post-install script. The machine gets it as its deploy plan \
          (/deploy/MAC), only at its own address.",
    keys: &[
        opt(
            "image",
            "A disk image to stream to the disk: a mapping with url, format and sha256 \
             (see profiles.NAME.deploy.image).",
        ),
        opt(
            "packages",
            "Build the system with debootstrap: a mapping with mirror, suite and packages \
             (see profiles.NAME.deploy.packages).",
        ),
        opt(
            "disk",
            "The target disk: a mapping with device, firmware and filesystem (see \
             profiles.NAME.deploy.disk); the defaults fit most machines.",
        ),
        opt(
            "users",
            "The users to create: a list of mappings with name, ssh_keys, sudo and \
             password_hash (see profiles.NAME.deploy.users).",
        ),
        opt(
            "post",
            "A shell script run in the installed system (chroot) after everything else.",
        ),
    ],
};

/// `profiles.NAME.deploy.image`.
pub const DEPLOY_IMAGE: Mapping = Mapping {
    path: "profiles.NAME.deploy.image",
    doc: "A disk image, written whole to the disk while its checksum is verified.",
    keys: &[
        req(
            "url",
            "Where to fetch it: an http:// or https:// URL, or a path beginning with / on \
             httpd-tree (servers.http).",
        ),
        opt(
            "format",
            "raw, raw.zst, raw.xz, raw.gz or qcow2 (default: from the URL's ending, else raw).",
        ),
        req(
            "sha256",
            "The SHA-256 of the file as fetched (compressed if it is), 64 hex digits; a \
             mismatch fails the deploy.",
        ),
    ],
};

/// `profiles.NAME.deploy.packages`.
pub const DEPLOY_PACKAGES: Mapping = Mapping {
    path: "profiles.NAME.deploy.packages",
    doc: "A Debian system built on the disk by debootstrap.",
    keys: &[
        req(
            "mirror",
            "The Debian mirror's URL (http:// or https://, or a path on httpd-tree).",
        ),
        req("suite", "The suite or codename, such as bookworm."),
        opt(
            "packages",
            "Extra packages, a list (the kernel, GRUB and openssh-server are always added).",
        ),
        opt(
            "keyring",
            "The OpenPGP keyring the mirror's Release is signed with (http:// or a path on \
             httpd-tree); default: Debian's archive keyring.",
        ),
    ],
};

/// `profiles.NAME.deploy.disk`.
pub const DEPLOY_DISK: Mapping = Mapping {
    path: "profiles.NAME.deploy.disk",
    doc: "The whole disk the system goes to. An image brings its own partitions (the last \
          one is grown to the disk); packages mode partitions with GPT: a BIOS boot \
          partition, an EFI system partition and the root file system, as firmware says.",
    keys: &[
        opt(
            "device",
            "The disk, such as /dev/sda or /dev/nvme0n1 (default: the first non-removable \
             disk the agent finds).",
        ),
        opt(
            "firmware",
            "bios, uefi or both (the default: boots either way).",
        ),
        opt(
            "filesystem",
            "The root file system in packages mode: ext4 (the default) or xfs.",
        ),
    ],
};

/// `profiles.NAME.deploy.users[]`.
pub const DEPLOY_USER: Mapping = Mapping {
    path: "profiles.NAME.deploy.users[]",
    doc: "A user of the installed system.",
    keys: &[
        req(
            "name",
            "The login name (lower-case letters, digits, - and _).",
        ),
        opt(
            "ssh_keys",
            "Public SSH keys for ~/.ssh/authorized_keys, one or a list.",
        ),
        opt(
            "sudo",
            "true: may run anything with sudo, without a password.",
        ),
        opt(
            "password_hash",
            "A crypt(3) hash for /etc/shadow (default: no password, SSH keys only).",
        ),
    ],
};

/// `machines.NAME`.
pub const MACHINE: Mapping = Mapping {
    path: "machines.NAME",
    doc: "A machine the suite knows by its MAC address.",
    keys: &[
        req(
            "mac",
            "One MAC address or a list, in any spelling (52:54:00:12:34:56, 52-54-..., \
             5254.0012.3456); unique across machines.",
        ),
        opt("hostname", "The host name (default: the machine's name)."),
        opt(
            "address",
            "A fixed IPv4 address that dhcpd reserves for it; unique.",
        ),
        opt("uuid", "The SMBIOS UUID (pxelinux looks for it first)."),
        req("profile", "The profile it installs."),
        opt(
            "netboot",
            "install (the default: install until the installer calls back, then boot \
             locally) or local (always boot locally).",
        ),
        opt(
            "power",
            "Its BMC, for pxectl power and reinstall --power-cycle: a mapping with driver, \
             address, username and where the password is (see machines.NAME.power).",
        ),
    ],
};

/// `machines.NAME.power`.
pub const POWER: Mapping = Mapping {
    path: "machines.NAME.power",
    doc: "The machine's BMC. The password is never written here: password_file or \
          password_env says where the daemons find it (a password key is an error).",
    keys: &[
        req(
            "driver",
            "ipmi (IPMI v2.0 over the LAN, through ipmitool -I lanplus) or redfish.",
        ),
        req(
            "address",
            "ipmi: the BMC's host name or address; redfish: the service's base URL, such \
             as https://10.0.0.9.",
        ),
        opt("port", "ipmi: the BMC's UDP port (default 623)."),
        opt(
            "cipher_suite",
            "ipmi: the RMCP+ cipher suite, 0 to 17 (ipmitool -C). Without it ipmitool asks \
             the BMC which it has, and waits about 10 s for a BMC that does not say \
             (OpenIPMI's ipmi_sim, which takes 3).",
        ),
        req("username", "The BMC user."),
        opt(
            "password_file",
            "An absolute path to a file whose first line is the BMC password, readable by \
             httpd-tree's user only (ipmitool reads it with -f).",
        ),
        opt(
            "password_env",
            "The name of an environment variable of httpd-tree holding the BMC password \
             (handed to ipmitool as IPMI_PASSWORD with -E). One of password_file and \
             password_env is required.",
        ),
        opt(
            "system",
            "redfish: the ComputerSystem's path (default /redfish/v1/Systems/1).",
        ),
    ],
};

/// Every mapping, in the manual's order.
pub const ALL: &[Mapping] = &[
    TOP,
    SERVERS,
    MENU,
    MENU_ENTRY,
    LOADERS,
    DISTRO,
    PROFILE,
    DEPLOY,
    DEPLOY_IMAGE,
    DEPLOY_PACKAGES,
    DEPLOY_DISK,
    DEPLOY_USER,
    MACHINE,
    POWER,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        for m in ALL {
            let mut names = m.names();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "duplicate key in {}", m.path);
            for k in m.keys {
                assert!(k.doc.ends_with('.'), "{}.{}: a sentence", m.path, k.name);
            }
        }
    }
}
