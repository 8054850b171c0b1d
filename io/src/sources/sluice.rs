//! `sluice`: the central side of the forward protocol ([`crate::forward`]),
//! which edge agents' `sluice` sinks send to.
//!
//! Each request's batches enter the pipeline as they were packed on the
//! edge; the request is answered 200 only once every sink here holds them
//! durably (the store's WAL, a synced file), so the edge may then delete
//! them from its disk buffer. Bad requests get a 4xx whose JSON body says
//! what was wrong; the edge dead-letters those instead of retrying.

use super::http::{bind, deliver, read_body, refuse_route, reply, serve};
use super::{SourceContext, SourceError};
use crate::forward::{self, ProtocolError};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SluiceSourceConfig {
    /// The address to listen on, e.g. `0.0.0.0:9400`.
    pub address: SocketAddr,
    /// The largest request body, after decompression; larger ones get 413
    /// (and the sender splits them).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Bearer tokens an edge must present (any one of them). Each entry may
    /// hold several, comma-separated, and empty ones are ignored, so
    /// `tokens = ["${SLUICE_TOKENS:-}"]` takes them from the environment
    /// (none: no token needed).
    #[serde(default)]
    pub tokens: Vec<String>,
}

fn default_max_body_bytes() -> usize {
    64 << 20
}

/// Binds `config.address` and serves until shutdown.
pub async fn run(config: SluiceSourceConfig, ctx: SourceContext) -> Result<(), SourceError> {
    let listener = bind(config.address, &ctx).await?;
    run_with_listener(config, listener, ctx).await
}

/// Serves on an already bound listener until shutdown.
pub async fn run_with_listener(
    config: SluiceSourceConfig,
    listener: TcpListener,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(source = %ctx.name, %addr, path = forward::PATH, "listening for sluice forwarders");
    }
    let tokens: Vec<String> = config
        .tokens
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        tracing::warn!(source = %ctx.name, "no tokens configured: any client that reaches this address may send events");
    }
    let config = Arc::new(SluiceSourceConfig { tokens, ..config });
    let ctx = Arc::new(ctx);
    serve(listener, ctx.clone(), move |req| {
        let (ctx, config) = (ctx.clone(), config.clone());
        async move { handle(req, &config, &ctx).await }
    })
    .await;
    Ok(())
}

async fn handle(
    req: Request<Incoming>,
    config: &SluiceSourceConfig,
    ctx: &SourceContext,
) -> Response<Full<Bytes>> {
    if let Some(refused) = refuse_route(&req, forward::PATH) {
        return refused;
    }
    if !config.tokens.is_empty() {
        let token = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match token {
            None => {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    "this source needs `Authorization: Bearer <token>`",
                )
            }
            Some(token) if !config.tokens.iter().any(|t| t == token) => {
                return reply(
                    StatusCode::FORBIDDEN,
                    "the token is not one this source accepts",
                )
            }
            Some(_) => {}
        }
    }
    let header = |name| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("(not text)").to_owned())
    };
    let content_type = header(CONTENT_TYPE);
    let media_type = content_type.as_deref().and_then(|t| t.split(';').next());
    if media_type.map(str::trim) != Some(forward::CONTENT_TYPE) {
        let got = content_type.as_deref().unwrap_or("none");
        let message = format!(
            "Content-Type must be `{}`, got `{got}`",
            forward::CONTENT_TYPE
        );
        return reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message);
    }
    let encoding = header(CONTENT_ENCODING);
    let body = match read_body(req, config.max_body_bytes, ctx).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    match forward::decode(&body, encoding.as_deref(), config.max_body_bytes) {
        Ok(batches) => deliver(ctx, batches).await,
        Err(error @ ProtocolError::TooLarge(..)) => {
            reply(StatusCode::PAYLOAD_TOO_LARGE, &error.to_string())
        }
        Err(error @ ProtocolError::Encoding(_)) => {
            reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, &error.to_string())
        }
        Err(error) => {
            tracing::warn!(source = %ctx.name, %error, "refused a malformed forward request");
            reply(StatusCode::BAD_REQUEST, &error.to_string())
        }
    }
}
