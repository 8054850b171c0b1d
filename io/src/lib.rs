//! Sluice's native sources and sinks: the hot paths that are not plugins.
//!
//! Sources (`stdin`, `file`, `http`, `syslog`, `demo`, `sluice`) turn input
//! into batches of [`Event`]s and send them into a bounded channel; sinks
//! (`console`, `file`, `blackhole`, `store`, `sluice`) take batches out of
//! one. Each component is one file with a serde `*Config` struct that denies
//! unknown keys and an async `run`. [`forward`] is the edge → central
//! protocol the `sluice` source and sink speak.
//!
//! This crate knows nothing about pipelines, TOML files or plugins; the
//! `sluice` runtime wires these together.

pub mod ack;
pub mod buffer;
pub mod forward;
pub mod sinks;
pub mod sources;

pub use ack::{AckTracker, Acks, Delivery};
use sluice_event::packed::PackedBatch;
pub use sluice_event::Event;

/// The unit that travels between stages: events in the columnar form that
/// also crosses the Wasm boundary (so they are never converted on the way),
/// and the acknowledgements of the sources they came from.
///
/// It dereferences to the [`PackedBatch`]. Whoever ends a batch's journey
/// (a sink once the events are durable, a stage that drops them) drops it,
/// which acknowledges it; see [`ack`].
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub events: PackedBatch,
    pub acks: Acks,
}

impl Batch {
    pub fn new(events: PackedBatch, acks: Acks) -> Batch {
        Batch { events, acks }
    }
}

impl From<PackedBatch> for Batch {
    fn from(events: PackedBatch) -> Batch {
        Batch {
            events,
            acks: Acks::none(),
        }
    }
}

impl std::ops::Deref for Batch {
    type Target = PackedBatch;
    fn deref(&self) -> &PackedBatch {
        &self.events
    }
}

impl std::ops::DerefMut for Batch {
    fn deref_mut(&mut self) -> &mut PackedBatch {
        &mut self.events
    }
}

/// Events as a source collects them before sending.
pub type Events = Vec<Event>;

use std::sync::atomic::{AtomicU64, Ordering};

/// What every stage counts, read by the `/metrics` endpoint.
#[derive(Debug, Default)]
pub struct StageCounters {
    /// Events the stage received.
    pub events_in: AtomicU64,
    /// Events the stage sent on (every output).
    pub events_out: AtomicU64,
    /// Events that failed in the stage (they still leave it, through `errors`).
    pub errors: AtomicU64,
    /// Events the stage could not deliver anywhere, or dropped by policy
    /// (a full buffer's `when_full`).
    pub dropped: AtomicU64,
    /// Bytes held in the stage's disk buffer.
    pub buffer_bytes: AtomicU64,
}

impl StageCounters {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
