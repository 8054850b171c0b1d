//! Native sources: where events enter a pipeline.
//!
//! Each source is one file with a serde `*Config` (what the TOML says) and an
//! async `run` that reads until its input ends or the pipeline shuts down,
//! sending batches downstream. Sends wait when the channel is full, so
//! backpressure reaches the source.

pub mod demo;
pub mod file;
pub mod http;
pub mod stdin;

use crate::Batch;
use std::path::PathBuf;
use tokio::sync::{mpsc, watch};

/// The most events a source puts in one batch.
pub const MAX_BATCH: usize = 1024;

/// What every source is given.
pub struct SourceContext {
    /// The stage name from the TOML (`[sources.NAME]`).
    pub name: String,
    /// Where batches go; bounded.
    pub out: mpsc::Sender<Batch>,
    /// Turns `true` when the pipeline shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// The global `data_dir`, where checkpoints live.
    pub data_dir: PathBuf,
}

impl SourceContext {
    /// Sends a batch; returns `false` when downstream has gone away.
    pub async fn send(&self, batch: Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        self.out.send(batch).await.is_ok()
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves when the pipeline shuts down.
    pub async fn shutdown_signal(&self) {
        let mut rx = self.shutdown.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {source_name}: {path}: {error}")]
    Io {
        source_name: String,
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("source {source_name}: {message}")]
    Other { source_name: String, message: String },
}
