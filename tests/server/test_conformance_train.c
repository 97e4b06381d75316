/* Conformance of the training routes (protocol §3.3, §3.4, §3.7, §8.4) over raw HTTP with
 * hand-built JSON and protobuf bodies, against the real engine on a tiny model: create_model,
 * get_info, forward_backward (JSON; protobuf with and without zstd), forward (/forward and
 * forward_only), optim_step, results as protobuf or JSON by Accept, pipelining, chunks out of
 * order, retried submits, and the bad inputs of every training route. */
#include "test_util.h"

#include <math.h>
#include <zstd.h>

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

/* tmpl with @M replaced by the model id and @S by the seq_id. */
static void subst(char *out, size_t n, const char *tmpl, const char *mid, int64_t seq) {
    size_t at = 0;
    for (const char *p = tmpl; *p && at + 64 < n; p++) {
        if (p[0] == '@' && p[1] == 'M') at += (size_t)snprintf(out + at, n - at, "%s", mid), p++;
        else if (p[0] == '@' && p[1] == 'S') at += (size_t)snprintf(out + at, n - at, "%lld", (long long)seq), p++;
        else out[at++] = *p;
    }
    out[at] = '\0';
}

/* loss:sum must equal -sum(weights * logprobs) (all weights 1 here), from the output itself. */
static void check_ce_output(json_t *v, size_t want_n) {
    size_t n = 0;
    float *lp = json_logprobs(v, &n);
    assert_int_equal(n, want_n);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(lp[i] <= 0 && isfinite(lp[i]));
        sum -= lp[i];
    }
    double loss = json_number_value(json_object_get(json_object_get(v, "metrics"), "loss:sum"));
    assert_true(fabs(loss - sum) <= 1e-4 * fabs(sum));
    free(lp);
}

static double loss_of(json_t *v) { return json_number_value(json_object_get(json_object_get(v, "metrics"), "loss:sum")); }

static void test_create_and_info(void **state) {
    (void)state;
    char *sid = NULL;
    char *mid = new_model(&H, &sid);
    long st = 0;
    json_t *v = hjf(&H, "POST", "/api/v1/get_info", &st, "{\"model_id\":\"%s\",\"type\":\"get_info\"}", mid);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "model_id")), mid);
    assert_true(json_is_true(json_object_get(v, "is_lora")));
    assert_int_equal(json_integer_value(json_object_get(v, "lora_rank")), 4);
    json_t *md = json_object_get(v, "model_data");
    assert_string_equal(json_string_value(json_object_get(md, "arch")), "qwen3");
    assert_string_equal(json_string_value(json_object_get(md, "model_name")), "test/tiny");
    /* the tiny model has no tokenizer.json: the id is the name */
    assert_string_equal(json_string_value(json_object_get(md, "tokenizer_id")), "test/tiny");
    json_decref(v);
    /* a retried create_model (same session, same model_seq_id) gets the original request */
#define CREATE0 "{\"session_id\":\"%s\",\"model_seq_id\":0,\"base_model\":\"test/tiny\",\"type\":\"create_model\"}"
    char *r1 = submitf(&H, "/api/v1/create_model", CREATE0, sid);
    char *r2 = submitf(&H, "/api/v1/create_model", CREATE0, sid);
    assert_string_equal(r1, r2);
    free(r1);
    free(r2);
    /* unload_model: a future; the model is gone for training afterwards (410) */
    char *ru = submitf(&H, "/api/v1/unload_model", "{\"model_id\":\"%s\",\"type\":\"unload_model\"}", mid);
    v = result_json(&H, ru);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "unload_model");
    json_decref(v);
    char *b = fb_body(mid, 1, 1, 4, false);
    expect_json_error(&H, "/api/v1/forward_backward", b, 410, "unloaded");
    free(b);
    free(ru);
    free(mid);
    free(sid);
}

static void test_train_json(void **state) {
    (void)state;
    char *mid = new_model(&H, NULL);
    /* forward via the SDK <= 0.24 route and key */
    char *b = fb_body(mid, 1, 2, 6, true);
    char *rid = submit_json(&H, "/api/v1/forward", b);
    json_t *v = result_json(&H, rid);
    check_ce_output(v, 12);
    double l0 = loss_of(v);
    assert_string_equal(json_string_value(json_object_get(v, "loss_fn_output_type")), "ArrayRecord");
    json_decref(v);
    free(rid);
    free(b);
    /* optim_step after forwards only: nothing was accumulated, the gradient norm is 0 */
    rid = submitf(&H, "/api/v1/optim_step",
                  "{\"model_id\":\"%s\",\"seq_id\":2,\"type\":\"optim_step\",\"adam_params\":{\"learning_rate\":0.05,"
                  "\"beta1\":0.9,\"beta2\":0.95,\"eps\":1e-12,\"weight_decay\":0.0,\"grad_clip_norm\":0.0}}",
                  mid);
    v = result_json(&H, rid);
    assert_true(json_number_value(json_object_get(json_object_get(v, "metrics"), "grad_norm:mean")) == 0);
    json_decref(v);
    free(rid);
    /* forward_backward + optim_step, a few times: the loss goes down */
    int64_t seq = 3;
    double last = l0;
    for (int step = 0; step < 4; step++) {
        b = fb_body(mid, seq++, 2, 6, false);
        rid = submit_json(&H, "/api/v1/forward_backward", b);
        free(b);
        v = result_json(&H, rid);
        check_ce_output(v, 12);
        if (step == 0) assert_true(fabs(loss_of(v) - l0) <= 1e-4 * l0); /* same weights as the forward */
        last = loss_of(v);
        json_decref(v);
        free(rid);
        rid = submitf(&H, "/api/v1/optim_step",
                      "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":{\"learning_rate\":0.05}}", mid,
                      (long long)seq++);
        v = result_json(&H, rid);
        json_t *met = json_object_get(v, "metrics");
        assert_true(json_number_value(json_object_get(met, "grad_norm:mean")) > 0);
        /* every metric key is name:reduction with exactly one colon */
        const char *key;
        json_t *val;
        json_object_foreach(met, key, val) {
            const char *c = strchr(key, ':');
            assert_non_null(c);
            assert_null(strchr(c + 1, ':'));
        }
        json_decref(v);
        free(rid);
    }
    b = fb_body(mid, seq++, 2, 6, true);
    rid = submit_json(&H, "/api/v1/forward", b);
    v = result_json(&H, rid);
    assert_true(loss_of(v) < last && last < l0);
    json_decref(v);
    free(rid);
    free(b);
    free(mid);
}

/* The 0.25 path: protobuf request body (plain and zstd), protobuf result when Accept asks. */
static void test_train_proto(void **state) {
    (void)state;
    char *mid = new_model(&H, NULL);
    tk_buf body = {0};
    fb_proto(&body, mid, 1, 3, 5, true);
    http_res r;
    long st = post_raw(&H, "/api/v1/forward_backward", "application/x-protobuf", NULL, body.data, body.len, &r);
    assert_int_equal(st, 200);
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    char *rid = tk_strdup(json_string_value(json_object_get(v, "request_id")));
    assert_string_equal(json_string_value(json_object_get(v, "model_id")), mid);
    json_decref(v);
    http_res_free(&r);
    /* the same future, retrieved as protobuf and as JSON: the same numbers */
    assert_int_equal(retrieve(&H, rid, true, &r), 200);
    assert_string_equal(r.content_type, "application/x-protobuf");
    size_t n = 0, nd = 0;
    double loss = NAN;
    float *lp = proto_logprobs(&r.body, &n, &nd, &loss);
    assert_int_equal(n, 15);
    assert_int_equal(nd, 3);
    http_res_free(&r);
    v = result_json(&H, rid);
    size_t n2 = 0;
    float *lp2 = json_logprobs(v, &n2);
    assert_int_equal(n2, n);
    for (size_t i = 0; i < n; i++) assert_true(lp[i] == lp2[i]); /* float32 text round-trips exactly */
    assert_true(fabs(loss - loss_of(v)) <= 1e-9 * fabs(loss));
    json_decref(v);
    free(lp2);
    free(rid);

    /* zstd-compressed, forward_backward (forward_only unset): same logprobs (weights unchanged) */
    tk_buf_clear(&body);
    fb_proto(&body, mid, 2, 3, 5, false);
    size_t cap = ZSTD_compressBound(body.len);
    char *z = malloc(cap);
    size_t zn = ZSTD_compress(z, cap, body.data, body.len, 3);
    assert_false(ZSTD_isError(zn));
    st = post_raw(&H, "/api/v1/forward_backward", "application/x-protobuf", "zstd", z, zn, &r);
    assert_int_equal(st, 200);
    v = json_loadb(r.body.data, r.body.len, 0, NULL);
    rid = tk_strdup(json_string_value(json_object_get(v, "request_id")));
    json_decref(v);
    http_res_free(&r);
    assert_int_equal(retrieve(&H, rid, true, &r), 200);
    float *lp3 = proto_logprobs(&r.body, &n2, &nd, &loss);
    assert_int_equal(n2, 15);
    for (size_t i = 0; i < n; i++) assert_true(lp3[i] == lp[i]);
    http_res_free(&r);
    free(rid);
    /* that one accumulated a gradient: the optim_step sees it */
    rid = submitf(&H, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":3,\"adam_params\":{}}", mid);
    v = result_json(&H, rid);
    assert_true(json_number_value(json_object_get(json_object_get(v, "metrics"), "grad_norm:mean")) > 0);
    json_decref(v);
    free(rid);
    /* a JSON result asked for with Accept protobuf: optim_step has no protobuf form, so JSON */
    free(lp);
    free(lp3);
    free(z);
    tk_buf_free(&body);
    free(mid);
}

/* Pipelining as SDK 0.25 does it: the chunks of one forward_backward are sent concurrently with
 * the first chunk LAST, then the optim_step, all before any result is retrieved. The outcome must
 * equal sending them in order: compared against a second model with the same seed. */
static void test_pipelined_out_of_order(void **state) {
    (void)state;
    char *sid = new_session(&H);
    char *mids[2];
    for (int k = 0; k < 2; k++) {
        char *rid = submitf(&H, "/api/v1/create_model",
                            "{\"session_id\":\"%s\",\"model_seq_id\":%d,\"base_model\":\"test/tiny\","
                            "\"lora_config\":{\"rank\":4,\"seed\":9,\"train_unembed\":true,\"train_mlp\":true,"
                            "\"train_attn\":true}}",
                            sid, k);
        json_t *v = result_json(&H, rid);
        mids[k] = tk_strdup(json_string_value(json_object_get(v, "model_id")));
        json_decref(v);
        free(rid);
    }
    double losses[2][3];
    for (int k = 0; k < 2; k++) {
        for (int round = 0; round < 2; round++) {
            int64_t base = 1 + round * 4; /* chunks base..base+2, optim base+3 */
            char *rids[4];
            int order_out[3] = {1, 2, 0}, order_in[3] = {0, 1, 2};
            int *order = k == 0 ? order_out : order_in;
            for (int c = 0; c < 3; c++) {
                tk_buf b = {0};
                fb_proto(&b, mids[k], base + order[c], 1 + order[c], 4, false);
                http_res r;
                assert_int_equal(post_raw(&H, "/api/v1/forward_backward", "application/x-protobuf", NULL, b.data,
                                          b.len, &r),
                                 200);
                json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
                rids[order[c]] = tk_strdup(json_string_value(json_object_get(v, "request_id")));
                json_decref(v);
                http_res_free(&r);
                tk_buf_free(&b);
            }
            rids[3] = submitf(&H, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":"
                              "{\"learning_rate\":0.05}}", mids[k], (long long)(base + 3));
            for (int c = 0; c < 3; c++) {
                json_t *v = result_json(&H, rids[c]);
                if (round == 1) losses[k][c] = loss_of(v);
                json_decref(v);
                free(rids[c]);
            }
            json_t *v = result_json(&H, rids[3]);
            assert_true(json_number_value(json_object_get(json_object_get(v, "metrics"), "grad_norm:mean")) > 0);
            json_decref(v);
            free(rids[3]);
        }
    }
    /* after one step, the second round's losses are identical whatever the arrival order */
    for (int c = 0; c < 3; c++) assert_true(losses[0][c] == losses[1][c]);
    free(mids[0]);
    free(mids[1]);
    free(sid);
}

/* Retried submits: same (model, seq_id) and body -> the original request id, applied once; a
 * different body under a used seq_id -> 400 naming the first request. */
static void test_retries(void **state) {
    (void)state;
    char *mid = new_model(&H, NULL);
    char *b = fb_body(mid, 1, 1, 5, false);
    char *r1 = submit_json(&H, "/api/v1/forward_backward", b);
    char *r2 = submit_json(&H, "/api/v1/forward_backward", b);
    assert_string_equal(r1, r2);
    json_decref(result_json(&H, r1));
    char *r3 = submit_json(&H, "/api/v1/forward_backward", b); /* after it ran */
    assert_string_equal(r1, r3);
    char *other = fb_body(mid, 1, 2, 5, false);
    expect_json_error(&H, "/api/v1/forward_backward", other, 400, r1);
    /* applied once: one datum of 5 tokens worth of gradient. A fresh model given the same single
     * forward_backward must get the same grad norm. */
    char *ro = submitf(&H, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":2,\"adam_params\":{}}", mid);
    json_t *v = result_json(&H, ro);
    double g1 = json_number_value(json_object_get(json_object_get(v, "metrics"), "grad_norm:mean"));
    json_decref(v);
    char *mid2 = new_model(&H, NULL);
    char *b2 = fb_body(mid2, 1, 1, 5, false);
    char *r4 = submit_json(&H, "/api/v1/forward_backward", b2);
    json_decref(result_json(&H, r4));
    char *ro2 = submitf(&H, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":2,\"adam_params\":{}}", mid2);
    v = result_json(&H, ro2);
    double g2 = json_number_value(json_object_get(json_object_get(v, "metrics"), "grad_norm:mean"));
    json_decref(v);
    assert_true(g1 > 0 && g1 == g2);
    free(b);
    free(b2);
    free(other);
    free(r1);
    free(r2);
    free(r3);
    free(r4);
    free(ro);
    free(ro2);
    free(mid);
    free(mid2);
}

/* Bad input on every training route: a 400 naming the problem (or a failed future of category
 * user when only the model can tell), and the refused seq_id does not stall the queue. */
static void test_bad_training_input(void **state) {
    (void)state;
    char *sid = NULL;
    char *mid = new_model(&H, &sid);
    const char *fb = "/api/v1/forward_backward";
    char body[4096];
    /* create_model */
    expect_json_error(&H, "/api/v1/create_model", "{\"session_id\":", 400, "create_model");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"model_seq_id\":5,\"base_model\":\"nobody/none\"}", sid);
    expect_json_error(&H, "/api/v1/create_model", body, 400, "nobody/none");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"model_seq_id\":5,\"base_model\":\"test/tiny\","
             "\"lora_config\":{\"rank\":0}}", sid);
    expect_json_error(&H, "/api/v1/create_model", body, 400, "rank");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"model_seq_id\":5,\"base_model\":\"test/tiny\","
             "\"lora_config\":{\"rank\":100000}}", sid);
    expect_json_error(&H, "/api/v1/create_model", body, 400, "rank");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"model_seq_id\":5,\"base_model\":\"test/tiny\","
             "\"lora_config\":{\"rank\":4,\"train_attn\":false,\"train_mlp\":false,\"train_unembed\":false}}", sid);
    expect_json_error(&H, "/api/v1/create_model", body, 400, "nothing would be trained");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"model_seq_id\":\"5\",\"base_model\":\"test/tiny\"}", sid);
    expect_json_error(&H, "/api/v1/create_model", body, 400, "model_seq_id");
    expect_json_error(&H, "/api/v1/create_model", "{\"session_id\":\"nope\",\"model_seq_id\":1,\"base_model\":"
                      "\"test/tiny\"}", 404, "nope");
    /* get_info */
    expect_json_error(&H, "/api/v1/get_info", "{\"model_id\":\"x:train:0\"}", 404, "x:train:0");
    expect_json_error(&H, "/api/v1/get_info", "{\"model_id\":7}", 400, "model_id");
    expect_json_error(&H, "/api/v1/get_info", "[]", 400, "get_info");

    /* forward_backward, JSON: each refused body names what and where, and consumes its seq_id */
    int64_t seq = 1;
    struct { const char *fmt, *needle; } bad[] = {
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"nope\",\"data\":[]}}",
         "loss_fn: unknown value \"nope\""},
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[]}}",
         "no datums"},
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[{"
         "\"model_input\":{\"chunks\":[{\"tokens\":[1,2,3],\"type\":\"encoded_text\"}]},\"loss_fn_inputs\":{"
         "\"target_tokens\":{\"data\":[2,3],\"dtype\":\"int64\"},\"weights\":{\"data\":[1,1,1],\"dtype\":\"float32\"}}}]}}",
         "data[0]"},
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[{"
         "\"model_input\":{\"chunks\":[{\"tokens\":[1,2],\"type\":\"encoded_text\"}]},\"loss_fn_inputs\":{"
         "\"target_tokens\":{\"data\":[2,3],\"dtype\":\"int64\"}}}]}}",
         "weights"},
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[{"
         "\"model_input\":{\"chunks\":[{\"tokens\":[1,2],\"type\":\"encoded_text\"}]},\"loss_fn_inputs\":{"
         "\"target_tokens\":{\"data\":[2,3],\"dtype\":\"float32\"},\"weights\":{\"data\":[1,1],\"dtype\":\"float32\"}}}]}}",
         "target_tokens"},
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"ppo\",\"loss_fn_config\":{"
         "\"clip\":0.5},\"data\":[{\"model_input\":{\"chunks\":[{\"tokens\":[1,2],\"type\":\"encoded_text\"}]},"
         "\"loss_fn_inputs\":{\"target_tokens\":{\"data\":[2,3],\"dtype\":\"int64\"},\"logprobs\":{\"data\":[-1,-1],"
         "\"dtype\":\"float32\"},\"advantages\":{\"data\":[1,1],\"dtype\":\"float32\"}}}]}}",
         "clip"},
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[{"
         "\"model_input\":{\"chunks\":[{\"data\":\"iVBORw==\",\"format\":\"png\",\"expected_tokens\":2,\"type\":\"image\"}]},"
         "\"loss_fn_inputs\":{\"target_tokens\":{\"data\":[2,3],\"dtype\":\"int64\"},\"weights\":{\"data\":[1,1],"
         "\"dtype\":\"float32\"}}}]}}",
         "image"},
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[{"
         "\"model_input\":{\"chunks\":[{\"tokens\":[1,2],\"type\":\"encoded_text\"}]},\"loss_fn_inputs\":{"
         "\"target_tokens\":{\"data\":[2,3],\"dtype\":\"int64\",\"shape\":[3]},\"weights\":{\"data\":[1,1],"
         "\"dtype\":\"float32\"}}}]}}",
         "shape"},
        {"{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[{"
         "\"model_input\":{\"chunks\":[{\"tokens\":[1,2],\"type\":\"encoded_text\"}]},\"loss_fn_inputs\":{"
         "\"target_tokens\":{\"data\":[2,3],\"dtype\":\"int64\"},\"weights\":{\"data\":[1,1],\"dtype\":\"float32\"}}}]}",
         "forward_backward"}, /* truncated JSON */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        subst(body, sizeof body, bad[i].fmt, mid, seq++);
        expect_json_error(&H, fb, body, 400, bad[i].needle);
    }
    /* the truncated body could not name its seq_id: it timed out of nothing because the next
     * request uses it again */
    seq--;
    /* seq_id 0 and missing */
    snprintf(body, sizeof body, "{\"model_id\":\"%s\",\"seq_id\":0,\"forward_backward_input\":{\"loss_fn\":"
             "\"cross_entropy\",\"data\":[]}}", mid);
    expect_json_error(&H, fb, body, 400, "seq_id");
    /* a token outside the vocabulary (64): only the model knows, so the future fails (user) */
    subst(body, sizeof body, "{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":"
             "\"cross_entropy\",\"data\":[{\"model_input\":{\"chunks\":[{\"tokens\":[1,640],\"type\":\"encoded_text\"}]},"
             "\"loss_fn_inputs\":{\"target_tokens\":{\"data\":[2,3],\"dtype\":\"int64\"},\"weights\":{\"data\":[1,1],"
             "\"dtype\":\"float32\"}}}]}}", mid, seq++);
    char *rid = submit_json(&H, fb, body);
    expect_failed(&H, rid, "user", "640");
    free(rid);
    /* a datum longer than the context (96) fails the same way */
    char *longb = fb_body(mid, seq++, 1, 120, false);
    rid = submit_json(&H, fb, longb);
    expect_failed(&H, rid, "user", "max_position_embeddings");
    free(rid);
    free(longb);
    /* more tokens than max_request_tokens: refused before anything is allocated */
    {
        tk_server_config c;
        harness_config(&c);
        c.max_request_tokens = 10;
        harness h2 = {0};
        harness_start_engine(&h2, &c);
        char *m2 = new_model(&h2, NULL);
        char *big = fb_body(m2, 1, 3, 4, false);
        expect_json_error(&h2, fb, big, 400, "max_request_tokens");
        free(big);
        free(m2);
        harness_stop(&h2, false);
    }

    /* protobuf: malformed, truncated, wrong types, bad zstd, and protobuf where only JSON goes */
    tk_buf p = {0};
    fb_proto(&p, mid, seq, 1, 4, false);
    http_res r;
    long st = post_raw(&H, fb, "application/x-protobuf", NULL, p.data, p.len - 3, &r); /* cut short */
    expect_error(st, &r.body, 400, "forward_backward");
    http_res_free(&r);
    const char junk[] = {(char)0x0a, (char)0xff, (char)0xff, (char)0xff, (char)0xff, (char)0xff, (char)0xff};
    st = post_raw(&H, fb, "application/x-protobuf", NULL, junk, sizeof junk, &r);
    expect_error(st, &r.body, 400, "forward_backward");
    http_res_free(&r);
    st = post_raw(&H, fb, "application/x-protobuf", "zstd", p.data, p.len, &r); /* not zstd */
    expect_error(st, &r.body, 400, "zstd");
    http_res_free(&r);
    st = post_raw(&H, fb, "application/x-protobuf", "br", p.data, p.len, &r);
    expect_error(st, &r.body, 415, "br");
    http_res_free(&r);
    st = post_raw(&H, "/api/v1/forward", "application/x-protobuf", NULL, p.data, p.len, &r);
    expect_error(st, &r.body, 415, "JSON");
    http_res_free(&r);
    st = post_raw(&H, fb, "text/plain", NULL, "hi", 2, &r);
    expect_error(st, &r.body, 415, "text/plain");
    http_res_free(&r);
    /* sparse CSR tensors are refused before decoding (a tiny body must not expand into a huge
     * dense tensor): JSON and protobuf */
    subst(body, sizeof body, "{\"model_id\":\"@M\",\"seq_id\":@S,\"forward_backward_input\":{\"loss_fn\":"
          "\"cross_entropy\",\"data\":[{\"model_input\":{\"chunks\":[{\"tokens\":[1,2],\"type\":\"encoded_text\"}]},"
          "\"loss_fn_inputs\":{\"target_tokens\":{\"data\":[2,3],\"dtype\":\"int64\"},\"weights\":{\"data\":[1],"
          "\"dtype\":\"float32\",\"shape\":[100000,100000],\"sparse_crow_indices\":[0,1],\"sparse_col_indices\":[0]}}}]}}",
          mid, seq);
    expect_json_error(&H, fb, body, 400, "sparse");
    {
        tk_buf sp = {0}, datum = {0}, ent = {0}, tensor = {0}, csr = {0}, chunk = {0}, text = {0};
        int32_t tok[2] = {1, 2};
        float one = 1;
        int64_t ptr[2] = {0, 1}, colx[1] = {0}, shape[2] = {100000, 100000};
        pb_bytes(&csr, 1, &one, 4);
        pb_bytes(&csr, 2, ptr, sizeof ptr);
        pb_bytes(&csr, 3, colx, sizeof colx);
        pb_msg(&tensor, 2, &csr); /* Tensor.sparse_csr */
        pb_uint(&tensor, 3, PB_FLOAT32);
        tk_buf sh = {0};
        pb_varint(&sh, (uint64_t)shape[0]);
        pb_varint(&sh, (uint64_t)shape[1]);
        pb_bytes(&tensor, 4, sh.data, sh.len);
        pb_str(&ent, 1, "weights");
        pb_msg(&ent, 2, &tensor);
        pb_bytes(&text, 1, tok, sizeof tok);
        pb_msg(&chunk, 1, &text);
        pb_msg(&datum, 1, &chunk);
        pb_msg(&datum, 2, &ent);
        pb_str(&sp, 1, mid);
        pb_uint(&sp, 2, (uint64_t)seq);
        pb_msg(&sp, 3, &datum);
        pb_str(&sp, 4, "cross_entropy");
        st = post_raw(&H, fb, "application/x-protobuf", NULL, sp.data, sp.len, &r);
        expect_error(st, &r.body, 400, "sparse");
        http_res_free(&r);
        tk_buf_free(&sp); tk_buf_free(&datum); tk_buf_free(&ent); tk_buf_free(&tensor); tk_buf_free(&csr);
        tk_buf_free(&chunk); tk_buf_free(&text); tk_buf_free(&sh);
    }
    /* the proto body whose seq_id (field 2) was readable although the tensor was cut: the queue
     * moved past it, so the next seq_id runs */
    tk_buf_clear(&p);
    fb_proto(&p, mid, seq + 1, 1, 4, false);
    st = post_raw(&H, fb, "application/x-protobuf", NULL, p.data, p.len, &r);
    assert_int_equal(st, 200);
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    rid = tk_strdup(json_string_value(json_object_get(v, "request_id")));
    json_decref(v);
    http_res_free(&r);
    json_decref(result_json(&H, rid)); /* would hang here if seq were still awaited */
    free(rid);
    seq += 2;

    /* optim_step */
    snprintf(body, sizeof body, "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":{\"beta1\":1.5}}", mid,
             (long long)seq++);
    expect_json_error(&H, "/api/v1/optim_step", body, 400, "beta1");
    snprintf(body, sizeof body, "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":{\"learning_rate\":-1}}", mid,
             (long long)seq++);
    expect_json_error(&H, "/api/v1/optim_step", body, 400, "learning_rate");
    snprintf(body, sizeof body, "{\"model_id\":\"%s\",\"adam_params\":{}}", mid);
    expect_json_error(&H, "/api/v1/optim_step", body, 400, "seq_id");
    expect_json_error(&H, "/api/v1/optim_step", "{\"model_id\":\"no:train:1\",\"seq_id\":1,\"adam_params\":{}}", 404,
                      "no:train:1");
    snprintf(body, sizeof body, "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":{},\"extra\":1}", mid,
             (long long)seq++);
    expect_json_error(&H, "/api/v1/optim_step", body, 400, "extra");
    /* after all those refusals the queue still runs the next seq_id */
    rid = submitf(&H, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":{}}", mid,
                  (long long)seq++);
    json_decref(result_json(&H, rid));
    free(rid);
    tk_buf_free(&p);
    free(mid);
    free(sid);
}

/* The generic malformed bodies on every route that the engine serves: empty, truncated, duplicate
 * keys, not an object, invalid UTF-8, protobuf where only JSON goes. Each is a 4xx JSON answer
 * naming the route. */
static void test_malformed_engine_routes(void **state) {
    (void)state;
    const char *routes[] = {"/api/v1/create_model", "/api/v1/get_info", "/api/v1/forward_backward", "/api/v1/forward",
                            "/api/v1/optim_step", "/api/v1/save_weights", "/api/v1/save_weights_for_sampler",
                            "/api/v1/load_weights", "/api/v1/asample"};
    struct { const char *body; size_t n; } bad[] = {
        {"", 0}, {"{\"a\":", 5}, {"{\"model_id\":\"a\",\"model_id\":\"b\"}", 31}, {"[1,2]", 5},
        {"\"\xff\xfe\"", 4}, {"{\"type\":7}", 10}, {"nul\0l", 5},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const char *name = routes[i] + strlen("/api/v1/");
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            http_res r;
            long st = post_raw(&H, routes[i], "application/json", NULL, bad[k].body, bad[k].n, &r);
            expect_error(st, &r.body, 400, name);
            http_res_free(&r);
        }
        http_res r;
        long st = post_raw(&H, routes[i], "application/x-protobuf", NULL, "\x0a\x01", 2, &r);
        /* forward_backward takes protobuf (and this one is cut short); the others refuse it */
        expect_error(st, &r.body, strcmp(name, "forward_backward") ? 415 : 400, name);
        http_res_free(&r);
        st = post_raw(&H, routes[i], "text/plain", NULL, "{}", 2, &r);
        expect_error(st, &r.body, 415, "text/plain");
        http_res_free(&r);
    }
}

int main(void) {
    tk_log_set_level(TK_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_info),
        cmocka_unit_test(test_train_json),
        cmocka_unit_test(test_train_proto),
        cmocka_unit_test(test_pipelined_out_of_order),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_bad_training_input),
        cmocka_unit_test(test_malformed_engine_routes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
