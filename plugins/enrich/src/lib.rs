//! `builtin:enrich`: adds fields to events.
//!
//! - `fields`: static fields (`{ env = "prod", region = "eu-west-1" }`);
//! - `lookup_file` + `lookup_key`: a CSV table; the row whose `lookup_column`
//!   (default: the first column) equals the event's `lookup_key` field adds
//!   its other columns as fields (under `lookup_target.` if set);
//! - `templates`: fields built from other fields, `{{name}}` for a field and
//!   `{{message}}` for the message (`{ service = "{{k8s.app}}-{{k8s.env}}" }`);
//!   a template that names a missing field is skipped for that event.
//!
//! Existing fields are kept unless `overwrite = true`. The lookup file is
//! read once at configure; the host grants read access to its directory only.
//!
//! Not for: parsing (use grok, json or kv first) or calling services.

mod csv;

use sluice_sdk::template::{self, Template};
use sluice_sdk::{
    transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform, Value,
};
use std::collections::HashMap;

pub struct Enrich {
    fields: Vec<(String, Value)>,
    lookup: Option<Lookup>,
    templates: Vec<(String, Template)>,
    overwrite: bool,
}

struct Lookup {
    key_field: String,
    target: String,
    /// Key value → the row's other (column, value) pairs.
    rows: HashMap<String, Vec<(String, String)>>,
}

impl Transform for Enrich {
    fn describe() -> PluginInfo {
        PluginInfo::transform("enrich", env!("CARGO_PKG_VERSION"))
            .description(
                "adds static fields, CSV lookup-table columns, and fields built from templates",
            )
            .key(
                "fields",
                "table",
                "static fields to add, e.g. { env = \"prod\" }",
            )
            .key("lookup_file", "file", "CSV file with a header row")
            .key(
                "lookup_key",
                "string",
                "event field whose value is looked up (required with lookup_file)",
            )
            .key(
                "lookup_column",
                "string",
                "CSV column matched against it (default: the first)",
            )
            .key(
                "lookup_target",
                "string",
                "prefix for the added columns (default: none)",
            )
            .key(
                "templates",
                "table",
                "fields built from others: { name = \"{{field}}/{{message}}\" }",
            )
            .key(
                "overwrite",
                "boolean",
                "replace fields that already exist (default false)",
            )
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let mut fields = Vec::new();
        if let Some(table) = config.raw("fields") {
            let table = table
                .as_object()
                .ok_or_else(|| ConfigError::new("fields", "expected a table"))?;
            for (name, value) in table {
                if value.is_object() || value.is_array() {
                    return Err(ConfigError::new(
                        &format!("fields.{name}"),
                        "expected a string, number or boolean",
                    ));
                }
                fields.push((name.clone(), sluice_sdk::value_from_json(value)));
            }
        }
        let lookup = match config.string("lookup_file")? {
            None => None,
            Some(path) => {
                let key_field = config
                    .string("lookup_key")?
                    .ok_or_else(|| ConfigError::new("lookup_key", "required with lookup_file"))?;
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError::new("lookup_file", format!("cannot read {path}: {e}"))
                })?;
                let rows = csv::table(&text, config.string("lookup_column")?.as_deref())
                    .map_err(|e| ConfigError::new("lookup_file", format!("{path}: {e}")))?;
                Some(Lookup {
                    key_field,
                    target: config.string("lookup_target")?.unwrap_or_default(),
                    rows,
                })
            }
        };
        let mut templates = Vec::new();
        for (name, text) in config.string_map("templates")?.unwrap_or_default() {
            let template = Template::parse(&text)
                .map_err(|e| ConfigError::new(&format!("templates.{name}"), e.to_string()))?;
            templates.push((name, template));
        }
        Ok(Enrich {
            fields,
            lookup,
            templates,
            overwrite: config.bool("overwrite")?.unwrap_or(false),
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        for mut event in batch {
            self.enrich(&mut event);
            out.emit(event);
        }
        Ok(())
    }
}

impl Enrich {
    fn set(&self, event: &mut Event, name: String, value: Value) {
        if self.overwrite || event.fields.get(&name).is_none() {
            event.fields.insert(name, value);
        }
    }

    fn enrich(&self, event: &mut Event) {
        for (name, value) in &self.fields {
            self.set(event, name.clone(), value.clone());
        }
        if let Some(lookup) = &self.lookup {
            let key = event.fields.get(&lookup.key_field).map(template::text);
            if let Some(row) = key.and_then(|k| lookup.rows.get(&k)) {
                for (column, value) in row {
                    let name = if lookup.target.is_empty() {
                        column.clone()
                    } else {
                        format!("{}.{column}", lookup.target)
                    };
                    self.set(event, name, Value::String(value.clone()));
                }
            }
        }
        for (name, template) in &self.templates {
            if let Some(value) = template.render(event) {
                self.set(event, name.clone(), Value::String(value));
            }
        }
    }
}

transform!(Enrich);

#[cfg(test)]
mod tests;
