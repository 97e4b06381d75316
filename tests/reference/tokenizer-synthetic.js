// Small synthetic tokenizer.json files that exercise one HF component each (normalizers,
// pre-tokenizer behaviours, added-token flags, post-processors, byte_fallback, unk, both merge
// formats), and the ids and text Hugging Face's Rust tokenizers (@anush008/tokenizers) gives for
// a set of test strings. Written to tests/data/tokenizer/synthetic/ and committed, so the unit
// tests need no Node at run time.
//
// Usage: node tests/reference/tokenizer-synthetic.js
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "../..");
const outDir = path.join(root, "tests/data/tokenizer/synthetic");
const { Tokenizer } = require(path.join(root, ".cache/npm/node_modules/@anush008/tokenizers"));

// GPT-2's byte-to-character table
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const m = {};
  bs.forEach((b, i) => (m[b] = String.fromCodePoint(cs[i])));
  return m;
}
const B2U = bytesToUnicode();
const bl = (s) => Array.from(Buffer.from(s, "utf8"), (b) => B2U[b]).join("");

// A small vocabulary: the 256 byte characters, then tokens built by these merges (in rank
// order; each merge's result must be spelled by its two parts).
const mergeWords = [
  ["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["i", "n"], ["in", "g"], ["Ġ", "a"], ["e", "r"], ["o", "n"],
  ["r", "e"], ["Ġ", "s"], ["a", "n"], ["Ġa", "n"], ["Ġan", "d"], ["t", "h"], ["Ġ", "w"], ["o", "r"],
  ["l", "l"], ["e", "s"], ["Ġ", "o"], ["Ġo", "f"], ["i", "s"], ["Ġ", "i"], ["Ġi", "s"], ["'", "s"],
  ["'", "t"], ["Ġ", "Ġ"], ["ĠĠ", "ĠĠ"], ["Ċ", "Ċ"], ["1", "2"], ["12", "3"], ["Ġ", "1"], ["Ã", "©"],
  ["c", "af"], ["a", "f"], ["caf", "Ã©"], ["Ġ", "caf"], ["ä", "½"], ["ä½", "ł"], ["å", "¥"], ["å¥", "½"],
  ["ð", "Ł"], ["ðŁ", "ĺ"], ["ðŁĺ", "Ģ"], ["l", "o"], ["lo", "w"], ["Ġ", "low"], ["e", "st"], ["s", "t"],
  ["Ġlow", "est"], ["n", "ew"], ["e", "w"], ["Ġ", "new"], ["Ġnew", "er"], ["<", "|"], ["|", ">"],
];
function buildVocab(extra = []) {
  const vocab = {};
  let id = 0;
  for (let b = 0; b < 256; b++) vocab[B2U[b]] = id++;
  for (const [a, b] of mergeWords) {
    if (vocab[a + b] === undefined) vocab[a + b] = id++;
  }
  for (const t of extra) if (vocab[t] === undefined) vocab[t] = id++;
  return vocab;
}
function checkMerges(vocab, merges) {
  for (const [a, b] of merges)
    if (vocab[a] === undefined || vocab[b] === undefined || vocab[a + b] === undefined)
      throw new Error("bad merge " + a + " " + b);
}

function addedToken(id, content, o = {}) {
  return Object.assign({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }, o);
}

const byteLevelDecoder = { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true };
const llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

function tokenizer({ normalizer = null, pre_tokenizer, post_processor = null, added = [], model = {}, vocabExtra = [], mergesStyle = "pairs", drop = [] }) {
  const vocab = buildVocab(vocabExtra);
  for (const d of drop) delete vocab[d];
  const merges = mergeWords.filter(([a, b]) => vocab[a] !== undefined && vocab[b] !== undefined && vocab[a + b] !== undefined);
  checkMerges(vocab, merges);
  const n = Object.keys(vocab).length;
  const addedTokens = added.map((a, i) => addedToken(n + i, a.content, a));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer,
    pre_tokenizer,
    post_processor,
    decoder: byteLevelDecoder,
    model: Object.assign({
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab,
      merges: mergesStyle === "pairs" ? merges : merges.map(([a, b]) => a + " " + b),
    }, model),
  };
}

const variants = {
  // GPT-2 style: ByteLevel pre-tokenizer with its own regex, legacy "a b" merges
  gpt2: tokenizer({
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    mergesStyle: "legacy",
    added: [{ content: "<|endoftext|>" }],
  }),
  // ByteLevel adding a prefix space to every piece of an earlier split
  prefix_space: tokenizer({
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { String: "|" }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true }] },
  }),
  // Llama 3 style with ignore_merges, NFC, a BOS/EOS template and added tokens with every flag
  added_flags: tokenizer({
    normalizer: { type: "NFC" },
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: llama3Regex }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    model: { ignore_merges: true },
    vocabExtra: [bl("lowest"), bl(" lowest")],
    added: [
      { content: "<bos>" }, { content: "<eos>" },
      { content: "[L]", lstrip: true }, { content: "[R]", rstrip: true }, { content: "[LR]", lstrip: true, rstrip: true },
      { content: "word", single_word: true, special: false },
      { content: "café", normalized: true, special: false },
      { content: "<tool>", special: false },
      { content: "<tool_call>", special: false },
    ],
    post_processor: { type: "Sequence", processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<bos>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<eos>", type_id: 0 } }],
        pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
        special_tokens: { "<bos>": { id: "<bos>", ids: [0], tokens: ["<bos>"] }, "<eos>": { id: "<eos>", ids: [0], tokens: ["<eos>"] } } }] },
  }),
  // split behaviours, inversion, Digits, NFD then NFKC, RobertaProcessing
  behaviors: tokenizer({
    normalizer: { type: "Sequence", normalizers: [{ type: "NFD" }, { type: "NFKC" }] },
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { String: " " }, behavior: "MergedWithPrevious", invert: false },
      { type: "Split", pattern: { Regex: "\\p{N}+" }, behavior: "Contiguous", invert: true },
      { type: "Digits", individual_digits: true },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: { type: "RobertaProcessing", sep: ["</s>", 0], cls: ["<s>", 0], trim_offsets: true, add_prefix_space: false },
    added: [{ content: "<s>" }, { content: "</s>" }],
  }),
  removed: tokenizer({
    normalizer: { type: "NFKD" },
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: "[,;]" }, behavior: "Removed", invert: false },
      { type: "Split", pattern: { Regex: "x" }, behavior: "MergedWithNext", invert: false },
      { type: "Digits", individual_digits: false },
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: false }] },
    post_processor: { type: "BertProcessing", sep: ["[SEP]", 0], cls: ["[CLS]", 0] },
    added: [{ content: "[CLS]" }, { content: "[SEP]" }],
  }),
  // bytes missing from the vocabulary: byte_fallback to <0xXX> tokens
  fallback: tokenizer({
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { byte_fallback: true },
    drop: [B2U[0x20], B2U[0xc3], "Ã©"],
    vocabExtra: ["<0xC4>", "<0xA0>", "<0xC3>", "<0x83>"],
  }),
  // ... or to a fused unk token
  unk: tokenizer({
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { unk_token: "<unk>", fuse_unk: true },
    drop: [B2U[0xe4], B2U[0xbd], B2U[0x7a], B2U[0x71]],
    vocabExtra: ["<unk>"],
  }),
};
// ids in the templates name real tokens
for (const v of Object.values(variants)) {
  const pp = v.post_processor;
  const fix = (name) => v.added_tokens.find((t) => t.content === name).id;
  const tps = pp && pp.type === "Sequence" ? pp.processors.filter((p) => p.type === "TemplateProcessing") : [];
  for (const tp of tps) for (const [k, st] of Object.entries(tp.special_tokens)) st.ids = [fix(k)];
  if (pp && (pp.type === "RobertaProcessing" || pp.type === "BertProcessing")) {
    pp.sep[1] = fix(pp.sep[0]);
    pp.cls[1] = fix(pp.cls[0]);
  }
}

const strings = [
  "", " ", "the", " the", "the and of is", "Hello world!", "I'm here, it's fine; don't", "The caf\u00e9 and cafe\u0301",
  "low lowest newer newest", "123 4567 1234567890", "x1y22z333", "a,b;c,,d", "xxabcx", "tab\there\r\nnew\n\nline   ",
  "  leading and trailing  ", "你好世界 ðŸ", "😀😀 emoji", "<|endoftext|>", "a<|endoftext|>b", "<bos> <eos>",
  "x [L] y", "x   [R]   y", "x  [LR]  y", "[L][R][LR]", "word sword words word. (word)", "café CAFÉ cafe\u0301",
  "<tool><tool_call><tool_call", "<s> x </s>", "[CLS] a [SEP]", "one|two|three", "|start|end|", "a|b c|d",
  "ｆｕｌｌ ｗｉｄｔｈ １２３", "\u212b \u2126 \u1e9b\u0323", "ﬁ ﬂ ² ½", "zzq qz", "\u00a0nbsp\u2003em", "\u0085 nel",
];

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const expected = { generated_by: "node tests/reference/tokenizer-synthetic.js", strings, variants: {} };
  for (const [name, json] of Object.entries(variants)) {
    const dir = path.join(outDir, name);
    fs.mkdirSync(dir, { recursive: true });
    const text = JSON.stringify(json);
    fs.writeFileSync(path.join(dir, "tokenizer.json"), text);
    const hf = Tokenizer.fromString(text);
    const cases = [];
    for (const s of strings) {
      const plain = Array.from((await hf.encode(s, null, { addSpecialTokens: false })).getIds());
      const withSpecial = Array.from((await hf.encode(s, null, { addSpecialTokens: true })).getIds());
      cases.push({ plain, special: withSpecial, decoded: await hf.decode(withSpecial, false),
        decoded_skip: await hf.decode(withSpecial, true) });
    }
    expected.variants[name] = cases;
  }
  fs.writeFileSync(path.join(outDir, "expected.json"), JSON.stringify(expected, null, 0) + "\n");
  console.error("tokenizer-synthetic: wrote " + Object.keys(variants).length + " tokenizers to " + outDir);
})();
