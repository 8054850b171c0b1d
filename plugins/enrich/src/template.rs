//! `{{field}}` templates.

use sluice_sdk::{Event, Value};

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Part>);

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` at byte {start} is not closed with `}}}}`"))?;
            let name = after[..end].trim();
            if name.is_empty() {
                return Err("empty `{{}}`".into());
            }
            parts.push(Part::Field(name.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template(parts))
    }

    /// The rendered text, or `None` when a named field is missing.
    pub fn render(&self, event: &Event) -> Option<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(name) if name == "message" => out.push_str(&event.message),
                Part::Field(name) => out.push_str(&text(event.fields.get(name)?)),
            }
        }
        Some(out)
    }
}

/// A value as text, the way templates and lookups see it.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Timestamp(t) => sluice_sdk::format_rfc3339(*t),
        Value::Null => String::new(),
    }
}
