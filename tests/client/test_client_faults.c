/* The fault-injecting proxy (tests/tools/faultproxy.h) on its own — each fault kind does what it
 * says, a zero rate is byte-transparent, a seed reproduces the fault sequence — and the client
 * through it: at a 20 % fault rate every call, plain or future, completes with the right bytes
 * and the server applies each one exactly once (it deduplicates on the call's own id, as a
 * Tinker server does on (model_id, seq_id)). */
#include "client_test_util.h"

#include "faultproxy.h"

#define S TEST_TIME_SCALE

static tk_faultproxy *start_proxy(const tk_faultproxy_config *cfg) {
    tk_faultproxy *p = NULL;
    tk_err e = {0};
    if (tk_faultproxy_start(cfg, &p, &e)) fail_msg("tk_faultproxy_start: %s", e.msg);
    return p;
}

static void proxy_url(tk_faultproxy *p, char *buf, size_t n) {
    snprintf(buf, n, "http://127.0.0.1:%d", tk_faultproxy_port(p));
}

static void reverse_handler(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch,
                            void *user) {
    (void)user;
    if (tk_buf_reserve(scratch, req->body_len + 1)) return;
    for (size_t i = 0; i < req->body_len; i++)
        scratch->data[i] = (char)req->body[req->body_len - 1 - i];
    scratch->len = req->body_len;
    out->status = 200;
    out->body = scratch->data;
    out->body_len = scratch->len;
}

/* One call with no retries at all; returns the wait's code and the HTTP status seen. */
static int one_shot(tk_client *c, long *status) {
    tk_client_call_spec s = {.path = "/api/v1/rev", .body = "abc", .body_len = 3,
                             .max_retries = TK_CLIENT_NO_RETRIES};
    tk_client_future *f;
    tk_err e = {0};
    int rc = run_call(c, &s, &f, &e);
    *status = tk_client_future_failure(f).http_status;
    if (!rc) {
        const tk_client_response *r = tk_client_future_response(f);
        assert_int_equal(r->body.len, 3);
        assert_memory_equal(r->body.data, "cba", 3);
        *status = r->status;
    }
    tk_client_future_release(f);
    return rc;
}

static void test_each_fault_kind(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_set_handler(m, "POST", "/api/v1/rev", reverse_handler, NULL);
    struct {
        const char *name;
        size_t field;
        int want_rc;
        bool reaches_server;
    } kinds[] = {
        {"drop_request", offsetof(tk_faultproxy_config, p_drop_request), TK_ENET, false},
        {"drop_response", offsetof(tk_faultproxy_config, p_drop_response), TK_ENET, true},
        {"status", offsetof(tk_faultproxy_config, p_status), TK_EHTTP, false},
        {"truncate", offsetof(tk_faultproxy_config, p_truncate), TK_ENET, true},
        {"reset", offsetof(tk_faultproxy_config, p_reset), TK_ENET, true},
        {"delay", offsetof(tk_faultproxy_config, p_delay), 0, true},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        tk_faultproxy_config cfg;
        tk_faultproxy_config_uniform(&cfg, "127.0.0.1", tk_mock_port(m), 0.0, 5);
        *(double *)((char *)&cfg + kinds[k].field) = 1.0;
        cfg.max_delay_ms = 20;
        tk_faultproxy *p = start_proxy(&cfg);
        char url[64];
        proxy_url(p, url, sizeof url);
        size_t before = tk_mock_count(m, NULL, NULL);
        long statuses[8];
        for (int i = 0; i < 8; i++) {
            /* a fresh client per call: a fresh connection, so libcurl cannot quietly resend */
            tk_client *c = open_client(url, S, NULL);
            int rc = one_shot(c, &statuses[i]);
            if (rc != kinds[k].want_rc)
                fail_msg("%s: call %d: %s, expected %s", kinds[k].name, i, tk_code_name(rc),
                         tk_code_name(kinds[k].want_rc));
            tk_client_close(c);
        }
        size_t reached = tk_mock_count(m, NULL, NULL) - before;
        assert_int_equal(reached, kinds[k].reaches_server ? 8 : 0);
        tk_faultproxy_stats st = tk_faultproxy_get_stats(p);
        assert_int_equal(st.requests, 8);
        if (!strcmp(kinds[k].name, "status")) {
            assert_int_equal(st.status_500 + st.status_503 + st.status_429 + st.status_408, 8);
            for (int i = 0; i < 8; i++)
                assert_true(statuses[i] == 500 || statuses[i] == 503 || statuses[i] == 429 ||
                            statuses[i] == 408);
        } else if (!strcmp(kinds[k].name, "delay")) {
            assert_int_equal(st.delay, 8);
            assert_int_equal(st.answered, 8);
            assert_int_equal(tk_faultproxy_faults(&st), 0);
        } else {
            assert_int_equal(tk_faultproxy_faults(&st), 8);
            int64_t got = !strcmp(kinds[k].name, "drop_request")    ? st.drop_request
                          : !strcmp(kinds[k].name, "drop_response") ? st.drop_response
                          : !strcmp(kinds[k].name, "truncate")      ? st.truncate
                                                                    : st.reset;
            assert_int_equal(got, 8);
        }
        tk_faultproxy_stop(p);
    }
    tk_mock_stop(m);
}

static void test_zero_rate_is_transparent(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_set_handler(m, "POST", "/api/v1/rev", reverse_handler, NULL);
    tk_faultproxy_config cfg;
    tk_faultproxy_config_uniform(&cfg, "127.0.0.1", tk_mock_port(m), 0.0, 1);
    tk_faultproxy *p = start_proxy(&cfg);
    char url[64];
    proxy_url(p, url, sizeof url);
    tk_client *c = open_client(url, S, NULL);
    size_t n = 1u << 20;
    unsigned char *body = malloc(n);
    tk_rng rng;
    tk_rng_seed(&rng, 3);
    for (size_t i = 0; i < n; i++) body[i] = (unsigned char)tk_rng_u64(&rng);
    for (int round = 0; round < 3; round++) {
        tk_client_call_spec s = {.path = "/api/v1/rev", .body = body, .body_len = n};
        tk_client_future *f;
        tk_err e = {0};
        assert_ok(run_call(c, &s, &f, &e), &e);
        const tk_client_response *r = tk_client_future_response(f);
        assert_int_equal(r->body.len, n);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)r->body.data[i] != body[n - 1 - i]) fail_msg("byte %zu", i);
        tk_client_future_release(f);
    }
    /* the proxy counts an answer after relaying it: give its thread a moment */
    tk_faultproxy_stats st = tk_faultproxy_get_stats(p);
    for (int i = 0; i < 1000 && st.answered < 3; i++) {
        tk_sleep_ms(1);
        st = tk_faultproxy_get_stats(p);
    }
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.answered, 3);
    assert_int_equal(st.connections, 1);   /* keep-alive through the proxy */
    assert_int_equal(tk_faultproxy_faults(&st), 0);
    free(body);
    tk_client_close(c);
    tk_faultproxy_stop(p);
    tk_mock_stop(m);
}

/* The same seed gives the same faults for the same sequence of requests. */
static void outcome_sequence(tk_mock *m, uint64_t seed, int *out, int n, tk_faultproxy_stats *st) {
    tk_faultproxy_config cfg;
    tk_faultproxy_config_uniform(&cfg, "127.0.0.1", tk_mock_port(m), 0.5, seed);
    cfg.p_delay = 0;
    tk_faultproxy *p = start_proxy(&cfg);
    char url[64];
    proxy_url(p, url, sizeof url);
    tk_client *c = open_client(url, S, NULL);
    for (int i = 0; i < n; i++) {
        long status = 0;
        int rc = one_shot(c, &status);
        out[i] = rc * 1000 - (int)status;
    }
    tk_client_close(c);
    *st = tk_faultproxy_get_stats(p);
    tk_faultproxy_stop(p);
}

static void test_seed_reproduces_faults(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_set_handler(m, "POST", "/api/v1/rev", reverse_handler, NULL);
    enum { N = 40 };
    int a[N], b[N], d[N];
    tk_faultproxy_stats sa, sb, sd;
    outcome_sequence(m, 11, a, N, &sa);
    outcome_sequence(m, 11, b, N, &sb);
    outcome_sequence(m, 12, d, N, &sd);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(&sa, &sb, sizeof sa);
    assert_true(tk_faultproxy_faults(&sa) > 0);
    assert_true(memcmp(a, d, sizeof a) != 0);   /* another seed, another sequence */
    tk_mock_stop(m);
}

/* ---- exactly once at a 20 % fault rate -------------------------------------------------------- */

enum { N_PLAIN = 150, N_FUTURE = 100, N_ALL = N_PLAIN + N_FUTURE, WAVE = 16 };

typedef struct ledger {
    pthread_mutex_t mu;
    int applied[N_ALL];      /* effects: must end at exactly 1 each */
    int deliveries[N_ALL];   /* how often the request reached the server */
    int polls[N_ALL];
    int corrupted;
} ledger;

/* Request body: "id=<n>;h=<16 hex>;" + payload, where h is the FNV-1a hash of the payload. */
static int parse_body(const tk_mock_request *req, int *id, const unsigned char **payload,
                      size_t *plen) {
    unsigned long long h;
    int consumed = 0;
    char head[64];
    size_t hn = req->body_len < sizeof head - 1 ? req->body_len : sizeof head - 1;
    memcpy(head, req->body, hn);
    head[hn] = 0;
    if (sscanf(head, "id=%d;h=%16llx;%n", id, &h, &consumed) != 2 || consumed == 0) return -1;
    if (*id < 0 || *id >= N_ALL) return -1;
    *payload = req->body + consumed;
    *plen = req->body_len - (size_t)consumed;
    return tk_hash_bytes(*payload, *plen) == h ? 0 : -1;
}

static void xor_payload(const unsigned char *p, size_t n, unsigned char key, tk_buf *out) {
    if (tk_buf_reserve(out, n + 1)) return;
    for (size_t i = 0; i < n; i++) out->data[out->len + i] = (char)(p[i] ^ key);
    out->len += n;
}

static void ledger_apply(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch,
                         void *user) {
    ledger *L = user;
    int id;
    const unsigned char *payload;
    size_t plen;
    if (parse_body(req, &id, &payload, &plen)) {
        pthread_mutex_lock(&L->mu);
        L->corrupted++;
        pthread_mutex_unlock(&L->mu);
        out->status = 400;
        out->body = "{\"detail\":\"corrupted body\"}";
        return;
    }
    bool future = !strcmp(req->path, "/api/v1/submit");
    pthread_mutex_lock(&L->mu);
    L->deliveries[id]++;
    if (L->deliveries[id] == 1) L->applied[id]++;   /* dedupe on the call's own id */
    pthread_mutex_unlock(&L->mu);
    out->status = 200;
    if (future) {
        if (tk_buf_printf(scratch, "{\"request_id\":\"job-%d\"}", id)) {}
    } else {
        if (tk_buf_printf(scratch, "ok;id=%d;", id)) {}
        xor_payload(payload, plen, 0x5a, scratch);
        out->content_type = "application/octet-stream";
    }
    out->body = scratch->data;
    out->body_len = scratch->len;
}

/* The payload each id carries (deterministic, sizes from 0 to ~40 KB). */
static void make_payload(int id, tk_buf *out) {
    tk_rng r;
    tk_rng_seed(&r, 1000 + (uint64_t)id);
    size_t n = id % 10 == 0 ? 0 : (size_t)tk_rng_below(&r, 40000);
    if (tk_buf_reserve(out, n + 1)) return;
    for (size_t i = 0; i < n; i++) out->data[i] = (char)tk_rng_u64(&r);
    out->len = n;
}

static void ledger_poll(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch,
                        void *user) {
    ledger *L = user;
    int id = -1;
    if (sscanf(req_json_str(req, "request_id"), "job-%d", &id) != 1 || id < 0 || id >= N_ALL) {
        out->status = 404;
        out->body = "{\"detail\":\"unknown request\"}";
        return;
    }
    pthread_mutex_lock(&L->mu);
    int polls = ++L->polls[id];
    pthread_mutex_unlock(&L->mu);
    out->status = 200;
    if (polls == 1) {   /* every future needs at least two polls */
        out->body = "{\"type\":\"try_again\",\"queue_state\":\"active\"}";
        return;
    }
    tk_buf p = {0};
    make_payload(id, &p);
    if (tk_buf_printf(scratch, "res;id=%d;", id)) {}
    xor_payload((const unsigned char *)p.data, p.len, 0x33, scratch);
    tk_buf_free(&p);
    out->body = scratch->data;
    out->body_len = scratch->len;
    out->content_type = "application/x-protobuf";
}

static void build_request(int id, tk_buf *body) {
    tk_buf p = {0};
    make_payload(id, &p);
    tk_buf_clear(body);
    if (tk_buf_printf(body, "id=%d;h=%016llx;", id,
                      (unsigned long long)tk_hash_bytes(p.data ? p.data : "", p.len)) ||
        tk_buf_append(body, p.data ? p.data : "", p.len)) {}
    tk_buf_free(&p);
}

static void check_answer(int id, const tk_client_response *r) {
    tk_buf want = {0}, p = {0};
    make_payload(id, &p);
    bool future = id >= N_PLAIN;
    if (tk_buf_printf(&want, "%s;id=%d;", future ? "res" : "ok", id)) {}
    xor_payload((const unsigned char *)(p.data ? p.data : ""), p.len, future ? 0x33 : 0x5a, &want);
    if (r->body.len != want.len || memcmp(r->body.data, want.data, want.len))
        fail_msg("call %d: answer of %zu bytes differs from the expected %zu", id, r->body.len,
                 want.len);
    tk_buf_free(&want);
    tk_buf_free(&p);
}

static void test_exactly_once_through_20_percent_faults(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    ledger L;
    memset(&L, 0, sizeof L);
    pthread_mutex_init(&L.mu, NULL);
    tk_mock_set_handler(m, "POST", "/api/v1/apply", ledger_apply, &L);
    tk_mock_set_handler(m, "POST", "/api/v1/submit", ledger_apply, &L);
    tk_mock_set_handler(m, "POST", "/api/v1/retrieve_future", ledger_poll, &L);
    tk_faultproxy_config cfg;
    tk_faultproxy_config_uniform(&cfg, "127.0.0.1", tk_mock_port(m), 0.20, 2024);
    tk_faultproxy *p = start_proxy(&cfg);
    char url[64];
    proxy_url(p, url, sizeof url);
    recorder rec;
    rec_init(&rec);
    tk_client *c = open_client(url, S, &rec);
    tk_buf body = {0};
    tk_err e = {0};
    for (int base = 0; base < N_ALL; base += WAVE) {
        tk_client_future *f[WAVE];
        int n = base + WAVE <= N_ALL ? WAVE : N_ALL - base;
        for (int i = 0; i < n; i++) {
            int id = base + i;
            build_request(id, &body);
            bool future = id >= N_PLAIN;
            tk_client_call_spec s = {.path = future ? "/api/v1/submit" : "/api/v1/apply",
                                     .body = body.data, .body_len = body.len,
                                     .content_type = "application/octet-stream",
                                     .exec_retries = true, .is_future = future,
                                     .deadline_s = 120};
            assert_ok(tk_client_call(c, &s, &f[i], &e), &e);
        }
        for (int i = 0; i < n; i++) {
            int rc = tk_client_future_wait(f[i], 180, &e);
            if (rc) fail_msg("call %d failed: %s", base + i, e.msg);
            check_answer(base + i, tk_client_future_response(f[i]));
            tk_client_future_release(f[i]);
        }
    }
    tk_buf_free(&body);
    tk_client_close(c);
    tk_faultproxy_stats st = tk_faultproxy_get_stats(p);
    tk_faultproxy_stop(p);

    int extra_deliveries = 0;
    for (int id = 0; id < N_ALL; id++) {
        if (L.applied[id] != 1) fail_msg("call %d applied %d times", id, L.applied[id]);
        extra_deliveries += L.deliveries[id] - 1;
    }
    assert_int_equal(L.corrupted, 0);
    /* the proxy really did get in the way, in every way it can */
    assert_true(st.drop_request > 0 && st.drop_response > 0 && st.truncate > 0 && st.reset > 0);
    assert_true(st.status_500 + st.status_503 + st.status_429 + st.status_408 > 0);
    assert_true(extra_deliveries > 0);   /* lost answers made the client send again */
    assert_true(rec_count(&rec, TK_CLIENT_EV_RETRY_REQUEST) > 0);
    assert_true(rec_count(&rec, TK_CLIENT_EV_POLL_AGAIN) > 0);
    double rate = (double)tk_faultproxy_faults(&st) / (double)st.requests;
    assert_true(rate > 0.12 && rate < 0.28);
    print_message("faultproxy: %lld requests, %lld faults (%.1f %%), %d repeated deliveries\n",
                  (long long)st.requests, (long long)tk_faultproxy_faults(&st), 100 * rate,
                  extra_deliveries);
    rec_free(&rec);
    pthread_mutex_destroy(&L.mu);
    tk_mock_stop(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_fault_kind),
        cmocka_unit_test(test_zero_rate_is_transparent),
        cmocka_unit_test(test_seed_reproduces_faults),
        cmocka_unit_test(test_exactly_once_through_20_percent_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
