//! End-to-end acknowledgements: how a source learns that every sink that
//! received its events holds them durably (DESIGN §5).
//!
//! A source that wants to know attaches an [`Acks`] to the batch it sends.
//! The handle travels with the events: a transform copies it onto every
//! batch it emits for that input, a fan-out clones it for every consumer,
//! and a sink lets go of it once the events are durable (written and
//! fsynced, or in a disk buffer). When the last copy is gone the source's
//! callback runs once, with [`Delivery::Delivered`], or with
//! [`Delivery::Failed`] if any holder called [`Acks::fail`].
//!
//! Dropping a handle *is* the acknowledgement, so events a filter drops are
//! acknowledged too and nothing waits forever. The other side of that coin:
//! code that cannot deliver a batch must call [`Acks::fail`] before letting
//! go of it.
//!
//! [`AckTracker`] turns the callbacks of a stream of batches back into
//! order, for sources that checkpoint a position (the file source).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What happened to the events behind one acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every sink holds them durably, or they were dropped on purpose.
    Delivered,
    /// Some holder could not deliver them.
    Failed,
}

type Callback = Box<dyn FnOnce(Delivery) + Send>;

struct Entry {
    failed: AtomicBool,
    on_done: Mutex<Option<Callback>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let on_done = self
            .on_done
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(on_done) = on_done {
            on_done(if *self.failed.get_mut() {
                Delivery::Failed
            } else {
                Delivery::Delivered
            });
        }
    }
}

/// The acknowledgements a batch carries: zero (a source that does not
/// track delivery) or more (a batch made of several sources' events).
/// Cloning shares them; see the module documentation.
#[derive(Clone, Default)]
pub struct Acks(Vec<Arc<Entry>>);

impl Acks {
    /// One acknowledgement whose `on_done` runs when every copy is gone.
    pub fn new(on_done: impl FnOnce(Delivery) + Send + 'static) -> Acks {
        Acks(vec![Arc::new(Entry {
            failed: AtomicBool::new(false),
            on_done: Mutex::new(Some(Box::new(on_done))),
        })])
    }

    /// No acknowledgements.
    pub fn none() -> Acks {
        Acks(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `other`'s acknowledgements to these.
    pub fn merge(&mut self, other: Acks) {
        for entry in other.0 {
            if !self.0.iter().any(|e| Arc::ptr_eq(e, &entry)) {
                self.0.push(entry);
            }
        }
    }

    /// Marks the events as not delivered: their sources will be told
    /// [`Delivery::Failed`] whatever the other holders do.
    pub fn fail(&self) {
        for entry in &self.0 {
            entry.failed.store(true, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Acks({})", self.0.len())
    }
}

/// Issues one acknowledgement per batch a source sends, numbered from 0,
/// and tells the source how far the batches are settled *in order*: a
/// checkpoint may only move past a batch once it and every batch before it
/// were delivered. A failed batch stops the watermark for good (until the
/// source restarts and reads from its last checkpoint again), which is
/// what at-least-once delivery needs.
pub struct AckTracker {
    next: u64,
    /// Every batch below this was delivered.
    delivered_below: u64,
    /// Delivered batches at or above `delivered_below`, waiting for a gap.
    ahead: BTreeSet<u64>,
    failed: Option<u64>,
    tx: mpsc::UnboundedSender<(u64, Delivery)>,
    rx: mpsc::UnboundedReceiver<(u64, Delivery)>,
}

impl Default for AckTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl AckTracker {
    pub fn new() -> AckTracker {
        let (tx, rx) = mpsc::unbounded_channel();
        AckTracker {
            next: 0,
            delivered_below: 0,
            ahead: BTreeSet::new(),
            failed: None,
            tx,
            rx,
        }
    }

    /// The acknowledgement for the next batch, and that batch's number.
    pub fn issue(&mut self) -> (u64, Acks) {
        let seq = self.next;
        self.next += 1;
        let tx = self.tx.clone();
        (
            seq,
            Acks::new(move |d| {
                let _ = tx.send((seq, d));
            }),
        )
    }

    /// Takes in the acknowledgements that arrived and returns the number
    /// of leading batches delivered: batches `0..n` are done.
    pub fn poll(&mut self) -> u64 {
        while let Ok((seq, delivery)) = self.rx.try_recv() {
            self.settle(seq, delivery);
        }
        self.delivered_below
    }

    /// Waits until at least one acknowledgement arrives (or none are
    /// outstanding), then does what [`AckTracker::poll`] does.
    pub async fn wait(&mut self) -> u64 {
        if self.outstanding() > 0 {
            if let Some((seq, delivery)) = self.rx.recv().await {
                self.settle(seq, delivery);
            }
        }
        self.poll()
    }

    /// Batches issued and not yet settled.
    pub fn outstanding(&self) -> u64 {
        self.next - self.delivered_below - self.ahead.len() as u64
    }

    /// The first batch that failed, if any.
    pub fn failed(&self) -> Option<u64> {
        self.failed
    }

    fn settle(&mut self, seq: u64, delivery: Delivery) {
        if delivery == Delivery::Failed {
            self.failed = Some(self.failed.map_or(seq, |f| f.min(seq)));
        }
        self.ahead.insert(seq);
        while self.failed != Some(self.delivered_below) && self.ahead.remove(&self.delivered_below)
        {
            self.delivered_below += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_when_the_last_copy_goes() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let acks = Acks::new(move |d| tx.send(d).unwrap());
        let copy = acks.clone();
        drop(acks);
        assert!(rx.try_recv().is_err());
        drop(copy);
        assert_eq!(rx.try_recv().unwrap(), Delivery::Delivered);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn one_failing_holder_fails_the_whole() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let acks = Acks::new(move |d| tx.send(d).unwrap());
        let copy = acks.clone();
        copy.fail();
        drop(copy);
        drop(acks);
        assert_eq!(rx.try_recv().unwrap(), Delivery::Failed);
    }

    #[test]
    fn merged_acks_settle_each_source() {
        let mut tracker = AckTracker::new();
        let (_, a) = tracker.issue();
        let (_, b) = tracker.issue();
        let mut both = a.clone();
        both.merge(b.clone());
        both.merge(a.clone());
        assert_eq!(format!("{both:?}"), "Acks(2)");
        drop((a, b));
        assert_eq!(tracker.poll(), 0);
        drop(both);
        assert_eq!(tracker.poll(), 2);
    }

    #[test]
    fn the_watermark_moves_in_order_and_stops_at_a_failure() {
        let mut tracker = AckTracker::new();
        let acks: Vec<Acks> = (0..5).map(|_| tracker.issue().1).collect();
        let mut acks: Vec<Option<Acks>> = acks.into_iter().map(Some).collect();
        acks[1].take();
        assert_eq!(tracker.poll(), 0, "batch 0 is still out");
        acks[0].take();
        assert_eq!(tracker.poll(), 2);
        assert_eq!(tracker.outstanding(), 3);
        acks[3].as_ref().unwrap().fail();
        acks[3].take();
        acks[2].take();
        acks[4].take();
        assert_eq!(tracker.poll(), 3, "stops before the failed batch");
        assert_eq!(tracker.failed(), Some(3));
    }

    #[tokio::test]
    async fn wait_returns_when_an_ack_arrives() {
        let mut tracker = AckTracker::new();
        let (_, acks) = tracker.issue();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            drop(acks);
        });
        assert_eq!(tracker.wait().await, 1);
        handle.await.unwrap();
        assert_eq!(tracker.wait().await, 1, "nothing outstanding: no wait");
    }
}
