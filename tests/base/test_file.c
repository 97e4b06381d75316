/* file helpers: atomic writes keep old content on failure, appends, mkdir -p, rm -rf */
#include "test_util.h"

#include <sys/stat.h>

static void test_atomic_write_and_read(void **state) {
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    char *path = tk_path_join(dir, "a.json");
    assert_ok(tk_file_write_atomic(path, "old", 3, 0644, &e), &e);
    assert_ok(tk_file_write_atomic(path, "new!", 4, 0600, &e), &e);
    tk_buf b = {0};
    assert_ok(tk_file_read(path, &b, 0, &e), &e);
    assert_string_equal(b.data, "new!");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a limit smaller than the file */
    tk_buf_clear(&b);
    assert_err(tk_file_read(path, &b, 2, &e), TK_ENOMEM, &e, "over the limit");
    /* writing into a missing directory fails and names the path */
    char *bad = tk_path_join(dir, "nope/x.json");
    assert_err(tk_file_write_atomic(bad, "x", 1, 0644, &e), TK_EIO, &e, "nope/x.json");
    /* no temporary files are left behind */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    FILE *p = popen(cmd, "r");
    char out[16] = {0};
    assert_non_null(fgets(out, sizeof out, p));
    pclose(p);
    assert_int_equal(atoi(out), 0);
    assert_err(tk_file_read(bad, &b, 0, &e), TK_ENOTFOUND, &e, "cannot open");
    assert_err(tk_file_read(dir, &b, 0, &e), TK_EIO, &e, "is a directory");
    tk_buf_free(&b);
    free(bad);
    free(path);
    assert_ok(tk_remove_tree(dir, &e), &e);
    assert_false(tk_path_exists(dir));
    free(dir);
}

static void test_append_mkdir_remove(void **state) {
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    char *deep = tk_path_join(dir, "x/y/z/");
    assert_ok(tk_mkdir_p(deep, 0755, &e), &e);
    assert_ok(tk_mkdir_p(deep, 0755, &e), &e);  /* idempotent */
    assert_true(tk_path_is_dir(deep));
    char *log = tk_path_join(deep, "metrics.jsonl");
    assert_ok(tk_file_append_line(log, "{\"a\":1}", 7, &e), &e);
    assert_ok(tk_file_append_line(log, "{\"a\":2}", 7, &e), &e);
    tk_buf b = {0};
    assert_ok(tk_file_read(log, &b, 0, &e), &e);
    assert_string_equal(b.data, "{\"a\":1}\n{\"a\":2}\n");
    /* mkdir over a file fails */
    assert_err(tk_mkdir_p(log, 0755, &e), TK_EIO, &e, "metrics.jsonl");
    assert_err(tk_remove_tree("/", &e), TK_EINVAL, &e, "refusing");
    assert_err(tk_remove_tree("", &e), TK_EINVAL, &e, "refusing");
    assert_ok(tk_remove_tree(dir, &e), &e);
    assert_ok(tk_remove_tree(dir, &e), &e);  /* missing is fine */
    tk_buf_free(&b);
    free(log);
    free(deep);
    free(dir);
}

static void test_paths(void **state) {
    char *p = tk_path_join("a/", "/b");
    assert_string_equal(p, "a/b");
    free(p);
    p = tk_path_join("/", "x");
    assert_string_equal(p, "/x");
    free(p);
    setenv("HOME", "/home/u", 1);
    p = tk_path_expand_user("~/runs/a");
    assert_string_equal(p, "/home/u/runs/a");
    free(p);
    p = tk_path_expand_user("x/~");
    assert_string_equal(p, "x/~");
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_write_and_read),
        cmocka_unit_test(test_append_mkdir_remove),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
