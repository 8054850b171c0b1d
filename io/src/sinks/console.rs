//! `console`: writes events to standard output, as JSON lines or as text.

use super::{SinkContext, SinkError};
use crate::{Batch, StageCounters};
use serde::Deserialize;
use sluice_event::packed::PackedError;
use sluice_event::write_row_json;
use std::io::Write;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// One JSON object per event per line.
    #[default]
    Json,
    /// The message only.
    Text,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    #[serde(default)]
    pub encoding: Encoding,
}

/// Renders one batch the way the console and file sinks write it.
pub fn encode_batch(
    encoding: Encoding,
    batch: &Batch,
    buf: &mut Vec<u8>,
) -> Result<(), PackedError> {
    for row in batch.check()?.rows() {
        match encoding {
            Encoding::Json => write_row_json(&row, buf),
            Encoding::Text => buf.extend_from_slice(row.message().as_bytes()),
        }
        buf.push(b'\n');
    }
    Ok(())
}

/// Writes each batch to stdout; a batch is acknowledged once it is written
/// and flushed (stdout has nothing more durable to offer).
pub async fn run(config: ConsoleConfig, mut ctx: SinkContext) -> Result<(), SinkError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Some(batch) = ctx.recv().await {
        buf.clear();
        let written = match encode_batch(config.encoding, &batch, &mut buf) {
            Err(error) => Err(SinkError::Batch {
                sink: ctx.name.clone(),
                error,
            }),
            Ok(()) => {
                // stdout blocks when its reader is slow (that is
                // backpressure), so the write runs off the async workers; a
                // batch is one write.
                let data = std::mem::take(&mut buf);
                let (returned, written) = tokio::task::spawn_blocking(move || {
                    let mut out = std::io::stdout().lock();
                    let written = out.write_all(&data).and_then(|_| out.flush());
                    (data, written)
                })
                .await
                .unwrap_or_else(|e| (Vec::new(), Err(std::io::Error::other(e))));
                buf = returned;
                written.map_err(|error| SinkError::Io {
                    sink: ctx.name.clone(),
                    path: "<stdout>".into(),
                    error,
                })
            }
        };
        match written {
            Ok(()) => StageCounters::add(&ctx.counters.events_out, batch.len()),
            Err(error) => {
                batch.acks.fail();
                let failed = ctx.fail_rest().await + batch.len() as u64;
                if matches!(&error, SinkError::Io { error, .. } if error.kind() == std::io::ErrorKind::BrokenPipe)
                {
                    tracing::warn!(sink = %ctx.name, events = failed, "stdout closed; the rest is not written (nor acknowledged)");
                    return Ok(());
                }
                return Err(error);
            }
        }
    }
    Ok(())
}
