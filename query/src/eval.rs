//! Evaluating a [`Node`] against one event, through [`Fields`].

use crate::ast::{CmpOp, Literal, MessageMatch, Node, Pattern, Target, TokenPat};
use crate::text::{eq_fold, is_token_char, parse_rfc3339, Number, Tokens};
use crate::Fields;
use sluice_event::packed::ValueRef;
use sluice_event::{format_rfc3339, Level};
use std::borrow::Cow;
use std::cmp::Ordering;

impl Node {
    /// Whether `event` matches this (sub)query.
    pub fn matches<F: Fields + ?Sized>(&self, event: &F) -> bool {
        match self {
            Node::All => true,
            Node::And(items) => items.iter().all(|n| n.matches(event)),
            Node::Or(items) => items.iter().any(|n| n.matches(event)),
            Node::Not(inner) => !inner.matches(event),
            Node::Exists(target) => match target {
                Target::Message => !event.message().is_empty(),
                Target::Timestamp | Target::IngestTimestamp => true,
                Target::Field { name, .. } => {
                    event.field(name).is_some_and(|v| v != ValueRef::Null)
                }
            },
            Node::Message(m) => message_matches(m, event.message()),
            Node::Equals(target, literal) => {
                value(target, event).is_some_and(|v| equals(v, literal, target.is_level()))
            }
            Node::Wildcard(target, p) | Node::Regex(target, p) => value(target, event)
                .and_then(as_text)
                .is_some_and(|text| p.regex.is_match(&text)),
            Node::Compare(target, op, literal) => value(target, event)
                .and_then(|v| compare(v, literal, target.is_level()))
                .is_some_and(|order| holds(*op, order)),
            Node::Range(target, lower, upper) => {
                let Some(v) = value(target, event) else {
                    return false;
                };
                if v == ValueRef::Null {
                    return false;
                }
                let level = target.is_level();
                let above = lower.as_ref().is_none_or(|b| {
                    let op = if b.inclusive { CmpOp::Ge } else { CmpOp::Gt };
                    compare(v, &b.value, level).is_some_and(|o| holds(op, o))
                });
                above
                    && upper.as_ref().is_none_or(|b| {
                        let op = if b.inclusive { CmpOp::Le } else { CmpOp::Lt };
                        compare(v, &b.value, level).is_some_and(|o| holds(op, o))
                    })
            }
        }
    }
}

fn value<'e, F: Fields + ?Sized>(target: &Target, event: &'e F) -> Option<ValueRef<'e>> {
    match target {
        Target::Message => Some(ValueRef::Str(event.message())),
        Target::Timestamp => Some(ValueRef::Timestamp(event.timestamp())),
        Target::IngestTimestamp => Some(ValueRef::Timestamp(event.ingest_timestamp())),
        Target::Field { name, .. } => event.field(name),
    }
}

/// The text a wildcard or regex sees: strings as they are, other values as
/// written in JSON (times as RFC 3339); null has none.
fn as_text(v: ValueRef<'_>) -> Option<Cow<'_, str>> {
    Some(match v {
        ValueRef::Str(s) => Cow::Borrowed(s),
        ValueRef::Int(i) => Cow::Owned(i.to_string()),
        ValueRef::Float(f) => Cow::Owned(f.to_string()),
        ValueRef::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        ValueRef::Timestamp(t) => Cow::Owned(format_rfc3339(t)),
        ValueRef::Null => return None,
    })
}

/// [`Level::parse`] without its allocation for the canonical spellings.
fn level_of(s: &str) -> Option<Level> {
    Level::ALL
        .into_iter()
        .find(|l| s.eq_ignore_ascii_case(l.as_str()))
        .or_else(|| Level::parse(s))
}

fn holds(op: CmpOp, order: Ordering) -> bool {
    match op {
        CmpOp::Lt => order == Ordering::Less,
        CmpOp::Le => order != Ordering::Greater,
        CmpOp::Gt => order == Ordering::Greater,
        CmpOp::Ge => order != Ordering::Less,
    }
}

fn number_eq(n: Number, literal: &Literal) -> bool {
    literal
        .number
        .is_some_and(|b| n.compare(b) == Some(Ordering::Equal))
}

fn equals(v: ValueRef<'_>, literal: &Literal, level: bool) -> bool {
    match v {
        ValueRef::Str(s) => {
            if level {
                if let (Some(a), Some(b)) = (level_of(s), literal.level) {
                    return a == b;
                }
            }
            eq_fold(s, &literal.folded)
                || (literal.number.is_some()
                    && Number::parse(s).is_some_and(|n| number_eq(n, literal)))
        }
        ValueRef::Int(i) => number_eq(Number::Int(i), literal),
        ValueRef::Float(f) => number_eq(Number::Float(f), literal),
        ValueRef::Bool(b) => literal.folded == if b { "true" } else { "false" },
        ValueRef::Timestamp(t) => literal.time == Some(t),
        ValueRef::Null => false,
    }
}

/// How `v` orders against the bound: numbers numerically, times as times,
/// levels in level order, strings holding numbers or RFC 3339 times as
/// those, other strings byte-wise. `None` when they cannot be compared.
fn compare(v: ValueRef<'_>, bound: &Literal, level: bool) -> Option<Ordering> {
    match v {
        ValueRef::Timestamp(t) => bound.time.map(|b| t.cmp(&b)),
        ValueRef::Int(i) => bound.number.and_then(|b| Number::Int(i).compare(b)),
        ValueRef::Float(f) => bound.number.and_then(|b| Number::Float(f).compare(b)),
        ValueRef::Str(s) => {
            if level {
                if let (Some(a), Some(b)) = (level_of(s), bound.level) {
                    return Some(a.cmp(&b));
                }
            }
            if let (Some(b), Some(n)) = (bound.number, Number::parse(s)) {
                return n.compare(b);
            }
            if let Some(b) = bound.time {
                return parse_rfc3339(s).map(|t| t.cmp(&b));
            }
            if bound.number.is_some() || (level && bound.level.is_some()) {
                return None;
            }
            Some(s.cmp(bound.text.as_str()))
        }
        ValueRef::Bool(_) | ValueRef::Null => None,
    }
}

fn message_matches(m: &MessageMatch, message: &str) -> bool {
    match m {
        MessageMatch::Substring(p) => p.regex.is_match(message),
        MessageMatch::Tokens {
            tokens,
            anchor: Some(anchor),
            ..
        } => anchored_phrase_in(message, anchor, tokens),
        MessageMatch::Tokens {
            tokens, prefilter, ..
        } => {
            prefilter.as_ref().is_none_or(|p| p.regex.is_match(message))
                && phrase_in(message, tokens)
        }
    }
}

impl TokenPat {
    fn matches(&self, token: &str) -> bool {
        match self {
            TokenPat::Exact(folded) => eq_fold(token, folded),
            TokenPat::Glob(p) => p.regex.is_match(token),
            TokenPat::Any => true,
        }
    }
}

/// Whether `pats` match consecutive tokens of `message`.
fn phrase_in(message: &str, pats: &[TokenPat]) -> bool {
    let Some((first, rest)) = pats.split_first() else {
        return true;
    };
    let mut tokens = Tokens::new(message);
    while let Some(token) = tokens.next() {
        if first.matches(token) {
            match follows(tokens.clone(), rest) {
                Some(true) => return true,
                Some(false) => {}
                None => return false,
            }
        }
    }
    false
}

/// [`phrase_in`] where `anchor` finds the first token (exact, ASCII): only
/// the places where it stands as a whole token are checked.
fn anchored_phrase_in(message: &str, anchor: &Pattern, pats: &[TokenPat]) -> bool {
    let Some((TokenPat::Exact(first), rest)) = pats.split_first() else {
        return phrase_in(message, pats);
    };
    for m in anchor.regex.find_iter(message) {
        let before = message[..m.start()].chars().next_back();
        let after = message[m.end()..].chars().next();
        if before.is_some_and(is_token_char)
            || after.is_some_and(is_token_char)
            || !eq_fold(m.as_str(), first)
        {
            continue;
        }
        match follows(Tokens::new(&message[m.end()..]), rest) {
            Some(true) => return true,
            Some(false) => {}
            None => return false,
        }
    }
    false
}

/// Whether the next tokens match `pats`; `None` when the text runs out
/// first (so no later start can match either).
fn follows(mut tokens: Tokens<'_>, pats: &[TokenPat]) -> Option<bool> {
    for pat in pats {
        if !pat.matches(tokens.next()?) {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    /// The anchored search agrees with the plain token scan on messages
    /// built from near-miss pieces (prefixes, case, separators, non-ASCII).
    #[test]
    fn the_anchor_finds_exactly_what_the_scan_finds() {
        const PIECES: &[&str] = &[
            "ab", "AB", "abc", "b", "Ab_", "_ab", "\u{212A}", "k", "\u{17F}", "s", "é", " ", "-",
            ".", "/", " ", "42",
        ];
        const QUERIES: &[&str] = &[
            "ab",
            "\"ab b\"",
            "ab*",
            "k",
            "\"s ab\"",
            "42 AND ab",
            "\"ab ab\"",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let queries: Vec<_> = QUERIES.iter().map(|q| parse(q).unwrap()).collect();
        for _ in 0..20_000 {
            let len = next(12);
            let message: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
            for query in &queries {
                let mut found = Vec::new();
                collect(query.root(), &mut found);
                for (tokens, anchor) in found {
                    let Some(anchor) = anchor else { continue };
                    assert_eq!(
                        anchored_phrase_in(&message, anchor, tokens),
                        phrase_in(&message, tokens),
                        "{query} in {message:?}"
                    );
                }
            }
        }
    }

    fn collect<'n>(node: &'n Node, out: &mut Vec<(&'n [TokenPat], Option<&'n Pattern>)>) {
        match node {
            Node::And(items) | Node::Or(items) => items.iter().for_each(|n| collect(n, out)),
            Node::Not(inner) => collect(inner, out),
            Node::Message(MessageMatch::Tokens { tokens, anchor, .. }) => {
                out.push((tokens, anchor.as_ref()))
            }
            _ => {}
        }
    }
}
