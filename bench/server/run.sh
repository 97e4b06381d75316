#!/usr/bin/env bash
# bench/server: round-trip latency of submit + retrieve (vs a plain libmicrohttpd floor),
# throughput of 64 concurrent sampling clients (vs the engine's own decode loop), and the server's
# RSS through a soak. The server is the real `tinkerc serve` from BUILD_DIR, in its own process.
#   usage: bench/server/run.sh [BUILD_DIR]       (default build)
#   LAT_CALLS (2000)  TP_SECONDS (20)  SOAK_SECONDS (600)  THREADS (1: the tiny model gains nothing
#   from more, and engine threads compete with the HTTP threads for the cores)
#   OMP_WAIT_POLICY   default PASSIVE: the engine worker shares the cores with the HTTP threads and
#                     the clients, and spinning OpenMP threads starve them
set -euo pipefail
build=${1:-build}
threads=${THREADS:-1}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec "$build"/bench/server/bench_server "$build" "${LAT_CALLS:-2000}" "${TP_SECONDS:-20}" "${SOAK_SECONDS:-600}"
