//! The Wasm plugin host: loading, caching, isolating and calling components.
//!
//! - [`engine`]: one wasmtime `Engine` with the pooling allocator and epoch
//!   interruption, plus the on-disk cache of compiled components.
//! - [`bindings`]: the one `bindgen!` of the WIT contract, and the host side
//!   of the `host` interface.
//! - [`transform`]: a transform stage's instance, rebuilt after a trap, behind
//!   a circuit breaker.
//! - [`builtin`]: the plugins compiled into the binary.
//! - [`source`]: where a stage's `plugin = "..."` comes from.

pub mod bindings;
mod breaker;
pub mod builtin;
pub mod engine;
pub mod source;
pub mod transform;

pub use engine::{PluginEngine, PluginError};
pub use source::PluginRef;
pub use transform::{Failure, FailureKind, TransformLimits, TransformPlugin};
