//! Hot reload through the `sluice` binary: a stage's plugin swapped every
//! 200 ms under load loses and duplicates nothing; invalid changes are
//! refused; a changed topology restarts the pipeline without loss.

use super::run_logged as start;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// file → json → enrich (version = `version`) → file.
fn pipeline_text(dir: &Path, version: usize, extra: &str) -> String {
    format!(
        r#"
data_dir = "{dir}/data"
[sources.in]
type = "file"
include = ["{dir}/input/*.log"]
poll_interval_ms = 20
[transforms.parse]
inputs = ["in"]
plugin = "builtin:json"
[transforms.tag]
inputs = ["parse"]
plugin = "builtin:enrich"
config.fields = {{ version = "v{version}" }}
{extra}
[sinks.out]
inputs = ["tag"]
type = "file"
path = "{dir}/out.ndjson"
"#,
        dir = dir.display()
    )
}

/// Replaces the pipeline file the way editors do: write aside, rename over.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// (n, version) of each output line, in order.
fn output(out: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let e: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let f = &e["fields"];
            (
                f["n"].as_u64().unwrap(),
                f["version"].as_str().unwrap_or("none").to_owned(),
            )
        })
        .collect()
}

fn wait_for(what: &str, log: &Path, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn terminate(mut child: Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pauses the log reports, in microseconds.
fn pauses(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
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
        .collect()
}

#[test]
fn swapping_a_plugin_every_200ms_under_load_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    std::fs::create_dir(d.join("input")).unwrap();
    let pipeline = d.join("pipeline.toml");
    std::fs::write(&pipeline, pipeline_text(&d, 0, "")).unwrap();
    let log = d.join("sluice.log");
    let out = d.join("out.ndjson");
    let child = start(&pipeline, &log);

    // 20,000 events/s for 30 s.
    const SECONDS: u64 = 30;
    const RATE: u64 = 20_000;
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
            let due = Duration::from_millis(20 * (tick + 1));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    });
    let mut version = 0;
    while !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(200));
        version += 1;
        replace(&pipeline, &pipeline_text(&d, version, ""));
    }
    writer.join().unwrap();
    let total = (SECONDS * RATE) as usize;
    wait_for("every event", &log, || output(&out).len() >= total);
    terminate(child);

    let lines = output(&out);
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for (n, _) in &lines {
        *seen.entry(*n).or_default() += 1;
    }
    let lost = (0..SECONDS * RATE)
        .filter(|n| !seen.contains_key(n))
        .count();
    let duplicated: u32 = seen.values().map(|c| c - 1).sum();
    assert_eq!((lost, duplicated), (0, 0), "lost, duplicated");
    // Each event went through exactly one version, and versions only move forward.
    let versions: Vec<u64> = lines
        .iter()
        .map(|(_, v)| v.trim_start_matches('v').parse().unwrap())
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] <= w[1]),
        "a version went back"
    );
    let swaps = pauses(&log);
    let distinct = versions.last().unwrap() - versions[0] + 1;
    assert!(
        swaps.len() >= version / 2 && distinct >= 20,
        "{} swaps for {version} changes; {distinct} versions seen",
        swaps.len()
    );
    eprintln!(
        "reload under {RATE} events/s for {SECONDS} s: {version} changes, {} swaps, {total} events, 0 lost, 0 duplicated; longest pause {} µs",
        swaps.len(),
        swaps.iter().max().unwrap()
    );
}

#[test]
fn an_invalid_change_is_refused_and_a_new_topology_restarts_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    std::fs::create_dir(d.join("input")).unwrap();
    let pipeline = d.join("pipeline.toml");
    std::fs::write(&pipeline, pipeline_text(&d, 1, "")).unwrap();
    let log = d.join("sluice.log");
    let out = d.join("out.ndjson");
    let input = d.join("input/app.log");
    let append = |from: u64, to: u64| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&input)
            .unwrap();
        for n in from..to {
            writeln!(f, "{{\"n\":{n}}}").unwrap();
        }
    };
    append(0, 100);
    let child = start(&pipeline, &log);
    wait_for("the first events", &log, || output(&out).len() == 100);

    // A plugin that refuses its config: refused, the old version goes on.
    replace(&pipeline, &pipeline_text(&d, 2, "config.bogus = 1"));
    wait_for("the refusal", &log, || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("reload refused")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("pipeline.toml") && text.contains("bogus"),
        "{text}"
    );
    append(100, 200);
    wait_for("events after the refusal", &log, || {
        output(&out).len() == 200
    });
    assert!(output(&out)[100..].iter().all(|(_, v)| v == "v1"));

    // SIGHUP with an unchanged file: nothing to swap.
    std::fs::write(&pipeline, pipeline_text(&d, 1, "")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status();
    wait_for("the SIGHUP reload", &log, || {
        std::fs::read_to_string(&log).unwrap().contains("SIGHUP")
    });

    // A new sink output changes the topology: drained and restarted, the
    // source resumes from its checkpoint.
    let restarted = pipeline_text(&d, 3, "").replace(
        "[sinks.out]",
        &format!("[sinks.copy]\ninputs = [\"tag\"]\ntype = \"file\"\npath = \"{}/copy.ndjson\"\n[sinks.out]", d.display()),
    );
    replace(&pipeline, &restarted);
    wait_for("the restart", &log, || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("restarting the pipeline")
    });
    append(200, 300);
    wait_for("events after the restart", &log, || {
        output(&out).len() >= 300
    });
    terminate(child);
    let lines = output(&out);
    let numbers: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (0..300).collect::<Vec<_>>(), "each once, in order");
    assert!(lines[200..].iter().all(|(_, v)| v == "v3"));
    assert_eq!(output(&d.join("copy.ndjson")).len(), 100);
}
