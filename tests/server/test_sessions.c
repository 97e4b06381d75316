/* Sessions over HTTP: create, heartbeat, listing, and expiry after the idle timeout, which
 * unloads the session's models and samplers (through the engine's free callback) so that later
 * requests fail with a clear error, and fails the work still waiting in their queues. */
#include "test_util.h"

#include "harness.h"

static char *create_model(harness *h, const char *sid, int mseq) {
    long st = 0;
    json_t *v = hjf(h, "POST", "/test/create_model", &st, "{\"session_id\":\"%s\",\"model_seq_id\":%d}", sid, mseq);
    assert_int_equal(st, 200);
    json_t *r = wait_result(h, json_string_value(json_object_get(v, "request_id")), &st);
    char *id = tk_strdup(json_string_value(json_object_get(r, "model_id")));
    assert_non_null(id);
    json_decref(v);
    json_decref(r);
    return id;
}

static const char *detail(json_t *v) {
    const char *d = json_string_value(json_object_get(v, "detail"));
    return d ? d : "";
}

static void test_create_list_get(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    long st = 0;
    json_t *v = hj(&h, "POST", "/api/v1/create_session",
                   "{\"tags\":[\"a\",\"b\"],\"user_metadata\":{\"k\":\"v\"},\"sdk_version\":\"0.25.0\","
                   "\"type\":\"create_session\",\"project_id\":\"p-1\"}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "create_session");
    assert_true(json_is_null(json_object_get(v, "warning_message")));
    char *s1 = tk_strdup(json_string_value(json_object_get(v, "session_id")));
    json_decref(v);
    char *s2 = new_session(&h);
    assert_string_not_equal(s1, s2);
    char *m = create_model(&h, s1, 0);
    json_t *ss = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
                     "{\"session_id\":\"%s\",\"sampling_session_seq_id\":3,\"base_model\":\"fake/base\"}", s1);
    assert_int_equal(st, 200);
    json_decref(ss);
    v = hj(&h, "GET", "/api/v1/sessions?limit=10&offset=0&access_scope=owned", NULL, &st);
    assert_int_equal(st, 200);
    json_t *ids = json_object_get(v, "sessions");
    assert_int_equal(json_array_size(ids), 2);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), s2); /* newest first */
    assert_string_equal(json_string_value(json_array_get(ids, 1)), s1);
    json_decref(v);
    v = hj(&h, "GET", "/api/v1/sessions?limit=1&offset=1", NULL, &st);
    assert_int_equal(json_array_size(json_object_get(v, "sessions")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "sessions"), 0)), s1);
    json_decref(v);
    char path[300];
    snprintf(path, sizeof path, "/api/v1/sessions/%s", s1);
    v = hj(&h, "GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "training_run_ids"), 0)), m);
    char want[200];
    snprintf(want, sizeof want, "%s:sample:3", s1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "sampler_ids"), 0)), want);
    assert_string_equal(json_string_value(json_object_get(v, "project_id")), "p-1");
    json_decref(v);
    snprintf(path, sizeof path, "/api/v1/sessions/%s/project", s1);
    v = hj(&h, "PUT", path, "{\"project_id\":\"p-2\"}", &st);
    assert_int_equal(st, 200);
    json_decref(v);
    snprintf(path, sizeof path, "/api/v1/sessions/%s/trace_export", s1);
    v = hj(&h, "GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "failed");
    json_decref(v);
    v = hj(&h, "GET", "/api/v1/sessions/ghost", NULL, &st);
    assert_int_equal(st, 404);
    assert_non_null(strstr(detail(v), "session \"ghost\" not found"));
    json_decref(v);
    v = hjf(&h, "POST", "/api/v1/session_heartbeat", &st, "{\"session_id\":\"%s\",\"type\":\"session_heartbeat\"}", s1);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "session_heartbeat");
    json_decref(v);
    free(m);
    free(s1);
    free(s2);
    harness_stop(&h, false);
}

static void test_expiry_unloads(void **state) {
    (void)state;
    tk_server_config c;
    harness_config(&c);
    c.session_timeout_s = 0.5;
    harness h = {0};
    harness_start(&h, &c, true);
    char *dead = new_session(&h);
    char *alive = new_session(&h);
    char *m = create_model(&h, dead, 0);
    char *m2 = create_model(&h, alive, 0);
    long st = 0;
    json_t *ss = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
                     "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"base_model\":\"fake/base\"}", dead);
    char *sampler = tk_strdup(json_string_value(json_object_get(ss, "sampling_session_id")));
    json_decref(ss);
    /* a request waiting for seq_id 1 when the session dies is failed, not left pending */
    json_t *v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":2,\"op\":\"fwd\"}", m);
    assert_int_equal(st, 200);
    char *waiting = tk_strdup(json_string_value(json_object_get(v, "request_id")));
    json_decref(v);
    /* heartbeat only `alive` for 1.2 s */
    for (int i = 0; i < 12; i++) {
        v = hjf(&h, "POST", "/api/v1/session_heartbeat", &st, "{\"session_id\":\"%s\"}", alive);
        assert_int_equal(st, 200);
        json_decref(v);
        tk_sleep_ms(100);
    }
    v = hjf(&h, "POST", "/api/v1/session_heartbeat", &st, "{\"session_id\":\"%s\"}", dead);
    assert_int_equal(st, 410);
    assert_non_null(strstr(detail(v), "has expired"));
    assert_non_null(strstr(detail(v), "without a heartbeat"));
    json_decref(v);
    v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":1,\"op\":\"fwd\"}", m);
    assert_int_equal(st, 410);
    assert_non_null(strstr(detail(v), "was unloaded: session"));
    json_decref(v);
    v = hjf(&h, "POST", "/test/sample", &st, "{\"sampling_session_id\":\"%s\",\"seq_id\":0}", sampler);
    assert_int_equal(st, 410);
    assert_non_null(strstr(detail(v), "was closed"));
    json_decref(v);
    v = hjf(&h, "POST", "/test/create_model", &st, "{\"session_id\":\"%s\",\"model_seq_id\":1}", dead);
    assert_int_equal(st, 410);
    json_decref(v);
    v = wait_result(&h, waiting, &st);
    assert_string_equal(json_string_value(json_object_get(v, "category")), "user");
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "session expired"));
    json_decref(v);
    /* the engine state of the dead model was released on the worker; the live one is untouched */
    for (int i = 0; i < 100 && fake_engine_frees() < 1; i++) tk_sleep_ms(20);
    assert_int_equal(fake_engine_frees(), 1);
    v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":1,\"op\":\"fwd\"}", m2);
    assert_int_equal(st, 200);
    json_decref(wait_result(&h, json_string_value(json_object_get(v, "request_id")), &st));
    json_decref(v);
    /* the expired session is still listed, marked expired */
    char path[300];
    snprintf(path, sizeof path, "/api/v1/sessions/%s", dead);
    v = hj(&h, "GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(v, "expired")));
    json_decref(v);
    free(waiting);
    free(sampler);
    free(m);
    free(m2);
    free(dead);
    free(alive);
    harness_stop(&h, false);
    assert_int_equal(fake_engine_frees(), 2); /* and the rest at shutdown */
}

/* Requests that name a session's model keep the session alive too. */
static void test_activity_counts(void **state) {
    (void)state;
    tk_server_config c;
    harness_config(&c);
    c.session_timeout_s = 0.5;
    harness h = {0};
    harness_start(&h, &c, true);
    char *sid = new_session(&h);
    char *m = create_model(&h, sid, 0);
    long st = 0;
    for (int i = 1; i <= 10; i++) {
        json_t *v = hjf(&h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":%d,\"op\":\"fwd\"}", m, i);
        assert_int_equal(st, 200);
        json_decref(wait_result(&h, json_string_value(json_object_get(v, "request_id")), &st));
        json_decref(v);
        tk_sleep_ms(100);
    }
    json_t *v = hjf(&h, "POST", "/api/v1/session_heartbeat", &st, "{\"session_id\":\"%s\"}", sid);
    assert_int_equal(st, 200);
    json_decref(v);
    free(m);
    free(sid);
    harness_stop(&h, false);
}

int main(void) {
    tk_log_set_level(TK_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_list_get),
        cmocka_unit_test(test_expiry_unloads),
        cmocka_unit_test(test_activity_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
