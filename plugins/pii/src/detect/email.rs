//! `email`: `local@domain.tld`, found from each `@` outwards.
//!
//! The local part is the common unquoted form (`[A-Za-z0-9._%+-]`, no
//! leading, trailing or doubled dot, at most 64 bytes). The domain needs at
//! least two labels of letters, digits and inner hyphens, and an alphabetic
//! top-level label of 2–24 letters (or an `xn--` one), so `user@localhost`,
//! `Listener@493`, `lodash@4.17.21` and `image@sha256:…` are not addresses.

use super::{at, is_word, Span};

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

pub fn find(s: &[u8], out: &mut Vec<Span>) {
    let mut floor = 0; // nothing before this is reused
    for sign in memchr::memchr_iter(b'@', s) {
        if sign < floor {
            continue;
        }
        let mut start = sign;
        while start > floor && is_local(s[start - 1]) {
            start -= 1;
        }
        while start < sign && s[start] == b'.' {
            start += 1;
        }
        // `x@y.com@z.com`: the second address is not one.
        if start > 0 && s[start - 1] == b'@' {
            continue;
        }
        let local = &s[start..sign];
        if local.is_empty()
            || local.len() > 64
            || local.ends_with(b".")
            || local.windows(2).any(|w| w == b"..")
        {
            continue;
        }
        let mut end = sign + 1;
        while end < s.len() && is_domain(s[end]) {
            end += 1;
        }
        while end > sign + 1 && matches!(s[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if !valid_domain(&s[sign + 1..end]) {
            continue;
        }
        // `a@b.com@c.com` or `a@b.com_x` is some other syntax.
        if at(s, end).is_some_and(|b| b == b'@' || is_word(b)) {
            continue;
        }
        out.push((start, end));
        floor = end;
    }
}

fn valid_domain(domain: &[u8]) -> bool {
    if domain.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        if label.is_empty() || label.len() > 63 || label.starts_with(b"-") || label.ends_with(b"-")
        {
            return false;
        }
        labels += 1;
        last = label;
    }
    let tld_ok = (2..=24).contains(&last.len()) && last.iter().all(u8::is_ascii_alphabetic)
        || last.len() > 4 && last[..4].eq_ignore_ascii_case(b"xn--");
    labels >= 2 && tld_ok
}

#[cfg(test)]
mod tests {
    use crate::detect::{find_all, Builtin::Email};

    #[test]
    fn finds_addresses_and_trims_punctuation() {
        assert_eq!(
            find_all(Email, "mail to alice.smith+tag@mail.example.co.uk."),
            ["alice.smith+tag@mail.example.co.uk"]
        );
        assert_eq!(
            find_all(
                Email,
                "<bob@example.com>,carol_o-neil@sub-domain.example.org"
            ),
            ["bob@example.com", "carol_o-neil@sub-domain.example.org"]
        );
        assert_eq!(
            find_all(Email, "user=\"dave@x.io\" from=...eve@y.net"),
            ["dave@x.io", "eve@y.net"]
        );
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for text in [
            "QuorumCnxManager$Listener@493",
            "local@tbird-admin1",
            "root@localhost",
            "npm install lodash@4.17.21",
            "image@sha256:9f86d081884c7d65",
            "a..b@example.com",
            "trailing.@example.com",
            "@example.com",
            "user@-bad.com",
            "user@example.c0m",
            "x@y.com@z.com",
            "foo @ bar.com",
            "node@10.0.0.1",
        ] {
            assert!(find_all(Email, text).is_empty(), "{text}");
        }
    }
}
