//! Events per second through the stage, natively, on a mixed corpus: the
//! 32,000 real loghub lines (about a quarter carry IP addresses; nothing
//! else) and the labelled corpus' lines (most carry PII), in batches of
//! 1024 read in place as the host hands them over.
//!
//! ```sh
//! cargo test --release --test throughput -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};

use sluice_event::packed::PackedBatch;
use sluice_plugin_pii::Pii;
use sluice_sdk::{testing, Event, Output, Transform};

const LOGHUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/loghub");
const CORPUS: &str = include_str!("corpus.jsonl");

fn loghub() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(LOGHUB) else {
        eprintln!("no loghub at {LOGHUB}: the corpus alone is measured");
        return Vec::new();
    };
    let mut paths: Vec<_> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("_2k.log"))
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

fn corpus() -> Vec<String> {
    CORPUS
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            row["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Best events/s of a few rounds over `lines`, and the share of events
/// that had a redaction.
fn measure(name: &str, config: serde_json::Value, lines: &[String]) -> f64 {
    let batches: Vec<PackedBatch> = lines
        .chunks(1024)
        .map(|chunk| {
            let events: Vec<Event> = chunk.iter().map(|l| Event::new(l.as_str())).collect();
            PackedBatch::from_events(&events).unwrap()
        })
        .collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    let mut p = testing::configure::<Pii>(config).unwrap();
    let mut best = Duration::MAX;
    let mut changed = 0;
    for _ in 0..11 {
        let start = Instant::now();
        changed = 0;
        for batch in &batches {
            let mut out = Output::with_capacity(batch.len());
            p.process_batch(batch.check().unwrap(), &mut out).unwrap();
            changed += out.len();
        }
        best = best.min(start.elapsed());
    }
    assert_eq!(changed, lines.len());
    let per_s = lines.len() as f64 / best.as_secs_f64();
    println!(
        "| {name} | {} | {:.0} | {:.0} | {:.2} |",
        lines.len(),
        per_s,
        bytes as f64 / best.as_secs_f64() / 1e6,
        best.as_secs_f64() * 1e9 / lines.len() as f64 / 1000.0,
    );
    per_s
}

#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn events_per_second() {
    let loghub = loghub();
    let corpus = corpus();
    // Mixed: the real lines with the labelled corpus spread through them.
    let mut mixed = loghub.clone();
    let step = (loghub.len() / corpus.len().max(1)).max(1);
    for (i, line) in corpus.iter().enumerate() {
        mixed.insert((i * (step + 1)).min(mixed.len()), line.clone());
    }
    let defaults = serde_json::json!({});
    println!("| input | events | events/s | MB/s | µs/event |");
    println!("|---|---:|---:|---:|---:|");
    if !loghub.is_empty() {
        measure(
            "loghub, 16 systems (default config)",
            defaults.clone(),
            &loghub,
        );
    }
    measure(
        "labelled corpus (default config)",
        defaults.clone(),
        &corpus,
    );
    let mixed_rate = measure("mixed (default config)", defaults, &mixed);
    measure(
        "mixed, `hash` everything, `fields = [\"*\"]`",
        serde_json::json!({"action": "hash", "hash_key": "k", "fields": ["*"]}),
        &mixed,
    );
    assert!(mixed_rate > 0.0);
}
