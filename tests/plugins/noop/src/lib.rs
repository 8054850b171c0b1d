//! A test plugin that passes every event through unchanged: the boundary
//! benchmark's subject. It uses the zero-copy path, so the benchmark
//! measures crossing the boundary, not building owned events.
use sluice_sdk::{
    transform, Batch, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

pub enum Noop {
    InPlace,
    Owned,
}

impl Transform for Noop {
    fn describe() -> PluginInfo {
        PluginInfo::transform("noop", "0.1.0").key(
            "owned",
            "boolean",
            "decode into owned events first",
        )
    }
    fn configure(config: Config) -> Result<Self, ConfigError> {
        Ok(if config.bool("owned")?.unwrap_or(false) {
            Noop::Owned
        } else {
            Noop::InPlace
        })
    }
    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        batch.into_iter().for_each(|e| out.emit(e));
        Ok(())
    }
    fn process_batch(&mut self, batch: Batch<'_>, out: &mut Output) -> Result<(), PluginError> {
        match self {
            Noop::InPlace => batch.rows().for_each(|row| out.emit_row(&row)),
            Noop::Owned => self.process(batch.to_events(), out)?,
        }
        Ok(())
    }
}

transform!(Noop);
