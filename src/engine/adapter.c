/* LoRA adapters: one flat buffer each for weights, gradients and the two AdamW moments, with a
 * pointer table per wrapped module (llm.c style). */
#include "internal.h"

#include <math.h>
#include <string.h>

void tk_engine_lora_config_default(tk_engine_lora_config *c) {
    memset(c, 0, sizeof *c);
    c->rank = 32;
    c->alpha = TK_ENGINE_LORA_ALPHA_DEFAULT;
    c->train_attn = c->train_mlp = c->train_unembed = true;
}

const char *const tk_lora_module_names[TK_MODS_PER_LAYER] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
};
const char *const tk_lora_module_short[TK_MODS_PER_LAYER] = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
};

/* in/out features of module j of a layer. */
static void mod_dims(const tk_engine_config *c, int j, int32_t *in, int32_t *out) {
    int32_t H = c->hidden_size, I = c->intermediate_size, qd = c->num_heads * c->head_dim,
            kd = c->num_kv_heads * c->head_dim;
    static const int8_t kind[TK_MODS_PER_LAYER] = {0, 1, 1, 2, 3, 3, 4};
    switch (kind[j]) {
    case 0: *in = H; *out = qd; break;
    case 1: *in = H; *out = kd; break;
    case 2: *in = qd; *out = H; break;
    case 3: *in = H; *out = I; break;
    default: *in = I; *out = H; break;
    }
}

int tk_engine_adapter_new(tk_engine_model *m, const tk_engine_lora_config *cfg, tk_engine_adapter **out,
                          tk_err *e) {
    *out = NULL;
    if (cfg->rank < 1 || cfg->rank > 4096)
        return tk_err_set(e, TK_EINVAL, "lora_config.rank: %d is out of range [1, 4096]", cfg->rank);
    if (!isfinite(cfg->alpha)) return tk_err_set(e, TK_EINVAL, "lora_config.alpha: must be finite");
    if (cfg->modules & ~(uint32_t)TK_ENGINE_LORA_ALL)
        return tk_err_set(e, TK_EINVAL, "lora_config.modules: unknown bits 0x%x", cfg->modules & ~(uint32_t)TK_ENGINE_LORA_ALL);
    uint32_t mask = cfg->modules;
    if (!mask)
        mask = (cfg->train_attn ? TK_ENGINE_LORA_ATTN : 0u) | (cfg->train_mlp ? TK_ENGINE_LORA_MLP : 0u)
               | (cfg->train_unembed ? TK_ENGINE_LORA_LM_HEAD : 0u);
    const tk_engine_config *c = &m->cfg;
    tk_engine_adapter *a = calloc(1, sizeof *a);
    if (!a) return tk_err_set(e, TK_ENOMEM, "adapter: out of memory");
    a->model = m;
    a->cfg = *cfg;
    if (!(a->cfg.alpha > 0)) a->cfg.alpha = TK_ENGINE_LORA_ALPHA_DEFAULT;
    a->cfg.modules = mask;
    a->cfg.train_attn = (mask & TK_ENGINE_LORA_ATTN) != 0;
    a->cfg.train_mlp = (mask & TK_ENGINE_LORA_MLP) != 0;
    a->cfg.train_unembed = (mask & TK_ENGINE_LORA_LM_HEAD) != 0;
    a->scale = (float)(a->cfg.alpha / cfg->rank);
    size_t n_mods = (size_t)c->num_layers * TK_MODS_PER_LAYER + 1;
    a->mods = calloc(n_mods, sizeof *a->mods);
    a->tensors = calloc(2 * n_mods, sizeof *a->tensors);
    a->names = calloc(2 * n_mods, sizeof *a->names);
    if (!a->mods || !a->tensors || !a->names) goto oom;
    const size_t r = (size_t)cfg->rank;
    size_t total = 0;
    for (size_t i = 0; i < n_mods; i++) {
        tk_lora_mod *mod = &a->mods[i];
        if (i + 1 == n_mods) {
            mod->on = (mask & TK_ENGINE_LORA_LM_HEAD) != 0;
            mod->in = c->hidden_size;
            mod->out = c->vocab_size;
        } else {
            int j = (int)(i % TK_MODS_PER_LAYER);
            mod->on = (mask >> j) & 1u;   /* TK_ENGINE_LORA_Q.. follow the TK_MOD_* order */
            mod_dims(c, j, &mod->in, &mod->out);
        }
        if (mod->on) total += r * (size_t)mod->in + (size_t)mod->out * r;
    }
    a->n_params = total;
    size_t bytes = (total ? total : 1) * sizeof(float);
    a->params = calloc(1, bytes);
    a->grads = calloc(1, bytes);
    a->m = calloc(1, bytes);
    a->v = calloc(1, bytes);
    if (!a->params || !a->grads || !a->m || !a->v) goto oom;
    tk_rng rng;
    tk_rng_seed(&rng, cfg->seed);
    size_t off = 0;
    for (size_t i = 0; i < n_mods; i++) {
        tk_lora_mod *mod = &a->mods[i];
        if (!mod->on) continue;
        size_t na = r * (size_t)mod->in, nb = (size_t)mod->out * r;
        mod->A = a->params + off;
        mod->dA = a->grads + off;
        mod->B = mod->A + na;
        mod->dB = mod->dA + na;
        /* A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5), as PEFT); B = 0 */
        double bound = 1.0 / sqrt((double)mod->in);
        for (size_t k = 0; k < na; k++) mod->A[k] = (float)((2.0 * tk_rng_f64(&rng) - 1.0) * bound);
        for (int ab = 0; ab < 2; ab++) {
            size_t ti = a->n_tensors++;
            char *nm = a->names[ti];
            const char *which = ab ? "lora_B" : "lora_A";
            if (i + 1 == n_mods) snprintf(nm, sizeof a->names[ti], "lm_head.%s.weight", which);
            else
                snprintf(nm, sizeof a->names[ti], "model.layers.%zu.%s.%s.weight", i / TK_MODS_PER_LAYER,
                         tk_lora_module_names[i % TK_MODS_PER_LAYER], which);
            tk_engine_tensor *t = &a->tensors[ti];
            t->name = nm;
            t->rows = ab ? mod->out : cfg->rank;
            t->cols = ab ? cfg->rank : mod->in;
            size_t o = off + (ab ? na : 0);
            t->param = a->params + o;
            t->grad = a->grads + o;
            t->m = a->m + o;
            t->v = a->v + o;
        }
        off += na + nb;
    }
    m->n_adapters++;
    *out = a;
    return 0;
oom:
    a->model = NULL;
    tk_engine_adapter_free(a);
    return tk_err_set(e, TK_ENOMEM, "adapter: out of memory");
}

void tk_engine_adapter_free(tk_engine_adapter *a) {
    if (!a) return;
    if (a->busy > 0) {
        tk_error("engine: tk_engine_adapter_free with %d sample request(s) in flight; leaking the adapter", a->busy);
        return;
    }
    if (a->model) a->model->n_adapters--;
    free(a->params);
    free(a->grads);
    free(a->m);
    free(a->v);
    free(a->mods);
    free(a->tensors);
    free(a->names);
    free(a);
}

const tk_engine_lora_config *tk_engine_adapter_config(const tk_engine_adapter *a) { return &a->cfg; }
tk_engine_model *tk_engine_adapter_model(const tk_engine_adapter *a) { return a->model; }
size_t tk_engine_adapter_num_params(const tk_engine_adapter *a) { return a->n_params; }
int64_t tk_engine_adapter_step(const tk_engine_adapter *a) { return a->step; }
void tk_engine_adapter_set_step(tk_engine_adapter *a, int64_t step) { a->step = step; }
int64_t tk_engine_adapter_pending_tokens(const tk_engine_adapter *a) { return a->pending_tokens; }
size_t tk_engine_adapter_num_tensors(const tk_engine_adapter *a) { return a->n_tensors; }

int tk_engine_adapter_tensor(tk_engine_adapter *a, size_t i, tk_engine_tensor *out, tk_err *e) {
    if (i >= a->n_tensors)
        return tk_err_set(e, TK_ERANGE, "adapter tensor index %zu is out of range (%zu tensors)", i, a->n_tensors);
    *out = a->tensors[i];
    return 0;
}

void tk_engine_adapter_zero_grad(tk_engine_adapter *a) {
    if (a->n_params) memset(a->grads, 0, a->n_params * sizeof(float));
    a->pending_tokens = 0;
}
