/* The fixture the cookbook's data tests share: the real Qwen3 tokenizer and the `qwen3` renderer
 * (group setup / teardown), a scratch directory, and write_file to put a test file in it.
 * Include once per test program, after test_util.h. */
#ifndef TK_TESTS_COOKBOOK_QWEN3_FIXTURE_H
#define TK_TESTS_COOKBOOK_QWEN3_FIXTURE_H

#include "tinkerc/cookbook.h"

static tk_tokenizer *g_tok;
static tk_renderer *g_r;
static char *g_dir;

/* A log hook that drops messages, for tests that provoke warnings on purpose. */
static void quiet(tk_log_level l, const char *m, void *u) {}

static int setup(void **state) {
    tk_err e = {0};
    if (tk_tokenizer_load(".cache/tokenizers/qwen3", &g_tok, &e) || tk_renderer_new("qwen3", g_tok, NULL, &g_r, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    g_dir = tk_test_tmpdir();
    return 0;
}

static int teardown(void **state) {
    tk_renderer_free(g_r);
    tk_tokenizer_free(g_tok);
    tk_err e = {0};
    tk_remove_tree(g_dir, &e);
    free(g_dir);
    return 0;
}

/* Write text to g_dir/name; returns the path (free it). */
static char *write_file(const char *name, const char *text) {
    char *p = tk_path_join(g_dir, name);
    tk_err e = {0};
    assert_ok(tk_file_write_atomic(p, text, strlen(text), 0644, &e), &e);
    return p;
}

#endif
