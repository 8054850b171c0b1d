//! A test plugin that panics when a batch holds a message `panic`, and
//! counts the batches it has seen in the host's key-value state, to prove a
//! rebuilt instance still sees it.
use sluice_sdk::{
    transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

pub struct Panicky;

impl Transform for Panicky {
    fn describe() -> PluginInfo {
        PluginInfo::transform("panic", "0.1.0")
    }
    fn configure(_: Config) -> Result<Self, ConfigError> {
        Ok(Panicky)
    }
    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        let seen = sluice_sdk::host::kv_get("batches").map_or(0, |v| v.len());
        sluice_sdk::host::kv_set("batches", &vec![0u8; seen + 1]);
        if batch.iter().any(|e| e.message == "panic") {
            panic!("asked to panic");
        }
        for mut e in batch {
            e.fields.insert("batches_seen", (seen + 1) as i64);
            out.emit(e);
        }
        Ok(())
    }
}

transform!(Panicky);
