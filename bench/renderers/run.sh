#!/usr/bin/env bash
# bench/renderers/run.sh <build dir> — render + tokenize 10,000 seeded random conversations
# (Unicode text, system prompts, reasoning, tool calls) with tinkerc's renderers and real
# tokenizers, and the same conversations with the models' own chat templates under
# @huggingface/jinja + the Hugging Face tokenizers library (what apply_chat_template(tokenize=True)
# does) — for gpt-oss with OpenAI's harmony library (openai-harmony, WebAssembly) — side by side. Both sides build the generation prompt of every conversation but its last
# message; tinkerc's supervised examples (tokens + weights, including the prefill check, which
# renders the prompt a second time) are timed too.
#   RENDER_BENCH_N   conversations per renderer (default 10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
n=${RENDER_BENCH_N:-10000}
bin="$build/bench/renderers/bench_renderers"
[ -x "$bin" ] || { echo "bench/renderers: $bin not built (it needs the tokenizer layer)" >&2; exit 1; }
command -v node >/dev/null || { echo "bench/renderers: node is needed for the reference side" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
rate() { /usr/bin/python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):,.0f}')" "$1" "$2"; }
ratio() { /usr/bin/python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.3f}')" "$1" "$2"; }

echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "conversations per renderer: $n; one thread on both sides"
printf "%-26s %12s %12s %14s %14s %12s %12s %8s\n" renderer "ours conv/s" "ours tok/s" "ref conv/s" "ref tok/s" "tokens" "ref tokens" "time ratio"
for spec in "qwen3 qwen3 npm" "llama3 llama3 npm --plain" "gpt_oss_medium_reasoning gptoss harmony:medium"; do
  set -- $spec
  renderer=$1 family=$2 template=$3 extra=${4:-}
  ours=$("$bin" --renderer "$renderer" --tokenizer ".cache/tokenizers/$family" --n "$n" --dump "$tmp/$renderer.jsonl" $extra)
  ref=$(node bench/renderers/reference.cjs "$family" "$template" "$tmp/$renderer.jsonl")
  gs=$(json "$ours" gen_seconds) gt=$(json "$ours" gen_tokens) rs=$(json "$ref" gen_seconds) rt=$(json "$ref" gen_tokens)
  printf "%-26s %12s %12s %14s %14s %12s %12s %8s\n" "$renderer" "$(rate "$n" "$gs")" "$(rate "$gt" "$gs")" \
    "$(rate "$n" "$rs")" "$(rate "$rt" "$rs")" "$gt" "$rt" "$(ratio "$gs" "$rs")"
  split="reference split: template $(json "$ref" render_seconds | cut -c1-6) s, tokenize $(json "$ref" encode_seconds | cut -c1-6) s (one batched call: $(json "$ref" encode_batch_seconds | cut -c1-6) s)"
  [ "$(json "$ref" encode_batch_seconds)" = None ] && split="reference: harmony renders and tokenizes in one call"
  echo "    supervised examples (ours): $(rate "$n" "$(json "$ours" sup_seconds)") conv/s, $(rate "$(json "$ours" sup_tokens)" "$(json "$ours" sup_seconds)") tok/s; $split"
done
