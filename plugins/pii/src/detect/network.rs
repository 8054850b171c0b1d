//! `ipv4` and `ipv6` addresses.

use super::{at, before, is_digit, is_word, number_may_end, Span};
use std::net::Ipv6Addr;

/// Words after which a dotted quad is a version, not an address
/// (`wcp.dll version 0.0.0.6`, `firmware: 1.2.3.4`, `Chrome/120.0.0.0`).
const VERSION_WORDS: [&[u8]; 20] = [
    b"version",
    b"ver",
    b"v",
    b"release",
    b"rel",
    b"build",
    b"firmware",
    b"fw",
    b"revision",
    b"rev", // user agents' products
    b"chrome",
    b"chromium",
    b"crios",
    b"edg",
    b"edge",
    b"firefox",
    b"opr",
    b"opera",
    b"safari",
    b"applewebkit",
];

/// `ipv4`: a dotted quad of octets 0–255 that is not part of a longer dotted
/// number (`1.2.3.4.5`, OIDs), not glued to a word, and not a version (after
/// `version`/`v`/`build`…, or `Product/1.2.3.4`).
pub fn find_ipv4(s: &[u8], runs: &[Span], out: &mut Vec<Span>) {
    let mut floor = 0;
    for &(start, end) in runs {
        if start < floor || end - start > 3 || at(s, end) != Some(b'.') {
            continue;
        }
        if let Some(to) = quad(s, start) {
            if ipv4_may_start(s, start) && number_may_end(s, to) {
                out.push((start, to));
                floor = to;
            }
        }
    }
}

/// Four octets at `i`; returns the end.
fn quad(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for octet in 0..4 {
        if octet > 0 {
            if at(s, j) != Some(b'.') {
                return None;
            }
            j += 1;
        }
        let from = j;
        let mut value = 0u32;
        while j < s.len() && is_digit(s[j]) && j - from < 4 {
            value = value * 10 + (s[j] - b'0') as u32;
            j += 1;
        }
        if j == from || j - from > 3 || value > 255 {
            return None;
        }
    }
    Some(j)
}

fn ipv4_may_start(s: &[u8], i: usize) -> bool {
    match before(s, i) {
        None => return true,
        // `~~6.1.1.0`: a Windows package identity's version.
        Some(b) if is_word(b) || matches!(b, b'.' | b'+' | b'\\' | b'~') => return false,
        // `2005-06-03-15.42.50.675872`: a dashed number, not an address.
        Some(b'-') => return !before(s, i - 1).is_some_and(is_digit),
        Some(_) => {}
    }
    // `version 1.2.3.4`, `ver=1.2.3.4`, `v: 1.2.3.4`, `Chrome/120.0.0.0`; but
    // `localhost/127.0.0.1:2181` (Java's host/address) is an address.
    let mut j = i;
    let mut skipped = 0;
    while j > 0 && matches!(s[j - 1], b' ' | b'=' | b':' | b'"' | b'\'' | b'/') && skipped < 3 {
        j -= 1;
        skipped += 1;
    }
    let word_end = j;
    while j > 0 && s[j - 1].is_ascii_alphabetic() && word_end - j < 12 {
        j -= 1;
    }
    let word = &s[j..word_end];
    let glued = j > 0 && is_word(s[j - 1]);
    glued || !VERSION_WORDS.iter().any(|v| v.eq_ignore_ascii_case(word))
}

fn is_v6(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// `ipv6`: full (`2001:0db8:0000:0000:0000:ff00:0042:8329`), compressed
/// (`2001:db8::1`, `fe80::1%eth0`, `::1`) and IPv4-mapped
/// (`::ffff:192.0.2.1`) forms, as `std` parses them. Times (`12:34:56`),
/// MAC addresses (6 groups) and EUI-64s (8 groups of 2) are not addresses;
/// so are `Type::method` paths (glued to letters) and forms with no digit.
/// A port glued on without brackets (`0:0:0:0:0:0:0:0:2181`) is left out.
pub fn find_ipv6(s: &[u8], out: &mut Vec<Span>) {
    let mut floor = 0;
    for colon in memchr::memchr_iter(b':', s) {
        if colon < floor {
            continue;
        }
        let mut start = colon;
        while start > floor && is_v6(s[start - 1]) {
            start -= 1;
        }
        let mut end = colon;
        while end < s.len() && is_v6(s[end]) {
            end += 1;
        }
        floor = end;
        if before(s, start).is_some_and(is_word) {
            continue;
        }
        if let Some(len) = ipv6_prefix(&s[start..end], !at(s, end).is_some_and(is_word)) {
            out.push((start, start + len));
        }
    }
}

/// The length of the address `token` starts with: all of it, or all but one
/// or two trailing `:group`s (a port), or with a trailing `.`/`:` trimmed.
fn ipv6_prefix(token: &[u8], free_end: bool) -> Option<usize> {
    let mut len = token.len();
    if free_end {
        let mut trimmed = len;
        while trimmed > 0 && token[trimmed - 1] == b'.' {
            trimmed -= 1;
        }
        if trimmed > 1 && token[trimmed - 1] == b':' && token[trimmed - 2] != b':' {
            trimmed -= 1;
        }
        if plausible_ipv6(&token[..trimmed]) {
            return Some(trimmed);
        }
    }
    for _ in 0..2 {
        len = token[..len].iter().rposition(|&b| b == b':')?;
        if len > 0 && token[len - 1] != b':' && plausible_ipv6(&token[..len]) {
            return Some(len);
        }
    }
    None
}

fn plausible_ipv6(text: &[u8]) -> bool {
    let colons = text.iter().filter(|&&b| b == b':').count();
    if colons < 2 || !text.iter().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let compressed = text.windows(2).any(|w| w == b"::");
    // Without `::` an address has 8 groups (7 colons), or 6 and an IPv4
    // tail: times (`12:34:56`) stop here, before the parser.
    if !compressed && colons < 6 {
        return false;
    }
    // EUI-64 / long MAC-like: eight two-digit groups.
    if !compressed && text.split(|&b| b == b':').all(|g| g.len() == 2) {
        return false;
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<Ipv6Addr>().ok())
        .is_some()
}

#[cfg(test)]
mod tests {
    use crate::detect::{find_all, Builtin::*};

    #[test]
    fn ipv4_addresses() {
        assert_eq!(
            find_all(
                Ipv4,
                "Failed password for root from 173.234.31.186 port 38926 ssh2; rhost=218.188.2.4 \
                 /10.10.34.11:3888 [192.168.0.1]. 10.0.0.255/24 0.0.0.0 localhost/127.0.0.1:2181"
            ),
            [
                "173.234.31.186",
                "218.188.2.4",
                "10.10.34.11",
                "192.168.0.1",
                "10.0.0.255",
                "0.0.0.0",
                "127.0.0.1"
            ]
        );
    }

    #[test]
    fn not_ipv4() {
        for text in [
            "version 1.2.3.4.5",
            "1.2.3.4.5",
            "wcp.dll version 0.0.0.6",
            "v1.2.3.4",
            "Chrome/120.0.6099.109",
            "Mozilla/5.0 (X11) Chrome/120.0.0.0 Safari/537.36",
            "Package_for_KB3121255~31bf3856ad364e35~amd64~~6.1.1.0, x",
            "build 10.0.19041.1",
            "256.1.1.1",
            "1.2.3",
            "2005-06-03-15.42.50.675872",
            "oid 1.3.6.1.4.1.2021",
            "x10.0.0.1",
            "10.0.0.1a",
            "Version: 1.2.3.4",
        ] {
            assert!(find_all(Ipv4, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn ipv6_addresses() {
        assert_eq!(
            find_all(
                Ipv6,
                "from 2001:db8::1 and [fe80::1ff:fe23:4567:890a]:443, fe80::1%eth0, ::1, \
                 ::ffff:192.0.2.128 2001:0db8:0000:0000:0000:ff00:0042:8329. \
                 QuorumPeer[myid=1]/0:0:0:0:0:0:0:1:2181:FastLeaderElection"
            ),
            [
                "2001:db8::1",
                "fe80::1ff:fe23:4567:890a",
                "fe80::1",
                "::1",
                "::ffff:192.0.2.128",
                "2001:0db8:0000:0000:0000:ff00:0042:8329",
                "0:0:0:0:0:0:0:1"
            ]
        );
    }

    #[test]
    fn not_ipv6() {
        for text in [
            "at 12:34:56",
            "12:34:56.789",
            "mac 00:1a:2b:3c:4d:5e",
            "eui 00:1a:2b:ff:fe:3c:4d:5e",
            "std::vector<Face::Add>",
            "dead::beef",
            "ERROR::",
            "20171223-22:15:29:606",
            "a:b:c",
            "Base64::decode",
        ] {
            assert!(find_all(Ipv6, text).is_empty(), "{text}");
        }
    }
}
