/* log_path handling, metrics.jsonl, checkpoints.jsonl (torn lines, malformed lines), plots */
#include "test_util.h"

#include <jansson.h>

#include "tinkerc/cookbook.h"

static void quiet(tk_log_level l, const char *m, void *u) {}

static void test_logdir_behaviors(void **state) {
    char *dir = tk_test_tmpdir();
    char *run = tk_path_join(dir, "runs/a");
    tk_err e = {0};
    bool resuming;
    assert_ok(tk_logdir_prepare(run, TK_LOGDIR_RAISE, NULL, NULL, &resuming, &e), &e);
    assert_false(resuming);
    assert_true(tk_path_is_dir(run));
    /* an empty directory is not a run */
    assert_ok(tk_logdir_prepare(run, TK_LOGDIR_RAISE, NULL, NULL, &resuming, &e), &e);
    json_t *m = json_pack("{s:f}", "loss", 1.5);
    assert_ok(tk_runlog_append_metrics(run, 0, m, &e), &e);
    json_decref(m);
    assert_err(tk_logdir_prepare(run, TK_LOGDIR_RAISE, NULL, NULL, &resuming, &e), TK_EEXIST, &e,
               "behavior_if_log_dir_exists=resume");
    /* ASK without a terminal behaves like RAISE */
    FILE *notty = fopen("/dev/null", "r");
    assert_err(tk_logdir_prepare(run, TK_LOGDIR_ASK, notty, NULL, &resuming, &e), TK_EEXIST, &e, "already holds");
    fclose(notty);
    assert_ok(tk_logdir_prepare(run, TK_LOGDIR_RESUME, NULL, NULL, &resuming, &e), &e);
    assert_true(resuming);
    char *metrics = tk_path_join(run, "metrics.jsonl");
    assert_true(tk_path_exists(metrics));
    assert_ok(tk_logdir_prepare(run, TK_LOGDIR_DELETE, NULL, NULL, &resuming, &e), &e);
    assert_false(resuming);
    assert_false(tk_path_exists(metrics));
    assert_true(tk_path_is_dir(run));
    tk_logdir_behavior b;
    assert_err(tk_logdir_behavior_parse("overwrite", &b, &e), TK_EINVAL, &e, "resume, delete, ask or raise");
    /* a file where the directory should be */
    assert_ok(tk_file_write_atomic(metrics, "x", 1, 0644, &e), &e);
    assert_err(tk_logdir_prepare(metrics, TK_LOGDIR_RAISE, NULL, NULL, &resuming, &e), TK_EINVAL, &e,
               "is not a directory");
    tk_remove_tree(dir, &e);
    free(metrics);
    free(run);
    free(dir);
}

static void test_checkpoints_jsonl(void **state) {
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    json_t *last;
    assert_ok(tk_runlog_last_checkpoint(dir, "state_path", &last, &e), &e);
    assert_null(last);  /* no file yet */
    json_t *r1 = json_pack("{s:s,s:i,s:i,s:s,s:s}", "name", "000010", "epoch", 0, "batch", 10,
                           "state_path", "tinker://m/weights/000010", "sampler_path", "tinker://m/sampler_weights/000010");
    json_t *r2 = json_pack("{s:s,s:s}", "name", "eval", "sampler_path", "tinker://m/sampler_weights/eval");
    assert_ok(tk_runlog_append_checkpoint(dir, r1, &e), &e);
    assert_ok(tk_runlog_append_checkpoint(dir, r2, &e), &e);
    json_t *noname = json_object();
    assert_err(tk_runlog_append_checkpoint(dir, noname, &e), TK_EINVAL, &e, "\"name\"");
    json_decref(noname);
    assert_ok(tk_runlog_last_checkpoint(dir, "state_path", &last, &e), &e);
    assert_non_null(last);
    assert_int_equal(json_integer_value(json_object_get(last, "batch")), 10);
    json_decref(last);
    assert_ok(tk_runlog_last_checkpoint(dir, NULL, &last, &e), &e);
    assert_string_equal(json_string_value(json_object_get(last, "name")), "eval");
    json_decref(last);

    /* a crash mid-append leaves a torn last line: skipped, earlier records still found */
    char *path = tk_path_join(dir, "checkpoints.jsonl");
    FILE *f = fopen(path, "a");
    fputs("{\"name\":\"000020\",\"state_pa", f);
    fclose(f);
    tk_log_set_hook(quiet, NULL);
    assert_ok(tk_runlog_last_checkpoint(dir, "state_path", &last, &e), &e);
    tk_log_set_hook(NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(last, "batch")), 10);
    json_decref(last);
    /* a malformed complete line is an error naming the line */
    f = fopen(path, "a");
    fputs("\nnot json\n", f);
    fclose(f);
    assert_err(tk_runlog_last_checkpoint(dir, "state_path", &last, &e), TK_EPARSE, &e, "checkpoints.jsonl:3:");
    json_decref(r1);
    json_decref(r2);
    free(path);
    tk_remove_tree(dir, &e);
    free(dir);
}

static void test_config_metrics_plot(void **state) {
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    json_t *cfg = json_pack("{s:s,s:f}", "model_name", "Qwen/Qwen3-8B", "learning_rate", 1e-4);
    assert_ok(tk_runlog_write_config(dir, cfg, &e), &e);
    json_t *back;
    char *cpath = tk_path_join(dir, "config.json");
    assert_ok(tk_json_load_file(cpath, &back, &e), &e);
    assert_true(json_equal(cfg, back));
    json_decref(back);
    json_decref(cfg);
    for (int step = 0; step < 20; step++) {
        json_t *m = json_pack("{s:f,s:f}", "train_mean_nll", 3.0 - 0.1 * step, "learning_rate", 1e-4 * (1 - step / 20.0));
        if (step % 5 == 0) json_object_set_new(m, "test/nll", json_real(3.1 - 0.1 * step));
        assert_ok(tk_runlog_append_metrics(dir, step, m, &e), &e);
        json_decref(m);
    }
    json_t *rows;
    assert_ok(tk_runlog_read_metrics(dir, &rows, &e), &e);
    assert_int_equal(json_array_size(rows), 20);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 7), "step")), 7);
    json_decref(rows);
    char *svg = tk_path_join(dir, "curves.svg");
    assert_ok(tk_plot_run_svg(dir, svg, NULL, &e), &e);
    tk_buf b = {0};
    assert_ok(tk_file_read(svg, &b, 0, &e), &e);
    assert_non_null(strstr(b.data, "<svg"));
    assert_non_null(strstr(b.data, "train_mean_nll"));
    assert_non_null(strstr(b.data, "test/nll"));
    assert_non_null(strstr(b.data, "learning rate"));
    /* one polyline per series with data: train, test, lr */
    int polylines = 0;
    for (const char *p = b.data; (p = strstr(p, "<polyline")); p++) polylines++;
    assert_int_equal(polylines, 3);
    tk_buf_free(&b);
    const char *custom[] = {"nope", NULL};
    assert_ok(tk_plot_run_svg(dir, svg, custom, &e), &e);
    assert_ok(tk_file_read(svg, &b, 0, &e), &e);
    assert_non_null(strstr(b.data, "no data"));
    tk_buf_free(&b);
    char *empty = tk_path_join(dir, "empty");
    assert_ok(tk_mkdir_p(empty, 0755, &e), &e);
    assert_err(tk_plot_run_svg(empty, svg, NULL, &e), TK_ENOTFOUND, &e, "no metrics.jsonl rows");
    free(empty);
    free(svg);
    free(cpath);
    tk_remove_tree(dir, &e);
    free(dir);
}

/* A resumed run drops the metrics rows it will redo (and a torn tail); tk_logdir_check decides
 * without touching anything. */
static void test_truncate_metrics_and_check(void **state) {
    char *dir = tk_test_tmpdir();
    tk_err e = {0};
    size_t dropped = 99;
    assert_ok(tk_runlog_truncate_metrics(dir, 0, &dropped, &e), &e);   /* no file: fine */
    assert_int_equal(dropped, 0);
    for (int i = 0; i < 5; i++) {
        json_t *m = json_pack("{s:f}", "train_mean_nll", 1.0 / (i + 1));
        assert_ok(tk_runlog_append_metrics(dir, i, m, &e), &e);
        json_decref(m);
    }
    char *path = tk_path_join(dir, "metrics.jsonl");
    FILE *f = fopen(path, "a");
    fputs("{\"step\": 5, \"train_m", f);
    fclose(f);
    tk_logdir_action action;
    assert_ok(tk_logdir_check(dir, TK_LOGDIR_DELETE, NULL, NULL, &action, &e), &e);
    assert_int_equal(action, TK_LOGDIR_REPLACE);
    assert_true(tk_path_exists(path));   /* decided, not done */
    assert_ok(tk_logdir_check(dir, TK_LOGDIR_RESUME, NULL, NULL, &action, &e), &e);
    assert_int_equal(action, TK_LOGDIR_CONTINUE);
    tk_log_set_hook(quiet, NULL);
    assert_ok(tk_runlog_truncate_metrics(dir, 3, &dropped, &e), &e);
    tk_log_set_hook(NULL, NULL);
    assert_int_equal(dropped, 2);
    json_t *rows;
    assert_ok(tk_runlog_read_metrics(dir, &rows, &e), &e);
    assert_int_equal(json_array_size(rows), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 2), "step")), 2);
    assert_true(json_real_value(json_object_get(json_array_get(rows, 1), "train_mean_nll")) == 0.5);
    json_decref(rows);
    /* appending now gives a clean line (the torn tail is gone) */
    json_t *m = json_pack("{s:f}", "train_mean_nll", 0.25);
    assert_ok(tk_runlog_append_metrics(dir, 3, m, &e), &e);
    json_decref(m);
    assert_ok(tk_runlog_read_metrics(dir, &rows, &e), &e);
    assert_int_equal(json_array_size(rows), 4);
    json_decref(rows);
    char *sub = tk_path_join(dir, "fresh");
    assert_ok(tk_logdir_check(sub, TK_LOGDIR_RAISE, NULL, NULL, &action, &e), &e);
    assert_int_equal(action, TK_LOGDIR_NEW);
    assert_false(tk_path_exists(sub));
    tk_remove_tree(dir, &e);
    free(sub);
    free(path);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logdir_behaviors),
        cmocka_unit_test(test_checkpoints_jsonl),
        cmocka_unit_test(test_config_metrics_plot),
        cmocka_unit_test(test_truncate_metrics_and_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
