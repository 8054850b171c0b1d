//! `builtin:sample`: keeps 1 in N events of the chatty levels and every event
//! at WARN and above.
//!
//! `rates` sets N per level (`{ DEBUG = 100, INFO = 10 }`); `rate` is N for
//! the other levels below WARN and for events without a recognizable level.
//! Kept events carry `sample_rate = N` so counts can be scaled back, as
//! Vector's sampler does. With `key_field`, the decision hashes that field
//! (e.g. `trace_id`), so every event of a trace is kept or dropped together.
//!
//! Not for: rate limiting by time, or sampling on arbitrary conditions (put a
//! `builtin:route` in front).

use sluice_sdk::{
    transform, Batch, Config, ConfigError, Event, Level, Output, PluginError, PluginInfo, Row,
    Transform, ValueRef,
};

pub struct Sample {
    /// N per level below WARN, indexed by `Level as usize` (TRACE, DEBUG, INFO).
    rates: [u64; 3],
    /// N for events without a recognizable level.
    default_rate: u64,
    level_field: String,
    key_field: Option<String>,
    /// Events seen per level (and one slot for no level), for 1-in-N.
    seen: [u64; 4],
}

impl Transform for Sample {
    fn describe() -> PluginInfo {
        PluginInfo::transform("sample", env!("CARGO_PKG_VERSION"))
            .description("keeps 1 in N events of levels below WARN; WARN and above are never sampled")
            .key("rate", "integer", "keep 1 in N for levels below WARN not in `rates`, and for events without a level (default 1: keep all)")
            .key("rates", "table", "N per level below WARN, e.g. { DEBUG = 100, INFO = 10 }")
            .key("level_field", "string", "field holding the level (default `level`)")
            .key("key_field", "string", "hash this field to decide, so related events are kept together (e.g. `trace_id`)")
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let rate = |key: &str, value: i64| {
            u64::try_from(value)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    ConfigError::new(key, "must be an integer of at least 1 (keep 1 in N)")
                })
        };
        let default_rate = match config.integer("rate")? {
            Some(n) => rate("rate", n)?,
            None => 1,
        };
        let mut rates = [default_rate; 3];
        if let Some(table) = config.raw("rates") {
            let table = table
                .as_object()
                .ok_or_else(|| ConfigError::new("rates", "expected a table of level = N"))?;
            for (name, value) in table {
                let key = format!("rates.{name}");
                let level = Level::parse(name)
                    .ok_or_else(|| ConfigError::new(&key, format!("`{name}` is not a level")))?;
                if level >= Level::Warn {
                    return Err(ConfigError::new(&key, "WARN and above are never sampled"));
                }
                let n = value
                    .as_i64()
                    .ok_or_else(|| ConfigError::new(&key, "expected an integer"))?;
                rates[level as usize] = rate(&key, n)?;
            }
        }
        Ok(Sample {
            rates,
            default_rate,
            level_field: config
                .string("level_field")?
                .unwrap_or_else(|| "level".into()),
            key_field: config.string("key_field")?,
            seen: [0; 4],
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        sluice_sdk::process_owned(self, batch, out)
    }

    fn process_batch(&mut self, batch: Batch<'_>, out: &mut Output) -> Result<(), PluginError> {
        let mut dropped = 0;
        for row in batch.rows() {
            match self.rate_for(&row) {
                None | Some(1) => out.emit_row(&row),
                Some(n) if self.keep(&row, n) => {
                    out.emit_row_with(&row, &[("sample_rate", ValueRef::Int(n as i64))])
                }
                Some(_) => dropped += 1,
            }
        }
        if dropped > 0 {
            sluice_sdk::host::counter_add("sample.dropped", dropped);
        }
        Ok(())
    }
}

impl Sample {
    fn level(&self, row: &Row<'_>) -> Option<Level> {
        match row.field(&self.level_field) {
            Some(ValueRef::Str(text)) => Level::parse(text),
            _ => None,
        }
    }

    /// N for this event; `None` for events that are never sampled (WARN and above).
    fn rate_for(&self, row: &Row<'_>) -> Option<u64> {
        match self.level(row) {
            Some(level) if level >= Level::Warn => None,
            Some(level) => Some(self.rates[level as usize]),
            None => Some(self.default_rate),
        }
    }

    fn keep(&mut self, row: &Row<'_>, n: u64) -> bool {
        if n <= 1 {
            return true;
        }
        if let Some(key) = &self.key_field {
            if let Some(value) = row.field(key) {
                return fnv1a(&format!("{value:?}")).is_multiple_of(n);
            }
        }
        let slot = self.level(row).map_or(3, |l| l as usize);
        let seen = self.seen[slot];
        self.seen[slot] += 1;
        seen.is_multiple_of(n)
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

transform!(Sample);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_sdk::{testing, Value};

    fn events(levels: &[&str]) -> Vec<Event> {
        levels
            .iter()
            .enumerate()
            .map(|(i, level)| {
                let mut e = Event::new(format!("event {i}"));
                if !level.is_empty() {
                    e.fields.insert("level", *level);
                }
                e
            })
            .collect()
    }

    #[test]
    fn keeps_one_in_n_per_level_and_every_warning() {
        let mut s =
            testing::configure::<Sample>(json!({"rates": {"DEBUG": 4, "info": 2}})).unwrap();
        let input: Vec<&str> = ["DEBUG"; 8]
            .into_iter()
            .chain(["INFO"; 4])
            .chain(["WARN", "error", "FATAL"])
            .collect();
        let out = testing::process(&mut s, events(&input)).unwrap();
        let count = |level: &str| {
            out.iter()
                .filter(|e| e.event.fields.get("level") == Some(&Value::from(level)))
                .count()
        };
        assert_eq!(count("DEBUG"), 2);
        assert_eq!(count("INFO"), 2);
        assert_eq!(
            count("WARN") + count("error") + count("FATAL"),
            3,
            "WARN and above are never sampled"
        );
        let debug = out
            .iter()
            .find(|e| e.event.fields.get("level") == Some(&Value::from("DEBUG")))
            .unwrap();
        assert_eq!(debug.event.fields.get("sample_rate"), Some(&Value::Int(4)));
        let warn = out
            .iter()
            .find(|e| e.event.fields.get("level") == Some(&Value::from("WARN")))
            .unwrap();
        assert_eq!(warn.event.fields.get("sample_rate"), None);
        assert_eq!(testing::counter("sample.dropped"), 8);
    }

    #[test]
    fn a_key_field_keeps_related_events_together() {
        let mut s =
            testing::configure::<Sample>(json!({"rate": 3, "key_field": "trace_id"})).unwrap();
        let mut input = Vec::new();
        for trace in 0..30 {
            for _ in 0..3 {
                let mut e = Event::new("x");
                e.fields.insert("level", "INFO");
                e.fields.insert("trace_id", format!("t{trace}"));
                input.push(e);
            }
        }
        let out = testing::process(&mut s, input).unwrap();
        assert!(!out.is_empty() && out.len() < 90);
        assert_eq!(out.len() % 3, 0, "whole traces are kept or dropped");
    }

    #[test]
    fn rejects_sampling_warnings_and_bad_rates_by_key() {
        let e = testing::configure::<Sample>(json!({"rates": {"WARN": 10}}))
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("rates.WARN"));
        let e = testing::configure::<Sample>(json!({"rate": 0}))
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("rate"));
        let e = testing::configure::<Sample>(json!({"rates": {"LOUD": 2}}))
            .err()
            .unwrap();
        assert_eq!(e.key.as_deref(), Some("rates.LOUD"));
    }

    #[test]
    fn events_without_a_level_use_the_default_rate() {
        let mut s = testing::configure::<Sample>(json!({"rate": 2})).unwrap();
        let out = testing::process(&mut s, events(&["", "", "", ""])).unwrap();
        assert_eq!(out.len(), 2);
    }
}
