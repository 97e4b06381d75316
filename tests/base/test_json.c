/* JSON helpers: parse errors with positions, typed getters with paths, unknown fields */
#include "test_util.h"

#include <jansson.h>

static void test_parse_errors(void **state) {
    json_t *v = NULL;
    tk_err e = {0};
    const char *bad = "{\"a\": 1,\n \"b\": }";
    assert_err(tk_json_parse(bad, strlen(bad), "req.json", &v, &e), TK_EPARSE, &e, "req.json:2:");
    const char *dup = "{\"a\":1,\"a\":2}";
    assert_err(tk_json_parse(dup, strlen(dup), "body", &v, &e), TK_EPARSE, &e, "duplicate");
    const char *trunc = "{\"a\":[1,2";
    assert_err(tk_json_parse(trunc, strlen(trunc), "body", &v, &e), TK_EPARSE, &e, "body:");
    assert_err(tk_json_parse("", 0, "empty", &v, &e), TK_EPARSE, &e, "empty:");
    assert_null(v);
}

static void test_getters(void **state) {
    const char *txt = "{\"i\":5,\"f\":2.5,\"fi\":3,\"s\":\"x\",\"b\":true,\"o\":{},\"a\":[1],\"n\":null}";
    json_t *v;
    tk_err e = {0};
    assert_ok(tk_json_parse(txt, strlen(txt), "t", &v, &e), &e);
    int64_t i;
    double f;
    const char *s;
    bool b, present;
    json_t *o, *a;
    assert_ok(tk_json_get_i64(v, "i", "", &i, &e), &e);
    assert_int_equal(i, 5);
    assert_ok(tk_json_get_f64(v, "f", "", &f, &e), &e);
    assert_true(f == 2.5);
    assert_ok(tk_json_get_f64(v, "fi", "", &f, &e), &e);  /* integers are numbers */
    assert_true(f == 3.0);
    assert_ok(tk_json_get_str(v, "s", "", &s, &e), &e);
    assert_string_equal(s, "x");
    assert_ok(tk_json_get_bool(v, "b", "", &b, &e), &e);
    assert_true(b);
    assert_ok(tk_json_get_obj(v, "o", "", &o, &e), &e);
    assert_ok(tk_json_get_arr(v, "a", "", &a, &e), &e);
    assert_int_equal(json_array_size(a), 1);

    assert_err(tk_json_get_i64(v, "f", "req.data[2]", &i, &e), TK_EINVAL, &e,
               "req.data[2].f: expected integer, got real");
    assert_err(tk_json_get_str(v, "missing", "root", &s, &e), TK_EINVAL, &e,
               "root.missing: required field is missing");
    assert_err(tk_json_get_str(v, "n", "", &s, &e), TK_EINVAL, &e, "n: required field is missing");

    i = 77;
    assert_ok(tk_json_opt_i64(v, "missing", "", &i, &present, &e), &e);
    assert_false(present);
    assert_int_equal(i, 77);
    assert_ok(tk_json_opt_i64(v, "n", "", &i, &present, &e), &e);  /* null = absent */
    assert_false(present);
    assert_err(tk_json_opt_bool(v, "s", "cfg", &b, &present, &e), TK_EINVAL, &e,
               "cfg.s: expected boolean, got string");
    /* not an object */
    assert_err(tk_json_get_i64(a, "x", "arr", &i, &e), TK_EINVAL, &e, "arr: expected object, got array");
    json_decref(v);
}

static void test_check_keys_and_dump(void **state) {
    const char *txt = "{\"model_id\":\"m\",\"seq_id\":1,\"extra\":true}";
    json_t *v;
    tk_err e = {0};
    assert_ok(tk_json_parse(txt, strlen(txt), "t", &v, &e), &e);
    const char *const allowed[] = {"model_id", "seq_id", NULL};
    assert_err(tk_json_check_keys(v, "optim_step", allowed, &e), TK_EINVAL, &e,
               "optim_step: unknown field \"extra\"");
    const char *const allowed2[] = {"model_id", "seq_id", "extra", NULL};
    assert_ok(tk_json_check_keys(v, "", allowed2, &e), &e);

    json_t *o = json_object();
    assert_int_equal(tk_json_set_new(o, "x", json_real(0.1)), 0);
    assert_int_equal(tk_json_set_new(o, "a", json_integer(-3)), 0);
    tk_buf b = {0};
    assert_int_equal(tk_json_dump(o, &b), 0);
    /* insertion order is kept and reals round-trip */
    assert_string_equal(b.data, "{\"x\":0.10000000000000001,\"a\":-3}");
    tk_buf_free(&b);
    json_decref(o);
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_check_keys_and_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
