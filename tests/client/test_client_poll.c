/* The retrieve_future state machine of protocol §3.7 against scripted answers: the request body
 * and headers of each poll, every answer class (try_again, 408, 5xx, 429, 400 x3, 410, 402,
 * fatal statuses, {"error","category"}, metadata-only, protobuf, bare JSON, garbage), the
 * no-busy-loop guard, connection-error back-off and its reset, poll timeouts and 410
 * re-submission with a new body. */
#include "client_test_util.h"

#define S TEST_TIME_SCALE
#define RF "/api/v1/retrieve_future"

static tk_client_call_spec future_spec(void) {
    tk_client_call_spec s = {.path = "/api/v1/optim_step",
                             .body = "{\"model_id\":\"m\",\"seq_id\":2}", .body_len = 27,
                             .is_future = true, .exec_retries = true,
                             .request_type = "OptimStep"};
    return s;
}

static void push_submit(tk_mock *m, const char *rid) {
    char body[128];
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"model_id\":\"m\"}", rid);
    tk_mock_push_json(m, "POST", "/api/v1/optim_step", 200, body);
}

static const char *poll_hdr(tk_mock *m, size_t i, const char *name) {
    const tk_mock_request *q = tk_mock_get_route(m, "POST", RF, i);
    assert_non_null(q);
    return tk_mock_req_header(q, name);
}

static void test_poll_protocol_and_result(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    push_submit(m, "R1");
    tk_mock_push_json(m, "POST", RF, 200, "{\"type\":\"try_again\",\"request_id\":\"R1\",\"queue_state\":\"active\"}");
    tk_mock_push_json(m, "POST", RF, 200, "{\"type\":\"try_again\",\"request_id\":\"R1\",\"queue_state\":\"paused_capacity\",\"queue_state_reason\":\"busy\"}");
    const char *result = "{\"metrics\":{\"grad_norm:mean\":0.5},\"type\":\"optim_step\"}";
    tk_mock_push_json(m, "POST", RF, 200, result);
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_call_spec s = future_spec();
    s.poll_accept = "application/x-protobuf, application/json";
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    const tk_client_response *r = tk_client_future_response(f);
    assert_int_equal(r->body.len, strlen(result));
    assert_memory_equal(r->body.data, result, strlen(result));
    assert_string_equal(tk_client_future_request_id(f), "R1");
    char qs[32];
    tk_client_future_queue_state(f, qs, sizeof qs);
    assert_string_equal(qs, "paused_capacity");

    assert_int_equal(tk_mock_count(m, "POST", RF), 3);
    for (size_t i = 0; i < 3; i++) {
        const tk_mock_request *q = tk_mock_get_route(m, "POST", RF, i);
        assert_string_equal(req_json_str(q, "request_id"), "R1");
        assert_string_equal(req_json_str(q, "allow_metadata_only"), "true");
        char it[8];
        snprintf(it, sizeof it, "%zu", i);
        assert_string_equal(tk_mock_req_header(q, "X-Tinker-Request-Iteration"), it);
        assert_string_equal(tk_mock_req_header(q, "X-Tinker-Request-Type"), "OptimStep");
        assert_string_equal(tk_mock_req_header(q, "Accept"), "application/x-protobuf, application/json");
        assert_string_equal(tk_mock_req_header(q, "Content-Type"), "application/json");
        assert_non_null(tk_mock_req_header(q, "X-Idempotency-Key"));
        assert_string_equal(tk_mock_req_header(q, "X-API-Key"), "tml-test-key");
    }
    /* the submit round trip rides on the first poll only */
    const char *rtt = poll_hdr(m, 0, "X-Tinker-Create-Promise-Roundtrip-Time");
    assert_non_null(rtt);
    assert_true(atof(rtt) >= 0 && atof(rtt) < 60);
    assert_null(poll_hdr(m, 1, "X-Tinker-Create-Promise-Roundtrip-Time"));
    assert_string_not_equal(poll_hdr(m, 0, "X-Idempotency-Key"), poll_hdr(m, 1, "X-Idempotency-Key"));
    /* the submit itself: JSON, request type not sent there */
    const tk_mock_request *sub = tk_mock_get_route(m, "POST", "/api/v1/optim_step", 0);
    assert_null(tk_mock_req_header(sub, "X-Tinker-Request-Type"));
    /* fast try_again answers: 0.05 s, then 0.1 s (scaled), never 0 */
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_POLL_AGAIN), 2);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, 0).delay_s, 0.05 * S, 1e-12);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, 1).delay_s, 0.10 * S, 1e-12);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

/* peers.md §0.2: a server answering try_again / 408 / 5xx at once must not cause a busy loop. */
static void test_no_busy_loop_on_fast_answers(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    push_submit(m, "R2");
    for (int i = 0; i < 30; i++) {
        if (i % 3 == 0) tk_mock_push_json(m, "POST", RF, 408, "{\"queue_state\":\"active\"}");
        else if (i % 3 == 1) tk_mock_push_json(m, "POST", RF, 503, "{}");
        else tk_mock_push_json(m, "POST", RF, 200, "{\"type\":\"try_again\"}");
    }
    tk_mock_push_json(m, "POST", RF, 200, "{\"done\":true}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_call_spec s = future_spec();
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_POLL_AGAIN), 30);
    double prev = 0;
    for (size_t i = 0; i < 30; i++) {
        double d = rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, i).delay_s;
        assert_true(d > 0);       /* never an immediate re-poll after a fast answer */
        assert_true(d >= prev);   /* growing ... */
        prev = d;
    }
    assert_float_equal(prev, 2.0 * S, 1e-12);   /* ... up to the 2 s cap */
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_slow_long_poll_repolls_at_once(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    push_submit(m, "R3");
    tk_mock_push_json(m, "POST", RF, 200, "{\"type\":\"try_again\"}");   /* fast */
    tk_mock_answer held = {.status = 200, .body = "{\"type\":\"try_again\"}", .delay_ms = 1100};
    tk_mock_push(m, "POST", RF, &held);                                  /* a real long-poll */
    tk_mock_push_json(m, "POST", RF, 200, "{\"type\":\"try_again\"}");   /* fast again */
    tk_mock_push_json(m, "POST", RF, 200, "{\"ok\":1}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_call_spec s = future_spec();
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_POLL_AGAIN), 3);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, 0).delay_s, 0.05 * S, 1e-12);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, 1).delay_s, 0.0, 1e-12);
    /* the slow answer reset the fast streak */
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, 2).delay_s, 0.05 * S, 1e-12);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_429_and_connection_error_backoff(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    push_submit(m, "R4");
    /* libcurl resends a request once by itself when a reused keep-alive connection turns out
     * dead before any answer byte (same bytes, same idempotency key). The answers before each
     * dropped connection therefore close their connection, so every drop below is seen. */
    tk_mock_answer busy = {.status = 429, .body = "{}", .headers = "Connection: close"};
    tk_mock_push(m, "POST", RF, &busy);
    tk_mock_push(m, "POST", RF, &busy);
    tk_mock_answer close_it = {.action = TK_MOCK_CLOSE};
    tk_mock_push(m, "POST", RF, &close_it);
    tk_mock_push(m, "POST", RF, &close_it);
    tk_mock_push(m, "POST", RF, &close_it);
    tk_mock_answer again = {.status = 200, .body = "{\"type\":\"try_again\"}",
                            .headers = "Connection: close"};
    tk_mock_push(m, "POST", RF, &again);   /* any HTTP answer resets the back-off */
    tk_mock_push(m, "POST", RF, &close_it);
    tk_mock_answer cut = {.status = 200, .body = "{\"result\":\"xxxxxxxxxxxxxxxx\"}",
                          .action = TK_MOCK_TRUNCATE};
    tk_mock_push(m, "POST", RF, &cut);
    tk_mock_push_json(m, "POST", RF, 200, "{\"ok\":1}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    tk_client_call_spec s = future_spec();
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    /* 429: min(2^n, 30) = 1, 2; connection errors: 1, 2, 4; try_again (fast): 0.05;
     * connection errors again start from 1 (reset by the HTTP answer), then 2 */
    const double want[] = {1, 2, 1, 2, 4, 0.05, 1, 2};
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_POLL_AGAIN), 8);
    for (size_t i = 0; i < 8; i++)
        assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, i).delay_s, want[i] * S, 1e-12);
    assert_non_null(strstr(rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, 2).reason, "connection error"));
    assert_int_equal(tk_mock_count(m, "POST", RF), 9);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_400_three_times_then_fatal(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    /* three 400s are tolerated */
    push_submit(m, "A");
    for (int i = 0; i < 3; i++) tk_mock_push_json(m, "POST", RF, 400, "{\"detail\":\"proxy?\"}");
    tk_mock_push_json(m, "POST", RF, 200, "{\"ok\":1}");
    /* the fourth is fatal */
    push_submit(m, "B");
    for (int i = 0; i < 4; i++) tk_mock_push_json(m, "POST", RF, 400, "{\"detail\":\"really bad\"}");
    /* a 408 resets the count */
    push_submit(m, "C");
    tk_mock_push_json(m, "POST", RF, 400, "{}");
    tk_mock_push_json(m, "POST", RF, 400, "{}");
    tk_mock_push_json(m, "POST", RF, 408, "{}");
    tk_mock_push_json(m, "POST", RF, 400, "{}");
    tk_mock_push_json(m, "POST", RF, 400, "{}");
    tk_mock_push_json(m, "POST", RF, 400, "{}");
    tk_mock_push_json(m, "POST", RF, 200, "{\"ok\":2}");
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_call_spec s = future_spec();
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    tk_client_future_release(f);
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "HTTP 400 (4 times)");
    assert_non_null(strstr(e.msg, "request B"));
    assert_non_null(strstr(e.msg, "really bad"));
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_HTTP);
    assert_int_equal(tk_client_future_failure(f).http_status, 400);
    tk_client_future_release(f);
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_memory_equal(tk_client_future_response(f)->body.data, "{\"ok\":2}", 8);
    tk_client_future_release(f);
    assert_int_equal(tk_mock_count(m, "POST", RF), 4 + 4 + 7);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_fatal_statuses_and_expired(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    push_submit(m, "X1");
    tk_mock_push_json(m, "POST", RF, 404, "{\"detail\":\"unknown request\"}");
    push_submit(m, "X2");
    tk_mock_push_json(m, "POST", RF, 410, "{\"detail\":\"gone\"}");
    push_submit(m, "X3");
    tk_mock_push_json(m, "POST", RF, 409, "{}");   /* 409 is fatal on polls (retried on submits) */
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_call_spec s = future_spec();
    tk_client_future *f;
    tk_err e = {0};
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "request X1): HTTP 404");
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_HTTP);
    tk_client_future_release(f);
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "HTTP 410");
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_EXPIRED);
    assert_int_equal(tk_client_future_failure(f).http_status, 410);
    tk_client_future_release(f);
    assert_err(run_call(c, &s, &f, &e), TK_EHTTP, &e, "HTTP 409");
    tk_client_future_release(f);
    assert_int_equal(tk_mock_count(m, "POST", RF), 3);
    tk_client_close(c);
    tk_mock_stop(m);
}

typedef struct rebody_state {
    int calls, last_attempt;
} rebody_state;

static int new_seq_body(void *user, int attempt, void **body, size_t *len, tk_err *e) {
    (void)e;
    rebody_state *st = user;
    st->calls++;
    st->last_attempt = attempt;
    char *b = malloc(32);
    if (!b) return TK_ENOMEM;
    *len = (size_t)snprintf(b, 32, "{\"seq_id\":%d}", 100 + attempt);
    *body = b;
    return 0;
}

static void test_410_resubmits_with_a_new_body(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/asample", 200, "{\"request_id\":\"S1\"}");
    tk_mock_push_json(m, "POST", RF, 410, "{}");
    tk_mock_push_json(m, "POST", "/api/v1/asample", 200, "{\"request_id\":\"S2\"}");
    tk_mock_push_json(m, "POST", RF, 200, "{\"sequences\":[]}");
    tk_client *c = open_client(tk_mock_url(m), S, &rec);
    rebody_state st = {0};
    tk_client_call_spec s = {.path = "/api/v1/asample", .body = "{\"seq_id\":0}", .body_len = 12,
                             .is_future = true, .max_retries = TK_CLIENT_NO_RETRIES,
                             .sampling_backpressure = true, .resubmit_on_expired = true,
                             .rebody = new_seq_body, .rebody_user = &st,
                             .request_type = "Sample"};
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.last_attempt, 1);
    const tk_mock_request *s1 = tk_mock_get_route(m, "POST", "/api/v1/asample", 0);
    const tk_mock_request *s2 = tk_mock_get_route(m, "POST", "/api/v1/asample", 1);
    assert_true(body_equals(s1, "{\"seq_id\":0}"));
    assert_true(body_equals(s2, "{\"seq_id\":101}"));
    assert_string_not_equal(tk_mock_req_header(s1, "X-Idempotency-Key"),
                            tk_mock_req_header(s2, "X-Idempotency-Key"));
    assert_string_equal(req_json_str(tk_mock_get_route(m, "POST", RF, 1), "request_id"), "S2");
    assert_string_equal(tk_client_future_request_id(f), "S2");
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_RESUBMIT), 1);
    double d = rec_nth(&rec, TK_CLIENT_EV_RESUBMIT, 0).delay_s;   /* 0.5 s ± 25 % */
    assert_true(d >= 0.375 * S && d <= 0.625 * S);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

static void test_remote_failures_and_categories(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    push_submit(m, "E1");
    tk_mock_push_json(m, "POST", RF, 200, "{\"error\":\"target_tokens has 3 entries, model_input 4\",\"category\":\"user\"}");
    push_submit(m, "E2");
    tk_mock_push_json(m, "POST", RF, 200, "{\"error\":\"engine crashed\",\"category\":\"Server\"}");
    push_submit(m, "E3");
    tk_mock_push_json(m, "POST", RF, 200, "{\"error\":{\"code\":7}}");
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_call_spec s = future_spec();
    tk_client_future *f;
    tk_err e = {0};
    assert_err(run_call(c, &s, &f, &e), TK_EREMOTE, &e, "request E1 failed (category user)");
    assert_non_null(strstr(e.msg, "target_tokens has 3 entries"));
    tk_client_failure fl = tk_client_future_failure(f);
    assert_int_equal(fl.kind, TK_CLIENT_FAIL_REMOTE);
    assert_string_equal(fl.category, "user");
    tk_client_future_release(f);
    assert_err(run_call(c, &s, &f, &e), TK_EREMOTE, &e, "(category unknown)");   /* case matters */
    assert_string_equal(tk_client_future_failure(f).category, "unknown");
    tk_client_future_release(f);
    assert_err(run_call(c, &s, &f, &e), TK_EREMOTE, &e, "{\"code\":7}");
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_metadata_protobuf_and_bad_answers(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    /* metadata-only answer, then the full result */
    push_submit(m, "M1");
    tk_mock_push_json(m, "POST", RF, 200, "{\"status\":\"complete_metadata\",\"response_payload_size\":123}");
    const unsigned char proto[] = {0x0a, 0x03, 'a', 0x00, 'c', 0x12, 0x00, 0xff};
    tk_mock_answer pa = {.status = 200, .body = (const char *)proto, .body_len = sizeof proto,
                         .content_type = "application/x-protobuf"};
    tk_mock_push(m, "POST", RF, &pa);
    /* garbage */
    push_submit(m, "G1");
    tk_mock_answer html = {.status = 200, .body = "<html>hi</html>", .content_type = "text/html"};
    tk_mock_push(m, "POST", RF, &html);
    /* submits that are not futures */
    tk_mock_push_json(m, "POST", "/api/v1/optim_step", 200, "{\"no\":\"id\"}");
    tk_mock_push_json(m, "POST", "/api/v1/optim_step", 200, "not json");
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_call_spec s = future_spec();
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    const tk_client_response *r = tk_client_future_response(f);
    assert_int_equal(r->body.len, sizeof proto);
    assert_memory_equal(r->body.data, proto, sizeof proto);
    assert_string_equal(r->content_type, "application/x-protobuf");
    assert_string_equal(req_json_str(tk_mock_get_route(m, "POST", RF, 0), "allow_metadata_only"), "true");
    assert_string_equal(req_json_str(tk_mock_get_route(m, "POST", RF, 1), "allow_metadata_only"), "false");
    tk_client_future_release(f);

    assert_err(run_call(c, &s, &f, &e), TK_EPARSE, &e, "neither JSON nor protobuf");
    assert_non_null(strstr(e.msg, "text/html"));
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_PROTOCOL);
    tk_client_future_release(f);
    assert_err(run_call(c, &s, &f, &e), TK_EPARSE, &e, "request_id");
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_PROTOCOL);
    tk_client_future_release(f);
    assert_err(run_call(c, &s, &f, &e), TK_EPARSE, &e, "not a future");
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_poll_billing_and_timeout(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    tk_mock *m = start_mock();
    push_submit(m, "B1");
    tk_mock_push_json(m, "POST", RF, 402, "{}");
    tk_mock_answer slow = {.status = 200, .body = "{\"late\":1}", .delay_ms = 1500};
    tk_mock_push(m, "POST", RF, &slow);
    tk_mock_push_json(m, "POST", RF, 200, "{\"ok\":1}");
    tk_client_options o;
    tk_client_options_init(&o);
    o.retry_time_scale = S;
    o.poll_timeout_s = 0.3;
    tk_client *c = open_client_opts(tk_mock_url(m), &o, &rec);
    tk_client_call_spec s = future_spec();
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_memory_equal(tk_client_future_response(f)->body.data, "{\"ok\":1}", 8);
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_BILLING_PAUSE), 1);
    assert_float_equal(rec_nth(&rec, TK_CLIENT_EV_BILLING_PAUSE, 0).delay_s, 5.0 * S, 1e-12);
    rec_event t = rec_nth(&rec, TK_CLIENT_EV_POLL_AGAIN, 0);
    assert_non_null(strstr(t.reason, "timeout"));
    assert_float_equal(t.delay_s, 1.0 * S, 1e-12);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    rec_free(&rec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_protocol_and_result),
        cmocka_unit_test(test_no_busy_loop_on_fast_answers),
        cmocka_unit_test(test_slow_long_poll_repolls_at_once),
        cmocka_unit_test(test_429_and_connection_error_backoff),
        cmocka_unit_test(test_400_three_times_then_fatal),
        cmocka_unit_test(test_fatal_statuses_and_expired),
        cmocka_unit_test(test_410_resubmits_with_a_new_body),
        cmocka_unit_test(test_remote_failures_and_categories),
        cmocka_unit_test(test_metadata_protobuf_and_bad_answers),
        cmocka_unit_test(test_poll_billing_and_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
