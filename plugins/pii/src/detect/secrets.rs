//! Credentials: `jwt`, `bearer`, `aws_access_key` and `aws_secret_key`.

use std::sync::LazyLock;

use super::{at, before, Span};
use memchr::memmem::{self, Finder};

// Searchers built once: building one costs more than a short search.
static JWT_START: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"eyJ"));
static BEARER_LOWER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"earer"));
static BEARER_UPPER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"EARER"));
static AKIA: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"AKIA"));
static ASIA: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"ASIA"));
static SECRET_LOWER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"ecret"));
static SECRET_UPPER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"ECRET"));

/// Builds the searchers now rather than on the first text.
pub fn build_searchers() {
    for finder in [
        &JWT_START,
        &BEARER_LOWER,
        &BEARER_UPPER,
        &AKIA,
        &ASIA,
        &SECRET_LOWER,
        &SECRET_UPPER,
    ] {
        LazyLock::force(finder);
    }
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `jwt`: three (or, for JWE, five) base64url segments whose first decodes
/// to a JSON header naming `alg` or `typ`. `eyJ` is how `{"` encodes, so a
/// base64 blob that merely starts with it, or has no dots, is not a token.
pub fn find_jwts(s: &[u8], out: &mut Vec<Span>) {
    let mut floor = 0;
    for start in JWT_START.find_iter(s) {
        if start < floor || before(s, start).is_some_and(|b| is_b64url(b) || b == b'.') {
            continue;
        }
        let mut segments = [(0usize, 0usize); 5];
        let mut n = 0;
        let mut j = start;
        loop {
            let from = j;
            while j < s.len() && is_b64url(s[j]) {
                j += 1;
            }
            segments[n] = (from, j);
            n += 1;
            if n == 5 || at(s, j) != Some(b'.') {
                break;
            }
            j += 1;
        }
        floor = j;
        // No padding, no further segment glued on.
        if matches!(at(s, j), Some(b'.' | b'=' | b'+' | b'/')) || !(n == 3 || n == 5) {
            continue;
        }
        let (h0, h1) = segments[0];
        let (p0, p1) = segments[1];
        if h1 - h0 < 16 || p1 - p0 < 3 || !jose_header(&s[h0..h1]) {
            continue;
        }
        out.push((start, j));
    }
}

/// Whether a base64url header decodes to a JSON object naming `alg` or `typ`.
fn jose_header(b64: &[u8]) -> bool {
    let mut decoded = Vec::with_capacity(b64.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &b in b64 {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return false,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            decoded.push((acc >> bits) as u8);
        }
    }
    let text = &decoded[..];
    text.starts_with(b"{")
        && (memmem::find(text, b"\"alg\"").is_some() || memmem::find(text, b"\"typ\"").is_some())
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// `bearer`: the token after the word `Bearer` (any case) and blanks, as in
/// `Authorization: Bearer abc.def`. Only the token is the match, so the
/// masked text still reads `Bearer [REDACTED:bearer]`.
///
/// Prose is not a token: the token must be at least 6 characters and hold
/// a digit or one of `-._~+/`, unless it is 20 or longer (`Bearer token`,
/// `bearer authentication`, `Bearer null` are not matches), and a
/// `Bearer realm="…"` challenge is a parameter, not a token.
pub fn find_bearer(s: &[u8], out: &mut Vec<Span>) {
    let first = out.len();
    for finder in [&*BEARER_LOWER, &*BEARER_UPPER] {
        for e in finder.find_iter(s) {
            // `earer` was found; the `b`/`B` before it starts the word.
            let Some(word) = e.checked_sub(1) else {
                continue;
            };
            if !s[word].eq_ignore_ascii_case(&b'b')
                || before(s, word).is_some_and(|b| b.is_ascii_alphanumeric())
            {
                continue;
            }
            let mut j = e + 5;
            let blank = j;
            while j < s.len() && matches!(s[j], b' ' | b'\t') {
                j += 1;
            }
            if j == blank {
                continue;
            }
            let start = j;
            while j < s.len() && is_token68(s[j]) {
                j += 1;
            }
            while j < s.len() && s[j] == b'=' {
                j += 1;
            }
            let token = &s[start..j];
            let next = at(s, j);
            if token.len() < 6
                || next.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'=')
                || (token.ends_with(b"=") && matches!(next, Some(b'"' | b'\'')))
            {
                continue;
            }
            let marked = token.iter().any(|&b| {
                b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            });
            if !marked && token.len() < 20 {
                continue;
            }
            out.push((start, j));
        }
    }
    // The two passes each come out in order; the caller wants one order.
    out[first..].sort_unstable();
}

/// `aws_access_key`: `AKIA` (long-term) or `ASIA` (temporary) and 16
/// upper-case letters or digits, not glued to other letters or digits.
pub fn find_aws_access_keys(s: &[u8], out: &mut Vec<Span>) {
    let first = out.len();
    for finder in [&*AKIA, &*ASIA] {
        for start in finder.find_iter(s) {
            let end = start + 20;
            let ok = end <= s.len()
                && !before(s, start).is_some_and(|b| b.is_ascii_alphanumeric())
                && s[start + 4..end]
                    .iter()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && !at(s, end).is_some_and(|b| b.is_ascii_alphanumeric());
            if ok {
                out.push((start, end));
            }
        }
    }
    out[first..].sort_unstable();
}

fn is_secret_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+'
}

/// `aws_secret_key`: exactly 40 base64 characters with upper and lower case
/// and a digit, `/` or `+`, as the value of a key whose name says `secret`
/// (`aws_secret_access_key=…`, `"SecretAccessKey": "…"`,
/// `AWS_SECRET_ACCESS_KEY: …`), or after `aws_secret_access_key` and blanks.
/// A 40-character hex digest (a git SHA, a SHA-1) never qualifies.
pub fn find_aws_secret_keys(s: &[u8], out: &mut Vec<Span>) {
    if SECRET_LOWER.find(s).is_none() && SECRET_UPPER.find(s).is_none() {
        return;
    }
    let mut i = 0;
    while i < s.len() {
        if !is_secret_char(s[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && is_secret_char(s[i]) {
            i += 1;
        }
        let token = &s[start..i];
        // Part of a longer identifier or base64 blob (`=` padding).
        let glued = before(s, start).is_some_and(|b| matches!(b, b'_' | b'-'))
            || at(s, i).is_some_and(|b| matches!(b, b'=' | b'_' | b'-'));
        if token.len() != 40 || glued {
            continue;
        }
        let upper = token.iter().any(u8::is_ascii_uppercase);
        let lower = token.iter().any(u8::is_ascii_lowercase);
        let other = token
            .iter()
            .any(|&b| b.is_ascii_digit() || b == b'/' || b == b'+');
        if upper && lower && other && secret_key_before(s, start) {
            out.push((start, i));
        }
    }
}

/// Whether the value at `start` belongs to a key naming a secret.
fn secret_key_before(s: &[u8], start: usize) -> bool {
    let mut j = start;
    let skip_blanks_and_quotes = |mut j: usize| {
        while j > 0 && matches!(s[j - 1], b' ' | b'\t' | b'"' | b'\'') && start - j < 8 {
            j -= 1;
        }
        j
    };
    j = skip_blanks_and_quotes(j);
    let blanks_only = j < start && s[j..start].iter().all(|&b| b == b' ' || b == b'\t');
    let separated = match before(s, j) {
        Some(b'=' | b':') => {
            j -= 1;
            true
        }
        Some(b'>') if before(s, j - 1) == Some(b'=') => {
            j -= 2;
            true
        }
        _ => false,
    };
    if !separated && !blanks_only {
        return false;
    }
    j = skip_blanks_and_quotes(j);
    let end = j;
    while j > 0
        && (s[j - 1].is_ascii_alphanumeric() || matches!(s[j - 1], b'_' | b'-' | b'.'))
        && end - j < 64
    {
        j -= 1;
    }
    let key = s[j..end].to_ascii_lowercase();
    let names_secret = memmem::find(&key, b"secret").is_some();
    if separated {
        names_secret
    } else {
        names_secret && memmem::find(&key, b"access").is_some()
    }
}

#[cfg(test)]
mod tests {
    use crate::detect::{find_all, Builtin::*};

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn jwts() {
        let text = format!("token={JWT} next");
        assert_eq!(find_all(Jwt, &text), [JWT]);
        let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
        assert_eq!(find_all(Jwt, unsigned), [unsigned]);
        for text in [
            // Base64 of `{"name":"x","v":1}` repeated: no alg/typ header.
            "blob=eyJuYW1lIjoieCIsInYiOjF9.eyJuYW1lIjoieCIsInYiOjF9.abc",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.a.b",
            "xeyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.sig",
        ] {
            assert!(find_all(Jwt, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            find_all(Bearer, "Authorization: Bearer abc.def"),
            ["abc.def"]
        );
        assert_eq!(
            find_all(
                Bearer,
                r#"{"authorization":"bearer mF_9.B5f-4.1JqM"} BEARER ghp_16C7e42F292c6912E7710c838347Ae178B4a"#
            ),
            [
                "mF_9.B5f-4.1JqM",
                "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
            ]
        );
        for text in [
            "missing Bearer token",
            "bearer authentication failed",
            r#"WWW-Authenticate: Bearer realm="example""#,
            "Authorization: Bearer null",
            "Bearer <redacted>",
            "Bearer",
            "Bearerabc.def",
            "the bearer of bad news",
        ] {
            assert!(find_all(Bearer, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn aws_keys() {
        assert_eq!(
            find_all(
                AwsAccessKey,
                "key=AKIAIOSFODNN7EXAMPLE temp ASIAY34FZKBOKMUTVV7A"
            ),
            ["AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A"]
        );
        for text in [
            "AKIAIOSFODNN7EXAMPL",
            "XAKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLEX",
            "AKIAiosfodnn7example",
        ] {
            assert!(find_all(AwsAccessKey, text).is_empty(), "{text}");
        }
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        for text in [
            format!("aws_secret_access_key={secret}"),
            format!("AWS_SECRET_ACCESS_KEY: \"{secret}\""),
            format!(r#"{{"SecretAccessKey": "{secret}"}}"#),
            format!("aws_secret_access_key {secret}"),
            format!("secret => '{secret}'"),
        ] {
            assert_eq!(find_all(AwsSecretKey, &text), [secret], "{text}");
        }
        for text in [
            // No secret key name.
            format!("data={secret}"),
            format!("token {secret}"),
            // A git SHA after `secret`.
            "secret=da39a3ee5e6b4b0d3255bfef95601890afd80709".to_owned(),
            format!("secret={secret}A"),
            "secret is mentioned, path=/usr/local/lib/python3/site-packages/x".to_owned(),
        ] {
            assert!(find_all(AwsSecretKey, &text).is_empty(), "{text}");
        }
    }
}
