#!/usr/bin/env bash
# bench/engine/run.sh <build dir> — LoRA training step (forward_backward + optim_step, CE loss,
# rank 32 on attention, MLP and unembedding) of tinkerc's engine and the PyTorch twin
# (scripts/engine_reference.py --bench) on the same shapes and thread count, side by side.
#   ENGINE_BENCH_THREADS   threads for both sides (default 2)
#   ENGINE_BENCH_SHAPES    "tiny", "0.6b" or "tiny 0.6b" (default both)
#   ENGINE_BENCH_MEM=1     also the peak memory of one 2048-token forward_backward on the 0.6B shape
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
threads=${ENGINE_BENCH_THREADS:-2}
shapes=${ENGINE_BENCH_SHAPES:-"tiny 0.6b"}
bin="$build/bench/engine/bench_engine"
[ -x "$bin" ] || { echo "bench/engine: $bin not built" >&2; exit 1; }
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
json() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

peak=$("$bin" peak)
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tinkerc BLAS: $(json "$peak" blas); OpenMP threads $threads"
echo "OpenBLAS sgemm peak (1024x3072x1024, $threads threads): $(json "$peak" sgemm_gflops) GFLOP/s"

for shape in $shapes; do
  case $shape in
    tiny) args="--arch qwen3 --layers 2 --hidden 32 --heads 4 --kv-heads 2 --head-dim 16 --intermediate 48 --vocab 128 --tokens 512 --rank 4"
          iters="--iters 10 --warmup 2" ;;
    0.6b) args="--arch qwen3 --layers 28 --hidden 1024 --heads 16 --kv-heads 8 --head-dim 128 --intermediate 3072 --vocab 151936 --tokens 512 --rank 32"
          iters="--iters 2 --warmup 1" ;;
    *) echo "unknown shape $shape" >&2; exit 2 ;;
  esac
  ours=$("$bin" step $args $iters)
  theirs=$(/usr/bin/python3 scripts/engine_reference.py --bench --threads "$threads" $args $iters)
  t_ours=$(json "$ours" seconds); t_ref=$(json "$theirs" seconds)
  /usr/bin/python3 - "$shape" "$ours" "$theirs" "$(json "$peak" sgemm_gflops)" <<'PY'
import json, sys
shape, ours, ref, peak = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
gflop = ours["gflop"]
print(f"\n[{shape}] 512-token LoRA step (forward_backward + optim_step), best of the timed iterations")
print(f"  {'':10} {'seconds':>9} {'tokens/s':>10} {'GFLOP/s':>9} {'% of sgemm peak':>16}  threads / BLAS")
for name, r in (("tinkerc", ours), ("PyTorch", ref)):
    s = r["seconds"]
    print(f"  {name:10} {s:9.4f} {512 / s:10.1f} {gflop / s:9.1f} {100 * gflop / s / peak:15.1f}%  "
          f"{r['threads']} / {r['blas'] if name == 'tinkerc' else r['blas'] + ' (torch ' + r['torch'] + ')'}")
print(f"  time ratio tinkerc / PyTorch = {ours['seconds'] / ref['seconds']:.2f}  (model FLOPs per step: {gflop:.1f} GFLOP)")
PY
done

if [ "${ENGINE_BENCH_MEM:-0}" = 1 ]; then
  mem=$("$bin" mem --arch qwen3 --layers 28 --hidden 1024 --heads 16 --kv-heads 8 --head-dim 128 --intermediate 3072 --vocab 151936 --tokens 2048 --rank 32)
  echo
  echo "[0.6b] one 2048-token forward_backward: $mem"
fi
