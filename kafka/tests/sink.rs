//! The `kafka` sink against a real broker (tansu): compression, keys from
//! a template, JSON and raw records, and acknowledgements after the broker's.

mod common;

use common::{payload, Broker};
use rdkafka::Message;
use sluice_event::packed::PackedBatch;
use sluice_event::{Event, Value};
use sluice_io::sinks::SinkContext;
use sluice_io::{AckTracker, Batch};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const SERVICES: [&str; 3] = ["shop", "auth", "search"];

fn event(i: usize) -> Event {
    let mut event = Event::new(format!("line {i}"));
    event.fields.insert("service", SERVICES[i % 3]);
    event.fields.insert("seq", i as i64);
    event
}

/// The sink running over `config`: the sender feeding it, its counters
/// and its task.
fn start(
    config: sluice_kafka::KafkaSinkConfig,
) -> (
    mpsc::Sender<Batch>,
    Arc<sluice_io::StageCounters>,
    tokio::task::JoinHandle<Result<(), sluice_kafka::KafkaError>>,
) {
    let (tx, input) = mpsc::channel(8);
    let (_stop, shutdown) = watch::channel(false);
    let ctx = SinkContext::new("out", input, shutdown, std::env::temp_dir());
    let counters = ctx.counters.clone();
    (
        tx,
        counters,
        tokio::spawn(sluice_kafka::sink::run(config, ctx)),
    )
}

/// Runs the sink with `config` over `count` events in batches of 100 and
/// waits until every batch is acknowledged.
async fn write(broker: &Broker, config: serde_json::Value, count: usize) {
    let mut full = serde_json::json!({"bootstrap_servers": broker.address});
    for (k, v) in config.as_object().unwrap() {
        full[k] = v.clone();
    }
    let config: sluice_kafka::KafkaSinkConfig = serde_json::from_value(full).unwrap();
    let (tx, counters, task) = start(config);
    let mut tracker = AckTracker::new();
    let events: Vec<Event> = (0..count).map(event).collect();
    for chunk in events.chunks(100) {
        let packed = PackedBatch::from_events(chunk).unwrap();
        tx.send(Batch::new(packed, tracker.issue().1))
            .await
            .unwrap();
    }
    let batches = count.div_ceil(100) as u64;
    let acknowledged = async { while tracker.wait().await < batches {} };
    tokio::time::timeout(Duration::from_secs(30), acknowledged)
        .await
        .expect("every batch acknowledged");
    assert_eq!(tracker.failed(), None);
    drop(tx);
    task.await.unwrap().unwrap();
    assert_eq!(
        sluice_io::StageCounters::get(&counters.events_out),
        count as u64
    );
}

/// Reads the topic back: per key, the partitions it landed in, and the
/// payloads in order of `seq`.
fn read_back(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    count: usize,
) -> Vec<(String, i32, String)> {
    let messages = broker.consume_all(topic, partitions, count);
    assert_eq!(messages.len(), count, "every record is in the topic");
    messages
        .iter()
        .map(|m| {
            let key = String::from_utf8(m.key().expect("keyed").to_vec()).unwrap();
            (key, m.partition(), payload(m))
        })
        .collect()
}

fn check_keys_stay_in_one_partition(records: &[(String, i32, String)]) {
    let mut partitions: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    for (key, partition, _) in records {
        partitions.entry(key).or_default().insert(*partition);
    }
    assert_eq!(
        partitions.keys().copied().collect::<Vec<_>>(),
        ["auth", "search", "shop"]
    );
    for (key, set) in &partitions {
        assert_eq!(set.len(), 1, "{key} spread over partitions {set:?}");
    }
}

async fn round_trip_json(compression: &str) {
    let Some(broker) = Broker::start() else {
        return;
    };
    let topic = format!("json-{compression}");
    broker.create_topic(&topic, 3).await;
    let config =
        serde_json::json!({"topic": topic, "key": "{{service}}", "compression": compression});
    write(&broker, config, 600).await;
    let records = read_back(&broker, &topic, 3, 600);
    check_keys_stay_in_one_partition(&records);
    let mut last_seq: BTreeMap<i32, i64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (key, partition, payload) in &records {
        let json: serde_json::Value = serde_json::from_str(payload).unwrap();
        let decoded = sluice_event::event_from_json(&json).unwrap();
        let Some(Value::Int(seq)) = decoded.fields.get("seq") else {
            panic!("{payload}")
        };
        assert_eq!(decoded.message, format!("line {seq}"));
        assert_eq!(
            decoded.fields.get("service"),
            Some(&Value::from(key.as_str()))
        );
        // Within a partition, records keep the order they were sent in.
        let last = last_seq.insert(*partition, *seq);
        assert!(
            last < Some(*seq),
            "partition {partition}: {last:?} then {seq}"
        );
        seen.insert(*seq);
    }
    assert_eq!(seen.len(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lz4_json_records_keyed_by_service() {
    round_trip_json("lz4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_json_records_keyed_by_service() {
    round_trip_json("zstd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_records_are_the_message_and_topics_can_be_templates() {
    let Some(broker) = Broker::start() else {
        return;
    };
    for service in SERVICES {
        broker.create_topic(&format!("raw-{service}"), 1).await;
    }
    let config = serde_json::json!({
        "topic": "raw-{{service}}", "key": "{{service}}-{{seq}}", "encoding": "raw",
        "compression": "none",
    });
    write(&broker, config, 300).await;
    for (n, service) in SERVICES.iter().enumerate() {
        let records = read_back(&broker, &format!("raw-{service}"), 1, 100);
        let expected: Vec<(String, i32, String)> = (0..100)
            .map(|i| 3 * i + n)
            .map(|seq| (format!("{service}-{seq}"), 0, format!("line {seq}")))
            .collect();
        assert_eq!(records, expected);
    }
}

#[tokio::test]
async fn a_record_that_cannot_be_sent_fails_its_batch() {
    // No broker needed: the topic template names a field the event lacks,
    // so the record never leaves, and the batch must not count as delivered.
    let config: sluice_kafka::KafkaSinkConfig = serde_json::from_value(serde_json::json!({
        "bootstrap_servers": "127.0.0.1:9", "topic": "logs-{{absent}}",
    }))
    .unwrap();
    let (tx, counters, task) = start(config);
    let mut tracker = AckTracker::new();
    let packed = PackedBatch::from_events(&[event(0), event(1)]).unwrap();
    tx.send(Batch::new(packed, tracker.issue().1))
        .await
        .unwrap();
    drop(tx);
    task.await.unwrap().unwrap();
    assert_eq!(tracker.poll(), 0);
    assert_eq!(tracker.failed(), Some(0));
    assert_eq!(sluice_io::StageCounters::get(&counters.dropped), 2);
}
