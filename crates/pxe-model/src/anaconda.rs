//! Red Hat's installer (anaconda) by generation: which kernel arguments point it at its
//! kickstart and its install tree.
//!
//! - EL 7 and later (Fedora 19 and later): `inst.ks=` and `inst.repo=`; the `inst.`
//!   prefix keeps them from the installed kernel's own options.
//! - EL 6 (and Fedora before 19): `ks=` and `repo=`.
//! - EL 5 (and 3 and 4): `ks=` and `method=` (its loader predates `repo=`).
//!
//! The generation comes from the distro's release: the inventory's `version`, or the
//! tree's `.treeinfo` (`[release] name`/`version`, or `[general] family`/`version` in
//! older trees). Without either, EL 7 and later is assumed.

use crate::import::parse_ini;

/// An installer generation whose boot options differ from the others'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Anaconda {
    /// EL 5: `ks=`, `method=`.
    El5,
    /// EL 6, Fedora before 19: `ks=`, `repo=`.
    El6,
    /// EL 7 and later, Fedora 19 and later: `inst.ks=`, `inst.repo=`.
    El7,
}

impl Anaconda {
    /// The kernel arguments that give this installer its kickstart and its tree.
    pub fn args(self, kickstart: &str, tree: &str) -> Vec<String> {
        match self {
            Anaconda::El5 => vec![format!("ks={kickstart}"), format!("method={tree}")],
            Anaconda::El6 => vec![format!("ks={kickstart}"), format!("repo={tree}")],
            Anaconda::El7 => vec![format!("inst.ks={kickstart}"), format!("inst.repo={tree}")],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Anaconda::El5 => "el5",
            Anaconda::El6 => "el6",
            Anaconda::El7 => "el7+",
        }
    }

    /// The generation of a release as written in an inventory or a `.treeinfo`: `5.11`,
    /// `6`, `7.9`, `9.3`, `CentOS 6.10`, `Red Hat Enterprise Linux Server 5.11`, `Fedora
    /// 18`, `fedora-40`. `None` when it names no major version.
    pub fn of_release(release: &str) -> Option<Anaconda> {
        let lower = release.to_ascii_lowercase();
        let fedora = lower.contains("fedora");
        // The version is the last word that starts with a digit.
        let major: u32 = lower
            .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
            .rev()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?
            .split('.')
            .next()?
            .parse()
            .ok()?;
        Some(match (fedora, major) {
            (true, 19..) => Anaconda::El7,
            (true, _) => Anaconda::El6,
            (false, 0) => return None,
            // EL 3 and 4 booted the same way as 5.
            (false, 1..=5) => Anaconda::El5,
            (false, 6) => Anaconda::El6,
            (false, _) => Anaconda::El7,
        })
    }
}

/// The release a `.treeinfo` names: `CentOS 6.10` from `[general] family`/`version`, or
/// `Rocky Linux 9.3` from `[release] name`/`version` (productmd trees). `None` without a
/// version.
pub fn treeinfo_release(text: &str) -> Option<String> {
    let ini = parse_ini(text);
    let get = |sec: &str, key: &str| {
        ini.get(sec)
            .and_then(|s| s.get(key))
            .filter(|v| !v.is_empty())
    };
    let (name, version) = match get("release", "version") {
        Some(v) => (get("release", "name"), v),
        None => (get("general", "family"), get("general", "version")?),
    };
    Some(match name {
        Some(n) => format!("{n} {version}"),
        None => version.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KS: &str = "http://10.0.0.3/ks/52:54:00:12:34:56";
    const TREE: &str = "http://10.0.0.3/trees/c";

    #[test]
    fn each_generation_gets_its_own_arguments() {
        let cases = [
            // (release, generation, arguments)
            ("5.11", Anaconda::El5, ["ks=", "method="]),
            ("CentOS 5.11", Anaconda::El5, ["ks=", "method="]),
            (
                "Red Hat Enterprise Linux Server 5",
                Anaconda::El5,
                ["ks=", "method="],
            ),
            ("6", Anaconda::El6, ["ks=", "repo="]),
            ("CentOS 6.10", Anaconda::El6, ["ks=", "repo="]),
            ("Fedora 18", Anaconda::El6, ["ks=", "repo="]),
            ("fedora-18", Anaconda::El6, ["ks=", "repo="]),
            ("7", Anaconda::El7, ["inst.ks=", "inst.repo="]),
            ("CentOS 7.9.2009", Anaconda::El7, ["inst.ks=", "inst.repo="]),
            ("Rocky Linux 9.3", Anaconda::El7, ["inst.ks=", "inst.repo="]),
            ("10", Anaconda::El7, ["inst.ks=", "inst.repo="]),
            ("Fedora 19", Anaconda::El7, ["inst.ks=", "inst.repo="]),
            ("Fedora 40", Anaconda::El7, ["inst.ks=", "inst.repo="]),
        ];
        for (release, generation, [ks, repo]) in cases {
            assert_eq!(Anaconda::of_release(release), Some(generation), "{release}");
            assert_eq!(
                generation.args(KS, TREE),
                [format!("{ks}{KS}"), format!("{repo}{TREE}")],
                "{release}"
            );
        }
        assert_eq!(Anaconda::of_release("CentOS 4.9"), Some(Anaconda::El5));
        for none in ["", "Rawhide", "CentOS Stream", "0", "x.1"] {
            assert_eq!(Anaconda::of_release(none), None, "{none:?}");
        }
    }

    #[test]
    fn treeinfo_of_each_generation() {
        // CentOS 5 and 6: [general] only.
        let c5 = "[general]\nfamily = CentOS\ntimestamp = 1411496366.51\nvariant = \nversion = 5.11\narch = x86_64\n\n[images-xen]\nkernel = images/xen/vmlinuz\n";
        assert_eq!(treeinfo_release(c5).as_deref(), Some("CentOS 5.11"));
        let c6 = "[general]\nfamily = CentOS\nversion = 6.10\narch = x86_64\n[images-x86_64]\nkernel = images/pxeboot/vmlinuz\n";
        assert_eq!(treeinfo_release(c6).as_deref(), Some("CentOS 6.10"));
        // CentOS 7 has both; productmd's [header] version is the file format's.
        let c7 = "[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n[release]\nname = CentOS\nshort = CentOS\nversion = 7\n\n[general]\nfamily = CentOS\nversion = 7\n";
        assert_eq!(treeinfo_release(c7).as_deref(), Some("CentOS 7"));
        let r9 = "[header]\nversion = 1.2\n[release]\nname = Rocky Linux\nshort = Rocky\nversion = 9.3\n";
        assert_eq!(treeinfo_release(r9).as_deref(), Some("Rocky Linux 9.3"));
        for (text, generation) in [
            (c5, Anaconda::El5),
            (c6, Anaconda::El6),
            (c7, Anaconda::El7),
            (r9, Anaconda::El7),
        ] {
            let release = treeinfo_release(text).expect("a release");
            assert_eq!(
                Anaconda::of_release(&release),
                Some(generation),
                "{release}"
            );
        }
        assert_eq!(treeinfo_release("[header]\nversion = 1.2\n"), None);
        assert_eq!(treeinfo_release("[general]\nversion =\n"), None);
    }
}
