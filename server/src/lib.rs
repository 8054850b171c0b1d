//! `sluice-server`: the query server's HTTP API over the segment store
//! (DESIGN §7), as a library that `sluice serve` runs.
//!
//! Endpoints:
//!
//! - `POST /api/v1/ingest?index=I`: `text/plain` (one event per line, the
//!   line as `message`), NDJSON (`application/x-ndjson`), or a JSON array
//!   (`application/json`). A line that is not a JSON object is kept as a
//!   plain message marked with `parse_error`. Answers `200 {"accepted": N}`
//!   only once the index's WAL holds the events.
//! - `GET /api/v1/search?index=I&q=Q&from=&to=&limit=&cursor=&timeout_ms=&budget=`:
//!   `{"total", "hits", "took_ms", "partial", "scanned", "next_cursor"}`,
//!   newest first. `q` may end in an aggregation pipe (`| stats ...`), which
//!   answers `{"columns", "rows", "matched", ...}` instead. Times are RFC
//!   3339, epoch milliseconds, or relative to now (`now-1h`).
//! - `GET /api/v1/context/{id}?index=I&before=&after=`: the events around a
//!   hit from the same source.
//! - The Elasticsearch subset shippers use (`elastic.rs`): `GET /`,
//!   `POST /_bulk`, `POST /{index}/_bulk`, `/{index}/_doc[/{id}]`, and the
//!   set-up calls they make first.
//! - The Loki push API (`loki.rs`): `POST /loki/api/v1/push`, snappy
//!   protobuf or JSON, answered 204 once the WAL holds the entries.
//! - `GET /api/v1/tail?index=I&q=Q`: live tail over WebSocket, filtered by the
//!   query on the server (`tail.rs` documents the messages).
//! - `GET /health`, and `GET /metrics` (Prometheus text) when the process
//!   has metrics (a pipeline's `[api]`).
//!
//! Errors are JSON, `{"error": ...}`, with the query's `column` when the
//! query is at fault. Bodies may be gzipped (`Content-Encoding: gzip`), and
//! a JSON event's `@timestamp` or `timestamp` (RFC 3339 or epoch ms) is its
//! event time. It is not: authentication, TLS, the OTLP and syslog
//! ingest or the UI (the server issue adds those).

mod elastic;
mod loki;
mod proto;
mod tail;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value as Json};
use sluice_event::{
    event_from_json, event_to_json, message_from_bytes, names, now_ns, Event, Value,
};
use sluice_query::text::{parse_query_time, parse_time_at};
use sluice_store::{SearchRequest, Store};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The largest request body taken; bigger ones get 413.
    pub max_body_bytes: usize,
    /// A search's deadline unless the request sets `timeout_ms`.
    pub default_timeout: Duration,
    /// Rows a search may examine unless the request sets `budget`.
    pub default_scan_budget: u64,
    /// Hits per page unless the request sets `limit` (at most `max_limit`).
    pub default_limit: usize,
    pub max_limit: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_body_bytes: 64 << 20,
            default_timeout: Duration::from_secs(10),
            default_scan_budget: 100_000_000,
            default_limit: 100,
            max_limit: 10_000,
        }
    }
}

/// Renders the Prometheus text of `/metrics`.
pub type Metrics = Arc<dyn Fn() -> String + Send + Sync>;

/// What one listener serves.
pub struct Api {
    /// The store behind ingest, search and context; without one those
    /// endpoints answer 404 and say why.
    pub store: Option<Arc<Store>>,
    /// `/metrics`, when the process has a metrics registry.
    pub metrics: Option<Metrics>,
    pub options: ServerOptions,
}

impl Api {
    /// The store API alone (`sluice serve`).
    pub fn store(store: Arc<Store>) -> Api {
        Api {
            store: Some(store),
            metrics: None,
            options: ServerOptions::default(),
        }
    }
}

type Shared = Api;

/// Serves `api` on `listener` until `shutdown` turns true.
pub async fn serve(api: Api, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            store = api.store.is_some(),
            metrics = api.metrics.is_some(),
            "api listening"
        );
    }
    let shared = Arc::new(api);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let (shared, shutdown) = (shared.clone(), shutdown.clone());
                async move { Ok::<_, Infallible>(route(req, &shared, shutdown).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// Resolves once `shutdown` is true (never, if its sender is gone first).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Why a request failed: its status and message, and the query column.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
    column: Option<usize>,
}

fn bad_request(message: impl Into<String>) -> Failure {
    Failure {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
        column: None,
    }
}

impl From<sluice_store::Error> for Failure {
    fn from(error: sluice_store::Error) -> Failure {
        use sluice_store::Error as E;
        let (status, column) = match &error {
            E::InvalidIndexName { .. } | E::InvalidCursor(_) | E::EventTooLarge { .. } => {
                (StatusCode::BAD_REQUEST, None)
            }
            E::Pipe { column, .. } => (StatusCode::BAD_REQUEST, Some(*column)),
            E::NoSuchIndex(_) | E::NoSuchEvent(_) => (StatusCode::NOT_FOUND, None),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(%error, "store failure");
        }
        Failure {
            status,
            message: error.to_string(),
            column,
        }
    }
}

async fn route(
    req: Request<Incoming>,
    shared: &Shared,
    shutdown: watch::Receiver<bool>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if elastic::is_elastic_path(&path) {
        let (status, body) = elastic::route(req, &path, shared).await;
        return respond(status, &body);
    }
    let query = params(req.uri().query().unwrap_or(""));
    let result = match (req.method(), path.as_str()) {
        (&Method::GET, "/health") => Ok(json!({ "status": "ok" })),
        (&Method::GET, "/metrics") if shared.metrics.is_some() => {
            let render = shared.metrics.as_ref().expect("checked by the guard");
            let mut response = Response::new(Full::new(Bytes::from(render())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return response;
        }
        (&Method::POST, "/api/v1/ingest") => ingest(req, &query, shared).await,
        (&Method::POST, "/loki/api/v1/push") => match loki_push(req, &query, shared).await {
            Ok(()) => {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                return response;
            }
            Err(failure) => Err(failure),
        },
        (&Method::GET, "/api/v1/search") => search(&query, shared).await,
        (&Method::GET, "/api/v1/tail") => match tail::open(req, &query, shared, shutdown).await {
            Ok(response) => return response,
            Err(failure) => Err(failure),
        },
        (&Method::GET, p) if p.starts_with("/api/v1/context/") => {
            context(&p["/api/v1/context/".len()..], &query, shared).await
        }
        (
            _,
            "/health" | "/api/v1/ingest" | "/api/v1/search" | "/api/v1/tail" | "/loki/api/v1/push"
            | "/metrics",
        ) if path != "/metrics" || shared.metrics.is_some() => Err(Failure {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{} is not allowed on {path}", req.method()),
            column: None,
        }),
        _ => Err(Failure {
            status: StatusCode::NOT_FOUND,
            message: format!("no such endpoint: {path}"),
            column: None,
        }),
    };
    match result {
        Ok(body) => respond(StatusCode::OK, &body),
        Err(failure) => {
            let mut body = json!({ "error": failure.message });
            if let Some(column) = failure.column {
                body["column"] = json!(column);
            }
            respond(failure.status, &body)
        }
    }
}

/// The store, or a 404 saying that this listener has none.
fn store_of(shared: &Shared) -> Result<Arc<Store>, Failure> {
    shared.store.clone().ok_or_else(|| Failure {
        status: StatusCode::NOT_FOUND,
        message: "this API has no store: add a `store` sink to the pipeline \
                  (or run `sluice serve`)"
            .into(),
        column: None,
    })
}

fn respond(status: StatusCode, body: &Json) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The Elasticsearch clients refuse a server without it.
    headers.insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

/// Decodes `a=1&b=x%20y` (`+` is a space).
fn params(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn index_param(query: &HashMap<String, String>) -> Result<&str, Failure> {
    let index = query
        .get("index")
        .map(String::as_str)
        .ok_or_else(|| bad_request("missing query parameter `index`"))?;
    sluice_store::validate_index_name(index)?;
    Ok(index)
}

/// Runs store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, sluice_store::Error> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("task failed: {e}"),
            column: None,
        })?
        .map_err(Failure::from)
}

async fn ingest(
    req: Request<Incoming>,
    query: &HashMap<String, String>,
    shared: &Shared,
) -> Result<Json, Failure> {
    let index = index_param(query)?.to_owned();
    let content_type = content_type(&req);
    let body = read_body(req, &shared.options).await?;
    let events = match content_type.as_str() {
        "application/x-ndjson" | "application/ndjson" => ndjson_events(&body),
        "application/json" if body.trim_ascii_start().starts_with(b"[") => array_events(&body)?,
        "application/json" => ndjson_events(&body),
        _ => line_events(&body),
    };
    let accepted = events.len();
    let store = store_of(shared)?;
    blocking(move || store.append(&index, &events)).await?;
    Ok(json!({ "accepted": accepted }))
}

/// The request's body, at most `max_body_bytes` of it (413 past that), and
/// gunzipped when `Content-Encoding: gzip` (Filebeat and Logstash compress
/// by default).
async fn read_body(req: Request<Incoming>, options: &ServerOptions) -> Result<Bytes, Failure> {
    let too_large = || Failure {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("body larger than {} bytes", options.max_body_bytes),
        column: None,
    };
    let encoding = req
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let body = match Limited::new(req.into_body(), options.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return Err(too_large()),
        Err(error) => return Err(bad_request(format!("cannot read body: {error}"))),
    };
    match encoding.as_str() {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => {
            use std::io::Read;
            let mut out = Vec::with_capacity(body.len() * 4);
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(options.max_body_bytes as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad_request(format!("cannot gunzip the body: {e}")))?;
            if out.len() > options.max_body_bytes {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
        other => Err(Failure {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!("Content-Encoding {other:?} is not supported; use gzip or none"),
            column: None,
        }),
    }
}

/// `POST /loki/api/v1/push` (see `loki.rs`).
async fn loki_push(
    req: Request<Incoming>,
    query: &HashMap<String, String>,
    shared: &Shared,
) -> Result<(), Failure> {
    let index = match query.get("index") {
        Some(_) => index_param(query)?.to_owned(),
        None => req
            .headers()
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| loki::DEFAULT_INDEX.to_owned(), str::to_owned),
    };
    sluice_store::validate_index_name(&index)?;
    let content_type = content_type(&req);
    let body = read_body(req, &shared.options).await?;
    let events = loki::events(&content_type, &body)?;
    let store = store_of(shared)?;
    blocking(move || store.append(&index, &events)).await?;
    Ok(())
}

/// The request's media type, lower-cased, without parameters.
fn content_type(req: &Request<Incoming>) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The event time from a `timestamp` or `@timestamp` field holding RFC 3339
/// text or epoch milliseconds, as shippers send it; the field is then
/// consumed. Without one, the event time stays the time of ingest.
fn take_event_time(event: &mut Event) {
    for key in ["@timestamp", "timestamp"] {
        let time = match event.fields.get(key) {
            Some(Value::String(text)) => parse_query_time(text),
            Some(Value::Int(ms)) => ms.checked_mul(1_000_000),
            Some(Value::Timestamp(ns)) => Some(*ns),
            _ => None,
        };
        if let Some(time) = time {
            event.timestamp = time;
            event.fields.remove(key);
            return;
        }
    }
}

fn with_ingest_time(mut event: Event) -> Event {
    if event.ingest_timestamp == 0 {
        event.ingest_timestamp = now_ns();
    }
    event
}

/// One event per non-empty line, the line as the message.
fn line_events(body: &[u8]) -> Vec<Event> {
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| Event::new(message_from_bytes(l).0))
        .collect()
}

/// One event per non-empty line, each a JSON object; a line that is not
/// is kept as a plain message with the error.
fn ndjson_events(body: &[u8]) -> Vec<Event> {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .map(|line| match serde_json::from_slice::<Json>(line) {
            Ok(json) => json_event(&json, line),
            Err(error) => invalid(line, &error.to_string()),
        })
        .collect()
}

fn array_events(body: &[u8]) -> Result<Vec<Event>, Failure> {
    let items: Vec<Json> = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("invalid JSON array: {e}")))?;
    Ok(items
        .iter()
        .map(|item| json_event(item, item.to_string().as_bytes()))
        .collect())
}

fn json_event(json: &Json, raw: &[u8]) -> Event {
    match event_from_json(json) {
        Ok(mut event) => {
            take_event_time(&mut event);
            with_ingest_time(event)
        }
        Err(error) => invalid(raw, &error.to_string()),
    }
}

fn invalid(raw: &[u8], error: &str) -> Event {
    let mut event = Event::new(message_from_bytes(raw).0);
    event.record_error("ingest", &format!("invalid JSON: {error}"));
    event.fields.insert(names::SOURCE, "ingest");
    event
}

/// `from`/`to` as ns; `to` defaults to the far future, `from` to all time.
fn time_range(query: &HashMap<String, String>) -> Result<(i64, i64), Failure> {
    let now = now_ns();
    let bound = |key: &str, default: i64| -> Result<i64, Failure> {
        match query.get(key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(text) => parse_time_at(text, now).ok_or_else(|| {
                bad_request(format!(
                    "`{key}`: cannot read {text:?} as a time; use RFC 3339, epoch milliseconds, or now-1h"
                ))
            }),
        }
    };
    Ok((bound("from", i64::MIN)?, bound("to", i64::MAX)?))
}

fn number<T: std::str::FromStr>(
    query: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, Failure> {
    match query.get(key).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| bad_request(format!("`{key}`: expected a number, got {text:?}"))),
    }
}

fn hit_json(id: &str, event: &Event) -> Json {
    let mut json = event_to_json(event);
    if let Json::Object(map) = &mut json {
        map.insert("_id".into(), json!(id));
    }
    json
}

async fn search(query: &HashMap<String, String>, shared: &Shared) -> Result<Json, Failure> {
    let started = Instant::now();
    let index = index_param(query)?.to_owned();
    let text = query.get("q").map(String::as_str).unwrap_or("*");
    let text = if text.trim().is_empty() { "*" } else { text };
    let (parsed, pipe_at) = sluice_query::parse_until_pipe(text).map_err(|e| Failure {
        status: StatusCode::BAD_REQUEST,
        message: e.message.clone(),
        column: Some(e.column),
    })?;
    let (from, to) = time_range(query)?;
    let options = &shared.options;
    let limit = number(query, "limit", options.default_limit)?.min(options.max_limit);
    let timeout = Duration::from_millis(number(
        query,
        "timeout_ms",
        options.default_timeout.as_millis() as u64,
    )?);
    let mut request = SearchRequest::new(parsed);
    request.from = from;
    request.to = to;
    request.limit = limit;
    request.cursor = query.get("cursor").filter(|c| !c.is_empty()).cloned();
    request.deadline = Some(Instant::now() + timeout);
    request.scan_budget = number(query, "budget", options.default_scan_budget)?;
    let store = store_of(shared)?;
    if pipe_at < text.len() {
        let pipe = sluice_store::parse_pipe(text, pipe_at)?;
        let result = blocking(move || store.aggregate(&index, &request, &pipe)).await?;
        return Ok(json!({
            "columns": result.columns,
            "rows": result.rows,
            "matched": result.matched,
            "took_ms": started.elapsed().as_millis() as u64,
            "partial": result.partial,
            "scanned": result.scanned,
        }));
    }
    let response = blocking(move || store.search(&index, &request)).await?;
    Ok(json!({
        "total": response.total,
        "hits": response.hits.iter().map(|h| hit_json(&h.id, &h.event)).collect::<Vec<_>>(),
        "took_ms": started.elapsed().as_millis() as u64,
        "partial": response.partial,
        "scanned": response.scanned,
        "next_cursor": response.next_cursor,
    }))
}

async fn context(
    id: &str,
    query: &HashMap<String, String>,
    shared: &Shared,
) -> Result<Json, Failure> {
    let index = index_param(query)?.to_owned();
    let before = number(query, "before", 10usize)?.min(1000);
    let after = number(query, "after", 10usize)?.min(1000);
    let (store, id) = (store_of(shared)?, percent_decode(id));
    let context = blocking(move || store.context(&index, &id, before, after)).await?;
    let hits = |hits: &[sluice_store::Hit]| -> Vec<Json> {
        hits.iter().map(|h| hit_json(&h.id, &h.event)).collect()
    };
    Ok(json!({
        "before": hits(&context.before),
        "hit": hit_json(&context.hit.id, &context.hit.event),
        "after": hits(&context.after),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let p = params("index=app&q=level%3AERROR+AND+%22a%20b%22&from=now-1h&x");
        assert_eq!(p["index"], "app");
        assert_eq!(p["q"], "level:ERROR AND \"a b\"");
        assert_eq!(p["from"], "now-1h");
        assert_eq!(p["x"], "");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn bodies_become_events_and_bad_json_is_kept() {
        let lines = line_events(b"one\r\n\ntwo\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].message, "two");
        let nd = ndjson_events(b"{\"message\":\"a\",\"level\":\"WARN\"}\nnot json\n");
        assert_eq!(nd[0].message, "a");
        assert_eq!(nd[1].message, "not json");
        assert_eq!(
            nd[1].fields.get(names::PARSE_ERROR),
            Some(&sluice_event::Value::Bool(true))
        );
        let arr = array_events(b"[{\"message\":\"x\"}, 3]").unwrap();
        assert_eq!(arr.len(), 2);
        assert!(arr[1].fields.get(names::PARSE_ERROR).is_some());
        assert!(array_events(b"[oops").is_err());
    }
}
