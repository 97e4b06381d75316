#!/usr/bin/env bash
# sl_loop and rl_loop end to end on the local engine: a random Qwen3 model with the real Qwen3
# tokenizer, a few steps each. Checks that every step ran, the losses are numbers, and the
# checkpoint was saved.
set -euo pipefail
tinkerc=$1 sl=$2 rl=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$tinkerc" model init --arch qwen3 --layers 2 --hidden 32 --heads 2 --kv-heads 1 --intermediate 64 \
  --tokenizer qwen3 --dtype f32 --seed 1 --out "$tmp/model" >/dev/null
export TINKERC_DATA_DIR="$tmp/data"
unset TINKER_API_KEY TINKER_BASE_URL TINKER_CREDENTIAL_CMD

"$sl" model="$tmp/model" renderer=qwen3 steps=3 batch=4 lr=1e-3 rank=8 | tee "$tmp/sl.log"
[ "$(grep -c '^step ' "$tmp/sl.log")" -eq 3 ] || { echo "sl_loop: expected 3 steps"; exit 1; }
grep -Eq '^step +2 .* nll [0-9]+\.[0-9]+' "$tmp/sl.log" || { echo "sl_loop: no loss"; exit 1; }
grep -q '^saved tinker://.*/weights/final$' "$tmp/sl.log" || { echo "sl_loop: not saved"; exit 1; }

"$rl" model="$tmp/model" renderer=qwen3 steps=2 batch=2 group=4 max_tokens=8 | tee "$tmp/rl.log"
[ "$(grep -c '^step ' "$tmp/rl.log")" -eq 2 ] || { echo "rl_loop: expected 2 steps"; exit 1; }
grep -Eq '^step +1 +mean reward [0-9.]+ +datums [0-9]+' "$tmp/rl.log" || { echo "rl_loop: bad output"; exit 1; }
echo "examples: ok"
