/* Response helpers and request accessors for route handlers. Every error answer is a JSON
 * object {"detail": "..."} (FastAPI's shape, which the SDK folds into its exception message). */
#include "server_internal.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

const char *tk_server_req_query(const tk_server_req *r, const char *name) {
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

const char *tk_server_req_header(const tk_server_req *r, const char *name) {
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name) : NULL;
}

void tk_server_resp_clear(tk_server_resp *r) {
    tk_buf_free(&r->body);
    tk_server_blob_unref(r->blob);
    r->blob = NULL;
    tk_server_targz_free(r->stream);
    r->stream = NULL;
    for (int i = 0; i < r->n_hdr; i++) {
        free(r->hdr_name[i]);
        free(r->hdr_value[i]);
    }
    r->n_hdr = 0;
    r->status = 0;
    r->content_type = NULL;
}

static void reset_body(tk_server_resp *r) {
    tk_buf_clear(&r->body);
    tk_server_blob_unref(r->blob);
    r->blob = NULL;
    tk_server_targz_free(r->stream);
    r->stream = NULL;
}

void tk_server_resp_json(tk_server_resp *r, int status, json_t *v) {
    reset_body(r);
    if (!v || tk_json_dump(v, &r->body)) {
        json_decref(v);
        tk_buf_clear(&r->body);
        r->status = 500;
        r->content_type = "application/json";
        if (tk_buf_puts(&r->body, "{\"detail\":\"out of memory building the response\"}")) tk_buf_free(&r->body);
        return;
    }
    json_decref(v);
    r->status = status;
    r->content_type = "application/json";
}

void tk_server_resp_error(tk_server_resp *r, int status, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tk_server_resp_json(r, status, json_pack("{s:s}", "detail", msg));
}

int tk_server_http_status(int code) {
    switch (code) {
    case TK_EINVAL: case TK_EPARSE: case TK_ERANGE: case TK_EEXIST: case TK_EUNSUPPORTED: return 400;
    case TK_ENOTFOUND: return 404;
    case TK_ESTATE: return 410;
    case TK_ENOMEM: return 503; /* memory pressure: retryable (size caps answer 413 themselves) */
    default: return 500;
    }
}

void tk_server_resp_err(tk_server_resp *r, const tk_err *e) {
    tk_server_resp_error(r, tk_server_http_status(e->code), "%s", e->msg[0] ? e->msg : tk_strerror(e->code));
}

void tk_server_resp_blob(tk_server_resp *r, int status, const char *content_type, tk_server_blob *b) {
    reset_body(r);
    r->blob = b;
    r->status = status;
    r->content_type = content_type;
}

void tk_server_resp_header(tk_server_resp *r, const char *name, const char *value) {
    if (r->n_hdr == TK_SERVER_MAX_HEADERS) return;
    char *n = tk_strdup(name), *v = tk_strdup(value);
    if (!n || !v) { free(n); free(v); return; }
    r->hdr_name[r->n_hdr] = n;
    r->hdr_value[r->n_hdr++] = v;
}

int tk_server_req_json(const tk_server_req *req, tk_server_resp *resp, json_t **out) {
    *out = NULL;
    if (req->body_type == TK_SERVER_BODY_PROTOBUF || req->body_type == TK_SERVER_BODY_OTHER) {
        const char *ct = tk_server_req_header(req, "Content-Type");
        tk_server_resp_error(resp, 415, "%s %s: expected a JSON body (Content-Type: application/json), got "
                             "Content-Type: %s", req->method, req->path, ct ? ct : "?");
        return -1;
    }
    tk_err e = {0};
    if (req->body_len == 0) {
        tk_server_resp_error(resp, 400, "%s %s: the request body is empty; expected a JSON object", req->method,
                             req->path);
        return -1;
    }
    json_t *v = NULL;
    if (tk_json_parse(req->body, req->body_len, "request body", &v, &e)) {
        tk_server_resp_error(resp, 400, "%s %s: %s", req->method, req->path, e.msg);
        return -1;
    }
    if (!json_is_object(v)) {
        tk_server_resp_error(resp, 400, "%s %s: the request body must be a JSON object, got %s", req->method,
                             req->path, tk_json_type_name(v));
        json_decref(v);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_i64(const char *s, int64_t *out) {
    if (!s || !*s) return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int tk_server_req_page(const tk_server_req *req, tk_server_resp *resp, int64_t def_limit, int64_t max_limit,
                       int64_t *offset, int64_t *limit) {
    *offset = 0;
    *limit = def_limit;
    const char *o = tk_server_req_query(req, "offset"), *l = tk_server_req_query(req, "limit");
    if (o && (parse_i64(o, offset) || *offset < 0)) {
        tk_server_resp_error(resp, 400, "offset: expected a non-negative integer, got \"%s\"", o);
        return -1;
    }
    if (l && (parse_i64(l, limit) || *limit < 1)) {
        tk_server_resp_error(resp, 400, "limit: expected a positive integer, got \"%s\"", l);
        return -1;
    }
    if (*limit > max_limit) *limit = max_limit;
    return 0;
}

int tk_server_req_access(const tk_server_req *req, tk_server_resp *resp, char owner[24], tk_server_access *acc) {
    tk_server_auth_fingerprint(req->api_key, owner);
    acc->owner = owner;
    tk_err e = {0};
    if (tk_server_scope_parse(tk_server_req_query(req, "access_scope"), &acc->scope, &e)) {
        tk_server_resp_error(resp, 400, "%s %s: %s", req->method, req->path, e.msg);
        return -1;
    }
    return 0;
}

int tk_server_req_ckpt_access(tk_server *s, const tk_server_req *req, const char *tinker_path, bool write, tk_err *e) {
    char run[TK_SERVER_ID_MAX], name[TK_SERVER_NAME_MAX], owner[24];
    tk_server_ckpt_kind kind;
    bool forbidden = false;
    tk_server_auth_fingerprint(req->api_key, owner);
    int rc = tk_server_tinker_path_parse(tinker_path, run, &kind, name, e);
    if (!rc) rc = tk_server_store_check(s->store, run, kind, name, owner, write, &forbidden, e);
    return rc ? (forbidden ? 403 : tk_server_http_status(rc)) : 0;
}
