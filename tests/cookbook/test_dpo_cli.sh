#!/usr/bin/env bash
# `tinkerc dpo` end to end on the embedded engine (issue 10 points 2, 3, 5), with a tiny random
# Qwen3 model that carries the real Qwen3 tokenizer and examples/data/preferences.jsonl, whose
# synthetic preference is "the shorter answer": the rejected completion is the chosen one plus a
# rambling sentence.
#   - 30 steps: the metrics are the cookbook's; step 0 has the policy equal to the reference
#     (loss ln 2, margin ~0); accuracy rises and the margin grows, on the training batches and on
#     held-out pairs; checkpoints name the next batch and the same reference;
#   - the engine is deterministic (DESIGN.md §3; reference_concurrency=1 keeps concurrent
#     compute_logprobs requests from sharing prefill batches, whose rounding depends on arrival):
#     a run killed with SIGKILL at a random moment
#     (TK_KILL_DELAY=seconds repeats one) and resumed writes the same rows as the uninterrupted
#     one (so the same data and beta give the same run, and resume replays nothing);
#   - bad input: a bad label (raise) fails naming file:line and leaves an existing run as it was;
#     skip counts it; a prompt longer than max_length is skipped and counted; a reference of
#     another base model is refused naming both models.
set -euo pipefail
T=${1:-${TK_BUILD_DIR:-build}/src/cli/tinkerc}
tmp=$(mktemp -d)
cleanup() { wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
unset TINKER_API_KEY TINKER_BASE_URL TINKER_CREDENTIAL_CMD TINKERC_LOG
export TINKERC_DATA_DIR=$tmp/data OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

"$T" model init --arch qwen3 --layers 1 --hidden 16 --heads 2 --kv-heads 1 --intermediate 32 \
  --tokenizer qwen3 --dtype f32 --seed 2 --out "$tmp/model" >/dev/null
ARGS=(model_name="$tmp/model" dataset=examples/data/preferences.jsonl test_size=8 batch_size=2
      learning_rate=3e-3 lora_rank=4 seed=3 eval_every=10 save_every=5 max_steps=30 dpo_beta=0.1
      reference_concurrency=1)

rows() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({k: v for k, v in r.items() if not k.startswith("time/")}, sort_keys=True))' "$1"; }

# ---- 1. the reference run: 30 steps --------------------------------------------------------------
start=$(date +%s.%N)
"$T" dpo "${ARGS[@]}" log_path="$tmp/ref" >"$tmp/ref.out" 2>"$tmp/ref.err" || { cat "$tmp/ref.err"; fail "reference run"; }
ref_s=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
grep -q '^dpo: 30/30 100%' "$tmp/ref.err" || fail "no progress lines"
grep -q 'pairs: 152 train, 8 test' "$tmp/ref.out" || { cat "$tmp/ref.out"; fail "summary: pairs"; }
python3 - "$tmp/ref" <<'PY' || fail "reference outputs"
import json, math, os, sys
d = sys.argv[1]
cfg = json.load(open(os.path.join(d, "config.json")))
assert cfg["dpo_beta"] == 0.1 and cfg["batch_size"] == 2 and cfg["lr_schedule"] == "linear", cfg
assert cfg["renderer_name"] == "qwen3" and cfg["max_length"] == 8192, cfg
rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
assert [r["step"] for r in rows] == list(range(30)), [r["step"] for r in rows]
keys = ["epoch", "progress", "learning_rate", "dpo_loss", "accuracy", "margin", "chosen_reward",
        "rejected_reward", "num_pairs", "num_tokens", "time/total", "grad_norm:mean"]
for r in rows:
    missing = [k for k in keys if k not in r]
    assert not missing, (r["step"], missing)
    assert r["num_pairs"] == 2 and r["epoch"] == 0
    assert abs(r["margin"] - (r["chosen_reward"] - r["rejected_reward"])) < 1e-9
    assert abs(r["learning_rate"] - 3e-3 * (1 - r["step"] / 30)) < 1e-15
# step 0: the policy is the reference (up to the two code paths' rounding)
assert abs(rows[0]["dpo_loss"] - math.log(2)) < 1e-3 and abs(rows[0]["margin"]) < 1e-2, rows[0]
first, last = rows[:5], rows[-5:]
mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)
print("accuracy %.2f -> %.2f, margin %.3f -> %.3f, loss %.3f -> %.3f" % (
    mean(first, "accuracy"), mean(last, "accuracy"), mean(first, "margin"), mean(last, "margin"),
    mean(first, "dpo_loss"), mean(last, "dpo_loss")))
# step 0 compares equal models (margins ~1e-8): its accuracy is a coin flip, so ">=" here
assert mean(last, "accuracy") >= 0.95 and mean(last, "accuracy") >= mean(first, "accuracy")
assert mean(last, "margin") > mean(first, "margin") + 1.0
assert mean(last, "dpo_loss") < 0.5 * mean(first, "dpo_loss")
# the chosen (shorter) answers gain against the reference, the rejected ones lose
assert mean(last, "rejected_reward") < mean(last, "chosen_reward")
# held-out pairs, evaluated before steps 0, 10, 20
ev = [r for r in rows if "test/accuracy" in r]
assert [r["step"] for r in ev] == [0, 10, 20], [r["step"] for r in ev]
assert ev[-1]["test/margin"] > ev[0]["test/margin"] + 1.0 and ev[-1]["test/accuracy"] >= ev[0]["test/accuracy"]
assert ev[-1]["test/accuracy"] >= 0.75, ev[-1]
cks = [json.loads(l) for l in open(os.path.join(d, "checkpoints.jsonl"))]
assert [c["name"] for c in cks] == ["000005", "000010", "000015", "000020", "000025", "final"], cks
refs = {c["reference_path"] for c in cks}
assert len(refs) == 1 and refs.pop().endswith("/sampler_weights/reference")
for c in cks[:-1]:
    assert c["batch"] == int(c["name"]) + 1 and c["epoch"] == 0, c
assert cks[-1]["final"] is True
PY
rows "$tmp/ref/metrics.jsonl" >"$tmp/ref.rows"

# ---- 2. kill -9 at a random moment, then resume: the same rows ---------------------------------
delay=${TK_KILL_DELAY:-$(python3 -c "import random, sys; print(round(random.uniform(0.5, float(sys.argv[1]) * 0.9), 2))" "$ref_s")}
echo "kill -9 after ${delay}s (the uninterrupted run took ${ref_s}s; TK_KILL_DELAY=$delay repeats it)"
"$T" dpo "${ARGS[@]}" log_path="$tmp/kill" >/dev/null 2>&1 &
pid=$!
sleep "$delay"
kill -9 "$pid" 2>/dev/null || echo "(it had finished already)"
wait "$pid" 2>/dev/null || true
[ -f "$tmp/kill/checkpoints.jsonl" ] && echo "checkpoints before the resume: $(cut -c1-20 "$tmp/kill/checkpoints.jsonl" | tr '\n' ' ')"
"$T" dpo "${ARGS[@]}" log_path="$tmp/kill" behavior_if_log_dir_exists=resume >"$tmp/kill.out" 2>"$tmp/kill.err" \
  || { cat "$tmp/kill.err"; fail "resume after kill -9"; }
rows "$tmp/kill/metrics.jsonl" >"$tmp/kill.rows"
diff "$tmp/ref.rows" "$tmp/kill.rows" >&2 || fail "the resumed run's metrics differ from the uninterrupted run's"
"$T" dpo "${ARGS[@]}" log_path="$tmp/kill" behavior_if_log_dir_exists=resume >"$tmp/again.out" 2>&1 || fail "rerun of a finished run"
grep -q "already complete" "$tmp/again.out" || fail "a finished run was not recognised"

# ---- 3. bad input ----------------------------------------------------------------------------------
snapshot() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(snapshot "$tmp/ref")
bad() {   # bad <expected text> <args...>: must fail, say it, and leave the ref run alone
  local want=$1; shift
  if "$T" dpo "$@" >"$tmp/bad.out" 2>&1; then fail "accepted: $*"; fi
  grep -qF -- "$want" "$tmp/bad.out" || { cat "$tmp/bad.out"; fail "no \"$want\" for: $*"; }
  [ "$(snapshot "$tmp/ref")" = "$before" ] || fail "the run directory changed after: $*"
}
{ head -20 examples/data/preferences.jsonl
  echo '{"comparison": {"prompt_conversation": [{"role": "user", "content": "Hi"}], "completion_A": [{"role": "assistant", "content": "a"}], "completion_B": [{"role": "assistant", "content": "b"}]}, "label": "C"}'
  head -30 examples/data/preferences.jsonl | tail -10; } >"$tmp/label.jsonl"
long=$(python3 -c 'print("word " * 300)')
{ head -20 examples/data/preferences.jsonl
  echo "{\"prompt\": \"$long\", \"chosen\": \"Yes.\", \"rejected\": \"No.\"}"
  head -30 examples/data/preferences.jsonl | tail -10; } >"$tmp/long.jsonl"
{ cat "$tmp/long.jsonl"; echo '{"prompt": "Hi", "chosen": [], "rejected": "b"}'; } >"$tmp/skip.jsonl"
common=("${ARGS[@]}" log_path="$tmp/ref" behavior_if_log_dir_exists=delete)
bad "label.jsonl:21: label: \"C\" is not \"A\", \"B\" or \"Tie\"" "${common[@]}" dataset="$tmp/label.jsonl" on_bad_example=raise
bad "long.jsonl:21: chosen: the prompt is" "${common[@]}" dataset="$tmp/long.jsonl" on_bad_example=raise max_length=128
bad "dpo_beta=-1: must be a positive number" "${common[@]}" dpo_beta=-1
bad "batch_size=1000 is larger than the" "${common[@]}" batch_size=1000
bad "unknown option \"beta\"" "${common[@]}" beta=0.1
# skip (the default): counted, trained
"$T" dpo "${ARGS[@]}" log_path="$tmp/skip" dataset="$tmp/skip.jsonl" max_length=128 max_steps=1 test_size=0 \
  >"$tmp/skip.out" 2>&1 || { cat "$tmp/skip.out"; fail "on_bad_example=skip"; }
grep -q "2 skipped" "$tmp/skip.out" || { cat "$tmp/skip.out"; fail "skip: not counted"; }
grep -q "skip.jsonl:32: chosen: the completion is empty" "$tmp/skip/logs.log" || fail "skip: reason not in logs.log"
# a reference of another base model
"$T" model init --arch qwen3 --layers 1 --hidden 16 --heads 2 --kv-heads 1 --intermediate 32 \
  --tokenizer qwen3 --dtype f32 --seed 5 --out "$tmp/other" >/dev/null
"$T" dpo "${ARGS[@]}" model_name="$tmp/other" log_path="$tmp/other_run" max_steps=1 test_size=0 >"$tmp/other.out" 2>&1 \
  || { cat "$tmp/other.out"; fail "run on the other model"; }
other_ref=$(sed -n 's/^  reference: //p' "$tmp/other.out")
[ -n "$other_ref" ] || fail "no reference path printed"
bad "but the policy's base model is" "${common[@]}" reference_model_path="$other_ref"
grep -qF "$tmp/other" "$tmp/bad.out" || fail "the mismatch does not name the reference's model"
bad "reference_model_path=" "${common[@]}" reference_model_path="tinker://x/weights/final"
echo "dpo cli: ok"
