#!/usr/bin/env bash
# Run every libFuzzer target briefly: scripts/fuzz-smoke.sh <fuzz build dir> <seconds per target>
# A target's seed corpus, if any, is fuzz/<layer>/corpus/<target>/ (copied, so it stays clean).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
secs=${2:-10}
status=0
found=0
while IFS= read -r bin; do
  found=1
  name=$(basename "$bin")
  layer=$(basename "$(dirname "$bin")")
  work=$(mktemp -d)
  if [ -d "fuzz/$layer/corpus/$name" ]; then cp -r "fuzz/$layer/corpus/$name/." "$work/"; fi
  echo "fuzz-smoke: $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=0 "$work" >"$work.log" 2>&1; then
    echo "fuzz-smoke: $name FAILED"; tail -40 "$work.log"; status=1
  fi
  rm -rf "$work" "$work.log"
done < <(find "$build/fuzz" -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
[ "$found" = 1 ] || echo "fuzz-smoke: no fuzz targets built"
exit $status
