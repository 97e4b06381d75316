/* tinkerc render, end to end: the token ids it prints for a generation prompt are the reference
 * tokenizer's ids of the model's own template (the parity fixture), the text mode marks trained
 * spans and counts tokens, and bad invocations fail with a message and a non-zero status. */
#include "render_util.h"

#include <jansson.h>
#include <sys/wait.h>

static char g_bin[512];

static int setup(void **state) {
    const char *b = getenv("TK_BUILD_DIR");
    snprintf(g_bin, sizeof g_bin, "%s/src/cli/tinkerc", b ? b : "build");
    return tk_path_exists(g_bin) ? 0 : -1;
}

/* Run a command line, capture stdout, return the exit status. */
static int run(const char *cmd, tk_buf *out) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) assert_int_equal(tk_buf_append(out, chunk, n), 0);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *write_conv(const char *conv_id, const char *mode) {
    json_t *convs = json_load_file("tests/data/renderers/parity/conversations.json", 0, NULL);
    assert_non_null(convs);
    char *dir = tk_test_tmpdir(), *path = tk_path_join(dir, "conv.json");
    assert_int_equal(json_dump_file(json_object_get(json_object_get(convs, conv_id), mode), path, 0), 0);
    json_decref(convs);
    free(dir);
    return path;
}

static void test_generation_ids_match_the_template(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    char *path = write_conv("tools", "gen");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s render --renderer qwen3 --tokenizer qwen3 --mode generation --json %s", g_bin, path);
    tk_buf out = {0};
    assert_int_equal(run(cmd, &out), 0);
    json_t *got = json_loads(out.data, 0, NULL), *ex = json_load_file("tests/data/renderers/parity/expected.json", 0, NULL);
    assert_non_null(got);
    const json_t *want = json_object_get(json_object_get(json_object_get(json_object_get(ex, "cases"), "qwen3/tools"), "gen"), "expected_ids");
    assert_true(json_array_size(want) > 100);
    assert_true(json_equal(json_object_get(got, "tokens"), (json_t *)want));
    assert_null(json_object_get(got, "weights"));
    json_decref(got);
    json_decref(ex);
    tk_buf_free(&out);
    free(path);
}

static void test_supervised_text_and_json(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    char *path = write_conv("basic", "sup");
    char cmd[1200];
    tk_buf out = {0};
    snprintf(cmd, sizeof cmd, "%s render --renderer qwen3 --tokenizer qwen3 %s", g_bin, path);
    assert_int_equal(run(cmd, &out), 0);
    /* not a terminal: brackets around the trained turn, then the count */
    assert_non_null(strstr(out.data, "<|im_start|>assistant\n" OPEN_MARK "<think>\n\n</think>\n\nI'm fine, thank you!<|im_end|>" CLOSE_MARK));
    const char *count = strstr(out.data, " tokens, ");
    assert_non_null(count);
    tk_buf js = {0};
    snprintf(cmd, sizeof cmd, "%s render --renderer qwen3 --tokenizer qwen3 --json %s", g_bin, path);
    assert_int_equal(run(cmd, &js), 0);
    json_t *v = json_loads(js.data, 0, NULL);
    size_t n = json_array_size(json_object_get(v, "tokens")), trained = 0;
    assert_int_equal(json_array_size(json_object_get(v, "weights")), n);
    for (size_t i = 0; i < n; i++) trained += json_number_value(json_array_get(json_object_get(v, "weights"), i)) > 0;
    char want[64];
    snprintf(want, sizeof want, "%zu tokens, %zu trained", n, trained);
    assert_non_null(strstr(out.data, want));
    assert_true(trained > 5 && trained < n);
    json_decref(v);
    tk_buf_free(&js);
    tk_buf_free(&out);
    free(path);
}

static void test_bad_invocations(void **state) {
    char cmd[1200];
    const char *args[] = {
        "render",                                                   /* no tokenizer, no file */
        "render --tokenizer qwen3 --renderer qwen3 --mode sample x", /* bad mode */
        "render --tokenizer qwen3 --renderer qwen3 --train-on everything x",
        "render --tokenizer qwen3 --renderer qwen3 --frobnicate x",
        "render --tokenizer qwen3 --renderer qwen3 /nonexistent/conv.json",
        "render --tokenizer qwen3 --renderer no_such_renderer tests/data/renderers/parity/conversations.json",
        "render --tokenizer foo x.json",                            /* no renderer, not a model name */
        "render --tokenizer no_such_family --renderer qwen3 tests/data/renderers/parity/conversations.json",
    };
    const int status[] = {2, 2, 2, 2, 1, 1, 2, 1};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", g_bin, args[i]);
        tk_buf out = {0};
        int st = run(cmd, &out);
        if (st != status[i]) fail_msg("%s: status %d, want %d", args[i], st, status[i]);
        tk_buf_free(&out);
    }
}

/* The commands docs/RENDERERS.md shows, on the example it points to: a family name picks the
 * renderer the cookbook recommends, and each format shows its own markers. */
static void test_docs_examples(void **state) {
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) skip();
    struct { const char *args, *want; } cases[] = {
        {"--tokenizer qwen3 --train-on last_assistant_turn", "<|im_start|>assistant\n" OPEN_MARK "<think>\nI should ask the weather tool.\n</think>\n\n<tool_call>"},
        {"--tokenizer gptoss", "<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json"},
        {"--tokenizer deepseek_v3", "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c></think>"},
        {"--renderer gpt_oss_medium_reasoning --tokenizer gptoss --mode generation --date 2025-01-01",
         "Current date: 2025-01-01\n\nReasoning: medium"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "%s render %s examples/data/render_example.json", g_bin, cases[i].args);
        tk_buf out = {0};
        if (run(cmd, &out)) fail_msg("%s failed", cases[i].args);
        if (!strstr(out.data, cases[i].want)) fail_msg("%s: no \"%s\" in\n%s", cases[i].args, cases[i].want, out.data);
        assert_non_null(strstr(out.data, " tokens"));
        tk_buf_free(&out);
    }
    /* from outside the repository a family name is not found, and the message says why */
    char cmd[1200], cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(cmd, sizeof cmd, "cd / && %s%s%s render --tokenizer qwen3 %s/examples/data/render_example.json 2>&1",
             g_bin[0] == '/' ? "" : cwd, g_bin[0] == '/' ? "" : "/", g_bin, cwd);
    tk_buf out = {0};
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out.data, "run from the repository root"));
    tk_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generation_ids_match_the_template),
        cmocka_unit_test(test_supervised_text_and_json),
        cmocka_unit_test(test_bad_invocations),
        cmocka_unit_test(test_docs_examples),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
