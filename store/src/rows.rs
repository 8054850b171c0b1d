//! A segment's rows as an Arrow IPC file (`rows.arrow`), LZ4_FRAME-compressed, in record
//! batches of [`BATCH_ROWS`] rows. Format version 2 (schema metadata
//! `sluice.rows.version = "2"`, `sluice.rows.batch_rows = "512"`; files written with 1024 are
//! read in slices):
//!
//! | column | type | |
//! |---|---|---|
//! | `level` | Dictionary(Int32, Utf8) | the normalized level name, else the raw string, else null |
//! | `service`, `host` | Dictionary(Int32, Utf8) | string values, else null |
//! | `message` | Utf8 | |
//! | `fields` | Utf8 | every field as JSON text ([`crate::codec::fields_to_json`]; empty for none) |
//!
//! `fields` holds all fields (the dictionary columns are derived copies for columnar work), so
//! an event reads back exactly. Dictionaries are one per file, shared by every batch.
//!
//! `seq`, `timestamp` and `ingest_timestamp` are not in the file: the segment's tantivy fast
//! fields hold them (row = document id), bit-packed far smaller than LZ4 makes 8-byte
//! integers, and [`Rows`] takes them from there ([`TimeColumns`]). Version 1 files (no
//! version in the metadata) had them as the first three columns (UInt64, Timestamp(ns, UTC)
//! twice) and record batches of 4096 rows; they are still read, from the file, in slices.

use crate::codec::{fields_from_json, fields_to_json};
use crate::error::{Error, Result};
use arrow_array::builder::StringBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow_buffer::Buffer;
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::reader::{read_footer_length, FileDecoder};
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_ipc::{root_as_footer, Block};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use sluice_event::{Event, Level, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tantivy::columnar::{Cardinality, Column, ColumnType};

/// Rows per (logical) batch: the unit of random access. Reading one hit decodes its batch
/// (LZ4, UTF-8 checks, fresh buffers), so this is small: 512 rows of loghub lines are about
/// 70 KB of messages (Lucene's stored-fields blocks are about 60 KB), half the decoding per hit
/// of 1024 rows for a little more size; 256 rows halved it again but cost 6% more bytes on
/// disk (per-batch headers and LZ4's lost context; `bench/RESULTS.md`). Files written with a
/// larger multiple of it (version 1: 4096) are read in slices.
pub const BATCH_ROWS: usize = 512;
/// Rows per record batch in version 1 files.
const V1_BATCH_ROWS: usize = 4096;
const BATCH_ROWS_KEY: &str = "sluice.rows.batch_rows";

/// The rows format this build writes (schema metadata `sluice.rows.version`).
pub const VERSION: u32 = 2;
const VERSION_KEY: &str = "sluice.rows.version";

pub fn schema() -> SchemaRef {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(
        Schema::new(vec![
            Field::new("level", dict.clone(), true),
            Field::new("service", dict.clone(), true),
            Field::new("host", dict, true),
            Field::new("message", DataType::Utf8, false),
            Field::new("fields", DataType::Utf8, false),
        ])
        .with_metadata(HashMap::from([
            (VERSION_KEY.into(), VERSION.to_string()),
            (BATCH_ROWS_KEY.into(), BATCH_ROWS.to_string()),
        ])),
    )
}

/// The per-row integers a version 2 file leaves to the segment's tantivy fast fields
/// (indexed by row = document id). The times are the u64 columns tantivy stores for its i64
/// fields ([`raw_i64`]; [`from_raw`] gives the time back), whose readers decode a range of
/// rows in one call where the i64 view maps them one at a time.
#[derive(Clone)]
pub struct TimeColumns {
    pub seq: Column<u64>,
    pub timestamp: Column<u64>,
    pub ingest_timestamp: Column<u64>,
}

impl TimeColumns {
    /// Opens them from a tantivy segment's fast fields.
    pub fn open(ff: &tantivy::fastfield::FastFieldReaders) -> tantivy::Result<TimeColumns> {
        Ok(TimeColumns {
            seq: ff.u64("seq")?,
            timestamp: raw_i64(ff, "timestamp")?,
            ingest_timestamp: raw_i64(ff, "ingest_timestamp")?,
        })
    }
}

/// An i64 fast field as the u64 column tantivy stores it (see [`from_raw`]).
pub fn raw_i64(
    ff: &tantivy::fastfield::FastFieldReaders,
    name: &str,
) -> tantivy::Result<Column<u64>> {
    match ff.u64_lenient_for_type(Some(&[ColumnType::I64]), name)? {
        Some((col, _)) => Ok(col),
        None => Err(tantivy::TantivyError::FieldNotFound(name.to_owned())),
    }
}

/// tantivy's order-preserving i64 → u64 mapping, undone.
#[inline]
pub fn from_raw(u: u64) -> i64 {
    (u ^ (1 << 63)) as i64
}

/// The values of rows `first..first + n` of a column every row has a value in (`None` if
/// one has none).
fn values_of(col: &Column<u64>, first: u32, n: usize) -> Option<Vec<u64>> {
    let mut out = vec![0u64; n];
    if col.get_cardinality() == Cardinality::Full {
        col.values.get_range(u64::from(first), &mut out);
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            *o = col.first(first + i as u32)?;
        }
    }
    Some(out)
}

fn level_text(e: &Event) -> Option<String> {
    match e.fields.get(sluice_event::names::LEVEL) {
        Some(Value::String(s)) => {
            Some(Level::parse(s).map_or_else(|| s.clone(), |l| l.as_str().into()))
        }
        _ => None,
    }
}

fn string_field(e: &Event, name: &str) -> Option<String> {
    e.fields
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// One dictionary column: the keys of every row and the values, shared by every batch.
struct Dict {
    keys: Vec<Option<i32>>,
    values: ArrayRef,
}

fn dictionary(rows: impl Iterator<Item = Option<String>>) -> Dict {
    let mut index: HashMap<String, i32> = HashMap::new();
    let mut values = StringBuilder::new();
    let keys = rows
        .map(|v| {
            v.map(|s| {
                let next = index.len() as i32;
                *index.entry(s).or_insert_with_key(|k| {
                    values.append_value(k);
                    next
                })
            })
        })
        .collect();
    Dict {
        keys,
        values: Arc::new(values.finish()),
    }
}

/// Writes `events` to `path` and fsyncs it (their sequence numbers and times go to the
/// tantivy index, see [`TimeColumns`]). Returns the file's size.
pub fn write(path: &Path, events: &[&Event]) -> Result<u64> {
    let schema = schema();
    let file = File::create(path).map_err(|e| Error::io(path, "create rows file", e))?;
    let options = IpcWriteOptions::default()
        .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
        .map_err(|e| Error::arrow(path, e))?;
    let mut writer = FileWriter::try_new_with_options(BufWriter::new(file), &schema, options)
        .map_err(|e| Error::arrow(path, e))?;
    let level = dictionary(events.iter().map(|e| level_text(e)));
    let service = dictionary(events.iter().map(|e| string_field(e, "service")));
    let host = dictionary(events.iter().map(|e| string_field(e, "host")));
    let mut json = String::new();
    for start in (0..events.len()).step_by(BATCH_ROWS) {
        let end = (start + BATCH_ROWS).min(events.len());
        let chunk = &events[start..end];
        let dict = |d: &Dict| -> Result<ArrayRef> {
            let keys = Int32Array::from(d.keys[start..end].to_vec());
            let a = DictionaryArray::<Int32Type>::try_new(keys, d.values.clone())
                .map_err(|e| Error::arrow(path, e))?;
            Ok(Arc::new(a))
        };
        let mut message = StringBuilder::with_capacity(chunk.len(), 0);
        let mut fields = StringBuilder::with_capacity(chunk.len(), 0);
        for e in chunk {
            message.append_value(&e.message);
            json.clear();
            fields_to_json(&e.fields, &mut json);
            fields.append_value(&json);
        }
        let columns: Vec<ArrayRef> = vec![
            dict(&level)?,
            dict(&service)?,
            dict(&host)?,
            Arc::new(message.finish()),
            Arc::new(fields.finish()),
        ];
        let batch =
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::arrow(path, e))?;
        writer.write(&batch).map_err(|e| Error::arrow(path, e))?;
    }
    writer.finish().map_err(|e| Error::arrow(path, e))?;
    let file = writer
        .into_inner()
        .map_err(|e| Error::arrow(path, e))?
        .into_inner()
        .map_err(|e| Error::io(path, "write rows file", e.into_error()))?;
    file.sync_all()
        .map_err(|e| Error::io(path, "sync rows file", e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat rows file", e))?
        .len();
    Ok(len)
}

/// Random access to a rows file: the file is memory-mapped and record batches are decoded
/// on demand, by any number of threads at once, and the last few kept.
pub struct Rows {
    path: PathBuf,
    /// Where `seq` and the times come from: the file (version 1) or the index (2).
    times: Option<TimeColumns>,
    /// Rows per record batch in the file (a multiple of [`BATCH_ROWS`]).
    file_batch_rows: usize,
    /// The whole file, mapped.
    data: Buffer,
    /// The record batches' blocks, from the footer.
    blocks: Vec<Block>,
    /// Every column (the dictionaries read).
    decoder: FileDecoder,
    /// The dictionary columns alone, for aggregations that group by them.
    dict_decoder: FileDecoder,
    cache: Mutex<Vec<(usize, Arc<Columns>)>>,
    /// The last batch `dicts` decoded.
    last_dicts: Mutex<Option<(usize, Arc<Dicts>)>>,
    /// In files of larger record batches: the last one each decoder decoded.
    sliced: Mutex<[Option<(usize, RecordBatch)>; 2]>,
}

/// The bytes of `block` (message and body) in `data`.
fn slice(data: &Buffer, block: &Block) -> Option<Buffer> {
    let start = usize::try_from(block.offset()).ok()?;
    let len =
        usize::try_from(block.metaDataLength()).ok()? + usize::try_from(block.bodyLength()).ok()?;
    (start.checked_add(len)? <= data.len()).then(|| data.slice_with_length(start, len))
}

/// The dictionary columns (`level`, `service`, `host`) of one batch.
pub struct Dicts {
    pub batch: RecordBatch,
}

impl Dicts {
    /// A dictionary column's keys (null where the row has no value) and its values.
    pub fn keyed(&self, name: &str) -> Option<(&DictionaryArray<Int32Type>, &StringArray)> {
        let col = self.batch.column_by_name(name)?;
        let d = col.as_any().downcast_ref::<DictionaryArray<Int32Type>>()?;
        let values = d.values().as_any().downcast_ref::<StringArray>()?;
        Some((d, values))
    }

    /// A dictionary column's value in row `i`.
    pub fn dict_value(&self, name: &str, i: usize) -> Option<&str> {
        dict_value(&self.batch, name, i)
    }
}

fn dict_value<'b>(batch: &'b RecordBatch, name: &str, i: usize) -> Option<&'b str> {
    let col = batch.column_by_name(name)?;
    let d = col.as_any().downcast_ref::<DictionaryArray<Int32Type>>()?;
    if d.is_null(i) {
        return None;
    }
    let key = d.keys().value(i) as usize;
    let values = d.values().as_any().downcast_ref::<StringArray>()?;
    (key < values.len()).then(|| values.value(key))
}

/// The columns of one decoded batch.
pub struct Columns {
    pub seq: UInt64Array,
    pub timestamp: TimestampNanosecondArray,
    pub ingest_timestamp: TimestampNanosecondArray,
    pub message: StringArray,
    pub fields: StringArray,
}

/// Decoded batches kept per segment (a batch of loghub lines is about 120 KB).
const CACHED_BATCHES: usize = 8;

impl Rows {
    /// Opens a rows file; `times` are the segment's fast fields, which version 2 files need.
    pub fn open(path: &Path, times: Option<TimeColumns>) -> Result<Rows> {
        let corrupt = |what: &str| Error::corrupt(path, format!("not an Arrow IPC file: {what}"));
        let file = File::open(path).map_err(|e| Error::io(path, "open rows file", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(path, "stat rows file", e))?
            .len();
        if len < 10 {
            return Err(corrupt("too short"));
        }
        // SAFETY: rows files are never modified once written: recompression writes a new
        // file and renames it over this one, which leaves this mapping on the old inode.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::io(path, "map rows file", e))?;
        let ptr = std::ptr::NonNull::new(map.as_ptr().cast_mut())
            .ok_or_else(|| corrupt("mapped at null"))?;
        let map_len = map.len();
        // SAFETY: `ptr` and `map_len` describe the mapping, which the buffer owns (and unmaps
        // when its last slice is dropped).
        let data = unsafe { Buffer::from_custom_allocation(ptr, map_len, Arc::new(map)) };
        let trailer = data.len() - 10;
        let footer_len =
            read_footer_length(data[trailer..].try_into().map_err(|_| corrupt("trailer"))?)
                .map_err(|e| Error::arrow(path, e))?;
        let footer_start = trailer
            .checked_sub(footer_len)
            .ok_or_else(|| corrupt("footer length"))?;
        let footer =
            root_as_footer(&data[footer_start..trailer]).map_err(|e| corrupt(&e.to_string()))?;
        let schema = Arc::new(
            try_fb_to_schema(footer.schema().ok_or_else(|| corrupt("no schema"))?)
                .map_err(|e| Error::arrow(path, e))?,
        );
        let meta = schema.metadata().clone();
        let version = match meta.get(VERSION_KEY) {
            None => 1,
            Some(v) => v.parse::<u32>().unwrap_or(0),
        };
        let file_batch_rows = match meta.get(BATCH_ROWS_KEY) {
            None => V1_BATCH_ROWS,
            Some(v) => v.parse::<usize>().unwrap_or(0),
        };
        if file_batch_rows == 0 || file_batch_rows % BATCH_ROWS != 0 {
            return Err(Error::corrupt(
                path,
                format!("record batches of {file_batch_rows} rows (this build reads multiples of {BATCH_ROWS})"),
            ));
        }
        let times = match version {
            1 => None,
            VERSION => Some(times.ok_or_else(|| {
                Error::corrupt(path, "a version 2 rows file without its index's times")
            })?),
            v => {
                return Err(Error::corrupt(
                    path,
                    format!("rows format version {v:?} (this build reads 1 and {VERSION})"),
                ))
            }
        };
        let projection = ["level", "service", "host"]
            .iter()
            .map(|n| schema.index_of(n).map_err(|e| Error::arrow(path, e)))
            .collect::<Result<Vec<_>>>()?;
        let mut decoder = FileDecoder::new(schema.clone(), footer.version());
        let mut dict_decoder =
            FileDecoder::new(schema, footer.version()).with_projection(projection);
        for block in footer.dictionaries().iter().flatten() {
            let buf =
                slice(&data, block).ok_or_else(|| corrupt("a dictionary block past the end"))?;
            decoder
                .read_dictionary(block, &buf)
                .map_err(|e| Error::arrow(path, e))?;
            dict_decoder
                .read_dictionary(block, &buf)
                .map_err(|e| Error::arrow(path, e))?;
        }
        let blocks: Vec<Block> = footer
            .recordBatches()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        Ok(Rows {
            path: path.to_path_buf(),
            times,
            file_batch_rows,
            data,
            blocks,
            decoder,
            dict_decoder,
            cache: Mutex::new(Vec::new()),
            last_dicts: Mutex::new(None),
            sliced: Mutex::new([None, None]),
        })
    }

    /// Logical batch `index` through `decoder` (a slice of a larger record batch in old
    /// files).
    fn read(&self, decoder: &FileDecoder, index: usize) -> Result<RecordBatch> {
        let first = index * BATCH_ROWS;
        let (file_batch, offset) = (first / self.file_batch_rows, first % self.file_batch_rows);
        let missing = || Error::corrupt(&self.path, format!("no record batch {file_batch}"));
        let decode = || -> Result<RecordBatch> {
            let block = self.blocks.get(file_batch).ok_or_else(missing)?;
            let buf = slice(&self.data, block).ok_or_else(missing)?;
            decoder
                .read_record_batch(block, &buf)
                .map_err(|e| Error::arrow(&self.path, e))?
                .ok_or_else(missing)
        };
        if self.file_batch_rows == BATCH_ROWS {
            return decode();
        }
        // A larger record batch: keep the last one decoded (per decoder), since its slices
        // are usually read one after another.
        let slot = if std::ptr::eq(decoder, &self.decoder) {
            0
        } else {
            1
        };
        let cached = self.sliced.lock().unwrap_or_else(|e| e.into_inner())[slot]
            .as_ref()
            .filter(|(at, _)| *at == file_batch)
            .map(|(_, b)| b.clone());
        let batch = match cached {
            Some(b) => b,
            None => {
                let b = decode()?;
                self.sliced.lock().unwrap_or_else(|e| e.into_inner())[slot] =
                    Some((file_batch, b.clone()));
                b
            }
        };
        if offset < batch.num_rows() {
            Ok(batch.slice(offset, BATCH_ROWS.min(batch.num_rows() - offset)))
        } else {
            Err(Error::corrupt(&self.path, format!("no rows at {first}")))
        }
    }

    /// The dictionary columns of batch `index`, decoding nothing else.
    pub fn dicts(&self, index: usize) -> Result<Arc<Dicts>> {
        if let Some((at, d)) = &*self.last_dicts.lock().unwrap_or_else(|e| e.into_inner()) {
            if *at == index {
                return Ok(d.clone());
            }
        }
        let d = Arc::new(Dicts {
            batch: self.read(&self.dict_decoder, index)?,
        });
        *self.last_dicts.lock().unwrap_or_else(|e| e.into_inner()) = Some((index, d.clone()));
        Ok(d)
    }

    pub fn batch(&self, index: usize) -> Result<Arc<Columns>> {
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, c)) = cache.iter().find(|(i, _)| *i == index) {
                return Ok(c.clone());
            }
        }
        let first = index * BATCH_ROWS;
        let batch = self.read(&self.decoder, index)?;
        let bad = || Error::corrupt(&self.path, "unexpected column type");
        let col = |name: &str| batch.column_by_name(name).cloned().ok_or_else(bad);
        let (seq, timestamp, ingest_timestamp) = match &self.times {
            Some(t) => {
                let (at, n) = (first as u32, batch.num_rows());
                let (Some(seq), Some(ts), Some(its)) = (
                    values_of(&t.seq, at, n),
                    values_of(&t.timestamp, at, n),
                    values_of(&t.ingest_timestamp, at, n),
                ) else {
                    return Err(Error::corrupt(
                        &self.path,
                        format!("batch {index}: the index has no seq or time for some row"),
                    ));
                };
                let time = |v: Vec<u64>| {
                    TimestampNanosecondArray::from(v.into_iter().map(from_raw).collect::<Vec<_>>())
                        .with_timezone("UTC")
                };
                (UInt64Array::from(seq), time(ts), time(its))
            }
            None => (
                col("seq")?
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .cloned()
                    .ok_or_else(bad)?,
                col("timestamp")?
                    .as_any()
                    .downcast_ref::<TimestampNanosecondArray>()
                    .cloned()
                    .ok_or_else(bad)?,
                col("ingest_timestamp")?
                    .as_any()
                    .downcast_ref::<TimestampNanosecondArray>()
                    .cloned()
                    .ok_or_else(bad)?,
            ),
        };
        let columns = Columns {
            seq,
            timestamp,
            ingest_timestamp,
            message: col("message")?
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(bad)?,
            fields: col("fields")?
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(bad)?,
        };
        let columns = Arc::new(columns);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED_BATCHES {
            cache.remove(0);
        }
        cache.push((index, columns.clone()));
        Ok(columns)
    }

    /// The event in row `row`.
    pub fn event(&self, row: usize) -> Result<Event> {
        let b = self.batch(row / BATCH_ROWS)?;
        b.event(row % BATCH_ROWS)
            .ok_or_else(|| Error::corrupt(&self.path, format!("row {row} does not decode")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Row `i` of a decoded batch, read in place by `Query::matches`: the message is borrowed
/// from the column and the fields JSON is parsed only if the query looks at a field.
pub struct RowRef<'c> {
    cols: &'c Columns,
    i: usize,
    fields: std::cell::OnceCell<Option<sluice_event::Fields>>,
}

impl sluice_query::Fields for RowRef<'_> {
    fn message(&self) -> &str {
        self.cols.message.value(self.i)
    }
    fn timestamp(&self) -> i64 {
        self.cols.timestamp.value(self.i)
    }
    fn ingest_timestamp(&self) -> i64 {
        self.cols.ingest_timestamp.value(self.i)
    }
    fn field(&self, name: &str) -> Option<sluice_event::packed::ValueRef<'_>> {
        self.fields
            .get_or_init(|| fields_from_json(self.cols.fields.value(self.i)))
            .as_ref()?
            .get(name)
            .map(sluice_event::packed::ValueRef::from)
    }
}

impl Columns {
    /// Row `i` for `Query::matches` (`None` past the end).
    pub fn row(&self, i: usize) -> Option<RowRef<'_>> {
        (i < self.len()).then(|| RowRef {
            cols: self,
            i,
            fields: std::cell::OnceCell::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// The event in row `i` of this batch.
    pub fn event(&self, i: usize) -> Option<Event> {
        if i >= self.len() {
            return None;
        }
        Some(Event {
            timestamp: self.timestamp.value(i),
            ingest_timestamp: self.ingest_timestamp.value(i),
            message: self.message.value(i).to_owned(),
            fields: fields_from_json(self.fields.value(i))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::UInt64Builder;
    use arrow_schema::TimeUnit;

    /// A version 1 file (seq and times as columns, 4096-row batches, no metadata) still reads.
    #[test]
    fn reads_version_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.arrow");
        let n = 5000usize;
        let events: Vec<Event> = (0..n)
            .map(|i| {
                let mut e = Event::new(format!("line {i}"));
                e.timestamp = 1_000 + i as i64;
                e.ingest_timestamp = 2_000 + i as i64;
                e.fields.insert("service", "web");
                e
            })
            .collect();
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("seq", DataType::UInt64, false),
            Field::new("timestamp", ts.clone(), false),
            Field::new("ingest_timestamp", ts, false),
            Field::new("level", dict.clone(), true),
            Field::new("service", dict.clone(), true),
            Field::new("host", dict, true),
            Field::new("message", DataType::Utf8, false),
            Field::new("fields", DataType::Utf8, false),
        ]));
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
            .unwrap();
        let mut w =
            FileWriter::try_new_with_options(File::create(&path).unwrap(), &schema, options)
                .unwrap();
        for start in (0..n).step_by(V1_BATCH_ROWS) {
            let chunk = &events[start..(start + V1_BATCH_ROWS).min(n)];
            let mut seq = UInt64Builder::new();
            seq.append_slice(&(start as u64..(start + chunk.len()) as u64).collect::<Vec<_>>());
            let ts: TimestampNanosecondArray = chunk.iter().map(|e| Some(e.timestamp)).collect();
            let its: TimestampNanosecondArray =
                chunk.iter().map(|e| Some(e.ingest_timestamp)).collect();
            let keys = || {
                let values: ArrayRef = Arc::new(StringArray::from(vec!["web"]));
                let a = DictionaryArray::<Int32Type>::try_new(
                    Int32Array::from(vec![0; chunk.len()]),
                    values,
                )
                .unwrap();
                Arc::new(a) as ArrayRef
            };
            let message: StringArray = chunk.iter().map(|e| Some(e.message.as_str())).collect();
            let fields: StringArray = chunk
                .iter()
                .map(|e| {
                    let mut j = String::new();
                    fields_to_json(&e.fields, &mut j);
                    Some(j)
                })
                .collect();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(seq.finish()),
                Arc::new(ts.with_timezone("UTC")),
                Arc::new(its.with_timezone("UTC")),
                keys(),
                keys(),
                keys(),
                Arc::new(message),
                Arc::new(fields),
            ];
            w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
                .unwrap();
        }
        w.finish().unwrap();
        let rows = Rows::open(&path, None).unwrap();
        for i in [0, 1023, 1024, 4095, 4096, 4999] {
            assert_eq!(rows.event(i).unwrap(), events[i], "row {i}");
            let b = rows.batch(i / BATCH_ROWS).unwrap();
            assert_eq!(b.seq.value(i % BATCH_ROWS), i as u64);
            let d = rows.dicts(i / BATCH_ROWS).unwrap();
            assert_eq!(d.dict_value("service", i % BATCH_ROWS), Some("web"));
        }
        let last = (n - 1) / BATCH_ROWS;
        assert_eq!(rows.batch(last).unwrap().len(), n - last * BATCH_ROWS);
        assert!(rows.batch(last + 1).is_err());
    }
}
