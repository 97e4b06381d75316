/* The transport against the scripted mock server: methods, the headers of protocol §1.3, exact
 * request and response bytes (binary, large, zstd), keep-alive, HTTPS, size limits and bad
 * call specs. */
#include "client_test_util.h"

#include <zstd.h>

static void test_post_json_headers_and_body(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_answer a = {.status = 200, .body = "{\"ok\":true}", .headers = "X-Reply: yes"};
    tk_mock_push(m, "POST", "/api/v1/echo", &a);
    tk_client *c = open_client(tk_mock_url(m), TEST_TIME_SCALE, NULL);
    const char *extra[] = {"X-Extra: 1", NULL};
    tk_client_call_spec s = {.path = "/api/v1/echo", .body = "{\"a\":1}", .body_len = 7,
                             .headers = extra};
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    const tk_client_response *r = tk_client_future_response(f);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body.len, 11);
    assert_memory_equal(r->body.data, "{\"ok\":true}", 11);
    assert_string_equal(r->content_type, "application/json");
    assert_string_equal(tk_client_response_header(r, "x-reply"), "yes");
    assert_null(tk_client_response_header(r, "X-Absent"));

    const tk_mock_request *q = tk_mock_get(m, 0);
    assert_non_null(q);
    assert_string_equal(q->method, "POST");
    assert_true(body_equals(q, "{\"a\":1}"));
    assert_string_equal(tk_mock_req_header(q, "X-API-Key"), "tml-test-key");
    assert_string_equal(tk_mock_req_header(q, "Content-Type"), "application/json");
    assert_string_equal(tk_mock_req_header(q, "Accept"), "application/json");
    assert_string_equal(tk_mock_req_header(q, "x-stainless-retry-count"), "0");
    assert_string_equal(tk_mock_req_header(q, "X-Extra"), "1");
    assert_non_null(strstr(tk_mock_req_header(q, "User-Agent"), "tinkerc/"));
    const char *key = tk_mock_req_header(q, "X-Idempotency-Key");
    assert_non_null(key);
    assert_true(!strncmp(key, "tinkerc-retry-", 14) && strlen(key) == 14 + 36);
    assert_null(tk_mock_req_header(q, "Expect"));
    assert_null(tk_mock_req_header(q, "X-Tinker-Sampling-Backpressure"));
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_methods_and_query(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "GET", "/api/v1/training_runs", 200, "{\"training_runs\":[]}");
    tk_mock_push_json(m, "PUT", "/api/v1/x/ttl", 200, "{}");
    tk_mock_answer no_content = {.status = 204};
    tk_mock_push(m, "DELETE", "/api/v1/x", &no_content);
    tk_client *c = open_client(tk_mock_url(m), TEST_TIME_SCALE, NULL);
    tk_err e = {0};
    tk_client_future *f;

    tk_client_call_spec g = {.method = "GET", .path = "/api/v1/training_runs?limit=20&offset=0"};
    assert_ok(run_call(c, &g, &f, &e), &e);
    assert_int_equal(tk_client_future_response(f)->status, 200);
    tk_client_future_release(f);
    tk_client_call_spec p = {.method = "PUT", .path = "/api/v1/x/ttl",
                             .body = "{\"ttl_seconds\":60}", .body_len = 18};
    assert_ok(run_call(c, &p, &f, &e), &e);
    tk_client_future_release(f);
    tk_client_call_spec d = {.method = "DELETE", .path = "/api/v1/x"};
    assert_ok(run_call(c, &d, &f, &e), &e);
    assert_int_equal(tk_client_future_response(f)->status, 204);
    assert_int_equal(tk_client_future_response(f)->body.len, 0);
    tk_client_future_release(f);

    const tk_mock_request *q0 = tk_mock_get(m, 0), *q1 = tk_mock_get(m, 1),
                          *q2 = tk_mock_get(m, 2);
    assert_string_equal(q0->method, "GET");
    assert_string_equal(q0->path, "/api/v1/training_runs");
    assert_string_equal(q0->query, "limit=20&offset=0");
    assert_int_equal(q0->body_len, 0);
    assert_null(tk_mock_req_header(q0, "X-Idempotency-Key"));   /* GET: none */
    assert_string_equal(q1->method, "PUT");
    assert_true(body_equals(q1, "{\"ttl_seconds\":60}"));
    assert_non_null(tk_mock_req_header(q1, "X-Idempotency-Key"));
    assert_string_equal(q2->method, "DELETE");
    assert_int_equal(q2->body_len, 0);
    tk_client_close(c);
    tk_mock_stop(m);
}

/* The response body is the request body reversed, byte for byte. */
static void reverse_handler(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch,
                            void *user) {
    (void)user;
    if (tk_buf_reserve(scratch, req->body_len + 1)) return;
    for (size_t i = 0; i < req->body_len; i++)
        scratch->data[i] = (char)req->body[req->body_len - 1 - i];
    scratch->len = req->body_len;
    out->status = 200;
    out->body = scratch->data;
    out->body_len = scratch->len;
    out->content_type = "application/x-protobuf";
}

static void test_large_binary_bodies_exact(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_set_handler(m, "POST", "/api/v1/rev", reverse_handler, NULL);
    tk_client *c = open_client(tk_mock_url(m), TEST_TIME_SCALE, NULL);
    size_t n = 3u << 20;   /* 3 MiB with every byte value, NULs included */
    unsigned char *body = malloc(n);
    tk_rng rng;
    tk_rng_seed(&rng, 7);
    for (size_t i = 0; i < n; i++) body[i] = (unsigned char)tk_rng_u64(&rng);
    tk_client_call_spec s = {.path = "/api/v1/rev", .body = body, .body_len = n,
                             .content_type = "application/x-protobuf",
                             .accept = "application/x-protobuf"};
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    const tk_client_response *r = tk_client_future_response(f);
    assert_int_equal(r->body.len, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r->body.data[i] != body[n - 1 - i]) fail_msg("byte %zu differs", i);
    assert_string_equal(r->content_type, "application/x-protobuf");
    const tk_mock_request *q = tk_mock_get(m, 0);
    assert_int_equal(q->body_len, n);
    assert_memory_equal(q->body, body, n);
    assert_string_equal(tk_mock_req_header(q, "Content-Type"), "application/x-protobuf");
    tk_client_future_release(f);

    /* give_body: the client takes the buffer without copying */
    unsigned char *given = malloc(1000);
    memset(given, 0xAB, 1000);
    tk_client_call_spec g = {.path = "/api/v1/rev", .body = given, .body_len = 1000,
                             .give_body = true};
    assert_ok(run_call(c, &g, &f, &e), &e);
    assert_int_equal(tk_client_future_response(f)->body.len, 1000);
    assert_int_equal((unsigned char)tk_client_future_response(f)->body.data[999], 0xAB);
    tk_client_future_release(f);
    free(body);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_zstd_request_body(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    tk_mock_push_json(m, "POST", "/api/v1/forward_backward", 200, "{\"request_id\":\"r\"}");
    tk_client *c = open_client(tk_mock_url(m), TEST_TIME_SCALE, NULL);
    size_t n = 200000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++) body[i] = (char)('a' + (i * 7 % 13));
    tk_client_call_spec s = {.path = "/api/v1/forward_backward", .body = body, .body_len = n,
                             .zstd = true, .content_type = "application/x-protobuf"};
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    const tk_mock_request *q = tk_mock_get(m, 0);
    assert_string_equal(tk_mock_req_header(q, "Content-Encoding"), "zstd");
    assert_true(q->body_len < n / 10);   /* it really was compressed */
    char *plain = malloc(n);
    size_t got = ZSTD_decompress(plain, n, q->body, q->body_len);
    assert_false(ZSTD_isError(got));
    assert_int_equal(got, n);
    assert_memory_equal(plain, body, n);
    free(plain);
    free(body);
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_keep_alive_reuses_one_connection(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    for (int i = 0; i < 5; i++) tk_mock_push_json(m, "POST", "/api/v1/p", 200, "{}");
    tk_client *c = open_client(tk_mock_url(m), TEST_TIME_SCALE, NULL);
    tk_client_call_spec s = {.path = "/api/v1/p", .body = "{}", .body_len = 2};
    for (int i = 0; i < 5; i++) {
        tk_client_future *f;
        tk_err e = {0};
        assert_ok(run_call(c, &s, &f, &e), &e);
        tk_client_future_release(f);
    }
    int port0 = tk_mock_get(m, 0)->client_port;
    assert_true(port0 > 0);
    for (size_t i = 1; i < 5; i++) assert_int_equal(tk_mock_get(m, i)->client_port, port0);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_https_with_own_ca(void **state) {
    (void)state;
    tk_buf cert = {0}, key = {0};
    tk_err e = {0};
    assert_ok(tk_file_read("tests/data/client/loopback-cert.pem", &cert, 0, &e), &e);
    assert_ok(tk_file_read("tests/data/client/loopback-key.pem", &key, 0, &e), &e);
    tk_mock *m = NULL;
    assert_ok(tk_mock_start(cert.data, key.data, &m, &e), &e);
    tk_mock_push_json(m, "POST", "/api/v1/healthz", 200, "{\"status\":\"ok\"}");
    tk_mock_push_json(m, "POST", "/api/v1/healthz", 200, "{\"status\":\"ok\"}");
    assert_non_null(strstr(tk_mock_url(m), "https://"));

    /* trusted through ca_file: works */
    tk_client_options o;
    tk_client_options_init(&o);
    o.ca_file = "tests/data/client/loopback-cert.pem";
    tk_client *c = open_client_opts(tk_mock_url(m), &o, NULL);
    tk_client_call_spec s = {.path = "/api/v1/healthz", .body = "{}", .body_len = 2};
    tk_client_future *f;
    assert_ok(run_call(c, &s, &f, &e), &e);
    assert_int_equal(tk_client_future_response(f)->status, 200);
    tk_client_future_release(f);
    tk_client_close(c);

    /* the system trust store does not know the certificate: a fatal, unretried error */
    tk_client_options_init(&o);
    c = open_client_opts(tk_mock_url(m), &o, NULL);
    assert_err(run_call(c, &s, &f, &e), TK_ENET, &e, "/api/v1/healthz");
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_NETWORK);
    assert_int_equal(tk_client_future_failure(f).attempts, 1);
    tk_client_future_release(f);
    tk_client_close(c);
    assert_int_equal(tk_mock_count(m, NULL, NULL), 1);
    tk_mock_stop(m);
    tk_buf_free(&cert);
    tk_buf_free(&key);
}

static void test_response_size_limit(void **state) {
    (void)state;
    tk_mock *m = start_mock();
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    tk_mock_answer a = {.status = 200, .body = big};
    tk_mock_push(m, "POST", "/api/v1/big", &a);
    tk_client_options o;
    tk_client_options_init(&o);
    o.max_response_bytes = 1000;
    o.retry_time_scale = TEST_TIME_SCALE;
    tk_client *c = open_client_opts(tk_mock_url(m), &o, NULL);
    tk_client_call_spec s = {.path = "/api/v1/big", .body = "{}", .body_len = 2};
    tk_client_future *f;
    tk_err e = {0};
    assert_err(run_call(c, &s, &f, &e), TK_ENOMEM, &e, "max_response_bytes");
    assert_int_equal(tk_client_future_failure(f).kind, TK_CLIENT_FAIL_PROTOCOL);
    assert_int_equal(tk_mock_count(m, NULL, NULL), 1);   /* never retried */
    tk_client_future_release(f);
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_bad_specs(void **state) {
    (void)state;
    tk_client *c = open_client("http://127.0.0.1:9", TEST_TIME_SCALE, NULL);
    tk_client_future *f = (tk_client_future *)1;
    tk_err e = {0};
    tk_client_call_spec s = {.method = "PATCH", .path = "/x"};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "method \"PATCH\"");
    assert_null(f);
    s = (tk_client_call_spec){.path = "x"};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "path: must start with '/'");
    s = (tk_client_call_spec){.method = "GET", .path = "/x", .body = "a", .body_len = 1};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "GET request cannot carry a body");
    s = (tk_client_call_spec){.path = "/x", .body_len = 3};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "body: NULL");
    s = (tk_client_call_spec){.method = "GET", .path = "/x", .is_future = true};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "future call must be a POST");
    const char *bad_hdr[] = {"NoColon", NULL};
    s = (tk_client_call_spec){.path = "/x", .headers = bad_hdr};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "\"NoColon\" is not");
    const char *crlf[] = {"A: b\r\nInjected: 1", NULL};
    s = (tk_client_call_spec){.path = "/x", .headers = crlf};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "line break");
    s = (tk_client_call_spec){.path = "/x", .deadline_s = -1};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "deadline_s");
    tk_client_lane *lane;
    assert_ok(tk_client_lane_new(c, &lane, &e), &e);
    s = (tk_client_call_spec){.path = "/x", .is_future = true, .lane = lane,
                              .resubmit_on_expired = true};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "cannot be used in a lane");
    tk_client_call_spec two[2] = {{.path = "/a", .lane = lane}, {.path = "/b"}};
    tk_client_future *fs[2];
    assert_err(tk_client_call_group(c, two, 2, fs, &e), TK_EINVAL, &e, "same lane");
    assert_null(fs[0]);
    /* give_body is freed even when the call is refused (ASan would report a leak) */
    char *owned = malloc(4);
    memcpy(owned, "abcd", 4);
    s = (tk_client_call_spec){.method = "GET", .path = "/x", .body = owned, .body_len = 4,
                              .give_body = true};
    assert_err(tk_client_call(c, &s, &f, &e), TK_EINVAL, &e, "GET");
    tk_client_lane_free(lane);
    tk_client_close(c);
}

static void test_connection_refused_is_retried_then_fails(void **state) {
    (void)state;
    recorder rec;
    rec_init(&rec);
    /* a port nothing listens on: take a mock's port, then stop it */
    tk_mock *m = start_mock();
    char url[64];
    snprintf(url, sizeof url, "%s", tk_mock_url(m));
    tk_mock_stop(m);
    tk_client_options o;
    tk_client_options_init(&o);
    o.retry_time_scale = TEST_TIME_SCALE;
    o.max_retries = 3;
    tk_client *c = open_client_opts(url, &o, &rec);
    tk_client_call_spec s = {.path = "/api/v1/x", .body = "{}", .body_len = 2};
    tk_client_future *f;
    tk_err e = {0};
    assert_err(run_call(c, &s, &f, &e), TK_ENET, &e, "gave up after 4 attempts");
    assert_non_null(strstr(e.msg, "connection error"));
    tk_client_failure fl = tk_client_future_failure(f);
    assert_int_equal(fl.kind, TK_CLIENT_FAIL_NETWORK);
    assert_int_equal(fl.attempts, 4);
    assert_int_equal(fl.http_status, 0);
    assert_int_equal(rec_count(&rec, TK_CLIENT_EV_RETRY_REQUEST), 3);
    tk_client_future_release(f);
    tk_client_close(c);
    rec_free(&rec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_json_headers_and_body),
        cmocka_unit_test(test_methods_and_query),
        cmocka_unit_test(test_large_binary_bodies_exact),
        cmocka_unit_test(test_zstd_request_body),
        cmocka_unit_test(test_keep_alive_reuses_one_connection),
        cmocka_unit_test(test_https_with_own_ca),
        cmocka_unit_test(test_response_size_limit),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_connection_refused_is_retried_then_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
