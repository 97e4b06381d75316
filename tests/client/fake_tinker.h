/* A fake Tinker service on the scripted mock server, for the typed SDK's tests: every route the
 * SDK calls, with futures (submits answer {"request_id"} and retrieve_future answers from the
 * recorded request) and results that follow simple published rules, so a test can compute what
 * the client must return without the client's code:
 *
 *   forward / forward_backward, datum d at position i with target t:
 *       logprobs[i] = -(0.5 + 0.01 * t + 0.001 * i)        (float32)
 *       metrics: "loss:sum" = sum of -logprobs[i] * weights[i] (weights 1 when absent),
 *                "tokens:sum" = number of positions, "seq:mean" = the request's seq_id
 *   asample: each sequence's tokens = [seq_id, 100 + k] for sample k, logprobs [-1, -2],
 *       stop_reason "length"; prompt_logprobs (when asked) = [NaN, -1, -2, …]
 *   create_model: model_id "<session>:train:<model_seq_id>"; save_weights /
 *       save_weights_for_sampler: tinker://<model>/weights|sampler_weights/<name>, or the
 *       sampling session "<session>:sample:<k>" for the ephemeral form; create_sampling_session:
 *       "<session>:sample:<sampling_session_seq_id>"; weights_info: base "fake/base", rank 8,
 *       train_unembed false.
 *
 * Scripted answers pushed on the mock (tk_mock_push*) take precedence, which is how tests inject
 * errors. Results are protobuf when retrieve_future's Accept asks for it (tk_wire_body_encode).
 * Every submit is recorded with its decoded seq_id and arrival index. */
#ifndef TK_FAKE_TINKER_H
#define TK_FAKE_TINKER_H

#include "mockserver.h"
#include "tinkerc/client.h"

typedef struct fake_submit {
    char path[64];
    char rid[32];
    int64_t seq;                 /* seq_id in the body (-1: none) */
    int64_t index;               /* arrival order among submits */
    bool proto;                  /* Content-Type application/x-protobuf */
    unsigned char *body;
    size_t body_len;
    char content_type[64];
} fake_submit;

typedef struct fake_tinker {
    tk_mock *m;
    pthread_mutex_t mu;
    TK_VEC(fake_submit) subs;
    char config[512];            /* the client/config answer ({} by default) */
    int polls;                   /* retrieve_future requests answered by the fake */
} fake_tinker;

fake_tinker *fake_start(void);
void fake_stop(fake_tinker *f);
/* A copy of the k-th submit to path (NULL path: any), or false. The body is not copied. */
bool fake_get(fake_tinker *f, const char *path, size_t k, fake_submit *out);
size_t fake_count(fake_tinker *f, const char *path);
/* Open a service on the fake (fast back-offs). */
tk_client_service *fake_service(fake_tinker *f, tk_client_encoding enc);
/* The fake's logprob rule. */
float fake_logprob(int64_t target, size_t pos);

#endif
