#!/usr/bin/env bash
# bench/wire/run.sh <build dir>: tinkerc's JSON and protobuf codecs next to Python's json module
# on a forward_backward request of 128 datums x 2048 tokens (see bench_wire.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -x "$build/bench/wire/bench_wire" ] || cmake --build "$build" --target bench_wire
# Both sides run as a long-lived server would: glibc keeps freed memory instead of handing it back
# to the kernel after every request (the same settings reach bench_wire and the Python process).
export MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_MMAP_THRESHOLD_=67108864
exec /usr/bin/python3 bench/wire/bench_wire.py --bin "$build/bench/wire/bench_wire" "${@:2}"
