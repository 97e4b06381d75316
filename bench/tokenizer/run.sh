#!/usr/bin/env bash
# Tokenizer benchmark: single-thread encode throughput on the test corpus for tinkerc, Hugging
# Face's Rust tokenizers and tiktoken (o200k, gpt-oss's encoding), in one invocation, with the
# ratios; then Qwen3 tokenizer.json load time and peak memory.
#   bench/tokenizer/run.sh BUILD_DIR [REPEATS]
# Each encode figure is the best of REPEATS passes over the corpus (default 3). The ids of every
# side are digested and must be identical.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
repeats=${2:-3}
bin="$build/bench/tokenizer/bench_tokenizer"
[ -x "$bin" ] || { echo "bench/tokenizer: $bin not built (cmake --build $build)"; exit 1; }
work="$build/bench-tokenizer"
node tests/reference/tokenizer-reference.js --prepare "$work" >/dev/null
corpus="$work/corpus.bin"
o200k_pattern=$(node -e 'console.log(require("./.cache/npm/node_modules/tiktoken/encoders/o200k_base.json").pat_str)')

out=$(mktemp)
out2=$(mktemp)
trap 'rm -f "$out" "$out2"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for skip in 0 1; do
  dst=$out; [ "$skip" = 1 ] && dst=$out2
  export TK_BENCH_SKIP_LONG=$skip
  for fam in llama3 qwen3 deepseek_v3 gptoss; do
    "$bin" encode "$corpus" "$fam" ".cache/tokenizers/$fam" "$repeats" >>"$dst"
  done
  "$bin" encode-tiktoken "$corpus" o200k_base "$work/o200k_base.tiktoken" "$o200k_pattern" "$repeats" >>"$dst"
  node bench/tokenizer/reference-bench.js "$corpus" "$repeats" >>"$dst"
done
unset TK_BENCH_SKIP_LONG
"$bin" load .cache/tokenizers/qwen3 5 >>"$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

for f in "$out" "$out2"; do
which=all; [ "$f" = "$out2" ] && which=short
node - "$f" "$which" <<'JS'
const lines = require("fs").readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse);
const get = (side, name) => lines.find((l) => l.side === side && l.name === name);
const fmt = (x, w) => String(x).padStart(w);
console.log("");
console.log("encode, single thread, " + (lines[0].bytes / 1e6).toFixed(2) + " MB of the corpus (" + lines[0].docs + " documents" +
  (process.argv[3] === "short" ? ", without the 20 long repetitive ones: tiktoken merges quadratically in a piece's length" : ", all") + ")");
console.log("tokenizer      tinkerc MB/s   HF Rust MB/s   ratio   tiktoken MB/s   ratio   ids");
let ok = true;
for (const fam of ["llama3", "qwen3", "deepseek_v3", "gptoss"]) {
  const t = get("tinkerc", fam), h = get("hf", fam);
  const same = t.digest === h.digest;
  ok = ok && same;
  let row = fam.padEnd(14) + fmt(t.mb_per_s.toFixed(1), 13) + fmt(h.mb_per_s.toFixed(2), 15) + fmt((t.mb_per_s / h.mb_per_s).toFixed(1) + "x", 8);
  if (fam === "gptoss") {
    const k = get("tiktoken", "o200k_base");
    row += fmt(k.mb_per_s.toFixed(2), 16) + fmt((t.mb_per_s / k.mb_per_s).toFixed(1) + "x", 8);
  } else row += " ".repeat(24);
  console.log(row + "   " + (same ? "identical" : "DIFFERENT"));
}
{
  const t = get("tinkerc", "o200k_base"), k = get("tiktoken", "o200k_base");
  const same = t.digest === k.digest;
  ok = ok && same;
  console.log("o200k_base".padEnd(14) + fmt(t.mb_per_s.toFixed(1), 13) + " ".repeat(23) + fmt(k.mb_per_s.toFixed(2), 16) +
    fmt((t.mb_per_s / k.mb_per_s).toFixed(1) + "x", 8) + "   " + (same ? "identical" : "DIFFERENT") + "  (tiktoken-format loader)");
}
const tl = lines.find((l) => l.side === "tinkerc" && l.load), hl = lines.find((l) => l.side === "hf" && l.load);
if (!ok) { console.log("ERROR: ids differ"); process.exit(1); }
if (!tl) process.exit(0);
console.log("");
console.log("Qwen3 tokenizer.json load: tinkerc " + tl.ms.toFixed(1) + " ms (cpu " + tl.cpu_ms.toFixed(1) + " ms), peak RSS " +
  tl.peak_rss_mb.toFixed(1) + " MB (whole process); HF Rust " + hl.ms.toFixed(0) + " ms, ratio " + (hl.ms / tl.ms).toFixed(1) + "x");
JS
done
