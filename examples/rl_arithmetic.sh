#!/usr/bin/env bash
# SFT for the answer format, then RL on `arithmetic`, on the embedded engine (issue 11 point 8).
#
#   1. a tiny Qwen3-architecture model with RANDOM weights and the real Qwen3 tokenizer (the one
#      `make demo` uses, cached in .cache/demo/);
#   2. tinkerc sl on every "What is x + y?" with x, y in [0, MAX_OPERAND], answered with the bare
#      number, stopped well before it memorises them: the model answers with a number and stops,
#      and has started to read the operands;
#   3. tinkerc rl env=arithmetic from the SFT run's final state: batches of (MAX_OPERAND+1)^2
#      problems drawn at random, GROUP_SIZE samples each, importance_sampling, fixed seed;
#   4. env/all/correct and env/all/format of the first and last RL batches, and the time.
#
# docs/PERFORMANCE.md ("RL: it learns") records a run of this script. Settings can be changed
# through the environment: MAX_OPERAND, RL_STEPS, RL_LR, GROUP_SIZE, SFT_EPOCHS, SFT_LR.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TINKERC:-build/src/cli/tinkerc}
MODEL=.cache/demo/qwen3-tiny-h64-l2
RUN=${RUN:-runs/rl-arithmetic}
MAX_OPERAND=${MAX_OPERAND:-2}
RL_STEPS=${RL_STEPS:-60}
RL_LR=${RL_LR:-5e-4}
GROUP_SIZE=${GROUP_SIZE:-16}
SFT_EPOCHS=${SFT_EPOCHS:-100}
SFT_LR=${SFT_LR:-2e-3}
[ -x "$T" ] || { echo "rl_arithmetic: $T is missing; build first (make build)" >&2; exit 1; }
[ -d .cache/tokenizers/qwen3 ] || { echo "rl_arithmetic: .cache/tokenizers/qwen3 is missing; run scripts/install-deps.sh" >&2; exit 1; }
unset TINKER_API_KEY TINKER_BASE_URL TINKER_CREDENTIAL_CMD   # the embedded engine, whatever is set
export TINKERC_DATA_DIR=$RUN/engine OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
rm -rf "$RUN"
mkdir -p "$RUN"
start=$(date +%s)

if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "== creating the model (once; cached in $MODEL)"
  mkdir -p .cache/demo
  tmp=$(mktemp -d .cache/demo/.init-XXXXXX)
  "$T" model init --arch qwen3 --layers 2 --hidden 64 --heads 4 --kv-heads 2 --intermediate 128 \
    --tokenizer .cache/tokenizers/qwen3 --dtype f32 --seed 1 --out "$tmp/model"
  mv -T "$tmp/model" "$MODEL" 2>/dev/null || true
  rm -rf "$tmp"
fi

echo "== SFT: the answer format on every x + y, x, y in [0, $MAX_OPERAND]"
for x in $(seq 0 "$MAX_OPERAND"); do
  for y in $(seq 0 "$MAX_OPERAND"); do
    printf '{"messages": [{"role": "user", "content": "What is %d + %d?"}, {"role": "assistant", "content": "%d"}]}\n' \
      "$x" "$y" $((x + y))
  done
done >"$RUN/sft.jsonl"
n=$(( (MAX_OPERAND + 1) * (MAX_OPERAND + 1) ))
"$T" sl model_name="$MODEL" renderer_name=qwen3_instruct dataset="$RUN/sft.jsonl" log_path="$RUN/sft" \
  batch_size=$(( n < 9 ? n : 9 )) num_epochs="$SFT_EPOCHS" learning_rate="$SFT_LR" lr_schedule=constant lora_rank=32 \
  seed=0 eval_every=0 save_every=0 behavior_if_log_dir_exists=delete | sed 's/^/  /'
state=$(python3 -c 'import json, sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["state_path"])' \
  "$RUN/sft/checkpoints.jsonl")
sft_s=$(( $(date +%s) - start ))

echo "== RL: $RL_STEPS batches of $n random problems x $GROUP_SIZE samples, from $state"
"$T" rl model_name="$MODEL" renderer_name=qwen3_instruct load_checkpoint_path="$state" env=arithmetic \
  max_operand="$MAX_OPERAND" fewshot=false group_size="$GROUP_SIZE" groups_per_batch="$n" n_batches="$RL_STEPS" max_tokens=3 \
  learning_rate="$RL_LR" lora_rank=32 seed=0 sampling_concurrency=1 save_every=0 log_path="$RUN/rl" behavior_if_log_dir_exists=delete \
  | sed 's/^/  /'
secs=$(( $(date +%s) - start ))

echo
echo "== summary (env/all/*, mean over the first and the last 5 RL batches)"
python3 - "$RUN/rl/metrics.jsonl" "$MAX_OPERAND" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def mean(k, rs): return sum(r[k] for r in rs) / len(rs)
for k in ("env/all/correct", "env/all/format", "env/all/reward/total", "optim/entropy"):
    print(f"{k:24s} {mean(k, rows[:5]):.3f} -> {mean(k, rows[-5:]):.3f}")
# does it read the question? right answers among the samples whose answer is not the most
# frequent sum (MAX_OPERAND): a policy that ignores the operands scores 0 there
import os
mode = sys.argv[2]
d = os.path.dirname(sys.argv[1])
def off_mode(its):
    right = total = 0
    for it in its:
        for l in open(os.path.join(d, "iteration_%06d" % it, "train_rollout_summaries.jsonl")):
            t = json.loads(l)
            if t["steps"][0]["logs"]["text"].rsplit("expected: ", 1)[1] != mode:
                total += 1
                right += t["trajectory_metrics"]["correct"]
    return right / max(total, 1)
print(f"{'correct, answer != ' + mode:24s} {off_mode(range(5)):.3f} -> {off_mode(range(len(rows) - 5, len(rows))):.3f}")
PY
echo "time: ${secs}s in all (SFT ${sft_s}s) on $(nproc) cores; outputs in $RUN/{sft,rl}"
