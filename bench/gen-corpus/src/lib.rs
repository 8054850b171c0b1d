//! The benchmark corpus: the 16 loghub systems' lines (`*_2k.log`) replayed with fresh,
//! monotonic timestamps, with the fields of their structured CSVs (`*_2k.log_structured.csv`).
//!
//! Each event picks a system uniformly at random and takes that system's next line (cycling),
//! so each system's own sequence is kept and the systems interleave as in a shared index.
//! Timestamps run from `end - span` to `end`, each step the mean step times a uniform jitter
//! in [0.5, 1.5). Fields, where the CSV has them: `service` (the system, lower case), `level`
//! (only values that name a level), `host`, `component`, `pid` (int). The message is the raw
//! line. The same seed, count, span and end give the same events.

use sluice_event::{Event, Fields, Level, Value};
use std::path::Path;

pub const SYSTEMS: [&str; 16] = [
    "Android",
    "Apache",
    "BGL",
    "HDFS",
    "HPC",
    "Hadoop",
    "HealthApp",
    "Linux",
    "Mac",
    "OpenSSH",
    "OpenStack",
    "Proxifier",
    "Spark",
    "Thunderbird",
    "Windows",
    "Zookeeper",
];

/// The loghub directory of this repository's machine (`../shared/data/loghub`).
pub fn default_loghub_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/loghub")
}

/// One template line: the raw text and its fields.
#[derive(Clone, Debug)]
pub struct Line {
    pub message: String,
    pub fields: Fields,
}

/// A small deterministic generator (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Splits one CSV record (RFC 4180 quoting) into fields.
pub fn csv_record(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Reads one system's lines and fields.
pub fn load_system(dir: &Path, system: &str) -> std::io::Result<Vec<Line>> {
    let raw = std::fs::read(dir.join(format!("{system}_2k.log")))?;
    let raw = String::from_utf8_lossy(&raw);
    let csv = std::fs::read(dir.join(format!("{system}_2k.log_structured.csv")))?;
    let csv = String::from_utf8_lossy(&csv);
    let mut rows = csv.lines();
    let header = csv_record(rows.next().unwrap_or_default());
    let col = |name: &str| header.iter().position(|h| h == name);
    let (level, component, program, pid, node, user) = (
        col("Level"),
        col("Component"),
        col("Program"),
        col("Pid").or(col("PID")),
        col("Node"),
        col("User"),
    );
    let service = system.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut rows = rows.map(csv_record);
    for text in raw.lines() {
        let row = rows.next().unwrap_or_default();
        let get = |i: Option<usize>| {
            i.and_then(|i| row.get(i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty() && *s != "-")
        };
        let mut fields = Fields::new();
        fields.insert("service", service.as_str());
        if let Some(l) = get(level) {
            if Level::parse(l).is_some() {
                fields.insert("level", l);
            } else if system == "Linux" {
                // loghub's Linux parse puts the host name ("combo") in Level.
                fields.insert("host", l);
            }
        }
        // Node (BGL, HPC, Zookeeper), User (Mac and Thunderbird put the host there).
        if let Some(h) = get(node).or(get(user)) {
            fields.insert("host", h);
        }
        if let Some(c) = get(component).or(get(program)) {
            fields.insert("component", c);
        }
        if let Some(p) = get(pid) {
            match p.parse::<i64>() {
                Ok(n) => fields.insert("pid", Value::Int(n)),
                Err(_) => fields.insert("pid", p),
            }
        }
        out.push(Line {
            message: text.to_owned(),
            fields,
        });
    }
    Ok(out)
}

/// The corpus parameters.
#[derive(Clone, Debug)]
pub struct Spec {
    pub events: u64,
    pub seed: u64,
    /// The newest timestamp, ns since the epoch.
    pub end: i64,
    /// How far back the oldest event is, ns.
    pub span: i64,
}

impl Spec {
    /// `events` events over the 7 days before the start of the current UTC hour (so runs
    /// within the same hour produce the same corpus).
    pub fn new(events: u64, seed: u64) -> Spec {
        let now = sluice_event::now_ns();
        let hour = 3_600_000_000_000;
        Spec {
            events,
            seed,
            end: now - now.rem_euclid(hour),
            span: 7 * 24 * hour,
        }
    }
}

/// The events of a corpus, in timestamp order.
pub struct Corpus {
    systems: Vec<Vec<Line>>,
    next: Vec<usize>,
    rng: Rng,
    remaining: u64,
    ts: f64,
    step: f64,
}

impl Corpus {
    pub fn open(loghub: &Path, spec: &Spec) -> std::io::Result<Corpus> {
        let systems = SYSTEMS
            .iter()
            .map(|s| load_system(loghub, s))
            .collect::<std::io::Result<Vec<_>>>()?;
        let step = spec.span as f64 / spec.events.max(1) as f64;
        Ok(Corpus {
            next: vec![0; systems.len()],
            systems,
            rng: Rng::new(spec.seed),
            remaining: spec.events,
            ts: (spec.end - spec.span) as f64,
            step,
        })
    }

    /// The next event's template line and timestamp, without copying.
    pub fn next_line(&mut self) -> Option<(&Line, i64)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let s = (self.rng.next_u64() % self.systems.len() as u64) as usize;
        let i = self.next[s];
        self.next[s] = (i + 1) % self.systems[s].len();
        self.ts += self.step * (0.5 + self.rng.unit());
        Some((&self.systems[s][i], self.ts as i64))
    }

    /// Fills `out` with up to `n` events (ingest time: now); false once the corpus is done.
    pub fn fill(&mut self, n: usize, out: &mut Vec<Event>) -> bool {
        out.clear();
        let now = sluice_event::now_ns();
        while out.len() < n {
            let Some((line, ts)) = self.next_line() else {
                break;
            };
            out.push(Event {
                timestamp: ts,
                ingest_timestamp: now,
                message: line.message.clone(),
                fields: line.fields.clone(),
            });
        }
        !out.is_empty()
    }
}

impl Iterator for Corpus {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        let (line, ts) = self.next_line()?;
        Some(Event {
            timestamp: ts,
            ingest_timestamp: ts,
            message: line.message.clone(),
            fields: line.fields.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes() {
        assert_eq!(
            csv_record(r#"1,"a,b","say ""hi""",,x"#),
            vec!["1", "a,b", r#"say "hi""#, "", "x"]
        );
    }

    #[test]
    fn deterministic_and_monotonic() {
        let spec = Spec {
            events: 5000,
            seed: 7,
            end: 1_000_000_000_000_000_000,
            span: 1_000_000_000_000,
        };
        let a: Vec<Event> = Corpus::open(&default_loghub_dir(), &spec)
            .unwrap()
            .collect();
        let b: Vec<Event> = Corpus::open(&default_loghub_dir(), &spec)
            .unwrap()
            .collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 5000);
        assert!(a.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        assert!(a.last().unwrap().timestamp <= spec.end);
        let with_level = a.iter().filter(|e| e.fields.get("level").is_some()).count();
        assert!(with_level > 1000, "{with_level}");
    }
}
