//! Live tail latency: from an ingest request's acknowledgement (its HTTP response read by
//! the client) to each tail session's receipt of each matching event, with 1 session (the
//! baseline) and with 1,000, in one run.
//!
//! `cargo bench -p sluice-server --bench tail` (env: `TAIL_SESSIONS`, default `1,1000`;
//! `TAIL_RATE`, ingest requests per second, default 20; `TAIL_EVENTS`, events per request,
//! default 10; `TAIL_SECS`, default 10). The server runs on its own 2-worker runtime, the
//! clients (ingest and sessions) on another, over loopback; the store fsyncs every append.
//! Each session's query matches a share of every request's events (four queries in turn).

use futures::StreamExt;
use serde_json::{json, Value as Json};
use sluice_server::{serve, Api};
use sluice_store::{Store, StoreOptions};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const QUERIES: [&str; 4] = [
    "level:ERROR",
    "service:checkout",
    "level:ERROR AND message:timeout",
    "service:check* -level:INFO",
];

/// The last event of a run: every query matches it.
const LAST: i64 = -1;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn main() {
    let sessions: Vec<usize> = env("TAIL_SESSIONS", "1,1000")
        .split(',')
        .map(|s| s.trim().parse().expect("TAIL_SESSIONS: numbers"))
        .collect();
    let rate: f64 = env("TAIL_RATE", "20").parse().expect("TAIL_RATE");
    let per_request: usize = env("TAIL_EVENTS", "10").parse().expect("TAIL_EVENTS");
    let secs: f64 = env("TAIL_SECS", "10").parse().expect("TAIL_SECS");
    println!(
        "| sessions | ingested events/s | deliveries | p50 ms | p95 ms | p99 ms | max ms | before ack | skipped |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &sessions {
        let r = run(n, rate, per_request, Duration::from_secs_f64(secs));
        let pct = |p: f64| {
            let i = ((r.latencies.len() as f64 * p).ceil() as usize).clamp(1, r.latencies.len());
            r.latencies[i - 1].as_secs_f64() * 1e3
        };
        println!(
            "| {n} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
            r.events_per_sec,
            r.latencies.len(),
            pct(0.50),
            pct(0.95),
            pct(0.99),
            pct(1.0),
            r.before_ack,
            r.skipped
        );
    }
}

struct Report {
    /// Sorted.
    latencies: Vec<Duration>,
    events_per_sec: f64,
    /// Deliveries that arrived before the ingest response did (counted as 0).
    before_ack: usize,
    skipped: u64,
}

fn run(sessions: usize, rate: f64, per_request: usize, duration: Duration) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).unwrap());
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    server.spawn(serve(Api::store(store), listener, shutdown));

    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = clients.block_on(async move {
        // Open the sessions (100 handshakes at a time).
        let limit = Arc::new(tokio::sync::Semaphore::new(100));
        let mut opening = tokio::task::JoinSet::new();
        for i in 0..sessions {
            let limit = limit.clone();
            opening.spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                let url = format!(
                    "ws://{addr}/api/v1/tail?index=bench&q={}",
                    encode(QUERIES[i % QUERIES.len()])
                );
                let tcp = TcpStream::connect(addr).await.unwrap();
                tokio_tungstenite::client_async(url, tcp).await.unwrap().0
            });
        }
        let opened = opening.join_all().await;
        // Each session records (n, receipt time) per event, until the last event.
        let mut receiving = tokio::task::JoinSet::new();
        for mut ws in opened {
            receiving.spawn(async move {
                let (mut got, mut skipped) = (Vec::new(), 0u64);
                while let Some(Ok(message)) = ws.next().await {
                    let at = Instant::now();
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let json: Json = serde_json::from_str(&text).unwrap();
                    if json["type"] == "skipped" {
                        skipped += json["count"].as_u64().unwrap();
                        continue;
                    }
                    for event in json["events"].as_array().unwrap() {
                        let n = event["fields"]["n"].as_i64().unwrap();
                        if n == LAST {
                            return (got, skipped);
                        }
                        got.push((n as usize, at));
                    }
                }
                (got, skipped)
            });
        }
        // Ingest at a steady rate, each request on its own connection, so a slow answer
        // does not delay the next request.
        let requests = (rate * duration.as_secs_f64()).round() as usize;
        let acks: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; requests]));
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        let mut sending = tokio::task::JoinSet::new();
        let started = Instant::now();
        for n in 0..requests {
            ticker.tick().await;
            let acks = acks.clone();
            sending.spawn(async move {
                let body: String = (0..per_request)
                    .map(|j| format!("{}\n", event(n as i64, j)))
                    .collect();
                ingest(addr, body.as_bytes()).await;
                acks.lock().unwrap()[n] = Some(Instant::now());
            });
        }
        sending.join_all().await;
        let elapsed = started.elapsed();
        let last =
            json!({"n": LAST, "level": "ERROR", "service": "checkout", "message": "timeout"});
        ingest(addr, format!("{last}\n").as_bytes()).await;
        let acks = acks.lock().unwrap().clone();
        let (mut latencies, mut before_ack, mut skipped) = (Vec::new(), 0, 0);
        while let Some(result) = receiving.join_next().await {
            let (got, lost) = result.unwrap();
            skipped += lost;
            for (n, at) in got {
                let ack = acks[n].expect("every request was answered");
                match at.checked_duration_since(ack) {
                    Some(latency) => latencies.push(latency),
                    None => {
                        before_ack += 1;
                        latencies.push(Duration::ZERO);
                    }
                }
            }
        }
        latencies.sort();
        Report {
            latencies,
            events_per_sec: (requests * per_request) as f64 / elapsed.as_secs_f64(),
            before_ack,
            skipped,
        }
    });
    let _ = stop.send(true);
    drop(clients);
    drop(server);
    report
}

/// Event `j` of request `n`: each query matches some of a request's events.
fn event(n: i64, j: usize) -> Json {
    json!({
        "n": n,
        "level": if j.is_multiple_of(3) { "ERROR" } else { "INFO" },
        "service": if j.is_multiple_of(2) { "checkout" } else { "payments" },
        "message": if j.is_multiple_of(5) { "upstream timeout after 30s" } else { "request served in 12ms" },
    })
}

async fn ingest(addr: SocketAddr, body: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/ingest?index=bench HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "ingest failed");
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
