/* tinkerc model init: write a seeded random Llama 3 / Qwen3 model as a Hugging Face directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinkerc/base.h"
#include "tinkerc/engine.h"

int tk_cmd_model(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out,
            "usage: tinkerc model init --arch llama3|qwen3 --layers L --hidden H --heads N --kv-heads K\n"
            "                          --intermediate I (--tokenizer NAME_OR_PATH | --vocab V) --out DIR\n"
            "                          [--seed S] [--head-dim D] [--dtype bf16|f16|f32] [--max-position P]\n"
            "                          [--tie-embeddings | --no-tie-embeddings]\n"
            "\n"
            "Writes config.json, model.safetensors and the tokenizer files into DIR. Weights are\n"
            "N(0, 0.02^2) from the seed (default 0), norms 1. vocab_size comes from the tokenizer\n"
            "(largest id + 1) unless --vocab is given. --tokenizer takes a tokenizer.json, a directory\n"
            "holding one, or a family name found under .cache/tokenizers/ (llama3, qwen3, ...).\n"
            "head_dim defaults to hidden/heads; embeddings are tied by default for qwen3 only.\n");
}

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "tinkerc model init: %s: \"%s\" is not an integer in [%lld, %lld]\n", opt, s, (long long)lo,
                (long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* A tokenizer argument: an existing path, else a family under .cache/tokenizers. */
static char *resolve_tokenizer(const char *arg) {
    if (tk_path_exists(arg)) return tk_strdup(arg);
    if (!strchr(arg, '/')) {
        char *p = tk_path_join(".cache/tokenizers", arg);
        if (p && tk_path_exists(p)) return p;
        free(p);
    }
    fprintf(stderr, "tinkerc model init: --tokenizer %s: no such file or directory (nor .cache/tokenizers/%s)\n", arg,
            arg);
    return NULL;
}

static int cmd_init(int argc, char **argv) {
    tk_engine_init_options o;
    memset(&o, 0, sizeof o);
    const char *arch = NULL, *tok = NULL, *dtype = "bf16";
    int64_t layers = 0, hidden = 0, heads = 0, kv = 0, inter = 0, vocab = 0, head_dim = 0, maxpos = 0, seed = 0;
    int tie = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--tie-embeddings")) { tie = 1; continue; }
        if (!strcmp(a, "--no-tie-embeddings")) { tie = 0; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "tinkerc model init: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "--arch")) arch = v;
        else if (!strcmp(a, "--tokenizer")) tok = v;
        else if (!strcmp(a, "--out")) o.out_dir = v;
        else if (!strcmp(a, "--dtype")) dtype = v;
        else if (!strcmp(a, "--layers")) rc = parse_i64(a, v, 1, 1024, &layers);
        else if (!strcmp(a, "--hidden")) rc = parse_i64(a, v, 1, 1 << 16, &hidden);
        else if (!strcmp(a, "--heads")) rc = parse_i64(a, v, 1, 1024, &heads);
        else if (!strcmp(a, "--kv-heads")) rc = parse_i64(a, v, 1, 1024, &kv);
        else if (!strcmp(a, "--intermediate")) rc = parse_i64(a, v, 1, 1 << 18, &inter);
        else if (!strcmp(a, "--vocab")) rc = parse_i64(a, v, 1, 1 << 24, &vocab);
        else if (!strcmp(a, "--head-dim")) rc = parse_i64(a, v, 2, 4096, &head_dim);
        else if (!strcmp(a, "--max-position")) rc = parse_i64(a, v, 1, 1 << 24, &maxpos);
        else if (!strcmp(a, "--seed")) rc = parse_i64(a, v, 0, INT64_MAX, &seed);
        else {
            fprintf(stderr, "tinkerc model init: unknown option %s\n\n", a);
            usage(stderr);
            return 2;
        }
        if (rc) return 2;
    }
    tk_engine_arch ar = tk_engine_arch_from_name(arch);
    if (!ar) {
        fprintf(stderr, "tinkerc model init: --arch must be llama3 or qwen3%s%s\n", arch ? ", not " : "",
                arch ? arch : "");
        return 2;
    }
    const char *missing = !layers ? "--layers" : !hidden ? "--hidden" : !heads ? "--heads" : !inter ? "--intermediate"
                          : !o.out_dir ? "--out" : (!tok && !vocab) ? "--tokenizer or --vocab" : NULL;
    if (missing) {
        fprintf(stderr, "tinkerc model init: %s is required\n\n", missing);
        usage(stderr);
        return 2;
    }
    if (!strcmp(dtype, "bf16")) o.dtype = TK_ENGINE_BF16;
    else if (!strcmp(dtype, "f16")) o.dtype = TK_ENGINE_F16;
    else if (!strcmp(dtype, "f32")) o.dtype = TK_ENGINE_F32;
    else {
        fprintf(stderr, "tinkerc model init: --dtype must be bf16, f16 or f32\n");
        return 2;
    }
    tk_engine_config_default(&o.config, ar);
    o.config.num_layers = (int32_t)layers;
    o.config.hidden_size = (int32_t)hidden;
    o.config.num_heads = (int32_t)heads;
    o.config.num_kv_heads = (int32_t)(kv ? kv : heads);
    o.config.intermediate_size = (int32_t)inter;
    o.config.head_dim = (int32_t)(head_dim ? head_dim : hidden / heads);
    o.config.vocab_size = (int32_t)vocab;
    if (maxpos) o.config.max_position_embeddings = (int32_t)maxpos;
    if (tie >= 0) o.config.tie_word_embeddings = tie;
    o.seed = (uint64_t)seed;
    char *tok_path = NULL;
    if (tok && !(tok_path = resolve_tokenizer(tok))) return 1;
    o.tokenizer = tok_path;
    tk_err e = {0};
    int rc = tk_engine_model_init(&o, &e);
    free(tok_path);
    if (rc) {
        fprintf(stderr, "tinkerc model init: %s\n", e.msg);
        return 1;
    }
    /* report what was written, read back from the new config.json */
    char *cfg_path = tk_path_join(o.out_dir, "config.json");
    tk_buf text = {0};
    tk_engine_config c;
    rc = !cfg_path || tk_file_read(cfg_path, &text, 0, &e) || tk_engine_config_parse(text.data, text.len, cfg_path, &c, &e);
    free(cfg_path);
    tk_buf_free(&text);
    if (rc) {
        fprintf(stderr, "tinkerc model init: %s\n", e.msg);
        return 1;
    }
    printf("wrote %s: %s, %d layers, hidden %d, %d heads (%d kv), head_dim %d, intermediate %d, vocab %d, seed %llu\n",
           o.out_dir, tk_engine_arch_name(ar), c.num_layers, c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim,
           c.intermediate_size, c.vocab_size, (unsigned long long)seed);
    return 0;
}

int tk_cmd_model(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "init")) return cmd_init(argc - 1, argv + 1);
    fprintf(stderr, "tinkerc model: unknown subcommand \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
