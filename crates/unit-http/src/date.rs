//! HTTP dates in the IMF-fixdate form of RFC 9110 section 5.6.7, e.g.
//! `Sun, 06 Nov 1994 08:49:37 GMT`, and a cache for the `Date` header.
//!
//! The calendar arithmetic is done here on whole seconds since the Unix
//! epoch (proleptic Gregorian calendar, UTC, no leap seconds), so no time
//! zone database or date crate is needed. Only IMF-fixdate is parsed; the
//! obsolete RFC 850 and asctime forms are not.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: i64 = 86_400;

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
const DAYS_FROM_MARCH_0000_TO_EPOCH: i64 = 719_468;

/// Days in one 400-year cycle of the Gregorian calendar.
const DAYS_PER_CYCLE: i64 = 146_097;

/// Weekday names, Sunday first.
const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats `time` as an IMF-fixdate, truncating to whole seconds.
pub fn http_date(time: SystemTime) -> String {
    let mut text = String::with_capacity(29);
    write_http_date(unix_seconds(time), &mut text);
    text
}

/// Parses an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// The weekday must be a valid name but is not checked against the date.
/// Returns `None` for anything else, including impossible dates.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 29
        || &bytes[3..5] != b", "
        || bytes[7] != b' '
        || bytes[11] != b' '
        || bytes[16] != b' '
        || bytes[19] != b':'
        || bytes[22] != b':'
        || &bytes[25..] != b" GMT"
    {
        return None;
    }
    if !DAY_NAMES.iter().any(|name| name.as_bytes() == &bytes[..3]) {
        return None;
    }
    let month_idx = MONTH_NAMES
        .iter()
        .position(|name| name.as_bytes() == &bytes[8..11])?;
    let month = u32::try_from(month_idx).ok()? + 1;
    let day = u32::try_from(parse_digits(&bytes[5..7])?).ok()?;
    let year = parse_digits(&bytes[12..16])?;
    let hour = parse_digits(&bytes[17..19])?;
    let minute = parse_digits(&bytes[20..22])?;
    let second = parse_digits(&bytes[23..25])?;
    // RFC 9110 allows a leap second of 60.
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    match u64::try_from(seconds) {
        Ok(after_epoch) => UNIX_EPOCH.checked_add(Duration::from_secs(after_epoch)),
        Err(_) => UNIX_EPOCH.checked_sub(Duration::from_secs(seconds.unsigned_abs())),
    }
}

/// Keeps the formatted `Date` value and re-formats it only when the second changes.
#[derive(Debug, Clone, Default)]
pub struct DateCache {
    /// The second `text` was formatted for; `None` before the first use.
    second: Option<i64>,
    text: String,
}

// === impl DateCache ===

impl DateCache {
    /// An empty cache; the first `get` formats.
    pub fn new() -> Self {
        Self::default()
    }

    /// The IMF-fixdate for `now`, formatted at most once per second.
    pub fn get(&mut self, now: SystemTime) -> &str {
        let second = unix_seconds(now);
        if self.second != Some(second) {
            self.text.clear();
            write_http_date(second, &mut self.text);
            self.second = Some(second);
        }
        &self.text
    }

    /// The text the last [`DateCache::get`] returned (empty before the first call).
    pub fn current(&self) -> &str {
        &self.text
    }
}

/// Whole seconds since the epoch, rounded down (also before 1970).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(error) => {
            let before = error.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

fn write_http_date(seconds: i64, text: &mut String) {
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday, index 4 when Sunday is 0.
    let weekday = (days + 4).rem_euclid(7);

    text.push_str(DAY_NAMES[weekday as usize]);
    text.push_str(", ");
    push_two_digits(i64::from(day), text);
    text.push(' ');
    text.push_str(MONTH_NAMES[month as usize - 1]);
    text.push(' ');
    if (0..10_000).contains(&year) {
        push_two_digits(year / 100, text);
        push_two_digits(year % 100, text);
    } else {
        text.push_str(&year.to_string());
    }
    text.push(' ');
    push_two_digits(second_of_day / 3600, text);
    text.push(':');
    push_two_digits(second_of_day / 60 % 60, text);
    text.push(':');
    push_two_digits(second_of_day % 60, text);
    text.push_str(" GMT");
}

fn push_two_digits(value: i64, text: &mut String) {
    let value = value.rem_euclid(100) as u8;
    text.push(char::from(b'0' + value / 10));
    text.push(char::from(b'0' + value % 10));
}

/// Converts days since 1970-01-01 to `(year, month 1-12, day 1-31)`.
///
/// Counting from 0000-03-01 puts February, and so the leap day, at the end
/// of each counted year; the 400-year cycle then makes every later step
/// plain integer division.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let from_march_0000 = days + DAYS_FROM_MARCH_0000_TO_EPOCH;
    let cycle = from_march_0000.div_euclid(DAYS_PER_CYCLE);
    let day_of_cycle = from_march_0000.rem_euclid(DAYS_PER_CYCLE);
    // Remove the leap days before `day_of_cycle` (every 4th year, except the
    // 100th, except the 400th) so that every year is 365 days long.
    let year_of_cycle = (day_of_cycle - day_of_cycle / 1460 + day_of_cycle / 36_524
        - day_of_cycle / (DAYS_PER_CYCLE - 1))
        / 365;
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    // Months from March have the lengths 31 30 31 30 31 31 30 31 30 31 31 (29),
    // which 153 days per 5 months captures exactly.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = cycle * 400 + year_of_cycle + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Converts a civil date to days since 1970-01-01; the inverse of `civil_from_days`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year_from_march = year - i64::from(month <= 2);
    let cycle = year_from_march.div_euclid(400);
    let year_of_cycle = year_from_march.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_cycle = 365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100 + day_of_year;
    cycle * DAYS_PER_CYCLE + day_of_cycle - DAYS_FROM_MARCH_0000_TO_EPOCH
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse_digits(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests;
