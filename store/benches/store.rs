//! The store benchmark: ingest, disk, query latency and freshness over the benchmark corpus
//! (`bench/gen-corpus`: loghub lines replayed with fresh timestamps and real fields), each
//! against a baseline measured in the same run. Prints markdown tables.
//!
//! ```sh
//! cargo bench -p sluice-store --bench store          # or bench/store.sh
//! ```
//!
//! Environment: `SLUICE_BENCH_EVENTS` (default 10,000,000), `SLUICE_BENCH_BATCH` (events per
//! append, 1000), `SLUICE_BENCH_SEED` (1), `SLUICE_BENCH_DIR` (where the store, the tantivy
//! baseline and the raw file go; default a fresh directory under the target dir),
//! `SLUICE_BENCH_KEEP=1` (keep it), `SLUICE_BENCH_RUNS` (query runs, 25),
//! `SLUICE_BENCH_RG_RUNS` (7), `SLUICE_BENCH_FRESH_SECS` (20), `SLUICE_BENCH_SYNC`
//! (`always`, the store's default, or `interval`: fsync at most every second),
//! `SLUICE_BENCH_SECTIONS` (a comma list of `ingest`, `queries`, `freshness`; default all).
//! Without `ingest`, `SLUICE_BENCH_DIR` must hold a run kept with `SLUICE_BENCH_KEEP=1`, whose
//! store and raw file the other sections then use as they are.
//!
//! - **Ingest**: the corpus through `Store::append` in batches (store defaults: a background
//!   thread flushes at 100k rows and merges), then `flush`; then the store is reopened with
//!   `merge_min_segments = 2` and `merge` runs until nothing is left to merge. Baseline: tantivy alone indexing the same documents (message TEXT with
//!   positions; level, service, host, component STRING; pid i64 indexed; timestamp i64 fast;
//!   level and service also fast; nothing stored), one commit at the end. CPU seconds come from
//!   `getrusage(RUSAGE_SELF)` (every thread), minus the CPU the corpus generator itself used
//!   (measured alone first), so "per core" is events per CPU second.
//! - **Disk**: every file under `<dir>/bench/` except `wal/` (which is empty once every
//!   segment is in the catalog), by kind, divided by the raw text file's size (the messages,
//!   one per line).
//! - **Queries**: p50/p95 of `SLUICE_BENCH_RUNS` runs after 3 warm-ups, through
//!   `sluice_query::parse_until_pipe` + `Store::search` (100 hits) or `Store::aggregate`.
//!   Baseline: `rg -c` over the raw file (from the page cache) for the nearest equivalent.
//! - **Freshness**: one thread appends 10,000 events/s (batches of 100) with a unique marker
//!   every 10th batch; another searches for each marker from the moment its append returned
//!   until it is found.

use anyhow::{bail, Context as _, Result};
use sluice_event::Event;
use sluice_gen_corpus::{default_loghub_dir, Corpus, Spec};
use sluice_store::{SearchRequest, Store, StoreOptions, SyncMode};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const INDEX: &str = "bench";
const HOUR: i64 = 3_600_000_000_000;

/// A benchmark query: name, query text, time range, and the `rg` arguments that match it.
type QuerySpec = (&'static str, String, (i64, i64), Vec<String>);

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// CPU seconds used by the whole process so far (user + system, every thread).
fn cpu_seconds() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn walk(p: &Path, f: &mut impl FnMut(&Path, u64)) {
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(&path, f);
        } else if let Ok(m) = e.metadata() {
            f(&path, m.len());
        }
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    walk(p, &mut |_, len| n += len);
    n
}

/// What a file of a segment holds (tantivy's files by extension).
fn kind(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    if rel.starts_with("wal") {
        return "wal/".into();
    }
    let name = path.file_name().map_or("".into(), |n| n.to_string_lossy());
    let ext = path.extension().map_or("".into(), |x| x.to_string_lossy());
    match ext.as_ref() {
        "idx" => "tantivy .idx (postings)".into(),
        "pos" => "tantivy .pos (positions)".into(),
        "term" => "tantivy .term (term dictionary)".into(),
        "store" => "tantivy .store (stored fields)".into(),
        "fast" => "tantivy .fast (fast fields)".into(),
        "fieldnorm" => "tantivy .fieldnorm".into(),
        "arrow" => "rows.arrow".into(),
        _ if name == "meta.json" && rel.components().count() > 3 => {
            "tantivy meta.json + .managed.json".into()
        }
        _ if name == ".managed.json" => "tantivy meta.json + .managed.json".into(),
        _ if name == "meta.json" => "segment meta.json".into(),
        _ if name == "catalog.json" => "catalog.json".into(),
        _ => format!("other ({name})"),
    }
}

struct Stage {
    wall: f64,
    cpu: f64,
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Stage)> {
    let (t, c) = (Instant::now(), cpu_seconds());
    let v = f()?;
    Ok((
        v,
        Stage {
            wall: t.elapsed().as_secs_f64(),
            cpu: cpu_seconds() - c,
        },
    ))
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let events: u64 = env("SLUICE_BENCH_EVENTS", 10_000_000);
    let batch: usize = env("SLUICE_BENCH_BATCH", 1000);
    let seed: u64 = env("SLUICE_BENCH_SEED", 1);
    let runs: usize = env("SLUICE_BENCH_RUNS", 25);
    let rg_runs: usize = env("SLUICE_BENCH_RG_RUNS", 7);
    let fresh_secs: u64 = env("SLUICE_BENCH_FRESH_SECS", 20);
    let sync = match std::env::var("SLUICE_BENCH_SYNC").as_deref() {
        Ok("interval") => SyncMode::Interval(Duration::from_secs(1)),
        _ => SyncMode::Always,
    };
    let dir = match std::env::var_os("SLUICE_BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/store-bench")
            .join(format!("run-{}", std::process::id())),
    };
    let sections: Vec<String> = std::env::var("SLUICE_BENCH_SECTIONS")
        .unwrap_or_else(|_| "ingest,queries,freshness".into())
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let wanted = |s: &str| sections.iter().any(|w| w == s);
    let loghub = default_loghub_dir();
    let spec = Spec::new(events, seed);
    let rg = find_rg()?;
    let raw_path = dir.join("corpus.log");
    let (store, n, raw_bytes) = if wanted("ingest") {
        ingest(&dir, &loghub, &spec, batch, sync, &raw_path, &rg)?
    } else {
        let raw_bytes = std::fs::metadata(&raw_path)
            .with_context(|| {
                format!(
                    "{}: no kept run here (SLUICE_BENCH_KEEP=1)",
                    raw_path.display()
                )
            })?
            .len();
        let store = Store::open(
            dir.join("store"),
            StoreOptions {
                sync,
                ..StoreOptions::default()
            },
        )?;
        let stats = store.stats(INDEX)?;
        let n = stats.segment_rows + stats.mem_rows;
        println!(
            "# Store benchmark on the kept run in {}: {n} events\n",
            dir.display()
        );
        (store, n, raw_bytes)
    };
    let raw_mb = raw_bytes as f64 / 1e6;
    // The corpus's end (the queries' "last 24 h"): the kept run's, since it moves every hour.
    let end_path = dir.join("corpus.end");
    let end: i64 = if wanted("ingest") {
        std::fs::write(&end_path, spec.end.to_string())?;
        spec.end
    } else {
        std::fs::read_to_string(&end_path)?.trim().parse()?
    };
    if wanted("queries") {
        queries(&store, end, &rg, &raw_path, runs, rg_runs, raw_mb)?;
    }
    let store = Arc::new(store);
    if wanted("freshness") {
        fresh(&store, &loghub, seed, fresh_secs, n, runs)?;
    }
    drop(store);
    // A kept run that these sections only read stays.
    if std::env::var_os("SLUICE_BENCH_KEEP").is_some() || !wanted("ingest") {
        eprintln!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    Ok(())
}

/// Generates the corpus (the raw file for rg), ingests it into a fresh store in `dir`, merges,
/// indexes it with tantivy alone, and prints the ingest and disk tables. Returns the store, the
/// events and the raw bytes.
#[allow(clippy::too_many_arguments)]
fn ingest(
    dir: &Path,
    loghub: &Path,
    spec: &Spec,
    batch: usize,
    sync: SyncMode,
    raw_path: &Path,
    rg: &Path,
) -> Result<(Store, u64, u64)> {
    if dir.join(INDEX).exists() || dir.join("tantivy").exists() {
        bail!("{} already holds a run; remove it first", dir.display());
    }
    std::fs::create_dir_all(dir)?;
    println!(
        "# Store benchmark: {} events, batches of {batch}, seed {}, sync {sync:?}, in {}\n",
        spec.events,
        spec.seed,
        dir.display()
    );
    println!(
        "rg: {} ({})\n",
        rg.display(),
        String::from_utf8_lossy(&Command::new(rg).arg("--version").output()?.stdout)
            .lines()
            .next()
            .unwrap_or("")
    );

    // The generator alone, writing the raw text file for rg.
    let ((n, raw_bytes), gen) = timed(|| {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(raw_path)?);
        let mut corpus = Corpus::open(loghub, spec)?;
        let mut buf = Vec::with_capacity(batch);
        let (mut n, mut bytes) = (0u64, 0u64);
        while corpus.fill(batch, &mut buf) {
            for e in &buf {
                out.write_all(e.message.as_bytes())?;
                out.write_all(b"\n")?;
                bytes += e.message.len() as u64 + 1;
            }
            n += buf.len() as u64;
        }
        out.flush()?;
        Ok((n, bytes))
    })?;
    let raw_mb = raw_bytes as f64 / 1e6;
    eprintln!(
        "generated {n} events, {raw_mb:.1} MB raw in {:.1} s",
        gen.wall
    );

    // Ingest into the store.
    let opts = StoreOptions {
        sync,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.join("store"), opts.clone())?;
    let (_, ingest) = timed(|| {
        let mut corpus = Corpus::open(loghub, spec)?;
        let mut buf = Vec::with_capacity(batch);
        let mut done = 0u64;
        let mut next_report = Instant::now() + Duration::from_secs(30);
        while corpus.fill(batch, &mut buf) {
            store.append(INDEX, &buf)?;
            done += buf.len() as u64;
            if Instant::now() >= next_report {
                eprintln!("  store: {done} appended");
                next_report += Duration::from_secs(30);
            }
        }
        store.flush(INDEX)?;
        Ok(())
    })?;
    eprintln!("store ingest {:.1} s", ingest.wall);
    // The final compaction: reopened with merge_min_segments = 2, so every run of small
    // segments that fits merge_target_rows is merged (with the default 8, a run of flushes
    // bigger than 1/8 of the target never reaches 8 segments within it and nothing merges).
    drop(store);
    let store = Store::open(
        dir.join("store"),
        StoreOptions {
            merge_min_segments: 2,
            ..opts
        },
    )?;
    let segments_before = store.stats(INDEX)?.segments;
    let (merges, merge) = timed(|| {
        let mut merges = 0;
        loop {
            let m = store.merge(INDEX)?;
            if m == 0 {
                break;
            }
            merges += m;
        }
        Ok(merges)
    })?;
    eprintln!("merge {:.1} s ({merges} merges)", merge.wall);

    // Baseline: tantivy alone.
    let tantivy_dir = dir.join("tantivy");
    let (_, tantivy) = timed(|| tantivy_alone(&tantivy_dir, loghub, spec, batch))?;
    eprintln!("tantivy alone {:.1} s", tantivy.wall);

    println!("## Ingest\n");
    println!(
        "Raw text: {raw_mb:.1} MB ({n} events, mean {:.0} bytes). CPU seconds exclude the corpus \
         generator's own ({:.1} s wall, {:.1} s CPU for this many events).\n",
        raw_bytes as f64 / n as f64,
        gen.wall,
        gen.cpu
    );
    println!("| | wall s | events/s | MB/s | CPU s | events/s per core | MB/s per core | ratio per core |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, s: &Stage, base: f64| {
        let cpu = (s.cpu - gen.cpu).max(1e-9);
        let per_core = n as f64 / cpu;
        println!(
            "| {name} | {:.1} | {:.0} | {:.1} | {:.1} | {:.0} | {:.1} | {:.2} |",
            s.wall,
            n as f64 / s.wall,
            raw_mb / s.wall,
            cpu,
            per_core,
            raw_mb / cpu,
            per_core / base
        );
        per_core
    };
    let base = n as f64 / (tantivy.cpu - gen.cpu).max(1e-9);
    row("tantivy alone (baseline; one commit)", &tantivy, base);
    row("store: append + flush", &ingest, base);
    let both = Stage {
        wall: ingest.wall + merge.wall,
        cpu: ingest.cpu + merge.cpu,
    };
    row(
        "store: append + flush + final merges (reopened, merge_min_segments = 2)",
        &both,
        base,
    );
    println!();

    // Disk.
    let root = dir.join("store").join(INDEX);
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    walk(&root, &mut |p, len| {
        *by_kind.entry(kind(p, &root)).or_default() += len
    });
    let wal = by_kind.remove("wal/").unwrap_or(0);
    let hot: u64 = by_kind.values().sum();
    let stats = store.stats(INDEX)?;
    let tantivy_bytes = dir_size(&tantivy_dir);
    println!("## Disk\n");
    println!(
        "Hot tier after the flush and the final merges ({segments_before} segments before, {merges} \
         merges, {:.0} s): {} segments. Counted: every file under `<data_dir>/{INDEX}/` except \
         `wal/` ({wal} bytes left there: the WAL keeps its current segment file).\n",
        merge.wall,
        stats.segments
    );
    println!("| part | bytes | ÷ raw |");
    println!("|---|---:|---:|");
    for (k, v) in &by_kind {
        println!("| {k} | {v} | {:.4} |", *v as f64 / raw_bytes as f64);
    }
    println!(
        "| **hot total** | **{hot}** | **{:.3}** |",
        hot as f64 / raw_bytes as f64
    );
    println!(
        "| tantivy alone (baseline index, nothing stored) | {tantivy_bytes} | {:.3} |",
        tantivy_bytes as f64 / raw_bytes as f64
    );
    println!();

    Ok((store, n, raw_bytes))
}

/// Runs the query table: each query against the store and its `rg` baseline.
fn queries(
    store: &Store,
    end: i64,
    rg: &Path,
    raw_path: &Path,
    runs: usize,
    rg_runs: usize,
    raw_mb: f64,
) -> Result<()> {
    // Queries.
    let day = 24 * HOUR;
    let queries: Vec<QuerySpec> = vec![
        (
            "rare term",
            "blk_2380775154966815858".into(),
            (i64::MIN, i64::MAX),
            vec![
                "-c".into(),
                "-i".into(),
                "-w".into(),
                "blk_2380775154966815858".into(),
            ],
        ),
        (
            "phrase",
            "\"failed password for invalid user\"".into(),
            (i64::MIN, i64::MAX),
            vec![
                "-c".into(),
                "-i".into(),
                "failed password for invalid user".into(),
            ],
        ),
        (
            "field filter + time range (last 24 h)",
            "level:ERROR AND service:hadoop".into(),
            (end - day, end + 1),
            vec!["-c".into(), " ERROR ".into()],
        ),
        (
            "stats count() by level",
            "* | stats count() by level".into(),
            (i64::MIN, i64::MAX),
            vec!["-c".into(), "".into()],
        ),
        (
            "timechart 1h (7 days)",
            "* | timechart 1h count()".into(),
            (i64::MIN, i64::MAX),
            vec!["-c".into(), "".into()],
        ),
    ];
    println!("## Query latency\n");
    println!(
        "{runs} runs each after 3 warm-ups (5 for a query slower than 2 s); searches return 100 hits and an exact total. `rg` \
         ({rg_runs} runs after one warm-up) reads the {raw_mb:.0} MB raw file from the page cache; \
         for the field filter it counts lines with ` ERROR ` (it cannot filter by field or time), \
         for the aggregations it counts every line (`rg -c ''`: the least any grep must do).\n"
    );
    println!("| query | store p50 ms | store p95 ms | matched | rg command | rg p50 ms | rg p95 ms | rg count | rg p50 ÷ store p50 |");
    println!("|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for (name, text, (from, to), rg_args) in &queries {
        let (query, pipe_at) = sluice_query::parse_until_pipe(text)
            .map_err(|e| anyhow::anyhow!("{text}: {}", e.message))?;
        let pipe = (pipe_at < text.len())
            .then(|| sluice_store::parse_pipe(text, pipe_at))
            .transpose()?;
        let mut req = SearchRequest::new(query);
        req.from = *from;
        req.to = *to;
        let mut matched = 0u64;
        let mut run = || -> Result<f64> {
            let t = Instant::now();
            matched = match &pipe {
                Some(p) => store.aggregate(INDEX, &req, p)?.matched,
                None => store.search(INDEX, &req)?.total,
            };
            Ok(t.elapsed().as_secs_f64() * 1e3)
        };
        let mut warm = 0.0;
        for _ in 0..3 {
            warm = run()?;
        }
        // A query slower than 2 s gets 5 runs (said in the table), so 10M events fit in time.
        let n_runs = if warm > 2000.0 { 5 } else { runs };
        let times = sorted((0..n_runs).map(|_| run()).collect::<Result<Vec<_>>>()?);
        let mut count = String::new();
        let mut rg_run = || -> Result<f64> {
            let t = Instant::now();
            let out = Command::new(rg).args(rg_args).arg(raw_path).output()?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            count = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            Ok(ms)
        };
        rg_run()?;
        let rg_times = sorted((0..rg_runs).map(|_| rg_run()).collect::<Result<Vec<_>>>()?);
        let shown: Vec<String> = rg_args
            .iter()
            .map(|a| {
                if a.contains(' ') || a.is_empty() {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect();
        println!(
            "| {name}: `{text}`{} | {:.1} | {:.1} | {matched} | `rg {}` | {:.0} | {:.0} | {} | {:.1}× |",
            if n_runs < runs { format!(" ({n_runs} runs)") } else { String::new() },
            quantile(&times, 0.5),
            quantile(&times, 0.95),
            shown.join(" "),
            quantile(&rg_times, 0.5),
            quantile(&rg_times, 0.95),
            if count.is_empty() { "0" } else { &count },
            quantile(&rg_times, 0.5) / quantile(&times, 0.5)
        );
    }
    println!();

    Ok(())
}

/// Runs the freshness table.
fn fresh(
    store: &Arc<Store>,
    loghub: &Path,
    seed: u64,
    fresh_secs: u64,
    n: u64,
    runs: usize,
) -> Result<()> {
    // Freshness.
    let (fresh, steady) = freshness(store, loghub, seed, fresh_secs)?;
    let search_alone = {
        let mut req = SearchRequest::new(sluice_query::parse("fm99999999")?);
        req.limit = 100;
        let times = sorted(
            (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    store.search(INDEX, &req)?;
                    Ok(t.elapsed().as_secs_f64() * 1e3)
                })
                .collect::<Result<Vec<_>>>()?,
        );
        quantile(&times, 0.5)
    };
    println!("## Freshness\n");
    println!(
        "While one thread appends {steady:.0} events/s (batches of 100) to the {n}-event index, \
         another searches for each batch's marker from the moment its append returned until \
         the search finds it. Baseline: one search for an absent term, p50, after the run.\n"
    );
    println!("| samples | p50 ms | p99 ms | max ms | baseline: one search, p50 ms |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {:.1} | {:.1} | {:.1} | {search_alone:.1} |",
        fresh.len(),
        quantile(&fresh, 0.5),
        quantile(&fresh, 0.99),
        fresh.last().copied().unwrap_or(f64::NAN)
    );
    println!();

    Ok(())
}

fn find_rg() -> Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ensure-tool");
    let out = Command::new(&script)
        .arg("ripgrep")
        .output()
        .with_context(|| format!("run {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "ensure-tool ripgrep failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn tantivy_alone(dir: &Path, loghub: &Path, spec: &Spec, batch: usize) -> Result<()> {
    use tantivy::schema::{NumericOptions, Schema, FAST, INDEXED, STRING, TEXT};
    std::fs::create_dir_all(dir)?;
    let mut b = Schema::builder();
    let message = b.add_text_field("message", TEXT);
    let level = b.add_text_field("level", STRING | FAST);
    let service = b.add_text_field("service", STRING | FAST);
    let host = b.add_text_field("host", STRING);
    let component = b.add_text_field("component", STRING);
    let pid = b.add_i64_field("pid", INDEXED);
    let timestamp = b.add_i64_field("timestamp", NumericOptions::default().set_fast());
    let index = tantivy::Index::create_in_dir(dir, b.build())?;
    let mut writer: tantivy::IndexWriter = index.writer(256 << 20)?;
    let mut corpus = Corpus::open(loghub, spec)?;
    let mut buf: Vec<Event> = Vec::with_capacity(batch);
    while corpus.fill(batch, &mut buf) {
        for e in &buf {
            let mut doc = tantivy::TantivyDocument::new();
            doc.add_text(message, &e.message);
            doc.add_i64(timestamp, e.timestamp);
            for (name, v) in e.fields.iter() {
                let field = match name {
                    "level" => level,
                    "service" => service,
                    "host" => host,
                    "component" => component,
                    "pid" => {
                        if let sluice_event::Value::Int(i) = v {
                            doc.add_i64(pid, *i);
                        }
                        continue;
                    }
                    _ => continue,
                };
                if let Some(s) = v.as_str() {
                    doc.add_text(field, s);
                }
            }
            writer.add_document(doc)?;
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}

/// Returns the sorted latencies (ms) from an append's return to its marker being found, and
/// the append rate reached.
fn freshness(store: &Arc<Store>, loghub: &Path, seed: u64, secs: u64) -> Result<(Vec<f64>, f64)> {
    let (tx, rx) = mpsc::channel::<(u64, Instant)>();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = store.clone();
        let stop = stop.clone();
        let spec = Spec::new(u64::MAX, seed + 1);
        let loghub = loghub.to_path_buf();
        std::thread::spawn(move || -> Result<f64> {
            let mut corpus = Corpus::open(&loghub, &spec)?;
            let mut buf = Vec::with_capacity(100);
            let start = Instant::now();
            let mut sent = 0u64;
            let mut k = 0u64;
            for i in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // 100 batches of 100 a second, on a fixed schedule.
                let due = start + Duration::from_millis(10 * i);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                corpus.fill(100, &mut buf);
                let now = sluice_event::now_ns();
                for e in buf.iter_mut() {
                    e.timestamp = now;
                }
                let marker = i % 10 == 0;
                if marker {
                    buf[0].message = format!("freshness marker fm{k:08} {}", buf[0].message);
                }
                store.append(INDEX, &buf)?;
                sent += buf.len() as u64;
                if marker {
                    let _ = tx.send((k, Instant::now()));
                    k += 1;
                }
            }
            Ok(sent as f64 / start.elapsed().as_secs_f64())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut lat = Vec::new();
    while Instant::now() < deadline {
        let Ok((k, at)) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let mut req = SearchRequest::new(sluice_query::parse(&format!("fm{k:08}"))?);
        req.limit = 1;
        loop {
            if store.search(INDEX, &req)?.total > 0 {
                lat.push(at.elapsed().as_secs_f64() * 1e3);
                break;
            }
            if at.elapsed() > Duration::from_secs(30) {
                bail!("marker fm{k:08} not visible after 30 s");
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rate = writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    Ok((sorted(lat), rate))
}
