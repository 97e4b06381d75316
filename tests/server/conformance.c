/* Conformance-test helpers (see conformance.h). */
#include "test_util.h"

#include <math.h>

#include "conformance.h"

static void bputs(tk_buf *b, const char *s) { assert_int_equal(tk_buf_puts(b, s), 0); }

static void bprintf(tk_buf *b, const char *fmt, ...) TK_PRINTF(2, 3);
static void bprintf(tk_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    assert_int_equal(tk_buf_vprintf(b, fmt, ap), 0);
    va_end(ap);
}

long post_raw(harness *h, const char *path, const char *content_type, const char *encoding, const void *body, size_t n,
              http_res *out) {
    char url[1024], ct[160], enc[160];
    snprintf(url, sizeof url, "%s%s", h->url, path);
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
    snprintf(enc, sizeof enc, "Content-Encoding: %s", encoding ? encoding : "");
    const char *hdr[] = {ct, encoding ? enc : NULL, NULL};
    return http_do("POST", url, hdr, body, n, out);
}

char *submit_json(harness *h, const char *path, const char *body) {
    long st = 0;
    json_t *v = hj(h, "POST", path, body, &st);
    const char *rid = json_string_value(json_object_get(v, "request_id"));
    if (st != 200 || !rid) {
        char *d = v ? json_dumps(v, 0) : NULL;
        fail_msg("POST %s -> %ld %s (body %.300s)", path, st, d ? d : "(not JSON)", body);
    }
    char *out = tk_strdup(rid);
    json_decref(v);
    return out;
}

char *submitf(harness *h, const char *path, const char *fmt, ...) {
    tk_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    assert_int_equal(tk_buf_vprintf(&b, fmt, ap), 0);
    va_end(ap);
    char *rid = submit_json(h, path, b.data);
    tk_buf_free(&b);
    return rid;
}

long retrieve(harness *h, const char *rid, bool proto, http_res *out) {
    char url[1024], body[512];
    snprintf(url, sizeof url, "%s/api/v1/retrieve_future", h->url);
    snprintf(body, sizeof body, "{\"request_id\":\"%s\",\"allow_metadata_only\":true}", rid);
    const char *hdr[] = {"Content-Type: application/json",
                         proto ? "Accept: application/x-protobuf" : "Accept: application/json", NULL};
    for (int i = 0; i < 400; i++) {
        long st = http_do("POST", url, hdr, body, strlen(body), out);
        if (st != 200 || strstr(out->content_type, "protobuf")) return st;
        json_t *v = json_loadb(out->body.data, out->body.len, 0, NULL);
        const char *t = json_string_value(json_object_get(v, "type"));
        bool again = t && !strcmp(t, "try_again");
        json_decref(v);
        if (!again) return st;
        http_res_free(out);
    }
    fail_msg("request %s never finished", rid);
    return 0;
}

json_t *result_json(harness *h, const char *rid) {
    http_res r;
    long st = retrieve(h, rid, false, &r);
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    if (st != 200 || !v || json_object_get(v, "error"))
        fail_msg("request %s: status %ld, answer %.500s", rid, st, r.body.data);
    assert_non_null(strstr(r.content_type, "application/json"));
    http_res_free(&r);
    return v;
}

json_t *run_json(harness *h, const char *path, const char *body) {
    char *rid = submit_json(h, path, body);
    json_t *v = result_json(h, rid);
    free(rid);
    return v;
}

void expect_failed(harness *h, const char *rid, const char *category, const char *needle) {
    http_res r;
    long st = retrieve(h, rid, false, &r);
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    const char *err = json_string_value(json_object_get(v, "error"));
    const char *cat = json_string_value(json_object_get(v, "category"));
    if (st != 200 || !err || !cat || strcmp(cat, category) || !strstr(err, needle))
        fail_msg("request %s: expected a failed future (%s, \"%s\"), got %ld %.500s", rid, category, needle, st,
                 r.body.data);
    json_decref(v);
    http_res_free(&r);
}

void expect_error(long status, const tk_buf *body, long want, const char *needle) {
    json_t *v = json_loadb(body->data, body->len, 0, NULL);
    const char *d = json_string_value(json_object_get(v, "detail"));
    if (status != want || !d || !strstr(d, needle))
        fail_msg("expected %ld with \"%s\", got %ld %.500s", want, needle, status, body->data ? body->data : "");
    json_decref(v);
}

void expect_json_error(harness *h, const char *path, const char *body, long want, const char *needle) {
    char url[1024];
    snprintf(url, sizeof url, "%s%s", h->url, path);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    http_res r;
    long st = http_do("POST", url, hdr, body, body ? strlen(body) : 0, &r);
    expect_error(st, &r.body, want, needle);
    http_res_free(&r);
}

char *new_model(harness *h, char **sid_out) {
    char *sid = new_session(h);
    char *rid = submitf(h, "/api/v1/create_model",
                        "{\"session_id\":\"%s\",\"model_seq_id\":0,\"base_model\":\"test/tiny\","
                        "\"lora_config\":{\"rank\":4,\"seed\":3,\"train_unembed\":true,\"train_mlp\":true,"
                        "\"train_attn\":true},\"type\":\"create_model\"}",
                        sid);
    json_t *v = result_json(h, rid);
    char *mid = tk_strdup(json_string_value(json_object_get(v, "model_id")));
    assert_non_null(mid);
    char want[200];
    snprintf(want, sizeof want, "%s:train:0", sid);
    assert_string_equal(mid, want);
    assert_string_equal(json_string_value(json_object_get(v, "type")), "create_model");
    json_decref(v);
    free(rid);
    if (sid_out) *sid_out = sid;
    else free(sid);
    return mid;
}

void datum_json(tk_buf *b, int first, int n) {
    bputs(b, "{\"model_input\":{\"chunks\":[{\"tokens\":[");
    for (int i = 0; i < n; i++) bprintf(b, "%s%d", i ? "," : "", first + i);
    bputs(b, "],\"type\":\"encoded_text\"}]},\"loss_fn_inputs\":{\"target_tokens\":{\"data\":[");
    for (int i = 0; i < n; i++) bprintf(b, "%s%d", i ? "," : "", first + i + 1);
    bprintf(b, "],\"dtype\":\"int64\",\"shape\":[%d]},\"weights\":{\"data\":[", n);
    for (int i = 0; i < n; i++) bprintf(b, "%s1.0", i ? "," : "");
    bprintf(b, "],\"dtype\":\"float32\",\"shape\":[%d]}}}", n);
}

char *fb_body(const char *model_id, int64_t seq, int nd, int n, bool forward_key) {
    tk_buf b = {0};
    bprintf(&b, "{\"model_id\":\"%s\",\"seq_id\":%lld,\"%s\":{\"loss_fn\":\"cross_entropy\",\"data\":[", model_id,
                  (long long)seq, forward_key ? "forward_input" : "forward_backward_input");
    for (int d = 0; d < nd; d++) {
        if (d) bputs(&b, ",");
        datum_json(&b, 1 + d, n);
    }
    bputs(&b, "]}}");
    return tk_buf_detach(&b, NULL);
}

void fb_proto(tk_buf *b, const char *model_id, int64_t seq, int nd, int n, bool forward_only) {
    pb_str(b, 1, model_id);
    pb_uint(b, 2, (uint64_t)seq);
    for (int d = 0; d < nd; d++) {
        int first = 1 + d;
        int32_t tok[256];
        int64_t tgt[256];
        float w[256];
        assert_true(n <= 256);
        for (int i = 0; i < n; i++) {
            tok[i] = first + i;
            tgt[i] = first + i + 1;
            w[i] = 1.0f;
        }
        tk_buf datum = {0}, chunk = {0}, text = {0};
        pb_bytes(&text, 1, tok, (size_t)n * 4);    /* EncodedTextChunk.tokens: int32 LE */
        pb_msg(&chunk, 1, &text);                   /* Chunk.encoded_text */
        pb_msg(&datum, 1, &chunk);                  /* Datum.model_input */
        pb_tensor_entry(&datum, 2, "target_tokens", PB_INT64, tgt, (size_t)n * 8, (size_t)n);
        pb_tensor_entry(&datum, 2, "weights", PB_FLOAT32, w, (size_t)n * 4, (size_t)n);
        pb_msg(b, 3, &datum);
        tk_buf_free(&datum);
        tk_buf_free(&chunk);
        tk_buf_free(&text);
    }
    pb_str(b, 4, "cross_entropy");
    if (forward_only) pb_uint(b, 6, 1);
}

float *json_logprobs(json_t *out, size_t *n) {
    json_t *outs = json_object_get(out, "loss_fn_outputs");
    assert_true(json_is_array(outs));
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(outs); i++)
        total += json_array_size(json_object_get(json_object_get(json_array_get(outs, i), "logprobs"), "data"));
    float *lp = calloc(total ? total : 1, sizeof *lp);
    size_t at = 0;
    for (size_t i = 0; i < json_array_size(outs); i++) {
        json_t *t = json_object_get(json_array_get(outs, i), "logprobs");
        assert_string_equal(json_string_value(json_object_get(t, "dtype")), "float32");
        json_t *d = json_object_get(t, "data");
        for (size_t k = 0; k < json_array_size(d); k++) lp[at++] = (float)json_number_value(json_array_get(d, k));
    }
    *n = total;
    return lp;
}

float *proto_logprobs(const tk_buf *body, size_t *n, size_t *num_datums, double *loss_sum) {
    pb_reader r = {(const unsigned char *)body->data, (const unsigned char *)body->data + body->len};
    pb_field f;
    float *lp = NULL;
    size_t total = 0, datums = 0;
    bool have_loss = false;
    while (pb_next(&r, &f)) {
        if (f.num == 2 && f.wt == 2) { /* ArrayRecord */
            pb_reader rr = pb_sub(&f);
            pb_field g;
            while (pb_next(&rr, &g)) {
                if (g.num == 3 && g.wt == 0) datums += g.v;
                if (g.num != 2 || g.wt != 2) continue;
                pb_reader er = pb_sub(&g); /* map entry: key = 1, BatchedTensor = 2 */
                pb_field k;
                char key[64] = "";
                pb_field bt = {0};
                while (pb_next(&er, &k)) {
                    if (k.num == 1 && k.len < sizeof key) memcpy(key, k.data, k.len), key[k.len] = 0;
                    if (k.num == 2) bt = k;
                }
                if (strcmp(key, "logprobs")) continue;
                pb_reader tr = pb_sub(&bt);
                pb_field t;
                const unsigned char *data = NULL;
                size_t len = 0;
                uint64_t dtype = 0;
                while (pb_next(&tr, &t)) {
                    if (t.num == 1) data = t.data, len = t.len;
                    if (t.num == 3) dtype = t.v;
                }
                assert_int_equal(dtype, PB_FLOAT32);
                assert_int_equal(len % 4, 0);
                lp = realloc(lp, (total + len / 4 + 1) * sizeof *lp);
                if (len) memcpy(lp + total, data, len);
                total += len / 4;
            }
        } else if (f.num == 3 && f.wt == 2) { /* metrics entry: key = 1, double = 2 */
            pb_reader er = pb_sub(&f);
            pb_field k;
            char key[64] = "";
            double v = NAN;
            while (pb_next(&er, &k)) {
                if (k.num == 1 && k.len < sizeof key) memcpy(key, k.data, k.len), key[k.len] = 0;
                if (k.num == 2 && k.wt == 1) memcpy(&v, &k.v, 8);
            }
            if (!strcmp(key, "loss:sum")) *loss_sum = v, have_loss = true;
        }
    }
    assert_true(r.p == r.end); /* the whole body parsed */
    assert_true(have_loss);
    *n = total;
    *num_datums = datums;
    return lp;
}
