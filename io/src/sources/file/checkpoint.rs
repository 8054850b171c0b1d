//! The `file` source's checkpoints: which file is which (device, inode and a
//! fingerprint of its first bytes) and how far each was sent.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How many leading bytes identify a file's content.
pub(super) const FINGERPRINT_BYTES: usize = 256;

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

/// (device, inode).
pub(super) type Key = (u64, u64);

/// What the checkpoint file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Checkpoints {
    pub(super) version: u32,
    pub(super) files: Vec<Checkpoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    /// Informational only: identity is `dev`, `ino` and the fingerprint.
    pub(super) path: String,
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) fingerprint_len: usize,
    pub(super) fingerprint: u64,
    /// Just past the last complete line that was sent.
    pub(super) offset: u64,
}

/// A hash of a file's first `len` (at most [`FINGERPRINT_BYTES`]) bytes. It
/// covers fewer bytes while the file is young and is widened as it grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint {
    pub(super) len: usize,
    pub(super) hash: u64,
}

impl Fingerprint {
    pub(super) fn of(file: &File) -> io::Result<Self> {
        let prefix = read_prefix(file, FINGERPRINT_BYTES)?;
        Ok(Fingerprint {
            len: prefix.len(),
            hash: fnv1a(&prefix),
        })
    }

    /// Whether `file` still starts with the bytes this was taken from.
    pub(super) fn matches(self, file: &File) -> io::Result<bool> {
        let prefix = read_prefix(file, self.len)?;
        Ok(prefix.len() == self.len && fnv1a(&prefix) == self.hash)
    }
}

pub(super) fn read_prefix(file: &File, len: usize) -> io::Result<Vec<u8>> {
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

pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(super) async fn load_checkpoints(path: &Path) -> HashMap<Key, Checkpoint> {
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
