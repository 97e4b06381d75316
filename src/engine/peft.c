/* PEFT interchange: an adapter as adapter_model.safetensors + adapter_config.json with Hugging
 * Face module names and PEFT's key layout, both ways; and merging an adapter into the base
 * weights as a standard HF model directory. The checkpoint code (checkpoint.c) builds on these. */
#include "peft.h"
#include "safetensors.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#define PEFT_PREFIX "base_model.model."

/* ---- writing -------------------------------------------------------------------------------- */

int tk_peft_write_weights(const tk_engine_adapter *a, const char *path, tk_engine_dtype dtype, tk_err *e) {
    size_t n = a->n_tensors;
    tk_st_out *outs = calloc(n ? n : 1, sizeof *outs);
    char (*names)[128] = calloc(n ? n : 1, sizeof *names);
    if (!outs || !names) {
        free(outs);
        free(names);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < n; i++) {
        const tk_engine_tensor *t = &a->tensors[i];
        snprintf(names[i], sizeof names[i], PEFT_PREFIX "%s", t->name);
        outs[i] = (tk_st_out){names[i], 2, {t->rows, t->cols}, t->param};
    }
    int rc = tk_st_write(path, outs, n, dtype, e);
    free(outs);
    free(names);
    return rc;
}

int tk_peft_config_json(const tk_engine_lora_config *c, const char *base_model, tk_buf *out) {
    json_t *o = json_object(), *targets = json_array();
    int rc = !o || !targets;
    for (int j = 0; j < TK_MODS_PER_LAYER; j++)
        if (c->modules & (1u << j)) rc |= tk_json_append_new(targets, json_string(tk_lora_module_short[j]));
    if (c->modules & TK_ENGINE_LORA_LM_HEAD) rc |= tk_json_append_new(targets, json_string("lm_head"));
    rc |= tk_json_set_new(o, "base_model_name_or_path", base_model ? json_string(base_model) : json_null());
    rc |= tk_json_set_new(o, "peft_type", json_string("LORA"));
    rc |= tk_json_set_new(o, "task_type", json_string("CAUSAL_LM"));
    rc |= tk_json_set_new(o, "r", json_integer(c->rank));
    rc |= tk_json_set_new(o, "lora_alpha", json_real(c->alpha));
    rc |= tk_json_set_new(o, "lora_dropout", json_real(0.0));
    rc |= tk_json_set_new(o, "target_modules", targets);
    rc |= tk_json_set_new(o, "bias", json_string("none"));
    rc |= tk_json_set_new(o, "fan_in_fan_out", json_false());
    rc |= tk_json_set_new(o, "inference_mode", json_true());
    rc |= tk_json_set_new(o, "use_rslora", json_false());
    rc |= tk_json_set_new(o, "use_dora", json_false());
    rc |= tk_json_set_new(o, "modules_to_save", json_null());
    rc |= tk_json_set_new(o, "layers_to_transform", json_null());
    rc |= tk_json_set_new(o, "rank_pattern", json_object());
    rc |= tk_json_set_new(o, "alpha_pattern", json_object());
    rc |= tk_json_set_new(o, "init_lora_weights", json_true());
    if (!rc) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        rc = !s || tk_buf_puts(out, s) || tk_buf_putc(out, '\n');
        free(s);
    }
    json_decref(o);
    return rc ? TK_ENOMEM : 0;
}

int tk_engine_adapter_export_peft(const tk_engine_adapter *a, const char *dir, const char *base_model,
                                  tk_engine_dtype dtype, tk_err *e) {
    if (dtype != TK_ENGINE_F32 && dtype != TK_ENGINE_F16 && dtype != TK_ENGINE_BF16)
        return tk_err_set(e, TK_EINVAL, "export: dtype must be F32, F16 or BF16");
    int rc = tk_mkdir_p(dir, 0755, e);
    if (rc) return rc;
    char *st = tk_path_join(dir, "adapter_model.safetensors"), *cj = tk_path_join(dir, "adapter_config.json");
    tk_buf cfg = {0};
    if (!st || !cj || tk_peft_config_json(&a->cfg, base_model, &cfg)) rc = tk_err_set(e, TK_ENOMEM, "export: out of memory");
    if (!rc) rc = tk_peft_write_weights(a, st, dtype, e);
    if (!rc) rc = tk_file_write_atomic(cj, cfg.data, cfg.len, 0644, e);
    free(st);
    free(cj);
    tk_buf_free(&cfg);
    return rc;
}

/* ---- reading -------------------------------------------------------------------------------- */

static int module_bit(const char *name, uint32_t *bit) {
    for (int j = 0; j < TK_MODS_PER_LAYER; j++)
        if (!strcmp(name, tk_lora_module_short[j]) || !strcmp(name, tk_lora_module_names[j])) {
            *bit = 1u << j;
            return 0;
        }
    if (!strcmp(name, "lm_head")) {
        *bit = TK_ENGINE_LORA_LM_HEAD;
        return 0;
    }
    return -1;
}

int tk_peft_parse_config(const char *dir, tk_engine_lora_config *out, char *base_model, size_t bm_size, tk_err *e) {
    char *path = tk_path_join(dir, "adapter_config.json");
    if (!path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_buf text = {0};
    int rc = tk_file_read(path, &text, 16u << 20, e);
    if (!rc) rc = tk_peft_parse_config_text(text.data, text.len, path, out, base_model, bm_size, e);
    tk_buf_free(&text);
    free(path);
    return rc;
}

int tk_peft_parse_config_text(const char *text, size_t len, const char *path, tk_engine_lora_config *out,
                              char *base_model, size_t bm_size, tk_err *e) {
    json_t *root = NULL;
    int rc = tk_json_parse(text, len, path, &root, e);
    if (rc) return rc;
    tk_engine_lora_config c;
    tk_engine_lora_config_default(&c);
    c.modules = 0;
    const char *pt = NULL, *bm = NULL;
    int64_t r = 0;
    double alpha = 0;
    bool rslora = false, dora = false;
    json_t *tm = NULL;
    if (!root || !json_is_object(root)) rc = tk_err_set(e, TK_EPARSE, "%s: expected a JSON object", path);
    if (!rc) rc = tk_json_get_str(root, "peft_type", "", &pt, e);
    if (!rc && strcmp(pt, "LORA"))
        rc = tk_err_set(e, TK_EUNSUPPORTED, "%s: peft_type: \"%s\" is not supported (only LORA)", path, pt);
    if (!rc) rc = tk_json_get_i64(root, "r", "", &r, e);
    if (!rc && (r < 1 || r > 4096)) rc = tk_err_set(e, TK_EINVAL, "%s: r: %lld is out of range [1, 4096]", path, (long long)r);
    if (!rc) rc = tk_json_get_f64(root, "lora_alpha", "", &alpha, e);
    if (!rc && !(alpha > 0 && isfinite(alpha))) rc = tk_err_set(e, TK_EINVAL, "%s: lora_alpha: %g must be positive", path, alpha);
    if (!rc) rc = tk_json_opt_bool(root, "use_rslora", "", &rslora, NULL, e);
    if (!rc) rc = tk_json_opt_bool(root, "use_dora", "", &dora, NULL, e);
    if (!rc && dora) rc = tk_err_set(e, TK_EUNSUPPORTED, "%s: use_dora: DoRA adapters are not supported", path);
    if (!rc) rc = tk_json_opt_str(root, "base_model_name_or_path", "", &bm, NULL, e);
    const char *const must_be_empty[] = {"rank_pattern", "alpha_pattern"};
    for (int i = 0; i < 2 && !rc; i++) {
        json_t *v = json_object_get(root, must_be_empty[i]);
        if (v && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0))
            rc = tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: per-module ranks or alphas are not supported", path, must_be_empty[i]);
    }
    const char *const must_be_null[] = {"layers_to_transform", "modules_to_save"};
    for (int i = 0; i < 2 && !rc; i++) {
        json_t *v = json_object_get(root, must_be_null[i]);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
            rc = tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: not supported (every layer is adapted, no full modules)", path,
                            must_be_null[i]);
    }
    json_t *bias = json_object_get(root, "bias");
    if (!rc && bias && json_is_string(bias) && strcmp(json_string_value(bias), "none"))
        rc = tk_err_set(e, TK_EUNSUPPORTED, "%s: bias: \"%s\" is not supported (only \"none\")", path, json_string_value(bias));
    if (!rc) {
        tm = json_object_get(root, "target_modules");
        if (json_is_string(tm)) {
            if (!strcmp(json_string_value(tm), "all-linear")) c.modules = TK_ENGINE_LORA_ATTN | TK_ENGINE_LORA_MLP;
            else
                rc = tk_err_set(e, TK_EUNSUPPORTED, "%s: target_modules: the pattern \"%s\" is not supported (give a list)",
                                path, json_string_value(tm));
        } else if (json_is_array(tm) && json_array_size(tm) > 0) {
            size_t i;
            json_t *v;
            json_array_foreach(tm, i, v) {
                uint32_t bit;
                if (!json_is_string(v) || module_bit(json_string_value(v), &bit)) {
                    rc = tk_err_set(e, TK_EUNSUPPORTED,
                                    "%s: target_modules[%zu]: %s%s%s is not supported (q_proj, k_proj, v_proj, o_proj, "
                                    "gate_proj, up_proj, down_proj, lm_head)", path, i, json_is_string(v) ? "\"" : "",
                                    json_is_string(v) ? json_string_value(v) : tk_json_type_name(v), json_is_string(v) ? "\"" : "");
                    break;
                }
                c.modules |= bit;
            }
        } else {
            rc = tk_err_set(e, TK_EINVAL, "%s: target_modules: expected a non-empty list of module names", path);
        }
    }
    if (!rc) {
        c.rank = (int32_t)r;
        /* the engine scales by alpha / r; rsLoRA scales by alpha / sqrt(r) */
        c.alpha = rslora ? alpha * sqrt((double)r) : alpha;
        c.seed = 0;
        c.train_attn = (c.modules & TK_ENGINE_LORA_ATTN) != 0;
        c.train_mlp = (c.modules & TK_ENGINE_LORA_MLP) != 0;
        c.train_unembed = (c.modules & TK_ENGINE_LORA_LM_HEAD) != 0;
        *out = c;
        if (base_model && bm_size) snprintf(base_model, bm_size, "%s", bm ? bm : "");
    }
    json_decref(root);
    return rc;
}

/* Find an adapter tensor in the file: "base_model.model.<name>", or with PEFT's adapter name
 * ".default" before ".weight". */
static const tk_st_tensor *find_peft(const tk_st_file *f, const char *name, uint8_t *used) {
    char key[192];
    snprintf(key, sizeof key, PEFT_PREFIX "%s", name);
    const tk_st_tensor *t = tk_st_find(f, key);
    if (!t) {
        size_t n = strlen(key);
        if (n > 7 && !strcmp(key + n - 7, ".weight")) {
            snprintf(key + n - 7, sizeof key - (n - 7), ".default.weight");
            t = tk_st_find(f, key);
        }
    }
    if (t) used[t - f->tensors] = 1;
    return t;
}

int tk_peft_read_weights(tk_engine_adapter *a, const char *path, tk_err *e) {
    tk_st_file f;
    int rc = tk_st_open(path, &f, e);
    if (rc) return rc;
    uint8_t *used = calloc(f.n_tensors ? f.n_tensors : 1, 1);
    if (!used) rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; !rc && i < a->n_tensors; i++) {
        const tk_engine_tensor *t = &a->tensors[i];
        const tk_st_tensor *s = find_peft(&f, t->name, used);
        if (!s) {
            rc = tk_err_set(e, TK_EINVAL, "%s: tensor \"" PEFT_PREFIX "%s\" is missing", path, t->name);
            break;
        }
        if (s->dtype != TK_ENGINE_F32 && s->dtype != TK_ENGINE_F16 && s->dtype != TK_ENGINE_BF16) {
            rc = tk_err_set(e, TK_EINVAL, "%s: tensor \"%s\": dtype %s is not supported (F32, F16 or BF16)", path, s->name,
                            s->dtype_name);
            break;
        }
        if (s->ndim != 2 || s->shape[0] != t->rows || s->shape[1] != t->cols) {
            char got[96] = "";
            size_t k = 0;
            for (int d = 0; d < s->ndim && k < sizeof got - 24; d++)
                k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld", d ? ", " : "", (long long)s->shape[d]);
            rc = tk_err_set(e, TK_EINVAL, "%s: tensor \"%s\" has shape [%s] but the base model and rank need [%d, %d]",
                            path, s->name, got, t->rows, t->cols);
            break;
        }
    }
    for (size_t i = 0; !rc && i < f.n_tensors; i++)
        if (!used[i])
            rc = tk_err_set(e, TK_EINVAL, "%s: unexpected tensor \"%s\" (not a LoRA A/B of a module in target_modules, or "
                                          "a layer the base model does not have)", path, f.tensors[i].name);
    for (size_t i = 0; !rc && i < a->n_tensors; i++) {
        const tk_st_tensor *s = find_peft(&f, a->tensors[i].name, used);
        tk_st_to_f32(s, a->tensors[i].param);
    }
    free(used);
    tk_st_close(&f);
    return rc;
}

int tk_engine_adapter_import_peft(tk_engine_model *m, const char *dir, tk_engine_adapter **out, tk_err *e) {
    return tk_engine_checkpoint_load(m, dir, false, out, e);
}

/* ---- merging -------------------------------------------------------------------------------- */

int tk_engine_adapter_merge_save(const tk_engine_adapter *a, const char *dir, tk_engine_dtype dtype, tk_err *e) {
    const tk_engine_model *m = a->model;
    tk_engine_config cfg = m->cfg;
    const tk_lora_mod *head = &a->mods[(size_t)cfg.num_layers * TK_MODS_PER_LAYER];
    if (cfg.tie_word_embeddings && head->on) cfg.tie_word_embeddings = false;   /* lm_head now differs */
    tk_engine_model *mm;
    int rc = tk_model_alloc(&cfg, &mm, e);
    if (rc) return rc;
    for (size_t i = 0; i < mm->n_entries; i++) {
        const tk_weight_entry *w = &mm->entries[i];
        const float *src = NULL;
        for (size_t k = 0; k < m->n_entries && !src; k++)
            if (!strcmp(m->entries[k].name, w->name)) src = *m->entries[k].slot;
        if (!src && !strcmp(w->name, "lm_head.weight")) src = m->lm_head;   /* was tied */
        if (!src) {
            tk_engine_model_free(mm);
            return tk_err_set(e, TK_EINTERNAL, "merge: no source for %s", w->name);
        }
        memcpy(*w->slot, src, w->numel * sizeof(float));
    }
    /* W[out, in] += s · B[out, r] · A[r, in] */
    const int r = a->cfg.rank;
    for (int l = 0; l <= cfg.num_layers; l++)
        for (int j = 0; j < (l < cfg.num_layers ? TK_MODS_PER_LAYER : 1); j++) {
            const tk_lora_mod *mod = &a->mods[(size_t)l * TK_MODS_PER_LAYER + (size_t)j];
            if (!mod->on) continue;
            float *W;
            if (l == cfg.num_layers) W = mm->lm_head;
            else {
                tk_layer_weights *L = &mm->layers[l];
                float *const ws[TK_MODS_PER_LAYER] = {L->wq, L->wk, L->wv, L->wo, L->wg, L->wu, L->wd};
                W = ws[j];
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mod->out, mod->in, r, a->scale, mod->B, r, mod->A,
                        mod->in, 1.0f, W, mod->in);
        }
    rc = tk_engine_model_save(mm, dir, dtype, e);
    tk_engine_model_free(mm);
    return rc;
}
