/* DPO pairs: a comparison becomes two datums, chosen then rejected, each the prompt followed by
 * that completion, trained on the last assistant message with reduction=none so that the
 * weighted sum of logprobs is the completion's sequence log-probability (the cookbook's
 * DPODatasetBuilderFromComparisons). */
#include "tinkerc/cookbook.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int render_side(const tk_renderer *r, const tk_conversation *prompt, const tk_conversation *completion,
                       int64_t max_length, const char *where, const char *side, tk_arena *a, tk_wire_datum *out,
                       tk_err *e) {
    size_t n = prompt->n_messages + completion->n_messages;
    tk_message *msgs = malloc((n ? n : 1) * sizeof *msgs);
    if (!msgs) return tk_err_set(e, TK_ENOMEM, "out of memory");
    memcpy(msgs, prompt->messages, prompt->n_messages * sizeof *msgs);
    memcpy(msgs + prompt->n_messages, completion->messages, completion->n_messages * sizeof *msgs);
    tk_vec_i32 tokens = {0};
    tk_vec_f32 weights = {0};
    int rc = tk_renderer_build_supervised_example(r, msgs, n, TK_TRAIN_LAST_ASSISTANT_MESSAGE, &tokens, &weights, e);
    if (rc) tk_err_prefix(e, "%s: %s: ", where, side);
    size_t first_trained = tokens.len;
    for (size_t i = 0; !rc && i < weights.len; i++)
        if (weights.data[i] > 0) {
            first_trained = i;
            break;
        }
    if (!rc && first_trained == tokens.len)
        rc = tk_err_set(e, TK_EINVAL, "%s: %s: nothing to train on (no assistant tokens)", where, side);
    /* the datum predicts tokens[1..max_length): a prompt that fills max_length leaves nothing */
    if (!rc && max_length > 0 && (int64_t)first_trained >= max_length)
        rc = tk_err_set(e, TK_ERANGE, "%s: %s: the prompt is %zu tokens, not shorter than max_length=%lld: no "
                                      "completion token would be trained (raise max_length)",
                        where, side, first_trained, (long long)max_length);
    if (!rc && tokens.len < 2) rc = tk_err_set(e, TK_EINVAL, "%s: %s: renders to %zu token(s)", where, side, tokens.len);
    if (!rc) {
        int32_t *tok = tk_arena_alloc(a, tokens.len * sizeof *tok);
        tk_wire_chunk *ch = tk_arena_zalloc(a, sizeof *ch);
        if (!tok || !ch) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        if (!rc) {
            memcpy(tok, tokens.data, tokens.len * sizeof *tok);
            *ch = (tk_wire_chunk){.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = tok, .n_tokens = tokens.len};
            tk_wire_model_input mi = {ch, 1};
            rc = tk_wire_datum_from_model_input_weights(&mi, weights.data, weights.len, max_length > 0 ? max_length : -1,
                                                        TK_WIRE_REDUCTION_NONE, a, out, e);
            if (rc) tk_err_prefix(e, "%s: %s: ", where, side);
        }
    }
    tk_vec_free(&tokens);
    tk_vec_free(&weights);
    free(msgs);
    return rc;
}

int tk_dpo_render_pair(const tk_renderer *r, const tk_pref_comparison *c, int64_t max_length, const char *where,
                       tk_arena *a, tk_wire_datum out[2], tk_err *e) {
    if (c->label == TK_PREF_LABEL_TIE)
        return tk_err_set(e, TK_EINVAL, "%s: a tie has no chosen completion", where);
    const tk_conversation *chosen = c->label == TK_PREF_LABEL_A ? &c->a : &c->b;
    const tk_conversation *rejected = c->label == TK_PREF_LABEL_A ? &c->b : &c->a;
    int rc = render_side(r, &c->prompt, chosen, max_length, where, "chosen", a, &out[0], e);
    if (!rc) rc = render_side(r, &c->prompt, rejected, max_length, where, "rejected", a, &out[1], e);
    return rc;
}

int tk_dpo_reference_sum(const tk_wire_datum *d, const float *lp, size_t n_lp, double *out, tk_err *e) {
    const tk_wire_tensor *w = tk_wire_tensor_map_get(&d->loss_fn_inputs, "weights");
    if (!w || w->dtype != TK_WIRE_FLOAT32) return tk_err_set(e, TK_EINVAL, "the datum has no float32 \"weights\"");
    if (n_lp != w->n + 1)
        return tk_err_set(e, TK_EINVAL, "the reference returned %zu logprobs for a sequence of %zu tokens: it does not "
                                        "match the policy (another model or tokenizer?)", n_lp, w->n + 1);
    double s = 0;
    for (size_t k = 0; k < w->n; k++) {
        if (w->data.f32[k] == 0) continue;
        if (!isfinite(lp[k + 1]))
            return tk_err_set(e, TK_EINVAL, "the reference's logprob at position %zu is not finite", k + 1);
        s += (double)w->data.f32[k] * (double)lp[k + 1];
    }
    *out = s;
    return 0;
}
