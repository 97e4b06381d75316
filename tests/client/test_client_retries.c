/* The submit-side retry layers of protocol §8.1 against scripted answers: layer 1 (same
 * idempotency key, retry counter, Retry-After, x-should-retry), layer 2 (execute_with_retries:
 * new key, same body, min(2^k,30) s, budget), 402 billing pauses, sampling back-pressure, the
 * empty-400 rule, timeouts and the per-call deadline. Expected delays come from the formulas in
 * the protocol reference, multiplied by the test's time scale. */
#include "client_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define S TEST_TIME_SCALE

static const tk_client_call_spec plain_spec = {.path = "/api/v1/op", .body = "{\"seq_id\":7}",
                                               .body_len = 12};

static void expect_same_body(tk_mock *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const tk_mock_request *q = tk_mock_get(m, i);
        assert_non_null(q);
        assert_true(body_equals(q, "{\"seq_id\":7}"));
    }
}

static const char *key_of(tk_mock *m, size_t i) {
    return tk_mock_req_header(tk_mock_get(m, i), "X-Idempotency-Key");
}

static void test_layer1_same_key_and_retry_count(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/op", 503, "{\"detail\":\"busy\"}");
    tk_mock_push_json(m, "POST", "/api/v1/op", 500, "{\"detail\":\"oops\"}");
    tk_mock_push_json(m, "POST", "/api/v1/op", 200, "{\"done\":1}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &plain_spec, &f, &e), &e);
    assert_int_equal(tk_mock_count(m, "POST", "/api/v1/op"), 3);
    expect_same_body(m, 3);
    assert_string_equal(key_of(m, 0), key_of(m, 1));
    assert_string_equal(key_of(m, 1), key_of(m, 2));
    for (size_t i = 0; i < 3; i++) {
        char want[8];
        snprintf(want, sizeof want, "%zu", i);
        assert_string_equal(tk_mock_req_header(tk_mock_get(m, i), "x-stainless-retry-count"), want);
    }
    /* min(0.5*2^k, 10) * (1 - 0.25u): k=0 in (0.375, 0.5], k=1 in (0.75, 1.0] */
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_RETRY_REQUEST), 2);
    rec_event r0 = rec_nth(&rec, TK_CLIENT_EV_RETRY_REQUEST, 0);
    rec_event r1 = rec_nth(&rec, TK_CLIENT_EV_RETRY_REQUEST, 1);
    assert_true(r0.delay_s > 0.375 * S && r0.delay_s <= 0.5 * S + 1e-12);
    assert_true(r1.delay_s > 0.75 * S && r1.delay_s <= 1.0 * S + 1e-12);
    assert_int_equal(r0.status, 503);
    assert_int_equal(r1.status, 500);
    assert_non_null(strstr(r0.reason, "busy"));
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_NONE);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_retryable_statuses_and_connection_faults(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/op", 408, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/op", 409, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/op", 429, "{}");
    tk_mock_answer close_it = {.action = TK_MOCK_CLOSE};
    tk_mock_push(m, "POST", "/api/v1/op", &close_it);
    tk_mock_answer cut = {.status = 200, .body = "{\"long\":\"abcdefghijklmnopqrstuvwxyz\"}",
                          .action = TK_MOCK_TRUNCATE};
    tk_mock_push(m, "POST", "/api/v1/op", &cut);
    tk_mock_push_json(m, "POST", "/api/v1/op", 599, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/op", 200, "{\"fine\":true}");
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &plain_spec, &f, &e), &e);
    assert_int_equal(tk_mock_count(m, NULL, NULL), 7);
    expect_same_body(m, 7);
    for (size_t i = 1; i < 7; i++) assert_string_equal(key_of(m, 0), key_of(m, i));
    const tk_client_response *r = tk_client_future_response(f);
    assert_int_equal(r->body.len, 13);
    assert_memory_equal(r->body.data, "{\"fine\":true}", 13);
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_NONE);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_retry_after_headers(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    tk_mock_answer a1 = {.status = 429, .body = "{}", .headers = "Retry-After: 2"};
    tk_mock_answer a2 = {.status = 503, .body = "{}", .headers = "retry-after-ms: 1500\nRetry-After: 9"};
    tk_mock_answer a3 = {.status = 503, .body = "{}", .headers = "Retry-After: 120"};   /* > 60: ignored */
    tk_mock_answer a4 = {.status = 503, .body = "{}", .headers = "Retry-After: 0"};     /* <= 0: ignored */
    tk_mock_push(m, "POST", "/api/v1/op", &a1);
    tk_mock_push(m, "POST", "/api/v1/op", &a2);
    tk_mock_push(m, "POST", "/api/v1/op", &a3);
    tk_mock_push(m, "POST", "/api/v1/op", &a4);
    tk_mock_push_json(m, "POST", "/api/v1/op", 200, "{}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &plain_spec, &f, &e), &e);
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_RETRY_REQUEST), 4);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_RETRY_REQUEST, 0).delay_s, 2.0 * S, 1e-12);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_RETRY_REQUEST, 1).delay_s, 1.5 * S, 1e-12);
    double d2 = rec_nth(&rec, TK_CLIENT_EV_RETRY_REQUEST, 2).delay_s;   /* k=2: (1.5, 2] */
    assert_true(d2 > 1.5 * S && d2 <= 2.0 * S + 1e-12);
    double d3 = rec_nth(&rec, TK_CLIENT_EV_RETRY_REQUEST, 3).delay_s;   /* k=3: (3, 4] */
    assert_true(d3 > 3.0 * S && d3 <= 4.0 * S + 1e-12);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_should_retry_header_and_fatal_statuses(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    /* x-should-retry: false stops layer 1 on a 503 (layer 2 is off here) */
    tk_mock_answer no = {.status = 503, .body = "{\"detail\":\"do not\"}", .headers = "x-should-retry: false"};
    tk_mock_push(m, "POST", "/api/v1/a", &no);
    /* x-should-retry: true makes a 400 retryable */
    tk_mock_answer yes = {.status = 400, .body = "{\"detail\":\"again\"}", .headers = "x-should-retry: true"};
    tk_mock_push(m, "POST", "/api/v1/b", &yes);
    tk_mock_push_json(m, "POST", "/api/v1/b", 200, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/c", 404, "{\"detail\":\"no such model m-1\"}");
    tk_mock_push_json(m, "POST", "/api/v1/d", 422, "{\"detail\":\"bad field\"}");
    tk_mock_push_json(m, "POST", "/api/v1/e", 410, "{}");
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_future *f;
    tk_err e = {0};
    tk_client_call_spec s = plain_spec;

    s.path = "/api/v1/a";
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "HTTP 503");
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_HTTP);
    assert_int_equal(tk_client_future_failure(f).http_status, 503);
    tk_client_future_release(f);
    assert_int_equal(tk_mock_count(m, NULL, "/api/v1/a"), 1);

    s.path = "/api/v1/b";
    assert_ok(run_call(c, &s, &f, &e), &e);
    tk_client_future_release(f);
    assert_int_equal(tk_mock_count(m, NULL, "/api/v1/b"), 2);

    s.path = "/api/v1/c";
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "POST /api/v1/c: HTTP 404");
    assert_non_null(strstr(e.msg, "no such model m-1"));
    assert_int_equal(tk_client_future_failure(f).attempts, 1);
    tk_client_future_release(f);
    s.path = "/api/v1/d";
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "HTTP 422");
    tk_client_future_release(f);
    s.path = "/api/v1/e";   /* 410 on a submit is fatal (only retrieve_future treats it specially) */
    s.exec_retries = true;
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "HTTP 410");
    tk_client_future_release(f);
    assert_int_equal(tk_mock_count(m, NULL, NULL), 6);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_layer2_new_key_same_body(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    for (int i = 0; i < 4; i++) tk_mock_push_json(m, "POST", "/api/v1/op", 503, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/op", 200, "{}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_call_spec s = plain_spec;
    s.max_retries = 1;
    s.exec_retries = true;
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_int_equal(tk_mock_count(m, NULL, NULL), 5);
    expect_same_body(m, 5);
    /* keys: K1 K1 | K2 K2 | K3 — layer 1 keeps it, layer 2 makes a new one */
    assert_string_equal(key_of(m, 0), key_of(m, 1));
    assert_string_equal(key_of(m, 2), key_of(m, 3));
    assert_string_not_equal(key_of(m, 1), key_of(m, 2));
    assert_string_not_equal(key_of(m, 3), key_of(m, 4));
    assert_string_not_equal(key_of(m, 0), key_of(m, 4));
    /* the retry counter restarts with each layer-2 attempt */
    assert_string_equal(tk_mock_req_header(tk_mock_get(m, 2), "x-stainless-retry-count"), "0");
    assert_string_equal(tk_mock_req_header(tk_mock_get(m, 3), "x-stainless-retry-count"), "1");
    /* min(2^k, 30): 1 then 2 */
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_RETRY_EXEC), 2);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_RETRY_EXEC, 0).delay_s, 1.0 * S, 1e-12);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_RETRY_EXEC, 1).delay_s, 2.0 * S, 1e-12);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void always(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch, void *user) {
    (void)req;
    (void)scratch;
    *out = *(const tk_mock_answer *)user;
}

static void test_layer2_budget_runs_out(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer busy = {.status = 503, .body = "{\"detail\":\"down\"}"};
    tk_mock_set_handler(m, "POST", "/api/v1/op", always, &busy);
    tk_client_options o;
    tk_client_options_init(&o);
    o.retry_time_scale = S;
    o.max_retries = 2;
    o.exec_retry_budget_s = 0.2;   /* real seconds: the budget is not scaled */
    tk_client *c = open_client_opts(tk_mock_url(m), &o, NULL);
    tk_client_call_spec s = plain_spec;
    s.exec_retries = true;
    tk_client_future *f;
    tk_err e = {0};
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "gave up after");
    assert_non_null(strstr(e.msg, "HTTP 503: {\"detail\":\"down\"}"));
    size_t n = tk_mock_count(m, NULL, NULL);
    assert_true(n >= 6);   /* at least two layer-2 rounds of three */
    assert_int_equal(tk_client_future_failure(f).attempts, (int)n);
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_HTTP);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_empty_400_is_a_connection_error_on_a_new_connection(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer empty400 = {.status = 400};
    tk_mock_push(m, "POST", "/api/v1/op", &empty400);
    tk_mock_push_json(m, "POST", "/api/v1/op", 200, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/other", 400, "{\"detail\":\"real 400\"}");
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &plain_spec, &f, &e), &e);
    tk_client_future_release(f);
    assert_int_equal(tk_mock_count(m, NULL, "/api/v1/op"), 2);
    assert_int_not_equal(tk_mock_get(m, 0)->client_port, tk_mock_get(m, 1)->client_port);
    /* a 400 with a body is fatal */
    tk_client_call_spec s = plain_spec;
    s.path = "/api/v1/other";
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "real 400");
    tk_client_future_release(f);
    assert_int_equal(tk_mock_count(m, NULL, "/api/v1/other"), 1);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_billing_pause(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/op", 402, "{\"detail\":\"pay\"}");
    tk_mock_push_json(m, "POST", "/api/v1/op", 402, "{\"detail\":\"pay\"}");
    tk_mock_push_json(m, "POST", "/api/v1/op", 200, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/nopause", 402, "{\"detail\":\"pay\"}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_call_spec s = plain_spec;
    s.exec_retries = true;
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    tk_client_future_release(f);
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_BILLING_PAUSE), 2);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_BILLING_PAUSE, 0).delay_s, 5.0 * S, 1e-12);
    expect_same_body(m, 3);
    assert_string_not_equal(key_of(m, 0), key_of(m, 1));
    /* without execute_with_retries a 402 is an error */
    s.path = "/api/v1/nopause";
    s.exec_retries = false;
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "HTTP 402");
    tk_client_future_release(f);
    tk_client_close(c);

    /* a pause longer than billing_max_pause_s gives up with its own failure kind */
    tk_mock_answer pay = {.status = 402, .body = "{}"};
    tk_mock_set_handler(m, "POST", "/api/v1/forever", always, &pay);
    tk_client_options o;
    tk_client_options_init(&o);
    o.retry_time_scale = S;
    o.billing_max_pause_s = 0.05;
    c = open_client_opts(tk_mock_url(m), &o, NULL);
    s.path = "/api/v1/forever";
    s.exec_retries = true;
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "402 (billing)");
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_BILLING);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_sampling_backpressure(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/asample", 429, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/asample", 429, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/asample", 200, "{\"request_id\":\"s1\"}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_call_spec s = {.path = "/api/v1/asample", .body = "{\"seq_id\":3}", .body_len = 12,
                             .max_retries = TK_CLIENT_NO_RETRIES, .sampling_backpressure = true};
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    tk_client_future_release(f);
    assert_int_equal(tk_mock_count(m, NULL, NULL), 3);
    for (size_t i = 0; i < 3; i++) {
        const tk_mock_request *q = tk_mock_get(m, i);
        assert_true(body_equals(q, "{\"seq_id\":3}"));   /* same seq_id every time */
        assert_string_equal(tk_mock_req_header(q, "X-Tinker-Sampling-Backpressure"), "1");
    }
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_BACKPRESSURE), 2);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_BACKPRESSURE, 0).delay_s, 1.0 * S, 1e-12);
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_RETRY_REQUEST), 0);

    /* a prompt over 128 KiB waits 5 s */
    tk_mock_push_json(m, "POST", "/api/v1/asample", 429, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/asample", 200, "{}");
    size_t n = 200 * 1024;
    char *big = malloc(n);
    memset(big, ' ', n);
    s.body = big;
    s.body_len = n;
    assert_ok(run_call(c, &s, &f, &e), &e);
    tk_client_future_release(f);
    free(big);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_BACKPRESSURE, 2).delay_s, 5.0 * S, 1e-12);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_attempt_timeout_is_retried(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    tk_mock_answer slow = {.status = 200, .body = "{\"late\":1}", .delay_ms = 1500};
    tk_mock_push(m, "POST", "/api/v1/op", &slow);
    tk_mock_push_json(m, "POST", "/api/v1/op", 200, "{\"on_time\":1}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_call_spec s = plain_spec;
    s.timeout_s = 0.3;
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_memory_equal(tk_client_future_response(f)->body.data, "{\"on_time\":1}", 13);
    assert_string_equal(tk_mock_req_header(tk_mock_get(m, 0), "x-stainless-read-timeout"), "0.3");
    assert_non_null(strstr(rec_nth(&rec, TK_CLIENT_EV_RETRY_REQUEST, 0).reason, "timeout"));
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_call_deadline(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer busy = {.status = 503, .body = "{\"detail\":\"still busy\"}"};
    tk_mock_set_handler(m, "POST", "/api/v1/op", always, &busy);
    tk_mock_answer hang = {.status = 200, .body = "{}", .delay_ms = 3000};
    tk_mock_set_handler(m, "POST", "/api/v1/hang", always, &hang);
    tk_client *c = open_client(tk_mock_url(m), 0.01, NULL);
    tk_client_call_spec s = plain_spec;
    s.max_retries = 1000;
    s.deadline_s = 0.25;
    tk_client_future *f;
    tk_err e = {0};
    assert_err(run_call(c, &s, &f, &e), TK_ETIMEOUT, &e, "deadline passed");
    assert_non_null(strstr(e.msg, "still busy"));
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_DEADLINE);
    assert_true(tk_mock_count(m, NULL, "/api/v1/op") >= 2);
    tk_client_future_release(f);
    /* the deadline also cuts a hanging attempt short */
    s.path = "/api/v1/hang";
    double t0 = tk_now_s();
    assert_err(run_call(c, &s, &f, &e), TK_ETIMEOUT, &e, "deadline");
    assert_true(tk_now_s() - t0 < 2.5);   /* not the mock's 3 s: a bound, not a benchmark */
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_no_idempotency_key_option(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/op", 200, "{}");
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_call_spec s = plain_spec;
    s.no_idempotency_key = true;
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_null(key_of(m, 0));
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}


/* A raw TCP server: answers its n-th connection with replies[n] and closes it. */
typedef struct raw_server {
    int lfd, port;
    const char *replies[4];
    int n_replies, served;
    tk_thread th;
} raw_server;

static void *raw_main(void *arg) {
    raw_server *rs = arg;
    for (int i = 0; i < rs->n_replies; i++) {
        int fd = accept(rs->lfd, NULL, NULL);
        if (fd < 0) return NULL;
        char buf[4096];
        size_t got = 0;
        while (got < sizeof buf - 1) {   /* the request: head and its small body */
            ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
            buf[got] = 0;
            char *end = strstr(buf, "\r\n\r\n");
            if (end && (size_t)(end + 4 - buf) + 12 <= got) break;   /* body "{\"seq_id\":7}" */
        }
        if (send(fd, rs->replies[i], strlen(rs->replies[i]), MSG_NOSIGNAL) < 0) {}
        close(fd);
        rs->served++;
    }
    return NULL;
}

static void test_truncated_response_head_is_a_connection_error(void **state) {
    (void)state;
    raw_server rs = {.n_replies = 2};
    rs.replies[0] = "HTTP/1.1 200 OK\r\nContent-Type: appl";   /* the head stops short */
    rs.replies[1] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Content-Length: 11\r\nConnection: close\r\n\r\n{\"good\":1}\n";
    rs.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(rs.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(rs.lfd, 4), 0);
    assert_int_equal(getsockname(rs.lfd, (struct sockaddr *)&sa, &sl), 0);
    tk_err e = {0};
    assert_ok(tk_thread_start(&rs.th, raw_main, &rs, &e), &e);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    recorder rec;
    rec_init(&rec);
    tk_client *c = open_client(url, S, &rec);
    tk_client_future *f;
    assert_ok(run_call(c, &plain_spec, &f, &e), &e);
    assert_memory_equal(tk_client_future_response(f)->body.data, "{\"good\":1}\n", 11);
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_RETRY_REQUEST), 1);
    assert_non_null(strstr(rec_nth(&rec, TK_CLIENT_EV_RETRY_REQUEST, 0).reason, "inside the response headers"));
    tk_client_future_release(f);
    tk_client_close(c);
    tk_thread_join(&rs.th);
    close(rs.lfd);
    assert_int_equal(rs.served, 2);
    rec_free(&rec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer1_same_key_and_retry_count),
        cmocka_unit_test(test_retryable_statuses_and_connection_faults),
        cmocka_unit_test(test_retry_after_headers),
        cmocka_unit_test(test_should_retry_header_and_fatal_statuses),
        cmocka_unit_test(test_layer2_new_key_same_body),
        cmocka_unit_test(test_layer2_budget_runs_out),
        cmocka_unit_test(test_empty_400_is_a_connection_error_on_a_new_connection),
        cmocka_unit_test(test_billing_pause),
        cmocka_unit_test(test_sampling_backpressure),
        cmocka_unit_test(test_attempt_timeout_is_retried),
        cmocka_unit_test(test_call_deadline),
        cmocka_unit_test(test_no_idempotency_key_option),
        cmocka_unit_test(test_truncated_response_head_is_a_connection_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
