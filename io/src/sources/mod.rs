//! Native sources: where events enter a pipeline.
//!
//! Each source is one file with a serde `*Config` (what the TOML says) and an
//! async `run` that reads until its input ends or the pipeline shuts down,
//! sending batches downstream. Sends wait when the channel is full, so
//! backpressure reaches the source.

pub mod demo;
pub mod file;
pub mod http;
pub mod sluice;
pub mod stdin;
pub mod syslog;

use crate::{Acks, Batch, Events};
use sluice_event::packed::PackedBatch;
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
    /// `events_out` counts what `send` delivered.
    pub counters: std::sync::Arc<crate::StageCounters>,
    /// When `false`, [`SourceContext::send_acked`] sends no
    /// acknowledgements and they settle as delivered at once.
    pub acknowledgements: bool,
}

impl SourceContext {
    /// Packs and sends events; returns `false` when downstream has gone away.
    pub async fn send(&self, events: Events) -> bool {
        self.send_acked(events, Acks::none()).await
    }

    /// [`SourceContext::send`], with acknowledgements that settle once
    /// every sink holds the events durably (or they were dropped on
    /// purpose). Unsent events are not acknowledged as delivered.
    pub async fn send_acked(&self, events: Events, acks: Acks) -> bool {
        if events.is_empty() {
            return true;
        }
        for packed in pack(&events) {
            if !self.send_packed(packed, acks.clone()).await {
                return false;
            }
        }
        true
    }

    /// Sends one packed batch with acknowledgements (see
    /// [`SourceContext::send_acked`]); `false` when downstream has gone
    /// away, and then the acknowledgements are failed.
    pub async fn send_packed(&self, packed: PackedBatch, acks: Acks) -> bool {
        if packed.is_empty() {
            return true;
        }
        let acks = if self.acknowledgements {
            acks
        } else {
            Acks::none()
        };
        let n = packed.len();
        if let Err(unsent) = self.out.send(Batch::new(packed, acks)).await {
            unsent.0.acks.fail();
            return false;
        }
        crate::StageCounters::add(&self.counters.events_out, n);
        true
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

/// Packs events into batches, splitting when one batch's text would pass
/// the 4 GiB a batch can address.
fn pack(events: &[sluice_event::Event]) -> Vec<PackedBatch> {
    match PackedBatch::from_events(events) {
        Ok(batch) => vec![batch],
        Err(_) if events.len() > 1 => {
            let (a, b) = events.split_at(events.len() / 2);
            let mut batches = pack(a);
            batches.extend(pack(b));
            batches
        }
        Err(error) => {
            // One event over 4 GiB cannot come from a source: lines are cut
            // at MAX_LINE_BYTES. Say so rather than lose it quietly.
            tracing::error!("dropping an event that cannot be packed: {error}");
            Vec::new()
        }
    }
}

/// Channels whose receiving end decodes batches back into events, for tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Batch, Events};
    use tokio::sync::mpsc;

    pub struct EventReceiver(mpsc::Receiver<Batch>);

    impl EventReceiver {
        /// The next batch as it came, acknowledgements and all.
        pub async fn recv_batch(&mut self) -> Option<Batch> {
            self.0.recv().await
        }

        pub async fn recv(&mut self) -> Option<Events> {
            Some(
                self.0
                    .recv()
                    .await?
                    .decode()
                    .expect("sources pack valid batches"),
            )
        }
        pub fn try_recv(&mut self) -> Result<Events, mpsc::error::TryRecvError> {
            Ok(self
                .0
                .try_recv()?
                .decode()
                .expect("sources pack valid batches"))
        }
    }

    pub fn channel(capacity: usize) -> (mpsc::Sender<Batch>, EventReceiver) {
        let (tx, rx) = mpsc::channel(capacity);
        (tx, EventReceiver(rx))
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
    Other {
        source_name: String,
        message: String,
    },
}
