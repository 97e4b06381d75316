/* JSON text exactly as Python's json module writes it, because chat templates and the cookbook
 * embed json.dumps output in prompts: ", " / ": " separators by default, \uXXXX escapes when
 * ensure_ascii, insertion-ordered (or sorted) keys, and floats in repr() form. */
#include "internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const tk__pyjson_style TK__PYJSON_DEFAULT = {", ", ": ", true, false};
const tk__pyjson_style TK__PYJSON_UNICODE = {", ", ": ", false, false};

int tk__pyjson_quote(const char *s, size_t n, bool ensure_ascii, tk_buf *out) {
    static const char hex[] = "0123456789abcdef";
    int rc = tk_buf_putc(out, '"');
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (rc == 0 && i < n) {
        unsigned char c = p[i];
        char esc[16];
        const char *lit = NULL;
        switch (c) {
        case '"': lit = "\\\""; break;
        case '\\': lit = "\\\\"; break;
        case '\n': lit = "\\n"; break;
        case '\r': lit = "\\r"; break;
        case '\t': lit = "\\t"; break;
        case '\b': lit = "\\b"; break;
        case '\f': lit = "\\f"; break;
        default: break;
        }
        if (lit) {
            rc = tk_buf_puts(out, lit);
            i++;
            continue;
        }
        if (c < 0x20 || (c == 0x7f && ensure_ascii)) {
            snprintf(esc, sizeof esc, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
            rc = tk_buf_puts(out, esc);
            i++;
            continue;
        }
        if (c < 0x80 || !ensure_ascii) {
            /* copy a run of plain bytes */
            size_t j = i;
            while (j < n && p[j] >= 0x20 && p[j] != '"' && p[j] != '\\' &&
                   (p[j] < 0x7f || !ensure_ascii))
                j++;
            rc = tk_buf_append(out, p + i, j - i);
            i = j;
            continue;
        }
        /* non-ASCII with ensure_ascii: decode one code point */
        uint32_t cp;
        size_t l;
        if ((c & 0xe0) == 0xc0 && i + 1 < n) {
            cp = ((uint32_t)(c & 0x1f) << 6) | (p[i + 1] & 0x3f);
            l = 2;
        } else if ((c & 0xf0) == 0xe0 && i + 2 < n) {
            cp = ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(p[i + 1] & 0x3f) << 6) | (p[i + 2] & 0x3f);
            l = 3;
        } else if ((c & 0xf8) == 0xf0 && i + 3 < n) {
            cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3f) << 12) |
                 ((uint32_t)(p[i + 2] & 0x3f) << 6) | (p[i + 3] & 0x3f);
            l = 4;
        } else {
            cp = 0xfffd;
            l = 1;
        }
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            unsigned hi = 0xd800 + (v >> 10), lo = 0xdc00 + (v & 0x3ff);
            snprintf(esc, sizeof esc, "\\u%04x\\u%04x", hi, lo);
        } else {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
        }
        rc = tk_buf_puts(out, esc);
        i += l;
    }
    if (rc == 0) rc = tk_buf_putc(out, '"');
    return rc;
}

/* repr(float): the shortest digits that round-trip, fixed notation for exponents in [-4, 16),
 * scientific ("1e+16", "1.5e-05") outside, and ".0" on integral values. */
static int put_float(double d, tk_buf *out) {
    if (isnan(d)) return tk_buf_puts(out, "NaN");
    if (isinf(d)) return tk_buf_puts(out, d > 0 ? "Infinity" : "-Infinity");
    char sci[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, d);
        if (strtod(sci, NULL) == d) break;
    }
    /* sci = [-]D[.DDD]e[+-]XX */
    const char *p = sci;
    bool neg = *p == '-';
    if (neg) p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    char res[64];
    size_t k = 0;
    if (neg) res[k++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            res[k++] = '0';
            res[k++] = '.';
            for (int z = 0; z < -exp - 1; z++) res[k++] = '0';
            for (size_t i = 0; i < nd; i++) res[k++] = digits[i];
        } else {
            size_t intlen = (size_t)exp + 1;
            for (size_t i = 0; i < intlen; i++) res[k++] = i < nd ? digits[i] : '0';
            res[k++] = '.';
            if (nd > intlen)
                for (size_t i = intlen; i < nd; i++) res[k++] = digits[i];
            else
                res[k++] = '0';
        }
        res[k] = 0;
    } else {
        res[k++] = digits[0];
        if (nd > 1) {
            res[k++] = '.';
            for (size_t i = 1; i < nd; i++) res[k++] = digits[i];
        }
        snprintf(res + k, sizeof res - k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    return tk_buf_puts(out, res);
}

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int tk__pyjson_dump(const json_t *v, const tk__pyjson_style *st, tk_buf *out) {
    switch (json_typeof(v)) {
    case JSON_NULL: return tk_buf_puts(out, "null");
    case JSON_TRUE: return tk_buf_puts(out, "true");
    case JSON_FALSE: return tk_buf_puts(out, "false");
    case JSON_INTEGER: return tk_buf_printf(out, "%lld", (long long)json_integer_value(v));
    case JSON_REAL: return put_float(json_real_value(v), out);
    case JSON_STRING:
        return tk__pyjson_quote(json_string_value(v), json_string_length(v), st->ensure_ascii, out);
    case JSON_ARRAY: {
        int rc = tk_buf_putc(out, '[');
        for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
            if (i) rc = tk_buf_puts(out, st->item_sep);
            if (rc == 0) rc = tk__pyjson_dump(json_array_get(v, i), st, out);
        }
        return rc ? rc : tk_buf_putc(out, ']');
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = tk_malloc_array(n ? n : 1, sizeof *keys);
        if (!keys) return TK_ENOMEM;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) keys[i++] = key;
        if (st->sort_keys) qsort(keys, n, sizeof *keys, cmp_keys);
        int rc = tk_buf_putc(out, '{');
        for (i = 0; rc == 0 && i < n; i++) {
            if (i) rc = tk_buf_puts(out, st->item_sep);
            if (rc == 0) rc = tk__pyjson_quote(keys[i], strlen(keys[i]), st->ensure_ascii, out);
            if (rc == 0) rc = tk_buf_puts(out, st->key_sep);
            if (rc == 0) rc = tk__pyjson_dump(json_object_get(v, keys[i]), st, out);
        }
        free(keys);
        return rc ? rc : tk_buf_putc(out, '}');
    }
    }
    return TK_EINTERNAL;
}

int tk__pyjson_str(const json_t *v, const tk__pyjson_style *st, tk_buf *out) {
    switch (json_typeof(v)) {
    case JSON_NULL: return tk_buf_puts(out, "None");
    case JSON_TRUE: return tk_buf_puts(out, "True");
    case JSON_FALSE: return tk_buf_puts(out, "False");
    case JSON_STRING: return tk_buf_append(out, json_string_value(v), json_string_length(v));
    case JSON_REAL: {
        double d = json_real_value(v);
        if (isnan(d)) return tk_buf_puts(out, "nan");
        if (isinf(d)) return tk_buf_puts(out, d > 0 ? "inf" : "-inf");
        return put_float(d, out);
    }
    default: return tk__pyjson_dump(v, st, out);
    }
}

json_t *tk__pyjson_loads(const char *s, size_t n, char *err, size_t errlen) {
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v && err) snprintf(err, errlen, "%s (line %d, column %d)", je.text, je.line, je.column);
    return v;
}
