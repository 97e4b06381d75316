/* Sampling parity with the PyTorch twin (scripts/engine_reference.py writes
 * tests/data/engine/<model>/sample.safetensors by recomputing the whole sequence per token, with
 * the sampling procedure and tinkerc's RNG rebuilt in Python): greedy and seeded continuations
 * (token-exact, logprobs 1e-4), stop tokens and stop strings, prompt logprobs and top-k prompt
 * logprobs. Then properties of the engine's own machinery: KV-cache decode against a full forward,
 * batching (one decode loop) against requests run alone, continuous submission, determinism,
 * the context limit, bf16 decode weights, and bad input. */
#include "engine_test_util.h"

typedef struct sfix {
    tk_engine_model *m;
    tk_engine_adapter *a;      /* the fixtures' LoRA (lora_init.*) */
    tk_st_file exp, sexp;
    int32_t prompt[6];
    size_t n_prompt;
} sfix;

static void sfix_load(sfix *f, const char *name) {
    memset(f, 0, sizeof *f);
    tk_err e = {0};
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "tests/data/engine/%s", name);
    assert_ok(tk_engine_model_load(dir, &f->m, &e), &e);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    assert_ok(tk_st_open(path, &f->exp, &e), &e);
    snprintf(path, sizeof path, "%s/sample.safetensors", dir);
    assert_ok(tk_st_open(path, &f->sexp, &e), &e);
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 4;
    assert_ok(tk_engine_adapter_new(f->m, &lc, &f->a, &e), &e);
    for (size_t i = 0; i < tk_engine_adapter_num_tensors(f->a); i++) {
        tk_engine_tensor t;
        assert_ok(tk_engine_adapter_tensor(f->a, i, &t, &e), &e);
        char nm[200];
        snprintf(nm, sizeof nm, "lora_init.%s", t.name);
        size_t n = 0;
        float *v = fx_get(&f->exp, nm, &n);
        assert_non_null(v);
        assert_int_equal(n, (size_t)t.rows * t.cols);
        memcpy(t.param, v, n * sizeof(float));
        free(v);
    }
    size_t n = 0;
    float *p = fx_get(&f->sexp, "prompt", &n);
    assert_non_null(p);
    assert_true(n <= 6);
    for (size_t i = 0; i < n; i++) f->prompt[i] = (int32_t)p[i];
    f->n_prompt = n;
    free(p);
}

static void sfix_free(sfix *f) {
    tk_engine_adapter_free(f->a);
    tk_engine_model_free(f->m);
    tk_st_close(&f->exp);
    tk_st_close(&f->sexp);
}

/* The synthetic token -> bytes table of engine_reference.py's token_bytes(). */
static const char *test_token_bytes(void *user, int32_t id, size_t *len) {
    static char buf[4];
    const char *A = "abcd ";
    (void)user;
    buf[0] = A[id % 5];
    size_t n = 1;
    if (id % 3 == 0) buf[n++] = A[(id / 5) % 5];
    buf[n] = 0;
    *len = n;
    return buf;
}

/* A fixture case as a request (strings and stop ids live in the case struct). */
typedef struct scase {
    tk_engine_sample_request req;
    int32_t stops[4];
    char strbuf[64];
    const char *strs[4];
    int n_samples;
} scase;

static bool load_case(sfix *f, int i, scase *c) {
    char nm[64];
    snprintf(nm, sizeof nm, "case.%d.params", i);
    size_t n = 0;
    float *p = fx_get(&f->sexp, nm, &n);
    if (!p) return false;
    assert_int_equal(n, 7);
    memset(c, 0, sizeof *c);
    tk_engine_sample_request *r = &c->req;
    r->prompt = f->prompt;
    r->n_prompt = f->n_prompt;
    tk_engine_sampling_params_default(&r->params);
    r->params.temperature = p[0];
    r->params.top_k = (int32_t)p[1];
    r->params.top_p = p[2];
    r->params.has_seed = true;
    r->params.seed = (uint64_t)p[3];
    r->num_samples = c->n_samples = (int)p[4];
    r->params.max_tokens = (int32_t)p[5];
    r->adapter = p[6] != 0 ? f->a : NULL;
    free(p);
    snprintf(nm, sizeof nm, "case.%d.stop_tokens", i);
    float *st = fx_get(&f->sexp, nm, &n);
    assert_non_null(st);
    for (size_t k = 0; k < n && k < 4; k++)
        if (st[k] >= 0) c->stops[r->params.n_stop_tokens++] = (int32_t)st[k];
    r->params.stop_tokens = c->stops;
    free(st);
    snprintf(nm, sizeof nm, "case.%d.stop_strings", i);
    float *ss = fx_get(&f->sexp, nm, &n);
    assert_non_null(ss);
    assert_true(n < sizeof c->strbuf);
    for (size_t k = 0; k < n; k++) c->strbuf[k] = (char)ss[k];
    free(ss);
    if (c->strbuf[0]) {
        size_t k = 0;
        c->strs[r->params.n_stop_strings++] = c->strbuf;
        for (; k < n; k++)
            if (!c->strbuf[k] && k + 1 < n) c->strs[r->params.n_stop_strings++] = c->strbuf + k + 1;
        r->params.stop_strings = c->strs;
        r->token_bytes = test_token_bytes;
    }
    return true;
}

static void check_case(sfix *f, int i, const tk_engine_sample_result *res, double lp_tol, const char *what) {
    char nm[64], msg[128];
    size_t n = 0;
    snprintf(nm, sizeof nm, "case.%d.reason", i);
    float *reason = fx_get(&f->sexp, nm, &n);
    assert_int_equal(res->n_sequences, n);
    for (size_t s = 0; s < n; s++) {
        const tk_engine_sequence *q = &res->sequences[s];
        snprintf(nm, sizeof nm, "case.%d.tokens.%zu", i, s);
        size_t nt = 0;
        float *tok = fx_get(&f->sexp, nm, &nt);
        if (q->n_tokens != nt) fail_msg("%s case %d sample %zu: %zu tokens, torch %zu", what, i, s, q->n_tokens, nt);
        for (size_t k = 0; k < nt; k++)
            if (q->tokens[k] != (int32_t)tok[k])
                fail_msg("%s case %d sample %zu token %zu: %d, torch %d", what, i, s, k, q->tokens[k], (int)tok[k]);
        assert_int_equal((int)q->stop_reason, (int)reason[s]);
        snprintf(nm, sizeof nm, "case.%d.logprobs.%zu", i, s);
        float *lp = fx_get(&f->sexp, nm, NULL);
        snprintf(msg, sizeof msg, "%s case %d sample %zu logprobs", what, i, s);
        check_close(msg, q->logprobs, lp, nt, lp_tol, 1.0);
        free(tok);
        free(lp);
    }
    free(reason);
}

static const char *const MODELS[] = {"llama3", "qwen3"};

/* Every fixture case, run alone: token-exact, logprobs within 1e-4 of torch. */
static void test_parity_cases(void **state) {
    for (int mi = 0; mi < 2; mi++) {
        sfix f;
        sfix_load(&f, MODELS[mi]);
        scase c;
        int cases = 0;
        for (int i = 0; load_case(&f, i, &c); i++, cases++) {
            tk_engine_sample_result res;
            tk_err e = {0};
            assert_ok(tk_engine_sample(f.m, &c.req, &res, &e), &e);
            check_case(&f, i, &res, 1e-4, MODELS[mi]);
            tk_engine_sample_result_free(&res);
        }
        assert_int_equal(cases, 8);
        sfix_free(&f);
    }
}

/* Prompt logprobs (first NaN) and top-5 prompt logprobs (ids exact, sentinels in row 0). */
static void test_prompt_logprobs(void **state) {
    for (int mi = 0; mi < 2; mi++) {
        sfix f;
        sfix_load(&f, MODELS[mi]);
        for (int with = 0; with < 2; with++) {
            tk_engine_sample_request r = {0};
            r.adapter = with ? f.a : NULL;
            r.prompt = f.prompt;
            r.n_prompt = f.n_prompt;
            r.num_samples = 1;
            tk_engine_sampling_params_default(&r.params);
            r.params.max_tokens = 1;   /* compute_logprobs' shape */
            r.topk_prompt_logprobs = 5;
            tk_engine_sample_result res;
            tk_err e = {0};
            assert_ok(tk_engine_sample(f.m, &r, &res, &e), &e);
            const char *tag = with ? "lora" : "base";
            char nm[64];
            snprintf(nm, sizeof nm, "prompt_logprobs.%s", tag);
            float *want = fx_get(&f.sexp, nm, NULL);
            assert_non_null(res.prompt_logprobs);
            assert_true(isnan(res.prompt_logprobs[0]));
            check_close(nm, res.prompt_logprobs + 1, want + 1, f.n_prompt - 1, 1e-4, 1.0);
            snprintf(nm, sizeof nm, "topk_ids.%s", tag);
            float *ids = fx_get(&f.sexp, nm, NULL);
            assert_int_equal(res.topk, 5);
            for (size_t k = 0; k < f.n_prompt * 5; k++)
                if (res.topk_ids[k] != (int32_t)ids[k]) fail_msg("%s %s[%zu]: %d torch %d", MODELS[mi], nm, k, res.topk_ids[k], (int)ids[k]);
            snprintf(nm, sizeof nm, "topk_logprobs.%s", tag);
            float *lps = fx_get(&f.sexp, nm, NULL);
            check_close(nm, res.topk_logprobs, lps, f.n_prompt * 5, 1e-4, 1.0);
            assert_true(res.topk_logprobs[0] == TK_ENGINE_TOPK_EMPTY_LOGPROB && res.topk_ids[0] == TK_ENGINE_TOPK_EMPTY_ID);
            free(want);
            free(ids);
            free(lps);
            tk_engine_sample_result_free(&res);
        }
        sfix_free(&f);
    }
}

/* All cases of a model in one decode loop (base and LoRA rows mixed) give the same tokens as each
 * alone, and still match torch. */
static void test_batch_equals_alone(void **state) {
    for (int mi = 0; mi < 2; mi++) {
        sfix f;
        sfix_load(&f, MODELS[mi]);
        scase c[8];
        tk_engine_sample_request reqs[8];
        int n = 0;
        while (n < 8 && load_case(&f, n, &c[n])) {
            reqs[n] = c[n].req;
            n++;
        }
        tk_engine_sample_result outs[8];
        int rcs[8];
        tk_err errs[8], e = {0};
        assert_ok(tk_engine_sample_batch(f.m, reqs, (size_t)n, outs, rcs, errs, &e), &e);
        for (int i = 0; i < n; i++) {
            assert_ok(rcs[i], &errs[i]);
            check_case(&f, i, &outs[i], 1e-4, "batched");
            tk_engine_sample_result_free(&outs[i]);
        }
        sfix_free(&f);
    }
}

/* Requests joining a running loop: B submitted after A has taken a few steps gives what it gives
 * alone, and A is unaffected. Cancel drops a request. */
static void test_continuous(void **state) {
    sfix f;
    sfix_load(&f, "qwen3");
    scase ca, cb, cc;
    assert_true(load_case(&f, 2, &ca) && load_case(&f, 3, &cb) && load_case(&f, 4, &cc));
    tk_err e = {0};
    tk_engine_sampler *s;
    assert_ok(tk_engine_sampler_new(f.m, &s, &e), &e);
    uint64_t ia, ib, ic;
    assert_ok(tk_engine_sampler_submit(s, &ca.req, &ia, &e), &e);
    assert_ok(tk_engine_sampler_submit(s, &cc.req, &ic, &e), &e);
    for (int k = 0; k < 3; k++) assert_ok(tk_engine_sampler_step(s, &e), &e);
    assert_ok(tk_engine_sampler_cancel(s, ic, &e), &e);
    assert_err(tk_engine_sampler_cancel(s, ic, &e), TK_ENOTFOUND, &e, "no request");
    assert_ok(tk_engine_sampler_submit(s, &cb.req, &ib, &e), &e);
    int got = 0;
    while (tk_engine_sampler_pending(s)) {
        assert_ok(tk_engine_sampler_step(s, &e), &e);
        uint64_t id;
        int rc;
        tk_engine_sample_result res;
        while (tk_engine_sampler_take(s, &id, &rc, &res, &e)) {
            assert_ok(rc, &e);
            assert_true(id == ia || id == ib);
            check_case(&f, id == ia ? 2 : 3, &res, 1e-4, "continuous");
            tk_engine_sample_result_free(&res);
            got++;
        }
    }
    assert_int_equal(got, 2);
    tk_engine_sampler_free(s);
    sfix_free(&f);
}

/* The KV-cache decode computes what a full forward over prompt + generated tokens computes. */
static void test_kv_decode_matches_forward(void **state) {
    for (int mi = 0; mi < 2; mi++) {
        sfix f;
        sfix_load(&f, MODELS[mi]);
        for (int with = 0; with < 2; with++) {
            tk_engine_sample_request r = {0};
            r.adapter = with ? f.a : NULL;
            r.prompt = f.prompt;
            r.n_prompt = f.n_prompt;
            r.num_samples = 2;
            tk_engine_sampling_params_default(&r.params);
            r.params.max_tokens = 70;   /* crosses the first KV growth (64) */
            r.params.has_seed = true;
            r.params.seed = 11;
            tk_engine_sample_result res;
            tk_err e = {0};
            assert_ok(tk_engine_sample(f.m, &r, &res, &e), &e);
            for (size_t s = 0; s < 2; s++) {
                const tk_engine_sequence *q = &res.sequences[s];
                assert_int_equal(q->n_tokens, 70);
                assert_int_equal(q->stop_reason, TK_ENGINE_STOP_LENGTH);
                size_t n = f.n_prompt + q->n_tokens - 1;
                int32_t *tok = malloc(n * 4), *tgt = malloc(n * 4);
                float *w = calloc(n, 4), *lp = malloc(n * 4);
                memcpy(tok, f.prompt, f.n_prompt * 4);
                memcpy(tok + f.n_prompt, q->tokens, (q->n_tokens - 1) * 4);
                memcpy(tgt, tok + 1, (n - 1) * 4);
                tgt[n - 1] = q->tokens[q->n_tokens - 1];
                tk_engine_array in[2] = {{"target_tokens", TK_ENGINE_I32, tgt, n}, {"weights", TK_ENGINE_F32, w, n}};
                tk_engine_datum d = {TK_ENGINE_I32, tok, n, in, 2};
                tk_engine_request req = {"cross_entropy", NULL, 0, &d, 1};
                tk_engine_output out = {lp, NULL, 0};
                assert_ok(tk_engine_forward(f.m, r.adapter, &req, &out, &e), &e);
                check_close("decode logprobs vs forward", q->logprobs, lp + f.n_prompt - 1, q->n_tokens, 1e-5, 1.0);
                free(tok);
                free(tgt);
                free(w);
                free(lp);
            }
            tk_engine_sample_result_free(&res);
        }
        sfix_free(&f);
    }
}

/* Same seed, same samples; another seed, other samples; without a seed the OS picks one. */
static void test_determinism(void **state) {
    sfix f;
    sfix_load(&f, "llama3");
    tk_engine_sample_request r = {0};
    r.prompt = f.prompt;
    r.n_prompt = f.n_prompt;
    r.num_samples = 4;
    tk_engine_sampling_params_default(&r.params);
    r.params.max_tokens = 20;
    r.params.has_seed = true;
    r.params.seed = 99;
    tk_engine_sample_result a, b, c;
    tk_err e = {0};
    assert_ok(tk_engine_sample(f.m, &r, &a, &e), &e);
    assert_ok(tk_engine_sample(f.m, &r, &b, &e), &e);
    r.params.seed = 100;
    assert_ok(tk_engine_sample(f.m, &r, &c, &e), &e);
    int differ = 0;
    for (int s = 0; s < 4; s++) {
        assert_memory_equal(a.sequences[s].tokens, b.sequences[s].tokens, 20 * 4);
        assert_memory_equal(a.sequences[s].logprobs, b.sequences[s].logprobs, 20 * 4);
        differ += memcmp(a.sequences[s].tokens, c.sequences[s].tokens, 20 * 4) != 0;
        if (s) differ += memcmp(a.sequences[s].tokens, a.sequences[0].tokens, 20 * 4) != 0 ? 0 : 100;
    }
    assert_int_equal(differ, 4);   /* every sample changed with the seed; samples differ from each other */
    tk_engine_sample_result_free(&a);
    tk_engine_sample_result_free(&b);
    tk_engine_sample_result_free(&c);
    sfix_free(&f);
}

/* Generation stops at the context length with "length", even when max_tokens is larger. */
static void test_context_limit(void **state) {
    sfix f;
    sfix_load(&f, "qwen3");
    int ctx = tk_engine_model_config(f.m)->max_position_embeddings;
    int32_t *prompt = malloc((size_t)ctx * 4);
    for (int i = 0; i < ctx; i++) prompt[i] = (i * 7) % 128;
    tk_engine_sample_request r = {0};
    r.prompt = prompt;
    r.n_prompt = (size_t)ctx - 3;
    r.num_samples = 1;
    tk_engine_sampling_params_default(&r.params);
    r.params.temperature = 0;
    r.params.max_tokens = 100;
    tk_engine_sample_result res;
    tk_err e = {0};
    assert_ok(tk_engine_sample(f.m, &r, &res, &e), &e);
    assert_int_equal(res.sequences[0].n_tokens, 3);
    assert_int_equal(res.sequences[0].stop_reason, TK_ENGINE_STOP_LENGTH);
    tk_engine_sample_result_free(&res);
    r.n_prompt = (size_t)ctx;
    assert_err(tk_engine_sample(f.m, &r, &res, &e), TK_EINVAL, &e, "do not fit the model's context of 512");
    free(prompt);
    sfix_free(&f);
}

/* bf16 decode weights: the same greedy path on these models, logprobs within bf16 rounding. */
static void test_bf16_decode(void **state) {
    for (int mi = 0; mi < 2; mi++) {
        sfix f;
        sfix_load(&f, MODELS[mi]);
        scase c;
        assert_true(load_case(&f, 1, &c));   /* greedy with LoRA */
        tk_engine_sample_result a, b;
        tk_err e = {0};
        assert_ok(tk_engine_sample(f.m, &c.req, &a, &e), &e);
        assert_ok(tk_engine_model_set_decode_dtype(f.m, TK_ENGINE_BF16, &e), &e);
        assert_ok(tk_engine_sample(f.m, &c.req, &b, &e), &e);
        assert_ok(tk_engine_model_set_decode_dtype(f.m, TK_ENGINE_F32, &e), &e);
        assert_err(tk_engine_model_set_decode_dtype(f.m, TK_ENGINE_F16, &e), TK_EINVAL, &e, "only F32 and BF16");
        assert_int_equal(a.sequences[0].n_tokens, b.sequences[0].n_tokens);
        /* the first token comes from the fp32 prefill in both; the rest from bf16 weights */
        size_t agree = 0;
        for (size_t k = 0; k < a.sequences[0].n_tokens; k++) agree += a.sequences[0].tokens[k] == b.sequences[0].tokens[k];
        assert_true(agree >= a.sequences[0].n_tokens - 2);
        assert_true(fabs(a.sequences[0].logprobs[1] - b.sequences[0].logprobs[1]) < 0.05);
        assert_true(a.sequences[0].logprobs[1] != b.sequences[0].logprobs[1]);   /* really other weights */
        tk_engine_sample_result_free(&a);
        tk_engine_sample_result_free(&b);
        sfix_free(&f);
    }
}


/* Freeing a sampler with queued, running and finished-untaken requests releases everything and
 * the adapters they borrowed (ASan's leak check and the adapter's busy count would say otherwise);
 * max_tokens 1 finishes at prefill. */
static void test_sampler_teardown(void **state) {
    sfix f;
    sfix_load(&f, "llama3");
    tk_err e = {0};
    tk_engine_sampler *s;
    assert_ok(tk_engine_sampler_new(f.m, &s, &e), &e);
    tk_engine_sample_request r = {0};
    r.adapter = f.a;
    r.prompt = f.prompt;
    r.n_prompt = f.n_prompt;
    r.num_samples = 3;
    tk_engine_sampling_params_default(&r.params);
    r.params.max_tokens = 1;
    uint64_t id1, id2, id3;
    assert_ok(tk_engine_sampler_submit(s, &r, &id1, &e), &e);   /* finishes in the first step */
    r.params.max_tokens = 50;
    assert_ok(tk_engine_sampler_submit(s, &r, &id2, &e), &e);   /* still running after it */
    assert_ok(tk_engine_sampler_step(s, &e), &e);
    assert_ok(tk_engine_sampler_submit(s, &r, &id3, &e), &e);   /* queued */
    assert_int_equal(tk_engine_sampler_pending(s), 3);
    assert_int_equal(tk_engine_sampler_active(s), 2);
    uint64_t id;
    int rc;
    tk_engine_sample_result res;
    assert_true(tk_engine_sampler_take(s, &id, &rc, &res, &e));
    assert_true(id == id1 && rc == 0 && res.n_sequences == 3 && res.sequences[2].n_tokens == 1);
    assert_int_equal(res.sequences[0].stop_reason, TK_ENGINE_STOP_LENGTH);
    tk_engine_sample_result_free(&res);
    assert_false(tk_engine_sampler_take(s, &id, &rc, &res, &e));
    tk_engine_sampler_free(s);
    assert_int_equal(f.a->busy, 0);
    sfix_free(&f);   /* frees the adapter: would be refused (and leak) if it were still busy */
}

static tk_engine_sample_request base_req(sfix *f) {
    tk_engine_sample_request r = {0};
    r.prompt = f->prompt;
    r.n_prompt = f->n_prompt;
    r.num_samples = 1;
    tk_engine_sampling_params_default(&r.params);
    r.params.max_tokens = 4;
    return r;
}

static void test_bad_input(void **state) {
    sfix f;
    sfix_load(&f, "llama3");
    tk_err e = {0};
    tk_engine_sample_request r;
    tk_engine_sample_result res;
#define BAD(mutate, code, needle)                                        \
    do {                                                                 \
        r = base_req(&f);                                                \
        mutate;                                                          \
        assert_err(tk_engine_sample(f.m, &r, &res, &e), code, &e, needle); \
    } while (0)
    BAD(r.params.max_tokens = 0, TK_EINVAL, "sampling_params.max_tokens: 0 must be at least 1");
    BAD(r.params.max_tokens = -5, TK_EINVAL, "max_tokens: -5");
    BAD(r.params.top_p = 0, TK_EINVAL, "sampling_params.top_p: 0 is outside (0, 1]");
    BAD(r.params.top_p = 1.5, TK_EINVAL, "top_p: 1.5 is outside");
    BAD(r.params.top_p = NAN, TK_EINVAL, "top_p");
    BAD(r.params.top_k = -2, TK_EINVAL, "sampling_params.top_k: -2 is out of range");
    BAD(r.params.temperature = -1, TK_EINVAL, "temperature: -1");
    BAD(r.params.temperature = INFINITY, TK_EINVAL, "temperature");
    BAD(r.topk_prompt_logprobs = 21, TK_EINVAL, "topk_prompt_logprobs: 21 is out of range [0, 20]");
    BAD(r.topk_prompt_logprobs = -1, TK_EINVAL, "topk_prompt_logprobs: -1");
    BAD(r.num_samples = 0, TK_EINVAL, "num_samples: 0 is out of range");
    BAD(r.n_prompt = 0, TK_EINVAL, "prompt: empty");
    int32_t badp[2] = {3, 128};
    BAD((r.prompt = badp, r.n_prompt = 2), TK_ERANGE, "prompt[1]: token id 128 is out of range [0, 128)");
    int32_t stop_bad[1] = {-3};
    BAD((r.params.stop_tokens = stop_bad, r.params.n_stop_tokens = 1), TK_ERANGE, "sampling_params.stop[0]: token id -3");
    const char *empty[2] = {"x", ""};
    BAD((r.params.stop_strings = empty, r.params.n_stop_strings = 2, r.token_bytes = test_token_bytes), TK_EINVAL,
        "sampling_params.stop[1]: empty stop string");
    BAD((r.params.stop_strings = empty, r.params.n_stop_strings = 1), TK_EINVAL, "need a token_bytes callback");
    /* an adapter of another model */
    tk_engine_model *other;
    assert_ok(tk_engine_model_load("tests/data/engine/qwen3", &other, &e), &e);
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    tk_engine_adapter *oa;
    assert_ok(tk_engine_adapter_new(other, &lc, &oa, &e), &e);
    BAD(r.adapter = oa, TK_EINVAL, "the adapter belongs to another base model");
    tk_engine_adapter_free(oa);
    tk_engine_model_free(other);
#undef BAD
    /* a bad request in a batch fails alone */
    tk_engine_sample_request reqs[2] = {base_req(&f), base_req(&f)};
    reqs[0].params.top_p = 2;
    tk_engine_sample_result outs[2];
    int rcs[2];
    tk_err errs[2];
    assert_ok(tk_engine_sample_batch(f.m, reqs, 2, outs, rcs, errs, &e), &e);
    assert_err(rcs[0], TK_EINVAL, &errs[0], "top_p");
    assert_ok(rcs[1], &errs[1]);
    assert_int_equal(outs[1].sequences[0].n_tokens, 4);
    tk_engine_sample_result_free(&outs[1]);
    sfix_free(&f);
}

int main(void) {
    tk_engine_set_num_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_cases),      cmocka_unit_test(test_prompt_logprobs),
        cmocka_unit_test(test_batch_equals_alone), cmocka_unit_test(test_continuous),
        cmocka_unit_test(test_kv_decode_matches_forward), cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_context_limit),     cmocka_unit_test(test_bf16_decode),
        cmocka_unit_test(test_sampler_teardown), cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
