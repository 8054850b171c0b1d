//! OTLP/HTTP logs from the real OpenTelemetry JS SDK (npm, through
//! `scripts/ensure-tool opentelemetry-js`), with its JSON and its protobuf
//! exporter, into an in-process server; then searched: every record is
//! there with its message, level, service, host, resource and record
//! attributes, scope, trace context and time.

use serde_json::Value as Json;
mod common;

use common::{encode, ensure_tool, request, start, Server};
use std::path::Path;

fn search(s: &Server, index: &str, q: &str, limit: usize) -> Json {
    let target = format!(
        "/api/v1/search?index={index}&q={}&from=2025-01-01T00:00:00Z&limit={limit}",
        encode(q)
    );
    let (status, _, body) = request(s.addr, "GET", &target, "text/plain", b"");
    let json: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{q}: {json}");
    json
}

fn total(s: &Server, index: &str, q: &str) -> u64 {
    search(s, index, q, 1)["total"].as_u64().unwrap()
}

const BASE_MS: i64 = 1_763_798_400_000; // as in otlp-client.js
const LEVELS: [&str; 5] = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

#[test]
fn the_opentelemetry_js_sdk_exports_json_and_protobuf_logs() {
    let Some(sdk) = ensure_tool("opentelemetry-js") else {
        return;
    };
    let s = start();
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub/OpenSSH_2k.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let n = lines.len() as u64;
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp-client.js");
    for (encoding, index) in [("json", "otel"), ("protobuf", "proto")] {
        // The JSON exporter posts to the default index; the protobuf one
        // names its own in the resource attribute `sluice.index`.
        let mut node = std::process::Command::new("node");
        node.arg(&client)
            .arg(format!("http://{}/v1/logs", s.addr))
            .arg(&log)
            .arg(encoding)
            .env("NODE_PATH", sdk.join("node_modules"));
        if index != "otel" {
            node.env("SLUICE_INDEX", index);
        }
        let out = node.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{encoding}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), (n + 1).to_string(), "{encoding}: exported");

        let env = format!("deployment.environment:{encoding}");
        assert_eq!(total(&s, index, &env), n + 1, "{encoding}");
        assert_eq!(
            total(
                &s,
                index,
                &format!("{env} AND service:checkout AND host:web-7")
            ),
            n + 1
        );
        assert_eq!(
            total(&s, index, &format!("{env} AND scope.name:shop.cart")),
            n + 1
        );
        // Levels, from the severity numbers.
        for (k, level) in LEVELS.iter().enumerate() {
            let want = (0..lines.len()).filter(|i| i % LEVELS.len() == k).count() as u64
                + u64::from(*level == "INFO");
            assert_eq!(
                total(&s, index, &format!("{env} AND level:{level}")),
                want,
                "{encoding} {level}"
            );
        }
        // The message is the line: a phrase counts as in the file.
        let failed = lines
            .iter()
            .filter(|l| l.contains("Failed password"))
            .count() as u64;
        assert!(failed > 0);
        assert_eq!(
            total(&s, index, &format!("{env} AND \"Failed password\"")),
            failed
        );
        // Nested attributes as dotted names, typed.
        let status_203 = (0..lines.len()).filter(|i| i % 4 == 3).count() as u64;
        assert_eq!(
            total(&s, index, &format!("{env} AND http.status:203")),
            status_203
        );
        assert_eq!(
            total(&s, index, &format!("{env} AND http.status:>=202")),
            (0..lines.len()).filter(|i| i % 4 >= 2).count() as u64
        );
        // Trace context on every 10th record.
        assert_eq!(
            total(&s, index, &format!("{env} AND _exists_:trace_id")),
            (0..lines.len()).filter(|i| i % 10 == 0).count() as u64
        );

        // One record in full: line 1230.
        let i = 1230;
        let hit = &search(&s, index, &format!("{env} AND line.number:{i}"), 5)["hits"];
        assert_eq!(hit.as_array().unwrap().len(), 1, "{hit}");
        let hit = &hit[0];
        assert_eq!(hit["message"], lines[i], "{hit}");
        assert_eq!(
            hit["timestamp"],
            sluice_event::format_rfc3339((BASE_MS + i as i64) * 1_000_000)
        );
        let fields = &hit["fields"];
        assert_eq!(fields["level"], LEVELS[i % LEVELS.len()]);
        assert_eq!(fields["service"], "checkout");
        assert_eq!(fields["service.version"], "2.4.1");
        assert_eq!(fields["scope.version"], "1.2.3");
        assert_eq!(fields["trace_id"], format!("{:032x}", i + 1), "{hit}");
        assert_eq!(fields["span_id"], "aaaaaaaaaaaaaaa0");
        assert_eq!(fields["http.method"], "GET");
        assert_eq!(fields["tags"], r#"["a","b"]"#);
        assert_eq!(fields["ratio"], 0.5);
        assert_eq!(fields["cached"], true);

        // A map body is its JSON text.
        let hit = &search(&s, index, &format!("{env} AND kind:structured"), 5)["hits"][0];
        let body: Json = serde_json::from_str(hit["message"].as_str().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"order": "A-17", "amount": 12.5}));
    }
}

/// The answers a client reads: an empty response in its encoding, and a
/// `google.rpc.Status` (protobuf) or `{"error"}` (JSON) naming what is wrong.
#[test]
fn answers_and_errors_follow_the_request_encoding() {
    let s = start();
    let (status, content_type, body) = request(
        s.addr,
        "POST",
        "/v1/logs",
        "application/json",
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hello otlp"}}]}]}]}"#,
    );
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(body, b"{}");
    assert_eq!(total(&s, "otel", "\"hello otlp\""), 1);

    let (status, content_type, body) =
        request(s.addr, "POST", "/v1/logs", "application/x-protobuf", b"");
    assert_eq!(
        (status, content_type.as_str(), body.len()),
        (200, "application/x-protobuf", 0)
    );

    // A truncated protobuf body: a Status whose message gives the offset.
    let (status, content_type, body) = request(
        s.addr,
        "POST",
        "/v1/logs",
        "application/x-protobuf",
        &[0x0a, 0x05, 0x12],
    );
    assert_eq!(
        (status, content_type.as_str()),
        (400, "application/x-protobuf")
    );
    // Status { code = 3 (INVALID_ARGUMENT); message = ... }
    assert_eq!(&body[..2], &[0x08, 3]);
    let message = String::from_utf8_lossy(&body[4..]);
    assert!(
        message.contains("ExportLogsServiceRequest") && message.contains("at byte 2"),
        "{message}"
    );

    let (status, _, body) = request(
        s.addr,
        "POST",
        "/v1/logs",
        "application/json",
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":"123"}]}]}]}"#,
    );
    let error: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("resourceLogs[0].scopeLogs[0].logRecords[0].spanId"),
        "{error}"
    );
    let (status, _, _) = request(
        s.addr,
        "POST",
        "/v1/logs?index=mine",
        "application/json",
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"named index"}}]}]}]}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(total(&s, "mine", "\"named index\""), 1);
    assert_eq!(total(&s, "otel", "\"named index\""), 0);
    assert_eq!(
        request(
            s.addr,
            "POST",
            "/v1/logs?index=Bad%20Name",
            "application/json",
            b"{}"
        )
        .0,
        400
    );
    assert_eq!(
        request(s.addr, "POST", "/v1/logs", "text/plain", b"x").0,
        415
    );
    assert_eq!(
        request(s.addr, "GET", "/v1/logs", "application/json", b"").0,
        405
    );
}
