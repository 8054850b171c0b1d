//! `Store::subscribe`: appended batches in order with their hit ids, before the index exists,
//! and an exact count of what a subscriber that fell behind lost.

use sluice_event::Event;
use sluice_query::parse;
use sluice_store::{SearchRequest, Store, StoreOptions};

fn events(from: i64, n: i64) -> Vec<Event> {
    (from..from + n)
        .map(|i| {
            let mut e = Event::new(format!("event {i}"));
            e.fields.insert("n", i);
            e
        })
        .collect()
}

fn numbers(events: &[Event]) -> Vec<i64> {
    events
        .iter()
        .map(|e| match e.fields.get("n") {
            Some(sluice_event::Value::Int(n)) => *n,
            other => panic!("no n: {other:?}"),
        })
        .collect()
}

#[test]
fn subscribers_get_every_batch_in_order_with_search_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    // The index does not exist yet.
    let mut sub = store.subscribe("app").unwrap();
    assert!(store.indexes().is_empty(), "subscribing created the index");
    assert!(store.subscribe("Bad Name").is_err());
    store.append("app", &events(0, 3)).unwrap();
    store.append("app", &events(3, 2)).unwrap();
    let first = sub.try_recv().expect("the first batch");
    let second = sub.try_recv().expect("the second batch");
    assert!(sub.try_recv().is_none());
    assert_eq!((first.skipped, second.skipped), (0, 0));
    assert_eq!(numbers(first.batch.events()), [0, 1, 2]);
    assert_eq!(numbers(second.batch.events()), [3, 4]);
    assert_eq!(second.batch.position(), 3);

    // Ids and JSON are those of the search hits.
    let mut req = SearchRequest::new(parse("n:1").unwrap());
    req.limit = 1;
    let hit = &store.search("app", &req).unwrap().hits[0];
    assert_eq!(first.batch.id(1), hit.id);
    let json: serde_json::Value = serde_json::from_str(first.batch.hit_json(1)).unwrap();
    assert_eq!(json["_id"], hit.id);
    assert_eq!(json["fields"]["n"], 1);
    assert_eq!(json["message"], "event 1");
}

#[test]
fn a_subscriber_that_falls_behind_is_told_how_many_events_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        tail_capacity: 2,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    store.append("app", &events(0, 1)).unwrap();
    let mut slow = store.subscribe("app").unwrap();
    let mut fast = store.subscribe("app").unwrap();
    // Batches of 1, 2, 3, 4 and 5 events (positions 1, 2, 4, 7, 11); the channel keeps 2.
    let mut next = 1;
    for size in 1..=5 {
        store.append("app", &events(next, size)).unwrap();
        next += size;
        let got = fast.try_recv().expect("fast keeps up");
        assert_eq!(got.skipped, 0);
        assert_eq!(got.batch.events().len() as i64, size);
    }
    let got = slow.try_recv().expect("the oldest batch kept");
    // Lost: the batches of 1, 2 and 3 events.
    assert_eq!(got.skipped, 6);
    assert_eq!(numbers(got.batch.events()), [7, 8, 9, 10]);
    let got = slow.try_recv().unwrap();
    assert_eq!(got.skipped, 0);
    assert_eq!(numbers(got.batch.events()), [11, 12, 13, 14, 15]);
    assert!(slow.try_recv().is_none());
    // Appends never waited: everything is stored.
    let all = store
        .search("app", &SearchRequest::new(parse("*").unwrap()))
        .unwrap();
    assert_eq!(all.total, 16);
}

#[test]
fn subscriptions_end_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let mut sub = store.subscribe("app").unwrap();
    store.append("app", &events(0, 1)).unwrap();
    drop(store);
    // What was sent is still delivered, then the subscription ends.
    assert!(sub.try_recv().is_some());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(runtime.block_on(sub.recv()).is_none());
}
