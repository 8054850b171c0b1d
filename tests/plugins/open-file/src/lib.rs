//! A test plugin that tries to read the file named by each event's message
//! (or, for `tcp:ADDR`, to connect there) and records what happened, to prove
//! a plugin sees no filesystem or network unless its stage grants them. Also
//! reports how much environment it sees.
use sluice_sdk::{
    transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

pub struct OpenFile;

impl Transform for OpenFile {
    fn describe() -> PluginInfo {
        PluginInfo::transform("open-file", "0.1.0")
    }
    fn configure(_: Config) -> Result<Self, ConfigError> {
        Ok(OpenFile)
    }
    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        for mut e in batch {
            if let Some(addr) = e.message.strip_prefix("tcp:") {
                match std::net::TcpStream::connect(addr) {
                    Ok(_) => e.fields.insert("connected", true),
                    Err(err) => e.fields.insert("connect_error", err.to_string()),
                }
            } else {
                match std::fs::read_to_string(&e.message) {
                    Ok(text) => e.fields.insert("content", text),
                    Err(err) => e.fields.insert("open_error", err.to_string()),
                }
            }
            e.fields.insert("env_vars", std::env::vars().count() as i64);
            out.emit(e);
        }
        Ok(())
    }
}

transform!(OpenFile);
