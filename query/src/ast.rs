//! The parsed query: a tree of [`Node`]s with every regex and wildcard
//! already compiled. Public so a store can translate it into index queries;
//! `Display` writes it back in a canonical, fully parenthesized form.

use crate::text::{fold, Number};
use regex::Regex;
use sluice_event::Level;
use std::fmt;

/// What a clause looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The event's message (bare terms, or the field name `message`).
    Message,
    /// The event time (`timestamp`).
    Timestamp,
    /// The ingest time (`ingest_timestamp`).
    IngestTimestamp,
    /// A field of the event. `level` is set for `level` and names ending in
    /// `.level` (`log.level`): their strings compare as [`Level`]s.
    Field { name: String, level: bool },
}

impl Target {
    pub fn new(name: &str) -> Target {
        match name {
            "message" => Target::Message,
            "timestamp" => Target::Timestamp,
            "ingest_timestamp" => Target::IngestTimestamp,
            _ => Target::Field {
                name: name.to_owned(),
                level: name == "level" || name.ends_with(".level"),
            },
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Message => "message",
            Target::Timestamp => "timestamp",
            Target::IngestTimestamp => "ingest_timestamp",
            Target::Field { name, .. } => name,
        }
    }

    pub fn is_level(&self) -> bool {
        matches!(self, Target::Field { level: true, .. })
    }
}

/// `<`, `<=`, `>`, `>=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

/// A value written in the query, read every way it could be compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub text: String,
    /// `text` lower-cased (char by char), for case-insensitive equality.
    pub folded: String,
    pub number: Option<Number>,
    /// ns since the epoch, from RFC 3339, epoch milliseconds, or `now`
    /// with an offset (`now-15m`), taken when the query is parsed.
    pub time: Option<i64>,
    pub level: Option<Level>,
}

impl Literal {
    pub fn new(text: String) -> Literal {
        Literal {
            folded: fold(&text),
            number: Number::parse(&text),
            time: crate::text::parse_time_at(&text, sluice_event::now_ns()),
            level: Level::parse(&text),
            text,
        }
    }
}

/// A compiled regex (from `/re/` or a wildcard) with the text it came from.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// One token of a term or phrase matched against the message's tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenPat {
    /// Equal ignoring case (stored folded).
    Exact(String),
    /// A wildcard over one token, case-insensitive.
    Glob(Pattern),
    /// `*` alone: any one token.
    Any,
}

/// How a term, phrase or wildcard looks at the message.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageMatch {
    /// These tokens appear consecutively in the message (one for a term).
    Tokens {
        tokens: Vec<TokenPat>,
        /// Accelerators, derived from `tokens`: when the first token is
        /// ASCII and exact, `anchor` finds it case-insensitively and only
        /// those places are checked; otherwise `prefilter` (the longest
        /// ASCII exact token, 3 characters or more) must be in the message
        /// before its tokens are scanned.
        anchor: Option<Pattern>,
        prefilter: Option<Pattern>,
    },
    /// Text with no token characters at all (`"->"`): a case-insensitive
    /// substring of the message.
    Substring(Pattern),
}

/// One side of a range: the value and whether it is included.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub value: Literal,
    pub inclusive: bool,
}

/// A query tree. `And` and `Or` are flat lists of two or more.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `*`: every event.
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// `_exists_:field` or `field:*`: present and not null.
    Exists(Target),
    /// A bare term, phrase or wildcard, or the same on `message:`.
    Message(MessageMatch),
    /// `field:value` / `field:"value"`: the whole value, case-insensitively
    /// for strings, numerically for numbers, as a time for timestamps.
    Equals(Target, Literal),
    /// `field:web-*`: the whole value against the wildcard, ignoring case.
    Wildcard(Target, Pattern),
    /// `/re/` or `field:/re/`: the whole value, case-sensitively.
    Regex(Target, Pattern),
    /// `field:>=500`.
    Compare(Target, CmpOp, Literal),
    /// `field:[a TO b}`; `None` is an open side (`*`).
    Range(Target, Option<Bound>, Option<Bound>),
}

fn write_value(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let plain = !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || "()[]{}\"|\\:*?/".contains(c) || c == '+' || c == '-')
        && !["AND", "OR", "NOT", "TO"].contains(&text);
    if plain {
        f.write_str(text)
    } else {
        write!(f, "\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[Node], op: &str) -> fmt::Result {
    f.write_str("(")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            write!(f, " {op} ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(")")
}

impl fmt::Display for TokenPat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenPat::Exact(t) => f.write_str(t),
            TokenPat::Glob(p) => f.write_str(&p.source),
            TokenPat::Any => f.write_str("*"),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::All => f.write_str("*"),
            Node::And(items) => write_list(f, items, "AND"),
            Node::Or(items) => write_list(f, items, "OR"),
            Node::Not(inner) => write!(f, "NOT {inner}"),
            Node::Exists(target) => write!(f, "_exists_:{}", target.name()),
            Node::Message(MessageMatch::Tokens { tokens, .. }) => {
                let quoted = tokens.len() > 1;
                f.write_str(if quoted { "\"" } else { "" })?;
                for (i, t) in tokens.iter().enumerate() {
                    write!(f, "{}{t}", if i > 0 { " " } else { "" })?;
                }
                f.write_str(if quoted { "\"" } else { "" })
            }
            Node::Message(MessageMatch::Substring(p)) => write!(
                f,
                "\"{}\"",
                p.source.replace('\\', "\\\\").replace('"', "\\\"")
            ),
            Node::Equals(target, value) => {
                write!(f, "{}:", target.name())?;
                write_value(f, &value.text)
            }
            Node::Wildcard(target, p) => write!(f, "{}:{}", target.name(), p.source),
            Node::Regex(Target::Message, p) => write!(f, "/{}/", p.source),
            Node::Regex(target, p) => write!(f, "{}:/{}/", target.name(), p.source),
            Node::Compare(target, op, value) => {
                write!(f, "{}:{op}", target.name())?;
                write_value(f, &value.text)
            }
            Node::Range(target, lower, upper) => {
                write!(f, "{}:", target.name())?;
                match lower {
                    Some(b) => {
                        f.write_str(if b.inclusive { "[" } else { "{" })?;
                        write_value(f, &b.value.text)?;
                    }
                    None => f.write_str("[*")?,
                }
                f.write_str(" TO ")?;
                match upper {
                    Some(b) => {
                        write_value(f, &b.value.text)?;
                        f.write_str(if b.inclusive { "]" } else { "}" })
                    }
                    None => f.write_str("*]"),
                }
            }
        }
    }
}
