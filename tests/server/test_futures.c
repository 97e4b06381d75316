/* The futures table: settle/wait, waking by the settler (not by timeout), failures, unknown vs
 * expired ids, close at shutdown, expiry that spares waited-on futures. */
#include "test_util.h"

#include "server/futures.h"

static void test_settle_then_wait(void **state) {
    (void)state;
    tk_server_futures *f = tk_server_futures_new();
    tk_err e = {0};
    char id[TK_SERVER_ID_MAX], id2[TK_SERVER_ID_MAX];
    assert_ok(tk_server_futures_create(f, "forward_backward", id, &e), &e);
    assert_ok(tk_server_futures_create(f, "optim_step", id2, &e), &e);
    assert_string_not_equal(id, id2);
    tk_server_future_view v = {0};
    assert_int_equal(tk_server_futures_wait(f, id, 0, &v), TK_SERVER_WAIT_PENDING);
    assert_string_equal(v.type, "forward_backward");
    tk_server_future_view_clear(&v);
    tk_server_futures_succeed(f, id, tk_server_blob_new("{\"a\":1}", 7), tk_server_blob_new("PB", 2));
    assert_int_equal(tk_server_futures_wait(f, id, 0, &v), TK_SERVER_WAIT_DONE);
    assert_int_equal(v.json->len, 7);
    assert_memory_equal(v.json->data, "{\"a\":1}", 7);
    assert_memory_equal(v.proto->data, "PB", 2);
    tk_server_future_view_clear(&v);
    /* settling twice is ignored (and frees the extra references) */
    tk_server_futures_succeed(f, id, tk_server_blob_new("x", 1), NULL);
    tk_server_futures_fail(f, id2, TK_SERVER_CAT_USER, "bad loss_fn");
    assert_int_equal(tk_server_futures_wait(f, id2, 0, &v), TK_SERVER_WAIT_FAILED);
    assert_string_equal(v.error, "bad loss_fn");
    assert_int_equal(v.category, TK_SERVER_CAT_USER);
    assert_string_equal(tk_server_category_name(v.category), "user");
    tk_server_future_view_clear(&v);
    tk_server_futures_free(f);
}

typedef struct settler {
    tk_server_futures *f;
    const char *id;
    int delay_ms;
} settler;

static void *settle_later(void *arg) {
    settler *st = arg;
    tk_sleep_ms(st->delay_ms);
    tk_server_futures_succeed(st->f, st->id, tk_server_blob_new("{}", 2), NULL);
    return NULL;
}

/* A waiter with a 30 s hold returns as soon as another thread settles the future. */
static void test_woken_by_settler(void **state) {
    (void)state;
    tk_server_futures *f = tk_server_futures_new();
    tk_err e = {0};
    char id[TK_SERVER_ID_MAX];
    assert_ok(tk_server_futures_create(f, "sample", id, &e), &e);
    settler st = {f, id, 50};
    tk_thread t;
    assert_ok(tk_thread_start(&t, settle_later, &st, &e), &e);
    double t0 = tk_now_s();
    tk_server_future_view v = {0};
    assert_int_equal(tk_server_futures_wait(f, id, 30, &v), TK_SERVER_WAIT_DONE);
    assert_true(tk_now_s() - t0 < 20); /* woken, not timed out */
    tk_server_future_view_clear(&v);
    tk_thread_join(&t);
    tk_server_futures_free(f);
}

static void test_timeout_holds(void **state) {
    (void)state;
    tk_server_futures *f = tk_server_futures_new();
    tk_err e = {0};
    char id[TK_SERVER_ID_MAX];
    assert_ok(tk_server_futures_create(f, "sample", id, &e), &e);
    double t0 = tk_now_s();
    tk_server_future_view v = {0};
    assert_int_equal(tk_server_futures_wait(f, id, 0.2, &v), TK_SERVER_WAIT_PENDING);
    assert_true(tk_now_s() - t0 >= 0.19); /* it did hold */
    tk_server_future_view_clear(&v);
    tk_server_futures_free(f);
}

static void test_unknown_expired(void **state) {
    (void)state;
    tk_server_futures *f = tk_server_futures_new();
    tk_err e = {0};
    char id[TK_SERVER_ID_MAX];
    assert_ok(tk_server_futures_create(f, "x", id, &e), &e);
    tk_server_future_view v = {0};
    assert_int_equal(tk_server_futures_wait(f, "nope", 0, &v), TK_SERVER_WAIT_UNKNOWN);
    assert_int_equal(tk_server_futures_wait(f, "", 0, &v), TK_SERVER_WAIT_UNKNOWN);
    /* an id of the same instance that was never issued (counter ahead) is unknown too */
    char ahead[TK_SERVER_ID_MAX];
    snprintf(ahead, sizeof ahead, "%.*s-999", 8, id);
    assert_int_equal(tk_server_futures_wait(f, ahead, 0, &v), TK_SERVER_WAIT_UNKNOWN);
    tk_server_futures_fail(f, id, TK_SERVER_CAT_SERVER, "boom");
    assert_int_equal(tk_server_futures_expire(f, tk_now_s(), 3600), 0); /* too young */
    assert_int_equal(tk_server_futures_expire(f, tk_now_s() + 7200, 3600), 1);
    assert_int_equal(tk_server_futures_wait(f, id, 0, &v), TK_SERVER_WAIT_EXPIRED);
    assert_int_equal(tk_server_futures_count(f), 0);
    tk_server_futures_free(f);
}

typedef struct waiter {
    tk_server_futures *f;
    const char *id;
    tk_server_wait_status st;
    double took;
} waiter;

static void *wait_long(void *arg) {
    waiter *w = arg;
    tk_server_future_view v = {0};
    double t0 = tk_now_s();
    w->st = tk_server_futures_wait(w->f, w->id, 30, &v);
    w->took = tk_now_s() - t0;
    tk_server_future_view_clear(&v);
    return NULL;
}

/* close() releases every long-poll at once; expiry never drops a future someone waits on. */
static void test_close_and_pinning(void **state) {
    (void)state;
    tk_server_futures *f = tk_server_futures_new();
    tk_err e = {0};
    char id[TK_SERVER_ID_MAX];
    assert_ok(tk_server_futures_create(f, "x", id, &e), &e);
    waiter w[4];
    tk_thread t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (waiter){f, id, 0, 0};
        assert_ok(tk_thread_start(&t[i], wait_long, &w[i], &e), &e);
    }
    tk_sleep_ms(50);
    tk_server_futures_fail(f, id, TK_SERVER_CAT_USER, "x"); /* settled, waiters still inside */
    tk_server_futures_close(f);
    for (int i = 0; i < 4; i++) tk_thread_join(&t[i]);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(w[i].st, TK_SERVER_WAIT_FAILED);
        assert_true(w[i].took < 20);
    }
    char id2[TK_SERVER_ID_MAX];
    assert_ok(tk_server_futures_create(f, "y", id2, &e), &e);
    tk_server_future_view v = {0};
    double t0 = tk_now_s();
    assert_int_equal(tk_server_futures_wait(f, id2, 30, &v), TK_SERVER_WAIT_PENDING); /* closing: no hold */
    assert_true(tk_now_s() - t0 < 20);
    tk_server_futures_free(f);
}

static void test_discard(void **state) {
    (void)state;
    tk_server_futures *f = tk_server_futures_new();
    tk_err e = {0};
    char id[TK_SERVER_ID_MAX];
    assert_ok(tk_server_futures_create(f, "x", id, &e), &e);
    tk_server_futures_discard(f, id);
    assert_int_equal(tk_server_futures_count(f), 0);
    tk_server_futures_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settle_then_wait), cmocka_unit_test(test_woken_by_settler),
        cmocka_unit_test(test_timeout_holds),    cmocka_unit_test(test_unknown_expired),
        cmocka_unit_test(test_close_and_pinning), cmocka_unit_test(test_discard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
