/* Finite-difference gradient checks on micro models (independent of the PyTorch fixtures): for
 * every loss, both architectures and each train_* subset, the accumulated LoRA gradient matches
 * central differences of the forward loss_sum on sampled coordinates of every tensor. The subsets
 * exercise the backward's short cuts (no attention LoRA in layer 0, unembedding only). */
#include "engine_test_util.h"

typedef struct micro {
    tk_engine_model *m;
    int32_t tok[2][9], tgt[2][9];
    float w[2][9], adv[2][9], lq[2][9];
    size_t len[2];
    tk_engine_array in[2][3];
    tk_engine_datum d[2];
} micro;

static void micro_model(micro *mc, tk_engine_arch arch) {
    tk_engine_config c;
    tk_engine_config_default(&c, arch);
    c.vocab_size = 23;
    c.hidden_size = 12;
    c.intermediate_size = 20;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = arch == TK_ENGINE_ARCH_QWEN3 ? 6 : 4;
    c.tie_word_embeddings = arch == TK_ENGINE_ARCH_QWEN3;
    if (arch == TK_ENGINE_ARCH_LLAMA) {
        c.rope_llama3 = true;
        c.rope_factor = 8;
        c.rope_low_freq_factor = 1;
        c.rope_high_freq_factor = 4;
        c.rope_original_max_position = 16;
    }
    tk_err e = {0};
    assert_ok(tk_engine_model_random(&c, 99, &mc->m, &e), &e);
    /* larger weights than the 0.02 init, so the gradients are well above rounding noise */
    /* and norm weights that are not all ones, so that mixing them up would show */
    tk_rng r;
    tk_rng_seed(&r, 7);
    for (size_t i = 0; i < mc->m->n_entries; i++) {
        tk_weight_entry *we = &mc->m->entries[i];
        for (size_t k = 0; k < we->numel; k++)
            (*we->slot)[k] = we->ndim == 2 ? (*we->slot)[k] * 3.0f : (float)(1.0 + 0.3 * tk_rng_normal(&r));
    }
    mc->len[0] = 9;
    mc->len[1] = 6;
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < mc->len[s]; i++) {
            mc->tok[s][i] = (int32_t)tk_rng_below(&r, 23);
            mc->tgt[s][i] = (int32_t)tk_rng_below(&r, 23);
            mc->w[s][i] = (float)tk_rng_f64(&r);
            mc->adv[s][i] = (float)tk_rng_normal(&r);
        }
}

static void request(micro *mc, const char *loss, tk_engine_request *req, const tk_engine_kv *cfg, size_t ncfg) {
    for (int s = 0; s < 2; s++) {
        size_t n = mc->len[s];
        mc->in[s][0] = (tk_engine_array){"target_tokens", TK_ENGINE_I32, mc->tgt[s], n};
        if (!strcmp(loss, "cross_entropy")) {
            mc->in[s][1] = (tk_engine_array){"weights", TK_ENGINE_F32, mc->w[s], n};
            mc->d[s] = (tk_engine_datum){TK_ENGINE_I32, mc->tok[s], n, mc->in[s], 2};
        } else {
            mc->in[s][1] = (tk_engine_array){"logprobs", TK_ENGINE_F32, mc->lq[s], n};
            mc->in[s][2] = (tk_engine_array){"advantages", TK_ENGINE_F32, mc->adv[s], n};
            mc->d[s] = (tk_engine_datum){TK_ENGINE_I32, mc->tok[s], n, mc->in[s], 3};
        }
    }
    *req = (tk_engine_request){loss, cfg, ncfg, mc->d, 2};
}

static double loss_of(micro *mc, tk_engine_adapter *a, const tk_engine_request *req) {
    float lp[15];
    tk_engine_output out = {lp, NULL, 0};
    tk_err e = {0};
    assert_ok(tk_engine_forward(mc->m, a, req, &out, &e), &e);
    return out.loss_sum;
}

/* Central difference with Richardson extrapolation, (4·D(h/2) − D(h)) / 3: O(h⁴) truncation, so
 * h can stay large enough for fp32 rounding noise to be small. */
static double richardson(micro *mc, tk_engine_adapter *a, const tk_engine_request *req, float *p) {
    const float keep = *p;
    double d[2];
    for (int k = 0; k < 2; k++) {
        double h = k ? 1e-3 : 2e-3;
        *p = keep + (float)h;
        double lp = loss_of(mc, a, req);
        *p = keep - (float)h;
        double lm = loss_of(mc, a, req);
        *p = keep;
        d[k] = (lp - lm) / (2 * h);
    }
    return (4 * d[1] - d[0]) / 3;
}

static void gradcheck(tk_engine_arch arch, bool attn, bool mlp, bool unembed) {
    micro mc;
    memset(&mc, 0, sizeof mc);
    micro_model(&mc, arch);
    tk_err e = {0};
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 2;
    lc.alpha = 4;
    lc.seed = 5;
    lc.train_attn = attn;
    lc.train_mlp = mlp;
    lc.train_unembed = unembed;
    tk_engine_adapter *a;
    assert_ok(tk_engine_adapter_new(mc.m, &lc, &a, &e), &e);
    tk_rng r;
    tk_rng_seed(&r, 11);
    for (size_t i = 0; i < a->n_params; i++) a->params[i] = (float)(0.1 * tk_rng_normal(&r));
    /* sampler logprobs: the learner's shifted by -0.5, 0 or +0.5 so that PPO/CISPO ratios sit
     * well inside or outside the clip range (finite differences must not straddle a kink) */
    {
        tk_engine_request req;
        request(&mc, "cross_entropy", &req, NULL, 0);
        float lp[15];
        tk_engine_output out = {lp, NULL, 0};
        assert_ok(tk_engine_forward(mc.m, a, &req, &out, &e), &e);
        size_t k = 0;
        for (int s = 0; s < 2; s++)
            for (size_t i = 0; i < mc.len[s]; i++, k++) mc.lq[s][i] = lp[k] + 0.5f * (float)((int)(k % 3) - 1);
    }
    static const char *const losses[] = {"cross_entropy", "importance_sampling", "ppo", "cispo", "dro"};
    const tk_engine_kv dro_cfg[] = {{"beta", 0.3}};
    for (int li = 0; li < 5; li++) {
        tk_engine_request req;
        bool dro = li == 4;
        request(&mc, losses[li], &req, dro ? dro_cfg : NULL, dro ? 1 : 0);
        tk_engine_adapter_zero_grad(a);
        float lp[15];
        tk_engine_output out = {lp, NULL, 0};
        assert_ok(tk_engine_forward_backward(a, &req, &out, &e), &e);
        /* CISPO's gradient is by definition not the derivative of its loss value (the clipped
         * ratio is a stop-gradient), so its finite differences are taken of the cross-entropy
         * with weights sg(clip(r))·A, whose gradient is the same. */
        const tk_engine_request *ref_req = &req;
        tk_engine_request ce_req;
        micro ce = mc;
        if (li == 3) {
            size_t k = 0;
            for (int s = 0; s < 2; s++)
                for (size_t i = 0; i < mc.len[s]; i++, k++) {
                    double ratio = exp((double)lp[k] - mc.lq[s][i]);
                    ratio = ratio < 0.8 ? 0.8 : ratio > 1.2 ? 1.2 : ratio;
                    ce.w[s][i] = (float)(ratio * mc.adv[s][i]);
                }
            request(&ce, "cross_entropy", &ce_req, NULL, 0);
            ref_req = &ce_req;
        }
        int checked = 0;
        for (size_t ti = 0; ti < a->n_tensors; ti++) {
            tk_engine_tensor *t = &a->tensors[ti];
            size_t n = (size_t)t->rows * t->cols;
            for (size_t j = ti % 3; j < n; j += n / 3 + 1) {
                double fd = richardson(&mc, a, ref_req, t->param + j), an = t->grad[j];
                if (fabs(fd - an) > 2e-3 + 1e-2 * fabs(an))
                    fail_msg("%s %s flags(%d%d%d) %s[%zu]: analytic %.6g, finite difference %.6g",
                             tk_engine_arch_name(arch), losses[li], attn, mlp, unembed, t->name, j, an, fd);
                checked++;
            }
        }
        assert_true(checked > 0);
    }
    tk_engine_adapter_free(a);
    tk_engine_model_free(mc.m);
}

static void test_llama_all(void **s) { gradcheck(TK_ENGINE_ARCH_LLAMA, true, true, true); }
static void test_qwen_all(void **s) { gradcheck(TK_ENGINE_ARCH_QWEN3, true, true, true); }
static void test_mlp_only(void **s) { gradcheck(TK_ENGINE_ARCH_QWEN3, false, true, false); }
static void test_attn_only(void **s) { gradcheck(TK_ENGINE_ARCH_LLAMA, true, false, false); }
static void test_unembed_only(void **s) { gradcheck(TK_ENGINE_ARCH_LLAMA, false, false, true); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_all), cmocka_unit_test(test_qwen_all), cmocka_unit_test(test_mlp_only),
        cmocka_unit_test(test_attn_only), cmocka_unit_test(test_unembed_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
