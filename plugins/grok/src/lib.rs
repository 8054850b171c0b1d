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
//! ([`compile`], [`onig`]), and patterns run on a faster backtracking
//! engine with fancy-regex's results ([`engine`]).
//!
//! Rows are read in place and sent on with the captured fields appended
//! (`process_batch`), without building owned events.
//!
//! It is not a timestamp parser (captured times stay strings; the `date`
//! stage does that), does not tag events (`_grokparsefailure`) the way
//! Logstash does (the host records the failure), and has no
//! `overwrite`/`break_on_match` options.

pub mod compile;
pub mod engine;
pub mod library;
pub mod matcher;
pub mod onig;
pub mod reference;

use std::path::Path;

use sluice_sdk::{
    Batch, Config, ConfigError, Event, Output, PluginError, PluginInfo, Row, Transform, ValueRef,
};

use library::{Library, Source};
use matcher::{convert_ref, CompileError, Matcher, Span, DEFAULT_BACKTRACK_LIMIT};

/// The `grok` transform.
pub struct Grok {
    matcher: Matcher,
    /// The field matched; `message` means the event's message.
    field: String,
    /// The id of a captured `message`, which replaces the message.
    message_id: Option<usize>,
    spans: Vec<Span>,
    /// A converted `message` capture as text.
    message_text: String,
}

const NO_MATCH: &str = "no grok pattern matched";

impl Transform for Grok {
    /// Parsed rows go on with their message and captures referring to the
    /// input's text: nothing is copied per row but the field names.
    const KEEP_INPUT_TEXT: bool = true;

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
            message_id: matcher.field_id("message"),
            matcher,
            field,
            spans: Vec::new(),
            message_text: String::new(),
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        sluice_sdk::process_owned(self, batch, out)
    }

    /// Rows are read in place: the text is matched where it lies in the
    /// batch, and the row goes on with its fields plus the captures, which
    /// refer to that text (`KEEP_INPUT_TEXT`): no owned event is built.
    fn process_batch(&mut self, batch: Batch<'_>, out: &mut Output) -> Result<(), PluginError> {
        for row in batch.rows() {
            let owned;
            let text = if self.field == "message" {
                row.message()
            } else {
                match target(&row, &self.field) {
                    Ok(Some(text)) => text,
                    Ok(None) => {
                        owned = row.field(&self.field).map(text_of).unwrap_or_default();
                        &owned
                    }
                    Err(reason) => {
                        out.fail_row(&row, reason);
                        continue;
                    }
                }
            };
            self.spans.clear();
            match self.matcher.match_spans(text, &mut self.spans) {
                Ok(Some(_)) => self.emit(&row, text, out),
                Ok(None) => out.fail_row(&row, NO_MATCH),
                Err(e) => out.fail_row(&row, e.to_string()),
            }
        }
        Ok(())
    }
}

impl Grok {
    /// Sends `row` on with the captures of `text` in `self.spans`, set as
    /// `Fields::insert` would: a field the row has is replaced where it is,
    /// new ones follow in capture order, and `message` replaces the message.
    fn emit(&mut self, row: &Row<'_>, text: &str, out: &mut Output) {
        let (matcher, spans) = (&self.matcher, &self.spans);
        let value = |s: &Span| convert_ref(&text[s.start..s.end], s.conversion);
        let mut message = row.message();
        if let Some(s) = self
            .message_id
            .and_then(|id| spans.iter().find(|s| s.field == id))
        {
            message = match value(s) {
                ValueRef::Str(captured) => captured,
                other => {
                    self.message_text = text_of(other);
                    &self.message_text
                }
            };
        }
        let message_id = self.message_id;
        let is_field = move |s: &&Span| Some(s.field) != message_id;
        if row.field_count() == 0 {
            // Nothing to replace: the captures are the fields.
            let fields = spans
                .iter()
                .filter(is_field)
                .map(|s| (matcher.field(s.field), value(s)));
            out.emit_row_parts(row, message, fields);
            return;
        }
        let captured = |name: &str| {
            spans
                .iter()
                .filter(is_field)
                .find(|s| matcher.field(s.field) == name)
        };
        let kept = row.fields().map(|(name, v)| match captured(name) {
            Some(s) => (name, value(s)),
            None => (name, v),
        });
        let added = spans
            .iter()
            .filter(is_field)
            .map(|s| (matcher.field(s.field), value(s)))
            .filter(|(name, _)| row.field(name).is_none());
        out.emit_row_parts(row, message, kept.chain(added));
    }
}

/// The text to match when it is not the message: `Some` when it is a
/// string in the row, `None` when it must be written out, or why there is
/// none.
fn target<'a>(row: &Row<'a>, field: &str) -> Result<Option<&'a str>, String> {
    match row.field(field) {
        Some(ValueRef::Str(s)) => Ok(Some(s)),
        Some(ValueRef::Int(_) | ValueRef::Float(_) | ValueRef::Bool(_)) => Ok(None),
        Some(ValueRef::Timestamp(_)) => Err(format!("field `{field}` is a timestamp, not text")),
        Some(ValueRef::Null) | None => Err(format!("field `{field}` is missing")),
    }
}

fn text_of(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Str(s) => s.to_owned(),
        ValueRef::Int(i) => i.to_string(),
        ValueRef::Float(f) => f.to_string(),
        ValueRef::Bool(b) => b.to_string(),
        ValueRef::Timestamp(t) => t.to_string(),
        ValueRef::Null => String::new(),
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
