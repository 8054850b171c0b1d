//! The `formats` a timestamp is tried against: named ones and strftime
//! patterns.

use crate::civil::Parts;
use crate::strftime::{digits, fraction, offset, Pattern};

/// One entry of `formats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `iso8601` / `rfc3339`: `2015-07-29T17:41:44.747Z`, with a space or
    /// `T`, a `.` or `,` fraction or none, `Z`, an offset or nothing; also
    /// the basic form `20150729T174144Z` and a date alone.
    Iso8601,
    /// Epoch time with this many fraction digits per second: `unix` (9:
    /// seconds), `unix_ms` (6), `unix_us` (3), `unix_ns` (0). A fraction may
    /// follow (`1117838570.675872`).
    Unix { scale: u32 },
    /// `rfc3164` (`Jun 14 15:16:01`), `apache` (`24/Feb/2015:23:13:42
    /// +0000`) and user patterns.
    Pattern(Pattern),
}

const RFC3164: &str = "%b %e %H:%M:%S%.f";
const APACHE: &str = "%d/%b/%Y:%H:%M:%S %z";

impl Format {
    /// A `formats` entry: a name (any case) or a pattern with `%`.
    pub fn from_config(text: &str) -> Result<Format, String> {
        if text.contains('%') {
            return Pattern::compile(text).map(Format::Pattern);
        }
        let compiled = |p| Format::Pattern(Pattern::compile(p).expect("valid built-in pattern"));
        Ok(match text.to_ascii_lowercase().as_str() {
            "iso8601" | "rfc3339" => Format::Iso8601,
            "rfc3164" => compiled(RFC3164),
            "apache" => compiled(APACHE),
            "unix" => Format::Unix { scale: 9 },
            "unix_ms" => Format::Unix { scale: 6 },
            "unix_us" => Format::Unix { scale: 3 },
            "unix_ns" => Format::Unix { scale: 0 },
            _ => {
                return Err(format!(
                    "unknown format `{text}`: expected iso8601, rfc3339, rfc3164, apache, unix, \
                     unix_ms, unix_us, unix_ns or a strftime pattern such as %Y-%m-%d %H:%M:%S"
                ))
            }
        })
    }

    /// The instant `text` stands for, in ns since the epoch. `offset`
    /// (seconds east of UTC) applies when the text has none; `now` (ns) picks
    /// a missing year.
    pub fn parse(&self, text: &str, offset: i32, now: i64) -> Result<i64, String> {
        match self {
            Format::Iso8601 => iso8601(text)?.resolve(offset, now),
            Format::Unix { scale } => unix(text, *scale),
            Format::Pattern(p) => p.parse(text)?.resolve(offset, now),
        }
    }
}

/// Reads an ISO 8601 / RFC 3339 date-time.
fn iso8601(text: &str) -> Result<Parts, String> {
    let mut p = Parts::default();
    let mut at = 0;
    let b = text.as_bytes();
    let num = |at: usize, what: &str| {
        digits(&text[at..], 2, 2)
            .map(|(v, _)| v as u32)
            .ok_or_else(|| format!("expected 2 digits for the {what} at byte {at}"))
    };
    let (year, _) = digits(text, 4, 4).ok_or("expected a 4-digit year at byte 0")?;
    p.year = Some(year as i64);
    at += 4;
    // Extended (2015-07-29) or basic (20150729).
    let extended = b.get(at) == Some(&b'-');
    at += usize::from(extended);
    p.month = Some(num(at, "month")?);
    at += 2;
    if extended {
        if b.get(at) != Some(&b'-') {
            return Err(format!("expected '-' at byte {at}"));
        }
        at += 1;
    }
    p.day = Some(num(at, "day")?);
    at += 2;
    if at == b.len() {
        return Ok(p);
    }
    match b[at] {
        b'T' | b't' => at += 1,
        b' ' => at += text[at..].len() - text[at..].trim_start_matches(' ').len(),
        _ => return Err(format!("expected 'T' or a space at byte {at}")),
    }
    p.hour = num(at, "hour")?;
    at += 2;
    let colon = |at: &mut usize| {
        if b.get(*at) == Some(&b':') {
            *at += 1;
        }
    };
    colon(&mut at);
    p.minute = num(at, "minute")?;
    at += 2;
    if b.get(at) == Some(&b':') || b.get(at).is_some_and(u8::is_ascii_digit) {
        colon(&mut at);
        p.second = num(at, "second")?;
        at += 2;
    }
    if matches!(b.get(at), Some(b'.' | b',')) {
        let (nanos, n) =
            fraction(&text[at + 1..], None).map_err(|e| format!("{e} at byte {}", at + 1))?;
        p.nanos = nanos;
        at += 1 + n;
    }
    // A zone: `Z`, an offset, `UTC`/`GMT`, or none; a space may come first.
    let zone = text[at..].trim_start_matches(' ');
    let zone_at = text.len() - zone.len();
    if zone.is_empty() {
        return Ok(p);
    }
    if let Some((secs, used)) = offset(zone) {
        p.offset = Some(secs);
        at = zone_at + used;
    } else if zone.eq_ignore_ascii_case("UTC") || zone.eq_ignore_ascii_case("GMT") {
        p.offset = Some(0);
        at = text.len();
    }
    if at < text.len() {
        return Err(format!("unexpected {:?} at byte {at}", &text[at..]));
    }
    Ok(p)
}

/// Epoch time with `scale` fraction digits per unit in a second: the unit
/// part times 10^scale, plus the fraction.
fn unix(text: &str, scale: u32) -> Result<i64, String> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = match body.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (body, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a number".to_owned());
    }
    let unit = 10i128.pow(scale);
    let whole: i128 = whole.parse().map_err(|_| "number out of range")?;
    let mut ns = whole * unit;
    if let Some(frac) = frac {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err("expected digits after '.'".to_owned());
        }
        // The first `scale` digits count; finer ones are dropped.
        let mut part: i128 = 0;
        for i in 0..scale as usize {
            let digit = frac.as_bytes().get(i).map_or(0, |b| b - b'0');
            part = part * 10 + i128::from(digit);
        }
        ns += part;
    }
    let ns = if negative { -ns } else { ns };
    i64::try_from(ns).map_err(|_| "out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(text: &str) -> Parts {
        iso8601(text).unwrap()
    }

    #[test]
    fn iso8601_forms() {
        let p = iso("2015-07-29 17:41:44,747");
        assert_eq!(
            (p.year, p.month, p.day, p.hour, p.minute, p.second, p.nanos, p.offset),
            (Some(2015), Some(7), Some(29), 17, 41, 44, 747_000_000, None)
        );
        let p = iso("2024-02-29T23:59:59.123456789Z");
        assert_eq!((p.nanos, p.offset), (123_456_789, Some(0)));
        assert_eq!(iso("2024-02-29t23:59:59-08:00").offset, Some(-28_800));
        assert_eq!(iso("2024-02-29T23:59:59+0530").offset, Some(19_800));
        assert_eq!(iso("2024-02-29 23:59:59 UTC").offset, Some(0));
        assert_eq!(iso("2024-02-29 23:59:59 +01").offset, Some(3600));
        let p = iso("20171223T221529Z");
        assert_eq!(
            (p.month, p.day, p.hour, p.second),
            (Some(12), Some(23), 22, 29)
        );
        let p = iso("2016-09-28");
        assert_eq!((p.day, p.hour), (Some(28), 0));
        let p = iso("2016-09-28T04:30");
        assert_eq!((p.minute, p.second), (30, 0));
    }

    #[test]
    fn iso8601_refuses_other_shapes() {
        for text in [
            "2005-06-03-15.42.50.675872",
            "17/06/09 20:10:40",
            "2015-7-29 17:41:44",
            "2015-07-29 17:41:44.",
            "2015-07-29 17:41:44 CEST",
            "2015-07-29T",
            "",
        ] {
            assert!(iso8601(text).is_err(), "{text}");
        }
    }

    #[test]
    fn unix_scales() {
        assert_eq!(unix("1117838570", 9), Ok(1_117_838_570_000_000_000));
        assert_eq!(unix("1117838570.675872", 9), Ok(1_117_838_570_675_872_000));
        assert_eq!(unix("1498983040123", 6), Ok(1_498_983_040_123_000_000));
        assert_eq!(unix("1498983040123.5", 6), Ok(1_498_983_040_123_500_000));
        assert_eq!(unix("1498983040123456", 3), Ok(1_498_983_040_123_456_000));
        assert_eq!(unix("-1.5", 9), Ok(-1_500_000_000));
        assert_eq!(unix("1.0000000019", 9), Ok(1_000_000_001));
        assert!(unix("1e9", 9).is_err());
        assert!(unix("12.", 9).is_err());
        assert!(unix("99999999999", 9).is_err(), "past 2262");
    }

    #[test]
    fn config_names() {
        assert_eq!(Format::from_config("ISO8601"), Ok(Format::Iso8601));
        assert_eq!(
            Format::from_config("UNIX_MS"),
            Ok(Format::Unix { scale: 6 })
        );
        assert!(Format::from_config("yyyy-MM-dd")
            .unwrap_err()
            .contains("unknown format"));
        assert!(Format::from_config("%H:%M")
            .unwrap_err()
            .contains("no date"));
    }
}
