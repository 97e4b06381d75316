/* Test harness for the server: start a server on an ephemeral loopback port with a temporary
 * data dir and (optionally) a fake engine plugged in through the same interfaces the real engine
 * glue uses, and speak raw HTTP to it with libcurl and hand-written JSON. */
#ifndef TK_TEST_SERVER_HARNESS_H
#define TK_TEST_SERVER_HARNESS_H

#include <jansson.h>

#include "server/server_internal.h"

typedef struct harness {
    char *dir;     /* data dir (removed by harness_stop unless keep_dir) */
    tk_server *s;
    char url[200];
} harness;

/* cfg NULL: defaults with short timings for tests (hold 0.5 s). data_dir NULL: a fresh temp dir.
 * fake: register the fake engine's /test/... routes. */
void harness_start(harness *h, const tk_server_config *cfg, bool fake);
void harness_stop(harness *h, bool keep_dir);
/* A config with test-friendly defaults (data dir unset). */
void harness_config(tk_server_config *c);

typedef struct http_res {
    long status;
    tk_buf body;
    char content_type[128];
    char location[512];
    char allow[64];
    double seconds;
} http_res;

/* One HTTP request. headers: NULL-terminated "Name: value" strings (may be NULL). The default
 * X-API-Key tml-test is sent unless a header starting with "X-API-Key" is given or no_key.
 * Returns the status (0 on a transport error). */
long http_do(const char *method, const char *url, const char *const *headers, const void *body, size_t n,
             http_res *out);
void http_res_free(http_res *r);

/* method + path (appended to the server URL) + a JSON text body (may be NULL); returns the parsed
 * JSON answer (new reference, NULL if not JSON) and the status in *status. */
json_t *hj(harness *h, const char *method, const char *path, const char *body, long *status);
/* Same with printf-style body. */
json_t *hjf(harness *h, const char *method, const char *path, long *status, const char *fmt, ...) TK_PRINTF(5, 6);

/* Poll retrieve_future until it is not try_again (at most ~20 s); returns the answer. */
json_t *wait_result(harness *h, const char *request_id, long *status);
/* A new session id (asserts success). Caller frees. */
char *new_session(harness *h);

/* ---- the real engine ---------------------------------------------------------------------------
 * A tiny seeded random Qwen3 model (vocab 64, hidden 16, 2 layers, context 96) written once per
 * process into a temporary directory that is removed at exit; returns that directory. */
const char *harness_tiny_model(void);
/* Start the server as tk_server_start does (engine attached, every route) serving
 * harness_tiny_model() as base model "test/tiny". cfg NULL: harness_config(). */
void harness_start_engine(harness *h, const tk_server_config *cfg);

/* ---- the fake engine ---------------------------------------------------------------------------
 * Routes: POST /test/create_model {session_id, model_seq_id, base_model?, fail?}
 *         POST /test/train {model_id, seq_id, op, name?, delay_ms?, fail?, invalid?}
 *              op: fwd (batchable, has a protobuf result) | optim | load | save (a weights
 *              checkpoint `name`) | ssave (sampler checkpoint + sampling session, needs
 *              sampling_session_seq_id)
 *         POST /test/sample {sampling_session_id, seq_id, delay_ms?}
 * Every executed job is appended to a log as "<seq>:<op>/<batch size>" for model ...:train:0,
 * "m<k>.<seq>:<op>/<n>" for model ...:train:<k>, "s<seq>:sample/<n>" for samples. */
void fake_log_reset(void);
/* The log joined with ' '; caller frees. */
char *fake_log(void);
/* op "gate" blocks the worker while the gate is closed: tests close it, queue work, then open it
 * to make batching deterministic. harness_stop opens it. */
void fake_gate_close(void);
void fake_gate_open(void);
/* How many engine states were freed (model unloads). */
int fake_engine_frees(void);

#endif
