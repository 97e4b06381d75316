/* Jobs and the single engine worker thread.
 *
 * The worker owns all engine state, so the engine needs no locks. It takes the head of the FIFO
 * of released jobs; when the head is batchable it also takes the later queued jobs of the same
 * model (or sampler) that share its run function, stopping at the first job of that target that
 * is not (a barrier such as optim_step) — jobs of other targets in between are left in place,
 * so every model still sees its own requests in seq_id order. */
#include "server_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

tk_server_job *tk_server_job_new(const char *type, tk_server_job_run_fn run, bool batchable, void *payload,
                                 void (*payload_free)(void *)) {
    tk_server_job *j = calloc(1, sizeof *j);
    if (!j) {
        if (payload_free) payload_free(payload);
        return NULL;
    }
    snprintf(j->type, sizeof j->type, "%s", type ? type : "");
    j->run = run;
    j->batchable = batchable;
    j->payload = payload;
    j->payload_free = payload_free;
    return j;
}

void tk_server_job_free(tk_server *s, tk_server_job *j) {
    if (!j) return;
    if (j->payload_free) j->payload_free(j->payload);
    if (j->model) tk_server_model_unref(s, j->model);
    if (j->sampler) tk_server_sampler_unref(s, j->sampler);
    free(j->error);
    free(j);
}

/* When a creation job settles, before its future does: the model becomes ready (and its run is
 * recorded on disk) or failed, so that a client that has the create_model result never finds the
 * model still being created. */
static void finish_creation(tk_server *s, tk_server_job *j) {
    tk_server_model *m = j->model;
    bool ok = j->settled && j->ok;
    pthread_mutex_lock(&s->reg_mu);
    if (m->state == TK_SERVER_MODEL_CREATING) {
        m->state = ok ? TK_SERVER_MODEL_READY : TK_SERVER_MODEL_FAILED;
        if (!ok) {
            free(m->reason);
            m->reason = tk_strdup(j->error ? j->error : "creation failed");
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
    if (!ok) return;
    tk_server_run_meta meta = {.run_id = m->id, .base_model = m->base_model, .owner = m->owner,
                               .is_lora = m->is_lora, .lora_rank = m->lora_rank, .train_mlp = m->train_mlp,
                               .train_attn = m->train_attn, .train_unembed = m->train_unembed,
                               .created_wall = tk_wall_s(), .user_metadata = m->user_metadata};
    tk_err e = {0};
    if (tk_server_store_put_run(s->store, &meta, &e)) tk_warn("server: recording run %s: %s", m->id, e.msg);
}

void tk_server_job_succeed(tk_server *s, tk_server_job *j, tk_buf *json, tk_buf *proto) {
    if (j->settled) {
        tk_buf_free(json);
        if (proto) tk_buf_free(proto);
        return;
    }
    tk_server_blob *bj = tk_server_blob_from_buf(json);
    tk_server_blob *bp = proto && proto->len ? tk_server_blob_from_buf(proto) : NULL;
    if (proto && !bp) tk_buf_free(proto);
    if (!bj) {
        tk_server_blob_unref(bp);
        tk_server_job_fail(s, j, TK_SERVER_CAT_SERVER, "out of memory storing the result");
        return;
    }
    j->settled = j->ok = true;
    if (j->creates_model && j->model) finish_creation(s, j);
    if (j->request_id[0]) tk_server_futures_succeed(s->futures, j->request_id, bj, bp);
    else { tk_server_blob_unref(bj); tk_server_blob_unref(bp); }
}

void tk_server_job_fail(tk_server *s, tk_server_job *j, tk_server_category cat, const char *fmt, ...) {
    if (j->settled) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->settled = true;
    j->ok = false;
    free(j->error);
    j->error = tk_strdup(msg);
    if (j->creates_model && j->model) finish_creation(s, j);
    if (j->request_id[0]) tk_server_futures_fail(s->futures, j->request_id, cat, msg);
}

/* ---- the queue -------------------------------------------------------------------------------- */

void tk_server_worker_push_all(tk_server *s, void *const *jobs, size_t n) {
    if (!n) return;
    /* one critical section, so jobs released together (a chunk group) are seen together and can
     * be batched */
    pthread_mutex_lock(&s->q_mu);
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        j->q_next = NULL;
        j->q_prev = s->q_tail;
        if (s->q_tail) s->q_tail->q_next = j;
        else s->q_head = j;
        s->q_tail = j;
        s->q_len++;
    }
    pthread_cond_signal(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
}

void tk_server_worker_push(tk_server *s, tk_server_job *j) {
    void *one[1] = {j};
    tk_server_worker_push_all(s, one, 1);
}

static void unlink_job(tk_server *s, tk_server_job *j) {
    if (j->q_prev) j->q_prev->q_next = j->q_next;
    else s->q_head = j->q_next;
    if (j->q_next) j->q_next->q_prev = j->q_prev;
    else s->q_tail = j->q_prev;
    j->q_next = j->q_prev = NULL;
    s->q_len--;
}

/* Take the next batch (caller holds q_mu; the queue is not empty). */
static size_t take_batch(tk_server *s, tk_server_job **batch, size_t max) {
    tk_server_job *h = s->q_head;
    size_t n = 0;
    batch[n++] = h;
    if (h->gather) {
        for (tk_server_job *j = h->q_next; j && n < max; j = j->q_next)
            if (j->gather && j->run == h->run) batch[n++] = j;
    } else if (h->batchable && (h->model || h->sampler)) {
        for (tk_server_job *j = h->q_next; j && n < max; j = j->q_next) {
            if (j->model != h->model || j->sampler != h->sampler) continue; /* another target */
            if (!j->batchable || j->run != h->run || j->creates_model) break; /* a barrier */
            batch[n++] = j;
        }
    }
    for (size_t i = 0; i < n; i++) unlink_job(s, batch[i]);
    return n;
}

/* Is the job's target able to run it? If not, fail it with the reason. */
static bool target_ready(tk_server *s, tk_server_job *j) {
    char reason[600] = "";
    if (j->any_state) return true;
    if (j->model) {
        tk_server_model_state st = tk_server_model_state_of(s, j->model, reason, sizeof reason);
        if (st == TK_SERVER_MODEL_READY || (st == TK_SERVER_MODEL_CREATING && j->creates_model)) return true;
        if (st == TK_SERVER_MODEL_CREATING)
            tk_server_job_fail(s, j, TK_SERVER_CAT_SERVER, "model %s is not created yet (internal ordering error)", j->model->id);
        else if (st == TK_SERVER_MODEL_FAILED)
            tk_server_job_fail(s, j, TK_SERVER_CAT_USER, "model %s could not be created: %s", j->model->id, reason);
        else
            tk_server_job_fail(s, j, TK_SERVER_CAT_USER, "model %s was unloaded: %s", j->model->id, reason);
        return false;
    }
    if (j->sampler) {
        pthread_mutex_lock(&s->reg_mu);
        bool dead = j->sampler->dead;
        if (dead) snprintf(reason, sizeof reason, "%s", j->sampler->reason ? j->sampler->reason : "");
        pthread_mutex_unlock(&s->reg_mu);
        if (!dead) return true;
        tk_server_job_fail(s, j, TK_SERVER_CAT_USER, "sampling session %s was closed: %s", j->sampler->id, reason);
        return false;
    }
    return true;
}

static void *worker_main(void *arg) {
    tk_server *s = arg;
    size_t cap = s->max_batch ? s->max_batch : 64;
    tk_server_job **batch = tk_calloc_array(cap, sizeof *batch);
    tk_server_job **ready = tk_calloc_array(cap, sizeof *ready);
    if (!batch || !ready) {
        tk_error("server: the engine worker cannot start: out of memory");
        free(batch);
        free(ready);
        return NULL;
    }
    bool background = false; /* the engine has background work (a decode loop) to continue */
    for (;;) {
        pthread_mutex_lock(&s->q_mu);
        while (!s->q_head && !s->q_stop && !background) pthread_cond_wait(&s->q_cv, &s->q_mu);
        if (s->q_stop) {
            pthread_mutex_unlock(&s->q_mu);
            break;
        }
        size_t n = s->q_head ? take_batch(s, batch, cap) : 0;
        pthread_mutex_unlock(&s->q_mu);

        size_t nr = 0;
        for (size_t i = 0; i < n; i++)
            if (target_ready(s, batch[i])) ready[nr++] = batch[i];
        if (nr) {
            if (ready[0]->run) ready[0]->run(s, ready, nr);
            for (size_t i = 0; i < nr; i++)
                if (!ready[i]->settled && !ready[i]->detached)
                    tk_server_job_fail(s, ready[i], TK_SERVER_CAT_SERVER, "internal error: %s produced no result",
                                       ready[i]->type);
        }
        for (size_t i = 0; i < n; i++) {
            if (batch[i]->detached) continue; /* the engine settles and frees it later */
            tk_server_job_free(s, batch[i]);
        }
        /* one slice of background work between batches: queued jobs and running decode loops
         * take turns */
        background = s->hooks.background && s->hooks.background(s->hooks.user);
    }
    free(batch);
    free(ready);
    return NULL;
}

int tk_server_worker_start(tk_server *s, tk_err *e) {
    int rc = tk_thread_start(&s->worker, worker_main, s, e);
    if (!rc) s->worker_started = true;
    return rc;
}

void tk_server_worker_stop(tk_server *s) {
    pthread_mutex_lock(&s->q_mu);
    s->q_stop = true;
    pthread_cond_broadcast(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    if (s->worker_started) tk_thread_join(&s->worker);
    s->worker_started = false;
    /* whatever is still queued will never run */
    for (;;) {
        pthread_mutex_lock(&s->q_mu);
        tk_server_job *j = s->q_head;
        if (j) unlink_job(s, j);
        pthread_mutex_unlock(&s->q_mu);
        if (!j) break;
        tk_server_job_fail(s, j, TK_SERVER_CAT_SERVER, "the server is stopping; %s was not run", j->type);
        tk_server_job_free(s, j);
    }
}
