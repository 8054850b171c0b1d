//! The bytes on disk: segment headers, frames, and the scan that finds frames in damaged data.
//! Pure functions over byte slices; no I/O. The layout is described in the crate docs.

/// First bytes of every segment file.
pub(crate) const MAGIC: &[u8; 5] = b"SLWAL";
/// The segment format version this build writes and reads.
pub(crate) const VERSION: u16 = 1;
/// `MAGIC`, version u16 LE, one reserved zero byte, CRC32C of those 8 bytes (u32 LE).
pub(crate) const SEGMENT_HEADER_LEN: usize = 12;
/// Payload length u32, CRC32C u32, flags u8, record id u64.
pub(crate) const FRAME_HEADER_LEN: usize = 17;
/// Flag bit 0: the payload is lz4 block-compressed with the uncompressed size prepended.
pub(crate) const FLAG_LZ4: u8 = 1;
/// The largest record (uncompressed) a log accepts, and so the largest stored payload length a
/// frame header may claim. A format constant: it bounds what resynchronization accepts as a
/// plausible header, so every reader must agree on it.
pub const MAX_RECORD_BYTES: usize = 16 << 20;
/// How far past the smallest possible id a plausible header's id may be. Ids are consecutive, so
/// a real frame's id exceeds the expected one only by the frames lost before it; a random u64
/// lands in this window with probability 2^-32, which makes damaged bytes cheap to scan.
const ID_WINDOW: u64 = 1 << 32;
/// Records shorter than this are stored raw without trying lz4 (it cannot win on them).
const MIN_COMPRESS_LEN: usize = 64;

/// The segment header this build writes.
pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..5].copy_from_slice(MAGIC);
    h[5..7].copy_from_slice(&VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&h[..8]);
    h[8..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What a segment's first bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// Magic, version 1 and checksum all match.
    Ok,
    /// The checksum does not match: damaged. Frames are still looked for after it.
    Damaged,
    /// The file is shorter than a header (a crash while the segment was being created).
    Short,
    /// Intact, but a version this build does not read.
    Unsupported(u16),
}

pub(crate) fn parse_header(buf: &[u8]) -> Header {
    if buf.len() < SEGMENT_HEADER_LEN {
        return Header::Short;
    }
    let crc = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    if &buf[..5] != MAGIC || buf[7] != 0 || crc32c::crc32c(&buf[..8]) != crc {
        return Header::Damaged;
    }
    match u16::from_le_bytes([buf[5], buf[6]]) {
        VERSION => Header::Ok,
        v => Header::Unsupported(v),
    }
}

/// Appends one frame holding `record` with `id` to `out`, compressed when that is smaller.
/// The caller has checked `record.len() <= MAX_RECORD_BYTES`.
pub(crate) fn encode_frame(out: &mut Vec<u8>, id: u64, record: &[u8]) {
    let start = out.len();
    let body = start + FRAME_HEADER_LEN;
    let mut flags = 0u8;
    if record.len() >= MIN_COMPRESS_LEN {
        let room = 4 + lz4_flex::block::get_maximum_output_size(record.len());
        out.resize(body + room, 0);
        out[body..body + 4].copy_from_slice(&(record.len() as u32).to_le_bytes());
        match lz4_flex::block::compress_into(record, &mut out[body + 4..]) {
            Ok(n) if 4 + n < record.len() => {
                out.truncate(body + 4 + n);
                flags = FLAG_LZ4;
            }
            _ => out.truncate(body),
        }
    } else {
        out.resize(body, 0);
    }
    if flags == 0 {
        out.extend_from_slice(record);
    }
    let len = (out.len() - body) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 8] = flags;
    out[start + 9..body].copy_from_slice(&id.to_le_bytes());
    let crc = frame_crc(&out[start..body], &out[body..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// CRC32C over the frame header without its CRC field, then the stored payload.
pub(crate) fn frame_crc(head: &[u8], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&head[..4]);
    let crc = crc32c::crc32c_append(crc, &head[8..FRAME_HEADER_LEN]);
    crc32c::crc32c_append(crc, payload)
}

/// A frame header, parsed but not yet trusted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameHead {
    pub len: usize,
    pub crc: u32,
    pub flags: u8,
    pub id: u64,
}

impl FrameHead {
    pub fn parse(b: &[u8]) -> FrameHead {
        FrameHead {
            len: u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as usize,
            crc: u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")),
            flags: b[8],
            id: u64::from_le_bytes(b[9..17].try_into().expect("8 bytes")),
        }
    }

    /// Could this be a real header? Its length is within the limit, no unknown flag is set and
    /// its id is one the log could hold at this point (ids only grow, one at a time).
    pub fn plausible(&self, min_id: u64) -> bool {
        self.len <= MAX_RECORD_BYTES
            && self.flags & !FLAG_LZ4 == 0
            && self.id >= min_id
            && self.id - min_id < ID_WINDOW
    }

    pub fn total(&self) -> usize {
        FRAME_HEADER_LEN + self.len
    }
}

/// What is at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A whole frame whose checksum matches.
    Frame { id: u64, total: usize },
    /// A header cut short, or a plausible header whose payload runs past the end of the data.
    Incomplete,
    /// An implausible header, or a whole frame whose checksum does not match.
    Bad,
}

pub(crate) fn probe(buf: &[u8], pos: usize, min_id: u64) -> Probe {
    let Some(rest) = buf.get(pos..) else {
        return Probe::Incomplete;
    };
    if rest.len() < FRAME_HEADER_LEN {
        return Probe::Incomplete;
    }
    let head = FrameHead::parse(rest);
    if !head.plausible(min_id) {
        return Probe::Bad;
    }
    if rest.len() < head.total() {
        return Probe::Incomplete;
    }
    if frame_crc(rest, &rest[FRAME_HEADER_LEN..head.total()]) != head.crc {
        return Probe::Bad;
    }
    Probe::Frame {
        id: head.id,
        total: head.total(),
    }
}

/// Resynchronization. `buf` starts at a frame that failed (`Bad` or `Incomplete`); returns the
/// offset in `buf` of the first later position holding a whole frame with a matching checksum and
/// an id `>= min_id`. Every byte position is tried (the damaged header's length is not trusted
/// to jump over its payload: a damaged length could jump over a good frame); `plausible` rejects
/// almost every position before any checksum is computed.
pub(crate) fn resync(buf: &[u8], min_id: u64) -> Option<usize> {
    (1..buf.len().saturating_sub(FRAME_HEADER_LEN - 1))
        .find(|&p| matches!(probe(buf, p, min_id), Probe::Frame { .. }))
}

/// The record in a stored payload, or `None` if it does not decode (only possible for a
/// frame whose checksum matched by chance, or one written by a broken writer).
pub(crate) fn decode_payload(flags: u8, stored: &[u8]) -> Option<Vec<u8>> {
    if flags & FLAG_LZ4 == 0 {
        return Some(stored.to_vec());
    }
    let size = u32::from_le_bytes(stored.get(..4)?.try_into().ok()?) as usize;
    if size > MAX_RECORD_BYTES {
        return None;
    }
    let mut out = vec![0u8; size];
    match lz4_flex::block::decompress_into(&stored[4..], &mut out) {
        Ok(n) if n == size => Some(out),
        _ => None,
    }
}

/// One frame found by [`scan_segment`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameSpan {
    pub id: u64,
    pub offset: usize,
    pub total: usize,
}

/// Where a segment's readable frames end, when something other than a whole frame follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    pub offset: usize,
    /// `true`: cut short (a torn write). `false`: whole but bad, and no good frame after it.
    pub torn: bool,
}

/// Everything a full read of one segment found.
#[derive(Debug)]
pub(crate) struct Scan {
    pub header: Header,
    pub frames: Vec<FrameSpan>,
    /// Damaged regions in the middle, each skipped by one resynchronization.
    pub corrupt_frames: u64,
    pub bytes_skipped: u64,
    pub tail: Option<Tail>,
}

impl Scan {
    pub fn last_id(&self) -> Option<u64> {
        self.frames.last().map(|f| f.id)
    }
}

/// Reads a whole segment held in memory. `base` is the segment's first possible record id (from
/// its file name). With `check_payloads`, a frame whose payload does not decode counts as
/// damaged too (verify and repair); recovery skips that cost.
pub(crate) fn scan_segment(buf: &[u8], base: u64, check_payloads: bool) -> Scan {
    let header = parse_header(buf);
    let mut scan = Scan {
        header,
        frames: Vec::new(),
        corrupt_frames: 0,
        bytes_skipped: 0,
        tail: None,
    };
    if header == Header::Short {
        if !buf.is_empty() {
            scan.tail = Some(Tail {
                offset: 0,
                torn: true,
            });
        }
        return scan;
    }
    let mut pos = SEGMENT_HEADER_LEN;
    let mut min_id = base;
    while pos < buf.len() {
        let probed = match probe(buf, pos, min_id) {
            Probe::Frame { id, total } => {
                let head = FrameHead::parse(&buf[pos..]);
                let payload = &buf[pos + FRAME_HEADER_LEN..pos + total];
                if !check_payloads || decode_payload(head.flags, payload).is_some() {
                    scan.frames.push(FrameSpan {
                        id,
                        offset: pos,
                        total,
                    });
                    pos += total;
                    min_id = id.saturating_add(1);
                    continue;
                }
                Probe::Bad
            }
            other => other,
        };
        match resync(&buf[pos..], min_id) {
            Some(skip) => {
                scan.corrupt_frames += 1;
                scan.bytes_skipped += skip as u64;
                pos += skip;
            }
            None => {
                scan.tail = Some(Tail {
                    offset: pos,
                    torn: probed == Probe::Incomplete,
                });
                break;
            }
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(records: &[&[u8]]) -> Vec<u8> {
        let mut buf = segment_header().to_vec();
        for (i, r) in records.iter().enumerate() {
            encode_frame(&mut buf, i as u64 + 1, r);
        }
        buf
    }

    #[test]
    fn header_round_trip_and_damage() {
        let h = segment_header();
        assert_eq!(parse_header(&h), Header::Ok);
        assert_eq!(parse_header(&h[..11]), Header::Short);
        let mut bad = h;
        bad[6] ^= 1;
        assert_eq!(parse_header(&bad), Header::Damaged);
        let mut v2 = h;
        v2[5] = 2;
        let crc = crc32c::crc32c(&v2[..8]);
        v2[8..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(parse_header(&v2), Header::Unsupported(2));
    }

    #[test]
    fn compressible_records_are_compressed_and_decode() {
        let text = b"GET /index.html HTTP/1.1 200 ".repeat(100);
        let buf = frames(&[&text, b"", b"short"]);
        let scan = scan_segment(&buf, 1, true);
        assert_eq!(scan.frames.len(), 3);
        assert!(scan.tail.is_none());
        let first = scan.frames[0];
        assert!(first.total < text.len() / 4);
        let head = FrameHead::parse(&buf[first.offset..]);
        assert_eq!(head.flags, FLAG_LZ4);
        let payload = &buf[first.offset + FRAME_HEADER_LEN..first.offset + first.total];
        assert_eq!(decode_payload(head.flags, payload).unwrap(), text);
    }

    #[test]
    fn damaged_payload_is_skipped_by_resync() {
        let buf = frames(&[b"aaaaaaaaaa", b"bbbbbbbbbb", b"cccccccccc"]);
        let mut bad = buf.clone();
        bad[SEGMENT_HEADER_LEN + FRAME_HEADER_LEN + 2] ^= 0x40;
        let scan = scan_segment(&bad, 1, true);
        assert_eq!(
            scan.frames.iter().map(|f| f.id).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(scan.corrupt_frames, 1);
        assert_eq!(scan.bytes_skipped, (FRAME_HEADER_LEN + 10) as u64);
    }

    #[test]
    fn damaged_length_is_skipped_byte_by_byte() {
        let buf = frames(&[b"aaaaaaaaaa", b"bbbbbbbbbb", b"cccccccccc"]);
        let mut bad = buf.clone();
        bad[SEGMENT_HEADER_LEN] = 200; // claims 200 bytes: runs past the end
        let scan = scan_segment(&bad, 1, true);
        assert_eq!(scan.frames.len(), 2);
        assert_eq!(scan.corrupt_frames, 1);
        assert!(scan.tail.is_none());
    }

    #[test]
    fn torn_and_bad_tails() {
        let buf = frames(&[b"aaaaaaaaaa", b"bbbbbbbbbb"]);
        let scan = scan_segment(&buf[..buf.len() - 1], 1, false);
        assert_eq!(scan.frames.len(), 1);
        assert!(scan.tail.unwrap().torn);
        let mut bad = buf.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let scan = scan_segment(&bad, 1, false);
        assert_eq!(scan.frames.len(), 1);
        assert!(!scan.tail.unwrap().torn);
    }

    #[test]
    fn zeros_and_ids_below_base_are_not_frames() {
        assert_eq!(probe(&[0u8; 64], 0, 1), Probe::Bad);
        assert_eq!(resync(&[0u8; 4096], 1), None);
        let buf = frames(&[b"x"]);
        assert_eq!(scan_segment(&buf, 2, false).frames.len(), 0);
    }
}
