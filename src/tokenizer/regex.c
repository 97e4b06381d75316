/* PCRE2 patterns for Split pre-tokenizers, with Oniguruma's (HF's engine) meaning of \s.
 *
 * HF tokenizers compile Split patterns with Oniguruma, where \s is Unicode White_Space
 * (U+0009-000D, U+0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F,
 * U+3000). PCRE2 10.42's \s leaves out U+0085, so \s and \S are rewritten to that explicit set
 * before compiling. Matching iterates like Oniguruma's find_iter: an empty match right where the
 * previous match ended is skipped by moving on one character. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "internal.h"
#include "tstate.h"

#include <pcre2.h>

struct tk_regex {
    pcre2_code *code;
};

#define WS_CLASS \
    "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}" \
    "\\x{205f}\\x{3000}"

/* Copy one escape (backslash at p[i]) verbatim; returns the index after it. */
static size_t copy_escape(const char *p, size_t n, size_t i, tk_buf *out, int *rc) {
    size_t j = i + 1;
    if (j >= n) {
        *rc = tk_buf_putc(out, '\\');
        return j;
    }
    char x = p[j];
    size_t end = j + (size_t)tku_seq_len((unsigned char)x);
    if ((x == 'p' || x == 'P' || x == 'x' || x == 'o' || x == 'N') && j + 1 < n && p[j + 1] == '{') {
        const char *close = memchr(p + j + 1, '}', n - j - 1);
        if (close) end = (size_t)(close - p) + 1;
    }
    if (end > n) end = n;
    *rc = tk_buf_append(out, p + i, end - i);
    return end;
}

/* The flags a Unicode property name stands for, or 0 for one we leave to PCRE2. */
static uint32_t property_mask(const char *name, size_t n) {
    static const struct { const char *name; uint32_t mask; } props[] = {
        {"L", TKU_L}, {"Lu", TKU_LU}, {"Ll", TKU_LL}, {"Lt", TKU_LT}, {"Lm", TKU_LM}, {"Lo", TKU_LO},
        {"M", TKU_M}, {"N", TKU_N}, {"Nd", TKU_ND}, {"P", TKU_P}, {"Pc", TKU_PC}, {"S", TKU_S},
    };
    for (size_t k = 0; k < sizeof props / sizeof props[0]; k++)
        if (strlen(props[k].name) == n && !memcmp(props[k].name, name, n)) return props[k].mask;
    return 0;
}

/* The code points whose flags intersect mask, as a class body "\x{a}-\x{b}...". */
static int append_ranges(tk_buf *out, uint32_t mask) {
    for (uint32_t k = 0; k < tku_n_runs; k++) {
        if (!(tku_run_flags[k] & mask)) continue;
        uint32_t lo = tku_run_start[k];
        while (k + 1 < tku_n_runs && (tku_run_flags[k + 1] & mask)) k++;
        uint32_t hi = k + 1 < tku_n_runs ? tku_run_start[k + 1] - 1 : 0x10FFFF;
        if (lo >= 0xD800 && hi <= 0xDFFF) continue;
        if (lo <= 0xDFFF && hi >= 0xD800) { /* PCRE2 rejects surrogates in UTF mode */
            if (lo < 0xD800 && tk_buf_printf(out, "\\x{%x}-\\x{d7ff}", lo)) return TK_ENOMEM;
            if (hi > 0xDFFF && tk_buf_printf(out, "\\x{e000}-\\x{%x}", hi)) return TK_ENOMEM;
            continue;
        }
        int rc = lo == hi ? tk_buf_printf(out, "\\x{%x}", lo) : tk_buf_printf(out, "\\x{%x}-\\x{%x}", lo, hi);
        if (rc) return TK_ENOMEM;
    }
    return 0;
}

/* \p{X} / \pX at p[i] with a property we have tables for: its mask and the index after it. */
static uint32_t property_at(const char *p, size_t n, size_t i, size_t *end, bool *negated) {
    if (i + 2 >= n || p[i] != '\\' || (p[i + 1] != 'p' && p[i + 1] != 'P')) return 0;
    *negated = p[i + 1] == 'P';
    if (p[i + 2] == '{') {
        const char *close = memchr(p + i + 3, '}', n - i - 3);
        if (!close) return 0;
        size_t nlen = (size_t)(close - (p + i + 3));
        const char *name = p + i + 3;
        if (nlen && name[0] == '^') { /* \p{^L} is \P{L} */
            *negated = !*negated;
            name++;
            nlen--;
        }
        *end = (size_t)(close - p) + 1;
        return property_mask(name, nlen);
    }
    *end = i + 3;
    return property_mask(p + i + 2, 1);
}

/* Rewrite \s / \S, and the general-category properties to explicit Unicode 16.0 classes;
 * everything else is copied. */
static int rewrite_pattern(const char *p, size_t n, tk_buf *out) {
    bool in_class = false;
    int rc = 0;
    size_t i = 0;
    while (i < n && !rc) {
        char c = p[i];
        if (c == '\\') {
            char x = i + 1 < n ? p[i + 1] : 0;
            size_t pend;
            bool neg;
            uint32_t mask = property_at(p, n, i, &pend, &neg);
            if (mask && (!neg || !in_class)) {
                rc = tk_buf_puts(out, in_class ? "" : neg ? "[^" : "[");
                if (!rc) rc = append_ranges(out, mask);
                if (!rc && !in_class) rc = tk_buf_putc(out, ']');
                i = pend;
                continue;
            }
            if (x == 's') {
                rc = tk_buf_puts(out, in_class ? WS_CLASS : "[" WS_CLASS "]");
                i += 2;
            } else if (x == 'S' && !in_class) {
                rc = tk_buf_puts(out, "[^" WS_CLASS "]");
                i += 2;
            } else {
                i = copy_escape(p, n, i, out, &rc);
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            rc = tk_buf_putc(out, c);
            i++;
            if (i < n && p[i] == '^') rc = rc ? rc : tk_buf_putc(out, p[i++]);
            if (i < n && p[i] == ']') rc = rc ? rc : tk_buf_putc(out, p[i++]); /* literal ] */
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') {
            const char *close = NULL;
            for (size_t k = i + 2; k + 1 < n; k++)
                if (p[k] == ':' && p[k + 1] == ']') {
                    close = p + k;
                    break;
                }
            size_t end = close ? (size_t)(close - p) + 2 : i + 1;
            rc = tk_buf_append(out, p + i, end - i);
            i = end;
            continue;
        }
        if (in_class && c == ']') in_class = false;
        rc = tk_buf_putc(out, c);
        i++;
    }
    if (!rc && !out->data) rc = tk_buf_reserve(out, 1);
    return rc;
}

int tk_regex_compile(const char *pattern, size_t len, const char *what, tk_regex **out, tk_err *e) {
    tk_buf b = {0};
    if (rewrite_pattern(pattern, len, &b)) {
        tk_buf_free(&b);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)b.data, b.len, PCRE2_UTF | PCRE2_UCP, &errcode,
                                     &erroff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        tk_buf_free(&b);
        return tk_err_set(e, TK_EUNSUPPORTED, "%s: cannot compile the regex: %s", what, (char *)msg);
    }
    tk_buf_free(&b);
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    tk_regex *re = malloc(sizeof *re);
    if (!re) {
        pcre2_code_free(code);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    re->code = code;
    *out = re;
    return 0;
}

void tk_regex_free(tk_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

static int ensure_match_state(tk_tstate *ts) {
    if (!ts->match_data) {
        ts->match_data = pcre2_match_data_create(1, NULL);
        if (!ts->match_data) return TK_ENOMEM;
    }
    if (!ts->match_ctx) {
        ts->match_ctx = pcre2_match_context_create(NULL);
        if (!ts->match_ctx) return TK_ENOMEM;
    }
    return 0;
}

/* A bigger JIT stack, on first need (the default 32 KiB is enough for every pattern we ship). */
static int grow_jit_stack(tk_tstate *ts) {
    if (ts->jit_stack) return TK_ENOMEM;
    ts->jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, NULL);
    if (!ts->jit_stack) return TK_ENOMEM;
    pcre2_jit_stack_assign(ts->match_ctx, NULL, ts->jit_stack);
    return 0;
}

int tk_regex_find(const tk_regex *re, tk_tstate *ts, const char *s, uint32_t n, uint32_t base,
                  tk_mspanvec *out, tk_err *e) {
    if (ensure_match_state(ts)) return tk_err_set(e, TK_ENOMEM, "regex: out of memory");
    pcre2_match_data *md = ts->match_data;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t prev = 0, search = 0;
    int64_t last_match_end = -1;
    if (n == 0) return tk_vec_push(out, ((tk_mspan){base, base, 0})) ? TK_ENOMEM : 0;
    while (search <= n) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, search, PCRE2_NO_UTF_CHECK, md, ts->match_ctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && grow_jit_stack(ts) == 0) continue;
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return tk_err_set(e, TK_EINTERNAL, "pre-tokenizer regex failed at byte %u: %s",
                              search, (char *)msg);
        }
        uint32_t ms = (uint32_t)ov[0], me = (uint32_t)ov[1];
        if (ms == me && last_match_end == (int64_t)me) {
            if (search >= n) break;
            search += (uint32_t)tku_seq_len((unsigned char)s[search]);
            continue;
        }
        if (prev != ms && tk_vec_push(out, ((tk_mspan){base + prev, base + ms, 0}))) return TK_ENOMEM;
        if (tk_vec_push(out, ((tk_mspan){base + ms, base + me, 1}))) return TK_ENOMEM;
        prev = me;
        search = me;
        last_match_end = me;
    }
    if (prev != n && tk_vec_push(out, ((tk_mspan){base + prev, base + n, 0}))) return TK_ENOMEM;
    return 0;
}

void tk_tstate_free_regex(tk_tstate *ts) {
    pcre2_match_data_free(ts->match_data);
    pcre2_match_context_free(ts->match_ctx);
    pcre2_jit_stack_free(ts->jit_stack);
    ts->match_data = NULL;
    ts->match_ctx = NULL;
    ts->jit_stack = NULL;
}
