/* The retry formulas of protocol §8.1 / §3.7 as pure functions (expected values worked out by
 * hand from the reference's formulas), Retry-After parsing, and the timer heap against a sorted
 * reference with random operations. */
#include "test_util.h"

#include <time.h>

#include "client/poll_answer.h"
#include "client/retry_policy.h"
#include "client/timer_heap.h"

static void test_status_classes(void **state) {
    (void)state;
    const long retry[] = {408, 409, 429, 500, 502, 503, 504, 599};
    const long fatal[] = {200, 302, 400, 401, 402, 403, 404, 410, 422, 425};
    for (size_t i = 0; i < sizeof retry / sizeof *retry; i++)
        assert_true(tk_client_status_retryable(retry[i]));
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++)
        assert_false(tk_client_status_retryable(fatal[i]));
    assert_int_equal(tk_client_should_retry_header("true"), 1);
    assert_int_equal(tk_client_should_retry_header("TRUE"), 1);
    assert_int_equal(tk_client_should_retry_header("false"), 0);
    assert_int_equal(tk_client_should_retry_header("yes"), -1);
    assert_int_equal(tk_client_should_retry_header(NULL), -1);
}

static void test_request_backoff(void **state) {
    (void)state;
    /* min(0.5 * 2^k, 10) * (1 - 0.25 u) */
    const double no_jitter[] = {0.5, 1, 2, 4, 8, 10, 10, 10};
    for (int k = 0; k < 8; k++) {
        assert_float_equal(tk_client_request_backoff_s(k, 0.0), no_jitter[k], 1e-12);
        assert_float_equal(tk_client_request_backoff_s(k, 0.5), no_jitter[k] * 0.875, 1e-12);
        assert_float_equal(tk_client_request_backoff_s(k, 0.999), no_jitter[k] * 0.75025, 1e-12);
    }
    assert_float_equal(tk_client_request_backoff_s(1000, 0.0), 10, 1e-12);
}

static void test_exec_poll_and_other_backoffs(void **state) {
    (void)state;
    const double exec[] = {1, 2, 4, 8, 16, 30, 30};   /* min(2^k, 30) */
    for (int k = 0; k < 7; k++) {
        assert_float_equal(tk_client_exec_backoff_s(k), exec[k], 1e-12);
        assert_float_equal(tk_client_poll_error_backoff_s(k), exec[k], 1e-12);
    }
    const double fast[] = {0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2, 2};
    for (int j = 0; j < 8; j++) assert_float_equal(tk_client_fast_poll_backoff_s(j), fast[j], 1e-12);
    assert_float_equal(tk_client_backpressure_delay_s(0), 1, 0);
    assert_float_equal(tk_client_backpressure_delay_s(128 * 1024), 1, 0);
    assert_float_equal(tk_client_backpressure_delay_s(128 * 1024 + 1), 5, 0);
    /* ± 25 % around min(0.5 * 2^k, 10) */
    assert_float_equal(tk_client_resubmit_backoff_s(0, 0.0), 0.375, 1e-12);
    assert_float_equal(tk_client_resubmit_backoff_s(0, 0.5), 0.5, 1e-12);
    assert_float_equal(tk_client_resubmit_backoff_s(6, 0.0), 7.5, 1e-12);
}

static void test_retry_after(void **state) {
    (void)state;
    double now = 1700000000.0;
    assert_float_equal(tk_client_retry_after_s(NULL, "2", now), 2, 1e-12);
    assert_float_equal(tk_client_retry_after_s(NULL, " 1.5 ", now), 1.5, 1e-12);
    assert_float_equal(tk_client_retry_after_s("1500", "9", now), 1.5, 1e-12);   /* -ms wins */
    assert_float_equal(tk_client_retry_after_s("250.5", NULL, now), 0.2505, 1e-12);
    assert_float_equal(tk_client_retry_after_s(NULL, "60", now), 60, 1e-12);
    assert_true(tk_client_retry_after_s(NULL, "60.5", now) < 0);   /* outside (0, 60] */
    assert_true(tk_client_retry_after_s(NULL, "0", now) < 0);
    assert_true(tk_client_retry_after_s(NULL, "-3", now) < 0);
    assert_true(tk_client_retry_after_s("0", NULL, now) < 0);
    assert_true(tk_client_retry_after_s(NULL, "soon", now) < 0);
    assert_true(tk_client_retry_after_s(NULL, "5s", now) < 0);
    assert_true(tk_client_retry_after_s(NULL, NULL, now) < 0);
    /* an HTTP date 30 s after now: Tue, 14 Nov 2023 22:13:50 GMT is 1700000030 */
    assert_float_equal(tk_client_retry_after_s(NULL, "Tue, 14 Nov 2023 22:13:50 GMT", now), 30, 1e-9);
    assert_true(tk_client_retry_after_s(NULL, "Tue, 14 Nov 2023 22:12:00 GMT", now) < 0);   /* past */
}

/* ---- timer heap ------------------------------------------------------------------------------ */

static int g_fired_order[512];
static int g_nfired;
static void fire_rec(tk_ctimer *t, void *owner) {
    (void)t;
    g_fired_order[g_nfired++] = (int)(intptr_t)owner;
}

static void test_timer_heap_against_reference(void **state) {
    (void)state;
    enum { N = 200 };
    tk_ctimer t[N];
    int64_t due[N];
    bool armed[N];
    memset(t, 0, sizeof t);
    memset(armed, 0, sizeof armed);
    tk_ctimer_heap h = {0};
    tk_rng rng;
    tk_rng_seed(&rng, 42);
    for (int i = 0; i < N; i++) {
        t[i].fire = fire_rec;
        t[i].owner = (void *)(intptr_t)i;
    }
    /* random arm / re-arm / disarm */
    for (int step = 0; step < 5000; step++) {
        int i = (int)tk_rng_below(&rng, N);
        if (tk_rng_below(&rng, 4) == 0) {
            tk_ctimer_disarm(&h, &t[i]);
            armed[i] = false;
        } else {
            due[i] = (int64_t)tk_rng_below(&rng, 1000);
            assert_int_equal(tk_ctimer_arm(&h, &t[i], due[i]), 0);
            armed[i] = true;
        }
        assert_int_equal(tk_ctimer_armed(&t[i]), armed[i]);
    }
    size_t n_armed = 0;
    for (int i = 0; i < N; i++) n_armed += armed[i];
    assert_int_equal(h.len, n_armed);
    /* pop everything due by 500, then the rest: non-decreasing due times, nothing lost */
    g_nfired = 0;
    tk_ctimer *x;
    int64_t last = -1;
    while ((x = tk_ctimer_pop_due(&h, 500))) {
        assert_true(x->due_ms <= 500 && x->due_ms >= last);
        last = x->due_ms;
        x->fire(x, x->owner);
    }
    size_t due_by_500 = 0;
    for (int i = 0; i < N; i++) due_by_500 += armed[i] && due[i] <= 500;
    assert_int_equal((size_t)g_nfired, due_by_500);
    assert_true(tk_ctimer_peek(&h) == NULL || tk_ctimer_peek(&h)->due_ms > 500);
    while ((x = tk_ctimer_pop_due(&h, INT64_MAX))) {
        assert_true(x->due_ms >= last);
        last = x->due_ms;
        x->fire(x, x->owner);
    }
    assert_int_equal((size_t)g_nfired, n_armed);
    for (int i = 0; i < g_nfired; i++) assert_true(armed[g_fired_order[i]]);
    /* equal due times fire in arming order */
    for (int i = 0; i < 5; i++) assert_int_equal(tk_ctimer_arm(&h, &t[i], 7), 0);
    for (int i = 0; i < 5; i++) assert_ptr_equal(tk_ctimer_pop_due(&h, 7), &t[i]);
    tk_ctimer_heap_free(&h);
}


/* ---- retrieve_future answers ------------------------------------------------------------------ */

static tk_poll_info classify(const char *ctype, const char *body) {
    tk_poll_info i;
    tk_poll_classify(ctype, body, body ? strlen(body) : 0, &i);
    return i;
}

static void test_poll_answer_classification(void **state) {
    (void)state;
    tk_poll_info i = classify("application/json", "{\"type\":\"try_again\",\"request_id\":\"r\","
                              "\"queue_state\":\"paused_rate_limit\",\"queue_state_reason\":\"quota\"}");
    assert_int_equal(i.kind, TK_POLL_TRY_AGAIN);
    assert_string_equal(i.queue_state, "paused_rate_limit");
    assert_string_equal(i.queue_reason, "quota");
    i = classify(NULL, "{\"status\":\"complete_metadata\",\"response_payload_size\":5}");
    assert_int_equal(i.kind, TK_POLL_METADATA);
    i = classify("application/json", "{\"error\":\"bad\",\"category\":\"server\"}");
    assert_int_equal(i.kind, TK_POLL_FAILED);
    assert_string_equal(i.category, "server");
    assert_string_equal(i.message, "bad");
    i = classify("application/json", "{\"error\":null}");   /* the key alone is enough */
    assert_int_equal(i.kind, TK_POLL_FAILED);
    assert_string_equal(i.category, "unknown");
    assert_string_equal(i.message, "null");
    i = classify("application/json", "{\"error\":\"x\",\"category\":7}");
    assert_string_equal(i.category, "unknown");
    /* results: bare objects, whatever their type tag */
    assert_int_equal(classify(NULL, "{\"model_id\":\"m\",\"type\":\"create_model\"}").kind, TK_POLL_RESULT);
    assert_int_equal(classify(NULL, "{\"metrics\":null}").kind, TK_POLL_RESULT);
    assert_int_equal(classify(NULL, "{\"status\":\"pending\"}").kind, TK_POLL_RESULT);
    assert_int_equal(classify("application/x-protobuf", "\x0a\x01").kind, TK_POLL_RESULT);
    assert_int_equal(classify("application/x-protobuf; charset=binary", "").kind, TK_POLL_RESULT);
    /* garbage */
    assert_int_equal(classify("text/html", "<html></html>").kind, TK_POLL_GARBAGE);
    assert_int_equal(classify("application/json", "").kind, TK_POLL_GARBAGE);
    assert_int_equal(classify("application/json", "{\"type\":\"try_again\"").kind, TK_POLL_GARBAGE);
    assert_int_equal(classify("application/json", "{\"a\":1,\"a\":2}").kind, TK_POLL_GARBAGE);
    assert_int_equal(classify("application/json", "{\"a\":1} trailing").kind, TK_POLL_GARBAGE);
    /* not NUL-terminated, NULs inside */
    const char raw[] = {'{', '"', 'e', 'r', 'r', 'o', 'r', '"', ':', '1', '}', 'X'};
    tk_poll_classify(NULL, raw, 11, &i);
    assert_int_equal(i.kind, TK_POLL_FAILED);
    const char nul[] = {'{', '}', '\0', '{'};
    tk_poll_classify(NULL, nul, sizeof nul, &i);
    assert_int_equal(i.kind, TK_POLL_GARBAGE);
    /* long messages are cut, never overflow */
    char big[4000];
    int n = snprintf(big, sizeof big, "{\"error\":\"");
    memset(big + n, 'x', 3000);
    snprintf(big + n + 3000, sizeof big - (size_t)n - 3000, "\"}");
    i = classify(NULL, big);
    assert_int_equal(i.kind, TK_POLL_FAILED);
    assert_int_equal(strlen(i.message), sizeof i.message - 1);
    /* large bodies (over 64 KiB) are scanned, not parsed into a DOM: the same answers */
    tk_buf lb = {0};
    assert_int_equal(tk_buf_puts(&lb, "{\"loss_fn_outputs\":["), 0);
    for (int k = 0; k < 20000; k++) assert_int_equal(tk_buf_printf(&lb, "%s-1.25", k ? "," : ""), 0);
    assert_int_equal(tk_buf_puts(&lb, "],\"metrics\":{}}"), 0);
    assert_true(lb.len > 65536);
    assert_int_equal(classify(NULL, lb.data).kind, TK_POLL_RESULT);
    lb.data[lb.len - 1] = ' ';   /* unterminated */
    assert_int_equal(classify(NULL, lb.data).kind, TK_POLL_GARBAGE);
    lb.data[lb.len - 1] = '}';
    lb.data[2] = 'x';            /* {"xoss_fn_outputs"…: still a result */
    assert_int_equal(classify(NULL, lb.data).kind, TK_POLL_RESULT);
    tk_buf_clear(&lb);           /* a large failure envelope */
    assert_int_equal(tk_buf_puts(&lb, "{\"error\":\"big\",\"category\":\"user\",\"pad\":["), 0);
    for (int k = 0; k < 20000; k++) assert_int_equal(tk_buf_printf(&lb, "%s1.5", k ? "," : ""), 0);
    assert_int_equal(tk_buf_puts(&lb, "]}"), 0);
    i = classify(NULL, lb.data);
    assert_int_equal(i.kind, TK_POLL_FAILED);
    assert_string_equal(i.message, "big");
    assert_string_equal(i.category, "user");
    tk_buf_free(&lb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_classes),
        cmocka_unit_test(test_request_backoff),
        cmocka_unit_test(test_exec_poll_and_other_backoffs),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_timer_heap_against_reference),
        cmocka_unit_test(test_poll_answer_classification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
