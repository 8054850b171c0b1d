//! Retention: hot → warm → cold → deleted, per index, and reading cold segments back.
//!
//! - **warm**: runs of consecutive hot segments (in catalog order, which is seq order, so seq
//!   ranges stay disjoint) past `warm_after` are merged into segments of up to
//!   `warm_target_rows` and their rows recompressed (see [`recompress`]);
//! - **cold**: a local segment past `cold_after` is uploaded, file by file, to
//!   `<prefix>/<index>/<segment dir>/...` in the object store ([`Remote`]); the catalog entry
//!   becomes `cold` with the object key, the file list and the segment's meta (so queries can
//!   prune it without fetching it); then the local directory is deleted;
//! - **delete**: a segment past `delete_after` leaves the catalog, then its files are deleted
//!   (local directory, cached copy, objects).
//!
//! Every move is copy, catalog swap (`Catalog::store`, atomic), delete, with a failpoint
//! between the steps. What a crash leaves behind is never in the catalog, so it is garbage:
//! local segment directories are deleted when the index opens (`Index::open`), and objects
//! under `<prefix>/<index>/` that no cold entry names are deleted at the start of every
//! retention run ([`Index::sweep`]), which holds the index's tier lock so no upload is in
//! flight while it lists.
//!
//! object_store is async and the store blocks, so [`Remote`] owns a current-thread tokio
//! runtime and `block_on`s each call (callers are store threads or `spawn_blocking`).

use crate::catalog::{self, Entry};
use crate::error::{Error, Result};
use crate::index::{lock, Index};
use crate::segment::{self, sync_dir, Segment, SegmentMeta, TimeField};
use crate::{ColdStorage, Retention};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_event::Event;
use sluice_query::Query;
use std::collections::HashSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What one retention run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Hot segments merged and recompressed into warm ones ...
    pub warmed: usize,
    /// ... into this many warm segments.
    pub warm_built: usize,
    /// Segments moved to the object store.
    pub cooled: usize,
    pub deleted: usize,
    /// Segment directories in the object store that no catalog entry named (left by a crash),
    /// deleted.
    pub remote_orphans: usize,
}

impl RetentionReport {
    pub fn add(&mut self, o: &RetentionReport) {
        self.warmed += o.warmed;
        self.warm_built += o.warm_built;
        self.cooled += o.cooled;
        self.deleted += o.deleted;
        self.remote_orphans += o.remote_orphans;
    }
}

/// The object store of cold segments.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    /// Keys start with this (no leading or trailing `/`; may be empty).
    prefix: String,
    /// For messages.
    url: String,
    /// Always `Some` until dropped.
    rt: Option<tokio::runtime::Runtime>,
    /// Files larger than this are uploaded in parts of this size.
    multipart_bytes: u64,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.url)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Without waiting: a plain drop of a runtime panics inside an async context, and the
        // last `Store` handle may be dropped in one.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Remote {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt
            .as_ref()
            .expect("the runtime lives as long as the Remote")
            .block_on(f)
    }

    pub fn open(cfg: &ColdStorage) -> Result<Remote> {
        let bad = |reason: String| Error::ColdStorage {
            url: cfg.url.clone(),
            reason,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start its I/O runtime: {e}")))?;
        let url = cfg.url.trim();
        let (store, prefix): (Arc<dyn ObjectStore>, String) = if let Some(rest) =
            url.strip_prefix("s3://")
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name (s3://bucket/prefix)".into()));
            }
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            // The standard AWS_* variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
            // AWS_SECRET_ACCESS_KEY, AWS_REGION, ...), then the options over them.
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(ep) = &cfg.endpoint {
                b = b.with_endpoint(ep);
            }
            if let Some(r) = &cfg.region {
                b = b.with_region(r);
            }
            if let Some(k) = &cfg.access_key_id {
                b = b.with_access_key_id(k);
            }
            if let Some(k) = &cfg.secret_access_key {
                b = b.with_secret_access_key(k);
            }
            let endpoint = b
                .get_config_value(&AmazonS3ConfigKey::Endpoint)
                .unwrap_or_default();
            if endpoint.starts_with("http://") {
                b = b.with_allow_http(true);
            }
            let s3 = b.build().map_err(|e| bad(e.to_string()))?;
            (Arc::new(s3), prefix.trim_matches('/').to_owned())
        } else {
            let path = url.strip_prefix("file://").unwrap_or(url);
            if path.is_empty() || url.contains("://") && !url.starts_with("file://") {
                return Err(bad(
                    "expected s3://bucket/prefix, file:///path or a path".into()
                ));
            }
            fs::create_dir_all(path).map_err(|e| Error::io(path, "create cold directory", e))?;
            let local = object_store::local::LocalFileSystem::new_with_prefix(path)
                .map_err(|e| bad(e.to_string()))?
                .with_automatic_cleanup(true);
            (Arc::new(local), String::new())
        };
        Ok(Remote {
            store,
            prefix,
            url: url.to_owned(),
            rt: Some(rt),
            multipart_bytes: 16 << 20,
        })
    }

    fn err(&self, key: &str, op: &'static str) -> impl FnOnce(object_store::Error) -> Error {
        let (store, key) = (self.url.clone(), key.to_owned());
        move |source| Error::ObjectStore {
            store,
            key,
            op,
            source: Box::new(source),
        }
    }

    /// The key of the directory of index `index`'s cold segments.
    fn index_key(&self, index: &str) -> String {
        if self.prefix.is_empty() {
            index.to_owned()
        } else {
            format!("{}/{index}", self.prefix)
        }
    }

    /// The key of segment directory `dir` of `index`.
    pub fn key(&self, index: &str, dir: &str) -> String {
        format!("{}/{dir}", self.index_key(index))
    }

    /// Uploads every file under `local` to `<key>/<relative path>`. Returns the files
    /// (relative path, size), sorted.
    pub fn upload(&self, local: &Path, key: &str) -> Result<Vec<(String, u64)>> {
        let mut files = Vec::new();
        walk(local, "", &mut files)?;
        files.sort();
        let mut out = Vec::with_capacity(files.len());
        for (rel, path) in files {
            let k = format!("{key}/{rel}");
            let size = fs::metadata(&path)
                .map_err(|e| Error::io(&path, "stat for upload", e))?
                .len();
            if size > self.multipart_bytes {
                self.upload_multipart(&path, &k)?;
            } else {
                let bytes = fs::read(&path).map_err(|e| Error::io(&path, "read for upload", e))?;
                self.block_on(
                    self.store
                        .put(&ObjPath::from(k.as_str()), PutPayload::from(bytes)),
                )
                .map_err(self.err(&k, "upload"))?;
            }
            out.push((rel, size));
        }
        Ok(out)
    }

    /// Uploads a large file in parts of `multipart_bytes` (S3 wants at least 5 MiB), a few
    /// in flight, without reading it whole into memory.
    fn upload_multipart(&self, path: &Path, key: &str) -> Result<()> {
        let mut file = fs::File::open(path).map_err(|e| Error::io(path, "open for upload", e))?;
        let chunk = self.multipart_bytes.max(5 << 20) as usize;
        self.block_on(async {
            let upload = self
                .store
                .put_multipart(&ObjPath::from(key))
                .await
                .map_err(self.err(key, "start multipart upload"))?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, chunk);
            let mut buf = vec![0u8; chunk];
            loop {
                let n = match std::io::Read::read(&mut file, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = w.abort().await;
                        return Err(Error::io(path, "read for upload", e));
                    }
                };
                if let Err(e) = w.wait_for_capacity(4).await {
                    let _ = w.abort().await;
                    return Err(self.err(key, "multipart upload")(e));
                }
                w.write(&buf[..n]);
            }
            w.finish()
                .await
                .map_err(self.err(key, "finish multipart upload"))?;
            Ok(())
        })
    }

    /// Downloads `files` of the segment at `key` into `to`.
    pub fn download(&self, key: &str, files: &[(String, u64)], to: &Path) -> Result<()> {
        for (rel, _) in files {
            let k = format!("{key}/{rel}");
            let path = to.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create directory", e))?;
            }
            let file = fs::File::create(&path).map_err(|e| Error::io(&path, "create", e))?;
            let mut w = BufWriter::new(file);
            self.block_on(async {
                let got = self
                    .store
                    .get(&ObjPath::from(k.as_str()))
                    .await
                    .map_err(self.err(&k, "download"))?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(self.err(&k, "download"))?;
                    w.write_all(&chunk)
                        .map_err(|e| Error::io(&path, "write fetched file", e))?;
                }
                Ok::<(), Error>(())
            })?;
            w.flush()
                .map_err(|e| Error::io(&path, "write fetched file", e))?;
        }
        Ok(())
    }

    /// Deletes every object under `<key>/`. Returns how many.
    pub fn delete_all(&self, key: &str) -> Result<usize> {
        self.block_on(async {
            let prefix = ObjPath::from(key);
            let metas: Vec<_> = self
                .store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(self.err(key, "list"))?;
            for m in &metas {
                match self.store.delete(&m.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.err(m.location.as_ref(), "delete")(e)),
                }
            }
            Ok(metas.len())
        })
    }

    /// The segment directories stored for `index` (their keys).
    pub fn segment_keys(&self, index: &str) -> Result<Vec<String>> {
        let key = self.index_key(index);
        let listed = match self.block_on(
            self.store
                .list_with_delimiter(Some(&ObjPath::from(key.as_str()))),
        ) {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(&key, "list")(e)),
        };
        Ok(listed
            .common_prefixes
            .iter()
            .map(|p| p.as_ref().to_owned())
            .collect())
    }
}

/// Collects the files under `dir` as (`/`-separated relative path, path).
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
        let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let p = entry.path();
        if entry
            .file_type()
            .map_err(|e| Error::io(&p, "stat", e))?
            .is_dir()
        {
            walk(&p, &r, out)?;
        } else {
            out.push((r, p));
        }
    }
    Ok(())
}

/// Rewrites the rows of the segment in `dir` with zstd and updates `meta.json`'s size.
/// Returns the new meta.
///
/// Why zstd: arrow-ipc supports it through its `zstd` feature, and the zstd C library
/// (zstd-sys) is in the tree already through wasmtime, so it costs only thin Rust wrappers. On log rows
/// (text message + JSON fields) it compresses markedly better than LZ4_FRAME at a lower but
/// still fast decode speed, which suits warm data: read less often than hot, kept longer.
/// The record batches are copied one for one, so [`crate::rows::BATCH_ROWS`] (the unit of
/// random access) and the dictionaries are unchanged; the reader detects the codec per batch.
/// The tantivy index is kept as built (its doc store is not used for rows).
pub fn recompress(dir: &Path) -> Result<SegmentMeta> {
    let src = dir.join("rows.arrow");
    let tmp = dir.join("rows.arrow.zst.tmp");
    let old_size = fs::metadata(&src)
        .map_err(|e| Error::io(&src, "stat", e))?
        .len();
    {
        let file = fs::File::open(&src).map_err(|e| Error::io(&src, "open rows file", e))?;
        let reader = arrow_ipc::reader::FileReader::try_new_buffered(file, None)
            .map_err(|e| Error::arrow(&src, e))?;
        let schema = reader.schema();
        let options = arrow_ipc::writer::IpcWriteOptions::default()
            .try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))
            .map_err(|e| Error::arrow(&tmp, e))?;
        let out = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, "create rows file", e))?;
        let mut writer = arrow_ipc::writer::FileWriter::try_new_with_options(
            BufWriter::new(out),
            &schema,
            options,
        )
        .map_err(|e| Error::arrow(&tmp, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::arrow(&src, e))?;
            writer.write(&batch).map_err(|e| Error::arrow(&tmp, e))?;
        }
        writer.finish().map_err(|e| Error::arrow(&tmp, e))?;
        let out = writer
            .into_inner()
            .map_err(|e| Error::arrow(&tmp, e))?
            .into_inner()
            .map_err(|e| Error::io(&tmp, "write rows file", e.into_error()))?;
        out.sync_all()
            .map_err(|e| Error::io(&tmp, "sync rows file", e))?;
    }
    let new_size = fs::metadata(&tmp)
        .map_err(|e| Error::io(&tmp, "stat", e))?
        .len();
    fs::rename(&tmp, &src).map_err(|e| Error::io(&src, "rename recompressed rows", e))?;
    let meta_path = dir.join("meta.json");
    let text = fs::read(&meta_path).map_err(|e| Error::io(&meta_path, "read meta.json", e))?;
    let mut meta: SegmentMeta = serde_json::from_slice(&text)
        .map_err(|e| Error::corrupt(&meta_path, format!("meta.json: {e}")))?;
    meta.bytes = (meta.bytes + new_size).saturating_sub(old_size);
    let text = serde_json::to_vec_pretty(&meta)
        .map_err(|e| Error::corrupt(&meta_path, format!("meta.json: {e}")))?;
    let meta_tmp = dir.join("meta.json.tmp");
    fs::write(&meta_tmp, &text)
        .and_then(|()| fs::File::open(&meta_tmp)?.sync_all())
        .map_err(|e| Error::io(&meta_tmp, "write meta.json", e))?;
    fs::rename(&meta_tmp, &meta_path).map_err(|e| Error::io(&meta_path, "rename meta.json", e))?;
    sync_dir(dir)?;
    Ok(meta)
}

/// Whether a segment with `meta` can hold events a scan of `query` over `range` up to `snap`
/// needs (the same tests as `index::scan`).
pub fn needed(
    meta: &SegmentMeta,
    query: &Query,
    (field, from, to): (TimeField, i64, i64),
    snap: u64,
) -> bool {
    let (min, max) = match field {
        TimeField::Timestamp => (meta.min_timestamp, meta.max_timestamp),
        TimeField::IngestTimestamp => (meta.min_ingest_timestamp, meta.max_ingest_timestamp),
    };
    meta.rows > 0
        && max >= from
        && (min < to || to == i64::MAX)
        && meta.min_seq <= snap
        && !crate::plan::prunes(query.root(), meta)
}

fn aged(now: i64, e: &Entry, after: Option<Duration>) -> bool {
    after.is_some_and(|d| {
        let d = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        now.saturating_sub(d) >= e.max_timestamp
    })
}

impl Index {
    fn remote(&self) -> Result<&Arc<Remote>> {
        self.remote.as_ref().ok_or_else(|| Error::ColdStorage {
            url: String::new(),
            reason: format!(
                "index {:?} has cold segments but the store has no cold storage configured",
                self.name
            ),
        })
    }

    /// The cold segment `e`, from the cache or fetched.
    pub fn cold_segment(&self, e: &Entry) -> Result<Arc<Segment>> {
        let remote = self.remote()?;
        let key = e.location.clone().unwrap_or_default();
        self.cache
            .get(e, |into| remote.download(&key, &e.files, into))
    }

    /// A view in which the cold segments that `need` selects are fetched (or taken from the
    /// cache) and searchable like local ones.
    pub fn view_with(&self, need: impl Fn(&SegmentMeta) -> bool) -> Result<crate::index::View> {
        let mut view = self.view();
        for e in std::mem::take(&mut view.cold) {
            match &e.meta {
                Some(meta) if !need(meta) => view.cold.push(e),
                _ => view.segments.push(self.cold_segment(&e)?),
            }
        }
        Ok(view)
    }

    /// A view for a scan of `query` over `range` up to `snap`.
    pub fn view_for(
        &self,
        query: &Query,
        range: (TimeField, i64, i64),
        snap: u64,
    ) -> Result<crate::index::View> {
        self.view_with(|m| needed(m, query, range, snap))
    }

    /// One retention run at time `now` (ns): sweep orphan objects, delete, warm, cool.
    pub fn retain(&self, now: i64, policy: &Retention) -> Result<RetentionReport> {
        let _tier = lock(&self.tier_lock);
        let mut report = RetentionReport::default();
        if self.remote.is_some() {
            report.remote_orphans = self.sweep()?;
        }
        let catalog = lock(&self.maint).catalog.clone();
        let doomed: Vec<u64> = catalog
            .segments
            .iter()
            .filter(|e| aged(now, e, policy.delete_after))
            .map(|e| e.id)
            .collect();
        if !doomed.is_empty() {
            report.deleted = self.delete_segments(&doomed)?;
        }
        if policy.warm_after.is_some() {
            let (sources, built) = self.warm(now, policy)?;
            report.warmed = sources;
            report.warm_built = built;
        }
        if policy.cold_after.is_some() {
            let catalog = lock(&self.maint).catalog.clone();
            for e in &catalog.segments {
                if e.is_local() && aged(now, e, policy.cold_after) && self.cool(e)? {
                    report.cooled += 1;
                }
            }
        }
        let mut st = lock(&self.stats);
        st.warmed += report.warmed as u64;
        st.cooled += report.cooled as u64;
        st.deleted += report.deleted as u64;
        st.remote_orphans_deleted += report.remote_orphans as u64;
        Ok(report)
    }

    /// Deletes the objects of segment directories under `<prefix>/<index>/` that no cold
    /// catalog entry names. The caller holds the tier lock (no upload in flight).
    fn sweep(&self) -> Result<usize> {
        let remote = self.remote()?;
        let keys = remote.segment_keys(&self.name)?;
        if keys.is_empty() {
            return Ok(0);
        }
        let live: HashSet<String> = lock(&self.maint)
            .catalog
            .segments
            .iter()
            .filter_map(|e| e.location.clone())
            .collect();
        let mut n = 0;
        for k in keys {
            if !live.contains(&k) {
                remote.delete_all(&k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes segments `ids` from the catalog, then deletes their files.
    fn delete_segments(&self, ids: &[u64]) -> Result<usize> {
        let mut maint = lock(&self.maint);
        let mut catalog = maint.catalog.clone();
        let gone: Vec<Entry> = catalog
            .segments
            .iter()
            .filter(|e| ids.contains(&e.id))
            .cloned()
            .collect();
        catalog.segments.retain(|e| !ids.contains(&e.id));
        catalog.store(&self.dir)?;
        crate::failpoint::hit("delete-after-catalog");
        let local: Vec<Arc<Segment>> = {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            let (out, keep) = std::mem::take(&mut view.segments)
                .into_iter()
                .partition(|s| ids.contains(&s.meta.id));
            view.segments = keep;
            view.cold.retain(|e| !ids.contains(&e.id));
            out
        };
        maint.catalog = catalog;
        drop(maint);
        for s in &local {
            s.retire();
        }
        drop(local);
        for e in gone.iter().filter(|e| !e.is_local()) {
            self.cache.forget(&e.dir)?;
            if let Some(key) = &e.location {
                self.remote()?.delete_all(key)?;
            }
        }
        crate::failpoint::hit("delete-after-files");
        Ok(gone.len())
    }

    /// Merges and recompresses the hot segments past `warm_after` into warm ones. Returns
    /// (hot segments consumed, warm segments built).
    fn warm(&self, now: i64, policy: &Retention) -> Result<(usize, usize)> {
        let target = self.opts.warm_target_rows.max(1);
        let mut consumed = 0;
        let mut built = 0;
        loop {
            let mut maint = lock(&self.maint);
            // The first run of consecutive eligible hot segments, up to the target.
            let mut run: Vec<u64> = Vec::new();
            let mut rows = 0u64;
            for e in &maint.catalog.segments {
                let ok = e.tier == catalog::HOT && aged(now, e, policy.warm_after);
                if ok && (run.is_empty() || rows + e.rows <= target) {
                    run.push(e.id);
                    rows += e.rows;
                } else if !run.is_empty() {
                    break;
                }
            }
            if run.is_empty() {
                return Ok((consumed, built));
            }
            let sources: Vec<Arc<Segment>> = {
                let view = self.view.read().unwrap_or_else(|e| e.into_inner());
                run.iter()
                    .filter_map(|id| view.segments.iter().find(|s| s.meta.id == *id).cloned())
                    .collect()
            };
            if sources.len() != run.len() {
                return Err(Error::corrupt(
                    self.dir.join(catalog::FILE),
                    "a hot catalog entry has no open segment",
                ));
            }
            let (events, seqs) = segment::read_in_seq_order(&sources)?;
            let refs: Vec<&Event> = events.iter().collect();
            let id = maint.catalog.next_segment_id;
            let name = segment::dir_name(id);
            let dir = self.dir.join("segments").join(&name);
            let wal_last = sources.iter().map(|s| s.meta.wal_last).max().unwrap_or(0);
            segment::build(&dir, id, &refs, &seqs, wal_last)?;
            drop(refs);
            drop(events);
            let meta = recompress(&dir)?;
            let seg = Arc::new(Segment::open(&dir)?);
            crate::failpoint::hit("warm-after-build");
            let mut catalog = maint.catalog.clone();
            let at = catalog
                .segments
                .iter()
                .position(|e| run.contains(&e.id))
                .unwrap_or(catalog.segments.len());
            catalog.segments.retain(|e| !run.contains(&e.id));
            let mut entry = crate::index::entry(&meta, &name);
            entry.tier = catalog::WARM.into();
            catalog
                .segments
                .insert(at.min(catalog.segments.len()), entry);
            catalog.next_segment_id = id + 1;
            catalog.store(&self.dir)?;
            crate::failpoint::hit("warm-after-catalog");
            {
                let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
                view.segments.retain(|s| !run.contains(&s.meta.id));
                view.segments.push(seg);
            }
            maint.catalog = catalog;
            for s in &sources {
                s.retire();
            }
            drop(sources);
            crate::failpoint::hit("warm-after-retire");
            drop(maint);
            consumed += run.len();
            built += 1;
        }
    }

    /// Moves local segment `e` to the object store. Returns false when it changed meanwhile
    /// (merged or deleted): the uploaded copy is deleted and nothing else happens.
    fn cool(&self, e: &Entry) -> Result<bool> {
        let remote = self.remote()?;
        let seg = {
            let view = self.view.read().unwrap_or_else(|e| e.into_inner());
            view.segments.iter().find(|s| s.meta.id == e.id).cloned()
        };
        let Some(seg) = seg else {
            return Ok(false);
        };
        let key = remote.key(&self.name, &e.dir);
        let files = remote.upload(&seg.dir, &key)?;
        crate::failpoint::hit("cold-after-upload");
        let mut maint = lock(&self.maint);
        let Some(pos) = maint
            .catalog
            .segments
            .iter()
            .position(|x| x.id == e.id && x.is_local())
        else {
            drop(maint);
            remote.delete_all(&key)?;
            return Ok(false);
        };
        let mut catalog = maint.catalog.clone();
        let entry = &mut catalog.segments[pos];
        entry.tier = catalog::COLD.into();
        entry.location = Some(key);
        entry.files = files;
        entry.meta = Some(seg.meta.clone());
        let cold = entry.clone();
        catalog.store(&self.dir)?;
        crate::failpoint::hit("cold-after-catalog");
        {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            view.segments.retain(|s| s.meta.id != e.id);
            view.cold.push(cold);
        }
        maint.catalog = catalog;
        drop(maint);
        seg.retire();
        drop(seg);
        crate::failpoint::hit("cold-after-retire");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_download_and_delete_round_trip_with_multipart() {
        let src = tempfile::tempdir().unwrap();
        let cold = tempfile::tempdir().unwrap();
        let back = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("index")).unwrap();
        // 5 MiB parts at least: one file of 2.5 parts, one small one.
        let big: Vec<u8> = (0..(25u32 << 19)).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(src.path().join("rows.arrow"), &big).unwrap();
        fs::write(src.path().join("index").join(".managed.json"), b"[]").unwrap();
        let mut remote = Remote::open(&ColdStorage {
            url: cold.path().display().to_string(),
            ..ColdStorage::default()
        })
        .unwrap();
        remote.multipart_bytes = 5 << 20;
        let key = remote.key("idx", "seg-1");
        let files = remote.upload(src.path(), &key).unwrap();
        assert_eq!(
            files,
            vec![
                ("index/.managed.json".to_owned(), 2),
                ("rows.arrow".to_owned(), big.len() as u64)
            ]
        );
        assert_eq!(remote.segment_keys("idx").unwrap(), vec![key.clone()]);
        remote.download(&key, &files, back.path()).unwrap();
        assert_eq!(fs::read(back.path().join("rows.arrow")).unwrap(), big);
        assert_eq!(remote.delete_all(&key).unwrap(), 2);
        assert!(remote.segment_keys("idx").unwrap().is_empty());
        assert!(remote.segment_keys("other").unwrap().is_empty());
    }

    #[test]
    fn recompress_keeps_every_row_and_shrinks_the_rows_file() {
        let dir = tempfile::tempdir().unwrap();
        let seg_dir = dir.path().join("seg");
        let events: Vec<Event> = (0..10_000)
            .map(|i| {
                let mut e = Event {
                    timestamp: 1_700_000_000_000_000_000 + i,
                    ingest_timestamp: 1_700_000_000_000_000_000 + i,
                    message: format!(
                        "Accepted password for user{} from 10.0.{}.{} port {} ssh2",
                        i % 37,
                        i % 11,
                        i % 251,
                        40_000 + i % 997
                    ),
                    fields: Default::default(),
                };
                e.fields.insert("service", "sshd");
                e.fields.insert("n", i);
                e
            })
            .collect();
        let refs: Vec<&Event> = events.iter().collect();
        let seqs: Vec<u64> = (0..events.len() as u64).collect();
        let built = segment::build(&seg_dir, 1, &refs, &seqs, 1).unwrap();
        let lz4 = fs::metadata(seg_dir.join("rows.arrow")).unwrap().len();
        let meta = recompress(&seg_dir).unwrap();
        let zstd = fs::metadata(seg_dir.join("rows.arrow")).unwrap().len();
        assert!(zstd < lz4, "zstd {zstd} vs lz4 {lz4}");
        assert_eq!(meta.bytes, built.bytes - lz4 + zstd);
        let seg = Segment::open(&seg_dir).unwrap();
        assert_eq!(seg.meta, meta);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(&seg.rows.event(i).unwrap(), e);
        }
    }
}
