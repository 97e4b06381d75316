/* Checkpoints: a PEFT adapter directory (so a sampler checkpoint loads in PEFT as is) plus, for
 * the training state, optimizer.safetensors (AdamW moments and any pending gradient), and
 * tinkerc_checkpoint.json. Written under a temporary name and renamed into place. */
#include "peft.h"
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define META_FILE "tinkerc_checkpoint.json"
#define OPT_FILE "optimizer.safetensors"
#define FORMAT_NAME "tinkerc-lora-checkpoint"

static const char *kind_name(tk_engine_ckpt_kind k) {
    return k == TK_ENGINE_CKPT_STATE ? "training_state" : k == TK_ENGINE_CKPT_SAMPLER ? "sampler_weights" : "peft";
}

/* ---- saving --------------------------------------------------------------------------------- */

static int write_meta(const tk_engine_adapter *a, const char *path, tk_engine_ckpt_kind kind, const char *base_model,
                      tk_err *e) {
    const tk_engine_config *c = &a->model->cfg;
    json_t *o = json_object(), *mo = json_object(), *lo = json_object();
    int rc = !o || !mo || !lo;
    char when[40];
    tk_iso8601_utc(tk_wall_s(), when, sizeof when);
    rc |= tk_json_set_new(o, "format", json_string(FORMAT_NAME));
    rc |= tk_json_set_new(o, "version", json_integer(1));
    rc |= tk_json_set_new(o, "kind", json_string(kind_name(kind)));
    rc |= tk_json_set_new(o, "base_model", json_string(base_model ? base_model : ""));
    rc |= tk_json_set_new(mo, "arch", json_string(tk_engine_arch_name(c->arch)));
    rc |= tk_json_set_new(mo, "vocab_size", json_integer(c->vocab_size));
    rc |= tk_json_set_new(mo, "hidden_size", json_integer(c->hidden_size));
    rc |= tk_json_set_new(mo, "intermediate_size", json_integer(c->intermediate_size));
    rc |= tk_json_set_new(mo, "num_hidden_layers", json_integer(c->num_layers));
    rc |= tk_json_set_new(mo, "num_attention_heads", json_integer(c->num_heads));
    rc |= tk_json_set_new(mo, "num_key_value_heads", json_integer(c->num_kv_heads));
    rc |= tk_json_set_new(mo, "head_dim", json_integer(c->head_dim));
    rc |= tk_json_set_new(o, "model", mo);
    rc |= tk_json_set_new(lo, "rank", json_integer(a->cfg.rank));
    rc |= tk_json_set_new(lo, "alpha", json_real(a->cfg.alpha));
    /* the seed as a string: JSON numbers lose 64-bit integers in many readers */
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)a->cfg.seed);
    rc |= tk_json_set_new(lo, "seed", json_string(seed));
    rc |= tk_json_set_new(lo, "train_attn", json_boolean(a->cfg.train_attn));
    rc |= tk_json_set_new(lo, "train_mlp", json_boolean(a->cfg.train_mlp));
    rc |= tk_json_set_new(lo, "train_unembed", json_boolean(a->cfg.train_unembed));
    rc |= tk_json_set_new(lo, "modules", json_integer(a->cfg.modules));
    rc |= tk_json_set_new(o, "lora", lo);
    rc |= tk_json_set_new(o, "step", json_integer(kind == TK_ENGINE_CKPT_STATE ? a->step : 0));
    rc |= tk_json_set_new(o, "pending_tokens", json_integer(kind == TK_ENGINE_CKPT_STATE ? a->pending_tokens : 0));
    rc |= tk_json_set_new(o, "created", json_string(when));
    tk_buf b = {0};
    if (!rc) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        rc = !s || tk_buf_puts(&b, s) || tk_buf_putc(&b, '\n');
        free(s);
    }
    json_decref(o);
    if (rc) {
        tk_buf_free(&b);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
    }
    rc = tk_file_write_atomic(path, b.data, b.len, 0644, e);
    tk_buf_free(&b);
    return rc;
}

static int write_optimizer(const tk_engine_adapter *a, const char *path, tk_err *e) {
    bool grads = a->pending_tokens > 0;
    size_t per = grads ? 3 : 2, n = a->n_tensors * per;
    tk_st_out *outs = calloc(n ? n : 1, sizeof *outs);
    char (*names)[160] = calloc(n ? n : 1, sizeof *names);
    if (!outs || !names) {
        free(outs);
        free(names);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", path);
    }
    static const char *const suffix[3] = {"exp_avg", "exp_avg_sq", "grad"};
    for (size_t i = 0; i < a->n_tensors; i++) {
        const tk_engine_tensor *t = &a->tensors[i];
        const float *data[3] = {t->m, t->v, t->grad};
        for (size_t k = 0; k < per; k++) {
            size_t o = i * per + k;
            snprintf(names[o], sizeof names[o], "base_model.model.%s.%s", t->name, suffix[k]);
            outs[o] = (tk_st_out){names[o], 2, {t->rows, t->cols}, data[k]};
        }
    }
    int rc = tk_st_write(path, outs, n, TK_ENGINE_F32, e);
    free(outs);
    free(names);
    return rc;
}

static char *sibling(const char *dir, const char *tag) {
    char rnd[37];
    tk_uuid4(rnd);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    char *p = malloc(n + 64);
    if (p) snprintf(p, n + 64, "%.*s.%s-%.8s", (int)n, dir, tag, rnd);
    return p;
}

int tk_engine_checkpoint_save(tk_engine_adapter *a, const char *dir, tk_engine_ckpt_kind kind, const char *base_model,
                              bool overwrite, tk_err *e) {
    if (kind != TK_ENGINE_CKPT_STATE && kind != TK_ENGINE_CKPT_SAMPLER)
        return tk_err_set(e, TK_EINVAL, "checkpoint: unknown kind %d", (int)kind);
    if (!dir || !*dir) return tk_err_set(e, TK_EINVAL, "checkpoint: empty directory name");
    if (tk_path_exists(dir) && !overwrite) return tk_err_set(e, TK_EEXIST, "checkpoint %s: already exists", dir);
    char *tmp = sibling(dir, "tmp"), *old = sibling(dir, "old");
    char *st = NULL, *cj = NULL, *opt = NULL, *meta = NULL, *parent = NULL;
    tk_buf cfg = {0};
    int rc = 0;
    if (!tmp || !old) {
        rc = tk_err_set(e, TK_ENOMEM, "checkpoint: out of memory");
        goto done;
    }
    st = tk_path_join(tmp, "adapter_model.safetensors");
    cj = tk_path_join(tmp, "adapter_config.json");
    opt = tk_path_join(tmp, OPT_FILE);
    meta = tk_path_join(tmp, META_FILE);
    parent = tk_strdup(dir);
    if (!st || !cj || !opt || !meta || !parent || tk_peft_config_json(&a->cfg, base_model, &cfg)) {
        rc = tk_err_set(e, TK_ENOMEM, "checkpoint: out of memory");
        goto done;
    }
    char *slash = strrchr(parent, '/');
    if (slash == parent) slash[1] = 0;
    else if (slash) *slash = 0;
    else strcpy(parent, ".");
    if ((rc = tk_mkdir_p(parent, 0755, e)) || (rc = tk_mkdir_p(tmp, 0755, e))) goto done;
    rc = tk_peft_write_weights(a, st, TK_ENGINE_F32, e);
    if (!rc) rc = tk_file_write_atomic(cj, cfg.data, cfg.len, 0644, e);
    if (!rc && kind == TK_ENGINE_CKPT_STATE) rc = write_optimizer(a, opt, e);
    if (!rc) rc = write_meta(a, meta, kind, base_model, e);
    if (!rc) rc = tk_fsync_dir(tmp, e);
    if (rc) goto cleanup;
    bool had = tk_path_exists(dir);
    if (had && rename(dir, old)) {
        rc = tk_err_set(e, TK_EIO, "checkpoint %s: cannot move the old checkpoint aside: %s", dir, strerror(errno));
        goto cleanup;
    }
    if (rename(tmp, dir)) {
        rc = tk_err_set(e, TK_EIO, "checkpoint %s: cannot rename %s into place: %s", dir, tmp, strerror(errno));
        if (had) (void)rename(old, dir);
        goto cleanup;
    }
    rc = tk_fsync_dir(parent, e);
    if (had) {
        tk_err ie = {0};
        if (tk_remove_tree(old, &ie)) tk_warn("checkpoint %s: could not remove the old copy: %s", dir, ie.msg);
    }
    goto done;
cleanup: {
        tk_err ie = {0};
        (void)tk_remove_tree(tmp, &ie);
    }
done:
    free(tmp);
    free(old);
    free(st);
    free(cj);
    free(opt);
    free(meta);
    free(parent);
    tk_buf_free(&cfg);
    return rc;
}

/* ---- reading -------------------------------------------------------------------------------- */

typedef struct meta {
    bool present;
    tk_engine_ckpt_kind kind;
    char base_model[512];
    int64_t step, pending_tokens;
    uint64_t seed;
    int64_t model[8];   /* vocab, hidden, intermediate, layers, heads, kv heads, head_dim; arch in [7] */
} meta;

static const char *const MODEL_KEYS[7] = {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                          "num_attention_heads", "num_key_value_heads", "head_dim"};

static int read_meta(const char *dir, meta *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    char *path = tk_path_join(dir, META_FILE);
    if (!path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!tk_path_exists(path)) {
        free(path);
        return 0;   /* a plain PEFT directory */
    }
    json_t *root = NULL, *mo = NULL;
    const char *fmt = NULL, *kind = NULL, *bm = NULL, *arch = NULL, *seed = NULL;
    json_t *lo = NULL;
    int rc = tk_json_load_file(path, &root, e);
    if (!rc && !json_is_object(root)) rc = tk_err_set(e, TK_EPARSE, "expected a JSON object");
    if (!rc) rc = tk_json_get_str(root, "format", "", &fmt, e);
    if (!rc && strcmp(fmt, FORMAT_NAME)) rc = tk_err_set(e, TK_EINVAL, "format: \"%s\" is not " FORMAT_NAME, fmt);
    if (!rc) rc = tk_json_get_str(root, "kind", "", &kind, e);
    if (!rc) {
        if (!strcmp(kind, "training_state")) out->kind = TK_ENGINE_CKPT_STATE;
        else if (!strcmp(kind, "sampler_weights")) out->kind = TK_ENGINE_CKPT_SAMPLER;
        else rc = tk_err_set(e, TK_EINVAL, "kind: unknown kind \"%s\"", kind);
    }
    if (!rc) rc = tk_json_get_str(root, "base_model", "", &bm, e);
    if (!rc) rc = tk_json_get_i64(root, "step", "", &out->step, e);
    if (!rc) rc = tk_json_get_i64(root, "pending_tokens", "", &out->pending_tokens, e);
    if (!rc && (out->step < 0 || out->pending_tokens < 0)) rc = tk_err_set(e, TK_EINVAL, "step / pending_tokens: negative");
    if (!rc) rc = tk_json_get_obj(root, "model", "", &mo, e);
    if (!rc) rc = tk_json_get_str(mo, "arch", "model", &arch, e);
    for (int i = 0; i < 7 && !rc; i++) rc = tk_json_get_i64(mo, MODEL_KEYS[i], "model", &out->model[i], e);
    if (!rc) rc = tk_json_get_obj(root, "lora", "", &lo, e);
    if (!rc) rc = tk_json_get_str(lo, "seed", "lora", &seed, e);
    if (!rc) {
        char *end;
        errno = 0;
        out->seed = strtoull(seed, &end, 10);
        if (errno || *end || !*seed) rc = tk_err_set(e, TK_EINVAL, "lora.seed: \"%s\" is not an unsigned integer", seed);
    }
    if (!rc) {
        out->model[7] = tk_engine_arch_from_name(arch);
        snprintf(out->base_model, sizeof out->base_model, "%s", bm);
        out->present = true;
    } else {
        tk_err_prefix(e, "%s: ", path);
    }
    json_decref(root);
    free(path);
    return rc;
}

int tk_engine_checkpoint_info(const char *dir, tk_engine_ckpt_info *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    if (!tk_path_is_dir(dir)) return tk_err_set(e, TK_ENOTFOUND, "checkpoint %s: no such directory", dir);
    meta mt;
    int rc = read_meta(dir, &mt, e);
    if (!rc) rc = tk_peft_parse_config(dir, &out->lora, out->base_model, sizeof out->base_model, e);
    if (rc) return rc;
    if (mt.present) {
        out->kind = mt.kind;
        if (mt.base_model[0]) snprintf(out->base_model, sizeof out->base_model, "%s", mt.base_model);
        out->step = mt.step;
        out->lora.seed = mt.seed;
        char *opt = tk_path_join(dir, OPT_FILE);
        out->has_optimizer = opt && tk_path_exists(opt);
        free(opt);
    }
    return 0;
}

/* Restore moments (and the pending gradient, when saved) from optimizer.safetensors. */
static int read_optimizer(tk_engine_adapter *a, const char *path, int64_t pending, tk_err *e) {
    tk_st_file f;
    int rc = tk_st_open(path, &f, e);
    if (rc) return rc;
    static const char *const suffix[3] = {"exp_avg", "exp_avg_sq", "grad"};
    size_t per = pending > 0 ? 3 : 2;
    if (f.n_tensors != a->n_tensors * per)
        rc = tk_err_set(e, TK_EINVAL, "%s: %zu tensors, expected %zu (%zu LoRA tensors x %s)", path, f.n_tensors,
                        a->n_tensors * per, a->n_tensors, per == 3 ? "exp_avg, exp_avg_sq, grad" : "exp_avg, exp_avg_sq");
    /* check everything first, so a failure changes nothing */
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (size_t i = 0; i < a->n_tensors && !rc; i++) {
            const tk_engine_tensor *t = &a->tensors[i];
            float *dst[3] = {t->m, t->v, t->grad};
            for (size_t k = 0; k < per && !rc; k++) {
                char key[192];
                snprintf(key, sizeof key, "base_model.model.%s.%s", t->name, suffix[k]);
                const tk_st_tensor *s = tk_st_find(&f, key);
                if (!s) rc = tk_err_set(e, TK_EINVAL, "%s: tensor \"%s\" is missing", path, key);
                else if (s->dtype != TK_ENGINE_F32 || s->ndim != 2 || s->shape[0] != t->rows || s->shape[1] != t->cols)
                    rc = tk_err_set(e, TK_EINVAL, "%s: tensor \"%s\" must be F32 [%d, %d]", path, key, t->rows, t->cols);
                else if (pass == 1)
                    tk_st_to_f32(s, dst[k]);
            }
        }
    tk_st_close(&f);
    return rc;
}

static int check_model(const tk_engine_model *m, const meta *mt, const char *dir, tk_err *e) {
    if (!mt->present) return 0;
    const tk_engine_config *c = &m->cfg;
    const int64_t have[7] = {c->vocab_size, c->hidden_size, c->intermediate_size, c->num_layers,
                             c->num_heads, c->num_kv_heads, c->head_dim};
    if (mt->model[7] != c->arch)
        return tk_err_set(e, TK_EINVAL, "checkpoint %s: saved for a %s model, this base model is %s", dir,
                          tk_engine_arch_name((tk_engine_arch)mt->model[7]), tk_engine_arch_name(c->arch));
    for (int i = 0; i < 7; i++)
        if (mt->model[i] != have[i])
            return tk_err_set(e, TK_EINVAL, "checkpoint %s: saved for a base model with %s = %lld, this one has %lld",
                              dir, MODEL_KEYS[i], (long long)mt->model[i], (long long)have[i]);
    return 0;
}

int tk_engine_checkpoint_load(tk_engine_model *m, const char *dir, bool with_optimizer, tk_engine_adapter **out,
                              tk_err *e) {
    *out = NULL;
    if (!tk_path_is_dir(dir)) return tk_err_set(e, TK_ENOTFOUND, "checkpoint %s: no such directory", dir);
    meta mt;
    tk_engine_lora_config lc;
    int rc = read_meta(dir, &mt, e);
    if (!rc) rc = check_model(m, &mt, dir, e);
    if (!rc) rc = tk_peft_parse_config(dir, &lc, NULL, 0, e);
    if (rc) return rc;
    char *opt = tk_path_join(dir, OPT_FILE), *st = tk_path_join(dir, "adapter_model.safetensors");
    if (!opt || !st) {
        free(opt);
        free(st);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (with_optimizer && (!mt.present || mt.kind != TK_ENGINE_CKPT_STATE || !tk_path_exists(opt)))
        rc = tk_err_set(e, TK_EINVAL, "checkpoint %s: has no optimizer state (%s); load it without the optimizer", dir,
                        mt.present ? "a sampler checkpoint" : "a PEFT adapter");
    if (mt.present) lc.seed = mt.seed;
    tk_engine_adapter *a = NULL;
    if (!rc) rc = tk_engine_adapter_new(m, &lc, &a, e);
    if (!rc) rc = tk_peft_read_weights(a, st, e);
    if (!rc && with_optimizer) {
        rc = read_optimizer(a, opt, mt.pending_tokens, e);
        a->step = mt.step;
        a->pending_tokens = mt.pending_tokens;
    }
    free(opt);
    free(st);
    if (rc) {
        tk_engine_adapter_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int tk_engine_checkpoint_load_into(tk_engine_adapter *a, const char *dir, bool with_optimizer, tk_err *e) {
    tk_engine_adapter *b;
    int rc = tk_engine_checkpoint_load(a->model, dir, with_optimizer, &b, e);
    if (rc) return rc;
    if (b->cfg.rank != a->cfg.rank || b->cfg.modules != a->cfg.modules) {
        rc = tk_err_set(e, TK_EINVAL,
                        "checkpoint %s: rank %d / modules 0x%x do not match this model's LoRA (rank %d, modules 0x%x)",
                        dir, b->cfg.rank, b->cfg.modules, a->cfg.rank, a->cfg.modules);
        tk_engine_adapter_free(b);
        return rc;
    }
    memcpy(a->params, b->params, a->n_params * sizeof(float));
    memcpy(a->grads, b->grads, a->n_params * sizeof(float));
    memcpy(a->m, b->m, a->n_params * sizeof(float));
    memcpy(a->v, b->v, a->n_params * sizeof(float));
    a->step = b->step;
    a->pending_tokens = b->pending_tokens;
    a->cfg.alpha = b->cfg.alpha;
    a->cfg.seed = b->cfg.seed;
    a->scale = b->scale;
    tk_engine_adapter_free(b);
    return 0;
}
