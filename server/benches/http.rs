//! HTTP benchmark of the query server: ingest (`POST /api/v1/ingest` NDJSON and the
//! Elasticsearch `_bulk`, batches of 1,000) and search with 16 concurrent clients, over the
//! benchmark corpus (`bench/gen-corpus`: loghub lines with fields and fresh timestamps).
//!
//! `cargo bench -p sluice-server --bench http` (or `bench/http.sh`). Environment:
//! `SLUICE_BENCH_EVENTS` (default 10,000,000), `SLUICE_BENCH_CLIENTS` (ingest connections, 4),
//! `SLUICE_BENCH_SEARCH_CLIENTS` (16), `SLUICE_BENCH_SEARCH_SECS` (per query and client
//! count, 10), `SLUICE_BENCH_DIR` (where the stores go; default a temporary directory),
//! `SLUICE_BENCH_SEARCH_STORE` (search only, over this store: e.g. the `store/` of a run
//! `bench/store.sh` kept, whose index is also `bench` and whose `corpus.end` beside it gives
//! the "last 24 h").
//!
//! - **Ingest**: every run starts from an empty store, with the server on a 2-thread runtime
//!   in this process and the clients (keep-alive connections sending pre-built bodies) on a
//!   second runtime. The rate is events acknowledged (the WAL holds them; they are
//!   searchable) over the wall time from the first request to the last answer; the store
//!   indexes in the background and slows appends down to its indexing rate when more than
//!   four flushes' worth is waiting, so over millions of events this is the sustained rate.
//!   Baseline, in the same run: the same events appended straight to `Store::append` from as
//!   many threads (no HTTP, no JSON), the store's own ceiling.
//! - **Search**: on the NDJSON run's store (all events), each query runs in a loop on 1 and
//!   on 16 connections for a fixed time; queries/s and p50/p95 latency.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use sluice_event::{event_to_json, Event};
use sluice_gen_corpus::{default_loghub_dir, Corpus, Spec};
use sluice_server::{serve, Api};
use sluice_store::{Store, StoreOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: usize = 1000;
const INDEX: &str = "bench";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let events: u64 = env("SLUICE_BENCH_EVENTS", 10_000_000);
    let clients: usize = env("SLUICE_BENCH_CLIENTS", 4);
    let search_clients: usize = env("SLUICE_BENCH_SEARCH_CLIENTS", 16);
    let search_secs: u64 = env("SLUICE_BENCH_SEARCH_SECS", 10);
    let root = match std::env::var_os("SLUICE_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let spec = Spec::new(events, 1);
    if let Some(dir) = std::env::var_os("SLUICE_BENCH_SEARCH_STORE") {
        let dir = std::path::PathBuf::from(dir);
        let end = match std::fs::read_to_string(dir.join("../corpus.end")) {
            Ok(text) => text.trim().parse()?,
            Err(_) => spec.end,
        };
        let store = Arc::new(Store::open(&dir, StoreOptions::default())?);
        let stats = store.stats(INDEX)?;
        let events = stats.segment_rows + stats.mem_rows;
        let server = Server::start(store)?;
        return search_table(&server, events, end, search_clients, search_secs);
    }
    let mut corpus = Corpus::open(&default_loghub_dir(), &spec)?;
    let mut batches: Vec<Vec<Event>> = Vec::new();
    let mut batch = Vec::new();
    while corpus.fill(BATCH, &mut batch) {
        batches.push(std::mem::take(&mut batch));
    }
    let ndjson: Vec<Bytes> = batches.iter().map(|b| body(b, None)).collect();
    let bulk: Vec<Bytes> = batches.iter().map(|b| body(b, Some(INDEX))).collect();
    let raw: usize = batches.iter().flatten().map(|e| e.message.len() + 1).sum();
    eprintln!(
        "{events} events, {} MB of raw lines, {} MB as NDJSON",
        raw >> 20,
        ndjson.iter().map(Bytes::len).sum::<usize>() >> 20
    );

    println!("## HTTP ingest ({events} events, batches of {BATCH}, {clients} connections)\n");
    println!(
        "| path | events/s | MB/s (raw lines) | request p50 ms | request p99 ms | ÷ baseline |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let direct = {
        let store = Arc::new(Store::open(
            root.path().join("direct"),
            StoreOptions::default(),
        )?);
        let next = AtomicUsize::new(0);
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..clients {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(batch) = batches.get(i) else { break };
                    store.append(INDEX, batch).expect("append");
                });
            }
        });
        started.elapsed()
    };
    let rate = |elapsed: Duration| events as f64 / elapsed.as_secs_f64();
    let mbs = |elapsed: Duration| raw as f64 / 1e6 / elapsed.as_secs_f64();
    println!(
        "| `Store::append`, in process (baseline) | {:.0} | {:.1} | | | 1.00 |",
        rate(direct),
        mbs(direct)
    );
    let mut search_store = None;
    for (name, path, content_type, bodies) in [
        (
            "`POST /api/v1/ingest` NDJSON",
            format!("/api/v1/ingest?index={INDEX}"),
            "application/x-ndjson",
            &ndjson,
        ),
        (
            "`POST /_bulk` (Elasticsearch)",
            "/_bulk".to_owned(),
            "application/x-ndjson",
            &bulk,
        ),
    ] {
        let dir = root.path().join(if search_store.is_none() {
            "http"
        } else {
            "bulk"
        });
        let store = Arc::new(Store::open(&dir, StoreOptions::default())?);
        let server = Server::start(store.clone())?;
        let (elapsed, mut latencies) =
            server
                .clients
                .block_on(ingest(server.addr, &path, content_type, bodies, clients))?;
        latencies.sort_unstable_by(f64::total_cmp);
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} |",
            rate(elapsed),
            mbs(elapsed),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            direct.as_secs_f64() / elapsed.as_secs_f64()
        );
        let stats = store.stats(INDEX)?;
        let stored = stats.segment_rows + stats.mem_rows;
        anyhow::ensure!(
            stored == events,
            "{name}: {stored} of {events} events stored"
        );
        if search_store.is_none() {
            search_store = Some(server);
        }
    }

    let server = search_store.expect("the NDJSON run keeps its server");
    search_table(&server, events, spec.end, search_clients, search_secs)
}

/// Runs each query in a loop on 1 and on `clients` connections; prints the table.
fn search_table(
    server: &Server,
    events: u64,
    end: i64,
    search_clients: usize,
    search_secs: u64,
) -> anyhow::Result<()> {
    let day = 24 * 3_600_000_000_000i64;
    let queries = [
        ("rare term", "blk_2380775154966815858".to_owned(), None),
        (
            "phrase",
            "\"failed password for invalid user\"".to_owned(),
            None,
        ),
        (
            "field filter + last 24 h",
            "level:ERROR AND service:hadoop".to_owned(),
            Some((end - day, end + 1)),
        ),
        (
            "stats count() by level",
            "* | stats count() by level".to_owned(),
            None,
        ),
        (
            "timechart 1h by level",
            "* | timechart 1h count() by level".to_owned(),
            None,
        ),
    ];
    println!(
        "\n## Search ({events} events; each query in a loop for {search_secs} s per column)\n"
    );
    println!(
        "| query | 1 client q/s | 1 client p50 / p95 ms | {search_clients} clients q/s | {search_clients} clients p50 / p95 ms | q/s ÷ 1 client |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, q, range) in queries {
        let mut target = format!("/api/v1/search?index={INDEX}&limit=10&q={}", encode(&q));
        if let Some((from, to)) = range {
            target.push_str(&format!("&from={}&to={}", from / 1_000_000, to / 1_000_000));
        }
        let secs = Duration::from_secs(search_secs);
        let one = server
            .clients
            .block_on(search(server.addr, &target, 1, secs))?;
        let many = server
            .clients
            .block_on(search(server.addr, &target, search_clients, secs))?;
        println!(
            "| {name} | {:.1} | {:.1} / {:.1} | {:.1} | {:.1} / {:.1} | {:.2} |",
            one.qps,
            one.p50,
            one.p95,
            many.qps,
            many.p50,
            many.p95,
            many.qps / one.qps
        );
    }
    Ok(())
}

/// A batch as NDJSON, or as a `_bulk` body (an `index` action per document) given an index.
fn body(events: &[Event], bulk_index: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(events.len() * 256);
    for event in events {
        if let Some(index) = bulk_index {
            out.extend_from_slice(format!("{{\"index\":{{\"_index\":\"{index}\"}}}}\n").as_bytes());
        }
        let json = event_to_json(event);
        // The bench sends what shippers send: the fields at the top level.
        let mut flat = serde_json::Map::new();
        flat.insert("@timestamp".into(), json["timestamp"].clone());
        flat.insert("message".into(), json["message"].clone());
        if let Some(fields) = json["fields"].as_object() {
            flat.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        serde_json::to_writer(&mut out, &flat).expect("writing to a Vec");
        out.push(b'\n');
    }
    Bytes::from(out)
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The server on its own runtime, and a runtime for the clients.
struct Server {
    addr: std::net::SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    _server: tokio::runtime::Runtime,
    clients: tokio::runtime::Runtime,
}

impl Server {
    fn start(store: Arc<Store>) -> anyhow::Result<Server> {
        let server = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let clients = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let listener = server.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        server.spawn(serve(Api::store(store), listener, shutdown));
        Ok(Server {
            addr,
            stop,
            _server: server,
            clients,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A keep-alive HTTP/1.1 connection.
async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request and reads the whole answer; fails unless it is 2xx.
async fn send(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    method: &str,
    target: &str,
    content_type: &str,
    body: Bytes,
) -> anyhow::Result<Bytes> {
    sender.ready().await?;
    let request = Request::builder()
        .method(method)
        .uri(target)
        .header("host", "bench")
        .header("content-type", content_type)
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status.is_success(),
        "{method} {target}: {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(body)
}

/// Sends every body over `connections` connections; the wall time and each request's
/// latency in ms.
async fn ingest(
    addr: std::net::SocketAddr,
    path: &str,
    content_type: &'static str,
    bodies: &[Bytes],
    connections: usize,
) -> anyhow::Result<(Duration, Vec<f64>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(bodies.to_vec());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (next, bodies, path) = (next.clone(), bodies.clone(), path.to_owned());
        tasks.spawn(async move {
            let mut sender = connect(addr).await?;
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let sent = Instant::now();
                let answer = send(&mut sender, "POST", &path, content_type, body.clone()).await?;
                // A `_bulk` answers 200 with per-item errors; none is expected here.
                let answer: serde_json::Value = serde_json::from_slice(&answer)?;
                anyhow::ensure!(answer["errors"] != true, "{path}: items failed: {answer}");
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    Ok((started.elapsed(), latencies))
}

struct SearchFigures {
    qps: f64,
    p50: f64,
    p95: f64,
}

/// Runs `target` in a loop on `clients` connections for `duration`.
async fn search(
    addr: std::net::SocketAddr,
    target: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<SearchFigures> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let target = target.to_owned();
        tasks.spawn(async move {
            let mut sender = connect(addr).await?;
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let sent = Instant::now();
                send(&mut sender, "GET", &target, "text/plain", Bytes::new()).await?;
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable_by(f64::total_cmp);
    Ok(SearchFigures {
        qps: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 0.5),
        p95: percentile(&latencies, 0.95),
    })
}
