// The reference side of bench/renderers: render the model's own chat template with
// @huggingface/jinja and tokenize with the Hugging Face tokenizers library (@anush008/tokenizers,
// the Rust tokenizers as a native module) — what an HF apply_chat_template(tokenize=True) does —
// for the conversations bench_renderers dumped; for gpt-oss ("harmony"), render them with
// OpenAI's harmony library (the openai-harmony package, WebAssembly), which renders straight to
// token ids. Prints JSON like bench_renderers.
//   node bench/renderers/reference.cjs <family> <npm | harmony:EFFORT> <conversations.jsonl>
"use strict";
const fs = require("fs");
const path = require("path");
const root = process.cwd();
const nm = path.join(root, ".cache/npm/node_modules");
const { Template } = require(path.join(nm, "@huggingface/jinja"));
const { Tokenizer } = require(path.join(nm, "@anush008/tokenizers"));
const { loadHarmony, toHarmony } = require(path.join(root, "tests/renderers/reference/harmony.cjs"));

const [family, templateArg, file] = process.argv.slice(2);
const cfg = JSON.parse(fs.readFileSync(path.join(root, ".cache/tokenizers", family, "tokenizer_config.json"), "utf8"));
if (templateArg !== "npm" && !templateArg.startsWith("harmony:")) throw new Error(`unknown reference ${templateArg}`);
const tpl = templateArg === "npm" ? new Template(cfg.chat_template) : null;
const tok = Tokenizer.fromFile(path.join(root, ".cache/tokenizers", family, "tokenizer.json"));
const tokenValue = (t) => (t && typeof t === "object" ? t.content : t) || "";

function openai(messages) { // the cookbook's to_openai_message
  return messages.map((m) => {
    const o = { role: m.role };
    if (typeof m.content === "string") o.content = m.content;
    else {
      o.content = m.content.filter((p) => p.type === "text").map((p) => p.text).join("");
      const th = m.content.filter((p) => p.type === "thinking").map((p) => p.thinking).join("");
      if (th) o.reasoning_content = th;
    }
    if (m.tool_calls) o.tool_calls = m.tool_calls.map((tc) => ({ type: "function", id: tc.id,
      function: { name: tc.function.name, arguments: tc.function.arguments } }));
    if (m.tool_call_id) o.tool_call_id = m.tool_call_id;
    if (m.name) o.name = m.name;
    return o;
  });
}

// harmony: conversion to Harmony messages, rendering and tokenization in one call per prompt
async function mainHarmony(effort) {
  const { enc } = await loadHarmony(nm);
  const convs = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).messages);
  const cfg = { auto_drop_analysis: false };
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  for (const msgs of convs) {
    const h = toHarmony(msgs.slice(0, -1), { effort, date: "2025-01-01", tools: null });
    tokens += enc.renderConversationForCompletion(h, "assistant", cfg).length;
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ conversations: convs.length, gen_seconds: total, gen_tokens: tokens,
                               render_seconds: total, encode_seconds: 0, encode_batch_seconds: null }));
}

async function main() {
  if (templateArg.startsWith("harmony:")) return mainHarmony(templateArg.slice(8));
  const convs = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => openai(JSON.parse(l).messages));
  let tokens = 0, renderS = 0, encodeS = 0;
  const t0 = process.hrtime.bigint();
  for (const msgs of convs) {
    const a = process.hrtime.bigint();
    const text = tpl.render({ messages: msgs.slice(0, -1), add_generation_prompt: true,
                              bos_token: tokenValue(cfg.bos_token), eos_token: tokenValue(cfg.eos_token) });
    const b = process.hrtime.bigint();
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    tokens += enc.getIds().length;
    const c = process.hrtime.bigint();
    renderS += Number(b - a) / 1e9;
    encodeS += Number(c - b) / 1e9;
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e9;
  // The tokenizer's best case: every prompt rendered first, then one batched call (the Rust side
  // may use its own threads here).
  const texts = convs.map((msgs) => tpl.render({ messages: msgs.slice(0, -1), add_generation_prompt: true,
                                                 bos_token: tokenValue(cfg.bos_token), eos_token: tokenValue(cfg.eos_token) }));
  const d = process.hrtime.bigint();
  await tok.encodeBatch(texts, { addSpecialTokens: false });
  const batchS = Number(process.hrtime.bigint() - d) / 1e9;
  console.log(JSON.stringify({ conversations: convs.length, gen_seconds: total, gen_tokens: tokens,
                               render_seconds: renderS, encode_seconds: encodeS, encode_batch_seconds: batchS }));
}
main().catch((e) => { console.error(e); process.exit(1); });
