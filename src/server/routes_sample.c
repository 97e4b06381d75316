/* asample (protocol §3.6): decode and check the request, then queue a sample job for its sampling
 * session (unordered; a retry with the same (sampling_session_id, seq_id) gets the original
 * request id). The engine runs it in the decode loop of the session's base model. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine_glue.h"
#include "routes.h"
#include "wire_bridge.h"

static void h_asample(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_arena *a = tk_arena_new(0);
    tk_wire_sample_request w;
    tk_err e = {0};
    int status = a ? tk_server_req_wire(req, TK_WIRE_MSG_SAMPLE_REQUEST, false, a, &w, &e) : 503;
    if (!status && tk_server_sample_check(&w, s->cfg.max_request_tokens, &e)) status = 400;
    if (status) {
        tk_server_resp_error(resp, status, "asample: %s", e.msg[0] ? e.msg : "out of memory");
        tk_arena_free(a);
        return;
    }
    char sid[TK_SERVER_ID_MAX];
    if (strlen(w.sampling_session_id) >= sizeof sid) {
        tk_server_resp_error(resp, 404, "asample: sampling session \"%.64s…\" not found", w.sampling_session_id);
        tk_arena_free(a);
        return;
    }
    snprintf(sid, sizeof sid, "%s", w.sampling_session_id);
    int64_t seq = w.seq_id;
    uint64_t hash = tk_hash_bytes(req->body, req->body_len);
    tk_server_job *j = tk_server_engine_sample_job(a, &w); /* takes the arena */
    char rid[TK_SERVER_ID_MAX];
    int rc = j ? tk_server_submit_sample(s, sid, seq, hash, j, rid, &e) : tk_err_set(&e, TK_ENOMEM, "out of memory");
    if (rc) tk_server_resp_error(resp, tk_server_http_status(rc), "asample: %s", e.msg);
    else tk_server_resp_future(resp, rid, NULL);
}

int tk_server_routes_sample(tk_server *s, tk_err *e) {
    return tk_server_route_add(s, "POST", "/api/v1/asample", h_asample, NULL, 0, e);
}
