//! Rough ingest and disk figures on the 16 loghub files (plain-text events, as `sluice serve`
//! makes them). `cargo run --release --example ingest -- [repeat] [batch]`
//!
//! Replays every line `repeat` times with fresh timestamps into one index, in batches, with the
//! WAL fsynced per batch; flushes; merges; then reports events/s, MB/s, bytes on disk per raw
//! byte, and a few query latencies.

use sluice_event::Event;
use sluice_query::Query;
use sluice_store::{SearchRequest, Store, StoreOptions, SyncMode};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sluice_gen_corpus::SYSTEMS;

fn dir_size(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                n += dir_size(&path);
            } else if let Ok(m) = e.metadata() {
                n += m.len();
            }
        }
    }
    n
}

fn main() {
    let mut args = std::env::args().skip(1);
    let repeat: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub");
    let mut lines = Vec::new();
    for s in SYSTEMS {
        let bytes = std::fs::read(root.join(format!("{s}_2k.log"))).expect("loghub file");
        lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_owned));
    }
    let raw: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>() * repeat as u64;
    let dir = std::env::temp_dir().join(format!("sluice-store-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = StoreOptions {
        sync: SyncMode::Always,
        flush_rows: std::env::var("FLUSH_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000),
        flush_interval: Duration::from_secs(3600),
        background: false,
        ..StoreOptions::default()
    };
    let store = Store::open(&dir, opts).expect("open");
    let t0 = Instant::now();
    let mut n = 0u64;
    let mut ts = 1_700_000_000_000_000_000i64;
    let mut buf = Vec::with_capacity(batch);
    for _ in 0..repeat {
        for l in &lines {
            ts += 1_000_000;
            let mut e = Event::new(l.as_str());
            e.timestamp = ts;
            buf.push(e);
            if buf.len() == batch {
                store.append("bench", &buf).expect("append");
                n += buf.len() as u64;
                buf.clear();
            }
        }
    }
    if !buf.is_empty() {
        store.append("bench", &buf).expect("append");
        n += buf.len() as u64;
    }
    let appended = t0.elapsed();
    store.flush("bench").expect("flush");
    let ingest = t0.elapsed();
    println!(
        "appends alone (WAL + memory, inline flushes at {} rows): {:.2} s",
        200_000,
        appended.as_secs_f64()
    );
    let s = store.stats("bench").expect("stats");
    let seg_bytes = dir_size(&dir.join("bench").join("segments"));
    println!(
        "ingest: {n} events, {:.1} MB raw in {:.2} s: {:.0} events/s, {:.1} MB/s (fsync per batch of {batch}, flush included)",
        raw as f64 / 1e6,
        ingest.as_secs_f64(),
        n as f64 / ingest.as_secs_f64(),
        raw as f64 / 1e6 / ingest.as_secs_f64()
    );
    println!(
        "disk (before merge): {} segments, {} bytes = {:.3} of raw; WAL now {} bytes",
        s.segments,
        seg_bytes,
        seg_bytes as f64 / raw as f64,
        s.wal_bytes
    );
    let t1 = Instant::now();
    drop(store);
    let store = Store::open(
        &dir,
        StoreOptions {
            merge_min_segments: 2,
            merge_target_rows: 10_000_000,
            background: false,
            ..StoreOptions::default()
        },
    )
    .expect("reopen");
    store.merge("bench").expect("merge");
    let seg_bytes = dir_size(&dir.join("bench").join("segments"));
    let mut by_kind: std::collections::BTreeMap<String, u64> = Default::default();
    fn walk(p: &std::path::Path, out: &mut std::collections::BTreeMap<String, u64>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let name = path
                    .extension()
                    .map_or("other".into(), |x| x.to_string_lossy().into_owned());
                *out.entry(name).or_default() += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    walk(&dir.join("bench").join("segments"), &mut by_kind);
    println!("bytes by file kind: {by_kind:?}");
    println!(
        "after merge ({:.2} s): {} segments, {} bytes = {:.3} of raw",
        t1.elapsed().as_secs_f64(),
        store.stats("bench").expect("stats").segments,
        seg_bytes,
        seg_bytes as f64 / raw as f64
    );
    for q in [
        "scoreboard",
        "\"failed password\"",
        "\"invalid user\" AND admin",
        "(session OR connection) AND NOT closed",
        "conn*",
        "/.*[Ff]ailed.*/",
    ] {
        let mut req = SearchRequest::new(Query::parse(q).expect("query"));
        req.limit = 100;
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..5 {
            let t = Instant::now();
            total = store.search("bench", &req).expect("search").total;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "query {q:<45} total {total:>8}  median {:>8.2} ms",
            times[2].as_secs_f64() * 1e3
        );
    }
    if std::env::var_os("KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
