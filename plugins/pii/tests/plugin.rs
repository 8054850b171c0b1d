//! The stage as the host drives it: config checking, actions on the message
//! and on fields, counts and counters.

use sluice_plugin_pii::Pii;
use sluice_sdk::testing::{self, Json};
use sluice_sdk::{Emitted, Event, Value};

fn pii(config: Json) -> Pii {
    testing::configure::<Pii>(config).unwrap()
}

fn config_error(config: Json) -> (String, String) {
    let e = testing::configure::<Pii>(config).err().expect("refused");
    (e.key.unwrap_or_default(), e.message)
}

fn run(p: &mut Pii, events: Vec<Event>) -> Vec<Emitted> {
    testing::process(p, events).unwrap()
}

fn lines(p: &mut Pii, lines: &[&str]) -> Vec<String> {
    testing::process_lines(p, lines)
        .unwrap()
        .into_iter()
        .map(|e| e.event.message)
        .collect()
}

fn event(message: &str, fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(message);
    for (k, v) in fields {
        e.fields.insert(*k, v.clone());
    }
    e
}

fn s(text: &str) -> Value {
    Value::from(text)
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

#[test]
fn masks_every_builtin_in_the_message_by_default() {
    let mut p = pii(serde_json::json!({}));
    let line = format!(
        "user=alice@example.com card=4111-1111-1111-1111 ssn=123-45-6789 from 10.1.2.3 and 2001:db8::7 \
         call (555) 123-4567 jwt={JWT} Authorization: Bearer abc.def-123 key=AKIAIOSFODNN7EXAMPLE \
         aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );
    let out = testing::process_lines(&mut p, &[&line]).unwrap();
    assert_eq!(out[0].output, None);
    assert_eq!(
        out[0].event.message,
        "user=[REDACTED:email] card=[REDACTED:credit_card] ssn=[REDACTED:us_ssn] \
         from [REDACTED:ipv4] and [REDACTED:ipv6] call [REDACTED:phone] jwt=[REDACTED:jwt] \
         Authorization: Bearer [REDACTED:bearer] key=[REDACTED:aws_access_key] \
         aws_secret_access_key=[REDACTED:aws_secret_key]"
    );
    assert_eq!(
        out[0].event.fields.get("pii.redactions"),
        Some(&Value::Int(10))
    );
    for name in [
        "email",
        "credit_card",
        "us_ssn",
        "ipv4",
        "ipv6",
        "phone",
        "jwt",
        "bearer",
        "aws_access_key",
        "aws_secret_key",
    ] {
        assert_eq!(testing::counter(&format!("pii.{name}")), 1, "{name}");
    }
}

#[test]
fn clean_events_pass_unchanged_without_a_count() {
    let mut p = pii(serde_json::json!({"fields": ["*"]}));
    let clean = event(
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: block blk_-1608999687919862906 v1.2.3.4.5 at 12:34:56",
        &[("user", s("bob")), ("n", Value::Int(4111111111111111))],
    );
    let out = run(&mut p, vec![clean.clone()]);
    assert_eq!(out[0].event, clean);
    assert_eq!(out[0].output, None);
    assert_eq!(testing::counter("pii.credit_card"), 0);
}

#[test]
fn counters_add_up_across_events_and_batches() {
    let mut p = pii(serde_json::json!({}));
    lines(
        &mut p,
        &[
            "a@example.com b@example.com",
            "nothing",
            "c@example.com 10.0.0.1",
        ],
    );
    lines(&mut p, &["d@example.com"]);
    assert_eq!(testing::counter("pii.email"), 4);
    assert_eq!(testing::counter("pii.ipv4"), 1);
    assert_eq!(testing::counter("pii.phone"), 0);
}

#[test]
fn an_earlier_count_is_added_to() {
    let mut p = pii(serde_json::json!({}));
    let e = event("mail a@example.com", &[("pii.redactions", Value::Int(2))]);
    let out = run(&mut p, vec![e]);
    assert_eq!(
        out[0].event.fields.get("pii.redactions"),
        Some(&Value::Int(3))
    );
}

#[test]
fn custom_mask_and_last_four() {
    let mut p = pii(serde_json::json!({
        "mask": "<{detector}>",
        "actions": {"credit_card": "mask_last4", "us_ssn": "mask_last4"}
    }));
    assert_eq!(
        lines(
            &mut p,
            &["paid with 4111 1111 1111 1111 by a@example.com, ssn 123-45-6789"]
        ),
        ["paid with <credit_card:1111> by <email>, ssn <us_ssn:6789>"]
    );
    let mut p = pii(serde_json::json!({"actions": {"credit_card": "mask_last4"}}));
    assert_eq!(
        lines(&mut p, &["card 5555555555554444"]),
        ["card [REDACTED:credit_card:4444]"]
    );
}

#[test]
fn keyed_hash_is_stable_normalized_and_depends_on_the_key() {
    let mut p = pii(serde_json::json!({"action": "hash", "hash_key": "k1"}));
    let out = lines(
        &mut p,
        &[
            "login alice@example.com",
            "logout Alice@Example.COM",
            "login bob@example.com",
        ],
    );
    let token = |line: &str| line.split(' ').nth(1).unwrap().to_owned();
    let alice = token(&out[0]);
    assert!(
        alice.starts_with("[email:hmac:") && alice.ends_with(']'),
        "{alice}"
    );
    let hex = &alice["[email:hmac:".len()..alice.len() - 1];
    assert_eq!(hex.len(), 16);
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(token(&out[1]), alice, "same value, same token (joins work)");
    assert_ne!(token(&out[2]), alice);
    // A later batch, and a fresh instance with the same key, agree.
    assert_eq!(token(&lines(&mut p, &["x alice@example.com"])[0]), alice);
    let mut again = pii(serde_json::json!({"action": "hash", "hash_key": "k1"}));
    assert_eq!(
        token(&lines(&mut again, &["x alice@example.com"])[0]),
        alice
    );
    // Another key, another token.
    let mut other = pii(serde_json::json!({"action": "hash", "hash_key": "k2"}));
    assert_ne!(
        token(&lines(&mut other, &["x alice@example.com"])[0]),
        alice
    );
    // The token is HMAC-SHA256(key, value), first 8 bytes in hex.
    let mac = sluice_plugin_pii::hmac::HmacSha256::new(b"k1").mac(b"alice@example.com");
    assert_eq!(hex, sluice_plugin_pii::hmac::hex(&mac[..8]));
}

#[test]
fn hash_in_fields_and_per_detector() {
    let mut p = pii(serde_json::json!({
        "actions": {"phone": "hash"},
        "hash_key": "secret",
        "fields": ["user.phone"]
    }));
    let out = run(
        &mut p,
        vec![
            event(
                "call +1 555 123 4567",
                &[("user.phone", s("(555) 123-4567"))],
            ),
            event("mail a@example.com", &[]),
        ],
    );
    let message_token = out[0].event.message.strip_prefix("call ").unwrap();
    assert!(message_token.starts_with("[phone:hmac:"));
    assert_eq!(
        out[0].event.fields.get("user.phone"),
        Some(&s(message_token)),
        "one number, two spellings, one token"
    );
    assert_eq!(out[1].event.message, "mail [REDACTED:email]");
}

#[test]
fn hash_without_a_key_is_refused_naming_hash_key() {
    let (key, message) = config_error(serde_json::json!({"action": "hash"}));
    assert_eq!(key, "hash_key");
    assert!(message.contains("action"), "{message}");
    let (key, message) = config_error(serde_json::json!({"actions": {"email": "hash"}}));
    assert_eq!(key, "hash_key");
    assert!(message.contains("actions.email"), "{message}");
    let (key, _) = config_error(serde_json::json!({"action": "hash", "hash_key": ""}));
    assert_eq!(key, "hash_key");
}

#[test]
fn drop_removes_the_match_from_the_message_and_the_field_from_fields() {
    let mut p = pii(serde_json::json!({
        "actions": {"email": "drop"},
        "fields": ["user.email", "user.ip"]
    }));
    let out = run(
        &mut p,
        vec![event(
            "mail alice@example.com from 10.0.0.1",
            &[
                ("user.email", s("alice@example.com")),
                ("user.ip", s("10.0.0.1")),
                ("user.name", s("alice")),
            ],
        )],
    );
    let e = &out[0].event;
    assert_eq!(e.message, "mail  from [REDACTED:ipv4]");
    assert_eq!(e.fields.get("user.email"), None, "dropped");
    assert_eq!(e.fields.get("user.ip"), Some(&s("[REDACTED:ipv4]")));
    assert_eq!(e.fields.get("user.name"), Some(&s("alice")));
    assert_eq!(e.fields.get("pii.redactions"), Some(&Value::Int(4)));
    assert_eq!(testing::counter("pii.email"), 2);
}

#[test]
fn fields_are_only_scrubbed_when_in_scope() {
    let fields = || {
        vec![
            ("user.email", s("a@example.com")),
            ("user.ip", s("10.0.0.1")),
            ("client.ip", s("10.0.0.2")),
            ("note", s("card 4111111111111111")),
            ("status", Value::Int(200)),
        ]
    };
    let scrubbed = |config: Json| {
        let mut p = pii(config);
        let out = run(&mut p, vec![event("plain", &fields())]);
        let e = &out[0].event;
        assert_eq!(out[0].output, None);
        ["user.email", "user.ip", "client.ip", "note"]
            .into_iter()
            .filter(|name| {
                e.fields
                    .get(name)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.contains("REDACTED"))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        scrubbed(serde_json::json!({})),
        Vec::<&str>::new(),
        "message only by default"
    );
    assert_eq!(
        scrubbed(serde_json::json!({"fields": ["user.email", "note"]})),
        ["user.email", "note"]
    );
    assert_eq!(
        scrubbed(serde_json::json!({"fields": ["user.*"]})),
        ["user.email", "user.ip"]
    );
    assert_eq!(
        scrubbed(serde_json::json!({"fields": ["*"]})),
        ["user.email", "user.ip", "client.ip", "note"],
        "every string field; the integer is skipped"
    );
    assert_eq!(
        scrubbed(serde_json::json!({"fields": "note"})),
        ["note"],
        "one string is a list of one"
    );
}

#[test]
fn a_named_field_that_is_not_a_string_fails_the_event_after_scrubbing_the_rest() {
    let mut p = pii(serde_json::json!({"fields": ["card", "user.email", "absent"]}));
    let out = run(
        &mut p,
        vec![event(
            "mail a@example.com",
            &[
                ("card", Value::Int(4111111111111111)),
                ("user.email", s("b@example.com")),
            ],
        )],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].output.as_deref(), Some("errors"));
    assert!(out[0]
        .error
        .as_deref()
        .unwrap()
        .contains("field `card` is an integer"));
    let e = &out[0].event;
    assert_eq!(e.message, "mail [REDACTED:email]");
    assert_eq!(e.fields.get("user.email"), Some(&s("[REDACTED:email]")));
    assert_eq!(e.fields.get("pii.redactions"), Some(&Value::Int(2)));
    // A missing or null field is not an error.
    let out = run(&mut p, vec![event("x", &[("user.email", Value::Null)])]);
    assert_eq!(out[0].output, None);
}

#[test]
fn detectors_can_be_narrowed() {
    let mut p = pii(serde_json::json!({"detectors": ["email"]}));
    assert_eq!(
        lines(
            &mut p,
            &["a@example.com from 10.0.0.1 card 4111111111111111"]
        ),
        ["[REDACTED:email] from 10.0.0.1 card 4111111111111111"]
    );
}

#[test]
fn custom_regexes_with_and_without_a_pii_group() {
    let mut p = pii(serde_json::json!({
        "custom": {
            "order_id": "\\bORD-[0-9]{6}\\b",
            "password": "(?i)password=(?P<pii>[^\\s&]+)"
        },
        "actions": {"order_id": "hash"},
        "hash_key": "k"
    }));
    let out = lines(
        &mut p,
        &["order ORD-123456 by a@example.com with PASSWORD=hunter2&x=1"],
    );
    let line = &out[0];
    assert!(line.starts_with("order [order_id:hmac:"), "{line}");
    assert!(
        line.ends_with("by [REDACTED:email] with PASSWORD=[REDACTED:password]&x=1"),
        "{line}"
    );
    assert_eq!(testing::counter("pii.order_id"), 1);
    assert_eq!(testing::counter("pii.password"), 1);
    // Only custom detectors.
    let mut p = pii(serde_json::json!({"detectors": [], "custom": {"ticket": "TCK[0-9]+"}}));
    assert_eq!(
        lines(&mut p, &["TCK42 a@example.com"]),
        ["[REDACTED:ticket] a@example.com"]
    );
}

#[test]
fn config_errors_name_their_key() {
    use serde_json::json;
    let cases = [
        (json!({"detectors": ["email", "passport"]}), "detectors[1]"),
        (
            json!({"detectors": "email", "actions": {"ipv4": "mask"}}),
            "actions.ipv4",
        ),
        (json!({"detectors": []}), "detectors"),
        (json!({"action": "scramble"}), "action"),
        (json!({"action": "mask_last4"}), "action"),
        (json!({"actions": {"email": "scramble"}}), "actions.email"),
        (json!({"actions": {"email": "mask_last4"}}), "actions.email"),
        (json!({"actions": {"nope": "mask"}}), "actions.nope"),
        (json!({"actions": {"email": 3}}), "actions.email"),
        (json!({"actions": "mask"}), "actions"),
        (json!({"custom": {"order_id": "ORD-("}}), "custom.order_id"),
        (json!({"custom": {"order_id": "[0-9]*"}}), "custom.order_id"),
        (json!({"custom": {"Order": "x"}}), "custom.Order"),
        (json!({"custom": {"email": "x"}}), "custom.email"),
        (json!({"custom": {"order_id": 7}}), "custom.order_id"),
        (json!({"fields": ["user.email", ""]}), "fields[1]"),
        (json!({"fields": ["a*b"]}), "fields[0]"),
        (json!({"fields": [".*"]}), "fields[0]"),
        (json!({"mask": ""}), "mask"),
        (
            json!({"mask": "***", "actions": {"credit_card": "mask_last4"}}),
            "mask",
        ),
        (json!({"hash_key": 12}), "hash_key"),
        (json!({"hash_keys": "x"}), "hash_keys"),
    ];
    for (config, expected) in cases {
        let shown = config.to_string();
        let (key, message) = config_error(config);
        assert_eq!(key, expected, "{shown}: {message}");
        assert!(!message.is_empty());
    }
}

#[test]
fn describe_declares_every_key() {
    use sluice_sdk::Transform;
    let info = Pii::describe();
    let keys: Vec<&str> = info.config_keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        keys,
        [
            "detectors",
            "action",
            "actions",
            "fields",
            "hash_key",
            "mask",
            "custom"
        ]
    );
    assert!(info
        .config_keys
        .iter()
        .all(|k| !k.required && !k.description.is_empty()));
    assert_eq!(info.name, "pii");
}

#[test]
fn owned_and_in_place_paths_agree() {
    use sluice_sdk::{Output, Transform};
    let config = serde_json::json!({"fields": ["*"], "actions": {"ipv4": "drop"}});
    let events = vec![
        event("a@example.com", &[("ip", s("10.0.0.1"))]),
        event("clean", &[("x", s("y"))]),
        event("ssn 123-45-6789", &[]),
    ];
    let mut p = pii(config.clone());
    let in_place: Vec<Event> = run(&mut p, events.clone())
        .into_iter()
        .map(|e| e.event)
        .collect();
    let mut p = pii(config);
    let mut out = Output::default();
    p.process(events, &mut out).unwrap();
    let owned: Vec<Event> = out.into_vec().into_iter().map(|e| e.event).collect();
    assert_eq!(in_place, owned);
}
