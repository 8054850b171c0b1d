//! `file`: tails every file matching glob patterns, like Vector's `file` source
//! or Fluent Bit's `tail`, with checkpoints, rotation and truncation handling.
//!
//! Files are tracked by identity — (device, inode) plus a fingerprint of their
//! first bytes — not by path, so a rotated file that still matches a glob is
//! not read twice and a reused inode is not mistaken for the old file. The
//! checkpoint stores, per file, the offset just past the last complete line
//! whose batch, and every batch before it, was acknowledged by every sink
//! (see [`crate::ack`]); a restart resumes there, so delivery is
//! at-least-once across crashes. Files that were present
//! at startup and have no checkpoint start at `read_from`; files that appear
//! later are new, so they are read from their beginning.

mod checkpoint;

use super::{SourceContext, SourceError, MAX_BATCH};
use crate::AckTracker;
use crate::Events;
pub use checkpoint::checkpoint_path;
use checkpoint::{load_checkpoints, Checkpoint, Checkpoints, Fingerprint, Key, FINGERPRINT_BYTES};
use serde::Deserialize;
use sluice_event::{message_from_bytes, names, now_ns, Event, Fields, MAX_LINE_BYTES};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::mem;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Glob patterns of the files to tail, e.g. `/var/log/app/*.log`.
    pub include: Vec<String>,
    /// Glob patterns of paths to leave alone even though `include` matches them.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start in a file that was there at startup and has no checkpoint.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// How often open files are checked for new data, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// How often the globs are expanded to discover new files, in milliseconds.
    #[serde(default = "default_glob_interval_ms")]
    pub glob_interval_ms: u64,
}

fn default_poll_interval_ms() -> u64 {
    250
}
fn default_glob_interval_ms() -> u64 {
    1000
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    #[default]
    Beginning,
    End,
}

/// How much one read takes from a file.
const CHUNK_BYTES: usize = 256 * 1024;
/// How much a file may be read per cycle before the others get their turn.
const CYCLE_BUDGET: usize = 4 * 1024 * 1024;
/// How long a stopping source waits for its last batches' acknowledgements.
const SETTLE_AT_SHUTDOWN: Duration = Duration::from_secs(10);
/// The least time between two checkpoint writes while running.
const SAVE_EVERY: Duration = Duration::from_millis(100);

/// One open file being tailed.
struct Watcher {
    key: Key,
    /// Where the file was last seen; updated when it is renamed.
    path: PathBuf,
    /// The path it was first found at: the events' `source`.
    source: String,
    file: Arc<File>,
    fingerprint: Fingerprint,
    /// The next byte to read.
    read_pos: u64,
    /// Just past the last complete line put into the batch.
    pending: u64,
    /// Just past the last complete line sent downstream.
    sent: u64,
    /// Just past the last complete line acknowledged: what is checkpointed.
    acked: u64,
    /// Grows when the file is read again from the start, so that
    /// acknowledgements of what was read before do not apply.
    generation: u64,
    /// The start of a line whose newline has not been read yet, capped at
    /// `MAX_LINE_BYTES + 1` bytes.
    partial: Vec<u8>,
    /// Bytes of the current line were dropped past the cap.
    overflow: bool,
    /// When the file was found no longer to match (deleted or renamed away).
    orphaned_since: Option<Instant>,
    at_eof: bool,
}

impl Watcher {
    /// Splits `data`, read at `read_pos`, into lines and puts complete ones
    /// into `batch`, stopping when it is full. Returns the bytes consumed.
    fn consume(&mut self, data: &[u8], batch: &mut Events, now: i64) -> usize {
        let mut at = 0;
        while at < data.len() && batch.len() < MAX_BATCH {
            let rest = &data[at..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                self.append_partial(rest);
                self.read_pos += rest.len() as u64;
                return data.len();
            };
            if self.partial.is_empty() {
                self.push_line(&rest[..nl], false, batch, now);
            } else {
                self.append_partial(&rest[..nl]);
                let line = mem::take(&mut self.partial);
                self.push_line(&line, self.overflow, batch, now);
                self.overflow = false;
            }
            at += nl + 1;
            self.read_pos += nl as u64 + 1;
            self.pending = self.read_pos;
        }
        at
    }

    fn append_partial(&mut self, bytes: &[u8]) {
        let room = (MAX_LINE_BYTES + 1).saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.overflow = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn push_line(&self, line: &[u8], overflow: bool, batch: &mut Events, now: i64) {
        // A cut line's last kept byte is not its end, so it is no `\r` to strip.
        let line = match overflow {
            true => line,
            false => line.strip_suffix(b"\r").unwrap_or(line),
        };
        if line.is_empty() {
            return;
        }
        let (message, truncated) = message_from_bytes(line);
        if truncated {
            tracing::warn!(file = %self.source, "line longer than {MAX_LINE_BYTES} bytes truncated");
        }
        let mut fields = Fields::with_capacity(1);
        fields.push_unique(names::SOURCE.to_owned(), self.source.as_str().into());
        batch.push(Event {
            timestamp: now,
            ingest_timestamp: now,
            message,
            fields,
        });
    }

    /// Starts over after the file shrank below what was read.
    fn restart(&mut self) {
        self.read_pos = 0;
        self.pending = 0;
        self.sent = 0;
        self.acked = 0;
        self.generation += 1;
        self.partial.clear();
        self.overflow = false;
    }
}

/// What a glob scan found at one path.
enum Found {
    Known(Key, PathBuf),
    New(Watcher, SystemTime),
    Failed(PathBuf, io::Error),
}

/// What a poll learns about a watched file.
struct Status {
    size: io::Result<u64>,
    key_at_path: Option<Key>,
    /// The file no longer starts with its fingerprinted bytes: it was
    /// truncated and written again, maybe past where we were.
    rewritten: bool,
    /// A new fingerprint, when it was widened or the content replaced.
    fingerprint: Option<Fingerprint>,
}

enum Step {
    Idle,
    Busy,
    Stop,
}

/// Where a file is done once a batch is delivered: its key, generation and
/// offset.
type DoneAt = (Key, u64, u64);

struct Tailer {
    name: String,
    include: Arc<Vec<String>>,
    exclude: Arc<Vec<glob::Pattern>>,
    read_from: ReadFrom,
    checkpoint_path: PathBuf,
    /// Checkpoints loaded at startup not yet claimed by a watcher.
    saved: HashMap<Key, Checkpoint>,
    watchers: Vec<Watcher>,
    batch: Events,
    chunk: Vec<u8>,
    dirty: bool,
    last_save: Instant,
    /// Paths that failed to open, so each is warned about once.
    failed: HashSet<PathBuf>,
    acks: AckTracker,
    /// Per batch sent and not yet acknowledged, in order: its number and
    /// where each file it read from is then done (key, generation, offset).
    in_flight: VecDeque<(u64, Vec<DoneAt>)>,
    failure_reported: bool,
}

/// Tails the configured files until shutdown or until downstream goes away.
pub async fn run(config: FileConfig, ctx: SourceContext) -> Result<(), SourceError> {
    let mut tailer = Tailer::new(&config, &ctx).await?;
    let poll = Duration::from_millis(config.poll_interval_ms.max(1));
    let glob_every = Duration::from_millis(config.glob_interval_ms.max(1));
    tailer.scan(true).await?;
    let mut last_scan = Instant::now();
    while !ctx.is_shutting_down() {
        if tailer.check_files().await? || last_scan.elapsed() >= glob_every {
            tailer.scan(false).await?;
            last_scan = Instant::now();
        }
        let step = tailer.read_all(&ctx).await?;
        tailer.prune(glob_every);
        tailer.apply_acks();
        tailer.maybe_save().await;
        match step {
            Step::Stop => break,
            Step::Busy => tokio::task::yield_now().await,
            Step::Idle => tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = ctx.shutdown_signal() => break,
            },
        }
    }
    tailer.settle(SETTLE_AT_SHUTDOWN).await;
    tailer.save().await
}

impl Tailer {
    async fn new(config: &FileConfig, ctx: &SourceContext) -> Result<Self, SourceError> {
        let other = |message: String| SourceError::Other {
            source_name: ctx.name.clone(),
            message,
        };
        if config.include.is_empty() {
            return Err(other("`include` needs at least one glob pattern".into()));
        }
        for pattern in &config.include {
            glob::Pattern::new(pattern).map_err(|e| other(format!("include {pattern:?}: {e}")))?;
        }
        let exclude = config
            .exclude
            .iter()
            .map(|p| glob::Pattern::new(p).map_err(|e| other(format!("exclude {p:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoint_path = checkpoint_path(&ctx.data_dir, &ctx.name);
        let dir = checkpoint_path.parent().unwrap_or(&ctx.data_dir);
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|error| SourceError::Io {
                source_name: ctx.name.clone(),
                path: dir.to_owned(),
                error,
            })?;
        Ok(Tailer {
            name: ctx.name.clone(),
            include: Arc::new(config.include.clone()),
            exclude: Arc::new(exclude),
            read_from: config.read_from,
            saved: load_checkpoints(&checkpoint_path).await,
            checkpoint_path,
            watchers: Vec::new(),
            batch: Vec::with_capacity(MAX_BATCH),
            chunk: Vec::new(),
            dirty: false,
            last_save: Instant::now(),
            failed: HashSet::new(),
            acks: AckTracker::new(),
            in_flight: VecDeque::new(),
            failure_reported: false,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SourceError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| SourceError::Other {
                source_name: self.name.clone(),
                message: format!("file task failed: {e}"),
            })
    }

    /// Expands the globs: renamed files get their new path, files no longer
    /// found are orphaned, and new ones are opened.
    async fn scan(&mut self, initial: bool) -> Result<(), SourceError> {
        let (include, exclude) = (self.include.clone(), self.exclude.clone());
        let known: HashSet<Key> = self.watchers.iter().map(|w| w.key).collect();
        let mut saved = mem::take(&mut self.saved);
        let at_end = initial && self.read_from == ReadFrom::End;
        let (found, saved) = self
            .blocking(move || {
                let found = scan_blocking(&include, &exclude, &known, &mut saved, at_end);
                (found, saved)
            })
            .await?;
        self.saved = saved;

        let mut seen = HashSet::new();
        let mut new = Vec::new();
        for found in found {
            match found {
                Found::Known(key, path) => {
                    seen.insert(key);
                    if let Some(w) = self.watchers.iter_mut().find(|w| w.key == key) {
                        if w.path != path {
                            tracing::debug!(from = %w.path.display(), to = %path.display(), "file renamed");
                            w.path = path;
                            self.dirty = true;
                        }
                        w.orphaned_since = None;
                    }
                }
                Found::New(watcher, modified) => {
                    seen.insert(watcher.key);
                    self.failed.remove(&watcher.path);
                    new.push((modified, watcher));
                }
                Found::Failed(path, error) => {
                    if self.failed.insert(path.clone()) {
                        tracing::warn!(path = %path.display(), %error, "cannot open file");
                    }
                }
            }
        }
        for w in &mut self.watchers {
            if !seen.contains(&w.key) && w.orphaned_since.is_none() {
                tracing::debug!(path = %w.path.display(), "file gone; reading it to its end");
                w.orphaned_since = Some(Instant::now());
            }
        }
        // Oldest first, so rotated files are read before their successors.
        new.sort_by_key(|(modified, _)| *modified);
        for (_, w) in new {
            tracing::info!(path = %w.path.display(), offset = w.read_pos, "watching file");
            self.watchers.push(w);
            self.dirty = true;
        }
        Ok(())
    }

    /// Looks for truncation and widens young fingerprints. Returns whether a
    /// path now leads to another file (or none), so a scan is due.
    async fn check_files(&mut self) -> Result<bool, SourceError> {
        let probes: Vec<_> = self
            .watchers
            .iter()
            .map(|w| (w.file.clone(), w.path.clone(), w.fingerprint))
            .collect();
        let statuses = self
            .blocking(move || {
                probes
                    .iter()
                    .map(|(file, path, fp)| stat_blocking(file, path, *fp))
                    .collect::<Vec<_>>()
            })
            .await?;
        let mut rescan = false;
        for (w, status) in self.watchers.iter_mut().zip(statuses) {
            if w.orphaned_since.is_none() && status.key_at_path != Some(w.key) {
                rescan = true;
            }
            match status.size {
                Ok(size) if size < w.read_pos || status.rewritten => {
                    tracing::warn!(path = %w.path.display(), size, offset = w.read_pos, "file truncated; reading it again from the start");
                    w.restart();
                    self.dirty = true;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(path = %w.path.display(), %error, "cannot stat file"),
            }
            if let Some(fp) = status.fingerprint {
                w.fingerprint = fp;
                self.dirty = true;
            }
        }
        Ok(rescan)
    }

    /// Reads every file once, oldest first, sending full batches as they
    /// fill and the rest at the end.
    async fn read_all(&mut self, ctx: &SourceContext) -> Result<Step, SourceError> {
        let mut busy = false;
        for i in 0..self.watchers.len() {
            match self.read_file(i, ctx).await? {
                Step::Stop => return Ok(Step::Stop),
                Step::Busy => busy = true,
                Step::Idle => {}
            }
        }
        if !self.flush(ctx).await {
            return Ok(Step::Stop);
        }
        Ok(if busy { Step::Busy } else { Step::Idle })
    }

    async fn read_file(&mut self, i: usize, ctx: &SourceContext) -> Result<Step, SourceError> {
        let mut budget = CYCLE_BUDGET;
        loop {
            let w = &self.watchers[i];
            // A file that is gone is read to its end in one go: its
            // successor at the same path must not start before it ends.
            if budget == 0 && w.orphaned_since.is_none() {
                return Ok(Step::Busy);
            }
            let (file, pos, mut buf) = (w.file.clone(), w.read_pos, mem::take(&mut self.chunk));
            let (buf, read) = self
                .blocking(move || {
                    buf.resize(CHUNK_BYTES, 0);
                    let read = file.read_at(&mut buf, pos);
                    (buf, read)
                })
                .await?;
            self.chunk = buf;
            let n = match read {
                Ok(n) => n,
                Err(error) => {
                    let path = self.watchers[i].path.display();
                    tracing::warn!(path = %path, %error, "cannot read file");
                    return Ok(Step::Idle);
                }
            };
            self.watchers[i].at_eof = n == 0;
            if n == 0 {
                return Ok(Step::Idle);
            }
            budget = budget.saturating_sub(n);
            let now = now_ns();
            let mut at = 0;
            while at < n {
                at += self.watchers[i].consume(&self.chunk[at..n], &mut self.batch, now);
                if self.batch.len() >= MAX_BATCH && !self.flush(ctx).await {
                    return Ok(Step::Stop);
                }
            }
        }
    }

    /// Sends the batch with an acknowledgement and remembers where each
    /// file it read from is then done. Returns `false` when downstream is
    /// gone or the pipeline shuts down; unsent lines are not checkpointed,
    /// so they are read again on restart.
    async fn flush(&mut self, ctx: &SourceContext) -> bool {
        if !self.batch.is_empty() {
            let batch = mem::replace(&mut self.batch, Vec::with_capacity(MAX_BATCH));
            let (seq, acks) = self.acks.issue();
            let sent = tokio::select! {
                biased;
                _ = ctx.shutdown_signal() => false,
                sent = ctx.send_acked(batch, acks) => sent,
            };
            if !sent {
                return false;
            }
            let done: Vec<_> = self
                .watchers
                .iter_mut()
                .filter(|w| w.sent != w.pending)
                .map(|w| {
                    w.sent = w.pending;
                    (w.key, w.generation, w.pending)
                })
                .collect();
            self.in_flight.push_back((seq, done));
        }
        self.apply_acks();
        self.maybe_save().await;
        true
    }

    /// Moves each file's checkpoint past the batches acknowledged so far.
    fn apply_acks(&mut self) {
        let delivered_below = self.acks.poll();
        while self
            .in_flight
            .front()
            .is_some_and(|(seq, _)| *seq < delivered_below)
        {
            let (_, done) = self.in_flight.pop_front().expect("checked");
            for (key, generation, offset) in done {
                let Some(w) = self
                    .watchers
                    .iter_mut()
                    .find(|w| w.key == key && w.generation == generation)
                else {
                    continue;
                };
                if offset > w.acked {
                    w.acked = offset;
                    self.dirty = true;
                }
            }
        }
        if self.acks.failed().is_some() && !self.failure_reported {
            self.failure_reported = true;
            tracing::error!(source = %self.name, "a sink could not deliver a batch; the checkpoint stays before it, so it is read again after a restart");
        }
    }

    /// At shutdown: waits (up to `limit`) for the batches still in flight
    /// to be acknowledged, so the final checkpoint covers them.
    async fn settle(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.acks.outstanding() > 0 && self.acks.failed().is_none() {
            if tokio::time::timeout_at(deadline, self.acks.wait())
                .await
                .is_err()
            {
                tracing::warn!(source = %self.name, batches = self.acks.outstanding(), "not acknowledged at shutdown; read again after a restart");
                break;
            }
        }
        self.apply_acks();
    }

    /// Lets go of files that are gone, fully read and quiet for a while.
    fn prune(&mut self, grace: Duration) {
        let before = self.watchers.len();
        self.watchers.retain(|w| {
            let done = w.at_eof && w.orphaned_since.is_some_and(|t| t.elapsed() >= grace);
            if done {
                if !w.partial.is_empty() {
                    tracing::warn!(path = %w.path.display(), "file gone with an unterminated last line");
                }
                tracing::info!(path = %w.path.display(), "stopped watching file");
            }
            !done
        });
        self.dirty |= self.watchers.len() != before;
    }

    async fn maybe_save(&mut self) {
        if self.dirty && self.last_save.elapsed() >= SAVE_EVERY {
            if let Err(error) = self.save().await {
                tracing::error!(%error, "cannot write checkpoint");
            }
        }
    }

    /// Writes every watched file's sent offset to a temporary file and
    /// renames it over the checkpoint.
    async fn save(&mut self) -> Result<(), SourceError> {
        let files = self
            .watchers
            .iter()
            .map(|w| Checkpoint {
                path: w.path.to_string_lossy().into_owned(),
                dev: w.key.0,
                ino: w.key.1,
                fingerprint_len: w.fingerprint.len,
                fingerprint: w.fingerprint.hash,
                offset: w.acked,
            })
            .collect();
        let json = serde_json::to_vec_pretty(&Checkpoints { version: 1, files })
            .expect("checkpoints serialize");
        let tmp = self.checkpoint_path.with_extension("json.tmp");
        let io_err = |path: &Path| {
            let (name, path) = (self.name.clone(), path.to_owned());
            move |error| SourceError::Io {
                source_name: name,
                path,
                error,
            }
        };
        tokio::fs::write(&tmp, json).await.map_err(io_err(&tmp))?;
        let to = &self.checkpoint_path;
        tokio::fs::rename(&tmp, to).await.map_err(io_err(to))?;
        self.dirty = false;
        self.last_save = Instant::now();
        Ok(())
    }
}

fn scan_blocking(
    include: &[String],
    exclude: &[glob::Pattern],
    known: &HashSet<Key>,
    saved: &mut HashMap<Key, Checkpoint>,
    at_end: bool,
) -> Vec<Found> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let paths = include
        .iter()
        .filter_map(|p| glob::glob(p).ok())
        .flatten()
        .filter_map(Result::ok);
    for path in paths {
        if exclude.iter().any(|p| p.matches_path(&path)) {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let key = (meta.dev(), meta.ino());
        if !meta.is_file() || !seen.insert(key) {
            continue;
        }
        if known.contains(&key) {
            found.push(Found::Known(key, path));
            continue;
        }
        match open_blocking(&path, key, saved, at_end) {
            Ok(Some(w)) => {
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                found.push(Found::New(w, modified));
            }
            // Replaced between the stat and the open: the next scan sees it.
            Ok(None) => {}
            Err(e) => found.push(Found::Failed(path, e)),
        }
    }
    found
}

/// Opens a newly found file and decides where to start reading it: at its
/// checkpoint if it has one whose fingerprint still matches, else at its end
/// when `at_end`, else at its beginning. A checkpoint whose fingerprint does
/// not match belonged to an earlier file with the same inode and is dropped.
fn open_blocking(
    path: &Path,
    key: Key,
    saved: &mut HashMap<Key, Checkpoint>,
    at_end: bool,
) -> io::Result<Option<Watcher>> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if (meta.dev(), meta.ino()) != key {
        return Ok(None);
    }
    let size = meta.len();
    let resumed = match saved.remove(&key) {
        Some(c) => {
            let fp = Fingerprint {
                len: c.fingerprint_len,
                hash: c.fingerprint,
            };
            if !fp.matches(&file)? {
                None
            } else if size < c.offset {
                tracing::warn!(path = %path.display(), size, offset = c.offset, "file shrank since its checkpoint; reading it from the start");
                Some(0)
            } else {
                Some(c.offset)
            }
        }
        None => None,
    };
    let start = resumed.unwrap_or(if at_end { size } else { 0 });
    Ok(Some(Watcher {
        key,
        path: path.to_owned(),
        source: path.to_string_lossy().into_owned(),
        fingerprint: Fingerprint::of(&file)?,
        file: Arc::new(file),
        read_pos: start,
        pending: start,
        sent: start,
        acked: start,
        generation: 0,
        partial: Vec::new(),
        overflow: false,
        orphaned_since: None,
        at_eof: false,
    }))
}

fn stat_blocking(file: &File, path: &Path, fp: Fingerprint) -> Status {
    let size = file.metadata().map(|m| m.len());
    let key_at_path = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let rewritten = !fp.matches(file).unwrap_or(true);
    let widen = matches!(size, Ok(s) if fp.len < FINGERPRINT_BYTES && s > fp.len as u64);
    let fingerprint = (rewritten || widen)
        .then(|| Fingerprint::of(file).ok())
        .flatten()
        .filter(|new| *new != fp);
    Status {
        size,
        key_at_path,
        rewritten,
        fingerprint,
    }
}

#[cfg(test)]
mod tests;
