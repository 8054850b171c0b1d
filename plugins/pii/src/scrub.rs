//! A configured set of detectors and what to do with their matches, applied
//! to one text.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use regex::Regex;

use crate::detect::{Builtin, Prepared, Span};
use crate::hmac::{hex, HmacSha256};

/// What happens to a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replaced by the mask (`[REDACTED:<detector>]` by default).
    Mask,
    /// Masked, keeping the last 4 digits after the detector's name
    /// (`[REDACTED:credit_card:1111]`); matches with fewer than 8 digits are
    /// masked whole.
    MaskLast4,
    /// Replaced by a keyed hash, `[<detector>:hmac:<16 hex>]`.
    Hash,
    /// Removed: the match from the message, the whole field from fields.
    Drop,
}

impl Action {
    pub const NAMES: &'static str = "mask, mask_last4, hash, drop";

    pub fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "mask" => Action::Mask,
            "mask_last4" => Action::MaskLast4,
            "hash" => Action::Hash,
            "drop" => Action::Drop,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Mask => "mask",
            Action::MaskLast4 => "mask_last4",
            Action::Hash => "hash",
            Action::Drop => "drop",
        }
    }
}

/// How a detector finds its matches.
#[derive(Debug, Clone)]
pub enum Kind {
    Builtin(Builtin),
    /// A regex from config; with a capture group named `pii`, only that
    /// group is the match (`password=(?P<pii>\S+)` keeps `password=`).
    Custom {
        regex: Regex,
        group: Option<usize>,
    },
}

/// One enabled detector.
#[derive(Debug, Clone)]
pub struct Detector {
    pub name: String,
    pub kind: Kind,
    pub action: Action,
}

impl Detector {
    fn find(&self, text: &str, prepared: &Prepared, out: &mut Vec<Span>) {
        match &self.kind {
            Kind::Builtin(b) => b.find(text, prepared, out),
            Kind::Custom { regex, group: None } => out.extend(
                regex
                    .find_iter(text)
                    .filter(|m| !m.is_empty())
                    .map(|m| (m.start(), m.end())),
            ),
            Kind::Custom {
                regex,
                group: Some(g),
            } => out.extend(
                regex
                    .captures_iter(text)
                    .filter_map(|c| c.get(*g))
                    .filter(|m| !m.is_empty())
                    .map(|m| (m.start(), m.end())),
            ),
        }
    }
}

/// A match of detector `detector` (an index into [`Scrubber::detectors`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub start: usize,
    pub end: usize,
    pub detector: usize,
}

/// Buffers reused from text to text.
#[derive(Debug, Default)]
pub struct Scratch {
    spans: Vec<Span>,
    prepared: Prepared,
}

/// The default mask; `{detector}` is replaced by the detector's name.
pub const DEFAULT_MASK: &str = "[REDACTED:{detector}]";

pub struct Scrubber {
    /// In priority order: on overlap, the earlier detector wins.
    detectors: Vec<Detector>,
    mask: String,
    /// The mask with each detector's name filled in.
    masks: Vec<String>,
    hmac: Option<HmacSha256>,
}

impl Scrubber {
    pub fn new(detectors: Vec<Detector>, mask: &str, hash_key: Option<&str>) -> Scrubber {
        let masks = detectors
            .iter()
            .map(|d| mask.replace("{detector}", &d.name))
            .collect();
        Scrubber {
            detectors,
            mask: mask.to_owned(),
            masks,
            hmac: hash_key.map(|k| HmacSha256::new(k.as_bytes())),
        }
    }

    pub fn detectors(&self) -> &[Detector] {
        &self.detectors
    }

    /// Whether any detector finds anything in `text`.
    pub fn any(&self, text: &str, scratch: &mut Scratch) -> bool {
        if text.is_empty() {
            return false;
        }
        scratch.prepared.prepare(text);
        self.detectors.iter().any(|d| {
            scratch.spans.clear();
            d.find(text, &scratch.prepared, &mut scratch.spans);
            !scratch.spans.is_empty()
        })
    }

    /// The matches in `text`, in order and not overlapping, into `out`
    /// (cleared first). On overlap the detector listed first wins.
    pub fn find(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<Match>) {
        out.clear();
        if text.is_empty() {
            return;
        }
        scratch.prepared.prepare(text);
        for (index, detector) in self.detectors.iter().enumerate() {
            scratch.spans.clear();
            detector.find(text, &scratch.prepared, &mut scratch.spans);
            for &(start, end) in scratch.spans.iter() {
                if !out.iter().any(|m| start < m.end && m.start < end) {
                    out.push(Match {
                        start,
                        end,
                        detector: index,
                    });
                }
            }
        }
        out.sort_unstable_by_key(|m| m.start);
    }

    /// Whether any of `matches` is to be dropped.
    pub fn drops(&self, matches: &[Match]) -> bool {
        matches
            .iter()
            .any(|m| self.detectors[m.detector].action == Action::Drop)
    }

    /// `text` with `matches` (from [`Scrubber::find`] on it) replaced by
    /// their actions' output; dropped matches are removed.
    pub fn redact(&self, text: &str, matches: &[Match]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for m in matches {
            out.push_str(&text[at..m.start]);
            self.replacement(m.detector, &text[m.start..m.end], &mut out);
            at = m.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Appends what replaces `matched`, a match of detector `index`.
    fn replacement(&self, index: usize, matched: &str, out: &mut String) {
        let detector = &self.detectors[index];
        match detector.action {
            Action::Drop => {}
            Action::Mask => out.push_str(&self.masks[index]),
            Action::MaskLast4 => {
                let digits: Vec<char> = matched.chars().filter(char::is_ascii_digit).collect();
                if digits.len() >= 8 {
                    let last4: String = digits[digits.len() - 4..].iter().collect();
                    let label = format!("{}:{last4}", detector.name);
                    out.push_str(&self.mask.replace("{detector}", &label));
                } else {
                    out.push_str(&self.masks[index]);
                }
            }
            Action::Hash => {
                let hmac = self
                    .hmac
                    .as_ref()
                    .expect("configure refuses `hash` without `hash_key`");
                let value = normalize(&detector.kind, matched);
                let mac = hmac.mac(value.as_bytes());
                out.push('[');
                out.push_str(&detector.name);
                out.push_str(":hmac:");
                out.push_str(&hex(&mac[..8]));
                out.push(']');
            }
        }
    }
}

/// The form of a value that is hashed, so that one value written in
/// different ways gives one token: e-mail addresses lower-cased, cards and
/// SSNs as digits, phones as `+` and digits (North American numbers
/// without a country code get `1`), IP addresses in canonical form.
pub fn normalize<'t>(kind: &Kind, text: &'t str) -> Cow<'t, str> {
    let digits = || {
        text.chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    };
    match kind {
        Kind::Builtin(Builtin::Email) => Cow::Owned(text.to_ascii_lowercase()),
        Kind::Builtin(Builtin::CreditCard | Builtin::UsSsn) => Cow::Owned(digits()),
        Kind::Builtin(Builtin::Phone) => {
            let d = digits();
            if text.starts_with('+') {
                Cow::Owned(format!("+{d}"))
            } else if d.len() == 10 {
                Cow::Owned(format!("+1{d}"))
            } else {
                Cow::Owned(format!("+{d}"))
            }
        }
        Kind::Builtin(Builtin::Ipv4) => {
            let octets: Vec<u8> = text.split('.').filter_map(|o| o.parse().ok()).collect();
            match <[u8; 4]>::try_from(octets) {
                Ok(o) => Cow::Owned(Ipv4Addr::from(o).to_string()),
                Err(_) => Cow::Borrowed(text),
            }
        }
        Kind::Builtin(Builtin::Ipv6) => match text.parse::<Ipv6Addr>() {
            Ok(addr) => Cow::Owned(addr.to_string()),
            Err(_) => Cow::Borrowed(text),
        },
        _ => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(b: Builtin, action: Action) -> Detector {
        Detector {
            name: b.name().to_owned(),
            kind: Kind::Builtin(b),
            action,
        }
    }

    fn all(action: Action) -> Vec<Detector> {
        Builtin::ALL.iter().map(|&b| builtin(b, action)).collect()
    }

    fn scrub(s: &Scrubber, text: &str) -> String {
        let mut matches = Vec::new();
        s.find(text, &mut Scratch::default(), &mut matches);
        s.redact(text, &matches)
    }

    #[test]
    fn overlaps_go_to_the_earlier_detector() {
        let s = Scrubber::new(all(Action::Mask), DEFAULT_MASK, None);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        assert_eq!(
            scrub(&s, &format!("Authorization: Bearer {jwt}")),
            "Authorization: Bearer [REDACTED:jwt]"
        );
        assert_eq!(
            scrub(&s, "peer ::ffff:10.1.2.3 and 10.1.2.4"),
            "peer [REDACTED:ipv6] and [REDACTED:ipv4]"
        );
    }

    #[test]
    fn masks_hashes_and_drops() {
        let text = "card 4111 1111 1111 1111 from alice@example.com";
        let mut detectors = all(Action::Mask);
        let s = Scrubber::new(detectors.clone(), "<{detector}>", None);
        assert_eq!(scrub(&s, text), "card <credit_card> from <email>");
        for d in &mut detectors {
            d.action = match d.name.as_str() {
                "credit_card" => Action::MaskLast4,
                "email" => Action::Drop,
                _ => Action::Mask,
            };
        }
        let s = Scrubber::new(detectors.clone(), DEFAULT_MASK, None);
        assert_eq!(scrub(&s, text), "card [REDACTED:credit_card:1111] from ");
        for d in &mut detectors {
            d.action = Action::Hash;
        }
        let s = Scrubber::new(detectors, DEFAULT_MASK, Some("k"));
        let out = scrub(&s, text);
        assert!(out.starts_with("card [credit_card:hmac:"), "{out}");
        assert_eq!(
            out.len(),
            "card [credit_card:hmac:0123456789abcdef] from [email:hmac:0123456789abcdef]".len()
        );
    }

    #[test]
    fn one_value_written_differently_hashes_the_same() {
        let kind = |b| Kind::Builtin(b);
        assert_eq!(
            normalize(&kind(Builtin::Email), "Alice@Example.COM"),
            "alice@example.com"
        );
        assert_eq!(
            normalize(&kind(Builtin::CreditCard), "4111-1111-1111-1111"),
            "4111111111111111"
        );
        for phone in [
            "(555) 123-4567",
            "555.123.4567",
            "+1 555 123 4567",
            "+15551234567",
            "1-555-123-4567",
        ] {
            assert_eq!(
                normalize(&kind(Builtin::Phone), phone),
                "+15551234567",
                "{phone}"
            );
        }
        assert_eq!(
            normalize(&kind(Builtin::Ipv4), "010.001.002.003"),
            "10.1.2.3"
        );
        assert_eq!(
            normalize(
                &kind(Builtin::Ipv6),
                "2001:0DB8:0000:0000:0000:0000:0000:0001"
            ),
            "2001:db8::1"
        );
    }
}

#[cfg(test)]
mod noise {
    use super::*;

    /// Random text over the characters the scanners look at, plus
    /// multi-byte ones: nothing panics, every span is on character
    /// boundaries, matches are ordered and do not overlap, and redacting
    /// works on the result.
    #[test]
    fn random_text_never_breaks_the_scanners() {
        let pieces: Vec<&str> =
            "0|1|4|5|9|12|555|4111|.|:|::|-| |+|(|)|@|a|Z|f|e|eyJ|earer|Bearer |\
                                 AKIA|ecret|=|/|_|%|~|\"|é|→|\u{1F600}|x.com|ffff|\t"
                .split('|')
                .collect();
        let detectors: Vec<Detector> = Builtin::ALL
            .iter()
            .map(|&b| Detector {
                name: b.name().to_owned(),
                kind: Kind::Builtin(b),
                action: Action::Hash,
            })
            .collect();
        let s = Scrubber::new(detectors, DEFAULT_MASK, Some("k"));
        let (mut scratch, mut matches) = (Scratch::default(), Vec::new());
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            s.find(&text, &mut scratch, &mut matches);
            let mut last = 0;
            for m in &matches {
                assert!(m.start < m.end && m.start >= last, "{text:?}: {matches:?}");
                assert!(text.is_char_boundary(m.start) && text.is_char_boundary(m.end));
                last = m.end;
            }
            s.redact(&text, &matches);
            assert_eq!(s.any(&text, &mut scratch), !matches.is_empty(), "{text:?}");
        }
    }
}
