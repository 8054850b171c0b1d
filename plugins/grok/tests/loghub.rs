//! Real logs from the loghub corpus, checked against its structured CSV.

use serde_json::json;
use sluice_plugin_grok::Grok;
use sluice_sdk::{testing, Emitted, Value};

const LOGHUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/loghub");
const ECS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/grok-patterns/patterns/ecs-v1"
);

fn lines(system: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{LOGHUB}/{system}_2k.log")).unwrap();
    text.lines().map(str::to_owned).collect()
}

/// The structured CSV as rows of (column, value) maps.
fn csv(system: &str) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(format!("{LOGHUB}/{system}_2k.log_structured.csv")).unwrap();
    let mut records = parse_csv(&text).into_iter();
    let header = records.next().unwrap();
    records
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

/// RFC 4180 records: quoted fields may hold commas, newlines and `""`.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

fn run(config: serde_json::Value, lines: &[String]) -> Vec<Emitted> {
    let mut g = testing::configure::<Grok>(config).unwrap();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    testing::process_lines(&mut g, &refs).unwrap()
}

fn text<'e>(e: &'e Emitted, name: &str) -> Option<&'e str> {
    e.event.fields.get(name).and_then(Value::as_str)
}

#[test]
fn apache_error_log_with_httpd_errorlog() {
    let lines = lines("Apache");
    let rows = csv("Apache");
    assert_eq!(lines.len(), 2000);
    assert_eq!(rows.len(), 2000);
    let out = run(json!({"patterns": ["%{HTTPD_ERRORLOG}"]}), &lines);
    assert_eq!(out.len(), 2000);
    for (i, (e, row)) in out.iter().zip(&rows).enumerate() {
        assert_eq!(e.error, None, "line {}: {}", i + 1, lines[i]);
        assert_eq!(
            text(e, "timestamp"),
            Some(row["Time"].as_str()),
            "line {}",
            i + 1
        );
        assert_eq!(
            text(e, "loglevel"),
            Some(row["Level"].as_str()),
            "line {}",
            i + 1
        );
        assert_eq!(content(e, "clientip"), row["Content"], "line {}", i + 1);
    }
}

/// The CSV's Content keeps the "[client 1.2.3.4] " prefix that
/// HTTPD20_ERRORLOG takes out of the message into a field.
fn content(e: &Emitted, client_field: &str) -> String {
    match text(e, client_field) {
        Some(ip) => format!("[client {ip}] {}", e.event.message),
        None => e.event.message.clone(),
    }
}

#[test]
fn apache_error_log_with_a_custom_pattern() {
    let lines = lines("Apache");
    let rows = csv("Apache");
    let out = run(
        json!({
            "patterns": [r"^\[%{APACHETIME:time}\] \[%{LOGLEVEL:level}\] %{GREEDYDATA:content}$"],
            "pattern_definitions": {"APACHETIME": "%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{YEAR}"}
        }),
        &lines,
    );
    for (i, (e, row)) in out.iter().zip(&rows).enumerate() {
        assert_eq!(e.error, None, "line {}", i + 1);
        assert_eq!(
            text(e, "time"),
            Some(row["Time"].as_str()),
            "line {}",
            i + 1
        );
        assert_eq!(
            text(e, "level"),
            Some(row["Level"].as_str()),
            "line {}",
            i + 1
        );
        assert_eq!(
            text(e, "content"),
            Some(row["Content"].as_str()),
            "line {}",
            i + 1
        );
    }
}

#[test]
fn apache_error_log_with_logstash_ecs_patterns() {
    let lines = lines("Apache");
    let rows = csv("Apache");
    let out = run(
        json!({"patterns": ["%{HTTPD_ERRORLOG}"], "patterns_dir": ECS}),
        &lines,
    );
    for (i, (e, row)) in out.iter().zip(&rows).enumerate() {
        assert_eq!(e.error, None, "line {}", i + 1);
        assert_eq!(
            text(e, "timestamp"),
            Some(row["Time"].as_str()),
            "line {}",
            i + 1
        );
        assert_eq!(
            text(e, "log.level"),
            Some(row["Level"].as_str()),
            "line {}",
            i + 1
        );
        assert_eq!(
            content(e, "source.address"),
            row["Content"],
            "line {}",
            i + 1
        );
    }
}

/// "Jun 14 15:16:01" against the CSV's Month, Date and Time columns.
fn same_time(timestamp: &str, row: &std::collections::HashMap<String, String>) -> bool {
    let parts: Vec<&str> = timestamp.split_whitespace().collect();
    parts
        == [
            row["Month"].as_str(),
            row["Date"].as_str(),
            row["Time"].as_str(),
        ]
}

#[test]
fn linux_syslog_with_syslogline() {
    let lines = lines("Linux");
    let rows = csv("Linux");
    assert_eq!(rows.len(), 2000);
    let out = run(json!({"patterns": ["%{SYSLOGLINE}"]}), &lines);
    let mut with_program = 0;
    for (i, (e, row)) in out.iter().zip(&rows).enumerate() {
        let n = i + 1;
        assert_eq!(e.error, None, "line {n}: {}", lines[i]);
        assert!(same_time(text(e, "timestamp").unwrap(), row), "line {n}");
        assert_eq!(
            text(e, "logsource"),
            Some(row["Level"].as_str()),
            "line {n}"
        );
        if let Some(program) = text(e, "program") {
            with_program += 1;
            assert_eq!(program, row["Component"], "line {n}");
            assert_eq!(text(e, "pid").unwrap_or(""), row["PID"], "line {n}");
            assert_eq!(e.event.message.trim(), row["Content"], "line {n}");
        }
    }
    // Only "syslogd 1.4.1: restart." (a space in the program) and one
    // "--"-prefixed line have no SYSLOGPROG part.
    assert!(with_program >= 1985, "{with_program}");
}

#[test]
fn linux_syslog_with_syslogbase() {
    let lines = lines("Linux");
    let rows = csv("Linux");
    let out = run(
        json!({"patterns": ["%{SYSLOGBASE} %{GREEDYDATA:content}"]}),
        &lines,
    );
    let matched = out.iter().filter(|e| e.error.is_none()).count();
    assert!(matched >= 1985, "{matched}");
    for (i, (e, row)) in out.iter().zip(&rows).enumerate() {
        if e.error.is_some() {
            assert_eq!(e.event.message, lines[i], "raw text kept");
            continue;
        }
        assert!(
            same_time(text(e, "timestamp").unwrap(), row),
            "line {}",
            i + 1
        );
        assert_eq!(
            text(e, "program"),
            Some(row["Component"].as_str()),
            "line {}",
            i + 1
        );
        assert_eq!(
            text(e, "content").map(str::trim),
            Some(row["Content"].as_str())
        );
    }
}
