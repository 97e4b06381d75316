#!/usr/bin/env bash
# Run the benchmarks: scripts/bench.sh <build dir> [name...]
# Each benchmark is bench/<name>/run.sh, called with the build dir; it prints its own table with
# tinkerc and the reference side by side and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
  for f in bench/*/run.sh; do [ -f "$f" ] && names+=("$(basename "$(dirname "$f")")"); done
fi
for n in "${names[@]}"; do
  echo "== bench/$n =="
  bench/"$n"/run.sh "$build"
done
