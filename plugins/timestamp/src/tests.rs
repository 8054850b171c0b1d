//! Real Loghub timestamps, checked against epoch values computed
//! independently (Python's `datetime`), and the plugin as the host drives it.

use super::*;
use serde_json::json;
use sluice_sdk::Value;
use sluice_sdk::{testing, Emitted};

const S: i64 = 1_000_000_000;

/// ns of a UTC instant, from the calendar code (used for `now` only).
fn utc(y: i64, m: u32, d: u32, hh: i64, mm: i64) -> i64 {
    (civil::days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60) * S
}

fn parse_with(format: &str, text: &str, offset: i32, now: i64) -> Result<i64, String> {
    Format::from_config(format)
        .unwrap()
        .parse(text, offset, now)
}

fn parse(format: &str, text: &str) -> i64 {
    parse_with(format, text, 0, 0).unwrap_or_else(|e| panic!("{format} on {text:?}: {e}"))
}

#[test]
fn loghub_samples_with_a_year() {
    let cases: &[(&str, &str, &str, i64)] = &[
        // (system, format, text, ns from Python)
        (
            "HDFS",
            "%y%m%d %H%M%S",
            "081109 203615",
            1_226_262_975_000_000_000,
        ),
        (
            "BGL",
            "%Y-%m-%d-%H.%M.%S.%f",
            "2005-06-03-15.42.50.675872",
            1_117_813_370_675_872_000,
        ),
        (
            "Spark",
            "%y/%m/%d %H:%M:%S",
            "17/06/09 20:10:40",
            1_497_039_040_000_000_000,
        ),
        (
            "Zookeeper",
            "iso8601",
            "2015-07-29 17:41:44,747",
            1_438_191_704_747_000_000,
        ),
        (
            "Hadoop",
            "iso8601",
            "2015-10-18 18:01:47,978",
            1_445_191_307_978_000_000,
        ),
        (
            "HealthApp",
            "%Y%m%d-%H:%M:%S:%L",
            "20171223-22:15:29:606",
            1_514_067_329_606_000_000,
        ),
        (
            "HealthApp",
            "%Y%m%d-%H:%M:%S:%L",
            "20171223-22:25:13:8",
            1_514_067_913_008_000_000,
        ),
        (
            "Windows",
            "iso8601",
            "2016-09-28 04:30:30",
            1_475_037_030_000_000_000,
        ),
        (
            "Windows",
            "%Y-%m-%d %H:%M:%S,",
            "2016-09-28 04:30:30,",
            1_475_037_030_000_000_000,
        ),
        (
            "OpenStack",
            "rfc3339",
            "2017-05-16 00:00:00.008",
            1_494_892_800_008_000_000,
        ),
        (
            "OpenStack",
            "%Y-%m-%d_%H:%M:%S",
            "2017-05-16_13:53:08",
            1_494_942_788_000_000_000,
        ),
        (
            "Apache",
            "%a %b %d %H:%M:%S %Y",
            "Sun Dec 04 04:47:44 2005",
            1_133_671_664_000_000_000,
        ),
        (
            "Apache",
            "apache",
            "24/Feb/2015:23:13:42 +0000",
            1_424_819_622_000_000_000,
        ),
        (
            "Apache",
            "apache",
            "24/Feb/2015:23:13:42 -0800",
            1_424_848_422_000_000_000,
        ),
        ("BGL", "unix", "1117838570", 1_117_838_570_000_000_000),
        (
            "Thunderbird",
            "unix",
            "1131566461",
            1_131_566_461_000_000_000,
        ),
        ("HPC", "unix", "1077804742", 1_077_804_742_000_000_000),
        (
            "Thunderbird",
            "%Y.%m.%d %b %e %H:%M:%S",
            "2005.11.09 Nov 9 12:01:01",
            1_131_537_661_000_000_000,
        ),
        (
            "Mac",
            "%Y %b %d %H:%M:%S",
            "2017 Jul  1 09:00:55",
            1_498_899_655_000_000_000,
        ),
    ];
    for (system, format, text, want) in cases {
        assert_eq!(parse(format, text), *want, "{system}: {format} on {text:?}");
    }
}

#[test]
fn local_times_with_negative_offsets_match_the_logs_own_epoch_column() {
    // BGL's first line: `1117838570 ... 2005-06-03-15.42.50.675872`; the
    // machine's clock was at -07:00.
    let bgl = parse_with(
        "%Y-%m-%d-%H.%M.%S.%f",
        "2005-06-03-15.42.50.675872",
        -7 * 3600,
        0,
    );
    assert_eq!(bgl, Ok(1_117_838_570 * S + 675_872_000));
    // Thunderbird: `1131566461 2005.11.09 ... Nov 9 12:01:01`, at -08:00.
    let tb = parse_with("%Y.%m.%d %H:%M:%S", "2005.11.09 12:01:01", -8 * 3600, 0);
    assert_eq!(tb, Ok(1_131_566_461 * S));
}

#[test]
fn loghub_samples_without_a_year() {
    let end_2017 = utc(2017, 12, 31, 0, 0);
    // Android `03-17 16:13:38.811`.
    assert_eq!(
        parse_with("%m-%d %H:%M:%S%.f", "03-17 16:13:38.811", 0, end_2017),
        Ok(1_489_767_218_811_000_000)
    );
    // Mac `Jul  1 09:00:55`.
    assert_eq!(
        parse_with("rfc3164", "Jul  1 09:00:55", 0, end_2017),
        Ok(1_498_899_655 * S)
    );
    // Proxifier `[10.30 16:49:06]` read in January: October is last year's.
    assert_eq!(
        parse_with(
            "[%m.%d %H:%M:%S]",
            "[10.30 16:49:06]",
            0,
            utc(2017, 1, 15, 0, 0)
        ),
        Ok(1_477_846_146 * S)
    );
    // Linux `Jun 14 15:16:01` read 15 hours early: still this year.
    assert_eq!(
        parse_with("rfc3164", "Jun 14 15:16:01", 0, utc(2005, 6, 14, 0, 0)),
        Ok(1_118_762_161 * S)
    );
    // OpenSSH `Dec 10 06:55:46` read in early January.
    assert_eq!(
        parse_with("rfc3164", "Dec 10 06:55:46", 0, utc(2026, 1, 5, 0, 0)),
        Ok(1_765_349_746 * S)
    );
    // Thunderbird's `Nov 9 12:01:01`: a one-digit day with one space.
    assert!(parse_with("rfc3164", "Nov 9 12:01:01", 0, end_2017).is_ok());
}

#[test]
fn rfc3339_leap_years_month_boundaries_and_offsets() {
    let cases: &[(&str, i64)] = &[
        ("2024-02-29T23:59:59.123456Z", 1_709_251_199_123_456_000),
        ("2024-02-29T23:59:59+05:30", 1_709_231_399_000_000_000),
        ("2023-12-31T23:59:59-01:00", 1_704_070_799_000_000_000),
        ("2000-02-29 00:00:00", 951_782_400_000_000_000),
        ("1969-07-20 20:17:40", -14_182_940_000_000_000),
        (
            "2015-02-24T23:13:42.123456789+00:00",
            1_424_819_622_123_456_789,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(parse("iso8601", text), *want, "{text}");
    }
    for bad in [
        "2023-02-29T00:00:00Z",
        "2100-02-29 00:00:00",
        "2024-04-31 00:00:00",
        "2024-13-01",
    ] {
        assert!(parse_with("iso8601", bad, 0, 0).is_err(), "{bad}");
    }
}

#[test]
fn strftime_extras() {
    let cases: &[(&str, &str, i64)] = &[
        (
            "%m/%d/%Y %I:%M:%S %p",
            "03/01/2024 12:05:00 AM",
            1_709_251_500 * S,
        ),
        (
            "%m/%d/%Y %I:%M:%S %p",
            "03/01/2024 01:05:00 PM",
            1_709_298_300 * S,
        ),
        ("%Y %j %H:%M", "2024 060 10:00", 1_709_200_800 * S),
        ("%y%m%d %H%M%S", "690101 000000", -31_536_000 * S),
        (
            "%a %b %d %H:%M:%S %Z %Y",
            "Sun Dec 04 04:47:44 UTC 2005",
            1_133_671_664 * S,
        ),
        (
            "%d/%b/%Y:%H:%M:%S %z",
            "24/Feb/2015:23:13:42 -08:00",
            1_424_848_422 * S,
        ),
        ("%s", "1131566461", 1_131_566_461 * S),
        (
            "%F %T%.f",
            "2017-05-16 00:00:00.008",
            1_494_892_800_008_000_000,
        ),
        ("unix_ms", "1494892800008", 1_494_892_800_008_000_000),
    ];
    for (format, text, want) in cases {
        assert_eq!(parse(format, text), *want, "{format} on {text:?}");
    }
}

fn plugin(config: serde_json::Value) -> Timestamp {
    testing::configure::<Timestamp>(config).unwrap()
}

fn event(fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new("raw line");
    for (k, v) in fields {
        e.fields.insert(*k, v.clone());
    }
    e
}

fn run(p: &mut Timestamp, events: Vec<Event>) -> Vec<Emitted> {
    testing::process(p, events).unwrap()
}

#[test]
fn sets_the_event_time_and_keeps_the_text() {
    let mut p = plugin(json!({"formats": ["%y%m%d %H%M%S"]}));
    let out = run(
        &mut p,
        vec![event(&[("timestamp", "081109 203615".into())])],
    );
    assert_eq!(out[0].error, None);
    assert_eq!(out[0].event.timestamp, 1_226_262_975 * S);
    assert_eq!(
        out[0].event.fields.get("timestamp"),
        Some(&Value::from("081109 203615"))
    );
    assert_eq!(out[0].event.message, "raw line");
}

#[test]
fn loghub_csv_date_and_time_columns_joined() {
    // Hadoop's structured CSV: Date `2015-10-18`, Time `18:01:47,978`.
    let mut p = plugin(json!({"fields": ["Date", "Time"], "remove_field": true}));
    let e = event(&[
        ("Date", "2015-10-18".into()),
        ("Time", "18:01:47,978".into()),
        ("Level", "INFO".into()),
    ]);
    let out = run(&mut p, vec![e]);
    assert_eq!(out[0].event.timestamp, 1_445_191_307_978_000_000);
    assert_eq!(out[0].event.fields.get("Date"), None);
    assert_eq!(out[0].event.fields.get("Time"), None);
    // Linux's CSV: Month `Jun`, Date 14 (a number once typed), Time.
    let mut p = plugin(
        json!({"fields": ["Month", "Date", "Time"], "formats": ["rfc3164"], "target": "ts"}),
    );
    let e = event(&[
        ("Month", "Jun".into()),
        ("Date", Value::Int(14)),
        ("Time", "15:16:01".into()),
    ]);
    let out = run(&mut p, vec![e]);
    let Some(Value::Timestamp(ns)) = out[0].event.fields.get("ts") else {
        panic!("{:?}", out[0]);
    };
    // This year's or last year's June 14, 15:16:01 UTC.
    let now = sluice_sdk::host::now();
    assert!(*ns <= now + 86_400 * S && *ns > now - 367 * 86_400 * S);
    assert_eq!(ns.rem_euclid(86_400 * S), (15 * 3600 + 16 * 60 + 1) * S);
    let (_, m, d) = civil::civil_from_days(ns.div_euclid(86_400 * S));
    assert_eq!((m, d), (6, 14));
    assert_eq!(
        out[0].event.fields.get("Month"),
        Some(&Value::from("Jun")),
        "kept"
    );
}

#[test]
fn formats_are_tried_in_order_and_timezone_applies_without_a_zone() {
    let mut p = plugin(json!({
        "formats": ["unix", "%Y-%m-%d-%H.%M.%S.%f", "iso8601"],
        "timezone": "-07:00",
        "field": "time",
    }));
    let out = run(
        &mut p,
        vec![
            event(&[("time", "1117838570".into())]),
            event(&[("time", "2005-06-03-15.42.50.675872".into())]),
            event(&[("time", "2005-06-03T22:42:50Z".into())]),
            event(&[("time", Value::Int(1_117_838_570))]),
        ],
    );
    let times: Vec<i64> = out.iter().map(|e| e.event.timestamp).collect();
    assert_eq!(
        times,
        [
            1_117_838_570 * S,
            1_117_838_570 * S + 675_872_000,
            1_117_838_570 * S,
            1_117_838_570 * S
        ]
    );
}

#[test]
fn failure_fails_with_the_raw_text_or_keeps_with_a_field() {
    let bad = || {
        event(&[
            ("timestamp", "not a time".into()),
            ("level", "warning".into()),
        ])
    };
    let mut p = plugin(json!({"formats": ["iso8601", "%d/%b/%Y"]}));
    let out = run(&mut p, vec![bad()]);
    assert_eq!(out[0].output.as_deref(), Some("errors"));
    let reason = out[0].error.as_deref().unwrap();
    assert!(
        reason.starts_with("cannot parse timestamp \"not a time\" from `timestamp`: iso8601: "),
        "{reason}"
    );
    assert!(reason.contains("; %d/%b/%Y: "), "{reason}");
    assert_eq!(out[0].event.message, "raw line");
    assert_eq!(
        out[0].event.fields.get("timestamp"),
        Some(&Value::from("not a time"))
    );

    let mut p = plugin(json!({"on_failure": "keep"}));
    let before = bad();
    let out = run(&mut p, vec![before.clone()]);
    assert_eq!(out[0].output, None);
    assert_eq!(out[0].error, None);
    assert!(out[0]
        .event
        .fields
        .get(ERROR_FIELD)
        .and_then(Value::as_str)
        .unwrap()
        .starts_with("cannot parse timestamp"));
    assert_eq!(
        out[0].event.timestamp, before.timestamp,
        "the time is unchanged"
    );
    assert_eq!(
        out[0].event.fields.get("level"),
        Some(&Value::from("WARN")),
        "the level is normalized all the same"
    );
}

#[test]
fn missing_field_fails_unless_the_event_already_failed() {
    let mut p = plugin(json!({}));
    let mut upstream = event(&[]);
    upstream.record_error("parse", "no grok pattern matched");
    let out = run(&mut p, vec![event(&[]), upstream]);
    assert_eq!(
        out[0].error.as_deref(),
        Some("cannot parse timestamp: field `timestamp` is missing")
    );
    assert_eq!(out[1].error, None, "passed on, its first error kept");
    assert_eq!(
        out[1].event.fields.get("error.message"),
        Some(&Value::from("no grok pattern matched"))
    );
    let out = run(&mut p, vec![event(&[("timestamp", Value::Bool(true))])]);
    assert!(out[0].error.as_deref().unwrap().contains("is not text"));
}

#[test]
fn target_field_and_existing_timestamp_values() {
    let mut p = plugin(json!({"target": "parsed_at", "remove_field": true}));
    let e = event(&[("timestamp", "2015-07-29 17:41:44,747".into())]);
    let before = e.timestamp;
    let out = run(&mut p, vec![e]);
    let e = &out[0].event;
    assert_eq!(e.timestamp, before, "the event time is untouched");
    assert_eq!(
        e.fields.get("parsed_at"),
        Some(&Value::Timestamp(1_438_191_704_747_000_000))
    );
    assert_eq!(e.fields.get("timestamp"), None);
    // A field that already holds a timestamp is taken as is.
    let mut p = plugin(json!({}));
    let out = run(&mut p, vec![event(&[("timestamp", Value::Timestamp(42))])]);
    assert_eq!(out[0].event.timestamp, 42);
}

#[test]
fn message_as_the_field() {
    let mut p = plugin(json!({"field": "message", "formats": ["apache"]}));
    let out = testing::process_lines(&mut p, &[" 24/Feb/2015:23:13:42 +0000 "]).unwrap();
    assert_eq!(out[0].event.timestamp, 1_424_819_622 * S, "trimmed first");
}

#[test]
fn level_normalization() {
    let mut p = plugin(json!({"formats": ["unix"]}));
    let ts = || ("timestamp", Value::from("0"));
    let out = run(
        &mut p,
        vec![
            event(&[ts(), ("level", "D".into())]),
            event(&[ts(), ("level", "ERROR".into())]),
            event(&[ts(), ("level", "combo".into())]),
            event(&[ts()]),
        ],
    );
    let level = |i: usize, f: &str| out[i].event.fields.get(f).cloned();
    assert_eq!(level(0, "level"), Some(Value::from("DEBUG")));
    assert_eq!(level(0, "level_raw"), Some(Value::from("D")));
    assert_eq!(level(1, "level_raw"), None);
    assert_eq!(level(2, "level"), Some(Value::from("combo")));
    assert_eq!(level(2, "level_raw"), None);
    assert_eq!(out[2].error, None, "an unknown level does not fail");
    assert_eq!(level(3, "level"), None);

    let mut p = plugin(json!({"formats": ["unix"], "level_field": "severity"}));
    let out = run(
        &mut p,
        vec![event(&[
            ts(),
            ("severity", "crit".into()),
            ("level", "warning".into()),
        ])],
    );
    assert_eq!(
        out[0].event.fields.get("severity"),
        Some(&Value::from("FATAL"))
    );
    assert_eq!(
        out[0].event.fields.get("level"),
        Some(&Value::from("warning"))
    );

    let mut p = plugin(json!({"formats": ["unix"], "level_field": ""}));
    let out = run(&mut p, vec![event(&[ts(), ("level", "warning".into())])]);
    assert_eq!(
        out[0].event.fields.get("level"),
        Some(&Value::from("warning"))
    );
}

#[test]
fn timezones() {
    assert_eq!(parse_timezone("UTC"), Some(0));
    assert_eq!(parse_timezone("gmt"), Some(0));
    assert_eq!(parse_timezone("Z"), Some(0));
    assert_eq!(parse_timezone("+02:00"), Some(7200));
    assert_eq!(parse_timezone("-0530"), Some(-19_800));
    assert_eq!(parse_timezone("UTC+01"), Some(3600));
    assert_eq!(parse_timezone("Europe/Paris"), None);
    assert_eq!(parse_timezone("+02:00x"), None);
}

#[test]
fn config_errors_name_the_key() {
    let err = |config| testing::configure::<Timestamp>(config).err().unwrap();
    let e = err(json!({"formats": ["iso8601", "%Y-%m-%d %Q"]}));
    assert_eq!(e.key.as_deref(), Some("formats[1]"));
    assert!(e.message.contains("%Q"), "{}", e.message);
    assert_eq!(
        err(json!({"formats": ["joda"]})).key.as_deref(),
        Some("formats[0]")
    );
    assert_eq!(err(json!({"formats": []})).key.as_deref(), Some("formats"));
    assert_eq!(
        err(json!({"formats": ["%H:%M:%S"]})).key.as_deref(),
        Some("formats[0]")
    );
    assert_eq!(
        err(json!({"timezone": "CET"})).key.as_deref(),
        Some("timezone")
    );
    assert_eq!(
        err(json!({"on_failure": "drop"})).key.as_deref(),
        Some("on_failure")
    );
    assert_eq!(
        err(json!({"field": "a", "fields": ["b"]})).key.as_deref(),
        Some("fields")
    );
    assert_eq!(err(json!({"fields": []})).key.as_deref(), Some("fields"));
    assert_eq!(
        err(json!({"fields": ["date", ""]})).key.as_deref(),
        Some("fields[1]")
    );
    assert_eq!(err(json!({"target": ""})).key.as_deref(), Some("target"));
    assert_eq!(
        err(json!({"field": "message", "remove_field": true}))
            .key
            .as_deref(),
        Some("remove_field")
    );
    assert_eq!(
        err(json!({"remove_field": "yes"})).key.as_deref(),
        Some("remove_field")
    );
    assert_eq!(
        err(json!({"level_field": 1})).key.as_deref(),
        Some("level_field")
    );
    assert_eq!(
        err(json!({"format": "iso8601"})).key.as_deref(),
        Some("format")
    );
}

#[test]
fn every_key_is_declared() {
    let info = Timestamp::describe();
    let keys: Vec<&str> = info.config_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        keys,
        [
            "field",
            "fields",
            "formats",
            "timezone",
            "target",
            "remove_field",
            "on_failure",
            "level_field"
        ]
    );
    assert_eq!(info.name, "timestamp");
}
