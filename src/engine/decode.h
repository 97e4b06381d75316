/* The batched decode step (decode.c): one new token for each of B sequences, each with its own
 * position, KV cache and adapter, over one base model. Internal to the engine. */
#ifndef TK_ENGINE_DECODE_H
#define TK_ENGINE_DECODE_H

#include "internal.h"
#include "kernels.h"

typedef struct tk_decode_seq {
    int32_t token;                   /* fed this step */
    int32_t pos;                     /* its position: n_prompt + n_gen */
    const tk_engine_adapter *adapter;/* NULL: base */
    const float *prompt_kv;          /* [L][2][n_prompt][kd] */
    int32_t n_prompt;
    float *gen_kv;                   /* [L][2][gen_cap][kd]; this step writes row n_gen */
    int32_t gen_cap;
    int32_t n_gen;
} tk_decode_seq;

/* Scratch kept between steps (grown, never shrunk until freed). */
typedef struct tk_decode_ws {
    float *buf;
    size_t cap;
    float *cos_t, *sin_t;            /* RoPE tables for positions [0, rope_n) */
    int32_t rope_n;
    tk_kv_rows *kv;
    int32_t *pos;
    int rows_cap;
} tk_decode_ws;

void tk_decode_ws_free(tk_decode_ws *ws);

/* logits [B, V] for the B sequences (rows with the same adapter should be adjacent: each run of
 * one adapter costs one pair of small GEMMs per module). Writes each sequence's K/V row. */
int tk_decode_step(tk_engine_model *m, const tk_decode_seq *seqs, int B, float *logits, tk_decode_ws *ws,
                   tk_err *e);

/* logits [n, V] = x [n, H]·lm_headᵀ (+ the adapter's lm_head LoRA), fp32 weights; u is [n, rank]
 * scratch (unused without an lm_head adapter). */
void tk_head_logits(const tk_engine_model *m, const tk_engine_adapter *a, const float *x, int n, float *logits,
                    float *u);

#endif
