/* The HTTP front end, spoken to with raw HTTP (libcurl) and hand-written JSON: ephemeral port,
 * routing (incl. two-segment checkpoint ids), 404/405 JSON bodies, API keys, body caps, zstd
 * bodies, bootstrap endpoints, and malformed bodies on every route that takes one. */
#include "test_util.h"

#include <zstd.h>

#include "harness.h"

static char *url_of(harness *h, const char *path) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s%s", h->url, path);
    return buf;
}

/* Assert an error answer: the status, a JSON body with "detail" containing needle. */
static void expect_error(http_res *r, long status, const char *needle) {
    if (r->status != status) fail_msg("status %ld, expected %ld; body %s", r->status, status, r->body.data);
    assert_non_null(strstr(r->content_type, "application/json"));
    json_t *v = json_loadb(r->body.data, r->body.len, 0, NULL);
    if (!v) fail_msg("error body is not JSON: %s", r->body.data);
    const char *d = json_string_value(json_object_get(v, "detail"));
    if (!d || !strstr(d, needle)) fail_msg("detail \"%s\" lacks \"%s\"", d ? d : "(none)", needle);
    json_decref(v);
}

static void test_bootstrap(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, false);
    assert_true(tk_server_port(h.s) > 0);
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%d", tk_server_port(h.s));
    assert_string_equal(tk_server_url(h.s), want);
    long st;
    json_t *v = hj(&h, "POST", "/api/v1/client/config", "{\"sdk_version\":\"0.25.0\"}", &st);
    assert_int_equal(st, 200);
    /* protocol §3.1: JWT off and pyqwest off let the official SDK run on plain packages */
    assert_true(json_is_false(json_object_get(v, "pjwt_auth_enabled")));
    assert_true(json_is_false(json_object_get(v, "use_pyqwest_transport")));
    assert_true(json_is_false(json_object_get(v, "proto_compress_fwdbwd")));
    json_decref(v);
    v = hj(&h, "POST", "/api/v1/client/dynamic_config", "{\"sdk_version\":\"0.25.0\"}", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(v, "refresh_interval_sec")), 300);
    json_decref(v);
    v = hj(&h, "GET", "/api/v1/healthz", NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "ok");
    json_decref(v);
    v = hj(&h, "POST", "/api/v1/telemetry",
           "{\"events\":[{\"event\":\"SESSION_START\",\"event_id\":\"u\",\"event_session_index\":0,"
           "\"severity\":\"INFO\",\"timestamp\":\"2026-01-01T00:00:00Z\"}],\"platform\":\"Linux\","
           "\"sdk_version\":\"0.25.0\",\"session_id\":\"sessionless-1\",\"process_uuid\":\"p\"}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "accepted");
    json_decref(v);
    v = hj(&h, "GET", "/api/v1/get_server_capabilities", NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(v, "supported_models")), 0);
    json_decref(v);
    harness_stop(&h, false);

    /* served models from --model are listed */
    tk_server_config c;
    harness_config(&c);
    tk_server_model_spec ms[] = {{"Qwen/Qwen3-0.6B", "/models/q", 40960}, {"meta-llama/Llama-3.2-1B", "/models/l", 0}};
    c.models = ms;
    c.n_models = 2;
    harness_start(&h, &c, false);
    v = hj(&h, "POST", "/api/v1/get_server_capabilities", "{}", &st);
    json_t *sm = json_object_get(v, "supported_models");
    assert_int_equal(json_array_size(sm), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sm, 0), "model_name")), "Qwen/Qwen3-0.6B");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(sm, 0), "max_context_length")), 40960);
    assert_null(json_object_get(json_array_get(sm, 1), "max_context_length"));
    json_decref(v);
    harness_stop(&h, false);
}

static void test_routing(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, false);
    http_res r;
    http_do("GET", url_of(&h, "/api/v1/nope"), NULL, NULL, 0, &r);
    expect_error(&r, 404, "no route for GET /api/v1/nope");
    http_res_free(&r);
    http_do("GET", url_of(&h, "/"), NULL, NULL, 0, &r);
    expect_error(&r, 404, "no route");
    http_res_free(&r);
    http_do("DELETE", url_of(&h, "/api/v1/healthz"), NULL, NULL, 0, &r);
    expect_error(&r, 405, "DELETE is not allowed");
    assert_string_equal(r.allow, "GET");
    http_res_free(&r);
    /* two-segment checkpoint ids are routed; the handler then reports the missing run */
    http_do("DELETE", url_of(&h, "/api/v1/training_runs/abc:train:0/checkpoints/weights/step-1"), NULL, NULL, 0, &r);
    expect_error(&r, 404, "training run \"abc:train:0\" not found");
    http_res_free(&r);
    http_do("POST", url_of(&h, "/api/v1/training_runs/abc:train:0/checkpoints/sampler_weights/s/publish"), NULL, "", 0, &r);
    expect_error(&r, 404, "training run \"abc:train:0\" not found");
    http_res_free(&r);
    /* a bare name without the kind: 400, not 404 */
    http_do("DELETE", url_of(&h, "/api/v1/training_runs/abc/checkpoints/step-1"), NULL, NULL, 0, &r);
    expect_error(&r, 400, "expected weights/<name> or sampler_weights/<name>");
    http_res_free(&r);
    http_do("DELETE", url_of(&h, "/api/v1/training_runs/abc/checkpoints/blobs/x"), NULL, NULL, 0, &r);
    expect_error(&r, 400, "expected \"weights\" or \"sampler_weights\"");
    http_res_free(&r);
    /* percent-encoded dots and slashes cannot climb out: they decode into a bad name or extra segments */
    http_do("GET", url_of(&h, "/api/v1/training_runs/r/checkpoints/weights/%2E%2E/archive"), NULL, NULL, 0, &r);
    expect_error(&r, 400, "must not start with '.'");
    http_res_free(&r);
    http_do("GET", url_of(&h, "/api/v1/training_runs/r/checkpoints/weights/a%2Fb/archive"), NULL, NULL, 0, &r);
    expect_error(&r, 404, "no route");
    http_res_free(&r);
    /* trailing and doubled slashes are tolerated (the SDK joins base URL and path) */
    http_do("GET", url_of(&h, "//api/v1/healthz/"), NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    http_res_free(&r);
    /* bad query numbers */
    http_do("GET", url_of(&h, "/api/v1/training_runs?limit=abc"), NULL, NULL, 0, &r);
    expect_error(&r, 400, "limit: expected a positive integer");
    http_res_free(&r);
    http_do("GET", url_of(&h, "/api/v1/checkpoints?offset=-1"), NULL, NULL, 0, &r);
    expect_error(&r, 400, "offset");
    http_res_free(&r);
    harness_stop(&h, false);
}

static void test_auth(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, false);
    http_res r;
    const char *none[] = {"NO-KEY", NULL};
    http_do("POST", url_of(&h, "/api/v1/client/config"), none, "{}", 2, &r);
    expect_error(&r, 401, "missing API key");
    http_res_free(&r);
    const char *wrong[] = {"X-API-Key: sk-123", NULL};
    http_do("POST", url_of(&h, "/api/v1/client/config"), wrong, "{}", 2, &r);
    expect_error(&r, 401, "must start with \"tml-\"");
    http_res_free(&r);
    const char *bearer[] = {"NO-KEY", "Authorization: Bearer tml-bearer", "Content-Type: application/json", NULL};
    http_do("POST", url_of(&h, "/api/v1/client/config"), bearer, "{}", 2, &r);
    assert_int_equal(r.status, 200);
    http_res_free(&r);
    /* healthz needs no key */
    http_do("GET", url_of(&h, "/api/v1/healthz"), none, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    http_res_free(&r);
    harness_stop(&h, false);

    /* with a key file only its keys pass */
    char *dir = tk_test_tmpdir();
    char kf[512];
    snprintf(kf, sizeof kf, "%s/keys", dir);
    tk_err e = {0};
    const char *keys = "# local keys\n  tml-alice  \n\nsecret-bob\n";
    assert_ok(tk_file_write_atomic(kf, keys, strlen(keys), 0600, &e), &e);
    tk_server_config c;
    harness_config(&c);
    c.api_key_file = kf;
    harness_start(&h, &c, false);
    const char *alice[] = {"X-API-Key: tml-alice", "Content-Type: application/json", NULL};
    const char *bob[] = {"X-API-Key: secret-bob", "Content-Type: application/json", NULL};
    const char *mallory[] = {"X-API-Key: tml-mallory", NULL};
    http_do("POST", url_of(&h, "/api/v1/client/config"), alice, "{}", 2, &r);
    assert_int_equal(r.status, 200);
    http_res_free(&r);
    http_do("POST", url_of(&h, "/api/v1/client/config"), bob, "{}", 2, &r);
    assert_int_equal(r.status, 200);
    http_res_free(&r);
    http_do("POST", url_of(&h, "/api/v1/client/config"), mallory, "{}", 2, &r);
    expect_error(&r, 401, "not accepted");
    http_res_free(&r);
    http_do("GET", url_of(&h, "/api/v1/no/such/route"), mallory, NULL, 0, &r);
    assert_int_equal(r.status, 404); /* routing first: unknown routes say so, whoever asks */
    http_res_free(&r);
    harness_stop(&h, false);

    /* unreadable or empty key files stop the start with a clear error */
    tk_server *s = NULL;
    c.api_key_file = "/nonexistent/keys";
    c.data_dir = dir;
    assert_err(tk_server_start(&c, &s, &e), TK_EINVAL, &e, "--api-key-file");
    assert_ok(tk_file_write_atomic(kf, "# nothing\n", 10, 0600, &e), &e);
    c.api_key_file = kf;
    assert_err(tk_server_start(&c, &s, &e), TK_EINVAL, &e, "no keys");
    assert_null(s);
    tk_remove_tree(dir, &e);
    free(dir);
}

static void test_body_caps_and_encoding(void **state) {
    (void)state;
    tk_server_config c;
    harness_config(&c);
    c.max_body_bytes = 4096;
    c.max_decompressed_bytes = 65536;
    harness h = {0};
    harness_start(&h, &c, false);
    http_res r;
    const char *json[] = {"Content-Type: application/json", NULL};
    /* declared too large: refused before the body is read */
    size_t big_n = 100000;
    char *big = malloc(big_n);
    memset(big, ' ', big_n);
    big[0] = '{';
    big[big_n - 1] = '}';
    http_do("POST", url_of(&h, "/api/v1/telemetry"), json, big, big_n, &r);
    expect_error(&r, 413, "over max_body_bytes (4096 bytes)");
    http_res_free(&r);
    /* chunked (no Content-Length): cut off while reading */
    const char *chunked[] = {"Content-Type: application/json", "Transfer-Encoding: chunked", NULL};
    http_do("POST", url_of(&h, "/api/v1/telemetry"), chunked, big, big_n, &r);
    expect_error(&r, 413, "max_body_bytes");
    http_res_free(&r);
    /* the server is fine afterwards */
    http_do("POST", url_of(&h, "/api/v1/telemetry"), json, "{}", 2, &r);
    assert_int_equal(r.status, 200);
    http_res_free(&r);

    /* zstd: a small compressed body is decoded ... */
    const char *zs[] = {"Content-Type: application/json", "Content-Encoding: zstd", NULL};
    const char *msg = "{\"events\":[],\"sdk_version\":\"0.25.0\"}";
    char comp[512];
    size_t cn = ZSTD_compress(comp, sizeof comp, msg, strlen(msg), 3);
    assert_false(ZSTD_isError(cn));
    http_do("POST", url_of(&h, "/api/v1/telemetry"), zs, comp, cn, &r);
    assert_int_equal(r.status, 200);
    http_res_free(&r);
    /* ... a bomb that stays under max_body_bytes but decompresses past the cap is 413 ... */
    size_t bomb_n = 1 << 20;
    char *bomb_src = malloc(bomb_n);
    memset(bomb_src, ' ', bomb_n);
    bomb_src[0] = '{';
    bomb_src[bomb_n - 1] = '}';
    size_t bound = ZSTD_compressBound(bomb_n);
    char *bomb = malloc(bound);
    size_t bn = ZSTD_compress(bomb, bound, bomb_src, bomb_n, 19);
    assert_true(bn < 4096);
    http_do("POST", url_of(&h, "/api/v1/telemetry"), zs, bomb, bn, &r);
    expect_error(&r, 413, "decompresses to more than max_decompressed_bytes (65536 bytes)");
    http_res_free(&r);
    /* ... garbage and truncated frames are 400, unknown encodings 415 */
    http_do("POST", url_of(&h, "/api/v1/telemetry"), zs, "not zstd at all", 15, &r);
    expect_error(&r, 400, "zstd body");
    http_res_free(&r);
    http_do("POST", url_of(&h, "/api/v1/telemetry"), zs, comp, cn - 3, &r);
    expect_error(&r, 400, "truncated");
    http_res_free(&r);
    const char *gz[] = {"Content-Type: application/json", "Content-Encoding: br", NULL};
    http_do("POST", url_of(&h, "/api/v1/telemetry"), gz, "{}", 2, &r);
    expect_error(&r, 415, "Content-Encoding \"br\" is not supported");
    http_res_free(&r);
    free(big);
    free(bomb);
    free(bomb_src);
    harness_stop(&h, false);
}

/* Malformed bodies on every route that takes one: each answer is a 4xx JSON body that says what
 * is wrong and where. */
static void test_malformed_bodies(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, false);
    const char *routes[][2] = {
        {"POST", "/api/v1/client/config"}, {"POST", "/api/v1/client/dynamic_config"},
        {"POST", "/api/v1/telemetry"}, {"POST", "/api/v1/create_session"},
        {"POST", "/api/v1/session_heartbeat"}, {"POST", "/api/v1/create_sampling_session"},
        {"POST", "/api/v1/retrieve_future"}, {"POST", "/api/v1/weights_info"},
        {"POST", "/api/v1/unload_model"}, {"PUT", "/api/v1/sessions/x/project"},
        {"PUT", "/api/v1/training_runs/r/checkpoints/weights/w/ttl"},
    };
    const char *json[] = {"Content-Type: application/json", NULL};
    const char *proto[] = {"Content-Type: application/x-protobuf", NULL};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const char *m = routes[i][0], *p = routes[i][1];
        http_res r;
        http_do(m, url_of(&h, p), json, "", 0, &r);
        expect_error(&r, 400, "body is empty");
        http_res_free(&r);
        http_do(m, url_of(&h, p), json, "{\"a\":", 5, &r);
        expect_error(&r, 400, "request body:1:");
        http_res_free(&r);
        http_do(m, url_of(&h, p), json, "{\"a\":1,\"a\":2}", 13, &r);
        expect_error(&r, 400, "request body");
        http_res_free(&r);
        http_do(m, url_of(&h, p), json, "[1,2]", 5, &r);
        expect_error(&r, 400, "must be a JSON object, got array");
        http_res_free(&r);
        http_do(m, url_of(&h, p), json, "\"\xff\xfe\"", 4, &r);
        expect_error(&r, 400, "request body");
        http_res_free(&r);
        http_do(m, url_of(&h, p), proto, "\x0a\x01x", 3, &r);
        expect_error(&r, 415, "expected a JSON body");
        http_res_free(&r);
    }
    /* wrong types and missing fields name the field */
    struct { const char *path, *body, *needle; long status; } cases[] = {
        {"/api/v1/client/config", "{\"sdk_version\":5}", "sdk_version: expected string, got integer", 400},
        {"/api/v1/telemetry", "{\"events\":{}}", "events: expected array, got object", 400},
        {"/api/v1/create_session", "{\"tags\":\"x\"}", "tags: expected array, got string", 400},
        {"/api/v1/create_session", "{\"tags\":[1]}", "tags[0]: expected a string", 400},
        {"/api/v1/create_session", "{\"user_metadata\":[]}", "user_metadata: expected object", 400},
        {"/api/v1/create_session", "{\"project_id\":true}", "project_id: expected string", 400},
        {"/api/v1/session_heartbeat", "{}", "session_id: required field is missing", 400},
        {"/api/v1/session_heartbeat", "{\"session_id\":7}", "session_id: expected string", 400},
        {"/api/v1/session_heartbeat", "{\"session_id\":\"ghost\"}", "session \"ghost\" not found", 404},
        {"/api/v1/create_sampling_session", "{\"session_id\":\"s\"}", "sampling_session_seq_id: required", 400},
        {"/api/v1/create_sampling_session", "{\"session_id\":\"s\",\"sampling_session_seq_id\":0}",
         "give base_model or model_path", 400},
        {"/api/v1/create_sampling_session",
         "{\"session_id\":\"s\",\"sampling_session_seq_id\":0,\"model_path\":\"http://x\"}", "tinker://", 400},
        {"/api/v1/create_sampling_session",
         "{\"session_id\":\"s\",\"sampling_session_seq_id\":0,\"model_path\":\"tinker://r/sampler_weights/x\"}",
         "training run \"r\" not found", 404},
        {"/api/v1/create_sampling_session",
         "{\"session_id\":\"s\",\"sampling_session_seq_id\":0,\"base_model\":\"nobody/serves-this\"}",
         "is not served here", 400},
        {"/api/v1/retrieve_future", "{}", "request_id: required field is missing", 400},
        {"/api/v1/retrieve_future", "{\"request_id\":12}", "request_id: expected string", 400},
        {"/api/v1/retrieve_future", "{\"request_id\":\"\"}", "request_id: must be", 400},
        {"/api/v1/retrieve_future", "{\"request_id\":\"x\",\"allow_metadata_only\":\"yes\"}",
         "allow_metadata_only: expected boolean", 400},
        {"/api/v1/retrieve_future", "{\"request_id\":\"never-issued\"}", "unknown request_id", 404},
        {"/api/v1/weights_info", "{\"tinker_path\":\"tinker://a/b\"}", "expected tinker://", 400},
        {"/api/v1/weights_info", "{\"tinker_path\":\"tinker://a/weights/../x\"}", "..", 400},
        {"/api/v1/weights_info", "{\"tinker_path\":\"tinker://a/weights/x\"}", "training run \"a\" not found", 404},
        {"/api/v1/unload_model", "{\"model_id\":[]}", "model_id: expected string", 400},
        {"/api/v1/unload_model", "{\"model_id\":\"ghost\"}", "model \"ghost\" not found", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_res r;
        http_do("POST", url_of(&h, cases[i].path), json, cases[i].body, strlen(cases[i].body), &r);
        expect_error(&r, cases[i].status, cases[i].needle);
        http_res_free(&r);
    }
    struct { const char *m, *path, *body, *needle; long status; } puts_[] = {
        {"PUT", "/api/v1/sessions/x/project", "{}", "project_id: required", 400},
        {"PUT", "/api/v1/sessions/x/project", "{\"project_id\":\"p\"}", "session \"x\" not found", 404},
        {"PUT", "/api/v1/training_runs/r/checkpoints/weights/w/ttl", "{}", "ttl_seconds: missing", 400},
        {"PUT", "/api/v1/training_runs/r/checkpoints/weights/w/ttl", "{\"ttl_seconds\":0}", "must be positive", 400},
        {"PUT", "/api/v1/training_runs/r/checkpoints/weights/w/ttl", "{\"ttl_seconds\":-5}", "must be positive", 400},
        {"PUT", "/api/v1/training_runs/r/checkpoints/weights/w/ttl", "{\"ttl_seconds\":\"1\"}", "expected a number", 400},
        {"PUT", "/api/v1/training_runs/r/checkpoints/weights/w/ttl", "{\"ttl_seconds\":60}", "not found", 404},
    };
    for (size_t i = 0; i < sizeof puts_ / sizeof puts_[0]; i++) {
        http_res r;
        http_do(puts_[i].m, url_of(&h, puts_[i].path), json, puts_[i].body, strlen(puts_[i].body), &r);
        expect_error(&r, puts_[i].status, puts_[i].needle);
        http_res_free(&r);
    }
    /* deeply nested JSON is refused by the parser, not by a crash */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 8);
    size_t k = 0;
    deep[k++] = '{';
    memcpy(deep + k, "\"a\":", 4);
    k += 4;
    for (size_t i = 0; i < depth; i++) deep[k++] = '[';
    for (size_t i = 0; i < depth; i++) deep[k++] = ']';
    deep[k++] = '}';
    http_res r;
    http_do("POST", url_of(&h, "/api/v1/telemetry"), json, deep, k, &r);
    expect_error(&r, 400, "request body");
    http_res_free(&r);
    free(deep);
    harness_stop(&h, false);
}

static void test_bind_errors(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, false);
    tk_server_config c;
    harness_config(&c);
    c.port = tk_server_port(h.s); /* taken */
    c.data_dir = h.dir;
    tk_server *s = NULL;
    tk_err e = {0};
    assert_err(tk_server_start(&c, &s, &e), TK_EIO, &e, "cannot listen on 127.0.0.1 port");
    c.port = 70000;
    assert_err(tk_server_start(&c, &s, &e), TK_EINVAL, &e, "port");
    c.port = 0;
    c.host = "not a host name!";
    assert_err(tk_server_start(&c, &s, &e), TK_EINVAL, &e, "--host");
    c.host = "127.0.0.1";
    c.session_timeout_s = 0;
    assert_err(tk_server_start(&c, &s, &e), TK_EINVAL, &e, "session_timeout_s");
    harness_stop(&h, false);
    /* IPv6 loopback, when the machine has it */
    harness_config(&c);
    c.host = "::1";
    char *dir = tk_test_tmpdir();
    c.data_dir = dir;
    if (tk_server_start(&c, &s, &e) == 0) {
        assert_non_null(strstr(tk_server_url(s), "http://[::1]:"));
        http_res r;
        char u[256];
        snprintf(u, sizeof u, "%s/api/v1/healthz", tk_server_url(s));
        http_do("GET", u, NULL, NULL, 0, &r);
        assert_int_equal(r.status, 200);
        http_res_free(&r);
        tk_server_stop(s);
    }
    tk_remove_tree(dir, &e);
    free(dir);
}

int main(void) {
    tk_log_set_level(TK_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap),      cmocka_unit_test(test_routing),
        cmocka_unit_test(test_auth),           cmocka_unit_test(test_body_caps_and_encoding),
        cmocka_unit_test(test_malformed_bodies), cmocka_unit_test(test_bind_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
