/* A hand-written protobuf writer and reader for the server's conformance tests, written from the
 * schema in reference/tinker-protocol.md §5 and independent of the wire layer's codec, so that
 * the server is checked against bodies built the way the protocol describes them. */
#ifndef TK_TEST_SERVER_PB_H
#define TK_TEST_SERVER_PB_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tinkerc/base.h"

/* ---- writing ------------------------------------------------------------------------------------ */

static inline void pb_varint(tk_buf *b, uint64_t v) {
    unsigned char t[10];
    int n = 0;
    do {
        t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    if (tk_buf_append(b, t, (size_t)n)) abort();
}

static inline void pb_tag(tk_buf *b, unsigned field, unsigned wt) { pb_varint(b, ((uint64_t)field << 3) | wt); }

static inline void pb_bytes(tk_buf *b, unsigned field, const void *p, size_t n) {
    pb_tag(b, field, 2);
    pb_varint(b, n);
    if (n && tk_buf_append(b, p, n)) abort();
}

static inline void pb_str(tk_buf *b, unsigned field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

static inline void pb_uint(tk_buf *b, unsigned field, uint64_t v) {
    pb_tag(b, field, 0);
    pb_varint(b, v);
}

static inline void pb_double(tk_buf *b, unsigned field, double v) {
    pb_tag(b, field, 1);
    if (tk_buf_append(b, &v, 8)) abort(); /* little-endian host */
}

/* A nested message: field number + the finished bytes of the sub-message. */
static inline void pb_msg(tk_buf *b, unsigned field, const tk_buf *sub) { pb_bytes(b, field, sub->data, sub->len); }

/* DType values of the schema. */
enum { PB_FLOAT32 = 1, PB_INT64 = 2, PB_INT32 = 3, PB_BFLOAT16 = 4 };

/* Tensor { bytes dense = 1; DType dtype = 3; repeated int64 shape = 4 (packed) } */
static inline void pb_tensor(tk_buf *b, unsigned field, int dtype, const void *data, size_t nbytes,
                             const int64_t *shape, int ndim) {
    tk_buf t = {0}, sh = {0};
    pb_bytes(&t, 1, data, nbytes);
    pb_uint(&t, 3, (uint64_t)dtype);
    for (int i = 0; i < ndim; i++) pb_varint(&sh, (uint64_t)shape[i]);
    if (ndim) pb_bytes(&t, 4, sh.data, sh.len);
    pb_msg(b, field, &t);
    tk_buf_free(&t);
    tk_buf_free(&sh);
}

/* One map<string, Tensor> entry. */
static inline void pb_tensor_entry(tk_buf *datum, unsigned field, const char *key, int dtype, const void *data,
                                   size_t nbytes, size_t n) {
    tk_buf ent = {0};
    int64_t shape[1] = {(int64_t)n};
    pb_str(&ent, 1, key);
    pb_tensor(&ent, 2, dtype, data, nbytes, shape, 1);
    pb_msg(datum, field, &ent);
    tk_buf_free(&ent);
}

/* ---- reading ----------------------------------------------------------------------------------- */

typedef struct pb_reader {
    const unsigned char *p, *end;
} pb_reader;

typedef struct pb_field {
    unsigned num, wt;
    uint64_t v;                /* varint / fixed value */
    const unsigned char *data; /* length-delimited */
    size_t len;
} pb_field;

static inline bool pb_read_varint(pb_reader *r, uint64_t *v) {
    uint64_t x = 0;
    for (int s = 0; s < 64 && r->p < r->end; s += 7) {
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Next field; false at the end or on malformed input. */
static inline bool pb_next(pb_reader *r, pb_field *f) {
    uint64_t key;
    if (r->p >= r->end || !pb_read_varint(r, &key)) return false;
    f->num = (unsigned)(key >> 3);
    f->wt = (unsigned)(key & 7);
    f->data = NULL;
    f->len = 0;
    if (f->wt == 0) return pb_read_varint(r, &f->v);
    if (f->wt == 1 || f->wt == 5) {
        size_t n = f->wt == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) return false;
        f->v = 0;
        memcpy(&f->v, r->p, n);
        r->p += n;
        return true;
    }
    if (f->wt == 2) {
        uint64_t n;
        if (!pb_read_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return false;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return true;
    }
    return false;
}

static inline pb_reader pb_sub(const pb_field *f) { return (pb_reader){f->data, f->data + f->len}; }

#endif
