//! Foundation benchmarks: the Wasm boundary, start-up and throughput.
//!
//! `cargo bench -p sluice --bench foundation` prints one table per figure,
//! each with a baseline measured in the same run. Every figure is the median
//! of several rounds (the machine is noisy).

use sluice::config;
use sluice::plugin::transform::{describe, Grants, TransformLimits, TransformPlugin};
use sluice::plugin::{builtin, PluginEngine};
use sluice::topology;
use sluice_event::packed::PackedBatch;
use sluice_event::{Event, Fields, Value};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

const ROUNDS: usize = 7;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// A 200-byte message and 8 string fields, as the issue asks.
fn event(i: usize) -> Event {
    let mut message =
        format!("{i:08} GET /api/v1/orders/{i} HTTP/1.1 200 user=alice latency_ms=12 ");
    while message.len() < 200 {
        message.push('x');
    }
    let mut fields = Fields::with_capacity(8);
    for f in 0..8 {
        fields.push_unique(
            format!("field_{f}"),
            Value::String(format!("value-{f}-{i}")),
        );
    }
    Event {
        timestamp: 1,
        ingest_timestamp: 2,
        message,
        fields,
    }
}

fn plugin_bytes(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("SLUICE_TEST_PLUGIN_DIR"))
        .join(format!("test_plugin_{name}.wasm"));
    std::fs::read(path).expect("test plugins are built by build.rs")
}

fn boundary(engine: &PluginEngine) {
    println!("\n## Boundary cost: no-op transform, 200-byte message + 8 string fields\n");
    println!("| batch | native no-op ns/event | Wasm no-op, rows in place | ratio | Wasm no-op, owned events in guest | ratio |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let bytes = plugin_bytes("noop");
    let component = engine.compile("noop", &bytes).unwrap();
    let load = |config: &str| {
        let pre = engine.pre_instantiate("noop", &component).unwrap();
        TransformPlugin::new(
            engine.clone(),
            "noop",
            pre,
            config.into(),
            TransformLimits::default(),
            Grants::default(),
        )
        .unwrap()
    };
    let mut in_place = load("{}");
    let mut owned = load(r#"{"owned": true}"#);
    for batch_size in [1usize, 64, 1024] {
        let total = 100_000usize.max(batch_size * 50);
        let events: Vec<Vec<Event>> = (0..total / batch_size)
            .map(|b| (0..batch_size).map(|i| event(b * batch_size + i)).collect())
            .collect();
        let batches: Vec<PackedBatch> = events
            .iter()
            .map(|e| PackedBatch::from_events(e).unwrap())
            .collect();
        let mut wasm = Vec::new();
        let mut wasm_owned = Vec::new();
        let mut native = Vec::new();
        for _ in 0..ROUNDS {
            // Native baseline: the same pass-through done natively, row by
            // row into a new batch.
            let input = batches.clone();
            let started = Instant::now();
            let mut n = 0;
            for batch in input {
                let checked = std::hint::black_box(&batch).check().unwrap();
                let mut out = PackedBatch::with_capacity(checked.len(), 384);
                for row in checked.rows() {
                    out.push_row(&row).unwrap();
                }
                n += out.len();
            }
            native.push(started.elapsed().as_nanos() as f64 / n as f64);

            for (plugin, times) in [(&mut in_place, &mut wasm), (&mut owned, &mut wasm_owned)] {
                let input = batches.clone();
                let started = Instant::now();
                let mut n = 0;
                for batch in input {
                    n += plugin.process(batch).expect("noop succeeds").events.len();
                }
                times.push(started.elapsed().as_nanos() as f64 / n as f64);
            }
        }
        let (native, wasm, wasm_owned) = (median(native), median(wasm), median(wasm_owned));
        println!(
            "| {batch_size} | {native:.0} | {wasm:.0} | {:.1}× | {wasm_owned:.0} | {:.1}× |",
            wasm / native.max(1.0),
            wasm_owned / native.max(1.0)
        );
    }
}

fn startup(engine_cache: &std::path::Path) {
    println!("\n## Start-up (builtin:json)\n");
    println!("| step | median |");
    println!("|---|---:|");
    let bytes = builtin::get("json").unwrap();
    let uncached = PluginEngine::new(None).unwrap();
    let cached = PluginEngine::new(Some(engine_cache.to_owned())).unwrap();
    cached.compile("json", bytes).unwrap();
    let mut compile = Vec::new();
    let mut load = Vec::new();
    let mut instantiate = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let component = uncached.compile("json", bytes).unwrap();
        compile.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let _ = cached.compile("json", bytes).unwrap();
        load.push(t.elapsed().as_secs_f64() * 1e3);
        let pre = uncached.pre_instantiate("json", &component).unwrap();
        let mut times = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let _ = describe(&uncached, "json", &pre).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        instantiate.push(median(times));
    }
    println!(
        "| compile, uncached (`Component::new`) | {:.1} ms |",
        median(compile)
    );
    println!(
        "| compile, cached (deserialize from disk) | {:.2} ms |",
        median(load)
    );
    println!(
        "| instantiate from `InstancePre` + `describe` call | {:.0} µs |",
        median(instantiate)
    );

    // `sluice run` to the first event on stdout.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        "[sources.in]\ntype = \"stdin\"\n[transforms.p]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\n[sinks.o]\ninputs = [\"p\"]\ntype = \"console\"\n",
    )
    .unwrap();
    let mut first = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("run")
            .arg(&pipeline)
            .env("SLUICE_CACHE_DIR", engine_cache)
            .env("SLUICE_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{{\"message\":\"hello\"}}").unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        first.push(t.elapsed().as_secs_f64() * 1e3);
        drop(stdin);
        child.wait().unwrap();
    }
    println!(
        "| `sluice run` to first event out (cached) | {:.0} ms |",
        median(first)
    );
}

fn throughput(cache: &std::path::Path) {
    println!("\n## Throughput: demo → builtin:json → blackhole\n");
    println!("| pipeline | events/s | ratio to baseline |");
    println!("|---|---:|---:|");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = PluginEngine::new(Some(cache.to_owned())).unwrap();
    let events = 400_000u64;
    let dir = tempfile::tempdir().unwrap();
    let run = |transform: &str| -> f64 {
        let text = format!(
            "[sources.demo]\ntype = \"demo\"\nrate = 0\ncount = {events}\nkinds = [\"json\"]\nseed = 7\n{transform}\
             [sinks.out]\ninputs = [\"{}\"]\ntype = \"blackhole\"\n",
            if transform.is_empty() { "demo" } else { "parse" }
        );
        let path = dir.path().join("bench.toml");
        std::fs::write(&path, text).unwrap();
        let mut rates = Vec::new();
        for _ in 0..5 {
            let built = topology::build(config::load(&path, None).unwrap(), &engine).unwrap();
            let counts = built.blackhole_counts.clone();
            let (_stop, shutdown) = tokio::sync::watch::channel(false);
            let started = Instant::now();
            runtime
                .block_on(built.run(shutdown, Default::default()))
                .unwrap();
            let elapsed = started.elapsed();
            assert_eq!(topology::count(&counts, "out"), events);
            rates.push(events as f64 / elapsed.as_secs_f64());
        }
        median(rates)
    };
    let baseline = run("");
    let json = run("[transforms.parse]\ninputs = [\"demo\"]\nplugin = \"builtin:json\"\n");
    println!("| demo → blackhole (baseline) | {baseline:.0} | 1.00 |");
    println!(
        "| demo → builtin:json → blackhole | {json:.0} | {:.2} |",
        json / baseline
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let cache = tempfile::tempdir().unwrap();
    let engine = PluginEngine::new(Some(cache.path().to_owned())).unwrap();
    boundary(&engine);
    startup(cache.path());
    throughput(cache.path());
}
