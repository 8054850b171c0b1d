//! The tantivy schema of a segment and how an event becomes a tantivy document.
//!
//! Fixed fields:
//!
//! | field | tantivy type | for |
//! |---|---|---|
//! | `message` | text, [`crate::tokenizer`], positions | terms, phrases, wildcards |
//! | `attr` | bytes, indexed, many per doc | every other field, see below |
//! | `timestamp`, `ingest_timestamp` | i64, fast | time ranges (column scans), sorting |
//! | `seq` | u64, fast | the order key's tie-break and cursors |
//! | `level` | u64, fast: the [`Level`] number (0 TRACE .. 5 FATAL), 255 for none | aggregations |
//! | `service` | str, fast (raw) | aggregations |
//!
//! The document id is the row number in the segment's Arrow file (one tantivy segment, written
//! in row order).
//!
//! **`attr` terms** are per-field *views* of a value, each `name \0 tag payload`, so one field
//! serves every event field, whatever its type (the "dynamic" part of the schema), and a field
//! whose type changes between events still has every value indexed the way it can be compared:
//!
//! | tag | payload | indexed for |
//! |---|---|---|
//! | `e` | — | the value is present and not null (`_exists_`, `field:*`) |
//! | `s` | the value folded (lower-cased as the query crate folds) | strings; bools as `true`/`false` |
//! | `n` | f64, order-preserving 8 bytes | ints, floats, and strings that hold a number |
//! | `T` | i64, order-preserving 8 bytes | timestamp values |
//! | `U` | i64, order-preserving 8 bytes | strings that hold an RFC 3339 time |
//! | `l` | the [`Level`] number, 1 byte | strings of `level`/`*.level` fields that name a level |
//!
//! plus one term `\0M` for "the message is not empty". These views mirror exactly the
//! comparisons `sluice_query` makes (see `plan.rs`), so most field clauses are answered by the
//! index alone.

use sluice_event::{Event, Level, Value};
use sluice_query::text::{fold, parse_rfc3339, Number};
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::TantivyDocument;

/// Longest `s` payload indexed whole; longer values are indexed by this prefix (cut at a char
/// boundary) and a query on them is verified on the rows.
pub const MAX_KEYWORD_BYTES: usize = 16 * 1024;
/// The `level` fast field's value for "no level".
pub const NO_LEVEL: u64 = 255;

#[derive(Clone, Debug)]
pub struct Fields {
    pub schema: Schema,
    pub message: Field,
    pub attr: Field,
    pub timestamp: Field,
    pub ingest_timestamp: Field,
    pub seq: Field,
    pub level: Field,
    pub service: Field,
}

impl Fields {
    pub fn new() -> Fields {
        let mut b = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(crate::tokenizer::NAME)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let message = b.add_text_field("message", text);
        let attr = b.add_bytes_field("attr", BytesOptions::default().set_indexed());
        // Fast only: range queries on a fast field scan the column (an inverted index of
        // nearly unique times would double the index size).
        let time = NumericOptions::default().set_fast();
        let timestamp = b.add_i64_field("timestamp", time.clone());
        let ingest_timestamp = b.add_i64_field("ingest_timestamp", time);
        let seq = b.add_u64_field("seq", NumericOptions::default().set_fast());
        let level = b.add_u64_field("level", NumericOptions::default().set_fast());
        // Fast only (the `attr` views index it for queries).
        let service = b.add_text_field("service", TextOptions::default().set_fast("raw"));
        Fields {
            schema: b.build(),
            message,
            attr,
            timestamp,
            ingest_timestamp,
            seq,
            level,
            service,
        }
    }

    /// The one instance (field ids are the same in every segment).
    pub fn shared() -> &'static Fields {
        static FIELDS: std::sync::OnceLock<Fields> = std::sync::OnceLock::new();
        FIELDS.get_or_init(Fields::new)
    }

    /// The document of one event.
    pub fn document(&self, e: &Event, seq: u64, buf: &mut Vec<u8>) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_text(self.message, &e.message);
        doc.add_i64(self.timestamp, e.timestamp);
        doc.add_i64(self.ingest_timestamp, e.ingest_timestamp);
        doc.add_u64(self.seq, seq);
        doc.add_u64(self.level, level_number(e));
        if let Some(Value::String(s)) = e.fields.get(sluice_event::names::SERVICE) {
            doc.add_text(self.service, s);
        }
        if !e.message.is_empty() {
            doc.add_bytes(self.attr, b"\0M");
        }
        for (name, value) in e.fields.iter() {
            for_each_view(name, value, buf, |term| doc.add_bytes(self.attr, term));
        }
        doc
    }
}

impl Default for Fields {
    fn default() -> Self {
        Fields::new()
    }
}

/// The ordered number of an event's `level` (255: none or not a level).
pub fn level_number(e: &Event) -> u64 {
    match e.fields.get(sluice_event::names::LEVEL) {
        Some(Value::String(s)) => Level::parse(s).map_or(NO_LEVEL, |l| l as u64),
        _ => NO_LEVEL,
    }
}

/// Whether a field name gets the level view (the query crate's rule).
pub fn is_level_name(name: &str) -> bool {
    name == "level" || name.ends_with(".level")
}

/// `f64` to 8 bytes that sort as the numbers do (-0.0 as 0.0). `None` for NaN.
pub fn f64_key(f: f64) -> Option<[u8; 8]> {
    if f.is_nan() {
        return None;
    }
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let key = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    Some(key.to_be_bytes())
}

/// `i64` to 8 bytes that sort as the numbers do.
pub fn i64_key(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// `name \0 tag`: the prefix of a view's terms.
pub fn view_prefix(buf: &mut Vec<u8>, name: &str, tag: u8) {
    buf.clear();
    buf.extend_from_slice(name.as_bytes());
    buf.push(0);
    buf.push(tag);
}

/// The keyword payload of a string: folded, cut to [`MAX_KEYWORD_BYTES`] at a char boundary.
/// Returns whether it was cut.
pub fn keyword(s: &str) -> (String, bool) {
    let mut f = fold(s);
    if f.len() <= MAX_KEYWORD_BYTES {
        return (f, false);
    }
    let mut cut = MAX_KEYWORD_BYTES;
    while !f.is_char_boundary(cut) {
        cut -= 1;
    }
    f.truncate(cut);
    (f, true)
}

/// Calls `add` with every `attr` term of one field value.
pub fn for_each_view(name: &str, value: &Value, buf: &mut Vec<u8>, mut add: impl FnMut(&[u8])) {
    if *value == Value::Null {
        return;
    }
    view_prefix(buf, name, b'e');
    add(buf);
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            view_prefix(buf, name, b's');
            buf.extend_from_slice(if *b { b"true" } else { b"false" });
            add(buf);
        }
        Value::Int(i) => {
            if let Some(k) = f64_key(*i as f64) {
                view_prefix(buf, name, b'n');
                buf.extend_from_slice(&k);
                add(buf);
            }
        }
        Value::Float(f) => {
            if let Some(k) = f64_key(*f) {
                view_prefix(buf, name, b'n');
                buf.extend_from_slice(&k);
                add(buf);
            }
        }
        Value::Timestamp(t) => {
            view_prefix(buf, name, b'T');
            buf.extend_from_slice(&i64_key(*t));
            add(buf);
        }
        Value::String(s) => {
            view_prefix(buf, name, b's');
            buf.extend_from_slice(keyword(s).0.as_bytes());
            add(buf);
            if let Some(k) = Number::parse(s).and_then(|n| f64_key(n.as_f64())) {
                view_prefix(buf, name, b'n');
                buf.extend_from_slice(&k);
                add(buf);
            }
            if let Some(t) = parse_rfc3339(s) {
                view_prefix(buf, name, b'U');
                buf.extend_from_slice(&i64_key(t));
                add(buf);
            }
            if is_level_name(name) {
                if let Some(l) = Level::parse(s) {
                    view_prefix(buf, name, b'l');
                    buf.push(l as u8);
                    add(buf);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_numbers() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -1e-300,
            0.0,
            1e-300,
            1.0,
            2.0,
            1e300,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(f64_key(w[0]).unwrap() < f64_key(w[1]).unwrap(), "{w:?}");
        }
        assert_eq!(f64_key(-0.0), f64_key(0.0));
        assert!(f64_key(f64::NAN).is_none());
        let is = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in is.windows(2) {
            assert!(i64_key(w[0]) < i64_key(w[1]));
        }
    }
}
