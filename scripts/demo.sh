#!/usr/bin/env bash
# make demo: supervised fine-tuning end to end on this machine, in a few minutes on 2 cores.
#
#   1. a tiny Qwen3-architecture model with RANDOM weights and the real Qwen3 tokenizer
#      (tinkerc model init; made once, cached in .cache/demo/);
#   2. tinkerc sl: LoRA fine-tuning on examples/data/conversations.jsonl (240 conversations we
#      wrote) on the embedded engine, test-set NLL before and after, checkpoints saved;
#   3. tinkerc chat: an answer from the trained adapter to a prompt that is not in the data;
#   4. a summary: test NLL before -> after, time, where the outputs are.
#
# The model is tiny and starts from noise, so do not expect good answers: what the demo shows is
# the loss falling and the whole path (render, train, evaluate, save, sample) working. The same
# command runs on a real model directory or on the hosted service (README.md, docs/sl.md).
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TINKERC:-build/src/cli/tinkerc}
MODEL=.cache/demo/qwen3-tiny-h64-l2
RUN=runs/demo
PROMPT="What is the capital of Poland?"
[ -x "$T" ] || { echo "demo: $T is missing; run 'make demo' (it builds first)" >&2; exit 1; }
[ -d .cache/tokenizers/qwen3 ] || { echo "demo: .cache/tokenizers/qwen3 is missing; run scripts/install-deps.sh" >&2; exit 1; }
if grep -qF "\"$PROMPT\"" examples/data/conversations.jsonl; then
  echo "demo: the held-out prompt \"$PROMPT\" is in the training data" >&2; exit 1
fi
unset TINKER_API_KEY TINKER_BASE_URL TINKER_CREDENTIAL_CMD   # the embedded engine, whatever is set
# the engine's checkpoint store for the demo, next to the run (started afresh each time)
mkdir -p runs
export TINKERC_DATA_DIR=runs/demo-engine
rm -rf "$TINKERC_DATA_DIR"
start=$(date +%s)

if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "== creating the demo model (once; cached in $MODEL)"
  mkdir -p .cache/demo
  tmp=$(mktemp -d .cache/demo/.init-XXXXXX)
  "$T" model init --arch qwen3 --layers 2 --hidden 64 --heads 4 --kv-heads 2 --intermediate 128 \
    --tokenizer .cache/tokenizers/qwen3 --dtype f32 --seed 1 --out "$tmp/model"
  mv -T "$tmp/model" "$MODEL" 2>/dev/null || true   # another demo may have won the race: fine
  rm -rf "$tmp"
fi

echo "== fine-tuning (LoRA rank 32) on examples/data/conversations.jsonl, 24 conversations held out"
"$T" sl model_name="$MODEL" dataset=examples/data/conversations.jsonl log_path="$RUN" \
  test_size=24 batch_size=4 num_epochs=4 learning_rate=1e-2 lora_rank=32 seed=0 \
  eval_every=27 save_every=54 behavior_if_log_dir_exists=delete | tee "$RUN.summary"
"$T" plot "$RUN" >/dev/null

echo
echo "== the trained adapter answers a held-out prompt"
echo "user: $PROMPT"
printf 'assistant: '
"$T" chat log_path="$RUN" message="$PROMPT" max_tokens=24 temperature=0.3 seed=1

before=$(sed -n 's/.*test NLL: \([0-9.]*\) .*/\1/p' "$RUN.summary")
after=$(sed -n 's/.*test NLL: [0-9.]* (step [0-9]*) -> \([0-9.]*\) .*/\1/p' "$RUN.summary")
rm -f "$RUN.summary"
secs=$(( $(date +%s) - start ))
echo
echo "== summary"
echo "test NLL (nats/token on the 24 held-out conversations): $before -> $after"
echo "time: $((secs / 60))m$((secs % 60))s on $(nproc) cores"
echo "outputs: $RUN/ (config.json, metrics.jsonl, checkpoints.jsonl, logs.log, curves.svg);"
echo "         checkpoints in $TINKERC_DATA_DIR/; talk to the adapter: $T chat log_path=$RUN"
awk -v a="$after" -v b="$before" 'BEGIN { exit !(a < b) }' || { echo "demo: the test NLL did not fall" >&2; exit 1; }
