/* Conformance of weights and checkpoints (protocol §3.5, §3.8, §9 "Resume") over raw HTTP
 * against the real engine: save_weights / load_weights with and without the optimizer
 * (bit-identical resume), the SDK's create_training_client_from_state flow (weights_info,
 * create_model, load_weights), create-via-load, named sampler checkpoints and sampling sessions
 * from them, name collisions and overwrite, listings, restart persistence of real checkpoints, and
 * the bad inputs of every weights route. */
#include "test_util.h"

#include <math.h>

#include "conformance.h"

static harness H;

static int setup(void **state) {
    (void)state;
    harness_start_engine(&H, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    harness_stop(&H, false);
    return 0;
}

/* One forward_backward + optim_step (lr 0.05) at seq, seq+1; returns the next seq. */
static int64_t train_step(harness *h, const char *mid, int64_t seq) {
    char *b = fb_body(mid, seq, 2, 6, false);
    json_decref(run_json(h, "/api/v1/forward_backward", b));
    free(b);
    char *r = submitf(h, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":"
                      "{\"learning_rate\":0.05}}", mid, (long long)(seq + 1));
    json_decref(result_json(h, r));
    free(r);
    return seq + 2;
}

/* /forward on the standard batch: all logprobs (caller frees), count 12. */
static float *forward_all(harness *h, const char *mid, int64_t seq) {
    char *b = fb_body(mid, seq, 2, 6, true);
    json_t *v = run_json(h, "/api/v1/forward", b);
    free(b);
    size_t n = 0;
    float *lp = json_logprobs(v, &n);
    assert_int_equal(n, 12);
    json_decref(v);
    return lp;
}

static void assert_same(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) fail_msg("logprob %zu: %.9g != %.9g", i, a[i], b[i]);
}

static bool differs(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return true;
    return false;
}

static char *save(harness *h, const char *route, const char *mid, int64_t seq, const char *name, const char *more) {
    char *r = submitf(h, route, "{\"model_id\":\"%s\",\"path\":\"%s\",\"seq_id\":%lld%s}", mid, name, (long long)seq,
                      more ? more : "");
    json_t *v = result_json(h, r);
    char *path = tk_strdup(json_string_value(json_object_get(v, "path")));
    assert_non_null(path);
    json_decref(v);
    free(r);
    return path;
}

static void test_save_load_resume(void **state) {
    (void)state;
    char *mid = new_model(&H, NULL);
    int64_t seq = train_step(&H, mid, 1);
    char *path = save(&H, "/api/v1/save_weights", mid, seq++, "step-1", ",\"overwrite\":false,\"type\":\"save_weights\"");
    char want[300];
    snprintf(want, sizeof want, "tinker://%s/weights/step-1", mid);
    assert_string_equal(path, want);
    float *at_save = forward_all(&H, mid, seq++);
    /* two more steps from the saved state: remember where they lead */
    seq = train_step(&H, mid, seq);
    float *after1 = forward_all(&H, mid, seq++);
    seq = train_step(&H, mid, seq);
    float *after2 = forward_all(&H, mid, seq++);
    assert_true(differs(at_save, after2, 12));
    /* load without the optimizer: the weights are back */
    char *r = submitf(&H, "/api/v1/load_weights", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"%s\",\"optimizer\":false,"
                      "\"type\":\"load_weights\"}", mid, (long long)seq++, path);
    json_t *v = result_json(&H, r);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "load_weights");
    json_decref(v);
    free(r);
    float *x = forward_all(&H, mid, seq++);
    assert_same(x, at_save, 12);
    free(x);
    /* with the optimizer: the next steps repeat exactly (bit-identical resume) */
    r = submitf(&H, "/api/v1/load_weights", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"%s\",\"optimizer\":true}", mid,
                (long long)seq++, path);
    json_decref(result_json(&H, r));
    free(r);
    seq = train_step(&H, mid, seq);
    x = forward_all(&H, mid, seq++);
    assert_same(x, after1, 12);
    free(x);
    seq = train_step(&H, mid, seq);
    x = forward_all(&H, mid, seq++);
    assert_same(x, after2, 12);
    free(x);

    /* the SDK's create_training_client_from_state: weights_info, create_model with its rank and
     * flags, load_weights at seq 1 */
    long st = 0;
    v = hjf(&H, "POST", "/api/v1/weights_info", &st, "{\"tinker_path\":\"%s\"}", path);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "base_model")), "test/tiny");
    assert_true(json_is_true(json_object_get(v, "is_lora")));
    assert_int_equal(json_integer_value(json_object_get(v, "lora_rank")), 4);
    assert_true(json_is_true(json_object_get(v, "train_attn")));
    json_decref(v);
    char *sid2 = new_session(&H);
    r = submitf(&H, "/api/v1/create_model", "{\"session_id\":\"%s\",\"model_seq_id\":0,\"base_model\":\"test/tiny\","
                "\"lora_config\":{\"rank\":4,\"train_unembed\":true,\"train_mlp\":true,\"train_attn\":true}}", sid2);
    v = result_json(&H, r);
    char *m2 = tk_strdup(json_string_value(json_object_get(v, "model_id")));
    json_decref(v);
    free(r);
    r = submitf(&H, "/api/v1/load_weights", "{\"model_id\":\"%s\",\"seq_id\":1,\"path\":\"%s\",\"optimizer\":true}", m2,
                path);
    json_decref(result_json(&H, r));
    free(r);
    int64_t s2 = train_step(&H, m2, 2);
    x = forward_all(&H, m2, s2++);
    assert_same(x, after1, 12);
    free(x);
    /* create-via-load (0.25 with create_model_via_load_weights): the load is the model's seq 0 */
    r = submitf(&H, "/api/v1/load_weights", "{\"session_id\":\"%s\",\"model_seq_id\":1,\"path\":\"%s\",\"optimizer\":true,"
                "\"type\":\"load_weights\"}", sid2, path);
    v = result_json(&H, r);
    char want3[300];
    snprintf(want3, sizeof want3, "%s:train:1", sid2);
    assert_string_equal(json_string_value(json_object_get(v, "model_id")), want3);
    json_decref(v);
    free(r);
    v = hjf(&H, "POST", "/api/v1/get_info", &st, "{\"model_id\":\"%s\"}", want3);
    assert_int_equal(json_integer_value(json_object_get(v, "lora_rank")), 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "model_data"), "arch")), "qwen3");
    json_decref(v);
    int64_t s3 = train_step(&H, want3, 1);
    x = forward_all(&H, want3, s3++);
    assert_same(x, after1, 12);
    free(x);

    /* a name collision fails the future (never 409); overwrite replaces */
    r = submitf(&H, "/api/v1/save_weights", "{\"model_id\":\"%s\",\"path\":\"step-1\",\"seq_id\":%lld}", mid,
                (long long)seq++);
    expect_failed(&H, r, "user", "already exists");
    free(r);
    char *p2 = save(&H, "/api/v1/save_weights", mid, seq++, "step-1", ",\"overwrite\":true");
    assert_string_equal(p2, path);
    free(p2);
    /* listings: the run and its checkpoints */
    char url[400];
    snprintf(url, sizeof url, "/api/v1/training_runs/%s/checkpoints", mid);
    v = hj(&H, "GET", url, NULL, &st);
    assert_int_equal(st, 200);
    json_t *cks = json_object_get(v, "checkpoints");
    assert_int_equal(json_array_size(cks), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cks, 0), "checkpoint_id")), "weights/step-1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cks, 0), "checkpoint_type")), "training");
    assert_true(json_integer_value(json_object_get(json_array_get(cks, 0), "size_bytes")) > 0);
    json_decref(v);
    free(at_save);
    free(after1);
    free(after2);
    free(path);
    free(mid);
    free(m2);
    free(sid2);
}

/* A named sampler checkpoint, a sampling session over it, and its greedy tokens equal to the
 * unnamed (in-memory) sampler of the same weights. */
static void test_sampler_checkpoint(void **state) {
    (void)state;
    char *sid = NULL;
    char *mid = new_model(&H, &sid);
    int64_t seq = train_step(&H, mid, 1);
    seq = train_step(&H, mid, seq);
    char *path = save(&H, "/api/v1/save_weights_for_sampler", mid, seq++, "s1", ",\"ttl_seconds\":3600");
    char want[300];
    snprintf(want, sizeof want, "tinker://%s/sampler_weights/s1", mid);
    assert_string_equal(path, want);
    char *r = submitf(&H, "/api/v1/save_weights_for_sampler",
                      "{\"model_id\":\"%s\",\"seq_id\":%lld,\"sampling_session_seq_id\":0}", mid, (long long)seq++);
    json_t *v = result_json(&H, r);
    char *ss_mem = tk_strdup(json_string_value(json_object_get(v, "sampling_session_id")));
    json_decref(v);
    free(r);
    long st = 0;
    v = hjf(&H, "POST", "/api/v1/create_sampling_session", &st,
            "{\"session_id\":\"%s\",\"sampling_session_seq_id\":1,\"model_path\":\"%s\"}", sid, path);
    assert_int_equal(st, 200);
    char *ss_ckpt = tk_strdup(json_string_value(json_object_get(v, "sampling_session_id")));
    json_decref(v);
#define SBODY "{\"sampling_session_id\":\"%s\",\"seq_id\":0,\"prompt\":{\"chunks\":[{\"tokens\":[3,1,4,1,5]," \
                       "\"type\":\"encoded_text\"}]},\"sampling_params\":{\"max_tokens\":7,\"temperature\":0}}"
    char b1[600], b2[600];
    snprintf(b1, sizeof b1, SBODY, ss_mem);
    snprintf(b2, sizeof b2, SBODY, ss_ckpt);
    json_t *a = run_json(&H, "/api/v1/asample", b1), *c = run_json(&H, "/api/v1/asample", b2);
    json_t *sa = json_array_get(json_object_get(a, "sequences"), 0), *sc = json_array_get(json_object_get(c, "sequences"), 0);
    assert_true(json_equal(json_object_get(sa, "tokens"), json_object_get(sc, "tokens")));
    assert_true(json_equal(json_object_get(sa, "logprobs"), json_object_get(sc, "logprobs")));
    json_decref(a);
    json_decref(c);
    /* the sampler checkpoint's listing has its expiry */
    char url[400];
    snprintf(url, sizeof url, "/api/v1/training_runs/%s/checkpoints", mid);
    v = hj(&H, "GET", url, NULL, &st);
    json_t *ck = json_array_get(json_object_get(v, "checkpoints"), 0);
    assert_string_equal(json_string_value(json_object_get(ck, "checkpoint_type")), "sampler");
    assert_true(json_is_string(json_object_get(ck, "expires_at")));
    json_decref(v);
    /* loading a sampler checkpoint with the optimizer: it has none */
    r = submitf(&H, "/api/v1/load_weights", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"%s\",\"optimizer\":true}", mid,
                (long long)seq++, path);
    expect_failed(&H, r, "user", "optimizer");
    free(r);
    /* ...without it: fine (weights only) */
    r = submitf(&H, "/api/v1/load_weights", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"%s\",\"optimizer\":false}", mid,
                (long long)seq++, path);
    json_decref(result_json(&H, r));
    free(r);
    free(ss_mem);
    free(ss_ckpt);
    free(path);
    free(mid);
    free(sid);
}

/* Real checkpoints survive a restart: listed again, weights_info answers, and loading gives the
 * same model. */
static void test_restart_persistence(void **state) {
    (void)state;
    harness h = {0};
    harness_start_engine(&h, NULL);
    char *mid = new_model(&h, NULL);
    int64_t seq = train_step(&h, mid, 1);
    char *path = save(&h, "/api/v1/save_weights", mid, seq++, "keep", NULL);
    char *spath = save(&h, "/api/v1/save_weights_for_sampler", mid, seq++, "keep-s", NULL);
    float *before = forward_all(&h, mid, seq++);
    harness_stop(&h, true); /* keep the data dir */
    harness_start_engine(&h, NULL);
    long st = 0;
    json_t *v = hj(&h, "GET", "/api/v1/checkpoints", NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(v, "checkpoints")), 2);
    json_decref(v);
    char url[400];
    snprintf(url, sizeof url, "/api/v1/training_runs/%s", mid);
    v = hj(&h, "GET", url, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "base_model")), "test/tiny");
    json_decref(v);
    v = hjf(&h, "POST", "/api/v1/weights_info", &st, "{\"tinker_path\":\"%s\"}", path);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(v, "lora_rank")), 4);
    json_decref(v);
    char *sid = new_session(&h);
    char *r = submitf(&h, "/api/v1/load_weights", "{\"session_id\":\"%s\",\"model_seq_id\":0,\"path\":\"%s\","
                      "\"optimizer\":true}", sid, path);
    v = result_json(&h, r);
    char *m2 = tk_strdup(json_string_value(json_object_get(v, "model_id")));
    json_decref(v);
    free(r);
    float *after = forward_all(&h, m2, 1);
    assert_same(after, before, 12);
    /* and a sampling session from the sampler checkpoint works after the restart */
    v = hjf(&h, "POST", "/api/v1/create_sampling_session", &st,
            "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"model_path\":\"%s\"}", sid, spath);
    assert_int_equal(st, 200);
    char b[600];
    snprintf(b, sizeof b, "{\"sampling_session_id\":\"%s\",\"seq_id\":0,\"prompt\":{\"chunks\":[{\"tokens\":[1,2,3],"
             "\"type\":\"encoded_text\"}]},\"sampling_params\":{\"max_tokens\":3}}",
             json_string_value(json_object_get(v, "sampling_session_id")));
    json_decref(v);
    v = run_json(&h, "/api/v1/asample", b);
    assert_int_equal(json_array_size(json_array_get(json_object_get(v, "sequences"), 0) ? json_object_get(
                         json_array_get(json_object_get(v, "sequences"), 0), "tokens") : NULL), 3);
    json_decref(v);
    harness_stop(&h, false);
    free(before);
    free(after);
    free(path);
    free(spath);
    free(mid);
    free(m2);
    free(sid);
}

static void test_bad_weights_input(void **state) {
    (void)state;
    char *sid = NULL;
    char *mid = new_model(&H, &sid);
    int64_t seq = 1;
    char body[1024];
#define BAD(route, needle, ...)                                   \
    do {                                                          \
        snprintf(body, sizeof body, __VA_ARGS__);                 \
        expect_json_error(&H, route, body, 400, needle);          \
    } while (0)
    BAD("/api/v1/save_weights", "path", "{\"model_id\":\"%s\",\"seq_id\":%lld}", mid, (long long)seq++);
    BAD("/api/v1/save_weights", "..", "{\"model_id\":\"%s\",\"path\":\"../etc\",\"seq_id\":%lld}", mid, (long long)seq++);
    BAD("/api/v1/save_weights", "/", "{\"model_id\":\"%s\",\"path\":\"a/b\",\"seq_id\":%lld}", mid, (long long)seq++);
    BAD("/api/v1/save_weights", "ttl_seconds", "{\"model_id\":\"%s\",\"path\":\"x\",\"seq_id\":%lld,\"ttl_seconds\":0}", mid,
        (long long)seq++);
    BAD("/api/v1/save_weights", "seq_id", "{\"model_id\":\"%s\",\"path\":\"x\"}", mid);
    BAD("/api/v1/save_weights", "overwrite", "{\"model_id\":\"%s\",\"path\":\"x\",\"seq_id\":%lld,\"overwrite\":1}", mid,
        (long long)seq++);
    BAD("/api/v1/save_weights_for_sampler", "sampling_session_seq_id", "{\"model_id\":\"%s\",\"seq_id\":%lld}", mid,
        (long long)seq++);
    BAD("/api/v1/save_weights_for_sampler", "sampling_session_seq_id",
        "{\"model_id\":\"%s\",\"seq_id\":%lld,\"sampling_session_seq_id\":-1}", mid, (long long)seq++);
    BAD("/api/v1/save_weights_for_sampler", "path", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\".hidden\"}", mid,
        (long long)seq++);
    BAD("/api/v1/load_weights", "tinker://", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"step-1\",\"optimizer\":false}",
        mid, (long long)seq++);
    BAD("/api/v1/load_weights", "optimizer", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"tinker://a/weights/b\"}",
        mid, (long long)seq++);
    BAD("/api/v1/load_weights", "session_id", "{\"path\":\"tinker://a/weights/b\",\"optimizer\":false}");
    BAD("/api/v1/load_weights", "..", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"tinker://a/weights/..\","
        "\"optimizer\":false}", mid, (long long)seq++);
    expect_json_error(&H, "/api/v1/save_weights", "{\"model_id\":\"x:train:9\",\"path\":\"a\",\"seq_id\":1}", 404,
                      "x:train:9");
    expect_json_error(&H, "/api/v1/load_weights", "not json", 400, "load_weights");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"model_seq_id\":3,\"path\":\"tinker://%s/weights/none\","
             "\"optimizer\":false}", sid, mid);
    expect_json_error(&H, "/api/v1/load_weights", body, 404, "not found");
    /* a checkpoint that does not exist: 404 at once, and its seq_id is consumed (the loads below
     * would wait for it otherwise) */
    snprintf(body, sizeof body, "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"tinker://%s/weights/none\","
             "\"optimizer\":false}", mid, (long long)seq++, mid);
    expect_json_error(&H, "/api/v1/load_weights", body, 404, "not found");
    char *r = NULL;
    /* a checkpoint of another rank cannot be loaded into this model */
    char *sid2 = new_session(&H);
    r = submitf(&H, "/api/v1/create_model", "{\"session_id\":\"%s\",\"model_seq_id\":0,\"base_model\":\"test/tiny\","
                "\"lora_config\":{\"rank\":2}}", sid2);
    json_t *v = result_json(&H, r);
    char *m2 = tk_strdup(json_string_value(json_object_get(v, "model_id")));
    json_decref(v);
    free(r);
    char *p2 = save(&H, "/api/v1/save_weights", m2, 1, "r2", NULL);
    r = submitf(&H, "/api/v1/load_weights", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"path\":\"%s\",\"optimizer\":false}",
                mid, (long long)seq++, p2);
    expect_failed(&H, r, "user", "rank");
    free(r);
    /* weights_info of something that is not there */
    snprintf(body, sizeof body, "{\"tinker_path\":\"tinker://%s/weights/none\"}", mid);
    expect_json_error(&H, "/api/v1/weights_info", body, 404, "not found");
    free(p2);
    free(m2);
    free(sid2);
    free(mid);
    free(sid);
}

/* An HTTP call as API key `key`. */
static json_t *as_key(harness *h, const char *key, const char *method, const char *path, const char *body, long *st) {
    char url[1024], k[128];
    snprintf(url, sizeof url, "%s%s", h->url, path);
    snprintf(k, sizeof k, "X-API-Key: %s", key);
    const char *hdr[] = {k, "Content-Type: application/json", NULL};
    http_res r;
    *st = http_do(method, url, hdr, body, body ? strlen(body) : 0, &r);
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    http_res_free(&r);
    return v;
}

static void expect_key(harness *h, const char *key, const char *method, const char *path, const char *body, long want,
                       const char *needle) {
    long st = 0;
    json_t *v = as_key(h, key, method, path, body, &st);
    const char *d = json_string_value(json_object_get(v, "detail"));
    if (st != want || (needle && (!d || !strstr(d, needle))))
        fail_msg("%s %s as %s: %ld (wanted %ld \"%s\"): %s", method, path, key, st, want, needle ? needle : "",
                 d ? d : "");
    json_decref(v);
}

static size_t count_key(harness *h, const char *key, const char *path, const char *field) {
    long st = 0;
    json_t *v = as_key(h, key, "GET", path, NULL, &st);
    assert_int_equal(st, 200);
    size_t n = json_array_size(json_object_get(v, field));
    json_decref(v);
    return n;
}

/* Per-key ownership (access_scope): a run and its private checkpoints belong to the key that made
 * them; other keys see and load only what is published, and never change it. */
static void test_ownership(void **state) {
    (void)state;
    harness h = {0};
    harness_start_engine(&h, NULL);
    /* key A (the harness default tml-test) trains and saves */
    char *sid = NULL;
    char *mid = new_model(&h, &sid);
    char *path = save(&h, "/api/v1/save_weights", mid, 1, "a1", NULL);
    char *spath = save(&h, "/api/v1/save_weights_for_sampler", mid, 2, "s1", NULL);
    const char *A = "tml-test", *B = "tml-other";
    char url[600], body[800];
    assert_int_equal(count_key(&h, A, "/api/v1/training_runs", "training_runs"), 1);
    assert_int_equal(count_key(&h, B, "/api/v1/training_runs", "training_runs"), 0);
    assert_int_equal(count_key(&h, B, "/api/v1/training_runs?access_scope=accessible", "training_runs"), 0);
    assert_int_equal(count_key(&h, A, "/api/v1/checkpoints", "checkpoints"), 2);
    assert_int_equal(count_key(&h, B, "/api/v1/checkpoints", "checkpoints"), 0);
    assert_int_equal(count_key(&h, A, "/api/v1/sessions", "sessions"), 1);
    assert_int_equal(count_key(&h, B, "/api/v1/sessions", "sessions"), 0);
    expect_key(&h, B, "GET", "/api/v1/training_runs?access_scope=bogus", NULL, 400, "access_scope");
    snprintf(url, sizeof url, "/api/v1/training_runs/%s", mid);
    expect_key(&h, B, "GET", url, NULL, 404, "not found");
    /* B cannot read A's private checkpoints, nor change them */
    char *sidb = NULL;
    {
        long st = 0;
        json_t *v = as_key(&h, B, "POST", "/api/v1/create_session", "{\"tags\":[],\"user_metadata\":{}}", &st);
        sidb = tk_strdup(json_string_value(json_object_get(v, "session_id")));
        json_decref(v);
    }
    snprintf(body, sizeof body, "{\"tinker_path\":\"%s\"}", path);
    expect_key(&h, B, "POST", "/api/v1/weights_info", body, 403, "another API key");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"model_seq_id\":0,\"path\":\"%s\",\"optimizer\":false}", sidb,
             path);
    expect_key(&h, B, "POST", "/api/v1/load_weights", body, 403, "not public");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"sampling_session_seq_id\":0,\"model_path\":\"%s\"}", sidb,
             spath);
    expect_key(&h, B, "POST", "/api/v1/create_sampling_session", body, 403, "another API key");
    snprintf(url, sizeof url, "/api/v1/training_runs/%s/checkpoints/weights/a1", mid);
    expect_key(&h, B, "DELETE", url, NULL, 403, "another API key");
    snprintf(url, sizeof url, "/api/v1/training_runs/%s/checkpoints/weights/a1/publish", mid);
    expect_key(&h, B, "POST", url, NULL, 403, "another API key");
    /* A publishes a1: B now sees the run (accessible), its public checkpoint only, and can load it */
    expect_key(&h, A, "POST", url, NULL, 200, NULL);
    assert_int_equal(count_key(&h, B, "/api/v1/training_runs", "training_runs"), 0);
    assert_int_equal(count_key(&h, B, "/api/v1/training_runs?access_scope=accessible", "training_runs"), 1);
    snprintf(url, sizeof url, "/api/v1/training_runs/%s/checkpoints", mid);
    assert_int_equal(count_key(&h, B, url, "checkpoints"), 1);
    assert_int_equal(count_key(&h, A, url, "checkpoints"), 2);
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"model_seq_id\":0,\"path\":\"%s\",\"optimizer\":false}", sidb,
             path);
    long st = 0;
    json_t *v = as_key(&h, B, "POST", "/api/v1/load_weights", body, &st);
    assert_int_equal(st, 200);
    json_decref(v);
    snprintf(url, sizeof url, "/api/v1/training_runs/%s/checkpoints/weights/a1", mid);
    expect_key(&h, B, "DELETE", url, NULL, 403, "another API key");
    expect_key(&h, A, "DELETE", url, NULL, 200, NULL);
    harness_stop(&h, false);
    free(sidb);
    free(path);
    free(spath);
    free(mid);
    free(sid);
}

int main(void) {
    tk_log_set_level(TK_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_resume),
        cmocka_unit_test(test_sampler_checkpoint),
        cmocka_unit_test(test_restart_persistence),
        cmocka_unit_test(test_bad_weights_input),
        cmocka_unit_test(test_ownership),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
