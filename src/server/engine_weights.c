/* Weights on the engine (protocol §3.5): save_weights and save_weights_for_sampler write engine
 * checkpoints into the checkpoint store (staged, then committed atomically); the unnamed
 * save_weights_for_sampler copies the adapter in memory into a new sampling session; load_weights
 * loads a checkpoint into a live model or creates the model from it (create-via-load). All are
 * barriers in their model's seq_id order. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine_glue_internal.h"

typedef struct weights_payload {
    tk_server_ckpt_kind kind;
    char name[TK_SERVER_NAME_MAX];
    bool overwrite;
    double ttl_s;
    int64_t ss_seq;                 /* unnamed save_weights_for_sampler */
    char path[TK_SERVER_PATH_MAX];  /* load_weights */
    bool optimizer;
} weights_payload;

static weights_payload *payload_new(void) { return calloc(1, sizeof(weights_payload)); }

static const char *save_type(tk_server_ckpt_kind k) {
    return k == TK_SERVER_CKPT_WEIGHTS ? "save_weights" : "save_weights_for_sampler";
}

/* ---- save ------------------------------------------------------------------------------------------- */

static void run_save(tk_server *s, tk_server_job **jobs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        const weights_payload *p = j->payload;
        tk_server_model *m = j->model;
        tk_engine_adapter *a = tk_server_engine_adapter(m);
        tk_err e = {0};
        tk_server_stage *st = NULL;
        char path[TK_SERVER_PATH_MAX];
        int rc = tk_server_store_stage(s->store, m->id, p->kind, p->name, p->overwrite, &st, &e);
        if (rc == TK_EEXIST) {
            tk_server_job_fail(s, j, TK_SERVER_CAT_USER,
                               "%s: checkpoint tinker://%s/%s/%s already exists; save under another name%s", j->type,
                               m->id, tk_server_ckpt_kind_dir(p->kind), p->name,
                               p->kind == TK_SERVER_CKPT_WEIGHTS ? " or pass overwrite" : "");
            continue;
        }
        bool state = p->kind == TK_SERVER_CKPT_WEIGHTS;
        if (!rc)
            rc = tk_engine_checkpoint_save(a, tk_server_stage_payload_dir(st),
                                           state ? TK_ENGINE_CKPT_STATE : TK_ENGINE_CKPT_SAMPLER, m->base_model,
                                           true /* the staged payload directory exists, empty */, &e);
        json_t *extra = rc ? NULL : json_pack("{s:s, s:I, s:b}", "format", "tinkerc-lora-checkpoint", "step",
                                              (json_int_t)tk_engine_adapter_step(a), "optimizer", state);
        if (!rc && !extra) rc = tk_err_set(&e, TK_ENOMEM, "out of memory");
        if (rc) tk_server_store_abort(s->store, st);
        else rc = tk_server_store_commit(s->store, st, p->ttl_s, extra, path, &e);
        json_decref(extra);
        if (rc) {
            tk_server_job_fail(s, j, tk_glue_category(rc), "%s: %s", j->type, e.msg);
            continue;
        }
        tk_glue_succeed_json(s, j, json_pack("{s:s, s:s}", "path", path, "type", save_type(p->kind)));
    }
}

tk_server_job *tk_server_engine_save_job(tk_server_ckpt_kind kind, const char *name, bool overwrite, double ttl_s) {
    weights_payload *p = payload_new();
    if (!p) return NULL;
    p->kind = kind;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->overwrite = overwrite;
    p->ttl_s = ttl_s;
    return tk_server_job_new(save_type(kind), run_save, false, p, free);
}

/* ---- save_weights_for_sampler without a name ---------------------------------------------------------- */

/* A new adapter over the same model with a's configuration and weights (not its optimizer). */
static int clone_adapter(tk_engine_adapter *a, tk_engine_adapter **out, tk_err *e) {
    int rc = tk_engine_adapter_new(tk_engine_adapter_model(a), tk_engine_adapter_config(a), out, e);
    for (size_t i = 0; !rc && i < tk_engine_adapter_num_tensors(a); i++) {
        tk_engine_tensor src, dst;
        rc = tk_engine_adapter_tensor(a, i, &src, e);
        if (!rc) rc = tk_engine_adapter_tensor(*out, i, &dst, e);
        if (!rc && (src.rows != dst.rows || src.cols != dst.cols))
            rc = tk_err_set(e, TK_EINVAL, "copying %s: shapes differ", src.name);
        if (!rc) memcpy(dst.param, src.param, (size_t)src.rows * (size_t)src.cols * sizeof *src.param);
    }
    if (rc) {
        tk_engine_adapter_free(*out);
        *out = NULL;
    }
    return rc;
}

static void run_sampler_copy(tk_server *s, tk_server_job **jobs, size_t n) {
    tk_glue *g = s->hooks.user;
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        const weights_payload *p = j->payload;
        tk_server_model *m = j->model;
        tk_glue_model *ms = m->engine;
        tk_err e = {0};
        char sid[TK_SERVER_ID_MAX];
        bool existed = false;
        tk_engine_adapter *copy = NULL;
        tk_server_sampler *sp = NULL;
        int rc = clone_adapter(ms->a, &copy, &e);
        if (!rc) rc = tk_server_sampler_create(s, m->session_id, p->ss_seq, m->base_model, NULL, sid, &existed, &e);
        if (!rc && existed)
            rc = tk_err_set(&e, TK_EINVAL, "sampling_session_seq_id %lld of session %s was already used; each "
                            "sampling session needs its own seq id", (long long)p->ss_seq, m->session_id);
        if (!rc) rc = tk_server_sampler_get(s, sid, &sp, &e);
        if (!rc && sp->engine) rc = tk_err_set(&e, TK_EINVAL, "sampling session %s already has weights", sid);
        if (!rc) {
            rc = tk_glue_sampler_attach(g, sp, ms->base, copy, &e); /* takes copy */
            copy = NULL;
        }
        tk_engine_adapter_free(copy);
        tk_server_sampler_unref(s, sp);
        if (rc) {
            tk_server_job_fail(s, j, tk_glue_category(rc), "save_weights_for_sampler: %s", e.msg);
            continue;
        }
        tk_glue_succeed_json(s, j, json_pack("{s:n, s:s, s:s}", "path", "sampling_session_id", sid, "type",
                                             "save_weights_for_sampler"));
        /* an RL loop makes one of these per step: keep the newest few copies per model */
        char *keep = tk_strdup(sid);
        if (!keep || tk_vec_push(&ms->copies, keep)) free(keep);
        while (ms->copies.len > (size_t)s->cfg.max_unnamed_samplers) {
            char reason[TK_SERVER_ID_MAX + 256];
            snprintf(reason, sizeof reason, "it was one of the unnamed save_weights_for_sampler sessions of %s, which "
                     "keeps only its newest %d in memory (save_weights_for_sampler with a name keeps weights on disk)",
                     m->id, s->cfg.max_unnamed_samplers);
            tk_server_sampler_retire(s, ms->copies.data[0], reason);
            free(ms->copies.data[0]);
            memmove(ms->copies.data, ms->copies.data + 1, (ms->copies.len - 1) * sizeof *ms->copies.data);
            ms->copies.len--;
        }
    }
}

tk_server_job *tk_server_engine_sampler_copy_job(int64_t sampling_session_seq_id) {
    weights_payload *p = payload_new();
    if (!p) return NULL;
    p->ss_seq = sampling_session_seq_id;
    return tk_server_job_new("save_weights_for_sampler", run_sampler_copy, false, p, free);
}

/* ---- load_weights ------------------------------------------------------------------------------------- */

static void run_load(tk_server *s, tk_server_job **jobs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        const weights_payload *p = j->payload;
        tk_err e = {0};
        char *dir = NULL;
        int rc = tk_server_store_find_path(s->store, p->path, &dir, NULL, &e);
        if (!rc) rc = tk_engine_checkpoint_load_into(tk_server_engine_adapter(j->model), dir, p->optimizer, &e);
        free(dir);
        if (rc) {
            tk_server_job_fail(s, j, tk_glue_category(rc), "load_weights %s: %s", p->path, e.msg);
            continue;
        }
        tk_glue_succeed_json(s, j, json_pack("{s:s, s:s, s:s}", "path", p->path, "model_id", j->model->id, "type",
                                             "load_weights"));
    }
}

static void run_create_from(tk_server *s, tk_server_job **jobs, size_t n) {
    tk_glue *g = s->hooks.user;
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        const weights_payload *p = j->payload;
        tk_server_model *m = j->model;
        tk_err e = {0};
        char *dir = NULL;
        tk_engine_adapter *a = NULL;
        tk_glue_base *b = tk_glue_base_get(g, m->base_model, &e);
        int rc = b ? tk_server_store_find_path(s->store, p->path, &dir, NULL, &e) : (e.code ? e.code : TK_ENOMEM);
        if (!rc) rc = tk_engine_checkpoint_load(b->m, dir, p->optimizer, &a, &e);
        if (!rc) rc = tk_glue_model_attach(m, b, a, &e);
        free(dir);
        if (rc) {
            tk_server_job_fail(s, j, tk_glue_category(rc), "load_weights %s: %s", p->path, e.msg);
            continue;
        }
        tk_glue_model_describe(m, b);
        tk_glue_succeed_json(s, j, json_pack("{s:s, s:s, s:s}", "path", p->path, "model_id", m->id, "type",
                                             "load_weights"));
    }
}

tk_server_job *tk_server_engine_load_job(const char *tinker_path, bool optimizer, bool creates_model) {
    weights_payload *p = payload_new();
    if (!p) return NULL;
    snprintf(p->path, sizeof p->path, "%s", tinker_path);
    p->optimizer = optimizer;
    return tk_server_job_new("load_weights", creates_model ? run_create_from : run_load, false, p, free);
}
