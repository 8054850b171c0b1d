//! The `kafka` source's configuration: what the TOML says, checked.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[sources.NAME]` with `type = "kafka"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSourceConfig")]
pub struct KafkaSourceConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// The topics to read, or one regex subscription (`^...`).
    pub subscription: Vec<String>,
    pub group_id: String,
    pub start_from: StartFrom,
    pub commit_interval: Duration,
    pub decoding: Decoding,
    /// Passed to librdkafka as they are, after (so over) Sluice's settings.
    pub librdkafka_options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSourceConfig {
    bootstrap_servers: String,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    topic_regex: Option<String>,
    group_id: String,
    #[serde(default)]
    start_from: StartFrom,
    #[serde(default = "default_commit_interval_ms")]
    commit_interval_ms: u64,
    #[serde(default)]
    decoding: Decoding,
    #[serde(default)]
    librdkafka_options: BTreeMap<String, String>,
}

fn default_commit_interval_ms() -> u64 {
    1000
}

impl TryFrom<RawSourceConfig> for KafkaSourceConfig {
    type Error = String;
    fn try_from(raw: RawSourceConfig) -> Result<Self, String> {
        let subscription = match (raw.topics.is_empty(), raw.topic_regex) {
            (false, None) => raw.topics,
            (true, Some(regex)) => {
                // librdkafka reads a topic starting with `^` as a regex.
                let regex = match regex.starts_with('^') {
                    true => regex,
                    false => format!("^{regex}"),
                };
                vec![regex]
            }
            (true, None) => return Err("set `topics` (a list) or `topic_regex`".into()),
            (false, Some(_)) => return Err("set `topics` or `topic_regex`, not both".into()),
        };
        if raw.commit_interval_ms == 0 {
            return Err("`commit_interval_ms` must be at least 1".into());
        }
        Ok(KafkaSourceConfig {
            bootstrap_servers: raw.bootstrap_servers,
            subscription,
            group_id: raw.group_id,
            start_from: raw.start_from,
            commit_interval: Duration::from_millis(raw.commit_interval_ms),
            decoding: raw.decoding,
            librdkafka_options: raw.librdkafka_options,
        })
    }
}

/// Where a group with no committed offset starts (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartFrom {
    #[default]
    Earliest,
    Latest,
}

/// How a message's payload becomes an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoding {
    /// A JSON object (what the `kafka` sink writes with `encoding =
    /// "json"`); anything else is kept as the message, with an error.
    #[default]
    Json,
    /// The payload is the message.
    Raw,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<KafkaSourceConfig, String> {
        let value: serde_json::Value = serde_json::from_str(toml_text).unwrap();
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn topics_or_a_regex() {
        let config =
            parse(r#"{"bootstrap_servers":"b:9092","group_id":"g","topics":["a","b"]}"#).unwrap();
        assert_eq!(config.subscription, ["a", "b"]);
        assert_eq!(config.commit_interval, Duration::from_secs(1));
        assert_eq!(config.start_from, StartFrom::Earliest);
        let config =
            parse(r#"{"bootstrap_servers":"b","group_id":"g","topic_regex":"logs-.*"}"#).unwrap();
        assert_eq!(config.subscription, ["^logs-.*"]);
        let neither = parse(r#"{"bootstrap_servers":"b","group_id":"g"}"#).unwrap_err();
        assert!(neither.contains("set `topics`"), "{neither}");
        let both =
            parse(r#"{"bootstrap_servers":"b","group_id":"g","topics":["a"],"topic_regex":"x"}"#)
                .unwrap_err();
        assert!(both.contains("not both"), "{both}");
        let unknown =
            parse(r#"{"bootstrap_servers":"b","group_id":"g","topics":["a"],"topic":"x"}"#)
                .unwrap_err();
        assert!(unknown.contains("unknown field `topic`"), "{unknown}");
    }
}
