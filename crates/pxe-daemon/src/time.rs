//! Calendar times in UTC for logs, pages and the API, on `jiff` (no hand-written calendar):
//! the common log format's `[10/Oct/2000:13:55:36 +0000]`, RFC 3339 for JSON, a readable
//! form for pages, and the civil fields ISC's lease file spells out.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// The UTC calendar time of Unix seconds; out-of-range values are clamped to jiff's range
/// (years -9999 to 9999).
pub fn civil(unix_secs: i64) -> DateTime {
    let secs = unix_secs.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    let ts = Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH);
    TimeZone::UTC.to_datetime(ts)
}

/// Unix seconds of a UTC calendar time, `None` for a date that does not exist.
pub fn unix_secs(year: i16, month: i8, day: i8, hour: i8, minute: i8, second: i8) -> Option<i64> {
    let dt = jiff::civil::DateTime::new(year, month, day, hour, minute, second, 0).ok()?;
    Some(TimeZone::UTC.to_timestamp(dt).ok()?.as_second())
}

fn from_ms(unix_ms: u64) -> DateTime {
    civil(i64::try_from(unix_ms / 1000).unwrap_or(i64::MAX))
}

/// `10/Oct/2000:13:55:36 +0000`: the time field of the common and combined log formats.
pub fn clf(unix_ms: u64) -> String {
    from_ms(unix_ms)
        .strftime("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

/// `2026-11-21 22:14:31Z`, for pages people read.
pub fn readable(unix_ms: u64) -> String {
    from_ms(unix_ms).strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// `2026-11-21T22:14:31.250Z` (RFC 3339, milliseconds), for JSON.
pub fn rfc3339(unix_ms: u64) -> String {
    format!(
        "{}.{:03}Z",
        from_ms(unix_ms).strftime("%Y-%m-%dT%H:%M:%S"),
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
        let before = civil(-1);
        assert_eq!(
            (before.year(), before.month(), before.day(), before.hour()),
            (1969, 12, 31, 23)
        );
        assert_eq!(unix_secs(2000, 10, 10, 13, 55, 36), Some(971_186_136));
        assert_eq!(unix_secs(2001, 2, 29, 0, 0, 0), None);
    }

    #[test]
    fn agrees_with_httpdate_for_many_days() {
        // httpdate formats the same instants independently; compare the date parts.
        for day in (0..40_000i64).step_by(37) {
            let secs = day * 86_400 + 3_723;
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
            let http = httpdate::fmt_http_date(t); // "Sun, 06 Nov 1994 08:49:37 GMT"
            let want = civil(secs)
                .strftime("%a, %d %b %Y 01:02:03 GMT")
                .to_string();
            assert_eq!(http, want);
        }
    }

    #[test]
    fn extreme_values_do_not_panic() {
        for ms in [u64::MAX, u64::MAX / 2, 253_402_300_799_999] {
            assert!(!clf(ms).is_empty());
        }
        let _ = civil(i64::MIN);
    }
}
