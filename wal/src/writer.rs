//! The single writer of a log: recovery on open, appends, syncs, acknowledgement and deletion.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::dir::{self, segment_path};
use crate::error::{Error, Result};
use crate::format::{self, Header, MAX_RECORD_BYTES, SEGMENT_HEADER_LEN};
use crate::{Options, Reader, SyncPolicy};

/// Above this many encoded bytes, `append_batch` writes what it has before encoding more.
const BATCH_WRITE_BYTES: usize = 1 << 20;
/// The writer's scratch buffer is freed after a batch that grew it past this.
const KEEP_BUFFER_BYTES: usize = 4 << 20;

/// What [`Writer::open`] found and did. Only the last segment is scanned on open (it is the only
/// one a crash can tear); damage in older segments is counted by [`Reader`] as it reads them, and
/// by [`crate::verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segment files in the log after recovery, including the active one.
    pub segments: usize,
    /// Whole frames with a matching checksum found in the last segment.
    pub frames_recovered: u64,
    /// Damaged regions in the last segment: each resynchronization counts one, and so does a
    /// whole but damaged frame at the end (which is truncated, see `bytes_truncated`).
    pub corrupt_frames: u64,
    /// Bytes cut from the end of the last segment: a torn frame, or damage nothing good follows.
    pub bytes_truncated: u64,
    /// Bytes in damaged regions that were skipped, left in place (`repair` removes them).
    pub bytes_skipped: u64,
    /// The last segment's header is damaged (frames after it are still read).
    pub header_damaged: bool,
    /// The persisted acknowledgement: every id `<=` this is done.
    pub acked: u64,
    /// The ack file was damaged and was ignored: everything still on disk is delivered again.
    pub ack_damaged: bool,
    /// Fully acknowledged segments deleted on open (left by a crash between ack and delete).
    pub segments_deleted: usize,
    /// The id the next appended record gets.
    pub next_id: u64,
}

impl Recovery {
    /// Nothing was damaged, torn or ignored.
    pub fn is_clean(&self) -> bool {
        self.corrupt_frames == 0
            && self.bytes_truncated == 0
            && self.bytes_skipped == 0
            && !self.header_damaged
            && !self.ack_damaged
    }
}

#[derive(Clone, Debug)]
struct Segment {
    base: u64,
    path: PathBuf,
    len: u64,
}

/// Appends records to a log directory. One per directory (enforced by a lock on `LOCK`).
///
/// Each append is one `write` call to the active segment, so a [`Reader`] in this or another
/// process sees it at once; durability against power loss depends on [`SyncPolicy`].
#[derive(Debug)]
pub struct Writer {
    dir: PathBuf,
    options: Options,
    _lock: File,
    file: File,
    active: Segment,
    /// Older segments, oldest first.
    closed: VecDeque<Segment>,
    next_id: u64,
    acked: u64,
    bytes_on_disk: u64,
    buf: Vec<u8>,
    /// Bytes were written to `file` since its last fsync.
    dirty: bool,
    last_sync: Instant,
    /// A failed write could not be rolled back at this offset.
    poisoned: Option<u64>,
    data_syncs: u64,
}

impl Writer {
    /// Opens (creating if needed) the log in `dir` and recovers it: deletes segments the
    /// persisted ack covers, scans the last segment, truncates a torn or damaged tail, and
    /// continues the record ids after the last whole frame (never at or below the ack).
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<(Writer, Recovery)> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "create directory", e))?;
        let lock = dir::lock(&dir)?;
        dir::remove_temp_files(&dir)?;
        let durable = options.sync != SyncPolicy::Never;
        let ack = dir::read_ack(&dir)?;
        let mut rec = Recovery {
            acked: ack.acked,
            ack_damaged: ack.damaged,
            ..Recovery::default()
        };

        let mut segments = dir::list_segments(&dir)?;
        let last = segments.pop();
        let mut closed = VecDeque::new();
        for (i, seg) in segments.iter().enumerate() {
            let next_base = segments.get(i + 1).or(last.as_ref()).map_or(0, |s| s.base);
            if ack.acked >= next_base.saturating_sub(1) {
                remove_segment(&seg.path)?;
                rec.segments_deleted += 1;
                continue;
            }
            let len = fs::metadata(&seg.path)
                .map_err(|e| Error::io(&seg.path, "stat segment", e))?
                .len();
            closed.push_back(Segment {
                base: seg.base,
                path: seg.path.clone(),
                len,
            });
        }
        if rec.segments_deleted > 0 && durable {
            dir::sync_dir(&dir)?;
        }

        let (file, active, last_id) = match last {
            None => {
                let base = ack.acked.saturating_add(1);
                let (file, path) = create_segment(&dir, base, durable)?;
                let active = Segment {
                    base,
                    path,
                    len: SEGMENT_HEADER_LEN as u64,
                };
                (file, active, None)
            }
            Some(seg) => recover_last(seg.base, &seg.path, durable, &mut rec)?,
        };
        let next_id = last_id
            .map_or(active.base, |id| id.saturating_add(1))
            .max(ack.acked.saturating_add(1));
        rec.next_id = next_id;
        rec.segments = closed.len() + 1;
        let bytes_on_disk = closed.iter().map(|s| s.len).sum::<u64>() + active.len;
        let writer = Writer {
            dir,
            options,
            _lock: lock,
            file,
            active,
            closed,
            next_id,
            acked: ack.acked,
            bytes_on_disk,
            buf: Vec::new(),
            dirty: false,
            last_sync: Instant::now(),
            poisoned: None,
            data_syncs: 0,
        };
        Ok((writer, rec))
    }

    /// Appends one record and returns its id.
    pub fn append(&mut self, record: &[u8]) -> Result<u64> {
        Ok(self.append_batch(&[record])?.start)
    }

    /// Appends records in order with as few `write` calls as possible, syncs at most once
    /// (per the policy), and returns their ids. On error, a prefix of the batch may have been
    /// appended: [`Writer::next_id`] tells where it stopped.
    pub fn append_batch<R: AsRef<[u8]>>(&mut self, records: &[R]) -> Result<Range<u64>> {
        if let Some(offset) = self.poisoned {
            return Err(Error::Poisoned {
                path: self.active.path.clone(),
                offset,
            });
        }
        if let Some(big) = records.iter().find(|r| r.as_ref().len() > MAX_RECORD_BYTES) {
            return Err(Error::RecordTooLarge {
                path: self.dir.clone(),
                len: big.as_ref().len(),
                max: MAX_RECORD_BYTES,
            });
        }
        if self.next_id.checked_add(records.len() as u64).is_none() {
            return Err(Error::IdsExhausted {
                path: self.dir.clone(),
            });
        }
        let start = self.next_id;
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.encode_and_write(records, &mut buf);
        buf.clear();
        if buf.capacity() <= KEEP_BUFFER_BYTES {
            self.buf = buf;
        }
        result?;
        match self.options.sync {
            SyncPolicy::Always => self.sync()?,
            SyncPolicy::Interval(every) if self.last_sync.elapsed() >= every => self.sync()?,
            _ => {}
        }
        Ok(start..self.next_id)
    }

    fn encode_and_write<R: AsRef<[u8]>>(&mut self, records: &[R], buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        let mut pending = 0u64;
        for record in records {
            let mark = buf.len();
            format::encode_frame(buf, self.next_id + pending, record.as_ref());
            let would_be = self.active.len + buf.len() as u64;
            let active_has_frames = self.active.len > SEGMENT_HEADER_LEN as u64 || mark > 0;
            if would_be > self.options.max_segment_bytes && active_has_frames {
                if mark > 0 {
                    self.write_chunk(&buf[..mark], pending)?;
                    buf.drain(..mark);
                    pending = 0;
                }
                self.roll()?;
            }
            pending += 1;
            if buf.len() >= BATCH_WRITE_BYTES {
                self.write_chunk(buf, pending)?;
                buf.clear();
                pending = 0;
            }
        }
        if pending > 0 {
            self.write_chunk(buf, pending)?;
        }
        Ok(())
    }

    /// Writes whole frames holding `frames` records at the end of the active segment. A failed
    /// write is rolled back (the file is cut back to where it was), so no partial frame stays.
    fn write_chunk(&mut self, bytes: &[u8], frames: u64) -> Result<()> {
        let at = self.active.len;
        if let Err(e) = self.file.write_all(bytes) {
            let rolled_back = self
                .file
                .set_len(at)
                .and_then(|()| self.file.seek(SeekFrom::Start(at)));
            if rolled_back.is_err() {
                self.poisoned = Some(at);
            }
            return Err(Error::io_at(&self.active.path, "append", at, e));
        }
        self.active.len += bytes.len() as u64;
        self.bytes_on_disk += bytes.len() as u64;
        self.next_id += frames;
        self.dirty = true;
        Ok(())
    }

    /// Closes the active segment (synced unless the policy is `Never`) and starts a new one named
    /// after the next record id.
    fn roll(&mut self) -> Result<()> {
        let durable = self.durable();
        if durable && self.dirty {
            self.sync()?;
        }
        let base = self.next_id;
        let (file, path) = create_segment(&self.dir, base, durable)?;
        let len = SEGMENT_HEADER_LEN as u64;
        let old = std::mem::replace(&mut self.active, Segment { base, path, len });
        self.closed.push_back(old);
        self.file = file;
        self.bytes_on_disk += len;
        self.dirty = false;
        self.delete_acked()?;
        Ok(())
    }

    /// fdatasyncs the active segment (a no-op when nothing was written since the last sync).
    /// Called by the policy; call it yourself for `Interval` when appends stop, or for `Never`.
    pub fn sync(&mut self) -> Result<()> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(|e| Error::io(&self.active.path, "sync segment", e))?;
            self.dirty = false;
            self.data_syncs += 1;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Records that every record with an id `<= id` is done, persists that (atomically, in the
    /// `ack` file), then deletes the older segments whose records are all acknowledged. The
    /// active segment is never deleted. Returns how many segments were deleted. Acknowledging
    /// an id at or below the current ack does nothing.
    pub fn ack(&mut self, id: u64) -> Result<usize> {
        if id <= self.acked {
            return Ok(0);
        }
        if id >= self.next_id {
            return Err(Error::AckBeyondEnd {
                path: self.dir.clone(),
                id,
                last: self.next_id - 1,
            });
        }
        dir::write_ack(&self.dir, id, self.durable())?;
        self.acked = id;
        self.delete_acked()
    }

    fn delete_acked(&mut self) -> Result<usize> {
        let mut deleted = 0;
        while let Some(oldest) = self.closed.front() {
            let next_base = self.closed.get(1).map_or(self.active.base, |s| s.base);
            if self.acked < next_base.saturating_sub(1) {
                break;
            }
            remove_segment(&oldest.path)?;
            self.bytes_on_disk -= oldest.len;
            self.closed.pop_front();
            deleted += 1;
        }
        if deleted > 0 && self.durable() {
            dir::sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    fn durable(&self) -> bool {
        self.options.sync != SyncPolicy::Never
    }

    /// A reader of this log from record `from` on (see [`Reader::open`]).
    pub fn reader(&self, from: u64) -> Result<Reader> {
        Reader::open(&self.dir, from)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id the next appended record gets. Ids start at 1 and grow by one per record.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Every record id `<=` this is acknowledged (0: none).
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Records appended but not acknowledged (including ones a crash may have lost).
    pub fn unacked_records(&self) -> u64 {
        (self.next_id - 1).saturating_sub(self.acked)
    }

    /// Bytes in segment files: what a size bound (`max_size`) should be checked against. It
    /// includes acknowledged records still in the active or an older, partly acknowledged
    /// segment, so it can exceed the unacknowledged data by up to about two segments.
    pub fn bytes_on_disk(&self) -> u64 {
        self.bytes_on_disk
    }

    /// fdatasync calls made on segments so far (a metric; also how tests observe the policy).
    pub fn data_syncs(&self) -> u64 {
        self.data_syncs
    }

    /// Segment files, including the active one.
    pub fn segment_count(&self) -> usize {
        self.closed.len() + 1
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.dirty && self.durable() {
            let _ = self.file.sync_data();
        }
    }
}

fn remove_segment(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(path, "delete segment", e)),
        _ => Ok(()),
    }
}

/// Creates segment `base` holding only a header.
fn create_segment(dir: &Path, base: u64, durable: bool) -> Result<(File, PathBuf)> {
    let path = segment_path(dir, base);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(&path, "create segment", e))?;
    let written = file.write_all(&format::segment_header()).and_then(|()| {
        if durable {
            file.sync_data()
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        return Err(Error::io(&path, "write segment header", e));
    }
    if durable {
        dir::sync_dir(dir)?;
    }
    Ok((file, path))
}

/// Scans the last segment and cuts its tail back to the last whole frame. Returns the file
/// positioned at its end, the segment, and the id of its last whole frame.
fn recover_last(
    base: u64,
    path: &Path,
    durable: bool,
    rec: &mut Recovery,
) -> Result<(File, Segment, Option<u64>)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, "open segment", e))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| Error::io(path, "read segment", e))?;
    let scan = format::scan_segment(&buf, base, false);
    match scan.header {
        Header::Unsupported(version) => {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
                supported: format::VERSION,
            })
        }
        Header::Damaged => rec.header_damaged = true,
        Header::Ok | Header::Short => {}
    }
    rec.frames_recovered = scan.frames.len() as u64;
    rec.corrupt_frames = scan.corrupt_frames;
    rec.bytes_skipped = scan.bytes_skipped;
    let mut len = buf.len() as u64;
    if let Some(tail) = scan.tail {
        if !tail.torn {
            rec.corrupt_frames += 1;
        }
        rec.bytes_truncated = len - tail.offset as u64;
        len = tail.offset as u64;
        file.set_len(len)
            .map_err(|e| Error::io_at(path, "truncate torn tail", len, e))?;
    }
    let short = scan.header == Header::Short;
    if short {
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&format::segment_header()))
            .map_err(|e| Error::io(path, "rewrite segment header", e))?;
        len = SEGMENT_HEADER_LEN as u64;
    }
    file.seek(SeekFrom::Start(len))
        .map_err(|e| Error::io_at(path, "seek", len, e))?;
    if durable && (rec.bytes_truncated > 0 || short) {
        file.sync_data()
            .map_err(|e| Error::io(path, "sync segment", e))?;
    }
    let segment = Segment {
        base,
        path: path.to_path_buf(),
        len,
    };
    Ok((file, segment, scan.last_id()))
}
