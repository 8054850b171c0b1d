//! End-to-end tests of the store on real loghub lines.

mod common;

use common::*;
use sluice_event::{Event, Value};
use sluice_gen_corpus::SYSTEMS;
use sluice_query::Query;
use sluice_store::{parse_pipe, Error, SearchRequest, Store, StoreOptions, SyncMode};
use std::time::{Duration, Instant};

fn opts() -> StoreOptions {
    StoreOptions {
        background: false,
        flush_rows: usize::MAX,
        flush_bytes: usize::MAX,
        flush_interval: Duration::from_secs(3600),
        ..StoreOptions::default()
    }
}

fn total(store: &Store, index: &str, q: &str) -> u64 {
    let mut req = SearchRequest::new(Query::parse(q).unwrap());
    req.limit = 1;
    store.search(index, &req).unwrap().total
}

/// The acceptance check's ground truth: tokens are `[a-z0-9]+` of the lower-cased line.
fn toks(l: &str) -> Vec<String> {
    let lower = l.to_lowercase();
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn has(l: &str, w: &str) -> bool {
    toks(l).iter().any(|t| t == w)
}

fn has_phrase(l: &str, ph: &str) -> bool {
    let t = toks(l);
    let w = toks(ph);
    t.windows(w.len()).any(|x| x == w.as_slice())
}

type Pred = fn(&str) -> bool;

const CHECK_CASES: &[(&str, &str, Pred)] = &[
    ("Apache", "scoreboard", |l| has(l, "scoreboard")),
    ("Apache", "\"error state\"", |l| {
        has_phrase(l, "error state")
    }),
    ("Apache", "child AND NOT scoreboard", |l| {
        has(l, "child") && !has(l, "scoreboard")
    }),
    ("Apache", "workerenv OR scoreboard", |l| {
        has(l, "workerenv") || has(l, "scoreboard")
    }),
    ("OpenSSH", "\"failed password\"", |l| {
        has_phrase(l, "failed password")
    }),
    ("OpenSSH", "\"invalid user\" AND admin", |l| {
        has_phrase(l, "invalid user") && has(l, "admin")
    }),
    ("OpenSSH", "preauth", |l| has(l, "preauth")),
    ("Linux", "authentication AND failure", |l| {
        has(l, "authentication") && has(l, "failure")
    }),
    ("Linux", "(session OR connection) AND NOT closed", |l| {
        (has(l, "session") || has(l, "connection")) && !has(l, "closed")
    }),
];

/// The queries of the acceptance check give the check's exact totals, in memory, after a
/// flush, after a reopen, and after merging.
#[test]
fn acceptance_queries_are_exact_in_every_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), opts()).unwrap();
    for sys in ["Apache", "OpenSSH", "Linux"] {
        let events: Vec<Event> = loghub(sys).iter().map(|l| Event::new(l.as_str())).collect();
        // Several batches, so a merge has work.
        for chunk in events.chunks(500) {
            store.append(&sys.to_lowercase(), chunk).unwrap();
        }
    }
    let check = |store: &Store, state: &str| {
        for (sys, q, pred) in CHECK_CASES {
            let want = loghub(sys).iter().filter(|l| pred(l)).count() as u64;
            let got = total(store, &sys.to_lowercase(), q);
            assert_eq!(got, want, "{state}: {sys} {q}");
        }
    };
    check(&store, "in memory");
    for sys in ["apache", "openssh", "linux"] {
        store.flush(sys).unwrap();
    }
    check(&store, "flushed");
    drop(store);
    store = Store::open(dir.path(), opts()).unwrap();
    check(&store, "reopened");
    for sys in ["Apache", "OpenSSH", "Linux"] {
        let events: Vec<Event> = loghub(sys).iter().map(|l| Event::new(l.as_str())).collect();
        store.append(&sys.to_lowercase(), &events).unwrap();
        store.flush(&sys.to_lowercase()).unwrap();
        store.append(&sys.to_lowercase(), &events).unwrap();
        store.flush(&sys.to_lowercase()).unwrap();
    }
    let opts3 = StoreOptions {
        merge_min_segments: 2,
        ..opts()
    };
    drop(store);
    store = Store::open(dir.path(), opts3).unwrap();
    for sys in ["apache", "openssh", "linux"] {
        assert!(store.merge(sys).unwrap() >= 1);
        assert_eq!(store.stats(sys).unwrap().segments, 1);
    }
    for (sys, q, pred) in CHECK_CASES {
        let want = 3 * loghub(sys).iter().filter(|l| pred(l)).count() as u64;
        assert_eq!(
            total(&store, &sys.to_lowercase(), q),
            want,
            "merged: {sys} {q}"
        );
    }
}

/// Every loghub file round-trips exactly through a segment, and every query of the test
/// list agrees with `Query::matches` on all 16 files.
#[test]
fn all_loghub_files_round_trip_and_agree_with_the_evaluator() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut rng = Rng(99);
    let mut all = Vec::new();
    for sys in SYSTEMS {
        let lines = loghub(sys);
        let events: Vec<Event> = lines
            .iter()
            .map(|_| random_event(&mut rng, &lines))
            .collect();
        store.append("all", &events).unwrap();
        all.extend(events);
    }
    store.flush("all").unwrap();
    let mut req = SearchRequest::new(Query::parse("*").unwrap());
    req.limit = all.len();
    let r = store.search("all", &req).unwrap();
    assert_eq!(r.total, all.len() as u64);
    let mut want: Vec<(usize, &Event)> = all.iter().enumerate().collect();
    want.sort_by_key(|x| std::cmp::Reverse((x.1.timestamp, x.0)));
    for (h, (_, w)) in r.hits.iter().zip(&want) {
        assert_eq!(&h.event, *w);
    }
    for q in QUERIES {
        let query = Query::parse(q).unwrap();
        let want = all.iter().filter(|e| query.matches(*e)).count() as u64;
        assert_eq!(total(&store, "all", q), want, "{q}");
    }
}

#[test]
fn index_names_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    for bad in [
        "",
        "../x",
        "a/b",
        "UPPER",
        ".hidden",
        "-x",
        &"x".repeat(65),
        "sp ace",
    ] {
        match store.append(bad, &[Event::new("x")]) {
            Err(Error::InvalidIndexName { name, .. }) => {
                assert_eq!(name, bad.chars().take(80).collect::<String>())
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(store.append("ok-1.x_y", &[Event::new("x")]).is_ok());
    assert!(matches!(
        store.search("nope", &SearchRequest::new(Query::parse("*").unwrap())),
        Err(Error::NoSuchIndex(_))
    ));
}

#[test]
fn on_disk_layout_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let events: Vec<Event> = loghub("HDFS")
        .iter()
        .map(|l| Event::new(l.as_str()))
        .collect();
    store.append("hdfs", &events).unwrap();
    let meta = store.flush("hdfs").unwrap().unwrap();
    assert_eq!(meta.rows, 2000);
    let idx = dir.path().join("hdfs");
    assert!(idx.join("catalog.json").is_file());
    assert!(idx.join("wal").is_dir());
    let seg = idx.join("segments").join(format!("seg-{:016x}", meta.id));
    for f in ["meta.json", "rows.arrow", "index/meta.json"] {
        assert!(seg.join(f).exists(), "{f}");
    }
    let catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(idx.join("catalog.json")).unwrap()).unwrap();
    assert_eq!(catalog["segments"].as_array().unwrap().len(), 1);
    assert!(catalog["wal_position"].as_u64().unwrap() >= 1);
    drop(store);
    // A half-written segment (not in the catalog) is deleted on open.
    let orphan = idx.join("segments").join("seg-00000000000000ff");
    std::fs::create_dir_all(orphan.join("index")).unwrap();
    std::fs::write(orphan.join("rows.arrow"), b"partial").unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert!(!orphan.exists());
    assert_eq!(store.stats("hdfs").unwrap().orphans_deleted, 1);
    assert_eq!(total(&store, "hdfs", "*"), 2000);
}

#[test]
fn type_conflicts_are_kept_as_text_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut a = Event::new("first");
    a.fields.insert("status", 200);
    let mut b = Event::new("second");
    b.fields.insert("status", "two hundred");
    let mut c = Event::new("third");
    c.fields.insert("service", 7); // a well-known string field
    store.append("t", &[a, b.clone(), c]).unwrap();
    let s = store.stats("t").unwrap();
    assert_eq!(s.type_conflicts, 2);
    assert_eq!(s.schema.get("status").map(String::as_str), Some("number"));
    assert_eq!(s.schema.get("service").map(String::as_str), Some("string"));
    store.flush("t").unwrap();
    let mut req = SearchRequest::new(Query::parse("status:\"two hundred\"").unwrap());
    req.limit = 10;
    let r = store.search("t", &req).unwrap();
    assert_eq!(r.total, 1);
    assert_eq!(r.hits[0].event, b);
    assert_eq!(total(&store, "t", "status:200"), 1);
    assert_eq!(total(&store, "t", "service:7"), 1);
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.stats("t").unwrap().type_conflicts, 2);
}

#[test]
fn budget_and_deadline_make_results_partial() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let events: Vec<Event> = loghub("Spark")
        .iter()
        .map(|l| Event::new(l.as_str()))
        .collect();
    store.append("s", &events).unwrap();
    store.flush("s").unwrap();
    store.append("s", &events).unwrap();
    let mut req = SearchRequest::new(Query::parse("*").unwrap());
    req.scan_budget = 2500;
    let r = store.search("s", &req).unwrap();
    assert!(r.partial);
    assert_eq!(r.total, 2500);
    req.scan_budget = u64::MAX;
    req.deadline = Some(Instant::now() - Duration::from_millis(1));
    let r = store.search("s", &req).unwrap();
    assert!(r.partial);
    req.deadline = Some(Instant::now() + Duration::from_secs(60));
    let r = store.search("s", &req).unwrap();
    assert!(!r.partial);
    assert_eq!(r.total, 4000);
}

#[test]
fn cursors_are_stable_while_events_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let lines = loghub("Zookeeper");
    let mut rng = Rng(3);
    let first: Vec<Event> = (0..1500).map(|_| random_event(&mut rng, &lines)).collect();
    store.append("z", &first).unwrap();
    store.flush("z").unwrap();
    let mut req = SearchRequest::new(Query::parse("*").unwrap());
    req.limit = 97;
    let r = store.search("z", &req).unwrap();
    assert_eq!(r.total, 1500);
    let mut got = r.hits;
    req.cursor = r.next_cursor;
    let mut round = 0;
    while req.cursor.is_some() {
        // New events (some older than the page) and a flush between pages.
        let more: Vec<Event> = (0..50).map(|_| random_event(&mut rng, &lines)).collect();
        store.append("z", &more).unwrap();
        if round % 3 == 0 {
            store.flush("z").unwrap();
        }
        round += 1;
        let r = store.search("z", &req).unwrap();
        assert_eq!(r.total, 1500);
        got.extend(r.hits);
        req.cursor = r.next_cursor;
    }
    assert_eq!(got.len(), 1500);
    let mut want: Vec<(usize, &Event)> = first.iter().enumerate().collect();
    want.sort_by_key(|x| std::cmp::Reverse((x.1.timestamp, x.0)));
    for (g, (_, w)) in got.iter().zip(want) {
        assert_eq!(&g.event, w);
    }
    let ids: std::collections::HashSet<_> = got.iter().map(|h| h.id.clone()).collect();
    assert_eq!(ids.len(), 1500);
    assert!(matches!(
        store.search(
            "z",
            &SearchRequest {
                cursor: Some("bogus".into()),
                ..req.clone()
            }
        ),
        Err(Error::InvalidCursor(_))
    ));
}

#[test]
fn context_gives_neighbours_from_the_same_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut events = Vec::new();
    for i in 0..40 {
        let mut e = Event::new(format!(
            "line {i} from {}",
            if i % 2 == 0 { "even" } else { "odd" }
        ));
        e.timestamp = BASE_TS + i as i64;
        e.fields
            .insert("source", if i % 2 == 0 { "/a.log" } else { "/b.log" });
        events.push(e);
    }
    store.append("c", &events[..20]).unwrap();
    store.flush("c").unwrap();
    store.append("c", &events[20..]).unwrap();
    let mut req = SearchRequest::new(Query::parse("\"line 20\"").unwrap());
    req.limit = 1;
    let hit = store.search("c", &req).unwrap().hits.remove(0);
    let ctx = store.context("c", &hit.id, 3, 2).unwrap();
    let msgs = |v: &[sluice_store::Hit]| {
        v.iter()
            .map(|h| h.event.message.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ctx.hit.event, events[20]);
    assert_eq!(
        msgs(&ctx.before),
        [
            "line 14 from even",
            "line 16 from even",
            "line 18 from even"
        ]
    );
    assert_eq!(msgs(&ctx.after), ["line 22 from even", "line 24 from even"]);
    assert!(matches!(
        store.context("c", "12345678", 1, 1),
        Err(Error::NoSuchEvent(_))
    ));
    assert!(matches!(
        store.context("c", "x", 1, 1),
        Err(Error::NoSuchEvent(_))
    ));
}

#[test]
fn aggregations_run_on_matches() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut events = Vec::new();
    for i in 0..100i64 {
        let mut e = Event::new(format!("req {i}"));
        e.timestamp = BASE_TS + i * 10_000_000_000; // every 10 s
        e.fields
            .insert("level", if i % 4 == 0 { "ERROR" } else { "INFO" });
        e.fields
            .insert("service", if i % 2 == 0 { "api" } else { "web" });
        e.fields.insert("latency", i as f64);
        events.push(e);
    }
    store.append("a", &events[..60]).unwrap();
    store.flush("a").unwrap();
    store.append("a", &events[60..]).unwrap();
    let run = |text: &str| {
        let (q, at) = sluice_query::parse_until_pipe(text).unwrap();
        let pipe = parse_pipe(text, at).unwrap();
        store.aggregate("a", &SearchRequest::new(q), &pipe).unwrap()
    };
    let r = run("* | stats count(), avg(latency), min(latency), max(latency), sum(latency), p50(latency), p99(latency) by level");
    assert_eq!(r.columns[0], "level");
    assert_eq!(r.rows[0][0], "INFO");
    assert_eq!(r.rows[0][1], 75);
    assert_eq!(r.rows[1][1], 25);
    assert_eq!(r.rows[1][3], 0.0);
    assert_eq!(r.rows[1][4], 96.0);
    let r = run("level:ERROR | stats count() by service");
    assert_eq!(
        r.rows,
        vec![vec![serde_json::json!("api"), serde_json::json!(25)]]
    );
    let r = run("* | timechart 1m count() by service");
    assert_eq!(r.columns, ["_time", "service", "count()"]);
    let sum: u64 = r.rows.iter().map(|row| row[2].as_u64().unwrap()).sum();
    assert_eq!(sum, 100);
    let r = run("* | top 1 service");
    assert_eq!(
        r.rows,
        vec![vec![serde_json::json!("api"), serde_json::json!(50)]]
    );
}

#[test]
fn searchable_immediately_and_flushed_by_the_background_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            flush_interval: Duration::from_millis(300),
            sync: SyncMode::Interval(Duration::from_millis(50)),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store
        .append("bg", &[Event::new("latency probe zq123")])
        .unwrap();
    assert_eq!(total(&store, "bg", "zq123"), 1);
    let t0 = Instant::now();
    while store.stats("bg").unwrap().segments == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no background flush"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(total(&store, "bg", "zq123"), 1);
    assert_eq!(store.stats("bg").unwrap().mem_rows, 0);
    let _ = Value::Null;
}

/// Messages and values built to stress the index's agreement with the evaluator: repeated
/// phrase tokens, Unicode case folding (Kelvin sign, dotted İ, ß, final sigma), long tokens,
/// punctuation-only text, numbers as strings, big integers, -0.0, NaN, timestamps.
#[test]
fn edge_cases_agree_with_the_evaluator() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let long = "x".repeat(40_000);
    let messages = [
        "ab ab",
        "ab x ab",
        "ab",
        "AB_AB ab-ab",
        "\u{212A}elvin scale",
        "Kelvin scale",
        "İstanbul city",
        "istanbul city",
        "STRASSE straße Straße",
        "ΣΟΦΟΣ σοφος",
        "-> arrow",
        "a->b",
        "",
        &long,
        "prefix x then",
        "10.0.0.1 connected",
        "conn connection connected reconnect",
    ];
    let mut events = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let mut e = Event::new(*m);
        e.timestamp = BASE_TS + i as i64;
        let v = match i % 9 {
            0 => Value::Int(9_007_199_254_740_993), // 2^53 + 1
            1 => Value::Float(-0.0),
            2 => Value::Float(f64::NAN),
            3 => Value::String("0500".into()),
            4 => Value::String("5e2".into()),
            5 => Value::Timestamp(BASE_TS),
            6 => Value::String("2023-11-14T22:13:20Z".into()),
            7 => Value::Int(9_007_199_254_740_992),
            _ => Value::String("ΣΟΦΟΣ".into()),
        };
        e.fields.insert("v", v);
        e.fields.insert(
            "level",
            *["warning", "WaRn", "E", "crit", "nope"].get(i % 5).unwrap(),
        );
        events.push(e);
    }
    let queries = [
        "\"ab ab\"",
        "ab",
        "ab_ab",
        "kelvin",
        "\u{212A}ELVIN",
        "istanbul",
        "İstanbul",
        "straße",
        "strasse",
        "σοφος",
        "ΣΟΦΟΣ",
        "\"->\"",
        "_exists_:message",
        // (A query for the 40 000-character token itself is past the query crate's regex
        // size limit; the index skips the token and keeps the positions around it.)
        "\"prefix x then\"",
        "\"10.0.0.1\"",
        "conn*",
        "*conn*",
        "c?nn",
        "v:9007199254740993",
        "v:9007199254740992",
        "v:>9007199254740992",
        "v:0",
        "v:-0",
        "v:>=0",
        "v:500",
        "v:[400 TO 600]",
        "v:2023-11-14T22:13:20Z",
        "v:>=2023-11-14T22:13:20Z",
        "v:>1000",
        "v:σοφος",
        "v:*",
        "level:warn",
        "level:>=ERROR",
        "level:<warn",
        "level:nope",
        "level:[WARN TO FATAL]",
        "NOT level:warn",
    ];
    let check = |store: &Store, state: &str| {
        for q in queries {
            let query = Query::parse(q).unwrap();
            let want = events.iter().filter(|e| query.matches(*e)).count() as u64;
            assert_eq!(total(store, "e", q), want, "{state}: {q}");
        }
    };
    store.append("e", &events).unwrap();
    check(&store, "memory");
    store.flush("e").unwrap();
    check(&store, "segment");
    // NaN fields never compare equal: check the rest round-trips.
    let mut req = SearchRequest::new(Query::parse("*").unwrap());
    req.limit = 100;
    let r = store.search("e", &req).unwrap();
    assert_eq!(r.hits.len(), events.len());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else if e.file_name() != "LOCK" {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A crash between the catalog swap and the WAL ack: the WAL still holds records the
/// segments have. Recovery replays only what follows the catalog's position.
#[test]
fn crash_between_catalog_and_wal_ack_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let events: Vec<Event> = loghub("Mac")
        .iter()
        .map(|l| Event::new(l.as_str()))
        .collect();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        store.append("m", &events[..1000]).unwrap();
        store.append("m", &events[1000..1500]).unwrap();
        // The WAL as it was before the flush acknowledged it.
        copy_dir(&dir.path().join("m/wal"), saved.path());
        store.flush("m").unwrap();
        store.append("m", &events[1500..]).unwrap();
        copy_dir(&dir.path().join("m/wal"), saved.path());
    }
    // Put back the unacknowledged WAL (ack file from before the flush, all records).
    std::fs::remove_dir_all(dir.path().join("m/wal")).unwrap();
    copy_dir(saved.path(), &dir.path().join("m/wal"));
    std::fs::write(dir.path().join("m/wal/ack"), [0u8; 12]).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(total(&store, "m", "*"), 2000);
    let s = store.stats("m").unwrap();
    assert_eq!((s.segment_rows, s.mem_rows), (1500, 500));
}

/// A crash after a merge swapped the catalog but before the old segments were deleted.
#[test]
fn crash_after_merge_before_delete_leaves_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let events: Vec<Event> = loghub("Proxifier")
        .iter()
        .map(|l| Event::new(l.as_str()))
        .collect();
    let o = StoreOptions {
        merge_min_segments: 2,
        ..opts()
    };
    {
        let store = Store::open(dir.path(), o.clone()).unwrap();
        for chunk in events.chunks(500) {
            store.append("p", chunk).unwrap();
            store.flush("p").unwrap();
        }
        copy_dir(&dir.path().join("p/segments"), saved.path());
        // Runs of two small segments merge until one is left: 500+500, 1000+500, 1500+500.
        assert_eq!(store.merge("p").unwrap(), 3);
        assert_eq!(store.stats("p").unwrap().segments, 1);
    }
    // The old segment directories come back, as if never deleted.
    copy_dir(saved.path(), &dir.path().join("p/segments"));
    let store = Store::open(dir.path(), o).unwrap();
    assert_eq!(store.stats("p").unwrap().orphans_deleted, 4);
    assert_eq!(total(&store, "p", "*"), 2000);
    let mut req = SearchRequest::new(Query::parse("*").unwrap());
    req.limit = 5000;
    let r = store.search("p", &req).unwrap();
    let mut want: Vec<(usize, &Event)> = events.iter().enumerate().collect();
    want.sort_by_key(|x| std::cmp::Reverse((x.1.timestamp, x.0)));
    assert!(r
        .hits
        .iter()
        .map(|h| &h.event)
        .eq(want.into_iter().map(|x| x.1)));
}

/// Appends from two threads while a third searches, with background flushes and merges:
/// totals never go down, and in the end every event is there once.
#[test]
fn concurrent_appends_searches_flushes_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        Store::open(
            dir.path(),
            StoreOptions {
                flush_rows: 800,
                flush_interval: Duration::from_millis(50),
                merge_min_segments: 3,
                merge_target_rows: 6_000,
                sync: SyncMode::Interval(Duration::from_millis(20)),
                ..StoreOptions::default()
            },
        )
        .unwrap(),
    );
    let lines = loghub("BGL");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let store = store.clone();
            let lines = lines.clone();
            std::thread::spawn(move || {
                for chunk in lines.chunks(97) {
                    let events: Vec<Event> = chunk
                        .iter()
                        .map(|l| Event::new(format!("w{w} {l}")))
                        .collect();
                    store.append("bgl", &events).unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let store = store.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut last = 0;
            let mut rounds = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(r) = store.search(
                    "bgl",
                    &SearchRequest::new(Query::parse("w0 OR w1").unwrap()),
                ) {
                    assert!(r.total >= last, "total went from {last} to {}", r.total);
                    last = r.total;
                    rounds += 1;
                }
            }
            rounds
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(total(&store, "bgl", "w0"), 2000);
    assert_eq!(total(&store, "bgl", "w1"), 2000);
    store.flush("bgl").unwrap();
    store.maintain().unwrap();
    assert_eq!(total(&store, "bgl", "w0 OR w1"), 4000);
}

/// A batch larger than one WAL record is split over several; an event larger than a record
/// is refused with a clear error, and nothing of that batch is half-applied.
#[test]
fn big_batches_split_and_huge_events_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let line = "y".repeat(300);
    let events: Vec<Event> = (0..30_000)
        .map(|i| Event::new(format!("big {i} {line}")))
        .collect();
    store.append("big", &events).unwrap();
    assert_eq!(total(&store, "big", "big"), 30_000);
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert!(store.stats("big").unwrap().replayed_records >= 2);
    assert_eq!(total(&store, "big", "big"), 30_000);
    let huge = Event::new("z".repeat(17 << 20));
    assert!(matches!(
        store.append("big", &[Event::new("small"), huge]),
        Err(Error::EventTooLarge { .. })
    ));
    assert_eq!(total(&store, "big", "small"), 0);
}

/// Extreme times and bad input never panic.
#[test]
fn extreme_values_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let mut events = Vec::new();
    for ts in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
        let mut e = Event::new("edge");
        e.timestamp = ts;
        e.ingest_timestamp = ts;
        e.fields.insert("n", i64::MIN);
        e.fields.insert("f", f64::MAX);
        events.push(e);
    }
    store.append("x", &events).unwrap();
    for flushed in [false, true] {
        if flushed {
            store.flush("x").unwrap();
        }
        for text in [
            "* | timechart 7ms count()",
            "* | timechart 1d count() by n",
            "* | stats avg(f), sum(f), p99(n) by f",
        ] {
            let (q, at) = sluice_query::parse_until_pipe(text).unwrap();
            let pipe = parse_pipe(text, at).unwrap();
            let r = store.aggregate("x", &SearchRequest::new(q), &pipe).unwrap();
            assert!(!r.rows.is_empty(), "{text}");
        }
        let mut req = SearchRequest::new(Query::parse("n:<0 AND f:>1e300").unwrap());
        req.limit = 3;
        let mut seen = 0;
        loop {
            let r = store.search("x", &req).unwrap();
            assert_eq!(r.total, 6);
            seen += r.hits.len();
            match r.next_cursor {
                Some(c) => req.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, 6);
        req.from = 5;
        req.to = -5;
        req.cursor = None;
        assert_eq!(store.search("x", &req).unwrap().total, 0);
    }
}

/// Small segments are merged once a run of them fills the target, even when
/// it is shorter than `merge_min_segments` (flushes of 100k rows against a
/// 1M-row target never make a run of 8).
#[test]
fn a_run_that_fills_the_target_is_merged_before_it_is_long_enough() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            merge_target_rows: 5000,
            merge_min_segments: 8,
            ..opts()
        },
    )
    .unwrap();
    let lines = loghub("Linux");
    let events: Vec<Event> = lines.iter().map(|l| Event::new(l.as_str())).collect();
    // 2000-row segments: small (< 2500); two fill the target, a third would overflow it.
    store.append("linux", &events).unwrap();
    store.flush("linux").unwrap();
    assert_eq!(store.merge("linux").unwrap(), 0, "one segment is not a run");
    for _ in 0..2 {
        store.append("linux", &events).unwrap();
        store.flush("linux").unwrap();
    }
    assert_eq!(store.stats("linux").unwrap().segments, 3);
    assert_eq!(store.merge("linux").unwrap(), 1);
    assert_eq!(store.stats("linux").unwrap().segments, 2);
    assert_eq!(total(&store, "linux", "*"), 6000);
}
