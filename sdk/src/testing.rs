//! Running plugin logic natively, the way the host would call it.
//!
//! ```ignore
//! let mut t = sluice_sdk::testing::configure::<MyParser>(serde_json::json!({"field": "x"})).unwrap();
//! let out = sluice_sdk::testing::process(&mut t, vec![Event::new("a=1")]).unwrap();
//! ```

use crate::{Config, ConfigError, Emitted, Event, Output, PluginError, Transform};
use sluice_event::packed::PackedBatch;

/// A JSON value, for building configs in tests without another dependency.
pub use serde_json::Value as Json;

/// Configures `T` from a JSON object exactly as the host does, including the
/// check of the keys against `describe()`.
pub fn configure<T: Transform>(config: Json) -> Result<T, ConfigError> {
    let config = Config::parse(&config.to_string(), &T::describe())?;
    T::configure(config)
}

/// Runs one batch through `plugin` the way the host does: packed into
/// columns, read through [`Transform::process_batch`].
pub fn process<T: Transform>(
    plugin: &mut T,
    batch: Vec<Event>,
) -> Result<Vec<Emitted>, PluginError> {
    let packed = PackedBatch::from_events(&batch).map_err(|e| PluginError(e.to_string()))?;
    Ok(process_packed(plugin, &packed)?.into_vec())
}

/// Runs one packed batch through `plugin` exactly as the component does
/// between receiving the batch and encoding the answer (the batch checked,
/// the [`Output`] made for it, [`Transform::process_batch`]), and returns
/// the answer unencoded. For benchmarks of the plugin compiled natively.
pub fn process_packed<T: Transform>(
    plugin: &mut T,
    packed: &PackedBatch,
) -> Result<Output, PluginError> {
    crate::run_batch(plugin, packed)
}

/// Runs `lines` as events with those messages through `plugin`.
pub fn process_lines<T: Transform>(
    plugin: &mut T,
    lines: &[&str],
) -> Result<Vec<Emitted>, PluginError> {
    process(plugin, lines.iter().map(|l| Event::new(*l)).collect())
}

/// Calls `flush` on `plugin`.
pub fn flush<T: Transform>(plugin: &mut T) -> Vec<Emitted> {
    let mut out = Output::default();
    plugin.flush(&mut out);
    out.into_vec()
}

/// The value of a counter the plugin bumped through [`crate::host::counter_add`].
pub fn counter(name: &str) -> u64 {
    crate::host::COUNTERS.with(|c| c.borrow().get(name).copied().unwrap_or(0))
}

/// The last value of a gauge.
pub fn gauge(name: &str) -> Option<f64> {
    crate::host::GAUGES.with(|g| g.borrow().get(name).copied())
}

/// The plugin's key-value state.
pub fn kv(key: &str) -> Option<Vec<u8>> {
    crate::host::KV.with(|kv| kv.borrow().get(key).cloned())
}
