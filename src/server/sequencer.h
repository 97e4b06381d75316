/* Per-model ordering of training requests by seq_id (protocol §8.4; the rules are written out in
 * docs/server.md "Ordering"). A pure data structure: the caller locks, and the caller hands the
 * released jobs to the worker in the order given. Jobs are opaque pointers here.
 *
 *   - next is the seq_id that runs next. A submit with seq == next is released at once, together
 *     with every buffered successor that is now contiguous; a later seq is buffered.
 *   - a submit whose seq already has a record is a retry: it gets the original request_id and is
 *     not applied again (or, when its body hash differs, a refusal naming the first request);
 *   - reject() records a seq as consumed by a submit that failed validation, so the queue moves
 *     past it instead of waiting; a retry of that seq gets the same refusal;
 *   - expire() skips a gap that has blocked buffered work for longer than the gap timeout;
 *   - a seq behind next with no record (skipped, or older than the retry window) is refused. */
#ifndef TK_SERVER_SEQUENCER_H
#define TK_SERVER_SEQUENCER_H

#include "names.h"

#define TK_SERVER_SEQ_MAX_AHEAD 4096 /* a seq may be at most this far ahead of next */
#define TK_SERVER_SEQ_KEEP 1024      /* records kept behind next to recognise retries */

typedef struct tk_server_seq_rec {
    int64_t seq;
    uint64_t hash;        /* of the request body; 0 = not compared */
    int state;            /* internal */
    char rid[TK_SERVER_ID_MAX];
    char *msg;            /* refusal message of a rejected seq */
    void *job;            /* while buffered */
} tk_server_seq_rec;

typedef struct tk_server_seq {
    int64_t next;
    TK_VEC(tk_server_seq_rec) recs; /* sorted by seq */
    size_t n_buffered;
    double blocked_since;           /* tk_now_s when buffered work started waiting; 0 = not */
} tk_server_seq;

typedef TK_VEC(void *) tk_server_ptr_vec;

typedef enum {
    TK_SERVER_SEQ_QUEUED,     /* new: released or buffered; the job now belongs to the queue */
    TK_SERVER_SEQ_DUPLICATE,  /* a retry: rid holds the original request_id; the job was not taken */
    TK_SERVER_SEQ_REFUSED,    /* not accepted (answer 400 with msg); the job was not taken */
} tk_server_seq_outcome;

typedef struct tk_server_seq_result {
    tk_server_seq_outcome outcome;
    char rid[TK_SERVER_ID_MAX];
    char msg[512];
} tk_server_seq_result;

/* An empty queue whose first seq is `first` (1 after create_model). */
void tk_server_seq_init(tk_server_seq *q, int64_t first);
/* Free the records (buffered jobs are not freed: drain them first). */
void tk_server_seq_free(tk_server_seq *q);

/* Offer job (with request id rid) at seq. Released jobs are appended to *released in execution
 * order. Returns 0, or TK_ENOMEM (nothing changed). */
int tk_server_seq_submit(tk_server_seq *q, const char *model_id, int64_t seq, uint64_t hash, const char *rid,
                         void *job, double now, tk_server_ptr_vec *released, tk_server_seq_result *res);

/* Record seq as consumed by a rejected submit with refusal message msg. If seq already has a
 * record, res says what a retry would get and nothing changes. Refusals for seqs outside the
 * window are reported in res too (nothing recorded). */
int tk_server_seq_reject(tk_server_seq *q, const char *model_id, int64_t seq, uint64_t hash, const char *msg,
                         double now, tk_server_ptr_vec *released, tk_server_seq_result *res);

/* If buffered work has waited for a missing seq for at least timeout_s, move next to the
 * smallest buffered seq and release. Returns how many seq_ids were skipped. */
int64_t tk_server_seq_expire(tk_server_seq *q, double now, double timeout_s, tk_server_ptr_vec *released);

/* Remove every buffered job (appended to *jobs) — for unloading a model. */
int tk_server_seq_drain(tk_server_seq *q, tk_server_ptr_vec *jobs);

#endif
