//! What a plugin says about itself in `describe()`.

use crate::bindings::transform::sluice::plugin::types as wit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Transform,
    AlertEvaluator,
    Source,
    Sink,
}

/// A key the plugin accepts in its stage's `config` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    pub name: String,
    pub type_name: String,
    pub required: bool,
    pub description: String,
}

/// Name, version, role, accepted config keys and named outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub role: Role,
    pub description: String,
    pub config_keys: Vec<ConfigKey>,
    pub outputs: Vec<String>,
}

impl PluginInfo {
    /// A transform with the `errors` output already declared.
    pub fn transform(name: &str, version: &str) -> Self {
        PluginInfo {
            name: name.to_owned(),
            version: version.to_owned(),
            role: Role::Transform,
            description: String::new(),
            config_keys: Vec::new(),
            outputs: vec!["errors".to_owned()],
        }
    }
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }
    /// Declares an optional config key.
    pub fn key(mut self, name: &str, type_name: &str, description: &str) -> Self {
        self.config_keys.push(ConfigKey {
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            required: false,
            description: description.to_owned(),
        });
        self
    }
    /// Declares a config key that must be present.
    pub fn required_key(mut self, name: &str, type_name: &str, description: &str) -> Self {
        self = self.key(name, type_name, description);
        if let Some(last) = self.config_keys.last_mut() {
            last.required = true;
        }
        self
    }
    /// Declares a named output besides the main one.
    pub fn output(mut self, name: &str) -> Self {
        if !self.outputs.iter().any(|o| o == name) {
            self.outputs.push(name.to_owned());
        }
        self
    }
}

pub(crate) fn to_wit(info: PluginInfo) -> wit::PluginInfo {
    wit::PluginInfo {
        name: info.name,
        version: info.version,
        role: match info.role {
            Role::Transform => wit::Role::Transform,
            Role::AlertEvaluator => wit::Role::AlertEvaluator,
            Role::Source => wit::Role::Source,
            Role::Sink => wit::Role::Sink,
        },
        description: info.description,
        config_keys: info
            .config_keys
            .into_iter()
            .map(|k| wit::ConfigKey {
                name: k.name,
                type_name: k.type_name,
                required: k.required,
                description: k.description,
            })
            .collect(),
        outputs: info.outputs,
    }
}
