//! `http`: accepts log lines or NDJSON in HTTP/1.1 POST bodies.
//!
//! A request is answered `200 {"accepted":N}` only once its events are in
//! the pipeline's channel, so a client that sees 200 knows they were taken;
//! a full channel slows the response down rather than dropping anything.

use super::{SourceContext, SourceError, MAX_BATCH};
use crate::{Acks, Delivery, Events};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use sluice_event::packed::PackedBatch;
use sluice_event::{event_from_json, message_from_bytes, names, Event};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The address to listen on, e.g. `127.0.0.1:8080`.
    pub address: SocketAddr,
    /// The only path that accepts events; others get 404.
    #[serde(default = "default_path")]
    pub path: String,
    /// The largest request body accepted; larger ones get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How bodies are split into events.
    #[serde(default)]
    pub decoding: Decoding,
}

fn default_path() -> String {
    "/".to_owned()
}
fn default_max_body_bytes() -> usize {
    10 * 1024 * 1024
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoding {
    /// NDJSON when the `Content-Type` is `application/x-ndjson` or
    /// `application/json`, lines otherwise.
    #[default]
    Auto,
    /// One event per line, the line being the message.
    Lines,
    /// One event per line, each line a JSON object.
    Ndjson,
}

/// How long in-flight requests get to finish after shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `config.address` and serves until shutdown.
pub async fn run(config: HttpConfig, ctx: SourceContext) -> Result<(), SourceError> {
    let listener = bind(config.address, &ctx).await?;
    run_with_listener(config, listener, ctx).await
}

/// Binds a source's listener; the error names the source and the address.
pub(crate) async fn bind(
    address: SocketAddr,
    ctx: &SourceContext,
) -> Result<TcpListener, SourceError> {
    TcpListener::bind(address)
        .await
        .map_err(|error| SourceError::Io {
            source_name: ctx.name.clone(),
            path: address.to_string().into(),
            error,
        })
}

/// Serves on an already bound listener until shutdown; then stops accepting,
/// lets in-flight requests finish (for a while) and returns.
pub async fn run_with_listener(
    config: HttpConfig,
    listener: TcpListener,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(source = %ctx.name, %addr, path = %config.path, "listening");
    }
    let ctx = Arc::new(ctx);
    let config = Arc::new(config);
    serve(listener, ctx.clone(), move |req| {
        let (ctx, config) = (ctx.clone(), config.clone());
        async move { handle(req, &config, &ctx).await }
    })
    .await;
    Ok(())
}

/// The HTTP/1.1 accept loop of the sources that take requests: serves each
/// connection with `handle` until `ctx` shuts down, then stops accepting,
/// lets in-flight requests finish (for a while) and returns.
pub(crate) async fn serve<H, F>(listener: TcpListener, ctx: Arc<SourceContext>, handle: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(source = %ctx.name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = ctx.shutdown_signal() => break,
        };
        let (ctx, handle) = (ctx.clone(), handle.clone());
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let answer = handle(req);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = ctx.shutdown_signal() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(source = %ctx.name, %peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(source = %ctx.name, "requests still in flight at shutdown were cut off");
    }
}

async fn handle(
    req: Request<Incoming>,
    config: &HttpConfig,
    ctx: &SourceContext,
) -> Response<Full<Bytes>> {
    if let Some(refused) = refuse_route(&req, &config.path) {
        return refused;
    }
    let ndjson = match config.decoding {
        Decoding::Lines => false,
        Decoding::Ndjson => true,
        Decoding::Auto => is_json(req.headers().get(CONTENT_TYPE)),
    };
    let body = match read_body(req, config.max_body_bytes, ctx).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let events = decode(&body, ndjson, &ctx.name);
    let batches = events.chunks(MAX_BATCH).flat_map(super::pack).collect();
    deliver(ctx, batches).await
}

/// The refusal (404, 405) of a request that is not a `POST` to `path`.
pub(crate) fn refuse_route(req: &Request<Incoming>, path: &str) -> Option<Response<Full<Bytes>>> {
    if req.uri().path() != path {
        return Some(reply(StatusCode::NOT_FOUND, "no such path"));
    }
    if req.method() != Method::POST {
        let mut response = reply(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return Some(response);
    }
    None
}

/// Reads a whole body of at most `max` bytes (413 past it, whether the
/// length is declared or only found while reading).
pub(crate) async fn read_body(
    req: Request<Incoming>,
    max: usize,
    ctx: &SourceContext,
) -> Result<Bytes, Response<Full<Bytes>>> {
    let too_large = || reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(too_large()),
        Err(error) => {
            tracing::debug!(source = %ctx.name, %error, "cannot read request body");
            Err(reply(StatusCode::BAD_REQUEST, "cannot read body"))
        }
    }
}

/// Sends a request's batches down the pipeline and answers once every sink
/// holds them durably: `200 {"accepted":N}`, or 503 when they could not be
/// delivered (the client sends them again).
pub(crate) async fn deliver(
    ctx: &SourceContext,
    batches: Vec<PackedBatch>,
) -> Response<Full<Bytes>> {
    let accepted: usize = batches.iter().map(PackedBatch::len).sum();
    let (done, delivered) = tokio::sync::oneshot::channel();
    let acks = Acks::new(move |d| {
        let _ = done.send(d);
    });
    for batch in batches {
        if !ctx.send_packed(batch, acks.clone()).await {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "pipeline is shutting down");
        }
    }
    drop(acks);
    match delivered.await {
        Ok(Delivery::Delivered) => {
            json_response(StatusCode::OK, format!(r#"{{"accepted":{accepted}}}"#))
        }
        Ok(Delivery::Failed) | Err(_) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "the events could not be delivered; send them again",
        ),
    }
}

/// Whether a `Content-Type` names NDJSON or JSON, ignoring parameters.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("application/x-ndjson")
        || mime.eq_ignore_ascii_case("application/json")
}

/// Splits a body into events, one per non-empty line. As NDJSON, a line
/// that is not a JSON object is kept as a plain message marked with an error.
fn decode(body: &[u8], ndjson: bool, source_name: &str) -> Events {
    let mut events = Vec::new();
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || (ndjson && line.trim_ascii().is_empty()) {
            continue;
        }
        let mut event = if ndjson {
            json_event(line, source_name)
        } else {
            Event::new(message_from_bytes(line).0)
        };
        event.fields.insert(names::SOURCE, "http");
        events.push(event);
    }
    events
}

fn json_event(line: &[u8], source_name: &str) -> Event {
    let error = match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(json) => match event_from_json(&json) {
            Ok(event) => return event,
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    let mut event = Event::new(message_from_bytes(line).0);
    event.record_error(source_name, &format!("invalid JSON: {error}"));
    event
}

pub(crate) fn reply(status: StatusCode, error: &str) -> Response<Full<Bytes>> {
    json_response(status, serde_json::json!({ "error": error }).to_string())
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let json = HeaderValue::from_static("application/json");
    response.headers_mut().insert(CONTENT_TYPE, json);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_event::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::watch;

    struct Server {
        addr: SocketAddr,
        rx: crate::sources::test_support::EventReceiver,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<Result<(), SourceError>>,
    }

    async fn start(max_body_bytes: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = HttpConfig {
            address: addr,
            path: "/logs".into(),
            max_body_bytes,
            decoding: Decoding::Auto,
        };
        let (tx, rx) = crate::sources::test_support::channel(16);
        let (stop, shutdown) = watch::channel(false);
        let ctx = SourceContext {
            name: "web".into(),
            out: tx,
            shutdown,
            data_dir: ".".into(),
            counters: Default::default(),
            acknowledgements: true,
        };
        let task = tokio::spawn(run_with_listener(config, listener, ctx));
        Server {
            addr,
            rx,
            stop,
            task,
        }
    }

    /// Sends one raw HTTP/1.1 request; returns the status and the body.
    async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "{head}\r\nHost: test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // The server may answer (413) before taking the whole body.
        let _ = stream.write_all(body).await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        let response = String::from_utf8(response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }

    fn field<'a>(event: &'a Event, name: &str) -> Option<&'a Value> {
        event.fields.get(name)
    }

    #[tokio::test]
    async fn plain_lines_become_one_event_each() {
        let mut server = start(1024).await;
        let body = b"first line\r\n\nsecond line\nthird";
        let answer = tokio::spawn(request(server.addr, "POST /logs HTTP/1.1", body));
        let batch = server.rx.recv().await.unwrap();
        let (status, reply) = answer.await.unwrap();
        assert_eq!((status, reply.as_str()), (200, r#"{"accepted":3}"#));
        let messages: Vec<_> = batch.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["first line", "second line", "third"]);
        assert!(batch
            .iter()
            .all(|e| field(e, names::SOURCE) == Some(&"http".into())));
        server.stop.send(true).unwrap();
        server.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn ndjson_is_decoded_and_bad_lines_are_kept_with_an_error() {
        let mut server = start(1024).await;
        let head = "POST /logs HTTP/1.1\r\nContent-Type: application/x-ndjson; charset=utf-8";
        let body =
            b"{\"message\":\"hi\",\"level\":\"WARN\",\"http\":{\"status\":503}}\nnot json\n[1]\n";
        let answer = tokio::spawn(request(server.addr, head, body));
        let batch = server.rx.recv().await.unwrap();
        let (status, reply) = answer.await.unwrap();
        assert_eq!((status, reply.as_str()), (200, r#"{"accepted":3}"#));
        assert_eq!(batch[0].message, "hi");
        assert_eq!(field(&batch[0], "level"), Some(&"WARN".into()));
        assert_eq!(field(&batch[0], "http.status"), Some(&Value::Int(503)));
        assert_eq!(field(&batch[0], names::PARSE_ERROR), None);
        for (event, raw) in batch[1..].iter().zip(["not json", "[1]"]) {
            assert_eq!(event.message, raw);
            assert_eq!(field(event, names::PARSE_ERROR), Some(&Value::Bool(true)));
            assert_eq!(field(event, names::ERROR_STAGE), Some(&"web".into()));
            let error = field(event, names::ERROR_MESSAGE)
                .and_then(Value::as_str)
                .unwrap();
            assert!(error.starts_with("invalid JSON: "), "{error}");
            assert_eq!(field(event, names::SOURCE), Some(&"http".into()));
        }
    }

    #[tokio::test]
    async fn oversized_bodies_wrong_methods_and_paths_are_refused() {
        let mut server = start(16).await;
        let big = [b'x'; 64];
        assert_eq!(
            request(server.addr, "POST /logs HTTP/1.1", &big).await.0,
            413
        );
        assert_eq!(request(server.addr, "GET /logs HTTP/1.1", b"").await.0, 405);
        assert_eq!(
            request(server.addr, "POST /other HTTP/1.1", b"a\n").await.0,
            404
        );
        assert!(server.rx.try_recv().is_err());
        // Chunked, so the limit is only found while reading.
        let head = "POST /logs HTTP/1.1\r\nTransfer-Encoding: chunked";
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let chunked = format!(
            "{head}\r\nHost: t\r\nConnection: close\r\n\r\n40\r\n{}\r\n0\r\n\r\n",
            "y".repeat(64)
        );
        stream.write_all(chunked.as_bytes()).await.unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    }

    #[tokio::test]
    async fn the_answer_waits_until_the_events_are_delivered() {
        let mut server = start(1024).await;
        let answer = tokio::spawn(request(server.addr, "POST /logs HTTP/1.1", b"a\nb\n"));
        let held = server.rx.recv_batch().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!answer.is_finished(), "answered before the sink let go");
        drop(held);
        assert_eq!(answer.await.unwrap().0, 200);

        // A sink that fails the batch makes the client send it again.
        let answer = tokio::spawn(request(server.addr, "POST /logs HTTP/1.1", b"c\n"));
        let failed = server.rx.recv_batch().await.unwrap();
        failed.acks.fail();
        drop(failed);
        assert_eq!(answer.await.unwrap().0, 503);
    }

    #[tokio::test]
    async fn downstream_gone_is_503_and_shutdown_stops_accepting() {
        let Server {
            addr,
            rx,
            stop,
            task,
        } = start(1024).await;
        drop(rx);
        assert_eq!(request(addr, "POST /logs HTTP/1.1", b"lost\n").await.0, 503);
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
