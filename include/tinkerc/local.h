/*
 * tinkerc/local.h — local mode: the embedded server as the client's local backend.
 *
 * The client library never links the server or the engine (a program that only talks to the
 * hosted service should not pull in OpenBLAS). A program that wants local mode — the tinkerc
 * CLI, the examples, a user's program — links libtk_local and calls tk_local_register() once at
 * start. From then on, tk_client_open / tk_client_service_open with no base URL and no API key
 * (or base_url "local") start the embedded server in-process on an ephemeral 127.0.0.1 port and
 * talk HTTP to it, so the local path and the remote path are the same code; closing the client
 * stops that server. Every client opened in local mode gets its own server (they share the data
 * directory, so checkpoints saved by one are visible to the next).
 *
 * Ownership: the options are copied. Thread safety: tk_local_register / tk_local_unregister may
 * be called from any thread; they affect clients opened afterwards.
 */
#ifndef TINKERC_LOCAL_H
#define TINKERC_LOCAL_H

#include "tinkerc/base.h"
#include "tinkerc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_local_options {
    const char *data_dir;                 /* checkpoint store; NULL: tk_server_default_data_dir()
                                             ($TINKERC_DATA_DIR, else the XDG data dir) */
    const tk_server_model_spec *models;   /* extra base models (NAME=DIR), as `serve --model`;
                                             names that are absolute model directories or in the
                                             Hugging Face cache need no entry */
    size_t n_models;
    double session_timeout_s;             /* 0: the server's default (300) */
} tk_local_options;

/* Register the embedded server as the process's local backend (tk_client_set_local_backend).
 * opts may be NULL (defaults). Replaces an earlier registration. 0 or TK_ENOMEM. */
int tk_local_register(const tk_local_options *opts, tk_err *e);

/* Remove the registration (clients already open keep their server until they close). */
void tk_local_unregister(void);

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_LOCAL_H */
