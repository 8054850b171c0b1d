//! `builtin:timestamp`: parses a time field into the event time (or a
//! timestamp field), and normalizes the level field.
//!
//! The text in `field` (or in `fields`, joined with spaces, for logs whose
//! date and time are separate columns) is tried against `formats` in
//! order: named formats (`iso8601`/`rfc3339`, `rfc3164`, `apache`, `unix`,
//! `unix_ms`, `unix_us`, `unix_ns`) and strftime patterns ([`strftime`]).
//! A text without a zone is read in `timezone`; a text without a year
//! (syslog, Android) gets this year, or last year if that would put it more
//! than a day in the future. The result goes to the event time, or to the
//! field `target` as a timestamp value. The source text stays unless
//! `remove_field` is set.
//!
//! A text no format reads fails the event (its raw text kept), or with
//! `on_failure = "keep"` passes it on unchanged with `timestamp_error` set.
//! A missing field is a failure too, except on an event that already
//! failed an earlier stage (`parse_error`), which passes untouched so its
//! first error stays.
//!
//! The level field (`level_field`, default `level`) is normalized to
//! TRACE/DEBUG/INFO/WARN/ERROR/FATAL when it is a known spelling, with the
//! original in `level_raw` when that changed, whether or not the time
//! parsed; an unknown spelling is left as it is.
//!
//! Not for: named time zones or daylight saving time (only UTC and fixed
//! offsets), locales other than English month and day names, or finding a
//! time inside free text (grok captures it first).

pub mod civil;
pub mod formats;
pub mod level;
pub mod stamp;
pub mod strftime;

use sluice_sdk::{names, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform};

use formats::Format;
use stamp::{parse_timezone, Source, Stamper, Target};

pub use stamp::ERROR_FIELD;

/// The `timestamp` transform.
pub struct Timestamp {
    stamper: Stamper,
}

impl Transform for Timestamp {
    fn describe() -> PluginInfo {
        PluginInfo::transform("timestamp", env!("CARGO_PKG_VERSION"))
            .description("parses a time field into the event time and normalizes the level")
            .key(
                "field",
                "string",
                "field holding the time text (default `timestamp`; `message` is the message)",
            )
            .key(
                "fields",
                "list<string>",
                "instead of `field`: fields joined with spaces (e.g. [\"date\", \"time\"])",
            )
            .key(
                "formats",
                "list<string>",
                "tried in order (default [\"iso8601\"]): iso8601, rfc3339, rfc3164, apache, \
                 unix, unix_ms, unix_us, unix_ns, or strftime patterns like %y%m%d %H%M%S",
            )
            .key(
                "timezone",
                "string",
                "for texts without a zone: UTC (default) or a fixed offset like +02:00",
            )
            .key(
                "target",
                "string",
                "field that gets the time as a timestamp value (default, or `@timestamp`: the event time)",
            )
            .key(
                "remove_field",
                "boolean",
                "remove the source field(s) once parsed (default false)",
            )
            .key(
                "on_failure",
                "string",
                "`fail` (default: to the errors output) or `keep` (pass on with timestamp_error)",
            )
            .key(
                "level_field",
                "string",
                "level field to normalize (default `level`; \"\" turns it off)",
            )
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let field = config.string("field")?;
        let source = match config.string_list("fields")? {
            Some(_) if field.is_some() => {
                return Err(ConfigError::new(
                    "fields",
                    "give `field` or `fields`, not both",
                ))
            }
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new("fields", "must name at least one field"))
            }
            Some(list) => {
                if let Some(i) = list.iter().position(|f| f.is_empty() || f == "message") {
                    return Err(ConfigError::new(
                        &format!("fields[{i}]"),
                        "must be a field name other than `message`",
                    ));
                }
                Source::Fields(list)
            }
            None => {
                let field = field.unwrap_or_else(|| "timestamp".into());
                if field.is_empty() {
                    return Err(ConfigError::new("field", "must not be empty"));
                }
                Source::Field(field)
            }
        };
        let names = config
            .string_list("formats")?
            .unwrap_or_else(|| vec!["iso8601".into()]);
        if names.is_empty() {
            return Err(ConfigError::new("formats", "must list at least one format"));
        }
        let formats = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| match Format::from_config(&name) {
                Ok(format) => Ok((name, format)),
                Err(e) => Err(ConfigError::new(&format!("formats[{i}]"), e)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let offset = match config.string("timezone")? {
            None => 0,
            Some(tz) => parse_timezone(&tz).ok_or_else(|| {
                ConfigError::new(
                    "timezone",
                    format!(
                        "unsupported time zone `{tz}`: use UTC or a fixed offset like +02:00 \
                         (named zones such as Europe/Paris are not supported)"
                    ),
                )
            })?,
        };
        let target = match config.string("target")?.as_deref() {
            None | Some("@timestamp") => Target::EventTime,
            Some("") | Some("message") => {
                return Err(ConfigError::new(
                    "target",
                    "must be a field name other than `message`",
                ))
            }
            Some(name) => Target::Field(name.to_owned()),
        };
        let remove_field = config.bool("remove_field")?.unwrap_or(false);
        if remove_field && source == Source::Field("message".into()) {
            return Err(ConfigError::new(
                "remove_field",
                "the message cannot be removed",
            ));
        }
        let keep_on_failure = match config.string("on_failure")?.as_deref() {
            None | Some("fail") => false,
            Some("keep") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "on_failure",
                    format!("unknown value `{other}`: expected `fail` or `keep`"),
                ))
            }
        };
        let level_field = config
            .string("level_field")?
            .unwrap_or_else(|| names::LEVEL.into());
        let stamper = Stamper {
            source,
            formats,
            offset,
            target,
            remove_field,
            keep_on_failure,
            level_field: (!level_field.is_empty()).then_some(level_field),
        };
        Ok(Timestamp { stamper })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        let now = sluice_sdk::host::now();
        for event in batch {
            match self.stamper.apply(event, now) {
                Ok(event) => out.emit(event),
                Err((event, reason)) => out.fail(event, reason),
            }
        }
        Ok(())
    }
}

sluice_sdk::transform!(Timestamp);

#[cfg(test)]
mod tests;
