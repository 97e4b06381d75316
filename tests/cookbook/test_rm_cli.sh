#!/usr/bin/env bash
# `tinkerc rm` end to end on the embedded engine (issue 10 point 4), with a tiny random Qwen3 model
# carrying the real Qwen3 tokenizer and examples/data/preferences.jsonl:
#   - the label token's NLL falls; one trained token per comparison; config.json records swap and
#     the no-thinking renderer a qwen3 model gets;
#   - the final sampler weights work as a preference model: every scored comparison is answered
#     with A, B or Tie (one greedy token; an untrained random model answers none of them);
#   - swap=true trains both orders; a bad label fails naming file:line with on_bad_example=raise.
set -euo pipefail
T=${1:-${TK_BUILD_DIR:-build}/src/cli/tinkerc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
unset TINKER_API_KEY TINKER_BASE_URL TINKER_CREDENTIAL_CMD TINKERC_LOG
export TINKERC_DATA_DIR=$tmp/data OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

"$T" model init --arch qwen3 --layers 1 --hidden 16 --heads 2 --kv-heads 1 --intermediate 32 \
  --tokenizer qwen3 --dtype f32 --seed 2 --out "$tmp/model" >/dev/null
ARGS=(model_name="$tmp/model" dataset=examples/data/preferences.jsonl test_size=16 batch_size=8
      learning_rate=2e-2 lora_rank=4 seed=3 eval_every=5 save_every=5 max_steps=10 score_comparisons=16)

"$T" rm "${ARGS[@]}" log_path="$tmp/rm" >"$tmp/rm.out" 2>"$tmp/rm.err" || { cat "$tmp/rm.err"; fail "rm run"; }
cat "$tmp/rm.out"
grep -q '^rm: 10/10 100%' "$tmp/rm.err" || fail "no progress lines"
grep -q 'examples: 144 train, 16 test' "$tmp/rm.out" || fail "summary: examples"
grep -q 'preference model on 16 comparisons: 16 answered A/B/Tie' "$tmp/rm.out" || fail "the preference model does not answer A/B/Tie"
python3 - "$tmp/rm" <<'PY' || fail "rm outputs"
import json, os, sys
d = sys.argv[1]
cfg = json.load(open(os.path.join(d, "config.json")))
assert cfg["swap"] is False and cfg["score_comparisons"] == 16, cfg
assert cfg["renderer_name"] == "qwen3_disable_thinking", cfg["renderer_name"]
assert "train_on_what" not in cfg, cfg
rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
train = [r for r in rows if "train_mean_nll" in r]
assert [r["step"] for r in train] == list(range(10))
# one trained token per comparison (reduction=mean: each example's weights sum to 1)
assert all(r["num_sequences"] == 8 and abs(r["num_loss_tokens"] - 8) < 1e-4 for r in train)
test = [r for r in rows if "test/nll" in r]
print("label NLL %.3f -> %.3f, test %.3f -> %.3f" % (train[0]["train_mean_nll"], train[-1]["train_mean_nll"],
                                                   test[0]["test/nll"], test[-1]["test/nll"]))
assert train[-1]["train_mean_nll"] < 0.5 * train[0]["train_mean_nll"]
assert test[-1]["test/nll"] < 0.5 * test[0]["test/nll"]
cks = [json.loads(l) for l in open(os.path.join(d, "checkpoints.jsonl"))]
assert [c["name"] for c in cks] == ["000005", "final"], cks
PY
# the same scoring of the untouched model (learning_rate=0): it answers none with A, B or Tie
"$T" rm "${ARGS[@]}" log_path="$tmp/untrained" learning_rate=0 max_steps=1 eval_every=0 >"$tmp/untrained.out" 2>&1 \
  || { cat "$tmp/untrained.out"; fail "untrained scoring"; }
grep -q 'preference model on 16 comparisons: 0 answered A/B/Tie' "$tmp/untrained.out" \
  || { cat "$tmp/untrained.out"; fail "the untrained model's answers counted as preferences"; }
# swap=true: both orders of every comparison
"$T" rm "${ARGS[@]}" log_path="$tmp/swap" swap=true max_steps=1 score_comparisons=0 >"$tmp/swap.out" 2>&1 \
  || { cat "$tmp/swap.out"; fail "swap=true"; }
grep -q 'examples: 304 train, 16 test' "$tmp/swap.out" || { cat "$tmp/swap.out"; fail "swap=true: not both orders"; }
# a bad label
{ head -5 examples/data/preferences.jsonl
  echo '{"comparison": {"prompt_conversation": [], "completion_A": [{"role": "assistant", "content": "a"}], "completion_B": [{"role": "assistant", "content": "b"}]}, "label": "maybe"}'
  head -40 examples/data/preferences.jsonl | tail -30; } >"$tmp/bad.jsonl"
if "$T" rm "${ARGS[@]}" log_path="$tmp/bad" dataset="$tmp/bad.jsonl" on_bad_example=raise >"$tmp/bad.out" 2>&1; then fail "a bad label was accepted"; fi
grep -qF 'bad.jsonl:6: label: "maybe" is not "A", "B" or "Tie"' "$tmp/bad.out" || { cat "$tmp/bad.out"; fail "bad label: unclear"; }
[ ! -e "$tmp/bad" ] || fail "bad input created the run directory"
echo "rm cli: ok"
