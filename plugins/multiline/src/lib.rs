//! `builtin:multiline`: joins the lines of one logical event (Java and
//! Python stack traces, indented continuation lines) into a single event.
//!
//! Lines are grouped per `source` field, so interleaved files do not mix,
//! and one event per source is held back until a line that starts a new
//! event arrives for that source, or until the host calls `flush` (when
//! the stage has been idle for its `flush_interval_ms`, and at shutdown).
//! The joined event keeps the first line's timestamps and fields, its
//! message is the lines joined by `separator`, and it gets
//! `multiline.lines` when more than one line was joined. An event that
//! reaches `max_lines` or `max_bytes` is emitted with
//! `multiline.truncated = true`, and the lines after it begin a new event:
//! nothing is dropped.
//!
//! Which lines continue an event is chosen by `start_pattern`,
//! `continuation_pattern`, or the `java` and `python` presets ([`rules`]).
//!
//! Not for: joining by time alone (there is no timeout besides the host's
//! idle flush), reassembling lines a source split at a size limit, or
//! parsing the joined text (a later stage does that). Held events live in
//! the instance: if the host rebuilds it after a trap they are lost.

pub mod joiner;
pub mod rules;

use regex::Regex;
use sluice_sdk::{Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform};

use joiner::{Joiner, Limits};
use rules::Rules;

/// The `multiline` transform.
pub struct Multiline {
    joiner: Joiner,
}

const DEFAULT_MAX_LINES: i64 = 500;
const DEFAULT_MAX_BYTES: i64 = 1 << 20;

impl Transform for Multiline {
    fn describe() -> PluginInfo {
        PluginInfo::transform("multiline", env!("CARGO_PKG_VERSION"))
            .description("joins stack traces and continuation lines into one event, per source")
            .key(
                "mode",
                "string",
                "`java` or `python`: preset rules for stack traces \
                 (instead of start_pattern / continuation_pattern)",
            )
            .key(
                "start_pattern",
                "regex",
                "a line matching it starts a new event; other lines continue the one before",
            )
            .key(
                "continuation_pattern",
                "regex",
                "a line matching it continues the event before (and does not match start_pattern)",
            )
            .key(
                "separator",
                "string",
                "put between joined lines (default \"\\n\")",
            )
            .key(
                "max_lines",
                "integer",
                "lines in one event before it is emitted marked multiline.truncated (default 500)",
            )
            .key(
                "max_bytes",
                "integer",
                "bytes in one event's message before it is emitted marked \
                 multiline.truncated (default 1048576)",
            )
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let mode = config.string("mode")?;
        let start = regex(&config, "start_pattern")?;
        let continuation = regex(&config, "continuation_pattern")?;
        let rules = match mode.as_deref() {
            Some(_) if start.is_some() || continuation.is_some() => {
                return Err(ConfigError::new(
                    "mode",
                    "give either `mode` or start_pattern/continuation_pattern, not both",
                ))
            }
            Some("java") => Rules::java(),
            Some("python") => Rules::python(),
            Some(other) => {
                return Err(ConfigError::new(
                    "mode",
                    format!("unknown mode `{other}`: expected `java` or `python`"),
                ))
            }
            None if start.is_none() && continuation.is_none() => {
                return Err(ConfigError {
                    key: None,
                    message: "multiline needs `mode`, `start_pattern` or `continuation_pattern`"
                        .into(),
                })
            }
            None => Rules::Patterns {
                start,
                continuation,
            },
        };
        let limits = Limits {
            separator: config.string("separator")?.unwrap_or_else(|| "\n".into()),
            max_lines: positive(&config, "max_lines", DEFAULT_MAX_LINES)?,
            max_bytes: positive(&config, "max_bytes", DEFAULT_MAX_BYTES)?,
        };
        Ok(Multiline {
            joiner: Joiner::new(rules, limits),
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        for event in batch {
            self.joiner.push(event, &mut |e| out.emit(e));
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Output) {
        self.joiner.flush(&mut |e| out.emit(e));
    }
}

fn regex(config: &Config, key: &str) -> Result<Option<Regex>, ConfigError> {
    let Some(pattern) = config.string(key)? else {
        return Ok(None);
    };
    Regex::new(&pattern)
        .map(Some)
        .map_err(|e| ConfigError::new(key, format!("invalid regex: {e}")))
}

fn positive(config: &Config, key: &str, default: i64) -> Result<usize, ConfigError> {
    let value = config.integer(key)?.unwrap_or(default);
    if value < 1 {
        return Err(ConfigError::new(key, "must be at least 1"));
    }
    usize::try_from(value).map_err(|_| ConfigError::new(key, "too large"))
}

sluice_sdk::transform!(Multiline);

#[cfg(test)]
mod tests;
