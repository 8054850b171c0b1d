//! A test plugin that passes every event through unchanged: the boundary
//! benchmark's subject.
use sluice_sdk::{transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform};

pub struct Noop;

impl Transform for Noop {
    fn describe() -> PluginInfo {
        PluginInfo::transform("noop", "0.1.0")
    }
    fn configure(_: Config) -> Result<Self, ConfigError> {
        Ok(Noop)
    }
    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        batch.into_iter().for_each(|e| out.emit(e));
        Ok(())
    }
}

transform!(Noop);
