/*
 * tinkerc/client.h — the client layer: talking to a Tinker service over HTTP.
 *
 * This header has two levels.
 *
 *   1. The transport: a connection object (tk_client) that owns one I/O thread driving
 *      libcurl's multi interface, the configuration read from the environment, futures, the
 *      three retry layers of the Python SDK (reference/tinker-protocol.md §8.1), the
 *      retrieve_future polling state machine (§3.7), ordered submission lanes for seq_id'd
 *      training requests (§8.4), session heartbeats and a bounded shutdown. It moves request and
 *      response BYTES; it knows nothing about Tinker's data types.
 *
 *   2. The typed SDK (second half of this file): service, training, sampling and REST clients
 *      mirroring the Python SDK. Each typed call encodes its request with the wire layer
 *      (tinkerc/wire.h), submits it with tk_client_call(), and decodes the answer with the wire
 *      layer into a caller's arena. docs/client.md has a tour.

 * Threads. Every function here may be called from any thread unless a comment says otherwise.
 * Network work, retry timers and completion callbacks all run on the client's single I/O thread;
 * no thread is ever started per request or per retry.
 *
 * Ownership. tk_client_open returns a client freed with tk_client_close. tk_client_call returns a
 * future that the caller releases with tk_client_future_release (also after the client is
 * closed: futures outlive their client). Pointers returned by tk_client_future_* accessors are
 * owned by the future and stay valid until it is released.
 *
 * Errors. Functions return 0 or a negative TK_E… code and fill the caller's tk_err. A failed
 * future also records a tk_client_failure that says which class of failure it was (network,
 * HTTP status, remote {"error","category"}, expired future, billing, deadline, cancel), so that
 * callers can react (sampling re-submits on TK_CLIENT_FAIL_EXPIRED) without parsing messages.
 */
#ifndef TINKERC_CLIENT_H
#define TINKERC_CLIENT_H

#include "tinkerc/base.h"
#include "tinkerc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================= */
/* Configuration                                                                                 */
/* ============================================================================================= */

/* The hosted service, used when neither base_url nor TINKER_BASE_URL is given and an API key is. */
#define TK_CLIENT_DEFAULT_BASE_URL "https://tinker.thinkingmachines.dev/services/tinker-prod"

/* Options for tk_client_open. Start from tk_client_options_init() and change what you need.
 * Strings are borrowed for the duration of tk_client_open (the client copies them); NULL means
 * "take it from the environment, else the default". Every *_s field is in seconds.
 *
 * Resolution of where to connect (the Python SDK's rules plus tinkerc's local mode):
 *   base_url   := opts.base_url, else $TINKER_BASE_URL, else (none)
 *   api_key    := opts.api_key, else $TINKER_API_KEY, else the first line printed by
 *                 $TINKER_CREDENTIAL_CMD (run with /bin/sh -c, 30 s limit), else (none)
 *   - base_url "local", or no base_url and no api_key: start the local backend registered with
 *     tk_client_set_local_backend() and connect to it (TK_EUNSUPPORTED when none is linked).
 *   - no base_url but an api_key: TK_CLIENT_DEFAULT_BASE_URL.
 *   - a base_url with no api_key: allowed only for a loopback host (127.0.0.1, ::1, localhost),
 *     which gets the dummy key "tml-dummy"; otherwise TK_EINVAL.
 *   - a key must start with "tml-" (or "eyJ", a JWT), as the SDK checks before any network call.
 * Also read from the environment: $TINKER_PROJECT_ID and $TINKER_TAGS (comma list) for
 * create_session; $CLOUDFLARE_ACCESS_CLIENT_ID / $CLOUDFLARE_ACCESS_CLIENT_SECRET, sent as the
 * CF-Access-Client-Id / CF-Access-Client-Secret headers. $TINKER_TELEMETRY is ignored: tinkerc
 * sends no telemetry. */
typedef struct tk_client_options {
    const char *base_url;
    const char *api_key;
    const char *project_id;
    const char *tags;               /* comma-separated */
    const char *user_agent_suffix;  /* appended to "tinkerc/<version>" (may be NULL) */
    const char *ca_file;            /* PEM bundle to trust instead of the system's (HTTPS) */

    double connect_timeout_s;       /* 5: TCP + TLS handshake */
    double request_timeout_s;       /* 60: one HTTP attempt, whole response included */
    double poll_timeout_s;          /* 45: one retrieve_future attempt, body included */
    int max_retries;                /* 10: request-layer retries of one call (§8.1 layer 1) */
    double exec_retry_budget_s;     /* 300: execute_with_retries stops retrying after this */
    double billing_max_pause_s;     /* 3600: how long 402 answers are waited out */
    double heartbeat_interval_s;    /* 10 */
    double heartbeat_timeout_s;     /* 10 */
    double heartbeat_warn_s;        /* 120: warn (once per outage) after this long without success */
    double close_timeout_s;         /* 5: the longest tk_client_close waits for the I/O thread */
    size_t max_response_bytes;      /* 1 GiB: larger answers fail (TK_ENOMEM), never retried */

    /* For tests: every back-off delay is multiplied by this (1.0). Timeouts are not scaled. */
    double retry_time_scale;
    /* Seed of the jitter generator; 0 draws one from the OS. */
    uint64_t seed;
} tk_client_options;

/* Fill *o with the defaults above. */
void tk_client_options_init(tk_client_options *o);

/* The local backend: a program that links the embedded server (the tinkerc CLI, or a user program
 * linking libtinkerc_local) registers it here so that tk_client_open can start it on demand. The
 * client itself never links the server. start() returns a base URL ("http://127.0.0.1:PORT",
 * malloc'd, the client frees it) and an opaque handle that stop() receives when the client
 * closes. Both are called on the thread that opens / closes the client. */
typedef struct tk_client_local_backend {
    int (*start)(void *user, char **base_url_out, void **handle_out, tk_err *e);
    void (*stop)(void *user, void *handle);
    void *user;
} tk_client_local_backend;

/* Register (or, with NULL, unregister) the process-wide local backend. The struct is copied.
 * Thread-safe; affects clients opened afterwards. */
void tk_client_set_local_backend(const tk_client_local_backend *backend);

/* ============================================================================================= */
/* The client (one connection to one service)                                                    */
/* ============================================================================================= */

typedef struct tk_client tk_client;

/* Resolve the configuration (see tk_client_options), start the I/O thread and, in local mode,
 * the local backend. Does no network I/O besides the local backend's own start-up. opts may be
 * NULL (all defaults). Errors: TK_EINVAL (bad key, bad URL, bad option), TK_EUNSUPPORTED (local
 * mode without a backend), TK_ETIMEOUT / TK_EIO (credential command), TK_ENOMEM. */
int tk_client_open(const tk_client_options *opts, tk_client **out, tk_err *e);

/* Stop everything and free the client. Calls still in flight fail with TK_ECANCELED (their
 * callbacks run on the I/O thread first); heartbeats stop; the local backend is stopped. Waits
 * at most close_timeout_s for the I/O thread: if it is stuck (a hung DNS lookup inside libcurl,
 * a callback that blocks), it is left to finish and free its state on its own. Called from a
 * completion callback, it returns at once and the I/O thread closes down after the callback.
 * c may be NULL. No other call may use c once this has started. */
void tk_client_close(tk_client *c);

/* The resolved configuration. Strings are owned by the client, valid until tk_client_close. */
const char *tk_client_base_url(const tk_client *c);       /* no trailing '/' */
bool tk_client_is_local(const tk_client *c);              /* the local backend is in use */
const char *tk_client_project_id(const tk_client *c);     /* NULL when unset */
/* The tags from $TINKER_TAGS / opts.tags (empty items dropped); *n receives the count. */
const char *const *tk_client_tags(const tk_client *c, size_t *n);

/* ============================================================================================= */
/* Responses and failures                                                                        */
/* ============================================================================================= */

typedef struct tk_client_header {
    char *name;   /* as the server spelled it */
    char *value;  /* leading/trailing blanks removed */
} tk_client_header;

/* One HTTP answer. For a future call (is_future) it is the final retrieve_future answer. */
typedef struct tk_client_response {
    long status;                 /* HTTP status, e.g. 200 */
    const char *content_type;    /* Content-Type header or NULL */
    tk_buf body;                 /* raw bytes (content-encoding already undone by libcurl) */
    tk_client_header *headers;   /* n_headers response headers of the final attempt */
    size_t n_headers;
} tk_client_response;

/* Case-insensitive header lookup; NULL when absent. */
const char *tk_client_response_header(const tk_client_response *r, const char *name);

typedef enum tk_client_fail_kind {
    TK_CLIENT_FAIL_NONE = 0,
    TK_CLIENT_FAIL_NETWORK,    /* connection errors / timeouts outlasted every retry (TK_ENET,
                                  TK_ETIMEOUT) */
    TK_CLIENT_FAIL_HTTP,       /* a status that is not retried, or retries ran out (TK_EHTTP) */
    TK_CLIENT_FAIL_REMOTE,     /* the future failed: {"error","category"} (TK_EREMOTE) */
    TK_CLIENT_FAIL_EXPIRED,    /* retrieve_future answered 410: the promise expired or broke;
                                  sampling should re-submit (TK_EHTTP) */
    TK_CLIENT_FAIL_BILLING,    /* 402 answers lasted longer than billing_max_pause_s (TK_EHTTP) */
    TK_CLIENT_FAIL_DEADLINE,   /* the call's own deadline_s passed (TK_ETIMEOUT) */
    TK_CLIENT_FAIL_CANCELED,   /* tk_client_future_cancel or tk_client_close (TK_ECANCELED) */
    TK_CLIENT_FAIL_PROTOCOL,   /* an answer that breaks the protocol: no request_id, a body that
                                  is neither JSON nor protobuf, too large (TK_EPARSE, TK_ENOMEM) */
    TK_CLIENT_FAIL_LOCAL,      /* a local failure: out of memory, zstd error (TK_ENOMEM, ...) */
} tk_client_fail_kind;

typedef struct tk_client_failure {
    tk_client_fail_kind kind;
    long http_status;       /* the last HTTP status seen (0 if none) */
    char category[16];      /* for TK_CLIENT_FAIL_REMOTE: "user", "server" or "unknown" */
    int attempts;           /* HTTP attempts made in total (submits + polls) */
} tk_client_failure;

/* ============================================================================================= */
/* Calls and futures                                                                             */
/* ============================================================================================= */

typedef struct tk_client_future tk_client_future;
typedef struct tk_client_lane tk_client_lane;

#define TK_CLIENT_NO_RETRIES (-1)

/* Called on the I/O thread (never on the caller's thread) once a future settles, whichever way.
 * It must not block: waiting on an unsettled future from inside it returns TK_ESTATE. */
typedef void (*tk_client_future_cb)(tk_client_future *f, void *user);

/* Called on the I/O thread before a whole call is submitted again after its future expired
 * (resubmit_on_expired; the sampling client uses it to take a new seq_id). It replaces *body
 * (malloc'd; the old one is freed by the client) or leaves it alone to resend the same bytes.
 * attempt counts re-submissions from 1. Return 0, or a TK_E… code to fail the call. Cannot be
 * combined with zstd (the call fails with TK_EUNSUPPORTED when it would be needed). */
typedef int (*tk_client_rebody_fn)(void *user, int attempt, void **body, size_t *body_len,
                                   tk_err *e);

/* What to send and how to retry it. Zero-initialise, then set what you need. Strings and the
 * body are copied by tk_client_call (unless give_body), so the spec may be a stack temporary. */
typedef struct tk_client_call_spec {
    const char *method;          /* "GET", "POST" (default), "PUT", "DELETE" */
    const char *path;            /* "/api/v1/forward_backward", appended to the base URL; may
                                    carry a query string */
    const char *url;             /* instead of base URL + path: an absolute http(s) URL (a signed
                                    download link). path is still required (it names the call in
                                    messages and traces). Unless the URL starts with the base URL,
                                    the credentials (X-API-Key, CF-Access-*) are not sent to it */
    bool accept_redirect;        /* a 3xx answer is a success (not followed): the checkpoint
                                    archive endpoint answers 302 + Location */
    const void *body;            /* request bytes (NULL/0: no body) */
    size_t body_len;
    bool give_body;              /* the client takes body (malloc'd) and frees it, even when
                                    tk_client_call fails: no copy of large bodies */
    const char *content_type;    /* default "application/json" when there is a body */
    bool zstd;                   /* compress the body, send Content-Encoding: zstd */
    const char *accept;          /* default "application/json" */
    const char *const *headers;  /* extra "Name: value" lines, NULL-terminated list (or NULL) */

    /* Retry layers (§8.1). max_retries 0 uses the client's (10); TK_CLIENT_NO_RETRIES turns
     * layer 1 off (retrieve_future, asample, save_weights and heartbeats run so in the SDK). */
    int max_retries;
    bool exec_retries;           /* layer 2: execute_with_retries (new idempotency key, same
                                    body, min(2^k,30) s, for exec_retry_budget_s) and 402 pauses */
    bool no_idempotency_key;     /* do not send X-Idempotency-Key (GET never sends one) */
    bool sampling_backpressure;  /* asample: send X-Tinker-Sampling-Backpressure: 1 and treat a
                                    429 on submit as back-pressure: wait 1 s (body <= 128 KiB)
                                    or 5 s and resend the same body, without limit */

    /* Futures (§3.7): the submit answers {"request_id":…}; poll retrieve_future until done. */
    bool is_future;
    const char *request_type;    /* X-Tinker-Request-Type on polls ("ForwardBackward", …) */
    const char *poll_accept;     /* Accept on polls (default "application/json"); e.g.
                                    "application/x-protobuf, application/json" */
    bool resubmit_on_expired;    /* on 410 from retrieve_future, submit the whole call again */
    tk_client_rebody_fn rebody;  /* optional, with resubmit_on_expired */
    void *rebody_user;

    tk_client_lane *lane;        /* ordered submission (see tk_client_lane_new); NULL: none */

    double timeout_s;            /* one HTTP attempt of the submit; 0: request_timeout_s */
    double deadline_s;           /* the whole call, every retry and poll included; 0: none */
} tk_client_call_spec;

/* Start a call. Returns at once; *out receives a new future (release it). The request goes out
 * on the I/O thread. Errors here are only argument errors (TK_EINVAL naming the field), TK_ENOMEM
 * and TK_ESTATE (the client is closing); everything else is reported through the future. */
int tk_client_call(tk_client *c, const tk_client_call_spec *spec, tk_client_future **out,
                   tk_err *e);

/* Start n calls as one group in spec[0].lane (every spec must name the same lane, n >= 1):
 * specs 1..n-1 are POSTed concurrently, and spec 0 only after all of them have returned (the
 * chunks of one forward_backward, first chunk sent last, §8.4). out[i] receives spec i's future.
 * On error no call was started and no future is returned. */
int tk_client_call_group(tk_client *c, const tk_client_call_spec *specs, size_t n,
                         tk_client_future **out, tk_err *e);

/* An ordered submission lane: a call in a lane is POSTed only after the previous call (or group)
 * in the same lane has finished its submit POST, retries included, whether it succeeded or not.
 * This is how a training client keeps seq_ids arriving in order while many calls are in flight
 * (pipelining). Polling is not ordered. A cancelled call that is still waiting in its lane is
 * POSTed anyway (its seq_id must not leave a gap); only its result is dropped. A call that
 * fails (deadline, close) while waiting is not sent. Lanes cannot be combined with
 * resubmit_on_expired. tk_client_lane_free may be called at any time: calls already in the lane
 * keep it alive until they are done. Use a lane only with the client that created it. */
int tk_client_lane_new(tk_client *c, tk_client_lane **out, tk_err *e);
void tk_client_lane_free(tk_client_lane *l);

/* Wait until the future settles or timeout_s passes (timeout_s < 0: no limit). Returns 0 when it
 * succeeded; TK_ETIMEOUT when the wait timed out and the future is still pending (e names the
 * wait, not the call); otherwise the call's error code with its message copied to e. */
int tk_client_future_wait(tk_client_future *f, double timeout_s, tk_err *e);

/* True once the future has settled. */
bool tk_client_future_done(tk_client_future *f);

/* Cancel: if still pending, the future settles at once with TK_ECANCELED and network work stops
 * (the server may still execute a request it already received). No effect once settled. */
void tk_client_future_cancel(tk_client_future *f);

/* Register a callback (see tk_client_future_cb). Callbacks run in registration order, once. If
 * the future has already settled, the callback still runs on the I/O thread, soon; if its client
 * has been closed it runs on the calling thread before this returns. 0 or TK_ENOMEM. */
int tk_client_future_on_complete(tk_client_future *f, tk_client_future_cb cb, void *user);

/* After a successful settle: the response (the final retrieve_future answer for is_future calls);
 * NULL otherwise. Owned by the future. */
const tk_client_response *tk_client_future_response(tk_client_future *f);
/* The request_id the submit returned (is_future calls), NULL before or without one. */
const char *tk_client_future_request_id(tk_client_future *f);
/* Failure class and details; kind is TK_CLIENT_FAIL_NONE while pending or after success. */
tk_client_failure tk_client_future_failure(tk_client_future *f);
/* The last queue_state seen in a try_again / 408 answer ("active", "paused_capacity",
 * "paused_rate_limit"), copied to buf (size >= 1); "" if none. */
void tk_client_future_queue_state(tk_client_future *f, char *buf, size_t size);

/* A slot for the layer above (the typed SDK keeps its decoded result here). free_fn (may be NULL)
 * runs when the future is released. Setting it twice frees the old value first. */
void tk_client_future_set_user(tk_client_future *f, void *data, void (*free_fn)(void *));
void *tk_client_future_user(tk_client_future *f);

/* Drop the caller's reference. f may be NULL. */
void tk_client_future_release(tk_client_future *f);

/* ============================================================================================= */
/* Sessions: heartbeat                                                                           */
/* ============================================================================================= */

/* Send {"session_id":…,"type":"session_heartbeat"} to /api/v1/session_heartbeat every
 * heartbeat_interval_s (timeout heartbeat_timeout_s, no retries, failures swallowed; a warning is
 * logged once heartbeat_warn_s pass without a success). A tick is skipped while the previous
 * heartbeat is still in flight. Replaces a running heartbeat. The first one goes out at once. */
int tk_client_heartbeat_start(tk_client *c, const char *session_id, tk_err *e);
void tk_client_heartbeat_stop(tk_client *c);

typedef struct tk_client_heartbeat_stats {
    int64_t sent, ok, failed;
    double seconds_since_ok;     /* since the last success (or since start when none) */
} tk_client_heartbeat_stats;
tk_client_heartbeat_stats tk_client_heartbeat_get_stats(tk_client *c);

/* ============================================================================================= */
/* Tracing (tests and debugging)                                                                 */
/* ============================================================================================= */

typedef enum tk_client_event_kind {
    TK_CLIENT_EV_ATTEMPT,        /* an HTTP attempt starts (submit or poll) */
    TK_CLIENT_EV_RETRY_REQUEST,  /* layer 1 schedules a retry, same idempotency key */
    TK_CLIENT_EV_RETRY_EXEC,     /* layer 2 schedules a retry, new idempotency key */
    TK_CLIENT_EV_BACKPRESSURE,   /* sampling 429: resend after delay_s */
    TK_CLIENT_EV_BILLING_PAUSE,  /* 402: wait delay_s */
    TK_CLIENT_EV_POLL_AGAIN,     /* retrieve_future will be polled again after delay_s */
    TK_CLIENT_EV_RESUBMIT,       /* 410: the whole call is submitted again */
    TK_CLIENT_EV_DONE,           /* the call settled */
} tk_client_event_kind;

typedef struct tk_client_event {
    tk_client_event_kind kind;
    const char *path;            /* the call's path */
    const char *reason;          /* why ("HTTP 503", "try_again", "connection: …", …) */
    double delay_s;              /* scheduled delay (already multiplied by retry_time_scale) */
    int attempt;                 /* layer-specific counter: k of the back-off formula */
    long http_status;            /* of the answer that caused the event (0: none) */
} tk_client_event;

/* Receive every event, on the I/O thread. Must be set before the first call (not synchronised
 * with calls in flight). NULL removes it. */
void tk_client_set_trace(tk_client *c, void (*fn)(const tk_client_event *ev, void *user),
                         void *user);

/* ============================================================================================= */
/* The typed SDK: service, training, sampling and REST clients                                   */
/* ============================================================================================= */
/*
 * The Python SDK's objects, one for one (reference/tinker-protocol.md §3, §8):
 *
 *   ServiceClient  -> tk_client_service   client/config, create_session + heartbeats, server
 *                                          capabilities, creating training / sampling clients;
 *                                          it is also the REST client (tk_client_rest_*)
 *   TrainingClient -> tk_client_training  one model: its seq_id counter (§8.4) and an ordered
 *                                          lane, forward / forward_backward (chunked, first chunk
 *                                          last, results merged), custom losses, optim_step,
 *                                          save / load, sampler weights
 *   SamplingClient -> tk_client_sampling  one sampling session: sample, compute_logprobs
 *   APIFuture      -> tk_client_task      a typed future
 *
 * Every operation is a submit that returns at once with a task, and a wait on the task:
 *
 *     tk_client_task *fb, *opt;
 *     tk_client_training_forward_backward(tc, data, n, TK_WIRE_LOSS_CROSS_ENTROPY, NULL, &fb, &e);
 *     tk_client_training_optim_step(tc, &adam, &opt, &e);        // pipelined: both in flight
 *     tk_client_fb_result(fb, -1, arena, &out, &e);              // waits, decodes into arena
 *     tk_client_optim_result(opt, -1, arena, &step, &e);
 *     tk_client_task_release(fb); tk_client_task_release(opt);
 *
 * Results are wire types (tinkerc/wire.h) decoded into an arena the CALLER provides and frees
 * (tk_arena_free); each successful *_result call decodes a fresh copy. Clients (training,
 * sampling) that a task produces are handed over once by tk_client_training_result /
 * tk_client_sampling_result and freed by the caller.
 *
 * Submits copy or encode everything they are given before they return: the caller may free
 * its data right away. Submits and waits may be called from any thread. The requests of one
 * training client are POSTed in seq_id order, whatever thread submits them (a submit takes the
 * next seq_ids and queues its requests under one lock).
 *
 * Lifetimes: free training and sampling clients (and release tasks) whenever convenient; they
 * keep what they need alive. tk_client_service_close stops the transport: tasks still pending
 * fail with TK_ECANCELED, and clients created from it can only be freed afterwards.
 *
 * Encodings (how tinkerc decides, §0.1, §3.4, §3.7):
 *   - forward / forward_backward REQUEST bodies: protobuf (what SDK 0.25 always sends) unless
 *     the service options say JSON, or $TINKERC_FWDBWD_ENCODING=json, or the server's
 *     client/config answer carries "proto_write_fwdbwd": false (the 0.23-0.24 flag; a server
 *     that sends it false wants JSON). In protobuf, forward() is forward_backward with
 *     forward_only=true (as 0.25 does); in JSON it is POST /api/v1/forward. The body is
 *     zstd-compressed when client/config says proto_compress_fwdbwd.
 *   - RESULTS of forward(_backward) and sample are polled with
 *     "Accept: application/x-protobuf, application/json" and decoded by the answer's
 *     Content-Type, so servers that only answer JSON work too. Everything else is JSON.
 */

typedef struct tk_client_service tk_client_service;
typedef struct tk_client_training tk_client_training;
typedef struct tk_client_sampling tk_client_sampling;
typedef struct tk_client_task tk_client_task;
struct tk_tokenizer;   /* tinkerc/tokenizer.h */

/* ---- tasks (typed futures) ------------------------------------------------------------------ */

typedef enum tk_client_task_kind {
    TK_CLIENT_TASK_CALL = 0,                 /* a plain call: tk_client_task_result with
                                                tk_client_task_result_type (may be none) */
    TK_CLIENT_TASK_CREATE_TRAINING,          /* tk_client_training_result */
    TK_CLIENT_TASK_CREATE_SAMPLING,          /* tk_client_sampling_result */
    TK_CLIENT_TASK_FORWARD,                  /* tk_client_fb_result */
    TK_CLIENT_TASK_FORWARD_BACKWARD,         /* tk_client_fb_result */
    TK_CLIENT_TASK_FORWARD_BACKWARD_CUSTOM,  /* tk_client_fb_result */
    TK_CLIENT_TASK_OPTIM_STEP,               /* tk_client_optim_result */
    TK_CLIENT_TASK_SAVE_STATE,               /* tk_client_save_result */
    TK_CLIENT_TASK_LOAD_STATE,               /* tk_client_load_result */
    TK_CLIENT_TASK_SAVE_FOR_SAMPLER,         /* tk_client_sampler_save_result */
    TK_CLIENT_TASK_SAMPLE,                   /* tk_client_sample_result */
    TK_CLIENT_TASK_COMPUTE_LOGPROBS,         /* tk_client_logprobs_result (or sample_result) */
} tk_client_task_kind;

/* Wait until the task settles or timeout_s passes (< 0: no limit). 0 when it succeeded;
 * TK_ETIMEOUT when the wait timed out (the task goes on); otherwise the task's error (TK_EHTTP,
 * TK_EREMOTE, TK_ENET, TK_ECANCELED, …) with its message, which names the call. */
int tk_client_task_wait(tk_client_task *t, double timeout_s, tk_err *e);
bool tk_client_task_done(tk_client_task *t);
/* Settle a pending task with TK_ECANCELED and stop its network work. Training requests that
 * were already given seq_ids are still POSTed (the server must see no gap; §8.4), and a custom
 * loss whose second pass was not sent yet sends it with zero weights (no gradient). */
void tk_client_task_cancel(tk_client_task *t);
/* Failure class of a failed task (see tk_client_failure); kind NONE otherwise. */
tk_client_failure tk_client_task_failure(tk_client_task *t);
tk_client_task_kind tk_client_task_get_kind(const tk_client_task *t);
/* The wire message its result decodes to; TK_WIRE_MSG_COUNT_ when the result is not a message
 * (a client, or a call whose answer carries nothing: delete, publish, ttl, download). */
tk_wire_msg tk_client_task_result_type(const tk_client_task *t);
/* Run cb once the task settles (on the client's I/O thread, or at once on this thread if it
 * already has). cb must not block. 0 or TK_ENOMEM. */
int tk_client_task_on_complete(tk_client_task *t, void (*cb)(tk_client_task *t, void *user),
                               void *user);
/* Drop the caller's reference. A pending task keeps running. t may be NULL. */
void tk_client_task_release(tk_client_task *t);

/* Wait (as tk_client_task_wait), then decode the result into *out, a zeroed struct of `type`
 * allocated in a (caller frees a). type must be tk_client_task_result_type(t) (TK_EINVAL
 * otherwise, naming both). TK_EPARSE / TK_EINVAL when the server's answer does not decode
 * (the message names the call and the field). */
int tk_client_task_result(tk_client_task *t, double timeout_s, tk_arena *a, tk_wire_msg type,
                          void *out, tk_err *e);

/* Typed forms of tk_client_task_result (the task's kind is checked). */
/* forward / forward_backward / forward_backward_custom: the chunks' outputs concatenated in
 * order and their metrics merged (tk_wire_forward_backward_output_merge); for a custom loss the
 * second pass's output with the callback's metrics added (their keys need no ':'). */
int tk_client_fb_result(tk_client_task *t, double timeout_s, tk_arena *a,
                        tk_wire_forward_backward_output *out, tk_err *e);
int tk_client_optim_result(tk_client_task *t, double timeout_s, tk_arena *a,
                           tk_wire_optim_step_response *out, tk_err *e);
int tk_client_save_result(tk_client_task *t, double timeout_s, tk_arena *a,
                          tk_wire_save_weights_response *out, tk_err *e);
int tk_client_load_result(tk_client_task *t, double timeout_s, tk_arena *a,
                          tk_wire_load_weights_response *out, tk_err *e);
int tk_client_sampler_save_result(tk_client_task *t, double timeout_s, tk_arena *a,
                                  tk_wire_save_weights_for_sampler_response *out, tk_err *e);
int tk_client_sample_result(tk_client_task *t, double timeout_s, tk_arena *a,
                            tk_wire_sample_response *out, tk_err *e);
/* compute_logprobs: one float per prompt token, NaN at position 0 (which has no logprob). */
int tk_client_logprobs_result(tk_client_task *t, double timeout_s, tk_arena *a, float **logprobs,
                              size_t *n, tk_err *e);
/* The client a create task made. Handed over once: the caller frees it
 * (tk_client_training_free / tk_client_sampling_free); a second call is TK_ESTATE. */
int tk_client_training_result(tk_client_task *t, double timeout_s, tk_client_training **out,
                              tk_err *e);
int tk_client_sampling_result(tk_client_task *t, double timeout_s, tk_client_sampling **out,
                              tk_err *e);

/* ---- the service client --------------------------------------------------------------------- */

typedef enum tk_client_encoding {
    TK_CLIENT_ENCODING_AUTO = 0,     /* see "Encodings" above */
    TK_CLIENT_ENCODING_PROTOBUF = 1,
    TK_CLIENT_ENCODING_JSON = 2,
} tk_client_encoding;

typedef struct tk_client_service_options {
    tk_client_options client;        /* where to connect, timeouts, retries (see above) */
    const char *user_metadata;       /* create_session's user_metadata: JSON object text; NULL
                                        sends {} */
    tk_client_encoding fwdbwd_encoding;  /* AUTO */
    bool no_session;                 /* skip create_session and heartbeats: capabilities and
                                        REST only (creating clients is then TK_ESTATE) */
    double call_deadline_s;          /* each typed call's overall deadline, every retry and poll
                                        included (tk_client_call_spec.deadline_s); 0: none, the
                                        retry budgets alone bound it */
} tk_client_service_options;

void tk_client_service_options_init(tk_client_service_options *o);

/* Connect (tk_client_open, so local mode starts the local backend), fetch POST
 * /api/v1/client/config (retried like every call; its failure fails the open, as in SDK 0.18+),
 * create a session (tags, project id and user_metadata) and start its heartbeats. Blocks until
 * done. opts may be NULL. Errors: those of tk_client_open, TK_EHTTP / TK_ENET / TK_EPARSE from
 * the two calls (the message names the call). */
int tk_client_service_open(const tk_client_service_options *opts, tk_client_service **out,
                           tk_err *e);
/* Stop heartbeats, close the transport (pending tasks fail with TK_ECANCELED) and drop the
 * caller's reference; memory is freed once the clients created from it are freed too. s may be
 * NULL. */
void tk_client_service_close(tk_client_service *s);

tk_client *tk_client_service_client(tk_client_service *s);           /* the transport */
const char *tk_client_service_session_id(const tk_client_service *s); /* NULL with no_session */
const tk_wire_client_config *tk_client_service_config(const tk_client_service *s);
bool tk_client_service_uses_protobuf(const tk_client_service *s);  /* forward_backward bodies */

/* GET /api/v1/get_server_capabilities -> TK_WIRE_MSG_SERVER_CAPABILITIES. */
int tk_client_service_get_server_capabilities(tk_client_service *s, tk_client_task **out,
                                              tk_err *e);
/* create_model with the next model_seq_id of the session -> TK_CLIENT_TASK_CREATE_TRAINING.
 * lora NULL: the SDK defaults (rank 32, all train_* true). user_metadata: JSON object text or
 * NULL. TK_EINVAL when no train_* flag is set (the SDK asserts the same). */
int tk_client_service_create_lora_training_client(tk_client_service *s, const char *base_model,
                                                  const tk_wire_lora_config *lora,
                                                  const char *user_metadata,
                                                  tk_client_task **out, tk_err *e);
/* Resume from a training checkpoint (tinker://run/weights/name): weights_info, create_model
 * with the checkpoint's rank and train_* flags, then load_weights at seq_id 1 (§9 "Resume").
 * _with_optimizer also restores the optimizer state. -> TK_CLIENT_TASK_CREATE_TRAINING. */
int tk_client_service_create_training_client_from_state(tk_client_service *s, const char *path,
                                                        tk_client_task **out, tk_err *e);
int tk_client_service_create_training_client_from_state_with_optimizer(tk_client_service *s,
                                                                       const char *path,
                                                                       tk_client_task **out,
                                                                       tk_err *e);
/* create_sampling_session (next sampling_session_seq_id of the session) from sampler weights
 * (model_path "tinker://…", checked) and/or a base model; at least one is needed.
 * -> TK_CLIENT_TASK_CREATE_SAMPLING. */
int tk_client_service_create_sampling_client(tk_client_service *s, const char *model_path,
                                             const char *base_model, tk_client_task **out,
                                             tk_err *e);

/* ---- the training client -------------------------------------------------------------------- */

const char *tk_client_training_model_id(const tk_client_training *t);
const char *tk_client_training_base_model(const tk_client_training *t);   /* NULL if unknown */
/* The seq_id the last submitted request took (0 right after create_model). */
int64_t tk_client_training_last_seq_id(tk_client_training *t);

/* forward (no gradient) and forward_backward. data[0..n) (n >= 1) is split into chunks of at
 * most client/config's fwdbwd_max_chunk_len datums (1024) and fwdbwd_max_chunk_bytes_count
 * estimated bytes (5 MB; 10 bytes per token and per loss input element, image bytes as they
 * are), each chunk taking the next seq_id; the chunks after the first are POSTed together and
 * the first one last (§8.4). loss_fn_config may be NULL. Every datum is checked against the
 * loss's contract first (tk_wire_datum_check: TK_EINVAL naming data[i]). */
int tk_client_training_forward(tk_client_training *t, const tk_wire_datum *data, size_t n,
                               tk_wire_loss_fn loss_fn, const tk_wire_f64_map *loss_fn_config,
                               tk_client_task **out, tk_err *e);
int tk_client_training_forward_backward(tk_client_training *t, const tk_wire_datum *data,
                                        size_t n, tk_wire_loss_fn loss_fn,
                                        const tk_wire_f64_map *loss_fn_config,
                                        tk_client_task **out, tk_err *e);

/* A custom loss (§6.8): what the callback sees and returns. */
typedef struct tk_client_custom_loss_io {
    const tk_wire_datum *data;        /* the datums as submitted (n of them) */
    size_t n;
    const float *const *logprobs;     /* logprobs[i][0..len[i]): the forward pass's logprobs */
    const size_t *len;                /* len[i]: datum i's number of positions */
    float *const *grad;               /* grad[i][0..len[i]): zero on entry; write d loss /
                                         d logprobs[i] */
    tk_arena *arena;                  /* for metric keys and anything else the callback needs */
    tk_wire_f64_map metrics;          /* out (optional): added to the result's metrics */
} tk_client_custom_loss_io;

/* Return 0, or a TK_E… code with e filled (the task fails with it). It runs once, on the
 * client's I/O thread, when the forward pass's result arrives: keep it quick (other requests of
 * this client wait meanwhile) and do not wait on tasks inside it. */
typedef int (*tk_client_custom_loss_fn)(tk_client_custom_loss_io *io, void *user, tk_err *e);

/* forward_backward_custom: a forward pass with cross_entropy, then fn, then a forward_backward
 * with cross_entropy and weights = -grad, whose gradient is that of the custom loss. Datums
 * may carry only target_tokens (required) and weights (zeros when absent). Both passes take
 * their seq_ids now, so later submits of this client are POSTed after the second pass (they
 * wait in the client until fn has run; pipelining still works). If the first pass or fn fails,
 * the second pass is sent with zero weights (the seq_ids must not leave a gap) and the task
 * fails. user must stay valid until the task settles. */
int tk_client_training_forward_backward_custom(tk_client_training *t, const tk_wire_datum *data,
                                               size_t n, tk_client_custom_loss_fn fn,
                                               void *user, tk_client_task **out, tk_err *e);

/* optim_step (§7). params NULL: the SDK defaults. */
int tk_client_training_optim_step(tk_client_training *t, const tk_wire_adam_params *params,
                                  tk_client_task **out, tk_err *e);
/* save_weights: weights and optimizer state as tinker://<model>/weights/<name>.
 * ttl_seconds <= 0: no expiry. -> TK_CLIENT_TASK_SAVE_STATE. */
int tk_client_training_save_state(tk_client_training *t, const char *name, int64_t ttl_seconds,
                                  tk_client_task **out, tk_err *e);
/* load_weights from tinker://…/weights/<name> (checked): weights only, or with the optimizer
 * state. -> TK_CLIENT_TASK_LOAD_STATE. */
int tk_client_training_load_state(tk_client_training *t, const char *path, tk_client_task **out,
                                  tk_err *e);
int tk_client_training_load_state_with_optimizer(tk_client_training *t, const char *path,
                                                 tk_client_task **out, tk_err *e);
/* save_weights_for_sampler, named form: tinker://<model>/sampler_weights/<name>.
 * -> TK_CLIENT_TASK_SAVE_FOR_SAMPLER. */
int tk_client_training_save_weights_for_sampler(tk_client_training *t, const char *name,
                                                int64_t ttl_seconds, tk_client_task **out,
                                                tk_err *e);
/* save_weights_for_sampler, ephemeral form (next sampling_session_seq_id of the session): the
 * server makes a sampling session on the new weights. -> TK_CLIENT_TASK_CREATE_SAMPLING. */
int tk_client_training_save_weights_and_get_sampling_client(tk_client_training *t,
                                                            tk_client_task **out, tk_err *e);
/* POST /api/v1/get_info -> TK_WIRE_MSG_GET_INFO_RESPONSE. */
int tk_client_training_get_info(tk_client_training *t, tk_client_task **out, tk_err *e);

/* The model's tokenizer (blocking, on the calling thread; timeout_s bounds the get_info call):
 * get_info's model_data.tokenizer_id cut at its first ':' (as the SDK does), else the model
 * name, else the base model, loaded with tk_tokenizer_load_by_name (a path, the Hugging Face
 * cache, or a hub download). The caller frees *out with tk_tokenizer_free; load it once and keep
 * it. Errors: those of the call, or of the loader (TK_ENOTFOUND listing where it looked). */
int tk_client_training_get_tokenizer(tk_client_training *t, double timeout_s,
                                     struct tk_tokenizer **out, tk_err *e);

/* Drop the caller's reference (tasks in flight keep the client alive). t may be NULL. */
void tk_client_training_free(tk_client_training *t);

/* ---- the sampling client -------------------------------------------------------------------- */

const char *tk_client_sampling_session_id(const tk_client_sampling *s);

/* asample (§3.6) with the next seq_id of this client (from 0). params NULL: the defaults
 * (temperature 1, no max_tokens: set one). A 429 answer is back-pressure: resent after 1 s
 * (5 s for prompts over 128 KiB) without limit; a 410 from retrieve_future re-submits the whole
 * request with a new seq_id. -> TK_CLIENT_TASK_SAMPLE. */
int tk_client_sampling_sample(tk_client_sampling *s, const tk_wire_model_input *prompt,
                              int64_t num_samples, const tk_wire_sampling_params *params,
                              bool include_prompt_logprobs, int64_t topk_prompt_logprobs,
                              tk_client_task **out, tk_err *e);
/* compute_logprobs: asample with max_tokens 1 and prompt_logprobs. -> _COMPUTE_LOGPROBS. */
int tk_client_sampling_compute_logprobs(tk_client_sampling *s, const tk_wire_model_input *prompt,
                                        tk_client_task **out, tk_err *e);
/* The sampler's tokenizer: GET /samplers/{id}'s base_model, loaded as above. */
int tk_client_sampling_get_tokenizer(tk_client_sampling *s, double timeout_s,
                                     struct tk_tokenizer **out, tk_err *e);
void tk_client_sampling_free(tk_client_sampling *s);

/* ---- REST (§3.8): the service is the REST client ------------------------------------------- */
/* Every function submits one call (retried like the SDK's) and returns a TK_CLIENT_TASK_CALL
 * task whose result type is given. Checkpoints are named by their tinker:// path (checked:
 * TK_EINVAL). limit <= 0 uses the SDK's default (20 runs, 100 checkpoints, 20 sessions). */

/* GET /training_runs -> TK_WIRE_MSG_TRAINING_RUNS_RESPONSE. access_scope NULL: "owned". */
int tk_client_rest_list_training_runs(tk_client_service *s, int64_t limit, int64_t offset,
                                      const char *access_scope, tk_client_task **out, tk_err *e);
/* GET /training_runs/{id} -> TK_WIRE_MSG_TRAINING_RUN. */
int tk_client_rest_get_training_run(tk_client_service *s, const char *run_id,
                                    tk_client_task **out, tk_err *e);
/* GET /training_runs/{id}/checkpoints -> TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE. */
int tk_client_rest_list_checkpoints(tk_client_service *s, const char *run_id,
                                    tk_client_task **out, tk_err *e);
/* GET /checkpoints (every run of the user) -> TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE. */
int tk_client_rest_list_user_checkpoints(tk_client_service *s, int64_t limit, int64_t offset,
                                         tk_client_task **out, tk_err *e);
/* DELETE a checkpoint; publish / unpublish it; set (ttl_seconds > 0) or remove (<= 0) its
 * expiry. Results carry nothing (TK_WIRE_MSG_COUNT_): wait with tk_client_task_wait. */
int tk_client_rest_delete_checkpoint(tk_client_service *s, const char *tinker_path,
                                     tk_client_task **out, tk_err *e);
int tk_client_rest_publish_checkpoint(tk_client_service *s, const char *tinker_path,
                                      tk_client_task **out, tk_err *e);
int tk_client_rest_unpublish_checkpoint(tk_client_service *s, const char *tinker_path,
                                        tk_client_task **out, tk_err *e);
int tk_client_rest_set_checkpoint_ttl(tk_client_service *s, const char *tinker_path,
                                      int64_t ttl_seconds, tk_client_task **out, tk_err *e);
/* GET …/archive -> TK_WIRE_MSG_ARCHIVE_URL_RESPONSE, from a 302 (Location, Expires) or a 200
 * {"url","expires"} answer; a relative Location is made absolute against the base URL. */
int tk_client_rest_get_checkpoint_archive_url(tk_client_service *s, const char *tinker_path,
                                              tk_client_task **out, tk_err *e);
/* The archive URL, then the archive itself (a .tar.gz) written to dest_path atomically
 * (tk_file_write_atomic). A URL outside the base URL gets no credentials. No result message. */
int tk_client_rest_download_checkpoint_archive(tk_client_service *s, const char *tinker_path,
                                               const char *dest_path, tk_client_task **out,
                                               tk_err *e);
/* POST /weights_info -> TK_WIRE_MSG_WEIGHTS_INFO_RESPONSE. */
int tk_client_rest_get_weights_info(tk_client_service *s, const char *tinker_path,
                                    tk_client_task **out, tk_err *e);
/* GET /samplers/{id} -> TK_WIRE_MSG_SAMPLER_RESPONSE. */
int tk_client_rest_get_sampler(tk_client_service *s, const char *sampler_id,
                               tk_client_task **out, tk_err *e);
/* GET /sessions -> TK_WIRE_MSG_LIST_SESSIONS_RESPONSE; GET /sessions/{id} ->
 * TK_WIRE_MSG_SESSION_RESPONSE. */
int tk_client_rest_list_sessions(tk_client_service *s, int64_t limit, int64_t offset,
                                 tk_client_task **out, tk_err *e);
int tk_client_rest_get_session(tk_client_service *s, const char *session_id,
                               tk_client_task **out, tk_err *e);

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_CLIENT_H */
