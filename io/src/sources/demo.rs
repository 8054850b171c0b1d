//! `demo`: generates realistic log lines — Apache access logs, syslog, JSON
//! application logs and Java stack traces — stamped with the current time.
//!
//! Content comes from word lists compiled into the binary (`demo/material.rs`)
//! and a small seeded PRNG, so a given seed gives the same lines (apart from
//! their timestamps). A Java stack trace is emitted one physical line per
//! event, as a file would deliver it, so a multiline stage can join them.

mod material;

use super::{SourceContext, SourceError, MAX_BATCH};
use crate::Events;
use material as m;
use serde::Deserialize;
use sluice_event::{civil_from_days, format_rfc3339, names, now_ns, Event};
use std::collections::VecDeque;
use std::fmt::Write;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Events per second; `0` sends as fast as downstream takes them.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Stop after this many events; unset runs until shutdown.
    #[serde(default)]
    pub count: Option<u64>,
    /// Which kinds of lines to mix, picked evenly; all of them by default.
    #[serde(default = "DemoKind::all")]
    pub kinds: Vec<DemoKind>,
    /// Seed for reproducible content; unset seeds from the clock.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_rate() -> f64 {
    10.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoKind {
    /// Apache combined access log lines.
    Apache,
    /// RFC 3164 syslog lines with a priority.
    Syslog,
    /// JSON application logs.
    Json,
    /// Java application logs, some with multi-line stack traces.
    Java,
}

impl DemoKind {
    pub const ALL: [DemoKind; 4] = [
        DemoKind::Apache,
        DemoKind::Syslog,
        DemoKind::Json,
        DemoKind::Java,
    ];

    fn all() -> Vec<DemoKind> {
        Self::ALL.to_vec()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DemoKind::Apache => "apache",
            DemoKind::Syslog => "syslog",
            DemoKind::Json => "json",
            DemoKind::Java => "java",
        }
    }

    /// The events' `source` field.
    fn source(self) -> &'static str {
        match self {
            DemoKind::Apache => "demo:apache",
            DemoKind::Syslog => "demo:syslog",
            DemoKind::Json => "demo:json",
            DemoKind::Java => "demo:java",
        }
    }
}

/// SplitMix64: tiny, fast and good enough for fake data.
#[derive(Debug, Clone)]
pub struct DemoRng(u64);

impl DemoRng {
    pub fn new(seed: u64) -> Self {
        DemoRng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.below(u64::from(total)) as u32;
        for (item, weight) in items {
            if roll < *weight {
                return *item;
            }
            roll -= weight;
        }
        items[items.len() - 1].0
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn hex(&mut self, out: &mut String, digits: usize) {
        for _ in 0..digits {
            let d = self.below(16) as u32;
            out.push(char::from_digit(d, 16).unwrap_or('0'));
        }
    }

    fn ip(&mut self, out: &mut String) {
        let first = self.pick(m::IP_FIRST_OCTETS);
        let (b, c, d) = (self.below(256), self.below(256), 1 + self.below(254));
        let _ = write!(out, "{first}.{b}.{c}.{d}");
    }
}

/// Generates one record of `kind` stamped `now_ns`. Java records may span
/// several lines, joined with `\n`; every other kind is a single line.
pub fn generate_line(kind: DemoKind, rng: &mut DemoRng, now_ns: i64) -> String {
    let t = Civil::from_ns(now_ns);
    match kind {
        DemoKind::Apache => apache(rng, &t),
        DemoKind::Syslog => syslog(rng, &t),
        DemoKind::Json => json(rng, now_ns),
        DemoKind::Java => java(rng, &t),
    }
}

fn apache(rng: &mut DemoRng, t: &Civil) -> String {
    let mut line = String::with_capacity(256);
    rng.ip(&mut line);
    let user = if rng.chance(5) {
        rng.pick(m::USERS)
    } else {
        "-"
    };
    let (method, status) = (rng.weighted(m::METHODS), rng.weighted(m::STATUSES));
    let _ = write!(
        line,
        " - {user} [{:02}/{}/{}:{:02}:{:02}:{:02} +0000] \"{method} ",
        t.day,
        MONTHS[t.month - 1],
        t.year,
        t.hour,
        t.minute,
        t.second
    );
    fill(&mut line, rng.pick(m::PATHS), rng);
    let size = match status {
        204 | 304 => "-".to_owned(),
        300..=399 => (150 + rng.below(400)).to_string(),
        400.. => (100 + rng.below(2000)).to_string(),
        _ => {
            // Mostly small pages, sometimes a big asset.
            let max = 1 + rng.below(80_000);
            (200 + rng.below(max)).to_string()
        }
    };
    let referrer = if rng.chance(40) {
        "-"
    } else {
        rng.pick(m::REFERRERS)
    };
    let agent = rng.pick(m::USER_AGENTS);
    let _ = write!(
        line,
        " HTTP/1.1\" {status} {size} \"{referrer}\" \"{agent}\""
    );
    line
}

fn syslog(rng: &mut DemoRng, t: &Civil) -> String {
    let (program, has_pid, facility, severity, messages) = rng.pick(m::SYSLOG_PROGRAMS);
    let mut line = String::with_capacity(160);
    let _ = write!(
        line,
        "<{}>{} {:>2} {:02}:{:02}:{:02} {} {program}",
        u16::from(facility) * 8 + u16::from(severity),
        MONTHS[t.month - 1],
        t.day,
        t.hour,
        t.minute,
        t.second,
        rng.pick(m::HOSTS),
    );
    if has_pid {
        let pid = if program == "systemd" {
            1
        } else {
            300 + rng.below(60_000)
        };
        let _ = write!(line, "[{pid}]");
    }
    line.push_str(": ");
    fill(&mut line, rng.pick(messages), rng);
    line
}

fn json(rng: &mut DemoRng, now_ns: i64) -> String {
    let level = rng.weighted(m::LEVELS);
    let (service, messages) = rng.pick(m::SERVICES);
    let at = m::LEVELS.iter().position(|(l, _)| *l == level).unwrap_or(0);
    let mut message = String::new();
    fill(&mut message, rng.pick(messages[at]), rng);
    let mut trace_id = String::with_capacity(32);
    rng.hex(&mut trace_id, 32);
    // Mostly fast, with a long tail; errors tend to be slow.
    let tail = 1 + rng.below(400);
    let mut latency = 2 + rng.below(40) + rng.below(tail);
    if level == "ERROR" {
        latency += rng.below(5000);
    }
    format!(
        r#"{{"timestamp":"{}","level":"{level}","service":"{service}","host":"{}","trace_id":"{trace_id}","user_id":"u_{}","latency_ms":{latency},"message":{}}}"#,
        format_rfc3339(now_ns / 1_000_000 * 1_000_000),
        rng.pick(m::HOSTS),
        10_000 + rng.below(90_000),
        serde_json::Value::String(message),
    )
}

fn java(rng: &mut DemoRng, t: &Civil) -> String {
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "{}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} [",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    );
    fill(&mut out, rng.pick(m::JAVA_THREADS), rng);
    let (logger, stem, methods) = rng.pick(m::JAVA_CLASSES);
    if !rng.chance(40) {
        let level = if rng.chance(85) { "INFO " } else { "WARN " };
        let _ = write!(out, "] {level} {logger} - ");
        fill(&mut out, rng.pick(m::JAVA_INFO), rng);
        return out;
    }
    let _ = write!(
        out,
        "] ERROR {logger} - Unhandled exception while processing request "
    );
    rng.hex(&mut out, 12);
    out.push('\n');
    fill(&mut out, rng.pick(m::JAVA_EXCEPTIONS), rng);
    // The innermost call first, then its callers.
    let first = rng.below(methods.len() as u64) as usize;
    for method in &methods[first..] {
        let line = 40 + rng.below(400);
        let _ = write!(out, "\n\tat {logger}.{method}({stem}.java:{line})");
    }
    let skip = rng.below(3) as usize;
    for frame in &m::JAVA_FRAMEWORK_FRAMES[skip..] {
        let _ = write!(out, "\n\tat {frame}");
    }
    if rng.chance(50) {
        out.push_str("\nCaused by: ");
        let (cause, frame) = rng.pick(m::JAVA_CAUSES);
        let _ = write!(out, "{cause}\n\tat {frame}");
        let _ = write!(out, "\n\t... {} more", 20 + rng.below(40));
    }
    out
}

/// Appends `template` with its placeholders filled in.
fn fill(out: &mut String, template: &str, rng: &mut DemoRng) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        match &rest[open + 1..open + close] {
            "n" => {
                let scale = [10, 100, 1_000, 10_000][rng.below(4) as usize];
                let _ = write!(out, "{}", 1 + rng.below(scale));
            }
            "k" => {
                let _ = write!(out, "{}", 1 + rng.below(16));
            }
            "port" => {
                let _ = write!(out, "{}", 1024 + rng.below(64_000));
            }
            "id" => rng.hex(out, 8),
            "user" => out.push_str(rng.pick(m::USERS)),
            "ip" => rng.ip(out),
            other => {
                let _ = write!(out, "{{{other}}}");
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar time.
struct Civil {
    year: i64,
    month: usize,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
}

impl Civil {
    fn from_ns(ns: i64) -> Self {
        let secs = ns.div_euclid(1_000_000_000);
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month: month as usize,
            day,
            hour: sod / 3600,
            minute: sod % 3600 / 60,
            second: sod % 60,
            millis: ns.rem_euclid(1_000_000_000) / 1_000_000,
        }
    }
}

/// Turns records into events one physical line at a time, so a Java trace's
/// lines stay together and `count` can stop in the middle of one.
struct Generator {
    kinds: Vec<DemoKind>,
    rng: DemoRng,
    queue: VecDeque<(DemoKind, String)>,
}

impl Generator {
    fn batch(&mut self, n: usize) -> Events {
        let now = now_ns();
        let mut batch = Vec::with_capacity(n);
        while batch.len() < n {
            let Some((kind, line)) = self.queue.pop_front() else {
                let kind = self.rng.pick(&self.kinds);
                let record = generate_line(kind, &mut self.rng, now);
                let lines = record.split('\n').map(|l| (kind, l.to_owned()));
                self.queue.extend(lines);
                continue;
            };
            let mut event = Event::new(line);
            event.timestamp = now;
            event.ingest_timestamp = now;
            event.fields.insert(names::SOURCE, kind.source());
            batch.push(event);
        }
        batch
    }
}

/// Generates events at `rate` until `count` is reached, shutdown, or
/// downstream goes away.
pub async fn run(config: DemoConfig, ctx: SourceContext) -> Result<(), SourceError> {
    let other = |message: &str| SourceError::Other {
        source_name: ctx.name.clone(),
        message: message.to_owned(),
    };
    if !config.rate.is_finite() || config.rate < 0.0 {
        return Err(other(
            "`rate` must be a number of events per second, 0 or more",
        ));
    }
    if config.kinds.is_empty() {
        return Err(other("`kinds` must name at least one kind"));
    }
    let seed = config.seed.unwrap_or_else(|| now_ns() as u64);
    let mut generator = Generator {
        kinds: config.kinds,
        rng: DemoRng::new(seed),
        queue: VecDeque::new(),
    };
    let mut remaining = config.count.unwrap_or(u64::MAX);
    let send = |batch: Events| async {
        tokio::select! {
            biased;
            _ = ctx.shutdown_signal() => false,
            sent = ctx.send(batch) => sent,
        }
    };

    if config.rate == 0.0 {
        while remaining > 0 && !ctx.is_shutting_down() {
            let n = remaining.min(MAX_BATCH as u64);
            if !send(generator.batch(n as usize)).await {
                break;
            }
            remaining -= n;
        }
        return Ok(());
    }

    // Token pacing: every tick adds `rate × elapsed` tokens and sends one
    // event per whole token. At most a second's worth is kept, so a stall
    // does not end in a burst. The first event goes out at once.
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut tokens = 1.0_f64;
    let mut last = Instant::now();
    while remaining > 0 {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = ctx.shutdown_signal() => break,
        }
        let now = Instant::now();
        tokens = (tokens + config.rate * (now - last).as_secs_f64()).min(config.rate.max(1.0));
        last = now;
        let mut due = (tokens as u64).min(remaining);
        while due > 0 {
            let n = due.min(MAX_BATCH as u64);
            if !send(generator.batch(n as usize)).await {
                return Ok(());
            }
            (due, remaining, tokens) = (due - n, remaining - n, tokens - n as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::watch;

    /// 2015-02-24T23:13:42.123Z
    const T: i64 = 1_424_819_622_123_000_000;

    fn lines(kind: DemoKind, n: usize) -> Vec<String> {
        let mut rng = DemoRng::new(7);
        (0..n).map(|_| generate_line(kind, &mut rng, T)).collect()
    }

    #[test]
    fn json_lines_parse_and_carry_the_expected_fields() {
        for line in lines(DemoKind::Json, 300) {
            let json: serde_json::Value = serde_json::from_str(&line).unwrap();
            let level = json["level"].as_str().unwrap();
            assert!(
                ["INFO", "DEBUG", "WARN", "ERROR"].contains(&level),
                "{line}"
            );
            assert!(json["service"].as_str().is_some_and(|s| !s.is_empty()));
            let trace_id = json["trace_id"].as_str().unwrap();
            assert_eq!(trace_id.len(), 32);
            assert!(trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(json["latency_ms"].is_u64());
            assert!(json["message"].as_str().is_some_and(|s| !s.contains('{')));
            assert_eq!(json["timestamp"], "2015-02-24T23:13:42.123Z");
        }
    }

    #[test]
    fn apache_lines_are_in_combined_format() {
        for line in lines(DemoKind::Apache, 300) {
            // ip - user [date] "request" status size "referrer" "agent"
            let parts: Vec<&str> = line.split('"').collect();
            assert_eq!(parts.len(), 7, "{line}");
            let head: Vec<&str> = parts[0].split(' ').collect();
            assert_eq!(
                head[0]
                    .split('.')
                    .filter(|o| o.parse::<u8>().is_ok())
                    .count(),
                4
            );
            assert_eq!(
                parts[0].split_once('[').unwrap().1,
                "24/Feb/2015:23:13:42 +0000] "
            );
            let request: Vec<&str> = parts[1].split(' ').collect();
            assert_eq!(request.len(), 3, "{line}");
            assert!(request[1].starts_with('/') && request[2] == "HTTP/1.1");
            let mut status_size = parts[2].split_whitespace();
            let status: u16 = status_size.next().unwrap().parse().unwrap();
            assert!((200..600).contains(&status));
            let size = status_size.next().unwrap();
            assert!(size == "-" || size.parse::<u64>().is_ok());
            assert!(!parts[5].is_empty());
        }
    }

    #[test]
    fn syslog_lines_have_a_priority_timestamp_host_and_program() {
        for line in lines(DemoKind::Syslog, 300) {
            let (pri, rest) = line.strip_prefix('<').unwrap().split_once('>').unwrap();
            assert!(pri.parse::<u8>().unwrap() < 192);
            assert!(rest.starts_with("Feb 24 23:13:42 "), "{line}");
            let tag = rest[16..].split(' ').nth(1).unwrap();
            assert!(tag.ends_with(':'), "{line}");
        }
    }

    #[test]
    fn java_records_are_log_lines_some_with_stack_traces() {
        let records = lines(DemoKind::Java, 200);
        assert!(records
            .iter()
            .all(|r| r.starts_with("2015-02-24 23:13:42.123 [")));
        let traces: Vec<_> = records.iter().filter(|r| r.contains('\n')).collect();
        assert!(!traces.is_empty() && traces.len() < records.len());
        for trace in traces {
            let lines: Vec<&str> = trace.lines().collect();
            assert!(lines[0].contains("] ERROR com.acme."));
            assert!(lines[1].contains("Exception: "));
            assert!(lines[2..].iter().all(|l| l.starts_with("\tat ")
                || l.starts_with("Caused by: ")
                || l.starts_with("\t... ")));
        }
    }

    #[test]
    fn a_seed_gives_the_same_content() {
        assert_eq!(lines(DemoKind::Apache, 20), lines(DemoKind::Apache, 20));
    }

    async fn run_to_end(config: DemoConfig) -> Vec<Event> {
        let (tx, mut rx) = crate::sources::test_support::channel(4);
        let (_stop, shutdown) = watch::channel(false);
        let ctx = SourceContext {
            name: "demo".into(),
            out: tx,
            shutdown,
            data_dir: ".".into(),
            counters: Default::default(),
            acknowledgements: true,
        };
        let task = tokio::spawn(run(config, ctx));
        let mut events = Vec::new();
        while let Some(batch) = rx.recv().await {
            assert!(batch.len() <= MAX_BATCH);
            events.extend(batch);
        }
        task.await.unwrap().unwrap();
        events
    }

    #[tokio::test]
    async fn count_stops_after_exactly_n_events() {
        let config = DemoConfig {
            rate: 0.0,
            count: Some(2_500),
            kinds: DemoKind::all(),
            seed: Some(1),
        };
        let events = run_to_end(config).await;
        assert_eq!(events.len(), 2_500);
        for kind in DemoKind::ALL {
            let source = Some(kind.source().into());
            assert!(events
                .iter()
                .any(|e| e.fields.get(names::SOURCE) == source.as_ref()));
        }
        assert!(events.iter().all(|e| !e.message.contains('\n')));
    }

    #[tokio::test]
    async fn a_paced_source_also_stops_at_its_count() {
        let config = DemoConfig {
            rate: 1_000.0,
            count: Some(7),
            kinds: vec![DemoKind::Java],
            seed: None,
        };
        let events = run_to_end(config).await;
        assert_eq!(events.len(), 7);
        assert!(events
            .iter()
            .all(|e| e.fields.get(names::SOURCE) == Some(&"demo:java".into())));
    }
}
