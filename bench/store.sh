#!/usr/bin/env bash
# bench/store.sh: the store benchmark (ingest, disk, query latency, freshness) over the
# benchmark corpus, with its baselines (tantivy alone, rg), printing markdown tables.
#
#   bench/store.sh                          # 10M events (about 10 minutes on 2 cores)
#   SLUICE_BENCH_EVENTS=1000000 bench/store.sh
#
# Every knob is an environment variable documented at the top of store/benches/store.rs.
# The corpus alone (NDJSON + raw text) is `cargo run --release -p sluice-gen-corpus -- --out DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-tool ripgrep >/dev/null
exec cargo bench -p sluice-store --bench store "$@"
