//! Native sinks: where events leave a pipeline.
//!
//! Each sink is one file with a serde `*Config` and an async `run` that
//! consumes batches until every sender is gone, then flushes.

pub mod blackhole;
pub mod console;
pub mod file;

use crate::Batch;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// What every sink is given.
pub struct SinkContext {
    /// The stage name from the TOML (`[sinks.NAME]`).
    pub name: String,
    /// Batches from the sink's inputs; ends when all of them have finished.
    pub input: mpsc::Receiver<Batch>,
    /// `events_in` counts what `recv` returned.
    pub counters: std::sync::Arc<crate::StageCounters>,
}

impl SinkContext {
    /// The next batch, counted; `None` once every input has finished.
    pub async fn recv(&mut self) -> Option<Batch> {
        let batch = self.input.recv().await?;
        crate::StageCounters::add(&self.counters.events_in, batch.len());
        Some(batch)
    }
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
    Batch {
        sink: String,
        #[source]
        error: sluice_event::packed::PackedError,
    },
}
