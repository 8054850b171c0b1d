//! Where a segment's Arrow bytes go: each column of a rows.arrow file re-written alone with
//! the same LZ4_FRAME compression. `cargo run --release --example columns -- PATH/rows.arrow`
use arrow_array::RecordBatch;
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use std::sync::Arc;

fn main() {
    let path = std::env::args().nth(1).expect("rows.arrow path");
    let reader = FileReader::try_new(std::fs::File::open(&path).unwrap(), None).unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    for (i, f) in schema.fields().iter().enumerate() {
        let s = Arc::new(arrow_schema::Schema::new(vec![f.as_ref().clone()]));
        let opts = IpcWriteOptions::default()
            .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
            .unwrap();
        let mut w = FileWriter::try_new_with_options(Vec::new(), &s, opts).unwrap();
        let mut raw = 0;
        for b in &batches {
            let col = b.column(i).clone();
            raw += col.get_array_memory_size();
            w.write(&RecordBatch::try_new(s.clone(), vec![col]).unwrap())
                .unwrap();
        }
        w.finish().unwrap();
        println!(
            "{:<18} {:>10} bytes (in memory {raw})",
            f.name(),
            w.into_inner().unwrap().len()
        );
    }
}
