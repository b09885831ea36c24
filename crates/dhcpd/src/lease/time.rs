//! Dates as `dhcpd.leases` spells them: `W YYYY/MM/DD HH:MM:SS` in UTC (`W` the weekday,
//! 0 = Sunday), `never`, or `epoch N` (ISC's `db-time-format local`). Formatting follows ISC's
//! `print_time`; the value of a parsed date follows ISC's `parse_date_core` arithmetic exactly,
//! including its quirks (a year of 2038 or later is `never`; the weekday is ignored).

use super::{MAX_TIME, Time};

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `W YYYY/MM/DD HH:MM:SS;` (with the semicolon) or `never;`, as ISC's `print_time`.
pub fn format(t: Time) -> String {
    if t == MAX_TIME {
        return "never;".into();
    }
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7);
    format!(
        "{weekday} {y:04}/{m:02}/{d:02} {:02}:{:02}:{:02};",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// The fields of a `W YYYY/MM/DD HH:MM:SS [TZOFF]` date, as numbers already read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateParts {
    /// Year as written (ISC subtracts 1900 when it is above 1900).
    pub year: i64,
    /// Month, 1-based.
    pub month: i64,
    /// Day of month.
    pub day: i64,
    /// Hour.
    pub hour: i64,
    /// Minute.
    pub minute: i64,
    /// Second.
    pub second: i64,
    /// Time zone offset in seconds (rarely written).
    pub tzoff: i64,
}

/// ISC's value for a date: its own day arithmetic (`parse_date_core`), which agrees with the
/// calendar for valid dates between 1970 and 2037 and does something defined for the rest.
pub fn value(p: DateParts) -> Time {
    const MONTHS: [i64; 11] = [31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    // ISC reads each field with atoi() into an int: keep them in that range so the
    // arithmetic below cannot overflow.
    let c = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    let p = DateParts {
        year: c(p.year),
        month: c(p.month),
        day: c(p.day),
        hour: c(p.hour),
        minute: c(p.minute),
        second: c(p.second),
        tzoff: c(p.tzoff),
    };
    let year = if p.year > 1900 { p.year - 1900 } else { p.year };
    if year >= 138 {
        return MAX_TIME;
    }
    let mon = p.month - 1;
    let month_days = if mon >= 1 {
        usize::try_from(mon - 1)
            .ok()
            .and_then(|i| MONTHS.get(i))
            .copied()
            .unwrap_or(0)
    } else {
        0
    };
    let leap = i64::from(mon > 1 && ((year - 72) & 3) == 0);
    let days = 365 * (year - 70) + (year - 69) / 4 + month_days + leap + p.day - 1;
    ((days * 24 + p.hour) * 60 + p.minute) * 60 + p.second + p.tzoff
}

/// Unix seconds of a valid UTC calendar time (tests and fixtures).
pub fn from_civil(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> Time {
    days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_isc() {
        // From a lease file written by ISC 4.4.3: a Saturday.
        let t = from_civil(2026, 11, 21, 22, 14, 58);
        assert_eq!(format(t), "6 2026/11/21 22:14:58;");
        assert_eq!(format(0), "4 1970/01/01 00:00:00;");
        assert_eq!(format(MAX_TIME), "never;");
        assert_eq!(
            format(from_civil(2024, 1, 17, 10, 0, 0)),
            "3 2024/01/17 10:00:00;"
        );
    }

    #[test]
    fn isc_arithmetic_matches_the_calendar() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2024, 3, 1),
            (2037, 12, 31),
            (2026, 11, 21),
        ] {
            let parts = DateParts {
                year: y,
                month: m,
                day: d,
                hour: 13,
                minute: 5,
                second: 9,
                tzoff: 0,
            };
            assert_eq!(value(parts), from_civil(y, m, d, 13, 5, 9), "{y}-{m}-{d}");
        }
        let late = DateParts {
            year: 2038,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            tzoff: 0,
        };
        assert_eq!(value(late), MAX_TIME);
    }

    #[test]
    fn nonsense_dates_do_not_panic() {
        for v in [i64::MIN / 4, -1, 0, 13, 99, 1_000_000] {
            let p = DateParts {
                year: v,
                month: v,
                day: v,
                hour: v,
                minute: v,
                second: v,
                tzoff: v,
            };
            let _ = value(p);
        }
    }
}
