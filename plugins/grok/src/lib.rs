//! `builtin:grok`: a Sluice transform that parses a text field with
//! Logstash-compatible grok patterns.
//!
//! Each event's `field` (its message by default) is matched against the
//! `patterns` in order, unanchored; the first that matches wins and its
//! captures become fields (`%{NAME:field}`, `%{NAME:field:int}`,
//! `%{NAME:[ecs][style]}` as `ecs.style`, `(?<name>...)`). A capture named
//! `message` replaces the message. An event no pattern matches fails with
//! its raw text kept.
//!
//! It ships its own pattern library (`src/patterns/`, Logstash's names and
//! legacy field names) and loads Logstash pattern files unchanged through
//! `patterns_dir`; Oniguruma syntax is translated for fancy-regex
//! ([`compile`], [`onig`]).
//!
//! It is not a timestamp parser (captured times stay strings; the `date`
//! stage does that), does not tag events (`_grokparsefailure`) the way
//! Logstash does (the host records the failure), and has no
//! `overwrite`/`break_on_match` options.

pub mod compile;
pub mod library;
pub mod matcher;
pub mod onig;
pub mod reference;

use std::borrow::Cow;
use std::path::Path;

use sluice_sdk::{Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform, Value};

use library::{Library, Source};
use matcher::{CompileError, Matcher, DEFAULT_BACKTRACK_LIMIT};

/// The `grok` transform.
pub struct Grok {
    matcher: Matcher,
    /// The field matched; `message` means the event's message.
    field: String,
    scratch: Vec<(usize, Value)>,
}

const NO_MATCH: &str = "no grok pattern matched";

impl Transform for Grok {
    fn describe() -> PluginInfo {
        PluginInfo::transform("grok", env!("CARGO_PKG_VERSION"))
            .description("parses a text field with Logstash-compatible grok patterns")
            .required_key(
                "patterns",
                "list<string>",
                "grok patterns, tried in order; the first that matches (anywhere in the text) wins",
            )
            .key(
                "patterns_dir",
                "dir",
                "directory of Logstash pattern files (every file in it, in name order); \
                 their names override the built-in ones",
            )
            .key(
                "pattern_definitions",
                "table",
                "NAME = regex patterns; they override built-in and patterns_dir ones",
            )
            .key(
                "field",
                "string",
                "field to match (default `message`, the event's message)",
            )
            .key(
                "backtrack_limit",
                "integer",
                "per-line budget of backtracking steps of each pattern (default 1000000); \
                 a line over it fails",
            )
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let patterns = config.string_list("patterns")?.unwrap_or_default();
        if patterns.is_empty() {
            return Err(ConfigError::new(
                "patterns",
                "at least one pattern is required",
            ));
        }
        let mut lib = Library::builtin();
        // One directory: the host grants read access to a `dir` key's path.
        if let Some(dir) = config.string("patterns_dir")? {
            lib.load_dir(Path::new(&dir))
                .map_err(|message| ConfigError::new("patterns_dir", message))?;
        }
        for (name, regex) in config
            .string_map("pattern_definitions")?
            .unwrap_or_default()
        {
            let key = format!("pattern_definitions.{name}");
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(ConfigError::new(
                    &key,
                    format!("`{name}` cannot be used as %{{{name}}}: use letters, digits and _"),
                ));
            }
            lib.insert(name, regex, Source::Inline);
        }
        let field = config
            .string("field")?
            .unwrap_or_else(|| "message".to_owned());
        let backtrack_limit = match config.integer("backtrack_limit")? {
            None => DEFAULT_BACKTRACK_LIMIT,
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => {
                return Err(ConfigError::new(
                    "backtrack_limit",
                    "must be a positive integer",
                ))
            }
        };
        let matcher = Matcher::new(&patterns, &lib, backtrack_limit)
            .map_err(|e| compile_error(e, &patterns, &lib))?;
        Ok(Grok {
            matcher,
            field,
            scratch: Vec::new(),
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        for mut event in batch {
            self.scratch.clear();
            let result = match target(&event, &self.field) {
                Ok(text) => self.matcher.match_into(&text, &mut self.scratch),
                Err(reason) => {
                    out.fail(event, reason);
                    continue;
                }
            };
            match result {
                Ok(Some(_)) => {
                    for (id, value) in self.scratch.drain(..) {
                        let name = self.matcher.field(id);
                        if name == "message" {
                            event.message = text_of(value);
                        } else {
                            event.fields.insert(name, value);
                        }
                    }
                    out.emit(event);
                }
                Ok(None) => out.fail(event, NO_MATCH),
                Err(e) => out.fail(event, e.to_string()),
            }
        }
        Ok(())
    }
}

/// The text to match, or why there is none.
fn target<'e>(event: &'e Event, field: &str) -> Result<Cow<'e, str>, String> {
    if field == "message" {
        return Ok(Cow::Borrowed(&event.message));
    }
    match event.fields.get(field) {
        Some(Value::String(s)) => Ok(Cow::Borrowed(s)),
        Some(Value::Int(i)) => Ok(Cow::Owned(i.to_string())),
        Some(Value::Float(f)) => Ok(Cow::Owned(f.to_string())),
        Some(Value::Bool(b)) => Ok(Cow::Owned(b.to_string())),
        Some(Value::Timestamp(_)) => Err(format!("field `{field}` is a timestamp, not text")),
        Some(Value::Null) | None => Err(format!("field `{field}` is missing")),
    }
}

fn text_of(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Timestamp(t) => t.to_string(),
        Value::Null => String::new(),
    }
}

/// Names the config key of a compile error: the pattern, or the inline
/// definition or pattern file that holds the faulty definition.
fn compile_error(e: CompileError, patterns: &[String], lib: &Library) -> ConfigError {
    let index = e.pattern;
    let key = format!("patterns[{index}]");
    let source = e
        .origin
        .as_deref()
        .and_then(|name| lib.get(name))
        .map(|d| &d.source);
    match (e.origin.as_deref(), source) {
        (Some(name), Some(Source::Inline)) => ConfigError::new(
            &format!("pattern_definitions.{name}"),
            format!("{} (used by patterns[{index}])", e.message),
        ),
        (Some(name), Some(Source::File(path))) => ConfigError::new(
            "patterns_dir",
            format!(
                "pattern {name} in {}: {} (used by patterns[{index}])",
                path.display(),
                e.message
            ),
        ),
        (Some(name), _) => ConfigError::new(
            &key,
            format!(
                "in pattern {name}: {} (pattern `{}`)",
                e.message, patterns[index]
            ),
        ),
        (None, _) => ConfigError::new(
            &key,
            format!("{} (pattern `{}`)", e.message, patterns[index]),
        ),
    }
}

sluice_sdk::transform!(Grok);
