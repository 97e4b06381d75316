/* Encoding: the HF pipeline in order.
 *   0. invalid UTF-8 becomes U+FFFD (what Python's errors="replace" or a JS string would give the
 *      reference tokenizers; our API takes bytes, theirs takes text)
 *   1. added tokens that are not "normalized" are cut out of the raw text
 *   2. each remaining segment is normalized, then "normalized" added tokens are cut out of it
 *   3. the pre-tokenizer splits what is left, BPE encodes each piece
 *   4. the post-processor template adds BOS/EOS when add_special_tokens is set */
#include "internal.h"
#include "tstate.h"

static int oom(tk_err *e) { return tk_err_set(e, TK_ENOMEM, "encode: out of memory"); }

static int encode_segment(const tk_tokenizer *t, tk_tstate *ts, const char *seg, uint32_t len,
                          bool split, tk_vec_i32 *out, tk_err *e) {
    bool changed = false;
    int rc = tk_normalize(t, seg, len, &ts->normalized, &changed, e);
    if (rc) return rc;
    const char *s = changed ? ts->normalized.data : seg;
    size_t n = changed ? ts->normalized.len : len;
    if (n > TK_TOK_MAX_INPUT) return tk_err_set(e, TK_ERANGE, "encode: the normalized text is over 4 GiB");
    if (!t->set_norm.n) return tk_pretokenize_and_bpe(t, ts, s, (uint32_t)n, out, e);
    ts->segs2.len = ts->seg_ids2.len = 0;
    if (tk_added_split(t, &t->set_norm, s, (uint32_t)n, split, &ts->segs2, &ts->seg_ids2)) return oom(e);
    for (size_t k = 0; k < ts->segs2.len; k++) {
        tk_span sp = ts->segs2.data[k];
        int32_t id = ts->seg_ids2.data[k];
        if (id >= 0) rc = tk_vec_push(out, id) ? oom(e) : 0;
        else rc = tk_pretokenize_and_bpe(t, ts, s + sp.start, sp.end - sp.start, out, e);
        if (rc) return rc;
    }
    return 0;
}

static int encode_text(const tk_tokenizer *t, tk_tstate *ts, const char *s, uint32_t n, bool split,
                       tk_vec_i32 *out, tk_err *e) {
    ts->segs.len = ts->seg_ids.len = 0;
    if (tk_added_split(t, &t->set_raw, s, n, split, &ts->segs, &ts->seg_ids)) return oom(e);
    for (size_t k = 0; k < ts->segs.len; k++) {
        tk_span sp = ts->segs.data[k];
        int32_t id = ts->seg_ids.data[k];
        int rc = id >= 0 ? (tk_vec_push(out, id) ? oom(e) : 0)
                         : encode_segment(t, ts, s + sp.start, sp.end - sp.start, split, out, e);
        if (rc) return rc;
    }
    return 0;
}

int tk_tokenizer_encode(const tk_tokenizer *t, const char *text, size_t len, tk_encode_opts opts,
                        tk_vec_i32 *out, tk_err *e) {
    tk_err local = {0};
    if (!e) e = &local;
    if (!t || !out || (!text && len)) return tk_err_set(e, TK_EINVAL, "encode: NULL argument");
    if (len > TK_TOK_MAX_INPUT)
        return tk_err_set(e, TK_ERANGE, "encode: input of %zu bytes is over the 4 GiB limit", len);
    tk_tstate *ts = tk_tstate_get();
    if (!ts) return oom(e);
    const char *s = text ? text : "";
    if (!tk_utf8_check(s, len)) {
        tk_buf_clear(&ts->sanitized);
        if (tk_utf8_lossy(s, len, &ts->sanitized)) return oom(e);
        s = ts->sanitized.data;
        len = ts->sanitized.len;
        if (len > TK_TOK_MAX_INPUT) return tk_err_set(e, TK_ERANGE, "encode: input over the 4 GiB limit");
    }
    size_t start = out->len;
    int rc = 0;
    if (opts.add_special_tokens && t->tmpl) {
        for (uint32_t k = 0; k < t->n_tmpl && !rc; k++) {
            const tk_template_item *it = &t->tmpl[k];
            if (it->is_sequence) {
                rc = encode_text(t, ts, s, (uint32_t)len, opts.split_special_tokens, out, e);
            } else {
                for (uint32_t j = 0; j < it->n_ids && !rc; j++) rc = tk_vec_push(out, it->ids[j]) ? oom(e) : 0;
            }
        }
    } else {
        rc = encode_text(t, ts, s, (uint32_t)len, opts.split_special_tokens, out, e);
    }
    if (len > (1u << 22)) tk_tstate_trim(ts);
    if (rc) out->len = start;
    return rc;
}
