//! Text helpers shared by the parser and the evaluator: the message
//! tokenizer, case folding, and reading numbers and times out of text.

use std::cmp::Ordering;

/// A token character: a Unicode letter or digit, or `_`. Everything else
/// (spaces, punctuation, `.`, `-`, `/`, `:` ...) separates tokens.
pub fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The tokens of a text, in order: maximal runs of [`is_token_char`].
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    pub fn new(text: &'a str) -> Self {
        Tokens { rest: text }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let start = scan(self.rest, true);
        let rest = &self.rest[start..];
        if rest.is_empty() {
            self.rest = rest;
            return None;
        }
        let end = scan(rest, false);
        self.rest = &rest[end..];
        Some(&rest[..end])
    }
}

/// The byte offset of the first character that is (`want`) or is not a
/// token character, or the length; bytewise for ASCII.
fn scan(text: &str, want: bool) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if (b.is_ascii_alphanumeric() || b == b'_') == want {
                return i;
            }
            i += 1;
        } else {
            let c = text[i..].chars().next().expect("i is a char boundary");
            if is_token_char(c) == want {
                return i;
            }
            i += c.len_utf8();
        }
    }
    bytes.len()
}

/// Lower-cases char by char, the same way [`eq_fold`] compares.
pub fn fold(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// Whether `text` equals `folded` (already [`fold`]ed) ignoring case.
pub fn eq_fold(text: &str, folded: &str) -> bool {
    if text.len() == folded.len() && text.eq_ignore_ascii_case(folded) {
        return true;
    }
    if text.is_ascii() && folded.is_ascii() {
        return false;
    }
    text.chars().flat_map(char::to_lowercase).eq(folded.chars())
}

/// A number from the query or from a string field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    /// Reads `-12`, `3.5`, `1e3`; not `inf`, `nan` or anything with other
    /// characters around it.
    pub fn parse(text: &str) -> Option<Number> {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        let first = digits.chars().next()?;
        if !(first.is_ascii_digit() || first == '.')
            || !text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        {
            return None;
        }
        if let Ok(i) = text.parse::<i64>() {
            return Some(Number::Int(i));
        }
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Number::Float)
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// Integers compare exactly; anything with a float compares as floats
    /// (`None` for NaN).
    pub fn compare(self, other: Number) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A time in a query: epoch milliseconds (an integer) or RFC 3339. Returns
/// ns since the epoch.
pub fn parse_query_time(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1_000_000);
    }
    parse_rfc3339(text)
}

/// A time as an API takes it: what [`parse_query_time`] reads, or `now`
/// with an optional offset (`now-1h`, `now+30m`, `now-7d`; units `ms`, `s`,
/// `m`, `h`, `d`, `w`), relative to `now` (ns since the epoch).
pub fn parse_time_at(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix("now") else {
        return parse_query_time(text);
    };
    if rest.is_empty() {
        return Some(now);
    }
    let (sign, rest) = match rest.as_bytes()[0] {
        b'-' => (-1, &rest[1..]),
        b'+' => (1, &rest[1..]),
        _ => return None,
    };
    let split = rest.find(|c: char| !c.is_ascii_digit())?;
    let (amount, unit) = rest.split_at(split);
    let amount: i64 = amount.parse().ok()?;
    let unit_ns: i64 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        "w" => 7 * 86_400_000_000_000,
        _ => return None,
    };
    now.checked_add(sign * amount.checked_mul(unit_ns)?)
}

/// Reads RFC 3339 (`2024-05-01T12:00:00.250Z`, `2024-05-01T14:00:00+02:00`)
/// into ns since the epoch. Leniencies: a date alone is midnight UTC, the
/// seconds may be left out, a space or `t` may separate date and time, and a
/// time without an offset is UTC.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            Some(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    let mut nanos = 0i64;
    let mut i = 10;
    if i < b.len() {
        if !matches!(b[i], b'T' | b't' | b' ') {
            return None;
        }
        let (hh, mm) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
        if b.get(i + 3) != Some(&b':') || hh > 23 || mm > 59 {
            return None;
        }
        secs += hh * 3600 + mm * 60;
        i += 6;
        if b.get(i) == Some(&b':') {
            let ss = num(i + 1..i + 3)?;
            if ss > 60 {
                return None;
            }
            secs += ss;
            i += 3;
            if b.get(i) == Some(&b'.') {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && b[end].is_ascii_digit() {
                    end += 1;
                }
                if end == start {
                    return None;
                }
                for (k, d) in b[start..end.min(start + 9)].iter().enumerate() {
                    nanos += i64::from(d - b'0') * 10i64.pow(8 - k as u32);
                }
                i = end;
            }
        }
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                let offset = oh * 3600 + om * 60;
                secs += if sign == b'+' { -offset } else { offset };
            }
            _ => return None,
        }
    }
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days-from-civil algorithm.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_times_take_now_with_offsets() {
        let now = 1_700_000_000_000_000_000;
        let h = 3_600_000_000_000;
        assert_eq!(parse_time_at("now", now), Some(now));
        assert_eq!(parse_time_at("now-1h", now), Some(now - h));
        assert_eq!(parse_time_at(" now+30m ", now), Some(now + h / 2));
        assert_eq!(parse_time_at("now-7d", now), Some(now - 168 * h));
        assert_eq!(parse_time_at("now-2w", now), Some(now - 336 * h));
        assert_eq!(parse_time_at("now-250ms", now), Some(now - 250_000_000));
        assert_eq!(parse_time_at("1700000000000", now), Some(now));
        assert_eq!(parse_time_at("2023-11-14T22:13:20Z", now), Some(now));
        for bad in [
            "now-",
            "now-1",
            "now-1y",
            "now*2",
            "nowish",
            "now--1h",
            "yesterday",
        ] {
            assert_eq!(parse_time_at(bad, now), None, "{bad}");
        }
        assert_eq!(parse_time_at("now-99999999999999w", now), None, "overflow");
    }

    #[test]
    fn tokens_split_on_punctuation_and_keep_underscores() {
        let t: Vec<_> = Tokens::new("GET /api/v1/user_id=42 10.0.0.1 Ünïcode-ok").collect();
        assert_eq!(
            t,
            [
                "GET",
                "api",
                "v1",
                "user_id",
                "42",
                "10",
                "0",
                "0",
                "1",
                "Ünïcode",
                "ok"
            ]
        );
        assert_eq!(Tokens::new(" -- ").count(), 0);
    }

    #[test]
    fn folding_compares_unicode_and_ascii() {
        assert!(eq_fold("ERROR", "error"));
        assert!(eq_fold("ÉCOLE", &fold("École")));
        assert!(!eq_fold("errors", "error"));
        assert!(
            eq_fold("\u{212A}elvin", "kelvin"),
            "the Kelvin sign folds to k"
        );
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(Number::parse("500"), Some(Number::Int(500)));
        assert_eq!(Number::parse("-1.5"), Some(Number::Float(-1.5)));
        assert_eq!(Number::parse("1e3"), Some(Number::Float(1000.0)));
        for bad in ["inf", "nan", "", "-", "12a", "0x10", "e5"] {
            assert_eq!(Number::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Number::Int(2).compare(Number::Float(2.0)),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn times_parse_like_rfc3339() {
        let t = 1_424_819_622_000_000_000; // 2015-02-24T23:13:42Z
        assert_eq!(parse_rfc3339("2015-02-24T23:13:42Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2015-02-24T23:13:42.5Z"),
            Some(t + 500_000_000)
        );
        assert_eq!(parse_rfc3339("2015-02-25T01:13:42+02:00"), Some(t));
        assert_eq!(parse_rfc3339("2015-02-24 23:13:42"), Some(t));
        assert_eq!(parse_rfc3339("1970-01-01"), Some(0));
        assert_eq!(parse_rfc3339("2000-02-29"), Some(951_782_400_000_000_000));
        for bad in [
            "2001-02-29",
            "2015-13-01",
            "2015-02-24T25:00Z",
            "2015-02-24Tx",
            "today",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_query_time("1424819622000"), Some(t));
    }
}
