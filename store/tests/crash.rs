//! A real crash: this test binary re-runs itself as a child that ingests (with flushes and
//! merges in the background), and the parent kills it with SIGKILL mid-ingest. Every event
//! whose `append` returned must be there after recovery, exactly once.

mod common;

use common::*;
use sluice_event::Event;
use sluice_query::Query;
use sluice_store::{SearchRequest, Store, StoreOptions, SyncMode};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "SLUICE_STORE_CRASH_CHILD";

fn options() -> StoreOptions {
    StoreOptions {
        sync: SyncMode::Always,
        flush_rows: 700,
        flush_bytes: usize::MAX,
        flush_interval: Duration::from_millis(100),
        merge_target_rows: 5_000,
        merge_min_segments: 3,
        background: true,
        wal_segment_bytes: 64 << 10,
        ..Default::default()
    }
}

/// The child: appends batches of `crashprobe <n>` events from the given start forever,
/// printing `acked <last n>` after each append returns.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, start) = spec.split_once('|').unwrap();
    let mut next: u64 = start.parse().unwrap();
    let store = Store::open(dir, options()).unwrap();
    let lines = loghub("OpenSSH");
    let mut rng = Rng(next + 1);
    let out = std::io::stdout();
    loop {
        let n = 1 + rng.below(120);
        let batch: Vec<Event> = (0..n)
            .map(|i| {
                let mut e = random_event(&mut rng, &lines);
                e.message = format!("crashprobe {} {}", next + i as u64, e.message);
                e.fields.insert("probe", (next + i as u64) as i64);
                e
            })
            .collect();
        store.append("crash", &batch).unwrap();
        next += n as u64;
        let mut o = out.lock();
        writeln!(o, "acked {}", next - 1).unwrap();
        o.flush().unwrap();
        if rng.chance(3) {
            store.merge("crash").unwrap();
        }
    }
}

fn probes(store: &Store) -> HashMap<i64, usize> {
    let mut req = SearchRequest::new(Query::parse("crashprobe").unwrap());
    req.limit = 1000;
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut total = None;
    loop {
        let r = store.search("crash", &req).unwrap();
        total.get_or_insert(r.total);
        assert_eq!(Some(r.total), total);
        for h in &r.hits {
            let Some(sluice_event::Value::Int(p)) = h.event.fields.get("probe") else {
                panic!("probe field missing: {:?}", h.event);
            };
            *seen.entry(*p).or_default() += 1;
        }
        match r.next_cursor {
            Some(c) => req.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.values().sum::<usize>() as u64, total.unwrap_or(0));
    seen
}

#[test]
fn kill_9_mid_ingest_keeps_every_acknowledged_event_once() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut next = 0u64;
    let mut rng = Rng(7);
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{}|{next}", dir.path().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut acked: Option<u64> = None;
        let run_for = Duration::from_millis(300 + rng.below(1500) as u64);
        let t0 = Instant::now();
        while t0.elapsed() < run_for {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(n) = l.strip_prefix("acked ") {
                        acked = Some(n.trim().parse().unwrap());
                    }
                }
                _ => break,
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acks printed after we stopped reading are also durable: read what is buffered.
        for l in lines.map_while(|l| l.ok()) {
            if let Some(n) = l.strip_prefix("acked ") {
                acked = Some(n.trim().parse().unwrap());
            }
        }
        let store = Store::open(dir.path(), options()).unwrap();
        let seen = probes(&store);
        let dups: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
        assert!(dups.is_empty(), "round {round}: duplicated events {dups:?}");
        if let Some(last) = acked {
            for p in 0..=last as i64 {
                assert!(
                    seen.contains_key(&p),
                    "round {round}: acknowledged event {p} lost (last acked {last})"
                );
            }
        }
        // Unacknowledged events may or may not be there; continue after every id seen.
        let max_seen = seen.keys().copied().max().map_or(0, |m| m as u64 + 1);
        next = max_seen.max(acked.map_or(0, |a| a + 1));
        let stats = store.stats("crash").unwrap();
        eprintln!(
            "round {round}: acked up to {acked:?}, {} events, {} segments, {} in memory, {} replayed records",
            seen.len(),
            stats.segments,
            stats.mem_rows,
            stats.replayed_records
        );
        drop(store);
    }
}

const FP_CHILD_ENV: &str = "SLUICE_STORE_FP_CHILD";

/// The failpoint child: appends 6 batches with a flush after each (merging on the way), and
/// prints `acked N` after every append; the failpoint named in the environment aborts it.
#[test]
fn failpoint_child() {
    let Ok(spec) = std::env::var(FP_CHILD_ENV) else {
        return;
    };
    let (dir, start) = spec.split_once('|').unwrap();
    let mut next: u64 = start.parse().unwrap();
    let store = Store::open(
        dir,
        StoreOptions {
            background: false,
            merge_min_segments: 2,
            ..options()
        },
    )
    .unwrap();
    let lines = loghub("Hadoop");
    let mut rng = Rng(next + 11);
    let out = std::io::stdout();
    for _ in 0..6 {
        let n = 50 + rng.below(50);
        let batch: Vec<Event> = (0..n)
            .map(|i| {
                let mut e = random_event(&mut rng, &lines);
                e.message = format!("crashprobe {} {}", next + i as u64, e.message);
                e.fields.insert("probe", (next + i as u64) as i64);
                e
            })
            .collect();
        store.append("crash", &batch).unwrap();
        next += n as u64;
        {
            let mut o = out.lock();
            writeln!(o, "acked {}", next - 1).unwrap();
            o.flush().unwrap();
        }
        store.flush("crash").unwrap();
        store.merge("crash").unwrap();
    }
    writeln!(out.lock(), "done").unwrap();
}

/// Each crash point of append, flush and merge, hit by a real process abort: nothing
/// acknowledged is lost, nothing is duplicated, and the store keeps working after.
#[test]
fn aborts_at_every_crash_point_lose_and_duplicate_nothing() {
    if std::env::var(CHILD_ENV).is_ok() || std::env::var(FP_CHILD_ENV).is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for point in [
        "append-after-wal",
        "flush-after-build",
        "flush-after-catalog",
        "merge-after-build",
        "merge-after-catalog",
        "merge-after-retire",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut next = 0u64;
        let mut kept: Vec<i64> = Vec::new();
        // Twice per point: the second run crashes on a store recovered from the first.
        for run in 0..2 {
            let out = Command::new(&exe)
                .args([
                    "--exact",
                    "failpoint_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(FP_CHILD_ENV, format!("{}|{next}", dir.path().display()))
                .env("SLUICE_STORE_FAILPOINT", point)
                .stderr(Stdio::null())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                !text.contains("done"),
                "{point}: the failpoint was never reached"
            );
            assert!(!out.status.success(), "{point}: the child did not abort");
            let acked: Option<u64> = text
                .lines()
                .filter_map(|l| l.strip_prefix("acked "))
                .filter_map(|n| n.trim().parse().ok())
                .next_back();
            let store = Store::open(dir.path(), options()).unwrap();
            let seen = probes(&store);
            assert!(
                seen.values().all(|c| *c == 1),
                "{point} run {run}: duplicates"
            );
            if let Some(last) = acked {
                for p in next as i64..=last as i64 {
                    assert!(
                        seen.contains_key(&p),
                        "{point} run {run}: lost acknowledged {p}"
                    );
                }
            }
            for p in &kept {
                assert!(
                    seen.contains_key(p),
                    "{point} run {run}: lost {p} from an earlier run"
                );
            }
            kept = seen.keys().copied().collect();
            next = seen.keys().copied().max().map_or(0, |m| m as u64 + 1);
            // Still works: flush and merge everything, same answer.
            store.flush("crash").unwrap();
            let before = seen.len();
            assert_eq!(probes(&store).len(), before);
        }
    }
}
