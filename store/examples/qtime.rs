//! Times a query over a store (`qtime DIR INDEX QUERY`): a search at several hit limits, or
//! an aggregation when the query has a pipe. Median of 15 runs after one warm-up.
use sluice_store::{SearchRequest, Store, StoreOptions};
use std::time::Instant;

fn median(mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..15)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[7]
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (dir, index, text) = (&a[1], &a[2], &a[3]);
    let store = Store::open(dir, StoreOptions::default()).expect("open the store");
    let (query, at) = sluice_query::parse_until_pipe(text).expect("a query");
    if at < text.len() {
        let pipe = sluice_store::parse_pipe(text, at).expect("a pipe");
        let req = SearchRequest::new(query);
        let ms = median(|| {
            store.aggregate(index, &req, &pipe).expect("aggregate");
        });
        println!("p50 {ms:.2} ms");
        return;
    }
    for limit in [0usize, 1, 10, 100] {
        let mut req = SearchRequest::new(query.clone());
        req.limit = limit;
        let ms = median(|| {
            store.search(index, &req).expect("search");
        });
        println!("limit {limit}: p50 {ms:.2} ms");
    }
}
