/* bench_sample: decode speed of the engine's sampler, the machine's memory bandwidth, and the
 * speed-up of batching concurrent requests into one decode loop.
 *
 *   bench_sample bw [--mib N]                 read bandwidth (GB/s): a parallel sum over N MiB
 *   bench_sample decode SHAPE --batch B --prompt P --tokens N [--dtype f32|bf16] [--rank R]
 *       B sequences (one request, B samples) after a P-token prefill; times N decode steps
 *       [--temperature T] (default 1; 0 is greedy, as the PyTorch side)
 *   bench_sample batching SHAPE --requests R --prompt P --tokens N [--rank R] [--adapters A]
 *       R requests (one sample each; A distinct rank-R adapters used in turn, default one per
 *       request) run one after another, then together
 *   SHAPE: --layers L --hidden H --heads N --kv-heads K --head-dim D --intermediate I --vocab V
 *
 * Prints one JSON line. Weights come from a cheap generator (values do not matter for timing). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

static double bandwidth(size_t mib) {   /* GB/s, best of 7 passes */
    size_t n = mib * 1024 * 1024 / sizeof(float) / 32 * 32;
    float *a = malloc(n * sizeof(float));
    if (!a) return 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 1023);
    double best = 1e30, sink = 0;
    for (int it = 0; it < 8; it++) {
        double t0 = tk_now_s(), s = 0;
#pragma omp parallel reduction(+ : s)
        {
            /* 32 independent lanes: four vector accumulators, so the adds never wait on each other
             * and the loop is limited by loads alone */
            float acc[32] = {0};
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 32)
                for (int k = 0; k < 32; k++) acc[k] += a[i + (size_t)k];
            for (int k = 0; k < 32; k++) s += acc[k];
        }
        double dt = tk_now_s() - t0;
        sink += s;
        if (it && dt < best) best = dt;
    }
    free(a);
    return sink == -1 ? 0 : (double)n * sizeof(float) / best / 1e9;
}

typedef struct opts {
    tk_engine_config c;
    long batch, prompt, tokens, rank, requests, mib, adapters;
    double temperature;
    const char *dtype;
} opts;

static int parse(int argc, char **argv, opts *o) {
    tk_engine_config_default(&o->c, TK_ENGINE_ARCH_QWEN3);
    o->batch = 1; o->prompt = 16; o->tokens = 16; o->rank = 0; o->requests = 8; o->adapters = 0; o->mib = 1024; o->dtype = "f32"; o->temperature = 1.0;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i];
        long v = strtol(argv[i + 1], NULL, 10);
        if (!strcmp(k, "--layers")) o->c.num_layers = (int32_t)v;
        else if (!strcmp(k, "--hidden")) o->c.hidden_size = (int32_t)v;
        else if (!strcmp(k, "--heads")) o->c.num_heads = (int32_t)v;
        else if (!strcmp(k, "--kv-heads")) o->c.num_kv_heads = (int32_t)v;
        else if (!strcmp(k, "--head-dim")) o->c.head_dim = (int32_t)v;
        else if (!strcmp(k, "--intermediate")) o->c.intermediate_size = (int32_t)v;
        else if (!strcmp(k, "--vocab")) o->c.vocab_size = (int32_t)v;
        else if (!strcmp(k, "--batch")) o->batch = v;
        else if (!strcmp(k, "--prompt")) o->prompt = v;
        else if (!strcmp(k, "--tokens")) o->tokens = v;
        else if (!strcmp(k, "--rank")) o->rank = v;
        else if (!strcmp(k, "--requests")) o->requests = v;
        else if (!strcmp(k, "--adapters")) o->adapters = v;
        else if (!strcmp(k, "--mib")) o->mib = v;
        else if (!strcmp(k, "--dtype")) o->dtype = argv[i + 1];
        else if (!strcmp(k, "--temperature")) o->temperature = strtod(argv[i + 1], NULL);
        else { fprintf(stderr, "unknown option %s\n", k); return -1; }
    }
    o->c.max_position_embeddings = 4096;
    return 0;
}

static tk_engine_model *random_model(const tk_engine_config *c) {
    tk_err e = {0};
    tk_engine_model *m;
    if (tk_model_alloc(c, &m, &e)) { fprintf(stderr, "%s\n", e.msg); return NULL; }
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < m->n_entries; i++) {
        tk_weight_entry *w = &m->entries[i];
        for (size_t j = 0; j < w->numel; j++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            (*w->slot)[j] = w->ndim == 1 ? 1.0f : (float)((double)(s >> 40) / 16777216.0 - 0.5) * 0.07f;
        }
    }
    return m;
}

/* Bytes one batch-1 decode step must read: every projection and the unembedding (at the decode
 * dtype), plus the KV cache at the mean context length of the timed steps. */
static double step_bytes(const tk_engine_config *c, double wsize, double ctx) {
    double H = c->hidden_size, I = c->intermediate_size, qd = (double)c->num_heads * c->head_dim,
           kd = (double)c->num_kv_heads * c->head_dim;
    double w = c->num_layers * (H * qd + 2 * H * kd + qd * H + 3 * H * I) + (double)c->vocab_size * H;
    return w * wsize + c->num_layers * 2.0 * kd * ctx * 4.0;
}

static tk_engine_adapter *make_adapter(tk_engine_model *m, long rank, uint64_t seed) {
    tk_err e = {0};
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = (int32_t)rank;
    lc.seed = seed;
    tk_engine_adapter *a;
    if (tk_engine_adapter_new(m, &lc, &a, &e)) { fprintf(stderr, "%s\n", e.msg); return NULL; }
    for (size_t i = 0; i < a->n_params; i++) a->params[i] = 0.01f * (float)((i * 2654435761u) % 1000) / 1000.0f;
    return a;
}

static int32_t *make_prompt(long n, int32_t V) {
    int32_t *p = malloc(sizeof(int32_t) * (size_t)n);
    for (long i = 0; i < n; i++) p[i] = (int32_t)((i * 7919 + 13) % V);
    return p;
}

static int run_decode(opts *o) {
    tk_engine_model *m = random_model(&o->c);
    if (!m) return 1;
    tk_err e = {0};
    bool bf16 = !strcmp(o->dtype, "bf16");
    if (bf16 && tk_engine_model_set_decode_dtype(m, TK_ENGINE_BF16, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    tk_engine_adapter *a = o->rank ? make_adapter(m, o->rank, 1) : NULL;
    int32_t *prompt = make_prompt(o->prompt, o->c.vocab_size);
    tk_engine_sample_request r = {0};
    r.adapter = a;
    r.prompt = prompt;
    r.n_prompt = (size_t)o->prompt;
    r.num_samples = (int32_t)o->batch;
    tk_engine_sampling_params_default(&r.params);
    r.params.max_tokens = (int32_t)o->tokens + 2;
    r.params.temperature = o->temperature;
    r.params.has_seed = true;
    tk_engine_sampler *s;
    uint64_t id;
    if (tk_engine_sampler_new(m, &s, &e) || tk_engine_sampler_submit(s, &r, &id, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    double t0 = tk_now_s();
    if (tk_engine_sampler_step(s, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }   /* prefill + first step */
    /* the machine is shared: measure the bandwidth right before the timed steps, so the fraction
     * compares numbers taken under the same load */
    double t_prefill = tk_now_s() - t0, bw = bandwidth(512);
    double best = 1e30, total = 0;
    for (long i = 0; i < o->tokens; i++) {
        double t1 = tk_now_s();
        if (tk_engine_sampler_step(s, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        double dt = tk_now_s() - t1;
        total += dt;
        if (dt < best) best = dt;
    }
    double per = total / (double)o->tokens;
    double bytes = step_bytes(&o->c, bf16 ? 2.0 : 4.0, (double)o->prompt + 2 + (double)o->tokens / 2);
    printf("{\"batch\": %ld, \"temperature\": %g, \"dtype\": \"%s\", \"step_s\": %.6f, \"best_step_s\": %.6f, \"tokens_per_s\": %.2f, "
           "\"prefill_s\": %.3f, \"step_gb\": %.6f, \"gb_per_s\": %.2f, \"bw_gb_per_s\": %.2f, \"threads\": %d, "
           "\"blas\": \"%s\"}\n",
           o->batch, o->temperature, o->dtype, per, best, (double)o->batch / per, t_prefill, bytes / 1e9, bytes / per / 1e9, bw,
           tk_engine_num_threads(), tk_engine_blas_info());
    tk_engine_sampler_free(s);
    tk_engine_adapter_free(a);
    tk_engine_model_free(m);
    free(prompt);
    return 0;
}

static int run_batching(opts *o) {
    tk_engine_model *m = random_model(&o->c);
    if (!m) return 1;
    tk_err e = {0};
    size_t R = (size_t)o->requests;
    tk_engine_adapter **ad = calloc(R, sizeof *ad);
    tk_engine_sample_request *reqs = calloc(R, sizeof *reqs);
    tk_engine_sample_result *outs = calloc(R, sizeof *outs);
    int *rcs = calloc(R, sizeof *rcs);
    int32_t *prompt = make_prompt(o->prompt, o->c.vocab_size);
    size_t A = o->adapters > 0 && (size_t)o->adapters < R ? (size_t)o->adapters : R;
    for (size_t i = 0; i < R; i++) {
        ad[i] = o->rank && i < A ? make_adapter(m, o->rank, i + 1) : NULL;
        reqs[i].adapter = ad[i % A];
        reqs[i].prompt = prompt + i % 4;   /* different prompts */
        reqs[i].n_prompt = (size_t)o->prompt;
        reqs[i].num_samples = 1;
        tk_engine_sampling_params_default(&reqs[i].params);
        reqs[i].params.max_tokens = (int32_t)o->tokens;
        reqs[i].params.has_seed = true;
        reqs[i].params.seed = i;
    }
    double t0 = tk_now_s();
    for (size_t i = 0; i < R; i++) {
        if (tk_engine_sample(m, &reqs[i], &outs[i], &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        tk_engine_sample_result_free(&outs[i]);
    }
    double t_seq = tk_now_s() - t0;
    t0 = tk_now_s();
    if (tk_engine_sample_batch(m, reqs, R, outs, rcs, NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    double t_batch = tk_now_s() - t0;
    for (size_t i = 0; i < R; i++) tk_engine_sample_result_free(&outs[i]);
    printf("{\"requests\": %zu, \"adapters\": %zu, \"tokens_each\": %ld, \"sequential_s\": %.3f, \"batched_s\": %.3f, "
           "\"speedup\": %.2f, \"threads\": %d}\n",
           R, o->rank ? A : 0, o->tokens, t_seq, t_batch, t_seq / t_batch, tk_engine_num_threads());
    for (size_t i = 0; i < R; i++) tk_engine_adapter_free(ad[i]);
    tk_engine_model_free(m);
    free(ad); free(reqs); free(outs); free(rcs); free(prompt);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_sample bw|decode|batching [options]\n");
        return 2;
    }
    opts o;
    if (parse(argc, argv, &o)) return 2;
    if (!strcmp(argv[1], "bw")) {
        printf("{\"read_gb_per_s\": %.2f, \"mib\": %ld, \"threads\": %d}\n", bandwidth((size_t)o.mib), o.mib,
               omp_get_max_threads());
        return 0;
    }
    if (!strcmp(argv[1], "decode")) return run_decode(&o);
    if (!strcmp(argv[1], "batching")) return run_batching(&o);
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
