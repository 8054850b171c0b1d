//! Who may call the API: bearer tokens with scopes and index allow-lists,
//! read from a TOML token file, and a limit on each token's requests in
//! flight.
//!
//! ```toml
//! [[tokens]]
//! name = "shipper"                 # shown in logs and in 403 answers
//! token_sha256 = "<hex sha256>"    # or `token = "<the token>"`
//! scopes = ["ingest"]              # ingest, read, admin (admin implies all)
//! indexes = ["app-*", "logs"]      # globs (`*`, `?`); absent = every index
//! max_concurrency = 8              # requests in flight; absent = no limit
//! ```
//!
//! Without a token file the API is open. With one, every request but
//! `/health` and `/ready` needs credentials: `Authorization: Bearer <token>`,
//! `Basic base64(any-user:<token>)` (what Filebeat, Logstash, Fluent Bit and
//! Promtail send), or Elasticsearch's `ApiKey base64(id:<token>)`.
//!
//! Checks happen in two places. [`admit`] runs before routing: it finds the
//! token (401), checks the scope the path needs ([`scope_for`], 403) and
//! takes a slot of the token's concurrency limit (429). The handler then
//! checks each index it touches with [`authorize`] (403), since only it
//! knows the index (query, path, header, or one per `_bulk` item).

use super::{respond, Failure};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use toml::Spanned;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Write events: `/api/v1/ingest`, Elasticsearch `_bulk`/`_doc`, Loki
    /// push, OTLP `/v1/logs`.
    Ingest,
    /// Read events: search, context, fields, tail, `/metrics`.
    Read,
    /// Manage the process (`/api/v1/pipelines`, `/api/v1/plugins`, and any
    /// endpoint not listed in [`scope_for`]); implies the other two.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Option<Scope> {
        match text {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The verb of a 403 message: "may not {verb} index x".
    fn verb(self) -> &'static str {
        match self {
            Scope::Ingest => "write to",
            Scope::Read => "read",
            Scope::Admin => "administer",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope a request needs, by method and path; `None` for the open
/// endpoints (`/health`, `/ready`). Anything not listed needs `admin`, so
/// an endpoint added without a line here is closed rather than open.
pub fn scope_for(method: &Method, path: &str) -> Option<Scope> {
    let api = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    Some(match path {
        "/health" | "/ready" | "/api/v1/openapi.json" => return None,
        "/api/v1/ingest" | "/loki/api/v1/push" | "/v1/logs" => Scope::Ingest,
        "/api/v1/search" | "/api/v1/fields" | "/api/v1/indexes" | "/api/v1/tail" | "/metrics" => {
            Scope::Read
        }
        _ if api("/api/v1/context") => Scope::Read,
        _ if api("/api/v1/alerts") && *method == Method::GET => Scope::Read,
        // Shippers probe `GET /` and `/_license` and put templates before
        // they write; none of it reveals events.
        _ if super::elastic::is_elastic_path(path) => Scope::Ingest,
        _ => Scope::Admin,
    })
}

/// A token file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the token file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    tokens: Vec<Spanned<TokenSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSpec {
    name: Spanned<String>,
    token: Option<Spanned<String>>,
    token_sha256: Option<Spanned<String>>,
    scopes: Spanned<Vec<Spanned<String>>>,
    indexes: Option<Vec<Spanned<String>>>,
    max_concurrency: Option<Spanned<usize>>,
}

/// One configured token.
#[derive(Clone)]
struct Token {
    name: String,
    digest: [u8; 32],
    scopes: HashSet<Scope>,
    /// Index globs; `None` is every index.
    indexes: Option<Vec<String>>,
    max_concurrency: Option<usize>,
    in_flight: Option<Arc<Semaphore>>,
}

impl Token {
    fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    fn may_touch(&self, index: &str) -> bool {
        self.indexes
            .as_ref()
            .is_none_or(|globs| globs.iter().any(|g| glob_match(g, index)))
    }
}

/// The tokens of a token file. [`Auth::reload`] swaps in the file's current
/// tokens (on SIGHUP, see [`crate::serve`]); requests in flight keep the token
/// they were admitted with.
pub struct Auth {
    file: PathBuf,
    tokens: RwLock<Arc<Vec<Arc<Token>>>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: never the digests.
        f.debug_struct("Auth")
            .field("file", &self.file)
            .field(
                "tokens",
                &self
                    .tokens()
                    .iter()
                    .map(|t| t.name.clone())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The lowest length of a `token` given in clear.
pub const MIN_TOKEN_LEN: usize = 16;

impl Auth {
    /// Reads and checks a token file.
    pub fn load(file: &Path) -> Result<Auth, AuthError> {
        let text = std::fs::read_to_string(file).map_err(|source| AuthError::Read {
            file: file.to_owned(),
            source,
        })?;
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(file) {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o004 != 0 && text.contains("token =") {
                tracing::warn!(
                    file = %file.display(),
                    "the token file holds tokens in clear and anyone can read it; \
                     chmod 600 it, or give token_sha256 instead"
                );
            }
        }
        Auth::parse(file, &text)
    }

    /// Parses token-file text as if read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Auth, AuthError> {
        let invalid = |span: Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            AuthError::Invalid {
                file: file.to_owned(),
                line,
                column,
                message,
            }
        };
        let spec: FileSpec = toml::from_str(text)
            .map_err(|e| invalid(e.span().unwrap_or(0..0), e.message().trim().to_owned()))?;
        if spec.tokens.is_empty() {
            return Err(invalid(
                0..0,
                "no [[tokens]]: every request would be refused; add one or leave auth unset".into(),
            ));
        }
        let mut tokens = Vec::new();
        let mut names = HashSet::new();
        let mut digests = HashSet::new();
        for entry in spec.tokens {
            let span = entry.span();
            let t = entry.into_inner();
            let name = t.name.get_ref().trim().to_owned();
            if name.is_empty() {
                return Err(invalid(t.name.span(), "`name` is empty".into()));
            }
            if !names.insert(name.clone()) {
                return Err(invalid(
                    t.name.span(),
                    format!("two tokens are named {name:?}"),
                ));
            }
            let digest = match (&t.token, &t.token_sha256) {
                (Some(clear), None) => {
                    if clear.get_ref().len() < MIN_TOKEN_LEN {
                        return Err(invalid(
                            clear.span(),
                            format!(
                                "token {name:?} is shorter than {MIN_TOKEN_LEN} characters; \
                                 use a random one (e.g. `openssl rand -hex 32`)"
                            ),
                        ));
                    }
                    sha256(clear.get_ref().as_bytes())
                }
                (None, Some(hex)) => parse_digest(hex.get_ref()).ok_or_else(|| {
                    invalid(
                        hex.span(),
                        format!("token_sha256 of {name:?} is not 64 hexadecimal digits"),
                    )
                })?,
                _ => {
                    return Err(invalid(
                        span,
                        format!("token {name:?} needs exactly one of `token` and `token_sha256`"),
                    ))
                }
            };
            if !digests.insert(digest) {
                return Err(invalid(
                    span,
                    format!("token {name:?} has the same secret as another token"),
                ));
            }
            let mut scopes = HashSet::new();
            for scope in t.scopes.get_ref() {
                scopes.insert(Scope::parse(scope.get_ref()).ok_or_else(|| {
                    invalid(
                        scope.span(),
                        format!(
                            "unknown scope {:?}; expected ingest, read or admin",
                            scope.get_ref()
                        ),
                    )
                })?);
            }
            if scopes.is_empty() {
                return Err(invalid(
                    t.scopes.span(),
                    format!("token {name:?} has no scopes"),
                ));
            }
            let indexes = match t.indexes {
                None => None,
                Some(globs) => Some(
                    globs
                        .into_iter()
                        .map(|g| {
                            let ok = !g.get_ref().is_empty()
                                && g.get_ref().bytes().all(|b| {
                                    b.is_ascii_lowercase()
                                        || b.is_ascii_digit()
                                        || matches!(b, b'_' | b'-' | b'.' | b'*' | b'?')
                                });
                            if ok {
                                Ok(g.into_inner())
                            } else {
                                Err(invalid(
                                    g.span(),
                                    format!(
                                        "index pattern {:?}: use index-name characters \
                                         (a-z, 0-9, '_', '-', '.') and the wildcards * and ?",
                                        g.get_ref()
                                    ),
                                ))
                            }
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            let max_concurrency = match t.max_concurrency {
                Some(n) if *n.get_ref() == 0 => {
                    return Err(invalid(
                        n.span(),
                        "max_concurrency must be at least 1 (leave it out for no limit)".into(),
                    ))
                }
                n => n.map(Spanned::into_inner),
            };
            tokens.push(Arc::new(Token {
                name,
                digest,
                scopes,
                indexes,
                max_concurrency,
                in_flight: max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
            }));
        }
        Ok(Auth {
            file: file.to_owned(),
            tokens: RwLock::new(Arc::new(tokens)),
        })
    }

    /// The file the tokens came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    fn tokens(&self) -> Arc<Vec<Arc<Token>>> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the token file again and, if it is valid, serves its tokens from
    /// now on: added ones work, removed ones get 401, changed scopes and
    /// indexes apply to the next request. A token kept with the same name and
    /// `max_concurrency` keeps its requests in flight counted. An invalid file
    /// changes nothing (the error says why). Returns the number of tokens.
    pub fn reload(&self) -> Result<usize, AuthError> {
        let fresh = Auth::load(&self.file)?.tokens();
        let old = self.tokens();
        let tokens: Vec<Arc<Token>> = fresh
            .iter()
            .map(|t| {
                let same = old
                    .iter()
                    .find(|o| o.name == t.name && o.max_concurrency == t.max_concurrency);
                match same {
                    Some(o) => Arc::new(Token {
                        in_flight: o.in_flight.clone(),
                        ..Token::clone(t)
                    }),
                    None => t.clone(),
                }
            })
            .collect();
        let n = tokens.len();
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tokens);
        Ok(n)
    }

    /// The token whose secret is `presented`. Every token is compared, each
    /// in constant time, so the answer's timing says nothing about which
    /// (or how much of one) matched.
    fn find(&self, presented: &[u8]) -> Option<Arc<Token>> {
        let digest = sha256(presented);
        let mut found = None;
        for token in self.tokens().iter() {
            if bool::from(token.digest[..].ct_eq(&digest[..])) {
                found = Some(token.clone());
            }
        }
        found
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and
/// `?` any one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and the name position it is trying.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Why a request was refused (403).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub token: String,
    pub scope: Scope,
    /// The index, when the token has the scope but not for that index.
    pub index: Option<String>,
    pub message: String,
}

/// Who is calling, for the length of one request. Cloning shares it, and
/// the token's concurrency slot is held until the last clone is dropped:
/// a handler that keeps working after it answers (a WebSocket tail) keeps
/// a clone for as long as it runs.
#[derive(Clone)]
pub struct Principal(Arc<Inner>);

struct Inner {
    who: Who,
    _slot: Option<OwnedSemaphorePermit>,
    /// The last refusal by [`authorize`], which the answer reports.
    denied: Mutex<Option<Denied>>,
}

enum Who {
    /// No token file: everything is allowed.
    Open,
    Token(Arc<Token>),
    /// An open endpoint's caller, or a request that never went through
    /// [`admit`]: nothing is allowed.
    Nobody,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.who {
            Who::Open => f.write_str("Principal(open)"),
            Who::Token(t) => write!(f, "Principal({})", t.name),
            Who::Nobody => f.write_str("Principal(nobody)"),
        }
    }
}

impl Principal {
    fn new(who: Who, slot: Option<OwnedSemaphorePermit>) -> Principal {
        Principal(Arc::new(Inner {
            who,
            _slot: slot,
            denied: Mutex::new(None),
        }))
    }

    /// The caller of `req`, as [`admit`] left it in the request's
    /// extensions (a caller that allows nothing if it is missing).
    pub fn of<B>(req: &Request<B>) -> Principal {
        req.extensions()
            .get::<Principal>()
            .cloned()
            .unwrap_or_else(|| Principal::new(Who::Nobody, None))
    }

    /// The token's name; `None` when the API is open.
    pub fn name(&self) -> Option<&str> {
        match &self.0.who {
            Who::Token(t) => Some(&t.name),
            _ => None,
        }
    }

    /// Whether the caller may act with `scope` on `index`, without
    /// recording anything (for per-item answers such as `_bulk`'s).
    pub fn check(&self, scope: Scope, index: &str) -> Result<(), Denied> {
        let token = match &self.0.who {
            Who::Open => return Ok(()),
            Who::Token(token) => token,
            Who::Nobody => {
                return Err(Denied {
                    token: String::new(),
                    scope,
                    index: Some(index.to_owned()),
                    message: "this request carries no credentials".into(),
                })
            }
        };
        if !token.has(scope) {
            return Err(Denied {
                token: token.name.clone(),
                scope,
                index: Some(index.to_owned()),
                message: format!("token {:?} does not have the `{scope}` scope", token.name),
            });
        }
        if !token.may_touch(index) {
            return Err(Denied {
                token: token.name.clone(),
                scope,
                index: Some(index.to_owned()),
                message: format!(
                    "token {:?} may not {} index {index:?}",
                    token.name,
                    scope.verb()
                ),
            });
        }
        Ok(())
    }

    fn take_denied(&self) -> Option<Denied> {
        self.0.denied.lock().ok()?.take()
    }
}

/// The check every handler makes for each index it touches: `Ok` when the
/// caller may act with `scope` on `index`, else a 403 [`Failure`] (whose
/// answer names the scope and the index).
pub(crate) fn authorize(principal: &Principal, scope: Scope, index: &str) -> Result<(), Failure> {
    principal.check(scope, index).map_err(|denied| {
        let message = denied.message.clone();
        if let Ok(mut slot) = principal.0.denied.lock() {
            *slot = Some(denied);
        }
        Failure {
            status: StatusCode::FORBIDDEN,
            message,
            column: None,
        }
    })
}

/// Why credentials were not taken (401).
#[derive(Debug, PartialEq, Eq)]
enum Unauthenticated {
    Missing,
    Malformed(&'static str),
    Unknown,
}

/// The secret in an `Authorization` header: `Bearer <t>`, `Basic
/// base64(user:<t>)` or `ApiKey base64(id:<t>)` (or `ApiKey <t>`).
fn presented_secret(header: Option<&HeaderValue>) -> Result<Vec<u8>, Unauthenticated> {
    use base64::Engine;
    let header = header.ok_or(Unauthenticated::Missing)?;
    let text = header
        .to_str()
        .map_err(|_| Unauthenticated::Malformed("the Authorization header is not ASCII"))?
        .trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    let decode = |b64: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| Unauthenticated::Malformed("the credentials are not valid base64"))
    };
    let secret = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => rest.as_bytes().to_vec(),
        "basic" => {
            let pair = decode(rest)?;
            let colon = pair
                .iter()
                .position(|&b| b == b':')
                .ok_or(Unauthenticated::Malformed(
                    "Basic credentials are base64(user:token)",
                ))?;
            pair[colon + 1..].to_vec()
        }
        "apikey" => match decode(rest) {
            Ok(pair) => match pair.iter().position(|&b| b == b':') {
                Some(colon) => pair[colon + 1..].to_vec(),
                None => pair,
            },
            Err(_) => rest.as_bytes().to_vec(),
        },
        _ => {
            return Err(Unauthenticated::Malformed(
                "unsupported Authorization scheme; use Bearer, Basic or ApiKey",
            ))
        }
    };
    if secret.is_empty() {
        return Err(Unauthenticated::Malformed("the token is empty"));
    }
    Ok(secret)
}

/// Lets a request in, or answers it: with no token file everyone is let
/// in; with one, the open endpoints let anyone in (as nobody), and the
/// others need a known token (401) with the path's scope (403) and a free
/// slot of its concurrency limit (429). `elastic` shapes the refusals as
/// Elasticsearch errors.
pub(crate) fn admit<B>(
    req: &Request<B>,
    auth: Option<&Auth>,
    elastic: bool,
) -> Result<Principal, Box<Response<Full<Bytes>>>> {
    let Some(auth) = auth else {
        return Ok(Principal::new(Who::Open, None));
    };
    let Some(scope) = scope_for(req.method(), req.uri().path()) else {
        return Ok(Principal::new(Who::Nobody, None));
    };
    let token = presented_secret(req.headers().get(AUTHORIZATION))
        .and_then(|secret| auth.find(&secret).ok_or(Unauthenticated::Unknown));
    let token = match token {
        Ok(token) => token,
        Err(why) => {
            let message = match why {
                Unauthenticated::Missing => {
                    "authentication required: send Authorization: Bearer <token>"
                }
                Unauthenticated::Malformed(why) => why,
                Unauthenticated::Unknown => "unknown or revoked token",
            };
            let mut response = refusal(StatusCode::UNAUTHORIZED, elastic, message, json!({}));
            let headers = response.headers_mut();
            headers.append(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sluice\""),
            );
            headers.append(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sluice\", charset=\"UTF-8\""),
            );
            return Err(Box::new(response));
        }
    };
    if !token.has(scope) {
        let message = format!(
            "token {:?} does not have the `{scope}` scope, which {} {} needs",
            token.name,
            req.method(),
            req.uri().path()
        );
        return Err(Box::new(refusal(
            StatusCode::FORBIDDEN,
            elastic,
            &message,
            json!({ "token": token.name, "scope": scope.as_str() }),
        )));
    }
    let slot = match &token.in_flight {
        None => None,
        Some(limit) => match limit.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let limit = token.max_concurrency.unwrap_or(0);
                let message = format!(
                    "token {:?} already has {limit} requests in flight (its max_concurrency); retry later",
                    token.name
                );
                let mut response = refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    elastic,
                    &message,
                    json!({ "token": token.name, "max_concurrency": limit }),
                );
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
                return Err(Box::new(response));
            }
        },
    };
    Ok(Principal::new(Who::Token(token), slot))
}

/// The answer to a request whose handler refused it through [`authorize`]:
/// `Some` (a 403 naming the scope and index) when `response` is that
/// refusal, `None` to keep `response`.
pub(crate) fn forbidden(
    principal: &Principal,
    response: &Response<Full<Bytes>>,
    elastic: bool,
) -> Option<Response<Full<Bytes>>> {
    if response.status() != StatusCode::FORBIDDEN {
        return None;
    }
    let denied = principal.take_denied()?;
    let mut extra = json!({ "scope": denied.scope.as_str(), "index": denied.index });
    if !denied.token.is_empty() {
        extra["token"] = json!(denied.token);
    }
    Some(refusal(
        StatusCode::FORBIDDEN,
        elastic,
        &denied.message,
        extra,
    ))
}

/// A 401/403/429 answer: `{"error": message, ...extra}`, or for the
/// Elasticsearch paths the error shape their clients read, with `extra`
/// beside it.
fn refusal(status: StatusCode, elastic: bool, message: &str, extra: Json) -> Response<Full<Bytes>> {
    let mut body = if elastic {
        let kind = match status {
            StatusCode::TOO_MANY_REQUESTS => "es_rejected_execution_exception",
            _ => "security_exception",
        };
        super::elastic::error_body(status, kind, message)
    } else {
        json!({ "error": message })
    };
    if let (Json::Object(body), Json::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    respond(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[tokens]]
name = "shipper"
token = "shipper-secret-0123456789"
scopes = ["ingest"]
indexes = ["app-*", "logs"]
max_concurrency = 2

[[tokens]]
name = "reader"
token_sha256 = "SHA"
scopes = ["read"]

[[tokens]]
name = "root"
token = "root-secret-0123456789ab"
scopes = ["admin"]
"#;

    fn auth() -> Auth {
        let digest: String = sha256(b"reader-secret-0123456789")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Auth::parse(Path::new("tokens.toml"), &FILE.replace("SHA", &digest)).unwrap()
    }

    fn request(method: &str, path: &str, authorization: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(a) = authorization {
            builder = builder.header(AUTHORIZATION, a);
        }
        builder.body(()).unwrap()
    }

    fn error(path: &str, text: &str) -> String {
        Auth::parse(Path::new(path), text).unwrap_err().to_string()
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match("app-*", "app-web"));
        assert!(glob_match("app-*", "app-"));
        assert!(!glob_match("app-*", "xapp-web"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("logs", "logs"));
        assert!(!glob_match("logs", "logs2"));
        assert!(!glob_match("logs", "log"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*-prod-*", "web-prod-eu"));
        assert!(!glob_match("*-prod-*", "web-dev-eu"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match("**", ""));
        assert!(!glob_match("?", ""));
    }

    #[test]
    fn tokens_are_found_by_clear_text_or_digest() {
        let auth = auth();
        assert_eq!(
            auth.find(b"shipper-secret-0123456789")
                .map(|t| t.name.clone())
                .as_deref(),
            Some("shipper")
        );
        assert_eq!(
            auth.find(b"reader-secret-0123456789")
                .map(|t| t.name.clone())
                .as_deref(),
            Some("reader")
        );
        assert!(auth.find(b"shipper-secret-012345678").is_none());
        assert!(auth.find(b"").is_none());
        // Debug output names tokens but holds no secret.
        let debug = format!("{auth:?}");
        assert!(debug.contains("shipper") && !debug.contains("secret-0123"));
    }

    #[test]
    fn credentials_come_as_bearer_basic_or_apikey() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let secret = |h: &str| presented_secret(Some(&HeaderValue::from_str(h).unwrap()));
        assert_eq!(secret("Bearer abc").unwrap(), b"abc");
        assert_eq!(secret("bearer   abc ").unwrap(), b"abc");
        assert_eq!(
            secret(&format!("Basic {}", b64("elastic:a:b"))).unwrap(),
            b"a:b"
        );
        assert_eq!(
            secret(&format!("ApiKey {}", b64("id:key"))).unwrap(),
            b"key"
        );
        assert_eq!(presented_secret(None), Err(Unauthenticated::Missing));
        assert!(matches!(
            secret("Basic !!!"),
            Err(Unauthenticated::Malformed(_))
        ));
        assert!(matches!(
            secret(&format!("Basic {}", b64("nocolon"))),
            Err(Unauthenticated::Malformed(_))
        ));
        assert!(matches!(
            secret("Digest x"),
            Err(Unauthenticated::Malformed(_))
        ));
        assert!(matches!(
            secret("Bearer "),
            Err(Unauthenticated::Malformed(_))
        ));
    }

    #[test]
    fn scopes_follow_paths_and_unknown_paths_need_admin() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(scope_for(&get, "/health"), None);
        assert_eq!(scope_for(&get, "/ready"), None);
        assert_eq!(scope_for(&post, "/api/v1/ingest"), Some(Scope::Ingest));
        assert_eq!(scope_for(&post, "/v1/logs"), Some(Scope::Ingest));
        assert_eq!(scope_for(&post, "/app/_bulk"), Some(Scope::Ingest));
        assert_eq!(scope_for(&get, "/"), Some(Scope::Ingest));
        assert_eq!(scope_for(&get, "/api/v1/search"), Some(Scope::Read));
        assert_eq!(scope_for(&get, "/api/v1/context/x"), Some(Scope::Read));
        assert_eq!(scope_for(&get, "/api/v1/tail"), Some(Scope::Read));
        assert_eq!(scope_for(&get, "/metrics"), Some(Scope::Read));
        assert_eq!(scope_for(&get, "/api/v1/pipelines"), Some(Scope::Admin));
        assert_eq!(scope_for(&post, "/api/v1/plugins/x"), Some(Scope::Admin));
        assert_eq!(scope_for(&get, "/api/v1/searchx"), Some(Scope::Admin));
        assert_eq!(scope_for(&get, "/api/v1/new-thing"), Some(Scope::Admin));
    }

    #[test]
    fn admission_checks_token_scope_and_concurrency() {
        let auth = auth();
        let status = |r: Result<Principal, Box<Response<Full<Bytes>>>>| match r {
            Ok(_) => 200,
            Err(response) => response.status().as_u16(),
        };
        let open = admit(&request("GET", "/health", None), Some(&auth), false);
        assert_eq!(status(open), 200);
        let r = admit(&request("GET", "/api/v1/search", None), Some(&auth), false);
        let response = r.unwrap_err();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers().get_all(WWW_AUTHENTICATE).iter().count(),
            2
        );
        let bad = request("GET", "/api/v1/search", Some("Bearer nope-nope-nope-nope"));
        assert_eq!(status(admit(&bad, Some(&auth), false)), 401);
        let shipper = "Bearer shipper-secret-0123456789";
        let wrong_scope = request("GET", "/api/v1/search", Some(shipper));
        assert_eq!(status(admit(&wrong_scope, Some(&auth), false)), 403);
        let ingest = request("POST", "/api/v1/ingest", Some(shipper));
        let first = admit(&ingest, Some(&auth), false).unwrap();
        let second = admit(&ingest, Some(&auth), false).unwrap();
        let third = admit(&ingest, Some(&auth), false);
        let third = third.unwrap_err();
        assert_eq!(third.status(), 429);
        assert_eq!(third.headers()["retry-after"], "1");
        // The slot is held until the last clone goes.
        let clone = first.clone();
        drop(first);
        assert_eq!(status(admit(&ingest, Some(&auth), false)), 429);
        drop(clone);
        assert_eq!(status(admit(&ingest, Some(&auth), false)), 200);
        drop(second);
        // Admin implies every scope; no file means open.
        let root = request(
            "GET",
            "/api/v1/search",
            Some("Bearer root-secret-0123456789ab"),
        );
        assert_eq!(status(admit(&root, Some(&auth), false)), 200);
        assert_eq!(status(admit(&wrong_scope, None, false)), 200);
    }

    #[test]
    fn index_allow_lists_apply_per_index() {
        let auth = auth();
        let admitted = |h: &str, path: &str| {
            admit(&request("POST", path, Some(h)), Some(&auth), false).unwrap()
        };
        let shipper = admitted("Bearer shipper-secret-0123456789", "/api/v1/ingest");
        assert!(shipper.check(Scope::Ingest, "app-web").is_ok());
        assert!(shipper.check(Scope::Ingest, "logs").is_ok());
        let denied = shipper.check(Scope::Ingest, "secrets").unwrap_err();
        assert_eq!(denied.index.as_deref(), Some("secrets"));
        assert!(denied
            .message
            .contains("may not write to index \"secrets\""));
        assert!(shipper.check(Scope::Read, "logs").is_err());
        let failure = authorize(&shipper, Scope::Ingest, "secrets").unwrap_err();
        assert_eq!(failure.status, StatusCode::FORBIDDEN);
        assert_eq!(shipper.take_denied().unwrap().scope, Scope::Ingest);
        let root = admitted("Bearer root-secret-0123456789ab", "/api/v1/search");
        assert!(root.check(Scope::Read, "secrets").is_ok());
        let nobody = Principal::of(&request("GET", "/", None));
        assert!(nobody.check(Scope::Read, "logs").is_err());
        assert!(Principal::new(Who::Open, None)
            .check(Scope::Admin, "x")
            .is_ok());
    }

    #[test]
    fn reload_swaps_the_tokens_and_keeps_them_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.toml");
        let token = |name: &str, secret: &str, limit: usize| {
            format!(
                "[[tokens]]\nname = \"{name}\"\ntoken = \"{secret}\"\nscopes = [\"read\"]\nmax_concurrency = {limit}\n"
            )
        };
        std::fs::write(&file, token("a", "a-secret-0123456789", 1)).unwrap();
        let auth = Auth::load(&file).unwrap();
        let a = auth.find(b"a-secret-0123456789").unwrap();
        // A request of `a` in flight.
        let held = a.in_flight.clone().unwrap().try_acquire_owned().unwrap();
        std::fs::write(
            &file,
            token("a", "a-secret-0123456789", 1) + &token("b", "b-secret-0123456789", 1),
        )
        .unwrap();
        assert_eq!(auth.reload().unwrap(), 2);
        assert!(auth.find(b"b-secret-0123456789").is_some());
        // `a` kept its limit, so its request in flight still counts.
        let a = auth.find(b"a-secret-0123456789").unwrap();
        assert!(a.in_flight.clone().unwrap().try_acquire_owned().is_err());
        drop(held);
        assert!(a.in_flight.clone().unwrap().try_acquire_owned().is_ok());
        // A file that does not parse changes nothing.
        std::fs::write(&file, "[[tokens]]\nname = 1\n").unwrap();
        let e = auth.reload().unwrap_err().to_string();
        assert!(e.contains("tokens.toml:2"), "{e}");
        assert!(auth.find(b"b-secret-0123456789").is_some());
        // Removing a token revokes it.
        std::fs::write(&file, token("b", "b-secret-0123456789", 1)).unwrap();
        assert_eq!(auth.reload().unwrap(), 1);
        assert!(auth.find(b"a-secret-0123456789").is_none());
    }

    #[test]
    fn the_example_token_file_parses() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/api-tokens.toml");
        let auth = Auth::load(&file).unwrap();
        let tokens = auth.tokens();
        let names: Vec<&str> = tokens.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["shipper", "dashboard", "prometheus", "ops"]);
        // `indexes = []` is no index at all, unlike an absent list.
        assert!(!tokens[2].may_touch("logs"));
        assert!(tokens[1].may_touch("anything"));
    }

    #[test]
    fn file_errors_name_the_file_and_line() {
        let e = error(
            "t.toml",
            "[[tokens]]\nname = \"a\"\ntoken = \"short\"\nscopes = [\"read\"]\n",
        );
        assert!(e.starts_with("t.toml:3:9: "), "{e}");
        assert!(e.contains("shorter than 16"), "{e}");
        let e = error(
            "t.toml",
            "[[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = [\"read\", \"write\"]\n",
        );
        assert!(e.starts_with("t.toml:4:19: "), "{e}");
        assert!(e.contains("unknown scope \"write\""), "{e}");
        let e = error(
            "t.toml",
            "[[tokens]]\nname = \"a\"\nscopes = [\"read\"]\nsecret = 1\n",
        );
        assert!(e.starts_with("t.toml:4:"), "{e}");
        let e = error("t.toml", "[[tokens]]\nname = \"a\"\nscopes = [\"read\"]\n");
        assert!(
            e.contains("exactly one of `token` and `token_sha256`"),
            "{e}"
        );
        let e = error(
            "t.toml",
            "[[tokens]]\nname = \"a\"\ntoken_sha256 = \"abc\"\nscopes = [\"read\"]\n",
        );
        assert!(e.starts_with("t.toml:3:"), "{e}");
        let e = error(
            "t.toml",
            "[[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = [\"read\"]\nindexes = [\"App\"]\n",
        );
        assert!(e.starts_with("t.toml:5:"), "{e}");
        let two = "[[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = [\"read\"]\n";
        let e = error("t.toml", &format!("{two}{}", two.replace("0123", "9999")));
        assert!(
            e.starts_with("t.toml:6:") && e.contains("two tokens are named"),
            "{e}"
        );
        let e = error("t.toml", &format!("{two}{}", two.replace("\"a\"", "\"b\"")));
        assert!(e.contains("same secret"), "{e}");
        let e = error(
            "t.toml",
            "[[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = [\"read\"]\nmax_concurrency = 0\n",
        );
        assert!(
            e.starts_with("t.toml:5:") && e.contains("at least 1"),
            "{e}"
        );
        assert!(error("t.toml", "").contains("no [[tokens]]"));
        assert!(error("t.toml", "[[tokens]\n").starts_with("t.toml:1:"));
        // Error messages never carry a clear token.
        let e = error(
            "t.toml",
            "[[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\ntoken_sha256 = \"00\"\nscopes = [\"read\"]\n",
        );
        assert!(!e.contains("0123456789abcdef"), "{e}");
        let e = Auth::load(Path::new("/nonexistent/tokens.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/tokens.toml"), "{e}");
    }
}
