//! The `grok` transform end to end, configured and run the way the host does.

use serde_json::json;
use sluice_plugin_grok::Grok;
use sluice_sdk::{testing, ConfigError, Emitted, Event, Value};

const APACHE_LINE: &str = r#"83.149.9.216 - - [24/Feb/2015:23:13:42 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)""#;

fn grok(config: serde_json::Value) -> Grok {
    testing::configure::<Grok>(config).expect("config is accepted")
}

fn config_error(config: serde_json::Value) -> ConfigError {
    match testing::configure::<Grok>(config) {
        Ok(_) => panic!("config was accepted"),
        Err(e) => e,
    }
}

fn run(g: &mut Grok, lines: &[&str]) -> Vec<Emitted> {
    testing::process_lines(g, lines).unwrap()
}

fn one(g: &mut Grok, line: &str) -> Emitted {
    let mut out = run(g, &[line]);
    assert_eq!(out.len(), 1);
    out.pop().unwrap()
}

fn field<'e>(e: &'e Emitted, name: &str) -> Option<&'e Value> {
    e.event.fields.get(name)
}

fn s(v: &str) -> Value {
    Value::from(v)
}

/// A fresh directory under the system temp dir.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-grok-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn describe_declares_the_keys() {
    use sluice_sdk::Transform;
    let info = Grok::describe();
    assert_eq!(info.name, "grok");
    let keys: Vec<(&str, &str, bool)> = info
        .config_keys
        .iter()
        .map(|k| (k.name.as_str(), k.type_name.as_str(), k.required))
        .collect();
    assert_eq!(
        keys,
        [
            ("patterns", "list<string>", true),
            ("patterns_dir", "dir", false),
            ("pattern_definitions", "table", false),
            ("field", "string", false),
            ("backtrack_limit", "integer", false),
        ]
    );
}

#[test]
fn combined_apache_log() {
    let mut g = grok(json!({"patterns": ["%{COMBINEDAPACHELOG}"]}));
    let e = one(&mut g, APACHE_LINE);
    assert_eq!(e.error, None);
    assert_eq!(e.output, None);
    let expected = [
        ("clientip", "83.149.9.216"),
        ("ident", "-"),
        ("auth", "-"),
        ("timestamp", "24/Feb/2015:23:13:42 +0000"),
        ("verb", "GET"),
        (
            "request",
            "/presentations/logstash-monitorama-2013/images/kibana-search.png",
        ),
        ("httpversion", "1.1"),
        ("response", "200"),
        ("bytes", "203023"),
        (
            "referrer",
            "\"http://semicomplete.com/presentations/logstash-monitorama-2013/\"",
        ),
        (
            "agent",
            "\"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)\"",
        ),
    ];
    let got: Vec<(&str, &Value)> = e.event.fields.iter().collect();
    let want: Vec<(&str, Value)> = expected.iter().map(|(k, v)| (*k, s(v))).collect();
    assert_eq!(
        got,
        want.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>(),
        "exactly these fields, in capture order"
    );
    // The message is kept when nothing captures `message`.
    assert_eq!(e.event.message, APACHE_LINE);
}

#[test]
fn int_and_float_conversion() {
    let mut g = grok(json!({
        "patterns": ["%{NUMBER:bytes:int} %{NUMBER:secs:float} %{WORD:n:int} %{NUMBER:cut:int}"]
    }));
    let e = one(&mut g, "203023 0.25 abc 3.75");
    assert_eq!(field(&e, "bytes"), Some(&Value::Int(203023)));
    assert_eq!(field(&e, "secs"), Some(&Value::Float(0.25)));
    assert_eq!(
        field(&e, "n"),
        Some(&s("abc")),
        "not a number: stays a string"
    );
    assert_eq!(field(&e, "cut"), Some(&Value::Int(3)));
}

#[test]
fn ecs_bracket_names_become_dotted() {
    let mut g = grok(json!({
        "patterns": ["%{IP:[source][address]} %{WORD:[http][request][method]} %{INT:[http][response][status_code]:int}"]
    }));
    let e = one(&mut g, "10.0.0.1 POST 404");
    assert_eq!(field(&e, "source.address"), Some(&s("10.0.0.1")));
    assert_eq!(field(&e, "http.request.method"), Some(&s("POST")));
    assert_eq!(
        field(&e, "http.response.status_code"),
        Some(&Value::Int(404))
    );
}

#[test]
fn first_matching_pattern_wins_and_order_is_kept() {
    let mut g = grok(json!({
        "patterns": ["^%{INT:num:int}$", "^%{WORD:word}$", "%{GREEDYDATA:rest}"]
    }));
    let out = run(&mut g, &["42", "hello", "42 hello", "x"]);
    let firsts: Vec<(&str, &Value)> = out
        .iter()
        .map(|e| e.event.fields.iter().next().unwrap())
        .collect();
    assert_eq!(
        firsts,
        [
            ("num", &Value::Int(42)),
            ("word", &s("hello")),
            ("rest", &s("42 hello")),
            ("word", &s("x")),
        ]
    );
    assert!(out.iter().all(|e| e.event.fields.len() == 1));
}

#[test]
fn matching_is_unanchored() {
    let mut g = grok(json!({"patterns": ["status=%{INT:status}"]}));
    let e = one(&mut g, "GET /x took 12ms status=503 done");
    assert_eq!(field(&e, "status"), Some(&s("503")));
}

#[test]
fn no_match_fails_and_keeps_the_raw_text() {
    let mut g = grok(json!({"patterns": ["^%{IP:ip} "]}));
    let out = run(&mut g, &["not an ip line", "1.2.3.4 ok"]);
    assert_eq!(out[0].error.as_deref(), Some("no grok pattern matched"));
    assert_eq!(out[0].output.as_deref(), Some("errors"));
    assert_eq!(out[0].event.message, "not an ip line");
    assert!(out[0].event.fields.is_empty());
    assert_eq!(out[1].error, None);
    assert_eq!(field(&out[1], "ip"), Some(&s("1.2.3.4")));
}

#[test]
fn capture_named_message_replaces_the_message() {
    let mut g = grok(json!({"patterns": ["%{SYSLOGLINE}"]}));
    let e = one(
        &mut g,
        "Jun 14 15:16:02 combo sshd(pam_unix)[19937]: check pass; user unknown",
    );
    assert_eq!(e.event.message, "check pass; user unknown");
    assert_eq!(field(&e, "program"), Some(&s("sshd(pam_unix)")));
    assert_eq!(field(&e, "pid"), Some(&s("19937")));
    assert_eq!(field(&e, "logsource"), Some(&s("combo")));
    assert_eq!(field(&e, "timestamp"), Some(&s("Jun 14 15:16:02")));
    assert_eq!(field(&e, "message"), None);
}

#[test]
fn oniguruma_named_captures() {
    let mut g = grok(json!({
        "patterns": [r"(?<queue_id>[0-9A-F]{10,11}): (?<[postfix][to]>\S+)"]
    }));
    let e = one(&mut g, "Jan  1 postfix: BEF25A72965: to=<x@y.z>");
    assert_eq!(field(&e, "queue_id"), Some(&s("BEF25A72965")));
    assert_eq!(field(&e, "postfix.to"), Some(&s("to=<x@y.z>")));
}

#[test]
fn backreferences() {
    let mut g = grok(json!({"patterns": [r"^(\w+) \1$", r"(?<w>\w+)-\k<w>"]}));
    let out = run(&mut g, &["hey hey", "ab-ab", "hey you"]);
    assert_eq!(out[0].error, None);
    assert!(out[0].event.fields.is_empty());
    assert_eq!(field(&out[1], "w"), Some(&s("ab")));
    assert_eq!(out[2].error.as_deref(), Some("no grok pattern matched"));
    // As in Oniguruma, numbered backreferences need a pattern without names.
    let e = config_error(json!({"patterns": [r"(a)\1 %{WORD:w}"]}));
    assert_eq!(e.key.as_deref(), Some("patterns[0]"));
}

#[test]
fn pattern_definitions_add_and_override() {
    let mut g = grok(json!({
        "patterns": ["%{QUEUE:queue} %{WORD:w}"],
        "pattern_definitions": {"QUEUE": "[0-9A-F]{4}", "WORD": "[a-z]+!"}
    }));
    let e = one(&mut g, "id BEEF abc! def");
    assert_eq!(field(&e, "queue"), Some(&s("BEEF")));
    assert_eq!(field(&e, "w"), Some(&s("abc!")));
}

#[test]
fn patterns_dir_overrides_builtin_and_definitions_override_it() {
    let dir = temp_dir("override");
    std::fs::write(
        dir.join("a-mine"),
        "# my patterns\nINT ONE\nMYNUM %{INT}\nLATER first\n",
    )
    .unwrap();
    std::fs::write(dir.join("b-more"), "LATER second\n").unwrap();
    std::fs::write(dir.join(".hidden"), "MYNUM broken(\n").unwrap();
    std::fs::create_dir(dir.join("subdir")).unwrap();
    let d = dir.to_str().unwrap();
    let mut g = grok(json!({"patterns": ["%{MYNUM:n} %{LATER:l}"], "patterns_dir": d}));
    let e = one(&mut g, "1 ONE second");
    assert_eq!(
        field(&e, "n"),
        Some(&s("ONE")),
        "the file's INT replaced the built-in"
    );
    assert_eq!(field(&e, "l"), Some(&s("second")), "later files win");

    let mut g = grok(json!({
        "patterns": ["%{MYNUM:n}"],
        "patterns_dir": d,
        "pattern_definitions": {"INT": "TWO"}
    }));
    assert_eq!(field(&one(&mut g, "ONE TWO"), "n"), Some(&s("TWO")));

    // One directory, not a list (the host grants access to one path).
    let e = config_error(json!({"patterns": ["x"], "patterns_dir": [d]}));
    assert_eq!(e.key.as_deref(), Some("patterns_dir"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn patterns_dir_errors_name_the_key_and_file() {
    let e = config_error(json!({"patterns": ["x"], "patterns_dir": "/nonexistent/grok"}));
    assert_eq!(e.key.as_deref(), Some("patterns_dir"));
    assert!(e.message.contains("/nonexistent/grok"), "{e}");

    let dir = temp_dir("bad");
    std::fs::write(dir.join("bad-utf8"), b"X \xff\n").unwrap();
    let e = config_error(json!({"patterns": ["x"], "patterns_dir": dir.to_str().unwrap()}));
    assert_eq!(e.key.as_deref(), Some("patterns_dir"));
    assert!(e.message.contains("bad-utf8"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();

    let dir = temp_dir("badregex");
    std::fs::write(dir.join("mine"), "BROKEN a(b\n").unwrap();
    let e = config_error(json!({"patterns": ["%{BROKEN}"], "patterns_dir": dir.to_str().unwrap()}));
    assert_eq!(e.key.as_deref(), Some("patterns_dir"));
    assert!(
        e.message.contains("BROKEN") && e.message.contains("mine"),
        "{e}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_pattern_is_a_config_error_naming_the_pattern() {
    let e = config_error(json!({"patterns": ["%{NOSUCHTHING:x}"]}));
    assert_eq!(e.key.as_deref(), Some("patterns[0]"));
    assert!(e.message.contains("NOSUCHTHING"), "{e}");

    let e = config_error(json!({"patterns": ["%{WORD}", "%{IP} %{NOPE2}"]}));
    assert_eq!(e.key.as_deref(), Some("patterns[1]"));
    assert!(e.message.contains("NOPE2"), "{e}");

    let e = config_error(json!({
        "patterns": ["%{A}"],
        "pattern_definitions": {"A": "%{MISSING}"}
    }));
    assert_eq!(e.key.as_deref(), Some("pattern_definitions.A"));
    assert!(
        e.message.contains("MISSING") && e.message.contains("patterns[0]"),
        "{e}"
    );
}

#[test]
fn bad_regex_is_a_config_error() {
    let e = config_error(json!({"patterns": ["%{WORD:w} (unclosed"]}));
    assert_eq!(e.key.as_deref(), Some("patterns[0]"));
    let e = config_error(json!({"patterns": ["%{P}"], "pattern_definitions": {"P": "a(?<!a+)b"}}));
    assert_eq!(e.key.as_deref(), Some("pattern_definitions.P"));
    assert!(e.message.contains("P"), "{e}");
}

#[test]
fn recursive_definitions_are_reported() {
    let e = config_error(json!({
        "patterns": ["%{A:a}"],
        "pattern_definitions": {"A": "a%{B}", "B": "b|%{A}"}
    }));
    assert_eq!(e.key.as_deref(), Some("pattern_definitions.B"));
    assert!(e.message.contains("A -> B -> A"), "{e}");
}

#[test]
fn catastrophic_nested_repeat_does_not_hang() {
    // Like Oniguruma, the translation merges `(a+)+` into `a+`; the line
    // then simply does not match.
    let mut g = grok(json!({"patterns": ["(a+)+$", r"(?<x>(a+)+)\b$"]}));
    let start = std::time::Instant::now();
    let e = one(&mut g, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!");
    assert_eq!(e.error.as_deref(), Some("no grok pattern matched"));
    assert!(start.elapsed().as_secs() < 5);
}

#[test]
fn backtrack_limit_fails_the_line_instead_of_hanging() {
    // `(?:a|aa)+` splits 40 a's in ~10^8 ways, all tried before the
    // look-behind fails: exponential on any backtracking engine.
    const EVIL: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
    const PATTERN: &str = "^(?<x>(?:a|aa)+)(?<=^aaaa)!";
    let mut g = grok(json!({"patterns": [PATTERN], "backtrack_limit": 10_000}));
    let start = std::time::Instant::now();
    let out = run(&mut g, &[EVIL, "aaaa!"]);
    assert!(start.elapsed().as_secs() < 5);
    let reason = out[0].error.as_deref().unwrap();
    assert!(
        reason.contains("backtrack") && reason.contains("patterns[0]"),
        "{reason}"
    );
    assert_eq!(out[0].output.as_deref(), Some("errors"));
    assert_eq!(out[0].event.message, EVIL);
    assert_eq!(out[1].error, None);
    assert_eq!(field(&out[1], "x"), Some(&s("aaaa")));

    // The default limit stops it too.
    let mut g = grok(json!({"patterns": [PATTERN]}));
    let start = std::time::Instant::now();
    let reason = one(&mut g, EVIL).error.unwrap();
    assert!(reason.contains("backtrack"), "{reason}");
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn other_field_can_be_matched() {
    let mut g = grok(json!({"patterns": ["%{IP:ip}:%{POSINT:port:int}"], "field": "peer"}));
    let mut event = Event::new("raw");
    event.fields.insert("peer", "10.1.2.3:8080");
    let out = testing::process(&mut g, vec![event, Event::new("no peer")]).unwrap();
    assert_eq!(out[0].error, None);
    assert_eq!(field(&out[0], "ip"), Some(&s("10.1.2.3")));
    assert_eq!(field(&out[0], "port"), Some(&Value::Int(8080)));
    assert_eq!(out[0].event.message, "raw");
    assert_eq!(out[1].error.as_deref(), Some("field `peer` is missing"));
}

#[test]
fn config_values_are_checked() {
    let e = config_error(json!({"patterns": []}));
    assert_eq!(e.key.as_deref(), Some("patterns"));
    let e = config_error(json!({"field": "x"}));
    assert_eq!(e.key.as_deref(), Some("patterns"));
    let e = config_error(json!({"patterns": ["x"], "backtrack_limit": 0}));
    assert_eq!(e.key.as_deref(), Some("backtrack_limit"));
    let e = config_error(json!({"patterns": ["x"], "pattern_definitions": {"bad name": "x"}}));
    assert_eq!(e.key.as_deref(), Some("pattern_definitions.bad name"));
    let e = config_error(json!({"patterns": ["x"], "overwrite": ["message"]}));
    assert_eq!(e.key.as_deref(), Some("overwrite"));
}
