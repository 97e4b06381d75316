/* Choosing tokens from logits (temperature, top-k, top-p, greedy), log-softmax and top-k
 * logprobs. Pure functions over one row of logits; the definition they implement is in
 * docs/ENGINE.md "Sampling procedure" and is reimplemented by scripts/engine_reference.py. */
#ifndef TK_ENGINE_SAMPLING_H
#define TK_ENGINE_SAMPLING_H

#include "tinkerc/base.h"

typedef struct tk_cand {
    double w;          /* exp((z - zmax) / T) */
    int32_t id;
} tk_cand;

/* Per-thread scratch, grown to the vocabulary on first use. */
typedef struct tk_sampling_scratch {
    double *w;         /* [V] */
    uint8_t *keep;     /* [V] */
    tk_cand *cand;     /* [V] */
    size_t cap;
} tk_sampling_scratch;

int tk_sampling_scratch_reserve(tk_sampling_scratch *s, size_t V);
void tk_sampling_scratch_free(tk_sampling_scratch *s);

typedef struct tk_choice_params {
    double temperature;
    int32_t top_k;     /* <= 0 or >= V: off */
    double top_p;      /* >= 1: off */
} tk_choice_params;

/* log-sum-exp of a row, as the forward head computes it (float max, float exps summed in
 * double): the logprob of id is z[id] - lse. */
float tk_row_lse(const float *z, int32_t V);

/* Choose a token; draws one tk_rng_f64 unless greedy. */
int32_t tk_choose_token(const float *z, int32_t V, const tk_choice_params *p, tk_rng *rng, tk_sampling_scratch *s);
/* The definition, literally: a full sort of the vocabulary. Same results as tk_choose_token. */
int32_t tk_choose_token_naive(const float *z, int32_t V, const tk_choice_params *p, tk_rng *rng);

/* The k best (z desc, id asc) ids of a row and their logprobs z - lse; cells beyond V get
 * TK_ENGINE_TOPK_EMPTY_ID / _LOGPROB. */
void tk_row_topk(const float *z, int32_t V, float lse, int k, int32_t *ids, float *lps);

#endif
