//! Delivery benchmarks (issue 3): the disk buffer against plain file I/O,
//! the cost of acknowledgements and disk buffers in a real pipeline, and
//! the pause a hot reload causes under load.
//!
//! `cargo bench -p sluice --bench delivery` prints one table per figure,
//! each with a baseline measured in the same run; figures are medians.
//! Real log lines come from `../shared/data/loghub`.

use sluice_event::packed::PackedBatch;
use sluice_event::Event;
use sluice_io::buffer::{self, BufferConfig, BufferKind, WhenFull};
use sluice_io::{AckTracker, Batch, StageCounters};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{free_port, loghub_lines, median, metric, percentile, sluice, stop};

const ROUNDS: usize = 5;

/// `cargo bench -p sluice --bench delivery [-- buffer|overhead|reload]`
/// runs every section, or the named ones.
fn main() {
    let wanted = common::wanted_sections();
    let lines = loghub_lines();
    if wanted("buffer") {
        disk_buffer(&lines);
    }
    if wanted("overhead") {
        overhead(&lines);
    }
    if wanted("reload") {
        reload_pause();
    }
}

/// Write-then-read through a disk buffer, against writing the same bytes
/// to a plain file (one fsync at the end) and reading them back.
fn disk_buffer(lines: &[String]) {
    let batches: Vec<PackedBatch> = lines
        .chunks(1024)
        .cycle()
        .take(200)
        .map(|chunk| {
            let events: Vec<Event> = chunk.iter().map(|l| Event::new(l.as_str())).collect();
            PackedBatch::from_events(&events).unwrap()
        })
        .collect();
    let raw: Vec<Vec<u8>> = batches
        .iter()
        .map(|b| {
            let mut bytes = Vec::new();
            b.to_bytes(&mut bytes);
            bytes
        })
        .collect();
    let total: usize = raw.iter().map(Vec::len).sum();
    let mb = total as f64 / 1e6;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut buf_write, mut buf_read, mut plain_write, mut plain_read) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        // Plain: the same bytes, written sequentially, fsynced, read back.
        let path = dir.path().join("plain");
        let started = Instant::now();
        let mut file = std::fs::File::create(&path).unwrap();
        for r in &raw {
            file.write_all(r).unwrap();
        }
        file.sync_data().unwrap();
        drop(file);
        plain_write.push(mb / started.elapsed().as_secs_f64());
        let started = Instant::now();
        let mut back = Vec::with_capacity(total);
        std::fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back.len(), total);
        plain_read.push(mb / started.elapsed().as_secs_f64());

        // The buffer: everything written and acknowledged (durable), then
        // everything read by a sink.
        let (w, r) = runtime.block_on(async {
            let config = BufferConfig {
                kind: BufferKind::Disk,
                max_size: 4 << 30,
                when_full: WhenFull::Block,
            };
            let (tx, rx) = tokio::sync::mpsc::channel(8);
            let counters = Arc::new(StageCounters::default());
            let mut started_buffer =
                buffer::start("bench", &config, dir.path().join("buffer"), rx, counters).unwrap();
            let mut tracker = AckTracker::new();
            let started = Instant::now();
            for b in &batches {
                tx.send(Batch::new(b.clone(), tracker.issue().1))
                    .await
                    .unwrap();
            }
            while tracker.poll() < batches.len() as u64 {
                tracker.wait().await;
            }
            let write = started.elapsed();
            drop(tx);
            let started = Instant::now();
            let mut events = 0;
            while let Some(batch) = started_buffer.output.recv().await {
                events += batch.len();
            }
            started_buffer.task.await.unwrap().unwrap();
            assert_eq!(events, batches.iter().map(|b| b.len()).sum::<usize>());
            (write, started.elapsed())
        });
        buf_write.push(mb / w.as_secs_f64());
        buf_read.push(mb / r.as_secs_f64());
    }
    let (bw, br, pw, pr) = (
        median(buf_write),
        median(buf_read),
        median(plain_write),
        median(plain_read),
    );
    println!("\n## Disk buffer: write then read {mb:.0} MB of Loghub lines (batches of 1024)\n");
    println!("| | write MB/s | read MB/s | write+read MB/s |");
    println!("|---|---:|---:|---:|");
    let both = |w: f64, r: f64| 1.0 / (1.0 / w + 1.0 / r);
    println!(
        "| plain file (baseline: write, fsync, read) | {pw:.0} | {pr:.0} | {:.0} |",
        both(pw, pr)
    );
    println!(
        "| disk buffer (lz4 frames, CRC32C, fsync per group, acked) | {bw:.0} | {br:.0} | {:.0} |",
        both(bw, br)
    );
    println!(
        "| ratio | {:.2}× | {:.2}× | {:.2}× |",
        bw / pw,
        br / pr,
        both(bw, br) / both(pw, pr)
    );
}

/// The `sluice` binary.
/// `file → json → file` over a prepared file, with and without
/// acknowledgements and a disk buffer: events/s from start to the last
/// event written.
fn overhead(lines: &[String]) {
    const EVENTS: usize = 400_000;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let mut text = String::new();
    for (i, line) in lines.iter().cycle().take(EVENTS).enumerate() {
        let json = serde_json::json!({ "n": i, "message": line });
        text.push_str(&json.to_string());
        text.push('\n');
    }
    std::fs::write(input.join("app.log"), &text).unwrap();
    let mb = text.len() as f64 / 1e6;

    let variants = [
        ("no acknowledgements, no buffer (baseline)", false, false),
        ("acknowledgements", true, false),
        ("no acknowledgements, disk buffer", false, true),
        ("acknowledgements, disk buffer", true, true),
    ];
    println!(
        "\n## Overhead: file → builtin:json → file, {EVENTS} Loghub lines as JSON ({mb:.0} MB)\n"
    );
    println!("| variant | events/s | MB/s | ratio to baseline |");
    println!("|---|---:|---:|---:|");
    let mut baseline = 0.0;
    for (label, acks, disk) in variants {
        let mut rates = Vec::new();
        for round in 0..ROUNDS {
            let run = dir.path().join(format!("run-{acks}-{disk}-{round}"));
            std::fs::create_dir(&run).unwrap();
            let port = free_port();
            let pipeline = run.join("pipeline.toml");
            std::fs::write(
                &pipeline,
                format!(
                    r#"
data_dir = "{run}/data"
acknowledgements = {acks}
[api]
address = "127.0.0.1:{port}"
[sources.in]
type = "file"
include = ["{input}/*.log"]
[transforms.parse]
inputs = ["in"]
plugin = "builtin:json"
[sinks.out]
inputs = ["parse", "parse.errors"]
type = "file"
path = "{run}/out.ndjson"
{buffer}
"#,
                    run = run.display(),
                    input = input.display(),
                    buffer = if disk {
                        "buffer = { type = \"disk\", max_size = \"2GiB\" }"
                    } else {
                        ""
                    },
                ),
            )
            .unwrap();
            let started = Instant::now();
            let child = sluice()
                .arg("run")
                .arg(&pipeline)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = started + Duration::from_secs(300);
            while metric(port, "pipeline", "sluice_events_out_total", "out") != Some(EVENTS as f64)
            {
                assert!(Instant::now() < deadline, "{label}: timed out");
                std::thread::sleep(Duration::from_millis(10));
            }
            rates.push(EVENTS as f64 / started.elapsed().as_secs_f64());
            stop(child);
        }
        let rate = median(rates);
        if baseline == 0.0 {
            baseline = rate;
        }
        println!(
            "| {label} | {rate:.0} | {:.1} | {:.2} |",
            rate * mb / EVENTS as f64,
            rate / baseline
        );
    }
}

/// Swaps a stage's plugin every 200 ms while 20,000 events/s flow, and
/// reports the pauses the stage logged.
fn reload_pause() {
    const SECONDS: u64 = 15;
    const RATE: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    std::fs::create_dir(d.join("input")).unwrap();
    let text = |version: u64| {
        format!(
            r#"
data_dir = "{d}/data"
[sources.in]
type = "file"
include = ["{d}/input/*.log"]
poll_interval_ms = 20
[transforms.parse]
inputs = ["in"]
plugin = "builtin:json"
[transforms.tag]
inputs = ["parse"]
plugin = "builtin:enrich"
config.fields = {{ version = "v{version}" }}
[sinks.out]
inputs = ["tag"]
type = "file"
path = "{d}/out.ndjson"
"#,
            d = d.display()
        )
    };
    let port = free_port();
    let text = |version: u64| format!("{}\n[api]\naddress = \"127.0.0.1:{port}\"\n", text(version));
    let pipeline: PathBuf = d.join("pipeline.toml");
    std::fs::write(&pipeline, text(0)).unwrap();
    let log = d.join("sluice.log");
    let child = sluice()
        .arg("run")
        .arg(&pipeline)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let input = d.join("input/app.log");
    let writer = std::thread::spawn(move || {
        let mut file = std::fs::File::create(input).unwrap();
        let started = Instant::now();
        for tick in 0..SECONDS * 50 {
            let mut text = String::new();
            for n in tick * RATE / 50..(tick + 1) * RATE / 50 {
                text.push_str(&format!("{{\"n\":{n},\"message\":\"event {n}\"}}\n"));
            }
            file.write_all(text.as_bytes()).unwrap();
            if let Some(wait) =
                Duration::from_millis(20 * (tick + 1)).checked_sub(started.elapsed())
            {
                std::thread::sleep(wait);
            }
        }
    });
    let mut version = 0;
    while !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(200));
        version += 1;
        let tmp = pipeline.with_extension("tmp");
        std::fs::write(&tmp, text(version)).unwrap();
        std::fs::rename(&tmp, &pipeline).unwrap();
    }
    writer.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let batch_sum = metric(port, "pipeline", "sluice_batch_duration_seconds_sum", "tag").unwrap();
    let batch_count = metric(
        port,
        "pipeline",
        "sluice_batch_duration_seconds_count",
        "tag",
    )
    .unwrap();
    let batch_ms = batch_sum / batch_count * 1e3;
    stop(child);
    let mut pauses: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("plugin swapped"))
        .filter_map(|l| {
            l.split("pause_us=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(!pauses.is_empty(), "no swap was logged");
    // Baseline: the same stage's mean time per batch in the same run.
    println!("\n## Reload pause: a stage's plugin swapped every 200 ms under {RATE} events/s for {SECONDS} s\n");
    println!("| | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    let (p50, p99) = (percentile(&mut pauses, 0.5), percentile(&mut pauses, 0.99));
    let max = *pauses.iter().max().unwrap();
    println!(
        "| pause per swap ({} swaps) | {:.2} ms | {:.2} ms | {:.2} ms |",
        pauses.len(),
        p50 as f64 / 1e3,
        p99 as f64 / 1e3,
        max as f64 / 1e3
    );
    println!("| baseline: the stage's mean time per batch | {batch_ms:.2} ms | | |");
    println!(
        "| ratio | {:.1}× | {:.1}× | {:.1}× |",
        p50 as f64 / 1e3 / batch_ms,
        p99 as f64 / 1e3 / batch_ms,
        max as f64 / 1e3 / batch_ms
    );
}
