//! TOML → [`Pipeline`], keeping spans so errors can name the line.
//!
//! The document is parsed once into toml's spanned `DeTable`. The keys every
//! stage shares (`type`, `inputs`, `plugin`, `config`) are taken out by hand;
//! the rest of a stage's table is deserialized into the component's own
//! `*Config` struct, which denies unknown keys, straight from the spanned
//! value, so serde's errors come with the offending key's span.

use super::graph;
use super::{
    ConfigError, ExpectedEvent, Input, InputRef, Location, Pipeline, PipelineTest, SinkKind,
    SinkStage, SourceKind, SourceStage, TransformStage,
};
use crate::plugin::transform::{Grants, Preopen, TransformLimits};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::Deserialize;
use sluice_io::buffer::{BufferConfig, BufferKind, WhenFull};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Reads and validates a pipeline file. `data_dir_override` (from the CLI)
/// wins over the file's `data_dir`.
pub fn load(path: &Path, data_dir_override: Option<&Path>) -> Result<Pipeline, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        location: None,
        key: None,
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    parse(path, &text, data_dir_override)
}

/// Parses pipeline text as if read from `path`.
pub fn parse(
    path: &Path,
    text: &str,
    data_dir_override: Option<&Path>,
) -> Result<Pipeline, ConfigError> {
    let text = &super::env::interpolate(path, text, |name| std::env::var(name).ok())?;
    let cx = Cx { path, text };
    let root = DeTable::parse(text).map_err(|e| cx.toml_error(None, &e))?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();

    let mut data_dir = None;
    let mut sources = Vec::new();
    let mut transforms = Vec::new();
    let mut sinks = Vec::new();
    let mut tests = Vec::new();
    let mut api = None;
    let mut store = Default::default();
    let mut acknowledgements = true;
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "data_dir" => {
                let dir: PathBuf = cx.deserialize("data_dir", value)?;
                data_dir = Some(base_dir.join(dir));
            }
            "sources" => {
                for (name, stage) in cx.stages("sources", value)? {
                    sources.push(cx.source(name, stage)?);
                }
            }
            "transforms" => {
                for (name, stage) in cx.stages("transforms", value)? {
                    transforms.push(cx.transform(name, stage, &base_dir)?);
                }
            }
            "sinks" => {
                for (name, stage) in cx.stages("sinks", value)? {
                    sinks.push(cx.sink(name, stage)?);
                }
            }
            "api" => {
                let span = value.span();
                let mut config: super::ApiConfig = cx.deserialize("api", value)?;
                if config.tls_cert.is_some() != config.tls_key.is_some() {
                    return Err(cx.error_at(
                        span,
                        Some("api".into()),
                        "TLS needs both `tls_cert` and `tls_key`",
                    ));
                }
                for path in [&mut config.tls_cert, &mut config.tls_key, &mut config.auth]
                    .into_iter()
                    .flatten()
                {
                    *path = base_dir.join(&*path);
                }
                api = Some(config);
            }
            "store" => store = cx.deserialize("store", value)?,
            "acknowledgements" => acknowledgements = cx.deserialize("acknowledgements", value)?,
            "tests" => {
                let specs: Vec<Spanned<TestSpec>> = cx.deserialize("tests", value)?;
                tests = specs
                    .into_iter()
                    .map(|t| (cx.location(t.span()), t.into_inner()))
                    .collect();
            }
            other => {
                return Err(cx.error_at(
                    key.span(),
                    Some(other.to_owned()),
                    "unknown key; expected `data_dir`, `acknowledgements`, `api`, `store`, `sources`, `transforms`, `sinks` or `tests`",
                ))
            }
        }
    }
    let data_dir = data_dir_override
        .map(Path::to_path_buf)
        .or(data_dir)
        .unwrap_or_else(|| PathBuf::from(".sluice"));
    let tests = tests
        .into_iter()
        .map(|(location, spec)| spec.resolve(location, &sources, &sinks))
        .collect::<Result<Vec<_>, _>>()?;
    let mut pipeline = Pipeline {
        file: path.to_owned(),
        data_dir,
        sources,
        transforms,
        sinks,
        tests,
        api,
        store,
        acknowledgements,
    };
    graph::validate(&mut pipeline)?;
    Ok(pipeline)
}

/// A spanned stage table with the name it was declared under.
struct StageTable<'i> {
    kind: &'static str,
    name: String,
    header: Range<usize>,
    keys: BTreeMap<String, (Range<usize>, Spanned<DeValue<'i>>)>,
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl<'a> Cx<'a> {
    fn location(&self, span: Range<usize>) -> Location {
        Location::at(self.path, self.text, span.start)
    }

    fn error_at(
        &self,
        span: Range<usize>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            location: Some(self.location(span)),
            key,
            message: message.into(),
        }
    }

    fn toml_error(&self, key: Option<String>, error: &toml::de::Error) -> ConfigError {
        ConfigError {
            location: error.span().map(|s| self.location(s)),
            key,
            message: error.message().trim().to_owned(),
        }
    }

    /// Deserializes a spanned value; serde's error keeps the span of the
    /// innermost key it was reading.
    fn deserialize<T: DeserializeOwned>(
        &self,
        key: &str,
        value: Spanned<DeValue<'_>>,
    ) -> Result<T, ConfigError> {
        let whole = value.span();
        T::deserialize(value.into_deserializer()).map_err(|e| {
            let mut err = self.toml_error(Some(key.to_owned()), &e);
            if err.location.is_none() {
                err.location = Some(self.location(whole));
            }
            err
        })
    }

    fn stages<'i>(
        &self,
        kind: &'static str,
        value: Spanned<DeValue<'i>>,
    ) -> Result<Vec<(String, StageTable<'i>)>, ConfigError> {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            return Err(self.error_at(
                span,
                Some(kind.to_owned()),
                format!("`{kind}` must be a table of stages, e.g. [{kind}.NAME]"),
            ));
        };
        let mut stages = Vec::new();
        for (name, stage) in table {
            let header = name.span();
            let name = name.into_inner().into_owned();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(self.error_at(
                    header,
                    Some(format!("{kind}.{name}")),
                    "stage names may use only letters, digits, `_` and `-` (a `.` separates a stage from its output in `inputs`)",
                ));
            }
            let stage_span = stage.span();
            let DeValue::Table(keys) = stage.into_inner() else {
                return Err(self.error_at(
                    stage_span,
                    Some(format!("{kind}.{name}")),
                    "a stage must be a table",
                ));
            };
            let keys = keys
                .into_iter()
                .map(|(k, v)| (k.get_ref().to_string(), (k.span(), v)))
                .collect();
            stages.push((
                name.clone(),
                StageTable {
                    kind,
                    name,
                    header,
                    keys,
                },
            ));
        }
        Ok(stages)
    }

    /// Takes a shared key out of a stage table.
    fn take<T: DeserializeOwned>(
        &self,
        stage: &mut StageTable<'_>,
        key: &str,
    ) -> Result<Option<(Range<usize>, T)>, ConfigError> {
        let Some((key_span, value)) = stage.keys.remove(key) else {
            return Ok(None);
        };
        let full_key = format!("{}.{}.{key}", stage.kind, stage.name);
        Ok(Some((key_span, self.deserialize(&full_key, value)?)))
    }

    fn require<T: DeserializeOwned>(
        &self,
        stage: &mut StageTable<'_>,
        key: &str,
        hint: &str,
    ) -> Result<(Range<usize>, T), ConfigError> {
        self.take(stage, key)?.ok_or_else(|| {
            self.error_at(
                stage.header.clone(),
                Some(format!("{}.{}.{key}", stage.kind, stage.name)),
                format!("missing required key `{key}` ({hint})"),
            )
        })
    }

    /// Deserializes what is left of a stage into a component's config.
    fn rest<T: DeserializeOwned>(&self, stage: StageTable<'_>) -> Result<T, ConfigError> {
        let mut table = DeTable::new();
        for (key, (span, value)) in stage.keys {
            table.insert(Spanned::new(span, key.into()), value);
        }
        let key = format!("{}.{}", stage.kind, stage.name);
        let value = Spanned::new(stage.header.clone(), DeValue::Table(table));
        self.deserialize(&key, value)
    }

    fn inputs(&self, stage: &mut StageTable<'_>) -> Result<Vec<Input>, ConfigError> {
        let (span, inputs): (_, Vec<Spanned<String>>) = self.require(
            stage,
            "inputs",
            "the stages this one reads, e.g. inputs = [\"in\"]",
        )?;
        if inputs.is_empty() {
            return Err(self.error_at(
                span,
                Some(format!("{}.{}.inputs", stage.kind, stage.name)),
                "`inputs` is empty",
            ));
        }
        Ok(inputs
            .into_iter()
            .map(|input| {
                let location = self.location(input.span());
                let text = input.into_inner();
                let input = match text.split_once('.') {
                    Some((stage, output)) => InputRef {
                        stage: stage.to_owned(),
                        output: Some(output.to_owned()),
                    },
                    None => InputRef {
                        stage: text,
                        output: None,
                    },
                };
                Input { input, location }
            })
            .collect())
    }

    fn source(&self, name: String, mut stage: StageTable<'_>) -> Result<SourceStage, ConfigError> {
        let (span, kind): (_, String) = self.require(
            &mut stage,
            "type",
            "one of stdin, file, http, syslog, demo, sluice, kafka",
        )?;
        let kind = match kind.as_str() {
            "stdin" => SourceKind::Stdin(self.rest(stage)?),
            "file" => SourceKind::File(self.rest(stage)?),
            "http" => SourceKind::Http(self.rest(stage)?),
            "syslog" => SourceKind::Syslog(self.rest(stage)?),
            "demo" => SourceKind::Demo(self.rest(stage)?),
            "sluice" => SourceKind::Sluice(self.rest(stage)?),
            "kafka" => SourceKind::Kafka(self.rest(stage)?),
            other => {
                return Err(self.error_at(
                    span,
                    Some(format!("sources.{name}.type")),
                    format!(
                        "unknown source type `{other}`; expected one of stdin, file, http, syslog, demo, sluice, kafka"
                    ),
                ))
            }
        };
        Ok(SourceStage { name, kind })
    }

    fn sink(&self, name: String, mut stage: StageTable<'_>) -> Result<SinkStage, ConfigError> {
        let inputs = self.inputs(&mut stage)?;
        let buffer = match self.take::<BufferConfig>(&mut stage, "buffer")? {
            Some((_, b)) if b.kind == BufferKind::Disk => Some(b),
            Some((span, b)) if b.when_full != WhenFull::Block => return Err(self.error_at(
                span,
                Some(format!("sinks.{name}.buffer.when_full")),
                "a memory buffer always blocks when full; use `type = \"disk\"` for drop policies",
            )),
            _ => None,
        };
        let (span, kind): (_, String) = self.require(
            &mut stage,
            "type",
            "one of console, file, store, blackhole, sluice, kafka",
        )?;
        let kind = match kind.as_str() {
            "console" => SinkKind::Console(self.rest(stage)?),
            "file" => SinkKind::File(self.rest(stage)?),
            "blackhole" => SinkKind::Blackhole(self.rest(stage)?),
            "store" => SinkKind::Store(self.rest(stage)?),
            "sluice" => SinkKind::Sluice(self.rest(stage)?),
            "kafka" => SinkKind::Kafka(self.rest(stage)?),
            other => {
                return Err(self.error_at(
                    span,
                    Some(format!("sinks.{name}.type")),
                    format!(
                    "unknown sink type `{other}`; expected one of console, file, store, blackhole, sluice, kafka"
                ),
                ))
            }
        };
        Ok(SinkStage {
            name,
            inputs,
            kind,
            buffer,
        })
    }

    fn transform(
        &self,
        name: String,
        mut stage: StageTable<'_>,
        base_dir: &Path,
    ) -> Result<TransformStage, ConfigError> {
        let inputs = self.inputs(&mut stage)?;
        let (plugin_span, plugin): (_, String) =
            self.require(&mut stage, "plugin", "e.g. plugin = \"builtin:json\"")?;
        let mut config_locations = HashMap::new();
        let config = match stage.keys.remove("config") {
            Some((_, value)) => self.config_json(
                &format!("transforms.{name}.config"),
                "",
                value,
                &mut config_locations,
            )?,
            None => serde_json::Value::Object(Default::default()),
        };
        let header_location = self.location(stage.header.clone());
        let options: TransformOptions = self.rest(stage)?;
        let defaults = TransformLimits::default();
        let limits = TransformLimits {
            memory_bytes: options
                .memory_limit_mb
                .map_or(defaults.memory_bytes, |mb| (mb as usize) << 20),
            timeout: options
                .timeout_ms
                .map_or(defaults.timeout, Duration::from_millis),
            breaker_threshold: options
                .circuit_breaker_failures
                .unwrap_or(defaults.breaker_threshold),
            breaker_cooldown: options
                .circuit_breaker_cooldown_ms
                .map_or(defaults.breaker_cooldown, Duration::from_millis),
        };
        if limits.memory_bytes > crate::plugin::engine::MAX_MEMORY_LIMIT || limits.memory_bytes == 0
        {
            return Err(ConfigError {
                location: Some(header_location),
                key: Some(format!("transforms.{name}.memory_limit_mb")),
                message: format!(
                    "must be between 1 and {}",
                    crate::plugin::engine::MAX_MEMORY_LIMIT >> 20
                ),
            });
        }
        let grants = Grants {
            preopens: options
                .preopen
                .into_iter()
                .map(|p| {
                    let host = base_dir.join(&p.path);
                    let guest = p
                        .guest_path
                        .unwrap_or_else(|| host.to_string_lossy().into_owned());
                    Preopen {
                        host,
                        guest,
                        read_only: !p.writable,
                    }
                })
                .collect(),
            env: options.env.into_iter().collect(),
            allowed_addrs: self.resolve_hosts(&name, options.allow_hosts)?,
        };
        Ok(TransformStage {
            name,
            inputs,
            plugin,
            plugin_location: self.location(plugin_span),
            config,
            config_locations,
            header_location,
            limits,
            grants,
            flush_interval: Duration::from_millis(options.flush_interval_ms.unwrap_or(1000)),
        })
    }

    /// Resolves `allow_hosts` once, when the pipeline is built; a name that
    /// does not resolve is an error at its line.
    fn resolve_hosts(
        &self,
        stage: &str,
        hosts: Vec<Spanned<String>>,
    ) -> Result<Vec<std::net::SocketAddr>, ConfigError> {
        use std::net::ToSocketAddrs;
        let mut addrs = Vec::new();
        for host in hosts {
            let span = host.span();
            let resolved = host.get_ref().to_socket_addrs().map_err(|e| {
                self.error_at(
                    span,
                    Some(format!("transforms.{stage}.allow_hosts")),
                    format!(
                        "cannot resolve `{}` (expected host:port): {e}",
                        host.get_ref()
                    ),
                )
            })?;
            addrs.extend(resolved);
        }
        Ok(addrs)
    }

    /// Turns a `config` value into JSON, recording where each key was written.
    fn config_json(
        &self,
        full_key: &str,
        path: &str,
        value: Spanned<DeValue<'_>>,
        locations: &mut HashMap<String, Location>,
    ) -> Result<serde_json::Value, ConfigError> {
        use serde_json::Value as Json;
        let span = value.span();
        Ok(match value.into_inner() {
            DeValue::Table(table) => {
                let mut map = serde_json::Map::new();
                for (key, value) in table {
                    let key_text = key.get_ref().to_string();
                    let child = if path.is_empty() {
                        key_text.clone()
                    } else {
                        format!("{path}.{key_text}")
                    };
                    locations.insert(child.clone(), self.location(key.span()));
                    map.insert(
                        key_text,
                        self.config_json(full_key, &child, value, locations)?,
                    );
                }
                Json::Object(map)
            }
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.push(self.config_json(full_key, path, item, locations)?);
                }
                Json::Array(out)
            }
            DeValue::String(s) => Json::String(s.into_owned()),
            DeValue::Boolean(b) => Json::Bool(b),
            other @ (DeValue::Integer(_) | DeValue::Float(_) | DeValue::Datetime(_)) => {
                // Let toml's own deserializer handle radixes, `_` separators,
                // inf/nan and datetimes.
                let value: toml::Value =
                    self.deserialize(full_key, Spanned::new(span.clone(), other))?;
                match value {
                    toml::Value::Integer(i) => Json::from(i),
                    toml::Value::Float(f) => serde_json::Number::from_f64(f)
                        .map(Json::Number)
                        .ok_or_else(|| {
                            self.error_at(
                                span,
                                Some(format!("{full_key}.{path}")),
                                "a non-finite float cannot be passed to a plugin",
                            )
                        })?,
                    other => Json::String(other.to_string()),
                }
            }
        })
    }
}

/// A `[[tests]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSpec {
    name: String,
    /// Lines fed to the source, one event each.
    inputs: Vec<String>,
    source: Option<String>,
    sink: Option<String>,
    /// The events the sink must receive, in order.
    #[serde(default)]
    outputs: Vec<ExpectedSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSpec {
    message: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, toml::Value>,
    #[serde(default)]
    absent: Vec<String>,
}

impl TestSpec {
    /// Picks the source and sink (the only one when not named) and checks
    /// that they exist.
    fn resolve(
        self,
        location: Location,
        sources: &[SourceStage],
        sinks: &[SinkStage],
    ) -> Result<PipelineTest, ConfigError> {
        let error = |message: String| ConfigError {
            location: Some(location.clone()),
            key: Some("tests".into()),
            message: format!("test `{}`: {message}", self.name),
        };
        let pick = |kind: &str, named: &Option<String>, names: Vec<&String>| match (
            named,
            names.as_slice(),
        ) {
            (Some(name), _) if names.contains(&name) => Ok(name.clone()),
            (Some(name), _) => Err(error(format!("there is no {kind} `{name}`"))),
            (None, [only]) => Ok((*only).clone()),
            (None, _) => Err(error(format!(
                "the pipeline has several {kind}s; name one with `{kind} = \"...\"`"
            ))),
        };
        let source = pick(
            "source",
            &self.source,
            sources.iter().map(|s| &s.name).collect(),
        )?;
        let sink = pick("sink", &self.sink, sinks.iter().map(|s| &s.name).collect())?;
        let outputs = self
            .outputs
            .into_iter()
            .map(|o| ExpectedEvent {
                message: o.message,
                fields: o
                    .fields
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                        )
                    })
                    .collect(),
                absent: o.absent,
            })
            .collect();
        Ok(PipelineTest {
            name: self.name,
            location,
            source,
            sink,
            inputs: self.inputs,
            outputs,
        })
    }
}

/// The keys a transform stage takes besides `inputs`, `plugin` and `config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransformOptions {
    /// Linear memory the plugin may use, in MiB (default 128).
    memory_limit_mb: Option<u64>,
    /// CPU deadline per batch, in ms (default 5000).
    timeout_ms: Option<u64>,
    /// Consecutive failed batches that open the circuit (default 5).
    circuit_breaker_failures: Option<u32>,
    /// How long an open circuit refuses batches, in ms (default 30000).
    circuit_breaker_cooldown_ms: Option<u64>,
    /// How often `flush` is called when idle, in ms (default 1000).
    flush_interval_ms: Option<u64>,
    /// Directories the plugin may see.
    #[serde(default)]
    preopen: Vec<PreopenOption>,
    /// Environment variables the plugin may see.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// `host:port` pairs the plugin may connect to; nothing else is reachable.
    #[serde(default)]
    allow_hosts: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreopenOption {
    path: PathBuf,
    /// Where the plugin sees it (default: the same absolute path).
    guest_path: Option<String>,
    /// Read-only unless set.
    #[serde(default)]
    writable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        parse(Path::new("p.toml"), text, None).unwrap_err()
    }

    #[test]
    fn unknown_sink_key_names_file_line_and_key() {
        let e = err("[sources.in]\ntype = \"stdin\"\n[sinks.out]\ninputs = [\"in\"]\ntype = \"console\"\nencodng = \"json\"\n");
        let text = e.to_string();
        assert!(text.starts_with("p.toml:6:"), "{text}");
        assert!(text.contains("encodng"), "{text}");
    }

    #[test]
    fn kafka_stages_parse_and_their_errors_name_stage_and_key() {
        let kafka = "[sources.in]\ntype = \"kafka\"\nbootstrap_servers = \"b:9092\"\ngroup_id = \"g\"\ntopics = [\"logs\"]\n\
                     [sinks.out]\ninputs = [\"in\"]\ntype = \"kafka\"\nbootstrap_servers = \"b:9092\"\ntopic = \"t\"\nkey = \"{{service}}\"\n";
        let pipeline = parse(Path::new("p.toml"), kafka, None).unwrap();
        assert!(
            matches!(&pipeline.sources[0].kind, SourceKind::Kafka(c) if c.subscription == ["logs"])
        );
        assert!(matches!(&pipeline.sinks[0].kind, SinkKind::Kafka(c) if c.key.is_some()));
        let e = err(&kafka.replace("topics = [\"logs\"]", "topic = \"logs\""));
        let text = e.to_string();
        assert!(
            text.starts_with("p.toml:5:")
                && text.contains("`sources.in`")
                && text.contains("unknown field `topic`"),
            "{text}"
        );
        let e = err(&kafka.replace("key = \"{{service}}\"", "compression = \"gzip\""));
        let text = e.to_string();
        assert!(
            text.starts_with("p.toml:11:") && text.contains("`sinks.out`") && text.contains("gzip"),
            "{text}"
        );
        let e = err(&kafka.replace(
            "type = \"kafka\"\nbootstrap_servers = \"b:9092\"\ntopic",
            "type = \"kafk\"\nbootstrap_servers = \"b:9092\"\ntopic",
        ));
        assert!(
            e.to_string()
                .contains("expected one of console, file, store, blackhole, sluice, kafka"),
            "{e}"
        );
    }

    #[test]
    fn sink_buffers_are_checked_and_placed() {
        let sink = |buffer: &str| {
            format!("[sources.in]\ntype = \"stdin\"\n[sinks.out]\ninputs = [\"in\"]\ntype = \"console\"\n{buffer}\n")
        };
        let e = err(&sink(
            "buffer = { type = \"disk\", when_full = \"drop_oldest\" }",
        ));
        assert_eq!(e.location.as_ref().unwrap().line, 6, "{e}");
        assert!(e.to_string().contains("drop_oldest"), "{e}");
        let e = err(&sink(
            "buffer.type = \"disk\"\nbuffer.max_size = \"12 parsecs\"",
        ));
        assert!(e.to_string().contains("invalid size \"12 parsecs\""), "{e}");
        let e = err(&sink("buffer.type = \"disk\"\nbuffer.max_size = 4096"));
        assert!(e.to_string().contains("below the minimum"), "{e}");
        let e = err(&sink(
            "buffer = { type = \"memory\", when_full = \"drop_newest\" }",
        ));
        assert!(e.to_string().contains("use `type = \"disk\"`"), "{e}");
        let p = parse(
            Path::new("p.toml"),
            &sink(
                "buffer = { type = \"disk\", max_size = \"2GiB\", when_full = \"drop_by_level\" }",
            ),
            None,
        )
        .unwrap();
        let buffer = p.sinks[0].buffer.as_ref().unwrap();
        assert_eq!(
            (buffer.max_size, buffer.when_full),
            (2 << 30, WhenFull::DropByLevel)
        );
    }

    #[test]
    fn api_security_keys_are_checked_and_paths_follow_the_file() {
        let api = |keys: &str| {
            format!("[sources.in]\ntype = \"stdin\"\n[sinks.out]\ninputs = [\"in\"]\ntype = \"blackhole\"\n[api]\naddress = \"127.0.0.1:9598\"\n{keys}\n")
        };
        let p = parse(
            Path::new("/etc/sluice/p.toml"),
            &api("auth = \"tokens.toml\"\ntls_cert = \"tls/c.pem\"\ntls_key = \"/k.pem\"\nmax_body = \"8MiB\"\nmax_search_timeout = \"30s\"\nmax_scan_budget = 1000"),
            None,
        )
        .unwrap();
        let a = p.api.unwrap();
        assert_eq!(
            a.auth.as_deref(),
            Some(Path::new("/etc/sluice/tokens.toml"))
        );
        assert_eq!(
            a.tls_cert.as_deref(),
            Some(Path::new("/etc/sluice/tls/c.pem"))
        );
        assert_eq!(a.tls_key.as_deref(), Some(Path::new("/k.pem")));
        assert_eq!(a.max_body, Some(8 << 20));
        assert_eq!(a.max_search_timeout, Some(Duration::from_secs(30)));
        assert_eq!(a.max_scan_budget, Some(1000));
        let e = err(&api("tls_cert = \"c.pem\""));
        assert!(
            e.to_string().contains("both `tls_cert` and `tls_key`"),
            "{e}"
        );
        let e = err(&api("max_body = \"lots\""));
        assert_eq!(e.location.as_ref().unwrap().line, 8, "{e}");
        assert!(e.to_string().contains("invalid size \"lots\""), "{e}");
        let e = err(&api("max_search_timeout = \"soon\""));
        assert!(e.to_string().contains("invalid duration"), "{e}");
        // A token file that does not exist is named when the API starts.
        let a = parse(Path::new("/x/p.toml"), &api("auth = \"none.toml\""), None)
            .unwrap()
            .api
            .unwrap();
        let e = a.server_options().unwrap_err();
        assert!(e.to_string().contains("/x/none.toml"), "{e}");
    }

    #[test]
    fn unknown_top_level_and_transform_keys_are_placed() {
        let e = err("bogus = 1\n");
        assert_eq!(e.location.unwrap().line, 1);
        let e = err("[sources.in]\ntype = \"stdin\"\n[transforms.t]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\n\ntimeout = 5\n[sinks.o]\ninputs=[\"t\"]\ntype=\"blackhole\"\n");
        assert_eq!(e.location.as_ref().unwrap().line, 7, "{e}");
        assert!(e.to_string().contains("timeout"), "{e}");
    }

    #[test]
    fn wrong_type_is_placed_at_the_value() {
        let e = err("[sources.in]\ntype = \"stdin\"\n[sinks.o]\ninputs = [\"in\"]\ntype = \"file\"\npath = 3\n");
        assert_eq!(e.location.as_ref().unwrap().line, 6, "{e}");
    }

    #[test]
    fn config_keys_keep_their_lines() {
        let p = parse(
            Path::new("p.toml"),
            "[sources.in]\ntype = \"stdin\"\n[transforms.t]\ninputs = [\"in\"]\nplugin = \"builtin:grok\"\nconfig.patterns = [\"%{WORD:w}\"]\nconfig.x = 0x10\n[sinks.o]\ninputs=[\"t\"]\ntype=\"blackhole\"\n",
            None,
        )
        .unwrap();
        let t = &p.transforms[0];
        assert_eq!(t.config["x"], 16);
        assert_eq!(t.config_location(Some("patterns[0]")).line, 6);
        assert_eq!(t.config_location(Some("x")).line, 7);
    }

    #[test]
    fn allow_hosts_resolve_at_load_and_bad_ones_are_placed() {
        let text = |hosts: &str| {
            format!(
                "[sources.in]\ntype = \"stdin\"\n[transforms.t]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\n\
                 allow_hosts = [{hosts}]\n[sinks.o]\ninputs=[\"t\"]\ntype=\"blackhole\"\n"
            )
        };
        let p = parse(Path::new("p.toml"), &text("\"127.0.0.1:9000\""), None).unwrap();
        assert_eq!(
            p.transforms[0].grants.allowed_addrs,
            vec!["127.0.0.1:9000".parse().unwrap()]
        );
        let e = err(&text("\"127.0.0.1:9000\", \"no port here\""));
        assert_eq!(e.location.as_ref().unwrap().line, 6, "{e}");
        assert!(e.message.contains("no port here"), "{e}");
    }

    #[test]
    fn syntax_errors_are_placed() {
        let e = err("[sources.in\n");
        assert_eq!(e.location.unwrap().line, 1);
    }
}
