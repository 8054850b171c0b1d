//! `catalog.json`: the live segments of an index and the WAL position they cover. Replaced
//! atomically: written to `catalog.json.tmp`, fsynced, renamed over, directory fsynced.

use crate::error::{Error, Result};
use crate::segment::{sync_dir, SegmentMeta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

pub const FILE: &str = "catalog.json";
const TMP: &str = "catalog.json.tmp";
pub const VERSION: u32 = 1;

/// One live segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    /// The directory under `segments/`.
    pub dir: String,
    /// `hot` (as flushed or merged), `warm` (merged and recompressed by retention) or `cold`
    /// (in the object store only, see `location`).
    pub tier: String,
    pub rows: u64,
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    pub min_seq: u64,
    pub max_seq: u64,
    pub bytes: u64,
    /// Cold: the object key of the segment's directory (`<prefix>/<index>/<dir>`), relative to
    /// the object store's root (the bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Cold: every file of the segment (path relative to its directory, `/`-separated) and its
    /// size, to fetch it and check the fetched copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<(String, u64)>,
    /// Cold: the segment's `meta.json`, so queries prune it without fetching it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<SegmentMeta>,
}

/// The tiers of [`Entry::tier`].
pub const HOT: &str = "hot";
pub const WARM: &str = "warm";
pub const COLD: &str = "cold";

impl Entry {
    /// Whether the segment's files are in `segments/` (hot or warm), not only in the object
    /// store.
    pub fn is_local(&self) -> bool {
        self.tier != COLD
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub version: u32,
    /// Every WAL record with an id `<=` this is in the segments: replay starts after it.
    pub wal_position: u64,
    pub next_segment_id: u64,
    pub segments: Vec<Entry>,
    /// The detected type of each field (`string`, `number`, `bool`, `timestamp`) as of the
    /// events in the segments.
    pub schema: BTreeMap<String, String>,
    /// Values whose type differed from their field's detected type, among the events in the
    /// segments (they are kept, and indexed as text).
    pub type_conflicts: u64,
}

impl Catalog {
    /// Reads the catalog of the index in `dir`; an index without one is empty.
    pub fn load(dir: &Path) -> Result<Catalog> {
        let path = dir.join(FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                let c: Catalog = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::corrupt(&path, format!("catalog: {e}")))?;
                if c.version != VERSION {
                    return Err(Error::corrupt(
                        &path,
                        format!("catalog version {} (this build reads {VERSION})", c.version),
                    ));
                }
                Ok(c)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalog {
                version: VERSION,
                next_segment_id: 1,
                ..Catalog::default()
            }),
            Err(e) => Err(Error::io(&path, "read catalog", e)),
        }
    }

    /// Replaces the catalog of the index in `dir` atomically and durably.
    pub fn store(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(TMP);
        let path = dir.join(FILE);
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::corrupt(&path, format!("catalog: {e}")))?;
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
        f.write_all(&text)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&tmp, "write", e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, "rename catalog", e))?;
        sync_dir(dir)
    }
}
