//! Damaged bytes anywhere: never a panic, never an error, never a wrong record; every untouched
//! frame is still read; damage is counted; `repair` leaves a log that `verify` calls clean.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use sluice_wal::{repair, verify, Error, Reader, Writer};

struct Reference {
    dir: tempfile::TempDir,
    /// Per segment file name: its bytes and its frames.
    segments: Vec<(PathBuf, Vec<u8>, Vec<Span>)>,
    records: BTreeMap<u64, Vec<u8>>,
}

fn reference_log() -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(11);
    let (mut writer, _) = Writer::open(dir.path(), opts(16 << 10)).unwrap();
    let mut records = BTreeMap::new();
    for _ in 0..70 {
        let len = rng.range(0, 3000);
        let record = if rng.below(2) == 0 {
            compressible(&mut rng, len)
        } else {
            rng.bytes(len)
        };
        let id = writer.append(&record).unwrap();
        records.insert(id, record);
    }
    drop(writer);
    let segments: Vec<_> = segment_files(dir.path())
        .into_iter()
        .map(|path| {
            let bytes = fs::read(&path).unwrap();
            let spans = frame_spans(&bytes);
            (PathBuf::from(path.file_name().unwrap()), bytes, spans)
        })
        .collect();
    assert!(segments.len() >= 4, "{}", segments.len());
    Reference {
        dir,
        segments,
        records,
    }
}

/// Ids of the frames none of whose bytes differ from the reference, and per segment whether its
/// header and whether any frame was touched.
fn untouched(reference: &Reference, dir: &Path) -> (BTreeSet<u64>, Vec<(bool, bool)>) {
    let mut ids = BTreeSet::new();
    let mut touched = Vec::new();
    for (name, original, spans) in &reference.segments {
        let now = fs::read(dir.join(name)).unwrap();
        let differs = |from: usize, to: usize| (from..to).any(|i| now[i] != original[i]);
        let mut frame_touched = false;
        for span in spans {
            if differs(span.offset, span.offset + span.total) {
                frame_touched = true;
            } else {
                ids.insert(span.id);
            }
        }
        touched.push((differs(0, SEGMENT_HEADER_LEN), frame_touched));
    }
    (ids, touched)
}

/// Reads everything, checking that each record returned is exactly the one written (or, for
/// ids from `appended.0` on, was appended after recovery).
fn read_checked(
    reference: &Reference,
    dir: &Path,
    seed: u64,
    appended: (u64, &[u8]),
) -> BTreeSet<u64> {
    let (read, _) = read_all(dir, 1);
    let mut ids = BTreeSet::new();
    let mut last = 0;
    for (id, bytes) in read {
        assert!(id > last, "seed {seed}: ids out of order");
        last = id;
        let want = match reference.records.get(&id) {
            Some(want) if id < appended.0 => want.as_slice(),
            _ => {
                assert_eq!(id, appended.0, "seed {seed}: a record never written");
                appended.1
            }
        };
        assert!(bytes == want, "seed {seed}: record {id} differs");
        ids.insert(id);
    }
    ids
}

#[test]
fn random_byte_flips_never_panic_and_keep_untouched_frames() {
    let reference = reference_log();
    let mut damaged_iterations = 0;
    for seed in 0..300u64 {
        let mut rng = XorShift::new(seed + 1000);
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("log");
        copy_dir(reference.dir.path(), &dir);
        for _ in 0..rng.range(1, 4) {
            let (name, original, _) =
                &reference.segments[rng.below(reference.segments.len() as u64) as usize];
            let path = dir.join(name);
            let mut bytes = fs::read(&path).unwrap();
            let at = rng.below(original.len() as u64) as usize;
            bytes[at] ^= rng.range(1, 255) as u8;
            fs::write(&path, bytes).unwrap();
        }
        let (good, touched) = untouched(&reference, &dir);

        // verify: damage is reported exactly where it is.
        let report = verify(&dir).unwrap();
        assert_eq!(report.segments.len(), reference.segments.len());
        for (seg, (header_touched, frame_touched)) in report.segments.iter().zip(&touched) {
            assert_eq!(seg.header_damaged, *header_touched, "seed {seed}: {report}");
            assert_eq!(
                seg.corrupt_frames + seg.torn_tail_bytes > 0,
                *frame_touched,
                "seed {seed}: {report}"
            );
        }
        if !report.is_clean() {
            damaged_iterations += 1;
        }

        // A reader returns every untouched frame, and nothing that was not written.
        let read = read_checked(&reference, &dir, seed, (u64::MAX, b""));
        assert!(
            good.is_subset(&read),
            "seed {seed}: lost {:?}",
            good.difference(&read)
        );
        assert!(read.len() as u64 >= report.frames().min(good.len() as u64));

        // Recovery on a copy: keeps every untouched frame, then appends work.
        let copy = work.path().join("copy");
        copy_dir(&dir, &copy);
        let (mut writer, _) = Writer::open(&copy, opts(16 << 10)).unwrap();
        // (A damaged frame at the very end is truncated, and its id is given again.)
        let next = writer.append(b"after recovery").unwrap();
        assert!(next > *reference.records.keys().max().unwrap() || touched.last().unwrap().1);
        drop(writer);
        let after_recovery = read_checked(&reference, &copy, seed, (next, b"after recovery"));
        assert!(good.is_subset(&after_recovery), "seed {seed}");
        assert!(after_recovery.contains(&next), "seed {seed}");

        // repair leaves a clean log holding what a reader read before.
        let repaired = repair(&dir).unwrap();
        assert_eq!(repaired.is_clean(), report.is_clean());
        let clean = verify(&dir).unwrap();
        assert!(clean.is_clean(), "seed {seed}: {clean}");
        let after_repair = read_checked(&reference, &dir, seed, (u64::MAX, b""));
        assert_eq!(after_repair, read, "seed {seed}");
        let (_, rec) = Writer::open(&dir, opts(16 << 10)).unwrap();
        assert!(rec.is_clean(), "seed {seed}: {rec:?}");
    }
    assert!(damaged_iterations > 250, "{damaged_iterations}");
}

#[test]
fn garbage_files_never_panic() {
    for seed in 0..200u64 {
        let mut rng = XorShift::new(seed);
        let dir = tempfile::tempdir().unwrap();
        let len = rng.range(0, 3000);
        let mut bytes = match seed % 5 {
            0 => vec![0u8; len],
            1 => vec![0xFF; len],
            2 => {
                let mut b = b"SLWAL\x01\x00\x00".to_vec();
                b.extend(crc32c::crc32c(&b).to_le_bytes());
                b.extend(rng.bytes(len));
                b
            }
            _ => rng.bytes(len),
        };
        if seed % 7 == 0 {
            bytes.extend_from_slice(b"SLWAL");
        }
        let name = format!("{:020}.wal", rng.range(1, 1 << 40));
        fs::write(dir.path().join(name), &bytes).unwrap();
        let ack_len = rng.range(0, 20);
        fs::write(dir.path().join("ack"), rng.bytes(ack_len)).unwrap();

        verify(dir.path()).unwrap();
        read_all(dir.path(), 1);
        let (mut writer, _) = Writer::open(dir.path(), opts(4096)).unwrap();
        let id = writer.append(b"works").unwrap();
        drop(writer);
        let (read, _) = read_all(dir.path(), 1);
        assert!(
            read.iter().any(|r| r.0 == id && r.1 == b"works"),
            "seed {seed}"
        );
        repair(dir.path()).unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_clean(), "seed {seed}: {report}");
    }
}

#[test]
fn extreme_ids_in_names_and_ack_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = b"SLWAL\x01\x00\x00".to_vec();
    header.extend(crc32c::crc32c(&header).to_le_bytes());
    fs::write(dir.path().join("00000000000000000000.wal"), &header).unwrap();
    fs::write(dir.path().join(format!("{}.wal", u64::MAX)), &header).unwrap();
    let mut ack = u64::MAX.to_le_bytes().to_vec();
    ack.extend(crc32c::crc32c(&ack).to_le_bytes());
    fs::write(dir.path().join("ack"), &ack).unwrap();

    let (mut writer, rec) = Writer::open(dir.path(), opts(4096)).unwrap();
    assert_eq!(rec.next_id, u64::MAX);
    assert_eq!(writer.unacked_records(), 0);
    assert!(matches!(
        writer.append(b"x"),
        Err(Error::IdsExhausted { .. })
    ));
    assert_eq!(writer.ack(5).unwrap(), 0);
    drop(writer);
    assert!(verify(dir.path()).unwrap().is_clean());
    assert!(Reader::open_after_ack(dir.path())
        .unwrap()
        .next_record()
        .unwrap()
        .is_none());
    assert!(read_all(dir.path(), 1).0.is_empty());
}

#[test]
fn a_damaged_length_in_the_middle_does_not_truncate_later_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(5);
    let (mut writer, _) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
    for _ in 0..10 {
        writer.append(&rng.bytes(100)).unwrap();
    }
    drop(writer);
    let seg = segment_files(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let spans = frame_spans(&bytes);
    // Frame 4 now claims 16 MiB: it runs past the end of the file, like a torn frame.
    bytes[spans[3].offset..spans[3].offset + 4].copy_from_slice(&(16u32 << 20).to_le_bytes());
    fs::write(&seg, &bytes).unwrap();

    let (read, stats) = read_all(dir.path(), 1);
    assert_eq!(
        read.iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 2, 3, 5, 6, 7, 8, 9, 10]
    );
    assert_eq!(stats.corrupt_frames, 1);
    assert_eq!(stats.bytes_skipped, spans[3].total as u64);

    let (mut writer, rec) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(rec.frames_recovered, 9);
    assert_eq!(rec.corrupt_frames, 1);
    assert_eq!(rec.bytes_truncated, 0);
    assert_eq!(rec.bytes_skipped, spans[3].total as u64);
    assert_eq!(writer.append(b"x").unwrap(), 11);
}

#[test]
fn a_newer_format_version_is_an_error_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = b"SLWAL\x02\x00\x00".to_vec();
    header.extend(crc32c::crc32c(&header).to_le_bytes());
    let path = dir.path().join("00000000000000000001.wal");
    fs::write(&path, &header).unwrap();
    let check = |err: Error| {
        assert!(
            matches!(err, Error::UnsupportedVersion { version: 2, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("00000000000000000001.wal"),
            "{err}"
        );
    };
    check(Writer::open(dir.path(), opts(4096)).unwrap_err());
    check(verify(dir.path()).unwrap_err());
    check(repair(dir.path()).unwrap_err());
    check(
        Reader::open(dir.path(), 1)
            .unwrap()
            .next_record()
            .unwrap_err(),
    );
    assert_eq!(fs::read(&path).unwrap(), header, "left untouched");
}
