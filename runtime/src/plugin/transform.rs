//! A transform stage's plugin: one isolated instance, rebuilt after any
//! trap, behind a circuit breaker.
//!
//! **Invariant:** a failed call never loses its batch. [`TransformPlugin::process`]
//! hands the input back inside [`Failure`] so the stage can send it to its
//! `errors` output, and the trapped instance is discarded (wasmtime forbids
//! re-entering it) and rebuilt from the `InstancePre` on the next call.

use super::bindings::{types, StageState, Transform, TransformPre};
use super::bindings::{KvState, MemoryLimiter, PluginMetrics};
use super::breaker::CircuitBreaker;
pub use super::breaker::CircuitState;
use super::engine::{PluginEngine, PluginError, EPOCH_TICK};
use sluice_event::packed::{PackedBatch, PackedError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx};

/// Per-stage resource limits, from the stage's TOML.
#[derive(Debug, Clone)]
pub struct TransformLimits {
    /// Linear memory the instance may grow to.
    pub memory_bytes: usize,
    /// CPU time one call may take before it is interrupted.
    pub timeout: Duration,
    /// Consecutive failed batches that open the circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit refuses batches before trying again.
    pub breaker_cooldown: Duration,
}

impl Default for TransformLimits {
    fn default() -> Self {
        TransformLimits {
            memory_bytes: 128 << 20,
            timeout: Duration::from_secs(5),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// A directory the stage lets its plugin see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    pub host: PathBuf,
    /// Where the guest sees it; the same absolute path by default.
    pub guest: String,
    pub read_only: bool,
}

/// Capabilities a stage grants its plugin. Everything else is denied: by
/// default a plugin has no filesystem, no network and no environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub preopens: Vec<Preopen>,
    pub env: Vec<(String, String)>,
    /// Addresses the plugin may connect or send to (resolved from the
    /// stage's `allow_hosts` when the pipeline is built). Empty: no network.
    pub allowed_addrs: Vec<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The guest trapped (a panic, an invalid memory access, ...).
    Trap,
    /// The call ran past the stage's CPU deadline.
    Deadline,
    /// The guest tried to grow past the stage's memory limit.
    OutOfMemory,
    /// The guest returned `plugin-error` for the whole batch.
    PluginError,
    /// The circuit is open; the plugin was not called.
    CircuitOpen,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Deadline => "deadline",
            FailureKind::OutOfMemory => "out_of_memory",
            FailureKind::PluginError => "plugin_error",
            FailureKind::CircuitOpen => "circuit_open",
        }
    }
}

/// A failed call, with the batch it could not process.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub reason: String,
    pub batch: PackedBatch,
}

/// What a plugin returned: events, the output of each, and failures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Emitted {
    /// Checked: its layout and text are sound.
    pub events: PackedBatch,
    /// Per event: 0 is the main output, n > 0 is `output_names[n - 1]`.
    pub outputs: Vec<u32>,
    pub output_names: Vec<String>,
    /// Failed events as (index into `events`, reason).
    pub errors: Vec<(u32, String)>,
}

impl Emitted {
    /// The output name of event `i`; `None` is the main output.
    pub fn output_of(&self, i: usize) -> Option<&str> {
        match self.outputs.get(i).copied().unwrap_or(0) {
            0 => None,
            n => self.output_names.get(n as usize - 1).map(String::as_str),
        }
    }
}

/// Why `configure` refused the stage.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    #[error("{message}")]
    Rejected {
        key: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Instance(String),
}

struct Live {
    store: Store<StageState>,
    bindings: Transform,
    stderr: MemoryOutputPipe,
}

/// A configured transform plugin of one stage.
pub struct TransformPlugin {
    stage: Arc<str>,
    engine: PluginEngine,
    pre: TransformPre<StageState>,
    config_json: String,
    limits: TransformLimits,
    grants: Grants,
    kv: KvState,
    metrics: Arc<PluginMetrics>,
    live: Option<Live>,
    breaker: CircuitBreaker,
}

impl TransformPlugin {
    /// Instantiates and configures the plugin once, so a bad config fails
    /// here, at load time.
    pub fn new(
        engine: PluginEngine,
        stage: &str,
        pre: TransformPre<StageState>,
        config_json: String,
        limits: TransformLimits,
        grants: Grants,
    ) -> Result<Self, ConfigureError> {
        let breaker = CircuitBreaker::new(limits.breaker_threshold, limits.breaker_cooldown);
        let mut plugin = TransformPlugin {
            stage: Arc::from(stage),
            engine,
            pre,
            config_json,
            limits,
            grants,
            kv: KvState::default(),
            metrics: Arc::default(),
            live: None,
            breaker,
        };
        let live = plugin.instantiate()?;
        plugin.live = Some(live);
        Ok(plugin)
    }

    pub fn metrics(&self) -> &Arc<PluginMetrics> {
        &self.metrics
    }

    /// Takes over the stage state of the plugin this one replaces on a
    /// reload: its key-value state (so windows and counts go on) and the
    /// metrics its stage exports.
    pub fn adopt(&mut self, old: &TransformPlugin) {
        self.kv = old.kv.clone();
        self.metrics = old.metrics.clone();
        if let Some(live) = &mut self.live {
            let state = live.store.data_mut();
            state.kv = self.kv.clone();
            state.metrics = self.metrics.clone();
        }
    }

    pub fn circuit_state(&self) -> CircuitState {
        self.breaker.state()
    }

    /// How many times the circuit has opened.
    pub fn circuit_openings(&self) -> u64 {
        self.breaker.times_opened
    }

    fn instantiate(&self) -> Result<Live, ConfigureError> {
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let wasi = build_wasi(&self.grants, stderr.clone())
            .map_err(|e| ConfigureError::Instance(format!("cannot grant capabilities: {e:#}")))?;
        let mut store = new_store(
            &self.engine,
            &self.stage,
            wasi,
            &self.limits,
            self.kv.clone(),
            self.metrics.clone(),
        );
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| ConfigureError::Instance(format!("cannot instantiate: {e:#}")))?;
        let configured = bindings
            .sluice_plugin_plugin()
            .call_configure(&mut store, &self.config_json)
            .map_err(|e| {
                ConfigureError::Instance(format!(
                    "configure trapped: {e:#}{}",
                    stderr_tail(&stderr)
                ))
            })?;
        if let Err(types::ConfigError { key, message }) = configured {
            return Err(ConfigureError::Rejected { key, message });
        }
        Ok(Live {
            store,
            bindings,
            stderr,
        })
    }

    /// Runs one batch through the plugin.
    pub fn process(&mut self, batch: PackedBatch) -> Result<Emitted, Box<Failure>> {
        self.call(batch, |live, wit_batch| {
            live.bindings.call_process(&mut live.store, wit_batch)
        })
    }

    /// Asks the plugin for whatever it holds back.
    pub fn flush(&mut self) -> Result<Emitted, Box<Failure>> {
        self.call(PackedBatch::default(), |live, _| {
            live.bindings.call_flush(&mut live.store).map(Ok)
        })
    }

    fn call(
        &mut self,
        batch: PackedBatch,
        f: impl FnOnce(
            &mut Live,
            &types::Batch,
        ) -> wasmtime::Result<Result<types::EmittedBatch, types::PluginError>>,
    ) -> Result<Emitted, Box<Failure>> {
        if self.breaker.state() == CircuitState::Open {
            return Err(Box::new(Failure {
                kind: FailureKind::CircuitOpen,
                reason: format!(
                    "circuit open after {} consecutive failures",
                    self.breaker.consecutive_failures
                ),
                batch,
            }));
        }
        let mut live = match self.live.take() {
            Some(live) => live,
            None => match self.instantiate() {
                Ok(live) => live,
                Err(error) => return Err(self.fail(FailureKind::Trap, error.to_string(), batch)),
            },
        };
        // The columns move into the call's argument and back: no copy, and on
        // any failure the batch is handed back as it came.
        let wit_batch = batch_to_wit(batch);
        live.store
            .set_epoch_deadline(deadline_ticks(self.limits.timeout));
        let result = f(&mut live, &wit_batch);
        let batch = batch_from_wit(wit_batch);
        match result {
            Ok(Ok(emitted)) => {
                self.live = Some(live);
                match emitted_from_wit(emitted) {
                    Ok(emitted) => {
                        self.breaker.record_success();
                        Ok(emitted)
                    }
                    Err(error) => Err(self.fail(
                        FailureKind::PluginError,
                        format!("plugin returned {error}"),
                        batch,
                    )),
                }
            }
            Ok(Err(types::PluginError { message })) => {
                // The instance is still sound; keep it.
                self.live = Some(live);
                Err(self.fail(FailureKind::PluginError, message, batch))
            }
            Err(error) => {
                let (kind, reason) = classify(&error, &live);
                // `live` is dropped: after a trap the instance cannot be entered again.
                Err(self.fail(kind, reason, batch))
            }
        }
    }

    fn fail(&mut self, kind: FailureKind, reason: String, batch: PackedBatch) -> Box<Failure> {
        if self.breaker.record_failure() {
            tracing::error!(
                stage = %self.stage,
                cooldown_secs = self.breaker.cooldown.as_secs_f64(),
                "circuit opened: plugin failed {} consecutive batches; batches go to errors until it recovers",
                self.breaker.consecutive_failures
            );
        } else {
            tracing::warn!(stage = %self.stage, kind = kind.as_str(), "plugin failed a batch of {}: {reason}", batch.len());
        }
        Box::new(Failure {
            kind,
            reason,
            batch,
        })
    }
}

fn new_store(
    engine: &PluginEngine,
    stage: &Arc<str>,
    wasi: WasiCtx,
    limits: &TransformLimits,
    kv: KvState,
    metrics: Arc<PluginMetrics>,
) -> Store<StageState> {
    let state = StageState {
        stage: stage.clone(),
        wasi,
        table: ResourceTable::new(),
        limiter: MemoryLimiter {
            limit: limits.memory_bytes,
            exceeded: None,
        },
        kv,
        metrics,
    };
    let mut store = Store::new(engine.engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(deadline_ticks(limits.timeout));
    store.epoch_deadline_trap();
    store
}

/// Calls `describe` on a fresh instance that has no capabilities at all.
pub fn describe(
    engine: &PluginEngine,
    stage: &str,
    pre: &TransformPre<StageState>,
) -> Result<types::PluginInfo, PluginError> {
    let instance_error = |e: wasmtime::Error| PluginError::Instantiate {
        plugin: stage.to_owned(),
        message: format!("{e:#}"),
    };
    let limits = TransformLimits::default();
    let mut store = new_store(
        engine,
        &Arc::from(stage),
        WasiCtx::builder().build(),
        &limits,
        KvState::default(),
        Arc::default(),
    );
    let bindings = pre.instantiate(&mut store).map_err(instance_error)?;
    bindings
        .sluice_plugin_plugin()
        .call_describe(&mut store)
        .map_err(instance_error)
}

fn classify(error: &wasmtime::Error, live: &Live) -> (FailureKind, String) {
    if let Some(wanted) = live.store.data().limiter.exceeded {
        let limit = live.store.data().limiter.limit;
        return (
            FailureKind::OutOfMemory,
            format!(
                "plugin exceeded its memory limit of {limit} bytes (tried to grow to {wanted})"
            ),
        );
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => (
            FailureKind::Deadline,
            "plugin exceeded its CPU deadline".to_owned(),
        ),
        Some(trap) => (
            FailureKind::Trap,
            format!("plugin trapped: {trap}{}", stderr_tail(&live.stderr)),
        ),
        None => (
            FailureKind::Trap,
            format!("plugin failed: {error:#}{}", stderr_tail(&live.stderr)),
        ),
    }
}

/// The last lines the guest wrote to stderr (a Rust panic message lands
/// there), to explain a trap.
fn stderr_tail(pipe: &MemoryOutputPipe) -> String {
    let bytes = pipe.contents();
    let text = String::from_utf8_lossy(&bytes);
    let tail: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    let tail = &tail[tail.len().saturating_sub(3)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!(" ({})", tail.join(" | "))
    }
}

fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

fn build_wasi(grants: &Grants, stderr: MemoryOutputPipe) -> wasmtime::Result<WasiCtx> {
    let mut builder = WasiCtx::builder();
    builder.stderr(stderr);
    for (k, v) in &grants.env {
        builder.env(k, v);
    }
    for preopen in &grants.preopens {
        let perms = if preopen.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        builder.preopened_dir(&preopen.host, &preopen.guest, perms)?;
    }
    let network = !grants.allowed_addrs.is_empty();
    builder
        .allow_tcp(network)
        .allow_udp(network)
        .allow_ip_name_lookup(false);
    if network {
        let allowed: Arc<[std::net::SocketAddr]> = grants.allowed_addrs.clone().into();
        builder.socket_addr_check(move |addr, addr_use| {
            use wasmtime_wasi::sockets::SocketAddrUse;
            let ok = match addr_use {
                // The implicit bind to an ephemeral port before an outgoing
                // connection; listening on a chosen port is not granted.
                SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => addr.port() == 0,
                _ => allowed.contains(&addr),
            };
            Box::pin(async move { ok })
        });
    }
    Ok(builder.build())
}

sluice_event::packed_batch_conversions!(types::Batch);

/// Decodes and checks what a plugin returned; a malformed answer is the
/// plugin's failure, never the host's panic.
fn emitted_from_wit(emitted: types::EmittedBatch) -> Result<Emitted, PackedError> {
    let events = batch_from_wit(emitted.events);
    events.check()?;
    if emitted.outputs.len() != events.len() {
        return Err(PackedError::Malformed(format!(
            "{} outputs for {} events",
            emitted.outputs.len(),
            events.len()
        )));
    }
    if let Some(bad) = emitted
        .outputs
        .iter()
        .find(|&&o| o as usize > emitted.output_names.len())
    {
        return Err(PackedError::Malformed(format!(
            "output index {bad} but only {} output names",
            emitted.output_names.len()
        )));
    }
    if let Some((bad, _)) = emitted
        .errors
        .iter()
        .find(|(i, _)| *i as usize >= events.len())
    {
        return Err(PackedError::Malformed(format!(
            "error for event {bad} of {}",
            events.len()
        )));
    }
    Ok(Emitted {
        events,
        outputs: emitted.outputs,
        output_names: emitted.output_names,
        errors: emitted.errors,
    })
}
