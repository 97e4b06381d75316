/* The five loss functions' contracts (§6.4, §6.8): names, inputs, config keys and defaults. */
#include "wire_internal.h"

#include <stdio.h>
#include <string.h>

static const char *const k_ce_inputs[] = {"target_tokens", "weights", NULL};
static const tk_wire_dtype k_ce_dtypes[] = {TK_WIRE_INT64, TK_WIRE_FLOAT32};
static const char *const k_rl_inputs[] = {"target_tokens", "logprobs", "advantages", NULL};
static const tk_wire_dtype k_rl_dtypes[] = {TK_WIRE_INT64, TK_WIRE_FLOAT32, TK_WIRE_FLOAT32};
static const char *const k_no_names[] = {NULL};
/* weights for the RL losses and per-token clip thresholds are accepted, not required: the SDK
 * types them (datum.py) although the docs do not list them (§6.2, open question 4) */
static const char *const k_rl_optional[] = {"weights", NULL};
static const char *const k_clip_optional[] = {"weights", "clip_low_threshold", "clip_high_threshold", NULL};
static const char *const k_clip_keys[] = {"clip_low_threshold", "clip_high_threshold", NULL};
static const double k_clip_defaults[] = {0.8, 1.2};
static const char *const k_dro_keys[] = {"beta", NULL};
static const double k_dro_defaults[] = {0.05};

static const tk_wire_loss_fn_info k_info[TK_WIRE_LOSS_COUNT_] = {
    {"cross_entropy", k_ce_inputs, k_ce_dtypes, k_no_names, k_no_names, NULL},
    {"importance_sampling", k_rl_inputs, k_rl_dtypes, k_rl_optional, k_no_names, NULL},
    {"ppo", k_rl_inputs, k_rl_dtypes, k_clip_optional, k_clip_keys, k_clip_defaults},
    {"cispo", k_rl_inputs, k_rl_dtypes, k_clip_optional, k_clip_keys, k_clip_defaults},
    {"dro", k_rl_inputs, k_rl_dtypes, k_rl_optional, k_dro_keys, k_dro_defaults},
};

const tk_wire_loss_fn_info *tk_wire_loss_fn_get_info(tk_wire_loss_fn fn) {
    if ((int)fn < 0 || fn >= TK_WIRE_LOSS_COUNT_) return NULL;
    return &k_info[fn];
}

const char *tk_wire_loss_fn_name(tk_wire_loss_fn fn) {
    const tk_wire_loss_fn_info *i = tk_wire_loss_fn_get_info(fn);
    return i ? i->name : "?";
}

int tk_wire_loss_fn_parse(const char *name, tk_wire_loss_fn *out, tk_err *e) {
    for (int i = 0; i < TK_WIRE_LOSS_COUNT_; i++)
        if (strcmp(k_info[i].name, name) == 0) {
            *out = (tk_wire_loss_fn)i;
            return 0;
        }
    return tk_err_set(e, TK_EINVAL,
                      "unknown loss function \"%s\" (expected cross_entropy, importance_sampling, ppo, cispo "
                      "or dro)", name);
}

int tk_wire_loss_config_value(tk_wire_loss_fn fn, const tk_wire_f64_map *cfg, const char *key, double *out,
                              tk_err *e) {
    const tk_wire_loss_fn_info *info = tk_wire_loss_fn_get_info(fn);
    if (!info) return tk_err_set(e, TK_EINVAL, "invalid loss function %d", (int)fn);
    for (int i = 0; info->config_keys[i]; i++) {
        if (strcmp(info->config_keys[i], key) != 0) continue;
        const double *v = cfg && cfg->present ? tk_wire_f64_map_get(cfg, key) : NULL;
        *out = v ? *v : info->config_defaults[i];
        return 0;
    }
    return tk_err_set(e, TK_EINVAL, "loss_fn_config: %s takes no key \"%s\"", info->name, key);
}

int tk_wire_loss_config_check(tk_wire_loss_fn fn, const tk_wire_f64_map *cfg, tk_err *e) {
    const tk_wire_loss_fn_info *info = tk_wire_loss_fn_get_info(fn);
    if (!info) return tk_err_set(e, TK_EINVAL, "invalid loss function %d", (int)fn);
    if (!cfg || !cfg->present) return 0;
    for (size_t j = 0; j < cfg->n; j++) {
        bool ok = false;
        for (int i = 0; info->config_keys[i]; i++)
            if (strcmp(info->config_keys[i], cfg->items[j].key) == 0) ok = true;
        if (!ok) return tk_err_set(e, TK_EINVAL, "loss_fn_config: %s takes no key \"%s\"", info->name, cfg->items[j].key);
    }
    return 0;
}

static bool in_list(const char *const *list, const char *s) {
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

int tk_wire_datum_check(const tk_wire_datum *d, tk_wire_loss_fn fn, const char *where, tk_err *e) {
    const tk_wire_loss_fn_info *info = tk_wire_loss_fn_get_info(fn);
    if (!info) return tk_err_set(e, TK_EINVAL, "invalid loss function %d", (int)fn);
    if (!where) where = "datum";
    int64_t len;
    int rc = tk_wire_model_input_length(&d->model_input, &len, e);
    if (rc) return tk_err_prefix(e, "%s.model_input.", where);
    for (int i = 0; info->required_inputs[i]; i++)
        if (!tk_wire_tensor_map_get(&d->loss_fn_inputs, info->required_inputs[i]))
            return tk_err_set(e, TK_EINVAL, "%s.loss_fn_inputs: %s needs \"%s\"", where, info->name,
                              info->required_inputs[i]);
    for (size_t j = 0; j < d->loss_fn_inputs.n; j++) {
        const tk_wire_named_tensor *nt = &d->loss_fn_inputs.items[j];
        char name[256];
        snprintf(name, sizeof name, "%s.loss_fn_inputs.%s", where, nt->name);
        tk_wire_dtype want = TK_WIRE_FLOAT32;
        bool known = false;
        for (int i = 0; info->required_inputs[i]; i++)
            if (strcmp(info->required_inputs[i], nt->name) == 0) { known = true; want = info->input_dtypes[i]; }
        if (!known && in_list(info->optional_inputs, nt->name)) known = true;
        if (!known) return tk_err_set(e, TK_EINVAL, "%s: %s does not take this input", name, info->name);
        int64_t dims[1] = {len};
        if ((rc = tk_wire_tensor_check_shape(&nt->tensor, name, want, 1, dims, e))) return rc;
    }
    return 0;
}
