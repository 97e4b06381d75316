/* `tinkerc model init` and tk_engine_model_init: vocab_size from a real tokenizer (Llama 3's
 * published vocab_size is 128256), tokenizer files copied byte for byte, seeded weights with the
 * documented statistics, the CLI's exit codes, and errors for bad tokenizer files. */
#include "engine_test_util.h"

#include <sys/wait.h>

static bool have_tokenizers(void) {
    return tk_path_exists(".cache/tokenizers/llama3/tokenizer.json");
}

static void files_equal(const char *a, const char *b) {
    tk_buf x = {0}, y = {0};
    tk_err e = {0};
    assert_ok(tk_file_read(a, &x, 0, &e), &e);
    assert_ok(tk_file_read(b, &y, 0, &e), &e);
    assert_int_equal(x.len, y.len);
    assert_memory_equal(x.data, y.data, x.len);
    tk_buf_free(&x);
    tk_buf_free(&y);
}

static void test_init_with_tokenizer(void **state) {
    if (!have_tokenizers()) skip();
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    tk_engine_init_options o;
    memset(&o, 0, sizeof o);
    tk_engine_config_default(&o.config, TK_ENGINE_ARCH_LLAMA);
    o.config.num_layers = 1;
    o.config.hidden_size = 8;
    o.config.num_heads = 2;
    o.config.num_kv_heads = 1;
    o.config.head_dim = 4;
    o.config.intermediate_size = 16;
    o.seed = 3;
    o.tokenizer = ".cache/tokenizers/llama3";
    o.out_dir = dir;
    assert_ok(tk_engine_model_init(&o, &e), &e);
    tk_engine_model *m;
    assert_ok(tk_engine_model_load(dir, &m, &e), &e);
    assert_int_equal(tk_engine_model_config(m)->vocab_size, 128256);
    /* N(0, 0.02²) matrices (BF16 on disk), norms 1 */
    double s = 0, s2 = 0;
    size_t n = (size_t)128256 * 8;
    for (size_t i = 0; i < n; i++) {
        s += m->embed[i];
        s2 += (double)m->embed[i] * m->embed[i];
    }
    double mean = s / n, sd = sqrt(s2 / n - mean * mean);
    assert_true(fabs(mean) < 1e-3);
    assert_true(fabs(sd - 0.02) < 5e-4);
    assert_true(m->final_norm[0] == 1.0f);
    tk_engine_model_free(m);
    char *a = tk_path_join(dir, "tokenizer.json"), *b = tk_path_join(dir, "tokenizer_config.json");
    files_equal(a, ".cache/tokenizers/llama3/tokenizer.json");
    files_equal(b, ".cache/tokenizers/llama3/tokenizer_config.json");
    free(a);
    free(b);
    /* a vocab_size smaller than the tokenizer needs */
    o.config.vocab_size = 1000;
    assert_err(tk_engine_model_init(&o, &e), TK_EINVAL, &e, "smaller than the tokenizer's 128256 ids");
    assert_ok(tk_remove_tree(dir, &e), &e);
    free(dir);
}

static void test_bad_tokenizer(void **state) {
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    char *tj = tk_path_join(dir, "tokenizer.json");
    const char *bad[] = {"{\"model\": {\"vocab\": [1, 2]}}", "{\"model\": {\"vocab\": {\"a\": -3}}}",
                         "{\"model\": {\"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": \"x\"}]}", "{\"model\""};
    const char *needle[] = {"model.vocab: expected an object", "model.vocab[\"a\"]", "added_tokens[0].id", "invalid JSON"};
    for (int i = 0; i < 4; i++) {
        assert_ok(tk_file_write_atomic(tj, bad[i], strlen(bad[i]), 0644, &e), &e);
        int32_t v;
        tk_err e2 = {0};
        int rc = tk_engine_tokenizer_vocab_size(tj, &v, &e2);
        assert_true(rc < 0);
        if (!strstr(e2.msg, needle[i])) fail_msg("\"%s\" lacks \"%s\"", e2.msg, needle[i]);
    }
    const char *good = "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 7}}, \"added_tokens\": [{\"id\": 9, \"content\": \"<s>\"}]}";
    assert_ok(tk_file_write_atomic(tj, good, strlen(good), 0644, &e), &e);
    int32_t v = 0;
    assert_ok(tk_engine_tokenizer_vocab_size(tj, &v, &e), &e);
    assert_int_equal(v, 10);
    free(tj);
    assert_ok(tk_remove_tree(dir, &e), &e);
    free(dir);
}

static int run(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state) {
    const char *bd = getenv("TK_BUILD_DIR");
    if (!bd) skip();
    char *dir = tk_test_tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s/src/cli/tinkerc model init --arch qwen3 --layers 2 --hidden 16 --heads 4 --kv-heads 2 "
             "--head-dim 8 --intermediate 32 --vocab 300 --seed 9 --dtype f32 --out %s/m >/dev/null", bd, dir);
    assert_int_equal(run(cmd), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/m", dir);
    tk_engine_model *m;
    tk_err e = {0};
    assert_ok(tk_engine_model_load(path, &m, &e), &e);
    const tk_engine_config *c = tk_engine_model_config(m);
    assert_int_equal(c->arch, TK_ENGINE_ARCH_QWEN3);
    assert_int_equal(c->vocab_size, 300);
    assert_int_equal(c->head_dim, 8);
    assert_true(c->tie_word_embeddings);
    /* same seed through the library gives the same (F32) weights */
    tk_engine_model *r;
    assert_ok(tk_engine_model_random(c, 9, &r, &e), &e);
    assert_memory_equal(m->params, r->params, m->n_params * sizeof(float));
    tk_engine_model_free(r);
    tk_engine_model_free(m);
    /* usage errors exit 2, failures 1 */
    snprintf(cmd, sizeof cmd, "%s/src/cli/tinkerc model init --arch gpt2 --layers 1 --hidden 8 --heads 2 "
                              "--intermediate 8 --vocab 10 --out %s/x 2>/dev/null", bd, dir);
    assert_int_equal(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s/src/cli/tinkerc model init --arch llama3 --layers x --out %s/x 2>/dev/null", bd, dir);
    assert_int_equal(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s/src/cli/tinkerc model init --arch llama3 --layers 1 --hidden 8 --heads 4 "
                              "--kv-heads 3 --intermediate 8 --vocab 10 --out %s/x 2>/dev/null", bd, dir);
    assert_int_equal(run(cmd), 1);   /* 4 heads are not a multiple of 3 kv heads */
    snprintf(cmd, sizeof cmd, "%s/src/cli/tinkerc model init --arch llama3 --layers 1 --hidden 8 --heads 2 "
                              "--intermediate 8 --tokenizer /nonexistent --out %s/x 2>/dev/null", bd, dir);
    assert_int_equal(run(cmd), 1);
    assert_ok(tk_remove_tree(dir, &e), &e);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_with_tokenizer), cmocka_unit_test(test_bad_tokenizer), cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
