//! The crate's one error type. Every variant names the file or directory it is about, and the
//! byte offset where one applies. Damaged data is never an error: it is counted (see
//! [`crate::Recovery`], [`crate::ReadStats`], [`crate::Report`]) and skipped.

use std::io;
use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed on `path`.
    #[error("{}: {op}: {source}", .path.display())]
    Io {
        path: PathBuf,
        /// What was being done, e.g. `"create segment"`.
        op: &'static str,
        source: io::Error,
    },
    /// An I/O call failed on `path` at byte `offset`.
    #[error("{}: {op} at byte {offset}: {source}", .path.display())]
    IoAt {
        path: PathBuf,
        op: &'static str,
        offset: u64,
        source: io::Error,
    },
    /// Another [`crate::Writer`] (or `repair`) holds the directory's `LOCK` file.
    #[error("{}: the log is locked by another writer", .path.display())]
    Locked { path: PathBuf },
    /// A segment's header is intact (its checksum matches) but names a format version this build
    /// does not read: the log was written by a newer sluice. Never caused by damage.
    #[error("{}: segment format version {version} is not supported (this build reads version {supported})", .path.display())]
    UnsupportedVersion {
        path: PathBuf,
        version: u16,
        supported: u16,
    },
    /// A record is larger than [`crate::MAX_RECORD_BYTES`].
    #[error("{}: a record of {len} bytes exceeds the limit of {max} bytes", .path.display())]
    RecordTooLarge {
        path: PathBuf,
        len: usize,
        max: usize,
    },
    /// `ack` named a record id that has not been appended yet.
    #[error("{}: cannot acknowledge record {id}: the last record appended is {last}", .path.display())]
    AckBeyondEnd { path: PathBuf, id: u64, last: u64 },
    /// The record ids would pass `u64::MAX` (only possible with a crafted segment name or ack).
    #[error("{}: record ids are exhausted", .path.display())]
    IdsExhausted { path: PathBuf },
    /// A failed write could not be rolled back, so the segment may end in a partial frame. The
    /// writer refuses further appends; reopening it recovers (truncates the partial frame).
    #[error("{}: a failed write at byte {offset} could not be rolled back; reopen the log", .path.display())]
    Poisoned { path: PathBuf, offset: u64 },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    pub(crate) fn io_at(
        path: impl Into<PathBuf>,
        op: &'static str,
        offset: u64,
        source: io::Error,
    ) -> Self {
        Error::IoAt {
            path: path.into(),
            op,
            offset,
            source,
        }
    }
}
