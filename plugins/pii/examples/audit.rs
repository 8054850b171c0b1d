//! Runs every built-in detector over log files and prints what each finds,
//! most frequent first: a quick way to see how the detectors behave on your
//! own logs before turning the stage on.
//!
//! ```sh
//! cargo run --release --example audit -- /path/to/logs/*.log
//! ```

use std::collections::BTreeMap;

use sluice_plugin_pii::detect::{Builtin, Prepared};

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: audit FILE...");
        std::process::exit(2);
    }
    let mut found: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let (mut prepared, mut spans, mut lines) = (Prepared::default(), Vec::new(), 0);
    for path in &paths {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for line in String::from_utf8_lossy(&bytes).lines() {
            lines += 1;
            prepared.prepare(line);
            for b in Builtin::ALL {
                spans.clear();
                b.find(line, &prepared, &mut spans);
                for &(start, end) in &spans {
                    let counts = found.entry(b.name()).or_default();
                    *counts.entry(line[start..end].to_owned()).or_default() += 1;
                }
            }
        }
    }
    println!("{lines} lines");
    for b in Builtin::ALL {
        let Some(counts) = found.get(b.name()) else {
            println!("{}: nothing", b.name());
            continue;
        };
        let total: usize = counts.values().sum();
        println!("{}: {total} matches, {} distinct", b.name(), counts.len());
        let mut top: Vec<_> = counts.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (text, n) in top.into_iter().take(20) {
            println!("  {n:6}  {text}");
        }
    }
}
