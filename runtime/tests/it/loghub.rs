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
//!
//! Beyond the check, the event time must come from the log's time columns
//! (each pipeline's `builtin:timestamp` stage): no line may carry
//! `parse_error`, no event's `timestamp` may be its `ingest_timestamp`, and
//! two rows per system must have the time in [`TIMES`].

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

/// Per system, two (CSV `LineId`, event time) pairs, computed independently
/// with Python's `datetime` from the CSV columns each pipeline reads, every
/// text without a zone taken as UTC (`builtin:timestamp`'s default). `????`
/// is a log without a year: the plugin takes the year of its clock, or the
/// year before when that would put the time more than a day ahead
/// ([`with_guessed_year`]).
const TIMES: [(&str, [(usize, &str); 2]); 16] = [
    // Date + Time: `03-17` `16:13:38.811`.
    (
        "Android",
        [
            (1, "????-03-17T16:13:38.811Z"),
            (2000, "????-03-17T16:16:09.141Z"),
        ],
    ),
    // Time: `Sun Dec 04 04:47:44 2005`.
    (
        "Apache",
        [(1, "2005-12-04T04:47:44Z"), (2000, "2005-12-05T19:15:57Z")],
    ),
    // Timestamp (epoch seconds) `1117838570`, `1136301189`: exact, where
    // the Time column is local (-07:00 in June, -08:00 in January).
    (
        "BGL",
        [(1, "2005-06-03T22:42:50Z"), (2000, "2006-01-03T15:13:09Z")],
    ),
    // Date + Time: `081109` `203615`.
    (
        "HDFS",
        [(1, "2008-11-09T20:36:15Z"), (2000, "2008-11-11T10:20:17Z")],
    ),
    // Time (epoch seconds): `1077804742`, `1134671139`.
    (
        "HPC",
        [(1, "2004-02-26T14:12:22Z"), (2000, "2005-12-15T18:25:39Z")],
    ),
    // Date + Time: `2015-10-18` `18:01:47,978`.
    (
        "Hadoop",
        [
            (1, "2015-10-18T18:01:47.978Z"),
            (2000, "2015-10-18T18:10:55.202Z"),
        ],
    ),
    // Time: `20171223-22:53:7:6` (6 ms), `20171224-1:2:35:789`.
    (
        "HealthApp",
        [
            (1187, "2017-12-23T22:53:07.006Z"),
            (2000, "2017-12-24T01:02:35.789Z"),
        ],
    ),
    // Month + Date + Time: `Jun` `14` `15:16:01`.
    (
        "Linux",
        [(1, "????-06-14T15:16:01Z"), (2000, "????-07-27T14:42:00Z")],
    ),
    // Month + Date + Time: `Jul` `1` `09:00:55`.
    (
        "Mac",
        [(1, "????-07-01T09:00:55Z"), (2000, "????-07-08T08:10:46Z")],
    ),
    // Date (the month) + Day + Time: `Dec` `10` `06:55:46`.
    (
        "OpenSSH",
        [(1, "????-12-10T06:55:46Z"), (2000, "????-12-10T11:04:45Z")],
    ),
    // Date + Time: `2017-05-16` `00:00:00.008`.
    (
        "OpenStack",
        [
            (1, "2017-05-16T00:00:00.008Z"),
            (2000, "2017-05-16T00:14:47.687Z"),
        ],
    ),
    // Time: `10.30 16:49:06` (month.day), `07.27 10:23:42`.
    (
        "Proxifier",
        [(1, "????-10-30T16:49:06Z"), (2000, "????-07-27T10:23:42Z")],
    ),
    // Date + Time: `17/06/09` `20:10:40`.
    (
        "Spark",
        [(1, "2017-06-09T20:10:40Z"), (2000, "2017-06-09T20:11:11Z")],
    ),
    // Timestamp (epoch seconds): `1131566461`, `1131567332`.
    (
        "Thunderbird",
        [(1, "2005-11-09T20:01:01Z"), (2000, "2005-11-09T20:15:32Z")],
    ),
    // Date + Time: `2016-09-28` `04:30:30`.
    (
        "Windows",
        [(1, "2016-09-28T04:30:30Z"), (2000, "2016-09-29T02:04:40Z")],
    ),
    // Date + Time: `2015-07-29` `17:41:44,747`.
    (
        "Zookeeper",
        [
            (1, "2015-07-29T17:41:44.747Z"),
            (2000, "2015-08-10T18:12:34.004Z"),
        ],
    ),
];

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
        if !result.time_problems.is_empty() {
            failures.push(format!(
                "{system}: event times\n{}",
                result.time_problems.join("\n")
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
    /// Failed events, event times that are the ingest time, and sampled
    /// rows whose time is not the one in [`TIMES`] (the first few of each).
    time_problems: Vec<String>,
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
        time_problems: check_times(system, &events),
    }
}

/// No event failed, none kept the ingest time as its time, and the rows
/// sampled in [`TIMES`] have their time.
fn check_times(system: &str, events: &[Map<String, Json>]) -> Vec<String> {
    let mut problems = Vec::new();
    let get = |event: &Map<String, Json>, key: &str| event.get(key).map(text);
    let failed: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].contains_key("parse_error"))
        .map(|i| i + 1)
        .collect();
    if !failed.is_empty() {
        let first = &events[failed[0] - 1];
        problems.push(format!(
            "  {} lines have parse_error (lines {:?}...); line {}: {:?}",
            failed.len(),
            &failed[..failed.len().min(SHOWN)],
            failed[0],
            get(first, "error.message")
        ));
    }
    let ingest: Vec<usize> = (0..events.len())
        .filter(|&i| {
            let time = get(&events[i], "timestamp");
            time.is_none() || time == get(&events[i], "ingest_timestamp")
        })
        .map(|i| i + 1)
        .collect();
    if !ingest.is_empty() {
        problems.push(format!(
            "  {} events have no timestamp or the ingest time as their timestamp (lines {:?}...)",
            ingest.len(),
            &ingest[..ingest.len().min(SHOWN)]
        ));
    }
    let (_, samples) = TIMES
        .iter()
        .find(|(name, _)| *name == system)
        .unwrap_or_else(|| panic!("{system} has no entry in TIMES"));
    for (line, expected) in samples {
        let Some(event) = events.get(line - 1) else {
            problems.push(format!("  line {line}: no event"));
            continue;
        };
        let got = get(event, "timestamp").unwrap_or_default();
        let expected = match expected.strip_prefix("????") {
            Some(rest) => {
                let now = get(event, "ingest_timestamp")
                    .unwrap_or_else(|| panic!("{system} line {line}: no ingest_timestamp"));
                with_guessed_year(rest, &now)
            }
            None => (*expected).to_owned(),
        };
        if got != expected {
            problems.push(format!(
                "  line {line}: timestamp {got:?}, expected {expected:?}"
            ));
        }
    }
    problems
}

/// `-MM-DDTHH:MM:SS...Z` of a log without a year, with the year
/// `builtin:timestamp` gives it when its clock reads `now` (RFC 3339, UTC):
/// `now`'s year, or the year before if that would be more than a day after
/// `now`. (The plugin also steps back past a year without the date, i.e. a
/// February 29; no sampled row is one.)
fn with_guessed_year(rest: &str, now: &str) -> String {
    let this_year: i64 = now[..4].parse().expect("year of the ingest time");
    let candidate = format!("{this_year}{rest}");
    if epoch_seconds(&candidate) > epoch_seconds(now) + 86_400 {
        format!("{}{rest}", this_year - 1)
    } else {
        candidate
    }
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS` (what follows is
/// ignored), read as UTC.
fn epoch_seconds(text: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| -> i64 {
        text[range]
            .parse()
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
    };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
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

#[test]
fn year_guessing_and_epoch_seconds() {
    assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), 0);
    assert_eq!(epoch_seconds("2005-06-03T22:42:50Z"), 1_117_838_570);
    assert_eq!(epoch_seconds("2024-02-29T23:59:59.123Z"), 1_709_251_199);
    assert_eq!(epoch_seconds("1969-07-20T20:17:40Z"), -14_182_940);
    let now = "2026-11-22T06:30:00.5Z";
    assert_eq!(
        with_guessed_year("-06-14T15:16:01Z", now),
        "2026-06-14T15:16:01Z"
    );
    // Less than a day ahead: still this year; more: last year.
    assert_eq!(
        with_guessed_year("-11-23T06:00:00Z", now),
        "2026-11-23T06:00:00Z"
    );
    assert_eq!(
        with_guessed_year("-12-10T06:55:46Z", now),
        "2025-12-10T06:55:46Z"
    );
}
