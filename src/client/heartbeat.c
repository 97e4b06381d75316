/* Session heartbeats: a timer on the I/O thread posts session_heartbeat every interval, with no
 * retries and failures only counted (and logged once per outage after heartbeat_warn_s). */
#include "internal.h"

#include <jansson.h>
#include <string.h>

static void hb_done(tk_op *op, int rc, const tk_client_response *resp) {
    (void)resp;
    tk_client *c = op->c;
    tk_heartbeat *hb = &c->hb;
    hb->in_flight = false;
    int64_t now = tk_now_ms();
    pthread_mutex_lock(&c->lock);
    if (rc == 0) {
        hb->ok++;
        hb->last_ok_ms = now;
    } else {
        hb->failed++;
    }
    pthread_mutex_unlock(&c->lock);
    if (rc == 0) {
        hb->warned = false;
        return;
    }
    double quiet = (double)(now - (hb->last_ok_ms ? hb->last_ok_ms : hb->start_ms)) / 1000.0;
    if (hb->session_id && !hb->warned && quiet >= c->cfg.heartbeat_warn_s) {
        tk_warn("no successful heartbeat for session %s in %.0f s; the server may end the "
                "session (last problem: %s)", hb->session_id, quiet, op->last_err.msg);
        hb->warned = true;
    }
}

static void hb_tick(tk_ctimer *t, void *owner) {
    (void)t;
    tk_client *c = owner;
    tk_heartbeat *hb = &c->hb;
    if (!hb->session_id) return;
    tk_ctimer_arm(&c->timers, &hb->timer,
                  tk_now_ms() + (int64_t)(c->cfg.heartbeat_interval_s * 1000.0));
    if (hb->in_flight) return;
    tk_client_call_spec spec = {
        .path = "/api/v1/session_heartbeat",
        .body = hb->body,
        .body_len = strlen(hb->body),
        .max_retries = TK_CLIENT_NO_RETRIES,
        .timeout_s = c->cfg.heartbeat_timeout_s,
    };
    tk_op *op;
    tk_err e = {0};
    if (tk_op_new(c, &spec, &op, &e)) return;
    op->internal_done = hb_done;
    hb->in_flight = true;
    pthread_mutex_lock(&c->lock);
    hb->sent++;
    pthread_mutex_unlock(&c->lock);
    tk_op_start(op);
}

void tk_heartbeat_apply(tk_client *c, char *session_id) {
    tk_heartbeat *hb = &c->hb;
    tk_ctimer_disarm(&c->timers, &hb->timer);
    free(hb->session_id);
    free(hb->body);
    hb->session_id = hb->body = NULL;
    if (!session_id) return;
    json_t *j = json_pack("{s:s, s:s}", "session_id", session_id, "type", "session_heartbeat");
    tk_buf b = {0};
    if (!j || tk_json_dump(j, &b)) {
        json_decref(j);
        tk_buf_free(&b);
        free(session_id);
        tk_warn("heartbeat: out of memory; no heartbeats will be sent");
        return;
    }
    json_decref(j);
    hb->session_id = session_id;
    hb->body = b.data;
    pthread_mutex_lock(&c->lock);
    hb->start_ms = tk_now_ms();
    hb->last_ok_ms = 0;
    pthread_mutex_unlock(&c->lock);
    hb->warned = false;
    hb->timer.fire = hb_tick;
    hb->timer.owner = c;
    tk_ctimer_arm(&c->timers, &hb->timer, tk_now_ms());
}

void tk_heartbeat_shutdown(tk_client *c) { tk_heartbeat_apply(c, NULL); }

static int post_heartbeat(tk_client *c, char *sid, tk_err *e) {
    tk_cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd) {
        free(sid);
        return tk_err_set(e, TK_ENOMEM, "heartbeat: out of memory");
    }
    cmd->kind = TK_CMD_HEARTBEAT;
    cmd->session_id = sid;
    if (tk_client_post(c, cmd)) {
        free(sid);
        free(cmd);
        return tk_err_set(e, TK_ESTATE, "heartbeat: the client is closed");
    }
    return 0;
}

int tk_client_heartbeat_start(tk_client *c, const char *session_id, tk_err *e) {
    if (!session_id || !*session_id)
        return tk_err_set(e, TK_EINVAL, "tk_client_heartbeat_start: empty session_id");
    char *sid = tk_strdup(session_id);
    if (!sid) return tk_err_set(e, TK_ENOMEM, "heartbeat: out of memory");
    return post_heartbeat(c, sid, e);
}

void tk_client_heartbeat_stop(tk_client *c) { post_heartbeat(c, NULL, NULL); }

tk_client_heartbeat_stats tk_client_heartbeat_get_stats(tk_client *c) {
    tk_client_heartbeat_stats s = {0};
    pthread_mutex_lock(&c->lock);
    s.sent = c->hb.sent;
    s.ok = c->hb.ok;
    s.failed = c->hb.failed;
    int64_t since = c->hb.last_ok_ms ? c->hb.last_ok_ms : c->hb.start_ms;
    pthread_mutex_unlock(&c->lock);
    s.seconds_since_ok = since ? (double)(tk_now_ms() - since) / 1000.0 : 0.0;
    return s;
}
