/* The client object and its I/O thread: one libcurl multi handle driven by curl_multi_poll, a
 * command inbox that other threads fill (woken with curl_multi_wakeup), and a timer heap for
 * every delay. Nothing here blocks except curl_multi_poll, which is bounded. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static _Thread_local const tk_client *tl_io_client;

bool tk_client_on_io_thread(const tk_client *c) { return c && tl_io_client == c; }

int64_t tk_client_scaled_ms(const tk_client *c, double delay_s) {
    double ms = delay_s * c->cfg.retry_time_scale * 1000.0;
    if (!(ms > 0)) return 0;
    if (ms > 1e12) ms = 1e12;
    return (int64_t)llround(ms);
}

void tk_client_emit(tk_client *c, tk_client_event_kind kind, const tk_op *op, const char *reason,
                    double delay_s, int attempt, long status) {
    if (!c->trace) return;
    tk_client_event ev = {
        .kind = kind,
        .path = op ? op->path : "",
        .reason = reason ? reason : "",
        .delay_s = delay_s * c->cfg.retry_time_scale,
        .attempt = attempt,
        .http_status = status,
    };
    c->trace(&ev, c->trace_user);
}

void tk_client_set_trace(tk_client *c, void (*fn)(const tk_client_event *ev, void *user),
                         void *user) {
    c->trace = fn;
    c->trace_user = user;
}

/* ---- reference counting ----------------------------------------------------------------------- */

void tk_client_ref(tk_client *c) { atomic_fetch_add(&c->refs, 1); }

void tk_client_unref(tk_client *c) {
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1) return;
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->exit_mu);
    pthread_cond_destroy(&c->exit_cv);
    free(c);
}

/* Everything but the struct, the locks and the exit handshake. */
static void free_resources(tk_client *c) {
    if (c->multi) curl_multi_cleanup(c->multi);
    c->multi = NULL;
    curl_slist_free_all(c->common);
    c->common = NULL;
    tk_ctimer_heap_free(&c->timers);
    tk_client_cfg_free(&c->cfg);
}

/* ---- inbox ------------------------------------------------------------------------------------ */

int tk_client_post(tk_client *c, tk_cmd *cmd) {
    pthread_mutex_lock(&c->lock);
    if (c->closing) {
        pthread_mutex_unlock(&c->lock);
        return TK_ESTATE;
    }
    cmd->next = NULL;
    if (c->inbox_tail) c->inbox_tail->next = cmd;
    else c->inbox_head = cmd;
    c->inbox_tail = cmd;
    /* woken under the lock: close() cannot free the multi handle in between */
    curl_multi_wakeup(c->multi);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static tk_cmd *take_inbox(tk_client *c) {
    pthread_mutex_lock(&c->lock);
    tk_cmd *list = c->inbox_head;
    c->inbox_head = c->inbox_tail = NULL;
    pthread_mutex_unlock(&c->lock);
    return list;
}

static void free_cmd(tk_cmd *cmd) {
    if (cmd->fut) tk_client_future_release(cmd->fut);
    free(cmd->ops);
    free(cmd->session_id);
    free(cmd);
}

static void handle_cmd(tk_client *c, tk_cmd *cmd, bool stopping) {
    switch (cmd->kind) {
    case TK_CMD_START:
        if (stopping) {
            for (size_t i = 0; i < cmd->n_ops; i++) tk_op_abort(cmd->ops[i], "the client is closing");
        } else if (cmd->n_ops == 1 && !cmd->ops[0]->lane) {
            tk_op_start(cmd->ops[0]);
        } else {
            tk_op_start_group(cmd->ops, cmd->n_ops);
        }
        break;
    case TK_CMD_CANCEL:
        if (cmd->fut->op) tk_op_cancel(cmd->fut->op);
        tk_fut_run_callbacks(cmd->fut);
        break;
    case TK_CMD_CALLBACKS:
        tk_fut_run_callbacks(cmd->fut);
        break;
    case TK_CMD_HEARTBEAT:
        if (!stopping) {
            tk_heartbeat_apply(c, cmd->session_id);
            cmd->session_id = NULL;
        }
        break;
    }
    free_cmd(cmd);
}

static void drain_inbox(tk_client *c, bool stopping) {
    tk_cmd *cmd;
    while ((cmd = take_inbox(c))) {
        while (cmd) {
            tk_cmd *next = cmd->next;
            handle_cmd(c, cmd, stopping);
            cmd = next;
        }
    }
}

/* ---- the loop --------------------------------------------------------------------------------- */

static void fire_timers(tk_client *c) {
    int64_t now = tk_now_ms();
    tk_ctimer *t;
    while ((t = tk_ctimer_pop_due(&c->timers, now))) t->fire(t, t->owner);
}

static void reap_transfers(tk_client *c) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        tk_op *op = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&op);
        CURLcode cc = m->data.result;
        if (op) tk_op_transfer_done(op, cc);
    }
}

static int poll_timeout_ms(tk_client *c) {
    long curl_ms = -1;
    curl_multi_timeout(c->multi, &curl_ms);
    int64_t ms = 1000;
    if (curl_ms >= 0 && curl_ms < ms) ms = curl_ms;
    tk_ctimer *t = tk_ctimer_peek(&c->timers);
    if (t) {
        int64_t until = t->due_ms - tk_now_ms();
        if (until < ms) ms = until < 0 ? 0 : until;
    }
    return (int)ms;
}

static void *io_main(void *arg) {
    tk_client *c = arg;
    tl_io_client = c;
    while (!atomic_load(&c->stop)) {
        drain_inbox(c, false);
        fire_timers(c);
        int running = 0;
        curl_multi_perform(c->multi, &running);
        reap_transfers(c);
        if (atomic_load(&c->stop)) break;
        /* new work may have been queued by the callbacks above: look before sleeping */
        pthread_mutex_lock(&c->lock);
        bool more = c->inbox_head != NULL;
        pthread_mutex_unlock(&c->lock);
        if (more) continue;
        curl_multi_poll(c->multi, NULL, 0, poll_timeout_ms(c), NULL);
    }
    /* Shut down: nothing new can arrive (closing is set), fail what is left. */
    drain_inbox(c, true);
    while (c->ops) tk_op_abort(c->ops, "the client is closing");
    drain_inbox(c, true);   /* callbacks registered by the callbacks above */
    tk_heartbeat_shutdown(c);

    pthread_mutex_lock(&c->exit_mu);
    c->exited = true;
    bool orphaned = atomic_load(&c->orphaned);
    pthread_cond_broadcast(&c->exit_cv);
    pthread_mutex_unlock(&c->exit_mu);
    if (orphaned) {
        free_resources(c);
        tk_client_unref(c);
    }
    tl_io_client = NULL;
    return NULL;
}

/* ---- open / close ----------------------------------------------------------------------------- */

static int add_header(struct curl_slist **l, const char *name, const char *value) {
    tk_buf b = {0};
    if (tk_buf_printf(&b, "%s: %s", name, value)) return TK_ENOMEM;
    struct curl_slist *n = curl_slist_append(*l, b.data);
    tk_buf_free(&b);
    if (!n) return TK_ENOMEM;
    *l = n;
    return 0;
}

static int build_common_headers(tk_client *c) {
    const tk_client_cfg *g = &c->cfg;
    int rc = 0;
    rc = rc ? rc : add_header(&c->common, "X-API-Key", g->api_key);
    rc = rc ? rc : add_header(&c->common, "User-Agent", g->user_agent);
    rc = rc ? rc : add_header(&c->common, "X-Stainless-Lang", "c");
    rc = rc ? rc : add_header(&c->common, "X-Stainless-Package-Version", TINKERC_VERSION);
    rc = rc ? rc : add_header(&c->common, "X-Stainless-OS", "Linux");
#if defined(__x86_64__)
    rc = rc ? rc : add_header(&c->common, "X-Stainless-Arch", "x64");
#elif defined(__aarch64__)
    rc = rc ? rc : add_header(&c->common, "X-Stainless-Arch", "arm64");
#else
    rc = rc ? rc : add_header(&c->common, "X-Stainless-Arch", "other");
#endif
    rc = rc ? rc : add_header(&c->common, "X-Stainless-Runtime", "tinkerc");
    rc = rc ? rc : add_header(&c->common, "X-Stainless-Runtime-Version", TINKERC_VERSION);
    if (g->cf_id) rc = rc ? rc : add_header(&c->common, "CF-Access-Client-Id", g->cf_id);
    if (g->cf_secret)
        rc = rc ? rc : add_header(&c->common, "CF-Access-Client-Secret", g->cf_secret);
    if (!rc) {   /* no "Expect: 100-continue" round trip before large bodies */
        struct curl_slist *n = curl_slist_append(c->common, "Expect:");
        if (!n) rc = TK_ENOMEM;
        else c->common = n;
    }
    return rc;
}

int tk_client_open(const tk_client_options *opts, tk_client **out, tk_err *e) {
    *out = NULL;
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK)
        return tk_err_set(e, TK_EINTERNAL, "curl_global_init: %s",
                          curl_easy_strerror(g_curl_init_rc));
    tk_client_options defaults;
    if (!opts) {
        tk_client_options_init(&defaults);
        opts = &defaults;
    }
    tk_client *c = calloc(1, sizeof *c);
    if (!c) return tk_err_set(e, TK_ENOMEM, "tk_client_open: out of memory");
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->exit_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->exit_cv, &ca);
    pthread_condattr_destroy(&ca);

    int rc = tk_client_cfg_resolve(opts, &c->cfg, &c->backend, &c->backend_handle, e);
    if (rc) {
        tk_client_unref(c);
        return rc;
    }
    c->empty400_budget = 16;
    uint64_t seed = c->cfg.seed;
    if (!seed) {
        char u[37];
        tk_uuid4(u);
        seed = tk_hash_bytes(u, 36);
    }
    tk_rng_seed(&c->rng, seed);
    c->multi = curl_multi_init();
    if (!c->multi || build_common_headers(c)) {
        rc = tk_err_set(e, TK_ENOMEM, "tk_client_open: out of memory (libcurl)");
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 64L);
    if ((rc = tk_thread_start(&c->thread, io_main, c, e))) {
        tk_err_prefix(e, "tk_client_open: I/O thread: ");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    if (c->backend_handle && c->backend.stop) c->backend.stop(c->backend.user, c->backend_handle);
    free_resources(c);
    tk_client_unref(c);
    return rc;
}

void tk_client_close(tk_client *c) {
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    c->closing = true;
    pthread_mutex_unlock(&c->lock);
    atomic_store(&c->stop, true);
    curl_multi_wakeup(c->multi);
    if (tk_client_on_io_thread(c)) {
        /* From a callback: the thread cannot wait for itself. It finishes the shutdown when the
         * callback returns and then frees the client. */
        tk_warn("tk_client_close called from a completion callback; closing asynchronously");
        pthread_mutex_lock(&c->exit_mu);
        atomic_store(&c->orphaned, true);
        tk_client_ref(c);
        pthread_mutex_unlock(&c->exit_mu);
        pthread_detach(c->thread.handle);
        if (c->backend_handle && c->backend.stop) c->backend.stop(c->backend.user, c->backend_handle);
        c->backend_handle = NULL;
        tk_client_unref(c);
        return;
    }

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double t = c->cfg.close_timeout_s;
    deadline.tv_sec += (time_t)t;
    deadline.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->exit_mu);
    while (!c->exited) {
        if (pthread_cond_timedwait(&c->exit_cv, &c->exit_mu, &deadline) == ETIMEDOUT) break;
    }
    bool exited = c->exited;
    if (!exited) {
        atomic_store(&c->orphaned, true);
        tk_client_ref(c);   /* the I/O thread's reference, dropped when it finishes */
    }
    pthread_mutex_unlock(&c->exit_mu);

    void *bh = c->backend_handle;
    tk_client_local_backend be = c->backend;
    c->backend_handle = NULL;
    if (exited) {
        tk_thread_join(&c->thread);
        free_resources(c);
    } else {
        tk_warn("tk_client_close: the I/O thread did not stop within %.1f s; leaving it to "
                "finish on its own", t);
        pthread_detach(c->thread.handle);
    }
    if (bh && be.stop) be.stop(be.user, bh);
    tk_client_unref(c);
}

/* ---- accessors -------------------------------------------------------------------------------- */

const char *tk_client_base_url(const tk_client *c) { return c->cfg.base_url; }
bool tk_client_is_local(const tk_client *c) { return c->cfg.local; }
const char *tk_client_project_id(const tk_client *c) { return c->cfg.project_id; }
const char *const *tk_client_tags(const tk_client *c, size_t *n) {
    *n = c->cfg.n_tags;
    return (const char *const *)c->cfg.tags;
}
