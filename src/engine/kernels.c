/* Kernels: matmuls through OpenBLAS, row-wise ops parallelised with OpenMP (static schedules, so
 * a fixed thread count gives bit-identical results), and naive references for the tests. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int tk_kernel_threads(void) { return omp_get_max_threads(); }

/* ---- matmul ---------------------------------------------------------------------------------- */

void tk_matmul_forward(float *out, const float *in, const float *W, int T, int K, int N, float alpha, bool accumulate) {
    if (T <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, alpha, in, K, W, K, accumulate ? 1.0f : 0.0f,
                out, N);
}

void tk_matmul_forward_naive(float *out, const float *in, const float *W, int T, int K, int N, float alpha, bool accumulate) {
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)in[(size_t)t * K + k] * W[(size_t)n * K + k];
            out[(size_t)t * N + n] = (float)(alpha * s + (accumulate ? out[(size_t)t * N + n] : 0.0));
        }
}

void tk_matmul_backward_input(float *din, const float *dout, const float *W, int T, int K, int N, float alpha) {
    if (T <= 0 || K <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, K, N, alpha, dout, N, W, K, 1.0f, din, K);
}

void tk_matmul_backward_input_naive(float *din, const float *dout, const float *W, int T, int K, int N, float alpha) {
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)dout[(size_t)t * N + n] * W[(size_t)n * K + k];
            din[(size_t)t * K + k] += (float)(alpha * s);
        }
}

void tk_matmul_backward_weight(float *dW, const float *dout, const float *in, int T, int K, int N, float alpha) {
    if (N <= 0 || K <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, T, alpha, dout, N, in, K, 1.0f, dW, K);
}

void tk_matmul_backward_weight_naive(float *dW, const float *dout, const float *in, int T, int K, int N, float alpha) {
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int t = 0; t < T; t++) s += (double)dout[(size_t)t * N + n] * in[(size_t)t * K + k];
            dW[(size_t)n * K + k] += (float)(alpha * s);
        }
}

/* ---- RMSNorm --------------------------------------------------------------------------------- */

/* Below this many elements a row-wise kernel runs on the calling thread: a parallel region costs
 * more than the work (decode steps call these on a few rows). Each row is computed by the same
 * code either way, so the results do not change. */
#define PAR_MIN 32768

void tk_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, size_t T, int C, float eps) {
#pragma omp parallel for schedule(static) if (T * (size_t)C >= PAR_MIN)
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C;
        float *o = out + t * C;
        float ss = 0.0f;
        for (int i = 0; i < C; i++) ss += xr[i] * xr[i];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        rstd[t] = r;
        for (int i = 0; i < C; i++) o[i] = w[i] * (xr[i] * r);
    }
}

void tk_rmsnorm_forward_naive(float *out, float *rstd, const float *x, const float *w, size_t T, int C, float eps) {
    for (size_t t = 0; t < T; t++) {
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)x[t * C + i] * x[t * C + i];
        double r = 1.0 / sqrt(ss / C + eps);
        rstd[t] = (float)r;
        for (int i = 0; i < C; i++) out[t * C + i] = (float)(w[i] * x[t * C + i] * r);
    }
}

/* y_i = w_i x_i r, r = (mean x² + eps)^-1/2  =>  dx_i = r·g_i − r³·x_i·(Σ_j g_j x_j)/C, g = w ⊙ dy */
void tk_rmsnorm_backward(float *dx, const float *dout, const float *x, const float *w, const float *rstd, size_t T,
                         int C) {
#pragma omp parallel for schedule(static)
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C, *dy = dout + t * C;
        float *d = dx + t * C;
        float r = rstd[t], dot = 0.0f;
        for (int i = 0; i < C; i++) dot += w[i] * dy[i] * xr[i];
        float c = r * r * r * dot / (float)C;
        for (int i = 0; i < C; i++) d[i] += r * w[i] * dy[i] - c * xr[i];
    }
}

void tk_rmsnorm_backward_naive(float *dx, const float *dout, const float *x, const float *w, const float *rstd,
                               size_t T, int C) {
    for (size_t t = 0; t < T; t++) {
        double r = rstd[t], dot = 0;
        for (int i = 0; i < C; i++) dot += (double)w[i] * dout[t * C + i] * x[t * C + i];
        for (int i = 0; i < C; i++)
            dx[t * C + i] += (float)(r * w[i] * dout[t * C + i] - r * r * r * x[t * C + i] * dot / C);
    }
}

/* ---- RoPE ------------------------------------------------------------------------------------ */

void tk_rope_tables(float *cos_t, float *sin_t, int n_pos, int hd, const tk_rope_params *p) {
    int half = hd / 2;
    float inv[2048];   /* head_dim <= 4096 (tk_engine_config_validate) */
    for (int i = 0; i < half && i < 2048; i++) {
        /* transformers: 1 / theta ** (arange(0, hd, 2).float() / hd), in fp32 */
        float expo = (float)(2 * i) / (float)hd;
        float f = (float)(1.0 / pow(p->theta, (double)expo));
        if (p->llama3) {
            double lo_wl = p->original_max_position / p->low_freq_factor;
            double hi_wl = p->original_max_position / p->high_freq_factor;
            double wl = 2.0 * M_PI / f;
            if (wl > lo_wl) {
                f = (float)(f / p->factor);
            } else if (wl >= hi_wl) {
                double smooth = (p->original_max_position / wl - p->low_freq_factor)
                                / (p->high_freq_factor - p->low_freq_factor);
                f = (float)((1.0 - smooth) * f / p->factor + smooth * f);
            }
        }
        inv[i] = f;
    }
    for (int t = 0; t < n_pos; t++)
        for (int i = 0; i < half; i++) {
            float ang = (float)t * inv[i];   /* fp32 product, as torch does */
            cos_t[(size_t)t * half + i] = cosf(ang);
            sin_t[(size_t)t * half + i] = sinf(ang);
        }
}

static void rope_apply(float *x, size_t T, int n_heads, int hd, const int32_t *pos, const float *cos_t,
                       const float *sin_t, float sign) {
    int half = hd / 2;
#pragma omp parallel for schedule(static) if (T * (size_t)n_heads * (size_t)hd >= PAR_MIN)
    for (size_t t = 0; t < T; t++) {
        const float *c = cos_t + (size_t)pos[t] * half, *s = sin_t + (size_t)pos[t] * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (t * n_heads + h) * hd;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half], sn = sign * s[i];
                v[i] = a * c[i] - b * sn;
                v[i + half] = b * c[i] + a * sn;
            }
        }
    }
}

void tk_rope_forward(float *x, size_t T, int n_heads, int hd, const int32_t *pos, const float *cos_t,
                     const float *sin_t) {
    rope_apply(x, T, n_heads, hd, pos, cos_t, sin_t, 1.0f);
}

void tk_rope_backward(float *dx, size_t T, int n_heads, int hd, const int32_t *pos, const float *cos_t,
                      const float *sin_t) {
    rope_apply(dx, T, n_heads, hd, pos, cos_t, sin_t, -1.0f);
}

/* ---- SwiGLU ---------------------------------------------------------------------------------- */

void tk_swiglu_forward(float *h, const float *g, const float *u, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float sg = 1.0f / (1.0f + expf(-g[i]));
        h[i] = g[i] * sg * u[i];
    }
}

void tk_swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float sg = 1.0f / (1.0f + expf(-g[i]));
        float silu = g[i] * sg;
        du[i] = dh[i] * silu;
        dg[i] = dh[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
    }
}

/* ---- attention ------------------------------------------------------------------------------- */

/* Rows are processed in blocks so that the causal mask skips most of the upper triangle: block
 * [r0, r1) only needs keys [0, r1). */
#define ATT_BLOCK 64

size_t tk_attention_scratch_floats(int32_t max_len) { return (size_t)2 * ATT_BLOCK * (size_t)(max_len > 0 ? max_len : 1); }

void tk_attention_forward(float *att, const float *q, const float *k, const float *v, const tk_attn_shape *s,
                          float *scratch) {
    const int nh = s->n_heads, nkv = s->n_kv_heads, hd = s->head_dim, grp = nh / nkv;
    const int qd = nh * hd, kd = nkv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const int n_tasks = s->n_seq * nh;
    const size_t per_thread = tk_attention_scratch_floats(s->max_len);
#pragma omp parallel for schedule(dynamic, 1)
    for (int task = 0; task < n_tasks; task++) {
        int sq = task / nh, h = task % nh, kvh = h / grp;
        int32_t b = s->starts[sq], n = s->starts[sq + 1] - b;
        float *P = scratch + (size_t)omp_get_thread_num() * per_thread;
        const float *Q = q + (size_t)b * qd + h * hd, *K = k + (size_t)b * kd + kvh * hd,
                    *Vv = v + (size_t)b * kd + kvh * hd;
        float *O = att + (size_t)b * qd + h * hd;
        for (int r0 = 0; r0 < n; r0 += ATT_BLOCK) {
            int r1 = r0 + ATT_BLOCK < n ? r0 + ATT_BLOCK : n, m = r1 - r0;
            /* P[m, r1] = scale · Q[r0:r1]·K[0:r1]ᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, r1, hd, scale, Q + (size_t)r0 * qd, qd, K, kd,
                        0.0f, P, r1);
            for (int i = 0; i < m; i++) {
                float *row = P + (size_t)i * r1;
                int lim = r0 + i + 1;   /* keys 0..r0+i are visible */
                float mx = row[0];
                for (int j = 1; j < lim; j++) mx = row[j] > mx ? row[j] : mx;
                float sum = 0.0f;
                for (int j = 0; j < lim; j++) {
                    row[j] = expf(row[j] - mx);
                    sum += row[j];
                }
                float inv = 1.0f / sum;
                for (int j = 0; j < lim; j++) row[j] *= inv;
                for (int j = lim; j < r1; j++) row[j] = 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd, r1, 1.0f, P, r1, Vv, kd, 0.0f,
                        O + (size_t)r0 * qd, qd);
        }
    }
}

void tk_attention_forward_naive(float *att, const float *q, const float *k, const float *v, const tk_attn_shape *s) {
    const int nh = s->n_heads, nkv = s->n_kv_heads, hd = s->head_dim, grp = nh / nkv;
    const int qd = nh * hd, kd = nkv * hd;
    double *p = malloc(sizeof(double) * (size_t)(s->max_len > 0 ? s->max_len : 1));
    for (int sq = 0; sq < s->n_seq; sq++) {
        int32_t b = s->starts[sq], n = s->starts[sq + 1] - b;
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < n; i++) {
                const float *qi = q + (size_t)(b + i) * qd + h * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= i; j++) {
                    const float *kj = k + (size_t)(b + j) * kd + (h / grp) * hd;
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)qi[c] * kj[c];
                    p[j] = d / sqrt((double)hd);
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j <= i; j++) sum += p[j] = exp(p[j] - mx);
                float *o = att + (size_t)(b + i) * qd + h * hd;
                for (int c = 0; c < hd; c++) {
                    double acc = 0;
                    for (int j = 0; j <= i; j++) acc += p[j] / sum * v[(size_t)(b + j) * kd + (h / grp) * hd + c];
                    o[c] = (float)acc;
                }
            }
    }
    free(p);
}

/* Per (sequence, kv head) task, for each of its query heads and row block:
 *   P = softmax(scale·QKᵀ) (recomputed), dP = dO·Vᵀ, dV += Pᵀ·dO,
 *   dS = P ⊙ (dP − rowsum(dO ⊙ O)), dQ = scale·dS·K, dK += scale·dSᵀ·Q.
 * A task owns its dK/dV rows, so tasks never race and the order inside a task is fixed. */
void tk_attention_backward(float *dq, float *dk, float *dv, const float *datt, const float *q, const float *k,
                           const float *v, const float *att, const tk_attn_shape *s, float *scratch) {
    const int nh = s->n_heads, nkv = s->n_kv_heads, hd = s->head_dim, grp = nh / nkv;
    const int qd = nh * hd, kd = nkv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const int n_tasks = s->n_seq * nkv;
    const size_t per_thread = tk_attention_scratch_floats(s->max_len);
#pragma omp parallel for schedule(dynamic, 1)
    for (int task = 0; task < n_tasks; task++) {
        int sq = task / nkv, kvh = task % nkv;
        int32_t b = s->starts[sq], n = s->starts[sq + 1] - b;
        float *P = scratch + (size_t)omp_get_thread_num() * per_thread;
        float *dP = P + (size_t)ATT_BLOCK * s->max_len;
        const float *K = k + (size_t)b * kd + kvh * hd, *Vv = v + (size_t)b * kd + kvh * hd;
        float *dK = dk + (size_t)b * kd + kvh * hd, *dV = dv + (size_t)b * kd + kvh * hd;
        for (int i = 0; i < n; i++) {
            memset(dK + (size_t)i * kd, 0, sizeof(float) * hd);
            memset(dV + (size_t)i * kd, 0, sizeof(float) * hd);
        }
        for (int h = kvh * grp; h < (kvh + 1) * grp; h++) {
            const float *Q = q + (size_t)b * qd + h * hd, *dO = datt + (size_t)b * qd + h * hd,
                        *O = att + (size_t)b * qd + h * hd;
            float *dQ = dq + (size_t)b * qd + h * hd;
            for (int r0 = 0; r0 < n; r0 += ATT_BLOCK) {
                int r1 = r0 + ATT_BLOCK < n ? r0 + ATT_BLOCK : n, m = r1 - r0;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, r1, hd, scale, Q + (size_t)r0 * qd, qd, K, kd,
                            0.0f, P, r1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, r1, hd, 1.0f, dO + (size_t)r0 * qd, qd, Vv,
                            kd, 0.0f, dP, r1);
                for (int i = 0; i < m; i++) {
                    float *row = P + (size_t)i * r1, *drow = dP + (size_t)i * r1;
                    int lim = r0 + i + 1;
                    float mx = row[0];
                    for (int j = 1; j < lim; j++) mx = row[j] > mx ? row[j] : mx;
                    float sum = 0.0f;
                    for (int j = 0; j < lim; j++) {
                        row[j] = expf(row[j] - mx);
                        sum += row[j];
                    }
                    float inv = 1.0f / sum;
                    const float *o = O + (size_t)(r0 + i) * qd, *go = dO + (size_t)(r0 + i) * qd;
                    float D = 0.0f;
                    for (int c = 0; c < hd; c++) D += o[c] * go[c];
                    for (int j = 0; j < lim; j++) {
                        row[j] *= inv;
                        drow[j] = row[j] * (drow[j] - D);
                    }
                    for (int j = lim; j < r1; j++) row[j] = drow[j] = 0.0f;
                }
                /* dV[0:r1] += Pᵀ·dO[r0:r1] */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, m, 1.0f, P, r1, dO + (size_t)r0 * qd, qd,
                            1.0f, dV, kd);
                /* dQ[r0:r1] = scale·dS·K[0:r1] */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd, r1, scale, dP, r1, K, kd, 0.0f,
                            dQ + (size_t)r0 * qd, qd);
                /* dK[0:r1] += scale·dSᵀ·Q[r0:r1] */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, m, scale, dP, r1, Q + (size_t)r0 * qd, qd,
                            1.0f, dK, kd);
            }
        }
    }
}

void tk_attention_backward_naive(float *dq, float *dk, float *dv, const float *datt, const float *q, const float *k,
                                 const float *v, const tk_attn_shape *s) {
    const int nh = s->n_heads, nkv = s->n_kv_heads, hd = s->head_dim, grp = nh / nkv;
    const int qd = nh * hd, kd = nkv * hd;
    size_t T = (size_t)s->starts[s->n_seq];
    memset(dq, 0, sizeof(float) * T * qd);
    memset(dk, 0, sizeof(float) * T * kd);
    memset(dv, 0, sizeof(float) * T * kd);
    size_t L = (size_t)(s->max_len > 0 ? s->max_len : 1);
    double *p = malloc(sizeof(double) * L), *dp = malloc(sizeof(double) * L);
    double sc = 1.0 / sqrt((double)hd);
    for (int sq = 0; sq < s->n_seq; sq++) {
        int32_t b = s->starts[sq], n = s->starts[sq + 1] - b;
        for (int h = 0; h < nh; h++) {
            int g = h / grp;
            for (int i = 0; i < n; i++) {
                const float *qi = q + (size_t)(b + i) * qd + h * hd, *doi = datt + (size_t)(b + i) * qd + h * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= i; j++) {
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)qi[c] * k[(size_t)(b + j) * kd + g * hd + c];
                    p[j] = d * sc;
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j <= i; j++) sum += p[j] = exp(p[j] - mx);
                double D = 0;
                for (int j = 0; j <= i; j++) {
                    p[j] /= sum;
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)doi[c] * v[(size_t)(b + j) * kd + g * hd + c];
                    dp[j] = d;
                    D += p[j] * d;
                }
                for (int j = 0; j <= i; j++) {
                    double ds = p[j] * (dp[j] - D) * sc;
                    for (int c = 0; c < hd; c++) {
                        dq[(size_t)(b + i) * qd + h * hd + c] += (float)(ds * k[(size_t)(b + j) * kd + g * hd + c]);
                        dk[(size_t)(b + j) * kd + g * hd + c] += (float)(ds * qi[c]);
                        dv[(size_t)(b + j) * kd + g * hd + c] += (float)(p[j] * doi[c]);
                    }
                }
            }
        }
    }
    free(p);
    free(dp);
}
