/* JSON codecs of the sampling pieces that are not plain fields: SamplingParams.stop (a string,
 * a list of strings or a list of token ids), prompt_logprobs (numbers with null at undefined
 * positions) and topk_prompt_logprobs (rows of [token_id, logprob] pairs, or null). */
#include "json_internal.h"

#include <math.h>
#include <string.h>

/* ---- stop ----------------------------------------------------------------------------------- */

static int stop_decode(tk_jr *r, void *obj, const tk_field *f) {
    (void)f;
    tk_wire_sampling_params *sp = obj;
    char c = tk_jr_peek(r);
    if (c == '"') {
        char **one = tk_arena_alloc(r->a, sizeof(char *));
        if (!one) return tk_jr_fail(r, TK_ENOMEM, "out of memory");
        int rc = tk_jr_str(r, &one[0], NULL);
        if (rc) return rc;
        sp->stop_kind = TK_WIRE_STOP_STRING;
        sp->stop_strings = one;
        sp->n_stop_strings = 1;
        return 0;
    }
    if (c != '[') return tk_jr_type_error(r, "string or array");
    /* look at the first element to choose strings or token ids */
    const char *save = r->p;
    r->p++;
    char first = tk_jr_peek(r);
    r->p = save;
    if (first == '"' || first == ']') {
        int rc = tk_jr_arr_begin(r);
        if (rc) return rc;
        tk_jr_vec v = {.elem = sizeof(char *)};
        bool afirst = true;
        size_t i = 0;
        while ((rc = tk_jr_arr_next(r, &afirst)) == 1) {
            char **slot = tk_jr_vec_push(r, &v);
            if (!slot) { rc = TK_ENOMEM; break; }
            size_t saved = tk_jr_push_index(r, i++);
            if ((rc = tk_jr_str(r, slot, NULL))) break;
            tk_jr_pop(r, saved);
        }
        if (rc == 0) rc = tk_jr_vec_finish(r, &v, (void **)&sp->stop_strings, &sp->n_stop_strings);
        free(v.data);
        if (rc) return rc;
        sp->stop_kind = TK_WIRE_STOP_STRINGS;
        return 0;
    }
    int rc = tk_jr_i32_array(r, &sp->stop_tokens, &sp->n_stop_tokens);
    if (rc) return rc;
    sp->stop_kind = TK_WIRE_STOP_TOKENS;
    return 0;
}

static int stop_encode(tk_jw *w, const void *obj, const tk_field *f) {
    (void)f;
    const tk_wire_sampling_params *sp = obj;
    int rc;
    switch (sp->stop_kind) {
    case TK_WIRE_STOP_STRING:
        if (sp->n_stop_strings != 1 || !sp->stop_strings || !sp->stop_strings[0])
            return tk_jw_fail(w, TK_EINVAL, "a single stop string needs n_stop_strings == 1");
        return tk_jw_str(w, sp->stop_strings[0]);
    case TK_WIRE_STOP_STRINGS:
        if (sp->n_stop_strings && !sp->stop_strings)
            return tk_jw_fail(w, TK_EINVAL, "%zu stop strings but a NULL array", sp->n_stop_strings);
        if ((rc = tk_jw_raw(w, "[", 1))) return rc;
        for (size_t i = 0; i < sp->n_stop_strings; i++) {
            if (i && (rc = tk_jw_raw(w, ",", 1))) return rc;
            size_t saved = tk_jw_push_index(w, i);
            if (!sp->stop_strings[i]) return tk_jw_fail(w, TK_EINVAL, "NULL string");
            if ((rc = tk_jw_str(w, sp->stop_strings[i]))) return rc;
            tk_jw_pop(w, saved);
        }
        return tk_jw_raw(w, "]", 1);
    case TK_WIRE_STOP_TOKENS:
        if (sp->n_stop_tokens && !sp->stop_tokens)
            return tk_jw_fail(w, TK_EINVAL, "%zu stop tokens but a NULL array", sp->n_stop_tokens);
        return tk_jw_i32_array(w, sp->stop_tokens, sp->n_stop_tokens);
    default:
        return tk_jw_fail(w, TK_EINVAL, "invalid stop kind %d", (int)sp->stop_kind);
    }
}

static bool stop_present(const void *obj, const tk_field *f) {
    (void)f;
    return ((const tk_wire_sampling_params *)obj)->stop_kind != TK_WIRE_STOP_NONE;
}

const tk_custom_codec tk_cc_stop = {stop_decode, stop_encode, stop_present};

/* ---- prompt_logprobs ------------------------------------------------------------------------ */

static int plp_decode(tk_jr *r, void *obj, const tk_field *f) {
    (void)f;
    tk_wire_sample_response *s = obj;
    int rc = tk_jr_arr_begin(r);
    if (rc) return rc;
    TK_VEC(float) v = {0};
    bool first = true;
    size_t i = 0;
    while ((rc = tk_jr_arr_next(r, &first)) == 1) {
        float x = NAN;
        if (!tk_jr_null(r)) {
            double d;
            size_t saved = tk_jr_push_index(r, i);
            if ((rc = tk_jr_f64(r, &d))) break;
            tk_jr_pop(r, saved);
            x = (float)d;
        }
        if (tk_vec_push(&v, x)) { rc = tk_jr_fail(r, TK_ENOMEM, "out of memory"); break; }
        i++;
    }
    if (rc == 0) {
        s->n_prompt_logprobs = v.len;
        s->prompt_logprobs = v.len ? tk_arena_alloc(r->a, v.len * sizeof(float)) : NULL;
        if (v.len && !s->prompt_logprobs) rc = tk_jr_fail(r, TK_ENOMEM, "out of memory");
        else if (v.len) memcpy(s->prompt_logprobs, v.data, v.len * sizeof(float));
        s->has_prompt_logprobs = rc == 0;
    }
    tk_vec_free(&v);
    return rc;
}

static int plp_encode(tk_jw *w, const void *obj, const tk_field *f) {
    (void)f;
    const tk_wire_sample_response *s = obj;
    int rc;
    if (s->n_prompt_logprobs && !s->prompt_logprobs)
        return tk_jw_fail(w, TK_EINVAL, "%zu prompt logprobs but a NULL array", s->n_prompt_logprobs);
    if ((rc = tk_jw_raw(w, "[", 1))) return rc;
    for (size_t i = 0; i < s->n_prompt_logprobs; i++) {
        if (i && (rc = tk_jw_raw(w, ",", 1))) return rc;
        float x = s->prompt_logprobs[i];
        if (isnan(x)) {
            rc = tk_jw_raw(w, "null", 4);
        } else if (isinf(x)) {
            tk_jw_push_index(w, i);
            return tk_jw_fail(w, TK_EINVAL, "infinity is not representable in JSON");
        } else {
            char t[40];
            rc = tk_jw_raw(w, t, tk_fmt_f32(t, x));
        }
        if (rc) return rc;
    }
    return tk_jw_raw(w, "]", 1);
}

static bool plp_present(const void *obj, const tk_field *f) {
    (void)f;
    return ((const tk_wire_sample_response *)obj)->has_prompt_logprobs;
}

const tk_custom_codec tk_cc_prompt_logprobs = {plp_decode, plp_encode, plp_present};

/* ---- topk_prompt_logprobs ------------------------------------------------------------------- */

typedef struct pair {
    int32_t id;
    float lp;
} pair;

static int topk_pair(tk_jr *r, pair *out) {
    int rc = tk_jr_arr_begin(r);
    if (rc) return rc;
    bool first = true;
    int64_t id = 0;
    double lp = 0;
    int n = 0;
    while ((rc = tk_jr_arr_next(r, &first)) == 1) {
        size_t saved = tk_jr_push_index(r, (size_t)n);
        if (n == 0) rc = tk_jr_i64(r, &id);
        else if (n == 1) rc = tk_jr_f64(r, &lp);
        else rc = tk_jr_fail(r, TK_EINVAL, "a top-k entry is [token_id, logprob]");
        if (rc) return rc;
        tk_jr_pop(r, saved);
        n++;
    }
    if (rc < 0) return rc;
    if (n != 2) return tk_jr_fail(r, TK_EINVAL, "a top-k entry is [token_id, logprob], got %d elements", n);
    if (id < INT32_MIN || id > INT32_MAX) return tk_jr_fail(r, TK_ERANGE, "token id %lld does not fit in int32", (long long)id);
    out->id = (int32_t)id;
    out->lp = (float)lp;
    return 0;
}

static int topk_decode(tk_jr *r, void *obj, const tk_field *f) {
    (void)f;
    tk_wire_sample_response *s = obj;
    int rc = tk_jr_arr_begin(r);
    if (rc) return rc;
    TK_VEC(pair) pairs = {0};
    TK_VEC(size_t) row_len = {0};   /* pairs per row (0 for null) */
    bool first = true;
    size_t i = 0, k = 0;
    while ((rc = tk_jr_arr_next(r, &first)) == 1) {
        size_t saved = tk_jr_push_index(r, i++);
        size_t len = 0;
        if (!tk_jr_null(r)) {
            if ((rc = tk_jr_arr_begin(r))) break;
            bool rfirst = true;
            while ((rc = tk_jr_arr_next(r, &rfirst)) == 1) {
                pair p;
                size_t s2 = tk_jr_push_index(r, len);
                if ((rc = topk_pair(r, &p))) break;
                tk_jr_pop(r, s2);
                if (tk_vec_push(&pairs, p)) { rc = tk_jr_fail(r, TK_ENOMEM, "out of memory"); break; }
                len++;
            }
            if (rc < 0) break;
        }
        if (tk_vec_push(&row_len, len)) { rc = tk_jr_fail(r, TK_ENOMEM, "out of memory"); break; }
        if (len > k) k = len;
        tk_jr_pop(r, saved);
    }
    if (rc == 0) {
        size_t n = row_len.len, cells;
        tk_wire_topk_prompt_logprobs *t = &s->topk_prompt_logprobs;
        t->n_positions = n;
        t->k = k;
        t->token_ids = NULL;
        t->logprobs = NULL;
        if (!tk_mul_size(n, k, &cells)) {
            rc = tk_jr_fail(r, TK_ENOMEM, "top-k matrix too large");
        } else if (cells) {
            t->token_ids = tk_arena_alloc(r->a, cells * sizeof(int32_t));
            t->logprobs = tk_arena_alloc(r->a, cells * sizeof(float));
            if (!t->token_ids || !t->logprobs) {
                rc = tk_jr_fail(r, TK_ENOMEM, "out of memory");
            } else {
                size_t next = 0;
                for (size_t row = 0; row < n; row++)
                    for (size_t c = 0; c < k; c++) {
                        bool have = c < row_len.data[row];
                        t->token_ids[row * k + c] = have ? pairs.data[next].id : 0;
                        t->logprobs[row * k + c] = have ? pairs.data[next].lp : TK_WIRE_TOPK_MASK_LOGPROB;
                        if (have) next++;
                    }
            }
        }
        s->has_topk_prompt_logprobs = rc == 0;
    }
    tk_vec_free(&pairs);
    tk_vec_free(&row_len);
    return rc;
}

static bool is_mask(const tk_wire_topk_prompt_logprobs *t, size_t cell) {
    return t->token_ids[cell] == 0 && t->logprobs[cell] == TK_WIRE_TOPK_MASK_LOGPROB;
}

static int topk_encode(tk_jw *w, const void *obj, const tk_field *f) {
    (void)f;
    const tk_wire_topk_prompt_logprobs *t = &((const tk_wire_sample_response *)obj)->topk_prompt_logprobs;
    size_t cells;
    if (!tk_mul_size(t->n_positions, t->k, &cells)) return tk_jw_fail(w, TK_EINVAL, "top-k matrix too large");
    if (cells && (!t->token_ids || !t->logprobs)) return tk_jw_fail(w, TK_EINVAL, "top-k matrix with NULL arrays");
    int rc;
    if ((rc = tk_jw_raw(w, "[", 1))) return rc;
    for (size_t row = 0; row < t->n_positions; row++) {
        if (row && (rc = tk_jw_raw(w, ",", 1))) return rc;
        size_t base = row * t->k, end = t->k;
        if (t->k == 0 || is_mask(t, base)) {
            if ((rc = tk_jw_raw(w, "null", 4))) return rc;
            continue;
        }
        while (end > 0 && is_mask(t, base + end - 1)) end--;
        if ((rc = tk_jw_raw(w, "[", 1))) return rc;
        for (size_t c = 0; c < end; c++) {
            float lp = t->logprobs[base + c];
            if (!isfinite(lp)) {
                tk_jw_push_index(w, row);
                tk_jw_push_index(w, c);
                return tk_jw_fail(w, TK_EINVAL, "non-finite logprob");
            }
            char tmp[80];
            size_t n = 0;
            tmp[n++] = c ? ',' : '[';
            if (c) tmp[n++] = '[';
            n += tk_fmt_i64(tmp + n, t->token_ids[base + c]);
            tmp[n++] = ',';
            n += tk_fmt_f32(tmp + n, lp);
            tmp[n++] = ']';
            if ((rc = tk_jw_raw(w, tmp, n))) return rc;
        }
        if ((rc = tk_jw_raw(w, "]", 1))) return rc;
    }
    return tk_jw_raw(w, "]", 1);
}

static bool topk_present(const void *obj, const tk_field *f) {
    (void)f;
    return ((const tk_wire_sample_response *)obj)->has_topk_prompt_logprobs;
}

const tk_custom_codec tk_cc_topk = {topk_decode, topk_encode, topk_present};
