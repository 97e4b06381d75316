/* Conformance of sampling (protocol §3.2 create_sampling_session, §3.6 asample, §6.6, §5
 * SampleResponse) over raw HTTP against the real engine on a tiny model: results as JSON and as
 * hand-decoded protobuf, greedy tokens and their logprobs checked against /forward on the same
 * model, prompt logprobs and top-k prompt logprobs, stop tokens, seeds, num_samples, retried
 * submits, concurrent requests sharing one decode loop, the unnamed save_weights_for_sampler
 * sampling session, and the bad inputs of asample and create_sampling_session. */
#include "test_util.h"

#include <math.h>

#include "conformance.h"
#include "server/engine_glue.h"
#include "tinkerc/tokenizer.h"

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

static char *sampling_session(harness *h, const char *sid, int seq, const char *what) {
    long st = 0;
    json_t *v = hjf(h, "POST", "/api/v1/create_sampling_session", &st,
                    "{\"session_id\":\"%s\",\"sampling_session_seq_id\":%d,%s,\"type\":\"create_sampling_session\"}", sid,
                    seq, what);
    const char *id = json_string_value(json_object_get(v, "sampling_session_id"));
    if (st != 200 || !id) fail_msg("create_sampling_session: %ld", st);
    char *out = tk_strdup(id);
    json_decref(v);
    return out;
}

/* asample JSON body: prompt tokens, then free-form extra fields (sampling_params etc.). */
static char *sample_body(const char *ss, int64_t seq, const int *prompt, int n, const char *extra) {
    tk_buf b = {0};
    assert_int_equal(tk_buf_printf(&b, "{\"sampling_session_id\":\"%s\",\"seq_id\":%lld,\"prompt\":{\"chunks\":[{"
                                   "\"tokens\":[", ss, (long long)seq), 0);
    for (int i = 0; i < n; i++) assert_int_equal(tk_buf_printf(&b, "%s%d", i ? "," : "", prompt[i]), 0);
    assert_int_equal(tk_buf_printf(&b, "],\"type\":\"encoded_text\"}]},%s,\"type\":\"sample\"}", extra), 0);
    return tk_buf_detach(&b, NULL);
}

typedef struct seq_out {
    int n;
    int tokens[64];
    float logprobs[64];
    char stop[8];
} seq_out;

/* The sequences of a JSON SampleResponse. */
static int json_seqs(json_t *v, seq_out *out, int max) {
    assert_string_equal(json_string_value(json_object_get(v, "type")), "sample");
    json_t *seqs = json_object_get(v, "sequences");
    int n = (int)json_array_size(seqs);
    assert_true(n <= max);
    for (int i = 0; i < n; i++) {
        json_t *q = json_array_get(seqs, i);
        json_t *t = json_object_get(q, "tokens"), *lp = json_object_get(q, "logprobs");
        out[i].n = (int)json_array_size(t);
        assert_int_equal(json_array_size(lp), out[i].n);
        for (int k = 0; k < out[i].n; k++) {
            out[i].tokens[k] = (int)json_integer_value(json_array_get(t, k));
            out[i].logprobs[k] = (float)json_number_value(json_array_get(lp, k));
        }
        snprintf(out[i].stop, sizeof out[i].stop, "%s", json_string_value(json_object_get(q, "stop_reason")));
    }
    return n;
}

/* The same from a protobuf SampleResponse, decoded by hand from the §5 schema. */
static int proto_seqs(const tk_buf *body, seq_out *out, int max) {
    pb_reader r = {(const unsigned char *)body->data, (const unsigned char *)body->data + body->len};
    pb_field f;
    int n = 0;
    while (pb_next(&r, &f)) {
        if (f.num != 1 || f.wt != 2) continue;
        assert_true(n < max);
        seq_out *q = &out[n++];
        memset(q, 0, sizeof *q);
        snprintf(q->stop, sizeof q->stop, "stop"); /* proto3 default 0 = STOP_REASON_STOP */
        pb_reader sr = pb_sub(&f);
        pb_field g;
        while (pb_next(&sr, &g)) {
            if (g.num == 1 && g.v == 1) snprintf(q->stop, sizeof q->stop, "length");
            if (g.num == 2) {
                q->n = (int)(g.len / 4);
                memcpy(q->tokens, g.data, g.len); /* int32 LE */
            }
            if (g.num == 3) memcpy(q->logprobs, g.data, g.len); /* float32 LE */
        }
    }
    assert_true(r.p == r.end);
    return n;
}

static json_t *sample(harness *h, const char *ss, int64_t seq, const int *prompt, int n, const char *extra) {
    char *b = sample_body(ss, seq, prompt, n, extra);
    char *rid = submit_json(h, "/api/v1/asample", b);
    json_t *v = result_json(h, rid);
    free(rid);
    free(b);
    return v;
}

/* /forward logprobs of tokens[1..n) given tokens[0..n-1) on model mid (seq_id seq). */
static float *forward_logprobs(harness *h, const char *mid, int64_t seq, const int *tokens, int n) {
    tk_buf b = {0};
    assert_int_equal(tk_buf_printf(&b, "{\"model_id\":\"%s\",\"seq_id\":%lld,\"forward_input\":{\"loss_fn\":"
                                   "\"cross_entropy\",\"data\":[{\"model_input\":{\"chunks\":[{\"tokens\":[", mid,
                                   (long long)seq), 0);
    for (int i = 0; i < n - 1; i++) assert_int_equal(tk_buf_printf(&b, "%s%d", i ? "," : "", tokens[i]), 0);
    assert_int_equal(tk_buf_puts(&b, "],\"type\":\"encoded_text\"}]},\"loss_fn_inputs\":{\"target_tokens\":{\"data\":["), 0);
    for (int i = 1; i < n; i++) assert_int_equal(tk_buf_printf(&b, "%s%d", i > 1 ? "," : "", tokens[i]), 0);
    assert_int_equal(tk_buf_puts(&b, "],\"dtype\":\"int64\"},\"weights\":{\"data\":["), 0);
    for (int i = 1; i < n; i++) assert_int_equal(tk_buf_printf(&b, "%s1", i > 1 ? "," : ""), 0);
    assert_int_equal(tk_buf_puts(&b, "],\"dtype\":\"float32\"}}}]}}"), 0);
    char *rid = submit_json(h, "/api/v1/forward", b.data);
    json_t *v = result_json(h, rid);
    size_t m = 0;
    float *lp = json_logprobs(v, &m);
    assert_int_equal(m, (size_t)(n - 1));
    json_decref(v);
    free(rid);
    tk_buf_free(&b);
    return lp;
}

static const int PROMPT[] = {5, 9, 2, 17, 33, 8};
#define NP ((int)(sizeof PROMPT / sizeof PROMPT[0]))

/* Greedy tokens from the base model: JSON and protobuf answers agree, and every generated
 * token's logprob is what /forward gives for it on a fresh adapter (which is the base model). */
static void test_greedy_matches_forward(void **state) {
    (void)state;
    char *sid = NULL;
    char *mid = new_model(&H, &sid);
    char *ss = sampling_session(&H, sid, 0, "\"base_model\":\"test/tiny\"");
    char *b = sample_body(ss, 0, PROMPT, NP, "\"num_samples\":2,\"sampling_params\":{\"max_tokens\":8,"
                          "\"temperature\":0.0,\"top_k\":-1,\"top_p\":1.0}");
    char *rid = submit_json(&H, "/api/v1/asample", b);
    http_res r;
    assert_int_equal(retrieve(&H, rid, true, &r), 200);
    assert_string_equal(r.content_type, "application/x-protobuf");
    seq_out pq[4], jq[4];
    int np = proto_seqs(&r.body, pq, 4);
    http_res_free(&r);
    json_t *v = result_json(&H, rid);
    int nj = json_seqs(v, jq, 4);
    json_decref(v);
    assert_int_equal(np, 2);
    assert_int_equal(nj, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pq[i].n, 8);
        assert_string_equal(pq[i].stop, "length");
        assert_string_equal(jq[i].stop, "length");
        assert_int_equal(jq[i].n, pq[i].n);
        for (int k = 0; k < pq[i].n; k++) {
            assert_int_equal(jq[i].tokens[k], pq[i].tokens[k]);
            assert_true(jq[i].logprobs[k] == pq[i].logprobs[k]);
            assert_int_equal(pq[i].tokens[k], pq[0].tokens[k]); /* greedy: both samples agree */
        }
    }
    /* /forward over prompt + generated: the same logprobs for the generated tokens */
    int all[NP + 8];
    memcpy(all, PROMPT, sizeof PROMPT);
    for (int k = 0; k < 8; k++) all[NP + k] = pq[0].tokens[k];
    float *lp = forward_logprobs(&H, mid, 1, all, NP + 8);
    for (int k = 0; k < 8; k++) {
        float want = lp[NP - 1 + k];
        if (fabsf(want - pq[0].logprobs[k]) > 1e-4f)
            fail_msg("token %d: sampled logprob %g, forward %g", k, pq[0].logprobs[k], want);
        /* greedy means the most likely token: its probability is at least 1/vocab */
        assert_true(pq[0].logprobs[k] >= -logf(64.0f) - 1e-4f);
    }
    free(lp);
    free(rid);
    free(b);
    free(ss);
    free(mid);
    free(sid);
}

/* compute_logprobs: max_tokens 1 with prompt_logprobs; top-k prompt logprobs. */
static void test_prompt_logprobs(void **state) {
    (void)state;
    char *sid = NULL;
    char *mid = new_model(&H, &sid);
    char *ss = sampling_session(&H, sid, 0, "\"base_model\":\"test/tiny\"");
    json_t *v = sample(&H, ss, 0, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":1,\"seed\":1},"
                       "\"prompt_logprobs\":true,\"topk_prompt_logprobs\":3");
    json_t *pl = json_object_get(v, "prompt_logprobs");
    json_t *tk = json_object_get(v, "topk_prompt_logprobs");
    assert_int_equal(json_array_size(pl), NP);
    assert_int_equal(json_array_size(tk), NP);
    assert_true(json_is_null(json_array_get(pl, 0)));
    assert_true(json_is_null(json_array_get(tk, 0)));
    float *lp = forward_logprobs(&H, mid, 1, PROMPT, NP);
    for (int i = 1; i < NP; i++) {
        double got = json_number_value(json_array_get(pl, (size_t)i));
        assert_true(fabs(got - lp[i - 1]) < 1e-4);
        json_t *row = json_array_get(tk, (size_t)i);
        assert_int_equal(json_array_size(row), 3);
        double prev = 0;
        bool has_actual = false;
        for (size_t k = 0; k < 3; k++) {
            json_t *cell = json_array_get(row, k);
            double l = json_number_value(json_array_get(cell, 1));
            if (k) assert_true(l <= prev);
            prev = l;
            if (json_integer_value(json_array_get(cell, 0)) == PROMPT[i]) {
                has_actual = true;
                assert_true(fabs(l - got) < 1e-4);
            }
        }
        /* the best of the top-k is at least as likely as the actual token */
        assert_true(json_number_value(json_array_get(json_array_get(row, 0), 1)) >= got - 1e-6);
        (void)has_actual;
    }
    free(lp);
    json_decref(v);
    free(ss);
    free(mid);
    free(sid);
}

/* Stop tokens end a sequence with the stop token included; seeds make sampling repeatable; a
 * retried submit gets the same request id. */
static void test_stop_seed_retry(void **state) {
    (void)state;
    char *sid = new_session(&H);
    char *ss = sampling_session(&H, sid, 0, "\"base_model\":\"test/tiny\"");
    json_t *v = sample(&H, ss, 0, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":6,\"temperature\":0}");
    seq_out g[1];
    assert_int_equal(json_seqs(v, g, 1), 1);
    json_decref(v);
    char extra[200];
    snprintf(extra, sizeof extra, "\"sampling_params\":{\"max_tokens\":6,\"temperature\":0,\"stop\":[%d]}",
             g[0].tokens[2]);
    v = sample(&H, ss, 1, PROMPT, NP, extra);
    seq_out s1[1];
    json_seqs(v, s1, 1);
    json_decref(v);
    int first = 0;
    while (g[0].tokens[first] != g[0].tokens[2]) first++;
    assert_int_equal(s1[0].n, first + 1);
    assert_int_equal(s1[0].tokens[first], g[0].tokens[2]);
    assert_string_equal(s1[0].stop, "stop");

    const char *seeded = "\"num_samples\":3,\"sampling_params\":{\"max_tokens\":10,\"temperature\":1.0,\"seed\":42}";
    seq_out a[3], b[3];
    v = sample(&H, ss, 2, PROMPT, NP, seeded);
    assert_int_equal(json_seqs(v, a, 3), 3);
    json_decref(v);
    v = sample(&H, ss, 3, PROMPT, NP, seeded);
    assert_int_equal(json_seqs(v, b, 3), 3);
    json_decref(v);
    bool samples_differ = false;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a[i].n, b[i].n);
        for (int k = 0; k < a[i].n; k++) {
            assert_int_equal(a[i].tokens[k], b[i].tokens[k]);
            if (i && a[i].tokens[k] != a[0].tokens[k]) samples_differ = true;
        }
    }
    assert_true(samples_differ); /* each sample has its own generator */

    char *body = sample_body(ss, 7, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":3}");
    char *r1 = submit_json(&H, "/api/v1/asample", body);
    char *r2 = submit_json(&H, "/api/v1/asample", body);
    assert_string_equal(r1, r2);
    json_decref(result_json(&H, r1));
    free(r1);
    free(r2);
    free(body);
    free(ss);
    free(sid);
}

/* Concurrent clients on one base model share decode steps, and get what they would alone. */
typedef struct conc {
    harness *h;
    const char *ss;
    int idx;
    seq_out out;
} conc;

static void *conc_client(void *arg) {
    conc *c = arg;
    char extra[200];
    snprintf(extra, sizeof extra, "\"sampling_params\":{\"max_tokens\":24,\"seed\":%d}", 100 + c->idx);
    json_t *v = sample(c->h, c->ss, 1000 + c->idx, PROMPT, NP, extra);
    json_seqs(v, &c->out, 1);
    json_decref(v);
    return NULL;
}

static void test_concurrent_batching(void **state) {
    (void)state;
    enum { N = 8 };
    char *sid = new_session(&H);
    char *ss[N];
    for (int i = 0; i < N; i++) ss[i] = sampling_session(&H, sid, i, "\"base_model\":\"test/tiny\"");
    tk_server_engine_stats before;
    tk_server_engine_stats_get(H.s, &before);
    conc c[N];
    tk_thread t[N];
    tk_err e = {0};
    for (int i = 0; i < N; i++) {
        c[i] = (conc){&H, ss[i], i, {0}};
        assert_ok(tk_thread_start(&t[i], conc_client, &c[i], &e), &e);
    }
    for (int i = 0; i < N; i++) tk_thread_join(&t[i]);
    tk_server_engine_stats after;
    tk_server_engine_stats_get(H.s, &after);
    assert_true(after.max_step_requests >= 2); /* requests shared a decode step */
    assert_true(after.decode_steps - before.decode_steps < (uint64_t)N * 24);
    /* each equals the same request run alone */
    for (int i = 0; i < N; i++) {
        char extra[200];
        snprintf(extra, sizeof extra, "\"sampling_params\":{\"max_tokens\":24,\"seed\":%d}", 100 + i);
        json_t *v = sample(&H, ss[i], 2000 + i, PROMPT, NP, extra);
        seq_out alone;
        json_seqs(v, &alone, 1);
        json_decref(v);
        assert_int_equal(alone.n, c[i].out.n);
        for (int k = 0; k < alone.n; k++) {
            assert_int_equal(alone.tokens[k], c[i].out.tokens[k]);
            assert_true(fabsf(alone.logprobs[k] - c[i].out.logprobs[k]) < 1e-4f);
        }
        free(ss[i]);
    }
    free(sid);
}

/* save_weights_for_sampler without a name: a sampling session over the trained weights, whose
 * greedy logprobs equal the trained model's /forward; later training does not change it. */
static void test_unnamed_sampler(void **state) {
    (void)state;
    char *sid = NULL;
    char *mid = new_model(&H, &sid);
    int64_t seq = 1;
    for (int step = 0; step < 3; step++) {
        char *b = fb_body(mid, seq++, 2, 6, false);
        json_decref(run_json(&H, "/api/v1/forward_backward", b));
        free(b);
        char *r = submitf(&H, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":"
                          "{\"learning_rate\":0.1}}", mid, (long long)seq++);
        json_decref(result_json(&H, r));
        free(r);
    }
    char *r = submitf(&H, "/api/v1/save_weights_for_sampler",
                      "{\"model_id\":\"%s\",\"seq_id\":%lld,\"sampling_session_seq_id\":0,"
                      "\"type\":\"save_weights_for_sampler\"}", mid, (long long)seq++);
    json_t *v = result_json(&H, r);
    char want[200];
    snprintf(want, sizeof want, "%s:sample:0", sid);
    assert_string_equal(json_string_value(json_object_get(v, "sampling_session_id")), want);
    assert_true(json_is_null(json_object_get(v, "path")));
    json_decref(v);
    free(r);
    v = sample(&H, want, 0, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":6,\"temperature\":0}");
    seq_out q[1];
    json_seqs(v, q, 1);
    json_decref(v);
    int all[NP + 6];
    memcpy(all, PROMPT, sizeof PROMPT);
    for (int k = 0; k < q[0].n; k++) all[NP + k] = q[0].tokens[k];
    float *lp = forward_logprobs(&H, mid, seq++, all, NP + q[0].n);
    for (int k = 0; k < q[0].n; k++) assert_true(fabsf(lp[NP - 1 + k] - q[0].logprobs[k]) < 1e-4f);
    free(lp);
    /* train on: the sampler keeps its copy */
    char *b = fb_body(mid, seq++, 2, 6, false);
    json_decref(run_json(&H, "/api/v1/forward_backward", b));
    free(b);
    r = submitf(&H, "/api/v1/optim_step", "{\"model_id\":\"%s\",\"seq_id\":%lld,\"adam_params\":{\"learning_rate\":0.5}}",
                mid, (long long)seq++);
    json_decref(result_json(&H, r));
    free(r);
    v = sample(&H, want, 1, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":6,\"temperature\":0}");
    seq_out q2[1];
    json_seqs(v, q2, 1);
    json_decref(v);
    for (int k = 0; k < q[0].n; k++) assert_true(q2[0].logprobs[k] == q[0].logprobs[k]);
    /* GET samplers/{id} */
    long st = 0;
    char path[300];
    snprintf(path, sizeof path, "/api/v1/samplers/%s", want);
    v = hj(&H, "GET", path, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(v, "base_model")), "test/tiny");
    json_decref(v);
    /* the same sampling_session_seq_id again: refused */
    r = submitf(&H, "/api/v1/save_weights_for_sampler",
                "{\"model_id\":\"%s\",\"seq_id\":%lld,\"sampling_session_seq_id\":0}", mid, (long long)seq++);
    expect_failed(&H, r, "user", "already used");
    free(r);
    free(mid);
    free(sid);
}

/* Each training model keeps its newest max_unnamed_samplers in-memory sampling sessions; an older
 * one answers 410 saying why. */
static void test_unnamed_sampler_cap(void **state) {
    (void)state;
    tk_server_config c;
    harness_config(&c);
    c.max_unnamed_samplers = 2;
    c.future_ttl_s = 1.5; /* a retired session is forgotten after the result TTL */
    harness h = {0};
    harness_start_engine(&h, &c);
    char *mid = new_model(&h, NULL);
    char *ss[3];
    for (int i = 0; i < 3; i++) {
        char *r = submitf(&h, "/api/v1/save_weights_for_sampler", "{\"model_id\":\"%s\",\"seq_id\":%d,"
                          "\"sampling_session_seq_id\":%d}", mid, i + 1, i);
        json_t *v = result_json(&h, r);
        ss[i] = tk_strdup(json_string_value(json_object_get(v, "sampling_session_id")));
        json_decref(v);
        free(r);
    }
    char *b = sample_body(ss[0], 0, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":2}");
    expect_json_error(&h, "/api/v1/asample", b, 410, "newest 2");
    tk_sleep_ms(2500);
    expect_json_error(&h, "/api/v1/asample", b, 404, "not found");
    free(b);
    for (int i = 1; i < 3; i++) {
        b = sample_body(ss[i], 0, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":2}");
        json_decref(run_json(&h, "/api/v1/asample", b));
        free(b);
    }
    for (int i = 0; i < 3; i++) free(ss[i]);
    free(mid);
    harness_stop(&h, false);
}

static void test_bad_sample_input(void **state) {
    (void)state;
    char *sid = new_session(&H);
    char *ss = sampling_session(&H, sid, 0, "\"base_model\":\"test/tiny\"");
    struct { const char *extra, *needle; } bad[] = {
        {"\"sampling_params\":{}", "max_tokens"},
        {"\"sampling_params\":{\"max_tokens\":0}", "max_tokens"},
        {"\"sampling_params\":{\"max_tokens\":4,\"top_p\":1.5}", "top_p"},
        {"\"sampling_params\":{\"max_tokens\":4,\"temperature\":-1}", "temperature"},
        {"\"sampling_params\":{\"max_tokens\":4,\"top_k\":-2}", "top_k"},
        {"\"num_samples\":0,\"sampling_params\":{\"max_tokens\":4}", "num_samples"},
        {"\"num_samples\":5000,\"sampling_params\":{\"max_tokens\":4}", "num_samples"},
        {"\"topk_prompt_logprobs\":50,\"sampling_params\":{\"max_tokens\":4}", "topk_prompt_logprobs"},
        {"\"sampling_params\":{\"max_tokens\":4,\"stop\":[\"\"]}", "empty stop string"},
        {"\"num_samples\":1000,\"sampling_params\":{\"max_tokens\":1000}", "max_request_tokens"},
        {"\"sampling_params\":{\"max_tokens\":4},\"surprise\":1", "surprise"},
        {"\"sampling_params\":{\"max_tokens\":\"4\"}", "max_tokens"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *b = sample_body(ss, (int64_t)i, PROMPT, NP, bad[i].extra);
        expect_json_error(&H, "/api/v1/asample", b, 400, bad[i].needle);
        free(b);
    }
    char *b = sample_body("nope:sample:0", 0, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":4}");
    expect_json_error(&H, "/api/v1/asample", b, 404, "nope:sample:0");
    free(b);
    b = sample_body(ss, 100, PROMPT, 0, "\"sampling_params\":{\"max_tokens\":4}");
    expect_json_error(&H, "/api/v1/asample", b, 400, "prompt");
    free(b);
    expect_json_error(&H, "/api/v1/asample", "{\"sampling_session_id\":", 400, "asample");
    expect_json_error(&H, "/api/v1/asample", "{\"base_model\":\"test/tiny\",\"prompt\":{\"chunks\":[]},\"sampling_params\":"
                      "{\"max_tokens\":1}}", 400, "create_sampling_session");
    /* a prompt token outside the vocabulary, or a prompt longer than the context: only the model
     * knows, so the future fails with a user error */
    int bad_prompt[] = {1, 2, 640};
    b = sample_body(ss, 101, bad_prompt, 3, "\"sampling_params\":{\"max_tokens\":4}");
    char *rid = submit_json(&H, "/api/v1/asample", b);
    expect_failed(&H, rid, "user", "640");
    free(rid);
    free(b);
    int longp[100];
    for (int i = 0; i < 100; i++) longp[i] = 1 + i % 60;
    b = sample_body(ss, 102, longp, 100, "\"sampling_params\":{\"max_tokens\":4}");
    rid = submit_json(&H, "/api/v1/asample", b);
    expect_failed(&H, rid, "user", "prompt");
    free(rid);
    free(b);
    /* stop strings on a model without tokenizer.json: the future fails, saying so */
    b = sample_body(ss, 103, PROMPT, NP, "\"sampling_params\":{\"max_tokens\":4,\"stop\":[\"\\n\",\"x\"]}");
    rid = submit_json(&H, "/api/v1/asample", b);
    expect_failed(&H, rid, "user", "tokenizer.json");
    free(rid);
    free(b);
    /* create_sampling_session */
    char body[600];
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"sampling_session_seq_id\":5}", sid);
    expect_json_error(&H, "/api/v1/create_sampling_session", body, 400, "base_model or model_path");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"sampling_session_seq_id\":5,\"base_model\":\"no/such\"}", sid);
    expect_json_error(&H, "/api/v1/create_sampling_session", body, 400, "no/such");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"sampling_session_seq_id\":5,\"model_path\":"
             "\"tinker://x:train:0/sampler_weights/none\"}", sid);
    expect_json_error(&H, "/api/v1/create_sampling_session", body, 404, "not found");
    snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"sampling_session_seq_id\":5,\"model_path\":\"tinker://x/y\"}",
             sid);
    expect_json_error(&H, "/api/v1/create_sampling_session", body, 400, "tinker://");
    free(ss);
    free(sid);
}

/* Stop strings, matched on the bytes of the generated tokens through the base model's
 * tokenizer.json: a tiny random model with the real Qwen3 tokenizer. The sequence ends with the
 * token that completes the first occurrence of the string, and get_info names the model directory
 * as tokenizer_id. */
static void test_stop_strings(void **state) {
    (void)state;
    const char *tokdir = ".cache/tokenizers/qwen3";
    if (!tk_path_exists(".cache/tokenizers/qwen3/tokenizer.json")) {
        fprintf(stderr, "skipped: %s/tokenizer.json is missing (scripts/install-deps.sh fetches it)\n", tokdir);
        skip();
    }
    char *dir = tk_test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/tok", dir);
    tk_engine_init_options o;
    memset(&o, 0, sizeof o);
    tk_engine_config_default(&o.config, TK_ENGINE_ARCH_QWEN3);
    o.config.hidden_size = 16;
    o.config.intermediate_size = 24;
    o.config.num_layers = 1;
    o.config.num_heads = 2;
    o.config.num_kv_heads = 1;
    o.config.head_dim = 8;
    o.config.max_position_embeddings = 64;
    o.seed = 5;
    o.dtype = TK_ENGINE_F32;
    o.tokenizer = tokdir;
    o.out_dir = path;
    tk_err e = {0};
    assert_ok(tk_engine_model_init(&o, &e), &e);
    tk_server_config c;
    harness_config(&c);
    tk_server_model_spec ms[] = {{"test/tok", path, 0}};
    c.models = ms;
    c.n_models = 1;
    harness h = {0};
    harness_start_engine(&h, &c);
    char *sid = new_session(&h);
    char *ss = sampling_session(&h, sid, 0, "\"base_model\":\"test/tok\"");
    int prompt[] = {785, 6722, 315};
    json_t *v = sample(&h, ss, 0, prompt, 3, "\"sampling_params\":{\"max_tokens\":24,\"seed\":7}");
    seq_out g[1];
    json_seqs(v, g, 1);
    json_decref(v);
    tk_tokenizer *tok = NULL;
    assert_ok(tk_tokenizer_load(path, &tok, &e), &e);
    /* a stop string: the text of a generated token made only of letters and digits */
    char stop[64] = "";
    for (int k = 1; k < g[0].n && !stop[0]; k++) {
        size_t len = 0;
        const char *bytes = tk_tokenizer_id_to_bytes(tok, g[0].tokens[k], &len);
        bool ok = bytes && len >= 2 && len < sizeof stop;
        for (size_t i = 0; ok && i < len; i++) ok = (bytes[i] >= 'a' && bytes[i] <= 'z') || (bytes[i] >= 'A' && bytes[i] <= 'Z');
        if (ok) memcpy(stop, bytes, len), stop[len] = 0;
    }
    if (!stop[0]) {
        fprintf(stderr, "skipped: no alphabetic token among %d greedy tokens\n", g[0].n);
    } else {
        /* where the greedy text first contains it */
        tk_buf text = {0};
        int want = -1;
        for (int k = 0; k < g[0].n && want < 0; k++) {
            size_t len = 0;
            const char *bytes = tk_tokenizer_id_to_bytes(tok, g[0].tokens[k], &len);
            assert_int_equal(tk_buf_append(&text, bytes, len), 0);
            if (memmem(text.data, text.len, stop, strlen(stop))) want = k + 1;
        }
        tk_buf_free(&text);
        char extra[200];
        snprintf(extra, sizeof extra, "\"sampling_params\":{\"max_tokens\":24,\"seed\":7,\"stop\":[\"%s\"]}",
                 stop);
        v = sample(&h, ss, 1, prompt, 3, extra);
        seq_out q[1];
        json_seqs(v, q, 1);
        json_decref(v);
        assert_int_equal(q[0].n, want);
        assert_string_equal(q[0].stop, "stop");
        for (int k = 0; k < want; k++) assert_int_equal(q[0].tokens[k], g[0].tokens[k]);
        /* the single-string form of "stop" */
        snprintf(extra, sizeof extra, "\"sampling_params\":{\"max_tokens\":24,\"seed\":7,\"stop\":\"%s\"}", stop);
        v = sample(&h, ss, 2, prompt, 3, extra);
        json_seqs(v, q, 1);
        json_decref(v);
        assert_int_equal(q[0].n, want);
    }
    tk_tokenizer_free(tok);
    /* get_info: the tokenizer is in the model directory */
    char *rid = submitf(&h, "/api/v1/create_model", "{\"session_id\":\"%s\",\"model_seq_id\":0,\"base_model\":"
                        "\"test/tok\",\"lora_config\":{\"rank\":2}}", sid);
    v = result_json(&h, rid);
    free(rid);
    long st = 0;
    json_t *info = hjf(&h, "POST", "/api/v1/get_info", &st, "{\"model_id\":\"%s\"}",
                       json_string_value(json_object_get(v, "model_id")));
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(info, "model_data"), "tokenizer_id")), path);
    json_decref(info);
    json_decref(v);
    harness_stop(&h, false);
    free(ss);
    free(sid);
    tk_remove_tree(dir, &e);
    free(dir);
}

int main(void) {
    tk_log_set_level(TK_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_matches_forward),
        cmocka_unit_test(test_prompt_logprobs),
        cmocka_unit_test(test_stop_seed_retry),
        cmocka_unit_test(test_concurrent_batching),
        cmocka_unit_test(test_unnamed_sampler),
        cmocka_unit_test(test_unnamed_sampler_cap),
        cmocka_unit_test(test_bad_sample_input),
        cmocka_unit_test(test_stop_strings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
