/* Token choice (src/engine/sampling.c): the fast path against the literal definition (full sort)
 * over many random rows and parameter sets; the empirical distribution of draws against the
 * softmax probabilities it should follow (a check independent of our own twin); greedy ties;
 * top-k rows of logprobs against a sort. */
#include "engine_test_util.h"
#include "engine/sampling.h"

static void rand_row(tk_rng *r, float *z, int V, double scale) {
    for (int j = 0; j < V; j++) z[j] = (float)(scale * tk_rng_normal(r));
}

static void test_fast_equals_definition(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 7);
    tk_sampling_scratch sc = {0};
    const int Vs[] = {2, 5, 64, 1000, 5000};
    const double Ts[] = {0.0, 0.3, 1.0, 2.5};
    const int ks[] = {-1, 1, 3, 50, 100000};
    const double ps[] = {1.0, 0.95, 0.5, 0.01};
    size_t trials = 0;
    for (size_t vi = 0; vi < 5; vi++) {
        int V = Vs[vi];
        float *z = malloc(sizeof(float) * (size_t)V);
        assert_int_equal(tk_sampling_scratch_reserve(&sc, (size_t)V), 0);
        for (int rep = 0; rep < 3; rep++) {
            rand_row(&r, z, V, rep == 2 ? 8.0 : 2.0);
            if (rep == 1 && V > 4) z[1] = z[3] = 5.0f;   /* ties */
            for (size_t ti = 0; ti < 4; ti++)
                for (size_t ki = 0; ki < 5; ki++)
                    for (size_t pi = 0; pi < 4; pi++) {
                        tk_choice_params p = {Ts[ti], ks[ki], ps[pi]};
                        tk_rng a, b;
                        tk_rng_seed(&a, trials);
                        b = a;
                        for (int d = 0; d < 5; d++) {
                            int32_t x = tk_choose_token(z, V, &p, &a, &sc), y = tk_choose_token_naive(z, V, &p, &b);
                            if (x != y) fail_msg("V %d T %g k %d p %g draw %d: fast %d, definition %d", V, Ts[ti], ks[ki], ps[pi], d, x, y);
                            assert_memory_equal(&a, &b, sizeof a);   /* same number of draws */
                        }
                        trials++;
                    }
        }
        free(z);
    }
    assert_true(trials > 1000);
    tk_sampling_scratch_free(&sc);
}

/* 200k draws from softmax(z / T) restricted by top-k / top-p: each token's frequency within 5
 * standard deviations of its probability, computed here from the definition in double. */
static void check_histogram(const float *z, int V, tk_choice_params p, const double *want) {
    tk_rng r;
    tk_rng_seed(&r, 1234);
    tk_sampling_scratch sc = {0};
    assert_int_equal(tk_sampling_scratch_reserve(&sc, (size_t)V), 0);
    const int N = 200000;
    int *cnt = calloc((size_t)V, sizeof *cnt);
    for (int i = 0; i < N; i++) cnt[tk_choose_token(z, V, &p, &r, &sc)]++;
    for (int j = 0; j < V; j++) {
        double sd = sqrt(N * want[j] * (1 - want[j])) + 1e-9;
        if (fabs(cnt[j] - N * want[j]) > 5 * sd + 0.5)
            fail_msg("token %d: %d draws, expected %.1f (T %g k %d p %g)", j, cnt[j], N * want[j], p.temperature, p.top_k, p.top_p);
    }
    free(cnt);
    tk_sampling_scratch_free(&sc);
}

static void test_distribution(void **state) {
    const int V = 8;
    const float z[8] = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, 1.5f, -3.0f, 0.25f};
    double pr[8], s = 0;
    /* plain temperature 0.8 */
    for (int j = 0; j < V; j++) s += pr[j] = exp(z[j] / 0.8);
    for (int j = 0; j < V; j++) pr[j] /= s;
    check_histogram(z, V, (tk_choice_params){0.8, -1, 1.0}, pr);
    /* top-k 3 at T 1: tokens 0, 5, 1 */
    double q[8] = {0};
    s = exp(2.0) + exp(1.5) + exp(1.0);
    q[0] = exp(2.0) / s;
    q[5] = exp(1.5) / s;
    q[1] = exp(1.0) / s;
    check_histogram(z, V, (tk_choice_params){1.0, 3, 1.0}, q);
    /* top-p at T 1: softmax masses are 0.390 (token 0), 0.237 (5), 0.143 (1), ...: p 0.7 keeps
     * {0, 5, 1} (0.627 < 0.7 <= 0.770), p 0.5 keeps {0, 5} */
    check_histogram(z, V, (tk_choice_params){1.0, -1, 0.7}, q);
    double q2[8] = {0};
    q2[0] = exp(2.0) / (exp(2.0) + exp(1.5));
    q2[5] = 1 - q2[0];
    check_histogram(z, V, (tk_choice_params){1.0, -1, 0.5}, q2);
}

static void test_greedy(void **state) {
    const float z[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, 3.0f};
    tk_sampling_scratch sc = {0};
    assert_int_equal(tk_sampling_scratch_reserve(&sc, 6), 0);
    tk_rng r, before;
    tk_rng_seed(&r, 5);
    before = r;
    for (double T = 0; T < 1e-5; T += 4e-6) {
        tk_choice_params p = {T, -1, 1.0};
        assert_int_equal(tk_choose_token(z, 6, &p, &r, &sc), 1);   /* lowest id among the ties */
    }
    assert_memory_equal(&r, &before, sizeof r);                     /* greedy draws nothing */
    tk_choice_params p1 = {1.0, 1, 1.0};                            /* top-k 1 is greedy too */
    assert_int_equal(tk_choose_token(z, 6, &p1, &r, &sc), 1);
    tk_sampling_scratch_free(&sc);
}

static void test_topk_row(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 3);
    const int V = 300;
    float z[300];
    rand_row(&r, z, V, 3.0);
    z[10] = z[20] = z[30] = 9.0f;   /* a three-way tie at the top */
    float lse = tk_row_lse(z, V);
    double s = 0;
    for (int j = 0; j < V; j++) s += exp((double)z[j]);
    assert_true(fabs(lse - log(s)) < 1e-5);
    int32_t ids[20];
    float lps[20];
    tk_row_topk(z, V, lse, 20, ids, lps);
    assert_int_equal(ids[0], 10);
    assert_int_equal(ids[1], 20);
    assert_int_equal(ids[2], 30);
    /* against a full selection: the i-th best is the largest not yet taken (lowest id on ties) */
    uint8_t taken[300] = {0};
    for (int i = 0; i < 20; i++) {
        int best = -1;
        for (int j = 0; j < V; j++)
            if (!taken[j] && (best < 0 || z[j] > z[best])) best = j;
        taken[best] = 1;
        assert_int_equal(ids[i], best);
        assert_true(lps[i] == z[best] - lse);
    }
    /* k beyond the vocabulary: sentinels */
    int32_t ids2[5];
    float lps2[5];
    tk_row_topk(z, 3, tk_row_lse(z, 3), 5, ids2, lps2);
    assert_int_equal(ids2[3], TK_ENGINE_TOPK_EMPTY_ID);
    assert_true(lps2[4] == TK_ENGINE_TOPK_EMPTY_LOGPROB);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_equals_definition), cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_greedy), cmocka_unit_test(test_topk_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
