/* Tasks: the typed SDK's futures. A task owns the transport futures of its current stage (one
 * call, or the chunks of a forward_backward); when they have all succeeded its ops->advance
 * either settles it or starts the next stage (create_model after weights_info, the second pass
 * of a custom loss, …). Results are decoded on the caller's thread, into the caller's arena. */
#include "internal.h"
#include "sdk.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- lifecycle -------------------------------------------------------------------------------- */

tk_task *tk_task_new(tk_client_service *svc, tk_client_task_kind kind, tk_wire_msg result_type,
                     const char *what) {
    tk_task *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->refs, 1);
    t->kind = kind;
    t->result_type = result_type;
    t->svc = svc;
    if (svc) tk_svc_ref(svc);
    snprintf(t->what, sizeof t->what, "%s", what);
    return t;
}

void tk_task_ref(tk_task *t) { atomic_fetch_add(&t->refs, 1); }

static void task_free(tk_task *t) {
    for (size_t i = 0; i < t->parts.len; i++) tk_client_future_release(t->parts.data[i]);
    tk_vec_free(&t->parts);
    tk_vec_free(&t->part_datums);
    tk_vec_free(&t->cbs);
    if (t->ops && t->ops->free_ctx) t->ops->free_ctx(t->ctx);
    if (t->training) tk_training_unref(t->training);
    if (t->sampling) tk_sampling_unref(t->sampling);
    if (t->svc) tk_svc_unref(t->svc);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

void tk_client_task_release(tk_client_task *t) {
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) task_free(t);
}

/* ---- settling --------------------------------------------------------------------------------- */

static void settle(tk_task *t, int state, int rc, const tk_err *e, const tk_client_failure *fail) {
    pthread_mutex_lock(&t->mu);
    if (t->state != TK_TASK_PENDING) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    t->state = state;
    t->rc = rc;
    if (rc) {
        if (e && e->msg[0]) t->err = *e;
        else tk_err_set(&t->err, rc, "%s: %s", t->what, tk_strerror(rc));
        t->err.code = rc;
        if (fail) t->fail = *fail;
        else t->fail.kind = rc == TK_ECANCELED ? TK_CLIENT_FAIL_CANCELED : TK_CLIENT_FAIL_LOCAL;
    }
    tk_task_cb *cbs = t->cbs.data;
    size_t ncb = t->cbs.len;
    t->cbs.data = NULL;
    t->cbs.len = t->cbs.cap = 0;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    tk_task_ref(t);   /* the callbacks may release the caller's reference */
    if (state == TK_TASK_FAILED && t->ops && t->ops->failed) t->ops->failed(t);
    for (size_t i = 0; i < ncb; i++) cbs[i].fn(t, cbs[i].user);
    free(cbs);
    tk_client_task_release(t);
}

void tk_task_settle_ok(tk_task *t) { settle(t, TK_TASK_OK, 0, NULL, NULL); }

void tk_task_settle_failed(tk_task *t, int rc, const tk_err *e, const tk_client_failure *fail) {
    settle(t, TK_TASK_FAILED, rc ? rc : TK_EINTERNAL, e, fail);
}

static void run_advance(tk_task *t) {
    if (!t->ops || !t->ops->advance) {
        tk_task_settle_ok(t);
        return;
    }
    tk_err e = {0};
    int rc = t->ops->advance(t, &e);
    if (rc == 0) tk_task_settle_ok(t);
    else if (rc != TK_TASK_CONTINUE) tk_task_settle_failed(t, rc, &e, NULL);
}

/* A part (transport future) settled: on the I/O thread, or the caller's when the client is
 * closed. Holds a task reference taken in tk_task_attach. */
static void part_done(tk_client_future *f, void *user) {
    tk_task *t = user;
    tk_err err = {0};
    int rc = tk_client_future_wait(f, 0, &err);
    pthread_mutex_lock(&t->mu);
    bool pending = t->state == TK_TASK_PENDING;
    bool last = false;
    if (pending && !rc) last = --t->left == 0;
    pthread_mutex_unlock(&t->mu);
    if (pending && rc) {
        tk_client_failure fail = tk_client_future_failure(f);
        if (fail.kind == TK_CLIENT_FAIL_NONE) fail.kind = TK_CLIENT_FAIL_LOCAL;
        tk_task_settle_failed(t, rc, &err, &fail);
    } else if (last) {
        run_advance(t);
    }
    tk_client_task_release(t);
}

int tk_task_attach(tk_task *t, tk_client_future **fs, const size_t *datums, size_t n) {
    pthread_mutex_lock(&t->mu);
    bool pending = t->state == TK_TASK_PENDING;
    int rc = 0;
    if (pending && (tk_vec_reserve(&t->parts, t->parts.len + n) ||
                    tk_vec_reserve(&t->part_datums, t->part_datums.len + n)))
        rc = TK_ENOMEM;
    if (pending && !rc) {
        for (size_t i = 0; i < n; i++) {
            t->parts.data[t->parts.len++] = fs[i];
            t->part_datums.data[t->part_datums.len++] = datums ? datums[i] : 0;
        }
        t->left += n;
    }
    pthread_mutex_unlock(&t->mu);
    if (!pending || rc) {
        for (size_t i = 0; i < n; i++) tk_client_future_release(fs[i]);
        if (rc) {
            tk_err e = {0};
            tk_err_set(&e, TK_ENOMEM, "%s: out of memory", t->what);
            tk_task_settle_failed(t, TK_ENOMEM, &e, NULL);
        }
        return rc;
    }
    /* Every part is counted in `left` before the first callback can run. */
    for (size_t i = 0; i < n; i++) {
        tk_task_ref(t);
        if (tk_client_future_on_complete(fs[i], part_done, t)) {
            tk_client_task_release(t);
            tk_err e = {0};
            tk_err_set(&e, TK_ENOMEM, "%s: out of memory", t->what);
            tk_task_settle_failed(t, TK_ENOMEM, &e, NULL);
            return TK_ENOMEM;
        }
    }
    return 0;
}

void tk_task_clear_parts(tk_task *t) {
    pthread_mutex_lock(&t->mu);
    tk_client_future **old = t->parts.data;
    size_t n = t->parts.len;
    t->parts.data = NULL;
    t->parts.len = t->parts.cap = 0;
    t->part_datums.len = 0;
    t->left = 0;
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < n; i++) tk_client_future_release(old[i]);
    free(old);
}

const tk_client_response *tk_task_part_response(tk_task *t, size_t i) {
    pthread_mutex_lock(&t->mu);
    tk_client_future *f = i < t->parts.len ? t->parts.data[i] : NULL;
    pthread_mutex_unlock(&t->mu);
    return f ? tk_client_future_response(f) : NULL;
}

int tk_task_submit(tk_task *t, const tk_client_call_spec *spec, tk_err *e) {
    tk_client *c = NULL;
    int rc = tk_svc_client(t->svc, &c, e);
    if (rc) {
        if (spec->give_body) free((void *)spec->body);
        return tk_err_prefix(e, "%s: ", t->what);
    }
    tk_client_call_spec s2 = *spec;
    tk_svc_spec_defaults(t->svc, &s2);
    tk_client_future *f = NULL;
    if ((rc = tk_client_call(c, &s2, &f, e))) return tk_err_prefix(e, "%s: ", t->what);
    tk_task_attach(t, &f, NULL, 1);   /* on failure the task is failed: the wait says so */
    return 0;
}

int tk_task_call(tk_client_service *svc, tk_client_task_kind kind, tk_wire_msg result_type,
                 const char *what, const tk_client_call_spec *spec, tk_task **out, tk_err *e) {
    *out = NULL;
    tk_task *t = tk_task_new(svc, kind, result_type, what);
    if (!t) {
        if (spec->give_body) free((void *)spec->body);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    int rc = tk_task_submit(t, spec, e);
    if (rc) {
        tk_client_task_release(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- public: waiting ------------------------------------------------------------------------- */

int tk_client_task_wait(tk_client_task *t, double timeout_s, tk_err *e) {
    pthread_mutex_lock(&t->mu);
    if (t->state == TK_TASK_PENDING && t->svc && t->svc->c && tk_client_on_io_thread(t->svc->c)) {
        pthread_mutex_unlock(&t->mu);
        return tk_err_set(e, TK_ESTATE, "%s: waiting on a pending task from the client's I/O "
                          "thread (a callback) would never end", t->what);
    }
    struct timespec until;
    if (timeout_s >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        double whole = floor(timeout_s);
        until.tv_sec += (time_t)whole;
        until.tv_nsec += (long)((timeout_s - whole) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    while (t->state == TK_TASK_PENDING) {
        if (timeout_s < 0) {
            pthread_cond_wait(&t->cv, &t->mu);
        } else if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT &&
                   t->state == TK_TASK_PENDING) {
            pthread_mutex_unlock(&t->mu);
            return tk_err_set(e, TK_ETIMEOUT, "%s: still pending after waiting %g s", t->what,
                              timeout_s);
        }
    }
    int rc = t->rc;
    if (rc && e) *e = t->err;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

bool tk_client_task_done(tk_client_task *t) {
    pthread_mutex_lock(&t->mu);
    bool d = t->state != TK_TASK_PENDING;
    pthread_mutex_unlock(&t->mu);
    return d;
}

void tk_client_task_cancel(tk_client_task *t) {
    pthread_mutex_lock(&t->mu);
    if (t->state != TK_TASK_PENDING) {
        pthread_mutex_unlock(&t->mu);
        return;
    }
    size_t n = t->parts.len;
    tk_client_future **fs = n ? tk_malloc_array(n, sizeof *fs) : NULL;
    for (size_t i = 0; fs && i < n; i++) {
        fs[i] = t->parts.data[i];
        tk_fut_ref(fs[i]);
    }
    pthread_mutex_unlock(&t->mu);
    tk_err e = {0};
    tk_err_set(&e, TK_ECANCELED, "%s: cancelled by the caller", t->what);
    tk_client_failure fail = {.kind = TK_CLIENT_FAIL_CANCELED};
    tk_task_settle_failed(t, TK_ECANCELED, &e, &fail);
    for (size_t i = 0; fs && i < n; i++) {
        tk_client_future_cancel(fs[i]);
        tk_client_future_release(fs[i]);
    }
    free(fs);
}

tk_client_failure tk_client_task_failure(tk_client_task *t) {
    pthread_mutex_lock(&t->mu);
    tk_client_failure f = t->fail;
    pthread_mutex_unlock(&t->mu);
    return f;
}

tk_client_task_kind tk_client_task_get_kind(const tk_client_task *t) { return t->kind; }

tk_wire_msg tk_client_task_result_type(const tk_client_task *t) { return t->result_type; }

int tk_client_task_on_complete(tk_client_task *t, void (*cb)(tk_client_task *t, void *user),
                               void *user) {
    pthread_mutex_lock(&t->mu);
    if (t->state == TK_TASK_PENDING) {
        int rc = tk_vec_push(&t->cbs, ((tk_task_cb){cb, user}));
        pthread_mutex_unlock(&t->mu);
        return rc ? TK_ENOMEM : 0;
    }
    pthread_mutex_unlock(&t->mu);
    cb(t, user);
    return 0;
}

/* ---- public: results ------------------------------------------------------------------------- */

static const char *kind_name(tk_client_task_kind k) {
    switch (k) {
    case TK_CLIENT_TASK_CALL: return "call";
    case TK_CLIENT_TASK_CREATE_TRAINING: return "create training client";
    case TK_CLIENT_TASK_CREATE_SAMPLING: return "create sampling client";
    case TK_CLIENT_TASK_FORWARD: return "forward";
    case TK_CLIENT_TASK_FORWARD_BACKWARD: return "forward_backward";
    case TK_CLIENT_TASK_FORWARD_BACKWARD_CUSTOM: return "forward_backward_custom";
    case TK_CLIENT_TASK_OPTIM_STEP: return "optim_step";
    case TK_CLIENT_TASK_SAVE_STATE: return "save_state";
    case TK_CLIENT_TASK_LOAD_STATE: return "load_state";
    case TK_CLIENT_TASK_SAVE_FOR_SAMPLER: return "save_weights_for_sampler";
    case TK_CLIENT_TASK_SAMPLE: return "sample";
    case TK_CLIENT_TASK_COMPUTE_LOGPROBS: return "compute_logprobs";
    }
    return "?";
}

static const char *msg_name(tk_wire_msg m) {
    const tk_wire_msg_info *i = tk_wire_msg_get_info(m);
    return i ? i->name : "no message";
}

/* A 302 (or any 3xx) answer of the archive endpoint: Location and Expires. */
static int decode_redirect(const tk_task *t, const tk_client_response *r, tk_arena *a,
                           tk_wire_archive_url_response *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    const char *loc = tk_client_response_header(r, "Location");
    if (!loc || !*loc)
        return tk_err_set(e, TK_EPARSE, "%s: HTTP %ld without a Location header", t->what,
                          r->status);
    if (!strncasecmp(loc, "http://", 7) || !strncasecmp(loc, "https://", 8)) {
        out->url = tk_arena_strdup(a, loc);
    } else {   /* relative: against the base URL's origin */
        const char *base = t->svc && t->svc->base_url ? t->svc->base_url : "";
        const char *p = strstr(base, "://");
        size_t origin = p ? (size_t)(strchr(p + 3, '/') ? strchr(p + 3, '/') - base
                                                        : (ptrdiff_t)strlen(base))
                          : 0;
        out->url = loc[0] == '/' ? tk_arena_printf(a, "%.*s%s", (int)origin, base, loc)
                                 : tk_arena_printf(a, "%s/%s", base, loc);
    }
    const char *exp = tk_client_response_header(r, "Expires");
    if (exp) out->expires = tk_arena_strdup(a, exp);
    if (!out->url || (exp && !out->expires))
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
    return 0;
}

int tk_task_decode(const tk_task *t, const tk_client_response *r, tk_wire_msg type, tk_arena *a,
                   void *out, tk_err *e) {
    if (!r) return tk_err_set(e, TK_EINTERNAL, "%s: no answer to decode", t->what);
    if (type == TK_WIRE_MSG_ARCHIVE_URL_RESPONSE && r->status >= 300 && r->status < 400)
        return decode_redirect(t, r, a, out, e);
    int rc = tk_wire_body_decode(type, r->content_type, NULL, r->body.data ? r->body.data : "",
                                 r->body.len, 0, a, out, e);
    if (rc) tk_err_prefix(e, "%s: the answer: ", t->what);
    return rc;
}

const tk_wire_f64_map *tk_custom_loss_metrics(tk_task *t);   /* custom_loss.c */

static int fb_result(tk_task *t, tk_arena *a, tk_wire_forward_backward_output *out, tk_err *e) {
    pthread_mutex_lock(&t->mu);
    size_t n = t->parts.len;
    pthread_mutex_unlock(&t->mu);
    tk_wire_forward_backward_output *chunks = tk_arena_zalloc(a, (n ? n : 1) * sizeof *chunks);
    if (!chunks) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
    for (size_t i = 0; i < n; i++) {
        int rc = tk_task_decode(t, tk_task_part_response(t, i),
                                TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, a, &chunks[i], e);
        if (rc) return n > 1 ? tk_err_prefix(e, "chunk %zu of %zu: ", i, n) : rc;
        size_t want = t->part_datums.data[i];
        if (chunks[i].n_loss_fn_outputs && want && chunks[i].n_loss_fn_outputs != want)
            return tk_err_set(e, TK_EPARSE, "%s: chunk %zu of %zu: %zu loss_fn_outputs for %zu "
                              "datums", t->what, i, n, chunks[i].n_loss_fn_outputs, want);
    }
    int rc = tk_wire_forward_backward_output_merge(chunks, n, a, out, e);
    if (rc) return tk_err_prefix(e, "%s: merging the chunks' results: ", t->what);
    if (t->kind == TK_CLIENT_TASK_FORWARD_BACKWARD_CUSTOM) {
        const tk_wire_f64_map *um = tk_custom_loss_metrics(t);
        if (um && um->n) {
            tk_wire_kv_f64 *items = tk_arena_alloc(a, (out->metrics.n + um->n) * sizeof *items);
            if (!items) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
            if (out->metrics.n) memcpy(items, out->metrics.items, out->metrics.n * sizeof *items);
            size_t k = out->metrics.n;
            for (size_t i = 0; i < um->n; i++) {
                items[k].key = tk_arena_strdup(a, um->items[i].key);
                if (!items[k].key) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
                items[k++].value = um->items[i].value;
            }
            out->metrics.items = items;
            out->metrics.n = k;
            out->metrics.present = true;
        }
    }
    return 0;
}

int tk_client_task_result(tk_client_task *t, double timeout_s, tk_arena *a, tk_wire_msg type,
                          void *out, tk_err *e) {
    if (!a || !out) return tk_err_set(e, TK_EINVAL, "%s: the arena and out are required", t->what);
    if (type != t->result_type || type == TK_WIRE_MSG_COUNT_)
        return tk_err_set(e, TK_EINVAL, "%s: a %s task's result is %s, not %s", t->what,
                          kind_name(t->kind), msg_name(t->result_type), msg_name(type));
    int rc = tk_client_task_wait(t, timeout_s, e);
    if (rc) return rc;
    switch (t->kind) {
    case TK_CLIENT_TASK_FORWARD:
    case TK_CLIENT_TASK_FORWARD_BACKWARD:
    case TK_CLIENT_TASK_FORWARD_BACKWARD_CUSTOM:
        return fb_result(t, a, out, e);
    default:
        break;
    }
    pthread_mutex_lock(&t->mu);
    size_t n = t->parts.len;
    pthread_mutex_unlock(&t->mu);
    if (!n) return tk_err_set(e, TK_EINTERNAL, "%s: settled without an answer", t->what);
    return tk_task_decode(t, tk_task_part_response(t, n - 1), type, a, out, e);
}

static int check_kind(tk_task *t, tk_client_task_kind want, tk_client_task_kind want2,
                      const char *fn, tk_err *e) {
    if (t->kind == want || t->kind == want2) return 0;
    return tk_err_set(e, TK_EINVAL, "%s: %s is a %s task", fn, t->what, kind_name(t->kind));
}

int tk_client_fb_result(tk_client_task *t, double timeout_s, tk_arena *a,
                        tk_wire_forward_backward_output *out, tk_err *e) {
    int rc = t->kind == TK_CLIENT_TASK_FORWARD ? 0
             : check_kind(t, TK_CLIENT_TASK_FORWARD_BACKWARD,
                          TK_CLIENT_TASK_FORWARD_BACKWARD_CUSTOM, "tk_client_fb_result", e);
    return rc ? rc
              : tk_client_task_result(t, timeout_s, a, TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, out,
                                      e);
}

#define TYPED_RESULT(fn, kind, msg, type)                                                         \
    int fn(tk_client_task *t, double timeout_s, tk_arena *a, type *out, tk_err *e) {              \
        int rc = check_kind(t, kind, kind, #fn, e);                                               \
        return rc ? rc : tk_client_task_result(t, timeout_s, a, msg, out, e);                     \
    }
TYPED_RESULT(tk_client_optim_result, TK_CLIENT_TASK_OPTIM_STEP, TK_WIRE_MSG_OPTIM_STEP_RESPONSE,
             tk_wire_optim_step_response)
TYPED_RESULT(tk_client_save_result, TK_CLIENT_TASK_SAVE_STATE, TK_WIRE_MSG_SAVE_WEIGHTS_RESPONSE,
             tk_wire_save_weights_response)
TYPED_RESULT(tk_client_load_result, TK_CLIENT_TASK_LOAD_STATE, TK_WIRE_MSG_LOAD_WEIGHTS_RESPONSE,
             tk_wire_load_weights_response)
TYPED_RESULT(tk_client_sampler_save_result, TK_CLIENT_TASK_SAVE_FOR_SAMPLER,
             TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_RESPONSE,
             tk_wire_save_weights_for_sampler_response)

int tk_client_sample_result(tk_client_task *t, double timeout_s, tk_arena *a,
                            tk_wire_sample_response *out, tk_err *e) {
    int rc = check_kind(t, TK_CLIENT_TASK_SAMPLE, TK_CLIENT_TASK_COMPUTE_LOGPROBS,
                        "tk_client_sample_result", e);
    return rc ? rc : tk_client_task_result(t, timeout_s, a, TK_WIRE_MSG_SAMPLE_RESPONSE, out, e);
}

int tk_client_logprobs_result(tk_client_task *t, double timeout_s, tk_arena *a, float **logprobs,
                              size_t *n, tk_err *e) {
    int rc = check_kind(t, TK_CLIENT_TASK_COMPUTE_LOGPROBS, TK_CLIENT_TASK_COMPUTE_LOGPROBS,
                        "tk_client_logprobs_result", e);
    tk_wire_sample_response r;
    if (!rc) rc = tk_client_task_result(t, timeout_s, a, TK_WIRE_MSG_SAMPLE_RESPONSE, &r, e);
    if (rc) return rc;
    if (!r.has_prompt_logprobs)
        return tk_err_set(e, TK_EPARSE, "%s: the answer has no prompt_logprobs", t->what);
    *logprobs = r.prompt_logprobs;
    *n = r.n_prompt_logprobs;
    return 0;
}

static int take_client(tk_task *t, double timeout_s, tk_client_task_kind kind, const char *fn,
                       void **out, tk_err *e) {
    *out = NULL;
    int rc = check_kind(t, kind, kind, fn, e);
    if (!rc) rc = tk_client_task_wait(t, timeout_s, e);
    if (rc) return rc;
    pthread_mutex_lock(&t->mu);
    if (t->taken) rc = tk_err_set(e, TK_ESTATE, "%s: %s: the client was handed over already", fn,
                                  t->what);
    else if (kind == TK_CLIENT_TASK_CREATE_TRAINING) *out = t->training, t->training = NULL;
    else *out = t->sampling, t->sampling = NULL;
    if (!rc && !*out) rc = tk_err_set(e, TK_EINTERNAL, "%s: %s made no client", fn, t->what);
    if (!rc) t->taken = true;
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int tk_client_training_result(tk_client_task *t, double timeout_s, tk_client_training **out,
                              tk_err *e) {
    return take_client(t, timeout_s, TK_CLIENT_TASK_CREATE_TRAINING, "tk_client_training_result",
                       (void **)out, e);
}

int tk_client_sampling_result(tk_client_task *t, double timeout_s, tk_client_sampling **out,
                              tk_err *e) {
    return take_client(t, timeout_s, TK_CLIENT_TASK_CREATE_SAMPLING, "tk_client_sampling_result",
                       (void **)out, e);
}
