/* `tinkerc model init`: a seeded random model written as a Hugging Face directory, with the
 * tokenizer files copied in and vocab_size taken from the tokenizer. */
#include "internal.h"

#include <jansson.h>
#include <string.h>

int tk_engine_tokenizer_vocab_size(const char *path, int32_t *out, tk_err *e) {
    json_t *root = NULL;
    int rc = tk_json_load_file(path, &root, e);
    if (rc) return rc;
    int64_t max_id = -1;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_is_object(model) ? json_object_get(model, "vocab") : NULL;
    if (!json_is_object(vocab)) {
        json_decref(root);
        return tk_err_set(e, TK_EINVAL, "%s: model.vocab: expected an object of token -> id", path);
    }
    const char *k;
    json_t *v;
    json_object_foreach(vocab, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            tk_err_set(e, TK_EINVAL, "%s: model.vocab[\"%s\"]: expected a non-negative integer id", path, k);
            json_decref(root);   /* k lives in root: format the message first */
            return TK_EINVAL;
        }
        if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
    }
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_array(added)) {
        json_decref(root);
        return tk_err_set(e, TK_EINVAL, "%s: added_tokens: expected an array", path);
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0) {
            json_decref(root);
            return tk_err_set(e, TK_EINVAL, "%s: added_tokens[%zu].id: expected a non-negative integer", path, i);
        }
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    json_decref(root);
    if (max_id < 0 || max_id >= (1 << 24)) return tk_err_set(e, TK_EINVAL, "%s: no usable token ids", path);
    *out = (int32_t)(max_id + 1);
    return 0;
}

static int copy_file(const char *src, const char *dst, tk_err *e) {
    tk_buf b = {0};
    int rc = tk_file_read(src, &b, 0, e);
    if (!rc) rc = tk_file_write_atomic(dst, b.data ? b.data : "", b.len, 0644, e);
    tk_buf_free(&b);
    return rc;
}

int tk_engine_model_init(const tk_engine_init_options *o, tk_err *e) {
    if (!o->out_dir || !*o->out_dir) return tk_err_set(e, TK_EINVAL, "model init: no output directory");
    tk_engine_config cfg = o->config;
    char *tok_json = NULL, *tok_dir = NULL;
    int rc = 0;
    if (o->tokenizer) {
        if (tk_path_is_dir(o->tokenizer)) {
            tok_dir = tk_strdup(o->tokenizer);
            tok_json = tk_path_join(o->tokenizer, "tokenizer.json");
        } else {
            tok_json = tk_strdup(o->tokenizer);
            const char *slash = strrchr(o->tokenizer, '/');
            tok_dir = slash ? tk_strndup(o->tokenizer, (size_t)(slash - o->tokenizer)) : tk_strdup(".");
        }
        if (!tok_json || !tok_dir) { rc = tk_err_set(e, TK_ENOMEM, "out of memory"); goto done; }
        if (!tk_path_exists(tok_json)) {
            rc = tk_err_set(e, TK_ENOTFOUND, "--tokenizer: %s does not exist", tok_json);
            goto done;
        }
        int32_t tv = 0;
        rc = tk_engine_tokenizer_vocab_size(tok_json, &tv, e);
        if (rc) goto done;
        if (cfg.vocab_size == 0) cfg.vocab_size = tv;
        else if (cfg.vocab_size < tv) {
            rc = tk_err_set(e, TK_EINVAL, "vocab_size %d is smaller than the tokenizer's %d ids (%s)", cfg.vocab_size, tv,
                            tok_json);
            goto done;
        }
    }
    if (cfg.vocab_size <= 0) {
        rc = tk_err_set(e, TK_EINVAL, "model init: vocab_size is not set (give a tokenizer or a vocabulary size)");
        goto done;
    }
    tk_engine_model *m = NULL;
    rc = tk_engine_model_random(&cfg, o->seed, &m, e);
    if (rc) goto done;
    rc = tk_engine_model_save(m, o->out_dir, o->dtype ? o->dtype : TK_ENGINE_BF16, e);
    tk_engine_model_free(m);
    if (rc || !o->tokenizer) goto done;
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0] && !rc; i++) {
        char *src = i == 0 ? tk_strdup(tok_json) : tk_path_join(tok_dir, files[i]);
        char *dst = tk_path_join(o->out_dir, files[i]);
        if (!src || !dst) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else if (i == 0 || tk_path_exists(src)) rc = copy_file(src, dst, e);
        free(src);
        free(dst);
    }
done:
    free(tok_json);
    free(tok_dir);
    return rc;
}
