/* The client-side cost of one forward_backward call, 128 datums x 2048 tokens (issue 8 point 8):
 * encode the request, send it, poll retrieve_future, receive the result, decode it — through the
 * typed SDK (tk_client_training_forward_backward + tk_client_fb_result), against the least any C
 * client must do for the same bytes: the wire codec plus two blocking libcurl POSTs on reused
 * connections. Both talk to the same lean in-process loopback server, which drops request bodies
 * and answers from precomputed memory, so the clients' costs dominate. Prints MB/s of wire bytes
 * (request body + result body) for the protobuf path (SDK 0.25) and the JSON path, and the
 * ratio. The server's client/config lifts the chunk byte limit so the batch is one request. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lean_server.h"
#include "tinkerc/client.h"
#include "tinkerc/wire.h"

#define N_DATUMS 128
#define N_TOKENS 2048

static tk_buf g_out_proto, g_out_json;   /* the result, both encodings */
static volatile int g_json;              /* the server answers JSON results */

/* ---- the lean server ---------------------------------------------------------------------- */

static void answer(int fd, const char *ctype, const char *p, size_t n) {
    char h[200];
    int hl = snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu"
                      "\r\n\r\n", ctype, n);
    if (send_all(fd, h, (size_t)hl)) send_all(fd, p, n);
}

static void *lean_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap), small[512];
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len == cap) goto out;
            ssize_t r = recv(fd, buf + len, cap - len, 0);
            if (r <= 0) goto out;
            len += (size_t)r;
        }
        size_t head = (size_t)(end + 4 - buf), body = 0;
        for (char *p = buf; p < end; p++)
            if ((p == buf || p[-1] == '\n') && !strncasecmp(p, "Content-Length:", 15))
                body = strtoull(p + 15, NULL, 10);
        char path[64] = "";
        sscanf(buf, "%*s %63s", path);
        /* keep the start of small bodies (retrieve_future names its request) */
        size_t have = len - head, keep = 0;
        small[0] = 0;
        if (have >= body) {
            keep = body < sizeof small - 1 ? body : sizeof small - 1;
            memcpy(small, buf + head, keep);
            memmove(buf, buf + head + body, have - body);
            len = have - body;
        } else {
            keep = have < sizeof small - 1 ? have : sizeof small - 1;
            memcpy(small, buf + head, keep);
            size_t left = body - have;
            while (left) {
                ssize_t r = recv(fd, buf, left < cap ? left : cap, 0);
                if (r <= 0) goto out;
                left -= (size_t)r;
            }
            len = 0;
        }
        small[keep] = 0;
        const char *j = "application/json";
        if (!strcmp(path, "/api/v1/client/config")) {
            const char *c = g_json ? "{\"fwdbwd_max_chunk_bytes_count\":1000000000,"
                                     "\"proto_write_fwdbwd\":false}"
                                   : "{\"fwdbwd_max_chunk_bytes_count\":1000000000}";
            answer(fd, j, c, strlen(c));
        } else if (!strcmp(path, "/api/v1/create_session")) {
            answer(fd, j, "{\"session_id\":\"b\"}", 18);
        } else if (!strcmp(path, "/api/v1/create_model")) {
            answer(fd, j, "{\"request_id\":\"cm\"}", 19);
        } else if (!strcmp(path, "/api/v1/forward_backward")) {
            answer(fd, j, "{\"request_id\":\"fb\"}", 19);
        } else if (!strcmp(path, "/api/v1/retrieve_future") && strstr(small, "\"cm\"")) {
            answer(fd, j, "{\"model_id\":\"m\"}", 16);
        } else if (!strcmp(path, "/api/v1/retrieve_future")) {
            if (g_json) answer(fd, j, g_out_json.data, g_out_json.len);
            else answer(fd, "application/x-protobuf", g_out_proto.data, g_out_proto.len);
        } else {
            answer(fd, j, "{}", 2);
        }
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

/* ---- the batch and its result ------------------------------------------------------------- */

static void die(const char *what, const tk_err *e) {
    fprintf(stderr, "%s: %s\n", what, e ? e->msg : "");
    exit(1);
}

static tk_wire_datum *make_batch(tk_arena *a, tk_rng *r) {
    tk_wire_datum *d = tk_arena_zalloc(a, N_DATUMS * sizeof *d);
    for (size_t i = 0; i < N_DATUMS; i++) {
        int32_t *tok = tk_arena_alloc(a, N_TOKENS * sizeof *tok);
        int64_t *tgt = tk_arena_alloc(a, N_TOKENS * sizeof *tgt);
        float *w = tk_arena_alloc(a, N_TOKENS * sizeof *w);
        for (size_t k = 0; k < N_TOKENS; k++) tok[k] = (int32_t)tk_rng_below(r, 151936);
        for (size_t k = 0; k < N_TOKENS; k++) {
            tgt[k] = k + 1 < N_TOKENS ? tok[k + 1] : 0;
            w[k] = k < 256 ? 0.0f : 1.0f;   /* a prompt, then the completion */
        }
        tk_wire_chunk *c = tk_arena_zalloc(a, sizeof *c);
        c->type = TK_WIRE_CHUNK_ENCODED_TEXT;
        c->tokens = tok;
        c->n_tokens = N_TOKENS;
        tk_wire_named_tensor *it = tk_arena_zalloc(a, 2 * sizeof *it);
        it[0].name = "target_tokens";
        it[0].tensor = tk_wire_tensor_view_i64(tgt, N_TOKENS);
        it[1].name = "weights";
        it[1].tensor = tk_wire_tensor_view_f32(w, N_TOKENS);
        d[i].model_input = (tk_wire_model_input){c, 1};
        d[i].loss_fn_inputs = (tk_wire_tensor_map){it, 2};
    }
    return d;
}

static void make_outputs(tk_arena *a, tk_rng *r) {
    tk_wire_forward_backward_output o = {.loss_fn_output_type = "ArrayRecord",
                                         .n_loss_fn_outputs = N_DATUMS};
    o.loss_fn_outputs = tk_arena_zalloc(a, N_DATUMS * sizeof *o.loss_fn_outputs);
    for (size_t i = 0; i < N_DATUMS; i++) {
        float *lp = tk_arena_alloc(a, N_TOKENS * sizeof *lp);
        for (size_t k = 0; k < N_TOKENS; k++) lp[k] = -(float)(tk_rng_f64(r) * 12.0);
        tk_wire_named_tensor *it = tk_arena_zalloc(a, sizeof *it);
        it->name = "logprobs";
        it->tensor = tk_wire_tensor_view_f32(lp, N_TOKENS);
        o.loss_fn_outputs[i] = (tk_wire_tensor_map){it, 1};
    }
    tk_wire_kv_f64 m[1] = {{"loss:sum", 12345.678}};
    o.metrics = (tk_wire_f64_map){true, m, 1};
    tk_err e = {0};
    if (tk_wire_proto_encode_forward_backward_output(&o, &g_out_proto, &e) ||
        tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, &o, &g_out_json, &e))
        die("encoding the result", &e);
}

/* ---- the two sides ------------------------------------------------------------------------- */

static size_t sink(char *p, size_t s, size_t n, void *ud) {
    return tk_buf_append(ud, p, s * n) ? 0 : s * n;
}

static bool g_check = true;

static void check_output(const tk_wire_forward_backward_output *o) {
    if (o->n_loss_fn_outputs != N_DATUMS || o->loss_fn_outputs[N_DATUMS - 1].n != 1 ||
        o->loss_fn_outputs[N_DATUMS - 1].items[0].tensor.n != N_TOKENS) {
        fprintf(stderr, "the decoded result is wrong\n");
        exit(1);
    }
}

/* The floor: encode, POST, POST retrieve_future, decode — blocking libcurl, reused handles. */
static double run_reference(const char *base, const tk_wire_datum *d, bool json, int calls,
                            size_t *wire_bytes) {
    char url_fb[128], url_rf[128];
    snprintf(url_fb, sizeof url_fb, "%s/api/v1/forward_backward", base);
    snprintf(url_rf, sizeof url_rf, "%s/api/v1/retrieve_future", base);
    CURL *h1 = curl_easy_init(), *h2 = curl_easy_init();
    struct curl_slist *hd1 = curl_slist_append(NULL, json ? "Content-Type: application/json"
                                                          : "Content-Type: application/x-protobuf");
    hd1 = curl_slist_append(hd1, "Expect:");
    hd1 = curl_slist_append(hd1, "X-API-Key: tml-bench");
    struct curl_slist *hd2 = curl_slist_append(NULL, "Content-Type: application/json");
    hd2 = curl_slist_append(hd2, "Accept: application/x-protobuf, application/json");
    hd2 = curl_slist_append(hd2, "X-API-Key: tml-bench");
    tk_buf ans1 = {0}, ans2 = {0};
    const char *poll = "{\"request_id\":\"fb\",\"allow_metadata_only\":true}";
    curl_easy_setopt(h1, CURLOPT_URL, url_fb);
    curl_easy_setopt(h1, CURLOPT_HTTPHEADER, hd1);
    curl_easy_setopt(h1, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h1, CURLOPT_WRITEDATA, &ans1);
    curl_easy_setopt(h2, CURLOPT_URL, url_rf);
    curl_easy_setopt(h2, CURLOPT_HTTPHEADER, hd2);
    curl_easy_setopt(h2, CURLOPT_POSTFIELDS, poll);
    curl_easy_setopt(h2, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h2, CURLOPT_WRITEDATA, &ans2);
    curl_easy_setopt(h2, CURLOPT_BUFFERSIZE, 256L * 1024L);
    tk_wire_forward_backward_request req;
    tk_wire_init(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &req);
    req.model_id = "m";
    req.has_seq_id = true;
    req.input.data = (tk_wire_datum *)d;
    req.input.n_data = N_DATUMS;
    req.input.loss_fn = TK_WIRE_LOSS_CROSS_ENTROPY;
    tk_arena *a = tk_arena_new(0);
    double t0 = tk_now_s();
    for (int i = 0; i < calls; i++) {
        tk_buf body = {0};
        tk_err e = {0};
        req.seq_id = i + 1;
        if (json ? tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &req, &body, &e)
                 : tk_wire_proto_encode_forward_backward_request(&req, &body, &e))
            die("reference encode", &e);
        curl_easy_setopt(h1, CURLOPT_POSTFIELDS, body.data);
        curl_easy_setopt(h1, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
        tk_buf_clear(&ans1);
        tk_buf_clear(&ans2);
        if (curl_easy_perform(h1) != CURLE_OK || curl_easy_perform(h2) != CURLE_OK)
            die("reference libcurl", NULL);
        char *ct = NULL;
        curl_easy_getinfo(h2, CURLINFO_CONTENT_TYPE, &ct);
        tk_wire_forward_backward_output out;
        tk_arena_reset(a);
        if (tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, ct, NULL, ans2.data, ans2.len,
                                0, a, &out, &e))
            die("reference decode", &e);
        if (g_check) check_output(&out);
        *wire_bytes = body.len + ans2.len;
        tk_buf_free(&body);
    }
    double t = tk_now_s() - t0;
    tk_arena_free(a);
    tk_buf_free(&ans1);
    tk_buf_free(&ans2);
    curl_slist_free_all(hd1);
    curl_slist_free_all(hd2);
    curl_easy_cleanup(h1);
    curl_easy_cleanup(h2);
    return t;
}

static double run_tinkerc(tk_client_training *tc, const tk_wire_datum *d, int calls) {
    tk_arena *a = tk_arena_new(0);
    double t0 = tk_now_s();
    for (int i = 0; i < calls; i++) {
        tk_client_task *t = NULL;
        tk_err e = {0};
        tk_wire_forward_backward_output out;
        tk_arena_reset(a);
        if (tk_client_training_forward_backward(tc, d, N_DATUMS, TK_WIRE_LOSS_CROSS_ENTROPY, NULL,
                                                &t, &e) ||
            tk_client_fb_result(t, -1, a, &out, &e))
            die("tinkerc forward_backward", &e);
        if (g_check) check_output(&out);
        tk_client_task_release(t);
    }
    double t = tk_now_s() - t0;
    tk_arena_free(a);
    return t;
}

static tk_client_training *open_training(const char *base, tk_client_service **svc) {
    tk_client_service_options o;
    tk_client_service_options_init(&o);
    o.client.base_url = base;
    o.client.api_key = "tml-bench";
    tk_err e = {0};
    tk_client_task *t = NULL;
    tk_client_training *tc = NULL;
    if (tk_client_service_open(&o, svc, &e) ||
        tk_client_service_create_lora_training_client(*svc, "bench", NULL, NULL, &t, &e) ||
        tk_client_training_result(t, -1, &tc, &e))
        die("opening the training client", &e);
    tk_client_task_release(t);
    return tc;
}

int main(int argc, char **argv) {
    int calls = argc > 1 ? atoi(argv[1]) : 5;
    tk_log_set_level(TK_LOG_WARN);
    tk_rng r;
    tk_rng_seed(&r, 7);
    tk_arena *a = tk_arena_new(0);
    tk_wire_datum *d = make_batch(a, &r);
    make_outputs(a, &r);
    int port = lean_start(lean_conn);
    if (port <= 0) die("cannot start the loopback server", NULL);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);

    printf("forward_backward, %d datums x %d tokens, one request; per call: encode + send + poll "
           "+ receive + decode\n", N_DATUMS, N_TOKENS);
    printf("%-10s %10s %10s %12s %12s %12s %8s\n", "encoding", "req MB", "result MB",
           "tinkerc", "floor", "tinkerc MB/s", "ratio");
    for (int json = 0; json < 2; json++) {
        g_json = json;
        tk_client_service *svc = NULL;
        tk_client_training *tc = open_training(base, &svc);
        size_t wire = 0;
        run_reference(base, d, json, 1, &wire);   /* warm-up */
        run_tinkerc(tc, d, 1);
        double best_ref = 1e30, best_us = 1e30;
        for (int round = 0; round < 5; round++) {   /* alternate; keep each side's best */
            double t = run_reference(base, d, json, calls, &wire);
            if (t < best_ref) best_ref = t;
            t = run_tinkerc(tc, d, calls);
            if (t < best_us) best_us = t;
        }
        size_t res = json ? g_out_json.len : g_out_proto.len;
        double mb = (double)wire / 1e6;
        printf("%-10s %10.2f %10.2f %9.1f ms %9.1f ms %12.0f %8.2f\n", json ? "JSON" : "protobuf",
               (double)(wire - res) / 1e6, (double)res / 1e6, 1e3 * best_us / calls,
               1e3 * best_ref / calls, mb / (best_us / calls), best_ref / best_us);
        tk_client_training_free(tc);
        tk_client_service_close(svc);
    }
    printf("cores online: %d (shared with other work)\n", tk_num_cpus());
    printf("(best of 5 alternating rounds of %d calls; floor = the wire codec + two blocking "
           "libcurl POSTs on reused connections; ratio = floor time / tinkerc time, 1.00 = no "
           "overhead)\n", calls);
    tk_arena_free(a);
    tk_buf_free(&g_out_proto);
    tk_buf_free(&g_out_json);
    return 0;
}
