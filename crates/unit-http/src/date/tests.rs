//! Known IMF-fixdate vectors, round trips across calendar edges, rejected
//! inputs and the date cache.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{DateCache, civil_from_days, days_from_civil, http_date, parse_http_date};

fn at(seconds: i64) -> SystemTime {
    match u64::try_from(seconds) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs()),
    }
}

/// Formats `seconds`, compares with `expected`, and parses it back.
fn check(seconds: i64, expected: &str) {
    assert_eq!(http_date(at(seconds)), expected, "seconds: {seconds}");
    assert_eq!(
        parse_http_date(expected),
        Some(at(seconds)),
        "text: {expected}"
    );
}

#[test]
fn known_vectors() {
    check(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    check(784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT");
    check(951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT");
    check(951_868_800, "Wed, 01 Mar 2000 00:00:00 GMT");
    check(1_234_567_890, "Fri, 13 Feb 2009 23:31:30 GMT");
    check(1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT");
    check(2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT");
    check(4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT");
    check(4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT");
    check(253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT");
    check(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
    check(-86_400 * 365, "Wed, 01 Jan 1969 00:00:00 GMT");
}

#[test]
fn sub_second_parts_are_truncated() {
    let time = at(784_111_777) + Duration::from_millis(999);
    assert_eq!(http_date(time), "Sun, 06 Nov 1994 08:49:37 GMT");
    let before_epoch = UNIX_EPOCH - Duration::from_millis(1);
    assert_eq!(http_date(before_epoch), "Wed, 31 Dec 1969 23:59:59 GMT");
}

#[test]
fn calendar_round_trip() {
    // Every day from 1600 to 2400 maps to a date and back.
    let first = days_from_civil(1600, 1, 1);
    let last = days_from_civil(2400, 12, 31);
    let mut previous = civil_from_days(first - 1);
    for days in first..=last {
        let (year, month, day) = civil_from_days(days);
        assert_eq!(days_from_civil(year, month, day), days);
        assert!((1..=12).contains(&month) && (1..=31).contains(&day));
        assert!((year, month, day) > previous, "{days}");
        previous = (year, month, day);
    }
    assert_eq!(last - first + 1, 801 * 365 + 195);
}

fn check_parse(text: &str, expected: Option<i64>) {
    assert_eq!(parse_http_date(text), expected.map(at), "text: {text:?}");
}

#[test]
fn parsing() {
    check_parse("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777));
    // The weekday is not cross-checked.
    check_parse("Mon, 06 Nov 1994 08:49:37 GMT", Some(784_111_777));
    check_parse("Sat, 31 Dec 2016 23:59:60 GMT", Some(1_483_228_800));
    check_parse("Sun, 6 Nov 1994 08:49:37 GMT", None);
    check_parse("Sunday, 06-Nov-94 08:49:37 GMT", None);
    check_parse("Sun Nov  6 08:49:37 1994", None);
    check_parse("Sun, 06 Nov 1994 08:49:37 UTC", None);
    check_parse("Sun, 06 nov 1994 08:49:37 GMT", None);
    check_parse("Xyz, 06 Nov 1994 08:49:37 GMT", None);
    check_parse("Sun, 31 Nov 1994 08:49:37 GMT", None);
    check_parse("Sun, 29 Feb 1900 00:00:00 GMT", None);
    check_parse("Tue, 29 Feb 2000 00:00:00 GMT", Some(951_782_400));
    check_parse("Sun, 00 Nov 1994 08:49:37 GMT", None);
    check_parse("Sun, 06 Nov 1994 24:00:00 GMT", None);
    check_parse("Sun, 06 Nov 1994 08:60:00 GMT", None);
    check_parse("Sun, 06 Nov 1994 08:49:61 GMT", None);
    check_parse("Sun, 06 Nov 1994 08:49:3x GMT", None);
    check_parse("Sun, 06 Nov +994 08:49:37 GMT", None);
    check_parse(" Sun, 06 Nov 1994 08:49:37 GMT", None);
    check_parse("", None);
    check_parse("Sun, 06 Nov 1994 08:49:37 GMTé", None);
}

#[test]
fn cache_reformats_once_per_second() {
    let mut date_cache = DateCache::new();
    assert_eq!(date_cache.current(), "");
    let start = at(784_111_777);
    assert_eq!(date_cache.get(start), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(date_cache.current(), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(
        date_cache.get(start + Duration::from_millis(900)),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
    assert_eq!(
        date_cache.get(start + Duration::from_secs(1)),
        "Sun, 06 Nov 1994 08:49:38 GMT"
    );
    assert_eq!(date_cache.get(start), "Sun, 06 Nov 1994 08:49:37 GMT");
}
