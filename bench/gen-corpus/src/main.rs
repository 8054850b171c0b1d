//! `gen-corpus`: writes the benchmark corpus (see the library) as NDJSON and as raw text.
//!
//! ```text
//! cargo run --release -p sluice-gen-corpus -- --out DIR [--events N] [--seed S]
//!     [--end-ns NS] [--loghub DIR]
//! ```
//!
//! Writes `DIR/corpus.ndjson` (one flat object per event: `timestamp` as integer ns,
//! `message`, then the fields; `sluice serve`'s ingest reads it as is) and `DIR/corpus.log`
//! (the messages, one per line: what `rg` searches). Defaults: 10,000,000 events, seed 1,
//! the 7 days before the start of the current UTC hour.

use sluice_gen_corpus::{default_loghub_dir, Corpus, Spec};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

fn main() {
    if let Err(e) = run() {
        eprintln!("gen-corpus: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut out: Option<PathBuf> = None;
    let mut events = 10_000_000u64;
    let mut seed = 1u64;
    let mut end: Option<i64> = None;
    let mut loghub = default_loghub_dir();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--out" => out = Some(val()?.into()),
            "--events" => events = val()?.replace('_', "").parse()?,
            "--seed" => seed = val()?.parse()?,
            "--end-ns" => end = Some(val()?.parse()?),
            "--loghub" => loghub = val()?.into(),
            "-h" | "--help" => {
                eprintln!(
                    "gen-corpus --out DIR [--events N] [--seed S] [--end-ns NS] [--loghub DIR]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let out = out.ok_or("--out DIR is required")?;
    std::fs::create_dir_all(&out)?;
    let mut spec = Spec::new(events, seed);
    if let Some(end) = end {
        spec.end = end;
    }
    let mut corpus = Corpus::open(&loghub, &spec)?;
    let mut json =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(out.join("corpus.ndjson"))?);
    let mut raw = BufWriter::with_capacity(1 << 20, std::fs::File::create(out.join("corpus.log"))?);
    let (mut n, mut raw_bytes) = (0u64, 0u64);
    while let Some((line, ts)) = corpus.next_line() {
        write!(json, "{{\"timestamp\":{ts},\"message\":")?;
        serde_json::to_writer(&mut json, &line.message)?;
        for (k, v) in line.fields.iter() {
            json.write_all(b",")?;
            serde_json::to_writer(&mut json, k)?;
            json.write_all(b":")?;
            serde_json::to_writer(&mut json, &sluice_event::value_to_json(v))?;
        }
        json.write_all(b"}\n")?;
        raw.write_all(line.message.as_bytes())?;
        raw.write_all(b"\n")?;
        n += 1;
        raw_bytes += line.message.len() as u64 + 1;
    }
    json.flush()?;
    raw.flush()?;
    eprintln!(
        "gen-corpus: {n} events, {raw_bytes} raw bytes, seed {seed}, timestamps {}..{} ns, in {}",
        spec.end - spec.span,
        spec.end,
        out.display()
    );
    Ok(())
}
