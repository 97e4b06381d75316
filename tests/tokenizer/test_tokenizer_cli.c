/* tinkerc tokenize: FILE or stdin -> one JSON array of ids; --decode: ids -> text; usage errors.
 * Expected ids and texts are HF's (tests/data/tokenizer/synthetic/expected.json). */
#include "tok_test_util.h"

#include <jansson.h>

#define SYNTH "tests/data/tokenizer/synthetic"

static char g_bin[512];
static char *g_tmp;
static json_t *g_expected;

static int setup(void **state) {
    (void)state;
    const char *b = getenv("TK_BUILD_DIR");
    snprintf(g_bin, sizeof g_bin, "%s/src/cli/tinkerc", b && *b ? b : "build");
    if (!tk_path_exists(g_bin)) {
        fprintf(stderr, "%s not built\n", g_bin);
        return -1;
    }
    g_tmp = tk_test_tmpdir();
    tk_err e = {0};
    return g_tmp && !tk_json_load_file(SYNTH "/expected.json", &g_expected, &e) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tk_err e = {0};
    tk_remove_tree(g_tmp, &e);
    free(g_tmp);
    json_decref(g_expected);
    return 0;
}

/* Run a command; its stdout into out, exit status returned. */
static int run(const char *cmd, tk_buf *out) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    tk_buf_clear(out);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) assert_int_equal(tk_buf_append(out, chunk, n), 0);
    if (!out->data) assert_int_equal(tk_buf_reserve(out, 1), 0);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *expected_string(size_t k) {
    return json_string_value(json_array_get(json_object_get(g_expected, "strings"), k));
}
static json_t *expected_case(const char *variant, size_t k) {
    return json_array_get(json_object_get(json_object_get(g_expected, "variants"), variant), k);
}

/* Our output is exactly one JSON array: compare with HF's ids. */
static void assert_ids(const tk_buf *out, json_t *want) {
    assert_true(out->len > 0 && out->data[out->len - 1] == '\n');
    json_t *got = NULL;
    tk_err e = {0};
    assert_ok(tk_json_parse(out->data, out->len, "cli output", &got, &e), &e);
    assert_true(json_equal(got, want));
    json_decref(got);
}

static void test_encode_file_and_stdin(void **state) {
    (void)state;
    tk_buf out = {0};
    char file[600], cmd[2048];
    snprintf(file, sizeof file, "%s/in.txt", g_tmp);
    tk_err e = {0};
    for (size_t k = 0; k < json_array_size(json_object_get(g_expected, "strings")); k++) {
        const char *s = expected_string(k);
        assert_ok(tk_file_write_atomic(file, s, strlen(s), 0644, &e), &e);
        snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer " SYNTH "/gpt2 '%s'", g_bin, file);
        assert_int_equal(run(cmd, &out), 0);
        assert_ids(&out, json_object_get(expected_case("gpt2", k), "plain"));
        snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer=" SYNTH "/added_flags/tokenizer.json --add-special-tokens < '%s'",
                 g_bin, file);
        assert_int_equal(run(cmd, &out), 0);
        assert_ids(&out, json_object_get(expected_case("added_flags", k), "special"));
    }
    tk_buf_free(&out);
}

static void test_decode(void **state) {
    (void)state;
    tk_buf out = {0}, ids = {0};
    char file[600], cmd[2048];
    snprintf(file, sizeof file, "%s/ids.json", g_tmp);
    tk_err e = {0};
    for (size_t k = 0; k < json_array_size(json_object_get(g_expected, "strings")); k++) {
        json_t *c = expected_case("added_flags", k);
        tk_buf_clear(&ids);
        assert_int_equal(tk_json_dump(json_object_get(c, "special"), &ids), 0);
        assert_ok(tk_file_write_atomic(file, ids.data, ids.len, 0644, &e), &e);
        const char *flags[2] = {"", " --skip-special-tokens"};
        const char *keys[2] = {"decoded", "decoded_skip"};
        for (int skip = 0; skip < 2; skip++) {
            snprintf(cmd, sizeof cmd, "%s tokenize --decode%s --tokenizer " SYNTH "/added_flags '%s'", g_bin, flags[skip], file);
            assert_int_equal(run(cmd, &out), 0);
            json_t *want = json_object_get(c, keys[skip]);
            assert_int_equal(out.len, json_string_length(want));
            assert_memory_equal(out.data, json_string_value(want), out.len);
        }
    }
    tk_buf_free(&out);
    tk_buf_free(&ids);
}

static void test_raw_bytes_round_trip(void **state) {
    (void)state;
    /* raw bytes in, same bytes out (valid UTF-8 with NUL and CRLF) */
    char file[600], idsf[600], cmd[2048];
    snprintf(file, sizeof file, "%s/raw.bin", g_tmp);
    snprintf(idsf, sizeof idsf, "%s/raw.json", g_tmp);
    const char raw[] = "line\r\n\0nul \xe2\x82\xac\n";
    tk_err e = {0};
    assert_ok(tk_file_write_atomic(file, raw, sizeof raw - 1, 0644, &e), &e);
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer " SYNTH "/gpt2 '%s' > '%s' && %s tokenize --decode --tokenizer " SYNTH
             "/gpt2 '%s'", g_bin, file, idsf, g_bin, idsf);
    tk_buf out = {0};
    assert_int_equal(run(cmd, &out), 0);
    assert_int_equal(out.len, sizeof raw - 1);
    assert_memory_equal(out.data, raw, sizeof raw - 1);
    tk_buf_free(&out);
}

static void test_errors(void **state) {
    (void)state;
    tk_buf out = {0};
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s tokenize < /dev/null 2>&1", g_bin);
    assert_int_equal(run(cmd, &out), 2);
    assert_non_null(strstr(out.data, "--tokenizer NAME_OR_PATH is required"));
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer " SYNTH "/gpt2 --bogus 2>&1", g_bin);
    assert_int_equal(run(cmd, &out), 2);
    assert_non_null(strstr(out.data, "unknown option --bogus"));
    snprintf(cmd, sizeof cmd, "echo '[1, \"x\"]' | %s tokenize --decode --tokenizer " SYNTH "/gpt2 2>&1", g_bin);
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out.data, "stdin: [1]: expected an integer token id"));
    snprintf(cmd, sizeof cmd, "echo '[1, 99999]' | %s tokenize --decode --tokenizer " SYNTH "/gpt2 2>&1", g_bin);
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out.data, "ids[1] = 99999"));
    snprintf(cmd, sizeof cmd, "echo '{' | %s tokenize --decode --tokenizer " SYNTH "/gpt2 2>&1", g_bin);
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out.data, "stdin:"));
    snprintf(cmd, sizeof cmd, "HF_HUB_OFFLINE=1 HF_HOME='%s' %s tokenize --tokenizer No/Such < /dev/null 2>&1", g_tmp, g_bin);
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out.data, "models--No--Such"));
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer " SYNTH "/gpt2 /no/such/input 2>&1", g_bin);
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out.data, "/no/such/input"));
    snprintf(cmd, sizeof cmd, "%s tokenize --help", g_bin);
    assert_int_equal(run(cmd, &out), 0);
    assert_non_null(strstr(out.data, "usage: tinkerc tokenize"));
    tk_buf_free(&out);
}

/* A model name resolved through a Hugging Face cache. */
static void test_model_name(void **state) {
    (void)state;
    char dir[700], file[800], cmd[2048];
    snprintf(dir, sizeof dir, "%s/hf/hub/models--Org--Tiny/snapshots/r1", g_tmp);
    tk_err e = {0};
    assert_ok(tk_mkdir_p(dir, 0755, &e), &e);
    tk_buf json = {0};
    assert_ok(tk_file_read(SYNTH "/gpt2/tokenizer.json", &json, 0, &e), &e);
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    assert_ok(tk_file_write_atomic(file, json.data, json.len, 0644, &e), &e);
    tk_buf_free(&json);
    char in[700];
    snprintf(in, sizeof in, "%s/six.txt", g_tmp);
    assert_ok(tk_file_write_atomic(in, expected_string(6), strlen(expected_string(6)), 0644, &e), &e);
    snprintf(cmd, sizeof cmd, "HF_HUB_OFFLINE=1 HF_HOME='%s/hf' %s tokenize --tokenizer Org/Tiny < '%s'", g_tmp, g_bin, in);
    tk_buf out = {0};
    assert_int_equal(run(cmd, &out), 0);
    assert_ids(&out, json_object_get(expected_case("gpt2", 6), "plain"));
    tk_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_file_and_stdin), cmocka_unit_test(test_decode),
        cmocka_unit_test(test_raw_bytes_round_trip),  cmocka_unit_test(test_errors),
        cmocka_unit_test(test_model_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
