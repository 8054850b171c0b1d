//! Times one search over a store at several hit limits: `qtime DIR INDEX QUERY`.
use sluice_store::{SearchRequest, Store, StoreOptions};
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let store = Store::open(&a[1], StoreOptions::default()).unwrap();
    for limit in [0usize, 1, 10, 100] {
        let mut req = SearchRequest::new(sluice_query::parse(&a[3]).unwrap());
        req.limit = limit;
        let mut t = Vec::new();
        for _ in 0..15 {
            let s = Instant::now();
            let r = store.search(&a[2], &req).unwrap();
            t.push(s.elapsed().as_secs_f64() * 1e3);
            assert!(r.total > 0);
        }
        t.sort_by(f64::total_cmp);
        println!("limit {limit}: p50 {:.2} ms", t[7]);
    }
}
