//! Edge → central benchmarks (issue 7): forward throughput with the disk
//! buffer on, and the time to drain a backlog after an outage.
//!
//! `cargo bench -p sluice --bench forward [-- throughput|recovery]` (or
//! `bench/forward.sh`) prints one markdown table per figure, each with a
//! baseline measured in the same run: the same lines going `file → store`
//! in one process, no forwarding hop. Figures are medians.
//!
//! - `SLUICE_BENCH_EVENTS` (default 2000000): lines per throughput round.
//! - `SLUICE_BENCH_BACKLOG_MB` (default 1024): the backlog's size.

mod common;

use common::{free_port, loghub_lines, median, metric, sluice, stop};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 3;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let wanted = common::wanted_sections();
    let lines = loghub_lines();
    let mut direct_rate = None;
    if wanted("throughput") {
        direct_rate = Some(throughput(&lines));
    }
    if wanted("recovery") {
        recovery(&lines, direct_rate);
    }
}

/// Writes Loghub lines to `path` until `enough(lines, bytes)`; returns the
/// line count and the bytes.
fn write_lines(
    path: &Path,
    lines: &[String],
    enough: impl Fn(usize, usize) -> bool,
) -> (usize, usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut n, mut bytes) = (0, 0);
    for line in lines.iter().cycle() {
        if enough(n, bytes) {
            break;
        }
        out.write_all(line.as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
        n += 1;
        bytes += line.len() + 1;
    }
    out.flush().unwrap();
    (n, bytes)
}

/// The central side (or the direct baseline): `source` → store, with the
/// API (for `/metrics`) on `api`. Returns the pipeline file.
fn store_pipeline(dir: &Path, name: &str, api: u16, source: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
data_dir = "{dir}/{name}-data"
[api]
address = "127.0.0.1:{api}"
{source}
[sinks.store]
inputs = ["in"]
type = "store"
index = "logs"
"#,
            dir = dir.display()
        ),
    )
    .unwrap();
    path
}

fn file_source(input: &Path) -> String {
    format!(
        "[sources.in]\ntype = \"file\"\ninclude = [\"{}/*.log\"]\nread_from = \"beginning\"\n",
        input.display()
    )
}

/// The edge: file → sluice sink with a disk buffer, `/metrics` on `api`.
fn edge_pipeline(dir: &Path, input: &Path, central: u16, api: u16) -> PathBuf {
    let path = dir.join("edge.toml");
    std::fs::write(
        &path,
        format!(
            r#"
data_dir = "{dir}/edge-data"
[api]
address = "127.0.0.1:{api}"
{source}
[sinks.central]
inputs = ["in"]
type = "sluice"
address = "http://127.0.0.1:{central}"
buffer = {{ type = "disk", max_size = "4GiB" }}
"#,
            dir = dir.display(),
            source = file_source(input),
        ),
    )
    .unwrap();
    path
}

fn start(pipeline: &Path) -> Child {
    sluice()
        .arg("run")
        .arg(pipeline)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the store sink of `pipeline` has written `events`; returns
/// the rate (events/s) from the first stored event to the last, so process
/// start-up does not count.
fn wait_stored(api: u16, pipeline: &str, events: usize, label: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut first: Option<(Instant, f64)> = None;
    loop {
        let stored = metric(api, pipeline, "sluice_events_out_total", "store").unwrap_or(0.0);
        let now = Instant::now();
        if stored > 0.0 && first.is_none() {
            first = Some((now, stored));
        }
        if stored == events as f64 {
            let (t0, n0) = first.expect("seen above");
            return (stored - n0) / now.duration_since(t0).as_secs_f64().max(1e-3);
        }
        assert!(now < deadline, "{label}: timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lines from a file into the store: directly, and through an edge with a
/// disk buffer forwarding to central. Returns the direct rate (events/s).
fn throughput(lines: &[String]) -> f64 {
    let events = env_number("SLUICE_BENCH_EVENTS", 2_000_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let (_, bytes) = write_lines(&input.join("app.log"), lines, |n, _| n == events);
    let mb = bytes as f64 / 1e6;
    let (mut direct, mut forwarded) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let run = dir.path().join(format!("round-{round}"));
        std::fs::create_dir(&run).unwrap();

        let api = free_port();
        let pipeline = store_pipeline(&run, "direct", api, &file_source(&input));
        let child = start(&pipeline);
        direct.push(wait_stored(api, "direct", events, "direct"));
        stop(child);

        let (api, forward, edge_api) = (free_port(), free_port(), free_port());
        let source =
            format!("[sources.in]\ntype = \"sluice\"\naddress = \"127.0.0.1:{forward}\"\n");
        let central = start(&store_pipeline(&run, "central", api, &source));
        let edge = start(&edge_pipeline(&run, &input, forward, edge_api));
        forwarded.push(wait_stored(api, "central", events, "forward"));
        stop(edge);
        stop(central);
    }
    let (direct, forwarded) = (median(direct), median(forwarded));
    println!(
        "\n## Forward throughput: {events} Loghub lines ({mb:.0} MB) from a file into the store, first to last stored event, median of {ROUNDS}\n"
    );
    println!("| path | events/s | MB/s | ratio to baseline |");
    println!("|---|---:|---:|---:|");
    for (label, rate) in [
        ("file → store, one process (baseline)", direct),
        (
            "edge file → disk buffer → sluice sink ⇒ central sluice source → store",
            forwarded,
        ),
    ] {
        println!(
            "| {label} | {rate:.0} | {:.1} | {:.2} |",
            rate * mb / events as f64,
            rate / direct
        );
    }
    direct
}

/// Central down while the edge buffers a backlog of
/// `SLUICE_BENCH_BACKLOG_MB`; then central starts, and the time until it
/// stored everything is the drain time.
fn recovery(lines: &[String], direct_rate: Option<f64>) {
    let backlog_mb = env_number("SLUICE_BENCH_BACKLOG_MB", 1024);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let target = backlog_mb << 20;
    let (events, bytes) = write_lines(&input.join("app.log"), lines, |_, b| b >= target);
    let (api, forward, edge_api) = (free_port(), free_port(), free_port());
    let edge = start(&edge_pipeline(dir.path(), &input, forward, edge_api));
    let buffered = Instant::now();
    // The whole file is in the buffer once the buffer has taken every line.
    let deadline = Instant::now() + Duration::from_secs(3600);
    while metric(edge_api, "edge", "sluice_events_in_total", "central") != Some(events as f64) {
        assert!(Instant::now() < deadline, "backlog: timed out");
        std::thread::sleep(Duration::from_millis(100));
    }
    let buffered = buffered.elapsed();
    let buffer_bytes = metric(edge_api, "edge", "sluice_buffer_bytes", "central").unwrap_or(0.0);
    let source = format!("[sources.in]\ntype = \"sluice\"\naddress = \"127.0.0.1:{forward}\"\n");
    let central = start(&store_pipeline(dir.path(), "central", api, &source));
    let started = Instant::now();
    wait_stored(api, "central", events, "drain");
    // Central's start-up counts here: it is part of recovering.
    let drain = started.elapsed();
    stop(edge);
    stop(central);
    println!(
        "\n## Recovery: a {:.0} MB backlog ({events} Loghub lines) buffered at the edge while central is down\n",
        bytes as f64 / 1e6
    );
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| time to buffer the backlog (edge alone) | {:.1} s |",
        buffered.as_secs_f64()
    );
    println!("| disk buffer size | {:.0} MB |", buffer_bytes / 1e6);
    println!(
        "| time to drain it once central is back | {:.1} s ({:.0} events/s, {:.1} MB/s) |",
        drain.as_secs_f64(),
        events as f64 / drain.as_secs_f64(),
        bytes as f64 / 1e6 / drain.as_secs_f64()
    );
    if let Some(rate) = direct_rate {
        let floor = events as f64 / rate;
        println!(
            "| baseline: the same lines file → store at the measured direct rate | {floor:.1} s (drain/baseline {:.2}) |",
            drain.as_secs_f64() / floor
        );
    }
}
