//! Compiled grok patterns and matching a line against them.

use fancy_regex::{Regex, RegexBuilder};
use sluice_sdk::Value;

use crate::compile::{translate, translate_relaxed, Capture, Conversion};
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
    /// A linear-time superset of `regex` that rules lines out quickly (most
    /// of the cost of a pattern is on lines it does not match, searched at
    /// every position); `None` when `regex` is no slower itself.
    prefilter: Option<Regex>,
    slots: Vec<Slot>,
}

/// A list of grok patterns, tried in order.
pub struct Matcher {
    patterns: Vec<Pattern>,
    /// Distinct field names, shared by the patterns.
    fields: Vec<String>,
    backtrack_limit: usize,
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
            let prefilter = prefilter(pattern, lib, &regex);
            compiled.push(Pattern {
                regex,
                prefilter,
                slots,
            });
        }
        Ok(Matcher {
            patterns: compiled,
            fields,
            backtrack_limit,
        })
    }

    /// The name of field `id` as returned by [`Matcher::match_into`].
    pub fn field(&self, id: usize) -> &str {
        &self.fields[id]
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
        for (index, pattern) in self.patterns.iter().enumerate() {
            let found = match &pattern.prefilter {
                Some(pre) => match pre.is_match(text) {
                    Ok(false) => continue,
                    _ => pattern.regex.captures(text),
                },
                None => pattern.regex.captures(text),
            };
            let caps = match found {
                Ok(Some(caps)) => caps,
                Ok(None) => continue,
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
                let Some(m) = caps.get(slot.group) else {
                    continue;
                };
                if m.as_str().is_empty() || out[first..].iter().any(|(f, _)| *f == slot.field) {
                    continue;
                }
                out.push((slot.field, convert(m.as_str(), slot.conversion)));
            }
            return Ok(Some(index));
        }
        Ok(None)
    }
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

fn prefilter(pattern: &str, lib: &Library, regex: &Regex) -> Option<Regex> {
    let relaxed = translate_relaxed(pattern, lib)?;
    if relaxed == regex.as_str() {
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
    match conversion {
        Conversion::None => Value::String(text.to_owned()),
        Conversion::Int => {
            if let Ok(i) = text.parse::<i64>() {
                return Value::Int(i);
            }
            match finite_float(text) {
                Some(f) if f.abs() < 9.2e18 => Value::Int(f.trunc() as i64),
                _ => Value::String(text.to_owned()),
            }
        }
        Conversion::Float => match finite_float(text) {
            Some(f) => Value::Float(f),
            None => Value::String(text.to_owned()),
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
