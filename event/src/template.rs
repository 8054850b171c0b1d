//! `{{field}}` templates: text with field values put in, e.g.
//! `"{{service}}: {{http.method}}"`. `{{message}}` is the message.
//!
//! Written once for everyone who builds text from an event: the `enrich`
//! plugin (owned [`Event`]s) and the Kafka sink's key and topic (rows read
//! in place, [`Template::render_row`], without building the event).

use crate::packed::{Row, ValueRef};
use crate::{format_rfc3339, Event, Value};
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Part>);

/// Why a template cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` at byte {0} is not closed with `}}}}`")]
    Unclosed(usize),
    #[error("empty `{{{{}}}}`")]
    Empty,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut consumed = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(consumed + start))?;
            let name = after[..end].trim();
            if name.is_empty() {
                return Err(TemplateError::Empty);
            }
            parts.push(Part::Field(name.to_owned()));
            consumed += start + 2 + end + 2;
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template(parts))
    }

    /// The text when the template names no field (it renders the same for
    /// every event).
    pub fn as_static(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(_) => return None,
            }
        }
        Some(out)
    }

    /// The rendered text, or `None` when a named field is missing.
    pub fn render(&self, event: &Event) -> Option<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(name) if name == "message" => out.push_str(&event.message),
                Part::Field(name) => write_text(event.fields.get(name)?.into(), &mut out),
            }
        }
        Some(out)
    }

    /// Renders a row into `out` (cleared first); `false` when a named
    /// field is missing.
    pub fn render_row(&self, row: &Row<'_>, out: &mut String) -> bool {
        out.clear();
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(name) if name == "message" => out.push_str(row.message()),
                Part::Field(name) => match row.field(name) {
                    Some(value) => write_text(value, out),
                    None => return false,
                },
            }
        }
        true
    }
}

/// A value as text, the way templates and lookups see it.
pub fn text(value: &Value) -> String {
    let mut out = String::new();
    write_text(value.into(), &mut out);
    out
}

/// Appends a value as text: strings as they are, numbers and booleans
/// printed, timestamps in RFC 3339, null as nothing.
pub fn write_text(value: ValueRef<'_>, out: &mut String) {
    match value {
        ValueRef::Str(s) => out.push_str(s),
        ValueRef::Int(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::Float(f) => {
            let _ = write!(out, "{f}");
        }
        ValueRef::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        ValueRef::Timestamp(t) => out.push_str(&format_rfc3339(t)),
        ValueRef::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packed::PackedBatch;

    fn event() -> Event {
        let mut event = Event::new("GET /");
        event.fields.insert("service", "shop");
        event.fields.insert("status", 200i64);
        event.fields.insert("ok", true);
        event
    }

    #[test]
    fn renders_events_and_rows_alike() {
        let template = Template::parse("{{service}}/{{ status }}:{{ok}} {{message}}!").unwrap();
        assert_eq!(
            template.render(&event()).as_deref(),
            Some("shop/200:true GET /!")
        );
        let batch = PackedBatch::from_events(&[event()]).unwrap();
        let checked = batch.check().unwrap();
        let row = checked.rows().next().unwrap();
        let mut out = String::from("stale");
        assert!(template.render_row(&row, &mut out));
        assert_eq!(out, "shop/200:true GET /!");
    }

    #[test]
    fn a_missing_field_renders_nothing() {
        let template = Template::parse("{{service}}-{{absent}}").unwrap();
        assert_eq!(template.render(&event()), None);
        let batch = PackedBatch::from_events(&[event()]).unwrap();
        let checked = batch.check().unwrap();
        let mut out = String::new();
        assert!(!template.render_row(&checked.rows().next().unwrap(), &mut out));
    }

    #[test]
    fn static_text_and_errors() {
        assert_eq!(
            Template::parse("logs").unwrap().as_static().as_deref(),
            Some("logs")
        );
        assert_eq!(
            Template::parse("logs-{{service}}").unwrap().as_static(),
            None
        );
        assert_eq!(
            Template::parse("ab{{x}}{{open"),
            Err(TemplateError::Unclosed(7))
        );
        assert_eq!(Template::parse("{{ }}"), Err(TemplateError::Empty));
        assert_eq!(
            TemplateError::Unclosed(3).to_string(),
            "`{{` at byte 3 is not closed with `}}`"
        );
    }

    #[test]
    fn values_as_text() {
        assert_eq!(text(&Value::Float(1.5)), "1.5");
        assert_eq!(text(&Value::Null), "");
        assert_eq!(text(&Value::Timestamp(0)), "1970-01-01T00:00:00Z");
    }
}
