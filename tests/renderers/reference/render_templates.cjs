// Render the models' own chat templates for the renderer parity tests.
//
// For every case of tests/data/renderers/parity/cases.json this renders the conversations of
// tests/data/renderers/parity/conversations.json with the case's template (from the npm
// package's tokenizer_config.json, or a file under tests/data/renderers/templates/) using
// @huggingface/jinja, with add_generation_prompt true ("gen") and false ("sup"), applies the
// case's listed intentional differences, and tokenizes the generation prompts with the Hugging
// Face tokenizers library (@anush008/tokenizers). Output: tests/data/renderers/parity/expected.json
// (committed, so `make test` needs neither node nor the network).
//
// Usage (from the repository root, after scripts/install-deps.sh):
//   node tests/renderers/reference/render_templates.cjs
"use strict";
const fs = require("fs");
const path = require("path");

const root = process.cwd();
const nm = path.join(root, ".cache/npm/node_modules");
const { Template } = require(path.join(nm, "@huggingface/jinja"));
const { Tokenizer } = require(path.join(nm, "@anush008/tokenizers"));

// strftime_now() in the gpt-oss template: pin "today" so fixtures are reproducible.
const FIXED_NOW = new Date(2025, 0, 1, 12, 0, 0).getTime();
const RealDate = Date;
global.Date = class extends RealDate {
  constructor(...a) { super(...(a.length ? a : [FIXED_NOW])); }
  static now() { return FIXED_NOW; }
};

const dataDir = path.join(root, "tests/data/renderers/parity");
const cases = JSON.parse(fs.readFileSync(path.join(dataDir, "cases.json"), "utf8"));
const convs = JSON.parse(fs.readFileSync(path.join(dataDir, "conversations.json"), "utf8"));

function tokenValue(t) { return t && typeof t === "object" ? t.content : t; }

// The cookbook's to_openai_message: text parts joined into content, reasoning in
// reasoning_content (Qwen, DeepSeek) / thinking (gpt-oss's template), OpenAI tool calls.
function templateMessages(messages, argsAsObject) {
  return messages.map((m) => {
    const o = { role: m.role };
    if (typeof m.content === "string") {
      o.content = m.content;
    } else {
      o.content = m.content.filter((p) => p.type === "text").map((p) => p.text).join("");
      const th = m.content.filter((p) => p.type === "thinking").map((p) => p.thinking).join("");
      if (th) { o.reasoning_content = th; o.thinking = th; }
    }
    if (m.tool_calls) {
      o.tool_calls = m.tool_calls.map((tc) => ({
        type: "function", id: tc.id,
        function: { name: tc.function.name,
                    arguments: argsAsObject ? JSON.parse(tc.function.arguments) : tc.function.arguments },
      }));
    }
    if (m.tool_call_id) o.tool_call_id = m.tool_call_id;
    if (m.name) o.name = m.name;
    return o;
  });
}

function applyDifferences(text, diffs, conv, mode) {
  let out = text;
  for (const d of diffs) {
    const convsOf = Array.isArray(d.conv) ? d.conv : [d.conv];
    if (!convsOf.includes("*") && !convsOf.includes(conv)) continue;
    if (d.mode !== "both" && d.mode !== mode) continue;
    if (!out.includes(d.template))
      throw new Error(`difference "${d.reason}" does not occur in the ${conv}/${mode} template output`);
    out = out.split(d.template).join(d.ours);
  }
  return out;
}

async function main() {
  const expected = { generated_by: "tests/renderers/reference/render_templates.cjs",
                     jinja: require(path.join(nm, "@huggingface/jinja/package.json")).version,
                     tokenizers: require(path.join(nm, "@anush008/tokenizers/package.json")).version,
                     cases: {} };
  const tokenizers = {};
  for (const c of cases) {
    const cfg = JSON.parse(fs.readFileSync(path.join(root, ".cache/tokenizers", c.family, "tokenizer_config.json"), "utf8"));
    const source = c.template === "npm" ? cfg.chat_template : fs.readFileSync(path.join(root, c.template), "utf8");
    if (!source) throw new Error(`${c.renderer}: no chat template`);
    const tpl = new Template(source);
    if (!tokenizers[c.family])
      tokenizers[c.family] = Tokenizer.fromFile(path.join(root, ".cache/tokenizers", c.family, "tokenizer.json"));
    const tok = tokenizers[c.family];
    for (const id of c.convs) {
      const out = {};
      for (const mode of ["gen", "sup"]) {
        if ((c.skip || []).includes(`${id}/${mode}`)) continue;
        const conv = convs[id][mode];
        const ctx = Object.assign({
          messages: templateMessages(conv.messages, c.family === "gptoss"),
          add_generation_prompt: mode === "gen",
          bos_token: tokenValue(cfg.bos_token) || "",
          eos_token: tokenValue(cfg.eos_token) || "",
        }, c.kwargs || {});
        if (conv.tools && c.declare_tools)
          ctx.tools = conv.tools.map((t) => ({ type: "function", function: t }));
        let text = tpl.render(ctx);
        if (mode === "sup" && c.sup_template_suffix && text.endsWith(c.sup_template_suffix))
          text = text.slice(0, -c.sup_template_suffix.length);
        // Templates end the last turn with the separator a next turn would need ("\n" after
        // <|im_end|>); a supervised example ends at the turn it trains, so drop that one
        // separator, as the cookbook's own supervised parity test does.
        if (mode === "sup" && text.endsWith("\n")) text = text.slice(0, -1);
        const adjusted = applyDifferences(text, c.differences || [], id, mode);
        out[mode] = { template_text: text, expected_text: adjusted };
        if (mode === "gen") {
          const enc = await tok.encode(adjusted, null, { addSpecialTokens: false });
          out[mode].expected_ids = Array.from(enc.getIds());
        }
      }
      expected.cases[`${c.renderer}/${id}`] = out;
    }
  }
  fs.writeFileSync(path.join(dataDir, "expected.json"), JSON.stringify(expected, null, 1) + "\n");
  console.log(`wrote ${Object.keys(expected.cases).length} cases to tests/data/renderers/parity/expected.json`);
  await randomParity();
}

// ---- random conversations -----------------------------------------------------------------
// Seeded random conversations (Unicode words, system prompts, reasoning, tool calls and results)
// rendered as generation prompts, for the formats whose template agrees with the renderer on
// such conversations. Written to tests/data/renderers/parity/random.json.

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

function text(rnd, prefix, max) {
  const n = 1 + Math.floor(rnd() * max);
  const w = [prefix];
  for (let i = 0; i < n; i++) w.push(WORDS[Math.floor(rnd() * WORDS.length)]);
  return w.join(rnd() < 0.2 ? "\n" : " ");
}

function randomConversation(seed, opts) {
  const rnd = mulberry32(seed);
  const messages = [];
  if (opts.system && rnd() < 0.5) messages.push({ role: "system", content: text(rnd, "sys", 10) });
  const turns = 1 + Math.floor(rnd() * 4);
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: text(rnd, "user", 20) });
    if (t === turns - 1) break;
    const think = opts.thinking && rnd() < 0.5;
    const content = think ? [{ type: "thinking", thinking: text(rnd, "think", 10) }, { type: "text", text: text(rnd, "asst", 15) }]
                          : text(rnd, "asst", 15);
    if (opts.tools && rnd() < 0.35) {
      const name = "tool_" + Math.floor(rnd() * 1e6);
      const id = "call_" + Math.floor(rnd() * 1e9);
      messages.push({ role: "assistant", content, tool_calls: [{ type: "function", id,
        function: { name, arguments: JSON.stringify({ arg: text(rnd, "v", 3) }).replace(/":/g, '": ') } }] });
      messages.push({ role: "tool", content: JSON.stringify({ result: text(rnd, "r", 3) }), tool_call_id: id, name });
      if (rnd() < 0.5) { // the turn continues: the prompt is for the answer after the tool result
        messages.push({ role: "user", content: text(rnd, "more", 5) });
      }
    } else {
      messages.push({ role: "assistant", content });
    }
  }
  return messages;
}

async function randomParity() {
  const specs = [
    { renderer: "qwen3", family: "qwen3", template: "npm", opts: { system: true, thinking: true, tools: true }, ids: true },
    { renderer: "llama3", family: "llama3", template: "npm", opts: { system: true }, ids: true },
    { renderer: "deepseekv3", family: "deepseek_v3", template: "tests/data/renderers/templates/deepseek_v3_1.jinja",
      kwargs: { thinking: false }, opts: { system: true, thinking: true, tools: true }, ids: false },
    { renderer: "gpt_oss_medium_reasoning", family: "gptoss", template: "tests/data/renderers/templates/gpt_oss.jinja",
      kwargs: { reasoning_effort: "medium" }, opts: { system: true }, ids: true },
  ];
  const out = { generated_by: "tests/renderers/reference/render_templates.cjs (randomParity)",
                why_no_ids: { deepseekv3: "the npm tokenizer is DeepSeek-V3's, without V3.1's </think> token (see cases.json)" },
                sets: {} };
  for (const sp of specs) {
    const cfg = JSON.parse(fs.readFileSync(path.join(root, ".cache/tokenizers", sp.family, "tokenizer_config.json"), "utf8"));
    const tpl = new Template(sp.template === "npm" ? cfg.chat_template : fs.readFileSync(path.join(root, sp.template), "utf8"));
    const tok = Tokenizer.fromFile(path.join(root, ".cache/tokenizers", sp.family, "tokenizer.json"));
    const items = [];
    for (let seed = 1; seed <= 60; seed++) {
      const messages = randomConversation(seed * 31 + sp.renderer.length, sp.opts);
      const ctx = Object.assign({ messages: templateMessages(messages, sp.family === "gptoss"), add_generation_prompt: true,
                                  bos_token: tokenValue(cfg.bos_token) || "", eos_token: tokenValue(cfg.eos_token) || "" }, sp.kwargs || {});
      const expected_text = tpl.render(ctx);
      const item = { messages, expected_text };
      if (sp.ids) item.expected_ids = Array.from((await tok.encode(expected_text, null, { addSpecialTokens: false })).getIds());
      items.push(item);
    }
    out.sets[sp.renderer] = { family: sp.family, items };
  }
  fs.writeFileSync(path.join(dataDir, "random.json"), JSON.stringify(out) + "\n");
  console.log("wrote tests/data/renderers/parity/random.json");
}

main().catch((e) => { console.error(e); process.exit(1); });
