//! The stage's `config` table as the plugin sees it, with typed getters
//! whose errors name the key.

use crate::PluginInfo;
use serde_json::{Map, Value as Json};

/// A refused config value. `key` is the dotted key inside `config`; the host
/// maps it to the file and line of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError {
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            Some(key) => write!(f, "config.{key}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The stage's `config` table. Unknown and missing required keys were already
/// refused against [`PluginInfo::config_keys`] when this was built.
#[derive(Debug, Clone, Default)]
pub struct Config {
    table: Map<String, Json>,
}

impl Config {
    /// Parses the JSON the host passes to `configure` and checks its keys
    /// against the plugin's declared ones.
    pub fn parse(json: &str, info: &PluginInfo) -> Result<Config, ConfigError> {
        let table = match serde_json::from_str::<Json>(json) {
            Ok(Json::Object(map)) => map,
            Ok(Json::Null) => Map::new(),
            Ok(_) => {
                return Err(ConfigError {
                    key: None,
                    message: "config must be a table".into(),
                })
            }
            Err(e) => {
                return Err(ConfigError {
                    key: None,
                    message: format!("config is not valid JSON: {e}"),
                })
            }
        };
        for key in table.keys() {
            if !info.config_keys.iter().any(|k| &k.name == key) {
                let known: Vec<&str> = info.config_keys.iter().map(|k| k.name.as_str()).collect();
                let message = if known.is_empty() {
                    format!("unknown key `{key}`: plugin {} takes no config", info.name)
                } else {
                    format!("unknown key `{key}`, expected one of: {}", known.join(", "))
                };
                return Err(ConfigError::new(key, message));
            }
        }
        for declared in info.config_keys.iter().filter(|k| k.required) {
            if !table.contains_key(&declared.name) {
                return Err(ConfigError::new(&declared.name, "missing required key"));
            }
        }
        Ok(Config { table })
    }

    /// Builds a config from a JSON object without checking keys (for tests).
    pub fn from_json(json: Json) -> Config {
        match json {
            Json::Object(table) => Config { table },
            _ => Config::default(),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&Json> {
        self.table.get(key)
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(type_error(key, "a string", other)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(type_error(key, "a boolean", other)),
        }
    }

    pub fn integer(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Json::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(other) => Err(type_error(key, "an integer", other)),
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    pub fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Json::String(s) => Ok(s.clone()),
                    other => Err(type_error(&format!("{key}[{i}]"), "a string", other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(type_error(key, "a list of strings", other)),
        }
    }

    /// A table of string values.
    pub fn string_map(&self, key: &str) -> Result<Option<Vec<(String, String)>>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Json::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Json::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(type_error(&format!("{key}.{k}"), "a string", other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(type_error(key, "a table of strings", other)),
        }
    }
}

fn type_error(key: &str, expected: &str, got: &Json) -> ConfigError {
    let got = match got {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a table",
    };
    ConfigError::new(key, format!("expected {expected}, found {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PluginInfo {
        PluginInfo::transform("t", "0.1.0")
            .required_key("patterns", "list<string>", "")
            .key("flag", "boolean", "")
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let e = Config::parse(r#"{"patterns":["a"],"bogus":1}"#, &info()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("bogus"));
        assert!(e.message.contains("patterns"), "{e}");
        let e = Config::parse(r#"{}"#, &info()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("patterns"));
    }

    #[test]
    fn typed_getters_name_the_element() {
        let c = Config::parse(r#"{"patterns":["a", 3]}"#, &info()).unwrap();
        let e = c.string_list("patterns").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("patterns[1]"));
        let c = Config::parse(r#"{"patterns":"x","flag":true}"#, &info()).unwrap();
        assert_eq!(
            c.string_list("patterns").unwrap(),
            Some(vec!["x".to_owned()])
        );
        assert_eq!(c.bool("flag").unwrap(), Some(true));
    }
}
