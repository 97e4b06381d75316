/* The cookbook's message completer: conversation -> generation prompt -> one sample -> parsed
 * assistant message. */
#include "tinkerc/cookbook.h"

#include <string.h>

int tk_complete_message(tk_client_sampling *s, const tk_renderer *r, const tk_message *msgs, size_t n,
                        const tk_completer_params *p, tk_parsed_response *out, size_t *n_tokens_out, tk_err *e) {
    memset(out, 0, sizeof *out);
    if (n_tokens_out) *n_tokens_out = 0;
    if (p->max_tokens < 1) return tk_err_set(e, TK_EINVAL, "max_tokens=%lld: must be >= 1", (long long)p->max_tokens);
    tk_vec_i32 prompt = {0};
    int rc = tk_renderer_build_generation_prompt(r, msgs, n, NULL, NULL, &prompt, e);
    tk_wire_sampling_params sp;
    tk_wire_init(TK_WIRE_MSG_SAMPLING_PARAMS, &sp);
    sp.has_max_tokens = true;
    sp.max_tokens = p->max_tokens;
    sp.temperature = p->temperature;
    sp.has_seed = p->has_seed;
    sp.seed = p->seed;
    tk_stop_sequences stop;
    tk_renderer_stop_sequences(r, &stop);
    if (stop.n_tokens) {
        sp.stop_kind = TK_WIRE_STOP_TOKENS;
        sp.stop_tokens = (int32_t *)stop.tokens;
        sp.n_stop_tokens = stop.n_tokens;
    } else if (stop.n_strings) {
        sp.stop_kind = TK_WIRE_STOP_STRINGS;
        sp.stop_strings = (char **)stop.strings;
        sp.n_stop_strings = stop.n_strings;
    }
    tk_wire_chunk chunk = {.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = prompt.data, .n_tokens = prompt.len};
    tk_wire_model_input mi = {&chunk, 1};
    tk_client_task *t = NULL;
    tk_arena *a = tk_arena_new(0);
    if (!rc && !a) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_wire_sample_response res;
    if (!rc) rc = tk_client_sampling_sample(s, &mi, 1, &sp, false, 0, &t, e);
    if (!rc) rc = tk_client_sample_result(t, -1, a, &res, e);
    if (!rc && res.n_sequences != 1)
        rc = tk_err_set(e, TK_EPARSE, "the sampler returned %zu sequences for 1", res.n_sequences);
    if (!rc) {
        if (n_tokens_out) *n_tokens_out = res.sequences[0].n_tokens;
        rc = tk_renderer_parse_response(r, res.sequences[0].tokens, res.sequences[0].n_tokens, out, e);
    }
    tk_client_task_release(t);
    tk_arena_free(a);
    tk_vec_free(&prompt);
    return rc;
}
