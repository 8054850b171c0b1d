#!/usr/bin/env bash
# bench/forward.sh: edge → central over the sluice forward protocol, with the disk buffer on
# (events/s against file → store in one process), and the time to drain a backlog after an
# outage. Knobs: SLUICE_BENCH_EVENTS (default 2000000), SLUICE_BENCH_BACKLOG_MB (default 1024).
#
#   bench/forward.sh                    # both
#   bench/forward.sh throughput         # or: recovery
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p sluice --bench forward -- "$@"
