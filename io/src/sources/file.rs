//! `file`: tails every file matching glob patterns, like Vector's `file` source
//! or Fluent Bit's `tail`, with checkpoints, rotation and truncation handling.
//!
//! Files are tracked by identity — (device, inode) plus a fingerprint of their
//! first bytes — not by path, so a rotated file that still matches a glob is
//! not read twice and a reused inode is not mistaken for the old file. The
//! checkpoint stores, per file, the offset just past the last complete line
//! that was sent downstream; a restart resumes there. Files that were present
//! at startup and have no checkpoint start at `read_from`; files that appear
//! later are new, so they are read from their beginning.

use super::{SourceContext, SourceError, MAX_BATCH};
use crate::Events;
use serde::{Deserialize, Serialize};
use sluice_event::{message_from_bytes, names, now_ns, Event, Fields, MAX_LINE_BYTES};
use std::collections::{HashMap, HashSet};
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

/// Where the source named `source_name` keeps its checkpoints.
pub fn checkpoint_path(data_dir: &Path, source_name: &str) -> PathBuf {
    let safe: String = source_name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    data_dir.join("checkpoints").join(format!("{safe}.json"))
}

/// How many leading bytes identify a file's content.
const FINGERPRINT_BYTES: usize = 256;
/// How much one read takes from a file.
const CHUNK_BYTES: usize = 256 * 1024;
/// How much a file may be read per cycle before the others get their turn.
const CYCLE_BUDGET: usize = 4 * 1024 * 1024;
/// The least time between two checkpoint writes while running.
const SAVE_EVERY: Duration = Duration::from_millis(100);

/// (device, inode).
type Key = (u64, u64);

/// What the checkpoint file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoints {
    version: u32,
    files: Vec<Checkpoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    /// Informational only: identity is `dev`, `ino` and the fingerprint.
    path: String,
    dev: u64,
    ino: u64,
    fingerprint_len: usize,
    fingerprint: u64,
    /// Just past the last complete line that was sent.
    offset: u64,
}

/// A hash of a file's first `len` (at most [`FINGERPRINT_BYTES`]) bytes. It
/// covers fewer bytes while the file is young and is widened as it grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: usize,
    hash: u64,
}

impl Fingerprint {
    fn of(file: &File) -> io::Result<Self> {
        let prefix = read_prefix(file, FINGERPRINT_BYTES)?;
        Ok(Fingerprint {
            len: prefix.len(),
            hash: fnv1a(&prefix),
        })
    }

    /// Whether `file` still starts with the bytes this was taken from.
    fn matches(self, file: &File) -> io::Result<bool> {
        let prefix = read_prefix(file, self.len)?;
        Ok(prefix.len() == self.len && fnv1a(&prefix) == self.hash)
    }
}

fn read_prefix(file: &File, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

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
    /// Just past the last complete line sent downstream: what is checkpointed.
    sent: u64,
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

    /// Sends the batch, then marks what it held as sent. Returns `false`
    /// when downstream is gone or the pipeline shuts down; unsent lines are
    /// not checkpointed, so they are read again on restart.
    async fn flush(&mut self, ctx: &SourceContext) -> bool {
        if !self.batch.is_empty() {
            let batch = mem::replace(&mut self.batch, Vec::with_capacity(MAX_BATCH));
            let sent = tokio::select! {
                biased;
                _ = ctx.shutdown_signal() => false,
                sent = ctx.send(batch) => sent,
            };
            if !sent {
                return false;
            }
        }
        for w in &mut self.watchers {
            if w.sent != w.pending {
                w.sent = w.pending;
                self.dirty = true;
            }
        }
        self.maybe_save().await;
        true
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
                offset: w.sent,
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

async fn load_checkpoints(path: &Path) -> HashMap<Key, Checkpoint> {
    let parsed = match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice::<Checkpoints>(&bytes).map_err(|e| e.to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Checkpoints::default()),
        Err(e) => Err(e.to_string()),
    };
    match parsed {
        Ok(c) => c.files.into_iter().map(|c| ((c.dev, c.ino), c)).collect(),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring unreadable checkpoint");
            HashMap::new()
        }
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
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::sync::watch;
    use tokio::task::JoinHandle;

    struct Tail {
        rx: crate::sources::test_support::EventReceiver,
        stop: watch::Sender<bool>,
        task: JoinHandle<Result<(), SourceError>>,
    }

    fn config(dir: &Path, pattern: &str, read_from: ReadFrom) -> FileConfig {
        FileConfig {
            include: vec![dir.join(pattern).to_string_lossy().into_owned()],
            exclude: vec![],
            read_from,
            poll_interval_ms: 10,
            glob_interval_ms: 20,
        }
    }

    fn start(config: FileConfig, data_dir: &Path) -> Tail {
        let (tx, rx) = crate::sources::test_support::channel(8);
        let (stop, shutdown) = watch::channel(false);
        let ctx = SourceContext {
            name: "tail".into(),
            out: tx,
            shutdown,
            data_dir: data_dir.to_owned(),
        };
        let task = tokio::spawn(run(config, ctx));
        Tail { rx, stop, task }
    }

    impl Tail {
        /// Receives exactly `n` messages, then checks nothing more comes.
        async fn expect(&mut self, n: usize) -> Vec<String> {
            let mut got = Vec::new();
            while got.len() < n {
                let wait = tokio::time::timeout(Duration::from_secs(5), self.rx.recv());
                let batch = wait.await.expect("timed out").expect("source ended");
                got.extend(batch.into_iter().map(|e| e.message));
            }
            self.quiet().await;
            assert_eq!(got.len(), n, "{got:?}");
            got
        }

        async fn quiet(&mut self) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(batch) = self.rx.try_recv() {
                panic!("unexpected events: {batch:?}");
            }
        }

        async fn stop(self) {
            self.stop.send(true).unwrap();
            self.task.await.unwrap().unwrap();
        }
    }

    fn append(path: impl AsRef<Path>, text: impl AsRef<[u8]>) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_ref()).unwrap();
    }

    #[tokio::test]
    async fn reads_existing_lines_then_appended_ones() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "one\ntwo\n");
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
        assert_eq!(tail.expect(2).await, ["one", "two"]);
        append(&log, "three\n");
        append(&log, "four\n");
        assert_eq!(tail.expect(2).await, ["three", "four"]);
        tail.stop().await;
    }

    #[tokio::test]
    async fn read_from_end_skips_existing_lines_but_not_later_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "old\n");
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::End), dir.path());
        // The first checkpoint is written once the file has been found.
        while !checkpoint_path(dir.path(), "tail").exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tail.quiet().await;
        append(&log, "new\n");
        assert_eq!(tail.expect(1).await, ["new"]);
        append(dir.path().join("later.log"), "first\nsecond\n");
        assert_eq!(tail.expect(2).await, ["first", "second"]);
        tail.stop().await;
    }

    #[tokio::test]
    async fn restart_resumes_from_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "a\nb\npart");
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
        assert_eq!(tail.expect(2).await, ["a", "b"]);
        tail.stop().await;
        // The unterminated line is not checkpointed as read.
        let saved = std::fs::read(checkpoint_path(dir.path(), "tail")).unwrap();
        let saved: Checkpoints = serde_json::from_slice(&saved).unwrap();
        assert_eq!(saved.files[0].offset, 4);

        append(&log, "ial\nc\n");
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
        assert_eq!(tail.expect(2).await, ["partial", "c"]);
        tail.stop().await;
        // read_from = end does not apply to a file with a checkpoint.
        append(&log, "d\n");
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::End), dir.path());
        assert_eq!(tail.expect(1).await, ["d"]);
        tail.stop().await;
    }

    #[tokio::test]
    async fn stopping_mid_file_and_restarting_yields_every_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("big.log");
        let lines: Vec<String> = (0..50_000).map(|i| format!("line {i}")).collect();
        append(&log, lines.join("\n") + "\n");
        let mut got = Vec::new();
        while got.len() < lines.len() {
            let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
            let first = tail.rx.recv().await.unwrap();
            assert!(first.len() <= MAX_BATCH);
            got.extend(first.into_iter().map(|e| e.message));
            // Whatever was sent before the stop counts, in the channel or not.
            tail.stop.send(true).unwrap();
            while let Some(batch) = tail.rx.recv().await {
                got.extend(batch.into_iter().map(|e| e.message));
            }
            tail.task.await.unwrap().unwrap();
        }
        assert!(got == lines, "lines lost, repeated or out of order");
    }

    #[tokio::test]
    async fn a_checkpoint_for_another_file_on_the_same_inode_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "fresh content\n");
        let meta = std::fs::metadata(&log).unwrap();
        let stale = Checkpoints {
            version: 1,
            files: vec![Checkpoint {
                path: log.to_string_lossy().into_owned(),
                dev: meta.dev(),
                ino: meta.ino(),
                fingerprint_len: 14,
                fingerprint: fnv1a(b"other content\n"),
                offset: 14,
            }],
        };
        let path = checkpoint_path(dir.path(), "tail");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(&stale).unwrap()).unwrap();
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
        // Resuming at 14 would read nothing: the file is taken as new.
        assert_eq!(tail.expect(1).await, ["fresh content"]);
        tail.stop().await;
    }

    async fn rotation(pattern: &str) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "a1\na2\n");
        let mut tail = start(config(dir.path(), pattern, ReadFrom::Beginning), dir.path());
        assert_eq!(tail.expect(2).await, ["a1", "a2"]);
        append(&log, "a3\n");
        std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        // The writer still holds the old file for a moment.
        append(dir.path().join("app.log.1"), "a4\n");
        append(&log, "b1\nb2\n");
        assert_eq!(tail.expect(4).await, ["a3", "a4", "b1", "b2"]);
        append(&log, "b3\n");
        assert_eq!(tail.expect(1).await, ["b3"]);
        tail.stop().await;
    }

    #[tokio::test]
    async fn rotation_to_a_name_outside_the_glob_loses_and_repeats_nothing() {
        rotation("*.log").await;
    }

    #[tokio::test]
    async fn rotation_to_a_name_the_glob_matches_is_not_read_twice() {
        rotation("app.log*").await;
    }

    #[tokio::test]
    async fn truncation_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "a long first line\nanother line\n");
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
        assert_eq!(tail.expect(2).await, ["a long first line", "another line"]);
        std::fs::write(&log, "short\n").unwrap();
        assert_eq!(tail.expect(1).await, ["short"]);
        // Truncated and refilled past the old offset between two polls.
        let mut file = std::fs::File::create(&log).unwrap();
        file.write_all(b"replaced with a much longer line\nand more\n")
            .unwrap();
        assert_eq!(tail.expect(2).await[0], "replaced with a much longer line");
        tail.stop().await;
    }

    #[tokio::test]
    async fn a_partial_line_waits_for_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "done\nhal");
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
        assert_eq!(tail.expect(1).await, ["done"]);
        append(&log, "f");
        tail.quiet().await;
        append(&log, "\n");
        assert_eq!(tail.expect(1).await, ["half"]);
        tail.stop().await;
    }

    #[tokio::test]
    async fn crlf_empty_lines_bad_utf8_and_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let mut text = b"dos\r\n\r\n\nbad \xff byte\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        text.extend(b"\r\nafter\n");
        append(&log, &text);
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
        let got = tail.expect(4).await;
        assert_eq!(got[..2], ["dos", "bad \u{FFFD} byte"]);
        assert!(got[2].starts_with("xxx") && got[2].ends_with(sluice_event::TRUNCATION_MARKER));
        assert_eq!(got[3], "after");
        tail.stop().await;
    }

    #[tokio::test]
    async fn events_name_their_file_and_excluded_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path().join("app.log"), "kept\n");
        append(dir.path().join("debug.log"), "skipped\n");
        let mut config = config(dir.path(), "*.log", ReadFrom::Beginning);
        config.exclude = vec![dir.path().join("debug*").to_string_lossy().into_owned()];
        let mut tail = start(config, dir.path());
        let batch = tail.rx.recv().await.unwrap();
        assert_eq!(batch.len(), 1);
        let source = dir.path().join("app.log").to_string_lossy().into_owned();
        assert_eq!(batch[0].fields.get(names::SOURCE), Some(&source.into()));
        tail.quiet().await;
        tail.stop().await;
    }
}
