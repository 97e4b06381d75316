/* The JSON writer: compact output into a tk_buf, with the JSON path of the value being written
 * kept for error messages. Numeric arrays reserve their worst case once and are written with a
 * raw pointer. */
#include "json_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tk_jw_init(tk_jw *w, tk_buf *b, tk_err *e) {
    memset(w, 0, sizeof *w);
    w->b = b;
    w->e = e;
}

int tk_jw_fail(tk_jw *w, int code, const char *fmt, ...) {
    char msg[TK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tk_err_set(w->e, code, "%s: %s", w->path_len ? w->path : "(root)", msg);
}

size_t tk_jw_push_key(tk_jw *w, const char *k) {
    size_t saved = w->path_len;
    size_t room = sizeof w->path - w->path_len;
    int n = snprintf(w->path + w->path_len, room, "%s%s", w->path_len ? "." : "", k);
    if (n > 0 && (size_t)n < room) w->path_len += (size_t)n;
    else w->path[w->path_len] = '\0';
    return saved;
}

size_t tk_jw_push_index(tk_jw *w, size_t i) {
    size_t saved = w->path_len;
    size_t room = sizeof w->path - w->path_len;
    int n = snprintf(w->path + w->path_len, room, "[%zu]", i);
    if (n > 0 && (size_t)n < room) w->path_len += (size_t)n;
    else w->path[w->path_len] = '\0';
    return saved;
}

static int oom(tk_jw *w) { return tk_jw_fail(w, TK_ENOMEM, "out of memory writing JSON"); }

int tk_jw_raw(tk_jw *w, const char *s, size_t n) {
    if (tk_buf_append(w->b, s, n)) return oom(w);
    return 0;
}

int tk_jw_str(tk_jw *w, const char *s) {
    size_t n = strlen(s);
    size_t bad;
    if (!tk_utf8_valid(s, n, &bad)) return tk_jw_fail(w, TK_EINVAL, "invalid UTF-8 at byte %zu", bad);
    /* worst case: every byte becomes \u00XX */
    if (tk_buf_reserve(w->b, n * 6 + 2)) return oom(w);
    char *d = w->b->data + w->b->len, *d0 = d;
    *d++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') { *d++ = (char)c; continue; }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        default: {
            static const char hex[] = "0123456789abcdef";
            *d++ = 'u'; *d++ = '0'; *d++ = '0';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 15];
        }
        }
    }
    *d++ = '"';
    w->b->len += (size_t)(d - d0);
    w->b->data[w->b->len] = '\0';
    return 0;
}

int tk_jw_key(tk_jw *w, bool *first, const char *key) {
    if (!*first && tk_buf_putc(w->b, ',')) return oom(w);
    *first = false;
    int rc = tk_jw_str(w, key);
    if (rc) return rc;
    if (tk_buf_putc(w->b, ':')) return oom(w);
    return 0;
}

int tk_jw_i64(tk_jw *w, int64_t v) {
    char t[32];
    return tk_jw_raw(w, t, tk_fmt_i64(t, v));
}

int tk_jw_f64(tk_jw *w, double v) {
    if (!isfinite(v)) return tk_jw_fail(w, TK_EINVAL, "%s is not representable in JSON", isnan(v) ? "NaN" : "infinity");
    char t[48];
    return tk_jw_raw(w, t, tk_fmt_f64(t, v));
}

int tk_jw_bool(tk_jw *w, bool v) { return v ? tk_jw_raw(w, "true", 4) : tk_jw_raw(w, "false", 5); }

int tk_jw_i64_array(tk_jw *w, const int64_t *v, size_t n) {
    size_t need;
    if (!tk_mul_size(n, 21, &need) || tk_buf_reserve(w->b, need + 2)) return oom(w);
    char *d = w->b->data + w->b->len, *d0 = d;
    *d++ = '[';
    for (size_t i = 0; i < n; i++) {
        d += tk_fmt_i64_inline(d, v[i]);
        *d++ = ',';
    }
    if (n) d--;
    *d++ = ']';
    w->b->len += (size_t)(d - d0);
    w->b->data[w->b->len] = '\0';
    return 0;
}

int tk_jw_i32_array(tk_jw *w, const int32_t *v, size_t n) {
    size_t need;
    if (!tk_mul_size(n, 12, &need) || tk_buf_reserve(w->b, need + 2)) return oom(w);
    char *d = w->b->data + w->b->len, *d0 = d;
    *d++ = '[';
    for (size_t i = 0; i < n; i++) {
        d += tk_fmt_i64_inline(d, v[i]);
        *d++ = ',';
    }
    if (n) d--;
    *d++ = ']';
    w->b->len += (size_t)(d - d0);
    w->b->data[w->b->len] = '\0';
    return 0;
}

int tk_jw_f32_array(tk_jw *w, const float *v, size_t n) {
    size_t need;
    if (!tk_mul_size(n, 33, &need) || tk_buf_reserve(w->b, need + 2)) return oom(w);
    char *d = w->b->data + w->b->len, *d0 = d;
    /* weights and advantages come in runs of one value (0 for the prompt, 1/len or one
     * advantage for the rest): the previous element's text is reused for an equal value */
    uint32_t prev_bits = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    *d++ = '[';
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        uint32_t bits;
        memcpy(&bits, &x, 4);
        if (prev && bits == prev_bits) {
            memcpy(d, prev, prev_len);
            d += prev_len;
            continue;
        }
        if (!isfinite(x)) {
            w->b->data[w->b->len] = '\0';
            tk_jw_push_index(w, i);
            return tk_jw_fail(w, TK_EINVAL, "%s is not representable in JSON", isnan(x) ? "NaN" : "infinity");
        }
        char *start = d;
        if (bits == 0) {
            memcpy(d, "0.0", 3);
            d += 3;
        } else if (x == 1.0f) {
            memcpy(d, "1.0", 3);
            d += 3;
        } else {
            d += tk_fmt_f32(d, x);
        }
        *d++ = ',';
        prev = start;
        prev_len = (size_t)(d - start);
        prev_bits = bits;
    }
    if (n) d--;
    *d++ = ']';
    w->b->len += (size_t)(d - d0);
    w->b->data[w->b->len] = '\0';
    return 0;
}

int tk_jw_raw_object(tk_jw *w, const char *json) {
    if (!json) return tk_jw_raw(w, "{}", 2);
    tk_err e2 = {0};
    tk_arena *a = tk_arena_new(0);
    if (!a) return oom(w);
    tk_jr r;
    tk_jr_init(&r, json, strlen(json), a, false, &e2);
    int rc = tk_jr_peek(&r) == '{' ? tk_jr_skip(&r) : tk_jr_type_error(&r, "object");
    if (!rc) rc = tk_jr_end(&r);
    tk_jr_finish(&r);
    tk_arena_free(a);
    if (rc) return tk_jw_fail(w, TK_EINVAL, "not a JSON object: %s", e2.msg);
    /* copy without the whitespace outside strings */
    size_t n = strlen(json);
    if (tk_buf_reserve(w->b, n)) return oom(w);
    char *d = w->b->data + w->b->len, *d0 = d;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = json[i];
        if (in_str) {
            *d++ = c;
            if (c == '\\') *d++ = json[++i];
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
            *d++ = c;
        } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            *d++ = c;
        }
    }
    w->b->len += (size_t)(d - d0);
    w->b->data[w->b->len] = '\0';
    return 0;
}
