//! What the API says about the running pipelines (`sluice_server::Admin`): their status
//! (`/api/v1/pipelines`), reloads on request, readiness (`/ready`) and the plugins
//! (`/api/v1/plugins`). It only reads state the runtime already keeps and forwards reload
//! requests to each pipeline's watcher ([`crate::reload::watch`]); it runs nothing itself.

use crate::config::Pipeline;
use crate::plugin::bindings::types::Role;
use crate::plugin::{builtin, PluginEngine, PluginError, PluginRef};
use crate::reload::{ReloadLog, ReloadRequest};
use serde_json::{json, Value as Json};
use sluice_server::{AdminError, BoxFuture};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, OnceCell};

/// Where a pipeline is in its life.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    Starting,
    Running,
    /// Its sources ended and everything drained.
    Stopped,
    Failed(String),
}

/// One pipeline as the API sees it.
pub struct PipelineStatus {
    /// The file's stem, as in the metrics' `pipeline` label.
    pub name: String,
    pub file: std::path::PathBuf,
    pub state: Mutex<(State, i64)>,
    /// Stages and plugins of the version running now.
    pub shape: Mutex<Json>,
    pub reloads: Arc<Mutex<ReloadLog>>,
    pub requests: mpsc::Sender<ReloadRequest>,
}

impl PipelineStatus {
    /// A pipeline about to start; `requests` reaches its watcher.
    pub fn new(pipeline: &Pipeline, requests: mpsc::Sender<ReloadRequest>) -> PipelineStatus {
        PipelineStatus {
            name: pipeline_name(pipeline),
            file: pipeline.file.clone(),
            state: Mutex::new((State::Starting, sluice_event::now_ns())),
            shape: Mutex::new(shape(pipeline)),
            reloads: Arc::default(),
            requests,
        }
    }

    pub fn set_state(&self, state: State) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = (state, sluice_event::now_ns());
    }

    /// Records the version now running (after a reload that restarted it).
    pub fn set_pipeline(&self, pipeline: &Pipeline) {
        *self.shape.lock().unwrap_or_else(|e| e.into_inner()) = shape(pipeline);
    }

    fn json(&self) -> Json {
        let (state, since) = self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let reloads = self
            .reloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (state, error) = match state {
            State::Starting => ("starting", None),
            State::Running => ("running", None),
            State::Stopped => ("stopped", None),
            State::Failed(error) => ("failed", Some(error)),
        };
        let mut out = json!({
            "name": self.name,
            "file": self.file.display().to_string(),
            "state": state,
            "since": sluice_event::format_rfc3339(since),
            "reloads": {
                "applied": reloads.applied,
                "refused": reloads.refused,
                "last": reloads.last.map(|(at, reason, error)| json!({
                    "at": sluice_event::format_rfc3339(at),
                    "reason": reason,
                    "error": error,
                })),
            },
        });
        if let Some(error) = error {
            out["error"] = json!(error);
        }
        if let (Json::Object(out), Json::Object(shape)) = (
            &mut out,
            self.shape.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        ) {
            out.extend(shape);
        }
        out
    }
}

/// A pipeline's name: its file's stem, as the metrics label it.
pub fn pipeline_name(pipeline: &Pipeline) -> String {
    pipeline
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn shape(pipeline: &Pipeline) -> Json {
    json!({
        "sources": pipeline.sources.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "transforms": pipeline.transforms.iter().map(|t| json!({
            "name": t.name,
            "plugin": t.plugin,
        })).collect::<Vec<_>>(),
        "sinks": pipeline.sinks.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
    })
}

/// The process's pipelines, for the API.
pub struct RuntimeAdmin {
    pub pipelines: Vec<Arc<PipelineStatus>>,
    pub engine: PluginEngine,
    /// The built-ins' descriptions, computed on first request (each is instantiated once).
    builtins: Arc<OnceCell<Result<Vec<Json>, String>>>,
}

impl RuntimeAdmin {
    pub fn new(pipelines: Vec<Arc<PipelineStatus>>, engine: PluginEngine) -> RuntimeAdmin {
        RuntimeAdmin {
            pipelines,
            engine,
            builtins: Arc::default(),
        }
    }
}

impl sluice_server::Admin for RuntimeAdmin {
    fn ready(&self) -> Result<(), String> {
        let waiting: Vec<String> = self
            .pipelines
            .iter()
            .filter_map(
                |p| match &p.state.lock().unwrap_or_else(|e| e.into_inner()).0 {
                    State::Starting => Some(format!("{} is starting", p.name)),
                    State::Failed(error) => Some(format!("{} failed: {error}", p.name)),
                    State::Running | State::Stopped => None,
                },
            )
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting.join("; "))
        }
    }

    fn pipelines(&self) -> Vec<Json> {
        self.pipelines.iter().map(|p| p.json()).collect()
    }

    fn reload(&self, name: Option<String>) -> BoxFuture<Result<Json, AdminError>> {
        let targets: Vec<Arc<PipelineStatus>> = self
            .pipelines
            .iter()
            .filter(|p| name.as_deref().is_none_or(|n| n == p.name))
            .cloned()
            .collect();
        Box::pin(async move {
            if targets.is_empty() {
                return Err(AdminError::NoSuchPipeline(name.unwrap_or_default()));
            }
            let mut results = Vec::new();
            let mut refused = Vec::new();
            for target in targets {
                let (reply, answer) = oneshot::channel();
                let outcome = match target.requests.send(reply).await {
                    Ok(()) => answer
                        .await
                        .unwrap_or_else(|_| Err("the pipeline has stopped".into())),
                    Err(_) => Err("the pipeline has stopped".into()),
                };
                if let Err(error) = &outcome {
                    refused.push(format!("{}: {error}", target.name));
                }
                results.push(json!({
                    "name": target.name,
                    "reloaded": outcome.is_ok(),
                    "error": outcome.err(),
                }));
            }
            if name.is_some() && !refused.is_empty() {
                return Err(AdminError::Failed(format!(
                    "reload refused, the running pipeline is unchanged: {}",
                    refused.join("; ")
                )));
            }
            Ok(json!({ "pipelines": results }))
        })
    }

    fn plugins(&self) -> BoxFuture<Json> {
        // Describing compiles each built-in once; later answers reuse the result.
        let engine = self.engine.clone();
        let used: Vec<Json> = self
            .pipelines
            .iter()
            .flat_map(|p| {
                let shape = p.shape.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let name = p.name.clone();
                shape["transforms"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |t| json!({ "pipeline": name, "stage": t["name"], "plugin": t["plugin"] }))
            })
            .collect();
        let cell = self.builtins.clone();
        Box::pin(async move {
            let builtins = cell
                .get_or_init(|| async move {
                    tokio::task::spawn_blocking(move || {
                        describe_builtins(&engine).map_err(|e| e.to_string())
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
                })
                .await;
            match builtins {
                Ok(list) => json!({ "builtin": list, "in_use": used }),
                Err(error) => json!({ "error": error, "in_use": used }),
            }
        })
    }
}

/// Every built-in plugin's `describe()`, as JSON (what `sluice plugins --json` prints).
pub fn describe_builtins(engine: &PluginEngine) -> Result<Vec<Json>, PluginError> {
    let mut all = Vec::new();
    for name in builtin::names() {
        let reference = PluginRef::Builtin(name.to_owned());
        let label = reference.to_string();
        let bytes = reference.load()?;
        let component = engine.compile(&label, &bytes)?;
        let pre = engine.pre_instantiate(&label, &component)?;
        let info = crate::plugin::transform::describe(engine, name, &pre)?;
        all.push(json!({
            "plugin": label,
            "name": info.name,
            "version": info.version,
            "role": role_name(info.role),
            "description": info.description,
            "outputs": info.outputs,
            "config": info.config_keys.iter().map(|k| json!({
                "name": k.name, "type": k.type_name, "required": k.required, "description": k.description,
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(all)
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Transform => "transform",
        Role::AlertEvaluator => "alert-evaluator",
        Role::Source => "source",
        Role::Sink => "sink",
    }
}
