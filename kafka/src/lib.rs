//! Sluice's Kafka source and sink, on rdkafka (the bundled librdkafka).
//!
//! - [`source`]: a consumer-group member. Each message becomes an event
//!   (a JSON object payload decoded, or the raw text), with the key,
//!   headers, topic, partition and offset as `kafka.*` fields. Offsets are
//!   committed only up to what every sink downstream holds durably, per
//!   partition and in order (at-least-once; a crash or a rebalance replays
//!   what was in flight).
//! - [`sink`]: an idempotent producer. Records are keyed by a `{{field}}`
//!   template (one service's events stay in one partition, in order) and
//!   compressed with lz4 or zstd; a batch is acknowledged upstream only once
//!   the broker acknowledged every one of its records.
//!
//! What it is not for: exactly-once delivery (no transactions), managing
//! topics (create them with Kafka's tools), or schema registries (Avro,
//! Protobuf). Delivery retries are librdkafka's, tuned through
//! `librdkafka_options`.
//!
//! Like `sluice-io`, this crate knows nothing of pipelines or TOML: the
//! `sluice` runtime hands each `run` its config and context.

pub mod sink;
pub mod source;

use std::collections::BTreeMap;

pub use sink::{KafkaSinkConfig, SinkCompression, SinkEncoding};
pub use source::{Decoding, KafkaSourceConfig, StartFrom};

/// Why a Kafka stage stopped (or could not start).
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("{stage}: cannot create the Kafka client: {error}")]
    Client {
        stage: String,
        #[source]
        error: rdkafka::error::KafkaError,
    },
    #[error("{stage}: cannot subscribe to {topics}: {error}")]
    Subscribe {
        stage: String,
        topics: String,
        #[source]
        error: rdkafka::error::KafkaError,
    },
    #[error("{stage}: {message}")]
    Config { stage: String, message: String },
    #[error("{stage}: {events} events could not be packed: {error}")]
    Batch {
        stage: String,
        events: usize,
        #[source]
        error: sluice_event::packed::PackedError,
    },
}

/// Builds an rdkafka client config: ours first, then the user's
/// `librdkafka_options` (which win).
fn client_config(
    ours: &[(&str, String)],
    user: &BTreeMap<String, String>,
) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    for (key, value) in ours {
        config.set(*key, value);
    }
    for (key, value) in user {
        config.set(key, value);
    }
    config
}
