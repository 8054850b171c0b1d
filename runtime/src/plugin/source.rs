//! Where a stage's `plugin = "..."` comes from: `builtin:NAME`,
//! `file:PATH`, or `registry:team/name@req`.

use super::engine::PluginError;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PluginRef {
    Builtin(String),
    /// An absolute path (relative ones are resolved against the pipeline file).
    File(PathBuf),
    Registry(String),
}

impl PluginRef {
    /// Parses a reference; a relative `file:` path is taken relative to
    /// `base_dir`, the directory of the pipeline file.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, PluginError> {
        if let Some(name) = text.strip_prefix("builtin:") {
            return Ok(PluginRef::Builtin(name.to_owned()));
        }
        if let Some(path) = text.strip_prefix("file:") {
            return Ok(PluginRef::File(base_dir.join(path)));
        }
        if let Some(package) = text.strip_prefix("registry:") {
            return Ok(PluginRef::Registry(package.to_owned()));
        }
        Err(PluginError::BadReference(text.to_owned()))
    }

    /// The component bytes.
    pub fn load(&self) -> Result<Cow<'static, [u8]>, PluginError> {
        match self {
            PluginRef::Builtin(name) => super::builtin::get(name)
                .map(Cow::Borrowed)
                .ok_or_else(|| PluginError::UnknownBuiltin(name.clone())),
            PluginRef::File(path) => {
                std::fs::read(path)
                    .map(Cow::Owned)
                    .map_err(|error| PluginError::Read {
                        path: path.clone(),
                        error,
                    })
            }
            PluginRef::Registry(package) => Err(PluginError::UnsupportedSource(format!(
                "registry:{package}"
            ))),
        }
    }
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginRef::Builtin(name) => write!(f, "builtin:{name}"),
            PluginRef::File(path) => write!(f, "file:{}", path.display()),
            PluginRef::Registry(package) => write!(f, "registry:{package}"),
        }
    }
}
