//! Sync policies, and readers following a live writer.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Duration;

use common::*;
use sluice_wal::{Options, Reader, SyncPolicy, Writer};

#[test]
fn every_policy_is_readable_by_a_fresh_reader_after_sync_without_dropping_the_writer() {
    for sync in [
        SyncPolicy::Always,
        SyncPolicy::Interval(Duration::ZERO),
        SyncPolicy::Interval(Duration::from_secs(3600)),
        SyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            max_segment_bytes: 8192,
            sync,
        };
        let (mut writer, _) = Writer::open(dir.path(), options).unwrap();
        let mut rng = XorShift::new(31);
        let records: Vec<Vec<u8>> = (0..30).map(|_| rng.bytes(783)).collect();
        for r in &records[..10] {
            writer.append(r).unwrap();
        }
        writer.append_batch(&records[10..]).unwrap();
        // 800-byte frames, 10 per segment: rolls before records 11 and 21. Always: one sync per
        // call (10 + 1), plus the roll inside the batch (segment 2 unsynced); the first roll found
        // segment 1 synced already. Interval(1h): the two rolls only.
        let by_policy = match sync {
            SyncPolicy::Always => 12,
            SyncPolicy::Interval(d) if d.is_zero() => 12,
            SyncPolicy::Interval(_) => 2,
            SyncPolicy::Never => 0,
        };
        assert_eq!(writer.segment_count(), 3);
        assert_eq!(writer.data_syncs(), by_policy, "{sync:?}");
        writer.sync().unwrap();
        let explicit = u64::from(!matches!(
            sync,
            SyncPolicy::Always | SyncPolicy::Interval(Duration::ZERO)
        ));
        assert_eq!(writer.data_syncs(), by_policy + explicit, "{sync:?}");
        let (read, _) = read_all(dir.path(), 1);
        assert_eq!(read.len(), 30, "{sync:?}");
        for (i, (id, bytes)) in read.iter().enumerate() {
            assert_eq!(*id, i as u64 + 1);
            assert_eq!(bytes, &records[i]);
        }
        writer.ack(15).unwrap();
        let before = writer.data_syncs();
        writer.sync().unwrap(); // nothing new: a no-op
        assert_eq!(writer.data_syncs(), before);
        drop(writer);
        let (_, rec) = Writer::open(dir.path(), Options::default()).unwrap();
        assert!(rec.is_clean());
        assert_eq!((rec.acked, rec.next_id), (15, 31), "{sync:?}");
    }
}

#[test]
fn a_reader_follows_a_live_writer_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = Writer::open(dir.path(), opts(2048)).unwrap();
    let mut reader = writer.reader(1).unwrap();
    assert!(reader.next_record().unwrap().is_none());
    let mut rng = XorShift::new(41);
    let mut expected = 1;
    for round in 0..50 {
        let records: Vec<Vec<u8>> = (0..round % 4).map(|_| rng.bytes(300)).collect();
        writer.append_batch(&records).unwrap();
        for record in &records {
            let (id, bytes) = reader.next_record().unwrap().expect("appended");
            assert_eq!((id, &bytes), (expected, record));
            expected += 1;
        }
        assert!(reader.next_record().unwrap().is_none(), "round {round}");
    }
    assert!(writer.segment_count() > 10);
    assert_eq!(reader.stats().records, expected - 1);
    assert_eq!(reader.stats().corrupt_frames + reader.stats().torn_tails, 0);
}

#[test]
fn a_reader_waits_at_a_frame_still_being_written() {
    // Take a frame's bytes from another log, then write them into the active segment in two
    // halves, as a concurrent writer's `write` could appear.
    let scratch = tempfile::tempdir().unwrap();
    let (mut w, _) = Writer::open(scratch.path(), opts(1 << 20)).unwrap();
    w.append(b"first").unwrap();
    w.append(&XorShift::new(1).bytes(500)).unwrap();
    drop(w);
    let bytes = fs::read(segment_files(scratch.path()).pop().unwrap()).unwrap();
    let spans = frame_spans(&bytes);
    let second = &bytes[spans[1].offset..];

    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
    w.append(b"first").unwrap();
    drop(w);
    let seg = segment_files(dir.path()).pop().unwrap();
    let mut reader = Reader::open(dir.path(), 1).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().0, 1);
    let mut file = OpenOptions::new().append(true).open(&seg).unwrap();
    for cut in [3, 17, 200] {
        file.write_all(&second[..cut]).unwrap();
        assert!(reader.next_record().unwrap().is_none());
        fs::write(&seg, &bytes[..spans[1].offset]).unwrap(); // back to one frame
    }
    file.write_all(&second[..250]).unwrap();
    assert!(reader.next_record().unwrap().is_none());
    file.write_all(&second[250..]).unwrap();
    let (id, record) = reader.next_record().unwrap().unwrap();
    assert_eq!((id, record.len()), (2, 500));
    assert!(reader.next_record().unwrap().is_none());
    assert_eq!(reader.stats().corrupt_frames, 0);
}

#[test]
fn interval_policy_syncs_on_the_first_append_after_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max_segment_bytes: 1 << 20,
        sync: SyncPolicy::Interval(Duration::from_millis(20)),
    };
    let (mut writer, _) = Writer::open(dir.path(), options).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    writer.append(b"a").unwrap(); // syncs: the interval has passed since open
    assert_eq!(writer.data_syncs(), 1);
    writer.append(b"b").unwrap(); // does not: it has not passed since that sync
    writer.append(b"c").unwrap();
    assert_eq!(writer.data_syncs(), 1);
    std::thread::sleep(Duration::from_millis(30));
    writer.append(b"d").unwrap();
    assert_eq!(writer.data_syncs(), 2);
    let (read, _) = read_all(dir.path(), 1);
    assert_eq!(read.len(), 4);
}
