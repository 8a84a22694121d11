//! RFC 3339 timestamps written the way chrono's serde support writes them, several times faster.
//!
//! A ticket carries up to nine timestamps and is serialized three times per change on the
//! server (stored row, event, answer). chrono formats through `core::fmt`, one `write_char` at a
//! time, which was ~4 % of the server's writer thread and of its request threads. This writes
//! the same text (`2026-12-02T09:50:57.484433039Z`: UTC, `Z`, the fraction with 0, 3, 6 or 9
//! digits — as many as needed) into a stack buffer; anything outside the common case (years
//! outside 0–9999, a leap second) goes through chrono itself. A property test checks the output
//! is byte for byte chrono's.
//!
//! Use it on `DateTime<Utc>` fields with `#[serde(serialize_with = "timefmt::serialize")]`
//! (or [`option::serialize`] for `Option<DateTime<Utc>>`); deserialization is chrono's.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

/// The longest text the fast path writes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// Calls `f` with `t` as chrono's serde support would write it.
pub fn with_rfc3339<R>(t: &DateTime<Utc>, f: impl FnOnce(&str) -> R) -> R {
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return f(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    let mut buf = [0u8; MAX_LEN];
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (at..at + digits).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    let (fraction, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos % 1_000_000 == 0 {
        (nanos / 1_000_000, 3)
    } else if nanos % 1_000 == 0 {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let mut len = 19;
    if digits > 0 {
        put(20, fraction, digits);
        buf[19] = b'.';
        len = 20 + digits;
    }
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (len, b'Z'),
    ] {
        buf[i] = c;
    }
    // Only ASCII digits and separators were written.
    f(std::str::from_utf8(&buf[..=len]).unwrap_or_default())
}

/// `t` as chrono's serde support writes it (see the module docs).
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    with_rfc3339(t, str::to_owned)
}

/// Serializes a `DateTime<Utc>` as chrono does, faster.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    with_rfc3339(t, |text| s.serialize_str(text))
}

/// The same for `Option<DateTime<Utc>>` (`None` is `null`).
pub mod option {
    use super::*;

    /// Serializes an `Option<DateTime<Utc>>` as chrono does, faster.
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn chrono_json(t: &DateTime<Utc>) -> String {
        serde_json::to_string(t).unwrap()
    }

    fn ours_json(t: &DateTime<Utc>) -> String {
        let mut out = Vec::new();
        serialize(t, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_fraction_length_and_the_edges_match_chrono() {
        let base = Utc.with_ymd_and_hms(2026, 12, 2, 9, 50, 57).unwrap();
        for nanos in [
            0,
            1,
            7_000,
            484_000_000,
            484_433_000,
            484_433_039,
            999_999_999,
        ] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            assert_eq!(ours_json(&t), chrono_json(&t), "{nanos} ns");
        }
        for t in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap(),
        ] {
            assert_eq!(ours_json(&t), chrono_json(&t));
        }
        // A leap second (nanoseconds ≥ 10⁹) goes through chrono.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        assert_eq!(ours_json(&leap), chrono_json(&leap));
        assert_eq!(rfc3339(&base), "2026-12-02T09:50:57Z");
        let none: Option<DateTime<Utc>> = None;
        let mut out = Vec::new();
        option::serialize(&none, &mut serde_json::Serializer::new(&mut out)).unwrap();
        assert_eq!(out, b"null");
    }

    proptest! {
        #[test]
        fn any_instant_is_written_as_chrono_writes_it(
            secs in -62_167_219_200i64..253_402_300_800i64,
            nanos in prop_oneof![Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000), (0u32..1_000_000).prop_map(|u| u * 1_000), 0u32..1_000_000_000],
        ) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            prop_assert_eq!(ours_json(&t), chrono_json(&t));
        }
    }
}
