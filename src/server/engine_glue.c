/* The engine behind the server (see engine_glue.h).
 *
 * Base models are loaded on the worker the first time an adapter needs them and kept until the
 * server stops (reloading a base model costs seconds; adapters are cheap). Each training model's
 * engine state is its adapter plus the base it borrows.
 *
 * forward / forward_backward jobs arrive in batches of consecutive requests of one model, but each
 * request still runs as its own engine call, in seq_id order: merging them into one call would
 * sum gradients in an order that depends on how requests happened to arrive, and DESIGN.md asks
 * for bit-identical results run after run. */
#include "engine_glue_internal.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- base model resolution ---------------------------------------------------------------------- */

static bool has_config(const char *dir) {
    char *p = tk_path_join(dir, "config.json");
    bool ok = p && tk_path_exists(p);
    free(p);
    return ok;
}

static char *hf_hub_dir(void) {
    const char *c = getenv("HF_HUB_CACHE");
    if (c && *c) return tk_strdup(c);
    const char *h = getenv("HF_HOME");
    if (h && *h) return tk_path_join(h, "hub");
    return tk_path_expand_user("~/.cache/huggingface/hub");
}

/* models--<org>--<name>/snapshots/<rev> of the cache, or NULL. */
static char *hf_snapshot(const char *hub, const char *name) {
    const char *slash = strchr(name, '/');
    if (!slash || slash == name || !slash[1] || strchr(slash + 1, '/') || strstr(name, "..")) return NULL;
    tk_buf repo = {0};
    if (tk_buf_printf(&repo, "%s/models--%.*s--%s", hub, (int)(slash - name), name, slash + 1)) {
        tk_buf_free(&repo);
        return NULL;
    }
    char *snaps = tk_path_join(repo.data, "snapshots");
    char *refp = tk_path_join(repo.data, "refs/main");
    tk_buf ref = {0};
    char *out = NULL;
    tk_err e = {0};
    if (snaps && refp && tk_file_read(refp, &ref, 4096, &e) == 0) {
        while (ref.len && (ref.data[ref.len - 1] == '\n' || ref.data[ref.len - 1] == ' ')) ref.data[--ref.len] = '\0';
        if (ref.len && !strchr(ref.data, '/') && !strstr(ref.data, "..")) out = tk_path_join(snaps, ref.data);
    } else if (snaps) { /* no refs/main: accept a single snapshot */
        DIR *d = opendir(snaps);
        struct dirent *de;
        int count = 0;
        char *only = NULL;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            count++;
            free(only);
            only = tk_strdup(de->d_name);
        }
        if (d) closedir(d);
        if (count == 1 && only) out = tk_path_join(snaps, only);
        free(only);
    }
    if (out && !has_config(out)) {
        free(out);
        out = NULL;
    }
    tk_buf_free(&ref);
    tk_buf_free(&repo);
    free(snaps);
    free(refp);
    return out;
}

int tk_server_model_dir(const tk_server *s, const char *name, char **dir_out, tk_err *e) {
    *dir_out = NULL;
    if (!name || !*name) return tk_err_set(e, TK_EINVAL, "base_model: must not be empty");
    for (size_t i = 0; i < s->served.len; i++)
        if (!strcmp(s->served.data[i].name, name)) {
            *dir_out = tk_strdup(s->served.data[i].dir);
            return *dir_out ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
        }
    if (name[0] == '/' && tk_path_is_dir(name) && has_config(name)) {
        *dir_out = tk_strdup(name);
        return *dir_out ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    char *hub = hf_hub_dir();
    if (hub && (*dir_out = hf_snapshot(hub, name))) {
        free(hub);
        return 0;
    }
    tk_buf served = {0};
    for (size_t i = 0; i < s->served.len; i++)
        if (tk_buf_printf(&served, "%s%s", i ? ", " : "", s->served.data[i].name)) break;
    int rc = tk_err_set(e, TK_ENOTFOUND,
                        "base model \"%s\" not found: it is not served with --model (served: %s), not an absolute "
                        "path to a model directory with config.json, and not in the Hugging Face cache %s",
                        name, served.len ? served.data : "none", hub ? hub : "(no cache directory)");
    tk_buf_free(&served);
    free(hub);
    return rc;
}

/* ---- attach / close ------------------------------------------------------------------------------- */

static int resolve_hook(void *user, const char *name, tk_err *e) {
    tk_glue *g = user;
    char *dir = NULL;
    int rc = tk_server_model_dir(g->s, name, &dir, e);
    free(dir);
    return rc;
}

static int checkpoint_info_hook(void *user, const char *dir, json_t **out, tk_err *e) {
    (void)user;
    *out = NULL;
    tk_engine_ckpt_info ci;
    int rc = tk_engine_checkpoint_info(dir, &ci, e);
    if (rc) return tk_err_prefix(e, "reading the checkpoint: "), rc;
    *out = json_pack("{s:I, s:b, s:b, s:b, s:b}", "lora_rank", (json_int_t)ci.lora.rank, "is_lora", true, "train_attn",
                     ci.lora.train_attn, "train_mlp", ci.lora.train_mlp, "train_unembed", ci.lora.train_unembed);
    if (*out && ci.base_model[0]) json_object_set_new(*out, "base_model", json_string(ci.base_model));
    return *out ? 0 : tk_err_set(e, TK_ENOMEM, "out of memory");
}

static void close_hook(void *user) {
    tk_glue *g = user;
    tk_glue_sample_close(g); /* decode loops first: they borrow adapters */
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(g->bases, &pos, &k, &kl, &v)) {
        tk_glue_base *b = v;
        if (b->adapters) tk_warn("server: base model %s still has %d adapter(s) at stop", b->dir, b->adapters);
        tk_engine_model_free(b->m);
        tk_tokenizer_free(b->tok);
        free(b->dir);
        free(b);
    }
    tk_map_free(g->bases);
    tk_vec_free(&g->inflight);
    free(g);
}

int tk_server_engine_attach(tk_server *s, tk_err *e) {
    for (size_t i = 0; i < s->served.len; i++) {
        tk_server_served *m = &s->served.data[i];
        char *p = tk_path_join(m->dir, "config.json");
        tk_buf b = {0};
        tk_engine_config c;
        int rc = p ? tk_file_read(p, &b, 16 << 20, e) : tk_err_set(e, TK_ENOMEM, "out of memory");
        if (!rc) rc = tk_engine_config_parse(b.data, b.len, p, &c, e);
        tk_buf_free(&b);
        free(p);
        if (rc) {
            tk_err_prefix(e, "--model %s=%s: ", m->name, m->dir);
            return rc;
        }
        if (m->max_context_length <= 0) m->max_context_length = c.max_position_embeddings;
    }
    tk_glue *g = calloc(1, sizeof *g);
    if (!g || !(g->bases = tk_map_new(8))) {
        free(g);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    g->s = s;
    tk_server_engine_hooks h = {.user = g, .resolve_base_model = resolve_hook,
                                .checkpoint_info = checkpoint_info_hook, .background = tk_glue_sample_background,
                                .close = close_hook};
    tk_server_set_engine_hooks(s, &h);
    return 0;
}

/* ---- results ---------------------------------------------------------------------------------------- */

void tk_glue_succeed_json(tk_server *s, tk_server_job *j, json_t *v) {
    tk_buf b = {0};
    if (!v || tk_json_dump(v, &b)) {
        tk_buf_free(&b);
        tk_server_job_fail(s, j, TK_SERVER_CAT_SERVER, "%s: out of memory encoding the result", j->type);
    } else
        tk_server_job_succeed(s, j, &b, NULL);
    json_decref(v);
}

tk_server_category tk_glue_category(int code) {
    return code == TK_EINVAL || code == TK_ERANGE || code == TK_ENOTFOUND || code == TK_EUNSUPPORTED ||
                   code == TK_EPARSE
               ? TK_SERVER_CAT_USER
               : TK_SERVER_CAT_SERVER;
}

tk_engine_adapter *tk_server_engine_adapter(tk_server_model *m) {
    tk_glue_model *ms = m ? m->engine : NULL;
    return ms ? ms->a : NULL;
}

/* ---- engine state of models and samplers ------------------------------------------------------------ */

static void free_model_state(void *p) {
    tk_glue_model *ms = p;
    if (!ms) return;
    tk_engine_adapter_free(ms->a);
    ms->base->adapters--;
    for (size_t i = 0; i < ms->copies.len; i++) free(ms->copies.data[i]);
    tk_vec_free(&ms->copies);
    free(ms);
}

int tk_glue_model_attach(tk_server_model *m, tk_glue_base *base, tk_engine_adapter *a, tk_err *e) {
    tk_glue_model *ms = calloc(1, sizeof *ms);
    if (!ms) {
        tk_engine_adapter_free(a);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    ms->a = a;
    ms->base = base;
    base->adapters++;
    m->engine = ms;
    m->engine_free = free_model_state;
    return 0;
}

static void free_sampler_state(void *p) {
    tk_glue_sampler *st = p;
    if (!st) return;
    /* a closed session's requests still in the decode loop are stopped first (they borrow a) */
    if (st->inflight) tk_glue_sample_cancel(st->g, st, "its sampling session was closed");
    if (st->a) {
        tk_engine_adapter_free(st->a);
        st->base->adapters--;
    }
    free(st);
}

int tk_glue_sampler_attach(tk_glue *g, tk_server_sampler *sp, tk_glue_base *base, tk_engine_adapter *a, tk_err *e) {
    tk_glue_sampler *st = calloc(1, sizeof *st);
    if (!st) {
        tk_engine_adapter_free(a);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    st->g = g;
    st->base = base;
    st->a = a;
    if (a) base->adapters++;
    sp->engine = st;
    sp->engine_free = free_sampler_state;
    return 0;
}

/* ---- base models ----------------------------------------------------------------------------------- */

tk_glue_base *tk_glue_base_get(tk_glue *g, const char *name, tk_err *e) {
    char *dir = NULL;
    if (tk_server_model_dir(g->s, name, &dir, e)) return NULL;
    void *v = NULL;
    if (tk_map_sget(g->bases, dir, &v)) {
        free(dir);
        return v;
    }
    tk_glue_base *b = calloc(1, sizeof *b);
    if (!b) {
        free(dir);
        tk_err_set(e, TK_ENOMEM, "out of memory");
        return NULL;
    }
    b->dir = dir;
    double t0 = tk_now_s();
    if (tk_engine_model_load(dir, &b->m, e) || tk_map_sput(g->bases, b->dir, b)) {
        if (!e->code) tk_err_set(e, TK_ENOMEM, "out of memory");
        tk_engine_model_free(b->m);
        free(b->dir);
        free(b);
        return NULL;
    }
    tk_info("server: loaded base model %s (%zu parameters) in %.1f s", dir, tk_engine_model_num_params(b->m),
            tk_now_s() - t0);
    return b;
}

/* ---- create_model ---------------------------------------------------------------------------------- */

/* get_info's tokenizer_id: the model directory when it holds tokenizer.json and the base model was
 * not a Hugging Face name (a --model NAME=DIR entry or a path: clients load the tokenizer from
 * there), else the name itself (clients find it in their Hugging Face cache, as for the hosted
 * service). */
static char *tokenizer_id_of(const char *base_model, const char *dir) {
    char *tj = tk_path_join(dir, "tokenizer.json");
    bool local = tj && tk_path_exists(tj) && !strstr(dir, "/models--");
    free(tj);
    return tk_strdup(local ? dir : base_model);
}

/* Record what get_info reports once the model is ready. */
void tk_glue_model_describe(tk_server_model *m, tk_glue_base *b) {
    snprintf(m->arch, sizeof m->arch, "%s", tk_engine_arch_name(tk_engine_model_config(b->m)->arch));
    free(m->tokenizer_id);
    m->tokenizer_id = tokenizer_id_of(m->base_model, b->dir);
}

static void run_create(tk_server *s, tk_server_job **jobs, size_t n) {
    tk_glue *g = s->hooks.user;
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        tk_server_model *m = j->model;
        tk_err e = {0};
        tk_engine_adapter *a = NULL;
        tk_glue_base *b = tk_glue_base_get(g, m->base_model, &e);
        int rc = b ? tk_engine_adapter_new(b->m, j->payload, &a, &e) : (e.code ? e.code : TK_ENOMEM);
        if (!rc) rc = tk_glue_model_attach(m, b, a, &e);
        if (rc) {
            tk_server_job_fail(s, j, tk_glue_category(rc), "create_model %s: %s", m->base_model, e.msg);
            continue;
        }
        tk_glue_model_describe(m, b);
        tk_glue_succeed_json(s, j, json_pack("{s:s, s:s}", "model_id", m->id, "type", "create_model"));
    }
}

tk_server_job *tk_server_engine_create_job(const tk_engine_lora_config *lc) {
    tk_engine_lora_config *p = malloc(sizeof *p);
    if (!p) return NULL;
    *p = *lc;
    return tk_server_job_new("create_model", run_create, false, p, free);
}

/* ---- optim_step ---------------------------------------------------------------------------------------- */

static void run_optim(tk_server *s, tk_server_job **jobs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        const tk_engine_adam *p = j->payload;
        tk_engine_optim_stats st = {0};
        tk_err e = {0};
        int rc = tk_engine_optim_step(tk_server_engine_adapter(j->model), p, &st, &e);
        if (rc) {
            tk_server_job_fail(s, j, tk_glue_category(rc), "optim_step: %s", e.msg);
            continue;
        }
        tk_glue_succeed_json(s, j, json_pack("{s:{s:f, s:f, s:f}, s:s}", "metrics", "grad_norm:mean", st.grad_norm,
                                     "learning_rate:mean", p->learning_rate, "step:max", (double)st.step, "type",
                                     "optim_step"));
    }
}

tk_server_job *tk_server_engine_optim_job(const tk_engine_adam *adam) {
    tk_engine_adam *p = malloc(sizeof *p);
    if (!p) return NULL;
    *p = *adam;
    return tk_server_job_new("optim_step", run_optim, false, p, free);
}

/* ---- forward / forward_backward ------------------------------------------------------------------------ */

typedef struct fb_payload {
    tk_arena *arena;
    tk_engine_request req;
    bool forward_only;
    tk_server_fb_encode_fn encode;
} fb_payload;

static void fb_free(void *p) {
    fb_payload *f = p;
    if (!f) return;
    tk_arena_free(f->arena);
    free(f);
}

static void run_fb(tk_server *s, tk_server_job **jobs, size_t n) {
    for (size_t i = 0; i < n; i++) { /* one engine call per request, in order (see the top) */
        tk_server_job *j = jobs[i];
        fb_payload *f = j->payload;
        tk_engine_adapter *a = tk_server_engine_adapter(j->model);
        size_t T = tk_engine_request_tokens(&f->req);
        float *lp = tk_malloc_array(T ? T : 1, sizeof *lp);
        float *el = tk_malloc_array(T ? T : 1, sizeof *el);
        tk_engine_output out = {lp, el, 0};
        tk_err e = {0};
        int rc = (!lp || !el) ? tk_err_set(&e, TK_ENOMEM, "out of memory for %zu tokens", T) : 0;
        if (!rc)
            rc = f->forward_only ? tk_engine_forward(tk_engine_adapter_model(a), a, &f->req, &out, &e)
                                 : tk_engine_forward_backward(a, &f->req, &out, &e);
        tk_buf json = {0}, proto = {0};
        if (!rc && !isfinite(out.loss_sum))
            tk_warn("server: %s of %s gave a non-finite loss", j->type, j->model->id);
        if (!rc) rc = f->encode(&f->req, &out, &json, &proto, &e);
        if (rc) tk_server_job_fail(s, j, tk_glue_category(rc), "%s: %s", j->type, e.msg);
        else tk_server_job_succeed(s, j, &json, &proto);
        tk_buf_free(&json);
        tk_buf_free(&proto);
        free(lp);
        free(el);
    }
}

tk_server_job *tk_server_engine_fb_job(tk_arena *arena, const tk_engine_request *req, bool forward_only,
                                       tk_server_fb_encode_fn encode) {
    fb_payload *f = calloc(1, sizeof *f);
    if (!f) {
        tk_arena_free(arena);
        return NULL;
    }
    f->arena = arena;
    f->req = *req;
    f->forward_only = forward_only;
    f->encode = encode;
    return tk_server_job_new(forward_only ? "forward" : "forward_backward", run_fb, true, f, fb_free);
}
