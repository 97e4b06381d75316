/* Hand-written matchers for the pre-tokenizer regexes of the reference tokenizers.
 *
 * Each matcher answers "where does the leftmost-first (Perl/Oniguruma) match that starts at
 * byte i end?", reproducing the regex's alternation order, greedy repeats and backtracking
 * exactly. The regex text each one implements is in k_patterns below; the loader only selects a
 * matcher when a tokenizer's pattern is byte-for-byte that text, and
 * tests/tokenizer/test_tokenizer_split.c checks every matcher against PCRE2 on random and
 * adversarial strings. PCRE2 stays the path for every other pattern. */
#include "internal.h"

static const char *const k_patterns[] = {
    [TK_FAST_NONE] = "",
    [TK_FAST_LLAMA3] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                       "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    [TK_FAST_QWEN2] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    [TK_FAST_O200K] =
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
        "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    [TK_FAST_DIGITS3] = "\\p{N}{1,3}",
    [TK_FAST_CJK_DS] = "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
    [TK_FAST_DS3] = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
                    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    [TK_FAST_GPT2] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
};

static const char *const k_names[] = {
    [TK_FAST_NONE] = "pcre2",     [TK_FAST_LLAMA3] = "llama3",   [TK_FAST_QWEN2] = "qwen2",
    [TK_FAST_O200K] = "o200k",    [TK_FAST_DIGITS3] = "digits3", [TK_FAST_CJK_DS] = "cjk-deepseek",
    [TK_FAST_DS3] = "deepseek3",  [TK_FAST_GPT2] = "gpt2",
};

tk_fast_split tk_fast_split_detect(const char *pattern, size_t len) {
    for (int k = TK_FAST_LLAMA3; k <= TK_FAST_GPT2; k++)
        if (strlen(k_patterns[k]) == len && !memcmp(k_patterns[k], pattern, len)) return (tk_fast_split)k;
    return TK_FAST_NONE;
}

const char *tk_fast_split_name(tk_fast_split k) { return k_names[k]; }
const char *tk_fast_split_pattern(tk_fast_split k) { return k_patterns[k]; }

/* ---- character classes ---------------------------------------------------------------------- */

typedef const unsigned char *bytes;

/* Flags of the code point at s[i]; *len gets its byte length. */
static inline uint32_t cls(bytes s, uint32_t i, int *len) {
    unsigned char c = s[i];
    if (c < 0x80) {
        *len = 1;
        return tku_stage2[c]; /* block 0 is always stored first */
    }
    uint32_t cp;
    *len = tku_decode(s + i, &cp);
    return tku_class(cp);
}

static inline uint32_t cp_at(bytes s, uint32_t i, int *len) {
    uint32_t cp;
    *len = tku_decode(s + i, &cp);
    return cp;
}

/* End of the run of code points from i whose flags intersect `want`. */
static inline uint32_t run_of(bytes s, uint32_t n, uint32_t i, uint32_t want) {
    while (i < n) {
        int l;
        if (!(cls(s, i, &l) & want)) break;
        i += (uint32_t)l;
    }
    return i;
}

/* End of the run of code points from i whose flags avoid `bad`. */
static inline uint32_t run_without(bytes s, uint32_t n, uint32_t i, uint32_t bad) {
    while (i < n) {
        int l;
        if (cls(s, i, &l) & bad) break;
        i += (uint32_t)l;
    }
    return i;
}

static inline bool is_crlf_byte(unsigned char c) { return c == '\r' || c == '\n'; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) after the apostrophe at s[p-1]: the number of bytes matched
 * after it, or 0. Case-insensitive as Oniguruma/PCRE2 fold: s also matches U+017F LONG S. */
static inline uint32_t contraction_ci(bytes s, uint32_t n, uint32_t p) {
    if (p >= n) return 0;
    unsigned char c = s[p] | 0x20;
    unsigned char c2 = p + 1 < n ? (s[p + 1] | 0x20) : 0;
    switch (s[p]) {
    case 0xC5:
        return p + 1 < n && s[p + 1] == 0xBF ? 2 : 0; /* U+017F */
    default: break;
    }
    if (s[p] >= 0x80) return 0;
    switch (c) {
    case 's':
    case 't':
    case 'm':
    case 'd': return 1;
    case 'r':
    case 'v': return c2 == 'e' ? 2 : 0;
    case 'l': return c2 == 'l' ? 2 : 0;
    default: return 0;
    }
}

/* The same, case-sensitive (GPT-2). */
static inline uint32_t contraction_cs(bytes s, uint32_t n, uint32_t p) {
    if (p >= n) return 0;
    unsigned char c = s[p], c2 = p + 1 < n ? s[p + 1] : 0;
    switch (c) {
    case 's':
    case 't':
    case 'm':
    case 'd': return 1;
    case 'r':
    case 'v': return c2 == 'e' ? 2 : 0;
    case 'l': return c2 == 'l' ? 2 : 0;
    default: return 0;
    }
}

/* \s*[\r\n]+ | \s+(?!\S) | \s+  at i, where s[i] is White_Space. */
static inline int64_t whitespace_tail(bytes s, uint32_t n, uint32_t i, bool with_crlf_alt) {
    uint32_t j = i, last_crlf_end = 0, last_start = i;
    bool has_crlf = false;
    while (j < n) {
        int l;
        if (!(cls(s, j, &l) & TKU_WS)) break;
        if (is_crlf_byte(s[j])) {
            has_crlf = true;
            last_crlf_end = j + 1;
        }
        last_start = j;
        j += (uint32_t)l;
    }
    if (with_crlf_alt && has_crlf) return last_crlf_end;   /* \s*[\r\n]+ */
    if (j == n) return j;                                   /* \s+(?!\S) at the end */
    if (last_start > i) return last_start;                  /* \s+(?!\S), one char shorter */
    return j;                                               /* \s+ */
}

/* ---- Llama 3 / Qwen2 -------------------------------------------------------------------- */

static int64_t match_cl100k(bytes s, uint32_t n, uint32_t i, uint32_t max_digits) {
    int l0;
    uint32_t f0 = cls(s, i, &l0);
    unsigned char c = s[i];
    if (c == '\'') {
        uint32_t k = contraction_ci(s, n, i + 1);
        if (k) return i + 1 + k;
    }
    if (f0 & TKU_L) return run_of(s, n, i + (uint32_t)l0, TKU_L);
    if (!(f0 & (TKU_L | TKU_N)) && !is_crlf_byte(c)) {
        uint32_t p = i + (uint32_t)l0;
        int l1;
        if (p < n && (cls(s, p, &l1) & TKU_L)) return run_of(s, n, p + (uint32_t)l1, TKU_L);
    }
    if (f0 & TKU_N) {
        uint32_t j = i + (uint32_t)l0;
        for (uint32_t k = 1; k < max_digits && j < n; k++) {
            int l;
            if (!(cls(s, j, &l) & TKU_N)) break;
            j += (uint32_t)l;
        }
        return j;
    }
    {
        uint32_t p = c == ' ' ? i + 1 : i;
        int l;
        if (p < n && !(cls(s, p, &l) & (TKU_WS | TKU_L | TKU_N))) {
            uint32_t j = run_without(s, n, p + (uint32_t)l, TKU_WS | TKU_L | TKU_N);
            while (j < n && is_crlf_byte(s[j])) j++;
            return j;
        }
    }
    if (f0 & TKU_WS) return whitespace_tail(s, n, i, true);
    return -1;
}

/* ---- o200k ------------------------------------------------------------------------------ */

#define O_UPPER (TKU_LU | TKU_LT | TKU_LM | TKU_LO | TKU_M)
#define O_LOWER (TKU_LL | TKU_LM | TKU_LO | TKU_M)

static inline uint32_t opt_contraction(bytes s, uint32_t n, uint32_t j) {
    if (j < n && s[j] == '\'') {
        uint32_t k = contraction_ci(s, n, j + 1);
        if (k) return j + 1 + k;
    }
    return j;
}

static int64_t match_o200k(bytes s, uint32_t n, uint32_t i) {
    int l0;
    uint32_t f0 = cls(s, i, &l0);
    unsigned char c = s[i];
    bool prefix_ok = !(f0 & (TKU_L | TKU_N)) && !is_crlf_byte(c);
    /* alternative 1: P? U* W+ C? ; alternative 2: P? U+ W* C? (P tried first, then without) */
    for (int alt = 1; alt <= 2; alt++) {
        for (int with_p = 1; with_p >= 0; with_p--) {
            if (with_p && !prefix_ok) continue;
            uint32_t s0 = with_p ? i + (uint32_t)l0 : i;
            /* U-run from s0, remembering the last position whose char is also in W */
            uint32_t j = s0;
            int64_t last_w = -1;
            while (j < n) {
                int l;
                uint32_t f = cls(s, j, &l);
                if (!(f & O_UPPER)) break;
                if (f & O_LOWER) last_w = j;
                j += (uint32_t)l;
            }
            uint32_t u_end = j;
            if (alt == 1) {
                int l;
                uint32_t w_start;
                if (u_end < n && (cls(s, u_end, &l) & O_LOWER)) w_start = u_end;
                else if (last_w >= 0) w_start = (uint32_t)last_w;
                else continue;
                return opt_contraction(s, n, run_of(s, n, w_start, O_LOWER));
            }
            if (u_end == s0) continue;
            return opt_contraction(s, n, run_of(s, n, u_end, O_LOWER));
        }
    }
    if (f0 & TKU_N) {
        uint32_t j = i + (uint32_t)l0;
        for (int k = 1; k < 3 && j < n; k++) {
            int l;
            if (!(cls(s, j, &l) & TKU_N)) break;
            j += (uint32_t)l;
        }
        return j;
    }
    {
        uint32_t p = c == ' ' ? i + 1 : i;
        int l;
        if (p < n && !(cls(s, p, &l) & (TKU_WS | TKU_L | TKU_N))) {
            uint32_t j = run_without(s, n, p + (uint32_t)l, TKU_WS | TKU_L | TKU_N);
            while (j < n && (is_crlf_byte(s[j]) || s[j] == '/')) j++;
            return j;
        }
    }
    if (f0 & TKU_WS) return whitespace_tail(s, n, i, true);
    return -1;
}

/* ---- DeepSeek V3 ------------------------------------------------------------------------ */

static inline bool ascii_punct(unsigned char c) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60)
           || (c >= 0x7B && c <= 0x7E);
}
static inline bool ascii_alpha(unsigned char c) { return (unsigned char)((c | 0x20) - 'a') < 26; }

static inline bool cjk_ds(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x309F) || (cp >= 0x30A0 && cp <= 0x30FF);
}

static int64_t match_ds3(bytes s, uint32_t n, uint32_t i) {
    unsigned char c = s[i];
    if (ascii_punct(c) && i + 1 < n && ascii_alpha(s[i + 1])) {
        uint32_t j = i + 2;
        while (j < n && ascii_alpha(s[j])) j++;
        return j;
    }
    int l0;
    uint32_t f0 = cls(s, i, &l0);
    if (!(f0 & (TKU_L | TKU_P | TKU_S)) && !is_crlf_byte(c)) {
        uint32_t j = run_of(s, n, i + (uint32_t)l0, TKU_L | TKU_M);
        if (j > i + (uint32_t)l0) return j;
    }
    if (f0 & (TKU_L | TKU_M)) return run_of(s, n, i + (uint32_t)l0, TKU_L | TKU_M);
    {
        uint32_t p = c == ' ' ? i + 1 : i;
        int l;
        if (p < n && (cls(s, p, &l) & (TKU_P | TKU_S))) {
            uint32_t j = run_of(s, n, p + (uint32_t)l, TKU_P | TKU_S);
            while (j < n && is_crlf_byte(s[j])) j++;
            return j;
        }
    }
    if (f0 & TKU_WS) return whitespace_tail(s, n, i, true);
    return -1;
}

/* ---- GPT-2 ------------------------------------------------------------------------------ */

static int64_t match_gpt2(bytes s, uint32_t n, uint32_t i) {
    unsigned char c = s[i];
    if (c == '\'') {
        uint32_t k = contraction_cs(s, n, i + 1);
        if (k) return i + 1 + k;
    }
    uint32_t p = c == ' ' ? i + 1 : i;
    int l;
    if (p < n) {
        uint32_t f = cls(s, p, &l);
        if (f & TKU_L) return run_of(s, n, p + (uint32_t)l, TKU_L);
        if (f & TKU_N) return run_of(s, n, p + (uint32_t)l, TKU_N);
        if (!(f & TKU_WS)) return run_without(s, n, p + (uint32_t)l, TKU_WS | TKU_L | TKU_N);
    }
    if (cls(s, i, &l) & TKU_WS) return whitespace_tail(s, n, i, false);
    return -1;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

int64_t tk_fast_match_at(tk_fast_split k, const unsigned char *s, uint32_t n, uint32_t i) {
    switch (k) {
    case TK_FAST_LLAMA3: return match_cl100k(s, n, i, 3);
    case TK_FAST_QWEN2: return match_cl100k(s, n, i, 1);
    case TK_FAST_O200K: return match_o200k(s, n, i);
    case TK_FAST_DIGITS3: {
        int l;
        if (!(cls(s, i, &l) & TKU_N)) return -1;
        uint32_t j = i + (uint32_t)l;
        for (int c = 1; c < 3 && j < n; c++) {
            if (!(cls(s, j, &l) & TKU_N)) break;
            j += (uint32_t)l;
        }
        return j;
    }
    case TK_FAST_CJK_DS: {
        uint32_t j = i;
        while (j < n) {
            int l;
            if (!cjk_ds(cp_at(s, j, &l))) break;
            j += (uint32_t)l;
        }
        return j > i ? (int64_t)j : -1;
    }
    case TK_FAST_DS3: return match_ds3(s, n, i);
    case TK_FAST_GPT2: return match_gpt2(s, n, i);
    default: return -1;
    }
}

int tk_fast_find_from(tk_fast_split k, const char *str, uint32_t n, uint32_t base, uint32_t from,
                      size_t max_matches, tk_mspanvec *out, uint32_t *next) {
    bytes s = (bytes)str;
    uint32_t prev = from, i = from;
    size_t found = 0;
    while (i < n) {
        if (found == max_matches) {
            *next = prev;
            return 0;
        }
        int64_t end = tk_fast_match_at(k, s, n, i);
        if (end < 0) {
            i += (uint32_t)tku_seq_len(s[i]);
            continue;
        }
        if (prev != i && tk_vec_push(out, ((tk_mspan){base + prev, base + i, 0}))) return TK_ENOMEM;
        if (tk_vec_push(out, ((tk_mspan){base + i, base + (uint32_t)end, 1}))) return TK_ENOMEM;
        prev = i = (uint32_t)end;
        found++;
    }
    if (prev != n && tk_vec_push(out, ((tk_mspan){base + prev, base + n, 0}))) return TK_ENOMEM;
    *next = n;
    return 0;
}

int tk_fast_find(tk_fast_split k, const char *str, uint32_t n, uint32_t base, tk_mspanvec *out) {
    if (n == 0) return tk_vec_push(out, ((tk_mspan){base, base, 0})) ? TK_ENOMEM : 0;
    uint32_t next;
    return tk_fast_find_from(k, str, n, base, 0, SIZE_MAX, out, &next);
}
