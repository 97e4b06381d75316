/* The built-in environments by name. Adding one: write env_<name>.c with a
 * tk_rl_<name>_dataset_new, declare it in rl.h and add a row here (docs/rl.md). */
#include "tinkerc/rl.h"

#include <string.h>

typedef struct env_entry {
    const char *name;
    int (*make)(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e);
    int64_t default_max_tokens;
} env_entry;

static const env_entry k_envs[] = {
    {"arithmetic", tk_rl_arithmetic_dataset_new, 5},   /* upstream's recipe default */
    {"math", tk_rl_math_dataset_new, 512},
    {"gsm8k", tk_rl_gsm8k_dataset_new, 512},
    {"guess_number", tk_rl_guess_number_dataset_new, 8},
};
#define N_ENVS (sizeof k_envs / sizeof k_envs[0])

static const char *const k_names[] = {"arithmetic", "math", "gsm8k", "guess_number", NULL};

const char *const *tk_rl_env_names(void) { return k_names; }

static const env_entry *find(const char *name) {
    for (size_t i = 0; name && i < N_ENVS; i++)
        if (!strcmp(k_envs[i].name, name)) return &k_envs[i];
    return NULL;
}

int64_t tk_rl_env_default_max_tokens(const char *env) {
    const env_entry *x = find(env);
    return x ? x->default_max_tokens : 256;
}

int tk_rl_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) {
    *out = NULL;
    const env_entry *x = find(c->env);
    if (!x) return tk_err_set(e, TK_EINVAL, "env=%s: unknown environment (known: arithmetic, math, gsm8k, guess_number)",
                              c->env ? c->env : "(none)");
    if (!c->renderer) return tk_err_set(e, TK_EINVAL, "env=%s: a renderer is required", c->env);
    if (c->group_size < 1) return tk_err_set(e, TK_EINVAL, "group_size=%lld: must be >= 1", (long long)c->group_size);
    if (c->groups_per_batch < 1)
        return tk_err_set(e, TK_EINVAL, "groups_per_batch=%lld: must be >= 1", (long long)c->groups_per_batch);
    if (!(c->format_coef >= 0)) return tk_err_set(e, TK_EINVAL, "format_coef=%g: must be >= 0", c->format_coef);
    return x->make(c, out, e);
}
