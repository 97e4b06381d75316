/* Session endpoints (protocol §3.2, §3.8): create_session, session_heartbeat,
 * create_sampling_session, samplers/{id}, and the sessions REST resources. */
#include "server_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <string.h>

/* Answer 400 "<route>: <e.msg>" and return -1 when rc != 0. */
static int bad(tk_server_resp *resp, const char *route, int rc, const tk_err *e) {
    if (!rc) return 0;
    tk_server_resp_error(resp, tk_server_http_status(rc), "%s: %s", route, e->msg);
    return -1;
}

static void h_create_session(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    json_t *tags = NULL, *um = NULL;
    const char *project = NULL, *sdk = NULL;
    int rc = tk_json_opt_arr(b, "tags", "", &tags, NULL, &e);
    if (!rc) rc = tk_json_opt_obj(b, "user_metadata", "", &um, NULL, &e);
    if (!rc) rc = tk_json_opt_str(b, "project_id", "", &project, NULL, &e);
    if (!rc) rc = tk_json_opt_str(b, "sdk_version", "", &sdk, NULL, &e);
    for (size_t i = 0; !rc && tags && i < json_array_size(tags); i++)
        if (!json_is_string(json_array_get(tags, i)))
            rc = tk_err_set(&e, TK_EINVAL, "tags[%zu]: expected a string, got %s", i,
                            tk_json_type_name(json_array_get(tags, i)));
    char id[TK_SERVER_ID_MAX];
    if (!rc) rc = tk_server_session_create(s, tags, um, project, sdk, req->api_key, id, &e);
    if (!bad(resp, "create_session", rc, &e))
        tk_server_resp_json(resp, 200, json_pack("{s:s, s:s, s:n, s:n, s:n}", "type", "create_session", "session_id",
                                                 id, "info_message", "warning_message", "error_message"));
    json_decref(b);
}

static void h_heartbeat(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *id = NULL;
    int rc = tk_json_get_str(b, "session_id", "", &id, &e);
    if (!rc) rc = tk_server_session_heartbeat(s, id, &e);
    if (!bad(resp, "session_heartbeat", rc, &e))
        tk_server_resp_json(resp, 200, json_pack("{s:s}", "type", "session_heartbeat"));
    json_decref(b);
}

static void h_create_sampling_session(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *sid = NULL, *base = NULL, *path = NULL;
    int64_t seq = 0;
    int rc = tk_json_get_str(b, "session_id", "", &sid, &e);
    if (!rc) rc = tk_json_get_i64(b, "sampling_session_seq_id", "", &seq, &e);
    if (!rc) rc = tk_json_opt_str(b, "base_model", "", &base, NULL, &e);
    if (!rc) rc = tk_json_opt_str(b, "model_path", "", &path, NULL, &e);
    if (!rc && !base && !path) rc = tk_err_set(&e, TK_EINVAL, "give base_model or model_path (or both)");
    char *run_base = NULL;
    int status = !rc && path ? tk_server_req_ckpt_access(s, req, path, false, &e) : 0;
    if (status) {
        tk_server_resp_error(resp, status, "create_sampling_session: %s", e.msg);
        json_decref(b);
        return;
    }
    if (!rc && path) {
        json_t *info = NULL;
        rc = tk_server_store_find_path(s->store, path, NULL, &info, &e);
        const char *rb = json_string_value(json_object_get(json_object_get(info, "run"), "base_model"));
        if (!rc && !(run_base = tk_strdup(rb ? rb : ""))) rc = tk_err_set(&e, TK_ENOMEM, "out of memory");
        if (!rc && base && strcmp(base, run_base))
            rc = tk_err_set(&e, TK_EINVAL, "base_model \"%s\" does not match the base model \"%s\" of %s", base,
                            run_base, path);
        json_decref(info);
    } else if (!rc) {
        rc = tk_server_resolve_base_model(s, base, &e);
        if (rc == TK_ENOTFOUND) rc = TK_EINVAL; /* a bad argument, not a missing resource */
    }
    char id[TK_SERVER_ID_MAX];
    bool existed = false;
    if (!rc) rc = tk_server_sampler_create(s, sid, seq, run_base ? run_base : base, path, id, &existed, &e);
    if (!bad(resp, "create_sampling_session", rc, &e))
        tk_server_resp_json(resp, 200, json_pack("{s:s, s:s}", "type", "create_sampling_session",
                                                 "sampling_session_id", id));
    free(run_base);
    json_decref(b);
}

static void h_sampler(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_err e = {0};
    tk_server_sampler *sp = NULL;
    if (tk_server_sampler_get(s, req->params[0], &sp, &e)) {
        tk_server_resp_err(resp, &e);
        return;
    }
    tk_server_resp_json(resp, 200, json_pack("{s:s, s:s, s:s?}", "sampler_id", sp->id, "base_model", sp->base_model,
                                             "model_path", sp->model_path));
    tk_server_sampler_unref(s, sp);
}

static void h_sessions(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    int64_t off, lim;
    char owner[24];
    tk_server_access acc;
    if (tk_server_req_page(req, resp, 20, 1000, &off, &lim) || tk_server_req_access(req, resp, owner, &acc)) return;
    tk_err e = {0};
    json_t *out = NULL;
    /* sessions are never public: both scopes list the caller's own */
    if (tk_server_session_list(s, owner, off, lim, &out, &e)) tk_server_resp_err(resp, &e);
    else tk_server_resp_json(resp, 200, out);
}

static void h_session(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_err e = {0};
    json_t *out = NULL;
    if (tk_server_session_info(s, req->params[0], &out, &e)) tk_server_resp_err(resp, &e);
    else tk_server_resp_json(resp, 200, out);
}

static void h_session_project(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *p = NULL;
    int rc = tk_json_get_str(b, "project_id", "", &p, &e);
    if (!rc) rc = tk_server_session_set_project(s, req->params[0], p, &e);
    if (!bad(resp, "sessions/{id}/project", rc, &e))
        tk_server_resp_json(resp, 200, json_pack("{s:s, s:s}", "session_id", req->params[0], "project_id", p));
    json_decref(b);
}

static void h_trace_export(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_err e = {0};
    json_t *info = NULL;
    if (tk_server_session_info(s, req->params[0], &info, &e)) {
        tk_server_resp_err(resp, &e);
        return;
    }
    json_decref(info);
    tk_server_resp_json(resp, 200, json_pack("{s:s, s:s}", "status", "failed", "error",
                                             "trace export is not supported by tinkerc serve"));
}

int tk_server_routes_sessions(tk_server *s, tk_err *e) {
    int rc = tk_server_route_add(s, "POST", "/api/v1/create_session", h_create_session, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "POST", "/api/v1/session_heartbeat", h_heartbeat, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "POST", "/api/v1/create_sampling_session", h_create_sampling_session, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "GET", "/api/v1/samplers/{id}", h_sampler, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "GET", "/api/v1/sessions", h_sessions, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "GET", "/api/v1/sessions/{id}", h_session, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "PUT", "/api/v1/sessions/{id}/project", h_session_project, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "GET", "/api/v1/sessions/{id}/trace_export", h_trace_export, NULL, 0, e);
    return rc;
}
