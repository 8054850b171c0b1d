//! The plugin as the host drives it, on real Loghub lines.

use super::*;
use serde_json::json;
use sluice_sdk::testing;

fn kv(config: serde_json::Value) -> Kv {
    testing::configure::<Kv>(config).unwrap()
}

fn get<'a>(e: &'a Event, name: &str) -> Option<&'a Value> {
    e.fields.get(name)
}

fn text<'a>(e: &'a Event, name: &str) -> Option<&'a str> {
    e.fields.get(name).and_then(Value::as_str)
}

// Linux_2k.log and OpenSSH_2k.log.
const LINUX: &str = "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 ";
const OPENSSH: &str = "Dec 10 07:13:31 LabSZ sshd[24227]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.36.59.76.dynamic-dsl-ip.omantel.net.om  user=root";
const OPENSSH_PLAIN: &str =
    "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186";
// Android_2k.log and Spark_2k.log.
const ANDROID: &str = r#"acquire lock=233570404, flags=0x1, tag="View Lock", name=com.android.systemui, ws=null, uid=10037, pid=2227"#;
const ANDROID_STATE: &str = "ready=true,policy=3,wakefulness=1,wksummary=0x23,uasummary=0x1,bootcompleted=true,boostinprogress=false,waitmodeenable=false,mode=false,manual=38,auto=-1,adj=0.0userId=0";
const SPARK: &str = "Times: total = 1072, boot = 856, init = 210, finish = 6";

#[test]
fn linux_pam_line_with_empty_values() {
    let mut p = kv(json!({}));
    let out = testing::process_lines(&mut p, &[LINUX]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].output, None);
    let e = &out[0].event;
    assert_eq!(e.message, LINUX, "the message is kept");
    assert_eq!(text(e, "logname"), Some(""));
    assert_eq!(text(e, "uid"), Some("0"));
    assert_eq!(text(e, "euid"), Some("0"));
    assert_eq!(text(e, "tty"), Some("NODEVssh"));
    assert_eq!(text(e, "ruser"), Some(""));
    assert_eq!(text(e, "rhost"), Some("218.188.2.4"));
    let names: Vec<&str> = e.fields.iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["logname", "uid", "euid", "tty", "ruser", "rhost"]);
}

#[test]
fn openssh_with_target_convert_and_exclude() {
    let mut p = kv(json!({
        "target": "pam",
        "convert": {"uid": "int", "euid": "integer"},
        "exclude_keys": ["logname", "ruser"],
    }));
    let out = testing::process_lines(&mut p, &[OPENSSH, OPENSSH_PLAIN]).unwrap();
    let e = &out[0].event;
    assert_eq!(get(e, "pam.uid"), Some(&Value::Int(0)));
    assert_eq!(get(e, "pam.euid"), Some(&Value::Int(0)));
    assert_eq!(text(e, "pam.tty"), Some("ssh"));
    assert_eq!(
        text(e, "pam.rhost"),
        Some("5.36.59.76.dynamic-dsl-ip.omantel.net.om")
    );
    assert_eq!(text(e, "pam.user"), Some("root"));
    assert_eq!(get(e, "pam.logname"), None);
    assert_eq!(e.fields.len(), 5);
    // No pairs: passed on unchanged, not failed.
    assert_eq!(out[1].output, None);
    assert_eq!(out[1].error, None);
    assert_eq!(out[1].event.message, OPENSSH_PLAIN);
    assert!(out[1].event.fields.is_empty());
}

#[test]
fn fail_on_empty_fails_with_the_raw_text() {
    let mut p = kv(json!({"fail_on_empty": true, "include_keys": ["rhost"]}));
    let out = testing::process_lines(&mut p, &[OPENSSH_PLAIN, LINUX]).unwrap();
    assert_eq!(out[0].output.as_deref(), Some("errors"));
    assert_eq!(
        out[0].error.as_deref(),
        Some("no key=value pairs in `message`")
    );
    assert_eq!(out[0].event.message, OPENSSH_PLAIN);
    assert_eq!(out[1].error, None);
    assert_eq!(out[1].event.fields.len(), 1, "only the included key");
}

#[test]
fn android_comma_lists_with_quotes_prefix_and_bools() {
    let mut p = kv(json!({
        "field_split": ", ",
        "prefix": "pm_",
        "convert": {"lock": "int", "ready": "bool", "adj": "float"},
    }));
    let out = testing::process_lines(&mut p, &[ANDROID, ANDROID_STATE]).unwrap();
    let e = &out[0].event;
    assert_eq!(get(e, "pm_lock"), Some(&Value::Int(233570404)));
    assert_eq!(text(e, "pm_tag"), Some("View Lock"));
    assert_eq!(text(e, "pm_ws"), Some("null"));
    let e = &out[1].event;
    assert_eq!(get(e, "pm_ready"), Some(&Value::Bool(true)));
    assert_eq!(text(e, "pm_auto"), Some("-1"));
    // `adj=0.0userId=0` is one value in the log; it does not convert and
    // stays text.
    assert_eq!(text(e, "pm_adj"), Some("0.0userId=0"));
    assert_eq!(e.fields.len(), 12);
    assert_eq!(testing::counter("kv_convert_failures"), 1);
}

#[test]
fn spark_spaces_around_the_separator_in_lenient_mode() {
    let mut p =
        kv(json!({"whitespace": "lenient", "field_split": ", ", "convert": {"total": "int"}}));
    let out = testing::process_lines(&mut p, &[SPARK, LINUX]).unwrap();
    let e = &out[0].event;
    assert_eq!(get(e, "total"), Some(&Value::Int(1072)));
    assert_eq!(text(e, "finish"), Some("6"));
    let e = &out[1].event;
    assert_eq!(
        text(e, "logname"),
        Some(""),
        "empty values survive lenient mode"
    );
    assert_eq!(text(e, "rhost"), Some("218.188.2.4"));
}

#[test]
fn another_field_query_string_and_dotted_keys() {
    let mut p = kv(json!({
        "field": "query",
        "field_split": "&",
        "value_split": "=:",
        "trim_value": "\"",
        "trim_key": " ",
    }));
    let mut e = Event::new("GET /search");
    e.fields
        .insert("query", "q=\"rust\"&page:2&http.method=GET& lang =en");
    let untouched = Event::new("no query field");
    let out = testing::process(&mut p, vec![e, untouched]).unwrap();
    let e = &out[0].event;
    assert_eq!(text(e, "q"), Some("rust"));
    assert_eq!(text(e, "page"), Some("2"));
    assert_eq!(text(e, "http.method"), Some("GET"));
    assert_eq!(text(e, "lang"), Some("en"));
    assert_eq!(e.message, "GET /search");
    assert_eq!(out[1].error, None, "a missing field passes");
    assert_eq!(out[1].event.message, "no query field");
}

#[test]
fn missing_field_fails_only_with_fail_on_empty() {
    let mut p = kv(json!({"field": "query", "fail_on_empty": true}));
    let mut not_text = Event::new("x");
    not_text.fields.insert("query", 3);
    let out = testing::process(&mut p, vec![Event::new("x"), not_text]).unwrap();
    assert_eq!(out[0].error.as_deref(), Some("field `query` is missing"));
    assert_eq!(
        out[1].error.as_deref(),
        Some("field `query` is not a string")
    );
}

#[test]
fn a_repeated_key_keeps_the_last_value() {
    let mut p = kv(json!({}));
    let out = testing::process_lines(&mut p, &["a=1 a=2"]).unwrap();
    assert_eq!(text(&out[0].event, "a"), Some("2"));
}

#[test]
fn config_errors_name_the_key() {
    let err = |config| testing::configure::<Kv>(config).err().unwrap();
    let e = err(json!({"convert": {"uid": "long"}}));
    assert_eq!(e.key.as_deref(), Some("convert.uid"));
    assert!(e.message.contains("long"), "{}", e.message);
    assert_eq!(
        err(json!({"convert": {"uid": 1}})).key.as_deref(),
        Some("convert.uid")
    );
    assert_eq!(
        err(json!({"convert": ["uid"]})).key.as_deref(),
        Some("convert")
    );
    assert_eq!(
        err(json!({"value_split": ""})).key.as_deref(),
        Some("value_split")
    );
    assert_eq!(
        err(json!({"field_split": ""})).key.as_deref(),
        Some("field_split")
    );
    assert_eq!(
        err(json!({"field_split": ",=", "value_split": "="}))
            .key
            .as_deref(),
        Some("value_split")
    );
    assert_eq!(
        err(json!({"value_split": " "})).key.as_deref(),
        Some("value_split"),
        "whitespace already separates pairs"
    );
    assert_eq!(
        err(json!({"whitespace": "loose"})).key.as_deref(),
        Some("whitespace")
    );
    assert_eq!(
        err(json!({"include_keys": ["a", 1]})).key.as_deref(),
        Some("include_keys[1]")
    );
    assert_eq!(
        err(json!({"fail_on_empty": "yes"})).key.as_deref(),
        Some("fail_on_empty")
    );
    assert_eq!(err(json!({"source": "x"})).key.as_deref(), Some("source"));
}

#[test]
fn every_key_is_declared() {
    let info = Kv::describe();
    let keys: Vec<&str> = info.config_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        keys,
        [
            "field",
            "field_split",
            "value_split",
            "whitespace",
            "prefix",
            "target",
            "include_keys",
            "exclude_keys",
            "trim_key",
            "trim_value",
            "convert",
            "fail_on_empty"
        ]
    );
    assert_eq!(info.name, "kv");
}
