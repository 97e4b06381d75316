/* The engine behind the server, through the same internal API the model routes use: base-model
 * resolution (--model, absolute paths, the Hugging Face cache), create_model loading a base
 * once and making an adapter per model, forward / forward_backward jobs with a result encoder,
 * optim_step, validation failures as user errors, and unload freeing the adapter. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "server/engine_glue.h"

static char *g_dir;
static char g_model[600];

static int setup_all(void **state) {
    (void)state;
    g_dir = tk_test_tmpdir();
    tk_engine_config c;
    tk_engine_config_default(&c, TK_ENGINE_ARCH_QWEN3);
    c.vocab_size = 40;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_layers = 2;
    c.num_heads = 2;
    c.num_kv_heads = 1;
    c.head_dim = 8;
    c.max_position_embeddings = 48;
    tk_engine_model *m = NULL;
    tk_err e = {0};
    snprintf(g_model, sizeof g_model, "%s/tiny", g_dir);
    if (tk_engine_model_random(&c, 11, &m, &e) || tk_engine_model_save(m, g_model, TK_ENGINE_F32, &e)) return -1;
    tk_engine_model_free(m);
    /* the same model in a Hugging Face cache layout */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %1$s/hub/models--org--tiny/snapshots/abc123 %1$s/hub/models--org--tiny/refs && "
             "cp %2$s/* %1$s/hub/models--org--tiny/snapshots/abc123/ && printf 'abc123\\n' > "
             "%1$s/hub/models--org--tiny/refs/main && mkdir -p %1$s/hub/models--org--norefs/snapshots/r1 && "
             "cp %2$s/* %1$s/hub/models--org--norefs/snapshots/r1/",
             g_dir, g_model);
    if (system(cmd)) return -1;
    return 0;
}

static int teardown_all(void **state) {
    (void)state;
    tk_err e = {0};
    tk_remove_tree(g_dir, &e);
    free(g_dir);
    return 0;
}

static tk_server *start(void) {
    tk_server_config c;
    tk_server_config_init(&c);
    char data[700];
    snprintf(data, sizeof data, "%s/data", g_dir);
    c.data_dir = data;
    tk_server_model_spec ms[] = {{"test/tiny", g_model, 0}};
    c.models = ms;
    c.n_models = 1;
    tk_server *s = NULL;
    tk_err e = {0};
    assert_ok(tk_server_create(&c, &s, &e), &e);
    assert_ok(tk_server_engine_attach(s, &e), &e);
    assert_ok(tk_server_add_core_routes(s, &e), &e);
    assert_ok(tk_server_listen(s, &e), &e);
    return s;
}

static tk_server_wait_status wait_future(tk_server *s, const char *rid, tk_server_future_view *v) {
    memset(v, 0, sizeof *v);
    return tk_server_futures_wait(s->futures, rid, 60, v);
}

static json_t *wait_json(tk_server *s, const char *rid) {
    tk_server_future_view v;
    tk_server_wait_status st = wait_future(s, rid, &v);
    if (st == TK_SERVER_WAIT_FAILED) fail_msg("%s failed: %s", v.type, v.error);
    assert_int_equal(st, TK_SERVER_WAIT_DONE);
    json_t *j = json_loadb(v.json->data, v.json->len, 0, NULL);
    tk_server_future_view_clear(&v);
    assert_non_null(j);
    return j;
}

static void test_resolution(void **state) {
    (void)state;
    tk_server *s = start();
    tk_err e = {0};
    char *d = NULL;
    assert_ok(tk_server_model_dir(s, "test/tiny", &d, &e), &e);
    assert_string_equal(d, g_model);
    free(d);
    assert_ok(tk_server_model_dir(s, g_model, &d, &e), &e); /* an absolute path */
    free(d);
    char hub[700];
    snprintf(hub, sizeof hub, "%s/hub", g_dir);
    setenv("HF_HUB_CACHE", hub, 1);
    assert_ok(tk_server_model_dir(s, "org/tiny", &d, &e), &e);
    assert_non_null(strstr(d, "models--org--tiny/snapshots/abc123"));
    free(d);
    assert_ok(tk_server_model_dir(s, "org/norefs", &d, &e), &e); /* one snapshot, no refs/main */
    assert_non_null(strstr(d, "snapshots/r1"));
    free(d);
    assert_err(tk_server_model_dir(s, "org/missing", &d, &e), TK_ENOTFOUND, &e, "served: test/tiny");
    assert_err(tk_server_model_dir(s, "../../etc", &d, &e), TK_ENOTFOUND, &e, "not found");
    assert_err(tk_server_model_dir(s, "/etc", &d, &e), TK_ENOTFOUND, &e, "not found");
    assert_null(d);
    /* the capabilities list got max_context_length from config.json */
    assert_int_equal(s->served.data[0].max_context_length, 48);
    unsetenv("HF_HUB_CACHE");
    tk_server_stop(s);
}

/* A test encoder standing in for the wire layer's ForwardBackwardOutput encoder. */
static int encode(const tk_engine_request *req, const tk_engine_output *out, tk_buf *json, tk_buf *proto, tk_err *e) {
    (void)proto;
    json_t *lp = json_array();
    for (size_t i = 0; i < tk_engine_request_tokens(req); i++) json_array_append_new(lp, json_real(out->logprobs[i]));
    json_t *v = json_pack("{s:{s:f}, s:o}", "metrics", "loss:sum", out->loss_sum, "logprobs", lp);
    int rc = tk_json_dump(v, json);
    json_decref(v);
    return rc ? tk_err_set(e, TK_ENOMEM, "out of memory") : 0;
}

/* A cross-entropy request over tokens 1..n predicting 2..n+1, in its own arena. */
static tk_server_job *fb_job(int n, int32_t bad_token, bool forward_only) {
    tk_arena *a = tk_arena_new(0);
    int32_t *tok = tk_arena_alloc(a, (size_t)n * sizeof *tok);
    int64_t *tgt = tk_arena_alloc(a, (size_t)n * sizeof *tgt);
    float *w = tk_arena_alloc(a, (size_t)n * sizeof *w);
    for (int i = 0; i < n; i++) {
        tok[i] = 1 + i;
        tgt[i] = 2 + i;
        w[i] = 1;
    }
    if (bad_token) tok[n - 1] = bad_token;
    tk_engine_array *in = tk_arena_alloc(a, 2 * sizeof *in);
    in[0] = (tk_engine_array){"target_tokens", TK_ENGINE_I64, tgt, (size_t)n};
    in[1] = (tk_engine_array){"weights", TK_ENGINE_F32, w, (size_t)n};
    tk_engine_datum *d = tk_arena_alloc(a, sizeof *d);
    *d = (tk_engine_datum){TK_ENGINE_I32, tok, (size_t)n, in, 2};
    tk_engine_request req = {"cross_entropy", NULL, 0, d, 1};
    return tk_server_engine_fb_job(a, &req, forward_only, encode);
}

static double submit_fb(tk_server *s, const char *model, int64_t seq, bool forward_only) {
    char rid[TK_SERVER_ID_MAX];
    tk_err e = {0};
    assert_ok(tk_server_submit_train(s, model, seq, 0, fb_job(6, 0, forward_only), rid, &e), &e);
    json_t *v = wait_json(s, rid);
    double loss = json_real_value(json_object_get(json_object_get(v, "metrics"), "loss:sum"));
    assert_int_equal(json_array_size(json_object_get(v, "logprobs")), 6);
    json_decref(v);
    assert_true(isfinite(loss) && loss > 0);
    return loss;
}

static void test_train_loop(void **state) {
    (void)state;
    tk_server *s = start();
    tk_err e = {0};
    char sid[TK_SERVER_ID_MAX], rid[TK_SERVER_ID_MAX], mid[TK_SERVER_ID_MAX + 16];
    assert_ok(tk_server_session_create(s, NULL, NULL, NULL, "test", "tml-x", sid, &e), &e);
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = 4;
    lc.seed = 5;
    tk_server_model_params p = {.base_model = "test/tiny", .is_lora = true, .lora_rank = 4, .train_mlp = true,
                                .train_attn = true, .train_unembed = true};
    assert_ok(tk_server_model_create(s, sid, 0, &p, "tml-x", tk_server_engine_create_job(&lc), rid, &e), &e);
    json_t *v = wait_json(s, rid);
    snprintf(mid, sizeof mid, "%s:train:0", sid);
    assert_string_equal(json_string_value(json_object_get(v, "model_id")), mid);
    json_decref(v);
    /* a second model over the same base: the base is loaded once and shared */
    tk_engine_lora_config lc2 = lc;
    lc2.rank = 2;
    assert_ok(tk_server_model_create(s, sid, 1, &p, "tml-x", tk_server_engine_create_job(&lc2), rid, &e), &e);
    json_decref(wait_json(s, rid));
    tk_server_model *m0 = NULL, *m1 = NULL;
    char mid1[TK_SERVER_ID_MAX + 16];
    snprintf(mid1, sizeof mid1, "%s:train:1", sid);
    assert_ok(tk_server_model_get(s, mid, &m0, &e), &e);
    assert_ok(tk_server_model_get(s, mid1, &m1, &e), &e);
    assert_string_equal(m0->arch, "qwen3");
    assert_ptr_equal(tk_engine_adapter_model(tk_server_engine_adapter(m0)),
                     tk_engine_adapter_model(tk_server_engine_adapter(m1)));

    /* forward_only accumulates nothing; forward_backward + optim_step lower the loss */
    double l0 = submit_fb(s, mid, 1, true);
    assert_int_equal(tk_engine_adapter_pending_tokens(tk_server_engine_adapter(m0)), 0);
    int64_t seq = 2;
    double last = l0;
    tk_engine_adam adam;
    tk_engine_adam_default(&adam);
    adam.learning_rate = 0.05;
    for (int step = 0; step < 5; step++) {
        last = submit_fb(s, mid, seq++, false);
        if (step == 0) assert_true(fabs(last - l0) < 1e-4); /* same weights as the forward */
        assert_ok(tk_server_submit_train(s, mid, seq++, 0, tk_server_engine_optim_job(&adam), rid, &e), &e);
        v = wait_json(s, rid);
        json_t *met = json_object_get(v, "metrics");
        assert_true(json_real_value(json_object_get(met, "grad_norm:mean")) > 0);
        assert_int_equal((int)json_real_value(json_object_get(met, "step:max")), step + 1);
        assert_string_equal(json_string_value(json_object_get(v, "type")), "optim_step");
        json_decref(v);
    }
    double after = submit_fb(s, mid, seq++, true);
    assert_true(after < l0);
    /* the other model's adapter was not touched */
    assert_int_equal(tk_engine_adapter_step(tk_server_engine_adapter(m1)), 0);

    /* a token outside the vocabulary: the request fails as a user error naming it, nothing runs */
    assert_ok(tk_server_submit_train(s, mid, seq++, 0, fb_job(6, 40, false), rid, &e), &e);
    tk_server_future_view fv;
    assert_int_equal(wait_future(s, rid, &fv), TK_SERVER_WAIT_FAILED);
    assert_int_equal(fv.category, TK_SERVER_CAT_USER);
    assert_non_null(strstr(fv.error, "out of range"));
    tk_server_future_view_clear(&fv);
    assert_int_equal(tk_engine_adapter_pending_tokens(tk_server_engine_adapter(m0)), 0);
    /* bad AdamW parameters: a user error too */
    adam.beta1 = 1.5;
    assert_ok(tk_server_submit_train(s, mid, seq++, 0, tk_server_engine_optim_job(&adam), rid, &e), &e);
    assert_int_equal(wait_future(s, rid, &fv), TK_SERVER_WAIT_FAILED);
    assert_int_equal(fv.category, TK_SERVER_CAT_USER);
    tk_server_future_view_clear(&fv);
    tk_server_model_unref(s, m0);
    tk_server_model_unref(s, m1);

    /* unknown base models and bad LoRA configs fail the creation, and the model says why */
    tk_server_model_params bad = p;
    bad.base_model = "nobody/nothing";
    assert_ok(tk_server_model_create(s, sid, 2, &bad, "tml-x", tk_server_engine_create_job(&lc), rid, &e), &e);
    assert_int_equal(wait_future(s, rid, &fv), TK_SERVER_WAIT_FAILED);
    assert_non_null(strstr(fv.error, "not found"));
    tk_server_future_view_clear(&fv);
    tk_engine_lora_config zero = lc;
    zero.rank = 0;
    assert_ok(tk_server_model_create(s, sid, 3, &p, "tml-x", tk_server_engine_create_job(&zero), rid, &e), &e);
    assert_int_equal(wait_future(s, rid, &fv), TK_SERVER_WAIT_FAILED);
    assert_int_equal(fv.category, TK_SERVER_CAT_USER);
    tk_server_future_view_clear(&fv);

    /* unload frees the adapter on the worker; stop frees the rest (ASan checks both) */
    assert_ok(tk_server_model_unload(s, mid1, "test", NULL, rid, &e), &e);
    tk_server_stop(s);
}

int main(void) {
    tk_log_set_level(TK_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolution),
        cmocka_unit_test(test_train_loop),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
