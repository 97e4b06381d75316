/* The cookbook's learning-rate recommendation and LR schedules. */
#include "tinkerc/cookbook.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

/* Hidden sizes of the models the cookbook knows (its hyperparam table). */
static const struct {
    const char *name;
    int64_t hidden;
} k_hidden[] = {
    {"meta-llama/Llama-3.2-1B", 2048},         {"meta-llama/Llama-3.2-1B-Instruct", 2048},
    {"meta-llama/Llama-3.2-3B", 3072},         {"meta-llama/Llama-3.2-3B-Instruct", 3072},
    {"meta-llama/Llama-3.1-8B", 4096},         {"meta-llama/Llama-3.1-8B-Instruct", 4096},
    {"meta-llama/Llama-3.1-70B", 8192},        {"meta-llama/Llama-3.3-70B-Instruct", 8192},
    {"Qwen/Qwen3-8B", 4096},                   {"Qwen/Qwen3-8B-Base", 4096},
    {"Qwen/Qwen3-32B", 5120},                  {"Qwen/Qwen3-30B-A3B", 2048},
    {"Qwen/Qwen3-30B-A3B-Base", 2048},         {"Qwen/Qwen3-30B-A3B-Instruct-2507", 2048},
    {"Qwen/Qwen3-4B-Instruct-2507", 2560},     {"Qwen/Qwen3-235B-A22B-Instruct-2507", 4096},
    {"Qwen/Qwen3.5-4B", 2560},                 {"Qwen/Qwen3.5-9B", 4096},
    {"Qwen/Qwen3.5-9B-Base", 4096},            {"Qwen/Qwen3.5-27B", 5120},
    {"Qwen/Qwen3.5-35B-A3B", 2048},            {"Qwen/Qwen3.5-35B-A3B-Base", 2048},
    {"Qwen/Qwen3-0.6B", 1024},                 {"Qwen/Qwen3-1.7B", 2048},
    {"Qwen/Qwen3-4B", 2560},                   {"Qwen/Qwen3-14B", 5120},
};

/* Copy of name without a ":suffix". */
static void base_name(const char *name, char *out, size_t n) {
    snprintf(out, n, "%s", name);
    char *colon = strchr(out, ':');
    if (colon) *colon = '\0';
}

int64_t tk_model_hidden_size(const char *model_name) {
    char name[256];
    base_name(model_name, name, sizeof name);
    for (size_t i = 0; i < sizeof k_hidden / sizeof k_hidden[0]; i++)
        if (!strcmp(k_hidden[i].name, name)) return k_hidden[i].hidden;
    return 0;
}

static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == needle[i]) i++;
        if (i == n) return true;
    }
    return false;
}

int tk_get_lr(const char *model_name, const char *family_hint, int64_t hidden_size, bool is_lora,
              double *lr_out, tk_err *e) {
    char name[256];
    base_name(model_name, name, sizeof name);
    double exponent;
    /* the name decides, as upstream; a local model directory's config.json names the family */
    if (contains_ci(name, "llama")) exponent = 0.781;
    else if (contains_ci(name, "qwen")) exponent = 0.0775;
    else if (family_hint && contains_ci(family_hint, "llama")) exponent = 0.781;
    else if (family_hint && contains_ci(family_hint, "qwen")) exponent = 0.0775;
    else
        return tk_err_set(e, TK_EUNSUPPORTED,
                          "no learning-rate formula for model \"%s\" (the cookbook has one for Llama and "
                          "Qwen models only); pass learning_rate=...", model_name);
    if (hidden_size <= 0) hidden_size = tk_model_hidden_size(name);
    if (hidden_size <= 0)
        return tk_err_set(e, TK_ENOTFOUND,
                          "hidden size of model \"%s\" is unknown; pass learning_rate=...", model_name);
    double lr = 5e-5 * (is_lora ? 10.0 : 1.0) * pow(2000.0 / (double)hidden_size, exponent);
    *lr_out = lr;
    return 0;
}

int tk_lr_schedule_parse(const char *name, tk_lr_schedule *out, tk_err *e) {
    if (!strcmp(name, "linear")) *out = TK_LR_LINEAR;
    else if (!strcmp(name, "cosine")) *out = TK_LR_COSINE;
    else if (!strcmp(name, "constant")) *out = TK_LR_CONSTANT;
    else return tk_err_set(e, TK_EINVAL, "lr_schedule=%s: must be linear, cosine or constant", name);
    return 0;
}

double tk_lr_multiplier(tk_lr_schedule s, int64_t step, int64_t total_steps) {
    if (total_steps <= 0) return 1.0;
    double frac = (double)step / (double)total_steps;
    switch (s) {
    case TK_LR_LINEAR: return 1.0 - frac;
    case TK_LR_COSINE: return 0.5 * (1.0 + cos(M_PI * frac));
    case TK_LR_CONSTANT: return 1.0;
    }
    return 1.0;
}
