//! Turns a grok pattern into one fancy-regex source string plus the table
//! of which capture group fills which field.
//!
//! One pass over the text expands `%{NAME}`, `%{NAME:field}` and
//! `%{NAME:field:type}` recursively (as Logstash does, each reference is
//! replaced by its definition in a group) and rewrites Oniguruma syntax
//! that fancy-regex lacks or reads differently ([`crate::onig`]):
//!
//! * every capture, whether from `%{NAME:field}` or a `(?<name>...)` written
//!   in a pattern, becomes a plain numbered group, so names with dots or
//!   brackets and the same name used twice are no problem; the table maps
//!   group numbers to fields;
//! * plain `(...)` groups become `(?:...)` (Oniguruma does not capture them
//!   once named groups exist, and grok never reads them), unless the pattern
//!   uses numbered backreferences;
//! * `(?m)` is Ruby's "dot matches newline", i.e. `(?s)`, while `^` and `$`
//!   always match at line boundaries in Ruby, so the result starts with `(?m)`;
//! * `{n,m}+` is a nested repeat in Ruby (not possessive), `{,n}` is
//!   `{0,n}`, and a `{` that does not start a repeat is a literal;
//! * `(?:X+)+` and the like, X one character, become one repeat, as
//!   Oniguruma's parser does (otherwise they backtrack exponentially);
//! * `(?x)` whitespace and comments are removed here;
//! * escapes and bracket expressions are [`crate::onig`]'s (`\d`, `\w`,
//!   `\s` are ASCII-only, as in Ruby).
//!
//! [`translate_relaxed`] builds a second, looser regex of the same pattern
//! that the matcher uses as a fast prefilter.

use std::collections::HashMap;

use crate::library::Library;
use crate::reference::Reference;

mod scan;

/// How a captured value is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    None,
    Int,
    Float,
}

/// A capture group and the field it fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The group's number in the fancy-regex (group 0 is the whole match).
    pub group: usize,
    /// The dotted field name.
    pub field: String,
    pub conversion: Conversion,
}

/// A translated pattern.
#[derive(Debug, Clone)]
pub struct Translated {
    pub regex: String,
    /// Capture groups in `regex` (more than `captures` when plain groups
    /// capture for numbered backreferences).
    pub groups: usize,
    pub captures: Vec<Capture>,
    /// The named definitions it expanded, innermost first, once each.
    pub used: Vec<String>,
}

/// Why a pattern could not be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateError {
    /// The definition whose text is at fault; `None` for the pattern itself.
    pub origin: Option<String>,
    pub message: String,
}

/// Refuses expansions larger than this (a guard against definitions that
/// reference each other exponentially).
const MAX_REGEX_BYTES: usize = 4 << 20;

/// Translates `pattern`, resolving `%{NAME}` against `lib`.
pub fn translate(pattern: &str, lib: &Library) -> Result<Translated, TranslateError> {
    let mut t = Translator::new(lib, false, false);
    t.run(pattern)?;
    if t.numbered_backref {
        if !t.captures.is_empty() || !t.named.is_empty() {
            return Err(TranslateError {
                origin: None,
                message: "numbered backreferences (\\1) cannot be used together with \
                          named captures; use \\k<name>"
                    .into(),
            });
        }
        // Oniguruma numbers plain groups when there are no named ones.
        t = Translator::new(lib, true, false);
        t.run(pattern)?;
    }
    Ok(Translated {
        groups: t.groups,
        regex: t.out,
        captures: t.captures,
        used: t.used,
    })
}

/// A regex that matches wherever `pattern` can match (and maybe more),
/// without the features that need fancy-regex's backtracking VM: look-around
/// and `\b` are dropped, atomic groups and possessive repeats become plain
/// ones, backreferences become `.*?`. fancy-regex runs it on the linear-time
/// `regex` engine, so it cheaply rules out lines, and its leftmost match
/// start is never after the real one. `None` if the pattern has a construct
/// this does not cover (conditionals).
pub fn translate_relaxed(pattern: &str, lib: &Library) -> Option<String> {
    let mut t = Translator::new(lib, false, true);
    t.run(pattern).ok()?;
    Some(t.out)
}

struct Translator<'a> {
    lib: &'a Library,
    /// Definitions given inline as `%{NAME=regex}`.
    inline: HashMap<String, String>,
    out: String,
    /// Capture groups emitted so far.
    groups: usize,
    captures: Vec<Capture>,
    /// `(?<name>...)` groups: name and group number.
    named: Vec<(String, usize)>,
    /// Definitions being expanded, outermost first.
    stack: Vec<String>,
    used: Vec<String>,
    /// Whether plain `(...)` groups capture.
    plain_captures: bool,
    /// Building the [`translate_relaxed`] form.
    relaxed: bool,
    numbered_backref: bool,
}

impl<'a> Translator<'a> {
    fn new(lib: &'a Library, plain_captures: bool, relaxed: bool) -> Self {
        Translator {
            lib,
            inline: HashMap::new(),
            out: String::from("(?m)"),
            groups: 0,
            captures: Vec::new(),
            named: Vec::new(),
            stack: Vec::new(),
            used: Vec::new(),
            plain_captures,
            relaxed,
            numbered_backref: false,
        }
    }

    fn run(&mut self, pattern: &str) -> Result<(), TranslateError> {
        self.text(pattern).map_err(|failure| match failure {
            Failure::Here(message) => TranslateError {
                origin: None,
                message,
            },
            Failure::Nested(e) => e,
        })
    }

    /// Emits a backreference (in the relaxed form, any text).
    fn backref(&mut self, text: &str) {
        self.out
            .push_str(if self.relaxed { "(?s:.*?)" } else { text });
    }

    fn backref_group(&self, name: &str) -> Result<usize, String> {
        if let Ok(n) = name.parse::<isize>() {
            return match n {
                n if n > 0 => Ok(n as usize),
                n if n < 0 && self.groups as isize + n + 1 > 0 => {
                    Ok((self.groups as isize + n + 1) as usize)
                }
                _ => Err(format!("invalid backreference \\k<{name}>")),
            };
        }
        self.named
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, g)| *g)
            .ok_or_else(|| format!("backreference to unknown group `{name}`"))
    }

    /// Expands one `%{...}` reference in place.
    fn expand(&mut self, r: Reference<'_>) -> Result<(), Failure> {
        if let Some(def) = r.definition {
            self.inline.insert(r.name.to_owned(), def.to_owned());
        }
        let definition = match self.inline.get(r.name) {
            Some(def) => def.clone(),
            None => match self.lib.get(r.name) {
                Some(def) => def.regex.clone(),
                None => return Err(Failure::Here(format!("unknown grok pattern `{}`", r.name))),
            },
        };
        if let Some(at) = self.stack.iter().position(|n| n == r.name) {
            let mut cycle: Vec<&str> = self.stack[at..].iter().map(String::as_str).collect();
            cycle.push(r.name);
            return Err(Failure::Here(format!(
                "recursive pattern definition: {}",
                cycle.join(" -> ")
            )));
        }
        let (field, conversion) = r.semantic().map_err(Failure::Here)?;
        match field {
            Some(field) => {
                self.groups += 1;
                self.captures.push(Capture {
                    group: self.groups,
                    field,
                    conversion,
                });
                self.out.push('(');
            }
            None => self.out.push_str("(?:"),
        }
        self.stack.push(r.name.to_owned());
        let result = self.text(&definition);
        let name = self.stack.pop().expect("pushed above");
        match result {
            Ok(()) => {}
            Err(Failure::Here(message)) => {
                return Err(Failure::Nested(TranslateError {
                    origin: Some(name),
                    message,
                }))
            }
            Err(nested) => return Err(nested),
        }
        self.out.push(')');
        if !self.used.contains(&name) {
            self.used.push(name);
        }
        Ok(())
    }
}

enum Failure {
    /// About the text being translated.
    Here(String),
    /// Already attributed to a nested definition.
    Nested(TranslateError),
}

fn here(message: &str) -> Failure {
    Failure::Here(message.to_owned())
}

#[cfg(test)]
mod tests;
