//! `sluice-sdk`: write Sluice plugins in Rust.
//!
//! A plugin is a struct that implements [`Transform`], plus one call of
//! [`transform!`]. The SDK wraps the `wit-bindgen` output of the WIT package
//! `sluice:plugin@0.1.0`, converts the boundary types into the
//! [`sluice_event`] model, checks the stage's config keys against what the
//! plugin declares, and gives native stand-ins for the host imports so plugin
//! logic runs under a plain `cargo test` (see [`testing`]).
//!
//! It is not a host: running components is the `sluice` runtime's job.
//!
//! ```ignore
//! use sluice_sdk::{transform, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform};
//!
//! #[derive(Default)]
//! struct Upper;
//!
//! impl Transform for Upper {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::transform("upper", "0.1.0").description("upper-cases the message")
//!     }
//!     fn configure(_config: Config) -> Result<Self, ConfigError> {
//!         Ok(Upper)
//!     }
//!     fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
//!         for mut event in batch {
//!             event.message = event.message.to_uppercase();
//!             out.emit(event);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! transform!(Upper);
//! ```

mod config;
pub mod host;
mod info;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use config::{Config, ConfigError};
pub use info::{ConfigKey, PluginInfo, Role};
pub use sluice_event::{flatten_into as flatten_json, names, Event, Fields, Level, Value};

/// The raw `wit-bindgen` output, one module per world. Plugins should not
/// need it; it is public so the export macro can reach it.
#[doc(hidden)]
pub mod bindings {
    pub mod transform {
        wit_bindgen::generate!({
            world: "transform",
            path: "../wit",
            default_bindings_module: "sluice_sdk::bindings::transform",
            pub_export_macro: true,
            export_macro_name: "export_transform",
        });
    }
}

/// A failure of a whole batch. The host sends the batch to the stage's
/// `errors` output with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

/// An event a transform produced and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// `None` is the stage's main output.
    pub output: Option<String>,
    /// Set when the event failed; the host records it on the event.
    pub error: Option<String>,
    pub event: Event,
}

/// Where a transform puts its results.
#[derive(Debug, Default)]
pub struct Output {
    emitted: Vec<Emitted>,
}

impl Output {
    pub fn with_capacity(n: usize) -> Self {
        Output {
            emitted: Vec::with_capacity(n),
        }
    }
    /// Sends `event` to the main output.
    pub fn emit(&mut self, event: Event) {
        self.emitted.push(Emitted {
            output: None,
            error: None,
            event,
        });
    }
    /// Sends `event` to the named output.
    pub fn emit_to(&mut self, output: &str, event: Event) {
        self.emitted.push(Emitted {
            output: Some(output.to_owned()),
            error: None,
            event,
        });
    }
    /// Marks `event` as failed with `reason`. It goes to `errors`, or, if
    /// the pipeline does not wire that output, on to the main output with the
    /// failure recorded. The event should keep its raw text in `message`.
    pub fn fail(&mut self, event: Event, reason: impl Into<String>) {
        self.emitted.push(Emitted {
            output: Some("errors".to_owned()),
            error: Some(reason.into()),
            event,
        });
    }
    pub fn len(&self) -> usize {
        self.emitted.len()
    }
    pub fn is_empty(&self) -> bool {
        self.emitted.is_empty()
    }
    pub fn into_vec(self) -> Vec<Emitted> {
        self.emitted
    }
}

/// A plugin of the `transform` world: parsers, scrubbers, enrichers,
/// filters and routers.
///
/// The host creates one instance per stage (and rebuilds it after a trap),
/// calls [`Transform::configure`] once, then [`Transform::process`] once per
/// batch, never per event.
pub trait Transform: Sized + 'static {
    /// Name, version and accepted config keys. Keys not declared here are
    /// refused before `configure` is called.
    fn describe() -> PluginInfo;
    /// Builds the plugin from the stage's `config` table.
    fn configure(config: Config) -> Result<Self, ConfigError>;
    /// Processes one batch. Each input may give zero or many outputs.
    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError>;
    /// Emits whatever is held back. Called on the stage's flush interval and
    /// at shutdown.
    fn flush(&mut self, _out: &mut Output) {}
}

/// Exports a [`Transform`] implementation as the component's `transform` world.
///
/// Call it once per plugin crate, with the type's name.
#[macro_export]
macro_rules! transform {
    ($plugin:ty) => {
        // The export glue exists only in the component: native builds (tests,
        // and the native cdylib) have no host to export to.
        #[cfg(target_arch = "wasm32")]
        mod __sluice_transform_export {
            use super::*;
            struct __SluiceTransformExport;

            ::std::thread_local! {
                static __SLUICE_STATE: ::std::cell::RefCell<::std::option::Option<$plugin>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            impl $crate::bindings::transform::exports::sluice::plugin::plugin::Guest
                for __SluiceTransformExport
            {
                fn describe() -> $crate::bindings::transform::sluice::plugin::types::PluginInfo {
                    $crate::__private::info_to_wit(<$plugin as $crate::Transform>::describe())
                }
                fn configure(
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), $crate::bindings::transform::sluice::plugin::types::ConfigError>
                {
                    let plugin = $crate::__private::configure::<$plugin>(&config)?;
                    __SLUICE_STATE.with(|state| *state.borrow_mut() = ::std::option::Option::Some(plugin));
                    ::std::result::Result::Ok(())
                }
            }

            impl $crate::bindings::transform::Guest for __SluiceTransformExport {
                fn process(
                    batch: ::std::vec::Vec<$crate::bindings::transform::sluice::plugin::types::Event>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::bindings::transform::sluice::plugin::types::Emitted>,
                    $crate::bindings::transform::sluice::plugin::types::PluginError,
                > {
                    __SLUICE_STATE.with(|state| {
                        $crate::__private::process(state.borrow_mut().as_mut(), batch)
                    })
                }
                fn flush() -> ::std::vec::Vec<$crate::bindings::transform::sluice::plugin::types::Emitted> {
                    __SLUICE_STATE.with(|state| $crate::__private::flush(state.borrow_mut().as_mut()))
                }
            }

            $crate::bindings::transform::export_transform!(__SluiceTransformExport);
        }
    };
}

/// Glue the [`transform!`] macro expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    use crate::bindings::transform::sluice::plugin::types as wit;
    use crate::{Config, Emitted, Event, Fields, Output, PluginInfo, Transform, Value};

    pub fn info_to_wit(info: PluginInfo) -> wit::PluginInfo {
        crate::info::to_wit(info)
    }

    pub fn configure<T: Transform>(json: &str) -> Result<T, wit::ConfigError> {
        let to_wit = |e: crate::ConfigError| wit::ConfigError {
            key: e.key,
            message: e.message,
        };
        let config = Config::parse(json, &T::describe()).map_err(to_wit)?;
        T::configure(config).map_err(to_wit)
    }

    pub fn process<T: Transform>(
        plugin: Option<&mut T>,
        batch: Vec<wit::Event>,
    ) -> Result<Vec<wit::Emitted>, wit::PluginError> {
        let plugin = plugin.ok_or_else(not_configured)?;
        let events: Vec<Event> = batch.into_iter().map(event_from_wit).collect();
        let mut out = Output::with_capacity(events.len());
        plugin
            .process(events, &mut out)
            .map_err(|e| wit::PluginError { message: e.0 })?;
        Ok(out.into_vec().into_iter().map(emitted_to_wit).collect())
    }

    pub fn flush<T: Transform>(plugin: Option<&mut T>) -> Vec<wit::Emitted> {
        let Some(plugin) = plugin else {
            return Vec::new();
        };
        let mut out = Output::default();
        plugin.flush(&mut out);
        out.into_vec().into_iter().map(emitted_to_wit).collect()
    }

    fn not_configured() -> wit::PluginError {
        wit::PluginError {
            message: "process called before configure".into(),
        }
    }

    fn value_from_wit(v: wit::Value) -> Value {
        match v {
            wit::Value::Null => Value::Null,
            wit::Value::Boolean(b) => Value::Bool(b),
            wit::Value::Integer(i) => Value::Int(i),
            wit::Value::Float(f) => Value::Float(f),
            wit::Value::String(s) => Value::String(s),
            wit::Value::Timestamp(t) => Value::Timestamp(t),
        }
    }

    fn value_to_wit(v: Value) -> wit::Value {
        match v {
            Value::Null => wit::Value::Null,
            Value::Bool(b) => wit::Value::Boolean(b),
            Value::Int(i) => wit::Value::Integer(i),
            Value::Float(f) => wit::Value::Float(f),
            Value::String(s) => wit::Value::String(s),
            Value::Timestamp(t) => wit::Value::Timestamp(t),
        }
    }

    fn event_from_wit(e: wit::Event) -> Event {
        let mut fields = Fields::with_capacity(e.fields.len());
        for f in e.fields {
            // The host sends a map; a duplicate name from a foreign host keeps the last.
            fields.insert(f.name, value_from_wit(f.value));
        }
        Event {
            timestamp: e.timestamp,
            ingest_timestamp: e.ingest_timestamp,
            message: e.message,
            fields,
        }
    }

    fn emitted_to_wit(e: Emitted) -> wit::Emitted {
        let event = e.event;
        wit::Emitted {
            output: e.output,
            error: e.error,
            event: wit::Event {
                timestamp: event.timestamp,
                ingest_timestamp: event.ingest_timestamp,
                message: event.message,
                fields: event
                    .fields
                    .into_inner()
                    .into_iter()
                    .map(|(name, value)| wit::Field {
                        name,
                        value: value_to_wit(value),
                    })
                    .collect(),
            },
        }
    }
}
