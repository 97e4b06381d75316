/* The supervised recipe's loss metrics: mean NLL over trained tokens and bits per byte
 * (cookbook supervised/common.py compute_mean_nll / compute_bpb). */
#include "tinkerc/cookbook.h"

#include <math.h>
#include <string.h>

static int weights_of(const tk_wire_datum *d, size_t i, size_t len, const tk_wire_tensor **w, tk_err *e) {
    *w = tk_wire_tensor_map_get(&d->loss_fn_inputs, "weights");
    if (!*w || (*w)->dtype != TK_WIRE_FLOAT32)
        return tk_err_set(e, TK_EINVAL, "data[%zu]: no float32 \"weights\" input", i);
    if ((*w)->n != len)
        return tk_err_set(e, TK_EINVAL, "data[%zu]: %zu weights but %zu logprobs", i, (*w)->n, len);
    return 0;
}

int tk_sl_mean_nll(const tk_wire_datum *data, const float *const *logprobs, const size_t *lens, size_t n,
                   double *out, tk_err *e) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const tk_wire_tensor *w;
        int rc = weights_of(&data[i], i, lens[i], &w, e);
        if (rc) return rc;
        for (size_t k = 0; k < lens[i]; k++) {
            num += (double)logprobs[i][k] * (double)w->data.f32[k];
            den += (double)w->data.f32[k];
        }
    }
    *out = den != 0 ? -num / den : NAN;
    return 0;
}

int tk_sl_bpb(const tk_wire_datum *data, const float *const *logprobs, const size_t *lens, size_t n,
              const tk_tokenizer *tok, double *out, tk_err *e) {
    double nats = 0;
    size_t bytes = 0;
    tk_vec_i32 run = {0};
    tk_buf text = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const tk_wire_tensor *w, *t = tk_wire_tensor_map_get(&data[i].loss_fn_inputs, "target_tokens");
        if ((rc = weights_of(&data[i], i, lens[i], &w, e))) break;
        if (!t || t->dtype != TK_WIRE_INT64 || t->n != lens[i]) {
            rc = tk_err_set(e, TK_EINVAL, "data[%zu]: no int64 \"target_tokens\" of %zu entries", i, lens[i]);
            break;
        }
        run.len = 0;
        for (size_t k = 0; !rc && k <= lens[i]; k++) {
            bool counted = false;
            if (k < lens[i]) {
                int64_t id = t->data.i64[k];
                counted = w->data.f32[k] > 0 && id >= 0 && id <= INT32_MAX && !tk_tokenizer_is_special(tok, (int32_t)id);
                if (counted) {
                    nats -= (double)logprobs[i][k];
                    if (tk_vec_push(&run, (int32_t)id)) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
                }
            }
            /* a run ends: count the bytes it decodes to */
            if (!rc && !counted && run.len) {
                tk_buf_clear(&text);
                if ((rc = tk_tokenizer_decode(tok, run.data, run.len, false, &text, e))) {
                    tk_err_prefix(e, "data[%zu]: ", i);
                    break;
                }
                bytes += text.len;
                run.len = 0;
            }
        }
    }
    tk_vec_free(&run);
    tk_buf_free(&text);
    if (rc) return rc;
    *out = bytes ? nats / (log(2.0) * (double)bytes) : NAN;
    return 0;
}
