/* A strict streaming reader for the two large members of tokenizer.json, model.vocab and
 * model.merges, which hold ~99% of the file. jansson builds a DOM of several hundred thousand
 * nodes for them, which alone takes longer than our load-time budget; this reader hands each
 * entry to a callback without building anything. The rest of the document is small and is
 * parsed (and fully validated) by jansson afterwards.
 *
 * Strictness matches jansson's: RFC 8259 syntax, valid UTF-8, no raw control characters in
 * strings, no lone surrogates in \u escapes. */
#include "internal.h"

#define MAX_DEPTH 512

typedef struct reader {
    const char *s;
    size_t n;
    size_t i;
    const char *what;   /* file name for messages */
    tk_err *e;
    tk_buf scratch;     /* unescaped string */
} reader;

void tk_json_linecol(const char *text, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t k = 0; k < off; k++) {
        if (text[k] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[k] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int fail(reader *r, size_t at, const char *fmt, ...) TK_PRINTF(3, 4);
static int fail(reader *r, size_t at, const char *fmt, ...) {
    int line, col;
    tk_json_linecol(r->s, at > r->n ? r->n : at, &line, &col);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tk_err_set(r->e, TK_EPARSE, "%s:%d:%d: %s", r->what, line, col, msg);
}

static void skip_ws(reader *r) {
    while (r->i < r->n) {
        char c = r->s[r->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
        r->i++;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(reader *r, size_t at, uint32_t *out) {
    if (at + 4 > r->n) return fail(r, at, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(r->s[at + (size_t)k]);
        if (h < 0) return fail(r, at, "invalid \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at s (lead byte >= 0x80), or 0. */
static inline int utf8_seq_ok(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F)) return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F)) return 0;
        return 4;
    }
    return 0;
}

/* Read a string starting at r->i (which must be '"'). On success *p and *len point either into the
 * text (no escapes) or into r->scratch. */
static int read_string(reader *r, const char **p, size_t *len) {
    size_t start = r->i;
    if (r->i >= r->n || r->s[r->i] != '"') return fail(r, r->i, "expected a string");
    size_t i = ++r->i;
    /* scan to the closing quote, validating UTF-8 as we go and noting escapes */
    const unsigned char *us = (const unsigned char *)r->s;
    bool esc = false;
    while (i < r->n) {
        unsigned char c = us[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c == '"') break;
        if (c == '\\') {
            esc = true;
            i += 2;
            continue;
        }
        if (c < 0x20) return fail(r, i, "control character in a string");
        int l = utf8_seq_ok(us + i, r->n - i);
        if (l <= 0) return fail(r, i, "invalid UTF-8 in a string");
        i += (size_t)l;
    }
    if (i >= r->n) return fail(r, start, "unterminated string");
    size_t end = i; /* closing quote */
    if (!esc) {
        *p = r->s + r->i;
        *len = end - r->i;
        r->i = end + 1;
        return 0;
    }
    tk_buf_clear(&r->scratch);
    if (tk_buf_reserve(&r->scratch, end - r->i + 4)) return tk_err_set(r->e, TK_ENOMEM, "out of memory");
    char *d = r->scratch.data;
    for (i = r->i; i < end;) {
        char c = r->s[i];
        if (c != '\\') {
            *d++ = c;
            i++;
            continue;
        }
        char x = r->s[i + 1];
        i += 2;
        switch (x) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '/': *d++ = '/'; break;
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u': {
            uint32_t u;
            int rc = read_hex4(r, i, &u);
            if (rc) return rc;
            i += 4;
            if (u >= 0xDC00 && u <= 0xDFFF) return fail(r, i - 6, "lone low surrogate in \\u escape");
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t lo;
                if (i + 2 > end || r->s[i] != '\\' || r->s[i + 1] != 'u')
                    return fail(r, i - 6, "lone high surrogate in \\u escape");
                if ((rc = read_hex4(r, i + 2, &lo))) return rc;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(r, i, "invalid surrogate pair in \\u escape");
                i += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            d += tku_encode(u, d);
            break;
        }
        default: return fail(r, i - 2, "invalid escape in a string");
        }
    }
    if (i != end) return fail(r, end, "truncated escape in a string");
    r->scratch.len = (size_t)(d - r->scratch.data);
    r->scratch.data[r->scratch.len] = '\0';
    *p = r->scratch.data;
    *len = r->scratch.len;
    r->i = end + 1;
    return 0;
}

/* Read a JSON number; *is_int says whether it has no fraction or exponent. */
static int read_number(reader *r, int64_t *ival, bool *is_int, bool *overflow) {
    size_t i = r->i, start = i;
    *is_int = true;
    *overflow = false;
    bool neg = false;
    if (i < r->n && r->s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= r->n || r->s[i] < '0' || r->s[i] > '9') return fail(r, start, "invalid number");
    if (r->s[i] == '0' && i + 1 < r->n && r->s[i + 1] >= '0' && r->s[i + 1] <= '9')
        return fail(r, start, "invalid number (leading zero)");
    uint64_t v = 0;
    while (i < r->n && r->s[i] >= '0' && r->s[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10) *overflow = true;
        else v = v * 10 + (uint64_t)(r->s[i] - '0');
        i++;
    }
    if (i < r->n && r->s[i] == '.') {
        *is_int = false;
        i++;
        if (i >= r->n || r->s[i] < '0' || r->s[i] > '9') return fail(r, start, "invalid number");
        while (i < r->n && r->s[i] >= '0' && r->s[i] <= '9') i++;
    }
    if (i < r->n && (r->s[i] == 'e' || r->s[i] == 'E')) {
        *is_int = false;
        i++;
        if (i < r->n && (r->s[i] == '+' || r->s[i] == '-')) i++;
        if (i >= r->n || r->s[i] < '0' || r->s[i] > '9') return fail(r, start, "invalid number");
        while (i < r->n && r->s[i] >= '0' && r->s[i] <= '9') i++;
    }
    if (v > (uint64_t)INT64_MAX) *overflow = true;
    *ival = *overflow ? 0 : neg ? -(int64_t)v : (int64_t)v;
    r->i = i;
    return 0;
}

static int expect(reader *r, char c) {
    skip_ws(r);
    if (r->i >= r->n) return fail(r, r->i, "unexpected end of input");
    if (r->s[r->i] != c) {
        return fail(r, r->i, "expected '%c'", c);
    }
    r->i++;
    return 0;
}

static int skip_value(reader *r, int depth) {
    if (depth > MAX_DEPTH) return fail(r, r->i, "nesting too deep");
    skip_ws(r);
    if (r->i >= r->n) return fail(r, r->i, "unexpected end of input");
    char c = r->s[r->i];
    if (c == '"') {
        const char *p;
        size_t len;
        return read_string(r, &p, &len);
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        r->i++;
        skip_ws(r);
        if (r->i < r->n && r->s[r->i] == close) {
            r->i++;
            return 0;
        }
        for (;;) {
            int rc;
            if (c == '{') {
                skip_ws(r);
                const char *p;
                size_t len;
                if ((rc = read_string(r, &p, &len)) || (rc = expect(r, ':'))) return rc;
            }
            if ((rc = skip_value(r, depth + 1))) return rc;
            skip_ws(r);
            if (r->i >= r->n) return fail(r, r->i, "unexpected end of input");
            if (r->s[r->i] == ',') {
                r->i++;
                continue;
            }
            if (r->s[r->i] == close) {
                r->i++;
                return 0;
            }
            return fail(r, r->i, "expected ',' or a closing bracket");
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        int64_t v;
        bool is_int, ovf;
        return read_number(r, &v, &is_int, &ovf);
    }
    static const char *const lits[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (r->n - r->i >= l && !memcmp(r->s + r->i, lits[k], l)) {
            r->i += l;
            return 0;
        }
    }
    return fail(r, r->i, "invalid value");
}

/* Skip an object or array by bracket counting, minding only strings and escapes (no validation:
 * tk_json_parse_vocab / tk_json_parse_merges read the span strictly afterwards). */
static int skip_container(reader *r) {
    size_t i = r->i, depth = 0, start = r->i;
    const char *s = r->s;
    while (i < r->n) {
        char c = s[i];
        if (c == '"') {
            size_t content = ++i;
            for (;;) {
                const char *q = memchr(s + i, '"', r->n - i);
                if (!q) return fail(r, start, "unterminated string");
                size_t k = (size_t)(q - s), bs = 0;
                while (k - bs > content && s[k - 1 - bs] == '\\') bs++; /* escaped if odd */
                i = k + 1;
                if (!(bs & 1)) break;
            }
            continue;
        }
        if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (depth-- == 0) return fail(r, i, "unbalanced brackets");
            if (depth == 0) {
                r->i = i + 1;
                return 0;
            }
        }
        i++;
    }
    return fail(r, start, "unexpected end of input");
}

static void reader_init(reader *r, const char *text, size_t len, const char *what, tk_err *e) {
    memset(r, 0, sizeof *r);
    r->s = text;
    r->n = len;
    r->what = what ? what : "tokenizer.json";
    r->e = e;
}

int tk_json_find_model_members(const char *text, size_t len, const char *what,
                               tk_json_span *vocab, tk_json_span *merges, tk_err *e) {
    reader r;
    reader_init(&r, text, len, what, e);
    *vocab = (tk_json_span){0, 0};
    *merges = (tk_json_span){0, 0};
    int rc = 0;
    /* a UTF-8 byte order mark is not JSON; jansson rejects it too */
    if ((rc = expect(&r, '{'))) goto out;
    skip_ws(&r);
    if (r.i < r.n && r.s[r.i] == '}') goto out;
    for (;;) {
        skip_ws(&r);
        const char *key;
        size_t klen;
        if ((rc = read_string(&r, &key, &klen)) || (rc = expect(&r, ':'))) goto out;
        bool is_model = klen == 5 && !memcmp(key, "model", 5);
        skip_ws(&r);
        if (is_model && r.i < r.n && r.s[r.i] == '{') {
            r.i++;
            skip_ws(&r);
            if (r.i < r.n && r.s[r.i] == '}') {
                r.i++;
            } else {
                for (;;) {
                    skip_ws(&r);
                    const char *mk;
                    size_t mklen;
                    if ((rc = read_string(&r, &mk, &mklen)) || (rc = expect(&r, ':'))) goto out;
                    int which = mklen == 5 && !memcmp(mk, "vocab", 5)    ? 1
                                : mklen == 6 && !memcmp(mk, "merges", 6) ? 2
                                                                         : 0;
                    skip_ws(&r);
                    size_t vstart = r.i;
                    /* vocab and merges are read strictly later: here only their extent matters */
                    if ((rc = which && r.i < r.n && (r.s[r.i] == '{' || r.s[r.i] == '[') ? skip_container(&r)
                                                                                            : skip_value(&r, 2)))
                        goto out;
                    if (which == 1 && vocab->end == 0) *vocab = (tk_json_span){vstart, r.i};
                    if (which == 2 && merges->end == 0) *merges = (tk_json_span){vstart, r.i};
                    skip_ws(&r);
                    if (r.i < r.n && r.s[r.i] == ',') {
                        r.i++;
                        continue;
                    }
                    if ((rc = expect(&r, '}'))) goto out;
                    break;
                }
            }
        } else if ((rc = skip_value(&r, 1))) {
            goto out;
        }
        skip_ws(&r);
        if (r.i < r.n && r.s[r.i] == ',') {
            r.i++;
            continue;
        }
        if ((rc = expect(&r, '}'))) goto out;
        break;
    }
    skip_ws(&r);
    if (r.i != r.n) rc = fail(&r, r.i, "unexpected data after the top-level object");
out:
    tk_buf_free(&r.scratch);
    return rc;
}

/* A short, printable rendering of a token for messages. */
static void show_token(char *buf, size_t cap, const char *p, size_t len) {
    size_t o = 0;
    for (size_t k = 0; k < len && o + 8 < cap; k++) {
        unsigned char c = (unsigned char)p[k];
        if (c == '"' || c == '\\') o += (size_t)snprintf(buf + o, cap - o, "\\%c", c);
        else if (c < 0x20) o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
        else buf[o++] = (char)c;
    }
    if (o + 8 >= cap) o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o] = '\0';
}

int tk_json_parse_vocab(const char *text, size_t len, tk_json_span sp, const char *what,
                        tk_vocab_cb cb, void *ctx, tk_err *e) {
    reader r;
    reader_init(&r, text, sp.end, what, e);
    (void)len;
    r.i = sp.start;
    int rc = 0;
    if (r.i >= r.n || r.s[r.i] != '{') {
        rc = fail(&r, r.i, "model.vocab: expected an object of token -> id");
        goto out;
    }
    r.i++;
    skip_ws(&r);
    if (r.i < r.n && r.s[r.i] == '}') goto out;
    for (size_t index = 0;; index++) {
        skip_ws(&r);
        const char *tok;
        size_t tlen;
        if ((rc = read_string(&r, &tok, &tlen)) || (rc = expect(&r, ':'))) goto out;
        skip_ws(&r);
        size_t at = r.i;
        int64_t id = 0;
        bool is_int = false, ovf = false;
        if (r.i < r.n && (r.s[r.i] == '-' || (r.s[r.i] >= '0' && r.s[r.i] <= '9'))) {
            if ((rc = read_number(&r, &id, &is_int, &ovf))) goto out;
        }
        if (!is_int || ovf || id < 0 || id >= INT32_MAX) {
            char shown[96];
            show_token(shown, sizeof shown, tok, tlen);
            char msg[160];
            snprintf(msg, sizeof msg, "model.vocab[\"%s\"]: the id must be an integer in [0, 2^31-1)", shown);
            rc = fail(&r, at, "%s", msg);
            goto out;
        }
        if ((rc = cb(ctx, tok, tlen, id, index, e))) {
            int line, col;
            tk_json_linecol(text, at, &line, &col);
            tk_err_prefix(e, "%s:%d:%d: ", r.what, line, col);
            goto out;
        }
        skip_ws(&r);
        if (r.i < r.n && r.s[r.i] == ',') {
            r.i++;
            continue;
        }
        if ((rc = expect(&r, '}'))) goto out;
        break;
    }
out:
    tk_buf_free(&r.scratch);
    return rc;
}

int tk_json_parse_merges(const char *text, size_t len, tk_json_span sp, const char *what,
                         tk_merge_cb cb, void *ctx, tk_err *e) {
    reader r;
    reader_init(&r, text, sp.end, what, e);
    (void)len;
    r.i = sp.start;
    int rc = 0;
    char *first = NULL;
    int style = 0; /* 1 = "a b" strings, 2 = ["a", "b"] pairs */
    if (r.i >= r.n || r.s[r.i] != '[') {
        rc = fail(&r, r.i, "model.merges: expected an array");
        goto out;
    }
    r.i++;
    skip_ws(&r);
    if (r.i < r.n && r.s[r.i] == ']') goto out;
    size_t rank = 0;
    for (size_t index = 0;; index++) {
        skip_ws(&r);
        size_t at = r.i;
        char msg[128];
        if (r.i < r.n && r.s[r.i] == '"') {
            if (style == 2) {
                snprintf(msg, sizeof msg, "model.merges[%zu]: a string among [left, right] pairs", index);
                rc = fail(&r, at, "%s", msg);
                goto out;
            }
            style = 1;
            const char *m;
            size_t mlen;
            if ((rc = read_string(&r, &m, &mlen))) goto out;
            if (mlen >= 8 && !memcmp(m, "#version", 8)) goto next;
            const char *sp1 = memchr(m, ' ', mlen);
            if (!sp1 || memchr(sp1 + 1, ' ', mlen - (size_t)(sp1 + 1 - m))) {
                snprintf(msg, sizeof msg,
                         "model.merges[%zu]: expected \"left right\" (two tokens and one space)", index);
                rc = fail(&r, at, "%s", msg);
                goto out;
            }
            if ((rc = cb(ctx, m, (size_t)(sp1 - m), sp1 + 1, mlen - (size_t)(sp1 + 1 - m), rank, index, at, e)))
                goto out;
            rank++;
        } else if (r.i < r.n && r.s[r.i] == '[') {
            if (style == 1) {
                snprintf(msg, sizeof msg, "model.merges[%zu]: a pair among \"left right\" strings", index);
                rc = fail(&r, at, "%s", msg);
                goto out;
            }
            style = 2;
            r.i++;
            skip_ws(&r);
            const char *a, *b;
            size_t alen, blen;
            if (r.i >= r.n || r.s[r.i] != '"') goto bad_pair;
            if ((rc = read_string(&r, &a, &alen))) goto out;
            /* a may live in the scratch buffer, which the next read reuses */
            free(first);
            first = tk_strndup(a, alen);
            if (!first) {
                rc = tk_err_set(e, TK_ENOMEM, "out of memory");
                goto out;
            }
            skip_ws(&r);
            if (r.i >= r.n || r.s[r.i] != ',') goto bad_pair;
            r.i++;
            skip_ws(&r);
            if (r.i >= r.n || r.s[r.i] != '"') goto bad_pair;
            if ((rc = read_string(&r, &b, &blen))) goto out;
            skip_ws(&r);
            if (r.i >= r.n || r.s[r.i] != ']') goto bad_pair;
            r.i++;
            if ((rc = cb(ctx, first, alen, b, blen, rank, index, at, e))) goto out;
            rank++;
        } else {
            snprintf(msg, sizeof msg, "model.merges[%zu]: expected \"left right\" or [left, right]", index);
            rc = fail(&r, at, "%s", msg);
            goto out;
        }
    next:
        skip_ws(&r);
        if (r.i < r.n && r.s[r.i] == ',') {
            r.i++;
            continue;
        }
        if ((rc = expect(&r, ']'))) goto out;
        break;
    bad_pair:
        snprintf(msg, sizeof msg, "model.merges[%zu]: expected a pair of two strings", index);
        rc = fail(&r, at, "%s", msg);
        goto out;
    }
out:
    free(first);
    tk_buf_free(&r.scratch);
    return rc;
}
