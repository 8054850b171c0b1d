//! One event through the stage: the level, the source text, the formats,
//! and where the instant goes.

use sluice_sdk::{names, Event, Value};

use crate::formats::Format;
use crate::{level, strftime};

/// Set on an event kept with `on_failure = "keep"`.
pub const ERROR_FIELD: &str = "timestamp_error";

/// Where the text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One field; `message` is the event's message.
    Field(String),
    /// Several fields joined with single spaces.
    Fields(Vec<String>),
}

/// Where the instant goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    EventTime,
    Field(String),
}

/// The stage's settings, checked.
#[derive(Debug)]
pub struct Stamper {
    pub source: Source,
    /// Each with its text from `formats`, for error messages.
    pub formats: Vec<(String, Format)>,
    /// Seconds east of UTC for texts without a zone.
    pub offset: i32,
    pub target: Target,
    pub remove_field: bool,
    pub keep_on_failure: bool,
    pub level_field: Option<String>,
}

/// `UTC`, `GMT`, `Z`, or `+hh:mm` / `+hhmm` / `+hh` (also after `UTC`).
pub fn parse_timezone(text: &str) -> Option<i32> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let rest = upper
        .strip_prefix("UTC")
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(&upper);
    if rest.is_empty() {
        return Some(0);
    }
    match strftime::offset(rest) {
        Some((secs, used)) if used == rest.len() => Some(secs),
        _ => None,
    }
}

/// The text to parse, or an instant the field already holds.
enum Input {
    Text(String),
    Instant(i64),
}

impl Stamper {
    /// The event with its time set, or with the reason it failed.
    pub fn apply(&self, mut event: Event, now: i64) -> Result<Event, (Event, String)> {
        if let Some(field) = &self.level_field {
            level::normalize(&mut event.fields, field);
        }
        let input = match self.input(&event) {
            Ok(input) => input,
            Err(None) => return Ok(event),
            Err(Some(reason)) => return self.failed(event, reason),
        };
        let ns = match input {
            Input::Instant(ns) => ns,
            Input::Text(text) => match self.parse(text.trim(), now) {
                Ok(ns) => ns,
                Err(reason) => return self.failed(event, reason),
            },
        };
        if self.remove_field {
            match &self.source {
                Source::Field(f) => {
                    event.fields.remove(f);
                }
                Source::Fields(list) => {
                    for f in list {
                        event.fields.remove(f);
                    }
                }
            }
        }
        match &self.target {
            Target::EventTime => event.timestamp = ns,
            Target::Field(name) => event.fields.insert(name.as_str(), Value::Timestamp(ns)),
        }
        Ok(event)
    }

    /// The source text. `Err(None)`: leave the event alone (it failed
    /// upstream and has no time field).
    fn input(&self, event: &Event) -> Result<Input, Option<String>> {
        let list: &[String] = match &self.source {
            Source::Field(f) if f == "message" => return Ok(Input::Text(event.message.clone())),
            Source::Field(f) => std::slice::from_ref(f),
            Source::Fields(list) => list,
        };
        let mut text = String::new();
        for name in list {
            let piece = match event.fields.get(name) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Int(i)) => i.to_string(),
                Some(Value::Float(f)) => f.to_string(),
                Some(Value::Timestamp(ns)) if list.len() == 1 => return Ok(Input::Instant(*ns)),
                Some(_) => {
                    return Err(Some(format!(
                        "cannot parse timestamp: field `{name}` is not text"
                    )))
                }
                None if event.fields.get(names::PARSE_ERROR) == Some(&Value::Bool(true)) => {
                    return Err(None)
                }
                None => {
                    return Err(Some(format!(
                        "cannot parse timestamp: field `{name}` is missing"
                    )))
                }
            };
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&piece);
        }
        Ok(Input::Text(text))
    }

    fn parse(&self, text: &str, now: i64) -> Result<i64, String> {
        let mut errors = Vec::with_capacity(self.formats.len());
        for (name, format) in &self.formats {
            match format.parse(text, self.offset, now) {
                Ok(ns) => return Ok(ns),
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        let from = match &self.source {
            Source::Field(f) => format!("`{f}`"),
            Source::Fields(list) => format!("`{}`", list.join("` + `")),
        };
        Err(format!(
            "cannot parse timestamp {text:?} from {from}: {}",
            errors.join("; ")
        ))
    }

    fn failed(&self, mut event: Event, reason: String) -> Result<Event, (Event, String)> {
        if self.keep_on_failure {
            event.fields.insert(ERROR_FIELD, reason);
            Ok(event)
        } else {
            Err((event, reason))
        }
    }
}
