/* Configuration: the environment variables of protocol §1.1 (TINKER_API_KEY with its prefix
 * check, TINKER_BASE_URL, TINKER_PROJECT_ID, TINKER_TAGS, CLOUDFLARE_ACCESS_*,
 * TINKER_CREDENTIAL_CMD), the default URL, loopback without a key, local mode through the
 * registered backend, and option validation. */
#include "client_test_util.h"

static void clear_env(void) {
    const char *vars[] = {"TINKER_API_KEY", "TINKER_BASE_URL", "TINKER_PROJECT_ID", "TINKER_TAGS",
                          "TINKER_CREDENTIAL_CMD", "CLOUDFLARE_ACCESS_CLIENT_ID",
                          "CLOUDFLARE_ACCESS_CLIENT_SECRET", NULL};
    for (int i = 0; vars[i]; i++) unsetenv(vars[i]);
    tk_client_set_local_backend(NULL);
}

static int try_open(const char *base, const char *key, tk_client **c, tk_err *e) {
    tk_client_options o;
    tk_client_options_init(&o);
    o.base_url = base;
    o.api_key = key;
    *c = NULL;
    return tk_client_open(&o, c, e);
}

/* One POST to /api/v1/ping; returns the recorded request. */
static const tk_mock_request *ping(tk_client *c, tk_mock *m) {
    tk_mock_push_json(m, "POST", "/api/v1/ping", 200, "{}");
    size_t before = tk_mock_count(m, NULL, NULL);
    tk_client_call_spec s = {.path = "/api/v1/ping", .body = "{}", .body_len = 2};
    tk_client_future *f;
    tk_err e = {0};
    assert_ok(run_call(c, &s, &f, &e), &e);
    tk_client_future_release(f);
    return tk_mock_get(m, before);
}

static void test_api_key_prefix_check(void **state) {
    (void)state;
    clear_env();
    tk_client *c;
    tk_err e = {0};
    assert_err(try_open("https://example.invalid", "sk-secret-123", &c, &e), TK_EINVAL, &e,
               "must start with \"tml-\"");
    assert_null(strstr(e.msg, "sk-secret-123"));   /* never echo the key */
    assert_null(c);
    assert_err(try_open("https://example.invalid", "tml-a b", &c, &e), TK_EINVAL, &e, "blank");
    setenv("TINKER_API_KEY", "bad-env-key", 1);
    assert_err(try_open("https://example.invalid", NULL, &c, &e), TK_EINVAL, &e, "TINKER_API_KEY");
    clear_env();
    assert_ok(try_open("https://example.invalid", "eyJhbGciOiJIUzI1NiJ9.e30.x", &c, &e), &e);
    tk_client_close(c);
    assert_ok(try_open("https://example.invalid", "tml-abc", &c, &e), &e);
    tk_client_close(c);
}

static void test_env_base_url_and_key(void **state) {
    (void)state;
    clear_env();
    tk_mock *m = start_mock();
    char url[80];
    snprintf(url, sizeof url, "%s//", tk_mock_url(m));   /* trailing slashes are dropped */
    setenv("TINKER_BASE_URL", url, 1);
    setenv("TINKER_API_KEY", "tml-from-env", 1);
    setenv("CLOUDFLARE_ACCESS_CLIENT_ID", "cf-id", 1);
    setenv("CLOUDFLARE_ACCESS_CLIENT_SECRET", "cf-secret", 1);
    tk_client *c;
    tk_err e = {0};
    assert_ok(try_open(NULL, NULL, &c, &e), &e);
    assert_string_equal(tk_client_base_url(c), tk_mock_url(m));
    assert_false(tk_client_is_local(c));
    const tk_mock_request *q = ping(c, m);
    assert_string_equal(q->path, "/api/v1/ping");
    assert_string_equal(tk_mock_req_header(q, "X-API-Key"), "tml-from-env");
    assert_string_equal(tk_mock_req_header(q, "CF-Access-Client-Id"), "cf-id");
    assert_string_equal(tk_mock_req_header(q, "CF-Access-Client-Secret"), "cf-secret");
    tk_client_close(c);
    /* options win over the environment */
    assert_ok(try_open(tk_mock_url(m), "tml-from-option", &c, &e), &e);
    q = ping(c, m);
    assert_string_equal(tk_mock_req_header(q, "X-API-Key"), "tml-from-option");
    tk_client_close(c);
    /* values that become headers cannot smuggle in header lines */
    setenv("CLOUDFLARE_ACCESS_CLIENT_SECRET", "x\r\nX-Evil: 1", 1);
    assert_err(try_open(tk_mock_url(m), "tml-k", &c, &e), TK_EINVAL, &e,
               "CLOUDFLARE_ACCESS_CLIENT_SECRET: contains a control character");
    clear_env();
    tk_mock_stop(m);
}

static void test_default_url_and_loopback_without_key(void **state) {
    (void)state;
    clear_env();
    tk_client *c;
    tk_err e = {0};
    setenv("TINKER_API_KEY", "tml-k", 1);
    assert_ok(try_open(NULL, NULL, &c, &e), &e);
    assert_string_equal(tk_client_base_url(c), TK_CLIENT_DEFAULT_BASE_URL);
    tk_client_close(c);
    clear_env();
    assert_err(try_open("https://tinker.example.com", NULL, &c, &e), TK_EINVAL, &e,
               "TINKER_API_KEY is not set");
    assert_err(try_open("ftp://127.0.0.1", NULL, &c, &e), TK_EINVAL, &e, "http:// or https://");
    assert_err(try_open("http://", NULL, &c, &e), TK_EINVAL, &e, "base URL");
    tk_mock *m = start_mock();
    assert_ok(try_open(tk_mock_url(m), NULL, &c, &e), &e);
    assert_string_equal(tk_mock_req_header(ping(c, m), "X-API-Key"), "tml-dummy");
    tk_client_close(c);
    tk_mock_stop(m);
}

static void test_project_and_tags(void **state) {
    (void)state;
    clear_env();
    setenv("TINKER_PROJECT_ID", "proj-7", 1);
    setenv("TINKER_TAGS", " exp-1, lr=1e-4,, last ", 1);
    tk_client *c;
    tk_err e = {0};
    assert_ok(try_open("https://example.invalid", "tml-k", &c, &e), &e);
    assert_string_equal(tk_client_project_id(c), "proj-7");
    size_t n;
    const char *const *tags = tk_client_tags(c, &n);
    assert_int_equal(n, 3);
    assert_string_equal(tags[0], "exp-1");
    assert_string_equal(tags[1], "lr=1e-4");
    assert_string_equal(tags[2], "last");
    tk_client_close(c);
    clear_env();
    assert_ok(try_open("https://example.invalid", "tml-k", &c, &e), &e);
    assert_null(tk_client_project_id(c));
    tk_client_tags(c, &n);
    assert_int_equal(n, 0);
    tk_client_close(c);
}

static void test_credential_command(void **state) {
    (void)state;
    clear_env();
    tk_mock *m = start_mock();
    setenv("TINKER_CREDENTIAL_CMD", "printf '  tml-from-cmd  \\nsecond line\\n'", 1);
    tk_client *c;
    tk_err e = {0};
    assert_ok(try_open(tk_mock_url(m), NULL, &c, &e), &e);
    assert_string_equal(tk_mock_req_header(ping(c, m), "X-API-Key"), "tml-from-cmd");
    tk_client_close(c);
    setenv("TINKER_CREDENTIAL_CMD", "echo oops >&2; exit 3", 1);
    assert_err(try_open(tk_mock_url(m), NULL, &c, &e), TK_EIO, &e, "exit status 3");
    setenv("TINKER_CREDENTIAL_CMD", "true", 1);
    assert_err(try_open(tk_mock_url(m), NULL, &c, &e), TK_EINVAL, &e, "printed nothing");
    setenv("TINKER_CREDENTIAL_CMD", "echo not-a-key", 1);
    assert_err(try_open(tk_mock_url(m), NULL, &c, &e), TK_EINVAL, &e, "TINKER_CREDENTIAL_CMD");
    clear_env();
    tk_mock_stop(m);
}

/* A local backend that serves from a mock server. */
typedef struct fake_backend {
    tk_mock *m;
    int starts, stops;
    bool fail;
} fake_backend;

static int fb_start(void *user, char **url, void **handle, tk_err *e) {
    fake_backend *b = user;
    if (b->fail) return tk_err_set(e, TK_EIO, "no free port");
    b->starts++;
    *url = tk_strdup(tk_mock_url(b->m));
    *handle = b;
    return 0;
}

static void fb_stop(void *user, void *handle) {
    fake_backend *b = user;
    assert_ptr_equal(handle, b);
    b->stops++;
}

static void test_local_mode(void **state) {
    (void)state;
    clear_env();
    tk_client *c;
    tk_err e = {0};
    assert_err(try_open(NULL, NULL, &c, &e), TK_EUNSUPPORTED, &e, "no local backend is linked");
    fake_backend b = {.m = start_mock()};
    tk_client_local_backend be = {.start = fb_start, .stop = fb_stop, .user = &b};
    tk_client_set_local_backend(&be);
    assert_ok(try_open(NULL, NULL, &c, &e), &e);
    assert_true(tk_client_is_local(c));
    assert_string_equal(tk_client_base_url(c), tk_mock_url(b.m));
    assert_string_equal(tk_mock_req_header(ping(c, b.m), "X-API-Key"), "tml-local");
    tk_client_close(c);
    assert_int_equal(b.starts, 1);
    assert_int_equal(b.stops, 1);
    /* base_url=local wins over a key in the environment */
    setenv("TINKER_API_KEY", "tml-k", 1);
    assert_ok(try_open("local", NULL, &c, &e), &e);
    assert_true(tk_client_is_local(c));
    tk_client_close(c);
    assert_int_equal(b.stops, 2);
    /* a key alone means the hosted service, not local */
    assert_ok(try_open(NULL, NULL, &c, &e), &e);
    assert_false(tk_client_is_local(c));
    tk_client_close(c);
    assert_int_equal(b.starts, 2);
    b.fail = true;
    assert_err(try_open("local", NULL, &c, &e), TK_EIO, &e, "starting the local backend: no free port");
    clear_env();
    tk_mock_stop(b.m);
}

static void test_option_validation(void **state) {
    (void)state;
    clear_env();
    tk_client_options o;
    tk_client *c = NULL;
    tk_err e = {0};
    tk_client_options_init(&o);
    o.api_key = "tml-k";
    o.base_url = "https://example.invalid";
    o.connect_timeout_s = 0;
    assert_err(tk_client_open(&o, &c, &e), TK_EINVAL, &e, "connect_timeout_s");
    tk_client_options_init(&o);
    o.api_key = "tml-k";
    o.base_url = "https://example.invalid";
    o.max_retries = -1;
    assert_err(tk_client_open(&o, &c, &e), TK_EINVAL, &e, "max_retries");
    tk_client_options_init(&o);
    o.api_key = "tml-k";
    o.base_url = "https://example.invalid";
    o.retry_time_scale = -1;
    assert_err(tk_client_open(&o, &c, &e), TK_EINVAL, &e, "retry_time_scale");
    assert_null(c);
    tk_client_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_key_prefix_check),
        cmocka_unit_test(test_env_base_url_and_key),
        cmocka_unit_test(test_default_url_and_loopback_without_key),
        cmocka_unit_test(test_project_and_tags),
        cmocka_unit_test(test_credential_command),
        cmocka_unit_test(test_local_mode),
        cmocka_unit_test(test_option_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
