/* bench/server: the loopback server under load, measured against the floors it is built on.
 *
 *   latency     submit + retrieve of a tiny request (a forward of 4 tokens) by one client with a
 *               kept-alive connection, p50 / p99, against two plain HTTP round trips to a minimal
 *               libmicrohttpd server in this process (the transport floor: same library, same
 *               thread-per-connection mode, a fixed answer).
 *   throughput  64 concurrent sampling clients (each its own sampling session, one asample at a
 *               time, submit then retrieve) on the tiny model, tokens/s, against the engine's own
 *               decode loop run in this process on 64 requests of the same shape
 *               (tk_engine_sample_batch: the ceiling without HTTP, futures or JSON).
 *   soak        16 clients (8 pipelined training with checkpoints and sampling sessions, 8
 *               sampling) for SOAK seconds; the server process's RSS is printed every minute.
 *
 * The server is the real `tinkerc serve` binary in its own process (its RSS is its own), serving a
 * seeded random Qwen3-shaped model written at start, with --result-ttl 60 (finished results are
 * dropped after a minute, so that memory held for results levels off during the soak).
 *
 * usage: bench_server BUILD_DIR [LAT_CALLS] [THROUGHPUT_SECONDS] [SOAK_SECONDS] */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tinkerc/engine.h"

static const char *nz(const char *s) { return s ? s : ""; }

/* ---- the tiny model ---------------------------------------------------------------------------- */

static void tiny_config(tk_engine_config *c) {
    tk_engine_config_default(c, TK_ENGINE_ARCH_QWEN3);
    c->vocab_size = 1024;
    c->hidden_size = 64;
    c->intermediate_size = 128;
    c->num_layers = 4;
    c->num_heads = 4;
    c->num_kv_heads = 2;
    c->head_dim = 16;
    c->max_position_embeddings = 256;
}

/* ---- HTTP client ------------------------------------------------------------------------------- */

typedef struct conn {
    CURL *c;
    struct curl_slist *hdr;
    tk_buf body;
    char url[256];
} conn;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    return tk_buf_append(ud, p, sz * n) ? 0 : sz * n;
}

static void conn_init(conn *k, const char *base) {
    memset(k, 0, sizeof *k);
    k->c = curl_easy_init();
    k->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    k->hdr = curl_slist_append(k->hdr, "X-API-Key: tml-bench");
    k->hdr = curl_slist_append(k->hdr, "Expect:");
    snprintf(k->url, sizeof k->url, "%s", base);
    curl_easy_setopt(k->c, CURLOPT_HTTPHEADER, k->hdr);
    curl_easy_setopt(k->c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k->c, CURLOPT_WRITEDATA, &k->body);
    curl_easy_setopt(k->c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k->c, CURLOPT_TIMEOUT, 120L);
}

static void conn_free(conn *k) {
    curl_slist_free_all(k->hdr);
    curl_easy_cleanup(k->c);
    tk_buf_free(&k->body);
}

/* POST a JSON body; the parsed answer (NULL when not 200 / not JSON). */
static json_t *post(conn *k, const char *path, const char *body) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", k->url, path);
    tk_buf_clear(&k->body);
    curl_easy_setopt(k->c, CURLOPT_URL, url);
    curl_easy_setopt(k->c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(k->c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    long st = 0;
    if (curl_easy_perform(k->c) != CURLE_OK) return NULL;
    curl_easy_getinfo(k->c, CURLINFO_RESPONSE_CODE, &st);
    if (st != 200) {
        fprintf(stderr, "POST %s -> %ld %.300s\n", path, st, k->body.data ? k->body.data : "");
        return NULL;
    }
    return json_loadb(k->body.data, k->body.len, 0, NULL);
}

static atomic_int g_errors;

/* Submit, then retrieve until the result is there; the result (NULL on error). */
static json_t *call(conn *k, const char *path, const char *body) {
    json_t *v = post(k, path, body);
    const char *rid = json_string_value(json_object_get(v, "request_id"));
    if (!rid) {
        atomic_fetch_add(&g_errors, 1);
        json_decref(v);
        return NULL;
    }
    char rb[256];
    snprintf(rb, sizeof rb, "{\"request_id\":\"%s\"}", rid);
    json_decref(v);
    for (;;) {
        json_t *r = post(k, "/api/v1/retrieve_future", rb);
        const char *t = json_string_value(json_object_get(r, "type"));
        if (r && t && !strcmp(t, "try_again")) {
            json_decref(r);
            continue;
        }
        if (!r || json_object_get(r, "error")) {
            if (r) fprintf(stderr, "%s failed: %s\n", path, json_string_value(json_object_get(r, "error")));
            atomic_fetch_add(&g_errors, 1);
            json_decref(r);
            return NULL;
        }
        return r;
    }
}

static char *new_session(conn *k) {
    json_t *v = post(k, "/api/v1/create_session", "{\"tags\":[],\"user_metadata\":{},\"sdk_version\":\"bench\"}");
    char *id = tk_strdup(json_string_value(json_object_get(v, "session_id")));
    json_decref(v);
    if (!id) {
        fprintf(stderr, "create_session failed\n");
        exit(1);
    }
    return id;
}

static char *sampling_session(conn *k, const char *sid, int seq) {
    char b[512];
    snprintf(b, sizeof b, "{\"session_id\":\"%s\",\"sampling_session_seq_id\":%d,\"base_model\":\"bench/tiny\"}", sid, seq);
    json_t *v = post(k, "/api/v1/create_sampling_session", b);
    char *id = tk_strdup(json_string_value(json_object_get(v, "sampling_session_id")));
    json_decref(v);
    if (!id) {
        fprintf(stderr, "create_sampling_session failed\n");
        exit(1);
    }
    return id;
}

/* ---- the server process ------------------------------------------------------------------------- */

static pid_t g_pid;

static void start_server(const char *build, const char *model_dir, const char *data_dir, char *url, size_t n) {
    int fd[2];
    if (pipe(fd)) exit(1);
    char bin[600], model[800];
    snprintf(bin, sizeof bin, "%s/src/cli/tinkerc", build);
    snprintf(model, sizeof model, "bench/tiny=%s", model_dir);
    g_pid = fork();
    if (g_pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        /* results are kept 60 s (not the default 600) so that the soak's RSS levels off within minutes */
        execl(bin, bin, "serve", "--port", "0", "--data-dir", data_dir, "--model", model, "--session-timeout", "3600",
              "--result-ttl", "60", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    char line[512];
    if (!f || !fgets(line, sizeof line, f) || !strstr(line, "http://")) {
        fprintf(stderr, "could not start %s\n", bin);
        exit(1);
    }
    snprintf(url, n, "%s", strstr(line, "http://"));
    url[strcspn(url, "\r\n")] = 0;
    /* keep the pipe open (the server writes nothing more) */
}

static long server_rss_kib(void) {
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)g_pid);
    FILE *f = fopen(p, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kib = atol(line + 6);
    if (f) fclose(f);
    return kib;
}

/* ---- the transport floor: a minimal libmicrohttpd server ------------------------------------------ */

typedef struct floor_ctx {
    tk_buf body;
} floor_ctx;

static enum MHD_Result floor_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                     const char *version, const char *upload, size_t *upload_size, void **pp) {
    (void)cls, (void)url, (void)method, (void)version;
    floor_ctx *x = *pp;
    if (!x) {
        *pp = calloc(1, sizeof *x);
        return MHD_YES;
    }
    if (*upload_size) {
        if (tk_buf_append(&x->body, upload, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    static const char answer[] = "{\"request_id\":\"floor-1\",\"model_id\":\"m\"}";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof answer - 1, (void *)answer, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

static void floor_done(void *cls, struct MHD_Connection *c, void **pp, enum MHD_RequestTerminationCode t) {
    (void)cls, (void)c, (void)t;
    floor_ctx *x = *pp;
    if (x) tk_buf_free(&x->body);
    free(x);
    *pp = NULL;
}

/* ---- latency ---------------------------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void pct(double *v, int n, double *p50, double *p99) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    *p50 = v[n / 2];
    *p99 = v[(int)((n - 1) * 0.99)];
}

static void bench_latency(const char *url, int calls) {
    conn k;
    conn_init(&k, url);
    char *sid = new_session(&k);
    char b[1024];
    snprintf(b, sizeof b, "{\"session_id\":\"%s\",\"model_seq_id\":0,\"base_model\":\"bench/tiny\",\"lora_config\":"
             "{\"rank\":8}}", sid);
    json_decref(call(&k, "/api/v1/create_model", b));
    double *lat = calloc((size_t)calls, sizeof *lat);
    for (int i = -50; i < calls; i++) { /* 50 warm-up calls */
        snprintf(b, sizeof b, "{\"model_id\":\"%s:train:0\",\"seq_id\":%d,\"forward_input\":{\"loss_fn\":\"cross_entropy\","
                 "\"data\":[{\"model_input\":{\"chunks\":[{\"tokens\":[1,2,3,4],\"type\":\"encoded_text\"}]},"
                 "\"loss_fn_inputs\":{\"target_tokens\":{\"data\":[2,3,4,5],\"dtype\":\"int64\"},\"weights\":{\"data\":"
                 "[1,1,1,1],\"dtype\":\"float32\"}}}]}}", sid, i + 51);
        double t0 = tk_now_s();
        json_t *r = call(&k, "/api/v1/forward", b);
        double dt = tk_now_s() - t0;
        json_decref(r);
        if (i >= 0) lat[i] = dt;
    }
    /* the floor: the same two round trips (same bodies) to a server that only answers */
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                            NULL, floor_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, floor_done, NULL,
                                            MHD_OPTION_END);
    const union MHD_DaemonInfo *di = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!di) {
        fprintf(stderr, "floor server failed\n");
        exit(1);
    }
    char furl[128];
    snprintf(furl, sizeof furl, "http://127.0.0.1:%u", (unsigned)di->port);
    conn f;
    conn_init(&f, furl);
    double *flo = calloc((size_t)calls, sizeof *flo);
    for (int i = -50; i < calls; i++) {
        double t0 = tk_now_s();
        json_decref(post(&f, "/api/v1/forward", b));
        json_decref(post(&f, "/api/v1/retrieve_future", "{\"request_id\":\"floor-1\"}"));
        if (i >= 0) flo[i] = tk_now_s() - t0;
    }
    conn_free(&f);
    MHD_stop_daemon(d);
    double s50, s99, f50, f99;
    pct(lat, calls, &s50, &s99);
    pct(flo, calls, &f50, &f99);
    printf("latency (submit + retrieve of a 4-token forward, %d calls, one kept-alive connection):\n", calls);
    printf("  tinkerc serve       p50 %7.1f us   p99 %7.1f us\n", s50 * 1e6, s99 * 1e6);
    printf("  HTTP floor (MHD)    p50 %7.1f us   p99 %7.1f us\n", f50 * 1e6, f99 * 1e6);
    printf("  ratio               p50 %.2fx       p99 %.2fx\n", s50 / f50, s99 / f99);
    free(lat);
    free(flo);
    free(sid);
    conn_free(&k);
}

/* ---- throughput ------------------------------------------------------------------------------------ */

enum { TP_CLIENTS = 64, TP_PROMPT = 16, TP_MAX_TOKENS = 32 };

typedef struct tp_client {
    const char *url;
    int idx;
    double end;
    long tokens, requests;
} tp_client;

static void *tp_main(void *arg) {
    tp_client *c = arg;
    conn k;
    conn_init(&k, c->url);
    char *sid = new_session(&k);
    char *ss = sampling_session(&k, sid, 0);
    for (int64_t seq = 0; tk_now_s() < c->end; seq++) {
        char b[1024];
        int at = snprintf(b, sizeof b, "{\"sampling_session_id\":\"%s\",\"seq_id\":%lld,\"prompt\":{\"chunks\":[{\"tokens\":[",
                          ss, (long long)seq);
        for (int i = 0; i < TP_PROMPT; i++) at += snprintf(b + at, sizeof b - (size_t)at, "%s%d", i ? "," : "", 1 + (c->idx * 7 + i) % 1000);
        snprintf(b + at, sizeof b - (size_t)at, "],\"type\":\"encoded_text\"}]},\"sampling_params\":{\"max_tokens\":%d,"
                 "\"seed\":%lld}}", TP_MAX_TOKENS, (long long)(c->idx * 100000 + seq));
        json_t *r = call(&k, "/api/v1/asample", b);
        json_t *q = json_array_get(json_object_get(r, "sequences"), 0);
        c->tokens += (long)json_array_size(json_object_get(q, "tokens"));
        c->requests += r != NULL;
        json_decref(r);
    }
    free(ss);
    free(sid);
    conn_free(&k);
    return NULL;
}

static void bench_throughput(const char *url, const char *model_dir, double seconds) {
    tp_client c[TP_CLIENTS];
    tk_thread t[TP_CLIENTS];
    tk_err e = {0};
    double t0 = tk_now_s();
    for (int i = 0; i < TP_CLIENTS; i++) {
        c[i] = (tp_client){url, i, t0 + seconds, 0, 0};
        if (tk_thread_start(&t[i], tp_main, &c[i], &e)) exit(1);
    }
    long tokens = 0, reqs = 0;
    for (int i = 0; i < TP_CLIENTS; i++) {
        tk_thread_join(&t[i]);
        tokens += c[i].tokens;
        reqs += c[i].requests;
    }
    double took = tk_now_s() - t0;
    /* the engine alone: 64 requests of the same shape in one decode loop, repeated */
    tk_engine_model *m = NULL;
    if (tk_engine_model_load(model_dir, &m, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    tk_engine_sample_request req[TP_CLIENTS];
    int32_t prompt[TP_CLIENTS][TP_PROMPT];
    tk_engine_sample_result out[TP_CLIENTS];
    int rcs[TP_CLIENTS];
    long etokens = 0;
    double e0 = tk_now_s();
    int rounds = 0;
    while (tk_now_s() - e0 < seconds / 2 || rounds < 2) {
        for (int i = 0; i < TP_CLIENTS; i++) {
            for (int k = 0; k < TP_PROMPT; k++) prompt[i][k] = 1 + (i * 7 + k) % 1000;
            memset(&req[i], 0, sizeof req[i]);
            req[i].prompt = prompt[i];
            req[i].n_prompt = TP_PROMPT;
            req[i].num_samples = 1;
            tk_engine_sampling_params_default(&req[i].params);
            req[i].params.max_tokens = TP_MAX_TOKENS;
            req[i].params.has_seed = true;
            req[i].params.seed = (uint64_t)(i * 100000 + rounds);
        }
        if (tk_engine_sample_batch(m, req, TP_CLIENTS, out, rcs, NULL, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            exit(1);
        }
        for (int i = 0; i < TP_CLIENTS; i++) {
            if (!rcs[i]) etokens += (long)out[i].sequences[0].n_tokens;
            tk_engine_sample_result_free(&out[i]);
        }
        rounds++;
    }
    double etook = tk_now_s() - e0;
    tk_engine_model_free(m);
    printf("throughput (%d sampling clients, prompt %d, max_tokens %d, one request at a time each):\n", TP_CLIENTS,
           TP_PROMPT, TP_MAX_TOKENS);
    printf("  tinkerc serve       %8.0f tokens/s  %6.1f requests/s  (%ld requests in %.1f s)\n", tokens / took,
           reqs / took, reqs, took);
    printf("  engine alone        %8.0f tokens/s  %6.1f requests/s  (tk_engine_sample_batch of %d, %d rounds)\n",
           etokens / etook, rounds * TP_CLIENTS / etook, TP_CLIENTS, rounds);
    printf("  ratio               %.2fx\n", (tokens / took) / (etokens / etook));
}

/* ---- soak ------------------------------------------------------------------------------------------ */

typedef struct soak_client {
    const char *url;
    int idx;
    double end;
    long rounds;
} soak_client;

static void *soak_train(void *arg) {
    soak_client *c = arg;
    conn k;
    conn_init(&k, c->url);
    char *sid = new_session(&k);
    char b[4096];
    snprintf(b, sizeof b, "{\"session_id\":\"%s\",\"model_seq_id\":0,\"base_model\":\"bench/tiny\",\"lora_config\":"
             "{\"rank\":8,\"seed\":%d}}", sid, c->idx);
    json_decref(call(&k, "/api/v1/create_model", b));
    int64_t seq = 1, ss = 0;
    while (tk_now_s() < c->end) {
        /* forward_backward in two chunks, the first sent last, then optim_step, then the results */
        char rids[3][128] = {{0}};
        for (int ch = 1; ch >= 0; ch--) {
            snprintf(b, sizeof b, "{\"model_id\":\"%s:train:0\",\"seq_id\":%lld,\"forward_backward_input\":{\"loss_fn\":"
                     "\"cross_entropy\",\"data\":[{\"model_input\":{\"chunks\":[{\"tokens\":[1,2,3,4,5,6,7,8],\"type\":"
                     "\"encoded_text\"}]},\"loss_fn_inputs\":{\"target_tokens\":{\"data\":[2,3,4,5,6,7,8,9],\"dtype\":"
                     "\"int64\"},\"weights\":{\"data\":[1,1,1,1,1,1,1,1],\"dtype\":\"float32\"}}}]}}",
                     sid, (long long)(seq + ch));
            json_t *v = post(&k, "/api/v1/forward_backward", b);
            snprintf(rids[ch], sizeof rids[ch], "%s", nz(json_string_value(json_object_get(v, "request_id"))));
            json_decref(v);
        }
        snprintf(b, sizeof b, "{\"model_id\":\"%s:train:0\",\"seq_id\":%lld,\"adam_params\":{\"learning_rate\":0.001}}", sid,
                 (long long)(seq + 2));
        json_t *v = post(&k, "/api/v1/optim_step", b);
        snprintf(rids[2], sizeof rids[2], "%s", nz(json_string_value(json_object_get(v, "request_id"))));
        json_decref(v);
        seq += 3;
        for (int i = 0; i < 3; i++) {
            char rb[256];
            snprintf(rb, sizeof rb, "{\"request_id\":\"%s\"}", rids[i]);
            for (;;) {
                json_t *r = post(&k, "/api/v1/retrieve_future", rb);
                const char *t = json_string_value(json_object_get(r, "type"));
                bool again = r && t && !strcmp(t, "try_again");
                if (!r || json_object_get(r, "error")) atomic_fetch_add(&g_errors, 1);
                json_decref(r);
                if (!again) break;
            }
        }
        if (c->rounds % 10 == 9) { /* a sampling session over the current weights, and a sample */
            snprintf(b, sizeof b, "{\"model_id\":\"%s:train:0\",\"seq_id\":%lld,\"sampling_session_seq_id\":%lld}", sid,
                     (long long)seq++, (long long)ss++);
            v = call(&k, "/api/v1/save_weights_for_sampler", b);
            const char *sp = json_string_value(json_object_get(v, "sampling_session_id"));
            if (sp) {
                snprintf(b, sizeof b, "{\"sampling_session_id\":\"%s\",\"seq_id\":0,\"prompt\":{\"chunks\":[{\"tokens\":"
                         "[1,2,3],\"type\":\"encoded_text\"}]},\"sampling_params\":{\"max_tokens\":16}}", sp);
                json_decref(call(&k, "/api/v1/asample", b));
            }
            json_decref(v);
        }
        if (c->rounds % 50 == 49) { /* a named checkpoint that expires after a minute */
            snprintf(b, sizeof b, "{\"model_id\":\"%s:train:0\",\"path\":\"r%ld\",\"seq_id\":%lld,\"ttl_seconds\":60}", sid,
                     c->rounds, (long long)seq++);
            json_decref(call(&k, "/api/v1/save_weights", b));
        }
        c->rounds++;
    }
    free(sid);
    conn_free(&k);
    return NULL;
}

static void *soak_sample(void *arg) {
    soak_client *c = arg;
    conn k;
    conn_init(&k, c->url);
    char *sid = new_session(&k);
    char *ss = sampling_session(&k, sid, 0);
    for (int64_t seq = 0; tk_now_s() < c->end; seq++) {
        char b[1024];
        snprintf(b, sizeof b, "{\"sampling_session_id\":\"%s\",\"seq_id\":%lld,\"num_samples\":%d,\"prompt\":{\"chunks\":[{"
                 "\"tokens\":[5,6,7,%d],\"type\":\"encoded_text\"}]},\"sampling_params\":{\"max_tokens\":16,\"seed\":%lld},"
                 "\"prompt_logprobs\":%s}", ss, (long long)seq, 1 + (int)(seq % 3), (int)(seq % 1000),
                 (long long)seq, seq % 4 ? "false" : "true");
        json_decref(call(&k, "/api/v1/asample", b));
        c->rounds++;
    }
    free(ss);
    free(sid);
    conn_free(&k);
    return NULL;
}

static void bench_soak(const char *url, double seconds) {
    enum { N = 16 };
    soak_client c[N];
    tk_thread t[N];
    tk_err e = {0};
    long rss0 = server_rss_kib();
    double t0 = tk_now_s();
    for (int i = 0; i < N; i++) {
        c[i] = (soak_client){url, i, t0 + seconds, 0};
        if (tk_thread_start(&t[i], i % 2 ? soak_sample : soak_train, &c[i], &e)) exit(1);
    }
    printf("soak (%d clients: %d training with checkpoints and sampling sessions, %d sampling; %.0f s):\n", N, N / 2,
           N / 2, seconds);
    printf("  server RSS before   %ld KiB\n", rss0);
    double next = t0 + 60;
    while (tk_now_s() < t0 + seconds) {
        tk_sleep_ms(200);
        if (tk_now_s() >= next) {
            printf("  server RSS at %3.0f s %ld KiB\n", next - t0, server_rss_kib());
            fflush(stdout);
            next += 60;
        }
    }
    long rounds = 0;
    for (int i = 0; i < N; i++) {
        tk_thread_join(&t[i]);
        rounds += c[i].rounds;
    }
    printf("  server RSS after    %ld KiB (%ld client rounds, %d errors)\n", server_rss_kib(), rounds,
           atomic_load(&g_errors));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s BUILD_DIR [LAT_CALLS] [THROUGHPUT_SECONDS] [SOAK_SECONDS]\n", argv[0]);
        return 2;
    }
    const char *build = argv[1];
    int calls = argc > 2 ? atoi(argv[2]) : 2000;
    double tp_seconds = argc > 3 ? atof(argv[3]) : 20;
    double soak_seconds = argc > 4 ? atof(argv[4]) : 600;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char tmpl[] = "/tmp/tinkerc-bench-server-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char model_dir[600], data_dir[600];
    snprintf(model_dir, sizeof model_dir, "%s/tiny", dir);
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    tk_engine_config cfg;
    tiny_config(&cfg);
    tk_engine_model *m = NULL;
    tk_err e = {0};
    if (tk_engine_model_random(&cfg, 1, &m, &e) || tk_engine_model_save(m, model_dir, TK_ENGINE_F32, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    tk_engine_model_free(m);
    char url[256];
    start_server(build, model_dir, data_dir, url, sizeof url);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double load[3] = {0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
        fclose(la);
    }
    printf("bench/server: %ld CPUs, load %.2f %.2f %.2f; OMP_NUM_THREADS=%s OMP_WAIT_POLICY=%s; model: Qwen3-shaped, "
           "vocab %d, hidden %d, %d layers (random weights); server %s\n",
           cpus, load[0], load[1], load[2], nz(getenv("OMP_NUM_THREADS")), nz(getenv("OMP_WAIT_POLICY")),
           cfg.vocab_size, cfg.hidden_size, cfg.num_layers, url);
    fflush(stdout);
    if (calls > 0) bench_latency(url, calls);
    fflush(stdout);
    if (tp_seconds > 0) bench_throughput(url, model_dir, tp_seconds);
    fflush(stdout);
    if (soak_seconds > 0) bench_soak(url, soak_seconds);
    kill(g_pid, SIGTERM);
    int status = 0;
    waitpid(g_pid, &status, 0);
    tk_remove_tree(dir, &e);
    printf("errors: %d\n", atomic_load(&g_errors));
    return atomic_load(&g_errors) ? 1 : 0;
}
