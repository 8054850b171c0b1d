//! Retention tiers: hot → warm → cold → deleted as an injected clock advances, with a local
//! directory and a real S3 server (moto) as the cold store, and a real abort at every
//! transition's failpoint.

mod common;

use common::*;
use sluice_event::{Event, Value};
use sluice_query::Query;
use sluice_store::{
    parse_pipe, Clock, ColdStorage, Retention, SearchRequest, Store, StoreOptions, SyncMode,
};
use sluice_test_support::{ensure_tool, free_port};
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600_000_000_000;
const INDEX: &str = "logs";

fn hours(h: u64) -> Option<Duration> {
    Some(Duration::from_secs(h * 3600))
}

fn options(clock: &Arc<AtomicI64>, cold: ColdStorage) -> StoreOptions {
    StoreOptions {
        sync: SyncMode::Always,
        background: false,
        flush_rows: usize::MAX,
        flush_bytes: usize::MAX,
        flush_interval: Duration::from_secs(3600),
        merge_target_rows: 1_000_000,
        merge_min_segments: 100,
        retention: Retention {
            warm_after: hours(1),
            cold_after: hours(2),
            delete_after: hours(3),
        },
        cold: Some(cold),
        cache_bytes: 1 << 30,
        warm_target_rows: 250,
        clock: Clock::manual(clock.clone()),
        ..StoreOptions::default()
    }
}

fn local_cold(dir: &Path) -> ColdStorage {
    ColdStorage {
        url: format!("file://{}", dir.display()),
        ..ColdStorage::default()
    }
}

/// Events of group `g` (probes `first..first+n`) at times spread over the 10 minutes before
/// `ts`.
fn group(lines: &[String], rng: &mut Rng, g: &str, first: u64, n: usize, ts: i64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut e = random_event(rng, lines);
            let p = first + i as u64;
            e.timestamp = ts - (rng.below(600) as i64) * 1_000_000_000;
            e.ingest_timestamp = e.timestamp;
            e.message = format!("retprobe {p} {}", e.message);
            e.fields.insert("probe", p as i64);
            e.fields.insert("group", g);
            e
        })
        .collect()
}

/// Every hit of `q` over `[from, to)` (all pages): (id, timestamp, message), and the total.
fn all_hits(store: &Store, q: &str, from: i64, to: i64) -> (u64, Vec<(String, i64, String)>) {
    let mut req = SearchRequest::new(Query::parse(q).unwrap());
    req.from = from;
    req.to = to;
    req.limit = 300;
    let mut out = Vec::new();
    let mut total = None;
    loop {
        let r = store.search(INDEX, &req).unwrap();
        assert!(!r.partial);
        total.get_or_insert(r.total);
        out.extend(
            r.hits
                .into_iter()
                .map(|h| (h.id, h.event.timestamp, h.event.message)),
        );
        match r.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    let total = total.unwrap();
    assert_eq!(total, out.len() as u64, "{q}: total vs hits");
    (total, out)
}

type Answers = Vec<(u64, Vec<(String, i64, String)>)>;

const QUERIES: [&str; 5] = [
    "retprobe",
    "group:c",
    "group:w OR group:h",
    "level:error",
    "retprobe AND NOT group:d",
];

fn answers(store: &Store, t: i64) -> Answers {
    let mut v: Answers = QUERIES
        .iter()
        .map(|q| all_hits(store, q, i64::MIN, i64::MAX))
        .collect();
    // A time range that only recent segments overlap.
    v.push(all_hits(store, "retprobe", t - HOUR / 2, i64::MAX));
    v
}

/// Probe id → how many times it is found, with its group.
fn probes(store: &Store) -> HashMap<i64, (usize, String)> {
    let mut req = SearchRequest::new(Query::parse("retprobe").unwrap());
    req.limit = 1000;
    let mut seen: HashMap<i64, (usize, String)> = HashMap::new();
    loop {
        let r = store.search(INDEX, &req).unwrap();
        for h in &r.hits {
            let Some(Value::Int(p)) = h.event.fields.get("probe") else {
                panic!("no probe: {:?}", h.event);
            };
            let g = h.event.fields.get("group").and_then(Value::as_str).unwrap();
            let e = seen.entry(*p).or_insert((0, g.to_owned()));
            e.0 += 1;
        }
        match r.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    seen
}

fn catalog_tiers(dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read(dir.join(INDEX).join("catalog.json")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["dir"].as_str().unwrap().to_owned(),
                s["tier"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Segment directories present locally under `segments/`.
fn local_dirs(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join(INDEX).join("segments"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Segment directories in a local cold store, for `INDEX`.
fn cold_dirs(cold: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(cold.join(INDEX)) {
        Ok(rd) => rd
            .map(|e| e.unwrap())
            .filter(|e| {
                // A directory counts only if it holds a file (automatic cleanup may lag).
                walkdir_has_file(&e.path())
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn walkdir_has_file(p: &Path) -> bool {
    if p.is_file() {
        return true;
    }
    std::fs::read_dir(p).is_ok_and(|rd| rd.flatten().any(|e| walkdir_has_file(&e.path())))
}

/// Checks that local and cold directories are exactly what the catalog names.
fn assert_no_leftovers(data: &Path, cold: Option<&Path>) {
    let tiers = catalog_tiers(data);
    let local: BTreeSet<String> = tiers
        .iter()
        .filter(|(_, t)| t != "cold")
        .map(|(d, _)| d.clone())
        .collect();
    assert_eq!(local_dirs(data), local, "local segment directories");
    if let Some(cold) = cold {
        let remote: BTreeSet<String> = tiers
            .iter()
            .filter(|(_, t)| t == "cold")
            .map(|(d, _)| d.clone())
            .collect();
        assert_eq!(cold_dirs(cold), remote, "cold segment directories");
    }
}

/// Ingests the groups used by the tests: `c` (2 segments, 2.5 h before `t`), `w` (2
/// segments, 1.5 h before), `h` (1 segment at `t`), and `m` (in memory, at `t`). 100 events
/// per segment.
fn ingest(store: &Store, t: i64) -> u64 {
    let lines = loghub("OpenSSH");
    let mut rng = Rng(42);
    let mut next = 0;
    for (g, ts) in [
        ("c", t - 5 * HOUR / 2),
        ("c", t - 5 * HOUR / 2),
        ("w", t - 3 * HOUR / 2),
        ("w", t - 3 * HOUR / 2),
        ("h", t),
        ("m", t),
    ] {
        let batch = group(&lines, &mut rng, g, next, 100, ts);
        store.append(INDEX, &batch).unwrap();
        next += 100;
        if g != "m" {
            store.flush(INDEX).unwrap();
        }
    }
    next
}

const T: i64 = BASE_TS + 10 * HOUR;

#[test]
fn segments_move_hot_warm_cold_deleted_and_answers_stay_the_same() {
    let data = tempfile::tempdir().unwrap();
    let cold = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T - 2 * HOUR));
    let opts = options(&clock, local_cold(cold.path()));
    let store = Store::open(data.path(), opts.clone()).unwrap();
    ingest(&store, T);
    let base = answers(&store, T);
    assert_eq!(base[0].0, 600);
    // Context around events of group c (cold later), middle and edges.
    let c_hits = all_hits(&store, "group:c", i64::MIN, i64::MAX).1;
    let ctx_ids: Vec<String> = [0, 57, 199].iter().map(|&i| c_hits[i].0.clone()).collect();
    let contexts = |store: &Store| {
        ctx_ids
            .iter()
            .map(|id| format!("{:?}", store.context(INDEX, id, 3, 3).unwrap()))
            .collect::<Vec<_>>()
    };
    let base_ctx = contexts(&store);
    let aggs = |store: &Store| {
        let req = SearchRequest::new(Query::parse("retprobe").unwrap());
        [
            "| stats count() by group",
            "| top 5 level",
            "| stats count() by service",
        ]
        .iter()
        .map(|p| {
            store
                .aggregate(INDEX, &req, &parse_pipe(p, 0).unwrap())
                .unwrap()
        })
        .collect::<Vec<_>>()
    };
    let base_aggs = aggs(&store);
    let text = format!("{:?}", base_aggs[0]);
    for g in ["\"c\"", "\"w\"", "\"h\"", "\"m\""] {
        assert!(text.contains(g), "{g} missing from {text}");
    }
    assert!(
        base_ctx
            .iter()
            .all(|c| c.contains("before: [Hit") || c.contains("after: [Hit")),
        "{base_ctx:?}"
    );

    // Nothing is old enough yet.
    let r = store.retain().unwrap();
    assert_eq!((r.warmed, r.cooled, r.deleted), (0, 0, 0));

    // warm: c and w (4 hot segments) become 2 warm ones (target 250 rows), recompressed.
    clock.store(T, Ordering::SeqCst);
    let before_bytes = store.stats(INDEX).unwrap().segment_bytes;
    let r = store.retain().unwrap();
    // ... and c (2.5 h old) moves cold in the same run.
    assert_eq!((r.warmed, r.warm_built, r.cooled, r.deleted), (4, 2, 1, 0));
    let st = store.stats(INDEX).unwrap();
    assert_eq!(
        (st.hot_segments, st.warm_segments, st.cold_segments),
        (1, 1, 1)
    );
    assert_eq!(st.segment_rows, 500);
    assert!(st.segment_bytes < before_bytes, "{st:?}");
    assert_eq!(cold_dirs(cold.path()).len(), 1);
    assert_no_leftovers(data.path(), Some(cold.path()));
    // The recent range does not need the cold segment: nothing is fetched.
    let recent = all_hits(&store, "retprobe", T - HOUR / 2, i64::MAX);
    assert_eq!(recent, base[5]);
    assert_eq!(store.stats(INDEX).unwrap().cache.fetches, 0);
    assert_eq!(answers(&store, T), base);
    let st = store.stats(INDEX).unwrap();
    assert_eq!(st.cache.fetches, 1, "{st:?}");
    // Cached now.
    assert_eq!(answers(&store, T), base);
    assert_eq!(store.stats(INDEX).unwrap().cache.fetches, 1);
    // Aggregations and context see cold segments too.
    assert_eq!(aggs(&store), base_aggs);
    assert_eq!(contexts(&store), base_ctx);

    // Reopen with an empty cache: same answers, fetched again.
    drop(store);
    std::fs::remove_dir_all(data.path().join(INDEX).join("cache")).unwrap();
    let store = Store::open(data.path(), opts.clone()).unwrap();
    assert_eq!(contexts(&store), base_ctx);
    assert_eq!(store.stats(INDEX).unwrap().cache.fetches, 1);
    assert_eq!(aggs(&store), base_aggs);
    assert_eq!(answers(&store, T), base);
    assert_eq!(store.stats(INDEX).unwrap().cache.fetches, 1);
    // Reopen keeping the cache: no fetch.
    drop(store);
    let store = Store::open(data.path(), opts.clone()).unwrap();
    assert_eq!(answers(&store, T), base);
    assert_eq!(store.stats(INDEX).unwrap().cache.fetches, 0);

    // One hour later: c (3.5 h) is deleted, w (2.5 h) goes cold, h (1 h) warm.
    clock.store(T + HOUR, Ordering::SeqCst);
    let r = store.retain().unwrap();
    assert_eq!((r.warmed, r.cooled, r.deleted), (1, 1, 1));
    let st = store.stats(INDEX).unwrap();
    assert_eq!(
        (st.hot_segments, st.warm_segments, st.cold_segments),
        (0, 1, 1)
    );
    assert_no_leftovers(data.path(), Some(cold.path()));
    assert!(!data
        .path()
        .join(INDEX)
        .join("cache")
        .read_dir()
        .unwrap()
        .any(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            !catalog_tiers(data.path()).iter().any(|(d, _)| *d == n)
        }));
    // Same answers minus the deleted events.
    let now = answers(&store, T);
    for (q, (got, want)) in QUERIES.iter().zip(now.iter().zip(&base)) {
        let kept: Vec<_> = want
            .1
            .iter()
            .filter(|h| {
                let p: u64 = h.2.split(' ').nth(1).unwrap().parse().unwrap();
                p >= 200
            })
            .cloned()
            .collect();
        assert_eq!(got.1, kept, "{q}");
        assert_eq!(got.0, kept.len() as u64, "{q}");
    }
    assert_eq!(now[0].0, 400);

    // Everything past delete_after: only memory is left, and the cold store is empty.
    clock.store(T + 10 * HOUR, Ordering::SeqCst);
    let r = store.retain().unwrap();
    assert_eq!(r.deleted, 2);
    assert_eq!(all_hits(&store, "retprobe", i64::MIN, i64::MAX).0, 100);
    assert!(cold_dirs(cold.path()).is_empty());
    assert_no_leftovers(data.path(), Some(cold.path()));
    let st = store.stats(INDEX).unwrap();
    assert_eq!((st.segments, st.cache.segments), (0, 0), "{st:?}");
}

#[test]
fn cache_is_bounded_with_lru_eviction() {
    let data = tempfile::tempdir().unwrap();
    let cold = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T));
    let opts = StoreOptions {
        retention: Retention {
            cold_after: hours(2),
            ..Retention::default()
        },
        cache_bytes: 1,
        ..options(&clock, local_cold(cold.path()))
    };
    let store = Store::open(data.path(), opts).unwrap();
    ingest(&store, T);
    let base = answers(&store, T);
    let r = store.retain().unwrap();
    assert_eq!(r.cooled, 2);
    // Both cold segments are needed by each query; the cache keeps at most the last one.
    assert_eq!(answers(&store, T), base);
    let st = store.stats(INDEX).unwrap();
    assert!(st.cache.segments <= 1, "{st:?}");
    assert!(st.cache.evictions >= 1, "{st:?}");
    assert_eq!(answers(&store, T), base);
}

#[test]
fn cold_after_without_cold_storage_is_an_error() {
    let data = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T));
    let opts = StoreOptions {
        cold: None,
        ..options(&clock, ColdStorage::default())
    };
    let err = Store::open(data.path(), opts).err().unwrap();
    assert!(err.to_string().contains("cold_after"), "{err}");
}

// ---------------------------------------------------------------------------------------
// S3 (moto)

/// A moto_server child, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 request to moto; the status code and body.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

fn start_moto() -> Option<Moto> {
    let bin = ensure_tool("moto")?;
    let port = free_port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let moto = Moto { child, port };
    let t0 = Instant::now();
    loop {
        if let Ok((code, _)) = http(port, "GET", "/") {
            if code == 200 {
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "moto_server did not answer on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(moto)
}

#[test]
fn s3_cold_tier_against_moto() {
    let Some(moto) = start_moto() else {
        return;
    };
    let (code, body) = http(moto.port, "PUT", "/sluice-cold").unwrap();
    assert_eq!(code, 200, "create bucket: {body}");
    let data = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T));
    let cold = ColdStorage {
        url: "s3://sluice-cold/some/prefix".into(),
        endpoint: Some(format!("http://127.0.0.1:{}", moto.port)),
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
    };
    let opts = StoreOptions {
        cache_bytes: 1 << 30,
        ..options(&clock, cold)
    };
    let store = Store::open(data.path(), opts.clone()).unwrap();
    ingest(&store, T);
    let base = answers(&store, T);
    let r = store.retain().unwrap();
    assert_eq!((r.warmed, r.cooled), (4, 1));
    let listing = |prefix: &str| {
        let (code, body) = http(
            moto.port,
            "GET",
            &format!("/sluice-cold?list-type=2&prefix={prefix}"),
        )
        .unwrap();
        assert_eq!(code, 200, "{body}");
        body
    };
    let cold_seg = catalog_tiers(data.path())
        .into_iter()
        .find(|(_, t)| t == "cold")
        .unwrap()
        .0;
    let body = listing("some/prefix/logs/");
    assert!(
        body.contains(&format!("some/prefix/logs/{cold_seg}/rows.arrow")),
        "{body}"
    );
    assert_no_leftovers(data.path(), None);
    assert_eq!(answers(&store, T), base);
    assert_eq!(store.stats(INDEX).unwrap().cache.fetches, 1);

    // A leftover of an interrupted move (objects no catalog entry names) is swept.
    let (code, _) = http(
        moto.port,
        "PUT",
        "/sluice-cold/some/prefix/logs/seg-00000000000000ff/meta.json",
    )
    .unwrap();
    assert_eq!(code, 200);
    let r = store.retain().unwrap();
    assert_eq!(r.remote_orphans, 1);
    assert!(!listing("some/prefix/logs/").contains("seg-00000000000000ff"));

    // Reopen with an empty cache.
    drop(store);
    std::fs::remove_dir_all(data.path().join(INDEX).join("cache")).unwrap();
    let store = Store::open(data.path(), opts).unwrap();
    assert_eq!(answers(&store, T), base);
    assert_eq!(store.stats(INDEX).unwrap().cache.fetches, 1);

    // Deleted from S3 too.
    clock.store(T + HOUR, Ordering::SeqCst);
    let r = store.retain().unwrap();
    assert_eq!((r.deleted, r.cooled), (1, 1));
    let body = listing("some/prefix/logs/");
    assert!(!body.contains(&cold_seg), "{body}");
    assert_eq!(all_hits(&store, "retprobe", i64::MIN, i64::MAX).0, 400);
    drop(store);

    // Endpoint, region and credentials from the standard AWS variables alone (a child
    // process, since the environment is the process's).
    let (code, body) = http(moto.port, "PUT", "/sluice-env").unwrap();
    assert_eq!(code, 200, "create bucket: {body}");
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "s3_env_child", "--nocapture", "--test-threads=1"])
        .env(S3_ENV_CHILD, data.path())
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        )
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("env ok"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, body) = http(moto.port, "GET", "/sluice-env?list-type=2&prefix=p/logs/").unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("/rows.arrow</Key>"), "{body}");
}

const S3_ENV_CHILD: &str = "SLUICE_STORE_S3_ENV_CHILD";

/// The child of `s3_cold_tier_against_moto` configured by the environment only.
#[test]
fn s3_env_child() {
    let Ok(data) = std::env::var(S3_ENV_CHILD) else {
        return;
    };
    let clock = Arc::new(AtomicI64::new(T));
    let cold = ColdStorage {
        url: "s3://sluice-env/p".into(),
        ..ColdStorage::default()
    };
    let store = Store::open(&data, options(&clock, cold)).unwrap();
    ingest(&store, T);
    let base = answers(&store, T);
    let r = store.retain().unwrap();
    assert_eq!(r.cooled, 1);
    drop(store);
    std::fs::remove_dir_all(Path::new(&data).join(INDEX).join("cache")).unwrap();
    let store = Store::open(
        &data,
        options(
            &clock,
            ColdStorage {
                url: "s3://sluice-env/p".into(),
                ..ColdStorage::default()
            },
        ),
    )
    .unwrap();
    assert_eq!(answers(&store, T), base);
    assert_eq!(store.stats(INDEX).unwrap().cache.fetches, 1);
    println!("env ok");
}

// ---------------------------------------------------------------------------------------
// Crashes

const FP_CHILD_ENV: &str = "SLUICE_STORE_RETENTION_CHILD";

/// The child: ingests the test groups, then runs retention at `T` and at `T + 1h`; the
/// failpoint named in the environment aborts it.
#[test]
fn retention_failpoint_child() {
    let Ok(spec) = std::env::var(FP_CHILD_ENV) else {
        return;
    };
    let (data, cold) = spec.split_once('|').unwrap();
    let clock = Arc::new(AtomicI64::new(T - 2 * HOUR));
    let store = Store::open(data, options(&clock, local_cold(Path::new(cold)))).unwrap();
    ingest(&store, T);
    println!("ingested");
    clock.store(T, Ordering::SeqCst);
    store.retain().unwrap();
    println!("retained 1");
    clock.store(T + HOUR, Ordering::SeqCst);
    store.retain().unwrap();
    println!("done");
}

#[test]
fn aborts_at_every_retention_failpoint_lose_and_duplicate_nothing() {
    if std::env::var(FP_CHILD_ENV).is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for point in [
        "warm-after-build",
        "warm-after-catalog",
        "warm-after-retire",
        "cold-after-upload",
        "cold-after-catalog",
        "cold-after-retire",
        "delete-after-catalog",
        "delete-after-files",
    ] {
        let data = tempfile::tempdir().unwrap();
        let cold = tempfile::tempdir().unwrap();
        let out = Command::new(&exe)
            .args([
                "--exact",
                "retention_failpoint_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(
                FP_CHILD_ENV,
                format!("{}|{}", data.path().display(), cold.path().display()),
            )
            .env("SLUICE_STORE_FAILPOINT", point)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("ingested"),
            "{point}: child failed early: {text}"
        );
        assert!(
            !text.contains("done"),
            "{point}: the failpoint was never reached"
        );
        assert!(!out.status.success(), "{point}: the child did not abort");

        let clock = Arc::new(AtomicI64::new(T + HOUR));
        let opts = options(&clock, local_cold(cold.path()));
        let check = |store: &Store, when: &str| {
            let seen = probes(store);
            let dups: Vec<_> = seen.iter().filter(|(_, (n, _))| *n != 1).collect();
            assert!(dups.is_empty(), "{point} {when}: duplicates {dups:?}");
            for p in 0..600i64 {
                let g = seen.get(&p).map(|(_, g)| g.as_str());
                // Group c (probes 0..200) is past delete_after at T + 1h: it may be gone, as
                // a whole.
                if p >= 200 {
                    assert!(g.is_some(), "{point} {when}: lost {p}");
                }
            }
            let c = (0..200).filter(|p| seen.contains_key(p)).count();
            assert!(c == 0 || c == 200, "{point} {when}: {c} of group c");
        };
        // Recovered, before any retention: leftovers of the interrupted move are gone
        // locally (the sweep of objects comes with the next retention run).
        let store = Store::open(data.path(), opts.clone()).unwrap();
        check(&store, "after reopen");
        assert_no_leftovers(data.path(), None);
        // Retention finishes the work; the cold store holds exactly the catalog's.
        store.retain().unwrap();
        check(&store, "after retention");
        assert_no_leftovers(data.path(), Some(cold.path()));
        assert!(
            !probes(&store).contains_key(&0),
            "{point}: group c not deleted"
        );
        let st = store.stats(INDEX).unwrap();
        assert_eq!(st.cold_segments, 1, "{point}: {st:?}");
        drop(store);
        // And once more from disk.
        let store = Store::open(data.path(), opts).unwrap();
        check(&store, "reopened");
        assert_eq!(probes(&store).len(), 400);
    }
}

/// The store keeps an object-store runtime inside; the last handle may be dropped in async
/// code (a sink's task) without the "cannot drop a runtime" panic.
#[test]
fn a_store_with_cold_storage_can_be_dropped_in_async_code() {
    let data = tempfile::tempdir().unwrap();
    let cold = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T));
    let opts = options(&clock, local_cold(cold.path()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::open(data.path(), opts).unwrap();
        drop(store);
    });
}

/// Retention runs on the background thread, per index (an override for one index, none for
/// the other).
#[test]
fn background_thread_applies_per_index_retention() {
    let data = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T));
    let mut overrides = HashMap::new();
    overrides.insert(
        "old".to_owned(),
        Retention {
            delete_after: hours(2),
            ..Retention::default()
        },
    );
    let opts = StoreOptions {
        background: true,
        retention: Retention::default(),
        retention_overrides: overrides,
        retention_interval: Duration::from_millis(50),
        cold: None,
        ..options(&clock, ColdStorage::default())
    };
    let store = Store::open(data.path(), opts).unwrap();
    let lines = loghub("Linux");
    let mut rng = Rng(5);
    for index in ["old", "kept"] {
        store
            .append(index, &group(&lines, &mut rng, "x", 0, 50, T - 5 * HOUR))
            .unwrap();
        store.flush(index).unwrap();
    }
    let t0 = Instant::now();
    // The catalog loses the segment before the move is counted (after its files go).
    while store.stats("old").unwrap().segments > 0 || store.stats("old").unwrap().deleted == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the background thread did not delete"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.stats("old").unwrap().deleted, 1);
    let kept = store.stats("kept").unwrap();
    assert_eq!((kept.segments, kept.deleted), (1, 0));
}
