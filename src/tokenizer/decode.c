/* Decoding: concatenate the bytes each id stands for (HF ByteLevel decoder: a token whose string
 * is all byte-level characters gives those bytes, any other token its UTF-8 text), then replace
 * ill-formed UTF-8 by U+FFFD as Rust's from_utf8_lossy does. The streaming decoder holds back
 * the bytes of an unfinished character until the next push. */
#include "internal.h"

static int check_id(const tk_tokenizer *t, const int32_t *ids, size_t k, tk_err *e) {
    int32_t id = ids[k];
    if (id < 0 || id >= t->n_ids || !(t->id_flags[id] & TK_ID_PRESENT))
        return tk_err_set(e, TK_ERANGE, "decode: ids[%zu] = %d is not a token id (vocabulary size %d)",
                          k, id, t->n_ids);
    return 0;
}

/* Append the raw bytes of ids to raw. */
static int gather(const tk_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, tk_buf *raw,
                  tk_err *e) {
    for (size_t k = 0; k < n; k++) {
        int rc = check_id(t, ids, k, e);
        if (rc) return rc;
        int32_t id = ids[k];
        if (skip_special && (t->id_flags[id] & TK_ID_SPECIAL)) continue;
        tk_strref r = t->id_bytes[id];
        if (tk_buf_append(raw, t->pool.data + r.off, r.len)) return tk_err_set(e, TK_ENOMEM, "decode: out of memory");
    }
    return 0;
}

int tk_tokenizer_decode(const tk_tokenizer *t, const int32_t *ids, size_t n, bool skip_special_tokens,
                        tk_buf *out, tk_err *e) {
    tk_err local = {0};
    if (!e) e = &local;
    if (!t || !out || (!ids && n)) return tk_err_set(e, TK_EINVAL, "decode: NULL argument");
    size_t start = out->len;
    int rc = gather(t, ids, n, skip_special_tokens, out, e);
    if (rc) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
        return rc;
    }
    if (!out->data && tk_buf_reserve(out, 1)) return tk_err_set(e, TK_ENOMEM, "decode: out of memory");
    if (tk_utf8_valid(out->data + start, out->len - start, NULL)) return 0;
    /* rare: re-encode the tail lossily */
    tk_buf fixed = {0};
    if (tk_utf8_lossy(out->data + start, out->len - start, &fixed)) {
        tk_buf_free(&fixed);
        return tk_err_set(e, TK_ENOMEM, "decode: out of memory");
    }
    out->len = start;
    rc = tk_buf_append(out, fixed.data, fixed.len);
    tk_buf_free(&fixed);
    return rc ? tk_err_set(e, TK_ENOMEM, "decode: out of memory") : 0;
}

struct tk_stream_decoder {
    const tk_tokenizer *t;
    bool skip_special;
    tk_buf pending;
};

tk_stream_decoder *tk_stream_decoder_new(const tk_tokenizer *t, bool skip_special_tokens) {
    if (!t) return NULL;
    tk_stream_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->t = t;
    d->skip_special = skip_special_tokens;
    return d;
}

int tk_stream_decoder_push(tk_stream_decoder *d, const int32_t *ids, size_t n, tk_buf *out, tk_err *e) {
    tk_err local = {0};
    if (!e) e = &local;
    if (!d || !out || (!ids && n)) return tk_err_set(e, TK_EINVAL, "stream decode: NULL argument");
    size_t old = d->pending.len;
    int rc = gather(d->t, ids, n, d->skip_special, &d->pending, e);
    if (rc) {
        d->pending.len = old; /* nothing from this batch is kept */
        return rc;
    }
    size_t keep_from = tk_utf8_stable_prefix(d->pending.data ? d->pending.data : "", d->pending.len);
    if (keep_from) {
        if (tk_utf8_lossy(d->pending.data, keep_from, out)) return tk_err_set(e, TK_ENOMEM, "stream decode: out of memory");
        memmove(d->pending.data, d->pending.data + keep_from, d->pending.len - keep_from);
        d->pending.len -= keep_from;
    }
    if (!out->data && tk_buf_reserve(out, 1)) return tk_err_set(e, TK_ENOMEM, "stream decode: out of memory");
    return 0;
}

int tk_stream_decoder_finish(tk_stream_decoder *d, tk_buf *out, tk_err *e) {
    tk_err local = {0};
    if (!e) e = &local;
    if (!d || !out) return tk_err_set(e, TK_EINVAL, "stream decode: NULL argument");
    if (tk_utf8_lossy(d->pending.data ? d->pending.data : "", d->pending.len, out))
        return tk_err_set(e, TK_ENOMEM, "stream decode: out of memory");
    d->pending.len = 0;
    return 0;
}

void tk_stream_decoder_free(tk_stream_decoder *d) {
    if (!d) return;
    tk_buf_free(&d->pending);
    free(d);
}
