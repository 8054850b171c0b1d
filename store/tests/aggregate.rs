//! Counting aggregations (`count()` alone, by `level`, by `service`; stats, timechart, top)
//! against a model, over segments the fast fields can answer, segments they cannot (a level
//! that is not a level name, a service that is a number), and events still in memory, with
//! time ranges that cover, cut and miss segments.

mod common;

use common::*;
use serde_json::{json, Value as Json};
use sluice_event::{Event, Level, Value};
use sluice_query::Query;
use sluice_store::{SearchRequest, Store, StoreOptions, SyncMode, TimeField};
use std::collections::BTreeMap;
use std::time::Duration;

const SEC: i64 = 1_000_000_000;

fn options() -> StoreOptions {
    StoreOptions {
        sync: SyncMode::Interval(Duration::from_millis(50)),
        flush_rows: 1_000_000,
        flush_bytes: usize::MAX,
        flush_interval: Duration::from_secs(3600),
        background: false,
        // Every search and aggregation on every core (see `parallel_rows`).
        parallel_rows: 0,
        ..Default::default()
    }
}

/// `kind` 0: named levels only and string services (the columns answer); 1: a level that is
/// not a level name; 2: a numeric service.
fn event(rng: &mut Rng, lines: &[String], kind: usize, ts: i64) -> Event {
    let line = rng.pick(lines).clone();
    let mut e = line_event(&line, ts);
    e.ingest_timestamp = ts + rng.below(5) as i64 * SEC;
    if rng.chance(85) {
        let levels: &[&str] = if kind == 1 {
            &["INFO", "bogus", "warning"]
        } else {
            &[
                "INFO", "info", "WARN", "warning", "ERROR", "E", "debug", "FATAL",
            ]
        };
        e.fields.insert("level", *rng.pick(levels));
    } else if rng.chance(30) {
        e.fields.insert("level", Value::Null);
    }
    if rng.chance(75) {
        if kind == 2 && rng.chance(30) {
            e.fields.insert("service", 7i64);
        } else {
            e.fields
                .insert("service", *rng.pick(&["api", "web-1", "Payments", "db"]));
        }
    }
    e
}

/// The model's group key: the value as JSON, level names normalized, missing is null.
fn key(e: &Event, name: &str) -> Json {
    match (name, e.fields.get(name)) {
        (_, None) => Json::Null,
        ("level", Some(Value::String(s))) => {
            Json::String(Level::parse(s).map_or_else(|| s.clone(), |l| l.as_str().to_owned()))
        }
        (_, Some(v)) => sluice_event::value_to_json(v),
    }
}

struct Case<'a> {
    query: &'a str,
    by: Option<&'a str>,
    /// Timechart interval in seconds.
    every: Option<i64>,
    top: bool,
}

fn check(store: &Store, model: &[Event], case: &Case, range: (TimeField, i64, i64)) {
    let (field, from, to) = range;
    let q = Query::parse(case.query).unwrap();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for e in model {
        let t = match field {
            TimeField::Timestamp => e.timestamp,
            TimeField::IngestTimestamp => e.ingest_timestamp,
        };
        if t < from || (t >= to && to != i64::MAX) || !q.matches(e) {
            continue;
        }
        let k = case.by.map_or(Json::Null, |f| key(e, f));
        if case.top && k.is_null() {
            continue;
        }
        let bucket = case.every.map_or(Json::Null, |s| {
            let every = s * SEC;
            Json::String(sluice_event::format_rfc3339(
                e.timestamp - e.timestamp.rem_euclid(every),
            ))
        });
        *want.entry(json!([bucket, k]).to_string()).or_default() += 1;
    }
    let by = case.by.map(|f| format!(" by {f}")).unwrap_or_default();
    let text = match (case.every, case.top) {
        (_, true) => format!("{} | top 100 {}", case.query, case.by.unwrap()),
        (Some(s), _) => format!("{} | timechart {s}s count(){by}", case.query),
        (None, _) => format!("{} | stats count(){by}", case.query),
    };
    let (parsed, at) = sluice_query::parse_until_pipe(&text).unwrap();
    let pipe = sluice_store::parse_pipe(&text, at).unwrap();
    let mut req = SearchRequest::new(parsed);
    (req.time_field, req.from, req.to) = range;
    let r = store.aggregate("idx", &req, &pipe).unwrap();
    assert!(!r.partial, "{text}");
    let got: BTreeMap<String, u64> = r
        .rows
        .iter()
        .filter(|row| !(case.every.is_none() && case.by.is_none() && row[0] == json!(0)))
        .map(|row| {
            let count = row[row.len() - 1].as_u64().unwrap();
            let k = match (case.every, case.top, case.by) {
                (_, true, _) => json!([null, row[0]]),
                (Some(_), _, Some(_)) => json!([row[0], row[1]]),
                (Some(_), _, None) => json!([row[0], null]),
                (None, _, Some(_)) => json!([null, row[0]]),
                (None, _, None) => json!([null, null]),
            };
            (k.to_string(), count)
        })
        .collect();
    assert_eq!(got, want, "{text} in {field:?} [{from}, {to})");
    if case.every.is_none() && !case.top {
        assert_eq!(r.matched, want.values().sum::<u64>(), "{text}");
    }
}

#[test]
fn column_counts_agree_with_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let lines = loghub("OpenSSH");
    let lines: Vec<String> = lines.into_iter().take(300).collect();
    let store = Store::open(dir.path(), options()).unwrap();
    let mut rng = Rng(0xA66);
    let mut model = Vec::new();
    // Segments of each kind, each over its own stretch of time, then events left in memory.
    for (i, kind) in [0, 0, 1, 2, 0, 0, 1, 2].into_iter().enumerate() {
        let start = BASE_TS + i as i64 * 1000 * SEC;
        let batch: Vec<Event> = (0..1500)
            .map(|j| event(&mut rng, &lines, kind, start + j * SEC / 2 + 7))
            .collect();
        store.append("idx", &batch).unwrap();
        model.extend(batch);
        if i < 5 {
            store.flush("idx").unwrap();
        }
    }
    assert!(store.stats("idx").unwrap().segments >= 5);
    let ranges = [
        (TimeField::Timestamp, i64::MIN, i64::MAX),
        // Covers segments 1 and 2 whole, cuts 0 and 3.
        (
            TimeField::Timestamp,
            BASE_TS + 500 * SEC,
            BASE_TS + 3300 * SEC,
        ),
        (
            TimeField::IngestTimestamp,
            BASE_TS + 200 * SEC,
            BASE_TS + 5200 * SEC,
        ),
        // Nothing.
        (TimeField::Timestamp, BASE_TS - 100 * SEC, BASE_TS - SEC),
    ];
    let cases = [
        ("*", None, None, false),
        ("*", Some("level"), None, false),
        ("*", Some("service"), None, false),
        ("password", Some("level"), None, false),
        ("service:api OR level:error", Some("service"), None, false),
        ("*", None, Some(600), false),
        ("*", Some("level"), Some(300), false),
        ("failed", Some("service"), Some(3600), false),
        ("*", Some("level"), None, true),
        ("-service:db", Some("service"), None, true),
    ];
    for range in ranges {
        for (query, by, every, top) in cases {
            let case = Case {
                query,
                by,
                every,
                top,
            };
            check(&store, &model, &case, range);
        }
    }
}
