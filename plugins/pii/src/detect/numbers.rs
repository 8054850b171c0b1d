//! Detectors of numbers: `credit_card`, `us_ssn` and `phone`.

use super::{at, before, is_digit, is_word, number_may_end, number_may_start, Span};

/// Up to this many digit groups are looked at in one card candidate.
const MAX_GROUPS: usize = 8;

/// The Luhn (mod 10) checksum over ASCII digits.
// `u32::is_multiple_of` is newer than the workspace's rust-version (1.85).
#[allow(clippy::manual_is_multiple_of)]
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// Whether the issuer prefix (IIN) and length fit a card network: Visa,
/// Mastercard, American Express, Discover, JCB, Diners Club, UnionPay or
/// Maestro.
pub fn plausible_card(d: &[u8]) -> bool {
    let len = d.len();
    if !(13..=19).contains(&len) || d.iter().all(|&b| b == d[0]) {
        return false;
    }
    let prefix = |n: usize| {
        d[..n]
            .iter()
            .fold(0u32, |acc, &b| acc * 10 + (b - b'0') as u32)
    };
    let (p2, p3, p4, p6) = (prefix(2), prefix(3), prefix(4), prefix(6));
    match d[0] {
        b'4' => matches!(len, 13 | 16 | 19),              // Visa
        b'2' => (2221..=2720).contains(&p4) && len == 16, // Mastercard
        b'5' if (51..=55).contains(&p2) => len == 16,     // Mastercard
        b'5' => matches!(p2, 50 | 56..=58) && len >= 13,  // Maestro
        b'3' if p2 == 34 || p2 == 37 => len == 15,        // Amex
        b'3' if (3528..=3589).contains(&p4) => len >= 16, // JCB
        b'3' => ((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39)) && len >= 14, // Diners
        b'6' if p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 => len >= 16, // Discover
        b'6' if (622126..=622925).contains(&p6) || p2 == 62 => len >= 16, // Discover, UnionPay
        b'6' => matches!(p2, 63 | 67) && len >= 13,       // Maestro
        _ => false,
    }
}

/// Group layouts cards are written in: fours with a shorter last group
/// (`4111 1111 1111 1111`, 19 digits as 4-4-4-4-3), Amex 4-6-5 and
/// Diners 4-6-4.
fn card_layout(lens: &[usize]) -> bool {
    match lens {
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => init.iter().all(|&l| l == 4) && (1..=4).contains(last),
        [] => false,
    }
}

/// `credit_card`: 13–19 digits, contiguous or in groups separated by
/// spaces or dashes, with a card network's prefix and a valid Luhn check.
/// `runs` are the text's digit runs.
pub fn find_cards(s: &[u8], runs: &[Span], out: &mut Vec<Span>) {
    let mut digits = [0u8; 32];
    let mut r = 0;
    while r < runs.len() {
        // Runs joined by one separator, the same throughout, up to 19
        // digits and the group that passes them.
        let mut lens = [0usize; MAX_GROUPS];
        lens[0] = runs[r].1 - runs[r].0;
        let (mut n, mut total, mut sep) = (1, lens[0], None);
        while r + n < runs.len() && n < MAX_GROUPS && total <= 19 {
            let gap = runs[r + n - 1].1;
            let c = s[gap];
            if runs[r + n].0 != gap + 1 || !matches!(c, b' ' | b'-') || sep.is_some_and(|x| x != c)
            {
                break;
            }
            sep = Some(c);
            lens[n] = runs[r + n].1 - runs[r + n].0;
            total += lens[n];
            n += 1;
        }
        let groups = &runs[r..r + n];
        r += n;
        if total < 13 || !number_may_start(s, groups[0].0) {
            continue;
        }
        // The longest run of groups that is a card wins; a shorter one may
        // end before a space (`4111 1111 1111 1111 2024`).
        for k in (1..=n).rev() {
            let end = groups[k - 1].1;
            let ends_well = if k == n {
                number_may_end(s, end)
            } else {
                sep == Some(b' ')
            };
            let count: usize = lens[..k].iter().sum();
            if !ends_well || !(13..=19).contains(&count) || (k > 1 && !card_layout(&lens[..k])) {
                continue;
            }
            let mut m = 0;
            for &(a, b) in &groups[..k] {
                digits[m..m + b - a].copy_from_slice(&s[a..b]);
                m += b - a;
            }
            if plausible_card(&digits[..m]) && luhn_valid(&digits[..m]) {
                out.push((groups[0].0, end));
                break;
            }
        }
    }
}

/// `us_ssn`: `AAA-GG-SSSS`, without the numbers the SSA never issues:
/// area 000, 666 or 900–999, group 00, serial 0000.
pub fn find_ssns(s: &[u8], runs: &[Span], out: &mut Vec<Span>) {
    for w in runs.windows(3) {
        let [(a0, a1), (g0, g1), (s0, s1)] = [w[0], w[1], w[2]];
        let shape = a1 - a0 == 3
            && g1 - g0 == 2
            && s1 - s0 == 4
            && g0 == a1 + 1
            && s0 == g1 + 1
            && s[a1] == b'-'
            && s[g1] == b'-';
        if !shape || !number_may_start(s, a0) || !number_may_end(s, s1) {
            continue;
        }
        let (area, group, serial) = (&s[a0..a1], &s[g0..g1], &s[s0..s1]);
        if area != b"000"
            && area != b"666"
            && area[0] != b'9'
            && group != b"00"
            && serial != b"0000"
        {
            out.push((a0, s1));
        }
    }
}

/// `phone`: international numbers written with `+` (E.164 `+15551234567`,
/// or grouped: `+44 20 7946 0958`, `+1 (555) 123-4567`, `+44 (0)20 …`),
/// and North American ones (`(555) 123-4567`, `555-123-4567`,
/// `555.123.4567`, `1-800-555-0199`).
///
/// Bare digit runs (`5551234567`) and space-separated triples
/// (`555 123 4567`) are not phones here: in logs they are far more often
/// ids, sizes and counters.
pub fn find_phones(s: &[u8], runs: &[Span], out: &mut Vec<Span>) {
    let mut floor = 0;
    for &(start, end) in runs {
        if start < floor {
            continue;
        }
        let len = end - start;
        let found = match before(s, start) {
            Some(b'+') => international(s, start - 1).map(|e| (start - 1, e)),
            _ => None,
        }
        .or_else(|| {
            (before(s, start) == Some(b'(') && len == 3)
                .then(|| north_american(s, start - 1))
                .flatten()
                .map(|e| (start - 1, e))
        })
        .or_else(|| {
            // A number starts with its 3-digit area code or a `1` before it.
            (len == 3 || (len == 1 && s[start] == b'1'))
                .then(|| north_american(s, start))
                .flatten()
                .map(|e| (start, e))
        });
        if let Some((from, to)) = found {
            out.push((from, to));
            floor = to;
        }
    }
}

/// Exactly `n` digits at `j`, not followed by another digit.
fn digits_at(s: &[u8], j: usize, n: usize) -> bool {
    j + n <= s.len()
        && s[j..j + n].iter().all(|&b| is_digit(b))
        && !at(s, j + n).is_some_and(is_digit)
}

/// A North American number starting at `i`; returns its end.
fn north_american(s: &[u8], i: usize) -> Option<usize> {
    if !number_may_start(s, i) {
        return None;
    }
    let mut j = i;
    // An optional leading `1` and separator: `1-800-555-0199`, `1 (555) …`.
    let mut lead = None;
    if s[j] == b'1' && matches!(at(s, j + 1), Some(b' ' | b'-' | b'.')) {
        lead = at(s, j + 1);
        j += 2;
    }
    let area;
    if at(s, j) == Some(b'(') {
        if !digits_at(s, j + 1, 3) || at(s, j + 4) != Some(b')') {
            return None;
        }
        area = j + 1;
        j += 5;
        if matches!(at(s, j), Some(b' ' | b'-')) {
            j += 1;
        }
        if !digits_at(s, j, 3) || !matches!(at(s, j + 3), Some(b' ' | b'-' | b'.')) {
            return None;
        }
        j += 4;
    } else {
        if !digits_at(s, j, 3) {
            return None;
        }
        let sep = at(s, j + 3).filter(|b| matches!(b, b'-' | b'.'))?;
        if lead.is_some_and(|l| l != sep) || !digits_at(s, j + 4, 3) || at(s, j + 7) != Some(sep) {
            return None;
        }
        area = j;
        j += 8;
    }
    if !digits_at(s, j, 4) {
        return None;
    }
    j += 4;
    // Area codes start with 2–9 and are never N11 (211, 911, …).
    let valid_area =
        (b'2'..=b'9').contains(&s[area]) && !(s[area + 1] == b'1' && s[area + 2] == b'1');
    (valid_area && number_may_end(s, j)).then_some(j)
}

/// Country code length and the national number's length range, for the
/// codes in use; `None` for prefixes that are not a country code.
fn country(d: &[u8]) -> Option<(usize, usize, usize)> {
    let two = (d[0] - b'0') as u32 * 10 + (d[1] - b'0') as u32;
    Some(match two {
        10..=19 => (1, 10, 10), // NANP
        70..=79 => (1, 10, 10), // Russia, Kazakhstan
        20 | 30 | 52 | 54 | 57 | 58 | 63 | 90 | 91 | 98 => (2, 10, 10),
        27 | 31 | 33 | 34 | 40 | 41 | 48 | 56 | 61 | 93 | 94 => (2, 9, 9),
        32 | 36 | 51 | 66 => (2, 8, 9),
        45 | 47 | 53 | 65 => (2, 8, 8),
        39 | 49 => (2, 6, 11),
        43 => (2, 4, 13),
        44 => (2, 9, 10),
        46 => (2, 7, 9),
        55 | 86 => (2, 10, 11),
        60 | 64 | 81 | 82 | 84 | 92 | 95 => (2, 8, 10),
        62 => (2, 8, 12),
        // Three-digit codes (Africa, Europe's small states, Central
        // America, Asia-Pacific, Middle East).
        21..=26 | 29 | 35 | 37 | 38 | 42 | 50 | 59 | 67..=69 | 85 | 88 | 96 | 97 | 99 => (3, 6, 12),
        _ => return None,
    })
}

/// An international number starting at the `+` at `i`; returns its end.
fn international(s: &[u8], i: usize) -> Option<usize> {
    if before(s, i).is_some_and(|b| is_word(b) || matches!(b, b'+' | b'.' | b'-')) {
        return None;
    }
    if !at(s, i + 1).is_some_and(|b| (b'1'..=b'9').contains(&b)) {
        return None;
    }
    // Groups of digits, `(…)` area groups and single separators.
    let mut ends = [0usize; MAX_GROUPS]; // end of each group
    let mut counts = [0usize; MAX_GROUPS]; // digits so far, after each group
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut total = 0;
    let mut j = i + 1;
    while n < MAX_GROUPS {
        let paren = at(s, j) == Some(b'(');
        let from = if paren { j + 1 } else { j };
        let mut k = from;
        while k < s.len() && is_digit(s[k]) && total + (k - from) < digits.len() {
            k += 1;
        }
        if k == from || (paren && (k - from > 4 || at(s, k) != Some(b')'))) {
            break;
        }
        // `(0)` is the trunk prefix some write after the country code.
        if !(paren && &s[from..k] == b"0") {
            digits[total..total + k - from].copy_from_slice(&s[from..k]);
            total += k - from;
        }
        j = if paren { k + 1 } else { k };
        ends[n] = j;
        counts[n] = total;
        n += 1;
        match (at(s, j), at(s, j + 1)) {
            (Some(b' ' | b'-' | b'.'), Some(b)) if is_digit(b) || b == b'(' => j += 1,
            (Some(b'('), _) => {}
            // `(0)20`: a group right after a bracketed one.
            (Some(b), _) if paren && is_digit(b) => {}
            _ => break,
        }
    }
    if total < 8 {
        return None;
    }
    let (cc, min, max) = country(&digits[..total])?;
    // The longest run of groups that is a whole number for that country; a
    // shorter one may end before a space (`+44 20 7946 0958 200 OK`).
    (0..n).rev().find_map(|g| {
        let national = counts[g].checked_sub(cc)?;
        let end = ends[g];
        let ends_well = if g + 1 == n {
            number_may_end(s, end)
        } else {
            at(s, end) == Some(b' ')
        };
        ((min..=max).contains(&national) && ends_well).then_some(end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{find_all, Builtin::*};

    #[test]
    fn luhn_and_prefixes() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(luhn_valid(b"79927398713"));
        assert!(plausible_card(b"4111111111111111"));
        assert!(plausible_card(b"378282246310005"));
        assert!(plausible_card(b"5555555555554444"));
        assert!(plausible_card(b"2223003122003222"));
        assert!(plausible_card(b"6011111111111117"));
        assert!(plausible_card(b"3530111333300000"));
        assert!(plausible_card(b"30569309025904"));
        assert!(
            !plausible_card(b"1234567812345670"),
            "no network starts with 1"
        );
        assert!(!plausible_card(b"37828224631000"), "Amex is 15 digits");
        assert!(!plausible_card(b"0000000000000000"));
    }

    #[test]
    fn cards_in_their_usual_layouts() {
        let text = "visa 4111111111111111, mc 5555-5555-5555-4444, amex 3782 822463 10005, \
                    spaced 4111 1111 1111 1111 2024 and (6011111111111117)";
        assert_eq!(
            find_all(CreditCard, text),
            [
                "4111111111111111",
                "5555-5555-5555-4444",
                "3782 822463 10005",
                "4111 1111 1111 1111",
                "6011111111111117"
            ]
        );
    }

    #[test]
    fn numbers_that_are_not_cards() {
        for text in [
            "order 4111111111111112", // fails Luhn
            "id=1234567812345670",    // passes Luhn, no network
            "blk_-4111111111111111",  // glued to an id
            "x4111111111111111",      // glued to a word
            "4111111111111111111111", // too long
            "4111-1111 1111-1111",    // mixed separators
            "4111.1111.1111.1111",    // dots are not card separators
            "ts 1445144423722 size 67108864",
            "9.4111111111111111",
        ] {
            assert!(find_all(CreditCard, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn ssns_without_the_never_issued_ranges() {
        assert_eq!(
            find_all(UsSsn, "ssn=123-45-6789; alt 078-05-1120."),
            ["123-45-6789", "078-05-1120"]
        );
        for text in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "1123-45-6789",
            "123-45-67890",
            "a123-45-6789",
            "2024-01-15",
            "123-45-6789-1",
        ] {
            assert!(find_all(UsSsn, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn phones() {
        let text = "call +15551234567 or (555) 123-4567 or 555-123-4567, office +44 20 7946 0958 200 OK; \
                    +1 (415) 555-0132, 1-800-555-0199, 212.555.0147, +33 1 23 45 67 89, +44 (0)20 7946 0958";
        assert_eq!(
            find_all(Phone, text),
            [
                "+15551234567",
                "(555) 123-4567",
                "555-123-4567",
                "+44 20 7946 0958",
                "+1 (415) 555-0132",
                "1-800-555-0199",
                "212.555.0147",
                "+33 1 23 45 67 89",
                "+44 (0)20 7946 0958"
            ]
        );
    }

    #[test]
    fn not_phones() {
        for text in [
            "2024-01-15 12:34:56+05:30",
            "order 5551234567",
            "sizes 512 256 1024",
            "123-456-7890",
            "911-555-1234",
            "10.251.73.220:50010",
            "+0000",
            "tz +0530",
            "+1445144423722",
            "555-123-45678",
            "555-123.4567",
            "x555-123-4567",
            "+3600 seconds",
            "ratio +12.5%",
            "blk_-1608999687919862906",
            "+28 1234 5678", // no such country code
        ] {
            assert!(find_all(Phone, text).is_empty(), "{text}");
        }
    }
}
