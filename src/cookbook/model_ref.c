/* What a recipe's model_name refers to: a service-side model name, or a local model directory
 * whose config.json tells the family, the hidden size and (sometimes) the original name. */
#include "tinkerc/cookbook.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int read_config(tk_model_ref *m, tk_err *e) {
    char *path = tk_path_join(m->dir, "config.json");
    if (!path) return tk_err_set(e, TK_ENOMEM, "out of memory");
    json_t *cfg = NULL;
    int rc = tk_json_load_file(path, &cfg, e);
    if (rc == TK_ENOTFOUND)
        rc = tk_err_set(e, TK_ENOTFOUND, "model %s: a directory without config.json (not a Hugging Face "
                                         "model directory)", m->name);
    else if (rc)
        tk_err_prefix(e, "model %s: ", m->name);
    else if (!json_is_object(cfg))
        rc = tk_err_set(e, TK_EINVAL, "%s: expected a JSON object, got %s", path, tk_json_type_name(cfg));
    const char *s;
    bool present;
    if (!rc && !(rc = tk_json_opt_str(cfg, "model_type", path, &s, &present, e)) && present &&
        !(m->model_type = tk_strdup(s)))
        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc && !(rc = tk_json_opt_str(cfg, "_name_or_path", path, &s, &present, e)) && present &&
        !(m->name_or_path = tk_strdup(s)))
        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) {
        int64_t h = 0;
        json_t *text = json_object_get(cfg, "text_config");
        rc = tk_json_opt_i64(cfg, "hidden_size", path, &h, &present, e);
        if (!rc && !present && json_is_object(text))
            rc = tk_json_opt_i64(text, "hidden_size", "text_config", &h, &present, e);
        if (!rc) m->hidden_size = h > 0 ? h : 0;
    }
    json_decref(cfg);
    free(path);
    return rc;
}

int tk_model_ref_resolve(const char *name, tk_model_ref *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    if (!name || !*name) return tk_err_set(e, TK_EINVAL, "model_name is required");
    int rc = 0;
    if (!(out->name = tk_strdup(name))) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    char *expanded = rc ? NULL : tk_path_expand_user(name);
    if (!rc && !expanded) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc && tk_path_is_dir(expanded)) {
        char abs[PATH_MAX];
        if (!realpath(expanded, abs))
            rc = tk_err_set(e, TK_EIO, "model %s: cannot resolve the directory: %s", name, strerror(errno));
        else if (!(out->dir = tk_strdup(abs)) || !(out->base_model = tk_strdup(abs)))
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        if (!rc) rc = read_config(out, e);
    } else if (!rc) {
        if (!(out->base_model = tk_strdup(name))) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        out->hidden_size = tk_model_hidden_size(name);
    }
    free(expanded);
    if (rc) tk_model_ref_free(out);
    return rc;
}

void tk_model_ref_free(tk_model_ref *m) {
    if (!m) return;
    free(m->name);
    free(m->base_model);
    free(m->dir);
    free(m->model_type);
    free(m->name_or_path);
    memset(m, 0, sizeof *m);
}

int tk_model_ref_default_lr(const tk_model_ref *m, double *lr, tk_err *e) {
    const char *name = m->name;
    /* a local copy of a known model: its original name decides, as upstream would */
    if (m->dir && m->name_or_path && tk_model_hidden_size(m->name_or_path) > 0) name = m->name_or_path;
    return tk_get_lr(name, m->model_type, m->hidden_size, true, lr, e);
}

int tk_model_ref_default_renderer(const tk_model_ref *m, const char **renderer, tk_err *e) {
    if (!m->dir) return tk_renderer_for_model(m->name, renderer, e);
    if (m->name_or_path && !tk_renderer_for_model(m->name_or_path, renderer, NULL)) return 0;
    if (m->model_type && !strcmp(m->model_type, "qwen3")) *renderer = "qwen3";
    else if (m->model_type && !strcmp(m->model_type, "llama")) *renderer = "llama3";
    else
        return tk_err_set(e, TK_ENOTFOUND,
                          "no recommended renderer for the model in %s (model_type %s); pass "
                          "renderer_name=... (see docs/RENDERERS.md)", m->dir,
                          m->model_type ? m->model_type : "absent");
    return 0;
}
