/*
 * A scripted HTTP server for tests (libmicrohttpd, 127.0.0.1 only, ephemeral port, optional TLS).
 *
 * Per route ("METHOD /path", query string excluded) it plays a FIFO of scripted answers; when a
 * route's script is empty it calls the route's handler, then the catch-all handler, else it
 * answers 404 {"detail":"no script for <route>"}. Every request is recorded (method, path,
 * query, headers, body, the client's port, arrival time) for the test to inspect afterwards.
 * An answer can also be delayed, cut short mid-body, or replaced by closing the connection.
 *
 * Thread safety: every function may be called from any thread while the server runs. Handlers
 * run on the server's connection threads (one per connection), possibly concurrently.
 */
#ifndef TK_TEST_MOCKSERVER_H
#define TK_TEST_MOCKSERVER_H

#include "tinkerc/base.h"

typedef struct tk_mock tk_mock;

typedef struct tk_mock_request {
    size_t index;              /* arrival order, from 0 */
    char method[8];
    char *path;                /* without the query string */
    char *query;               /* "a=1&b=2" as decoded by the server; "" when none */
    char **hnames, **hvalues;  /* request headers */
    size_t n_headers;
    unsigned char *body;
    size_t body_len;
    int client_port;           /* the peer's TCP port: equal ports = the same connection */
    int64_t t_ms;              /* tk_now_ms() at arrival of the complete request */
} tk_mock_request;

typedef enum tk_mock_action {
    TK_MOCK_ANSWER = 0,   /* send the answer */
    TK_MOCK_CLOSE,        /* close the connection without answering */
    TK_MOCK_TRUNCATE,     /* announce the full Content-Length, send half the body, close */
} tk_mock_action;

typedef struct tk_mock_answer {
    int status;                /* 0 means 200 */
    const char *body;          /* copied; NULL = empty */
    size_t body_len;           /* 0 with a body means strlen(body) */
    const char *content_type;  /* default "application/json" */
    const char *headers;       /* extra "Name: value" lines separated by '\n' (or NULL) */
    int delay_ms;              /* wait before answering (cut short by tk_mock_stop) */
    tk_mock_action action;
} tk_mock_answer;

/* Fill *out for req. Strings in *out may point into scratch (freed by the server after copying)
 * or into static storage. */
typedef void (*tk_mock_handler)(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch,
                                void *user);

/* Start on 127.0.0.1 with an ephemeral port. cert_pem/key_pem (NULL for plain HTTP) enable TLS. */
int tk_mock_start(const char *cert_pem, const char *key_pem, tk_mock **out, tk_err *e);
/* Stop (waiting for connection threads, whose delays are cut short) and free everything,
 * recorded requests included. m may be NULL. */
void tk_mock_stop(tk_mock *m);

int tk_mock_port(const tk_mock *m);
/* "http://127.0.0.1:PORT" (or https); owned by m. */
const char *tk_mock_url(const tk_mock *m);

/* Append a scripted answer for route "METHOD /path" (the answer is copied). */
void tk_mock_push(tk_mock *m, const char *method, const char *path, const tk_mock_answer *a);
/* Shorthand: status + JSON body. */
void tk_mock_push_json(tk_mock *m, const char *method, const char *path, int status,
                       const char *json);
/* Handler for one route (path NULL: every route without its own). A later handler for the same
 * route replaces the earlier one. */
void tk_mock_set_handler(tk_mock *m, const char *method, const char *path, tk_mock_handler fn,
                         void *user);

/* Requests recorded so far; method/path NULL match all. */
size_t tk_mock_count(tk_mock *m, const char *method, const char *path);
/* The i-th recorded request (arrival order), or NULL. Valid until tk_mock_stop. */
const tk_mock_request *tk_mock_get(tk_mock *m, size_t i);
/* The i-th recorded request on route method+path, or NULL. */
const tk_mock_request *tk_mock_get_route(tk_mock *m, const char *method, const char *path,
                                         size_t i);
/* Case-insensitive request header lookup; NULL when absent. */
const char *tk_mock_req_header(const tk_mock_request *r, const char *name);

#endif
