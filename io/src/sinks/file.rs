//! `file`: appends events to a file as NDJSON (or text).
//!
//! Durable before acknowledged: each write (the batches that were waiting,
//! up to [`GROUP`]) is fdatasync'ed before their acknowledgements are
//! released (and not at all when no batch carries any). A failed write is retried with backoff, from the same offset
//! (a partial write is cut off first), until it succeeds or the pipeline
//! shuts down; a line torn by a crash is cut off when the file is opened
//! again, since it was never acknowledged and its source sends it again.

use super::console::{encode_batch, Encoding};
use super::{SinkContext, SinkError};
use serde::Deserialize;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file to append to; its directory is created if missing.
    pub path: PathBuf,
    #[serde(default)]
    pub encoding: Encoding,
}

/// The most batches one write (and one fsync) covers.
pub const GROUP: usize = 32;

/// The open file and its length: where the next write goes.
struct Output {
    file: File,
    len: u64,
}

pub async fn run(config: FileSinkConfig, mut ctx: SinkContext) -> Result<(), SinkError> {
    let path = Arc::new(config.path.clone());
    let mut output: Option<Output> = None;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let batches = ctx.recv_many(GROUP).await;
        if batches.is_empty() {
            break;
        }
        buf.clear();
        for batch in &batches {
            if let Err(error) = encode_batch(config.encoding, batch, &mut buf) {
                batches.iter().for_each(|b| b.acks.fail());
                ctx.fail_rest().await;
                return Err(SinkError::Batch {
                    sink: ctx.name.clone(),
                    error,
                });
            }
        }
        let data = Arc::new(std::mem::take(&mut buf));
        // Only what a source waits for needs the fsync.
        let sync = batches.iter().any(|b| !b.acks.is_empty());
        let mut held = output.take();
        let written = ctx
            .retry(|| {
                let (path, data, held) = (path.clone(), data.clone(), held.take());
                async move {
                    tokio::task::spawn_blocking(move || write(&path, held, &data, sync))
                        .await
                        .unwrap_or_else(|e| Err(io::Error::other(e)))
                }
            })
            .await;
        buf = Arc::try_unwrap(data).unwrap_or_default();
        let error = match written {
            Ok(out) => {
                output = Some(out);
                None
            }
            Err(error) => Some(error),
        };
        if let Some(error) = error {
            batches.iter().for_each(|b| b.acks.fail());
            let failed = ctx.fail_rest().await;
            tracing::error!(sink = %ctx.name, events = failed + batches.iter().map(|b| b.len() as u64).sum::<u64>(), "shut down while the file could not be written; those events are not acknowledged and will be read again");
            return Err(SinkError::Io {
                sink: ctx.name.clone(),
                path: config.path.clone(),
                error,
            });
        }
        let n: usize = batches.iter().map(|b| b.len()).sum();
        crate::StageCounters::add(&ctx.counters.events_out, n);
        // Dropping the batches acknowledges them: they are on disk.
        drop(batches);
    }
    Ok(())
}

/// Appends `data` at the end of what was written and (when `sync`) syncs
/// it; opens the file first when `held` is `None` (the first write, or
/// after a failure).
fn write(path: &Path, held: Option<Output>, data: &[u8], sync: bool) -> io::Result<Output> {
    let mut out = match held {
        Some(out) => out,
        None => open(path)?,
    };
    let result = out.file.write_all(data).and_then(|()| match sync {
        true => out.file.sync_data(),
        false => Ok(()),
    });
    match result {
        Ok(()) => {
            out.len += data.len() as u64;
            Ok(out)
        }
        Err(error) => {
            // Cut off whatever part made it, so the retry is not doubled.
            let _ = out.file.set_len(out.len);
            Err(error)
        }
    }
}

/// Opens (creating) the file for appending, cutting off a torn last line.
fn open(path: &Path) -> io::Result<Output> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    let len = complete_lines_len(&mut file)?;
    if len != file.metadata()?.len() {
        tracing::warn!(path = %path.display(), at = len, "cutting off a torn last line (a crash mid-write); its events are sent again");
        file.set_len(len)?;
        file.sync_data()?;
    }
    file.seek(SeekFrom::Start(len))?;
    Ok(Output { file, len })
}

/// The length of the file up to and including its last newline.
fn complete_lines_len(file: &mut File) -> io::Result<u64> {
    let mut end = file.metadata()?.len();
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let piece = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(piece)?;
        if let Some(at) = piece.iter().rposition(|&b| b == b'\n') {
            return Ok(start + at as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::test_context;
    use crate::{AckTracker, Batch};
    use sluice_event::packed::PackedBatch;
    use sluice_event::Event;

    fn messages(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["message"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn config(path: &Path) -> FileSinkConfig {
        FileSinkConfig {
            path: path.to_owned(),
            encoding: Encoding::Json,
        }
    }

    #[tokio::test]
    async fn writes_ndjson_in_order_and_acknowledges_after_writing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.ndjson");
        let (tx, ctx) = test_context(2);
        let task = tokio::spawn(run(config(&path), ctx));
        let mut tracker = AckTracker::new();
        let pack = |events: &[Event], tracker: &mut AckTracker| {
            Batch::new(PackedBatch::from_events(events).unwrap(), tracker.issue().1)
        };
        tx.send(pack(&[Event::new("a"), Event::new("b")], &mut tracker))
            .await
            .unwrap();
        assert_eq!(tracker.wait().await, 1);
        assert_eq!(messages(&path), ["a", "b"], "on disk before acknowledged");
        tx.send(pack(&[Event::new("c")], &mut tracker))
            .await
            .unwrap();
        drop(tx);
        task.await.unwrap().unwrap();
        assert_eq!(tracker.poll(), 2);
        assert_eq!(messages(&path), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_off_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, "{\"message\":\"whole\"}\n{\"message\":\"to").unwrap();
        let (tx, ctx) = test_context(1);
        let task = tokio::spawn(run(config(&path), ctx));
        tx.send(
            PackedBatch::from_events(&[Event::new("next")])
                .unwrap()
                .into(),
        )
        .await
        .unwrap();
        drop(tx);
        task.await.unwrap().unwrap();
        assert_eq!(messages(&path), ["whole", "next"]);
    }

    #[tokio::test]
    async fn a_sink_that_cannot_write_retries_until_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        // A directory where the file should be: every open fails.
        std::fs::create_dir(&path).unwrap();
        let (tx, ctx) = test_context(1);
        let task = tokio::spawn(run(config(&path), ctx));
        let mut tracker = AckTracker::new();
        let (_, acks) = tracker.issue();
        let events = PackedBatch::from_events(&[Event::new("late")]).unwrap();
        tx.send(Batch::new(events, acks)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(350)).await;
        assert_eq!(tracker.poll(), 0, "not written, not acknowledged");
        std::fs::remove_dir(&path).unwrap();
        assert_eq!(tracker.wait().await, 1);
        assert_eq!(messages(&path), ["late"]);
        drop(tx);
        task.await.unwrap().unwrap();
    }
}
