//! A segment's events per minute and level (`hist.bin`), written when the segment is built, so
//! that a timechart over every event of a segment (the volume histogram a dashboard draws
//! above its results) sums a few thousand counts instead of decoding a time per event.
//!
//! Format: `SLH1`, then an LZ4 block (`lz4_flex::compress_prepend_size`) of varints: the
//! number of minutes with events, then per minute its distance from the previous one (the
//! first: zig-zag minutes since the epoch) and [`GROUPS`] counts: events of each level number
//! (0 TRACE .. 5 FATAL), then events with no level name. Minutes are `timestamp.div_euclid(60 s)`.
//!
//! Not for: anything filtered (a query, a time range cutting the segment), intervals that are
//! not whole minutes, or groups other than the level; those scan the fast fields.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Counts per minute: the six levels, then "no level name".
pub const GROUPS: usize = 7;
pub const MINUTE_NS: i64 = 60_000_000_000;
const MAGIC: &[u8; 4] = b"SLH1";
pub const FILE: &str = "hist.bin";

/// Minute (since the epoch) → events per group.
pub type Hist = BTreeMap<i64, [u64; GROUPS]>;

/// Counts one event at `timestamp` in group `group` (a level number, or [`GROUPS`]` - 1`).
pub fn add(hist: &mut Hist, timestamp: i64, group: usize) {
    hist.entry(timestamp.div_euclid(MINUTE_NS)).or_default()[group.min(GROUPS - 1)] += 1;
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Writes `hist` to `path` (the caller syncs it).
pub fn write(path: &Path, hist: &Hist) -> Result<()> {
    let mut raw = Vec::with_capacity(hist.len() * (GROUPS + 2));
    put(&mut raw, hist.len() as u64);
    let mut last: Option<i64> = None;
    for (&minute, counts) in hist {
        match last {
            None => put(&mut raw, ((minute << 1) ^ (minute >> 63)) as u64),
            Some(prev) => put(&mut raw, minute.wrapping_sub(prev) as u64),
        }
        last = Some(minute);
        for &c in counts {
            put(&mut raw, c);
        }
    }
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&lz4_flex::compress_prepend_size(&raw));
    std::fs::write(path, out).map_err(|e| Error::io(path, "write the histogram", e))
}

/// Reads the histogram at `path`; `None` if the segment has none (built before it existed).
pub fn read(path: &Path) -> Result<Option<Hist>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, "read the histogram", e)),
    };
    let bad = |why: &str| Error::corrupt(path, format!("histogram: {why}"));
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("not a histogram file"))?;
    let raw = lz4_flex::decompress_size_prepended(body).map_err(|e| bad(&e.to_string()))?;
    let at = &mut 0;
    let n = get(&raw, at).ok_or_else(|| bad("truncated"))?;
    let mut hist = Hist::new();
    let mut minute = 0i64;
    for i in 0..n {
        let d = get(&raw, at).ok_or_else(|| bad("truncated"))?;
        minute = if i == 0 {
            ((d >> 1) as i64) ^ -((d & 1) as i64)
        } else {
            minute.wrapping_add(d as i64)
        };
        let mut counts = [0u64; GROUPS];
        for c in &mut counts {
            *c = get(&raw, at).ok_or_else(|| bad("truncated"))?;
        }
        hist.insert(minute, counts);
    }
    if *at != raw.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(Some(hist))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(read(&path).unwrap().is_none());
        let mut hist = Hist::new();
        for (t, g) in [
            (i64::MIN, 0),
            (-1, 6),
            (0, 2),
            (59_999_999_999, 2),
            (1_700_000_000_000_000_000, 5),
            (i64::MAX, 9),
        ] {
            add(&mut hist, t, g);
        }
        assert_eq!(hist[&0], [0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(hist[&-1], [0, 0, 0, 0, 0, 0, 1]);
        write(&path, &hist).unwrap();
        assert_eq!(read(&path).unwrap().unwrap(), hist);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, &bytes).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("hist.bin"), "{e}");
    }
}
