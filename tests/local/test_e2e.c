/* The typed client end to end against the embedded server and engine (a tiny random Qwen3
 * model), issue 8 point 6:
 *   - local mode: create model -> 10 pipelined steps -> save state -> sample -> resume from the
 *     state gives the same next-step losses as continuing (and a weights-only resume does not,
 *     once the optimizer state matters);
 *   - a custom loss whose gradient is cross-entropy's trains exactly like cross_entropy;
 *   - through the fault-injecting proxy at a 20% fault rate, a 50-step run gives exactly the
 *     same per-step losses and the same final adapter and optimizer bytes as without it, and
 *     the server applied each optim_step exactly once (its "step:max" metric, the optimizer's
 *     step counter, is k at step k).
 * The engine is deterministic on one machine (DESIGN.md §3), which is what makes exact equality
 * the right check. */
#include "test_util.h"

#include <math.h>

#include "faultproxy.h"
#include "tinkerc/client.h"
#include "tinkerc/engine.h"
#include "tinkerc/local.h"
#include "tinkerc/server.h"

#define W 120.0
#define VOCAB 40
#define SEQ 12
#define BATCH 4

#define assert_double_equal_(a, b)                                                                 \
    do {                                                                                           \
        double a_ = (a), b_ = (double)(b);                                                         \
        if (a_ != b_) fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);                          \
    } while (0)

static char *g_dir;
static char g_model[700];

static int setup_all(void **state) {
    (void)state;
    g_dir = tk_test_tmpdir();
    tk_engine_config c;
    tk_engine_config_default(&c, TK_ENGINE_ARCH_QWEN3);
    c.vocab_size = VOCAB;
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
    if (tk_engine_model_random(&c, 11, &m, &e) || tk_engine_model_save(m, g_model, TK_ENGINE_F32, &e)) {
        fprintf(stderr, "model: %s\n", e.msg);
        return -1;
    }
    tk_engine_model_free(m);
    unsetenv("TINKER_BASE_URL");
    unsetenv("TINKER_API_KEY");
    unsetenv("TINKER_CREDENTIAL_CMD");
    return 0;
}

static int teardown_all(void **state) {
    (void)state;
    tk_local_unregister();
    tk_err e = {0};
    tk_remove_tree(g_dir, &e);
    free(g_dir);
    return 0;
}

/* ---- data ------------------------------------------------------------------------------------- */

typedef struct batch {
    tk_wire_datum d[BATCH];
    int32_t tok[BATCH][SEQ];
    int64_t tgt[BATCH][SEQ];
    float w[BATCH][SEQ];
    tk_wire_chunk ch[BATCH];
    tk_wire_named_tensor in[BATCH][2];
} batch;

/* A batch drawn from seed: BATCH datums of SEQ positions, the first 3 positions unweighted. */
static void make_batch(batch *b, uint64_t seed) {
    tk_rng r;
    tk_rng_seed(&r, seed);
    for (int d = 0; d < BATCH; d++) {
        int32_t all[SEQ + 1];
        for (int i = 0; i <= SEQ; i++) all[i] = (int32_t)tk_rng_below(&r, VOCAB);
        for (int i = 0; i < SEQ; i++) {
            b->tok[d][i] = all[i];
            b->tgt[d][i] = all[i + 1];
            b->w[d][i] = i < 3 ? 0.0f : 1.0f;
        }
        b->ch[d] = (tk_wire_chunk){.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = b->tok[d],
                                   .n_tokens = SEQ};
        b->in[d][0] = (tk_wire_named_tensor){"target_tokens",
                                             tk_wire_tensor_view_i64(b->tgt[d], SEQ)};
        b->in[d][1] = (tk_wire_named_tensor){"weights", tk_wire_tensor_view_f32(b->w[d], SEQ)};
        b->d[d].model_input = (tk_wire_model_input){&b->ch[d], 1};
        b->d[d].loss_fn_inputs = (tk_wire_tensor_map){b->in[d], 2};
    }
}

static tk_wire_adam_params adam(void) {
    tk_wire_adam_params p;
    tk_wire_init(TK_WIRE_MSG_ADAM_PARAMS, &p);
    p.learning_rate = 0.02;
    return p;
}

static tk_wire_lora_config lora(void) {
    tk_wire_lora_config lc;
    tk_wire_init(TK_WIRE_MSG_LORA_CONFIG, &lc);
    lc.rank = 4;
    lc.has_seed = true;
    lc.seed = 5;
    return lc;
}

static double fb_loss(tk_client_task *t, tk_arena *a) {
    tk_wire_forward_backward_output o;
    tk_err e = {0};
    assert_ok(tk_client_fb_result(t, W, a, &o, &e), &e);
    const double *v = tk_wire_f64_map_get(&o.metrics, "loss:sum");
    if (!v) fail_msg("no loss:sum");
    assert_int_equal(o.n_loss_fn_outputs, BATCH);
    return *v;
}

static double optim_step_count(tk_client_task *t, tk_arena *a) {
    tk_wire_optim_step_response o;
    tk_err e = {0};
    assert_ok(tk_client_optim_result(t, W, a, &o, &e), &e);
    const double *v = tk_wire_f64_map_get(&o.metrics, "step:max");
    if (!v) fail_msg("no step:max in the optim_step result");
    return *v;
}

static tk_client_training *create_model(tk_client_service *s) {
    tk_wire_lora_config lc = lora();
    tk_err e = {0};
    tk_client_task *t = NULL;
    assert_ok(tk_client_service_create_lora_training_client(s, "test/tiny", &lc, NULL, &t, &e), &e);
    tk_client_training *tc = NULL;
    assert_ok(tk_client_training_result(t, W, &tc, &e), &e);
    tk_client_task_release(t);
    return tc;
}

/* One step: forward_backward then optim_step, submitted together; the loss and step count. */
static double step(tk_client_training *tc, const batch *b, tk_arena *a, double *steps) {
    tk_wire_adam_params p = adam();
    tk_err e = {0};
    tk_client_task *fb = NULL, *opt = NULL;
    assert_ok(tk_client_training_forward_backward(tc, b->d, BATCH, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                                  &fb, &e), &e);
    assert_ok(tk_client_training_optim_step(tc, &p, &opt, &e), &e);
    double loss = fb_loss(fb, a);
    double n = optim_step_count(opt, a);
    if (steps) *steps = n;
    tk_client_task_release(fb);
    tk_client_task_release(opt);
    return loss;
}

/* ---- local mode: the end-to-end flow --------------------------------------------------- */

static tk_client_service *open_local(const char *data) {
    tk_server_model_spec ms = {"test/tiny", g_model, 0};
    tk_local_options lo = {.data_dir = data, .models = &ms, .n_models = 1};
    tk_err e = {0};
    assert_ok(tk_local_register(&lo, &e), &e);
    tk_client_service *s = NULL;
    assert_ok(tk_client_service_open(NULL, &s, &e), &e);
    assert_true(tk_client_is_local(tk_client_service_client(s)));
    return s;
}

static void test_local_train_save_sample_resume(void **state) {
    (void)state;
    char data[800];
    snprintf(data, sizeof data, "%s/local", g_dir);
    tk_client_service *s = open_local(data);
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    tk_client_training *tc = create_model(s);
    batch b, next;
    make_batch(&b, 1);
    make_batch(&next, 2);

    /* 10 steps, every request submitted before any result is awaited */
    tk_wire_adam_params p = adam();
    tk_client_task *fb[10], *opt[10];
    for (int k = 0; k < 10; k++) {
        assert_ok(tk_client_training_forward_backward(tc, b.d, BATCH, TK_WIRE_LOSS_CROSS_ENTROPY,
                                                      NULL, &fb[k], &e), &e);
        assert_ok(tk_client_training_optim_step(tc, &p, &opt[k], &e), &e);
    }
    double loss[10];
    for (int k = 0; k < 10; k++) {
        loss[k] = fb_loss(fb[k], a);
        assert_true(isfinite(loss[k]) && loss[k] > 0);
        assert_double_equal_(optim_step_count(opt[k], a), k + 1);
        tk_client_task_release(fb[k]);
        tk_client_task_release(opt[k]);
    }
    assert_true(loss[9] < loss[0]);   /* the same batch ten times: it is being learned */
    assert_int_equal(tk_client_training_last_seq_id(tc), 20);

    /* save the state */
    tk_client_task *sv = NULL;
    assert_ok(tk_client_training_save_state(tc, "after10", 0, &sv, &e), &e);
    tk_wire_save_weights_response svr;
    assert_ok(tk_client_save_result(sv, W, a, &svr, &e), &e);
    char path[300];
    snprintf(path, sizeof path, "%s", svr.path);
    assert_true(!strncmp(path, "tinker://", 9) && strstr(path, "/weights/after10"));
    tk_client_task_release(sv);

    /* sample from the trained weights */
    tk_client_task *st = NULL;
    assert_ok(tk_client_training_save_weights_and_get_sampling_client(tc, &st, &e), &e);
    tk_client_sampling *smp = NULL;
    assert_ok(tk_client_sampling_result(st, W, &smp, &e), &e);
    tk_client_task_release(st);
    tk_wire_sampling_params sp;
    tk_wire_init(TK_WIRE_MSG_SAMPLING_PARAMS, &sp);
    sp.has_max_tokens = true;
    sp.max_tokens = 6;
    sp.has_seed = true;
    sp.seed = 3;
    tk_wire_model_input prompt = {&b.ch[0], 1};
    tk_client_task *sa = NULL, *lp = NULL;
    assert_ok(tk_client_sampling_sample(smp, &prompt, 2, &sp, false, 0, &sa, &e), &e);
    assert_ok(tk_client_sampling_compute_logprobs(smp, &prompt, &lp, &e), &e);
    tk_wire_sample_response sr;
    assert_ok(tk_client_sample_result(sa, W, a, &sr, &e), &e);
    assert_int_equal(sr.n_sequences, 2);
    for (size_t i = 0; i < sr.n_sequences; i++) {
        assert_true(sr.sequences[i].n_tokens >= 1 && sr.sequences[i].n_tokens <= 6);
        for (size_t k = 0; k < sr.sequences[i].n_tokens; k++)
            assert_true(sr.sequences[i].tokens[k] >= 0 && sr.sequences[i].tokens[k] < VOCAB);
        assert_true(sr.sequences[i].has_logprobs);
        assert_int_equal(sr.sequences[i].n_logprobs, sr.sequences[i].n_tokens);
    }
    float *plp = NULL;
    size_t n_plp = 0;
    assert_ok(tk_client_logprobs_result(lp, W, a, &plp, &n_plp, &e), &e);
    assert_int_equal(n_plp, SEQ);
    for (size_t k = 1; k < n_plp; k++) assert_true(plp[k] <= 0 && isfinite(plp[k]));
    tk_client_task_release(sa);
    tk_client_task_release(lp);
    tk_client_sampling_free(smp);

    /* continue: two more steps on the original */
    double c1 = step(tc, &next, a, NULL);
    double c2 = step(tc, &next, a, NULL);

    /* resume from the state, with the optimizer: the same two losses, bit for bit */
    tk_client_task *rt = NULL;
    assert_ok(tk_client_service_create_training_client_from_state_with_optimizer(s, path, &rt, &e),
              &e);
    tk_client_training *rc = NULL;
    assert_ok(tk_client_training_result(rt, W, &rc, &e), &e);
    tk_client_task_release(rt);
    assert_int_equal(tk_client_training_last_seq_id(rc), 1);
    double steps = 0;
    double r1 = step(rc, &next, a, &steps);
    assert_double_equal_(steps, 11);   /* the optimizer's step count came back too */
    double r2 = step(rc, &next, a, NULL);
    assert_true(r1 == c1);
    assert_true(r2 == c2);

    /* weights only: the first loss matches, the second does not (fresh Adam moments) */
    assert_ok(tk_client_service_create_training_client_from_state(s, path, &rt, &e), &e);
    tk_client_training *wo = NULL;
    assert_ok(tk_client_training_result(rt, W, &wo, &e), &e);
    tk_client_task_release(rt);
    double w1 = step(wo, &next, a, NULL);
    double w2 = step(wo, &next, a, NULL);
    assert_true(w1 == c1);
    assert_true(w2 != c2);

    /* REST: the run lists the checkpoint */
    tk_client_task *ls = NULL;
    assert_ok(tk_client_rest_list_checkpoints(s, tk_client_training_model_id(tc), &ls, &e), &e);
    tk_wire_checkpoints_list_response cl;
    assert_ok(tk_client_task_result(ls, W, a, TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE, &cl, &e), &e);
    bool found = false;
    for (size_t i = 0; i < cl.n_checkpoints; i++)
        found = found || !strcmp(cl.checkpoints[i].tinker_path, path);
    assert_true(found);
    tk_client_task_release(ls);
    /* and its archive downloads as a .tar.gz */
    char dest[900];
    snprintf(dest, sizeof dest, "%s/after10.tar.gz", data);
    assert_ok(tk_client_rest_download_checkpoint_archive(s, path, dest, &ls, &e), &e);
    assert_ok(tk_client_task_wait(ls, W, &e), &e);
    tk_client_task_release(ls);
    tk_buf gz = {0};
    assert_ok(tk_file_read(dest, &gz, 0, &e), &e);
    assert_true(gz.len > 100 && (unsigned char)gz.data[0] == 0x1f && (unsigned char)gz.data[1] == 0x8b);
    tk_buf_free(&gz);

    tk_client_training_free(wo);
    tk_client_training_free(rc);
    tk_client_training_free(tc);
    tk_client_service_close(s);
    tk_arena_free(a);
}

/* ---- custom loss == cross_entropy when its gradient is cross_entropy's ------------------------- */

static int ce_as_custom(tk_client_custom_loss_io *io, void *user, tk_err *e) {
    (void)user;
    (void)e;
    double loss = 0;
    for (size_t i = 0; i < io->n; i++) {
        const tk_wire_tensor *w = tk_wire_tensor_map_get(&io->data[i].loss_fn_inputs, "weights");
        for (size_t k = 0; k < io->len[i]; k++) {
            io->grad[i][k] = -w->data.f32[k];   /* d(-sum w lp)/d lp */
            loss += -(double)w->data.f32[k] * io->logprobs[i][k];
        }
    }
    tk_wire_kv_f64 *m = tk_arena_alloc(io->arena, sizeof *m);
    *m = (tk_wire_kv_f64){"custom_loss", loss};
    io->metrics = (tk_wire_f64_map){true, m, 1};
    return 0;
}

static void test_custom_loss_matches_cross_entropy(void **state) {
    (void)state;
    char data[800];
    snprintf(data, sizeof data, "%s/custom", g_dir);
    tk_client_service *s = open_local(data);
    tk_arena *a = tk_arena_new(0);
    tk_err e = {0};
    tk_client_training *ce = create_model(s), *cu = create_model(s);
    batch b;
    make_batch(&b, 7);
    tk_wire_adam_params p = adam();
    for (int k = 0; k < 3; k++) {
        double l_ce = step(ce, &b, a, NULL);
        tk_client_task *t = NULL, *opt = NULL;
        assert_ok(tk_client_training_forward_backward_custom(cu, b.d, BATCH, ce_as_custom, NULL, &t,
                                                             &e), &e);
        assert_ok(tk_client_training_optim_step(cu, &p, &opt, &e), &e);
        tk_wire_forward_backward_output o;
        assert_ok(tk_client_fb_result(t, W, a, &o, &e), &e);
        const double *cl = tk_wire_f64_map_get(&o.metrics, "custom_loss");
        assert_non_null(cl);
        /* the callback's loss is the model's cross-entropy at the same weights */
        assert_true(fabs(*cl - l_ce) <= 1e-4 * fabs(l_ce));
        assert_double_equal_(optim_step_count(opt, a), k + 1);
        tk_client_task_release(t);
        tk_client_task_release(opt);
    }
    /* after three updates the two models agree exactly */
    tk_client_task *f1 = NULL, *f2 = NULL;
    assert_ok(tk_client_training_forward(ce, b.d, BATCH, TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &f1, &e),
              &e);
    assert_ok(tk_client_training_forward(cu, b.d, BATCH, TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &f2, &e),
              &e);
    assert_true(fb_loss(f1, a) == fb_loss(f2, a));
    tk_client_task_release(f1);
    tk_client_task_release(f2);
    assert_int_equal(tk_client_training_last_seq_id(cu), 3 * 3 + 1);
    tk_client_training_free(ce);
    tk_client_training_free(cu);
    tk_client_service_close(s);
    tk_arena_free(a);
}

/* ---- through the fault-injecting proxy ----------------------------------------------------------- */

#define STEPS 50

typedef struct run_result {
    double loss[STEPS];
    char model_id[200];
    int attempts_seen;
} run_result;

static void run_50(const char *url, run_result *out) {
    tk_client_service_options o;
    tk_client_service_options_init(&o);
    o.client.base_url = url;
    o.client.api_key = "tml-e2e";
    o.client.retry_time_scale = 0.01;
    o.client.seed = 3;
    tk_client_service *s = NULL;
    tk_err e = {0};
    assert_ok(tk_client_service_open(&o, &s, &e), &e);
    tk_client_training *tc = create_model(s);
    snprintf(out->model_id, sizeof out->model_id, "%s", tk_client_training_model_id(tc));
    tk_arena *a = tk_arena_new(0);
    for (int k = 0; k < STEPS; k++) {
        batch b;
        make_batch(&b, 100 + (uint64_t)(k % 5));
        double steps = 0;
        out->loss[k] = step(tc, &b, a, &steps);
        assert_double_equal_(steps, k + 1);   /* each optim_step applied exactly once */
        tk_arena_reset(a);
    }
    tk_client_task *sv = NULL;
    assert_ok(tk_client_training_save_state(tc, "final", 0, &sv, &e), &e);
    assert_ok(tk_client_task_wait(sv, W, &e), &e);
    tk_client_task_release(sv);
    tk_arena_free(a);
    tk_client_training_free(tc);
    tk_client_service_close(s);
}

static void read_payload(const char *data, const char *model, const char *file, tk_buf *out) {
    char p[1200];
    snprintf(p, sizeof p, "%s/runs/%s/weights/final/payload/%s", data, model, file);
    tk_err e = {0};
    assert_ok(tk_file_read(p, out, 0, &e), &e);
    assert_true(out->len > 0);
}

static void test_fault_proxy_50_steps(void **state) {
    (void)state;
    char data[800];
    snprintf(data, sizeof data, "%s/proxy", g_dir);
    tk_server_config c;
    tk_server_config_init(&c);
    tk_server_model_spec ms = {"test/tiny", g_model, 0};
    c.data_dir = data;
    c.models = &ms;
    c.n_models = 1;
    tk_server *srv = NULL;
    tk_err e = {0};
    assert_ok(tk_server_start(&c, &srv, &e), &e);

    run_result direct, faulty;
    memset(&direct, 0, sizeof direct);
    memset(&faulty, 0, sizeof faulty);
    run_50(tk_server_url(srv), &direct);

    tk_faultproxy_config pc;
    tk_faultproxy_config_uniform(&pc, "127.0.0.1", tk_server_port(srv), 0.2, 2026);
    tk_faultproxy *px = NULL;
    assert_ok(tk_faultproxy_start(&pc, &px, &e), &e);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", tk_faultproxy_port(px));
    run_50(url, &faulty);
    tk_faultproxy_stats st = tk_faultproxy_get_stats(px);
    tk_faultproxy_stop(px);
    printf("fault proxy: %lld requests, %lld faults (drop_request %lld, drop_response %lld, "
           "status %lld, truncate %lld, reset %lld), %lld delays\n", (long long)st.requests,
           (long long)tk_faultproxy_faults(&st), (long long)st.drop_request,
           (long long)st.drop_response,
           (long long)(st.status_500 + st.status_503 + st.status_429 + st.status_408),
           (long long)st.truncate, (long long)st.reset, (long long)st.delay);
    assert_true(tk_faultproxy_faults(&st) >= 20);   /* the run really went through faults */
    assert_true(st.drop_response > 0);              /* including answers lost after the work */

    for (int k = 0; k < STEPS; k++)
        if (direct.loss[k] != faulty.loss[k])
            fail_msg("step %d: loss %.17g without faults, %.17g with", k, direct.loss[k],
                     faulty.loss[k]);
    assert_true(direct.loss[STEPS - 1] < direct.loss[0]);
    const char *files[] = {"adapter_model.safetensors", "optimizer.safetensors"};
    for (int i = 0; i < 2; i++) {
        tk_buf x = {0}, y = {0};
        read_payload(data, direct.model_id, files[i], &x);
        read_payload(data, faulty.model_id, files[i], &y);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.data, y.data, x.len);
        tk_buf_free(&x);
        tk_buf_free(&y);
    }
    tk_server_stop(srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_train_save_sample_resume),
        cmocka_unit_test(test_custom_loss_matches_cross_entropy),
        cmocka_unit_test(test_fault_proxy_50_steps),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
