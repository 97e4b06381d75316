/* Client transport overhead: tinkerc's call + wait (I/O thread, futures, retry bookkeeping)
 * against plain blocking libcurl (one reused easy handle), both talking to the same lean
 * in-process loopback server (it reads and drops the request, and answers from static memory, so
 * the clients' own costs dominate). Two workloads: many small calls (per-call cost) and 16 MiB
 * bodies each way (throughput). Prints both sides and the ratio. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lean_server.h"
#include "tinkerc/client.h"

/* ---- a lean HTTP/1.1 server: thread per connection, Content-Length bodies only ---- */

static char *g_big_answer;
static size_t g_big_len;

static void *lean_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {   /* the head */
            if (len == cap) goto out;
            ssize_t r = recv(fd, buf + len, cap - len, 0);
            if (r <= 0) goto out;
            len += (size_t)r;
        }
        size_t head = (size_t)(end + 4 - buf);
        size_t body = 0;
        for (char *p = buf; p < end; p++)
            if ((p == buf || p[-1] == '\n') && !strncasecmp(p, "Content-Length:", 15))
                body = strtoull(p + 15, NULL, 10);
        bool big = !strncmp(buf, "POST /big", 9);
        size_t have = len - head;   /* body bytes already read */
        if (have >= body) {         /* keep whatever follows the body */
            memmove(buf, buf + head + body, have - body);
            len = have - body;
        } else {                    /* read the rest of the body and drop it */
            size_t left = body - have;
            while (left) {
                ssize_t r = recv(fd, buf, left < cap ? left : cap, 0);
                if (r <= 0) goto out;
                left -= (size_t)r;
            }
            len = 0;
        }
        const char *payload = big ? g_big_answer : "{}";
        size_t plen = big ? g_big_len : 2;
        char h[160];
        int hl = snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
                          "\r\nContent-Length: %zu\r\n\r\n", plen);
        if (!send_all(fd, h, (size_t)hl) || !send_all(fd, payload, plen)) goto out;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

/* The reference keeps the answer too, as any client must. */
static size_t sink(char *p, size_t s, size_t n, void *ud) {
    return tk_buf_append(ud, p, s * n) ? 0 : s * n;
}

/* Seconds for `calls` POSTs of body[0..len) with plain libcurl. */
static double run_libcurl(const char *url, const char *body, size_t len, int calls) {
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    hd = curl_slist_append(hd, "Expect:");
    /* the same header load as tinkerc's requests, so the server does the same work */
    const char *same[] = {"X-API-Key: tml-bench", "User-Agent: tinkerc/0.1.0 (C; Linux)",
                          "X-Stainless-Lang: c", "X-Stainless-Package-Version: 0.1.0",
                          "X-Stainless-OS: Linux", "X-Stainless-Arch: x64",
                          "X-Stainless-Runtime: tinkerc", "X-Stainless-Runtime-Version: 0.1.0",
                          "Accept: application/octet-stream",
                          "X-Idempotency-Key: tinkerc-retry-00000000-0000-4000-8000-000000000000",
                          "x-stainless-retry-count: 0", "x-stainless-read-timeout: 60", NULL};
    for (int i = 0; same[i]; i++) hd = curl_slist_append(hd, same[i]);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    tk_buf got = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024L);
    double t0 = tk_now_s();
    for (int i = 0; i < calls; i++) {
        tk_buf_free(&got);
        if (curl_easy_perform(h) != CURLE_OK) {
            fprintf(stderr, "libcurl call failed\n");
            exit(1);
        }
    }
    double t = tk_now_s() - t0;
    tk_buf_free(&got);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return t;
}

/* give: hand over a body the caller already holds (as the typed SDK does with what it encoded)
 * instead of letting the client copy it; the copies are made before the clock starts. */
static double run_tinkerc(tk_client *c, const char *body, size_t len, int calls, bool give) {
    tk_client_call_spec s = {.path = len > 1000 ? "/big" : "/small", .body = body, .body_len = len,
                             .content_type = "application/octet-stream",
                             .accept = "application/octet-stream", .give_body = give};
    char **bodies = NULL;
    if (give) {
        bodies = calloc((size_t)calls, sizeof *bodies);
        for (int i = 0; i < calls; i++) {
            bodies[i] = malloc(len);
            memcpy(bodies[i], body, len);
        }
    }
    double t0 = tk_now_s();
    for (int i = 0; i < calls; i++) {
        if (give) s.body = bodies[i];
        tk_client_future *f;
        tk_err e = {0};
        if (tk_client_call(c, &s, &f, &e) || tk_client_future_wait(f, -1, &e)) {
            fprintf(stderr, "tinkerc call failed: %s\n", e.msg);
            exit(1);
        }
        tk_client_future_release(f);
    }
    double t = tk_now_s() - t0;
    free(bodies);
    return t;
}

int main(int argc, char **argv) {
    int small_calls = argc > 1 ? atoi(argv[1]) : 2000;
    int big_calls = argc > 2 ? atoi(argv[2]) : 8;
    size_t big = (size_t)16 << 20;
    tk_log_set_level(TK_LOG_WARN);
    tk_err e = {0};
    g_big_len = big;
    g_big_answer = malloc(big);
    for (size_t i = 0; i < big; i++) g_big_answer[i] = (char)(i * 7);
    int port = lean_start(lean_conn);
    if (port <= 0) {
        fprintf(stderr, "cannot start the loopback server\n");
        return 1;
    }
    char base[64], url_small[96], url_big[96];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(url_small, sizeof url_small, "%s/small", base);
    snprintf(url_big, sizeof url_big, "%s/big", base);
    tk_client_options o;
    tk_client_options_init(&o);
    o.base_url = base;
    o.api_key = "tml-bench";
    tk_client *c;
    if (tk_client_open(&o, &c, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const char *small = "{\"model_id\":\"m\",\"seq_id\":1}";
    char *payload = malloc(big);
    for (size_t i = 0; i < big; i++) payload[i] = (char)(i * 131);

    /* warm up both (connections, allocator) */
    run_libcurl(url_small, small, strlen(small), 50);
    run_tinkerc(c, small, strlen(small), 50, false);

    /* alternate the two sides and keep each one's best round: the machine is shared */
    double ts_ref = 1e30, ts_us = 1e30, tb_ref = 1e30, tb_us = 1e30, tb_give = 1e30;
    /* BENCH_ONLY=tinkerc|libcurl runs one side (for profiling) */
    const char *only = getenv("BENCH_ONLY");
    bool ours = !only || !strcmp(only, "tinkerc"), ref = !only || !strcmp(only, "libcurl");
    for (int round = 0; round < 5; round++) {
        double t;
        if (ref && (t = run_libcurl(url_small, small, strlen(small), small_calls)) < ts_ref) ts_ref = t;
        if (ours && (t = run_tinkerc(c, small, strlen(small), small_calls, false)) < ts_us) ts_us = t;
        if (ref && (t = run_libcurl(url_big, payload, big, big_calls)) < tb_ref) tb_ref = t;
        if (ours && (t = run_tinkerc(c, payload, big, big_calls, false)) < tb_us) tb_us = t;
        if (ours && (t = run_tinkerc(c, payload, big, big_calls, true)) < tb_give) tb_give = t;
    }
    double mb = 2.0 * (double)big * big_calls / 1e6;   /* sent + received */
    printf("%-34s %14s %14s %8s\n", "workload", "tinkerc", "libcurl easy", "ratio");
    printf("%-34s %11.1f us %11.1f us %8.2f\n", "small POST, sequential (per call)",
           1e6 * ts_us / small_calls, 1e6 * ts_ref / small_calls, ts_us / ts_ref);
    printf("%-34s %9.0f MB/s %9.0f MB/s %8.2f\n", "16 MiB up + down, body copied",
           mb / tb_us, mb / tb_ref, tb_ref / tb_us);
    printf("%-34s %9.0f MB/s %9.0f MB/s %8.2f\n", "16 MiB up + down, give_body",
           mb / tb_give, mb / tb_ref, tb_ref / tb_give);
    printf("cores online: %d (shared with other work; see the load average)\n", tk_num_cpus());
    printf("(best of 5 alternating rounds of %d small and %d large calls; the same lean loopback "
           "server for both; per call: ratio = tinkerc / libcurl, lower is better; "
           "MB/s: ratio = tinkerc / libcurl, higher is better)\n", small_calls, big_calls);
    free(payload);
    tk_client_close(c);
    free(g_big_answer);   /* the server threads are left to the process exit */
    return 0;
}
