//! The host imports every plugin may call: log, metrics, clock and a small
//! per-stage key-value state.
//!
//! Inside a component these call the host. In a native build (`cargo test`)
//! they fall back to stand-ins: the log goes to stderr, metrics and state to
//! thread-local maps that [`crate::testing`] can read.

pub use sluice_event::Level;

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::transform::sluice::plugin::host as wit;
    use sluice_event::Level;

    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => wit::LogLevel::Trace,
            Level::Debug => wit::LogLevel::Debug,
            Level::Info => wit::LogLevel::Info,
            Level::Warn => wit::LogLevel::Warn,
            Level::Error | Level::Fatal => wit::LogLevel::Error,
        };
        wit::log(level, message)
    }
    pub fn counter_add(name: &str, delta: u64) {
        wit::counter_add(name, delta)
    }
    pub fn gauge_set(name: &str, value: f64) {
        wit::gauge_set(name, value)
    }
    pub fn now() -> i64 {
        wit::now()
    }
    pub fn kv_get(key: &str) -> Option<Vec<u8>> {
        wit::kv_get(key)
    }
    pub fn kv_set(key: &str, value: &[u8]) {
        wit::kv_set(key, value)
    }
    pub fn kv_delete(key: &str) {
        wit::kv_delete(key)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use sluice_event::Level;
    use std::cell::RefCell;
    use std::collections::HashMap;

    thread_local! {
        pub(crate) static COUNTERS: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
        pub(crate) static GAUGES: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
        pub(crate) static KV: RefCell<HashMap<String, Vec<u8>>> = RefCell::new(HashMap::new());
    }

    pub fn log(level: Level, message: &str) {
        eprintln!("[plugin {level}] {message}");
    }
    pub fn counter_add(name: &str, delta: u64) {
        COUNTERS.with(|c| *c.borrow_mut().entry(name.to_owned()).or_default() += delta);
    }
    pub fn gauge_set(name: &str, value: f64) {
        GAUGES.with(|g| g.borrow_mut().insert(name.to_owned(), value));
    }
    pub fn now() -> i64 {
        sluice_event::now_ns()
    }
    pub fn kv_get(key: &str) -> Option<Vec<u8>> {
        KV.with(|kv| kv.borrow().get(key).cloned())
    }
    pub fn kv_set(key: &str, value: &[u8]) {
        KV.with(|kv| kv.borrow_mut().insert(key.to_owned(), value.to_vec()));
    }
    pub fn kv_delete(key: &str) {
        KV.with(|kv| kv.borrow_mut().remove(key));
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use imp::{COUNTERS, GAUGES, KV};

/// Writes to the host's log, tagged with the stage name.
pub fn log(level: Level, message: &str) {
    imp::log(level, message)
}
/// Adds to a named counter of this stage.
pub fn counter_add(name: &str, delta: u64) {
    imp::counter_add(name, delta)
}
/// Sets a named gauge of this stage.
pub fn gauge_set(name: &str, value: f64) {
    imp::gauge_set(name, value)
}
/// The host's clock, ns since the epoch.
pub fn now() -> i64 {
    imp::now()
}
/// Reads this stage's key-value state.
pub fn kv_get(key: &str) -> Option<Vec<u8>> {
    imp::kv_get(key)
}
/// Writes this stage's key-value state; it survives instance rebuilds.
pub fn kv_set(key: &str, value: &[u8]) {
    imp::kv_set(key, value)
}
/// Deletes a key of this stage's state.
pub fn kv_delete(key: &str) {
    imp::kv_delete(key)
}
