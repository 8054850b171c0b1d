//! Live tail: the batches appends write, offered to subscribers as they land.
//!
//! Each index has a [`Hub`]: a `tokio::sync::broadcast` channel of [`Appended`] batches plus a
//! running count of the events appended since the store opened (a batch's `position` is the
//! count before it). `Index::append` sends every WAL record's batch right after the WAL holds
//! it, inside the WAL lock (so subscribers see append order), as an `Arc` of the in-memory
//! segment's own batch: no copy. Sending never blocks: a subscriber that falls more than
//! `StoreOptions::tail_capacity` batches behind loses the oldest, and the positions tell it
//! how many events it missed. With no subscriber an append only bumps the count.

use crate::index::{seq, MemBatch};
use crate::search::hit_id;
use sluice_event::{event_to_json, Event};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// The live-tail channel of one index (created by the first subscriber or the index's
/// opening, whichever comes first, and kept for the store's life).
pub(crate) struct Hub {
    sender: broadcast::Sender<Appended>,
    /// Events offered so far (the position of the next one).
    next: AtomicU64,
}

impl Hub {
    pub fn new(capacity: usize) -> Hub {
        Hub {
            sender: broadcast::channel(capacity.max(1)).0,
            next: AtomicU64::new(0),
        }
    }

    /// Offers `batch` to the subscribers. Called in append order (under the WAL lock).
    pub fn publish(&self, batch: &Arc<MemBatch>) {
        let position = self
            .next
            .fetch_add(batch.events.len() as u64, Ordering::SeqCst);
        if self.sender.receiver_count() == 0 {
            return;
        }
        let json = (0..batch.events.len()).map(|_| OnceLock::new()).collect();
        // An error means every subscriber left in between: nothing to do.
        let _ = self.sender.send(Appended(Arc::new(Shared {
            batch: batch.clone(),
            position,
            json,
        })));
    }

    pub fn subscribe(&self) -> Subscription {
        // Subscribe first, then read the position: a batch counted before we read it but sent
        // after we subscribed arrives with a position below `next`, which is delivered
        // normally; the other order could report a batch never sent to us as skipped.
        let rx = self.sender.subscribe();
        Subscription {
            rx,
            next: self.next.load(Ordering::SeqCst),
        }
    }
}

struct Shared {
    batch: Arc<MemBatch>,
    position: u64,
    json: Box<[OnceLock<Box<str>>]>,
}

/// Events one append wrote to one WAL record, as a tail subscriber receives them. Cheap to
/// clone (shared).
#[derive(Clone)]
pub struct Appended(Arc<Shared>);

impl Appended {
    /// The events, in append order.
    pub fn events(&self) -> &[Event] {
        &self.0.batch.events
    }

    /// The number of events appended to the index (since the store opened) before this batch.
    pub fn position(&self) -> u64 {
        self.0.position
    }

    /// The hit id of event `i` (as [`crate::Hit::id`], for [`crate::Store::context`]).
    pub fn id(&self, i: usize) -> String {
        hit_id(seq(self.0.batch.record, i))
    }

    /// Event `i` as JSON text, in the form of a search hit: `sluice_event::event_to_json`
    /// plus its `_id`. Rendered once, on first use, for all subscribers.
    pub fn hit_json(&self, i: usize) -> &str {
        self.0.json[i].get_or_init(|| {
            let mut json = event_to_json(&self.0.batch.events[i]);
            if let serde_json::Value::Object(map) = &mut json {
                map.insert("_id".into(), self.id(i).into());
            }
            json.to_string().into_boxed_str()
        })
    }
}

impl std::fmt::Debug for Appended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appended")
            .field("position", &self.0.position)
            .field("events", &self.0.batch.events.len())
            .finish()
    }
}

/// One batch received, with the number of events the subscriber missed just before it.
#[derive(Clone, Debug)]
pub struct Received {
    /// Events appended after the previous batch received (or the subscription) and before
    /// this one that this subscriber will never see, because it fell behind.
    pub skipped: u64,
    pub batch: Appended,
}

/// A live tail of one index, from [`crate::Store::subscribe`].
pub struct Subscription {
    rx: broadcast::Receiver<Appended>,
    /// The position of the next event expected.
    next: u64,
}

impl Subscription {
    /// The next batch appended. `None` once the store is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        loop {
            match self.rx.recv().await {
                Ok(batch) => return Some(self.received(batch)),
                // The positions of the next batch say how many events were lost.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The next batch if one is waiting.
    pub fn try_recv(&mut self) -> Option<Received> {
        loop {
            match self.rx.try_recv() {
                Ok(batch) => return Some(self.received(batch)),
                Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    fn received(&mut self, batch: Appended) -> Received {
        let start = batch.position();
        let skipped = start.saturating_sub(self.next);
        self.next = self.next.max(start + batch.events().len() as u64);
        Received { skipped, batch }
    }
}
