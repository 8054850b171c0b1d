//! `GET /api/v1/tail?index=I&q=Q`: live tail over WebSocket (RFC 6455).
//!
//! The query `q` (the search language without a `|` pipe; empty or missing is `*`) is
//! parsed before the upgrade: a bad one answers `400 {"error", "column"}` like a search, and
//! so does a bad `index`. The session subscribes to the index's appends
//! ([`Store::subscribe`]) before the `101` is sent, so every event appended once the client
//! holds the `101` is seen, whichever path wrote it (HTTP ingest, the shippers' APIs,
//! pipelines' `store` sinks). Filtering happens here, per session, with `Query::matches` on
//! each appended event; every event is rendered to JSON at most once for all sessions.
//!
//! Server → client, text frames, one JSON object each:
//!
//! - `{"type":"events","events":[hit, ...]}`: matching events in append order, each in the
//!   form of a search hit (the event's JSON plus `_id`, for `/api/v1/context/{_id}`). What
//!   arrived together is sent together (one frame per wake-up, up to `MAX_FRAME_BYTES`).
//! - `{"type":"skipped","count":N}`: the session fell behind (the client read too slowly)
//!   and `N` events appended to the index at this point were dropped for it unexamined, so
//!   some of them may have matched. Ingestion never waits for a session.
//!
//! The server pings every 30 s and answers pings; messages from the client are ignored.
//! The session ends when the client closes (or its connection fails), with close code 1001
//! when the server shuts down, and 1011 if the store goes away.

use crate::{bad_request, index_param, stopped, store_of, Failure, Shared};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sluice_query::Query;
use sluice_store::{Received, Subscription};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How often the server pings an idle client (so a vanished peer is noticed).
const PING_EVERY: Duration = Duration::from_secs(30);
/// An events frame is cut here (the batches waiting are sent in several frames).
const MAX_FRAME_BYTES: usize = 1 << 20;
/// Batches taken per wake-up at most.
const MAX_BATCHES_PER_WAKE: usize = 256;
/// How long a closing handshake may take before the connection is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Checks the request, subscribes, and answers `101 Switching Protocols`; the session runs
/// on its own task once hyper hands over the connection.
pub(crate) async fn open(
    mut req: Request<Incoming>,
    params: &HashMap<String, String>,
    shared: &Shared,
    shutdown: watch::Receiver<bool>,
) -> Result<Response<Full<Bytes>>, Failure> {
    let index = index_param(params)?;
    let text = params.get("q").map(String::as_str).unwrap_or("*");
    let text = if text.trim().is_empty() { "*" } else { text };
    let query = sluice_query::parse(text).map_err(|e| Failure {
        status: StatusCode::BAD_REQUEST,
        message: e.message.clone(),
        column: Some(e.column),
    })?;
    let store = store_of(shared)?;
    let key = websocket_key(&req)?;
    let subscription = store.subscribe(index)?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                session(ws, query, subscription, shutdown).await;
            }
            Err(error) => tracing::debug!(%error, "tail: upgrade failed"),
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = derive_accept_key(key.as_bytes());
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    Ok(response)
}

/// The client's `Sec-WebSocket-Key`, once the request is a WebSocket upgrade (version 13).
fn websocket_key(req: &Request<Incoming>) -> Result<String, Failure> {
    let header = |name| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let not_upgrade = || Failure {
        status: StatusCode::UPGRADE_REQUIRED,
        message: "/api/v1/tail is a WebSocket endpoint: connect with a WebSocket client".into(),
        column: None,
    };
    if !header(UPGRADE).iter().any(|v| v == "websocket")
        || !header(CONNECTION).iter().any(|v| v == "upgrade")
    {
        return Err(not_upgrade());
    }
    if header(hyper::header::SEC_WEBSOCKET_VERSION) != ["13"] {
        return Err(bad_request("unsupported Sec-WebSocket-Version; use 13"));
    }
    req.headers()
        .get(SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| bad_request("missing Sec-WebSocket-Key"))
}

async fn session<S>(
    mut ws: WebSocketStream<S>,
    query: Query,
    mut subscription: Subscription,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        let frames = tokio::select! {
            _ = stopped(&mut shutdown) => {
                close(&mut ws, CloseCode::Away, "server shutting down").await;
                return;
            }
            incoming = ws.next() => match incoming {
                None | Some(Err(_)) => return,
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued the answering close frame; send it.
                    let _ = tokio::time::timeout(CLOSE_WAIT, ws.flush()).await;
                    return;
                }
                // A ping's pong is queued by tungstenite and goes out with this flush.
                Some(Ok(_)) => Vec::new(),
            },
            received = subscription.recv() => match received {
                Some(first) => render(&query, first, &mut subscription),
                None => {
                    close(&mut ws, CloseCode::Error, "the store closed").await;
                    return;
                }
            },
            _ = ping.tick() => vec![Message::Ping(Bytes::new())],
        };
        let send = async {
            for frame in frames {
                ws.feed(frame).await?;
            }
            ws.flush().await
        };
        // A client that does not read blocks the send; shutdown still ends the session.
        tokio::select! {
            sent = send => if sent.is_err() { return },
            _ = stopped(&mut shutdown) => return,
        }
    }
}

/// The frames for `first` and whatever else is waiting (in order): events frames, and a
/// skipped frame wherever the session lost events.
fn render(query: &Query, first: Received, subscription: &mut Subscription) -> Vec<Message> {
    const HEAD: &str = r#"{"type":"events","events":["#;
    let mut frames = Vec::new();
    let mut events = String::from(HEAD);
    let mut count = 0usize;
    let mut next = Some(first);
    let mut drained = 0;
    let flush = |events: &mut String, count: &mut usize, frames: &mut Vec<Message>| {
        if *count > 0 {
            events.push_str("]}");
            frames.push(Message::text(std::mem::replace(events, HEAD.to_owned())));
            *count = 0;
        }
    };
    while let Some(received) = next.take() {
        if received.skipped > 0 {
            flush(&mut events, &mut count, &mut frames);
            let skipped = format!(r#"{{"type":"skipped","count":{}}}"#, received.skipped);
            frames.push(Message::text(skipped));
        }
        let batch = &received.batch;
        for (i, event) in batch.events().iter().enumerate() {
            if !query.matches(event) {
                continue;
            }
            if count > 0 {
                if events.len() >= MAX_FRAME_BYTES {
                    flush(&mut events, &mut count, &mut frames);
                } else {
                    events.push(',');
                }
            }
            events.push_str(batch.hit_json(i));
            count += 1;
        }
        // Bounded, so a session under a flood still interleaves its own reads and writes.
        drained += 1;
        if drained < MAX_BATCHES_PER_WAKE {
            next = subscription.try_recv();
        }
    }
    flush(&mut events, &mut count, &mut frames);
    frames
}

async fn close<S>(ws: &mut WebSocketStream<S>, code: CloseCode, reason: &'static str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(Some(frame))).await;
}
