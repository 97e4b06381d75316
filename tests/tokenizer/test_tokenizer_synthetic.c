/* Small synthetic tokenizers, one HF component each (normalizers, split behaviours, added-token
 * flags, post-processors, byte_fallback, unk, both merge formats): our ids and decoded text must
 * equal what Hugging Face's Rust tokenizers produced for the same files
 * (tests/data/tokenizer/synthetic/, made by tests/reference/tokenizer-synthetic.js). */
#include "tok_test_util.h"

#include <jansson.h>

#define DIR "tests/data/tokenizer/synthetic"

static json_t *g_expected;

static int setup(void **state) {
    (void)state;
    tk_err e = {0};
    if (tk_json_load_file(DIR "/expected.json", &g_expected, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    json_decref(g_expected);
    return 0;
}

static void ids_of(const json_t *arr, tk_vec_i32 *out) {
    out->len = 0;
    for (size_t k = 0; k < json_array_size(arr); k++)
        assert_int_equal(tk_vec_push(out, (int32_t)json_integer_value(json_array_get(arr, k))), 0);
}

static void check_ids(const char *variant, const char *s, const char *what, const tk_vec_i32 *want,
                      const tk_vec_i32 *got) {
    if (want->len == got->len && (!want->len || !memcmp(want->data, got->data, want->len * sizeof(int32_t)))) return;
    fprintf(stderr, "%s: \"%s\" (%s): want", variant, s, what);
    for (size_t k = 0; k < want->len; k++) fprintf(stderr, " %d", want->data[k]);
    fprintf(stderr, "\n  got");
    for (size_t k = 0; k < got->len; k++) fprintf(stderr, " %d", got->data[k]);
    fprintf(stderr, "\n");
    fail_msg("%s: ids differ from the HF reference for \"%s\" (%s)", variant, s, what);
}

static void run_variant(const char *name) {
    char path[256];
    snprintf(path, sizeof path, DIR "/%s", name);
    tk_err e = {0};
    tk_tokenizer *t = NULL;
    assert_ok(tk_tokenizer_load(path, &t, &e), &e);
    json_t *strings = json_object_get(g_expected, "strings");
    json_t *cases = json_object_get(json_object_get(g_expected, "variants"), name);
    assert_non_null(cases);
    assert_int_equal(json_array_size(cases), json_array_size(strings));
    tk_vec_i32 want = {0}, got = {0};
    tk_buf text = {0};
    for (size_t k = 0; k < json_array_size(strings); k++) {
        const char *s = json_string_value(json_array_get(strings, k));
        size_t n = json_string_length(json_array_get(strings, k));
        json_t *c = json_array_get(cases, k);
        got.len = 0;
        assert_ok(tk_tokenizer_encode(t, s, n, (tk_encode_opts){false, false}, &got, &e), &e);
        ids_of(json_object_get(c, "plain"), &want);
        check_ids(name, s, "add_special_tokens=false", &want, &got);
        got.len = 0;
        assert_ok(tk_tokenizer_encode(t, s, n, (tk_encode_opts){true, false}, &got, &e), &e);
        ids_of(json_object_get(c, "special"), &want);
        check_ids(name, s, "add_special_tokens=true", &want, &got);
        const char *keys[2] = {"decoded", "decoded_skip"};
        for (int skip = 0; skip < 2; skip++) {
            tk_buf_clear(&text);
            assert_ok(tk_tokenizer_decode(t, got.data, got.len, skip, &text, &e), &e);
            json_t *w = json_object_get(c, keys[skip]);
            if (text.len != json_string_length(w) || memcmp(text.data, json_string_value(w), text.len))
                fail_msg("%s: decode(\"%s\", skip=%d) = \"%s\", HF gives \"%s\"", name, s, skip, text.data,
                         json_string_value(w));
        }
    }
    tk_vec_free(&want);
    tk_vec_free(&got);
    tk_buf_free(&text);
    tk_tokenizer_free(t);
}

static void test_gpt2(void **s) { (void)s; run_variant("gpt2"); }
static void test_prefix_space(void **s) { (void)s; run_variant("prefix_space"); }
static void test_added_flags(void **s) { (void)s; run_variant("added_flags"); }
static void test_behaviors(void **s) { (void)s; run_variant("behaviors"); }
static void test_removed(void **s) { (void)s; run_variant("removed"); }
static void test_fallback(void **s) { (void)s; run_variant("fallback"); }
static void test_unk(void **s) { (void)s; run_variant("unk"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),     cmocka_unit_test(test_prefix_space), cmocka_unit_test(test_added_flags),
        cmocka_unit_test(test_behaviors), cmocka_unit_test(test_removed),     cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_unk),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
