//! Reading a log from a record id on, across segments, following a live writer.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::dir;
use crate::error::{Error, Result};
use crate::format::{self, FrameHead, Header, FLAG_LZ4, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};

const READ_BUFFER_BYTES: usize = 256 << 10;

/// What a [`Reader`] has met so far. Damage is counted here, never returned as an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records returned.
    pub records: u64,
    /// Damaged regions skipped by resynchronization (each counts one, however many frames it
    /// held), plus whole frames whose checksum matched but whose payload did not decode.
    pub corrupt_frames: u64,
    /// Bytes in those regions, and in skipped tails.
    pub bytes_skipped: u64,
    /// Finished segments whose end held a torn or damaged frame that nothing good followed.
    pub torn_tails: u64,
    /// Segments whose header was damaged (their frames were still read).
    pub damaged_headers: u64,
}

#[derive(Debug)]
struct OpenSegment {
    base: u64,
    path: PathBuf,
    file: BufReader<File>,
    pos: u64,
    /// The file's length when last looked at; refreshed when a read needs more.
    len: u64,
    header_read: bool,
}

impl OpenSegment {
    /// Does the file hold `n` bytes from `at`?
    fn holds(&mut self, at: u64, n: u64) -> Result<bool> {
        if at + n > self.len {
            self.refresh()?;
        }
        Ok(at + n <= self.len)
    }

    /// Looks at the file's length again.
    fn refresh(&mut self) -> Result<u64> {
        self.len = self
            .file
            .get_ref()
            .metadata()
            .map_err(|e| Error::io(&self.path, "stat segment", e))?
            .len();
        Ok(self.len)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.file
            .read_exact(buf)
            .map_err(|e| Error::io_at(&self.path, "read", self.pos, e))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Moves to `pos`, dropping anything buffered (it may be a partial write since completed).
    fn seek_to(&mut self, pos: u64) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(pos))
            .map_err(|e| Error::io_at(&self.path, "seek", pos, e))?;
        self.pos = pos;
        Ok(())
    }
}

/// Reads records in id order from a given id on, across segments, and follows a live writer:
/// at the current end it returns `None`, and polling again returns what was appended since.
///
/// Damaged frames are skipped by resynchronization and counted in [`ReadStats`]; a torn or
/// damaged tail is skipped once the writer has moved on to a later segment (until then the reader
/// waits at it, since it may be a frame still being written). Errors are I/O errors only, and a
/// segment of a newer format version.
///
/// The reader only reads: acknowledge through [`crate::Writer::ack`]. A segment deleted while the
/// reader has it open stays readable (its records were all acknowledged anyway).
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    from: u64,
    seg: Option<OpenSegment>,
    /// Base of the segment opened last (current or finished).
    last_base: Option<u64>,
    /// The next frame's id must be at least this.
    min_id: u64,
    stats: ReadStats,
}

impl Reader {
    /// A reader of the log in `dir` returning records with id `>= from`.
    pub fn open(dir: impl AsRef<Path>, from: u64) -> Result<Reader> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            let e = io::Error::new(io::ErrorKind::NotFound, "no such log directory");
            return Err(Error::io(dir, "open log", e));
        }
        Ok(Reader {
            dir,
            from: from.max(1),
            seg: None,
            last_base: None,
            min_id: 1,
            stats: ReadStats::default(),
        })
    }

    /// A reader from the record after the persisted acknowledgement: where a restarted consumer
    /// resumes. A damaged ack file counts as no acknowledgement (everything is read again).
    pub fn open_after_ack(dir: impl AsRef<Path>) -> Result<Reader> {
        let acked = dir::read_ack(dir.as_ref())?.acked;
        Reader::open(dir, acked.saturating_add(1))
    }

    /// What was met so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The next record as `(id, bytes)`, or `None` at the current end of the log (poll again
    /// later to follow a writer).
    pub fn next_record(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        loop {
            if self.seg.is_none() && !self.open_next()? {
                return Ok(None);
            }
            if let Some(record) = self.read_in_segment()? {
                return Ok(Some(record));
            }
            // At the end of what the segment holds now. It is finished only once a later segment
            // exists (the writer never goes back); one more look then catches frames written
            // just before the roll, and whatever is left is a torn or damaged tail.
            let base = self.seg.as_ref().map_or(0, |s| s.base);
            if !dir::list_segments(&self.dir)?.iter().any(|s| s.base > base) {
                return Ok(None);
            }
            if let Some(record) = self.read_in_segment()? {
                return Ok(Some(record));
            }
            if let Some(mut seg) = self.seg.take() {
                let len = seg.refresh()?;
                if len > seg.pos {
                    self.stats.torn_tails += 1;
                    self.stats.bytes_skipped += len - seg.pos;
                }
            }
        }
    }

    /// Opens the next segment to read; `false` if there is none yet.
    fn open_next(&mut self) -> Result<bool> {
        loop {
            let segments = dir::list_segments(&self.dir)?;
            let pick = match self.last_base {
                None => segments
                    .iter()
                    .rev()
                    .find(|s| s.base <= self.from)
                    .or(segments.first()),
                Some(last) => segments.iter().find(|s| s.base > last),
            };
            let Some(pick) = pick else {
                return Ok(false);
            };
            self.last_base = Some(pick.base);
            let file = match File::open(&pick.path) {
                Ok(f) => f,
                // Deleted since the listing: it was fully acknowledged. Look again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(&pick.path, "open segment", e)),
            };
            self.min_id = self.min_id.max(pick.base);
            self.seg = Some(OpenSegment {
                base: pick.base,
                path: pick.path.clone(),
                file: BufReader::with_capacity(READ_BUFFER_BYTES, file),
                pos: 0,
                len: 0,
                header_read: false,
            });
            return Ok(true);
        }
    }

    /// The next record in the current segment at or after `from`, or `None` at its current end.
    fn read_in_segment(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        let Some(seg) = self.seg.as_mut() else {
            return Ok(None);
        };
        if !seg.header_read {
            if !seg.holds(0, SEGMENT_HEADER_LEN as u64)? {
                return Ok(None); // being created
            }
            let mut header = [0u8; SEGMENT_HEADER_LEN];
            seg.read_exact(&mut header)?;
            match format::parse_header(&header) {
                Header::Unsupported(version) => {
                    return Err(Error::UnsupportedVersion {
                        path: seg.path.clone(),
                        version,
                        supported: format::VERSION,
                    })
                }
                Header::Damaged => self.stats.damaged_headers += 1,
                Header::Ok | Header::Short => {}
            }
            seg.header_read = true;
        }
        loop {
            let start = seg.pos;
            if !seg.holds(start, 1)? {
                return Ok(None);
            }
            if seg.holds(start, FRAME_HEADER_LEN as u64)? {
                let mut head_bytes = [0u8; FRAME_HEADER_LEN];
                seg.read_exact(&mut head_bytes)?;
                let head = FrameHead::parse(&head_bytes);
                if head.plausible(self.min_id) && seg.holds(start, head.total() as u64)? {
                    let mut payload = vec![0u8; head.len];
                    seg.read_exact(&mut payload)?;
                    if format::frame_crc(&head_bytes, &payload) == head.crc {
                        self.min_id = head.id.saturating_add(1);
                        if head.id < self.from {
                            continue;
                        }
                        let record = if head.flags & FLAG_LZ4 == 0 {
                            Some(payload)
                        } else {
                            format::decode_payload(head.flags, &payload)
                        };
                        if let Some(record) = record {
                            self.stats.records += 1;
                            return Ok(Some((head.id, record)));
                        }
                        self.stats.corrupt_frames += 1;
                        self.stats.bytes_skipped += head.total() as u64;
                        continue;
                    }
                }
            }
            // Damaged, or cut short at the current end: look for the next good frame in what
            // the file holds now. None found: wait here (a frame may be mid-write).
            let end = seg.refresh()?.max(start);
            seg.seek_to(start)?;
            let mut rest = vec![0u8; (end - start) as usize];
            seg.read_exact(&mut rest)?;
            match format::resync(&rest, self.min_id) {
                Some(skip) => {
                    self.stats.corrupt_frames += 1;
                    self.stats.bytes_skipped += skip as u64;
                    seg.seek_to(start + skip as u64)?;
                }
                None => {
                    seg.seek_to(start)?;
                    return Ok(None);
                }
            }
        }
    }
}

impl Iterator for Reader {
    type Item = Result<(u64, Vec<u8>)>;

    /// Not fused: `None` means "nothing more yet", and a later call may return more.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}
