/* Per-model ordering over HTTP with a fake engine that records what it ran (protocol §8.4):
 * chunk groups arriving out of order, barriers, batching, retried submits applied once, rejected
 * seq_ids that do not stall the queue, gap timeouts, and the other dedup tables (create_model,
 * sampling sessions, samples). */
#include "test_util.h"

#include "harness.h"

/* POST /test/train; returns the request id (caller frees) or NULL, asserting the status. */
static char *train(harness *h, const char *model, long seq, const char *op, const char *extra, long want) {
    long st = 0;
    json_t *v = hjf(h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":%ld,\"op\":\"%s\"%s%s}", model, seq,
                    op, extra ? "," : "", extra ? extra : "");
    if (st != want) fail_msg("train seq %ld: status %ld, expected %ld (%s)", seq, st, want,
                             json_string_value(json_object_get(v, "detail")));
    char *rid = st == 200 ? tk_strdup(json_string_value(json_object_get(v, "request_id"))) : NULL;
    json_decref(v);
    return rid;
}

static json_t *result(harness *h, char *rid) {
    long st = 0;
    json_t *v = wait_result(h, rid, &st);
    assert_int_equal(st, 200);
    free(rid);
    return v;
}

static void expect_ok(harness *h, char *rid) {
    json_t *v = result(h, rid);
    if (json_object_get(v, "error")) fail_msg("failed: %s", json_string_value(json_object_get(v, "error")));
    json_decref(v);
}

/* A session and a ready model; returns the model id (caller frees). */
static char *make_model(harness *h, const char *session, int mseq) {
    long st = 0;
    json_t *v = hjf(h, "POST", "/test/create_model", &st, "{\"session_id\":\"%s\",\"model_seq_id\":%d}", session, mseq);
    assert_int_equal(st, 200);
    char *rid = tk_strdup(json_string_value(json_object_get(v, "request_id")));
    json_decref(v);
    v = result(h, rid);
    char *id = tk_strdup(json_string_value(json_object_get(v, "model_id")));
    assert_non_null(id);
    char want[200];
    snprintf(want, sizeof want, "%s:train:%d", session, mseq);
    assert_string_equal(id, want);
    json_decref(v);
    return id;
}

static void expect_log(const char *want) {
    char *got = fake_log();
    if (strcmp(got, want)) fail_msg("engine ran \"%s\", expected \"%s\"", got, want);
    free(got);
}

static void test_chunks_out_of_order(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    char *m = make_model(&h, sid, 0);
    fake_log_reset();
    fake_gate_close();
    char *g = train(&h, m, 1, "gate", NULL, 200);
    /* forward_backward in 4 chunks 2..5 sent first chunk last, then optim_step 6, then two more */
    char *r3 = train(&h, m, 3, "fwd", NULL, 200);
    char *r5 = train(&h, m, 5, "fwd", NULL, 200);
    char *r4 = train(&h, m, 4, "fwd", NULL, 200);
    char *r2 = train(&h, m, 2, "fwd", NULL, 200);
    char *r6 = train(&h, m, 6, "optim", NULL, 200);
    char *r7 = train(&h, m, 7, "fwd", NULL, 200);
    char *r8 = train(&h, m, 8, "fwd", NULL, 200);
    fake_gate_open();
    char *rids[] = {g, r2, r3, r4, r5, r6, r7, r8};
    for (int i = 0; i < 8; i++) expect_ok(&h, rids[i]);
    /* strict seq order; the chunk group ran as one batch, optim_step was a barrier */
    expect_log("1:gate/1 2:fwd/4 3:fwd/4 4:fwd/4 5:fwd/4 6:optim/1 7:fwd/2 8:fwd/2");
    free(m);
    free(sid);
    harness_stop(&h, false);
}

static void test_batches_never_mix_models(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    char *a = make_model(&h, sid, 0);
    char *b = make_model(&h, sid, 1);
    fake_log_reset();
    fake_gate_close();
    char *r[8];
    r[0] = train(&h, a, 1, "gate", NULL, 200);
    r[1] = train(&h, b, 1, "fwd", NULL, 200);
    r[2] = train(&h, a, 2, "fwd", NULL, 200);
    r[3] = train(&h, b, 2, "fwd", NULL, 200);
    r[4] = train(&h, a, 3, "fwd", NULL, 200);
    r[5] = train(&h, b, 3, "optim", NULL, 200);
    r[6] = train(&h, a, 4, "optim", NULL, 200);
    r[7] = train(&h, b, 4, "fwd", NULL, 200);
    fake_gate_open();
    for (int i = 0; i < 8; i++) expect_ok(&h, r[i]);
    /* B's fwd 1,2 batch together, A's fwd 2,3 together; B's 4 is behind B's optim 3 */
    expect_log("1:gate/1 m1.1:fwd/2 m1.2:fwd/2 2:fwd/2 3:fwd/2 m1.3:optim/1 4:optim/1 m1.4:fwd/1");
    free(a);
    free(b);
    free(sid);
    harness_stop(&h, false);
}

static void test_retries_applied_once(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    char *m = make_model(&h, sid, 0);
    fake_log_reset();
    fake_gate_close();
    char *g = train(&h, m, 1, "gate", NULL, 200);
    char *a = train(&h, m, 3, "fwd", NULL, 200);
    char *a2 = train(&h, m, 3, "fwd", NULL, 200); /* retry while buffered */
    if (strcmp(a, a2)) fail_msg("retry got %s, first %s", a2, a);
    char *b = train(&h, m, 2, "fwd", NULL, 200);
    char *b_id = tk_strdup(b);
    fake_gate_open();
    expect_ok(&h, g);
    expect_ok(&h, b);
    json_t *v = result(&h, a2);
    assert_int_equal(json_integer_value(json_object_get(v, "seq_id")), 3);
    json_decref(v);
    char *b2 = train(&h, m, 2, "fwd", NULL, 200); /* retry after it ran */
    assert_string_equal(b_id, b2);
    free(b2);
    free(b_id);
    /* the same seq_id with another body is refused, naming the first request */
    long st = 0;
    v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":2,\"op\":\"optim\"}", m);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "already used by a different request"));
    json_decref(v);
    expect_ok(&h, a);
    expect_log("1:gate/1 2:fwd/2 3:fwd/2");
    /* create_model retries: same request id, created once */
    fake_log_reset();
    json_t *c1 = hjf(&h, "POST", "/test/create_model", &st, "{\"session_id\":\"%s\",\"model_seq_id\":0}", sid);
    assert_int_equal(st, 200);
    json_t *c0 = hjf(&h, "POST", "/test/create_model", &st, "{\"session_id\":\"%s\",\"model_seq_id\":0}", sid);
    assert_string_equal(json_string_value(json_object_get(c1, "request_id")),
                        json_string_value(json_object_get(c0, "request_id")));
    json_decref(c1);
    json_decref(c0);
    expect_log("");
    free(m);
    free(sid);
    harness_stop(&h, false);
}

static void test_rejected_and_stale(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    char *m = make_model(&h, sid, 0);
    fake_log_reset();
    fake_gate_close();
    char *g = train(&h, m, 1, "gate", NULL, 200);
    char *r3 = train(&h, m, 3, "fwd", NULL, 200);
    /* seq 2 fails validation: 400, and the queue goes on without it */
    train(&h, m, 2, "fwd", "\"invalid\":true", 400);
    char *r4 = train(&h, m, 4, "optim", NULL, 200);
    fake_gate_open();
    expect_ok(&h, g);
    expect_ok(&h, r3);
    expect_ok(&h, r4);
    expect_log("1:gate/1 3:fwd/1 4:optim/1");
    /* a retry of the rejected seq gets the same answer; old and far seq_ids are refused */
    long st = 0;
    json_t *v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":2,\"op\":\"fwd\"}", m);
    assert_int_equal(st, 400);
    assert_string_equal(json_string_value(json_object_get(v, "detail")), "fake validation: invalid request");
    json_decref(v);
    v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":0,\"op\":\"fwd\"}", m);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "behind the queue"));
    json_decref(v);
    v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":999999,\"op\":\"fwd\"}", m);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "too far ahead"));
    json_decref(v);
    v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s:train:9\",\"seq_id\":1,\"op\":\"fwd\"}", sid);
    assert_int_equal(st, 404);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "not found"));
    json_decref(v);
    /* a failed execution consumes its seq like any other */
    char *f = train(&h, m, 5, "fwd", "\"fail\":true", 200);
    v = result(&h, f);
    assert_string_equal(json_string_value(json_object_get(v, "category")), "user");
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "failed as asked"));
    json_decref(v);
    expect_ok(&h, train(&h, m, 6, "fwd", NULL, 200));
    free(m);
    free(sid);
    harness_stop(&h, false);
}

static void test_gap_timeout(void **state) {
    (void)state;
    tk_server_config c;
    harness_config(&c);
    c.gap_timeout_s = 0.3;
    harness h = {0};
    harness_start(&h, &c, true);
    tk_log_set_level(TK_LOG_ERROR); /* the skip is logged as a warning */
    char *sid = new_session(&h);
    char *m = make_model(&h, sid, 0);
    fake_log_reset();
    char *r2 = train(&h, m, 2, "fwd", NULL, 200);
    char *r3 = train(&h, m, 3, "optim", NULL, 200);
    expect_ok(&h, r2); /* seq 1 never comes: the queue moves on after the gap timeout */
    expect_ok(&h, r3);
    expect_log("2:fwd/1 3:optim/1");
    long st = 0;
    json_t *v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":1,\"op\":\"fwd\"}", m);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "skipped after a gap timeout"));
    json_decref(v);
    tk_log_set_level(TK_LOG_WARN);
    free(m);
    free(sid);
    harness_stop(&h, false);
}

static void test_failed_creation(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    long st = 0;
    json_t *v = hjf(&h, "POST", "/test/create_model", &st, "{\"session_id\":\"%s\",\"model_seq_id\":0,\"fail\":true}", sid);
    char *rid = tk_strdup(json_string_value(json_object_get(v, "request_id")));
    json_decref(v);
    v = result(&h, rid);
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "failed as asked"));
    json_decref(v);
    v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s:train:0\",\"seq_id\":1,\"op\":\"fwd\"}", sid);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "could not be created"));
    json_decref(v);
    v = hjf(&h, "POST", "/test/create_model", &st, "{\"session_id\":\"nope\",\"model_seq_id\":0}");
    assert_int_equal(st, 404);
    json_decref(v);
    v = hjf(&h, "POST", "/test/create_model", &st, "{\"session_id\":\"%s\",\"model_seq_id\":-1}", sid);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "model_seq_id"));
    json_decref(v);
    free(sid);
    harness_stop(&h, false);
}

static void test_sampling_dedup(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    long st = 0;
    json_t *a = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
                    "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"base_model\":\"fake/base\","
                    "\"type\":\"create_sampling_session\"}", sid);
    assert_int_equal(st, 200);
    const char *ss = json_string_value(json_object_get(a, "sampling_session_id"));
    char want[200];
    snprintf(want, sizeof want, "%s:sample:0", sid);
    assert_string_equal(ss, want);
    json_t *b = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
                    "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"base_model\":\"fake/base\"}", sid);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(b, "sampling_session_id")), ss);
    json_decref(b);
    b = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
            "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"base_model\":\"fake/other\"}", sid);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(b, "detail")), "was already used for fake/base"));
    json_decref(b);
    b = hjf(&h, "GET", "/api/v1/samplers/x", &st, "%s", "");
    json_decref(b);
    char path[300];
    snprintf(path, sizeof path, "/api/v1/samplers/%s", ss);
    b = hj(&h, "GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(b, "sampler_id")), ss);
    assert_string_equal(json_string_value(json_object_get(b, "base_model")), "fake/base");
    assert_true(!json_object_get(b, "model_path") || json_is_null(json_object_get(b, "model_path")));
    json_decref(b);
    b = hj(&h, "GET", "/api/v1/samplers/ghost:sample:0", NULL, &st);
    assert_int_equal(st, 404);
    json_decref(b);
    /* samples: a retry with the same (sampler, seq_id) is the same request, run once */
    fake_log_reset();
    fake_gate_close();
    char *sess_model = make_model(&h, sid, 0);
    json_t *s1 = hjf(&h, "POST", "/test/sample", &st, "{\"sampling_session_id\":\"%s\",\"seq_id\":7}", ss);
    json_t *s2 = hjf(&h, "POST", "/test/sample", &st, "{\"sampling_session_id\":\"%s\",\"seq_id\":7}", ss);
    json_t *s3 = hjf(&h, "POST", "/test/sample", &st, "{\"sampling_session_id\":\"%s\",\"seq_id\":8}", ss);
    assert_string_equal(json_string_value(json_object_get(s1, "request_id")),
                        json_string_value(json_object_get(s2, "request_id")));
    assert_string_not_equal(json_string_value(json_object_get(s1, "request_id")),
                            json_string_value(json_object_get(s3, "request_id")));
    fake_gate_open();
    expect_ok(&h, tk_strdup(json_string_value(json_object_get(s1, "request_id"))));
    expect_ok(&h, tk_strdup(json_string_value(json_object_get(s3, "request_id"))));
    char *log = fake_log();
    assert_non_null(strstr(log, "s7:sample/1 s8:sample/1"));
    assert_null(strstr(log + (strstr(log, "s7") - log) + 2, "s7"));
    free(log);
    json_decref(s1);
    json_decref(s2);
    json_decref(s3);
    json_decref(a);
    free(sess_model);
    free(sid);
    harness_stop(&h, false);
}

static void test_unload_model(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    char *m = make_model(&h, sid, 0);
    long st = 0;
    json_t *v = hjf(&h, "POST", "/api/v1/unload_model", &st, "{\"model_id\":\"%s\",\"type\":\"unload_model\"}", m);
    assert_int_equal(st, 200);
    json_t *r = result(&h, tk_strdup(json_string_value(json_object_get(v, "request_id"))));
    assert_string_equal(json_string_value(json_object_get(r, "type")), "unload_model");
    assert_string_equal(json_string_value(json_object_get(r, "model_id")), m);
    json_decref(r);
    json_decref(v);
    assert_int_equal(fake_engine_frees(), 1);
    v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":1,\"op\":\"fwd\"}", m);
    assert_int_equal(st, 410);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "was unloaded: unloaded by unload_model"));
    json_decref(v);
    /* unloading again is harmless */
    v = hjf(&h, "POST", "/api/v1/unload_model", &st, "{\"model_id\":\"%s\"}", m);
    assert_int_equal(st, 200);
    json_decref(wait_result(&h, json_string_value(json_object_get(v, "request_id")), &st));
    json_decref(v);
    assert_int_equal(fake_engine_frees(), 1);
    free(m);
    free(sid);
    harness_stop(&h, false);
}

int main(void) {
    tk_log_set_level(TK_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_out_of_order), cmocka_unit_test(test_batches_never_mix_models),
        cmocka_unit_test(test_retries_applied_once), cmocka_unit_test(test_rejected_and_stale),
        cmocka_unit_test(test_gap_timeout),         cmocka_unit_test(test_failed_creation),
        cmocka_unit_test(test_sampling_dedup),      cmocka_unit_test(test_unload_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
