/* retrieve_future over HTTP (protocol §3.7): the long-poll holds then answers try_again, the
 * worker wakes waiters, results follow Accept (protobuf or JSON), failures are 200 {"error",
 * "category"}, unknown ids 404 and expired ones 410; many long-polls do not starve other
 * requests; stopping the server releases them. */
#include "test_util.h"

#include "harness.h"

static char *submit(harness *h, const char *model, long seq, const char *op, const char *extra) {
    long st = 0;
    json_t *v = hjf(h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":%ld,\"op\":\"%s\"%s%s}", model, seq,
                    op, extra ? "," : "", extra ? extra : "");
    assert_int_equal(st, 200);
    char *rid = tk_strdup(json_string_value(json_object_get(v, "request_id")));
    json_decref(v);
    return rid;
}

static char *model(harness *h, char **sid_out) {
    char *sid = new_session(h);
    long st = 0;
    json_t *v = hjf(h, "POST", "/test/create_model", &st, "{\"session_id\":\"%s\",\"model_seq_id\":0}", sid);
    json_t *r = wait_result(h, json_string_value(json_object_get(v, "request_id")), &st);
    char *id = tk_strdup(json_string_value(json_object_get(r, "model_id")));
    assert_non_null(id);
    json_decref(v);
    json_decref(r);
    *sid_out = sid;
    return id;
}

static void retrieve(harness *h, const char *rid, const char *accept, http_res *out) {
    char url[300], body[300], acc[128];
    snprintf(url, sizeof url, "%s/api/v1/retrieve_future", h->url);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"allow_metadata_only\":true}", rid);
    snprintf(acc, sizeof acc, "Accept: %s", accept ? accept : "application/json");
    const char *hdr[] = {"Content-Type: application/json", acc, "X-Tinker-Request-Type: ForwardBackward", NULL};
    http_do("POST", url, hdr, body, strlen(body), out);
}

static void test_try_again_and_wake(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true); /* hold 0.5 s */
    char *sid = NULL;
    char *m = model(&h, &sid);
    fake_gate_close();
    char *rid = submit(&h, m, 1, "gate", NULL);
    http_res r;
    retrieve(&h, rid, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "try_again");
    assert_string_equal(json_string_value(json_object_get(v, "request_id")), rid);
    assert_string_equal(json_string_value(json_object_get(v, "queue_state")), "active");
    assert_true(r.seconds >= 0.45); /* it held the poll */
    json_decref(v);
    http_res_free(&r);
    fake_gate_open();
    free(rid);
    harness_stop(&h, false);

    /* a long hold is cut short by the worker settling the future */
    tk_server_config c;
    harness_config(&c);
    c.future_hold_s = 20;
    harness_start(&h, &c, true);
    free(m);
    free(sid);
    m = model(&h, &sid);
    rid = submit(&h, m, 1, "optim", "\"delay_ms\":200");
    retrieve(&h, rid, NULL, &r);
    assert_int_equal(r.status, 200);
    v = json_loadb(r.body.data, r.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "optim");
    assert_true(r.seconds < 15); /* woken by the worker, not by the 20 s hold */
    json_decref(v);
    http_res_free(&r);
    free(rid);
    free(m);
    free(sid);
    harness_stop(&h, false);
}

static void test_accept_and_failures(void **state) {
    (void)state;
    tk_server_config c;
    harness_config(&c);
    c.future_ttl_s = 0.3;
    harness h = {0};
    harness_start(&h, &c, true);
    char *sid = NULL;
    char *m = model(&h, &sid);
    char *fwd = submit(&h, m, 1, "fwd", NULL);
    char *opt = submit(&h, m, 2, "optim", NULL);
    char *bad = submit(&h, m, 3, "fwd", "\"fail\":true");
    http_res r;
    /* protobuf when asked for and available ... */
    retrieve(&h, fwd, "application/x-protobuf", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/x-protobuf");
    assert_string_equal(r.body.data, "PROTO seq=1");
    http_res_free(&r);
    retrieve(&h, fwd, "application/x-protobuf, application/json", &r);
    assert_string_equal(r.content_type, "application/x-protobuf");
    http_res_free(&r);
    /* ... JSON with a type tag otherwise (the same future can be read again) */
    retrieve(&h, fwd, "application/json", &r);
    assert_string_equal(r.content_type, "application/json");
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "fwd");
    json_decref(v);
    http_res_free(&r);
    /* a result type with no protobuf form is JSON even when protobuf is accepted */
    retrieve(&h, opt, "application/x-protobuf", &r);
    assert_string_equal(r.content_type, "application/json");
    http_res_free(&r);
    /* failures: 200 with error and category, as JSON whatever Accept says */
    retrieve(&h, bad, "application/x-protobuf", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    v = json_loadb(r.body.data, r.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "category")), "user");
    assert_non_null(strstr(json_string_value(json_object_get(v, "error")), "failed as asked"));
    json_decref(v);
    http_res_free(&r);
    /* unknown: 404 JSON; expired after the ttl: 410 JSON */
    retrieve(&h, "nope-1", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body.data, "unknown request_id"));
    http_res_free(&r);
    tk_sleep_ms(700);
    retrieve(&h, fwd, NULL, &r);
    assert_int_equal(r.status, 410);
    assert_non_null(strstr(r.body.data, "expired"));
    assert_string_equal(r.content_type, "application/json");
    http_res_free(&r);
    free(fwd);
    free(opt);
    free(bad);
    free(m);
    free(sid);
    harness_stop(&h, false);
}

typedef struct poller {
    harness *h;
    char rid[TK_SERVER_ID_MAX];
    long status;
    char type[32];
    double done_at;
} poller;

static void *poll_once(void *arg) {
    poller *p = arg;
    http_res r;
    retrieve(p->h, p->rid, NULL, &r);
    p->status = r.status;
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    const char *t = json_string_value(json_object_get(v, "type"));
    snprintf(p->type, sizeof p->type, "%s", t ? t : "");
    json_decref(v);
    http_res_free(&r);
    p->done_at = tk_now_s();
    return NULL;
}

/* 64 long-polls on 64 pending sample futures, and meanwhile heartbeats and health checks still
 * answer (a thread per connection: a blocked poll does not block anyone else). Then the worker
 * finishes and every poll gets its own result; 8 more pollers on one id all get it. */
static void test_many_long_polls(void **state) {
    (void)state;
    enum { N = 64 };
    tk_server_config c;
    harness_config(&c);
    c.future_hold_s = 20;
    harness h = {0};
    harness_start(&h, &c, true);
    char *sid = NULL;
    char *m = model(&h, &sid);
    long st = 0;
    json_t *ss = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
                     "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"base_model\":\"fake/base\"}", sid);
    assert_int_equal(st, 200);
    const char *ssid = json_string_value(json_object_get(ss, "sampling_session_id"));
    fake_gate_close();
    char *gate = submit(&h, m, 1, "gate", NULL);
    static poller p[N + 8];
    tk_thread t[N + 8];
    tk_err e = {0};
    for (int i = 0; i < N; i++) {
        json_t *v = hjf(&h, "POST", "/test/sample", &st, "{\"sampling_session_id\":\"%s\",\"seq_id\":%d}", ssid, i);
        assert_int_equal(st, 200);
        p[i] = (poller){.h = &h};
        snprintf(p[i].rid, sizeof p[i].rid, "%s", json_string_value(json_object_get(v, "request_id")));
        json_decref(v);
        assert_ok(tk_thread_start(&t[i], poll_once, &p[i], &e), &e);
    }
    for (int i = N; i < N + 8; i++) {
        p[i] = (poller){.h = &h};
        snprintf(p[i].rid, sizeof p[i].rid, "%s", p[0].rid);
        assert_ok(tk_thread_start(&t[i], poll_once, &p[i], &e), &e);
    }
    tk_sleep_ms(300); /* let the polls block */
    for (int k = 0; k < 5; k++) {
        json_t *v = hjf(&h, "POST", "/api/v1/session_heartbeat", &st, "{\"session_id\":\"%s\"}", sid);
        assert_int_equal(st, 200);
        json_decref(v);
        v = hj(&h, "GET", "/api/v1/healthz", NULL, &st);
        assert_int_equal(st, 200);
        json_decref(v);
    }
    double others_done = tk_now_s();
    for (int i = 0; i < N + 8; i++) assert_int_equal(p[i].done_at, 0); /* nobody answered yet */
    fake_gate_open();
    for (int i = 0; i < N + 8; i++) tk_thread_join(&t[i]);
    for (int i = 0; i < N + 8; i++) {
        assert_int_equal(p[i].status, 200);
        assert_string_equal(p[i].type, "sample");
        assert_true(p[i].done_at > others_done);
    }
    json_t *g = wait_result(&h, gate, &st);
    json_decref(g);
    free(gate);
    json_decref(ss);
    free(m);
    free(sid);
    harness_stop(&h, false);
}

/* Stopping the server while polls wait releases them at once instead of after the hold. */
static void test_stop_releases_polls(void **state) {
    (void)state;
    tk_server_config c;
    harness_config(&c);
    c.future_hold_s = 30;
    harness h = {0};
    harness_start(&h, &c, true);
    char *sid = NULL;
    char *m = model(&h, &sid);
    fake_gate_close();
    char *g = submit(&h, m, 1, "gate", NULL);
    char *q = submit(&h, m, 2, "fwd", NULL);
    poller p = {.h = &h};
    snprintf(p.rid, sizeof p.rid, "%s", q);
    tk_thread t;
    tk_err e = {0};
    assert_ok(tk_thread_start(&t, poll_once, &p, &e), &e);
    tk_sleep_ms(200);
    double t0 = tk_now_s();
    fake_gate_open(); /* the gate job finishes; seq 2 may or may not run before the stop */
    harness_stop(&h, false);
    tk_thread_join(&t);
    assert_true(tk_now_s() - t0 < 20); /* not the 30 s hold */
    assert_true(p.status == 200 || p.status == 0);
    free(g);
    free(q);
    free(m);
    free(sid);
}

int main(void) {
    tk_log_set_level(TK_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_try_again_and_wake), cmocka_unit_test(test_accept_and_failures),
        cmocka_unit_test(test_many_long_polls),   cmocka_unit_test(test_stop_releases_polls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
