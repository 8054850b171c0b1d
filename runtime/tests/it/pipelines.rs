//! Pipelines run end to end through the `sluice` binary, as a user runs them.

use super::{free_port, sluice, test_plugin};
use serde_json::Value as Json;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `sluice run pipeline` with `input` on stdin.
fn run_with_stdin(pipeline: &Path, input: &str) -> Output {
    let mut child = sluice()
        .args(["run"])
        .arg(pipeline)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

/// Starts `sluice run pipeline` with stdin piped and waits until its log
/// says `ready`; returns the child, its stdin, and the rest of its stderr.
fn spawn_fed(
    pipeline: &Path,
    ready: &str,
) -> (
    std::process::Child,
    std::process::ChildStdin,
    std::thread::JoinHandle<String>,
) {
    let mut child = sluice()
        .arg("run")
        .arg(pipeline)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_for_log(&mut child, ready);
    let stdin = child.stdin.take().unwrap();
    (child, stdin, stderr)
}

/// Polls `condition` every 20 ms for up to 20 s.
fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Reads the child's stderr until a line contains `needle`; the rest is
/// collected in the background and returned by the handle.
fn wait_for_log(child: &mut std::process::Child, needle: &str) -> std::thread::JoinHandle<String> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains(needle) {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("the process ended before logging {needle:?}: {seen}");
        }
        seen.push_str(&line);
    }
    std::thread::spawn(move || {
        let mut rest = seen;
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        rest
    })
}

fn json_lines(bytes: &[u8]) -> Vec<Json> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn check_fails(pipeline: &Path) -> String {
    let out = sluice().arg("check").arg(pipeline).output().unwrap();
    assert!(
        !out.status.success(),
        "check accepted {}",
        pipeline.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn straight_pipeline_keeps_input_order_and_parse_failures() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write(
        dir.path(),
        "p.toml",
        "[sources.in]\ntype = \"stdin\"\n[transforms.parse]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\n\
         [sinks.out]\ninputs = [\"parse\"]\ntype = \"console\"\nencoding = \"json\"\n",
    );
    let mut input = String::new();
    for i in 0..5000 {
        if i % 7 == 3 {
            input.push_str(&format!("broken {i}\n"));
        } else {
            input.push_str(&format!("{{\"message\":\"m{i}\",\"n\":{i}}}\n"));
        }
    }
    let out = run_with_stdin(&pipeline, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    assert_eq!(events.len(), 5000, "nothing lost");
    for (i, e) in events.iter().enumerate() {
        if i % 7 == 3 {
            assert_eq!(e["message"], format!("broken {i}"), "raw text kept");
            assert_eq!(e["fields"]["parse_error"], true);
            assert_eq!(e["fields"]["error.stage"], "parse");
            assert!(e["fields"]["error.message"]
                .as_str()
                .unwrap()
                .contains("invalid JSON"));
        } else {
            assert_eq!(e["message"], format!("m{i}"), "order kept");
            assert_eq!(e["fields"]["n"], i);
        }
    }
}

#[test]
fn a_trapping_plugin_sends_its_batch_to_errors_and_the_pipeline_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = test_plugin("panic");
    let errors = dir.path().join("errors.ndjson");
    let good = dir.path().join("good.ndjson");
    let pipeline = write(
        dir.path(),
        "p.toml",
        &format!(
            "[sources.in]\ntype = \"stdin\"\n\
             [transforms.risky]\ninputs = [\"in\"]\nplugin = \"file:{}\"\n\
             [sinks.good]\ninputs = [\"risky\"]\ntype = \"file\"\npath = \"{}\"\n\
             [sinks.dead]\ninputs = [\"risky.errors\"]\ntype = \"file\"\npath = \"{}\"\n",
            plugin.display(),
            good.display(),
            errors.display()
        ),
    );
    let (mut child, mut stdin, stderr) = spawn_fed(&pipeline, "pipelines built");
    // Each line goes in only once the one before has come out, so each is
    // its own batch however slow the machine is.
    for (line, lands_in) in [("one", &good), ("panic", &errors), ("two", &good)] {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        wait_until(|| {
            std::fs::read_to_string(lands_in)
                .is_ok_and(|t| t.contains(&format!("\"message\":\"{line}\"")))
        });
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", stderr.join().unwrap());
    let good = json_lines(&std::fs::read(good).unwrap());
    let messages: Vec<_> = good
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages, ["one", "two"]);
    let dead = json_lines(&std::fs::read(errors).unwrap());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["message"], "panic");
    let reason = dead[0]["fields"]["error.message"].as_str().unwrap();
    assert!(
        reason.starts_with("trap:") && reason.contains("asked to panic"),
        "{reason}"
    );
}

#[test]
fn config_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let src = "[sources.in]\ntype = \"stdin\"\n";
    let to_t = "[sinks.o]\ninputs = [\"t\"]\ntype = \"blackhole\"\n";
    // (file, pipeline, where the error must point, what it must name)
    let cases = [
        ("sink.toml", format!("{src}[sinks.out]\ninputs = [\"in\"]\ntype = \"console\"\nencodng = \"json\"\n"), "sink.toml:6:", "encodng"),
        (
            "plugin-config.toml",
            format!("{src}[transforms.t]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\nconfig.feild = \"x\"\n{to_t}"),
            "plugin-config.toml:6:",
            "feild",
        ),
        (
            "unknown-plugin.toml",
            format!("{src}[transforms.t]\ninputs = [\"in\"]\nplugin = \"builtin:nope\"\n{to_t}"),
            "unknown-plugin.toml:5:",
            "builtin:nope",
        ),
        (
            "bad-output.toml",
            format!("{src}[transforms.t]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\n[sinks.o]\ninputs = [\"t.nope\"]\ntype = \"blackhole\"\n"),
            "bad-output.toml:7:",
            "no output `nope`",
        ),
    ];
    for (file, text, location, named) in cases {
        let err = check_fails(&write(dir.path(), file, &text));
        assert!(
            err.contains(location) && err.contains(named),
            "{file}: {err}"
        );
    }
}

#[test]
fn every_shipped_pipeline_checks_and_passes_its_tests() {
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines")];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty());
    // One `check` of every file at once: each broken file is reported.
    let out = sluice().arg("check").args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And the inline `[[tests]]` of those that have them.
    let tested: Vec<_> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("[[tests]]"))
        .collect();
    assert!(tested.len() >= 5, "{tested:?}");
    let out = sluice().arg("test").args(&tested).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The pipeline the foundation issue states as a contract, exactly as written.
const GROK_CONTRACT: &str = r#"[sources.in]
type = "stdin"
[transforms.parse]
inputs = ["in"]
plugin = "builtin:grok"
config.patterns = ["%{COMBINEDAPACHELOG}"]
[sinks.out]
inputs = ["parse"]
type = "console"
encoding = "json"
"#;

#[test]
fn grok_contract_pipeline_captures_apache_fields_and_keeps_failures() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write(dir.path(), "that.toml", GROK_CONTRACT);
    let line = r#"83.149.9.216 - - [24/Feb/2015:23:13:42 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)""#;
    let out = run_with_stdin(
        &pipeline,
        &format!("{line}\nthis line matches nothing at all\n{line}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    assert_eq!(events.len(), 3);
    let f = &events[0]["fields"];
    assert_eq!(f["clientip"], "83.149.9.216");
    assert_eq!(f["verb"], "GET");
    assert_eq!(f["response"], "200");
    assert_eq!(f["bytes"], "203023");
    // As in Logstash legacy mode, QS captures keep their quotes.
    assert_eq!(
        f["agent"],
        "\"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)\""
    );
    assert_eq!(events[0]["message"], line);
    assert_eq!(events[1]["message"], "this line matches nothing at all");
    assert_eq!(events[1]["fields"]["parse_error"], true);
    assert!(events[1]["fields"]["error.message"]
        .as_str()
        .unwrap()
        .contains("no grok pattern matched"));
    assert_eq!(
        events[2]["fields"]["clientip"], "83.149.9.216",
        "order follows input"
    );
}

#[test]
fn grok_patterns_dir_loads_the_logstash_library_unchanged() {
    let logstash = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/grok-patterns/patterns/legacy");
    assert!(logstash.is_dir(), "{} is missing", logstash.display());
    let dir = tempfile::tempdir().unwrap();
    let pipeline = write(
        dir.path(),
        "p.toml",
        &format!(
            "[sources.in]\ntype = \"stdin\"\n[transforms.parse]\ninputs = [\"in\"]\nplugin = \"builtin:grok\"\n\
             config.patterns = [\"%{{REDISMONLOG}}\", \"%{{SYSLOGLINE}}\"]\nconfig.patterns_dir = \"{}\"\n\
             [sinks.out]\ninputs = [\"parse\"]\ntype = \"console\"\n",
            logstash.display()
        ),
    );
    let linux = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub/Linux_2k.log"),
    )
    .unwrap();
    let input = format!(
        "1402743601.123 [0 127.0.0.1:6379] \"SET\" \"k\" \"v\"\n{}\n",
        linux.lines().take(50).collect::<Vec<_>>().join("\n")
    );
    let out = run_with_stdin(&pipeline, &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    assert_eq!(events.len(), 51);
    assert_eq!(
        events[0]["fields"]["command"], "SET",
        "a name only the Logstash files define"
    );
    assert_eq!(events[0]["fields"]["client"], "127.0.0.1");
    for e in &events[1..] {
        assert!(e["fields"].get("parse_error").is_none(), "{e}");
        assert_eq!(e["fields"]["logsource"], "combo");
    }
}

/// A sink that cannot write holds back the whole pipeline: the file source
/// stops reading (its checkpoint stalls far short of the file's end), and
/// once the sink drains, every line arrives in order.
#[test]
fn a_blocked_sink_backpressures_the_source_and_nothing_is_lost() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.log");
    let lines = 100_000;
    let json: String = (0..lines)
        .map(|i| format!("{{\"message\":\"line {i:07} {}\"}}\n", "x".repeat(80)))
        .collect();
    std::fs::write(&input, &json).unwrap();
    let text: String = (0..lines)
        .map(|i| format!("line {i:07} {}\n", "x".repeat(80)))
        .collect();
    let data = dir.path().join("data");
    let pipeline = write(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}\"\n[sources.in]\ntype = \"file\"\ninclude = [\"{}\"]\nread_from = \"beginning\"\n\
             [transforms.parse]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\n\
             [sinks.out]\ninputs = [\"parse\"]\ntype = \"console\"\nencoding = \"text\"\n",
            data.display(),
            input.display()
        ),
    );
    // Nobody reads stdout yet: the console sink blocks once the pipe is full.
    let mut child = sluice()
        .arg("run")
        .arg(&pipeline)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let checkpoint = data.join("checkpoints/in.json");
    let offset = std::fs::read_to_string(&checkpoint)
        .ok()
        .and_then(|t| serde_json::from_str::<Json>(&t).ok())
        .and_then(|c| c["files"][0]["offset"].as_u64())
        .unwrap_or(0);
    assert!(
        offset < json.len() as u64 / 2,
        "the source read {offset} of {} bytes while the sink was blocked",
        json.len()
    );
    // Drain: every line arrives, in order.
    let mut stdout = child.stdout.take().unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while out.iter().filter(|&&b| b == b'\n').count() < lines {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "output ended early");
        out.extend_from_slice(&buf[..n]);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let got: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    let want: Vec<&str> = text.lines().collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "lines arrived out of order or changed");
}

#[test]
fn cli_lists_builtins_with_their_describe_output_and_helps_every_command() {
    let out = sluice().args(["plugins", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Json = serde_json::from_slice(&out.stdout).unwrap();
    let grok = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plugin"] == "builtin:grok")
        .expect("grok is built in");
    assert_eq!(grok["role"], "transform");
    let keys: Vec<&str> = grok["config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"patterns") && keys.contains(&"patterns_dir"),
        "{keys:?}"
    );
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["plugin"] == "builtin:json"));
    for command in ["run", "check", "plugins"] {
        let out = sluice().args([command, "--help"]).output().unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: sluice"),
            "{command}"
        );
    }
}

#[test]
fn sluice_test_runs_inline_tests_and_reports_each_difference() {
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/quickstart.toml");
    let out = sluice().arg("test").arg(&quickstart).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let broken = std::fs::read_to_string(&quickstart)
        .unwrap()
        .replace(r#"verb = "GET""#, r#"verb = "POST""#);
    let broken = write(dir.path(), "broken.toml", &broken);
    let out = sluice().arg("test").arg(&broken).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a failing test fails the command");
    assert!(
        stdout.contains("FAILED") && stdout.contains(r#"field `verb` is "GET", expected "POST""#),
        "{stdout}"
    );
    assert!(stdout.contains("2 passed, 1 failed"), "{stdout}");

    // A test that names a source the pipeline lacks is a config error at its line.
    let bad = write(
        dir.path(),
        "bad-test.toml",
        "[sources.in]\ntype = \"stdin\"\n[sinks.o]\ninputs = [\"in\"]\ntype = \"blackhole\"\n\
         [[tests]]\nname = \"t\"\nsource = \"nope\"\ninputs = [\"x\"]\n",
    );
    let err = check_fails(&bad);
    assert!(
        err.contains("bad-test.toml:") && err.contains("no source `nope`"),
        "{err}"
    );
}

/// GET `path` from `addr` over plain HTTP/1.1; returns the whole response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn metrics_count_events_failures_and_traps_per_stage() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.display();
    let pipeline = write(
        dir.path(),
        "m.toml",
        &format!(
            "data_dir = \"{data}\"\n[api]\naddress = \"{addr}\"\n[sources.in]\ntype = \"stdin\"\n\
             [transforms.parse]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\n\
             [transforms.risky]\ninputs = [\"parse\"]\nplugin = \"file:{}\"\n\
             [sinks.out]\ninputs = [\"risky\"]\ntype = \"blackhole\"\n\
             [sinks.kept]\ninputs = [\"parse\"]\ntype = \"blackhole\"\n\
             buffer = {{ type = \"disk\", max_size = \"1MiB\" }}\n",
            test_plugin("panic").display()
        ),
    );
    let (mut child, mut stdin, stderr) = spawn_fed(&pipeline, "api listening");
    writeln!(stdin, "{{\"a\":1}}\nnot json\n{{\"b\":2}}").unwrap();
    stdin.flush().unwrap();
    // The trap must come in a batch of its own: wait until the first three are through.
    wait_until(|| {
        http_get(&addr, "/metrics")
            .contains(r#"sluice_events_in_total{pipeline="m",stage="out",kind="sink"} 3"#)
    });
    writeln!(stdin, "panic").unwrap();
    stdin.flush().unwrap();

    // Poll until the trap shows (the batch crosses two stages first).
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = http_get(&addr, "/metrics");
        if metrics.contains(r#"stage="risky",kind="transform",reason="trap"} 1"#) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("text/plain; version=0.0.4"), "{metrics}");
    for line in [
        r#"sluice_events_out_total{pipeline="m",stage="in",kind="source"} 4"#,
        r#"sluice_events_in_total{pipeline="m",stage="parse",kind="transform"} 4"#,
        r#"sluice_events_errors_total{pipeline="m",stage="parse",kind="transform"} 2"#,
        r#"sluice_plugin_failures_total{pipeline="m",stage="risky",kind="transform",reason="trap"} 1"#,
        r#"sluice_events_errors_total{pipeline="m",stage="risky",kind="transform"} 1"#,
        r#"sluice_circuit_state{pipeline="m",stage="risky",kind="transform"} 0"#,
        r#"sluice_events_in_total{pipeline="m",stage="out",kind="sink"} 4"#,
        // Counted once, as they enter the disk buffer.
        r#"sluice_events_in_total{pipeline="m",stage="kept",kind="sink"} 4"#,
        r#"sluice_batch_duration_seconds_count{pipeline="m",stage="risky",kind="transform"} 2"#,
    ] {
        assert!(metrics.contains(line), "missing {line}\n{metrics}");
    }
    assert!(http_get(&addr, "/health").contains(r#"{"status":"ok"}"#));
    assert!(http_get(&addr, "/nope").starts_with("HTTP/1.1 404"));
    drop(stdin);
    assert!(
        child.wait().unwrap().success(),
        "{}",
        stderr.join().unwrap()
    );
}

#[test]
fn buffer_verify_finds_damage_and_repair_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("buffer");
    {
        let (mut writer, _) =
            sluice_wal::Writer::open(&log, sluice_wal::Options::default()).unwrap();
        for i in 0..100 {
            writer
                .append(format!("event {i} {}", "x".repeat(200)).as_bytes())
                .unwrap();
        }
        writer.sync().unwrap();
    }
    let out = sluice()
        .args(["buffer", "verify"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a clean buffer verifies: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Flip a byte in the middle of the only segment.
    let segment = std::fs::read_dir(&log)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&segment, bytes).unwrap();

    let out = sluice()
        .args(["buffer", "verify"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(!out.status.success(), "damage is reported by the exit code");
    let report = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(report.contains("corrupt"), "{report}");

    let out = sluice()
        .args(["buffer", "repair"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sluice()
        .args(["buffer", "verify"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "repaired: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let kept = sluice_wal::Reader::open(&log, 1).unwrap().count();
    assert!(
        (95..100).contains(&kept),
        "only the damaged frame is gone: {kept} of 100 kept"
    );
}

#[test]
fn a_bad_store_table_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "store.toml",
        "[sources.in]\ntype = \"stdin\"\n[sinks.o]\ninputs = [\"in\"]\ntype = \"store\"\nindex = \"app\"\n\
         [store]\nretention = { warm_after = \"1 day\" }\n",
    );
    let err = check_fails(&bad);
    assert!(
        err.contains("store.toml:8") && err.contains("invalid duration \"1 day\""),
        "{err}"
    );
}
