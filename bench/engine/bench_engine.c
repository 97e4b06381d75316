/* bench_engine: time forward_backward + optim_step of a LoRA adapter on a random model, measure
 * the machine's OpenBLAS sgemm peak, or report peak memory for one long datum.
 *
 *   bench_engine peak
 *   bench_engine step --arch qwen3 --layers L --hidden H --heads N --kv-heads K --head-dim D
 *                     --intermediate I --vocab V --tokens T --rank R [--iters n] [--warmup n]
 *   bench_engine mem  (same options): one forward_backward, then VmHWM from /proc/self/status
 *
 * Prints one JSON line. Weights are filled with a cheap generator (their values do not matter
 * for timing; tk_engine_model_random's Box-Muller would dominate the run on the 0.6B shape). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

static double sgemm_peak(void) {
    const int M = 1024, N = 3072, K = 1024;
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K), *c = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) a[i] = (float)(i % 7) * 0.1f;
    for (int i = 0; i < N * K; i++) b[i] = (float)(i % 5) * 0.1f;
    double best = 1e30;
    for (int it = 0; it < 8; it++) {
        double t0 = tk_now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double dt = tk_now_s() - t0;
        if (it && dt < best) best = dt;
    }
    free(a); free(b); free(c);
    return 2.0 * M * N * K / best / 1e9;
}

static long vm_hwm_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) v = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return v;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_engine peak|step|mem [options]\n");
        return 2;
    }
    const char *mode = argv[1];
    if (!strcmp(mode, "peak")) {
        printf("{\"sgemm_gflops\": %.1f, \"threads\": %d, \"blas\": \"%s\"}\n", sgemm_peak(), tk_engine_num_threads(),
               tk_engine_blas_info());
        return 0;
    }
    tk_engine_config c;
    tk_engine_config_default(&c, TK_ENGINE_ARCH_QWEN3);
    long tokens = 512, rank = 32, iters = 3, warmup = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i];
        long v = strtol(argv[i + 1], NULL, 10);
        if (!strcmp(k, "--arch")) c.arch = tk_engine_arch_from_name(argv[i + 1]);
        else if (!strcmp(k, "--layers")) c.num_layers = (int32_t)v;
        else if (!strcmp(k, "--hidden")) c.hidden_size = (int32_t)v;
        else if (!strcmp(k, "--heads")) c.num_heads = (int32_t)v;
        else if (!strcmp(k, "--kv-heads")) c.num_kv_heads = (int32_t)v;
        else if (!strcmp(k, "--head-dim")) c.head_dim = (int32_t)v;
        else if (!strcmp(k, "--intermediate")) c.intermediate_size = (int32_t)v;
        else if (!strcmp(k, "--vocab")) c.vocab_size = (int32_t)v;
        else if (!strcmp(k, "--tokens")) tokens = v;
        else if (!strcmp(k, "--rank")) rank = v;
        else if (!strcmp(k, "--iters")) iters = v;
        else if (!strcmp(k, "--warmup")) warmup = v;
        else { fprintf(stderr, "unknown option %s\n", k); return 2; }
    }
    c.max_position_embeddings = (int32_t)(tokens > 4096 ? tokens : 4096);
    tk_err e = {0};
    tk_engine_model *m;
    if (tk_model_alloc(&c, &m, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < m->n_entries; i++) {
        tk_weight_entry *w = &m->entries[i];
        for (size_t j = 0; j < w->numel; j++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            (*w->slot)[j] = w->ndim == 1 ? 1.0f : (float)((double)(s >> 40) / 16777216.0 - 0.5) * 0.07f;
        }
    }
    tk_engine_lora_config lc;
    tk_engine_lora_config_default(&lc);
    lc.rank = (int32_t)rank;
    tk_engine_adapter *a;
    if (tk_engine_adapter_new(m, &lc, &a, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)tokens), *tgt = malloc(sizeof(int32_t) * (size_t)tokens);
    float *w = malloc(sizeof(float) * (size_t)tokens), *lp = malloc(sizeof(float) * (size_t)tokens);
    for (long i = 0; i < tokens; i++) {
        tok[i] = (int32_t)((i * 7919) % c.vocab_size);
        tgt[i] = (int32_t)((i * 104729 + 1) % c.vocab_size);
        w[i] = 1.0f;
    }
    tk_engine_array in[2] = {{"target_tokens", TK_ENGINE_I32, tgt, (size_t)tokens}, {"weights", TK_ENGINE_F32, w, (size_t)tokens}};
    tk_engine_datum d = {TK_ENGINE_I32, tok, (size_t)tokens, in, 2};
    tk_engine_request req = {"cross_entropy", NULL, 0, &d, 1};
    tk_engine_output out = {lp, NULL, 0};
    tk_engine_adam p;
    tk_engine_adam_default(&p);
    if (!strcmp(mode, "mem")) {
        long before = vm_hwm_kib();
        double t0 = tk_now_s();
        if (tk_engine_forward_backward(a, &req, &out, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        double dt = tk_now_s() - t0;
        printf("{\"tokens\": %ld, \"seconds\": %.2f, \"peak_rss_mib\": %.0f, \"rss_after_load_mib\": %.0f, "
               "\"weights_mib\": %.0f, \"workspace_mib\": %.0f}\n", tokens, dt, vm_hwm_kib() / 1024.0, before / 1024.0,
               m->n_params * 4.0 / 1048576.0, tk_engine_model_workspace_bytes(m) / 1048576.0);
        return 0;
    }
    double best = 1e30, loss = 0;
    for (long it = 0; it < warmup + iters; it++) {
        double t0 = tk_now_s();
        if (tk_engine_forward_backward(a, &req, &out, &e) || tk_engine_optim_step(a, &p, NULL, &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        double dt = tk_now_s() - t0;
        if (it >= warmup && dt < best) best = dt;
        loss = out.loss_sum;
    }
    /* model FLOPs of the step: 2 per weight per token forward, 2 more for the input gradients,
     * plus causal attention (QKᵀ and PV: 2·T²·qd per layer forward, twice that backward) */
    double n_lin = 0;
    for (size_t i = 0; i < m->n_entries; i++)
        if (m->entries[i].ndim == 2 && strcmp(m->entries[i].name, "model.embed_tokens.weight")) n_lin += (double)m->entries[i].numel;
    if (c.tie_word_embeddings) n_lin += (double)c.vocab_size * c.hidden_size;
    double T = (double)tokens, qd = (double)c.num_heads * c.head_dim;
    double flops = 4.0 * n_lin * T + 6.0 * T * T * qd * c.num_layers;
    printf("{\"seconds\": %.4f, \"tokens_per_s\": %.1f, \"gflop\": %.2f, \"gflops\": %.1f, \"loss\": %.4f, "
           "\"threads\": %d, \"blas\": \"%s\", \"lora_params\": %zu}\n",
           best, T / best, flops / 1e9, flops / best / 1e9, loss, tk_engine_num_threads(), tk_engine_blas_info(),
           tk_engine_adapter_num_params(a));
    tk_engine_adapter_free(a);
    tk_engine_model_free(m);
    free(tok); free(tgt); free(w); free(lp);
    return 0;
}
