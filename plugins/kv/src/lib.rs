//! `builtin:kv`: parses `key=value` pairs out of the message (or another
//! field) into fields, like Logstash's kv filter.
//!
//! Words that are not pairs are skipped, so free text around the pairs is
//! fine (`authentication failure; logname= uid=0 euid=0 ...`). A value may
//! be quoted with `"..."` or `'...'` (with `\"`, `\'` and `\\` escapes) to
//! hold separators; an empty value is kept as an empty string. Keys become
//! field names as written, dots included (`a.b=1` is the field `a.b`), under
//! `target.` and after `prefix` when those are set. When a key repeats, the
//! last value wins. Values stay strings unless `convert` names the key; a
//! value that does not convert stays a string and bumps the
//! `kv_convert_failures` counter.
//!
//! `whitespace = "lenient"` also reads `key = value` (Logstash's default;
//! here `strict` is, so `logname= uid=0` is always an empty `logname`).
//!
//! A text with no pairs passes through unchanged, as in Logstash, unless
//! `fail_on_empty` is set: then it fails with its raw text kept.
//!
//! Not for: nested or bracketed values (`key=[a b]`, `key=(x)`), values
//! with spaces that are not quoted, repeated keys as arrays, or regex
//! separators (`field_split` and `value_split` are sets of characters).

pub mod pairs;
pub mod scan;

use sluice_sdk::{Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform, Value};

use pairs::{Conversion, Extractor};
use scan::{FieldSplit, Splitter};

/// The `kv` transform.
pub struct Kv {
    /// The field holding the text; `message` means the event's message.
    field: String,
    extractor: Extractor,
    fail_on_empty: bool,
}

impl Transform for Kv {
    fn describe() -> PluginInfo {
        PluginInfo::transform("kv", env!("CARGO_PKG_VERSION"))
            .description("parses key=value pairs into fields, like Logstash's kv filter")
            .key(
                "field",
                "string",
                "field holding the text (default: message)",
            )
            .key(
                "field_split",
                "string",
                "characters, any of which separates pairs (default: any whitespace)",
            )
            .key(
                "value_split",
                "string",
                "characters, any of which separates a key from its value (default `=`)",
            )
            .key(
                "whitespace",
                "string",
                "`strict` (default): `key= value` is an empty key; `lenient`: spaces may \
                 surround value_split (`total = 1072`), but a following `k=v` is never a value",
            )
            .key("prefix", "string", "put before every key (default none)")
            .key(
                "target",
                "string",
                "put before every name with a dot: `target.key` (default none, top level)",
            )
            .key(
                "include_keys",
                "list<string>",
                "only these keys are kept (default all)",
            )
            .key("exclude_keys", "list<string>", "these keys are dropped")
            .key(
                "trim_key",
                "string",
                "characters removed from both ends of every key",
            )
            .key(
                "trim_value",
                "string",
                "characters removed from both ends of every value",
            )
            .key(
                "convert",
                "table",
                "key = `int`, `float` or `bool`: the type the key's value becomes",
            )
            .key(
                "fail_on_empty",
                "boolean",
                "fail an event with no pairs instead of passing it on (default false)",
            )
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let field_split = match config.string("field_split")? {
            None => FieldSplit::Whitespace,
            Some(s) if s.is_empty() => {
                return Err(ConfigError::new("field_split", "must not be empty"))
            }
            Some(s) => FieldSplit::Chars(s.chars().collect()),
        };
        let value_split: Vec<char> = config
            .string("value_split")?
            .unwrap_or_else(|| "=".into())
            .chars()
            .collect();
        if value_split.is_empty() {
            return Err(ConfigError::new("value_split", "must not be empty"));
        }
        if let Some(c) = value_split.iter().find(|c| match &field_split {
            FieldSplit::Whitespace => c.is_whitespace(),
            FieldSplit::Chars(set) => set.contains(c),
        }) {
            return Err(ConfigError::new(
                "value_split",
                format!("{c:?} also separates pairs (field_split)"),
            ));
        }
        let lenient = match config.string("whitespace")?.as_deref() {
            None | Some("strict") => false,
            Some("lenient") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "whitespace",
                    format!("unknown value `{other}`: expected `strict` or `lenient`"),
                ))
            }
        };
        let convert = config
            .string_map("convert")?
            .unwrap_or_default()
            .into_iter()
            .map(|(key, name)| match Conversion::parse(&name) {
                Some(c) => Ok((key, c)),
                None => Err(ConfigError::new(
                    &format!("convert.{key}"),
                    format!("unknown type `{name}`: expected int, float or bool"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let chars = |key: &str| -> Result<Vec<char>, ConfigError> {
            Ok(config.string(key)?.unwrap_or_default().chars().collect())
        };
        let extractor = Extractor {
            splitter: Splitter {
                field_split,
                value_split,
                lenient,
            },
            trim_key: chars("trim_key")?,
            trim_value: chars("trim_value")?,
            include_keys: config.string_list("include_keys")?.unwrap_or_default(),
            exclude_keys: config.string_list("exclude_keys")?.unwrap_or_default(),
            prefix: config.string("prefix")?.unwrap_or_default(),
            target: config.string("target")?.unwrap_or_default(),
            convert,
        };
        Ok(Kv {
            field: config.string("field")?.unwrap_or_else(|| "message".into()),
            extractor,
            fail_on_empty: config.bool("fail_on_empty")?.unwrap_or(false),
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        for event in batch {
            match self.parse(event) {
                Ok(event) => out.emit(event),
                Err((event, reason)) => out.fail(event, reason),
            }
        }
        Ok(())
    }
}

impl Kv {
    fn parse(&self, mut event: Event) -> Result<Event, (Event, String)> {
        let text = if self.field == "message" {
            event.message.as_str()
        } else {
            match event.fields.get(&self.field) {
                Some(Value::String(s)) => s.as_str(),
                other => {
                    if !self.fail_on_empty {
                        return Ok(event);
                    }
                    let why = if other.is_some() {
                        "is not a string"
                    } else {
                        "is missing"
                    };
                    return Err((event, format!("field `{}` {why}", self.field)));
                }
            }
        };
        let extracted = self.extractor.extract(text);
        if extracted.is_empty() {
            if self.fail_on_empty {
                let reason = format!("no key=value pairs in `{}`", self.field);
                return Err((event, reason));
            }
            return Ok(event);
        }
        let failed = extracted.iter().filter(|e| e.convert_failed).count();
        if failed > 0 {
            sluice_sdk::host::counter_add("kv_convert_failures", failed as u64);
        }
        for e in extracted {
            event.fields.insert(e.name, e.value);
        }
        Ok(event)
    }
}

sluice_sdk::transform!(Kv);

#[cfg(test)]
mod tests;
