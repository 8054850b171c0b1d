//! The JSON form of an event: what the `console` and `file` sinks write and
//! what NDJSON inputs are read as.
//!
//! ```json
//! {"timestamp":"2015-02-24T23:13:42Z","ingest_timestamp":"...","message":"...",
//!  "fields":{"http.request.method":"GET","http.response.status_code":200}}
//! ```

use crate::packed::{Row, ValueRef};
use crate::{format_rfc3339, now_ns, Event, Fields, Value};
use serde_json::{Map, Number, Value as Json};

#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("expected a JSON object")]
    NotAnObject,
}

pub fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::Number((*i).into()),
        Value::Float(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::Timestamp(ns) => Json::String(format_rfc3339(*ns)),
    }
}

/// Scalars map to their typed value; arrays and objects are kept as their
/// JSON text in a string value.
pub fn value_from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    }
}

pub fn event_to_json(event: &Event) -> Json {
    let mut fields = Map::with_capacity(event.fields.len());
    for (k, v) in event.fields.iter() {
        fields.insert(k.to_owned(), value_to_json(v));
    }
    let mut obj = Map::with_capacity(4);
    obj.insert(
        "timestamp".into(),
        Json::String(format_rfc3339(event.timestamp)),
    );
    obj.insert(
        "ingest_timestamp".into(),
        Json::String(format_rfc3339(event.ingest_timestamp)),
    );
    obj.insert("message".into(), Json::String(event.message.clone()));
    obj.insert("fields".into(), Json::Object(fields));
    Json::Object(obj)
}

/// Writes a row in the form of [`event_to_json`], without building a JSON
/// tree: the sinks' hot path.
pub fn write_row_json(row: &Row<'_>, out: &mut Vec<u8>) {
    fn string(out: &mut Vec<u8>, s: &str) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
    out.extend_from_slice(b"{\"timestamp\":\"");
    out.extend_from_slice(format_rfc3339(row.timestamp()).as_bytes());
    out.extend_from_slice(b"\",\"ingest_timestamp\":\"");
    out.extend_from_slice(format_rfc3339(row.ingest_timestamp()).as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    string(out, row.message());
    out.extend_from_slice(b",\"fields\":{");
    for (i, (name, value)) in row.fields().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, name);
        out.push(b':');
        match value {
            ValueRef::Null => out.extend_from_slice(b"null"),
            ValueRef::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            ValueRef::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            ValueRef::Float(f) if f.is_finite() => {
                let _ = serde_json::to_writer(&mut *out, &f);
            }
            ValueRef::Float(_) => out.extend_from_slice(b"null"),
            ValueRef::Str(s) => string(out, s),
            ValueRef::Timestamp(t) => string(out, &format_rfc3339(t)),
        }
    }
    out.extend_from_slice(b"}}");
}

/// Reads the form [`event_to_json`] writes. Keys other than `timestamp`,
/// `ingest_timestamp`, `message` and `fields` become fields too, with nested
/// objects flattened to dotted names, so arbitrary NDJSON is accepted.
/// Timestamps given as text are not parsed here; they stay fields until a
/// timestamp stage reads them, and the event time is now.
pub fn event_from_json(json: &Json) -> Result<Event, JsonError> {
    let obj = json.as_object().ok_or(JsonError::NotAnObject)?;
    let now = now_ns();
    let mut event = Event {
        timestamp: now,
        ingest_timestamp: now,
        message: String::new(),
        fields: Fields::new(),
    };
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("message", Json::String(s)) => event.message = s.clone(),
            ("fields", Json::Object(inner)) => flatten_into(&mut event.fields, "", inner),
            ("timestamp" | "ingest_timestamp", Json::Number(n)) if n.is_i64() => {
                let ns = n.as_i64().unwrap_or(now);
                if k == "timestamp" {
                    event.timestamp = ns
                } else {
                    event.ingest_timestamp = ns
                }
            }
            (_, Json::Object(inner)) => flatten_into(&mut event.fields, k, inner),
            _ => event.fields.insert(k.clone(), value_from_json(v)),
        }
    }
    Ok(event)
}

/// Adds the members of `obj` to `fields`; nested objects become dotted names
/// under `prefix` (empty for none), arrays are kept as their JSON text.
pub fn flatten_into(fields: &mut Fields, prefix: &str, obj: &Map<String, Json>) {
    for (k, v) in obj {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Json::Object(inner) => flatten_into(fields, &name, inner),
            other => fields.insert(name, value_from_json(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_fields_and_flattens_nested_objects() {
        let json: Json = serde_json::from_str(
            r#"{"message":"hi","level":"INFO","http":{"status":200,"ok":true},"tags":["a"]}"#,
        )
        .unwrap();
        let e = event_from_json(&json).unwrap();
        assert_eq!(e.message, "hi");
        assert_eq!(e.fields.get("http.status"), Some(&Value::Int(200)));
        assert_eq!(e.fields.get("tags"), Some(&Value::from(r#"["a"]"#)));
        let back = event_to_json(&e);
        assert_eq!(back["fields"]["http.ok"], Json::Bool(true));
        assert_eq!(back["message"], "hi");
    }

    #[test]
    fn rows_are_written_exactly_as_events_are() {
        let mut e = crate::Event::new("quote \" and\nnewline");
        e.timestamp = 1_424_819_622_000_000_000;
        e.fields.insert("s", "x");
        e.fields.insert("i", 7);
        e.fields.insert("f", 0.5);
        e.fields.insert("nan", f64::NAN);
        e.fields.insert("b", false);
        e.fields.insert("n", Value::Null);
        e.fields.insert("t", Value::Timestamp(0));
        let packed = crate::packed::PackedBatch::from_events(std::slice::from_ref(&e)).unwrap();
        let checked = packed.check().unwrap();
        let mut out = Vec::new();
        write_row_json(&checked.rows().next().unwrap(), &mut out);
        let written: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(written, event_to_json(&e));
    }
}
