/* bench_wire: encode + decode of a forward_backward request of 128 datums x 2048 tokens
 * (model_input tokens, target_tokens int64, weights float32: 0/1, 0 then 1/len as the cookbook's
 * reduction="mean" makes them, or uniformly random) with tinkerc's JSON codec, its
 * protobuf codec, and — to show why the wire layer has its own reader — jansson's DOM on the
 * same JSON text. bench_wire.py runs this next to Python's json module and prints the ratios.
 *
 *   bench_wire [--weights binary|mean|random] [--reps N] [--json-out FILE]
 *
 * Output: one "name bytes best_s median_s" line per measurement: the best and the median of N
 * repetitions, in thread CPU time. Decoding includes creating and freeing the arena, encoding
 * includes allocating the output buffer. */
#include "tinkerc/wire.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define N_DATUMS 128
#define N_TOKENS 2048

/* CPU time of this thread: on a machine shared with other engineers it counts our work, not the
 * time spent waiting for a core (bench_wire.py measures Python the same way). */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, size_t bytes, double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    printf("%s %zu %.6f %.6f\n", name, bytes, t[0], t[n / 2]);
    fflush(stdout);
}

static void die(const char *what, const tk_err *e) {
    fprintf(stderr, "bench_wire: %s: %s\n", what, e->msg);
    exit(1);
}

int main(int argc, char **argv) {
    const char *weights = "binary", *json_out = NULL;
    int reps = 15;
    bool jansson = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--weights") && i + 1 < argc) weights = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json-out") && i + 1 < argc) json_out = argv[++i];
        else if (!strcmp(argv[i], "--no-jansson")) jansson = false;
        else { fprintf(stderr, "usage: bench_wire [--weights binary|mean|random] [--reps N] [--json-out FILE] [--no-jansson]\n"); return 2; }
    }
    if (reps < 1 || reps > 1000) reps = 15;
    bool mean = !strcmp(weights, "mean"), random = !strcmp(weights, "random");

    /* the payload: an SFT batch; prompt tokens weigh 0, completion tokens 1 (or 1/len) */
    tk_rng rng;
    tk_rng_seed(&rng, 42);
    tk_arena *src = tk_arena_new(0);
    tk_wire_datum *data = tk_arena_zalloc(src, N_DATUMS * sizeof *data);
    for (int d = 0; d < N_DATUMS; d++) {
        int32_t *toks = tk_arena_alloc(src, (N_TOKENS + 1) * sizeof *toks);
        for (int i = 0; i <= N_TOKENS; i++) toks[i] = (int32_t)tk_rng_below(&rng, 151936);
        int prompt = 100 + (int)tk_rng_below(&rng, 900);
        float *w = tk_arena_alloc(src, N_TOKENS * sizeof *w);
        for (int i = 0; i < N_TOKENS; i++)
            w[i] = random ? (float)tk_rng_f64(&rng) : i < prompt ? 0.0f : mean ? 1.0f / (float)(N_TOKENS - prompt) : 1.0f;
        int64_t *tgt = tk_arena_alloc(src, N_TOKENS * sizeof *tgt);
        for (int i = 0; i < N_TOKENS; i++) tgt[i] = toks[i + 1];
        tk_wire_chunk *c = tk_arena_zalloc(src, sizeof *c);
        c->type = TK_WIRE_CHUNK_ENCODED_TEXT;
        c->tokens = toks;
        c->n_tokens = N_TOKENS;
        tk_wire_named_tensor *in = tk_arena_zalloc(src, 2 * sizeof *in);
        in[0].name = "target_tokens";
        in[0].tensor = tk_wire_tensor_view_i64(tgt, N_TOKENS);
        in[1].name = "weights";
        in[1].tensor = tk_wire_tensor_view_f32(w, N_TOKENS);
        data[d].model_input.chunks = c;
        data[d].model_input.n_chunks = 1;
        data[d].loss_fn_inputs.items = in;
        data[d].loss_fn_inputs.n = 2;
    }
    tk_wire_forward_backward_request req;
    tk_wire_init(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &req);
    req.model_id = "bench:train:0";
    req.has_seq_id = true;
    req.seq_id = 1;
    req.input.loss_fn = TK_WIRE_LOSS_CROSS_ENTROPY;
    req.input.data = data;
    req.input.n_data = N_DATUMS;

    tk_err e = {0};
    double *t = calloc((size_t)reps, sizeof *t);
    tk_buf js = {0}, pb = {0};
    if (tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &req, &js, &e)) die("json encode", &e);
    if (tk_wire_proto_encode_forward_backward_request(&req, &pb, &e)) die("proto encode", &e);
    if (json_out) {
        FILE *f = fopen(json_out, "wb");
        if (!f || fwrite(js.data, 1, js.len, f) != js.len) { fprintf(stderr, "bench_wire: cannot write %s\n", json_out); return 1; }
        fclose(f);
    }

    for (int r = 0; r < reps; r++) {
        tk_buf b = {0};
        double t0 = cpu_s();
        if (tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &req, &b, &e)) die("json encode", &e);
        t[r] = cpu_s() - t0;
        tk_buf_free(&b);
    }
    report("tinkerc_json_encode", js.len, t, reps);
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_s();
        tk_arena *a = tk_arena_new(1 << 20);
        tk_wire_forward_backward_request back;
        if (tk_wire_json_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, js.data, js.len, a, &back, &e)) die("json decode", &e);
        tk_arena_free(a);
        t[r] = cpu_s() - t0;
    }
    report("tinkerc_json_decode", js.len, t, reps);
    for (int r = 0; r < reps; r++) {
        tk_buf b = {0};
        double t0 = cpu_s();
        if (tk_wire_proto_encode_forward_backward_request(&req, &b, &e)) die("proto encode", &e);
        t[r] = cpu_s() - t0;
        tk_buf_free(&b);
    }
    report("tinkerc_proto_encode", pb.len, t, reps);
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_s();
        tk_arena *a = tk_arena_new(1 << 20);
        tk_wire_forward_backward_request back;
        if (tk_wire_proto_decode_forward_backward_request(pb.data, pb.len, a, &back, &e)) die("proto decode", &e);
        tk_arena_free(a);
        t[r] = cpu_s() - t0;
    }
    report("tinkerc_proto_decode", pb.len, t, reps);
    /* zstd level 1 on the protobuf body, as the SDK would send with proto_compress_fwdbwd */
    tk_buf z = {0};
    if (tk_wire_zstd_compress(pb.data, pb.len, 1, &z, &e)) die("zstd", &e);
    for (int r = 0; r < reps; r++) {
        tk_buf b = {0};
        double t0 = cpu_s();
        if (tk_wire_zstd_decompress(z.data, z.len, TK_WIRE_MAX_DECOMPRESSED, &b, &e)) die("zstd", &e);
        t[r] = cpu_s() - t0;
        tk_buf_free(&b);
    }
    report("tinkerc_zstd_decompress", pb.len, t, reps);

    /* jansson DOM: parse the same text, dump it back */
    int jreps = !jansson ? 0 : reps < 5 ? reps : 5;
    json_t *doc = NULL;
    for (int r = 0; r < jreps; r++) {
        json_error_t je;
        double t0 = cpu_s();
        json_t *v = json_loadb(js.data, js.len, 0, &je);
        t[r] = cpu_s() - t0;
        if (!v) { fprintf(stderr, "bench_wire: jansson: %s\n", je.text); return 1; }
        if (doc) json_decref(doc);
        doc = v;
    }
    if (jreps) report("jansson_decode", js.len, t, jreps);
    for (int r = 0; r < jreps; r++) {
        double t0 = cpu_s();
        char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        t[r] = cpu_s() - t0;
        free(s);
    }
    if (jreps) report("jansson_encode", js.len, t, jreps);
    if (doc) json_decref(doc);

    printf("payload datums=%d tokens=%d weights=%s json_bytes=%zu proto_bytes=%zu zstd_bytes=%zu\n", N_DATUMS, N_TOKENS,
           weights, js.len, pb.len, z.len);
    tk_buf_free(&js);
    tk_buf_free(&pb);
    tk_buf_free(&z);
    free(t);
    tk_arena_free(src);
    return 0;
}
