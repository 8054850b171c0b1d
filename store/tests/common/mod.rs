//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sluice_event::{Event, Value};
use std::path::PathBuf;

pub fn loghub_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub")
}

/// The lines of `<name>_2k.log` (invalid UTF-8 replaced).
pub fn loghub(name: &str) -> Vec<String> {
    let path = loghub_dir().join(format!("{name}_2k.log"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub const BASE_TS: i64 = 1_700_000_000_000_000_000;

/// A plain-text event as `sluice serve` makes one: the line is the message.
pub fn line_event(line: &str, ts: i64) -> Event {
    Event {
        timestamp: ts,
        ingest_timestamp: ts,
        message: line.to_owned(),
        fields: Default::default(),
    }
}

/// An event with varied typed fields, including type conflicts and shared timestamps.
pub fn random_event(rng: &mut Rng, lines: &[String]) -> Event {
    let line = rng.pick(lines).clone();
    // Few distinct timestamps, so ties are common.
    let ts = BASE_TS + (rng.below(50) as i64) * 1_000_000_000;
    let mut e = line_event(&line, ts);
    e.ingest_timestamp = ts + rng.below(1000) as i64;
    if rng.chance(80) {
        let level = *rng.pick(&[
            "INFO", "info", "WARN", "warning", "ERROR", "E", "debug", "FATAL", "bogus",
        ]);
        e.fields.insert("level", level);
    }
    if rng.chance(70) {
        e.fields.insert(
            "service",
            *rng.pick(&["api", "web-1", "web-2", "Payments", "db"]),
        );
    }
    if rng.chance(50) {
        e.fields
            .insert("host", *rng.pick(&["h1", "h2", "H3.example.com"]));
    }
    if rng.chance(40) {
        let status: Value = match rng.below(10) {
            0 => Value::String("5xx".into()),
            1 => Value::String("404".into()),
            2 => Value::Float(200.0),
            3 => Value::Null,
            _ => Value::Int(*rng.pick(&[200i64, 201, 301, 404, 500, 503])),
        };
        e.fields.insert("status", status);
    }
    if rng.chance(40) {
        e.fields.insert("latency", (rng.below(10_000) as f64) / 7.0);
    }
    if rng.chance(10) {
        e.fields.insert(
            "when",
            Value::Timestamp(BASE_TS + rng.below(100) as i64 * 1_000_000_000),
        );
    }
    if rng.chance(10) {
        e.fields.insert("when", "2023-11-14T22:13:40Z");
    }
    if rng.chance(10) {
        e.fields.insert("ok", rng.chance(50));
    }
    if rng.chance(20) {
        e.fields
            .insert("source", *rng.pick(&["/var/log/a.log", "/var/log/b.log"]));
    }
    if rng.chance(5) {
        e.fields
            .insert("http.request.method", *rng.pick(&["GET", "POST"]));
    }
    e
}

/// Queries that cover every kind of clause the language has.
pub const QUERIES: &[&str] = &[
    "*",
    "error",
    "\"error state\"",
    "child AND NOT scoreboard",
    "workerenv OR scoreboard",
    "\"failed password\"",
    "\"invalid user\" AND admin",
    "preauth",
    "authentication AND failure",
    "(session OR connection) AND NOT closed",
    "conn*",
    "*tion",
    "jk2_init",
    "\"jk2_init() found\"",
    "level:ERROR",
    "level:error",
    "level:>=WARN",
    "level:<INFO",
    "level:[DEBUG TO WARN]",
    "-level:INFO",
    "NOT level:bogus",
    "service:api",
    "service:web-*",
    "service:payments",
    "service:/web-[0-9]/",
    "host:h3.example.com",
    "status:404",
    "status:>=500",
    "status:[200 TO 301]",
    "status:200",
    "status:5xx",
    "status:*",
    "_exists_:status",
    "NOT _exists_:status",
    "latency:>100",
    "latency:<=50.5",
    "latency:{10 TO 20}",
    "when:>=2023-11-14T22:13:40Z",
    "when:2023-11-14T22:13:40Z",
    "ok:true",
    "ok:false OR level:fatal",
    "timestamp:>=1700000010000",
    "timestamp:[1700000005000 TO 1700000030000}",
    "ingest_timestamp:<1700000020000",
    "/.*[Ff]ailed.*/",
    "\"->\"",
    "http.request.method:get",
    "source:\"/var/log/a.log\"",
    "(level:ERROR OR level:FATAL) AND service:api",
    "session AND (status:>=400 OR NOT _exists_:host)",
    "host:>h2",
    "message:user",
    "_exists_:message",
    "rhost",
    "\"127.0.0.1\"",
    "0 AND 1",
];
