#!/usr/bin/env bash
# `tinkerc sl`, `plot` and `chat` end to end on the embedded engine and against `tinkerc serve` in
# another process (issue 9 points 2, 3, 4, 6, 7, 8), with a tiny random Qwen3 model that carries
# the real Qwen3 tokenizer. The engine is deterministic on one machine (DESIGN.md §3), so with a
# fixed seed three runs must write the same metrics rows (timings aside):
#   - an uninterrupted run;
#   - a run killed with SIGKILL at a random moment (TK_KILL_DELAY=seconds repeats one) and resumed
#     until done: no batch replayed, no row missing, every recorded checkpoint loads;
#   - the same command against `tinkerc serve` through TINKER_BASE_URL.
# Then bad input: each case fails with a message naming what and where, and leaves an existing
# run directory byte for byte as it was; on_bad_example=skip trains and counts.
set -euo pipefail
T=${1:-${TK_BUILD_DIR:-build}/src/cli/tinkerc}
tmp=$(mktemp -d)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
unset TINKER_API_KEY TINKER_BASE_URL TINKER_CREDENTIAL_CMD TINKERC_LOG
export TINKERC_DATA_DIR=$tmp/data OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

"$T" model init --arch qwen3 --layers 1 --hidden 32 --heads 2 --kv-heads 1 --intermediate 64 \
  --tokenizer qwen3 --dtype f32 --seed 2 --out "$tmp/model" >/dev/null
ARGS=(model_name="$tmp/model" dataset=examples/data/conversations.jsonl test_size=8 batch_size=8
      learning_rate=1e-2 lora_rank=4 seed=3 eval_every=3 save_every=2 max_steps=10 num_epochs=2 shuffle_seed=1)

# Metrics rows without timings, one JSON per line, for comparing runs.
rows() { python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({k: v for k, v in r.items() if not k.startswith("time/")}, sort_keys=True))' "$1"; }

# ---- 1. the reference run ---------------------------------------------------------------------
start=$(date +%s.%N)
"$T" sl "${ARGS[@]}" log_path="$tmp/ref" >"$tmp/ref.out" 2>"$tmp/ref.err" || { cat "$tmp/ref.err"; fail "reference run"; }
ref_s=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
grep -q '^sl: 10/10 100%' "$tmp/ref.err" || fail "no plain progress lines on a non-terminal stderr"
grep -Eq 'test NLL: [0-9.]+ \(step 0\) -> [0-9.]+ \(step 10\)' "$tmp/ref.out" || fail "no summary"
python3 - "$tmp/ref" <<'PY' || fail "reference outputs"
import json, sys, os
d = sys.argv[1]
cfg = json.load(open(os.path.join(d, "config.json")))
assert cfg["batch_size"] == 8 and cfg["learning_rate"] == 0.01 and cfg["renderer_name"] == "qwen3", cfg
rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
assert [r["step"] for r in rows] == list(range(11)), [r["step"] for r in rows]
keys = ["epoch", "progress", "learning_rate", "num_sequences", "num_tokens", "num_loss_tokens",
        "train_mean_nll", "train_mean_bpb", "time/total", "time/step", "grad_norm:mean"]
for r in rows[:10]:
    missing = [k for k in keys if k not in r]
    assert not missing, (r["step"], missing)
    assert r["num_sequences"] == 8 and abs(r["num_loss_tokens"] - 8) < 1e-3   # mean reduction
# eval every 3 steps, before the step, and once after the last
assert [r["step"] for r in rows if "test/nll" in r] == [0, 3, 6, 9, 10]
assert all("test/bpb" in r for r in rows if "test/nll" in r)
# linear decay from 1e-2 over 10 steps, no warmup
assert all(abs(r["learning_rate"] - 0.01 * (1 - r["step"] / 10)) < 1e-15 for r in rows[:10])
assert rows[10]["test/nll"] < rows[0]["test/nll"], "the test NLL did not fall"
# 232 training examples / 8 = 29 batches per epoch: 10 steps stay in epoch 0
assert all(r["epoch"] == 0 for r in rows[:10])
cks = [json.loads(l) for l in open(os.path.join(d, "checkpoints.jsonl"))]
names = [c["name"] for c in cks]
assert names == ["000002", "000004", "000006", "000008", "final"], names
for c in cks[:-1]:   # saved right after step N: the NEXT batch is recorded
    assert c["batch"] == int(c["name"]) + 1 and c["epoch"] == 0 and c["step"] == int(c["name"]) + 1, c
    assert c["state_path"].startswith("tinker://") and c["sampler_path"].startswith("tinker://")
assert cks[-1]["final"] is True and cks[-1]["epoch"] == 2 and cks[-1]["batch"] == 0
assert list(cks[0].keys())[:6] == ["name", "batch", "epoch", "state_path", "sampler_path", "elapsed_tokens"]
PY
rows "$tmp/ref/metrics.jsonl" >"$tmp/ref.rows"

# ---- 2. kill -9 at a random moment, then resume ----------------------------------------------------
delay=${TK_KILL_DELAY:-$(python3 -c "import random, sys; print(round(random.uniform(0.3, float(sys.argv[1])), 2))" "$ref_s")}
echo "kill -9 after ${delay}s (the uninterrupted run took ${ref_s}s; TK_KILL_DELAY=$delay repeats it)"
"$T" sl "${ARGS[@]}" log_path="$tmp/kill" >/dev/null 2>&1 &
pid=$!
sleep "$delay"
kill -9 "$pid" 2>/dev/null || echo "(it had finished already)"
wait "$pid" 2>/dev/null || true
[ -f "$tmp/kill/checkpoints.jsonl" ] && echo "checkpoints before the resume: $(cut -c1-20 "$tmp/kill/checkpoints.jsonl" | tr '\n' ' ')"
# a second kill during the resume, half the time
if [ $((RANDOM % 2)) = 0 ] && [ -z "${TK_KILL_DELAY:-}" ]; then
  "$T" sl "${ARGS[@]}" log_path="$tmp/kill" behavior_if_log_dir_exists=resume >/dev/null 2>&1 &
  pid=$!
  sleep "$(python3 -c "import random; print(round(random.uniform(0.3, 2.0), 2))")"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "killed the resume too"
fi
"$T" sl "${ARGS[@]}" log_path="$tmp/kill" behavior_if_log_dir_exists=resume >"$tmp/kill.out" 2>"$tmp/kill.err" \
  || { cat "$tmp/kill.err"; fail "resume after kill -9"; }
rows "$tmp/kill/metrics.jsonl" >"$tmp/kill.rows"
diff "$tmp/ref.rows" "$tmp/kill.rows" >&2 || fail "the resumed run's metrics differ from the uninterrupted run's"
# every recorded checkpoint is whole: its adapter loads (tinkerc export reads all of it)
python3 - "$tmp/kill/checkpoints.jsonl" "$tmp/data" >"$tmp/ckpts" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    for k in ("state_path", "sampler_path"):
        model, kind, name = r[k][len("tinker://"):].split("/")
        print(f"{sys.argv[2]}/runs/{model}/{kind}/{name}/payload")
PY
while read -r dir; do
  "$T" export --model "$tmp/model" --adapter "$dir" --out "$tmp/export" >/dev/null 2>&1 || fail "checkpoint $dir does not load"
  rm -rf "$tmp/export"
done <"$tmp/ckpts"
[ "$(tail -1 "$tmp/kill/checkpoints.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')" = final ] \
  || fail "no final checkpoint after the resume"

# a finished run resumed again: nothing to do, nothing changed
cp "$tmp/kill/metrics.jsonl" "$tmp/metrics.before"
"$T" sl "${ARGS[@]}" log_path="$tmp/kill" behavior_if_log_dir_exists=resume >"$tmp/again.out" 2>&1 || fail "rerun of a finished run"
grep -q "already complete" "$tmp/again.out" || fail "a finished run was not recognised"
cmp -s "$tmp/metrics.before" "$tmp/kill/metrics.jsonl" || fail "a finished run's metrics changed"
# log_path exists and the default is ask: without a terminal that refuses
if "$T" sl "${ARGS[@]}" log_path="$tmp/kill" </dev/null >"$tmp/ask.out" 2>&1; then fail "ask without a terminal went on"; fi
grep -q "behavior_if_log_dir_exists=resume" "$tmp/ask.out" || fail "ask: no hint"

# ---- 3. the same command against `tinkerc serve` in another process ------------------------------
"$T" serve --port 0 --data-dir "$tmp/srvdata" >"$tmp/serve.out" 2>"$tmp/serve.err" &
srv_pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/serve.out")
[ -n "$url" ] || { cat "$tmp/serve.err"; fail "tinkerc serve did not start"; }
TINKER_BASE_URL=$url "$T" sl "${ARGS[@]}" log_path="$tmp/remote" >"$tmp/remote.out" 2>"$tmp/remote.err" \
  || { cat "$tmp/remote.err"; fail "sl against tinkerc serve"; }
rows "$tmp/remote/metrics.jsonl" >"$tmp/remote.rows"
diff "$tmp/ref.rows" "$tmp/remote.rows" >&2 || fail "the remote run's metrics differ from the local run's"
ls "$tmp/srvdata/runs" | grep -q train || fail "the remote run's checkpoints are not in the server's data dir"
# chat with the remote run's sampler weights, through the server
TINKER_BASE_URL=$url "$T" chat log_path="$tmp/remote" message="What is the capital of Peru?" max_tokens=8 seed=1 \
  >"$tmp/chat_remote.out" 2>&1 || { cat "$tmp/chat_remote.out"; fail "chat through tinkerc serve"; }
kill "$srv_pid"
wait "$srv_pid" 2>/dev/null || true
srv_pid=

# ---- 4. plot and chat --------------------------------------------------------------------------
"$T" plot "$tmp/ref" >/dev/null || fail "plot"
grep -q '<polyline' "$tmp/ref/curves.svg" && grep -q 'test/nll' "$tmp/ref/curves.svg" && grep -q 'learning rate' "$tmp/ref/curves.svg" \
  || fail "the plot lacks its curves"
"$T" plot "$tmp/ref" --out "$tmp/lr.svg" --metric learning_rate --metric grad_norm:mean >/dev/null || fail "plot --metric"
grep -q 'grad_norm:mean' "$tmp/lr.svg" || fail "plot --metric"
if "$T" plot "$tmp/nothing" >/dev/null 2>"$tmp/plot.err"; then fail "plot of a missing run"; fi
"$T" chat log_path="$tmp/ref" message="What is the capital of Peru?" max_tokens=8 temperature=0 >"$tmp/chat1.out" 2>&1 \
  || { cat "$tmp/chat1.out"; fail "chat message="; }
"$T" chat log_path="$tmp/ref" message="What is the capital of Peru?" max_tokens=8 temperature=0 >"$tmp/chat2.out" 2>&1
cmp -s "$tmp/chat1.out" "$tmp/chat2.out" || fail "greedy chat is not repeatable"
printf 'Hello\nWhat is 2 + 2?\n/reset\nHi\n' | "$T" chat log_path="$tmp/ref" max_tokens=4 temperature=0 >"$tmp/chat3.out" 2>&1 \
  || { cat "$tmp/chat3.out"; fail "chat turn by turn"; }
[ "$(wc -l <"$tmp/chat3.out")" -ge 3 ] || { cat "$tmp/chat3.out"; fail "chat: expected an answer per message"; }
if "$T" chat log_path="$tmp/nothing" message=hi >"$tmp/chat4.out" 2>&1; then fail "chat without a run"; fi
grep -q "checkpoints.jsonl" "$tmp/chat4.out" || fail "chat without a run: unclear message"

# ---- 5. bad input never damages an existing run -------------------------------------------------
snapshot() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(snapshot "$tmp/ref")
bad() {   # bad <expected text> <args...>: must fail, say it, and leave the ref run alone
  local want=$1; shift
  if "$T" sl "$@" >"$tmp/bad.out" 2>&1; then fail "accepted: $*"; fi
  grep -qF -- "$want" "$tmp/bad.out" || { cat "$tmp/bad.out"; fail "no \"$want\" for: $*"; }
  [ "$(snapshot "$tmp/ref")" = "$before" ] || fail "the run directory changed after: $*"
}
mk() { head -20 examples/data/conversations.jsonl >"$tmp/$1"; printf '%s\n' "$2" >>"$tmp/$1"; head -30 examples/data/conversations.jsonl | tail -10 >>"$tmp/$1"; }
mk notjson.jsonl '{"messages": [{"role": "user"'
mk nomessages.jsonl '{"conversation": []}'
mk role.jsonl '{"messages": [{"role": "robot", "content": "beep"}]}'
mk content.jsonl '{"messages": [{"role": "user", "content": {"text": "hi"}}]}'
long=$(python3 -c 'print("word " * 3000)')
mk long.jsonl "{\"messages\": [{\"role\": \"user\", \"content\": \"Talk.\"}, {\"role\": \"assistant\", \"content\": \"$long\"}]}"
: >"$tmp/empty.jsonl"
for b in resume delete; do
  common=("${ARGS[@]}" log_path="$tmp/ref" behavior_if_log_dir_exists=$b)
  bad "notjson.jsonl:21" "${common[@]}" dataset="$tmp/notjson.jsonl"
  bad "nomessages.jsonl:21: no \"messages\" key" "${common[@]}" dataset="$tmp/nomessages.jsonl"
  bad "role.jsonl:21: messages[0].role: unknown role \"robot\"" "${common[@]}" dataset="$tmp/role.jsonl"
  bad "content.jsonl:21" "${common[@]}" dataset="$tmp/content.jsonl"
  bad "long.jsonl:21: 3016 tokens, longer than max_length=512" "${common[@]}" dataset="$tmp/long.jsonl" max_length=512
  bad "no examples (the file is empty)" "${common[@]}" dataset="$tmp/empty.jsonl"
  bad "batch_size=1000 is larger than the" "${common[@]}" batch_size=1000
  bad "renderer_name=nope" "${common[@]}" renderer_name=nope
  bad "no/such-model" "${common[@]}" model_name=no/such-model
  bad "/nonexistent.jsonl" "${common[@]}" dataset=/nonexistent.jsonl
done
bad "unknown option \"batchsize\" (did you mean batch_size?)" "${ARGS[@]}" log_path="$tmp/ref" batchsize=4
bad "lr_schedule=steep: must be one of linear, cosine, constant" "${ARGS[@]}" log_path="$tmp/ref" lr_schedule=steep
bad "log_path is required" "${ARGS[@]}"
# skip: the bad lines are skipped, counted and logged
"$T" sl "${ARGS[@]}" log_path="$tmp/skip" dataset="$tmp/role.jsonl" on_bad_example=skip max_steps=2 \
  >"$tmp/skip.out" 2>&1 || { cat "$tmp/skip.out"; fail "on_bad_example=skip"; }
grep -q "1 skipped" "$tmp/skip.out" || fail "skip: not counted in the summary"
grep -q "role.jsonl:21" "$tmp/skip/logs.log" || fail "skip: not in logs.log"
"$T" sl "${ARGS[@]}" log_path="$tmp/skip2" dataset="$tmp/long.jsonl" truncate_long_examples=true max_length=512 max_steps=1 \
  >/dev/null 2>&1 || fail "truncate_long_examples=true"
echo "sl cli: ok"
