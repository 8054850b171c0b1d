//! `builtin:filter`: keeps the events that match a query and drops the rest.
//!
//! `condition` is the search syntax of `sluice-query` (Lucene/KQL style,
//! DESIGN §7), e.g. `level:>=WARN OR http.response.status_code:>=500`;
//! `invert = true` drops the matching events instead. Kept events pass
//! through unchanged and undecoded (the zero-copy row path); dropped ones
//! are counted in the stage's `filter.dropped` counter.
//!
//! Not for: sending events to several outputs (`builtin:route`), sampling
//! (`builtin:sample`), or changing events.

use sluice_query::Query;
use sluice_sdk::{
    host, transform, Batch, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

pub struct Filter {
    query: Query,
    invert: bool,
}

impl Transform for Filter {
    fn describe() -> PluginInfo {
        PluginInfo::transform("filter", env!("CARGO_PKG_VERSION"))
            .description("keeps the events that match a query; drops and counts the rest")
            .required_key(
                "condition",
                "string",
                "query an event must match to go on, e.g. `level:>=WARN AND -service:healthcheck`",
            )
            .key(
                "invert",
                "boolean",
                "drop the matching events and keep the rest instead (default false)",
            )
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let condition = config
            .string("condition")?
            .ok_or_else(|| ConfigError::new("condition", "missing required key"))?;
        let query = Query::parse(&condition)
            .map_err(|e| ConfigError::new("condition", format!("invalid query: {e}")))?;
        Ok(Filter {
            query,
            invert: config.bool("invert")?.unwrap_or(false),
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        let mut dropped = 0;
        for event in batch {
            if self.query.matches(&event) != self.invert {
                out.emit(event);
            } else {
                dropped += 1;
            }
        }
        count_dropped(dropped);
        Ok(())
    }

    fn process_batch(&mut self, batch: Batch<'_>, out: &mut Output) -> Result<(), PluginError> {
        let mut dropped = 0;
        for row in batch.rows() {
            if self.query.matches(&row) != self.invert {
                out.emit_row(&row);
            } else {
                dropped += 1;
            }
        }
        count_dropped(dropped);
        Ok(())
    }
}

fn count_dropped(n: u64) {
    if n > 0 {
        host::counter_add("filter.dropped", n);
    }
}

transform!(Filter);

#[cfg(test)]
mod tests;
