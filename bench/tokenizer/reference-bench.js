// The reference side of bench/tokenizer: single-thread encode throughput of Hugging Face's Rust
// tokenizers (@anush008/tokenizers, the native Node module) and of OpenAI's tiktoken (its
// WASM build, o200k_base) on the same corpus, the digest of their ids (compared with ours by
// run.sh), and the time HF takes to load Qwen3's tokenizer.json.
//
// Usage: node bench/tokenizer/reference-bench.js CORPUS [REPEATS]
// Prints one JSON object per line.
"use strict";
process.env.RAYON_NUM_THREADS = "1";
process.env.TOKENIZERS_PARALLELISM = "false";
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "../..");
const nm = path.join(root, ".cache/npm/node_modules");
const { Tokenizer } = require(path.join(nm, "@anush008/tokenizers"));
const { Tiktoken } = require(path.join(nm, "tiktoken/lite/tiktoken.cjs"));

const corpusFile = process.argv[2];
const repeats = Number(process.argv[3] || 3);

// TK_BENCH_SKIP_LONG=1 leaves out the long repetitive documents (as bench_tokenizer does).
function readCorpus(file) {
  const b = fs.readFileSync(file);
  const docs = [];
  const skipLong = process.env.TK_BENCH_SKIP_LONG === "1";
  let o = 10;
  while (o < b.length) {
    const nl = b.readUInt32LE(o);
    const name = b.slice(o + 4, o + 4 + nl).toString();
    o += 4 + nl;
    const l = b.readUInt32LE(o);
    o += 4;
    if (!(skipLong && (name.startsWith("repeat-") || name.startsWith("long-")))) docs.push(b.slice(o, o + l));
    o += l;
  }
  return docs;
}

function digestAdd(d, ids) {
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i] >>> 0;
    d.h1 = Math.imul(d.h1 ^ v, 0x9e3779b1) >>> 0;
    d.h1 = (d.h1 ^ (d.h1 >>> 16)) >>> 0;
    d.h2 = Math.imul((d.h2 + v + 0x7f4a7c15) >>> 0, 0x85ebca77) >>> 0;
    d.h2 = (d.h2 ^ (d.h2 >>> 13)) >>> 0;
  }
  d.n += ids.length;
}
const hex = (d) => d.h1.toString(16).padStart(8, "0") + d.h2.toString(16).padStart(8, "0");

// Texts are decoded once, outside the timed loop (the C side takes bytes).
const dec = new TextDecoder("utf-8", { ignoreBOM: true });
const bufs = readCorpus(corpusFile);
const texts = bufs.map((b) => dec.decode(b));
const bytes = bufs.reduce((a, b) => a + b.length, 0);

async function timeIt(fn) {
  let best = Infinity, bestCpu = Infinity, d = null;
  for (let r = 0; r < repeats; r++) {
    const dd = { h1: 0x811c9dc5, h2: 0x5bd1e995, n: 0 };
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (const t of texts) digestAdd(dd, await fn(t));
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const cu = process.cpuUsage(c0);
    best = Math.min(best, dt);
    bestCpu = Math.min(bestCpu, (cu.user + cu.system) / 1e6);
    d = dd;
  }
  return { seconds: best, cpu_seconds: bestCpu, d };
}

(async () => {
  for (const fam of ["llama3", "qwen3", "deepseek_v3", "gptoss"]) {
    const tok = Tokenizer.fromFile(path.join(root, ".cache/tokenizers", fam, "tokenizer.json"));
    const r = await timeIt(async (t) => (await tok.encode(t, null, { addSpecialTokens: false })).getIds());
    console.log(JSON.stringify({ side: "hf", name: fam, bytes, docs: texts.length, tokens: r.d.n, seconds: r.seconds,
      cpu_seconds: r.cpu_seconds, mb_per_s: bytes / r.seconds / 1e6, digest: hex(r.d) }));
  }
  const enc = require(path.join(nm, "tiktoken/encoders/o200k_base.json"));
  const tk = new Tiktoken(enc.bpe_ranks, enc.special_tokens, enc.pat_str);
  const r = await timeIt(async (t) => tk.encode(t, "all"));
  console.log(JSON.stringify({ side: "tiktoken", name: "o200k_base", bytes, docs: texts.length, tokens: r.d.n,
    seconds: r.seconds, cpu_seconds: r.cpu_seconds, mb_per_s: bytes / r.seconds / 1e6, digest: hex(r.d) }));
  tk.free();
  if (process.env.TK_BENCH_SKIP_LONG === "1") return;
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    Tokenizer.fromFile(path.join(root, ".cache/tokenizers/qwen3/tokenizer.json"));
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(JSON.stringify({ side: "hf", load: "qwen3", ms: best }));
})();
