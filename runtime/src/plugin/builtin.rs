//! The plugins compiled into the binary, addressed as `builtin:NAME`.
//!
//! `build.rs` compiles every crate under `plugins/` to `wasm32-wasip2` and
//! generates the table included here.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The component bytes of `builtin:<name>`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The names of every built-in plugin, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(name, _)| *name)
}

/// Built-ins that emit every event in the call that received it: they hold
/// nothing back between calls (only `multiline` does, until a later line or
/// the flush). See [`holds_events`].
const EMIT_IN_CALL: &[&str] = &[
    "enrich",
    "filter",
    "grok",
    "json",
    "kv",
    "pii",
    "route",
    "sample",
    "timestamp",
];

/// Whether a plugin may keep events from one call and emit them in a later
/// one, so a stage must not acknowledge an input batch as soon as the
/// output of its own call is delivered. Unknown plugins (files, registry
/// packages) are assumed to.
pub fn holds_events(reference: &super::PluginRef) -> bool {
    !matches!(reference, super::PluginRef::Builtin(name) if EMIT_IN_CALL.contains(&name.as_str()))
}
