/* One HTTP attempt: a libcurl easy handle configured for the op, with the response collected
 * into op->resp and op->rhdrs.
 *
 * Note: when a REUSED keep-alive connection turns out to be dead before any byte of the answer
 * arrives, libcurl resends the request once on a new connection by itself. The resend carries
 * the same bytes and the same idempotency key, so to a server it is just a layer-1 retry. */
#include "internal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    tk_op *op = ud;
    size_t len = size * n;
    if (op->resp.body.len + len > op->c->cfg.max_response_bytes) {
        op->oversize = true;
        return 0;   /* libcurl aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (tk_buf_append(&op->resp.body, p, len)) return 0;
    return len;
}

void tk_attempt_clear_headers(tk_op *op) {
    for (size_t i = 0; i < op->rhdrs.len; i++) {
        free(op->rhdrs.data[i].name);
        free(op->rhdrs.data[i].value);
    }
    op->rhdrs.len = 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    tk_op *op = ud;
    size_t len = size * n;
    if (len >= 5 && !memcmp(p, "HTTP/", 5)) {   /* a new status line: 1xx or a new answer */
        tk_attempt_clear_headers(op);
        op->headers_done = false;
        return len;
    }
    if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {   /* the blank line ending the head */
        op->headers_done = true;
        /* size the body buffer once from Content-Length instead of growing it step by step */
        curl_off_t cl = -1;
        if (op->easy && !curl_easy_getinfo(op->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) &&
            cl > 0 && (uint64_t)cl <= op->c->cfg.max_response_bytes && op->resp.body.len == 0 &&
            tk_buf_reserve(&op->resp.body, (size_t)cl + 1)) {
            return 0;
        }
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon) return len;   /* the blank line, or junk */
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen && isspace((unsigned char)*v)) { v++; vlen--; }
    while (vlen && isspace((unsigned char)v[vlen - 1])) vlen--;
    tk_client_header h = {tk_strndup(p, nlen), tk_strndup(v, vlen)};
    if (!h.name || !h.value || tk_vec_push(&op->rhdrs, h)) {
        free(h.name);
        free(h.value);
        return 0;
    }
    return len;
}

const char *tk_attempt_header(const tk_op *op, const char *name) {
    for (size_t i = 0; i < op->rhdrs.len; i++)
        if (!strcasecmp(op->rhdrs.data[i].name, name)) return op->rhdrs.data[i].value;
    return NULL;
}

bool tk_curl_code_timeout(CURLcode cc) { return cc == CURLE_OPERATION_TIMEDOUT; }

/* Errors that another attempt cannot fix. Everything else (refused, reset, empty reply, partial
 * body, DNS, TLS handshake trouble, timeouts) counts as a connection error, as httpx's does. */
bool tk_curl_code_retryable(CURLcode cc) {
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_WRITE_ERROR:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_FUNCTION_NOT_FOUND:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return false;
    default:
        return true;
    }
}

static int hdr(struct curl_slist **l, const char *fmt, ...) TK_PRINTF(2, 3);
static int hdr(struct curl_slist **l, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) return TK_EINVAL;
    struct curl_slist *nl = curl_slist_append(*l, line);
    if (!nl) return TK_ENOMEM;
    *l = nl;
    return 0;
}

static int build_headers(tk_op *op, bool poll, double timeout_s) {
    tk_client *c = op->c;
    struct curl_slist *l = NULL;
    int rc = 0;
    for (struct curl_slist *s = c->common; s && !rc; s = s->next) {
        if (op->foreign_url && !poll &&
            (!strncasecmp(s->data, "X-API-Key:", 10) || !strncasecmp(s->data, "CF-Access-", 10)))
            continue;   /* never hand credentials to another host (a signed download URL) */
        struct curl_slist *nl = curl_slist_append(l, s->data);
        if (!nl) rc = TK_ENOMEM;
        else l = nl;
    }
    bool has_body = poll || op->body_len > 0 || !strcmp(op->method, "POST");
    const char *ctype = poll ? "application/json" : op->content_type;
    const char *accept = poll ? op->poll_accept : op->accept;
    if (!rc && has_body) rc = hdr(&l, "Content-Type: %s", ctype);
    if (!rc) rc = hdr(&l, "Accept: %s", accept);
    if (!rc && !poll && op->zstd) rc = hdr(&l, "Content-Encoding: zstd");
    if (!rc && (poll || op->send_idem_key)) rc = hdr(&l, "X-Idempotency-Key: %s", op->idem);
    if (!rc) rc = hdr(&l, "x-stainless-retry-count: %d", poll ? 0 : op->req_retry);
    if (!rc) rc = hdr(&l, "x-stainless-read-timeout: %g", timeout_s);
    if (!rc && !poll && op->backpressure) rc = hdr(&l, "X-Tinker-Sampling-Backpressure: 1");
    if (poll) {
        if (!rc) rc = hdr(&l, "X-Tinker-Request-Iteration: %d", op->poll_iter);
        if (!rc && op->request_type) rc = hdr(&l, "X-Tinker-Request-Type: %s", op->request_type);
        if (!rc && op->poll_iter == 0)
            rc = hdr(&l, "X-Tinker-Create-Promise-Roundtrip-Time: %.6f", op->submit_rtt_s);
    } else {
        for (struct curl_slist *s = op->extra; s && !rc; s = s->next) {
            struct curl_slist *nl = curl_slist_append(l, s->data);
            if (!nl) rc = TK_ENOMEM;
            else l = nl;
        }
    }
    if (rc) {
        curl_slist_free_all(l);
        return rc;
    }
    op->hdrs = l;
    return 0;
}

int tk_attempt_setup(tk_op *op, bool poll, const void *body, size_t body_len, double timeout_s,
                     tk_err *e) {
    tk_client *c = op->c;
    tk_response_free(&op->resp);
    tk_attempt_clear_headers(op);
    op->oversize = false;
    op->headers_done = false;
    op->curl_err[0] = 0;
    CURL *h = curl_easy_init();
    if (!h) return tk_err_set(e, TK_ENOMEM, "curl_easy_init failed");
    if (build_headers(op, poll, timeout_s)) {
        curl_easy_cleanup(h);
        return tk_err_set(e, TK_ENOMEM, "%s: cannot build the request headers", op->path);
    }
    long timeout_ms = (long)(timeout_s * 1000.0);
    if (timeout_ms < 1) timeout_ms = 1;
    long connect_ms = (long)(c->cfg.connect_timeout_s * 1000.0);
    if (connect_ms > timeout_ms) connect_ms = timeout_ms;
    if (connect_ms < 1) connect_ms = 1;
    tk_buf url = {0};
    if (poll ? tk_buf_printf(&url, "%s/api/v1/retrieve_future", c->cfg.base_url)
             : tk_buf_puts(&url, op->url)) {
        curl_slist_free_all(op->hdrs);
        op->hdrs = NULL;
        curl_easy_cleanup(h);
        return tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    tk_buf_free(&url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)op);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, op);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, op);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, op->curl_err);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024L);
    if (c->cfg.ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
    if (op->fresh_connect) {
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        op->fresh_connect = false;
    }
    if (poll) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
    } else if (!strcmp(op->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(op->method, "POST")) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, op->method);
        if (body_len > 0 || !strcmp(op->method, "POST")) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_len ? body : "");
        }
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, op->hdrs);
    CURLMcode mc = curl_multi_add_handle(c->multi, h);
    if (mc != CURLM_OK) {
        curl_slist_free_all(op->hdrs);
        op->hdrs = NULL;
        curl_easy_cleanup(h);
        return tk_err_set(e, TK_EINTERNAL, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
    op->easy = h;
    op->attempt_start_ms = tk_now_ms();
    return 0;
}

void tk_op_release_transfer(tk_op *op) {
    if (op->easy) {
        curl_multi_remove_handle(op->c->multi, op->easy);
        curl_easy_cleanup(op->easy);
        op->easy = NULL;
    }
    curl_slist_free_all(op->hdrs);
    op->hdrs = NULL;
}

void tk_attempt_finish_response(tk_op *op) {
    long status = 0;
    if (op->easy) curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &status);
    op->resp.status = status;
    op->resp.headers = op->rhdrs.data;
    op->resp.n_headers = op->rhdrs.len;
    op->rhdrs.data = NULL;
    op->rhdrs.len = op->rhdrs.cap = 0;
    op->resp.content_type = tk_client_response_header(&op->resp, "Content-Type");
}
