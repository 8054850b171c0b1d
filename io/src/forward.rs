//! The `sluice` forward protocol: how an edge agent's `sluice` sink hands
//! batches to a central `sluice` source, without Kafka in between.
//!
//! One request carries one or more batches in the columnar form they
//! already have in the pipeline, so neither side converts events:
//!
//! ```text
//! POST /sluice/v1/batch HTTP/1.1
//! Content-Type: application/vnd.sluice.batch.v1
//! Content-Encoding: lz4            (optional; absent = identity)
//! Authorization: Bearer TOKEN      (when the source asks for one)
//!
//! body = frame*                    frame = len: u32 LE, PackedBatch::to_bytes
//! lz4  = decompressed len: u32 LE, one LZ4 block of the body
//! ```
//!
//! The source answers `200 {"accepted": N}` only once every sink behind it
//! holds the events durably; then the sender may forget them. `503` (and
//! any 5xx, 408, 429, or a broken connection) means "send again"; any
//! other 4xx means the request can never succeed (a malformed body, a
//! wrong token), and the sender puts the batch in its dead-letter file.
//! `413` is the one 4xx a sender can fix, by sending fewer batches at once.
//!
//! Delivery is at least once: a batch whose answer was lost is sent again.

use sluice_event::packed::PackedBatch;

/// The path the `sluice` source serves.
pub const PATH: &str = "/sluice/v1/batch";
/// The media type of a request body.
pub const CONTENT_TYPE: &str = "application/vnd.sluice.batch.v1";
/// The `Content-Encoding` of an LZ4-compressed body.
pub const LZ4: &str = "lz4";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    #[error("unknown Content-Encoding `{0}`; expected `lz4` or none")]
    Encoding(String),
    #[error("the body decompresses to {0} bytes, more than the {1} allowed")]
    TooLarge(usize, usize),
    #[error("the LZ4 body is corrupt: {0}")]
    Lz4(String),
    #[error("batch {index} (at byte {offset}): {reason}")]
    Frame {
        index: usize,
        offset: usize,
        reason: String,
    },
}

/// Encodes batches as one request body; returns it and whether it is
/// compressed (the `Content-Encoding` to send).
pub fn encode<'a>(
    batches: impl IntoIterator<Item = &'a PackedBatch>,
    compress: bool,
) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    for batch in batches {
        let at = body.len();
        body.extend_from_slice(&[0; 4]);
        batch.to_bytes(&mut body);
        let len = (body.len() - at - 4) as u32;
        body[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    if compress {
        (lz4_flex::block::compress_prepend_size(&body), true)
    } else {
        (body, false)
    }
}

/// Decodes a request body (`content_encoding` as sent) into checked
/// batches, refusing one that would decompress past `max` bytes.
pub fn decode(
    body: &[u8],
    content_encoding: Option<&str>,
    max: usize,
) -> Result<Vec<PackedBatch>, ProtocolError> {
    let decompressed;
    let mut rest = match content_encoding.map(str::trim) {
        None | Some("") | Some("identity") => body,
        Some(e) if e.eq_ignore_ascii_case(LZ4) => {
            let size = body
                .get(..4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
                .ok_or_else(|| ProtocolError::Lz4("shorter than its size prefix".into()))?;
            if size > max {
                return Err(ProtocolError::TooLarge(size, max));
            }
            decompressed = lz4_flex::block::decompress_size_prepended(body)
                .map_err(|e| ProtocolError::Lz4(e.to_string()))?;
            &decompressed[..]
        }
        Some(other) => return Err(ProtocolError::Encoding(other.to_owned())),
    };
    let mut batches = Vec::new();
    let mut offset = 0;
    while !rest.is_empty() {
        let frame = |reason: String| ProtocolError::Frame {
            index: batches.len(),
            offset,
            reason,
        };
        let (len, tail) = rest
            .split_at_checked(4)
            .ok_or_else(|| frame("truncated length".into()))?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (bytes, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| frame(format!("{len} bytes announced, {} left", tail.len())))?;
        let batch = PackedBatch::from_bytes(bytes).map_err(|e| frame(e.to_string()))?;
        batch.check().map_err(|e| frame(e.to_string()))?;
        batches.push(batch);
        rest = tail;
        offset += 4 + len;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_event::Event;

    fn batch(words: &[&str]) -> PackedBatch {
        // Fixed times, so the bytes (and what a cut LZ4 body holds) are too.
        let events: Vec<Event> = words
            .iter()
            .map(|w| Event {
                timestamp: 1,
                ingest_timestamp: 2,
                ..Event::new(*w)
            })
            .collect();
        PackedBatch::from_events(&events).unwrap()
    }

    #[test]
    fn batches_round_trip_with_and_without_lz4() {
        let batches = [batch(&["a", "b"]), batch(&["c"])];
        for compress in [false, true] {
            let (body, compressed) = encode(&batches, compress);
            assert_eq!(compressed, compress);
            let encoding = compress.then_some("lz4");
            assert_eq!(decode(&body, encoding, 1 << 20).unwrap(), batches);
        }
        assert_eq!(decode(&[], None, 10).unwrap(), vec![]);
    }

    #[test]
    fn bad_bodies_are_named_precisely() {
        let (body, _) = encode(&[batch(&["a"]), batch(&["b"])], false);
        let first = 4 + u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
        let cut = decode(&body[..body.len() - 1], None, 1 << 20).unwrap_err();
        assert!(
            matches!(cut, ProtocolError::Frame { index: 1, offset, .. } if offset == first),
            "{cut}"
        );
        let mut garbled = body.clone();
        garbled[4] = 99; // the first batch's version byte
        let error = decode(&garbled, None, 1 << 20).unwrap_err().to_string();
        assert!(error.starts_with("batch 0 (at byte 0): "), "{error}");
        assert!(error.contains("version 99"), "{error}");
        assert_eq!(
            decode(&body, Some("br"), 1 << 20),
            Err(ProtocolError::Encoding("br".into()))
        );
        let (small, _) = encode(&[batch(&["x"; 100])], true);
        assert!(matches!(
            decode(&small, Some("lz4"), 64),
            Err(ProtocolError::TooLarge(_, 64))
        ));
        assert!(matches!(
            decode(&small[..small.len() / 2], Some("LZ4"), 1 << 20),
            Err(ProtocolError::Lz4(_))
        ));
    }
}
