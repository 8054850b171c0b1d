//! A crash mid-write leaves a torn tail: recovery cuts exactly the torn frame and keeps every
//! whole one, and appending after it works.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;

use common::*;
use sluice_wal::Writer;

#[test]
fn torn_tail_at_every_offset_of_the_last_two_frames() {
    let original = tempfile::tempdir().unwrap();
    let mut rng = XorShift::new(3);
    let mut records: Vec<Vec<u8>> = (0..6).map(|i| rng.bytes(20 + i * 7)).collect();
    records.push(compressible(&mut rng, 600)); // the last two: one compressed, one raw
    records.push(rng.bytes(90));
    let (mut writer, _) = Writer::open(original.path(), opts(1 << 20)).unwrap();
    writer.append_batch(&records).unwrap();
    drop(writer);
    let seg_path = segment_files(original.path()).pop().unwrap();
    let name = seg_path.file_name().unwrap().to_owned();
    let bytes = fs::read(&seg_path).unwrap();
    let spans = frame_spans(&bytes);
    assert_eq!(spans.len(), 8);
    assert_eq!(spans[6].flags, 1);

    let cut_from = spans[6].offset;
    let mut checked = 0;
    for cut in cut_from..bytes.len() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(&name), &bytes[..cut]).unwrap();
        let whole: Vec<&Span> = spans.iter().filter(|s| s.offset + s.total <= cut).collect();
        let kept_len = whole
            .last()
            .map_or(SEGMENT_HEADER_LEN, |s| s.offset + s.total);

        let (mut writer, rec) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
        assert_eq!(rec.frames_recovered, whole.len() as u64, "cut {cut}");
        assert_eq!(rec.bytes_truncated, (cut - kept_len) as u64, "cut {cut}");
        assert_eq!(rec.corrupt_frames, 0, "cut {cut}");
        assert_eq!(rec.bytes_skipped, 0, "cut {cut}");
        assert_eq!(rec.next_id, whole.len() as u64 + 1, "cut {cut}");
        assert_eq!(
            fs::metadata(dir.path().join(&name)).unwrap().len(),
            kept_len as u64
        );
        let id = writer.append(b"after the crash").unwrap();
        assert_eq!(id, whole.len() as u64 + 1);
        drop(writer);

        let (read, stats) = read_all(dir.path(), 1);
        assert_eq!(stats.corrupt_frames + stats.torn_tails, 0, "cut {cut}");
        assert_eq!(read.len(), whole.len() + 1, "cut {cut}");
        for (i, (rid, data)) in read.iter().enumerate().take(whole.len()) {
            assert_eq!(*rid, i as u64 + 1);
            assert_eq!(data, &records[i]);
        }
        assert_eq!(read.last().unwrap().1, b"after the crash");
        // And the log is clean again.
        let (_, rec) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
        assert!(rec.is_clean(), "cut {cut}: {rec:?}");
        checked += 1;
    }
    assert_eq!(checked, bytes.len() - cut_from);
    assert!(checked > 200);
}

#[test]
fn a_segment_torn_inside_its_header_is_restarted() {
    let mut rng = XorShift::new(4);
    for cut in 0..SEGMENT_HEADER_LEN {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, _) = Writer::open(dir.path(), opts(100)).unwrap();
        writer.append(&rng.bytes(80)).unwrap();
        writer.append(&rng.bytes(80)).unwrap(); // rolls: segment 2 exists
        drop(writer);
        let last = segment_files(dir.path()).pop().unwrap();
        assert!(last.ends_with("00000000000000000002.wal"));
        let bytes = fs::read(&last).unwrap();
        fs::write(&last, &bytes[..cut]).unwrap();

        let (mut writer, rec) = Writer::open(dir.path(), opts(100)).unwrap();
        assert_eq!(rec.bytes_truncated, cut as u64);
        assert_eq!(rec.frames_recovered, 0);
        assert_eq!(rec.next_id, 2, "ids continue from the segment's name");
        assert_eq!(writer.append(&[3u8; 10]).unwrap(), 2);
        drop(writer);
        let (read, stats) = read_all(dir.path(), 1);
        assert_eq!(
            stats,
            sluice_wal::ReadStats {
                records: 2,
                ..Default::default()
            }
        );
        assert_eq!(read.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(read[1].1, [3u8; 10]);
    }
}

#[test]
fn a_zero_filled_tail_is_truncated_and_counted() {
    // What a filesystem may leave after a crash: the size grew, the data never arrived.
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
    for i in 0..5u8 {
        writer.append(&[i; 100]).unwrap();
    }
    drop(writer);
    let seg = segment_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    let mut file = OpenOptions::new().append(true).open(&seg).unwrap();
    file.write_all(&[0u8; 4096]).unwrap();
    drop(file);

    let (mut writer, rec) = Writer::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(rec.frames_recovered, 5);
    assert_eq!(rec.bytes_truncated, 4096);
    assert_eq!(rec.corrupt_frames, 1);
    assert_eq!(fs::metadata(&seg).unwrap().len(), len);
    assert_eq!(writer.append(b"x").unwrap(), 6);
}
