/* The HTTP side of the server: requests and responses as route handlers see them, the routing
 * table, and response helpers. Internal to the server layer. */
#ifndef TK_SERVER_HTTP_H
#define TK_SERVER_HTTP_H

#include "futures.h"
#include "tar_gz.h"

struct json_t;
struct MHD_Connection;
typedef struct tk_server tk_server;

typedef enum {
    TK_SERVER_BODY_NONE = 0,   /* no body / no Content-Type */
    TK_SERVER_BODY_JSON,       /* application/json (or text/json, …+json) */
    TK_SERVER_BODY_PROTOBUF,   /* application/x-protobuf */
    TK_SERVER_BODY_OTHER,
} tk_server_body_type;

#define TK_SERVER_MAX_PARAMS 6

typedef struct tk_server_req {
    const char *method;                /* "GET", "POST", "PUT", "DELETE", … */
    const char *path;                  /* URL path as sent (percent-decoded by MHD), no query */
    const char *params[TK_SERVER_MAX_PARAMS]; /* the pattern's {name} segments, in order */
    int n_params;
    const char *body;                  /* after Content-Encoding is undone; NUL-terminated; "" if none */
    size_t body_len;
    tk_server_body_type body_type;     /* from Content-Type */
    bool accept_proto;                 /* Accept lists application/x-protobuf */
    const char *api_key;               /* the accepted key ("" on routes without auth) */
    struct MHD_Connection *conn;
} tk_server_req;

/* A query-string argument or request header; NULL when absent. */
const char *tk_server_req_query(const tk_server_req *r, const char *name);
const char *tk_server_req_header(const tk_server_req *r, const char *name);

#define TK_SERVER_MAX_HEADERS 4

typedef struct tk_server_resp {
    int status;                        /* 0 = not set (the front end answers 500) */
    const char *content_type;          /* static string */
    tk_buf body;                       /* owned body bytes, or … */
    tk_server_blob *blob;              /* … a shared body (reference owned by the response), or … */
    tk_server_targz *stream;           /* … a streamed body (owned; sent chunked) */
    char *hdr_name[TK_SERVER_MAX_HEADERS], *hdr_value[TK_SERVER_MAX_HEADERS];
    int n_hdr;
} tk_server_resp;

/* Route handlers run on the connection's own thread and may block (retrieve_future does). They
 * must set a status through one of the helpers below. */
typedef void (*tk_server_handler)(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user);

enum { TK_SERVER_ROUTE_NO_AUTH = 1 }; /* route flags */

/* Register METHOD PATTERN -> handler. Patterns are '/'-separated; a segment "{name}" matches any
 * one non-empty segment and is passed in req->params. Call before tk_server_listen.
 * TK_EINVAL for a malformed pattern, TK_ENOMEM. */
int tk_server_route_add(tk_server *s, const char *method, const char *pattern, tk_server_handler fn, void *user,
                        int flags, tk_err *e);

/* ---- response helpers (each replaces whatever body was set before) ---------------------------- */

/* 200..599 with a JSON value (stolen; NULL means out of memory -> 500). */
void tk_server_resp_json(tk_server_resp *r, int status, struct json_t *v);
/* An error: {"detail": "<message>"} with the given status. */
void tk_server_resp_error(tk_server_resp *r, int status, const char *fmt, ...) TK_PRINTF(3, 4);
/* An error from a tk_err, the status chosen by tk_server_http_status(e->code). */
void tk_server_resp_err(tk_server_resp *r, const tk_err *e);
/* Raw bytes with a content type (the blob reference is taken). */
void tk_server_resp_blob(tk_server_resp *r, int status, const char *content_type, tk_server_blob *b);
/* Add a header (copied). */
void tk_server_resp_header(tk_server_resp *r, const char *name, const char *value);
void tk_server_resp_clear(tk_server_resp *r);

/* The HTTP status for an error code: 400 invalid/parse/range/exists/unsupported, 404 not found,
 * 410 gone (TK_ESTATE: expired or unloaded), 503 out of memory (retryable), 500 else. Body size
 * caps answer 413 themselves. Never 409: the SDK retries 409 for minutes. */
int tk_server_http_status(int code);

/* Parse req->body as a JSON object (new reference in *out); on failure answer 400 naming the
 * problem and return nonzero. Rejects a protobuf/other Content-Type with 415. */
int tk_server_req_json(const tk_server_req *req, tk_server_resp *resp, struct json_t **out);

/* Read ?offset= and ?limit= (defaults 0 / def_limit; limit clamped to 1..max_limit). Answers
 * 400 and returns nonzero on a malformed number. */
int tk_server_req_page(const tk_server_req *req, tk_server_resp *resp, int64_t def_limit, int64_t max_limit,
                       int64_t *offset, int64_t *limit);

#endif
