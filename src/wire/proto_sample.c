/* tinker_public.SampleResponse (§5) in both directions.
 *
 *   SampleResponse { 1 repeated SampledSequence; 2 optional bytes prompt_logprobs (float32 LE);
 *                    3 optional TopkPromptLogprobs; 4 int32 prompt_cache_hit_tokens }
 *   SampledSequence { 1 StopReason; 2 bytes tokens (int32 LE); 3 optional bytes logprobs }
 *   TopkPromptLogprobs { 1 token_ids (int32 LE, N x K); 2 logprobs (float32 LE); 3 uint32 k;
 *                        4 uint32 prompt_length } */
#include "proto_internal.h"
#include "wire_internal.h"

static size_t seq_payload(const tk_wire_sampled_sequence *s) {
    size_t n = 0;
    if (s->stop_reason != TK_WIRE_STOP_REASON_STOP) n += pb_varint_field_size(1, (uint64_t)s->stop_reason);
    if (s->n_tokens) n += pb_len_size(2, s->n_tokens * 4);
    if (s->has_logprobs) n += pb_len_size(3, s->n_logprobs * 4);
    return n;
}

static size_t topk_payload(const tk_wire_topk_prompt_logprobs *t) {
    size_t cells = t->n_positions * t->k, n = 0;
    if (cells) n += pb_len_size(1, cells * 4) + pb_len_size(2, cells * 4);
    if (t->k) n += pb_varint_field_size(3, t->k);
    if (t->n_positions) n += pb_varint_field_size(4, t->n_positions);
    return n;
}

int tk_wire_proto_encode_sample_response(const tk_wire_sample_response *r, tk_buf *out, tk_err *e) {
    if (r->n_sequences && !r->sequences) return tk_err_set(e, TK_EINVAL, "SampleResponse.sequences: NULL array");
    if (r->prompt_cache_hit_tokens < INT32_MIN || r->prompt_cache_hit_tokens > INT32_MAX)
        return tk_err_set(e, TK_ERANGE, "SampleResponse.prompt_cache_hit_tokens: does not fit int32");
    size_t size = 0;
    for (size_t i = 0; i < r->n_sequences; i++) {
        const tk_wire_sampled_sequence *s = &r->sequences[i];
        if (s->stop_reason != TK_WIRE_STOP_REASON_STOP && s->stop_reason != TK_WIRE_STOP_REASON_LENGTH)
            return tk_err_set(e, TK_EINVAL, "SampleResponse.sequences[%zu].stop_reason: invalid value %d", i, (int)s->stop_reason);
        if ((s->n_tokens && !s->tokens) || (s->has_logprobs && s->n_logprobs && !s->logprobs))
            return tk_err_set(e, TK_EINVAL, "SampleResponse.sequences[%zu]: NULL array", i);
        size += pb_len_size(1, seq_payload(s));
    }
    if (r->has_prompt_logprobs) {
        if (r->n_prompt_logprobs && !r->prompt_logprobs) return tk_err_set(e, TK_EINVAL, "SampleResponse.prompt_logprobs: NULL array");
        size += pb_len_size(2, r->n_prompt_logprobs * 4);
    }
    const tk_wire_topk_prompt_logprobs *t = &r->topk_prompt_logprobs;
    if (r->has_topk_prompt_logprobs) {
        size_t cells;
        if (t->k > UINT32_MAX || t->n_positions > UINT32_MAX || !tk_mul_size(t->k, t->n_positions, &cells))
            return tk_err_set(e, TK_ERANGE, "SampleResponse.topk_prompt_logprobs: too large");
        if (cells && (!t->token_ids || !t->logprobs))
            return tk_err_set(e, TK_EINVAL, "SampleResponse.topk_prompt_logprobs: NULL arrays");
        size += pb_len_size(3, topk_payload(t));
    }
    if (r->prompt_cache_hit_tokens) size += pb_varint_field_size(4, (uint64_t)r->prompt_cache_hit_tokens);
    uint8_t *start = pb_reserve(out, size), *p = start;
    if (!start) return tk_err_set(e, TK_ENOMEM, "SampleResponse: out of memory for %zu bytes", size);
    for (size_t i = 0; i < r->n_sequences; i++) {
        const tk_wire_sampled_sequence *s = &r->sequences[i];
        p = pb_put_len(p, 1, seq_payload(s));
        if (s->stop_reason != TK_WIRE_STOP_REASON_STOP) p = pb_put_varint_field(p, 1, (uint64_t)s->stop_reason);
        if (s->n_tokens) p = pb_put_bytes(p, 2, s->tokens, s->n_tokens * 4);
        if (s->has_logprobs) p = pb_put_bytes(p, 3, s->logprobs, s->n_logprobs * 4);
    }
    if (r->has_prompt_logprobs) p = pb_put_bytes(p, 2, r->prompt_logprobs, r->n_prompt_logprobs * 4);
    if (r->has_topk_prompt_logprobs) {
        size_t cells = t->n_positions * t->k;
        p = pb_put_len(p, 3, topk_payload(t));
        if (cells) {
            p = pb_put_bytes(p, 1, t->token_ids, cells * 4);
            p = pb_put_bytes(p, 2, t->logprobs, cells * 4);
        }
        if (t->k) p = pb_put_varint_field(p, 3, t->k);
        if (t->n_positions) p = pb_put_varint_field(p, 4, t->n_positions);
    }
    if (r->prompt_cache_hit_tokens) p = pb_put_varint_field(p, 4, (uint64_t)r->prompt_cache_hit_tokens);
    return pb_commit(out, start, p, size, "SampleResponse", e);
}

static int f32_array(tk_pr *r, const uint8_t *d, size_t len, const char *what, float **out, size_t *n) {
    if (len % 4) return tk_pr_fail(r, TK_EINVAL, "%s: %zu bytes is not a multiple of 4", what, len);
    *n = len / 4;
    *out = tk_pr_copy(r, d, len);
    if (len && !*out) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
    return 0;
}

static int read_sequence(tk_pr *r, tk_wire_sampled_sequence *s) {
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        const uint8_t *d;
        size_t len;
        if (f == 1) {
            uint64_t v;
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "stop_reason")) || (rc = tk_pr_varint(r, &v))) return rc;
            if (v > 1) return tk_pr_fail(r, TK_EINVAL, "stop_reason: unknown value %llu", (unsigned long long)v);
            s->stop_reason = (tk_wire_stop_reason)v;
        } else if (f == 2) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "tokens")) || (rc = tk_pr_bytes(r, &d, &len))) return rc;
            if (len % 4) return tk_pr_fail(r, TK_EINVAL, "tokens: %zu bytes is not a multiple of 4", len);
            s->n_tokens = len / 4;
            s->tokens = tk_pr_copy(r, d, len);
            if (len && !s->tokens) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
        } else if (f == 3) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "logprobs")) || (rc = tk_pr_bytes(r, &d, &len))) return rc;
            if ((rc = f32_array(r, d, len, "logprobs", &s->logprobs, &s->n_logprobs))) return rc;
            s->has_logprobs = len > 0;   /* the SDK reads empty logprobs as None */
        } else if ((rc = tk_pr_skip(r, wt))) {
            return rc;
        }
    }
    return rc < 0 ? rc : 0;
}

static int read_topk(tk_pr *r, tk_wire_sample_response *s) {
    const uint8_t *ids = NULL, *lps = NULL;
    size_t n_ids = 0, n_lps = 0;
    uint64_t k = 0, n = 0;
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        if (f == 1) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "token_ids")) || (rc = tk_pr_bytes(r, &ids, &n_ids))) return rc;
        } else if (f == 2) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "logprobs")) || (rc = tk_pr_bytes(r, &lps, &n_lps))) return rc;
        } else if (f == 3) {
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "k")) || (rc = tk_pr_varint(r, &k))) return rc;
            k = (uint32_t)k;
        } else if (f == 4) {
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "prompt_length")) || (rc = tk_pr_varint(r, &n))) return rc;
            n = (uint32_t)n;
        } else if ((rc = tk_pr_skip(r, wt))) {
            return rc;
        }
    }
    if (rc < 0) return rc;
    s->has_topk_prompt_logprobs = false;
    if (n == 0 || k == 0) return 0;   /* as the SDK: nothing to read */
    size_t cells, bytes;
    if (!tk_mul_size((size_t)n, (size_t)k, &cells) || !tk_mul_size(cells, 4, &bytes))
        return tk_pr_fail(r, TK_EINVAL, "prompt_length x k overflows");
    if (n_ids != bytes || n_lps != bytes)
        return tk_pr_fail(r, TK_EINVAL, "token_ids has %zu bytes and logprobs %zu, prompt_length %llu x k %llu needs %zu each",
                          n_ids, n_lps, (unsigned long long)n, (unsigned long long)k, bytes);
    tk_wire_topk_prompt_logprobs *t = &s->topk_prompt_logprobs;
    t->n_positions = (size_t)n;
    t->k = (size_t)k;
    t->token_ids = tk_pr_copy(r, ids, bytes);
    t->logprobs = tk_pr_copy(r, lps, bytes);
    if (!t->token_ids || !t->logprobs) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
    s->has_topk_prompt_logprobs = true;
    return 0;
}

int tk_wire_proto_decode_sample_response(const void *buf, size_t len, tk_arena *a, tk_wire_sample_response *out,
                                         tk_err *e) {
    memset(out, 0, sizeof *out);
    if (!a) return tk_err_set(e, TK_EINVAL, "SampleResponse: an arena is needed");
    tk_pr rd, *r = &rd;
    tk_pr_init(r, buf, len, a, "SampleResponse", e);
    tk_wire_sampled_sequence *seqs = NULL;
    size_t ns = 0, cs = 0;
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        const uint8_t *d;
        size_t l;
        if (f == 1 || f == 3) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, f == 1 ? "sequences" : "topk_prompt_logprobs")) || (rc = tk_pr_bytes(r, &d, &l)))
                goto out;
            const uint8_t *old = tk_pr_enter(r, d, l);
            if (f == 1) {
                VEC_PUSH(seqs, ns, cs, tk_wire_sampled_sequence, r);
                size_t saved = tk_pr_push(r, "sequences[%zu]", ns - 1);
                if ((rc = read_sequence(r, &seqs[ns - 1]))) goto out;
                tk_pr_pop(r, saved);
            } else {
                size_t saved = tk_pr_push(r, "topk_prompt_logprobs");
                if ((rc = read_topk(r, out))) goto out;
                tk_pr_pop(r, saved);
            }
            tk_pr_leave(r, old);
        } else if (f == 2) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "prompt_logprobs")) || (rc = tk_pr_bytes(r, &d, &l))) goto out;
            if ((rc = f32_array(r, d, l, "prompt_logprobs", &out->prompt_logprobs, &out->n_prompt_logprobs))) goto out;
            out->has_prompt_logprobs = l > 0;
        } else if (f == 4) {
            uint64_t v;
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "prompt_cache_hit_tokens")) || (rc = tk_pr_varint(r, &v))) goto out;
            out->prompt_cache_hit_tokens = (int32_t)(uint32_t)v;
        } else if ((rc = tk_pr_skip(r, wt))) {
            goto out;
        }
    }
    if (rc < 0) goto out;
    rc = 0;
    out->n_sequences = ns;
    out->sequences = tk_pr_copy(r, seqs, ns * sizeof *seqs);
    if (ns && !out->sequences) rc = tk_pr_fail(r, TK_ENOMEM, "out of memory");
out:
    free(seqs);
    return rc;
}
