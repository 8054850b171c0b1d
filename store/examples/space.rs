//! Where a segment's tantivy bytes go, per component and field (tantivy's space usage).
//! `cargo run --release --example space -- PATH/seg-.../index`
fn main() {
    let path = std::env::args().nth(1).expect("tantivy index directory");
    let index = tantivy::Index::open_in_dir(&path).expect("open index");
    let searcher = index.reader().expect("reader").searcher();
    let usage = searcher.space_usage().expect("space usage");
    println!("{}", serde_json::to_string(&usage).expect("json"));
}
