/* Very large inputs: 100 MB of text encodes to exactly the ids of its repeated paragraph; a
 * 100 MB input that is one unbroken pre-token (NUL bytes, or one long word) is a clear error
 * instead of gigabytes of merge work. Labelled slow (not run under the sanitizers). */
#include "tok_test_util.h"

#define MB (1024u * 1024u)

static const char k_paragraph[] =
    "Tokenizers meet every kind of text. Here's a paragraph with numbers (1234567), punctuation; "
    "and \"quotes\" -- and words that repeat: the the the.\n"
    "Second line, \xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x99\x82 tabs\tand  spaces.\n\n";

static void test_100mb_of_text(void **state) {
    (void)state;
    const char *fams[2] = {"llama3", "qwen3"};
    size_t plen = sizeof k_paragraph - 1, reps = 100 * MB / plen + 1;
    char *big = malloc(plen * reps);
    assert_non_null(big);
    for (size_t k = 0; k < reps; k++) memcpy(big + k * plen, k_paragraph, plen);
    for (int f = 0; f < 2; f++) {
        char dir[256];
        tk_test_family_dir(fams[f], dir, sizeof dir);
        tk_err e = {0};
        tk_tokenizer *t = NULL;
        assert_ok(tk_tokenizer_load(dir, &t, &e), &e);
        tk_vec_i32 one = {0}, all = {0};
        assert_ok(tk_tokenizer_encode(t, k_paragraph, plen, (tk_encode_opts){false, false}, &one, &e), &e);
        double t0 = tk_now_s();
        assert_ok(tk_tokenizer_encode(t, big, plen * reps, (tk_encode_opts){false, false}, &all, &e), &e);
        printf("%s: %zu MB in %.2f s\n", fams[f], plen * reps / MB, tk_now_s() - t0);
        /* the paragraph starts with a letter and ends with a blank line, so no piece crosses a
           repetition: the ids are the paragraph's ids, repeated */
        assert_int_equal(all.len, one.len * reps);
        for (size_t k = 0; k < reps; k++)
            if (memcmp(all.data + k * one.len, one.data, one.len * sizeof(int32_t)))
                fail_msg("%s: repetition %zu differs", fams[f], k);
        tk_vec_free(&one);
        tk_vec_free(&all);
        tk_tokenizer_free(t);
    }
    free(big);
}

static void test_100mb_one_piece(void **state) {
    (void)state;
    char dir[256];
    tk_test_family_dir("gptoss", dir, sizeof dir);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load(dir, &t, &e), &e);
    char *big = calloc(100 * MB, 1); /* NUL bytes: one run of "other" characters */
    assert_non_null(big);
    tk_vec_i32 ids = {0};
    assert_err(tk_tokenizer_encode(t, big, 100 * MB, (tk_encode_opts){false, false}, &ids, &e), TK_ERANGE, &e,
               "a pre-token of 104857600 bytes");
    assert_int_equal(ids.len, 0);
    memset(big, 'a', 100 * MB);
    assert_err(tk_tokenizer_encode(t, big, 100 * MB, (tk_encode_opts){false, false}, &ids, &e), TK_ERANGE, &e, "MiB");
    /* under the limit a long word works: a 2 MB word of a repeating pattern */
    for (size_t k = 0; k < 2 * MB; k++) big[k] = "abcdefg"[k % 7];
    assert_ok(tk_tokenizer_encode(t, big, 2 * MB, (tk_encode_opts){false, false}, &ids, &e), &e);
    tk_buf text = {0};
    assert_ok(tk_tokenizer_decode(t, ids.data, ids.len, false, &text, &e), &e);
    assert_int_equal(text.len, 2 * MB);
    assert_memory_equal(text.data, big, 2 * MB);
    tk_buf_free(&text);
    tk_vec_free(&ids);
    free(big);
    tk_tokenizer_free(t);
}

int main(void) {
    if (!tk_test_have_real_tokenizers()) {
        fprintf(stderr, ".cache/tokenizers is missing; run scripts/install-deps.sh\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_100mb_of_text),
        cmocka_unit_test(test_100mb_one_piece),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
