//! Ticket numbers and business days across midnight and DST changes.

use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use smartqueue_core::numbering::{
    DayCounter, business_day, format_number, next_day_start, parse_timezone, start_of_day,
};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn numbers_are_zero_padded_and_grow_past_999() {
    assert_eq!(format_number("A", 1), "A001");
    assert_eq!(format_number("A", 42), "A042");
    assert_eq!(format_number("B", 999), "B999");
    assert_eq!(format_number("B", 1000), "B1000");
    assert_eq!(format_number("VIP", 12345), "VIP12345");
    assert_eq!(format_number("", 7), "007");
}

#[test]
fn counter_increments_within_a_day_and_resets_at_local_midnight() {
    let paris: Tz = parse_timezone("Europe/Paris").unwrap();
    // 22:58 UTC on 25 Nov is 23:58 in Paris; 23:01 UTC is 00:01 on 26 Nov in Paris.
    let c1 = DayCounter::next(None, utc(2026, 11, 25, 22, 0), paris);
    let c2 = DayCounter::next(Some(c1), utc(2026, 11, 25, 22, 58), paris);
    let c3 = DayCounter::next(Some(c2), utc(2026, 11, 25, 23, 1), paris);
    let c4 = DayCounter::next(Some(c3), utc(2026, 11, 25, 23, 2), paris);
    assert_eq!((c1.business_day, c1.last), (day(2026, 11, 25), 1));
    assert_eq!((c2.business_day, c2.last), (day(2026, 11, 25), 2));
    assert_eq!(
        (c3.business_day, c3.last),
        (day(2026, 11, 26), 1),
        "local midnight, not UTC midnight"
    );
    assert_eq!(c4.last, 2);
}

#[test]
fn business_day_follows_the_site_not_utc() {
    let auckland = parse_timezone("Pacific/Auckland").unwrap(); // UTC+13 in November
    let la = parse_timezone("America/Los_Angeles").unwrap(); // UTC-8
    let now = utc(2026, 11, 25, 11, 30);
    assert_eq!(business_day(now, auckland), day(2026, 11, 26));
    assert_eq!(business_day(now, la), day(2026, 11, 25));
    assert_eq!(
        business_day(utc(2026, 11, 26, 7, 59), la),
        day(2026, 11, 25)
    );
    assert_eq!(business_day(utc(2026, 11, 26, 8, 0), la), day(2026, 11, 26));
}

#[test]
fn dst_spring_forward_and_fall_back_keep_one_day_per_date() {
    let paris = parse_timezone("Europe/Paris").unwrap();
    // 29 March 2026: 02:00 → 03:00 local (01:00 UTC). The day is 23 hours long.
    let start = start_of_day(day(2026, 3, 29), paris);
    let next = next_day_start(start, paris);
    assert_eq!(start, utc(2026, 3, 28, 23, 0));
    assert_eq!((next - start).num_hours(), 23);
    assert_eq!(
        business_day(utc(2026, 3, 29, 0, 59), paris),
        day(2026, 3, 29)
    );
    assert_eq!(
        business_day(utc(2026, 3, 29, 1, 0), paris),
        day(2026, 3, 29)
    );
    // 25 October 2026: 03:00 → 02:00 local. The day is 25 hours long, 02:30 happens twice.
    let start = start_of_day(day(2026, 10, 25), paris);
    assert_eq!((next_day_start(start, paris) - start).num_hours(), 25);
    let a = DayCounter::next(None, utc(2026, 10, 25, 0, 30), paris); // 02:30 CEST
    let b = DayCounter::next(Some(a), utc(2026, 10, 25, 1, 30), paris); // 02:30 CET, an hour later
    assert_eq!(
        (b.business_day, b.last),
        (day(2026, 10, 25), 2),
        "the repeated hour does not reset numbering"
    );
    let c = DayCounter::next(Some(b), utc(2026, 10, 25, 23, 0), paris); // 00:00 on the 26th
    assert_eq!((c.business_day, c.last), (day(2026, 10, 26), 1));
}

#[test]
fn a_skipped_midnight_starts_the_day_at_the_first_existing_time() {
    // Chile springs forward at local midnight (first Sunday of September): 00:00 does not exist.
    let santiago = parse_timezone("America/Santiago").unwrap();
    let start = start_of_day(day(2026, 9, 6), santiago);
    let local = start.with_timezone(&santiago);
    assert_eq!(local.date_naive(), day(2026, 9, 6));
    assert_eq!(
        (local.hour(), local.minute()),
        (1, 0),
        "the day begins at 01:00 local"
    );
    assert_eq!(
        next_day_start(start - chrono::Duration::hours(3), santiago),
        start
    );
}

#[test]
fn unknown_time_zones_are_rejected() {
    let e = parse_timezone("Mars/Olympus").unwrap_err();
    assert!(e.to_string().contains("Mars/Olympus"));
}
