#!/usr/bin/env bash
# Gateway benchmark (issue #6): saturation throughput, latency added at half saturation
# (gateway vs the load tool talking to the simulator directly), peak RSS with 10k in flight.
# Prints a table and a final JSON line. Extra arguments go to `fep bench` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --bin fep -- bench "$@"
