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
pub use sluice_event::packed::{Row, ValueRef};
pub use sluice_event::template;
pub use sluice_event::{
    civil_from_days, days_from_civil, flatten_into as flatten_json, format_rfc3339, names,
    value_from_json, Event, Fields, Level, Value,
};

use sluice_event::packed::{
    PackedBatch, PackedError, KIND_BOOL, KIND_FLOAT, KIND_INT, KIND_NULL, KIND_STRING,
    KIND_TIMESTAMP,
};

/// A batch from the host, checked and read in place.
pub type Batch<'a> = sluice_event::packed::Checked<'a>;

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

/// Where a transform puts its results: a batch being built in the columnar
/// form the host reads, so nothing is converted twice.
#[derive(Debug, Default)]
pub struct Output {
    batch: PackedBatch,
    outputs: Vec<u32>,
    output_names: Vec<String>,
    errors: Vec<(u32, String)>,
    /// The first event that could not be encoded (a batch over 4 GiB).
    encode_error: Option<PackedError>,
    /// For a [`Transform::KEEP_INPUT_TEXT`] plugin: the address and length
    /// of the input batch's arena, whose copy starts this output's arena.
    input: Option<(usize, usize)>,
    /// Text placed once this batch (field names): address, length, offset.
    placed: Vec<(usize, usize, u32)>,
}

impl Output {
    pub fn with_capacity(n: usize) -> Self {
        Output {
            batch: PackedBatch::with_capacity(n, 384),
            ..Output::default()
        }
    }

    /// The output for `input` that `plugin`'s `process_batch` gets: for a
    /// [`Transform::KEEP_INPUT_TEXT`] plugin, its arena starts with a copy
    /// of the input's text.
    fn for_input<T: Transform>(input: &PackedBatch) -> Self {
        let mut out = Output::with_capacity(input.len());
        if T::KEEP_INPUT_TEXT {
            out.batch.arena.reserve(input.arena.len());
            out.batch.arena.extend_from_slice(&input.arena);
            out.input = Some((input.arena.as_ptr() as usize, input.arena.len()));
        }
        out
    }

    /// The span of `text` in the arena: where it already is when it lies
    /// in the input (whose copy starts the arena), else a copy at the end.
    fn place(&mut self, text: &str) -> Result<(u32, u32), PackedError> {
        let len = u32::try_from(text.len()).map_err(|_| PackedError::TooLarge)?;
        if let Some((base, input_len)) = self.input {
            let at = (text.as_ptr() as usize).wrapping_sub(base);
            if at <= input_len && text.len() <= input_len - at {
                // The copy has the same bytes at the same offsets.
                return Ok((at as u32, len));
            }
        }
        let offset = u32::try_from(self.batch.arena.len()).map_err(|_| PackedError::TooLarge)?;
        offset.checked_add(len).ok_or(PackedError::TooLarge)?;
        self.batch.arena.extend_from_slice(text.as_bytes());
        Ok((offset, len))
    }

    /// [`Output::place`] for text that recurs on every row (field names):
    /// placed once per batch.
    fn place_name(&mut self, name: &str) -> Result<(u32, u32), PackedError> {
        let key = (name.as_ptr() as usize, name.len());
        let arena = &self.batch.arena;
        if let Some(&(_, _, offset)) = self.placed.iter().find(|&&(a, l, o)| {
            // The same address may hold other text later: compare the bytes.
            (a, l) == key && &arena[o as usize..o as usize + l] == name.as_bytes()
        }) {
            return Ok((offset, key.1 as u32));
        }
        let span = self.place(name)?;
        if self.placed.len() < 64 {
            self.placed.push((key.0, key.1, span.0));
        }
        Ok(span)
    }

    /// Appends an event given by its parts, its text placed by
    /// [`Output::place`] (see [`Transform::KEEP_INPUT_TEXT`]).
    fn push_placed<'v>(
        &mut self,
        timestamp: i64,
        ingest_timestamp: i64,
        message: &str,
        fields: impl Iterator<Item = (&'v str, ValueRef<'v>)>,
    ) -> Result<(), PackedError> {
        if self.input.is_none() {
            return self
                .batch
                .push_parts(timestamp, ingest_timestamp, message, fields);
        }
        let (message_offset, message_len) = self.place(message)?;
        let before = self.batch.field_kinds.len();
        for (name, value) in fields {
            let (name_offset, name_len) = self.place_name(name)?;
            let (kind, number, (text_offset, text_len)) = match value {
                ValueRef::Null => (KIND_NULL, 0, (0, 0)),
                ValueRef::Bool(b) => (KIND_BOOL, b as i64, (0, 0)),
                ValueRef::Int(i) => (KIND_INT, i, (0, 0)),
                ValueRef::Float(f) => (KIND_FLOAT, f.to_bits() as i64, (0, 0)),
                ValueRef::Str(s) => (KIND_STRING, 0, self.place(s)?),
                ValueRef::Timestamp(t) => (KIND_TIMESTAMP, t, (0, 0)),
            };
            let b = &mut self.batch;
            b.field_name_offsets.push(name_offset);
            b.field_name_lens.push(name_len);
            b.field_kinds.push(kind);
            b.field_numbers.push(number);
            b.field_text_offsets.push(text_offset);
            b.field_text_lens.push(text_len);
        }
        let b = &mut self.batch;
        b.timestamps.push(timestamp);
        b.ingest_timestamps.push(ingest_timestamp);
        b.message_offsets.push(message_offset);
        b.message_lens.push(message_len);
        b.field_counts.push((b.field_kinds.len() - before) as u32);
        Ok(())
    }

    fn record(
        &mut self,
        pushed: Result<(), PackedError>,
        output: Option<&str>,
        error: Option<String>,
    ) {
        if let Err(e) = pushed {
            self.encode_error.get_or_insert(e);
            return;
        }
        let index = match output {
            None => 0,
            Some(name) => match self.output_names.iter().position(|n| n == name) {
                Some(at) => at as u32 + 1,
                None => {
                    self.output_names.push(name.to_owned());
                    self.output_names.len() as u32
                }
            },
        };
        if let Some(reason) = error {
            self.errors.push((self.outputs.len() as u32, reason));
        }
        self.outputs.push(index);
    }

    /// Sends `event` to the main output.
    pub fn emit(&mut self, event: Event) {
        let pushed = self.batch.push(&event);
        self.record(pushed, None, None);
    }
    /// Sends `event` to the named output.
    pub fn emit_to(&mut self, output: &str, event: Event) {
        let pushed = self.batch.push(&event);
        self.record(pushed, Some(output), None);
    }
    /// Marks `event` as failed with `reason`. It goes to `errors`, or, if
    /// the pipeline does not read that output, on along the main output with
    /// the failure recorded. The event should keep its raw text in `message`.
    pub fn fail(&mut self, event: Event, reason: impl Into<String>) {
        let pushed = self.batch.push(&event);
        self.record(pushed, Some("errors"), Some(reason.into()));
    }
    /// Sends an input row on unchanged, copying its bytes without decoding.
    pub fn emit_row(&mut self, row: &Row<'_>) {
        let pushed = self.push_row(row);
        self.record(pushed, None, None);
    }
    /// Sends an input row unchanged to the named output.
    pub fn emit_row_to(&mut self, output: &str, row: &Row<'_>) {
        let pushed = self.batch.push_row(row);
        self.record(pushed, Some(output), None);
    }
    /// Sends an input row on with `extra` fields set (replacing fields of the
    /// same names), copying its bytes without decoding.
    pub fn emit_row_with(&mut self, row: &Row<'_>, extra: &[(&str, ValueRef<'_>)]) {
        let pushed = self.batch.push_row_with(row, extra);
        self.record(pushed, None, None);
    }
    /// Sends on an event made from an input row: its timestamps, with
    /// `message` and exactly `fields` (in that order), without decoding.
    /// For parsers that add fields to rows read in place; with
    /// [`Transform::KEEP_INPUT_TEXT`], text that lies in the input batch
    /// (the row's message, slices of it) is not even copied.
    pub fn emit_row_parts<'v>(
        &mut self,
        row: &Row<'_>,
        message: &str,
        fields: impl IntoIterator<Item = (&'v str, ValueRef<'v>)>,
    ) {
        let pushed = self.push_placed(
            row.timestamp(),
            row.ingest_timestamp(),
            message,
            fields.into_iter(),
        );
        self.record(pushed, None, None);
    }
    /// Marks an input row as failed, unchanged.
    pub fn fail_row(&mut self, row: &Row<'_>, reason: impl Into<String>) {
        let pushed = self.push_row(row);
        self.record(pushed, Some("errors"), Some(reason.into()));
    }
    fn push_row(&mut self, row: &Row<'_>) -> Result<(), PackedError> {
        if self.input.is_none() {
            return self.batch.push_row(row);
        }
        self.push_placed(
            row.timestamp(),
            row.ingest_timestamp(),
            row.message(),
            row.fields(),
        )
    }
    pub fn len(&self) -> usize {
        self.outputs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }
    /// Reads back what was emitted (for tests).
    pub fn into_vec(self) -> Vec<Emitted> {
        let events = self
            .batch
            .decode()
            .expect("an Output only holds events it encoded");
        let mut errors = self.errors.into_iter().peekable();
        events
            .into_iter()
            .zip(self.outputs)
            .enumerate()
            .map(|(i, (event, output))| Emitted {
                output: (output > 0).then(|| self.output_names[output as usize - 1].clone()),
                error: errors
                    .next_if(|(at, _)| *at as usize == i)
                    .map(|(_, reason)| reason),
                event,
            })
            .collect()
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
    /// The zero-copy path: `batch` is read in place, and
    /// [`Output::emit_row`] copies unchanged events without decoding them.
    /// Override it when a stage passes most events through untouched (a
    /// filter, a router, a sampler). By default it decodes the batch into
    /// owned events and calls [`Transform::process`].
    fn process_batch(&mut self, batch: Batch<'_>, out: &mut Output) -> Result<(), PluginError> {
        self.process(batch.to_events(), out)
    }
    /// Emits whatever is held back. Called on the stage's flush interval and
    /// at shutdown.
    fn flush(&mut self, _out: &mut Output) {}
    /// Whether the [`Output`] given to [`Transform::process_batch`] starts
    /// with a copy of the input batch's text (one copy per batch). Rows
    /// emitted with [`Output::emit_row_parts`], [`Output::emit_row`] and
    /// [`Output::fail_row`] then refer to text of the input where it is
    /// instead of copying it field by field. For parsers that send on most
    /// rows with fields cut from their text (grok); the copy is kept even
    /// for rows not sent on.
    const KEEP_INPUT_TEXT: bool = false;
}

/// Runs one checked batch through `plugin` as the component does: an
/// [`Output`] made for the batch, then [`Transform::process_batch`].
fn run_batch<T: Transform>(plugin: &mut T, packed: &PackedBatch) -> Result<Output, PluginError> {
    let checked = packed.check().map_err(|e| PluginError(e.to_string()))?;
    let mut out = Output::for_input::<T>(packed);
    plugin.process_batch(checked, &mut out)?;
    Ok(out)
}

/// For plugins whose work is in [`Transform::process_batch`]: runs owned
/// events through it, so `process` can be one line.
pub fn process_owned<T: Transform>(
    plugin: &mut T,
    events: Vec<Event>,
    out: &mut Output,
) -> Result<(), PluginError> {
    let packed = PackedBatch::from_events(&events).map_err(|e| PluginError(e.to_string()))?;
    let checked = packed.check().map_err(|e| PluginError(e.to_string()))?;
    plugin.process_batch(checked, out)
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
                ) -> ::std::result::Result<
                    (),
                    $crate::bindings::transform::sluice::plugin::types::ConfigError,
                > {
                    let plugin = $crate::__private::configure::<$plugin>(&config)?;
                    __SLUICE_STATE
                        .with(|state| *state.borrow_mut() = ::std::option::Option::Some(plugin));
                    ::std::result::Result::Ok(())
                }
            }

            impl $crate::bindings::transform::Guest for __SluiceTransformExport {
                fn process(
                    batch: $crate::bindings::transform::sluice::plugin::types::Batch,
                ) -> ::std::result::Result<
                    $crate::bindings::transform::sluice::plugin::types::EmittedBatch,
                    $crate::bindings::transform::sluice::plugin::types::PluginError,
                > {
                    __SLUICE_STATE.with(|state| {
                        $crate::__private::process(state.borrow_mut().as_mut(), batch)
                    })
                }
                fn flush() -> $crate::bindings::transform::sluice::plugin::types::EmittedBatch {
                    __SLUICE_STATE
                        .with(|state| $crate::__private::flush(state.borrow_mut().as_mut()))
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
    use crate::{Config, Output, PluginInfo, Transform};
    use sluice_event::packed::PackedError;

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
        batch: wit::Batch,
    ) -> Result<wit::EmittedBatch, wit::PluginError> {
        let error = |message: String| wit::PluginError { message };
        let plugin = plugin.ok_or_else(|| error("process called before configure".into()))?;
        let packed = batch_from_wit(batch);
        let out = crate::run_batch(plugin, &packed).map_err(|e| error(e.0))?;
        encode(out).map_err(|e| error(e.to_string()))
    }

    pub fn flush<T: Transform>(plugin: Option<&mut T>) -> wit::EmittedBatch {
        let mut out = Output::default();
        if let Some(plugin) = plugin {
            plugin.flush(&mut out);
        }
        // `flush` cannot report an error; an unencodable result (over 4 GiB)
        // yields nothing rather than trapping.
        encode(out).unwrap_or_else(|_| encode(Output::default()).expect("empty output encodes"))
    }

    fn encode(out: Output) -> Result<wit::EmittedBatch, PackedError> {
        if let Some(e) = out.encode_error {
            return Err(e);
        }
        Ok(wit::EmittedBatch {
            events: batch_to_wit(out.batch),
            outputs: out.outputs,
            output_names: out.output_names,
            errors: out.errors,
        })
    }

    sluice_event::packed_batch_conversions!(wit::Batch);
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Cuts the first word off the message as field `word`.
    struct FirstWord;

    impl Transform for FirstWord {
        const KEEP_INPUT_TEXT: bool = true;
        fn describe() -> PluginInfo {
            PluginInfo::transform("first-word", "0")
        }
        fn configure(_: Config) -> Result<Self, ConfigError> {
            Ok(FirstWord)
        }
        fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
            process_owned(self, batch, out)
        }
        fn process_batch(&mut self, batch: Batch<'_>, out: &mut Output) -> Result<(), PluginError> {
            for row in batch.rows() {
                let message = row.message();
                match message.split_once(' ') {
                    Some((word, rest)) => {
                        let made = format!("{}!", word.len());
                        let fields = row.fields().chain([
                            ("word", ValueRef::Str(word)),
                            ("made", ValueRef::Str(&made)),
                        ]);
                        out.emit_row_parts(&row, rest, fields);
                    }
                    None => out.fail_row(&row, "one word"),
                }
            }
            Ok(())
        }
    }

    #[test]
    fn rows_kept_in_place_refer_to_the_input_text() {
        let mut tagged = Event::new("héllo wörld");
        tagged.fields.insert("n", 1);
        tagged.fields.insert("s", "x");
        let events = vec![tagged, Event::new("alone"), Event::new("a b c")];
        let packed = PackedBatch::from_events(&events).unwrap();
        let out = testing::process_packed(&mut FirstWord, &packed).unwrap();
        // The input's text, then only what is not in it: the names (once)
        // and the made-up values.
        let extra = "word".len() + "made".len() + "6!".len() + "1!".len();
        assert_eq!(out.batch.arena.len(), packed.arena.len() + extra);

        let got = out.into_vec();
        assert_eq!(got[0].event.message, "wörld");
        let fields: Vec<(&str, &Value)> = got[0].event.fields.iter().collect();
        assert_eq!(
            fields,
            [
                ("n", &Value::Int(1)),
                ("s", &Value::from("x")),
                ("word", &Value::from("héllo")),
                ("made", &Value::from("6!")),
            ]
        );
        assert_eq!(got[1].event, events[1]);
        assert_eq!(got[1].error.as_deref(), Some("one word"));
        assert_eq!(got[2].event.message, "b c");
        assert_eq!(got[2].event.fields.get("word"), Some(&Value::from("a")));
    }
}
