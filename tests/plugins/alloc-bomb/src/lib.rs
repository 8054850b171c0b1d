//! A test plugin that allocates without bound when a batch holds a message
//! `bomb`, to prove the memory limit; other batches pass through.
use sluice_sdk::{
    transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

pub struct Bomb;

impl Transform for Bomb {
    fn describe() -> PluginInfo {
        PluginInfo::transform("alloc-bomb", "0.1.0")
    }
    fn configure(_: Config) -> Result<Self, ConfigError> {
        Ok(Bomb)
    }
    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        if batch.iter().any(|e| e.message == "bomb") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        batch.into_iter().for_each(|e| out.emit(e));
        Ok(())
    }
}

transform!(Bomb);
