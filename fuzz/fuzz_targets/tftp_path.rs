//! tftpd's path policy: remap (`-m` rules, fixed or fuzzed) then resolve, for arbitrary
//! names, reads and writes, `-s` and multi-root mode, with an inventory generator serving
//! `trees/<distro>/…` from a directory outside the root.
//!
//! Whatever the name and rules, a lookup that succeeds names a file beneath one of the roots
//! (or beneath the distro tree, for tree files), by a canonical path with no symlink left in
//! it; a name that escapes is refused, never served. The tree built once per process has the
//! traps the unit tests use: symlinks out, `..` links, a sibling whose name extends the
//! root's, absolute links, a symlink chain to /etc.

#![no_main]

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tftpd::generated::{Found, Generator, Lookup};
use tftpd::inventory::InventoryFiles;
use tftpd::remap::Rules;
use tftpd::resolve::{self, Access, Policy, Roots};

/// Rules that try to build escapes: `..`, absolute paths, backslashes, case tricks, the
/// client address, restarts into the dead-man counter, tree prefixes.
const FIXED_RULES: &str = r"
r ^/?up(.*) ../\1
r ^abs/(.*) /\1
rg \\ /
ri ^efi/boot/ EFI/BOOT/
r ^ip(.*) \i\1
r ^hex(.*) \x/\1
r ^u(.*) \U\1
s ^loop
a ^deny(.*) denied\1
r ^t/(.*) trees/lab/\1
rG ^dots(.*) \1/../..
";

struct Env {
    base: PathBuf,
    secure: Roots,
    multi: Roots,
    tree: PathBuf,
    fixed: Rules,
    inventory: InventoryFiles,
}

fn file(p: &Path, mode: u32) {
    fs::write(p, b"x").expect("write");
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn build_env() -> Env {
    let base = std::env::temp_dir().join(format!("tftpd-fuzz-path-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    let root = base.join("root");
    let root2 = base.join("srv/tftp2");
    let tree = base.join("trees/lab");
    for d in [
        root.join("sub/deeper"),
        root.join("EFI/BOOT"),
        root2.clone(),
        base.join("outside"),
        base.join("rootfoo"),
        tree.join("images"),
    ] {
        fs::create_dir_all(d).expect("mkdir");
    }
    file(&root.join("pub.txt"), 0o644);
    file(&root.join("private.txt"), 0o600);
    file(&root.join("writable.txt"), 0o666);
    file(&root.join("sub/file.txt"), 0o644);
    file(&root.join("EFI/BOOT/BOOTX64.EFI"), 0o644);
    file(&root2.join("two.txt"), 0o644);
    file(&base.join("outside/secret.txt"), 0o644);
    file(&base.join("rootfoo/secret.txt"), 0o644);
    file(&tree.join("images/vmlinuz"), 0o644);
    let links: [(&Path, PathBuf); 10] = [
        (Path::new("pub.txt"), root.join("link_in")),
        (&root.join("pub.txt"), root.join("abs_in")),
        (&base.join("outside/secret.txt"), root.join("link_out")),
        (&base.join("outside"), root.join("dirlink_out")),
        (Path::new(".."), root.join("uplink")),
        (Path::new("chain2"), root.join("chain1")),
        (Path::new("/etc"), root.join("chain2")),
        (Path::new("/nonexistent/x"), root.join("dangling")),
        (Path::new("../../outside"), tree.join("out")),
        (Path::new("images/vmlinuz"), tree.join("kernel")),
    ];
    for (target, link) in links {
        symlink(target, link).expect("symlink");
    }
    let inventory_path = base.join("inventory.yaml");
    fs::write(
        &inventory_path,
        format!(
            "servers: {{tftp: 10.0.0.2, http: \"http://10.0.0.3\"}}\n\
             distros:\n  lab: {{family: redhat, tree: {}, kernel: images/vmlinuz, initrd: images/initrd}}\n\
             profiles:\n  p: {{distro: lab}}\n\
             machines:\n  m1: {{mac: 52:54:00:00:00:01, address: 10.0.0.50, profile: p}}\n",
            tree.display()
        ),
    )
    .expect("write inventory");
    let inventory = InventoryFiles::load(&inventory_path, None).expect("inventory loads");
    Env {
        secure: Roots::new(&[root.clone()], true).expect("roots"),
        multi: Roots::new(&[root, root2], false).expect("roots"),
        tree: tree.canonicalize().expect("tree"),
        fixed: Rules::parse(FIXED_RULES).expect("fixed rules parse"),
        inventory,
        base,
    }
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(build_env)
}

#[derive(Arbitrary, Debug)]
enum RuleChoice {
    None,
    Fixed,
    Text(String),
}

/// Path components that mean something in the tree: the traps, the directories, the
/// escapes. Names built from these reach the file system's corners far sooner than raw bytes
/// would (the fuzzer cannot see inside the kernel's path lookup).
const VOCABULARY: &[&str] = &[
    "..", ".", "", "link_in", "abs_in", "link_out", "dirlink_out", "uplink", "chain1",
    "chain2", "dangling", "sub", "deeper", "file.txt", "pub.txt", "private.txt",
    "writable.txt", "EFI", "BOOT", "BOOTX64.EFI", "efi", "boot", "trees", "lab", "images",
    "vmlinuz", "kernel", "out", "outside", "secret.txt", "rootfoo", "root", "srv", "tftp2",
    "two.txt", "passwd", "etc", "new.bin", "pxelinux.cfg", "01-52-54-00-00-00-01", "up", "abs",
    "t", "dots", "u", "ip", "hex", "deny", "loop", "\\", "%2e%2e", "\u{2215}",
];

#[derive(Arbitrary, Debug)]
enum Part {
    /// A word of [`VOCABULARY`].
    Known(u8),
    /// The absolute path of the first or second root directory, as given.
    Root(bool),
    /// The absolute path of the base directory that holds the roots and the traps.
    Base,
    /// Anything.
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Name {
    /// Components joined with `/`.
    Parts { absolute: bool, parts: Vec<Part> },
    /// Bytes as they come off the wire (decoded lossily, as `packet::parse` does).
    Wire(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    secure: bool,
    write: bool,
    permissive: bool,
    ipv6: bool,
    rules: RuleChoice,
    name: Name,
}

fn name_of(env: &Env, name: &Name) -> String {
    match name {
        Name::Wire(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Name::Parts { absolute, parts } => {
            let words: Vec<String> = parts
                .iter()
                .map(|p| match p {
                    Part::Known(i) => VOCABULARY[usize::from(*i) % VOCABULARY.len()].to_owned(),
                    Part::Root(second) => {
                        let r = if *second { "srv/tftp2" } else { "root" };
                        env.base.join(r).display().to_string()
                    }
                    Part::Base => env.base.display().to_string(),
                    Part::Raw(s) => s.clone(),
                })
                .collect();
            let joined = words.join("/");
            if *absolute { format!("/{joined}") } else { joined }
        }
    }
}

/// A resolved path must be canonical and beneath `root`.
fn assert_beneath(root: &Path, path: &Path, exists: bool, what: &str) {
    assert!(
        path.starts_with(root),
        "{what}: {} is not beneath {}",
        path.display(),
        root.display()
    );
    let real = if exists {
        path.canonicalize()
    } else {
        path.parent()
            .map(Path::canonicalize)
            .unwrap_or_else(|| Ok(PathBuf::new()))
            .map(|p| p.join(path.file_name().unwrap_or_default()))
    };
    let real = real.unwrap_or_else(|e| panic!("{what}: {}: {e}", path.display()));
    assert_eq!(real, path, "{what}: not canonical");
    assert!(!path.starts_with(env().base.join("outside")), "{what}: outside");
}

fuzz_target!(|input: Input| {
    let env = env();
    let roots = if input.secure { &env.secure } else { &env.multi };
    let name = name_of(env, &input.name);
    let parsed;
    let remap = match &input.rules {
        RuleChoice::None => None,
        RuleChoice::Fixed => Some(&env.fixed),
        RuleChoice::Text(text) => {
            let Ok(r) = Rules::parse(text) else { return };
            parsed = r;
            Some(&parsed)
        }
    };
    let client: IpAddr = if input.ipv6 {
        "2001:db8::50".parse().expect("ip")
    } else {
        "10.0.0.50".parse().expect("ip")
    };
    let access = if input.write {
        Access::Write
    } else {
        Access::Read
    };
    let policy = Policy {
        permissive: input.permissive,
        create: true,
    };

    if let Ok(n) = resolve::normalize(roots, &name) {
        assert!(
            !n.relative.starts_with('/')
                && n.relative
                    .split('/')
                    .all(|c| !matches!(c, "" | "." | "..")),
            "normalize left {:?}",
            n.relative
        );
    }

    let lookup = Lookup {
        roots,
        policy,
        remap,
        generator: Some(&env.inventory as &dyn Generator),
    };
    match lookup.find(&name, access, client) {
        Ok(Found::File(r)) => {
            assert!(
                roots.canonical().contains(&r.root),
                "root {} is not a root",
                r.root.display()
            );
            assert_beneath(&r.root, &r.path, r.exists, &name);
            assert!(r.exists || access == Access::Write, "{name}: read of a new file");
        }
        Ok(Found::Outside { file, .. }) => {
            assert_eq!(access, Access::Read, "{name}: a tree file was written");
            assert_eq!(file.root, env.tree, "{name}: tree root");
            assert_beneath(&file.root, &file.path, true, &name);
        }
        Ok(Found::Generated { .. }) => assert_eq!(access, Access::Read),
        Err(_) => {}
    }
});
