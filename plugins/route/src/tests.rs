use super::*;
use serde_json::json;
use sluice_sdk::{testing, Emitted, Value};

fn event(message: &str, fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(message);
    for (k, v) in fields {
        e.fields.insert(*k, v.clone());
    }
    e
}

/// A 503 from checkout at ERROR, a payments warning, a 404 at INFO and a
/// debug line.
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
            "GET /missing 404",
            &[
                ("level", "INFO".into()),
                ("service", "web".into()),
                ("http.response.status_code", "404".into()),
            ],
        ),
        event(
            "cache hit",
            &[("level", "DEBUG".into()), ("service", "cache".into())],
        ),
    ]
}

fn routed(out: &[Emitted]) -> Vec<(Option<&str>, &str)> {
    out.iter()
        .map(|e| (e.output.as_deref(), e.event.message.as_str()))
        .collect()
}

fn config() -> testing::Json {
    json!({"routes": {
        "alerts": "level:>=WARN",
        "server_errors": "http.response.status_code:[500 TO 599]",
        "client-errors": "http.response.status_code:[400 TO 499]"
    }})
}

#[test]
fn each_event_goes_to_every_matching_route_or_stays_on_main() {
    let mut r = testing::configure::<Route>(config()).unwrap();
    let input = traffic();
    let out = testing::process(&mut r, input.clone()).unwrap();
    assert_eq!(
        routed(&out),
        [
            (Some("alerts"), "GET /checkout 503"),
            (Some("server_errors"), "GET /checkout 503"),
            (Some("alerts"), "retrying payment"),
            (Some("client-errors"), "GET /missing 404"),
            (None, "cache hit"),
        ]
    );
    assert_eq!(out[0].event, input[0], "passed through unchanged");
    assert_eq!(out[1].event, input[0]);
    assert!(out.iter().all(|e| e.error.is_none()));
}

#[test]
fn first_match_only_takes_the_first_route_in_the_order_written() {
    let mut config = config();
    config["first_match_only"] = json!(true);
    let mut r = testing::configure::<Route>(config).unwrap();
    let out = testing::process(&mut r, traffic()).unwrap();
    assert_eq!(
        routed(&out),
        [
            (Some("alerts"), "GET /checkout 503"),
            (Some("alerts"), "retrying payment"),
            (Some("client-errors"), "GET /missing 404"),
            (None, "cache hit"),
        ]
    );
}

#[test]
fn the_owned_path_agrees_with_the_row_path() {
    for first_match_only in [false, true] {
        let mut config = config();
        config["first_match_only"] = json!(first_match_only);
        let mut r = testing::configure::<Route>(config).unwrap();
        let input = traffic();
        let mut out = Output::default();
        r.process(input.clone(), &mut out).unwrap();
        assert_eq!(out.into_vec(), testing::process(&mut r, input).unwrap());
    }
}

#[test]
fn describe_declares_any_output() {
    let info = Route::describe();
    assert!(info.outputs.iter().any(|o| o == "*"));
    assert!(info.outputs.iter().any(|o| o == "errors"));
}

#[test]
fn bad_routes_are_keyed_by_name() {
    let refuse = |routes: serde_json::Value| {
        testing::configure::<Route>(json!({ "routes": routes }))
            .err()
            .expect("refused")
    };
    let e = refuse(json!({"ok": "level:ERROR", "bad": "status:[500 TO"}));
    assert_eq!(e.key.as_deref(), Some("routes.bad"));
    assert!(e.message.contains("column 15"), "{e}");
    let e = refuse(json!({"has space": "a"}));
    assert_eq!(e.key.as_deref(), Some("routes.has space"));
    let e = refuse(json!({"a.b": "a"}));
    assert_eq!(e.key.as_deref(), Some("routes.a.b"));
    let e = refuse(json!({"errors": "level:ERROR"}));
    assert_eq!(e.key.as_deref(), Some("routes.errors"));
    let e = refuse(json!({"x": 5}));
    assert_eq!(e.key.as_deref(), Some("routes.x"));
    let e = refuse(json!({}));
    assert_eq!(e.key.as_deref(), Some("routes"));
    let e = refuse(json!("level:ERROR"));
    assert_eq!(e.key.as_deref(), Some("routes"));
    let e = testing::configure::<Route>(json!({})).err().unwrap();
    assert_eq!(e.key.as_deref(), Some("routes"));
}
