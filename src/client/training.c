/* The training client: one model, its seq_id counter and its ordered lane (§8.4), and the calls
 * that are not forward/forward_backward (those live in fwdbwd.c and custom_loss.c).
 *
 * Every request of the model takes the next seq_id and is queued in the lane under t->mu, so the
 * lane's order is the seq_id order whatever thread submits. While a custom loss's second pass
 * has not been POSTed (its seq_ids are taken, its weights not known yet), later submissions wait
 * in t->dhead with their bodies ready and go out right after it. */
#include "internal.h"
#include "sdk.h"

#include <string.h>

/* ---- lifecycle -------------------------------------------------------------------------------- */

int tk_training_new(tk_client_service *svc, const char *model_id, const char *base_model,
                    int64_t seq, tk_client_training **out, tk_err *e) {
    *out = NULL;
    tk_client *c = NULL;
    int rc = tk_svc_client(svc, &c, e);
    if (rc) return rc;
    tk_client_training *t = calloc(1, sizeof *t);
    if (!t) return tk_err_set(e, TK_ENOMEM, "training client: out of memory");
    atomic_init(&t->refs, 1);
    /* recursive: a task failed while we hold the lock may run a custom loss's hook, which
     * submits its second pass through here again */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&t->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    t->seq = seq;
    t->model_id = tk_strdup(model_id);
    t->base_model = base_model ? tk_strdup(base_model) : NULL;
    if (!t->model_id || (base_model && !t->base_model) || tk_client_lane_new(c, &t->lane, e)) {
        free(t->model_id);
        free(t->base_model);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return tk_err_set(e, TK_ENOMEM, "training client: out of memory");
    }
    t->svc = svc;
    tk_svc_ref(svc);
    *out = t;
    return 0;
}

void tk_training_ref(tk_client_training *t) { atomic_fetch_add(&t->refs, 1); }

static void deferred_free(tk_deferred *d) {
    for (size_t i = 0; i < d->n; i++) free((void *)d->specs[i].body);
    free(d->specs);
    free(d->datums);
    if (d->task) tk_client_task_release(d->task);
    free(d);
}

void tk_training_unref(tk_client_training *t) {
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1) return;
    /* Nothing can still be deferred: entries wait only while a custom loss has not sent its
     * second pass, and that custom loss's task holds a reference to us. */
    while (t->dhead) {
        tk_deferred *d = t->dhead;
        t->dhead = d->next;
        deferred_free(d);
    }
    tk_client_lane_free(t->lane);
    free(t->model_id);
    free(t->base_model);
    pthread_mutex_destroy(&t->mu);
    tk_svc_unref(t->svc);
    free(t);
}

void tk_client_training_free(tk_client_training *t) { tk_training_unref(t); }

const char *tk_client_training_model_id(const tk_client_training *t) { return t->model_id; }
const char *tk_client_training_base_model(const tk_client_training *t) { return t->base_model; }

int64_t tk_client_training_last_seq_id(tk_client_training *t) {
    pthread_mutex_lock(&t->mu);
    int64_t s = t->seq;
    pthread_mutex_unlock(&t->mu);
    return s;
}

/* ---- submission ------------------------------------------------------------------------------- */

void tk_training_spec(tk_client_training *t, tk_client_call_spec *s, const char *path,
                      const char *request_type) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->lane = t->lane;
    s->is_future = true;
    s->exec_retries = true;
    s->request_type = request_type;
}

static int submit_now(tk_client_training *t, tk_client_call_spec *specs, size_t n, bool group,
                      const size_t *datums, tk_task *task, bool *hold_opened, tk_err *e) {
    tk_client *c = NULL;
    int rc = tk_svc_client(t->svc, &c, e);
    tk_client_future **fs = rc ? NULL : calloc(n, sizeof *fs);
    if (!rc && !fs) rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", task->what);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            if (specs[i].give_body) free((void *)specs[i].body);
        return rc;
    }
    for (size_t i = 0; i < n; i++) tk_svc_spec_defaults(t->svc, &specs[i]);
    rc = group ? tk_client_call_group(c, specs, n, fs, e) : tk_client_call(c, specs, fs, e);
    if (rc) {
        free(fs);
        return tk_err_prefix(e, "%s: ", task->what);
    }
    if (hold_opened) {
        t->holds++;
        *hold_opened = true;
    }
    tk_task_attach(task, fs, datums, n);
    free(fs);
    return 0;
}

int tk_training_submit_locked(tk_client_training *t, tk_client_call_spec *specs, size_t n,
                              bool group, const size_t *datums, tk_task *task, bool *hold_opened,
                              tk_err *e) {
    if (t->holds == 0 && !t->dhead)
        return submit_now(t, specs, n, group, datums, task, hold_opened, e);
    tk_deferred *d = calloc(1, sizeof *d);
    tk_client_call_spec *copy = tk_malloc_array(n, sizeof *copy);
    size_t *dcopy = tk_calloc_array(n, sizeof *dcopy);
    if (!d || !copy || !dcopy) {
        free(d);
        free(copy);
        free(dcopy);
        for (size_t i = 0; i < n; i++)
            if (specs[i].give_body) free((void *)specs[i].body);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", task->what);
    }
    memcpy(copy, specs, n * sizeof *copy);
    if (datums) memcpy(dcopy, datums, n * sizeof *dcopy);
    d->specs = copy;
    d->datums = dcopy;
    d->n = n;
    d->group = group;
    d->task = task;
    tk_task_ref(task);
    d->hold_opened = hold_opened;
    if (t->dtail) t->dtail->next = d;
    else t->dhead = d;
    t->dtail = d;
    return 0;
}

int tk_training_submit_now_locked(tk_client_training *t, tk_client_call_spec *specs, size_t n,
                                  bool group, const size_t *datums, tk_task *task, tk_err *e) {
    return submit_now(t, specs, n, group, datums, task, NULL, e);
}

void tk_training_release_hold_locked(tk_client_training *t) {
    if (t->holds > 0) t->holds--;
    while (t->holds == 0 && t->dhead) {
        tk_deferred *d = t->dhead;
        t->dhead = d->next;
        if (!t->dhead) t->dtail = NULL;
        tk_err e = {0};
        int rc = submit_now(t, d->specs, d->n, d->group, d->datums, d->task, d->hold_opened, &e);
        if (rc) tk_task_settle_failed(d->task, rc, &e, NULL);
        d->n = 0;   /* the bodies went to the transport (or were freed) */
        deferred_free(d);
    }
}

/* One JSON request in the lane with the next seq_id. req's seq_id fields are set here. */
static int lane_call(tk_client_training *t, tk_client_task_kind kind, tk_wire_msg result_type,
                     const char *what, tk_wire_msg req_type, void *req, bool *has_seq,
                     int64_t *seq, const char *path, const char *request_type, bool no_retries,
                     const tk_task_ops *ops, void *ctx, tk_client_task **out, tk_err *e) {
    *out = NULL;
    char name[160];
    snprintf(name, sizeof name, "%s (model %.100s)", what, t->model_id);
    tk_task *task = tk_task_new(t->svc, kind, result_type, name);
    if (!task) {
        if (ops && ops->free_ctx) ops->free_ctx(ctx);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    task->ops = ops;
    task->ctx = ctx;
    tk_buf body = {0};
    pthread_mutex_lock(&t->mu);
    *has_seq = true;
    *seq = t->seq + 1;
    int rc = tk_wire_json_encode(req_type, req, &body, e);
    if (!rc) {
        tk_client_call_spec spec;
        tk_training_spec(t, &spec, path, request_type);
        spec.body = body.data;
        spec.body_len = body.len;
        spec.give_body = true;
        if (no_retries) spec.max_retries = TK_CLIENT_NO_RETRIES;
        body.data = NULL;
        rc = tk_training_submit_locked(t, &spec, 1, false, NULL, task, NULL, e);
        if (!rc) t->seq++;
    } else {
        tk_err_prefix(e, "%s: ", what);
    }
    pthread_mutex_unlock(&t->mu);
    tk_buf_free(&body);
    if (rc) {
        tk_client_task_release(task);
        return rc;
    }
    *out = task;
    return 0;
}

/* ---- operations ------------------------------------------------------------------------------- */

int tk_client_training_optim_step(tk_client_training *t, const tk_wire_adam_params *params,
                                  tk_client_task **out, tk_err *e) {
    tk_wire_optim_step_request req;
    tk_wire_init(TK_WIRE_MSG_OPTIM_STEP_REQUEST, &req);
    req.model_id = t->model_id;
    if (params) req.adam_params = *params;
    return lane_call(t, TK_CLIENT_TASK_OPTIM_STEP, TK_WIRE_MSG_OPTIM_STEP_RESPONSE, "optim_step",
                     TK_WIRE_MSG_OPTIM_STEP_REQUEST, &req, &req.has_seq_id, &req.seq_id,
                     "/api/v1/optim_step", "OptimStep", false, NULL, NULL, out, e);
}

static int check_name(const char *what, const char *name, tk_err *e) {
    if (!name || !*name) return tk_err_set(e, TK_EINVAL, "%s: a checkpoint name is required", what);
    if (strchr(name, '/'))
        return tk_err_set(e, TK_EINVAL, "%s: checkpoint name \"%.100s\" contains '/'", what, name);
    return 0;
}

int tk_client_training_save_state(tk_client_training *t, const char *name, int64_t ttl_seconds,
                                  tk_client_task **out, tk_err *e) {
    *out = NULL;
    int rc = check_name("save_state", name, e);
    if (rc) return rc;
    tk_wire_save_weights_request req;
    tk_wire_init(TK_WIRE_MSG_SAVE_WEIGHTS_REQUEST, &req);
    req.model_id = t->model_id;
    req.path = (char *)name;
    req.has_ttl_seconds = ttl_seconds > 0;
    req.ttl_seconds = ttl_seconds;
    /* max_retries=0 at the request layer, as the SDK: layer 2 still retries (same seq_id) */
    return lane_call(t, TK_CLIENT_TASK_SAVE_STATE, TK_WIRE_MSG_SAVE_WEIGHTS_RESPONSE,
                     "save_state", TK_WIRE_MSG_SAVE_WEIGHTS_REQUEST, &req, &req.has_seq_id,
                     &req.seq_id, "/api/v1/save_weights", "SaveWeights", true, NULL, NULL, out,
                     e);
}

static int load(tk_client_training *t, const char *path, bool optimizer, tk_client_task **out,
                tk_err *e) {
    *out = NULL;
    const char *what = optimizer ? "load_state_with_optimizer" : "load_state";
    tk_arena *a = tk_arena_new(0);
    tk_wire_tinker_path tp;
    int rc = a ? tk_wire_tinker_path_parse(path ? path : "", a, &tp, e)
               : tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc && tp.kind != TK_WIRE_CHECKPOINT_TRAINING)
        rc = tk_err_set(e, TK_EINVAL, "\"%s\" is sampler weights; load needs a training "
                        "checkpoint (tinker://run/weights/name)", path);
    tk_arena_free(a);
    if (rc) return tk_err_prefix(e, "%s: ", what);
    tk_wire_load_weights_request req;
    tk_wire_init(TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST, &req);
    req.model_id = t->model_id;
    req.path = (char *)path;
    req.optimizer = optimizer;
    return lane_call(t, TK_CLIENT_TASK_LOAD_STATE, TK_WIRE_MSG_LOAD_WEIGHTS_RESPONSE, what,
                     TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST, &req, &req.has_seq_id, &req.seq_id,
                     "/api/v1/load_weights", "LoadWeights", false, NULL, NULL, out, e);
}

int tk_client_training_load_state(tk_client_training *t, const char *path, tk_client_task **out,
                                  tk_err *e) {
    return load(t, path, false, out, e);
}

int tk_client_training_load_state_with_optimizer(tk_client_training *t, const char *path,
                                                 tk_client_task **out, tk_err *e) {
    return load(t, path, true, out, e);
}

int tk_client_training_save_weights_for_sampler(tk_client_training *t, const char *name,
                                                int64_t ttl_seconds, tk_client_task **out,
                                                tk_err *e) {
    *out = NULL;
    int rc = check_name("save_weights_for_sampler", name, e);
    if (rc) return rc;
    tk_wire_save_weights_for_sampler_request req;
    tk_wire_init(TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST, &req);
    req.model_id = t->model_id;
    req.path = (char *)name;
    req.has_ttl_seconds = ttl_seconds > 0;
    req.ttl_seconds = ttl_seconds;
    return lane_call(t, TK_CLIENT_TASK_SAVE_FOR_SAMPLER,
                     TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_RESPONSE, "save_weights_for_sampler",
                     TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST, &req, &req.has_seq_id,
                     &req.seq_id, "/api/v1/save_weights_for_sampler", "SaveWeightsForSampler",
                     true, NULL, NULL, out, e);
}

/* The ephemeral save answered with a sampling session (asserted, as the SDK). */
static int ephemeral_advance(tk_task *t, tk_err *e) {
    tk_arena *a = tk_arena_new(0);
    if (!a) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
    tk_wire_save_weights_for_sampler_response r;
    int rc = tk_task_decode(t, tk_task_part_response(t, 0),
                            TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_RESPONSE, a, &r, e);
    if (!rc && !r.sampling_session_id)
        rc = tk_err_set(e, TK_EPARSE, "%s: the answer has no sampling_session_id", t->what);
    tk_client_sampling *sc = NULL;
    if (!rc) rc = tk_sampling_new(t->svc, r.sampling_session_id, &sc, e);
    tk_arena_free(a);
    if (rc) return rc;
    pthread_mutex_lock(&t->mu);
    t->sampling = sc;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static const tk_task_ops ephemeral_ops = {.advance = ephemeral_advance};

int tk_client_training_save_weights_and_get_sampling_client(tk_client_training *t,
                                                            tk_client_task **out, tk_err *e) {
    tk_wire_save_weights_for_sampler_request req;
    tk_wire_init(TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST, &req);
    req.model_id = t->model_id;
    req.has_sampling_session_seq_id = true;
    req.sampling_session_seq_id = tk_svc_next_sampling_seq(t->svc);
    return lane_call(t, TK_CLIENT_TASK_CREATE_SAMPLING, TK_WIRE_MSG_COUNT_,
                     "save_weights_and_get_sampling_client",
                     TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST, &req, &req.has_seq_id,
                     &req.seq_id, "/api/v1/save_weights_for_sampler", "SaveWeightsForSampler",
                     true, &ephemeral_ops, NULL, out, e);
}

int tk_client_training_get_info(tk_client_training *t, tk_client_task **out, tk_err *e) {
    *out = NULL;
    tk_wire_model_id_request req = {.model_id = t->model_id};
    tk_buf body = {0};
    int rc = tk_wire_json_encode(TK_WIRE_MSG_GET_INFO_REQUEST, &req, &body, e);
    if (rc) {
        tk_buf_free(&body);
        return rc;
    }
    char name[160];
    snprintf(name, sizeof name, "get_info (model %.100s)", t->model_id);
    tk_client_call_spec spec = {.path = "/api/v1/get_info", .body = body.data,
                                .body_len = body.len, .give_body = true, .exec_retries = true};
    return tk_task_call(t->svc, TK_CLIENT_TASK_CALL, TK_WIRE_MSG_GET_INFO_RESPONSE, name, &spec,
                        out, e);
}
