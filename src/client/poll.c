/* The retrieve_future polling state machine of reference/tinker-protocol.md §3.7, with one
 * deliberate change: an answer that asks for another poll (try_again, 408, 5xx, 400, a
 * metadata-only answer) and came back quickly is followed by a growing pause, so a server that
 * does not long-poll can never drive the client into a busy loop (peers.md §0.2). */
#include "internal.h"

#include <string.h>

#include "poll_answer.h"
#include "retry_policy.h"

void tk_poll_start(tk_op *op) {
    op->phase = TK_PHASE_POLL;
    op->poll_iter = 0;
    op->allow_meta = true;
    op->poll_conn_errs = op->poll_429 = op->poll_400 = op->poll_fast = 0;
    tk_poll_attempt(op);
}

void tk_poll_attempt(tk_op *op) {
    tk_op_begin_attempt(op, true);
}

static void poll_again(tk_op *op, double delay_s, const char *reason, long status) {
    tk_client_emit(op->c, TK_CLIENT_EV_POLL_AGAIN, op, reason, delay_s, op->poll_iter, status);
    op->poll_iter++;
    tk_op_schedule(op, TK_NEXT_POLL, delay_s);
}

/* Re-poll at once after a slow answer (a real long-poll), with a growing pause after fast ones. */
static void poll_again_guarded(tk_op *op, bool fast, const char *reason, long status) {
    double delay = 0;
    if (fast) delay = tk_client_fast_poll_backoff_s(op->poll_fast++);
    else op->poll_fast = 0;
    poll_again(op, delay, reason, status);
}

static void note_queue_state(tk_op *op, const char *qs, const char *why) {
    if (!qs[0] || !op->f) return;
    char old[32];
    tk_client_future_queue_state(op->f, old, sizeof old);
    if (strcmp(old, qs)) {
        if (strcmp(qs, "active"))
            tk_info("%s (request %s): queue %s%s%s", op->path, op->request_id, qs,
                    why[0] ? ": " : "", why);
        tk_fut_set_queue_state(op->f, qs);
    }
}

void tk_poll_answer(tk_op *op, CURLcode cc) {
    tk_client *c = op->c;
    bool fast = (double)(tk_now_ms() - op->attempt_start_ms) / 1000.0 < TK_CLIENT_FAST_ANSWER_S;
    const tk_client_response *r = &op->resp;
    if (op->oversize) {
        tk_op_finish_failed(op, TK_ENOMEM, TK_CLIENT_FAIL_PROTOCOL,
                            "retrieve_future (request %s): the answer is larger than "
                            "max_response_bytes (%zu)", op->request_id,
                            c->cfg.max_response_bytes);
        return;
    }
    if (cc != CURLE_OK) {
        const char *detail = op->curl_err[0] ? op->curl_err : curl_easy_strerror(cc);
        if (!tk_curl_code_retryable(cc)) {
            tk_op_finish_failed(op, TK_ENET, TK_CLIENT_FAIL_NETWORK,
                                "retrieve_future (request %s): %s", op->request_id, detail);
            return;
        }
        tk_err_set(&op->last_err, TK_ENET, "retrieve_future: %s: %s",
                   tk_curl_code_timeout(cc) ? "timeout" : "connection error", detail);
        op->last_status = 0;
        poll_again(op, tk_client_poll_error_backoff_s(op->poll_conn_errs++), op->last_err.msg, 0);
        return;
    }
    op->poll_conn_errs = 0;   /* any HTTP answer resets the connection-error back-off */
    long status = r->status;
    op->last_status = status;
    char reason[64];
    snprintf(reason, sizeof reason, "HTTP %ld", status);
    if (status != 200) tk_err_set(&op->last_err, TK_EHTTP, "retrieve_future: HTTP %ld", status);

    if (status == 408) {   /* the body may say how the queue is doing */
        op->poll_400 = 0;
        tk_poll_info info;
        tk_poll_classify(r->content_type, r->body.data, r->body.len, &info);
        note_queue_state(op, info.queue_state, info.queue_reason);
        poll_again_guarded(op, fast, reason, status);
        return;
    }
    if (status >= 500) {
        poll_again_guarded(op, fast, reason, status);
        return;
    }
    if (status == 429) {
        double ra = tk_client_retry_after_s(tk_client_response_header(r, "retry-after-ms"),
                                            tk_client_response_header(r, "retry-after"),
                                            tk_wall_s());
        double backoff = tk_client_poll_error_backoff_s(op->poll_429++);
        poll_again(op, ra > 0 ? ra : backoff, reason, status);
        return;
    }
    if (status == 400 && op->poll_400 < TK_CLIENT_POLL_MAX_400) {
        op->poll_400++;
        poll_again_guarded(op, fast, reason, status);
        return;
    }
    if (status == 410) {
        if (op->resubmit_expired) {
            tk_op_resubmit(op);
            return;
        }
        tk_op_finish_failed(op, TK_EHTTP, TK_CLIENT_FAIL_EXPIRED,
                            "retrieve_future (request %s): HTTP 410: the promise expired or "
                            "broke; the request must be submitted again", op->request_id);
        return;
    }
    if (status == 402) {
        tk_op_billing_pause_poll(op);
        return;
    }
    if (status < 200 || status >= 300) {
        char excerpt[200];
        size_t n = r->body.len < sizeof excerpt - 1 ? r->body.len : sizeof excerpt - 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)r->body.data[i];
            excerpt[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '.';
        }
        excerpt[n] = 0;
        tk_op_finish_failed(op, TK_EHTTP, TK_CLIENT_FAIL_HTTP,
                            "retrieve_future (request %s): HTTP %ld%s: %s", op->request_id,
                            status, status == 400 ? " (4 times)" : "", excerpt);
        return;
    }
    op->billing_start_ms = 0;

    tk_poll_info info;
    tk_poll_classify(r->content_type, r->body.data, r->body.len, &info);
    switch (info.kind) {
    case TK_POLL_RESULT:
        tk_op_finish_ok(op);
        return;
    case TK_POLL_TRY_AGAIN:
        note_queue_state(op, info.queue_state, info.queue_reason);
        poll_again_guarded(op, fast, "try_again", status);
        return;
    case TK_POLL_METADATA:
        op->allow_meta = false;
        poll_again_guarded(op, fast, "complete_metadata", status);
        return;
    case TK_POLL_FAILED:
        snprintf(op->category, sizeof op->category, "%s", info.category);
        tk_op_finish_failed(op, TK_EREMOTE, TK_CLIENT_FAIL_REMOTE,
                            "request %s failed (category %s): %s", op->request_id,
                            info.category, info.message);
        return;
    case TK_POLL_GARBAGE:
        tk_op_finish_failed(op, TK_EPARSE, TK_CLIENT_FAIL_PROTOCOL,
                            "retrieve_future (request %s): the answer (%zu bytes, Content-Type "
                            "%s) is neither JSON nor protobuf", op->request_id, r->body.len,
                            r->content_type ? r->content_type : "none");
        return;
    }
}
