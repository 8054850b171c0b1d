//! The host side of `sluice:plugin@0.1.0`: the only `bindgen!` in Sluice, the
//! per-instance store state, and the `host` interface implementation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "transform",
});

pub use self::sluice::plugin::types;
pub use exports::sluice::plugin::plugin as plugin_exports;

/// Counters and gauges a stage's plugin reports through the `host` interface.
#[derive(Debug, Default)]
pub struct PluginMetrics {
    pub counters: Mutex<HashMap<String, u64>>,
    pub gauges: Mutex<HashMap<String, f64>>,
}

/// A stage's key-value state. It outlives instances, so a rebuilt instance
/// sees what the trapped one stored.
pub type KvState = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// What each `Store` holds.
pub struct StageState {
    pub stage: Arc<str>,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub kv: KvState,
    pub metrics: Arc<PluginMetrics>,
}

/// Enforces a stage's memory limit and remembers that it did, so the failure
/// is reported as such rather than as a generic trap.
pub struct MemoryLimiter {
    pub limit: usize,
    pub exceeded: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = Some(desired);
            wasmtime::bail!(
                "memory limit of {} bytes exceeded (tried to grow to {desired})",
                self.limit
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

impl WasiView for StageState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl self::sluice::plugin::types::Host for StageState {}

impl self::sluice::plugin::host::Host for StageState {
    fn log(&mut self, level: sluice::plugin::host::LogLevel, message: String) {
        use self::sluice::plugin::host::LogLevel;
        let stage = &*self.stage;
        match level {
            LogLevel::Trace => tracing::trace!(stage, "{message}"),
            LogLevel::Debug => tracing::debug!(stage, "{message}"),
            LogLevel::Info => tracing::info!(stage, "{message}"),
            LogLevel::Warn => tracing::warn!(stage, "{message}"),
            LogLevel::Error => tracing::error!(stage, "{message}"),
        }
    }

    fn counter_add(&mut self, name: String, delta: u64) {
        let mut counters = self
            .metrics
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *counters.entry(name).or_default() += delta;
    }

    fn gauge_set(&mut self, name: String, value: f64) {
        let mut gauges = self
            .metrics
            .gauges
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        gauges.insert(name, value);
    }

    fn now(&mut self) -> i64 {
        sluice_event::now_ns()
    }

    fn kv_get(&mut self, key: String) -> Option<Vec<u8>> {
        self.kv
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) {
        self.kv
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value);
    }

    fn kv_delete(&mut self, key: String) {
        self.kv
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}
