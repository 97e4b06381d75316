/* The forward_backward / forward request body:
 *   {"model_id":…,"seq_id":…,"forward_backward_input":{"data":[…],"loss_fn":…,"loss_fn_config":…}}
 * /forward uses the key "forward_input" instead; the C struct folds both into forward_only. */
#include "json_internal.h"

#include <string.h>

int tk_json_fb_request_decode(tk_jr *r, void *obj) {
    tk_wire_forward_backward_request *req = obj;
    memset(req, 0, sizeof *req);
    int rc = tk_jr_obj_begin(r);
    if (rc) return rc;
    bool first = true, seen_id = false, seen_seq = false, seen_input = false;
    const char *k;
    size_t kl;
    while ((rc = tk_jr_obj_next(r, &first, &k, &kl)) == 1) {
        size_t saved = tk_jr_push_key(r, k, kl);
#define IS(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
        if (IS("model_id")) {
            if (seen_id) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
            seen_id = true;
            if ((rc = tk_jr_str(r, &req->model_id, NULL))) return rc;
        } else if (IS("seq_id")) {
            if (seen_seq) return tk_jr_fail(r, TK_EINVAL, "duplicate key");
            seen_seq = true;
            if (!tk_jr_null(r)) {
                if ((rc = tk_jr_i64(r, &req->seq_id))) return rc;
                req->has_seq_id = true;
            }
        } else if (IS("forward_backward_input") || IS("forward_input")) {
            if (seen_input)
                return tk_jr_fail(r, TK_EINVAL, "only one of forward_backward_input and forward_input may be given");
            seen_input = true;
            req->forward_only = IS("forward_input");
            if ((rc = tk_schema_decode(r, &tk_desc_forward_backward_input, &req->input))) return rc;
        } else if (r->strict) {
            tk_jr_pop(r, saved);
            return tk_jr_fail(r, TK_EINVAL, "unknown field \"%.*s\"", (int)kl, k);
        } else if ((rc = tk_jr_skip(r))) {
            return rc;
        }
#undef IS
        tk_jr_pop(r, saved);
    }
    if (rc < 0) return rc;
    if (!seen_id) return tk_jr_fail(r, TK_EINVAL, "model_id: required field is missing");
    if (!seen_input) return tk_jr_fail(r, TK_EINVAL, "forward_backward_input: required field is missing");
    return 0;
}

/* An upper bound of the JSON size (the writers' own worst cases per element), so that the buffer is allocated once instead of growing by
 * doubling (each growth copies everything written so far). */
static size_t size_hint(const tk_wire_forward_backward_request *req) {
    size_t s = 256;
    const tk_wire_forward_backward_input *in = &req->input;
    if (!in->data) return s;
    for (size_t i = 0; i < in->n_data; i++) {
        const tk_wire_datum *d = &in->data[i];
        s += 64;
        for (size_t c = 0; d->model_input.chunks && c < d->model_input.n_chunks; c++)
            s += 64 + d->model_input.chunks[c].n_tokens * 12 + d->model_input.chunks[c].n_data * 2;
        for (size_t t = 0; d->loss_fn_inputs.items && t < d->loss_fn_inputs.n; t++)
            s += 128 + d->loss_fn_inputs.items[t].tensor.n * (d->loss_fn_inputs.items[t].tensor.dtype == TK_WIRE_INT64 ? 21 : 33);
    }
    return s;
}

int tk_json_fb_request_encode(tk_jw *w, const void *obj) {
    const tk_wire_forward_backward_request *req = obj;
    int rc;
    if (w->b->len == 0 && tk_buf_reserve(w->b, size_hint(req))) return tk_jw_fail(w, TK_ENOMEM, "out of memory");
    if (!req->model_id) return tk_jw_fail(w, TK_EINVAL, "model_id: required field is not set");
    if ((rc = tk_jw_lit(w, "{\"model_id\":")) || (rc = tk_jw_str(w, req->model_id))) return rc;
    if (req->has_seq_id && ((rc = tk_jw_lit(w, ",\"seq_id\":")) || (rc = tk_jw_i64(w, req->seq_id)))) return rc;
    const char *key = req->forward_only ? "forward_input" : "forward_backward_input";
    if ((rc = tk_jw_lit(w, req->forward_only ? ",\"forward_input\":" : ",\"forward_backward_input\":"))) return rc;
    size_t saved = tk_jw_push_key(w, key);
    if ((rc = tk_schema_encode(w, &tk_desc_forward_backward_input, &req->input))) return rc;
    tk_jw_pop(w, saved);
    return tk_jw_raw(w, "}", 1);
}
