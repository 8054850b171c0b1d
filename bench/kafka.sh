#!/usr/bin/env bash
# bench/kafka.sh: the Kafka source and sink next to plain rdkafka clients, against a
# tansu broker (scripts/ensure-tool tansu), printing a markdown table (events/s, MB/s,
# ratio to plain rdkafka). Knobs are environment variables documented at the top of
# kafka/benches/kafka.rs.
#
#   bench/kafka.sh                               # 500k events, median of 3 rounds
#   SLUICE_BENCH_EVENTS=1000000 bench/kafka.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p sluice-kafka --bench kafka "$@"
