//! Helpers shared by the integration tests: a seeded PRNG, record generators, an independent
//! parser of the documented on-disk format, and directory utilities.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use sluice_wal::{Options, ReadStats, Reader, SyncPolicy};

/// xorshift64*: deterministic, so a failing iteration can be replayed from its seed.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below((hi_inclusive - lo + 1) as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// Log-like text that lz4 compresses well.
pub fn compressible(rng: &mut XorShift, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 128);
    while out.len() < n {
        let line = format!(
            "10.0.{}.{} - - [22/Nov/2025:06:{:02}:{:02} +0000] \"GET /api/v1/items/{} HTTP/1.1\" 200 {}\n",
            rng.below(256),
            rng.below(256),
            rng.below(60),
            rng.below(60),
            rng.below(100_000),
            rng.below(10_000)
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(n);
    out
}

/// A record of a random size up to `max` (skewed towards small), compressible or not.
pub fn record(rng: &mut XorShift, max: usize) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => rng.range(0, 16),
        1..=5 => rng.range(16, 2048),
        6..=8 => rng.range(2048, 64 << 10),
        _ => rng.range(64 << 10, 1 << 20),
    }
    .min(max);
    if rng.below(2) == 0 {
        compressible(rng, len)
    } else {
        rng.bytes(len)
    }
}

pub fn opts(max_segment_bytes: u64) -> Options {
    Options {
        max_segment_bytes,
        sync: SyncPolicy::Never,
    }
}

/// Everything a fresh reader returns from `from` on, and its stats.
pub fn read_all(dir: &Path, from: u64) -> (Vec<(u64, Vec<u8>)>, ReadStats) {
    let mut reader = Reader::open(dir, from).unwrap();
    let mut out = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        out.push(record);
    }
    (out, reader.stats())
}

/// The segment files, oldest first.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    out.sort();
    out
}

pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
        }
    }
}

/// One frame of an undamaged segment, found by [`frame_spans`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub offset: usize,
    pub total: usize,
    pub id: u64,
    pub flags: u8,
}

pub const SEGMENT_HEADER_LEN: usize = 12;
pub const FRAME_HEADER_LEN: usize = 17;

/// Parses an undamaged segment exactly as the crate docs describe the format, independently of
/// the crate's code, asserting every checksum.
pub fn frame_spans(bytes: &[u8]) -> Vec<Span> {
    assert_eq!(&bytes[..5], b"SLWAL");
    assert_eq!(u16::from_le_bytes([bytes[5], bytes[6]]), 1);
    assert_eq!(bytes[7], 0);
    let header_crc = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    assert_eq!(crc32c::crc32c(&bytes[..8]), header_crc);
    let mut pos = SEGMENT_HEADER_LEN;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap());
        let flags = bytes[pos + 8];
        let id = u64::from_le_bytes(bytes[pos + 9..pos + 17].try_into().unwrap());
        let end = pos + FRAME_HEADER_LEN + len;
        let mut covered = bytes[pos..pos + 4].to_vec();
        covered.extend_from_slice(&bytes[pos + 8..end]);
        assert_eq!(crc32c::crc32c(&covered), crc, "frame at {pos}");
        assert_eq!(flags & !1, 0);
        out.push(Span {
            offset: pos,
            total: end - pos,
            id,
            flags,
        });
        pos = end;
    }
    assert_eq!(pos, bytes.len());
    out
}

/// The record a frame holds, decoded as the docs describe.
pub fn decode(bytes: &[u8], span: Span) -> Vec<u8> {
    let payload = &bytes[span.offset + FRAME_HEADER_LEN..span.offset + span.total];
    if span.flags & 1 == 1 {
        lz4_flex::decompress_size_prepended(payload).unwrap()
    } else {
        payload.to_vec()
    }
}
