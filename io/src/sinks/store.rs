//! `store`: appends events to an index of the segment store in the
//! pipeline's `data_dir` (`<data_dir>/store/<index>/`), where the
//! pipeline's `[api]` and `sluice serve --data-dir <data_dir>/store` search
//! them.
//!
//! Each group of waiting batches is one `append`, which returns once the
//! index's WAL holds it (fsynced): only then are the batches acknowledged.
//! A failed append is retried with backoff. Sinks of one process that name
//! the same `data_dir` share one open [`Store`].

use super::{SinkContext, SinkError};
use serde::Deserialize;
use serde::{de, Deserializer};
use sluice_store::{ColdStorage, Retention, Store, StoreOptions};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSinkConfig {
    /// The index: 1–64 characters of `a-z 0-9 _ - .`.
    pub index: String,
}

/// The most batches one append covers.
pub const GROUP: usize = 32;

/// `[store]` at the top of a pipeline (and in `sluice serve --config`):
/// retention per index and where cold segments go.
///
/// ```toml
/// [store]
/// retention = { warm_after = "1d", cold_after = "7d", delete_after = "30d" }
/// cold = { url = "s3://logs-archive/sluice", endpoint = "http://127.0.0.1:9000" }
/// cache_size = "2GiB"
/// retention_interval = "60s"
/// [store.indexes.audit]
/// retention = { delete_after = "365d" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Of every index without its own.
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub indexes: BTreeMap<String, IndexConfig>,
    pub cold: Option<ColdConfig>,
    /// The on-disk cache of cold segments, per index.
    #[serde(default, deserialize_with = "optional_byte_size")]
    pub cache_size: Option<u64>,
    /// How often segments are checked against their retention (60s).
    #[serde(default, deserialize_with = "optional_duration")]
    pub retention_interval: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// Ages of a segment's newest event: `"90s"`, `"15m"`, `"12h"`, `"7d"`, `"2w"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    #[serde(default, deserialize_with = "optional_duration")]
    pub warm_after: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub cold_after: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub delete_after: Option<Duration>,
}

/// The object store of cold segments: `url` is a directory (`file:///x`
/// or a path) or `s3://bucket/prefix`; the S3 settings default to the
/// standard `AWS_*` environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColdConfig {
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl RetentionConfig {
    fn retention(&self) -> Retention {
        Retention {
            warm_after: self.warm_after,
            cold_after: self.cold_after,
            delete_after: self.delete_after,
        }
    }
}

impl StoreConfig {
    /// The store's options under this config.
    pub fn options(&self) -> StoreOptions {
        let mut options = StoreOptions {
            retention: self.retention.retention(),
            retention_overrides: self
                .indexes
                .iter()
                .map(|(name, index)| (name.clone(), index.retention.retention()))
                .collect(),
            cold: self.cold.as_ref().map(|c| ColdStorage {
                url: c.url.clone(),
                endpoint: c.endpoint.clone(),
                region: c.region.clone(),
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.clone(),
            }),
            ..StoreOptions::default()
        };
        if let Some(bytes) = self.cache_size {
            options.cache_bytes = bytes;
        }
        if let Some(interval) = self.retention_interval {
            options.retention_interval = interval;
        }
        options
    }
}

/// `"90s"`, `"15m"`, `"12h"`, `"7d"`, `"2w"` (or a number of seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = crate::buffer::number_and_unit(text)?;
    let seconds: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    number.checked_mul(seconds).map(Duration::from_secs)
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map(Some).ok_or_else(|| {
        de::Error::custom(format!(
            "invalid duration {text:?}; expected e.g. \"90s\", \"15m\", \"12h\", \"7d\" or \"2w\""
        ))
    })
}

fn optional_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    crate::buffer::parse_byte_size(&text)
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("invalid size {text:?}; expected e.g. \"2GiB\"")))
}

/// Where a pipeline with this `data_dir` keeps its store.
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Why the shared store could not be had.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] sluice_store::Error),
    #[error("the store in {} is already open in this process with another [store] configuration; give every pipeline using it the same one", .0.display())]
    Conflict(PathBuf),
}

/// The store open in `dir`, shared by every sink and API of the process
/// using it. They must agree on its `config`.
pub fn open_shared(dir: &Path, config: &StoreConfig) -> Result<Arc<Store>, OpenError> {
    type Open = HashMap<PathBuf, (Weak<Store>, StoreConfig)>;
    static OPEN: OnceLock<Mutex<Open>> = OnceLock::new();
    let mut open = OPEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((store, opened_with)) = open.get(dir) {
        if let Some(store) = store.upgrade() {
            if opened_with != config {
                return Err(OpenError::Conflict(dir.to_owned()));
            }
            return Ok(store);
        }
    }
    let store = Arc::new(Store::open(dir, config.options())?);
    open.insert(dir.to_owned(), (Arc::downgrade(&store), config.clone()));
    Ok(store)
}

pub async fn run(
    config: StoreSinkConfig,
    data_dir: PathBuf,
    store_config: StoreConfig,
    mut ctx: SinkContext,
) -> Result<(), SinkError> {
    let fail = |error| SinkError::Store {
        sink: ctx.name.clone(),
        error,
    };
    sluice_store::validate_index_name(&config.index).map_err(fail)?;
    let opened =
        tokio::task::spawn_blocking(move || open_shared(&store_dir(&data_dir), &store_config))
            .await
            .unwrap_or_else(|e| {
                Err(OpenError::Store(sluice_store::Error::Io {
                    path: PathBuf::new(),
                    op: "open store",
                    source: std::io::Error::other(e),
                }))
            });
    let store = opened.map_err(|error| SinkError::StoreOpen {
        sink: ctx.name.clone(),
        error,
    })?;
    let index: Arc<str> = Arc::from(config.index.as_str());
    loop {
        let batches = ctx.recv_many(GROUP).await;
        if batches.is_empty() {
            break;
        }
        let mut events = Vec::new();
        for batch in &batches {
            match batch.decode() {
                Ok(decoded) => events.extend(decoded),
                Err(error) => {
                    batches.iter().for_each(|b| b.acks.fail());
                    ctx.fail_rest().await;
                    return Err(SinkError::Batch {
                        sink: ctx.name.clone(),
                        error,
                    });
                }
            }
        }
        let events = Arc::new(events);
        let appended = ctx
            .retry(|| {
                let (store, index, events) = (store.clone(), index.clone(), events.clone());
                async move {
                    tokio::task::spawn_blocking(move || store.append(&index, &events))
                        .await
                        .unwrap_or_else(|e| {
                            Err(sluice_store::Error::Io {
                                path: PathBuf::new(),
                                op: "append",
                                source: std::io::Error::other(e),
                            })
                        })
                }
            })
            .await;
        if let Err(error) = appended {
            batches.iter().for_each(|b| b.acks.fail());
            ctx.fail_rest().await;
            return Err(SinkError::Store {
                sink: ctx.name.clone(),
                error,
            });
        }
        crate::StageCounters::add(&ctx.counters.events_out, events.len());
        // In the WAL: dropping the batches acknowledges them.
        drop(batches);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::test_context;
    use crate::{AckTracker, Batch};
    use sluice_event::packed::PackedBatch;
    use sluice_event::Event;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_are_searchable_once_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, ctx) = test_context(2);
        let task = tokio::spawn(run(
            StoreSinkConfig {
                index: "app".into(),
            },
            dir.path().to_owned(),
            StoreConfig::default(),
            ctx,
        ));
        let mut tracker = AckTracker::new();
        let events = [Event::new("disk full on edge-7"), Event::new("all good")];
        let packed = PackedBatch::from_events(&events).unwrap();
        tx.send(Batch::new(packed, tracker.issue().1))
            .await
            .unwrap();
        assert_eq!(tracker.wait().await, 1);
        let store = open_shared(&store_dir(dir.path()), &StoreConfig::default()).unwrap();
        let query = sluice_query::parse("\"disk full\"").unwrap();
        let found = store
            .search("app", &sluice_store::SearchRequest::new(query))
            .unwrap();
        assert_eq!(found.total, 1, "searchable when acknowledged");
        drop(tx);
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_bad_index_name_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_tx, ctx) = test_context(1);
        let config = StoreSinkConfig {
            index: "Bad/Name".into(),
        };
        let error = run(config, dir.path().to_owned(), StoreConfig::default(), ctx)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("Bad/Name"), "{error}");
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn durations_and_the_store_table_parse() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("2w"), Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        for bad in ["", "d", "1y", "1.5h", "-1d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let config: StoreConfig = toml::from_str(
            r#"
            retention = { warm_after = "1d", cold_after = "7d" }
            cold = { url = "s3://archive/sluice", endpoint = "http://127.0.0.1:9000" }
            cache_size = "2GiB"
            [indexes.audit]
            retention = { delete_after = "365d" }
            "#,
        )
        .unwrap();
        let options = config.options();
        assert_eq!(
            options.retention.cold_after,
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            options.retention_for("audit").delete_after,
            Some(Duration::from_secs(365 * 86_400))
        );
        assert_eq!(options.retention_for("audit").warm_after, None);
        assert_eq!(options.cold.unwrap().url, "s3://archive/sluice");
        assert_eq!(options.cache_bytes, 2 << 30);
        let error = toml::from_str::<StoreConfig>("retention = { warm_after = \"1 day\" }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid duration \"1 day\""), "{error}");
    }

    #[test]
    fn two_configs_for_one_store_are_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = StoreConfig::default();
        let store = open_shared(dir.path(), &a).unwrap();
        assert!(Arc::ptr_eq(&store, &open_shared(dir.path(), &a).unwrap()));
        let mut b = a.clone();
        b.retention.delete_after = Some(Duration::from_secs(60));
        let Err(error) = open_shared(dir.path(), &b) else {
            panic!("a second configuration for an open store is refused");
        };
        let error = error.to_string();
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
    }
}
