//! One wasmtime `Engine` per process, the linker, and the on-disk cache of
//! compiled components.
//!
//! **Invariant:** compiled code is keyed by the sha256 of the component bytes
//! together with the engine's compatibility hash, so a cache entry is only
//! ever loaded into the engine configuration that produced it.

use super::bindings::{StageState, Transform, TransformPre};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; CPU deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The largest linear memory any stage may be granted.
pub const MAX_MEMORY_LIMIT: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin {path}: {error}")]
    Read {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("plugin {plugin} is not a valid component: {error:#}")]
    Compile {
        plugin: String,
        error: wasmtime::Error,
    },
    #[error("plugin {plugin} does not implement the sluice:plugin transform world: {error:#}")]
    Link {
        plugin: String,
        error: wasmtime::Error,
    },
    #[error("plugin {plugin}: {message}")]
    Instantiate { plugin: String, message: String },
    #[error("unknown built-in plugin `builtin:{0}`; `sluice plugins` lists them")]
    UnknownBuiltin(String),
    #[error("plugin source `{0}` is not supported yet; use builtin:NAME or file:PATH")]
    UnsupportedSource(String),
    #[error("plugin reference `{0}` must start with builtin:, file: or registry:")]
    BadReference(String),
    #[error("wasmtime engine: {0:#}")]
    Engine(wasmtime::Error),
}

/// The process-wide plugin engine. Cheap to clone.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<StageState>,
    cache_dir: Option<PathBuf>,
}

impl PluginEngine {
    /// Builds the engine. `cache_dir` holds compiled components; `None`
    /// disables the cache.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, PluginError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(512)
            .total_memories(512)
            .total_tables(512)
            .max_memory_size(MAX_MEMORY_LIMIT)
            .max_component_instance_size(1 << 20)
            .max_core_instances_per_component(16)
            .max_memories_per_component(8)
            .max_tables_per_component(8);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(PluginError::Engine)?;

        let mut linker = Linker::<StageState>::new(&engine);
        // Guests built by different toolchains import different WASI 0.2.x
        // patch versions; the linker's semver matching covers them.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(PluginError::Engine)?;
        Transform::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(PluginError::Engine)?;

        // The epoch ticker: one thread per process, advancing every EPOCH_TICK.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("sluice-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| PluginError::Engine(e.into()))?;

        Ok(PluginEngine {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache_dir,
            }),
        })
    }

    /// The default cache directory: `$SLUICE_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/sluice/components`, else `~/.cache/sluice/components`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("SLUICE_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(base.join("sluice").join("components"))
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Compiles `bytes`, or loads the compiled code from the cache.
    pub fn compile(&self, plugin: &str, bytes: &[u8]) -> Result<Component, PluginError> {
        let compile_error = |error| PluginError::Compile {
            plugin: plugin.to_owned(),
            error,
        };
        let Some(path) = self.cache_path(bytes) else {
            return Component::new(&self.inner.engine, bytes).map_err(compile_error);
        };
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of an
            // engine with the same compatibility hash (it is in the key), into
            // a directory only Sluice writes. A damaged file fails to load
            // and is recompiled below.
            match unsafe { Component::deserialize_file(&self.inner.engine, &path) } {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(plugin, path = %path.display(), "discarding unreadable compiled component: {error:#}");
                }
            }
        }
        let component = Component::new(&self.inner.engine, bytes).map_err(compile_error)?;
        if let Err(error) = write_cache_entry(&path, &component) {
            tracing::warn!(plugin, path = %path.display(), "cannot cache compiled component: {error:#}");
        }
        Ok(component)
    }

    /// Links `component` against the host and the WASI imports, ready for
    /// cheap instantiation.
    pub fn pre_instantiate(
        &self,
        plugin: &str,
        component: &Component,
    ) -> Result<TransformPre<StageState>, PluginError> {
        let link_error = |error| PluginError::Link {
            plugin: plugin.to_owned(),
            error,
        };
        let pre = self
            .inner
            .linker
            .instantiate_pre(component)
            .map_err(link_error)?;
        TransformPre::new(pre).map_err(link_error)
    }

    fn cache_path(&self, bytes: &[u8]) -> Option<PathBuf> {
        let dir = self.inner.cache_dir.as_ref()?;
        let mut hasher = Sha256::new();
        hasher.update(bytes);
        let mut compat = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(
            &self.inner.engine.precompile_compatibility_hash(),
            &mut compat,
        );
        let key = format!(
            "{:x}-{:016x}.cwasm",
            hasher.finalize(),
            std::hash::Hasher::finish(&compat)
        );
        Some(dir.join(key))
    }
}

/// Best effort: the caller only logs a failure.
fn write_cache_entry(path: &Path, component: &Component) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = component.serialize()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
