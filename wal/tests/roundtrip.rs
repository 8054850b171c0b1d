//! Records come back exactly, in order, with monotonic ids, across segments and restarts; the
//! files are in the documented format.

mod common;

use std::fs;

use common::*;
use sluice_wal::{verify, Error, Reader, Writer, MAX_RECORD_BYTES};

#[test]
fn round_trip_random_sizes_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(7);
    let mut expected: Vec<Vec<u8>> = Vec::new();
    for session in 0..4 {
        let (mut writer, recovery) = Writer::open(dir.path(), opts(2 << 20)).unwrap();
        assert!(recovery.is_clean(), "session {session}: {recovery:?}");
        assert_eq!(recovery.frames_recovered > 0, session > 0);
        assert_eq!(recovery.next_id, expected.len() as u64 + 1);
        let mut records: Vec<Vec<u8>> = (0..30).map(|_| record(&mut rng, 1 << 20)).collect();
        if session == 1 {
            // The extremes: empty, and 1 MiB both ways.
            records.push(Vec::new());
            records.push(rng.bytes(1 << 20));
            records.push(compressible(&mut rng, 1 << 20));
        }
        let mut i = 0;
        while i < records.len() {
            let next = expected.len() as u64 + 1;
            if rng.below(2) == 0 {
                assert_eq!(writer.append(&records[i]).unwrap(), next);
                expected.push(records[i].clone());
                i += 1;
            } else {
                let n = rng.range(1, 6).min(records.len() - i);
                let ids = writer.append_batch(&records[i..i + n]).unwrap();
                assert_eq!(ids, next..next + n as u64);
                expected.extend_from_slice(&records[i..i + n]);
                i += n;
            }
        }
        assert_eq!(writer.next_id(), expected.len() as u64 + 1);
        // A fresh reader sees everything while the writer is still open.
        let (read, _) = read_all(dir.path(), 1);
        assert_eq!(read.len(), expected.len());
        let on_disk: u64 = segment_files(dir.path())
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(writer.bytes_on_disk(), on_disk);
    }

    let (read, stats) = read_all(dir.path(), 1);
    assert_eq!(
        stats.corrupt_frames + stats.torn_tails + stats.bytes_skipped,
        0
    );
    assert_eq!(read.len(), expected.len());
    for (i, ((id, bytes), want)) in read.iter().zip(&expected).enumerate() {
        assert_eq!(*id, i as u64 + 1);
        assert!(bytes == want, "record {id} differs");
    }
    assert!(segment_files(dir.path()).len() >= 3);

    let middle = expected.len() as u64 / 2;
    let (suffix, _) = read_all(dir.path(), middle);
    assert_eq!(suffix.first().unwrap().0, middle);
    assert_eq!(suffix.len(), expected.len() - middle as usize + 1);

    let report = verify(dir.path()).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.frames(), expected.len() as u64);
}

#[test]
fn files_are_in_the_documented_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(1);
    let records = vec![
        compressible(&mut rng, 5000),
        rng.bytes(5000),
        Vec::new(),
        b"short".to_vec(),
    ];
    let (mut writer, _) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
    writer.append_batch(&records).unwrap();
    drop(writer);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with("00000000000000000001.wal"));
    let bytes = fs::read(&files[0]).unwrap();
    let spans = frame_spans(&bytes);
    assert_eq!(spans.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(
        spans.iter().map(|s| s.flags).collect::<Vec<_>>(),
        [1, 0, 0, 0]
    );
    assert!(spans[0].total < 2500, "log text should compress");
    assert_eq!(spans[1].total, FRAME_HEADER_LEN + 5000);
    for (span, want) in spans.iter().zip(&records) {
        assert_eq!(&decode(&bytes, *span), want);
    }
}

#[test]
fn segments_roll_before_passing_max_bytes_and_are_named_by_first_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(2);
    let (mut writer, _) = Writer::open(dir.path(), opts(4096)).unwrap();
    for _ in 0..20 {
        writer.append(&rng.bytes(1000)).unwrap();
    }
    writer.append(&rng.bytes(10_000)).unwrap(); // larger than a segment: one of its own
    writer.append(b"after").unwrap();
    let files = segment_files(dir.path());
    assert_eq!(writer.segment_count(), files.len());
    let mut next = 1;
    for path in &files {
        let bytes = fs::read(path).unwrap();
        let spans = frame_spans(&bytes);
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, format!("{next:020}.wal"));
        assert!(bytes.len() <= 4096 || spans.len() == 1, "{name}");
        for span in spans {
            assert_eq!(span.id, next);
            next += 1;
        }
    }
    assert_eq!(next, 23);
}

#[test]
fn oversized_record_is_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
    let err = writer.append(&vec![0u8; MAX_RECORD_BYTES + 1]).unwrap_err();
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
    let err = writer
        .append_batch(&[b"ok".to_vec(), vec![0u8; MAX_RECORD_BYTES + 1]])
        .unwrap_err();
    assert!(matches!(err, Error::RecordTooLarge { .. }));
    assert_eq!(writer.append(b"still fine").unwrap(), 1);
    let mut reader = Reader::open(dir.path(), 1).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().1, b"still fine");
}

#[test]
fn a_second_writer_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, _) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
    let err = Writer::open(dir.path(), opts(1 << 20)).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(matches!(
        sluice_wal::repair(dir.path()),
        Err(Error::Locked { .. })
    ));
    drop(writer);
    Writer::open(dir.path(), opts(1 << 20)).unwrap();
}
