/* The model pass: embedding, decoder layers, final norm, and a fused unembedding + loss +
 * backward over row blocks of the logits; then the decoder layers backward.
 *
 * Datums are packed back to back into one [T, ·] matrix, so every projection is one GEMM over all
 * tokens and no padding exists; only attention looks at sequence boundaries.
 *
 * Memory: activations of every layer are kept for the backward (see docs/ENGINE.md for the
 * per-token count); forward-only runs keep one layer's worth. The logits exist only for one block
 * of rows at a time ([Tb, V], Tb = 8M floats / V), and in the backward that block's softmax
 * gradient is formed in place, so [T, V] is never allocated. */
#include "internal.h"
#include "kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define LOGITS_BLOCK_FLOATS ((size_t)8 << 20)

typedef struct layer_act {
    float *x;               /* [T, H]   layer input (residual stream) */
    float *n1, *rstd1;      /* [T, H], [T] */
    float *qpre, *kpre;     /* [T, qd], [T, kd]   Qwen3: projections before the q/k norm */
    float *rq, *rk;         /* [T*nh], [T*nkv]    Qwen3: their rstd */
    float *q, *k, *v;       /* [T, qd], [T, kd], [T, kd]   after norm and RoPE */
    float *att;             /* [T, qd]  attention output (o_proj input) */
    float *xm;              /* [T, H]   residual after attention */
    float *n2, *rstd2;      /* [T, H], [T] */
    float *g, *u, *h;       /* [T, I]   gate, up, silu(gate)*up */
    float *lu[TK_MODS_PER_LAYER];   /* [T, r]  LoRA x·Aᵀ per module */
} layer_act;

typedef struct pass_buffers {
    float *cos_t, *sin_t;
    layer_act *acts;        /* num_layers entries; all alias entry 0 when forward-only */
    float *xf, *nf, *rstdf; /* final residual, final norm output, its rstd */
    float *logits;          /* [Tb, V] */
    float *head_u, *head_du;/* [T, r], [Tb, r] */
    float *losses;          /* [T] */
    float *attn_scratch;
    /* backward */
    float *dres, *dn, *dq, *dk, *dv, *datt, *dg, *du, *dh, *dlu, *dqpre, *dkpre;
    size_t Tb;
} pass_buffers;

typedef struct carver {
    float *base;
    size_t off;
} carver;

static float *take(carver *c, size_t n) {
    float *p = c->base ? c->base + c->off : NULL;
    c->off += (n + 15) & ~(size_t)15;   /* 64-byte aligned slices */
    return p;
}

/* Lay the buffers out over c (base NULL: just count). */
static void layout(carver *c, const tk_engine_config *cfg, const tk_packed_batch *pb, const tk_engine_adapter *a,
                   bool backward, pass_buffers *b, layer_act *acts) {
    const size_t T = pb->T, H = (size_t)cfg->hidden_size, I = (size_t)cfg->intermediate_size,
                 V = (size_t)cfg->vocab_size, hd = (size_t)cfg->head_dim;
    const size_t nh = (size_t)cfg->num_heads, nkv = (size_t)cfg->num_kv_heads, qd = nh * hd, kd = nkv * hd;
    const size_t r = a ? (size_t)a->cfg.rank : 0;
    const bool qwen = cfg->arch == TK_ENGINE_ARCH_QWEN3;
    b->cos_t = take(c, (size_t)pb->max_len * hd / 2);
    b->sin_t = take(c, (size_t)pb->max_len * hd / 2);
    int n_sets = backward ? cfg->num_layers : 1;
    for (int l = 0; l < n_sets; l++) {
        layer_act *A = &acts[l];
        A->x = take(c, T * H);
        A->n1 = take(c, T * H);
        A->rstd1 = take(c, T);
        A->qpre = qwen ? take(c, T * qd) : NULL;
        A->kpre = qwen ? take(c, T * kd) : NULL;
        A->rq = qwen ? take(c, T * nh) : NULL;
        A->rk = qwen ? take(c, T * nkv) : NULL;
        A->q = take(c, T * qd);
        A->k = take(c, T * kd);
        A->v = take(c, T * kd);
        A->att = take(c, T * qd);
        A->xm = take(c, T * H);
        A->n2 = take(c, T * H);
        A->rstd2 = take(c, T);
        A->g = take(c, T * I);
        A->u = take(c, T * I);
        A->h = take(c, T * I);
        for (int j = 0; j < TK_MODS_PER_LAYER; j++) {
            bool on = a && a->mods[(size_t)l * TK_MODS_PER_LAYER + j].on;
            A->lu[j] = on ? take(c, T * r) : NULL;
        }
    }
    for (int l = n_sets; l < cfg->num_layers; l++) acts[l] = acts[0];
    b->acts = acts;
    b->xf = backward ? take(c, T * H) : acts[0].x;
    b->nf = take(c, T * H);
    b->rstdf = take(c, T);
    size_t Tb = LOGITS_BLOCK_FLOATS / V;
    if (Tb < 1) Tb = 1;
    if (Tb > T) Tb = T;
    b->Tb = Tb;
    b->logits = take(c, Tb * V);
    bool head_lora = a && a->mods[(size_t)cfg->num_layers * TK_MODS_PER_LAYER].on;
    b->head_u = head_lora ? take(c, T * r) : NULL;
    b->head_du = head_lora ? take(c, Tb * r) : NULL;
    b->losses = take(c, T);
    b->attn_scratch = take(c, (size_t)omp_get_max_threads() * tk_attention_scratch_floats(pb->max_len));
    if (backward) {
        b->dres = take(c, T * H);
        b->dn = take(c, T * H);
        b->dq = take(c, T * qd);
        b->dk = take(c, T * kd);
        b->dv = take(c, T * kd);
        b->datt = take(c, T * qd);
        b->dg = take(c, T * I);
        b->du = take(c, T * I);
        b->dh = take(c, T * I);
        b->dlu = take(c, T * (r ? r : 1));
        b->dqpre = qwen ? take(c, T * qd) : NULL;
        b->dkpre = qwen ? take(c, T * kd) : NULL;
    }
}

/* ---- LoRA-wrapped linear ------------------------------------------------------------------ */

/* y[T,out] = x·Wᵀ + s·(x·Aᵀ)·Bᵀ; lu receives x·Aᵀ for the backward. */
static void linear_forward(float *y, const float *x, const float *W, const tk_lora_mod *mod, float s, int r,
                           float *lu, int T, int in, int out) {
    tk_matmul_forward(y, x, W, T, in, out, 1.0f, false);
    if (mod && mod->on) {
        tk_matmul_forward(lu, x, mod->A, T, in, r, 1.0f, false);
        tk_matmul_forward(y, lu, mod->B, T, r, out, s, true);
    }
}

/* Given dy: dx += dy·W (if dx), and the LoRA gradients dB += s·dyᵀ·lu, dA += (s·dy·B)ᵀ·x,
 * dx += (s·dy·B)·A. dlu is [T, r] scratch. */
static void linear_backward(float *dx, const float *dy, const float *x, const float *W, const tk_lora_mod *mod,
                            float s, int r, const float *lu, float *dlu, int T, int in, int out) {
    if (dx) tk_matmul_backward_input(dx, dy, W, T, in, out, 1.0f);
    if (mod && mod->on) {
        tk_matmul_backward_weight(mod->dB, dy, lu, T, r, out, s);
        memset(dlu, 0, sizeof(float) * (size_t)T * r);
        tk_matmul_backward_input(dlu, dy, mod->B, T, r, out, s);
        tk_matmul_backward_weight(mod->dA, dlu, x, T, in, r, 1.0f);
        if (dx) tk_matmul_backward_input(dx, dlu, mod->A, T, in, r, 1.0f);
    }
}

static void add_inplace(float *y, const float *x, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

/* ---- layers ------------------------------------------------------------------------------- */

typedef struct pass {
    const tk_engine_model *m;
    const tk_engine_config *cfg;
    const tk_engine_adapter *a;
    const tk_packed_batch *pb;
    pass_buffers *b;
    tk_attn_shape att;
    int T, H, I, hd, nh, nkv, qd, kd, r;
    float s;
} pass;

static const tk_lora_mod *mod_of(const pass *p, int l, int j) {
    return p->a ? &p->a->mods[(size_t)l * TK_MODS_PER_LAYER + j] : NULL;
}

static void layer_forward(const pass *p, int l, float *x_out) {
    const tk_layer_weights *W = &p->m->layers[l];
    layer_act *A = &p->b->acts[l];
    const bool qwen = p->cfg->arch == TK_ENGINE_ARCH_QWEN3;
    const int T = p->T;
    const float eps = (float)p->cfg->rms_norm_eps;
    tk_rmsnorm_forward(A->n1, A->rstd1, A->x, W->ln1, (size_t)T, p->H, eps);
    linear_forward(qwen ? A->qpre : A->q, A->n1, W->wq, mod_of(p, l, TK_MOD_Q), p->s, p->r, A->lu[TK_MOD_Q], T, p->H, p->qd);
    linear_forward(qwen ? A->kpre : A->k, A->n1, W->wk, mod_of(p, l, TK_MOD_K), p->s, p->r, A->lu[TK_MOD_K], T, p->H, p->kd);
    linear_forward(A->v, A->n1, W->wv, mod_of(p, l, TK_MOD_V), p->s, p->r, A->lu[TK_MOD_V], T, p->H, p->kd);
    if (qwen) {
        tk_rmsnorm_forward(A->q, A->rq, A->qpre, W->q_norm, (size_t)T * p->nh, p->hd, eps);
        tk_rmsnorm_forward(A->k, A->rk, A->kpre, W->k_norm, (size_t)T * p->nkv, p->hd, eps);
    }
    tk_rope_forward(A->q, (size_t)T, p->nh, p->hd, p->pb->positions, p->b->cos_t, p->b->sin_t);
    tk_rope_forward(A->k, (size_t)T, p->nkv, p->hd, p->pb->positions, p->b->cos_t, p->b->sin_t);
    tk_attention_forward(A->att, A->q, A->k, A->v, &p->att, p->b->attn_scratch);
    linear_forward(A->xm, A->att, W->wo, mod_of(p, l, TK_MOD_O), p->s, p->r, A->lu[TK_MOD_O], T, p->qd, p->H);
    add_inplace(A->xm, A->x, (size_t)T * p->H);
    tk_rmsnorm_forward(A->n2, A->rstd2, A->xm, W->ln2, (size_t)T, p->H, eps);
    linear_forward(A->g, A->n2, W->wg, mod_of(p, l, TK_MOD_GATE), p->s, p->r, A->lu[TK_MOD_GATE], T, p->H, p->I);
    linear_forward(A->u, A->n2, W->wu, mod_of(p, l, TK_MOD_UP), p->s, p->r, A->lu[TK_MOD_UP], T, p->H, p->I);
    tk_swiglu_forward(A->h, A->g, A->u, (size_t)T * p->I);
    /* x_out may alias A->x (forward-only): A->x is dead once xm exists */
    linear_forward(x_out, A->h, W->wd, mod_of(p, l, TK_MOD_DOWN), p->s, p->r, A->lu[TK_MOD_DOWN], T, p->I, p->H);
    add_inplace(x_out, A->xm, (size_t)T * p->H);
}

/* dres holds dL/d(layer output) on entry and dL/d(layer input) on exit (when l > 0). */
static void layer_backward(const pass *p, int l) {
    const tk_layer_weights *W = &p->m->layers[l];
    layer_act *A = &p->b->acts[l];
    pass_buffers *b = p->b;
    const bool qwen = p->cfg->arch == TK_ENGINE_ARCH_QWEN3;
    const int T = p->T;
    const size_t TH = (size_t)T * p->H;
    /* MLP: down, swiglu, gate/up */
    memset(b->dh, 0, sizeof(float) * (size_t)T * p->I);
    linear_backward(b->dh, b->dres, A->h, W->wd, mod_of(p, l, TK_MOD_DOWN), p->s, p->r, A->lu[TK_MOD_DOWN], b->dlu,
                    T, p->I, p->H);
    tk_swiglu_backward(b->dg, b->du, b->dh, A->g, A->u, (size_t)T * p->I);
    bool need_below = l > 0 || p->a->cfg.train_attn;
    if (need_below) memset(b->dn, 0, sizeof(float) * TH);
    linear_backward(need_below ? b->dn : NULL, b->dg, A->n2, W->wg, mod_of(p, l, TK_MOD_GATE), p->s, p->r,
                    A->lu[TK_MOD_GATE], b->dlu, T, p->H, p->I);
    linear_backward(need_below ? b->dn : NULL, b->du, A->n2, W->wu, mod_of(p, l, TK_MOD_UP), p->s, p->r,
                    A->lu[TK_MOD_UP], b->dlu, T, p->H, p->I);
    if (!need_below) return;
    tk_rmsnorm_backward(b->dres, b->dn, A->xm, W->ln2, A->rstd2, (size_t)T, p->H);   /* dres = dL/dxm */
    /* attention: o_proj, attention, RoPE, q/k norm, q/k/v */
    memset(b->datt, 0, sizeof(float) * (size_t)T * p->qd);
    linear_backward(b->datt, b->dres, A->att, W->wo, mod_of(p, l, TK_MOD_O), p->s, p->r, A->lu[TK_MOD_O], b->dlu,
                    T, p->qd, p->H);
    tk_attention_backward(b->dq, b->dk, b->dv, b->datt, A->q, A->k, A->v, A->att, &p->att, b->attn_scratch);
    tk_rope_backward(b->dq, (size_t)T, p->nh, p->hd, p->pb->positions, b->cos_t, b->sin_t);
    tk_rope_backward(b->dk, (size_t)T, p->nkv, p->hd, p->pb->positions, b->cos_t, b->sin_t);
    float *gq = b->dq, *gk = b->dk;
    if (qwen) {
        memset(b->dqpre, 0, sizeof(float) * (size_t)T * p->qd);
        memset(b->dkpre, 0, sizeof(float) * (size_t)T * p->kd);
        tk_rmsnorm_backward(b->dqpre, b->dq, A->qpre, W->q_norm, A->rq, (size_t)T * p->nh, p->hd);
        tk_rmsnorm_backward(b->dkpre, b->dk, A->kpre, W->k_norm, A->rk, (size_t)T * p->nkv, p->hd);
        gq = b->dqpre;
        gk = b->dkpre;
    }
    bool need_dx = l > 0;
    if (need_dx) memset(b->dn, 0, sizeof(float) * TH);
    float *dx = need_dx ? b->dn : NULL;
    linear_backward(dx, gq, A->n1, W->wq, mod_of(p, l, TK_MOD_Q), p->s, p->r, A->lu[TK_MOD_Q], b->dlu, T, p->H, p->qd);
    linear_backward(dx, gk, A->n1, W->wk, mod_of(p, l, TK_MOD_K), p->s, p->r, A->lu[TK_MOD_K], b->dlu, T, p->H, p->kd);
    linear_backward(dx, b->dv, A->n1, W->wv, mod_of(p, l, TK_MOD_V), p->s, p->r, A->lu[TK_MOD_V], b->dlu, T, p->H,
                    p->kd);
    if (need_dx) tk_rmsnorm_backward(b->dres, b->dn, A->x, W->ln1, A->rstd1, (size_t)T, p->H);
}

/* ---- unembedding + loss (+ its backward), one block of rows at a time ---------------------- */

static void head(const pass *p, const tk_loss_spec *spec, bool backward, bool propagate, float *logprobs,
                 float *logits_out) {
    pass_buffers *b = p->b;
    const tk_engine_model *m = p->m;
    const int T = p->T, H = p->H, V = p->cfg->vocab_size, r = p->r;
    const tk_lora_mod *hm = p->a ? &p->a->mods[(size_t)p->cfg->num_layers * TK_MODS_PER_LAYER] : NULL;
    const bool lora = hm && hm->on;
    if (lora) tk_matmul_forward(b->head_u, b->nf, hm->A, T, H, r, 1.0f, false);
    if (propagate) memset(b->dn, 0, sizeof(float) * (size_t)T * H);
    for (int t0 = 0; t0 < T; t0 += (int)b->Tb) {
        int tb = t0 + (int)b->Tb <= T ? (int)b->Tb : T - t0;
        float *L = b->logits;
        const float *nf = b->nf + (size_t)t0 * H;
        tk_matmul_forward(L, nf, m->lm_head, tb, H, V, 1.0f, false);
        if (lora) tk_matmul_forward(L, b->head_u + (size_t)t0 * r, hm->B, tb, r, V, p->s, true);
        if (logits_out) memcpy(logits_out + (size_t)t0 * V, L, sizeof(float) * (size_t)tb * V);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < tb; i++) {
            size_t t = (size_t)(t0 + i);
            float *row = L + (size_t)i * V;
            int tgt = p->pb->targets[t];
            float mx = row[0];
            for (int j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
            float zt = row[tgt];
            double sum = 0;
            if (backward) {
                for (int j = 0; j < V; j++) sum += row[j] = expf(row[j] - mx);   /* keep exp for the gradient */
            } else {
                for (int j = 0; j < V; j++) sum += expf(row[j] - mx);
            }
            float lse = mx + (float)log(sum);
            float lp = zt - lse, loss, dlp;
            tk_loss_token(spec, lp, t, p->pb, &loss, &dlp);
            logprobs[t] = lp;
            b->losses[t] = loss;
            if (backward) {
                /* dL/dz_j = dlp · (1[j = target] − softmax_j) */
                float c = (float)(-dlp / sum);
                for (int j = 0; j < V; j++) row[j] *= c;
                row[tgt] += dlp;
            }
        }
        if (!backward) continue;
        if (lora) {
            float *dhu = b->head_du;
            tk_matmul_backward_weight(hm->dB, L, b->head_u + (size_t)t0 * r, tb, r, V, p->s);
            memset(dhu, 0, sizeof(float) * (size_t)tb * r);
            tk_matmul_backward_input(dhu, L, hm->B, tb, r, V, p->s);
            tk_matmul_backward_weight(hm->dA, dhu, nf, tb, H, r, 1.0f);
            if (propagate) tk_matmul_backward_input(b->dn + (size_t)t0 * H, dhu, hm->A, tb, H, r, 1.0f);
        }
        if (propagate) tk_matmul_backward_input(b->dn + (size_t)t0 * H, L, m->lm_head, tb, H, V, 1.0f);
    }
}

/* ---- the whole pass ----------------------------------------------------------------------- */

int tk_model_run(tk_engine_model *m, tk_engine_adapter *a, const tk_packed_batch *pb, const tk_loss_spec *spec,
                 bool backward, float *logprobs, float *losses, double *loss_sum, float *logits_out,
                 const tk_run_hooks *hooks, tk_err *e) {
    const tk_engine_config *cfg = &m->cfg;
    if (backward && !a) return tk_err_set(e, TK_EINTERNAL, "backward without an adapter");
    layer_act *acts = calloc((size_t)cfg->num_layers, sizeof *acts);
    if (!acts) return tk_err_set(e, TK_ENOMEM, "out of memory");
    pass_buffers b;
    memset(&b, 0, sizeof b);
    carver c = {NULL, 0};
    layout(&c, cfg, pb, a, backward, &b, acts);
    if (c.off > m->ws.cap) {
        free(m->ws.buf);
        m->ws.cap = 0;
        m->ws.buf = aligned_alloc(64, c.off * sizeof(float));
        if (!m->ws.buf) {
            free(acts);
            return tk_err_set(e, TK_ENOMEM, "engine: cannot allocate %zu MiB of activations for %zu tokens",
                              c.off * sizeof(float) >> 20, pb->T);
        }
        m->ws.cap = c.off;
    }
    carver c2 = {m->ws.buf, 0};
    layout(&c2, cfg, pb, a, backward, &b, acts);

    pass p = {.m = m, .cfg = cfg, .a = a, .pb = pb, .b = &b};
    p.T = (int)pb->T;
    p.H = cfg->hidden_size;
    p.I = cfg->intermediate_size;
    p.hd = cfg->head_dim;
    p.nh = cfg->num_heads;
    p.nkv = cfg->num_kv_heads;
    p.qd = p.nh * p.hd;
    p.kd = p.nkv * p.hd;
    p.r = a ? a->cfg.rank : 0;
    p.s = a ? a->scale : 0.0f;
    p.att = (tk_attn_shape){p.nh, p.nkv, p.hd, pb->starts, pb->n_seq, pb->max_len};
    tk_rope_params rp = {cfg->rope_theta, cfg->rope_llama3, cfg->rope_factor, cfg->rope_low_freq_factor,
                         cfg->rope_high_freq_factor, cfg->rope_original_max_position};
    tk_rope_tables(b.cos_t, b.sin_t, pb->max_len, p.hd, &rp);

    /* embedding */
    const size_t H = (size_t)p.H;
#pragma omp parallel for schedule(static)
    for (size_t t = 0; t < pb->T; t++) memcpy(acts[0].x + t * H, m->embed + (size_t)pb->tokens[t] * H, H * sizeof(float));
    for (int l = 0; l < cfg->num_layers; l++) {
        float *x_out = l + 1 < cfg->num_layers ? acts[l + 1].x : b.xf;
        layer_forward(&p, l, x_out);
        if (hooks && hooks->k_out) memcpy(hooks->k_out[l], acts[l].k, sizeof(float) * pb->T * (size_t)p.kd);
        if (hooks && hooks->v_out) memcpy(hooks->v_out[l], acts[l].v, sizeof(float) * pb->T * (size_t)p.kd);
    }
    tk_rmsnorm_forward(b.nf, b.rstdf, b.xf, m->final_norm, pb->T, p.H, (float)cfg->rms_norm_eps);
    if (hooks && hooks->final_hidden) {
        memcpy(hooks->final_hidden, b.nf, sizeof(float) * pb->T * H);
        free(acts);
        return 0;
    }
    bool propagate = backward && (a->cfg.train_attn || a->cfg.train_mlp);
    head(&p, spec, backward, propagate, logprobs, logits_out);
    double sum = 0;
    for (size_t t = 0; t < pb->T; t++) sum += b.losses[t];
    *loss_sum = sum;
    if (losses) memcpy(losses, b.losses, pb->T * sizeof(float));
    if (propagate) {
        memset(b.dres, 0, sizeof(float) * pb->T * H);
        tk_rmsnorm_backward(b.dres, b.dn, b.xf, m->final_norm, b.rstdf, pb->T, p.H);
        for (int l = cfg->num_layers - 1; l >= 0; l--) layer_backward(&p, l);
    }
    if (backward) a->pending_tokens += (int64_t)pb->T;
    free(acts);
    return 0;
}

/* ---- public entry points ---------------------------------------------------------------- */

static int run_request(tk_engine_model *m, tk_engine_adapter *a, const tk_engine_request *req, tk_engine_output *out,
                       bool backward, tk_err *e) {
    if (!req || !out) return tk_err_set(e, TK_EINVAL, "engine: NULL request or output");
    if (!out->logprobs) return tk_err_set(e, TK_EINVAL, "engine: output.logprobs is NULL");
    if (a && a->model != m) return tk_err_set(e, TK_EINVAL, "engine: the adapter belongs to another model");
    tk_loss_spec spec;
    int rc = tk_loss_spec_parse(req, &spec, e);
    if (rc) return rc;
    tk_packed_batch pb;
    rc = tk_pack_request(m, req, &spec, &pb, e);
    if (rc) return rc;
    rc = tk_model_run(m, a, &pb, &spec, backward, out->logprobs, out->elementwise_loss, &out->loss_sum, NULL, NULL, e);
    tk_packed_free(&pb);
    return rc;
}

int tk_engine_forward(tk_engine_model *m, tk_engine_adapter *a, const tk_engine_request *req, tk_engine_output *out,
                      tk_err *e) {
    return run_request(m, a, req, out, false, e);
}

int tk_engine_forward_backward(tk_engine_adapter *a, const tk_engine_request *req, tk_engine_output *out, tk_err *e) {
    if (!a) return tk_err_set(e, TK_EINVAL, "forward_backward: no adapter");
    return run_request(a->model, a, req, out, true, e);
}

int tk_engine_logits(tk_engine_model *m, tk_engine_adapter *a, const int32_t *tokens, size_t n, float *logits,
                     tk_err *e) {
    float *w = calloc(n ? n : 1, sizeof(float)), *lp = calloc(n ? n : 1, sizeof(float));
    tk_engine_array in[2] = {{"target_tokens", TK_ENGINE_I32, tokens, n}, {"weights", TK_ENGINE_F32, w, n}};
    tk_engine_datum d = {TK_ENGINE_I32, tokens, n, in, 2};
    tk_engine_request req = {"cross_entropy", NULL, 0, &d, 1};
    tk_loss_spec spec;
    tk_packed_batch pb;
    int rc = !w || !lp ? tk_err_set(e, TK_ENOMEM, "out of memory") : 0;
    if (!rc) rc = tk_loss_spec_parse(&req, &spec, e);
    if (!rc) rc = tk_pack_request(m, &req, &spec, &pb, e);
    double sum;
    if (!rc) {
        rc = tk_model_run(m, a, &pb, &spec, false, lp, NULL, &sum, logits, NULL, e);
        tk_packed_free(&pb);
    }
    free(w);
    free(lp);
    return rc;
}
