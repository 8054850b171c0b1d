#!/usr/bin/env bash
# bench/http.sh: the query server's HTTP benchmark (ingest NDJSON and _bulk in batches of
# 1,000 against Store::append as the baseline; search with 1 and 16 clients), printing
# markdown tables. Knobs are environment variables documented at the top of
# server/benches/http.rs.
#
#   bench/http.sh                           # 10M events
#   SLUICE_BENCH_EVENTS=1000000 bench/http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p sluice-server --bench http "$@"
