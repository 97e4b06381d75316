/* The HTTP front end over GNU libmicrohttpd.
 *
 * Threading model: one thread per connection (MHD_USE_THREAD_PER_CONNECTION, with poll() so
 * descriptors above FD_SETSIZE work). Chosen deliberately:
 *   - retrieve_future long-polls for up to 25 s by blocking on its future's condition variable.
 *     In MHD's event-loop modes (one polling thread, or a pool of them) a handler that blocks
 *     stalls every other connection multiplexed on its thread, so a few long-polls would starve
 *     heartbeats and submits. MHD's suspend/resume avoids that, but needs a timer to answer
 *     try_again and turns every handler into a resumable state machine.
 *   - With a thread per connection a blocked long-poll costs one sleeping thread and nothing
 *     else; 64 clients (or a few thousand, the SDK's connection pool is bounded) are that many
 *     mostly idle threads with small stacks. Handlers stay plain sequential code.
 *   - The connection count is capped (max_connections) and idle keep-alive connections are
 *     closed after IDLE_TIMEOUT_S, so threads cannot pile up without bound.
 * Handlers only parse, validate and enqueue (DESIGN.md §3): the model math runs on the single
 * engine worker, so the number of HTTP threads never multiplies CPU work.
 *
 * Request life: the first callback (headers only) matches the route, checks the API key and the
 * declared Content-Length, and can answer at once (404/405/401/413) without reading the body;
 * later callbacks accumulate the body up to max_body_bytes; the last one undoes
 * Content-Encoding (zstd, up to max_decompressed_bytes) and calls the handler. */
#include "router.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zstd.h>

#define IDLE_TIMEOUT_S 120
#define THREAD_STACK (2u << 20)

typedef struct conn_ctx {
    const tk_server_route *route;
    tk_server_route_match_out match;
    char *path;        /* split in place by the router; params point into it */
    const char *key;
    tk_buf body;
    bool too_large;
    bool responded;
} conn_ctx;

/* ---- sending -------------------------------------------------------------------------------- */

static void free_blob_cb(void *cls) { tk_server_blob_unref(cls); }

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    tk_err e = {0};
    ssize_t n = tk_server_targz_read(cls, buf, max, &e);
    if (n < 0) {
        tk_warn("server: archive stream failed: %s", e.msg);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free(void *cls) { tk_server_targz_free(cls); }

static enum MHD_Result send_resp(struct MHD_Connection *c, tk_server_resp *r) {
    struct MHD_Response *mr = NULL;
    if (r->status == 0) tk_server_resp_error(r, 500, "internal error: the handler set no response");
    if (r->stream) {
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_reader, r->stream, stream_free);
        if (mr) r->stream = NULL;
    } else if (r->blob) {
        mr = MHD_create_response_from_buffer_with_free_callback_cls(r->blob->len, r->blob->data, free_blob_cb, r->blob);
        if (mr) r->blob = NULL;
    } else {
        size_t n = 0;
        char *data = r->body.len ? tk_buf_detach(&r->body, &n) : NULL;
        mr = data ? MHD_create_response_from_buffer_with_free_callback(n, data, free)
                  : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!mr) free(data);
    }
    if (!mr) {
        tk_server_resp_clear(r);
        return MHD_NO;
    }
    if (r->content_type) MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    for (int i = 0; i < r->n_hdr; i++) MHD_add_response_header(mr, r->hdr_name[i], r->hdr_value[i]);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    tk_server_resp_clear(r);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, conn_ctx *cx, int status, const char *allow,
                                  const char *fmt, ...) TK_PRINTF(5, 6);
static enum MHD_Result send_error(struct MHD_Connection *c, conn_ctx *cx, int status, const char *allow,
                                  const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tk_server_resp r = {0};
    tk_server_resp_error(&r, status, "%s", msg);
    if (allow) tk_server_resp_header(&r, "Allow", allow);
    if (status == 401) tk_server_resp_header(&r, "WWW-Authenticate", "X-API-Key");
    cx->responded = true;
    return send_resp(c, &r);
}

/* ---- request pieces --------------------------------------------------------------------------- */

static tk_server_body_type body_type_of(const char *ct) {
    if (!ct || !*ct) return TK_SERVER_BODY_NONE;
    size_t n = strcspn(ct, ";");
    while (n && isspace((unsigned char)ct[n - 1])) n--;
    if ((n == 16 && !strncasecmp(ct, "application/json", n)) || (n >= 5 && !strncasecmp(ct + n - 5, "+json", 5)) ||
        (n == 9 && !strncasecmp(ct, "text/json", n)))
        return TK_SERVER_BODY_JSON;
    if ((n == 22 && !strncasecmp(ct, "application/x-protobuf", n)) ||
        (n == 20 && !strncasecmp(ct, "application/protobuf", n)) ||
        (n == 31 && !strncasecmp(ct, "application/vnd.google.protobuf", n)))
        return TK_SERVER_BODY_PROTOBUF;
    return TK_SERVER_BODY_OTHER;
}

static bool accepts_proto(const char *accept) {
    if (!accept) return false;
    for (const char *p = accept; *p; p++)
        if (!strncasecmp(p, "application/x-protobuf", 22)) return true;
    return false;
}

static const char *api_key_of(struct MHD_Connection *c) {
    const char *k = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    if (k && *k) return k;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (a && !strncasecmp(a, "Bearer ", 7)) {
        a += 7;
        while (*a == ' ') a++;
        return a;
    }
    return NULL;
}

/* Undo Content-Encoding into out. Returns 0, or an HTTP status with msg filled. */
static int decode_body(tk_server *s, const char *enc, const tk_buf *in, tk_buf *out, char *msg, size_t msgn) {
    if (!enc || !*enc || !strcasecmp(enc, "identity")) return 0;
    if (strcasecmp(enc, "zstd")) {
        snprintf(msg, msgn, "Content-Encoding \"%s\" is not supported (send zstd, identity or none)", enc);
        return 415;
    }
    ZSTD_DStream *z = ZSTD_createDStream();
    if (!z) { snprintf(msg, msgn, "out of memory"); return 500; }
    ZSTD_inBuffer ib = {in->data, in->len, 0};
    int status = 0;
    size_t last = 1;
    while (!status) {
        if (tk_buf_reserve(out, ZSTD_DStreamOutSize())) { snprintf(msg, msgn, "out of memory"); status = 500; break; }
        ZSTD_outBuffer ob = {out->data + out->len, out->cap - out->len - 1, 0};
        last = ZSTD_decompressStream(z, &ob, &ib);
        if (ZSTD_isError(last)) {
            snprintf(msg, msgn, "zstd body: %s (at input byte %zu of %zu)", ZSTD_getErrorName(last), ib.pos, in->len);
            status = 400;
            break;
        }
        out->len += ob.pos;
        out->data[out->len] = '\0';
        if (out->len > s->cfg.max_decompressed_bytes) {
            snprintf(msg, msgn, "the zstd body decompresses to more than max_decompressed_bytes (%zu bytes)",
                     s->cfg.max_decompressed_bytes);
            status = 413;
            break;
        }
        if (ib.pos == ib.size && ob.pos < ob.size) break; /* all input used, output not full: done */
    }
    ZSTD_freeDStream(z);
    if (!status && last != 0) {
        snprintf(msg, msgn, "zstd body is truncated (the frame does not end)");
        status = 400;
    }
    return status;
}

/* ---- the access handler ----------------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    tk_server *s = cls;
    conn_ctx *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        if (!cx) return MHD_NO;
        *con_cls = cx;
        cx->path = tk_strdup(url);
        if (!cx->path) return MHD_NO;
        cx->route = tk_server_route_match(s, method, cx->path, &cx->match);
        if (!cx->route) {
            if (cx->match.path_known)
                return send_error(c, cx, 405, cx->match.allow, "%s is not allowed on %s (allowed: %s)", method, url,
                                  cx->match.allow);
            return send_error(c, cx, 404, NULL, "no route for %s %s", method, url);
        }
        void *user;
        int flags;
        tk_server_route_handler(cx->route, &user, &flags);
        cx->key = api_key_of(c);
        tk_err e = {0};
        if (!(flags & TK_SERVER_ROUTE_NO_AUTH) && tk_server_auth_check(s->auth, cx->key, &e))
            return send_error(c, cx, 401, NULL, "%s", e.msg);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (!errno && end != cl && n > s->cfg.max_body_bytes)
                return send_error(c, cx, 413, NULL, "request body of %llu bytes is over max_body_bytes (%zu bytes)", n,
                                  s->cfg.max_body_bytes);
        }
        return MHD_YES;
    }
    if (cx->responded) { /* answered early; drop whatever body still arrives */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cx->too_large) {
            if (cx->body.len + *upload_size > s->cfg.max_body_bytes) {
                cx->too_large = true;
                tk_buf_free(&cx->body);
            } else if (tk_buf_append(&cx->body, upload, *upload_size)) {
                *upload_size = 0;
                return send_error(c, cx, 503, NULL, "out of memory reading the request body");
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cx->too_large)
        return send_error(c, cx, 413, NULL, "request body is over max_body_bytes (%zu bytes)", s->cfg.max_body_bytes);

    /* the whole request is here */
    tk_server_req req = {0};
    req.method = method;
    req.path = url;
    req.n_params = cx->match.n_params;
    memcpy(req.params, cx->match.params, sizeof req.params);
    req.body_type = body_type_of(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
    req.accept_proto = accepts_proto(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    req.api_key = cx->key ? cx->key : "";
    req.conn = c;
    tk_buf decoded = {0};
    char msg[512];
    const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    int st = decode_body(s, enc, &cx->body, &decoded, msg, sizeof msg);
    if (st) {
        tk_buf_free(&decoded);
        return send_error(c, cx, st, NULL, "%s %s: %s", method, url, msg);
    }
    const tk_buf *body = (enc && *enc && strcasecmp(enc, "identity")) ? &decoded : &cx->body;
    req.body = body->data ? body->data : "";
    req.body_len = body->len;

    void *user;
    int flags;
    tk_server_handler fn = tk_server_route_handler(cx->route, &user, &flags);
    tk_server_resp resp = {0};
    fn(s, &req, &resp, user);
    tk_buf_free(&decoded);
    tk_buf_free(&cx->body);
    cx->responded = true;
    return send_resp(c, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    conn_ctx *cx = *con_cls;
    if (!cx) return;
    tk_buf_free(&cx->body);
    free(cx->path);
    free(cx);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) TK_PRINTF(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    tk_debug("server: libmicrohttpd: %s", msg);
}

/* ---- start / stop ----------------------------------------------------------------------------- */

int tk_server_http_start(tk_server *s, tk_err *e) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(s->host, NULL, &hints, &ai);
    if (gai || !ai) return tk_err_set(e, TK_EINVAL, "--host %s: cannot resolve: %s", s->host, gai_strerror(gai));
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    int family = ai->ai_family;
    freeaddrinfo(ai);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    char hostpart[INET6_ADDRSTRLEN + 2];
    if (family == AF_INET6) {
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)s->cfg.port);
        flags |= MHD_USE_IPv6;
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, a, sizeof a);
        snprintf(hostpart, sizeof hostpart, "[%s]", strcmp(a, "::") ? a : "::1");
    } else {
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)s->cfg.port);
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, a, sizeof a);
        snprintf(hostpart, sizeof hostpart, "%s", strcmp(a, "0.0.0.0") ? a : "127.0.0.1");
    }
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
                              MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                              MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                              MHD_OPTION_END);
    if (!s->mhd)
        return tk_err_set(e, TK_EIO, "cannot listen on %s port %d (in use, or not an address of this machine?)",
                          s->host, s->cfg.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    snprintf(s->url, sizeof s->url, "http://%s:%d", hostpart, s->port);
    return 0;
}

void tk_server_http_stop(tk_server *s) {
    if (!s->mhd) return;
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
}
