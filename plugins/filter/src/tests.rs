use super::*;
use serde_json::json;
use sluice_sdk::{testing, Value};

fn event(message: &str, fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(message);
    for (k, v) in fields {
        e.fields.insert(*k, v.clone());
    }
    e
}

/// An access log, an app warning, a debug line and a health check.
fn traffic() -> Vec<Event> {
    vec![
        event(
            "GET /checkout 503",
            &[
                ("level", "ERROR".into()),
                ("service", "checkout".into()),
                ("http.response.status_code", Value::Int(503)),
            ],
        ),
        event(
            "retrying payment",
            &[("level", "warning".into()), ("service", "payments".into())],
        ),
        event(
            "cache hit",
            &[("level", "DEBUG".into()), ("service", "cache".into())],
        ),
        event(
            "GET /health 200",
            &[
                ("level", "INFO".into()),
                ("service", "healthcheck".into()),
                ("http.response.status_code", Value::Int(200)),
            ],
        ),
    ]
}

fn messages(out: &[sluice_sdk::Emitted]) -> Vec<&str> {
    out.iter().map(|e| e.event.message.as_str()).collect()
}

#[test]
fn keeps_matching_events_unchanged_and_counts_the_dropped() {
    let mut f = testing::configure::<Filter>(json!({"condition": "level:>=WARN"})).unwrap();
    let input = traffic();
    let out = testing::process(&mut f, input.clone()).unwrap();
    assert_eq!(messages(&out), ["GET /checkout 503", "retrying payment"]);
    assert!(out.iter().all(|e| e.output.is_none() && e.error.is_none()));
    assert_eq!(out[0].event, input[0], "passed through unchanged");
    assert_eq!(testing::counter("filter.dropped"), 2);
}

#[test]
fn status_and_service_conditions() {
    let mut f = testing::configure::<Filter>(json!({
        "condition": "http.response.status_code:[500 TO 599] OR (level:WARN AND -service:healthcheck)"
    }))
    .unwrap();
    let out = testing::process(&mut f, traffic()).unwrap();
    assert_eq!(messages(&out), ["GET /checkout 503", "retrying payment"]);
}

#[test]
fn invert_drops_the_matching_events() {
    let mut f = testing::configure::<Filter>(json!({
        "condition": "service:healthcheck OR level:DEBUG",
        "invert": true
    }))
    .unwrap();
    let out = testing::process(&mut f, traffic()).unwrap();
    assert_eq!(messages(&out), ["GET /checkout 503", "retrying payment"]);
    assert_eq!(testing::counter("filter.dropped"), 2);
}

#[test]
fn the_owned_path_agrees_with_the_row_path() {
    let mut f = testing::configure::<Filter>(json!({"condition": "GET -health"})).unwrap();
    let input = traffic();
    let mut out = Output::default();
    f.process(input.clone(), &mut out).unwrap();
    let owned = out.into_vec();
    let rows = testing::process(&mut f, input).unwrap();
    assert_eq!(owned, rows);
    assert_eq!(messages(&rows), ["GET /checkout 503"]);
    assert_eq!(testing::counter("filter.dropped"), 6);
}

#[test]
fn nothing_dropped_counts_nothing() {
    let mut f = testing::configure::<Filter>(json!({"condition": "*"})).unwrap();
    assert_eq!(testing::process(&mut f, traffic()).unwrap().len(), 4);
    assert_eq!(testing::counter("filter.dropped"), 0);
}

#[test]
fn a_bad_condition_names_the_key_and_the_column() {
    let e = testing::configure::<Filter>(json!({"condition": "http.status: AND"}))
        .err()
        .unwrap();
    assert_eq!(e.key.as_deref(), Some("condition"));
    assert_eq!(
        e.message,
        "invalid query: column 14: expected a value after ':'"
    );
    let e = testing::configure::<Filter>(json!({"condition": "level:>=WARN AND"}))
        .err()
        .unwrap();
    assert_eq!(e.key.as_deref(), Some("condition"));
    assert!(e.message.contains("column 17"), "{e}");
    let e = testing::configure::<Filter>(json!({})).err().unwrap();
    assert_eq!(e.key.as_deref(), Some("condition"));
    let e = testing::configure::<Filter>(json!({"condition": 5}))
        .err()
        .unwrap();
    assert_eq!(e.key.as_deref(), Some("condition"));
    let e = testing::configure::<Filter>(json!({"condition": "a | stats count()"}))
        .err()
        .unwrap();
    assert!(e.message.contains("column 3"), "{e}");
}
