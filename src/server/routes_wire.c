/* Decoding wire-layer request bodies and refusing training requests (see routes.h). */
#include "routes.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "wire_bridge.h"

int tk_server_req_wire(const tk_server_req *req, tk_wire_msg type, bool allow_proto, tk_arena *a, void *obj,
                       tk_err *e) {
    const char *ct = tk_server_req_header(req, "Content-Type");
    bool proto = req->body_type == TK_SERVER_BODY_PROTOBUF;
    if ((proto && !allow_proto) || req->body_type == TK_SERVER_BODY_OTHER) {
        tk_err_set(e, TK_EUNSUPPORTED, "expected a %s body, got Content-Type: %s",
                   allow_proto ? "JSON (application/json) or protobuf (application/x-protobuf)"
                               : "JSON (Content-Type: application/json)",
                   ct ? ct : "?");
        return 415;
    }
    if (req->body_len == 0) {
        tk_err_set(e, TK_EINVAL, "the request body is empty; expected %s", proto ? "a protobuf message" : "a JSON object");
        return 400;
    }
    /* the HTTP layer has already undone Content-Encoding */
    int rc = tk_wire_body_decode(type, proto ? "application/x-protobuf" : "application/json", NULL, req->body,
                                 req->body_len, 0, a, obj, e);
    return rc ? 400 : 0;
}

void tk_server_refuse_train(tk_server *s, const tk_server_req *req, tk_server_resp *resp, const char *route, int status,
                            const char *model_id, bool has_seq, int64_t seq_id, const tk_err *e) {
    char id[TK_SERVER_ID_MAX];
    bool known = model_id && *model_id && has_seq && strlen(model_id) < sizeof id;
    if (known)
        snprintf(id, sizeof id, "%s", model_id);
    else
        known = tk_server_peek_model_seq(req->body, req->body_len, req->body_type == TK_SERVER_BODY_PROTOBUF, id,
                                         sizeof id, &seq_id);
    char msg[1200];
    snprintf(msg, sizeof msg, "%s: %s", route, e->msg[0] ? e->msg : tk_strerror(e->code));
    /* any refusal of the request itself consumes its seq_id (an unknown or unloaded model has no
     * queue to record it in, and the sequencer ignores those) */
    if (known && status >= 400 && status < 500 && seq_id >= 1)
        tk_server_reject_train(s, id, seq_id, tk_hash_bytes(req->body, req->body_len), msg);
    tk_server_resp_error(resp, status, "%s", msg);
}

void tk_server_resp_future(tk_server_resp *resp, const char *rid, const char *model_id) {
    tk_server_resp_json(resp, 200, json_pack("{s:s, s:s?}", "request_id", rid, "model_id", model_id));
}
