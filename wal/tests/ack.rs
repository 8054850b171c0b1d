//! Acknowledgement: only fully acknowledged segments are deleted, the ack survives restarts, and
//! no reader ever misses an unacknowledged record.

mod common;

use std::fs;

use common::*;
use sluice_wal::{Error, Reader, Writer};

/// Writes `n` incompressible 1000-byte records into 4 KiB segments (3 per segment); returns the
/// records and, per segment file, the ids it holds.
fn filled(dir: &std::path::Path, n: usize) -> (Vec<Vec<u8>>, Vec<(u64, u64)>) {
    let mut rng = XorShift::new(21);
    let records: Vec<Vec<u8>> = (0..n).map(|_| rng.bytes(1000)).collect();
    let (mut writer, _) = Writer::open(dir, opts(4096)).unwrap();
    writer.append_batch(&records).unwrap();
    drop(writer);
    let ranges = segment_files(dir)
        .iter()
        .map(|p| {
            let spans = frame_spans(&fs::read(p).unwrap());
            (spans.first().unwrap().id, spans.last().unwrap().id)
        })
        .collect();
    (records, ranges)
}

fn on_disk(dir: &std::path::Path) -> u64 {
    segment_files(dir)
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn ack_deletes_only_fully_acknowledged_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (records, ranges) = filled(dir.path(), 40);
    assert!(ranges.len() >= 10);
    let (mut writer, _) = Writer::open(dir.path(), opts(4096)).unwrap();
    for acked in [1, 2, 3, 4, 8, 9, 10, 20, 25, 39, 40] {
        let before = segment_files(dir.path()).len();
        let deleted = writer.ack(acked).unwrap();
        let names: Vec<String> = segment_files(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(before - names.len(), deleted);
        for (i, (first, last)) in ranges.iter().enumerate() {
            let exists = names.contains(&format!("{first:020}.wal"));
            let is_active = i == ranges.len() - 1;
            // Deleted exactly when every record in it is acknowledged (never the active one).
            assert_eq!(
                exists,
                *last > acked || is_active,
                "ack {acked}: segment {first}..={last}"
            );
        }
        assert_eq!(writer.bytes_on_disk(), on_disk(dir.path()));
        // A reader from the ack on sees every unacknowledged record, in order, no gap.
        let (read, stats) = read_all(dir.path(), acked + 1);
        assert_eq!(stats.corrupt_frames, 0);
        let ids: Vec<u64> = read.iter().map(|r| r.0).collect();
        assert_eq!(ids, (acked + 1..=40).collect::<Vec<_>>());
        for (id, bytes) in &read {
            assert_eq!(bytes, &records[*id as usize - 1]);
        }
        // A reader from the start sees a suffix that includes every unacknowledged record.
        let (from_start, _) = read_all(dir.path(), 1);
        let first = from_start.first().map_or(41, |r| r.0);
        assert!(first <= acked + 1);
        assert_eq!(from_start.len() as u64, 41 - first);
    }
    assert_eq!(writer.segment_count(), 1);
    assert_eq!(writer.unacked_records(), 0);
}

#[test]
fn restart_resumes_after_the_persisted_ack() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), 40);
    let (mut writer, _) = Writer::open(dir.path(), opts(4096)).unwrap();
    writer.ack(17).unwrap();
    drop(writer);

    let (mut writer, rec) = Writer::open(dir.path(), opts(4096)).unwrap();
    assert!(rec.is_clean(), "{rec:?}");
    assert_eq!(rec.acked, 17);
    assert_eq!(writer.acked(), 17);
    assert_eq!(rec.segments_deleted, 0);
    let mut reader = Reader::open_after_ack(dir.path()).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().0, 18);
    assert_eq!(writer.append(b"more").unwrap(), 41);
    drop(writer);

    // Everything acknowledged and the segments gone: ids still never go back.
    let (mut writer, _) = Writer::open(dir.path(), opts(4096)).unwrap();
    writer.ack(41).unwrap();
    drop(writer);
    let active = segment_files(dir.path()).pop().unwrap();
    fs::remove_file(active).unwrap();
    let (mut writer, rec) = Writer::open(dir.path(), opts(4096)).unwrap();
    assert_eq!(rec.next_id, 42);
    assert_eq!(writer.append(b"next").unwrap(), 42);
    let (read, _) = read_all(dir.path(), 1);
    assert_eq!(read, vec![(42, b"next".to_vec())]);
    assert!(Reader::open_after_ack(dir.path())
        .unwrap()
        .next_record()
        .unwrap()
        .is_some());
}

#[test]
fn a_crash_between_ack_and_delete_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ranges) = filled(dir.path(), 40);
    let before_ack = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), before_ack.path());
    let (mut writer, _) = Writer::open(dir.path(), opts(4096)).unwrap();
    let deleted = writer.ack(20).unwrap();
    drop(writer);
    // The ack file is persisted, but the deletions did not happen.
    fs::copy(dir.path().join("ack"), before_ack.path().join("ack")).unwrap();
    let (writer, rec) = Writer::open(before_ack.path(), opts(4096)).unwrap();
    assert_eq!(rec.segments_deleted, deleted);
    assert_eq!(rec.acked, 20);
    assert_eq!(
        segment_files(before_ack.path()).len(),
        segment_files(dir.path()).len()
    );
    let first_left = ranges.iter().find(|r| r.1 > 20).unwrap().0;
    let (read, _) = read_all(before_ack.path(), 1);
    assert_eq!(read.first().unwrap().0, first_left);
    assert_eq!(writer.bytes_on_disk(), on_disk(before_ack.path()));
}

#[test]
fn ack_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), 10);
    let (mut writer, _) = Writer::open(dir.path(), opts(4096)).unwrap();
    let err = writer.ack(11).unwrap_err();
    assert!(
        matches!(
            err,
            Error::AckBeyondEnd {
                id: 11,
                last: 10,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(writer.ack(5).unwrap(), 1);
    assert_eq!(writer.ack(3).unwrap(), 0, "an older ack does nothing");
    assert_eq!(writer.acked(), 5);
    assert_eq!(writer.ack(0).unwrap(), 0);
    assert_eq!(writer.unacked_records(), 5);
}

#[test]
fn a_damaged_ack_file_means_everything_again_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), 10);
    fs::write(dir.path().join("ack"), b"garbage!").unwrap();
    let (mut writer, rec) = Writer::open(dir.path(), opts(4096)).unwrap();
    assert!(rec.ack_damaged);
    assert_eq!(rec.acked, 0);
    assert_eq!(
        Reader::open_after_ack(dir.path())
            .unwrap()
            .next_record()
            .unwrap()
            .unwrap()
            .0,
        1
    );
    writer.ack(4).unwrap();
    drop(writer);
    let (_, rec) = Writer::open(dir.path(), opts(4096)).unwrap();
    assert!(!rec.ack_damaged);
    assert_eq!(rec.acked, 4);
}

#[test]
fn a_tailing_reader_never_misses_a_record_while_acks_delete_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(9);
    let (mut writer, _) = Writer::open(dir.path(), opts(4096)).unwrap();
    let mut reader = Reader::open_after_ack(dir.path()).unwrap();
    let mut written = Vec::new();
    let mut seen = 0u64;
    for round in 0..200 {
        for _ in 0..rng.range(0, 4) {
            let len = rng.range(0, 1500);
            let record = rng.bytes(len);
            let id = writer.append(&record).unwrap();
            written.push(record);
            assert_eq!(id, written.len() as u64);
        }
        // Read some (not always all), ack what was read.
        for _ in 0..rng.range(0, 5) {
            match reader.next_record().unwrap() {
                Some((id, bytes)) => {
                    assert_eq!(id, seen + 1, "round {round}");
                    assert_eq!(bytes, written[id as usize - 1]);
                    seen = id;
                }
                None => {
                    assert_eq!(seen, written.len() as u64, "None only at the end");
                    break;
                }
            }
        }
        writer.ack(seen).unwrap();
        assert_eq!(writer.bytes_on_disk(), on_disk(dir.path()));
    }
    while let Some((id, _)) = reader.next_record().unwrap() {
        assert_eq!(id, seen + 1);
        seen = id;
    }
    assert_eq!(seen, written.len() as u64);
    assert_eq!(reader.stats().corrupt_frames + reader.stats().torn_tails, 0);
}
