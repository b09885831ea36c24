//! Lab cases chosen by name, grouped in families by the name's first word (`install-…`,
//! `power-…`, `secureboot-…`, `proxydhcp-…`, `arm64-…`, `ipv6-…`). `--case FAMILY` runs every case of the
//! family; a case marked `in_ci` also runs in a plain `cargo xtask e2e` (CI's lab run).

use super::{Lab, Report, arm64, install, ipv6, power, proxydhcp, secureboot};
use anyhow::{Result, bail};

/// One named case.
pub(crate) struct Named {
    pub(crate) name: &'static str,
    pub(crate) describe: &'static str,
    /// Runs in `cargo xtask e2e` with no `--case` (fast enough for CI).
    pub(crate) in_ci: bool,
}

/// A family of named cases and how to run one of them.
pub(crate) struct Family {
    /// The first word of every case name in it; `--case PREFIX` runs them all.
    pub(crate) prefix: &'static str,
    pub(crate) cases: fn() -> Vec<Named>,
    pub(crate) run: fn(&mut Lab, &str) -> Result<Report>,
}

/// Every family. A new family adds one line here and a module of its own.
pub(crate) fn families() -> Vec<Family> {
    vec![
        Family {
            prefix: "install",
            cases: install::named,
            run: install::run,
        },
        Family {
            prefix: "power",
            cases: power::named,
            run: power::run,
        },
        Family {
            prefix: "secureboot",
            cases: secureboot::named,
            run: secureboot::run,
        },
        Family {
            prefix: "arm64",
            cases: arm64::named,
            run: arm64::run,
        },
        Family {
            prefix: "proxydhcp",
            cases: proxydhcp::named,
            run: proxydhcp::run,
        },
        Family {
            prefix: "ipv6",
            cases: ipv6::named,
            run: ipv6::run,
        },
    ]
}

fn family_of(word: &str) -> Option<Family> {
    families().into_iter().find(|f| {
        word == f.prefix
            || word
                .strip_prefix(f.prefix)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}

/// True when `word` belongs to a family (the caller then calls [`select`]).
pub(crate) fn is_named(word: &str) -> bool {
    family_of(word).is_some()
}

/// The cases a `--case` word names: a family's prefix is all of its cases.
pub(crate) fn select(word: &str) -> Result<Vec<&'static str>> {
    let Some(family) = family_of(word) else {
        bail!(
            "--case {word}: no such case (named cases: {})",
            all_names().join(", ")
        );
    };
    let cases = (family.cases)();
    if word == family.prefix {
        return Ok(cases.iter().map(|c| c.name).collect());
    }
    match cases.iter().find(|c| c.name == word) {
        Some(c) => Ok(vec![c.name]),
        None => bail!(
            "--case {word}: no such {} case ({}; `{}` runs them all)",
            family.prefix,
            cases.iter().map(|c| c.name).collect::<Vec<_>>().join(", "),
            family.prefix
        ),
    }
}

/// Every named case.
pub(crate) fn all_names() -> Vec<&'static str> {
    families()
        .iter()
        .flat_map(|f| (f.cases)().into_iter().map(|c| c.name))
        .collect()
}

/// The named cases a plain `cargo xtask e2e` runs.
pub(crate) fn in_ci() -> Vec<&'static str> {
    families()
        .iter()
        .flat_map(|f| (f.cases)().into_iter().filter(|c| c.in_ci).map(|c| c.name))
        .collect()
}

fn find(name: &str) -> Option<(Family, Named)> {
    let family = family_of(name)?;
    let case = (family.cases)().into_iter().find(|c| c.name == name)?;
    Some((family, case))
}

pub(crate) fn describe(name: &str) -> &'static str {
    find(name).map_or("a named case", |(_, c)| c.describe)
}

/// Runs one named case and stops what it started.
pub(crate) fn run(lab: &mut Lab, name: &str) -> Result<Report> {
    let Some((family, _)) = find(name) else {
        bail!("no named case {name}");
    };
    let r = (family.run)(lab, name);
    lab.stop_all();
    r
}
