//! The `sluice` runtime: pipeline files, the Wasm plugin host, and the
//! topology that wires native sources and sinks to plugin stages.
//!
//! Layout:
//! - [`config`]: TOML pipeline files → validated [`config::Pipeline`], with
//!   errors that name the file, line and key;
//! - [`plugin`]: wasmtime engine, compiled-code cache, isolated instances,
//!   circuit breaker, built-in plugins;
//! - [`topology`]: builds a pipeline (compiling and configuring its
//!   plugins) and runs it on tokio with bounded channels.
//!
//! The native sources and sinks live in `sluice-io`; the event model in
//! `sluice-event`. This crate is not a plugin SDK (that is `sluice-sdk`).

pub mod admin;
pub mod client;
pub mod config;
pub mod metrics;
pub mod pipeline_test;
pub mod plugin;
pub mod reload;
pub mod topology;

pub use sluice_event::Event;
