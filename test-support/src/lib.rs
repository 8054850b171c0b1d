//! What Sluice's test suites share: provisioning the external tools the
//! tests run against (a Kafka broker, an S3 server, protocol clients) with
//! `scripts/ensure-tool`, and free TCP ports.
//!
//! A dev-dependency only; nothing here belongs in a shipped binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `scripts/ensure-tool name`: the tool's path, installing it first
/// if it is missing. When it cannot be provisioned, prints a loud
/// `SKIPPED` notice and returns `None`, except under `CI=true`, where the
/// test fails instead: CI never skips silently.
pub fn ensure_tool(name: &str) -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ensure-tool");
    let output = Command::new(script)
        .arg(name)
        .stderr(Stdio::piped())
        .output()
        .expect("runs scripts/ensure-tool");
    if output.status.success() {
        let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        return Some(PathBuf::from(path));
    }
    let why = format!(
        "cannot provision `{name}` with scripts/ensure-tool:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    // Straight to stderr: the harness captures `eprintln!` of passing tests.
    let _ = std::io::stderr().write_fmt(format_args!(
        "\n!!!!!!!! SKIPPED: {why}!!!!!!!! (under CI=true this fails)\n"
    ));
    None
}

/// A TCP port on 127.0.0.1 that nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binds a free port")
        .local_addr()
        .expect("has an address")
        .port()
}
