/* The server object and its lifecycle, for the files of the server layer and for the engine glue
 * that plugs into it. Public entry points are in include/tinkerc/server.h.
 *
 * Embedding with extra routes (the tests, and the engine/wire glue before it is part of
 * tk_server_start) goes: tk_server_create -> tk_server_add_core_routes -> tk_server_route_add …
 * -> tk_server_listen -> … -> tk_server_stop. */
#ifndef TK_SERVER_INTERNAL_H
#define TK_SERVER_INTERNAL_H

#include "tinkerc/server.h"

#include "auth.h"
#include "core.h"
#include "http.h"
#include "store.h"

struct MHD_Daemon;
struct json_t;

/* Engine hooks: how the core asks the engine for things it cannot know itself. All optional. */
typedef struct tk_server_engine_hooks {
    void *user;
    /* Can base_model be served (create_model, create_sampling_session)? Called on HTTP threads.
     * 0, or TK_ENOTFOUND with a message listing what is served. NULL: the --model list only. */
    int (*resolve_base_model)(void *user, const char *base_model, tk_err *e);
    /* weights_info from the checkpoint's own files in payload_dir: set *out to an object with any
     * of base_model, lora_rank, train_attn, train_mlp, train_unembed that the checkpoint records
     * (they win over the run's metadata). Called on HTTP threads. NULL: run metadata only. */
    int (*checkpoint_info)(void *user, const char *payload_dir, struct json_t **out, tk_err *e);
    /* Background work on the worker thread (the sampling decode loop): called after every batch
     * of jobs and whenever the queue is empty; does one short slice of work (one decode step) and
     * returns true while more remains, so that the worker neither sleeps nor starves queued jobs.
     * NULL: none. */
    bool (*background)(void *user);
    /* Free the engine's shared state; called by tk_server_stop after the worker has stopped and
     * every model's engine_free has run (jobs the engine detached are still its own: fail and
     * free them here). */
    void (*close)(void *user);
} tk_server_engine_hooks;

typedef struct tk_server_served {
    char *name, *dir;
    int64_t max_context_length;
} tk_server_served;

typedef struct tk_server_route tk_server_route;

struct tk_server {
    /* configuration (strings owned) */
    tk_server_config cfg;
    char *host, *data_dir, *api_key_file;
    TK_VEC(tk_server_served) served;
    tk_server_engine_hooks hooks;

    tk_server_store *store;
    tk_server_futures *futures;
    tk_server_auth *auth;
    TK_VEC(tk_server_route *) routes;

    /* registry of sessions, models and samplers: one lock */
    pthread_mutex_t reg_mu;
    tk_map *sessions, *models, *samplers;
    uint64_t session_counter;

    /* engine worker: one thread, a FIFO of released jobs */
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv;
    tk_server_job *q_head, *q_tail;
    size_t q_len;
    bool q_stop;
    tk_thread worker;
    bool worker_started;
    size_t max_batch;

    /* sweeper thread */
    pthread_mutex_t sw_mu;
    pthread_cond_t sw_cv;
    bool sw_stop;
    tk_thread sweeper;
    bool sweeper_started;

    /* archive download tokens: token -> record */
    pthread_mutex_t arc_mu;
    tk_map *archives;

    struct MHD_Daemon *mhd;
    int port;
    char url[160];
};

/* Build a server (store opened, tables ready) without listening or threads. */
int tk_server_create(const tk_server_config *cfg, tk_server **out, tk_err *e);
/* Set the engine hooks (before tk_server_listen). */
void tk_server_set_engine_hooks(tk_server *s, const tk_server_engine_hooks *h);
/* Register the routes this layer implements itself (bootstrap, sessions, futures, REST). */
int tk_server_add_core_routes(tk_server *s, tk_err *e);
/* Start the worker, the sweeper and the HTTP listener. */
int tk_server_listen(tk_server *s, tk_err *e);

/* Queue released jobs for the worker (caller may hold the registry lock). */
void tk_server_worker_push(tk_server *s, tk_server_job *j);
void tk_server_worker_push_all(tk_server *s, void *const *jobs, size_t n);
int tk_server_worker_start(tk_server *s, tk_err *e);
/* Stop the worker after the job it is running; jobs still queued are failed ("server stopping"). */
void tk_server_worker_stop(tk_server *s);

/* HTTP listener (http.c). */
int tk_server_http_start(tk_server *s, tk_err *e);
void tk_server_http_stop(tk_server *s);
void tk_server_routes_free(tk_server *s);

/* Registry teardown (registry.c): unload everything; worker must be stopped. */
void tk_server_registry_free(tk_server *s);
/* Is base_model served? (hooks, else the --model list). */
int tk_server_resolve_base_model(tk_server *s, const char *base_model, tk_err *e);

/* Route groups (routes_*.c). */
int tk_server_routes_bootstrap(tk_server *s, tk_err *e);
int tk_server_routes_sessions(tk_server *s, tk_err *e);
int tk_server_routes_futures(tk_server *s, tk_err *e);
int tk_server_routes_checkpoints(tk_server *s, tk_err *e);
int tk_server_routes_models(tk_server *s, tk_err *e);

/* The caller's access (protocol §3.8 access_scope): owner receives the fingerprint of req's API
 * key, acc points at it with the ?access_scope= of the request (default owned). Answers 400 and
 * returns nonzero on a bad access_scope. */
int tk_server_req_access(const tk_server_req *req, tk_server_resp *resp, char owner[24], tk_server_access *acc);
/* May req's key read (or, with write, change) the checkpoint at tinker_path? 0, or the HTTP status
 * to answer (400 malformed path, 404, 403) with e saying why. */
int tk_server_req_ckpt_access(tk_server *s, const tk_server_req *req, const char *tinker_path, bool write, tk_err *e);

/* Archive tokens (routes_checkpoints.c). */
void tk_server_archives_sweep(tk_server *s);
void tk_server_archives_free(tk_server *s);

#endif
