/* The soak: 16 concurrent clients against one server running the real engine on the tiny model
 * for N seconds (argv[1]; ctest runs 30 s on the release build, labelled slow, and 3 s labelled
 * unit so that the sanitizer build checks the same traffic for leaks and races). Half the clients
 * train their own model (pipelined forward_backward in three chunks sent first chunk last, as JSON
 * or as zstd protobuf, optim_step, forward, named checkpoints and reloads, and sampling sessions
 * from unnamed save_weights_for_sampler); the other half sample from the base model (JSON and
 * protobuf results, prompt logprobs). Every request must succeed with the result it asked for.
 * At the end nothing is left in the decode loop, and the RSS before and after is printed. */
#include "test_util.h"

#include <math.h>
#include <zstd.h>

#include "conformance.h"
#include "server/engine_glue.h"

enum { CLIENTS = 16 };
static double g_seconds = 3;

typedef struct client {
    harness *h;
    int idx;
    int rounds, samples;
    char err[512];
} client;

#define FAIL(c, ...)                                                       \
    do {                                                                   \
        if (!(c)->err[0]) snprintf((c)->err, sizeof (c)->err, __VA_ARGS__); \
    } while (0)

/* POST; the request_id or NULL (error recorded). */
static char *post(client *c, const char *path, const char *ctype, const char *enc, const void *body, size_t n) {
    http_res r;
    long st = post_raw(c->h, path, ctype, enc, body, n, &r);
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    const char *rid = json_string_value(json_object_get(v, "request_id"));
    char *out = st == 200 && rid ? tk_strdup(rid) : NULL;
    if (!out) FAIL(c, "client %d: POST %s -> %ld %.200s", c->idx, path, st, r.body.data);
    json_decref(v);
    http_res_free(&r);
    return out;
}

static char *postf(client *c, const char *path, const char *fmt, ...) TK_PRINTF(3, 4);
static char *postf(client *c, const char *path, const char *fmt, ...) {
    char body[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return post(c, path, "application/json", NULL, body, strlen(body));
}

/* Retrieve (JSON unless proto); JSON result or NULL with the error recorded. With proto the raw
 * body goes to *pbody and NULL is returned on success too. */
static json_t *get(client *c, char *rid, bool proto, tk_buf *pbody) {
    if (!rid) return NULL;
    http_res r;
    long st = retrieve(c->h, rid, proto, &r);
    json_t *v = NULL;
    if (st != 200) {
        FAIL(c, "client %d: retrieve %s -> %ld", c->idx, rid, st);
    } else if (proto && strstr(r.content_type, "protobuf")) {
        *pbody = r.body;
        r.body = (tk_buf){0};
    } else {
        v = json_loadb(r.body.data, r.body.len, 0, NULL);
        if (!v || json_object_get(v, "error")) {
            FAIL(c, "client %d: request %s failed: %.300s", c->idx, rid, r.body.data);
            json_decref(v);
            v = NULL;
        } else if (proto) {
            FAIL(c, "client %d: request %s: JSON where protobuf was asked for", c->idx, rid);
        }
    }
    http_res_free(&r);
    free(rid);
    return v;
}

static int count_proto_sequences(const tk_buf *b) {
    pb_reader r = {(const unsigned char *)b->data, (const unsigned char *)b->data + b->len};
    pb_field f;
    int n = 0;
    while (pb_next(&r, &f))
        if (f.num == 1 && f.wt == 2) n++;
    return r.p == r.end ? n : -1;
}

static void sample_check(client *c, const char *ss, int64_t seq, int num, bool proto, bool plp) {
    char *rid = postf(c, "/api/v1/asample",
                      "{\"sampling_session_id\":\"%s\",\"seq_id\":%lld,\"num_samples\":%d,\"prompt\":{\"chunks\":[{"
                      "\"tokens\":[%d,%d,%d,%d],\"type\":\"encoded_text\"}]},\"sampling_params\":{\"max_tokens\":%d,"
                      "\"seed\":%lld,\"temperature\":%s}%s,\"type\":\"sample\"}",
                      ss, (long long)seq, num, 1 + c->idx, 2 + (int)(seq % 50), 7, 11, 4 + (int)(seq % 9),
                      (long long)seq, seq % 3 ? "0.8" : "0.0", plp ? ",\"prompt_logprobs\":true,\"topk_prompt_logprobs\":2" : "");
    tk_buf pb = {0};
    json_t *v = get(c, rid, proto, &pb);
    int n = proto ? (pb.len ? count_proto_sequences(&pb) : -1) : (int)json_array_size(json_object_get(v, "sequences"));
    if (!c->err[0] && n != num) FAIL(c, "client %d: sample %lld: %d sequences, asked for %d", c->idx, (long long)seq, n, num);
    if (v && plp && json_array_size(json_object_get(v, "prompt_logprobs")) != 4)
        FAIL(c, "client %d: sample %lld: prompt_logprobs missing", c->idx, (long long)seq);
    json_decref(v);
    tk_buf_free(&pb);
    c->samples++;
}

static void *trainer(void *arg) {
    client *c = arg;
    char *sid = new_session(c->h);
    char model[200];
    snprintf(model, sizeof model, "%s:train:%d", sid, c->idx);
    json_decref(get(c, postf(c, "/api/v1/create_model",
                             "{\"session_id\":\"%s\",\"model_seq_id\":%d,\"base_model\":\"test/tiny\",\"lora_config\":"
                             "{\"rank\":%d,\"seed\":%d}}", sid, c->idx, 2 + c->idx % 3, c->idx), false, NULL));
    double end = tk_now_s() + g_seconds;
    int64_t seq = 1, ss_seq = 0;
    char last_ckpt[300] = "";
    while (tk_now_s() < end && !c->err[0]) {
        bool proto = c->rounds % 2;
        char *rids[4] = {0};
        int order[3] = {1, 2, 0}; /* the first chunk last */
        for (int k = 0; k < 3; k++) {
            int chunk = order[k];
            if (proto) {
                tk_buf b = {0};
                fb_proto(&b, model, seq + chunk, 1 + chunk, 3 + chunk, false);
                size_t cap = ZSTD_compressBound(b.len);
                char *z = malloc(cap);
                size_t zn = ZSTD_compress(z, cap, b.data, b.len, 1);
                rids[chunk] = post(c, "/api/v1/forward_backward", "application/x-protobuf", "zstd", z, zn);
                free(z);
                tk_buf_free(&b);
            } else {
                char *b = fb_body(model, seq + chunk, 1 + chunk, 3 + chunk, false);
                rids[chunk] = post(c, "/api/v1/forward_backward", "application/json", NULL, b, strlen(b));
                free(b);
            }
        }
        rids[3] = postf(c, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":"
                        "{\"learning_rate\":0.01}}", model, (long long)(seq + 3));
        seq += 4;
        for (int k = 0; k < 3; k++) {
            tk_buf pb = {0};
            json_t *v = get(c, rids[k], proto, &pb);
            if (!proto && v && json_array_size(json_object_get(v, "loss_fn_outputs")) != (size_t)(1 + k))
                FAIL(c, "client %d: chunk %d has the wrong number of outputs", c->idx, k);
            if (proto && !c->err[0]) {
                size_t n = 0, nd = 0;
                double loss = NAN;
                float *lp = proto_logprobs(&pb, &n, &nd, &loss); /* asserts only on malformed bodies */
                if (nd != (size_t)(1 + k) || n != (size_t)((1 + k) * (3 + k)) || !isfinite(loss))
                    FAIL(c, "client %d: chunk %d: %zu datums, %zu logprobs", c->idx, k, nd, n);
                free(lp);
            }
            json_decref(v);
            tk_buf_free(&pb);
        }
        json_t *v = get(c, rids[3], false, NULL);
        if (v && !json_is_object(json_object_get(v, "metrics"))) FAIL(c, "client %d: optim_step without metrics", c->idx);
        json_decref(v);
        if (c->rounds % 5 == 4) {
            char *b = fb_body(model, seq++, 2, 5, true);
            json_decref(get(c, post(c, "/api/v1/forward", "application/json", NULL, b, strlen(b)), false, NULL));
            free(b);
        }
        if (c->rounds % 4 == 3) { /* sample from the current weights */
            v = get(c, postf(c, "/api/v1/save_weights_for_sampler", "{\"model_id\":\"%s\",\"seq_id\":%lld,"
                             "\"sampling_session_seq_id\":%lld}", model, (long long)seq, (long long)ss_seq),
                    false, NULL);
            seq++;
            ss_seq++;
            const char *ss = json_string_value(json_object_get(v, "sampling_session_id"));
            if (ss) sample_check(c, ss, 0, 2, c->rounds % 8 == 3, false);
            else if (v) FAIL(c, "client %d: no sampling_session_id", c->idx);
            json_decref(v);
        }
        if (c->rounds % 7 == 6) { /* a named checkpoint, reloaded the next time round */
            if (last_ckpt[0]) {
                json_decref(get(c, postf(c, "/api/v1/load_weights", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":"
                                         "\"%s\",\"optimizer\":true}", model, (long long)seq, last_ckpt), false, NULL));
                seq++;
            }
            v = get(c, postf(c, "/api/v1/save_weights", "{\"model_id\":\"%s\",\"path\":\"r%d\",\"seq_id\":%lld,"
                             "\"ttl_seconds\":120}", model, c->rounds, (long long)seq), false, NULL);
            seq++;
            const char *p = json_string_value(json_object_get(v, "path"));
            if (p) snprintf(last_ckpt, sizeof last_ckpt, "%s", p);
            json_decref(v);
        }
        c->rounds++;
    }
    free(sid);
    return NULL;
}

static void *sampler(void *arg) {
    client *c = arg;
    char *sid = new_session(c->h);
    long st = 0;
    json_t *v = hjf(c->h, "POST", "/api/v1/create_sampling_session", &st,
                    "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"base_model\":\"test/tiny\"}", sid);
    char ss[200];
    const char *got = json_string_value(json_object_get(v, "sampling_session_id"));
    snprintf(ss, sizeof ss, "%s", got ? got : "");
    json_decref(v);
    if (st != 200) FAIL(c, "client %d: create_sampling_session -> %ld", c->idx, st);
    double end = tk_now_s() + g_seconds;
    int64_t seq = 0;
    while (tk_now_s() < end && !c->err[0]) {
        sample_check(c, ss, seq, 1 + (int)(seq % 3), seq % 2 == 1, seq % 3 == 2);
        seq++;
        c->rounds++;
    }
    free(sid);
    return NULL;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_soak(void **state) {
    (void)state;
    harness h = {0};
    tk_server_config cfg;
    harness_config(&cfg);
    cfg.future_ttl_s = 5; /* settled results are dropped after 5 s, so memory should level off */
    harness_start_engine(&h, &cfg);
    long rss0 = rss_kib();
    client c[CLIENTS];
    tk_thread t[CLIENTS];
    tk_err e = {0};
    double t0 = tk_now_s();
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (client){.h = &h, .idx = i};
        assert_ok(tk_thread_start(&t[i], i % 2 ? sampler : trainer, &c[i], &e), &e);
    }
    /* RSS at a third of the run (after warm-up) and at the end */
    while (tk_now_s() - t0 < g_seconds / 3) tk_sleep_ms(50);
    long rss_third = rss_kib();
    int rounds = 0, samples = 0;
    for (int i = 0; i < CLIENTS; i++) {
        tk_thread_join(&t[i]);
        rounds += c[i].rounds;
        samples += c[i].samples;
    }
    double took = tk_now_s() - t0;
    for (int i = 0; i < CLIENTS; i++)
        if (c[i].err[0]) fail_msg("%s", c[i].err);
    tk_server_engine_stats st;
    tk_server_engine_stats_get(h.s, &st);
    long rss1 = rss_kib();
    fprintf(stderr, "soak: %d clients, %.1f s, %d rounds, %d sample requests, %llu decode steps (max %zu requests in "
            "one), %zu futures kept, RSS %ld KiB at start, %ld at a third, %ld at the end\n", CLIENTS, took, rounds,
            samples, (unsigned long long)st.decode_steps, st.max_step_requests, tk_server_futures_count(h.s->futures),
            rss0, rss_third, rss1);
    for (int i = 0; i < CLIENTS; i++) assert_true(c[i].rounds > 0);
    assert_int_equal(st.inflight, 0);
    assert_true(st.max_step_requests >= 2);
    harness_stop(&h, false);
}

int main(int argc, char **argv) {
    if (argc > 1) g_seconds = atof(argv[1]);
    tk_log_set_level(TK_LOG_ERROR);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_soak)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
