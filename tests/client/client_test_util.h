/* Helpers for the client tests: open a client on a mock server with fast back-offs, and record
 * the client's trace events. */
#ifndef TK_CLIENT_TEST_UTIL_H
#define TK_CLIENT_TEST_UTIL_H

#include "test_util.h"

#include <jansson.h>
#include <strings.h>

#include "mockserver.h"
#include "tinkerc/client.h"

/* ---- trace recorder ------------------------------------------------------------------------ */

typedef struct rec_event {
    tk_client_event_kind kind;
    char path[96];
    char reason[160];
    double delay_s;
    int attempt;
    long status;
} rec_event;

typedef struct recorder {
    pthread_mutex_t mu;
    TK_VEC(rec_event) ev;
} recorder;

static inline void rec_fn(const tk_client_event *ev, void *user) {
    recorder *r = user;
    rec_event x = {.kind = ev->kind, .delay_s = ev->delay_s, .attempt = ev->attempt,
                   .status = ev->http_status};
    snprintf(x.path, sizeof x.path, "%s", ev->path);
    snprintf(x.reason, sizeof x.reason, "%s", ev->reason);
    pthread_mutex_lock(&r->mu);
    if (tk_vec_push(&r->ev, x)) {}
    pthread_mutex_unlock(&r->mu);
}

static inline void rec_init(recorder *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

static inline void rec_free(recorder *r) {
    tk_vec_free(&r->ev);
    pthread_mutex_destroy(&r->mu);
}

/* Number of events of a kind, and the i-th of them (copied). */
static inline size_t rec_count(recorder *r, tk_client_event_kind kind) {
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->ev.len; i++) n += r->ev.data[i].kind == kind;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static inline rec_event rec_nth(recorder *r, tk_client_event_kind kind, size_t k) {
    rec_event out = {0};
    out.delay_s = -1;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->ev.len; i++)
        if (r->ev.data[i].kind == kind && k-- == 0) {
            out = r->ev.data[i];
            break;
        }
    pthread_mutex_unlock(&r->mu);
    return out;
}

/* ---- clients -------------------------------------------------------------------------------- */

/* Back-offs in these tests run at 1/1000 of real time (0.5 s becomes 0.5 ms) unless a test
 * needs otherwise; trace events report the scaled delays. */
#define TEST_TIME_SCALE 0.001

static inline tk_client *open_client_opts(const char *url, tk_client_options *o, recorder *rec) {
    o->base_url = url;
    if (!o->api_key) o->api_key = "tml-test-key";
    tk_client *c = NULL;
    tk_err e = {0};
    int rc = tk_client_open(o, &c, &e);
    if (rc) fail_msg("tk_client_open: %s", e.msg);
    if (rec) tk_client_set_trace(c, rec_fn, rec);
    return c;
}

static inline tk_client *open_client(const char *url, double scale, recorder *rec) {
    tk_client_options o;
    tk_client_options_init(&o);
    o.retry_time_scale = scale;
    o.seed = 1234;
    return open_client_opts(url, &o, rec);
}

static inline tk_mock *start_mock(void) {
    tk_mock *m = NULL;
    tk_err e = {0};
    if (tk_mock_start(NULL, NULL, &m, &e)) fail_msg("tk_mock_start: %s", e.msg);
    return m;
}

/* Run one call to completion; returns the wait's code, *fut receives the future (release it). */
static inline int run_call(tk_client *c, const tk_client_call_spec *spec, tk_client_future **fut,
                           tk_err *e) {
    int rc = tk_client_call(c, spec, fut, e);
    if (rc) return rc;
    return tk_client_future_wait(*fut, 60.0, e);
}

static inline bool body_equals(const tk_mock_request *r, const char *s) {
    size_t n = strlen(s);
    return r && r->body_len == n && !memcmp(r->body, s, n);
}

/* A JSON field of a recorded request body, as a string (a per-thread buffer: mock handlers run
 * on several threads at once). */
static inline const char *req_json_str(const tk_mock_request *r, const char *key) {
    static _Thread_local char buf[256];
    buf[0] = 0;
    json_t *j = json_loadb((const char *)r->body, r->body_len, 0, NULL);
    json_t *v = j ? json_object_get(j, key) : NULL;
    if (json_is_string(v)) snprintf(buf, sizeof buf, "%s", json_string_value(v));
    else if (json_is_boolean(v)) snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    json_decref(j);
    return buf;
}

#endif
