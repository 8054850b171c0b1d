//! `verify` (read-only inspection) and `repair` (rewrite damaged segments without their damage):
//! what `sluice buffer verify PATH` and `sluice buffer repair PATH` run.

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::dir::{self, SegmentFile, TMP_SUFFIX};
use crate::error::{Error, Result};
use crate::format::{self, Header, Scan};

/// What one segment holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentReport {
    pub path: PathBuf,
    /// The id of its first record, from its file name.
    pub base: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Whole frames whose checksum matches and whose payload decodes.
    pub frames: u64,
    pub first_id: Option<u64>,
    pub last_id: Option<u64>,
    /// Damaged regions (each resynchronization counts one), plus one for damage at the end that
    /// nothing good follows.
    pub corrupt_frames: u64,
    /// Bytes in those damaged regions.
    pub bytes_skipped: u64,
    /// Bytes of a frame cut short at the end (a torn write).
    pub torn_tail_bytes: u64,
    /// The header is damaged or cut short.
    pub header_damaged: bool,
    /// `repair` rewrote this segment.
    pub repaired: bool,
}

impl SegmentReport {
    /// Nothing damaged or torn.
    pub fn is_clean(&self) -> bool {
        self.corrupt_frames == 0 && self.torn_tail_bytes == 0 && !self.header_damaged
    }
}

/// What [`verify`] or [`repair`] found in a log directory (for `repair`: before repairing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub dir: PathBuf,
    /// Oldest first.
    pub segments: Vec<SegmentReport>,
    /// The persisted acknowledgement (0 if none, or if the ack file is damaged).
    pub acked: u64,
    /// The ack file is damaged (`repair` removes it: everything on disk is delivered again).
    pub ack_damaged: bool,
}

impl Report {
    /// No segment is damaged or torn and the ack file is intact.
    pub fn is_clean(&self) -> bool {
        !self.ack_damaged && self.segments.iter().all(SegmentReport::is_clean)
    }

    pub fn frames(&self) -> u64 {
        self.segments.iter().map(|s| s.frames).sum()
    }

    pub fn corrupt_frames(&self) -> u64 {
        self.segments.iter().map(|s| s.corrupt_frames).sum()
    }

    pub fn bytes_skipped(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes_skipped).sum()
    }

    pub fn torn_tail_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.torn_tail_bytes).sum()
    }
}

impl fmt::Display for Report {
    /// One line per segment, then a summary: the text `sluice buffer verify` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.segments {
            let name = s.path.file_name().unwrap_or_default().to_string_lossy();
            let ids = match (s.first_id, s.last_id) {
                (Some(a), Some(b)) => format!("ids {a}..={b}"),
                _ => "no records".to_string(),
            };
            write!(f, "{name}: {} bytes, {} frames, {ids}", s.bytes, s.frames)?;
            if s.corrupt_frames > 0 {
                let (n, b) = (s.corrupt_frames, s.bytes_skipped);
                write!(f, ", {n} corrupt ({b} bytes)")?;
            }
            if s.torn_tail_bytes > 0 {
                write!(f, ", torn tail ({} bytes)", s.torn_tail_bytes)?;
            }
            if s.header_damaged {
                write!(f, ", damaged header")?;
            }
            if s.repaired {
                write!(f, ", repaired")?;
            }
            writeln!(f)?;
        }
        let ack = if self.ack_damaged {
            "damaged (ignored)".to_string()
        } else {
            self.acked.to_string()
        };
        write!(
            f,
            "{}: {} segments, {} frames, {} corrupt, {} torn tail bytes, ack {ack}: {}",
            self.dir.display(),
            self.segments.len(),
            self.frames(),
            self.corrupt_frames(),
            self.torn_tail_bytes(),
            if self.is_clean() { "clean" } else { "DAMAGED" }
        )
    }
}

/// Reads every segment of the log in `dir` and reports what it holds, changing nothing. Safe to
/// run beside a live writer, though the active segment may then show a frame being written as a
/// torn tail.
pub fn verify(dir: impl AsRef<Path>) -> Result<Report> {
    let dir = dir.as_ref();
    let mut report = start_report(dir)?;
    for seg in dir::list_segments(dir)? {
        let (seg_report, _, _) = check_segment(&seg)?;
        report.segments.push(seg_report);
    }
    Ok(report)
}

/// Rewrites every damaged segment of the log in `dir` with only its good frames (into a temp
/// file that is fsynced and renamed over the segment; the directory is fsynced after), which
/// also drops torn tails and restores damaged headers; removes a damaged ack file. Takes the
/// log's lock, so it fails with [`Error::Locked`] while a writer has the log open. Returns what
/// was found, with `repaired` set on the segments it rewrote.
pub fn repair(dir: impl AsRef<Path>) -> Result<Report> {
    let dir = dir.as_ref();
    let mut report = start_report(dir)?;
    let _lock = dir::lock(dir)?;
    dir::remove_temp_files(dir)?;
    let mut changed = false;
    for seg in dir::list_segments(dir)? {
        let (mut seg_report, scan, bytes) = check_segment(&seg)?;
        if !seg_report.is_clean() {
            rewrite_segment(&seg.path, &scan, &bytes)?;
            seg_report.repaired = true;
            changed = true;
        }
        report.segments.push(seg_report);
    }
    if report.ack_damaged {
        let path = dir::ack_path(dir);
        fs::remove_file(&path).map_err(|e| Error::io(&path, "remove damaged ack file", e))?;
        changed = true;
    }
    if changed {
        dir::sync_dir(dir)?;
    }
    Ok(report)
}

fn start_report(dir: &Path) -> Result<Report> {
    if !dir.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such log directory");
        return Err(Error::io(dir, "open log", e));
    }
    let ack = dir::read_ack(dir)?;
    Ok(Report {
        dir: dir.to_path_buf(),
        segments: Vec::new(),
        acked: ack.acked,
        ack_damaged: ack.damaged,
    })
}

fn check_segment(seg: &SegmentFile) -> Result<(SegmentReport, Scan, Vec<u8>)> {
    let bytes = fs::read(&seg.path).map_err(|e| Error::io(&seg.path, "read segment", e))?;
    let scan = format::scan_segment(&bytes, seg.base, true);
    if let Header::Unsupported(version) = scan.header {
        return Err(Error::UnsupportedVersion {
            path: seg.path.clone(),
            version,
            supported: format::VERSION,
        });
    }
    let mut report = SegmentReport {
        path: seg.path.clone(),
        base: seg.base,
        bytes: bytes.len() as u64,
        frames: scan.frames.len() as u64,
        first_id: scan.frames.first().map(|f| f.id),
        last_id: scan.last_id(),
        corrupt_frames: scan.corrupt_frames,
        bytes_skipped: scan.bytes_skipped,
        header_damaged: matches!(scan.header, Header::Damaged | Header::Short),
        ..SegmentReport::default()
    };
    if let Some(tail) = scan.tail {
        let tail_bytes = bytes.len() as u64 - tail.offset as u64;
        if tail.torn {
            report.torn_tail_bytes = tail_bytes;
        } else {
            report.corrupt_frames += 1;
            report.bytes_skipped += tail_bytes;
        }
    }
    Ok((report, scan, bytes))
}

/// Replaces `path` with a header and the good frames of `scan`, copied byte for byte.
fn rewrite_segment(path: &Path, scan: &Scan, bytes: &[u8]) -> Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp_name);
    let mut out = format::segment_header().to_vec();
    for frame in &scan.frames {
        out.extend_from_slice(&bytes[frame.offset..frame.offset + frame.total]);
    }
    let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, "create repaired segment", e))?;
    file.write_all(&out)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, "write repaired segment", e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| Error::io(path, "replace segment", e))
}
