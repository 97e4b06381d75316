/* Internal to src/wire: protobuf primitives for the hand-written codec of §5.
 *
 * Why hand-written rather than protobuf-c: the three messages are small, and their payload is
 * raw little-endian arrays that we want to copy straight between the wire and our own arrays
 * (protobuf-c would decode into its generated structs first and we would copy again; encoding
 * would need its structs built first). protobuf-c 1.4.1 also cannot express proto3 `optional`,
 * which SampleResponse uses for presence. Writing is two passes: sizes first (all errors are
 * found there), then one exact-size write with no checks. */
#ifndef TK_WIRE_PROTO_INTERNAL_H
#define TK_WIRE_PROTO_INTERNAL_H

#include "tinkerc/wire.h"

#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* DType enum of the schema */
enum { PB_DTYPE_UNSPECIFIED = 0, PB_DTYPE_FLOAT32 = 1, PB_DTYPE_INT64 = 2, PB_DTYPE_INT32 = 3, PB_DTYPE_BFLOAT16 = 4 };

/* ---- writing -------------------------------------------------------------------------------- */

static inline size_t pb_varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}
static inline size_t pb_tag_size(uint32_t field) { return pb_varint_size((uint64_t)field << 3); }
/* size of a length-delimited field holding len bytes */
static inline size_t pb_len_size(uint32_t field, size_t len) { return pb_tag_size(field) + pb_varint_size(len) + len; }
static inline size_t pb_varint_field_size(uint32_t field, uint64_t v) { return pb_tag_size(field) + pb_varint_size(v); }

static inline uint8_t *pb_put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}
static inline uint8_t *pb_put_tag(uint8_t *p, uint32_t field, int wt) {
    return pb_put_varint(p, ((uint64_t)field << 3) | (uint64_t)wt);
}
static inline uint8_t *pb_put_len(uint8_t *p, uint32_t field, size_t len) {
    p = pb_put_tag(p, field, PB_LEN);
    return pb_put_varint(p, len);
}
static inline uint8_t *pb_put_bytes(uint8_t *p, uint32_t field, const void *data, size_t len) {
    p = pb_put_len(p, field, len);
    if (len) memcpy(p, data, len);
    return p + len;
}
static inline uint8_t *pb_put_string(uint8_t *p, uint32_t field, const char *s) {
    return pb_put_bytes(p, field, s, strlen(s));
}
static inline uint8_t *pb_put_varint_field(uint8_t *p, uint32_t field, uint64_t v) {
    p = pb_put_tag(p, field, PB_VARINT);
    return pb_put_varint(p, v);
}
static inline uint8_t *pb_put_double_field(uint8_t *p, uint32_t field, double d) {
    p = pb_put_tag(p, field, PB_I64);
    memcpy(p, &d, 8);
    return p + 8;
}

/* packed repeated int64 */
size_t pb_packed_i64_payload(const int64_t *v, size_t n);
uint8_t *pb_put_packed_i64(uint8_t *p, uint32_t field, const int64_t *v, size_t n);

/* Sort indices 0..n-1 by the strings keys[i] (bytewise), for deterministic map order. */
void pb_sort_keys(const char *const *keys, size_t n, size_t *order);

/* Reserve size bytes at the end of out and return where to write; NULL on OOM. */
uint8_t *pb_reserve(tk_buf *out, size_t size);
/* Finish a write started with pb_reserve: checks that exactly size bytes were written. */
int pb_commit(tk_buf *out, const uint8_t *start, const uint8_t *end, size_t size, const char *what, tk_err *e);

/* ---- reading -------------------------------------------------------------------------------- */

typedef struct tk_pr {
    const uint8_t *begin, *p, *end;
    tk_arena *a;
    tk_err *e;
    const char *msg;      /* message name for errors ("ForwardBackwardRequest") */
    size_t path_len;
    char path[256];
} tk_pr;

void tk_pr_init(tk_pr *r, const void *buf, size_t len, tk_arena *a, const char *msg, tk_err *e);
int tk_pr_fail(tk_pr *r, int code, const char *fmt, ...) TK_PRINTF(3, 4);
size_t tk_pr_push(tk_pr *r, const char *fmt, ...) TK_PRINTF(2, 3);
static inline void tk_pr_pop(tk_pr *r, size_t saved) {
    r->path_len = saved;
    r->path[saved] = '\0';
}

/* Next tag; 1 = a field follows, 0 = end of the current message, < 0 = error. */
int tk_pr_next(tk_pr *r, uint32_t *field, int *wt);
int tk_pr_varint(tk_pr *r, uint64_t *v);
int tk_pr_double(tk_pr *r, double *v);
/* A length-delimited payload. */
int tk_pr_bytes(tk_pr *r, const uint8_t **data, size_t *len);
int tk_pr_skip(tk_pr *r, int wt);
/* Fail unless wt == want; names the field. */
int tk_pr_want(tk_pr *r, int wt, int want, const char *field);
/* Enter a sub-message of len bytes at the current position: sets end, returns the old end. */
static inline const uint8_t *tk_pr_enter(tk_pr *r, const uint8_t *data, size_t len) {
    const uint8_t *old = r->end;
    r->p = data;
    r->end = data + len;
    return old;
}
static inline void tk_pr_leave(tk_pr *r, const uint8_t *old_end) {
    r->p = r->end;
    r->end = old_end;
}
/* A string field: arena copy, NUL-terminated, UTF-8 checked. */
int tk_pr_string(tk_pr *r, char **out);
/* Repeated int64, packed or one element (wt says which); appended to *v (malloc'ed). */
int tk_pr_repeated_i64(tk_pr *r, int wt, int64_t **v, size_t *n, size_t max_n);
/* Copy len bytes into the arena (NULL when len == 0). */
void *tk_pr_copy(tk_pr *r, const void *data, size_t len);

/* A map entry message {1: key string, 2: value}; the value is read by the callback. A missing
 * key is "". */
int tk_pr_map_entry(tk_pr *r, char **key, int (*value)(tk_pr *r, int wt, void *ctx), void *ctx);
/* Map value callback for double values (ctx: double *). */
int tk_pr_f64_value(tk_pr *r, int wt, void *ctx);

/* Append a zeroed element to a malloc'ed vector (vec, n, cap); on OOM sets rc and jumps to out. */
#define VEC_PUSH(vec, n, cap, T, r)                                                                  \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t nc_ = (cap) ? (cap) * 2 : 8;                                                    \
            T *nv_ = tk_realloc_array((vec), nc_, sizeof(T));                                      \
            if (!nv_) { rc = tk_pr_fail((r), TK_ENOMEM, "out of memory"); goto out; }              \
            (vec) = nv_;                                                                           \
            (cap) = nc_;                                                                           \
        }                                                                                          \
        memset(&(vec)[(n)], 0, sizeof(T));                                                         \
        (n)++;                                                                                     \
    } while (0)

#endif
