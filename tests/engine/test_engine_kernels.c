/* Each fast kernel against its naive twin (double-precision loops) on random inputs, including
 * shapes that straddle the attention row block (64) and grouped-query heads; RoPE backward as
 * the transpose of forward; SwiGLU and RMSNorm backward against central finite differences. */
#include "engine_test_util.h"
#include "engine/kernels.h"

static float *rnd(tk_rng *r, size_t n, double scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = (float)(scale * tk_rng_normal(r));
    return p;
}

static void test_matmul(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 1);
    const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 64, 96}, {130, 40, 17}};
    for (size_t s = 0; s < 4; s++) {
        int T = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *in = rnd(&r, (size_t)T * K, 1), *W = rnd(&r, (size_t)N * K, 1), *dout = rnd(&r, (size_t)T * N, 1);
        float *a = rnd(&r, (size_t)T * N, 1), *b = malloc((size_t)T * N * sizeof(float));
        memcpy(b, a, (size_t)T * N * sizeof(float));
        tk_matmul_forward(a, in, W, T, K, N, 0.5f, true);
        tk_matmul_forward_naive(b, in, W, T, K, N, 0.5f, true);
        check_close("matmul_forward", a, b, (size_t)T * N, 1e-5, 1e-6);
        float *da = rnd(&r, (size_t)T * K, 1), *db = malloc((size_t)T * K * sizeof(float));
        memcpy(db, da, (size_t)T * K * sizeof(float));
        tk_matmul_backward_input(da, dout, W, T, K, N, 2.0f);
        tk_matmul_backward_input_naive(db, dout, W, T, K, N, 2.0f);
        check_close("matmul_backward_input", da, db, (size_t)T * K, 1e-5, 1e-6);
        float *wa = rnd(&r, (size_t)N * K, 1), *wb = malloc((size_t)N * K * sizeof(float));
        memcpy(wb, wa, (size_t)N * K * sizeof(float));
        tk_matmul_backward_weight(wa, dout, in, T, K, N, 0.25f);
        tk_matmul_backward_weight_naive(wb, dout, in, T, K, N, 0.25f);
        check_close("matmul_backward_weight", wa, wb, (size_t)N * K, 1e-5, 1e-6);
        free(in); free(W); free(dout); free(a); free(b); free(da); free(db); free(wa); free(wb);
    }
}

static void test_rmsnorm(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 2);
    const size_t T = 19;
    const int C = 24;
    float *x = rnd(&r, T * C, 2), *w = rnd(&r, C, 1), *dy = rnd(&r, T * C, 1);
    float *y1 = malloc(T * C * 4), *y2 = malloc(T * C * 4), r1[19], r2[19];
    tk_rmsnorm_forward(y1, r1, x, w, T, C, 1e-5f);
    tk_rmsnorm_forward_naive(y2, r2, x, w, T, C, 1e-5f);
    check_close("rmsnorm_forward", y1, y2, T * C, 1e-6, 1e-6);
    check_close("rmsnorm rstd", r1, r2, T, 1e-6, 1e-6);
    float *d1 = calloc(T * C, 4), *d2 = calloc(T * C, 4);
    tk_rmsnorm_backward(d1, dy, x, w, r1, T, C);
    tk_rmsnorm_backward_naive(d2, dy, x, w, r2, T, C);
    check_close("rmsnorm_backward", d1, d2, T * C, 1e-5, 1e-6);
    /* finite differences of L = Σ dy·y on a few coordinates, in double through the naive forward */
    float *fd = calloc(T * C, 4);
    for (size_t i = 0; i < T * C; i += 7) {
        double h = 1e-3, lp = 0, lm = 0;
        float keep = x[i];
        x[i] = keep + (float)h;
        tk_rmsnorm_forward_naive(y2, r2, x, w, T, C, 1e-5f);
        for (size_t k = 0; k < T * C; k++) lp += (double)dy[k] * y2[k];
        x[i] = keep - (float)h;
        tk_rmsnorm_forward_naive(y2, r2, x, w, T, C, 1e-5f);
        for (size_t k = 0; k < T * C; k++) lm += (double)dy[k] * y2[k];
        x[i] = keep;
        fd[i] = (float)((lp - lm) / (2 * h));
        if (fabs(fd[i] - d1[i]) > 2e-3 * (1 + fabs(d1[i])))
            fail_msg("rmsnorm_backward[%zu]: analytic %g, finite difference %g", i, d1[i], fd[i]);
    }
    free(x); free(w); free(dy); free(y1); free(y2); free(d1); free(d2); free(fd);
}

static void test_swiglu(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 3);
    const size_t n = 257;
    float *g = rnd(&r, n, 3), *u = rnd(&r, n, 1), *dh = rnd(&r, n, 1), *h = malloc(n * 4), *dg = malloc(n * 4),
          *du = malloc(n * 4);
    tk_swiglu_forward(h, g, u, n);
    tk_swiglu_backward(dg, du, dh, g, u, n);
    for (size_t i = 0; i < n; i++) {
        double gi = g[i], silu = gi / (1 + exp(-gi));
        assert_true(fabs(h[i] - silu * u[i]) <= 1e-5 * (1 + fabs(silu * u[i])));
        double e = 1e-3, fp = (gi + e) / (1 + exp(-(gi + e))), fm = (gi - e) / (1 + exp(-(gi - e)));
        double want_dg = dh[i] * u[i] * (fp - fm) / (2 * e);
        if (fabs(dg[i] - want_dg) > 1e-4 * (1 + fabs(want_dg))) fail_msg("swiglu dg[%zu]: %g vs %g", i, dg[i], want_dg);
        assert_true(fabs(du[i] - dh[i] * silu) <= 1e-5 * (1 + fabs(dh[i] * silu)));
    }
    free(g); free(u); free(dh); free(h); free(dg); free(du);
}

/* <R x, y> == <x, Rᵀ y>: backward is the exact transpose of forward. Also: rotation keeps norms. */
static void test_rope(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 4);
    const int T = 11, nh = 3, hd = 16, half = hd / 2;
    int32_t pos[11];
    for (int t = 0; t < T; t++) pos[t] = (t * 5) % 17;
    float cs[20 * 8], sn[20 * 8];
    tk_rope_params p = {500000.0, true, 8.0, 1.0, 4.0, 64};
    tk_rope_tables(cs, sn, 20, hd, &p);
    for (int i = 0; i < 20 * half; i++) assert_true(fabs(cs[i] * cs[i] + sn[i] * sn[i] - 1) < 1e-5);
    float *x = rnd(&r, (size_t)T * nh * hd, 1), *y = rnd(&r, (size_t)T * nh * hd, 1);
    float *rx = malloc((size_t)T * nh * hd * 4), *ry = malloc((size_t)T * nh * hd * 4);
    memcpy(rx, x, (size_t)T * nh * hd * 4);
    memcpy(ry, y, (size_t)T * nh * hd * 4);
    tk_rope_forward(rx, T, nh, hd, pos, cs, sn);
    tk_rope_backward(ry, T, nh, hd, pos, cs, sn);
    double a = 0, b = 0, nx = 0, nrx = 0;
    for (int i = 0; i < T * nh * hd; i++) {
        a += (double)rx[i] * y[i];
        b += (double)x[i] * ry[i];
        nx += (double)x[i] * x[i];
        nrx += (double)rx[i] * rx[i];
    }
    assert_true(fabs(a - b) < 1e-4 * (1 + fabs(a)));
    assert_true(fabs(nx - nrx) < 1e-4 * nx);
    free(x); free(y); free(rx); free(ry);
}

static void attention_case(const int32_t *lens, int n_seq, int nh, int nkv, int hd) {
    tk_rng r;
    tk_rng_seed(&r, (uint64_t)(nh * 100 + n_seq));
    int32_t starts[8] = {0}, max_len = 0;
    for (int s = 0; s < n_seq; s++) {
        starts[s + 1] = starts[s] + lens[s];
        if (lens[s] > max_len) max_len = lens[s];
    }
    size_t T = (size_t)starts[n_seq], qd = (size_t)nh * hd, kd = (size_t)nkv * hd;
    tk_attn_shape sh = {nh, nkv, hd, starts, n_seq, max_len};
    float *q = rnd(&r, T * qd, 1), *k = rnd(&r, T * kd, 1), *v = rnd(&r, T * kd, 1), *dO = rnd(&r, T * qd, 1);
    float *o1 = malloc(T * qd * 4), *o2 = malloc(T * qd * 4);
    float *scratch = malloc((size_t)tk_kernel_threads() * tk_attention_scratch_floats(max_len) * 4);
    tk_attention_forward(o1, q, k, v, &sh, scratch);
    tk_attention_forward_naive(o2, q, k, v, &sh);
    check_close("attention_forward", o1, o2, T * qd, 1e-5, 1e-6);
    float *dq1 = malloc(T * qd * 4), *dk1 = malloc(T * kd * 4), *dv1 = malloc(T * kd * 4);
    float *dq2 = malloc(T * qd * 4), *dk2 = malloc(T * kd * 4), *dv2 = malloc(T * kd * 4);
    tk_attention_backward(dq1, dk1, dv1, dO, q, k, v, o1, &sh, scratch);
    tk_attention_backward_naive(dq2, dk2, dv2, dO, q, k, v, &sh);
    check_close("attention_backward dq", dq1, dq2, T * qd, 1e-5, 1e-6);
    check_close("attention_backward dk", dk1, dk2, T * kd, 1e-5, 1e-6);
    check_close("attention_backward dv", dv1, dv2, T * kd, 1e-5, 1e-6);
    free(q); free(k); free(v); free(dO); free(o1); free(o2); free(scratch);
    free(dq1); free(dk1); free(dv1); free(dq2); free(dk2); free(dv2);
}

static void test_attention(void **state) {
    const int32_t a[] = {1, 5, 3};
    attention_case(a, 3, 4, 2, 8);
    const int32_t b[] = {70, 1, 130};   /* crosses the 64-row blocks */
    attention_case(b, 3, 6, 3, 4);
    const int32_t c[] = {65};
    attention_case(c, 1, 2, 2, 16);    /* no grouping */
    attention_case(c, 1, 8, 1, 8);     /* one kv head for all */
}


/* Decode attention: against its naive twin, and against the full causal attention's last rows
 * (the prompt/generated split of the cache must not matter). */
static void test_attention_decode(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 11);
    const int nh = 4, nkv = 2, hd = 16, qd = nh * hd, kd = nkv * hd, B = 3;
    const int32_t n0[3] = {5, 1, 70}, n1[3] = {1, 9, 3};
    tk_kv_rows kv[3];
    float *q = rnd(&r, (size_t)B * qd, 1), *bufs[3][4];
    int32_t max_len = 0;
    for (int b = 0; b < B; b++) {
        bufs[b][0] = rnd(&r, (size_t)n0[b] * kd, 1);
        bufs[b][1] = rnd(&r, (size_t)n0[b] * kd, 1);
        bufs[b][2] = rnd(&r, (size_t)n1[b] * kd, 1);
        bufs[b][3] = rnd(&r, (size_t)n1[b] * kd, 1);
        kv[b] = (tk_kv_rows){bufs[b][0], bufs[b][1], n0[b], bufs[b][2], bufs[b][3], n1[b]};
        if (n0[b] + n1[b] > max_len) max_len = n0[b] + n1[b];
    }
    float *a = malloc(sizeof(float) * B * qd), *want = malloc(sizeof(float) * B * qd);
    float *scratch = malloc(sizeof(float) * tk_attention_decode_scratch_floats(max_len) * (size_t)tk_kernel_threads());
    tk_attention_decode(a, q, kv, B, nh, nkv, hd, max_len, scratch);
    tk_attention_decode_naive(want, q, kv, B, nh, nkv, hd);
    check_close("attention_decode", a, want, (size_t)B * qd, 1e-5, 1e-6);
    /* row b as the last query of a causal sequence of n0 + n1 tokens */
    for (int b = 0; b < B; b++) {
        int n = n0[b] + n1[b];
        float *Q = calloc((size_t)n * qd, 4), *K = malloc((size_t)n * kd * 4), *Vv = malloc((size_t)n * kd * 4),
              *O = malloc((size_t)n * qd * 4);
        memcpy(Q + (size_t)(n - 1) * qd, q + (size_t)b * qd, sizeof(float) * qd);
        memcpy(K, bufs[b][0], (size_t)n0[b] * kd * 4);
        memcpy(K + (size_t)n0[b] * kd, bufs[b][2], (size_t)n1[b] * kd * 4);
        memcpy(Vv, bufs[b][1], (size_t)n0[b] * kd * 4);
        memcpy(Vv + (size_t)n0[b] * kd, bufs[b][3], (size_t)n1[b] * kd * 4);
        int32_t starts[2] = {0, n};
        tk_attn_shape sh = {nh, nkv, hd, starts, 1, n};
        tk_attention_forward_naive(O, Q, K, Vv, &sh);
        check_close("attention_decode vs causal", a + (size_t)b * qd, O + (size_t)(n - 1) * qd, qd, 1e-5, 1e-6);
        free(Q); free(K); free(Vv); free(O);
        for (int i = 0; i < 4; i++) free(bufs[b][i]);
    }
    free(q); free(a); free(want); free(scratch);
}

/* bf16-weight products (register path below 4 rows, widened tile + few-row kernel from 4), the few-row fp32
 * kernel and sgemv, against the naive product. */
static void test_matmul_bf16(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 12);
    const int shapes[][3] = {{1, 64, 40}, {1, 37, 9}, {3, 1024, 70}, {4, 96, 33}, {17, 300, 130}, {2, 7, 5}, {32, 1024, 260}};
    for (size_t s = 0; s < 7; s++) {
        int T = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *in = rnd(&r, (size_t)T * K, 1), *Wf = rnd(&r, (size_t)N * K, 0.1);
        uint16_t *W = malloc(sizeof(uint16_t) * (size_t)N * K);
        for (size_t i = 0; i < (size_t)N * K; i++) W[i] = tk_f32_to_bf16(Wf[i]);
        float *a = malloc(sizeof(float) * (size_t)T * N), *b = malloc(sizeof(float) * (size_t)T * N);
        tk_matmul_bf16(a, in, W, T, K, N);
        tk_matmul_bf16_naive(b, in, W, T, K, N);
        check_close("matmul_bf16", a, b, (size_t)T * N, 1e-5, 1e-6);
        float *f = malloc(sizeof(float) * (size_t)T * N), *g = malloc(sizeof(float) * (size_t)T * N);
        tk_matmul_few(f, in, Wf, T, K, N);
        tk_matmul_forward_naive(g, in, Wf, T, K, N, 1.0f, false);
        check_close("matmul_few", f, g, (size_t)T * N, 1e-5, 1e-6);
        free(f); free(g);
        if (T == 1) {
            float *c = malloc(sizeof(float) * N), *d = malloc(sizeof(float) * N);
            tk_matvec(c, in, Wf, K, N);
            tk_matmul_forward_naive(d, in, Wf, 1, K, N, 1.0f, false);
            check_close("matvec", c, d, (size_t)N, 1e-5, 1e-6);
            free(c); free(d);
        }
        free(in); free(Wf); free(W); free(a); free(b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul), cmocka_unit_test(test_rmsnorm), cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_rope), cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_decode), cmocka_unit_test(test_matmul_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
