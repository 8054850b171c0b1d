//! The `sluice` command line.
//!
//! Logs go to stderr through `tracing`; stdout belongs to the `console` sink.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use sluice::admin::{PipelineStatus, RuntimeAdmin, State};
use sluice::client::Output;
use sluice::config::{self, SinkKind};
use sluice::metrics::Registry;
use sluice::plugin::PluginEngine;
use sluice::topology::{self, BuiltPipeline};
use sluice_io::sinks::store::{open_shared, store_dir, StoreConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Run declarative log pipelines whose stages are WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one or more pipeline files until their sources end or Ctrl-C.
    ///
    /// Each file is its own pipeline; they run side by side.
    Run {
        /// Pipeline TOML files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where checkpoints live; overrides the files' `data_dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Validate pipeline files without running them.
    ///
    /// Checks keys, wiring and cycles, then compiles every plugin and has it
    /// validate its own config.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the `[[tests]]` of pipeline files: their input lines go through the
    /// real plugins, and what the sink receives is compared with the
    /// expected outputs.
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the store and its query API: `POST /api/v1/ingest?index=I` (plain
    /// lines, NDJSON or a JSON array; answered once the index's WAL holds
    /// the events), `GET /api/v1/search`, `GET /api/v1/context/{id}`,
    /// `GET /health`.
    Serve {
        /// Where the indexes live (`<data-dir>/<index>/`).
        #[arg(long, default_value = ".sluice/store")]
        data_dir: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:7280")]
        listen: std::net::SocketAddr,
        /// A TOML file with a `[store]` table: retention per index and
        /// cold storage, as in a pipeline.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A token file (`[[tokens]]` with scopes and indexes): every
        /// endpoint but /health and /ready then needs a token.
        #[arg(long)]
        auth: Option<PathBuf>,
        /// The largest request body, e.g. 64MiB (the default).
        #[arg(long, value_parser = parse_size)]
        max_body: Option<u64>,
    },
    /// Inspect or repair a disk buffer (a `sluice-wal` directory).
    Buffer {
        #[command(subcommand)]
        action: BufferAction,
    },
    /// Search a running server's store (`sluice serve`, or a pipeline's `[api]`).
    ///
    /// QUERY is in the search language (`level:ERROR AND service:payments`), and may end
    /// in an aggregation pipe (`| stats count() by service`).
    Search {
        /// The query; `*` for everything.
        query: String,
        #[command(flatten)]
        server: ServerArgs,
        /// The index; optional when the server has only one.
        #[arg(long, short)]
        index: Option<String>,
        /// How far back to look (`15m`, `1h`, `7d`).
        #[arg(long, conflicts_with = "from")]
        since: Option<String>,
        /// Start of the time range: RFC 3339, epoch milliseconds or `now-1h`.
        #[arg(long)]
        from: Option<String>,
        /// End of the time range (default: now).
        #[arg(long)]
        to: Option<String>,
        /// At most this many hits, newest first.
        #[arg(long, short = 'n', default_value_t = 100)]
        limit: usize,
        /// table (coloured on a terminal), json or ndjson.
        #[arg(long, short, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Follow new events on a running server as they arrive (live tail over WebSocket),
    /// filtered there by the query, until Ctrl-C.
    Tail {
        /// The filter, in the search language (default: everything).
        #[arg(default_value = "*")]
        query: String,
        #[command(flatten)]
        server: ServerArgs,
        /// The index; optional when the server has only one.
        #[arg(long, short)]
        index: Option<String>,
        /// Only this service (`service:NAME`).
        #[arg(long)]
        service: Option<String>,
        /// Only this level and above (`level:>=LEVEL`).
        #[arg(long)]
        level: Option<String>,
        /// table (coloured on a terminal) or ndjson (json is the same as ndjson here).
        #[arg(long, short, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// List the built-in plugins and what they accept.
    Plugins {
        /// Print the describe() output as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which server `search` and `tail` talk to.
#[derive(clap::Args)]
struct ServerArgs {
    /// The server's address.
    #[arg(long, env = "SLUICE_SERVER", default_value = "http://127.0.0.1:7280")]
    server: String,
    /// A bearer token, when the server requires one.
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum BufferAction {
    /// Read every frame and report good, corrupt and torn ones; changes nothing.
    /// Exits 1 when the buffer is damaged.
    Verify { path: PathBuf },
    /// Rewrite damaged segments without their bad frames and cut torn tails.
    Repair { path: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // Building happens outside the async runtime: a plugin's `configure` may
    // use WASI (grok reading `patterns_dir`), whose sync bindings block on
    // their own runtime.
    let result = match cli.command {
        Command::Run { files, data_dir } => run(&files, data_dir.as_deref()),
        Command::Check { files } => check(&files),
        Command::Test { files } => test(&files),
        Command::Plugins { json } => plugins(json),
        Command::Tail {
            query,
            server,
            index,
            service,
            level,
            output,
        } => tail(&query, &server, index, service, level, output),
        Command::Search {
            query,
            server,
            index,
            since,
            from,
            to,
            limit,
            output,
        } => {
            let from = since.map(|s| format!("now-{s}")).or(from);
            search(&query, &server, index, from, to, limit, output)
        }
        Command::Buffer { action } => buffer(action),
        Command::Serve {
            data_dir,
            listen,
            config,
            tls_cert,
            tls_key,
            auth,
            max_body,
        } => serve(
            &data_dir,
            &config::ApiConfig {
                address: listen,
                tls_cert,
                tls_key,
                auth,
                max_body,
                max_search_timeout: None,
                max_scan_budget: None,
            },
            config.as_deref(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn engine() -> Result<PluginEngine> {
    Ok(PluginEngine::new(PluginEngine::default_cache_dir())?)
}

/// Loads and builds every file, reporting every broken file, not just the first.
fn build_all(
    files: &[PathBuf],
    data_dir: Option<&Path>,
    engine: &PluginEngine,
) -> Result<Vec<BuiltPipeline>> {
    let mut built = Vec::new();
    let mut failures = 0;
    for file in files {
        match config::load(file, data_dir).and_then(|p| topology::build(p, engine)) {
            Ok(b) => built.push(b),
            Err(e) => {
                eprintln!("error: {e}");
                failures += 1;
            }
        }
    }
    if failures > 0 {
        bail!("{failures} of {} pipeline file(s) are invalid", files.len());
    }
    Ok(built)
}

fn check(files: &[PathBuf]) -> Result<()> {
    let engine = engine()?;
    for built in build_all(files, None, &engine)? {
        let p = built.pipeline();
        println!(
            "ok: {} ({} sources, {} transforms, {} sinks)",
            p.file.display(),
            p.sources.len(),
            p.transforms.len(),
            p.sinks.len()
        );
    }
    Ok(())
}

fn test(files: &[PathBuf]) -> Result<()> {
    let engine = engine()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        let pipeline = match config::load(file, None) {
            Ok(pipeline) => pipeline,
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
                continue;
            }
        };
        if pipeline.tests.is_empty() {
            println!("{}: no tests", file.display());
            continue;
        }
        let outcomes = match sluice::pipeline_test::run_tests(&pipeline, &engine, &runtime) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
                continue;
            }
        };
        for outcome in outcomes {
            if outcome.failures.is_empty() {
                println!("test {}: {} ... ok", file.display(), outcome.name);
                passed += 1;
            } else {
                println!("test {}: {} ... FAILED", file.display(), outcome.name);
                for failure in &outcome.failures {
                    println!("    {failure}");
                }
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} test(s) failed");
    }
    Ok(())
}

fn run(files: &[PathBuf], data_dir: Option<&Path>) -> Result<()> {
    let engine = engine()?;
    let started = std::time::Instant::now();
    let built = build_all(files, data_dir, &engine)?;
    tracing::info!(
        pipelines = built.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "pipelines built"
    );
    let reload = Reload {
        data_dir: data_dir.map(Path::to_path_buf),
        engine,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_built(built, reload))
}

/// What a running process needs to rebuild its pipelines on a reload.
struct Reload {
    data_dir: Option<PathBuf>,
    engine: PluginEngine,
}

async fn run_built(built: Vec<BuiltPipeline>, reload: Reload) -> Result<()> {
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            "shutting down: sources stop, everything in flight drains (signal again to exit now)"
        );
        let _ = stop.send(true);
        wait_for_signal().await;
        std::process::exit(130);
    });

    // One registry for the process; each `[api]` address is served once and
    // stops when the pipelines have ended. It serves /metrics, and the query
    // API over the store of the first pipeline there with a `store` sink.
    let registry = Arc::new(Registry::default());
    // What `/api/v1/pipelines` reports, and how it reaches each pipeline's watcher.
    let mut reload_requests = Vec::new();
    let statuses: Vec<Arc<PipelineStatus>> = built
        .iter()
        .map(|b| {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            reload_requests.push(rx);
            Arc::new(PipelineStatus::new(b.pipeline(), tx))
        })
        .collect();
    let admin: Arc<dyn sluice_server::Admin> =
        Arc::new(RuntimeAdmin::new(statuses.clone(), reload.engine.clone()));
    let (api_stop, api_shutdown) = watch::channel(false);
    // Pipelines sharing an address must secure it the same way. Per address: its `[api]`,
    // the file that gave it, and the store it serves.
    type Listener<'p> = (
        &'p config::ApiConfig,
        &'p Path,
        Option<(PathBuf, StoreConfig)>,
    );
    let mut apis: Vec<Listener> = Vec::new();
    for pipeline in built.iter().map(BuiltPipeline::pipeline) {
        let Some(api) = &pipeline.api else { continue };
        let store = pipeline
            .sinks
            .iter()
            .any(|s| matches!(s.kind, SinkKind::Store(_)))
            .then(|| (store_dir(&pipeline.data_dir), pipeline.store.clone()));
        match apis
            .iter_mut()
            .find(|(config, _, _)| config.address == api.address)
        {
            Some((config, first, dir)) => {
                if *config != api {
                    bail!(
                        "[api] {} is set differently in {} and {}: pipelines sharing an address need the same [api] table",
                        api.address,
                        first.display(),
                        pipeline.file.display()
                    );
                }
                if dir.is_none() {
                    *dir = store;
                }
            }
            None => apis.push((api, &pipeline.file, store)),
        }
    }
    for (api, file, store) in apis {
        let address = api.address;
        let options = api
            .server_options()
            .with_context(|| format!("[api] of {}", file.display()))?;
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} for [api]"))?;
        let store = match store {
            Some((dir, config)) => Some(
                tokio::task::spawn_blocking(move || {
                    open_shared(&dir, &config)
                        .with_context(|| format!("cannot open the store in {}", dir.display()))
                })
                .await??,
            ),
            None => None,
        };
        let metrics = registry.clone();
        let api = sluice_server::Api {
            store,
            metrics: Some(Arc::new(move || metrics.render())),
            admin: Some(admin.clone()),
            options,
        };
        tokio::spawn(sluice_server::serve(api, listener, api_shutdown.clone()));
    }

    // SIGHUP reloads every pipeline; so does a change to its files.
    let (hup_tx, _) = tokio::sync::broadcast::channel(4);
    #[cfg(unix)]
    {
        let hup_tx = hup_tx.clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot handle SIGHUP")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = hup_tx.send(());
            }
        });
    }

    let mut runs = tokio::task::JoinSet::new();
    for ((pipeline, status), requests) in built.into_iter().zip(statuses).zip(reload_requests) {
        let file = pipeline.pipeline().file.clone();
        let (reload_tx, mut reloads) = tokio::sync::mpsc::channel(1);
        let triggers = sluice::reload::Triggers {
            hup: hup_tx.subscribe(),
            requests,
            log: status.reloads.clone(),
        };
        tokio::spawn(sluice::reload::watch(
            file.clone(),
            sluice::reload::watched_files(pipeline.pipeline()),
            reload.data_dir.clone(),
            reload.engine.clone(),
            triggers,
            reload_tx,
        ));
        let shutdown = shutdown.clone();
        let registry = registry.clone();
        runs.spawn(async move {
            let mut pipeline = pipeline;
            loop {
                status.set_state(State::Running);
                let run =
                    pipeline.run_reloadable(shutdown.clone(), registry.clone(), Some(&mut reloads));
                match run.await {
                    Ok(Some(next)) => {
                        status.set_pipeline(next.pipeline());
                        pipeline = next;
                    }
                    Ok(None) => {
                        status.set_state(State::Stopped);
                        return (file, Ok(()));
                    }
                    Err(e) => {
                        status.set_state(State::Failed(e.to_string()));
                        return (file, Err(e));
                    }
                }
            }
        });
    }
    let mut failed = false;
    while let Some(done) = runs.join_next().await {
        let (file, result) = done.context("pipeline task panicked")?;
        if let Err(e) = result {
            eprintln!("error: {}: {e}", file.display());
            failed = true;
        }
    }
    let _ = api_stop.send(true);
    if failed {
        bail!("a pipeline failed");
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The `[store]` table of `file` (nothing else is allowed there).
fn store_config(file: &Path) -> Result<StoreConfig> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        store: StoreConfig,
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed: File =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok(parsed.store)
}

fn parse_size(text: &str) -> Result<u64, String> {
    sluice_io::buffer::parse_byte_size(text)
        .ok_or_else(|| format!("invalid size {text:?}; expected bytes, e.g. 1048576 or 64MiB"))
}

fn serve(data_dir: &Path, api: &config::ApiConfig, config: Option<&Path>) -> Result<()> {
    let started = std::time::Instant::now();
    let listen = api.address;
    let options = api.server_options()?;
    let config = config.map(store_config).transpose()?.unwrap_or_default();
    let store = open_shared(data_dir, &config)
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
    tracing::info!(
        data_dir = %data_dir.display(),
        indexes = store.indexes().len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "store open"
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let (stop, shutdown) = watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down");
                let _ = stop.send(true);
            });
            let api = sluice_server::Api {
                options,
                ..sluice_server::Api::store(store)
            };
            sluice_server::serve(api, listener, shutdown).await;
            Ok(())
        })
}

fn buffer(action: BufferAction) -> Result<()> {
    match action {
        BufferAction::Verify { path } => {
            let report = sluice_wal::verify(&path)
                .with_context(|| format!("cannot verify {}", path.display()))?;
            println!("{report}");
            if !report.is_clean() {
                bail!(
                    "{} is damaged; `sluice buffer repair` rewrites it without the bad frames",
                    path.display()
                );
            }
        }
        BufferAction::Repair { path } => {
            let report = sluice_wal::repair(&path)
                .with_context(|| format!("cannot repair {}", path.display()))?;
            println!("{report}");
        }
    }
    Ok(())
}

/// `sluice search`: one request, printed.
fn search(
    query: &str,
    server: &ServerArgs,
    index: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: usize,
    output: Output,
) -> Result<()> {
    use sluice::client::{encode, render};
    with_server(server, index, |server, index| async move {
        let mut target = format!(
            "/api/v1/search?index={}&q={}&limit={limit}",
            encode(&index),
            encode(query)
        );
        for (key, value) in [("from", &from), ("to", &to)] {
            if let Some(value) = value {
                target.push_str(&format!("&{key}={}", encode(value)));
            }
        }
        let answer = server.get_json(&target).await?;
        print!("{}", render(&answer, output, stdout_colour()));
        if output == Output::Table && answer["partial"] == true {
            eprintln!("(partial: the search stopped at its deadline or scan budget)");
        }
        Ok(())
    })
}

/// Runs `f` with the server of `args` and the index to use (the given one, or the server's
/// only index) on a small runtime of its own.
fn with_server<F, Fut>(args: &ServerArgs, index: Option<String>, f: F) -> Result<()>
where
    F: FnOnce(sluice::client::Server, String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let server = sluice::client::Server::parse(&args.server, args.token.clone())?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let index = match index {
                Some(index) => index,
                None => only_index(&server).await?,
            };
            f(server, index).await
        })
}

/// Colour on a terminal, unless `NO_COLOR` is set.
fn stdout_colour() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none()
}

/// `sluice tail`: prints matching events as the server sends them, until Ctrl-C.
fn tail(
    query: &str,
    server: &ServerArgs,
    index: Option<String>,
    service: Option<String>,
    level: Option<String>,
    output: Output,
) -> Result<()> {
    use sluice::client::{encode, TailMessage};
    use std::io::Write;
    let mut clauses = vec![format!("({query})")];
    if let Some(service) = service {
        clauses.push(format!("service:\"{}\"", service.replace('"', "\\\"")));
    }
    if let Some(level) = level {
        clauses.push(format!("level:>={level}"));
    }
    let query = clauses.join(" AND ");
    with_server(server, index, |server, index| async move {
        let target = format!("/api/v1/tail?index={}&q={}", encode(&index), encode(&query));
        let session = server.tail(&target, output, stdout_colour(), |message| {
            let mut stdout = std::io::stdout().lock();
            match message {
                TailMessage::Events(text) => stdout.write_all(text.as_bytes()).is_ok(),
                TailMessage::Skipped(n) => {
                    eprintln!("… the server skipped {n} events: this terminal read too slowly");
                    true
                }
            }
        });
        tokio::select! {
            ended = session => ended?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(())
    })
}

/// The server's only index, or an error listing them.
async fn only_index(server: &sluice::client::Server) -> Result<String> {
    let answer = server.get_json("/api/v1/indexes").await?;
    let names: Vec<String> = answer["indexes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str().map(str::to_owned))
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("{} has no index yet", server.url),
        many => bail!("choose an index with --index: {}", many.join(", ")),
    }
}

fn plugins(json: bool) -> Result<()> {
    let all = sluice::admin::describe_builtins(&engine()?)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    for info in &all {
        let text = |key: &str| info[key].as_str().unwrap_or_default().to_owned();
        println!(
            "{}  {} {}  ({})",
            text("plugin"),
            text("name"),
            text("version"),
            text("role")
        );
        if !text("description").is_empty() {
            println!("    {}", text("description"));
        }
        for key in info["config"].as_array().into_iter().flatten() {
            let required = if key["required"] == true {
                ", required"
            } else {
                ""
            };
            println!(
                "    config.{} ({}{required}): {}",
                key["name"].as_str().unwrap_or_default(),
                key["type"].as_str().unwrap_or_default(),
                key["description"].as_str().unwrap_or_default()
            );
        }
        let outputs: Vec<&str> = info["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str())
            .collect();
        println!("    outputs: main, {}", outputs.join(", "));
    }
    Ok(())
}
