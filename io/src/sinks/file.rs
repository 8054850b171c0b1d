//! `file`: appends events to a file as NDJSON (or text).

use super::console::{encode_batch, Encoding};
use super::{SinkContext, SinkError};
use serde::Deserialize;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file to append to; its directory is created if missing.
    pub path: PathBuf,
    #[serde(default)]
    pub encoding: Encoding,
}

pub async fn run(config: FileSinkConfig, mut ctx: SinkContext) -> Result<(), SinkError> {
    let name = ctx.name.clone();
    let io_error = |error| SinkError::Io {
        sink: name.clone(),
        path: config.path.clone(),
        error,
    };
    if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&config.path)
        .await
        .map_err(io_error)?;
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Some(batch) = ctx.recv().await {
        buf.clear();
        encode_batch(config.encoding, &batch, &mut buf).map_err(|error| SinkError::Batch {
            sink: name.clone(),
            error,
        })?;
        file.write_all(&buf).await.map_err(io_error)?;
        crate::StageCounters::add(&ctx.counters.events_out, batch.len());
    }
    file.flush().await.map_err(io_error)?;
    file.sync_data().await.map_err(io_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_event::Event;
    use tokio::sync::mpsc;

    #[tokio::test]
    async fn writes_ndjson_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.ndjson");
        let (tx, rx) = mpsc::channel(2);
        let task = tokio::spawn(run(
            FileSinkConfig {
                path: path.clone(),
                encoding: Encoding::Json,
            },
            SinkContext {
                name: "out".into(),
                input: rx,
                counters: Default::default(),
            },
        ));
        let pack = |events: &[Event]| crate::Batch::from_events(events).unwrap();
        tx.send(pack(&[Event::new("a"), Event::new("b")]))
            .await
            .unwrap();
        tx.send(pack(&[Event::new("c")])).await.unwrap();
        drop(tx);
        task.await.unwrap().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let messages: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["message"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(messages, ["a", "b", "c"]);
    }
}
