//! `kafka` source: a consumer-group member that turns messages into events.
//!
//! **Offsets follow acknowledgements.** Every batch sent downstream carries
//! one acknowledgement per partition it holds events of, issued by that
//! partition's [`AckTracker`]; the offset committed for a partition is the
//! one after the last message of the longest run of batches that every sink
//! holds durably, in order. Commits are asynchronous, every
//! `commit_interval_ms`, with a synchronous one at shutdown (after waiting a
//! while for what is still in flight) and on every revoke.
//!
//! **Rebalances.** On revoke, the source waits a little (up to
//! [`REVOKE_DRAIN`]) for the acknowledgements of the partitions' events in
//! flight, commits each partition's delivered watermark synchronously and
//! drops its tracker: acknowledgements that arrive later are ignored, so
//! what was still in flight stays uncommitted and the partition's next
//! owner reads it again (duplicates, never loss). Messages received but not yet sent for a revoked partition
//! are dropped for the same reason. A failed batch (a sink that could not
//! deliver) stops its partition's commits until the source restarts.

mod config;

pub use config::{Decoding, KafkaSourceConfig, StartFrom};

use crate::{client_config, KafkaError};
use futures::{FutureExt, StreamExt};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sluice_event::{event_from_json, message_from_bytes, names, Event};
use sluice_io::sources::{SourceContext, MAX_BATCH};
use sluice_io::{AckTracker, Acks};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long shutdown waits for the acknowledgements of what was sent.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a revoke waits for them (the group waits for us meanwhile).
pub const REVOKE_DRAIN: Duration = Duration::from_secs(2);

type PartitionKey = (String, i32);

/// One assigned partition: its acknowledgements and where it stands.
struct Partition {
    /// Which assignment this is; batches remember it, so events read before
    /// a revoke are not acknowledged into a later assignment.
    generation: u64,
    tracker: AckTracker,
    /// `(batch number, offset after the batch's last message)`, in order.
    issued: VecDeque<(u64, i64)>,
    /// The offset after the last delivered message, in order.
    delivered: Option<i64>,
    committed: Option<i64>,
    warned_failure: bool,
}

impl Partition {
    fn new(generation: u64) -> Partition {
        Partition {
            generation,
            tracker: AckTracker::new(),
            issued: VecDeque::new(),
            delivered: None,
            committed: None,
            warned_failure: false,
        }
    }

    /// Batches sent and not yet settled, acknowledgements taken in.
    fn outstanding(&mut self) -> u64 {
        self.tracker.poll();
        self.tracker.outstanding()
    }

    /// Takes in acknowledgements; the offset to commit when it moved past
    /// the last commit.
    fn advance(&mut self, source: &str, key: &PartitionKey) -> Option<i64> {
        let below = self.tracker.poll();
        while self.issued.front().is_some_and(|(seq, _)| *seq < below) {
            self.delivered = self.issued.pop_front().map(|(_, next)| next);
        }
        if let (Some(failed), false) = (self.tracker.failed(), self.warned_failure) {
            self.warned_failure = true;
            let at = self
                .delivered
                .map_or("its last commit".into(), |o| o.to_string());
            tracing::error!(source, topic = %key.0, partition = key.1, batch = failed, "a batch could not be delivered; this partition's offset stays at {at} until the source restarts and reads it again");
        }
        self.delivered.filter(|d| Some(*d) > self.committed)
    }
}

#[derive(Default)]
struct Assignment {
    partitions: HashMap<PartitionKey, Partition>,
    generations: u64,
}

/// The consumer's context: rdkafka calls it on rebalances (from inside
/// our own `recv`) and with the outcome of commits.
struct SourceState {
    name: String,
    assignment: Mutex<Assignment>,
    /// Set once the source has drained and committed: the revoke that
    /// closing the consumer causes need not wait.
    closing: AtomicBool,
}

impl SourceState {
    fn lock(&self) -> MutexGuard<'_, Assignment> {
        self.assignment.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The watermarks that moved since the last commit (every watermark
    /// when `all`), as a list to commit.
    fn to_commit(&self, assignment: &mut Assignment, all: bool) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for (key, partition) in assignment.partitions.iter_mut() {
            let moved = partition.advance(&self.name, key);
            let offset = if all { partition.delivered } else { moved };
            if let Some(offset) = offset {
                let _ = list.add_partition_offset(&key.0, key.1, Offset::Offset(offset));
                partition.committed = Some(offset);
            }
        }
        list
    }
}

impl ClientContext for SourceState {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(&self.name, level, fac, log_message);
    }
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(source = %self.name, %error, reason, "kafka client error");
    }
}

impl ConsumerContext for SourceState {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        let mut assignment = self.lock();
        let mut gone = Assignment::default();
        for element in revoked.elements() {
            let key = (element.topic().to_owned(), element.partition());
            if let Some(partition) = assignment.partitions.remove(&key) {
                gone.partitions.insert(key, partition);
            }
        }
        drop(assignment);
        if !self.closing.load(Ordering::Relaxed) {
            wait_for_in_flight(&mut gone);
        }
        let list = self.to_commit(&mut gone, false);
        let in_flight: u64 = gone
            .partitions
            .values()
            .map(|p| p.tracker.outstanding())
            .sum();
        tracing::info!(source = %self.name, partitions = revoked.count(), in_flight_batches = in_flight, "partitions revoked; committing what was delivered, the rest is read again by their next owner");
        if list.count() > 0 {
            if let Err(error) = consumer.commit(&list, CommitMode::Sync) {
                tracing::warn!(source = %self.name, %error, "commit on revoke failed; those events will be read again");
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(assigned) = rebalance else {
            return;
        };
        let mut assignment = self.lock();
        for element in assigned.elements() {
            assignment.generations += 1;
            let partition = Partition::new(assignment.generations);
            let key = (element.topic().to_owned(), element.partition());
            assignment.partitions.insert(key, partition);
        }
        tracing::info!(source = %self.name, partitions = assigned.count(), "partitions assigned");
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        if let Err(error) = result {
            tracing::warn!(source = %self.name, %error, "offset commit failed; the next one covers it");
        }
    }
}

/// Waits up to [`REVOKE_DRAIN`] for the acknowledgements of `gone`'s
/// batches. The rebalance callback runs inside our own `recv`, so on a
/// worker of a multi-threaded runtime (where sinks keep running on the
/// others); anywhere else it does not wait.
fn wait_for_in_flight(gone: &mut Assignment) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let outstanding = |gone: &mut Assignment| -> u64 {
        let partitions = gone.partitions.values_mut();
        partitions.map(|p| p.outstanding()).sum()
    };
    let multi_threaded =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if !multi_threaded || outstanding(gone) == 0 {
        return;
    }
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + REVOKE_DRAIN;
        while outstanding(gone) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

/// librdkafka's own log lines, through `tracing`.
pub(crate) fn log_librdkafka(
    stage: &str,
    level: rdkafka::config::RDKafkaLogLevel,
    fac: &str,
    message: &str,
) {
    use rdkafka::config::RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => {
            tracing::error!(stage, fac, "librdkafka: {message}")
        }
        L::Warning => tracing::warn!(stage, fac, "librdkafka: {message}"),
        L::Notice | L::Info => tracing::info!(stage, fac, "librdkafka: {message}"),
        L::Debug => tracing::debug!(stage, fac, "librdkafka: {message}"),
    }
}

/// Where one received event came from: its partition's assignment and
/// the offset after it.
struct Mark {
    key: PartitionKey,
    generation: u64,
    next_offset: i64,
}

/// Joins the group and reads until shutdown (or until downstream is gone),
/// then waits for what is in flight and commits.
pub async fn run(config: KafkaSourceConfig, ctx: SourceContext) -> Result<(), KafkaError> {
    let name = ctx.name.clone();
    let state = SourceState {
        name: name.clone(),
        assignment: Mutex::default(),
        closing: AtomicBool::new(false),
    };
    let reset = match config.start_from {
        StartFrom::Earliest => "earliest",
        StartFrom::Latest => "latest",
    };
    let ours = [
        ("bootstrap.servers", config.bootstrap_servers.clone()),
        ("group.id", config.group_id.clone()),
        ("client.id", format!("sluice-{name}")),
        ("enable.auto.commit", "false".into()),
        ("enable.auto.offset.store", "false".into()),
        ("auto.offset.reset", reset.into()),
        // librdkafka 2.x pauses fetching for a whole second (the default)
        // whenever its local queue is over its threshold, which a pipeline
        // slower than the network reaches at once; measured in
        // `bench/RESULTS.md`.
        ("fetch.queue.backoff.ms", "10".into()),
    ];
    let consumer: StreamConsumer<SourceState> = client_config(&ours, &config.librdkafka_options)
        .create_with_context(state)
        .map_err(|error| KafkaError::Client {
            stage: name.clone(),
            error,
        })?;
    let topics: Vec<&str> = config.subscription.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|error| KafkaError::Subscribe {
            stage: name.clone(),
            topics: topics.join(", "),
            error,
        })?;
    tracing::info!(source = %name, topics = %topics.join(", "), group = %config.group_id, "subscribed");

    let mut commit_tick = tokio::time::interval(config.commit_interval);
    commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = ctx.shutdown.clone();
    // One stream for the whole run: each `recv` would register a waker anew.
    let mut stream = consumer.stream();
    loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = commit_tick.tick() => {
                commit(&consumer, CommitMode::Async, false);
                continue;
            }
            received = stream.next() => received.expect("kafka streams never end"),
        };
        let mut events = Vec::new();
        let mut marks = Vec::new();
        let mut received = Some(first);
        while let Some(message) = received.take() {
            match message {
                Ok(message) => {
                    marks.push(mark(&consumer, &message));
                    events.push(to_event(&message, config.decoding, &name));
                }
                Err(error) => {
                    tracing::warn!(source = %name, %error, "kafka consumer error");
                    if events.is_empty() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    break;
                }
            }
            if events.len() < MAX_BATCH {
                received = stream.next().now_or_never().flatten();
            }
        }
        if !send(&ctx, &consumer, events, marks).await {
            tracing::info!(source = %name, "downstream is gone; stopping");
            break;
        }
    }
    drop(stream);
    drop(ctx);
    drain(&consumer, &name).await;
    commit(&consumer, CommitMode::Sync, true);
    consumer.context().closing.store(true, Ordering::Relaxed);
    // Closing leaves the group (a blocking call).
    let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    Ok(())
}

fn mark(consumer: &StreamConsumer<SourceState>, message: &BorrowedMessage<'_>) -> Mark {
    let key = (message.topic().to_owned(), message.partition());
    let state = consumer.context();
    let assignment = state.lock();
    // A message of a partition this member does not hold (fetched before
    // it was revoked) gets generation 0, which no assignment has, so `send`
    // leaves it out. Tracking it would let this member commit an offset of
    // a partition another member now reads, past events it never stored.
    let generation = assignment
        .partitions
        .get(&key)
        .map_or(0, |partition| partition.generation);
    Mark {
        key,
        generation,
        next_offset: message.offset() + 1,
    }
}

/// Sends one batch with one acknowledgement per partition in it; events
/// of partitions revoked since they were read are left out (uncommitted,
/// so their next owner reads them). `false` when downstream is gone.
async fn send(
    ctx: &SourceContext,
    consumer: &StreamConsumer<SourceState>,
    events: Vec<Event>,
    marks: Vec<Mark>,
) -> bool {
    let mut acks = Acks::none();
    let mut kept = Vec::with_capacity(events.len());
    {
        let mut assignment = consumer.context().lock();
        let mut last: HashMap<&PartitionKey, i64> = HashMap::new();
        for (event, mark) in events.into_iter().zip(&marks) {
            let current = assignment.partitions.get(&mark.key);
            if current.is_some_and(|p| p.generation == mark.generation) {
                kept.push(event);
                let next = last.entry(&mark.key).or_insert(mark.next_offset);
                *next = (*next).max(mark.next_offset);
            }
        }
        for (key, next_offset) in last {
            let partition = assignment.partitions.get_mut(key).expect("checked above");
            let (seq, partition_acks) = partition.tracker.issue();
            partition.issued.push_back((seq, next_offset));
            acks.merge(partition_acks);
        }
    }
    ctx.send_acked(kept, acks).await
}

/// Commits the delivered watermarks (all of them, or those that moved).
fn commit(consumer: &StreamConsumer<SourceState>, mode: CommitMode, all: bool) {
    let state = consumer.context();
    let list = state.to_commit(&mut state.lock(), all);
    if list.count() == 0 {
        return;
    }
    if let Err(error) = consumer.commit(&list, mode) {
        tracing::warn!(source = %state.name, %error, "offset commit failed; those events will be read again");
    }
}

/// Waits (up to [`DRAIN_TIMEOUT`]) until every batch sent is settled.
async fn drain(consumer: &StreamConsumer<SourceState>, name: &str) {
    let started = Instant::now();
    loop {
        let outstanding: u64 = {
            let mut assignment = consumer.context().lock();
            assignment
                .partitions
                .iter_mut()
                .map(|(_, p)| p.outstanding())
                .sum()
        };
        if outstanding == 0 {
            return;
        }
        if started.elapsed() > DRAIN_TIMEOUT {
            tracing::warn!(source = %name, batches = outstanding, "shutting down with batches not yet acknowledged; they will be read again");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One message as an event: the payload decoded, and `kafka.*` fields.
fn to_event(message: &BorrowedMessage<'_>, decoding: Decoding, stage: &str) -> Event {
    let payload = message.payload().unwrap_or_default();
    let kafka_time = message.timestamp().to_millis().map(|ms| ms * 1_000_000);
    let mut event = match decoding {
        Decoding::Json => json_event(payload, stage),
        Decoding::Raw => Event::new(message_from_bytes(payload).0),
    };
    // Equal times mean the payload gave no event time: the message's is
    // the best there is.
    if let (Some(ns), true) = (kafka_time, event.timestamp == event.ingest_timestamp) {
        event.timestamp = ns;
    }
    let fields = &mut event.fields;
    fields.insert(names::SOURCE, "kafka");
    fields.insert("kafka.topic", message.topic());
    fields.insert("kafka.partition", i64::from(message.partition()));
    fields.insert("kafka.offset", message.offset());
    if let Some(key) = message.key() {
        fields.insert("kafka.key", message_from_bytes(key).0);
    }
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            let name = format!("kafka.headers.{}", header.key);
            match header.value {
                Some(value) => fields.insert(name, message_from_bytes(value).0),
                None => fields.insert(name, sluice_event::Value::Null),
            }
        }
    }
    event
}

/// A JSON object payload as an event; anything else kept whole with an error.
fn json_event(payload: &[u8], stage: &str) -> Event {
    let error = match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(json) => match event_from_json(&json) {
            Ok(event) => return event,
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    let mut event = Event::new(message_from_bytes(payload).0);
    event.record_error(stage, &format!("invalid JSON: {error}"));
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_json_keeps_the_payload_with_an_error() {
        let event = json_event(b"not json", "in");
        assert_eq!(event.message, "not json");
        assert_eq!(event.fields.get(names::ERROR_STAGE), Some(&"in".into()));
        let event = json_event(br#"{"message":"m","service":"shop"}"#, "in");
        assert_eq!(event.message, "m");
        assert_eq!(event.fields.get("service"), Some(&"shop".into()));
        assert_eq!(event.fields.get(names::PARSE_ERROR), None);
    }

    #[test]
    fn the_watermark_follows_in_order_acknowledgements() {
        let key = ("t".to_owned(), 0);
        let mut partition = Partition::new(1);
        let mut acks = Vec::new();
        for next in [10, 20, 30] {
            let (seq, a) = partition.tracker.issue();
            partition.issued.push_back((seq, next));
            acks.push(Some(a));
        }
        acks[1].take();
        assert_eq!(partition.advance("s", &key), None, "batch 0 is still out");
        acks[0].take();
        assert_eq!(partition.advance("s", &key), Some(20));
        partition.committed = Some(20);
        assert_eq!(partition.advance("s", &key), None, "already committed");
        let failed = acks[2].take().unwrap();
        failed.fail();
        drop(failed);
        assert_eq!(partition.advance("s", &key), None, "never past a failure");
        assert_eq!(partition.delivered, Some(20));
    }
}
