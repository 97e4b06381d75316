/* Renderer objects: the table of built-in names, custom registration, creation and freeing. */
#include "internal.h"

#include <pthread.h>

typedef struct builtin {
    const char *name;
    tk__format_init init;
    int variant;
} builtin;

/* The cookbook's names (renderers/__init__.py), in its order. */
static const builtin BUILTINS[] = {
    {"role_colon", tk__role_colon_init, 0},
    {"llama3", tk__llama3_init, 0},
    {"qwen3", tk__qwen3_init, 0},
    {"qwen3_disable_thinking", tk__qwen3_init, 1},
    {"qwen3_instruct", tk__qwen3_init, 2},
    {"qwen3_5", tk__qwen3_5_init, 0},
    {"qwen3_5_disable_thinking", tk__qwen3_5_init, 1},
    {"deepseekv3", tk__deepseek_init, 0},
    {"deepseekv3_disable_thinking", tk__deepseek_init, 0},
    {"deepseekv3_thinking", tk__deepseek_init, 1},
    {"kimi_k2", tk__kimi_init, 0},
    {"kimi_k25", tk__kimi_init, 1},
    {"kimi_k25_disable_thinking", tk__kimi_init, 2},
    {"kimi_k26", tk__kimi_init, 1},
    {"kimi_k26_disable_thinking", tk__kimi_init, 2},
    {"kimi_k26_preserve_thinking", tk__kimi_init, 3},
    {"nemotron3", tk__nemotron3_init, 0},
    {"nemotron3_disable_thinking", tk__nemotron3_init, 1},
    {"nemotron3_low_thinking", tk__nemotron3_init, 2},
    {"nemotron3_preserve_thinking", tk__nemotron3_init, 3},
    {"nemotron3_ultra", tk__nemotron3_init, 4},
    {"nemotron3_ultra_disable_thinking", tk__nemotron3_init, 5},
    {"nemotron3_ultra_medium_thinking", tk__nemotron3_init, 6},
    {"nemotron3_ultra_preserve_thinking", tk__nemotron3_init, 7},
    {"gpt_oss_no_sysprompt", tk__gpt_oss_init, 0},
    {"gpt_oss_low_reasoning", tk__gpt_oss_init, 1},
    {"gpt_oss_medium_reasoning", tk__gpt_oss_init, 2},
    {"gpt_oss_high_reasoning", tk__gpt_oss_init, 3},
};
#define N_BUILTINS (sizeof BUILTINS / sizeof BUILTINS[0])

/* Cookbook names tinkerc knows but does not implement (vision, Qwen3.8, Inkling). */
static const char *const NOT_IMPLEMENTED[] = {
    "qwen3_vl", "qwen3_vl_instruct", "qwen3_8_xhigh_reasoning", "qwen3_8_medium_reasoning",
    "qwen3_8_low_reasoning", "qwen3_8_disable_thinking", "tml_v0", NULL,
};

static const char *const BUILTIN_NAMES[] = {
    "role_colon", "llama3", "qwen3", "qwen3_disable_thinking", "qwen3_instruct", "qwen3_5",
    "qwen3_5_disable_thinking", "deepseekv3", "deepseekv3_disable_thinking", "deepseekv3_thinking",
    "kimi_k2", "kimi_k25", "kimi_k25_disable_thinking", "kimi_k26", "kimi_k26_disable_thinking",
    "kimi_k26_preserve_thinking", "nemotron3", "nemotron3_disable_thinking",
    "nemotron3_low_thinking", "nemotron3_preserve_thinking", "nemotron3_ultra",
    "nemotron3_ultra_disable_thinking", "nemotron3_ultra_medium_thinking",
    "nemotron3_ultra_preserve_thinking", "gpt_oss_no_sysprompt", "gpt_oss_low_reasoning",
    "gpt_oss_medium_reasoning", "gpt_oss_high_reasoning", NULL,
};
_Static_assert(sizeof BUILTIN_NAMES / sizeof BUILTIN_NAMES[0] == N_BUILTINS + 1,
               "BUILTIN_NAMES and BUILTINS must list the same renderers");

const char *const *tk_renderer_builtin_names(void) { return BUILTIN_NAMES; }

/* ---- custom registry ---------------------------------------------------------------------------- */

typedef struct custom_entry {
    char *name;
    tk_renderer_factory factory;
    void *user;
} custom_entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static TK_VEC(custom_entry) g_custom;

int tk_renderer_register(const char *name, tk_renderer_factory factory, void *user, tk_err *e) {
    if (!name || !*name || !factory)
        return tk_err_set(e, TK_EINVAL, "tk_renderer_register: name and factory are required");
    char *copy = tk_strdup(name);
    if (!copy) return tk_err_set(e, TK_ENOMEM, "out of memory");
    pthread_mutex_lock(&g_lock);
    int rc = 0;
    size_t i;
    for (i = 0; i < g_custom.len; i++)
        if (!strcmp(g_custom.data[i].name, name)) break;
    if (i < g_custom.len) { /* replace, as the cookbook's dict assignment does */
        free(g_custom.data[i].name);
        g_custom.data[i] = (custom_entry){copy, factory, user};
    } else if (tk_vec_push(&g_custom, ((custom_entry){copy, factory, user}))) {
        free(copy);
        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

bool tk_renderer_unregister(const char *name) {
    bool found = false;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; name && i < g_custom.len; i++)
        if (!strcmp(g_custom.data[i].name, name)) {
            free(g_custom.data[i].name);
            g_custom.data[i] = g_custom.data[--g_custom.len];
            found = true;
            break;
        }
    if (!g_custom.len) tk_vec_free(&g_custom);
    pthread_mutex_unlock(&g_lock);
    return found;
}

bool tk_renderer_is_registered(const char *name) {
    bool found = false;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; name && i < g_custom.len; i++)
        if (!strcmp(g_custom.data[i].name, name)) found = true;
    pthread_mutex_unlock(&g_lock);
    return found;
}

/* ---- creation ------------------------------------------------------------------------------------ */

void tk_renderer_free(tk_renderer *r) {
    if (!r) return;
    if (r->ops.destroy) r->ops.destroy(r->state);
    for (size_t i = 0; i < r->n_stop_strings; i++) free(r->stop_strings[i]);
    free(r->stop_strings);
    tk_vec_free(&r->stop_tokens);
    free(r->current_date);
    free(r->name);
    free(r);
}

static int check_codec(const tk_renderer_codec *c, tk_err *e) {
    if (!c || !c->encode || !c->decode)
        return tk_err_set(e, TK_EINVAL, "renderer codec: encode and decode are required");
    return 0;
}

static tk_renderer *alloc_renderer(const char *name, const tk_renderer_codec *codec,
                                   const tk_renderer_opts *opts) {
    tk_renderer *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->name = tk_strdup(name);
    r->codec = *codec;
    if (opts) r->opts = *opts;
    if (opts && opts->current_date) r->current_date = tk_strdup(opts->current_date);
    r->opts.current_date = r->current_date;
    if (!r->name || (opts && opts->current_date && !r->current_date)) {
        tk_renderer_free(r);
        return NULL;
    }
    return r;
}

int tk_renderer_new_with_codec(const char *name, const tk_renderer_codec *codec,
                               const tk_renderer_opts *opts, tk_renderer **out, tk_err *e) {
    *out = NULL;
    int rc = check_codec(codec, e);
    if (rc) return rc;
    if (!name) return tk_err_set(e, TK_EINVAL, "renderer name is NULL");
    /* registered names first */
    tk_renderer_factory f = NULL;
    void *user = NULL;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_custom.len; i++)
        if (!strcmp(g_custom.data[i].name, name)) {
            f = g_custom.data[i].factory;
            user = g_custom.data[i].user;
        }
    pthread_mutex_unlock(&g_lock);
    if (f) {
        rc = f(codec, opts, user, out, e);
        if (!rc && !*out) rc = tk_err_set(e, TK_EINTERNAL, "renderer factory \"%s\" returned nothing", name);
        return rc;
    }
    for (size_t i = 0; i < N_BUILTINS; i++) {
        if (strcmp(BUILTINS[i].name, name)) continue;
        tk_renderer *r = alloc_renderer(name, codec, opts);
        if (!r) return tk_err_set(e, TK_ENOMEM, "out of memory");
        rc = BUILTINS[i].init(r, BUILTINS[i].variant, e);
        if (rc) {
            tk_renderer_free(r);
            return rc;
        }
        *out = r;
        return 0;
    }
    for (size_t i = 0; NOT_IMPLEMENTED[i]; i++)
        if (!strcmp(NOT_IMPLEMENTED[i], name))
            return tk_err_set(e, TK_EUNSUPPORTED,
                              "renderer \"%s\" exists in the Python cookbook but tinkerc does not "
                              "implement it (vision and Qwen3.8/Inkling formats are out of scope)",
                              name);
    tk_buf b = {0};
    for (size_t i = 0; i < N_BUILTINS; i++)
        if (tk_buf_printf(&b, "%s%s", i ? ", " : "", BUILTINS[i].name)) break;
    rc = tk_err_set(e, TK_ENOTFOUND, "unknown renderer \"%s\" (known: %s; or register one)", name,
                    b.data ? b.data : "");
    tk_buf_free(&b);
    return rc;
}

/* ---- custom renderers ---------------------------------------------------------------------------- */

static int custom_render(const tk_renderer *r, const tk_message *m, const tk_render_context *ctx,
                         tk_rendered_message *out, tk_err *e) {
    return r->custom.render_message(r, m, ctx, out, e);
}

static int custom_parse(const tk_renderer *r, const int32_t *ids, size_t n,
                        tk_parsed_response *out, tk_err *e) {
    return r->custom.parse_response(r, ids, n, out, e);
}

static int custom_suffix(const tk_renderer *r, const char *role, const tk_render_context *ctx,
                         tk_rendered_message *out, tk_err *e) {
    return r->custom.generation_suffix(r, role, ctx, out, e);
}

static int custom_tools(const tk_renderer *r, const tk_tool_spec *tools, size_t n, const char *sp,
                        tk_conversation *out, tk_err *e) {
    return r->custom.tool_prefix(r, tools, n, sp, out, e);
}

int tk_renderer_new_custom(const char *name, const tk_renderer_vtable *vt, void *state,
                           const tk_renderer_codec *codec, tk_renderer **out, tk_err *e) {
    *out = NULL;
    int rc = check_codec(codec, e);
    if (rc) return rc;
    if (!name || !vt || !vt->render_message || !vt->parse_response)
        return tk_err_set(e, TK_EINVAL,
                          "tk_renderer_new_custom: name, render_message and parse_response are required");
    tk_renderer *r = alloc_renderer(name, codec, NULL);
    if (!r) return tk_err_set(e, TK_ENOMEM, "out of memory");
    r->custom = *vt;
    r->custom.stop_tokens = NULL;
    r->custom.stop_strings = NULL;
    r->state = state;
    r->ops.render_message = custom_render;
    r->ops.parse_response = custom_parse;
    r->ops.generation_suffix = vt->generation_suffix ? custom_suffix : NULL;
    r->ops.tool_prefix = vt->tool_prefix ? custom_tools : NULL;
    r->ops.destroy = vt->destroy;
    r->extension = vt->has_extension_property;
    r->disables_thinking = vt->disables_thinking;
    r->add_bos = vt->add_bos;
    for (size_t i = 0; i < vt->n_stop_tokens; i++)
        if (tk_vec_push(&r->stop_tokens, vt->stop_tokens[i])) rc = TK_ENOMEM;
    if (vt->n_stop_strings) {
        r->stop_strings = calloc(vt->n_stop_strings, sizeof *r->stop_strings);
        if (!r->stop_strings) rc = TK_ENOMEM;
        for (size_t i = 0; !rc && i < vt->n_stop_strings; i++) {
            r->stop_strings[i] = tk_strdup(vt->stop_strings[i] ? vt->stop_strings[i] : "");
            r->n_stop_strings++;
            if (!r->stop_strings[i]) rc = TK_ENOMEM;
        }
    }
    if (rc) {
        r->ops.destroy = NULL; /* the caller keeps state on failure */
        tk_renderer_free(r);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    *out = r;
    return 0;
}
