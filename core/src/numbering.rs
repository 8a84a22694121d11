//! Ticket numbers and business days.
//!
//! A ticket number is `{prefix}{n:03}` (`A001` … `A999`, then `A1000`, …), with `n` strictly
//! increasing per queue per business day. The business day is the calendar date in the site's
//! time zone, so numbering restarts at *local* midnight whatever the server's clock zone is, and
//! daylight-saving changes neither skip nor repeat a day.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A time zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?} (expected an IANA name such as Europe/Paris)")]
pub struct UnknownTimeZone(pub String);

/// Parses an IANA time zone name (`Europe/Paris`, `America/New_York`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, UnknownTimeZone> {
    name.parse::<Tz>()
        .map_err(|_| UnknownTimeZone(name.to_owned()))
}

/// Formats a ticket number: at least three digits, growing past 999 without truncation.
pub fn format_number(prefix: &str, n: u32) -> String {
    format!("{prefix}{n:03}")
}

/// First number of the range leased to kiosks for issuing offline (the server's own numbers
/// start at 1). Leases are taken above everything issued so far, and the server's own series
/// skips any leased block it reaches, so the two never meet.
pub const OFFLINE_FIRST: u32 = 5001;

/// Numbers in one kiosk lease.
pub const LEASE_SIZE: u32 = 50;

/// The business day `now` falls in, in time zone `tz`.
pub fn business_day(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The first instant of local date `day` in `tz`. Midnight can be skipped by a DST change (e.g.
/// America/Santiago in September); the day then starts at the first local time that exists.
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut local = day.and_time(NaiveTime::MIN);
    // DST gaps are at most a few hours; walk forward in 15-minute steps until the time exists.
    for _ in 0..(24 * 4) {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            // Clocks went back over midnight: the day starts at the first occurrence.
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => local += chrono::Duration::minutes(15),
        }
    }
    // Unreachable with real tz data; fall back to UTC midnight rather than panic.
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The instant the next business day starts (the next local midnight) after `now`.
pub fn next_day_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let today = business_day(now, tz);
    start_of_day(today.checked_add_days(Days::new(1)).unwrap_or(today), tz)
}

/// A queue's number counter: the business day and the last `n` issued in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCounter {
    pub business_day: NaiveDate,
    pub last: u32,
}

impl DayCounter {
    /// The counter after issuing one more number at `now`: `n + 1` on the same business day,
    /// `1` on a new one.
    pub fn next(prev: Option<DayCounter>, now: DateTime<Utc>, tz: Tz) -> DayCounter {
        let day = business_day(now, tz);
        match prev {
            Some(p) if p.business_day == day => DayCounter {
                business_day: day,
                last: p.last + 1,
            },
            _ => DayCounter {
                business_day: day,
                last: 1,
            },
        }
    }
}
