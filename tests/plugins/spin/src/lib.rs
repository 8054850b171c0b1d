//! A test plugin that loops forever when a batch holds a message `spin`, to
//! prove the CPU deadline; other batches pass through.
use sluice_sdk::{
    transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

pub struct Spin;

impl Transform for Spin {
    fn describe() -> PluginInfo {
        PluginInfo::transform("spin", "0.1.0")
    }
    fn configure(_: Config) -> Result<Self, ConfigError> {
        Ok(Spin)
    }
    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        if batch.iter().any(|e| e.message == "spin") {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        batch.into_iter().for_each(|e| out.emit(e));
        Ok(())
    }
}

transform!(Spin);
