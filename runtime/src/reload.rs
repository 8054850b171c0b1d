//! Hot reload: watches each pipeline file and the `file:` plugins it names
//! (with `notify`), and SIGHUP, and on a change builds the new version in
//! the background: config validated, components compiled and configured,
//! all off the running pipeline's threads. A valid version goes to the
//! running pipeline, which swaps only what changed (see
//! [`BuiltPipeline::run_reloadable`]); an invalid one is refused with its
//! error, and the old pipeline keeps running.
//!
//! Directories are watched rather than files, since editors and `cp`
//! replace a file by renaming a new one over it.

use crate::config::{self, Pipeline};
use crate::plugin::{PluginEngine, PluginRef};
use crate::topology::{self, BuiltPipeline};
use notify::{RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How long a burst of file events is collected before building.
const SETTLE: Duration = Duration::from_millis(100);

/// The files a pipeline's behaviour depends on: the pipeline file and the
/// components of its `file:` plugins.
pub fn watched_files(pipeline: &Pipeline) -> Vec<PathBuf> {
    let base = pipeline.file.parent().unwrap_or(Path::new("."));
    let mut files = vec![pipeline.file.clone()];
    for stage in &pipeline.transforms {
        if let Ok(PluginRef::File(path)) = PluginRef::parse(&stage.plugin, base) {
            files.push(path);
        }
    }
    files
}

/// Builds `file` on a plain thread (configuring a plugin may use WASI,
/// which must not run on the async workers).
async fn build(
    file: PathBuf,
    data_dir: Option<PathBuf>,
    engine: PluginEngine,
) -> Result<BuiltPipeline, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let built = config::load(&file, data_dir.as_deref())
            .and_then(|p| topology::build(p, &engine))
            .map_err(|e| e.to_string());
        let _ = tx.send(built);
    });
    rx.await
        .unwrap_or_else(|_| Err("the build thread panicked".into()))
}

/// What can ask a pipeline to reload besides its files changing: SIGHUP, and the API
/// (`POST /api/v1/pipelines/{name}/reload`), which waits for the outcome.
pub struct Triggers {
    pub hup: broadcast::Receiver<()>,
    pub requests: mpsc::Receiver<ReloadRequest>,
    /// Where every reload's outcome is recorded, for `/api/v1/pipelines`.
    pub log: Arc<Mutex<ReloadLog>>,
}

/// An API reload: answered with `Ok` once the new version went to the running pipeline,
/// or with the reason it was refused.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// The reloads of one pipeline.
#[derive(Debug, Default, Clone)]
pub struct ReloadLog {
    /// New versions handed to the running pipeline.
    pub applied: u64,
    /// Versions refused (the old one kept running).
    pub refused: u64,
    /// The last attempt: when (ns since the epoch), why, and its error if refused.
    pub last: Option<(i64, &'static str, Option<String>)>,
}

/// Watches `files` for the pipeline in `file` until `to` closes; sends
/// each valid new version to `to`. `triggers` delivers SIGHUP and API requests.
pub async fn watch(
    file: PathBuf,
    mut files: Vec<PathBuf>,
    data_dir: Option<PathBuf>,
    engine: PluginEngine,
    mut triggers: Triggers,
    to: mpsc::Sender<BuiltPipeline>,
) {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let _ = events_tx.send(event.paths);
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::error!(file = %file.display(), %error, "cannot watch for changes; reload with SIGHUP or the API");
            None
        }
    };
    let mut dirs = HashSet::new();
    if let Some(watcher) = &mut watcher {
        watch_dirs(watcher, &files, &mut dirs);
    }
    loop {
        let (reason, reply) = tokio::select! {
            _ = to.closed() => return,
            got = triggers.hup.recv() => match got {
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => ("SIGHUP", None),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            Some(reply) = triggers.requests.recv() => ("API request", Some(reply)),
            Some(paths) = events.recv() => {
                if !paths.iter().any(|p| is_watched(p, &files)) {
                    continue;
                }
                // Let a burst of writes finish.
                tokio::time::sleep(SETTLE).await;
                while events.try_recv().is_ok() {}
                ("file changed", None)
            }
        };
        tracing::info!(file = %file.display(), reason, "reloading");
        let outcome = match build(file.clone(), data_dir.clone(), engine.clone()).await {
            Ok(built) => {
                files = watched_files(built.pipeline());
                if let Some(watcher) = &mut watcher {
                    watch_dirs(watcher, &files, &mut dirs);
                }
                if to.send(built).await.is_err() {
                    return;
                }
                Ok(())
            }
            Err(error) => {
                tracing::error!(file = %file.display(), "reload refused, the running pipeline is unchanged: {error}");
                Err(error)
            }
        };
        {
            let mut log = triggers.log.lock().unwrap_or_else(|e| e.into_inner());
            match &outcome {
                Ok(()) => log.applied += 1,
                Err(_) => log.refused += 1,
            }
            log.last = Some((sluice_event::now_ns(), reason, outcome.clone().err()));
        }
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}

fn watch_dirs(watcher: &mut impl Watcher, files: &[PathBuf], dirs: &mut HashSet<PathBuf>) {
    for file in files {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if dirs.contains(&dir) {
            continue;
        }
        match watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                dirs.insert(dir);
            }
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot watch directory for changes")
            }
        }
    }
}

/// Whether an event's path is one of the watched files (compared by
/// directory and name, so a relative and an absolute spelling match).
fn is_watched(path: &Path, files: &[PathBuf]) -> bool {
    let canonical = |p: &Path| -> Option<PathBuf> {
        let dir = p.parent()?.canonicalize().ok()?;
        Some(dir.join(p.file_name()?))
    };
    let Some(path) = canonical(path) else {
        return false;
    };
    files.iter().any(|f| canonical(f).as_deref() == Some(&path))
}
