/* Protobuf wire primitives: varints, tags, length-delimited fields, packed int64, with every
 * read bounds-checked and every error naming the field path. */
#include "proto_internal.h"

#include <stdarg.h>
#include <stdio.h>

size_t pb_packed_i64_payload(const int64_t *v, size_t n) {
    size_t s = 0;
    for (size_t i = 0; i < n; i++) s += pb_varint_size((uint64_t)v[i]);
    return s;
}

uint8_t *pb_put_packed_i64(uint8_t *p, uint32_t field, const int64_t *v, size_t n) {
    p = pb_put_len(p, field, pb_packed_i64_payload(v, n));
    for (size_t i = 0; i < n; i++) p = pb_put_varint(p, (uint64_t)v[i]);
    return p;
}

void pb_sort_keys(const char *const *keys, size_t n, size_t *order) {
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++) {   /* insertion sort: maps here have a handful of keys */
        size_t x = order[i], j = i;
        while (j > 0 && strcmp(keys[order[j - 1]], keys[x]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
}

uint8_t *pb_reserve(tk_buf *out, size_t size) {
    if (tk_buf_reserve(out, size)) return NULL;
    return (uint8_t *)out->data + out->len;
}

int pb_commit(tk_buf *out, const uint8_t *start, const uint8_t *end, size_t size, const char *what, tk_err *e) {
    if ((size_t)(end - start) != size)
        return tk_err_set(e, TK_EINTERNAL, "%s: wrote %zu bytes, sized %zu", what, (size_t)(end - start), size);
    out->len += size;
    out->data[out->len] = '\0';
    return 0;
}

void tk_pr_init(tk_pr *r, const void *buf, size_t len, tk_arena *a, const char *msg, tk_err *e) {
    memset(r, 0, sizeof *r);
    r->begin = r->p = buf ? buf : (const uint8_t *)"";
    r->end = r->begin + (buf ? len : 0);
    r->a = a;
    r->e = e;
    r->msg = msg;
}

int tk_pr_fail(tk_pr *r, int code, const char *fmt, ...) {
    char m[TK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return tk_err_set(r->e, code, "%s%s%s: %s (at byte %zu)", r->msg, r->path_len ? "." : "", r->path, m,
                      (size_t)(r->p - r->begin));
}

size_t tk_pr_push(tk_pr *r, const char *fmt, ...) {
    size_t saved = r->path_len;
    size_t room = sizeof r->path - r->path_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->path + r->path_len, room, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < room) r->path_len += (size_t)n;
    else r->path[r->path_len] = '\0';
    return saved;
}

int tk_pr_varint(tk_pr *r, uint64_t *v) {
    uint64_t x = 0;
    *v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) return tk_pr_fail(r, TK_EPARSE, "truncated varint");
        uint8_t b = *r->p++;
        if (i == 9 && b > 1) return tk_pr_fail(r, TK_EPARSE, "malformed varint (more than 64 bits)");
        x |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return tk_pr_fail(r, TK_EPARSE, "malformed varint (more than 10 bytes)");
}

int tk_pr_next(tk_pr *r, uint32_t *field, int *wt) {
    *field = 0;
    *wt = 0;
    if (r->p >= r->end) return 0;
    uint64_t t;
    int rc = tk_pr_varint(r, &t);
    if (rc) return rc;
    *wt = (int)(t & 7);
    uint64_t f = t >> 3;
    if (f == 0 || f > 0x1FFFFFFF) return tk_pr_fail(r, TK_EPARSE, "invalid field number %llu", (unsigned long long)f);
    *field = (uint32_t)f;
    return 1;
}

int tk_pr_double(tk_pr *r, double *v) {
    if (r->end - r->p < 8) return tk_pr_fail(r, TK_EPARSE, "truncated fixed64");
    memcpy(v, r->p, 8);
    r->p += 8;
    return 0;
}

int tk_pr_bytes(tk_pr *r, const uint8_t **data, size_t *len) {
    uint64_t n;
    *data = NULL;
    *len = 0;
    int rc = tk_pr_varint(r, &n);
    if (rc) return rc;
    if (n > (uint64_t)(r->end - r->p))
        return tk_pr_fail(r, TK_EPARSE, "length %llu runs past the end (%zu bytes left)", (unsigned long long)n,
                          (size_t)(r->end - r->p));
    *data = r->p;
    *len = (size_t)n;
    r->p += n;
    return 0;
}

int tk_pr_skip(tk_pr *r, int wt) {
    uint64_t v;
    const uint8_t *d;
    size_t n;
    switch (wt) {
    case PB_VARINT: return tk_pr_varint(r, &v);
    case PB_I64:
        if (r->end - r->p < 8) return tk_pr_fail(r, TK_EPARSE, "truncated fixed64");
        r->p += 8;
        return 0;
    case PB_LEN: return tk_pr_bytes(r, &d, &n);
    case PB_I32:
        if (r->end - r->p < 4) return tk_pr_fail(r, TK_EPARSE, "truncated fixed32");
        r->p += 4;
        return 0;
    default: return tk_pr_fail(r, TK_EPARSE, "unsupported wire type %d", wt);
    }
}

int tk_pr_want(tk_pr *r, int wt, int want, const char *field) {
    if (wt == want) return 0;
    return tk_pr_fail(r, TK_EPARSE, "%s: wire type %d, expected %d", field, wt, want);
}

void *tk_pr_copy(tk_pr *r, const void *data, size_t len) {
    if (!len) return NULL;
    void *d = tk_arena_alloc(r->a, len);
    if (d) memcpy(d, data, len);
    return d;
}

int tk_pr_string(tk_pr *r, char **out) {
    const uint8_t *d;
    size_t n;
    int rc = tk_pr_bytes(r, &d, &n);
    if (rc) return rc;
    if (memchr(d, 0, n)) return tk_pr_fail(r, TK_EINVAL, "NUL byte in a string");
    if (!tk_utf8_valid((const char *)d, n, NULL)) return tk_pr_fail(r, TK_EINVAL, "invalid UTF-8 in a string");
    if (!(*out = tk_arena_strndup(r->a, (const char *)d, n))) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
    return 0;
}

int tk_pr_repeated_i64(tk_pr *r, int wt, int64_t **v, size_t *n, size_t max_n) {
    int rc;
    if (wt == PB_VARINT) {
        uint64_t x;
        if ((rc = tk_pr_varint(r, &x))) return rc;
        if (*n >= max_n) return tk_pr_fail(r, TK_EINVAL, "more than %zu entries", max_n);
        int64_t *nv = realloc(*v, (*n + 1) * sizeof **v);
        if (!nv) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
        *v = nv;
        (*v)[(*n)++] = (int64_t)x;
        return 0;
    }
    if (wt != PB_LEN) return tk_pr_fail(r, TK_EPARSE, "wire type %d for a repeated int64", wt);
    const uint8_t *d;
    size_t len;
    if ((rc = tk_pr_bytes(r, &d, &len))) return rc;
    const uint8_t *old = tk_pr_enter(r, d, len);
    while (r->p < r->end) {
        uint64_t x;
        if ((rc = tk_pr_varint(r, &x))) return rc;
        if (*n >= max_n) return tk_pr_fail(r, TK_EINVAL, "more than %zu entries", max_n);
        int64_t *nv = realloc(*v, (*n + 1) * sizeof **v);
        if (!nv) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
        *v = nv;
        (*v)[(*n)++] = (int64_t)x;
    }
    tk_pr_leave(r, old);
    return 0;
}

int tk_pr_map_entry(tk_pr *r, char **key, int (*value)(tk_pr *r, int wt, void *ctx), void *ctx) {
    *key = NULL;
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        if (f == 1) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "key")) || (rc = tk_pr_string(r, key))) return rc;
        } else if (f == 2) {
            if ((rc = value(r, wt, ctx))) return rc;
        } else if ((rc = tk_pr_skip(r, wt))) {
            return rc;
        }
    }
    if (rc < 0) return rc;
    if (!*key && !(*key = tk_arena_strdup(r->a, ""))) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
    return 0;
}

int tk_pr_f64_value(tk_pr *r, int wt, void *ctx) {
    int rc = tk_pr_want(r, wt, PB_I64, "value");
    return rc ? rc : tk_pr_double(r, (double *)ctx);
}
