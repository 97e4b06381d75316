/* The hand-written pre-tokenizer matchers against PCRE2 running the regex they implement:
 * identical match lists on seeded random strings over an alphabet of every character class the
 * patterns distinguish, and on hand-picked edge cases. (PCRE2 gets the same Unicode 16.0 classes
 * through the \p{..} rewrite, so this checks the matchers' logic; the corpus parity test checks
 * both against HF.) */
#include "tok_test_util.h"

#include "tokenizer/internal.h"

static const char *const k_alphabet[] = {
    /* ASCII letters and the contraction letters in both cases */
    "a", "b", "e", "s", "t", "r", "v", "m", "l", "d", "S", "T", "R", "E", "V", "M", "L", "D", "x", "Z",
    /* apostrophes, long s, punctuation and symbols */
    "'", "'", "\xe2\x80\x99", "\xc5\xbf", ".", ",", "!", "?", "-", "_", "/", "\\", "\"", "(", ")", "[", "]", "{",
    "<", ">", "|", "#", "$", "%", "&", "*", "+", "=", "@", "^", "`", "~", "\xc2\xa7", "\xe2\x80\xa2",
    "\xe2\x82\xac", "\xc2\xa9", "\xe2\x88\x9e",
    /* digits and other numbers */
    "0", "1", "7", "9", "\xd9\xa3", "\xef\xbc\x91", "\xc2\xb2", "\xc2\xbd", "\xe2\x85\xab",
    /* whitespace: space, tab, CR, LF, VT, FF, NEL, NBSP, ideographic space, line separator */
    " ", " ", " ", "\t", "\r", "\n", "\n", "\x0b", "\x0c", "\xc2\x85", "\xc2\xa0", "\xe3\x80\x80",
    "\xe2\x80\xa8", "\xe2\x80\x83",
    /* letters: Lu, Ll, Lt, Lm, Lo; CJK and kana in and out of DeepSeek's ranges; Hangul */
    "\xc3\x89", "\xc3\xa9", "\xc7\x85", "\xca\xb0", "\xe3\x83\xbc", "\xd7\x90", "\xe4\xb8\xad", "\xe9\xbe\xa5",
    "\xe9\xbe\xa6", "\xe3\x81\x82", "\xe3\x82\xa2", "\xea\xb0\x80", "\xd0\x96", "\xd0\xb6", "\xce\xa9",
    "\xf0\x9d\x90\x80", "\xe0\xa4\x95",
    /* marks: nonspacing, spacing, enclosing */
    "\xcc\x81", "\xcc\x88", "\xe0\xa4\xbe", "\xe2\x83\x9d", "\xe0\xa5\x8d",
    /* others: control, format, private use, unassigned, emoji, ZWJ, variation selector */
    "\x01", "\x7f", "\xe2\x80\x8d", "\xef\xbb\xbf", "\xee\x80\x80", "\xcd\xb8", "\xf0\x9f\x98\x80",
    "\xef\xb8\x8f", "\xe2\x80\x8b",
};
#define N_ALPHA (sizeof k_alphabet / sizeof k_alphabet[0])

static const char *const k_edges[] = {
    "", " ", "  ", "\n", "\r\n", " \n ", "a", "'s", "'S", "'ll", "'LL", "'lL", "'re", "'RE", "'ve", "'m", "'d",
    "'\xc5\xbf", "'x", "don't", "DON'T", "I'M HERE", "a 'sb", "  a", "   1", " 12345", "1234567", "x\xcc\x81y",
    "\xcc\x81x", " \xcc\x81", "\xcc\x81", "HelloWorld", "ABCdef", "abcDEF", "\xc7\x85" "a", "a\xc7\x85",
    "\xca\xb0" "A", "!!!\n\n", " !!\r\n/", "x/\n/", "\t\tx", "a  \n  b", "a \xc2\x85 b", "\xef\xbb\xbf",
    "!a", "!abc def", "\xe4\xb8\xad\xe6\x96\x87" "abc", "\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6", "a\r\n\r\n  b",
    "end   ", "   ", "\x01\x02" "abc", " \x01" "x",
};

static void compare(tk_fast_split k, const tk_regex *re, tk_tstate *ts, const char *s, size_t n) {
    tk_mspanvec a = {0}, b = {0};
    tk_err e = {0};
    assert_int_equal(tk_fast_find(k, s, (uint32_t)n, 0, &a), 0);
    assert_ok(tk_regex_find(re, ts, s, (uint32_t)n, 0, &b, &e), &e);
    bool same = a.len == b.len;
    for (size_t i = 0; same && i < a.len; i++)
        same = a.data[i].start == b.data[i].start && a.data[i].end == b.data[i].end && a.data[i].is_match == b.data[i].is_match;
    if (!same) {
        fprintf(stderr, "%s on \"", tk_fast_split_name(k));
        for (size_t i = 0; i < n; i++) fprintf(stderr, (unsigned char)s[i] < 0x20 ? "\\x%02x" : "%c", (unsigned char)s[i]);
        fprintf(stderr, "\"\n  fast :");
        for (size_t i = 0; i < a.len; i++) fprintf(stderr, " [%u,%u%s)", a.data[i].start, a.data[i].end, a.data[i].is_match ? "" : " gap");
        fprintf(stderr, "\n  pcre2:");
        for (size_t i = 0; i < b.len; i++) fprintf(stderr, " [%u,%u%s)", b.data[i].start, b.data[i].end, b.data[i].is_match ? "" : " gap");
        fprintf(stderr, "\n");
    }
    tk_vec_free(&a);
    tk_vec_free(&b);
    if (!same) fail_msg("%s: the hand-written matcher and PCRE2 disagree", tk_fast_split_name(k));
}

static void test_matchers_against_pcre2(void **state) {
    (void)state;
    assert_int_equal(tku_init(), 0);
    tk_tstate *ts = tk_tstate_get();
    assert_non_null(ts);
    tk_rng rng;
    tk_rng_seed(&rng, 20240531);
    tk_buf s = {0};
    for (int k = TK_FAST_LLAMA3; k <= TK_FAST_GPT2; k++) {
        const char *p = tk_fast_split_pattern((tk_fast_split)k);
        assert_int_equal(tk_fast_split_detect(p, strlen(p)), k);
        tk_regex *re = NULL;
        tk_err e = {0};
        assert_ok(tk_regex_compile(p, strlen(p), "test", &re, &e), &e);
        for (size_t i = 0; i < sizeof k_edges / sizeof k_edges[0]; i++) compare((tk_fast_split)k, re, ts, k_edges[i], strlen(k_edges[i]));
        for (int iter = 0; iter < 10000; iter++) {
            tk_buf_clear(&s);
            size_t len = 1 + tk_rng_below(&rng, iter < 7000 ? 12 : 80);
            for (size_t j = 0; j < len; j++) {
                /* runs of one character exercise the repeats */
                const char *c = k_alphabet[tk_rng_below(&rng, N_ALPHA)];
                size_t rep = tk_rng_below(&rng, 8) == 0 ? 1 + tk_rng_below(&rng, 5) : 1;
                for (size_t r = 0; r < rep; r++) assert_int_equal(tk_buf_puts(&s, c), 0);
            }
            compare((tk_fast_split)k, re, ts, s.data, s.len);
        }
        tk_regex_free(re);
    }
    tk_buf_free(&s);
}

/* \s in our PCRE2 patterns is Unicode White_Space, as in Oniguruma: U+0085 included, U+200B and
 * U+FEFF not. */
static void test_regex_whitespace(void **state) {
    (void)state;
    tk_tstate *ts = tk_tstate_get();
    tk_regex *re = NULL;
    tk_err e = {0};
    assert_ok(tk_regex_compile("\\s+", 3, "test", &re, &e), &e);
    const char *yes[] = {" ", "\t", "\n", "\r", "\x0b", "\x0c", "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80",
                         "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80"};
    const char *no[] = {"\xe2\x80\x8b", "\xef\xbb\xbf", "\xe1\xa0\x8e", "\x1c", "a"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        tk_mspanvec m = {0};
        assert_ok(tk_regex_find(re, ts, yes[i], (uint32_t)strlen(yes[i]), 0, &m, &e), &e);
        assert_int_equal(m.len, 1);
        assert_true(m.data[0].is_match);
        tk_vec_free(&m);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        tk_mspanvec m = {0};
        assert_ok(tk_regex_find(re, ts, no[i], (uint32_t)strlen(no[i]), 0, &m, &e), &e);
        assert_int_equal(m.len, 1);
        assert_false(m.data[0].is_match);
        tk_vec_free(&m);
    }
    tk_regex_free(re);
}

/* An empty match right after the previous match is skipped, as Oniguruma's iterator does. */
static void test_regex_empty_matches(void **state) {
    (void)state;
    tk_tstate *ts = tk_tstate_get();
    tk_regex *re = NULL;
    tk_err e = {0};
    assert_ok(tk_regex_compile("x*", 2, "test", &re, &e), &e);
    tk_mspanvec m = {0};
    assert_ok(tk_regex_find(re, ts, "axxb", 4, 0, &m, &e), &e);
    /* empty at 0, gap "a", "xx", gap "b", empty at 4 */
    uint32_t want[][3] = {{0, 0, 1}, {0, 1, 0}, {1, 3, 1}, {3, 4, 0}, {4, 4, 1}};
    assert_int_equal(m.len, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(m.data[i].start, want[i][0]);
        assert_int_equal(m.data[i].end, want[i][1]);
        assert_int_equal(m.data[i].is_match, want[i][2]);
    }
    tk_vec_free(&m);
    tk_regex_free(re);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matchers_against_pcre2),
        cmocka_unit_test(test_regex_whitespace),
        cmocka_unit_test(test_regex_empty_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
