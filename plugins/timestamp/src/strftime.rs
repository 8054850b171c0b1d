//! strftime-style patterns for parsing (`%Y-%m-%d %H:%M:%S%.f`).
//!
//! Directives: `%Y` (4 digits) `%y` (2 digits: 69-99 are 19xx, 00-68 20xx)
//! `%m` `%d` `%H` `%I` `%M` `%S` (1 or 2 digits) `%e` (day, space-padded)
//! `%j` (day of the year) `%b` `%B` `%h` (month name or abbreviation) `%a`
//! `%A` (weekday name, read and ignored) `%p` (AM/PM) `%f` (fraction
//! digits, any count; `%3f` `%6f` `%9f` exactly that many) `%.f` (an
//! optional `.` or `,` and fraction) `%L` (milliseconds as a number, 1 to 3
//! digits, padded or not: HealthApp's `22:25:13:8` is 8 ms, not 800) `%z` `%:z` (`Z`, `+hh`, `+hhmm`,
//! `+hh:mm`) `%Z` (`UTC`, `GMT`, `UT` or `Z` only) `%s` (epoch seconds)
//! `%T` `%D` `%F` `%R` `%r` (shorthands) `%n` `%t` (whitespace) `%%`.
//! The flags `-`, `_` and `0` are accepted and ignored: numbers are read
//! with or without padding. A space matches any run of whitespace, even
//! none; other characters match themselves (letters in any case).

use crate::civil::{month_from_name, weekday_from_name, Parts};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Year,
    Year2,
    Month,
    Day,
    Yday,
    Hour,
    Hour12,
    Minute,
    Second,
    Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(char),
    Space,
    Number {
        num: Num,
        min: usize,
        max: usize,
    },
    /// Fraction digits; `exact` digits when set. `optional` is `%.f`: a
    /// leading `.` or `,`, and nothing at all is fine too.
    Fraction {
        exact: Option<usize>,
        optional: bool,
    },
    MonthName,
    WeekdayName,
    AmPm,
    Offset,
    ZoneName,
    Epoch,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    items: Vec<Item>,
}

impl Pattern {
    pub fn compile(pattern: &str) -> Result<Pattern, String> {
        let mut items = Vec::new();
        compile_into(pattern, &mut items)?;
        let has = |f: &dyn Fn(&Item) -> bool| items.iter().any(f);
        let month = has(&|i| {
            matches!(
                i,
                Item::MonthName
                    | Item::Number {
                        num: Num::Month,
                        ..
                    }
            )
        });
        let day = has(&|i| matches!(i, Item::Number { num: Num::Day, .. }));
        let yday = has(&|i| matches!(i, Item::Number { num: Num::Yday, .. }));
        let epoch = has(&|i| matches!(i, Item::Epoch));
        if !(month && day || yday || epoch) {
            return Err(
                "the pattern has no date: it needs %d with %m or %b, or %j, or %s".to_owned(),
            );
        }
        Ok(Pattern { items })
    }

    /// Reads `text`, all of it, into parts.
    pub fn parse(&self, text: &str) -> Result<Parts, String> {
        let mut parts = Parts::default();
        let mut at = 0;
        for item in &self.items {
            let rest = &text[at..];
            let used = read(item, rest, &mut parts).map_err(|e| format!("{e} at byte {at}"))?;
            at += used;
        }
        if at < text.len() {
            return Err(format!("unexpected {:?} at byte {at}", &text[at..]));
        }
        Ok(parts)
    }
}

fn compile_into(pattern: &str, items: &mut Vec<Item>) -> Result<(), String> {
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            items.push(if c.is_whitespace() {
                Item::Space
            } else {
                Item::Literal(c)
            });
            continue;
        }
        // Padding flags: numbers are read with or without padding anyway.
        while chars.next_if(|c| matches!(c, '-' | '_' | '0')).is_some() {}
        let dot = chars.next_if_eq(&'.').is_some();
        let colon = chars.next_if_eq(&':').is_some();
        let width = chars.next_if(|c| c.is_ascii_digit());
        let Some(d) = chars.next() else {
            return Err("the pattern ends with `%`".to_owned());
        };
        let exact = width.map(|w| w.to_digit(10).expect("a digit") as usize);
        if (dot || exact.is_some()) && d != 'f' {
            return Err(format!("`.` and widths are only for %f, not %{d}"));
        }
        if colon && d != 'z' {
            return Err(format!("`:` is only for %:z, not %{d}"));
        }
        let number = |num, min, max| Item::Number { num, min, max };
        let item = match d {
            'Y' => number(Num::Year, 4, 4),
            'y' => number(Num::Year2, 2, 2),
            'm' => number(Num::Month, 1, 2),
            'd' => number(Num::Day, 1, 2),
            'e' => {
                items.push(Item::Space);
                number(Num::Day, 1, 2)
            }
            'j' => number(Num::Yday, 1, 3),
            'H' | 'k' => number(Num::Hour, 1, 2),
            'I' | 'l' => number(Num::Hour12, 1, 2),
            'M' => number(Num::Minute, 1, 2),
            'S' => number(Num::Second, 1, 2),
            'L' => number(Num::Millis, 1, 3),
            'f' => {
                if matches!(exact, Some(w) if w == 0) {
                    return Err("%0f reads no digits".to_owned());
                }
                Item::Fraction {
                    exact: if dot { None } else { exact },
                    optional: dot,
                }
            }
            'b' | 'B' | 'h' => Item::MonthName,
            'a' | 'A' => Item::WeekdayName,
            'p' | 'P' => Item::AmPm,
            'z' => Item::Offset,
            'Z' => Item::ZoneName,
            's' => Item::Epoch,
            'T' => {
                compile_into("%H:%M:%S", items)?;
                continue;
            }
            'D' => {
                compile_into("%m/%d/%y", items)?;
                continue;
            }
            'F' => {
                compile_into("%Y-%m-%d", items)?;
                continue;
            }
            'R' => {
                compile_into("%H:%M", items)?;
                continue;
            }
            'r' => {
                compile_into("%I:%M:%S %p", items)?;
                continue;
            }
            'n' | 't' => Item::Space,
            '%' => Item::Literal('%'),
            other => return Err(format!("unknown directive %{other}")),
        };
        items.push(item);
    }
    Ok(())
}

/// Reads one item from the start of `text` into `parts`; returns the bytes
/// used.
fn read(item: &Item, text: &str, parts: &mut Parts) -> Result<usize, String> {
    match item {
        Item::Literal(want) => match text.chars().next() {
            Some(c) if c == *want || c.eq_ignore_ascii_case(want) => Ok(c.len_utf8()),
            _ => Err(format!("expected {want:?}")),
        },
        Item::Space => Ok(text.len() - text.trim_start().len()),
        Item::Number { num, min, max } => {
            let (value, used) = digits(text, *min, *max).ok_or_else(|| match num {
                Num::Year => "expected a 4-digit year".to_owned(),
                Num::Year2 => "expected a 2-digit year".to_owned(),
                _ => format!("expected a number for the {}", num_name(*num)),
            })?;
            let v = value as u32;
            match num {
                Num::Year => parts.year = Some(value as i64),
                Num::Year2 => parts.year = Some(if v >= 69 { 1900 } else { 2000 } + value as i64),
                Num::Month => parts.month = Some(v),
                Num::Day => parts.day = Some(v),
                Num::Yday => parts.yday = Some(v),
                Num::Hour => parts.hour = v,
                Num::Hour12 => {
                    parts.hour = v;
                    parts.hour12 = true;
                }
                Num::Minute => parts.minute = v,
                Num::Second => parts.second = v,
                Num::Millis => parts.nanos = v * 1_000_000,
            }
            Ok(used)
        }
        Item::Fraction { exact, optional } => {
            let mut used = 0;
            if *optional {
                let b = text.as_bytes();
                if b.len() < 2 || !matches!(b[0], b'.' | b',') || !b[1].is_ascii_digit() {
                    return Ok(0);
                }
                used = 1;
            }
            let (nanos, n) = fraction(&text[used..], *exact)?;
            parts.nanos = nanos;
            Ok(used + n)
        }
        Item::MonthName => {
            let (month, used) = month_from_name(text).ok_or("expected a month name")?;
            parts.month = Some(month);
            Ok(used)
        }
        Item::WeekdayName => {
            let (_, used) = weekday_from_name(text).ok_or("expected a weekday name")?;
            Ok(used)
        }
        Item::AmPm => {
            let head = text.get(..2).unwrap_or("");
            let pm = if head.eq_ignore_ascii_case("am") {
                false
            } else if head.eq_ignore_ascii_case("pm") {
                true
            } else {
                return Err("expected AM or PM".to_owned());
            };
            parts.pm = Some(pm);
            Ok(2)
        }
        Item::Offset => {
            let (offset, used) = offset(text).ok_or("expected a UTC offset like +0200")?;
            parts.offset = Some(offset);
            Ok(used)
        }
        Item::ZoneName => {
            let end = text
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(text.len());
            let name = &text[..end];
            if ["UTC", "GMT", "UT", "Z"]
                .iter()
                .any(|z| z.eq_ignore_ascii_case(name))
            {
                parts.offset = Some(0);
                Ok(end)
            } else if name.is_empty() {
                Err("expected a time zone name".to_owned())
            } else {
                Err(format!(
                    "time zone {name:?} is not supported (only UTC and GMT; use %z or `timezone`)"
                ))
            }
        }
        Item::Epoch => {
            let negative = text.starts_with('-');
            let start = usize::from(negative);
            let (value, used) = digits(&text[start..], 1, 19).ok_or("expected epoch seconds")?;
            let value = i64::try_from(value).map_err(|_| "epoch seconds out of range")?;
            parts.epoch = Some(if negative { -value } else { value });
            Ok(start + used)
        }
    }
}

fn num_name(num: Num) -> &'static str {
    match num {
        Num::Year | Num::Year2 => "year",
        Num::Month => "month",
        Num::Day => "day",
        Num::Yday => "day of the year",
        Num::Hour | Num::Hour12 => "hour",
        Num::Minute => "minute",
        Num::Second => "second",
        Num::Millis => "milliseconds",
    }
}

/// Between `min` and `max` ASCII digits (as many as there are, up to
/// `max`): the value and the bytes read.
pub fn digits(text: &str, min: usize, max: usize) -> Option<(u64, usize)> {
    let n = text
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if n < min {
        return None;
    }
    let value = text[..n].bytes().try_fold(0u64, |v, b| {
        v.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })?;
    Some((value, n))
}

/// Fraction digits as ns (digits past the ninth are read and dropped):
/// the ns and the bytes read.
pub fn fraction(text: &str, exact: Option<usize>) -> Result<(u32, usize), String> {
    let n = text.bytes().take_while(u8::is_ascii_digit).count();
    let n = match exact {
        Some(want) if n < want => return Err(format!("expected {want} fraction digits")),
        Some(want) => want,
        None if n == 0 => return Err("expected fraction digits".to_owned()),
        None => n,
    };
    let mut nanos = 0u32;
    for i in 0..9 {
        let digit = text
            .as_bytes()
            .get(i)
            .filter(|_| i < n)
            .map_or(0, |b| b - b'0');
        nanos = nanos * 10 + u32::from(digit);
    }
    Ok((nanos, n))
}

/// A UTC offset at the start of `text`: `Z`, `+hh`, `+hhmm` or `+hh:mm`
/// (or `-`). Returns seconds east of UTC and the bytes read.
pub fn offset(text: &str) -> Option<(i32, usize)> {
    let b = text.as_bytes();
    match b.first()? {
        b'Z' | b'z' => return Some((0, 1)),
        b'+' | b'-' => {}
        _ => return None,
    }
    let sign = if b[0] == b'-' { -1 } else { 1 };
    let (hours, _) = digits(&text[1..], 2, 2)?;
    let mut used = 3;
    let mut minutes = 0;
    let colon = b.get(used) == Some(&b':');
    let start = used + usize::from(colon);
    if let Some((m, 2)) = text.get(start..).and_then(|t| digits(t, 2, 2)) {
        minutes = m;
        used = start + 2;
    } else if colon {
        return None;
    }
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60) as i32, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pattern: &str, text: &str) -> Result<Parts, String> {
        Pattern::compile(pattern).unwrap().parse(text)
    }

    #[test]
    fn compact_numbers_split_by_width() {
        let p = parse("%y%m%d %H%M%S", "081109 203615").unwrap();
        assert_eq!(
            (p.year, p.month, p.day, p.hour, p.minute, p.second),
            (Some(2008), Some(11), Some(9), 20, 36, 15)
        );
        let p = parse("%Y%m%d-%H:%M:%S:%L", "20171223-22:15:29:606").unwrap();
        assert_eq!((p.year, p.second, p.nanos), (Some(2017), 29, 606_000_000));
        // HealthApp does not pad its milliseconds.
        let p = parse("%Y%m%d-%H:%M:%S:%L", "20171223-22:25:13:8").unwrap();
        assert_eq!(p.nanos, 8_000_000);
        let p = parse("%Y%m%d-%H:%M:%S:%L", "20171223-22:15:35:97").unwrap();
        assert_eq!(p.nanos, 97_000_000);
    }

    #[test]
    fn unpadded_numbers_and_spaces() {
        let p = parse("%b %d %H:%M:%S", "Jul  1 09:00:55").unwrap();
        assert_eq!((p.month, p.day, p.hour), (Some(7), Some(1), 9));
        let p = parse("%b %e %H:%M:%S", "Nov 9 12:01:01").unwrap();
        assert_eq!(p.day, Some(9));
        let p = parse("%-m/%-d/%Y", "3/7/2024").unwrap();
        assert_eq!((p.month, p.day), (Some(3), Some(7)));
    }

    #[test]
    fn fractions() {
        let p = parse("%H:%M:%S%.f %d.%m", "04:30:30 1.2").unwrap();
        assert_eq!(p.nanos, 0, "%.f may be absent");
        let p = parse("%d.%m %H:%M:%S%.f", "1.2 04:30:30,747").unwrap();
        assert_eq!(p.nanos, 747_000_000, "a comma works too");
        let p = parse("%d.%m %H:%M:%S.%f", "1.2 04:30:30.123456789123").unwrap();
        assert_eq!(p.nanos, 123_456_789, "past nine digits are dropped");
        let p = parse("%d.%m %H%M%S%3f", "1.2 043030123").unwrap();
        assert_eq!((p.second, p.nanos), (30, 123_000_000));
        assert!(parse("%d.%m %S%6f", "1.2 30123").is_err());
    }

    #[test]
    fn names_zones_and_twelve_hours() {
        let p = parse("%a %b %d %H:%M:%S %Z %Y", "Sun Dec 04 04:47:44 GMT 2005").unwrap();
        assert_eq!((p.month, p.offset, p.year), (Some(12), Some(0), Some(2005)));
        let e = parse("%a %b %d %H:%M:%S %Z %Y", "Sun Dec 04 04:47:44 CEST 2005").unwrap_err();
        assert!(e.contains("CEST"), "{e}");
        let p = parse("%d/%B/%Y %I:%M %p", "01/march/2024 12:05 am").unwrap();
        assert_eq!(
            (p.month, p.hour, p.hour12, p.pm),
            (Some(3), 12, true, Some(false))
        );
        let p = parse("%F %T %z", "2024-02-29 23:59:59 -0930").unwrap();
        assert_eq!(p.offset, Some(-(9 * 3600 + 30 * 60)));
        let p = parse("%F %T%:z", "2024-02-29 23:59:59+05:30").unwrap();
        assert_eq!(p.offset, Some(5 * 3600 + 30 * 60));
        let p = parse("%Y %j", "2024 060").unwrap();
        assert_eq!(p.yday, Some(60));
        let p = parse("%s.%f", "1117838570.675872").unwrap();
        assert_eq!((p.epoch, p.nanos), (Some(1_117_838_570), 675_872_000));
    }

    #[test]
    fn offsets() {
        assert_eq!(offset("Z"), Some((0, 1)));
        assert_eq!(offset("+02"), Some((7200, 3)));
        assert_eq!(offset("-0800 x"), Some((-28800, 5)));
        assert_eq!(offset("+05:45"), Some((20700, 6)));
        assert_eq!(offset("+5"), None);
        assert_eq!(offset("+02:"), None);
        assert_eq!(offset("+2400"), None);
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(
            parse("%Y-%m-%d", "2024/01/01"),
            Err("expected '-' at byte 4".to_owned())
        );
        assert_eq!(
            parse("%Y-%m-%d", "2024-01-01 junk"),
            Err("unexpected \" junk\" at byte 10".to_owned())
        );
        assert!(parse("%Y-%m-%d", "24-01-01").unwrap_err().contains("year"));
    }

    #[test]
    fn bad_patterns() {
        assert!(Pattern::compile("%H:%M:%S")
            .unwrap_err()
            .contains("no date"));
        assert!(Pattern::compile("%Y-%m-%d %Q").unwrap_err().contains("%Q"));
        assert!(Pattern::compile("%Y-%m-%d %").is_err());
        assert!(Pattern::compile("%Y-%m-%d %.3S").is_err());
        assert!(Pattern::compile("%m-%d").is_ok(), "the year is optional");
        assert!(Pattern::compile("%s").is_ok());
    }
}
