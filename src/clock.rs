//! Time as pigsty reads and writes it: UTC, with the `time` crate (no `date` command,
//! no calendar arithmetic of our own).
use time::{
    format_description::FormatItem, macros::format_description, Date, OffsetDateTime,
    PrimitiveDateTime,
};

const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
const DATE_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const DATE_TIME_FRAC: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");

/// Microseconds since the epoch, now.
pub fn now_micros() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64
}

/// Seconds since the epoch -> `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn fmt_utc(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(DATE_TIME).ok())
        .unwrap_or_else(|| format!("@{secs}"))
}

/// Days since 1970-01-01 -> `YYYY-MM-DD`.
pub fn fmt_date(days: i64) -> String {
    let epoch =
        Date::from_calendar_date(1970, time::Month::January, 1).expect("1970-01-01 is a date");
    epoch
        .checked_add(time::Duration::days(days))
        .and_then(|d| d.format(DATE).ok())
        .unwrap_or_else(|| format!("+{days}d"))
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` in UTC -> microseconds since the epoch.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    let t = PrimitiveDateTime::parse(s, DATE_TIME_FRAC)
        .or_else(|_| PrimitiveDateTime::parse(s, DATE_TIME))
        .ok()?;
    Some((t.assume_utc().unix_timestamp_nanos() / 1000) as i64)
}

/// systemd's `us+utc` form (`Wed 2026-11-25 18:38:50.254696 UTC`) -> seconds.
pub fn parse_systemd_utc(s: &str) -> Option<f64> {
    let mut it = s.split_whitespace();
    let (_dow, date, time, tz) = (it.next()?, it.next()?, it.next()?, it.next()?);
    (tz == "UTC").then_some(())?;
    parse_utc(&format!("{date} {time}")).map(|us| us as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_round_trips_to_the_microsecond() {
        let t = parse_utc("2026-11-25 23:01:02.5").unwrap();
        assert_eq!(fmt_utc(t / 1_000_000), "2026-11-25 23:01:02");
        assert_eq!(t % 1_000_000, 500_000);
        assert_eq!(parse_utc("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_utc("2026-13-01 00:00:00"), None);
        assert_eq!(parse_utc("2026-11-25 18:00"), None);
    }

    #[test]
    fn dates_follow_the_calendar() {
        assert_eq!(fmt_date(0), "1970-01-01");
        assert_eq!(fmt_date(19_782), "2024-02-29");
        assert_eq!(fmt_date(20_819), "2027-01-01");
    }

    #[test]
    fn systemd_timestamps_read_to_the_microsecond() {
        assert_eq!(
            parse_systemd_utc("Thu 1970-01-01 00:00:01.500000 UTC"),
            Some(1.5)
        );
        assert_eq!(parse_systemd_utc("Wed 2026-11-25 18:38:50 CET"), None);
        assert_eq!(parse_systemd_utc("n/a"), None);
    }
}
