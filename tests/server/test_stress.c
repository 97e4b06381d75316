/* 16 concurrent clients for a few seconds, half training (chunked forward_backward sent first
 * chunk last, then optim_step, pipelined, results retrieved afterwards) and half sampling, all
 * against one server with the fake engine: no error, every result is the one asked for, and each
 * model saw its requests in seq_id order. Run under the sanitizers this is also the race and
 * leak check of the core's locking. */
#include "test_util.h"

#include "harness.h"

enum { CLIENTS = 16, CHUNKS = 3 };
#define SECONDS 4.0

typedef struct client {
    harness *h;
    int idx;
    int rounds;
    char err[256];
} client;

static char *post(harness *h, const char *path, char *err, const char *fmt, ...) TK_PRINTF(4, 5);
static char *post(harness *h, const char *path, char *err, const char *fmt, ...) {
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    long st = 0;
    json_t *v = hj(h, "POST", path, body, &st);
    const char *rid = json_string_value(json_object_get(v, "request_id"));
    char *out = st == 200 && rid ? tk_strdup(rid) : NULL;
    if (!out && !err[0]) snprintf(err, 256, "POST %s %s: status %ld", path, body, st);
    json_decref(v);
    return out;
}

/* Retrieve and check the result's seq_id (or just that it did not fail, seq < 0). */
static void check(harness *h, char *rid, long seq, char *err) {
    if (!rid) return;
    long st = 0;
    json_t *v = wait_result(h, rid, &st);
    if (st != 200 || json_object_get(v, "error") ||
        (seq >= 0 && json_integer_value(json_object_get(v, "seq_id")) != seq))
        if (!err[0]) snprintf(err, 256, "request %s (seq %ld): status %ld %s", rid, seq, st,
                              json_string_value(json_object_get(v, "error")) ? json_string_value(json_object_get(v, "error")) : "");
    json_decref(v);
    free(rid);
}

static void *run_client(void *arg) {
    client *c = arg;
    harness *h = c->h;
    char *sid = new_session(h);
    double end = tk_now_s() + SECONDS;
    if (c->idx % 2 == 0) {
        char *rid = post(h, "/test/create_model", c->err, "{\"session_id\":\"%s\",\"model_seq_id\":%d}", sid, c->idx + 1);
        char model[200];
        snprintf(model, sizeof model, "%s:train:%d", sid, c->idx + 1);
        check(h, rid, -1, c->err);
        long seq = 1;
        while (tk_now_s() < end && !c->err[0]) {
            char *r[CHUNKS + 1];
            for (int k = 1; k < CHUNKS; k++) /* later chunks first, the first chunk last */
                r[k] = post(h, "/test/train", c->err, "{\"model_id\":\"%s\",\"seq_id\":%ld,\"op\":\"fwd\"}", model, seq + k);
            r[0] = post(h, "/test/train", c->err, "{\"model_id\":\"%s\",\"seq_id\":%ld,\"op\":\"fwd\"}", model, seq);
            r[CHUNKS] = post(h, "/test/train", c->err, "{\"model_id\":\"%s\",\"seq_id\":%ld,\"op\":\"optim\"}", model,
                             seq + CHUNKS);
            for (int k = 0; k <= CHUNKS; k++) check(h, r[k], seq + k, c->err);
            seq += CHUNKS + 1;
            c->rounds++;
        }
    } else {
        long st = 0;
        json_t *v = hjf(h, "POST", "/api/v1/create_sampling_session", &st,
                        "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"base_model\":\"fake/base\"}", sid);
        char ss[200];
        const char *ssid = json_string_value(json_object_get(v, "sampling_session_id"));
        snprintf(ss, sizeof ss, "%s", ssid ? ssid : "");
        json_decref(v);
        long seq = 0;
        while (tk_now_s() < end && !c->err[0]) {
            char *r[4];
            for (int k = 0; k < 4; k++)
                r[k] = post(h, "/test/sample", c->err, "{\"sampling_session_id\":\"%s\",\"seq_id\":%ld}", ss, seq + k);
            for (int k = 0; k < 4; k++) check(h, r[k], seq + k, c->err);
            seq += 4;
            c->rounds++;
        }
    }
    json_decref(hjf(h, "POST", "/api/v1/session_heartbeat", NULL, "{\"session_id\":\"%s\"}", sid));
    free(sid);
    return NULL;
}

static void test_mixed_clients(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    static client cl[CLIENTS];
    tk_thread t[CLIENTS];
    tk_err e = {0};
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (client){.h = &h, .idx = i};
        assert_ok(tk_thread_start(&t[i], run_client, &cl[i], &e), &e);
    }
    int rounds = 0;
    for (int i = 0; i < CLIENTS; i++) {
        tk_thread_join(&t[i]);
        if (cl[i].err[0]) fail_msg("client %d: %s", i, cl[i].err);
        assert_true(cl[i].rounds > 0);
        rounds += cl[i].rounds;
    }
    /* per model, the engine saw seq_ids 0 (create), 1, 2, … with no gap or reordering */
    char *log = fake_log();
    long next[CLIENTS + 2];
    for (int i = 0; i < CLIENTS + 2; i++) next[i] = 0;
    char *save = NULL;
    for (char *tok = strtok_r(log, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (tok[0] != 'm') continue; /* samples */
        int m = 0;
        long seq = 0;
        if (sscanf(tok, "m%d.%ld:", &m, &seq) != 2 || m < 1 || m > CLIENTS) fail_msg("bad log entry %s", tok);
        if (seq != next[m]) fail_msg("model %d ran seq %ld, expected %ld", m, seq, next[m]);
        next[m]++;
    }
    free(log);
    print_message("stress: %d client rounds in %.0f s\n", rounds, SECONDS);
    harness_stop(&h, false);
}

int main(void) {
    tk_log_set_level(TK_LOG_WARN);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mixed_clients)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
