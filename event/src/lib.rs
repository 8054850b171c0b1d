//! The Sluice event model, shared by the host runtime and the guest SDK.
//!
//! An [`Event`] is a timestamp, an ingest timestamp, a message and a flat map of
//! dotted field names to typed [`Value`]s. This crate also owns the JSON form
//! of an event (what the `console` and `file` sinks write) and the ordered
//! [`Level`] set.
//!
//! [`packed`] is the columnar form batches take across the Wasm boundary,
//! shared by host and guest so the encoding is written once; [`template`] is
//! the `{{field}}` templates (the `enrich` plugin, the Kafka sink). This crate does
//! no parsing of log lines.

mod json;
mod level;
pub mod packed;
pub mod template;
mod time;

pub use json::{
    event_from_json, event_to_json, flatten_into, value_from_json, value_to_json, write_row_json,
    JsonError,
};
pub use level::Level;
pub use time::{civil_from_days, days_from_civil, format_rfc3339, now_ns};

/// Well-known field names (DESIGN §2).
pub mod names {
    pub const LEVEL: &str = "level";
    pub const SERVICE: &str = "service";
    pub const HOST: &str = "host";
    pub const TRACE_ID: &str = "trace_id";
    pub const SOURCE: &str = "source";
    /// Set to `true` on an event that failed a stage.
    pub const PARSE_ERROR: &str = "parse_error";
    /// The failure's text.
    pub const ERROR_MESSAGE: &str = "error.message";
    /// The stage that failed the event.
    pub const ERROR_STAGE: &str = "error.stage";
}

/// A typed field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Nanoseconds since the Unix epoch.
    Timestamp(i64),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// A flat map of dotted names to values that keeps insertion order.
///
/// Events carry few fields, so a vector with linear lookup beats a hash map
/// here and keeps the order in which a parser captured them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(String, Value)>);

impl Fields {
    pub fn new() -> Self {
        Fields(Vec::new())
    }
    pub fn with_capacity(n: usize) -> Self {
        Fields(Vec::with_capacity(n))
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    /// Sets `name`, replacing an earlier value in place.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
    /// Appends without looking for an earlier value; the caller guarantees
    /// `name` is new (e.g. when decoding a batch that was already a map).
    pub fn push_unique(&mut self, name: String, value: Value) {
        debug_assert!(self.get(&name).is_none(), "duplicate field {name}");
        self.0.push((name, value));
    }
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(at).1)
    }
    /// Keeps only the fields for which `keep` is true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Value) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn into_inner(self) -> Vec<(String, Value)> {
        self.0
    }
}

impl FromIterator<(String, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut fields = Fields::new();
        for (k, v) in iter {
            fields.insert(k, v);
        }
        fields
    }
}

/// A log event (DESIGN §2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// The source's time, ns since the epoch.
    pub timestamp: i64,
    /// Our clock when the event entered Sluice, ns since the epoch.
    pub ingest_timestamp: i64,
    /// The raw or remaining text.
    pub message: String,
    pub fields: Fields,
}

impl Event {
    /// A new event stamped with the current time for both clocks.
    pub fn new(message: impl Into<String>) -> Self {
        let now = now_ns();
        Event {
            timestamp: now,
            ingest_timestamp: now,
            message: message.into(),
            fields: Fields::new(),
        }
    }

    /// Records a failure on the event the way every stage does: the raw text
    /// stays in `message`, and `parse_error`, `error.message` and
    /// `error.stage` say what went wrong where.
    pub fn record_error(&mut self, stage: &str, error: &str) {
        for (name, value) in packed::error_fields(stage, error) {
            self.fields.insert(name, value.to_value());
        }
    }
}

/// The longest line a source accepts; longer ones are cut and marked.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Appended to a line cut at [`MAX_LINE_BYTES`].
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// Turns raw bytes from a source into a message: invalid UTF-8 is replaced,
/// and a line over [`MAX_LINE_BYTES`] is cut at a character boundary and
/// marked. Returns whether it was truncated.
pub fn message_from_bytes(bytes: &[u8]) -> (String, bool) {
    let truncated = bytes.len() > MAX_LINE_BYTES;
    let bytes = if truncated {
        &bytes[..MAX_LINE_BYTES]
    } else {
        bytes
    };
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if truncated {
        // A cut through a multi-byte character shows up as a trailing U+FFFD.
        while text.ends_with('\u{FFFD}') {
            text.pop();
        }
        text.push_str(TRUNCATION_MARKER);
    }
    (text, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut f = Fields::new();
        f.insert("a", 1);
        f.insert("b", "x");
        f.insert("a", 2);
        let names: Vec<_> = f.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(f.get("a"), Some(&Value::Int(2)));
    }

    #[test]
    fn invalid_utf8_is_replaced_and_long_lines_marked() {
        let (text, cut) = message_from_bytes(b"ok \xff end");
        assert_eq!(text, "ok \u{FFFD} end");
        assert!(!cut);
        let long = "é".repeat(MAX_LINE_BYTES); // 2 bytes each
        let (text, cut) = message_from_bytes(long.as_bytes());
        assert!(cut);
        assert!(text.ends_with(TRUNCATION_MARKER));
        assert!(text.len() <= MAX_LINE_BYTES + TRUNCATION_MARKER.len());
    }

    #[test]
    fn record_error_sets_the_three_fields() {
        let mut e = Event::new("raw");
        e.record_error("parse", "no pattern matched");
        assert_eq!(e.fields.get("parse_error"), Some(&Value::Bool(true)));
        assert_eq!(e.fields.get("error.stage"), Some(&Value::from("parse")));
        assert_eq!(e.message, "raw");
    }
}
