/* Futures (wait with timeouts from many threads, callbacks on the I/O thread, cancel, the user
 * slot), shutdown that never waits for the network, ordered lanes and groups (seq_id order,
 * first chunk last, pipelining), and heartbeats. */
#include "client_test_util.h"

#include <stdatomic.h>

#define S TEST_TIME_SCALE

static void always(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch, void *user) {
    (void)req;
    (void)scratch;
    *out = *(const tk_mock_answer *)user;
}

static const tk_client_call_spec slow_spec = {.path = "/api/v1/slow", .body = "{}", .body_len = 2};

/* ---- waiting --------------------------------------------------------------------------------- */

typedef struct waiter {
    tk_client_future *f;
    int rc;
    tk_thread th;
} waiter;

static void *wait_thread(void *arg) {
    waiter *w = arg;
    tk_err e = {0};
    w->rc = tk_client_future_wait(w->f, -1, &e);
    return NULL;
}

static void test_wait_timeout_and_many_waiters(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer slow = {.status = 200, .body = "{\"x\":1}", .delay_ms = 400};
    tk_mock_push(m, "POST", "/api/v1/slow", &slow);
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(tk_client_call(c, &slow_spec, &f, &e), &e);
    assert_err(tk_client_future_wait(f, 0.02, &e), TK_ETIMEOUT, &e, "still pending");
    assert_false(tk_client_future_done(f));
    assert_null(tk_client_future_response(f));
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_NONE);
    waiter w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (waiter){.f = f, .rc = -999};
        assert_ok(tk_thread_start(&w[i].th, wait_thread, &w[i], &e), &e);
    }
    for (int i = 0; i < 4; i++) {
        tk_thread_join(&w[i].th);
        assert_int_equal(w[i].rc, 0);
    }
    assert_true(tk_client_future_done(f));
    assert_ok(tk_client_future_wait(f, 0, &e), &e);   /* settled: returns at once */
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

/* ---- callbacks ------------------------------------------------------------------------------- */

typedef struct cbrec {
    pthread_mutex_t mu;
    int order[8];
    pthread_t thread[8];
    int n;
    tk_client_future *pending;   /* waited on from inside a callback */
    int inner_wait_rc;
} cbrec;

static void record_cb(tk_client_future *f, void *user, int tag) {
    (void)f;
    cbrec *r = user;
    pthread_mutex_lock(&r->mu);
    if (r->n < 8) {
        r->order[r->n] = tag;
        r->thread[r->n] = pthread_self();
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
}
static void cb1(tk_client_future *f, void *u) {
    record_cb(f, u, 1);
    cbrec *r = u;
    if (r->pending) {
        tk_err e = {0};
        r->inner_wait_rc = tk_client_future_wait(r->pending, 1.0, &e);
    }
}
static void cb2(tk_client_future *f, void *u) { record_cb(f, u, 2); }
static void cb3(tk_client_future *f, void *u) { record_cb(f, u, 3); }

static int cb_count(cbrec *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static bool wait_until(bool (*pred)(void *), void *arg, double limit_s) {
    double t0 = tk_now_s();
    while (tk_now_s() - t0 < limit_s) {
        if (pred(arg)) return true;
        tk_sleep_ms(2);
    }
    return pred(arg);
}
static bool three_cbs(void *arg) { return cb_count(arg) >= 3; }
static bool one_cb(void *arg) { return cb_count(arg) >= 1; }

static void test_callbacks_run_on_the_io_thread_in_order(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer quick = {.status = 200, .body = "{}", .delay_ms = 100};
    tk_mock_push(m, "POST", "/api/v1/slow", &quick);
    tk_mock_answer slow = {.status = 200, .body = "{}", .delay_ms = 1500};
    tk_mock_set_handler(m, "POST", "/api/v1/slower", always, &slow);
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    cbrec r = {.inner_wait_rc = -999};
    pthread_mutex_init(&r.mu, NULL);
    tk_client_future *f, *g;
    tk_err e = {0};
    tk_client_call_spec s2 = slow_spec;
    s2.path = "/api/v1/slower";
    assert_ok(tk_client_call(c, &s2, &g, &e), &e);
    r.pending = g;
    assert_ok(tk_client_call(c, &slow_spec, &f, &e), &e);
    assert_ok(tk_client_future_on_complete(f, cb1, &r), &e);
    assert_ok(tk_client_future_on_complete(f, cb2, &r), &e);
    assert_ok(tk_client_future_wait(f, -1, &e), &e);
    assert_ok(tk_client_future_on_complete(f, cb3, &r), &e);   /* after settling */
    assert_true(wait_until(three_cbs, &r, 10));
    assert_int_equal(r.order[0], 1);
    assert_int_equal(r.order[1], 2);
    assert_int_equal(r.order[2], 3);
    for (int i = 0; i < 3; i++) {
        assert_false(pthread_equal(r.thread[i], pthread_self()));
        assert_true(pthread_equal(r.thread[i], r.thread[0]));
    }
    /* waiting on a pending future from a callback would deadlock: refused */
    assert_int_equal(r.inner_wait_rc, TK_ESTATE);
    tk_client_future_cancel(g);
    tk_client_future_release(g);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    pthread_mutex_destroy(&r.mu);
}

static void test_cancel(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer slow = {.status = 200, .body = "{}", .delay_ms = 3000};
    tk_mock_set_handler(m, "POST", "/api/v1/slow", always, &slow);
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    cbrec r = {0};
    pthread_mutex_init(&r.mu, NULL);
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(tk_client_call(c, &slow_spec, &f, &e), &e);
    assert_ok(tk_client_future_on_complete(f, cb1, &r), &e);
    tk_client_future_cancel(f);
    assert_err(tk_client_future_wait(f, 0, &e), TK_ECANCELED, &e, "cancelled");
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_CANCELED);
    assert_true(wait_until(one_cb, &r, 10));
    assert_false(pthread_equal(r.thread[0], pthread_self()));
    tk_client_future_cancel(f);   /* twice: no effect */
    /* a finished future cannot be cancelled */
    tk_mock_push_json(m, "POST", "/api/v1/fast", 200, "{\"v\":1}");
    tk_client_call_spec fast = {.path = "/api/v1/fast", .body = "{}", .body_len = 2};
    tk_client_future *g;
    assert_ok(run_call(c, &fast, &g, &e), &e);
    tk_client_future_cancel(g);
    assert_ok(tk_client_future_wait(g, 0, &e), &e);
    assert_non_null(tk_client_future_response(g));
    tk_client_future_release(g);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
    pthread_mutex_destroy(&r.mu);
}

static int g_user_frees;
static void count_free(void *p) {
    g_user_frees++;
    free(p);
}

static void test_close_cancels_in_flight_and_futures_outlive_it(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer slow = {.status = 200, .body = "{}", .delay_ms = 5000};
    tk_mock_set_handler(m, "POST", "/api/v1/slow", always, &slow);
    tk_client_options o;
    tk_client_options_init(&o);
    o.retry_time_scale = S;
    tk_client *c = open_client_opts(tk_mock_url(m), &o, NULL);
    cbrec r = {0};
    pthread_mutex_init(&r.mu, NULL);
    tk_client_future *f[3];
    tk_err e = {0};
    for (int i = 0; i < 3; i++) assert_ok(tk_client_call(c, &slow_spec, &f[i], &e), &e);
    assert_ok(tk_client_future_on_complete(f[0], cb1, &r), &e);
    tk_client_future_set_user(f[1], malloc(8), count_free);
    tk_client_future_set_user(f[1], malloc(8), count_free);   /* frees the first */
    assert_int_equal(g_user_frees, 1);
    tk_sleep_ms(50);   /* let the requests go out */
    double t0 = tk_now_s();
    tk_client_close(c);
    assert_true(tk_now_s() - t0 < 2.0);   /* did not wait for the 5 s answers */
    assert_int_equal(cb_count(&r), 1);    /* ran before close returned */
    for (int i = 0; i < 3; i++) {
        assert_err(tk_client_future_wait(f[i], 0, &e), TK_ECANCELED, &e, "closing");
        assert_int_equal(tk_client_future_failure(f[i]).kind, TK_CLIENT_FAIL_CANCELED);
    }
    /* after close, a callback runs on the caller's thread */
    assert_ok(tk_client_future_on_complete(f[0], cb2, &r), &e);
    assert_int_equal(cb_count(&r), 2);
    assert_true(pthread_equal(r.thread[1], pthread_self()));
    tk_client_future_cancel(f[2]);   /* harmless after close */
    for (int i = 0; i < 3; i++) tk_client_future_release(f[i]);
    assert_int_equal(g_user_frees, 2);
    tk_mock_stop(m);
    pthread_mutex_destroy(&r.mu);
}

/* ---- lanes ----------------------------------------------------------------------------------- */

typedef struct lane_srv {
    atomic_int in_flight, max_in_flight;
    pthread_mutex_t mu;
    int arrivals[64];      /* seq ids in arrival order */
    int answered[64];      /* seq ids in answer order */
    int n_arr, n_ans;
    int answered_before_arrival[64];   /* how many answers preceded each arrival */
    tk_rng rng;
} lane_srv;

static void lane_handler(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch,
                         void *user) {
    lane_srv *L = user;
    int now = atomic_fetch_add(&L->in_flight, 1) + 1;
    int mx = atomic_load(&L->max_in_flight);
    while (now > mx && !atomic_compare_exchange_weak(&L->max_in_flight, &mx, now)) {}
    int seq = atoi(req_json_str(req, "seq_id"));
    pthread_mutex_lock(&L->mu);
    L->answered_before_arrival[L->n_arr] = L->n_ans;
    L->arrivals[L->n_arr++] = seq;
    int delay = (int)tk_rng_below(&L->rng, 30);
    pthread_mutex_unlock(&L->mu);
    if (strstr(req->path, "chunk")) delay = 400;   /* long enough for the chunks to overlap */
    tk_sleep_ms(delay);
    pthread_mutex_lock(&L->mu);
    L->answered[L->n_ans++] = seq;
    pthread_mutex_unlock(&L->mu);
    atomic_fetch_sub(&L->in_flight, 1);
    if (tk_buf_printf(scratch, "{\"request_id\":\"r%d\"}", seq)) {}
    out->status = 200;
    out->body = scratch->data;
}

static void poll_done(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch,
                      void *user) {
    (void)user;
    if (tk_buf_printf(scratch, "{\"done\":\"%s\"}", req_json_str(req, "request_id"))) {}
    out->status = 200;
    out->body = scratch->data;
}

static void lane_srv_init(lane_srv *L) {
    memset(L, 0, sizeof *L);
    pthread_mutex_init(&L->mu, NULL);
    tk_rng_seed(&L->rng, 99);
}

static tk_client_call_spec lane_call(tk_client_lane *lane, const char *path, char *body, int seq) {
    snprintf(body, 64, "{\"model_id\":\"m\",\"seq_id\":%d}", seq);
    tk_client_call_spec s = {.path = path, .body = body, .body_len = strlen(body),
                             .is_future = true, .exec_retries = true, .lane = lane};
    return s;
}

static void test_lane_posts_in_order_one_at_a_time(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    lane_srv L;
    lane_srv_init(&L);
    tk_mock_set_handler(m, "POST", "/api/v1/forward_backward", lane_handler, &L);
    tk_mock_set_handler(m, "POST", "/api/v1/retrieve_future", poll_done, NULL);
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_lane *lane;
    tk_err e = {0};
    assert_ok(tk_client_lane_new(c, &lane, &e), &e);
    enum { N = 20 };
    tk_client_future *f[N];
    char bodies[N][64];
    for (int i = 0; i < N; i++) {
        tk_client_call_spec s = lane_call(lane, "/api/v1/forward_backward", bodies[i], i + 1);
        assert_ok(tk_client_call(c, &s, &f[i], &e), &e);
    }
    tk_client_lane_free(lane);   /* the calls keep it alive */
    for (int i = 0; i < N; i++) {
        assert_ok(tk_client_future_wait(f[i], 30, &e), &e);
        char want[32];
        snprintf(want, sizeof want, "{\"done\":\"r%d\"}", i + 1);
        const tk_client_response *r = tk_client_future_response(f[i]);
        assert_int_equal(r->body.len, strlen(want));
        assert_memory_equal(r->body.data, want, strlen(want));
        tk_client_future_release(f[i]);
    }
    assert_int_equal(L.n_arr, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(L.arrivals[i], i + 1);
        assert_int_equal(L.answered_before_arrival[i], i);   /* the previous POST had returned */
    }
    assert_int_equal(atomic_load(&L.max_in_flight), 1);
    tk_client_close(c);
    tk_mock_stop(m);
    pthread_mutex_destroy(&L.mu);
}

static void test_group_sends_first_chunk_last(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    lane_srv L;
    lane_srv_init(&L);
    tk_mock_set_handler(m, "POST", "/api/v1/chunk", lane_handler, &L);
    tk_mock_set_handler(m, "POST", "/api/v1/optim_step", lane_handler, &L);
    tk_mock_set_handler(m, "POST", "/api/v1/retrieve_future", poll_done, NULL);
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_lane *lane;
    tk_err e = {0};
    assert_ok(tk_client_lane_new(c, &lane, &e), &e);
    char bodies[5][64];
    tk_client_call_spec chunks[4];
    for (int i = 0; i < 4; i++) chunks[i] = lane_call(lane, "/api/v1/chunk", bodies[i], 1 + i);
    tk_client_future *cf[4], *of;
    assert_ok(tk_client_call_group(c, chunks, 4, cf, &e), &e);
    tk_client_call_spec opt = lane_call(lane, "/api/v1/optim_step", bodies[4], 5);
    assert_ok(tk_client_call(c, &opt, &of, &e), &e);
    /* pipelined: nothing awaited until everything is submitted */
    assert_ok(tk_client_future_wait(of, 30, &e), &e);
    for (int i = 0; i < 4; i++) {
        assert_ok(tk_client_future_wait(cf[i], 30, &e), &e);
        tk_client_future_release(cf[i]);
    }
    tk_client_future_release(of);
    assert_int_equal(L.n_arr, 5);
    /* chunks 2..4 (seq 2,3,4) first, in any order; then chunk 1 once all three answered;
     * then the optim_step once chunk 1 answered */
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        assert_true(L.arrivals[i] >= 2 && L.arrivals[i] <= 4);
        seen |= 1 << L.arrivals[i];
    }
    assert_int_equal(seen, (1 << 2) | (1 << 3) | (1 << 4));
    assert_int_equal(L.arrivals[3], 1);
    assert_int_equal(L.answered_before_arrival[3], 3);
    assert_int_equal(L.arrivals[4], 5);
    assert_int_equal(L.answered_before_arrival[4], 4);
    assert_true(atomic_load(&L.max_in_flight) >= 2);   /* the other chunks did overlap */
    tk_client_lane_free(lane);
    tk_client_close(c);
    tk_mock_stop(m);
    pthread_mutex_destroy(&L.mu);
}

/* The forward_backward result only exists once the optim_step has been submitted too: the test
 * passes only if both are in flight before either is awaited (protocol §8.5). */
static void pipelined_poll(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch,
                           void *user) {
    tk_mock *m = user;
    const char *rid = req_json_str(req, "request_id");
    out->status = 200;
    if (!strcmp(rid, "fb") && tk_mock_count(m, "POST", "/api/v1/optim_step") == 0) {
        out->body = "{\"type\":\"try_again\"}";
        out->delay_ms = 20;
        return;
    }
    if (tk_buf_printf(scratch, "{\"result_of\":\"%s\"}", rid)) {}
    out->body = scratch->data;
}

static void test_pipelining_two_submits_before_waiting(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/forward_backward", 200, "{\"request_id\":\"fb\"}");
    tk_mock_push_json(m, "POST", "/api/v1/optim_step", 200, "{\"request_id\":\"os\"}");
    tk_mock_set_handler(m, "POST", "/api/v1/retrieve_future", pipelined_poll, m);
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_lane *lane;
    tk_err e = {0};
    assert_ok(tk_client_lane_new(c, &lane, &e), &e);
    char b1[64], b2[64];
    tk_client_call_spec fb = lane_call(lane, "/api/v1/forward_backward", b1, 1);
    tk_client_call_spec os = lane_call(lane, "/api/v1/optim_step", b2, 2);
    tk_client_future *f1, *f2;
    assert_ok(tk_client_call(c, &fb, &f1, &e), &e);
    assert_ok(tk_client_call(c, &os, &f2, &e), &e);
    assert_ok(tk_client_future_wait(f1, 30, &e), &e);
    assert_ok(tk_client_future_wait(f2, 30, &e), &e);
    assert_memory_equal(tk_client_future_response(f1)->body.data, "{\"result_of\":\"fb\"}", 18);
    assert_memory_equal(tk_client_future_response(f2)->body.data, "{\"result_of\":\"os\"}", 18);
    tk_client_future_release(f1);
    tk_client_future_release(f2);
    tk_client_lane_free(lane);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_cancelled_lane_call_is_still_posted(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer slow = {.status = 200, .body = "{\"request_id\":\"a\"}", .delay_ms = 200};
    tk_mock_push(m, "POST", "/api/v1/first", &slow);
    tk_mock_push_json(m, "POST", "/api/v1/second", 200, "{\"request_id\":\"b\"}");
    tk_mock_push_json(m, "POST", "/api/v1/retrieve_future", 200, "{\"ok\":1}");
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_lane *lane;
    tk_err e = {0};
    assert_ok(tk_client_lane_new(c, &lane, &e), &e);
    char b1[64], b2[64];
    tk_client_call_spec s1 = lane_call(lane, "/api/v1/first", b1, 1);
    tk_client_call_spec s2 = lane_call(lane, "/api/v1/second", b2, 2);
    tk_client_future *f1, *f2;
    assert_ok(tk_client_call(c, &s1, &f1, &e), &e);
    assert_ok(tk_client_call(c, &s2, &f2, &e), &e);
    tk_client_future_cancel(f2);   /* still waiting behind the first */
    assert_err(tk_client_future_wait(f2, 0, &e), TK_ECANCELED, &e, "cancelled");
    assert_ok(tk_client_future_wait(f1, 30, &e), &e);
    double t0 = tk_now_s();
    while (tk_mock_count(m, "POST", "/api/v1/second") == 0 && tk_now_s() - t0 < 10) tk_sleep_ms(5);
    assert_int_equal(tk_mock_count(m, "POST", "/api/v1/second"), 1);   /* no seq_id gap */
    tk_sleep_ms(50);
    assert_int_equal(tk_mock_count(m, "POST", "/api/v1/retrieve_future"), 1);   /* not polled */
    tk_client_future_release(f1);
    tk_client_future_release(f2);
    tk_client_lane_free(lane);
    tk_client_close(c);
    tk_mock_stop(m);
}


static void test_lane_deadline_while_queued_and_failed_chunk(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer slow = {.status = 200, .body = "{\"request_id\":\"a\"}", .delay_ms = 300};
    tk_mock_push(m, "POST", "/api/v1/first", &slow);
    tk_mock_push_json(m, "POST", "/api/v1/third", 200, "{\"request_id\":\"c\"}");
    tk_mock_set_handler(m, "POST", "/api/v1/retrieve_future", poll_done, NULL);
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_lane *lane;
    tk_err e = {0};
    assert_ok(tk_client_lane_new(c, &lane, &e), &e);
    char b[3][64];
    tk_client_call_spec s1 = lane_call(lane, "/api/v1/first", b[0], 1);
    tk_client_call_spec s2 = lane_call(lane, "/api/v1/second", b[1], 2);
    s2.deadline_s = 0.05;   /* passes while it waits behind the first */
    tk_client_call_spec s3 = lane_call(lane, "/api/v1/third", b[2], 3);
    tk_client_future *f1, *f2, *f3;
    assert_ok(tk_client_call(c, &s1, &f1, &e), &e);
    assert_ok(tk_client_call(c, &s2, &f2, &e), &e);
    assert_ok(tk_client_call(c, &s3, &f3, &e), &e);
    assert_err(tk_client_future_wait(f2, 30, &e), TK_ETIMEOUT, &e, "deadline passed after 0 attempts");
    assert_int_equal(tk_client_future_failure(f2).kind, TK_CLIENT_FAIL_DEADLINE);
    assert_ok(tk_client_future_wait(f1, 30, &e), &e);
    assert_ok(tk_client_future_wait(f3, 30, &e), &e);
    assert_int_equal(tk_mock_count(m, "POST", "/api/v1/second"), 0);   /* never sent */
    tk_client_future_release(f1);
    tk_client_future_release(f2);
    tk_client_future_release(f3);

    /* a chunk that fails for good does not stop the first chunk from going out last */
    tk_mock_push_json(m, "POST", "/api/v1/chunk", 200, "{\"request_id\":\"k2\"}");
    tk_mock_push_json(m, "POST", "/api/v1/chunk", 404, "{\"detail\":\"bad chunk\"}");
    tk_mock_push_json(m, "POST", "/api/v1/chunk", 200, "{\"request_id\":\"k1\"}");
    char cb[3][64];
    tk_client_call_spec chunks[3];
    for (int i = 0; i < 3; i++) {
        chunks[i] = lane_call(lane, "/api/v1/chunk", cb[i], 10 + i);
        chunks[i].exec_retries = false;
    }
    tk_client_future *cf[3];
    assert_ok(tk_client_call_group(c, chunks, 3, cf, &e), &e);
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        if (tk_client_future_wait(cf[i], 30, &e)) failed++;
        tk_client_future_release(cf[i]);
    }
    assert_int_equal(failed, 1);
    assert_int_equal(tk_mock_count(m, "POST", "/api/v1/chunk"), 3);
    assert_string_equal(req_json_str(tk_mock_get_route(m, "POST", "/api/v1/chunk", 2), "seq_id"), "10");
    tk_client_lane_free(lane);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_cancel_during_backoff(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer later = {.status = 503, .body = "{}", .headers = "Retry-After: 60"};
    tk_mock_push(m, "POST", "/api/v1/slow", &later);
    tk_client *c = open_client(tk_mock_url(m), 1.0, NULL);   /* real time: a 60 s back-off */
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(tk_client_call(c, &slow_spec, &f, &e), &e);
    double t0 = tk_now_s();
    while (tk_mock_count(m, NULL, NULL) == 0 && tk_now_s() - t0 < 10) tk_sleep_ms(2);
    tk_sleep_ms(20);   /* the answer is in; the client now waits out the back-off */
    tk_client_future_cancel(f);
    assert_err(tk_client_future_wait(f, 1, &e), TK_ECANCELED, &e, "cancelled");
    tk_client_future_release(f);
    tk_client_close(c);   /* nothing left waiting on the 60 s timer */
    assert_true(tk_now_s() - t0 < 5);
    assert_int_equal(tk_mock_count(m, NULL, NULL), 1);
    tk_mock_stop(m);
}

/* A callback that (wrongly) blocks the I/O thread cannot make close() wait for it. */
static atomic_int g_blocker_done;
static void blocking_cb(tk_client_future *f, void *u) {
    (void)f;
    (void)u;
    tk_sleep_ms(800);
    atomic_store(&g_blocker_done, 1);
}

static void test_close_gives_up_on_a_stuck_io_thread(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/slow", 200, "{}");
    tk_client_options o;
    tk_client_options_init(&o);
    o.close_timeout_s = 0.1;
    tk_client *c = open_client_opts(tk_mock_url(m), &o, NULL);
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(tk_client_call(c, &slow_spec, &f, &e), &e);
    assert_ok(tk_client_future_on_complete(f, blocking_cb, NULL), &e);
    assert_ok(tk_client_future_wait(f, 30, &e), &e);
    tk_sleep_ms(50);   /* the callback is running now */
    tk_log_set_level(TK_LOG_ERROR);   /* close() warns about the stuck thread */
    double t0 = tk_now_s();
    tk_client_close(c);
    double took = tk_now_s() - t0;
    tk_log_set_level(TK_LOG_INFO);
    assert_true(took < 0.6);
    assert_int_equal(atomic_load(&g_blocker_done), 0);
    tk_client_future_release(f);   /* the future outlives everything */
    while (!atomic_load(&g_blocker_done)) tk_sleep_ms(10);
    tk_sleep_ms(200);   /* the orphaned I/O thread cleans up after itself */
    tk_mock_stop(m);
}

static atomic_int g_closed_in_cb;
static void closing_cb(tk_client_future *f, void *u) {
    (void)f;
    tk_client_close(u);
    atomic_store(&g_closed_in_cb, 1);
}

static void test_close_from_a_callback(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/slow", 200, "{}");
    tk_mock_answer hang = {.status = 200, .body = "{}", .delay_ms = 5000};
    tk_mock_set_handler(m, "POST", "/api/v1/hang", always, &hang);
    tk_client *c = open_client(tk_mock_url(m), S, NULL);
    tk_client_future *f, *g;
    tk_err e = {0};
    tk_client_call_spec h = slow_spec;
    h.path = "/api/v1/hang";
    assert_ok(tk_client_call(c, &h, &g, &e), &e);
    assert_ok(tk_client_call(c, &slow_spec, &f, &e), &e);
    tk_log_set_level(TK_LOG_ERROR);
    assert_ok(tk_client_future_on_complete(f, closing_cb, c), &e);
    assert_ok(tk_client_future_wait(f, 30, &e), &e);
    /* the other call is cancelled by the close that the callback started */
    assert_err(tk_client_future_wait(g, 10, &e), TK_ECANCELED, &e, "closing");
    tk_log_set_level(TK_LOG_INFO);
    assert_int_equal(atomic_load(&g_closed_in_cb), 1);
    tk_client_future_release(f);
    tk_client_future_release(g);
    tk_sleep_ms(200);   /* the I/O thread frees the client after its loop ends */
    tk_mock_stop(m);
}

/* ---- heartbeats ------------------------------------------------------------------------------ */

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_hb_warnings;
static void log_hook(tk_log_level level, const char *msg, void *user) {
    (void)user;
    pthread_mutex_lock(&g_log_mu);
    if (level == TK_LOG_WARN && strstr(msg, "no successful heartbeat for session sess-2"))
        g_hb_warnings++;
    pthread_mutex_unlock(&g_log_mu);
}

static void test_heartbeats(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer ok = {.status = 200, .body = "{\"type\":\"session_heartbeat\"}"};
    tk_mock_set_handler(m, "POST", "/api/v1/session_heartbeat", always, &ok);
    tk_client_options o;
    tk_client_options_init(&o);
    o.heartbeat_interval_s = 0.03;
    tk_client *c = open_client_opts(tk_mock_url(m), &o, NULL);
    tk_err e = {0};
    assert_err(tk_client_heartbeat_start(c, "", &e), TK_EINVAL, &e, "empty session_id");
    assert_ok(tk_client_heartbeat_start(c, "sess-1", &e), &e);
    double t0 = tk_now_s();
    while (tk_client_heartbeat_get_stats(c).ok < 3 && tk_now_s() - t0 < 10) tk_sleep_ms(5);
    tk_client_heartbeat_stop(c);
    tk_sleep_ms(100);   /* one may still have been in flight */
    tk_client_heartbeat_stats st = tk_client_heartbeat_get_stats(c);
    assert_true(st.ok >= 3);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.sent, st.ok);
    size_t n = tk_mock_count(m, "POST", "/api/v1/session_heartbeat");
    assert_int_equal(n, (size_t)st.sent);
    for (size_t i = 0; i < n; i++) {
        const tk_mock_request *q = tk_mock_get_route(m, "POST", "/api/v1/session_heartbeat", i);
        assert_true(body_equals(q, "{\"session_id\":\"sess-1\",\"type\":\"session_heartbeat\"}"));
    }
    tk_sleep_ms(150);
    assert_int_equal(tk_mock_count(m, "POST", "/api/v1/session_heartbeat"), n);   /* stopped */
    tk_client_close(c);

    /* failures: no retries, counted, one warning per outage */
    tk_mock_answer bad = {.status = 500, .body = "{}"};
    tk_mock_set_handler(m, "POST", "/api/v1/session_heartbeat", always, &bad);
    tk_log_set_hook(log_hook, NULL);
    o.heartbeat_warn_s = 0.05;
    c = open_client_opts(tk_mock_url(m), &o, NULL);
    size_t before = tk_mock_count(m, "POST", "/api/v1/session_heartbeat");
    assert_ok(tk_client_heartbeat_start(c, "sess-2", &e), &e);
    t0 = tk_now_s();
    while (tk_client_heartbeat_get_stats(c).failed < 5 && tk_now_s() - t0 < 10) tk_sleep_ms(5);
    tk_client_heartbeat_stop(c);
    tk_sleep_ms(100);
    st = tk_client_heartbeat_get_stats(c);
    assert_true(st.failed >= 5);
    assert_int_equal(st.ok, 0);
    assert_int_equal(tk_mock_count(m, "POST", "/api/v1/session_heartbeat") - before, (size_t)st.sent);
    assert_true(st.seconds_since_ok > 0.05);
    tk_client_close(c);
    tk_log_set_hook(NULL, NULL);
    assert_int_equal(g_hb_warnings, 1);
    tk_mock_stop(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_timeout_and_many_waiters),
        cmocka_unit_test(test_callbacks_run_on_the_io_thread_in_order),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_close_cancels_in_flight_and_futures_outlive_it),
        cmocka_unit_test(test_lane_posts_in_order_one_at_a_time),
        cmocka_unit_test(test_group_sends_first_chunk_last),
        cmocka_unit_test(test_pipelining_two_submits_before_waiting),
        cmocka_unit_test(test_cancelled_lane_call_is_still_posted),
        cmocka_unit_test(test_lane_deadline_while_queued_and_failed_chunk),
        cmocka_unit_test(test_cancel_during_backoff),
        cmocka_unit_test(test_close_gives_up_on_a_stuck_io_thread),
        cmocka_unit_test(test_close_from_a_callback),
        cmocka_unit_test(test_heartbeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
