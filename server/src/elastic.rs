//! The subset of the Elasticsearch API that log shippers speak, so that
//! Filebeat, Fluent Bit, Vector, Logstash and the Elasticsearch client
//! libraries write to Sluice unchanged:
//!
//! - `GET /` (and `HEAD /`): the cluster info they probe first, announcing
//!   an 8.x version;
//! - `POST|PUT /_bulk` and `/{index}/_bulk`: `index` and `create` actions
//!   append their documents to the index named by `_index` (or the path);
//!   the answer has Elasticsearch's per-item shape and is sent once the
//!   index's WAL holds the documents. `update` and `delete` get a per-item
//!   400: indexes here are append-only;
//! - the set-up calls shippers make before writing (`GET /_license`, and
//!   index templates, ILM policies and ingest pipelines, which are taken and
//!   ignored) so they proceed.
//!
//! Every answer carries `X-Elastic-Product: Elasticsearch`, which the
//! official clients check. `@timestamp` becomes the event time.
//!
//! With a token file, a `_bulk` item whose index the token may not write
//! gets a per-item 403 `security_exception`, as Elasticsearch reports it
//! (shippers drop such items instead of retrying the whole request, and
//! the other items are written); `/{index}/_doc` answers a whole 403.

use super::auth::{authorize, Principal, Scope};
use super::{blocking, json_event, store_of, Failure, Shared};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value as Json};
use sluice_event::Event;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The version announced to clients: they pick their protocol by it.
pub const VERSION: &str = "8.11.0";

/// `GET /`.
pub fn info() -> Json {
    json!({
        "name": "sluice",
        "cluster_name": "sluice",
        "cluster_uuid": "c1u5te5-s1u1ce",
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "sluice",
            "build_hash": env!("CARGO_PKG_VERSION"),
            "build_date": "2026-01-01T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    })
}

/// `GET /_license`: Logstash checks it before writing.
pub fn license() -> Json {
    json!({
        "license": {
            "status": "active",
            "uid": "sluice",
            "type": "basic",
            "issue_date_in_millis": 0,
            "max_nodes": 1000,
            "issued_to": "sluice",
            "issuer": "sluice",
            "start_date_in_millis": -1
        }
    })
}

/// Whether `path` is a set-up resource that shippers create before writing
/// (templates, ILM policies, ingest pipelines): taken and ignored.
pub fn is_setup_path(path: &str) -> bool {
    [
        "/_index_template/",
        "/_template/",
        "/_component_template/",
        "/_ilm/policy/",
        "/_ingest/pipeline/",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
}

/// An error in Elasticsearch's shape.
pub fn error_body(status: StatusCode, kind: &str, reason: &str) -> Json {
    json!({
        "error": {
            "root_cause": [{ "type": kind, "reason": reason }],
            "type": kind,
            "reason": reason
        },
        "status": status.as_u16()
    })
}

/// One bulk item's outcome, in request order.
struct Item {
    action: &'static str,
    index: String,
    id: String,
    /// `Ok(seq)` once appended, or the status and error.
    result: Result<u64, (StatusCode, &'static str, String)>,
}

impl Item {
    fn to_json(&self) -> Json {
        let mut body = json!({ "_index": self.index, "_id": self.id });
        match &self.result {
            Ok(seq) => {
                body["_version"] = json!(1);
                body["result"] = json!("created");
                body["_shards"] = json!({ "total": 1, "successful": 1, "failed": 0 });
                body["_seq_no"] = json!(seq);
                body["_primary_term"] = json!(1);
                body["status"] = json!(201);
            }
            Err((status, kind, reason)) => {
                body["status"] = json!(status.as_u16());
                body["error"] = json!({ "type": kind, "reason": reason });
            }
        }
        json!({ self.action: body })
    }
}

/// A document id for an action that gave none, unique in this process
/// and unlikely to repeat across restarts.
fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{n:06x}", sluice_event::now_ns() / 1_000_000)
}

/// Answers a request to an Elasticsearch path (see [`is_elastic_path`]),
/// errors included, in Elasticsearch's shapes.
pub async fn route(req: Request<Incoming>, path: &str, shared: &Shared) -> (StatusCode, Json) {
    let method = req.method().clone();
    let principal = Principal::of(&req);
    let result = match (&method, path) {
        (&Method::GET | &Method::HEAD, "/") => Ok(info()),
        (&Method::GET, "/_license") => Ok(license()),
        (&Method::PUT | &Method::POST, p) if is_setup_path(p) => {
            Ok(json!({ "acknowledged": true }))
        }
        (&Method::GET | &Method::HEAD, p) if is_setup_path(p) => {
            return (
                StatusCode::NOT_FOUND,
                error_body(
                    StatusCode::NOT_FOUND,
                    "resource_not_found_exception",
                    &format!("{p} does not exist (sluice takes and ignores set-up resources)"),
                ),
            )
        }
        (&Method::POST | &Method::PUT, p) if p.ends_with("/_bulk") => {
            let index = p
                .trim_start_matches('/')
                .trim_end_matches("_bulk")
                .trim_end_matches('/');
            let index = (!index.is_empty()).then(|| super::percent_decode(index));
            match super::read_body(req, &shared.options).await {
                Ok(body) => bulk(body, index, &principal, shared).await,
                Err(failure) => Err(failure),
            }
        }
        (&Method::POST | &Method::PUT, p) if single_document(p).is_some() => {
            let (index, action, id) = single_document(p).expect("checked by the guard");
            match authorize(&principal, Scope::Ingest, &index) {
                Err(failure) => Err(failure),
                Ok(()) => match super::read_body(req, &shared.options).await {
                    Ok(document) => one(index, action, id, &document, &principal, shared).await,
                    Err(failure) => Err(failure),
                },
            }
        }
        _ => Err(Failure {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{method} is not allowed on {path}"),
            column: None,
        }),
    };
    match result {
        Ok(body) if single_document(path).is_some() => (StatusCode::CREATED, body),
        Ok(body) => (StatusCode::OK, body),
        Err(failure) => {
            let kind = match failure.status {
                StatusCode::PAYLOAD_TOO_LARGE => "content_too_long_exception",
                StatusCode::FORBIDDEN => "security_exception",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed_exception",
                s if s.is_server_error() => "unavailable_shards_exception",
                _ => "illegal_argument_exception",
            };
            (
                failure.status,
                error_body(failure.status, kind, &failure.message),
            )
        }
    }
}

/// Whether `path` belongs to the Elasticsearch API.
pub fn is_elastic_path(path: &str) -> bool {
    path == "/"
        || path == "/_license"
        || path.ends_with("/_bulk")
        || is_setup_path(path)
        || single_document(path).is_some()
}

/// `/{index}/_doc`, `/{index}/_doc/{id}`, `/{index}/_create/{id}`: the
/// index, the bulk action, and the id.
fn single_document(path: &str) -> Option<(String, &'static str, Option<String>)> {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let index = parts
        .next()
        .filter(|i| !i.is_empty() && !i.starts_with('_'))?;
    let action = match parts.next()? {
        "_doc" => "index",
        "_create" => "create",
        _ => return None,
    };
    let id = parts
        .next()
        .filter(|id| !id.is_empty())
        .map(super::percent_decode);
    if action == "create" && id.is_none() {
        return None;
    }
    Some((super::percent_decode(index), action, id))
}

/// One document, as a bulk of one: its item's answer, or its error.
async fn one(
    index: String,
    action: &'static str,
    id: Option<String>,
    document: &[u8],
    principal: &Principal,
    shared: &Shared,
) -> Result<Json, Failure> {
    let mut meta = json!({ "_index": index });
    if let Some(id) = id {
        meta["_id"] = json!(id);
    }
    let mut body = json!({ action: meta }).to_string().into_bytes();
    body.push(b'\n');
    body.extend(document.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
    body.push(b'\n');
    let answer = bulk(Bytes::from(body), None, principal, shared).await?;
    let item = answer["items"][0][action].clone();
    match item["status"].as_u64() {
        Some(201) => Ok(item),
        status => Err(Failure {
            status: status
                .and_then(|s| StatusCode::from_u16(s as u16).ok())
                .unwrap_or(StatusCode::BAD_REQUEST),
            message: item["error"]["reason"]
                .as_str()
                .unwrap_or("failed")
                .to_owned(),
            column: None,
        }),
    }
}

/// `POST /_bulk`, `POST /{index}/_bulk`: the answer's JSON, or a failure of
/// the whole request (a malformed action line, as Elasticsearch does).
pub async fn bulk(
    body: Bytes,
    path_index: Option<String>,
    principal: &Principal,
    shared: &Shared,
) -> Result<Json, Failure> {
    let started = Instant::now();
    let store = store_of(shared)?;
    let mut items: Vec<Item> = Vec::new();
    // Per index, the events and the item each one answers.
    let mut appends: BTreeMap<String, (Vec<Event>, Vec<usize>)> = BTreeMap::new();
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.trim_ascii().is_empty());
    while let Some((number, line)) = lines.next() {
        let malformed = |reason: String| Failure {
            status: StatusCode::BAD_REQUEST,
            message: format!("line {}: {reason}", number + 1),
            column: None,
        };
        let action: Json = serde_json::from_slice(line)
            .map_err(|e| malformed(format!("the action is not JSON: {e}")))?;
        let (name, meta) = action
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
            .ok_or_else(|| {
                malformed(
                    "an action is an object with one key: index, create, update or delete".into(),
                )
            })?;
        let action: &'static str = match name.as_str() {
            "index" => "index",
            "create" => "create",
            "update" => "update",
            "delete" => "delete",
            other => return Err(malformed(format!("unknown action [{other}]"))),
        };
        let index = meta
            .get("_index")
            .and_then(Json::as_str)
            .map(str::to_owned)
            .or_else(|| path_index.clone());
        let given_id = meta.get("_id").map(|id| match id {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        });
        let source =
            match action {
                "delete" => None,
                _ => Some(lines.next().map(|(_, l)| l).ok_or_else(|| {
                    malformed(format!("the {action} action has no document line"))
                })?),
            };
        let mut item = Item {
            action,
            index: index.clone().unwrap_or_default(),
            id: given_id.clone().unwrap_or_else(new_id),
            result: Ok(0),
        };
        let Some(index) = index else {
            item.result = Err((
                StatusCode::BAD_REQUEST,
                "action_request_validation_exception",
                "index is missing: give `_index` or POST to /{index}/_bulk".into(),
            ));
            items.push(item);
            continue;
        };
        if let Err(error) = sluice_store::validate_index_name(&index) {
            item.result = Err((
                StatusCode::BAD_REQUEST,
                "invalid_index_name_exception",
                error.to_string(),
            ));
            items.push(item);
            continue;
        }
        if let Err(denied) = principal.check(Scope::Ingest, &index) {
            item.result = Err((StatusCode::FORBIDDEN, "security_exception", denied.message));
            items.push(item);
            continue;
        }
        if matches!(action, "update" | "delete") {
            item.result = Err((
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                format!("sluice indexes are append-only: [{action}] is not supported"),
            ));
            items.push(item);
            continue;
        }
        let document = source.expect("index and create have a document line");
        match serde_json::from_slice::<Json>(document) {
            Ok(json) if json.is_object() => {
                let mut event = json_event(&json, document);
                if let Some(id) = &given_id {
                    event.fields.insert("_id", id.as_str());
                }
                let (events, answers) = appends.entry(index).or_default();
                events.push(event);
                answers.push(items.len());
            }
            Ok(_) => {
                item.result = Err((
                    StatusCode::BAD_REQUEST,
                    "mapper_parsing_exception",
                    "the document is not a JSON object".into(),
                ))
            }
            Err(error) => {
                item.result = Err((
                    StatusCode::BAD_REQUEST,
                    "mapper_parsing_exception",
                    format!("failed to parse the document: {error}"),
                ))
            }
        }
        items.push(item);
    }
    for (index, (events, answers)) in appends {
        let store = store.clone();
        let appended = {
            let index = index.clone();
            blocking(move || store.append(&index, &events)).await
        };
        for at in answers {
            items[at].result = match &appended {
                Ok(_) => Ok(at as u64),
                Err(failure) => Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable_shards_exception",
                    failure.message.clone(),
                )),
            };
        }
    }
    Ok(json!({
        "took": started.elapsed().as_millis() as u64,
        "errors": items.iter().any(|i| i.result.is_err()),
        "items": items.iter().map(Item::to_json).collect::<Vec<_>>(),
    }))
}
