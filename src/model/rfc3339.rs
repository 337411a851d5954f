//! Time as text: RFC 3339 for the status line, and serde for `SystemTime` fields (the
//! state file's format). Our own, in 64-bit arithmetic on every target: humantime's
//! parser refuses any time after 2038-01-19 on 32-bit targets (armv7), and its formatter
//! panics on a time before 1970 or after 9999; here a time read is any year 1970-9999
//! (with any offset, as engines write it), and a time written is clamped to that range.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer;

/// The last second of year 9999: no later time is written.
const MAX_SECONDS: u64 = 253_402_300_799;

/// Writes `t` as RFC 3339 with milliseconds.
pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&timestamp(*t))
}

/// Reads `text` for serde, saying what was wrong with it.
fn read<E: serde::de::Error>(text: &str) -> Result<SystemTime, E> {
    parse(text).ok_or_else(|| E::custom(format!("'{}': not an RFC 3339 time", super::one_line(text, 64))))
}

/// The same for `Option<SystemTime>`.
pub(crate) mod option {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some(t)` as RFC 3339 (a `None` is skipped by the field's attribute).
    pub(crate) fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// Reads RFC 3339, or null.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Option::<String>::deserialize(d)?.map(|text| super::read(&text)).transpose()
    }
}

/// The same for a list.
pub(crate) mod list {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes each time as RFC 3339.
    pub(crate) fn serialize<S: Serializer>(ts: &[SystemTime], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ts.iter().map(|t| super::timestamp(*t)))
    }

    /// Reads a list of RFC 3339 times.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SystemTime>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|text| super::read(text)).collect()
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-27T20:00:00.123Z`.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let (date, nanos) = civil(t);
    format!("{date}.{:03}Z", nanos / 1_000_000)
}

/// The same with nanoseconds (the Engine API's `since` and `until`).
pub(crate) fn timestamp_nanos(t: SystemTime) -> String {
    let (date, nanos) = civil(t);
    format!("{date}.{nanos:09}Z")
}

/// The same to the second.
pub(crate) fn timestamp_seconds(t: SystemTime) -> String {
    format!("{}Z", civil(t).0)
}

/// `t` as `YYYY-MM-DDTHH:MM:SS` in UTC, and its nanoseconds; clamped to 1970-9999.
fn civil(t: SystemTime) -> (String, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let (secs, nanos) = match since.as_secs() {
        s if s > MAX_SECONDS => (MAX_SECONDS, 999_999_999),
        s => (s, since.subsec_nanos()),
    };
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, on days since 1970-01-01 (never negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    (format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}"), nanos)
}

/// Reads an RFC 3339 time: `YYYY-MM-DDTHH:MM:SS`, an optional fraction (its first nine
/// digits kept), then `Z` or an offset `±HH:MM`. `t` or a space may stand for `T`, `z`
/// for `Z`. `None` for anything else, or a time before 1970 or after 9999.
pub(crate) fn parse(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Option<u64> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0u64, |n, c| c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0')))
    };
    let separators = b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') && b.get(13) == Some(&b':');
    if !separators || b.get(16) != Some(&b':') || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let days_in_month = *month_days.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0u32;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + u32::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        nanos *= 10u32.pow(u32::try_from(9usize.saturating_sub(at - start)).ok()?);
    }
    let offset: i64 = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = i64::try_from(h * 60 + m).ok()?;
            if *sign == b'+' { minutes * 60 } else { -minutes * 60 }
        }
        _ => return None,
    };
    // Days since 1970-01-01 by days-from-civil, then the time of day, less the offset.
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = i64::try_from(era * 146_097 + doe).ok()? - 719_468;
    let local = days * 86_400 + i64::try_from(hour * 3600 + minute * 60 + second).ok()?;
    let utc = u64::try_from(local - offset).ok().filter(|s| *s <= MAX_SECONDS)?;
    UNIX_EPOCH.checked_add(Duration::new(utc, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_and_written_as_engines_and_the_state_file_write_them() {
        let at = |s: u64, n: u32| UNIX_EPOCH + Duration::new(s, n);
        assert_eq!(parse("2026-11-18T11:06:40.000Z"), Some(at(1_795_000_000, 0)));
        assert_eq!(parse("2026-12-07T14:02:29.569123456Z"), Some(at(1_796_652_149, 569_123_456)));
        assert_eq!(parse("2026-12-07T15:02:29.5+01:00"), Some(at(1_796_652_149, 500_000_000)));
        assert_eq!(parse("2026-12-07T09:02:29-05:00"), Some(at(1_796_652_149, 0)));
        assert_eq!(parse("2026-12-07T14:02:29.1234567891234Z"), Some(at(1_796_652_149, 123_456_789)));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        // After 2038 on every target, 32-bit ones included.
        assert_eq!(parse("2038-01-19T03:14:08.000Z"), Some(at(2_147_483_648, 0)));
        assert_eq!(parse("9999-12-31T23:59:59Z"), Some(at(MAX_SECONDS, 0)));
        for bad in [
            "",
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-18T24:00:00Z",
            "2026-11-18T11:06:40",
            "2026-11-18T11:06:40.Z",
            "2026-11-18T11:06:40Zjunk",
            "2026-11-18T11:06:40+1:00",
            "1970-01-01T00:00:00+00:01",
            "+026-11-18T11:06:40Z",
            "2026-11-18T11:06:40.000Z\u{e9}",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(timestamp(at(1_795_000_000, 0)), "2026-11-18T11:06:40.000Z");
        assert_eq!(timestamp(at(2_147_483_648, 7_000_000)), "2038-01-19T03:14:08.007Z");
        assert_eq!(timestamp_nanos(at(1_796_652_149, 569_123_456)), "2026-12-07T14:02:29.569123456Z");
        assert_eq!(timestamp_seconds(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        // Never a panic: clamped at both ends.
        assert_eq!(timestamp(UNIX_EPOCH - Duration::from_secs(1)), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(at(MAX_SECONDS * 4, 0)), "9999-12-31T23:59:59.999Z");
    }

    proptest::proptest! {
        #[test]
        fn every_written_time_reads_back_as_humantime_reads_it(secs in 0u64..=MAX_SECONDS, millis in 0u32..1000) {
            let t = UNIX_EPOCH + Duration::new(secs, millis * 1_000_000);
            let text = timestamp(t);
            proptest::prop_assert_eq!(parse(&text), Some(t));
            if secs <= i32::MAX as u64 {
                proptest::prop_assert_eq!(humantime::format_rfc3339_millis(t).to_string(), text.clone());
                proptest::prop_assert_eq!(humantime::parse_rfc3339(&text).ok(), Some(t));
            }
        }

        #[test]
        fn any_text_is_read_or_refused_without_a_panic(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }
    }
}
