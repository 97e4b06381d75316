/* Internal structures of the typed SDK (service, training, sampling, REST, tasks), shared by
 * task.c, service.c, training.c, fwdbwd.c, custom_loss.c, sampling.c and rest.c. */
#ifndef TK_CLIENT_SDK_H
#define TK_CLIENT_SDK_H

#include "tinkerc/client.h"

#include <stdatomic.h>

/* ---- the service ---------------------------------------------------------------------------- */

struct tk_client_service {
    atomic_int refs;              /* the user until close, every training/sampling client, tasks */
    tk_client *c;                 /* the transport; we hold a reference, so after close the
                                     struct stays valid and calls on it fail with TK_ESTATE */
    atomic_bool closed;
    tk_arena *arena;              /* config, session id, base URL */
    char *base_url;
    tk_wire_client_config config;
    bool proto_fwdbwd;
    double call_deadline_s;       /* applied to every typed call (tk_svc_spec_defaults) */
    char *session_id;             /* in arena; NULL with no_session */
    pthread_mutex_t mu;           /* the two counters */
    int64_t model_seq;            /* next create_model model_seq_id (§3.3) */
    int64_t sampling_seq;         /* next sampling_session_seq_id (§3.2, shared with §3.5) */
};

void tk_svc_ref(tk_client_service *s);
void tk_svc_unref(tk_client_service *s);
int64_t tk_svc_next_model_seq(tk_client_service *s);
int64_t tk_svc_next_sampling_seq(tk_client_service *s);
/* Apply the service-wide call settings (the deadline) to a spec that does not set its own. */
static inline void tk_svc_spec_defaults(const tk_client_service *s, tk_client_call_spec *spec) {
    if (spec->deadline_s == 0 && s->call_deadline_s > 0) spec->deadline_s = s->call_deadline_s;
}
/* The transport, or TK_ESTATE when the service is closed. */
int tk_svc_client(tk_client_service *s, tk_client **c, tk_err *e);

/* ---- tasks (task.c) ------------------------------------------------------------------------- */

typedef struct tk_client_task tk_task;

/* What makes a multi-step task move on. Both run without the task's lock held. */
typedef struct tk_task_ops {
    /* Every part of the current stage succeeded. Return 0 to settle the task (OK),
     * TK_TASK_CONTINUE after attaching the next stage's parts, or a TK_E… code with e filled. */
    int (*advance)(tk_task *t, tk_err *e);
    /* The task failed or was cancelled (called once). */
    void (*failed)(tk_task *t);
    /* Free ctx when the task goes. */
    void (*free_ctx)(void *ctx);
} tk_task_ops;

#define TK_TASK_CONTINUE 1

typedef struct tk_task_cb {
    void (*fn)(tk_client_task *t, void *user);
    void *user;
} tk_task_cb;

enum { TK_TASK_PENDING = 0, TK_TASK_OK, TK_TASK_FAILED };

struct tk_client_task {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int refs;
    tk_client_task_kind kind;
    tk_wire_msg result_type;
    /* under mu */
    int state;
    int rc;
    tk_err err;
    tk_client_failure fail;
    TK_VEC(tk_client_future *) parts;   /* the current stage's futures */
    TK_VEC(size_t) part_datums;         /* datums of each part (forward_backward chunks) */
    size_t left;                        /* parts of the current stage not yet settled */
    TK_VEC(tk_task_cb) cbs;
    tk_client_training *training;       /* produced by a create task, until taken */
    tk_client_sampling *sampling;
    bool taken;
    /* set at creation */
    tk_client_service *svc;             /* a reference */
    const tk_task_ops *ops;
    void *ctx;
    char what[96];                      /* names the operation in messages */
};

tk_task *tk_task_new(tk_client_service *svc, tk_client_task_kind kind, tk_wire_msg result_type,
                     const char *what);
void tk_task_ref(tk_task *t);
/* Attach the futures of one stage (the task takes the caller's references). datums may be
 * NULL. If the task has settled already, the futures are released. 0 or TK_ENOMEM (then the
 * futures are released and the task failed). */
int tk_task_attach(tk_task *t, tk_client_future **fs, const size_t *datums, size_t n);
/* Drop the current stage's futures (inside advance, before attaching the next stage). */
void tk_task_clear_parts(tk_task *t);
/* Settle: ok, or failed with rc/e (fail may be NULL). First settle wins. */
void tk_task_settle_ok(tk_task *t);
void tk_task_settle_failed(tk_task *t, int rc, const tk_err *e, const tk_client_failure *fail);
/* The response of part i of a settled-OK task (the future owns it). */
const tk_client_response *tk_task_part_response(tk_task *t, size_t i);
/* Submit spec and attach its future to t. On error nothing was sent (a give_body body is
 * freed) and t is unchanged. */
int tk_task_submit(tk_task *t, const tk_client_call_spec *spec, tk_err *e);
/* Run one plain call as a task: a new task, then tk_task_submit. On error the task is released
 * and nothing is returned. */
int tk_task_call(tk_client_service *svc, tk_client_task_kind kind, tk_wire_msg result_type,
                 const char *what, const tk_client_call_spec *spec, tk_task **out, tk_err *e);
/* Decode one JSON/protobuf answer into a wire struct, naming the call on failure. */
int tk_task_decode(const tk_task *t, const tk_client_response *r, tk_wire_msg type,
                   tk_arena *a, void *out, tk_err *e);

/* ---- training clients (training.c) ---------------------------------------------------------- */

/* A submission prepared under the training client's lock and held back while a custom loss's
 * second pass is not sent yet (its seq_ids are already taken). */
typedef struct tk_deferred {
    tk_client_call_spec *specs;   /* bodies owned (give_body) */
    size_t n;
    bool group;
    size_t *datums;               /* per spec */
    tk_task *task;                /* a reference */
    bool *hold_opened;            /* the first pass of a custom loss: it holds the lane again
                                     once sent (and says so here) */
    struct tk_deferred *next;
} tk_deferred;

struct tk_client_training {
    atomic_int refs;
    tk_client_service *svc;       /* a reference */
    char *model_id;
    char *base_model;             /* NULL if unknown */
    pthread_mutex_t mu;           /* seq, lane order, holds, deferred */
    int64_t seq;                  /* last seq_id taken */
    tk_client_lane *lane;
    int holds;                    /* custom losses whose second pass is not POSTed yet */
    tk_deferred *dhead, *dtail;
};

int tk_training_new(tk_client_service *svc, const char *model_id, const char *base_model,
                    int64_t seq, tk_client_training **out, tk_err *e);
void tk_training_ref(tk_client_training *t);
void tk_training_unref(tk_client_training *t);
/* Submit (or hold back) n specs in the lane; call with t->mu held (it is recursive). group:
 * tk_client_call_group (spec 0 goes last). The futures are attached to task. Takes the bodies
 * (give_body), also on error. hold_opened (custom losses' first pass, else NULL): the lane is
 * held from when these specs are POSTed until tk_training_release_hold_locked; *hold_opened
 * becomes true then. */
int tk_training_submit_locked(tk_client_training *t, tk_client_call_spec *specs, size_t n,
                              bool group, const size_t *datums, tk_task *task, bool *hold_opened,
                              tk_err *e);
/* Send specs at once, held lane or not (a custom loss's second pass). Same contract. */
int tk_training_submit_now_locked(tk_client_training *t, tk_client_call_spec *specs, size_t n,
                                  bool group, const size_t *datums, tk_task *task, tk_err *e);
/* A custom loss's second pass has been POSTed (or given up): release its hold and send what
 * waited. Call with t->mu held. */
void tk_training_release_hold_locked(tk_client_training *t);
/* Fill the fields every training call shares (lane, future, retries, poll headers). */
void tk_training_spec(tk_client_training *t, tk_client_call_spec *s, const char *path,
                      const char *request_type);

/* ---- forward / forward_backward (fwdbwd.c) -------------------------------------------------- */

/* The chunk boundaries of data[0..n): chunk k is data[start[k] .. start[k+1]). */
typedef struct tk_chunks {
    size_t *start;                /* n_chunks + 1 entries, malloc'd */
    size_t n_chunks;
} tk_chunks;

int tk_fwdbwd_split(const tk_client_service *svc, const tk_wire_datum *data, size_t n,
                    tk_chunks *out, tk_err *e);
/* Encode the chunk bodies of one call with seq_ids first_seq, first_seq+1, … into specs
 * (give_body; path, content type, poll settings set; the lane is the caller's). */
int tk_fwdbwd_build_specs(tk_client_training *t, const tk_wire_datum *data, const tk_chunks *ch,
                          bool forward_only, tk_wire_loss_fn loss_fn,
                          const tk_wire_f64_map *loss_fn_config, int64_t first_seq,
                          tk_client_call_spec *specs, tk_err *e);
void tk_fwdbwd_free_specs(tk_client_call_spec *specs, size_t n);

/* ---- sampling clients (sampling.c) ---------------------------------------------------------- */

struct tk_client_sampling {
    atomic_int refs;
    tk_client_service *svc;       /* a reference */
    char *session_id;             /* sampling_session_id */
    atomic_int_fast64_t seq;      /* next asample seq_id */
};

int tk_sampling_new(tk_client_service *svc, const char *sampling_session_id,
                    tk_client_sampling **out, tk_err *e);
void tk_sampling_ref(tk_client_sampling *s);
void tk_sampling_unref(tk_client_sampling *s);

/* ---- small helpers (rest.c) ----------------------------------------------------------------- */

/* Append s percent-encoded as one path segment (RFC 3986 pchar kept as is). */
int tk_rest_append_segment(tk_buf *b, const char *s);

#endif
