// Reference token ids for tinkerc's tokenizer parity test, computed by the real implementations:
//   @anush008/tokenizers  Hugging Face's Rust `tokenizers` (0.22) as a native Node module
//   @lenml/tokenizers     the transformers.js port
//   tiktoken              OpenAI's tiktoken (WASM build), o200k_base
// over the corpus made by tests/data/tokenizer/make-corpus.js, for the four real tokenizers in
// .cache/tokenizers.
//
//   node tests/reference/tokenizer-reference.js --prepare DIR
//       write DIR/corpus.bin and DIR/o200k_base.tiktoken (what the C test needs; a few seconds)
//   node tests/reference/tokenizer-reference.js --fixture
//       compute every reference (minutes) and write tests/data/tokenizer/reference.json: a
//       64-bit digest of the reference ids of every document (see digest() below), the decode
//       cases and the tiktoken results. The C test compares its own ids' digests with these.
//   node tests/reference/tokenizer-reference.js --explain FAMILY on|off DOC...
//       print the reference ids of some documents (the C test calls this to show a mismatch)
//
// Full results are cached in .cache/tokenizer-ref/<hash of every input>/; id files there hold,
// per document, u32le count then that many i32le ids, where a count of 0xFFFFFFFF means "the
// same ids as with split_special_tokens=false" (documents with no special-token text).
//
// split_special_tokens: the Node bindings do not expose HF's encode_special_tokens switch. Its
// effect is that a special added token is skipped where it matches, so its text goes through the
// normal pipeline. The same ids come from a copy of tokenizer.json in which each special token
// that is also in the model vocabulary is dropped from added_tokens and every other special
// token gets a content no document contains: HF numbers added tokens by their order, so the ids
// of all other tokens stay as they were. (No special token overlaps a non-special one in these
// files, the one case where the two could differ; the script checks that.)
//
// Documents are decoded from bytes the way Python's bytes.decode("utf-8", "replace") does:
// ill-formed sequences become U+FFFD and a leading byte order mark is kept.
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const { spawnSync, fork } = require("child_process");

const FAMILIES = ["llama3", "qwen3", "deepseek_v3", "gptoss"];

function readCorpus(file) {
  const b = fs.readFileSync(file);
  if (b.slice(0, 10).toString() !== "TKCORPUS1\n") throw new Error(file + ": not a corpus file");
  const docs = [];
  let o = 10;
  while (o < b.length) {
    const nl = b.readUInt32LE(o);
    o += 4;
    const name = b.slice(o, o + nl).toString();
    o += nl;
    const l = b.readUInt32LE(o);
    o += 4;
    docs.push({ name, bytes: b.slice(o, o + l) });
    o += l;
  }
  return docs;
}

class IdWriter {
  constructor(file) {
    this.file = file;
    this.parts = [];
  }
  put(ids) {
    const b = Buffer.alloc(4 + 4 * ids.length);
    b.writeUInt32LE(ids.length, 0);
    for (let i = 0; i < ids.length; i++) b.writeInt32LE(ids[i], 4 + 4 * i);
    this.parts.push(b);
  }
  same() {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(0xffffffff, 0);
    this.parts.push(b);
  }
  close() {
    fs.writeFileSync(this.file, Buffer.concat(this.parts));
  }
}

function nodeModules(root) {
  return path.join(root, ".cache/npm/node_modules");
}

// A seeded generator so the decode cases are the same every run.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Llama 3 with the TemplateProcessing post-processor of Meta's own files (prepends
// <|begin_of_text|> with add_special_tokens); the npm copy has only the ByteLevel processor.
function templateJson(json) {
  return Object.assign({}, json, {
    post_processor: {
      type: "Sequence",
      processors: [
        { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: "TemplateProcessing",
          single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
          pair: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
            { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
          special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] } },
        },
      ],
    },
  });
}

function writeTemplateTokenizer(root, dir) {
  const src = path.join(root, ".cache/tokenizers/llama3");
  const json = JSON.parse(fs.readFileSync(path.join(src, "tokenizer.json"), "utf8"));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(templateJson(json)));
  fs.copyFileSync(path.join(src, "tokenizer_config.json"), path.join(dir, "tokenizer_config.json"));
}

// A tokenizer.json whose special added tokens never match (see the header).
const UNMATCHABLE = "\u0000\u0001\u0002<<no-match-";
function splitSpecialJson(json) {
  const added = [];
  let k = 0;
  for (const t of json.added_tokens) {
    if (!t.special) added.push(t);
    else if (json.model.vocab[t.content] === undefined) added.push(Object.assign({}, t, { content: UNMATCHABLE + k++ + ">>" }));
  }
  return Object.assign({}, json, { added_tokens: added });
}

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

// 64-bit digest of a sequence of 32-bit values (ids, or bytes), two 32-bit lanes. The C test
// computes the same (tests/tokenizer/parity_util.h).
function digest(values) {
  let h1 = (0x811c9dc5 ^ values.length) >>> 0;
  let h2 = (0x5bd1e995 ^ values.length) >>> 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] >>> 0;
    h1 = Math.imul(h1 ^ v, 0x9e3779b1) >>> 0;
    h1 = (h1 ^ (h1 >>> 16)) >>> 0;
    h2 = Math.imul((h2 + v + 0x7f4a7c15) >>> 0, 0x85ebca77) >>> 0;
    h2 = (h2 ^ (h2 >>> 13)) >>> 0;
  }
  return h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0");
}

// ---- one tokenizer family (runs in a child process) --------------------------------------------
async function family(root, dir, fam) {
  const nm = nodeModules(root);
  const { Tokenizer } = require(path.join(nm, "@anush008/tokenizers"));
  const { TokenizerLoader } = require(path.join(nm, "@lenml/tokenizers"));
  const tokDir = path.join(root, ".cache/tokenizers", fam);
  const jsonText = fs.readFileSync(path.join(tokDir, "tokenizer.json"), "utf8");
  const json = JSON.parse(jsonText);
  const config = JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer_config.json"), "utf8"));
  const specials = json.added_tokens.filter((t) => t.special).map((t) => t.content);
  const nonSpecials = json.added_tokens.filter((t) => !t.special).map((t) => t.content);
  for (const s of specials)
    for (const n of nonSpecials)
      if (s.includes(n) || n.includes(s)) throw new Error(fam + ": special " + s + " overlaps " + n);
  const splitJson = splitSpecialJson(json);

  const hf = Tokenizer.fromString(jsonText);
  const hfSplit = Tokenizer.fromString(JSON.stringify(splitJson));
  const lm = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
  const lmSplit = TokenizerLoader.fromPreTrained({ tokenizerJSON: splitJson, tokenizerConfig: config });

  const docs = readCorpus(path.join(dir, "corpus.bin"));
  const dec = decoder;
  const w = {
    hfOff: new IdWriter(path.join(dir, fam + ".hf.off")),
    hfOn: new IdWriter(path.join(dir, fam + ".hf.on")),
    lmOff: new IdWriter(path.join(dir, fam + ".lenml.off")),
    lmOn: new IdWriter(path.join(dir, fam + ".lenml.on")),
  };
  let lenmlDiffers = 0;
  const differing = [];
  for (let k = 0; k < docs.length; k++) {
    const text = dec.decode(docs[k].bytes);
    const off = (await hf.encode(text, null, { addSpecialTokens: false })).getIds();
    w.hfOff.put(off);
    const lmo = lm.encode(text, { add_special_tokens: false });
    w.lmOff.put(lmo);
    if (lmo.length !== off.length || lmo.some((v, i) => v !== off[i])) {
      lenmlDiffers++;
      if (differing.length < 20) differing.push(docs[k].name);
    }
    if (text.includes(UNMATCHABLE)) throw new Error(docs[k].name + " contains the unmatchable marker");
    if (specials.some((s) => text.includes(s))) {
      w.hfOn.put((await hfSplit.encode(text, null, { addSpecialTokens: false })).getIds());
      w.lmOn.put(lmSplit.encode(text, { add_special_tokens: false }));
    } else {
      w.hfOn.same();
      w.lmOn.same();
    }
  }
  for (const x of Object.values(w)) x.close();

  // decoding random id sequences, with and without skip_special_tokens
  const r = rng(0x5eed + fam.length);
  const vocab = hf.getVocabSize(true);
  const added = json.added_tokens.map((t) => t.id);
  const cases = [];
  for (let c = 0; c < 100; c++) {
    const n = 1 + Math.floor(r() * 40);
    const ids = [];
    for (let i = 0; i < n; i++) {
      const x = r();
      ids.push(x < 0.15 ? added[Math.floor(r() * added.length)] : Math.floor(r() * vocab));
    }
    cases.push({ ids, text: await hf.decode(ids, false), skipped: await hf.decode(ids, true) });
  }
  fs.writeFileSync(path.join(dir, fam + ".decode.json"), JSON.stringify(cases));

  // add_special_tokens through a TemplateProcessing post-processor: Meta's own Llama 3 files
  // prepend <|begin_of_text|> this way (the npm copy has only the ByteLevel processor)
  let template = null;
  if (fam === "llama3") {
    const tj = templateJson(json);
    const tdir = path.join(dir, "llama3-template");
    fs.mkdirSync(tdir, { recursive: true });
    fs.writeFileSync(path.join(tdir, "tokenizer.json"), JSON.stringify(tj));
    fs.writeFileSync(path.join(tdir, "tokenizer_config.json"), JSON.stringify(config));
    const ht = Tokenizer.fromString(JSON.stringify(tj));
    const wt = new IdWriter(path.join(dir, "llama3-template.hf.bos"));
    for (let k = 0; k < 300 && k < docs.length; k++) {
      const text = dec.decode(docs[k].bytes);
      wt.put((await ht.encode(text, null, { addSpecialTokens: true })).getIds());
    }
    wt.close();
    template = { dir: "llama3-template", ids: "llama3-template.hf.bos", docs: Math.min(300, docs.length) };
  }
  return { lenml_differs: lenmlDiffers, lenml_differing_docs: differing, template };
}

// ---- tiktoken o200k_base ------------------------------------------------------------------
function tiktokenRef(root, dir) {
  const nm = nodeModules(root);
  const { Tiktoken } = require(path.join(nm, "tiktoken/lite/tiktoken.cjs"));
  const enc = require(path.join(nm, "tiktoken/encoders/o200k_base.json"));
  writeRanks(root, path.join(dir, "o200k_base.tiktoken"));
  const t = new Tiktoken(enc.bpe_ranks, enc.special_tokens, enc.pat_str);
  const docs = readCorpus(path.join(dir, "corpus.bin"));
  const dec = decoder;
  const ord = new IdWriter(path.join(dir, "o200k.ordinary"));
  const all = new IdWriter(path.join(dir, "o200k.all"));
  const specials = Object.keys(enc.special_tokens);
  for (const d of docs) {
    const text = dec.decode(d.bytes);
    ord.put(Array.from(t.encode_ordinary(text)));
    if (specials.some((s) => text.includes(s))) all.put(Array.from(t.encode(text, "all")));
    else all.same();
  }
  ord.close();
  all.close();
  t.free();
  return { ranks: "o200k_base.tiktoken", pattern: enc.pat_str, special_tokens: enc.special_tokens,
    ordinary: "o200k.ordinary", all: "o200k.all" };
}

// ---- driver ------------------------------------------------------------------------------------
function inputsHash(root) {
  const h = crypto.createHash("sha256");
  const files = [path.join(root, "tests/data/tokenizer/make-corpus.js"), __filename,
    path.join(root, "tests/reference/package-lock.json")];
  for (const fam of FAMILIES)
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) files.push(path.join(root, ".cache/tokenizers", fam, f));
  for (const f of files) {
    h.update(f.slice(root.length));
    h.update(fs.readFileSync(f));
  }
  return h.digest("hex").slice(0, 16);
}

function runWorker(args) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let result = null;
    child.on("message", (m) => (result = m));
    child.on("exit", (code) => (code === 0 && result ? resolve(result) : reject(new Error(args.join(" ") + " failed"))));
  });
}

function makeCorpus(root, file) {
  const gen = spawnSync(process.execPath, [path.join(root, "tests/data/tokenizer/make-corpus.js"), file,
    path.join(root, ".cache/tokenizers")], { stdio: ["ignore", "ignore", "inherit"] });
  if (gen.status !== 0) throw new Error("make-corpus.js failed");
}

// Compute (or find cached) full reference results; returns the directory.
async function compute(root) {
  const outRoot = path.join(root, ".cache/tokenizer-ref");
  const dir = path.join(outRoot, inputsHash(root));
  if (fs.existsSync(path.join(dir, "manifest.json"))) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  makeCorpus(root, path.join(dir, "corpus.bin"));
  // two workers at a time: the build machines have two cores
  const jobs = [...FAMILIES, "tiktoken"];
  const results = {};
  let next = 0;
  async function lane() {
    while (next < jobs.length) {
      const job = jobs[next++];
      results[job] = await runWorker(["--worker", root, dir, job]);
    }
  }
  await Promise.all([lane(), lane()]);
  const manifest = { corpus: "corpus.bin", seconds: (Date.now() - t0) / 1000, families: {}, tiktoken: results.tiktoken };
  for (const fam of FAMILIES) {
    manifest.families[fam] = Object.assign({
      hf_off: fam + ".hf.off", hf_on: fam + ".hf.on", lenml_off: fam + ".lenml.off", lenml_on: fam + ".lenml.on",
      decode: fam + ".decode.json",
    }, results[fam]);
  }
  fs.writeFileSync(path.join(dir, "manifest.json.tmp"), JSON.stringify(manifest, null, 1));
  fs.renameSync(path.join(dir, "manifest.json.tmp"), path.join(dir, "manifest.json"));
  console.error("tokenizer-reference: computed in " + manifest.seconds + " s in " + dir);
  return dir;
}

function readIds(file) {
  const b = fs.readFileSync(file);
  const out = [];
  let o = 0;
  while (o < b.length) {
    const n = b.readUInt32LE(o);
    o += 4;
    if (n === 0xffffffff) {
      out.push(null);
      continue;
    }
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[i] = b.readInt32LE(o + 4 * i);
    o += 4 * n;
    out.push(ids);
  }
  return out;
}

function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Vocabulary facts from the references: sizes, token <-> id, special tokens, and the BOS/EOS/pad
// that tokenizer_config.json gives (as transformers.js reads it).
async function familyMeta(root, fam) {
  const nm = nodeModules(root);
  const { Tokenizer } = require(path.join(nm, "@anush008/tokenizers"));
  const { TokenizerLoader } = require(path.join(nm, "@lenml/tokenizers"));
  const dir = path.join(root, ".cache/tokenizers", fam);
  const json = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  const hf = Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
  const lm = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
  const r = rng(0x70c + fam.length);
  const vocab = hf.getVocabSize(true);
  const ids = [0, 1, 2, 100, vocab - 1];
  for (let i = 0; i < 60; i++) ids.push(Math.floor(r() * vocab));
  for (const t of json.added_tokens.slice(0, 20)) ids.push(t.id);
  const id_to_token = {};
  for (const id of ids) id_to_token[id] = hf.idToToken(id);
  const token_to_id = {};
  for (const t of ["hello", "Ġhello", "ĠĠ", "<|endoftext|>", "<|im_end|>", "<think>", "not-a-token-xyz", "Ċ",
    ...json.added_tokens.slice(-5).map((t) => t.content)]) token_to_id[t] = hf.tokenToId(t);
  const special = json.added_tokens.filter((t) => t.special).map((t) => t.id);
  const num = (x) => (x === undefined || x === null ? -1 : x);
  return { vocab_size: vocab, id_to_token, token_to_id, special_ids: special,
    bos: num(lm.bos_token_id), eos: num(lm.eos_token_id), pad: num(lm.pad_token_id),
    has_chat_template: typeof config.chat_template === "string" };
}

async function writeFixture(root) {
  const dir = await compute(root);
  const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json")));
  const corpus = fs.readFileSync(path.join(dir, "corpus.bin"));
  const nm = nodeModules(root);
  const ver = (p) => JSON.parse(fs.readFileSync(path.join(nm, p, "package.json"))).version;
  const fx = {
    generated_by: "node tests/reference/tokenizer-reference.js --fixture",
    references: { "@anush008/tokenizers": ver("@anush008/tokenizers"), "@lenml/tokenizers": ver("@lenml/tokenizers"),
      tiktoken: ver("tiktoken") },
    corpus: { bytes: corpus.length, docs: readCorpus(path.join(dir, "corpus.bin")).length, digest: digest(corpus) },
    families: {},
  };
  for (const fam of FAMILIES) {
    const f = m.families[fam];
    const off = readIds(path.join(dir, f.hf_off)), on = readIds(path.join(dir, f.hf_on));
    const loff = readIds(path.join(dir, f.lenml_off)), lon = readIds(path.join(dir, f.lenml_on));
    const out = { off: off.map(digest), on: {}, lenml_differs_off: {}, lenml_differs_on: {}, decode: [] };
    for (let k = 0; k < off.length; k++) {
      if (on[k]) out.on[k] = digest(on[k]);
      if (!same(loff[k], off[k])) out.lenml_differs_off[k] = digest(loff[k]);
      const a = on[k] || off[k], b = lon[k] || loff[k];
      if (!same(a, b)) out.lenml_differs_on[k] = digest(b);
    }
    for (const c of JSON.parse(fs.readFileSync(path.join(dir, f.decode))))
      out.decode.push({ ids: c.ids, text: digest(Buffer.from(c.text, "utf8")), skipped: digest(Buffer.from(c.skipped, "utf8")) });
    out.meta = await familyMeta(root, fam);
    fx.families[fam] = out;
  }
  const tpl = m.families.llama3.template;
  fx.llama3_template = { docs: tpl.docs, post_processor: JSON.parse(fs.readFileSync(path.join(dir, tpl.dir, "tokenizer.json"))).post_processor,
    bos: readIds(path.join(dir, tpl.ids)).map(digest) };
  const tk = m.tiktoken;
  const ord = readIds(path.join(dir, tk.ordinary)), all = readIds(path.join(dir, tk.all));
  fx.o200k = { pattern: tk.pattern, special_tokens: tk.special_tokens, ordinary: ord.map(digest), all: {} };
  for (let k = 0; k < all.length; k++) if (all[k]) fx.o200k.all[k] = digest(all[k]);
  const file = path.join(root, "tests/data/tokenizer/reference.json");
  fs.writeFileSync(file, JSON.stringify(fx) + "\n");
  console.error("tokenizer-reference: wrote " + file);
}

async function explain(root, fam, mode, docIdx) {
  const nm = nodeModules(root);
  const { Tokenizer } = require(path.join(nm, "@anush008/tokenizers"));
  const json = JSON.parse(fs.readFileSync(path.join(root, ".cache/tokenizers", fam, "tokenizer.json"), "utf8"));
  const tok = Tokenizer.fromString(JSON.stringify(mode === "on" ? splitSpecialJson(json) : json));
  const tmp = path.join(require("os").tmpdir(), "tinkerc-corpus-" + process.pid + ".bin");
  makeCorpus(root, tmp);
  const docs = readCorpus(tmp);
  fs.rmSync(tmp, { force: true });
  const out = {};
  for (const k of docIdx) out[k] = Array.from((await tok.encode(decoder.decode(docs[k].bytes), null, { addSpecialTokens: false })).getIds());
  console.log(JSON.stringify(out));
}

function writeRanks(root, file) {
  const enc = require(path.join(nodeModules(root), "tiktoken/encoders/o200k_base.json"));
  // the package stores ranks as "! <first rank> <base64> <base64> ..." (consecutive ranks);
  // write the usual one-pair-per-line .tiktoken file that tinkerc loads
  const lines = [];
  for (const line of enc.bpe_ranks.split("\n")) {
    if (!line) continue;
    const parts = line.split(" ");
    if (parts[0] !== "!") throw new Error("unexpected o200k_base ranks format");
    let rank = Number(parts[1]);
    for (const tok of parts.slice(2)) lines.push(tok + " " + rank++);
  }
  fs.writeFileSync(file, lines.join("\n") + "\n");
}

async function main() {
  const mode = process.argv[2];
  if (mode === "--worker") {
    const [, , , root, dir, what] = process.argv;
    const res = what === "tiktoken" ? tiktokenRef(root, dir) : await family(root, dir, what);
    process.send(res, () => process.exit(0));
    return;
  }
  const root = path.resolve(__dirname, "../..");
  if (mode === "--prepare") {
    const dir = path.resolve(process.argv[3]);
    fs.mkdirSync(dir, { recursive: true });
    makeCorpus(root, path.join(dir, "corpus.bin"));
    writeRanks(root, path.join(dir, "o200k_base.tiktoken"));
    writeTemplateTokenizer(root, path.join(dir, "llama3-template"));
    console.log(dir);
  } else if (mode === "--fixture") {
    await writeFixture(root);
  } else if (mode === "--explain") {
    await explain(root, process.argv[3], process.argv[4], process.argv.slice(5).map(Number));
  } else {
    console.error("usage: tokenizer-reference.js --prepare DIR | --fixture | --explain FAMILY on|off DOC...");
    process.exit(2);
  }
}

main().catch((e) => {
  console.error("tokenizer-reference: " + (e.stack || e));
  process.exit(1);
});
