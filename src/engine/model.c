/* Base models: the HF tensor table, loading from safetensors (single file or sharded), seeded
 * random weights, and saving. */
#include "internal.h"
#include "safetensors.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static void add_entry(tk_engine_model *m, size_t *k, const char *name, int ndim, int64_t d0, int64_t d1,
                      float **slot) {
    tk_weight_entry *w = &m->entries[(*k)++];
    snprintf(w->name, sizeof w->name, "%s", name);
    w->ndim = ndim;
    w->shape[0] = d0;
    w->shape[1] = ndim == 2 ? d1 : 0;
    w->numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    w->slot = slot;
}

int tk_model_alloc(const tk_engine_config *cfg, tk_engine_model **out, tk_err *e) {
    *out = NULL;
    int rc = tk_engine_config_validate(cfg, e);
    if (rc) return rc;
    tk_engine_model *m = calloc(1, sizeof *m);
    if (!m) return tk_err_set(e, TK_ENOMEM, "model: out of memory");
    m->cfg = *cfg;
    const tk_engine_config *c = cfg;
    int64_t H = c->hidden_size, I = c->intermediate_size, V = c->vocab_size, hd = c->head_dim;
    int64_t qd = (int64_t)c->num_heads * hd, kd = (int64_t)c->num_kv_heads * hd;
    bool qwen = c->arch == TK_ENGINE_ARCH_QWEN3;
    size_t per_layer = qwen ? 11 : 9;
    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    m->entries = calloc(3 + per_layer * (size_t)c->num_layers, sizeof *m->entries);
    if (!m->layers || !m->entries) {
        tk_engine_model_free(m);
        return tk_err_set(e, TK_ENOMEM, "model: out of memory");
    }
    size_t k = 0;
    char name[96];
    add_entry(m, &k, "model.embed_tokens.weight", 2, V, H, &m->embed);
    for (int l = 0; l < c->num_layers; l++) {
        tk_layer_weights *L = &m->layers[l];
#define ENTRY(suffix, nd, a, b, field)                                     \
        snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);      \
        add_entry(m, &k, name, nd, a, b, &L->field)
        ENTRY("input_layernorm.weight", 1, H, 0, ln1);
        ENTRY("self_attn.q_proj.weight", 2, qd, H, wq);
        ENTRY("self_attn.k_proj.weight", 2, kd, H, wk);
        ENTRY("self_attn.v_proj.weight", 2, kd, H, wv);
        ENTRY("self_attn.o_proj.weight", 2, H, qd, wo);
        if (qwen) {
            ENTRY("self_attn.q_norm.weight", 1, hd, 0, q_norm);
            ENTRY("self_attn.k_norm.weight", 1, hd, 0, k_norm);
        }
        ENTRY("post_attention_layernorm.weight", 1, H, 0, ln2);
        ENTRY("mlp.gate_proj.weight", 2, I, H, wg);
        ENTRY("mlp.up_proj.weight", 2, I, H, wu);
        ENTRY("mlp.down_proj.weight", 2, H, I, wd);
#undef ENTRY
    }
    add_entry(m, &k, "model.norm.weight", 1, H, 0, &m->final_norm);
    if (!c->tie_word_embeddings) add_entry(m, &k, "lm_head.weight", 2, V, H, &m->lm_head);
    m->n_entries = k;
    size_t total = 0;
    for (size_t i = 0; i < k; i++) total += m->entries[i].numel;
    m->n_params = total;
    /* 64-byte alignment helps the BLAS kernels */
    size_t bytes = (total * sizeof(float) + 63) & ~(size_t)63;
    m->params = aligned_alloc(64, bytes);
    if (!m->params) {
        tk_engine_model_free(m);
        return tk_err_set(e, TK_ENOMEM, "model: cannot allocate %zu bytes of weights", bytes);
    }
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        *m->entries[i].slot = m->params + off;
        off += m->entries[i].numel;
    }
    if (c->tie_word_embeddings) m->lm_head = m->embed;
    *out = m;
    return 0;
}

void tk_engine_model_free(tk_engine_model *m) {
    if (!m) return;
    if (m->n_adapters > 0 || m->n_samplers > 0) {
        tk_error("engine: tk_engine_model_free with %d live adapter(s) and %d sampler(s); leaking the model",
                 m->n_adapters, m->n_samplers);
        return;
    }
    tk_decode_weights_free(m->dec);
    free(m->params);
    free(m->layers);
    free(m->entries);
    free(m->ws.buf);
    free(m);
}

const tk_engine_config *tk_engine_model_config(const tk_engine_model *m) { return &m->cfg; }
size_t tk_engine_model_num_params(const tk_engine_model *m) { return m->n_params; }
size_t tk_engine_model_workspace_bytes(const tk_engine_model *m) { return m->ws.cap * sizeof(float); }
void tk_engine_model_trim(tk_engine_model *m) {
    free(m->ws.buf);
    m->ws.buf = NULL;
    m->ws.cap = 0;
}

/* ---- random weights ---------------------------------------------------------------------- */

int tk_engine_model_random(const tk_engine_config *c, uint64_t seed, tk_engine_model **out, tk_err *e) {
    int rc = tk_model_alloc(c, out, e);
    if (rc) return rc;
    tk_engine_model *m = *out;
    tk_rng r;
    tk_rng_seed(&r, seed);
    for (size_t i = 0; i < m->n_entries; i++) {
        tk_weight_entry *w = &m->entries[i];
        float *p = *w->slot;
        if (w->ndim == 1) {
            for (size_t j = 0; j < w->numel; j++) p[j] = 1.0f;
        } else {
            for (size_t j = 0; j < w->numel; j++) p[j] = (float)(0.02 * tk_rng_normal(&r));
        }
    }
    return 0;
}

/* ---- loading ----------------------------------------------------------------------------- */

/* Shards of a model directory: one file, or those listed by the index's weight_map. */
typedef struct shard_set {
    tk_st_file *files;
    size_t n;
    json_t *weight_map;       /* tensor -> shard file name; NULL when unsharded */
    char **names;             /* shard file names, parallel to files */
} shard_set;

static void shards_close(shard_set *s) {
    for (size_t i = 0; i < s->n; i++) {
        tk_st_close(&s->files[i]);
        free(s->names[i]);
    }
    free(s->files);
    free(s->names);
    json_decref(s->weight_map);
    memset(s, 0, sizeof *s);
}

static int shards_open(const char *dir, shard_set *s, tk_err *e) {
    memset(s, 0, sizeof *s);
    char *index = tk_path_join(dir, "model.safetensors.index.json");
    if (!index) return tk_err_set(e, TK_ENOMEM, "out of memory");
    int rc = 0;
    if (tk_path_exists(index)) {
        json_t *root = NULL;
        rc = tk_json_load_file(index, &root, e);
        json_t *wm = NULL;
        if (!rc) rc = tk_json_get_obj(root, "weight_map", "", &wm, e);
        if (rc) {
            tk_err_prefix(e, "%s: ", index);
            json_decref(root);
            free(index);
            return rc;
        }
        s->weight_map = json_incref(wm);
        json_decref(root);
        size_t cap = json_object_size(wm);
        s->files = calloc(cap ? cap : 1, sizeof *s->files);
        s->names = calloc(cap ? cap : 1, sizeof *s->names);
        if (!s->files || !s->names) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        const char *key;
        json_t *v;
        json_object_foreach(wm, key, v) {
            if (rc) break;
            if (!json_is_string(v)) {
                rc = tk_err_set(e, TK_EINVAL, "%s: weight_map.%s: expected a file name string", index, key);
                break;
            }
            const char *fn = json_string_value(v);
            if (strchr(fn, '/') || !strcmp(fn, "..") || !*fn) {
                rc = tk_err_set(e, TK_EINVAL, "%s: weight_map.%s: \"%s\" is not a plain file name", index, key, fn);
                break;
            }
            bool seen = false;
            for (size_t i = 0; i < s->n; i++) seen |= !strcmp(s->names[i], fn);
            if (seen) continue;
            char *path = tk_path_join(dir, fn);
            if (!path) { rc = tk_err_set(e, TK_ENOMEM, "out of memory"); break; }
            rc = tk_st_open(path, &s->files[s->n], e);
            free(path);
            if (rc) break;
            if (!(s->names[s->n] = tk_strdup(fn))) {
                tk_st_close(&s->files[s->n]);
                rc = tk_err_set(e, TK_ENOMEM, "out of memory");
                break;
            }
            s->n++;
        }
    } else {
        s->files = calloc(1, sizeof *s->files);
        s->names = calloc(1, sizeof *s->names);
        char *path = tk_path_join(dir, "model.safetensors");
        if (!s->files || !s->names || !path) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        if (!rc) rc = tk_st_open(path, &s->files[0], e);
        if (!rc && !(s->names[0] = tk_strdup("model.safetensors"))) {
            tk_st_close(&s->files[0]);
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        }
        if (!rc) s->n = 1;
        free(path);
    }
    free(index);
    if (rc) shards_close(s);
    return rc;
}

/* Find a tensor: in the shard the index names, else in the single file. */
static const tk_st_tensor *shards_find(const shard_set *s, const char *name, const tk_st_file **file) {
    if (s->weight_map) {
        json_t *v = json_object_get(s->weight_map, name);
        if (!json_is_string(v)) return NULL;
        for (size_t i = 0; i < s->n; i++)
            if (!strcmp(s->names[i], json_string_value(v))) {
                *file = &s->files[i];
                return tk_st_find(&s->files[i], name);
            }
        return NULL;
    }
    *file = &s->files[0];
    return tk_st_find(&s->files[0], name);
}

static bool is_expected_name(const tk_engine_model *m, const char *name) {
    for (size_t i = 0; i < m->n_entries; i++)
        if (!strcmp(m->entries[i].name, name)) return true;
    return false;
}

int tk_engine_model_load(const char *dir, tk_engine_model **out, tk_err *e) {
    *out = NULL;
    char *cfg_path = tk_path_join(dir, "config.json");
    if (!cfg_path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_buf text = {0};
    tk_engine_config cfg;
    int rc = tk_file_read(cfg_path, &text, 16u << 20, e);
    if (!rc) rc = tk_engine_config_parse(text.data, text.len, cfg_path, &cfg, e);
    tk_buf_free(&text);
    free(cfg_path);
    if (rc) return rc;
    tk_engine_model *m;
    rc = tk_model_alloc(&cfg, &m, e);
    if (rc) return tk_err_prefix(e, "%s: ", dir);
    shard_set s;
    rc = shards_open(dir, &s, e);
    if (rc) {
        tk_engine_model_free(m);
        return rc;
    }
    for (size_t i = 0; i < m->n_entries && !rc; i++) {
        const tk_weight_entry *w = &m->entries[i];
        const tk_st_file *f = NULL;
        const tk_st_tensor *t = shards_find(&s, w->name, &f);
        if (!t) {
            rc = tk_err_set(e, TK_EINVAL, "%s: tensor \"%s\" is missing%s", f ? f->path : dir, w->name,
                            s.weight_map && !json_object_get(s.weight_map, w->name) ? " from the index weight_map" : "");
            break;
        }
        if (t->dtype != TK_ENGINE_F32 && t->dtype != TK_ENGINE_F16 && t->dtype != TK_ENGINE_BF16) {
            rc = tk_err_set(e, TK_EINVAL, "%s: tensor \"%s\": dtype %s is not supported (F32, F16 or BF16)", f->path,
                            w->name, t->dtype_name);
            break;
        }
        bool ok = t->ndim == w->ndim && t->shape[0] == w->shape[0] && (w->ndim == 1 || t->shape[1] == w->shape[1]);
        if (!ok) {
            char got[128] = "", want[64];
            size_t n = 0;
            for (int d = 0; d < t->ndim && n < sizeof got - 24; d++)
                n += (size_t)snprintf(got + n, sizeof got - n, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            if (w->ndim == 1) snprintf(want, sizeof want, "%lld", (long long)w->shape[0]);
            else snprintf(want, sizeof want, "%lld, %lld", (long long)w->shape[0], (long long)w->shape[1]);
            rc = tk_err_set(e, TK_EINVAL, "%s: tensor \"%s\" has shape [%s] but config.json implies [%s]", f->path,
                            w->name, got, want);
            break;
        }
        tk_st_to_f32(t, *w->slot);
    }
    /* Tensors we do not use: tolerated (old checkpoints carry rotary inv_freq buffers), but said. */
    for (size_t fi = 0; fi < s.n && !rc; fi++)
        for (size_t i = 0; i < s.files[fi].n_tensors; i++) {
            const char *nm = s.files[fi].tensors[i].name;
            if (!is_expected_name(m, nm) && !(m->cfg.tie_word_embeddings && !strcmp(nm, "lm_head.weight")))
                tk_warn("%s: ignoring unexpected tensor \"%s\"", s.files[fi].path, nm);
        }
    shards_close(&s);
    if (rc) {
        tk_engine_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- saving ------------------------------------------------------------------------------ */

int tk_engine_model_save(const tk_engine_model *m, const char *dir, tk_engine_dtype dtype, tk_err *e) {
    int rc = tk_mkdir_p(dir, 0755, e);
    if (rc) return rc;
    tk_buf cfg = {0};
    char *cfg_path = tk_path_join(dir, "config.json");
    char *st_path = tk_path_join(dir, "model.safetensors");
    tk_st_out *outs = calloc(m->n_entries, sizeof *outs);
    if (!cfg_path || !st_path || !outs || tk_config_to_json(&m->cfg, &cfg)) {
        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        outs[i].name = m->entries[i].name;
        outs[i].ndim = m->entries[i].ndim;
        outs[i].shape[0] = m->entries[i].shape[0];
        outs[i].shape[1] = m->entries[i].shape[1];
        outs[i].data = *m->entries[i].slot;
    }
    rc = tk_st_write(st_path, outs, m->n_entries, dtype, e);
    if (!rc) rc = tk_file_write_atomic(cfg_path, cfg.data, cfg.len, 0644, e);
done:
    free(outs);
    free(cfg_path);
    free(st_path);
    tk_buf_free(&cfg);
    return rc;
}
