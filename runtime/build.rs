//! Compiles the built-in plugins (`plugins/*`) and the misbehaving test
//! plugins (`tests/plugins/*`) to `wasm32-wasip2`, installing that target
//! with rustup when it is missing, and generates the table of built-ins
//! that `src/plugin/builtin.rs` embeds.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("runtime/ is inside the workspace")
        .to_path_buf();
    for watched in [
        "plugins",
        "sdk",
        "wit",
        "event",
        "tests/plugins",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let builtins = crates_in(&root.join("plugins"));
    let test_plugins = crates_in(&root.join("tests/plugins"));
    ensure_target();

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root.join(d) })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for (package, _) in builtins.iter().chain(&test_plugins) {
        cargo.args(["-p", package]);
    }
    // The outer build's flags and wrappers are for the host, not for wasm.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cargo.env_remove(var);
    }
    // wasmtime runs Wasm SIMD; with it the regex and memchr crates inside
    // the plugins take their vectorized paths.
    cargo.env(
        "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
        "-C target-feature=+simd128",
    );
    let status = cargo
        .status()
        .expect("cannot run cargo to build the plugins");
    assert!(
        status.success(),
        "building the plugins for {TARGET} failed; see the output above"
    );

    let wasm_dir = target_dir.join(TARGET).join("release");
    let mut table = String::from("/// `(name, component bytes)` of every built-in plugin, sorted by name.\npub static BUILTINS: &[(&str, &[u8])] = &[\n");
    for (package, _) in &builtins {
        let name = package.strip_prefix("sluice-plugin-").unwrap_or(package);
        let wasm = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(wasm.exists(), "{} was not built", wasm.display());
        table.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            wasm.display().to_string()
        ));
    }
    table.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out_dir.join("builtins.rs"), table).expect("cannot write builtins.rs");
    println!(
        "cargo:rustc-env=SLUICE_TEST_PLUGIN_DIR={}",
        wasm_dir.display()
    );
}

/// `(package name, dir)` of every crate directly under `dir`, sorted.
fn crates_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut crates: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let manifest = std::fs::read_to_string(entry.path().join("Cargo.toml")).ok()?;
            let name = manifest
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = "))?
                .trim_matches('"')
                .to_owned();
            Some((name, entry.path()))
        })
        .collect();
    crates.sort();
    crates
}

/// Installs the wasm32-wasip2 standard library when this toolchain lacks it:
/// rustup does not install `rust-toolchain.toml` targets by itself everywhere.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(sysroot) = &sysroot {
        if sysroot.join("lib/rustlib").join(TARGET).exists() {
            return;
        }
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ => panic!("the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it and build again"),
    }
}
