//! The plugin as the host drives it: config checks, batches, flush.

use super::*;
use serde_json::json;
use sluice_sdk::{names, testing, Emitted, Value};

const JAVA_TRACE: &[&str] = &[
    "2026-11-22 06:04:41.629 [http-nio-8080-exec-3] ERROR com.acme.checkout.OrderService - Unhandled exception while processing request 3f9a0c1b22de",
    "java.lang.NullPointerException: Cannot invoke \"com.acme.model.Cart.getItems()\" because \"cart\" is null",
    "\tat com.acme.checkout.OrderService.reserveStock(OrderService.java:275)",
    "\tat com.acme.checkout.OrderService.placeOrder(OrderService.java:118)",
    "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)",
    "\tat org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun(NioEndpoint.java:1791)",
    "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
    "\t... 55 more",
];

const JAVA_NEXT: &str =
    "2026-11-22 06:04:41.702 [main] INFO  com.acme.checkout.OrderService - Completed request 77ab01 in 12 ms";

const PYTHON_TRACE: &[&str] = &[
    "2024-03-02 10:15:07,341 ERROR [worker] job failed",
    "Traceback (most recent call last):",
    "  File \"/srv/app/jobs.py\", line 42, in run",
    "    result = handler(payload)",
    "  File \"/srv/app/handlers.py\", line 17, in handler",
    "    return payload[\"items\"] / count",
    "ZeroDivisionError: division by zero",
    "",
    "During handling of the above exception, another exception occurred:",
    "",
    "Traceback (most recent call last):",
    "  File \"/srv/app/jobs.py\", line 44, in run",
    "    raise JobError(job_id) from None",
    "app.errors.JobError: job 17 failed",
];

fn plugin(config: serde_json::Value) -> Multiline {
    testing::configure::<Multiline>(config).unwrap()
}

/// An event from `source` at time `ts` (ns), as a file source makes them.
fn line(source: &str, ts: i64, text: &str) -> Event {
    Event {
        timestamp: ts,
        ingest_timestamp: ts + 5,
        message: text.to_owned(),
        fields: [(names::SOURCE.to_owned(), Value::from(source))]
            .into_iter()
            .collect(),
    }
}

fn lines(source: &str, texts: &[&str]) -> Vec<Event> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| line(source, i as i64 * 1000, t))
        .collect()
}

fn messages(out: &[Emitted]) -> Vec<&str> {
    out.iter().map(|e| e.event.message.as_str()).collect()
}

fn field<'a>(e: &'a Emitted, name: &str) -> Option<&'a Value> {
    e.event.fields.get(name)
}

#[test]
fn java_trace_split_across_batches_becomes_one_event() {
    let mut p = plugin(json!({"mode": "java"}));
    let all = lines("/var/log/app.log", JAVA_TRACE);
    let (first, second) = all.split_at(4);
    let out = testing::process(&mut p, first.to_vec()).unwrap();
    assert!(out.is_empty(), "the trace is held: {:?}", messages(&out));
    let out = testing::process(&mut p, second.to_vec()).unwrap();
    assert!(out.is_empty(), "still held until a start line");
    let mut next = line("/var/log/app.log", 99_000, JAVA_NEXT);
    next.fields.insert("extra", 1);
    let out = testing::process(&mut p, vec![next]).unwrap();
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(e.output, None);
    assert_eq!(e.event.message, JAVA_TRACE.join("\n"));
    assert_eq!(field(e, "multiline.lines"), Some(&Value::Int(10)));
    assert_eq!(field(e, "multiline.truncated"), None);
    assert_eq!(e.event.timestamp, 0, "the first line's timestamps");
    assert_eq!(e.event.ingest_timestamp, 5);
    assert_eq!(field(e, "extra"), None, "the first line's fields");
    let out = testing::flush(&mut p);
    assert_eq!(messages(&out), [JAVA_NEXT]);
    assert_eq!(
        field(&out[0], "multiline.lines"),
        None,
        "one line: no count"
    );
    assert_eq!(field(&out[0], "extra"), Some(&Value::Int(1)));
    assert!(testing::flush(&mut p).is_empty());
}

#[test]
fn java_info_lines_stay_single_and_exception_only_joins_right_after_a_log_line() {
    let mut p = plugin(json!({"mode": "java"}));
    let texts = [
        "2026-11-22 06:04:40.001 [main] INFO  com.acme.App - Started Application in 3.412 seconds",
        "2026-11-22 06:04:40.002 [main] INFO  com.acme.App - Cache warmed with 120 entries",
        "2026-11-22 06:04:41.000 [main] WARN  com.acme.App - retrying",
        "java.util.concurrent.TimeoutException: Request timed out after 5000 ms",
        "\tat com.acme.payments.PaymentClient.authorize(PaymentClient.java:88)",
        // A second exception after frames, with no log line of its own.
        "java.lang.IllegalStateException: Order 12 is already being processed",
        "\tat com.acme.checkout.OrderService.submit(OrderService.java:41)",
    ];
    let mut out = testing::process(&mut p, lines("app", &texts)).unwrap();
    out.extend(testing::flush(&mut p));
    assert_eq!(
        messages(&out),
        [
            texts[0],
            texts[1],
            &texts[2..5].join("\n")[..],
            &texts[5..7].join("\n")[..],
        ]
    );
}

#[test]
fn interleaved_sources_are_joined_separately_and_keep_their_order() {
    let mut p = plugin(json!({"mode": "java"}));
    let a = lines("a.log", JAVA_TRACE);
    let b = lines("b.log", &JAVA_TRACE[..3]);
    // a0 b0 a1 b1 a2 b2 a3.. then a start line for b only.
    let mut batch = Vec::new();
    for (i, e) in a.iter().enumerate() {
        batch.push(e.clone());
        if let Some(e) = b.get(i) {
            batch.push(e.clone());
        }
    }
    let mid = batch.len() / 2;
    let mut out = testing::process(&mut p, batch[..mid].to_vec()).unwrap();
    out.extend(testing::process(&mut p, batch[mid..].to_vec()).unwrap());
    assert!(out.is_empty());
    let out = testing::process(&mut p, vec![line("b.log", 50_000, JAVA_NEXT)]).unwrap();
    assert_eq!(messages(&out), [JAVA_TRACE[..3].join("\n")]);
    assert_eq!(field(&out[0], "source"), Some(&Value::from("b.log")));
    let out = testing::flush(&mut p);
    assert_eq!(
        messages(&out),
        [JAVA_TRACE.join("\n").as_str(), JAVA_NEXT],
        "flush emits the older group first"
    );
    assert_eq!(field(&out[0], "source"), Some(&Value::from("a.log")));
    assert_eq!(field(&out[1], "source"), Some(&Value::from("b.log")));
}

#[test]
fn python_chained_traceback_is_one_event() {
    let mut p = plugin(json!({"mode": "python"}));
    let mut texts = PYTHON_TRACE.to_vec();
    texts.push("2024-03-02 10:15:08,002 INFO [worker] next job");
    let all = lines("py", &texts);
    let mut out = Vec::new();
    for chunk in all.chunks(3) {
        out.extend(testing::process(&mut p, chunk.to_vec()).unwrap());
    }
    out.extend(testing::flush(&mut p));
    assert_eq!(
        messages(&out),
        [PYTHON_TRACE.join("\n").as_str(), texts[14]]
    );
    assert_eq!(field(&out[0], "multiline.lines"), Some(&Value::Int(14)));
}

#[test]
fn python_blank_lines_after_a_traceback_that_is_not_chained_stand_alone() {
    let mut p = plugin(json!({"mode": "python"}));
    let texts = [
        "Traceback (most recent call last):",
        "  File \"x.py\", line 1, in <module>",
        "KeyError: 'user'",
        "",
        "starting again",
    ];
    let mut out = testing::process(&mut p, lines("py", &texts)).unwrap();
    out.extend(testing::flush(&mut p));
    assert_eq!(
        messages(&out),
        [&texts[..3].join("\n")[..], "", "starting again"],
        "the blank line is neither dropped nor glued to the trace"
    );
}

#[test]
fn start_pattern_with_custom_separator() {
    let mut p = plugin(json!({"start_pattern": r"^\d{4}-\d{2}-\d{2}", "separator": " | "}));
    let out = testing::process_lines(
        &mut p,
        &[
            "2015-10-18 18:01:47,978 INFO [main] Executing with tokens:",
            "Kind: YARN_AM_RM_TOKEN, Service: , Ident: (appAttemptId { application_id { id: 20 } })",
            "2015-10-18 18:01:48,963 INFO [main] done",
        ],
    )
    .unwrap();
    assert_eq!(
        messages(&out),
        ["2015-10-18 18:01:47,978 INFO [main] Executing with tokens: | Kind: YARN_AM_RM_TOKEN, Service: , Ident: (appAttemptId { application_id { id: 20 } })"]
    );
    assert_eq!(field(&out[0], "multiline.lines"), Some(&Value::Int(2)));
}

#[test]
fn continuation_pattern_from_the_docs() {
    let mut p = plugin(json!({
        "continuation_pattern": r"^\s|^Caused by:|^Traceback|^\w+(\.\w+)*(Error|Exception)"
    }));
    let mut out = testing::process_lines(
        &mut p,
        &[
            "ERROR something broke",
            "java.lang.RuntimeException: boom",
            "\tat a.B.c(B.java:1)",
            "Caused by: java.io.IOException: disk",
            "INFO fine",
        ],
    )
    .unwrap();
    out.extend(testing::flush(&mut p));
    assert_eq!(out.len(), 2);
    assert_eq!(field(&out[0], "multiline.lines"), Some(&Value::Int(4)));
    assert_eq!(out[1].event.message, "INFO fine");
}

#[test]
fn max_lines_emits_a_truncated_event_and_keeps_the_rest() {
    let mut p = plugin(json!({"mode": "java", "max_lines": 4}));
    let mut out = testing::process(&mut p, lines("app", JAVA_TRACE)).unwrap();
    assert_eq!(
        out.len(),
        2,
        "two full events of 4 lines are emitted at once"
    );
    out.extend(testing::flush(&mut p));
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].event.message, JAVA_TRACE[..4].join("\n"));
    assert_eq!(
        field(&out[0], "multiline.truncated"),
        Some(&Value::Bool(true))
    );
    assert_eq!(field(&out[0], "multiline.lines"), Some(&Value::Int(4)));
    assert_eq!(out[1].event.message, JAVA_TRACE[4..8].join("\n"));
    assert_eq!(
        field(&out[1], "multiline.truncated"),
        Some(&Value::Bool(true))
    );
    assert_eq!(out[2].event.message, JAVA_TRACE[8..].join("\n"));
    assert_eq!(field(&out[2], "multiline.truncated"), None);
    assert_eq!(
        out[1].event.timestamp, 4000,
        "a remainder keeps its own first line's time"
    );
}

#[test]
fn max_bytes_cuts_before_the_line_that_would_pass_it() {
    let mut p = plugin(json!({"mode": "java", "max_bytes": 300}));
    let mut out = testing::process(&mut p, lines("app", JAVA_TRACE)).unwrap();
    out.extend(testing::flush(&mut p));
    assert!(out[0].event.message.len() <= 300);
    assert_eq!(
        field(&out[0], "multiline.truncated"),
        Some(&Value::Bool(true))
    );
    let rejoined: Vec<&str> = out.iter().map(|e| e.event.message.as_str()).collect();
    assert_eq!(
        rejoined.join("\n"),
        JAVA_TRACE.join("\n"),
        "no line is lost"
    );
}

#[test]
fn a_continuation_with_nothing_held_stands_alone() {
    let mut p = plugin(json!({"mode": "java"}));
    let out = testing::process_lines(&mut p, &["\tat orphan.Frame(F.java:1)", JAVA_NEXT]).unwrap();
    assert_eq!(messages(&out), ["\tat orphan.Frame(F.java:1)"]);
}

#[test]
fn config_errors_name_the_key() {
    let err = |config| testing::configure::<Multiline>(config).err().unwrap();
    assert_eq!(err(json!({"mode": "go"})).key.as_deref(), Some("mode"));
    assert_eq!(
        err(json!({"mode": "java", "start_pattern": "^x"}))
            .key
            .as_deref(),
        Some("mode")
    );
    let e = err(json!({"start_pattern": "(unclosed"}));
    assert_eq!(e.key.as_deref(), Some("start_pattern"));
    assert!(e.message.contains("invalid regex"), "{}", e.message);
    assert_eq!(
        err(json!({"continuation_pattern": 3})).key.as_deref(),
        Some("continuation_pattern")
    );
    assert_eq!(
        err(json!({"mode": "java", "max_lines": 0})).key.as_deref(),
        Some("max_lines")
    );
    assert_eq!(
        err(json!({"mode": "java", "max_bytes": "1MiB"}))
            .key
            .as_deref(),
        Some("max_bytes")
    );
    assert_eq!(
        err(json!({"mode": "java", "timeout_ms": 10}))
            .key
            .as_deref(),
        Some("timeout_ms")
    );
    assert_eq!(err(json!({})).key, None, "nothing to join by");
}

#[test]
fn every_key_is_declared() {
    let info = Multiline::describe();
    let keys: Vec<&str> = info.config_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        keys,
        [
            "mode",
            "start_pattern",
            "continuation_pattern",
            "separator",
            "max_lines",
            "max_bytes"
        ]
    );
    assert_eq!(info.name, "multiline");
}
