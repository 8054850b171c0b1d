//! Turns a validated [`Pipeline`] into running tasks wired by bounded
//! channels, and runs it until its sources end or it is shut down.
//!
//! **Invariant:** every channel is bounded, so a slow sink slows its
//! transforms and finally its sources (backpressure), and events in a
//! straight line keep their order.
//!
//! **Invariant:** an event leaves a transform on exactly one output. Events
//! sent to an output nobody reads (including `errors`) continue on the main
//! output, with their failure recorded on them, so nothing is lost silently.

use crate::config::{ConfigError, InputRef, Pipeline, SinkKind, SourceKind, TransformStage};
use crate::metrics::{Registry, StageMetrics};
use crate::plugin::bindings::types::PluginInfo;
use crate::plugin::transform::{describe, Emitted, Failure, Preopen, TransformPlugin};
use crate::plugin::{PluginEngine, PluginRef};
use sha2::{Digest, Sha256};
use sluice_event::names;
use sluice_event::packed::error_fields;
use sluice_event::packed::PackedBatch;
use sluice_io::buffer;
use sluice_io::sinks::{self, SinkContext};
use sluice_io::sources::{self, SourceContext};
use sluice_io::{Acks, Batch, StageCounters};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Batches each edge holds before its sender waits.
pub const CHANNEL_CAPACITY: usize = 8;

/// A pipeline whose plugins are compiled, linked and configured.
pub struct BuiltPipeline {
    pipeline: Pipeline,
    plugins: HashMap<String, TransformPlugin>,
    /// Stages whose plugin may hold events back between calls.
    holding: std::collections::HashSet<String>,
    /// Per transform: what its behaviour depends on (plugin bytes, config,
    /// limits, grants, inputs). A reload swaps the stages whose print changed.
    prints: HashMap<String, String>,
    /// Events each `blackhole` sink has counted.
    pub blackhole_counts: HashMap<String, Arc<AtomicU64>>,
}

/// Compiles and configures every plugin of `pipeline`. Everything that can
/// be checked without running is checked here: plugin references, the
/// plugins' own config validation, and named outputs in `inputs`.
pub fn build(pipeline: Pipeline, engine: &PluginEngine) -> Result<BuiltPipeline, ConfigError> {
    let base_dir = pipeline
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut infos = HashMap::new();
    let mut plugins = HashMap::new();
    let mut holding = std::collections::HashSet::new();
    let mut prints = HashMap::new();
    for stage in &pipeline.transforms {
        let loaded = load_plugin(stage, engine, &base_dir)?;
        plugins.insert(stage.name.clone(), loaded.plugin);
        infos.insert(stage.name.clone(), loaded.info);
        if loaded.holds_events {
            holding.insert(stage.name.clone());
        }
        prints.insert(stage.name.clone(), loaded.print);
    }
    // Named outputs must exist.
    let readers = pipeline
        .transforms
        .iter()
        .map(|t| (&t.name, &t.inputs))
        .chain(pipeline.sinks.iter().map(|s| (&s.name, &s.inputs)));
    for (reader, inputs) in readers {
        for input in inputs {
            let (Some(output), Some(info)) = (&input.input.output, infos.get(&input.input.stage))
            else {
                continue;
            };
            // A plugin that declares `*` names its outputs from its config.
            let declared = |o: &String| o == output || o == "*";
            if output != "errors" && !info.outputs.iter().any(declared) {
                return Err(ConfigError {
                    location: Some(input.location.clone()),
                    key: Some(format!("{reader}.inputs")),
                    message: format!(
                        "stage `{}` ({}) has no output `{output}`; its outputs are: {}",
                        input.input.stage,
                        info.name,
                        std::iter::once("errors")
                            .chain(
                                info.outputs
                                    .iter()
                                    .map(String::as_str)
                                    .filter(|o| *o != "errors")
                            )
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }
    let blackhole_counts = pipeline
        .sinks
        .iter()
        .filter(|s| matches!(s.kind, SinkKind::Blackhole(_)))
        .map(|s| (s.name.clone(), Arc::new(AtomicU64::new(0))))
        .collect();
    Ok(BuiltPipeline {
        pipeline,
        plugins,
        holding,
        prints,
        blackhole_counts,
    })
}

/// A transform stage's plugin, ready to run.
struct Loaded {
    plugin: TransformPlugin,
    info: PluginInfo,
    holds_events: bool,
    print: String,
}

fn load_plugin(
    stage: &TransformStage,
    engine: &PluginEngine,
    base_dir: &Path,
) -> Result<Loaded, ConfigError> {
    let at_plugin = |message: String| ConfigError {
        location: Some(stage.plugin_location.clone()),
        key: Some(format!("transforms.{}.plugin", stage.name)),
        message,
    };
    let reference =
        PluginRef::parse(&stage.plugin, base_dir).map_err(|e| at_plugin(e.to_string()))?;
    let bytes = reference.load().map_err(|e| at_plugin(e.to_string()))?;
    let label = reference.to_string();
    let component = engine
        .compile(&label, &bytes)
        .map_err(|e| at_plugin(e.to_string()))?;
    let pre = engine
        .pre_instantiate(&label, &component)
        .map_err(|e| at_plugin(e.to_string()))?;
    let info = describe(engine, &stage.name, &pre).map_err(|e| at_plugin(e.to_string()))?;

    // A config key the plugin declares as a `dir` or a `file` names what it
    // must read: grant that directory (a file's directory), read-only, at the
    // same absolute path, which the config value is rewritten to.
    let mut config = stage.config.clone();
    let mut grants = stage.grants.clone();
    for key in info
        .config_keys
        .iter()
        .filter(|k| k.type_name == "dir" || k.type_name == "file")
    {
        let Some(serde_json::Value::String(value)) = config.get_mut(&key.name) else {
            continue;
        };
        let host = base_dir.join(&*value);
        let (granted, readable) = if key.type_name == "dir" {
            (Some(host.clone()), host.is_dir())
        } else {
            (host.parent().map(Path::to_path_buf), host.is_file())
        };
        let Some(granted) = granted.filter(|_| readable) else {
            return Err(ConfigError {
                location: Some(stage.config_location(Some(&key.name))),
                key: Some(format!("transforms.{}.config.{}", stage.name, key.name)),
                message: format!(
                    "{} is not a readable {}",
                    host.display(),
                    if key.type_name == "dir" {
                        "directory"
                    } else {
                        "file"
                    }
                ),
            });
        };
        *value = host.to_string_lossy().into_owned();
        let guest = granted.to_string_lossy().into_owned();
        if !grants.preopens.iter().any(|p| p.guest == guest) {
            grants.preopens.push(Preopen {
                host: granted,
                guest,
                read_only: true,
            });
        }
    }
    let print = format!(
        "{} {:x} {config} {:?} {:?} {:?} {:?}",
        stage.plugin,
        Sha256::digest(&bytes),
        stage.limits,
        grants,
        stage.flush_interval,
        stage.inputs.iter().map(|i| &i.input).collect::<Vec<_>>(),
    );
    let plugin = TransformPlugin::new(
        engine.clone(),
        &stage.name,
        pre,
        config.to_string(),
        stage.limits.clone(),
        grants,
    )
    .map_err(|e| match e {
        crate::plugin::transform::ConfigureError::Rejected { key, message } => ConfigError {
            location: Some(stage.config_location(key.as_deref())),
            key: Some(match &key {
                Some(key) => format!("transforms.{}.config.{key}", stage.name),
                None => format!("transforms.{}.config", stage.name),
            }),
            message: format!("{label} refused its config: {message}"),
        },
        other => at_plugin(format!("{label}: {other}")),
    })?;
    Ok(Loaded {
        plugin,
        info,
        holds_events: crate::plugin::builtin::holds_events(&reference),
        print,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] sources::SourceError),
    #[error(transparent)]
    Sink(#[from] sinks::SinkError),
    #[error(transparent)]
    Buffer(#[from] buffer::BufferError),
    /// Boxed: rdkafka's errors are large.
    #[error(transparent)]
    Kafka(Box<sluice_kafka::KafkaError>),
    #[error("stage {stage} panicked: {message}")]
    Panic { stage: String, message: String },
}

impl From<sluice_kafka::KafkaError> for RunError {
    fn from(error: sluice_kafka::KafkaError) -> Self {
        RunError::Kafka(Box::new(error))
    }
}

/// Where a stage's outputs go.
struct Router {
    stage: Arc<str>,
    main: Vec<mpsc::Sender<Batch>>,
    named: HashMap<String, Vec<mpsc::Sender<Batch>>>,
    /// `events_out`, `errors` and `dropped` are counted here.
    counters: Arc<StageCounters>,
}

impl Router {
    /// Sends `batch` to every consumer of one output; the last one gets the
    /// original, the others a copy.
    async fn send_to(&mut self, output: Option<&str>, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        let targets = match output.and_then(|o| self.named.get(o)) {
            Some(targets) => targets,
            None => &self.main,
        };
        if targets.is_empty() {
            StageCounters::add(&self.counters.dropped, batch.len());
            tracing::warn!(stage = %self.stage, events = batch.len(), "no stage reads this output; events dropped");
            return;
        }
        StageCounters::add(&self.counters.events_out, batch.len());
        let (last, rest) = targets.split_last().expect("checked non-empty");
        for target in rest {
            send(target, batch.clone()).await;
        }
        send(last, batch).await;
    }

    /// Groups a plugin's results by output, keeping order within each, and
    /// records failures on the failed events. Every batch sent carries
    /// `acks`; when nothing is sent they are dropped, which acknowledges
    /// the input (a filter that drops everything is done with it).
    async fn route(&mut self, emitted: Emitted, acks: Acks) {
        let Emitted {
            events,
            outputs,
            output_names,
            errors,
        } = emitted;
        StageCounters::add(&self.counters.errors, errors.len());
        // Per output index: the named output it goes to, or `None` for main
        // (also when nobody reads that name).
        let routes: Vec<Option<&str>> = std::iter::once(None)
            .chain(
                output_names
                    .iter()
                    .map(|name| self.named.contains_key(name).then_some(name.as_str())),
            )
            .collect();
        let single_route = outputs
            .iter()
            .all(|&o| routes.get(o as usize).copied().flatten().is_none());
        if single_route && errors.is_empty() {
            // The common case: everything goes on the main output unchanged.
            self.send_to(None, Batch::new(events, acks)).await;
            return;
        }
        let checked = match events.check() {
            Ok(checked) => checked,
            Err(error) => {
                // Emitted batches were checked as they left the plugin.
                debug_assert!(false, "{error}");
                tracing::error!(stage = %self.stage, events = events.len(), "dropping a malformed batch: {error}");
                StageCounters::add(&self.counters.dropped, events.len());
                acks.fail();
                return;
            }
        };
        let mut errors = errors.iter().peekable();
        let mut main = PackedBatch::default();
        let mut named: Vec<(&str, PackedBatch)> = Vec::new();
        for (i, (row, output)) in checked.rows().zip(outputs.iter().copied()).enumerate() {
            let target = match routes.get(output as usize).copied().flatten() {
                None => &mut main,
                Some(name) => match named.iter().position(|(n, _)| *n == name) {
                    Some(at) => &mut named[at].1,
                    None => {
                        named.push((name, PackedBatch::default()));
                        &mut named.last_mut().expect("just pushed").1
                    }
                },
            };
            let pushed = match errors.next_if(|(at, _)| *at as usize == i) {
                Some((_, reason)) => target.push_row_with(&row, &error_fields(&self.stage, reason)),
                None => target.push_row(&row),
            };
            if let Err(error) = pushed {
                tracing::error!(stage = %self.stage, "cannot route an event: {error}");
                StageCounters::add(&self.counters.dropped, 1);
                acks.fail();
            }
        }
        for (output, batch) in named {
            self.send_to(Some(output), Batch::new(batch, acks.clone()))
                .await;
        }
        self.send_to(None, Batch::new(main, acks)).await;
    }

    async fn route_failure(&mut self, failure: Box<Failure>, acks: Acks) {
        StageCounters::add(&self.counters.errors, failure.batch.len());
        let reason = format!("{}: {}", failure.kind.as_str(), failure.reason);
        let extra = error_fields(&self.stage, &reason);
        let mut batch = PackedBatch::with_capacity(failure.batch.len(), 384);
        match failure.batch.check() {
            Ok(checked) => {
                for row in checked.rows() {
                    if let Err(error) = batch.push_row_with(&row, &extra) {
                        tracing::error!(stage = %self.stage, "cannot record a failure: {error}");
                        StageCounters::add(&self.counters.dropped, 1);
                        acks.fail();
                    }
                }
            }
            Err(error) => {
                // Only checked batches reach a plugin.
                debug_assert!(false, "{error}");
                tracing::error!(stage = %self.stage, events = failure.batch.len(), "dropping a malformed batch: {error}");
                StageCounters::add(&self.counters.dropped, failure.batch.len());
                acks.fail();
            }
        }
        self.send_to(Some("errors"), Batch::new(batch, acks)).await;
    }
}

/// Sends to one consumer. A closed consumer only happens at shutdown, or
/// when a sink gave up: the batch is then not delivered.
async fn send(target: &mpsc::Sender<Batch>, batch: Batch) {
    if let Err(unsent) = target.send(batch).await {
        unsent.0.acks.fail();
    }
}

impl BuiltPipeline {
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Runs until every source has ended and everything has drained, or
    /// until `shutdown` turns true (sources stop, the rest drains).
    /// Every stage registers its metrics in `registry`.
    pub async fn run(
        self,
        shutdown: watch::Receiver<bool>,
        registry: Arc<Registry>,
    ) -> Result<(), RunError> {
        self.run_reloadable(shutdown, registry, None)
            .await
            .map(drop)
    }

    /// Runs like [`BuiltPipeline::run`], taking new versions of the
    /// pipeline from `reloads` (built, so valid, in the background):
    ///
    /// - when only transform stages changed (plugin bytes, config, limits),
    ///   each changed stage swaps its plugin at a batch boundary: it
    ///   flushes the old one, hands its state over, and goes on with the
    ///   new one. Nothing is lost or duplicated and nothing else stops;
    /// - any other change (sources, sinks, wiring) drains this pipeline
    ///   (sources save their checkpoints) and returns the new version for
    ///   the caller to run.
    pub async fn run_reloadable(
        self,
        mut shutdown: watch::Receiver<bool>,
        registry: Arc<Registry>,
        mut reloads: Option<&mut mpsc::Receiver<BuiltPipeline>>,
    ) -> Result<Option<BuiltPipeline>, RunError> {
        let current_shape = shape(&self.pipeline);
        let self_store = self.pipeline.store.clone();
        let BuiltPipeline {
            pipeline,
            mut plugins,
            holding,
            mut prints,
            blackhole_counts,
        } = self;
        // Stops this run: on shutdown, or to restart with a new topology.
        let (stop, stopping) = watch::channel(false);
        let mut swaps: HashMap<String, mpsc::Sender<Swap>> = HashMap::new();
        let mut inboxes: HashMap<String, mpsc::Sender<Batch>> = HashMap::new();
        let mut receivers: HashMap<String, mpsc::Receiver<Batch>> = HashMap::new();
        for name in pipeline
            .transforms
            .iter()
            .map(|t| &t.name)
            .chain(pipeline.sinks.iter().map(|s| &s.name))
        {
            let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
            inboxes.insert(name.clone(), tx);
            receivers.insert(name.clone(), rx);
        }
        let senders_for = |input: InputRef| -> Vec<mpsc::Sender<Batch>> {
            pipeline
                .consumers(&input)
                .into_iter()
                .map(|c| inboxes[c].clone())
                .collect()
        };

        let pipeline_name = pipeline
            .file
            .file_stem()
            .map_or_else(|| "pipeline".into(), |s| s.to_string_lossy().into_owned());
        let mut tasks: JoinSet<(String, Result<(), RunError>)> = JoinSet::new();
        for sink in &pipeline.sinks {
            let counters = registry
                .stage(&pipeline_name, &sink.name, "sink", None)
                .counters
                .clone();
            let mut input = receivers.remove(&sink.name).expect("inbox");
            if let Some(config) = &sink.buffer {
                let dir = buffer_dir(&pipeline.data_dir, &sink.name);
                let started = buffer::start(&sink.name, config, dir, input, counters.clone())?;
                input = started.output;
                let (name, task) = (format!("{}-buffer", sink.name), started.task);
                tasks.spawn(async move {
                    let result = match task.await {
                        Ok(result) => result.map_err(RunError::from),
                        Err(e) => Err(RunError::Panic {
                            stage: name.clone(),
                            message: e.to_string(),
                        }),
                    };
                    (name, result)
                });
            }
            let ctx = SinkContext {
                name: sink.name.clone(),
                input,
                counters,
                // A disk buffer counts what enters the stage.
                count_input: sink.buffer.is_none(),
                shutdown: stopping.clone(),
                data_dir: pipeline.data_dir.clone(),
            };
            let name = sink.name.clone();
            match sink.kind.clone() {
                SinkKind::Console(c) => tasks.spawn(async move {
                    (name, sinks::console::run(c, ctx).await.map_err(Into::into))
                }),
                SinkKind::File(c) => tasks.spawn(async move {
                    (name, sinks::file::run(c, ctx).await.map_err(Into::into))
                }),
                SinkKind::Sluice(c) => tasks.spawn(async move {
                    (name, sinks::sluice::run(c, ctx).await.map_err(Into::into))
                }),
                SinkKind::Store(c) => {
                    let data_dir = pipeline.data_dir.clone();
                    let store = pipeline.store.clone();
                    tasks.spawn(async move {
                        let stored = sinks::store::run(c, data_dir, store, ctx).await;
                        (name, stored.map_err(Into::into))
                    })
                }
                SinkKind::Kafka(c) => tasks.spawn(async move {
                    (
                        name,
                        sluice_kafka::sink::run(c, ctx).await.map_err(Into::into),
                    )
                }),
                SinkKind::Capture(captured) => {
                    tasks.spawn(async move { (name, capture(ctx, captured).await) })
                }
                SinkKind::Blackhole(c) => {
                    let counter = blackhole_counts[&sink.name].clone();
                    tasks.spawn(async move {
                        (
                            name,
                            sinks::blackhole::run(c, ctx, counter)
                                .await
                                .map_err(Into::into),
                        )
                    })
                }
            };
        }

        for stage in &pipeline.transforms {
            let plugin = plugins.remove(&stage.name).expect("built");
            let metrics = registry.stage(
                &pipeline_name,
                &stage.name,
                "transform",
                Some(plugin.metrics().clone()),
            );
            // Every named output some stage reads (`build` checked each exists).
            let mut named = HashMap::new();
            let readers = pipeline
                .transforms
                .iter()
                .flat_map(|t| &t.inputs)
                .chain(pipeline.sinks.iter().flat_map(|s| &s.inputs));
            for input in readers.filter(|i| i.input.stage == stage.name) {
                if let Some(output) = &input.input.output {
                    if !named.contains_key(output) {
                        named.insert(output.clone(), senders_for(input.input.clone()));
                    }
                }
            }
            let router = Router {
                stage: Arc::from(stage.name.as_str()),
                main: senders_for(InputRef {
                    stage: stage.name.clone(),
                    output: None,
                }),
                named,
                counters: metrics.counters.clone(),
            };
            if router.main.is_empty() {
                tracing::warn!(stage = %stage.name, "no stage reads this transform's main output; its events will be dropped");
            }
            let input = receivers.remove(&stage.name).expect("inbox");
            let name = stage.name.clone();
            let stage_loop = StageLoop {
                plugin,
                router,
                metrics,
                flush_interval: stage.flush_interval,
                held: holding.contains(&stage.name).then(Acks::none),
            };
            let (swap_tx, swap_rx) = mpsc::channel(1);
            swaps.insert(stage.name.clone(), swap_tx);
            tasks.spawn(async move { (name, stage_loop.run(input, swap_rx).await) });
        }

        for source in &pipeline.sources {
            let targets = senders_for(InputRef {
                stage: source.name.clone(),
                output: None,
            });
            let out = if targets.len() == 1 {
                targets.into_iter().next().expect("one")
            } else {
                let (tx, mut rx) = mpsc::channel::<Batch>(1);
                let mut router = Router {
                    stage: Arc::from(source.name.as_str()),
                    main: targets,
                    named: HashMap::new(),
                    // The source counts what it sends; this only splits it.
                    counters: Arc::default(),
                };
                let name = format!("{}-fanout", source.name);
                tasks.spawn(async move {
                    while let Some(batch) = rx.recv().await {
                        router.send_to(None, batch).await;
                    }
                    (name, Ok(()))
                });
                tx
            };
            let ctx = SourceContext {
                name: source.name.clone(),
                out,
                shutdown: stopping.clone(),
                data_dir: pipeline.data_dir.clone(),
                counters: registry
                    .stage(&pipeline_name, &source.name, "source", None)
                    .counters
                    .clone(),
                acknowledgements: pipeline.acknowledgements,
            };
            let name = source.name.clone();
            let run = |r: Result<(), sources::SourceError>| r.map_err(RunError::from);
            match source.kind.clone() {
                SourceKind::Stdin(c) => {
                    tasks.spawn(async move { (name, run(sources::stdin::run(c, ctx).await)) })
                }
                SourceKind::File(c) => {
                    tasks.spawn(async move { (name, run(sources::file::run(c, ctx).await)) })
                }
                SourceKind::Http(c) => {
                    tasks.spawn(async move { (name, run(sources::http::run(c, ctx).await)) })
                }
                SourceKind::Syslog(c) => {
                    tasks.spawn(async move { (name, run(sources::syslog::run(c, ctx).await)) })
                }
                SourceKind::Sluice(c) => {
                    tasks.spawn(async move { (name, run(sources::sluice::run(c, ctx).await)) })
                }
                SourceKind::Demo(c) => {
                    tasks.spawn(async move { (name, run(sources::demo::run(c, ctx).await)) })
                }
                SourceKind::Kafka(c) => tasks.spawn(async move {
                    (
                        name,
                        sluice_kafka::source::run(c, ctx).await.map_err(Into::into),
                    )
                }),
                SourceKind::Memory(lines) => tasks.spawn(async move {
                    let events = lines.iter().map(|line| {
                        let mut event = sluice_event::Event::new(line.as_str());
                        event.fields.insert(names::SOURCE, "test");
                        event
                    });
                    ctx.send(events.collect()).await;
                    (name, Ok(()))
                }),
            };
        }

        // Only the stages hold senders now, so each inbox closes when its
        // producers finish.
        drop(inboxes);
        let mut first_error = None;
        let mut restart = None;
        let mut stopped = false;
        loop {
            tokio::select! {
                joined = tasks.join_next() => {
                    let Some(joined) = joined else { break };
                    let (stage, result) = match joined {
                        Ok(done) => done,
                        Err(e) => (
                            "?".to_owned(),
                            Err(RunError::Panic {
                                stage: "?".into(),
                                message: e.to_string(),
                            }),
                        ),
                    };
                    if let Err(error) = result {
                        tracing::error!(stage, "{error}");
                        first_error.get_or_insert(error);
                    }
                }
                Ok(()) = shutdown.changed(), if !stopped => {
                    if *shutdown.borrow() {
                        stopped = true;
                        let _ = stop.send(true);
                    }
                }
                Some(next) = next_reload(&mut reloads), if !stopped => {
                    if next.pipeline.store != self_store {
                        // Sinks and the API share one open store per directory.
                        tracing::error!(pipeline = %pipeline_name, "reload refused, the running pipeline is unchanged: changing [store] needs a restart of the process");
                        continue;
                    }
                    if shape(&next.pipeline) != current_shape {
                        tracing::info!(pipeline = %pipeline_name, "reload: sources, sinks or wiring changed; draining and restarting the pipeline");
                        stopped = true;
                        let _ = stop.send(true);
                        restart = Some(next);
                        continue;
                    }
                    swap_changed(next, &mut prints, &swaps, &pipeline_name).await;
                }
            }
        }
        registry.remove_pipeline(&pipeline_name);
        match first_error {
            Some(error) => Err(error),
            None => Ok(restart),
        }
    }
}

/// A new plugin for a running stage.
struct Swap {
    plugin: TransformPlugin,
    holds_events: bool,
}

/// Waits for the next reload, or forever without a reload channel.
async fn next_reload(
    reloads: &mut Option<&mut mpsc::Receiver<BuiltPipeline>>,
) -> Option<BuiltPipeline> {
    match reloads {
        Some(reloads) => reloads.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends each transform whose print changed its new plugin.
async fn swap_changed(
    next: BuiltPipeline,
    prints: &mut HashMap<String, String>,
    swaps: &HashMap<String, mpsc::Sender<Swap>>,
    pipeline: &str,
) {
    let BuiltPipeline {
        plugins,
        holding,
        prints: next_prints,
        ..
    } = next;
    let mut swapped = Vec::new();
    for (stage, plugin) in plugins {
        if prints.get(&stage) == next_prints.get(&stage) {
            continue;
        }
        let (Some(to), Some(print)) = (swaps.get(&stage), next_prints.get(&stage)) else {
            continue;
        };
        let holds_events = holding.contains(&stage);
        if to
            .send(Swap {
                plugin,
                holds_events,
            })
            .await
            .is_ok()
        {
            prints.insert(stage.clone(), print.clone());
            swapped.push(stage);
        }
    }
    swapped.sort();
    if swapped.is_empty() {
        tracing::info!(pipeline, "reload: nothing changed");
    } else {
        tracing::info!(pipeline, stages = ?swapped, "reload: swapping changed stages");
    }
}

/// What must stay the same for a reload to swap stages in place: the
/// global settings, every source and sink, and the wiring.
fn shape(p: &Pipeline) -> String {
    let inputs = |inputs: &[crate::config::Input]| -> Vec<InputRef> {
        inputs.iter().map(|i| i.input.clone()).collect()
    };
    let mut shape = format!("{:?} {:?} {:?}\n", p.data_dir, p.api, p.sources);
    for t in &p.transforms {
        shape += &format!("t {} {:?}\n", t.name, inputs(&t.inputs));
    }
    for s in &p.sinks {
        shape += &format!(
            "s {} {:?} {:?} {:?}\n",
            s.name,
            inputs(&s.inputs),
            s.kind,
            s.buffer
        );
    }
    shape
}

/// A transform stage: its plugin, where its outputs go, and the
/// acknowledgements it holds back.
struct StageLoop {
    plugin: TransformPlugin,
    router: Router,
    metrics: Arc<StageMetrics>,
    flush_interval: Duration,
    /// For a plugin that may hold events back between calls: the previous
    /// call's input acknowledgements, which ride with this call's outputs
    /// too (a held event comes out in the next call, or at the flush).
    held: Option<Acks>,
}

impl StageLoop {
    /// One batch at a time, so order is kept; flushes when idle and at the
    /// end; swaps its plugin between batches when a reload asks.
    async fn run(
        mut self,
        mut input: mpsc::Receiver<Batch>,
        mut swaps: mpsc::Receiver<Swap>,
    ) -> Result<(), RunError> {
        loop {
            tokio::select! {
                biased;
                Some(swap) = swaps.recv() => self.swap(swap).await,
                next = tokio::time::timeout(self.flush_interval, input.recv()) => match next {
                    Ok(Some(batch)) => self.process(batch).await,
                    Ok(None) => break,
                    Err(_idle) => self.flush().await,
                },
            }
        }
        self.flush().await;
        let dropped = StageCounters::get(&self.metrics.counters.dropped);
        if dropped > 0 {
            tracing::warn!(stage = %self.router.stage, events = dropped, "events dropped for lack of a consumer");
        }
        Ok(())
    }

    /// Replaces the plugin at a batch boundary: the old one is flushed (what
    /// it held goes out with the acknowledgements it held), the new one
    /// takes over its state. The pause is what the stage spends here.
    async fn swap(&mut self, swap: Swap) {
        let started = Instant::now();
        self.flush().await;
        let mut plugin = swap.plugin;
        plugin.adopt(&self.plugin);
        self.plugin = plugin;
        self.held = swap.holds_events.then(Acks::none);
        let pause = started.elapsed();
        self.metrics.reload_pause.observe(pause);
        tracing::info!(stage = %self.router.stage, pause_us = pause.as_micros() as u64, "plugin swapped");
    }

    async fn process(&mut self, batch: Batch) {
        let Batch { events, acks } = batch;
        StageCounters::add(&self.metrics.counters.events_in, events.len());
        let acks = match &mut self.held {
            Some(held) => {
                let mut both = std::mem::replace(held, acks.clone());
                both.merge(acks);
                both
            }
            None => acks,
        };
        // Plugin calls are CPU-bound and bounded by the stage's deadline.
        let started = Instant::now();
        let result = tokio::task::block_in_place(|| self.plugin.process(events));
        self.metrics.batch_latency.observe(started.elapsed());
        self.deliver(result, acks).await;
    }

    async fn flush(&mut self) {
        let result = tokio::task::block_in_place(|| self.plugin.flush());
        let acks = self.held.as_mut().map(std::mem::take).unwrap_or_default();
        self.deliver(result, acks).await;
    }

    /// Routes a call's result and records its failure and the circuit's state.
    async fn deliver(&mut self, result: Result<Emitted, Box<Failure>>, acks: Acks) {
        self.metrics.set_circuit(self.plugin.circuit_state());
        match result {
            Ok(emitted) => self.router.route(emitted, acks).await,
            Err(failure) => {
                self.metrics.record_failure(failure.kind);
                self.router.route_failure(failure, acks).await
            }
        }
    }
}

/// Where sink `name`'s disk buffer lives.
pub fn buffer_dir(data_dir: &Path, sink: &str) -> std::path::PathBuf {
    data_dir.join("buffers").join(sink)
}

/// The `Capture` sink: keeps every event it receives.
async fn capture(mut ctx: SinkContext, captured: crate::config::Captured) -> Result<(), RunError> {
    while let Some(batch) = ctx.recv().await {
        let events = batch.decode().map_err(|error| sinks::SinkError::Batch {
            sink: ctx.name.clone(),
            error,
        })?;
        captured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(events);
    }
    Ok(())
}

/// The blackhole count of sink `name`, for tests and benchmarks.
pub fn count(counts: &HashMap<String, Arc<AtomicU64>>, name: &str) -> u64 {
    counts.get(name).map_or(0, |c| c.load(Ordering::Relaxed))
}
