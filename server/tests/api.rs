//! The HTTP API over a real store, with real Loghub lines: totals equal a
//! token-level ground truth computed here, pages cover every hit once,
//! errors point at the query column.

use serde_json::Value as Json;
mod common;

use common::{encode, ensure_tool, start, Server};
use sluice_server::ServerOptions;
use std::path::Path;

/// One HTTP/1.1 request; the status and the body as JSON.
fn request(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Json) {
    let (status, _, body) = common::request(addr, method, target, content_type, body);
    (status, serde_json::from_slice(&body).unwrap_or(Json::Null))
}

fn search(s: &Server, index: &str, q: &str, extra: &str) -> (u16, Json) {
    let target = format!("/api/v1/search?index={index}&q={}{extra}", encode(q));
    request(s.addr, "GET", &target, "text/plain", b"")
}

fn lines(system: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../shared/data/loghub/{system}_2k.log"));
    String::from_utf8_lossy(&std::fs::read(&path).unwrap())
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The tokens a user would expect: runs of ASCII letters and digits, lower-cased.
fn tokens(line: &str) -> Vec<String> {
    line.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn has(line: &str, word: &str) -> bool {
    tokens(line).iter().any(|t| t == word)
}

fn has_phrase(line: &str, phrase: &str) -> bool {
    let (t, w) = (tokens(line), tokens(phrase));
    t.windows(w.len()).any(|win| win == w.as_slice())
}

#[test]
fn totals_match_the_ground_truth_on_loghub_lines() {
    let s = start();
    let mut all = std::collections::HashMap::new();
    for system in ["Apache", "OpenSSH", "Linux"] {
        let lines = lines(system);
        let body = lines.join("\n") + "\n";
        let (status, reply) = request(
            s.addr,
            "POST",
            &format!("/api/v1/ingest?index={}", system.to_lowercase()),
            "text/plain",
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["accepted"], lines.len());
        all.insert(system.to_lowercase(), lines);
    }
    type Pred = fn(&str) -> bool;
    let cases: [(&str, &str, Pred); 9] = [
        ("apache", "scoreboard", |l| has(l, "scoreboard")),
        ("apache", "\"error state\"", |l| {
            has_phrase(l, "error state")
        }),
        ("apache", "child AND NOT scoreboard", |l| {
            has(l, "child") && !has(l, "scoreboard")
        }),
        ("apache", "workerEnv OR scoreboard", |l| {
            has(l, "workerenv") || has(l, "scoreboard")
        }),
        ("openssh", "\"Failed password\"", |l| {
            has_phrase(l, "failed password")
        }),
        ("openssh", "preauth", |l| has(l, "preauth")),
        ("openssh", "\"invalid user\" AND admin", |l| {
            has_phrase(l, "invalid user") && has(l, "admin")
        }),
        ("linux", "authentication AND failure", |l| {
            has(l, "authentication") && has(l, "failure")
        }),
        ("linux", "(session OR connection) AND NOT closed", |l| {
            (has(l, "session") || has(l, "connection")) && !has(l, "closed")
        }),
    ];
    for (index, q, pred) in cases {
        let want = all[index].iter().filter(|l| pred(l)).count() as u64;
        let (status, reply) = search(&s, index, q, "&from=now-7d&to=now%2B1d&limit=1");
        assert_eq!(status, 200, "{q}: {reply}");
        assert_eq!(reply["total"], want, "{index} {q}");
        assert_eq!(reply["partial"], false);
        assert!(want == 0 || reply["hits"].as_array().unwrap().len() == 1);
    }

    // Pages of 700 cover every hit once, newest first.
    let (_, first) = search(&s, "linux", "*", "&limit=700");
    assert_eq!(first["total"], 2000);
    let mut seen = std::collections::HashSet::new();
    let mut page = first;
    loop {
        for hit in page["hits"].as_array().unwrap() {
            assert!(
                seen.insert(hit["_id"].as_str().unwrap().to_owned()),
                "a hit twice"
            );
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        page = search(
            &s,
            "linux",
            "*",
            &format!("&limit=700&cursor={}", encode(cursor)),
        )
        .1;
    }
    assert_eq!(seen.len(), 2000);

    // Searchable at once, and an aggregation pipe.
    let (status, _) = request(
        s.addr,
        "POST",
        "/api/v1/ingest?index=linux",
        "application/x-ndjson",
        b"{\"message\":\"probe zq42\",\"level\":\"ERROR\"}\n",
    );
    assert_eq!(status, 200);
    assert_eq!(search(&s, "linux", "zq42", "").1["total"], 1);
    let (status, agg) = search(&s, "linux", "zq42 | stats count() by level", "");
    assert_eq!(status, 200, "{agg}");
    assert_eq!(agg["matched"], 1);
}

#[test]
fn errors_name_what_is_wrong() {
    let s = common::start_with(|_| ServerOptions {
        max_body_bytes: 1024,
        ..ServerOptions::default()
    });
    let (status, reply) = search(&s, "app", "level:ERROR AND (", "");
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["column"], 18, "{reply}");
    let (status, reply) = search(&s, "app", "x | stats bogus()", "");
    assert_eq!(status, 400, "{reply}");
    assert!(reply["column"].as_u64().is_some(), "{reply}");
    assert_eq!(search(&s, "Bad/Name", "x", "").0, 400);
    assert_eq!(search(&s, "app", "x", "&from=yesterday").0, 400);
    assert_eq!(search(&s, "app", "x", "&limit=many").0, 400);
    let (status, _) = search(&s, "nothing_here", "x", "");
    assert!(status == 404 || status == 200, "{status}");
    assert_eq!(
        request(
            s.addr,
            "POST",
            "/api/v1/ingest?index=app",
            "text/plain",
            &[b'x'; 4096]
        )
        .0,
        413
    );
    assert_eq!(
        request(s.addr, "POST", "/api/v1/ingest", "text/plain", b"x\n").0,
        400
    );
    assert_eq!(
        request(s.addr, "GET", "/api/v1/ingest?index=app", "text/plain", b"").0,
        405
    );
    assert_eq!(request(s.addr, "GET", "/nope", "text/plain", b"").0, 404);
    assert_eq!(request(s.addr, "GET", "/health", "text/plain", b"").0, 200);
}

#[test]
fn context_gives_the_lines_around_a_hit_from_the_same_source() {
    let s = start();
    let body: String = (0..50)
        .map(|i| format!("{{\"message\":\"line {i}\",\"source\":\"a.log\",\"timestamp\":\"2024-05-01T00:00:{:02}Z\"}}\n", i % 60))
        .collect();
    assert_eq!(
        request(
            s.addr,
            "POST",
            "/api/v1/ingest?index=ctx",
            "application/x-ndjson",
            body.as_bytes()
        )
        .0,
        200
    );
    let (_, found) = search(&s, "ctx", "\"line 20\"", "");
    let id = found["hits"][0]["_id"].as_str().unwrap().to_owned();
    let (status, ctx) = request(
        s.addr,
        "GET",
        &format!("/api/v1/context/{}?index=ctx&before=2&after=2", encode(&id)),
        "text/plain",
        b"",
    );
    assert_eq!(status, 200, "{ctx}");
    let messages = |key: &str| -> Vec<String> {
        ctx[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["message"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(messages("before"), ["line 18", "line 19"]);
    assert_eq!(ctx["hit"]["message"], "line 20");
    assert_eq!(messages("after"), ["line 21", "line 22"]);
}

/// The Elasticsearch `_bulk` contract in the detail clients rely on: item
/// order and shape, per-item errors, the path's default index, request-level
/// errors in Elasticsearch's shape, `@timestamp` as the event time.
#[test]
fn elasticsearch_bulk_answers_per_item_in_order() {
    let s = start();
    let (status, info) = request(s.addr, "GET", "/", "", b"");
    assert_eq!(
        (status, info["tagline"].as_str()),
        (200, Some("You Know, for Search"))
    );

    let body = concat!(
        r#"{"index":{}}"#,
        "\n",
        r#"{"@timestamp":"2026-11-20T08:00:00.250Z","message":"first one","log":{"level":"warn"}}"#,
        "\n",
        r#"{"create":{"_index":"other","_id":"x1"}}"#,
        "\n",
        r#"{"message":"second one"}"#,
        "\n",
        r#"{"delete":{"_id":"gone"}}"#,
        "\n",
        r#"{"update":{"_id":"x1"}}"#,
        "\n",
        r#"{"doc":{"message":"changed"}}"#,
        "\n",
        r#"{"index":{"_index":"BAD INDEX"}}"#,
        "\n",
        r#"{"message":"nowhere"}"#,
        "\n",
        r#"{"index":{}}"#,
        "\n",
        "not json at all\n",
    );
    let (status, answer) = request(
        s.addr,
        "POST",
        "/logs/_bulk",
        "application/x-ndjson",
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], true);
    let items = answer["items"].as_array().unwrap();
    let summary: Vec<(String, String, u64)> = items
        .iter()
        .map(|item| {
            let (action, body) = item.as_object().unwrap().iter().next().unwrap();
            (
                action.clone(),
                body["_index"].as_str().unwrap().to_owned(),
                body["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("index", "logs", 201),
        ("create", "other", 201),
        ("delete", "logs", 400),
        ("update", "logs", 400),
        ("index", "BAD INDEX", 400),
        ("index", "logs", 400),
    ];
    assert_eq!(
        summary,
        expected
            .map(|(a, i, s)| (a.to_owned(), i.to_owned(), s))
            .to_vec()
    );
    assert_eq!(items[1]["create"]["_id"], "x1");
    assert_eq!(items[1]["create"]["result"], "created");
    assert!(items[4]["index"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("BAD INDEX"));

    let (_, hit) = search(&s, "logs", "\"first one\" AND log.level:warn", "");
    assert_eq!(hit["total"], 1, "{hit}");
    assert_eq!(
        hit["hits"][0]["timestamp"], "2026-11-20T08:00:00.250Z",
        "{hit}"
    );
    let (_, hit) = search(&s, "other", "\"second one\" AND _id:x1", "");
    assert_eq!(hit["total"], 1, "{hit}");

    // A malformed action line fails the request, naming the line.
    let (status, error) = request(
        s.addr,
        "POST",
        "/_bulk",
        "application/x-ndjson",
        b"{\"index\":{}}\n{}\n[1,2]\n",
    );
    assert_eq!(status, 400);
    assert_eq!(error["status"], 400);
    assert!(
        error["error"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("line 3:"),
        "{error}"
    );
    // A document without an index anywhere is an item error, not a lost line.
    let (_, answer) = request(
        s.addr,
        "POST",
        "/_bulk",
        "application/x-ndjson",
        b"{\"index\":{}}\n{\"message\":\"m\"}\n",
    );
    assert_eq!(answer["items"][0]["index"]["status"], 400, "{answer}");
    // One document at a time, as `client.index` sends it.
    let (status, one) = request(
        s.addr,
        "PUT",
        "/logs/_doc/abc",
        "application/json",
        b"{\"message\":\"solo\"}",
    );
    assert_eq!((status, one["_id"].as_str()), (201, Some("abc")), "{one}");
}

/// Application events with typed fields, one per line of NDJSON.
fn app_events(n: usize) -> String {
    let services = ["web", "payments", "search"];
    let levels = ["INFO", "INFO", "WARN", "ERROR"];
    (0..n)
        .map(|i| {
            format!(
                "{{\"@timestamp\": {}, \"message\": \"request {i} done\", \"service\": \"{}\", \"level\": \"{}\", \"status\": {}, \"latency\": {}.5}}\n",
                1_767_225_600_000u64 + i as u64 * 1000,
                services[i % 3],
                levels[i % 4],
                200 + (i % 2) * 300,
                i
            )
        })
        .collect()
}

fn ingest_app_events(s: &Server, n: usize) {
    let (status, reply) = request(
        s.addr,
        "POST",
        "/api/v1/ingest?index=app",
        "application/x-ndjson",
        app_events(n).as_bytes(),
    );
    assert_eq!(status, 200, "{reply}");
}

/// Runs the pinned tool's python on `script`; `None` (skipped) only when the tool cannot
/// be installed outside CI.
fn python(tool: &str, script: &str, args: &[&str]) -> Option<String> {
    let python = ensure_tool(tool)?;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn arrow_stream_reads_into_pandas() {
    let s = start();
    ingest_app_events(&s, 30);
    let script = r#"
import json, sys, urllib.request
import pyarrow as pa
base = sys.argv[1]
def get(q):
    req = urllib.request.Request(base + q, headers={"Accept": "application/vnd.apache.arrow.stream"})
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Type"] == "application/vnd.apache.arrow.stream", r.headers
        return pa.ipc.open_stream(r.read())
reader = get("/api/v1/search?index=app&q=service:web&limit=100")
meta = {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}
df = reader.read_pandas()
agg = get("/api/v1/search?index=app&q=" + urllib.request.quote("* | stats count() by level")).read_pandas()
print(json.dumps({
    "total": meta["total"],
    "rows": len(df),
    "dtypes": {c: str(t) for c, t in df.dtypes.items()},
    "statuses": sorted(set(int(x) for x in df["status"])),
    "latency_sum": float(df["latency"].sum()),
    "first_message": df["message"].iloc[0],
    "agg": {str(r["level"]): int(r["count()"]) for _, r in agg.iterrows()},
}))
"#;
    let base = format!("http://{}", s.addr);
    let Some(out) = python("python-pyarrow", script, &[&base]) else {
        return;
    };
    let got: Json = serde_json::from_str(&out).unwrap();
    // Events 0, 3, ..., 27 are service web: 10 of them, newest first.
    assert_eq!(got["total"], "10");
    assert_eq!(got["rows"], 10);
    assert_eq!(got["dtypes"]["status"], "int64");
    assert_eq!(got["dtypes"]["latency"], "float64");
    assert_eq!(got["dtypes"]["timestamp"], "datetime64[ns, UTC]");
    assert_eq!(got["statuses"], serde_json::json!([200, 500]));
    let web_latency: f64 = (0..30).filter(|i| i % 3 == 0).map(|i| i as f64 + 0.5).sum();
    assert_eq!(got["latency_sum"], web_latency);
    assert_eq!(got["first_message"], "request 27 done");
    assert_eq!(
        got["agg"],
        serde_json::json!({"INFO": 16, "WARN": 7, "ERROR": 7})
    );
}

#[test]
fn fields_lists_types_and_top_values() {
    let s = start();
    ingest_app_events(&s, 40);
    let (status, reply) = request(s.addr, "GET", "/api/v1/fields?index=app", "", b"");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["sampled"], 40);
    let field = |name: &str| {
        reply["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {reply}"))
            .clone()
    };
    assert_eq!(field("status")["type"], "number");
    assert_eq!(field("service")["type"], "string");
    assert_eq!(field("service")["count"], 40);
    // 40 events cycling INFO, INFO, WARN, ERROR: INFO 20, WARN 10, ERROR 10.
    let top = field("level")["top"].clone();
    assert_eq!(top[0], serde_json::json!({"value": "INFO", "count": 20}));
    assert_eq!(top.as_array().unwrap().len(), 3);
    // A query narrows the sample.
    let (_, narrowed) = request(
        s.addr,
        "GET",
        "/api/v1/fields?index=app&q=level:ERROR&sample=5",
        "",
        b"",
    );
    assert_eq!(narrowed["sampled"], 5);
    assert_eq!(narrowed["total"], 10);
    let (status, bad) = request(s.addr, "GET", "/api/v1/fields?index=app&q=a:(", "", b"");
    assert_eq!(status, 400);
    assert!(bad["column"].is_number(), "{bad}");
}

#[test]
fn post_search_takes_json_and_form_bodies_and_projects_fields() {
    let s = start();
    ingest_app_events(&s, 12);
    let (status, by_json) = request(
        s.addr,
        "POST",
        "/api/v1/search",
        "application/json",
        br#"{"index": "app", "q": "level:ERROR", "limit": 2, "fields": ["status"]}"#,
    );
    assert_eq!(status, 200, "{by_json}");
    assert_eq!(by_json["total"], 3);
    let hits = by_json["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["fields"], serde_json::json!({"status": 500}));
    let (status, by_form) = request(
        s.addr,
        "POST",
        "/api/v1/search?index=app",
        "application/x-www-form-urlencoded",
        b"q=service%3Aweb+%7C+stats+count()",
    );
    assert_eq!(status, 200, "{by_form}");
    assert_eq!(by_form["rows"], serde_json::json!([[4]]));
    let (status, bad) = request(s.addr, "POST", "/api/v1/search", "application/json", b"[1]");
    assert_eq!(status, 400);
    assert!(
        bad["error"].as_str().unwrap().contains("JSON object"),
        "{bad}"
    );
}

#[test]
fn indexes_readiness_and_admin_without_pipelines() {
    let s = start();
    ingest_app_events(&s, 5);
    let (status, reply) = request(s.addr, "GET", "/api/v1/indexes", "", b"");
    assert_eq!(status, 200);
    assert_eq!(reply["indexes"][0]["name"], "app");
    assert_eq!(reply["indexes"][0]["events"], 5);
    assert_eq!(request(s.addr, "GET", "/ready", "", b"").0, 200);
    let (status, reply) = request(s.addr, "GET", "/api/v1/pipelines", "", b"");
    assert_eq!((status, reply), (200, serde_json::json!({"pipelines": []})));
    let (status, reply) = request(s.addr, "POST", "/api/v1/pipelines/x/reload", "", b"");
    assert_eq!(status, 404, "{reply}");
    assert_eq!(request(s.addr, "GET", "/api/v1/plugins", "", b"").0, 404);
}

/// Every route of the OpenAPI document is served: none answers "no such endpoint" or 405.
#[test]
fn every_documented_route_is_served() {
    let s = start();
    ingest_app_events(&s, 3);
    let doc: Json = serde_json::from_str(sluice_server::OPENAPI).unwrap();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{index}", "app")
            .replace("{id}", "1")
            .replace("{name}", "x");
        let target = if concrete.starts_with("/api/v1/") {
            format!("{concrete}?index=app")
        } else {
            concrete
        };
        for method in ops.as_object().unwrap().keys() {
            let method = method.to_ascii_uppercase();
            let (status, body) = request(s.addr, &method, &target, "application/json", b"{}");
            assert_ne!(status, 405, "{method} {target}: {body}");
            let error = body["error"].to_string();
            assert!(
                !error.contains("no such endpoint"),
                "{method} {target}: {status} {body}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, sluice_server::ROUTES.len());
    // And what is not documented is not served.
    let (status, body) = request(s.addr, "GET", "/api/v2/search", "", b"");
    assert_eq!(status, 404, "{body}");
    let (status, _) = request(s.addr, "DELETE", "/api/v1/search", "", b"");
    assert_eq!(status, 405);
}
