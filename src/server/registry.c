/* Sessions, training models and sampling sessions, and the submit paths into the worker.
 * One mutex (reg_mu) guards all three tables, every model's seq_id queue and every sampler's
 * dedup table; the lock is held only for table operations, never while a job runs. Lock order:
 * reg_mu, then futures / worker queue (never the other way). */
#include "server_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define TOMBSTONE_TTL_S 3600.0 /* how long an expired session and its models stay answerable */

typedef struct session {
    char id[TK_SERVER_ID_MAX];
    uint64_t order;
    double created_wall, last_seen; /* last_seen: tk_now_s */
    json_t *tags, *user_metadata;
    char *project_id, *sdk_version;
    char owner[24];                 /* fingerprint of the creating API key */
    bool expired;
    double expired_at;
    char *reason;
    tk_vec_str model_ids, sampler_ids;
} session;

typedef struct sample_rec {
    char rid[TK_SERVER_ID_MAX];
    uint64_t hash;
    double created; /* tk_now_s */
} sample_rec;

/* ---- lookups (caller holds reg_mu) ------------------------------------------------------------ */

static session *get_session(tk_server *s, const char *id) {
    void *v = NULL;
    return id && tk_map_sget(s->sessions, id, &v) ? v : NULL;
}
static tk_server_model *get_model(tk_server *s, const char *id) {
    void *v = NULL;
    return id && tk_map_sget(s->models, id, &v) ? v : NULL;
}
static tk_server_sampler *get_sampler(tk_server *s, const char *id) {
    void *v = NULL;
    return id && tk_map_sget(s->samplers, id, &v) ? v : NULL;
}

/* A session usable for new work: found and not expired; touches it. */
static int live_session(tk_server *s, const char *id, session **out, tk_err *e) {
    session *ss = get_session(s, id);
    if (!ss) return tk_err_set(e, TK_ENOTFOUND, "session \"%s\" not found", id ? id : "");
    if (ss->expired) return tk_err_set(e, TK_ESTATE, "session %s has expired: %s", ss->id, ss->reason);
    ss->last_seen = tk_now_s();
    if (out) *out = ss;
    return 0;
}

static void touch_session(tk_server *s, const char *id) {
    session *ss = get_session(s, id);
    if (ss && !ss->expired) ss->last_seen = tk_now_s();
}

static int push_str(tk_vec_str *v, const char *str) {
    char *c = tk_strdup(str);
    if (!c || tk_vec_push(v, c)) { free(c); return TK_ENOMEM; }
    return 0;
}

static void fail_drained(tk_server *s, tk_server_ptr_vec *drained, const char *why);

/* ---- freeing ---------------------------------------------------------------------------------- */

static void model_destroy(tk_server_model *m) {
    /* engine state is released on the worker before the last reference goes, except at shutdown
     * where the worker has stopped and this thread is the only one left */
    if (m->engine && m->engine_free) m->engine_free(m->engine);
    tk_server_seq_free(&m->seq);
    free(m->base_model);
    free(m->tokenizer_id);
    json_decref(m->user_metadata);
    free(m->reason);
    free(m);
}

static void free_samples(tk_server_sampler *sp) {
    if (!sp->samples) return;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(sp->samples, &pos, &k, &kl, &v)) free(v);
    tk_map_free(sp->samples);
    sp->samples = NULL;
}

static void sampler_destroy(tk_server_sampler *sp) {
    if (sp->engine && sp->engine_free) sp->engine_free(sp->engine);
    free_samples(sp);
    free(sp->base_model);
    free(sp->model_path);
    free(sp->reason);
    free(sp);
}

static void session_destroy(session *ss) {
    json_decref(ss->tags);
    json_decref(ss->user_metadata);
    free(ss->project_id);
    free(ss->sdk_version);
    free(ss->reason);
    for (size_t i = 0; i < ss->model_ids.len; i++) free(ss->model_ids.data[i]);
    for (size_t i = 0; i < ss->sampler_ids.len; i++) free(ss->sampler_ids.data[i]);
    tk_vec_free(&ss->model_ids);
    tk_vec_free(&ss->sampler_ids);
    free(ss);
}

static void model_unref_locked(tk_server_model *m) {
    if (--m->refs == 0) model_destroy(m);
}
static void sampler_unref_locked(tk_server_sampler *sp) {
    if (--sp->refs == 0) sampler_destroy(sp);
}

void tk_server_model_unref(tk_server *s, tk_server_model *m) {
    if (!m) return;
    pthread_mutex_lock(&s->reg_mu);
    model_unref_locked(m);
    pthread_mutex_unlock(&s->reg_mu);
}

void tk_server_sampler_unref(tk_server *s, tk_server_sampler *sp) {
    if (!sp) return;
    pthread_mutex_lock(&s->reg_mu);
    sampler_unref_locked(sp);
    pthread_mutex_unlock(&s->reg_mu);
}

void tk_server_registry_free(tk_server *s) {
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    if (s->models) {
        /* jobs still waiting for a seq_id gap hold model references: fail and free them first */
        tk_server_ptr_vec drained = {0};
        while (tk_map_next(s->models, &pos, &k, &kl, &v))
            if (tk_server_seq_drain(&((tk_server_model *)v)->seq, &drained)) tk_warn("server: out of memory at stop");
        fail_drained(s, &drained, "the server is stopping");
        pos = 0;
        while (tk_map_next(s->models, &pos, &k, &kl, &v)) model_unref_locked(v);
        tk_map_free(s->models);
    }
    if (s->samplers) {
        pos = 0;
        while (tk_map_next(s->samplers, &pos, &k, &kl, &v)) sampler_unref_locked(v);
        tk_map_free(s->samplers);
    }
    if (s->sessions) {
        pos = 0;
        while (tk_map_next(s->sessions, &pos, &k, &kl, &v)) session_destroy(v);
        tk_map_free(s->sessions);
    }
    s->models = s->samplers = s->sessions = NULL;
}

/* ---- engine release jobs ---------------------------------------------------------------------- */

static void run_release(tk_server *s, tk_server_job **jobs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        if (j->model && j->model->engine) {
            if (j->model->engine_free) j->model->engine_free(j->model->engine);
            j->model->engine = NULL;
        }
        if (j->sampler && j->sampler->engine) {
            if (j->sampler->engine_free) j->sampler->engine_free(j->sampler->engine);
            j->sampler->engine = NULL;
        }
        tk_buf b = {0};
        if (tk_buf_puts(&b, "{}")) tk_buf_free(&b);
        tk_server_job_succeed(s, j, &b, NULL);
    }
}

/* Queue the release of a model's or sampler's engine state (caller holds reg_mu). */
static void queue_release(tk_server *s, tk_server_model *m, tk_server_sampler *sp) {
    tk_server_job *j = tk_server_job_new("release", run_release, false, NULL, NULL);
    if (!j) {
        tk_warn("server: out of memory queueing the release of %s", m ? m->id : sp->id);
        return;
    }
    j->any_state = true;
    if (m) { j->model = m; m->refs++; }
    if (sp) { j->sampler = sp; sp->refs++; }
    tk_server_worker_push(s, j);
}

/* Unload m (caller holds reg_mu): later submits get 410; buffered jobs go to *drained. */
static void unload_locked(tk_server *s, tk_server_model *m, const char *reason, tk_server_ptr_vec *drained) {
    if (m->state == TK_SERVER_MODEL_UNLOADED) return;
    bool had_engine_work = m->state != TK_SERVER_MODEL_FAILED;
    m->state = TK_SERVER_MODEL_UNLOADED;
    free(m->reason);
    m->reason = tk_strdup(reason);
    if (tk_server_seq_drain(&m->seq, drained)) tk_warn("server: out of memory draining %s", m->id);
    if (had_engine_work) queue_release(s, m, NULL);
}

static void fail_drained(tk_server *s, tk_server_ptr_vec *drained, const char *why) {
    for (size_t i = 0; i < drained->len; i++) {
        tk_server_job *j = drained->data[i];
        tk_server_job_fail(s, j, TK_SERVER_CAT_USER, "%s was not run: %s", j->type, why);
        tk_server_job_free(s, j);
    }
    tk_vec_free(drained);
}

/* ---- sessions --------------------------------------------------------------------------------- */

int tk_server_session_create(tk_server *s, const json_t *tags, const json_t *user_metadata, const char *project_id,
                             const char *sdk_version, const char *api_key, char id_out[TK_SERVER_ID_MAX], tk_err *e) {
    session *ss = calloc(1, sizeof *ss);
    if (!ss) return tk_err_set(e, TK_ENOMEM, "out of memory");
    tk_uuid4(ss->id);
    tk_server_auth_fingerprint(api_key, ss->owner);
    ss->created_wall = tk_wall_s();
    ss->last_seen = tk_now_s();
    ss->tags = tags ? json_deep_copy(tags) : json_array();
    ss->user_metadata = user_metadata ? json_deep_copy(user_metadata) : json_object();
    ss->project_id = project_id ? tk_strdup(project_id) : NULL;
    ss->sdk_version = sdk_version ? tk_strdup(sdk_version) : NULL;
    if (!ss->tags || !ss->user_metadata || (project_id && !ss->project_id) || (sdk_version && !ss->sdk_version)) {
        session_destroy(ss);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&s->reg_mu);
    ss->order = ++s->session_counter;
    int rc = tk_map_sput(s->sessions, ss->id, ss);
    pthread_mutex_unlock(&s->reg_mu);
    if (rc) {
        session_destroy(ss);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    memcpy(id_out, ss->id, sizeof ss->id);
    return 0;
}

int tk_server_session_heartbeat(tk_server *s, const char *id, tk_err *e) {
    pthread_mutex_lock(&s->reg_mu);
    int rc = live_session(s, id, NULL, e);
    pthread_mutex_unlock(&s->reg_mu);
    return rc;
}

static int cmp_session_newest(const void *a, const void *b) {
    const session *x = *(session *const *)a, *y = *(session *const *)b;
    return (x->order < y->order) - (x->order > y->order);
}

int tk_server_session_list(tk_server *s, const char *owner, int64_t offset, int64_t limit, json_t **out, tk_err *e) {
    *out = NULL;
    TK_VEC(session *) all = {0};
    json_t *ids = json_array();
    int rc = ids ? 0 : TK_ENOMEM;
    pthread_mutex_lock(&s->reg_mu);
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (!rc && tk_map_next(s->sessions, &pos, &k, &kl, &v))
        if (!owner || !strcmp(((session *)v)->owner, owner)) rc = tk_vec_push(&all, (session *)v);
    if (!rc && all.len) qsort(all.data, all.len, sizeof *all.data, cmp_session_newest);
    for (size_t i = (size_t)offset; !rc && i < all.len && (int64_t)(i - (size_t)offset) < limit; i++)
        if (json_array_append_new(ids, json_string(all.data[i]->id))) rc = TK_ENOMEM;
    size_t total = all.len;
    pthread_mutex_unlock(&s->reg_mu);
    tk_vec_free(&all);
    if (!rc) {
        *out = json_pack("{s:o, s:{s:I, s:I, s:I}}", "sessions", ids, "cursor", "offset", (json_int_t)offset, "limit",
                         (json_int_t)limit, "total_count", (json_int_t)total);
        ids = NULL;
        if (!*out) rc = TK_ENOMEM;
    }
    json_decref(ids);
    return rc ? tk_err_set(e, rc, "listing sessions: out of memory") : 0;
}

static json_t *str_array(const tk_vec_str *v) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < v->len; i++)
        if (json_array_append_new(a, json_string(v->data[i]))) { json_decref(a); return NULL; }
    return a;
}

int tk_server_session_info(tk_server *s, const char *id, json_t **out, tk_err *e) {
    *out = NULL;
    pthread_mutex_lock(&s->reg_mu);
    session *ss = get_session(s, id);
    if (ss) {
        char created[40];
        tk_iso8601_utc(ss->created_wall, created, sizeof created);
        *out = json_pack("{s:s, s:o, s:o, s:s, s:b, s:O, s:O, s:s?, s:s?, s:s?}", "session_id", ss->id,
                         "training_run_ids", str_array(&ss->model_ids), "sampler_ids", str_array(&ss->sampler_ids),
                         "created_at", created, "expired", ss->expired, "tags", ss->tags, "user_metadata",
                         ss->user_metadata, "project_id", ss->project_id, "sdk_version", ss->sdk_version,
                         "expiry_reason", ss->reason);
    }
    pthread_mutex_unlock(&s->reg_mu);
    if (!ss) return tk_err_set(e, TK_ENOTFOUND, "session \"%s\" not found", id);
    if (!*out) return tk_err_set(e, TK_ENOMEM, "out of memory");
    return 0;
}

int tk_server_session_set_project(tk_server *s, const char *id, const char *project_id, tk_err *e) {
    char *p = tk_strdup(project_id);
    if (!p) return tk_err_set(e, TK_ENOMEM, "out of memory");
    pthread_mutex_lock(&s->reg_mu);
    session *ss = get_session(s, id);
    if (ss) {
        free(ss->project_id);
        ss->project_id = p;
        p = NULL;
    }
    pthread_mutex_unlock(&s->reg_mu);
    free(p);
    return ss ? 0 : tk_err_set(e, TK_ENOTFOUND, "session \"%s\" not found", id);
}

/* ---- models ----------------------------------------------------------------------------------- */

int tk_server_model_create(tk_server *s, const char *session_id, int64_t model_seq_id, const tk_server_model_params *p,
                           const char *api_key, tk_server_job *job, char rid_out[TK_SERVER_ID_MAX], tk_err *e) {
    tk_server_model *m = NULL;
    int rc = 0;
    if (model_seq_id < 0) rc = tk_err_set(e, TK_EINVAL, "model_seq_id: must be >= 0, got %" PRId64, model_seq_id);
    else if (!p->base_model || !*p->base_model) rc = tk_err_set(e, TK_EINVAL, "base_model: must not be empty");
    if (rc) { tk_server_job_free(s, job); return rc; }
    pthread_mutex_lock(&s->reg_mu);
    session *ss = NULL;
    rc = live_session(s, session_id, &ss, e);
    char id[TK_SERVER_ID_MAX];
    if (!rc) snprintf(id, sizeof id, "%s:train:%" PRId64, ss->id, model_seq_id);
    tk_server_model *existing = rc ? NULL : get_model(s, id);
    if (existing) {
        memcpy(rid_out, existing->create_rid, TK_SERVER_ID_MAX); /* a retry of create_model */
        pthread_mutex_unlock(&s->reg_mu);
        tk_server_job_free(s, job);
        return 0;
    }
    if (!rc) {
        m = calloc(1, sizeof *m);
        if (!m) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc) {
        memcpy(m->id, id, sizeof id);
        memcpy(m->session_id, ss->id, sizeof ss->id);
        m->model_seq_id = model_seq_id;
        m->base_model = tk_strdup(p->base_model);
        m->is_lora = p->is_lora;
        m->lora_rank = p->lora_rank;
        m->train_mlp = p->train_mlp;
        m->train_attn = p->train_attn;
        m->train_unembed = p->train_unembed;
        m->user_metadata = p->user_metadata ? json_deep_copy(p->user_metadata) : json_object();
        tk_server_auth_fingerprint(api_key, m->owner);
        m->state = TK_SERVER_MODEL_CREATING;
        m->refs = 1;
        tk_server_seq_init(&m->seq, 1);
        if (!m->base_model || !m->user_metadata) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc) rc = tk_server_futures_create(s->futures, job->type, m->create_rid, e);
    if (!rc && (tk_map_sput(s->models, m->id, m) || push_str(&ss->model_ids, m->id))) {
        tk_map_del(s->models, m->id, strlen(m->id));
        tk_server_futures_discard(s->futures, m->create_rid);
        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc) {
        job->model = m;
        m->refs++;
        job->creates_model = true;
        job->seq_id = 0;
        memcpy(job->request_id, m->create_rid, TK_SERVER_ID_MAX);
        memcpy(rid_out, m->create_rid, TK_SERVER_ID_MAX);
        tk_server_worker_push(s, job);
        job = NULL;
        m = NULL;
    }
    if (m) model_destroy(m);
    pthread_mutex_unlock(&s->reg_mu);
    tk_server_job_free(s, job);
    return rc;
}

/* Why a model cannot take new work (caller holds reg_mu), or 0. */
static int model_usable(tk_server_model *m, const char *id, tk_err *e) {
    if (!m) return tk_err_set(e, TK_ENOTFOUND, "model \"%s\" not found", id);
    if (m->state == TK_SERVER_MODEL_UNLOADED)
        return tk_err_set(e, TK_ESTATE, "model %s was unloaded: %s", m->id, m->reason ? m->reason : "");
    if (m->state == TK_SERVER_MODEL_FAILED)
        return tk_err_set(e, TK_EINVAL, "model %s could not be created: %s", m->id, m->reason ? m->reason : "");
    return 0;
}

int tk_server_submit_train(tk_server *s, const char *model_id, int64_t seq_id, uint64_t hash, tk_server_job *job,
                           char rid_out[TK_SERVER_ID_MAX], tk_err *e) {
    tk_server_ptr_vec released = {0};
    tk_server_seq_result res;
    char rid[TK_SERVER_ID_MAX];
    pthread_mutex_lock(&s->reg_mu);
    tk_server_model *m = get_model(s, model_id);
    int rc = model_usable(m, model_id, e);
    if (!rc) rc = tk_server_futures_create(s->futures, job->type, rid, e);
    if (!rc) {
        touch_session(s, m->session_id);
        job->model = m;
        m->refs++;
        job->seq_id = seq_id;
        memcpy(job->request_id, rid, sizeof rid);
        if (tk_server_seq_submit(&m->seq, m->id, seq_id, hash, rid, job, tk_now_s(), &released, &res))
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        else if (res.outcome == TK_SERVER_SEQ_QUEUED) {
            job = NULL; /* the queue owns it now */
            memcpy(rid_out, rid, sizeof rid);
        } else if (res.outcome == TK_SERVER_SEQ_DUPLICATE) {
            memcpy(rid_out, res.rid, sizeof res.rid);
        } else
            rc = tk_err_set(e, TK_EINVAL, "%s", res.msg);
        if (job) tk_server_futures_discard(s->futures, rid);
        tk_server_worker_push_all(s, released.data, released.len);
    }
    pthread_mutex_unlock(&s->reg_mu);
    tk_vec_free(&released);
    if (job) {
        job->request_id[0] = '\0';
        tk_server_job_free(s, job);
    }
    if (!rc) tk_server_store_touch_run(s->store, model_id, tk_wall_s());
    return rc;
}

void tk_server_reject_train(tk_server *s, const char *model_id, int64_t seq_id, uint64_t hash, const char *msg) {
    tk_server_ptr_vec released = {0};
    tk_server_seq_result res;
    pthread_mutex_lock(&s->reg_mu);
    tk_server_model *m = get_model(s, model_id);
    if (m && (m->state == TK_SERVER_MODEL_READY || m->state == TK_SERVER_MODEL_CREATING)) {
        if (tk_server_seq_reject(&m->seq, m->id, seq_id, hash, msg, tk_now_s(), &released, &res) == 0)
            tk_server_worker_push_all(s, released.data, released.len);
    }
    pthread_mutex_unlock(&s->reg_mu);
    tk_vec_free(&released);
}

int tk_server_model_unload(tk_server *s, const char *model_id, const char *reason, tk_server_job *job,
                           char rid_out[TK_SERVER_ID_MAX], tk_err *e) {
    tk_server_ptr_vec drained = {0};
    pthread_mutex_lock(&s->reg_mu);
    tk_server_model *m = get_model(s, model_id);
    int rc = m ? 0 : tk_err_set(e, TK_ENOTFOUND, "model \"%s\" not found", model_id);
    if (!rc) unload_locked(s, m, reason, &drained);
    if (!rc && job) {
        rc = tk_server_futures_create(s->futures, job->type, job->request_id, e);
        if (!rc) {
            job->model = m;
            m->refs++;
            job->any_state = true;
            memcpy(rid_out, job->request_id, TK_SERVER_ID_MAX);
            tk_server_worker_push(s, job);
            job = NULL;
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
    if (job) {
        job->request_id[0] = '\0';
        tk_server_job_free(s, job);
    }
    fail_drained(s, &drained, reason);
    return rc;
}

int tk_server_model_get(tk_server *s, const char *model_id, tk_server_model **out, tk_err *e) {
    pthread_mutex_lock(&s->reg_mu);
    tk_server_model *m = get_model(s, model_id);
    if (m) m->refs++;
    pthread_mutex_unlock(&s->reg_mu);
    *out = m;
    return m ? 0 : tk_err_set(e, TK_ENOTFOUND, "model \"%s\" not found", model_id);
}

tk_server_model_state tk_server_model_state_of(tk_server *s, tk_server_model *m, char *reason, size_t n) {
    pthread_mutex_lock(&s->reg_mu);
    tk_server_model_state st = m->state;
    if (reason && n) snprintf(reason, n, "%s", m->reason ? m->reason : "");
    pthread_mutex_unlock(&s->reg_mu);
    return st;
}

/* ---- samplers --------------------------------------------------------------------------------- */

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

int tk_server_sampler_create(tk_server *s, const char *session_id, int64_t seq, const char *base_model,
                             const char *model_path, char id_out[TK_SERVER_ID_MAX], bool *existed, tk_err *e) {
    if (existed) *existed = false;
    if (seq < 0) return tk_err_set(e, TK_EINVAL, "sampling_session_seq_id: must be >= 0, got %" PRId64, seq);
    if (!base_model || !*base_model) return tk_err_set(e, TK_EINVAL, "sampling session needs a base model");
    pthread_mutex_lock(&s->reg_mu);
    session *ss = NULL;
    int rc = live_session(s, session_id, &ss, e);
    char id[TK_SERVER_ID_MAX];
    if (!rc) snprintf(id, sizeof id, "%s:sample:%" PRId64, ss->id, seq);
    tk_server_sampler *sp = rc ? NULL : get_sampler(s, id);
    if (sp) {
        if (same_str(sp->base_model, base_model) && same_str(sp->model_path, model_path)) {
            if (existed) *existed = true;
            memcpy(id_out, id, sizeof id);
        } else
            rc = tk_err_set(e, TK_EINVAL, "sampling_session_seq_id %" PRId64 " of session %s was already used for "
                            "%s; each sampling session needs its own seq id", seq, ss->id,
                            sp->model_path ? sp->model_path : sp->base_model);
        pthread_mutex_unlock(&s->reg_mu);
        return rc;
    }
    if (!rc) {
        sp = calloc(1, sizeof *sp);
        if (sp) {
            memcpy(sp->id, id, sizeof id);
            memcpy(sp->session_id, ss->id, sizeof ss->id);
            sp->base_model = tk_strdup(base_model);
            sp->model_path = model_path ? tk_strdup(model_path) : NULL;
            sp->samples = tk_map_new(64);
            sp->refs = 1;
        }
        if (!sp || !sp->base_model || (model_path && !sp->model_path) || !sp->samples ||
            tk_map_sput(s->samplers, sp->id, sp)) {
            if (sp) sampler_destroy(sp);
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        } else if (push_str(&ss->sampler_ids, sp->id)) {
            tk_map_del(s->samplers, sp->id, strlen(sp->id));
            sampler_destroy(sp);
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
        } else
            memcpy(id_out, id, sizeof id);
    }
    pthread_mutex_unlock(&s->reg_mu);
    return rc;
}

int tk_server_submit_sample(tk_server *s, const char *sampler_id, int64_t seq_id, uint64_t hash, tk_server_job *job,
                            char rid_out[TK_SERVER_ID_MAX], tk_err *e) {
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, seq_id);
    pthread_mutex_lock(&s->reg_mu);
    tk_server_sampler *sp = get_sampler(s, sampler_id);
    int rc = 0;
    if (!sp) rc = tk_err_set(e, TK_ENOTFOUND, "sampling session \"%s\" not found", sampler_id);
    else if (sp->dead) rc = tk_err_set(e, TK_ESTATE, "sampling session %s was closed: %s", sp->id, sp->reason);
    void *v = NULL;
    if (!rc && tk_map_sget(sp->samples, key, &v)) {
        sample_rec *r = v;
        if (hash && r->hash && hash != r->hash)
            rc = tk_err_set(e, TK_EINVAL, "seq_id %" PRId64 " of sampling session %s was already used by a different "
                            "request (request_id %s)", seq_id, sp->id, r->rid);
        else
            memcpy(rid_out, r->rid, sizeof r->rid);
        touch_session(s, sp->session_id);
        pthread_mutex_unlock(&s->reg_mu);
        tk_server_job_free(s, job);
        return rc;
    }
    sample_rec *r = rc ? NULL : calloc(1, sizeof *r);
    if (!rc && !r) rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc) rc = tk_server_futures_create(s->futures, job->type, r->rid, e);
    if (!rc && tk_map_sput(sp->samples, key, r)) {
        tk_server_futures_discard(s->futures, r->rid);
        rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    if (!rc) {
        r->hash = hash;
        r->created = tk_now_s();
        touch_session(s, sp->session_id);
        job->sampler = sp;
        sp->refs++;
        job->seq_id = seq_id;
        memcpy(job->request_id, r->rid, sizeof r->rid);
        memcpy(rid_out, r->rid, sizeof r->rid);
        tk_server_worker_push(s, job);
        job = NULL;
        r = NULL;
    }
    pthread_mutex_unlock(&s->reg_mu);
    free(r);
    tk_server_job_free(s, job);
    return rc;
}

int tk_server_sampler_get(tk_server *s, const char *sampler_id, tk_server_sampler **out, tk_err *e) {
    pthread_mutex_lock(&s->reg_mu);
    tk_server_sampler *sp = get_sampler(s, sampler_id);
    if (sp) sp->refs++;
    pthread_mutex_unlock(&s->reg_mu);
    *out = sp;
    return sp ? 0 : tk_err_set(e, TK_ENOTFOUND, "sampling session \"%s\" not found", sampler_id);
}

void tk_server_sampler_retire(tk_server *s, const char *sampler_id, const char *reason) {
    pthread_mutex_lock(&s->reg_mu);
    tk_server_sampler *sp = get_sampler(s, sampler_id);
    if (sp && !sp->dead) {
        sp->dead = true;
        free(sp->reason);
        sp->reason = tk_strdup(reason);
        sp->retired_at = tk_now_s();
        free_samples(sp); /* submits are refused from now on: no retries to recognise */
        queue_release(s, NULL, sp);
    }
    pthread_mutex_unlock(&s->reg_mu);
}

int tk_server_submit_unordered(tk_server *s, tk_server_job *job, char rid_out[TK_SERVER_ID_MAX], tk_err *e) {
    int rc = tk_server_futures_create(s->futures, job->type, job->request_id, e);
    if (rc) {
        job->request_id[0] = '\0';
        tk_server_job_free(s, job);
        return rc;
    }
    memcpy(rid_out, job->request_id, TK_SERVER_ID_MAX);
    tk_server_worker_push(s, job);
    return 0;
}

int tk_server_resolve_base_model(tk_server *s, const char *base_model, tk_err *e) {
    if (s->hooks.resolve_base_model) return s->hooks.resolve_base_model(s->hooks.user, base_model, e);
    for (size_t i = 0; i < s->served.len; i++)
        if (!strcmp(s->served.data[i].name, base_model)) return 0;
    tk_buf names = {0};
    for (size_t i = 0; i < s->served.len; i++)
        if (tk_buf_printf(&names, "%s%s", i ? ", " : "", s->served.data[i].name)) break;
    int rc = tk_err_set(e, TK_ENOTFOUND, "base model \"%s\" is not served here (served: %s; add it with --model "
                        "NAME=DIR)", base_model, names.len ? names.data : "none");
    tk_buf_free(&names);
    return rc;
}

/* ---- housekeeping ----------------------------------------------------------------------------- */

static void expire_session(tk_server *s, session *ss, double idle, tk_server_ptr_vec *drained) {
    char reason[256];
    snprintf(reason, sizeof reason, "session %s expired after %.0f s without a heartbeat", ss->id, idle);
    ss->expired = true;
    ss->expired_at = tk_now_s();
    ss->reason = tk_strdup(reason);
    tk_info("server: %s; unloading %zu model(s) and %zu sampler(s)", reason, ss->model_ids.len, ss->sampler_ids.len);
    for (size_t i = 0; i < ss->model_ids.len; i++) {
        tk_server_model *m = get_model(s, ss->model_ids.data[i]);
        if (m) unload_locked(s, m, reason, drained);
    }
    for (size_t i = 0; i < ss->sampler_ids.len; i++) {
        tk_server_sampler *sp = get_sampler(s, ss->sampler_ids.data[i]);
        if (!sp || sp->dead) continue;
        sp->dead = true;
        sp->reason = tk_strdup(reason);
        queue_release(s, NULL, sp);
    }
}

/* Forget a long-expired session and its models and samplers. */
static void bury_session(tk_server *s, session *ss) {
    for (size_t i = 0; i < ss->model_ids.len; i++) {
        tk_server_model *m = get_model(s, ss->model_ids.data[i]);
        if (!m) continue;
        tk_map_del(s->models, m->id, strlen(m->id));
        model_unref_locked(m);
    }
    for (size_t i = 0; i < ss->sampler_ids.len; i++) {
        tk_server_sampler *sp = get_sampler(s, ss->sampler_ids.data[i]);
        if (!sp) continue;
        tk_map_del(s->samplers, sp->id, strlen(sp->id));
        sampler_unref_locked(sp);
    }
    tk_map_del(s->sessions, ss->id, strlen(ss->id));
    session_destroy(ss);
}

void tk_server_sweep(tk_server *s) {
    double now = tk_now_s();
    tk_server_ptr_vec drained = {0}, released = {0};
    pthread_mutex_lock(&s->reg_mu);
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (tk_map_next(s->sessions, &pos, &k, &kl, &v)) {
        session *ss = v;
        if (!ss->expired && now - ss->last_seen > s->cfg.session_timeout_s)
            expire_session(s, ss, now - ss->last_seen, &drained);
        else if (ss->expired && now - ss->expired_at > TOMBSTONE_TTL_S)
            bury_session(s, ss);
    }
    pos = 0;
    while (tk_map_next(s->models, &pos, &k, &kl, &v)) {
        tk_server_model *m = v;
        if (m->state != TK_SERVER_MODEL_READY && m->state != TK_SERVER_MODEL_CREATING) continue;
        size_t before = released.len;
        int64_t skipped = tk_server_seq_expire(&m->seq, now, s->cfg.gap_timeout_s, &released);
        if (skipped > 0)
            tk_warn("server: model %s waited %.0f s for a missing seq_id; skipped %" PRId64 " seq_id(s) and ran %zu "
                    "waiting request(s)", m->id, s->cfg.gap_timeout_s, skipped, released.len - before);
    }
    tk_server_worker_push_all(s, released.data, released.len);
    /* retired sampling sessions are forgotten after the result TTL */
    tk_vec_str gone = {0};
    pos = 0;
    while (tk_map_next(s->samplers, &pos, &k, &kl, &v)) {
        tk_server_sampler *sp = v;
        char *id = sp->retired_at > 0 && now - sp->retired_at > s->cfg.future_ttl_s ? tk_strdup(sp->id) : NULL;
        if (id && tk_vec_push(&gone, id)) free(id);
    }
    for (size_t i = 0; i < gone.len; i++) {
        tk_server_sampler *sp = get_sampler(s, gone.data[i]);
        session *ss = sp ? get_session(s, sp->session_id) : NULL;
        for (size_t j = 0; ss && j < ss->sampler_ids.len; j++)
            if (!strcmp(ss->sampler_ids.data[j], gone.data[i])) {
                free(ss->sampler_ids.data[j]);
                memmove(ss->sampler_ids.data + j, ss->sampler_ids.data + j + 1,
                        (ss->sampler_ids.len - j - 1) * sizeof *ss->sampler_ids.data);
                ss->sampler_ids.len--;
                break;
            }
        if (sp) {
            tk_map_del(s->samplers, sp->id, strlen(sp->id));
            sampler_unref_locked(sp);
        }
        free(gone.data[i]);
    }
    tk_vec_free(&gone);
    pos = 0;
    while (tk_map_next(s->samplers, &pos, &k, &kl, &v)) {
        tk_server_sampler *sp = v;
        if (!sp->samples) continue;
        size_t p2 = 0;
        const void *k2;
        size_t kl2;
        void *v2;
        while (tk_map_next(sp->samples, &p2, &k2, &kl2, &v2)) {
            sample_rec *r = v2;
            if (now - r->created > s->cfg.future_ttl_s) {
                tk_map_del(sp->samples, k2, kl2);
                free(r);
            }
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
    tk_vec_free(&released);
    fail_drained(s, &drained, "the session expired");
    tk_server_futures_expire(s->futures, now, s->cfg.future_ttl_s);
    tk_server_store_expire(s->store, tk_wall_s());
    tk_server_archives_sweep(s);
}
