//! Aggregation pipes: the part of a query after `parse_until_pipe`'s `|`.
//!
//! ```text
//! pipe      = "|" ( stats | timechart | top )
//! stats     = "stats" agg { "," agg } [ "by" field { "," field } ]
//! timechart = "timechart" interval agg { "," agg } [ "by" field ]
//! top       = "top" N field
//! agg       = "count()" | ( "avg" | "min" | "max" | "sum" | "p50" | "p95" | "p99" ) "(" field ")"
//! interval  = N ( "ms" | "s" | "m" | "h" | "d" )
//! ```
//!
//! Errors name the 1-based column in the whole query text. Numbers are int and float values
//! and strings holding a number; percentiles are exact (nearest rank). Groups are keyed by the
//! field's value as JSON (a missing field is `null`).

use crate::error::{Error, Result};
use crate::fastagg::{self, Counts, Grouping, KeyColumn};
use crate::index::{event_at, on_threads, scan, Index, Loc, Shared, View};
use crate::plan::Plan;
use crate::search::SearchRequest;
use crate::segment::Budget;
use arrow_array::Array;
use serde_json::Value as Json;
use sluice_event::{value_to_json, Event, Value};
use sluice_query::text::Number;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq)]
pub enum Func {
    Count,
    Avg(String),
    Min(String),
    Max(String),
    Sum(String),
    /// The percentile (50, 95, 99).
    Pct(u8, String),
}

impl Func {
    fn label(&self) -> String {
        match self {
            Func::Count => "count()".into(),
            Func::Avg(f) => format!("avg({f})"),
            Func::Min(f) => format!("min({f})"),
            Func::Max(f) => format!("max({f})"),
            Func::Sum(f) => format!("sum({f})"),
            Func::Pct(p, f) => format!("p{p}({f})"),
        }
    }
}

/// A parsed pipe.
#[derive(Clone, Debug, PartialEq)]
pub enum Pipe {
    Stats {
        aggs: Vec<Func>,
        by: Vec<String>,
    },
    Timechart {
        interval_ns: i64,
        aggs: Vec<Func>,
        by: Option<String>,
    },
    Top {
        n: usize,
        field: String,
    },
}

/// The answer: a table.
#[derive(Clone, Debug, PartialEq)]
pub struct AggResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Json>>,
    /// Events aggregated.
    pub matched: u64,
    pub partial: bool,
    pub scanned: u64,
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn err(&self, at: usize, message: impl Into<String>) -> Error {
        Error::Pipe {
            column: sluice_query::column_at(self.text, at),
            message: message.into(),
        }
    }
    fn skip_ws(&mut self) {
        while let Some(c) = self.text[self.pos..].chars().next() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }
    /// A word: field names (dotted), function names, numbers with units.
    fn word(&mut self) -> Option<(usize, &'a str)> {
        self.skip_ws();
        let start = self.pos;
        let rest = &self.text[start..];
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '-')))
            .unwrap_or(rest.len());
        if len == 0 {
            return None;
        }
        self.pos += len;
        Some((start, &rest[..len]))
    }
    fn peek_char(&mut self) -> Option<char> {
        self.skip_ws();
        self.text[self.pos..].chars().next()
    }
    fn expect(&mut self, c: char) -> Result<()> {
        if self.peek_char() == Some(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(self.err(self.pos, format!("expected '{c}'")))
        }
    }
    fn field(&mut self) -> Result<String> {
        match self.word() {
            Some((_, w)) => Ok(w.to_owned()),
            None => Err(self.err(self.pos, "expected a field name")),
        }
    }
    fn agg(&mut self) -> Result<Func> {
        let Some((at, name)) = self.word() else {
            return Err(self.err(self.pos, "expected an aggregation such as count()"));
        };
        const KNOWN: [&str; 8] = ["count", "avg", "min", "max", "sum", "p50", "p95", "p99"];
        if !KNOWN.contains(&name) {
            return Err(self.err(
                at,
                format!("unknown aggregation {name:?} (count, avg, min, max, sum, p50, p95, p99)"),
            ));
        }
        self.expect('(')?;
        let f = if name == "count" {
            Func::Count
        } else {
            let field = self.field()?;
            match name {
                "avg" => Func::Avg(field),
                "min" => Func::Min(field),
                "max" => Func::Max(field),
                "sum" => Func::Sum(field),
                "p50" => Func::Pct(50, field),
                "p95" => Func::Pct(95, field),
                _ => Func::Pct(99, field),
            }
        };
        self.expect(')')?;
        Ok(f)
    }
    fn aggs(&mut self) -> Result<Vec<Func>> {
        let mut v = vec![self.agg()?];
        while self.peek_char() == Some(',') {
            self.pos += 1;
            v.push(self.agg()?);
        }
        Ok(v)
    }
    fn end(&mut self) -> Result<()> {
        self.skip_ws();
        if self.pos < self.text.len() {
            return Err(self.err(self.pos, "unexpected text after the pipe"));
        }
        Ok(())
    }
    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        match self.word() {
            Some((_, w)) if w == kw => true,
            _ => {
                self.pos = save;
                false
            }
        }
    }
}

/// Parses the pipe that starts at byte `offset` of `text` (where `parse_until_pipe` stopped).
pub fn parse_pipe(text: &str, offset: usize) -> Result<Pipe> {
    let mut lx = Lexer { text, pos: offset };
    lx.expect('|')?;
    let Some((at, cmd)) = lx.word() else {
        return Err(lx.err(lx.pos, "expected stats, timechart or top after '|'"));
    };
    let pipe = match cmd {
        "stats" => {
            let aggs = lx.aggs()?;
            let mut by = Vec::new();
            if lx.keyword("by") {
                by.push(lx.field()?);
                while lx.peek_char() == Some(',') {
                    lx.pos += 1;
                    by.push(lx.field()?);
                }
            }
            Pipe::Stats { aggs, by }
        }
        "timechart" => {
            let Some((iat, iv)) = lx.word() else {
                return Err(lx.err(lx.pos, "expected an interval such as 1m"));
            };
            let interval_ns = parse_interval(iv).ok_or_else(|| {
                lx.err(
                    iat,
                    format!("invalid interval {iv:?} (e.g. 500ms, 30s, 1m, 1h, 1d)"),
                )
            })?;
            let aggs = lx.aggs()?;
            let by = if lx.keyword("by") {
                Some(lx.field()?)
            } else {
                None
            };
            Pipe::Timechart {
                interval_ns,
                aggs,
                by,
            }
        }
        "top" => {
            let Some((nat, n)) = lx.word() else {
                return Err(lx.err(lx.pos, "expected a count such as 10"));
            };
            let n: usize = n
                .parse()
                .ok()
                .filter(|n| *n > 0 && *n <= 10_000)
                .ok_or_else(|| lx.err(nat, "expected a count from 1 to 10000"))?;
            Pipe::Top {
                n,
                field: lx.field()?,
            }
        }
        _ => {
            return Err(lx.err(
                at,
                format!("unknown pipe command {cmd:?} (stats, timechart, top)"),
            ))
        }
    };
    lx.end()?;
    Ok(pipe)
}

fn parse_interval(s: &str) -> Option<i64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let mult = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn field_value<'e>(e: &'e Event, name: &str) -> Option<std::borrow::Cow<'e, Value>> {
    use std::borrow::Cow;
    match name {
        "message" => Some(Cow::Owned(Value::String(e.message.clone()))),
        "timestamp" => Some(Cow::Owned(Value::Timestamp(e.timestamp))),
        "ingest_timestamp" => Some(Cow::Owned(Value::Timestamp(e.ingest_timestamp))),
        _ => e.fields.get(name).map(Cow::Borrowed),
    }
}

/// A field's value as a group key; `level` strings that name a level are normalized
/// (`warning` and `WARN` are one group), as the segment's `level` column holds them.
fn group_key(e: &Event, name: &str) -> Json {
    match field_value(e, name) {
        None => Json::Null,
        Some(v) => match (name, v.as_ref()) {
            ("level", Value::String(s)) => Json::String(
                sluice_event::Level::parse(s).map_or_else(|| s.clone(), |l| l.as_str().to_owned()),
            ),
            (_, other) => value_to_json(other),
        },
    }
}

fn number(e: &Event, name: &str) -> Option<f64> {
    match field_value(e, name)?.as_ref() {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        Value::String(s) => Number::parse(s).map(Number::as_f64),
        _ => None,
    }
}

#[derive(Default)]
struct Acc {
    count: u64,
    /// Per numeric field: the values seen.
    values: BTreeMap<String, Vec<f64>>,
}

impl Acc {
    fn add(&mut self, e: &Event, aggs: &[Func]) {
        self.count += 1;
        for f in aggs {
            let field = match f {
                Func::Count => continue,
                Func::Avg(x) | Func::Min(x) | Func::Max(x) | Func::Sum(x) | Func::Pct(_, x) => x,
            };
            if let Some(n) = number(e, field) {
                self.values.entry(field.clone()).or_default().push(n);
            }
        }
    }
    fn finish(&mut self, aggs: &[Func]) -> Vec<Json> {
        let num = |x: f64| serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number);
        aggs.iter()
            .map(|f| match f {
                Func::Count => Json::from(self.count),
                Func::Avg(x) | Func::Min(x) | Func::Max(x) | Func::Sum(x) | Func::Pct(_, x) => {
                    let Some(v) = self.values.get_mut(x).filter(|v| !v.is_empty()) else {
                        return if matches!(f, Func::Sum(_)) {
                            Json::from(0)
                        } else {
                            Json::Null
                        };
                    };
                    match f {
                        Func::Avg(_) => num(v.iter().sum::<f64>() / v.len() as f64),
                        Func::Sum(_) => num(v.iter().sum()),
                        Func::Min(_) => num(v.iter().copied().fold(f64::INFINITY, f64::min)),
                        Func::Max(_) => num(v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                        Func::Pct(p, _) => {
                            v.sort_by(f64::total_cmp);
                            let rank = ((f64::from(*p) / 100.0) * v.len() as f64).ceil() as usize;
                            num(v[rank.clamp(1, v.len()) - 1])
                        }
                        Func::Count => Json::Null,
                    }
                }
            })
            .collect()
    }
}

/// Fields read from the dictionary columns of a segment's rows when that is all a pipe
/// needs (`level` there is the normalized name, as [`group_key`] gives it).
const DICT_FIELDS: [&str; 3] = ["level", "service", "host"];

/// Reads group keys, from the columns of segment rows when it can.
struct Keys<'v> {
    view: &'v crate::index::View,
    columns_only: bool,
    batch: Option<((usize, usize), std::sync::Arc<crate::rows::Dicts>)>,
}

impl Keys<'_> {
    fn event(&self, loc: Loc) -> Result<Event> {
        event_at(self.view, loc)
    }
    /// The group keys of `fields` for the event at `loc`, or `None` if the event must be
    /// decoded.
    fn column_keys(&mut self, loc: Loc, fields: &[&str]) -> Result<Option<Vec<Json>>> {
        let Loc::Segment(s, row) = loc else {
            return Ok(None);
        };
        if !self.columns_only {
            return Ok(None);
        }
        if fields.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let b = row as usize / crate::rows::BATCH_ROWS;
        let i = row as usize % crate::rows::BATCH_ROWS;
        let cols = match &self.batch {
            Some((at, c)) if *at == (s, b) => c.clone(),
            _ => {
                let c = self.view.segments[s].rows.dicts(b)?;
                self.batch = Some(((s, b), c.clone()));
                c
            }
        };
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            match cols.dict_value(f, i) {
                Some(v) => out.push(Json::String(v.to_owned())),
                // Absent, when the segment has no other type for the field.
                None if self.view.segments[s].meta.only_strings(f) => out.push(Json::Null),
                // Not a string (or absent): the fields column knows.
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }
    fn keys(&mut self, loc: Loc, fields: &[&str]) -> Result<(Vec<Json>, Option<Event>)> {
        if let Some(k) = self.column_keys(loc, fields)? {
            return Ok((k, None));
        }
        let e = self.event(loc)?;
        Ok((fields.iter().map(|f| group_key(&e, f)).collect(), Some(e)))
    }
}

/// `count()` grouped by at most one dictionary field, counted per dictionary key: each
/// batch's distinct values are interned once, so a segment event costs an array lookup and
/// an increment instead of decoding its key. Events it cannot place (in memory, or a null
/// where the segment also has non-string values) go the general way.
struct FastCounts {
    field: Option<String>,
    /// Group id → its key (id 0: null).
    values: Vec<Json>,
    ids: std::collections::HashMap<String, u32>,
    /// The batch whose dictionary is mapped: where, its keys, dictionary key → group id,
    /// and whether a null there means "absent".
    batch: Option<BatchIds>,
    /// Stats and top: per group id.
    counts: Vec<u64>,
    /// Timechart: per (bucket, group id).
    buckets: std::collections::HashMap<(i64, u32), u64>,
}

struct BatchIds {
    at: (usize, usize),
    /// The field's dictionary keys in this batch (none: the batch has no such column).
    keys: Option<arrow_array::DictionaryArray<arrow_array::types::Int32Type>>,
    ids: Vec<u32>,
    nulls_absent: bool,
}

impl FastCounts {
    fn new(field: Option<&str>) -> FastCounts {
        FastCounts {
            field: field.map(str::to_owned),
            values: vec![Json::Null],
            ids: Default::default(),
            batch: None,
            counts: vec![0],
            buckets: Default::default(),
        }
    }

    /// The group id of the segment event at `(s, row)`, or `None` to take the general way.
    fn id(&mut self, view: &crate::index::View, loc: Loc) -> Result<Option<u32>> {
        let Loc::Segment(s, row) = loc else {
            return Ok(None);
        };
        let Some(field) = &self.field else {
            return Ok(Some(0));
        };
        let (b, i) = (
            row as usize / crate::rows::BATCH_ROWS,
            row as usize % crate::rows::BATCH_ROWS,
        );
        if self.batch.as_ref().is_none_or(|m| m.at != (s, b)) {
            let dicts = view.segments[s].rows.dicts(b)?;
            let ids = match dicts.keyed(field) {
                Some((_, values)) => (0..values.len())
                    .map(|k| {
                        let value = values.value(k);
                        match self.ids.get(value) {
                            Some(&id) => id,
                            None => {
                                let id = self.values.len() as u32;
                                self.ids.insert(value.to_owned(), id);
                                self.values.push(Json::String(value.to_owned()));
                                self.counts.push(0);
                                id
                            }
                        }
                    })
                    .collect(),
                None => Vec::new(),
            };
            self.batch = Some(BatchIds {
                at: (s, b),
                keys: dicts.keyed(field).map(|(keys, _)| keys.clone()),
                ids,
                nulls_absent: view.segments[s].meta.only_strings(field),
            });
        }
        let m = self.batch.as_ref().expect("mapped above");
        let key = match &m.keys {
            Some(keys) if !keys.is_null(i) => Some(keys.keys().value(i) as usize),
            _ => None,
        };
        Ok(match key {
            Some(k) => m.ids.get(k).copied(),
            None if m.nulls_absent => Some(0),
            None => None,
        })
    }

    /// The counts, as [`State::add_counts`] takes them (matches were counted as they came).
    fn into_counts(self) -> Counts {
        let key = |id: usize| self.values[id].as_str().map(str::to_owned);
        let mut cells: Vec<(i64, Option<String>, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(id, n)| (0, key(id), *n))
            .collect();
        cells.extend(
            self.buckets
                .iter()
                .map(|(&(bucket, id), &n)| (bucket, key(id as usize), n)),
        );
        Counts { cells, matched: 0 }
    }
}

/// Counts the segments of `view` that the fast fields can answer ([`Segment::count_columns`]),
/// on every core when there are enough rows. Returns their counts and the view without them.
fn count_segments(
    view: &View,
    plan: &Plan,
    query: &sluice_query::Query,
    (range, snap): ((crate::segment::TimeField, i64, i64), u64),
    grouping: Grouping,
    budget: &mut Budget,
    min_rows: u64,
) -> Result<(Vec<Counts>, View)> {
    let (segments, threads) = crate::index::scan_segments(view, query, range, snap, min_rows);
    let budget = Mutex::new(budget);
    let queue = Shared::new(&segments);
    let results = on_threads(threads, || {
        let mut mine = Vec::new();
        while let Some(&i) = queue.take() {
            let r = view.segments[i].count_columns(plan, range, snap, grouping, &budget);
            let failed = r.is_err();
            mine.push((i, r));
            if failed {
                break;
            }
        }
        mine
    });
    let mut answered = vec![false; view.segments.len()];
    let mut counts = Vec::new();
    for (i, r) in results.into_iter().flatten() {
        if let Some(c) = r? {
            answered[i] = true;
            counts.push(c);
        }
    }
    let rest = View {
        segments: view
            .segments
            .iter()
            .zip(&answered)
            .filter(|(_, a)| !**a)
            .map(|(s, _)| s.clone())
            .collect(),
        mem: view.mem.clone(),
        cold: view.cold.clone(),
    };
    Ok((counts, rest))
}

/// Groups being accumulated, per pipe kind.
enum State {
    Stats(BTreeMap<Vec<String>, (Vec<Json>, Acc)>),
    Timechart(BTreeMap<(i64, String), (Json, Acc)>),
    Top(BTreeMap<String, (Json, u64)>),
}

impl State {
    /// Adds one segment's column counts.
    fn add_counts(&mut self, counts: Counts, grouped: bool) {
        for (bucket, key, n) in counts.cells {
            let key = key.map_or(Json::Null, Json::String);
            match self {
                State::Stats(groups) => {
                    let key: Vec<Json> = if grouped { vec![key] } else { Vec::new() };
                    let k: Vec<String> = key.iter().map(Json::to_string).collect();
                    groups
                        .entry(k)
                        .or_insert_with(|| (key, Acc::default()))
                        .1
                        .count += n;
                }
                State::Timechart(groups) => {
                    groups
                        .entry((bucket, key.to_string()))
                        .or_insert_with(|| (key, Acc::default()))
                        .1
                        .count += n;
                }
                State::Top(top) => {
                    if !key.is_null() {
                        top.entry(key.to_string()).or_insert((key, 0)).1 += n;
                    }
                }
            }
        }
    }

    fn add(
        &mut self,
        keys: &mut Keys<'_>,
        pipe: &Pipe,
        by: &[&str],
        ts: i64,
        loc: Loc,
    ) -> Result<()> {
        match (self, pipe) {
            (State::Stats(groups), Pipe::Stats { aggs, .. }) => {
                let (key, e) = keys.keys(loc, by)?;
                let k: Vec<String> = key.iter().map(Json::to_string).collect();
                let acc = &mut groups.entry(k).or_insert_with(|| (key, Acc::default())).1;
                match e {
                    Some(e) => acc.add(&e, aggs),
                    None => acc.count += 1,
                }
            }
            (
                State::Timechart(groups),
                Pipe::Timechart {
                    interval_ns, aggs, ..
                },
            ) => {
                let bucket = ts.saturating_sub(ts.rem_euclid(*interval_ns));
                let (key, e) = keys.keys(loc, by)?;
                let key = key.into_iter().next().unwrap_or(Json::Null);
                let acc = &mut groups
                    .entry((bucket, key.to_string()))
                    .or_insert_with(|| (key, Acc::default()))
                    .1;
                match e {
                    Some(e) => acc.add(&e, aggs),
                    None => acc.count += 1,
                }
            }
            (State::Top(counts), Pipe::Top { .. }) => {
                let (key, _) = keys.keys(loc, by)?;
                let key = key.into_iter().next().unwrap_or(Json::Null);
                if !key.is_null() {
                    counts.entry(key.to_string()).or_insert((key, 0)).1 += 1;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Runs `pipe` over the matches of `req` in `index`, streaming: each match is folded into
/// its group as the scan finds it.
pub fn run(index: &Index, req: &SearchRequest, pipe: &Pipe) -> Result<AggResult> {
    let reading = crate::index::Reading::start();
    let snap = index.last_seq();
    let view = index.view_for(&req.query, (req.time_field, req.from, req.to), snap)?;
    let plan = index.plan(&req.query);
    let mut budget = Budget {
        max: req.scan_budget,
        deadline: req.deadline,
        ..Budget::default()
    };
    let (by, aggs): (Vec<&str>, &[Func]) = match pipe {
        Pipe::Stats { aggs, by } => (by.iter().map(String::as_str).collect(), aggs),
        Pipe::Timechart { aggs, by, .. } => (by.iter().map(String::as_str).collect(), aggs),
        Pipe::Top { field, .. } => (vec![field.as_str()], &[]),
    };
    let columns_only =
        aggs.iter().all(|a| *a == Func::Count) && by.iter().all(|f| DICT_FIELDS.contains(f));
    let mut state = match pipe {
        Pipe::Stats { .. } => State::Stats(BTreeMap::new()),
        Pipe::Timechart { .. } => State::Timechart(BTreeMap::new()),
        Pipe::Top { .. } => State::Top(BTreeMap::new()),
    };
    let interval = match pipe {
        Pipe::Timechart { interval_ns, .. } => Some(*interval_ns),
        _ => None,
    };
    // Segments whose counts the fast fields give; the rest (and memory) take the scan below.
    let mut column_counts = Vec::new();
    let column_key = match by.as_slice() {
        [] => Some(None),
        [f] => KeyColumn::of(f).map(Some),
        _ => None,
    };
    let view = match column_key.filter(|_| columns_only) {
        Some(key) => {
            let grouping = Grouping { key, interval };
            let range = (req.time_field, req.from, req.to);
            let (counts, rest) = count_segments(
                &view,
                &plan,
                &req.query,
                (range, snap),
                grouping,
                &mut budget,
                reading.parallel_rows(index.opts.parallel_rows),
            )?;
            column_counts = counts;
            rest
        }
        None => view,
    };
    let mut matched: u64 = column_counts.iter().map(|c| c.matched).sum();
    let mut keys = Keys {
        view: &view,
        columns_only,
        batch: None,
    };
    let mut fast = (columns_only && by.len() <= 1).then(|| FastCounts::new(by.first().copied()));
    // In-memory events of a counting pipe: counted per borrowed key.
    let mem_key = column_key.filter(|_| columns_only);
    let mut mem_counts: std::collections::HashMap<(i64, Option<&str>), u64> = Default::default();
    let mut failed: Option<Error> = None;
    scan(
        &view,
        &plan,
        &req.query,
        (req.time_field, req.from, req.to),
        snap,
        &mut budget,
        |ts, _, loc| {
            if failed.is_some() {
                return;
            }
            matched += 1;
            if let (Some(key), Loc::Mem(b, i)) = (mem_key, loc) {
                let e = &view.mem[b].events[i];
                if let Some(k) = fastagg::event_key(e, key) {
                    let bucket =
                        interval.map_or(0, |every| ts.saturating_sub(ts.rem_euclid(every)));
                    *mem_counts.entry((bucket, k)).or_insert(0) += 1;
                    return;
                }
            }
            if let Some(fast) = &mut fast {
                match fast.id(&view, loc) {
                    Ok(Some(id)) => {
                        match interval {
                            Some(every) => {
                                let bucket = ts.saturating_sub(ts.rem_euclid(every));
                                *fast.buckets.entry((bucket, id)).or_insert(0) += 1;
                            }
                            None => fast.counts[id as usize] += 1,
                        }
                        return;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        failed = Some(e);
                        return;
                    }
                }
            }
            if let Err(e) = state.add(&mut keys, pipe, &by, ts, loc) {
                failed = Some(e);
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some(fast) = fast {
        state.add_counts(fast.into_counts(), !by.is_empty());
    }
    let mem_counts = Counts {
        matched: mem_counts.values().sum(),
        cells: mem_counts
            .into_iter()
            .map(|((bucket, key), n)| (bucket, key.map(str::to_owned), n))
            .collect(),
    };
    for c in column_counts.into_iter().chain([mem_counts]) {
        state.add_counts(c, !by.is_empty());
    }
    let (columns, rows) = match (state, pipe) {
        (State::Stats(mut groups), Pipe::Stats { aggs, by: names }) => {
            if names.is_empty() && groups.is_empty() {
                groups.insert(Vec::new(), (Vec::new(), Acc::default()));
            }
            let mut columns: Vec<String> = names.clone();
            columns.extend(aggs.iter().map(Func::label));
            let mut rows: Vec<Vec<Json>> = groups
                .into_values()
                .map(|(mut key, mut acc)| {
                    key.extend(acc.finish(aggs));
                    key
                })
                .collect();
            // Biggest groups first when the first aggregation is a count.
            if matches!(aggs.first(), Some(Func::Count)) {
                let at = names.len();
                rows.sort_by(|a, b| {
                    b[at].as_u64().cmp(&a[at].as_u64()).then_with(|| {
                        a.iter()
                            .map(Json::to_string)
                            .cmp(b.iter().map(Json::to_string))
                    })
                });
            }
            (columns, rows)
        }
        (State::Timechart(groups), Pipe::Timechart { aggs, by: name, .. }) => {
            let mut columns = vec!["_time".to_owned()];
            columns.extend(name.iter().cloned());
            columns.extend(aggs.iter().map(Func::label));
            let rows = groups
                .into_iter()
                .map(|((bucket, _), (key, mut acc))| {
                    let mut row = vec![Json::String(sluice_event::format_rfc3339(bucket))];
                    if name.is_some() {
                        row.push(key);
                    }
                    row.extend(acc.finish(aggs));
                    row
                })
                .collect();
            (columns, rows)
        }
        (State::Top(counts), Pipe::Top { n, field }) => {
            let mut v: Vec<(String, (Json, u64))> = counts.into_iter().collect();
            v.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then_with(|| a.0.cmp(&b.0)));
            let rows = v
                .into_iter()
                .take(*n)
                .map(|(_, (k, c))| vec![k, Json::from(c)])
                .collect();
            (vec![field.clone(), "count".into()], rows)
        }
        _ => (Vec::new(), Vec::new()),
    };
    Ok(AggResult {
        columns,
        rows,
        matched,
        partial: budget.cut,
        scanned: budget.examined.min(budget.max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pipe> {
        let (_, at) = sluice_query::parse_until_pipe(text).unwrap();
        parse_pipe(text, at)
    }

    #[test]
    fn pipes_parse() {
        assert_eq!(
            parse("level:ERROR | stats count(), p95(latency) by service, host").unwrap(),
            Pipe::Stats {
                aggs: vec![Func::Count, Func::Pct(95, "latency".into())],
                by: vec!["service".into(), "host".into()]
            }
        );
        assert_eq!(
            parse("* | timechart 1m count() by level").unwrap(),
            Pipe::Timechart {
                interval_ns: 60_000_000_000,
                aggs: vec![Func::Count],
                by: Some("level".into())
            }
        );
        assert_eq!(
            parse("x | top 10 host").unwrap(),
            Pipe::Top {
                n: 10,
                field: "host".into()
            }
        );
    }

    #[test]
    fn errors_point_at_the_column() {
        let col = |t: &str| match parse(t) {
            Err(Error::Pipe { column, .. }) => column,
            other => panic!("{other:?}"),
        };
        assert_eq!(col("x | stat count()"), 5);
        assert_eq!(col("x | stats cnt()"), 11);
        assert_eq!(col("x | stats count() by"), 21);
        assert_eq!(col("x | timechart 1y count()"), 15);
        assert_eq!(col("x | top zero host"), 9);
        assert_eq!(col("x | stats count() extra"), 19);
        assert_eq!(col("x | stats avg(f"), 16);
    }
}
