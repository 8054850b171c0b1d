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
