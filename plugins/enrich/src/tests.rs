//! Native tests of `builtin:enrich`.

use super::*;
use serde_json::json;
use sluice_sdk::testing;

fn event(fields: &[(&str, &str)]) -> Event {
    let mut e = Event::new("GET /checkout 200");
    for (k, v) in fields {
        e.fields.insert(*k, *v);
    }
    e
}

#[test]
fn static_fields_do_not_overwrite_unless_asked() {
    let mut p = testing::configure::<Enrich>(
        json!({"fields": {"env": "prod", "replicas": 3, "region": "eu"}}),
    )
    .unwrap();
    let out = testing::process(&mut p, vec![event(&[("region", "us")])]).unwrap();
    let f = &out[0].event.fields;
    assert_eq!(f.get("env"), Some(&Value::from("prod")));
    assert_eq!(f.get("replicas"), Some(&Value::Int(3)));
    assert_eq!(f.get("region"), Some(&Value::from("us")));
    let mut p =
        testing::configure::<Enrich>(json!({"fields": {"region": "eu"}, "overwrite": true}))
            .unwrap();
    let out = testing::process(&mut p, vec![event(&[("region", "us")])]).unwrap();
    assert_eq!(out[0].event.fields.get("region"), Some(&Value::from("eu")));
}

#[test]
fn lookup_table_adds_the_matching_row() {
    let dir = std::env::temp_dir().join(format!("enrich-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("hosts.csv");
    std::fs::write(
        &csv,
        "host,team,\"tier, class\"\nweb-01,checkout,\"gold, \"\"a\"\"\"\ndb-01,storage,silver\n",
    )
    .unwrap();
    let mut p = testing::configure::<Enrich>(json!({
        "lookup_file": csv.to_string_lossy(),
        "lookup_key": "host",
        "lookup_target": "owner",
    }))
    .unwrap();
    let out = testing::process(
        &mut p,
        vec![event(&[("host", "web-01")]), event(&[("host", "nope")])],
    )
    .unwrap();
    assert_eq!(
        out[0].event.fields.get("owner.team"),
        Some(&Value::from("checkout"))
    );
    assert_eq!(
        out[0].event.fields.get("owner.tier, class"),
        Some(&Value::from("gold, \"a\""))
    );
    assert_eq!(
        out[1].event.fields.get("owner.team"),
        None,
        "no row, nothing added, event kept"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn templates_render_fields_and_skip_when_one_is_missing() {
    let mut p = testing::configure::<Enrich>(json!({"templates": {
        "service": "{{k8s.app}}-{{k8s.env}}",
        "summary": "{{ k8s.app }}: {{message}}",
    }}))
    .unwrap();
    let out = testing::process(
        &mut p,
        vec![
            event(&[("k8s.app", "shop"), ("k8s.env", "prod")]),
            event(&[("k8s.app", "shop")]),
        ],
    )
    .unwrap();
    assert_eq!(
        out[0].event.fields.get("service"),
        Some(&Value::from("shop-prod"))
    );
    assert_eq!(
        out[0].event.fields.get("summary"),
        Some(&Value::from("shop: GET /checkout 200"))
    );
    assert_eq!(out[1].event.fields.get("service"), None);
    assert_eq!(
        out[1].event.fields.get("summary"),
        Some(&Value::from("shop: GET /checkout 200"))
    );
}

#[test]
fn config_errors_name_their_keys() {
    let e = testing::configure::<Enrich>(json!({"templates": {"x": "{{open"}}))
        .err()
        .unwrap();
    assert_eq!(e.key.as_deref(), Some("templates.x"));
    let e =
        testing::configure::<Enrich>(json!({"lookup_file": "/nonexistent.csv", "lookup_key": "h"}))
            .err()
            .unwrap();
    assert_eq!(e.key.as_deref(), Some("lookup_file"));
    let e = testing::configure::<Enrich>(json!({"lookup_file": "/x.csv"}))
        .err()
        .unwrap();
    assert_eq!(e.key.as_deref(), Some("lookup_key"));
    let e = testing::configure::<Enrich>(json!({"fields": {"a": {"b": 1}}}))
        .err()
        .unwrap();
    assert_eq!(e.key.as_deref(), Some("fields.a"));
}

#[test]
fn csv_reader_handles_quotes_crlf_and_bad_rows() {
    let rows = csv::records("a,b\r\n\"x,1\",\"y\"\"z\"\n\"multi\nline\",2").unwrap();
    assert_eq!(
        rows,
        vec![
            vec!["a", "b"],
            vec!["x,1", "y\"z"],
            vec!["multi\nline", "2"]
        ]
    );
    assert!(csv::records("a,\"open").is_err());
    assert!(csv::table("k,v\n1,2,3\n", None)
        .unwrap_err()
        .contains("row 2"));
    assert!(csv::table("k,v\n", Some("nope"))
        .unwrap_err()
        .contains("no column"));
}
