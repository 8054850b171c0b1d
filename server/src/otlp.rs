//! OTLP/HTTP logs, `POST /v1/logs`, as the OpenTelemetry SDKs and the
//! collector's `otlphttp` exporter send them:
//!
//! - `application/x-protobuf`: an `ExportLogsServiceRequest`, read with
//!   `proto.rs` (no generated code);
//! - `application/json`: the OTLP JSON mapping (lowerCamelCase keys, the
//!   proto names are accepted too; hex trace and span ids; 64-bit integers
//!   as strings or numbers; enums as numbers or names).
//!
//! Each log record becomes an event, as the collector's Elasticsearch and
//! Loki exporters map them:
//!
//! - the body is the `message`: a string as is, any other kind as its JSON
//!   text (bytes as base64);
//! - `time_unix_nano`, or `observed_time_unix_nano` when that is 0, is the
//!   event time (neither: the time of ingest);
//! - `severity_number` (else `severity_text`) is the `level`, normalized to
//!   TRACE..FATAL; a text no level matches is kept as it is;
//! - resource attributes, the scope's attributes, then the record's
//!   attributes become fields (a later one wins): nested key-value lists as
//!   dotted names, arrays as their JSON text, bytes as base64.
//!   `service.name` becomes `service` and `host.name` becomes `host`, the
//!   event's well-known fields; the scope is `scope.name` and
//!   `scope.version`, an event name `event.name`;
//! - `trace_id` and `span_id` as lowercase hex (absent when all zero).
//!
//! The index is `?index=`, else the resource attribute `sluice.index`
//! ([`INDEX_ATTRIBUTE`], set per resource with `OTEL_RESOURCE_ATTRIBUTES`,
//! so one request may fill several indexes; it is not kept as a field;
//! the OpenTelemetry JS exporter drops a query string from its URL, so
//! this is the way that always works), else `otel`. The answer comes once the WAL holds every record: `200`
//! with an empty `ExportLogsServiceResponse` (protobuf) or `{}` (JSON). A
//! bad request is `400` with a message naming the field (and the byte
//! offset in a protobuf body): a `google.rpc.Status` for a protobuf request,
//! as OTLP specifies, `{"error": ...}` for JSON.

use super::proto::{write, Field, Fields};
use super::{bad_request, blocking, read_body, store_of, Failure, Shared};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value as Json};
use sluice_event::{names, now_ns, Event, Fields as EventFields, Level, Value};
use std::collections::HashMap;

/// The index for records whose request and resource name none.
pub const DEFAULT_INDEX: &str = "otel";
/// The resource attribute that names a resource's index.
pub const INDEX_ATTRIBUTE: &str = "sluice.index";
/// How deep `AnyValue`s may nest (arrays and key-value lists).
const MAX_DEPTH: usize = 64;

/// `POST /v1/logs`: the whole exchange, answered in the request's encoding.
pub async fn export(
    req: Request<Incoming>,
    query: &HashMap<String, String>,
    shared: &Shared,
) -> Response<Full<Bytes>> {
    let content_type = super::content_type(&req);
    let protobuf = matches!(
        content_type.as_str(),
        "application/x-protobuf" | "application/protobuf"
    );
    let result = if req.method() == Method::POST {
        accept(req, &content_type, query, shared).await
    } else {
        Err(Failure {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{} is not allowed on /v1/logs; use POST", req.method()),
            column: None,
        })
    };
    match (result, protobuf) {
        // An empty ExportLogsServiceResponse: no partial success to report.
        (Ok(()), true) => reply(StatusCode::OK, "application/x-protobuf", Vec::new()),
        (Ok(()), false) => reply(StatusCode::OK, "application/json", b"{}".to_vec()),
        (Err(failure), true) => reply(
            failure.status,
            "application/x-protobuf",
            rpc_status(failure.status, &failure.message),
        ),
        (Err(failure), false) => reply(
            failure.status,
            "application/json",
            json!({ "error": failure.message }).to_string().into_bytes(),
        ),
    }
}

async fn accept(
    req: Request<Incoming>,
    content_type: &str,
    query: &HashMap<String, String>,
    shared: &Shared,
) -> Result<(), Failure> {
    let index = match query.get("index") {
        Some(index) => {
            sluice_store::validate_index_name(index)?;
            Some(index.clone())
        }
        None => None,
    };
    let principal = super::Principal::of(&req);
    let body = read_body(req, &shared.options).await?;
    let resources = match content_type {
        "application/x-protobuf" | "application/protobuf" => decode_protobuf(&body)
            .map_err(|e| bad_request(format!("ExportLogsServiceRequest: {e}")))?,
        "application/json" => decode_json(&body).map_err(bad_request)?,
        other => {
            return Err(Failure {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: format!(
                    "Content-Type {other:?}: OTLP/HTTP takes application/x-protobuf or application/json"
                ),
                column: None,
            })
        }
    };
    let batches = by_index(resources, index.as_deref())?;
    for index in batches.iter().map(|(index, _)| index) {
        super::authorize(&principal, super::Scope::Ingest, index)?;
    }
    let store = store_of(shared)?;
    blocking(move || {
        for (index, events) in &batches {
            store.append(index, events)?;
        }
        Ok(())
    })
    .await
}

fn reply(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `google.rpc.Status { int32 code = 1; string message = 2; }` with the
/// gRPC code closest to the HTTP status.
fn rpc_status(status: StatusCode, message: &str) -> Vec<u8> {
    let code = match status.as_u16() {
        400 | 415 => 3, // INVALID_ARGUMENT
        404 => 5,       // NOT_FOUND
        405 => 12,      // UNIMPLEMENTED
        413 => 8,       // RESOURCE_EXHAUSTED
        503 => 14,      // UNAVAILABLE
        _ => 13,        // INTERNAL
    };
    let mut out = Vec::new();
    write::uint(&mut out, 1, code);
    write::bytes(&mut out, 2, message.as_bytes());
    out
}

/// The events of each resource, grouped by the index they go to.
fn by_index(
    resources: Vec<Resource>,
    index: Option<&str>,
) -> Result<Vec<(String, Vec<Event>)>, Failure> {
    let mut batches: Vec<(String, Vec<Event>)> = Vec::new();
    for resource in resources {
        let name = match index {
            Some(index) => index.to_owned(),
            None => match &resource.index {
                Some(name) => {
                    sluice_store::validate_index_name(name).map_err(|e| {
                        bad_request(format!("resource attribute `{INDEX_ATTRIBUTE}`: {e}"))
                    })?;
                    name.clone()
                }
                None => DEFAULT_INDEX.to_owned(),
            },
        };
        match batches.iter_mut().find(|(n, _)| *n == name) {
            Some((_, events)) => events.extend(resource.events),
            None => batches.push((name, resource.events)),
        }
    }
    Ok(batches)
}

/// An `AnyValue`, from either encoding.
#[derive(Debug, Clone, PartialEq)]
enum Any {
    Empty,
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// Base64, as the JSON mapping writes bytes.
    Bytes(String),
    Array(Vec<Any>),
    KvList(Vec<(String, Any)>),
}

impl Any {
    fn to_json(&self) -> Json {
        match self {
            Any::Empty => Json::Null,
            Any::String(s) | Any::Bytes(s) => Json::String(s.clone()),
            Any::Bool(b) => Json::Bool(*b),
            Any::Int(i) => json!(i),
            Any::Double(d) => serde_json::Number::from_f64(*d)
                .map_or_else(|| Json::String(d.to_string()), Json::Number),
            Any::Array(values) => Json::Array(values.iter().map(Any::to_json).collect()),
            Any::KvList(pairs) => Json::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// The message a body makes: a string as is, anything else as JSON.
    fn into_message(self) -> String {
        match self {
            Any::String(s) => s,
            Any::Empty => String::new(),
            other => other.to_json().to_string(),
        }
    }
}

/// The event field a key is stored under.
fn field_name(key: &str) -> &str {
    match key {
        "service.name" => names::SERVICE,
        "host.name" => names::HOST,
        other => other,
    }
}

/// Adds one attribute; key-value lists become dotted names.
fn add_attribute(fields: &mut EventFields, key: &str, value: &Any) {
    let value = match value {
        Any::KvList(pairs) => {
            for (k, v) in pairs {
                add_attribute(fields, &format!("{key}.{k}"), v);
            }
            return;
        }
        Any::Empty => Value::Null,
        Any::String(s) | Any::Bytes(s) => Value::String(s.clone()),
        Any::Bool(b) => Value::Bool(*b),
        Any::Int(i) => Value::Int(*i),
        Any::Double(d) => Value::Float(*d),
        Any::Array(_) => Value::String(value.to_json().to_string()),
    };
    fields.insert(field_name(key), value);
}

#[derive(Debug, Default)]
struct Scope {
    name: String,
    version: String,
    attributes: Vec<(String, Any)>,
}

#[derive(Debug, Default)]
struct Record {
    time: u64,
    observed_time: u64,
    severity_number: i64,
    severity_text: String,
    body: Option<Any>,
    attributes: Vec<(String, Any)>,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    event_name: String,
}

/// One `ResourceLogs`: its events and the index its attributes name.
#[derive(Debug, Default)]
struct Resource {
    index: Option<String>,
    events: Vec<Event>,
}

/// TRACE..FATAL from a `SeverityNumber` (1-4 TRACE, ..., 21-24 FATAL).
fn level_of_number(number: i64) -> Option<Level> {
    let level = match number {
        1..=4 => Level::Trace,
        5..=8 => Level::Debug,
        9..=12 => Level::Info,
        13..=16 => Level::Warn,
        17..=20 => Level::Error,
        21..=24 => Level::Fatal,
        _ => return None,
    };
    Some(level)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The event of one record in its resource and scope.
fn record_event(resource: &[(String, Any)], scope: &Scope, record: Record) -> Event {
    let mut event = Event::new(record.body.map(Any::into_message).unwrap_or_default());
    let ns = if record.time != 0 {
        record.time
    } else {
        record.observed_time
    };
    if ns != 0 {
        event.timestamp = i64::try_from(ns).unwrap_or(i64::MAX);
    }
    event.ingest_timestamp = now_ns();
    let fields = &mut event.fields;
    for (key, value) in resource {
        if key != INDEX_ATTRIBUTE {
            add_attribute(fields, key, value);
        }
    }
    if !scope.name.is_empty() {
        fields.insert("scope.name", scope.name.as_str());
    }
    if !scope.version.is_empty() {
        fields.insert("scope.version", scope.version.as_str());
    }
    for (key, value) in scope.attributes.iter().chain(&record.attributes) {
        add_attribute(fields, key, value);
    }
    if !record.event_name.is_empty() {
        fields.insert("event.name", record.event_name);
    }
    let text = record.severity_text.trim();
    let level = level_of_number(record.severity_number)
        .or_else(|| Level::parse(text))
        .map(|l| l.as_str().to_owned())
        .or_else(|| (!text.is_empty()).then(|| text.to_owned()));
    if let Some(level) = level {
        fields.insert(names::LEVEL, level);
    }
    for (name, id) in [
        (names::TRACE_ID, &record.trace_id),
        ("span_id", &record.span_id),
    ] {
        if id.iter().any(|&b| b != 0) {
            fields.insert(name, hex(id));
        }
    }
    event
}

fn resource_index(attributes: &[(String, Any)]) -> Option<String> {
    attributes.iter().find_map(|(k, v)| match v {
        Any::String(s) if k == INDEX_ATTRIBUTE => Some(s.clone()),
        _ => None,
    })
}

// ---- protobuf ----
//
// ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
// ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
// Resource { repeated KeyValue attributes = 1; }
// ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; }
// InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
// LogRecord { fixed64 time_unix_nano = 1; SeverityNumber severity_number = 2;
//   string severity_text = 3; AnyValue body = 5; repeated KeyValue attributes = 6;
//   bytes trace_id = 9; bytes span_id = 10; fixed64 observed_time_unix_nano = 11;
//   string event_name = 12; }
// KeyValue { string key = 1; AnyValue value = 2; }
// AnyValue { oneof { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
//   double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6;
//   bytes bytes_value = 7; } }
// ArrayValue { repeated AnyValue values = 1; }  KeyValueList { repeated KeyValue values = 1; }
//
// Every message is read with `parent.nested(..)`, so offsets count from the
// start of the body.

/// Walks a message's fields with the offset each starts at.
fn walk<'a>(
    fields: &mut Fields<'a>,
    message: &str,
    mut each: impl FnMut(u32, Field<'a>, usize) -> Result<(), String>,
) -> Result<(), String> {
    loop {
        let at = fields.offset();
        match fields.next() {
            None => return Ok(()),
            Some(Err(e)) => return Err(format!("{message}: {e}")),
            Some(Ok((number, field))) => each(number, field, at)?,
        }
    }
}

fn wrong_type(message: &str, name: &str, number: u32, at: usize, want: &str) -> String {
    format!("{message}.{name} (field {number}) at byte {at}: expected {want}")
}

fn want_bytes<'a>(
    field: Field<'a>,
    message: &str,
    name: &str,
    number: u32,
    at: usize,
) -> Result<&'a [u8], String> {
    match field {
        Field::Bytes(b) => Ok(b),
        _ => Err(wrong_type(
            message,
            name,
            number,
            at,
            "a length-delimited value",
        )),
    }
}

fn want_string(
    field: Field<'_>,
    message: &str,
    name: &str,
    number: u32,
    at: usize,
) -> Result<String, String> {
    want_bytes(field, message, name, number, at).map(|b| String::from_utf8_lossy(b).into_owned())
}

fn want_varint(
    field: Field<'_>,
    message: &str,
    name: &str,
    number: u32,
    at: usize,
) -> Result<u64, String> {
    match field {
        Field::Varint(v) => Ok(v),
        _ => Err(wrong_type(message, name, number, at, "a varint")),
    }
}

fn want_fixed64(
    field: Field<'_>,
    message: &str,
    name: &str,
    number: u32,
    at: usize,
) -> Result<u64, String> {
    match field {
        Field::Fixed64(v) => Ok(v),
        _ => Err(wrong_type(message, name, number, at, "a fixed64")),
    }
}

fn decode_protobuf(body: &[u8]) -> Result<Vec<Resource>, String> {
    let root = Fields::new(body);
    let mut resources = Vec::new();
    walk(
        &mut Fields::new(body),
        "ExportLogsServiceRequest",
        |n, f, at| {
            if n == 1 {
                let bytes = want_bytes(f, "ExportLogsServiceRequest", "resource_logs", n, at)?;
                resources.push(resource_logs(&root.nested(bytes))?);
            }
            Ok(())
        },
    )?;
    Ok(resources)
}

fn resource_logs(parent: &Fields<'_>) -> Result<Resource, String> {
    const M: &str = "ResourceLogs";
    let mut attributes = Vec::new();
    let mut scopes = Vec::new();
    walk(&mut parent.nested(parent.data()), M, |n, f, at| {
        match n {
            1 => {
                let bytes = want_bytes(f, M, "resource", n, at)?;
                walk(&mut parent.nested(bytes), "Resource", |n, f, at| {
                    if n == 1 {
                        let kv = want_bytes(f, "Resource", "attributes", n, at)?;
                        attributes.push(key_value(&parent.nested(kv), 0)?);
                    }
                    Ok(())
                })?;
            }
            2 => scopes.push(want_bytes(f, M, "scope_logs", n, at)?),
            _ => {}
        }
        Ok(())
    })?;
    let mut events = Vec::new();
    for bytes in scopes {
        scope_logs(&parent.nested(bytes), &attributes, &mut events)?;
    }
    Ok(Resource {
        index: resource_index(&attributes),
        events,
    })
}

fn scope_logs(
    parent: &Fields<'_>,
    resource: &[(String, Any)],
    events: &mut Vec<Event>,
) -> Result<(), String> {
    const M: &str = "ScopeLogs";
    let mut scope = Scope::default();
    let mut records = Vec::new();
    walk(&mut parent.nested(parent.data()), M, |n, f, at| {
        match n {
            1 => {
                let bytes = want_bytes(f, M, "scope", n, at)?;
                const S: &str = "InstrumentationScope";
                walk(&mut parent.nested(bytes), S, |n, f, at| {
                    match n {
                        1 => scope.name = want_string(f, S, "name", n, at)?,
                        2 => scope.version = want_string(f, S, "version", n, at)?,
                        3 => {
                            let kv = want_bytes(f, S, "attributes", n, at)?;
                            scope.attributes.push(key_value(&parent.nested(kv), 0)?);
                        }
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            2 => records.push(want_bytes(f, M, "log_records", n, at)?),
            _ => {}
        }
        Ok(())
    })?;
    for bytes in records {
        let record = log_record(&parent.nested(bytes))?;
        events.push(record_event(resource, &scope, record));
    }
    Ok(())
}

fn log_record(fields: &Fields<'_>) -> Result<Record, String> {
    const M: &str = "LogRecord";
    let mut record = Record::default();
    walk(&mut fields.nested(fields.data()), M, |n, f, at| {
        match n {
            1 => record.time = want_fixed64(f, M, "time_unix_nano", n, at)?,
            2 => record.severity_number = want_varint(f, M, "severity_number", n, at)? as i64,
            3 => record.severity_text = want_string(f, M, "severity_text", n, at)?,
            5 => {
                let bytes = want_bytes(f, M, "body", n, at)?;
                record.body = Some(any_value(&fields.nested(bytes), 0)?);
            }
            6 => {
                let kv = want_bytes(f, M, "attributes", n, at)?;
                record.attributes.push(key_value(&fields.nested(kv), 0)?);
            }
            9 => record.trace_id = want_bytes(f, M, "trace_id", n, at)?.to_vec(),
            10 => record.span_id = want_bytes(f, M, "span_id", n, at)?.to_vec(),
            11 => record.observed_time = want_fixed64(f, M, "observed_time_unix_nano", n, at)?,
            12 => record.event_name = want_string(f, M, "event_name", n, at)?,
            _ => {}
        }
        Ok(())
    })?;
    for (name, id, len) in [
        ("trace_id", &record.trace_id, 16),
        ("span_id", &record.span_id, 8),
    ] {
        if !id.is_empty() && id.len() != len {
            return Err(format!(
                "LogRecord.{name} at byte {}: {} bytes, expected {len}",
                fields.offset(),
                id.len()
            ));
        }
    }
    Ok(record)
}

fn key_value(fields: &Fields<'_>, depth: usize) -> Result<(String, Any), String> {
    const M: &str = "KeyValue";
    let (mut key, mut value) = (String::new(), Any::Empty);
    walk(&mut fields.nested(fields.data()), M, |n, f, at| {
        match n {
            1 => key = want_string(f, M, "key", n, at)?,
            2 => value = any_value(&fields.nested(want_bytes(f, M, "value", n, at)?), depth)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((key, value))
}

/// The `repeated values = 1` messages of `list` (an `ArrayValue` or a `KeyValueList`), each
/// read by `item`.
fn values_of<'a, T>(
    list: &Fields<'a>,
    message: &str,
    mut item: impl FnMut(&Fields<'a>) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    walk(&mut list.nested(list.data()), message, |n, f, at| {
        if n == 1 {
            out.push(item(
                &list.nested(want_bytes(f, message, "values", n, at)?),
            )?);
        }
        Ok(())
    })?;
    Ok(out)
}

fn any_value(fields: &Fields<'_>, depth: usize) -> Result<Any, String> {
    const M: &str = "AnyValue";
    if depth > MAX_DEPTH {
        return Err(format!(
            "AnyValue at byte {}: nested deeper than {MAX_DEPTH}",
            fields.offset()
        ));
    }
    let mut value = Any::Empty;
    walk(&mut fields.nested(fields.data()), M, |n, f, at| {
        value = match n {
            1 => Any::String(want_string(f, M, "string_value", n, at)?),
            2 => Any::Bool(want_varint(f, M, "bool_value", n, at)? != 0),
            3 => Any::Int(want_varint(f, M, "int_value", n, at)? as i64),
            4 => Any::Double(f64::from_bits(want_fixed64(f, M, "double_value", n, at)?)),
            5 => {
                let list = fields.nested(want_bytes(f, M, "array_value", n, at)?);
                Any::Array(values_of(&list, "ArrayValue", |item| {
                    any_value(item, depth + 1)
                })?)
            }
            6 => {
                let list = fields.nested(want_bytes(f, M, "kvlist_value", n, at)?);
                Any::KvList(values_of(&list, "KeyValueList", |kv| {
                    key_value(kv, depth + 1)
                })?)
            }
            7 => Any::Bytes(base64(want_bytes(f, M, "bytes_value", n, at)?)),
            _ => return Ok(()),
        };
        Ok(())
    })?;
    Ok(value)
}

// ---- JSON ----

/// A member by its JSON name or its proto name; `null` counts as absent.
fn member<'a>(obj: &'a Map<String, Json>, camel: &str, snake: &str) -> Option<&'a Json> {
    obj.get(camel)
        .or_else(|| obj.get(snake))
        .filter(|v| !v.is_null())
}

fn object<'a>(json: &'a Json, path: &str) -> Result<&'a Map<String, Json>, String> {
    json.as_object()
        .ok_or_else(|| format!("`{path}`: expected an object, got {}", kind(json)))
}

fn array<'a>(
    obj: &'a Map<String, Json>,
    camel: &str,
    snake: &str,
    path: &str,
) -> Result<&'a [Json], String> {
    match member(obj, camel, snake) {
        None => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(other) => Err(format!(
            "`{}`: expected an array, got {}",
            join(path, camel),
            kind(other)
        )),
    }
}

/// `path.name`, or `name` at the top.
fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn string(obj: &Map<String, Json>, camel: &str, snake: &str, path: &str) -> Result<String, String> {
    match member(obj, camel, snake) {
        None => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "`{path}.{camel}`: expected a string, got {}",
            kind(other)
        )),
    }
}

/// A 64-bit integer, as a number or a decimal string.
fn integer(json: &Json, path: &str) -> Result<i128, String> {
    let parsed = match json {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Json::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    };
    parsed
        .filter(|v| (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(v))
        .ok_or_else(|| {
            format!("`{path}`: expected a 64-bit integer (number or string), got {json}")
        })
}

fn time(obj: &Map<String, Json>, camel: &str, snake: &str, path: &str) -> Result<u64, String> {
    match member(obj, camel, snake) {
        None => Ok(0),
        Some(json) => u64::try_from(integer(json, &format!("{path}.{camel}"))?)
            .map_err(|_| format!("`{path}.{camel}`: a time cannot be negative")),
    }
}

/// A hex trace or span id of `len` bytes.
fn hex_id(
    obj: &Map<String, Json>,
    camel: &str,
    snake: &str,
    len: usize,
    path: &str,
) -> Result<Vec<u8>, String> {
    let text = string(obj, camel, snake, path)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let bad = || {
        format!(
            "`{path}.{camel}`: expected {} hex digits, got {text:?}",
            len * 2
        )
    };
    if text.len() != len * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    (0..len)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad()))
        .collect()
}

fn decode_json(body: &[u8]) -> Result<Vec<Resource>, String> {
    let request: Json = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let request = object(&request, "ExportLogsServiceRequest")?;
    let mut resources = Vec::new();
    for (r, resource_logs) in array(request, "resourceLogs", "resource_logs", "")?
        .iter()
        .enumerate()
    {
        let path = format!("resourceLogs[{r}]");
        let resource_logs = object(resource_logs, &path)?;
        let attributes = match member(resource_logs, "resource", "resource") {
            Some(resource) => {
                let path = format!("{path}.resource");
                json_attributes(object(resource, &path)?, &path)?
            }
            None => Vec::new(),
        };
        let mut events = Vec::new();
        for (s, scope_logs) in array(resource_logs, "scopeLogs", "scope_logs", &path)?
            .iter()
            .enumerate()
        {
            let path = format!("{path}.scopeLogs[{s}]");
            let scope_logs = object(scope_logs, &path)?;
            let scope = match member(scope_logs, "scope", "scope") {
                Some(scope) => {
                    let path = format!("{path}.scope");
                    let obj = object(scope, &path)?;
                    Scope {
                        name: string(obj, "name", "name", &path)?,
                        version: string(obj, "version", "version", &path)?,
                        attributes: json_attributes(obj, &path)?,
                    }
                }
                None => Scope::default(),
            };
            for (l, record) in array(scope_logs, "logRecords", "log_records", &path)?
                .iter()
                .enumerate()
            {
                let path = format!("{path}.logRecords[{l}]");
                let record = json_record(object(record, &path)?, &path)?;
                events.push(record_event(&attributes, &scope, record));
            }
        }
        resources.push(Resource {
            index: resource_index(&attributes),
            events,
        });
    }
    Ok(resources)
}

fn json_record(obj: &Map<String, Json>, path: &str) -> Result<Record, String> {
    let severity_number = match member(obj, "severityNumber", "severity_number") {
        None => 0,
        Some(Json::String(name)) if name.starts_with("SEVERITY_NUMBER_") => severity_by_name(name)
            .ok_or_else(|| format!("`{path}.severityNumber`: unknown severity {name:?}"))?,
        Some(json) => {
            let n = integer(json, &format!("{path}.severityNumber"))?;
            i64::try_from(n).map_err(|_| format!("`{path}.severityNumber`: out of range"))?
        }
    };
    Ok(Record {
        time: time(obj, "timeUnixNano", "time_unix_nano", path)?,
        observed_time: time(obj, "observedTimeUnixNano", "observed_time_unix_nano", path)?,
        severity_number,
        severity_text: string(obj, "severityText", "severity_text", path)?,
        body: member(obj, "body", "body")
            .map(|b| json_any(b, &format!("{path}.body"), 0))
            .transpose()?,
        attributes: json_attributes(obj, path)?,
        trace_id: hex_id(obj, "traceId", "trace_id", 16, path)?,
        span_id: hex_id(obj, "spanId", "span_id", 8, path)?,
        event_name: string(obj, "eventName", "event_name", path)?,
    })
}

/// `SEVERITY_NUMBER_WARN3` → 15.
fn severity_by_name(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
    if rest == "UNSPECIFIED" {
        return Some(0);
    }
    let digits = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let base = match &rest[..rest.len() - digits.len()] {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" => 13,
        "ERROR" => 17,
        "FATAL" => 21,
        _ => return None,
    };
    let step = match digits {
        "" => 0,
        "2" => 1,
        "3" => 2,
        "4" => 3,
        _ => return None,
    };
    Some(base + step)
}

fn json_attributes(obj: &Map<String, Json>, path: &str) -> Result<Vec<(String, Any)>, String> {
    array(obj, "attributes", "attributes", path)?
        .iter()
        .enumerate()
        .map(|(i, kv)| json_key_value(kv, &format!("{path}.attributes[{i}]"), 0))
        .collect()
}

fn json_key_value(json: &Json, path: &str, depth: usize) -> Result<(String, Any), String> {
    let obj = object(json, path)?;
    let key = string(obj, "key", "key", path)?;
    let value = match member(obj, "value", "value") {
        Some(value) => json_any(value, &format!("{path}.value"), depth)?,
        None => Any::Empty,
    };
    Ok((key, value))
}

fn json_any(json: &Json, path: &str, depth: usize) -> Result<Any, String> {
    if depth > MAX_DEPTH {
        return Err(format!("`{path}`: nested deeper than {MAX_DEPTH}"));
    }
    let obj = object(json, path)?;
    let Some((name, value)) = obj.iter().find(|(_, v)| !v.is_null()) else {
        return Ok(Any::Empty);
    };
    let at = format!("{path}.{name}");
    let wrong = |want: &str| format!("`{at}`: expected {want}, got {}", kind(value));
    Ok(match name.as_str() {
        "stringValue" | "string_value" => {
            Any::String(value.as_str().ok_or_else(|| wrong("a string"))?.to_owned())
        }
        "boolValue" | "bool_value" => Any::Bool(value.as_bool().ok_or_else(|| wrong("a boolean"))?),
        "intValue" | "int_value" => Any::Int(
            i64::try_from(integer(value, &at)?).map_err(|_| format!("`{at}`: out of range"))?,
        ),
        "doubleValue" | "double_value" => Any::Double(match value {
            Json::Number(n) => n.as_f64().ok_or_else(|| wrong("a number"))?,
            // "NaN", "Infinity" and decimal strings, as protobuf JSON allows.
            Json::String(s) => s.parse().map_err(|_| wrong("a number"))?,
            _ => return Err(wrong("a number")),
        }),
        "bytesValue" | "bytes_value" => Any::Bytes(
            value
                .as_str()
                .ok_or_else(|| wrong("base64 text"))?
                .to_owned(),
        ),
        "arrayValue" | "array_value" => {
            let obj = object(value, &at)?;
            Any::Array(
                array(obj, "values", "values", &at)?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json_any(v, &format!("{at}.values[{i}]"), depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        "kvlistValue" | "kvlist_value" => {
            let obj = object(value, &at)?;
            Any::KvList(
                array(obj, "values", "values", &at)?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json_key_value(v, &format!("{at}.values[{i}]"), depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        other => {
            return Err(format!(
                "`{path}`: unknown AnyValue member {other:?} (expected stringValue, boolValue, \
                 intValue, doubleValue, bytesValue, arrayValue or kvlistValue)"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::write;

    fn kv(key: &str, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write::bytes(&mut out, 1, key.as_bytes());
        write::bytes(&mut out, 2, value);
        out
    }

    fn any_string(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write::bytes(&mut out, 1, s.as_bytes());
        out
    }

    /// Every AnyValue kind, as attributes of one record, and a kvlist body.
    fn protobuf_request() -> Vec<u8> {
        let mut resource = Vec::new();
        for (k, v) in [
            ("service.name", "checkout"),
            ("host.name", "web-1"),
            ("deployment.environment", "prod"),
        ] {
            write::bytes(&mut resource, 1, &kv(k, &any_string(v)));
        }
        let mut scope = Vec::new();
        write::bytes(&mut scope, 1, b"com.shop.cart");
        write::bytes(&mut scope, 2, b"1.2.3");

        let mut attrs: Vec<Vec<u8>> = Vec::new();
        let mut v = Vec::new();
        write::uint(&mut v, 2, 1);
        attrs.push(kv("retry", &v));
        let mut v = Vec::new();
        write::uint(&mut v, 3, (-42i64) as u64);
        attrs.push(kv("delta", &v));
        let mut v = Vec::new();
        write::fixed64(&mut v, 4, 0.25f64.to_bits());
        attrs.push(kv("ratio", &v));
        let mut v = Vec::new();
        write::bytes(&mut v, 7, b"\x00\xffab");
        attrs.push(kv("blob", &v));
        let mut items = Vec::new();
        write::bytes(&mut items, 1, &any_string("a"));
        let mut int = Vec::new();
        write::uint(&mut int, 3, 7);
        write::bytes(&mut items, 1, &int);
        let mut v = Vec::new();
        write::bytes(&mut v, 5, &items);
        attrs.push(kv("tags", &v));
        let mut inner = Vec::new();
        let mut status = Vec::new();
        write::uint(&mut status, 3, 503);
        write::bytes(&mut inner, 1, &kv("status", &status));
        write::bytes(&mut inner, 1, &kv("method", &any_string("GET")));
        let mut v = Vec::new();
        write::bytes(&mut v, 6, &inner);
        attrs.push(kv("http", &v));
        attrs.push(kv("nothing", &[]));

        let mut record = Vec::new();
        write::fixed64(&mut record, 1, 1_700_000_000_123_456_789);
        write::uint(&mut record, 2, 13);
        write::bytes(&mut record, 3, b"warning");
        write::bytes(&mut record, 5, &any_string("payment declined"));
        for a in &attrs {
            write::bytes(&mut record, 6, a);
        }
        write::bytes(&mut record, 9, &[0xAB; 16]);
        write::bytes(&mut record, 10, &[1, 2, 3, 4, 5, 6, 7, 8]);
        write::fixed64(&mut record, 11, 1_800_000_000_000_000_000);

        // Only an observed time, a kvlist body, no severity number.
        let mut second = Vec::new();
        write::fixed64(&mut second, 11, 1_700_000_001_000_000_000);
        write::bytes(&mut second, 3, b"crit");
        let mut body = Vec::new();
        write::bytes(&mut body, 6, &inner);
        write::bytes(&mut second, 5, &body);
        write::bytes(&mut second, 9, &[0; 16]);

        let mut scope_logs = Vec::new();
        write::bytes(&mut scope_logs, 1, &scope);
        write::bytes(&mut scope_logs, 2, &record);
        write::bytes(&mut scope_logs, 2, &second);
        let mut resource_logs = Vec::new();
        write::bytes(&mut resource_logs, 1, &resource);
        write::bytes(&mut resource_logs, 2, &scope_logs);
        let mut request = Vec::new();
        write::bytes(&mut request, 1, &resource_logs);
        request
    }

    fn only(resources: Vec<Resource>) -> Vec<Event> {
        assert_eq!(resources.len(), 1);
        resources.into_iter().next().unwrap().events
    }

    fn get<'a>(event: &'a Event, name: &str) -> Option<&'a Value> {
        event.fields.get(name)
    }

    /// What both encodings of the same records must give.
    fn check_events(events: &[Event]) {
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert_eq!(e.message, "payment declined");
        assert_eq!(e.timestamp, 1_700_000_000_123_456_789);
        assert_eq!(get(e, "level"), Some(&"WARN".into()));
        assert_eq!(get(e, "service"), Some(&"checkout".into()));
        assert_eq!(get(e, "host"), Some(&"web-1".into()));
        assert_eq!(get(e, "service.name"), None);
        assert_eq!(get(e, "deployment.environment"), Some(&"prod".into()));
        assert_eq!(get(e, "scope.name"), Some(&"com.shop.cart".into()));
        assert_eq!(get(e, "scope.version"), Some(&"1.2.3".into()));
        assert_eq!(get(e, "retry"), Some(&Value::Bool(true)));
        assert_eq!(get(e, "delta"), Some(&Value::Int(-42)));
        assert_eq!(get(e, "ratio"), Some(&Value::Float(0.25)));
        assert_eq!(get(e, "blob"), Some(&"AP9hYg==".into()));
        assert_eq!(get(e, "tags"), Some(&r#"["a",7]"#.into()));
        assert_eq!(get(e, "http.status"), Some(&Value::Int(503)));
        assert_eq!(get(e, "http.method"), Some(&"GET".into()));
        assert_eq!(get(e, "nothing"), Some(&Value::Null));
        assert_eq!(get(e, "trace_id"), Some(&"ab".repeat(16).into()));
        assert_eq!(get(e, "span_id"), Some(&"0102030405060708".into()));
        let e = &events[1];
        assert_eq!(e.message, r#"{"status":503,"method":"GET"}"#);
        assert_eq!(e.timestamp, 1_700_000_001_000_000_000);
        assert_eq!(get(e, "level"), Some(&"FATAL".into()));
        assert_eq!(get(e, "trace_id"), None, "an all-zero id is no id");
        assert_eq!(get(e, "scope.name"), Some(&"com.shop.cart".into()));
    }

    #[test]
    fn protobuf_records_become_events_with_every_value_kind() {
        check_events(&only(decode_protobuf(&protobuf_request()).unwrap()));
    }

    const JSON_REQUEST: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"checkout"}},
        {"key":"host.name","value":{"stringValue":"web-1"}},
        {"key":"deployment.environment","value":{"stringValue":"prod"}}]},
      "scopeLogs":[{"scope":{"name":"com.shop.cart","version":"1.2.3"},"logRecords":[
        {"timeUnixNano":"1700000000123456789","observedTimeUnixNano":1800000000000000000,
         "severityNumber":"SEVERITY_NUMBER_WARN","severityText":"warning",
         "body":{"stringValue":"payment declined"},
         "attributes":[
           {"key":"retry","value":{"boolValue":true}},
           {"key":"delta","value":{"intValue":"-42"}},
           {"key":"ratio","value":{"doubleValue":0.25}},
           {"key":"blob","value":{"bytesValue":"AP9hYg=="}},
           {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":7}]}}},
           {"key":"http","value":{"kvlistValue":{"values":[
             {"key":"status","value":{"intValue":503}},
             {"key":"method","value":{"stringValue":"GET"}}]}}},
           {"key":"nothing","value":{}}],
         "traceId":"ABABABABABABABABABABABABABABABAB","spanId":"0102030405060708"},
        {"observed_time_unix_nano":"1700000001000000000","severityText":"crit",
         "body":{"kvlistValue":{"values":[
             {"key":"status","value":{"intValue":"503"}},
             {"key":"method","value":{"stringValue":"GET"}}]}},
         "traceId":"00000000000000000000000000000000"}]}]}]}"#;

    #[test]
    fn json_records_become_the_same_events() {
        check_events(&only(decode_json(JSON_REQUEST.as_bytes()).unwrap()));
    }

    #[test]
    fn severities_map_to_levels() {
        let cases = [
            (1, "", Some("TRACE")),
            (8, "", Some("DEBUG")),
            (9, "", Some("INFO")),
            (16, "whatever", Some("WARN")),
            (17, "", Some("ERROR")),
            (24, "", Some("FATAL")),
            (0, "notice", Some("INFO")),
            (0, "Verbose-ish", Some("Verbose-ish")),
            (0, "", None),
            (99, "", None),
        ];
        for (number, text, want) in cases {
            let record = Record {
                severity_number: number,
                severity_text: text.into(),
                ..Record::default()
            };
            let event = record_event(&[], &Scope::default(), record);
            assert_eq!(
                event.fields.get("level").and_then(Value::as_str),
                want,
                "{number} {text:?}"
            );
        }
        assert_eq!(severity_by_name("SEVERITY_NUMBER_ERROR3"), Some(19));
        assert_eq!(severity_by_name("SEVERITY_NUMBER_UNSPECIFIED"), Some(0));
        assert_eq!(severity_by_name("SEVERITY_NUMBER_LOUD"), None);
    }

    #[test]
    fn protobuf_errors_name_the_field_and_offset() {
        let mut record = Vec::new();
        write::uint(&mut record, 1, 5); // a varint where a fixed64 belongs
        let mut scope_logs = Vec::new();
        write::bytes(&mut scope_logs, 2, &record);
        let mut resource_logs = Vec::new();
        write::bytes(&mut resource_logs, 2, &scope_logs);
        let mut request = Vec::new();
        write::bytes(&mut request, 1, &resource_logs);
        let error = decode_protobuf(&request).unwrap_err();
        assert_eq!(
            error,
            "LogRecord.time_unix_nano (field 1) at byte 6: expected a fixed64"
        );

        let mut cut = protobuf_request();
        cut.truncate(cut.len() - 5);
        let error = decode_protobuf(&cut).unwrap_err();
        assert!(error.contains("invalid protobuf at byte"), "{error}");

        let mut record = Vec::new();
        write::bytes(&mut record, 9, &[1, 2, 3]);
        let mut scope_logs = Vec::new();
        write::bytes(&mut scope_logs, 2, &record);
        let mut resource_logs = Vec::new();
        write::bytes(&mut resource_logs, 2, &scope_logs);
        let mut request = Vec::new();
        write::bytes(&mut request, 1, &resource_logs);
        let error = decode_protobuf(&request).unwrap_err();
        assert!(
            error.starts_with("LogRecord.trace_id") && error.contains("3 bytes, expected 16"),
            "{error}"
        );
    }

    #[test]
    fn json_errors_name_the_path() {
        let cases = [
            (r#"{"resourceLogs":{}}"#, "`resourceLogs`: expected an array"),
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}"#,
                "`resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano`: expected a 64-bit integer",
            ),
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"traceId":"xyz"}]}]}]}"#,
                "`resourceLogs[0].scopeLogs[0].logRecords[1].traceId`: expected 32 hex digits",
            ),
            (
                r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"a","value":{"intValue":true}}]}}]}"#,
                "`resourceLogs[0].resource.attributes[0].value.intValue`: expected a 64-bit integer",
            ),
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"textValue":"x"}}]}]}]}"#,
                "unknown AnyValue member \"textValue\"",
            ),
            ("{oops", "invalid JSON"),
        ];
        for (body, want) in cases {
            let error = decode_json(body.as_bytes()).unwrap_err();
            assert!(error.contains(want), "{body}: {error}");
        }
    }

    #[test]
    fn the_index_comes_from_the_query_the_resource_or_the_default() {
        let json = r#"{"resourceLogs":[
            {"resource":{"attributes":[{"key":"sluice.index","value":{"stringValue":"payments"}}]},
             "scopeLogs":[{"logRecords":[{"body":{"stringValue":"a"}}]}]},
            {"scopeLogs":[{"logRecords":[{"body":{"stringValue":"b"}}]}]},
            {"resource":{"attributes":[{"key":"sluice.index","value":{"stringValue":"payments"}}]},
             "scopeLogs":[{"logRecords":[{"body":{"stringValue":"c"}}]}]}]}"#;
        let batches = by_index(decode_json(json.as_bytes()).unwrap(), None).unwrap();
        let summary: Vec<(&str, Vec<&str>)> = batches
            .iter()
            .map(|(i, e)| (i.as_str(), e.iter().map(|e| e.message.as_str()).collect()))
            .collect();
        assert_eq!(summary, [("payments", vec!["a", "c"]), ("otel", vec!["b"])]);
        assert!(batches[0].1[0].fields.get(INDEX_ATTRIBUTE).is_none());
        let batches = by_index(decode_json(json.as_bytes()).unwrap(), Some("all")).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].1.len(), 3);
        let bad = json.replace("payments", "Bad Name");
        let error = by_index(decode_json(bad.as_bytes()).unwrap(), None).unwrap_err();
        assert!(error.message.contains("sluice.index"), "{}", error.message);
    }

    #[test]
    fn base64_and_status_encode() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        let status = rpc_status(StatusCode::BAD_REQUEST, "bad");
        let fields: Vec<_> = Fields::new(&status).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields, [(1, Field::Varint(3)), (2, Field::Bytes(b"bad"))]);
    }
}
