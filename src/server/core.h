/* The server core that route handlers and the engine glue build on: jobs and the engine worker,
 * training models with their seq_id queues, sampling sessions, sessions. Internal to the server
 * layer. docs/server.md explains the rules; this header is the API.
 *
 * How a request flows:
 *   1. An HTTP handler parses and validates the body, builds a tk_server_job (the decoded
 *      request as payload, and a run function), and submits it: tk_server_submit_train (ordered
 *      by seq_id per model), tk_server_submit_sample (unordered, deduplicated per sampler),
 *      tk_server_model_create (the model's first job), or tk_server_submit_unordered. The submit
 *      creates the future and answers {"request_id": …} at once; nothing is executed on the HTTP
 *      thread.
 *   2. The single engine worker thread takes released jobs in order and calls job->run. A run
 *      function settles every job it is given with tk_server_job_succeed (JSON bytes, and
 *      protobuf bytes when the result type has a protobuf form) or tk_server_job_fail.
 *   3. retrieve_future long-polls the future and answers with the encoding the client asked for.
 *
 * Threads: submit functions are called from HTTP threads; run functions, and everything that
 * touches model->engine / sampler->engine, only from the worker thread. */
#ifndef TK_SERVER_CORE_H
#define TK_SERVER_CORE_H

#include "futures.h"
#include "sequencer.h"

struct json_t;
typedef struct tk_server tk_server;
typedef struct tk_server_job tk_server_job;
typedef struct tk_server_model tk_server_model;
typedef struct tk_server_sampler tk_server_sampler;

/* ---- jobs ------------------------------------------------------------------------------------- */

/* Execute n >= 1 jobs on the worker thread. n > 1 only for batchable jobs: consecutive released
 * jobs of the same model (or sampler) with the same run function, never across a job that is not
 * batchable (optim_step, load_weights, save_*: the barriers). Must settle every job. */
typedef void (*tk_server_job_run_fn)(tk_server *s, tk_server_job **jobs, size_t n);

struct tk_server_job {
    /* set by the creator (tk_server_job_new) */
    char type[32];                  /* request type ("forward_backward"); names the future */
    tk_server_job_run_fn run;
    bool batchable;
    void *payload;                  /* the decoded request; freed with payload_free */
    void (*payload_free)(void *payload);
    /* set by the submit functions */
    tk_server_model *model;         /* target training model (a reference is held), or NULL */
    tk_server_sampler *sampler;     /* target sampler (a reference is held), or NULL */
    int64_t seq_id;
    bool creates_model;             /* the first job of its model (create_model, create-via-load) */
    bool any_state;                 /* runs even when its target is unloaded (engine release) */
    bool gather;                    /* unordered work (samples): the worker batches it with every queued
                                       gather job of the same run function, whatever their targets */
    bool detached;                  /* set by a run function that keeps the job to settle it later (a
                                       sample that joined the decode loop): the worker then neither
                                       checks nor frees it; whoever settles it frees it with
                                       tk_server_job_free (on the worker thread) */
    char request_id[TK_SERVER_ID_MAX];
    /* set when settled */
    bool settled, ok;
    char *error;                    /* failure message (for the creation job: why the model failed) */
    /* worker queue links (internal) */
    tk_server_job *q_next, *q_prev;
};

/* A new unsubmitted job. NULL on OOM (payload is then freed with payload_free). */
tk_server_job *tk_server_job_new(const char *type, tk_server_job_run_fn run, bool batchable, void *payload,
                                 void (*payload_free)(void *));
/* Free an unsubmitted job (submit functions take ownership of the jobs they are given). */
void tk_server_job_free(tk_server *s, tk_server_job *j);

/* Settle a job's future with its result: json (required, with a "type" tag) and proto (may be
 * NULL). The buffers' bytes are taken. */
void tk_server_job_succeed(tk_server *s, tk_server_job *j, tk_buf *json, tk_buf *proto);
/* Settle with {"error": msg, "category": "user"|"server"}. */
void tk_server_job_fail(tk_server *s, tk_server_job *j, tk_server_category cat, const char *fmt, ...)
    TK_PRINTF(4, 5);

/* ---- training models -------------------------------------------------------------------------- */

typedef enum {
    TK_SERVER_MODEL_CREATING,  /* its creation job has not run yet */
    TK_SERVER_MODEL_READY,
    TK_SERVER_MODEL_FAILED,    /* the creation job failed (reason says why) */
    TK_SERVER_MODEL_UNLOADED,  /* unload_model, session expiry or shutdown (reason says which) */
} tk_server_model_state;

/* What create_model asked for; strings and user_metadata are copied. */
typedef struct tk_server_model_params {
    const char *base_model;
    bool is_lora;
    int64_t lora_rank;
    bool train_mlp, train_attn, train_unembed;
    const struct json_t *user_metadata;   /* object or NULL */
} tk_server_model_params;

struct tk_server_model {
    char id[TK_SERVER_ID_MAX];             /* "<session>:train:<model_seq_id>" */
    char session_id[TK_SERVER_ID_MAX];
    int64_t model_seq_id;
    char *base_model;
    bool is_lora;
    int64_t lora_rank;
    bool train_mlp, train_attn, train_unembed;
    struct json_t *user_metadata;          /* object (owned) */
    char owner[24];                        /* fingerprint of the creating API key */
    char arch[16];                         /* engine architecture ("llama3", "qwen3"); set by the
                                              creation job, readable once the model is ready */
    char *tokenizer_id;                    /* get_info's model_data.tokenizer_id (owned); set like arch */
    char create_rid[TK_SERVER_ID_MAX];
    /* guarded by the registry lock */
    tk_server_model_state state;
    char *reason;
    tk_server_seq seq;
    int refs;
    /* engine state: only the worker thread touches these. The creation job's run function sets
     * them; engine_free runs on the worker when the model is unloaded. */
    void *engine;
    void (*engine_free)(void *engine);
};

/* create_model: the model "<session>:train:<model_seq_id>" with job as its first job (seq 0;
 * its run function loads the base model and sets model->engine). A retry (the model already
 * exists) returns the original request_id and frees job. The job is consumed in every case.
 * Errors: TK_ENOTFOUND unknown session, TK_ESTATE expired session, TK_EINVAL bad arguments. */
int tk_server_model_create(tk_server *s, const char *session_id, int64_t model_seq_id,
                           const tk_server_model_params *p, const char *api_key, tk_server_job *job,
                           char rid_out[TK_SERVER_ID_MAX], tk_err *e);

/* Submit a training request of model_id at seq_id (docs/server.md "Ordering"). hash identifies
 * the request body (0 = don't compare) so that a retry with the same seq_id and body gets the
 * original request_id and is applied once. The job is consumed in every case. Errors:
 * TK_ENOTFOUND unknown model; TK_ESTATE unloaded model / expired session (410); TK_EINVAL a
 * refused seq_id or a model whose creation failed (400, message says which). */
int tk_server_submit_train(tk_server *s, const char *model_id, int64_t seq_id, uint64_t hash, tk_server_job *job,
                           char rid_out[TK_SERVER_ID_MAX], tk_err *e);

/* A submit for model_id/seq_id failed validation with message msg: record seq_id as consumed so
 * the queue does not wait for it. Unknown models and out-of-window seq_ids are ignored. */
void tk_server_reject_train(tk_server *s, const char *model_id, int64_t seq_id, uint64_t hash, const char *msg);

/* Mark a model unloaded (new submits answer 410 with reason), fail its buffered jobs, and queue
 * the release of its engine state on the worker. With job non-NULL (unload_model) the job runs
 * after that release and its future settles when it is done; rid_out gets its id. */
int tk_server_model_unload(tk_server *s, const char *model_id, const char *reason, tk_server_job *job,
                           char rid_out[TK_SERVER_ID_MAX], tk_err *e);

/* Find a model and take a reference (release with tk_server_model_unref). TK_ENOTFOUND. */
int tk_server_model_get(tk_server *s, const char *model_id, tk_server_model **out, tk_err *e);
void tk_server_model_unref(tk_server *s, tk_server_model *m);
/* A snapshot of a model's state and reason (reason copied into buf). */
tk_server_model_state tk_server_model_state_of(tk_server *s, tk_server_model *m, char *reason, size_t n);

/* ---- sampling sessions ------------------------------------------------------------------------ */

struct tk_server_sampler {
    char id[TK_SERVER_ID_MAX];             /* "<session>:sample:<n>" */
    char session_id[TK_SERVER_ID_MAX];
    char *base_model;
    char *model_path;                      /* tinker:// path of its weights, or NULL (base model) */
    /* guarded by the registry lock */
    bool dead;
    char *reason;
    double retired_at;                     /* tk_now_s of tk_server_sampler_retire, else 0 */
    tk_map *samples;                       /* seq_id -> dedup record (NULL once retired) */
    int refs;
    /* engine state (worker thread only) */
    void *engine;
    void (*engine_free)(void *engine);
};

/* create_sampling_session (and the sampler made by an unnamed save_weights_for_sampler): the
 * sampler "<session>:sample:<seq>". A retry gets the same id (*existed = true); a different
 * model for the same seq is TK_EINVAL. Callable from any thread. */
int tk_server_sampler_create(tk_server *s, const char *session_id, int64_t sampling_session_seq_id,
                             const char *base_model, const char *model_path, char id_out[TK_SERVER_ID_MAX],
                             bool *existed, tk_err *e);
/* Submit a sample job (unordered). A retry with the same (sampler, seq_id) gets the original
 * request_id. Job consumed in every case. TK_ENOTFOUND / TK_ESTATE as above. */
int tk_server_submit_sample(tk_server *s, const char *sampler_id, int64_t seq_id, uint64_t hash, tk_server_job *job,
                            char rid_out[TK_SERVER_ID_MAX], tk_err *e);
int tk_server_sampler_get(tk_server *s, const char *sampler_id, tk_server_sampler **out, tk_err *e);
/* Close a sampling session: later submits answer 410 with reason, its engine state is released on
 * the worker (requests still in its decode loop fail). After the result TTL it is forgotten
 * (then 404), so that a loop retiring one per step does not grow the tables. Unknown or closed
 * ids are ignored. */
void tk_server_sampler_retire(tk_server *s, const char *sampler_id, const char *reason);
void tk_server_sampler_unref(tk_server *s, tk_server_sampler *sp);

/* A job with no ordering (runs after everything already released). model may be NULL. */
int tk_server_submit_unordered(tk_server *s, tk_server_job *job, char rid_out[TK_SERVER_ID_MAX], tk_err *e);

/* ---- sessions --------------------------------------------------------------------------------- */

/* create_session; tags / user_metadata / api_key may be NULL (copied; the session belongs to the
 * key's fingerprint). */
int tk_server_session_create(tk_server *s, const struct json_t *tags, const struct json_t *user_metadata,
                             const char *project_id, const char *sdk_version, const char *api_key,
                             char id_out[TK_SERVER_ID_MAX], tk_err *e);
/* Record a heartbeat. TK_ENOTFOUND unknown, TK_ESTATE expired. */
int tk_server_session_heartbeat(tk_server *s, const char *id, tk_err *e);
/* {"sessions":[ids…],"cursor":{…}} newest first: the sessions of API-key fingerprint owner (NULL:
 * all). */
int tk_server_session_list(tk_server *s, const char *owner, int64_t offset, int64_t limit, struct json_t **out,
                           tk_err *e);
/* {"session_id","training_run_ids":[…],"sampler_ids":[…],…}. */
int tk_server_session_info(tk_server *s, const char *id, struct json_t **out, tk_err *e);
int tk_server_session_set_project(tk_server *s, const char *id, const char *project_id, tk_err *e);

/* ---- housekeeping (called by the sweeper thread; exposed for tests) ----------------------------- */

/* Expire sessions idle for longer than the timeout (unloading their models and samplers), skip
 * seq_id gaps older than the gap timeout, drop expired futures, checkpoints and dedup records. */
void tk_server_sweep(tk_server *s);

#endif
