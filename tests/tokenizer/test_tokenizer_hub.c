/* Finding tokenizers by name: paths, the Hugging Face cache layout, and downloads from a stand-in
 * for the hub that this test serves on 127.0.0.1 (HF_ENDPOINT points at it). The stand-in
 * answers like huggingface.co: /<repo>/resolve/<rev>/<file>, a redirect for tokenizer.json (as for
 * LFS files) with X-Repo-Commit and X-Linked-Etag, 404 for missing files, 401 for a gated repo. */
#include "tok_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>
#include <pthread.h>

#define SYNTH "tests/data/tokenizer/synthetic/gpt2"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"

static struct MHD_Daemon *g_daemon;
static int g_port;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_requests;
static char g_last_auth[256];
static char g_last_url[512];
static tk_buf g_tokenizer_json;
static char *g_tmp;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body, size_t n,
                             const char *const *headers) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    for (int k = 0; headers && headers[k]; k += 2) MHD_add_response_header(r, headers[k], headers[k + 1]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)cls, (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&g_mu);
    g_requests++;
    snprintf(g_last_auth, sizeof g_last_auth, "%s", auth ? auth : "");
    snprintf(g_last_url, sizeof g_last_url, "%s", url);
    pthread_mutex_unlock(&g_mu);
    static const char *const commit_hdr[] = {"X-Repo-Commit", COMMIT, "ETag", "\"cfgetag1\"", NULL};
    if (strstr(url, "/gated/")) return reply(c, 401, "{\"error\":\"gated\"}", 17, NULL);
    const char *repos[] = {"/Org/Name/", "/thinkingmachineslabinc/meta-llama-3-instruct-tokenizer/"};
    for (int k = 0; k < 2; k++) {
        size_t l = strlen(repos[k]);
        if (strncmp(url, repos[k], l)) continue;
        const char *rest = url + l;
        if (!strcmp(rest, "resolve/main/tokenizer.json")) {
            char loc[128];
            snprintf(loc, sizeof loc, "http://127.0.0.1:%d/lfs/blob-tokenizer", g_port);
            const char *h[] = {"Location", loc, "X-Repo-Commit", COMMIT, "X-Linked-Etag", "\"lfsetag42\"", NULL};
            return reply(c, 302, "", 0, h);
        }
        if (!strcmp(rest, "resolve/" COMMIT "/tokenizer_config.json")) {
            const char *cfg = "{\"bos_token\": \"<|endoftext|>\", \"chat_template\": \"{{ x }}\"}";
            return reply(c, 200, cfg, strlen(cfg), commit_hdr);
        }
        return reply(c, 404, "Entry not found", 15, NULL);
    }
    if (!strcmp(url, "/lfs/blob-tokenizer")) {
        const char *h[] = {"ETag", "\"cdn-etag\"", NULL};
        return reply(c, 200, g_tokenizer_json.data, g_tokenizer_json.len, h);
    }
    return reply(c, 404, "Repository not found", 20, NULL);
}

static int setup(void **state) {
    (void)state;
    tk_err e = {0};
    if (tk_file_read(SYNTH "/tokenizer.json", &g_tokenizer_json, 0, &e)) return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
                                (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!g_daemon) return -1;
    g_port = MHD_get_daemon_info(g_daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", g_port);
    setenv("HF_ENDPOINT", ep, 1);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    unsetenv("HF_HUB_OFFLINE");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    MHD_stop_daemon(g_daemon);
    tk_buf_free(&g_tokenizer_json);
    return 0;
}

/* A fresh HF_HOME for each test. */
static int fresh_home(void **state) {
    (void)state;
    g_tmp = tk_test_tmpdir();
    if (!g_tmp) return -1;
    setenv("HF_HOME", g_tmp, 1);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_TOKEN");
    pthread_mutex_lock(&g_mu);
    g_requests = 0;
    g_last_auth[0] = g_last_url[0] = '\0';
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static int drop_home(void **state) {
    (void)state;
    tk_err e = {0};
    tk_remove_tree(g_tmp, &e);
    free(g_tmp);
    g_tmp = NULL;
    return 0;
}

static int requests(void) {
    pthread_mutex_lock(&g_mu);
    int n = g_requests;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static void test_path_and_directory(void **state) {
    (void)state;
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load_by_name(SYNTH, &t, &e), &e);
    assert_string_equal(tk_tokenizer_source(t), SYNTH);
    tk_tokenizer_free(t);
    assert_ok(tk_tokenizer_load_by_name(SYNTH "/tokenizer.json", &t, &e), &e);
    tk_tokenizer_free(t);
    assert_int_equal(requests(), 0);
}

static void test_download_into_cache(void **state) {
    (void)state;
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    setenv("HF_TOKEN", "hf_secret_for_test", 1);
    assert_ok(tk_tokenizer_load_by_name("Org/Name:some-suffix", &t, &e), &e);
    assert_int_equal(requests(), 4); /* redirect + blob + config + (missing) chat template */
    pthread_mutex_lock(&g_mu);
    assert_string_equal(g_last_auth, "Bearer hf_secret_for_test");
    pthread_mutex_unlock(&g_mu);
    /* the files from the stand-in, read through the cache layout */
    assert_int_equal(tk_tokenizer_bos_id(t), tk_tokenizer_token_to_id(t, "<|endoftext|>", 13));
    assert_string_equal(tk_tokenizer_chat_template(t), "{{ x }}");
    tk_tokenizer_free(t);
    char p[1024];
    tk_buf b = {0};
    snprintf(p, sizeof p, "%s/hub/models--Org--Name/refs/main", g_tmp);
    assert_ok(tk_file_read(p, &b, 0, &e), &e);
    assert_string_equal(b.data, COMMIT);
    tk_buf_free(&b);
    snprintf(p, sizeof p, "%s/hub/models--Org--Name/snapshots/" COMMIT "/tokenizer.json", g_tmp);
    char target[256] = "";
    ssize_t n = readlink(p, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_string_equal(target, "../../blobs/lfsetag42");
    snprintf(p, sizeof p, "%s/hub/models--Org--Name/blobs/lfsetag42", g_tmp);
    assert_ok(tk_file_read(p, &b, 0, &e), &e);
    assert_int_equal(b.len, g_tokenizer_json.len);
    tk_buf_free(&b);
    /* second time: from the cache, no request */
    assert_ok(tk_tokenizer_load_by_name("Org/Name", &t, &e), &e);
    assert_int_equal(requests(), 4);
    tk_tokenizer_free(t);
}

/* A cache filled by huggingface_hub (refs/main + snapshot) is used offline. */
static void test_existing_cache_offline(void **state) {
    (void)state;
    tk_err e = {0};
    char dir[1024], p[1100];
    snprintf(dir, sizeof dir, "%s/hub/models--Qwen--Qwen3-8B/snapshots/abc123", g_tmp);
    assert_ok(tk_mkdir_p(dir, 0755, &e), &e);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    assert_ok(tk_file_write_atomic(p, g_tokenizer_json.data, g_tokenizer_json.len, 0644, &e), &e);
    snprintf(p, sizeof p, "%s/hub/models--Qwen--Qwen3-8B/refs", g_tmp);
    assert_ok(tk_mkdir_p(p, 0755, &e), &e);
    snprintf(p, sizeof p, "%s/hub/models--Qwen--Qwen3-8B/refs/main", g_tmp);
    assert_ok(tk_file_write_atomic(p, "abc123\n", 7, 0644, &e), &e);
    setenv("HF_HUB_OFFLINE", "1", 1);
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load_by_name("Qwen/Qwen3-8B", &t, &e), &e);
    assert_non_null(strstr(tk_tokenizer_source(t), "snapshots/abc123"));
    tk_tokenizer_free(t);
    /* HF_HUB_CACHE takes precedence over HF_HOME */
    char hub[1024];
    snprintf(hub, sizeof hub, "%s/hub", g_tmp);
    setenv("HF_HUB_CACHE", hub, 1);
    setenv("HF_HOME", "/nonexistent-tinkerc-home", 1);
    assert_ok(tk_tokenizer_load_by_name("Qwen/Qwen3-8B", &t, &e), &e);
    tk_tokenizer_free(t);
    unsetenv("HF_HUB_CACHE");
    assert_int_equal(requests(), 0);
}

/* meta-llama/Llama-3* loads the cookbook's ungated copy. */
static void test_llama3_substitution(void **state) {
    (void)state;
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load_by_name("meta-llama/Llama-3.1-8B-Instruct", &t, &e), &e);
    tk_tokenizer_free(t);
    char p[1024];
    snprintf(p, sizeof p, "%s/hub/models--thinkingmachineslabinc--meta-llama-3-instruct-tokenizer/refs/main", g_tmp);
    assert_true(tk_path_exists(p));
}

static void test_not_found_says_where_it_looked(void **state) {
    (void)state;
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_err(tk_tokenizer_load_by_name("Nobody/Nothing", &t, &e), TK_ENOTFOUND, &e, "models--Nobody--Nothing");
    assert_non_null(strstr(e.msg, "404"));
    assert_non_null(strstr(e.msg, "huggingface-cli download Nobody/Nothing"));
    assert_null(t);
    assert_err(tk_tokenizer_load_by_name("gated/Model", &t, &e), TK_ENOTFOUND, &e, "HF_TOKEN");
    assert_non_null(strstr(e.msg, "401"));
    int before = requests();
    setenv("HF_HUB_OFFLINE", "1", 1);
    assert_err(tk_tokenizer_load_by_name("Org/Name", &t, &e), TK_ENOTFOUND, &e, "HF_HUB_OFFLINE");
    assert_int_equal(requests(), before);
    assert_err(tk_tokenizer_load_by_name("./no/such/file.json", &t, &e), TK_ENOTFOUND, &e, "not a model name");
    assert_err(tk_tokenizer_load_by_name("../etc/passwd", &t, &e), TK_ENOTFOUND, &e, "no such file");
    assert_err(tk_tokenizer_load_by_name("", &t, &e), TK_EINVAL, &e, "empty");
}

/* A server that is not there: a network error, still a clear message. */
static void test_unreachable_endpoint(void **state) {
    (void)state;
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);
    assert_err(tk_tokenizer_load_by_name("Org/Name", &t, &e), TK_ENOTFOUND, &e, "download failed");
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", g_port);
    setenv("HF_ENDPOINT", ep, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_path_and_directory, fresh_home, drop_home),
        cmocka_unit_test_setup_teardown(test_download_into_cache, fresh_home, drop_home),
        cmocka_unit_test_setup_teardown(test_existing_cache_offline, fresh_home, drop_home),
        cmocka_unit_test_setup_teardown(test_llama3_substitution, fresh_home, drop_home),
        cmocka_unit_test_setup_teardown(test_not_found_says_where_it_looked, fresh_home, drop_home),
        cmocka_unit_test_setup_teardown(test_unreachable_endpoint, fresh_home, drop_home),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
