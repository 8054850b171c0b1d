//! Delivery across crashes: `sluice run` killed with SIGKILL again and again
//! under load must still deliver every input line at least once.

use super::free_port;
use super::run_logged as start;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The issue's contract pipeline: file → builtin:json → file, with errors
/// kept.
fn contract_pipeline(dir: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"
data_dir = "{dir}/data"
[sources.in]
type = "file"
include = ["{dir}/input/*.log"]
read_from = "beginning"
poll_interval_ms = 20
[transforms.parse]
inputs = ["in"]
plugin = "builtin:json"
[sinks.out]
inputs = ["parse", "parse.errors"]
type = "file"
path = "{dir}/out.ndjson"
"#,
        dir = dir.display()
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// (file, n) of every line of the sink's output; every line must be a
/// whole JSON object.
fn delivered(out: &Path) -> HashMap<(String, u64), u32> {
    let mut seen = HashMap::new();
    let text = std::fs::read_to_string(out).unwrap_or_default();
    for line in text.lines() {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        let fields = &event["fields"];
        let key = (
            fields["file"]
                .as_str()
                .unwrap_or_else(|| panic!("{line}"))
                .to_owned(),
            fields["n"].as_u64().unwrap_or_else(|| panic!("{line}")),
        );
        *seen.entry(key).or_insert(0) += 1;
    }
    seen
}

#[test]
fn kill_9_again_and_again_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("input")).unwrap();
    let pipeline = contract_pipeline(dir.path());
    let out = dir.path().join("out.ndjson");
    let log = dir.path().join("sluice.log");
    const FILES: [&str; 3] = ["a", "b", "c"];
    const LINES: u64 = 20_000;

    // Three files grow at about 10,000 lines/s in all while sluice is killed.
    let input = dir.path().join("input");
    let writer = std::thread::spawn(move || {
        let mut files: Vec<_> = FILES
            .iter()
            .map(|f| std::fs::File::create(input.join(format!("{f}.log"))).unwrap())
            .collect();
        for chunk in 0..LINES / 100 {
            for (name, file) in FILES.iter().zip(&mut files) {
                let mut text = String::new();
                for n in chunk * 100..(chunk + 1) * 100 {
                    text.push_str(&format!(
                        "{{\"file\":\"{name}\",\"n\":{n},\"message\":\"line {n} of {name}\"}}\n"
                    ));
                }
                file.write_all(text.as_bytes()).unwrap();
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    });

    // Kill -9 at pseudo-random moments (a fixed seed, so a failure repeats).
    let mut seed: u64 = 0x5eed;
    let mut kills = 0;
    while !writer.is_finished() || kills < 4 {
        let mut child = start(&pipeline, &log);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(150 + (seed >> 33) % 900));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    writer.join().unwrap();

    // A last run, left to catch up, then stopped.
    let mut child = start(&pipeline, &log);
    let deadline = Instant::now() + Duration::from_secs(120);
    let total = FILES.len() * LINES as usize;
    loop {
        let seen = delivered(&out);
        if seen.len() == total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {kills} kills only {} of {total} lines arrived; log:\n{}",
            seen.len(),
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let seen = delivered(&out);
    for name in FILES {
        for n in 0..LINES {
            assert!(seen.contains_key(&(name.to_owned(), n)), "{name} {n} lost");
        }
    }
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    eprintln!(
        "kill -9 x{kills}: {total} lines, all delivered; {duplicates} duplicates ({:.2}%)",
        100.0 * duplicates as f64 / total as f64
    );
}

#[test]
fn a_disk_buffer_holds_events_while_the_sink_is_down_and_across_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("input")).unwrap();
    let out = d.join("out.ndjson");
    // A directory where the sink's file goes: every write fails until it is removed.
    std::fs::create_dir(&out).unwrap();
    let mut text = String::new();
    for n in 0..5000 {
        text.push_str(&format!("{{\"file\":\"a\",\"n\":{n}}}\n"));
    }
    std::fs::write(d.join("input/a.log"), text).unwrap();
    let pipeline = d.join("buffered.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
data_dir = "{d}/data"
[sources.in]
type = "file"
include = ["{d}/input/*.log"]
[transforms.parse]
inputs = ["in"]
plugin = "builtin:json"
[sinks.out]
inputs = ["parse"]
type = "file"
path = "{out}"
buffer = {{ type = "disk", max_size = "64MiB" }}
"#,
            d = d.display(),
            out = out.display()
        ),
    )
    .unwrap();
    let log = d.join("sluice.log");
    let checkpoint = d.join("data/checkpoints/in.json");
    let mut child = start(&pipeline, &log);
    // The source's checkpoint moves although the sink writes nothing: the
    // buffer holds the events durably.
    let deadline = Instant::now() + Duration::from_secs(30);
    let end = format!(
        "\"offset\": {}",
        std::fs::metadata(d.join("input/a.log")).unwrap().len()
    );
    while !std::fs::read_to_string(&checkpoint).is_ok_and(|c| c.contains(&end)) {
        assert!(
            Instant::now() < deadline,
            "checkpoint never reached the end; log:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir(&out).unwrap();

    let mut child = start(&pipeline, &log);
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered(&out).len() < 5000 {
        assert!(
            Instant::now() < deadline,
            "log:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let order: Vec<u64> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["fields"]["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        order,
        (0..5000).collect::<Vec<_>>(),
        "each line once, in order"
    );
}

/// POSTs `body` to `addr` and returns the status line.
fn post(addr: &str, body: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn http_answers_after_the_file_sink_wrote_and_filtered_events_are_acknowledged_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let out = d.join("out.ndjson");
    let pipeline = d.join("http.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
data_dir = "{d}/data"
[sources.web]
type = "http"
address = "127.0.0.1:{port}"
path = "/logs"
[transforms.keep]
inputs = ["web"]
plugin = "builtin:filter"
config.condition = 'NOT message:noise'
[sinks.out]
inputs = ["keep"]
type = "file"
path = "{out}"
"#,
            d = d.display(),
            out = out.display()
        ),
    )
    .unwrap();
    let log = d.join("sluice.log");
    let mut child = start(&pipeline, &log);
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    // When the answer comes, the lines are in the file.
    assert!(post(&addr, "first\nsecond\n").contains("200"));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    // Everything filtered out: acknowledged all the same, nothing written.
    assert!(post(&addr, "noise\nnoise again\n").contains("200"));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    child.kill().unwrap();
    child.wait().unwrap();
}
