#!/usr/bin/env bash
# Client transport overhead: tinkerc call + wait vs plain libcurl, same loopback server.
set -euo pipefail
build=${1:-build}
"$build"/bench/client/bench_client_transport "${SMALL_CALLS:-2000}" "${BIG_CALLS:-8}"
