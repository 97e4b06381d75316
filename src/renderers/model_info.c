/* The cookbook's model table (model_info.py): model name → recommended renderers, most
 * recommended first. */
#include "internal.h"

#define R(...) (const char *const[]){__VA_ARGS__, NULL}


typedef struct model_entry {
    const char *name;
    const char *const *renderers;
} model_entry;

static const model_entry MODELS[] = {
    {"meta-llama/Llama-3.1-8B-Instruct", R("llama3")},
    {"meta-llama/Llama-3.2-1B", R("role_colon")},
    {"meta-llama/Llama-3.2-3B", R("role_colon")},
    {"meta-llama/Llama-3.1-8B", R("role_colon")},
    {"meta-llama/Llama-3.1-70B", R("role_colon")},
    {"meta-llama/Llama-3.3-70B-Instruct", R("llama3")},
    {"Qwen/Qwen3-VL-30B-A3B-Instruct", R("qwen3_vl_instruct")},
    {"Qwen/Qwen3-VL-235B-A22B-Instruct", R("qwen3_vl_instruct")},
    {"Qwen/Qwen3-8B-Base", R("role_colon")},
    {"Qwen/Qwen3-30B-A3B-Base", R("role_colon")},
    {"Qwen/Qwen3-8B", R("qwen3", "qwen3_disable_thinking")},
    {"Qwen/Qwen3-32B", R("qwen3", "qwen3_disable_thinking")},
    {"Qwen/Qwen3-30B-A3B", R("qwen3", "qwen3_disable_thinking")},
    {"Qwen/Qwen3-4B-Instruct-2507", R("qwen3_instruct")},
    {"Qwen/Qwen3-30B-A3B-Instruct-2507", R("qwen3_instruct")},
    {"Qwen/Qwen3-235B-A22B-Instruct-2507", R("qwen3_instruct")},
    {"Qwen/Qwen3.5-4B", R("qwen3_5", "qwen3_5_disable_thinking")},
    {"Qwen/Qwen3.5-9B", R("qwen3_5", "qwen3_5_disable_thinking")},
    {"Qwen/Qwen3.5-9B-Base", R("role_colon")},
    {"Qwen/Qwen3.5-27B", R("qwen3_5", "qwen3_5_disable_thinking")},
    {"Qwen/Qwen3.5-35B-A3B", R("qwen3_5", "qwen3_5_disable_thinking")},
    {"Qwen/Qwen3.5-35B-A3B-Base", R("role_colon")},
    {"Qwen/Qwen3.5-397B-A17B", R("qwen3_5", "qwen3_5_disable_thinking")},
    {"Qwen/Qwen3.6-27B", R("qwen3_5", "qwen3_5_disable_thinking")},
    {"Qwen/Qwen3.6-35B-A3B", R("qwen3_5", "qwen3_5_disable_thinking")},
    {"Qwen/Qwen3.8-27B", R("qwen3_8_xhigh_reasoning", "qwen3_8_disable_thinking",
                           "qwen3_8_medium_reasoning", "qwen3_8_low_reasoning")},
    {"deepseek-ai/DeepSeek-V3.1", R("deepseekv3", "deepseekv3_thinking")},
    {"deepseek-ai/DeepSeek-V3.1-Base", R("role_colon")},
    {"openai/gpt-oss-20b", R("gpt_oss_no_sysprompt", "gpt_oss_medium_reasoning")},
    {"openai/gpt-oss-120b", R("gpt_oss_no_sysprompt", "gpt_oss_medium_reasoning")},
    {"moonshotai/Kimi-K2-Thinking", R("kimi_k2")},
    {"moonshotai/Kimi-K2.5", R("kimi_k25", "kimi_k25_disable_thinking")},
    {"moonshotai/Kimi-K2.6", R("kimi_k26", "kimi_k26_disable_thinking", "kimi_k26_preserve_thinking")},
    {"nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16",
     R("nemotron3", "nemotron3_disable_thinking", "nemotron3_preserve_thinking")},
    {"nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16",
     R("nemotron3", "nemotron3_disable_thinking", "nemotron3_preserve_thinking",
       "nemotron3_low_thinking")},
    {"nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16",
     R("nemotron3_ultra", "nemotron3_ultra_disable_thinking", "nemotron3_ultra_medium_thinking",
       "nemotron3_ultra_preserve_thinking")},
    {"nvidia/NVIDIA-Nemotron-3.5-Lightning-30B-A3B-BF16",
     R("nemotron3_ultra", "nemotron3_ultra_disable_thinking", "nemotron3_ultra_preserve_thinking")},
};

static const char *const TML_V0[] = {"tml_v0", NULL};

int tk_renderer_recommended_for_model(const char *model_name, const char *const **renderers,
                                      tk_err *e) {
    if (!model_name) return tk_err_set(e, TK_EINVAL, "model name is NULL");
    size_t n = strcspn(model_name, ":"); /* "org/model:peft:..." → "org/model" */
    if (!memchr(model_name, '/', n))
        return tk_err_set(e, TK_EINVAL, "model name \"%s\": expected \"org/model\"", model_name);
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++)
        if (strlen(MODELS[i].name) == n && !memcmp(MODELS[i].name, model_name, n)) {
            *renderers = MODELS[i].renderers;
            return 0;
        }
    if (!strncmp(model_name, "thinkingmachines/Inkling", 24)) {
        *renderers = TML_V0;
        return 0;
    }
    return tk_err_set(e, TK_ENOTFOUND,
                      "model \"%.*s\" is not in the cookbook's model table; pass a renderer name "
                      "explicitly",
                      (int)n, model_name);
}

int tk_renderer_for_model(const char *model_name, const char **renderer, tk_err *e) {
    const char *const *all;
    int rc = tk_renderer_recommended_for_model(model_name, &all, e);
    if (!rc) *renderer = all[0];
    return rc;
}
