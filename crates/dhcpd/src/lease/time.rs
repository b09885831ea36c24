//! Dates as `dhcpd.leases` spells them: `W YYYY/MM/DD HH:MM:SS` in UTC (`W` the weekday,
//! 0 = Sunday), `never`, or `epoch N` (ISC's `db-time-format local`). Formatting follows ISC's
//! `print_time`, with the calendar from `jiff` (through [`pxe_daemon::time`]); the value of a
//! parsed date follows ISC's `parse_date_core` arithmetic exactly, including its quirks (a
//! year of 2038 or later is `never`; the weekday is ignored).

use super::{MAX_TIME, Time};

/// `W YYYY/MM/DD HH:MM:SS;` (with the semicolon) or `never;`, as ISC's `print_time`.
pub fn format(t: Time) -> String {
    if t == MAX_TIME {
        return "never;".into();
    }
    let c = pxe_daemon::time::civil(t);
    let weekday = c.weekday().to_sunday_zero_offset();
    // Written digit by digit: this runs for every lease written, and `format!` was a
    // noticeable part of a commit's CPU. A year outside 0..=9999 (never from a `Time` of
    // a lease) takes the general path, so the text is always `{:04}`'s.
    let year = c.year();
    let Some(y) = u16::try_from(year).ok().filter(|y| *y <= 9999) else {
        return format!(
            "{weekday} {year:04}/{:02}/{:02} {:02}:{:02}:{:02};",
            c.month(),
            c.day(),
            c.hour(),
            c.minute(),
            c.second()
        );
    };
    let mut s = String::with_capacity(24);
    s.push(char::from(b'0' + weekday.unsigned_abs() % 10));
    s.push(' ');
    for d in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10] {
        // Each `d` is one digit (0..=9).
        s.push(char::from_digit(u32::from(d), 10).unwrap_or('0'));
    }
    for (sep, n) in [
        ('/', c.month()),
        ('/', c.day()),
        (' ', c.hour()),
        (':', c.minute()),
        (':', c.second()),
    ] {
        // Month, day, hour, minute and second are 0..=60, never negative.
        let n = n.unsigned_abs();
        s.push(sep);
        s.push(char::from(b'0' + n / 10 % 10));
        s.push(char::from(b'0' + n % 10));
    }
    s.push(';');
    s
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

/// Unix seconds of a valid UTC calendar time (tests and fixtures); 0 for a date that does
/// not exist.
pub fn from_civil(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> Time {
    let narrow = |v: i64| i8::try_from(v).unwrap_or(-1);
    let year = i16::try_from(y).unwrap_or(-1);
    pxe_daemon::time::unix_secs(
        year,
        narrow(m),
        narrow(d),
        narrow(hh),
        narrow(mm),
        narrow(ss),
    )
    .unwrap_or(0)
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

    /// The digit-by-digit text is what `format!` writes, over many dates (every hour of
    /// days spread over 1970..2038 and a few second and minute values).
    #[test]
    fn digits_are_what_format_writes() {
        let mut t: Time = 0;
        while t < 2_200_000_000 {
            for dt in [0, 1, 59, 61, 3599, 3661] {
                let at = t + dt;
                let c = pxe_daemon::time::civil(at);
                let want = format!(
                    "{} {:04}/{:02}/{:02} {:02}:{:02}:{:02};",
                    c.weekday().to_sunday_zero_offset(),
                    c.year(),
                    c.month(),
                    c.day(),
                    c.hour(),
                    c.minute(),
                    c.second()
                );
                assert_eq!(format(at), want, "at {at}");
            }
            t += 86_400 * 37 + 3_600 * 5;
        }
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
