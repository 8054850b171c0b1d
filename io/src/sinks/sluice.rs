//! `sluice`: forwards batches to a central Sluice's `sluice` source over
//! HTTP/1.1 ([`crate::forward`]), the edge → central link without Kafka.
//!
//! The batches that are waiting (up to [`GROUP`]) go in one request, LZ4
//! compressed. They are acknowledged upstream (and so leave a disk buffer)
//! only when the central side answered 200, which it does once they are
//! durable there. A connection error, a timeout, a 5xx, 408 or 429 is
//! retried with jittered exponential backoff until it succeeds or the
//! pipeline shuts down (then the batches stay unacknowledged: a disk buffer
//! keeps them for the next run). A 413 splits the request. Any other 4xx
//! cannot succeed by retrying: the batches go to the dead-letter file,
//! NDJSON with `error.message` and `error.stage` on each event, and the
//! sink goes on.

use super::{SinkContext, SinkError};
use crate::forward;
use crate::{Batch, StageCounters};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use sluice_event::event_to_json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// The most batches one request carries.
pub const GROUP: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SluiceSinkConfig {
    /// The central `sluice` source: `http://host:port` (or `host:port`).
    pub address: String,
    /// Sent as `Authorization: Bearer <token>`; empty is none.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub compression: Compression,
    /// How long one request may take, connecting included, before it is
    /// abandoned and retried.
    #[serde(default = "default_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Where batches the central side refuses for good are written.
    /// Default: `<data_dir>/dead-letter/<sink>.ndjson`.
    #[serde(default)]
    pub dead_letter_path: Option<PathBuf>,
}

fn default_timeout_secs() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Lz4,
    None,
}

/// Why one request did not succeed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// Worth sending again.
    #[error("{0}")]
    Transient(String),
    /// The central side refused the request for good.
    #[error("the central side answered {status}: {body}")]
    Refused { status: StatusCode, body: String },
}

/// One HTTP/1.1 connection to the central side, made again after a failure.
struct Client {
    authority: String,
    token: Option<String>,
    compress: bool,
    timeout: Duration,
    conn: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl Client {
    fn new(config: &SluiceSinkConfig, sink: &str) -> Result<Client, SinkError> {
        let address = config.address.trim();
        let authority = match address.split_once("://") {
            None => address,
            Some(("http", rest)) => rest.trim_end_matches('/'),
            Some((scheme, _)) => {
                return Err(SinkError::Config {
                    sink: sink.to_owned(),
                    message: format!("address: `{scheme}://` is not supported; use `http://host:port` (TLS is not available on this link yet)"),
                })
            }
        };
        if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
            return Err(SinkError::Config {
                sink: sink.to_owned(),
                message: format!("address: `{address}` is not `http://host:port`"),
            });
        }
        Ok(Client {
            authority: authority.to_owned(),
            token: config.token.clone().filter(|t| !t.trim().is_empty()),
            compress: config.compression == Compression::Lz4,
            timeout: Duration::from_secs(config.request_timeout_secs.max(1)),
            conn: Mutex::new(None),
        })
    }

    /// Sends one body; `Ok` once the central side answered 200.
    async fn post(&self, body: Bytes) -> Result<(), Failure> {
        let mut conn = self.conn.lock().await;
        let result = tokio::time::timeout(self.timeout, self.exchange(&mut conn, body)).await;
        let result = result.unwrap_or_else(|_| {
            Err(Failure::Transient(format!(
                "no answer within {:?}",
                self.timeout
            )))
        });
        if matches!(result, Err(Failure::Transient(_))) {
            // The connection may be in any state: start a fresh one.
            *conn = None;
        }
        result
    }

    async fn exchange(
        &self,
        conn: &mut Option<SendRequest<Full<Bytes>>>,
        body: Bytes,
    ) -> Result<(), Failure> {
        let transient = |what: &str, e: &dyn std::fmt::Display| {
            Failure::Transient(format!("{what} {}: {e}", self.authority))
        };
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            let stream = TcpStream::connect(&self.authority)
                .await
                .map_err(|e| transient("cannot connect to", &e))?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| transient("cannot talk HTTP to", &e))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            *conn = Some(sender);
        }
        let sender = conn.as_mut().expect("connected above");
        sender
            .ready()
            .await
            .map_err(|e| transient("connection lost to", &e))?;
        let mut request = Request::post(forward::PATH)
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, forward::CONTENT_TYPE);
        if self.compress {
            request = request.header(CONTENT_ENCODING, forward::LZ4);
        }
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| transient("cannot build a request for", &e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transient("request failed to", &e))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transient("answer cut off from", &e))?
            .to_bytes();
        let body = String::from_utf8_lossy(&body).trim().to_owned();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            Err(Failure::Transient(format!(
                "{} answered {status}: {body}",
                self.authority
            )))
        } else {
            Err(Failure::Refused { status, body })
        }
    }
}

pub async fn run(config: SluiceSinkConfig, mut ctx: SinkContext) -> Result<(), SinkError> {
    let client = Client::new(&config, &ctx.name)?;
    let dead_letter = config.dead_letter_path.clone().unwrap_or_else(|| {
        ctx.data_dir
            .join("dead-letter")
            .join(format!("{}.ndjson", ctx.name))
    });
    tracing::info!(sink = %ctx.name, central = %client.authority, "forwarding");
    loop {
        let batches = ctx.recv_many(GROUP).await;
        if batches.is_empty() {
            return Ok(());
        }
        match send(&client, &ctx, &dead_letter, &batches).await {
            Ok(()) => {}
            Err(Stop::ShutDown(reason)) => {
                // Not an error: a disk buffer (or the sources) still hold
                // these, and they are sent on the next run.
                batches.iter().for_each(|b| b.acks.fail());
                let failed = ctx.fail_rest().await;
                let held: usize = batches.iter().map(|b| b.len()).sum();
                tracing::warn!(sink = %ctx.name, events = failed + held as u64, %reason, "shut down while the central side could not take these events; they are not acknowledged and will be sent on the next run");
                return Ok(());
            }
            Err(Stop::Failed(error)) => {
                batches.iter().for_each(|b| b.acks.fail());
                ctx.fail_rest().await;
                return Err(error);
            }
        }
        // Dropping the batches acknowledges them: central holds them, or
        // the dead-letter file does.
    }
}

/// Why [`send`] stopped before delivering everything.
enum Stop {
    /// The pipeline shut down before a transient failure cleared.
    ShutDown(String),
    /// The dead-letter file cannot be written.
    Failed(SinkError),
}

/// Delivers `batches` to central, splitting on 413 and dead-lettering
/// what is refused for good.
async fn send(
    client: &Client,
    ctx: &SinkContext,
    dead_letter: &std::path::Path,
    batches: &[Batch],
) -> Result<(), Stop> {
    // Splitting halves the group; the stack holds what is left to send.
    let mut pending = vec![batches];
    while let Some(group) = pending.pop() {
        let (body, _) = forward::encode(group.iter().map(|b| &b.events), client.compress);
        let body = Bytes::from(body);
        let result = ctx
            .retry(|| async {
                match client.post(body.clone()).await {
                    Err(Failure::Transient(reason)) => Err(reason),
                    other => Ok(other),
                }
            })
            .await;
        let events: usize = group.iter().map(|b| b.len()).sum();
        match result {
            Ok(Ok(())) => StageCounters::add(&ctx.counters.events_out, events),
            Ok(Err(Failure::Refused { status, .. }))
                if status == StatusCode::PAYLOAD_TOO_LARGE && group.len() > 1 =>
            {
                let (a, b) = group.split_at(group.len() / 2);
                pending.push(b);
                pending.push(a);
            }
            Ok(Err(refused)) => {
                let reason = refused.to_string();
                tracing::error!(sink = %ctx.name, events, path = %dead_letter.display(), %reason, "the central side refused a batch for good; writing it to the dead-letter file");
                write_dead_letter(dead_letter, &ctx.name, &reason, group)
                    .await
                    .map_err(|error| {
                        Stop::Failed(SinkError::Io {
                            sink: ctx.name.clone(),
                            path: dead_letter.to_owned(),
                            error,
                        })
                    })?;
                StageCounters::add(&ctx.counters.errors, events);
            }
            Err(reason) => return Err(Stop::ShutDown(reason)),
        }
    }
    Ok(())
}

/// Appends the events, each marked with the reason, as NDJSON and syncs.
async fn write_dead_letter(
    path: &std::path::Path,
    sink: &str,
    reason: &str,
    batches: &[Batch],
) -> std::io::Result<()> {
    let mut out = Vec::new();
    for batch in batches {
        let events = batch.decode().map_err(std::io::Error::other)?;
        for mut event in events {
            event.record_error(sink, reason);
            serde_json::to_writer(&mut out, &event_to_json(&event))?;
            out.push(b'\n');
        }
    }
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        file.write_all(&out)?;
        file.sync_data()
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sluice::{run_with_listener, SluiceSourceConfig};
    use crate::sources::test_support::{channel, EventReceiver};
    use crate::sources::SourceContext;
    use crate::{Acks, Delivery};
    use sluice_event::packed::PackedBatch;
    use sluice_event::{names, Event, Value};
    use std::net::SocketAddr;
    use tokio::net::TcpListener;
    use tokio::sync::{mpsc, oneshot, watch};

    /// A central `sluice` source whose pipeline is the returned receiver.
    struct Central {
        addr: SocketAddr,
        rx: EventReceiver,
        stop: watch::Sender<bool>,
    }

    async fn central_on(listener: TcpListener, max_body_bytes: usize, tokens: &[&str]) -> Central {
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = channel(64);
        let (stop, shutdown) = watch::channel(false);
        let ctx = SourceContext {
            name: "edges".into(),
            out: tx,
            shutdown,
            data_dir: ".".into(),
            counters: Default::default(),
            acknowledgements: true,
        };
        let config = SluiceSourceConfig {
            address: addr,
            max_body_bytes,
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
        };
        tokio::spawn(run_with_listener(config, listener, ctx));
        Central { addr, rx, stop }
    }

    async fn central(max_body_bytes: usize, tokens: &[&str]) -> Central {
        central_on(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            max_body_bytes,
            tokens,
        )
        .await
    }

    /// An edge `sluice` sink: the sender feeding it, its task, and the
    /// dead-letter file.
    struct Edge {
        tx: mpsc::Sender<Batch>,
        task: tokio::task::JoinHandle<Result<(), SinkError>>,
        dead_letter: PathBuf,
        _dir: tempfile::TempDir,
        stop: watch::Sender<bool>,
    }

    fn edge(addr: SocketAddr, token: Option<&str>) -> Edge {
        let dir = tempfile::tempdir().unwrap();
        let dead_letter = dir.path().join("dead.ndjson");
        let config = SluiceSinkConfig {
            address: format!("http://{addr}"),
            token: token.map(str::to_owned),
            compression: Compression::Lz4,
            request_timeout_secs: 10,
            dead_letter_path: Some(dead_letter.clone()),
        };
        let (tx, mut ctx) = super::super::test_context(64);
        let (stop, shutdown) = watch::channel(false);
        ctx.shutdown = shutdown;
        let task = tokio::spawn(run(config, ctx));
        Edge {
            tx,
            task,
            dead_letter,
            _dir: dir,
            stop,
        }
    }

    fn events(first: usize, n: usize) -> PackedBatch {
        let events: Vec<Event> = (first..first + n)
            .map(|i| {
                let mut e = Event::new(format!("line {i}"));
                e.fields.insert("n", i as i64);
                e
            })
            .collect();
        PackedBatch::from_events(&events).unwrap()
    }

    /// Sends a batch into the edge sink; the receiver says how it settled.
    async fn send(edge: &Edge, batch: PackedBatch) -> oneshot::Receiver<Delivery> {
        let (done, settled) = oneshot::channel();
        let acks = Acks::new(move |d| {
            let _ = done.send(d);
        });
        edge.tx.send(Batch::new(batch, acks)).await.unwrap();
        settled
    }

    #[tokio::test]
    async fn batches_arrive_whole_and_settle_only_when_central_holds_them() {
        let mut central = central(1 << 20, &["other, s3cret", ""]).await;
        let edge = edge(central.addr, Some("s3cret"));
        let mut settled = send(&edge, events(0, 3)).await;
        let held = central.rx.recv_batch().await.unwrap();
        let got = held.decode().unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].message, "line 2");
        assert_eq!(got[2].fields.get("n"), Some(&Value::Int(2)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            settled.try_recv().is_err(),
            "acknowledged before central let go"
        );
        drop(held);
        assert_eq!(settled.await.unwrap(), Delivery::Delivered);
        drop(edge.tx);
        edge.task.await.unwrap().unwrap();
        assert!(!edge.dead_letter.exists());
        let _ = central.stop.send(true);
    }

    #[tokio::test]
    async fn a_central_that_is_down_is_retried_until_it_comes_up() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let edge = edge(addr, None);
        let settled = send(&edge, events(0, 2)).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Up, on the same port, after a few refused connections.
        let mut central = central_on(TcpListener::bind(addr).await.unwrap(), 1 << 20, &[]).await;
        let got = central.rx.recv().await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(settled.await.unwrap(), Delivery::Delivered);

        // Central answers 503 (its pipeline failed the batch): sent again.
        let settled = send(&edge, events(2, 1)).await;
        let failed = central.rx.recv_batch().await.unwrap();
        failed.acks.fail();
        drop(failed);
        let again = central.rx.recv().await.unwrap();
        assert_eq!(again[0].message, "line 2");
        assert_eq!(settled.await.unwrap(), Delivery::Delivered);
        let _ = central.stop.send(true);
    }

    #[tokio::test]
    async fn refused_batches_go_to_the_dead_letter_file_and_the_sink_goes_on() {
        let mut central = central(1 << 20, &["right"]).await;
        let wrong = edge(central.addr, Some("wrong"));
        let settled = send(&wrong, events(0, 2)).await;
        // The events are safe in the dead-letter file: acknowledged.
        assert_eq!(settled.await.unwrap(), Delivery::Delivered);
        let text = std::fs::read_to_string(&wrong.dead_letter).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["message"], "line 1");
        let fields = &lines[1]["fields"];
        assert_eq!(fields["n"], 1);
        assert_eq!(fields[names::PARSE_ERROR], true);
        assert_eq!(fields[names::ERROR_STAGE], "out");
        let reason = fields[names::ERROR_MESSAGE].as_str().unwrap();
        assert!(reason.contains("403"), "{reason}");
        assert!(reason.contains("not one this source accepts"), "{reason}");
        // The sink is still running.
        let settled = send(&wrong, events(2, 1)).await;
        assert_eq!(settled.await.unwrap(), Delivery::Delivered);
        assert_eq!(
            std::fs::read_to_string(&wrong.dead_letter)
                .unwrap()
                .lines()
                .count(),
            3
        );
        assert!(central.rx.try_recv().is_err());
        let _ = wrong.stop.send(true);
        let _ = central.stop.send(true);
    }

    #[tokio::test]
    async fn a_request_too_large_is_split_and_a_single_batch_too_large_is_dead_lettered() {
        let mut central = central(4096, &[]).await;
        let edge = edge(central.addr, None);
        // Queue three batches before the sink takes any, so they form one
        // request; together they pass 4 KiB, each alone does not.
        let mut settles = Vec::new();
        for i in 0..3 {
            settles.push(send(&edge, events(i * 40, 40)).await);
        }
        let mut got = Vec::new();
        while got.len() < 120 {
            got.extend(central.rx.recv().await.unwrap());
        }
        let mut numbers: Vec<i64> = got
            .iter()
            .map(|e| match e.fields.get("n") {
                Some(Value::Int(n)) => *n,
                other => panic!("{other:?}"),
            })
            .collect();
        numbers.sort();
        assert_eq!(numbers, (0..120).collect::<Vec<_>>());
        for settled in settles {
            assert_eq!(settled.await.unwrap(), Delivery::Delivered);
        }
        let settled = send(&edge, events(1000, 400)).await;
        assert_eq!(settled.await.unwrap(), Delivery::Delivered);
        let text = std::fs::read_to_string(&edge.dead_letter).unwrap();
        assert_eq!(text.lines().count(), 400);
        assert!(text.contains("413"), "{}", &text[..300]);
        let _ = central.stop.send(true);
    }

    #[tokio::test]
    async fn shutting_down_while_central_is_down_leaves_the_batch_unacknowledged() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let edge = edge(addr, None);
        let settled = send(&edge, events(0, 1)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        edge.stop.send(true).unwrap();
        assert_eq!(settled.await.unwrap(), Delivery::Failed);
        edge.task.await.unwrap().expect("stopping is not an error");
        assert!(!edge.dead_letter.exists());
    }

    #[test]
    fn addresses_are_checked() {
        let config = |address: &str| SluiceSinkConfig {
            address: address.into(),
            token: None,
            compression: Compression::None,
            request_timeout_secs: 1,
            dead_letter_path: None,
        };
        assert_eq!(
            Client::new(&config("http://h:9400/"), "s")
                .unwrap()
                .authority,
            "h:9400"
        );
        assert_eq!(
            Client::new(&config("h:9400"), "s").unwrap().authority,
            "h:9400"
        );
        let https = Client::new(&config("https://h:9400"), "s")
            .err()
            .unwrap()
            .to_string();
        assert!(https.contains("`https://` is not supported"), "{https}");
        assert!(Client::new(&config("http://h"), "s").is_err());
    }
}
