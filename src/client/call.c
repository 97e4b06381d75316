/* Calls: the submit request with the request layer (layer 1) and execute_with_retries (layer 2)
 * of reference/tinker-protocol.md §8.1, sampling back-pressure, 402 billing pauses, the overall
 * deadline, ordered lanes (§8.4), cancellation and shutdown. The polling half lives in poll.c.
 * Everything below runs on the I/O thread except tk_op_new and the public entry points. */
#include "internal.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <zstd.h>

#include "retry_policy.h"

static void lane_leave(tk_op *op);
static void lane_pump(tk_client_lane *lane);
static void lane_unref(tk_client_lane *lane);

static void new_idempotency_key(tk_op *op) {
    char u[37];
    tk_uuid4(u);
    snprintf(op->idem, sizeof op->idem, "tinkerc-retry-%s", u);
}

double tk_op_remaining_s(const tk_op *op) {
    if (!op->deadline_ms) return 1e300;
    return (double)(op->deadline_ms - tk_now_ms()) / 1000.0;
}

/* ---- creation (caller's thread) -------------------------------------------------------------- */

static bool valid_method(const char *m) {
    return !strcmp(m, "GET") || !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

static int check_token(const char *what, const char *s, tk_err *e) {
    for (const char *p = s; *p; p++)
        if (*p == '\r' || *p == '\n')
            return tk_err_set(e, TK_EINVAL, "tk_client_call_spec.%s: contains a line break", what);
    return 0;
}

static int compress_body(tk_op *op, tk_err *e) {
    size_t cap = ZSTD_compressBound(op->raw_body_len);
    void *out = malloc(cap ? cap : 1);
    if (!out) return tk_err_set(e, TK_ENOMEM, "%s: out of memory compressing the body", op->path);
    size_t n = ZSTD_compress(out, cap, op->body, op->raw_body_len, 3);
    if (ZSTD_isError(n)) {
        free(out);
        return tk_err_set(e, TK_EINTERNAL, "%s: zstd: %s", op->path, ZSTD_getErrorName(n));
    }
    free(op->body);
    op->body = out;
    op->body_len = n;
    return 0;
}

int tk_op_new(tk_client *c, const tk_client_call_spec *s, tk_op **out, tk_err *e) {
    *out = NULL;
    void *given = s->give_body ? (void *)s->body : NULL;
    const char *method = s->method ? s->method : "POST";
    int rc = 0;
    if (!valid_method(method))
        rc = tk_err_set(e, TK_EINVAL, "tk_client_call_spec.method \"%.16s\": expected GET, POST, "
                        "PUT or DELETE", method);
    else if (!s->path || s->path[0] != '/')
        rc = tk_err_set(e, TK_EINVAL, "tk_client_call_spec.path: must start with '/'");
    else if (s->url && strncasecmp(s->url, "http://", 7) && strncasecmp(s->url, "https://", 8))
        rc = tk_err_set(e, TK_EINVAL, "tk_client_call_spec.url: must start with http:// or "
                        "https://");
    else if (s->url && s->is_future)
        rc = tk_err_set(e, TK_EINVAL, "%s: a future call cannot use an absolute url", s->path);
    else if (s->body_len && !s->body)
        rc = tk_err_set(e, TK_EINVAL, "tk_client_call_spec.body: NULL with body_len %zu",
                        s->body_len);
    else if (!strcmp(method, "GET") && s->body_len)
        rc = tk_err_set(e, TK_EINVAL, "%s: a GET request cannot carry a body", s->path);
    else if (s->is_future && strcmp(method, "POST"))
        rc = tk_err_set(e, TK_EINVAL, "%s: a future call must be a POST", s->path);
    else if (s->resubmit_on_expired && s->lane)
        rc = tk_err_set(e, TK_EINVAL, "%s: resubmit_on_expired cannot be used in a lane", s->path);
    else if (!(s->timeout_s >= 0) || !(s->deadline_s >= 0))
        rc = tk_err_set(e, TK_EINVAL, "%s: timeout_s and deadline_s must be >= 0", s->path);
    else if (s->max_retries < TK_CLIENT_NO_RETRIES || s->max_retries > 1000)
        rc = tk_err_set(e, TK_EINVAL, "%s: max_retries %d out of range", s->path, s->max_retries);
    if (!rc) rc = check_token("path", s->path, e);
    if (!rc && s->url) rc = check_token("url", s->url, e);
    if (!rc && s->content_type) rc = check_token("content_type", s->content_type, e);
    if (!rc && s->accept) rc = check_token("accept", s->accept, e);
    if (!rc && s->poll_accept) rc = check_token("poll_accept", s->poll_accept, e);
    if (!rc && s->request_type) rc = check_token("request_type", s->request_type, e);
    for (const char *const *h = s->headers; !rc && h && *h; h++) {
        rc = check_token("headers", *h, e);
        if (!rc && (!strchr(*h, ':') || **h == ':'))
            rc = tk_err_set(e, TK_EINVAL, "tk_client_call_spec.headers: \"%.60s\" is not "
                            "\"Name: value\"", *h);
    }
    if (rc) {
        free(given);
        return rc;
    }

    tk_op *op = calloc(1, sizeof *op);
    if (!op) {
        free(given);
        return tk_err_set(e, TK_ENOMEM, "tk_client_call: out of memory");
    }
    op->c = c;
    snprintf(op->method, sizeof op->method, "%s", method);
    op->action_timer.owner = op->deadline_timer.owner = op;
    op->path = tk_strdup(s->path);
    tk_buf url = {0};
    bool oom = !op->path || (s->url ? tk_buf_puts(&url, s->url)
                                    : tk_buf_printf(&url, "%s%s", c->cfg.base_url, s->path));
    if (s->url) {   /* under the base URL means base + "/" or base + "?" (or equal) */
        size_t bl = strlen(c->cfg.base_url);
        op->foreign_url = strncmp(s->url, c->cfg.base_url, bl) ||
                          (s->url[bl] && s->url[bl] != '/' && s->url[bl] != '?');
    }
    op->accept_redirect = s->accept_redirect;
    op->url = url.data;
    if (s->body_len) {
        if (given) {
            op->body = given;
            given = NULL;
        } else if ((op->body = malloc(s->body_len))) {
            memcpy(op->body, s->body, s->body_len);
        } else {
            oom = true;
        }
    }
    free(given);
    op->body_len = op->raw_body_len = s->body_len;
    op->zstd = s->zstd && s->body_len > 0;
    op->content_type = tk_strdup(s->content_type ? s->content_type : "application/json");
    op->accept = tk_strdup(s->accept ? s->accept : "application/json");
    op->poll_accept = tk_strdup(s->poll_accept ? s->poll_accept : "application/json");
    op->request_type = s->request_type ? tk_strdup(s->request_type) : NULL;
    oom = oom || !op->content_type || !op->accept || !op->poll_accept ||
          (s->request_type && !op->request_type);
    for (const char *const *h = s->headers; !oom && h && *h; h++) {
        struct curl_slist *nl = curl_slist_append(op->extra, *h);
        if (!nl) oom = true;
        else op->extra = nl;
    }
    if (oom) {
        tk_op_free(op);
        return tk_err_set(e, TK_ENOMEM, "tk_client_call: out of memory");
    }
    if (op->zstd && (rc = compress_body(op, e))) {
        tk_op_free(op);
        return rc;
    }
    op->max_retries = s->max_retries == 0 ? c->cfg.max_retries
                      : s->max_retries < 0 ? 0 : s->max_retries;
    op->exec_retries = s->exec_retries;
    op->send_idem_key = strcmp(op->method, "GET") && !s->no_idempotency_key;
    op->backpressure = s->sampling_backpressure;
    op->is_future = s->is_future;
    op->resubmit_expired = s->resubmit_on_expired;
    op->rebody = s->rebody;
    op->rebody_user = s->rebody_user;
    op->timeout_s = s->timeout_s > 0 ? s->timeout_s : c->cfg.request_timeout_s;
    if (s->deadline_s > 0) op->deadline_ms = tk_now_ms() + (int64_t)(s->deadline_s * 1000.0);
    op->lane = s->lane;
    *out = op;
    return 0;
}

void tk_op_free(tk_op *op) {
    tk_client *c = op->c;
    if (op->linked) {
        if (op->prev) op->prev->next = op->next;
        else c->ops = op->next;
        if (op->next) op->next->prev = op->prev;
    }
    tk_ctimer_disarm(&c->timers, &op->action_timer);
    tk_ctimer_disarm(&c->timers, &op->deadline_timer);
    tk_op_release_transfer(op);
    if (op->lane) {
        lane_leave(op);
        lane_unref(op->lane);
    }
    if (op->f) {
        op->f->op = NULL;
        tk_client_future_release(op->f);
    }
    tk_response_free(&op->resp);
    tk_attempt_clear_headers(op);
    tk_vec_free(&op->rhdrs);
    curl_slist_free_all(op->extra);
    free(op->path);
    free(op->url);
    free(op->body);
    free(op->content_type);
    free(op->accept);
    free(op->poll_accept);
    free(op->request_type);
    free(op->request_id);
    free(op);
}

/* ---- settling -------------------------------------------------------------------------------- */

void tk_op_finish_ok(tk_op *op) {
    op->phase = TK_PHASE_DONE;
    tk_client_emit(op->c, TK_CLIENT_EV_DONE, op, "ok", 0, op->attempts, op->resp.status);
    if (op->f) {
        if (tk_fut_settle_ok(op->f, &op->resp)) tk_fut_run_callbacks(op->f);
    } else if (op->internal_done) {
        op->internal_done(op, 0, &op->resp);
    }
    tk_op_free(op);
}

static void finish_failed_v(tk_op *op, int rc, tk_client_fail_kind kind, const char *fmt,
                            va_list ap) {
    op->phase = TK_PHASE_DONE;
    tk_err err = {0};
    tk_err_setv(&err, rc, fmt, ap);
    tk_client_emit(op->c, TK_CLIENT_EV_DONE, op, err.msg, 0, op->attempts, op->last_status);
    if (op->f) {
        tk_client_failure fail = {
            .kind = kind, .http_status = op->last_status, .attempts = op->attempts};
        snprintf(fail.category, sizeof fail.category, "%s", op->category);
        if (tk_fut_settle_failed(op->f, rc, &err, &fail)) tk_fut_run_callbacks(op->f);
    } else if (op->internal_done) {
        op->internal_done(op, rc, NULL);
    }
    tk_op_free(op);
}

void tk_op_finish_failed(tk_op *op, int rc, tk_client_fail_kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    finish_failed_v(op, rc, kind, fmt, ap);
    va_end(ap);
}

/* ---- timers ---------------------------------------------------------------------------------- */

static void begin_submit(tk_op *op) {
    op->phase = TK_PHASE_SUBMIT;
    tk_op_begin_attempt(op, false);
}

static void on_action_timer(tk_ctimer *t, void *owner) {
    (void)t;
    tk_op *op = owner;
    int next = op->next_action;
    op->next_action = TK_NEXT_NONE;
    if (next == TK_NEXT_SUBMIT) begin_submit(op);
    else if (next == TK_NEXT_POLL) tk_poll_attempt(op);
}

static void on_deadline_timer(tk_ctimer *t, void *owner) {
    (void)t;
    tk_op *op = owner;
    tk_op_release_transfer(op);
    tk_op_finish_failed(op, TK_ETIMEOUT, TK_CLIENT_FAIL_DEADLINE,
                        "%s %s: the call's deadline passed after %d attempt%s%s%s", op->method,
                        op->path, op->attempts, op->attempts == 1 ? "" : "s",
                        op->last_err.msg[0] ? "; last problem: " : "", op->last_err.msg);
}

void tk_op_schedule(tk_op *op, int next_action, double delay_s) {
    op->next_action = next_action;
    op->action_timer.fire = on_action_timer;
    if (tk_ctimer_arm(&op->c->timers, &op->action_timer,
                      tk_now_ms() + tk_client_scaled_ms(op->c, delay_s)))
        tk_op_finish_failed(op, TK_ENOMEM, TK_CLIENT_FAIL_LOCAL, "%s: out of memory (timer)",
                            op->path);
}

/* ---- attempts -------------------------------------------------------------------------------- */

void tk_op_begin_attempt(tk_op *op, bool poll) {
    double remaining = tk_op_remaining_s(op);
    if (remaining <= 0) {
        on_deadline_timer(&op->deadline_timer, op);
        return;
    }
    double timeout = poll ? op->c->cfg.poll_timeout_s : op->timeout_s;
    if (timeout > remaining) timeout = remaining;
    tk_err e = {0};
    int rc;
    if (poll) {
        json_t *j = json_pack("{s:s, s:b}", "request_id", op->request_id, "allow_metadata_only",
                              op->allow_meta);
        tk_buf body = {0};
        rc = (!j || tk_json_dump(j, &body)) ? tk_err_set(&e, TK_ENOMEM, "out of memory") : 0;
        json_decref(j);
        new_idempotency_key(op);
        if (!rc) rc = tk_attempt_setup(op, true, body.data, body.len, timeout, &e);
        tk_buf_free(&body);
    } else {
        rc = tk_attempt_setup(op, false, op->body, op->body_len, timeout, &e);
    }
    if (rc) {
        tk_op_finish_failed(op, rc, TK_CLIENT_FAIL_LOCAL, "%s %s: %s", op->method, op->path,
                            e.msg);
        return;
    }
    op->attempts++;
    tk_client_emit(op->c, TK_CLIENT_EV_ATTEMPT, op, poll ? "poll" : "submit", 0,
                   poll ? op->poll_iter : op->req_retry, 0);
}

/* ---- the submit's answer: layers 1 and 2 ----------------------------------------------------- */

static void set_last_err(tk_op *op, const char *fmt, ...) TK_PRINTF(2, 3);
static void set_last_err(tk_op *op, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tk_err_setv(&op->last_err, TK_EHTTP, fmt, ap);
    va_end(ap);
}

/* A short, printable excerpt of the body for messages. */
static void body_excerpt(const tk_client_response *r, char *out, size_t size) {
    size_t n = r->body.len < size - 1 ? r->body.len : size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)r->body.data[i];
        out[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '.';
    }
    out[n] = 0;
}

/* Layer 2: execute_with_retries. Reached when layer 1 gave up on a retryable problem. */
static void retry_exec_layer(tk_op *op, long status) {
    tk_client *c = op->c;
    bool retryable = status == 0 || tk_client_status_retryable(status);
    double elapsed = (double)(tk_now_ms() - op->exec_start_ms) / 1000.0;
    if (op->exec_retries && retryable && elapsed < c->cfg.exec_retry_budget_s) {
        double delay = tk_client_exec_backoff_s(op->exec_retry);
        tk_client_emit(c, TK_CLIENT_EV_RETRY_EXEC, op, op->last_err.msg, delay, op->exec_retry,
                       status);
        op->exec_retry++;
        op->req_retry = 0;
        new_idempotency_key(op);   /* a fresh call: new key, same body (same seq_id) */
        tk_op_schedule(op, TK_NEXT_SUBMIT, delay);
        return;
    }
    tk_op_finish_failed(op, status ? TK_EHTTP : TK_ENET,
                        status ? TK_CLIENT_FAIL_HTTP : TK_CLIENT_FAIL_NETWORK,
                        "%s %s: gave up after %d attempt%s: %s", op->method, op->path,
                        op->attempts, op->attempts == 1 ? "" : "s", op->last_err.msg);
}

/* Layer 1: the request layer, same idempotency key. retry_after_s < 0: none given. */
static void retry_request_layer(tk_op *op, long status, double retry_after_s) {
    if (op->req_retry < op->max_retries) {
        double u = tk_rng_f64(&op->c->rng);
        double delay = retry_after_s > 0 ? retry_after_s
                                         : tk_client_request_backoff_s(op->req_retry, u);
        tk_client_emit(op->c, TK_CLIENT_EV_RETRY_REQUEST, op, op->last_err.msg, delay,
                       op->req_retry, status);
        op->req_retry++;
        tk_op_schedule(op, TK_NEXT_SUBMIT, delay);
        return;
    }
    retry_exec_layer(op, status);
}

static void billing_pause(tk_op *op, int next_action) {
    tk_client *c = op->c;
    int64_t now = tk_now_ms();
    if (!op->billing_start_ms) op->billing_start_ms = now;
    double paused = (double)(now - op->billing_start_ms) / 1000.0;
    if (paused >= c->cfg.billing_max_pause_s) {
        tk_op_finish_failed(op, TK_EHTTP, TK_CLIENT_FAIL_BILLING,
                            "%s %s: HTTP 402 (billing) for %.0f s, longer than the %.0f s pause "
                            "allowed", op->method, op->path, paused, c->cfg.billing_max_pause_s);
        return;
    }
    if (paused == 0) tk_info("%s: HTTP 402 (billing): pausing up to %g s", op->path,
                             c->cfg.billing_max_pause_s);
    tk_client_emit(c, TK_CLIENT_EV_BILLING_PAUSE, op, "HTTP 402", TK_CLIENT_BILLING_PAUSE_S, 0,
                   402);
    if (next_action == TK_NEXT_SUBMIT) {
        op->req_retry = 0;
        new_idempotency_key(op);
    }
    tk_op_schedule(op, next_action, TK_CLIENT_BILLING_PAUSE_S);
}

static void submit_succeeded(tk_op *op) {
    op->billing_start_ms = 0;
    if (!op->is_future) {
        lane_leave(op);
        tk_op_finish_ok(op);
        return;
    }
    json_t *j = NULL;
    tk_err e = {0};
    const char *rid = NULL;
    int rc = tk_json_parse(op->resp.body.data ? op->resp.body.data : "", op->resp.body.len,
                           "submit answer", &j, &e);
    if (!rc && !json_is_object(j))
        rc = tk_err_set(&e, TK_EPARSE, "expected an object, got %s", tk_json_type_name(j));
    if (!rc) rc = tk_json_get_str(j, "request_id", "", &rid, &e);
    if (!rc && !*rid) rc = tk_err_set(&e, TK_EPARSE, "request_id: empty");
    if (!rc) {
        free(op->request_id);
        op->request_id = tk_strdup(rid);
        if (!op->request_id) rc = tk_err_set(&e, TK_ENOMEM, "out of memory");
    }
    json_decref(j);
    lane_leave(op);
    if (rc) {
        tk_op_finish_failed(op, rc == TK_ENOMEM ? TK_ENOMEM : TK_EPARSE, TK_CLIENT_FAIL_PROTOCOL,
                            "%s %s: the answer is not a future: %s", op->method, op->path, e.msg);
        return;
    }
    if (op->f) tk_fut_set_request_id(op->f, op->request_id);
    if (op->cancelled) {   /* the caller gave up; the submit was only sent to keep the lane whole */
        tk_op_free(op);
        return;
    }
    op->submit_rtt_s = (double)(tk_now_ms() - op->attempt_start_ms) / 1000.0;
    tk_poll_start(op);
}

static void submit_answer(tk_op *op, CURLcode cc) {
    tk_client *c = op->c;
    if (op->oversize) {
        tk_op_finish_failed(op, TK_ENOMEM, TK_CLIENT_FAIL_PROTOCOL,
                            "%s %s: the answer is larger than max_response_bytes (%zu)",
                            op->method, op->path, c->cfg.max_response_bytes);
        return;
    }
    if (cc != CURLE_OK) {
        const char *detail = op->curl_err[0] ? op->curl_err : curl_easy_strerror(cc);
        if (!tk_curl_code_retryable(cc)) {
            tk_op_finish_failed(op, cc == CURLE_OUT_OF_MEMORY ? TK_ENOMEM : TK_ENET,
                                TK_CLIENT_FAIL_NETWORK, "%s %s: %s", op->method, op->path,
                                detail);
            return;
        }
        set_last_err(op, "%s: %s", tk_curl_code_timeout(cc) ? "timeout" : "connection error",
                     detail);
        op->last_status = 0;
        retry_request_layer(op, 0, -1);
        return;
    }
    long status = op->resp.status;
    op->last_status = status;
    if ((status >= 200 && status < 300) ||
        (op->accept_redirect && status >= 300 && status < 400)) {
        if (c->empty400_budget < TK_CLIENT_EMPTY_400_BUDGET) c->empty400_budget++;
        submit_succeeded(op);
        return;
    }
    char excerpt[200];
    body_excerpt(&op->resp, excerpt, sizeof excerpt);
    if (status == 429 && op->backpressure) {
        double delay = tk_client_backpressure_delay_s(op->raw_body_len);
        op->n_backpressure++;
        set_last_err(op, "HTTP 429 (sampling back-pressure)");
        tk_client_emit(c, TK_CLIENT_EV_BACKPRESSURE, op, "HTTP 429", delay, op->n_backpressure,
                       429);
        op->req_retry = 0;
        new_idempotency_key(op);
        tk_op_schedule(op, TK_NEXT_SUBMIT, delay);
        return;
    }
    if (status == 400 && op->resp.body.len == 0 && c->empty400_budget > 0) {
        /* a Cloudflare-style rejection: treat as a connection error on a new connection */
        c->empty400_budget--;
        op->fresh_connect = true;
        set_last_err(op, "HTTP 400 with an empty body (treated as a connection error)");
        retry_request_layer(op, 0, -1);
        return;
    }
    set_last_err(op, "HTTP %ld: %s", status, excerpt);
    int should = tk_client_should_retry_header(tk_client_response_header(&op->resp,
                                                                         "x-should-retry"));
    bool retry1 = should == 1 || (should == -1 && tk_client_status_retryable(status));
    if (retry1) {
        double ra = tk_client_retry_after_s(tk_client_response_header(&op->resp, "retry-after-ms"),
                                            tk_client_response_header(&op->resp, "retry-after"),
                                            tk_wall_s());
        retry_request_layer(op, status, ra);
        return;
    }
    if (tk_client_status_retryable(status)) {   /* x-should-retry: false; layer 2 may still */
        retry_exec_layer(op, status);
        return;
    }
    if (status == 402 && op->exec_retries) {
        billing_pause(op, TK_NEXT_SUBMIT);
        return;
    }
    lane_leave(op);
    tk_op_finish_failed(op, TK_EHTTP, TK_CLIENT_FAIL_HTTP, "%s %s: HTTP %ld: %s", op->method,
                        op->path, status, excerpt);
}

void tk_op_transfer_done(tk_op *op, CURLcode cc) {
    /* libcurl accepts a connection that closes in the middle of the response headers as an
     * answer without a body; for us that is a broken connection like any other. */
    if (cc == CURLE_OK && !op->headers_done) {
        cc = CURLE_RECV_ERROR;
        snprintf(op->curl_err, sizeof op->curl_err, "the connection closed inside the "
                 "response headers");
    }
    tk_attempt_finish_response(op);
    tk_op_release_transfer(op);
    if (op->phase == TK_PHASE_POLL) tk_poll_answer(op, cc);
    else submit_answer(op, cc);
}

/* Used by poll.c for 402 on retrieve_future. */
void tk_op_billing_pause_poll(tk_op *op) { billing_pause(op, TK_NEXT_POLL); }

/* Used by poll.c for 410: submit the whole call again (the sampling RetryHandler). */
void tk_op_resubmit(tk_op *op) {
    tk_client *c = op->c;
    int k = op->n_resubmit++;
    if (op->rebody) {
        void *body = op->body;
        size_t len = op->raw_body_len;
        bool zstd_body = op->zstd;
        tk_err e = {0};
        if (zstd_body) {   /* the hook sees the caller's bytes, not the compressed ones */
            tk_op_finish_failed(op, TK_EUNSUPPORTED, TK_CLIENT_FAIL_LOCAL,
                                "%s: rebody cannot be combined with zstd bodies", op->path);
            return;
        }
        int rc = op->rebody(op->rebody_user, op->n_resubmit, &body, &len, &e);
        if (rc) {
            tk_op_finish_failed(op, rc, TK_CLIENT_FAIL_LOCAL, "%s: rebody: %s", op->path, e.msg);
            return;
        }
        if (body != op->body) {
            free(op->body);
            op->body = body;
        }
        op->body_len = op->raw_body_len = len;
    }
    double delay = tk_client_resubmit_backoff_s(k, tk_rng_f64(&c->rng));
    tk_client_emit(c, TK_CLIENT_EV_RESUBMIT, op, "HTTP 410 from retrieve_future", delay, k, 410);
    free(op->request_id);
    op->request_id = NULL;
    op->req_retry = op->exec_retry = 0;
    op->exec_start_ms = tk_now_ms() + tk_client_scaled_ms(c, delay);
    op->billing_start_ms = 0;
    new_idempotency_key(op);
    op->phase = TK_PHASE_SUBMIT;
    tk_op_schedule(op, TK_NEXT_SUBMIT, delay);
}

/* ---- starting, lanes ------------------------------------------------------------------------- */

static void link_op(tk_op *op) {
    tk_client *c = op->c;
    op->linked = true;
    op->next = c->ops;
    if (c->ops) c->ops->prev = op;
    c->ops = op;
    if (op->f) op->f->op = op;
    op->exec_start_ms = tk_now_ms();
    new_idempotency_key(op);
    if (op->deadline_ms) {
        op->deadline_timer.fire = on_deadline_timer;
        if (tk_ctimer_arm(&c->timers, &op->deadline_timer, op->deadline_ms)) op->deadline_ms = 0;
    }
}

void tk_op_start(tk_op *op) {
    link_op(op);
    begin_submit(op);
}

static void lane_unref(tk_client_lane *lane) {
    if (atomic_fetch_sub(&lane->refs, 1) != 1) return;
    while (lane->head) {
        tk_lane_unit *u = lane->head;
        lane->head = u->next;
        free(u->ops);
        free(u);
    }
    if (lane->active) {   /* cannot happen: an active unit has live ops holding references */
        free(lane->active->ops);
        free(lane->active);
    }
    free(lane);
}

void tk_op_start_group(tk_op **ops, size_t n) {
    tk_client_lane *lane = ops[0]->lane;
    for (size_t i = 0; i < n; i++) link_op(ops[i]);
    tk_lane_unit *u = calloc(1, sizeof *u);
    tk_op **copy = tk_malloc_array(n, sizeof *copy);
    if (!u || !copy) {
        free(u);
        free(copy);
        for (size_t i = 0; i < n; i++)
            tk_op_finish_failed(ops[i], TK_ENOMEM, TK_CLIENT_FAIL_LOCAL,
                                "%s: out of memory (lane)", ops[i]->path);
        return;
    }
    memcpy(copy, ops, n * sizeof *copy);
    u->ops = copy;
    u->n = n;
    for (size_t i = 0; i < n; i++) {
        ops[i]->unit = u;
        ops[i]->phase = TK_PHASE_QUEUED;
    }
    if (lane->tail) lane->tail->next = u;
    else lane->head = u;
    lane->tail = u;
    lane_pump(lane);
}

/* Start the next waiting unit if the lane is idle. Starts go through zero-delay timers, so a
 * call that fails at once cannot recurse back into here. */
static void lane_pump(tk_client_lane *lane) {
    while (!lane->active && lane->head) {
        tk_lane_unit *u = lane->head;
        lane->head = u->next;
        if (!lane->head) lane->tail = NULL;
        u->next = NULL;
        lane->active = u;
        lane->active_left = 0;
        for (size_t i = 1; i < u->n; i++) {
            if (!u->ops[i]) continue;
            lane->active_left++;
            tk_op_schedule(u->ops[i], TK_NEXT_SUBMIT, 0);
        }
        if (lane->active_left == 0) {
            if (u->ops[0]) {
                tk_op_schedule(u->ops[0], TK_NEXT_SUBMIT, 0);
            } else {   /* every op of this unit is gone already */
                lane->active = NULL;
                free(u->ops);
                free(u);
            }
        }
    }
}

/* The op's submit is over (or the op is going away): let the lane move on. */
static void lane_leave(tk_op *op) {
    tk_lane_unit *u = op->unit;
    if (!u || op->lane_released) return;
    op->lane_released = true;
    op->unit = NULL;
    tk_client_lane *lane = op->lane;
    bool first = u->ops[0] == op;
    for (size_t i = 0; i < u->n; i++)
        if (u->ops[i] == op) u->ops[i] = NULL;
    if (lane->active != u) return;   /* still waiting in the queue: just drop out of it */
    bool done;
    if (first) {
        done = lane->active_left == 0;   /* else op 0 leaves before it was started */
    } else {
        lane->active_left--;
        done = false;
        if (lane->active_left == 0) {
            if (u->ops[0]) tk_op_schedule(u->ops[0], TK_NEXT_SUBMIT, 0);
            else done = true;
        }
    }
    if (done) {
        lane->active = NULL;
        free(u->ops);
        free(u);
        if (!atomic_load(&op->c->stop)) lane_pump(lane);
    }
}

/* ---- cancel, abort --------------------------------------------------------------------------- */

void tk_op_cancel(tk_op *op) {
    if (op->lane && !op->lane_released && op->phase != TK_PHASE_DONE) {
        op->cancelled = true;   /* POST it anyway so the lane's seq_ids have no gap */
        return;
    }
    tk_op_free(op);
}

void tk_op_abort(tk_op *op, const char *why) {
    tk_op_release_transfer(op);
    tk_op_finish_failed(op, TK_ECANCELED, TK_CLIENT_FAIL_CANCELED, "%s %s: %s", op->method,
                        op->path, why);
}

/* ---- public entry points --------------------------------------------------------------------- */

int tk_client_lane_new(tk_client *c, tk_client_lane **out, tk_err *e) {
    (void)c;
    tk_client_lane *l = calloc(1, sizeof *l);
    if (!l) return tk_err_set(e, TK_ENOMEM, "tk_client_lane_new: out of memory");
    atomic_init(&l->refs, 1);
    *out = l;
    return 0;
}

void tk_client_lane_free(tk_client_lane *l) {
    if (l) lane_unref(l);
}

static void free_unstarted(tk_op **ops, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!ops[i]) continue;
        if (ops[i]->f) {
            tk_client_future_release(ops[i]->f);   /* the op's reference */
            tk_client_future_release(ops[i]->f);   /* the caller's */
            ops[i]->f = NULL;
        }
        if (ops[i]->lane) {
            lane_unref(ops[i]->lane);
            ops[i]->lane = NULL;
        }
        tk_op_free(ops[i]);
    }
}

static int call_many(tk_client *c, const tk_client_call_spec *specs, size_t n, bool group,
                     tk_client_future **out, tk_err *e) {
    int rc = 0;
    if (group) {
        if (n == 0) rc = tk_err_set(e, TK_EINVAL, "tk_client_call_group: n = 0");
        for (size_t i = 0; !rc && i < n; i++)
            if (!specs[i].lane || specs[i].lane != specs[0].lane)
                rc = tk_err_set(e, TK_EINVAL, "tk_client_call_group: spec %zu: every spec must "
                                "name the same lane", i);
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            if (specs[i].give_body) free((void *)specs[i].body);
        return rc;
    }
    tk_op **ops = calloc(n, sizeof *ops);
    tk_cmd *cmd = calloc(1, sizeof *cmd);
    if (!ops || !cmd) {
        rc = tk_err_set(e, TK_ENOMEM, "tk_client_call: out of memory");
        for (size_t i = 0; i < n; i++)
            if (specs[i].give_body) free((void *)specs[i].body);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = tk_op_new(c, &specs[i], &ops[i], e))) {
            for (size_t j = i + 1; j < n; j++)
                if (specs[j].give_body) free((void *)specs[j].body);
            goto fail;
        }
        if (ops[i]->lane) atomic_fetch_add(&ops[i]->lane->refs, 1);
        ops[i]->f = tk_fut_new(c);
        if (!ops[i]->f) {
            rc = tk_err_set(e, TK_ENOMEM, "tk_client_call: out of memory");
            for (size_t j = i + 1; j < n; j++)
                if (specs[j].give_body) free((void *)specs[j].body);
            goto fail;
        }
        tk_fut_ref(ops[i]->f);   /* the op's reference; the caller keeps the first */
    }
    cmd->kind = TK_CMD_START;
    cmd->ops = ops;
    cmd->n_ops = n;
    for (size_t i = 0; i < n; i++) out[i] = ops[i]->f;
    if (tk_client_post(c, cmd)) {
        for (size_t i = 0; i < n; i++) out[i] = NULL;
        rc = tk_err_set(e, TK_ESTATE, "tk_client_call: the client is closed");
        goto fail;
    }
    return 0;
fail:
    if (ops) free_unstarted(ops, n);
    free(ops);
    free(cmd);
    return rc;
}

int tk_client_call(tk_client *c, const tk_client_call_spec *spec, tk_client_future **out,
                   tk_err *e) {
    *out = NULL;
    return call_many(c, spec, 1, false, out, e);
}

int tk_client_call_group(tk_client *c, const tk_client_call_spec *specs, size_t n,
                         tk_client_future **out, tk_err *e) {
    for (size_t i = 0; i < n; i++) out[i] = NULL;
    return call_many(c, specs, n, true, out, e);
}
