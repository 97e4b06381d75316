/* get_lr against the cookbook's published values, and the LR schedules */
#include "test_util.h"

#include <math.h>

#include "tinkerc/cookbook.h"

static void check_lr(const char *model, double expected) {
    double lr = 0;
    tk_err e = {0};
    assert_ok(tk_get_lr(model, NULL, 0, true, &lr, &e), &e);
    /* the reference quotes three significant digits */
    if (fabs(lr - expected) / expected > 0.005) fail_msg("%s: lr %.4g, cookbook says %.3g", model, lr, expected);
}

static void test_get_lr_matches_cookbook(void **state) {
    /* values quoted from the cookbook's hyperparam_utils (reference/cookbook.md §6) */
    check_lr("meta-llama/Llama-3.2-1B", 4.91e-4);
    check_lr("meta-llama/Llama-3.1-8B", 2.86e-4);
    check_lr("meta-llama/Llama-3.1-70B", 1.66e-4);
    check_lr("Qwen/Qwen3-8B", 4.73e-4);
    check_lr("Qwen/Qwen3-32B", 4.65e-4);
    check_lr("Qwen/Qwen3-30B-A3B", 4.99e-4);
    check_lr("Qwen/Qwen3-8B:peft:131072", 4.73e-4);  /* suffix ignored */
    double lr, lr_full;
    tk_err e = {0};
    /* full fine-tuning is 10x lower */
    assert_ok(tk_get_lr("Qwen/Qwen3-8B", NULL, 0, true, &lr, &e), &e);
    assert_ok(tk_get_lr("Qwen/Qwen3-8B", NULL, 0, false, &lr_full, &e), &e);
    assert_true(fabs(lr / lr_full - 10.0) < 1e-9);
    /* a local model directory: the family comes from config.json, the size from hidden_size */
    assert_ok(tk_get_lr("/models/tiny", "qwen3", 64, true, &lr, &e), &e);
    assert_true(fabs(lr - 5e-4 * pow(2000.0 / 64, 0.0775)) < 1e-12);
    assert_err(tk_get_lr("/models/tiny", NULL, 64, true, &lr, &e), TK_EUNSUPPORTED, &e, "pass learning_rate");
    assert_err(tk_get_lr("Qwen/Qwen9-Unknown", NULL, 0, true, &lr, &e), TK_ENOTFOUND, &e, "hidden size");
    assert_int_equal(tk_model_hidden_size("Qwen/Qwen3-32B"), 5120);
    assert_int_equal(tk_model_hidden_size("nope"), 0);
}

static void test_schedules(void **state) {
    tk_lr_schedule s;
    tk_err e = {0};
    assert_ok(tk_lr_schedule_parse("cosine", &s, &e), &e);
    assert_int_equal(s, TK_LR_COSINE);
    assert_err(tk_lr_schedule_parse("warmup", &s, &e), TK_EINVAL, &e, "lr_schedule=warmup");
    assert_true(tk_lr_multiplier(TK_LR_LINEAR, 0, 10) == 1.0);
    assert_true(fabs(tk_lr_multiplier(TK_LR_LINEAR, 3, 10) - 0.7) < 1e-12);
    assert_true(fabs(tk_lr_multiplier(TK_LR_COSINE, 5, 10) - 0.5) < 1e-12);
    assert_true(fabs(tk_lr_multiplier(TK_LR_COSINE, 10, 10)) < 1e-12);
    assert_true(tk_lr_multiplier(TK_LR_CONSTANT, 9, 10) == 1.0);
    assert_true(tk_lr_multiplier(TK_LR_LINEAR, 3, 0) == 1.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_lr_matches_cookbook),
        cmocka_unit_test(test_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
