/* Internal structures of the client layer, shared by the files in src/client/. Nothing here is
 * public. Fields are owned by the I/O thread unless a comment says otherwise. */
#ifndef TK_CLIENT_INTERNAL_H
#define TK_CLIENT_INTERNAL_H

#include "tinkerc/client.h"

#include <curl/curl.h>
#include <stdatomic.h>

#include "timer_heap.h"

typedef struct tk_op tk_op;

/* ---- futures (future.c) --------------------------------------------------------------------- */

enum { TK_FUT_PENDING = 0, TK_FUT_OK, TK_FUT_FAILED };

typedef struct tk_fut_cb {
    tk_client_future_cb fn;
    void *user;
} tk_fut_cb;

struct tk_client_future {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int refs;
    /* under mu */
    int state;
    int rc;
    tk_err err;
    tk_client_failure fail;
    tk_client_response resp;
    char *request_id;
    char queue_state[32];
    TK_VEC(tk_fut_cb) cbs;        /* not yet run */
    tk_client *client;            /* a reference (tk_client_ref): the struct outlives close() */
    void *user_data;
    void (*user_free)(void *);
    /* I/O thread only */
    tk_op *op;                    /* the live operation, NULL once it is finished */
};

tk_client_future *tk_fut_new(tk_client *c);
void tk_fut_ref(tk_client_future *f);
/* Settle (first call wins). Returns true if this call settled it. resp (if not NULL) is moved in. */
bool tk_fut_settle_ok(tk_client_future *f, tk_client_response *resp);
bool tk_fut_settle_failed(tk_client_future *f, int rc, const tk_err *err,
                          const tk_client_failure *fail);
void tk_fut_set_request_id(tk_client_future *f, const char *rid);
void tk_fut_set_queue_state(tk_client_future *f, const char *qs);
bool tk_fut_is_settled(tk_client_future *f);
/* Run (and forget) the registered callbacks of a settled future. I/O thread. */
void tk_fut_run_callbacks(tk_client_future *f);
void tk_response_free(tk_client_response *r);

/* ---- commands from other threads to the I/O thread (io.c) ------------------------------------ */

enum { TK_CMD_START, TK_CMD_CANCEL, TK_CMD_CALLBACKS, TK_CMD_HEARTBEAT };

typedef struct tk_cmd {
    int kind;
    tk_op **ops;                  /* TK_CMD_START: the ops of one call or group */
    size_t n_ops;
    tk_client_future *fut;        /* CANCEL / CALLBACKS: holds a reference */
    char *session_id;             /* HEARTBEAT: new session (NULL: stop) */
    struct tk_cmd *next;
} tk_cmd;

int tk_client_post(tk_client *c, tk_cmd *cmd);   /* 0, or TK_ESTATE once closing (cmd kept) */

/* ---- lanes (call.c) -------------------------------------------------------------------------- */

typedef struct tk_lane_unit {
    tk_op **ops;                  /* ops[0] goes last */
    size_t n;
    struct tk_lane_unit *next;
} tk_lane_unit;

struct tk_client_lane {
    tk_lane_unit *head, *tail;    /* waiting units */
    tk_lane_unit *active;         /* the unit whose submits are in progress */
    size_t active_left;           /* ops 1..n-1 of the active unit still submitting */
    atomic_int refs;              /* the user + every op queued in it */
};

/* ---- operations (call.c, poll.c) ------------------------------------------------------------- */

enum {
    TK_PHASE_NEW = 0,     /* created, not started */
    TK_PHASE_QUEUED,      /* waiting in its lane */
    TK_PHASE_SUBMIT,      /* the submit request (with its retries) */
    TK_PHASE_POLL,        /* polling retrieve_future */
    TK_PHASE_DONE,
};

/* What to do when the op's action timer fires. */
enum { TK_NEXT_NONE = 0, TK_NEXT_SUBMIT, TK_NEXT_POLL };

struct tk_op {
    tk_client *c;
    tk_client_future *f;          /* NULL for internal ops (heartbeats) */
    void (*internal_done)(tk_op *op, int rc, const tk_client_response *resp);
    tk_op *prev, *next;           /* c->ops list */
    bool linked;                  /* in c->ops (started on the I/O thread) */

    /* the call (immutable once started, except body on re-submission) */
    char method[8];
    char *path;
    char *url;
    void *body;
    size_t body_len;              /* what goes on the wire (after zstd) */
    size_t raw_body_len;          /* before zstd: used by the back-pressure size rule */
    bool zstd;
    char *content_type, *accept, *request_type, *poll_accept;
    struct curl_slist *extra;     /* the caller's extra headers */
    int max_retries;
    bool exec_retries, send_idem_key, backpressure, is_future, resubmit_expired, get_like;
    bool foreign_url;             /* url is not under the base URL: send no credentials */
    bool accept_redirect;
    tk_client_rebody_fn rebody;
    void *rebody_user;
    double timeout_s;
    int64_t deadline_ms;          /* absolute, 0: none */

    /* state */
    int phase;
    bool cancelled;               /* the user cancelled; finish the lane's submit, then stop */
    int next_action;
    char idem[64];
    int req_retry;                /* layer 1: retries taken in the current execute attempt */
    int exec_retry;               /* layer 2: retries taken */
    int64_t exec_start_ms;
    int64_t billing_start_ms;     /* 0: no 402 pause running */
    int n_backpressure, n_resubmit, attempts;
    char category[16];            /* of a remote failure */
    bool fresh_connect;           /* the next attempt must not reuse a connection */
    long last_status;
    tk_err last_err;

    /* poll state (§3.7) */
    char *request_id;
    int poll_iter;
    bool allow_meta;
    double submit_rtt_s;
    int poll_conn_errs, poll_429, poll_400, poll_fast;

    /* the transfer in flight */
    CURL *easy;
    struct curl_slist *hdrs;
    tk_client_response resp;
    TK_VEC(tk_client_header) rhdrs;
    bool oversize;
    bool headers_done;            /* the blank line after the answer's headers arrived */
    int64_t attempt_start_ms;
    char curl_err[CURL_ERROR_SIZE];

    tk_ctimer action_timer, deadline_timer;

    tk_client_lane *lane;
    tk_lane_unit *unit;           /* set while the op is part of the lane's active unit */
    bool lane_released;
};

/* ---- the client (io.c) ----------------------------------------------------------------------- */

typedef struct tk_client_cfg {
    char *base_url, *api_key, *project_id, *user_agent, *ca_file;
    char **tags;
    size_t n_tags;
    char *cf_id, *cf_secret;
    double connect_timeout_s, request_timeout_s, poll_timeout_s, exec_retry_budget_s,
        billing_max_pause_s, heartbeat_interval_s, heartbeat_timeout_s, heartbeat_warn_s,
        close_timeout_s, retry_time_scale;
    int max_retries;
    size_t max_response_bytes;
    uint64_t seed;
    bool local;
} tk_client_cfg;

typedef struct tk_heartbeat {
    char *session_id;             /* NULL: not running */
    char *body;
    tk_ctimer timer;
    bool in_flight;
    bool warned;
    /* stats, written by the I/O thread and read by others under c->lock */
    int64_t start_ms, last_ok_ms;
    int64_t sent, ok, failed;
} tk_heartbeat;

struct tk_client {
    tk_client_cfg cfg;
    tk_client_local_backend backend;
    void *backend_handle;

    pthread_mutex_t lock;         /* inbox, closing, heartbeat stats */
    tk_cmd *inbox_head, *inbox_tail;
    bool closing;
    CURLM *multi;
    tk_thread thread;
    pthread_t io_tid;
    atomic_bool stop;
    atomic_int refs;
    atomic_bool orphaned;         /* close() gave up waiting: the I/O thread cleans up */
    pthread_mutex_t exit_mu;
    pthread_cond_t exit_cv;
    bool exited;

    /* I/O thread only */
    tk_ctimer_heap timers;
    tk_op *ops;
    tk_rng rng;
    struct curl_slist *common;    /* headers sent on every request */
    int empty400_budget;
    tk_heartbeat hb;
    void (*trace)(const tk_client_event *ev, void *user);
    void *trace_user;
};

/* ---- internal API between the files ---------------------------------------------------------- */

int tk_client_cfg_resolve(const tk_client_options *o, tk_client_cfg *cfg,
                          tk_client_local_backend *backend, void **backend_handle, tk_err *e);
void tk_client_cfg_free(tk_client_cfg *cfg);

bool tk_client_on_io_thread(const tk_client *c);
/* The client struct is reference-counted (the user until close, each future, an orphaned I/O
 * thread); the last unref frees what close() left: the lock and the struct itself. */
void tk_client_ref(tk_client *c);
void tk_client_unref(tk_client *c);
int64_t tk_client_scaled_ms(const tk_client *c, double delay_s);
void tk_client_emit(tk_client *c, tk_client_event_kind kind, const tk_op *op, const char *reason,
                    double delay_s, int attempt, long status);

/* call.c */
int tk_op_new(tk_client *c, const tk_client_call_spec *spec, tk_op **out, tk_err *e);
void tk_op_free(tk_op *op);
void tk_op_start(tk_op *op);                       /* I/O thread: begin (or queue in lane) */
void tk_op_start_group(tk_op **ops, size_t n);     /* I/O thread */
void tk_op_cancel(tk_op *op);                      /* I/O thread */
void tk_op_abort(tk_op *op, const char *why);      /* I/O thread: close() */
void tk_op_transfer_done(tk_op *op, CURLcode cc);  /* I/O thread */
void tk_op_finish_ok(tk_op *op);
void tk_op_finish_failed(tk_op *op, int rc, tk_client_fail_kind kind, const char *fmt, ...)
    TK_PRINTF(4, 5);
void tk_op_schedule(tk_op *op, int next_action, double delay_s);
void tk_op_begin_attempt(tk_op *op, bool poll);
void tk_op_release_transfer(tk_op *op);
double tk_op_remaining_s(const tk_op *op);

void tk_op_billing_pause_poll(tk_op *op);
void tk_op_resubmit(tk_op *op);

/* poll.c */
void tk_poll_start(tk_op *op);
void tk_poll_attempt(tk_op *op);
void tk_poll_answer(tk_op *op, CURLcode cc);

/* attempt.c */
int tk_attempt_setup(tk_op *op, bool poll, const void *body, size_t body_len, double timeout_s,
                     tk_err *e);
const char *tk_attempt_header(const tk_op *op, const char *name);
/* After a transfer: status and collected headers into op->resp. */
void tk_attempt_finish_response(tk_op *op);
void tk_attempt_clear_headers(tk_op *op);
bool tk_curl_code_retryable(CURLcode cc);
bool tk_curl_code_timeout(CURLcode cc);

/* heartbeat.c */
void tk_heartbeat_apply(tk_client *c, char *session_id);   /* I/O thread; takes session_id */
void tk_heartbeat_shutdown(tk_client *c);

#endif
