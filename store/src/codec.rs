//! Encodings of events: the binary form of a WAL record (a batch of events) and the JSON text
//! of an event's fields in a segment's `fields` column. Both round-trip every [`Event`] exactly
//! (`==`), including field order, `Int` vs `Float`, timestamps and non-finite floats.

use serde_json::Value as Json;
use sluice_event::{Event, Fields, Value};

/// WAL record format version (first byte of a record).
const RECORD_VERSION: u8 = 1;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends one event's binary form to `out`.
pub fn encode_event(out: &mut Vec<u8>, e: &Event) {
    out.extend_from_slice(&e.timestamp.to_le_bytes());
    out.extend_from_slice(&e.ingest_timestamp.to_le_bytes());
    put_str(out, &e.message);
    out.extend_from_slice(&(e.fields.len() as u32).to_le_bytes());
    for (name, value) in e.fields.iter() {
        put_str(out, name);
        match value {
            Value::Null => out.push(0),
            Value::Bool(b) => out.extend_from_slice(&[1, u8::from(*b)]),
            Value::Int(i) => {
                out.push(2);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Value::Float(f) => {
                out.push(3);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Value::String(s) => {
                out.push(4);
                put_str(out, s);
            }
            Value::Timestamp(t) => {
                out.push(5);
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
    }
}

/// Starts a record of `count` events.
pub fn record_header(out: &mut Vec<u8>, count: u32) {
    out.push(RECORD_VERSION);
    out.extend_from_slice(&count.to_le_bytes());
}

/// Patches the event count of a record started with [`record_header`].
pub fn set_record_count(record: &mut [u8], count: u32) {
    record[1..5].copy_from_slice(&count.to_le_bytes());
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).ok()
    }
}

/// Decodes a WAL record; `None` if it is not one this version wrote.
pub fn decode_record(record: &[u8]) -> Option<Vec<Event>> {
    let mut c = Cursor { b: record };
    if c.u8()? != RECORD_VERSION {
        return None;
    }
    let count = c.u32()? as usize;
    // Each event takes at least 24 bytes: never trust the count for the allocation.
    let mut events = Vec::with_capacity(count.min(record.len() / 24));
    for _ in 0..count {
        let timestamp = c.i64()?;
        let ingest_timestamp = c.i64()?;
        let message = c.str()?;
        let n = c.u32()? as usize;
        let mut fields = Vec::with_capacity(n.min(c.b.len() / 5));
        for _ in 0..n {
            let name = c.str()?;
            let value = match c.u8()? {
                0 => Value::Null,
                1 => Value::Bool(c.u8()? != 0),
                2 => Value::Int(c.i64()?),
                3 => Value::Float(f64::from_bits(c.u64()?)),
                4 => Value::String(c.str()?),
                5 => Value::Timestamp(c.i64()?),
                _ => return None,
            };
            fields.push((name, value));
        }
        events.push(Event {
            timestamp,
            ingest_timestamp,
            message,
            fields: fields_from_vec(fields),
        });
    }
    if !c.b.is_empty() {
        return None;
    }
    Some(events)
}

/// Rebuilds `Fields` keeping order (names are unique: they came from a `Fields`).
fn fields_from_vec(v: Vec<(String, Value)>) -> Fields {
    let mut f = Fields::with_capacity(v.len());
    for (k, val) in v {
        f.insert(k, val);
    }
    f
}

/// The JSON text of an event's fields: an object in field order. JSON's own types carry null,
/// bools, strings, integers and finite floats (always written with a `.` or an exponent, so
/// they read back as floats); the two kinds JSON lacks are one-key objects, which no field value
/// can be (objects are flattened, arrays kept as text): `{"t":ns}` for a timestamp, `{"f":"NaN"}`
/// (or `"inf"`, `"-inf"`) for a non-finite float.
///
/// No fields at all is the empty text (not `{}`): most plain-text events have none, and a
/// column of equal offsets compresses to nothing.
pub fn fields_to_json(fields: &Fields, out: &mut String) {
    if fields.is_empty() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, name);
        out.push(':');
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) if f.is_finite() => {
                let n = serde_json::Number::from_f64(*f).map(|n| n.to_string());
                match n {
                    Some(text) if text.contains(['.', 'e', 'E']) => out.push_str(&text),
                    Some(text) => {
                        out.push_str(&text);
                        out.push_str(".0");
                    }
                    None => out.push_str("null"),
                }
            }
            Value::Float(f) => {
                let tag = if f.is_nan() {
                    "NaN"
                } else if *f > 0.0 {
                    "inf"
                } else {
                    "-inf"
                };
                out.push_str("{\"f\":\"");
                out.push_str(tag);
                out.push_str("\"}");
            }
            Value::String(s) => push_json_str(out, s),
            Value::Timestamp(t) => {
                out.push_str("{\"t\":");
                out.push_str(&t.to_string());
                out.push('}');
            }
        }
    }
    out.push('}');
}

fn push_json_str(out: &mut String, s: &str) {
    // Serializing a str to JSON cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// Reads [`fields_to_json`]'s text; `None` if it is not that form.
pub fn fields_from_json(text: &str) -> Option<Fields> {
    if text.is_empty() {
        return Some(Fields::new());
    }
    let Json::Object(map) = serde_json::from_str::<Json>(text).ok()? else {
        return None;
    };
    let mut fields = Fields::with_capacity(map.len());
    for (k, v) in map {
        let value = match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            // serde_json reads text with a `.` or an exponent as a float, never as an i64.
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64()?),
            },
            Json::String(s) => Value::String(s),
            Json::Object(o) => match (o.get("t"), o.get("f")) {
                (Some(t), None) if o.len() == 1 => Value::Timestamp(t.as_i64()?),
                (None, Some(Json::String(f))) if o.len() == 1 => Value::Float(match f.as_str() {
                    "NaN" => f64::NAN,
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    _ => return None,
                }),
                _ => return None,
            },
            Json::Array(_) => return None,
        };
        fields.insert(k, value);
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut e = Event::new("hello \"world\"\nnext é");
        e.timestamp = -5;
        e.fields.insert("z", "last first");
        e.fields.insert("a.b", 7);
        e.fields.insert("f", 1.0);
        e.fields.insert("g", -0.5e-300);
        e.fields.insert("big", 1e300);
        e.fields.insert("n", Value::Null);
        e.fields
            .insert("t", Value::Timestamp(1_700_000_000_123_456_789));
        e.fields.insert("b", true);
        e.fields.insert("inf", f64::INFINITY);
        e.fields.insert("max", i64::MAX);
        e
    }

    #[test]
    fn records_round_trip() {
        let events = vec![sample(), Event::new(""), sample()];
        let mut rec = Vec::new();
        record_header(&mut rec, 0);
        for e in &events {
            encode_event(&mut rec, e);
        }
        set_record_count(&mut rec, events.len() as u32);
        assert_eq!(decode_record(&rec).unwrap(), events);
        // Truncations and garbage never panic.
        for cut in 0..rec.len() {
            assert!(decode_record(&rec[..cut]).is_none());
        }
        assert!(decode_record(&[1, 255, 255, 255, 255]).is_none());
    }

    #[test]
    fn fields_json_round_trips_types_and_order() {
        let e = sample();
        let mut text = String::new();
        fields_to_json(&e.fields, &mut text);
        let back = fields_from_json(&text).unwrap();
        assert_eq!(back, e.fields, "{text}");
        let mut nan = Fields::new();
        nan.insert("x", f64::NAN);
        let mut text = String::new();
        fields_to_json(&nan, &mut text);
        assert!(
            matches!(fields_from_json(&text).unwrap().get("x"), Some(Value::Float(f)) if f.is_nan())
        );
        assert!(fields_from_json("[1]").is_none());
        let mut empty = String::new();
        fields_to_json(&Fields::new(), &mut empty);
        assert_eq!(empty, "");
        assert_eq!(fields_from_json(""), Some(Fields::new()));
        assert!(fields_from_json("{\"a\":{\"q\":1}}").is_none());
    }
}
