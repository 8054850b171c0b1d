//! The on-disk cache of cold segments: `<index>/cache/<segment dir>/`, a fetched copy of the
//! segment's files, opened like a local segment.
//!
//! A segment is fetched into `<segment dir>.part/` and renamed into place once every file has
//! its catalog size, so a directory without the suffix is complete. The cache is bounded by
//! `StoreOptions::cache_bytes`: past it, the least recently used segments that no query holds
//! are deleted (then those held too, as a last resort: on Unix the holders keep reading the
//! open files). Entries survive a restart when their files still have the catalog's sizes.
//! Nothing here is durable on purpose: a cache entry can always be fetched again.

use crate::catalog::Entry;
use crate::error::{Error, Result};
use crate::segment::Segment;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const PART: &str = ".part";

struct Cached {
    seg: Arc<Segment>,
    bytes: u64,
    used: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Cached>,
    tick: u64,
    bytes: u64,
    fetches: u64,
    hits: u64,
    evictions: u64,
}

/// Counters of one index's cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub segments: usize,
    pub bytes: u64,
    pub fetches: u64,
    pub hits: u64,
    pub evictions: u64,
}

pub struct Cache {
    dir: PathBuf,
    limit: u64,
    /// Held during a fetch too: one fetch at a time per index, and never the same segment
    /// twice.
    state: Mutex<State>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the files under `dir` are exactly `files` with their sizes.
fn complete(dir: &Path, files: &[(String, u64)]) -> bool {
    !files.is_empty()
        && files.iter().all(|(name, size)| {
            fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.len() == *size)
        })
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, "delete cached segment", e)),
    }
}

impl Cache {
    /// Opens the cache in `dir`, keeping the complete copies of the `cold` segments (least
    /// recently modified evicted first) and deleting everything else.
    pub fn open(dir: &Path, limit: u64, cold: &[Entry]) -> Result<Cache> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create cache directory", e))?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
            let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let keep = cold
                .iter()
                .find(|c| c.dir == name)
                .filter(|c| complete(&path, &c.files));
            match keep {
                Some(c) => {
                    let mtime = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    found.push((mtime, c.clone(), path));
                }
                None if path.is_dir() => remove(&path)?,
                None => fs::remove_file(&path)
                    .map_err(|e| Error::io(&path, "delete cache leftover", e))?,
            }
        }
        found.sort_by_key(|(t, _, _)| *t);
        let mut state = State::default();
        for (_, c, path) in found {
            // A copy that does not open is fetched again when needed.
            match Segment::open(&path) {
                Ok(seg) => {
                    state.tick += 1;
                    let bytes = c.files.iter().map(|(_, s)| s).sum();
                    state.bytes += bytes;
                    state.entries.insert(
                        c.dir.clone(),
                        Cached {
                            seg: Arc::new(seg),
                            bytes,
                            used: state.tick,
                        },
                    );
                }
                Err(_) => remove(&path)?,
            }
        }
        let cache = Cache {
            dir: dir.to_path_buf(),
            limit,
            state: Mutex::new(state),
        };
        cache.evict(&mut lock(&cache.state), None)?;
        Ok(cache)
    }

    /// The cold segment `entry`, from the cache or fetched into it by `fetch(into)` (which
    /// writes the segment's files under `into`).
    pub fn get(
        &self,
        entry: &Entry,
        fetch: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Arc<Segment>> {
        let mut st = lock(&self.state);
        st.tick += 1;
        let tick = st.tick;
        if let Some(c) = st.entries.get_mut(&entry.dir) {
            c.used = tick;
            let seg = c.seg.clone();
            st.hits += 1;
            return Ok(seg);
        }
        let part = self.dir.join(format!("{}{PART}", entry.dir));
        let path = self.dir.join(&entry.dir);
        remove(&part)?;
        remove(&path)?;
        fs::create_dir_all(&part).map_err(|e| Error::io(&part, "create directory", e))?;
        let fetched = fetch(&part).and_then(|()| {
            for (name, size) in &entry.files {
                let p = part.join(name);
                let got = fs::metadata(&p).map_err(|e| Error::io(&p, "stat fetched file", e))?;
                if got.len() != *size {
                    return Err(Error::ColdMismatch {
                        path: p,
                        key: entry.location.clone().unwrap_or_default(),
                        what: format!("{} bytes, the catalog says {size}", got.len()),
                    });
                }
            }
            fs::rename(&part, &path).map_err(|e| Error::io(&path, "rename fetched segment", e))?;
            Segment::open(&path)
        });
        let seg = match fetched {
            Ok(seg) => Arc::new(seg),
            Err(e) => {
                let _ = remove(&part);
                let _ = remove(&path);
                return Err(e);
            }
        };
        let bytes = entry.files.iter().map(|(_, s)| s).sum();
        st.fetches += 1;
        st.bytes += bytes;
        st.entries.insert(
            entry.dir.clone(),
            Cached {
                seg: seg.clone(),
                bytes,
                used: tick,
            },
        );
        self.evict(&mut st, Some(&entry.dir))?;
        Ok(seg)
    }

    /// Deletes the cached copy of segment `dir` (it was deleted).
    pub fn forget(&self, dir: &str) -> Result<()> {
        let mut st = lock(&self.state);
        if let Some(c) = st.entries.remove(dir) {
            st.bytes -= c.bytes;
        }
        remove(&self.dir.join(dir))
    }

    /// Evicts least recently used segments until the cache fits, never `keep` (just fetched);
    /// those no query holds go first.
    fn evict(&self, st: &mut State, keep: Option<&str>) -> Result<()> {
        while st.bytes > self.limit {
            let victim = st
                .entries
                .iter()
                .filter(|(name, _)| Some(name.as_str()) != keep)
                .min_by_key(|(_, c)| (Arc::strong_count(&c.seg) > 1, c.used))
                .map(|(name, _)| name.clone());
            let Some(name) = victim else {
                return Ok(());
            };
            if let Some(c) = st.entries.remove(&name) {
                st.bytes -= c.bytes;
                st.evictions += 1;
            }
            remove(&self.dir.join(&name))?;
        }
        Ok(())
    }

    pub fn stats(&self) -> CacheStats {
        let st = lock(&self.state);
        CacheStats {
            segments: st.entries.len(),
            bytes: st.bytes,
            fetches: st.fetches,
            hits: st.hits,
            evictions: st.evictions,
        }
    }
}
