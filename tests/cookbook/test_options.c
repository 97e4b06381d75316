/* key=value options, JSON config files, unknown keys, bad values */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

#include "tinkerc/cookbook.h"

typedef struct cfg {
    char *model_name;
    char *schedule;
    int64_t batch_size;
    int64_t max_steps;
    double learning_rate;
    bool shuffle;
} cfg;

static const char *const k_sched[] = {"linear", "cosine", "constant", NULL};
static const tk_opt k_opts[] = {
    {"model_name", TK_OPT_STRING, offsetof(cfg, model_name), "Qwen/Qwen3-8B", "base model", NULL, false},
    {"lr_schedule", TK_OPT_CHOICE, offsetof(cfg, schedule), "linear", "schedule", k_sched, false},
    {"batch_size", TK_OPT_INT, offsetof(cfg, batch_size), "128", "sequences per step", NULL, false},
    {"max_steps", TK_OPT_INT, offsetof(cfg, max_steps), NULL, "stop early", NULL, true},
    {"learning_rate", TK_OPT_FLOAT, offsetof(cfg, learning_rate), "1e-4", "lr", NULL, true},
    {"shuffle", TK_OPT_BOOL, offsetof(cfg, shuffle), "true", "shuffle", NULL, false},
    {NULL, 0, 0, NULL, NULL, NULL, false},
};

static void test_defaults_and_set(void **state) {
    cfg c = {0};
    tk_err e = {0};
    assert_ok(tk_opts_defaults(k_opts, &c, &e), &e);
    assert_string_equal(c.model_name, "Qwen/Qwen3-8B");
    assert_string_equal(c.schedule, "linear");
    assert_int_equal(c.batch_size, 128);
    assert_true(c.max_steps == TK_OPT_UNSET_INT);
    assert_true(c.learning_rate == 1e-4);
    assert_true(c.shuffle);
    assert_ok(tk_opts_set(k_opts, &c, "learning_rate", "none", &e), &e);
    assert_true(isnan(c.learning_rate));
    assert_err(tk_opts_set(k_opts, &c, "lerning_rate", "1", &e), TK_EINVAL, &e, "did you mean learning_rate");
    assert_err(tk_opts_set(k_opts, &c, "zzzzzzzz", "1", &e), TK_EINVAL, &e, "unknown option \"zzzzzzzz\"");
    assert_err(tk_opts_set(k_opts, &c, "batch_size", "12x", &e), TK_EINVAL, &e, "batch_size=12x: expected an integer");
    assert_err(tk_opts_set(k_opts, &c, "batch_size", "none", &e), TK_EINVAL, &e, "expected an integer");
    assert_err(tk_opts_set(k_opts, &c, "learning_rate", "inf", &e), TK_EINVAL, &e, "expected a number");
    assert_err(tk_opts_set(k_opts, &c, "shuffle", "maybe", &e), TK_EINVAL, &e, "expected true or false");
    assert_err(tk_opts_set(k_opts, &c, "lr_schedule", "step", &e), TK_EINVAL, &e, "linear, cosine, constant");
    assert_ok(tk_opts_set(k_opts, &c, "lr_schedule", "cosine", &e), &e);
    assert_string_equal(c.schedule, "cosine");
    tk_opts_free(k_opts, &c);
    assert_null(c.model_name);
}

static void test_args_and_config_file(void **state) {
    char *dir = tk_test_tmpdir();
    char *path = tk_path_join(dir, "cfg.json");
    tk_err e = {0};
    const char *file = "{\"batch_size\": 8, \"learning_rate\": 0.5, \"model_name\": \"a/b\", \"max_steps\": null}";
    assert_ok(tk_file_write_atomic(path, file, strlen(file), 0644, &e), &e);
    char arg[512];
    snprintf(arg, sizeof arg, "config=%s", path);
    char *argv[] = {"batch_size=4", arg, "shuffle=no"};
    cfg c = {0};
    assert_ok(tk_opts_defaults(k_opts, &c, &e), &e);
    assert_ok(tk_opts_parse_args(k_opts, &c, 3, argv, &e), &e);
    assert_int_equal(c.batch_size, 4);       /* the command line wins over the file */
    assert_true(c.learning_rate == 0.5);     /* from the file */
    assert_string_equal(c.model_name, "a/b");
    assert_false(c.shuffle);
    /* the JSON form round-trips through apply_json */
    json_t *j = tk_opts_to_json(k_opts, &c);
    assert_true(json_is_null(json_object_get(j, "max_steps")));
    cfg c2 = {0};
    assert_ok(tk_opts_defaults(k_opts, &c2, &e), &e);
    assert_ok(tk_opts_apply_json(k_opts, &c2, j, "config.json", &e), &e);
    assert_int_equal(c2.batch_size, 4);
    assert_string_equal(c2.model_name, "a/b");
    assert_true(c2.max_steps == TK_OPT_UNSET_INT);
    json_decref(j);

    char *bad_argv[] = {"batch_size"};
    assert_err(tk_opts_parse_args(k_opts, &c, 1, bad_argv, &e), TK_EINVAL, &e, "expected key=value");
    const char *bad = "{\"batch_size\": [1]}";
    assert_ok(tk_file_write_atomic(path, bad, strlen(bad), 0644, &e), &e);
    char *argv2[] = {arg};
    assert_err(tk_opts_parse_args(k_opts, &c, 1, argv2, &e), TK_EINVAL, &e, "batch_size: expected a string, number");
    const char *bad2 = "{\"batch_size\": null}";
    assert_ok(tk_file_write_atomic(path, bad2, strlen(bad2), 0644, &e), &e);
    assert_err(tk_opts_parse_args(k_opts, &c, 1, argv2, &e), TK_EINVAL, &e, "null is not allowed");
    const char *bad3 = "{\"batch_size\": 1,";
    assert_ok(tk_file_write_atomic(path, bad3, strlen(bad3), 0644, &e), &e);
    assert_err(tk_opts_parse_args(k_opts, &c, 1, argv2, &e), TK_EPARSE, &e, "cfg.json:1:");

    char *usage = NULL;
    size_t ulen;
    FILE *f = open_memstream(&usage, &ulen);
    tk_opts_usage(k_opts, f);
    fclose(f);
    assert_non_null(strstr(usage, "lr_schedule=linear"));
    assert_non_null(strstr(usage, "(linear|cosine|constant)"));
    free(usage);
    tk_opts_free(k_opts, &c);
    tk_opts_free(k_opts, &c2);
    tk_remove_tree(dir, &e);
    free(path);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_set),
        cmocka_unit_test(test_args_and_config_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
