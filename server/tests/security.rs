//! The API's security over a real store and real sockets: tokens (401),
//! scopes and index allow-lists (403), the concurrency limit (429), body
//! limits (413), caps on a search's deadline and budget, and TLS with a
//! self-signed certificate made here and a rustls client.

use base64::Engine;
use serde_json::Value as Json;
mod common;

use common::{start_with, Server};
use sluice_server::{Auth, ServerOptions, Tls, TlsError};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SHIPPER: &str = "shipper-0123456789abcdef";
const READER: &str = "reader-0123456789abcdef";
const ROOT: &str = "root-0123456789abcdef";
const SLOW: &str = "slow-0123456789abcdef";

/// The token file of these tests; `reader` is given by digest.
fn token_file(dir: &Path) -> std::path::PathBuf {
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(READER.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = format!(
        r#"
[[tokens]]
name = "shipper"
token = "{SHIPPER}"
scopes = ["ingest"]
indexes = ["app-*", "logs"]

[[tokens]]
name = "reader"
token_sha256 = "{digest}"
scopes = ["read"]
indexes = ["app-*"]

[[tokens]]
name = "root"
token = "{ROOT}"
scopes = ["admin"]

[[tokens]]
name = "slow"
token = "{SLOW}"
scopes = ["ingest", "read"]
max_concurrency = 1
"#
    );
    let path = dir.join("tokens.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn secured() -> Server {
    start_with(|dir| ServerOptions {
        auth: Some(Arc::new(Auth::load(&token_file(dir)).unwrap())),
        ..ServerOptions::default()
    })
}

struct Reply {
    status: u16,
    head: String,
    body: Json,
    text: String,
}

fn write_request(
    stream: &mut impl Write,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: &[u8],
) {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    // Loki's JSON push is application/json; the others take NDJSON.
    let content_type = if target.starts_with("/loki/") {
        "application/json"
    } else {
        "application/x-ndjson"
    };
    let _ = write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // A server may close early (413, or a TLS listener reading plain HTTP).
    let _ = stream.write_all(body);
}

fn read_reply(stream: &mut impl Read) -> Reply {
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Json::Null),
        text: text.clone(),
    }
}

/// One request with `Authorization: {auth}` when given.
fn call(addr: SocketAddr, method: &str, target: &str, auth: Option<&str>, body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    write_request(&mut stream, method, target, auth, body);
    read_reply(&mut stream)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn ingest(s: &Server, index: &str, token: &str, lines: usize) -> Reply {
    let body: String = (0..lines)
        .map(|i| format!("{{\"message\":\"event {i} of {index}\"}}\n"))
        .collect();
    call(
        s.addr,
        "POST",
        &format!("/api/v1/ingest?index={index}"),
        Some(&bearer(token)),
        body.as_bytes(),
    )
}

fn total(s: &Server, index: &str, token: &str) -> Reply {
    call(
        s.addr,
        "GET",
        &format!("/api/v1/search?index={index}&q=event"),
        Some(&bearer(token)),
        b"",
    )
}

#[test]
fn missing_or_unknown_tokens_get_401_with_a_challenge() {
    let s = secured();
    let r = call(s.addr, "GET", "/api/v1/search?index=app-a", None, b"");
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(
        r.body["error"].as_str().unwrap().contains("Bearer"),
        "{}",
        r.text
    );
    assert!(r.head.contains("www-authenticate: bearer"), "{}", r.head);
    let wrong = "not-a-token-but-long-enough";
    let r = call(
        s.addr,
        "POST",
        "/api/v1/ingest?index=app-a",
        Some(&bearer(wrong)),
        b"{}\n",
    );
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["error"], "unknown or revoked token");
    assert!(!r.text.contains(wrong));
    let r = call(
        s.addr,
        "GET",
        "/api/v1/search?index=app-a",
        Some("Digest x"),
        b"",
    );
    assert_eq!(r.status, 401, "{}", r.text);
    // The Elasticsearch paths answer in Elasticsearch's error shape.
    let r = call(s.addr, "POST", "/_bulk", None, b"");
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["error"]["type"], "security_exception", "{}", r.text);
    // Nothing got in, and the open endpoints stay open.
    assert_eq!(
        total(&s, "app-a", ROOT).body["total"].as_u64().unwrap_or(0),
        0
    );
    let r = call(s.addr, "GET", "/health", None, b"");
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn good_tokens_ingest_and_read() {
    let s = secured();
    let r = ingest(&s, "app-web", SHIPPER, 3);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["accepted"], 3);
    let r = total(&s, "app-web", READER);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 3, "{}", r.text);
    assert_eq!(total(&s, "app-web", ROOT).body["total"], 3);
    let id = r.body["hits"][0]["_id"].as_str().unwrap().to_owned();
    let r = call(
        s.addr,
        "GET",
        &format!("/api/v1/context/{id}?index=app-web"),
        Some(&bearer(READER)),
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn scopes_and_indexes_are_refused_with_403_saying_which() {
    let s = secured();
    assert_eq!(ingest(&s, "secrets", ROOT, 2).status, 200);
    // The shipper cannot read at all.
    let r = total(&s, "app-web", SHIPPER);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["scope"], "read", "{}", r.text);
    assert_eq!(r.body["token"], "shipper", "{}", r.text);
    assert!(
        r.body["error"].as_str().unwrap().contains("`read` scope"),
        "{}",
        r.text
    );
    // The reader cannot write.
    let r = ingest(&s, "app-web", READER, 1);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["scope"], "ingest", "{}", r.text);
    // Indexes outside the allow-list.
    let r = ingest(&s, "secrets", SHIPPER, 1);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["scope"], "ingest", "{}", r.text);
    assert_eq!(r.body["index"], "secrets", "{}", r.text);
    let r = total(&s, "secrets", READER);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["index"], "secrets", "{}", r.text);
    assert_eq!(r.body["scope"], "read", "{}", r.text);
    let r = call(
        s.addr,
        "GET",
        "/api/v1/context/x?index=secrets",
        Some(&bearer(READER)),
        b"",
    );
    assert_eq!(r.status, 403, "{}", r.text);
    // Loki push names its index by header; `logs` is allowed, others not.
    let push =
        br#"{"streams":[{"stream":{"job":"a"},"values":[["1700000000000000000","event loki"]]}]}"#;
    let mut stream = TcpStream::connect(s.addr).unwrap();
    write!(
        stream,
        "POST /loki/api/v1/push HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {SHIPPER}\r\nX-Scope-OrgID: secrets\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        push.len()
    )
    .unwrap();
    stream.write_all(push).unwrap();
    let r = read_reply(&mut stream);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["index"], "secrets", "{}", r.text);
    let r = call(
        s.addr,
        "POST",
        "/loki/api/v1/push",
        Some(&bearer(SHIPPER)),
        push,
    );
    assert_eq!(r.status, 204, "{}", r.text);
    // Admin endpoints need admin; the refusal comes before any 404.
    let r = call(
        s.addr,
        "GET",
        "/api/v1/pipelines",
        Some(&bearer(SHIPPER)),
        b"",
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["scope"], "admin", "{}", r.text);
    // Only the root's two events are in `secrets`.
    assert_eq!(total(&s, "secrets", ROOT).body["total"], 2);
    assert_eq!(total(&s, "logs", ROOT).body["total"], 1);
}

#[test]
fn shippers_authenticate_with_basic_or_apikey() {
    let s = secured();
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    let bulk = b"{\"index\":{\"_index\":\"app-a\"}}\n{\"message\":\"event one\"}\n";
    let basic = format!("Basic {}", b64(&format!("elastic:{SHIPPER}")));
    let r = call(s.addr, "POST", "/_bulk", Some(&basic), bulk);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["errors"], false, "{}", r.text);
    let apikey = format!("ApiKey {}", b64(&format!("id:{SHIPPER}")));
    let r = call(s.addr, "POST", "/_bulk", Some(&apikey), bulk);
    assert_eq!(r.status, 200, "{}", r.text);
    let wrong = format!("Basic {}", b64("elastic:changeme-changeme"));
    let r = call(s.addr, "POST", "/_bulk", Some(&wrong), bulk);
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.head.contains("www-authenticate: basic"), "{}", r.head);
    assert_eq!(total(&s, "app-a", ROOT).body["total"], 2);
}

#[test]
fn bulk_items_outside_the_allow_list_get_their_own_403() {
    let s = secured();
    let bulk = concat!(
        "{\"index\":{\"_index\":\"app-a\"}}\n{\"message\":\"event a\"}\n",
        "{\"create\":{\"_index\":\"secrets\"}}\n{\"message\":\"event s\"}\n",
        "{\"index\":{}}\n{\"message\":\"event l\"}\n",
    );
    let r = call(
        s.addr,
        "POST",
        "/logs/_bulk",
        Some(&bearer(SHIPPER)),
        bulk.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["errors"], true, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items[0]["index"]["status"], 201, "{}", r.text);
    assert_eq!(items[1]["create"]["status"], 403, "{}", r.text);
    assert_eq!(items[1]["create"]["error"]["type"], "security_exception");
    assert_eq!(items[2]["index"]["status"], 201, "{}", r.text);
    assert_eq!(total(&s, "app-a", ROOT).body["total"], 1);
    assert_eq!(total(&s, "logs", ROOT).body["total"], 1);
    assert_eq!(
        total(&s, "secrets", ROOT).body["total"]
            .as_u64()
            .unwrap_or(0),
        0
    );
    // A single document to a forbidden index is a whole 403.
    let r = call(
        s.addr,
        "POST",
        "/secrets/_doc",
        Some(&bearer(SHIPPER)),
        b"{\"message\":\"event\"}",
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["error"]["type"], "security_exception", "{}", r.text);
    assert_eq!(r.body["index"], "secrets", "{}", r.text);
    let r = call(
        s.addr,
        "POST",
        "/app-b/_doc",
        Some(&bearer(SHIPPER)),
        b"{\"message\":\"event\"}",
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn requests_over_a_tokens_concurrency_limit_get_429() {
    let s = secured();
    // The first request sends its head and holds its body back, so it stays
    // in flight (in `read_body`) with the token's only slot.
    let body = b"{\"message\":\"event x\"}\n";
    let hold = || {
        let mut held = TcpStream::connect(s.addr).unwrap();
        write!(
            held,
            "POST /api/v1/ingest?index=app-a HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {SLOW}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        held
    };
    let mut held = hold();
    let started = Instant::now();
    let refused = loop {
        let r = total(&s, "app-a", SLOW);
        if r.status == 429 {
            break r;
        }
        // Before the held request is in, the search goes through (the
        // index does not exist yet).
        assert!(matches!(r.status, 200 | 404), "{}", r.text);
        // If the search got in first, the held request was the one refused:
        // send it again.
        held.set_nonblocking(true).unwrap();
        match held.peek(&mut [0u8; 1]) {
            Ok(_) => held = hold(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        held.set_nonblocking(false).unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "never refused");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(refused.head.contains("retry-after: 1"), "{}", refused.head);
    assert!(refused.body["error"]
        .as_str()
        .unwrap()
        .contains("max_concurrency"));
    assert_eq!(refused.body["max_concurrency"], 1);
    // Other tokens are not limited by it.
    assert_ne!(total(&s, "app-a", ROOT).status, 429);
    // Finishing the held request frees the slot.
    held.write_all(body).unwrap();
    let r = read_reply(&mut held);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(total(&s, "app-a", SLOW).status, 200);
}

#[test]
fn big_bodies_get_413_on_every_ingest_path() {
    let s = start_with(|dir| ServerOptions {
        max_body_bytes: 1024,
        auth: Some(Arc::new(Auth::load(&token_file(dir)).unwrap())),
        ..ServerOptions::default()
    });
    let big: String = (0..100)
        .map(|i| format!("{{\"message\":\"event {i}\"}}\n"))
        .collect();
    let bulk: String = (0..40)
        .map(|i| format!("{{\"index\":{{}}}}\n{{\"message\":\"event {i}\"}}\n"))
        .collect();
    let token = bearer(SHIPPER);
    for (target, body) in [
        ("/api/v1/ingest?index=app-a", big.as_bytes()),
        ("/app-a/_bulk", bulk.as_bytes()),
        ("/app-a/_doc", big.as_bytes()),
        ("/loki/api/v1/push?index=logs", big.as_bytes()),
    ] {
        let r = call(s.addr, "POST", target, Some(&token), body);
        assert_eq!(r.status, 413, "{target}: {}", r.text);
    }
    // A small gzip body that inflates past the limit is refused too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b'x'; 64 << 10]).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 1024);
    let mut stream = TcpStream::connect(s.addr).unwrap();
    write!(
        stream,
        "POST /api/v1/ingest?index=app-a HTTP/1.1\r\nHost: t\r\nAuthorization: {token}\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        gz.len()
    )
    .unwrap();
    stream.write_all(&gz).unwrap();
    assert_eq!(read_reply(&mut stream).status, 413);
    // Under the limit is fine.
    assert_eq!(ingest(&s, "app-a", SHIPPER, 3).status, 200);
    assert_eq!(total(&s, "app-a", ROOT).body["total"], 3);
}

#[test]
fn a_search_cannot_ask_past_the_deadline_and_budget_caps() {
    let capped = |timeout: u64, budget: u64| {
        start_with(move |_| ServerOptions {
            max_timeout: Duration::from_millis(timeout),
            max_scan_budget: budget,
            ..ServerOptions::default()
        })
    };
    let fill = |s: &Server| {
        let body: String = (0..5000)
            .map(|i| format!("{{\"message\":\"event {i}\"}}\n"))
            .collect();
        let r = call(
            s.addr,
            "POST",
            "/api/v1/ingest?index=app-a",
            None,
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    };
    let ask = "/api/v1/search?index=app-a&q=event&timeout_ms=600000&budget=10000000000";
    // Without caps in the way, the whole index is scanned.
    let s = capped(600_000, u64::MAX);
    fill(&s);
    let r = call(s.addr, "GET", ask, None, b"");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["partial"], false, "{}", r.text);
    assert_eq!(r.body["total"], 5000, "{}", r.text);
    // The budget cap cuts the scan however much the request asks for.
    let s = capped(600_000, 100);
    fill(&s);
    let r = call(s.addr, "GET", ask, None, b"");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["partial"], true, "{}", r.text);
    assert!(r.body["scanned"].as_u64().unwrap() <= 101, "{}", r.text);
    // So does the deadline cap (0 ms: past at the first check).
    let s = capped(0, u64::MAX);
    fill(&s);
    let r = call(s.addr, "GET", ask, None, b"");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["partial"], true, "{}", r.text);
    assert!(r.body["total"].as_u64().unwrap() < 5000, "{}", r.text);
}

/// A self-signed certificate for `localhost`, written as PEM
/// into `dir`: (cert path, key path, the certificate's DER).
fn self_signed(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    (cert, key, certified.cert.der().to_vec())
}

/// One request over TLS, trusting only `ca`; the raw answer.
fn https(addr: SocketAddr, ca: &[u8], request: String) -> std::io::Result<String> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca.to_vec())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let server = ServerName::try_from("localhost").unwrap();
    let mut connection = rustls::ClientConnection::new(Arc::new(config), server).unwrap();
    let mut socket = TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::Stream::new(&mut connection, &mut socket);
    tls.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer) {
        Ok(_) => {}
        // The server may close without close_notify after `Connection: close`.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[test]
fn tls_serves_https_with_tokens_and_refuses_plain_http() {
    let mut ca = Vec::new();
    let s = start_with(|dir| {
        let (cert, key, der) = self_signed(dir, "server");
        ca = der;
        ServerOptions {
            tls: Some(Tls::load(&cert, &key).unwrap()),
            auth: Some(Arc::new(Auth::load(&token_file(dir)).unwrap())),
            ..ServerOptions::default()
        }
    });
    let health = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let answer = https(s.addr, &ca, health.into()).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = "{\"message\":\"event over tls\"}\n";
    let ingest = |token: &str| {
        format!(
            "POST /api/v1/ingest?index=app-a HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let answer = https(s.addr, &ca, ingest(SHIPPER)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = https(s.addr, &ca, ingest("no-such-token-at-all")).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let r = call(s.addr, "GET", "/health", None, b"");
    assert_ne!(r.status, 200, "{}", r.text);
    assert!(!r.text.starts_with("HTTP/1.1"), "{}", r.text);
    // A client that trusts another certificate refuses the server.
    let dir = tempfile::tempdir().unwrap();
    let (_, _, other) = self_signed(dir.path(), "other");
    assert!(https(s.addr, &other, health.into()).is_err());
}

#[test]
fn bad_certificates_and_keys_are_named_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed(dir.path(), "a");
    let (_, other_key, _) = self_signed(dir.path(), "b");
    assert!(Tls::load(&cert, &key).is_ok());
    let missing = dir.path().join("missing.crt");
    let e = Tls::load(&missing, &key).unwrap_err();
    assert!(matches!(e, TlsError::Read { .. }), "{e}");
    assert!(e.to_string().contains("missing.crt"), "{e}");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let e = Tls::load(&garbage, &key).unwrap_err();
    assert!(e.to_string().contains("garbage.pem"), "{e}");
    assert!(e.to_string().contains("no certificate"), "{e}");
    let e = Tls::load(&cert, &garbage).unwrap_err();
    assert!(e.to_string().contains("garbage.pem"), "{e}");
    assert!(e.to_string().contains("private key"), "{e}");
    // A key and a certificate swapped.
    let e = Tls::load(&key, &cert).unwrap_err();
    assert!(matches!(e, TlsError::Pem { .. }), "{e}");
    // A key that does not go with the certificate.
    let e = Tls::load(&cert, &other_key).unwrap_err();
    assert!(matches!(e, TlsError::Rejected { .. }), "{e}");
    assert!(
        e.to_string().contains("b.key") && e.to_string().contains("a.crt"),
        "{e}"
    );
}
