//! `sluice serve` as a user runs it: ingest over HTTP, search, and every
//! acknowledged line surviving a kill -9; and the quickstart, whose `store`
//! sink feeds the index its `[api]` searches.

use super::{ensure_tool, free_port, sluice};
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn request(port: u16, method: &str, target: &str, body: &[u8]) -> Option<(u16, Json)> {
    request_as(port, method, target, "text/plain", body)
}

fn request_as(
    port: u16,
    method: &str,
    target: &str,
    content_type: &str,
    body: &[u8],
) -> Option<(u16, Json)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    stream.write_all(body).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1;
    Some((status, serde_json::from_str(body).unwrap_or(Json::Null)))
}

/// Percent-encodes a query string value.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while request(port, "GET", "/health", b"").is_none() {
        assert!(Instant::now() < deadline, "no /health");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(data: &std::path::Path, port: u16) -> Child {
    let child = sluice()
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port);
    child
}

fn total(port: u16, index: &str, q: &str) -> Json {
    count_between(port, index, q, "now-7d", "now+1d").into()
}

/// Runs a protocol client to its end; its stdout, or a failure with its
/// output.
fn run_client(command: &mut std::process::Command) -> String {
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The exact number of matches of `q` in `index` between `from` and `to`.
fn count_between(port: u16, index: &str, q: &str, from: &str, to: &str) -> u64 {
    let target = format!(
        "/api/v1/search?index={index}&q={}&from={}&to={}&limit=1",
        encode(q),
        encode(from),
        encode(to)
    );
    let (status, body) = request(port, "GET", &target, b"").unwrap();
    assert_eq!(status, 200, "{body}");
    body["total"].as_u64().unwrap()
}

#[test]
fn serve_ingests_searches_and_keeps_acknowledged_lines_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port);
    let log = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/loghub/OpenSSH_2k.log"),
    )
    .unwrap();
    let (status, reply) = request(port, "POST", "/api/v1/ingest?index=ssh", &log).unwrap();
    assert_eq!((status, reply["accepted"].as_u64()), (200, Some(2000)));
    let text = String::from_utf8_lossy(&log).to_lowercase();
    let want = text
        .lines()
        .filter(|l| l.contains("failed password"))
        .count();
    assert_eq!(total(port, "ssh", "\"Failed password\""), want);

    let lines: String = (0..3000)
        .map(|i| format!("crashprobe line {i}\n"))
        .collect();
    let (status, _) =
        request(port, "POST", "/api/v1/ingest?index=crash", lines.as_bytes()).unwrap();
    assert_eq!(status, 200);
    child.kill().unwrap(); // SIGKILL right after the answer
    child.wait().unwrap();
    let mut child = start(dir.path(), port);
    assert_eq!(total(port, "crash", "crashprobe"), 3000);
    assert_eq!(total(port, "ssh", "\"Failed password\""), want);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn quickstart_parses_demo_traffic_into_the_store_that_its_api_searches() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let quickstart = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines/quickstart.toml"),
    )
    .unwrap();
    assert!(quickstart.contains("127.0.0.1:7280"));
    let pipeline = dir.path().join("quickstart.toml");
    std::fs::write(
        &pipeline,
        quickstart.replace("127.0.0.1:7280", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut child = sluice()
        .arg("run")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg(&pipeline)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_healthy(port);

    // Demo traffic arrives parsed: the Apache lines carry grok's fields, the
    // JSON logs their service, and every event is searchable by level.
    let deadline = Instant::now() + Duration::from_secs(60);
    let search = |q: &str| {
        let target = format!(
            "/api/v1/search?index=quickstart&q={}&from=now-1h&limit=5",
            encode(q)
        );
        request(port, "GET", &target, b"").unwrap()
    };
    loop {
        let (status, body) = search("verb:GET OR verb:POST");
        if status == 200 && body["total"].as_u64().unwrap_or(0) >= 3 {
            let hit = &body["hits"][0];
            assert!(hit.to_string().contains("clientip"), "{hit}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no parsed Apache events in 60 s: {status} {body}\n{}",
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (status, stats) = search("* | stats count() by level");
    assert_eq!(status, 200, "{stats}");
    assert!(!stats["rows"].as_array().unwrap().is_empty(), "{stats}");
    let all = total(port, "quickstart", "*").as_u64().unwrap();
    let (status, _) = request(port, "GET", "/metrics", b"").unwrap();
    assert_eq!(status, 200);

    // The admin endpoints describe the running pipeline and reload it on request.
    assert_eq!(request(port, "GET", "/ready", b"").unwrap().0, 200);
    let (status, listed) = request(port, "GET", "/api/v1/pipelines", b"").unwrap();
    assert_eq!(status, 200, "{listed}");
    let mine = &listed["pipelines"][0];
    assert_eq!(
        (&mine["name"], &mine["state"]),
        (&"quickstart".into(), &"running".into())
    );
    assert!(
        mine["transforms"].to_string().contains("builtin:grok"),
        "{mine}"
    );
    let (status, reloaded) =
        request(port, "POST", "/api/v1/pipelines/quickstart/reload", b"").unwrap();
    assert_eq!(status, 200, "{reloaded}");
    assert_eq!(reloaded["pipelines"][0]["reloaded"], true);
    std::fs::write(&pipeline, "[sources.x]\ntype = \"nope\"\n").unwrap();
    let (status, refused) =
        request(port, "POST", "/api/v1/pipelines/quickstart/reload", b"").unwrap();
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("nope"),
        "{refused}"
    );
    std::fs::write(
        &pipeline,
        quickstart.replace("127.0.0.1:7280", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let (_, listed) = request(port, "GET", "/api/v1/pipelines", b"").unwrap();
    assert!(
        listed["pipelines"][0]["reloads"]["refused"]
            .as_u64()
            .unwrap()
            >= 1,
        "{listed}"
    );
    assert_eq!(
        request(port, "POST", "/api/v1/pipelines/other/reload", b"")
            .unwrap()
            .0,
        404
    );
    let (status, plugins) = request(port, "GET", "/api/v1/plugins", b"").unwrap();
    assert_eq!(status, 200, "{plugins}");
    assert!(plugins["builtin"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["plugin"] == "builtin:grok"));
    assert!(
        plugins["in_use"].to_string().contains("builtin:grok"),
        "{plugins}"
    );

    // `sluice search` reaches the same API (the only index is found by itself).
    let server = format!("http://127.0.0.1:{port}");
    let cli = |args: &[&str]| {
        sluice()
            .arg("search")
            .args(args)
            .env("SLUICE_SERVER", &server)
            .output()
            .unwrap()
    };
    let out = cli(&[
        "verb:GET OR verb:POST",
        "--since",
        "1h",
        "-n",
        "3",
        "-o",
        "ndjson",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().all(|l| l["fields"]["clientip"].is_string()),
        "{lines:?}"
    );
    let out = cli(&["* | stats count() by level", "--index", "quickstart"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("level"), "{table}");
    assert!(
        !table.contains('\x1b'),
        "piped output has no colour: {table:?}"
    );
    let out = cli(&["level:(ERROR"]);
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("column"), "{error}");

    // What the pipeline acknowledged is in `<data_dir>/store`, where
    // `sluice serve` finds it after the pipeline stops.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
    let port = free_port();
    let mut served = start(&dir.path().join("data/store"), port);
    assert!(total(port, "quickstart", "*").as_u64().unwrap() >= all);
    served.kill().unwrap();
    served.wait().unwrap();
}

/// The official Elasticsearch Python client, unchanged, against `sluice
/// serve`: it probes `GET /`, checks the product header, bulk-indexes a
/// real log gzipped through `helpers.bulk` and a single document through
/// `index`; a document for an invalid index gets its own error in the bulk
/// answer.
#[test]
fn the_elasticsearch_python_client_bulk_indexes_into_sluice() {
    let Some(python) = ensure_tool("python-elasticsearch") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port);
    let log = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/loghub/OpenSSH_2k.log");
    let script = r#"
import json, sys
from elasticsearch import Elasticsearch, helpers
es = Elasticsearch(sys.argv[1], request_timeout=30, http_compress=True)
info = es.info()
lines = [l.rstrip("\n") for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
docs = ({"_index": "es-ssh", "_source": {
            "@timestamp": "2026-11-20T10:%02d:%02d.000Z" % (i // 60 % 60, i % 60),
            "message": line, "service": {"name": "sshd"}, "log": {"level": "info"}}}
        for i, line in enumerate(lines))
ok, errors = helpers.bulk(es, docs, chunk_size=500)
bad_ok, bad = helpers.bulk(es, [{"_index": "Not/Valid", "_source": {"message": "x"}},
                               {"_index": "es-ssh", "_source": {"message": "late one"}}],
                           raise_on_error=False)
single = es.index(index="es-ssh", id="fixed-1", document={"message": "single doc", "n": 7})
print(json.dumps({"version": info["version"]["number"], "ok": ok, "errors": len(errors),
                  "bad_ok": bad_ok, "bad": [e["index"]["status"] for e in bad],
                  "single": single["result"], "lines": len(lines)}))
"#;
    let out = run_client(
        std::process::Command::new(python)
            .args(["-c", script, &format!("http://127.0.0.1:{port}")])
            .arg(&log),
    );
    let answer: Json = serde_json::from_str(&out).unwrap();
    let lines = answer["lines"].as_u64().unwrap();
    assert_eq!(lines, 2000);
    assert_eq!(
        answer["version"].as_str().unwrap().chars().next(),
        Some('8')
    );
    assert_eq!(
        (answer["ok"].as_u64(), answer["errors"].as_u64()),
        (Some(lines), Some(0))
    );
    assert_eq!(answer["bad_ok"], 1, "{answer}");
    assert_eq!(answer["bad"], serde_json::json!([400]), "{answer}");
    assert_eq!(answer["single"], "created");

    // Every document is searchable, with its `@timestamp` as the event time
    // and its nested objects as dotted fields.
    let count = |q: &str, from: &str, to: &str| count_between(port, "es-ssh", q, from, to);
    let (from, to) = ("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z");
    assert_eq!(count("service.name:sshd", from, to), lines);
    let text = std::fs::read_to_string(&log).unwrap().to_lowercase();
    let failed = text
        .lines()
        .filter(|l| l.contains("failed password"))
        .count() as u64;
    assert_eq!(count("\"failed password\"", from, to), failed);
    assert_eq!(
        count("\"single doc\" AND n:7 AND _id:fixed-1", "now-1h", "now+1h"),
        1
    );
    assert_eq!(count("\"late one\"", "now-1h", "now+1h"), 1);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// winston-loki, a Loki client from npm, pushes a real log to `sluice
/// serve` in both of its encodings (snappy-compressed protobuf, its
/// default, and JSON); its labels become fields and its entries' times the
/// event times.
#[test]
fn a_loki_client_pushes_protobuf_and_json_into_sluice() {
    let Some(modules) = ensure_tool("winston-loki") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(dir.path(), port);
    let log = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/loghub/Linux_2k.log");
    let script = r#"
const { createLogger } = require('winston');
const LokiTransport = require('winston-loki');
const fs = require('fs');
const [host, file, encoding] = process.argv.slice(1);
const transport = new LokiTransport({
  host, json: encoding === 'json', batching: true, interval: 0.5, timeout: 20000,
  labels: { app: 'linux', encoding },
  onConnectionError: (e) => { console.error('push failed:', e); process.exit(3); },
});
const logger = createLogger({ transports: [transport] });
const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
lines.forEach((line, i) => logger.info(line, { labels: { shard: String(i % 4) } }));
setTimeout(async () => {
  await transport.flush();
  console.log(lines.length);
  process.exit(0);
}, 200);
"#;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    let count = |q: &str| count_between(port, "logs", q, "now-1h", "now+1h");
    for encoding in ["protobuf", "json"] {
        let out = run_client(
            std::process::Command::new("node")
                .args(["-e", script, &format!("http://127.0.0.1:{port}")])
                .arg(&log)
                .arg(encoding)
                .env("NODE_PATH", modules.join("node_modules")),
        );
        assert_eq!(out.trim(), lines.to_string());
        assert_eq!(count(&format!("app:linux AND encoding:{encoding}")), lines);
        assert_eq!(
            count(&format!("encoding:{encoding} AND shard:3")),
            lines / 4,
            "{encoding}"
        );
        let sessions = text
            .lines()
            .filter(|l| l.contains("session opened"))
            .count() as u64;
        assert_eq!(
            count(&format!("encoding:{encoding} AND \"session opened\"")),
            sessions
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Retention configured in `[store]` (`sluice serve --config`): events
/// older than `cold_after` move to the cold directory, stay searchable with
/// exact totals (through the cache, also after a restart with the cache
/// gone), and go once past `delete_after`.
#[test]
fn store_retention_from_config_moves_old_segments_cold_and_deletes_them() {
    let dir = tempfile::tempdir().unwrap();
    let cold = dir.path().join("cold");
    let config = dir.path().join("store.toml");
    let write_config = |delete_after: &str| {
        std::fs::write(
            &config,
            format!(
                "[store]\nretention_interval = \"1s\"\ncold = {{ url = {:?} }}\n\
                 [store.indexes.old]\nretention = {{ cold_after = \"1d\"{delete_after} }}\n",
                cold.display().to_string()
            ),
        )
        .unwrap();
    };
    write_config("");
    let data = dir.path().join("data");
    let serve = |port: u16| {
        let child = sluice()
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_healthy(port);
        child
    };
    let port = free_port();
    let mut child = serve(port);
    // Three days old, and fresh: only the old index has a retention.
    let three_days_ago =
        sluice_event::format_rfc3339(sluice_event::now_ns() - 3 * 86_400 * 1_000_000_000);
    let mut bulk = String::new();
    for i in 0..1000 {
        bulk.push_str("{\"index\":{\"_index\":\"old\"}}\n");
        bulk.push_str(&format!(
            "{{\"@timestamp\":\"{three_days_ago}\",\"message\":\"aged event {i}\"}}\n"
        ));
    }
    let (status, answer) = request(port, "POST", "/_bulk", bulk.as_bytes()).unwrap();
    assert_eq!(
        (status, answer["errors"].as_bool()),
        (200, Some(false)),
        "{answer}"
    );
    let q = "/api/v1/search?index=old&q=aged&from=now-7d&limit=1";
    let total = |port| request(port, "GET", q, b"").unwrap().1["total"].as_u64();
    assert_eq!(total(port), Some(1000));

    // The in-memory segment flushes within ~10 s; retention then moves it.
    let files_in = |dir: &std::path::Path| walk(dir).into_iter().filter(|p| p.is_file()).count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while files_in(&cold) == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing moved to {}",
            cold.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(total(port), Some(1000), "cold segments are searched");
    child.kill().unwrap();
    child.wait().unwrap();
    let cache = data.join("old/cache");
    let _ = std::fs::remove_dir_all(&cache);
    let port = free_port();
    let mut child = serve(port);
    assert_eq!(
        total(port),
        Some(1000),
        "found again with the cache emptied"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // Past `delete_after`, they are gone, from the cold tier too.
    write_config(", delete_after = \"2d\"");
    let port = free_port();
    let mut child = serve(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while total(port) != Some(0) || files_in(&cold) != 0 {
        assert!(Instant::now() < deadline, "not deleted: {:?}", total(port));
        std::thread::sleep(Duration::from_millis(250));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            }
            out.push(path);
        }
    }
    out
}

/// `sluice tail` follows a server over WebSocket: only matching events arrive, as they are
/// ingested, in order.
#[test]
fn sluice_tail_prints_matching_events_as_they_arrive() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut served = start(dir.path(), port);
    // The index must exist before `tail` can find it by itself.
    request(port, "POST", "/api/v1/ingest?index=app", b"first line\n").unwrap();
    let mut tail = sluice()
        .args(["tail", "--level", "ERROR", "-o", "ndjson"])
        .env("SLUICE_SERVER", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = tail.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Keep ingesting until the session is open and the first ERROR comes through.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0;
    let first = loop {
        assert!(Instant::now() < deadline, "tail printed nothing in 30 s");
        sent += 1;
        let body = format!(
            "{{\"message\":\"ok {sent}\",\"level\":\"INFO\"}}\n{{\"message\":\"boom {sent}\",\"level\":\"ERROR\"}}\n"
        );
        ndjson(port, &body);
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(300)) {
            break line;
        }
    };
    let first: Json = serde_json::from_str(&first).unwrap();
    assert_eq!(first["fields"]["level"], "ERROR", "{first}");
    let n: u64 = first["message"].as_str().unwrap()[5..].parse().unwrap();
    // What follows arrives in order, and only the ERRORs.
    for k in 1..=3 {
        let body = format!(
            "{{\"message\":\"ok x{k}\",\"level\":\"INFO\"}}\n{{\"message\":\"later {k}\",\"level\":\"FATAL\"}}\n"
        );
        ndjson(port, &body);
    }
    let mut rest = Vec::new();
    while rest.len() < (sent - n) as usize + 3 {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("tail stopped printing");
        rest.push(serde_json::from_str::<Json>(&line).unwrap()["message"].clone());
    }
    assert_eq!(
        &rest[rest.len() - 3..],
        &["later 1", "later 2", "later 3"].map(Json::from)
    );
    assert!(
        rest.iter().all(|m| !m.as_str().unwrap().starts_with("ok")),
        "{rest:?}"
    );
    tail.kill().unwrap();
    tail.wait().unwrap();
    served.kill().unwrap();
    served.wait().unwrap();
}

fn ndjson(port: u16, body: &str) {
    let target = "/api/v1/ingest?index=app";
    let (status, reply) = request_as(
        port,
        "POST",
        target,
        "application/x-ndjson",
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{reply}");
}

/// `sluice serve --auth F --tls-cert F --tls-key F` as a user runs it, with
/// curl as the client: HTTPS only, tokens required, scopes and indexes
/// enforced; and a bad certificate stops it at start, naming the file.
#[test]
fn serve_with_tls_and_tokens_enforces_them() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "curl is missing"
        );
        eprintln!("NOTICE: curl is not installed; skipping the TLS serve test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        r#"
[[tokens]]
name = "shipper"
token = "shipper-token-0123456789"
scopes = ["ingest"]
indexes = ["app-*"]

[[tokens]]
name = "reader"
token = "reader-token-0123456789"
scopes = ["read"]
"#,
    )
    .unwrap();
    let port = free_port();
    let mut child = sluice()
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("store"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--auth")
        .arg(&tokens)
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = |path: &str| format!("https://localhost:{port}{path}");
    // The status and body of one curl call trusting only our certificate.
    let curl = |args: &[&str]| -> (u16, String) {
        let out = std::process::Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(&cert)
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
            .args(["-w", "\n%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while curl(&[url("/health").as_str()]).0 != 200 {
        assert!(Instant::now() < deadline, "no /health over https");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Plain HTTP gets no answer from the TLS listener.
    assert!(request(port, "GET", "/health", b"").is_none_or(|(status, _)| status != 200));
    let ingest = |token: &str, index: &str| {
        curl(&[
            "-H",
            format!("Authorization: Bearer {token}").as_str(),
            "-H",
            "Content-Type: text/plain",
            "--data-binary",
            "one line\nanother line\n",
            url(&format!("/api/v1/ingest?index={index}")).as_str(),
        ])
    };
    let (status, body) = curl(&[
        "-XPOST",
        "--data-binary",
        "x",
        url("/api/v1/ingest?index=app-a").as_str(),
    ]);
    assert_eq!(status, 401, "{body}");
    assert_eq!(ingest("reader-token-0123456789", "app-a").0, 403);
    let (status, body) = ingest("shipper-token-0123456789", "other");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"index\":\"other\""), "{body}");
    let (status, body) = ingest("shipper-token-0123456789", "app-a");
    assert_eq!(status, 200, "{body}");
    // Basic with the token as the password, as Filebeat sends it.
    let (status, body) = curl(&[
        "-u",
        "reader:reader-token-0123456789",
        url("/api/v1/search?index=app-a&q=line").as_str(),
    ]);
    assert_eq!(status, 200, "{body}");
    let reply: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["total"], 2, "{body}");

    // SIGHUP reloads the token file: a new token works, a removed one is
    // revoked, and a broken file keeps the tokens that were loaded.
    let search = |token: &str| {
        curl(&[
            "-H",
            format!("Authorization: Bearer {token}").as_str(),
            url("/api/v1/search?index=app-a&q=line").as_str(),
        ])
        .0
    };
    assert_eq!(search("late-token-0123456789ab"), 401);
    let hup = |expect: &dyn Fn() -> bool, what: &str| {
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !expect() {
            assert!(Instant::now() < deadline, "{what} after SIGHUP");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    std::fs::write(
        &tokens,
        "[[tokens]]\nname = \"late\"\ntoken = \"late-token-0123456789ab\"\nscopes = [\"read\"]\n",
    )
    .unwrap();
    hup(
        &|| search("late-token-0123456789ab") == 200,
        "the new token is not accepted",
    );
    assert_eq!(search("reader-token-0123456789"), 401);
    std::fs::write(&tokens, "[[tokens]]\nname = \"\"\n").unwrap();
    hup(&|| true, "");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(search("late-token-0123456789ab"), 200);
    child.kill().unwrap();
    child.wait().unwrap();

    // A key that is not PEM stops `serve` before it listens, naming the file.
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "not a key\n").unwrap();
    let out = sluice()
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("store"))
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.key"), "{stderr}");
}
