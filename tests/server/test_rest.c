/* Training runs and checkpoints over HTTP: checkpoints saved through the store by the (fake)
 * engine, listed, published, given a TTL, archived (the .tar.gz listed by GNU tar), deleted by
 * their two-segment ids; weights_info and sampling sessions from a checkpoint path; and every
 * run and checkpoint listed again after the server is restarted on the same data dir. */
#include "test_util.h"

#include "harness.h"

static json_t *run_op(harness *h, const char *model, int seq, const char *op, const char *extra) {
    long st = 0;
    json_t *v = hjf(h, "POST", "/test/train", &st, "{\"model_id\":\"%s\",\"seq_id\":%d,\"op\":\"%s\"%s%s}", model, seq, op,
                    extra ? "," : "", extra ? extra : "");
    assert_int_equal(st, 200);
    json_t *r = wait_result(h, json_string_value(json_object_get(v, "request_id")), &st);
    json_decref(v);
    return r;
}

static char *create_model(harness *h, const char *sid) {
    long st = 0;
    json_t *v = hjf(h, "POST", "/test/create_model", &st,
                    "{\"session_id\":\"%s\",\"model_seq_id\":0,\"base_model\":\"fake/base\"}", sid);
    json_t *r = wait_result(h, json_string_value(json_object_get(v, "request_id")), &st);
    char *id = tk_strdup(json_string_value(json_object_get(r, "model_id")));
    assert_non_null(id);
    json_decref(v);
    json_decref(r);
    return id;
}

static json_t *get(harness *h, long want, const char *fmt, ...) TK_PRINTF(3, 4);
static json_t *get(harness *h, long want, const char *fmt, ...) {
    char path[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    long st = 0;
    json_t *v = hj(h, "GET", path, NULL, &st);
    if (st != want) fail_msg("GET %s: %ld, expected %ld", path, st, want);
    return v;
}

static json_t *find_ckpt(json_t *list, const char *id) {
    json_t *arr = json_object_get(list, "checkpoints");
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(arr, i), "checkpoint_id")), id))
            return json_array_get(arr, i);
    return NULL;
}

/* Download the archive of a checkpoint and return what `tar tzf` lists, space separated. */
static char *archive_listing(harness *h, const char *run, const char *ckpt) {
    char url[600];
    snprintf(url, sizeof url, "%s/api/v1/training_runs/%s/checkpoints/%s/archive", h->url, run, ckpt);
    const char *acc[] = {"Accept: application/json", NULL};
    http_res r;
    http_do("GET", url, acc, NULL, 0, &r);
    assert_int_equal(r.status, 302);
    assert_non_null(strstr(r.location, "/api/v1/checkpoint_archives/"));
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "url")), r.location);
    assert_non_null(json_string_value(json_object_get(v, "expires")));
    json_decref(v);
    char loc[512];
    snprintf(loc, sizeof loc, "%s", r.location);
    http_res_free(&r);
    /* the link is the credential: no API key needed, as with a signed URL */
    const char *nokey[] = {"NO-KEY", NULL};
    http_do("GET", loc, nokey, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/gzip");
    char gz[600], cmd[800], out[600];
    snprintf(gz, sizeof gz, "%s/dl.tar.gz", h->dir);
    snprintf(out, sizeof out, "%s/dl.txt", h->dir);
    tk_err e = {0};
    assert_ok(tk_file_write_atomic(gz, r.body.data, r.body.len, 0644, &e), &e);
    http_res_free(&r);
    snprintf(cmd, sizeof cmd, "tar tzf %s | tr '\\n' ' ' > %s", gz, out);
    assert_int_equal(system(cmd), 0);
    tk_buf b = {0};
    assert_ok(tk_file_read(out, &b, 0, &e), &e);
    unlink(gz);
    unlink(out);
    return b.data;
}

static void test_checkpoints_rest(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    char *m = create_model(&h, sid);
    json_t *r = run_op(&h, m, 1, "save", "\"name\":\"step-1\"");
    char want[400];
    snprintf(want, sizeof want, "tinker://%s/weights/step-1", m);
    assert_string_equal(json_string_value(json_object_get(r, "path")), want);
    json_decref(r);
    /* an unnamed sampler save creates a sampling session bound to the new weights */
    r = run_op(&h, m, 2, "ssave", "\"sampling_session_seq_id\":0");
    const char *spath = json_string_value(json_object_get(r, "path"));
    snprintf(want, sizeof want, "tinker://%s/sampler_weights/ss0_seq2", m);
    assert_string_equal(spath, want);
    char sampler_want[200];
    snprintf(sampler_want, sizeof sampler_want, "%s:sample:0", sid);
    assert_string_equal(json_string_value(json_object_get(r, "sampling_session_id")), sampler_want);
    json_decref(r);
    /* saving under a taken name fails the request (a user error, not a 409) */
    r = run_op(&h, m, 3, "save", "\"name\":\"step-1\"");
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "already exists"));
    assert_string_equal(json_string_value(json_object_get(r, "category")), "user");
    json_decref(r);

    json_t *v = get(&h, 200, "/api/v1/training_runs?limit=20&offset=0&access_scope=owned");
    json_t *run = json_array_get(json_object_get(v, "training_runs"), 0);
    assert_string_equal(json_string_value(json_object_get(run, "training_run_id")), m);
    assert_string_equal(json_string_value(json_object_get(run, "base_model")), "fake/base");
    assert_true(json_is_true(json_object_get(run, "is_lora")));
    assert_int_equal(json_integer_value(json_object_get(run, "lora_rank")), 8);
    assert_non_null(strstr(json_string_value(json_object_get(run, "model_owner")), "key-"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(run, "last_checkpoint"), "checkpoint_id")),
                        "weights/step-1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "cursor"), "total_count")), 1);
    json_decref(v);
    v = get(&h, 200, "/api/v1/training_runs/%s?access_scope=owned", m);
    assert_string_equal(json_string_value(json_object_get(v, "training_run_id")), m);
    json_decref(v);
    json_decref(get(&h, 404, "/api/v1/training_runs/nope"));
    v = get(&h, 200, "/api/v1/training_runs/%s/checkpoints", m);
    assert_int_equal(json_array_size(json_object_get(v, "checkpoints")), 2);
    json_t *c = find_ckpt(v, "sampler_weights/ss0_seq2");
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "checkpoint_type")), "sampler");
    assert_string_equal(json_string_value(json_object_get(c, "tinker_path")), spath ? want : "");
    assert_int_equal(json_integer_value(json_object_get(c, "size_bytes")), 7 + (long)strlen("weights after seq 2"));
    json_decref(v);
    v = get(&h, 200, "/api/v1/models/%s/checkpoints", m); /* SDK <= 0.3 */
    assert_int_equal(json_array_size(json_object_get(v, "checkpoints")), 2);
    json_decref(v);
    v = get(&h, 200, "/api/v1/checkpoints?limit=1&offset=0");
    assert_int_equal(json_array_size(json_object_get(v, "checkpoints")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "cursor"), "total_count")), 2);
    json_decref(v);

    /* the sampler made by the unnamed save is known */
    v = get(&h, 200, "/api/v1/samplers/%s", sampler_want);
    assert_string_equal(json_string_value(json_object_get(v, "base_model")), "fake/base");
    assert_string_equal(json_string_value(json_object_get(v, "model_path")), want);
    json_decref(v);
    /* weights_info and a sampling session from a checkpoint path */
    long st = 0;
    v = hjf(&h, "POST", "/api/v1/weights_info", &st, "{\"tinker_path\":\"tinker://%s/weights/step-1\"}", m);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "base_model")), "fake/base");
    assert_true(json_is_true(json_object_get(v, "is_lora")));
    assert_int_equal(json_integer_value(json_object_get(v, "lora_rank")), 8);
    assert_true(json_is_true(json_object_get(v, "train_mlp")));
    assert_true(json_is_false(json_object_get(v, "train_unembed")));
    json_decref(v);
    v = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
            "{\"session_id\":\"%s\",\"sampling_session_seq_id\":1,\"model_path\":\"%s\"}", sid, want);
    assert_int_equal(st, 200);
    json_decref(v);
    v = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
            "{\"session_id\":\"%s\",\"sampling_session_seq_id\":2,\"model_path\":\"%s\",\"base_model\":\"fake/x\"}",
            sid, want);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(v, "detail")), "does not match"));
    json_decref(v);

    /* publish / unpublish / TTL by the two-segment id */
    char p[600];
    snprintf(p, sizeof p, "/api/v1/training_runs/%s/checkpoints/weights/step-1/publish", m);
    v = hj(&h, "POST", p, NULL, &st);
    assert_int_equal(st, 200);
    json_decref(v);
    v = hj(&h, "POST", p, NULL, &st); /* already public: still 2xx, never 409 */
    assert_int_equal(st, 200);
    json_decref(v);
    v = get(&h, 200, "/api/v1/training_runs/%s/checkpoints", m);
    assert_true(json_is_true(json_object_get(find_ckpt(v, "weights/step-1"), "public")));
    json_decref(v);
    v = hj(&h, "DELETE", p, NULL, &st);
    assert_int_equal(st, 200);
    json_decref(v);
    snprintf(p, sizeof p, "/api/v1/training_runs/%s/checkpoints/weights/step-1/ttl", m);
    v = hj(&h, "PUT", p, "{\"ttl_seconds\":86400}", &st);
    assert_int_equal(st, 200);
    json_decref(v);
    v = get(&h, 200, "/api/v1/training_runs/%s/checkpoints", m);
    c = find_ckpt(v, "weights/step-1");
    assert_true(json_is_false(json_object_get(c, "public")));
    assert_true(json_is_string(json_object_get(c, "expires_at")));
    json_decref(v);
    v = hj(&h, "PUT", p, "{\"ttl_seconds\":null}", &st);
    assert_int_equal(st, 200);
    json_decref(v);
    v = get(&h, 200, "/api/v1/training_runs/%s/checkpoints", m);
    assert_true(json_is_null(json_object_get(find_ckpt(v, "weights/step-1"), "expires_at")));
    json_decref(v);

    /* the archive, as GNU tar sees it */
    char *listing = archive_listing(&h, m, "weights/step-1");
    assert_string_equal(listing, "adapter_config.json adapter_model.safetensors ");
    free(listing);
    const char *nokey[] = {"NO-KEY", NULL};
    http_res hr;
    char u[600];
    snprintf(u, sizeof u, "%s/api/v1/checkpoint_archives/not-a-token", h.url);
    http_do("GET", u, nokey, NULL, 0, &hr);
    assert_int_equal(hr.status, 404);
    http_res_free(&hr);
    json_decref(get(&h, 404, "/api/v1/training_runs/%s/checkpoints/weights/nope/archive", m));

    /* delete by two-segment id */
    snprintf(p, sizeof p, "/api/v1/training_runs/%s/checkpoints/sampler_weights/ss0_seq2", m);
    v = hj(&h, "DELETE", p, NULL, &st);
    assert_int_equal(st, 200);
    json_decref(v);
    v = hj(&h, "DELETE", p, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(v);
    v = get(&h, 200, "/api/v1/training_runs/%s/checkpoints", m);
    assert_int_equal(json_array_size(json_object_get(v, "checkpoints")), 1);
    json_decref(v);
    free(m);
    free(sid);
    harness_stop(&h, false);
}

static void test_restart_and_ttl(void **state) {
    (void)state;
    harness h = {0};
    harness_start(&h, NULL, true);
    char *sid = new_session(&h);
    char *m = create_model(&h, sid);
    json_decref(run_op(&h, m, 1, "save", "\"name\":\"keep\""));
    json_decref(run_op(&h, m, 2, "save", "\"name\":\"short\""));
    long st = 0;
    char p[600];
    snprintf(p, sizeof p, "/api/v1/training_runs/%s/checkpoints/weights/keep/publish", m);
    json_decref(hj(&h, "POST", p, NULL, &st));
    assert_int_equal(st, 200);
    harness_stop(&h, true); /* keep the data dir */

    harness_start(&h, NULL, true);
    json_t *v = get(&h, 200, "/api/v1/training_runs");
    assert_int_equal(json_array_size(json_object_get(v, "training_runs")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(v, "training_runs"), 0),
                                                          "training_run_id")), m);
    json_decref(v);
    v = get(&h, 200, "/api/v1/training_runs/%s/checkpoints", m);
    assert_int_equal(json_array_size(json_object_get(v, "checkpoints")), 2);
    assert_true(json_is_true(json_object_get(find_ckpt(v, "weights/keep"), "public")));
    json_decref(v);
    v = hjf(&h, "POST", "/api/v1/weights_info", &st, "{\"tinker_path\":\"tinker://%s/weights/keep\"}", m);
    assert_int_equal(st, 200);
    json_decref(v);
    char *listing = archive_listing(&h, m, "weights/keep");
    assert_string_equal(listing, "adapter_config.json adapter_model.safetensors ");
    free(listing);
    /* sessions do not survive a restart; the old session is unknown */
    v = hjf(&h, "POST", "/api/v1/session_heartbeat", &st, "{\"session_id\":\"%s\"}", sid);
    assert_int_equal(st, 404);
    json_decref(v);
    /* a TTL expires the checkpoint: gone from listings, files removed by the sweeper */
    snprintf(p, sizeof p, "/api/v1/training_runs/%s/checkpoints/weights/short/ttl", m);
    v = hj(&h, "PUT", p, "{\"ttl_seconds\":0.2}", &st);
    assert_int_equal(st, 200);
    json_decref(v);
    char dir[700];
    snprintf(dir, sizeof dir, "%s/runs/%s/weights/short", h.dir, m);
    assert_true(tk_path_is_dir(dir));
    for (int i = 0; i < 100 && tk_path_exists(dir); i++) tk_sleep_ms(20);
    assert_false(tk_path_exists(dir));
    v = get(&h, 200, "/api/v1/training_runs/%s/checkpoints", m);
    assert_int_equal(json_array_size(json_object_get(v, "checkpoints")), 1);
    json_decref(v);
    free(m);
    free(sid);
    harness_stop(&h, false);
}

int main(void) {
    tk_log_set_level(TK_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints_rest),
        cmocka_unit_test(test_restart_and_ttl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
