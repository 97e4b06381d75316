/* The futures table: request_id -> pending | done(result bytes per encoding) | failed(error,
 * category). HTTP threads create futures when they queue work and long-poll them in
 * retrieve_future; the engine worker settles them, which wakes exactly the waiters of that future
 * (one condition variable per future; nothing polls). Settled futures are dropped ttl seconds
 * after they settle. Internal to the server layer; every function is thread-safe. */
#ifndef TK_SERVER_FUTURES_H
#define TK_SERVER_FUTURES_H

#include <stdatomic.h>

#include "names.h"

/* Immutable shared bytes (a result body), reference counted so that a long result is encoded
 * once and handed to any number of HTTP responses without copies. */
typedef struct tk_server_blob {
    atomic_int refs;
    size_t len;
    char *data;
} tk_server_blob;

/* Take the bytes of b (b is reset to empty). NULL on OOM (b is freed then). */
tk_server_blob *tk_server_blob_from_buf(tk_buf *b);
/* Copy n bytes. NULL on OOM. */
tk_server_blob *tk_server_blob_new(const void *p, size_t n);
tk_server_blob *tk_server_blob_ref(tk_server_blob *b);   /* b may be NULL */
void tk_server_blob_unref(tk_server_blob *b);            /* b may be NULL */

typedef enum { TK_SERVER_CAT_USER = 0, TK_SERVER_CAT_SERVER = 1 } tk_server_category;
const char *tk_server_category_name(tk_server_category c); /* "user" / "server" */

typedef struct tk_server_futures tk_server_futures;

tk_server_futures *tk_server_futures_new(void);   /* NULL on OOM */
void tk_server_futures_free(tk_server_futures *f);

/* A new pending future for a request of `type` ("forward_backward", …; kept for logs and
 * tests). Its id ("<instance>-<n>", unique to this server instance) goes to id_out. */
int tk_server_futures_create(tk_server_futures *f, const char *type, char id_out[TK_SERVER_ID_MAX], tk_err *e);

/* Forget a future that was created but never handed out (a submit that turned out to be a retry
 * or was refused). */
void tk_server_futures_discard(tk_server_futures *f, const char *id);

/* Settle a pending future. The table takes the references (json must not be NULL; proto may be
 * NULL when the result has no protobuf form). Settling an unknown or already settled id only
 * drops the references. */
void tk_server_futures_succeed(tk_server_futures *f, const char *id, tk_server_blob *json, tk_server_blob *proto);
void tk_server_futures_fail(tk_server_futures *f, const char *id, tk_server_category cat, const char *msg);

typedef enum {
    TK_SERVER_WAIT_DONE,     /* json (and proto if any) set */
    TK_SERVER_WAIT_FAILED,   /* error and category set */
    TK_SERVER_WAIT_PENDING,  /* still pending after the timeout (or the table is closing) */
    TK_SERVER_WAIT_UNKNOWN,  /* never issued by this server instance */
    TK_SERVER_WAIT_EXPIRED,  /* issued, settled, and dropped after its ttl */
} tk_server_wait_status;

typedef struct tk_server_future_view {
    tk_server_blob *json, *proto;  /* references the caller drops (tk_server_future_view_clear) */
    char *error;                   /* malloc'd */
    tk_server_category category;
    char type[32];
} tk_server_future_view;

/* Wait up to timeout_s for id to settle and describe it in *out (zero it first). */
tk_server_wait_status tk_server_futures_wait(tk_server_futures *f, const char *id, double timeout_s,
                                             tk_server_future_view *out);
void tk_server_future_view_clear(tk_server_future_view *v);

/* Wake every waiter now; waits from here on return at once. Used at shutdown. */
void tk_server_futures_close(tk_server_futures *f);

/* Drop futures settled more than ttl_s seconds before now (monotonic seconds, tk_now_s) that
 * nobody is waiting on. Returns how many. */
size_t tk_server_futures_expire(tk_server_futures *f, double now, double ttl_s);
size_t tk_server_futures_count(tk_server_futures *f);

#endif
