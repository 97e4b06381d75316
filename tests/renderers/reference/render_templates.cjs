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
}

main().catch((e) => { console.error(e); process.exit(1); });
