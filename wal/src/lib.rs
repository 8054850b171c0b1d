//! `sluice-wal`: a durable, checksummed, append-only log of opaque records (frames) in a
//! directory of segment files.
//!
//! It is what a sink's disk buffer (DESIGN §5) and the store's write-ahead log (DESIGN §6) are
//! built on: one [`Writer`] appends records and gets consecutive record ids back, [`Reader`]s read
//! them in order (following the writer live), [`Writer::ack`] records that everything up to an id
//! is done and deletes segments that hold nothing else, and [`verify`] / [`repair`] back
//! `sluice buffer verify|repair PATH`.
//!
//! It is **not** a queue with per-record deletion, an index, or a multi-writer log, and it knows
//! nothing of events, batches or size bounds: the buffer's `max_size` and `when_full` policies
//! live in the runtime, which reads [`Writer::bytes_on_disk`].
//!
//! # Damaged data is never fatal
//!
//! Every frame is checksummed. Opening a log truncates a torn tail (a crash mid-write) from the
//! last segment; a damaged frame anywhere is counted and skipped by **resynchronization**: scan
//! forward byte by byte for the next position holding a plausible frame header (length within
//! [`MAX_RECORD_BYTES`], no unknown flag, an id the log could hold there) whose checksum matches.
//! A frame that runs past the end of the file is a torn tail only if no good frame follows it
//! (otherwise its length field is what was damaged, and it is skipped like any damaged frame), so
//! one flipped bit never truncates the good frames after it. A damaged segment header or ack file
//! is counted and read past. No input makes this crate panic or return an error for damaged
//! bytes; errors are I/O errors, a held lock, a segment of a newer format version (identified by
//! an *intact* header), and misuse. Recovery, `verify`, `repair` and a reader's resynchronization
//! hold one segment in memory at a time.
//!
//! # On-disk format (version 1)
//!
//! A log directory holds:
//!
//! - `{id:020}.wal`: segment files, named by the id of the first record they may hold (so the
//!   first is `00000000000000000001.wal`; a segment holds ids from its name up to the next
//!   segment's name minus one). A new segment starts when the next frame would take the active
//!   one past `max_segment_bytes` (a single larger frame gets a segment of its own).
//! - `ack`: 12 bytes: the acknowledged record id (u64 LE), then CRC32C of those 8 bytes (u32 LE).
//!   Replaced atomically (`ack.tmp`, fsync, rename, fsync of the directory).
//! - `LOCK`: empty; the writer (or `repair`) holds an exclusive `flock` on it.
//!
//! A segment is a 12-byte header followed by frames:
//!
//! ```text
//! header: "SLWAL" | version u16 LE (1) | reserved u8 (0) | CRC32C of the previous 8 bytes, u32 LE
//! frame:  len u32 LE | crc u32 LE | flags u8 | record id u64 LE | payload (len bytes)
//! ```
//!
//! - `len` is the stored payload length, at most [`MAX_RECORD_BYTES`].
//! - `crc` is CRC32C (Castagnoli) over the whole frame except the `crc` field itself: the 4
//!   `len` bytes, then `flags`, the record id and the payload. (The record id sits in the frame
//!   header, not in the payload, so a reader finds ids without decompressing; the flags are
//!   covered too, so a flipped flag cannot make a reader decompress raw bytes.)
//! - `flags` bit 0: the payload is an lz4 block (`lz4_flex::block`) preceded by the uncompressed
//!   length as u32 LE, i.e. `lz4_flex::compress_prepend_size`'s output. It is set when that is
//!   smaller than the record (never tried below 64 bytes); otherwise the payload is the record as
//!   is. Other bits are 0.
//! - Record ids start at 1 and grow by one per record, across segments and restarts. After a
//!   crash that lost unsynced records (or damage that made the last frames unreadable), ids
//!   continue after the last whole record on disk, so a lost record's id is given again, but
//!   never one at or below the persisted ack.
//!
//! All integers are little-endian. Readers treat as damage a frame whose id is below the
//! segment's name, not above the previous good frame's id, or 2^32 or more above the smallest id
//! it could have (which makes scanning damaged bytes cheap: almost no position gets as far as a
//! checksum).

mod dir;
mod error;
mod format;
mod reader;
mod verify;
mod writer;

use std::time::Duration;

pub use error::{Error, Result};
pub use format::MAX_RECORD_BYTES;
pub use reader::{ReadStats, Reader};
pub use verify::{repair, verify, Report, SegmentReport};
pub use writer::{Recovery, Writer};

/// Default for [`Options::max_segment_bytes`]: 64 MiB.
pub const DEFAULT_MAX_SEGMENT_BYTES: u64 = 64 << 20;

/// When appended data is fdatasync'ed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// After every `append` / `append_batch` call.
    Always,
    /// On an append at least this long after the last sync; call [`Writer::sync`] when appends
    /// stop (a timer in the caller) to bound the window of loss.
    Interval(Duration),
    /// Only on an explicit [`Writer::sync`]. Acks, rolls and recovery skip their fsyncs too.
    /// For tests and benchmarks.
    Never,
}

/// How a [`Writer`] behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// A segment is closed and a new one started when the next frame would take it past this.
    pub max_segment_bytes: u64,
    pub sync: SyncPolicy,
}

impl Default for Options {
    /// 64 MiB segments, synced at most every 100 ms.
    fn default() -> Self {
        Options {
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
            sync: SyncPolicy::Interval(Duration::from_millis(100)),
        }
    }
}
