/* POST /api/v1/retrieve_future (protocol §3.7): long-poll a future, then answer
 *   the result  — protobuf when Accept asks for it and the result has a protobuf form, else JSON;
 *   a failure  — 200 {"error": …, "category": "user"|"server"};
 *   nothing yet — 200 {"type":"try_again", …} after future_hold_s;
 *   404 for an id this server never issued, 410 for one whose result expired. */
#include "server_internal.h"

#include <jansson.h>

static void h_retrieve_future(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *id = NULL;
    bool meta_only = false;
    int rc = tk_json_get_str(b, "request_id", "", &id, &e);
    if (!rc) rc = tk_json_opt_bool(b, "allow_metadata_only", "", &meta_only, NULL, &e);
    if (!rc && (!*id || strlen(id) >= TK_SERVER_ID_MAX))
        rc = tk_err_set(&e, TK_EINVAL, "request_id: must be 1..%d bytes", TK_SERVER_ID_MAX - 1);
    if (rc) {
        tk_server_resp_error(resp, 400, "retrieve_future: %s", e.msg);
        json_decref(b);
        return;
    }
    tk_server_future_view v = {0};
    switch (tk_server_futures_wait(s->futures, id, s->cfg.future_hold_s, &v)) {
    case TK_SERVER_WAIT_DONE:
        if (req->accept_proto && v.proto)
            tk_server_resp_blob(resp, 200, "application/x-protobuf", tk_server_blob_ref(v.proto));
        else
            tk_server_resp_blob(resp, 200, "application/json", tk_server_blob_ref(v.json));
        break;
    case TK_SERVER_WAIT_FAILED:
        tk_server_resp_json(resp, 200, json_pack("{s:s, s:s}", "error", v.error ? v.error : "failed", "category",
                                                 tk_server_category_name(v.category)));
        break;
    case TK_SERVER_WAIT_PENDING:
        tk_server_resp_json(resp, 200, json_pack("{s:s, s:s, s:s}", "type", "try_again", "request_id", id,
                                                 "queue_state", "active"));
        break;
    case TK_SERVER_WAIT_UNKNOWN:
        tk_server_resp_error(resp, 404, "retrieve_future: unknown request_id \"%s\" (not issued by this server; "
                             "was it restarted?)", id);
        break;
    case TK_SERVER_WAIT_EXPIRED:
        tk_server_resp_error(resp, 410, "retrieve_future: the result of request_id \"%s\" expired (results are kept "
                             "%.0f s after they are ready)", id, s->cfg.future_ttl_s);
        break;
    }
    tk_server_future_view_clear(&v);
    json_decref(b);
}

int tk_server_routes_futures(tk_server *s, tk_err *e) {
    return tk_server_route_add(s, "POST", "/api/v1/retrieve_future", h_retrieve_future, NULL, 0, e);
}
