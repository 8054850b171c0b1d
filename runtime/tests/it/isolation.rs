//! A trap, a missed deadline or running out of memory never stops the
//! pipeline: the batch comes back with the reason, the instance is rebuilt,
//! and repeated failures open the circuit.

use super::load;
use sluice::plugin::transform::{CircuitState, Grants, Preopen, TransformLimits};
use sluice::plugin::FailureKind;
use sluice_event::packed::PackedBatch;
use sluice_event::{Event, Value};
use std::time::{Duration, Instant};

fn batch(messages: &[&str]) -> PackedBatch {
    let events: Vec<Event> = messages.iter().map(|m| Event::new(*m)).collect();
    PackedBatch::from_events(&events).unwrap()
}

fn events(batch: &PackedBatch) -> Vec<Event> {
    batch.decode().expect("a sound batch")
}

fn limits() -> TransformLimits {
    TransformLimits {
        memory_bytes: 32 << 20,
        timeout: Duration::from_millis(300),
        breaker_threshold: 100,
        breaker_cooldown: Duration::from_secs(60),
    }
}

#[test]
fn an_infinite_loop_hits_the_deadline_and_the_next_batch_runs() {
    let mut plugin = load("spin", limits(), Grants::default());
    let started = Instant::now();
    let failure = plugin.process(batch(&["a", "spin", "b"])).unwrap_err();
    assert_eq!(failure.kind, FailureKind::Deadline, "{}", failure.reason);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the deadline stopped it"
    );
    let kept: Vec<_> = events(&failure.batch)
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(kept, ["a", "spin", "b"], "the whole batch comes back");
    let out = plugin
        .process(batch(&["c"]))
        .expect("a rebuilt instance serves the next batch");
    assert_eq!(events(&out.events)[0].message, "c");
}

#[test]
fn an_allocation_bomb_hits_the_memory_limit() {
    let mut plugin = load("alloc-bomb", limits(), Grants::default());
    let failure = plugin.process(batch(&["bomb"])).unwrap_err();
    assert_eq!(failure.kind, FailureKind::OutOfMemory, "{}", failure.reason);
    assert!(
        failure.reason.contains("memory limit"),
        "{}",
        failure.reason
    );
    assert_eq!(events(&failure.batch)[0].message, "bomb");
    assert!(plugin.process(batch(&["fine"])).is_ok());
}

#[test]
fn a_panic_is_a_trap_with_its_message_and_state_survives_the_rebuild() {
    let mut plugin = load("panic", limits(), Grants::default());
    let out = plugin.process(batch(&["x"])).unwrap();
    assert_eq!(
        events(&out.events)[0].fields.get("batches_seen"),
        Some(&Value::Int(1))
    );
    let failure = plugin.process(batch(&["panic"])).unwrap_err();
    assert_eq!(failure.kind, FailureKind::Trap);
    assert!(
        failure.reason.contains("asked to panic"),
        "the guest's panic message is reported: {}",
        failure.reason
    );
    let out = plugin.process(batch(&["y"])).unwrap();
    // The key-value state lives in the host: the new instance sees 3 batches.
    assert_eq!(
        events(&out.events)[0].fields.get("batches_seen"),
        Some(&Value::Int(3))
    );
}

#[test]
fn repeated_failures_open_the_circuit_then_it_recovers() {
    let mut plugin = load(
        "panic",
        TransformLimits {
            breaker_threshold: 2,
            breaker_cooldown: Duration::from_millis(300),
            ..limits()
        },
        Grants::default(),
    );
    assert_eq!(
        plugin.process(batch(&["panic"])).unwrap_err().kind,
        FailureKind::Trap
    );
    assert_eq!(plugin.circuit_state(), CircuitState::Closed);
    assert_eq!(
        plugin.process(batch(&["panic"])).unwrap_err().kind,
        FailureKind::Trap
    );
    assert_eq!(plugin.circuit_state(), CircuitState::Open);
    assert_eq!(plugin.circuit_openings(), 1);
    let refused = plugin.process(batch(&["good"])).unwrap_err();
    assert_eq!(refused.kind, FailureKind::CircuitOpen);
    assert_eq!(
        events(&refused.batch)[0].message,
        "good",
        "a refused batch is handed back"
    );
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(plugin.circuit_state(), CircuitState::HalfOpen);
    assert!(plugin.process(batch(&["good"])).is_ok());
    assert_eq!(plugin.circuit_state(), CircuitState::Closed);
}

#[test]
fn no_filesystem_or_environment_unless_granted() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "s3cret").unwrap();
    let path = secret.to_string_lossy().into_owned();

    let mut denied = load("open-file", limits(), Grants::default());
    let out = denied.process(batch(&[&path, "/etc/passwd"])).unwrap();
    for event in &events(&out.events) {
        assert!(
            event.fields.get("content").is_none(),
            "read {}",
            event.message
        );
        assert!(event.fields.get("open_error").is_some());
        assert_eq!(event.fields.get("env_vars"), Some(&Value::Int(0)));
    }

    let grants = Grants {
        preopens: vec![Preopen {
            host: dir.path().to_owned(),
            guest: dir.path().to_string_lossy().into_owned(),
            read_only: true,
        }],
        env: vec![("REGION".into(), "eu".into())],
        allowed_addrs: vec![],
    };
    let mut granted = load("open-file", limits(), grants);
    let out = granted.process(batch(&[&path, "/etc/passwd"])).unwrap();
    assert_eq!(
        events(&out.events)[0].fields.get("content"),
        Some(&Value::from("s3cret"))
    );
    assert!(
        events(&out.events)[1].fields.get("content").is_none(),
        "only the granted directory is visible"
    );
    assert_eq!(
        events(&out.events)[0].fields.get("env_vars"),
        Some(&Value::Int(1))
    );
}

#[test]
fn compiled_code_is_cached_by_content_and_a_damaged_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let engine = sluice::plugin::PluginEngine::new(Some(cache.path().to_owned())).unwrap();
    let bytes = std::fs::read(super::test_plugin("noop")).unwrap();
    engine.compile("noop", &bytes).unwrap();
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .ends_with(".cwasm"));
    std::fs::write(&entries[0], b"garbage").unwrap();
    let component = engine
        .compile("noop", &bytes)
        .expect("recompiles over a damaged entry");
    engine.pre_instantiate("noop", &component).unwrap();
    assert!(
        std::fs::metadata(&entries[0]).unwrap().len() > 1000,
        "the entry was rewritten"
    );
}

#[test]
fn no_network_unless_the_address_is_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("tcp:{}", listener.local_addr().unwrap());
    let elsewhere = format!("tcp:{}", other.local_addr().unwrap());

    let mut denied = load("open-file", limits(), Grants::default());
    let out = events(&denied.process(batch(&[&target])).unwrap().events);
    assert!(
        out[0].fields.get("connected").is_none(),
        "connected without a grant"
    );
    assert!(out[0].fields.get("connect_error").is_some());

    let grants = Grants {
        allowed_addrs: vec![listener.local_addr().unwrap()],
        ..Grants::default()
    };
    let mut granted = load("open-file", limits(), grants);
    let out = events(
        &granted
            .process(batch(&[&target, &elsewhere]))
            .unwrap()
            .events,
    );
    assert_eq!(
        out[0].fields.get("connected"),
        Some(&Value::Bool(true)),
        "{:?}",
        out[0].fields
    );
    assert!(
        out[1].fields.get("connected").is_none(),
        "only the granted address is reachable"
    );
}
