//! Calendar arithmetic (proleptic Gregorian, no date-time crate) and the
//! step from parsed parts to ns since the epoch.

const NS: i64 = 1_000_000_000;
const DAY: i64 = 86_400;

pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

pub use sluice_sdk::{civil_from_days, days_from_civil};

/// What a format read from the text. Missing date parts are an error,
/// except the year, which is inferred.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    pub year: Option<i64>,
    pub month: Option<u32>,
    pub day: Option<u32>,
    /// Day of the year, 1-based (`%j`).
    pub yday: Option<u32>,
    pub hour: u32,
    /// `hour` is on a 12-hour clock (`%I`).
    pub hour12: bool,
    /// `Some(true)` for PM (`%p`).
    pub pm: Option<bool>,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// Seconds east of UTC, when the text says.
    pub offset: Option<i32>,
    /// Seconds since the epoch (`%s`), which fixes the instant by itself.
    pub epoch: Option<i64>,
}

impl Parts {
    /// The instant in ns since the epoch. `offset` applies when the text
    /// has none; `now` (ns) picks the year when the text has none: this year,
    /// or the one before if that would be more than a day in the future.
    pub fn resolve(&self, offset: i32, now: i64) -> Result<i64, String> {
        if let Some(epoch) = self.epoch {
            return epoch
                .checked_mul(NS)
                .and_then(|ns| ns.checked_add(i64::from(self.nanos)))
                .ok_or_else(|| "out of range".to_owned());
        }
        let hour = self.hour_of_day()?;
        if self.minute > 59 {
            return Err(format!("minute {} out of range", self.minute));
        }
        // 60 is a leap second; it is counted as the next minute's first.
        if self.second > 60 {
            return Err(format!("second {} out of range", self.second));
        }
        let offset = self.offset.unwrap_or(offset);
        let secs_of_day = i64::from(hour) * 3600 + i64::from(self.minute) * 60;
        let secs_of_day = secs_of_day + i64::from(self.second) - i64::from(offset);
        let instant = |days: i64| -> Result<i64, String> {
            days.checked_mul(DAY)
                .and_then(|s| s.checked_add(secs_of_day))
                .and_then(|s| s.checked_mul(NS))
                .and_then(|ns| ns.checked_add(i64::from(self.nanos)))
                .ok_or_else(|| "out of range".to_owned())
        };
        if let Some(year) = self.year {
            return instant(self.days(year)?);
        }
        // No year in the text: this year where the text's clock is.
        let local_now = now / NS + i64::from(offset);
        let (this_year, _, _) = civil_from_days(local_now.div_euclid(DAY));
        let mut first_error = None;
        for year in (this_year - 8..=this_year).rev() {
            match self.days(year).and_then(instant) {
                Ok(ns) if year == this_year && ns > now.saturating_add(DAY * NS) => continue,
                Ok(ns) => return Ok(ns),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| "no year fits".to_owned()))
    }

    fn hour_of_day(&self) -> Result<u32, String> {
        let h = self.hour;
        if self.hour12 {
            if !(1..=12).contains(&h) {
                return Err(format!("hour {h} out of range for a 12-hour clock"));
            }
            return Ok(h % 12 + if self.pm == Some(true) { 12 } else { 0 });
        }
        if h > 23 {
            return Err(format!("hour {h} out of range"));
        }
        Ok(match self.pm {
            Some(true) if h < 12 => h + 12,
            Some(false) if h == 12 => 0,
            _ => h,
        })
    }

    /// Days since the epoch of the date in `year`.
    fn days(&self, year: i64) -> Result<i64, String> {
        if !(1..=9999).contains(&year) {
            return Err(format!("year {year} out of range"));
        }
        match (self.month, self.day, self.yday) {
            (Some(month), Some(day), _) => {
                if !(1..=12).contains(&month) {
                    return Err(format!("month {month} out of range"));
                }
                if day < 1 || day > days_in_month(year, month) {
                    return Err(format!("{year:04}-{month:02} has no day {day}"));
                }
                Ok(days_from_civil(year, month, day))
            }
            (_, _, Some(yday)) => {
                let len = if is_leap(year) { 366 } else { 365 };
                if yday < 1 || yday > len {
                    return Err(format!("{year:04} has no day of the year {yday}"));
                }
                Ok(days_from_civil(year, 1, 1) + i64::from(yday) - 1)
            }
            _ => Err("no date (month and day, or day of the year)".to_owned()),
        }
    }
}

/// A month from its English name or three-letter abbreviation, any case.
/// Returns the month (1-12) and the bytes read.
pub fn month_from_name(text: &str) -> Option<(u32, usize)> {
    name_in(text, &MONTHS).map(|(i, n)| (i as u32 + 1, n))
}

/// A weekday name or abbreviation, any case: its index and the bytes read.
pub fn weekday_from_name(text: &str) -> Option<(usize, usize)> {
    name_in(text, &WEEKDAYS)
}

fn name_in(text: &str, names: &[&str]) -> Option<(usize, usize)> {
    let starts = |prefix: &str| {
        text.len() >= prefix.len()
            && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    // The full name first, so `June` is not read as `Jun` + `e`.
    for (i, name) in names.iter().enumerate() {
        if starts(name) {
            return Some((i, name.len()));
        }
    }
    for (i, name) in names.iter().enumerate() {
        if starts(&name[..3]) {
            return Some((i, 3));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_over_four_centuries() {
        for days in (days_from_civil(1800, 1, 1)..days_from_civil(2200, 1, 1)).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn leap_years() {
        assert!(is_leap(2000) && is_leap(2024) && !is_leap(1900) && !is_leap(2100));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        // 2024-02-29 and 2024-03-01 are one day apart.
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 29),
            1
        );
    }

    #[test]
    fn names() {
        assert_eq!(month_from_name("Jun 14"), Some((6, 3)));
        assert_eq!(month_from_name("june 14"), Some((6, 4)));
        assert_eq!(month_from_name("SEPTEMBER"), Some((9, 9)));
        assert_eq!(month_from_name("Ju"), None);
        assert_eq!(weekday_from_name("Sun Dec"), Some((6, 3)));
        assert_eq!(weekday_from_name("thursday,"), Some((3, 8)));
    }

    fn parts(month: u32, day: u32, hour: u32) -> Parts {
        Parts {
            month: Some(month),
            day: Some(day),
            hour,
            ..Parts::default()
        }
    }

    /// ns of a UTC date-time.
    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        (days_from_civil(y, m, d) * DAY + h * 3600) * NS
    }

    #[test]
    fn missing_year_is_this_year_unless_more_than_a_day_ahead() {
        let now = at(2026, 1, 2, 12);
        // Jan 1: this year.
        assert_eq!(parts(1, 1, 0).resolve(0, now), Ok(at(2026, 1, 1, 0)));
        // Jan 3 11:00 is within a day: still this year (a clock a bit ahead).
        assert_eq!(parts(1, 3, 11).resolve(0, now), Ok(at(2026, 1, 3, 11)));
        // Dec 31 would be far ahead: last year.
        assert_eq!(parts(12, 31, 23).resolve(0, now), Ok(at(2025, 12, 31, 23)));
        // Feb 29 goes back to the last leap year.
        assert_eq!(parts(2, 29, 0).resolve(0, now), Ok(at(2024, 2, 29, 0)));
        // The year is the text's local one: at 2026-01-01 01:00 UTC it is
        // still 2025 at -05:00, so Dec 31 20:00 there is this year's.
        let now = at(2026, 1, 1, 1);
        assert_eq!(
            parts(12, 31, 20).resolve(-5 * 3600, now),
            Ok(at(2026, 1, 1, 1))
        );
    }

    #[test]
    fn twelve_hour_clock_and_ranges() {
        let base = |hour, pm| Parts {
            year: Some(2024),
            hour,
            hour12: true,
            pm,
            ..parts(3, 1, 0)
        };
        let day = at(2024, 3, 1, 0);
        assert_eq!(base(12, Some(false)).resolve(0, 0), Ok(day));
        assert_eq!(base(12, Some(true)).resolve(0, 0), Ok(day + 12 * 3600 * NS));
        assert_eq!(base(1, Some(true)).resolve(0, 0), Ok(day + 13 * 3600 * NS));
        assert!(base(13, None).resolve(0, 0).is_err());
        let bad = Parts {
            year: Some(2023),
            ..parts(2, 29, 0)
        };
        assert_eq!(bad.resolve(0, 0), Err("2023-02 has no day 29".to_owned()));
        let far = Parts {
            year: Some(2300),
            ..parts(1, 1, 0)
        };
        assert_eq!(far.resolve(0, 0), Err("out of range".to_owned()));
        let hour = Parts {
            year: Some(2024),
            ..parts(1, 1, 24)
        };
        assert!(hour.resolve(0, 0).is_err());
    }
}
