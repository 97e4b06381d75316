/* Checkpoints and PEFT interchange: save + load of the training state resumes bit for bit (with
 * and without a pending gradient), sampler checkpoints, weights_info, atomic replacement; import
 * of PEFT adapters written by the PyTorch twin (another alpha, rsLoRA, a q/v-only subset, F16)
 * against its logits; export/import round trips; merging against base + adapter; bad input. */
#include "engine_test_util.h"

#include <dirent.h>
#include <sys/stat.h>

static tk_engine_model *load_model(const char *name) {
    tk_err e = {0};
    char dir[128];
    snprintf(dir, sizeof dir, "tests/data/engine/%s", name);
    tk_engine_model *m;
    assert_ok(tk_engine_model_load(dir, &m, &e), &e);
    return m;
}

/* A cross-entropy request over two random datums (ids drawn from seed). */
typedef struct batch {
    int32_t tok[2][9], tgt[2][9];
    float w[2][9], lp[18];
    tk_engine_array in[2][2];
    tk_engine_datum d[2];
    tk_engine_request req;
} batch;

static void make_batch(batch *b, uint64_t seed, int V) {
    tk_rng r;
    tk_rng_seed(&r, seed);
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 9; k++) {
            b->tok[i][k] = (int32_t)tk_rng_below(&r, (uint64_t)V);
            b->tgt[i][k] = (int32_t)tk_rng_below(&r, (uint64_t)V);
            b->w[i][k] = k < 2 ? 0.0f : 1.0f;
        }
        b->in[i][0] = (tk_engine_array){"target_tokens", TK_ENGINE_I32, b->tgt[i], 9};
        b->in[i][1] = (tk_engine_array){"weights", TK_ENGINE_F32, b->w[i], 9};
        b->d[i] = (tk_engine_datum){TK_ENGINE_I32, b->tok[i], 9, b->in[i], 2};
    }
    b->req = (tk_engine_request){"cross_entropy", NULL, 0, b->d, 2};
}

static void fb(tk_engine_adapter *a, batch *b, float *lp_out) {
    tk_err e = {0};
    tk_engine_output out = {lp_out, NULL, 0};
    assert_ok(tk_engine_forward_backward(a, &b->req, &out, &e), &e);
}

static void opt(tk_engine_adapter *a) {
    tk_err e = {0};
    tk_engine_adam p;
    tk_engine_adam_default(&p);
    p.learning_rate = 1e-2;
    p.weight_decay = 0.1;
    p.grad_clip_norm = 1.0;
    assert_ok(tk_engine_optim_step(a, &p, NULL, &e), &e);
}

static void assert_same_state(tk_engine_adapter *a, tk_engine_adapter *b) {
    assert_int_equal(tk_engine_adapter_num_tensors(a), tk_engine_adapter_num_tensors(b));
    assert_int_equal(tk_engine_adapter_step(a), tk_engine_adapter_step(b));
    assert_int_equal(tk_engine_adapter_pending_tokens(a), tk_engine_adapter_pending_tokens(b));
    tk_err e = {0};
    for (size_t i = 0; i < tk_engine_adapter_num_tensors(a); i++) {
        tk_engine_tensor x, y;
        assert_ok(tk_engine_adapter_tensor(a, i, &x, &e), &e);
        assert_ok(tk_engine_adapter_tensor(b, i, &y, &e), &e);
        assert_string_equal(x.name, y.name);
        size_t n = (size_t)x.rows * x.cols * sizeof(float);
        assert_memory_equal(x.param, y.param, n);
        assert_memory_equal(x.m, y.m, n);
        assert_memory_equal(x.v, y.v, n);
        assert_memory_equal(x.grad, y.grad, n);
    }
}

static char *ckpt_path(const char *tmp, const char *name) { return tk_path_join(tmp, name); }

/* Train, save mid-accumulation and between steps, load into a fresh adapter, continue both:
 * every weight, moment, gradient and logprob stays bit-identical. */
static void test_resume_bit_identical(void **state) {
    tk_engine_model *m = load_model("qwen3");
    tk_err e = {0};
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 4;
    lc.seed = 3;
    lc.alpha = 16;
    tk_engine_adapter *a;
    assert_ok(tk_engine_adapter_new(m, &lc, &a, &e), &e);
    batch b1, b2;
    make_batch(&b1, 1, 128);
    make_batch(&b2, 2, 128);
    float lp[18], lp2[18];
    for (int s = 0; s < 3; s++) {
        fb(a, &b1, lp);
        opt(a);
    }
    char *tmp = tk_test_tmpdir();
    for (int pending = 0; pending < 2; pending++) {
        if (pending) fb(a, &b2, lp);   /* a gradient waits in the accumulator */
        char *dir = ckpt_path(tmp, pending ? "with-grad" : "between-steps");
        assert_ok(tk_engine_checkpoint_save(a, dir, TK_ENGINE_CKPT_STATE, "tests/qwen3", false, &e), &e);
        tk_engine_adapter *b;
        assert_ok(tk_engine_checkpoint_load(m, dir, true, &b, &e), &e);
        assert_same_state(a, b);
        assert_true(tk_engine_adapter_config(b)->alpha == 16 && tk_engine_adapter_config(b)->seed == 3);
        /* continue both the same way */
        opt(a);
        opt(b);
        fb(a, &b1, lp);
        fb(b, &b1, lp2);
        assert_memory_equal(lp, lp2, sizeof lp);
        opt(a);
        opt(b);
        assert_same_state(a, b);
        /* load_into an existing adapter of the same shape */
        tk_engine_adapter *c;
        tk_engine_lora_config lc2 = lc;
        lc2.seed = 77;
        assert_ok(tk_engine_adapter_new(m, &lc2, &c, &e), &e);
        assert_ok(tk_engine_checkpoint_load_into(c, dir, true, &e), &e);
        opt(c);
        fb(c, &b1, lp2);
        opt(c);
        assert_same_state(b, c);
        tk_engine_adapter_free(b);
        tk_engine_adapter_free(c);
        free(dir);
    }
    tk_engine_adapter_free(a);
    tk_engine_model_free(m);
    tk_err ie = {0};
    tk_remove_tree(tmp, &ie);
    free(tmp);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

/* Sampler checkpoints hold weights only; weights_info; replacing an existing checkpoint. */
static void test_sampler_checkpoint_and_info(void **state) {
    tk_engine_model *m = load_model("llama3");
    tk_err e = {0};
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 3;
    lc.train_unembed = false;
    lc.seed = 1ull << 60;
    tk_engine_adapter *a;
    assert_ok(tk_engine_adapter_new(m, &lc, &a, &e), &e);
    batch b;
    make_batch(&b, 5, 128);
    float lp[18];
    fb(a, &b, lp);
    opt(a);
    char *tmp = tk_test_tmpdir(), *dir = ckpt_path(tmp, "sampler/s1");
    assert_ok(tk_engine_checkpoint_save(a, dir, TK_ENGINE_CKPT_SAMPLER, "meta-llama/Llama-3.2-1B", false, &e), &e);
    tk_engine_ckpt_info info;
    assert_ok(tk_engine_checkpoint_info(dir, &info, &e), &e);
    assert_int_equal(info.kind, TK_ENGINE_CKPT_SAMPLER);
    assert_string_equal(info.base_model, "meta-llama/Llama-3.2-1B");
    assert_int_equal(info.lora.rank, 3);
    assert_true(info.lora.alpha == 32);
    assert_true(info.lora.train_attn && info.lora.train_mlp && !info.lora.train_unembed);
    assert_true(info.lora.seed == 1ull << 60);
    assert_false(info.has_optimizer);
    tk_engine_adapter *b2;
    assert_err(tk_engine_checkpoint_load(m, dir, true, &b2, &e), TK_EINVAL, &e, "has no optimizer state (a sampler checkpoint)");
    assert_ok(tk_engine_checkpoint_load(m, dir, false, &b2, &e), &e);
    assert_int_equal(tk_engine_adapter_step(b2), 0);
    tk_engine_tensor x, y;
    assert_ok(tk_engine_adapter_tensor(a, 1, &x, &e), &e);
    assert_ok(tk_engine_adapter_tensor(b2, 1, &y, &e), &e);
    assert_memory_equal(x.param, y.param, (size_t)x.rows * x.cols * 4);
    /* existing: refused, then replaced atomically (no temporary or old copies left beside it) */
    assert_err(tk_engine_checkpoint_save(a, dir, TK_ENGINE_CKPT_SAMPLER, NULL, false, &e), TK_EEXIST, &e, "already exists");
    opt(a);
    assert_ok(tk_engine_checkpoint_save(a, dir, TK_ENGINE_CKPT_STATE, "other", true, &e), &e);
    char *parent = ckpt_path(tmp, "sampler");
    assert_int_equal(count_entries(parent), 1);
    assert_ok(tk_engine_checkpoint_info(dir, &info, &e), &e);
    assert_int_equal(info.kind, TK_ENGINE_CKPT_STATE);
    assert_true(info.has_optimizer);
    assert_int_equal(info.step, 2);
    assert_string_equal(info.base_model, "other");
    tk_engine_adapter_free(b2);
    tk_engine_adapter_free(a);
    tk_engine_model_free(m);
    tk_err ie = {0};
    tk_remove_tree(tmp, &ie);
    free(parent);
    free(dir);
    free(tmp);
}

/* The twin's PEFT adapters (llama3: r 2, alpha 16, q/v only, F16; qwen3: r 4, alpha 8, rsLoRA,
 * all modules + lm_head) give the twin's logits. */
static void test_import_peft_fixture(void **state) {
    const char *names[2] = {"llama3", "qwen3"};
    for (int i = 0; i < 2; i++) {
        tk_engine_model *m = load_model(names[i]);
        tk_err e = {0};
        char dir[128], path[160];
        snprintf(dir, sizeof dir, "tests/data/engine/%s/peft", names[i]);
        tk_engine_adapter *a;
        assert_ok(tk_engine_adapter_import_peft(m, dir, &a, &e), &e);
        const tk_engine_lora_config *c = tk_engine_adapter_config(a);
        if (i == 0) {
            assert_int_equal(c->modules, TK_ENGINE_LORA_Q | TK_ENGINE_LORA_V);
            assert_int_equal(tk_engine_adapter_num_tensors(a), 2 * 2 * 2);
            assert_true(c->train_attn && !c->train_mlp && !c->train_unembed);
        } else {
            assert_int_equal(c->modules, TK_ENGINE_LORA_ALL);
            assert_true(fabs(c->alpha - 16.0) < 1e-12);   /* rsLoRA: 8·sqrt(4) over r */
        }
        tk_st_file f;
        snprintf(path, sizeof path, "tests/data/engine/%s/sample.safetensors", names[i]);
        assert_ok(tk_st_open(path, &f, &e), &e);
        size_t np = 0;
        float *pf = fx_get(&f, "prompt", &np);
        int32_t prompt[8];
        for (size_t k = 0; k < np; k++) prompt[k] = (int32_t)pf[k];
        float *want = fx_get(&f, "peft.logits", NULL), *got = malloc(np * 128 * 4);
        assert_ok(tk_engine_logits(m, a, prompt, np, got, &e), &e);
        check_close("PEFT import logits", got, want, np * 128, 1e-4, 1e-6);
        /* continuing to train it works and touches only its modules */
        batch b;
        make_batch(&b, 9, 128);
        float lp[18];
        fb(a, &b, lp);
        opt(a);
        assert_int_equal(tk_engine_adapter_step(a), 1);
        free(pf);
        free(want);
        free(got);
        tk_st_close(&f);
        tk_engine_adapter_free(a);
        tk_engine_model_free(m);
    }
}

/* Export -> import: F32 exact; BF16 within rounding; the written config names the modules; keys
 * carrying PEFT's ".default" adapter name import too. */
static void test_export_roundtrip(void **state) {
    tk_engine_model *m = load_model("qwen3");
    tk_err e = {0};
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 2;
    lc.modules = TK_ENGINE_LORA_K | TK_ENGINE_LORA_DOWN | TK_ENGINE_LORA_LM_HEAD;
    tk_engine_adapter *a;
    assert_ok(tk_engine_adapter_new(m, &lc, &a, &e), &e);
    batch b;
    make_batch(&b, 3, 128);
    float lp[18];
    fb(a, &b, lp);
    opt(a);   /* B no longer zero */
    char *tmp = tk_test_tmpdir(), *d32 = ckpt_path(tmp, "f32"), *d16 = ckpt_path(tmp, "bf16");
    assert_ok(tk_engine_adapter_export_peft(a, d32, "Qwen/Qwen3-0.6B", TK_ENGINE_F32, &e), &e);
    assert_ok(tk_engine_adapter_export_peft(a, d16, NULL, TK_ENGINE_BF16, &e), &e);
    tk_buf text = {0};
    char *cfgp = tk_path_join(d32, "adapter_config.json");
    assert_ok(tk_file_read(cfgp, &text, 0, &e), &e);
    assert_non_null(strstr(text.data, "\"target_modules\": [\n    \"k_proj\",\n    \"down_proj\",\n    \"lm_head\"\n  ]"));
    assert_non_null(strstr(text.data, "\"peft_type\": \"LORA\""));
    assert_non_null(strstr(text.data, "\"base_model_name_or_path\": \"Qwen/Qwen3-0.6B\""));
    tk_engine_adapter *x, *y;
    assert_ok(tk_engine_adapter_import_peft(m, d32, &x, &e), &e);
    assert_ok(tk_engine_adapter_import_peft(m, d16, &y, &e), &e);
    assert_int_equal(tk_engine_adapter_config(x)->modules, lc.modules);
    for (size_t i = 0; i < tk_engine_adapter_num_tensors(a); i++) {
        tk_engine_tensor ta, tx, ty;
        tk_engine_adapter_tensor(a, i, &ta, &e);
        tk_engine_adapter_tensor(x, i, &tx, &e);
        tk_engine_adapter_tensor(y, i, &ty, &e);
        size_t n = (size_t)ta.rows * ta.cols;
        assert_memory_equal(ta.param, tx.param, n * 4);
        check_close("bf16 export", ty.param, ta.param, n, 8e-3, 1e-6);
    }
    /* keys with PEFT's adapter name (".lora_A.default.weight"), as some tools save them */
    char *dd = ckpt_path(tmp, "default-names"), *src = tk_path_join(d32, "adapter_model.safetensors");
    char *dst = tk_path_join(dd, "adapter_model.safetensors"), *dcfg = tk_path_join(dd, "adapter_config.json");
    tk_st_file f;
    assert_ok(tk_st_open(src, &f, &e), &e);
    tk_st_out *outs = calloc(f.n_tensors, sizeof *outs);
    char (*names)[200] = calloc(f.n_tensors, sizeof *names);
    float **data = calloc(f.n_tensors, sizeof *data);
    for (size_t i = 0; i < f.n_tensors; i++) {
        const tk_st_tensor *t = &f.tensors[i];
        size_t n = strlen(t->name);
        assert_true(n > 7 && !strcmp(t->name + n - 7, ".weight"));
        snprintf(names[i], sizeof names[i], "%.*s.default.weight", (int)(n - 7), t->name);
        data[i] = malloc(t->numel * sizeof(float));
        tk_st_to_f32(t, data[i]);
        outs[i] = (tk_st_out){names[i], 2, {t->shape[0], t->shape[1]}, data[i]};
    }
    assert_ok(tk_mkdir_p(dd, 0755, &e), &e);
    assert_ok(tk_st_write(dst, outs, f.n_tensors, TK_ENGINE_F32, &e), &e);
    assert_ok(tk_file_write_atomic(dcfg, text.data, text.len, 0644, &e), &e);
    tk_engine_adapter *z;
    assert_ok(tk_engine_adapter_import_peft(m, dd, &z, &e), &e);
    for (size_t i = 0; i < tk_engine_adapter_num_tensors(a); i++) {
        tk_engine_tensor ta, tz;
        tk_engine_adapter_tensor(a, i, &ta, &e);
        tk_engine_adapter_tensor(z, i, &tz, &e);
        assert_memory_equal(ta.param, tz.param, (size_t)ta.rows * ta.cols * 4);
    }
    for (size_t i = 0; i < f.n_tensors; i++) free(data[i]);
    free(data);
    free(names);
    free(outs);
    tk_st_close(&f);
    tk_engine_adapter_free(z);
    free(dd);
    free(src);
    free(dst);
    free(dcfg);
    tk_buf_free(&text);
    free(cfgp);
    tk_engine_adapter_free(x);
    tk_engine_adapter_free(y);
    tk_engine_adapter_free(a);
    tk_engine_model_free(m);
    tk_err ie = {0};
    tk_remove_tree(tmp, &ie);
    free(tmp);
    free(d32);
    free(d16);
}

/* Merged weights compute what base + adapter computes; tied embeddings with an lm_head LoRA are
 * written untied. */
static void test_merge(void **state) {
    const char *names[2] = {"llama3", "qwen3"};
    for (int i = 0; i < 2; i++) {
        tk_engine_model *m = load_model(names[i]);
        tk_err e = {0};
        char dir[128];
        snprintf(dir, sizeof dir, "tests/data/engine/%s/peft", names[i]);
        tk_engine_adapter *a;
        assert_ok(tk_engine_adapter_import_peft(m, dir, &a, &e), &e);
        char *tmp = tk_test_tmpdir();
        assert_ok(tk_engine_adapter_merge_save(a, tmp, TK_ENGINE_F32, &e), &e);
        tk_engine_model *mm;
        assert_ok(tk_engine_model_load(tmp, &mm, &e), &e);
        if (i == 1) assert_false(tk_engine_model_config(mm)->tie_word_embeddings);
        int32_t toks[7] = {5, 17, 99, 3, 64, 120, 1};
        float *want = malloc(7 * 128 * 4), *got = malloc(7 * 128 * 4);
        assert_ok(tk_engine_logits(m, a, toks, 7, want, &e), &e);
        assert_ok(tk_engine_logits(mm, NULL, toks, 7, got, &e), &e);
        check_close("merged vs base + adapter", got, want, 7 * 128, 1e-5, 1e-6);
        free(want);
        free(got);
        tk_engine_model_free(mm);
        tk_engine_adapter_free(a);
        tk_engine_model_free(m);
        tk_err ie = {0};
        tk_remove_tree(tmp, &ie);
        free(tmp);
    }
}

static void write_text(const char *dir, const char *name, const char *text) {
    char *p = tk_path_join(dir, name);
    tk_err e = {0};
    assert_ok(tk_file_write_atomic(p, text, strlen(text), 0644, &e), &e);
    free(p);
}

static void copy_file(const char *from, const char *to) {
    tk_buf b = {0};
    tk_err e = {0};
    assert_ok(tk_file_read(from, &b, 0, &e), &e);
    assert_ok(tk_file_write_atomic(to, b.data, b.len, 0644, &e), &e);
    tk_buf_free(&b);
}

/* Bad checkpoints and adapters: each a clear error naming what and where. */
static void test_bad_input(void **state) {
    tk_engine_model *m = load_model("llama3"), *q = load_model("qwen3");
    tk_err e = {0};
    tk_engine_adapter *a = NULL, *x = NULL;
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 2;
    assert_ok(tk_engine_adapter_new(m, &lc, &a, &e), &e);
    char *tmp = tk_test_tmpdir(), *good = ckpt_path(tmp, "good"), *bad = ckpt_path(tmp, "bad");
    assert_ok(tk_engine_checkpoint_save(a, good, TK_ENGINE_CKPT_STATE, "llama", false, &e), &e);
    assert_err(tk_engine_checkpoint_load(m, "/nonexistent/ckpt", false, &x, &e), TK_ENOTFOUND, &e, "no such directory");
    /* a checkpoint of another base model */
    assert_err(tk_engine_checkpoint_load(q, good, false, &x, &e), TK_EINVAL, &e, "saved for a llama3 model, this base model is qwen3");
    /* load_into an adapter of another rank: refused, nothing changed */
    tk_engine_adapter *r4;
    lc.rank = 4;
    assert_ok(tk_engine_adapter_new(m, &lc, &r4, &e), &e);
    tk_engine_tensor t0;
    tk_engine_adapter_tensor(r4, 0, &t0, &e);
    float keep = t0.param[0];
    assert_err(tk_engine_checkpoint_load_into(r4, good, false, &e), TK_EINVAL, &e, "rank 2 / modules 0xff do not match");
    assert_true(t0.param[0] == keep);
    tk_engine_adapter_free(r4);
    /* PEFT directories with problems (built from the good one's weights) */
    char *st_good = tk_path_join(good, "adapter_model.safetensors"), *st_bad = tk_path_join(bad, "adapter_model.safetensors");
    tk_mkdir_p(bad, 0755, &e);
    copy_file(st_good, st_bad);
#define BASE_CFG "{\"peft_type\":\"LORA\",\"r\":%d,\"lora_alpha\":8,\"target_modules\":%s%s}"
    char cfg[512];
#define TRY(r, targets, extra, code, needle)                                              \
    do {                                                                                 \
        snprintf(cfg, sizeof cfg, BASE_CFG, r, targets, extra);                          \
        write_text(bad, "adapter_config.json", cfg);                                     \
        assert_err(tk_engine_adapter_import_peft(m, bad, &x, &e), code, &e, needle);     \
    } while (0)
    const char *all = "[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\",\"lm_head\"]";
    TRY(4, all, "", TK_EINVAL, "has shape [2, 32] but the base model and rank need [4, 32]");
    TRY(2, "[\"q_proj\",\"v_proj\"]", "", TK_EINVAL, "unexpected tensor \"base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight\"");
    TRY(2, "[\"q_proj\",\"embed_tokens\"]", "", TK_EUNSUPPORTED, "target_modules[1]: \"embed_tokens\" is not supported");
    TRY(2, "\"^.*q_proj$\"", "", TK_EUNSUPPORTED, "target_modules: the pattern \"^.*q_proj$\" is not supported");
    TRY(2, all, ",\"use_dora\":true", TK_EUNSUPPORTED, "use_dora: DoRA adapters are not supported");
    TRY(2, all, ",\"rank_pattern\":{\"q_proj\":4}", TK_EUNSUPPORTED, "rank_pattern: per-module ranks");
    TRY(2, all, ",\"layers_to_transform\":[0]", TK_EUNSUPPORTED, "layers_to_transform: not supported");
    TRY(0, all, "", TK_EINVAL, "r: 0 is out of range");
    TRY(2, "[]", "", TK_EINVAL, "target_modules: expected a non-empty list");
    write_text(bad, "adapter_config.json", "{\"peft_type\":\"PREFIX_TUNING\",\"r\":2}");
    assert_err(tk_engine_adapter_import_peft(m, bad, &x, &e), TK_EUNSUPPORTED, &e, "peft_type: \"PREFIX_TUNING\"");
    write_text(bad, "adapter_config.json", "{\"peft_type\":\"LORA\",\"r\":2,");
    assert_err(tk_engine_adapter_import_peft(m, bad, &x, &e), TK_EPARSE, &e, "adapter_config.json");
    /* the adapter of a model with fewer layers: a missing tensor; a truncated file */
    TRY(2, all, "", 0, "");   /* (sanity: the good config imports) */
    tk_engine_adapter_free(x);
    x = NULL;
    tk_buf img = {0};
    assert_ok(tk_file_read(st_good, &img, 0, &e), &e);
    assert_ok(tk_file_write_atomic(st_bad, img.data, img.len - 10, 0644, &e), &e);
    assert_err(tk_engine_adapter_import_peft(m, bad, &x, &e), TK_EPARSE, &e, "adapter_model.safetensors");
    tk_buf_free(&img);
    /* adapter of the wrong base model: qwen3 adapter shapes into llama3 */
    assert_err(tk_engine_adapter_import_peft(m, "tests/data/engine/qwen3/peft", &x, &e), TK_EINVAL, &e,
               "but the base model and rank need");
    /* a damaged metadata file */
    char *meta = tk_path_join(good, "tinkerc_checkpoint.json");
    write_text(good, "tinkerc_checkpoint.json", "{\"format\":\"tinkerc-lora-checkpoint\",\"kind\":\"weird\"}");
    assert_err(tk_engine_checkpoint_load(m, good, true, &x, &e), TK_EINVAL, &e, "tinkerc_checkpoint.json: kind: unknown kind \"weird\"");
    tk_engine_ckpt_info info;
    assert_err(tk_engine_checkpoint_info("/nonexistent", &info, &e), TK_ENOTFOUND, &e, "no such directory");
#undef TRY
#undef BASE_CFG
    free(meta);
    free(st_good);
    free(st_bad);
    tk_engine_adapter_free(a);
    tk_engine_model_free(m);
    tk_engine_model_free(q);
    tk_err ie = {0};
    tk_remove_tree(tmp, &ie);
    free(tmp);
    free(good);
    free(bad);
}

int main(void) {
    tk_engine_set_num_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_bit_identical), cmocka_unit_test(test_sampler_checkpoint_and_info),
        cmocka_unit_test(test_import_peft_fixture),  cmocka_unit_test(test_export_roundtrip),
        cmocka_unit_test(test_merge),                cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
