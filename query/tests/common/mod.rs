//! Realistic events for the query tests, built from JSON the way NDJSON
//! input is read; `timestamp` given as RFC 3339 text becomes the event time.

#![allow(dead_code)]

use sluice_event::packed::PackedBatch;
use sluice_event::{event_from_json, Event, Value};
use sluice_query::text::parse_rfc3339;

/// A combined Apache access line after grok and type conversion.
pub const APACHE: &str = r#"{"timestamp":"2024-05-01T12:00:00Z","message":"203.0.113.9 - - [01/May/2024:12:00:00 +0000] \"GET /api/v1/users?id=42 HTTP/1.1\" 503 1234 \"-\" \"curl/8.4.0\"","service":"web-frontend","host":"web-01","level":"ERROR","http":{"request":{"method":"GET"},"response":{"status_code":503,"bytes":1234}},"url":{"path":"/api/v1/users"},"client":{"ip":"203.0.113.9"}}"#;

/// A JSON application log.
pub const APP: &str = r#"{"timestamp":"2024-05-01T12:00:05.250Z","message":"Payment declined: card expired for order ord_8812","level":"warning","service":"payments","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","user":{"id":"u-1001","email":"Alice@Example.com"},"duration_ms":12.5,"retry":false,"attempt":3,"log":{"level":"WARN"}}"#;

/// A syslog line parsed by grok (every capture a string).
pub const SYSLOG: &str = r#"{"timestamp":"2024-05-01T11:59:59Z","message":"sshd[1234]: Failed password for invalid user admin from 198.51.100.7 port 52211 ssh2","host":"bastion","source":"/var/log/auth.log","level":"info","program":"sshd","pid":"1234"}"#;

/// A multi-line Java stack trace that failed a parse stage.
pub const JAVA: &str = r#"{"timestamp":"2024-05-01T12:01:00Z","message":"java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null\n\tat com.example.UserService.lookup(UserService.java:42)\n\tat com.example.Api.handle(Api.java:17)","level":"FATAL","service":"user-service","parse_error":true,"error":{"message":"no pattern matched","stage":"parse"},"optional":null}"#;

/// A debug line with numbers and a time kept as strings.
pub const DEBUG: &str = r#"{"timestamp":"2024-05-01T12:00:00Z","message":"cache hit key=user:42 ttl=300","level":"DEBUG","service":"cache","status":"200","latency":"0.25","started":"2024-05-01T11:00:00Z"}"#;

/// Non-ASCII text.
pub const UNICODE: &str = r#"{"timestamp":"2024-05-01T12:00:00Z","message":"Grüße aus Zürich: café — résumé ✓","city":"Zürich"}"#;

pub fn event(json: &str) -> Event {
    let parsed: serde_json::Value = serde_json::from_str(json).expect("test JSON");
    let mut event = event_from_json(&parsed).expect("an object");
    if let Some(Value::String(text)) = event.fields.remove("timestamp") {
        event.timestamp = parse_rfc3339(&text).expect("an RFC 3339 timestamp");
    }
    event
}

/// Parses `query` and checks it against `json` both as an owned event and as
/// a packed row.
pub fn check(query: &str, json: &str, expected: bool) {
    let q = sluice_query::parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    let event = event(json);
    assert_eq!(
        q.matches(&event),
        expected,
        "{query:?} (parsed as {q}) on {}",
        event.message
    );
    let packed = PackedBatch::from_events(std::slice::from_ref(&event)).unwrap();
    let checked = packed.check().unwrap();
    let row = checked.rows().next().unwrap();
    assert_eq!(q.matches(&row), expected, "{query:?} on the row");
}
