//! Immutable segments: building one from events, its `meta.json`, and reading it back.
//!
//! A segment is a directory `segments/seg-<id as 16 hex digits>/` holding `index/` (tantivy,
//! one tantivy segment whose document ids are row numbers, see [`crate::schema`]),
//! `rows.arrow` ([`crate::rows`]), `meta.json` ([`SegmentMeta`]) and `hist.bin`
//! ([`crate::hist`]; segments built before it have none). Every file and the directories are
//! fsynced before [`build`] or [`merge`] returns; the catalog makes it live.

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::rows::{from_raw, Rows, TimeColumns};
use crate::schema::Fields as Schema;
use crate::tokenizer::{SluiceTokenizer, NAME as TOKENIZER};
use serde::{Deserialize, Serialize};
use sluice_event::{Event, Value};
use sluice_query::Query;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, EnableScoring, Occur, Query as _, RangeQuery};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{DocSet, IndexBuilder, Searcher, Term, TERMINATED};

/// Per-field statistics for pruning and for the schema listing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldStats {
    /// Events with the field present (null included).
    pub count: u64,
    /// Events per value type (`string`, `int`, `float`, `bool`, `timestamp`, `null`).
    pub types: BTreeMap<String, u64>,
    /// Smallest and largest number among int and float values.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<f64>,
}

/// `meta.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentMeta {
    pub id: u64,
    pub rows: u64,
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    pub min_ingest_timestamp: i64,
    pub max_ingest_timestamp: i64,
    pub min_seq: u64,
    pub max_seq: u64,
    /// The last WAL record whose events are (all) in this segment or older ones.
    pub wal_last: u64,
    /// Bytes of the segment's files on disk.
    pub bytes: u64,
    /// Raw bytes of the events: message and fields JSON text.
    pub raw_bytes: u64,
    pub fields: BTreeMap<String, FieldStats>,
}

impl SegmentMeta {
    /// The meta of an empty segment, to [`SegmentMeta::account`] events into.
    fn new(id: u64, wal_last: u64) -> SegmentMeta {
        SegmentMeta {
            id,
            rows: 0,
            min_timestamp: i64::MAX,
            max_timestamp: i64::MIN,
            min_ingest_timestamp: i64::MAX,
            max_ingest_timestamp: i64::MIN,
            min_seq: u64::MAX,
            max_seq: 0,
            wal_last,
            bytes: 0,
            raw_bytes: 0,
            fields: BTreeMap::new(),
        }
    }

    /// Counts one more event (`json` is scratch space).
    fn account(&mut self, e: &Event, seq: u64, json: &mut String) {
        self.rows += 1;
        self.min_timestamp = self.min_timestamp.min(e.timestamp);
        self.max_timestamp = self.max_timestamp.max(e.timestamp);
        self.min_ingest_timestamp = self.min_ingest_timestamp.min(e.ingest_timestamp);
        self.max_ingest_timestamp = self.max_ingest_timestamp.max(e.ingest_timestamp);
        self.min_seq = self.min_seq.min(seq);
        self.max_seq = self.max_seq.max(seq);
        json.clear();
        crate::codec::fields_to_json(&e.fields, json);
        self.raw_bytes += (e.message.len() + json.len()) as u64;
        for (name, value) in e.fields.iter() {
            let st = self.fields.entry(name.to_owned()).or_default();
            st.count += 1;
            *st.types.entry(type_name(value).into()).or_default() += 1;
            let n = match value {
                Value::Int(i) => Some(*i as f64),
                Value::Float(f) if !f.is_nan() => Some(*f),
                _ => None,
            };
            if let Some(n) = n {
                st.min = Some(st.min.map_or(n, |m| m.min(n)));
                st.max = Some(st.max.map_or(n, |m| m.max(n)));
            }
        }
    }

    /// The smallest and largest value of `field` in the segment.
    pub fn time_range(&self, field: TimeField) -> (i64, i64) {
        match field {
            TimeField::Timestamp => (self.min_timestamp, self.max_timestamp),
            TimeField::IngestTimestamp => (self.min_ingest_timestamp, self.max_ingest_timestamp),
        }
    }

    /// Whether every value of `field` in the segment is a string or null (or it has none), so
    /// a missing string value means the field is absent or null: a null group key either way.
    pub fn only_strings(&self, field: &str) -> bool {
        self.fields
            .get(field)
            .is_none_or(|st| st.types.keys().all(|t| t == "string" || t == "null"))
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::String(_) => "string",
        Value::Timestamp(_) => "timestamp",
    }
}

pub fn dir_name(id: u64) -> String {
    format!("seg-{id:016x}")
}

pub fn tokenizers() -> TokenizerManager {
    let m = TokenizerManager::default();
    m.register(TOKENIZER, TextAnalyzer::builder(SluiceTokenizer).build());
    m
}

pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, "sync directory", e))
}

fn sync_tree(path: &Path) -> Result<u64> {
    let mut bytes = 0;
    for entry in fs::read_dir(path).map_err(|e| Error::io(path, "list directory", e))? {
        let entry = entry.map_err(|e| Error::io(path, "list directory", e))?;
        let p = entry.path();
        let ft = entry.file_type().map_err(|e| Error::io(&p, "stat", e))?;
        if ft.is_dir() {
            bytes += sync_tree(&p)?;
        } else {
            let f = fs::File::open(&p).map_err(|e| Error::io(&p, "open", e))?;
            f.sync_all().map_err(|e| Error::io(&p, "sync", e))?;
            bytes += f.metadata().map_err(|e| Error::io(&p, "stat", e))?.len();
        }
    }
    sync_dir(path)?;
    Ok(bytes)
}

/// Builds segment `id` in `dir` (which must not exist) from `events`, each with its sequence
/// number, in rows grouped by service (see below). Everything is durable when it returns.
pub fn build(
    dir: &Path,
    id: u64,
    events: &[&Event],
    seqs: &[u64],
    wal_last: u64,
) -> Result<SegmentMeta> {
    debug_assert_eq!(events.len(), seqs.len());
    // Rows are grouped by `service`, then in seq order: lines from the same service sit side
    // by side, so LZ4 (whose window is 64 KiB) finds their shared text and the postings'
    // document-id deltas are small. Row order is therefore not seq order ([`Segment::find_seq`]).
    let mut order: Vec<usize> = (0..events.len()).collect();
    fn service(e: &Event) -> Option<&str> {
        e.fields
            .get(sluice_event::names::SERVICE)
            .and_then(Value::as_str)
    }
    order.sort_by(|&a, &b| {
        service(events[a])
            .cmp(&service(events[b]))
            .then(seqs[a].cmp(&seqs[b]))
    });
    let events: Vec<&Event> = order.iter().map(|&i| events[i]).collect();
    let seqs: Vec<u64> = order.iter().map(|&i| seqs[i]).collect();
    let (events, seqs) = (&events[..], &seqs[..]);
    // Left by an earlier attempt that failed (not in the catalog, so nobody reads it).
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::io(dir, "remove stale segment", e))?;
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create segment directory", e))?;
    let index_dir = dir.join("index");
    fs::create_dir_all(&index_dir).map_err(|e| Error::io(&index_dir, "create directory", e))?;
    let schema = Schema::shared();
    let mmap = MmapDirectory::open(&index_dir)
        .map_err(|e| Error::tantivy(&index_dir, tantivy::TantivyError::from(e)))?;
    let mut writer = IndexBuilder::new()
        .schema(schema.schema.clone())
        .tokenizers(tokenizers())
        .single_segment_index_writer(mmap, 64 << 20)
        .map_err(|e| Error::tantivy(&index_dir, e))?;
    let mut buf = Vec::new();
    let mut meta = SegmentMeta::new(id, wal_last);
    let mut json = String::new();
    let mut hist = crate::hist::Hist::new();
    for (e, &seq) in events.iter().zip(seqs) {
        writer
            .add_document(schema.document(e, seq, &mut buf))
            .map_err(|err| Error::tantivy(&index_dir, err))?;
        meta.account(e, seq, &mut json);
        crate::hist::add(
            &mut hist,
            e.timestamp,
            crate::schema::level_number(e) as usize,
        );
    }
    writer
        .finalize()
        .map_err(|e| Error::tantivy(&index_dir, e))?;
    crate::rows::write(&dir.join("rows.arrow"), events)?;
    crate::hist::write(&dir.join(crate::hist::FILE), &hist)?;
    finish(dir, meta)
}

/// Builds segment `id` in `dir` (which must not exist) from `sources` without indexing their
/// events again: tantivy merges their indexes (postings, positions and fast fields are
/// copied, not rebuilt from text), and the rows follow in the same order, each source's
/// after the previous one's. About a third of what [`build`] costs for the same events.
pub fn merge(
    dir: &Path,
    id: u64,
    sources: &[std::sync::Arc<Segment>],
    wal_last: u64,
) -> Result<SegmentMeta> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::io(dir, "remove stale segment", e))?;
    }
    let index_dir = dir.join("index");
    fs::create_dir_all(&index_dir).map_err(|e| Error::io(&index_dir, "create directory", e))?;
    let mmap = MmapDirectory::open(&index_dir)
        .map_err(|e| Error::tantivy(&index_dir, tantivy::TantivyError::from(e)))?;
    let indexes: Vec<tantivy::Index> = sources.iter().map(|s| s.searcher.index().clone()).collect();
    tantivy::indexer::merge_indices(&indexes, mmap).map_err(|e| Error::tantivy(&index_dir, e))?;
    // The rows in the merged index's document order.
    let (events, seqs) = read_rows(sources)?;
    let mut meta = SegmentMeta::new(id, wal_last);
    let mut json = String::new();
    let mut hist = crate::hist::Hist::new();
    for (e, &seq) in events.iter().zip(&seqs) {
        meta.account(e, seq, &mut json);
        crate::hist::add(
            &mut hist,
            e.timestamp,
            crate::schema::level_number(e) as usize,
        );
    }
    let refs: Vec<&Event> = events.iter().collect();
    crate::rows::write(&dir.join("rows.arrow"), &refs)?;
    crate::hist::write(&dir.join(crate::hist::FILE), &hist)?;
    finish(dir, meta)
}

/// Syncs a built segment's files, writes its `meta.json` (with the size on disk) and syncs
/// the directories.
fn finish(dir: &Path, mut meta: SegmentMeta) -> Result<SegmentMeta> {
    let mut bytes = sync_tree(dir)?;
    let meta_path = dir.join("meta.json");
    // Count meta.json itself approximately (its own size is not known before writing it).
    let text = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    bytes += text.len() as u64;
    meta.bytes = bytes;
    let text = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    fs::write(&meta_path, &text).map_err(|e| Error::io(&meta_path, "write meta.json", e))?;
    fs::File::open(&meta_path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(&meta_path, "sync meta.json", e))?;
    sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(meta)
}

/// An open, immutable segment. When it is dropped after [`Segment::retire`], its directory is
/// deleted (so searches still holding it finish first).
pub struct Segment {
    pub meta: SegmentMeta,
    pub dir: PathBuf,
    pub(crate) searcher: Searcher,
    /// `seq` and the times, opened once (opening a column decodes its block headers).
    pub(crate) times: TimeColumns,
    pub rows: Rows,
    /// `hist.bin`, read on first use (`None` inside: a segment built before it existed).
    pub(crate) hist: std::sync::OnceLock<Option<crate::hist::Hist>>,
    retired: AtomicBool,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("dir", &self.dir).finish()
    }
}

/// How a scan ended early, if it did.
#[derive(Debug, Default)]
pub struct Budget {
    pub examined: u64,
    pub max: u64,
    pub deadline: Option<Instant>,
    pub cut: bool,
}

impl Budget {
    /// Counts one row or document; false when the scan must stop.
    #[inline]
    pub fn take(&mut self) -> bool {
        if self.cut {
            return false;
        }
        self.examined += 1;
        if self.examined > self.max {
            self.cut = true;
            return false;
        }
        if self.examined.is_multiple_of(256) {
            if let Some(d) = self.deadline {
                if Instant::now() >= d {
                    self.cut = true;
                    return false;
                }
            }
        }
        true
    }

    /// What is left of the budget (0 once it is cut or past its deadline).
    pub fn remaining(&self) -> u64 {
        if self.cut || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        self.max.saturating_sub(self.examined)
    }

    /// Counts up to `n` documents at once; returns how many may be examined (fewer than `n`:
    /// the scan must stop after those).
    pub fn take_all(&mut self, n: u64) -> u64 {
        let allowed = n.min(self.remaining());
        self.examined += allowed;
        if allowed < n {
            self.cut = true;
        }
        allowed
    }
}

/// Which event time a range applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeField {
    #[default]
    Timestamp,
    IngestTimestamp,
}

impl Segment {
    pub fn open(dir: &Path) -> Result<Segment> {
        let meta_path = dir.join("meta.json");
        let text = fs::read(&meta_path).map_err(|e| Error::io(&meta_path, "read meta.json", e))?;
        let meta: SegmentMeta = serde_json::from_slice(&text)
            .map_err(|e| Error::corrupt(&meta_path, format!("meta.json: {e}")))?;
        let index_dir = dir.join("index");
        let mut index =
            tantivy::Index::open_in_dir(&index_dir).map_err(|e| Error::tantivy(&index_dir, e))?;
        index.set_tokenizers(tokenizers());
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| Error::tantivy(&index_dir, e))?;
        let searcher = reader.searcher();
        // Document ids are row numbers: exactly one tantivy segment with every row.
        let readers = searcher.segment_readers();
        if readers.len() != 1 || u64::from(readers[0].max_doc()) != meta.rows {
            return Err(Error::corrupt(
                &index_dir,
                format!(
                    "expected one tantivy segment of {} documents, found {} segments",
                    meta.rows,
                    readers.len()
                ),
            ));
        }
        let ff = readers[0].fast_fields();
        let terr = |e| Error::tantivy(&index_dir, e);
        let times = TimeColumns::open(ff).map_err(terr)?;
        let rows = Rows::open(&dir.join("rows.arrow"), Some(times.clone()))?;
        Ok(Segment {
            meta,
            dir: dir.to_path_buf(),
            searcher,
            times,
            rows,
            hist: std::sync::OnceLock::new(),
            retired: AtomicBool::new(false),
        })
    }

    /// The row holding sequence number `sq`, and its timestamp (a scan of the `seq` fast
    /// field: rows are grouped by service, not in seq order).
    pub fn find_seq(&self, sq: u64) -> Result<Option<(u32, i64)>> {
        if sq < self.meta.min_seq || sq > self.meta.max_seq {
            return Ok(None);
        }
        let (seq, ts) = (&self.times.seq, &self.times.timestamp);
        let n = self.meta.rows as u32;
        let mut buf = vec![0u64; 4096];
        let mut start = 0u32;
        while start < n {
            let len = (n - start).min(buf.len() as u32);
            let chunk = &mut buf[..len as usize];
            seq.values.get_range(u64::from(start), chunk);
            if let Some(i) = chunk.iter().position(|&v| v == sq) {
                let doc = start + i as u32;
                return Ok(Some((doc, ts.first(doc).map_or(0, from_raw))));
            }
            start += len;
        }
        Ok(None)
    }

    /// Marks the segment for deletion when the last user drops it.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    /// Whether any event can be in `[from, to)` of `field` (`to == i64::MAX`: no upper bound).
    pub fn overlaps(&self, field: TimeField, from: i64, to: i64) -> bool {
        let (min, max) = self.meta.time_range(field);
        self.meta.rows > 0 && max >= from && (min < to || to == i64::MAX)
    }

    /// Calls `f(row, timestamp, seq)` for every event of the segment that matches `query`
    /// (translated as `plan`) with `field` in `[from, to)`, in row order, until `budget` runs
    /// out. Inexact plans are checked on the rows.
    pub fn for_each_match(
        &self,
        plan: &Plan,
        query: &Query,
        (field, from, to): (TimeField, i64, i64),
        budget: &mut Budget,
        mut f: impl FnMut(u32, i64, u64),
    ) -> Result<()> {
        let schema = Schema::shared();
        let tfield = match field {
            TimeField::Timestamp => schema.timestamp,
            TimeField::IngestTimestamp => schema.ingest_timestamp,
        };
        let (min, max) = self.meta.time_range(field);
        let inside = min >= from && (max < to || to == i64::MAX);
        let base: Box<dyn tantivy::query::Query> = match &plan.q {
            crate::plan::Q::All => Box::new(tantivy::query::AllQuery),
            crate::plan::Q::None => return Ok(()),
            crate::plan::Q::Some(q) => q.box_clone(),
        };
        let q: Box<dyn tantivy::query::Query> = if inside {
            base
        } else {
            let range = RangeQuery::new(
                std::ops::Bound::Included(Term::from_field_i64(tfield, from)),
                if to == i64::MAX {
                    std::ops::Bound::Unbounded
                } else {
                    std::ops::Bound::Excluded(Term::from_field_i64(tfield, to))
                },
            );
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, base),
                (Occur::Must, Box::new(range)),
            ]))
        };
        let terr = |e| Error::tantivy(&self.dir, e);
        let weight = q
            .weight(EnableScoring::disabled_from_searcher(&self.searcher))
            .map_err(terr)?;
        let mut batch: Option<(usize, std::sync::Arc<crate::rows::Columns>)> = None;
        for reader in self.searcher.segment_readers() {
            let (ts_col, seq_col) = (&self.times.timestamp, &self.times.seq);
            let mut scorer = weight.scorer(reader, 1.0).map_err(terr)?;
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if !budget.take() {
                    return Ok(());
                }
                let ts = ts_col.first(doc).map_or(0, from_raw);
                let seq = seq_col.first(doc).unwrap_or(0);
                if plan.exact {
                    f(doc, ts, seq);
                } else {
                    let (b, i) = (
                        doc as usize / crate::rows::BATCH_ROWS,
                        doc as usize % crate::rows::BATCH_ROWS,
                    );
                    let cols = match &batch {
                        Some((at, c)) if *at == b => c.clone(),
                        _ => {
                            let c = self.rows.batch(b)?;
                            batch = Some((b, c.clone()));
                            c
                        }
                    };
                    let row = cols
                        .row(i)
                        .ok_or_else(|| Error::corrupt(self.rows.path(), format!("no row {doc}")))?;
                    if query.matches(&row) {
                        f(doc, ts, seq);
                    }
                }
                doc = scorer.advance();
            }
        }
        Ok(())
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.retired.load(Ordering::SeqCst) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The rows of `sources` as events, in seq order, with their seqs (for rebuilding them into
/// one segment: a warm move).
pub fn read_in_seq_order(sources: &[std::sync::Arc<Segment>]) -> Result<(Vec<Event>, Vec<u64>)> {
    let (events, seqs) = read_rows(sources)?;
    let mut pairs: Vec<(u64, Event)> = seqs.into_iter().zip(events).collect();
    pairs.sort_by_key(|(s, _)| *s);
    Ok(pairs.into_iter().map(|(s, e)| (e, s)).unzip())
}

/// The rows of `sources` as events, in row order, one source after another, with their seqs.
fn read_rows(sources: &[std::sync::Arc<Segment>]) -> Result<(Vec<Event>, Vec<u64>)> {
    let mut events = Vec::new();
    let mut seqs = Vec::new();
    for s in sources {
        let nbatches = (s.meta.rows as usize).div_ceil(crate::rows::BATCH_ROWS);
        for b in 0..nbatches {
            let cols = s.rows.batch(b)?;
            for i in 0..cols.len() {
                let e = cols.event(i).ok_or_else(|| {
                    Error::corrupt(s.rows.path(), format!("row {i} of batch {b}"))
                })?;
                events.push(e);
                seqs.push(cols.seq.value(i));
            }
        }
    }
    Ok((events, seqs))
}
