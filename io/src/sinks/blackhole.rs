//! `blackhole`: counts events and discards them (for benchmarks and tests).

use super::{SinkContext, SinkError};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {
    /// Log the running count every this many seconds (0 = never).
    #[serde(default)]
    pub print_interval_secs: u64,
}

/// Consumes batches until the inputs end; `counter` holds the event count.
pub async fn run(
    config: BlackholeConfig,
    mut ctx: SinkContext,
    counter: Arc<AtomicU64>,
) -> Result<(), SinkError> {
    let mut last_print = std::time::Instant::now();
    while let Some(batch) = ctx.recv().await {
        let total = counter.fetch_add(batch.len() as u64, Ordering::Relaxed) + batch.len() as u64;
        crate::StageCounters::add(&ctx.counters.events_out, batch.len());
        if config.print_interval_secs > 0
            && last_print.elapsed().as_secs() >= config.print_interval_secs
        {
            tracing::info!(sink = %ctx.name, events = total, "blackhole");
            last_print = std::time::Instant::now();
        }
    }
    tracing::info!(sink = %ctx.name, events = counter.load(Ordering::Relaxed), "blackhole done");
    Ok(())
}
