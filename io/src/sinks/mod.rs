//! Native sinks: where events leave a pipeline.
//!
//! Each sink is one file with a serde `*Config` and an async `run` that
//! consumes batches until every sender is gone, then flushes.

pub mod blackhole;
pub mod console;
pub mod file;
pub mod sluice;
pub mod store;

use crate::Batch;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What every sink is given.
pub struct SinkContext {
    /// The stage name from the TOML (`[sinks.NAME]`).
    pub name: String,
    /// Batches from the sink's inputs; ends when all of them have finished.
    pub input: mpsc::Receiver<Batch>,
    /// `events_in` counts what `recv` returned, unless a disk buffer in
    /// front of the sink counts it as it takes the events in.
    pub counters: std::sync::Arc<crate::StageCounters>,
    /// Whether `recv` counts `events_in` (`false` behind a disk buffer).
    pub count_input: bool,
    /// Turns `true` when the pipeline shuts down: a sink that is retrying
    /// a failed write gives up then (failing the batch's acknowledgements,
    /// so its sources read the events again after a restart).
    pub shutdown: watch::Receiver<bool>,
    /// The global `data_dir`, where a sink keeps its state (e.g. the
    /// `sluice` sink's dead-letter file).
    pub data_dir: PathBuf,
}

impl SinkContext {
    /// A context with fresh counters that counts its input, keeping state
    /// under `data_dir`.
    pub fn new(
        name: impl Into<String>,
        input: mpsc::Receiver<Batch>,
        shutdown: watch::Receiver<bool>,
        data_dir: PathBuf,
    ) -> SinkContext {
        SinkContext {
            name: name.into(),
            input,
            counters: Default::default(),
            count_input: true,
            shutdown,
            data_dir,
        }
    }

    /// The next batch, counted; `None` once every input has finished.
    pub async fn recv(&mut self) -> Option<Batch> {
        let batch = self.input.recv().await?;
        self.count_in(batch.len());
        Some(batch)
    }

    /// The next batch, and up to `max - 1` more that are already waiting,
    /// so one durable write (one fsync) covers them all.
    pub async fn recv_many(&mut self, max: usize) -> Vec<Batch> {
        let Some(first) = self.recv().await else {
            return Vec::new();
        };
        let mut batches = vec![first];
        while batches.len() < max {
            match self.input.try_recv() {
                Ok(batch) => {
                    self.count_in(batch.len());
                    batches.push(batch);
                }
                Err(_) => break,
            }
        }
        batches
    }

    fn count_in(&self, n: usize) {
        if self.count_input {
            crate::StageCounters::add(&self.counters.events_in, n);
        }
    }

    /// Closes the input and fails the acknowledgements of what it still
    /// holds, for a sink that cannot go on: its sources must not count those
    /// events as delivered (senders see a closed channel from now on).
    pub async fn fail_rest(&mut self) -> u64 {
        self.input.close();
        let mut failed = 0;
        while let Some(batch) = self.input.recv().await {
            batch.acks.fail();
            failed += batch.len() as u64;
        }
        crate::StageCounters::add(&self.counters.dropped, failed as usize);
        failed
    }

    /// Retries `attempt` with jittered exponential backoff (100 ms doubling
    /// to 5 s, each wait drawn between half and all of that, so many
    /// senders do not retry in step) until it succeeds, logging each
    /// failure, or until the pipeline shuts down, when the last error is
    /// returned.
    pub async fn retry<T, E: std::fmt::Display, F, Fut>(&self, mut attempt: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut backoff = Duration::from_millis(100);
        let mut shutdown = self.shutdown.clone();
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let wait = jitter(backoff);
            tracing::warn!(sink = %self.name, %error, retry_in_ms = wait.as_millis() as u64, "write failed; retrying");
            if *shutdown.borrow_and_update() {
                return Err(error);
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                Ok(()) = shutdown.changed() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// A duration drawn uniformly between half of `max` and `max`.
pub fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // A fresh `RandomState` is randomly keyed: random enough for spreading
    // retries, without a random-number crate.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = max / 2;
    half + Duration::from_nanos(random % (half.as_nanos() as u64 + 1))
}

/// A context for sink unit tests: the sender feeding it, and the context.
#[cfg(test)]
pub(crate) fn test_context(capacity: usize) -> (mpsc::Sender<Batch>, SinkContext) {
    let (tx, input) = mpsc::channel(capacity);
    let (_stop, shutdown) = watch::channel(false);
    (
        tx,
        SinkContext::new("out", input, shutdown, std::env::temp_dir()),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink {sink}: {path}: {error}")]
    Io {
        sink: String,
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("sink {sink}: {error}")]
    Store {
        sink: String,
        #[source]
        error: sluice_store::Error,
    },
    #[error("sink {sink}: {error}")]
    StoreOpen {
        sink: String,
        #[source]
        error: store::OpenError,
    },
    #[error("sink {sink}: {message}")]
    Config { sink: String, message: String },
    #[error("sink {sink}: {error}")]
    Batch {
        sink: String,
        #[source]
        error: sluice_event::packed::PackedError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spreads_waits_over_the_upper_half() {
        let max = Duration::from_millis(800);
        let waits: Vec<Duration> = (0..200).map(|_| jitter(max)).collect();
        assert!(waits.iter().all(|w| *w >= max / 2 && *w <= max));
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(
            distinct.len() > 150,
            "spread, not constant: {}",
            distinct.len()
        );
    }
}
