//! An example plugin: parses `key=value` pairs out of the message.
//!
//! This is the parser `sdk/README.md` walks through. Build it with
//! `cargo build -p example-kv-parser --target wasm32-wasip2 --release` and use
//! it as `plugin = "file:target/wasm32-wasip2/release/example_kv_parser.wasm"`.

use sluice_sdk::{
    transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

pub struct KvParser {
    separator: char,
    prefix: String,
}

impl Transform for KvParser {
    fn describe() -> PluginInfo {
        PluginInfo::transform("kv-example", env!("CARGO_PKG_VERSION"))
            .description("parses key=value pairs from the message")
            .key(
                "separator",
                "string",
                "one character between key and value (default `=`)",
            )
            .key(
                "prefix",
                "string",
                "prepended to every field name (default none)",
            )
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let separator = config.string("separator")?.unwrap_or_else(|| "=".into());
        let mut chars = separator.chars();
        let (Some(separator), None) = (chars.next(), chars.next()) else {
            return Err(ConfigError::new(
                "separator",
                "must be exactly one character",
            ));
        };
        let prefix = config.string("prefix")?.unwrap_or_default();
        Ok(KvParser { separator, prefix })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        for mut event in batch {
            let pairs: Vec<(String, String)> = event
                .message
                .split_whitespace()
                .filter_map(|word| word.split_once(self.separator))
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| {
                    (
                        format!("{}{k}", self.prefix),
                        v.trim_matches('"').to_owned(),
                    )
                })
                .collect();
            if pairs.is_empty() {
                out.fail(event, "no key=value pairs");
                continue;
            }
            for (k, v) in pairs {
                event.fields.insert(k, v);
            }
            out.emit(event);
        }
        Ok(())
    }
}

transform!(KvParser);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::{testing, Value};

    #[test]
    fn parses_pairs_and_fails_lines_without_any() {
        let config: testing::Json = r#"{"prefix": ""}"#.parse().unwrap();
        let mut p = testing::configure::<KvParser>(config).unwrap();
        let out =
            testing::process_lines(&mut p, &["user=alice status=200", "nothing here"]).unwrap();
        assert_eq!(out[0].event.fields.get("user"), Some(&Value::from("alice")));
        assert_eq!(out[1].output.as_deref(), Some("errors"));
        assert_eq!(out[1].event.message, "nothing here");
    }

    #[test]
    fn a_long_separator_is_refused_by_key() {
        let config = sluice_sdk::Config::from_json(r#"{"separator": "=="}"#.parse().unwrap());
        let err = KvParser::configure(config).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("separator"));
    }
}
