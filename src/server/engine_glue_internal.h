/* State shared by the files of the engine glue (engine_glue.c: base models, create_model,
 * forward_backward, optim_step; engine_weights.c: save / load; engine_sample.c: the decode loop).
 * Everything here is touched only by the worker thread (and by the close hook after the worker
 * has stopped). Internal to the server layer. */
#ifndef TK_SERVER_ENGINE_GLUE_INTERNAL_H
#define TK_SERVER_ENGINE_GLUE_INTERNAL_H

#include <stdatomic.h>

#include "engine_glue.h"
#include "tinkerc/tokenizer.h"

/* A base model, loaded once and shared by every adapter and sampler over it. */
typedef struct tk_glue_base {
    char *dir;
    tk_engine_model *m;
    int adapters;                  /* training adapters and sampler adapters over it */
    tk_engine_sampler *sampler;    /* its decode loop, made on the first asample */
    tk_tokenizer *tok;             /* its tokenizer.json, loaded for the first stop string */
} tk_glue_base;

/* A request that joined a decode loop: the job settles when the engine finishes it. */
typedef struct tk_glue_inflight {
    tk_glue_base *base;
    uint64_t id;                   /* the engine sampler's request id */
    tk_server_job *job;            /* detached */
} tk_glue_inflight;

typedef struct tk_glue {
    tk_server *s;
    tk_map *bases;                 /* dir -> tk_glue_base */
    TK_VEC(tk_glue_inflight) inflight;
    atomic_uint_fast64_t decode_steps;   /* statistics (tk_server_engine_stats) */
    atomic_size_t max_step_requests;
    atomic_size_t n_inflight;
} tk_glue;

/* model->engine of a training model. */
typedef struct tk_glue_model {
    tk_engine_adapter *a;
    tk_glue_base *base;
    tk_vec_str copies;             /* sampling sessions holding copies of a (unnamed
                                      save_weights_for_sampler), oldest first */
} tk_glue_model;

/* sampler->engine of a sampling session: its own adapter (a sampler checkpoint, or a copy of a
 * training adapter for save_weights_for_sampler without a name) or none (the base model). */
typedef struct tk_glue_sampler {
    tk_glue *g;
    tk_glue_base *base;
    tk_engine_adapter *a;          /* NULL: the base model */
    size_t inflight;               /* its requests in the decode loop */
} tk_glue_sampler;

/* The base model serving `name`, loaded on first use. NULL with e set. */
tk_glue_base *tk_glue_base_get(tk_glue *g, const char *name, tk_err *e);
/* Errors about the request are the user's; the rest (I/O, memory) the server's. */
tk_server_category tk_glue_category(int code);
/* Settle j with the JSON v (stolen). */
void tk_glue_succeed_json(tk_server *s, tk_server_job *j, struct json_t *v);
/* A model's engine state from an adapter over base (takes a). */
int tk_glue_model_attach(tk_server_model *m, tk_glue_base *base, tk_engine_adapter *a, tk_err *e);
/* A sampler's engine state (takes a, which may be NULL for the base model). */
int tk_glue_sampler_attach(tk_glue *g, tk_server_sampler *sp, tk_glue_base *base, tk_engine_adapter *a, tk_err *e);

/* Record what get_info reports (arch, tokenizer_id) for a model over b. */
void tk_glue_model_describe(tk_server_model *m, tk_glue_base *b);

/* The decode loop (engine_sample.c): one step of every active sampler; true while work remains. */
bool tk_glue_sample_background(void *user);
/* Stop every request of sampler state st (its session closed): fail and free their jobs. */
void tk_glue_sample_cancel(tk_glue *g, tk_glue_sampler *st, const char *why);
/* At close: free every decode loop, then fail and free the jobs still in them. */
void tk_glue_sample_close(tk_glue *g);

#endif
