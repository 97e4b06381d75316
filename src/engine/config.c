/* Model configuration: defaults, validation, and config.json parsing (LlamaForCausalLM,
 * Qwen3ForCausalLM). */
#include "internal.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

void tk_engine_config_default(tk_engine_config *c, tk_engine_arch arch) {
    memset(c, 0, sizeof *c);
    c->arch = arch;
    c->max_position_embeddings = arch == TK_ENGINE_ARCH_QWEN3 ? 40960 : 131072;
    c->rms_norm_eps = arch == TK_ENGINE_ARCH_QWEN3 ? 1e-6 : 1e-5;
    c->rope_theta = arch == TK_ENGINE_ARCH_QWEN3 ? 1000000.0 : 500000.0;
    c->tie_word_embeddings = arch == TK_ENGINE_ARCH_QWEN3;
    c->bos_token_id = -1;
    c->eos_token_id = -1;
}

tk_engine_arch tk_engine_arch_from_name(const char *name) {
    if (!name) return 0;
    if (!strcmp(name, "llama3") || !strcmp(name, "llama")) return TK_ENGINE_ARCH_LLAMA;
    if (!strcmp(name, "qwen3")) return TK_ENGINE_ARCH_QWEN3;
    return 0;
}

const char *tk_engine_arch_name(tk_engine_arch arch) {
    return arch == TK_ENGINE_ARCH_LLAMA ? "llama3" : arch == TK_ENGINE_ARCH_QWEN3 ? "qwen3" : "unknown";
}

int tk_engine_config_validate(const tk_engine_config *c, tk_err *e) {
    if (c->arch != TK_ENGINE_ARCH_LLAMA && c->arch != TK_ENGINE_ARCH_QWEN3)
        return tk_err_set(e, TK_EUNSUPPORTED, "config: unknown architecture %d", (int)c->arch);
    const struct { const char *name; int32_t v; int32_t max; } sizes[] = {
        {"vocab_size", c->vocab_size, 1 << 24},
        {"hidden_size", c->hidden_size, 1 << 16},
        {"intermediate_size", c->intermediate_size, 1 << 18},
        {"num_hidden_layers", c->num_layers, 1024},
        {"num_attention_heads", c->num_heads, 1024},
        {"num_key_value_heads", c->num_kv_heads, 1024},
        {"head_dim", c->head_dim, 4096},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].v < 1 || sizes[i].v > sizes[i].max)
            return tk_err_set(e, TK_EINVAL, "config: %s = %d is out of range [1, %d]", sizes[i].name, sizes[i].v,
                              sizes[i].max);
    if (c->num_heads % c->num_kv_heads)
        return tk_err_set(e, TK_EINVAL, "config: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                          c->num_heads, c->num_kv_heads);
    if (c->head_dim % 2) return tk_err_set(e, TK_EINVAL, "config: head_dim = %d must be even for RoPE", c->head_dim);
    if (!(c->rms_norm_eps > 0) || !isfinite(c->rms_norm_eps))
        return tk_err_set(e, TK_EINVAL, "config: rms_norm_eps must be positive");
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return tk_err_set(e, TK_EINVAL, "config: rope_theta must be positive");
    if (c->max_position_embeddings < 1)
        return tk_err_set(e, TK_EINVAL, "config: max_position_embeddings must be positive");
    if (c->rope_llama3) {
        if (!(c->rope_factor > 0) || !(c->rope_low_freq_factor > 0) || !(c->rope_high_freq_factor > c->rope_low_freq_factor)
            || c->rope_original_max_position < 1)
            return tk_err_set(e, TK_EINVAL, "config: rope_scaling: need factor > 0, 0 < low_freq_factor < "
                                            "high_freq_factor, original_max_position_embeddings > 0");
    }
    return 0;
}

/* Small typed readers with the config path in messages. */
static int get_int(json_t *root, const char *key, bool required, int32_t *out, const char *what, tk_err *e) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return tk_err_set(e, TK_EINVAL, "%s: %s: required field is missing", what, key);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
        return tk_err_set(e, TK_EINVAL, "%s: %s: expected a 32-bit integer, got %s", what, key, tk_json_type_name(v));
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int get_num(json_t *obj, const char *path, const char *key, bool required, double *out, const char *what,
                   tk_err *e) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) return tk_err_set(e, TK_EINVAL, "%s: %s%s: required field is missing", what, path, key);
        return 0;
    }
    if (!json_is_number(v))
        return tk_err_set(e, TK_EINVAL, "%s: %s%s: expected a number, got %s", what, path, key, tk_json_type_name(v));
    *out = json_number_value(v);
    return 0;
}

/* token ids may be an int or a list of ints (Llama 3.1 eos is a list): keep the first. */
static int32_t first_id(json_t *v) {
    if (json_is_integer(v)) return (int32_t)json_integer_value(v);
    if (json_is_array(v) && json_array_size(v) && json_is_integer(json_array_get(v, 0)))
        return (int32_t)json_integer_value(json_array_get(v, 0));
    return -1;
}

static int parse_root(json_t *root, const char *what, tk_engine_config *c, tk_err *e) {
    if (!json_is_object(root)) return tk_err_set(e, TK_EPARSE, "%s: expected a JSON object", what);
    json_t *archs = json_object_get(root, "architectures");
    json_t *mt = json_object_get(root, "model_type");
    const char *arch_name = NULL;
    if (json_is_array(archs) && json_array_size(archs) > 0 && json_is_string(json_array_get(archs, 0)))
        arch_name = json_string_value(json_array_get(archs, 0));
    tk_engine_arch arch = 0;
    if (arch_name) {
        if (!strcmp(arch_name, "LlamaForCausalLM")) arch = TK_ENGINE_ARCH_LLAMA;
        else if (!strcmp(arch_name, "Qwen3ForCausalLM")) arch = TK_ENGINE_ARCH_QWEN3;
        else
            return tk_err_set(e, TK_EUNSUPPORTED,
                              "%s: architectures[0]: unsupported architecture \"%s\" (supported: LlamaForCausalLM, "
                              "Qwen3ForCausalLM)", what, arch_name);
    } else if (json_is_string(mt)) {
        const char *t = json_string_value(mt);
        if (!strcmp(t, "llama")) arch = TK_ENGINE_ARCH_LLAMA;
        else if (!strcmp(t, "qwen3")) arch = TK_ENGINE_ARCH_QWEN3;
        else return tk_err_set(e, TK_EUNSUPPORTED, "%s: model_type: unsupported model type \"%s\"", what, t);
    } else {
        return tk_err_set(e, TK_EINVAL, "%s: architectures: missing (and no model_type)", what);
    }
    tk_engine_config_default(c, arch);
    int rc = 0;
    rc = rc ? rc : get_int(root, "vocab_size", true, &c->vocab_size, what, e);
    rc = rc ? rc : get_int(root, "hidden_size", true, &c->hidden_size, what, e);
    rc = rc ? rc : get_int(root, "intermediate_size", true, &c->intermediate_size, what, e);
    rc = rc ? rc : get_int(root, "num_hidden_layers", true, &c->num_layers, what, e);
    rc = rc ? rc : get_int(root, "num_attention_heads", true, &c->num_heads, what, e);
    if (rc) return rc;
    c->num_kv_heads = c->num_heads;
    c->head_dim = c->num_heads > 0 ? c->hidden_size / c->num_heads : 0;
    rc = rc ? rc : get_int(root, "num_key_value_heads", false, &c->num_kv_heads, what, e);
    rc = rc ? rc : get_int(root, "head_dim", false, &c->head_dim, what, e);
    rc = rc ? rc : get_int(root, "max_position_embeddings", false, &c->max_position_embeddings, what, e);
    rc = rc ? rc : get_num(root, "", "rms_norm_eps", false, &c->rms_norm_eps, what, e);
    rc = rc ? rc : get_num(root, "", "rope_theta", false, &c->rope_theta, what, e);
    if (rc) return rc;
    json_t *tie = json_object_get(root, "tie_word_embeddings");
    if (tie && !json_is_null(tie)) {
        if (!json_is_boolean(tie))
            return tk_err_set(e, TK_EINVAL, "%s: tie_word_embeddings: expected a boolean, got %s", what, tk_json_type_name(tie));
        c->tie_word_embeddings = json_is_true(tie);
    } else {
        c->tie_word_embeddings = false;   /* LlamaConfig and Qwen3Config both default to untied */
    }
    const char *flags[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        json_t *b = json_object_get(root, flags[i]);
        if (json_is_true(b)) return tk_err_set(e, TK_EUNSUPPORTED, "%s: %s: biases are not supported", what, flags[i]);
    }
    json_t *act = json_object_get(root, "hidden_act");
    if (act && !json_is_null(act) && (!json_is_string(act) || strcmp(json_string_value(act), "silu")))
        return tk_err_set(e, TK_EUNSUPPORTED, "%s: hidden_act: only \"silu\" is supported", what);
    json_t *rs = json_object_get(root, "rope_scaling");
    if (rs && !json_is_null(rs)) {
        if (!json_is_object(rs))
            return tk_err_set(e, TK_EINVAL, "%s: rope_scaling: expected an object, got %s", what, tk_json_type_name(rs));
        json_t *ty = json_object_get(rs, "rope_type");
        if (!ty) ty = json_object_get(rs, "type");
        const char *tname = json_is_string(ty) ? json_string_value(ty) : NULL;
        if (!tname) return tk_err_set(e, TK_EINVAL, "%s: rope_scaling.rope_type: missing", what);
        if (!strcmp(tname, "default")) {
            /* no scaling */
        } else if (!strcmp(tname, "llama3")) {
            c->rope_llama3 = true;
            int32_t omp = 0;
            rc = rc ? rc : get_num(rs, "rope_scaling.", "factor", true, &c->rope_factor, what, e);
            rc = rc ? rc : get_num(rs, "rope_scaling.", "low_freq_factor", true, &c->rope_low_freq_factor, what, e);
            rc = rc ? rc : get_num(rs, "rope_scaling.", "high_freq_factor", true, &c->rope_high_freq_factor, what, e);
            rc = rc ? rc : get_int(rs, "original_max_position_embeddings", true, &omp, what, e);
            if (rc) return rc;
            c->rope_original_max_position = omp;
        } else {
            return tk_err_set(e, TK_EUNSUPPORTED, "%s: rope_scaling.rope_type: \"%s\" is not supported (only llama3)",
                              what, tname);
        }
    }
    c->bos_token_id = first_id(json_object_get(root, "bos_token_id"));
    c->eos_token_id = first_id(json_object_get(root, "eos_token_id"));
    rc = tk_engine_config_validate(c, e);
    if (rc) tk_err_prefix(e, "%s: ", what);
    return rc;
}

int tk_engine_config_parse(const char *text, size_t len, const char *what, tk_engine_config *out, tk_err *e) {
    json_t *root = NULL;
    what = what ? what : "config.json";
    int rc = tk_json_parse(text, len, what, &root, e);
    if (rc) return rc;
    rc = parse_root(root, what, out, e);
    json_decref(root);
    return rc;
}

/* Serialise a config the way transformers writes it (the fields our loader and HF need). */
int tk_config_to_json(const tk_engine_config *c, tk_buf *out) {
    bool q = c->arch == TK_ENGINE_ARCH_QWEN3;
    json_t *o = json_object();
    if (!o) return TK_ENOMEM;
    int rc = 0;
    json_t *archs = json_array();
    rc |= tk_json_append_new(archs, json_string(q ? "Qwen3ForCausalLM" : "LlamaForCausalLM"));
    rc |= tk_json_set_new(o, "architectures", archs);
    rc |= tk_json_set_new(o, "model_type", json_string(q ? "qwen3" : "llama"));
    rc |= tk_json_set_new(o, "vocab_size", json_integer(c->vocab_size));
    rc |= tk_json_set_new(o, "hidden_size", json_integer(c->hidden_size));
    rc |= tk_json_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    rc |= tk_json_set_new(o, "num_hidden_layers", json_integer(c->num_layers));
    rc |= tk_json_set_new(o, "num_attention_heads", json_integer(c->num_heads));
    rc |= tk_json_set_new(o, "num_key_value_heads", json_integer(c->num_kv_heads));
    rc |= tk_json_set_new(o, "head_dim", json_integer(c->head_dim));
    rc |= tk_json_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
    rc |= tk_json_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    rc |= tk_json_set_new(o, "rope_theta", json_real(c->rope_theta));
    rc |= tk_json_set_new(o, "hidden_act", json_string("silu"));
    rc |= tk_json_set_new(o, "attention_bias", json_false());
    rc |= tk_json_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    rc |= tk_json_set_new(o, "initializer_range", json_real(0.02));
    rc |= tk_json_set_new(o, "torch_dtype", json_string("float32"));
    if (c->bos_token_id >= 0) rc |= tk_json_set_new(o, "bos_token_id", json_integer(c->bos_token_id));
    if (c->eos_token_id >= 0) rc |= tk_json_set_new(o, "eos_token_id", json_integer(c->eos_token_id));
    if (c->rope_llama3) {
        json_t *rs = json_object();
        rc |= tk_json_set_new(rs, "rope_type", json_string("llama3"));
        rc |= tk_json_set_new(rs, "factor", json_real(c->rope_factor));
        rc |= tk_json_set_new(rs, "low_freq_factor", json_real(c->rope_low_freq_factor));
        rc |= tk_json_set_new(rs, "high_freq_factor", json_real(c->rope_high_freq_factor));
        rc |= tk_json_set_new(rs, "original_max_position_embeddings", json_integer(c->rope_original_max_position));
        rc |= tk_json_set_new(o, "rope_scaling", rs);
    } else {
        rc |= tk_json_set_new(o, "rope_scaling", json_null());
    }
    if (!rc) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        if (!s) rc = TK_ENOMEM;
        else {
            rc = tk_buf_puts(out, s);
            rc |= tk_buf_putc(out, '\n');
            free(s);
        }
    }
    json_decref(o);
    return rc ? TK_ENOMEM : 0;
}
