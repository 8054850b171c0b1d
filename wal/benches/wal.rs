//! Write-then-read throughput of the WAL against a plain sequential `std::fs` write and read of
//! the same bytes, in the same run. Run it in release mode:
//!
//! ```sh
//! cargo bench -p sluice-wal --bench wal -- [TOTAL_MIB] [RECORD_BYTES]
//! ```
//!
//! Both sides fsync once at the end of writing (the WAL with `SyncPolicy::Never` plus one
//! `sync`, the plain file with one `sync_data`), and both read back from the page cache. The WAL
//! side appends in batches of 256 records and reads through a `Reader`; the plain side writes
//! the records back to back through a 1 MiB `BufWriter` and reads each one with `read_exact`.
//! MB/s is of record bytes (10^6 bytes per MB).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::time::{Duration, Instant};

use sluice_wal::{Options, Reader, SyncPolicy, Writer};

fn main() {
    // `cargo bench` passes `--bench`; the numbers are the optional arguments.
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let total_mib: usize = args.next().map_or(256, |a| a.parse().expect("TOTAL_MIB"));
    let record_bytes: usize = args
        .next()
        .map_or(4096, |a| a.parse().expect("RECORD_BYTES"));
    let count = (total_mib << 20) / record_bytes;
    println!("{count} records of {record_bytes} bytes ({total_mib} MiB) per run");
    println!(
        "{:<16} {:>10} {:>10} {:>12}",
        "", "write MB/s", "read MB/s", "on disk MiB"
    );
    for (name, records) in [
        ("logs", log_lines(count, record_bytes)),
        ("random", random(count, record_bytes)),
    ] {
        let bytes = (count * record_bytes) as f64;
        let (w, r, disk) = wal(&records);
        row(&format!("wal {name}"), bytes, w, r, disk);
        let (w, r, disk) = plain(&records);
        row(&format!("std::fs {name}"), bytes, w, r, disk);
    }
}

fn row(name: &str, bytes: f64, write: Duration, read: Duration, disk: u64) {
    let rate = |d: Duration| bytes / d.as_secs_f64() / 1e6;
    let mib = disk as f64 / (1 << 20) as f64;
    println!(
        "{name:<16} {:>10.0} {:>10.0} {mib:>12.1}",
        rate(write),
        rate(read)
    );
}

fn wal(records: &[Vec<u8>]) -> (Duration, Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        sync: SyncPolicy::Never,
        ..Options::default()
    };
    let start = Instant::now();
    let (mut writer, _) = Writer::open(dir.path(), options).unwrap();
    for batch in records.chunks(256) {
        writer.append_batch(batch).unwrap();
    }
    writer.sync().unwrap();
    let write = start.elapsed();
    let disk = writer.bytes_on_disk();

    let start = Instant::now();
    let mut reader = Reader::open(dir.path(), 1).unwrap();
    let mut n = 0;
    let mut total = 0;
    while let Some((_, record)) = reader.next_record().unwrap() {
        total += record.len();
        n += 1;
    }
    let read = start.elapsed();
    assert_eq!(n, records.len());
    assert_eq!(total, records.iter().map(Vec::len).sum::<usize>());
    (write, read, disk)
}

fn plain(records: &[Vec<u8>]) -> (Duration, Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain");
    let start = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).unwrap());
    for record in records {
        out.write_all(record).unwrap();
    }
    let file = out.into_inner().unwrap();
    file.sync_data().unwrap();
    let write = start.elapsed();
    let disk = file.metadata().unwrap().len();

    let start = Instant::now();
    let mut input = BufReader::with_capacity(256 << 10, File::open(&path).unwrap());
    let mut total = 0;
    for record in records {
        let mut buf = vec![0u8; record.len()];
        input.read_exact(&mut buf).unwrap();
        total += buf.len();
    }
    let read = start.elapsed();
    assert_eq!(total, records.iter().map(Vec::len).sum::<usize>());
    (write, read, disk)
}

/// Apache-style access log lines, as a disk buffer would hold (lz4 compresses them ~3-5x).
fn log_lines(count: usize, size: usize) -> Vec<Vec<u8>> {
    let mut state = 1u64;
    (0..count)
        .map(|i| {
            let mut record = Vec::with_capacity(size + 200);
            while record.len() < size {
                state = xorshift(state);
                let line = format!(
                    "10.{}.{}.{} - - [22/Nov/2025:06:{:02}:{:02} +0000] \"GET /api/v1/items/{} HTTP/1.1\" {} {} \"-\" \"curl/8.{}\"\n",
                    state % 256,
                    (state >> 8) % 256,
                    (state >> 16) % 256,
                    (state >> 24) % 60,
                    (state >> 30) % 60,
                    (state >> 36) % 100_000 + i as u64,
                    [200, 200, 200, 404, 500][(state >> 50) as usize % 5],
                    (state >> 40) % 20_000,
                    (state >> 56) % 10
                );
                record.extend_from_slice(line.as_bytes());
            }
            record.truncate(size);
            record
        })
        .collect()
}

fn random(count: usize, size: usize) -> Vec<Vec<u8>> {
    let mut state = 7u64;
    (0..count)
        .map(|_| {
            let mut record = Vec::with_capacity(size + 8);
            while record.len() < size {
                state = xorshift(state);
                record.extend_from_slice(&state.to_le_bytes());
            }
            record.truncate(size);
            record
        })
        .collect()
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}
