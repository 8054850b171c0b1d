//! `builtin:json`: parses a JSON object out of the message (or another
//! field) into the event's fields.
//!
//! Nested objects become dotted names (`http.request.method`), arrays are
//! kept as their JSON text, and a `message` member replaces the message.
//! A line that is not a JSON object fails with its raw text kept.
//!
//! Not for: JSON arrays of events (one event per line in, one out), or
//! timestamp parsing (a separate stage reads time fields).

use serde_json::Value as Json;
use sluice_sdk::{
    transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform, Value,
};

pub struct JsonParser {
    /// The field holding the text; `message` means the event's message.
    source_field: String,
    /// Prefix for the parsed members (`""` for top level).
    target: String,
    /// Which member, if present, becomes the new message.
    message_key: String,
}

impl Transform for JsonParser {
    fn describe() -> PluginInfo {
        PluginInfo::transform("json", env!("CARGO_PKG_VERSION"))
            .description("Parses a JSON object into fields; nested objects become dotted names, arrays are kept")
            .key("field", "string", "field holding the JSON text (default: message)")
            .key("target", "string", "prefix for the parsed fields (default: none, top level)")
            .key("message_key", "string", "member that becomes the message (default: message)")
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        Ok(JsonParser {
            source_field: config.string("field")?.unwrap_or_else(|| "message".into()),
            target: config.string("target")?.unwrap_or_default(),
            message_key: config
                .string("message_key")?
                .unwrap_or_else(|| "message".into()),
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        for event in batch {
            match self.parse(event) {
                Ok(event) => out.emit(event),
                Err((event, reason)) => out.fail(event, reason),
            }
        }
        Ok(())
    }
}

impl JsonParser {
    fn parse(&self, mut event: Event) -> Result<Event, (Event, String)> {
        let text = if self.source_field == "message" {
            event.message.as_str()
        } else {
            match event.fields.get(&self.source_field) {
                Some(Value::String(s)) => s.as_str(),
                Some(_) => {
                    return Err((
                        event,
                        format!("field `{}` is not a string", self.source_field),
                    ))
                }
                None => return Err((event, format!("field `{}` is missing", self.source_field))),
            }
        };
        let parsed = match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(map)) => map,
            Ok(_) => return Err((event, "invalid JSON: expected an object".into())),
            Err(e) => return Err((event, format!("invalid JSON: {e}"))),
        };
        let mut parsed = parsed;
        let new_message = match parsed.get(&self.message_key) {
            Some(Json::String(_)) if self.target.is_empty() => parsed.remove(&self.message_key),
            _ => None,
        };
        sluice_sdk::flatten_json(&mut event.fields, &self.target, &parsed);
        if let Some(Json::String(message)) = new_message {
            event.message = message;
        }
        Ok(event)
    }
}

transform!(JsonParser);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_sdk::testing;

    fn parser(config: Json) -> JsonParser {
        testing::configure::<JsonParser>(config).unwrap()
    }

    #[test]
    fn nested_objects_become_dotted_and_arrays_are_kept() {
        let mut p = parser(json!({}));
        let out = testing::process_lines(
            &mut p,
            &[r#"{"message":"GET /","http":{"request":{"method":"GET"},"status":200},"tags":["a","b"],"ok":true,"ms":1.5}"#],
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        let e = &out[0].event;
        assert_eq!(out[0].error, None);
        assert_eq!(e.message, "GET /");
        assert_eq!(
            e.fields.get("http.request.method"),
            Some(&Value::from("GET"))
        );
        assert_eq!(e.fields.get("http.status"), Some(&Value::Int(200)));
        assert_eq!(e.fields.get("tags"), Some(&Value::from(r#"["a","b"]"#)));
        assert_eq!(e.fields.get("ok"), Some(&Value::Bool(true)));
        assert_eq!(e.fields.get("ms"), Some(&Value::Float(1.5)));
    }

    #[test]
    fn invalid_json_fails_with_the_raw_line_kept() {
        let mut p = parser(json!({}));
        let out = testing::process_lines(&mut p, &["{not json", "[1,2]", r#"{"a":1}"#]).unwrap();
        assert_eq!(out.len(), 3, "nothing is dropped");
        assert_eq!(out[0].event.message, "{not json");
        assert_eq!(out[0].output.as_deref(), Some("errors"));
        assert!(out[0].error.as_deref().unwrap().contains("invalid JSON"));
        assert!(out[1].error.is_some());
        assert_eq!(out[2].error, None);
        assert_eq!(
            out[2].event.message, r#"{"a":1}"#,
            "no message member keeps the raw line"
        );
    }

    #[test]
    fn reads_another_field_into_a_prefix() {
        let mut p = parser(json!({"field": "payload", "target": "p"}));
        let mut e = Event::new("line");
        e.fields.insert("payload", r#"{"a":{"b":1}}"#);
        let out = testing::process(&mut p, vec![e]).unwrap();
        assert_eq!(out[0].event.fields.get("p.a.b"), Some(&Value::Int(1)));
        assert_eq!(out[0].event.message, "line");
    }

    #[test]
    fn unknown_config_key_is_refused() {
        let e = testing::configure::<JsonParser>(json!({"feild": "x"}))
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("feild"));
    }
}
