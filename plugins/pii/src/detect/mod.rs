//! The built-in detectors: each finds byte spans of one kind of PII or
//! secret in a text.
//!
//! They are hand-written scanners rather than regexes: each first checks a
//! cheap condition on the whole text (an `@`, enough digits, a literal
//! prefix), then walks candidates and validates them (Luhn and issuer
//! prefixes for cards, the SSA's never-issued ranges for SSNs, octet values,
//! `std`'s IPv6 parser, a decoded JWT header, ...). Precision comes from
//! those checks and from the boundary rules: a number glued to letters, to a
//! longer dotted or dashed number, or to a `_`/`-` prefix (`blk_-160899…`) is
//! not a candidate.

mod email;
mod network;
mod numbers;
mod secrets;

pub use numbers::{luhn_valid, plausible_card};

/// Builds what the detectors keep between texts (substring searchers), so
/// that the first batch does not pay for it. Called at configure.
pub fn build_searchers() {
    secrets::build_searchers();
}

/// A byte range `start..end` of a text.
pub type Span = (usize, usize);

/// The built-in detectors, in the order they win overlaps: when two find
/// overlapping spans, the one listed first keeps its span (a JWT is a
/// `jwt`, not a `bearer` token; `::ffff:10.0.0.1` is one `ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    Jwt,
    AwsAccessKey,
    AwsSecretKey,
    Bearer,
    Email,
    CreditCard,
    UsSsn,
    Ipv6,
    Ipv4,
    Phone,
}

impl Builtin {
    /// All of them, in priority order.
    pub const ALL: [Builtin; 10] = [
        Builtin::Jwt,
        Builtin::AwsAccessKey,
        Builtin::AwsSecretKey,
        Builtin::Bearer,
        Builtin::Email,
        Builtin::CreditCard,
        Builtin::UsSsn,
        Builtin::Ipv6,
        Builtin::Ipv4,
        Builtin::Phone,
    ];

    /// The name used in config and in counters (`pii.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Jwt => "jwt",
            Builtin::AwsAccessKey => "aws_access_key",
            Builtin::AwsSecretKey => "aws_secret_key",
            Builtin::Bearer => "bearer",
            Builtin::Email => "email",
            Builtin::CreditCard => "credit_card",
            Builtin::UsSsn => "us_ssn",
            Builtin::Ipv6 => "ipv6",
            Builtin::Ipv4 => "ipv4",
            Builtin::Phone => "phone",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether matches are mostly digits, so `mask_last4` makes sense.
    pub fn is_numeric(self) -> bool {
        matches!(self, Builtin::CreditCard | Builtin::UsSsn | Builtin::Phone)
    }

    /// Appends the spans found in `text`, in order, not overlapping each
    /// other. `prepared` is [`Prepared::prepare`]d for the same text.
    pub fn find(self, text: &str, prepared: &Prepared, out: &mut Vec<Span>) {
        let s = text.as_bytes();
        let p = prepared;
        match self {
            Builtin::Email if p.at => email::find(s, out),
            Builtin::CreditCard if p.digits >= 13 => numbers::find_cards(s, &p.runs, out),
            Builtin::UsSsn if p.digits >= 9 && p.dash => numbers::find_ssns(s, &p.runs, out),
            Builtin::Phone if p.digits >= 8 => numbers::find_phones(s, &p.runs, out),
            Builtin::Ipv4 if p.digits >= 4 && p.dots >= 3 => network::find_ipv4(s, &p.runs, out),
            Builtin::Ipv6 if p.colons >= 2 => network::find_ipv6(s, out),
            Builtin::Jwt if p.dots >= 2 => secrets::find_jwts(s, out),
            Builtin::Bearer => secrets::find_bearer(s, out),
            Builtin::AwsAccessKey if s.len() >= 20 => secrets::find_aws_access_keys(s, out),
            Builtin::AwsSecretKey if s.len() >= 40 => secrets::find_aws_secret_keys(s, out),
            _ => {}
        }
    }
}

/// What the detectors share about one text, computed once: counts that let
/// each skip a text that cannot hold its kind of match, and the runs of
/// digits the number detectors start from. Reused across texts.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub digits: usize,
    pub dots: usize,
    pub colons: usize,
    pub at: bool,
    pub dash: bool,
    /// Maximal runs of ASCII digits, in order; filled when there are at
    /// least 4 digits (the fewest any number detector needs).
    runs: Vec<Span>,
}

impl Prepared {
    pub fn of(text: &str) -> Prepared {
        let mut p = Prepared::default();
        p.prepare(text);
        p
    }

    pub fn prepare(&mut self, text: &str) {
        let s = text.as_bytes();
        // Byte-wide counters over chunks of at most 255 bytes, so the loop
        // compiles to vector compares and adds.
        let (mut digits, mut dots, mut colons, mut ats, mut dashes) = (0, 0, 0, 0, 0);
        for chunk in s.chunks(255) {
            let (mut d, mut p, mut c, mut a, mut m) = (0u8, 0u8, 0u8, 0u8, 0u8);
            for &b in chunk {
                d += (b.wrapping_sub(b'0') < 10) as u8;
                p += (b == b'.') as u8;
                c += (b == b':') as u8;
                a += (b == b'@') as u8;
                m += (b == b'-') as u8;
            }
            digits += d as usize;
            dots += p as usize;
            colons += c as usize;
            ats += a as usize;
            dashes += m as usize;
        }
        self.digits = digits;
        self.dots = dots;
        self.colons = colons;
        self.at = ats > 0;
        self.dash = dashes > 0;
        self.runs.clear();
        if digits >= 4 {
            let mut i = 0;
            while i < s.len() {
                if is_digit(s[i]) {
                    let start = i;
                    while i < s.len() && is_digit(s[i]) {
                        i += 1;
                    }
                    self.runs.push((start, i));
                } else {
                    i += 1;
                }
            }
        }
    }
}

// Byte classes and neighbour checks shared by the scanners.

#[inline]
fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// Letters, digits and `_`: what glues a candidate into a longer word.
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The byte before `i`, if any.
#[inline]
fn before(s: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).map(|j| s[j])
}

/// The byte at `i`, if any.
#[inline]
fn at(s: &[u8], i: usize) -> Option<u8> {
    s.get(i).copied()
}

/// Whether a number may start at `i`: not glued to a word, to a longer
/// dotted or dashed number, or to a sign.
fn number_may_start(s: &[u8], i: usize) -> bool {
    match before(s, i) {
        None => true,
        Some(b) => !(is_word(b) || matches!(b, b'.' | b'-' | b'+' | b'\\')),
    }
}

/// Whether a number may end at `i` (exclusive): not followed by a word
/// character, or by `.`/`-` and another digit (a longer dotted or dashed
/// number).
fn number_may_end(s: &[u8], i: usize) -> bool {
    match at(s, i) {
        None => true,
        Some(b) if is_word(b) => false,
        Some(b'.' | b'-') => !at(s, i + 1).is_some_and(is_digit),
        Some(_) => true,
    }
}

#[cfg(test)]
pub(crate) fn find_all(detector: Builtin, text: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    detector.find(text, &Prepared::of(text), &mut spans);
    spans.iter().map(|&(a, b)| &text[a..b]).collect()
}
