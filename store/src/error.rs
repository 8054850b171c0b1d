//! The store's one error type. Every variant says what it is about (index, path, operation).

use std::io;
use std::path::PathBuf;

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An index name that is not 1–64 characters of `a-z 0-9 _ - .` starting with a letter or
    /// digit.
    #[error("invalid index name {name:?}: {reason}")]
    InvalidIndexName { name: String, reason: &'static str },
    /// A search or context lookup named an index that holds nothing yet.
    #[error("no index named {0:?}")]
    NoSuchIndex(String),
    /// An I/O call failed on `path`.
    #[error("{}: {op}: {source}", .path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    /// The index's write-ahead log failed.
    #[error("index {index:?}: WAL: {source}")]
    Wal {
        index: String,
        source: sluice_wal::Error,
    },
    /// tantivy failed on a segment.
    #[error("{}: tantivy: {source}", .path.display())]
    Tantivy {
        path: PathBuf,
        source: tantivy::TantivyError,
    },
    /// Arrow failed reading or writing a segment's rows.
    #[error("{}: arrow: {source}", .path.display())]
    Arrow {
        path: PathBuf,
        source: arrow_schema::ArrowError,
    },
    /// A file the store wrote (catalog, meta, rows, WAL record) does not read back.
    #[error("{}: {what}", .path.display())]
    Corrupt { path: PathBuf, what: String },
    /// One event is too large to be one WAL record.
    #[error("an event of {bytes} encoded bytes exceeds the limit of {max} bytes")]
    EventTooLarge { bytes: usize, max: usize },
    /// A cursor that this store did not hand out (or for another query).
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// A hit id that is not one this store hands out, or names no event.
    #[error("no event with id {0:?}")]
    NoSuchEvent(String),
    /// The aggregation pipe (`| stats ...`) did not parse; `column` is 1-based in the query.
    #[error("column {column}: {message}")]
    Pipe { column: usize, message: String },
    /// An object-store call failed on the object (or key prefix) `key`.
    #[error("object store {store}: {key}: {op}: {source}")]
    ObjectStore {
        store: String,
        key: String,
        op: &'static str,
        /// Boxed: object_store's error is large, and every `Result` here carries this enum.
        source: Box<object_store::Error>,
    },
    /// The cold storage options are unusable.
    #[error("cold storage {url:?}: {reason}")]
    ColdStorage { url: String, reason: String },
    /// A fetched cold segment does not match the catalog (size of one of its files).
    #[error("{}: fetched from {key}: {what}", .path.display())]
    ColdMismatch {
        path: PathBuf,
        key: String,
        what: String,
    },
    /// The store was poisoned by a failed write it could not roll back; reopen it.
    #[error("index {0:?} is unusable after an earlier failure; reopen the store")]
    Poisoned(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }
    pub(crate) fn tantivy(path: impl Into<PathBuf>, source: tantivy::TantivyError) -> Self {
        Error::Tantivy {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn arrow(path: impl Into<PathBuf>, source: arrow_schema::ArrowError) -> Self {
        Error::Arrow {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn corrupt(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            what: what.into(),
        }
    }
}
