/* Model endpoints that need nothing from the engine: unload_model (protocol §3.3). */
#include "server_internal.h"

#include <jansson.h>

static void run_unload(tk_server *s, tk_server_job **jobs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_pack("{s:s, s:s}", "model_id", jobs[i]->model->id, "type", "unload_model");
        tk_buf b = {0};
        if (!r || tk_json_dump(r, &b)) tk_server_job_fail(s, jobs[i], TK_SERVER_CAT_SERVER, "out of memory");
        else tk_server_job_succeed(s, jobs[i], &b, NULL);
        tk_buf_free(&b);
        json_decref(r);
    }
}

static void h_unload_model(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *id = NULL;
    char rid[TK_SERVER_ID_MAX];
    int rc = tk_json_get_str(b, "model_id", "", &id, &e);
    tk_server_job *j = NULL;
    if (!rc && !(j = tk_server_job_new("unload_model", run_unload, false, NULL, NULL)))
        rc = tk_err_set(&e, TK_ENOMEM, "out of memory");
    if (!rc) rc = tk_server_model_unload(s, id, "unloaded by unload_model", j, rid, &e);
    if (rc) tk_server_resp_error(resp, tk_server_http_status(rc), "unload_model: %s", e.msg);
    else tk_server_resp_json(resp, 200, json_pack("{s:s, s:s}", "request_id", rid, "model_id", id));
    json_decref(b);
}

int tk_server_routes_models(tk_server *s, tk_err *e) {
    return tk_server_route_add(s, "POST", "/api/v1/unload_model", h_unload_model, NULL, 0, e);
}
