//! Calendar dates from Unix time, in UTC, for logs and pages (no time zone database).

/// A UTC calendar time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Splits Unix seconds into a UTC date and time (proleptic Gregorian calendar).
pub fn civil(unix_secs: i64) -> Civil {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    // Days since 0000-03-01, counted in 400-year eras of 146097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month: month as u32,
        day: day as u32,
        hour: (secs / 3600) as u32,
        minute: (secs / 60 % 60) as u32,
        second: (secs % 60) as u32,
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `10/Oct/2000:13:55:36 +0000`: the time field of the common and combined log formats.
pub fn clf(unix_ms: u64) -> String {
    let c = civil((unix_ms / 1000) as i64);
    let month = MONTHS
        .get(c.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!(
        "{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000",
        c.day, c.year, c.hour, c.minute, c.second
    )
}

/// `2026-11-21 22:14:31Z`, for pages people read.
pub fn readable(unix_ms: u64) -> String {
    let c = civil((unix_ms / 1000) as i64);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `2026-11-21T22:14:31.250Z` (RFC 3339), for JSON.
pub fn rfc3339(unix_ms: u64) -> String {
    let c = civil((unix_ms / 1000) as i64);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        unix_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(clf(0), "01/Jan/1970:00:00:00 +0000");
        // 2000-10-10 13:55:36 UTC, the Apache documentation's example moment.
        assert_eq!(clf(971_186_136_000), "10/Oct/2000:13:55:36 +0000");
        assert_eq!(readable(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            civil(-1),
            Civil {
                year: 1969,
                month: 12,
                day: 31,
                hour: 23,
                minute: 59,
                second: 59
            }
        );
    }

    #[test]
    fn agrees_with_httpdate_for_many_days() {
        // httpdate formats the same instants independently; compare the date parts.
        for day in (0..40_000i64).step_by(37) {
            let secs = day * 86_400 + 3_723;
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
            let http = httpdate::fmt_http_date(t); // "Sun, 06 Nov 1994 08:49:37 GMT"
            let c = civil(secs);
            let month = MONTHS[(c.month - 1) as usize];
            let want = format!("{:02} {month} {:04} 01:02:03", c.day, c.year);
            assert!(http.contains(&want), "{http} vs {want}");
        }
    }
}
