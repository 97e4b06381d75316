/* base64 and UTF-8 */
#include "test_util.h"

static void test_base64_vectors(void **state) {
    /* RFC 4648 §10 */
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        tk_buf b = {0};
        assert_int_equal(tk_base64_encode(in[i], strlen(in[i]), &b), 0);
        assert_string_equal(b.data ? b.data : "", out[i]);
        tk_buf d = {0};
        tk_err e = {0};
        assert_ok(tk_base64_decode(out[i], strlen(out[i]), &d, &e), &e);
        assert_int_equal(d.len, strlen(in[i]));
        if (d.len) assert_memory_equal(d.data, in[i], d.len);
        tk_buf_free(&b);
        tk_buf_free(&d);
    }
}

static void test_base64_roundtrip_random(void **state) {
    tk_rng r;
    tk_rng_seed(&r, 1);
    for (int t = 0; t < 1000; t++) {
        unsigned char raw[300];
        size_t n = (size_t)tk_rng_below(&r, sizeof raw);
        for (size_t i = 0; i < n; i++) raw[i] = (unsigned char)tk_rng_u64(&r);
        tk_buf b = {0}, d = {0};
        tk_err e = {0};
        assert_int_equal(tk_base64_encode(raw, n, &b), 0);
        assert_ok(tk_base64_decode(b.data ? b.data : "", b.len, &d, &e), &e);
        assert_int_equal(d.len, n);
        if (n) assert_memory_equal(d.data, raw, n);
        tk_buf_free(&b);
        tk_buf_free(&d);
    }
}

static void test_base64_bad(void **state) {
    tk_buf d = {0};
    tk_err e = {0};
    assert_err(tk_base64_decode("abc", 3, &d, &e), TK_EPARSE, &e, "multiple of 4");
    assert_err(tk_base64_decode("ab!d", 4, &d, &e), TK_EPARSE, &e, "offset 2");
    assert_err(tk_base64_decode("a=bc", 4, &d, &e), TK_EPARSE, &e, "invalid character");
    assert_err(tk_base64_decode("ab=c", 4, &d, &e), TK_EPARSE, &e, "after padding");
    assert_err(tk_base64_decode("ab==abcd", 8, &d, &e), TK_EPARSE, &e, "invalid character");
    tk_buf_free(&d);
}

static void test_utf8(void **state) {
    size_t bad = 0;
    assert_true(tk_utf8_valid("héllo 世界 🎉", strlen("héllo 世界 🎉"), NULL));
    assert_false(tk_utf8_valid("ab\xC0\x80", 4, &bad));      /* overlong */
    assert_int_equal(bad, 2);
    assert_false(tk_utf8_valid("\xED\xA0\x80", 3, &bad));    /* surrogate */
    assert_false(tk_utf8_valid("\xF4\x90\x80\x80", 4, &bad));/* > U+10FFFF */
    assert_false(tk_utf8_valid("x\xE4\xB8", 3, &bad));       /* truncated */
    assert_int_equal(bad, 1);
    assert_false(tk_utf8_valid("\x80", 1, &bad));
    /* complete prefix for streaming */
    const char *s = "a\xE4\xB8\x96";  /* a + 世 */
    assert_int_equal(tk_utf8_complete_prefix(s, 4), 4);
    assert_int_equal(tk_utf8_complete_prefix(s, 3), 1);
    assert_int_equal(tk_utf8_complete_prefix(s, 2), 1);
    assert_int_equal(tk_utf8_complete_prefix(s, 1), 1);
    assert_int_equal(tk_utf8_complete_prefix("\xF0\x9F\x8E", 3), 0);
    /* invalid bytes are not held back */
    assert_int_equal(tk_utf8_complete_prefix("a\xFF", 2), 2);
}

static void test_lines(void **state) {
    (void)state;
    const char text[] = "a\n\n  \t\r\nb c\r\nd\0e\n\nlast";
    tk_lines it = tk_lines_of(text, sizeof text - 1);
    const char *s;
    size_t n;
    assert_true(tk_lines_next(&it, &s, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(s, "a", 1);
    assert_int_equal(it.line_no, 1);
    assert_true(it.terminated);
    assert_true(tk_lines_next(&it, &s, &n));   /* lines 2 and 3 are blank */
    assert_int_equal(it.line_no, 4);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "b c\r", 4);
    assert_true(tk_lines_next(&it, &s, &n));   /* an embedded NUL stays in the line */
    assert_int_equal(it.line_no, 5);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "d\0e", 3);
    assert_true(tk_lines_next(&it, &s, &n));
    assert_int_equal(it.line_no, 7);
    assert_memory_equal(s, "last", 4);
    assert_false(it.terminated);
    assert_false(tk_lines_next(&it, &s, &n));
    assert_false(tk_lines_next(&it, &s, &n));
    tk_lines none = tk_lines_of(NULL, 5);      /* an empty file read into an empty tk_buf */
    assert_false(tk_lines_next(&none, &s, &n));
    tk_lines blank = tk_lines_of(" \n\n", 3);
    assert_false(tk_lines_next(&blank, &s, &n));
    assert_int_equal(blank.line_no, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_roundtrip_random),
        cmocka_unit_test(test_base64_bad),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
