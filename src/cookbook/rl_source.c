/* Where a training step's groups come from.
 *
 * Synchronous (default, on-policy): step i rolls out batch i with the sampler of the current
 * weights, then trains.
 *
 * Asynchronous (max_steps_off_policy = K): a worker thread rolls out batches ahead with whatever
 * sampler is current, up to K + 1 batches ahead of training, and tags every group with its
 * sampler's step. Step i takes groups_per_batch outcomes; a group with i − step > K is stale:
 * discarded, counted, and its problem rolled out again with a newer sampler (upstream discards
 * and re-queues while data remains). So rollouts of batch i+1 run while batch i trains. */
#include "rl_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int oom(tk_err *e) { return tk_err_set(e, TK_ENOMEM, "out of memory"); }

/* ---- the shared sampler ----------------------------------------------------------------------- */

int rl_sampler_init(rl_loop *L, tk_client_sampling *s, int64_t step, tk_err *e) {
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    L->sync_init = true;
    L->current = calloc(1, sizeof *L->current);
    if (!L->current) {
        tk_client_sampling_free(s);
        return oom(e);
    }
    *L->current = (rl_sampler_ref){s, step, 1};
    return 0;
}

static void ref_release(rl_loop *L, rl_sampler_ref *r) {
    if (!r) return;
    pthread_mutex_lock(&L->mu);
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&L->mu);
    if (last) {
        tk_client_sampling_free(r->s);
        free(r);
    }
}

static rl_sampler_ref *ref_acquire(rl_loop *L) {
    pthread_mutex_lock(&L->mu);
    rl_sampler_ref *r = L->current;
    r->refs++;
    pthread_mutex_unlock(&L->mu);
    return r;
}

void rl_sampler_publish(rl_loop *L, tk_client_sampling *s, int64_t step) {
    rl_sampler_ref *n = calloc(1, sizeof *n);
    if (!n) {   /* keep the old sampler: the next rollouts are one step more off-policy */
        tk_warn("out of memory publishing the sampler of step %lld", (long long)step);
        tk_client_sampling_free(s);
        return;
    }
    *n = (rl_sampler_ref){s, step, 1};
    pthread_mutex_lock(&L->mu);
    rl_sampler_ref *old = L->current;
    L->current = n;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    ref_release(L, old);
}

void rl_sampler_fini(rl_loop *L) {
    if (!L->sync_init) return;
    ref_release(L, L->current);
    L->current = NULL;
    pthread_cond_destroy(&L->cv);
    pthread_mutex_destroy(&L->mu);
    L->sync_init = false;
}

void rl_batch_groups_free(tk_rl_batch_groups *b) {
    for (size_t i = 0; i < b->n; i++) tk_rl_group_free(&b->groups[i]);
    free(b->groups);
    memset(b, 0, sizeof *b);
}

/* ---- rolling out ------------------------------------------------------------------------------ */

static uint64_t mix3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ull ^ (c * 0x94d049bb133111ebull);
    return h ^ (h >> 29);
}

/* Roll out builders with sampler r; outcomes tagged with (batch, r->step). */
static int rollout(rl_loop *L, rl_sampler_ref *r, tk_rl_group_builder *const *b, size_t n, int64_t batch, uint64_t seed,
                   tk_rl_group_outcome *out, tk_err *e) {
    const tk_rl_config *c = L->cfg;
    tk_rl_sampling_policy sp = {.sampler = r->s, .renderer = L->run->renderer, .max_tokens = L->max_tokens,
                                .temperature = c->temperature, .timeout_s = -1,
                                .max_in_flight = (size_t)c->sampling_concurrency};
    tk_rl_policy pol = tk_rl_policy_sampling(&sp);
    tk_rl_rollout_limits lim = {.max_turns = c->max_turns, .max_tokens = L->max_tokens,
                                .max_trajectory_tokens = c->max_trajectory_tokens == TK_OPT_UNSET_INT ? 0
                                                                                                       : c->max_trajectory_tokens};
    int rc = tk_rl_rollout_groups(b, n, &pol, &lim, seed, out, e);
    for (size_t i = 0; !rc && i < n; i++) {
        out[i].group.batch = batch;
        out[i].group.sampler_step = r->step;
    }
    return rc;
}

static void free_builders(tk_rl_group_builder **b, size_t n) {
    for (size_t i = 0; b && i < n; i++)
        if (b[i]) b[i]->ops->free(b[i]);
    free(b);
}

/* Outcomes -> the batch's groups, applying rollout_error_tolerance. Takes the groups. */
static int gather(rl_loop *L, int64_t i, tk_rl_group_outcome *o, size_t n, tk_rl_batch_groups *out, tk_err *e) {
    out->groups = calloc(n ? n : 1, sizeof *out->groups);
    if (!out->groups) return oom(e);
    const tk_rl_group_outcome *first_fail = NULL;
    for (size_t k = 0; k < n; k++) {
        if (o[k].status == TK_RL_GROUP_OK) {
            out->groups[out->n++] = o[k].group;
            memset(&o[k].group, 0, sizeof o[k].group);
        } else if (o[k].status == TK_RL_GROUP_SKIPPED_CONTEXT) {
            if (!out->skipped) tk_warn("batch %lld: %s (skipped)", (long long)i, o[k].err.msg);
            out->skipped++;
        } else {
            if (!first_fail) first_fail = &o[k];
            out->failed++;
        }
    }
    if (!out->failed) return 0;
    size_t allowed = (size_t)floor(L->cfg->rollout_error_tolerance * (double)n);
    if (out->failed == n)
        return tk_err_set(e, first_fail->err.code ? first_fail->err.code : TK_EINVAL,
                          "every one of the %zu groups failed; the first: %s", n, first_fail->err.msg);
    if (out->failed > allowed)
        return tk_err_set(e, first_fail->err.code ? first_fail->err.code : TK_EINVAL,
                          "%zu of %zu groups failed (rollout_error_tolerance=%g allows %zu); the first: %s", out->failed,
                          n, L->cfg->rollout_error_tolerance, allowed, first_fail->err.msg);
    tk_warn("batch %lld: %zu of %zu groups failed and were dropped; the first: %s", (long long)i, out->failed, n,
            first_fail->err.msg);
    return 0;
}

static int sync_next(rl_loop *L, int64_t i, tk_rl_batch_groups *out, tk_err *e) {
    tk_rl_group_builder **b = NULL;
    size_t n = 0;
    int rc = L->dataset->ops->get_batch(L->dataset, i, &b, &n, e);
    tk_rl_group_outcome *o = rc ? NULL : calloc(n ? n : 1, sizeof *o);
    if (!rc && !o) rc = oom(e);
    rl_sampler_ref *r = rc ? NULL : ref_acquire(L);
    if (!rc) rc = rollout(L, r, b, n, i, mix3((uint64_t)L->cfg->seed, (uint64_t)i, 0), o, e);
    ref_release(L, r);
    if (!rc) rc = gather(L, i, o, n, out, e);
    for (size_t k = 0; o && k < n; k++) tk_rl_group_free(&o[k].group);
    free(o);
    free_builders(b, n);
    return rc;
}

/* ---- asynchronous: the worker ----------------------------------------------------------------- */

typedef struct redo {
    int64_t batch;
    size_t index;
} redo;
typedef TK_VEC(redo) redo_vec;

struct rl_async {
    tk_thread thread;
    tk_queue *done;                   /* tk_rl_group_outcome * */
    redo_vec redo;                    /* stale groups to roll out again (under L->mu) */
    int64_t next_batch;               /* the next new batch the worker takes */
    bool stop;
    int rc;                           /* the worker's fatal error */
    tk_err err;
};

static void push_outcomes(rl_async *A, tk_rl_group_outcome *o, size_t n) {
    for (size_t k = 0; k < n; k++) {
        tk_rl_group_outcome *x = malloc(sizeof *x);
        if (x) *x = o[k];
        if (!x || tk_queue_push(A->done, x)) {
            if (x) tk_rl_group_free(&x->group);
            else tk_rl_group_free(&o[k].group);
            free(x);
        }
    }
}

static void *worker(void *arg) {
    rl_loop *L = arg;
    rl_async *A = L->async;
    int64_t K = L->cfg->max_steps_off_policy;
    uint64_t round = 1;
    for (;;) {
        /* what to do next: redos first, then a new batch within K + 1 of the trainer */
        pthread_mutex_lock(&L->mu);
        for (;;) {
            if (A->stop || A->redo.len || (A->next_batch < L->total && A->next_batch <= L->current->step + K + 1)) break;
            pthread_cond_wait(&L->cv, &L->mu);
        }
        if (A->stop) {
            pthread_mutex_unlock(&L->mu);
            break;
        }
        redo_vec todo = {0};
        int64_t batch = -1;
        if (A->redo.len) {
            todo = A->redo;   /* take them all */
            memset(&A->redo, 0, sizeof A->redo);
        } else {
            batch = A->next_batch++;
        }
        pthread_mutex_unlock(&L->mu);

        tk_err e = {0};
        int rc = 0;
        rl_sampler_ref *r = ref_acquire(L);
        if (batch >= 0) {
            tk_rl_group_builder **b = NULL;
            size_t n = 0;
            rc = L->dataset->ops->get_batch(L->dataset, batch, &b, &n, &e);
            tk_rl_group_outcome *o = rc ? NULL : calloc(n ? n : 1, sizeof *o);
            if (!rc && !o) rc = oom(&e);
            if (!rc) rc = rollout(L, r, b, n, batch, mix3((uint64_t)L->cfg->seed, (uint64_t)batch, 0), o, &e);
            if (!rc) push_outcomes(A, o, n);
            free(o);
            free_builders(b, n);
        } else {
            /* each stale group's builder again, from its batch (get_batch is deterministic) */
            for (size_t k = 0; !rc && k < todo.len; k++) {
                tk_rl_group_builder **b = NULL;
                size_t n = 0;
                rc = L->dataset->ops->get_batch(L->dataset, todo.data[k].batch, &b, &n, &e);
                size_t idx = todo.data[k].index;
                tk_rl_group_outcome o = {0};
                if (!rc && idx < n)
                    rc = rollout(L, r, &b[idx], 1, todo.data[k].batch,
                                 mix3((uint64_t)L->cfg->seed, (uint64_t)todo.data[k].batch, round++), &o, &e);
                o.group.index = idx;
                if (!rc && idx < n) push_outcomes(A, &o, 1);
                free_builders(b, n);
            }
            tk_vec_free(&todo);
        }
        ref_release(L, r);
        if (rc) {
            pthread_mutex_lock(&L->mu);
            A->rc = rc;
            A->err = e;
            pthread_mutex_unlock(&L->mu);
            tk_queue_close(A->done);   /* wakes the trainer, who reports A->err */
            break;
        }
    }
    return NULL;
}

static int async_next(rl_loop *L, int64_t i, tk_rl_batch_groups *out, json_t *m, tk_err *e) {
    rl_async *A = L->async;
    int64_t K = L->cfg->max_steps_off_policy;
    size_t want = (size_t)L->cfg->groups_per_batch, got = 0;
    tk_rl_group_outcome *o = calloc(want, sizeof *o);
    if (!o) return oom(e);
    size_t stale = 0;
    int rc = 0;
    while (!rc && got < want) {
        void *item = NULL;
        if (tk_queue_pop(A->done, &item, -1)) {
            pthread_mutex_lock(&L->mu);
            rc = A->rc ? A->rc : TK_EINTERNAL;
            if (A->rc) *e = A->err;
            else tk_err_set(e, rc, "the rollout worker stopped");
            pthread_mutex_unlock(&L->mu);
            tk_err_prefix(e, "rollouts: ");
            break;
        }
        tk_rl_group_outcome *x = item;
        if (x->status == TK_RL_GROUP_OK && i - x->group.sampler_step > K) {
            /* stale: dropped, and its problem goes back to the worker */
            stale++;
            redo rd = {x->group.batch, x->group.index};
            pthread_mutex_lock(&L->mu);
            if (tk_vec_push(&A->redo, rd)) rc = oom(e);
            pthread_cond_broadcast(&L->cv);
            pthread_mutex_unlock(&L->mu);
            tk_rl_group_free(&x->group);
        } else {
            o[got++] = *x;
        }
        free(x);
    }
    double smin = INFINITY, smax = -INFINITY, ssum = 0, sn = 0;
    for (size_t k = 0; k < got; k++)
        if (o[k].status == TK_RL_GROUP_OK) {
            double s = (double)o[k].group.sampler_step;
            smin = fmin(smin, s);
            smax = fmax(smax, s);
            ssum += s;
            sn++;
        }
    if (!rc) rc = gather(L, i, o, got, out, e);
    out->stale = stale;
    if (!rc && sn) {
        if (tk_json_set_new(m, "sampling_client/step_min", json_real(smin)) ||
            tk_json_set_new(m, "sampling_client/step_max", json_real(smax)) ||
            tk_json_set_new(m, "sampling_client/step_mean", json_real(ssum / sn)))
            rc = oom(e);
    }
    if (!rc && tk_json_set_new(m, "rollout/stale_groups", json_real((double)stale))) rc = oom(e);
    for (size_t k = 0; k < got; k++) tk_rl_group_free(&o[k].group);
    free(o);
    return rc;
}

/* ---- the interface ---------------------------------------------------------------------------- */

int rl_source_start(rl_loop *L, int64_t start, tk_err *e) {
    if (L->cfg->max_steps_off_policy == TK_OPT_UNSET_INT) return 0;
    rl_async *A = calloc(1, sizeof *A);
    if (!A || !(A->done = tk_queue_new())) {
        free(A);
        return oom(e);
    }
    A->next_batch = start;
    L->async = A;
    int rc = tk_thread_start(&A->thread, worker, L, e);
    if (rc) {
        tk_queue_free(A->done);
        free(A);
        L->async = NULL;
    }
    return rc;
}

int rl_source_next(rl_loop *L, int64_t i, tk_rl_batch_groups *out, json_t *m, tk_err *e) {
    memset(out, 0, sizeof *out);
    int rc = L->async ? async_next(L, i, out, m, e) : sync_next(L, i, out, e);
    if (rc) rl_batch_groups_free(out);
    return rc;
}

void rl_source_stop(rl_loop *L) {
    rl_async *A = L->async;
    if (!A) return;
    pthread_mutex_lock(&L->mu);
    A->stop = true;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    tk_thread_join(&A->thread);
    tk_queue_close(A->done);
    void *item;
    while (!tk_queue_pop(A->done, &item, 0)) {
        tk_rl_group_outcome *x = item;
        tk_rl_group_free(&x->group);
        free(x);
    }
    tk_queue_free(A->done);
    tk_vec_free(&A->redo);
    free(A);
    L->async = NULL;
}
