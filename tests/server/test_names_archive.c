/* Name validation, tinker:// path parsing, and the .tar.gz writer checked with GNU tar. */
#include "test_util.h"

#include <sys/stat.h>

#include "server/names.h"
#include "server/tar_gz.h"

static void test_names_ok(void **state) {
    (void)state;
    tk_err e = {0};
    assert_ok(tk_server_name_check("name", "step-0010", false, &e), &e);
    assert_ok(tk_server_name_check("name", "final_v2.1+x=y@z,w", false, &e), &e);
    assert_ok(tk_server_name_check("run id", "0b1c:train:3", true, &e), &e);
}

static void test_names_bad(void **state) {
    (void)state;
    tk_err e = {0};
    assert_err(tk_server_name_check("checkpoint name", "", false, &e), TK_EINVAL, &e, "must not be empty");
    assert_err(tk_server_name_check("checkpoint name", "..", false, &e), TK_EINVAL, &e, "start with '.'");
    assert_err(tk_server_name_check("checkpoint name", "a..b", false, &e), TK_EINVAL, &e, "\"..\"");
    assert_err(tk_server_name_check("checkpoint name", "a/b", false, &e), TK_EINVAL, &e, "'/'");
    assert_err(tk_server_name_check("checkpoint name", "/etc", false, &e), TK_EINVAL, &e, "'/'");
    assert_err(tk_server_name_check("checkpoint name", ".hidden", false, &e), TK_EINVAL, &e, "start with '.'");
    assert_err(tk_server_name_check("checkpoint name", "a:b", false, &e), TK_EINVAL, &e, "':'");
    assert_err(tk_server_name_check("checkpoint name", "a\nb", false, &e), TK_EINVAL, &e, "0x0a");
    assert_err(tk_server_name_check("checkpoint name", "caf\xc3\xa9", false, &e), TK_EINVAL, &e, "0xc3");
    assert_err(tk_server_name_check("checkpoint name", "a b", false, &e), TK_EINVAL, &e, "' '");
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_err(tk_server_name_check("checkpoint name", longname, false, &e), TK_EINVAL, &e, "limit");
}

static void test_tinker_path(void **state) {
    (void)state;
    tk_err e = {0};
    char run[TK_SERVER_ID_MAX], name[TK_SERVER_NAME_MAX];
    tk_server_ckpt_kind k;
    assert_ok(tk_server_tinker_path_parse("tinker://s1:train:0/sampler_weights/step-1", run, &k, name, &e), &e);
    assert_string_equal(run, "s1:train:0");
    assert_int_equal(k, TK_SERVER_CKPT_SAMPLER);
    assert_string_equal(name, "step-1");
    assert_ok(tk_server_tinker_path_parse("tinker://r/weights/w", run, &k, name, &e), &e);
    assert_int_equal(k, TK_SERVER_CKPT_WEIGHTS);
    assert_err(tk_server_tinker_path_parse("http://r/weights/w", run, &k, name, &e), TK_EINVAL, &e, "tinker://");
    assert_err(tk_server_tinker_path_parse("tinker://r/weights", run, &k, name, &e), TK_EINVAL, &e, "expected");
    assert_err(tk_server_tinker_path_parse("tinker://r/weights/a/b", run, &k, name, &e), TK_EINVAL, &e, "expected");
    assert_err(tk_server_tinker_path_parse("tinker://r/blobs/a", run, &k, name, &e), TK_EINVAL, &e, "blobs");
    assert_err(tk_server_tinker_path_parse("tinker://r/weights/..", run, &k, name, &e), TK_EINVAL, &e, "..");
    assert_err(tk_server_tinker_path_parse("tinker:///weights/x", run, &k, name, &e), TK_EINVAL, &e, "empty");
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Archive a few files of awkward sizes, read the stream in tiny pieces, then let GNU tar list
 * and extract it and compare every byte. */
static void test_targz_with_gnu_tar(void **state) {
    (void)state;
    tk_err e = {0};
    char *dir = tk_test_tmpdir();
    assert_non_null(dir);
    char src[512], out[512], cmd[2048];
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    assert_ok(tk_mkdir_p(src, 0755, &e), &e);
    assert_ok(tk_mkdir_p(out, 0755, &e), &e);
    size_t big_n = 200000;
    unsigned char *big = malloc(big_n);
    tk_rng r;
    tk_rng_seed(&r, 7);
    for (size_t i = 0; i < big_n; i++) big[i] = (unsigned char)tk_rng_u64(&r);
    char block[512];
    memset(block, 'b', sizeof block);
    const char *names[] = {"adapter_config.json", "empty.bin", "block.bin", "sub/big.bin"};
    char paths[4][600];
    for (int i = 0; i < 4; i++) snprintf(paths[i], sizeof paths[i], "%s/f%d", src, i);
    write_file(paths[0], "{\"r\":32}", 8);
    write_file(paths[1], "", 0);
    write_file(paths[2], block, sizeof block);
    write_file(paths[3], big, big_n);
    const char *pp[4] = {paths[0], paths[1], paths[2], paths[3]};
    tk_server_targz *t = NULL;
    assert_ok(tk_server_targz_open(names, pp, 4, 1700000000, &t, &e), &e);
    tk_buf gz = {0};
    char piece[7];
    ssize_t n;
    while ((n = tk_server_targz_read(t, piece, sizeof piece, &e)) > 0) assert_ok(tk_buf_append(&gz, piece, (size_t)n), NULL);
    assert_int_equal(n, 0);
    tk_server_targz_free(t);
    char gzpath[600];
    snprintf(gzpath, sizeof gzpath, "%s/a.tar.gz", dir);
    write_file(gzpath, gz.data, gz.len);
    tk_buf_free(&gz);

    snprintf(cmd, sizeof cmd, "tar tzf %s > %s/list.txt 2>&1", gzpath, dir);
    assert_int_equal(system(cmd), 0);
    char listp[600];
    snprintf(listp, sizeof listp, "%s/list.txt", dir);
    tk_buf list = {0};
    assert_ok(tk_file_read(listp, &list, 0, &e), &e);
    assert_string_equal(list.data, "adapter_config.json\nempty.bin\nblock.bin\nsub/big.bin\n");
    tk_buf_free(&list);

    snprintf(cmd, sizeof cmd, "tar xzf %s -C %s 2>&1", gzpath, out);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < 4; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", out, names[i]);
        tk_buf a = {0}, b = {0};
        assert_ok(tk_file_read(p, &a, 0, &e), &e);
        assert_ok(tk_file_read(paths[i], &b, 0, &e), &e);
        assert_int_equal(a.len, b.len);
        assert_true(a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
        tk_buf_free(&a);
        tk_buf_free(&b);
    }
    /* mtime made it through: GNU tar prints it in the verbose listing */
    snprintf(cmd, sizeof cmd, "TZ=UTC tar tvzf %s | grep -q '2023-11-14 22:13 adapter_config.json'", gzpath);
    assert_int_equal(system(cmd), 0);
    free(big);
    assert_ok(tk_remove_tree(dir, &e), &e);
    free(dir);
}

static void test_targz_empty_and_bad(void **state) {
    (void)state;
    tk_err e = {0};
    tk_server_targz *t = NULL;
    assert_ok(tk_server_targz_open(NULL, NULL, 0, 0, &t, &e), &e);
    tk_buf gz = {0};
    assert_ok(tk_server_targz_to_buf(t, &gz, &e), &e);
    tk_server_targz_free(t);
    assert_true(gz.len > 18); /* gzip header + trailer at least */
    assert_int_equal((unsigned char)gz.data[0], 0x1f);
    assert_int_equal((unsigned char)gz.data[1], 0x8b);
    tk_buf_free(&gz);

    const char *names[] = {"../evil"};
    const char *paths[] = {"/etc/hostname"};
    assert_err(tk_server_targz_open(names, paths, 1, 0, &t, &e), TK_EINVAL, &e, "\"..\"");
    assert_null(t);
    const char *names2[] = {"x"};
    const char *paths2[] = {"/nonexistent/file"};
    assert_err(tk_server_targz_open(names2, paths2, 1, 0, &t, &e), TK_EIO, &e, "/nonexistent/file");
    const char *paths3[] = {"/tmp"};
    assert_err(tk_server_targz_open(names2, paths3, 1, 0, &t, &e), TK_EIO, &e, "not a regular file");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_ok),
        cmocka_unit_test(test_names_bad),
        cmocka_unit_test(test_tinker_path),
        cmocka_unit_test(test_targz_with_gnu_tar),
        cmocka_unit_test(test_targz_empty_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
