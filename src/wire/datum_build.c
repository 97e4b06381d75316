/* Datum construction as the cookbook's datum_from_model_input_weights (reference/cookbook.md
 * §3.1): truncate, clean up chunks, shift inputs right and targets left. */
#include "wire_internal.h"

#include <string.h>

static int64_t chunk_len(const tk_wire_chunk *c) {
    return c->type == TK_WIRE_CHUNK_ENCODED_TEXT ? (int64_t)c->n_tokens : c->expected_tokens;
}

int tk_wire_datum_from_model_input_weights(const tk_wire_model_input *mi, const float *weights, size_t n_weights,
                                           int64_t max_length, tk_wire_reduction red, tk_arena *a,
                                           tk_wire_datum *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    if (red != TK_WIRE_REDUCTION_NONE && red != TK_WIRE_REDUCTION_MEAN)
        return tk_err_set(e, TK_EINVAL, "datum: unknown reduction %d", (int)red);
    int64_t total;
    int rc = tk_wire_model_input_length(mi, &total, e);
    if (rc) return tk_err_prefix(e, "datum: model_input.");
    if ((uint64_t)total != n_weights)
        return tk_err_set(e, TK_EINVAL, "datum: %zu weights for a model_input of length %lld", n_weights,
                          (long long)total);
    size_t n = mi->n_chunks;
    tk_wire_chunk *ch = n ? tk_arena_alloc(a, n * sizeof *ch) : NULL;
    if (n && !ch) return tk_err_set(e, TK_ENOMEM, "datum: out of memory");
    if (n) memcpy(ch, mi->chunks, n * sizeof *ch);

    /* 1. truncate from the right: text chunks are cut, image chunks dropped whole */
    if (max_length >= 0) {
        while (total > max_length && n > 0) {
            tk_wire_chunk *last = &ch[n - 1];
            int64_t len = chunk_len(last);
            int64_t overflow = total - max_length;
            if (last->type == TK_WIRE_CHUNK_ENCODED_TEXT && overflow < len) {
                last->n_tokens -= (size_t)overflow;
                total = max_length;
            } else {
                n--;
                total -= len;
            }
        }
    }
    /* 2. drop empty text chunks, then trailing images */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!(ch[i].type == TK_WIRE_CHUNK_ENCODED_TEXT && ch[i].n_tokens == 0)) ch[k++] = ch[i];
    n = k;
    while (n > 0 && ch[n - 1].type != TK_WIRE_CHUNK_ENCODED_TEXT) n--;
    if (n == 0) return tk_err_set(e, TK_EINVAL, "datum: no text left after truncation (need at least 2 tokens)");
    total = 0;
    for (size_t i = 0; i < n; i++) total += chunk_len(&ch[i]);
    if (total < 2) return tk_err_set(e, TK_EINVAL, "datum: need at least 2 tokens for the input/target split, have %lld",
                                     (long long)total);

    /* 3. targets: every token (image positions as 0) but the first; inputs: every token but the
     *    last (the last chunk is text: it loses its final token, or goes when that was its only one) */
    size_t N = (size_t)total - 1;
    int64_t *targets = tk_arena_alloc(a, N * sizeof(int64_t));
    float *w = tk_arena_alloc(a, N * sizeof(float));
    tk_wire_named_tensor *inputs = tk_arena_alloc(a, 2 * sizeof *inputs);
    char *wname = tk_arena_strdup(a, "weights"), *tname = tk_arena_strdup(a, "target_tokens");
    if (!targets || !w || !inputs || !wname || !tname) return tk_err_set(e, TK_ENOMEM, "datum: out of memory");
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t len = chunk_len(&ch[i]);
        for (int64_t j = 0; j < len; j++, pos++)
            if (pos >= 1) targets[pos - 1] = ch[i].type == TK_WIRE_CHUNK_ENCODED_TEXT ? ch[i].tokens[j] : 0;
    }
    if (ch[n - 1].n_tokens > 1) ch[n - 1].n_tokens--;
    else n--;
    out->model_input.chunks = n ? ch : NULL;
    out->model_input.n_chunks = n;

    /* 4. weights[1 .. N] of the original weights, then the reduction */
    memcpy(w, weights + 1, N * sizeof(float));
    if (red == TK_WIRE_REDUCTION_MEAN) {
        double sum = 0;
        for (size_t i = 0; i < N; i++) sum += w[i];
        if (sum > 0) {
            float s = (float)sum;
            for (size_t i = 0; i < N; i++) w[i] /= s;
        }
    }
    inputs[0].name = wname;
    inputs[0].tensor = tk_wire_tensor_view_f32(w, N);
    inputs[1].name = tname;
    inputs[1].tensor = tk_wire_tensor_view_i64(targets, N);
    out->loss_fn_inputs.items = inputs;
    out->loss_fn_inputs.n = 2;
    return 0;
}
