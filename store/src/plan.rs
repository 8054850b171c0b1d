//! Translating a parsed query (`sluice_query::ast::Node`) into a tantivy query over one
//! segment's schema ([`crate::schema`]).
//!
//! Every translation is a **superset** of the events the node matches, and says whether it is
//! **exact**. An exact plan's documents are the answer; an inexact one's are candidates that are
//! checked with `Query::matches` on rows read from Arrow. The rules follow `sluice_query`'s
//! evaluator clause by clause (see the comments), so terms, phrases, keyword equality, numeric,
//! time and level comparisons, `_exists_` and `AND`/`OR`/`NOT` of those are exact; wildcards,
//! regexes, byte-wise string ranges and text without tokens are verified.

use crate::schema::{f64_key, i64_key, keyword, view_prefix, Fields, MAX_KEYWORD_BYTES};
use crate::tokenizer::MAX_TOKEN_BYTES;
use sluice_query::ast::{Bound as QBound, CmpOp, Literal, MessageMatch, Node, Target, TokenPat};
use sluice_query::text::Number;
use std::ops::Bound;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, RegexQuery,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::Term;

/// A translated query.
pub enum Q {
    /// Every document.
    All,
    /// No document.
    None,
    Some(Box<dyn Query>),
}

/// A superset of a node's matches, and whether it is exactly them.
pub struct Plan {
    pub q: Q,
    pub exact: bool,
}

impl Plan {
    fn exact(q: Q) -> Plan {
        Plan { q, exact: true }
    }
    fn all_inexact() -> Plan {
        Plan {
            q: Q::All,
            exact: false,
        }
    }
    fn some(q: impl Query, exact: bool) -> Plan {
        Plan {
            q: Q::Some(Box::new(q)),
            exact,
        }
    }
}

/// Translates `node` for `fields`.
pub fn plan(node: &Node, f: &Fields) -> Plan {
    match node {
        Node::All => Plan::exact(Q::All),
        Node::And(items) => and(items.iter().map(|n| plan(n, f)).collect()),
        Node::Or(items) => or(items.iter().map(|n| plan(n, f)).collect()),
        Node::Not(inner) => not(plan(inner, f)),
        Node::Exists(target) => match target {
            // `!message.is_empty()`.
            Target::Message => Plan::some(attr_term(f, b"\0M".to_vec()), true),
            Target::Timestamp | Target::IngestTimestamp => Plan::exact(Q::All),
            Target::Field { name, .. } => exists(f, name),
        },
        Node::Message(m) => message(m, f),
        Node::Equals(target, lit) => match time_field(target, f) {
            Some(field) => match lit.time {
                Some(t) => Plan::some(
                    i64_range(field, Bound::Included(t), Bound::Included(t)),
                    true,
                ),
                None => Plan::exact(Q::None),
            },
            None => match target {
                Target::Field { name, level } => equals(f, name, *level, lit),
                _ => Plan::all_inexact(),
            },
        },
        Node::Compare(target, op, lit) => compare(target, *op, lit, f),
        Node::Range(target, lower, upper) => {
            let side = |b: &Option<QBound>, upper: bool| {
                b.as_ref().map(|b| {
                    let op = match (upper, b.inclusive) {
                        (false, true) => CmpOp::Ge,
                        (false, false) => CmpOp::Gt,
                        (true, true) => CmpOp::Le,
                        (true, false) => CmpOp::Lt,
                    };
                    compare(target, op, &b.value, f)
                })
            };
            match (side(lower, false), side(upper, true)) {
                (None, None) => match target {
                    // `[* TO *]`: present and not null.
                    Target::Field { name, .. } => exists(f, name),
                    Target::Timestamp | Target::IngestTimestamp => Plan::exact(Q::All),
                    Target::Message => Plan::all_inexact(),
                },
                (Some(a), None) | (None, Some(a)) => a,
                (Some(a), Some(b)) => and(vec![a, b]),
            }
        }
        // A wildcard or regex sees the value's text: only "present" can be said by the index.
        Node::Wildcard(Target::Field { name, .. }, _)
        | Node::Regex(Target::Field { name, .. }, _) => {
            let mut p = exists(f, name);
            p.exact = false;
            p
        }
        Node::Wildcard(..) | Node::Regex(..) => Plan::all_inexact(),
    }
}

/// Field names every match must have (present, not null): a segment whose stats lack one of
/// them holds no match.
pub fn required_fields(node: &Node) -> Vec<String> {
    match node {
        Node::And(items) => {
            let mut v: Vec<String> = items.iter().flat_map(required_fields).collect();
            v.sort();
            v.dedup();
            v
        }
        Node::Or(items) => {
            let mut sets = items.iter().map(required_fields);
            let Some(first) = sets.next() else {
                return Vec::new();
            };
            sets.fold(first, |acc, s| {
                acc.into_iter().filter(|f| s.contains(f)).collect()
            })
        }
        Node::Exists(Target::Field { name, .. })
        | Node::Equals(Target::Field { name, .. }, _)
        | Node::Wildcard(Target::Field { name, .. }, _)
        | Node::Regex(Target::Field { name, .. }, _)
        | Node::Compare(Target::Field { name, .. }, _, _)
        | Node::Range(Target::Field { name, .. }, _, _) => vec![name.clone()],
        _ => Vec::new(),
    }
}

/// Whether the segment described by `meta` cannot hold a match of `node`: a clause every
/// match needs names a field the segment lacks, or compares a number outside the field's
/// min/max where every value of that field is a number.
pub fn prunes(node: &Node, meta: &crate::segment::SegmentMeta) -> bool {
    let lacks = |name: &String| {
        meta.fields
            .get(name)
            .is_none_or(|st| st.types.keys().all(|t| t == "null"))
    };
    if required_fields(node).iter().any(lacks) {
        return true;
    }
    let mut clauses = Vec::new();
    conjuncts(node, &mut clauses);
    clauses.into_iter().any(|c| outside(c, meta))
}

fn conjuncts<'n>(node: &'n Node, out: &mut Vec<&'n Node>) {
    match node {
        Node::And(items) => items.iter().for_each(|n| conjuncts(n, out)),
        other => out.push(other),
    }
}

/// The number of a literal when range pruning on it is exact (see `number_exact`).
fn prune_number(lit: &Literal) -> Option<f64> {
    lit.number.filter(|n| number_exact(*n)).map(Number::as_f64)
}

fn outside(clause: &Node, meta: &crate::segment::SegmentMeta) -> bool {
    let name = match clause {
        Node::Equals(Target::Field { name, .. }, _)
        | Node::Compare(Target::Field { name, .. }, _, _)
        | Node::Range(Target::Field { name, .. }, _, _) => name,
        _ => return false,
    };
    let Some(st) = meta.fields.get(name) else {
        return false;
    };
    // Only fields whose every value is a number (strings could hold numbers or times).
    if !st
        .types
        .keys()
        .all(|t| t == "int" || t == "float" || t == "null")
    {
        return false;
    }
    let (Some(min), Some(max)) = (st.min, st.max) else {
        return false;
    };
    let beyond = |op: CmpOp, x: f64| match op {
        CmpOp::Gt => max <= x,
        CmpOp::Ge => max < x,
        CmpOp::Lt => min >= x,
        CmpOp::Le => min > x,
    };
    match clause {
        Node::Equals(_, lit) => prune_number(lit).is_some_and(|x| x < min || x > max),
        Node::Compare(_, op, lit) => prune_number(lit).is_some_and(|x| beyond(*op, x)),
        Node::Range(_, lo, hi) => {
            let side = |b: &Option<QBound>, upper: bool| {
                b.as_ref().is_some_and(|b| {
                    let op = match (upper, b.inclusive) {
                        (false, true) => CmpOp::Ge,
                        (false, false) => CmpOp::Gt,
                        (true, true) => CmpOp::Le,
                        (true, false) => CmpOp::Lt,
                    };
                    prune_number(&b.value).is_some_and(|x| beyond(op, x))
                })
            };
            side(lo, false) || side(hi, true)
        }
        _ => false,
    }
}

fn and(parts: Vec<Plan>) -> Plan {
    let mut exact = true;
    let mut musts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for p in parts {
        exact &= p.exact;
        match p.q {
            Q::None => return Plan::exact(Q::None),
            Q::All => {}
            Q::Some(q) => musts.push((Occur::Must, q)),
        }
    }
    match musts.len() {
        0 => Plan { q: Q::All, exact },
        1 => Plan {
            q: Q::Some(
                musts
                    .pop()
                    .map(|(_, q)| q)
                    .unwrap_or_else(|| Box::new(AllQuery)),
            ),
            exact,
        },
        _ => Plan::some(BooleanQuery::new(musts), exact),
    }
}

fn or(parts: Vec<Plan>) -> Plan {
    let mut exact = true;
    let mut shoulds: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for p in parts {
        match p.q {
            Q::None => {}
            // An exact "everything" answers the whole OR.
            Q::All if p.exact => return Plan::exact(Q::All),
            Q::All => return Plan::all_inexact(),
            Q::Some(q) => {
                exact &= p.exact;
                shoulds.push((Occur::Should, q));
            }
        }
    }
    match shoulds.len() {
        0 => Plan::exact(Q::None),
        1 => Plan {
            q: Q::Some(
                shoulds
                    .pop()
                    .map(|(_, q)| q)
                    .unwrap_or_else(|| Box::new(EmptyQuery)),
            ),
            exact,
        },
        _ => Plan::some(BooleanQuery::new(shoulds), exact),
    }
}

fn not(inner: Plan) -> Plan {
    if !inner.exact {
        // The complement of a superset is a subset: only "anything" is safe.
        return Plan::all_inexact();
    }
    match inner.q {
        Q::All => Plan::exact(Q::None),
        Q::None => Plan::exact(Q::All),
        Q::Some(q) => Plan::some(
            BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
                (Occur::MustNot, q),
            ]),
            true,
        ),
    }
}

fn attr_term(f: &Fields, bytes: Vec<u8>) -> TermQuery {
    TermQuery::new(
        Term::from_field_bytes(f.attr, &bytes),
        IndexRecordOption::Basic,
    )
}

/// A name with a NUL could make two views' terms collide: still a superset, never exact.
fn name_ok(name: &str) -> bool {
    !name.contains('\0')
}

fn exists(f: &Fields, name: &str) -> Plan {
    let mut b = Vec::new();
    view_prefix(&mut b, name, b'e');
    Plan::some(attr_term(f, b), name_ok(name))
}

fn time_field(target: &Target, f: &Fields) -> Option<Field> {
    match target {
        Target::Timestamp => Some(f.timestamp),
        Target::IngestTimestamp => Some(f.ingest_timestamp),
        _ => None,
    }
}

fn i64_range(field: Field, lo: Bound<i64>, hi: Bound<i64>) -> RangeQuery {
    let t = |v: i64| Term::from_field_i64(field, v);
    RangeQuery::new(map_bound(lo, t), map_bound(hi, t))
}

fn map_bound<T, U>(b: Bound<T>, f: impl Fn(T) -> U) -> Bound<U> {
    match b {
        Bound::Included(v) => Bound::Included(f(v)),
        Bound::Excluded(v) => Bound::Excluded(f(v)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether an f64 view answers a comparison with this number exactly: integers compare exactly
/// as i64s in the evaluator, which f64 keys preserve below 2^53.
fn number_exact(n: Number) -> bool {
    match n {
        Number::Int(i) => i.unsigned_abs() < (1u64 << 53),
        Number::Float(_) => true,
    }
}

fn view_term(f: &Fields, name: &str, tag: u8, payload: &[u8]) -> TermQuery {
    let mut b = Vec::new();
    view_prefix(&mut b, name, tag);
    b.extend_from_slice(payload);
    attr_term(f, b)
}

/// The terms of view `tag` of `name` whose payload is in the range (`op` against `key`).
fn view_range(f: &Fields, name: &str, tag: u8, op: CmpOp, key: &[u8]) -> RangeQuery {
    let mut prefix = Vec::new();
    view_prefix(&mut prefix, name, tag);
    let with = |k: &[u8]| {
        let mut t = prefix.clone();
        t.extend_from_slice(k);
        Term::from_field_bytes(f.attr, &t)
    };
    let start = Bound::Included(with(&[]));
    // Every payload of this view sorts below the prefix followed by the next tag byte.
    let mut after = prefix.clone();
    if let Some(last) = after.last_mut() {
        *last += 1;
    }
    let end = Bound::Excluded(Term::from_field_bytes(f.attr, &after));
    let (lo, hi) = match op {
        CmpOp::Lt => (start, Bound::Excluded(with(key))),
        CmpOp::Le => (start, Bound::Included(with(key))),
        CmpOp::Gt => (Bound::Excluded(with(key)), end),
        CmpOp::Ge => (Bound::Included(with(key)), end),
    };
    RangeQuery::new(lo, hi)
}

/// `field:value` (the evaluator's `equals`): strings fold-equal (`s`), numbers (`n`, also
/// strings holding one), timestamp values (`T`), level names in level fields (`l`); bools match
/// `true`/`false` through `s`.
fn equals(f: &Fields, name: &str, level: bool, lit: &Literal) -> Plan {
    let mut exact = name_ok(name);
    let mut parts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let (kw, cut) = keyword(&lit.folded);
    exact &= !cut && lit.folded.len() <= MAX_KEYWORD_BYTES;
    parts.push((
        Occur::Should,
        Box::new(view_term(f, name, b's', kw.as_bytes())),
    ));
    if let Some(n) = lit.number {
        if let Some(k) = f64_key(n.as_f64()) {
            exact &= number_exact(n);
            parts.push((Occur::Should, Box::new(view_term(f, name, b'n', &k))));
        }
    }
    if let Some(t) = lit.time {
        parts.push((
            Occur::Should,
            Box::new(view_term(f, name, b'T', &i64_key(t))),
        ));
    }
    if level {
        if let Some(l) = lit.level {
            parts.push((
                Occur::Should,
                Box::new(view_term(f, name, b'l', &[l as u8])),
            ));
        }
    }
    if parts.len() == 1 {
        let q = parts
            .pop()
            .map(|(_, q)| q)
            .unwrap_or_else(|| Box::new(EmptyQuery));
        return Plan {
            q: Q::Some(q),
            exact,
        };
    }
    Plan::some(BooleanQuery::new(parts), exact)
}

/// `field:>x` (the evaluator's `compare`): timestamps by time, numbers numerically (strings
/// holding numbers too), strings holding RFC 3339 times by time when the bound is a time and
/// not a number, level names in level order; any other string byte-wise, which the index
/// cannot order (verified).
fn compare(target: &Target, op: CmpOp, lit: &Literal, f: &Fields) -> Plan {
    if let Some(field) = time_field(target, f) {
        let Some(t) = lit.time else {
            return Plan::exact(Q::None);
        };
        let (lo, hi) = match op {
            CmpOp::Lt => (Bound::Unbounded, Bound::Excluded(t)),
            CmpOp::Le => (Bound::Unbounded, Bound::Included(t)),
            CmpOp::Gt => (Bound::Excluded(t), Bound::Unbounded),
            CmpOp::Ge => (Bound::Included(t), Bound::Unbounded),
        };
        return Plan::some(i64_range(field, lo, hi), true);
    }
    let Target::Field { name, level } = target else {
        return Plan::all_inexact();
    };
    let level_bound = if *level { lit.level } else { None };
    if lit.number.is_none() && lit.time.is_none() && level_bound.is_none() {
        let mut p = exists(f, name);
        p.exact = false;
        return p;
    }
    let mut exact = name_ok(name);
    let mut parts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if let Some(n) = lit.number {
        match f64_key(n.as_f64()) {
            Some(k) => {
                exact &= number_exact(n);
                parts.push((Occur::Should, Box::new(view_range(f, name, b'n', op, &k))));
            }
            None => exact = false,
        }
    }
    if let Some(t) = lit.time {
        let k = i64_key(t);
        parts.push((Occur::Should, Box::new(view_range(f, name, b'T', op, &k))));
        parts.push((Occur::Should, Box::new(view_range(f, name, b'U', op, &k))));
    }
    if let Some(l) = level_bound {
        parts.push((
            Occur::Should,
            Box::new(view_range(f, name, b'l', op, &[l as u8])),
        ));
    }
    if exact {
        Plan::some(BooleanQuery::new(parts), true)
    } else {
        let mut p = exists(f, name);
        p.exact = false;
        p
    }
}

/// Terms and phrases of exact tokens are exact (the tokenizer is the evaluator's); wildcards
/// narrow by their exact tokens and, for ASCII `*` globs, a regex over the folded terms.
fn message(m: &MessageMatch, f: &Fields) -> Plan {
    let MessageMatch::Tokens { tokens, .. } = m else {
        return Plan::all_inexact();
    };
    let term = |t: &str| Term::from_field_text(f.message, t);
    let all_exact = tokens
        .iter()
        .all(|t| matches!(t, TokenPat::Exact(s) if s.len() <= MAX_TOKEN_BYTES && !s.is_empty()));
    if all_exact {
        let terms: Vec<Term> = tokens
            .iter()
            .filter_map(|t| match t {
                TokenPat::Exact(s) => Some(term(s)),
                _ => None,
            })
            .collect();
        return match terms.len() {
            0 => Plan::exact(Q::All),
            1 => Plan::some(
                TermQuery::new(terms[0].clone(), IndexRecordOption::Basic),
                true,
            ),
            _ => Plan::some(PhraseQuery::new(terms), true),
        };
    }
    let mut musts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for t in tokens {
        match t {
            TokenPat::Exact(s) if s.len() <= MAX_TOKEN_BYTES && !s.is_empty() => musts.push((
                Occur::Must,
                Box::new(TermQuery::new(term(s), IndexRecordOption::Basic)),
            )),
            TokenPat::Glob(p) => {
                if let Some(q) = glob_regex(&p.source, f.message) {
                    musts.push((Occur::Must, Box::new(q)));
                }
            }
            _ => {}
        }
    }
    match musts.len() {
        0 => Plan::all_inexact(),
        _ => Plan::some(BooleanQuery::new(musts), false),
    }
}

/// A regex over the folded terms that every token the glob matches (case-insensitively) folds
/// into. Only for ASCII globs without `?` and escapes: `?` is one character, and folding can
/// turn one character into two.
fn glob_regex(glob: &str, field: Field) -> Option<RegexQuery> {
    if !glob.is_ascii() || glob.contains(['?', '\\']) {
        return None;
    }
    let mut re = String::from("(?i)");
    for c in glob.chars() {
        if c == '*' {
            re.push_str(".*");
        } else {
            let mut buf = [0u8; 4];
            re.push_str(&regex_escape(c.encode_utf8(&mut buf)));
        }
    }
    RegexQuery::from_pattern(&re, field).ok()
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(q: &str) -> bool {
        plan(sluice_query::parse(q).unwrap().root(), Fields::shared()).exact
    }

    #[test]
    fn what_the_index_answers_alone() {
        for q in [
            "error",
            "\"connection refused\"",
            "a AND NOT b",
            "(a OR b) AND -c",
            "level:ERROR",
            "level:>=WARN",
            "service:api",
            "status:>=500",
            "status:[200 TO 299]",
            "latency:>1.5",
            "_exists_:trace_id",
            "NOT _exists_:trace_id",
            "timestamp:>=2024-01-01",
            "when:>=2024-01-01T00:00:00Z",
            "ok:true",
            "*",
        ] {
            assert!(exact(q), "{q} should be exact");
        }
        for q in [
            "conn*",
            "/re.*/",
            "service:web-*",
            "host:>m",
            "\"->\"",
            "NOT conn*",
            "status:9007199254740993",
        ] {
            assert!(!exact(q), "{q} should be verified");
        }
    }
}

#[cfg(test)]
mod required_tests {
    use super::required_fields;

    fn req(q: &str) -> Vec<String> {
        required_fields(sluice_query::parse(q).unwrap().root())
    }

    #[test]
    fn required_fields_follow_and_or_not() {
        assert_eq!(req("a:1 AND b:>2 AND error"), ["a", "b"]);
        assert_eq!(req("(a:1 AND b:2) OR (a:3 AND c:4)"), ["a"]);
        assert!(req("NOT a:1").is_empty());
        assert!(req("a:1 OR error").is_empty());
        assert_eq!(req("_exists_:x"), ["x"]);
    }
}

#[cfg(test)]
mod prune_tests {
    use super::prunes;
    use crate::segment::{FieldStats, SegmentMeta};

    fn meta() -> SegmentMeta {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert(
            "latency".to_owned(),
            FieldStats {
                count: 10,
                types: [("float".to_owned(), 9), ("null".to_owned(), 1)].into(),
                min: Some(1.0),
                max: Some(9.5),
            },
        );
        fields.insert(
            "code".to_owned(),
            FieldStats {
                count: 10,
                types: [("int".to_owned(), 5), ("string".to_owned(), 5)].into(),
                min: Some(100.0),
                max: Some(200.0),
            },
        );
        SegmentMeta {
            id: 1,
            rows: 10,
            min_timestamp: 0,
            max_timestamp: 0,
            min_ingest_timestamp: 0,
            max_ingest_timestamp: 0,
            min_seq: 0,
            max_seq: 0,
            wal_last: 0,
            bytes: 0,
            raw_bytes: 0,
            fields,
        }
    }

    fn p(q: &str) -> bool {
        prunes(sluice_query::parse(q).unwrap().root(), &meta())
    }

    #[test]
    fn segments_are_pruned_by_field_stats() {
        assert!(p("missing:1"));
        assert!(p("error AND _exists_:missing"));
        assert!(!p("error OR _exists_:missing"));
        assert!(p("latency:>9.5"));
        assert!(!p("latency:>=9.5"));
        assert!(p("latency:<1"));
        assert!(p("latency:20"));
        assert!(!p("latency:5"));
        assert!(p("latency:[10 TO 20]"));
        assert!(!p("latency:[9 TO 20]"));
        assert!(p("x AND latency:{9.5 TO *]"));
        // Strings may hold numbers: never pruned by min/max.
        assert!(!p("code:>500"));
        assert!(!p("NOT latency:>100"));
    }
}
