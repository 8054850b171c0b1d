//! `kafka` sink: an idempotent producer (`enable.idempotence=true`, so
//! librdkafka's retries neither duplicate nor reorder records within a
//! partition).
//!
//! Each event is one record. `key` is a `{{field}}` template (an event
//! without the field gets no key), so with `key = "{{service}}"` one
//! service's events land in one partition, in order; `topic` may be a
//! template too. A batch's acknowledgements are released only when the
//! broker acknowledged every one of its records; a record that fails for
//! good (librdkafka gave up retrying, a topic template names a missing
//! field, the record is too large) fails the whole batch's
//! acknowledgements, so its sources do not count it as delivered.
//! Batches are produced one after the other while earlier ones are still
//! waiting for the broker, up to [`MAX_IN_FLIGHT`] of them.

use crate::{client_config, KafkaError};
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use serde::Deserialize;
use sluice_event::template::Template;
use sluice_event::write_row_json;
use sluice_io::sinks::SinkContext;
use sluice_io::{Batch, StageCounters};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// `[sinks.NAME]` with `type = "kafka"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSinkConfig")]
pub struct KafkaSinkConfig {
    pub bootstrap_servers: String,
    pub topic: Template,
    pub key: Option<Template>,
    pub compression: SinkCompression,
    pub encoding: SinkEncoding,
    /// Passed to librdkafka as they are, after (so over) Sluice's settings.
    pub librdkafka_options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSinkConfig {
    bootstrap_servers: String,
    topic: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    compression: SinkCompression,
    #[serde(default)]
    encoding: SinkEncoding,
    #[serde(default)]
    librdkafka_options: BTreeMap<String, String>,
}

impl TryFrom<RawSinkConfig> for KafkaSinkConfig {
    type Error = String;
    fn try_from(raw: RawSinkConfig) -> Result<Self, String> {
        let topic = Template::parse(&raw.topic).map_err(|e| format!("`topic`: {e}"))?;
        if topic.as_static().is_some_and(|t| t.is_empty()) {
            return Err("`topic` is empty".into());
        }
        let key = match raw.key {
            Some(key) => Some(Template::parse(&key).map_err(|e| format!("`key`: {e}"))?),
            None => None,
        };
        Ok(KafkaSinkConfig {
            bootstrap_servers: raw.bootstrap_servers,
            topic,
            key,
            compression: raw.compression,
            encoding: raw.encoding,
            librdkafka_options: raw.librdkafka_options,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkCompression {
    #[default]
    Lz4,
    Zstd,
    None,
}

/// What a record's value is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkEncoding {
    /// The event's JSON form (what the `kafka` source decodes by default).
    #[default]
    Json,
    /// The message only.
    Raw,
}

/// Batches produced and not yet acknowledged by the broker, at most.
pub const MAX_IN_FLIGHT: usize = 64;
/// How long the end of the input waits for the broker's last answers.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

struct SinkClient {
    name: String,
}

impl ClientContext for SinkClient {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::source::log_librdkafka(&self.name, level, fac, log_message);
    }
    fn error(&self, error: RdKafkaError, reason: &str) {
        tracing::warn!(sink = %self.name, %error, reason, "kafka client error");
    }
}

/// A batch waiting for the broker. Dropped before it settled (the flush
/// timed out), it fails its acknowledgements.
struct Settling {
    batch: Batch,
    settled: bool,
}

impl Drop for Settling {
    fn drop(&mut self) {
        if !self.settled {
            self.batch.acks.fail();
        }
    }
}

/// Produces every batch until the inputs end, then waits (up to
/// [`FLUSH_TIMEOUT`]) for the broker to acknowledge what is in flight.
pub async fn run(config: KafkaSinkConfig, mut ctx: SinkContext) -> Result<(), KafkaError> {
    let compression = match config.compression {
        SinkCompression::Lz4 => "lz4",
        SinkCompression::Zstd => "zstd",
        SinkCompression::None => "none",
    };
    let ours = [
        ("bootstrap.servers", config.bootstrap_servers.clone()),
        ("client.id", format!("sluice-{}", ctx.name)),
        ("enable.idempotence", "true".into()),
        ("compression.type", compression.into()),
    ];
    let client = SinkClient {
        name: ctx.name.clone(),
    };
    let producer: FutureProducer<SinkClient> = client_config(&ours, &config.librdkafka_options)
        .create_with_context(client)
        .map_err(|error| KafkaError::Client {
            stage: ctx.name.clone(),
            error,
        })?;
    let static_topic = config.topic.as_static();
    let mut in_flight = FuturesUnordered::new();
    let mut buffers = Buffers::default();
    loop {
        let batch = tokio::select! {
            Some(()) = in_flight.next(), if !in_flight.is_empty() => continue,
            batch = ctx.recv() => batch,
        };
        let Some(batch) = batch else { break };
        while in_flight.len() >= MAX_IN_FLIGHT {
            in_flight.next().await;
        }
        let produced = produce(
            &config,
            static_topic.as_deref(),
            &producer,
            &batch,
            &mut buffers,
            &mut in_flight,
        )
        .await;
        let counters = ctx.counters.clone();
        let name = ctx.name.clone();
        let settling = Settling {
            batch,
            settled: false,
        };
        in_flight.push(settle(settling, produced, counters, name));
    }
    let all_settled = async { while in_flight.next().await.is_some() {} };
    if tokio::time::timeout(FLUSH_TIMEOUT, all_settled)
        .await
        .is_err()
    {
        tracing::error!(sink = %ctx.name, batches = in_flight.len(), "the broker did not acknowledge every record in time; those events are not acknowledged upstream");
    }
    drop(in_flight);
    let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5))).await;
    Ok(())
}

/// Text reused from record to record.
#[derive(Default)]
struct Buffers {
    payload: Vec<u8>,
    topic: String,
    key: String,
}

/// What producing one batch gave: a delivery future per record sent, and
/// the first reason a record failed for good.
struct Produced {
    deliveries: Vec<DeliveryFuture>,
    failure: Option<String>,
    /// Records not even sent (their topic could not be rendered).
    unsent: usize,
}

/// Hands every event of `batch` to librdkafka, waiting for room in its
/// queue when it is full.
async fn produce<F: std::future::Future<Output = ()>>(
    config: &KafkaSinkConfig,
    static_topic: Option<&str>,
    producer: &FutureProducer<SinkClient>,
    batch: &Batch,
    buffers: &mut Buffers,
    in_flight: &mut FuturesUnordered<F>,
) -> Produced {
    let mut produced = Produced {
        deliveries: Vec::with_capacity(batch.len()),
        failure: None,
        unsent: 0,
    };
    let checked = match batch.check() {
        Ok(checked) => checked,
        Err(error) => {
            produced.failure = Some(error.to_string());
            produced.unsent = batch.len();
            return produced;
        }
    };
    let Buffers {
        payload,
        topic: topic_text,
        key: key_text,
    } = buffers;
    for row in checked.rows() {
        let topic = match static_topic {
            Some(topic) => topic,
            None if config.topic.render_row(&row, topic_text) => topic_text.as_str(),
            None => {
                produced.unsent += 1;
                produced
                    .failure
                    .get_or_insert_with(|| "the topic template names a missing field".into());
                continue;
            }
        };
        payload.clear();
        match config.encoding {
            SinkEncoding::Json => write_row_json(&row, payload),
            SinkEncoding::Raw => payload.extend_from_slice(row.message().as_bytes()),
        }
        let mut record: FutureRecord<'_, str, [u8]> =
            FutureRecord::to(topic).payload(payload.as_slice());
        if let Some(key) = &config.key {
            if key.render_row(&row, key_text) {
                record = record.key(key_text.as_str());
            }
        }
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    produced.deliveries.push(delivery);
                    break;
                }
                Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    // Room comes back as the broker answers.
                    if in_flight.is_empty() {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    } else {
                        in_flight.next().await;
                    }
                }
                Err((error, _)) => {
                    produced.unsent += 1;
                    produced.failure.get_or_insert_with(|| error.to_string());
                    break;
                }
            }
        }
    }
    produced
}

/// Waits for the broker's answer to every record of a batch, then lets the
/// batch go: acknowledged when all were stored, failed otherwise.
async fn settle(
    mut settling: Settling,
    produced: Produced,
    counters: Arc<StageCounters>,
    sink: String,
) {
    let mut failure = produced.failure;
    let mut failed = produced.unsent;
    for delivery in produced.deliveries {
        let error = match delivery.await {
            Ok(Ok(_)) => continue,
            Ok(Err((error, _))) => error.to_string(),
            Err(_) => "the producer went away".to_owned(),
        };
        failed += 1;
        failure.get_or_insert(error);
    }
    let events = settling.batch.len();
    match failure {
        None => StageCounters::add(&counters.events_out, events),
        Some(error) => {
            settling.batch.acks.fail();
            StageCounters::add(&counters.dropped, failed);
            StageCounters::add(&counters.events_out, events - failed);
            tracing::error!(%sink, failed, events, %error, "records could not be delivered; the batch is not acknowledged upstream");
        }
    }
    settling.settled = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<KafkaSinkConfig, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    #[test]
    fn config_defaults_and_templates() {
        let config = parse(serde_json::json!({"bootstrap_servers": "b", "topic": "logs"})).unwrap();
        assert_eq!(config.compression, SinkCompression::Lz4);
        assert_eq!(config.encoding, SinkEncoding::Json);
        assert_eq!(config.topic.as_static().as_deref(), Some("logs"));
        assert_eq!(config.key, None);
        let config = parse(serde_json::json!({
            "bootstrap_servers": "b", "topic": "logs-{{env}}", "key": "{{service}}",
            "compression": "zstd", "encoding": "raw",
        }))
        .unwrap();
        assert_eq!(config.compression, SinkCompression::Zstd);
        assert_eq!(config.topic.as_static(), None);
        let bad = parse(serde_json::json!({"bootstrap_servers": "b", "topic": "t", "key": "{{x"}))
            .unwrap_err();
        assert!(bad.contains("`key`: `{{` at byte 0"), "{bad}");
        let bad = parse(
            serde_json::json!({"bootstrap_servers": "b", "topic": "t", "compression": "gzip"}),
        )
        .unwrap_err();
        assert!(bad.contains("unknown variant `gzip`"), "{bad}");
    }
}
