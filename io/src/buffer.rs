//! Sink buffers (DESIGN §5): what sits between a sink's inputs and the
//! sink.
//!
//! The default is the bounded in-memory channel every edge has. A **disk
//! buffer** (`buffer.type = "disk"`) puts a [`sluice_wal`] log in between:
//!
//! ```text
//! inputs ─▶ [writer] ─▶ WAL (lz4 frames, CRC32C) ─▶ [reader] ─▶ sink
//!              │ acks upstream once fsynced           ▲ sink acks ─▶ WAL ack, segments deleted
//! ```
//!
//! - A batch is one record. The writer appends what is waiting (up to
//!   [`GROUP`] batches), fsyncs once, and only then lets the batches go, which
//!   acknowledges them upstream: the buffer is durable storage.
//! - The reader sends records to the sink in order, each with an
//!   acknowledgement; the WAL's ack position moves over the records the sink
//!   has delivered, in order, and fully acknowledged segments are deleted. A
//!   record the sink failed stays, and is sent again after a restart.
//! - At startup the WAL recovers (a torn tail is cut off, corrupt frames are
//!   counted and skipped) and everything not acknowledged is sent again:
//!   at-least-once.
//! - `max_size` bounds the bytes on disk. When a batch does not fit,
//!   `when_full` decides: `block` waits (backpressure reaches the source),
//!   `drop_newest` drops the batch, and `drop_by_level` drops its DEBUG (and
//!   TRACE) events, then its INFO (and unlevelled) events, and waits for room
//!   for the rest: WARN and above are never dropped. Drops are counted in
//!   the stage's `dropped` metric and logged.

use crate::{Acks, Batch, Delivery, StageCounters};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use sluice_event::packed::PackedBatch;
use sluice_event::{names, Level};
use sluice_wal::{Options, Reader, SyncPolicy, Writer};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// The most batches one append (and one fsync) covers.
pub const GROUP: usize = 32;

/// `buffer = { ... }` on a sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    #[serde(rename = "type")]
    pub kind: BufferKind,
    /// Bytes on disk, as a number or with a unit: `"512MiB"`, `"2 GB"`.
    #[serde(default = "default_max_size", deserialize_with = "byte_size")]
    pub max_size: u64,
    #[serde(default)]
    pub when_full: WhenFull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BufferKind {
    /// The bounded channel every edge has (the default without `buffer`).
    Memory,
    Disk,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    #[default]
    Block,
    DropNewest,
    DropByLevel,
}

fn default_max_size() -> u64 {
    256 << 20
}

/// The smallest `max_size` a disk buffer takes: room for a few segments.
pub const MIN_MAX_SIZE: u64 = 1 << 20;

fn byte_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    let size = match Size::deserialize(deserializer)? {
        Size::Number(n) => n,
        Size::Text(text) => parse_byte_size(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid size {text:?}; expected bytes, e.g. 268435456, \"256MiB\" or \"1 GB\""
            ))
        })?,
    };
    if size < MIN_MAX_SIZE {
        return Err(de::Error::custom(format!(
            "max_size {size} is below the minimum of {MIN_MAX_SIZE} bytes (1 MiB)"
        )));
    }
    Ok(size)
}

/// `"15m"`, `"2 GB"`: the leading whole number and the (trimmed) unit after it.
pub(crate) fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

/// `"256MiB"`, `"1 GB"`, `"4096"`: binary (KiB, MiB, GiB) and decimal (KB, MB, GB)
/// units, case-insensitive.
pub fn parse_byte_size(text: &str) -> Option<u64> {
    let (number, unit) = number_and_unit(text)?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

#[derive(Debug, thiserror::Error)]
#[error("sink {sink}: disk buffer {path}: {error}")]
pub struct BufferError {
    pub sink: String,
    pub path: PathBuf,
    #[source]
    pub error: Fault,
}

#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error(transparent)]
    Wal(#[from] sluice_wal::Error),
    #[error("buffer task failed: {0}")]
    Task(String),
}

fn task_failed(error: tokio::task::JoinError) -> Fault {
    Fault::Task(error.to_string())
}

/// A running disk buffer: the receiver the sink reads from, and the task
/// that ends once everything written was handed to the sink.
pub struct DiskBuffer {
    pub output: mpsc::Receiver<Batch>,
    pub task: tokio::task::JoinHandle<Result<(), BufferError>>,
}

struct Shared {
    writer: Mutex<Writer>,
    /// Wakes the reader (new records) and a blocked writer (freed space).
    appended: Notify,
    freed: Notify,
    /// Set once the sink stopped taking batches (it failed, or gave up at
    /// shutdown): a full buffer will not drain any more.
    sink_gone: AtomicBool,
}

impl Shared {
    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sink_is_gone(&self) {
        self.sink_gone.store(true, Ordering::Release);
        self.freed.notify_waiters();
    }
}

/// Opens (recovering) the buffer in `dir` and starts moving batches from
/// `input` through it to the returned receiver.
pub fn start(
    sink: &str,
    config: &BufferConfig,
    dir: PathBuf,
    input: mpsc::Receiver<Batch>,
    counters: Arc<StageCounters>,
) -> Result<DiskBuffer, BufferError> {
    let fail = |error: sluice_wal::Error| BufferError {
        sink: sink.to_owned(),
        path: dir.clone(),
        error: error.into(),
    };
    let options = Options {
        // Small enough that acknowledged data is deleted long before the
        // bound is reached.
        max_segment_bytes: (config.max_size / 16).clamp(64 << 10, 64 << 20),
        sync: SyncPolicy::Never,
    };
    let (writer, recovery) = Writer::open(&dir, options).map_err(fail)?;
    if !recovery.is_clean() {
        tracing::warn!(sink, path = %dir.display(), ?recovery, "disk buffer recovered from damage");
    }
    let pending = writer.unacked_records();
    if pending > 0 {
        tracing::info!(
            sink,
            records = pending,
            "disk buffer holds batches from before; sending them first"
        );
    }
    let reader = writer.reader(writer.acked() + 1).map_err(fail)?;
    counters
        .buffer_bytes
        .store(writer.bytes_on_disk(), Ordering::Relaxed);
    let shared = Arc::new(Shared {
        writer: Mutex::new(writer),
        appended: Notify::new(),
        freed: Notify::new(),
        sink_gone: AtomicBool::new(false),
    });
    let (tx, output) = mpsc::channel(2);
    let (done_tx, done_rx) = watch::channel(false);
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let name: Arc<str> = Arc::from(sink);
    let writing = tokio::spawn(write_loop(
        name.clone(),
        config.clone(),
        input,
        shared.clone(),
        counters.clone(),
    ));
    let reading = tokio::spawn(read_loop(
        name.clone(),
        reader,
        shared.clone(),
        tx,
        done_rx,
        ack_tx,
    ));
    let acking = tokio::spawn(ack_loop(name.clone(), ack_rx, shared, counters));
    let task = tokio::spawn(async move {
        let written = writing.await;
        let _ = done_tx.send(true);
        let read = reading.await;
        let acked = acking.await;
        let joined = |r: Result<Result<(), Fault>, tokio::task::JoinError>| {
            r.unwrap_or_else(|e| Err(task_failed(e)))
        };
        joined(written)
            .and(joined(read))
            .and(joined(acked))
            .map_err(|error| BufferError {
                sink: name.to_string(),
                path: dir,
                error,
            })
    });
    Ok(DiskBuffer { output, task })
}

/// Appends what arrives, applying `when_full`; acknowledges upstream once
/// fsynced.
async fn write_loop(
    sink: Arc<str>,
    config: BufferConfig,
    mut input: mpsc::Receiver<Batch>,
    shared: Arc<Shared>,
    counters: Arc<StageCounters>,
) -> Result<(), Fault> {
    let mut warned_full = false;
    while let Some(first) = input.recv().await {
        let mut batches = vec![first];
        while batches.len() < GROUP {
            match input.try_recv() {
                Ok(batch) => batches.push(batch),
                Err(_) => break,
            }
        }
        for batch in &batches {
            StageCounters::add(&counters.events_in, batch.len());
        }
        // Append what fits (or what the policy keeps) without syncing, then
        // sync once for the group before acknowledging any of it.
        for batch in &batches {
            let mut record = Vec::with_capacity(batch.arena.len() + batch.len() * 64);
            batch.to_bytes(&mut record);
            // Appended one by one, so the next batch's room is measured with
            // this one on disk.
            let dropped_before = StageCounters::get(&counters.dropped);
            let room = room_for(&shared, &config, batch, record, &counters).await;
            if !warned_full && StageCounters::get(&counters.dropped) > dropped_before {
                tracing::warn!(%sink, max_size = config.max_size, policy = ?config.when_full, "disk buffer full; dropping events (counted in sluice_events_dropped_total)");
                warned_full = true;
            }
            let record = match room {
                Room::Append(record) => record,
                Room::Dropped => continue,
                Room::SinkGone => {
                    // Not held anywhere: the sources read these again
                    // after a restart.
                    batches.iter().for_each(|b| b.acks.fail());
                    input.close();
                    while let Some(batch) = input.recv().await {
                        batch.acks.fail();
                    }
                    tracing::warn!(%sink, "disk buffer full and its sink has stopped; what did not fit is not acknowledged and will be read again");
                    return Ok(());
                }
            };
            let writer = shared.clone();
            let appended = tokio::task::spawn_blocking(move || {
                writer.writer().append(&record).map_err(Fault::from)
            })
            .await
            .unwrap_or_else(|e| Err(task_failed(e)));
            if let Err(error) = appended {
                batches.iter().for_each(|b| b.acks.fail());
                return Err(error);
            }
            shared.appended.notify_one();
        }
        let synced = {
            let writer = shared.clone();
            tokio::task::spawn_blocking(move || {
                let mut writer = writer.writer();
                writer.sync()?;
                Ok::<_, Fault>(writer.bytes_on_disk())
            })
            .await
            .unwrap_or_else(|e| Err(task_failed(e)))
        };
        match synced {
            Ok(bytes) => counters.buffer_bytes.store(bytes, Ordering::Relaxed),
            Err(error) => {
                batches.iter().for_each(|b| b.acks.fail());
                return Err(error);
            }
        }
        // Durable now: dropping the batches acknowledges them.
        drop(batches);
    }
    Ok(())
}

/// What [`room_for`] decided for one batch.
enum Room {
    /// Append this record (rebuilt when events were dropped).
    Append(Vec<u8>),
    /// The policy dropped every event of the batch.
    Dropped,
    /// The buffer is full and its sink has stopped: nothing will make room.
    SinkGone,
}

/// Waits until `record` fits under `max_size`, or drops what the policy
/// says.
async fn room_for(
    shared: &Shared,
    config: &BufferConfig,
    batch: &Batch,
    mut record: Vec<u8>,
    counters: &StageCounters,
) -> Room {
    let fits = |len: usize| shared.writer().bytes_on_disk() + len as u64 <= config.max_size;
    if fits(record.len()) {
        return Room::Append(record);
    }
    match config.when_full {
        WhenFull::Block => {}
        WhenFull::DropNewest => {
            StageCounters::add(&counters.dropped, batch.len());
            return Room::Dropped;
        }
        WhenFull::DropByLevel => {
            // Each step drops from the original batch; count only what is new.
            let mut counted = 0;
            for keep_above in [Level::Debug, Level::Info] {
                let (kept, dropped) = keep_levels_above(batch, keep_above);
                if dropped == counted {
                    continue;
                }
                StageCounters::add(&counters.dropped, dropped - counted);
                counted = dropped;
                let Some(kept) = kept else {
                    return Room::Dropped;
                };
                record.clear();
                kept.to_bytes(&mut record);
                if fits(record.len()) {
                    return Room::Append(record);
                }
            }
        }
    }
    // Wait for the sink to catch up. The check is repeated on a timer too,
    // since space is freed a segment at a time.
    loop {
        let freed = shared.freed.notified();
        if fits(record.len()) || shared.writer().unacked_records() == 0 {
            return Room::Append(record);
        }
        if shared.sink_gone.load(Ordering::Acquire) {
            return Room::SinkGone;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), freed).await;
    }
}

/// The batch without events at or below `level` (events without a level
/// count as INFO), and how many were left out. `None` when none is kept.
fn keep_levels_above(batch: &Batch, level: Level) -> (Option<PackedBatch>, usize) {
    let Ok(checked) = batch.check() else {
        return (Some(batch.events.clone()), 0);
    };
    let mut kept = PackedBatch::default();
    let mut dropped = 0;
    for row in checked.rows() {
        let event_level = match row.field(names::LEVEL) {
            Some(sluice_event::packed::ValueRef::Str(text)) => {
                Level::parse(text).unwrap_or(Level::Info)
            }
            _ => Level::Info,
        };
        if event_level <= level {
            dropped += 1;
        } else if kept.push_row(&row).is_err() {
            // Cannot happen: the row came from a batch of this size.
            return (Some(batch.events.clone()), 0);
        }
    }
    ((!kept.is_empty()).then_some(kept), dropped)
}

/// Sends records to the sink in order, each with an acknowledgement that
/// reports its id to the ack loop; ends once the writer has finished and
/// every record was sent.
async fn read_loop(
    sink: Arc<str>,
    mut reader: Reader,
    shared: Arc<Shared>,
    out: mpsc::Sender<Batch>,
    mut writer_done: watch::Receiver<bool>,
    acks: mpsc::UnboundedSender<(u64, Delivery)>,
) -> Result<(), Fault> {
    let mut corrupt = 0;
    loop {
        let appended = shared.appended.notified();
        let done = *writer_done.borrow_and_update();
        let (next, returned) = tokio::task::spawn_blocking(move || {
            let next = reader.next_record();
            (next, reader)
        })
        .await
        .map_err(task_failed)?;
        reader = returned;
        let stats = reader.stats();
        if stats.corrupt_frames > corrupt {
            tracing::error!(%sink, corrupt_frames = stats.corrupt_frames - corrupt, bytes_skipped = stats.bytes_skipped, "disk buffer damaged; skipping the corrupt frames (their events are lost)");
            corrupt = stats.corrupt_frames;
        }
        match next? {
            Some((id, record)) => {
                let packed = match PackedBatch::from_bytes(&record) {
                    Ok(packed) if packed.check().is_ok() => packed,
                    Ok(_) | Err(_) => {
                        // The frame's checksum held, so this is a bug, not damage.
                        tracing::error!(%sink, id, "disk buffer record is not a batch; skipping it");
                        let _ = acks.send((id, Delivery::Delivered));
                        continue;
                    }
                };
                let tx = acks.clone();
                let batch = Batch::new(
                    packed,
                    Acks::new(move |delivery| {
                        let _ = tx.send((id, delivery));
                    }),
                );
                if let Err(unsent) = out.send(batch).await {
                    // The sink is gone: this record stays for the next run.
                    unsent.0.acks.fail();
                    shared.sink_is_gone();
                    return Ok(());
                }
            }
            None if done => return Ok(()),
            None => {
                tokio::select! {
                    _ = appended => {}
                    _ = writer_done.changed() => {}
                    _ = out.closed() => {
                        shared.sink_is_gone();
                        return Ok(());
                    }
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

/// Moves the WAL's ack position over the records the sink delivered, in
/// order; a failed record stops it (the record is sent again after a
/// restart).
async fn ack_loop(
    sink: Arc<str>,
    mut acks: mpsc::UnboundedReceiver<(u64, Delivery)>,
    shared: Arc<Shared>,
    counters: Arc<StageCounters>,
) -> Result<(), Fault> {
    let mut next = shared.writer().acked() + 1;
    let mut ahead = BTreeSet::new();
    let mut failed = false;
    while let Some((id, delivery)) = acks.recv().await {
        if delivery == Delivery::Failed && !failed {
            failed = true;
            tracing::warn!(%sink, id, "the sink did not deliver a buffered batch; it stays in the buffer for the next run");
        }
        if failed {
            continue;
        }
        ahead.insert(id);
        let mut upto = None;
        while ahead.remove(&next) {
            upto = Some(next);
            next += 1;
        }
        // Take in whatever else arrived before touching the disk.
        if let Some(upto) = upto {
            let shared2 = shared.clone();
            let bytes = tokio::task::spawn_blocking(move || {
                let mut writer = shared2.writer();
                writer.ack(upto)?;
                Ok::<_, Fault>(writer.bytes_on_disk())
            })
            .await
            .unwrap_or_else(|e| Err(task_failed(e)))?;
            counters.buffer_bytes.store(bytes, Ordering::Relaxed);
            shared.freed.notify_waiters();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AckTracker;
    use sluice_event::Event;
    use std::collections::HashMap;

    fn config(max_size: u64, when_full: WhenFull) -> BufferConfig {
        BufferConfig {
            kind: BufferKind::Disk,
            max_size,
            when_full,
        }
    }

    /// About 200 bytes that lz4 cannot shrink.
    fn noise(seed: usize) -> String {
        let mut x = seed as u64 ^ 0x9e37_79b9_7f4a_7c15;
        (0..25)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{:08x}", x as u32)
            })
            .collect()
    }

    /// A batch of `n` events from `source`, numbered from `first`, at `level`.
    fn batch(source: &str, first: usize, n: usize, level: &str) -> PackedBatch {
        let events: Vec<Event> = (first..first + n)
            .map(|i| {
                let mut e = Event::new(format!("{source} {i} {}", noise(i)));
                e.fields.insert("source", source);
                e.fields.insert("n", i as i64);
                // "MIXED": DEBUG and INFO in turn within the batch.
                let level = match level {
                    "MIXED" if i % 2 == 0 => "DEBUG",
                    "MIXED" => "INFO",
                    level => level,
                };
                e.fields.insert("level", level);
                e
            })
            .collect();
        PackedBatch::from_events(&events).unwrap()
    }

    struct Rig {
        input: Option<mpsc::Sender<Batch>>,
        buffer: DiskBuffer,
        counters: Arc<StageCounters>,
    }

    fn open(dir: &std::path::Path, config: &BufferConfig) -> Rig {
        let (tx, rx) = mpsc::channel(4);
        let counters = Arc::new(StageCounters::default());
        let buffer = start("out", config, dir.to_owned(), rx, counters.clone()).unwrap();
        Rig {
            input: Some(tx),
            buffer,
            counters,
        }
    }

    impl Rig {
        async fn send(&self, packed: PackedBatch, acks: Acks) {
            let batch = Batch::new(packed, acks);
            self.input.as_ref().unwrap().send(batch).await.unwrap();
        }

        /// Everything the sink gets until the input closes and the buffer drains.
        async fn drain(mut self) -> Vec<Event> {
            self.input.take();
            let mut events = Vec::new();
            while let Some(batch) = self.buffer.output.recv().await {
                events.extend(batch.decode().unwrap());
            }
            self.buffer.task.await.unwrap().unwrap();
            events
        }

        /// Stops with the sink down, as a sink that gives up does: it
        /// fails what was handed to it, so all of it stays on disk.
        async fn crash(mut self) {
            self.input.take();
            self.buffer.output.close();
            while let Some(batch) = self.buffer.output.recv().await {
                batch.acks.fail();
            }
            self.buffer.task.await.unwrap().unwrap();
        }
    }

    fn numbers(events: &[Event], source: &str) -> Vec<i64> {
        events
            .iter()
            .filter(|e| e.fields.get("source") == Some(&source.into()))
            .map(|e| match e.fields.get("n") {
                Some(sluice_event::Value::Int(n)) => *n,
                other => panic!("n is {other:?}"),
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sink_that_is_down_gets_everything_in_order_when_it_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let rig = open(dir.path(), &config(64 << 20, WhenFull::Block));
        let mut tracker = AckTracker::new();
        for i in 0..40 {
            let source = if i % 2 == 0 { "a" } else { "b" };
            rig.send(batch(source, (i / 2) * 10, 10, "INFO"), tracker.issue().1)
                .await;
        }
        // Nothing reads the output, yet every batch is acknowledged: it is on disk.
        while tracker.poll() < 40 {
            tracker.wait().await;
        }
        assert!(rig.counters.buffer_bytes.load(Ordering::Relaxed) > 0);
        let events = rig.drain().await;
        assert_eq!(events.len(), 400);
        let want: Vec<i64> = (0..200).collect();
        assert_eq!(numbers(&events, "a"), want);
        assert_eq!(numbers(&events, "b"), want);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_the_sink_did_not_acknowledge_is_sent_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let rig = open(dir.path(), &config(64 << 20, WhenFull::Block));
        for i in 0..10 {
            rig.send(batch("a", i * 10, 10, "INFO"), Acks::none()).await;
        }
        let mut rig = rig;
        // The sink delivers three batches and holds the fourth when it dies.
        for _ in 0..3 {
            drop(rig.buffer.output.recv().await.unwrap());
        }
        let held = rig.buffer.output.recv().await.unwrap();
        held.acks.fail();
        drop(held);
        // Let the acknowledgements reach the log.
        tokio::time::sleep(Duration::from_millis(100)).await;
        rig.crash().await;

        let events = open(dir.path(), &config(64 << 20, WhenFull::Block))
            .drain()
            .await;
        assert_eq!(numbers(&events, "a"), (30..100).collect::<Vec<_>>());
        // And all was acknowledged this time.
        assert!(open(dir.path(), &config(64 << 20, WhenFull::Block))
            .drain()
            .await
            .is_empty());
    }

    fn count(events: &[Event], level: &str) -> usize {
        events
            .iter()
            .filter(|e| e.fields.get("level") == Some(&level.into()))
            .count()
    }

    /// Sends batches of each level in turn, with the sink down, until a
    /// send waits for `patience` (the buffer blocks) or `rounds` are sent.
    /// Returns how many events of each level were sent.
    async fn fill(
        rig: &Rig,
        levels: &[&str],
        rounds: usize,
        patience: Duration,
    ) -> HashMap<String, usize> {
        let mut sent = HashMap::new();
        for i in 0..rounds {
            let level = levels[i % levels.len()];
            let send = rig.send(batch(level, i * 10, 10, level), Acks::none());
            if tokio::time::timeout(patience, send).await.is_err() {
                break;
            }
            *sent.entry(level.to_owned()).or_insert(0) += 10;
        }
        sent
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drop_by_level_never_drops_warn_and_counts_what_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let rig = open(dir.path(), &config(1 << 20, WhenFull::DropByLevel));
        // Each batch is about 2.5 KB of incompressible text: 1 MiB holds
        // about 400, and WARN batches block once it is full.
        let long = Duration::from_secs(10);
        let sent = fill(&rig, &["DEBUG", "INFO", "MIXED"], 1200, long).await;
        let low = sent["DEBUG"] + sent["INFO"] + sent["MIXED"];
        assert_eq!(low, 12_000, "never blocks for those");
        let dropped = rig.counters.dropped.load(Ordering::Relaxed) as usize;
        assert!(dropped > 0, "the bound was reached");
        let warn = fill(&rig, &["WARN"], 1000, Duration::from_millis(500)).await;
        assert!(warn["WARN"] < 10_000, "WARN batches wait when full");
        let counters = rig.counters.clone();
        let events = rig.drain().await;
        let dropped = counters.dropped.load(Ordering::Relaxed) as usize;
        assert_eq!(count(&events, "WARN"), warn["WARN"], "no WARN dropped");
        assert_eq!(
            count(&events, "DEBUG") + count(&events, "INFO") + dropped,
            low,
            "every event is delivered or counted as dropped, once"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drop_newest_drops_whole_batches_and_block_drops_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let rig = open(dir.path(), &config(1 << 20, WhenFull::DropNewest));
        let sent = fill(&rig, &["ERROR"], 800, Duration::from_secs(10)).await;
        assert_eq!(sent["ERROR"], 8000, "drop_newest never blocks");
        let counters = rig.counters.clone();
        let events = rig.drain().await;
        let dropped = counters.dropped.load(Ordering::Relaxed) as usize;
        assert!(dropped > 0 && dropped.is_multiple_of(10), "{dropped}");
        assert_eq!(events.len() + dropped, 8000);

        let dir = tempfile::tempdir().unwrap();
        let rig = open(dir.path(), &config(1 << 20, WhenFull::Block));
        let sent = fill(&rig, &["DEBUG"], 800, Duration::from_millis(500)).await;
        assert!(sent["DEBUG"] < 8000, "block waits when full");
        assert_eq!(rig.counters.dropped.load(Ordering::Relaxed), 0);
        let events = rig.drain().await;
        assert_eq!(events.len(), sent["DEBUG"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_buffer_whose_sink_stopped_fails_what_waits_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let mut rig = open(dir.path(), &config(1 << 20, WhenFull::Block));
        fill(&rig, &["WARN"], 800, Duration::from_millis(500)).await;
        // A WARN batch waits for room, then the sink gives up (shutdown
        // while its destination is down) and drops its receiver.
        let (tx, mut settled) = mpsc::unbounded_channel();
        let waiting = {
            let input = rig.input.clone().unwrap();
            let acks = Acks::new(move |d| tx.send(d).unwrap());
            let batch = Batch::new(batch("WARN", 0, 10, "WARN"), acks);
            // As every stage does with a batch a closed inbox returns.
            tokio::spawn(async move {
                if let Err(unsent) = input.send(batch).await {
                    unsent.0.acks.fail();
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(settled.try_recv().is_err(), "still waiting for room");
        rig.buffer.output.close();
        while let Some(batch) = rig.buffer.output.recv().await {
            batch.acks.fail();
        }
        let failed = tokio::time::timeout(Duration::from_secs(5), settled.recv()).await;
        assert_eq!(failed.unwrap(), Some(Delivery::Failed));
        waiting.await.unwrap();
        rig.input.take();
        tokio::time::timeout(Duration::from_secs(5), rig.buffer.task)
            .await
            .expect("the buffer ends")
            .unwrap()
            .unwrap();
    }

    /// Writes 60 batches of 10 with the sink down and stops; returns the
    /// segment files.
    async fn filled_and_stopped(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let rig = open(dir, &config(1 << 20, WhenFull::Block));
        for i in 0..60 {
            rig.send(batch("a", i * 10, 10, "INFO"), Acks::none()).await;
        }
        rig.crash().await;
        let mut segments: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wal"))
            .collect();
        segments.sort();
        assert!(segments.len() > 1, "small segments: {segments:?}");
        segments
    }

    /// Every delivered batch is one of the originals, whole, in order.
    fn whole_batches_in_order(events: &[Event]) -> usize {
        let n = numbers(events, "a");
        assert_eq!(n.len() % 10, 0, "{n:?}");
        for group in n.chunks(10) {
            assert_eq!(group[0] % 10, 0);
            assert_eq!(
                group.to_vec(),
                (group[0]..group[0] + 10).collect::<Vec<_>>()
            );
        }
        assert!(n.windows(2).all(|w| w[0] < w[1]), "in order");
        n.len() / 10
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flipped_bytes_cost_only_the_damaged_batches() {
        for round in 0..8u64 {
            let dir = tempfile::tempdir().unwrap();
            let segments = filled_and_stopped(dir.path()).await;
            // Flip 5 bytes at pseudo-random offsets of pseudo-random segments.
            let mut x = 0x2545_f491_4f6c_dd1d ^ round;
            for _ in 0..5 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let path = &segments[(x % segments.len() as u64) as usize];
                let mut bytes = std::fs::read(path).unwrap();
                let at = ((x >> 20) % bytes.len() as u64) as usize;
                bytes[at] ^= 1 << (x % 8);
                std::fs::write(path, bytes).unwrap();
            }
            let events = open(dir.path(), &config(1 << 20, WhenFull::Block))
                .drain()
                .await;
            let batches = whole_batches_in_order(&events);
            assert!(
                batches >= 60 - 5 - 2,
                "round {round}: only {batches} of 60 survived 5 flips"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_torn_write_loses_only_the_torn_batch() {
        let dir = tempfile::tempdir().unwrap();
        let segments = filled_and_stopped(dir.path()).await;
        let last = segments.last().unwrap();
        let len = std::fs::metadata(last).unwrap().len();
        // Cut the last frame in half, as a crash mid-write does.
        let file = std::fs::OpenOptions::new().write(true).open(last).unwrap();
        file.set_len(len - 1000).unwrap();
        drop(file);
        let events = open(dir.path(), &config(1 << 20, WhenFull::Block))
            .drain()
            .await;
        assert_eq!(whole_batches_in_order(&events), 59);
        assert_eq!(numbers(&events, "a").last(), Some(&589));
    }

    #[test]
    fn levels_are_dropped_debug_first_then_info() {
        let mut events = Vec::new();
        for level in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] {
            let mut e = Event::new(level);
            e.fields.insert("level", level);
            events.push(e);
        }
        events.push(Event::new("no level"));
        let batch = Batch::from(PackedBatch::from_events(&events).unwrap());
        let messages = |b: Option<PackedBatch>| -> Vec<String> {
            b.unwrap()
                .decode()
                .unwrap()
                .into_iter()
                .map(|e| e.message)
                .collect()
        };
        let (kept, dropped) = keep_levels_above(&batch, Level::Debug);
        assert_eq!(dropped, 2);
        assert_eq!(
            messages(kept),
            ["INFO", "WARN", "ERROR", "FATAL", "no level"]
        );
        let (kept, dropped) = keep_levels_above(&batch, Level::Info);
        assert_eq!(dropped, 4);
        assert_eq!(messages(kept), ["WARN", "ERROR", "FATAL"]);
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_byte_size("4096"), Some(4096));
        assert_eq!(parse_byte_size("256MiB"), Some(256 << 20));
        assert_eq!(parse_byte_size("1 GB"), Some(1_000_000_000));
        assert_eq!(parse_byte_size("2gib"), Some(2 << 30));
        assert_eq!(parse_byte_size("12 parsecs"), None);
        assert_eq!(parse_byte_size("MiB"), None);
    }
}
