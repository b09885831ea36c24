//! `dhcpd -T`: check the configuration, then read the lease file the way the server would at
//! start, print what ISC prints (errors with carets, `lease X: no subnet.`, the count of leases
//! a rewrite would keep) and exit as ISC does: 0 once the file could be read, even when parts
//! of it were corrupt (ISC keeps what it can), 1 for a bad configuration or a missing file.

use std::io::Write;
use std::net::Ipv4Addr;

use crate::cli::Args;
use crate::conf::Output;
use crate::lease::{LeaseFile, LeaseTable, Time, in_range};

/// Print the lease-file report for a parsed file; returns how many leases a rewrite would
/// write, and the text of that rewrite.
pub fn report_leases(
    parsed: &LeaseFile,
    ranges: &[(Ipv4Addr, Ipv4Addr)],
    now: Time,
    err: &mut dyn Write,
) -> std::io::Result<(usize, String)> {
    for o in &parsed.output {
        match o {
            Output::Error(d) => err.write_all(&d.render(false))?,
            Output::Log(l) => writeln!(err, "{l}")?,
        }
    }
    let mut kept = Vec::new();
    for l in &parsed.leases {
        if ranges.iter().any(|(lo, hi)| in_range(l.ip, *lo, *hi)) {
            kept.push(l.clone());
        } else {
            writeln!(err, "lease {}: no subnet.", l.ip)?;
        }
    }
    let table = LeaseTable::from_leases(kept);
    let mut text = crate::lease::write::header();
    if let Some(d) = &parsed.server_duid {
        text.push_str(&crate::lease::write::server_duid(d));
    }
    let mut n = 0;
    for l in table
        .iter()
        .map(|l| l.settled(now))
        .filter(|l| l.worth_writing())
    {
        text.push_str(&crate::lease::write::lease(&l));
        n += 1;
    }
    Ok((n, text))
}

/// Run `-T` for `args`; returns the exit status.
pub fn run(args: &Args, err: &mut dyn Write) -> std::io::Result<i32> {
    let mut sink = std::io::sink();
    let out: &mut dyn Write = if args.quiet { &mut sink } else { err };
    let code = super::run(args, out)?;
    if code != 0 {
        return Ok(code);
    }
    // The addresses ISC makes lease structures for: every range of the compiled model.
    let inventory = args.inventory.as_deref().map(std::path::Path::new);
    let ranges = match crate::server::load_config(&args.conf, inventory) {
        Ok(loaded) => loaded.config.ranges(),
        Err(e) => {
            writeln!(out, "{e}\n\nexiting.")?;
            return Ok(1);
        }
    };
    // ISC names the file by its real path in every message after this point.
    let real = std::fs::canonicalize(&args.leases).and_then(|p| {
        let bytes = std::fs::read(&p)?;
        Ok((p, bytes))
    });
    let (real, bytes) = match real {
        Ok(r) => r,
        Err(e) => {
            let path = std::path::Path::new(&args.leases);
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            match (std::fs::canonicalize(dir), path.file_name()) {
                (Ok(d), Some(f)) => writeln!(
                    out,
                    "Can't open lease database {}: {} --\n  check for failed database rewrite attempt!",
                    d.join(f).display(),
                    crate::conf::io_error_text(&e)
                )?,
                _ => writeln!(
                    out,
                    "Failed to get realpath for {}: {}",
                    args.leases,
                    crate::conf::io_error_text(&e)
                )?,
            }
            writeln!(out, "\nexiting.")?;
            return Ok(1);
        }
    };
    let name = real.display().to_string();
    let parsed = crate::lease::parse::parse(&name, &bytes);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as Time);
    let (n, text) = report_leases(&parsed, &ranges, now, out)?;
    // Like ISC, prove the leases can be written: write the rewrite to a scratch file beside
    // the real one, then remove it.
    let scratch = format!("{name}.{}", std::process::id());
    std::fs::write(&scratch, text)?;
    writeln!(out, "Wrote {n} leases to leases file.")?;
    writeln!(
        out,
        "Lease file test successful, removing temp lease file: {scratch}"
    )?;
    std::fs::remove_file(&scratch)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_isc() {
        let loaded = crate::conf::parse_str(
            "d.conf",
            b"subnet 10.199.0.0 netmask 255.255.255.0 { range 10.199.0.10 10.199.0.20; }",
            crate::conf::ParseOptions::default(),
            &|_| Err(std::io::ErrorKind::NotFound.into()),
        );
        let resolve = |_: &str| None;
        let (model, _) = crate::model::compile(&loaded.config, &resolve).expect("compiles");
        let r = model.ranges();
        assert_eq!(
            r,
            vec![(Ipv4Addr::new(10, 199, 0, 10), Ipv4Addr::new(10, 199, 0, 20))]
        );
        // ISC 4.4.3 -T: "Wrote 0 leases" (the free one is not kept, the other has no subnet).
        let parsed = crate::lease::parse::parse(
            "g7.leases",
            b"lease 10.199.0.12 { binding state active; }\nlease 10.199.0.12 { binding state free; }\nlease 10.1.0.10 { binding state active; }\n",
        );
        let mut out = Vec::new();
        assert_eq!(report_leases(&parsed, &r, 0, &mut out).expect("write").0, 0);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "lease 10.1.0.10: no subnet.\n"
        );
    }
}
