/* Scripted HTTP server for tests (see mockserver.h). */
#include "mockserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct scripted {
    char *route;
    tk_mock_answer a;   /* strings owned */
    struct scripted *next;
} scripted;

typedef struct route_handler {
    char *route;        /* NULL: catch-all */
    tk_mock_handler fn;
    void *user;
    struct route_handler *next;
} route_handler;

struct tk_mock {
    struct MHD_Daemon *d;
    int port;
    char url[64];
    pthread_mutex_t lock;
    pthread_cond_t stop_cv;
    bool stopping;
    scripted *scripts;
    route_handler *handlers;
    TK_VEC(tk_mock_request *) reqs;
};

typedef struct conn_ctx {
    tk_buf body;
} conn_ctx;

/* ---- helpers -------------------------------------------------------------------------------- */

static char *route_key(const char *method, const char *path) {
    tk_buf b = {0};
    if (tk_buf_printf(&b, "%s %s", method, path)) return NULL;
    return b.data;
}

static char *dup_or_null(const char *s) { return s ? tk_strdup(s) : NULL; }

static void answer_copy(tk_mock_answer *dst, const tk_mock_answer *src) {
    *dst = *src;
    size_t n = src->body ? (src->body_len ? src->body_len : strlen(src->body)) : 0;
    char *body = NULL;
    if (src->body) {
        body = malloc(n + 1);
        if (body) {
            memcpy(body, src->body, n);
            body[n] = 0;
        }
    }
    dst->body = body;
    dst->body_len = n;
    dst->content_type = dup_or_null(src->content_type);
    dst->headers = dup_or_null(src->headers);
}

static void answer_free(tk_mock_answer *a) {
    free((void *)a->body);
    free((void *)a->content_type);
    free((void *)a->headers);
}

static void request_free(tk_mock_request *r) {
    if (!r) return;
    free(r->path);
    free(r->query);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->hnames[i]);
        free(r->hvalues[i]);
    }
    free(r->hnames);
    free(r->hvalues);
    free(r->body);
    free(r);
}

const char *tk_mock_req_header(const tk_mock_request *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->hnames[i], name)) return r->hvalues[i];
    return NULL;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    (void)kind;
    tk_mock_request *r = cls;
    char **nn = tk_realloc_array(r->hnames, r->n_headers + 1, sizeof *nn);
    if (!nn) return MHD_NO;
    r->hnames = nn;
    char **nv = tk_realloc_array(r->hvalues, r->n_headers + 1, sizeof *nv);
    if (!nv) return MHD_NO;
    r->hvalues = nv;
    r->hnames[r->n_headers] = tk_strdup(key);
    r->hvalues[r->n_headers] = tk_strdup(value ? value : "");
    r->n_headers++;
    return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value) {
    (void)kind;
    tk_buf *q = cls;
    if (q->len && tk_buf_putc(q, '&')) return MHD_NO;
    if (tk_buf_puts(q, key)) return MHD_NO;
    if (value && tk_buf_printf(q, "=%s", value)) return MHD_NO;
    return MHD_YES;
}

/* Sleep up to ms, returning early when the server stops. */
static void mock_delay(tk_mock *m, int ms) {
    if (ms <= 0) return;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    while (!m->stopping)
        if (pthread_cond_timedwait(&m->stop_cv, &m->lock, &dl) == ETIMEDOUT) break;
    pthread_mutex_unlock(&m->lock);
}

/* The answer for a request: script, route handler, catch-all handler, 404. */
static void choose_answer(tk_mock *m, const tk_mock_request *req, tk_mock_answer *out) {
    char *key = route_key(req->method, req->path);
    pthread_mutex_lock(&m->lock);
    for (scripted **pp = &m->scripts; key && *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->route, key)) {
            scripted *s = *pp;
            *pp = s->next;
            pthread_mutex_unlock(&m->lock);
            *out = s->a;   /* takes the strings */
            free(s->route);
            free(s);
            free(key);
            return;
        }
    }
    route_handler *h = NULL, *any = NULL;
    for (route_handler *r = m->handlers; r; r = r->next) {   /* newest first */
        if (!r->route) {
            if (!any) any = r;
        } else if (!h && key && !strcmp(r->route, key)) {
            h = r;
        }
    }
    if (!h) h = any;
    tk_mock_handler fn = h ? h->fn : NULL;
    void *user = h ? h->user : NULL;
    pthread_mutex_unlock(&m->lock);
    tk_mock_answer tmp = {0};
    tk_buf scratch = {0};
    tk_buf nf = {0};
    if (fn) {
        fn(req, &tmp, &scratch, user);
    } else {
        if (tk_buf_printf(&nf, "{\"detail\":\"no script for %s\"}", key ? key : "?")) {}
        tmp.status = 404;
        tmp.body = nf.data;
    }
    answer_copy(out, &tmp);
    tk_buf_free(&scratch);
    tk_buf_free(&nf);
    free(key);
}

/* Truncation: serve the first half of the body, then report an error so MHD closes. */
typedef struct trunc_state {
    char *body;
    size_t send;
} trunc_state;

static ssize_t trunc_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    trunc_state *t = cls;
    if (pos >= t->send) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = t->send - (size_t)pos;
    if (n > max) n = max;
    memcpy(buf, t->body + pos, n);
    return (ssize_t)n;
}

static void trunc_free(void *cls) {
    trunc_state *t = cls;
    free(t->body);
    free(t);
}

static void add_extra_headers(struct MHD_Response *resp, const char *lines) {
    while (lines && *lines) {
        const char *nl = strchr(lines, '\n');
        size_t n = nl ? (size_t)(nl - lines) : strlen(lines);
        char *line = tk_strndup(lines, n);
        char *colon = line ? strchr(line, ':') : NULL;
        if (colon) {
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ') v++;
            MHD_add_response_header(resp, line, v);
        }
        free(line);
        lines = nl ? nl + 1 : NULL;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    tk_mock *m = cls;
    conn_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx) return MHD_NO;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size) {
        if (tk_buf_append(&ctx->body, upload_data, *upload_size)) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }

    tk_mock_request *req = calloc(1, sizeof *req);
    if (!req) return MHD_NO;
    snprintf(req->method, sizeof req->method, "%s", method);
    req->path = tk_strdup(url);
    tk_buf q = {0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    req->query = q.data ? q.data : tk_strdup("");
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, req);
    req->body_len = ctx->body.len;
    req->body = (unsigned char *)tk_buf_detach(&ctx->body, NULL);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        req->client_port = ntohs(((const struct sockaddr_in *)ci->client_addr)->sin_port);
    req->t_ms = tk_now_ms();
    pthread_mutex_lock(&m->lock);
    req->index = m->reqs.len;
    if (tk_vec_push(&m->reqs, req)) {
        pthread_mutex_unlock(&m->lock);
        request_free(req);
        return MHD_NO;
    }
    pthread_mutex_unlock(&m->lock);

    tk_mock_answer a;
    choose_answer(m, req, &a);
    mock_delay(m, a.delay_ms);
    if (a.action == TK_MOCK_CLOSE) {
        answer_free(&a);
        return MHD_NO;
    }
    struct MHD_Response *resp;
    if (a.action == TK_MOCK_TRUNCATE && a.body_len >= 2) {
        trunc_state *t = calloc(1, sizeof *t);
        if (!t) {
            answer_free(&a);
            return MHD_NO;
        }
        t->body = (char *)a.body;
        t->send = a.body_len / 2;
        a.body = NULL;
        resp = MHD_create_response_from_callback(a.body_len, 64 * 1024, trunc_reader, t,
                                                 trunc_free);
    } else {
        resp = MHD_create_response_from_buffer(a.body_len, (void *)(a.body ? a.body : ""),
                                               MHD_RESPMEM_MUST_COPY);
    }
    if (!resp) {
        answer_free(&a);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            a.content_type ? a.content_type : "application/json");
    add_extra_headers(resp, a.headers);
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)(a.status ? a.status : 200), resp);
    MHD_destroy_response(resp);
    answer_free(&a);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    conn_ctx *ctx = *con_cls;
    if (!ctx) return;
    tk_buf_free(&ctx->body);
    free(ctx);
    *con_cls = NULL;
}

/* ---- public --------------------------------------------------------------------------------- */

int tk_mock_start(const char *cert_pem, const char *key_pem, tk_mock **out, tk_err *e) {
    *out = NULL;
    tk_mock *m = calloc(1, sizeof *m);
    if (!m) return tk_err_set(e, TK_ENOMEM, "tk_mock_start: out of memory");
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (cert_pem) flags |= MHD_USE_TLS;
    if (cert_pem)
        m->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
                                MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_HTTPS_MEM_KEY,
                                key_pem, MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_END);
    else
        m->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
                                MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (!m->d) {
        tk_mock_stop(m);
        return tk_err_set(e, TK_EIO, "tk_mock_start: MHD_start_daemon failed");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    m->port = di ? di->port : 0;
    snprintf(m->url, sizeof m->url, "%s://127.0.0.1:%d", cert_pem ? "https" : "http", m->port);
    *out = m;
    return 0;
}

void tk_mock_stop(tk_mock *m) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_broadcast(&m->stop_cv);
    pthread_mutex_unlock(&m->lock);
    if (m->d) MHD_stop_daemon(m->d);
    while (m->scripts) {
        scripted *s = m->scripts;
        m->scripts = s->next;
        answer_free(&s->a);
        free(s->route);
        free(s);
    }
    while (m->handlers) {
        route_handler *h = m->handlers;
        m->handlers = h->next;
        free(h->route);
        free(h);
    }
    for (size_t i = 0; i < m->reqs.len; i++) request_free(m->reqs.data[i]);
    tk_vec_free(&m->reqs);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->stop_cv);
    free(m);
}

int tk_mock_port(const tk_mock *m) { return m->port; }
const char *tk_mock_url(const tk_mock *m) { return m->url; }

void tk_mock_push(tk_mock *m, const char *method, const char *path, const tk_mock_answer *a) {
    scripted *s = calloc(1, sizeof *s);
    if (!s) return;
    s->route = route_key(method, path);
    answer_copy(&s->a, a);
    pthread_mutex_lock(&m->lock);
    scripted **pp = &m->scripts;
    while (*pp) pp = &(*pp)->next;
    *pp = s;
    pthread_mutex_unlock(&m->lock);
}

void tk_mock_push_json(tk_mock *m, const char *method, const char *path, int status,
                       const char *json) {
    tk_mock_answer a = {.status = status, .body = json};
    tk_mock_push(m, method, path, &a);
}

void tk_mock_set_handler(tk_mock *m, const char *method, const char *path, tk_mock_handler fn,
                         void *user) {
    route_handler *h = calloc(1, sizeof *h);
    if (!h) return;
    h->route = path ? route_key(method, path) : NULL;
    h->fn = fn;
    h->user = user;
    pthread_mutex_lock(&m->lock);
    h->next = m->handlers;
    m->handlers = h;
    pthread_mutex_unlock(&m->lock);
}

size_t tk_mock_count(tk_mock *m, const char *method, const char *path) {
    size_t n = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->reqs.len; i++) {
        const tk_mock_request *r = m->reqs.data[i];
        if ((!method || !strcmp(r->method, method)) && (!path || !strcmp(r->path, path))) n++;
    }
    pthread_mutex_unlock(&m->lock);
    return n;
}

const tk_mock_request *tk_mock_get(tk_mock *m, size_t i) {
    pthread_mutex_lock(&m->lock);
    const tk_mock_request *r = i < m->reqs.len ? m->reqs.data[i] : NULL;
    pthread_mutex_unlock(&m->lock);
    return r;
}

const tk_mock_request *tk_mock_get_route(tk_mock *m, const char *method, const char *path,
                                         size_t i) {
    const tk_mock_request *found = NULL;
    pthread_mutex_lock(&m->lock);
    for (size_t k = 0; k < m->reqs.len && !found; k++) {
        const tk_mock_request *r = m->reqs.data[k];
        if ((!method || !strcmp(r->method, method)) && (!path || !strcmp(r->path, path))) {
            if (i == 0) found = r;
            else i--;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return found;
}
