/* Environments by name: the built-in ones, and those a program registers at run time
 * (tk_rl_env_register) — so a new environment is one C file, in the tree or in your program. */
#include "tinkerc/rl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct env_entry {
    const char *name;
    tk_rl_dataset_ctor make;
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

#define MAX_CUSTOM 32
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static env_entry g_custom[MAX_CUSTOM];   /* names strdup'd, kept for the process's life */
static size_t g_n_custom;

const char *const *tk_rl_env_names(void) { return k_names; }

/* Copy of the entry for name (false when unknown). */
static bool find(const char *name, env_entry *out) {
    for (size_t i = 0; name && i < N_ENVS; i++)
        if (!strcmp(k_envs[i].name, name)) {
            *out = k_envs[i];
            return true;
        }
    bool found = false;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; name && i < g_n_custom && !found; i++)
        if (!strcmp(g_custom[i].name, name)) {
            *out = g_custom[i];
            found = true;
        }
    pthread_mutex_unlock(&g_lock);
    return found;
}

int tk_rl_env_register(const char *name, tk_rl_dataset_ctor make, int64_t default_max_tokens, tk_err *e) {
    if (!name || !*name || !make || default_max_tokens < 1)
        return tk_err_set(e, TK_EINVAL, "tk_rl_env_register: a name, a constructor and default_max_tokens >= 1 are needed");
    env_entry x;
    if (find(name, &x)) return tk_err_set(e, TK_EEXIST, "environment \"%s\" already exists", name);
    char *copy = tk_strdup(name);
    if (!copy) return tk_err_set(e, TK_ENOMEM, "out of memory");
    int rc = 0;
    pthread_mutex_lock(&g_lock);
    if (g_n_custom == MAX_CUSTOM) rc = tk_err_set(e, TK_ENOMEM, "more than %d registered environments", MAX_CUSTOM);
    else g_custom[g_n_custom++] = (env_entry){copy, make, default_max_tokens};
    pthread_mutex_unlock(&g_lock);
    if (rc) free(copy);
    return rc;
}

int64_t tk_rl_env_default_max_tokens(const char *env) {
    env_entry x;
    return find(env, &x) ? x.default_max_tokens : 256;
}

/* "arithmetic, math, gsm8k, guess_number[, registered ...]" */
static void known_names(char *buf, size_t n) {
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_ENVS && at < n; i++) at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? ", " : "", k_envs[i].name);
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_n_custom && at < n; i++) at += (size_t)snprintf(buf + at, n - at, ", %s", g_custom[i].name);
    pthread_mutex_unlock(&g_lock);
}

int tk_rl_dataset_new(const tk_rl_env_config *c, tk_rl_dataset **out, tk_err *e) {
    *out = NULL;
    env_entry x;
    if (!find(c->env, &x)) {
        char names[512];
        known_names(names, sizeof names);
        return tk_err_set(e, TK_EINVAL, "env=%s: unknown environment (known: %s)", c->env ? c->env : "(none)", names);
    }
    if (!c->renderer) return tk_err_set(e, TK_EINVAL, "env=%s: a renderer is required", c->env);
    if (c->group_size < 1) return tk_err_set(e, TK_EINVAL, "group_size=%lld: must be >= 1", (long long)c->group_size);
    if (c->groups_per_batch < 1)
        return tk_err_set(e, TK_EINVAL, "groups_per_batch=%lld: must be >= 1", (long long)c->groups_per_batch);
    if (!(c->format_coef >= 0)) return tk_err_set(e, TK_EINVAL, "format_coef=%g: must be >= 0", c->format_coef);
    int rc = x.make(c, out, e);
    if (!rc && (!*out || !(*out)->ops || !(*out)->ops->n_batches || !(*out)->ops->get_batch || !(*out)->ops->free))
        rc = tk_err_set(e, TK_EINTERNAL, "env=%s: its constructor returned no dataset or an incomplete one", c->env);
    return rc;
}
