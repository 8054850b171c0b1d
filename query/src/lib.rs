//! `sluice-query`: the Sluice search language (Lucene/KQL style, DESIGN §7)
//! parsed into a [`Query`] and evaluated against one event at a time.
//!
//! It is for deciding whether an event matches: the `filter` and `route`
//! plugins (as Wasm guests), live tail, alert conditions, and the store's
//! query server after its index has narrowed the candidates. Regexes and
//! wildcards are compiled once, at parse time; evaluating string, number
//! and time clauses allocates nothing. It works on owned [`Event`]s and on packed
//! [`Row`]s alike through the small [`Fields`] trait.
//!
//! It is not: an index or a planner (a store translates the public [`ast`]
//! into index queries), the aggregation pipes (`| stats ...`; parsing stops
//! at a top-level `|` so a pipe parser can take over, see
//! [`parse_until_pipe`]), relative times (`now-1h`: the API's `from`/`to`),
//! or Lucene's scoring, boosts (`^2`), fuzzy or proximity (`~`) queries.
//! No I/O, no threads; it builds for `wasm32-wasip2`.
//!
//! # Grammar
//!
//! ```text
//! query    = or [ "|" rest ]                     (rest is left to the caller)
//! or       = and { "OR" and }
//! and      = unary { [ "AND" ] unary }           (adjacent clauses are ANDed)
//! unary    = ( "NOT" | "-" ) unary | "+" unary | primary
//! primary  = "(" or ")" | field ":" value | term | phrase | regex
//! value    = term | phrase | regex | cmp | range | "(" group ")"
//! group    = or, whose clauses are values of that field (no nested fields)
//! cmp      = ( ">=" | ">" | "<=" | "<" ) ( term | phrase )
//! range    = ( "[" | "{" ) bound "TO" bound ( "]" | "}" )   ([ ] inclusive, { } exclusive)
//! bound    = "*" | term | phrase
//! term     = word: any characters but whitespace and ( ) [ ] { } " |, with * and ?
//!            wildcards and \ escaping any character; at the start of a clause an
//!            unescaped ':' ends a field name; AND OR NOT (anywhere, also right
//!            after ':') and TO (in ranges) are keywords only in upper case and
//!            unescaped: write "AND" or \AND for the word
//! phrase   = '"' { character | '\' character } '"'
//! regex    = '/' { character | '\/' } '/'   (only where a term starts)
//! ```
//!
//! Precedence is `NOT`/`-` over `AND` over `OR`. `+` changes nothing (every
//! clause is already required). `*` alone matches every event; `field:*` and
//! `_exists_:field` match events where the field is present and not null.
//!
//! # What matches what
//!
//! - **The message** (bare terms, phrases, wildcards, `message:...`) is
//!   text: it is split into tokens, maximal runs of letters, digits and `_`
//!   (so `.`, `-`, `/`, `:` and other punctuation separate tokens). A term
//!   or phrase is split the same way and matches when its tokens appear
//!   consecutively, ignoring case: `timeout` matches `Read timeout.`,
//!   `10.0.0.1` and `"connection refused"` are phrases of tokens. In a
//!   wildcard term `*` and `?` count as token characters and match within
//!   one token (`conn*` matches `connection`; `web-*` is `web` followed by
//!   any token). Text with no token characters at all (`"->"`) is a
//!   case-insensitive substring.
//! - **Other fields** are values: `field:value` and `field:"value"` match
//!   the whole value, case-insensitively for strings; numbers compare
//!   numerically (a string holding a number too); `true`/`false` match
//!   booleans. Wildcards match the whole value ignoring case.
//! - **Regexes** (`/re/`, `field:/re/`) use the `regex` crate's syntax,
//!   are case-sensitive and anchored to the whole value as in Lucene (use
//!   `/.*timeout.*/` to search inside), and `.` matches newlines. Numbers,
//!   booleans and times are matched as their JSON text.
//! - **Comparisons and ranges** order numbers numerically, `timestamp` and
//!   `ingest_timestamp` (always the event's two times, never a field) and
//!   timestamp fields by time (bounds in RFC 3339 or epoch milliseconds),
//!   `level` and `*.level` fields in the order TRACE < DEBUG < INFO < WARN <
//!   ERROR < FATAL (with the spellings [`Level::parse`] knows), strings that
//!   hold numbers or RFC 3339 times as those, and other strings byte-wise.
//!   Values that cannot be compared (a word against a number) do not match.
//!
//! ```
//! use sluice_event::Event;
//! let q = sluice_query::parse("level:>=WARN AND -service:healthcheck* \"timed out\"").unwrap();
//! let mut event = Event::new("upstream timed out after 30s");
//! event.fields.insert("level", "error");
//! event.fields.insert("service", "checkout");
//! assert!(q.matches(&event));
//! ```
//!
//! [`Level::parse`]: sluice_event::Level::parse

pub mod ast;
mod compile;
mod eval;
mod lexer;
mod parser;
pub mod text;

use sluice_event::packed::{Row, ValueRef};
use sluice_event::Event;
use std::fmt;

/// Read access to an event, so a query can run on owned [`Event`]s and on
/// [`Row`]s read in place.
pub trait Fields {
    fn message(&self) -> &str;
    /// The event time, ns since the epoch.
    fn timestamp(&self) -> i64;
    /// The ingest time, ns since the epoch.
    fn ingest_timestamp(&self) -> i64;
    /// A field by its (dotted) name.
    fn field(&self, name: &str) -> Option<ValueRef<'_>>;
}

impl Fields for Event {
    fn message(&self) -> &str {
        &self.message
    }
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn ingest_timestamp(&self) -> i64 {
        self.ingest_timestamp
    }
    fn field(&self, name: &str) -> Option<ValueRef<'_>> {
        self.fields.get(name).map(ValueRef::from)
    }
}

impl Fields for Row<'_> {
    fn message(&self) -> &str {
        Row::message(self)
    }
    fn timestamp(&self) -> i64 {
        Row::timestamp(self)
    }
    fn ingest_timestamp(&self) -> i64 {
        Row::ingest_timestamp(self)
    }
    fn field(&self, name: &str) -> Option<ValueRef<'_>> {
        Row::field(self, name)
    }
}

impl<T: Fields + ?Sized> Fields for &T {
    fn message(&self) -> &str {
        (**self).message()
    }
    fn timestamp(&self) -> i64 {
        (**self).timestamp()
    }
    fn ingest_timestamp(&self) -> i64 {
        (**self).ingest_timestamp()
    }
    fn field(&self, name: &str) -> Option<ValueRef<'_>> {
        (**self).field(name)
    }
}

/// Why a query could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based character (not byte) column in the query text.
    pub column: usize,
    pub message: String,
}

impl ParseError {
    /// The query, a caret under the column, and the message, for a terminal.
    pub fn render(&self, query: &str) -> String {
        let pad = " ".repeat(self.column.saturating_sub(1));
        format!("{query}\n{pad}^ {}", self.message)
    }
}

/// A parsed query, ready to match events.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    root: ast::Node,
}

impl Query {
    /// Parses a whole query; a top-level `|` is an error (see
    /// [`parse_until_pipe`]).
    pub fn parse(text: &str) -> Result<Query, ParseError> {
        let (query, rest) = parse_until_pipe(text)?;
        if rest < text.len() {
            return Err(ParseError {
                column: column_at(text, rest),
                message: "unexpected '|': pipes (| stats ...) are not supported here".into(),
            });
        }
        Ok(query)
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &(impl Fields + ?Sized)) -> bool {
        self.root.matches(event)
    }

    pub fn root(&self) -> &ast::Node {
        &self.root
    }

    pub fn into_root(self) -> ast::Node {
        self.root
    }
}

impl std::str::FromStr for Query {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Query, ParseError> {
        Query::parse(text)
    }
}

/// The canonical form: fully parenthesized, terms folded to lower case.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

/// Parses a whole query (no pipes).
pub fn parse(text: &str) -> Result<Query, ParseError> {
    Query::parse(text)
}

/// Parses the search part of `text`, up to a top-level `|`. Returns the
/// query and the byte offset of that `|` (`text.len()` when there is none),
/// so `&text[offset..]` is the pipe part; [`column_at`] turns the offset
/// into the column to report errors from there. A `|` inside a phrase or a
/// regex is text; one inside parentheses is an error.
pub fn parse_until_pipe(text: &str) -> Result<(Query, usize), ParseError> {
    let (root, rest) = parser::parse(text)?;
    Ok((Query { root }, rest))
}

/// The 1-based character column of byte `offset` in `text`.
pub fn column_at(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or_else(|| text.chars().count(), |t| t.chars().count())
        + 1
}
