//! The log directory: segment file names, listing, the `ack` file and the `LOCK` file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Segment files are `{first record id:020}.wal`.
const SEGMENT_EXT: &str = ".wal";
const ACK_FILE: &str = "ack";
const ACK_TMP: &str = "ack.tmp";
const LOCK_FILE: &str = "LOCK";
/// Suffix of files being written by `repair` (and of a leftover one after a crash).
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// The ack file: acknowledged record id u64 LE, CRC32C of those 8 bytes u32 LE.
const ACK_LEN: usize = 12;

/// A segment file found in the directory.
#[derive(Clone, Debug)]
pub(crate) struct SegmentFile {
    /// The id of its first record: every frame in it has an id `>= base` and `<` the next
    /// segment's base.
    pub base: u64,
    pub path: PathBuf,
}

pub(crate) fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}{SEGMENT_EXT}"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_EXT)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The directory's segments, oldest first. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_segment_name) {
            out.push(SegmentFile {
                base,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| s.base);
    Ok(out)
}

/// Files a crash may leave behind while they were being replaced: `ack.tmp`, `*.wal.tmp`.
pub(crate) fn remove_temp_files(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, "list directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, "list directory", e))?;
        if entry.file_name().to_str().is_some_and(|n| {
            n == ACK_TMP
                || n.strip_suffix(TMP_SUFFIX)
                    .is_some_and(|s| s.ends_with(SEGMENT_EXT))
        }) {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io(&path, "remove temp file", e))?;
        }
    }
    Ok(())
}

/// Makes renames, creations and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "sync directory", e))
}

/// The persisted acknowledgement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AckState {
    /// Every record id `<=` this is acknowledged (0: none).
    pub acked: u64,
    /// The ack file exists but is damaged; `acked` is 0, so everything is delivered again.
    pub damaged: bool,
}

pub(crate) fn ack_path(dir: &Path) -> PathBuf {
    dir.join(ACK_FILE)
}

pub(crate) fn read_ack(dir: &Path) -> Result<AckState> {
    let path = ack_path(dir);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(AckState::default()),
        Err(e) => return Err(Error::io(&path, "read ack file", e)),
    };
    let damaged = AckState {
        acked: 0,
        damaged: true,
    };
    if bytes.len() != ACK_LEN {
        return Ok(damaged);
    }
    let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[..8]) != crc {
        return Ok(damaged);
    }
    Ok(AckState {
        acked: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
        damaged: false,
    })
}

/// Replaces the ack file atomically: write `ack.tmp`, fsync it, rename it over `ack`, fsync the
/// directory. With `durable == false` the fsyncs are skipped (`SyncPolicy::Never`).
pub(crate) fn write_ack(dir: &Path, acked: u64, durable: bool) -> Result<()> {
    let tmp = dir.join(ACK_TMP);
    let mut bytes = [0u8; ACK_LEN];
    bytes[..8].copy_from_slice(&acked.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..8]);
    bytes[8..].copy_from_slice(&crc.to_le_bytes());
    let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, "create ack file", e))?;
    file.write_all(&bytes)
        .map_err(|e| Error::io(&tmp, "write ack file", e))?;
    if durable {
        file.sync_all()
            .map_err(|e| Error::io(&tmp, "sync ack file", e))?;
    }
    drop(file);
    let path = ack_path(dir);
    fs::rename(&tmp, &path).map_err(|e| Error::io(&path, "replace ack file", e))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Takes the directory's exclusive lock (an advisory `flock` on `LOCK`), held until the
/// returned file is dropped. One writer (or repair) per log at a time.
pub(crate) fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, "open lock file", e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, "lock", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        let dir = Path::new("/x");
        assert_eq!(
            segment_path(dir, 42),
            Path::new("/x/00000000000000000042.wal")
        );
        assert_eq!(parse_segment_name("00000000000000000042.wal"), Some(42));
        assert_eq!(parse_segment_name("0000000000000000042.wal"), None);
        assert_eq!(parse_segment_name("00000000000000000042.wal.tmp"), None);
        assert_eq!(parse_segment_name("+0000000000000000042.wal"), None);
        assert_eq!(parse_segment_name("99999999999999999999.wal"), None);
    }

    #[test]
    fn ack_file_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_ack(dir.path()).unwrap(), AckState::default());
        write_ack(dir.path(), 77, true).unwrap();
        assert_eq!(read_ack(dir.path()).unwrap().acked, 77);
        let path = ack_path(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        bytes[0] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(read_ack(dir.path()).unwrap().damaged);
        fs::write(&path, b"xx").unwrap();
        assert!(read_ack(dir.path()).unwrap().damaged);
    }
}
