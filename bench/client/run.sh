#!/usr/bin/env bash
# Client benchmarks: transport overhead (tinkerc call + wait vs plain libcurl, same loopback
# server), and one forward_backward call of 128 x 2048 tokens through the typed SDK vs the wire
# codec + libcurl.
set -euo pipefail
build=${1:-build}
"$build"/bench/client/bench_client_transport "${SMALL_CALLS:-2000}" "${BIG_CALLS:-8}"
"$build"/bench/client/bench_client_fwdbwd "${FWDBWD_CALLS:-5}"
