//! Live tail over a real WebSocket client: filtering, order, both ingest paths (HTTP and
//! `Store::append`), errors before the upgrade, a stalled client that loses events without
//! slowing ingestion, and 1,000 sessions at once.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use sluice_event::Event;
use sluice_server::{serve, Api};
use sluice_store::{Store, StoreOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

struct Server {
    addr: SocketAddr,
    store: Arc<Store>,
    stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start(options: StoreOptions) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), options).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(Api::store(store.clone()), listener, shutdown));
    Server {
        addr,
        store,
        stop,
        _dir: dir,
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn tail(addr: SocketAddr, index: &str, q: &str) -> Ws {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/api/v1/tail?index={index}&q={}", encode(q));
    let (ws, response) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// One HTTP/1.1 request (`Connection: close`): the status and the body.
async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{head}\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

async fn ingest(addr: SocketAddr, index: &str, events: &[Json]) {
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    let head =
        format!("POST /api/v1/ingest?index={index} HTTP/1.1\r\nContent-Type: application/x-ndjson");
    let (status, reply) = request(addr, &head, body.as_bytes()).await;
    assert_eq!(status, 200, "{reply}");
}

/// The next JSON message (pings are skipped); panics after 30 s.
async fn next_message(ws: &mut Ws) -> Json {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("no message within 30 s")
            .expect("the stream ended")
            .expect("a WebSocket error");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// Events received until one with `"n": last` (inclusive).
async fn events_until(ws: &mut Ws, last: i64) -> Vec<Json> {
    let mut events = Vec::new();
    loop {
        let message = next_message(ws).await;
        assert_eq!(message["type"], "events", "{message}");
        for event in message["events"].as_array().unwrap() {
            events.push(event.clone());
            if event["fields"]["n"] == last {
                return events;
            }
        }
    }
}

/// Reads until the event `"n": last`: the numbers received (checked to be in order), the
/// events skipped and the number of `skipped` messages.
async fn drain_until(ws: &mut Ws, last: i64) -> (Vec<i64>, u64, usize) {
    let (mut received, mut skipped, mut skips) = (Vec::<i64>::new(), 0u64, 0);
    loop {
        let message = next_message(ws).await;
        match message["type"].as_str() {
            Some("skipped") => {
                let count = message["count"].as_u64().unwrap();
                assert!(count > 0, "{message}");
                skipped += count;
                skips += 1;
            }
            Some("events") => {
                for event in message["events"].as_array().unwrap() {
                    let n = event["fields"]["n"].as_i64().unwrap();
                    assert!(received.last().is_none_or(|&p| p < n), "out of order");
                    received.push(n);
                    if n == last {
                        return (received, skipped, skips);
                    }
                }
            }
            _ => panic!("unexpected message {message}"),
        }
    }
}

fn numbers(events: &[Json]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["fields"]["n"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_matching_events_arrive_in_order_from_http_and_store_append() {
    let s = start(StoreOptions::default()).await;
    let mut ws = tail(s.addr, "app", "level:ERROR AND service:pay*").await;
    let mut other = tail(s.addr, "other", "*").await;
    // n 0..40 over HTTP; every third is an error from payments, the rest do not match.
    let http: Vec<Json> = (0..40)
        .map(|n| match n % 3 {
            0 => json!({"n": n, "level": "ERROR", "service": "payments", "message": "declined"}),
            1 => json!({"n": n, "level": "INFO", "service": "payments", "message": "ok"}),
            _ => json!({"n": n, "level": "ERROR", "service": "checkout", "message": "boom"}),
        })
        .collect();
    ingest(s.addr, "app", &http[..20]).await;
    ingest(s.addr, "app", &http[20..]).await;
    // n 40..60 through the store directly, as a pipeline's `store` sink writes.
    let direct: Vec<Event> = (40..60i64)
        .map(|n| {
            let mut e = Event::new(format!("direct {n}"));
            e.fields.insert("n", n);
            e.fields
                .insert("level", if n % 2 == 0 { "ERROR" } else { "WARN" });
            e.fields.insert("service", "payroll");
            e
        })
        .collect();
    let store = s.store.clone();
    tokio::task::spawn_blocking(move || store.append("app", &direct))
        .await
        .unwrap()
        .unwrap();

    let expected: Vec<i64> = (0..40)
        .filter(|n| n % 3 == 0)
        .chain((40..60).filter(|n| n % 2 == 0))
        .collect();
    let got = events_until(&mut ws, 58).await;
    assert_eq!(numbers(&got), expected);

    // Each event is a search hit: same JSON, and its `_id` finds it.
    let (status, body) = request(s.addr, "GET /api/v1/search?index=app&q=n:3 HTTP/1.1", b"").await;
    assert_eq!(status, 200, "{body}");
    let hits: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(hits["hits"][0], got[1]);
    let id = got[1]["_id"].as_str().unwrap();
    let (status, body) = request(
        s.addr,
        &format!("GET /api/v1/context/{id}?index=app&before=0&after=0 HTTP/1.1"),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Json>(&body).unwrap()["hit"]["fields"]["n"],
        3
    );

    // Another index's tail saw none of it.
    ingest(
        s.addr,
        "other",
        &[json!({"n": 1000, "message": "elsewhere"})],
    )
    .await;
    assert_eq!(numbers(&events_until(&mut other, 1000).await), [1000]);

    // The client closes; the server answers the close.
    ws.close(None).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("the server did not answer the close"),
        }
    }
    let _ = s.stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_answered_before_the_upgrade() {
    let s = start(StoreOptions::default()).await;
    let upgrade = "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    let bad = encode("level:ERROR AND (service:x");
    let (status, body) = request(
        s.addr,
        &format!("GET /api/v1/tail?index=app&q={bad} HTTP/1.1{upgrade}"),
        b"",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let body: Json = serde_json::from_str(&body).unwrap();
    assert!(body["error"].is_string(), "{body}");
    assert!(body["column"].as_u64().unwrap() > 1, "{body}");
    // The same error, at the same column, as a search with that query.
    let (_, search) = request(
        s.addr,
        &format!("GET /api/v1/search?index=app&q={bad} HTTP/1.1"),
        b"",
    )
    .await;
    assert_eq!(serde_json::from_str::<Json>(&search).unwrap(), body);

    let (status, body) = request(
        s.addr,
        &format!("GET /api/v1/tail?q=x HTTP/1.1{upgrade}"),
        b"",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("index"), "{body}");
    let (status, _) = request(s.addr, "GET /api/v1/tail?index=app HTTP/1.1", b"").await;
    assert_eq!(status, 426);
    let (status, _) = request(s.addr, "POST /api/v1/tail?index=app HTTP/1.1", b"").await;
    assert_eq!(status, 405);
    // The RFC 6455 example key gets the RFC's accept value.
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(
            format!("GET /api/v1/tail?index=app HTTP/1.1\r\nHost: t{upgrade}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut head = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut head))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    let _ = s.stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_told_what_it_missed_and_never_slows_ingestion() {
    let s = start(StoreOptions {
        tail_capacity: 8,
        ..StoreOptions::default()
    })
    .await;
    // A client that will not read until ingestion is done, with a small receive window.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(s.addr).await.unwrap();
    let url = format!("ws://{}/api/v1/tail?index=app&q=*", s.addr);
    let (mut stalled, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    // A reading client beside it.
    let mut reader = tail(s.addr, "app", "*").await;

    // 300 requests of 50 events of ~2 KB: 30 MB, far more than the socket buffers hold.
    let filler = "x".repeat(2000);
    let (requests, per_request) = (300i64, 50i64);
    let ingestion = {
        let addr = s.addr;
        tokio::spawn(async move {
            for r in 0..requests {
                let events: Vec<Json> = (0..per_request)
                    .map(|i| json!({"n": r * per_request + i, "message": filler}))
                    .collect();
                ingest(addr, "app", &events).await;
            }
        })
    };
    let last = requests * per_request - 1;
    let reading = tokio::spawn(async move { drain_until(&mut reader, last).await });
    // If ingestion waited for the stalled client, it would never finish.
    tokio::time::timeout(Duration::from_secs(120), ingestion)
        .await
        .expect("ingestion was held up by a client that does not read")
        .unwrap();
    // The reading client got everything (or was told what it missed, if this machine
    // starved it too).
    let (received, skipped, _) = reading.await.unwrap();
    assert_eq!(received.len() as u64 + skipped, (last + 1) as u64);

    // Now the stalled client reads: events, then `skipped`, then events; every event is
    // either received (in order, once) or counted as skipped.
    let (received, skipped, skips) = drain_until(&mut stalled, last).await;
    assert!(
        skips >= 1,
        "the stalled client was never told it missed events"
    );
    assert!(skipped > 0);
    assert!(!received.is_empty());
    assert_eq!(received.len() as u64 + skipped, (last + 1) as u64);
    let _ = s.stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_each_receive_a_matching_event() {
    let s = start(StoreOptions::default()).await;
    let queries = [
        "level:ERROR",
        "service:checkout",
        "message:timeout AND level:ERROR",
        "service:check* -level:INFO",
    ];
    let mut opening = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(100));
    for i in 0..1000 {
        let (addr, q, limit) = (s.addr, queries[i % queries.len()], limit.clone());
        opening.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            (i, tail(addr, "app", q).await)
        });
    }
    let sessions: Vec<(usize, Ws)> = opening.join_all().await;
    assert_eq!(sessions.len(), 1000);
    ingest(
        s.addr,
        "app",
        &[
            json!({"n": 1, "level": "INFO", "service": "checkout", "message": "timeout"}),
            json!({"n": 2, "level": "ERROR", "service": "checkout", "message": "upstream timeout"}),
        ],
    )
    .await;
    let mut receiving = tokio::task::JoinSet::new();
    for (i, mut ws) in sessions {
        receiving.spawn(async move {
            let got = numbers(&events_until(&mut ws, 2).await);
            // Only `service:checkout` also matches the INFO event.
            let expected: &[i64] = if i % 4 == 1 { &[1, 2] } else { &[2] };
            assert_eq!(got, expected, "session {i}");
        });
    }
    let mut done = 0;
    while let Some(result) = receiving.join_next().await {
        result.unwrap();
        done += 1;
    }
    assert_eq!(done, 1000);
    let _ = s.stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_close_when_the_server_shuts_down() {
    let s = start(StoreOptions::default()).await;
    let mut ws = tail(s.addr, "app", "*").await;
    ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::Pong(b"hi".to_vec().into()));
    s.stop.send(true).unwrap();
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
}
