//! Integration tests of the `sluice` runtime, in one binary.
//!
//! - `isolation`: misbehaving plugins built from `tests/plugins/` (an infinite
//!   loop, an allocation bomb, a panic, an attempt to open a file) never stop
//!   the pipeline;
//! - `pipelines`: TOML pipelines run end to end through the `sluice` binary;
//! - `serve`: the store's HTTP API, with real clients of the protocols it speaks;
//! - `edge`: the shipped edge agent forwarding to the shipped central pipeline;
//! - `kafka`: two `sluice run` processes in one consumer group, one killed.

mod delivery;
mod edge;
mod guests;
mod isolation;
mod kafka;
mod loghub;
mod pipelines;
mod reload;
mod serve;

use sluice::plugin::transform::{Grants, TransformLimits, TransformPlugin};
use sluice::plugin::PluginEngine;
pub use sluice_test_support::{ensure_tool, free_port};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The compiled test plugin `name` (a crate under `tests/plugins/`).
pub fn test_plugin(name: &str) -> PathBuf {
    PathBuf::from(env!("SLUICE_TEST_PLUGIN_DIR"))
        .join(format!("test_plugin_{}.wasm", name.replace('-', "_")))
}

/// One engine for the whole test binary, with its own compile cache.
pub fn engine() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let cache = std::env::temp_dir().join(format!("sluice-it-cache-{}", std::process::id()));
        PluginEngine::new(Some(cache)).expect("engine")
    })
}

pub fn load(name: &str, limits: TransformLimits, grants: Grants) -> TransformPlugin {
    let bytes = std::fs::read(test_plugin(name)).expect("test plugin built by build.rs");
    let component = engine().compile(name, &bytes).expect("compiles");
    let pre = engine().pre_instantiate(name, &component).expect("links");
    TransformPlugin::new(engine().clone(), name, pre, "{}".into(), limits, grants)
        .expect("configures")
}

/// The `sluice` binary under test.
pub fn sluice() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env(
        "SLUICE_CACHE_DIR",
        std::env::temp_dir().join("sluice-it-bin-cache"),
    );
    cmd
}

/// `sluice run pipeline` in the background, its log appended to `log`.
pub fn run_logged(pipeline: &std::path::Path, log: &std::path::Path) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    sluice()
        .arg("run")
        .arg(pipeline)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}
