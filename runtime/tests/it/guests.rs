//! Plugins written in other languages, built from source and run through the
//! same host: `examples/c-kv-parser` (C, wit-bindgen's C output, Debian's
//! clang and wasi-libc) and `examples/python-csv-parser` (componentize-py).
//!
//! Each example's own `build.sh` builds it (the steps its README gives)
//! into `target/examples/<example>/`, where an unchanged build is skipped,
//! and its `pipeline.toml` passes its inline tests. The tools come
//! from `scripts/ensure-tool`. When one cannot be provisioned, a test fails
//! under CI (`CI=true`) and otherwise says so loudly on stderr and returns.

use super::{ensure_tool, sluice};
use serde_json::Value as Json;
use sluice::plugin::bindings::{StageState, TransformPre};
use sluice::plugin::transform::{ConfigureError, Grants, TransformLimits, TransformPlugin};
use sluice::plugin::PluginEngine;
use sluice_event::packed::PackedBatch;
use sluice_event::{Event, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

const LOGHUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/loghub");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/` of this build (the test binary is `target/<profile>/deps/it-*`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo().join("target"))
}

/// Builds `examples/<example>` with its `build.sh` once the `tools` are
/// there; the component's path, or `None` when a tool is missing.
fn build_guest(example: &str, tools: &[&str]) -> Option<PathBuf> {
    // All at once: on a fresh machine two of them are `cargo install`s of
    // several minutes each.
    let provisioned: Vec<Option<PathBuf>> = std::thread::scope(|scope| {
        let handles: Vec<_> = tools
            .iter()
            .map(|tool| scope.spawn(move || ensure_tool(tool)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    if provisioned.iter().any(Option::is_none) {
        return None;
    }
    let out = target_dir().join("examples").join(example);
    let output = Command::new(repo().join("examples").join(example).join("build.sh"))
        .arg(&out)
        .stderr(Stdio::piped())
        .output()
        .expect("runs build.sh");
    assert!(
        output.status.success(),
        "examples/{example}/build.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Runs `sluice test` on `examples/<example>/pipeline.toml`, its plugin
/// read from where this build put it.
fn assert_inline_tests_pass(example: &str, plugin: &Path) {
    let shipped = repo().join("examples").join(example).join("pipeline.toml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("plugin = \"file:"))
        .expect("the pipeline loads the example from a file");
    let text = text.replace(line, &format!("plugin = \"file:{}\"", plugin.display()));
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(&pipeline, text).unwrap();
    let out = sluice().arg("test").arg(&pipeline).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn c_kv_parser() -> Option<PathBuf> {
    build_guest(
        "c-kv-parser",
        &[
            "clang",
            "wasi-sysroot",
            "wit-bindgen",
            "wasm-tools",
            "wasi-adapter",
        ],
    )
}

fn python_csv_parser() -> Option<PathBuf> {
    build_guest("python-csv-parser", &["componentize-py"])
}

fn loghub_lines(file: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{LOGHUB}/{file}"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs a pipeline `stdin → parse (the plugin) → main.ndjson`, with
/// `parse.errors → errors.ndjson`, on `lines`; returns both files' events.
fn run_pipeline(plugin: &Path, config: &str, lines: &[String]) -> (Vec<Json>, Vec<Json>) {
    let dir = tempfile::tempdir().unwrap();
    let (main, errors) = (
        dir.path().join("main.ndjson"),
        dir.path().join("errors.ndjson"),
    );
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "[sources.in]\ntype = \"stdin\"\n\
             [transforms.parse]\ninputs = [\"in\"]\nplugin = \"file:{}\"\n{config}\n\
             [sinks.main]\ninputs = [\"parse\"]\ntype = \"file\"\npath = \"{}\"\n\
             [sinks.dead]\ninputs = [\"parse.errors\"]\ntype = \"file\"\npath = \"{}\"\n",
            plugin.display(),
            main.display(),
            errors.display()
        ),
    )
    .unwrap();
    let mut child = sluice()
        .arg("run")
        .arg(&pipeline)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |path: &Path| -> Vec<Json> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    (read(&main), read(&errors))
}

/// An engine whose compiled-code cache lives in `target/`, so the Python
/// component (18 MB, seconds to compile) is compiled once, not per run.
fn engine() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let cache = target_dir().join("examples").join("compiled");
        PluginEngine::new(Some(cache)).expect("engine")
    })
}

/// The component at `path`, compiled and linked once per test run.
fn pre(path: &Path) -> TransformPre<StageState> {
    static LINKED: Mutex<Vec<(PathBuf, TransformPre<StageState>)>> = Mutex::new(Vec::new());
    let mut linked = LINKED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, pre)) = linked.iter().find(|(p, _)| p == path) {
        return pre.clone();
    }
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(path).unwrap();
    let component = engine().compile(&name, &bytes).expect("compiles");
    let pre = engine().pre_instantiate(&name, &component).expect("links");
    linked.push((path.to_owned(), pre.clone()));
    pre
}

/// Loads a component through the library API with `config`.
fn load(path: &Path, config: &str) -> Result<TransformPlugin, ConfigureError> {
    TransformPlugin::new(
        engine().clone(),
        "parse",
        pre(path),
        config.into(),
        TransformLimits::default(),
        Grants::default(),
    )
}

/// The key a refused config names.
fn refused_key(path: &Path, config: &str) -> Option<String> {
    match load(path, config) {
        Ok(_) => panic!("config {config} was accepted"),
        Err(ConfigureError::Rejected { key, .. }) => key,
        Err(e) => panic!("config {config}: not a refusal: {e}"),
    }
}

/// The fields every failed event must carry, with its raw text kept.
fn assert_failed(event: &Json, raw: &str, reason: &str) {
    assert_eq!(event["message"], raw, "raw text kept");
    assert_eq!(event["fields"]["parse_error"], true, "{event}");
    assert_eq!(event["fields"]["error.stage"], "parse", "{event}");
    let message = event["fields"]["error.message"].as_str().unwrap();
    assert!(message.contains(reason), "{message:?} lacks {reason:?}");
}

/// What the C parser must find: words `key=value` with a non-empty key.
fn has_pair(line: &str) -> bool {
    line.split_ascii_whitespace()
        .any(|w| w.split_once('=').is_some_and(|(k, _)| !k.is_empty()))
}

#[test]
fn c_kv_parser_logic_passes_its_native_tests() {
    let Some(clang) = ensure_tool("clang") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = repo().join("examples/c-kv-parser");
    let exe = dir.path().join("native_test");
    let built = Command::new(clang)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(&exe)
        .args(["native_test.c", "kv.c", "config.c"].map(|f| src.join(f)))
        .status()
        .unwrap();
    assert!(built.success());
    let out = Command::new(&exe).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn c_kv_parser_parses_linux_auth_lines_and_sends_the_rest_to_errors() {
    let Some(plugin) = c_kv_parser() else {
        return;
    };
    assert_inline_tests_pass("c-kv-parser", &plugin);
    let lines = loghub_lines("Linux_2k.log");
    let (main, errors) = run_pipeline(&plugin, "", &lines);
    assert_eq!(main.len() + errors.len(), lines.len(), "nothing lost");
    let expected_main: Vec<&String> = lines.iter().filter(|l| has_pair(l)).collect();
    let expected_errors: Vec<&String> = lines.iter().filter(|l| !has_pair(l)).collect();
    assert!(expected_main.len() > 500 && expected_errors.len() > 500);
    // Each output in input order, with the raw text.
    let messages = |events: &[Json]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        messages(&main),
        expected_main
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        messages(&errors),
        expected_errors
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    );

    // `... authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4`
    let first = &main[0]["fields"];
    assert_eq!(first["logname"], "");
    assert_eq!(first["uid"], "0");
    assert_eq!(first["euid"], "0");
    assert_eq!(first["tty"], "NODEVssh");
    assert_eq!(first["ruser"], "");
    assert_eq!(first["rhost"], "218.188.2.4");
    assert_eq!(first["source"], "stdin", "the event's own fields are kept");
    assert!(first.get("parse_error").is_none());
    // `... check pass; user unknown`
    assert_failed(&errors[0], &lines[1], "no key=value pairs");
    for event in &errors {
        assert_eq!(event["fields"]["parse_error"], true);
    }
}

#[test]
fn c_kv_parser_takes_its_config_and_refuses_bad_keys_by_name() {
    let Some(plugin) = c_kv_parser() else {
        return;
    };
    let lines = [
        "user:alice status:200 path:\"/a b\"".to_owned(),
        "user=not-with-this-separator".to_owned(),
        "a:1 a:2 é:ü".to_owned(),
    ];
    let (main, errors) = run_pipeline(
        &plugin,
        "config.separator = \":\"\nconfig.prefix = \"kv.\"",
        &lines,
    );
    assert_eq!(main.len(), 2);
    assert_eq!(main[0]["fields"]["kv.user"], "alice");
    assert_eq!(main[0]["fields"]["kv.status"], "200");
    assert_eq!(main[0]["fields"]["kv.path"], "/a", "a word ends at a space");
    assert_eq!(main[1]["fields"]["kv.a"], "2", "the last value wins");
    assert_eq!(main[1]["fields"]["kv.é"], "ü");
    assert_failed(&errors[0], &lines[1], "no key=value pairs");

    let info = sluice::plugin::transform::describe(engine(), "parse", &pre(&plugin)).unwrap();
    let keys: Vec<&str> = info.config_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(keys, ["separator", "prefix"]);
    assert_eq!(info.outputs, ["errors"]);

    for (config, key) in [
        (r#"{"separator": "=="}"#, Some("separator")),
        (r#"{"separator": ""}"#, Some("separator")),
        (r#"{"prefix": 7}"#, Some("prefix")),
        (r#"{"seperator": ":"}"#, Some("seperator")),
        ("[]", None),
    ] {
        assert_eq!(refused_key(&plugin, config).as_deref(), key, "{config}");
    }
    assert!(load(&plugin, r#"{"separator": ":", "prefix": ""}"#).is_ok());

    // `sluice check` shows the refusal at the key's line.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("bad.toml");
    std::fs::write(
        &pipeline,
        format!(
            "[sources.in]\ntype = \"stdin\"\n[transforms.parse]\ninputs = [\"in\"]\n\
             plugin = \"file:{}\"\nconfig.separator = \"::\"\n\
             [sinks.o]\ninputs = [\"parse\"]\ntype = \"blackhole\"\n",
            plugin.display()
        ),
    )
    .unwrap();
    let out = sluice().arg("check").arg(&pipeline).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.toml:6:") && stderr.contains("separator"),
        "{stderr}"
    );
}

/// The columns of Loghub's `OpenStack_2k.log_structured.csv`.
const OPENSTACK_COLUMNS: &str = r#"config.columns = ["LineId", "Logrecord", "Date", "Time", "Pid", "Level", "Component", "ADDR", "Content", "EventId", "EventTemplate"]
config.types = { LineId = "integer", Pid = "integer" }
config.skip_header = true"#;

#[test]
fn python_csv_parser_reads_loghub_rows_and_sends_bad_lines_to_errors() {
    let Some(plugin) = python_csv_parser() else {
        return;
    };
    assert_inline_tests_pass("python-csv-parser", &plugin);
    let mut lines = loghub_lines("OpenStack_2k.log_structured.csv");
    assert_eq!(lines.len(), 2001, "a header and 2000 rows, one per line");
    let rows = lines.len() - 1;
    // Lines that are not rows of this CSV, among real ones.
    let bad = [
        (
            700,
            "2017-05-16 00:00:00.008 nova-api INFO just a log line".to_owned(),
        ),
        (
            1300,
            "1,x,2017-05-16,00:00:01,not-a-pid,INFO,c,a,m,E1,t".to_owned(),
        ),
        (1900, "7,\"an unterminated quote".to_owned()),
    ];
    for (at, line) in &bad {
        lines.insert(*at, line.clone());
    }
    let (main, errors) = run_pipeline(&plugin, OPENSTACK_COLUMNS, &lines);
    assert_eq!(main.len(), rows, "every row parsed, the header dropped");
    assert_eq!(errors.len(), bad.len());
    assert_failed(&errors[0], &bad[0].1, "expected 11 columns, found 1");
    assert_failed(
        &errors[1],
        &bad[1].1,
        "column `Pid`: `not-a-pid` is not an integer",
    );
    assert_failed(&errors[2], &bad[2].1, "malformed CSV");

    for (i, event) in main.iter().enumerate() {
        assert_eq!(
            event["fields"]["LineId"],
            i + 1,
            "order kept, integers typed"
        );
    }
    // 1,nova-api.log.1.2017-05-16_13:53:08,2017-05-16,00:00:00.008,25746,INFO,...,
    //   "10.11.10.1 ""GET /v2/.../servers/detail HTTP/1.1"" status: 200 len: 1893 time: 0.2477829",E25,...
    let first = &main[0]["fields"];
    assert_eq!(first["Pid"], 25746);
    assert_eq!(first["Level"], "INFO");
    assert_eq!(first["Component"], "nova.osapi_compute.wsgi.server");
    assert_eq!(
        first["Content"],
        "10.11.10.1 \"GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail HTTP/1.1\" \
         status: 200 len: 1893 time: 0.2477829"
    );
    assert_eq!(first["EventId"], "E25");
    assert_eq!(first["source"], "stdin", "the event's own fields are kept");
    assert_eq!(main[0]["message"], lines[1], "the raw line is kept");
}

#[test]
fn python_csv_parser_keeps_other_fields_and_refuses_bad_config_by_key() {
    let Some(plugin) = python_csv_parser() else {
        return;
    };
    let mut p = load(
        &plugin,
        r#"{"columns": ["n", "ok", "x", "source"], "delimiter": ";",
            "types": {"n": "integer", "ok": "boolean", "x": "float"}, "prefix": "csv."}"#,
    )
    .expect("configures");
    let mut event = Event::new("-3;yes;2.5;s");
    event.fields.insert("csv.source", Value::from("replaced"));
    event.fields.insert("kept", Value::Int(1));
    let batch = PackedBatch::from_events(&[event, Event::new("1;maybe;;")]).unwrap();
    let emitted = p.process(batch).expect("processes");
    let events = emitted.events.decode().unwrap();
    let fields = &events[0].fields;
    assert_eq!(fields.get("csv.n"), Some(&Value::Int(-3)));
    assert_eq!(fields.get("csv.ok"), Some(&Value::Bool(true)));
    assert_eq!(fields.get("csv.x"), Some(&Value::Float(2.5)));
    assert_eq!(fields.get("csv.source"), Some(&Value::from("s")));
    assert_eq!(fields.get("kept"), Some(&Value::Int(1)));
    assert_eq!(emitted.output_of(0), None);
    assert_eq!(emitted.output_of(1), Some("errors"));
    assert_eq!(events[1].message, "1;maybe;;");
    assert_eq!(
        emitted.errors,
        [(1, "column `ok`: `maybe` is not a boolean".to_owned())]
    );

    let info = sluice::plugin::transform::describe(engine(), "parse", &pre(&plugin)).unwrap();
    let keys: Vec<(&str, bool)> = info
        .config_keys
        .iter()
        .map(|k| (k.name.as_str(), k.required))
        .collect();
    assert_eq!(
        keys,
        [
            ("columns", true),
            ("delimiter", false),
            ("types", false),
            ("prefix", false),
            ("skip_header", false)
        ]
    );
    assert_eq!(info.outputs, ["errors"]);

    for (config, key) in [
        ("{}", Some("columns")),
        (r#"{"columns": []}"#, Some("columns")),
        (r#"{"columns": ["a", "a"]}"#, Some("columns")),
        (
            r#"{"columns": ["a"], "delimiter": "ab"}"#,
            Some("delimiter"),
        ),
        (
            r#"{"columns": ["a"], "types": {"b": "integer"}}"#,
            Some("types.b"),
        ),
        (
            r#"{"columns": ["a"], "types": {"a": "date"}}"#,
            Some("types.a"),
        ),
        (r#"{"columns": ["a"], "colour": 1}"#, Some("colour")),
        ("[1]", None),
    ] {
        assert_eq!(refused_key(&plugin, config).as_deref(), key, "{config}");
    }
}
