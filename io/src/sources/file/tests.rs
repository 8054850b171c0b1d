//! Tests of the `file` source: reading, checkpoints, rotation, truncation.
use super::checkpoint::fnv1a;
use super::*;
use std::io::Write;
use tokio::sync::watch;
use tokio::task::JoinHandle;

struct Tail {
    rx: crate::sources::test_support::EventReceiver,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), SourceError>>,
}

fn config(dir: &Path, pattern: &str, read_from: ReadFrom) -> FileConfig {
    FileConfig {
        include: vec![dir.join(pattern).to_string_lossy().into_owned()],
        exclude: vec![],
        read_from,
        poll_interval_ms: 10,
        glob_interval_ms: 20,
    }
}

fn start(config: FileConfig, data_dir: &Path) -> Tail {
    start_with(config, data_dir, true)
}

fn start_with(config: FileConfig, data_dir: &Path, acknowledgements: bool) -> Tail {
    let (tx, rx) = crate::sources::test_support::channel(8);
    let (stop, shutdown) = watch::channel(false);
    let ctx = SourceContext {
        name: "tail".into(),
        out: tx,
        shutdown,
        data_dir: data_dir.to_owned(),
        counters: Default::default(),
        acknowledgements,
    };
    let task = tokio::spawn(run(config, ctx));
    Tail { rx, stop, task }
}

impl Tail {
    /// Receives exactly `n` messages, then checks nothing more comes.
    async fn expect(&mut self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            let wait = tokio::time::timeout(Duration::from_secs(5), self.rx.recv());
            let batch = wait.await.expect("timed out").expect("source ended");
            got.extend(batch.into_iter().map(|e| e.message));
        }
        self.quiet().await;
        assert_eq!(got.len(), n, "{got:?}");
        got
    }

    async fn quiet(&mut self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(batch) = self.rx.try_recv() {
            panic!("unexpected events: {batch:?}");
        }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn append(path: impl AsRef<Path>, text: impl AsRef<[u8]>) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_ref()).unwrap();
}

#[tokio::test]
async fn reads_existing_lines_then_appended_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "one\ntwo\n");
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    assert_eq!(tail.expect(2).await, ["one", "two"]);
    append(&log, "three\n");
    append(&log, "four\n");
    assert_eq!(tail.expect(2).await, ["three", "four"]);
    tail.stop().await;
}

#[tokio::test]
async fn read_from_end_skips_existing_lines_but_not_later_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "old\n");
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::End), dir.path());
    // The first checkpoint is written once the file has been found.
    while !checkpoint_path(dir.path(), "tail").exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tail.quiet().await;
    append(&log, "new\n");
    assert_eq!(tail.expect(1).await, ["new"]);
    append(dir.path().join("later.log"), "first\nsecond\n");
    assert_eq!(tail.expect(2).await, ["first", "second"]);
    tail.stop().await;
}

#[tokio::test]
async fn restart_resumes_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "a\nb\npart");
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    assert_eq!(tail.expect(2).await, ["a", "b"]);
    tail.stop().await;
    // The unterminated line is not checkpointed as read.
    let saved = std::fs::read(checkpoint_path(dir.path(), "tail")).unwrap();
    let saved: Checkpoints = serde_json::from_slice(&saved).unwrap();
    assert_eq!(saved.files[0].offset, 4);

    append(&log, "ial\nc\n");
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    assert_eq!(tail.expect(2).await, ["partial", "c"]);
    tail.stop().await;
    // read_from = end does not apply to a file with a checkpoint.
    append(&log, "d\n");
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::End), dir.path());
    assert_eq!(tail.expect(1).await, ["d"]);
    tail.stop().await;
}

#[tokio::test]
async fn stopping_mid_file_and_restarting_yields_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let lines: Vec<String> = (0..50_000).map(|i| format!("line {i}")).collect();
    append(&log, lines.join("\n") + "\n");
    let mut got = Vec::new();
    while got.len() < lines.len() {
        let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
        let first = tail.rx.recv().await.unwrap();
        assert!(first.len() <= MAX_BATCH);
        got.extend(first.into_iter().map(|e| e.message));
        // Whatever was sent before the stop counts, in the channel or not.
        tail.stop.send(true).unwrap();
        while let Some(batch) = tail.rx.recv().await {
            got.extend(batch.into_iter().map(|e| e.message));
        }
        tail.task.await.unwrap().unwrap();
    }
    assert!(got == lines, "lines lost, repeated or out of order");
}

#[tokio::test]
async fn a_checkpoint_for_another_file_on_the_same_inode_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "fresh content\n");
    let meta = std::fs::metadata(&log).unwrap();
    let stale = Checkpoints {
        version: 1,
        files: vec![Checkpoint {
            path: log.to_string_lossy().into_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
            fingerprint_len: 14,
            fingerprint: fnv1a(b"other content\n"),
            offset: 14,
        }],
    };
    let path = checkpoint_path(dir.path(), "tail");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_vec(&stale).unwrap()).unwrap();
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    // Resuming at 14 would read nothing: the file is taken as new.
    assert_eq!(tail.expect(1).await, ["fresh content"]);
    tail.stop().await;
}

async fn rotation(pattern: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "a1\na2\n");
    let mut tail = start(config(dir.path(), pattern, ReadFrom::Beginning), dir.path());
    assert_eq!(tail.expect(2).await, ["a1", "a2"]);
    append(&log, "a3\n");
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    // The writer still holds the old file for a moment.
    append(dir.path().join("app.log.1"), "a4\n");
    append(&log, "b1\nb2\n");
    assert_eq!(tail.expect(4).await, ["a3", "a4", "b1", "b2"]);
    append(&log, "b3\n");
    assert_eq!(tail.expect(1).await, ["b3"]);
    tail.stop().await;
}

#[tokio::test]
async fn rotation_to_a_name_outside_the_glob_loses_and_repeats_nothing() {
    rotation("*.log").await;
}

#[tokio::test]
async fn rotation_to_a_name_the_glob_matches_is_not_read_twice() {
    rotation("app.log*").await;
}

#[tokio::test]
async fn truncation_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "a long first line\nanother line\n");
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    assert_eq!(tail.expect(2).await, ["a long first line", "another line"]);
    std::fs::write(&log, "short\n").unwrap();
    assert_eq!(tail.expect(1).await, ["short"]);
    // Truncated and refilled past the old offset between two polls.
    let mut file = std::fs::File::create(&log).unwrap();
    file.write_all(b"replaced with a much longer line\nand more\n")
        .unwrap();
    assert_eq!(tail.expect(2).await[0], "replaced with a much longer line");
    tail.stop().await;
}

#[tokio::test]
async fn a_partial_line_waits_for_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "done\nhal");
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    assert_eq!(tail.expect(1).await, ["done"]);
    append(&log, "f");
    tail.quiet().await;
    append(&log, "\n");
    assert_eq!(tail.expect(1).await, ["half"]);
    tail.stop().await;
}

#[tokio::test]
async fn crlf_empty_lines_bad_utf8_and_long_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut text = b"dos\r\n\r\n\nbad \xff byte\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
    text.extend(b"\r\nafter\n");
    append(&log, &text);
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    let got = tail.expect(4).await;
    assert_eq!(got[..2], ["dos", "bad \u{FFFD} byte"]);
    assert!(got[2].starts_with("xxx") && got[2].ends_with(sluice_event::TRUNCATION_MARKER));
    assert_eq!(got[3], "after");
    tail.stop().await;
}

#[tokio::test]
async fn events_name_their_file_and_excluded_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    append(dir.path().join("app.log"), "kept\n");
    append(dir.path().join("debug.log"), "skipped\n");
    let mut config = config(dir.path(), "*.log", ReadFrom::Beginning);
    config.exclude = vec![dir.path().join("debug*").to_string_lossy().into_owned()];
    let mut tail = start(config, dir.path());
    let batch = tail.rx.recv().await.unwrap();
    assert_eq!(batch.len(), 1);
    let source = dir.path().join("app.log").to_string_lossy().into_owned();
    assert_eq!(batch[0].fields.get(names::SOURCE), Some(&source.into()));
    tail.quiet().await;
    tail.stop().await;
}

#[tokio::test]
async fn the_checkpoint_waits_for_the_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "a\nb\n");
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    let held = tail.rx.recv_batch().await.unwrap();
    assert_eq!(held.len(), 2);
    let offset = || {
        let saved = std::fs::read(checkpoint_path(dir.path(), "tail")).unwrap();
        let saved: Checkpoints = serde_json::from_slice(&saved).unwrap();
        saved.files[0].offset
    };
    // Written when the file was found, at 0; it stays there while a sink holds the lines.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(offset(), 0);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while offset() != 4 {
        assert!(Instant::now() < deadline, "checkpoint never moved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A failed batch keeps the checkpoint before it, even at shutdown.
    append(&log, "c\n");
    let failed = tail.rx.recv_batch().await.unwrap();
    failed.acks.fail();
    drop(failed);
    tail.stop().await;
    assert_eq!(offset(), 4);
    let mut tail = start(config(dir.path(), "*.log", ReadFrom::Beginning), dir.path());
    assert_eq!(tail.expect(1).await, ["c"], "read again after the restart");
    tail.stop().await;
}

#[tokio::test]
async fn without_acknowledgements_the_checkpoint_follows_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    append(dir.path().join("app.log"), "a\nb\n");
    let config = config(dir.path(), "*.log", ReadFrom::Beginning);
    let mut tail = start_with(config, dir.path(), false);
    let held = tail.rx.recv_batch().await.unwrap();
    assert!(held.acks.is_empty(), "no acknowledgement travels");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let saved = std::fs::read(checkpoint_path(dir.path(), "tail")).unwrap_or_default();
        let saved: Option<Checkpoints> = serde_json::from_slice(&saved).ok();
        if saved.is_some_and(|s| s.files.first().is_some_and(|f| f.offset == 4)) {
            break;
        }
        assert!(Instant::now() < deadline, "checkpoint never moved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(held);
    tail.stop().await;
}
