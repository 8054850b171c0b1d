//! The Kafka benchmark (`bench/kafka.sh`): the `kafka` sink and source next
//! to plain rdkafka clients doing the same job, measured in the same run
//! against the same broker (tansu, in memory; a fresh one per round).
//!
//! - produce: a file of N JSON log lines → Kafka. Plain: a `FutureProducer`
//!   sending each line and awaiting every delivery. Sluice: the lines read
//!   and packed into batches of 1024 events (what the `file` source does)
//!   and the `kafka` sink (`encoding = "raw"`, so the same bytes) until
//!   every batch is acknowledged.
//! - consume: the sink's topic → nothing. Plain: a `StreamConsumer` assigned every
//!   partition, counting messages. Sluice: the `kafka` source (a consumer
//!   group, acknowledgements on, `decoding = "raw"` and `"json"`) into a
//!   task that drops each batch (a blackhole, which acknowledges).
//!
//! Consuming is timed from the first message (or batch) on, so neither the
//! group join nor the assignment is in it. Both sides use lz4 and an
//! idempotent producer. Knobs:
//! `SLUICE_BENCH_EVENTS` (default 500000), `SLUICE_BENCH_ROUNDS` (default 3).

#[path = "../tests/common/mod.rs"]
mod common;

use common::Broker;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_event::packed::PackedBatch;
use sluice_event::Event;
use sluice_io::sinks::SinkContext;
use sluice_io::sources::SourceContext;
use sluice_io::{AckTracker, Batch};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

const PARTITIONS: i32 = 6;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// N log lines of about 200 bytes.
fn write_input(path: &std::path::Path, n: usize) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let services = ["checkout", "auth", "search", "payments", "catalog"];
    let mut bytes = 0;
    for i in 0..n {
        let line = format!(
            r#"{{"timestamp":"2026-11-22T06:04:35.{:03}Z","level":"info","service":"{}","trace_id":"{:016x}","message":"request {i} served in {} ms","status":200}}"#,
            i % 1000,
            services[i % services.len()],
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            i % 97
        );
        bytes += line.len() as u64;
        writeln!(out, "{line}").unwrap();
    }
    bytes
}

async fn plain_produce(broker: &Broker, topic: &str, input: &std::path::Path) -> Duration {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.address)
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .create()
        .unwrap();
    let started = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(input).unwrap());
    let mut deliveries = futures::stream::FuturesUnordered::new();
    for line in file.lines() {
        let line = line.unwrap();
        let mut record = FutureRecord::<(), str>::to(topic).payload(line.as_str());
        loop {
            match producer.send_result(record) {
                Ok(delivery) => break deliveries.push(delivery),
                Err((_, back)) => {
                    record = back;
                    // Queue full: wait for an answer.
                    deliveries.next().await;
                }
            }
        }
    }
    while let Some(delivery) = deliveries.next().await {
        delivery.unwrap().unwrap();
    }
    started.elapsed()
}

async fn sluice_produce(broker: &Broker, topic: &str, input: &std::path::Path) -> Duration {
    let config: sluice_kafka::KafkaSinkConfig = serde_json::from_value(serde_json::json!({
        "bootstrap_servers": broker.address, "topic": topic, "encoding": "raw",
    }))
    .unwrap();
    let (tx, input_rx) = mpsc::channel(16);
    let (_stop, shutdown) = watch::channel(false);
    let ctx = SinkContext::new("bench", input_rx, shutdown, std::env::temp_dir());
    let started = Instant::now();
    let sink = tokio::spawn(sluice_kafka::sink::run(config, ctx));
    let mut tracker = AckTracker::new();
    let file = std::io::BufReader::new(std::fs::File::open(input).unwrap());
    let mut events = Vec::with_capacity(1024);
    let mut batches = 0u64;
    for line in file.lines() {
        events.push(Event::new(line.unwrap()));
        if events.len() == 1024 {
            let packed = PackedBatch::from_events(&events).unwrap();
            tx.send(Batch::new(packed, tracker.issue().1))
                .await
                .unwrap();
            batches += 1;
            events.clear();
        }
    }
    if !events.is_empty() {
        let packed = PackedBatch::from_events(&events).unwrap();
        tx.send(Batch::new(packed, tracker.issue().1))
            .await
            .unwrap();
        batches += 1;
    }
    while tracker.wait().await < batches {}
    let elapsed = started.elapsed();
    assert_eq!(tracker.failed(), None);
    drop(tx);
    sink.await.unwrap().unwrap();
    elapsed
}

async fn plain_consume(broker: &Broker, topic: &str, n: usize) -> Duration {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.address)
        .set("group.id", "bench-plain")
        .set("enable.auto.commit", "false")
        // As the source sets it (see there).
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut stream = consumer.stream();
    let mut count = 0;
    let mut started = None;
    while count < n {
        let message = stream.next().await.unwrap().unwrap();
        started.get_or_insert_with(Instant::now);
        std::hint::black_box(rdkafka::Message::payload(&message));
        count += 1;
    }
    started.unwrap().elapsed()
}

async fn sluice_consume(
    broker: &Broker,
    topic: &str,
    n: usize,
    decoding: &str,
    group: &str,
) -> Duration {
    let config: sluice_kafka::KafkaSourceConfig = serde_json::from_value(serde_json::json!({
        "bootstrap_servers": broker.address, "topics": [topic], "group_id": group,
        "decoding": decoding,
    }))
    .unwrap();
    let (tx, mut rx) = mpsc::channel::<Batch>(16);
    let (stop, shutdown) = watch::channel(false);
    let ctx = SourceContext {
        name: "bench".into(),
        out: tx,
        shutdown,
        data_dir: std::env::temp_dir(),
        counters: Default::default(),
        acknowledgements: true,
    };
    let source = tokio::spawn(sluice_kafka::source::run(config, ctx));
    let (mut count, mut batches) = (0, 0);
    let mut started = None;
    while count < n {
        // The blackhole: count and drop (acknowledging).
        let batch = rx.recv().await.unwrap();
        started.get_or_insert_with(Instant::now);
        count += batch.len();
        batches += 1;
    }
    let elapsed = started.unwrap().elapsed();
    eprintln!(
        "{decoding}: {batches} batches, {} events each",
        count / batches
    );
    stop.send(true).unwrap();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    source.await.unwrap().unwrap();
    drain.await.unwrap();
    elapsed
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let n = env("SLUICE_BENCH_EVENTS", 500_000);
    let rounds = env("SLUICE_BENCH_ROUNDS", 3).max(1);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.ndjson");
    let bytes = write_input(&input, n);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let names = [
        "produce: plain rdkafka FutureProducer",
        "produce: file lines → sluice kafka sink",
        "consume: plain rdkafka StreamConsumer",
        "consume: sluice kafka source (raw) → blackhole",
        "consume: sluice kafka source (json) → blackhole",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        let Some(broker) = Broker::start() else {
            eprintln!("SKIPPED: no tansu broker");
            return;
        };
        runtime.block_on(async {
            broker.create_topic("plain", PARTITIONS).await;
            broker.create_topic("sluice", PARTITIONS).await;
            let round_times = [
                plain_produce(&broker, "plain", &input).await,
                sluice_produce(&broker, "sluice", &input).await,
                // The same topic the source reads: the sink's records.
                plain_consume(&broker, "sluice", n).await,
                sluice_consume(&broker, "sluice", n, "raw", "bench-raw").await,
                sluice_consume(&broker, "sluice", n, "json", "bench-json").await,
            ];
            eprintln!("round {}: {round_times:?}", round + 1);
            for (all, t) in times.iter_mut().zip(round_times) {
                all.push(t);
            }
        });
    }
    println!(
        "\n{n} events of {} bytes on average ({:.1} MB), lz4, {PARTITIONS} partitions, median of {rounds} rounds\n",
        bytes / n as u64,
        bytes as f64 / 1e6
    );
    println!("| path | events/s | MB/s | vs plain rdkafka |");
    println!("|---|---|---|---|");
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    for (i, (name, time)) in names.iter().zip(&medians).enumerate() {
        let secs = time.as_secs_f64();
        let baseline = if i < 2 { medians[0] } else { medians[2] };
        println!(
            "| {name} | {:.0} | {:.1} | {:.2} |",
            n as f64 / secs,
            bytes as f64 / 1e6 / secs,
            baseline.as_secs_f64() / secs
        );
    }
}
