/* Internal to the RL recipe (rl_train.c, rl_source.c). */
#ifndef TK_COOKBOOK_RL_INTERNAL_H
#define TK_COOKBOOK_RL_INTERNAL_H

#include "tinkerc/rl.h"

#include <pthread.h>

struct json_t;

/* A sampling client shared by the trainer (which replaces it after each step) and the async
 * rollout worker (which holds it for a whole batch). */
typedef struct rl_sampler_ref {
    tk_client_sampling *s;
    int64_t step;                     /* the number of training steps its weights have seen */
    int refs;
} rl_sampler_ref;

/* What one training step gets: the groups to train on and what happened to the others. */
typedef struct tk_rl_batch_groups {
    tk_rl_group *groups;
    size_t n;
    size_t failed, skipped, stale;
} tk_rl_batch_groups;

typedef struct rl_async rl_async;

typedef struct rl_loop {
    const tk_rl_config *cfg;
    tk_run *run;
    tk_rl_dataset *dataset;
    tk_arena *arena;                  /* loss config */
    tk_wire_loss_fn loss_fn;
    tk_wire_f64_map loss_cfg;
    int64_t max_tokens;
    int64_t total;                    /* batches in the run */
    tk_client_sampling *reference;    /* KL reference, or NULL */
    int64_t failed_groups, skipped_groups, stale_groups;
    pthread_mutex_t mu;               /* current, and the async state */
    pthread_cond_t cv;
    bool sync_init;
    rl_sampler_ref *current;
    rl_async *async;                  /* NULL: synchronous */
} rl_loop;

int rl_sampler_init(rl_loop *L, tk_client_sampling *s, int64_t step, tk_err *e);
/* Replace the current sampler (takes s). */
void rl_sampler_publish(rl_loop *L, tk_client_sampling *s, int64_t step);
void rl_sampler_fini(rl_loop *L);

/* Start the group source at batch `start` (async mode starts its worker). */
int rl_source_start(rl_loop *L, int64_t start, tk_err *e);
/* The groups of step i: synchronous — batch i rolled out now with the current sampler;
 * asynchronous — groups_per_batch outcomes that are at most max_steps_off_policy steps old.
 * Applies rollout_error_tolerance (fail-fast by default). Adds its metrics to m. */
int rl_source_next(rl_loop *L, int64_t i, tk_rl_batch_groups *out, struct json_t *m, tk_err *e);
void rl_source_stop(rl_loop *L);
void rl_batch_groups_free(tk_rl_batch_groups *b);

int tk_rl_parse_loss_config(const char *text, tk_wire_loss_fn fn, tk_arena *a, tk_wire_f64_map *out, tk_err *e);

#endif
