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

/// The unit that travels between stages.
pub type Batch = Vec<Event>;
