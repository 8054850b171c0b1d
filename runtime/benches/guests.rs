//! Plugins in other languages against the Rust kv plugins, in the same run:
//! component size, cold start, and events/s at batch 1024.
//!
//! `cargo bench -p sluice --bench guests` builds each guest from source (its
//! `examples/*/build.sh`, the tools from `scripts/ensure-tool`) and the Rust
//! example `examples/rust-kv-parser` for wasm32-wasip2, then prints one
//! table. Every figure is the median of several rounds. Arguments keep only
//! the rows whose name contains one of them (`-- python`, `-- C Rust`).
//!
//! - Cold start: `Component::new` with no cache (compile), then instantiate
//!   and `configure` (what the host does for a new stage); 3 rounds for a
//!   component over 1 MiB.
//! - Throughput: `TransformPlugin::process` on batches of 1024, one core.
//!   The kv parsers all read Loghub's Linux_2k.log (two thirds of its
//!   lines have no pair and go to `errors`); the Python CSV parser reads
//!   OpenStack_2k.log_structured.csv rows into 11 typed columns.

use sluice::plugin::transform::{Grants, TransformLimits, TransformPlugin};
use sluice::plugin::{builtin, PluginEngine};
use sluice_event::packed::PackedBatch;
use sluice_event::Event;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const ROUNDS: usize = 5;
const BATCH: usize = 1024;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/` of this build (the bench is `target/<profile>/deps/guests-*`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo().join("target"))
}

/// Runs `examples/<example>/build.sh`; the component, or `None` (said on
/// stderr) when it cannot be built here.
fn build_guest(example: &str) -> Option<Vec<u8>> {
    let out = target_dir().join("examples").join(example);
    let output = Command::new(repo().join("examples").join(example).join("build.sh"))
        .arg(&out)
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("!!! skipping {example}: its build.sh failed");
        return None;
    }
    std::fs::read(String::from_utf8_lossy(&output.stdout).trim()).ok()
}

/// `examples/rust-kv-parser` for wasm32-wasip2, built as `runtime/build.rs`
/// builds the built-ins (same target dir and flags, so little is rebuilt).
fn build_rust_example() -> Option<Vec<u8>> {
    let wasm_dir = target_dir().join("wasm");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(repo())
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&wasm_dir)
        .args(["-p", "example-kv-parser"])
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env(
            "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
            "-C target-feature=+simd128",
        )
        .status()
        .ok()?;
    if !status.success() {
        eprintln!("!!! skipping examples/rust-kv-parser: cargo build failed");
        return None;
    }
    std::fs::read(wasm_dir.join("wasm32-wasip2/release/example_kv_parser.wasm")).ok()
}

fn loghub_lines(file: &str) -> Vec<String> {
    let path = format!(
        "{}/../../shared/data/loghub/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().map(str::to_owned).collect()
}

/// `lines`, cycled to `total`, in batches of [`BATCH`].
fn batches(lines: &[String], total: usize) -> Vec<PackedBatch> {
    let events: Vec<Event> = lines
        .iter()
        .cycle()
        .take(total)
        .map(|l| {
            let mut event = Event::new(l.as_str());
            event.fields.insert("source", "bench");
            event
        })
        .collect();
    events
        .chunks(BATCH)
        .map(|chunk| PackedBatch::from_events(chunk).unwrap())
        .collect()
}

struct Guest {
    name: &'static str,
    bytes: Vec<u8>,
    config: &'static str,
    input: &'static str,
    batches: Vec<PackedBatch>,
}

struct Figures {
    compile_ms: f64,
    instantiate_ms: f64,
    events_per_s: f64,
    failed_share: f64,
}

fn load(engine: &PluginEngine, guest: &Guest) -> TransformPlugin {
    let component = engine.compile(guest.name, &guest.bytes).unwrap();
    let pre = engine.pre_instantiate(guest.name, &component).unwrap();
    TransformPlugin::new(
        engine.clone(),
        guest.name,
        pre,
        guest.config.into(),
        TransformLimits::default(),
        Grants::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", guest.name))
}

fn measure(guest: &Guest) -> Figures {
    let uncached = PluginEngine::new(None).unwrap();
    let (mut compile, mut instantiate) = (Vec::new(), Vec::new());
    // Compiling the 18 MB Python component takes seconds: fewer rounds.
    let compile_rounds = if guest.bytes.len() > 1 << 20 {
        3
    } else {
        ROUNDS
    };
    for _ in 0..compile_rounds {
        let t = Instant::now();
        let component = uncached.compile(guest.name, &guest.bytes).unwrap();
        compile.push(t.elapsed().as_secs_f64() * 1e3);
        let pre = uncached.pre_instantiate(guest.name, &component).unwrap();
        let t = Instant::now();
        let plugin = TransformPlugin::new(
            uncached.clone(),
            guest.name,
            pre,
            guest.config.into(),
            TransformLimits::default(),
            Grants::default(),
        )
        .unwrap();
        instantiate.push(t.elapsed().as_secs_f64() * 1e3);
        drop(plugin);
    }

    let mut plugin = load(&uncached, guest);
    // One warm-up pass, then timed rounds.
    let (mut rates, mut failed, mut events) = (Vec::new(), 0, 0);
    for round in 0..=ROUNDS {
        let input = guest.batches.clone();
        let n: usize = input.iter().map(PackedBatch::len).sum();
        let t = Instant::now();
        for batch in input {
            let emitted = plugin.process(batch).expect("processes");
            if round == 0 {
                failed += emitted.errors.len();
                events += emitted.events.len();
            }
        }
        if round > 0 {
            rates.push(n as f64 / t.elapsed().as_secs_f64());
        }
    }
    Figures {
        compile_ms: median(compile),
        instantiate_ms: median(instantiate),
        events_per_s: median(rates),
        failed_share: failed as f64 / events.max(1) as f64,
    }
}

fn main() {
    let linux = loghub_lines("Linux_2k.log");
    let mut csv = loghub_lines("OpenStack_2k.log_structured.csv");
    csv.remove(0); // the header
    let kv_batches = batches(&linux, 100 * BATCH);
    let csv_batches = batches(&csv, 20 * BATCH);
    let openstack_config = r#"{"columns": ["LineId", "Logrecord", "Date", "Time", "Pid", "Level",
        "Component", "ADDR", "Content", "EventId", "EventTemplate"],
        "types": {"LineId": "integer", "Pid": "integer"}}"#;

    let mut guests = Vec::new();
    let kv = "Linux_2k.log";
    if let Some(bytes) = build_rust_example() {
        guests.push(Guest {
            name: "Rust: examples/rust-kv-parser",
            bytes,
            config: "{}",
            input: kv,
            batches: kv_batches.clone(),
        });
    }
    guests.push(Guest {
        name: "Rust: builtin:kv (fail_on_empty)",
        bytes: builtin::get("kv").expect("builtin:kv").to_vec(),
        config: r#"{"fail_on_empty": true}"#,
        input: kv,
        batches: kv_batches.clone(),
    });
    if let Some(bytes) = build_guest("c-kv-parser") {
        guests.push(Guest {
            name: "C: examples/c-kv-parser",
            bytes,
            config: "{}",
            input: kv,
            batches: kv_batches.clone(),
        });
    }
    if let Some(bytes) = build_guest("python-csv-parser") {
        guests.push(Guest {
            name: "Python: examples/python-csv-parser",
            bytes,
            config: openstack_config,
            input: "OpenStack_2k.log_structured.csv",
            batches: csv_batches,
        });
    }

    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.to_lowercase())
        .collect();
    guests
        .retain(|g| wanted.is_empty() || wanted.iter().any(|w| g.name.to_lowercase().contains(w)));

    println!("\n## Plugins in other languages: batches of {BATCH}, medians of {ROUNDS} rounds\n");
    println!("| plugin | size | compile, uncached | instantiate + configure | cold start | input | events/s | to errors |");
    println!("|---|---:|---:|---:|---:|---|---:|---:|");
    for guest in &guests {
        let f = measure(guest);
        let size = guest.bytes.len() as f64;
        let size = if size >= 1e6 {
            format!("{:.1} MB", size / 1e6)
        } else {
            format!("{:.0} KB", size / 1e3)
        };
        println!(
            "| {} | {size} | {:.1} ms | {:.2} ms | {:.1} ms | {} | {:.0} | {:.0}% |",
            guest.name,
            f.compile_ms,
            f.instantiate_ms,
            f.compile_ms + f.instantiate_ms,
            guest.input,
            f.events_per_s,
            f.failed_share * 100.0
        );
    }
}
