//! A real Kafka-protocol broker (tansu, in memory) for the tests, and
//! plain rdkafka clients to feed and check it.

#![allow(dead_code, unused_imports)] // each test file uses its own part

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
pub use sluice_test_support::{ensure_tool, free_port};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tansu broker on a free port, killed on drop.
pub struct Broker {
    child: Child,
    pub address: String,
}

impl Broker {
    /// Starts a broker, or `None` when tansu cannot be had outside CI.
    pub fn start() -> Option<Broker> {
        let tansu = ensure_tool("tansu")?;
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(broker_log())
            .stderr(broker_log())
            .spawn()
            .expect("starts tansu");
        let broker = Broker {
            child,
            address: format!("127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while TcpStream::connect(&broker.address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "tansu did not listen on {} within 30 s",
                broker.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(broker)
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .create()
            .expect("admin client");
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results = admin
            .create_topics([&topic], &AdminOptions::new())
            .await
            .expect("create_topics");
        for result in results {
            result.unwrap_or_else(|(topic, e)| panic!("create topic {topic}: {e}"));
        }
    }

    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("enable.idempotence", "true")
            .create()
            .expect("producer")
    }

    /// Produces `(key, payload)` records and waits for each to be stored.
    pub async fn produce(&self, topic: &str, records: &[(Option<String>, String)]) {
        let producer = self.producer();
        let mut deliveries = Vec::new();
        for (key, payload) in records {
            let mut record = FutureRecord::<str, str>::to(topic).payload(payload.as_str());
            if let Some(key) = key {
                record = record.key(key.as_str());
            }
            deliveries.push(producer.send_result(record).expect("queued"));
        }
        for delivery in deliveries {
            delivery.await.expect("answered").expect("stored");
        }
    }

    /// Reads every partition of `topic` from the start until `count`
    /// messages arrived (or 30 s passed).
    pub fn consume_all(&self, topic: &str, partitions: i32, count: usize) -> Vec<OwnedMessage> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("group.id", "sluice-test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition_offset(topic, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&list).expect("assign");
        let mut messages = Vec::new();
        let started = Instant::now();
        while messages.len() < count && started.elapsed() < Duration::from_secs(30) {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                messages.push(message.expect("message").detach());
            }
        }
        messages
    }

    /// The offset `group` committed for each of `partitions` (None: none).
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(topic, partition);
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .expect("committed offsets");
        (0..partitions)
            .map(
                |p| match committed.find_partition(topic, p).unwrap().offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                },
            )
            .collect()
    }
}

/// The broker's log goes to the file `SLUICE_TEST_BROKER_LOG` names, if set.
fn broker_log() -> Stdio {
    match std::env::var_os("SLUICE_TEST_BROKER_LOG") {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_or(Stdio::null(), Stdio::from),
        None => Stdio::null(),
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message payload of a consumed record, as text.
pub fn payload(message: &OwnedMessage) -> String {
    String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned()
}

/// Polls `done` every 50 ms until it is true, failing after `secs`.
pub async fn eventually(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
