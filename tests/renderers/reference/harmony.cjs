// The gpt-oss reference renderer: the npm package openai-harmony (unofficial TypeScript bindings
// of OpenAI's harmony library, the reference implementation of gpt-oss's chat format, compiled
// to WebAssembly), loaded without network access, and the conversion of cookbook-shaped
// messages into Harmony messages.
//
// The package reads its .wasm through fetch(file: URL) and downloads the o200k_base vocabulary
// from a base URL; Node's fetch does neither offline, so both are answered here from local
// files. The vocabulary is rebuilt from the o200k_base ranks that the `tiktoken` npm package
// ships; harmony itself checks the file's SHA-256 against the published o200k_base hash (and so
// does this loader), so a wrong rebuild cannot go unnoticed.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { pathToFileURL, fileURLToPath } = require("url");

const O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d";
const VOCAB_URL = "http://harmony-vocab.invalid"; // never contacted: answered by the fetch below

// tiktoken's o200k_base.json keeps the ranks as "! <first rank> <base64> <base64> ..." lines;
// the .tiktoken file harmony loads has one "<base64> <rank>" line per token, in rank order.
function o200kTiktokenFile(nm) {
  const j = JSON.parse(fs.readFileSync(path.join(nm, "tiktoken/encoders/o200k_base.json"), "utf8"));
  const rows = [];
  for (const line of j.bpe_ranks.split("\n")) {
    if (!line) continue;
    const [, first, ...toks] = line.split(" ");
    toks.forEach((t, i) => rows.push([Number(first) + i, t]));
  }
  rows.sort((a, b) => a[0] - b[0]);
  const text = Buffer.from(rows.map(([r, t]) => `${t} ${r}\n`).join(""));
  const sha = crypto.createHash("sha256").update(text).digest("hex");
  if (sha !== O200K_SHA256) throw new Error(`o200k_base rebuilt from tiktoken has sha256 ${sha}, not ${O200K_SHA256}`);
  return text;
}

// Returns { enc, version }: enc is harmony's JsHarmonyEncoding for HarmonyGptOss.
async function loadHarmony(nm) {
  const vocab = o200kTiktokenFile(nm);
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (req) => {
    const url = typeof req === "string" ? req : req.url || String(req);
    let body;
    if (url.startsWith("file:")) body = fs.readFileSync(fileURLToPath(url));
    else if (url === `${VOCAB_URL}/o200k_base.tiktoken`) body = vocab;
    else throw new Error(`harmony reference: no network access (${url})`);
    const type = url.endsWith(".wasm") ? "application/wasm" : "application/octet-stream";
    const res = new Response(body, { headers: { "content-type": type } });
    Object.defineProperty(res, "url", { value: url }); // the wasm side parses it
    return res;
  };
  try {
    const dir = path.join(nm, "openai-harmony");
    const H = await import(pathToFileURL(path.join(dir, "dist/openai_harmony.js")).href);
    const enc = await H.load_harmony_encoding("HarmonyGptOss", VOCAB_URL);
    return { enc, version: require(path.join(dir, "package.json")).version };
  } finally {
    globalThis.fetch = realFetch;
  }
}

const text = (t) => [{ type: "text", text: t }];
const partsText = (m) =>
  typeof m.content === "string" ? m.content : m.content.filter((p) => p.type === "text").map((p) => p.text).join("");
const partsThinking = (m) =>
  typeof m.content === "string" ? "" : m.content.filter((p) => p.type === "thinking").map((p) => p.thinking).join("");

// A cookbook conversation as Harmony messages (what the cookbook's GptOssRenderer means by it):
//   effort set      -> harmony's system message: model identity, knowledge cutoff 2024-06, the
//                      conversation date, "Reasoning: effort", the three channels;
//   a system message (or declared tools) -> a developer message: instructions and the tools of
//                      the `functions` namespace;
//   reasoning       -> an assistant message on the analysis channel;
//   text            -> the final channel, or a commentary preamble when the message calls tools;
//   each tool call  -> a commentary message to=functions.NAME with content type <|constrain|>json;
//   tool results    -> a message from functions.NAME to=assistant on the commentary channel.
// opts: { effort: "low"|"medium"|"high"|null, date: "YYYY-MM-DD", tools: [ToolSpec] | null }
function toHarmony(messages, opts) {
  const out = [];
  if (opts.effort) {
    out.push({ role: "system", content: [{ type: "system_content",
      model_identity: "You are ChatGPT, a large language model trained by OpenAI.",
      reasoning_effort: opts.effort[0].toUpperCase() + opts.effort.slice(1),
      conversation_start_date: opts.date, knowledge_cutoff: "2024-06",
      channel_config: { valid_channels: ["analysis", "commentary", "final"], channel_required: true },
      tools: null }] });
  }
  let rest = messages;
  let instructions = null;
  if (messages.length && messages[0].role === "system") {
    instructions = partsText(messages[0]);
    rest = messages.slice(1);
  }
  const tools = opts.tools && opts.tools.length
    ? { functions: { name: "functions", description: null,
                     tools: opts.tools.map((t) => ({ name: t.name, description: t.description || "", parameters: t.parameters || null })) } }
    : null;
  if (instructions !== null || tools)
    out.push({ role: "developer", content: [{ type: "developer_content", instructions, tools }] });
  for (const m of rest) {
    if (m.role === "assistant") {
      const th = partsThinking(m), tx = partsText(m), calls = m.tool_calls || [];
      if (th) out.push({ role: "assistant", channel: "analysis", content: text(th) });
      if (calls.length) {
        if (tx) out.push({ role: "assistant", channel: "commentary", content: text(tx) });
        for (const c of calls)
          out.push({ role: "assistant", channel: "commentary", recipient: `functions.${c.function.name}`,
                     content_type: "<|constrain|>json", content: text(c.function.arguments) });
      } else {
        out.push({ role: "assistant", channel: "final", content: text(tx) });
      }
    } else if (m.role === "tool") {
      out.push({ role: "tool", name: `functions.${m.name}`, recipient: "assistant", channel: "commentary",
                 content: text(partsText(m)) });
    } else {
      out.push({ role: m.role, content: text(partsText(m)) });
    }
  }
  return { messages: out };
}

// Every special token harmony knows, for encode(text, allowed_special).
function allSpecial(enc) { return enc.specialTokens(); }

module.exports = { loadHarmony, toHarmony, allSpecial };
