/* Request validation: token ids out of range, loss inputs of the wrong length, dtype or name,
 * unknown losses and loss_fn_config keys, bad LoRA and AdamW parameters. Each is a clear error
 * naming the datum and field, and a failed forward_backward accumulates nothing. Also: optim_step
 * semantics that the fixtures do not pin down (zero-gradient step, per-adapter step counts). */
#include "engine_test_util.h"

static tk_engine_model *g_m;
static tk_engine_adapter *g_a;

static int setup(void **state) {
    tk_engine_config c;
    tk_engine_config_default(&c, TK_ENGINE_ARCH_LLAMA);
    c.vocab_size = 40;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_layers = 1;
    c.num_heads = 2;
    c.num_kv_heads = 1;
    c.head_dim = 8;
    c.max_position_embeddings = 32;
    tk_err e = {0};
    if (tk_engine_model_random(&c, 3, &g_m, &e)) return -1;
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 2;
    return tk_engine_adapter_new(g_m, &lc, &g_a, &e);
}

static int teardown(void **state) {
    tk_engine_adapter_free(g_a);
    tk_engine_model_free(g_m);
    return 0;
}

static int32_t TOK[4] = {1, 2, 3, 4};
static int64_t TGT[4] = {2, 3, 4, 5};
static float W[4] = {1, 1, 1, 1};

static void expect_fb_error(const tk_engine_request *req, int code, const char *needle) {
    float lp[64];
    tk_engine_output out = {lp, NULL, 0};
    tk_err e = {0};
    assert_err(tk_engine_forward_backward(g_a, req, &out, &e), code, &e, needle);
    assert_int_equal(tk_engine_adapter_pending_tokens(g_a), 0);
    for (size_t i = 0; i < tk_engine_adapter_num_params(g_a); i++) assert_true(g_a->grads[i] == 0.0f);
    tk_err e2 = {0};
    assert_err(tk_engine_forward(g_m, g_a, req, &out, &e2), code, &e2, needle);
}

static void test_tokens(void **state) {
    int32_t bad[4] = {1, 2, 40, 4};
    tk_engine_array in[2] = {{"target_tokens", TK_ENGINE_I64, TGT, 4}, {"weights", TK_ENGINE_F32, W, 4}};
    tk_engine_datum d[2] = {{TK_ENGINE_I32, TOK, 4, in, 2}, {TK_ENGINE_I32, bad, 4, in, 2}};
    tk_engine_request req = {"cross_entropy", NULL, 0, d, 2};
    expect_fb_error(&req, TK_ERANGE, "data[1].model_input.tokens[2]: id 40 is out of range [0, 40)");
    bad[2] = -1;
    expect_fb_error(&req, TK_ERANGE, "data[1].model_input.tokens[2]: id -1");
    int64_t badt[4] = {2, 3, 4, 1000};
    tk_engine_array in2[2] = {{"target_tokens", TK_ENGINE_I64, badt, 4}, {"weights", TK_ENGINE_F32, W, 4}};
    d[1] = (tk_engine_datum){TK_ENGINE_I32, TOK, 4, in2, 2};
    expect_fb_error(&req, TK_ERANGE, "data[1].loss_fn_inputs.target_tokens[3]: id 1000");
    d[1] = (tk_engine_datum){TK_ENGINE_F32, TOK, 4, in, 2};
    expect_fb_error(&req, TK_EINVAL, "data[1].model_input: tokens must be int32 or int64, got float32");
    d[1] = (tk_engine_datum){TK_ENGINE_I32, TOK, 0, in, 2};
    expect_fb_error(&req, TK_EINVAL, "data[1].model_input: empty");
    int32_t longer[33] = {0};
    float w33[33] = {0};
    int32_t t33[33] = {0};
    tk_engine_array in3[2] = {{"target_tokens", TK_ENGINE_I32, t33, 33}, {"weights", TK_ENGINE_F32, w33, 33}};
    d[1] = (tk_engine_datum){TK_ENGINE_I32, longer, 33, in3, 2};
    expect_fb_error(&req, TK_EINVAL, "exceed max_position_embeddings (32)");
    req.n_data = 0;
    expect_fb_error(&req, TK_EINVAL, "data: no datums");
}

static void test_inputs(void **state) {
    float short_w[3] = {1, 1, 1};
    int32_t tgt32[4] = {2, 3, 4, 5};
    tk_engine_array in[3];
    tk_engine_datum d = {TK_ENGINE_I32, TOK, 4, in, 2};
    tk_engine_request req = {"cross_entropy", NULL, 0, &d, 1};
    in[0] = (tk_engine_array){"target_tokens", TK_ENGINE_I32, tgt32, 4};
    in[1] = (tk_engine_array){"weights", TK_ENGINE_F32, short_w, 3};
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.weights: length 3 does not match model_input length 4");
    in[1] = (tk_engine_array){"weights", TK_ENGINE_I64, TGT, 4};
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.weights: dtype int64, expected float32");
    in[1] = (tk_engine_array){"weights", TK_ENGINE_F32, W, 4};
    in[0] = (tk_engine_array){"target_tokens", TK_ENGINE_F32, W, 4};
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.target_tokens: dtype float32, expected int64");
    in[0] = (tk_engine_array){"target_tokens", TK_ENGINE_I32, tgt32, 4};
    d.n_inputs = 1;
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.weights: required by loss \"cross_entropy\" but missing");
    d.n_inputs = 3;
    in[2] = (tk_engine_array){"mask", TK_ENGINE_F32, W, 4};
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.mask: not an input of loss \"cross_entropy\"");
    in[2] = (tk_engine_array){"weights", TK_ENGINE_F32, W, 4};
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.weights: given twice");
    d.n_inputs = 2;
    float nanw[4] = {1, NAN, 1, 1};
    in[1] = (tk_engine_array){"weights", TK_ENGINE_F32, nanw, 4};
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.weights[1]: not a finite number");
    /* RL losses need logprobs and advantages */
    in[1] = (tk_engine_array){"weights", TK_ENGINE_F32, W, 4};
    req.loss_fn = "ppo";
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.weights: not an input of loss \"ppo\"");
    in[1] = (tk_engine_array){"logprobs", TK_ENGINE_F32, W, 4};
    expect_fb_error(&req, TK_EINVAL, "data[0].loss_fn_inputs.advantages: required by loss \"ppo\"");
}

static void test_loss_config(void **state) {
    int32_t tgt32[4] = {2, 3, 4, 5};
    float lq[4] = {-1, -1, -1, -1};
    tk_engine_array in[3] = {{"target_tokens", TK_ENGINE_I32, tgt32, 4}, {"logprobs", TK_ENGINE_F32, lq, 4},
                             {"advantages", TK_ENGINE_F32, W, 4}};
    tk_engine_datum d = {TK_ENGINE_I32, TOK, 4, in, 3};
    tk_engine_kv cfg[2] = {{"clip_low", 0.5}, {"clip_high_threshold", 2}};
    tk_engine_request req = {"ppo", cfg, 2, &d, 1};
    expect_fb_error(&req, TK_EINVAL, "loss_fn_config.clip_low: unknown key for loss \"ppo\" (allowed: clip_low_threshold, clip_high_threshold)");
    cfg[0] = (tk_engine_kv){"clip_low_threshold", 3};
    expect_fb_error(&req, TK_EINVAL, "clip_low_threshold (3) <= clip_high_threshold (2)");
    cfg[0] = (tk_engine_kv){"beta", 0.1};
    req.loss_fn = "dro";
    req.n_config = 1;
    cfg[0] = (tk_engine_kv){"beta", NAN};
    expect_fb_error(&req, TK_EINVAL, "loss_fn_config.beta: must be a finite number");
    req.loss_fn = "importance_sampling";
    cfg[0] = (tk_engine_kv){"beta", 0.1};
    expect_fb_error(&req, TK_EINVAL, "loss_fn_config.beta: unknown key for loss \"importance_sampling\" (allowed: none)");
    req.loss_fn = "grpo";
    expect_fb_error(&req, TK_EINVAL, "loss_fn: unknown loss \"grpo\"");
    /* and the valid request works, accumulating into the adapter */
    req.loss_fn = "dro";
    float lp[4], el[4];
    tk_engine_output out = {lp, el, 0};
    tk_err e = {0};
    assert_ok(tk_engine_forward_backward(g_a, &req, &out, &e), &e);
    double s = 0;
    for (int i = 0; i < 4; i++) {
        s += el[i];
        /* dro with A = 1, beta 0.1: L = -(lp - 0.05 (lp - lq)^2) */
        double want = -(lp[i] - 0.05 * (lp[i] - lq[i]) * (lp[i] - lq[i]));
        assert_true(fabs(el[i] - want) < 1e-5 * (1 + fabs(want)));
    }
    assert_true(fabs(s - out.loss_sum) < 1e-5);
    assert_int_equal(tk_engine_adapter_pending_tokens(g_a), 4);
    tk_engine_adapter_zero_grad(g_a);
}

static void test_adapters_and_adam(void **state) {
    tk_err e = {0};
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    assert_int_equal(lc.rank, 32);
    assert_true(lc.alpha == 32.0);
    lc.rank = 0;
    tk_engine_adapter *a = NULL;
    assert_err(tk_engine_adapter_new(g_m, &lc, &a, &e), TK_EINVAL, &e, "lora_config.rank: 0");
    lc.rank = 4;
    lc.alpha = 0;   /* default */
    lc.train_attn = false;
    assert_ok(tk_engine_adapter_new(g_m, &lc, &a, &e), &e);
    assert_true(tk_engine_adapter_config(a)->alpha == 32.0);
    assert_true(a->scale == 8.0f);
    /* mlp (3 modules) + lm_head: 8 tensors, B zero, A within ±1/sqrt(in) */
    assert_int_equal(tk_engine_adapter_num_tensors(a), 8);
    tk_engine_tensor t;
    assert_ok(tk_engine_adapter_tensor(a, 0, &t, &e), &e);
    assert_string_equal(t.name, "model.layers.0.mlp.gate_proj.lora_A.weight");
    assert_int_equal(t.rows, 4);
    assert_int_equal(t.cols, 16);
    for (int i = 0; i < 64; i++) assert_true(fabsf(t.param[i]) <= 0.25f);
    assert_ok(tk_engine_adapter_tensor(a, 7, &t, &e), &e);
    assert_string_equal(t.name, "lm_head.lora_B.weight");
    for (int i = 0; i < t.rows * t.cols; i++) assert_true(t.param[i] == 0.0f);
    assert_err(tk_engine_adapter_tensor(a, 8, &t, &e), TK_ERANGE, &e, "index 8");
    /* the same seed gives the same A */
    tk_engine_adapter *b;
    assert_ok(tk_engine_adapter_new(g_m, &lc, &b, &e), &e);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    /* bad hyperparameters */
    tk_engine_adam p;
    tk_engine_adam_default(&p);
    p.beta1 = 1.0;
    assert_err(tk_engine_optim_step(a, &p, NULL, &e), TK_EINVAL, &e, "adam_params.beta1");
    tk_engine_adam_default(&p);
    p.learning_rate = -1;
    assert_err(tk_engine_optim_step(a, &p, NULL, &e), TK_EINVAL, &e, "adam_params.learning_rate");
    assert_int_equal(tk_engine_adapter_step(a), 0);
    /* a zero-gradient step still decays the weights; the step count is per adapter */
    tk_engine_adam_default(&p);
    p.learning_rate = 0.1;
    p.weight_decay = 0.5;
    float before = a->params[0];
    tk_engine_optim_stats st;
    assert_ok(tk_engine_optim_step(a, &p, &st, &e), &e);
    assert_true(st.grad_norm == 0.0);
    assert_int_equal(st.step, 1);
    assert_true(fabsf(a->params[0] - before * 0.95f) < 1e-7f);
    assert_int_equal(tk_engine_adapter_step(b), 0);
    tk_engine_adapter_free(a);
    tk_engine_adapter_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens), cmocka_unit_test(test_inputs), cmocka_unit_test(test_loss_config),
        cmocka_unit_test(test_adapters_and_adam),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
