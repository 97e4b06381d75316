/* Local mode: with no TINKER_BASE_URL and no TINKER_API_KEY (or base_url "local"), a program
 * that registered tk_local starts the embedded server on an ephemeral loopback port and the
 * client talks HTTP to it; closing the client stops it. Without the registration, local mode is
 * a clear error. */
#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tinkerc/client.h"
#include "tinkerc/local.h"

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = tk_test_tmpdir();
    unsetenv("TINKER_BASE_URL");
    unsetenv("TINKER_API_KEY");
    unsetenv("TINKER_CREDENTIAL_CMD");
    return g_dir ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tk_local_unregister();
    tk_err e = {0};
    tk_remove_tree(g_dir, &e);
    free(g_dir);
    return 0;
}

static bool port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int url_port(const char *url) {
    const char *c = strrchr(url, ':');
    return c ? atoi(c + 1) : -1;
}

static void register_local(void) {
    tk_local_options o = {.data_dir = g_dir};
    tk_err e = {0};
    assert_ok(tk_local_register(&o, &e), &e);
}

static void test_no_url_no_key_starts_embedded_server(void **state) {
    (void)state;
    register_local();
    tk_client_service *s = NULL;
    tk_err e = {0};
    assert_ok(tk_client_service_open(NULL, &s, &e), &e);
    tk_client *c = tk_client_service_client(s);
    assert_true(tk_client_is_local(c));
    const char *url = tk_client_base_url(c);
    assert_true(!strncmp(url, "http://127.0.0.1:", 17));
    int port = url_port(url);
    assert_true(port > 0);
    assert_true(port_open(port));
    assert_non_null(tk_client_service_session_id(s));
    /* the server knows our session: REST through the same client */
    tk_client_task *t = NULL;
    assert_ok(tk_client_rest_get_session(s, tk_client_service_session_id(s), &t, &e), &e);
    tk_arena *a = tk_arena_new(0);
    tk_wire_session_response sr;
    assert_ok(tk_client_task_result(t, 30, a, TK_WIRE_MSG_SESSION_RESPONSE, &sr, &e), &e);
    tk_client_task_release(t);
    assert_ok(tk_client_service_get_server_capabilities(s, &t, &e), &e);
    tk_wire_server_capabilities caps;
    assert_ok(tk_client_task_result(t, 30, a, TK_WIRE_MSG_SERVER_CAPABILITIES, &caps, &e), &e);
    tk_client_task_release(t);
    tk_arena_free(a);
    tk_client_service_close(s);
    assert_false(port_open(port));   /* closing the client stopped its server */
}

static void test_base_url_local_with_key(void **state) {
    (void)state;
    register_local();
    setenv("TINKER_API_KEY", "tml-someone", 1);
    tk_client_options o;
    tk_client_options_init(&o);
    o.base_url = "local";
    tk_client *c = NULL;
    tk_err e = {0};
    assert_ok(tk_client_open(&o, &c, &e), &e);
    assert_true(tk_client_is_local(c));
    tk_client_close(c);
    /* a key and no URL means the hosted service, not local mode: nothing starts */
    tk_client_options_init(&o);
    o.connect_timeout_s = 0.001;
    assert_ok(tk_client_open(&o, &c, &e), &e);
    assert_false(tk_client_is_local(c));
    assert_string_equal(tk_client_base_url(c), TK_CLIENT_DEFAULT_BASE_URL);
    tk_client_close(c);
    unsetenv("TINKER_API_KEY");
}

static void test_unregistered_is_an_error(void **state) {
    (void)state;
    tk_local_unregister();
    tk_client_service *s = NULL;
    tk_err e = {0};
    assert_err(tk_client_service_open(NULL, &s, &e), TK_EUNSUPPORTED, &e, "libtinkerc_local");
    assert_null(s);
}

static void test_bad_data_dir(void **state) {
    (void)state;
    tk_local_options o = {.data_dir = "/proc/tinkerc-cannot-write-here"};
    tk_err e = {0};
    assert_ok(tk_local_register(&o, &e), &e);
    tk_client_service *s = NULL;
    assert_err(tk_client_service_open(NULL, &s, &e), TK_EIO, &e, "local backend");
    assert_null(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_url_no_key_starts_embedded_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_url_local_with_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregistered_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_data_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
