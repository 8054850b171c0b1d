//! One index: its WAL, in-memory segment, immutable segments and catalog; append, flush,
//! merge, recovery and the scans searches are built from.

use crate::cache::{Cache, CacheStats};
use crate::catalog::{Catalog, Entry};
use crate::codec;
use crate::error::{Error, Result};
use crate::plan::{plan, Plan};
use crate::schema::Fields as Schema;
use crate::segment::{self, Budget, Segment, SegmentMeta, TimeField};
use crate::tail::Hub;
use crate::tier::Remote;
use crate::StoreOptions;
use sluice_event::{Event, Value};
use sluice_query::Query;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

/// Events per WAL record at most (a sequence number holds the index within the record in its
/// low 24 bits).
const MAX_EVENTS_PER_RECORD: usize = 1 << 20;
/// Encoded bytes per WAL record we aim for (the WAL's own limit is 16 MiB).
const RECORD_BYTES: usize = 4 << 20;
const SEQ_SHIFT: u32 = 24;

/// The sequence number of event `i` of WAL record `record`: unique in the index, growing in
/// append order, and the same after a restart (recovery replays the same records).
pub fn seq(record: u64, i: usize) -> u64 {
    (record << SEQ_SHIFT) | i as u64
}

/// Events of one WAL record, searchable in memory until a flush puts them in a segment.
#[derive(Debug)]
pub struct MemBatch {
    pub record: u64,
    pub events: Vec<Event>,
    /// Type conflicts these events caused.
    pub conflicts: u64,
    pub bytes: u64,
}

/// What a search sees: a consistent snapshot of the live segments and the in-memory batches.
#[derive(Clone, Default)]
pub struct View {
    pub segments: Vec<Arc<Segment>>,
    pub mem: Vec<Arc<MemBatch>>,
    /// Cold segments not fetched into this view (`Index::view_with` fetches those a scan
    /// needs and moves them to `segments`).
    pub cold: Vec<Entry>,
}

struct WalState {
    writer: sluice_wal::Writer,
    /// Detected type per field name.
    schema: BTreeMap<String, String>,
    conflicts: u64,
}

pub(crate) struct Maint {
    pub catalog: Catalog,
}

/// Counters of one index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexStats {
    pub segments: usize,
    pub segment_rows: u64,
    pub mem_rows: u64,
    /// Bytes of the segments' files.
    pub segment_bytes: u64,
    /// Raw bytes of the events in segments (message + fields JSON).
    pub raw_bytes: u64,
    pub wal_bytes: u64,
    /// Field values whose type differed from the field's detected type (kept as text).
    pub type_conflicts: u64,
    /// Detected type per field (`string`, `number`, `bool`, `timestamp`).
    pub schema: BTreeMap<String, String>,
    pub flushes: u64,
    pub merges: u64,
    /// WAL records replayed into memory when the index was opened.
    pub replayed_records: u64,
    /// WAL records that failed to decode (checksummed, so a bug or a newer writer), skipped.
    pub corrupt_records: u64,
    /// Segment directories not in the catalog, deleted when the index was opened.
    pub orphans_deleted: u64,
    /// Live segments per tier (`segments` counts them all; `segment_bytes` is local ones).
    pub hot_segments: usize,
    pub warm_segments: usize,
    pub cold_segments: usize,
    /// Bytes of the cold segments (in the object store).
    pub cold_bytes: u64,
    /// Hot segments merged into warm ones, segments moved cold, segments deleted, by
    /// retention since the index was opened.
    pub warmed: u64,
    pub cooled: u64,
    pub deleted: u64,
    /// Object-store segment directories no catalog entry named (a crash's leftovers), deleted.
    pub remote_orphans_deleted: u64,
    /// The cache of cold segments.
    pub cache: CacheStats,
    pub last_error: Option<String>,
}

pub struct Index {
    pub name: String,
    pub(crate) dir: PathBuf,
    pub(crate) opts: StoreOptions,
    schema: Schema,
    wal: Mutex<WalState>,
    pub(crate) view: RwLock<View>,
    pub(crate) maint: Mutex<Maint>,
    /// Held by a retention run (uploads and the orphan sweep must not interleave).
    pub(crate) tier_lock: Mutex<()>,
    pub(crate) remote: Option<Arc<Remote>>,
    pub(crate) cache: Cache,
    last_seq: AtomicU64,
    /// When the oldest event now in memory arrived (for the flush interval).
    mem_since: Mutex<Option<Instant>>,
    mem_rows: AtomicU64,
    mem_bytes: AtomicU64,
    pub(crate) stats: Mutex<IndexStats>,
    /// Live-tail subscribers (shared with the store's map, which may have made it first).
    tail: Arc<Hub>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The type class a value counts as for schema detection (`None` for null).
fn type_class(v: &Value) -> Option<&'static str> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some("bool"),
        Value::Int(_) | Value::Float(_) => Some("number"),
        Value::String(_) => Some("string"),
        Value::Timestamp(_) => Some("timestamp"),
    }
}

/// The fixed types of the well-known fields.
fn well_known(name: &str) -> Option<&'static str> {
    match name {
        "level" | "service" | "host" | "trace_id" | "source" => Some("string"),
        _ => None,
    }
}

fn detect(schema: &mut BTreeMap<String, String>, events: &[Event]) -> u64 {
    let mut conflicts = 0;
    for e in events {
        for (name, value) in e.fields.iter() {
            let Some(class) = type_class(value) else {
                continue;
            };
            match schema.get(name) {
                Some(t) if t == class => {}
                Some(_) => conflicts += 1,
                None => {
                    let t = well_known(name).unwrap_or(class);
                    if t != class {
                        conflicts += 1;
                    }
                    schema.insert(name.to_owned(), t.to_owned());
                }
            }
        }
    }
    conflicts
}

impl Index {
    fn wal_options(opts: &StoreOptions) -> sluice_wal::Options {
        sluice_wal::Options {
            max_segment_bytes: opts.wal_segment_bytes,
            sync: opts.sync.policy(),
        }
    }

    /// Opens (creating) the index in `dir` and recovers it: drops segment directories the
    /// catalog does not name, opens the live ones, and replays the WAL after the catalog's
    /// position into memory.
    pub fn open(
        name: &str,
        dir: &Path,
        opts: &StoreOptions,
        remote: Option<Arc<Remote>>,
        tail: Arc<Hub>,
    ) -> Result<Index> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create index directory", e))?;
        let seg_root = dir.join("segments");
        fs::create_dir_all(&seg_root).map_err(|e| Error::io(&seg_root, "create directory", e))?;
        let catalog = Catalog::load(dir)?;
        let mut stats = IndexStats::default();
        // Half-written or retired segments: anything the catalog does not name as local
        // (a cold segment's local directory is left by a crash after its catalog swap).
        let live: std::collections::HashSet<&str> = catalog
            .segments
            .iter()
            .filter(|s| s.is_local())
            .map(|s| s.dir.as_str())
            .collect();
        for entry in fs::read_dir(&seg_root).map_err(|e| Error::io(&seg_root, "list", e))? {
            let entry = entry.map_err(|e| Error::io(&seg_root, "list", e))?;
            let fname = entry.file_name();
            let fname = fname.to_string_lossy();
            if !live.contains(fname.as_ref()) {
                let p = entry.path();
                let removed = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
                removed.map_err(|e| Error::io(&p, "delete orphan segment", e))?;
                stats.orphans_deleted += 1;
            }
        }
        if stats.orphans_deleted > 0 {
            segment::sync_dir(&seg_root)?;
        }
        let mut segments = Vec::new();
        let mut cold = Vec::new();
        for e in &catalog.segments {
            if e.is_local() {
                segments.push(Arc::new(Segment::open(&seg_root.join(&e.dir))?));
            } else {
                cold.push(e.clone());
            }
        }
        let cache = Cache::open(&dir.join("cache"), opts.cache_bytes, &cold)?;
        let wal_dir = dir.join("wal");
        let (mut writer, _recovery) = sluice_wal::Writer::open(&wal_dir, Self::wal_options(opts))
            .map_err(|source| Error::Wal {
            index: name.into(),
            source,
        })?;
        let wal_err = |source| Error::Wal {
            index: name.into(),
            source,
        };
        // Record ids must stay above what the segments hold (only a lost WAL tail could break
        // that; filler records restore it).
        while writer.next_id() <= catalog.wal_position {
            let mut rec = Vec::new();
            codec::record_header(&mut rec, 0);
            writer.append(&rec).map_err(wal_err)?;
        }
        let mut schema_map = catalog.schema.clone();
        let mut mem = Vec::new();
        let mut reader = writer.reader(catalog.wal_position + 1).map_err(wal_err)?;
        let mut last_seq = catalog
            .segments
            .iter()
            .map(|s| s.max_seq)
            .max()
            .unwrap_or(0);
        let mut mem_rows = 0u64;
        let mut mem_bytes = 0u64;
        while let Some((id, bytes)) = reader.next_record().map_err(wal_err)? {
            if id <= catalog.wal_position {
                continue;
            }
            match codec::decode_record(&bytes) {
                Some(events) if !events.is_empty() => {
                    let conflicts = detect(&mut schema_map, &events);
                    last_seq = last_seq.max(seq(id, events.len() - 1));
                    mem_rows += events.len() as u64;
                    mem_bytes += bytes.len() as u64;
                    mem.push(Arc::new(MemBatch {
                        record: id,
                        events,
                        conflicts,
                        bytes: bytes.len() as u64,
                    }));
                    stats.replayed_records += 1;
                }
                Some(_) => {}
                None => stats.corrupt_records += 1,
            }
        }
        if writer.acked() < catalog.wal_position {
            writer.ack(catalog.wal_position).map_err(wal_err)?;
        }
        let conflicts = catalog.type_conflicts + mem.iter().map(|b| b.conflicts).sum::<u64>();
        let mem_since = (!mem.is_empty()).then(Instant::now);
        Ok(Index {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            opts: opts.clone(),
            schema: Schema::new(),
            wal: Mutex::new(WalState {
                writer,
                schema: schema_map,
                conflicts,
            }),
            view: RwLock::new(View {
                segments,
                mem,
                cold,
            }),
            maint: Mutex::new(Maint { catalog }),
            tier_lock: Mutex::new(()),
            remote,
            cache,
            last_seq: AtomicU64::new(last_seq),
            mem_since: Mutex::new(mem_since),
            mem_rows: AtomicU64::new(mem_rows),
            mem_bytes: AtomicU64::new(mem_bytes),
            stats: Mutex::new(stats),
            tail,
        })
    }

    fn wal_error(&self, source: sluice_wal::Error) -> Error {
        Error::Wal {
            index: self.name.clone(),
            source,
        }
    }

    /// Writes `events` to the WAL (durable per the sync policy when this returns), then makes
    /// them searchable in memory. Returns the sequence numbers given to the first and last.
    pub fn append(&self, events: &[Event]) -> Result<Option<(u64, u64)>> {
        if events.is_empty() {
            return Ok(None);
        }
        // Split into records.
        let mut records: Vec<Vec<u8>> = Vec::new();
        let mut chunks: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        let mut rec = Vec::new();
        let mut one = Vec::new();
        codec::record_header(&mut rec, 0);
        for (i, e) in events.iter().enumerate() {
            one.clear();
            codec::encode_event(&mut one, e);
            if one.len() + 5 > sluice_wal::MAX_RECORD_BYTES {
                return Err(Error::EventTooLarge {
                    bytes: one.len(),
                    max: sluice_wal::MAX_RECORD_BYTES - 5,
                });
            }
            let n = i - start;
            if n > 0 && (rec.len() + one.len() > RECORD_BYTES || n >= MAX_EVENTS_PER_RECORD) {
                codec::set_record_count(&mut rec, n as u32);
                records.push(std::mem::take(&mut rec));
                chunks.push((start, i));
                start = i;
                codec::record_header(&mut rec, 0);
            }
            rec.extend_from_slice(&one);
        }
        codec::set_record_count(&mut rec, (events.len() - start) as u32);
        records.push(rec);
        chunks.push((start, events.len()));

        let mut wal = lock(&self.wal);
        let first_id = wal.writer.next_id();
        let result = wal.writer.append_batch(&records);
        crate::failpoint::hit("append-after-wal");
        let written = (wal.writer.next_id() - first_id) as usize;
        let mut batches = Vec::with_capacity(written);
        let mut rows = 0u64;
        let mut bytes = 0u64;
        for (k, &(a, b)) in chunks.iter().enumerate().take(written) {
            let evs = events[a..b].to_vec();
            let conflicts = detect(&mut wal.schema, &evs);
            wal.conflicts += conflicts;
            rows += evs.len() as u64;
            bytes += records[k].len() as u64;
            batches.push(Arc::new(MemBatch {
                record: first_id + k as u64,
                events: evs,
                conflicts,
                bytes: records[k].len() as u64,
            }));
        }
        let last = batches
            .last()
            .map(|b| seq(b.record, b.events.len().saturating_sub(1)));
        if !batches.is_empty() {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            view.mem.extend(batches.iter().cloned());
            if let Some(l) = last {
                self.last_seq.store(l, Ordering::SeqCst);
            }
        }
        // Searchable first (a tail client may ask for a hit's context at once), and still
        // under the WAL lock, so subscribers see append order.
        for batch in &batches {
            self.tail.publish(batch);
        }
        drop(wal);
        self.mem_rows.fetch_add(rows, Ordering::SeqCst);
        self.mem_bytes.fetch_add(bytes, Ordering::SeqCst);
        if rows > 0 {
            let mut since = lock(&self.mem_since);
            if since.is_none() {
                *since = Some(Instant::now());
            }
        }
        result.map_err(|e| self.wal_error(e))?;
        Ok(Some((seq(first_id, 0), last.unwrap_or(0))))
    }

    /// Whether memory is so far past the flush thresholds (4x) that appends should wait for
    /// a flush: backpressure when ingest outruns indexing.
    pub fn over_memory(&self) -> bool {
        // Saturating: `usize::MAX` means "never" (and overflowed with a background thread).
        self.mem_rows.load(Ordering::SeqCst) >= (self.opts.flush_rows as u64).saturating_mul(4)
            || self.mem_bytes.load(Ordering::SeqCst)
                >= (self.opts.flush_bytes as u64).saturating_mul(4)
    }

    /// Syncs the WAL (for the interval policy, when appends stop).
    pub fn sync_wal(&self) -> Result<()> {
        lock(&self.wal).writer.sync().map_err(|e| self.wal_error(e))
    }

    /// Whether the in-memory segment is due for a flush.
    pub fn flush_due(&self) -> bool {
        let rows = self.mem_rows.load(Ordering::SeqCst);
        if rows == 0 {
            return false;
        }
        rows >= self.opts.flush_rows as u64
            || self.mem_bytes.load(Ordering::SeqCst) >= self.opts.flush_bytes as u64
            || lock(&self.mem_since).is_some_and(|t| t.elapsed() >= self.opts.flush_interval)
    }

    /// Turns everything in memory into one immutable segment, makes it live in the catalog,
    /// then acknowledges the WAL up to it. Returns its meta, or `None` if memory was empty.
    pub fn flush(&self) -> Result<Option<SegmentMeta>> {
        let mut maint = lock(&self.maint);
        let mem = self
            .view
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .mem
            .clone();
        let Some(last) = mem.last() else {
            return Ok(None);
        };
        let wal_last = last.record;
        // The segment must never hold what the WAL could still lose.
        self.sync_wal()?;
        let mut events = Vec::new();
        let mut seqs = Vec::new();
        for b in &mem {
            for (i, e) in b.events.iter().enumerate() {
                events.push(e);
                seqs.push(seq(b.record, i));
            }
        }
        let id = maint.catalog.next_segment_id;
        let name = segment::dir_name(id);
        let dir = self.dir.join("segments").join(&name);
        let meta = segment::build(&dir, id, &events, &seqs, wal_last)?;
        let seg = Arc::new(Segment::open(&dir)?);
        crate::failpoint::hit("flush-after-build");
        let mut catalog = maint.catalog.clone();
        catalog.segments.push(entry(&meta, &name));
        catalog.next_segment_id = id + 1;
        catalog.wal_position = wal_last;
        catalog.type_conflicts += mem.iter().map(|b| b.conflicts).sum::<u64>();
        catalog.schema = lock(&self.wal).schema.clone();
        catalog.store(&self.dir)?;
        crate::failpoint::hit("flush-after-catalog");
        let (rows, bytes) = mem
            .iter()
            .fold((0, 0), |(r, b), m| (r + m.events.len() as u64, b + m.bytes));
        {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            view.segments.push(seg);
            view.mem.retain(|b| b.record > wal_last);
            self.mem_rows.fetch_sub(rows, Ordering::SeqCst);
            self.mem_bytes.fetch_sub(bytes, Ordering::SeqCst);
            *lock(&self.mem_since) = (!view.mem.is_empty()).then(Instant::now);
        }
        maint.catalog = catalog;
        drop(maint);
        lock(&self.stats).flushes += 1;
        // The catalog is the truth from here; a failed ack only delays WAL cleanup.
        if let Err(e) = lock(&self.wal).writer.ack(wal_last) {
            lock(&self.stats).last_error = Some(e.to_string());
        }
        Ok(Some(meta))
    }

    /// Merges runs of small segments (fewer than half `merge_target_rows` rows each) into one,
    /// when a run has `merge_min_segments` of them or fills the target. Crash-safe: the new
    /// segment is written, the catalog swapped, and only then are the old ones deleted.
    /// Returns how many merges were done.
    pub fn merge(&self) -> Result<usize> {
        let mut done = 0;
        loop {
            let mut maint = lock(&self.maint);
            let segs = self
                .view
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .segments
                .clone();
            let target = self.opts.merge_target_rows;
            let small = |s: &Segment| s.meta.rows < target / 2;
            // At least two small segments that together make a segment that is not small.
            let fills = |run: &[Arc<Segment>]| {
                run.len() >= 2 && run.iter().map(|r| r.meta.rows).sum::<u64>() >= target / 2
            };
            let mut run: Vec<Arc<Segment>> = Vec::new();
            let mut pick: Option<Vec<Arc<Segment>>> = None;
            // In catalog (= seq) order, only hot segments: a run never spans a warm or cold
            // one, so merged seq ranges stay disjoint.
            for e in &maint.catalog.segments {
                let Some(s) = (e.tier == crate::catalog::HOT)
                    .then(|| segs.iter().find(|s| s.meta.id == e.id))
                    .flatten()
                else {
                    run.clear();
                    continue;
                };
                if small(s) && run.iter().map(|r| r.meta.rows).sum::<u64>() + s.meta.rows <= target
                {
                    run.push(s.clone());
                    if run.len() >= self.opts.merge_min_segments.max(2) {
                        pick = Some(std::mem::take(&mut run));
                        break;
                    }
                } else {
                    // The run cannot grow: merge it if it fills the target.
                    if fills(&run) {
                        pick = Some(std::mem::take(&mut run));
                        break;
                    }
                    run.clear();
                    if small(s) {
                        run.push(s.clone());
                    }
                }
            }
            if pick.is_none() && fills(&run) {
                pick = Some(run);
            }
            let Some(sources) = pick else {
                return Ok(done);
            };
            let id = maint.catalog.next_segment_id;
            let name = segment::dir_name(id);
            let dir = self.dir.join("segments").join(&name);
            let wal_last = sources.iter().map(|s| s.meta.wal_last).max().unwrap_or(0);
            let meta = segment::merge(&dir, id, &sources, wal_last)?;
            let seg = Arc::new(Segment::open(&dir)?);
            crate::failpoint::hit("merge-after-build");
            let ids: Vec<u64> = sources.iter().map(|s| s.meta.id).collect();
            let mut catalog = maint.catalog.clone();
            let at = catalog
                .segments
                .iter()
                .position(|e| ids.contains(&e.id))
                .unwrap_or(catalog.segments.len());
            catalog.segments.retain(|e| !ids.contains(&e.id));
            catalog
                .segments
                .insert(at.min(catalog.segments.len()), entry(&meta, &name));
            catalog.next_segment_id = id + 1;
            catalog.store(&self.dir)?;
            crate::failpoint::hit("merge-after-catalog");
            {
                let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
                let at = view
                    .segments
                    .iter()
                    .position(|s| ids.contains(&s.meta.id))
                    .unwrap_or(view.segments.len());
                view.segments.retain(|s| !ids.contains(&s.meta.id));
                let at = at.min(view.segments.len());
                view.segments.insert(at, seg);
            }
            maint.catalog = catalog;
            for s in &sources {
                s.retire();
            }
            // Drop them now so the directories go; a crash right after leaves them for the
            // next open to delete.
            drop(sources);
            crate::failpoint::hit("merge-after-retire");
            drop(maint);
            lock(&self.stats).merges += 1;
            done += 1;
        }
    }

    pub fn view(&self) -> View {
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    pub fn plan(&self, q: &Query) -> Plan {
        plan(q.root(), &self.schema)
    }

    pub fn stats(&self) -> IndexStats {
        let mut s = lock(&self.stats).clone();
        let view = self.view();
        s.segments = view.segments.len();
        s.segment_rows = view.segments.iter().map(|x| x.meta.rows).sum();
        s.segment_bytes = view.segments.iter().map(|x| x.meta.bytes).sum();
        s.raw_bytes = view.segments.iter().map(|x| x.meta.raw_bytes).sum();
        s.mem_rows = view.mem.iter().map(|b| b.events.len() as u64).sum();
        s.segments += view.cold.len();
        s.segment_rows += view.cold.iter().map(|e| e.rows).sum::<u64>();
        s.raw_bytes += view
            .cold
            .iter()
            .filter_map(|e| e.meta.as_ref())
            .map(|m| m.raw_bytes)
            .sum::<u64>();
        s.cold_segments = view.cold.len();
        s.cold_bytes = view.cold.iter().map(|e| e.bytes).sum();
        {
            let maint = lock(&self.maint);
            let tier = |t: &str| {
                maint
                    .catalog
                    .segments
                    .iter()
                    .filter(|e| e.tier == t)
                    .count()
            };
            s.hot_segments = tier(crate::catalog::HOT);
            s.warm_segments = tier(crate::catalog::WARM);
        }
        s.cache = self.cache.stats();
        let wal = lock(&self.wal);
        s.wal_bytes = wal.writer.bytes_on_disk();
        s.type_conflicts = wal.conflicts;
        s.schema = wal.schema.clone();
        s
    }

    pub fn record_error(&self, e: &Error) {
        lock(&self.stats).last_error = Some(e.to_string());
    }
}

pub(crate) fn entry(meta: &SegmentMeta, dir: &str) -> Entry {
    Entry {
        id: meta.id,
        dir: dir.to_owned(),
        tier: crate::catalog::HOT.into(),
        rows: meta.rows,
        min_timestamp: meta.min_timestamp,
        max_timestamp: meta.max_timestamp,
        min_seq: meta.min_seq,
        max_seq: meta.max_seq,
        bytes: meta.bytes,
        location: None,
        files: Vec::new(),
        meta: None,
    }
}

/// Where a matching event is in a [`View`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Loc {
    Segment(usize, u32),
    Mem(usize, usize),
}

/// Whether segment `seg` of a scan can hold matches.
fn scanned(
    seg: &Segment,
    query: &Query,
    (field, from, to): (TimeField, i64, i64),
    snap: u64,
) -> bool {
    seg.overlaps(field, from, to)
        && seg.meta.min_seq <= snap
        && !crate::plan::prunes(query.root(), &seg.meta)
}

/// The segments of `view` a scan visits, and how many threads it may use for them: one per
/// core (at most one per segment) when they hold at least `min_rows` rows, else one.
pub(crate) fn scan_segments(
    view: &View,
    query: &Query,
    range: (TimeField, i64, i64),
    snap: u64,
    min_rows: u64,
) -> (Vec<usize>, usize) {
    let segments: Vec<usize> = (0..view.segments.len())
        .filter(|&i| scanned(&view.segments[i], query, range, snap))
        .collect();
    let rows: u64 = segments.iter().map(|&i| view.segments[i].meta.rows).sum();
    let threads = if rows >= min_rows {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(segments.len())
    } else {
        1
    };
    (segments, threads)
}

/// Items handed out one at a time to whichever thread asks next.
pub(crate) struct Shared<'a, T> {
    items: &'a [T],
    next: std::sync::atomic::AtomicUsize,
}

impl<'a, T> Shared<'a, T> {
    pub(crate) fn new(items: &'a [T]) -> Self {
        Shared {
            items,
            next: Default::default(),
        }
    }

    pub(crate) fn take(&self) -> Option<&'a T> {
        self.items
            .get(self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// Runs `work` on `threads` threads (on this one when fewer than two) and returns what each
/// returned; a panic in one is resumed here.
pub(crate) fn on_threads<T: Send>(threads: usize, work: impl Fn() -> T + Sync) -> Vec<T> {
    if threads < 2 {
        return vec![work()];
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(&work)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Scans a view: calls `f(ts, seq, loc)` for every event matching `query` with its time in
/// the range and `seq <= snap`, segments first, until the budget runs out.
pub fn scan(
    view: &View,
    plan: &Plan,
    query: &Query,
    range: (TimeField, i64, i64),
    snap: u64,
    budget: &mut Budget,
    mut f: impl FnMut(i64, u64, Loc),
) -> Result<()> {
    for (si, seg) in view.segments.iter().enumerate() {
        if !scanned(seg, query, range, snap) {
            continue;
        }
        seg.for_each_match(plan, query, range, budget, |row, ts, sq| {
            if sq <= snap {
                f(ts, sq, Loc::Segment(si, row));
            }
        })?;
        if budget.cut {
            return Ok(());
        }
    }
    scan_mem(view, query, range, snap, budget, f);
    Ok(())
}

/// The in-memory part of [`scan`].
fn scan_mem(
    view: &View,
    query: &Query,
    (field, from, to): (TimeField, i64, i64),
    snap: u64,
    budget: &mut Budget,
    mut f: impl FnMut(i64, u64, Loc),
) {
    for (bi, b) in view.mem.iter().enumerate() {
        if seq(b.record, 0) > snap {
            continue;
        }
        for (i, e) in b.events.iter().enumerate() {
            let sq = seq(b.record, i);
            if sq > snap {
                break;
            }
            if !budget.take() {
                return;
            }
            let t = match field {
                TimeField::Timestamp => e.timestamp,
                TimeField::IngestTimestamp => e.ingest_timestamp,
            };
            if t >= from && (t < to || to == i64::MAX) && query.matches(e) {
                f(e.timestamp, sq, Loc::Mem(bi, i));
            }
        }
    }
}

/// [`scan`] on every core: the segments are shared out among workers, each folding its
/// matches into its own state from `new`; the in-memory events go last, into one more.
/// Returns the states. Runs on one core (one state for everything) when the segments are
/// few or hold fewer than `min_rows`, or when the budget could cut the scan (a scan cut short
/// must have seen the same events whichever way it ran, so the budget is only shared when it
/// cannot run out).
#[allow(clippy::too_many_arguments)]
pub fn scan_parallel<S: Send>(
    view: &View,
    plan: &Plan,
    query: &Query,
    range: (TimeField, i64, i64),
    snap: u64,
    budget: &mut Budget,
    min_rows: u64,
    new: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, i64, u64, Loc) + Sync,
) -> Result<Vec<S>> {
    let (segments, threads) = scan_segments(view, query, range, snap, min_rows);
    let rows: u64 = segments.iter().map(|&i| view.segments[i].meta.rows).sum();
    if threads < 2 || rows > budget.remaining() {
        let mut state = new();
        scan(view, plan, query, range, snap, budget, |ts, sq, loc| {
            f(&mut state, ts, sq, loc)
        })?;
        return Ok(vec![state]);
    }
    let queue = Shared::new(&segments);
    let deadline = budget.deadline;
    let done = on_threads(threads, || -> Result<(S, Budget)> {
        let mut state = new();
        let mut mine = Budget {
            max: u64::MAX,
            deadline,
            ..Budget::default()
        };
        while let Some(&si) = queue.take() {
            view.segments[si].for_each_match(plan, query, range, &mut mine, |row, ts, sq| {
                if sq <= snap {
                    f(&mut state, ts, sq, Loc::Segment(si, row));
                }
            })?;
            if mine.cut {
                break;
            }
        }
        Ok((state, mine))
    });
    let mut states = Vec::with_capacity(threads + 1);
    for r in done {
        let (state, mine) = r?;
        budget.examined += mine.examined;
        budget.cut |= mine.cut;
        states.push(state);
    }
    if !budget.cut {
        let mut state = new();
        scan_mem(view, query, range, snap, budget, |ts, sq, loc| {
            f(&mut state, ts, sq, loc)
        });
        states.push(state);
    }
    Ok(states)
}

/// The event at `loc`.
pub fn event_at(view: &View, loc: Loc) -> Result<Event> {
    match loc {
        Loc::Segment(s, row) => view.segments[s].rows.event(row as usize),
        Loc::Mem(b, i) => Ok(view.mem[b].events[i].clone()),
    }
}

/// Searches and aggregations running in this process.
static READING: AtomicU64 = AtomicU64::new(0);

/// Marks a search or aggregation as running, for as long as it lives. A query uses every core
/// only while it is the only one running: with several at once the cores are busy anyway, and
/// each query's own threads would only add their cost (measured: 16 concurrent field-filter
/// searches ran at 0.6× the rate with per-query threads).
pub(crate) struct Reading(());

impl Reading {
    pub(crate) fn start() -> Reading {
        READING.fetch_add(1, Ordering::Relaxed);
        Reading(())
    }

    /// The rows a scan needs to go parallel: `min_rows` when this query runs alone, else never
    /// (but 0, which tests use, always).
    pub(crate) fn parallel_rows(&self, min_rows: u64) -> u64 {
        if min_rows == 0 || READING.load(Ordering::Relaxed) <= 1 {
            min_rows
        } else {
            u64::MAX
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        READING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The events at `locs`, in that order. Their record batches are decoded once each, and
/// when they are spread over several segments, on every core: a hit costs a batch decode
/// (LZ4 and UTF-8 checks of ~1000 rows), which dominates a selective search.
pub fn events_at(view: &View, locs: &[Loc], parallel: bool) -> Result<Vec<Event>> {
    // By segment and batch, so each worker decodes each of its batches once.
    let batch_of = |l: &Loc| match *l {
        Loc::Segment(s, row) => (0, s, row as usize / crate::rows::BATCH_ROWS),
        Loc::Mem(b, _) => (1, b, 0),
    };
    let mut order: Vec<usize> = (0..locs.len()).collect();
    order.sort_by_key(|&i| (batch_of(&locs[i]), locs[i]));
    let batches = order
        .windows(2)
        .filter(|w| batch_of(&locs[w[0]]) != batch_of(&locs[w[1]]))
        .count()
        + 1;
    let workers = if parallel && batches >= 8 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    // Contiguous runs of `order`, cut only between batches, about `locs / workers` long.
    let mut runs: Vec<&[usize]> = Vec::new();
    let mut start = 0;
    for end in 1..=order.len() {
        let cut = end == order.len()
            || (end - start >= order.len().div_ceil(workers)
                && batch_of(&locs[order[end - 1]]) != batch_of(&locs[order[end]]));
        if cut {
            runs.push(&order[start..end]);
            start = end;
        }
    }
    let queue = Shared::new(&runs);
    let fetched = on_threads(
        runs.len().min(workers),
        || -> Result<Vec<(usize, Event)>> {
            let mut mine = Vec::new();
            while let Some(run) = queue.take() {
                for &i in *run {
                    mine.push((i, event_at(view, locs[i])?));
                }
            }
            Ok(mine)
        },
    );
    let mut out: Vec<Option<Event>> = vec![None; locs.len()];
    for run in fetched {
        for (i, e) in run? {
            out[i] = Some(e);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Finds the event with sequence number `sq`: its location and time.
pub fn find_seq(view: &View, sq: u64) -> Result<Option<(Loc, i64)>> {
    let record = sq >> SEQ_SHIFT;
    for (bi, b) in view.mem.iter().enumerate() {
        if b.record == record {
            let i = (sq & ((1 << SEQ_SHIFT) - 1)) as usize;
            return Ok(b.events.get(i).map(|e| (Loc::Mem(bi, i), e.timestamp)));
        }
    }
    for (si, s) in view.segments.iter().enumerate() {
        if sq < s.meta.min_seq || sq > s.meta.max_seq {
            continue;
        }
        if let Some((row, ts)) = s.find_seq(sq)? {
            return Ok(Some((Loc::Segment(si, row), ts)));
        }
    }
    Ok(None)
}
