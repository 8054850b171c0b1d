//! Compiled grok patterns and matching a line against them.
//!
//! Each pattern runs on [`crate::engine`] when it covers it (all of the
//! Logstash library does), and on fancy-regex otherwise or when the engine
//! gives up on a line; fancy-regex's answer then stands, backtracking limit
//! included.

use std::cell::RefCell;

use fancy_regex::{Regex, RegexBuilder};
use sluice_sdk::{Value, ValueRef};

use crate::compile::{translate, translate_relaxed, Capture, Conversion};
use crate::engine::{self, Outcome, Program};
use crate::library::Library;

/// The default per-line budget of backtracking steps of each pattern
/// (fancy-regex's own default).
pub const DEFAULT_BACKTRACK_LIMIT: usize = 1_000_000;

/// Why a pattern did not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Index of the pattern in the list.
    pub pattern: usize,
    /// The named definition at fault; `None` for the pattern text itself.
    pub origin: Option<String>,
    pub message: String,
}

/// Why a line could not be matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchError {
    /// Pattern `pattern` ran out of its backtracking budget.
    BacktrackLimit { pattern: usize, limit: usize },
    /// Any other run-time failure of the regex engine.
    Engine { pattern: usize, message: String },
}

impl std::fmt::Display for MatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatchError::BacktrackLimit { pattern, limit } => write!(
                f,
                "grok pattern patterns[{pattern}] gave up: more than {limit} backtracking steps \
                 on this line (see backtrack_limit)"
            ),
            MatchError::Engine { pattern, message } => {
                write!(f, "grok pattern patterns[{pattern}] failed: {message}")
            }
        }
    }
}

struct Slot {
    group: usize,
    /// Index into [`Matcher::fields`].
    field: usize,
    conversion: Conversion,
}

struct Pattern {
    regex: Regex,
    /// The same pattern on the faster engine, if it covers it.
    program: Option<Program>,
    /// A linear-time superset of `regex` that rules lines out quickly (most
    /// of the cost of a pattern is on lines it does not match, searched at
    /// every position). For fancy-regex, `None` when `regex` is no slower
    /// itself; the engine asks it only about lines that take it long.
    prefilter: Option<Regex>,
    slots: Vec<Slot>,
}

/// One capture of a match: the field it fills, where it is in the text,
/// and how to convert it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub field: usize,
    pub start: usize,
    pub end: usize,
    pub conversion: Conversion,
}

/// A list of grok patterns, tried in order.
pub struct Matcher {
    patterns: Vec<Pattern>,
    /// Distinct field names, shared by the patterns.
    fields: Vec<String>,
    backtrack_limit: usize,
    cache: RefCell<engine::Cache>,
}

/// The engine's first try at a line: enough steps for any line a pattern
/// fits without much backtracking. A line over it is first checked against
/// the prefilter, then searched again with the full limit.
fn quick_budget(text: &str) -> usize {
    1024 + 8 * text.len()
}

impl Matcher {
    /// Compiles every pattern against `lib`.
    pub fn new(
        patterns: &[String],
        lib: &Library,
        backtrack_limit: usize,
    ) -> Result<Matcher, CompileError> {
        let mut fields: Vec<String> = Vec::new();
        let mut compiled = Vec::with_capacity(patterns.len());
        for (index, pattern) in patterns.iter().enumerate() {
            let (regex, captures) =
                compile_one(pattern, lib, backtrack_limit).map_err(|(origin, message)| {
                    CompileError {
                        pattern: index,
                        origin,
                        message,
                    }
                })?;
            let slots = captures
                .into_iter()
                .map(|c| {
                    let field = match fields.iter().position(|f| *f == c.field) {
                        Some(at) => at,
                        None => {
                            fields.push(c.field);
                            fields.len() - 1
                        }
                    };
                    Slot {
                        group: c.group,
                        field,
                        conversion: c.conversion,
                    }
                })
                .collect();
            let program = engine::build(regex.as_str());
            let prefilter = prefilter(pattern, lib, &regex, program.is_some());
            compiled.push(Pattern {
                regex,
                program,
                prefilter,
                slots,
            });
        }
        Ok(Matcher {
            patterns: compiled,
            fields,
            backtrack_limit,
            cache: RefCell::default(),
        })
    }

    /// Whether pattern `index` runs on [`crate::engine`] (for tests).
    pub fn uses_engine(&self, index: usize) -> bool {
        self.patterns[index].program.is_some()
    }

    /// The name of field `id` as returned by [`Matcher::match_into`].
    pub fn field(&self, id: usize) -> &str {
        &self.fields[id]
    }

    /// The id of the field named `name`, if a pattern captures it.
    pub fn field_id(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }

    /// Matches `text` against the patterns in order. On the first match,
    /// appends (field id, value) for every capture that took part and is not
    /// empty (the first one wins for a field captured twice) and returns the
    /// index of the pattern; `None` if no pattern matched.
    pub fn match_into(
        &self,
        text: &str,
        out: &mut Vec<(usize, Value)>,
    ) -> Result<Option<usize>, MatchError> {
        let mut spans = Vec::new();
        let found = self.match_spans(text, &mut spans)?;
        out.extend(
            spans
                .iter()
                .map(|s| (s.field, convert(&text[s.start..s.end], s.conversion))),
        );
        Ok(found)
    }

    /// [`Matcher::match_into`] without building values: appends the spans
    /// of the captures in `text`.
    pub fn match_spans(
        &self,
        text: &str,
        out: &mut Vec<Span>,
    ) -> Result<Option<usize>, MatchError> {
        for (index, pattern) in self.patterns.iter().enumerate() {
            if self.match_one(index, pattern, text, out)? {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    fn match_one(
        &self,
        index: usize,
        pattern: &Pattern,
        text: &str,
        out: &mut Vec<Span>,
    ) -> Result<bool, MatchError> {
        let prefilter_rules_out = |pre: &Option<Regex>| {
            pre.as_ref()
                .is_some_and(|p| matches!(p.is_match(text), Ok(false)))
        };
        if let Some(program) = &pattern.program {
            let mut cache = self.cache.borrow_mut();
            let quick = quick_budget(text).min(self.backtrack_limit);
            let mut outcome = program.search(text, quick, &mut cache);
            if outcome == Outcome::GaveUp {
                if prefilter_rules_out(&pattern.prefilter) {
                    return Ok(false);
                }
                if quick < self.backtrack_limit {
                    outcome = program.search(text, self.backtrack_limit, &mut cache);
                }
            }
            match outcome {
                Outcome::Match => {
                    let first = out.len();
                    for slot in &pattern.slots {
                        if let Some((start, end)) = program.group(&cache, slot.group) {
                            push_span(out, first, slot, start, end);
                        }
                    }
                    return Ok(true);
                }
                Outcome::NoMatch => return Ok(false),
                // fancy-regex decides.
                Outcome::GaveUp => {}
            }
        } else if prefilter_rules_out(&pattern.prefilter) {
            return Ok(false);
        }
        let caps = match pattern.regex.captures(text) {
            Ok(Some(caps)) => caps,
            Ok(None) => return Ok(false),
            Err(fancy_regex::Error::RuntimeError(
                fancy_regex::RuntimeError::BacktrackLimitExceeded,
            )) => {
                return Err(MatchError::BacktrackLimit {
                    pattern: index,
                    limit: self.backtrack_limit,
                })
            }
            Err(e) => {
                return Err(MatchError::Engine {
                    pattern: index,
                    message: e.to_string(),
                })
            }
        };
        let first = out.len();
        for slot in &pattern.slots {
            if let Some(m) = caps.get(slot.group) {
                push_span(out, first, slot, m.start(), m.end());
            }
        }
        Ok(true)
    }
}

/// Appends a capture unless it is empty or its field was captured already
/// in this match (`out[first..]`).
fn push_span(out: &mut Vec<Span>, first: usize, slot: &Slot, start: usize, end: usize) {
    if start == end || out[first..].iter().any(|s| s.field == slot.field) {
        return;
    }
    out.push(Span {
        field: slot.field,
        start,
        end,
        conversion: slot.conversion,
    });
}

/// The definition at fault (`None`: the pattern itself) and the message.
type Blame = (Option<String>, String);

/// Translates and builds one pattern. On failure, returns the definition to
/// blame (if not the pattern itself) and the message.
fn compile_one(
    pattern: &str,
    lib: &Library,
    backtrack_limit: usize,
) -> Result<(Regex, Vec<Capture>), Blame> {
    let t = translate(pattern, lib).map_err(|e| (e.origin, e.message))?;
    match build(&t.regex, backtrack_limit) {
        Ok(regex) => {
            debug_assert_eq!(regex.captures_len(), t.groups + 1);
            Ok((regex, t.captures))
        }
        Err(error) => {
            // Blame the innermost definition that fails on its own.
            for name in &t.used {
                let Ok(alone) = translate(&format!("%{{{name}}}"), lib) else {
                    continue;
                };
                if let Err(e) = build(&alone.regex, backtrack_limit) {
                    let text = lib.get(name).map(|d| d.regex.as_str()).unwrap_or("");
                    return Err((
                        Some(name.clone()),
                        format!("pattern {name} (`{text}`) is not a valid regex: {e}"),
                    ));
                }
            }
            Err((None, format!("not a valid regex: {error}")))
        }
    }
}

/// The relaxed form of `pattern`; for fancy-regex only if it differs from
/// `regex` (which then runs on the `regex` crate itself).
fn prefilter(pattern: &str, lib: &Library, regex: &Regex, engine: bool) -> Option<Regex> {
    let relaxed = translate_relaxed(pattern, lib)?;
    if relaxed == regex.as_str() && !engine {
        return None;
    }
    build(&relaxed, DEFAULT_BACKTRACK_LIMIT).ok()
}

fn build(regex: &str, backtrack_limit: usize) -> Result<Regex, String> {
    RegexBuilder::new(regex)
        .backtrack_limit(backtrack_limit)
        .build()
        .map_err(|e| e.to_string())
}

/// Converts a captured string; a value that does not convert stays a string.
///
/// `int` takes an integer, or a decimal number truncated toward zero (as
/// Ruby's `to_i` does with "3.7"); `float` takes any finite decimal number.
pub fn convert(text: &str, conversion: Conversion) -> Value {
    convert_ref(text, conversion).to_value()
}

/// [`convert`] without copying the text: a string stays a slice of it.
pub fn convert_ref(text: &str, conversion: Conversion) -> ValueRef<'_> {
    match conversion {
        Conversion::None => ValueRef::Str(text),
        Conversion::Int => {
            if let Ok(i) = text.parse::<i64>() {
                return ValueRef::Int(i);
            }
            match finite_float(text) {
                Some(f) if f.abs() < 9.2e18 => ValueRef::Int(f.trunc() as i64),
                _ => ValueRef::Str(text),
            }
        }
        Conversion::Float => match finite_float(text) {
            Some(f) => ValueRef::Float(f),
            None => ValueRef::Str(text),
        },
    }
}

fn finite_float(text: &str) -> Option<f64> {
    // Rust also reads "inf" and "NaN"; a log's "nan" is not a number to us.
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests;
