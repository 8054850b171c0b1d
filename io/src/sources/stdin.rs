//! `stdin`: one event per line of standard input; the source ends at EOF.

use super::{SourceContext, SourceError, MAX_BATCH};
use crate::Events;
use serde::Deserialize;
use sluice_event::{message_from_bytes, names, Event};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {}

/// Reads the process's standard input until EOF or shutdown.
pub async fn run(config: StdinConfig, ctx: SourceContext) -> Result<(), SourceError> {
    run_reader(config, tokio::io::stdin(), ctx).await
}

/// Reads lines from any reader; a batch is sent when it is full or when the
/// reader has nothing more ready, so an interactive line is not held back.
pub async fn run_reader<R: AsyncRead + Unpin>(
    _config: StdinConfig,
    reader: R,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let mut line = Vec::with_capacity(1024);
    let mut batch: Events = Vec::with_capacity(MAX_BATCH);
    let io_error = |error| SourceError::Io {
        source_name: ctx.name.clone(),
        path: "<stdin>".into(),
        error,
    };
    loop {
        line.clear();
        let read = if batch.is_empty() {
            tokio::select! {
                read = reader.read_until(b'\n', &mut line) => read.map_err(io_error)?,
                _ = ctx.shutdown_signal() => break,
            }
        } else {
            // Something is waiting: send it unless the next line is already there.
            match tokio::time::timeout(
                Duration::from_millis(5),
                reader.read_until(b'\n', &mut line),
            )
            .await
            {
                Ok(read) => read.map_err(io_error)?,
                Err(_) => {
                    if !ctx.send(std::mem::take(&mut batch)).await {
                        return Ok(());
                    }
                    reader
                        .read_until(b'\n', &mut line)
                        .await
                        .map_err(io_error)?
                }
            }
        };
        // At EOF, `line` may still hold the start of an unterminated last
        // line read before a timeout: it is an event too.
        if read == 0 && line.is_empty() {
            break;
        }
        if let Some(event) = line_event(&line) {
            batch.push(event);
        }
        if batch.len() >= MAX_BATCH
            && !ctx
                .send(std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH)))
                .await
        {
            return Ok(());
        }
    }
    ctx.send(batch).await;
    Ok(())
}

fn line_event(raw: &[u8]) -> Option<Event> {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.is_empty() {
        return None;
    }
    let (message, _) = message_from_bytes(raw);
    let mut event = Event::new(message);
    event.fields.insert(names::SOURCE, "stdin");
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::watch;

    /// Regression: an unterminated last line that arrives, then EOF after a
    /// pause longer than the batching timeout, was dropped.
    #[tokio::test]
    async fn an_unterminated_last_line_before_a_slow_eof_is_kept() {
        use tokio::io::AsyncWriteExt;
        let (mut writer, reader) = tokio::io::duplex(64);
        let (tx, mut rx) = crate::sources::test_support::channel(4);
        let (_stop, shutdown) = watch::channel(false);
        let ctx = SourceContext {
            name: "in".into(),
            out: tx,
            shutdown,
            data_dir: ".".into(),
            counters: Default::default(),
            acknowledgements: true,
        };
        let task = tokio::spawn(run_reader(StdinConfig {}, reader, ctx));
        writer.write_all(b"first\nlast").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(writer);
        let mut got = Vec::new();
        while let Some(batch) = rx.recv().await {
            got.extend(batch.into_iter().map(|e| e.message));
        }
        task.await.unwrap().unwrap();
        assert_eq!(got, ["first", "last"]);
    }

    #[tokio::test]
    async fn reads_every_line_in_order_until_eof() {
        let input: String = (0..3000)
            .map(|i| format!("line {i}\r\n"))
            .collect::<String>()
            + "\nlast";
        let (tx, mut rx) = crate::sources::test_support::channel(4);
        let (_stop, shutdown) = watch::channel(false);
        let ctx = SourceContext {
            name: "in".into(),
            out: tx,
            shutdown,
            data_dir: ".".into(),
            counters: Default::default(),
            acknowledgements: true,
        };
        let task = tokio::spawn(run_reader(
            StdinConfig {},
            std::io::Cursor::new(input.into_bytes()),
            ctx,
        ));
        let mut got = Vec::new();
        while let Some(batch) = rx.recv().await {
            assert!(batch.len() <= MAX_BATCH);
            got.extend(batch.into_iter().map(|e| e.message));
        }
        task.await.unwrap().unwrap();
        assert_eq!(got.len(), 3001);
        assert_eq!(got[0], "line 0");
        assert_eq!(got[2999], "line 2999");
        assert_eq!(got[3000], "last");
    }
}
