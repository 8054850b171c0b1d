//! `syslog`: receives syslog messages over TCP, UDP or both, as rsyslog,
//! syslog-ng, journald forwarding, network devices and util-linux `logger`
//! send them.
//!
//! Each message is parsed as RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID
//! MSGID [SD] MSG`) or RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`),
//! chosen per message by the version digit after the PRI. The PRI gives
//! `facility` (its name), `severity` (its name) and `level`; the timestamp
//! the event time (RFC 3164 has no year and no zone: the year that puts it
//! nearest to now, in the configured `timezone`); the hostname `host`; the
//! app name or tag `service`; the process id `pid`; the MSGID `msgid`; each
//! structured-data parameter `sd.<id>.<name>` (repeated ones as a JSON
//! array); the rest, without a UTF-8 BOM, is the `message`. `source` is
//! `syslog` and `source_ip` the sender's address. A message that cannot be
//! parsed is kept whole as the message and marked with the error
//! (`parse_error`), never dropped.
//!
//! TCP framing (RFC 6587) is detected per frame: a frame starting with a
//! digit is octet-counted (`LEN SP MSG`), anything else ends at a newline.
//! UDP takes one message per datagram. Messages over `max_message_bytes`
//! are cut and marked. Syslog has no acknowledgement: TCP connections are
//! read only as fast as the pipeline takes events (backpressure reaches the
//! sender through TCP's window); UDP datagrams that arrive while the
//! pipeline is full wait in the socket buffer and past that are lost by
//! the kernel, as with any UDP syslog receiver.

use super::{SourceContext, SourceError, MAX_BATCH};
use crate::Events;
use serde::{Deserialize, Deserializer};
use sluice_event::{days_from_civil, names, now_ns, Event, Level, Value, TRUNCATION_MARKER};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// The address to listen on, e.g. `0.0.0.0:514`.
    pub address: SocketAddr,
    /// `tcp`, `udp`, or `both` (the same port on each).
    pub mode: Mode,
    /// The longest message taken; longer ones are cut and marked.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// TCP connections served at once; more are refused (closed).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The zone of RFC 3164 timestamps, which carry none: `UTC` or an
    /// offset such as `+02:00`.
    #[serde(default, deserialize_with = "utc_offset")]
    pub timezone: UtcOffset,
    /// The UDP socket's receive buffer (`SO_RCVBUF`), which holds datagrams that arrive while
    /// the source is busy: a burst past it is lost by the kernel. Linux caps it at
    /// `net.core.rmem_max` (raise that for more); the size granted is logged at start.
    #[serde(default = "default_receive_buffer_bytes")]
    pub receive_buffer_bytes: usize,
}

fn default_receive_buffer_bytes() -> usize {
    8 << 20
}

fn default_max_message_bytes() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    512
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Tcp,
    Udp,
    Both,
}

/// A fixed offset from UTC, in seconds east.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UtcOffset(pub i64);

fn utc_offset<'de, D: Deserializer<'de>>(d: D) -> Result<UtcOffset, D::Error> {
    let text = String::deserialize(d)?;
    parse_offset(&text).map(UtcOffset).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "timezone {text:?}: expected UTC, Z or an offset such as +02:00"
        ))
    })
}

fn parse_offset(text: &str) -> Option<i64> {
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Some(0);
    }
    let b = text.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = (digits(&b[1..3])?, digits(&b[4..6])?);
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// The value of ASCII digits (at most 18 of them).
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

/// A UDP socket on `address` asking for a `buffer`-byte receive buffer.
fn bind_udp(address: SocketAddr, buffer: usize, source: &str) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(buffer) {
        tracing::warn!(source, %error, buffer, "could not set the udp receive buffer");
    }
    // Linux reports twice what it grants (the bookkeeping overhead is included).
    let granted = socket.recv_buffer_size().unwrap_or(0);
    if granted < buffer {
        tracing::info!(
            source,
            asked = buffer,
            granted,
            "udp receive buffer capped by the kernel (net.core.rmem_max); bursts past it are lost"
        );
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

/// Binds the configured address(es) and receives until shutdown.
pub async fn run(config: SyslogConfig, ctx: SourceContext) -> Result<(), SourceError> {
    let bind_error = |error| SourceError::Io {
        source_name: ctx.name.clone(),
        path: config.address.to_string().into(),
        error,
    };
    let tcp = match config.mode {
        Mode::Tcp | Mode::Both => Some(
            TcpListener::bind(config.address)
                .await
                .map_err(bind_error)?,
        ),
        Mode::Udp => None,
    };
    let udp = match config.mode {
        Mode::Udp | Mode::Both => Some(
            bind_udp(config.address, config.receive_buffer_bytes, &ctx.name).map_err(bind_error)?,
        ),
        Mode::Tcp => None,
    };
    run_with(config, tcp, udp, ctx).await
}

/// Receives on already bound sockets until shutdown (or until the
/// pipeline stops taking events).
pub async fn run_with(
    config: SyslogConfig,
    tcp: Option<TcpListener>,
    udp: Option<UdpSocket>,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    let ctx = Arc::new(ctx);
    let config = Arc::new(config);
    let tcp_task = async {
        match tcp {
            Some(listener) => serve_tcp(&config, listener, &ctx).await,
            None => Ok(()),
        }
    };
    let udp_task = async {
        match udp {
            Some(socket) => serve_udp(&config, socket, &ctx).await,
            None => Ok(()),
        }
    };
    tokio::try_join!(tcp_task, udp_task)?;
    Ok(())
}

async fn serve_tcp(
    config: &Arc<SyslogConfig>,
    listener: TcpListener,
    ctx: &Arc<SourceContext>,
) -> Result<(), SourceError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(source = %ctx.name, %addr, "syslog listening on tcp");
    }
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(source = %ctx.name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = ctx.shutdown_signal() => break,
        };
        if connections.len() >= config.max_connections {
            tracing::warn!(source = %ctx.name, %peer, max = config.max_connections,
                "too many syslog connections; closing this one");
            continue;
        }
        let (config, ctx) = (config.clone(), ctx.clone());
        connections.spawn(async move {
            let reader = BufReader::with_capacity(64 * 1024, stream);
            if let Err(error) = read_stream(&config, reader, peer, &ctx).await {
                tracing::debug!(source = %ctx.name, %peer, %error, "syslog connection ended");
            }
        });
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Reads frames from one TCP stream until it ends or the pipeline stops.
/// A batch is sent when it is full or when nothing more is buffered, so a
/// lone message is not held back.
pub async fn read_stream<R: AsyncRead + Unpin>(
    config: &SyslogConfig,
    mut reader: BufReader<R>,
    peer: SocketAddr,
    ctx: &SourceContext,
) -> std::io::Result<()> {
    let mut batch: Events = Vec::with_capacity(64);
    let mut frame = Vec::new();
    let now = now_ns();
    let mut parser = Parser::new(config.timezone, now);
    loop {
        if !batch.is_empty()
            && reader.buffer().is_empty()
            && !ctx.send(std::mem::take(&mut batch)).await
        {
            return Ok(());
        }
        let truncated = tokio::select! {
            read = next_frame(&mut reader, config.max_message_bytes, &mut frame) => read?,
            _ = ctx.shutdown_signal() => break,
        };
        let Some(truncated) = truncated else { break };
        parser.now = now_ns();
        batch.push(parser.event(&frame, truncated, peer, &ctx.name));
        if batch.len() >= MAX_BATCH && !ctx.send(std::mem::take(&mut batch)).await {
            return Ok(());
        }
    }
    ctx.send(batch).await;
    Ok(())
}

/// Reads the next frame into `frame`: octet-counted when it starts with a
/// digit and a space follows the digits, else up to a newline. Returns
/// whether it was cut at `max`, or `None` at the end of the stream.
async fn next_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    frame: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    frame.clear();
    // Skip blank lines between frames (some senders end octet-counted
    // frames with a newline too).
    let first = loop {
        let buf = reader.fill_buf().await?;
        match buf.first() {
            None => return Ok(None),
            Some(b'\n' | b'\r' | b'\0') => reader.consume(1),
            Some(&b) => break b,
        }
    };
    if first.is_ascii_digit() {
        // Up to 10 digits and a space: octet counting.
        loop {
            let buf = reader.fill_buf().await?;
            let Some(&b) = buf.first() else { break };
            if b.is_ascii_digit() && frame.len() < 10 {
                frame.push(b);
                reader.consume(1);
                continue;
            }
            if b == b' ' {
                reader.consume(1);
                let len = digits(frame).unwrap_or(0) as usize;
                frame.clear();
                let keep = len.min(max);
                frame.resize(keep, 0);
                reader.read_exact(frame).await?;
                let rest = (len - keep) as u64;
                if rest > 0 {
                    tokio::io::copy(&mut (&mut *reader).take(rest), &mut tokio::io::sink()).await?;
                }
                return Ok(Some(rest > 0));
            }
            break;
        }
        // Digits without a space: an unframed line that starts with digits.
    }
    let mut truncated = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            // The end of the stream ends the last line.
            return Ok(Some(truncated));
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (at, true),
            None => (buf.len(), false),
        };
        let room = max.saturating_sub(frame.len());
        frame.extend_from_slice(&buf[..take.min(room)]);
        truncated |= take > room;
        reader.consume(take + usize::from(done));
        if done {
            if frame.last() == Some(&b'\r') {
                frame.pop();
            }
            return Ok(Some(truncated));
        }
    }
}

async fn serve_udp(
    config: &SyslogConfig,
    socket: UdpSocket,
    ctx: &SourceContext,
) -> Result<(), SourceError> {
    if let Ok(addr) = socket.local_addr() {
        tracing::info!(source = %ctx.name, %addr, "syslog listening on udp");
    }
    // One byte more than the limit, to see that a datagram was longer.
    let mut buf = vec![0u8; config.max_message_bytes.min(65_535) + 1];
    let mut parser = Parser::new(config.timezone, now_ns());
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buf) => received,
            _ = ctx.shutdown_signal() => return Ok(()),
        };
        let mut batch: Events = Vec::new();
        let mut next = Some(received);
        parser.now = now_ns();
        // Take what is already waiting, then send it as one batch.
        while let Some(received) = next.take() {
            match received {
                Ok((n, peer)) => {
                    let truncated = n > config.max_message_bytes;
                    let mut datagram = &buf[..n.min(config.max_message_bytes)];
                    while let Some((b'\n' | b'\r' | b'\0', rest)) = datagram.split_last() {
                        datagram = rest;
                    }
                    batch.push(parser.event(datagram, truncated, peer, &ctx.name));
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                // E.g. an ICMP port unreachable reported on the socket.
                Err(error) => tracing::debug!(source = %ctx.name, %error, "udp receive failed"),
            }
            if batch.len() < MAX_BATCH {
                next = Some(socket.try_recv_from(&mut buf));
            }
        }
        if !ctx.send(batch).await {
            return Ok(());
        }
    }
}

/// The facility names, by number (RFC 5424 §6.2.1, as syslog.h spells them).
const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// The severity names and the level each maps to.
const SEVERITIES: [(&str, Level); 8] = [
    ("emerg", Level::Fatal),
    ("alert", Level::Fatal),
    ("crit", Level::Fatal),
    ("err", Level::Error),
    ("warning", Level::Warn),
    ("notice", Level::Info),
    ("info", Level::Info),
    ("debug", Level::Debug),
];

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parses messages into events.
#[derive(Debug, Clone, Copy)]
pub struct Parser {
    /// The zone of RFC 3164 timestamps.
    pub timezone: UtcOffset,
    /// Now, in ns: RFC 3164's year is the one nearest to it.
    pub now: i64,
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct ParseError {
    pub at: usize,
    pub what: String,
}

/// A cursor over a message's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn error(&self, what: impl Into<String>) -> ParseError {
        ParseError {
            at: self.at,
            what: what.into(),
        }
    }
    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at..]
    }
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        let yes = self.peek() == Some(b);
        self.at += usize::from(yes);
        yes
    }
    /// The bytes up to the next space (or the end); the space is consumed.
    fn word(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        self.at += len;
        self.eat(b' ');
        &rest[..len]
    }
    /// A header field of RFC 5424: a word, followed by a space.
    fn field(&mut self, name: &str) -> Result<Option<String>, ParseError> {
        let start = self.at;
        let rest = self.rest();
        let len = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| self.error(format!("{name}: the header ends before it")))?;
        if len == 0 {
            return Err(self.error(format!("{name}: empty (use - for none)")));
        }
        self.at += len + 1;
        let word = &self.bytes[start..start + len];
        Ok((word != b"-").then(|| String::from_utf8_lossy(word).into_owned()))
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Parser {
    pub fn new(timezone: UtcOffset, now: i64) -> Parser {
        Parser { timezone, now }
    }

    /// The event of one received message, never failing: a message that
    /// cannot be parsed is the whole text, marked with the error.
    pub fn event(&self, raw: &[u8], truncated: bool, peer: SocketAddr, stage: &str) -> Event {
        let mut event = match self.parse(raw) {
            Ok(event) => event,
            Err(error) => {
                let mut event = Event::new(lossy(raw));
                event.record_error(stage, &format!("invalid syslog message: {error}"));
                event
            }
        };
        if truncated {
            event.message.push_str(TRUNCATION_MARKER);
        }
        event.fields.insert(names::SOURCE, "syslog");
        event.fields.insert("source_ip", peer.ip().to_string());
        event
    }

    /// Parses an RFC 5424 or RFC 3164 message.
    pub fn parse(&self, raw: &[u8]) -> Result<Event, ParseError> {
        let mut c = Cursor { bytes: raw, at: 0 };
        if !c.eat(b'<') {
            return Err(c.error("expected <PRI> at the start"));
        }
        let len = c.rest().iter().take_while(|b| b.is_ascii_digit()).count();
        let pri = digits(&c.rest()[..len.min(3)]).filter(|&p| len <= 3 && p <= 191);
        let Some(pri) = pri else {
            return Err(c.error("PRI: expected a number from 0 to 191"));
        };
        c.at += len;
        if !c.eat(b'>') {
            return Err(c.error("PRI: expected > after the number"));
        }
        let mut event = Event::new(String::new());
        let (facility, severity) = (pri as usize / 8, pri as usize % 8);
        let fields = &mut event.fields;
        fields.insert("facility", FACILITIES[facility]);
        fields.insert("severity", SEVERITIES[severity].0);
        fields.insert(names::LEVEL, SEVERITIES[severity].1.as_str());
        // RFC 5424: a version number and a space.
        let version = c.rest().iter().take_while(|b| b.is_ascii_digit()).count();
        if (1..=2).contains(&version) && c.rest().get(version) == Some(&b' ') {
            c.at += version + 1;
            self.rfc5424(&mut c, &mut event)?;
        } else {
            self.rfc3164(&mut c, &mut event);
        }
        Ok(event)
    }

    fn rfc5424(&self, c: &mut Cursor<'_>, event: &mut Event) -> Result<(), ParseError> {
        let start = c.at;
        if let Some(time) = c.field("TIMESTAMP")? {
            event.timestamp = parse_rfc3339(time.as_bytes()).ok_or_else(|| ParseError {
                at: start,
                what: format!("TIMESTAMP: {time:?} is not an RFC 3339 time"),
            })?;
        }
        let fields = &mut event.fields;
        if let Some(host) = c.field("HOSTNAME")? {
            fields.insert(names::HOST, host);
        }
        if let Some(app) = c.field("APP-NAME")? {
            fields.insert(names::SERVICE, app);
        }
        if let Some(pid) = c.field("PROCID")? {
            fields.insert("pid", pid_value(pid));
        }
        if let Some(msgid) = c.field("MSGID")? {
            fields.insert("msgid", msgid);
        }
        // The header's last field ends at a space unless the message is
        // empty; STRUCTURED-DATA follows.
        match c.peek() {
            Some(b'-') => c.at += 1,
            Some(b'[') => structured_data(c, fields)?,
            _ => return Err(c.error("STRUCTURED-DATA: expected - or [")),
        }
        if c.peek().is_some() && !c.eat(b' ') {
            return Err(c.error("expected a space before the message"));
        }
        let msg = c.rest();
        event.message = lossy(msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg));
        Ok(())
    }

    /// RFC 3164 is a convention more than a format: what does not fit is
    /// left in the message (§4.3.2: no timestamp, then no hostname either).
    fn rfc3164(&self, c: &mut Cursor<'_>, event: &mut Event) {
        let fields = &mut event.fields;
        let mut has_time = false;
        if let Some((ns, len)) = self.bsd_time(c.rest()) {
            event.timestamp = ns;
            c.at += len;
            has_time = c.eat(b' ') || c.peek().is_none();
        } else if let Some(end) = c.rest().iter().position(|&b| b == b' ') {
            // rsyslog and syslog-ng forward with an RFC 3339 time here.
            if let Some(ns) = parse_rfc3339(&c.rest()[..end]) {
                event.timestamp = ns;
                c.at += end + 1;
                has_time = true;
            }
        }
        if !has_time {
            // §4.3.2: without a timestamp, all of it is the message.
            event.message = lossy(c.rest());
            return;
        }
        {
            // HOSTNAME, unless the word is already the tag (`sshd[1]:`).
            let rest = c.rest();
            let word_len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let word = &rest[..word_len];
            let looks_like_tag = word.ends_with(b":") || word.contains(&b'[');
            if !looks_like_tag && word_len < rest.len() {
                fields.insert(names::HOST, lossy(c.word()));
            }
        }
        // TAG[PID]: — a tag is at most 48 characters ending in `:` or `[`.
        let rest = c.rest();
        let tag_len = rest
            .iter()
            .take(49)
            .position(|&b| matches!(b, b':' | b'[' | b' '))
            .unwrap_or(rest.len());
        let after = &rest[tag_len..];
        let (pid, colon) = match after.first() {
            Some(b'[') => match after.iter().position(|&b| b == b']') {
                Some(close) if after.get(close + 1) == Some(&b':') => {
                    (Some(&after[1..close]), close + 2)
                }
                _ => (None, usize::MAX),
            },
            Some(b':') => (None, 1),
            _ => (None, usize::MAX),
        };
        if tag_len > 0 && colon != usize::MAX {
            fields.insert(names::SERVICE, lossy(&rest[..tag_len]));
            if let Some(pid) = pid {
                fields.insert("pid", pid_value(lossy(pid)));
            }
            c.at += tag_len + colon;
            c.eat(b' ');
        }
        let msg = c.rest();
        event.message = lossy(msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg));
    }

    /// `Mmm dd hh:mm:ss` (the day may be space-padded) in the configured
    /// zone, in the year nearest to now; its ns and length.
    fn bsd_time(&self, b: &[u8]) -> Option<(i64, usize)> {
        if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
            return None;
        }
        let month = MONTHS.iter().position(|m| b[..3] == m[..])? as u32 + 1;
        let day_text = if b[4] == b' ' { &b[5..6] } else { &b[4..6] };
        let day = digits(day_text)?;
        let (h, m, s) = (digits(&b[7..9])?, digits(&b[10..12])?, digits(&b[13..15])?);
        if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
            return None;
        }
        let seconds_of_day = h * 3600 + m * 60 + s - self.timezone.0;
        let year_now = sluice_event::civil_from_days(self.now.div_euclid(86_400 * 1_000_000_000)).0;
        let at_year = |year: i64| {
            (days_from_civil(year, month, day as u32) * 86_400 + seconds_of_day) * 1_000_000_000
        };
        let ns = [year_now - 1, year_now, year_now + 1]
            .into_iter()
            .map(at_year)
            .min_by_key(|ns| (ns - self.now).abs())?;
        Some((ns, 15))
    }
}

/// A process id as a number when it is one.
fn pid_value(pid: String) -> Value {
    match pid.parse::<i64>() {
        Ok(n) => Value::Int(n),
        Err(_) => Value::String(pid),
    }
}

/// `[id name="value" ...]...` into `sd.<id>.<name>` fields.
fn structured_data(
    c: &mut Cursor<'_>,
    fields: &mut sluice_event::Fields,
) -> Result<(), ParseError> {
    let name = |c: &mut Cursor<'_>, what: &str| -> Result<String, ParseError> {
        let rest = c.rest();
        let len = rest
            .iter()
            .position(|&b| matches!(b, b' ' | b'=' | b']' | b'"'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(c.error(format!("STRUCTURED-DATA: expected {what}")));
        }
        c.at += len;
        Ok(lossy(&rest[..len]))
    };
    while c.eat(b'[') {
        let id = name(c, "an SD-ID after [")?;
        loop {
            if c.eat(b']') {
                break;
            }
            if !c.eat(b' ') {
                return Err(c.error(format!("STRUCTURED-DATA [{id}: expected a space or ]")));
            }
            let param = name(c, "a parameter name")?;
            if !c.eat(b'=') || !c.eat(b'"') {
                return Err(c.error(format!(
                    "STRUCTURED-DATA [{id}: expected =\"value\" after {param}"
                )));
            }
            let mut value = Vec::new();
            loop {
                match c.peek() {
                    None => {
                        return Err(c.error(format!(
                            "STRUCTURED-DATA [{id}: the value of {param} is not closed"
                        )))
                    }
                    Some(b'\\') if matches!(c.bytes.get(c.at + 1), Some(b'"' | b'\\' | b']')) => {
                        value.push(c.bytes[c.at + 1]);
                        c.at += 2;
                    }
                    Some(b'"') => {
                        c.at += 1;
                        break;
                    }
                    Some(b) => {
                        value.push(b);
                        c.at += 1;
                    }
                }
            }
            let key = format!("sd.{id}.{param}");
            let value = lossy(&value);
            // A repeated parameter: its values as a JSON array.
            let merged = match fields.get(&key) {
                None => Value::String(value),
                Some(Value::String(first)) => {
                    let mut list: Vec<String> = match serde_json::from_str(first) {
                        Ok(list) if first.starts_with('[') => list,
                        _ => vec![first.clone()],
                    };
                    list.push(value);
                    Value::String(serde_json::to_string(&list).unwrap_or_default())
                }
                Some(_) => Value::String(value),
            };
            fields.insert(key, merged);
        }
    }
    Ok(())
}

/// `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)` in ns.
fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, m, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if b[at] == b'.' {
        let len = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if len == 0 || len > 9 {
            return None;
        }
        nanos = digits(&b[at + 1..at + 1 + len])? * 10i64.pow(9 - len as u32);
        at += 1 + len;
    }
    let offset = match &b[at..] {
        [b'Z' | b'z'] => 0,
        zone => parse_offset(std::str::from_utf8(zone).ok()?)?,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = days * 86_400 + h * 3600 + m * 60 + s - offset;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::test_support::{channel, EventReceiver};
    use sluice_test_support::ensure_tool;
    use std::path::Path;
    use tokio::sync::watch;

    const NOW: i64 = 1_763_798_400_000_000_000; // 2025-11-22T08:00:00Z
    const SEC: i64 = 1_000_000_000;

    fn parser() -> Parser {
        Parser::new(UtcOffset(0), NOW)
    }

    fn peer() -> SocketAddr {
        "192.0.2.7:5514".parse().unwrap()
    }

    fn get<'a>(event: &'a Event, name: &str) -> Option<&'a Value> {
        event.fields.get(name)
    }

    fn s(text: &str) -> Option<Value> {
        Some(Value::String(text.into()))
    }

    fn time(y: i64, mo: u32, d: u32, h: i64, mi: i64, sec: i64) -> i64 {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec) * SEC
    }

    #[test]
    fn rfc5424_as_logger_sends_it() {
        // util-linux logger --rfc5424 --sd-id zoo@123 --sd-param tiger=\"hungry\"
        //   --id=42 --msgid ID47 -t myapp -p local3.warning "hello 5424"
        let line = br#"<156>1 2026-11-22T14:00:03.698889+00:00 vm myapp 42 ID47 [timeQuality tzKnown="1" isSynced="0"][zoo@123 tiger="hungry"] hello 5424"#;
        let e = parser().parse(line).unwrap();
        assert_eq!(e.message, "hello 5424");
        assert_eq!(e.timestamp, time(2026, 11, 22, 14, 0, 3) + 698_889_000);
        assert_eq!(get(&e, "facility").cloned(), s("local3"));
        assert_eq!(get(&e, "severity").cloned(), s("warning"));
        assert_eq!(get(&e, "level").cloned(), s("WARN"));
        assert_eq!(get(&e, "host").cloned(), s("vm"));
        assert_eq!(get(&e, "service").cloned(), s("myapp"));
        assert_eq!(get(&e, "pid"), Some(&Value::Int(42)));
        assert_eq!(get(&e, "msgid").cloned(), s("ID47"));
        assert_eq!(get(&e, "sd.timeQuality.tzKnown").cloned(), s("1"));
        assert_eq!(get(&e, "sd.timeQuality.isSynced").cloned(), s("0"));
        assert_eq!(get(&e, "sd.zoo@123.tiger").cloned(), s("hungry"));
    }

    #[test]
    fn rfc5424_nil_values_escapes_bom_and_offsets() {
        // RFC 5424 §6.5's examples, with a BOM and escapes.
        let line = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
            [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]\
            [examplePriority@32473 class=\"high\" note=\"a \\\"quoted\\\" \\] \\\\ x\" class=\"low\"] \
            \u{feff}An application event log entry...";
        let e = parser().parse(line.as_bytes()).unwrap();
        assert_eq!(e.message, "An application event log entry...");
        assert_eq!(e.timestamp, time(2003, 10, 11, 22, 14, 15) + 3_000_000);
        assert_eq!(get(&e, "facility").cloned(), s("local4"));
        assert_eq!(get(&e, "level").cloned(), s("INFO"));
        assert_eq!(get(&e, "severity").cloned(), s("notice"));
        assert_eq!(get(&e, "pid"), None);
        assert_eq!(get(&e, "sd.exampleSDID@32473.eventID").cloned(), s("1011"));
        assert_eq!(
            get(&e, "sd.examplePriority@32473.note").cloned(),
            s(r#"a "quoted" ] \ x"#)
        );
        assert_eq!(
            get(&e, "sd.examplePriority@32473.class").cloned(),
            s(r#"["high","low"]"#)
        );

        let e = parser()
            .parse(b"<34>1 2003-08-24T05:14:15.000003-07:00 - - - - -")
            .unwrap();
        assert_eq!(e.timestamp, time(2003, 8, 24, 12, 14, 15) + 3_000);
        assert_eq!(e.message, "");
        assert_eq!(get(&e, "host"), None);
        assert_eq!(get(&e, "level").cloned(), s("FATAL"));
        assert_eq!(get(&e, "facility").cloned(), s("auth"));
        // Nil timestamp: the time of receipt.
        let e = parser().parse(b"<14>1 - h app - - - text").unwrap();
        assert!((e.timestamp - now_ns()).abs() < 60 * SEC);
        assert_eq!(e.message, "text");
    }

    /// Loghub's OpenSSH and Mac logs as a relay forwards them (a PRI in
    /// front): every line's parts, checked against a split done here.
    #[test]
    fn rfc3164_real_lines_from_loghub() {
        let p = Parser::new(UtcOffset(0), time(2026, 1, 10, 0, 0, 0));
        for system in ["OpenSSH", "Mac", "Linux"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../shared/data/loghub/{system}_2k.log"));
            let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
            let mut tagged = 0;
            for line in text.lines().filter(|l| !l.is_empty()) {
                let e = p.parse(format!("<86>{line}").as_bytes()).unwrap();
                assert_eq!(get(&e, "facility").cloned(), s("authpriv"));
                assert_eq!(get(&e, "level").cloned(), s("INFO"));
                // "Mmm dd hh:mm:ss host rest"
                let (stamp, rest) = line.split_at(15);
                let mut words = rest.trim_start().splitn(2, ' ');
                let host = words.next().unwrap();
                let rest = words.next().unwrap_or("");
                assert_eq!(get(&e, "host").cloned(), s(host), "{line}");
                let month = MONTHS
                    .iter()
                    .position(|m| stamp.as_bytes()[..3] == m[..])
                    .unwrap();
                let day: u32 = stamp[4..6].trim().parse().unwrap();
                let (y, mo, d) =
                    sluice_event::civil_from_days(e.timestamp.div_euclid(86_400 * SEC));
                assert_eq!((mo, d), (month as u32 + 1, day), "{line}");
                // The nearest year: within half a year of now (any other
                // year is further).
                assert!((2025..=2026).contains(&y), "{line}");
                assert!(
                    (e.timestamp - p.now).abs() <= 184 * 86_400 * SEC,
                    "{line}: {y}"
                );
                let seconds = e.timestamp.div_euclid(SEC).rem_euclid(86_400);
                let hms: Vec<i64> = stamp[7..].split(':').map(|x| x.parse().unwrap()).collect();
                assert_eq!(seconds, hms[0] * 3600 + hms[1] * 60 + hms[2]);
                // "tag[pid]: msg" or "tag: msg"; anything else stays whole.
                let tag_end = rest.find([':', '[', ' ']).unwrap_or(rest.len());
                let (tag, after) = rest.split_at(tag_end);
                let parsed = if let Some(after) = after.strip_prefix('[') {
                    after.split_once("]:").map(|(pid, msg)| (Some(pid), msg))
                } else {
                    after.strip_prefix(':').map(|msg| (None, msg))
                };
                match parsed.filter(|_| !tag.is_empty()) {
                    Some((pid, msg)) => {
                        tagged += 1;
                        assert_eq!(get(&e, "service").cloned(), s(tag), "{line}");
                        let pid = pid.map(|p| Value::Int(p.parse().unwrap()));
                        assert_eq!(get(&e, "pid").cloned(), pid, "{line}");
                        assert_eq!(e.message, msg.strip_prefix(' ').unwrap_or(msg), "{line}");
                    }
                    None => {
                        assert_eq!(get(&e, "service"), None, "{line}");
                        assert_eq!(e.message, rest, "{line}");
                    }
                }
            }
            assert!(tagged > 1800, "{system}: only {tagged} tagged lines");
        }
    }

    #[test]
    fn rfc3164_years_zones_and_variants() {
        // The year nearest to now, across a year end both ways.
        let p = Parser::new(UtcOffset(0), time(2026, 1, 2, 0, 0, 0));
        let e = p.parse(b"<13>Dec 31 23:59:59 h app: late").unwrap();
        assert_eq!(e.timestamp, time(2025, 12, 31, 23, 59, 59));
        let p = Parser::new(UtcOffset(0), time(2026, 12, 31, 23, 0, 0));
        let e = p.parse(b"<13>Jan  1 00:00:01 h app: early").unwrap();
        assert_eq!(e.timestamp, time(2027, 1, 1, 0, 0, 1));
        // A configured zone: 10:00 at +02:00 is 08:00 UTC.
        let p = Parser::new(UtcOffset(7200), NOW);
        let e = p.parse(b"<13>Nov 22 10:00:00 h app: zoned").unwrap();
        assert_eq!(e.timestamp, time(2025, 11, 22, 8, 0, 0));
        // No hostname: the first word is already the tag.
        let e = parser()
            .parse(b"<30>Nov 22 07:59:00 cron[88]: job done")
            .unwrap();
        assert_eq!(get(&e, "host"), None);
        assert_eq!(get(&e, "service").cloned(), s("cron"));
        assert_eq!(get(&e, "pid"), Some(&Value::Int(88)));
        assert_eq!(e.message, "job done");
        // An RFC 3339 time, as rsyslog forwards.
        let e = parser()
            .parse(b"<11>2025-11-22T07:00:00.5+01:00 web-1 nginx: upstream timed out")
            .unwrap();
        assert_eq!(e.timestamp, time(2025, 11, 22, 6, 0, 0) + SEC / 2);
        assert_eq!(get(&e, "host").cloned(), s("web-1"));
        assert_eq!(get(&e, "level").cloned(), s("ERROR"));
        assert_eq!(e.message, "upstream timed out");
        // No timestamp (RFC 3164 §4.3.2): everything after the PRI.
        let e = parser().parse(b"<13>Error: disk full").unwrap();
        assert_eq!(e.message, "Error: disk full");
        assert_eq!(get(&e, "service"), None);
        assert!(get(&e, names::PARSE_ERROR).is_none());
    }

    #[test]
    fn unparsable_messages_are_kept_whole_with_the_error() {
        let cases: [(&[u8], &str); 6] = [
            (b"no pri here", "expected <PRI> at the start at byte 0"),
            (
                b"<192>Nov 22 07:59:00 h a: x",
                "PRI: expected a number from 0 to 191",
            ),
            (b"<13", "PRI: expected > after the number at byte 3"),
            (
                b"<13>1 yesterday h a - - - x",
                "TIMESTAMP: \"yesterday\" is not an RFC 3339 time at byte 6",
            ),
            (
                b"<13>1 - h a - - [id p=\"open",
                "the value of p is not closed",
            ),
            (b"<13>1 - h a - -", "MSGID: the header ends before it"),
        ];
        for (raw, want) in cases {
            let e = parser().event(raw, false, peer(), "sys");
            assert_eq!(e.message.as_bytes(), raw);
            assert_eq!(get(&e, names::PARSE_ERROR), Some(&Value::Bool(true)));
            assert_eq!(get(&e, names::ERROR_STAGE).cloned(), s("sys"));
            let error = get(&e, names::ERROR_MESSAGE)
                .and_then(Value::as_str)
                .unwrap();
            assert!(error.contains(want), "{error} (wanted {want})");
            assert_eq!(get(&e, names::SOURCE).cloned(), s("syslog"));
            assert_eq!(get(&e, "source_ip").cloned(), s("192.0.2.7"));
        }
        // Invalid UTF-8 is replaced, not refused.
        let e = parser().event(b"<13>1 - h a - - - caf\xe9", false, peer(), "sys");
        assert_eq!(e.message, "caf\u{fffd}");
    }

    async fn frames(input: &[u8], max: usize) -> Vec<(String, bool)> {
        let mut reader = BufReader::with_capacity(7, input);
        let mut frame = Vec::new();
        let mut out = Vec::new();
        while let Some(truncated) = next_frame(&mut reader, max, &mut frame).await.unwrap() {
            out.push((String::from_utf8_lossy(&frame).into_owned(), truncated));
        }
        out
    }

    #[tokio::test]
    async fn tcp_framing_is_detected_per_frame_and_long_frames_are_cut() {
        let input = b"11 <13>1 - - -11 <13>multi\nx\n<14>plain line\r\n\n<15>no newline";
        assert_eq!(
            frames(input, 100).await,
            [
                ("<13>1 - - -".into(), false),
                ("<13>multi\nx".into(), false),
                ("<14>plain line".into(), false),
                ("<15>no newline".into(), false),
            ]
        );
        let input = b"22 <13>0123456789abcdefgh<13>long line here\n5 <13>x";
        assert_eq!(
            frames(input, 8).await,
            [
                ("<13>0123".into(), true),
                ("<13>long".into(), true),
                ("<13>x".into(), false),
            ]
        );
        // Digits without a space are a line (a syslog message starts with
        // `<`, so `2024 ...` would be read as a frame of 2024 bytes).
        assert_eq!(
            frames(b"2024-01-01 x\n", 100).await,
            [("2024-01-01 x".into(), false)]
        );
    }

    #[test]
    fn config_denies_unknown_keys_and_checks_the_timezone() {
        let ok: SyslogConfig =
            toml::from_str("address = \"0.0.0.0:514\"\nmode = \"both\"\ntimezone = \"-05:30\"")
                .unwrap();
        assert_eq!(ok.mode, Mode::Both);
        assert_eq!(ok.timezone, UtcOffset(-(5 * 3600 + 1800)));
        assert_eq!(ok.max_message_bytes, 64 * 1024);
        let error =
            toml::from_str::<SyslogConfig>("address = \"0.0.0.0:514\"\nmode = \"tcp\"\nport = 1")
                .unwrap_err()
                .to_string();
        assert!(error.contains("unknown field `port`"), "{error}");
        let error = toml::from_str::<SyslogConfig>(
            "address = \"0.0.0.0:514\"\nmode = \"tcp\"\ntimezone = \"CET\"",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("timezone \"CET\""), "{error}");
        assert!(
            toml::from_str::<SyslogConfig>("address = \"0.0.0.0:514\"\nmode = \"sctp\"").is_err()
        );
    }

    // ---- the real client: util-linux `logger` ----

    struct Receiver {
        port: u16,
        rx: EventReceiver,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<Result<(), SourceError>>,
    }

    #[tokio::test]
    async fn the_udp_receive_buffer_is_raised_as_far_as_the_kernel_allows() {
        let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let default = socket2::SockRef::from(&plain).recv_buffer_size().unwrap();
        let raised = bind_udp("127.0.0.1:0".parse().unwrap(), 64 << 20, "t").unwrap();
        let granted = socket2::SockRef::from(&raised).recv_buffer_size().unwrap();
        assert!(granted > default, "granted {granted}, default {default}");
    }

    /// The source on 127.0.0.1, TCP and UDP on one port.
    async fn receive(max_message_bytes: usize) -> Receiver {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let udp = bind_udp(address, 1 << 20, "syslog_in").unwrap();
        let config = SyslogConfig {
            address,
            mode: Mode::Both,
            max_message_bytes,
            max_connections: 8,
            timezone: UtcOffset(0),
            receive_buffer_bytes: 1 << 20,
        };
        let (tx, rx) = channel(64);
        let (stop, shutdown) = watch::channel(false);
        let ctx = SourceContext {
            name: "syslog_in".into(),
            out: tx,
            shutdown,
            data_dir: ".".into(),
            counters: Default::default(),
            acknowledgements: true,
        };
        let task = tokio::spawn(run_with(config, Some(tcp), Some(udp), ctx));
        Receiver {
            port: address.port(),
            rx,
            stop,
            task,
        }
    }

    impl Receiver {
        async fn take(&mut self, n: usize, what: &str) -> Vec<Event> {
            let mut events = Vec::new();
            while events.len() < n {
                let batch = tokio::time::timeout(Duration::from_secs(20), self.rx.recv())
                    .await
                    .unwrap_or_else(|_| panic!("{what}: only {} of {n} events", events.len()))
                    .unwrap();
                events.extend(batch);
            }
            assert_eq!(events.len(), n);
            events
        }
    }

    fn run_logger(logger: &Path, port: u16, args: &[&str], file: &Path) {
        let out = std::process::Command::new(logger)
            .args(["--server", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .arg("--file")
            .arg(file)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logger {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn hostname() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logger_sends_rfc5424_and_rfc3164_over_tcp_and_udp() {
        let Some(logger) = ensure_tool("logger") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub/OpenSSH_2k.log"),
        )
        .unwrap();
        let lines: Vec<&str> = text.lines().take(300).collect();
        let file = dir.path().join("lines.log");
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let mut r = receive(64 * 1024).await;
        let short_host = hostname().split('.').next().unwrap().to_owned();
        let within_a_minute = |e: &Event| (e.timestamp - now_ns()).abs() < 60 * SEC;

        let cases: [(&str, &[&str], &str, &str, &str); 4] = [
            (
                "tcp 5424 octet-counted",
                &[
                    "--tcp",
                    "--rfc5424",
                    "--octet-count",
                    "--sd-id",
                    "zoo@123",
                    "--sd-param",
                    "tiger=\"hungry\"",
                    "--msgid",
                    "ID47",
                    "--id=4242",
                    "-t",
                    "myapp",
                    "-p",
                    "local3.warning",
                ],
                "myapp",
                "local3",
                "WARN",
            ),
            (
                "tcp 3164 newline-framed",
                &[
                    "--tcp",
                    "--rfc3164",
                    "--id=77",
                    "-t",
                    "sshd",
                    "-p",
                    "auth.err",
                ],
                "sshd",
                "auth",
                "ERROR",
            ),
            (
                "udp 5424",
                &["--udp", "--rfc5424", "-t", "udp5424", "-p", "daemon.debug"],
                "udp5424",
                "daemon",
                "DEBUG",
            ),
            (
                "udp 3164",
                &["--udp", "--rfc3164", "-t", "udp3164", "-p", "mail.crit"],
                "udp3164",
                "mail",
                "FATAL",
            ),
        ];
        // Fewer over UDP: a burst larger than the socket's receive buffer
        // is dropped by the kernel, whoever receives.
        let udp_lines = &lines[..50];
        let udp_file = dir.path().join("udp.log");
        std::fs::write(&udp_file, udp_lines.join("\n") + "\n").unwrap();
        for (name, args, service, facility, level) in cases {
            let (lines, file) = match name.starts_with("udp") {
                true => (udp_lines, udp_file.clone()),
                false => (&lines[..], file.clone()),
            };
            let (logger, port) = (logger.clone(), r.port);
            let args: Vec<&'static str> = args.to_vec();
            tokio::task::spawn_blocking(move || run_logger(&logger, port, &args, &file))
                .await
                .unwrap();
            let events = r.take(lines.len(), name).await;
            let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(messages, lines, "{name}");
            for e in &events {
                assert_eq!(get(e, names::PARSE_ERROR), None, "{name}: {e:?}");
                assert_eq!(get(e, "service").cloned(), s(service), "{name}");
                assert_eq!(get(e, "facility").cloned(), s(facility), "{name}");
                assert_eq!(get(e, "level").cloned(), s(level), "{name}");
                let host = get(e, "host").and_then(Value::as_str).unwrap();
                assert!(host.starts_with(&short_host), "{name}: {host}");
                assert!(within_a_minute(e), "{name}: {}", e.timestamp);
                assert_eq!(get(e, "source_ip").cloned(), s("127.0.0.1"));
            }
            if name.starts_with("tcp 5424") {
                let e = &events[0];
                assert_eq!(get(e, "pid"), Some(&Value::Int(4242)));
                assert_eq!(get(e, "msgid").cloned(), s("ID47"));
                assert_eq!(get(e, "sd.zoo@123.tiger").cloned(), s("hungry"));
            }
            if name.starts_with("tcp 3164") {
                assert_eq!(get(&events[0], "pid"), Some(&Value::Int(77)));
            }
        }

        // Longer than max_message_bytes: cut and marked, over either framing.
        r.stop.send(true).unwrap();
        r.task.await.unwrap().unwrap();
        let mut r = receive(200).await;
        let long = format!("{}\n", "x".repeat(1000));
        std::fs::write(&file, &long).unwrap();
        for args in [
            &["--tcp", "--rfc5424", "--octet-count", "--size", "4000"][..],
            &["--tcp", "--rfc3164", "--size", "4000"][..],
        ] {
            let (logger, port, file) = (logger.clone(), r.port, file.clone());
            tokio::task::spawn_blocking(move || run_logger(&logger, port, args, &file))
                .await
                .unwrap();
            let e = &r.take(1, "truncated").await[0];
            assert!(
                e.message.ends_with(TRUNCATION_MARKER),
                "{args:?}: {}",
                e.message
            );
            assert!(e.message.starts_with("xxx"), "{args:?}: {}", e.message);
            assert!(e.message.len() < 200 + TRUNCATION_MARKER.len());
        }
        r.stop.send(true).unwrap();
        r.task.await.unwrap().unwrap();
    }
}
