#!/usr/bin/env bash
# tinkerc sample and tinkerc export end to end on the tiny fixture models: greedy output equals
# the PyTorch twin's (tests/data/engine/qwen3/sample.safetensors case 0: prompt 6 tokens), JSON
# shape, determinism with a seed, an exported PEFT adapter and a merged model sample the same
# tokens as base + adapter, and bad arguments exit 1 or 2 with a message.
set -euo pipefail
bin="${TK_BUILD_DIR:?TK_BUILD_DIR not set}/src/cli/tinkerc"
tmp=$(mktemp -d /tmp/tinkerc-sample-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
model=tests/data/engine/qwen3
prompt="59,48,64,114,120,80"   # the fixture's prompt (the "prompt" tensor of sample.safetensors)

# greedy, as the twin: "6 124 52 52 52 37 37 37 37 37 37 37"
out=$("$bin" sample --model $model --prompt-tokens "$prompt" --temperature 0 --max-tokens 12 --no-eos-stop)
[ "$out" = "$(echo "$out" | grep '^sample 0 (length, 12 tokens')" ] || fail "unexpected output: $out"
echo "$out" | grep -q ': 6 124 52 52 52 37 37 37 37 37 37 37$' || fail "greedy tokens differ from the twin: $out"

# JSON: the SampleResponse shape, prompt logprobs with a null first entry
j=$("$bin" sample --model $model --prompt-tokens "$prompt" --max-tokens 3 --seed 4 --num-samples 2 --json --topk-prompt-logprobs 2)
echo "$j" | grep -q '^{"type": "sample", "sequences": \[{"stop_reason": "length", "tokens": \[[0-9, ]*\], "logprobs": \[' || fail "json: $j"
echo "$j" | grep -q '"prompt_logprobs": \[null, -' || fail "json prompt_logprobs: $j"
echo "$j" | grep -q '"topk_prompt_logprobs": \[null, \[\[' || fail "json topk: $j"
[ "$j" = "$("$bin" sample --model $model --prompt-tokens "$prompt" --max-tokens 3 --seed 4 --num-samples 2 --json --topk-prompt-logprobs 2)" ] \
  || fail "same seed, different output"

# export: PEFT adapter, then merged; all three sample the same greedy tokens
"$bin" export --model $model --adapter $model/peft --out "$tmp/peft" >/dev/null
[ -f "$tmp/peft/adapter_model.safetensors" ] && grep -q '"peft_type": "LORA"' "$tmp/peft/adapter_config.json" || fail "no PEFT files"
"$bin" export --model $model --adapter "$tmp/peft" --out "$tmp/merged" --merge --dtype f32 >/dev/null
[ -f "$tmp/merged/model.safetensors" ] && grep -q '"tie_word_embeddings": false' "$tmp/merged/config.json" || fail "no merged model"
a=$("$bin" sample --model $model --adapter $model/peft --prompt-tokens "$prompt" --temperature 0 --max-tokens 10 --no-eos-stop)
b=$("$bin" sample --model $model --adapter "$tmp/peft" --prompt-tokens "$prompt" --temperature 0 --max-tokens 10 --no-eos-stop)
c=$("$bin" sample --model "$tmp/merged" --prompt-tokens "$prompt" --temperature 0 --max-tokens 10 --no-eos-stop)
strip() { sed 's/logprob [-0-9.]*//'; }
[ "$(echo "$a" | strip)" = "$(echo "$b" | strip)" ] || fail "exported adapter samples differently: $a / $b"
[ "$(echo "$a" | strip)" = "$(echo "$c" | strip)" ] || fail "merged model samples differently: $a / $c"

# with a real tokenizer (the qwen3 files under .cache/tokenizers, made by scripts/install-deps.sh):
# --prompt TEXT encodes like the tokenizer ("Hello world" is [9707, 1879] in Qwen3's vocabulary),
# completions come back as text, and --stop ends a sample on the token whose text completes it
if [ -f .cache/tokenizers/qwen3/tokenizer.json ]; then
  "$bin" model init --arch qwen3 --layers 1 --hidden 32 --heads 2 --kv-heads 1 --intermediate 64 \
    --tokenizer .cache/tokenizers/qwen3 --out "$tmp/tok-model" --seed 3 >/dev/null
  a=$("$bin" sample --model "$tmp/tok-model" --prompt "Hello world" --max-tokens 6 --temperature 0 --json)
  b=$("$bin" sample --model "$tmp/tok-model" --prompt-tokens 9707,1879 --max-tokens 6 --temperature 0 --json)
  [ "$a" = "$b" ] || fail "--prompt differs from its token ids: $a / $b"
  echo "$a" | grep -q '"text": "' || fail "no text in $a"
  out=$("$bin" sample --model "$tmp/tok-model" --prompt "Hello world" --max-tokens 12 --seed 5 --stop e --num-samples 4)
  stops=0
  while read -r head; do
    read -r text
    text=${text#text: }
    case "$head" in
      *"(stop,"*) stops=$((stops + 1)); [[ "$text" == *e* ]] || fail "stopped without the stop string: $head / $text" ;;
      *"(length, 12 tokens"*) [[ "$text" != *e* ]] || fail "ran past the stop string: $head / $text" ;;
      *) fail "unexpected line: $head" ;;
    esac
  done <<< "$out"
  [ "$stops" -ge 1 ] || fail "no sample stopped on \"e\": $out"
else
  echo "note: .cache/tokenizers/qwen3 missing (scripts/install-deps.sh makes it); text prompts not tested"
fi

# bad input: exit status and message
expect() { # expect STATUS NEEDLE args...
  local want=$1 needle=$2; shift 2
  local rc=0
  "$bin" "$@" >"$tmp/o" 2>"$tmp/e" || rc=$?
  [ "$rc" = "$want" ] || fail "$* -> exit $rc, expected $want ($(cat "$tmp/e"))"
  grep -q -- "$needle" "$tmp/e" || fail "$* -> message lacks '$needle': $(cat "$tmp/e")"
}
expect 1 "prompt\[1\]: token id 999 is out of range" sample --model $model --prompt-tokens "1,999"
expect 1 "not in the Hugging Face cache" sample --model no/such-model --prompt-tokens 1
expect 2 "--top-p: \"1.5\" is not a number in" sample --model $model --prompt-tokens 1 --top-p 1.5
expect 2 "--max-tokens: \"0\"" sample --model $model --prompt-tokens 1 --max-tokens 0
expect 2 "exactly one of --prompt-tokens and --prompt" sample --model $model
expect 2 "needs the renderer layer" sample --model $model --messages chat.json
expect 2 "exactly one of --prompt-tokens and --prompt" sample --model $model --prompt hi --prompt-tokens 1
expect 1 "tokenizer" sample --model $model --prompt "hello"   # the fixture models have no tokenizer
expect 1 "has shape" export --model tests/data/engine/llama3 --adapter $model/peft --out "$tmp/x"
expect 2 "--out is required" export --model $model --adapter $model/peft
echo "1 passed, 0 failed"
