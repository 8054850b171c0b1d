//! The columnar batch that crosses the Wasm boundary (`types.batch` in
//! `wit/sluice.wit`): columns of primitive values over one byte arena that
//! holds every message, field name and string value.
//!
//! Every column is a list of a primitive type, which wasmtime and
//! wit-bindgen copy as one block, so crossing the boundary costs one copy per
//! column instead of one guest allocation per string; `bench/RESULTS.md` has
//! the measurements that chose this. Host and guest bindings have their own
//! generated copies of the record; both move their columns into and out of
//! [`PackedBatch`], so the encoding lives here once.
//!
//! [`Row`] reads an event in place, without allocating, and
//! [`PackedBatch::push_row`] copies one into another batch, so a stage that
//! passes events through never materializes them.

use crate::{Event, Fields, Value};

pub const KIND_NULL: u8 = 0;
pub const KIND_BOOL: u8 = 1;
pub const KIND_INT: u8 = 2;
pub const KIND_FLOAT: u8 = 3;
pub const KIND_STRING: u8 = 4;
pub const KIND_TIMESTAMP: u8 = 5;

/// Why a packed batch could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackedError {
    #[error("batch too large: its text exceeds 4 GiB")]
    TooLarge,
    #[error("malformed batch: {0}")]
    Malformed(String),
}

/// Event `i` is `timestamps[i]`, `ingest_timestamps[i]`, the message span
/// `i`, and the next `field_counts[i]` entries of the `field_*` columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackedBatch {
    pub arena: Vec<u8>,
    pub timestamps: Vec<i64>,
    pub ingest_timestamps: Vec<i64>,
    pub message_offsets: Vec<u32>,
    pub message_lens: Vec<u32>,
    pub field_counts: Vec<u32>,
    pub field_name_offsets: Vec<u32>,
    pub field_name_lens: Vec<u32>,
    pub field_kinds: Vec<u8>,
    pub field_numbers: Vec<i64>,
    pub field_text_offsets: Vec<u32>,
    pub field_text_lens: Vec<u32>,
}

/// A field value read in place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Timestamp(i64),
}

impl ValueRef<'_> {
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Str(s) => Value::String(s.to_owned()),
            ValueRef::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::String(s) => ValueRef::Str(s),
            Value::Timestamp(t) => ValueRef::Timestamp(*t),
        }
    }
}

/// The fields every failed event carries: `parse_error`, `error.message`
/// and `error.stage`. The one definition, used for owned events
/// ([`Event::record_error`]) and for rows ([`PackedBatch::push_row_with`]).
pub fn error_fields<'a>(stage: &'a str, reason: &'a str) -> [(&'static str, ValueRef<'a>); 3] {
    [
        (crate::names::PARSE_ERROR, ValueRef::Bool(true)),
        (crate::names::ERROR_MESSAGE, ValueRef::Str(reason)),
        (crate::names::ERROR_STAGE, ValueRef::Str(stage)),
    ]
}

/// One event of a checked batch, read in place.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    batch: &'a PackedBatch,
    text: &'a str,
    index: usize,
    first_field: usize,
}

impl<'a> Row<'a> {
    pub fn timestamp(&self) -> i64 {
        self.batch.timestamps[self.index]
    }
    pub fn ingest_timestamp(&self) -> i64 {
        self.batch.ingest_timestamps[self.index]
    }
    fn span(&self, offset: u32, len: u32) -> &'a str {
        // `check` proved every span is in bounds and on char boundaries.
        &self.text[offset as usize..offset as usize + len as usize]
    }
    pub fn message(&self) -> &'a str {
        let b = self.batch;
        self.span(b.message_offsets[self.index], b.message_lens[self.index])
    }
    pub fn field_count(&self) -> usize {
        self.batch.field_counts[self.index] as usize
    }
    /// The fields in order, as (name, value).
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, ValueRef<'a>)> + 'a {
        let row = *self;
        (row.first_field..row.first_field + row.field_count()).map(move |j| row.field_at(j))
    }
    pub fn field(&self, name: &str) -> Option<ValueRef<'a>> {
        self.fields().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    fn field_at(&self, j: usize) -> (&'a str, ValueRef<'a>) {
        let b = self.batch;
        let name = self.span(b.field_name_offsets[j], b.field_name_lens[j]);
        let number = b.field_numbers[j];
        let value = match b.field_kinds[j] {
            KIND_BOOL => ValueRef::Bool(number != 0),
            KIND_INT => ValueRef::Int(number),
            KIND_FLOAT => ValueRef::Float(f64::from_bits(number as u64)),
            KIND_STRING => ValueRef::Str(self.span(b.field_text_offsets[j], b.field_text_lens[j])),
            KIND_TIMESTAMP => ValueRef::Timestamp(number),
            _ => ValueRef::Null,
        };
        (name, value)
    }
    /// An owned copy.
    pub fn to_event(&self) -> Event {
        let mut fields = Fields::with_capacity(self.field_count());
        for (name, value) in self.fields() {
            // A peer may repeat a name; the last one wins, as in a map.
            fields.insert(name, value.to_value());
        }
        Event {
            timestamp: self.timestamp(),
            ingest_timestamp: self.ingest_timestamp(),
            message: self.message().to_owned(),
            fields,
        }
    }
}

/// A batch whose layout and text were checked, ready to read in place.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    batch: &'a PackedBatch,
    text: &'a str,
}

impl<'a> Checked<'a> {
    pub fn len(&self) -> usize {
        self.batch.len()
    }
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
    pub fn rows(&self) -> impl Iterator<Item = Row<'a>> + 'a {
        let (batch, text) = (self.batch, self.text);
        let mut first_field = 0;
        (0..batch.len()).map(move |index| {
            let row = Row {
                batch,
                text,
                index,
                first_field,
            };
            first_field += batch.field_counts[index] as usize;
            row
        })
    }
    pub fn to_events(&self) -> Vec<Event> {
        self.rows().map(|r| r.to_event()).collect()
    }
}

impl PackedBatch {
    /// An empty batch with room for `events` events of about `bytes_per_event`.
    pub fn with_capacity(events: usize, bytes_per_event: usize) -> Self {
        let fields = events * 8;
        PackedBatch {
            arena: Vec::with_capacity(events * bytes_per_event),
            timestamps: Vec::with_capacity(events),
            ingest_timestamps: Vec::with_capacity(events),
            message_offsets: Vec::with_capacity(events),
            message_lens: Vec::with_capacity(events),
            field_counts: Vec::with_capacity(events),
            field_name_offsets: Vec::with_capacity(fields),
            field_name_lens: Vec::with_capacity(fields),
            field_kinds: Vec::with_capacity(fields),
            field_numbers: Vec::with_capacity(fields),
            field_text_offsets: Vec::with_capacity(fields),
            field_text_lens: Vec::with_capacity(fields),
        }
    }

    pub fn from_events(events: &[Event]) -> Result<Self, PackedError> {
        let mut batch = PackedBatch::with_capacity(events.len(), 384);
        for event in events {
            batch.push(event)?;
        }
        Ok(batch)
    }

    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    fn text(&mut self, text: &str) -> Result<(u32, u32), PackedError> {
        let offset = u32::try_from(self.arena.len()).map_err(|_| PackedError::TooLarge)?;
        let len = u32::try_from(text.len()).map_err(|_| PackedError::TooLarge)?;
        offset.checked_add(len).ok_or(PackedError::TooLarge)?;
        self.arena.extend_from_slice(text.as_bytes());
        Ok((offset, len))
    }

    /// Appends one event.
    pub fn push(&mut self, event: &Event) -> Result<(), PackedError> {
        self.push_parts(
            event.timestamp,
            event.ingest_timestamp,
            &event.message,
            event.fields.iter().map(|(k, v)| (k, ValueRef::from(v))),
        )
    }

    /// Appends a row of another batch.
    pub fn push_row(&mut self, row: &Row<'_>) -> Result<(), PackedError> {
        self.push_parts(
            row.timestamp(),
            row.ingest_timestamp(),
            row.message(),
            row.fields(),
        )
    }

    /// Appends a row of another batch with `extra` fields set, replacing
    /// fields of the same names.
    pub fn push_row_with(
        &mut self,
        row: &Row<'_>,
        extra: &[(&str, ValueRef<'_>)],
    ) -> Result<(), PackedError> {
        let kept = row
            .fields()
            .filter(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        self.push_parts(
            row.timestamp(),
            row.ingest_timestamp(),
            row.message(),
            kept.chain(extra.iter().copied()),
        )
    }

    /// Appends one event given by its parts.
    pub fn push_parts<'v>(
        &mut self,
        timestamp: i64,
        ingest_timestamp: i64,
        message: &str,
        fields: impl Iterator<Item = (&'v str, ValueRef<'v>)>,
    ) -> Result<(), PackedError> {
        let (message_offset, message_len) = self.text(message)?;
        let before = self.field_kinds.len();
        for (name, value) in fields {
            let (name_offset, name_len) = self.text(name)?;
            let (kind, number, (text_offset, text_len)) = match value {
                ValueRef::Null => (KIND_NULL, 0, (0, 0)),
                ValueRef::Bool(b) => (KIND_BOOL, b as i64, (0, 0)),
                ValueRef::Int(i) => (KIND_INT, i, (0, 0)),
                ValueRef::Float(f) => (KIND_FLOAT, f.to_bits() as i64, (0, 0)),
                ValueRef::Str(s) => (KIND_STRING, 0, self.text(s)?),
                ValueRef::Timestamp(t) => (KIND_TIMESTAMP, t, (0, 0)),
            };
            self.field_name_offsets.push(name_offset);
            self.field_name_lens.push(name_len);
            self.field_kinds.push(kind);
            self.field_numbers.push(number);
            self.field_text_offsets.push(text_offset);
            self.field_text_lens.push(text_len);
        }
        self.timestamps.push(timestamp);
        self.ingest_timestamps.push(ingest_timestamp);
        self.message_offsets.push(message_offset);
        self.message_lens.push(message_len);
        self.field_counts
            .push((self.field_kinds.len() - before) as u32);
        Ok(())
    }

    /// Checks the layout (column lengths agree, spans are inside the arena
    /// and on character boundaries, kinds are known) and that the arena is
    /// UTF-8, so rows can be read without further checks. A batch from a
    /// peer is never trusted without this.
    pub fn check(&self) -> Result<Checked<'_>, PackedError> {
        let malformed = |m: String| Err(PackedError::Malformed(m));
        let n = self.timestamps.len();
        if [
            self.ingest_timestamps.len(),
            self.message_offsets.len(),
            self.message_lens.len(),
            self.field_counts.len(),
        ]
        .iter()
        .any(|&len| len != n)
        {
            return malformed(format!(
                "event columns disagree on the number of events ({n} timestamps)"
            ));
        }
        let fields = self.field_kinds.len();
        if [
            self.field_name_offsets.len(),
            self.field_name_lens.len(),
            self.field_numbers.len(),
            self.field_text_offsets.len(),
            self.field_text_lens.len(),
        ]
        .iter()
        .any(|&len| len != fields)
        {
            return malformed(format!(
                "field columns disagree on the number of fields ({fields} kinds)"
            ));
        }
        let total: u64 = self.field_counts.iter().map(|&c| c as u64).sum();
        if total != fields as u64 {
            return malformed(format!(
                "field counts add up to {total} but there are {fields} fields"
            ));
        }
        let text = match std::str::from_utf8(&self.arena) {
            Ok(text) => text,
            Err(e) => return malformed(format!("arena is not UTF-8: {e}")),
        };
        let span_ok = |offset: u32, len: u32| {
            let start = offset as usize;
            start
                .checked_add(len as usize)
                .is_some_and(|end| text.get(start..end).is_some())
        };
        for i in 0..n {
            if !span_ok(self.message_offsets[i], self.message_lens[i]) {
                return malformed(format!("message of event {i} is outside the arena"));
            }
        }
        for j in 0..fields {
            if !span_ok(self.field_name_offsets[j], self.field_name_lens[j]) {
                return malformed(format!("name of field {j} is outside the arena"));
            }
            match self.field_kinds[j] {
                KIND_STRING if !span_ok(self.field_text_offsets[j], self.field_text_lens[j]) => {
                    return malformed(format!("text of field {j} is outside the arena"));
                }
                KIND_NULL..=KIND_TIMESTAMP => {}
                other => return malformed(format!("field {j} has unknown kind {other}")),
            }
        }
        Ok(Checked { batch: self, text })
    }

    /// Checks and reads every event into an owned [`Event`].
    pub fn decode(&self) -> Result<Vec<Event>, PackedError> {
        Ok(self.check()?.to_events())
    }
    /// Appends the batch's columns to `out` in a flat binary form (for disk
    /// buffers): a version byte, then each column as its length (u32 LE)
    /// and its elements (little-endian). [`PackedBatch::from_bytes`] reads
    /// it back.
    pub fn to_bytes(&self, out: &mut Vec<u8>) {
        out.push(BYTES_VERSION);
        let mut column = |len: usize, bytes: &mut dyn Iterator<Item = u8>| {
            out.extend_from_slice(&(len as u32).to_le_bytes());
            out.extend(bytes);
        };
        column(self.arena.len(), &mut self.arena.iter().copied());
        for c in [
            &self.timestamps,
            &self.ingest_timestamps,
            &self.field_numbers,
        ] {
            column(c.len(), &mut c.iter().flat_map(|v| v.to_le_bytes()));
        }
        for c in [
            &self.message_offsets,
            &self.message_lens,
            &self.field_counts,
            &self.field_name_offsets,
            &self.field_name_lens,
            &self.field_text_offsets,
            &self.field_text_lens,
        ] {
            column(c.len(), &mut c.iter().flat_map(|v| v.to_le_bytes()));
        }
        column(
            self.field_kinds.len(),
            &mut self.field_kinds.iter().copied(),
        );
    }

    /// Reads what [`PackedBatch::to_bytes`] wrote. The columns' contents
    /// are not checked here: call [`PackedBatch::check`] before trusting
    /// them.
    pub fn from_bytes(bytes: &[u8]) -> Result<PackedBatch, PackedError> {
        let bad = |what: &str| PackedError::Malformed(format!("serialized batch: {what}"));
        let (&version, mut rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        if version != BYTES_VERSION {
            return Err(bad(&format!("unknown version {version}")));
        }
        let mut column = |width: usize| -> Result<&[u8], PackedError> {
            let (len, tail) = rest.split_at_checked(4).ok_or_else(|| bad("truncated"))?;
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            let (data, tail) = len
                .checked_mul(width)
                .and_then(|n| tail.split_at_checked(n))
                .ok_or_else(|| bad("truncated"))?;
            rest = tail;
            Ok(data)
        };
        fn ints<const N: usize, T>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
            data.chunks_exact(N)
                .map(|c| from(c.try_into().expect("N bytes")))
                .collect()
        }
        let arena = column(1)?.to_vec();
        let timestamps = ints(column(8)?, i64::from_le_bytes);
        let ingest_timestamps = ints(column(8)?, i64::from_le_bytes);
        let field_numbers = ints(column(8)?, i64::from_le_bytes);
        let mut u32s = || column(4).map(|d| ints(d, u32::from_le_bytes));
        let batch = PackedBatch {
            arena,
            timestamps,
            ingest_timestamps,
            field_numbers,
            message_offsets: u32s()?,
            message_lens: u32s()?,
            field_counts: u32s()?,
            field_name_offsets: u32s()?,
            field_name_lens: u32s()?,
            field_text_offsets: u32s()?,
            field_text_lens: u32s()?,
            field_kinds: column(1)?.to_vec(),
        };
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(batch)
    }
}

/// The version byte of [`PackedBatch::to_bytes`].
const BYTES_VERSION: u8 = 1;

/// Defines `batch_to_wit` and `batch_from_wit` between [`PackedBatch`] and a
/// bindings crate's generated `batch` record (`$wit`), which has the same
/// columns; both directions only move the vectors.
#[macro_export]
macro_rules! packed_batch_conversions {
    ($wit:path) => {
        fn batch_to_wit(b: $crate::packed::PackedBatch) -> $wit {
            $wit {
                arena: b.arena,
                timestamps: b.timestamps,
                ingest_timestamps: b.ingest_timestamps,
                message_offsets: b.message_offsets,
                message_lens: b.message_lens,
                field_counts: b.field_counts,
                field_name_offsets: b.field_name_offsets,
                field_name_lens: b.field_name_lens,
                field_kinds: b.field_kinds,
                field_numbers: b.field_numbers,
                field_text_offsets: b.field_text_offsets,
                field_text_lens: b.field_text_lens,
            }
        }

        #[allow(dead_code)]
        fn batch_from_wit(b: $wit) -> $crate::packed::PackedBatch {
            $crate::packed::PackedBatch {
                arena: b.arena,
                timestamps: b.timestamps,
                ingest_timestamps: b.ingest_timestamps,
                message_offsets: b.message_offsets,
                message_lens: b.message_lens,
                field_counts: b.field_counts,
                field_name_offsets: b.field_name_offsets,
                field_name_lens: b.field_name_lens,
                field_kinds: b.field_kinds,
                field_numbers: b.field_numbers,
                field_text_offsets: b.field_text_offsets,
                field_text_lens: b.field_text_lens,
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Event> {
        let mut a = Event::new("héllo");
        a.fields.insert("s", "x");
        a.fields.insert("i", -3);
        a.fields.insert("f", 1.5);
        a.fields.insert("b", true);
        a.fields.insert("n", Value::Null);
        a.fields.insert("t", Value::Timestamp(42));
        let b = Event::new("");
        vec![a, b]
    }

    #[test]
    fn round_trips_every_value_kind_and_rows_read_in_place() {
        let events = sample();
        let packed = PackedBatch::from_events(&events).unwrap();
        assert_eq!(packed.len(), 2);
        assert_eq!(packed.decode().unwrap(), events);
        let checked = packed.check().unwrap();
        let row = checked.rows().next().unwrap();
        assert_eq!(row.message(), "héllo");
        assert_eq!(row.field("i"), Some(ValueRef::Int(-3)));
        assert_eq!(row.field("s"), Some(ValueRef::Str("x")));
        let mut copy = PackedBatch::default();
        for row in checked.rows() {
            copy.push_row(&row).unwrap();
        }
        assert_eq!(copy.decode().unwrap(), events);
    }

    #[test]
    fn bytes_round_trip_and_damaged_bytes_are_errors() {
        let packed = PackedBatch::from_events(&sample()).unwrap();
        let mut bytes = Vec::new();
        packed.to_bytes(&mut bytes);
        assert_eq!(PackedBatch::from_bytes(&bytes).unwrap(), packed);
        for cut in 0..bytes.len() {
            assert!(
                PackedBatch::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(PackedBatch::from_bytes(&longer).is_err());
        let mut other_version = bytes;
        other_version[0] = 9;
        assert!(PackedBatch::from_bytes(&other_version).is_err());
    }

    #[test]
    fn malformed_batches_are_errors_not_panics() {
        let broken: [fn(&mut PackedBatch); 5] = [
            |p| p.message_lens[0] = 10_000,
            |p| p.field_counts[1] = 5,
            |p| p.timestamps.truncate(1),
            |p| p.field_kinds[0] = 9,
            |p| p.message_offsets[0] = u32::MAX,
        ];
        for (i, breaker) in broken.iter().enumerate() {
            let mut packed = PackedBatch::from_events(&sample()).unwrap();
            breaker(&mut packed);
            assert!(
                matches!(packed.decode(), Err(PackedError::Malformed(_))),
                "case {i}"
            );
        }
    }

    #[test]
    fn a_span_inside_a_character_or_bad_utf8_is_refused() {
        let mut packed = PackedBatch::from_events(&[Event::new("é")]).unwrap();
        packed.message_lens[0] = 1;
        assert!(packed.decode().is_err());
        let mut packed = PackedBatch::from_events(&[Event::new("ab")]).unwrap();
        packed.arena[0] = 0xff;
        assert!(packed.decode().is_err());
    }
}
