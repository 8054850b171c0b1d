//! What the benchmarks that drive the `sluice` binary share: Loghub lines,
//! starting processes, reading `/metrics`, medians.
#![allow(dead_code)] // each bench uses its own part

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command};

/// Which sections to run: those named on the command line, or all.
pub fn wanted_sections() -> impl Fn(&str) -> bool {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    move |name| only.is_empty() || only.iter().any(|o| o == name)
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

pub fn percentile(xs: &mut [u64], p: f64) -> u64 {
    xs.sort_unstable();
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

/// Every line of the 16 Loghub samples.
pub fn loghub_lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub");
    let mut lines = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_2k.log"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read(&path).unwrap();
        lines.extend(String::from_utf8_lossy(&text).lines().map(str::to_owned));
    }
    lines
}

/// The `sluice` binary this bench was built with.
pub fn sluice() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env(
        "SLUICE_CACHE_DIR",
        std::env::temp_dir().join("sluice-bench-cache"),
    );
    cmd
}

pub use sluice_test_support::free_port;

/// Metric `name` of stage `stage` of the pipeline `pipeline` (its file
/// stem), read from `/metrics` on `port`.
pub fn metric(port: u16, pipeline: &str, name: &str, stage: &str) -> Option<f64> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let needle = format!("{name}{{pipeline=\"{pipeline}\",stage=\"{stage}\"");
    text.lines()
        .find(|l| l.starts_with(&needle))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

pub fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}
