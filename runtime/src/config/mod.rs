//! Pipeline files: TOML in, a validated [`Pipeline`] out.
//!
//! Parsing keeps the span of every key, so every error names the file, the
//! line and the key. The runtime never touches TOML types: it gets the
//! domain types below.

mod env;
mod graph;
mod parse;

pub use parse::load;

use crate::plugin::transform::{Grants, TransformLimits};
use sluice_io::sinks::{
    blackhole::BlackholeConfig, console::ConsoleConfig, file::FileSinkConfig,
    sluice::SluiceSinkConfig, store::StoreSinkConfig,
};
use sluice_io::sources::{
    demo::DemoConfig, file::FileConfig, http::HttpConfig, sluice::SluiceSourceConfig,
    stdin::StdinConfig, syslog::SyslogConfig,
};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a pipeline file, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `text`.
    pub fn at(file: &Path, text: &str, offset: usize) -> Self {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            file: file.to_owned(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A pipeline that cannot run, and where it says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub location: Option<Location>,
    /// The dotted key, e.g. `sinks.out.encodng`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// `stage` or `stage.output`, as written in `inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InputRef {
    pub stage: String,
    /// `None` is the main output.
    pub output: Option<String>,
}

impl fmt::Display for InputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.output {
            Some(output) => write!(f, "{}.{output}", self.stage),
            None => f.write_str(&self.stage),
        }
    }
}

/// An input with the place it was written, for later errors.
#[derive(Debug, Clone)]
pub struct Input {
    pub input: InputRef,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Stdin(StdinConfig),
    File(FileConfig),
    Http(HttpConfig),
    Syslog(SyslogConfig),
    Demo(DemoConfig),
    /// The central end of the forward protocol.
    Sluice(SluiceSourceConfig),
    Kafka(sluice_kafka::KafkaSourceConfig),
    /// Lines given in memory: what `sluice test` feeds in place of a source.
    /// Not a TOML `type`.
    Memory(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct SourceStage {
    pub name: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub struct TransformStage {
    pub name: String,
    pub inputs: Vec<Input>,
    /// The `plugin` string as written.
    pub plugin: String,
    pub plugin_location: Location,
    /// The `config` table, as JSON for the plugin's `configure`.
    pub config: serde_json::Value,
    /// Where each dotted key of `config` was written, to place the plugin's
    /// config errors.
    pub config_locations: HashMap<String, Location>,
    pub header_location: Location,
    pub limits: TransformLimits,
    pub grants: Grants,
    /// How often `flush` is called when no batch arrives.
    pub flush_interval: std::time::Duration,
}

impl TransformStage {
    /// Where to report an error about `config.<key>`: the key's line if it
    /// was written, else the `plugin` line.
    pub fn config_location(&self, key: Option<&str>) -> Location {
        key.and_then(|key| {
            // `patterns[1]` is reported at `patterns`.
            let base = key.split('[').next().unwrap_or(key);
            self.config_locations.get(base)
        })
        .cloned()
        .unwrap_or_else(|| self.plugin_location.clone())
    }
}

#[derive(Debug, Clone)]
pub enum SinkKind {
    Console(ConsoleConfig),
    File(FileSinkConfig),
    Blackhole(BlackholeConfig),
    Store(StoreSinkConfig),
    /// Forwards to a central `sluice` source.
    Sluice(SluiceSinkConfig),
    Kafka(sluice_kafka::KafkaSinkConfig),
    /// Keeps what arrives in memory: what `sluice test` puts in place of a
    /// sink. Not a TOML `type`.
    Capture(Captured),
}

/// The events a `Capture` sink received, in order.
pub type Captured = std::sync::Arc<std::sync::Mutex<Vec<sluice_event::Event>>>;

/// A `[[tests]]` entry: lines fed to one source, and what one sink must get.
#[derive(Debug, Clone)]
pub struct PipelineTest {
    pub name: String,
    pub location: Location,
    /// The source the lines replace (the only source when not named).
    pub source: String,
    /// The sink whose events are compared (the only sink when not named).
    pub sink: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<ExpectedEvent>,
}

/// What one event must look like. Only what is given is compared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectedEvent {
    pub message: Option<String>,
    /// Each field must be present with this value (compared in JSON form).
    pub fields: Vec<(String, serde_json::Value)>,
    /// Fields that must not be present.
    pub absent: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SinkStage {
    pub name: String,
    pub inputs: Vec<Input>,
    pub kind: SinkKind,
    /// A disk buffer in front of the sink (`buffer.type = "disk"`).
    pub buffer: Option<sluice_io::buffer::BufferConfig>,
}

/// A validated pipeline file.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub file: PathBuf,
    /// Where checkpoints (and later buffers) live.
    pub data_dir: PathBuf,
    pub sources: Vec<SourceStage>,
    /// In dependency order: every transform comes after its inputs.
    pub transforms: Vec<TransformStage>,
    pub sinks: Vec<SinkStage>,
    /// The file's `[[tests]]`, run by `sluice test`.
    pub tests: Vec<PipelineTest>,
    /// The optional `[api]` listener.
    pub api: Option<ApiConfig>,
    /// `[store]`: retention and cold storage of the store that `store`
    /// sinks write.
    pub store: sluice_io::sinks::store::StoreConfig,
    /// Whether sources wait for their sinks (`acknowledgements = false`
    /// trades at-least-once delivery across crashes for speed: the file
    /// source checkpoints what it sent, the HTTP source answers at once, and
    /// the file sink does not fsync).
    pub acknowledgements: bool,
}

/// `[api]`: where `/metrics`, `/health` and (with a `store` sink) the
/// query API are served, and how they are secured. Paths are relative to
/// the pipeline file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// e.g. `127.0.0.1:9598`.
    pub address: std::net::SocketAddr,
    /// A PEM certificate chain: the listener speaks HTTPS (with `tls_key`).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// A token file (`[[tokens]]`, see `sluice_server::auth`): every
    /// endpoint but `/health` and `/ready` then needs a token.
    #[serde(default)]
    pub auth: Option<PathBuf>,
    /// The largest request body, e.g. `"64MiB"` (the default).
    #[serde(default, deserialize_with = "api_size")]
    pub max_body: Option<u64>,
    /// The longest deadline a search may ask for, e.g. `"60s"` (the default).
    #[serde(default, deserialize_with = "api_duration")]
    pub max_search_timeout: Option<std::time::Duration>,
    /// The most rows a search may examine (default 1000000000).
    #[serde(default)]
    pub max_scan_budget: Option<u64>,
}

impl ApiConfig {
    /// The server options these settings give, loading the token file and
    /// the certificate (whose errors name the file).
    pub fn server_options(&self) -> Result<sluice_server::ServerOptions, ApiSetupError> {
        let mut options = sluice_server::ServerOptions::default();
        if let Some(max) = self.max_body {
            options.max_body_bytes = usize::try_from(max).unwrap_or(usize::MAX);
        }
        if let Some(max) = self.max_search_timeout {
            options.max_timeout = max;
            options.default_timeout = options.default_timeout.min(max);
        }
        if let Some(max) = self.max_scan_budget {
            options.max_scan_budget = max;
            options.default_scan_budget = options.default_scan_budget.min(max);
        }
        if let Some(file) = &self.auth {
            options.auth = Some(std::sync::Arc::new(sluice_server::Auth::load(file)?));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => options.tls = Some(sluice_server::Tls::load(cert, key)?),
            (None, None) => {}
            _ => return Err(ApiSetupError::HalfTls),
        }
        Ok(options)
    }
}

/// Why an `[api]` (or `sluice serve`) cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ApiSetupError {
    #[error(transparent)]
    Auth(#[from] sluice_server::AuthError),
    #[error(transparent)]
    Tls(#[from] sluice_server::TlsError),
    #[error("TLS needs both a certificate and a key (tls_cert and tls_key, or --tls-cert and --tls-key)")]
    HalfTls,
}

fn api_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match <Size as serde::Deserialize>::deserialize(d)? {
        Size::Number(n) => Ok(Some(n)),
        Size::Text(text) => sluice_io::buffer::parse_byte_size(&text)
            .map(Some)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid size {text:?}; expected bytes, e.g. 1048576 or \"64MiB\""
                ))
            }),
    }
}

fn api_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    sluice_io::sinks::store::parse_duration(&text)
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}; expected e.g. \"30s\" or \"2m\""
            ))
        })
}

impl Pipeline {
    /// The names of stages that read `stage`'s `output`.
    pub fn consumers(&self, input: &InputRef) -> Vec<&str> {
        let transforms = self
            .transforms
            .iter()
            .filter(|t| t.inputs.iter().any(|i| &i.input == input))
            .map(|t| t.name.as_str());
        let sinks = self
            .sinks
            .iter()
            .filter(|s| s.inputs.iter().any(|i| &i.input == input))
            .map(|s| s.name.as_str());
        transforms.chain(sinks).collect()
    }
}
