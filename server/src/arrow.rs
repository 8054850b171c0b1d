//! Search results as an Arrow IPC stream (`Accept: application/vnd.apache.arrow.stream`), so
//! pandas and polars users read them straight into a data frame
//! (`pyarrow.ipc.open_stream(body).read_pandas()`, `polars.read_ipc_stream(body)`).
//!
//! Hits become one record batch: `_id`, `timestamp`, `ingest_timestamp` (ns, UTC), `message`,
//! then one column per field in the order first seen, typed by its values (all integers →
//! Int64, numbers → Float64, booleans → Boolean, times → Timestamp; anything mixed → Utf8
//! with each value as text), null where an event has no such field. Aggregation rows become
//! a batch with the pipe's columns, typed the same way from their JSON values. The search's
//! totals (`total`, `partial`, `scanned`, `next_cursor`, or `matched` for aggregations) ride
//! in the schema's metadata.

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};
use serde_json::Value as Json;
use sluice_event::{Event, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The media type of an Arrow IPC stream.
pub const MEDIA_TYPE: &str = "application/vnd.apache.arrow.stream";

/// One cell before its column's type is known.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Bool(bool),
    Int(i64),
    Float(f64),
    Time(i64),
    Text(String),
}

impl Cell {
    fn from_value(value: &Value) -> Option<Cell> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Int(i) => Cell::Int(*i),
            Value::Float(f) => Cell::Float(*f),
            Value::String(s) => Cell::Text(s.clone()),
            Value::Timestamp(ns) => Cell::Time(*ns),
        })
    }

    fn from_json(value: &Json) -> Option<Cell> {
        Some(match value {
            Json::Null => return None,
            Json::Bool(b) => Cell::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Cell::Text(s.clone()),
            other => Cell::Text(other.to_string()),
        })
    }

    fn text(&self) -> String {
        match self {
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Time(ns) => sluice_event::format_rfc3339(*ns),
            Cell::Text(s) => s.clone(),
        }
    }
}

/// A column's cells; its Arrow type is decided once all are in.
#[derive(Default)]
struct Column {
    cells: Vec<Option<Cell>>,
    /// The type of a built-in column, whatever its cells.
    fixed: Option<DataType>,
}

impl Column {
    fn data_type(&self) -> DataType {
        if let Some(fixed) = &self.fixed {
            return fixed.clone();
        }
        let mut kinds = self.cells.iter().flatten().map(|c| match c {
            Cell::Bool(_) => 0,
            Cell::Int(_) => 1,
            Cell::Float(_) => 2,
            Cell::Time(_) => 3,
            Cell::Text(_) => 4,
        });
        let Some(first) = kinds.next() else {
            return DataType::Utf8;
        };
        let kind = kinds.try_fold(first, |kind, next| match (kind, next) {
            (a, b) if a == b => Some(a),
            (1 | 2, 1 | 2) => Some(2),
            _ => None,
        });
        match kind {
            Some(0) => DataType::Boolean,
            Some(1) => DataType::Int64,
            Some(2) => DataType::Float64,
            Some(3) => timestamp_type(),
            _ => DataType::Utf8,
        }
    }

    fn build(&self, data_type: &DataType) -> ArrayRef {
        let n = self.cells.len();
        match data_type {
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                for cell in &self.cells {
                    b.append_option(match cell {
                        Some(Cell::Bool(v)) => Some(*v),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            DataType::Int64 => {
                let mut b = Int64Builder::with_capacity(n);
                for cell in &self.cells {
                    b.append_option(match cell {
                        Some(Cell::Int(v)) => Some(*v),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::with_capacity(n);
                for cell in &self.cells {
                    b.append_option(match cell {
                        Some(Cell::Int(v)) => Some(*v as f64),
                        Some(Cell::Float(v)) => Some(*v),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            DataType::Timestamp(..) => {
                let mut b = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
                for cell in &self.cells {
                    b.append_option(match cell {
                        Some(Cell::Time(v)) => Some(*v),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::with_capacity(n, n * 16);
                for cell in &self.cells {
                    b.append_option(cell.as_ref().map(Cell::text));
                }
                Arc::new(b.finish())
            }
        }
    }
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// Columns in the order they were first named.
#[derive(Default)]
struct Table {
    names: Vec<String>,
    columns: Vec<Column>,
    by_name: HashMap<String, usize>,
    rows: usize,
}

impl Table {
    fn with_columns(names: &[&str]) -> Table {
        let mut table = Table::default();
        for name in names {
            table.column(name);
        }
        table
    }

    fn column(&mut self, name: &str) -> &mut Column {
        let i = match self.by_name.get(name) {
            Some(&i) => i,
            None => {
                self.names.push(name.to_owned());
                self.columns.push(Column {
                    cells: vec![None; self.rows],
                    fixed: None,
                });
                self.by_name.insert(name.to_owned(), self.columns.len() - 1);
                self.columns.len() - 1
            }
        };
        &mut self.columns[i]
    }

    /// Starts a row: every column gets a null to overwrite.
    fn next_row(&mut self) {
        self.rows += 1;
        for column in &mut self.columns {
            column.cells.push(None);
        }
    }

    fn set(&mut self, name: &str, cell: Option<Cell>) {
        let row = self.rows - 1;
        self.column(name).cells[row] = cell;
    }

    fn encode(self, metadata: HashMap<String, String>) -> Result<Vec<u8>, ArrowError> {
        let types: Vec<DataType> = self.columns.iter().map(Column::data_type).collect();
        let fields: Vec<Field> = self
            .names
            .iter()
            .zip(&types)
            .map(|(name, t)| Field::new(name, t.clone(), true))
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .zip(&types)
            .map(|(c, t)| c.build(t))
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        let mut out = Vec::new();
        let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema)?;
        writer.write(&batch)?;
        writer.finish()?;
        drop(writer);
        Ok(out)
    }
}

/// Search hits (`(id, event)`) as an IPC stream.
pub fn hits<'a>(
    hits: impl IntoIterator<Item = (&'a str, &'a Event)>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, ArrowError> {
    let mut table = Table::with_columns(&["_id", "timestamp", "ingest_timestamp", "message"]);
    for (name, data_type) in [
        ("_id", DataType::Utf8),
        ("timestamp", timestamp_type()),
        ("ingest_timestamp", timestamp_type()),
        ("message", DataType::Utf8),
    ] {
        table.column(name).fixed = Some(data_type);
    }
    for (id, event) in hits {
        table.next_row();
        table.set("_id", Some(Cell::Text(id.to_owned())));
        table.set("timestamp", Some(Cell::Time(event.timestamp)));
        table.set("ingest_timestamp", Some(Cell::Time(event.ingest_timestamp)));
        table.set("message", Some(Cell::Text(event.message.clone())));
        for (name, value) in event.fields.iter() {
            // A field named like a built-in column stays apart from it.
            let name = match name {
                "_id" | "timestamp" | "ingest_timestamp" | "message" => format!("fields.{name}"),
                _ => name.to_owned(),
            };
            table.set(&name, Cell::from_value(value));
        }
    }
    table.encode(metadata)
}

/// An aggregation's columns and rows as an IPC stream.
pub fn rows(
    columns: &[String],
    rows: &[Vec<Json>],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, ArrowError> {
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut table = Table::with_columns(&names);
    for row in rows {
        table.next_row();
        for (name, value) in columns.iter().zip(row) {
            table.set(name, Cell::from_json(value));
        }
    }
    table.encode(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
    use arrow_array::Array;

    fn read(bytes: &[u8]) -> RecordBatch {
        let mut reader = arrow_ipc::reader::StreamReader::try_new(bytes, None).unwrap();
        let batch = reader.next().unwrap().unwrap();
        assert!(reader.next().is_none());
        batch
    }

    #[test]
    fn hits_become_typed_columns() {
        let mut a = Event::new("first");
        a.timestamp = 1_000;
        a.fields.insert("status", 200i64);
        a.fields.insert("service", "web");
        a.fields.insert("latency", 1.5f64);
        let mut b = Event::new("second");
        b.timestamp = 2_000;
        b.fields.insert("status", 404i64);
        b.fields.insert("latency", 2i64);
        b.fields.insert("mixed", true);
        let mut c = Event::new("third");
        c.fields.insert("mixed", "x");
        c.fields.insert("message", "inner");
        let meta = HashMap::from([("total".to_owned(), "3".to_owned())]);
        let bytes = hits([("1", &a), ("2", &b), ("3", &c)], meta).unwrap();
        let batch = read(&bytes);
        let schema = batch.schema();
        assert_eq!(schema.metadata()["total"], "3");
        assert_eq!(batch.num_rows(), 3);
        let column = |name: &str| batch.column(schema.index_of(name).unwrap()).clone();
        assert_eq!(column("message").as_string::<i32>().value(1), "second");
        assert_eq!(
            column("timestamp")
                .as_primitive::<TimestampNanosecondType>()
                .value(1),
            2_000
        );
        let status = column("status");
        let status = status.as_primitive::<Int64Type>();
        assert_eq!((status.value(0), status.value(1)), (200, 404));
        assert!(status.is_null(2));
        let latency = column("latency");
        assert_eq!(latency.as_primitive::<Float64Type>().value(1), 2.0);
        let mixed = column("mixed");
        assert_eq!(mixed.as_string::<i32>().value(1), "true");
        assert_eq!(mixed.as_string::<i32>().value(2), "x");
        assert_eq!(
            column("fields.message").as_string::<i32>().value(2),
            "inner"
        );
        assert_eq!(
            schema.field_with_name("timestamp").unwrap().data_type(),
            &timestamp_type()
        );
    }

    #[test]
    fn no_hits_still_have_the_columns() {
        let batch = read(&hits([], HashMap::new()).unwrap());
        assert_eq!(batch.num_rows(), 0);
        assert_eq!(batch.num_columns(), 4);
        assert_eq!(
            batch
                .schema()
                .field_with_name("timestamp")
                .unwrap()
                .data_type(),
            &timestamp_type()
        );
    }

    #[test]
    fn aggregation_rows_are_typed_from_json() {
        let columns = vec!["level".to_owned(), "count()".to_owned()];
        let rows = vec![
            vec![serde_json::json!("ERROR"), serde_json::json!(12)],
            vec![Json::Null, serde_json::json!(3)],
        ];
        let batch = read(&super::rows(&columns, &rows, HashMap::new()).unwrap());
        assert_eq!(batch.column(0).as_string::<i32>().value(0), "ERROR");
        assert!(batch.column(0).is_null(1));
        assert_eq!(batch.column(1).as_primitive::<Int64Type>().value(1), 3);
    }
}
