//! The Loki push API, `POST /loki/api/v1/push`, as Promtail, Grafana Alloy,
//! the Docker driver and the Loki client libraries send it:
//!
//! - `application/x-protobuf`: a snappy-compressed `logproto.PushRequest`;
//! - `application/json`: `{"streams": [{"stream": {labels}, "values":
//!   [["<unix ns>", "<line>", {structured metadata}?], ...]}]}`.
//!
//! Each entry becomes an event: the line is the message, the entry's time
//! the event time, and the stream's labels and the entry's structured
//! metadata become fields. The index is `?index=`, else the tenant
//! (`X-Scope-OrgID`), else `logs`. The answer is `204` once the WAL holds
//! every entry, as Loki answers.

use super::proto::{Field, Fields};
use super::{bad_request, Failure};
use serde_json::Value as Json;
use sluice_event::{now_ns, Event};

/// The index for entries whose request names none.
pub const DEFAULT_INDEX: &str = "logs";

/// The events of a push body of `content_type` (already gunzipped if the
/// request said so).
pub fn events(content_type: &str, body: &[u8]) -> Result<Vec<Event>, Failure> {
    match content_type {
        "application/x-protobuf" | "application/protobuf" => {
            let raw = snap::raw::Decoder::new()
                .decompress_vec(body)
                .map_err(|e| bad_request(format!("the protobuf body is not snappy-compressed: {e}")))?;
            protobuf_events(&raw).map_err(|e| bad_request(format!("PushRequest: {e}")))
        }
        "application/json" | "" => json_events(body),
        other => Err(Failure {
            status: hyper::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!(
                "Content-Type {other:?}: the Loki push API takes application/x-protobuf (snappy) or application/json"
            ),
            column: None,
        }),
    }
}

fn event(labels: &[(String, String)], ns: i64, line: String) -> Event {
    let mut event = Event::new(line);
    event.timestamp = ns;
    event.ingest_timestamp = now_ns();
    for (name, value) in labels {
        event.fields.insert(name.clone(), value.as_str());
    }
    event
}

/// `logproto.PushRequest { repeated StreamAdapter streams = 1; }`,
/// `StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }`,
/// `EntryAdapter { Timestamp timestamp = 1; string line = 2;
/// repeated LabelPairAdapter structuredMetadata = 3; }`.
fn protobuf_events(body: &[u8]) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    let request = Fields::new(body);
    for field in Fields::new(body) {
        let (number, stream) = field.map_err(|e| e.to_string())?;
        if number != 1 {
            continue;
        }
        let mut labels = Vec::new();
        let mut entries = Vec::new();
        for field in request.nested(stream.bytes()) {
            match field.map_err(|e| e.to_string())? {
                (1, text) => labels = parse_labels(&text.string())?,
                (2, entry) => entries.push(entry.bytes()),
                _ => {}
            }
        }
        for entry in entries {
            let (mut ns, mut line, mut metadata) = (0i64, String::new(), Vec::new());
            for field in request.nested(entry) {
                match field.map_err(|e| e.to_string())? {
                    (1, Field::Bytes(ts)) => ns = timestamp(&request, ts)?,
                    (2, text) => line = text.string(),
                    (3, Field::Bytes(pair)) => metadata.push(label_pair(&request, pair)?),
                    _ => {}
                }
            }
            let mut event = event(&labels, ns, line);
            for (name, value) in metadata {
                event.fields.insert(name, value);
            }
            events.push(event);
        }
    }
    Ok(events)
}

// Every message inside the body is read with `request.nested(..)`, so an
// error's byte position counts from the start of the body.

/// `google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; }` in ns.
fn timestamp(parent: &Fields<'_>, bytes: &[u8]) -> Result<i64, String> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    for field in parent.nested(bytes) {
        match field.map_err(|e| e.to_string())? {
            (1, v) => seconds = v.u64() as i64,
            (2, v) => nanos = i64::from(v.u64() as i32),
            _ => {}
        }
    }
    Ok(seconds.saturating_mul(1_000_000_000).saturating_add(nanos))
}

fn label_pair(parent: &Fields<'_>, bytes: &[u8]) -> Result<(String, String), String> {
    let (mut name, mut value) = (String::new(), String::new());
    for field in parent.nested(bytes) {
        match field.map_err(|e| e.to_string())? {
            (1, v) => name = v.string(),
            (2, v) => value = v.string(),
            _ => {}
        }
    }
    Ok((name, value))
}

/// A Prometheus label set as Loki writes it: `{job="x", level="info"}`.
pub fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let bad = |what: &str| format!("labels {text:?}: {what}");
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| bad("expected {name=\"value\", ...}"))?;
    let mut labels = Vec::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| bad("a label without '='"))?;
        let name = rest[..eq].trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad(&format!("invalid label name {name:?}")));
        }
        let after = rest[eq + 1..].trim_start();
        let mut chars = after.char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(bad(&format!("the value of {name} is not quoted")));
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.ok_or_else(|| bad(&format!("the value of {name} is not closed")))?;
        labels.push((name.to_owned(), value));
        rest = after[end..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(labels)
}

fn json_events(body: &[u8]) -> Result<Vec<Event>, Failure> {
    let push: Json =
        serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON: {e}")))?;
    let streams = push["streams"]
        .as_array()
        .ok_or_else(|| bad_request("`streams`: expected an array"))?;
    let mut events = Vec::new();
    for (s, stream) in streams.iter().enumerate() {
        let labels: Vec<(String, String)> = stream["stream"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let values = stream["values"]
            .as_array()
            .ok_or_else(|| bad_request(format!("`streams[{s}].values`: expected an array")))?;
        for (v, entry) in values.iter().enumerate() {
            let at = || format!("`streams[{s}].values[{v}]`");
            let ns = match &entry[0] {
                Json::String(text) => text.parse::<i64>().ok(),
                Json::Number(n) => n.as_i64(),
                _ => None,
            }
            .ok_or_else(|| bad_request(format!("{}: the time is not a string of unix ns", at())))?;
            let line = entry[1]
                .as_str()
                .ok_or_else(|| bad_request(format!("{}: the line is not a string", at())))?;
            let mut event = event(&labels, ns, line.to_owned());
            if let Some(metadata) = entry[2].as_object() {
                for (k, v) in metadata {
                    event.fields.insert(
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    );
                }
            }
            events.push(event);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::write;

    #[test]
    fn labels_parse_with_escapes() {
        assert_eq!(
            parse_labels(r#"{job="ssh", msg="a \"q\" b",level="info"}"#).unwrap(),
            vec![
                ("job".into(), "ssh".into()),
                ("msg".into(), r#"a "q" b"#.into()),
                ("level".into(), "info".into())
            ]
        );
        assert_eq!(parse_labels("{}").unwrap(), vec![]);
        assert!(parse_labels(r#"{job=ssh}"#)
            .unwrap_err()
            .contains("not quoted"));
        assert!(parse_labels(r#"job="x""#).is_err());
    }

    #[test]
    fn protobuf_pushes_become_events() {
        let mut ts = Vec::new();
        write::uint(&mut ts, 1, 1_700_000_000);
        write::uint(&mut ts, 2, 5);
        let mut pair = Vec::new();
        write::bytes(&mut pair, 1, b"trace_id");
        write::bytes(&mut pair, 2, b"abc");
        let mut entry = Vec::new();
        write::bytes(&mut entry, 1, &ts);
        write::bytes(&mut entry, 2, b"connection refused");
        write::bytes(&mut entry, 3, &pair);
        let mut stream = Vec::new();
        write::bytes(&mut stream, 1, br#"{app="api", level="error"}"#);
        write::bytes(&mut stream, 2, &entry);
        let mut request = Vec::new();
        write::bytes(&mut request, 1, &stream);
        let body = snap::raw::Encoder::new().compress_vec(&request).unwrap();
        let got = super::events("application/x-protobuf", &body).unwrap();
        assert_eq!(got.len(), 1);
        let e = &got[0];
        assert_eq!(e.message, "connection refused");
        assert_eq!(e.timestamp, 1_700_000_000_000_000_005);
        assert_eq!(e.fields.get("app"), Some(&"api".into()));
        assert_eq!(e.fields.get("trace_id"), Some(&"abc".into()));

        let error = super::events("application/x-protobuf", &request).unwrap_err();
        assert!(error.message.contains("snappy"), "{}", error.message);
        let mut cut = request.clone();
        cut.truncate(request.len() - 3);
        let cut = snap::raw::Encoder::new().compress_vec(&cut).unwrap();
        let error = super::events("application/x-protobuf", &cut).unwrap_err();
        assert!(
            error.message.contains("invalid protobuf at byte"),
            "{}",
            error.message
        );
    }

    #[test]
    fn json_pushes_become_events_and_errors_name_the_entry() {
        let body = br#"{"streams":[{"stream":{"job":"ssh"},"values":[["1700000000000000001","a"],["1700000000000000002","b",{"user":"root"}]]}]}"#;
        let got = super::events("application/json", body).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].fields.get("user"), Some(&"root".into()));
        assert_eq!(got[0].timestamp, 1_700_000_000_000_000_001);
        let error = super::events(
            "application/json",
            br#"{"streams":[{"stream":{},"values":[["x","a"]]}]}"#,
        )
        .unwrap_err();
        assert!(
            error.message.contains("streams[0].values[0]"),
            "{}",
            error.message
        );
    }
}
