/* The typed SDK against a fake Tinker service (fake_tinker.h): the service bootstrap, seq_id
 * counters (§8.4), chunked forward_backward with the first chunk POSTed last and merged results,
 * the encoding decision, pipelining, custom losses (§6.8), the weights calls, create-from-state
 * (§9), sampling with back-pressure and 410 re-submission (§3.6, §8.1), and bad input. Expected
 * values come from the protocol reference's rules and the fake's published result rules. */
#include "client_test_util.h"

#include <math.h>

#include "fake_tinker.h"
#include "tinkerc/tokenizer.h"

#define W 30.0   /* generous wait limit */

/* this cmocka has no floating-point asserts */
#define assert_double_equal(a, b, eps)                                                             \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);        \
    } while (0)
#undef assert_float_equal
#define assert_float_equal(a, b, eps) assert_double_equal((double)(a), (double)(b), (eps))

typedef struct fixture {
    fake_tinker *f;
    tk_client_service *s;
    tk_arena *a;
} fixture;

static int setup(void **state) {
    fixture *x = calloc(1, sizeof *x);
    x->f = fake_start();
    x->a = tk_arena_new(0);
    *state = x;
    return x->f ? 0 : -1;
}

static int teardown(void **state) {
    fixture *x = *state;
    tk_client_service_close(x->s);
    fake_stop(x->f);
    tk_arena_free(x->a);
    free(x);
    return 0;
}

static tk_client_training *new_training(fixture *x) {
    tk_err e = {0};
    tk_client_task *t = NULL;
    assert_ok(tk_client_service_create_lora_training_client(x->s, "fake/base", NULL, NULL, &t, &e),
              &e);
    tk_client_training *tc = NULL;
    assert_ok(tk_client_training_result(t, W, &tc, &e), &e);
    tk_client_task_release(t);
    return tc;
}

/* n datums; datum d has tokens [d*10 .. d*10+len), targets shifted by one, weights 1. */
typedef struct batch {
    tk_wire_datum *d;
    size_t n;
} batch;

static batch make_batch(tk_arena *a, size_t n, size_t len, bool with_weights) {
    batch b = {tk_arena_zalloc(a, n * sizeof *b.d), n};
    for (size_t d = 0; d < n; d++) {
        int32_t *tok = tk_arena_alloc(a, len * sizeof *tok);
        int64_t *tgt = tk_arena_alloc(a, len * sizeof *tgt);
        float *w = tk_arena_alloc(a, len * sizeof *w);
        for (size_t i = 0; i < len; i++) {
            tok[i] = (int32_t)(d * 10 + i);
            tgt[i] = (int64_t)(d * 10 + i + 1);
            w[i] = 1.0f;
        }
        tk_wire_chunk *c = tk_arena_zalloc(a, sizeof *c);
        c->type = TK_WIRE_CHUNK_ENCODED_TEXT;
        c->tokens = tok;
        c->n_tokens = len;
        b.d[d].model_input.chunks = c;
        b.d[d].model_input.n_chunks = 1;
        tk_wire_named_tensor *it = tk_arena_zalloc(a, 2 * sizeof *it);
        it[0].name = "target_tokens";
        it[0].tensor = tk_wire_tensor_view_i64(tgt, len);
        it[1].name = "weights";
        it[1].tensor = tk_wire_tensor_view_f32(w, len);
        b.d[d].loss_fn_inputs.items = it;
        b.d[d].loss_fn_inputs.n = with_weights ? 2 : 1;
    }
    return b;
}

static double expected_loss(const batch *b) {
    double loss = 0;
    for (size_t d = 0; d < b->n; d++) {
        const tk_wire_tensor *tt = &b->d[d].loss_fn_inputs.items[0].tensor;
        for (size_t i = 0; i < tt->n; i++) loss += -(double)fake_logprob(tt->data.i64[i], i);
    }
    return loss;
}

static double metric(const tk_wire_f64_map *m, const char *k) {
    const double *v = tk_wire_f64_map_get(m, k);
    if (!v) fail_msg("metric %s missing", k);
    return *v;
}

/* ---- bootstrap --------------------------------------------------------------------------------- */

static void test_open_bootstrap(void **state) {
    fixture *x = *state;
    setenv("TINKER_TAGS", "a, b", 1);
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    unsetenv("TINKER_TAGS");
    assert_non_null(x->s);
    assert_string_equal(tk_client_service_session_id(x->s), "fake");
    assert_true(tk_client_service_uses_protobuf(x->s));   /* 0.25: protobuf unless told */
    assert_int_equal(tk_client_service_config(x->s)->fwdbwd_max_chunk_len, 1024);
    const tk_mock_request *cs = tk_mock_get_route(x->f->m, "POST", "/api/v1/create_session", 0);
    assert_non_null(cs);
    json_t *j = json_loadb((const char *)cs->body, cs->body_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "create_session");
    assert_true(json_is_object(json_object_get(j, "user_metadata")));
    assert_int_equal(json_array_size(json_object_get(j, "tags")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "tags"), 1)), "b");
    json_decref(j);
    /* client/config came first, heartbeats follow the session */
    assert_string_equal(tk_mock_get(x->f->m, 0)->path, "/api/v1/client/config");
    for (int i = 0; i < 200 && !tk_mock_count(x->f->m, "POST", "/api/v1/session_heartbeat"); i++)
        tk_sleep_ms(10);
    const tk_mock_request *hb = tk_mock_get_route(x->f->m, "POST", "/api/v1/session_heartbeat", 0);
    assert_non_null(hb);
    assert_true(strstr((const char *)hb->body, "\"session_id\":\"fake\"") != NULL);
}

static void test_encoding_decision(void **state) {
    fixture *x = *state;
    /* a server that says proto_write_fwdbwd=false gets JSON */
    snprintf(x->f->config, sizeof x->f->config, "{\"proto_write_fwdbwd\":false}");
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    assert_false(tk_client_service_uses_protobuf(x->s));
    tk_client_service_close(x->s);
    /* the option wins over the server */
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_PROTOBUF);
    assert_true(tk_client_service_uses_protobuf(x->s));
    tk_client_service_close(x->s);
    snprintf(x->f->config, sizeof x->f->config, "{}");
    setenv("TINKERC_FWDBWD_ENCODING", "json", 1);
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    unsetenv("TINKERC_FWDBWD_ENCODING");
    assert_false(tk_client_service_uses_protobuf(x->s));
}

static void test_config_404_fails_open(void **state) {
    fixture *x = *state;
    tk_mock_push_json(x->f->m, "POST", "/api/v1/client/config", 404, "{\"detail\":\"nope\"}");
    tk_client_service_options o;
    tk_client_service_options_init(&o);
    o.client.base_url = tk_mock_url(x->f->m);
    o.client.retry_time_scale = 0.001;
    tk_client_service *s = NULL;
    tk_err e = {0};
    assert_err(tk_client_service_open(&o, &s, &e), TK_EHTTP, &e, "client/config");
    assert_null(s);
}

/* ---- training ---------------------------------------------------------------------------------- */

static void test_create_model_counters(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *a = new_training(x);
    tk_client_training *b = new_training(x);
    assert_string_equal(tk_client_training_model_id(a), "fake:train:0");
    assert_string_equal(tk_client_training_model_id(b), "fake:train:1");
    assert_string_equal(tk_client_training_base_model(a), "fake/base");
    assert_int_equal(tk_client_training_last_seq_id(a), 0);
    fake_submit s;
    assert_true(fake_get(x->f, "/api/v1/create_model", 0, &s));
    json_t *j = json_loadb((const char *)s.body, s.body_len, 0, NULL);
    json_t *lc = json_object_get(j, "lora_config");
    assert_int_equal(json_integer_value(json_object_get(lc, "rank")), 32);
    assert_true(json_is_true(json_object_get(lc, "train_unembed")));
    json_decref(j);
    /* the client is handed over once */
    tk_err e = {0};
    tk_client_task *t = NULL;
    assert_ok(tk_client_service_create_lora_training_client(x->s, "fake/base", NULL, NULL, &t, &e),
              &e);
    tk_client_training *c = NULL, *c2 = NULL;
    assert_ok(tk_client_training_result(t, W, &c, &e), &e);
    assert_err(tk_client_training_result(t, W, &c2, &e), TK_ESTATE, &e, "handed over");
    tk_wire_lora_config bad;
    tk_wire_init(TK_WIRE_MSG_LORA_CONFIG, &bad);
    bad.train_mlp = bad.train_attn = bad.train_unembed = false;
    tk_client_task *t2 = NULL;
    assert_err(tk_client_service_create_lora_training_client(x->s, "m", &bad, NULL, &t2, &e),
               TK_EINVAL, &e, "train_mlp");
    tk_client_task_release(t);
    tk_client_training_free(a);
    tk_client_training_free(b);
    tk_client_training_free(c);
}

/* forward_backward and optim_step submitted before either is awaited (§8.5). */
static void test_pipelined_step(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    batch b = make_batch(x->a, 3, 5, true);
    tk_err e = {0};
    tk_client_task *fb = NULL, *opt = NULL;
    assert_ok(tk_client_training_forward_backward(tc, b.d, b.n, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                                  &fb, &e), &e);
    tk_wire_adam_params p;
    tk_wire_init(TK_WIRE_MSG_ADAM_PARAMS, &p);
    p.learning_rate = 0.5;
    assert_ok(tk_client_training_optim_step(tc, &p, &opt, &e), &e);
    assert_false(tk_client_task_done(opt) && !tk_client_task_done(fb) && 0);
    tk_wire_optim_step_response os;
    assert_ok(tk_client_optim_result(opt, W, x->a, &os, &e), &e);
    tk_wire_forward_backward_output out;
    assert_ok(tk_client_fb_result(fb, W, x->a, &out, &e), &e);
    assert_int_equal(out.n_loss_fn_outputs, 3);
    assert_double_equal(metric(&out.metrics, "loss:sum"), expected_loss(&b), 1e-4);
    assert_double_equal(metric(&out.metrics, "tokens:sum"), 15, 0);
    assert_double_equal(metric(&os.metrics, "seq:max"), 2, 0);
    const tk_wire_tensor *lp = tk_wire_tensor_map_get(&out.loss_fn_outputs[2], "logprobs");
    assert_non_null(lp);
    assert_int_equal(lp->n, 5);
    assert_float_equal(lp->data.f32[4], fake_logprob(25, 4), 0);
    fake_submit s1, s2;
    assert_true(fake_get(x->f, "/api/v1/forward_backward", 0, &s1));
    assert_true(fake_get(x->f, "/api/v1/optim_step", 0, &s2));
    assert_int_equal(s1.seq, 1);
    assert_int_equal(s2.seq, 2);
    assert_true(s1.index < s2.index);
    assert_true(s1.proto);
    json_t *j = json_loadb((const char *)s2.body, s2.body_len, 0, NULL);
    assert_double_equal(json_real_value(json_object_get(json_object_get(j, "adam_params"),
                                                        "learning_rate")), 0.5, 0);
    json_decref(j);
    /* the polls asked for protobuf and named the request type */
    bool saw = false;
    for (size_t i = 0; i < tk_mock_count(x->f->m, NULL, NULL); i++) {
        const tk_mock_request *r = tk_mock_get(x->f->m, i);
        const char *rt = tk_mock_req_header(r, "X-Tinker-Request-Type");
        if (rt && !strcmp(rt, "ForwardBackward")) {
            assert_string_equal(tk_mock_req_header(r, "Accept"),
                                "application/x-protobuf, application/json");
            saw = true;
        }
    }
    assert_true(saw);
    assert_int_equal(tk_client_training_last_seq_id(tc), 2);
    tk_client_task_release(fb);
    tk_client_task_release(opt);
    tk_client_training_free(tc);
}

static void check_chunking(fixture *x, size_t n, size_t len, size_t want_chunks,
                           const size_t *want_sizes) {
    tk_client_training *tc = new_training(x);
    batch b = make_batch(x->a, n, len, true);
    tk_err e = {0};
    tk_client_task *fb = NULL;
    size_t before = fake_count(x->f, "/api/v1/forward_backward");
    assert_ok(tk_client_training_forward_backward(tc, b.d, b.n, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                                  &fb, &e), &e);
    tk_wire_forward_backward_output out;
    assert_ok(tk_client_fb_result(fb, W, x->a, &out, &e), &e);
    assert_int_equal(fake_count(x->f, "/api/v1/forward_backward") - before, want_chunks);
    /* chunk k carries seq_id k+1 and want_sizes[k] datums; chunk 0 arrives after every other */
    tk_arena *a = tk_arena_new(0);
    int64_t first_index = -1, max_other = -1;
    for (size_t k = 0; k < want_chunks; k++) {
        fake_submit s;
        assert_true(fake_get(x->f, "/api/v1/forward_backward", before + k, &s));
        tk_wire_forward_backward_request r;
        assert_ok(tk_wire_proto_decode_forward_backward_request(s.body, s.body_len, a, &r, &e), &e);
        size_t chunk = (size_t)(r.seq_id - 1);
        assert_true(chunk < want_chunks);
        assert_int_equal(r.input.n_data, want_sizes[chunk]);
        if (chunk == 0) first_index = s.index;
        else if (s.index > max_other) max_other = s.index;
    }
    tk_arena_free(a);
    assert_true(first_index > max_other);
    /* results in datum order; sums add, means weight by datum count */
    assert_int_equal(out.n_loss_fn_outputs, n);
    for (size_t d = 0; d < n; d++) {
        const tk_wire_tensor *lp = tk_wire_tensor_map_get(&out.loss_fn_outputs[d], "logprobs");
        assert_float_equal(lp->data.f32[0], fake_logprob((int64_t)(d * 10 + 1), 0), 0);
    }
    assert_double_equal(metric(&out.metrics, "loss:sum"), expected_loss(&b), 1e-3);
    double mean = 0;
    for (size_t k = 0; k < want_chunks; k++) mean += (double)(k + 1) * (double)want_sizes[k];
    assert_double_equal(metric(&out.metrics, "seq:mean"), mean / (double)n, 1e-12);
    assert_int_equal(tk_client_training_last_seq_id(tc), (int64_t)want_chunks);
    tk_client_task_release(fb);
    tk_client_training_free(tc);
}

static void test_chunking_by_count(void **state) {
    fixture *x = *state;
    snprintf(x->f->config, sizeof x->f->config, "{\"fwdbwd_max_chunk_len\":2}");
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    size_t sizes[] = {2, 2, 1};
    check_chunking(x, 5, 4, 3, sizes);
}

static void test_chunking_by_bytes(void **state) {
    fixture *x = *state;
    /* each datum of 4 tokens is estimated at 4*10 + 2*4*10 = 120 bytes: 250 fits two */
    snprintf(x->f->config, sizeof x->f->config, "{\"fwdbwd_max_chunk_bytes_count\":250}");
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    size_t sizes[] = {2, 2, 2, 1};
    check_chunking(x, 7, 4, 4, sizes);
}

static void test_chunking_default_1024(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    size_t sizes[] = {1024, 1};
    check_chunking(x, 1025, 2, 2, sizes);
}

static void test_json_forward(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_JSON);
    tk_client_training *tc = new_training(x);
    batch b = make_batch(x->a, 2, 3, true);
    tk_err e = {0};
    tk_client_task *fw = NULL, *fb = NULL;
    assert_ok(tk_client_training_forward(tc, b.d, b.n, TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &fw, &e),
              &e);
    assert_ok(tk_client_training_forward_backward(tc, b.d, b.n, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                                  &fb, &e), &e);
    tk_wire_forward_backward_output o1, o2;
    assert_ok(tk_client_fb_result(fw, W, x->a, &o1, &e), &e);
    assert_ok(tk_client_fb_result(fb, W, x->a, &o2, &e), &e);
    assert_double_equal(metric(&o1.metrics, "loss:sum"), metric(&o2.metrics, "loss:sum"), 0);
    fake_submit s;
    assert_true(fake_get(x->f, "/api/v1/forward", 0, &s));
    assert_false(s.proto);
    assert_int_equal(s.seq, 1);
    json_t *j = json_loadb((const char *)s.body, s.body_len, 0, NULL);
    assert_non_null(json_object_get(j, "forward_input"));
    json_decref(j);
    assert_true(fake_get(x->f, "/api/v1/forward_backward", 0, &s));
    assert_int_equal(s.seq, 2);
    assert_string_equal(s.content_type, "application/json");
    tk_client_task_release(fw);
    tk_client_task_release(fb);
    tk_client_training_free(tc);
}

static void test_proto_forward_only(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    batch b = make_batch(x->a, 1, 3, true);
    tk_err e = {0};
    tk_client_task *fw = NULL;
    assert_ok(tk_client_training_forward(tc, b.d, b.n, TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &fw, &e),
              &e);
    assert_ok(tk_client_task_wait(fw, W, &e), &e);
    assert_int_equal(fake_count(x->f, "/api/v1/forward"), 0);
    fake_submit s;
    assert_true(fake_get(x->f, "/api/v1/forward_backward", 0, &s));
    tk_wire_forward_backward_request r;
    assert_ok(tk_wire_proto_decode_forward_backward_request(s.body, s.body_len, x->a, &r, &e), &e);
    assert_true(r.forward_only);
    tk_client_task_release(fw);
    tk_client_training_free(tc);
}

/* Several threads submitting to one training client: the server sees seq_ids in order. */
typedef struct submitter {
    tk_client_training *tc;
    tk_client_task *tasks[10];
} submitter;

static void *submit_many(void *arg) {
    submitter *sb = arg;
    tk_err e = {0};
    for (int i = 0; i < 10; i++)
        if (tk_client_training_optim_step(sb->tc, NULL, &sb->tasks[i], &e)) sb->tasks[i] = NULL;
    return NULL;
}

static void test_threads_keep_seq_order(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    submitter sb[4];
    tk_thread th[4];
    tk_err e = {0};
    for (int i = 0; i < 4; i++) {
        sb[i].tc = tc;
        assert_ok(tk_thread_start(&th[i], submit_many, &sb[i], &e), &e);
    }
    for (int i = 0; i < 4; i++) tk_thread_join(&th[i]);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 10; k++) {
            assert_non_null(sb[i].tasks[k]);
            assert_ok(tk_client_task_wait(sb[i].tasks[k], W, &e), &e);
            tk_client_task_release(sb[i].tasks[k]);
        }
    assert_int_equal(fake_count(x->f, "/api/v1/optim_step"), 40);
    for (size_t k = 0; k < 40; k++) {   /* fake_get returns them in arrival order */
        fake_submit s;
        assert_true(fake_get(x->f, "/api/v1/optim_step", k, &s));
        assert_int_equal(s.seq, (int64_t)k + 1);
    }
    tk_client_training_free(tc);
}

/* ---- custom losses ----------------------------------------------------------------------------- */

/* loss = sum over positions of lp^2: d loss / d lp = 2 lp. */
static int square_loss(tk_client_custom_loss_io *io, void *user, tk_err *e) {
    int *calls = user;
    (*calls)++;
    double loss = 0;
    for (size_t i = 0; i < io->n; i++)
        for (size_t k = 0; k < io->len[i]; k++) {
            io->grad[i][k] = 2.0f * io->logprobs[i][k];
            loss += (double)io->logprobs[i][k] * io->logprobs[i][k];
        }
    tk_wire_kv_f64 *m = tk_arena_alloc(io->arena, sizeof *m);
    m->key = "custom_loss";
    m->value = loss;
    io->metrics.items = m;
    io->metrics.n = 1;
    io->metrics.present = true;
    (void)e;
    return 0;
}

static int failing_loss(tk_client_custom_loss_io *io, void *user, tk_err *e) {
    (void)io;
    (void)user;
    return tk_err_set(e, TK_EINVAL, "the loss is not defined here");
}

static void second_pass_weights(fixture *x, size_t k, tk_wire_forward_backward_request *r) {
    fake_submit s;
    assert_true(fake_get(x->f, "/api/v1/forward_backward", k, &s));
    tk_err e = {0};
    assert_ok(tk_wire_proto_decode_forward_backward_request(s.body, s.body_len, x->a, r, &e), &e);
}

static void test_custom_loss(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    batch b = make_batch(x->a, 2, 4, false);   /* no weights: allowed, zeros in the forward */
    tk_err e = {0};
    int calls = 0;
    tk_client_task *cu = NULL, *opt = NULL;
    assert_ok(tk_client_training_forward_backward_custom(tc, b.d, b.n, square_loss, &calls, &cu,
                                                         &e), &e);
    /* submitted before the callback ran: must reach the server after the second pass */
    assert_ok(tk_client_training_optim_step(tc, NULL, &opt, &e), &e);
    tk_wire_forward_backward_output out;
    assert_ok(tk_client_fb_result(cu, W, x->a, &out, &e), &e);
    tk_wire_optim_step_response os;
    assert_ok(tk_client_optim_result(opt, W, x->a, &os, &e), &e);
    assert_int_equal(calls, 1);
    /* forward_only pass seq 1, second pass seq 2 with weights -2 lp, optim seq 3 */
    tk_wire_forward_backward_request r1, r2;
    second_pass_weights(x, 0, &r1);
    second_pass_weights(x, 1, &r2);
    assert_true(r1.forward_only);
    assert_int_equal(r1.seq_id, 1);
    assert_false(r2.forward_only);
    assert_int_equal(r2.seq_id, 2);
    double custom = 0;
    for (size_t d = 0; d < 2; d++) {
        const tk_wire_tensor *w = tk_wire_tensor_map_get(&r2.input.data[d].loss_fn_inputs,
                                                         "weights");
        const tk_wire_tensor *w1 = tk_wire_tensor_map_get(&r1.input.data[d].loss_fn_inputs,
                                                          "weights");
        for (size_t i = 0; i < 4; i++) {
            float lp = fake_logprob((int64_t)(d * 10 + i + 1), i);
            assert_float_equal(w->data.f32[i], -2.0f * lp, 0);
            assert_float_equal(w1->data.f32[i], 0.0f, 0);
            custom += (double)lp * lp;
        }
    }
    fake_submit so, s2;
    assert_true(fake_get(x->f, "/api/v1/optim_step", 0, &so));
    assert_true(fake_get(x->f, "/api/v1/forward_backward", 1, &s2));
    assert_int_equal(so.seq, 3);
    assert_true(so.index > s2.index);
    assert_double_equal(metric(&out.metrics, "custom_loss"), custom, 1e-6);
    assert_true(tk_wire_f64_map_get(&out.metrics, "loss:sum") != NULL);
    assert_int_equal(out.n_loss_fn_outputs, 2);
    tk_client_task_release(cu);
    tk_client_task_release(opt);
    tk_client_training_free(tc);
}

static void test_custom_loss_failure_fills_gap(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    batch b = make_batch(x->a, 1, 3, true);
    tk_err e = {0};
    tk_client_task *cu = NULL, *opt = NULL;
    assert_ok(tk_client_training_forward_backward_custom(tc, b.d, b.n, failing_loss, NULL, &cu,
                                                         &e), &e);
    assert_ok(tk_client_training_optim_step(tc, NULL, &opt, &e), &e);
    tk_wire_forward_backward_output out;
    assert_err(tk_client_fb_result(cu, W, x->a, &out, &e), TK_EINVAL, &e, "not defined here");
    assert_ok(tk_client_task_wait(opt, W, &e), &e);
    tk_wire_forward_backward_request r2;
    second_pass_weights(x, 1, &r2);
    assert_int_equal(r2.seq_id, 2);
    const tk_wire_tensor *w = tk_wire_tensor_map_get(&r2.input.data[0].loss_fn_inputs, "weights");
    for (size_t i = 0; i < 3; i++) assert_float_equal(w->data.f32[i], 0.0f, 0);
    fake_submit so;
    assert_true(fake_get(x->f, "/api/v1/optim_step", 0, &so));
    assert_int_equal(so.seq, 3);
    tk_client_task_release(cu);
    tk_client_task_release(opt);
    tk_client_training_free(tc);
}

static void test_custom_loss_bad_input(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    batch b = make_batch(x->a, 2, 3, true);
    b.d[1].loss_fn_inputs.items[1].name = "advantages";
    tk_err e = {0};
    tk_client_task *cu = NULL;
    int calls = 0;
    assert_err(tk_client_training_forward_backward_custom(tc, b.d, b.n, square_loss, &calls, &cu,
                                                          &e), TK_EINVAL, &e,
               "data[1].loss_fn_inputs.advantages");
    b.d[1].loss_fn_inputs.items[1].name = "weights";
    b.d[1].loss_fn_inputs.items[0].tensor.n = 2;
    b.d[1].loss_fn_inputs.items[0].tensor.shape[0] = 2;
    assert_err(tk_client_training_forward_backward_custom(tc, b.d, b.n, square_loss, &calls, &cu,
                                                          &e), TK_EINVAL, &e,
               "data[1].loss_fn_inputs.target_tokens");
    assert_null(cu);
    assert_int_equal(tk_client_training_last_seq_id(tc), 0);   /* nothing taken */
    tk_client_training_free(tc);
}

/* ---- weights, state --------------------------------------------------------------------------- */

static void test_weights_calls(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    tk_err e = {0};
    tk_client_task *sv = NULL, *ld = NULL, *sw = NULL, *sc = NULL;
    assert_ok(tk_client_training_save_state(tc, "step-1", 3600, &sv, &e), &e);
    assert_ok(tk_client_training_load_state_with_optimizer(tc, "tinker://fake:train:0/weights/step-1",
                                                           &ld, &e), &e);
    assert_ok(tk_client_training_save_weights_for_sampler(tc, "s1", 0, &sw, &e), &e);
    assert_ok(tk_client_training_save_weights_and_get_sampling_client(tc, &sc, &e), &e);
    tk_wire_save_weights_response svr;
    assert_ok(tk_client_save_result(sv, W, x->a, &svr, &e), &e);
    assert_string_equal(svr.path, "tinker://fake:train:0/weights/step-1");
    tk_wire_load_weights_response ldr;
    assert_ok(tk_client_load_result(ld, W, x->a, &ldr, &e), &e);
    tk_wire_save_weights_for_sampler_response swr;
    assert_ok(tk_client_sampler_save_result(sw, W, x->a, &swr, &e), &e);
    assert_string_equal(swr.path, "tinker://fake:train:0/sampler_weights/s1");
    tk_client_sampling *smp = NULL;
    assert_ok(tk_client_sampling_result(sc, W, &smp, &e), &e);
    assert_string_equal(tk_client_sampling_session_id(smp), "fake:sample:0");
    /* seq_ids 1..4 in order; save_weights carried its TTL; the load asked for the optimizer */
    const char *paths[] = {"/api/v1/save_weights", "/api/v1/load_weights",
                           "/api/v1/save_weights_for_sampler", "/api/v1/save_weights_for_sampler"};
    size_t nth[] = {0, 0, 0, 1};
    int64_t last_index = -1;
    for (int i = 0; i < 4; i++) {
        fake_submit s;
        assert_true(fake_get(x->f, paths[i], nth[i], &s));
        assert_int_equal(s.seq, i + 1);
        assert_true(s.index > last_index);
        last_index = s.index;
        json_t *j = json_loadb((const char *)s.body, s.body_len, 0, NULL);
        if (i == 0) assert_int_equal(json_integer_value(json_object_get(j, "ttl_seconds")), 3600);
        if (i == 1) assert_true(json_is_true(json_object_get(j, "optimizer")));
        if (i == 3) {
            assert_null(json_object_get(j, "path"));
            assert_int_equal(json_integer_value(json_object_get(j, "sampling_session_seq_id")), 0);
        }
        json_decref(j);
    }
    /* wrong kinds of results and bad paths */
    tk_wire_optim_step_response os;
    assert_err(tk_client_optim_result(sv, W, x->a, &os, &e), TK_EINVAL, &e, "save_state task");
    tk_client_task *bad = NULL;
    assert_err(tk_client_training_load_state(tc, "tinker://run/sampler_weights/x", &bad, &e),
               TK_EINVAL, &e, "sampler weights");
    assert_err(tk_client_training_load_state(tc, "s3://x", &bad, &e), TK_EINVAL, &e, "load_state");
    assert_err(tk_client_training_save_state(tc, "a/b", 0, &bad, &e), TK_EINVAL, &e, "'/'");
    tk_client_task *info = NULL;
    assert_ok(tk_client_training_get_info(tc, &info, &e), &e);
    tk_wire_get_info_response gi;
    assert_ok(tk_client_task_result(info, W, x->a, TK_WIRE_MSG_GET_INFO_RESPONSE, &gi, &e), &e);
    assert_string_equal(gi.model_data.tokenizer_id, "fake/tok:v1");
    assert_int_equal(tk_client_training_last_seq_id(tc), 4);   /* get_info takes no seq_id */
    tk_client_task_release(info);
    tk_client_sampling_free(smp);
    tk_client_task_release(sv);
    tk_client_task_release(ld);
    tk_client_task_release(sw);
    tk_client_task_release(sc);
    tk_client_training_free(tc);
}

static void test_from_state(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_err e = {0};
    tk_client_task *t = NULL;
    assert_ok(tk_client_service_create_training_client_from_state_with_optimizer(
                  x->s, "tinker://fake:train:9/weights/w", &t, &e), &e);
    tk_client_training *tc = NULL;
    assert_ok(tk_client_training_result(t, W, &tc, &e), &e);
    assert_string_equal(tk_client_training_base_model(tc), "fake/base");
    assert_int_equal(tk_client_training_last_seq_id(tc), 1);
    fake_submit cm, lw;
    assert_true(fake_get(x->f, "/api/v1/create_model", 0, &cm));
    assert_true(fake_get(x->f, "/api/v1/load_weights", 0, &lw));
    assert_true(cm.index < lw.index);
    json_t *j = json_loadb((const char *)cm.body, cm.body_len, 0, NULL);
    json_t *lc = json_object_get(j, "lora_config");
    assert_int_equal(json_integer_value(json_object_get(lc, "rank")), 8);
    assert_true(json_is_false(json_object_get(lc, "train_unembed")));
    assert_string_equal(json_string_value(json_object_get(j, "base_model")), "fake/base");
    json_decref(j);
    j = json_loadb((const char *)lw.body, lw.body_len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "seq_id")), 1);
    assert_true(json_is_true(json_object_get(j, "optimizer")));
    assert_string_equal(json_string_value(json_object_get(j, "model_id")), "fake:train:0");
    json_decref(j);
    /* the next request continues at seq_id 2 */
    tk_client_task *opt = NULL;
    assert_ok(tk_client_training_optim_step(tc, NULL, &opt, &e), &e);
    assert_ok(tk_client_task_wait(opt, W, &e), &e);
    fake_submit so;
    assert_true(fake_get(x->f, "/api/v1/optim_step", 0, &so));
    assert_int_equal(so.seq, 2);
    tk_client_task_release(opt);
    tk_client_task_release(t);
    tk_client_training_free(tc);
    /* a failing load fails the task and its client goes with it */
    tk_mock_push_json(x->f->m, "POST", "/api/v1/weights_info", 404, "{\"detail\":\"no such\"}");
    assert_ok(tk_client_service_create_training_client_from_state(
                  x->s, "tinker://fake:train:9/weights/w", &t, &e), &e);
    assert_err(tk_client_training_result(t, W, &tc, &e), TK_EHTTP, &e, "404");
    tk_client_task_release(t);
    assert_err(tk_client_service_create_training_client_from_state(
                   x->s, "tinker://r/sampler_weights/w", &t, &e), TK_EINVAL, &e, "sampler");
}

/* get_tokenizer: get_info's tokenizer_id ("fake/tok:v1" -> "fake/tok"), from the HF cache. */
static void test_get_tokenizer(void **state) {
    fixture *x = *state;
    char *cache = tk_test_tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/models--fake--tok/snapshots/abc && cp "
             ".cache/tokenizers/qwen3/tokenizer.json .cache/tokenizers/qwen3/tokenizer_config.json "
             "%s/models--fake--tok/snapshots/abc/", cache, cache);
    assert_int_equal(system(cmd), 0);
    setenv("HF_HUB_CACHE", cache, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    tk_err e = {0};
    tk_tokenizer *tok = NULL;
    assert_ok(tk_client_training_get_tokenizer(tc, W, &tok, &e), &e);
    tk_vec_i32 ids = {0};
    tk_encode_opts eo = {0};
    assert_ok(tk_tokenizer_encode(tok, "hello", 5, eo, &ids, &e), &e);
    assert_true(ids.len >= 1);
    assert_true(strstr(tk_tokenizer_source(tok), "models--fake--tok") != NULL);
    tk_vec_free(&ids);
    tk_tokenizer_free(tok);
    /* a sampler's base model "fake/base" is not in the cache: the error says where it looked */
    tk_mock_push_json(x->f->m, "GET", "/api/v1/samplers/fake:sample:0", 200,
                      "{\"sampler_id\":\"fake:sample:0\",\"base_model\":\"fake/base\"}");
    tk_client_task *t = NULL;
    assert_ok(tk_client_service_create_sampling_client(x->s, NULL, "fake/base", &t, &e), &e);
    tk_client_sampling *sc = NULL;
    assert_ok(tk_client_sampling_result(t, W, &sc, &e), &e);
    tk_client_task_release(t);
    assert_err(tk_client_sampling_get_tokenizer(sc, W, &tok, &e), TK_ENOTFOUND, &e, "fake/base");
    assert_null(tok);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HUB_OFFLINE");
    tk_client_sampling_free(sc);
    tk_client_training_free(tc);
    tk_remove_tree(cache, &e);
    free(cache);
}

/* ---- sampling ---------------------------------------------------------------------------------- */

static tk_wire_model_input prompt3(void) {
    static int32_t toks[3] = {5, 6, 7};
    static tk_wire_chunk c = {.type = TK_WIRE_CHUNK_ENCODED_TEXT, .tokens = toks, .n_tokens = 3};
    tk_wire_model_input mi = {&c, 1};
    return mi;
}

static tk_client_sampling *new_sampler(fixture *x) {
    tk_err e = {0};
    tk_client_task *t = NULL;
    assert_ok(tk_client_service_create_sampling_client(x->s, NULL, "fake/base", &t, &e), &e);
    tk_client_sampling *s = NULL;
    assert_ok(tk_client_sampling_result(t, W, &s, &e), &e);
    tk_client_task_release(t);
    return s;
}

static void test_sampling(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_sampling *sc = new_sampler(x);
    assert_string_equal(tk_client_sampling_session_id(sc), "fake:sample:0");
    tk_wire_model_input mi = prompt3();
    tk_wire_sampling_params p;
    tk_wire_init(TK_WIRE_MSG_SAMPLING_PARAMS, &p);
    p.has_max_tokens = true;
    p.max_tokens = 2;
    tk_err e = {0};
    tk_client_task *a = NULL, *b = NULL, *lp = NULL;
    assert_ok(tk_client_sampling_sample(sc, &mi, 2, &p, false, 0, &a, &e), &e);
    assert_ok(tk_client_sampling_sample(sc, &mi, 1, &p, false, 0, &b, &e), &e);
    assert_ok(tk_client_sampling_compute_logprobs(sc, &mi, &lp, &e), &e);
    tk_wire_sample_response ra, rb;
    assert_ok(tk_client_sample_result(a, W, x->a, &ra, &e), &e);
    assert_ok(tk_client_sample_result(b, W, x->a, &rb, &e), &e);
    assert_int_equal(ra.n_sequences, 2);
    assert_int_equal(ra.sequences[1].tokens[1], 101);
    /* seq_ids 0 and 1 of this client (the fake echoes them as the first token) */
    assert_int_equal(ra.sequences[0].tokens[0], 0);
    assert_int_equal(rb.sequences[0].tokens[0], 1);
    float *l = NULL;
    size_t n = 0;
    assert_ok(tk_client_logprobs_result(lp, W, x->a, &l, &n, &e), &e);
    assert_int_equal(n, 3);
    assert_true(isnan(l[0]));
    assert_float_equal(l[2], -2.0f, 0);
    /* compute_logprobs took seq_id 2 (samples are not ordered on the wire: find it) */
    fake_submit s;
    size_t k = 0;
    while (fake_get(x->f, "/api/v1/asample", k, &s) && s.seq != 2) k++;
    assert_int_equal(s.seq, 2);
    json_t *j = json_loadb((const char *)s.body, s.body_len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "sampling_params"),
                                                        "max_tokens")), 1);
    assert_true(json_is_true(json_object_get(j, "prompt_logprobs")));
    assert_string_equal(json_string_value(json_object_get(j, "sampling_session_id")),
                        "fake:sample:0");
    json_decref(j);
    const tk_mock_request *r = tk_mock_get_route(x->f->m, "POST", "/api/v1/asample", 0);
    assert_string_equal(tk_mock_req_header(r, "X-Tinker-Sampling-Backpressure"), "1");
    tk_client_task_release(a);
    tk_client_task_release(b);
    tk_client_task_release(lp);
    tk_client_sampling_free(sc);
}

static void test_sampling_410_new_seq_and_429(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_sampling *sc = new_sampler(x);
    tk_wire_model_input mi = prompt3();
    tk_err e = {0};
    /* first asample: 429 (back-pressure: same body again), then accepted; its first poll: 410
     * (the promise expired: the whole request again under a NEW seq_id) */
    tk_mock_push_json(x->f->m, "POST", "/api/v1/asample", 429, "{\"detail\":\"busy\"}");
    tk_mock_push_json(x->f->m, "POST", "/api/v1/retrieve_future", 410, "{\"detail\":\"gone\"}");
    tk_client_task *a = NULL;
    assert_ok(tk_client_sampling_sample(sc, &mi, 1, NULL, false, 0, &a, &e), &e);
    tk_wire_sample_response ra;
    assert_ok(tk_client_sample_result(a, W, x->a, &ra, &e), &e);
    /* the mock saw: 429'd body (seq 0), the same body (seq 0), then seq 1 after the 410 */
    assert_int_equal(tk_mock_count(x->f->m, "POST", "/api/v1/asample"), 3);
    const tk_mock_request *r0 = tk_mock_get_route(x->f->m, "POST", "/api/v1/asample", 0);
    const tk_mock_request *r1 = tk_mock_get_route(x->f->m, "POST", "/api/v1/asample", 1);
    const tk_mock_request *r2 = tk_mock_get_route(x->f->m, "POST", "/api/v1/asample", 2);
    assert_string_equal(req_json_str(r0, "seq_id"), "0");
    assert_string_equal(req_json_str(r1, "seq_id"), "0");
    assert_string_equal(req_json_str(r2, "seq_id"), "1");
    assert_string_equal(tk_mock_req_header(r0, "X-Idempotency-Key") ? "k" : "", "k");
    assert_int_equal(ra.sequences[0].tokens[0], 1);
    /* the rest of the body is the same */
    json_t *j1 = json_loadb((const char *)r1->body, r1->body_len, 0, NULL);
    json_t *j2 = json_loadb((const char *)r2->body, r2->body_len, 0, NULL);
    json_object_del(j1, "seq_id");
    json_object_del(j2, "seq_id");
    assert_true(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    /* the next sample continues at seq_id 2 */
    tk_client_task *b = NULL;
    assert_ok(tk_client_sampling_sample(sc, &mi, 1, NULL, false, 0, &b, &e), &e);
    assert_ok(tk_client_sample_result(b, W, x->a, &ra, &e), &e);
    assert_int_equal(ra.sequences[0].tokens[0], 2);
    tk_client_task_release(a);
    tk_client_task_release(b);
    tk_client_sampling_free(sc);
}

/* ---- error classes through the typed layer ------------------------------------------------------ */

static void test_error_classes(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    tk_err e = {0};
    tk_client_task *t = NULL;
    tk_wire_optim_step_response os;
    /* a failed future: TK_EREMOTE with the category */
    tk_mock_push_json(x->f->m, "POST", "/api/v1/retrieve_future", 200,
                      "{\"error\":\"bad lr\",\"category\":\"user\"}");
    assert_ok(tk_client_training_optim_step(tc, NULL, &t, &e), &e);
    assert_err(tk_client_optim_result(t, W, x->a, &os, &e), TK_EREMOTE, &e, "bad lr");
    tk_client_failure f = tk_client_task_failure(t);
    assert_int_equal(f.kind, TK_CLIENT_FAIL_REMOTE);
    assert_string_equal(f.category, "user");
    tk_client_task_release(t);
    /* a 400 on submit: not retried, TK_EHTTP */
    tk_mock_push_json(x->f->m, "POST", "/api/v1/optim_step", 400, "{\"detail\":\"seq\"}");
    assert_ok(tk_client_training_optim_step(tc, NULL, &t, &e), &e);
    assert_err(tk_client_task_wait(t, W, &e), TK_EHTTP, &e, "400");
    assert_int_equal(tk_client_task_failure(t).http_status, 400);
    tk_client_task_release(t);
    /* a 410 while polling a training request: expired, not re-submitted */
    tk_mock_push_json(x->f->m, "POST", "/api/v1/retrieve_future", 410, "{\"detail\":\"gone\"}");
    assert_ok(tk_client_training_optim_step(tc, NULL, &t, &e), &e);
    assert_err(tk_client_task_wait(t, W, &e), TK_EHTTP, &e, "410");
    assert_int_equal(tk_client_task_failure(t).kind, TK_CLIENT_FAIL_EXPIRED);
    tk_client_task_release(t);
    /* 503s are retried with the same seq_id and idempotency key, and applied once */
    size_t before = fake_count(x->f, "/api/v1/optim_step");
    size_t mbefore = tk_mock_count(x->f->m, "POST", "/api/v1/optim_step");
    tk_mock_push_json(x->f->m, "POST", "/api/v1/optim_step", 503, "{}");
    tk_mock_push_json(x->f->m, "POST", "/api/v1/optim_step", 503, "{}");
    assert_ok(tk_client_training_optim_step(tc, NULL, &t, &e), &e);
    assert_ok(tk_client_optim_result(t, W, x->a, &os, &e), &e);
    assert_int_equal(fake_count(x->f, "/api/v1/optim_step") - before, 1);
    assert_int_equal(tk_mock_count(x->f->m, "POST", "/api/v1/optim_step"), mbefore + 3);
    const tk_mock_request *r3 = tk_mock_get_route(x->f->m, "POST", "/api/v1/optim_step", mbefore);
    const tk_mock_request *r4 = tk_mock_get_route(x->f->m, "POST", "/api/v1/optim_step",
                                                  mbefore + 2);
    char seq3[32];
    snprintf(seq3, sizeof seq3, "%s", req_json_str(r3, "seq_id"));
    assert_string_equal(seq3, req_json_str(r4, "seq_id"));
    assert_string_equal(tk_mock_req_header(r3, "X-Idempotency-Key"),
                        tk_mock_req_header(r4, "X-Idempotency-Key"));
    tk_client_task_release(t);
    /* a result that does not decode */
    tk_mock_push_json(x->f->m, "POST", "/api/v1/retrieve_future", 200, "{\"metrics\":\"x\"}");
    assert_ok(tk_client_training_optim_step(tc, NULL, &t, &e), &e);
    assert_err(tk_client_optim_result(t, W, x->a, &os, &e), TK_EINVAL, &e, "metrics");
    tk_client_task_release(t);
    /* a forward_backward result with the wrong number of outputs */
    tk_mock_push_json(x->f->m, "POST", "/api/v1/retrieve_future", 200,
                      "{\"loss_fn_output_type\":\"x\",\"loss_fn_outputs\":[{}],\"metrics\":{}}");
    batch b = make_batch(x->a, 2, 2, true);
    assert_ok(tk_client_training_forward_backward(tc, b.d, 2, TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &t,
                                                  &e), &e);
    tk_wire_forward_backward_output out;
    assert_err(tk_client_fb_result(t, W, x->a, &out, &e), TK_EPARSE, &e, "1 loss_fn_outputs for 2");
    tk_client_task_release(t);
    /* wait timeout, then cancel */
    tk_mock_answer slow = {.status = 200, .body = "{\"type\":\"try_again\",\"request_id\":\"x\","
                           "\"queue_state\":\"active\"}", .delay_ms = 3000};
    tk_mock_push(x->f->m, "POST", "/api/v1/retrieve_future", &slow);
    assert_ok(tk_client_training_optim_step(tc, NULL, &t, &e), &e);
    assert_err(tk_client_task_wait(t, 0.05, &e), TK_ETIMEOUT, &e, "still pending");
    tk_client_task_cancel(t);
    assert_err(tk_client_task_wait(t, W, &e), TK_ECANCELED, &e, "cancelled");
    assert_int_equal(tk_client_task_failure(t).kind, TK_CLIENT_FAIL_CANCELED);
    tk_client_task_release(t);
    tk_client_training_free(tc);
}

/* ---- REST -------------------------------------------------------------------------------------- */

static const tk_mock_request *last_route(tk_mock *m, const char *method, const char *path) {
    size_t n = tk_mock_count(m, method, path);
    return n ? tk_mock_get_route(m, method, path, n - 1) : NULL;
}

static void test_rest(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_mock *m = x->f->m;
    tk_err e = {0};
    tk_client_task *t = NULL;
    const char *cp = "{\"checkpoint_id\":\"weights/w1\",\"checkpoint_type\":\"training\","
                     "\"time\":\"2026-01-01T00:00:00Z\",\"tinker_path\":\"tinker://r:1/weights/w1\"}";
    char buf[600];
    /* training runs */
    snprintf(buf, sizeof buf, "{\"training_runs\":[{\"training_run_id\":\"r:1\",\"base_model\":"
             "\"b\",\"model_owner\":\"me\",\"is_lora\":true,\"last_request_time\":"
             "\"2026-01-01T00:00:00Z\",\"last_checkpoint\":%s}],\"cursor\":{\"offset\":5,"
             "\"limit\":2,\"total_count\":9}}", cp);
    tk_mock_push_json(m, "GET", "/api/v1/training_runs", 200, buf);
    assert_ok(tk_client_rest_list_training_runs(x->s, 2, 5, NULL, &t, &e), &e);
    tk_wire_training_runs_response tr;
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_TRAINING_RUNS_RESPONSE, &tr, &e), &e);
    assert_int_equal(tr.n_training_runs, 1);
    assert_int_equal(tr.cursor.total_count, 9);
    assert_string_equal(tr.training_runs[0].last_checkpoint.checkpoint_id, "weights/w1");
    assert_string_equal(last_route(m, "GET", "/api/v1/training_runs")->query,
                        "limit=2&offset=5&access_scope=owned");
    tk_client_task_release(t);
    /* one run (ids with ':' go in the path as they are), its checkpoints, all checkpoints */
    tk_mock_push_json(m, "GET", "/api/v1/training_runs/r:1", 200, "{\"training_run_id\":\"r:1\","
                      "\"base_model\":\"b\",\"model_owner\":\"me\",\"is_lora\":false,"
                      "\"last_request_time\":\"2026-01-01T00:00:00Z\"}");
    assert_ok(tk_client_rest_get_training_run(x->s, "r:1", &t, &e), &e);
    tk_wire_training_run run;
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_TRAINING_RUN, &run, &e), &e);
    assert_string_equal(run.model_owner, "me");
    tk_client_task_release(t);
    snprintf(buf, sizeof buf, "{\"checkpoints\":[%s],\"cursor\":null}", cp);
    tk_mock_push_json(m, "GET", "/api/v1/training_runs/r:1/checkpoints", 200, buf);
    tk_mock_push_json(m, "GET", "/api/v1/checkpoints", 200, buf);
    assert_ok(tk_client_rest_list_checkpoints(x->s, "r:1", &t, &e), &e);
    tk_wire_checkpoints_list_response cl;
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE, &cl, &e), &e);
    assert_string_equal(cl.checkpoints[0].tinker_path, "tinker://r:1/weights/w1");
    tk_client_task_release(t);
    assert_ok(tk_client_rest_list_user_checkpoints(x->s, 0, 0, &t, &e), &e);
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE, &cl, &e), &e);
    assert_string_equal(last_route(m, "GET", "/api/v1/checkpoints")->query, "limit=100&offset=0");
    tk_client_task_release(t);
    /* delete, publish, unpublish, ttl */
    const char *path = "tinker://r:1/sampler_weights/s 1";
    tk_mock_push_json(m, "DELETE", "/api/v1/training_runs/r:1/checkpoints/sampler_weights/s 1", 204,
                      NULL);
    assert_ok(tk_client_rest_delete_checkpoint(x->s, path, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    tk_mock_push_json(m, "POST", "/api/v1/training_runs/r:1/checkpoints/sampler_weights/s 1/publish",
                      200, "{}");
    assert_ok(tk_client_rest_publish_checkpoint(x->s, path, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    tk_mock_push_json(m, "DELETE", "/api/v1/training_runs/r:1/checkpoints/sampler_weights/s 1/publish",
                      200, "{}");
    assert_ok(tk_client_rest_unpublish_checkpoint(x->s, path, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    const char *ttl_path = "/api/v1/training_runs/r:1/checkpoints/sampler_weights/s 1/ttl";
    tk_mock_push_json(m, "PUT", ttl_path, 200, "{}");
    tk_mock_push_json(m, "PUT", ttl_path, 200, "{}");
    assert_ok(tk_client_rest_set_checkpoint_ttl(x->s, path, 86400, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    assert_true(body_equals(last_route(m, "PUT", ttl_path), "{\"ttl_seconds\":86400}"));
    assert_ok(tk_client_rest_set_checkpoint_ttl(x->s, path, 0, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    assert_true(body_equals(last_route(m, "PUT", ttl_path), "{\"ttl_seconds\":null}"));
    /* a 409 is retried (both SDK layers treat it as transient) */
    tk_mock_push_json(m, "POST", "/api/v1/training_runs/r:1/checkpoints/sampler_weights/s 1/publish",
                      409, "{\"detail\":\"busy\"}");
    tk_mock_push_json(m, "POST", "/api/v1/training_runs/r:1/checkpoints/sampler_weights/s 1/publish",
                      200, "{}");
    assert_ok(tk_client_rest_publish_checkpoint(x->s, path, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    /* sampler, sessions, weights_info */
    tk_mock_push_json(m, "GET", "/api/v1/samplers/fake:sample:3", 200,
                      "{\"sampler_id\":\"fake:sample:3\",\"base_model\":\"b\"}");
    assert_ok(tk_client_rest_get_sampler(x->s, "fake:sample:3", &t, &e), &e);
    tk_wire_sampler_response sr;
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_SAMPLER_RESPONSE, &sr, &e), &e);
    assert_string_equal(sr.base_model, "b");
    tk_client_task_release(t);
    tk_mock_push_json(m, "GET", "/api/v1/sessions", 200, "{\"sessions\":[\"a\",\"b\"]}");
    assert_ok(tk_client_rest_list_sessions(x->s, 0, 0, &t, &e), &e);
    tk_wire_list_sessions_response ls;
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_LIST_SESSIONS_RESPONSE, &ls, &e), &e);
    assert_int_equal(ls.sessions.n, 2);
    tk_client_task_release(t);
    tk_mock_push_json(m, "GET", "/api/v1/sessions/fake", 200,
                      "{\"training_run_ids\":[\"r:1\"],\"sampler_ids\":[]}");
    assert_ok(tk_client_rest_get_session(x->s, "fake", &t, &e), &e);
    tk_wire_session_response ss;
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_SESSION_RESPONSE, &ss, &e), &e);
    assert_string_equal(ss.training_run_ids.items[0], "r:1");
    tk_client_task_release(t);
    assert_ok(tk_client_rest_get_weights_info(x->s, "tinker://r:1/weights/w1", &t, &e), &e);
    tk_wire_weights_info_response wi;
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_WEIGHTS_INFO_RESPONSE, &wi, &e), &e);
    assert_int_equal(wi.lora_rank, 8);
    tk_client_task_release(t);
    /* bad input */
    assert_err(tk_client_rest_delete_checkpoint(x->s, "tinker://r/other/x", &t, &e), TK_EINVAL, &e,
               "delete_checkpoint");
    assert_err(tk_client_rest_get_training_run(x->s, "", &t, &e), TK_EINVAL, &e, "run_id");
    /* a wrong type asked of a task */
    assert_ok(tk_client_rest_get_weights_info(x->s, "tinker://r:1/weights/w1", &t, &e), &e);
    assert_err(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_SAMPLER_RESPONSE, &sr, &e), TK_EINVAL,
               &e, "not");
    tk_client_task_release(t);
}

static void test_rest_archive(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_mock *m = x->f->m;
    tk_mock *other = start_mock();   /* another host: a signed download URL */
    tk_err e = {0};
    tk_client_task *t = NULL;
    const char *arch = "/api/v1/training_runs/r:1/checkpoints/weights/w1/archive";
    const char *tp = "tinker://r:1/weights/w1";
    /* 302 with a relative Location (our own server), then 200 {"url","expires"} */
    tk_mock_answer red = {.status = 302, .body = "", .headers = "Location: /download/abc\n"
                          "Expires: Thu, 01 Jan 2026 00:15:00 GMT"};
    tk_mock_push(m, "GET", arch, &red);
    assert_ok(tk_client_rest_get_checkpoint_archive_url(x->s, tp, &t, &e), &e);
    tk_wire_archive_url_response au;
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_ARCHIVE_URL_RESPONSE, &au, &e), &e);
    char want[200];
    snprintf(want, sizeof want, "%s/download/abc", tk_mock_url(m));
    assert_string_equal(au.url, want);
    assert_string_equal(au.expires, "Thu, 01 Jan 2026 00:15:00 GMT");
    tk_client_task_release(t);
    tk_mock_push_json(m, "GET", arch, 200, "{\"url\":\"https://x/y\",\"expires\":"
                      "\"2026-01-01T00:00:00Z\"}");
    assert_ok(tk_client_rest_get_checkpoint_archive_url(x->s, tp, &t, &e), &e);
    assert_ok(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_ARCHIVE_URL_RESPONSE, &au, &e), &e);
    assert_string_equal(au.url, "https://x/y");
    tk_client_task_release(t);
    /* download: same origin (credentials sent), then another host (none sent) */
    char *dir = tk_test_tmpdir();
    char dest[300];
    snprintf(dest, sizeof dest, "%s/a.tar.gz", dir);
    const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 1, 2, 3, 0, 0xff};
    tk_mock_answer bytes = {.status = 200, .body = (const char *)gz, .body_len = sizeof gz,
                            .content_type = "application/gzip"};
    tk_mock_push(m, "GET", arch, &red);
    tk_mock_push(m, "GET", "/download/abc", &bytes);
    assert_ok(tk_client_rest_download_checkpoint_archive(x->s, tp, dest, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    tk_buf got = {0};
    assert_ok(tk_file_read(dest, &got, 0, &e), &e);
    assert_int_equal(got.len, sizeof gz);
    assert_memory_equal(got.data, gz, sizeof gz);
    tk_buf_free(&got);
    assert_string_equal(tk_mock_req_header(last_route(m, "GET", "/download/abc"), "X-API-Key"),
                        "tml-test-key");
    char loc[300];
    snprintf(loc, sizeof loc, "Location: %s/signed/abc?sig=1", tk_mock_url(other));
    tk_mock_answer red2 = {.status = 302, .body = "", .headers = loc};
    tk_mock_push(m, "GET", arch, &red2);
    tk_mock_push(other, "GET", "/signed/abc", &bytes);
    assert_ok(tk_client_rest_download_checkpoint_archive(x->s, tp, dest, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    const tk_mock_request *sg = last_route(other, "GET", "/signed/abc");
    assert_non_null(sg);
    assert_string_equal(sg->query, "sig=1");
    assert_null(tk_mock_req_header(sg, "X-API-Key"));
    /* the archive is still being built: 503 is retried */
    tk_mock_push_json(m, "GET", arch, 503, "{\"detail\":\"building\"}");
    tk_mock_push(m, "GET", arch, &red);
    tk_mock_push(m, "GET", "/download/abc", &bytes);
    assert_ok(tk_client_rest_download_checkpoint_archive(x->s, tp, dest, &t, &e), &e);
    assert_ok(tk_client_task_wait(t, W, &e), &e);
    tk_client_task_release(t);
    /* a download that fails leaves the earlier file alone */
    tk_mock_push(m, "GET", arch, &red);
    tk_mock_push_json(m, "GET", "/download/abc", 404, "{\"detail\":\"gone\"}");
    assert_ok(tk_client_rest_download_checkpoint_archive(x->s, tp, dest, &t, &e), &e);
    assert_err(tk_client_task_wait(t, W, &e), TK_EHTTP, &e, "404");
    tk_client_task_release(t);
    assert_ok(tk_file_read(dest, &got, 0, &e), &e);
    assert_int_equal(got.len, sizeof gz);
    tk_buf_free(&got);
    /* a 302 without Location */
    tk_mock_answer bad = {.status = 302, .body = ""};
    tk_mock_push(m, "GET", arch, &bad);
    assert_ok(tk_client_rest_get_checkpoint_archive_url(x->s, tp, &t, &e), &e);
    assert_err(tk_client_task_result(t, W, x->a, TK_WIRE_MSG_ARCHIVE_URL_RESPONSE, &au, &e),
               TK_EPARSE, &e, "Location");
    tk_client_task_release(t);
    tk_mock_stop(other);
    tk_remove_tree(dir, &e);
    free(dir);
}

/* call_deadline_s bounds a whole call, polls included. */
static void test_call_deadline(void **state) {
    fixture *x = *state;
    tk_client_service_options o;
    tk_client_service_options_init(&o);
    o.client.base_url = tk_mock_url(x->f->m);
    o.client.retry_time_scale = 0.001;
    o.call_deadline_s = 0.3;
    tk_err e = {0};
    assert_ok(tk_client_service_open(&o, &x->s, &e), &e);
    tk_client_training *tc = new_training(x);
    for (int i = 0; i < 3; i++) {
        tk_mock_answer slow = {.status = 200, .body = "{\"type\":\"try_again\",\"request_id\":"
                               "\"x\",\"queue_state\":\"active\"}", .delay_ms = 200};
        tk_mock_push(x->f->m, "POST", "/api/v1/retrieve_future", &slow);
    }
    tk_client_task *t = NULL;
    double t0 = tk_now_s();
    assert_ok(tk_client_training_optim_step(tc, NULL, &t, &e), &e);
    assert_err(tk_client_task_wait(t, W, &e), TK_ETIMEOUT, &e, "deadline");
    assert_int_equal(tk_client_task_failure(t).kind, TK_CLIENT_FAIL_DEADLINE);
    assert_true(tk_now_s() - t0 < 5.0);
    tk_client_task_release(t);
    tk_client_training_free(tc);
}

static void test_bad_input(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    tk_err e = {0};
    tk_client_task *t = NULL;
    batch b = make_batch(x->a, 3, 3, true);
    b.d[2].loss_fn_inputs.n = 1;   /* cross_entropy needs weights */
    assert_err(tk_client_training_forward_backward(tc, b.d, 3, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                                   &t, &e), TK_EINVAL, &e, "data[2]");
    assert_err(tk_client_training_forward_backward(tc, b.d, 0, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                                   &t, &e), TK_EINVAL, &e, "no data");
    assert_err(tk_client_training_forward_backward(tc, b.d, 2, (tk_wire_loss_fn)77, NULL, &t, &e),
               TK_EINVAL, &e, "loss function");
    assert_null(t);
    assert_int_equal(tk_client_training_last_seq_id(tc), 0);
    tk_client_sampling *sc = new_sampler(x);
    tk_wire_model_input empty = {0};
    assert_err(tk_client_sampling_sample(sc, &empty, 1, NULL, false, 0, &t, &e), TK_EINVAL, &e,
               "prompt is empty");
    tk_wire_model_input mi = prompt3();
    assert_err(tk_client_sampling_sample(sc, &mi, 0, NULL, false, 0, &t, &e), TK_EINVAL, &e,
               "num_samples");
    assert_err(tk_client_service_create_sampling_client(x->s, "http://x", NULL, &t, &e),
               TK_EINVAL, &e, "model_path");
    assert_err(tk_client_service_create_sampling_client(x->s, NULL, NULL, &t, &e), TK_EINVAL, &e,
               "required");
    tk_client_sampling_free(sc);
    tk_client_training_free(tc);
}

/* Clients and tasks may outlive the service's close: pending tasks fail, frees still work. */
static void test_close_with_clients(void **state) {
    fixture *x = *state;
    x->s = fake_service(x->f, TK_CLIENT_ENCODING_AUTO);
    tk_client_training *tc = new_training(x);
    tk_mock_answer slow = {.status = 200, .body = "{\"type\":\"try_again\",\"request_id\":\"x\","
                           "\"queue_state\":\"active\"}", .delay_ms = 2000};
    tk_mock_push(x->f->m, "POST", "/api/v1/retrieve_future", &slow);
    tk_err e = {0};
    tk_client_task *t = NULL;
    assert_ok(tk_client_training_optim_step(tc, NULL, &t, &e), &e);
    tk_client_service_close(x->s);
    x->s = NULL;
    assert_err(tk_client_task_wait(t, W, &e), TK_ECANCELED, &e, "");
    tk_client_task *t2 = NULL;
    assert_err(tk_client_training_optim_step(tc, NULL, &t2, &e), TK_ESTATE, &e, "closed");
    tk_client_task_release(t);
    tk_client_training_free(tc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encoding_decision, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_404_fails_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_model_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunking_by_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunking_by_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunking_default_1024, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_forward_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_keep_seq_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_loss_failure_fills_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_loss_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weights_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_tokenizer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sampling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sampling_410_new_seq_and_429, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_clients, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
