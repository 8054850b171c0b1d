//! Sluice's native sources and sinks: the hot paths that are not plugins.
//!
//! Sources (`stdin`, `file`, `http`, `demo`) turn input into batches of
//! [`Event`]s and send them into a bounded channel; sinks (`console`, `file`,
//! `blackhole`) take batches out of one. Each component is one file with a
//! serde `*Config` struct that denies unknown keys and an async `run`.
//!
//! This crate knows nothing about pipelines, TOML files or plugins; the
//! `sluice` runtime wires these together.

pub mod sinks;
pub mod sources;

pub use sluice_event::Event;

/// The unit that travels between stages: events in the columnar form that
/// also crosses the Wasm boundary, so a batch is never converted on the way.
pub type Batch = sluice_event::packed::PackedBatch;

/// Events as a source collects them before sending.
pub type Events = Vec<Event>;
