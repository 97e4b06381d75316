/* KV-cache decode: one token per sequence per step, all sequences in one pass over the weights.
 *
 * Every projection is one product over the B rows with the shared base weights (sgemv at B = 1,
 * where decode is bound by memory bandwidth; a few-row kernel up to 8 rows; sgemm above; or the
 * bf16 kernel when the model keeps bf16 decode weights), then each run of rows with the same adapter adds its LoRA term. Norms,
 * RoPE and SwiGLU are the training kernels on B rows; attention reads each sequence's cached
 * keys: the prompt's (shared by the samples of a request) then its own generated ones. */
#include "decode.h"
#include "safetensors.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* ---- bf16 decode weights -------------------------------------------------------------------- */

struct tk_decode_weights {
    uint16_t *buf;
    const uint16_t **w;       /* [num_layers * TK_MODS_PER_LAYER] */
    const uint16_t *lm_head;
};

void tk_decode_weights_free(struct tk_decode_weights *d) {
    if (!d) return;
    free(d->buf);
    free(d->w);
    free(d);
}

static const float *base_weight(const tk_engine_model *m, int l, int j) {
    const tk_layer_weights *L = &m->layers[l];
    const float *const w[TK_MODS_PER_LAYER] = {L->wq, L->wk, L->wv, L->wo, L->wg, L->wu, L->wd};
    return w[j];
}

/* [out, in] of module j */
static void dims(const tk_engine_config *c, int j, int *in, int *out) {
    int H = c->hidden_size, I = c->intermediate_size, qd = c->num_heads * c->head_dim, kd = c->num_kv_heads * c->head_dim;
    const int ins[TK_MODS_PER_LAYER] = {H, H, H, qd, H, H, I}, outs[TK_MODS_PER_LAYER] = {qd, kd, kd, H, I, I, H};
    *in = ins[j];
    *out = outs[j];
}

int tk_engine_model_set_decode_dtype(tk_engine_model *m, tk_engine_dtype dtype, tk_err *e) {
    if (dtype != TK_ENGINE_F32 && dtype != TK_ENGINE_BF16)
        return tk_err_set(e, TK_EINVAL, "decode dtype: only F32 and BF16 are supported");
    if (dtype == TK_ENGINE_F32) {
        tk_decode_weights_free(m->dec);
        m->dec = NULL;
        return 0;
    }
    if (m->dec) return 0;
    const tk_engine_config *c = &m->cfg;
    size_t total = (size_t)c->vocab_size * (size_t)c->hidden_size;
    for (int j = 0; j < TK_MODS_PER_LAYER; j++) {
        int in, out;
        dims(c, j, &in, &out);
        total += (size_t)c->num_layers * (size_t)in * (size_t)out;
    }
    struct tk_decode_weights *d = calloc(1, sizeof *d);
    if (d) d->buf = tk_malloc_array(total, sizeof(uint16_t));
    if (d) d->w = calloc((size_t)c->num_layers * TK_MODS_PER_LAYER, sizeof *d->w);
    if (!d || !d->buf || !d->w) {
        tk_decode_weights_free(d);
        return tk_err_set(e, TK_ENOMEM, "decode dtype bf16: cannot allocate %zu MiB", total * 2 >> 20);
    }
    size_t off = 0;
    for (int l = 0; l < c->num_layers; l++)
        for (int j = 0; j < TK_MODS_PER_LAYER; j++) {
            int in, out;
            dims(c, j, &in, &out);
            size_t n = (size_t)in * (size_t)out;
            const float *src = base_weight(m, l, j);
            uint16_t *dst = d->buf + off;
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) dst[i] = tk_f32_to_bf16(src[i]);
            d->w[(size_t)l * TK_MODS_PER_LAYER + j] = dst;
            off += n;
        }
    size_t nh = (size_t)c->vocab_size * (size_t)c->hidden_size;
    uint16_t *dst = d->buf + off;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < nh; i++) dst[i] = tk_f32_to_bf16(m->lm_head[i]);
    d->lm_head = dst;
    m->dec = d;
    return 0;
}

/* ---- workspace ------------------------------------------------------------------------------ */

void tk_decode_ws_free(tk_decode_ws *ws) {
    free(ws->buf);
    free(ws->cos_t);
    free(ws->sin_t);
    free(ws->kv);
    free(ws->pos);
    memset(ws, 0, sizeof *ws);
}

static int rope_reserve(tk_decode_ws *ws, const tk_engine_config *c, int32_t n) {
    if (n <= ws->rope_n) return 0;
    int32_t want = ws->rope_n ? ws->rope_n : 256;
    while (want < n) want = want > INT32_MAX / 2 ? n : want * 2;
    if (want > c->max_position_embeddings && n <= c->max_position_embeddings) want = c->max_position_embeddings;
    size_t half = (size_t)c->head_dim / 2;
    float *cs = tk_malloc_array((size_t)want * half, sizeof(float)), *sn = tk_malloc_array((size_t)want * half, sizeof(float));
    if (!cs || !sn) {
        free(cs);
        free(sn);
        return TK_ENOMEM;
    }
    tk_rope_params rp = {c->rope_theta, c->rope_llama3, c->rope_factor, c->rope_low_freq_factor,
                         c->rope_high_freq_factor, c->rope_original_max_position};
    tk_rope_tables(cs, sn, want, c->head_dim, &rp);   /* same values per position as the forward's */
    free(ws->cos_t);
    free(ws->sin_t);
    ws->cos_t = cs;
    ws->sin_t = sn;
    ws->rope_n = want;
    return 0;
}

/* ---- one linear over B rows: base product, then each adapter run's LoRA term ---------------- */

typedef struct step_ctx {
    const tk_engine_model *m;
    const tk_decode_seq *seqs;
    int B, r_max;
    float *lu;                /* [B, r_max] */
} step_ctx;

/* Rows at or below which the few-row kernel beats sgemm, which repacks the whole weight matrix on
 * every call (three passes over memory where one suffices): measured 3.5x faster at 4 rows, even
 * at 16 rows with K = 1024 and 25% slower at 16 rows with K = 3072 (bench/sample, 2 threads). */
#define FEW_ROWS 8

static void fp32_product(float *y, const float *x, const float *W, int B, int in, int out) {
    if (B == 1) tk_matvec(y, x, W, in, out);
    else if (B <= FEW_ROWS) tk_matmul_few(y, x, W, B, in, out);
    else tk_matmul_forward(y, x, W, B, in, out, 1.0f, false);
}

static void lora_runs(const step_ctx *c, int mod_index, const float *x, float *y, int in, int out) {
    for (int r0 = 0; r0 < c->B;) {
        const tk_engine_adapter *a = c->seqs[r0].adapter;
        int r1 = r0 + 1;
        while (r1 < c->B && c->seqs[r1].adapter == a) r1++;
        if (a && a->mods[mod_index].on) {
            const tk_lora_mod *mod = &a->mods[mod_index];
            int n = r1 - r0, r = a->cfg.rank;
            tk_matmul_forward(c->lu, x + (size_t)r0 * in, mod->A, n, in, r, 1.0f, false);
            tk_matmul_forward(y + (size_t)r0 * out, c->lu, mod->B, n, r, out, a->scale, true);
        }
        r0 = r1;
    }
}

static void linear(const step_ctx *c, int l, int j, const float *x, float *y) {
    int in, out;
    dims(&c->m->cfg, j, &in, &out);
    if (c->m->dec) tk_matmul_bf16(y, x, c->m->dec->w[(size_t)l * TK_MODS_PER_LAYER + j], c->B, in, out);
    else fp32_product(y, x, base_weight(c->m, l, j), c->B, in, out);
    lora_runs(c, l * TK_MODS_PER_LAYER + j, x, y, in, out);
}

void tk_head_logits(const tk_engine_model *m, const tk_engine_adapter *a, const float *x, int n, float *logits,
                    float *u) {
    const tk_engine_config *c = &m->cfg;
    tk_matmul_forward(logits, x, m->lm_head, n, c->hidden_size, c->vocab_size, 1.0f, false);
    const tk_lora_mod *hm = a ? &a->mods[(size_t)c->num_layers * TK_MODS_PER_LAYER] : NULL;
    if (hm && hm->on) {
        tk_matmul_forward(u, x, hm->A, n, c->hidden_size, a->cfg.rank, 1.0f, false);
        tk_matmul_forward(logits, u, hm->B, n, a->cfg.rank, c->vocab_size, a->scale, true);
    }
}

static void add_rows(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

/* ---- the step ------------------------------------------------------------------------------- */

int tk_decode_step(tk_engine_model *m, const tk_decode_seq *seqs, int B, float *logits, tk_decode_ws *ws,
                   tk_err *e) {
    const tk_engine_config *cfg = &m->cfg;
    const int H = cfg->hidden_size, I = cfg->intermediate_size, hd = cfg->head_dim, nh = cfg->num_heads,
              nkv = cfg->num_kv_heads, qd = nh * hd, kd = nkv * hd, V = cfg->vocab_size, L = cfg->num_layers;
    const bool qwen = cfg->arch == TK_ENGINE_ARCH_QWEN3;
    const float eps = (float)cfg->rms_norm_eps;
    int r_max = 1;
    int32_t max_len = 1, max_pos = 0;
    for (int b = 0; b < B; b++) {
        if (seqs[b].adapter && seqs[b].adapter->cfg.rank > r_max) r_max = seqs[b].adapter->cfg.rank;
        int32_t n = seqs[b].n_prompt + seqs[b].n_gen + 1;
        if (n > max_len) max_len = n;
        if (seqs[b].pos > max_pos) max_pos = seqs[b].pos;
    }
    if (rope_reserve(ws, cfg, max_pos + 1)) return tk_err_set(e, TK_ENOMEM, "decode: out of memory (RoPE tables)");
    if (B > ws->rows_cap) {
        tk_kv_rows *kv = realloc(ws->kv, sizeof *kv * (size_t)B);
        if (kv) ws->kv = kv;
        int32_t *pos = realloc(ws->pos, sizeof *pos * (size_t)B);
        if (pos) ws->pos = pos;
        if (!kv || !pos) return tk_err_set(e, TK_ENOMEM, "decode: out of memory");
        ws->rows_cap = B;
    }
    const size_t Bz = (size_t)B;
    size_t need = Bz * (3 * (size_t)H + 2 * (size_t)qd + 2 * (size_t)kd + 3 * (size_t)I + (size_t)r_max + (size_t)nh + nkv + 1)
                  + (size_t)omp_get_max_threads() * tk_attention_decode_scratch_floats(max_len) + 64;
    if (need > ws->cap) {
        float *buf = tk_malloc_array(need, sizeof(float));
        if (!buf) return tk_err_set(e, TK_ENOMEM, "decode: cannot allocate %zu KiB of scratch", need * 4 >> 10);
        free(ws->buf);
        ws->buf = buf;
        ws->cap = need;
    }
    float *p = ws->buf;
    float *x = p; p += Bz * H;
    float *n1 = p; p += Bz * H;
    float *xm = p; p += Bz * H;
    float *q = p; p += Bz * qd;
    float *att = p; p += Bz * qd;
    float *k = p; p += Bz * kd;
    float *v = p; p += Bz * kd;
    float *g = p; p += Bz * I;
    float *u = p; p += Bz * I;
    float *h = p; p += Bz * I;
    float *lu = p; p += Bz * (size_t)r_max;
    float *rstd = p; p += Bz * (size_t)(nh + nkv + 1);
    float *scratch = p;
    step_ctx c = {m, seqs, B, r_max, lu};
    for (int b = 0; b < B; b++) {
        ws->pos[b] = seqs[b].pos;
        memcpy(x + (size_t)b * H, m->embed + (size_t)seqs[b].token * H, sizeof(float) * H);
    }
    for (int l = 0; l < L; l++) {
        const tk_layer_weights *W = &m->layers[l];
        tk_rmsnorm_forward(n1, rstd, x, W->ln1, Bz, H, eps);
        linear(&c, l, TK_MOD_Q, n1, q);
        linear(&c, l, TK_MOD_K, n1, k);
        linear(&c, l, TK_MOD_V, n1, v);
        if (qwen) {   /* in place: the kernel reads each element before writing it */
            tk_rmsnorm_forward(q, rstd, q, W->q_norm, Bz * nh, hd, eps);
            tk_rmsnorm_forward(k, rstd, k, W->k_norm, Bz * nkv, hd, eps);
        }
        tk_rope_forward(q, Bz, nh, hd, ws->pos, ws->cos_t, ws->sin_t);
        tk_rope_forward(k, Bz, nkv, hd, ws->pos, ws->cos_t, ws->sin_t);
        for (int b = 0; b < B; b++) {
            const tk_decode_seq *s = &seqs[b];
            float *gk = s->gen_kv + (size_t)l * 2 * s->gen_cap * kd, *gv = gk + (size_t)s->gen_cap * kd;
            memcpy(gk + (size_t)s->n_gen * kd, k + (size_t)b * kd, sizeof(float) * kd);
            memcpy(gv + (size_t)s->n_gen * kd, v + (size_t)b * kd, sizeof(float) * kd);
            const float *pk = s->prompt_kv + (size_t)l * 2 * s->n_prompt * kd;
            ws->kv[b] = (tk_kv_rows){pk, pk + (size_t)s->n_prompt * kd, s->n_prompt, gk, gv, s->n_gen + 1};
        }
        tk_attention_decode(att, q, ws->kv, B, nh, nkv, hd, max_len, scratch);
        linear(&c, l, TK_MOD_O, att, xm);
        add_rows(xm, x, Bz * H);
        tk_rmsnorm_forward(n1, rstd, xm, W->ln2, Bz, H, eps);
        linear(&c, l, TK_MOD_GATE, n1, g);
        linear(&c, l, TK_MOD_UP, n1, u);
        tk_swiglu_forward(h, g, u, Bz * I);
        linear(&c, l, TK_MOD_DOWN, h, x);
        add_rows(x, xm, Bz * H);
    }
    tk_rmsnorm_forward(n1, rstd, x, m->final_norm, Bz, H, eps);
    /* unembedding: base product for all rows, then each adapter run's lm_head LoRA */
    if (m->dec) tk_matmul_bf16(logits, n1, m->dec->lm_head, B, H, V);
    else fp32_product(logits, n1, m->lm_head, B, H, V);
    lora_runs(&c, L * TK_MODS_PER_LAYER, n1, logits, H, V);
    return 0;
}
