//! Counting aggregations answered from a segment's columns: `count()` alone, by `level` or by
//! `service`, as `stats`, `timechart` or `top`.
//!
//! The general path ([`crate::agg`]) visits each match through a callback and looks its group
//! key up in the segment's rows. Here a segment's matches are taken in blocks of document ids
//! and their group keys and times read from tantivy's fast fields (`level`, `service`,
//! `timestamp`), each block with one call per column, into a dense table of counts per
//! (time bucket, group). Over a match-all query whose time range covers the segment,
//! `count()` and `count() by level` need no scan at all: the segment's row count and the
//! document frequencies of its `level` terms are the answer (what Elasticsearch does for a
//! `terms` aggregation under `match_all`).
//!
//! Not for: other aggregations (they need the values, which the rows hold), group keys
//! without a fast field, in-memory events, or segments this path cannot answer exactly (an
//! inexact plan, rows newer than the query's snapshot, a `level` that is not a level name):
//! [`Segment::count_columns`] returns `None` for those and the caller takes the general path.

use crate::error::{Error, Result};
use crate::hist;
use crate::plan::{Plan, Q};
use crate::rows::from_raw;
use crate::schema::{view_prefix, Fields as Schema, NO_LEVEL};
use crate::segment::{Budget, Segment, TimeField};
use sluice_event::{Event, Level, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tantivy::columnar::{Cardinality, Column, StrColumn};
use tantivy::query::EnableScoring;
use tantivy::{DocId, DocSet, Term, TERMINATED};

/// Documents read per block.
const BLOCK: usize = 4096;
/// Largest table of (bucket, group) counts a segment may use (cells); a finer timechart
/// takes the general path.
const MAX_CELLS: u64 = 1 << 22;

/// A group key held in a fast field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyColumn {
    /// `level`: the [`Level`] number, [`NO_LEVEL`] for none.
    Level,
    /// `service`: string ordinals into the segment's dictionary.
    Service,
}

impl KeyColumn {
    pub fn of(field: &str) -> Option<KeyColumn> {
        match field {
            "level" => Some(KeyColumn::Level),
            "service" => Some(KeyColumn::Service),
            _ => None,
        }
    }
}

/// The group key of an in-memory event, as the segment columns give it (a level name
/// normalized, else the string as is; `None` inside: absent or null), or `None` when the
/// value is not a string and the general path must decide.
pub fn event_key(e: &Event, key: Option<KeyColumn>) -> Option<Option<&'_ str>> {
    let name = match key {
        None => return Some(None),
        Some(KeyColumn::Level) => sluice_event::names::LEVEL,
        Some(KeyColumn::Service) => sluice_event::names::SERVICE,
    };
    match e.fields.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if key == Some(KeyColumn::Level) => {
            Some(Some(match Level::parse(s) {
                Some(l) => l.as_str(),
                None => s.as_str(),
            }))
        }
        Some(Value::String(s)) => Some(Some(s)),
        Some(_) => None,
    }
}

/// One segment's counts: `(bucket start, group key, events)` (the bucket is 0 without an
/// interval; `None` is the null key).
#[derive(Debug, Default)]
pub struct Counts {
    pub cells: Vec<(i64, Option<String>, u64)>,
    pub matched: u64,
}

/// What a count is grouped by.
#[derive(Clone, Copy, Debug)]
pub struct Grouping {
    pub key: Option<KeyColumn>,
    /// Timechart's bucket width in nanoseconds.
    pub interval: Option<i64>,
}

/// `floor(t / every) * every`, as the general path buckets.
fn bucket_start(t: i64, every: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(every))
}

/// The bucket index of `t` from `base` (a bucket start at or before `t`), with a float
/// reciprocal instead of a division per event, corrected at the edges.
#[inline]
fn bucket_index(t: i64, base: i64, every: i64, inv: f64) -> usize {
    let d = t.wrapping_sub(base);
    let mut b = (d as f64 * inv) as i64;
    if b * every > d {
        b -= 1;
    } else if (b + 1) * every <= d {
        b += 1;
    }
    b as usize
}

/// Reads `docs`' values of a column into `out` (a value-less document reads as `none`).
fn read<T: PartialOrd + Copy + Send + Sync + std::fmt::Debug + 'static>(
    col: &Column<T>,
    docs: &[DocId],
    contiguous: bool,
    none: T,
    opt: &mut Vec<Option<T>>,
    out: &mut Vec<T>,
) {
    out.clear();
    out.resize(docs.len(), none);
    if col.get_cardinality() == Cardinality::Full {
        if contiguous {
            col.values.get_range(u64::from(docs[0]), out);
        } else {
            col.values.get_vals(docs, out);
        }
    } else {
        opt.clear();
        opt.resize(docs.len(), None);
        col.first_vals(docs, opt);
        for (o, v) in out.iter_mut().zip(opt.iter()) {
            *o = v.unwrap_or(none);
        }
    }
}

impl Segment {
    /// Documents per level number, if every `level` of this segment that is not a level name
    /// is absent or null (so the `level` fast field's [`NO_LEVEL`] means a null group key).
    fn named_levels(&self) -> Result<Option<[u64; 6]>> {
        let stats = self.meta.fields.get("level");
        if stats.is_some_and(|st| st.types.keys().any(|t| t != "string" && t != "null")) {
            return Ok(None);
        }
        let strings = stats
            .and_then(|st| st.types.get("string"))
            .copied()
            .unwrap_or(0);
        let freqs = self.level_doc_freqs()?;
        Ok((freqs.iter().sum::<u64>() == strings).then_some(freqs))
    }

    /// The segment's histogram, read once.
    fn histogram(&self) -> Result<Option<&hist::Hist>> {
        if let Some(h) = self.hist.get() {
            return Ok(h.as_ref());
        }
        let h = hist::read(&self.dir.join(hist::FILE))?;
        Ok(self.hist.get_or_init(|| h).as_ref())
    }

    /// Documents per level number, from the `level` view's terms.
    fn level_doc_freqs(&self) -> Result<[u64; 6]> {
        let attr = Schema::shared().attr;
        let mut buf = Vec::new();
        let mut out = [0; 6];
        for (n, slot) in out.iter_mut().enumerate() {
            view_prefix(&mut buf, "level", b'l');
            buf.push(n as u8);
            *slot = self
                .searcher
                .doc_freq(&Term::from_field_bytes(attr, &buf))
                .map_err(|e| Error::tantivy(&self.dir, e))?;
        }
        Ok(out)
    }

    /// Counts this segment's matches of `plan` with `field` in `[from, to)` per group and
    /// bucket of `grouping`, from the fast fields. `None`: the columns cannot answer exactly
    /// (see the module doc); nothing was taken from `budget` then.
    pub(crate) fn count_columns(
        &self,
        plan: &Plan,
        (field, from, to): (TimeField, i64, i64),
        snap: u64,
        grouping: Grouping,
        budget: &Mutex<&mut Budget>,
    ) -> Result<Option<Counts>> {
        if !plan.exact || self.meta.max_seq > snap {
            return Ok(None);
        }
        let base: Box<dyn tantivy::query::Query> = match &plan.q {
            Q::None => return Ok(Some(Counts::default())),
            Q::All => Box::new(tantivy::query::AllQuery),
            Q::Some(q) => q.box_clone(),
        };
        let level_freqs = match grouping.key {
            Some(KeyColumn::Level) => match self.named_levels()? {
                Some(freqs) => Some(freqs),
                None => return Ok(None),
            },
            Some(KeyColumn::Service) if !self.meta.only_strings("service") => return Ok(None),
            _ => None,
        };
        let (min, max) = self.meta.time_range(field);
        let inside = min >= from && (max < to || to == i64::MAX);
        // Takes the whole segment from the budget, if it has that much left.
        let whole = || -> bool {
            budget.lock().is_ok_and(|mut b| {
                b.remaining() >= self.meta.rows && b.take_all(self.meta.rows) == self.meta.rows
            })
        };
        // Answers without a scan.
        if matches!(plan.q, Q::All) && inside && grouping.interval.is_none() {
            match grouping.key {
                None if whole() => {
                    return Ok(Some(Counts {
                        cells: vec![(0, None, self.meta.rows)],
                        matched: self.meta.rows,
                    }))
                }
                Some(KeyColumn::Level) if whole() => {
                    let freqs = level_freqs.unwrap_or_default();
                    let named: u64 = freqs.iter().sum();
                    let mut cells: Vec<(i64, Option<String>, u64)> = Level::ALL
                        .iter()
                        .zip(freqs)
                        .filter(|(_, n)| *n > 0)
                        .map(|(l, n)| (0, Some(l.as_str().to_owned()), n))
                        .collect();
                    if self.meta.rows > named {
                        cells.push((0, None, self.meta.rows - named));
                    }
                    return Ok(Some(Counts {
                        cells,
                        matched: self.meta.rows,
                    }));
                }
                _ => {}
            }
        }
        // A timechart of every event, by whole minutes: from the histogram.
        if let (Q::All, true, Some(every), None | Some(KeyColumn::Level)) =
            (&plan.q, inside, grouping.interval, grouping.key)
        {
            if every % hist::MINUTE_NS == 0 {
                if let Some(hist) = self.histogram()? {
                    if whole() {
                        return Ok(Some(from_histogram(
                            hist,
                            every,
                            grouping.key,
                            self.meta.rows,
                        )));
                    }
                }
            }
        }
        let terr = |e| Error::tantivy(&self.dir, e);
        let weight = base
            .weight(EnableScoring::disabled_from_searcher(&self.searcher))
            .map_err(terr)?;
        let mut counts = Counts::default();
        for reader in self.searcher.segment_readers() {
            let ff = reader.fast_fields();
            let ts_col = &self.times.timestamp;
            let range_col = match field {
                TimeField::Timestamp => ts_col,
                TimeField::IngestTimestamp => &self.times.ingest_timestamp,
            };
            let level_col = ff.u64("level").map_err(terr)?;
            let service_col: Option<StrColumn> = ff.str("service").map_err(terr)?;
            let groups = match grouping.key {
                None => 1,
                Some(KeyColumn::Level) => Level::ALL.len() + 1,
                Some(KeyColumn::Service) => {
                    service_col
                        .as_ref()
                        .map_or(0, |c| c.dictionary().num_terms())
                        + 1
                }
            };
            let (first, buckets) = match grouping.interval {
                None => (0, 1),
                Some(every) => {
                    let (lo, hi) = (from_raw(ts_col.min_value()), from_raw(ts_col.max_value()));
                    let first = bucket_start(lo, every);
                    let n = (i128::from(bucket_start(hi, every)) - i128::from(first))
                        / i128::from(every)
                        + 1;
                    // The table's whole span must fit an i64 for the bucket arithmetic.
                    if n * i128::from(every) >= i128::from(i64::MAX) {
                        return Ok(None);
                    }
                    (first, n as u64)
                }
            };
            if buckets.saturating_mul(groups as u64) > MAX_CELLS {
                return Ok(None);
            }
            let mut table = vec![0u64; buckets as usize * groups];
            let every = grouping.interval.unwrap_or(1);
            let inv = 1.0 / every as f64;
            let all = matches!(plan.q, Q::All);
            let mut scorer = (!all)
                .then(|| weight.scorer(reader, 1.0))
                .transpose()
                .map_err(terr)?;
            let (mut docs, mut opt_u) = (Vec::with_capacity(BLOCK), vec![]);
            let (mut times, mut ranges, mut keys) = (vec![], vec![], vec![]);
            let max_doc = reader.max_doc();
            let mut next: DocId = 0;
            loop {
                docs.clear();
                match &mut scorer {
                    None => {
                        let end = max_doc.min(next + BLOCK as DocId);
                        docs.extend(next..end);
                        next = end;
                    }
                    Some(s) => {
                        let mut d = s.doc();
                        while d != TERMINATED && docs.len() < BLOCK {
                            docs.push(d);
                            d = s.advance();
                        }
                    }
                }
                if docs.is_empty() {
                    break;
                }
                let wanted = docs.len();
                let allowed = budget
                    .lock()
                    .map_or(0, |mut b| b.take_all(docs.len() as u64))
                    as usize;
                docs.truncate(allowed);
                if docs.is_empty() {
                    break;
                }
                if !inside {
                    read(range_col, &docs, all, 0, &mut opt_u, &mut ranges);
                }
                if grouping.interval.is_some() {
                    read(ts_col, &docs, all, 0, &mut opt_u, &mut times);
                }
                match grouping.key {
                    None => {}
                    Some(KeyColumn::Level) => {
                        read(&level_col, &docs, all, NO_LEVEL, &mut opt_u, &mut keys)
                    }
                    Some(KeyColumn::Service) => match &service_col {
                        Some(c) => read(
                            c.ords(),
                            &docs,
                            all,
                            groups as u64 - 1,
                            &mut opt_u,
                            &mut keys,
                        ),
                        None => {
                            keys.clear();
                            keys.resize(docs.len(), 0);
                        }
                    },
                }
                // The last bucket found: [start, end) and its index.
                let mut run = (i64::MAX, i64::MIN, 0usize);
                for i in 0..docs.len() {
                    if !inside {
                        let t = from_raw(ranges[i]);
                        if t < from || (t >= to && to != i64::MAX) {
                            continue;
                        }
                    }
                    let group = match grouping.key {
                        None => 0,
                        Some(KeyColumn::Level) => (keys[i] as usize).min(Level::ALL.len()),
                        Some(KeyColumn::Service) => keys[i] as usize,
                    };
                    let bucket = match grouping.interval {
                        None => 0,
                        Some(_) => {
                            // Neighbouring rows are mostly in the same bucket.
                            let t = from_raw(times[i]);
                            if t < run.0 || t >= run.1 {
                                let b = bucket_index(t, first, every, inv);
                                let lo = first + b as i64 * every;
                                run = (lo, lo + every, b);
                            }
                            run.2
                        }
                    };
                    table[bucket * groups + group] += 1;
                }
                if allowed < wanted {
                    break;
                }
            }
            let mut name = String::new();
            for (cell, &n) in table.iter().enumerate().filter(|(_, n)| **n > 0) {
                let (bucket, group) = (cell / groups, cell % groups);
                let key = match grouping.key {
                    None => None,
                    Some(KeyColumn::Level) => Level::ALL.get(group).map(|l| l.as_str().to_owned()),
                    Some(KeyColumn::Service) => match &service_col {
                        Some(c) if group + 1 < groups => {
                            name.clear();
                            c.ord_to_str(group as u64, &mut name).map_err(|e| {
                                Error::io(&self.dir, "read the service dictionary", e)
                            })?;
                            Some(name.clone())
                        }
                        _ => None,
                    },
                };
                counts.matched += n;
                counts.cells.push((first + bucket as i64 * every, key, n));
            }
        }
        Ok(Some(counts))
    }
}

/// A segment's counts per `every` (whole minutes) and level from its histogram.
fn from_histogram(h: &hist::Hist, every: i64, key: Option<KeyColumn>, rows: u64) -> Counts {
    let mut cells: BTreeMap<(i64, usize), u64> = BTreeMap::new();
    for (&minute, counts) in h {
        // Every time of the minute is in the same bucket, since buckets are whole minutes.
        let bucket = bucket_start(minute.saturating_mul(hist::MINUTE_NS), every);
        for (group, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            let group = if key.is_some() { group } else { 0 };
            *cells.entry((bucket, group)).or_default() += n;
        }
    }
    Counts {
        cells: cells
            .into_iter()
            .map(|((bucket, group), n)| {
                let name = key
                    .and_then(|_| Level::ALL.get(group))
                    .map(|l| l.as_str().to_owned());
                (bucket, name, n)
            })
            .collect(),
        matched: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_index_agrees_with_division() {
        let every = 3_600_000_000_000i64;
        let base = bucket_start(1_700_000_123_456_789_000, every);
        let inv = 1.0 / every as f64;
        for t in [
            base,
            base + 1,
            base + every - 1,
            base + every,
            base + 7 * every - 1,
            base + 7 * every,
            base + 168 * every + 12_345,
        ] {
            assert_eq!(
                bucket_index(t, base, every, inv) as i64,
                (t - base).div_euclid(every),
                "{t}"
            );
        }
        let ms = 1_000_000;
        let base = bucket_start(-5 * ms - 3, ms);
        for t in (-5 * ms - 3)..(-5 * ms + 3 * ms) {
            assert_eq!(
                bucket_index(t, base, ms, 1.0 / ms as f64) as i64,
                (t - base).div_euclid(ms)
            );
        }
    }
}
