//! Golden test of `pipelines/loghub/<System>.toml`: each pipeline runs through
//! the `sluice` binary on its system's 2,000-line Loghub sample, and every line
//! must give back the header fields and the message of the collection's ground
//! truth (`<System>_2k.log_structured.csv`).
//!
//! The comparison is the acceptance check's (`shared/checks/loghub-parse`):
//! - every CSV column but `LineId`, `EventId`, `EventTemplate` and `Content` is
//!   looked for in the field named by the column in snake case (`NodeRepeat` →
//!   `node_repeat`, `PID` → `pid`, `Timestamp` → `unix_time`); a field whose
//!   last dotted segment is that name, that name plus `_raw`, or `original`
//!   counts too, and one of them must equal the value after trimming and
//!   lowercasing (so an empty value needs a blank field, not a missing one);
//! - `Content` must equal the event's message after trimming;
//! - output lines are paired with CSV rows in order.

use super::sluice;
use serde_json::{Map, Value as Json};
use std::fs::File;
use std::process::Stdio;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/loghub");
const PIPELINES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines/loghub");

/// Each system and the number of its lines that must come out fully correct:
/// all of them.
const SYSTEMS: [(&str, usize); 16] = [
    ("Android", 2000),
    ("Apache", 2000),
    ("BGL", 2000),
    ("HDFS", 2000),
    ("HPC", 2000),
    ("Hadoop", 2000),
    ("HealthApp", 2000),
    ("Linux", 2000),
    ("Mac", 2000),
    ("OpenSSH", 2000),
    ("OpenStack", 2000),
    ("Proxifier", 2000),
    ("Spark", 2000),
    ("Thunderbird", 2000),
    ("Windows", 2000),
    ("Zookeeper", 2000),
];

/// Mismatches shown per system.
const SHOWN: usize = 5;

#[test]
fn loghub_pipelines_recover_the_ground_truth() {
    let mut failures = Vec::new();
    for (system, expected) in SYSTEMS {
        let result = compare(system);
        if result.correct != expected {
            failures.push(format!(
                "{system}: {}/{} lines fully correct, expected {expected}\n{}",
                result.correct,
                result.lines,
                result.mismatches.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

struct Comparison {
    /// CSV rows.
    lines: usize,
    /// Rows whose every column came out right.
    correct: usize,
    /// The first few wrong columns, described.
    mismatches: Vec<String>,
}

/// Runs `pipelines/loghub/<system>.toml` on `<system>_2k.log` and compares the
/// events with `<system>_2k.log_structured.csv`.
fn compare(system: &str) -> Comparison {
    let csv_path = format!("{DATA}/{system}_2k.log_structured.csv");
    let csv = String::from_utf8_lossy(&std::fs::read(&csv_path).unwrap()).into_owned();
    let mut rows = parse_csv(&csv).into_iter();
    let header = rows.next().unwrap_or_else(|| panic!("{csv_path} is empty"));
    let rows: Vec<Vec<String>> = rows.collect();

    let out = sluice()
        .arg("run")
        .arg(format!("{PIPELINES}/{system}.toml"))
        .stdin(File::open(format!("{DATA}/{system}_2k.log")).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{system}: sluice run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Map<String, Json>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let event: Json =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{system}: {e}: {l}"));
            flatten(&event)
        })
        .collect();

    let mut correct = 0;
    let mut mismatches = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let line = index + 1;
        let Some(event) = events.get(index) else {
            if mismatches.len() < SHOWN {
                mismatches.push(format!("  line {line}: no event (only {})", events.len()));
            }
            continue;
        };
        let mut good = true;
        for (column, expected) in header.iter().zip(row) {
            let got = match column.as_str() {
                "LineId" | "EventId" | "EventTemplate" => continue,
                "Content" => {
                    let message = event.get("message").map(text).unwrap_or_default();
                    if message.trim() == expected.trim() {
                        continue;
                    }
                    format!("message {message:?}")
                }
                _ => {
                    let name = snake(column);
                    let raw = format!("{name}_raw");
                    let candidates: Vec<String> = event
                        .iter()
                        .filter(|(key, _)| {
                            let last = key.rsplit('.').next().unwrap_or(key);
                            last == name || last == raw || last == "original"
                        })
                        .map(|(_, v)| text(v))
                        .collect();
                    let want = expected.trim().to_lowercase();
                    if candidates.iter().any(|c| c.trim().to_lowercase() == want) {
                        continue;
                    }
                    if candidates.is_empty() {
                        format!("no `{name}` field")
                    } else {
                        format!("`{name}` {candidates:?}")
                    }
                }
            };
            good = false;
            if mismatches.len() < SHOWN {
                mismatches.push(format!(
                    "  line {line}, column {column}: expected {expected:?}, got {got}"
                ));
            }
        }
        correct += usize::from(good);
    }
    Comparison {
        lines: rows.len(),
        correct,
        mismatches,
    }
}

/// The field a column is expected in: `NodeRepeat` → `node_repeat`, `PID` →
/// `pid`, `LogId` → `log_id`; `Timestamp` (Unix seconds) → `unix_time`.
fn snake(column: &str) -> String {
    if column == "Timestamp" {
        return "unix_time".to_owned();
    }
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in column.chars() {
        if c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
        previous = Some(c);
    }
    out
}

/// An event as dotted keys, with the `fields.` prefix dropped: `message`,
/// `timestamp`, `pid`, ...
fn flatten(event: &Json) -> Map<String, Json> {
    fn walk(value: &Json, prefix: &str, out: &mut Map<String, Json>) {
        match value {
            Json::Object(map) => {
                for (key, value) in map {
                    let key = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(value, &key, out);
                }
            }
            other => {
                let key = prefix.strip_prefix("fields.").unwrap_or(prefix);
                out.insert(key.to_owned(), other.clone());
            }
        }
    }
    let mut out = Map::new();
    walk(event, "", &mut out);
    out
}

/// A value as text: a string as itself, anything else as its JSON.
fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses CSV text into rows of fields: fields are separated by commas, a
/// field in double quotes may hold commas, line breaks and doubled quotes
/// (`""` is one `"`); rows end at `\n`, `\r\n` or `\r`.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[test]
fn the_csv_parser_reads_quotes_commas_and_line_ends() {
    let rows = parse_csv("a,b,c\r\n1,\"x, \"\"y\"\"\",\n\"\",z,\"q\nr\"");
    assert_eq!(
        rows,
        vec![
            vec!["a", "b", "c"],
            vec!["1", "x, \"y\"", ""],
            vec!["", "z", "q\nr"],
        ]
    );
    assert_eq!(snake("NodeRepeat"), "node_repeat");
    assert_eq!(snake("PID"), "pid");
    assert_eq!(snake("ADDR"), "addr");
    assert_eq!(snake("LogId"), "log_id");
    assert_eq!(snake("Timestamp"), "unix_time");
}
