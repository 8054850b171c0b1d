//! `sluice-store`: the Sluice segment store and its query engine (DESIGN §6), as a library.
//!
//! It is for keeping events per **index** durably and searching them:
//!
//! - [`Store::append`] writes a batch to the index's WAL (`sluice-wal`; fsync per
//!   [`SyncMode`]) and returns only once the WAL holds it, then makes it searchable at once in
//!   an in-memory segment;
//! - the in-memory segment is **flushed** every N rows, M bytes or S seconds (or on
//!   [`Store::flush`]) into an immutable segment: a tantivy index (message terms and positions
//!   through the query crate's own tokenizer, typed per-field views, fast fields for time, level
//!   and service) plus the rows as an LZ4-compressed Arrow IPC file and a `meta.json`;
//! - the **catalog** of live segments is replaced atomically, and the WAL is acknowledged only
//!   after it, so a crash at any point loses no acknowledged event and duplicates none
//!   (recovery replays the WAL after the catalog's position and deletes half-written segments);
//! - small segments are **merged** (crash-safely: write, swap the catalog, delete);
//! - **retention** ([`Retention`], per index, on a segment's newest event against
//!   [`StoreOptions::clock`]) moves segments hot → warm (merged, rows recompressed with zstd)
//!   → cold (uploaded to [`StoreOptions::cold`], an `object_store` local directory or S3) →
//!   deleted, each move copy, catalog swap, delete; it runs on the background thread every
//!   `retention_interval`, or now with [`Store::retain`]. Queries fetch the cold segments
//!   their time range and pruning need into an LRU on-disk cache and search them like local
//!   ones, so totals stay exact;
//! - [`Store::search`] answers a `sluice_query::Query` with an exact total, newest-first hits,
//!   stable cursors, a deadline and a scan budget; the index answers what it can exactly and
//!   the rest is checked with `Query::matches` on the rows, so results always equal evaluating
//!   the query on every event. [`Store::context`] gives the events around a hit from the same
//!   `source`. [`Store::aggregate`] runs `| stats`, `| timechart` and `| top` pipes;
//! - [`Store::subscribe`] is a **live tail**: each appended batch, shared (not copied) with
//!   the in-memory segment, goes to an index's subscribers through a tokio broadcast channel
//!   right after the WAL holds it, with its hit ids; a slow subscriber loses the oldest
//!   batches and is told how many events, and never slows appends (`tail.rs`).
//!
//! It is not: an HTTP server or ingest format parser (the server crate), or a distributed
//! system (segments and the catalog are files, so shipping them is left to object storage;
//! the catalog itself stays local).
//!
//! # Using it
//!
//! One [`Store`] per data directory (each index's WAL is locked, so a second process fails to
//! open it). Every method takes `&self` and blocks (fsync, tantivy, file reads): from async code
//! call it in `spawn_blocking`. An HTTP ingest answers 200 after [`Store::append`] returns.
//! Hit ids ([`Hit::id`]) and cursors are opaque strings, valid for their index across restarts.
//!
//! # Order and exactness
//!
//! Hits are newest first by `(timestamp, seq)`, where `seq` is a per-index sequence number
//! given at append (WAL record id and position); it survives flushes, merges and restarts, so
//! it is the stable tie-break (rather than a segment and row, which a merge changes). `total` is
//! always exact unless `partial`: the index counts what it answers exactly and every other
//! candidate is checked with `Query::matches`, and the in-memory segment is evaluated with
//! `Query::matches` directly.
//!
//! # On-disk layout
//!
//! ```text
//! <data_dir>/<index>/
//!   catalog.json            live segments, WAL position, detected schema, conflict count
//!   wal/                    sluice-wal log (records: batches of events, see codec.rs)
//!   segments/seg-<16 hex>/  one immutable segment
//!     index/                tantivy (schema.rs)
//!     rows.arrow            Arrow IPC file, LZ4_FRAME (rows.rs)
//!     meta.json             time and seq ranges, rows, bytes, per-field stats (segment.rs)
//!     hist.bin              events per minute and level, for timecharts (hist.rs; optional)
//!   cache/seg-<16 hex>/     fetched copy of a cold segment (cache.rs; `.part` while fetching)
//! <cold store>/[<prefix>/]<index>/seg-<16 hex>/...   a cold segment's files (tier.rs)
//! ```
//!
//! # Retention and crashes
//!
//! Each move writes the new copy first (a warm segment under a new id, or the objects of a
//! cold one), then swaps the catalog, then deletes the old copy; a deletion swaps the catalog
//! first. A crash leaves only files the catalog does not name: local segment directories are
//! deleted on open, objects under `<prefix>/<index>/` at the start of the next retention run
//! (the catalog entry of a cold segment holds its object key, file list and meta, so the
//! catalog alone says what is live). A cold segment is queryable as soon as its catalog entry
//! is swapped, from the object store.

mod agg;
mod cache;
mod catalog;
mod codec;
mod error;
mod failpoint;
mod fastagg;
mod hist;
mod index;
mod plan;
mod rows;
mod schema;
mod search;
mod segment;
mod tail;
mod tier;
mod tokenizer;

pub use agg::{parse_pipe, AggResult, Func, Pipe};
pub use cache::CacheStats;
pub use catalog::{Catalog, Entry as CatalogEntry};
pub use error::{Error, Result};
pub use index::IndexStats;
pub use search::{Context, Hit, SearchRequest, SearchResponse};
pub use segment::{FieldStats, SegmentMeta, TimeField};
pub use tail::{Appended, Received, Subscription};
pub use tier::RetentionReport;

use index::Index;
use sluice_event::Event;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// When the WAL is fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Before every `append` returns.
    Always,
    /// At most this long after an append (by the next append or the background thread);
    /// `append` returns once the data is written (it survives a process crash, not a power
    /// loss inside the interval).
    Interval(Duration),
}

impl SyncMode {
    fn policy(self) -> sluice_wal::SyncPolicy {
        match self {
            SyncMode::Always => sluice_wal::SyncPolicy::Always,
            SyncMode::Interval(d) => sluice_wal::SyncPolicy::Interval(d),
        }
    }
}

/// How a [`Store`] behaves.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub sync: SyncMode,
    /// Flush the in-memory segment at this many rows ... (at 4x this, or 4x `flush_bytes`,
    /// `append` flushes itself: backpressure)
    pub flush_rows: usize,
    /// ... or this many (encoded) bytes ...
    pub flush_bytes: usize,
    /// ... or when its oldest event is this old.
    pub flush_interval: Duration,
    /// Segments with fewer than half this many rows are small; runs of them are merged into
    /// segments of at most this many rows.
    pub merge_target_rows: u64,
    /// A run of this many small segments is merged.
    pub merge_min_segments: usize,
    /// Run flushes, merges and interval WAL syncs on a background thread. Without it,
    /// `append` flushes inline when a row or byte threshold is reached, and the caller runs
    /// [`Store::maintain`].
    pub background: bool,
    /// WAL segment file size.
    pub wal_segment_bytes: u64,
    /// Retention of every index without an entry in `retention_overrides`.
    pub retention: Retention,
    /// Retention per index name.
    pub retention_overrides: HashMap<String, Retention>,
    /// Where cold segments go. Required when any retention has `cold_after`.
    pub cold: Option<ColdStorage>,
    /// Bytes of cold segments kept in the on-disk cache (`<index>/cache/`), per index; least
    /// recently used segments are evicted past it. A single query that needs more keeps what
    /// it uses open until it ends.
    pub cache_bytes: u64,
    /// Warm segments are merged up to this many rows.
    pub warm_target_rows: u64,
    /// How often the background thread runs retention ([`Store::retain`] runs it now).
    pub retention_interval: Duration,
    /// "Now" for retention (tests inject their own).
    pub clock: Clock,
    /// Batches (WAL records) a live-tail subscriber may fall behind before it loses the
    /// oldest ([`Store::subscribe`]). They are shared with the in-memory segment, so a
    /// lagging subscriber keeps at most this many alive past a flush.
    pub tail_capacity: usize,
    /// A search or aggregation whose segments hold at least this many rows runs on every
    /// core (a thread per core for the query; fewer rows are not worth the threads), when no
    /// other one is running in the process. 0: every query, always (tests).
    pub parallel_rows: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sync: SyncMode::Always,
            flush_rows: 100_000,
            flush_bytes: 64 << 20,
            flush_interval: Duration::from_secs(10),
            merge_target_rows: 1_000_000,
            merge_min_segments: 8,
            background: true,
            wal_segment_bytes: 64 << 20,
            retention: Retention::default(),
            retention_overrides: HashMap::new(),
            cold: None,
            cache_bytes: 1 << 30,
            warm_target_rows: 4_000_000,
            retention_interval: Duration::from_secs(60),
            clock: Clock::system(),
            tail_capacity: 1024,
            parallel_rows: 1 << 18,
        }
    }
}

impl StoreOptions {
    /// The retention of `index`.
    pub fn retention_for(&self, index: &str) -> &Retention {
        self.retention_overrides
            .get(index)
            .unwrap_or(&self.retention)
    }
}

/// When an index's segments change tier. Each age is measured on a segment's newest event
/// (`max_timestamp`) against [`StoreOptions::clock`]; `None` skips that step. A segment past
/// `delete_after` is deleted whatever its tier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Hot segments are merged (up to `warm_target_rows`) and recompressed (zstd rows).
    pub warm_after: Option<Duration>,
    /// Local segments move to [`StoreOptions::cold`].
    pub cold_after: Option<Duration>,
    pub delete_after: Option<Duration>,
}

/// The object store of cold segments.
///
/// A store owns `<prefix>/<index>/` there: retention deletes every segment directory under it
/// that its catalog does not name (leftovers of interrupted moves), so two data directories
/// must not share a prefix. Cold catalog entries keep their object key relative to the bucket
/// (or directory); pointing `url` at another bucket or directory strands them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColdStorage {
    /// `file:///some/dir`, a plain path, or `s3://bucket/prefix`.
    pub url: String,
    /// S3 endpoint (`http://127.0.0.1:9000`); else `AWS_ENDPOINT_URL`, else AWS. An `http://`
    /// endpoint is allowed.
    pub endpoint: Option<String>,
    /// Else `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and the other standard sources).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// The current time in nanoseconds since the Unix epoch, as retention sees it.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64)
        }))
    }
    /// A clock that reads `now` (nanoseconds): tests move it.
    pub fn manual(now: Arc<std::sync::atomic::AtomicI64>) -> Clock {
        Clock(Arc::new(move || {
            now.load(std::sync::atomic::Ordering::SeqCst)
        }))
    }
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// Checks an index name: 1–64 characters of `a-z`, `0-9`, `_`, `-`, `.`, starting with a
/// letter or digit (so it is a safe directory name everywhere).
pub fn validate_index_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidIndexName {
            name: name.chars().take(80).collect(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 64 {
        return bad("it is longer than 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'))
    {
        return bad("only a-z, 0-9, '_', '-' and '.' are allowed");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("it must start with a letter or a digit");
    }
    Ok(())
}

struct Inner {
    dir: PathBuf,
    opts: StoreOptions,
    indexes: RwLock<HashMap<String, Arc<Index>>>,
    /// Serializes index creation.
    create: Mutex<()>,
    stop: Mutex<bool>,
    wake: Condvar,
    remote: Option<Arc<tier::Remote>>,
    /// When the background thread last ran retention.
    retained_at: Mutex<Option<std::time::Instant>>,
    /// Live-tail channels per index name (made by an index's opening or its first
    /// subscriber, so one can tail an index before it exists).
    tails: Mutex<HashMap<String, Arc<tail::Hub>>>,
}

/// A directory of indexes. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Store {
    inner: Arc<Inner>,
    worker: Option<JoinHandle<()>>,
}

impl Store {
    /// Opens the store in `dir` (creating it), recovering every index found there.
    pub fn open(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        let wants_cold = opts.retention.cold_after.is_some()
            || opts
                .retention_overrides
                .values()
                .any(|r| r.cold_after.is_some());
        let remote = match &opts.cold {
            Some(cfg) => Some(Arc::new(tier::Remote::open(cfg)?)),
            None if wants_cold => {
                return Err(Error::ColdStorage {
                    url: String::new(),
                    reason: "a retention has cold_after but StoreOptions::cold is not set".into(),
                })
            }
            None => None,
        };
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create data directory", e))?;
        let mut indexes = HashMap::new();
        let mut tails = HashMap::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, "list", e))? {
            let entry = entry.map_err(|e| Error::io(&dir, "list", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if validate_index_name(&name).is_err() || !entry.path().is_dir() {
                continue;
            }
            let p = entry.path();
            if !p.join("wal").exists() && !p.join(catalog::FILE).exists() {
                continue;
            }
            let hub = Arc::new(tail::Hub::new(opts.tail_capacity));
            let index = Index::open(&name, &p, &opts, remote.clone(), hub.clone())?;
            tails.insert(name.clone(), hub);
            indexes.insert(name, Arc::new(index));
        }
        let inner = Arc::new(Inner {
            dir,
            opts: opts.clone(),
            indexes: RwLock::new(indexes),
            create: Mutex::new(()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            remote,
            retained_at: Mutex::new(None),
            tails: Mutex::new(tails),
        });
        let worker = opts.background.then(|| {
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("sluice-store".into())
                .spawn(move || background(weak))
                .ok()
        });
        Ok(Store {
            inner,
            worker: worker.flatten(),
        })
    }

    fn index(&self, name: &str) -> Result<Arc<Index>> {
        validate_index_name(name)?;
        self.inner
            .indexes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NoSuchIndex(name.to_owned()))
    }

    fn index_or_create(&self, name: &str) -> Result<Arc<Index>> {
        match self.index(name) {
            Err(Error::NoSuchIndex(_)) => {}
            other => return other,
        }
        let _guard = self.inner.create.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(i) = self.index(name) {
            return Ok(i);
        }
        let index = Arc::new(Index::open(
            name,
            &self.inner.dir.join(name),
            &self.inner.opts,
            self.inner.remote.clone(),
            self.inner.hub(name),
        )?);
        self.inner
            .indexes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), index.clone());
        Ok(index)
    }

    /// Appends `events` to `index` (created on first write). Returns once the WAL holds them
    /// per the sync policy (with [`SyncMode::Always`], after fsync); they are searchable when
    /// it returns. Returns the number of events appended.
    pub fn append(&self, index: &str, events: &[Event]) -> Result<usize> {
        let idx = self.index_or_create(index)?;
        idx.append(events)?;
        if self.inner.opts.background && !idx.over_memory() {
            if idx.flush_due() {
                self.inner.wake.notify_all();
            }
        } else if idx.flush_due() {
            // Inline: without a background thread, or as backpressure when memory holds four
            // times the flush threshold (the events are durable already; this only slows the
            // caller down to the indexing rate).
            idx.flush()?;
        }
        Ok(events.len())
    }

    /// A live tail of `index` (which need not exist yet): every batch appended from now on,
    /// in append order, delivered right after the WAL holds it (and it is searchable), by
    /// this process's appends (HTTP ingest and pipelines' `store` sinks alike). Appending
    /// never waits for a subscriber: one that falls [`StoreOptions::tail_capacity`] batches
    /// behind loses the oldest and is told how many events it missed
    /// ([`Received::skipped`]). The subscription needs a tokio runtime only to `recv`.
    pub fn subscribe(&self, index: &str) -> Result<Subscription> {
        validate_index_name(index)?;
        Ok(self.inner.hub(index).subscribe())
    }

    /// Flushes `index`'s in-memory segment into an immutable segment now.
    pub fn flush(&self, index: &str) -> Result<Option<SegmentMeta>> {
        self.index(index)?.flush()
    }

    /// Merges `index`'s small segments now; returns how many merges were done.
    pub fn merge(&self, index: &str) -> Result<usize> {
        self.index(index)?.merge()
    }

    /// One round of what the background thread does, for every index: sync the WAL, flush
    /// what is due, merge (and retention, when `retention_interval` has passed since the
    /// last run).
    pub fn maintain(&self) -> Result<()> {
        maintain(&self.inner)
    }

    /// Runs retention on every index now, at [`StoreOptions::clock`]'s time: deletes the
    /// objects of interrupted moves, then deletes, warms and cools segments per each index's
    /// [`Retention`].
    pub fn retain(&self) -> Result<RetentionReport> {
        retain(&self.inner)
    }

    pub fn search(&self, index: &str, req: &SearchRequest) -> Result<SearchResponse> {
        search::search(&*self.index(index)?, req)
    }

    /// The `before` events before and `after` events after the hit `hit_id`, from the same
    /// `source` (events without one: the others without one), in (timestamp, seq) order.
    pub fn context(
        &self,
        index: &str,
        hit_id: &str,
        before: usize,
        after: usize,
    ) -> Result<Context> {
        search::context(&*self.index(index)?, hit_id, before, after)
    }

    /// Runs an aggregation pipe over the matches of `req` (its limit and cursor are ignored).
    pub fn aggregate(&self, index: &str, req: &SearchRequest, pipe: &Pipe) -> Result<AggResult> {
        agg::run(&*self.index(index)?, req, pipe)
    }

    /// Names of the indexes.
    pub fn indexes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .indexes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    pub fn stats(&self, index: &str) -> Result<IndexStats> {
        Ok(self.index(index)?.stats())
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

impl Inner {
    /// The live-tail channel of index `name`, made if needed.
    fn hub(&self, name: &str) -> Arc<tail::Hub> {
        let mut tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
        tails
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(tail::Hub::new(self.opts.tail_capacity)))
            .clone()
    }

    /// The open indexes, taken out of the lock.
    fn all_indexes(&self) -> Vec<Arc<Index>> {
        self.indexes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

fn maintain(inner: &Inner) -> Result<()> {
    let indexes = inner.all_indexes();
    let mut first_err = None;
    for idx in indexes {
        let r = idx
            .sync_wal()
            .and_then(|()| {
                if idx.flush_due() {
                    idx.flush()?;
                }
                Ok(())
            })
            .and_then(|()| idx.merge().map(|_| ()));
        if let Err(e) = r {
            idx.record_error(&e);
            first_err.get_or_insert(e);
        }
    }
    let due = {
        let mut at = inner.retained_at.lock().unwrap_or_else(|e| e.into_inner());
        let due = at.is_none_or(|t| t.elapsed() >= inner.opts.retention_interval);
        if due {
            *at = Some(std::time::Instant::now());
        }
        due
    };
    if due {
        if let Err(e) = retain(inner) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn retain(inner: &Inner) -> Result<RetentionReport> {
    let indexes = inner.all_indexes();
    let now = inner.opts.clock.now();
    let mut report = RetentionReport::default();
    let mut first_err = None;
    for idx in indexes {
        let policy = inner.opts.retention_for(&idx.name);
        if *policy == Retention::default() && inner.remote.is_none() {
            continue;
        }
        match idx.retain(now, policy) {
            Ok(r) => report.add(&r),
            Err(e) => {
                idx.record_error(&e);
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(report), Err)
}

fn background(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        {
            let stop = inner.stop.lock().unwrap_or_else(|e| e.into_inner());
            if *stop {
                return;
            }
            let (stop, _) = inner
                .wake
                .wait_timeout(stop, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner());
            if *stop {
                return;
            }
        }
        // Errors are recorded in the index's stats (last_error); the thread keeps going.
        let _ = maintain(&inner);
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        *self.inner.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.inner.wake.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
