/* Bootstrap endpoints (protocol §3.1, §3.9): client/config, client/dynamic_config, healthz,
 * telemetry, get_server_capabilities. */
#include "server_internal.h"

#include <jansson.h>

/* A body that must be a JSON object whose "sdk_version", when present, is a string. */
static int config_body(const tk_server_req *req, tk_server_resp *resp) {
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return -1;
    tk_err e = {0};
    const char *v = NULL;
    int rc = tk_json_opt_str(b, "sdk_version", "", &v, NULL, &e);
    if (rc) tk_server_resp_error(resp, 400, "%s: %s", req->path, e.msg);
    else if (v) tk_debug("server: %s from SDK %s", req->path, v);
    json_decref(b);
    return rc;
}

/* Flags that let the official SDK run against this server (protocol §3.1): no pyqwest transport
 * (so the package need not be installed), no JWT exchange, JSON-compatible defaults. */
static void h_client_config(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)s;
    (void)user;
    if (config_body(req, resp)) return;
    tk_server_resp_json(resp, 200,
                        json_pack("{s:b, s:s, s:b, s:b, s:b, s:b, s:b}", "pjwt_auth_enabled", 0,
                                  "credential_default_source", "api_key", "use_pyqwest_transport", 0,
                                  "proto_compress_fwdbwd", 0, "parallel_fwdbwd_chunks", 1,
                                  "create_model_via_load_weights", 0, "sample_no_retries", 0));
}

static void h_dynamic_config(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)s;
    (void)user;
    if (config_body(req, resp)) return;
    tk_server_resp_json(resp, 200, json_pack("{s:i}", "refresh_interval_sec", 300));
}

static void h_healthz(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)s;
    (void)req;
    (void)user;
    tk_server_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_telemetry(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)s;
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    json_t *events = NULL;
    if (tk_json_opt_arr(b, "events", "", &events, NULL, &e)) tk_server_resp_error(resp, 400, "telemetry: %s", e.msg);
    else tk_server_resp_json(resp, 200, json_pack("{s:s}", "status", "accepted"));
    json_decref(b);
}

static void h_capabilities(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)req;
    (void)user;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < s->served.len; i++) {
        json_t *m = json_pack("{s:s}", "model_name", s->served.data[i].name);
        if (m && s->served.data[i].max_context_length > 0)
            json_object_set_new(m, "max_context_length", json_integer(s->served.data[i].max_context_length));
        if (!m || json_array_append_new(arr, m)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    tk_server_resp_json(resp, 200, arr ? json_pack("{s:o}", "supported_models", arr) : NULL);
}

int tk_server_routes_bootstrap(tk_server *s, tk_err *e) {
    int rc = tk_server_route_add(s, "POST", "/api/v1/client/config", h_client_config, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "POST", "/api/v1/client/dynamic_config", h_dynamic_config, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "GET", "/api/v1/healthz", h_healthz, NULL, TK_SERVER_ROUTE_NO_AUTH, e);
    if (!rc) rc = tk_server_route_add(s, "POST", "/api/v1/telemetry", h_telemetry, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "GET", "/api/v1/get_server_capabilities", h_capabilities, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "POST", "/api/v1/get_server_capabilities", h_capabilities, NULL, 0, e);
    return rc;
}
