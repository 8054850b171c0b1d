//! The `kafka` source against a real broker (tansu): fields, commits that
//! wait for acknowledgements, and a rebalance that loses nothing.

mod common;

use common::{eventually, Broker};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use sluice_event::{Event, Value};
use sluice_io::sources::SourceContext;
use sluice_io::Batch;
use sluice_kafka::source;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// A running source: its batches arrive on `rx`; `stop` shuts it down.
struct Running {
    rx: mpsc::Receiver<Batch>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), sluice_kafka::KafkaError>>,
}

fn start(broker: &Broker, topic: &str, group: &str, extra: serde_json::Value) -> Running {
    let mut config = serde_json::json!({
        "bootstrap_servers": broker.address,
        "topics": [topic],
        "group_id": group,
        "commit_interval_ms": 100,
        "librdkafka_options": {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"},
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let config: sluice_kafka::KafkaSourceConfig = serde_json::from_value(config).unwrap();
    let (tx, rx) = mpsc::channel(64);
    let (stop, shutdown) = watch::channel(false);
    let ctx = SourceContext {
        name: format!("kafka-{group}"),
        out: tx,
        shutdown,
        data_dir: std::env::temp_dir(),
        counters: Default::default(),
        acknowledgements: true,
    };
    let task = tokio::spawn(source::run(config, ctx));
    Running { rx, stop, task }
}

impl Running {
    /// Receives batches until `count` events came, keeping the batches
    /// (so their acknowledgements are held).
    async fn take(&mut self, count: usize) -> (Vec<Event>, Vec<Batch>) {
        let mut events = Vec::new();
        let mut batches = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while events.len() < count {
            let batch = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} of {count} events in 30 s", events.len()))
                .expect("source running");
            events.extend(batch.decode().unwrap());
            batches.push(batch);
        }
        (events, batches)
    }

    async fn shutdown(self) {
        let Running { rx, stop, task } = self;
        stop.send(true).unwrap();
        // Keep receiving (and acknowledging) while it drains.
        let drain = tokio::spawn(async move {
            let mut rx = rx;
            while rx.recv().await.is_some() {}
        });
        task.await.unwrap().unwrap();
        drain.await.unwrap();
    }
}

fn ids(n: std::ops::Range<usize>) -> Vec<(Option<String>, String)> {
    n.map(|i| {
        (
            Some(format!("k{i}")),
            format!(r#"{{"message":"event {i}","id":{i}}}"#),
        )
    })
    .collect()
}

fn id_of(event: &Event) -> i64 {
    match event.fields.get("id") {
        Some(Value::Int(id)) => *id,
        other => panic!("no id in {event:?}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_become_events_with_their_kafka_fields() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("fields", 1).await;
    let producer = broker.producer();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "trace",
            value: Some("abc"),
        })
        .insert(Header {
            key: "empty",
            value: None::<&str>,
        });
    let record = FutureRecord::to("fields")
        .key("k1")
        .payload(r#"{"message":"hello","service":"shop","timestamp":1000}"#)
        .headers(headers);
    producer
        .send(record, Duration::from_secs(10))
        .await
        .unwrap();
    broker.produce("fields", &[(None, "not json".into())]).await;

    let mut running = start(&broker, "fields", "g-fields", serde_json::json!({}));
    let (events, batches) = running.take(2).await;
    drop(batches);
    let first = &events[0];
    assert_eq!(first.message, "hello");
    assert_eq!(first.timestamp, 1000, "the payload's time is kept");
    let field = |e: &Event, name: &str| e.fields.get(name).cloned();
    assert_eq!(field(first, "service"), Some("shop".into()));
    assert_eq!(field(first, "kafka.key"), Some("k1".into()));
    assert_eq!(field(first, "kafka.headers.trace"), Some("abc".into()));
    assert_eq!(field(first, "kafka.headers.empty"), Some(Value::Null));
    assert_eq!(field(first, "kafka.topic"), Some("fields".into()));
    assert_eq!(field(first, "kafka.partition"), Some(Value::Int(0)));
    assert_eq!(field(first, "kafka.offset"), Some(Value::Int(0)));
    assert_eq!(field(first, "source"), Some("kafka".into()));
    let second = &events[1];
    assert_eq!(second.message, "not json");
    assert_eq!(field(second, "kafka.offset"), Some(Value::Int(1)));
    assert_eq!(field(second, "kafka.key"), None);
    assert_eq!(field(second, "parse_error"), Some(Value::Bool(true)));
    assert!(
        second.timestamp < second.ingest_timestamp,
        "no time in the payload: the message's (earlier) time"
    );
    running.shutdown().await;

    // `raw` keeps the payload as the message, JSON or not.
    let mut running = start(
        &broker,
        "fields",
        "g-raw",
        serde_json::json!({"decoding": "raw"}),
    );
    let (events, _batches) = running.take(2).await;
    assert_eq!(
        events[0].message,
        r#"{"message":"hello","service":"shop","timestamp":1000}"#
    );
    assert_eq!(events[1].fields.get("parse_error"), None);
    drop(_batches);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_committed_only_after_every_sink_acknowledged() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("acks", 2).await;
    broker.produce("acks", &ids(0..20)).await;

    // A sink that holds every batch: nothing may be committed.
    let mut first = start(&broker, "acks", "g-acks", serde_json::json!({}));
    let (events, held) = first.take(20).await;
    assert_eq!(events.len(), 20);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(broker.committed("g-acks", "acks", 2), [None, None]);
    // The process dies with them unacknowledged.
    first.task.abort();
    let _ = first.task.await;
    drop(held);
    assert_eq!(broker.committed("g-acks", "acks", 2), [None, None]);

    // The same group reads them all again; once they are released, the
    // offsets after them are committed.
    let mut second = start(&broker, "acks", "g-acks", serde_json::json!({}));
    let (events, held) = second.take(20).await;
    let again: BTreeSet<i64> = events.iter().map(id_of).collect();
    assert_eq!(again, (0..20).collect());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(broker.committed("g-acks", "acks", 2), [None, None]);
    // Per partition, the offset after its last message.
    let mut per_partition = [0i64; 2];
    for event in &events {
        let Some(Value::Int(p)) = event.fields.get("kafka.partition") else {
            panic!()
        };
        per_partition[*p as usize] += 1;
    }
    drop(held);
    let expected: Vec<Option<i64>> = per_partition
        .iter()
        .map(|n| (*n > 0).then_some(*n))
        .collect();
    eventually(10, "the commit", || {
        broker.committed("g-acks", "acks", 2) == expected
    })
    .await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_leaving_hands_its_partitions_over_without_loss() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("rebalance", 4).await;
    broker.produce("rebalance", &ids(0..200)).await;

    // Two members; each acknowledges what it gets at once and records ids.
    let seen: Arc<Mutex<BTreeMap<i64, u32>>> = Arc::default();
    let spawn_member = |running: Running, who: &'static str| {
        let seen = seen.clone();
        let Running { mut rx, stop, task } = running;
        let collector = tokio::spawn(async move {
            let mut mine = 0usize;
            while let Some(batch) = rx.recv().await {
                for event in batch.decode().unwrap() {
                    *seen.lock().unwrap().entry(id_of(&event)).or_default() += 1;
                    mine += 1;
                }
            }
            eprintln!("{who} received {mine} events");
            mine
        });
        (stop, task, collector)
    };
    let (stop_a, task_a, collector_a) = spawn_member(
        start(&broker, "rebalance", "g-reb", serde_json::json!({})),
        "a",
    );
    let (stop_b, task_b, collector_b) = spawn_member(
        start(&broker, "rebalance", "g-reb", serde_json::json!({})),
        "b",
    );
    eventually(60, "the first 200 events", || {
        seen.lock().unwrap().len() == 200
    })
    .await;

    // `a` leaves (draining and committing); `b` must get every partition.
    stop_a.send(true).unwrap();
    task_a.await.unwrap().unwrap();
    let from_a = collector_a.await.unwrap();
    broker.produce("rebalance", &ids(200..400)).await;
    eventually(60, "all 400 events", || seen.lock().unwrap().len() == 400).await;
    stop_b.send(true).unwrap();
    task_b.await.unwrap().unwrap();
    let from_b = collector_b.await.unwrap();

    let seen = seen.lock().unwrap();
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    eprintln!("a: {from_a}, b: {from_b}, duplicates: {duplicates}");
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        (0..400).collect::<Vec<_>>()
    );
    assert_eq!(from_a + from_b, 400 + duplicates as usize);
    // Every partition's offsets end after its last message: 400 in all.
    let committed: i64 = broker
        .committed("g-reb", "rebalance", 4)
        .iter()
        .map(|o| o.unwrap_or(0))
        .sum();
    assert_eq!(committed, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_regex_reads_every_matching_topic() {
    let Some(broker) = Broker::start() else {
        return;
    };
    for topic in ["regex-a", "regex-b", "other"] {
        broker.create_topic(topic, 1).await;
        let payload = format!(r#"{{"message":"from {topic}"}}"#);
        broker.produce(topic, &[(None, payload)]).await;
    }
    let regex = serde_json::json!({"topics": [], "topic_regex": "regex-.*"});
    let mut running = start(&broker, "unused", "g-regex", regex);
    let (events, batches) = running.take(2).await;
    drop(batches);
    let mut messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    messages.sort();
    assert_eq!(messages, ["from regex-a", "from regex-b"]);
    // Nothing from `other` follows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(running.rx.try_recv().is_err());
    running.shutdown().await;
}
