/* tinkerc's side of bench/tokenizer: single-thread encode throughput over the corpus for each
 * tokenizer, a digest of all ids (to check they equal the reference's), and load time / peak
 * memory. Prints one JSON object per line; run.sh puts it next to the reference numbers.
 *
 *   bench_tokenizer encode CORPUS NAME TOKENIZER_DIR [REPEATS]
 *   bench_tokenizer encode-tiktoken CORPUS NAME RANKS PATTERN [REPEATS]   (o200k specials built in)
 *   bench_tokenizer load TOKENIZER_DIR [REPEATS]      (run in its own process for peak memory) */
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>

#include "tinkerc/tokenizer.h"

typedef struct doc {
    const char *p;
    uint32_t n;
} doc;

/* TK_BENCH_SKIP_LONG=1 leaves out the long repetitive documents (repeat-*, long-*): tiktoken's
 * merge is quadratic in the piece length, and they would dominate its time. */
static bool skip_doc(const char *name, uint32_t nl) {
    const char *v = getenv("TK_BENCH_SKIP_LONG");
    if (!v || strcmp(v, "1")) return false;
    return (nl >= 7 && !memcmp(name, "repeat-", 7)) || (nl >= 5 && !memcmp(name, "long-", 5));
}

static int read_corpus(const char *path, tk_buf *raw, doc **docs, size_t *n) {
    tk_err e = {0};
    if (tk_file_read(path, raw, 0, &e)) {
        fprintf(stderr, "bench: %s\n", e.msg);
        return -1;
    }
    size_t o = 10, cap = 0;
    *n = 0;
    *docs = NULL;
    while (o + 8 <= raw->len) {
        uint32_t nl, l;
        memcpy(&nl, raw->data + o, 4);
        memcpy(&l, raw->data + o + 4 + nl, 4);
        bool skip = skip_doc(raw->data + o + 4, nl);
        o += 8 + nl;
        if (skip) {
            o += l;
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            *docs = realloc(*docs, cap * sizeof **docs);
        }
        (*docs)[(*n)++] = (doc){raw->data + o, l};
        o += l;
    }
    return 0;
}

/* The same two-lane digest as the reference script, over all ids of all documents in order. */
typedef struct digest {
    uint32_t h1, h2;
    uint64_t n;
} digest;
static void digest_add(digest *d, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)ids[i];
        d->h1 = (d->h1 ^ x) * 0x9e3779b1u;
        d->h1 ^= d->h1 >> 16;
        d->h2 = (d->h2 + x + 0x7f4a7c15u) * 0x85ebca77u;
        d->h2 ^= d->h2 >> 13;
    }
    d->n += n;
}

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + (double)r.ru_stime.tv_sec + r.ru_stime.tv_usec * 1e-6;
}

static int encode_bench(const char *corpus, const char *name, tk_tokenizer *t, int repeats) {
    tk_buf raw = {0};
    doc *docs;
    size_t n;
    if (read_corpus(corpus, &raw, &docs, &n)) return 1;
    tk_vec_i32 ids = {0};
    tk_err e = {0};
    double best = 1e30, best_cpu = 1e30;
    size_t bytes = 0;
    digest d = {0x811c9dc5u, 0x5bd1e995u, 0};
    for (int r = 0; r < repeats; r++) {
        bytes = 0;
        digest dr = {0x811c9dc5u, 0x5bd1e995u, 0};
        double t0 = tk_now_s(), c0 = cpu_s();
        for (size_t k = 0; k < n; k++) {
            ids.len = 0;
            if (tk_tokenizer_encode(t, docs[k].p, docs[k].n, (tk_encode_opts){false, false}, &ids, &e)) {
                fprintf(stderr, "bench: %s\n", e.msg);
                return 1;
            }
            digest_add(&dr, ids.data, ids.len);
            bytes += docs[k].n;
        }
        double dt = tk_now_s() - t0, dc = cpu_s() - c0;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
        d = dr;
    }
    printf("{\"side\":\"tinkerc\",\"name\":\"%s\",\"bytes\":%zu,\"docs\":%zu,\"tokens\":%llu,\"seconds\":%.4f,"
           "\"cpu_seconds\":%.4f,\"mb_per_s\":%.2f,\"digest\":\"%08x%08x\"}\n",
           name, bytes, n, (unsigned long long)d.n, best, best_cpu, bytes / best / 1e6, d.h1, d.h2);
    tk_vec_free(&ids);
    free(docs);
    tk_buf_free(&raw);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "encode")) {
        tk_tokenizer *t;
        tk_err e = {0};
        if (tk_tokenizer_load(argv[4], &t, &e)) {
            fprintf(stderr, "bench: %s\n", e.msg);
            return 1;
        }
        int rc = encode_bench(argv[2], argv[3], t, argc > 5 ? atoi(argv[5]) : 3);
        tk_tokenizer_free(t);
        return rc;
    }
    if (argc >= 6 && !strcmp(argv[1], "encode-tiktoken")) {
        const char *names[] = {"<|endoftext|>", "<|endofprompt|>"};
        const int32_t ids[] = {199999, 200018};
        tk_tokenizer *t;
        tk_err e = {0};
        if (tk_tokenizer_load_tiktoken(argv[4], argv[5], names, ids, 2, &t, &e)) {
            fprintf(stderr, "bench: %s\n", e.msg);
            return 1;
        }
        int rc = encode_bench(argv[2], argv[3], t, argc > 6 ? atoi(argv[6]) : 3);
        tk_tokenizer_free(t);
        return rc;
    }
    if (argc >= 3 && !strcmp(argv[1], "load")) {
        int repeats = argc > 3 ? atoi(argv[3]) : 1;
        double best = 1e30, best_cpu = 1e30;
        for (int r = 0; r < repeats; r++) {
            tk_tokenizer *t;
            tk_err e = {0};
            double t0 = tk_now_s(), c0 = cpu_s();
            if (tk_tokenizer_load(argv[2], &t, &e)) {
                fprintf(stderr, "bench: %s\n", e.msg);
                return 1;
            }
            double dt = tk_now_s() - t0, dc = cpu_s() - c0;
            if (dt < best) best = dt;
            if (dc < best_cpu) best_cpu = dc;
            tk_tokenizer_free(t);
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"side\":\"tinkerc\",\"load\":\"%s\",\"ms\":%.1f,\"cpu_ms\":%.1f,\"peak_rss_mb\":%.1f}\n", argv[2],
               best * 1e3, best_cpu * 1e3, ru.ru_maxrss / 1024.0);
        return 0;
    }
    fprintf(stderr, "usage: bench_tokenizer encode CORPUS NAME DIR [REPEATS] | encode-tiktoken CORPUS NAME RANKS "
                    "PATTERN [REPEATS] | load DIR [REPEATS]\n");
    return 2;
}
