/*
 * tinkerc/server.h — the Tinker HTTP API on loopback: `tinkerc serve`, and the same server
 * embedded in a process (the client's local mode, the tests).
 *
 * What the server owns (docs/server.md has the rules in full): the HTTP front end and its limits,
 * API-key checks, the futures table with long-polling retrieve_future, per-model ordering of
 * training requests by seq_id with retry de-duplication, sessions with heartbeat expiry, and a
 * checkpoint store on disk that survives restarts.
 *
 * Ownership: tk_server_start returns a server the caller shuts down with tk_server_stop (which
 * also frees it). Strings in tk_server_config are borrowed for the duration of tk_server_start
 * only; the server copies what it keeps.
 * Thread safety: tk_server_start / tk_server_stop must not race on the same server; the getters
 * may be called from any thread while the server runs.
 */
#ifndef TINKERC_SERVER_H
#define TINKERC_SERVER_H

#include "tinkerc/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_server tk_server;

/* A base model the server serves, as given by `--model NAME=DIR`. */
typedef struct tk_server_model_spec {
    const char *name;              /* the name clients use as base_model ("Qwen/Qwen3-0.6B") */
    const char *dir;               /* a Hugging Face model directory */
    int64_t max_context_length;    /* 0 = unknown (not reported in get_server_capabilities) */
} tk_server_model_spec;

typedef struct tk_server_config {
    const char *host;              /* address to bind; default "127.0.0.1" */
    int port;                      /* TCP port; 0 = an ephemeral port (read it back with
                                      tk_server_port / tk_server_url) */
    const char *data_dir;          /* checkpoint store; NULL = tk_server_default_data_dir() */
    const char *api_key_file;      /* NULL: any key starting with "tml-" is accepted; else only
                                      the keys listed in the file (one per line, '#' comments) */
    double session_timeout_s;      /* idle time without heartbeat before a session expires
                                      and its models are unloaded; default 300 */
    size_t max_body_bytes;         /* cap on a request body as received; default 256 MiB */
    size_t max_decompressed_bytes; /* cap on a body after Content-Encoding: zstd; default 1 GiB */
    double future_hold_s;          /* longest retrieve_future long-poll before try_again;
                                      default 25 (keep it under the SDK's 45 s read timeout) */
    double future_ttl_s;           /* how long a settled future's result is kept; default 600 */
    double gap_timeout_s;          /* how long a model's queue waits for a missing seq_id before
                                      skipping it (docs/server.md "Gaps"); default 300 */
    double sweep_interval_s;       /* housekeeping period (expiries); default 1 */
    int max_connections;           /* concurrent HTTP connections; default 4096 */
    size_t max_request_tokens;     /* most tokens one request may make the engine hold: the sum of
                                      the datums' lengths of a forward / forward_backward, the prompt
                                      plus num_samples * max_tokens of an asample; checked before
                                      anything is allocated for it (400 above); default 131072 */
    int max_unnamed_samplers;      /* sampling sessions made by save_weights_for_sampler without a
                                      name hold a copy of the adapter in memory; each training model
                                      keeps its newest this many, older ones are closed (410);
                                      default 8 */
    const tk_server_model_spec *models;  /* served base models (copied) */
    size_t n_models;
} tk_server_config;

/* Fill *c with the defaults above (host 127.0.0.1, ephemeral port, default data dir). */
void tk_server_config_init(tk_server_config *c);

/* The default data directory: $TINKERC_DATA_DIR if set, else $XDG_DATA_HOME/tinkerc/server, else
 * ~/.local/share/tinkerc/server. Caller frees. NULL on OOM. */
char *tk_server_default_data_dir(void);

/* Open the checkpoint store, start the engine worker and the HTTP listener. On success *out is a
 * running server. Errors: TK_EIO (cannot bind: the address and port are named; data dir not
 * writable), TK_EINVAL (bad config value or unreadable API-key file, naming the field). */
int tk_server_start(const tk_server_config *cfg, tk_server **out, tk_err *e);

/* "http://127.0.0.1:PORT" (IPv6 hosts in brackets). Owned by the server; valid until stop. */
const char *tk_server_url(const tk_server *s);

/* The bound TCP port (the real one when the config asked for 0). */
int tk_server_port(const tk_server *s);

/* Stop accepting connections, wake long-polls (they answer try_again), finish the job that is
 * running, fail the queued ones, unload every model, join every thread and free s. Checkpoints on
 * disk stay. s may be NULL. */
void tk_server_stop(tk_server *s);

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_SERVER_H */
