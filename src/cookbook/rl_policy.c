/* The sampling client as an RL policy: every request is submitted before any is awaited (or up to
 * max_in_flight of them), so the server sees the whole turn of the batch at once; the renderer's
 * stop sequences end a turn. */
#include "tinkerc/rl.h"

#include <stdlib.h>
#include <string.h>

static int sampling_sample(void *ctx, tk_rl_sample_request *reqs, size_t n, tk_err *e) {
    tk_rl_sampling_policy *p = ctx;
    tk_stop_sequences stop;
    tk_renderer_stop_sequences(p->renderer, &stop);
    tk_wire_sampling_params sp;
    tk_wire_init(TK_WIRE_MSG_SAMPLING_PARAMS, &sp);
    sp.has_max_tokens = true;
    sp.max_tokens = p->max_tokens;
    sp.temperature = p->temperature;
    sp.has_seed = true;
    if (stop.n_tokens) {
        sp.stop_kind = TK_WIRE_STOP_TOKENS;
        sp.stop_tokens = (int32_t *)stop.tokens;
        sp.n_stop_tokens = stop.n_tokens;
    } else if (stop.n_strings) {
        sp.stop_kind = TK_WIRE_STOP_STRINGS;
        sp.stop_strings = (char **)stop.strings;
        sp.n_stop_strings = stop.n_strings;
    }
    tk_client_task **tasks = calloc(n ? n : 1, sizeof *tasks);
    tk_arena *a = tk_arena_new(0);
    if (!tasks || !a) {
        free(tasks);
        tk_arena_free(a);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    /* at most `window` requests in flight: request i + window is submitted once i is awaited */
    size_t window = p->max_in_flight ? p->max_in_flight : n, submitted = 0;
    for (size_t i = 0; i < n; i++) {
        for (; submitted < n && submitted < i + window; submitted++) {
            tk_rl_sample_request *q = &reqs[submitted];
            tk_wire_chunk chunk = {.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = (int32_t *)q->ob, .n_tokens = q->n_ob};
            tk_wire_model_input mi = {&chunk, 1};
            sp.seed = (int64_t)(q->seed >> 1);   /* the wire wants a non-negative int64 */
            q->rc = tk_client_sampling_sample(p->sampler, &mi, (int64_t)q->num_samples, &sp, false, 0, &tasks[submitted],
                                              &q->err);
        }
        tk_rl_sample_request *q = &reqs[i];
        if (q->rc) continue;
        tk_wire_sample_response r;
        tk_arena_reset(a);
        q->rc = tk_client_sample_result(tasks[i], p->timeout_s, a, &r, &q->err);
        if (!q->rc && r.n_sequences != q->num_samples)
            q->rc = tk_err_set(&q->err, TK_EPARSE, "the sampler returned %zu sequences for num_samples=%zu", r.n_sequences,
                               q->num_samples);
        for (size_t j = 0; !q->rc && j < r.n_sequences; j++) {
            const tk_wire_sampled_sequence *s = &r.sequences[j];
            if (s->n_tokens && (!s->has_logprobs || s->n_logprobs != s->n_tokens)) {
                q->rc = tk_err_set(&q->err, TK_EPARSE, "sequence %zu: %zu tokens but %zu logprobs (RL needs the sampler's "
                                                       "logprobs)", j, s->n_tokens, s->has_logprobs ? s->n_logprobs : 0);
                break;
            }
            tk_rl_sample *o = &q->samples[j];
            if (tk_vec_reserve(&o->tokens, s->n_tokens + 1) || tk_vec_reserve(&o->logprobs, s->n_tokens + 1)) {
                q->rc = tk_err_set(&q->err, TK_ENOMEM, "out of memory");
                break;
            }
            if (s->n_tokens) {
                memcpy(o->tokens.data, s->tokens, s->n_tokens * sizeof *s->tokens);
                memcpy(o->logprobs.data, s->logprobs, s->n_tokens * sizeof *s->logprobs);
            }
            o->tokens.len = o->logprobs.len = s->n_tokens;
            o->stop_reason = s->stop_reason;
        }
    }
    for (size_t i = 0; i < n; i++) tk_client_task_release(tasks[i]);
    free(tasks);
    tk_arena_free(a);
    return 0;
}

tk_rl_policy tk_rl_policy_sampling(tk_rl_sampling_policy *p) { return (tk_rl_policy){sampling_sample, p}; }
