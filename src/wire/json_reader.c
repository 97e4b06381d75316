/* A pull reader for JSON that decodes straight into C values. It tracks the JSON path of the
 * value being read so every error names it ("data[3].loss_fn_inputs.weights.data[7]: …"). */
#include "json_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tk_jr_init(tk_jr *r, const char *json, size_t len, tk_arena *a, bool strict, tk_err *e) {
    memset(r, 0, sizeof *r);
    r->begin = r->p = json ? json : "";
    r->end = r->begin + (json ? len : 0);
    r->a = a;
    r->e = e;
    r->strict = strict;
}

void tk_jr_finish(tk_jr *r) {
    free(r->scratch);
    r->scratch = NULL;
    r->scratch_cap = 0;
}

int tk_jr_fail(tk_jr *r, int code, const char *fmt, ...) {
    char msg[TK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tk_err_set(r->e, code, "%s: %s", r->path_len ? r->path : "(root)", msg);
}

int tk_jr_syntax(tk_jr *r, const char *what) {
    if (r->p >= r->end)
        return tk_jr_fail(r, TK_EPARSE, "invalid JSON: unexpected end of input (%s)", what);
    return tk_jr_fail(r, TK_EPARSE, "invalid JSON at byte %zu: %s", (size_t)(r->p - r->begin), what);
}

static bool lit_at(const tk_jr *r, const char *lit) {
    size_t n = strlen(lit);
    return (size_t)(r->end - r->p) >= n && memcmp(r->p, lit, n) == 0;
}

static const char *value_type_name(tk_jr *r) {
    char c = tk_jr_peek(r);
    switch (c) {
    case '{': return "object";
    case '[': return "array";
    case '"': return "string";
    case 't': return lit_at(r, "true") ? "boolean" : "invalid JSON";
    case 'f': return lit_at(r, "false") ? "boolean" : "invalid JSON";
    case 'n': return lit_at(r, "null") ? "null" : "invalid JSON";
    case 'N': case 'I': return "number";
    case 0: return "end of input";
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            tk_num n;
            if (tk_num_scan(r->p, r->end, &n)) return n.is_int ? "integer" : "real number";
            return "a malformed number";
        }
        return "invalid JSON";
    }
}

int tk_jr_type_error(tk_jr *r, const char *want) {
    const char *got = value_type_name(r);
    if (strcmp(got, "invalid JSON") == 0) return tk_jr_syntax(r, "expected a JSON value");
    if (r->p >= r->end) return tk_jr_syntax(r, want);
    return tk_jr_fail(r, TK_EINVAL, "expected %s, got %s", want, got);
}

/* ---- path ----------------------------------------------------------------------------------- */

size_t tk_jr_push_key(tk_jr *r, const char *k, size_t kl) {
    size_t saved = r->path_len;
    size_t room = sizeof r->path - r->path_len - 1;
    if (room > 1) {
        size_t dot = r->path_len ? 1 : 0;
        if (kl + dot > room) kl = room > dot ? room - dot : 0;
        if (dot) r->path[r->path_len++] = '.';
        memcpy(r->path + r->path_len, k, kl);
        r->path_len += kl;
        r->path[r->path_len] = '\0';
    }
    return saved;
}

size_t tk_jr_push_index(tk_jr *r, size_t i) {
    size_t saved = r->path_len;
    size_t room = sizeof r->path - r->path_len;
    int n = snprintf(r->path + r->path_len, room, "[%zu]", i);
    if (n > 0 && (size_t)n < room) r->path_len += (size_t)n;
    else r->path[r->path_len] = '\0';
    return saved;
}

/* ---- structure ------------------------------------------------------------------------------ */

static int enter(tk_jr *r) {
    if (++r->depth > TK_JSON_MAX_DEPTH)
        return tk_jr_fail(r, TK_EPARSE, "JSON nested deeper than %d levels", TK_JSON_MAX_DEPTH);
    return 0;
}

int tk_jr_obj_begin(tk_jr *r) {
    if (tk_jr_peek(r) != '{') return tk_jr_type_error(r, "object");
    r->p++;
    return enter(r);
}

int tk_jr_arr_begin(tk_jr *r) {
    if (tk_jr_peek(r) != '[') return tk_jr_type_error(r, "array");
    r->p++;
    return enter(r);
}

static int read_string_raw(tk_jr *r, const char **s, size_t *n, bool *copied);

int tk_jr_obj_next(tk_jr *r, bool *first, const char **k, size_t *kl) {
    char c = tk_jr_peek(r);
    if (c == '}' && *first) { r->p++; r->depth--; return 0; }
    if (!*first) {
        if (c == '}') { r->p++; r->depth--; return 0; }
        if (c != ',') return tk_jr_syntax(r, "expected ',' or '}' in object");
        r->p++;
        c = tk_jr_peek(r);
    }
    *first = false;
    if (c != '"') return tk_jr_syntax(r, "expected a string key in object");
    bool copied;
    int rc = read_string_raw(r, k, kl, &copied);
    if (rc) return rc;
    if (tk_jr_peek(r) != ':') return tk_jr_syntax(r, "expected ':' after object key");
    r->p++;
    return 1;
}

int tk_jr_arr_next(tk_jr *r, bool *first) {
    char c = tk_jr_peek(r);
    if (c == ']') { r->p++; r->depth--; return 0; }
    if (!*first) {
        if (c != ',') return tk_jr_syntax(r, "expected ',' or ']' in array");
        r->p++;
        if (tk_jr_peek(r) == ']') return tk_jr_syntax(r, "trailing ',' in array");
    }
    *first = false;
    return 1;
}

bool tk_jr_null(tk_jr *r) {
    if (tk_jr_peek(r) == 'n' && r->end - r->p >= 4 && memcmp(r->p, "null", 4) == 0) {
        r->p += 4;
        return true;
    }
    return false;
}

int tk_jr_end(tk_jr *r) {
    if (tk_jr_peek(r) != 0) return tk_jr_syntax(r, "trailing characters after the JSON value");
    return 0;
}

/* ---- strings -------------------------------------------------------------------------------- */

static int hex4(const char *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, uint32_t cp) {
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) { d[0] = (char)(0xC0 | (cp >> 6)); d[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Read the string at p (which is '"'). Without escapes *s points into the input; with escapes
 * the decoded text is in the arena (*copied). Either way it is valid UTF-8 and contains no NUL. */
static int read_string_raw(tk_jr *r, const char **s, size_t *n, bool *copied) {
    const char *start = r->p + 1, *p = start, *end = r->end;
    bool esc = false;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) { r->p = p; return tk_jr_syntax(r, "control character in string"); }
        if (c == '\\') {
            esc = true;
            p++;
            if (p >= end) break;
        }
        p++;
    }
    if (p >= end) { r->p = end; return tk_jr_syntax(r, "unterminated string"); }
    const char *close = p;
    *copied = esc;
    if (!esc) {
        size_t bad;
        if (!tk_utf8_valid(start, (size_t)(close - start), &bad)) {
            r->p = start + bad;
            return tk_jr_syntax(r, "invalid UTF-8 in string");
        }
        *s = start;
        *n = (size_t)(close - start);
        r->p = close + 1;
        return 0;
    }
    char *out = tk_arena_alloc(r->a, (size_t)(close - start) + 1);
    if (!out) return tk_jr_fail(r, TK_ENOMEM, "out of memory reading a string");
    char *d = out;
    const char *seg = start;
    for (p = start; p < close;) {
        if (*p != '\\') { p++; continue; }
        memcpy(d, seg, (size_t)(p - seg));
        d += p - seg;
        char c = p[1];
        p += 2;
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '/': *d++ = '/'; break;
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (close - p < 4 || hex4(p, &cp)) { r->p = p - 2; return tk_jr_syntax(r, "bad \\u escape"); }
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (close - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF) {
                    r->p = p - 6;
                    return tk_jr_syntax(r, "unpaired UTF-16 surrogate in \\u escape");
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                r->p = p - 6;
                return tk_jr_syntax(r, "unpaired UTF-16 surrogate in \\u escape");
            } else if (cp == 0) {
                r->p = p - 6;
                return tk_jr_syntax(r, "\\u0000 in a string is not supported");
            }
            d += put_utf8(d, cp);
            break;
        }
        default: r->p = p - 2; return tk_jr_syntax(r, "bad escape in string");
        }
        seg = p;
    }
    memcpy(d, seg, (size_t)(close - seg));
    d += close - seg;
    *d = '\0';
    size_t bad;
    if (!tk_utf8_valid(out, (size_t)(d - out), &bad)) {
        r->p = start;
        return tk_jr_syntax(r, "invalid UTF-8 in string");
    }
    *s = out;
    *n = (size_t)(d - out);
    r->p = close + 1;
    return 0;
}

int tk_jr_str(tk_jr *r, char **out, size_t *len) {
    if (tk_jr_peek(r) != '"') return tk_jr_type_error(r, "string");
    const char *s;
    size_t n;
    bool copied;
    int rc = read_string_raw(r, &s, &n, &copied);
    if (rc) return rc;
    if (copied) {
        *out = (char *)s;
    } else {
        *out = tk_arena_strndup(r->a, s, n);
        if (!*out) return tk_jr_fail(r, TK_ENOMEM, "out of memory reading a string");
    }
    if (len) *len = n;
    return 0;
}

/* ---- scalars -------------------------------------------------------------------------------- */

static int scan_number(tk_jr *r, tk_num *n, const char *want) {
    char c = tk_jr_peek(r);
    if (c != '-' && !(c >= '0' && c <= '9')) return tk_jr_type_error(r, want);
    const char *q = tk_num_scan(r->p, r->end, n);
    if (!q) return tk_jr_syntax(r, "malformed number");
    return 0;
}

static int num_to_i64(tk_jr *r, const tk_num *n, int64_t *out) {
    if (!n->is_int) return tk_jr_fail(r, TK_EINVAL, "expected an integer, got a real number");
    if (n->trunc || n->exp10 != 0 || (n->neg ? n->mant > (1ull << 63) : n->mant > (uint64_t)INT64_MAX))
        return tk_jr_fail(r, TK_ERANGE, "integer %.*s does not fit in 64 bits",
                          (int)(n->end - n->start), n->start);
    *out = n->neg ? (int64_t)(0 - n->mant) : (int64_t)n->mant;
    return 0;
}

int tk_jr_i64(tk_jr *r, int64_t *out) {
    tk_num n;
    int rc = scan_number(r, &n, "integer");
    if (rc) return rc;
    if ((rc = num_to_i64(r, &n, out))) return rc;
    r->p = n.end;
    return 0;
}

/* Python's json module writes NaN, Infinity and -Infinity; accept them where a float goes. */
static bool special_float(tk_jr *r, double *out) {
    const char *p = r->p;
    size_t left = (size_t)(r->end - p);
    if (left >= 3 && memcmp(p, "NaN", 3) == 0) { *out = NAN; r->p += 3; return true; }
    if (left >= 8 && memcmp(p, "Infinity", 8) == 0) { *out = INFINITY; r->p += 8; return true; }
    if (left >= 9 && memcmp(p, "-Infinity", 9) == 0) { *out = -INFINITY; r->p += 9; return true; }
    return false;
}

int tk_jr_f64(tk_jr *r, double *out) {
    tk_jr_ws(r);
    if (special_float(r, out)) return 0;
    tk_num n;
    int rc = scan_number(r, &n, "number");
    if (rc) return rc;
    *out = tk_num_to_f64(&n);
    r->p = n.end;
    return 0;
}

int tk_jr_bool(tk_jr *r, bool *out) {
    char c = tk_jr_peek(r);
    if (c == 't' && r->end - r->p >= 4 && memcmp(r->p, "true", 4) == 0) { r->p += 4; *out = true; return 0; }
    if (c == 'f' && r->end - r->p >= 5 && memcmp(r->p, "false", 5) == 0) { r->p += 5; *out = false; return 0; }
    return tk_jr_type_error(r, "boolean");
}

/* ---- skipping and raw capture --------------------------------------------------------------- */

int tk_jr_skip(tk_jr *r) {
    char c = tk_jr_peek(r);
    int rc;
    switch (c) {
    case '{': {
        if ((rc = tk_jr_obj_begin(r))) return rc;
        bool first = true;
        const char *k;
        size_t kl;
        while ((rc = tk_jr_obj_next(r, &first, &k, &kl)) == 1)
            if ((rc = tk_jr_skip(r))) return rc;
        return rc;
    }
    case '[': {
        if ((rc = tk_jr_arr_begin(r))) return rc;
        bool first = true;
        while ((rc = tk_jr_arr_next(r, &first)) == 1)
            if ((rc = tk_jr_skip(r))) return rc;
        return rc;
    }
    case '"': {
        const char *s;
        size_t n;
        bool copied;
        return read_string_raw(r, &s, &n, &copied);
    }
    case 't': case 'f': {
        bool b;
        return tk_jr_bool(r, &b);
    }
    case 'n':
        if (tk_jr_null(r)) return 0;
        return tk_jr_syntax(r, "expected a JSON value");
    default: {
        double d;
        if (special_float(r, &d)) return 0;
        tk_num n;
        if (c != '-' && !(c >= '0' && c <= '9')) return tk_jr_syntax(r, "expected a JSON value");
        if (!tk_num_scan(r->p, r->end, &n)) return tk_jr_syntax(r, "malformed number");
        r->p = n.end;
        return 0;
    }
    }
}

int tk_jr_raw_object(tk_jr *r, char **out) {
    if (tk_jr_peek(r) != '{') return tk_jr_type_error(r, "object");
    const char *start = r->p;
    int rc = tk_jr_skip(r);
    if (rc) return rc;
    size_t n = (size_t)(r->p - start);
    char *d = tk_arena_alloc(r->a, n + 1);
    if (!d) return tk_jr_fail(r, TK_ENOMEM, "out of memory");
    /* drop whitespace outside strings */
    size_t j = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = start[i];
        if (in_str) {
            d[j++] = c;
            if (c == '\\') d[j++] = start[++i];
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
            d[j++] = c;
        } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            d[j++] = c;
        }
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

/* ---- numeric arrays ------------------------------------------------------------------------- */

static void *scratch(tk_jr *r, size_t need) {
    if (need <= r->scratch_cap) return r->scratch;
    size_t cap = r->scratch_cap ? r->scratch_cap : 4096;
    while (cap < need) cap *= 2;
    void *p = realloc(r->scratch, cap);
    if (!p) return NULL;
    r->scratch = p;
    r->scratch_cap = cap;
    return p;
}

static int finish_array(tk_jr *r, size_t n, size_t elem, void **out) {
    *out = NULL;
    if (n == 0) return 0;
    void *d = tk_arena_alloc(r->a, n * elem);
    if (!d) return tk_jr_fail(r, TK_ENOMEM, "out of memory for %zu array elements", n);
    memcpy(d, r->scratch, n * elem);
    *out = d;
    return 0;
}

static int elem_error(tk_jr *r, size_t i, const char *want) {
    tk_jr_push_index(r, i);
    return tk_jr_type_error(r, want);
}

/* After an element: skip spaces, then ',' (more follow) or ']' (done). Returns 1, 0 or error. */
static inline int after_elem(tk_jr *r) {
    const char *p = r->p;
    if (p < r->end && *p == ',') { r->p = p + 1; return 1; }
    tk_jr_ws(r);
    p = r->p;
    if (p < r->end && *p == ',') { r->p = p + 1; return 1; }
    if (p < r->end && *p == ']') { r->p = p + 1; r->depth--; return 0; }
    return tk_jr_syntax(r, "expected ',' or ']' in array");
}

/* Numeric arrays have a fast loop and a careful one. The fast loop first finds the closing ']'
 * with memchr: every scan inside the array then stops at that non-digit, so the inner loops
 * need no bounds checks, and the element count is bounded by the span (scratch is sized once).
 * Anything unusual (exponents, leading zeros, nested values, strange spacing, errors) hands the
 * current element to the careful loop, which parses it with tk_num_scan and reports errors with
 * the element's index. */

static inline bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* Up to 8 leading ASCII digits of p[0..8) at once (SWAR): their count, and their value in *v.
 * The caller guarantees 8 readable bytes. Bytes after the first non-digit are masked off. */
static inline size_t swar_digits(const char *p, uint64_t *v) {
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t sub = x - 0x3030303030303030ull;
    uint64_t non_digit = ((sub + 0x7676767676767676ull) | sub) & 0x8080808080808080ull;
    size_t n = non_digit ? (size_t)(__builtin_ctzll(non_digit) >> 3) : 8;
    if (n == 0) {
        *v = 0;
        return 0;
    }
    uint64_t y = n == 8 ? x : x << (8 * (8 - n));   /* the digits, left-padded with zero bytes */
    y = ((y & 0x0F0F0F0F0F0F0F0Full) * 2561) >> 8;
    y = ((y & 0x00FF00FF00FF00FFull) * 6553601) >> 16;
    *v = ((y & 0x0000FFFF0000FFFFull) * 42949672960001ull) >> 32;
    return n;
}

/* Fast path for integers: parses elements until the first unusual one. Returns the number of
 * elements parsed into buf and leaves r->p at the next element (or just past ']' with *done). */
static size_t int_fast(tk_jr *r, const char *close, int64_t *buf, bool *done, bool *bad_sep) {
    const char *p = r->p;
    size_t n = 0;
    *done = false;
    *bad_sep = false;
    while (is_ws(*p)) p++;
    if (p == close) {
        r->p = close + 1;
        r->depth--;
        *done = true;
        return 0;
    }
    for (;;) {
        const char *start = p;
        bool neg = *p == '-';
        p += neg;
        const char *d0 = p;
        uint64_t v = 0;
        size_t nd;
        if (r->end - p >= 8) {
            nd = swar_digits(p, &v);
            if (nd > 0 && nd < 8) p += nd;
            else v = 0;
        }
        if (p == d0)
            while ((unsigned char)(*p - '0') < 10) v = v * 10 + (uint64_t)(*p++ - '0');
        nd = (size_t)(p - d0);
        if (nd == 0 || nd > 18 || (nd > 1 && *d0 == '0') || *p == '.' || *p == 'e' || *p == 'E') {
            r->p = start;
            return n;
        }
        buf[n++] = neg ? -(int64_t)v : (int64_t)v;
        if (*p == ',') {
            p++;
            while (is_ws(*p)) p++;
            continue;
        }
        while (is_ws(*p)) p++;
        if (p == close) {
            r->p = close + 1;
            r->depth--;
            *done = true;
            return n;
        }
        if (*p == ',') {
            p++;
            while (is_ws(*p)) p++;
            continue;
        }
        r->p = p;
        *bad_sep = true;
        return n;
    }
}

static int int_array(tk_jr *r, void **out, size_t *count, bool i32) {
    int rc = tk_jr_arr_begin(r);
    if (rc) return rc;
    size_t n = 0, cap = 0;
    int64_t *buf = NULL;
    const char *close = memchr(r->p, ']', (size_t)(r->end - r->p));
    bool done = false, bad_sep = false;
    if (close) {
        cap = (size_t)(close - r->p) / 2 + 1;
        if (!(buf = scratch(r, cap * sizeof(int64_t)))) return tk_jr_fail(r, TK_ENOMEM, "out of memory");
        n = int_fast(r, close, buf, &done, &bad_sep);
        if (bad_sep) return tk_jr_syntax(r, "expected ',' or ']' in array");
    }
    if (!done && n == 0 && tk_jr_peek(r) == ']') { r->p++; r->depth--; done = true; }
    while (!done) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            if (!(buf = scratch(r, cap * sizeof(int64_t)))) return tk_jr_fail(r, TK_ENOMEM, "out of memory");
        }
        tk_jr_ws(r);
        tk_num num;
        int64_t x = 0;
        size_t saved = tk_jr_push_index(r, n);
        if ((rc = scan_number(r, &num, "integer")) || (rc = num_to_i64(r, &num, &x))) return rc;
        tk_jr_pop(r, saved);
        r->p = num.end;
        buf[n++] = x;
        if ((rc = after_elem(r)) < 0) return rc;
        if (rc == 0) break;
    }
    *count = n;
    if (i32) {
        for (size_t i = 0; i < n; i++)
            if (buf[i] < INT32_MIN || buf[i] > INT32_MAX) {
                tk_jr_push_index(r, i);
                return tk_jr_fail(r, TK_ERANGE, "token id %lld does not fit in int32", (long long)buf[i]);
            }
        int32_t *d = n ? tk_arena_alloc(r->a, n * sizeof(int32_t)) : NULL;
        if (n && !d) return tk_jr_fail(r, TK_ENOMEM, "out of memory for %zu array elements", n);
        for (size_t i = 0; i < n; i++) d[i] = (int32_t)buf[i];
        *out = d;
        return 0;
    }
    return finish_array(r, n, sizeof(int64_t), out);
}

int tk_jr_i64_array(tk_jr *r, int64_t **out, size_t *n) { return int_array(r, (void **)out, n, false); }
int tk_jr_i32_array(tk_jr *r, int32_t **out, size_t *n) { return int_array(r, (void **)out, n, true); }

/* Short equal-text test without a libc call (number texts are a few bytes). */
static inline bool same_text(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

static const double k_exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                         1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* One float element at p (inside an array whose ']' is at close); NULL when unusual. The common
 * shape "[-]digits[.digits]" with at most 19 significant digits is read here (fraction digits
 * eight at a time) and converted with one exact IEEE operation when it can be; anything else
 * goes through tk_num_scan. */
static inline const char *f32_fast_elem(const char *p, const char *close, float *x) {
    if ((p[0] == '0' || p[0] == '1') && (p[1] == ',' || p[1] == ']')) {
        *x = (float)(p[0] - '0');
        return p + 1;
    }
    if ((p[0] == '0' || p[0] == '1') && p[1] == '.' && p[2] == '0' && (p[3] == ',' || p[3] == ']')) {
        *x = (float)(p[0] - '0');
        return p + 3;
    }
    const char *q = p;
    bool neg = *q == '-';
    q += neg;
    uint64_t m = 0;
    int nd = 0, exp = 0;
    if (*q == '0') {
        q++;
    } else {
        const char *i0 = q;
        while ((unsigned char)(*q - '0') < 10 && q - i0 < 19) m = m * 10 + (uint64_t)(*q++ - '0');
        nd = (int)(q - i0);
        if (nd == 0 || (unsigned char)(*q - '0') < 10) goto general;
    }
    if (*q == '.') {
        q++;
        const char *f0 = q;
        if (m == 0)
            while (*q == '0') q++;
        exp = -(int)(q - f0);
        while (close - q >= 8) {
            uint64_t v;
            size_t c = swar_digits(q, &v);
            if (c == 0 || nd + (int)c > 19) break;
            m = m * (uint64_t)k_exact_pow10[c] + v;
            nd += (int)c;
            exp -= (int)c;
            q += c;
            if (c < 8) break;
        }
        while ((unsigned char)(*q - '0') < 10) {
            if (nd >= 19) goto general;
            m = m * 10 + (uint64_t)(*q++ - '0');
            nd++;
            exp--;
        }
        if (q == f0) return NULL;
    }
    if (*q == 'e' || *q == 'E' || m > (1ull << 53) || exp < -22) goto general;
    {
        double d = exp ? (double)m / k_exact_pow10[-exp] : (double)m;
        *x = (float)(neg ? -d : d);
        return q;
    }
general: {
    tk_num num;
    if (!tk_num_scan(p, close, &num)) return NULL;
    float f = tk_num_to_f32(&num);
    if (isinf(f)) return NULL;
    *x = f;
    return num.end;
}
}

int tk_jr_f32_array(tk_jr *r, float **out, size_t *count) {
    int rc = tk_jr_arr_begin(r);
    if (rc) return rc;
    size_t n = 0, cap = 0;
    float *buf = NULL;
    const char *close = memchr(r->p, ']', (size_t)(r->end - r->p));
    bool done = false, bad_sep = false;
    if (close) {
        cap = (size_t)(close - r->p) / 2 + 1;
        if (!(buf = scratch(r, cap * sizeof(float)))) return tk_jr_fail(r, TK_ENOMEM, "out of memory");
        const char *p = r->p;
        while (is_ws(*p)) p++;
        if (p == close) {
            r->p = close + 1;
            r->depth--;
            done = true;
        } else {
            /* runs of one value (weights, advantages): the previous element's text is compared
             * before anything is parsed */
            const char *prev = NULL;
            size_t prev_len = 0;
            float prev_x = 0;
            for (;;) {
                float x;
                const char *q;
                if (prev && (size_t)(close - p) >= prev_len && same_text(p, prev, prev_len) &&
                    (p[prev_len] == ',' || p[prev_len] == ']' || is_ws(p[prev_len]))) {
                    x = prev_x;
                    q = p + prev_len;
                } else {
                    q = f32_fast_elem(p, close, &x);
                    if (!q) break;
                    prev = p;
                    prev_len = (size_t)(q - p);
                    prev_x = x;
                }
                buf[n++] = x;
                p = q;
                while (is_ws(*p)) p++;
                if (*p == ',') {
                    p++;
                    while (is_ws(*p)) p++;
                    continue;
                }
                if (p == close) {
                    p = close + 1;
                    r->depth--;
                    done = true;
                } else {
                    bad_sep = true;
                }
                break;
            }
            r->p = p;
            if (bad_sep) return tk_jr_syntax(r, "expected ',' or ']' in array");
        }
    }
    if (!done && n == 0 && tk_jr_peek(r) == ']') { r->p++; r->depth--; done = true; }
    while (!done) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            if (!(buf = scratch(r, cap * sizeof(float)))) return tk_jr_fail(r, TK_ENOMEM, "out of memory");
        }
        tk_jr_ws(r);
        double d;
        float x;
        if (special_float(r, &d)) {
            x = (float)d;
        } else {
            char c = tk_jr_peek(r);
            if (c != '-' && !(c >= '0' && c <= '9')) return elem_error(r, n, "number");
            tk_num num;
            if (!tk_num_scan(r->p, r->end, &num)) {
                tk_jr_push_index(r, n);
                return tk_jr_syntax(r, "malformed number");
            }
            x = tk_num_to_f32(&num);
            if (isinf(x)) {
                tk_jr_push_index(r, n);
                return tk_jr_fail(r, TK_ERANGE, "%.*s is out of float32 range", (int)(num.end - num.start), num.start);
            }
            r->p = num.end;
        }
        buf[n++] = x;
        if ((rc = after_elem(r)) < 0) return rc;
        if (rc == 0) break;
    }
    *count = n;
    return finish_array(r, n, sizeof(float), (void **)out);
}

/* Skip an array that holds only numbers quickly (memchr for the ']' and for anything that would
 * nest); anything else goes through tk_jr_skip. */
int tk_jr_skip_numbers(tk_jr *r) {
    if (tk_jr_peek(r) == '[') {
        size_t left = (size_t)(r->end - r->p);
        const char *close = memchr(r->p, ']', left);
        if (close) {
            size_t span = (size_t)(close - r->p);
            if (!memchr(r->p + 1, '[', span - 1) && !memchr(r->p + 1, '{', span - 1) && !memchr(r->p + 1, '"', span - 1)) {
                r->p = close + 1;
                return 0;
            }
        }
    }
    return tk_jr_skip(r);
}

/* ---- vectors of structs --------------------------------------------------------------------- */

void *tk_jr_vec_push(tk_jr *r, tk_jr_vec *v) {
    if (v->len == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 8;
        char *d = tk_realloc_array(v->data, ncap, v->elem);
        if (!d) { tk_jr_fail(r, TK_ENOMEM, "out of memory"); return NULL; }
        v->data = d;
        v->cap = ncap;
    }
    void *slot = v->data + v->len * v->elem;
    memset(slot, 0, v->elem);
    v->len++;
    return slot;
}

int tk_jr_vec_finish(tk_jr *r, tk_jr_vec *v, void **out, size_t *n) {
    *n = v->len;
    *out = NULL;
    if (v->len) {
        void *d = tk_arena_alloc(r->a, v->len * v->elem);
        if (!d) return tk_jr_fail(r, TK_ENOMEM, "out of memory");
        memcpy(d, v->data, v->len * v->elem);
        *out = d;
    }
    return 0;
}
