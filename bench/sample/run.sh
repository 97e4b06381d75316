#!/usr/bin/env bash
# bench/sample/run.sh <build dir> — the engine's KV-cache decode against a PyTorch KV-cache decoder
# (scripts/engine_reference.py --bench-decode) on the same shape and thread count, the machine's
# read bandwidth and the fraction of it decode reaches at batch 1, and the speed-up of running
# concurrent requests (each with its own adapter) in one decode loop instead of one by one.
#   SAMPLE_BENCH_THREADS   threads for both sides (default 2)
#   SAMPLE_BENCH_SHAPES    "tiny", "0.6b" or "tiny 0.6b" (default 0.6b)
#   SAMPLE_BENCH_TOKENS    timed decode steps per run (default 8)
#   OMP_WAIT_POLICY        default PASSIVE for both sides: on a machine shared with other jobs,
#                          spinning OpenMP barriers lose a core's timeslice and steps slow down
#                          several-fold; sleeping waits degrade gracefully
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
threads=${SAMPLE_BENCH_THREADS:-2}
shapes=${SAMPLE_BENCH_SHAPES:-0.6b}
tokens=${SAMPLE_BENCH_TOKENS:-8}
bin="$build/bench/sample/bench_sample"
[ -x "$bin" ] || { echo "bench/sample: $bin not built" >&2; exit 1; }
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
py=/usr/bin/python3

echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); load: $(cut -d' ' -f1-3 /proc/loadavg); OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
bw=$("$bin" bw --mib 1024)
echo "read bandwidth (1 GiB parallel sum, $threads threads): $bw"

for shape in $shapes; do
  case $shape in
    tiny) args="--layers 2 --hidden 64 --heads 4 --kv-heads 2 --head-dim 16 --intermediate 128 --vocab 1000" ;;
    0.6b) args="--layers 28 --hidden 1024 --heads 16 --kv-heads 8 --head-dim 128 --intermediate 3072 --vocab 151936" ;;
    *) echo "unknown shape $shape" >&2; exit 2 ;;
  esac
  echo
  echo "[$shape] decode after a 16-token prompt, $tokens timed steps, greedy on both sides"
  res=()
  for run in "1 f32" "1 bf16" "16 f32" "16 bf16"; do
    set -- $run
    res+=("$("$bin" decode $args --batch "$1" --dtype "$2" --tokens "$tokens" --temperature 0)")
  done
  t1=$("$bin" decode $args --batch 1 --dtype f32 --tokens "$tokens" --temperature 1)
  p1=$($py scripts/engine_reference.py --bench-decode $args --batch 1 --iters "$tokens" --threads "$threads")
  p16=$($py scripts/engine_reference.py --bench-decode $args --batch 16 --iters "$tokens" --threads "$threads")
  $py - "$bw" "$p1" "$p16" "$t1" "${res[@]}" <<'PY'
import json, sys
bw = json.loads(sys.argv[1])["read_gb_per_s"]
p1, p16, t1 = (json.loads(x) for x in sys.argv[2:5])
ours = [json.loads(x) for x in sys.argv[5:]]
print("  mean (best) seconds per decode step; bandwidth fraction = bytes per step / best step / the read")
print("  bandwidth measured by the same process just before its timed steps (in parentheses)")
print(f"  {'':18} {'s/step':>16} {'tokens/s':>9} {'vs PyTorch':>11} {'GB/s read':>10} {'% of bandwidth':>22}")
for r in ours:
    ref = p1 if r["batch"] == 1 else p16
    gbs = r["step_gb"] / r["best_step_s"]
    frac = f"{100 * gbs / r['bw_gb_per_s']:14.0f}% ({r['bw_gb_per_s']:.1f})" if r["batch"] == 1 else f"{'':>22}"
    gbs = f"{gbs:10.1f}" if r["batch"] == 1 else f"{'':>10}"
    print(f"  tinkerc b{r['batch']:<2} {r['dtype']:<5}  {r['step_s']:7.4f} ({r['best_step_s']:.4f}) {r['tokens_per_s']:9.2f} "
          f"{r['tokens_per_s'] / ref['tokens_per_s']:6.2f}x ({ref['best_step_s'] / r['best_step_s']:.2f}x) {gbs} {frac}")
for name, r in (("PyTorch b1  f32", p1), ("PyTorch b16 f32", p16)):
    print(f"  {name:<18} {r['step_s']:7.4f} ({r['best_step_s']:.4f}) {r['tokens_per_s']:9.2f}")
print(f"  tinkerc b1 f32 sampling at temperature 1 (top-k/top-p off): {t1['step_s']:.4f} ({t1['best_step_s']:.4f}) s/step")
print(f"  threads {ours[0]['threads']} / {ours[0]['blas']}; PyTorch {p1['threads']} threads, {p1['blas']} (torch {p1['torch']})")
print(f"  bytes per batch-1 step: {ours[0]['step_gb']:.3f} GB (f32), {ours[1]['step_gb']:.3f} GB (bf16): every projection,"
      f" the unembedding, the KV cache")
PY
  echo
  echo "[$shape] 8 concurrent requests (16-token prompts, 16 tokens each, rank-8 adapters): one by one vs one decode loop"
  echo "  8 different adapters: $("$bin" batching $args --requests 8 --rank 8 --tokens 16 --prompt 16)"
  echo "  one shared adapter:   $("$bin" batching $args --requests 8 --rank 8 --adapters 1 --tokens 16 --prompt 16)"
done
