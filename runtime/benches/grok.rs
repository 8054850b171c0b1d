//! Grok throughput, in Wasm through the host and natively (the same parser
//! compiled for the host), in the same run.
//!
//! `cargo bench -p sluice --bench grok` prints events/s and MB/s of message
//! text on one core (one stage is one thread), medians of several rounds,
//! and the ratio Wasm ÷ native per row. Times are the CPU time of the
//! benchmark's thread (wall time where Linux's per-thread figure is not
//! available), so builds running beside it change them less.
//! `GROK_BENCH_ONLY=text` runs only the rows whose name contains `text`.
//!
//! Wasm is `builtin:grok` called through the host (`TransformPlugin::process`:
//! columns copied in, checked, parsed, the answer copied out and checked).
//! Native is the same crate compiled for the host, given the same packed
//! batches through `sluice_sdk::testing::process_packed`: the code the
//! component runs between receiving a batch and encoding its answer (check,
//! the `Output` for the batch, `process_batch`). Rounds alternate between
//! the two, so both see the same machine load.

use sluice::plugin::transform::{Grants, TransformLimits, TransformPlugin};
use sluice::plugin::{builtin, PluginEngine};
use sluice_event::packed::PackedBatch;
use sluice_event::Event;
use sluice_io::sources::demo::{generate_line, DemoKind, DemoRng};
use sluice_plugin_grok::Grok;
use sluice_sdk::testing;
use std::time::Instant;

const ROUNDS: usize = 7;
/// Seconds of each side's work per round.
const ROUND_SECS: f64 = 0.3;

/// Wall-clock seconds `f` takes.
fn wall(f: impl FnOnce() -> f64) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64()
}

/// Seconds of CPU time of this thread (Linux: `/proc/thread-self/schedstat`),
/// or of wall time where that is not available. A stage is one thread, so
/// this is the cost per core, whatever else the machine is running.
struct CpuClock {
    cpu_ns: Option<u64>,
    wall: Instant,
}

impl CpuClock {
    fn start() -> Self {
        CpuClock {
            cpu_ns: thread_cpu_ns(),
            wall: Instant::now(),
        }
    }
    fn secs(&self) -> f64 {
        match (self.cpu_ns, thread_cpu_ns()) {
            (Some(start), Some(now)) => (now - start) as f64 / 1e9,
            _ => self.wall.elapsed().as_secs_f64(),
        }
    }
}

fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn demo_lines(kind: DemoKind, n: usize) -> Vec<String> {
    let mut rng = DemoRng::new(42);
    (0..n)
        .map(|_| generate_line(kind, &mut rng, 1_700_000_000_000_000_000))
        .collect()
}

fn loghub_lines(system: &str) -> Vec<String> {
    let path = format!(
        "{}/../../shared/data/loghub/{system}_2k.log",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // 2k lines, repeated to 20k so a round lasts long enough to time.
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.iter().cycle().take(20_000).cloned().collect()
}

/// The `config.patterns` of a shipped loghub pipeline.
fn loghub_patterns(system: &str) -> serde_json::Value {
    let path = format!(
        "{}/../pipelines/loghub/{system}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let config = &doc["transforms"]["parse"]["config"];
    serde_json::to_value(config).unwrap()
}

fn batches(lines: &[String]) -> Vec<Vec<Event>> {
    lines
        .chunks(1024)
        .map(|c| c.iter().map(|l| Event::new(l.as_str())).collect())
        .collect()
}

fn bench(engine: &PluginEngine, name: &str, lines: &[String], config: serde_json::Value) {
    if std::env::var("GROK_BENCH_ONLY").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    let bytes: usize = lines.iter().map(String::len).sum();
    let events = batches(lines);
    let packed: Vec<PackedBatch> = events
        .iter()
        .map(|b| PackedBatch::from_events(b).unwrap())
        .collect();

    let component = engine
        .compile("grok", builtin::get("grok").unwrap())
        .unwrap();
    let pre = engine.pre_instantiate("grok", &component).unwrap();
    let mut wasm = TransformPlugin::new(
        engine.clone(),
        "grok",
        pre,
        config.to_string(),
        TransformLimits::default(),
        Grants::default(),
    )
    .unwrap();
    let mut native = testing::configure::<Grok>(config).unwrap();
    // Every line parses natively too (checked once, outside the timing).
    for batch in &events {
        let out = testing::process(&mut native, batch.clone()).expect("grok runs");
        assert!(
            out.iter().all(|e| e.error.is_none()),
            "{name}: a line failed"
        );
    }

    let mut failed = 0;
    let mut run_wasm = |passes: usize| {
        let inputs: Vec<Vec<PackedBatch>> = (0..passes).map(|_| packed.clone()).collect();
        let started = CpuClock::start();
        for input in inputs {
            for batch in input {
                let out = wasm.process(batch).expect("grok runs");
                failed += out.errors.len();
            }
        }
        started.secs() / passes as f64
    };
    let mut run_native = |passes: usize| {
        let started = CpuClock::start();
        for _ in 0..passes {
            for batch in &packed {
                let out = testing::process_packed(&mut native, batch).expect("grok runs");
                std::hint::black_box(out);
            }
        }
        started.secs() / passes as f64
    };
    // Enough passes per round for a precise CPU clock (it ticks every few ms).
    let passes = |secs_per_pass: f64| ((ROUND_SECS / secs_per_pass).ceil() as usize).max(1);
    let wasm_passes = passes(wall(|| run_wasm(1)));
    let native_passes = passes(wall(|| run_native(1)));
    let (mut wasm_secs, mut native_secs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        wasm_secs.push(run_wasm(wasm_passes));
        native_secs.push(run_native(native_passes));
    }
    let (w, n) = (median(wasm_secs), median(native_secs));
    let mb = bytes as f64 / 1e6;
    println!(
        "| {name} | {} | {:.0} | {:.1} | {:.0} | {:.1} | {:.2} |",
        lines.len(),
        lines.len() as f64 / w,
        mb / w,
        lines.len() as f64 / n,
        mb / n,
        n / w
    );
    assert_eq!(failed, 0, "{name}: every line should match");
}

fn main() {
    let cache = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(Some(cache.path().to_owned())).unwrap();
    println!(
        "\n## Grok: one stage, batches of 1024, medians of {ROUNDS} rounds (thread CPU time)\n"
    );
    println!("| input | lines | Wasm events/s | Wasm MB/s | native events/s | native MB/s | Wasm ÷ native |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    bench(
        &engine,
        "COMBINEDAPACHELOG (demo access log)",
        &demo_lines(DemoKind::Apache, 20_000),
        serde_json::json!({"patterns": ["%{COMBINEDAPACHELOG}"]}),
    );
    bench(
        &engine,
        "SYSLOGLINE (demo syslog)",
        &demo_lines(DemoKind::Syslog, 20_000),
        serde_json::json!({"patterns": ["%{SYSLOGLINE}"]}),
    );
    for system in ["Apache", "Linux", "HDFS", "OpenSSH"] {
        bench(
            &engine,
            &format!("loghub {system} (pipelines/loghub)"),
            &loghub_lines(system),
            loghub_patterns(system),
        );
    }
}
