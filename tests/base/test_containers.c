/* arena, buf, vec, map */
#include "test_util.h"

static void test_arena_alignment_and_reuse(void **state) {
    tk_arena *a = tk_arena_new(128);
    assert_non_null(a);
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i % 37) + 1;
        unsigned char *p = tk_arena_alloc(a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xAB, n);
    }
    /* a block bigger than the block size */
    char *big = tk_arena_alloc(a, 100000);
    assert_non_null(big);
    memset(big, 1, 100000);
    assert_true(tk_arena_used(a) >= 100000);
    char *s = tk_arena_printf(a, "%s-%d", "x", 42);
    assert_string_equal(s, "x-42");
    assert_string_equal(tk_arena_strndup(a, "hello", 3), "hel");
    tk_arena_reset(a);
    assert_int_equal(tk_arena_used(a), 0);
    int *z = tk_arena_zalloc(a, 64 * sizeof(int));
    for (int i = 0; i < 64; i++) assert_int_equal(z[i], 0);
    /* an overflowing request fails cleanly */
    assert_null(tk_arena_alloc(a, SIZE_MAX - 4));
    tk_arena_free(a);
}

static void test_buf(void **state) {
    tk_buf b = {0};
    assert_int_equal(tk_buf_puts(&b, "abc"), 0);
    assert_int_equal(tk_buf_putc(&b, 'd'), 0);
    assert_int_equal(tk_buf_printf(&b, "%d:%s", 12, "xy"), 0);
    assert_string_equal(b.data, "abcd12:xy");
    assert_int_equal(b.len, 9);
    /* a long printf goes past the small stack buffer */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(tk_buf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 9 + 1001);
    assert_int_equal(b.data[b.len], '\0');
    tk_buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(tk_buf_append(&b, "\0x", 2), 0);  /* binary safe */
    assert_int_equal(b.len, 2);
    size_t n;
    char *d = tk_buf_detach(&b, &n);
    assert_int_equal(n, 2);
    assert_int_equal(d[1], 'x');
    free(d);
    assert_null(b.data);
    assert_int_equal(tk_buf_reserve(&b, SIZE_MAX), TK_ENOMEM);
    tk_buf_free(&b);
}

static void test_vec(void **state) {
    tk_vec_i64 v = {0};
    for (int64_t i = 0; i < 10000; i++) assert_int_equal(tk_vec_push(&v, i * 3), 0);
    assert_int_equal(v.len, 10000);
    for (int64_t i = 0; i < 10000; i++) assert_int_equal(v.data[i], i * 3);
    assert_true(v.cap >= v.len);
    assert_int_equal(tk_vec_reserve(&v, 20000), 0);
    assert_true(v.cap >= 20000);
    tk_vec_free(&v);
    assert_null(v.data);
    assert_int_equal(v.len, 0);
}

static void test_map_against_model(void **state) {
    /* random put/get/del checked against a plain array model */
    enum { N = 2000 };
    static int present[N];
    static intptr_t vals[N];
    memset(present, 0, sizeof present);
    tk_map *m = tk_map_new(0);
    assert_non_null(m);
    tk_rng r;
    tk_rng_seed(&r, 7);
    size_t live = 0;
    for (int step = 0; step < 50000; step++) {
        int k = (int)tk_rng_below(&r, N);
        char key[32];
        int klen = snprintf(key, sizeof key, "key-%d", k);
        int op = (int)tk_rng_below(&r, 3);
        if (op == 0) {
            intptr_t val = (intptr_t)tk_rng_below(&r, 1000000) + 1;
            assert_int_equal(tk_map_put(m, key, (size_t)klen, (void *)val), 0);
            if (!present[k]) live++;
            present[k] = 1;
            vals[k] = val;
        } else if (op == 1) {
            void *got = NULL;
            bool found = tk_map_get(m, key, (size_t)klen, &got);
            assert_int_equal(found, present[k]);
            if (found) assert_int_equal((intptr_t)got, vals[k]);
        } else {
            assert_int_equal(tk_map_del(m, key, (size_t)klen), present[k]);
            if (present[k]) live--;
            present[k] = 0;
        }
        assert_int_equal(tk_map_len(m), live);
    }
    /* iteration visits each live key once */
    size_t pos = 0, seen = 0, klen;
    const void *key;
    void *val;
    while (tk_map_next(m, &pos, &key, &klen, &val)) {
        char kbuf[32];
        snprintf(kbuf, sizeof kbuf, "%.*s", (int)klen, (const char *)key);
        int k = atoi(kbuf + 4);
        assert_true(present[k]);
        assert_int_equal((intptr_t)val, vals[k]);
        seen++;
    }
    assert_int_equal(seen, live);
    tk_map_free(m);
}

static void test_map_binary_keys(void **state) {
    tk_map *m = tk_map_new(4);
    assert_int_equal(tk_map_put(m, "a\0b", 3, (void *)1), 0);
    assert_int_equal(tk_map_put(m, "a\0c", 3, (void *)2), 0);
    assert_int_equal(tk_map_put(m, "", 0, (void *)3), 0);
    void *v;
    assert_true(tk_map_get(m, "a\0c", 3, &v));
    assert_int_equal((intptr_t)v, 2);
    assert_true(tk_map_get(m, "", 0, &v));
    assert_int_equal((intptr_t)v, 3);
    assert_false(tk_map_get(m, "a", 1, NULL));
    assert_int_equal(tk_map_sput(m, "name", (void *)9), 0);
    assert_true(tk_map_sget(m, "name", &v));
    assert_int_equal((intptr_t)v, 9);
    tk_map_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alignment_and_reuse),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_vec),
        cmocka_unit_test(test_map_against_model),
        cmocka_unit_test(test_map_binary_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
