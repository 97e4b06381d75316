/* Parity with the PyTorch twin (scripts/engine_reference.py, fixtures in tests/data/engine/):
 * logits with and without LoRA, per-token logprobs, loss sums and every LoRA gradient for the five
 * losses, gradient accumulation across calls, and a 10-step AdamW trajectory with weight decay,
 * clipping and a changing learning rate.
 *
 * Tolerances (normalised max error, max|ours - torch| / max|torch|): logits, logprobs and losses
 * 1e-4; gradients 1e-3; trajectory losses and final weights 1e-3. Both sides compute in fp32; the
 * differences come from summation order (BLAS blocking, fused softmax). */
#include "engine_test_util.h"

typedef struct fixture {
    const char *name;
    tk_engine_model *m;
    tk_engine_adapter *a;
    tk_st_file exp;
    /* the batch */
    int n_data;
    int32_t *tok[3], *tgt[3];
    float *w[3], *adv[3], *lq[3];
    size_t len[3];
    tk_engine_array in[3][4];
    tk_engine_datum d[3];
    size_t T;
} fixture;

static const double ADAM_LRS_BASE = 1e-2;

static void fixture_load(fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    f->name = name;
    tk_err e = {0};
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "tests/data/engine/%s", name);
    assert_ok(tk_engine_model_load(dir, &f->m, &e), &e);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    assert_ok(tk_st_open(path, &f->exp, &e), &e);
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 4;
    assert_ok(tk_engine_adapter_new(f->m, &lc, &f->a, &e), &e);
    f->n_data = 3;
    for (int i = 0; i < 3; i++) {
        char nm[64];
        size_t n = 0;
        snprintf(nm, sizeof nm, "batch.tokens.%d", i);
        float *t = fx_get(&f->exp, nm, &n);
        assert_non_null(t);
        f->len[i] = n;
        f->T += n;
        f->tok[i] = malloc(n * sizeof(int32_t));
        for (size_t k = 0; k < n; k++) f->tok[i][k] = (int32_t)t[k];
        free(t);
        snprintf(nm, sizeof nm, "batch.targets.%d", i);
        t = fx_get(&f->exp, nm, NULL);
        f->tgt[i] = malloc(n * sizeof(int32_t));
        for (size_t k = 0; k < n; k++) f->tgt[i][k] = (int32_t)t[k];
        free(t);
        snprintf(nm, sizeof nm, "batch.weights.%d", i);
        f->w[i] = fx_get(&f->exp, nm, NULL);
        snprintf(nm, sizeof nm, "batch.advantages.%d", i);
        f->adv[i] = fx_get(&f->exp, nm, NULL);
        snprintf(nm, sizeof nm, "batch.logprobs.%d", i);
        f->lq[i] = fx_get(&f->exp, nm, NULL);
        assert_true(f->w[i] && f->adv[i] && f->lq[i]);
    }
}

static void fixture_free(fixture *f) {
    for (int i = 0; i < 3; i++) {
        free(f->tok[i]);
        free(f->tgt[i]);
        free(f->w[i]);
        free(f->adv[i]);
        free(f->lq[i]);
    }
    tk_engine_adapter_free(f->a);
    tk_engine_model_free(f->m);
    tk_st_close(&f->exp);
}

/* Datums for a loss: CE gets target_tokens + weights, RL losses target_tokens + logprobs +
 * advantages. Datum inputs alternate int32 / int64 token dtypes to exercise both. */
static int64_t *g_tok64[3], *g_tgt64[3];
static void build_request(fixture *f, const char *loss, tk_engine_request *req, int first, int count) {
    for (int i = 0; i < 3; i++) {
        size_t n = f->len[i];
        bool wide = i == 1;
        if (wide && !g_tok64[i]) {
            g_tok64[i] = malloc(n * 8);
            g_tgt64[i] = malloc(n * 8);
        }
        if (wide)
            for (size_t k = 0; k < n; k++) {
                g_tok64[i][k] = f->tok[i][k];
                g_tgt64[i][k] = f->tgt[i][k];
            }
        tk_engine_array *in = f->in[i];
        in[0] = (tk_engine_array){"target_tokens", wide ? TK_ENGINE_I64 : TK_ENGINE_I32,
                                  wide ? (const void *)g_tgt64[i] : f->tgt[i], n};
        size_t ni = 1;
        if (!strcmp(loss, "cross_entropy")) {
            in[ni++] = (tk_engine_array){"weights", TK_ENGINE_F32, f->w[i], n};
        } else {
            in[ni++] = (tk_engine_array){"logprobs", TK_ENGINE_F32, f->lq[i], n};
            in[ni++] = (tk_engine_array){"advantages", TK_ENGINE_F32, f->adv[i], n};
        }
        f->d[i] = (tk_engine_datum){wide ? TK_ENGINE_I64 : TK_ENGINE_I32, wide ? (const void *)g_tok64[i] : f->tok[i],
                                    n, in, ni};
    }
    static tk_engine_kv ppo_cfg[] = {{"clip_low_threshold", 0.9}, {"clip_high_threshold", 1.1}};
    static tk_engine_kv dro_cfg[] = {{"beta", 0.1}};
    memset(req, 0, sizeof *req);
    req->loss_fn = loss;
    req->data = f->d + first;
    req->n_data = (size_t)count;
    if (!strcmp(loss, "ppo")) { req->config = ppo_cfg; req->n_config = 2; }
    if (!strcmp(loss, "dro")) { req->config = dro_cfg; req->n_config = 1; }
}

static void free_wide(void) {
    for (int i = 0; i < 3; i++) {
        free(g_tok64[i]);
        free(g_tgt64[i]);
        g_tok64[i] = NULL;
        g_tgt64[i] = NULL;
    }
}

/* Load the adapter's weights from "<prefix><tensor name>" and clear its state. */
static void set_lora(fixture *f, const char *prefix) {
    tk_err e = {0};
    for (size_t i = 0; i < tk_engine_adapter_num_tensors(f->a); i++) {
        tk_engine_tensor t;
        assert_ok(tk_engine_adapter_tensor(f->a, i, &t, &e), &e);
        char nm[200];
        snprintf(nm, sizeof nm, "%s%s", prefix, t.name);
        size_t n = 0;
        float *v = fx_get(&f->exp, nm, &n);
        if (!v) fail_msg("fixture lacks %s", nm);
        assert_int_equal(n, (size_t)t.rows * t.cols);
        memcpy(t.param, v, n * sizeof(float));
        memset(t.m, 0, n * sizeof(float));
        memset(t.v, 0, n * sizeof(float));
        free(v);
    }
    tk_engine_adapter_zero_grad(f->a);
    tk_engine_adapter_set_step(f->a, 0);
}

static void compare_grads(fixture *f, const char *prefix, double tol) {
    for (size_t i = 0; i < tk_engine_adapter_num_tensors(f->a); i++) {
        tk_engine_tensor t;
        tk_err e = {0};
        assert_ok(tk_engine_adapter_tensor(f->a, i, &t, &e), &e);
        char nm[200], what[260];
        snprintf(nm, sizeof nm, "%s%s", prefix, t.name);
        float *want = fx_get(&f->exp, nm, NULL);
        if (!want) fail_msg("fixture lacks %s", nm);
        snprintf(what, sizeof what, "%s %s", f->name, nm);
        check_close(what, t.grad, want, (size_t)t.rows * t.cols, tol, 1e-6);
        free(want);
    }
}

static void compare_params(fixture *f, const char *prefix, double tol) {
    for (size_t i = 0; i < tk_engine_adapter_num_tensors(f->a); i++) {
        tk_engine_tensor t;
        tk_err e = {0};
        assert_ok(tk_engine_adapter_tensor(f->a, i, &t, &e), &e);
        char nm[200], what[260];
        snprintf(nm, sizeof nm, "%s%s", prefix, t.name);
        float *want = fx_get(&f->exp, nm, NULL);
        if (!want) fail_msg("fixture lacks %s", nm);
        snprintf(what, sizeof what, "%s %s", f->name, nm);
        check_close(what, t.param, want, (size_t)t.rows * t.cols, tol, 1e-6);
        free(want);
    }
}

static void check_logits(fixture *f) {
    tk_err e = {0};
    int V = tk_engine_model_config(f->m)->vocab_size;
    set_lora(f, "lora_init.");
    for (int i = 0; i < 3; i++) {
        float *got = malloc(f->len[i] * (size_t)V * sizeof(float));
        char nm[64], what[96];
        for (int with = 0; with < 2; with++) {
            assert_ok(tk_engine_logits(f->m, with ? f->a : NULL, f->tok[i], f->len[i], got, &e), &e);
            snprintf(nm, sizeof nm, "%s.%d", with ? "logits_lora" : "logits_base", i);
            float *want = fx_get(&f->exp, nm, NULL);
            assert_non_null(want);
            snprintf(what, sizeof what, "%s %s", f->name, nm);
            check_close(what, got, want, f->len[i] * (size_t)V, 1e-4, 1e-6);
            free(want);
        }
        free(got);
    }
}

static const char *const LOSSES[] = {"cross_entropy", "importance_sampling", "ppo", "cispo", "dro"};

static void check_losses(fixture *f) {
    tk_err e = {0};
    float *lp = malloc(f->T * sizeof(float)), *lp2 = malloc(f->T * sizeof(float));
    for (size_t li = 0; li < 5; li++) {
        const char *loss = LOSSES[li];
        set_lora(f, "lora_init.");
        tk_engine_request req;
        build_request(f, loss, &req, 0, 3);
        assert_int_equal(tk_engine_request_tokens(&req), f->T);
        /* forward: logprobs and loss, nothing accumulated */
        tk_engine_output out = {lp2, NULL, 0};
        assert_ok(tk_engine_forward(f->m, f->a, &req, &out, &e), &e);
        assert_int_equal(tk_engine_adapter_pending_tokens(f->a), 0);
        double fwd_loss = out.loss_sum;
        out = (tk_engine_output){lp, NULL, 0};
        assert_ok(tk_engine_forward_backward(f->a, &req, &out, &e), &e);
        assert_int_equal(tk_engine_adapter_pending_tokens(f->a), (int64_t)f->T);
        char nm[128], what[200];
        snprintf(nm, sizeof nm, "%s.loss", loss);
        float *want_loss = fx_get(&f->exp, nm, NULL);
        float got_loss = (float)out.loss_sum;
        snprintf(what, sizeof what, "%s %s", f->name, nm);
        check_close(what, &got_loss, want_loss, 1, 1e-4, 1e-6);
        assert_true(fabs(fwd_loss - out.loss_sum) <= 1e-9 * fabs(out.loss_sum) + 1e-12);
        free(want_loss);
        size_t off = 0;
        for (int i = 0; i < 3; i++) {
            snprintf(nm, sizeof nm, "%s.logprobs.%d", loss, i);
            float *want = fx_get(&f->exp, nm, NULL);
            snprintf(what, sizeof what, "%s %s", f->name, nm);
            check_close(what, lp + off, want, f->len[i], 1e-4, 1.0);
            check_close("forward vs forward_backward logprobs", lp2 + off, lp + off, f->len[i], 1e-7, 1.0);
            free(want);
            off += f->len[i];
        }
        snprintf(nm, sizeof nm, "%s.grad.", loss);
        compare_grads(f, nm, 1e-3);
    }
    free(lp);
    free(lp2);
}

/* Two calls (datum 0, then datums 1..2) accumulate the same gradient as one call over all three. */
static void check_accumulation(fixture *f) {
    tk_err e = {0};
    float *lp = malloc(f->T * sizeof(float));
    set_lora(f, "lora_init.");
    tk_engine_request req;
    build_request(f, "cross_entropy", &req, 0, 1);
    tk_engine_output out = {lp, NULL, 0};
    assert_ok(tk_engine_forward_backward(f->a, &req, &out, &e), &e);
    double l0 = out.loss_sum;
    build_request(f, "cross_entropy", &req, 1, 2);
    assert_ok(tk_engine_forward_backward(f->a, &req, &out, &e), &e);
    float total = (float)(l0 + out.loss_sum);
    float *want = fx_get(&f->exp, "cross_entropy.loss", NULL);
    check_close("accumulated loss", &total, want, 1, 1e-4, 1e-6);
    free(want);
    compare_grads(f, "cross_entropy.grad.", 1e-3);
    free(lp);
}

static void check_adam(fixture *f) {
    tk_err e = {0};
    float *lp = malloc(f->T * sizeof(float));
    set_lora(f, "lora_init.");
    float *want_loss = fx_get(&f->exp, "adam.loss", NULL), *want_norm = fx_get(&f->exp, "adam.grad_norm", NULL);
    float got_loss[10], got_norm[10];
    for (int k = 0; k < 10; k++) {
        tk_engine_request req;
        build_request(f, "cross_entropy", &req, 0, 3);
        tk_engine_output out = {lp, NULL, 0};
        assert_ok(tk_engine_forward_backward(f->a, &req, &out, &e), &e);
        got_loss[k] = (float)out.loss_sum;
        tk_engine_adam p;
        tk_engine_adam_default(&p);
        p.learning_rate = ADAM_LRS_BASE * (1.0 - 0.05 * k);
        p.weight_decay = 0.1;
        p.grad_clip_norm = 1.0;
        tk_engine_optim_stats st;
        assert_ok(tk_engine_optim_step(f->a, &p, &st, &e), &e);
        got_norm[k] = (float)st.grad_norm;
        assert_int_equal(st.step, k + 1);
        assert_true(st.clipped);
        assert_int_equal(tk_engine_adapter_pending_tokens(f->a), 0);
    }
    char what[64];
    snprintf(what, sizeof what, "%s adam.loss", f->name);
    check_close(what, got_loss, want_loss, 10, 1e-3, 1e-6);
    snprintf(what, sizeof what, "%s adam.grad_norm", f->name);
    check_close(what, got_norm, want_norm, 10, 1e-3, 1e-6);
    compare_params(f, "adam.final.", 1e-3);
    /* the accumulator was zeroed by the last step */
    tk_engine_tensor t;
    assert_ok(tk_engine_adapter_tensor(f->a, 0, &t, &e), &e);
    for (int i = 0; i < t.rows * t.cols; i++) assert_true(t.grad[i] == 0.0f);
    free(want_loss);
    free(want_norm);
    free(lp);
}

static void run_model(const char *name) {
    fixture f;
    fixture_load(&f, name);
    check_logits(&f);
    check_losses(&f);
    check_accumulation(&f);
    check_adam(&f);
    fixture_free(&f);
    free_wide();
}

static void test_llama3(void **state) { run_model("llama3"); }
static void test_qwen3(void **state) { run_model("qwen3"); }

/* Point 8: the same gradient with 1 and 2 threads (within tolerance), and bit-identical results
 * for a fixed thread count. */
static void test_threads(void **state) {
    fixture f;
    fixture_load(&f, "qwen3");
    tk_err e = {0};
    size_t n = tk_engine_adapter_num_params(f.a);
    float *g[3];
    float *lp = malloc(f.T * sizeof(float));
    const int threads[3] = {1, 2, 2};
    for (int run = 0; run < 3; run++) {
        tk_engine_set_num_threads(threads[run]);
        set_lora(&f, "lora_init.");
        tk_engine_request req;
        build_request(&f, "ppo", &req, 0, 3);
        tk_engine_output out = {lp, NULL, 0};
        assert_ok(tk_engine_forward_backward(f.a, &req, &out, &e), &e);
        g[run] = malloc(n * sizeof(float));
        memcpy(g[run], f.a->grads, n * sizeof(float));
    }
    tk_engine_set_num_threads(0);
    check_close("1 vs 2 threads", g[0], g[1], n, 1e-5, 1e-6);
    assert_memory_equal(g[1], g[2], n * sizeof(float));
    for (int i = 0; i < 3; i++) free(g[i]);
    free(lp);
    fixture_free(&f);
    free_wide();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
