/* Decode kernels: attention of one new query per sequence over its cached keys and values, and
 * matrix products with bf16-stored weights. Each has a naive double-precision twin for the tests. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif

/* ---- attention over a KV cache ------------------------------------------------------------- */

size_t tk_attention_decode_scratch_floats(int32_t max_len) { return (size_t)(max_len > 0 ? max_len : 1); }

/* keys of row b, position j: segment 0 (the prompt) then segment 1 (generated so far) */
static inline const float *key_at(const tk_kv_rows *r, int32_t j, int kd) {
    return j < r->n0 ? r->k0 + (size_t)j * kd : r->k1 + (size_t)(j - r->n0) * kd;
}
static inline const float *val_at(const tk_kv_rows *r, int32_t j, int kd) {
    return j < r->n0 ? r->v0 + (size_t)j * kd : r->v1 + (size_t)(j - r->n0) * kd;
}

void tk_attention_decode(float *att, const float *q, const tk_kv_rows *kv, int B, int nh, int nkv, int hd,
                         int32_t max_len, float *scratch) {
    const int grp = nh / nkv, qd = nh * hd, kd = nkv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t per_thread = tk_attention_decode_scratch_floats(max_len);
    const bool par = (size_t)B * (size_t)nh * (size_t)max_len * (size_t)hd >= 65536;
#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (int task = 0; task < B * nh; task++) {
        int b = task / nh, h = task % nh, g = h / grp;
        const tk_kv_rows *r = &kv[b];
        const int32_t n = r->n0 + r->n1;
        float *s = scratch + (size_t)omp_get_thread_num() * per_thread;
        const float *qh = q + (size_t)b * qd + h * hd;
        float mx = -INFINITY;
        for (int32_t j = 0; j < n; j++) {
            const float *kj = key_at(r, j, kd) + g * hd;
            float d = 0.0f;
            for (int c = 0; c < hd; c++) d += qh[c] * kj[c];
            s[j] = d * scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        float sum = 0.0f;
        for (int32_t j = 0; j < n; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        float inv = 1.0f / sum;
        float *o = att + (size_t)b * qd + h * hd;
        memset(o, 0, sizeof(float) * hd);
        for (int32_t j = 0; j < n; j++) {
            const float *vj = val_at(r, j, kd) + g * hd;
            float p = s[j] * inv;
            for (int c = 0; c < hd; c++) o[c] += p * vj[c];
        }
    }
}

void tk_attention_decode_naive(float *att, const float *q, const tk_kv_rows *kv, int B, int nh, int nkv, int hd) {
    const int grp = nh / nkv, qd = nh * hd, kd = nkv * hd;
    for (int b = 0; b < B; b++) {
        const tk_kv_rows *r = &kv[b];
        const int32_t n = r->n0 + r->n1;
        double *s = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
        for (int h = 0; h < nh; h++) {
            int g = h / grp;
            const float *qh = q + (size_t)b * qd + h * hd;
            double mx = -INFINITY, sum = 0;
            for (int32_t j = 0; j < n; j++) {
                double d = 0;
                for (int c = 0; c < hd; c++) d += (double)qh[c] * key_at(r, j, kd)[g * hd + c];
                s[j] = d / sqrt((double)hd);
                if (s[j] > mx) mx = s[j];
            }
            for (int32_t j = 0; j < n; j++) sum += s[j] = exp(s[j] - mx);
            for (int c = 0; c < hd; c++) {
                double acc = 0;
                for (int32_t j = 0; j < n; j++) acc += s[j] / sum * val_at(r, j, kd)[g * hd + c];
                att[(size_t)b * qd + h * hd + c] = (float)acc;
            }
        }
        free(s);
    }
}

/* ---- bf16 weights --------------------------------------------------------------------------- */

static inline float bf16_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#ifdef __AVX2__
static inline __m256 bf16x8(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* out[t, n0..n0+4) for every t: four weight rows at a time (the rows stay in L1 across t).
 *
 * Widening costs more instructions than the FMAs, so 16 weights are widened with two unpacks
 * against zero (half the instructions of a zero-extend and a shift per 8 weights): per 128-bit lane unpacklo gives weights 0-3 and unpackhi weights 4-7 of that lane
 * as floats. xp holds each input row permuted the same way (per 16 values: 0-3, 8-11, 4-7, 12-15),
 * so the products pair up; the tail of K (under 16) is done in scalar. */
static void rows4(float *out, const float *in, const float *xp, const uint16_t *W, int T, int K, int N, int n0) {
    const uint16_t *w0 = W + (size_t)n0 * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
    (void)xp;
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * K;
        int k = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#ifdef __AVX2__
        const float *xq = xp + (size_t)t * K;
        const __m256i zero = _mm256_setzero_si256();
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (; k + 16 <= K; k += 16) {
            __m256 xl = _mm256_loadu_ps(xq + k), xh = _mm256_loadu_ps(xq + k + 8);
#define TK_BF16_FMA(w, a)                                                                         \
    do {                                                                                          \
        __m256i v = _mm256_loadu_si256((const __m256i *)((w) + k));                               \
        a = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, v)), xl, a);          \
        a = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, v)), xh, a);          \
    } while (0)
            TK_BF16_FMA(w0, a0);
            TK_BF16_FMA(w1, a1);
            TK_BF16_FMA(w2, a2);
            TK_BF16_FMA(w3, a3);
#undef TK_BF16_FMA
        }
        s0 = hsum8(a0);
        s1 = hsum8(a1);
        s2 = hsum8(a2);
        s3 = hsum8(a3);
#endif
        for (; k < K; k++) {
            s0 += bf16_f32(w0[k]) * x[k];
            s1 += bf16_f32(w1[k]) * x[k];
            s2 += bf16_f32(w2[k]) * x[k];
            s3 += bf16_f32(w3[k]) * x[k];
        }
        float *o = out + (size_t)t * N + n0;
        o[0] = s0;
        o[1] = s1;
        o[2] = s2;
        o[3] = s3;
    }
}

/* The lane order unpacklo/unpackhi produce, applied to the input rows (full 16-blocks only). */
static void permute_rows(float *xp, const float *in, int T, int K) {
    static const int order[16] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * K;
        float *q = xp + (size_t)t * K;
        int k = 0;
        for (; k + 16 <= K; k += 16)
            for (int i = 0; i < 16; i++) q[k + i] = x[k + order[i]];
        for (; k < K; k++) q[k] = x[k];
    }
}

static void row1(float *out, const float *in, const uint16_t *W, int T, int K, int N, int n) {
    const uint16_t *w = W + (size_t)n * K;
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * K;
        float s = 0;
        for (int k = 0; k < K; k++) s += bf16_f32(w[k]) * x[k];
        out[(size_t)t * N + n] = s;
    }
}

/* Below this many rows the product is bandwidth-bound: widen in registers. From it on, widen a
 * tile of weight rows once into fp32 and run the few-row kernel over it for every input row. */
#define BF16_GEMM_ROWS 4

static void few_rows(float *out, size_t ldo, const float *in, const float *w, int T, int K, int rows);

void tk_matmul_bf16(float *out, const float *in, const uint16_t *W, int T, int K, int N) {
    if (T <= 0 || N <= 0) return;
    if (T < BF16_GEMM_ROWS) {
        float stack[4096], *xp = (size_t)T * (size_t)K <= 4096 ? stack : malloc(sizeof(float) * (size_t)T * (size_t)K);
        if (xp) {
            permute_rows(xp, in, T, K);
            int n4 = N / 4;
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)K >= 65536)
            for (int i = 0; i < n4; i++) rows4(out, in, xp, W, T, K, N, 4 * i);
            for (int n = 4 * n4; n < N; n++) row1(out, in, W, T, K, N, n);
            if (xp != stack) free(xp);
            return;
        }
        /* out of memory for the permuted rows: the tile path below needs less */
    }
    int nb = 16384 / (K > 0 ? K : 1);   /* a 64 KiB fp32 tile of weight rows, widened once */
    nb = nb < 4 ? 4 : nb > 256 ? 256 : nb / 4 * 4;
    int n_tiles = (N + nb - 1) / nb;
#pragma omp parallel
    {
        float *tile = malloc(sizeof(float) * (size_t)nb * (size_t)K);
#pragma omp for schedule(static)
        for (int ti = 0; ti < n_tiles; ti++) {
            int n0 = ti * nb, rows = n0 + nb <= N ? nb : N - n0;
            if (!tile) {   /* out of memory: widen in registers, row by row */
                for (int n = n0; n < n0 + rows; n++) row1(out, in, W, T, K, N, n);
                continue;
            }
            const uint16_t *w = W + (size_t)n0 * K;
            for (size_t i = 0; i < (size_t)rows * K; i++) tile[i] = bf16_f32(w[i]);
            few_rows(out + n0, (size_t)N, in, tile, T, K, rows);
        }
        free(tile);
    }
}

void tk_matmul_bf16_naive(float *out, const float *in, const uint16_t *W, int T, int K, int N) {
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)in[(size_t)t * K + k] * bf16_f32(W[(size_t)n * K + k]);
            out[(size_t)t * N + n] = (float)s;
        }
}

/* ---- few-row fp32 products ----------------------------------------------------------------- */

/* out[t0 + {0,1}][0..4) (row stride ldo) from the four weight rows w[0..4K) and input rows t0, t0+1:
 * eight accumulators; the four weight rows stay in L1/L2 while the caller walks the input rows. */
static void block4x2(float *out, size_t ldo, const float *in, const float *w, int K, int t0) {
    const float *w0 = w, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
    const float *x0 = in + (size_t)t0 * K, *x1 = x0 + K;
    float s[8] = {0};
    int k = 0;
#ifdef __AVX2__
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    for (; k + 8 <= K; k += 8) {
        __m256 b0 = _mm256_loadu_ps(w0 + k), b1 = _mm256_loadu_ps(w1 + k), b2 = _mm256_loadu_ps(w2 + k),
               b3 = _mm256_loadu_ps(w3 + k);
        __m256 y0 = _mm256_loadu_ps(x0 + k), y1 = _mm256_loadu_ps(x1 + k);
        a00 = _mm256_fmadd_ps(b0, y0, a00);
        a01 = _mm256_fmadd_ps(b1, y0, a01);
        a02 = _mm256_fmadd_ps(b2, y0, a02);
        a03 = _mm256_fmadd_ps(b3, y0, a03);
        a10 = _mm256_fmadd_ps(b0, y1, a10);
        a11 = _mm256_fmadd_ps(b1, y1, a11);
        a12 = _mm256_fmadd_ps(b2, y1, a12);
        a13 = _mm256_fmadd_ps(b3, y1, a13);
    }
    s[0] = hsum8(a00); s[1] = hsum8(a01); s[2] = hsum8(a02); s[3] = hsum8(a03);
    s[4] = hsum8(a10); s[5] = hsum8(a11); s[6] = hsum8(a12); s[7] = hsum8(a13);
#endif
    for (; k < K; k++) {
        s[0] += w0[k] * x0[k]; s[1] += w1[k] * x0[k]; s[2] += w2[k] * x0[k]; s[3] += w3[k] * x0[k];
        s[4] += w0[k] * x1[k]; s[5] += w1[k] * x1[k]; s[6] += w2[k] * x1[k]; s[7] += w3[k] * x1[k];
    }
    memcpy(out + (size_t)t0 * ldo, s, 4 * sizeof(float));
    memcpy(out + (size_t)(t0 + 1) * ldo, s + 4, 4 * sizeof(float));
}

static float dot(const float *a, const float *b, int K) {
    int k = 0;
    float s = 0;
#ifdef __AVX2__
    __m256 acc = _mm256_setzero_ps();
    for (; k + 8 <= K; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
    s = hsum8(acc);
#endif
    for (; k < K; k++) s += a[k] * b[k];
    return s;
}

/* out[t][0..rows) (row stride ldo) = in[t]·w[j] for the weight rows w[0..rows·K), on the calling
 * thread: groups of four weight rows against pairs of input rows. */
static void few_rows(float *out, size_t ldo, const float *in, const float *w, int T, int K, int rows) {
    int r4 = rows / 4 * 4;
    for (int j = 0; j < r4; j += 4) {
        for (int t = 0; t + 1 < T; t += 2) block4x2(out + j, ldo, in, w + (size_t)j * K, K, t);
        if (T & 1)
            for (int i = 0; i < 4; i++)
                out[(size_t)(T - 1) * ldo + (size_t)(j + i)] = dot(w + (size_t)(j + i) * K, in + (size_t)(T - 1) * K, K);
    }
    for (int j = r4; j < rows; j++)
        for (int t = 0; t < T; t++) out[(size_t)t * ldo + (size_t)j] = dot(w + (size_t)j * K, in + (size_t)t * K, K);
}

void tk_matmul_few(float *out, const float *in, const float *W, int T, int K, int N) {
    if (T <= 0 || N <= 0) return;
    int groups = (N + 3) / 4;
#pragma omp parallel for schedule(static) if ((size_t)N * (size_t)K >= 65536)
    for (int g = 0; g < groups; g++) {
        int j = 4 * g, rows = j + 4 <= N ? 4 : N - j;
        few_rows(out + j, (size_t)N, in, W + (size_t)j * K, T, K, rows);
    }
}

/* y[N] = W[N,K]·x[K] for fp32 weights: sgemv (streams W once; sgemm with M = 1 may pack it). */
void tk_matvec(float *out, const float *x, const float *W, int K, int N) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, W, K, x, 1, 0.0f, out, 1);
}
