//! Searches and context lookups over one index.
//!
//! Results are ordered newest first by the key `(timestamp, seq)`, both descending: `seq` is
//! the event's sequence number (WAL record id and position, see [`crate::index::seq`]), which
//! stays the same through flushes, merges and restarts, so the order — and a cursor — is
//! stable. A cursor holds the last key returned and a snapshot (the newest `seq` when the
//! first page was served): later pages return only events at or below the snapshot, so paging
//! returns every match exactly once and in order while new events arrive, and `total` stays
//! the same from page to page.

use crate::error::{Error, Result};
use crate::index::{event_at, events_at, find_seq, scan_parallel, Index, Loc, Reading};
use crate::segment::{Budget, TimeField};
use sluice_event::{Event, Value};
use sluice_query::Query;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A search.
#[derive(Clone, Debug)]
pub struct SearchRequest {
    pub query: Query,
    /// Inclusive lower bound on `time_field`, ns.
    pub from: i64,
    /// Exclusive upper bound on `time_field`, ns; `i64::MAX` is no upper bound.
    pub to: i64,
    pub time_field: TimeField,
    /// Hits per page.
    pub limit: usize,
    /// From a previous response's `next_cursor`.
    pub cursor: Option<String>,
    /// Past this instant the scan stops and the response is `partial`.
    pub deadline: Option<Instant>,
    /// Rows and documents examined at most; past it the response is `partial`.
    pub scan_budget: u64,
}

impl SearchRequest {
    /// All time, 100 hits, no deadline, no budget.
    pub fn new(query: Query) -> SearchRequest {
        SearchRequest {
            query,
            from: i64::MIN,
            to: i64::MAX,
            time_field: TimeField::Timestamp,
            limit: 100,
            cursor: None,
            deadline: None,
            scan_budget: u64::MAX,
        }
    }
}

/// One event found.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// Stable id of the event in its index (for [`crate::Store::context`]).
    pub id: String,
    pub event: Event,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SearchResponse {
    /// Every match in the time range (up to the cursor's snapshot), not capped by `limit`;
    /// when `partial`, the matches found before the scan stopped.
    pub total: u64,
    /// Newest first.
    pub hits: Vec<Hit>,
    /// Set when more matches follow the last hit.
    pub next_cursor: Option<String>,
    /// The deadline or the scan budget cut the scan.
    pub partial: bool,
    /// Rows and documents examined.
    pub scanned: u64,
}

/// The events around one event from the same source, in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    pub before: Vec<Hit>,
    pub hit: Hit,
    pub after: Vec<Hit>,
}

type Key = (i64, u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    key: Key,
    snap: u64,
}

impl Cursor {
    fn encode(&self) -> String {
        format!("c1_{}_{}_{}", self.key.0, self.key.1, self.snap)
    }
    fn decode(text: &str) -> Result<Cursor> {
        let bad = || Error::InvalidCursor(text.chars().take(64).collect());
        let mut parts = text.split('_');
        if parts.next() != Some("c1") {
            return Err(bad());
        }
        let mut next = || parts.next().ok_or_else(bad);
        let ts: i64 = next()?.parse().map_err(|_| bad())?;
        let sq: u64 = next()?.parse().map_err(|_| bad())?;
        let snap: u64 = next()?.parse().map_err(|_| bad())?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Cursor {
            key: (ts, sq),
            snap,
        })
    }
}

pub fn hit_id(seq: u64) -> String {
    seq.to_string()
}

/// Matches of `query` by key, both exclusive bounds optional, keeping the `limit` first in
/// `desc` (or ascending) order. Returns (all matches counted, kept, matches past the bound,
/// budget).
struct Collected {
    total: u64,
    kept: Vec<(Key, Loc)>,
    beyond: u64,
    budget: Budget,
}

#[allow(clippy::too_many_arguments)]
fn collect(
    index: &Index,
    view: &crate::index::View,
    query: &Query,
    range: (TimeField, i64, i64),
    snap: u64,
    bound: Option<Key>,
    desc: bool,
    limit: usize,
    budget: Budget,
    reading: &Reading,
) -> Result<Collected> {
    let plan = index.plan(query);
    let mut budget = budget;
    // Per worker: matches counted, matches past the bound, and the `limit` best of those in
    // a min-heap by rank. The rank orders keys as the page does: (timestamp, seq) as one
    // i128, negated for an ascending page.
    let sign: i128 = if desc { 1 } else { -1 };
    let rank = |(ts, sq): Key| sign * ((i128::from(ts) << 64) | i128::from(sq));
    let key_of = |r: i128| {
        let v = sign * r;
        ((v >> 64) as i64, v as u64)
    };
    let states = scan_parallel(
        view,
        &plan,
        query,
        range,
        snap,
        &mut budget,
        reading.parallel_rows(index.opts.parallel_rows),
        || (0u64, 0u64, BinaryHeap::<Reverse<(i128, Loc)>>::new()),
        |(total, beyond, top), ts, sq, loc| {
            *total += 1;
            let r = rank((ts, sq));
            if bound.is_some_and(|b| r >= rank(b)) {
                return;
            }
            *beyond += 1;
            if limit == 0 {
                return;
            }
            if top.len() < limit {
                top.push(Reverse((r, loc)));
            } else if top.peek().is_some_and(|Reverse((min, _))| r > *min) {
                top.pop();
                top.push(Reverse((r, loc)));
            }
        },
    )?;
    let (mut total, mut beyond) = (0u64, 0u64);
    let mut ranked: Vec<(i128, Loc)> = Vec::new();
    for (t, b, top) in states {
        total += t;
        beyond += b;
        ranked.extend(top.into_iter().map(|Reverse(x)| x));
    }
    ranked.sort_by_key(|x| Reverse(x.0));
    ranked.truncate(limit);
    let kept = ranked
        .into_iter()
        .map(|(r, loc)| (key_of(r), loc))
        .collect();
    Ok(Collected {
        total,
        kept,
        beyond,
        budget,
    })
}

pub fn search(index: &Index, req: &SearchRequest) -> Result<SearchResponse> {
    let reading = Reading::start();
    let cursor = req.cursor.as_deref().map(Cursor::decode).transpose()?;
    // The snapshot first: the view taken after it holds every event at or below it.
    let snap = cursor.map_or_else(|| index.last_seq(), |c| c.snap);
    let view = index.view_for(&req.query, (req.time_field, req.from, req.to), snap)?;
    let budget = Budget {
        max: req.scan_budget,
        deadline: req.deadline,
        ..Budget::default()
    };
    let c = collect(
        index,
        &view,
        &req.query,
        (req.time_field, req.from, req.to),
        snap,
        cursor.map(|c| c.key),
        true,
        req.limit,
        budget,
        &reading,
    )?;
    let locs: Vec<Loc> = c.kept.iter().map(|(_, loc)| *loc).collect();
    let hits: Vec<Hit> = c
        .kept
        .iter()
        .zip(events_at(
            &view,
            &locs,
            reading.parallel_rows(index.opts.parallel_rows) < u64::MAX,
        )?)
        .map(|((key, _), event)| Hit {
            id: hit_id(key.1),
            event,
        })
        .collect();
    let next_cursor = match c.kept.last() {
        Some((key, _)) if c.beyond > c.kept.len() as u64 => {
            Some(Cursor { key: *key, snap }.encode())
        }
        _ => None,
    };
    Ok(SearchResponse {
        total: c.total,
        hits,
        next_cursor,
        partial: c.budget.cut,
        scanned: c.budget.examined.min(c.budget.max),
    })
}

/// The field that says where an event came from.
pub const SOURCE_FIELD: &str = sluice_event::names::SOURCE;

fn source_query(source: Option<&Value>) -> Result<Query> {
    let text = match source {
        None | Some(Value::Null) => format!("NOT _exists_:{SOURCE_FIELD}"),
        Some(v) => {
            let s = match v {
                Value::String(s) => s.clone(),
                other => sluice_event::value_to_json(other).to_string(),
            };
            format!(
                "{SOURCE_FIELD}:\"{}\"",
                s.replace('\\', "\\\\").replace('"', "\\\"")
            )
        }
    };
    Query::parse(&text).map_err(|e| Error::InvalidCursor(format!("source query: {e}")))
}

pub fn context(index: &Index, hit: &str, before: usize, after: usize) -> Result<Context> {
    let reading = Reading::start();
    let sq: u64 = hit
        .parse()
        .map_err(|_| Error::NoSuchEvent(hit.chars().take(64).collect()))?;
    // Of the cold segments, only the one holding the hit ...
    let view = index.view_with(|m| m.min_seq <= sq && sq <= m.max_seq)?;
    let Some((loc, ts)) = find_seq(&view, sq)? else {
        return Err(Error::NoSuchEvent(hit.to_owned()));
    };
    let event = event_at(&view, loc)?;
    let source = event.fields.get(SOURCE_FIELD).cloned();
    let query = source_query(source.as_ref())?;
    let snap = u64::MAX;
    let range = (TimeField::Timestamp, i64::MIN, i64::MAX);
    // ... then those the neighbours' scans cannot prune.
    let view = index.view_for(&query, range, snap)?;
    let same = |e: &Event| match &source {
        None | Some(Value::Null) => {
            !matches!(e.fields.get(SOURCE_FIELD), Some(v) if *v != Value::Null)
        }
        Some(v) => e.fields.get(SOURCE_FIELD) == Some(v),
    };
    let unbounded = || Budget {
        max: u64::MAX,
        ..Budget::default()
    };
    // Ask for a few extra: the query folds case, the context wants the exact same source.
    let slack = 8;
    let b = collect(
        index,
        &view,
        &query,
        range,
        snap,
        Some((ts, sq)),
        true,
        before + slack,
        unbounded(),
        &reading,
    )?;
    let a = collect(
        index,
        &view,
        &query,
        range,
        snap,
        Some((ts, sq)),
        false,
        after + slack,
        unbounded(),
        &reading,
    )?;
    let mut out_before = Vec::new();
    for (key, loc) in b.kept {
        let e = event_at(&view, loc)?;
        if same(&e) && out_before.len() < before {
            out_before.push(Hit {
                id: hit_id(key.1),
                event: e,
            });
        }
    }
    out_before.reverse();
    let mut out_after = Vec::new();
    for (key, loc) in a.kept {
        let e = event_at(&view, loc)?;
        if same(&e) && out_after.len() < after {
            out_after.push(Hit {
                id: hit_id(key.1),
                event: e,
            });
        }
    }
    Ok(Context {
        before: out_before,
        hit: Hit {
            id: hit_id(sq),
            event,
        },
        after: out_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            key: (-5, 42),
            snap: 99,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in ["", "c1", "c1_1_2", "c2_1_2_3", "c1_a_2_3", "c1_1_2_3_4"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}
