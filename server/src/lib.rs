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
//! - OTLP/HTTP logs (`otlp.rs`): `POST /v1/logs`, protobuf or JSON
//!   `ExportLogsServiceRequest`s, into `?index=`, the resource attribute
//!   `sluice.index`, or `otel`; answered once the WAL holds the records.
//! - `GET /api/v1/tail?index=I&q=Q`: live tail over WebSocket, filtered by the
//!   query on the server (`tail.rs` documents the messages).
//! - `GET /health`, and `GET /metrics` (Prometheus text) when the process
//!   has metrics (a pipeline's `[api]`).
//!
//! Errors are JSON, `{"error": ...}`, with the query's `column` when the
//! query is at fault. Bodies may be gzipped (`Content-Encoding: gzip`), and
//! a JSON event's `@timestamp` or `timestamp` (RFC 3339 or epoch ms) is its
//! event time.
//!
//! Security (`auth.rs`, `tls.rs`): with [`ServerOptions::auth`] every
//! endpoint but `/health` and `/ready` needs a token with the endpoint's
//! scope and the index it touches (401, 403, and 429 over the token's
//! concurrency limit, with JSON bodies); with [`ServerOptions::tls`] the
//! listener speaks HTTPS only. Bodies are capped at `max_body_bytes` (413),
//! and a search's deadline and scan budget at `max_timeout` and
//! `max_scan_budget`, whatever the request asks.
//!
//! It is not: live tail or the UI (the server issue adds those). Syslog is a
//! pipeline source (`sluice-io`).

mod arrow;
pub mod auth;
mod elastic;
mod loki;
mod otlp;
mod proto;
pub mod tls;

use auth::authorize;
pub use auth::{Auth, AuthError, Principal, Scope};
pub use tls::{Tls, TlsError};
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
    /// The longest deadline a request may ask for (`timeout_ms` above it
    /// is lowered to it).
    pub max_timeout: Duration,
    /// Rows a search may examine unless the request sets `budget`.
    pub default_scan_budget: u64,
    /// The largest `budget` a request may ask for (lowered to it).
    pub max_scan_budget: u64,
    /// Hits per page unless the request sets `limit` (at most `max_limit`).
    pub default_limit: usize,
    pub max_limit: usize,
    /// The tokens that may call; `None` leaves the API open.
    pub auth: Option<Arc<Auth>>,
    /// Serve HTTPS with this certificate; `None` is plain HTTP.
    pub tls: Option<Tls>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_body_bytes: 64 << 20,
            default_timeout: Duration::from_secs(10),
            max_timeout: Duration::from_secs(60),
            default_scan_budget: 100_000_000,
            max_scan_budget: 1_000_000_000,
            default_limit: 100,
            max_limit: 10_000,
            auth: None,
            tls: None,
        }
    }
}

/// Renders the Prometheus text of `/metrics`.
pub type Metrics = Arc<dyn Fn() -> String + Send + Sync>;

/// A boxed future, for the [`Admin`] calls that wait.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// What a process running pipelines tells its API: `/ready`, `/api/v1/pipelines` and
/// `/api/v1/plugins`. `sluice serve` has none (no pipelines, ready once the store is open).
pub trait Admin: Send + Sync {
    /// `Ok` once every pipeline is running; otherwise why not.
    fn ready(&self) -> Result<(), String>;
    /// Each pipeline's status, as JSON objects.
    fn pipelines(&self) -> Vec<Json>;
    /// Reloads pipeline `name` (every pipeline when `None`) now, answering with each one's
    /// outcome once known.
    fn reload(&self, name: Option<String>) -> BoxFuture<Result<Json, AdminError>>;
    /// The plugins this process can run (built-ins described) and where each is used.
    fn plugins(&self) -> BoxFuture<Json>;
}

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no pipeline named {0:?}")]
    NoSuchPipeline(String),
    #[error("{0}")]
    Failed(String),
}

/// What one listener serves.
pub struct Api {
    /// The store behind ingest, search and context; without one those
    /// endpoints answer 404 and say why.
    pub store: Option<Arc<Store>>,
    /// `/metrics`, when the process has a metrics registry.
    pub metrics: Option<Metrics>,
    /// The pipelines' status and controls, when the process runs pipelines.
    pub admin: Option<Arc<dyn Admin>>,
    pub options: ServerOptions,
}

impl Api {
    /// The store API alone (`sluice serve`).
    pub fn store(store: Arc<Store>) -> Api {
        Api {
            store: Some(store),
            metrics: None,
            admin: None,
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
            tls = api.options.tls.is_some(),
            auth = api.options.auth.as_ref().map(|a| a.file().display().to_string()),
            "api listening"
        );
    }
    // The handler is installed before the first request is served, so a SIGHUP
    // from then on reloads (and never takes the default action, which exits).
    let reloads = api
        .options
        .auth
        .clone()
        .map(|auth| tokio::spawn(reload_on_sighup(auth, hangups())));
    let shared = Arc::new(api);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
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
            match shared.options.tls.clone() {
                None => connection(stream, shared, shutdown).await,
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => connection(stream, shared, shutdown).await,
                    Err(error) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                },
            }
        });
        while connections.try_join_next().is_some() {}
    }
    if let Some(task) = reloads {
        task.abort();
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

/// A stream of SIGHUPs (none where there are no signals).
fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(hup) => Some(hup),
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGHUP; the token file is not reloaded");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// Reloads the token file on every SIGHUP (an invalid file is logged and
/// changes nothing).
async fn reload_on_sighup(auth: Arc<Auth>, hangups: Hangups) {
    #[cfg(unix)]
    if let Some(mut hup) = hangups {
        while hup.recv().await.is_some() {
            let file = auth.file().display().to_string();
            match auth.reload() {
                Ok(tokens) => tracing::info!(%file, tokens, "token file reloaded"),
                Err(error) => {
                    tracing::error!(%file, %error, "token file not reloaded; the previous tokens stay")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (auth, hangups);
}

/// Serves HTTP/1 on one connection (plain or TLS).
async fn connection<IO>(io: IO, shared: Arc<Shared>, shutdown: watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        async move { Ok::<_, Infallible>(route(req, &shared, shutdown).await) }
    });
    // Upgrades: live tail's WebSocket.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
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

/// Every route: its method and path template, where `{name}` stands for one path segment.
/// Anything else is answered 404 (or 405 with `Allow` for a known path), and
/// `openapi.json` documents exactly these: a test keeps the two equal.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/ingest"),
    ("GET", "/api/v1/search"),
    ("POST", "/api/v1/search"),
    ("GET", "/api/v1/context/{id}"),
    ("GET", "/api/v1/fields"),
    ("GET", "/api/v1/indexes"),
    ("GET", "/api/v1/tail"),
    ("GET", "/api/v1/pipelines"),
    ("POST", "/api/v1/pipelines/reload"),
    ("POST", "/api/v1/pipelines/{name}/reload"),
    ("GET", "/api/v1/plugins"),
    ("POST", "/loki/api/v1/push"),
    ("POST", "/v1/logs"),
    // The Elasticsearch subset (elastic.rs).
    ("GET", "/"),
    ("HEAD", "/"),
    ("GET", "/_license"),
    ("POST", "/_bulk"),
    ("PUT", "/_bulk"),
    ("POST", "/{index}/_bulk"),
    ("PUT", "/{index}/_bulk"),
    ("POST", "/{index}/_doc"),
    ("POST", "/{index}/_doc/{id}"),
    ("PUT", "/{index}/_doc/{id}"),
    ("POST", "/{index}/_create/{id}"),
    ("PUT", "/{index}/_create/{id}"),
    ("GET", "/_index_template/{name}"),
    ("HEAD", "/_index_template/{name}"),
    ("PUT", "/_index_template/{name}"),
    ("POST", "/_index_template/{name}"),
    ("GET", "/_template/{name}"),
    ("HEAD", "/_template/{name}"),
    ("PUT", "/_template/{name}"),
    ("POST", "/_template/{name}"),
    ("GET", "/_component_template/{name}"),
    ("HEAD", "/_component_template/{name}"),
    ("PUT", "/_component_template/{name}"),
    ("POST", "/_component_template/{name}"),
    ("GET", "/_ilm/policy/{name}"),
    ("HEAD", "/_ilm/policy/{name}"),
    ("PUT", "/_ilm/policy/{name}"),
    ("POST", "/_ilm/policy/{name}"),
    ("GET", "/_ingest/pipeline/{name}"),
    ("HEAD", "/_ingest/pipeline/{name}"),
    ("PUT", "/_ingest/pipeline/{name}"),
    ("POST", "/_ingest/pipeline/{name}"),
];

/// The OpenAPI 3.1 document of [`ROUTES`], served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Whether `path` fits `template` (`{name}` matches one non-empty segment).
fn fits(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(t), Some(p)) if t == p || (t.starts_with('{') && !p.is_empty()) => {}
            _ => return false,
        }
    }
}

/// The methods [`ROUTES`] has for `path`.
fn methods_of(path: &str) -> Vec<&'static str> {
    ROUTES
        .iter()
        .filter(|(_, template)| fits(template, path))
        .map(|(method, _)| *method)
        .collect()
}

/// Lets the request in (`auth::admit`: 401, 403 on the path's scope, 429),
/// then answers it; a handler's refusal of an index becomes a 403 naming
/// the scope and the index.
async fn route(
    mut req: Request<Incoming>,
    shared: &Shared,
    shutdown: watch::Receiver<bool>,
) -> Response<Full<Bytes>> {
    let elastic = elastic::is_elastic_path(req.uri().path());
    let principal = match auth::admit(&req, shared.options.auth.as_deref(), elastic) {
        Ok(principal) => principal,
        Err(refusal) => return *refusal,
    };
    req.extensions_mut().insert(principal.clone());
    let response = dispatch(req, shared, shutdown).await;
    auth::forbidden(&principal, &response, elastic).unwrap_or(response)
}

async fn dispatch(
    req: Request<Incoming>,
    shared: &Shared,
    shutdown: watch::Receiver<bool>,
) -> Response<Full<Bytes>> {
    let principal = Principal::of(&req);
    let path = req.uri().path().to_owned();
    let methods = methods_of(&path);
    if !methods.contains(&req.method().as_str()) {
        let (status, message) = if methods.is_empty() {
            (StatusCode::NOT_FOUND, format!("no such endpoint: {path}"))
        } else {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not allowed on {path}; use {}",
                    req.method(),
                    methods.join(" or ")
                ),
            )
        };
        let mut response = respond(status, &json!({ "error": message }));
        if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
            if !methods.is_empty() {
                response.headers_mut().insert(hyper::header::ALLOW, allow);
            }
        }
        return response;
    }
    if elastic::is_elastic_path(&path) {
        let (status, body) = elastic::route(req, &path, shared).await;
        return respond(status, &body);
    }
    let query = params(req.uri().query().unwrap_or(""));
    let result = match (req.method(), path.as_str()) {
        (&Method::GET, "/health") => Ok(json!({ "status": "ok" })),
        (&Method::GET, "/ready") => match shared.admin.as_ref().map(|a| a.ready()) {
            None | Some(Ok(())) => Ok(json!({ "status": "ready" })),
            Some(Err(reason)) => {
                return respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "status": "not ready", "reason": reason }),
                )
            }
        },
        (&Method::GET, "/api/v1/pipelines") => Ok(json!({
            "pipelines": shared.admin.as_ref().map(|a| a.pipelines()).unwrap_or_default()
        })),
        (&Method::POST, p) if p.starts_with("/api/v1/pipelines") && p.ends_with("/reload") => {
            let name = p["/api/v1/pipelines".len()..p.len() - "/reload".len()]
                .strip_prefix('/')
                .map(percent_decode);
            reload(name, shared).await
        }
        (&Method::GET, "/api/v1/plugins") => match &shared.admin {
            Some(admin) => Ok(admin.plugins().await),
            None => Err(Failure {
                status: StatusCode::NOT_FOUND,
                message: "this process runs no pipelines, so it has no plugins (`sluice serve`)"
                    .into(),
                column: None,
            }),
        },
        (&Method::GET, "/metrics") if shared.metrics.is_some() => {
            let render = shared.metrics.as_ref().expect("checked by the guard");
            let mut response = Response::new(Full::new(Bytes::from(render())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return response;
        }
        (&Method::GET, "/metrics") => Err(Failure {
            status: StatusCode::NOT_FOUND,
            message: "this process has no pipeline metrics (`sluice serve` runs no pipelines)"
                .into(),
            column: None,
        }),
        (&Method::POST, "/api/v1/ingest") => ingest(req, &query, shared).await,
        (&Method::POST, "/loki/api/v1/push") => match loki_push(req, &query, shared).await {
            Ok(()) => {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                return response;
            }
            Err(failure) => Err(failure),
        },
        (&Method::POST, "/v1/logs") => return otlp::export(req, &query, shared).await,
        (&Method::GET | &Method::POST, "/api/v1/search") => {
            return search(req, query, &principal, shared)
                .await
                .unwrap_or_else(|failure| failure.respond());
        }
        (&Method::GET, "/api/v1/fields") => fields(&query, &principal, shared).await,
        (&Method::GET, "/api/v1/indexes") => indexes(&principal, shared).await,
        (&Method::GET, "/api/v1/tail") => {
            let allowed =
                index_param(&query).and_then(|index| authorize(&principal, Scope::Read, index));
            match allowed {
                Ok(()) => match tail::open(req, &query, shared, shutdown).await {
                    Ok(response) => return response,
                    Err(failure) => Err(failure),
                },
                Err(failure) => Err(failure),
            }
        }
        (&Method::GET, p) if p.starts_with("/api/v1/context/") => {
            context(&p["/api/v1/context/".len()..], &query, &principal, shared).await
        }
        (&Method::GET, "/api/v1/openapi.json") => {
            let mut response = Response::new(Full::new(Bytes::from_static(OPENAPI.as_bytes())));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return response;
        }
        _ => Err(Failure {
            status: StatusCode::NOT_FOUND,
            message: format!("no such endpoint: {path}"),
            column: None,
        }),
    };
    match result {
        Ok(body) => respond(StatusCode::OK, &body),
        Err(failure) => failure.respond(),
    }
}

impl Failure {
    /// The JSON error answer: `{"error": ..., "column": ...}`.
    fn respond(self) -> Response<Full<Bytes>> {
        let mut body = json!({ "error": self.message });
        if let Some(column) = self.column {
            body["column"] = json!(column);
        }
        respond(self.status, &body)
    }
}

/// `POST /api/v1/pipelines[/{name}]/reload`.
async fn reload(name: Option<String>, shared: &Shared) -> Result<Json, Failure> {
    let admin = shared.admin.as_ref().ok_or_else(|| Failure {
        status: StatusCode::NOT_FOUND,
        message: "this process runs no pipelines (`sluice serve`)".into(),
        column: None,
    })?;
    admin.reload(name).await.map_err(|error| Failure {
        status: match error {
            AdminError::NoSuchPipeline(_) => StatusCode::NOT_FOUND,
            AdminError::Failed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        },
        message: error.to_string(),
        column: None,
    })
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
    authorize(&Principal::of(&req), Scope::Ingest, &index)?;
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
    authorize(&Principal::of(&req), Scope::Ingest, &index)?;
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

/// A `GET` search's parameters from the query string; a `POST`'s from its body, a JSON
/// object (`{"q": "...", "index": "...", "limit": 10}`) or a form, over the query string's.
async fn search_params(
    req: Request<Incoming>,
    mut query: HashMap<String, String>,
    shared: &Shared,
) -> Result<(HashMap<String, String>, bool), Failure> {
    let arrow = req
        .headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(arrow::MEDIA_TYPE));
    if req.method() == Method::POST {
        let form = content_type(&req) == "application/x-www-form-urlencoded";
        let body = read_body(req, &shared.options).await?;
        if form {
            query.extend(params(&String::from_utf8_lossy(&body)));
        } else if !body.trim_ascii().is_empty() {
            let object: serde_json::Map<String, Json> = serde_json::from_slice(&body)
                .map_err(|e| bad_request(format!("the body must be a JSON object: {e}")))?;
            for (key, value) in object {
                let text = match value {
                    Json::String(text) => text,
                    Json::Array(items) if key == "fields" => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(","),
                    Json::Null => continue,
                    other => other.to_string(),
                };
                query.insert(key, text);
            }
        }
    }
    Ok((query, arrow))
}

/// What a search found: hits, or an aggregation's rows.
enum Found {
    Hits(sluice_store::SearchResponse),
    Rows(sluice_store::AggResult),
}

async fn search(
    req: Request<Incoming>,
    query: HashMap<String, String>,
    principal: &Principal,
    shared: &Shared,
) -> Result<Response<Full<Bytes>>, Failure> {
    let started = Instant::now();
    let (query, arrow) = search_params(req, query, shared).await?;
    let index = index_param(&query)?.to_owned();
    authorize(principal, Scope::Read, &index)?;
    let text = query.get("q").map(String::as_str).unwrap_or("*");
    let text = if text.trim().is_empty() { "*" } else { text };
    let (parsed, pipe_at) = sluice_query::parse_until_pipe(text).map_err(|e| Failure {
        status: StatusCode::BAD_REQUEST,
        message: e.message.clone(),
        column: Some(e.column),
    })?;
    let (from, to) = time_range(&query)?;
    let options = &shared.options;
    let limit = number(&query, "limit", options.default_limit)?.min(options.max_limit);
    let timeout = Duration::from_millis(number(
        &query,
        "timeout_ms",
        options.default_timeout.as_millis() as u64,
    )?)
    .min(options.max_timeout);
    // Only these fields of each hit, when given (`fields=host,status`).
    let projection: Option<Vec<String>> = query
        .get("fields")
        .filter(|f| !f.trim().is_empty())
        .map(|f| f.split(',').map(|n| n.trim().to_owned()).collect());
    let mut request = SearchRequest::new(parsed);
    request.from = from;
    request.to = to;
    request.limit = limit;
    request.cursor = query.get("cursor").filter(|c| !c.is_empty()).cloned();
    request.deadline = Some(Instant::now() + timeout);
    request.scan_budget =
        number(&query, "budget", options.default_scan_budget)?.min(options.max_scan_budget);
    let store = store_of(shared)?;
    let found = if pipe_at < text.len() {
        let pipe = sluice_store::parse_pipe(text, pipe_at)?;
        Found::Rows(blocking(move || store.aggregate(&index, &request, &pipe)).await?)
    } else {
        let mut response = blocking(move || store.search(&index, &request)).await?;
        if let Some(names) = &projection {
            for hit in &mut response.hits {
                hit.event
                    .fields
                    .retain(|name, _| names.iter().any(|n| n == name));
            }
        }
        Found::Hits(response)
    };
    let took_ms = started.elapsed().as_millis() as u64;
    if arrow {
        return arrow_answer(&found, took_ms);
    }
    let body = match found {
        Found::Rows(result) => json!({
            "columns": result.columns,
            "rows": result.rows,
            "matched": result.matched,
            "took_ms": took_ms,
            "partial": result.partial,
            "scanned": result.scanned,
        }),
        Found::Hits(response) => json!({
            "total": response.total,
            "hits": response.hits.iter().map(|h| hit_json(&h.id, &h.event)).collect::<Vec<_>>(),
            "took_ms": took_ms,
            "partial": response.partial,
            "scanned": response.scanned,
            "next_cursor": response.next_cursor,
        }),
    };
    Ok(respond(StatusCode::OK, &body))
}

/// A search's answer as an Arrow IPC stream; the totals are in the schema's metadata.
fn arrow_answer(found: &Found, took_ms: u64) -> Result<Response<Full<Bytes>>, Failure> {
    let mut metadata = HashMap::from([("took_ms".to_owned(), took_ms.to_string())]);
    let encoded = match found {
        Found::Hits(response) => {
            metadata.insert("total".into(), response.total.to_string());
            metadata.insert("partial".into(), response.partial.to_string());
            metadata.insert("scanned".into(), response.scanned.to_string());
            if let Some(cursor) = &response.next_cursor {
                metadata.insert("next_cursor".into(), cursor.clone());
            }
            arrow::hits(
                response.hits.iter().map(|h| (h.id.as_str(), &h.event)),
                metadata,
            )
        }
        Found::Rows(result) => {
            metadata.insert("matched".into(), result.matched.to_string());
            metadata.insert("partial".into(), result.partial.to_string());
            metadata.insert("scanned".into(), result.scanned.to_string());
            arrow::rows(&result.columns, &result.rows, metadata)
        }
    };
    let bytes = encoded.map_err(|e| Failure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("cannot encode the results as Arrow: {e}"),
        column: None,
    })?;
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(arrow::MEDIA_TYPE));
    Ok(response)
}

async fn context(
    id: &str,
    query: &HashMap<String, String>,
    principal: &Principal,
    shared: &Shared,
) -> Result<Json, Failure> {
    let index = index_param(query)?.to_owned();
    authorize(principal, Scope::Read, &index)?;
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

/// `GET /api/v1/indexes`: each index the caller may read, with its event count.
async fn indexes(principal: &Principal, shared: &Shared) -> Result<Json, Failure> {
    let store = store_of(shared)?;
    let principal = principal.clone();
    let list = blocking(move || {
        store
            .indexes()
            .into_iter()
            .filter(|name| principal.check(Scope::Read, name).is_ok())
            .map(|name| {
                let stats = store.stats(&name)?;
                Ok(json!({
                    "name": name,
                    "events": stats.segment_rows + stats.mem_rows,
                    "segments": stats.segments,
                    "bytes": stats.segment_bytes + stats.wal_bytes,
                }))
            })
            .collect::<Result<Vec<Json>, sluice_store::Error>>()
    })
    .await?;
    Ok(json!({ "indexes": list }))
}

/// `GET /api/v1/fields?index=I[&q=&from=&to=&sample=]`: every field the index has seen, with
/// its detected type, and, from the newest `sample` matching events (500 by default, as
/// Kibana's field list samples), how many of them have it and its five most common values.
async fn fields(
    query: &HashMap<String, String>,
    principal: &Principal,
    shared: &Shared,
) -> Result<Json, Failure> {
    const TOP: usize = 5;
    let index = index_param(query)?.to_owned();
    authorize(principal, Scope::Read, &index)?;
    let text = query.get("q").map(String::as_str).unwrap_or("*");
    let parsed =
        sluice_query::parse(if text.trim().is_empty() { "*" } else { text }).map_err(|e| {
            Failure {
                status: StatusCode::BAD_REQUEST,
                message: e.message.clone(),
                column: Some(e.column),
            }
        })?;
    let (from, to) = time_range(query)?;
    let sample = number(query, "sample", 500usize)?.clamp(1, shared.options.max_limit);
    let mut request = SearchRequest::new(parsed);
    request.from = from;
    request.to = to;
    request.limit = sample;
    request.deadline = Some(Instant::now() + shared.options.default_timeout);
    request.scan_budget = shared.options.default_scan_budget;
    let store = store_of(shared)?;
    let (stats, found) = blocking(move || {
        let stats = store.stats(&index)?;
        Ok((stats, store.search(&index, &request)?))
    })
    .await?;
    // Per field: events having it, and counts per value (keyed by the value's JSON text,
    // so 200 and "200" differ).
    type Values = HashMap<String, (Json, usize)>;
    let mut seen: Vec<(String, usize, Values)> = Vec::new();
    for hit in &found.hits {
        for (name, value) in hit.event.fields.iter() {
            let at = match seen.iter().position(|(n, ..)| n == name) {
                Some(at) => at,
                None => {
                    seen.push((name.to_owned(), 0, HashMap::new()));
                    seen.len() - 1
                }
            };
            let json = sluice_event::value_to_json(value);
            let entry = &mut seen[at];
            entry.1 += 1;
            entry.2.entry(json.to_string()).or_insert((json, 0)).1 += 1;
        }
    }
    let mut names: Vec<&str> = stats.schema.keys().map(String::as_str).collect();
    names.extend(seen.iter().map(|(n, ..)| n.as_str()));
    names.sort_unstable();
    names.dedup();
    let fields: Vec<Json> = names
        .iter()
        .map(|name| {
            let (count, top) = match seen.iter().find(|(n, ..)| n == name) {
                Some((_, count, values)) => {
                    let mut values: Vec<&(Json, usize)> = values.values().collect();
                    values.sort_by(|a, b| {
                        b.1.cmp(&a.1)
                            .then_with(|| a.0.to_string().cmp(&b.0.to_string()))
                    });
                    let top: Vec<Json> = values
                        .iter()
                        .take(TOP)
                        .map(|(value, n)| json!({ "value": value, "count": n }))
                        .collect();
                    (*count, top)
                }
                None => (0, Vec::new()),
            };
            json!({
                "name": name,
                "type": stats.schema.get(*name).map_or("string", String::as_str),
                "count": count,
                "top": top,
            })
        })
        .collect();
    Ok(json!({
        "sampled": found.hits.len(),
        "total": found.total,
        "partial": found.partial,
        "fields": fields,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_documents_exactly_the_routes() {
        let doc: Json = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.to_ascii_uppercase(), path.clone()))
            })
            .collect();
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
        // Every path parameter is declared.
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for op in ops.as_object().unwrap().values() {
                for name in path.split('/').filter_map(|s| s.strip_prefix('{')) {
                    let name = name.trim_end_matches('}');
                    assert!(
                        op["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|p| p["name"] == name && p["in"] == "path"),
                        "{path}: {name} is not declared"
                    );
                }
            }
        }
    }

    #[test]
    fn templates_fit_one_segment_per_name() {
        assert!(fits("/api/v1/context/{id}", "/api/v1/context/abc"));
        assert!(!fits("/api/v1/context/{id}", "/api/v1/context/"));
        assert!(!fits("/api/v1/context/{id}", "/api/v1/context/a/b"));
        assert!(fits("/", "/"));
        assert_eq!(methods_of("/app/_bulk"), ["POST", "PUT"]);
        assert_eq!(methods_of("/api/v1/pipelines/reload"), ["POST"]);
        assert!(methods_of("/nothing/here/at/all").is_empty());
    }

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
