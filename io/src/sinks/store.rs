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
use sluice_store::{Store, StoreOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSinkConfig {
    /// The index: 1–64 characters of `a-z 0-9 _ - .`.
    pub index: String,
}

/// The most batches one append covers.
pub const GROUP: usize = 32;

/// Where a pipeline with this `data_dir` keeps its store.
pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// The store open in `dir`, shared by every sink and API of the process
/// using it.
pub fn open_shared(dir: &Path) -> Result<Arc<Store>, sluice_store::Error> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Store>>>> = OnceLock::new();
    let mut open = OPEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(store) = open.get(dir).and_then(Weak::upgrade) {
        return Ok(store);
    }
    let store = Arc::new(Store::open(dir, StoreOptions::default())?);
    open.insert(dir.to_owned(), Arc::downgrade(&store));
    Ok(store)
}

pub async fn run(
    config: StoreSinkConfig,
    data_dir: PathBuf,
    mut ctx: SinkContext,
) -> Result<(), SinkError> {
    let fail = |error| SinkError::Store {
        sink: ctx.name.clone(),
        error,
    };
    sluice_store::validate_index_name(&config.index).map_err(fail)?;
    let store = tokio::task::spawn_blocking(move || open_shared(&store_dir(&data_dir)))
        .await
        .map_err(|e| {
            fail(sluice_store::Error::Io {
                path: PathBuf::new(),
                op: "open store",
                source: std::io::Error::other(e),
            })
        })?
        .map_err(fail)?;
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
            ctx,
        ));
        let mut tracker = AckTracker::new();
        let events = [Event::new("disk full on edge-7"), Event::new("all good")];
        let packed = PackedBatch::from_events(&events).unwrap();
        tx.send(Batch::new(packed, tracker.issue().1))
            .await
            .unwrap();
        assert_eq!(tracker.wait().await, 1);
        let store = open_shared(&store_dir(dir.path())).unwrap();
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
        let error = run(config, dir.path().to_owned(), ctx).await.unwrap_err();
        assert!(error.to_string().contains("Bad/Name"), "{error}");
    }
}
