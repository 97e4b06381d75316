/* Sample requests: parameter defaults, validation (what tk_engine_sampler_submit checks, with the
 * field named in every message) and freeing results. */
#include "internal.h"

#include <math.h>
#include <string.h>

void tk_engine_sampling_params_default(tk_engine_sampling_params *p) {
    memset(p, 0, sizeof *p);
    p->temperature = 1.0;
    p->top_k = -1;
    p->top_p = 1.0;
}

void tk_engine_sample_result_free(tk_engine_sample_result *r) {
    if (!r) return;
    for (size_t i = 0; r->sequences && i < r->n_sequences; i++) {
        free(r->sequences[i].tokens);
        free(r->sequences[i].logprobs);
    }
    free(r->sequences);
    free(r->prompt_logprobs);
    free(r->topk_ids);
    free(r->topk_logprobs);
    memset(r, 0, sizeof *r);
}

/* ---- validation ----------------------------------------------------------------------------- */

int tk_engine_sample_request_validate(const tk_engine_model *m, const tk_engine_sample_request *r, tk_err *e) {
    if (!m || !r) return tk_err_set(e, TK_EINVAL, "sample: NULL model or request");
    const tk_engine_config *c = &m->cfg;
    const tk_engine_sampling_params *p = &r->params;
    if (r->adapter && r->adapter->model != m)
        return tk_err_set(e, TK_EINVAL, "sample: the adapter belongs to another base model");
    if (!r->prompt || r->n_prompt == 0) return tk_err_set(e, TK_EINVAL, "prompt: empty (at least one token is needed)");
    if (r->n_prompt >= (size_t)c->max_position_embeddings)
        return tk_err_set(e, TK_EINVAL,
                          "prompt: %zu tokens do not fit the model's context of %d tokens (max_position_embeddings) "
                          "with room for one generated token",
                          r->n_prompt, c->max_position_embeddings);
    for (size_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= c->vocab_size)
            return tk_err_set(e, TK_ERANGE, "prompt[%zu]: token id %d is out of range [0, %d)", i, r->prompt[i],
                              c->vocab_size);
    if (r->num_samples < 1 || r->num_samples > TK_ENGINE_MAX_NUM_SAMPLES)
        return tk_err_set(e, TK_EINVAL, "num_samples: %d is out of range [1, %d]", r->num_samples,
                          TK_ENGINE_MAX_NUM_SAMPLES);
    if (p->max_tokens < 1)
        return tk_err_set(e, TK_EINVAL, "sampling_params.max_tokens: %d must be at least 1", p->max_tokens);
    if (!isfinite(p->temperature) || p->temperature < 0)
        return tk_err_set(e, TK_EINVAL, "sampling_params.temperature: %g must be a finite number >= 0", p->temperature);
    if (p->top_k < -1)
        return tk_err_set(e, TK_EINVAL, "sampling_params.top_k: %d is out of range (-1 or 0 for no limit, else >= 1)",
                          p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return tk_err_set(e, TK_EINVAL, "sampling_params.top_p: %g is outside (0, 1]", p->top_p);
    if (p->n_stop_tokens && !p->stop_tokens) return tk_err_set(e, TK_EINVAL, "sampling_params.stop: NULL token list");
    for (size_t i = 0; i < p->n_stop_tokens; i++)
        if (p->stop_tokens[i] < 0 || p->stop_tokens[i] >= c->vocab_size)
            return tk_err_set(e, TK_ERANGE, "sampling_params.stop[%zu]: token id %d is out of range [0, %d)", i,
                              p->stop_tokens[i], c->vocab_size);
    if (p->n_stop_strings && !p->stop_strings) return tk_err_set(e, TK_EINVAL, "sampling_params.stop: NULL string list");
    for (size_t i = 0; i < p->n_stop_strings; i++) {
        const char *s = p->stop_strings[i];
        if (!s) return tk_err_set(e, TK_EINVAL, "sampling_params.stop[%zu]: NULL stop string", i);
        if (!*s) return tk_err_set(e, TK_EINVAL, "sampling_params.stop[%zu]: empty stop string", i);
        if (strlen(s) > TK_ENGINE_MAX_STOP_STRING)
            return tk_err_set(e, TK_EINVAL, "sampling_params.stop[%zu]: %zu bytes (at most %d)", i, strlen(s),
                              TK_ENGINE_MAX_STOP_STRING);
    }
    if (p->n_stop_strings && !r->token_bytes)
        return tk_err_set(e, TK_EINVAL, "sampling_params.stop: stop strings need a token_bytes callback (the engine "
                                        "has no tokenizer)");
    if (r->topk_prompt_logprobs < 0 || r->topk_prompt_logprobs > TK_ENGINE_MAX_TOPK_PROMPT_LOGPROBS)
        return tk_err_set(e, TK_EINVAL, "topk_prompt_logprobs: %d is out of range [0, %d]", r->topk_prompt_logprobs,
                          TK_ENGINE_MAX_TOPK_PROMPT_LOGPROBS);
    return 0;
}
