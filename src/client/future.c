/* Futures: a settle-once result slot that any thread can wait on, with completion callbacks that
 * run on the I/O thread. The I/O thread holds one reference while the call is live, the caller
 * another. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

tk_client_future *tk_fut_new(tk_client *c) {
    tk_client_future *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&f->refs, 1);
    f->client = c;
    tk_client_ref(c);
    return f;
}

void tk_fut_ref(tk_client_future *f) { atomic_fetch_add(&f->refs, 1); }

void tk_response_free(tk_client_response *r) {
    tk_buf_free(&r->body);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    memset(r, 0, sizeof *r);
}

void tk_client_future_release(tk_client_future *f) {
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1) return;
    if (f->user_free) f->user_free(f->user_data);
    tk_response_free(&f->resp);
    free(f->request_id);
    tk_vec_free(&f->cbs);
    tk_client_unref(f->client);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

bool tk_fut_settle_ok(tk_client_future *f, tk_client_response *resp) {
    pthread_mutex_lock(&f->mu);
    bool won = f->state == TK_FUT_PENDING;
    if (won) {
        f->state = TK_FUT_OK;
        f->rc = 0;
        if (resp) {
            f->resp = *resp;
            memset(resp, 0, sizeof *resp);
        }
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return won;
}

bool tk_fut_settle_failed(tk_client_future *f, int rc, const tk_err *err,
                          const tk_client_failure *fail) {
    pthread_mutex_lock(&f->mu);
    bool won = f->state == TK_FUT_PENDING;
    if (won) {
        f->state = TK_FUT_FAILED;
        f->rc = rc;
        if (err) f->err = *err;
        f->err.code = rc;
        if (fail) f->fail = *fail;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return won;
}

void tk_fut_set_request_id(tk_client_future *f, const char *rid) {
    char *copy = rid ? tk_strdup(rid) : NULL;
    pthread_mutex_lock(&f->mu);
    free(f->request_id);
    f->request_id = copy;
    pthread_mutex_unlock(&f->mu);
}

void tk_fut_set_queue_state(tk_client_future *f, const char *qs) {
    pthread_mutex_lock(&f->mu);
    snprintf(f->queue_state, sizeof f->queue_state, "%s", qs ? qs : "");
    pthread_mutex_unlock(&f->mu);
}

bool tk_fut_is_settled(tk_client_future *f) {
    pthread_mutex_lock(&f->mu);
    bool s = f->state != TK_FUT_PENDING;
    pthread_mutex_unlock(&f->mu);
    return s;
}

void tk_fut_run_callbacks(tk_client_future *f) {
    for (;;) {
        pthread_mutex_lock(&f->mu);
        if (f->state == TK_FUT_PENDING || f->cbs.len == 0) {
            pthread_mutex_unlock(&f->mu);
            return;
        }
        tk_fut_cb cb = f->cbs.data[0];
        memmove(f->cbs.data, f->cbs.data + 1, (f->cbs.len - 1) * sizeof *f->cbs.data);
        f->cbs.len--;
        pthread_mutex_unlock(&f->mu);
        cb.fn(f, cb.user);
    }
}

/* ---- public --------------------------------------------------------------------------------- */

int tk_client_future_wait(tk_client_future *f, double timeout_s, tk_err *e) {
    struct timespec deadline;
    if (timeout_s >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        double whole = (double)(int64_t)timeout_s;
        deadline.tv_sec += (time_t)whole;
        deadline.tv_nsec += (long)((timeout_s - whole) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&f->mu);
    if (f->state == TK_FUT_PENDING && tk_client_on_io_thread(f->client) &&
        timeout_s != 0) {
        pthread_mutex_unlock(&f->mu);
        return tk_err_set(e, TK_ESTATE, "tk_client_future_wait: called on the client's I/O "
                          "thread (from a callback) on a pending future; that would deadlock");
    }
    while (f->state == TK_FUT_PENDING) {
        if (timeout_s < 0) {
            pthread_cond_wait(&f->cv, &f->mu);
        } else if (pthread_cond_timedwait(&f->cv, &f->mu, &deadline) == ETIMEDOUT &&
                   f->state == TK_FUT_PENDING) {
            pthread_mutex_unlock(&f->mu);
            return tk_err_set(e, TK_ETIMEOUT, "tk_client_future_wait: still pending after %.3f s",
                              timeout_s);
        }
    }
    int rc = f->rc;
    if (rc && e) *e = f->err;
    pthread_mutex_unlock(&f->mu);
    return rc;
}

bool tk_client_future_done(tk_client_future *f) { return tk_fut_is_settled(f); }

void tk_client_future_cancel(tk_client_future *f) {
    tk_err err = {0};
    tk_err_set(&err, TK_ECANCELED, "cancelled by the caller");
    tk_client_failure fail = {.kind = TK_CLIENT_FAIL_CANCELED};
    if (!tk_fut_settle_failed(f, TK_ECANCELED, &err, &fail)) return;
    /* Tell the I/O thread: it stops the network work and runs the callbacks. */
    tk_client *c = f->client;
    tk_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd) {   /* the transfer runs to its end and its result is dropped */
        tk_fut_run_callbacks(f);
        return;
    }
    cmd->kind = TK_CMD_CANCEL;
    cmd->fut = f;
    tk_fut_ref(f);
    if (tk_client_post(c, cmd)) {   /* the client is closed: run the callbacks here */
        tk_client_future_release(f);
        free(cmd);
        tk_fut_run_callbacks(f);
    }
}

int tk_client_future_on_complete(tk_client_future *f, tk_client_future_cb cb, void *user) {
    pthread_mutex_lock(&f->mu);
    if (tk_vec_push(&f->cbs, ((tk_fut_cb){cb, user}))) {
        pthread_mutex_unlock(&f->mu);
        return TK_ENOMEM;
    }
    bool settled = f->state != TK_FUT_PENDING;
    pthread_mutex_unlock(&f->mu);
    if (!settled) return 0;
    tk_cmd *cmd = calloc(1, sizeof *cmd);
    if (cmd) {
        cmd->kind = TK_CMD_CALLBACKS;
        cmd->fut = f;
        tk_fut_ref(f);
        if (!tk_client_post(f->client, cmd)) return 0;
        tk_client_future_release(f);
        free(cmd);
    }
    /* No I/O thread to run it (closed, or out of memory): run it here. */
    tk_fut_run_callbacks(f);
    return 0;
}

const tk_client_response *tk_client_future_response(tk_client_future *f) {
    pthread_mutex_lock(&f->mu);
    const tk_client_response *r = f->state == TK_FUT_OK ? &f->resp : NULL;
    pthread_mutex_unlock(&f->mu);
    return r;
}

const char *tk_client_future_request_id(tk_client_future *f) {
    pthread_mutex_lock(&f->mu);
    const char *r = f->request_id;
    pthread_mutex_unlock(&f->mu);
    return r;
}

tk_client_failure tk_client_future_failure(tk_client_future *f) {
    pthread_mutex_lock(&f->mu);
    tk_client_failure r = f->fail;
    pthread_mutex_unlock(&f->mu);
    return r;
}

void tk_client_future_queue_state(tk_client_future *f, char *buf, size_t size) {
    if (!size) return;
    pthread_mutex_lock(&f->mu);
    snprintf(buf, size, "%s", f->queue_state);
    pthread_mutex_unlock(&f->mu);
}

void tk_client_future_set_user(tk_client_future *f, void *data, void (*free_fn)(void *)) {
    pthread_mutex_lock(&f->mu);
    void *old = f->user_data;
    void (*old_free)(void *) = f->user_free;
    f->user_data = data;
    f->user_free = free_fn;
    pthread_mutex_unlock(&f->mu);
    if (old_free && old != data) old_free(old);
}

void *tk_client_future_user(tk_client_future *f) {
    pthread_mutex_lock(&f->mu);
    void *d = f->user_data;
    pthread_mutex_unlock(&f->mu);
    return d;
}

const char *tk_client_response_header(const tk_client_response *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}
