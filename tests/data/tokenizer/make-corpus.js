// Builds tinkerc's tokenizer test corpus: a little over 5 MB of documents, generated from a fixed
// seed so every run produces the same bytes. Everything here is written for tinkerc (word lists,
// phrases and templates are our own); nothing is copied from other corpora.
//
// Usage: node tests/data/tokenizer/make-corpus.js OUT [TOKENIZERS_DIR]
//   OUT             the corpus file (binary framing, see below)
//   TOKENIZERS_DIR  .cache/tokenizers: the added tokens of the real tokenizers are mixed into
//                   the "special" documents (look-alikes of every special token)
//
// Framing: "TKCORPUS1\n", then per document: u32le name length, name (category/index), u32le
// byte length, bytes. Documents are raw bytes: some are deliberately not valid UTF-8.
"use strict";
const fs = require("fs");
const path = require("path");

const out = process.argv[2];
const tokDir = process.argv[3] || path.join(__dirname, "../../../.cache/tokenizers");
if (!out) {
  console.error("usage: make-corpus.js OUT [TOKENIZERS_DIR]");
  process.exit(2);
}

// ---- deterministic randomness (xorshift128+ on BigInt would be slow; mulberry32 is enough) ----
let seed = 0x7417c3a5;
function rnd() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rnd() * n);
const pick = (a) => a[ri(a.length)];
const chance = (p) => rnd() < p;
const cp = (c) => String.fromCodePoint(c);
function rangeChar(lo, hi) {
  return cp(lo + ri(hi - lo + 1));
}

const docs = [];
let total = 0;
function add(cat, content) {
  const buf = Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8");
  docs.push([cat + "/" + docs.length, buf]);
  total += buf.length;
}

// ---- English-like prose ---------------------------------------------------------------------
const nouns = ("time person year way day thing man world life hand part child eye woman place work week case " +
  "point government company number group problem fact river mountain harbor lantern engine kettle garden " +
  "library signal orchard window ledger compass bridge meadow tunnel beacon archive thread fabric letter " +
  "market season village island valley forest station machine network pattern measure question answer " +
  "teacher student captain doctor farmer painter baker sailor pilot writer reader gardener engineer").split(" ");
const verbs = ("be have do say get make go know take see come think look want give use find tell ask work " +
  "seem feel try leave call carry build follow wonder gather remember explain borrow repair whisper " +
  "measure wander collect notice describe balance arrange return imagine discover deliver").split(" ");
const adjs = ("good new first last long great little own other old right big high different small large next " +
  "early young important few public bad same able quiet bright narrow heavy gentle distant careful " +
  "curious patient ancient hollow silver crooked tidy restless sudden ordinary remarkable").split(" ");
const advs = "quickly slowly quietly often rarely almost nearly always never carefully suddenly eventually".split(" ");
const names = ["Ada", "Bram", "Chioma", "Dmitri", "Elif", "Farouk", "Greta", "Hiro", "Ingrid", "José", "Keanu",
  "Lucía", "Mateus", "Nadia", "Oisín", "Priya", "Quentin", "Rania", "Søren", "Tomás", "Uma", "Viktor",
  "Wren", "Xiadani", "Yusuf", "Zoë", "O'Brien", "McAllister", "D'Angelo"];
const contr = ["don't", "can't", "won't", "I'm", "you're", "we've", "they'll", "she'd", "it's", "isn't",
  "wouldn't", "let's", "who's", "we'd", "they're", "I've", "you'll", "he's", "that's", "there'd"];
function sentence() {
  const parts = [];
  const n = 4 + ri(14);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.35) parts.push(pick(nouns));
    else if (r < 0.55) parts.push(pick(verbs) + (chance(0.3) ? pick(["s", "ed", "ing"]) : ""));
    else if (r < 0.7) parts.push(pick(adjs));
    else if (r < 0.75) parts.push(pick(advs));
    else if (r < 0.82) parts.push(pick(names));
    else if (r < 0.88) parts.push(pick(contr));
    else if (r < 0.93) parts.push(pick(["the", "a", "of", "to", "and", "in", "with", "for", "on", "by"]));
    else parts.push(String(ri(2100)));
    if (chance(0.08)) parts[parts.length - 1] += pick([",", ";", ":", " -", " —"]);
  }
  let s = parts.join(" ");
  s = s[0].toUpperCase() + s.slice(1);
  if (chance(0.1)) s = '"' + s + '," ' + pick(names) + " said";
  if (chance(0.05)) s += " (" + pick(adjs) + ", " + pick(nouns) + ")";
  return s + pick([".", ".", ".", "!", "?", "...", "?!"]);
}
function paragraph() {
  const n = 2 + ri(7);
  const s = [];
  for (let i = 0; i < n; i++) s.push(sentence());
  return s.join(" ");
}
const handWritten = [
  "The lighthouse keeper counted the ships twice each evening, once by lamp and once by memory. " +
  "Neither count was ever quite the same, and she liked it that way: the sea kept its own ledger.",
  "We tested the tokenizer on a Tuesday. It failed on a Wednesday, which nobody expected, because " +
  "the only thing that changed was the calendar — and one stray non-breaking space.",
  "\"Don't touch the kettle,\" said Priya. \"It's older than the house, and it's got opinions.\"",
  "Rain, then sun, then rain again; the garden didn't seem to mind. The snails held a parade.",
  "On page 217 of the manual, between a diagram of a valve and an apology, there's a recipe for bread.",
];
for (const start = total; total - start < 1000000; ) {
  const paras = [];
  const n = 1 + ri(12);
  for (let i = 0; i < n; i++) paras.push(chance(0.1) ? pick(handWritten) : paragraph());
  add("prose", paras.join(pick(["\n\n", "\n", "\n\n\n"])));
}

// ---- source code ----------------------------------------------------------------------------
const idParts = ["count", "buf", "len", "ptr", "node", "tree", "token", "value", "index", "map", "list", "ctx",
  "state", "error", "result", "offset", "size", "data", "next", "prev", "head", "tail", "key", "item"];
function ident(style) {
  const n = 1 + ri(3);
  const p = [];
  for (let i = 0; i < n; i++) p.push(pick(idParts));
  if (style === "camel") return p.map((w, i) => (i ? w[0].toUpperCase() + w.slice(1) : w)).join("");
  if (style === "pascal") return p.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  if (style === "upper") return p.join("_").toUpperCase();
  return p.join("_");
}
function literal() {
  return pick([String(ri(1000)), "0x" + ri(0xffffff).toString(16).toUpperCase(), (rnd() * 100).toFixed(3),
    ri(10) + "e-" + ri(12), '"' + paragraph().slice(0, 20 + ri(40)).replace(/"/g, '\\"') + '\\n"', "'\\0'",
    "NULL", "true", "-1", "1u << " + ri(32), "'x'"]);
}
function cFunction(indent) {
  const lines = [];
  const fn = ident("snake");
  lines.push("/* " + sentence() + " */");
  lines.push("static int " + fn + "(const struct " + ident("snake") + " *" + ident("snake") + ", size_t n) {");
  const n = 3 + ri(12);
  let depth = 1;
  for (let i = 0; i < n; i++) {
    const ind = indent.repeat(depth);
    const r = rnd();
    if (r < 0.25) lines.push(ind + "int " + ident("snake") + " = " + literal() + ";");
    else if (r < 0.4 && depth < 4) { lines.push(ind + "for (size_t i = 0; i < n; i++) {"); depth++; }
    else if (r < 0.5 && depth < 4) { lines.push(ind + "if (" + ident("snake") + " != " + literal() + " && !" + ident("snake") + ") {"); depth++; }
    else if (r < 0.6 && depth > 1) { depth--; lines.push(indent.repeat(depth) + "}"); }
    else if (r < 0.7) lines.push(ind + ident("snake") + "->" + ident("snake") + " += " + ident("snake") + "[i] << 2;");
    else if (r < 0.8) lines.push(ind + "// TODO(" + pick(names) + "): " + sentence());
    else if (r < 0.9) lines.push(ind + "printf(\"%s: %d\\t%zu\\n\", " + ident("snake") + ", " + literal() + ", n);");
    else lines.push(ind + "return " + ident("snake") + "(" + literal() + ", " + ident("snake") + ");" + (chance(0.2) ? "   " : ""));
  }
  while (depth > 1) { depth--; lines.push(indent.repeat(depth) + "}"); }
  lines.push(indent + "return 0;");
  lines.push("}");
  return lines.join("\n");
}
function pyFunction() {
  const lines = ["def " + ident("snake") + "(" + ident("snake") + ", " + ident("snake") + "=None, **kwargs):",
    '    """' + sentence() + '"""'];
  const n = 2 + ri(10);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.3) lines.push("    " + ident("snake") + " = [x ** 2 for x in range(" + ri(100) + ") if x % 3 == 0]");
    else if (r < 0.5) lines.push("    if " + ident("snake") + " is not None and len(" + ident("snake") + ") >= " + ri(10) + ":");
    else if (r < 0.6) lines.push("        raise ValueError(f\"bad {" + ident("snake") + "!r}: " + pick(adjs) + "\")");
    else if (r < 0.8) lines.push("    " + ident("snake") + "[" + literal() + "] = {'" + ident("snake") + "': " + literal() + "}");
    else lines.push("    # " + sentence());
  }
  lines.push("    return " + ident("snake"));
  return lines.join("\n");
}
function jsSnippet() {
  return "export const " + ident("camel") + " = async (" + ident("camel") + ") => {\n" +
    "\tconst { " + ident("camel") + ", " + ident("camel") + " } = await fetch(`/api/${" + ident("camel") + "}?q=" + ri(99) + "`);\n" +
    "\treturn " + ident("camel") + " ?? " + ident("camel") + "?.map((x) => x * " + ri(9) + ") ?? [];\n};\n";
}
function jsonSnippet() {
  const o = {};
  for (let i = 0; i < 3 + ri(8); i++) o[ident("snake")] = chance(0.5) ? ri(100000) : chance(0.5) ? sentence() : [1, 2.5, null, true];
  return JSON.stringify(o, null, pick([2, 4, "\t"]));
}
function htmlSnippet() {
  return '<div class="' + ident("snake") + '">\n  <p>' + sentence().replace(/&/g, "&amp;") + ' <a href="https://example.org/' +
    ident("snake") + "?a=1&amp;b=" + ri(50) + '">link</a></p>\n  <!-- ' + pick(adjs) + " -->\n</div>\n";
}
function shellSnippet() {
  return "#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.txt; do\n  grep -c '" + pick(nouns) + "' \"$f\" | awk '{s+=$1} END {print s}' >> /tmp/" +
    ident("snake") + ".log 2>&1 || true\ndone\n";
}
function sqlSnippet() {
  return "SELECT " + ident("snake") + ", COUNT(*) AS n FROM " + ident("snake") + " WHERE " + ident("snake") +
    " >= " + ri(100) + " AND name LIKE '%" + pick(nouns) + "%' GROUP BY 1 ORDER BY n DESC;\n";
}
function markdownSnippet() {
  return "## " + sentence() + "\n\n- **" + pick(nouns) + "**: " + sentence() + "\n- `" + ident("snake") + "()` -> " +
    literal() + "\n\n> " + sentence() + "\n\n| a | b |\n|---|---|\n| " + ri(10) + " | " + pick(adjs) + " |\n";
}
const codeMakers = [() => cFunction("    "), () => cFunction("\t"), () => cFunction("  "), pyFunction, jsSnippet,
  jsonSnippet, htmlSnippet, shellSnippet, sqlSnippet, markdownSnippet];
for (const start = total; total - start < 800000; ) {
  const parts = [];
  const n = 1 + ri(10);
  for (let i = 0; i < n; i++) parts.push(pick(codeMakers)());
  let s = parts.join(pick(["\n\n", "\n", "\n\n\n"]));
  if (chance(0.15)) s = s.replace(/\n/g, "\r\n");
  add("code", s);
}

// ---- many scripts ---------------------------------------------------------------------------
const phrases = {
  zh: ["你好，世界！", "今天天气很好。", "我们一起学习自然语言处理。", "这个分词器的速度非常快，而且结果完全一致。", "请把窗户打开一点儿。", "數據與資訊"],
  ja: ["こんにちは世界。", "今日はいい天気ですね。", "トークナイザーのテストをしています。", "カタカナとひらがなと漢字が混ざった文章", "ｶﾀｶﾅ半角"],
  ko: ["안녕하세요, 세계!", "오늘 날씨가 좋네요.", "토크나이저를 시험하고 있습니다.", "한국어 문장은 띄어쓰기를 합니다."],
  ar: ["مرحبا بالعالم، كيف حالك؟", "اليوم الطقس جميل جدا.", "نحن نختبر المحلل اللغوي.", "الأرقام ١٢٣٤٥٦٧٨٩٠"],
  he: ["שלום עולם, מה שלומך?", "היום מזג האוויר נעים.", "אנחנו בודקים את המפרק."],
  hi: ["नमस्ते दुनिया, आप कैसे हैं?", "आज मौसम बहुत अच्छा है।", "हम टोकनाइज़र की जाँच कर रहे हैं।", "संख्या १२३४५"],
  bn: ["হ্যালো বিশ্ব", "আজ আবহাওয়া খুব ভালো।"],
  ta: ["வணக்கம் உலகம்", "இன்று வானிலை நன்றாக உள்ளது."],
  th: ["สวัสดีครับ วันนี้อากาศดีมาก", "เรากำลังทดสอบตัวตัดคำ", "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"],
  ru: ["Привет, как дела? Сегодня хорошая погода.", "Мы проверяем токенизатор на разных языках.", "ЁЛКА ёлка Щука"],
  uk: ["Добрий день, як справи?", "Ґанок, їжак, європейський, м'ясо, п’ять"],
  el: ["Καλημέρα, τι κάνεις;", "Σήμερα ο καιρός είναι ωραίος.", "ΣΟΦΙΑ σοφία ς"],
  hy: ["Բարեւ աշխարհ", "Այսօր եղանակը լավ է։"],
  ka: ["გამარჯობა მსოფლიო", "დღეს კარგი ამინდია."],
  am: ["ሰላም ልዑል", "ዛሬ አየሩ ጥሩ ነው።"],
  vi: ["Xin chào thế giới, hôm nay trời đẹp quá.", "Tiếng Việt có rất nhiều dấu thanh: à á ả ã ạ ầ ấ ẩ ẫ ậ"],
  tr: ["İstanbul'da ılık bir gün; ĞÜŞİÖÇ ğüşıöç", "Iİıi büyük küçük"],
  fa: ["سلام دنیا، حال شما چطور است؟", "می‌خواهم کتاب‌ها را بخوانم"],
  de: ["Größenverhältnisse der Straße – Äpfel, Öl, Übermut, ß und ẞ", "Die Brücke über den Fluß"],
  km: ["សួស្តី​ពិភពលោក"],
  my: ["မင်္ဂလာပါ ကမ္ဘာ"],
  bo: ["བཀྲ་ཤིས་བདེ་ལེགས།"],
};
const scriptRanges = {
  zh: [[0x4e00, 0x9fa5]], ja: [[0x3041, 0x3096], [0x30a1, 0x30fa], [0x4e00, 0x9fa5]], ko: [[0xac00, 0xd7a3]],
  ar: [[0x0621, 0x064a], [0x064b, 0x0652]], he: [[0x05d0, 0x05ea]], hi: [[0x0905, 0x0939], [0x093e, 0x094d]],
  bn: [[0x0985, 0x09b9], [0x09be, 0x09cc]], ta: [[0x0b85, 0x0bb9], [0x0bbe, 0x0bcd]], th: [[0x0e01, 0x0e2e], [0x0e30, 0x0e39]],
  ru: [[0x0410, 0x044f]], uk: [[0x0410, 0x044f], [0x0454, 0x0457]], el: [[0x0391, 0x03a9], [0x03b1, 0x03c9]],
  hy: [[0x0531, 0x0556], [0x0561, 0x0586]], ka: [[0x10d0, 0x10fa]], am: [[0x1200, 0x135a]],
  vi: [[0x61, 0x7a], [0x1ea0, 0x1ef9]], tr: [[0x61, 0x7a], [0x130, 0x131], [0x11e, 0x11f], [0x15e, 0x15f]],
  fa: [[0x0621, 0x064a], [0x067e, 0x067e], [0x06af, 0x06af], [0x06cc, 0x06cc]], de: [[0x61, 0x7a], [0xe4, 0xe4], [0xdf, 0xdf]],
  km: [[0x1780, 0x17b3], [0x17b6, 0x17d2]], my: [[0x1000, 0x102a], [0x102b, 0x103e]], bo: [[0x0f40, 0x0f6c], [0x0f71, 0x0f84]],
};
const scriptPunct = ["，", "。", "、", "！", "？", "：", "；", "「", "」", "《", "》", "،", "؟", "।", "॥", "«", "»", "„", "“", "”", "·", " ", " ", " ", "\n"];
function scriptWord(lang) {
  const rs = scriptRanges[lang];
  const n = 1 + ri(10);
  let w = "";
  for (let i = 0; i < n; i++) {
    const r = pick(rs);
    w += rangeChar(r[0], r[1]);
  }
  return w;
}
const langs = Object.keys(phrases);
for (const start = total; total - start < 800000; ) {
  const lang = pick(langs);
  const parts = [];
  const n = 10 + ri(300);
  const noSpaces = ["zh", "ja", "th", "km", "my", "bo"].includes(lang);
  for (let i = 0; i < n; i++) {
    if (chance(0.15)) parts.push(pick(phrases[lang]));
    else parts.push(scriptWord(lang));
    if (chance(0.2)) parts.push(pick(scriptPunct));
    else if (!noSpaces || chance(0.1)) parts.push(" ");
    if (chance(0.03)) parts.push(pick([" " + pick(nouns) + " ", String(ri(99999)), " (" + pick(names) + ") "]));
  }
  add("script-" + lang, parts.join(""));
}
// the same texts decomposed (NFD) and in compatibility forms: what NFC normalizers see
for (let i = 0; i < 60; i++) {
  const lang = pick(["vi", "ko", "de", "tr", "el", "hi", "ja"]);
  let s = "";
  for (let k = 0; k < 40; k++) s += pick(phrases[lang]) + " " + scriptWord(lang) + " ";
  add("nfd-" + lang, s.normalize(pick(["NFD", "NFKD", "NFKC", "NFD"])));
}

// ---- emoji ----------------------------------------------------------------------------------
const emoji = ["😀", "😂", "🥲", "🤖", "👍", "👍🏽", "👋🏿", "❤️", "❤", "♥️", "✨", "🔥", "🎉", "🍕", "🚀", "🌍", "🇯🇵", "🇺🇸", "🇧🇷",
  "🇪🇺", "🏳️‍🌈", "🏳️‍⚧️", "🏴‍☠️", "👨‍👩‍👧‍👦", "👩‍💻", "🧑🏾‍🚀", "👨🏻‍🍳", "🫶🏼", "🧑‍🤝‍🧑", "😶‍🌫️", "❤️‍🔥", "1️⃣", "#️⃣", "*️⃣", "©️", "™️",
  "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "☺︎", "☺️", "🐈‍⬛", "🐻‍❄️", "🫠", "🪿", "🩷", "🛜"];
for (const start = total; total - start < 200000; ) {
  const parts = [];
  const n = 20 + ri(200);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.4) parts.push(pick(emoji));
    else if (r < 0.5) parts.push(pick(emoji).repeat(1 + ri(5)));
    else if (r < 0.8) parts.push(pick(nouns));
    else parts.push(pick(phrases[pick(langs)]));
    parts.push(pick([" ", "", " ", "\n", "\u200d", ", "]));
  }
  add("emoji", parts.join(""));
}

// ---- numbers --------------------------------------------------------------------------------
function digits(n) {
  let s = String(1 + ri(9));
  for (let i = 1; i < n; i++) s += String(ri(10));
  return s;
}
const otherDigits = [[0x660, 0x669], [0x6f0, 0x6f9], [0x966, 0x96f], [0x9e6, 0x9ef], [0xe50, 0xe59], [0xff10, 0xff19], [0x1d7ce, 0x1d7ff]];
for (let len = 1; len <= 64; len++) {
  const parts = [];
  for (let k = 0; k < 30; k++) parts.push(digits(len));
  add("numbers-len" + len, parts.join(pick([" ", "\n", ",", " + ", "", "x"])));
}
for (const start = total; total - start < 250000; ) {
  const parts = [];
  for (let i = 0; i < 200; i++) {
    const r = rnd();
    if (r < 0.15) parts.push(digits(1 + ri(20)));
    else if (r < 0.25) parts.push(Number(digits(1 + ri(9))).toLocaleString("en-US") + "." + digits(2));
    else if (r < 0.3) parts.push(digits(1 + ri(3)) + "." + digits(3) + "." + digits(3) + "," + digits(2));
    else if (r < 0.35) parts.push("-" + digits(1 + ri(6)) + "e" + pick(["+", "-", ""]) + ri(300));
    else if (r < 0.4) parts.push("0x" + ri(2 ** 31).toString(16) + " 0b" + ri(256).toString(2));
    else if (r < 0.45) parts.push("v" + ri(20) + "." + ri(20) + "." + ri(99) + pick(["", "-rc." + ri(9), "+build." + digits(4)]));
    else if (r < 0.5) parts.push(2000 + ri(30) + "-" + String(1 + ri(12)).padStart(2, "0") + "-" + String(1 + ri(28)).padStart(2, "0") + "T" + ri(24) + ":" + ri(60) + ":" + ri(60) + "Z");
    else if (r < 0.55) parts.push("+" + ri(99) + " (" + digits(3) + ") " + digits(3) + "-" + digits(4));
    else if (r < 0.6) parts.push(ri(256) + "." + ri(256) + "." + ri(256) + "." + ri(256) + ":" + ri(65536));
    else if (r < 0.7) { const d = pick(otherDigits); let s = ""; for (let k = 0; k < 1 + ri(8); k++) s += rangeChar(d[0], d[1]); parts.push(s); }
    else if (r < 0.75) parts.push(pick(["½", "¾", "⅓", "²", "³", "¹⁰", "Ⅻ", "ⅷ", "①", "⑳", "𝟙𝟚𝟛", "٫", "₀₁₂"]));
    else if (r < 0.8) parts.push("$" + digits(1 + ri(7)) + "." + digits(2) + " €" + digits(3) + ",-" + " ¥" + digits(5));
    else parts.push(pick(nouns) + " " + digits(1 + ri(4)) + pick(["%", "px", "ms", "kg", "°C", "th", "k", ""]));
    parts.push(pick([" ", " ", "\n", ", ", "; ", "\t"]));
  }
  add("numbers", parts.join(""));
}
add("numbers-long", digits(5000));
add("numbers-long-spaced", Array.from({ length: 400 }, () => digits(1 + ri(40))).join(" "));

// ---- whitespace -----------------------------------------------------------------------------
const spaces = [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\t\n", "\u00a0", "\u2000", "\u2002", "\u2003",
  "\u2009", "\u200a", "\u3000", "\u0085", "\u2028", "\u2029", "\u1680", "\u202f", "\u205f", "\u000b", "\u000c",
  "\u180e", "\u200b", "\ufeff", "\u001c", "\u001d", "\u001e", "\u001f"];
for (const start = total; total - start < 200000; ) {
  const parts = [];
  for (let i = 0; i < 300; i++) {
    let w = "";
    const k = ri(6);
    for (let j = 0; j < k; j++) w += pick(spaces);
    if (chance(0.2)) w = pick(spaces).repeat(1 + ri(60));
    parts.push(w);
    parts.push(pick([pick(nouns), pick(contr), String(ri(1000)), pick(["!", "?", "...", "->", "#", "@"]), pick(phrases[pick(langs)]), ""]));
  }
  add("whitespace", parts.join(""));
}
for (let i = 0; i < 20; i++) add("whitespace-only", Array.from({ length: 50 + ri(500) }, () => pick(spaces)).join(""));
add("whitespace-trailing", paragraph() + "   \n\t  ");
add("whitespace-leading", "\n\n   \t" + paragraph());

// ---- CRLF -----------------------------------------------------------------------------------
for (let i = 0; i < 40; i++) {
  const lines = [];
  for (let k = 0; k < 40; k++) lines.push(chance(0.5) ? sentence() : pick(codeMakers)().split("\n")[0]);
  add("crlf", lines.join(pick(["\r\n", "\r\n", "\r", "\n\r", "\r\n\r\n"])) + "\r\n");
}

// ---- contractions in mixed case -------------------------------------------------------------
const suffixes = ["s", "t", "re", "ve", "m", "ll", "d"];
function mixCase(s) {
  return s.split("").map((c) => (chance(0.5) ? c.toUpperCase() : c)).join("");
}
for (const start = total; total - start < 150000; ) {
  const parts = [];
  for (let i = 0; i < 400; i++) {
    const w = pick([pick(nouns), pick(names), "I", "you", "we", "they", "it", "she", "he", "do", "ca", "wo", ""]);
    const apos = pick(["'", "'", "'", "’", "‘", "`", "''"]);
    let suf = pick(suffixes);
    suf = pick([suf, suf.toUpperCase(), mixCase(suf), "ſ", "ſt", suf + pick(nouns), "x", ""]);
    let t = mixCase(w) + apos + suf;
    if (chance(0.1)) t = apos + suf + " " + t;
    parts.push(t);
    parts.push(pick([" ", " ", "\n", ", ", "'", ""]));
  }
  add("contractions", parts.join(""));
}

// ---- invalid UTF-8 --------------------------------------------------------------------------
const badSeqs = [[0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfe], [0xff], [0xe2, 0x82], [0xe2], [0xf0, 0x9f, 0x98], [0xf0, 0x9f], [0xc3], [0xc3, 0xc3], [0xe2, 0x28, 0xa1],
  [0xf0, 0x28, 0x8c, 0x28], [0x00], [0xc0]];
for (const start = total; total - start < 150000; ) {
  const chunks = [];
  for (let i = 0; i < 150; i++) {
    chunks.push(Buffer.from(pick([sentence(), pick(phrases[pick(langs)]), pick(emoji), " ", "\n", pick(contr)]) + (chance(0.5) ? " " : ""), "utf8"));
    if (chance(0.5)) chunks.push(Buffer.from(pick(badSeqs)));
  }
  if (chance(0.3)) chunks.push(Buffer.from(pick([[0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3]])));
  add("invalid-utf8", Buffer.concat(chunks));
}
{
  const all = [];
  for (let b = 0; b < 256; b++) all.push(b);
  add("invalid-all-bytes", Buffer.from(all));
  const pairs = [];
  for (let k = 0; k < 4000; k++) pairs.push(ri(256));
  add("invalid-random-bytes", Buffer.from(pairs));
}

// ---- special-token look-alikes --------------------------------------------------------------
const specialStrings = new Set();
for (const fam of ["llama3", "qwen3", "deepseek_v3", "gptoss"]) {
  try {
    const tj = JSON.parse(fs.readFileSync(path.join(tokDir, fam, "tokenizer.json"), "utf8"));
    for (const t of tj.added_tokens) specialStrings.add(t.content);
  } catch (err) {
    console.error("make-corpus: cannot read " + fam + " tokenizer (" + err.message + "); run scripts/install-deps.sh");
    process.exit(1);
  }
}
const specials = [...specialStrings].sort();
function mangle(s) {
  const r = ri(9);
  if (r === 0) return s.slice(0, 1 + ri(s.length - 1));
  if (r === 1) return s.slice(ri(s.length - 1));
  if (r === 2) return s.toUpperCase();
  if (r === 3) return s.replace("|", "| ");
  if (r === 4) return s.replace(/\|/g, "｜");
  if (r === 5) return s.replace(/｜/g, "|").replace(/▁/g, "_");
  if (r === 6) return s + s;
  if (r === 7) return "<" + s + ">";
  return s.slice(0, -1) + " " + s.slice(-1);
}
for (const start = total; total - start < 250000; ) {
  const parts = [];
  for (let i = 0; i < 120; i++) {
    const r = rnd();
    if (r < 0.35) parts.push(pick(specials));
    else if (r < 0.55) parts.push(mangle(pick(specials)));
    else if (r < 0.65) parts.push("<|im_start|>" + pick(["user", "assistant", "system"]) + "\n" + sentence() + "<|im_end|>\n");
    else if (r < 0.7) parts.push("<|start_header_id|>user<|end_header_id|>\n\n" + sentence() + "<|eot_id|>");
    else if (r < 0.75) parts.push("<|start|>assistant<|channel|>analysis<|message|>" + sentence() + "<|end|>");
    else if (r < 0.8) parts.push("<｜User｜>" + sentence() + "<｜Assistant｜><think>\n" + sentence() + "\n</think>\n\n" + sentence() + "<｜end▁of▁sentence｜>");
    else parts.push(sentence());
    parts.push(pick(["", "", " ", "\n", "  ", pick(nouns)]));
  }
  add("special", parts.join(""));
}
add("special-all", specials.join(""));
add("special-all-spaced", specials.join(" "));
add("special-all-newlines", specials.join("\n") + "\n");

// ---- long repetitive text -------------------------------------------------------------------
add("repeat-a", "a".repeat(60000));
add("repeat-ab", "ab".repeat(30000));
add("repeat-space", " ".repeat(20000));
add("repeat-newline", "\n".repeat(10000));
add("repeat-crlf", "\r\n".repeat(5000));
add("repeat-tab-space", "\t ".repeat(5000) + "x");
add("repeat-dash", "-".repeat(30000));
add("repeat-equals-word", "=".repeat(2000) + "word" + "=".repeat(2000));
add("repeat-ha", "ha ".repeat(15000));
add("repeat-the", "the ".repeat(20000));
add("repeat-emoji", "🙂".repeat(5000));
add("repeat-cjk", "的".repeat(20000));
add("repeat-digits", "1234567890".repeat(3000));
add("repeat-combining", "e" + "\u0301".repeat(3000));
add("repeat-zalgo", Array.from({ length: 3000 }, () => pick(["a", "o", "Z"]) + "\u0300\u0336\u0317\u0350\u0351".slice(0, ri(5))).join(""));
add("repeat-hangul-jamo", "\u1100\u1161\u11a8".repeat(4000));
{
  let w = "";
  for (let i = 0; i < 120000; i++) w += String.fromCharCode(97 + ri(26));
  add("long-word", w);
  let b64 = "";
  for (let i = 0; i < 80000; i++) b64 += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[ri(64)];
  add("long-base64", b64);
  add("long-url", "https://example.org/" + Array.from({ length: 3000 }, () => pick(idParts)).join("/") + "?q=" + digits(200));
  add("long-line-prose", Array.from({ length: 400 }, sentence).join(" "));
}

// ---- Unicode edge cases ---------------------------------------------------------------------
const edgeChars = [];
for (let c = 0; c < 0x20; c++) edgeChars.push(cp(c));
for (let c = 0x7f; c <= 0xa0; c++) edgeChars.push(cp(c));
edgeChars.push(
  "\u0301", "\u0308", "\u20dd", "\u0903", "\u093c", "\u094d", "\u0f71", "\u0e31", // marks (Mn, Me, Mc)
  "\u0378", "\u05ff", "\u0870", "\u2fff", "\ufdd0", "\ufffe", "\uffff", cp(0x1fffe), cp(0x3fffd), cp(0xe0000), // unassigned/nonchar
  "\ue000", "\uf8ff", cp(0xf0000), cp(0x10fffd), // private use
  "\u200c", "\u200d", "\u200e", "\u202e", "\u2066", "\ufe0f", "\ufe0e", cp(0xe0101), // format, bidi, VS
  cp(0x20000), cp(0x2a6d6), cp(0x2b740), cp(0x30000), cp(0x31350), cp(0x2ebf0), // CJK ext B..I
  cp(0x1d400), cp(0x1d7ce), cp(0x1f6dc), cp(0x11f04), cp(0x1e030), cp(0x1e4d0), cp(0x10d00), // Unicode 14/15 letters
  "ſ", "İ", "ı", "ß", "ẞ", "ﬁ", "ﬀ", "ς", "σ", "ǅ", "ʰ", "ー", "々", "〆", "ª", "º", "µ", "K", "Å", "Ω", "℃",
  "_", "‿", "^", "`", "¨", "˜", "¦", "§", "¶", "†", "‰", "′", "※", "⁂", "∑", "√", "∞", "≠", "⊕", "⌘", "␣", "■", "★", "♪",
  "'", "\"", "\\", "/", "<", ">", "|", "｜", "▁", "Ġ", "Ċ", "ĉ", "Ā", "ÿ", "\u00ad", "\u034f", "\u115f", "\u3164"
);
for (const start = total; total - start < 200000; ) {
  const parts = [];
  for (let i = 0; i < 600; i++) {
    const r = rnd();
    if (r < 0.5) parts.push(pick(edgeChars));
    else if (r < 0.6) parts.push(pick(edgeChars).repeat(2 + ri(4)));
    else if (r < 0.75) parts.push(pick(nouns) + pick(edgeChars) + pick(nouns));
    else if (r < 0.85) parts.push(pick(spaces));
    else if (r < 0.9) parts.push(String(ri(100000)));
    else parts.push(pick(emoji));
  }
  add("unicode-edge", parts.join(""));
}
// random code points from the assigned planes: the broadest check of the character classes
for (let d = 0; d < 60; d++) {
  let s = "";
  for (let i = 0; i < 2000; i++) {
    let c;
    const r = rnd();
    if (r < 0.5) c = ri(0x3000);
    else if (r < 0.8) c = ri(0x10000);
    else c = 0x10000 + ri(0x30000);
    if (c >= 0xd800 && c <= 0xdfff) c = 0x20;
    s += cp(c);
  }
  add("random-codepoints", s);
}

// ---- write ----------------------------------------------------------------------------------
const chunks = [Buffer.from("TKCORPUS1\n")];
for (const [name, buf] of docs) {
  const nb = Buffer.from(name, "utf8");
  const h = Buffer.alloc(4);
  h.writeUInt32LE(nb.length);
  const l = Buffer.alloc(4);
  l.writeUInt32LE(buf.length);
  chunks.push(h, nb, l, buf);
}
fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
const tmp = out + ".tmp" + process.pid;
fs.writeFileSync(tmp, Buffer.concat(chunks));
fs.renameSync(tmp, out);
console.error("make-corpus: " + docs.length + " documents, " + total + " bytes -> " + out);
