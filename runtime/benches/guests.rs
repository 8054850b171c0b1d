//! Plugins in other languages against the Rust kv plugins, in the same run:
//! component size, cold start, and events/s at batch 1024.
//!
//! `cargo bench -p sluice --bench guests` builds each guest from source (its
//! `examples/*/build.sh`, the tools from `scripts/ensure-tool`) and the Rust
//! example `examples/rust-kv-parser` for wasm32-wasip2, then prints one
//! table. Every figure is the median of several rounds, taken round-robin
//! across the plugins. Arguments keep only
//! the rows whose name contains one of them (`-- python`, `-- C Rust`).
//!
//! - Cold start: `Component::new` with no cache (compile), then instantiate
//!   and `configure` (what the host does for a new stage); 3 rounds for a
//!   component over 1 MiB. Beside it, loading the compiled code from the
//!   on-disk cache, which is what every start after the first does.
//! - Throughput: `TransformPlugin::process` on batches of 1024, one core,
//!   per wall-clock second and per second on a CPU (the calling thread's
//!   run time from /proc, which discounts other processes on a busy
//!   machine), and that rate over the Rust example's, round by round.
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
use wasmtime::component::Component;

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

/// Nanoseconds this thread has run on a CPU (Linux), so that other
/// processes sharing the machine do not count; wall time elsewhere.
fn on_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

#[derive(Default)]
struct Figures {
    compile_ms: Vec<f64>,
    /// Loading the compiled code from the on-disk cache instead.
    cached_ms: Vec<f64>,
    instantiate_ms: Vec<f64>,
    /// Events per wall-clock second.
    rates: Vec<f64>,
    /// Events per second the thread was on a CPU.
    cpu_rates: Vec<f64>,
    failed: usize,
    events: usize,
}

fn instantiate(engine: &PluginEngine, guest: &Guest, component: &Component) -> TransformPlugin {
    let pre = engine.pre_instantiate(guest.name, component).unwrap();
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

/// Every figure of every guest, measured round-robin (round 1 of each
/// guest, then round 2, ...) so that a change in the machine's load hits
/// them alike.
fn measure(guests: &[Guest]) -> Vec<Figures> {
    let uncached = PluginEngine::new(None).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cached = PluginEngine::new(Some(cache.path().to_owned())).unwrap();
    for guest in guests {
        cached.compile(guest.name, &guest.bytes).unwrap();
    }
    let mut figures: Vec<Figures> = guests.iter().map(|_| Figures::default()).collect();
    let mut plugins = Vec::new();
    for round in 0..ROUNDS {
        for (guest, f) in guests.iter().zip(&mut figures) {
            // Compiling the 18 MB Python component takes seconds: 3 rounds.
            if guest.bytes.len() > 1 << 20 && round >= 3 {
                continue;
            }
            let t = Instant::now();
            let component = uncached.compile(guest.name, &guest.bytes).unwrap();
            f.compile_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            drop(cached.compile(guest.name, &guest.bytes).unwrap());
            f.cached_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let plugin = instantiate(&uncached, guest, &component);
            f.instantiate_ms.push(t.elapsed().as_secs_f64() * 1e3);
            if round == 0 {
                plugins.push(plugin);
            }
        }
    }
    // One warm-up round (which also counts the failures), then timed ones.
    for round in 0..=ROUNDS {
        for ((guest, f), plugin) in guests.iter().zip(&mut figures).zip(&mut plugins) {
            let input = guest.batches.clone();
            let n: usize = input.iter().map(PackedBatch::len).sum();
            let (wall, cpu) = (Instant::now(), on_cpu_ns());
            for batch in input {
                let emitted = plugin.process(batch).expect("processes");
                if round == 0 {
                    f.failed += emitted.errors.len();
                    f.events += emitted.events.len();
                }
            }
            if round > 0 {
                f.rates.push(n as f64 / wall.elapsed().as_secs_f64());
                if let (Some(start), Some(end)) = (cpu, on_cpu_ns()) {
                    f.cpu_rates
                        .push(n as f64 * 1e9 / (end - start).max(1) as f64);
                }
            }
        }
    }
    figures
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
    println!("| plugin | size | compile, uncached | load, cached | instantiate + configure | cold start | input | events/s | events/s on-CPU | on-CPU rate ÷ Rust example's | to errors |");
    println!("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    let figures = measure(&guests);
    // Ratios round by round, against the Rust example when it ran.
    let baseline = guests
        .iter()
        .position(|g| g.name.contains("rust-kv-parser"))
        .map(|at| figures[at].cpu_rates.clone())
        .unwrap_or_default();
    for (guest, f) in guests.iter().zip(figures) {
        let size = guest.bytes.len() as f64;
        let size = if size >= 1e6 {
            format!("{:.1} MB", size / 1e6)
        } else {
            format!("{:.0} KB", size / 1e3)
        };
        let ratio: Vec<f64> = f
            .cpu_rates
            .iter()
            .zip(&baseline)
            .map(|(r, b)| r / b)
            .collect();
        let (compile, cached) = (median(f.compile_ms), median(f.cached_ms));
        let instantiate = median(f.instantiate_ms);
        let cpu_rate = if f.cpu_rates.is_empty() {
            f64::NAN
        } else {
            median(f.cpu_rates)
        };
        println!(
            "| {} | {size} | {compile:.1} ms | {cached:.1} ms | {instantiate:.2} ms | {:.1} ms | {} | {:.0} | {cpu_rate:.0} | {:.2} | {:.0}% |",
            guest.name,
            compile + instantiate,
            guest.input,
            median(f.rates),
            if ratio.is_empty() { f64::NAN } else { median(ratio) },
            f.failed as f64 * 100.0 / f.events.max(1) as f64
        );
    }
}
