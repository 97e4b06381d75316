/* The checkpoint store: atomic commits, restart persistence, TTL, publish, delete, pagination,
 * archives, bad names, and what a crash can leave behind. */
#include "test_util.h"

#include <jansson.h>
#include <sys/stat.h>

#include "server/store.h"

typedef struct fixture {
    char *dir;
    tk_server_store *s;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = tk_test_tmpdir();
    tk_err e = {0};
    if (tk_server_store_open(f->dir, &f->s, &e)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    tk_server_store_close(f->s);
    tk_err e = {0};
    tk_remove_tree(f->dir, &e);
    free(f->dir);
    free(f);
    return 0;
}

static void reopen(fixture *f) {
    tk_err e = {0};
    tk_server_store_close(f->s);
    f->s = NULL;
    assert_ok(tk_server_store_open(f->dir, &f->s, &e), &e);
}

static void put_run(fixture *f, const char *id, double created) {
    tk_err e = {0};
    json_t *um = json_pack("{s:s}", "purpose", "test");
    tk_server_run_meta m = {.run_id = id, .base_model = "Qwen/Qwen3-0.6B", .owner = "tester", .is_lora = true,
                            .lora_rank = 8, .train_mlp = true, .train_attn = true, .created_wall = created,
                            .user_metadata = um};
    assert_ok(tk_server_store_put_run(f->s, &m, &e), &e);
    json_decref(um);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char *p = tk_path_join(dir, name);
    tk_err e = {0};
    assert_ok(tk_file_write_atomic(p, text, strlen(text), 0644, &e), &e);
    free(p);
}

/* Stage + write one payload file + commit. */
static void save(fixture *f, const char *run, tk_server_ckpt_kind k, const char *name, const char *content,
                 double ttl, bool overwrite) {
    tk_err e = {0};
    tk_server_stage *st = NULL;
    assert_ok(tk_server_store_stage(f->s, run, k, name, overwrite, &st, &e), &e);
    write_file(tk_server_stage_payload_dir(st), "adapter_model.safetensors", content);
    json_t *extra = json_pack("{s:s}", "written_by", "test");
    char path[TK_SERVER_PATH_MAX];
    assert_ok(tk_server_store_commit(f->s, st, ttl, extra, path, &e), &e);
    json_decref(extra);
    char want[TK_SERVER_PATH_MAX];
    snprintf(want, sizeof want, "tinker://%s/%s/%s", run, tk_server_ckpt_kind_dir(k), name);
    assert_string_equal(path, want);
}

static char *read_payload(fixture *f, const char *run, tk_server_ckpt_kind k, const char *name) {
    tk_err e = {0};
    char *pd = NULL;
    assert_ok(tk_server_store_find(f->s, run, k, name, &pd, NULL, &e), &e);
    char *p = tk_path_join(pd, "adapter_model.safetensors");
    tk_buf b = {0};
    assert_ok(tk_file_read(p, &b, 0, &e), &e);
    free(p);
    free(pd);
    return b.data;
}

static size_t count_entries(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    assert_int_equal(fscanf(p, "%zu", &n), 1);
    pclose(p);
    return n;
}

static void test_save_list_restart(void **state) {
    fixture *f = *state;
    tk_err e = {0};
    put_run(f, "s1:train:0", 1000);
    save(f, "s1:train:0", TK_SERVER_CKPT_WEIGHTS, "step-1", "AAA", 0, false);
    save(f, "s1:train:0", TK_SERVER_CKPT_SAMPLER, "step-1", "BBBB", 0, false);
    json_t *l = NULL;
    assert_ok(tk_server_store_list_ckpts(f->s, "s1:train:0", NULL, 0, 100, &l, &e), &e);
    json_t *arr = json_object_get(l, "checkpoints");
    assert_int_equal(json_array_size(arr), 2);
    /* newest first: the sampler checkpoint was written second */
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "checkpoint_id")),
                        "sampler_weights/step-1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "checkpoint_type")), "sampler");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "tinker_path")),
                        "tinker://s1:train:0/weights/step-1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "size_bytes")), 3);
    assert_true(json_is_null(json_object_get(json_array_get(arr, 1), "expires_at")));
    json_decref(l);

    reopen(f);
    assert_ok(tk_server_store_list_ckpts(f->s, NULL, NULL, 0, 100, &l, &e), &e);
    assert_int_equal(json_array_size(json_object_get(l, "checkpoints")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(l, "cursor"), "total_count")), 2);
    json_decref(l);
    char *c = read_payload(f, "s1:train:0", TK_SERVER_CKPT_SAMPLER, "step-1");
    assert_string_equal(c, "BBBB");
    free(c);
    json_t *info = NULL;
    assert_ok(tk_server_store_find_path(f->s, "tinker://s1:train:0/weights/step-1", NULL, &info, &e), &e);
    assert_string_equal(json_string_value(json_object_get(json_object_get(info, "extra"), "written_by")), "test");
    assert_string_equal(json_string_value(json_object_get(json_object_get(info, "run"), "base_model")),
                        "Qwen/Qwen3-0.6B");
    json_decref(info);

    json_t *r = NULL;
    assert_ok(tk_server_store_run_json(f->s, "s1:train:0", NULL, &r, &e), &e);
    assert_string_equal(json_string_value(json_object_get(r, "model_owner")), "tester");
    assert_int_equal(json_integer_value(json_object_get(r, "lora_rank")), 8);
    assert_true(json_is_true(json_object_get(r, "is_lora")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "last_checkpoint"), "checkpoint_id")),
                        "weights/step-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "user_metadata"), "purpose")), "test");
    assert_non_null(json_string_value(json_object_get(r, "last_request_time")));
    json_decref(r);
    assert_err(tk_server_store_run_json(f->s, "nope", NULL, &r, &e), TK_ENOTFOUND, &e, "\"nope\" not found");
}

static void test_overwrite_and_exists(void **state) {
    fixture *f = *state;
    tk_err e = {0};
    put_run(f, "r", 1);
    save(f, "r", TK_SERVER_CKPT_WEIGHTS, "w", "old", 0, false);
    tk_server_stage *st = NULL;
    assert_err(tk_server_store_stage(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "w", false, &st, &e), TK_EEXIST, &e,
               "already exists");
    assert_null(st);
    save(f, "r", TK_SERVER_CKPT_WEIGHTS, "w", "new!", 0, true);
    char *c = read_payload(f, "r", TK_SERVER_CKPT_WEIGHTS, "w");
    assert_string_equal(c, "new!");
    free(c);
    json_t *l = NULL;
    assert_ok(tk_server_store_list_ckpts(f->s, "r", NULL, 0, 10, &l, &e), &e);
    assert_int_equal(json_array_size(json_object_get(l, "checkpoints")), 1);
    json_decref(l);
    /* the exchanged-out old copy was removed: tmp/ is empty again */
    char *tmp = tk_path_join(f->dir, "tmp");
    assert_int_equal(count_entries(tmp), 0);
    free(tmp);
}

static void test_abort_and_crash_leftovers(void **state) {
    fixture *f = *state;
    tk_err e = {0};
    put_run(f, "r", 1);
    tk_server_stage *st = NULL;
    assert_ok(tk_server_store_stage(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "never", false, &st, &e), &e);
    write_file(tk_server_stage_payload_dir(st), "x", "partial");
    /* not committed: invisible */
    assert_err(tk_server_store_find(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "never", NULL, NULL, &e), TK_ENOTFOUND, &e,
               "not found");
    tk_server_store_abort(f->s, st);
    char *tmp = tk_path_join(f->dir, "tmp");
    assert_int_equal(count_entries(tmp), 0);

    /* what a crash could leave: a staging dir, and a checkpoint dir without checkpoint.json */
    char p[700];
    snprintf(p, sizeof p, "%s/stage-999-1/payload", tmp);
    assert_ok(tk_mkdir_p(p, 0755, &e), &e);
    snprintf(p, sizeof p, "%s/runs/r/weights/torn/payload", f->dir);
    assert_ok(tk_mkdir_p(p, 0755, &e), &e);
    /* and a checkpoint.json that is not JSON */
    snprintf(p, sizeof p, "%s/runs/r/weights/garbled/payload", f->dir);
    assert_ok(tk_mkdir_p(p, 0755, &e), &e);
    snprintf(p, sizeof p, "%s/runs/r/weights/garbled", f->dir);
    write_file(p, "checkpoint.json", "{\"run_id\": ");
    tk_log_set_level(TK_LOG_OFF);
    reopen(f);
    tk_log_set_level(TK_LOG_INFO);
    assert_int_equal(count_entries(tmp), 0);
    json_t *l = NULL;
    assert_ok(tk_server_store_list_ckpts(f->s, NULL, NULL, 0, 10, &l, &e), &e);
    assert_int_equal(json_array_size(json_object_get(l, "checkpoints")), 0);
    json_decref(l);
    /* a name that is taken by a torn directory can still be saved (exchange + cleanup) */
    save(f, "r", TK_SERVER_CKPT_WEIGHTS, "torn", "ok", 0, false);
    char *c = read_payload(f, "r", TK_SERVER_CKPT_WEIGHTS, "torn");
    assert_string_equal(c, "ok");
    free(c);
    free(tmp);
}

static void test_ttl(void **state) {
    fixture *f = *state;
    tk_err e = {0};
    put_run(f, "r", 1);
    save(f, "r", TK_SERVER_CKPT_WEIGHTS, "short", "x", 0.05, false);
    save(f, "r", TK_SERVER_CKPT_WEIGHTS, "long", "y", 3600, false);
    save(f, "r", TK_SERVER_CKPT_WEIGHTS, "forever", "z", 0, false);
    json_t *info = NULL;
    assert_ok(tk_server_store_find(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "long", NULL, &info, &e), &e);
    assert_true(json_is_string(json_object_get(info, "expires_at")));
    json_decref(info);
    tk_sleep_ms(80);
    /* expired but not yet swept: already invisible */
    assert_err(tk_server_store_find(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "short", NULL, NULL, &e), TK_ENOTFOUND, &e,
               "tinker://r/weights/short not found");
    json_t *l = NULL;
    assert_ok(tk_server_store_list_ckpts(f->s, "r", NULL, 0, 10, &l, &e), &e);
    assert_int_equal(json_array_size(json_object_get(l, "checkpoints")), 2);
    json_decref(l);
    assert_int_equal(tk_server_store_expire(f->s, tk_wall_s()), 1);
    char p[700];
    snprintf(p, sizeof p, "%s/runs/r/weights/short", f->dir);
    assert_false(tk_path_exists(p));
    /* TTL edits persist; null removes the expiry; zero is rejected */
    assert_ok(tk_server_store_set_ttl(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "forever", 0.05, &e), &e);
    assert_ok(tk_server_store_set_ttl(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "long", -1, &e), &e);
    assert_err(tk_server_store_set_ttl(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "long", 0, &e), TK_EINVAL, &e, "positive");
    reopen(f);
    tk_sleep_ms(80);
    assert_int_equal(tk_server_store_expire(f->s, tk_wall_s()), 1);
    assert_ok(tk_server_store_find(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "long", NULL, &info, &e), &e);
    assert_true(json_is_null(json_object_get(info, "expires_at")));
    json_decref(info);
}

static void test_publish_delete(void **state) {
    fixture *f = *state;
    tk_err e = {0};
    put_run(f, "r", 1);
    save(f, "r", TK_SERVER_CKPT_SAMPLER, "s", "x", 0, false);
    assert_ok(tk_server_store_set_public(f->s, "r", TK_SERVER_CKPT_SAMPLER, "s", true, &e), &e);
    assert_ok(tk_server_store_set_public(f->s, "r", TK_SERVER_CKPT_SAMPLER, "s", true, &e), &e); /* idempotent */
    reopen(f);
    json_t *info = NULL;
    assert_ok(tk_server_store_find(f->s, "r", TK_SERVER_CKPT_SAMPLER, "s", NULL, &info, &e), &e);
    assert_true(json_is_true(json_object_get(info, "public")));
    json_decref(info);
    assert_ok(tk_server_store_set_public(f->s, "r", TK_SERVER_CKPT_SAMPLER, "s", false, &e), &e);
    assert_ok(tk_server_store_find(f->s, "r", TK_SERVER_CKPT_SAMPLER, "s", NULL, &info, &e), &e);
    assert_true(json_is_false(json_object_get(info, "public")));
    json_decref(info);
    assert_err(tk_server_store_set_public(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "s", true, &e), TK_ENOTFOUND, &e,
               "tinker://r/weights/s not found");
    assert_ok(tk_server_store_delete(f->s, "r", TK_SERVER_CKPT_SAMPLER, "s", &e), &e);
    assert_err(tk_server_store_delete(f->s, "r", TK_SERVER_CKPT_SAMPLER, "s", &e), TK_ENOTFOUND, &e, "not found");
    char p[700];
    snprintf(p, sizeof p, "%s/runs/r/sampler_weights/s", f->dir);
    assert_false(tk_path_exists(p));
    reopen(f);
    assert_err(tk_server_store_find(f->s, "r", TK_SERVER_CKPT_SAMPLER, "s", NULL, NULL, &e), TK_ENOTFOUND, &e,
               "not found");
}

static void test_pagination(void **state) {
    fixture *f = *state;
    tk_err e = {0};
    put_run(f, "a", 10);
    put_run(f, "b", 20);
    put_run(f, "c", 30);
    char name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "n%d", i);
        save(f, i % 2 ? "a" : "b", TK_SERVER_CKPT_WEIGHTS, name, "x", 0, false);
        tk_sleep_ms(2); /* distinct timestamps */
    }
    json_t *l = NULL;
    assert_ok(tk_server_store_list_ckpts(f->s, NULL, NULL, 1, 2, &l, &e), &e);
    json_t *arr = json_object_get(l, "checkpoints");
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "checkpoint_id")), "weights/n3");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "checkpoint_id")), "weights/n2");
    json_t *cur = json_object_get(l, "cursor");
    assert_int_equal(json_integer_value(json_object_get(cur, "total_count")), 5);
    assert_int_equal(json_integer_value(json_object_get(cur, "offset")), 1);
    assert_int_equal(json_integer_value(json_object_get(cur, "limit")), 2);
    json_decref(l);
    assert_ok(tk_server_store_list_ckpts(f->s, NULL, NULL, 7, 2, &l, &e), &e);
    assert_int_equal(json_array_size(json_object_get(l, "checkpoints")), 0);
    json_decref(l);
    assert_ok(tk_server_store_list_runs(f->s, NULL, 0, 2, &l, &e), &e);
    arr = json_object_get(l, "training_runs");
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "training_run_id")), "c");
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "training_run_id")), "b");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(l, "cursor"), "total_count")), 3);
    json_decref(l);
    assert_err(tk_server_store_list_ckpts(f->s, "zzz", NULL, 0, 2, &l, &e), TK_ENOTFOUND, &e, "\"zzz\" not found");
}

static void test_archive(void **state) {
    fixture *f = *state;
    tk_err e = {0};
    put_run(f, "r", 1);
    tk_server_stage *st = NULL;
    assert_ok(tk_server_store_stage(f->s, "r", TK_SERVER_CKPT_SAMPLER, "final", false, &st, &e), &e);
    write_file(tk_server_stage_payload_dir(st), "adapter_model.safetensors", "weights");
    write_file(tk_server_stage_payload_dir(st), "adapter_config.json", "{}");
    assert_ok(tk_server_store_commit(f->s, st, 0, NULL, NULL, &e), &e);
    tk_server_targz *t = NULL;
    assert_ok(tk_server_store_archive(f->s, "r", TK_SERVER_CKPT_SAMPLER, "final", &t, &e), &e);
    /* deleting while an archive is open does not cut it short: the files are already open */
    assert_ok(tk_server_store_delete(f->s, "r", TK_SERVER_CKPT_SAMPLER, "final", &e), &e);
    tk_buf gz = {0};
    assert_ok(tk_server_targz_to_buf(t, &gz, &e), &e);
    tk_server_targz_free(t);
    char p[600], cmd[800];
    snprintf(p, sizeof p, "%s/a.tar.gz", f->dir);
    assert_ok(tk_file_write_atomic(p, gz.data, gz.len, 0644, &e), &e);
    tk_buf_free(&gz);
    snprintf(cmd, sizeof cmd, "test \"$(tar tzf %s | tr '\\n' ' ')\" = 'adapter_config.json adapter_model.safetensors '",
             p);
    assert_int_equal(system(cmd), 0);
    assert_err(tk_server_store_archive(f->s, "r", TK_SERVER_CKPT_SAMPLER, "final", &t, &e), TK_ENOTFOUND, &e,
               "not found");
}

static void test_bad_names(void **state) {
    fixture *f = *state;
    tk_err e = {0};
    put_run(f, "r", 1);
    tk_server_stage *st = NULL;
    assert_err(tk_server_store_stage(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "../../etc", false, &st, &e), TK_EINVAL, &e,
               "must not start with '.'");
    assert_err(tk_server_store_stage(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "x..", false, &st, &e), TK_EINVAL, &e,
               "\"..\"");
    assert_err(tk_server_store_stage(f->s, "r", TK_SERVER_CKPT_WEIGHTS, "a/b", false, &st, &e), TK_EINVAL, &e, "'/'");
    assert_err(tk_server_store_stage(f->s, "ghost", TK_SERVER_CKPT_WEIGHTS, "a", false, &st, &e), TK_ENOTFOUND, &e,
               "\"ghost\" not found");
    tk_server_run_meta m = {.run_id = "../escape", .base_model = "x"};
    assert_err(tk_server_store_put_run(f->s, &m, &e), TK_EINVAL, &e, "start with '.'");
    m.run_id = "/abs";
    assert_err(tk_server_store_put_run(f->s, &m, &e), TK_EINVAL, &e, "'/'");
    assert_err(tk_server_store_find_path(f->s, "tinker://r/weights/../x", NULL, NULL, &e), TK_EINVAL, &e, "..");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_save_list_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overwrite_and_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_crash_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
