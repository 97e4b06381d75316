/* The engine's kernels. Each fast kernel has a plain `_naive` twin used by the tests as the
 * reference. Shapes are row-major; T = tokens (rows). Kernels named _backward ACCUMULATE (+=)
 * into their input-gradient outputs unless the comment says "overwrites". */
#ifndef TK_ENGINE_KERNELS_H
#define TK_ENGINE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* out[T,N] = alpha · in[T,K]·W[N,K]ᵀ (accumulate: out += ...). */
void tk_matmul_forward(float *out, const float *in, const float *W, int T, int K, int N, float alpha, bool accumulate);
void tk_matmul_forward_naive(float *out, const float *in, const float *W, int T, int K, int N, float alpha, bool accumulate);
/* din[T,K] += alpha · dout[T,N]·W[N,K] */
void tk_matmul_backward_input(float *din, const float *dout, const float *W, int T, int K, int N, float alpha);
void tk_matmul_backward_input_naive(float *din, const float *dout, const float *W, int T, int K, int N, float alpha);
/* dW[N,K] += alpha · dout[T,N]ᵀ·in[T,K] */
void tk_matmul_backward_weight(float *dW, const float *dout, const float *in, int T, int K, int N, float alpha);
void tk_matmul_backward_weight_naive(float *dW, const float *dout, const float *in, int T, int K, int N, float alpha);

/* y = w ⊙ x / sqrt(mean(x²) + eps) per row of C; rstd[T] saved for the backward. */
void tk_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, size_t T, int C, float eps);
void tk_rmsnorm_forward_naive(float *out, float *rstd, const float *x, const float *w, size_t T, int C, float eps);
/* dx += d(rmsnorm)/dx · dout (norm weights are frozen: no weight gradient). */
void tk_rmsnorm_backward(float *dx, const float *dout, const float *x, const float *w, const float *rstd, size_t T,
                         int C);
void tk_rmsnorm_backward_naive(float *dx, const float *dout, const float *x, const float *w, const float *rstd,
                               size_t T, int C);

/* RoPE tables: cos/sin [n_pos, hd/2] of pos·inv_freq (inv_freq with Llama 3 scaling if asked),
 * computed in fp32 like transformers. */
typedef struct tk_rope_params {
    double theta;
    bool llama3;
    double factor, low_freq_factor, high_freq_factor;
    int32_t original_max_position;
} tk_rope_params;
void tk_rope_tables(float *cos_t, float *sin_t, int n_pos, int hd, const tk_rope_params *p);
/* In place, rotate_half convention, x [T, n_heads*hd]; pos[T] indexes the tables. backward
 * rotates by -θ (the transpose), also in place. */
void tk_rope_forward(float *x, size_t T, int n_heads, int hd, const int32_t *pos, const float *cos_t,
                     const float *sin_t);
void tk_rope_backward(float *dx, size_t T, int n_heads, int hd, const int32_t *pos, const float *cos_t,
                      const float *sin_t);

/* h = silu(g)·u; backward overwrites dg, du. */
void tk_swiglu_forward(float *h, const float *g, const float *u, size_t n);
void tk_swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, size_t n);

/* Causal grouped-query attention over packed sequences: sequence s covers rows
 * [starts[s], starts[s+1]). q [T, nh*hd], k/v [T, nkv*hd], att [T, nh*hd] (overwritten).
 * scratch: tk_attention_scratch_floats(max_len) floats per OpenMP thread. */
typedef struct tk_attn_shape {
    int n_heads, n_kv_heads, head_dim;
    const int32_t *starts;
    int n_seq;
    int32_t max_len;
} tk_attn_shape;
size_t tk_attention_scratch_floats(int32_t max_len);
void tk_attention_forward(float *att, const float *q, const float *k, const float *v, const tk_attn_shape *s,
                          float *scratch);
void tk_attention_forward_naive(float *att, const float *q, const float *k, const float *v, const tk_attn_shape *s);
/* dq overwritten; dk, dv overwritten (they are zeroed first). att is the forward output. */
void tk_attention_backward(float *dq, float *dk, float *dv, const float *datt, const float *q, const float *k,
                           const float *v, const float *att, const tk_attn_shape *s, float *scratch);
void tk_attention_backward_naive(float *dq, float *dk, float *dv, const float *datt, const float *q, const float *k,
                                 const float *v, const tk_attn_shape *s);

/* ---- decode (kernels_decode.c) ---- */

/* One sequence's cached keys/values at one layer: positions [0, n0) in segment 0 (the prompt,
 * shared by the request's samples), then [n0, n0 + n1) in segment 1 (its generated tokens). Rows
 * have stride kv_heads·head_dim. */
typedef struct tk_kv_rows {
    const float *k0, *v0;
    int32_t n0;
    const float *k1, *v1;
    int32_t n1;
} tk_kv_rows;
/* scratch: tk_attention_decode_scratch_floats(max_len) floats per OpenMP thread, max_len >= every
 * n0 + n1. att [B, nh*hd] overwritten; q [B, nh*hd] one query per sequence. */
size_t tk_attention_decode_scratch_floats(int32_t max_len);
void tk_attention_decode(float *att, const float *q, const tk_kv_rows *kv, int B, int nh, int nkv, int hd,
                         int32_t max_len, float *scratch);
void tk_attention_decode_naive(float *att, const float *q, const tk_kv_rows *kv, int B, int nh, int nkv, int hd);

/* out[T,N] = in[T,K]·W[N,K]ᵀ with W stored as bf16 bit patterns (overwrites out). */
void tk_matmul_bf16(float *out, const float *in, const uint16_t *W, int T, int K, int N);
void tk_matmul_bf16_naive(float *out, const float *in, const uint16_t *W, int T, int K, int N);
/* out[T,N] = in[T,K]·W[N,K]ᵀ (fp32, overwrites) for a few rows (decode batches): each weight row
 * is read from memory once for all T rows, where sgemm would first repack all of W. */
void tk_matmul_few(float *out, const float *in, const float *W, int T, int K, int N);
/* out[N] = W[N,K]·x (fp32, sgemv). */
void tk_matvec(float *out, const float *x, const float *W, int K, int N);

int tk_kernel_threads(void);

#endif
