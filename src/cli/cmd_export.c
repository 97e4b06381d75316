/* tinkerc export: a trained adapter out of tinkerc, as a PEFT adapter or merged into the base
 * model as a standard Hugging Face model directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_model_path.h"
#include "tinkerc/base.h"
#include "tinkerc/engine.h"

int tk_cmd_export(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc export --model DIR_OR_NAME --adapter DIR --out DIR [--merge]\n"
            "                      [--dtype f32|bf16|f16] [--base-model NAME]\n"
            "\n"
            "Without --merge, writes a PEFT adapter (adapter_model.safetensors with PEFT's key layout and\n"
            "adapter_config.json) that PEFT and vLLM load as is. With --merge, writes the base model with\n"
            "the adapter added into its weights (config.json, model.safetensors, and the model directory's\n"
            "tokenizer files). --adapter takes a tinkerc checkpoint or a PEFT directory. --base-model is the\n"
            "name written as base_model_name_or_path (default: the checkpoint's, else --model).\n"
            "Default dtype: f32 for adapters, bf16 for merged models.\n");
}

static int copy_if_present(const char *from_dir, const char *to_dir, const char *name, tk_err *e) {
    char *from = tk_path_join(from_dir, name), *to = tk_path_join(to_dir, name);
    int rc = 0;
    if (!from || !to) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    else if (tk_path_exists(from)) {
        tk_buf b = {0};
        rc = tk_file_read(from, &b, 0, e);
        if (!rc) rc = tk_file_write_atomic(to, b.data, b.len, 0644, e);
        tk_buf_free(&b);
    }
    free(from);
    free(to);
    return rc;
}

int tk_cmd_export(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *out = NULL, *dtype_s = NULL, *base_name = NULL;
    bool merge = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--merge")) { merge = true; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "tinkerc export: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--adapter")) adapter = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--dtype")) dtype_s = v;
        else if (!strcmp(a, "--base-model")) base_name = v;
        else {
            fprintf(stderr, "tinkerc export: unknown option %s\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    const char *missing = !model ? "--model" : !adapter ? "--adapter" : !out ? "--out" : NULL;
    if (missing) {
        fprintf(stderr, "tinkerc export: %s is required\n\n", missing);
        usage(stderr);
        return 2;
    }
    tk_engine_dtype dt = merge ? TK_ENGINE_BF16 : TK_ENGINE_F32;
    if (dtype_s) {
        if (!strcmp(dtype_s, "f32")) dt = TK_ENGINE_F32;
        else if (!strcmp(dtype_s, "bf16")) dt = TK_ENGINE_BF16;
        else if (!strcmp(dtype_s, "f16")) dt = TK_ENGINE_F16;
        else {
            fprintf(stderr, "tinkerc export: --dtype must be f32, bf16 or f16\n");
            return 2;
        }
    }
    char msg[1024];
    char *dir = tk_cli_find_model_dir(model, msg, sizeof msg);
    if (!dir) {
        fprintf(stderr, "tinkerc export: %s\n", msg);
        return 1;
    }
    tk_err e = {0};
    tk_engine_model *m = NULL;
    tk_engine_adapter *a = NULL;
    tk_engine_ckpt_info info;
    int rc = tk_engine_checkpoint_info(adapter, &info, &e);
    if (!rc) rc = tk_engine_model_load(dir, &m, &e);
    if (!rc) rc = tk_engine_checkpoint_load(m, adapter, false, &a, &e);
    if (!rc && !merge)
        rc = tk_engine_adapter_export_peft(a, out, base_name ? base_name : info.base_model[0] ? info.base_model : model, dt, &e);
    if (!rc && merge) {
        rc = tk_engine_adapter_merge_save(a, out, dt, &e);
        static const char *const extra[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                            "generation_config.json"};
        for (size_t i = 0; !rc && i < sizeof extra / sizeof extra[0]; i++) rc = copy_if_present(dir, out, extra[i], &e);
    }
    if (rc) fprintf(stderr, "tinkerc export: %s\n", e.msg);
    else
        printf("wrote %s: %s (rank %d, alpha %g, %zu LoRA tensors)\n", out,
               merge ? "merged Hugging Face model" : "PEFT adapter", tk_engine_adapter_config(a)->rank,
               tk_engine_adapter_config(a)->alpha, tk_engine_adapter_num_tensors(a));
    tk_engine_adapter_free(a);
    tk_engine_model_free(m);
    free(dir);
    return rc ? 1 : 0;
}
