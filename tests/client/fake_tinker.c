/* A fake Tinker service for the typed SDK's tests (see fake_tinker.h). */
#include "fake_tinker.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "tinkerc/wire.h"

float fake_logprob(int64_t target, size_t pos) {
    return -(0.5f + 0.01f * (float)target + 0.001f * (float)pos);
}

static bool is_submit(const char *path) {
    static const char *const routes[] = {
        "/api/v1/create_model", "/api/v1/forward_backward", "/api/v1/forward",
        "/api/v1/optim_step", "/api/v1/save_weights", "/api/v1/save_weights_for_sampler",
        "/api/v1/load_weights", "/api/v1/asample", "/api/v1/unload_model", NULL};
    for (const char *const *r = routes; *r; r++)
        if (!strcmp(path, *r)) return true;
    return false;
}

static json_t *body_json(const unsigned char *b, size_t n) {
    return json_loadb((const char *)b, n, 0, NULL);
}

static int64_t json_int(json_t *j, const char *key, int64_t dflt) {
    json_t *v = j ? json_object_get(j, key) : NULL;
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const char *json_str(json_t *j, const char *key) {
    json_t *v = j ? json_object_get(j, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : "";
}

static void answer_json(tk_mock_answer *out, tk_buf *scratch, int status, const char *fmt, ...)
    TK_PRINTF(4, 5);
static void answer_json(tk_mock_answer *out, tk_buf *scratch, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (tk_buf_vprintf(scratch, fmt, ap)) {}
    va_end(ap);
    out->status = status;
    out->body = scratch->data;
    out->body_len = scratch->len;
}

/* ---- results ---------------------------------------------------------------------------------- */

static void fb_result(const fake_submit *s, const char *accept, tk_mock_answer *out,
                      tk_buf *scratch) {
    tk_arena *a = tk_arena_new(0);
    tk_wire_forward_backward_request req;
    tk_err e = {0};
    int rc = tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST,
                                 s->proto ? "application/x-protobuf" : "application/json", NULL,
                                 s->body, s->body_len, 0, a, &req, &e);
    if (rc) {
        answer_json(out, scratch, 200, "{\"error\":\"fake: bad body: %s\",\"category\":\"user\"}",
                    "decode");
        tk_arena_free(a);
        return;
    }
    tk_wire_forward_backward_output o = {0};
    o.loss_fn_output_type = "ArrayRecord";
    o.n_loss_fn_outputs = req.input.n_data;
    o.loss_fn_outputs = tk_arena_zalloc(a, (req.input.n_data + 1) * sizeof *o.loss_fn_outputs);
    double loss = 0, tokens = 0;
    for (size_t d = 0; d < req.input.n_data; d++) {
        const tk_wire_datum *dt = &req.input.data[d];
        const tk_wire_tensor *tt = tk_wire_tensor_map_get(&dt->loss_fn_inputs, "target_tokens");
        const tk_wire_tensor *w = tk_wire_tensor_map_get(&dt->loss_fn_inputs, "weights");
        size_t n = tt ? tt->n : 0;
        float *lp = tk_arena_alloc(a, (n + 1) * sizeof *lp);
        for (size_t i = 0; i < n; i++) {
            lp[i] = fake_logprob(tt->data.i64[i], i);
            loss += -(double)lp[i] * (w ? w->data.f32[i] : 1.0);
        }
        tokens += (double)n;
        tk_wire_named_tensor *it = tk_arena_alloc(a, sizeof *it);
        it->name = "logprobs";
        it->tensor = tk_wire_tensor_view_f32(lp, n);
        o.loss_fn_outputs[d].items = it;
        o.loss_fn_outputs[d].n = 1;
    }
    tk_wire_kv_f64 m[3] = {{"loss:sum", loss}, {"tokens:sum", tokens},
                           {"seq:mean", (double)s->seq}};
    o.metrics.present = true;
    o.metrics.items = m;
    o.metrics.n = 3;
    const char *ctype = NULL;
    tk_buf_clear(scratch);
    rc = tk_wire_body_encode(TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, accept, &o, scratch, &ctype,
                             &e);
    out->status = 200;
    out->body = scratch->data;
    out->body_len = scratch->len;
    out->content_type = ctype;
    tk_arena_free(a);
}

static void sample_result(const fake_submit *s, const char *accept, tk_mock_answer *out,
                          tk_buf *scratch) {
    tk_arena *a = tk_arena_new(0);
    tk_wire_sample_request req;
    tk_err e = {0};
    if (tk_wire_json_decode(TK_WIRE_MSG_SAMPLE_REQUEST, (const char *)s->body, s->body_len, a,
                            &req, &e)) {
        answer_json(out, scratch, 200, "{\"error\":\"fake: bad sample body\",\"category\":"
                    "\"user\"}");
        tk_arena_free(a);
        return;
    }
    tk_wire_sample_response r = {0};
    r.n_sequences = (size_t)req.num_samples;
    r.sequences = tk_arena_zalloc(a, (r.n_sequences + 1) * sizeof *r.sequences);
    for (size_t k = 0; k < r.n_sequences; k++) {
        int32_t *tok = tk_arena_alloc(a, 2 * sizeof *tok);
        float *lp = tk_arena_alloc(a, 2 * sizeof *lp);
        tok[0] = (int32_t)s->seq;
        tok[1] = 100 + (int32_t)k;
        lp[0] = -1;
        lp[1] = -2;
        r.sequences[k] = (tk_wire_sampled_sequence){TK_WIRE_STOP_REASON_LENGTH, tok, 2, true, lp,
                                                    2};
    }
    if (req.has_prompt_logprobs && req.prompt_logprobs) {
        int64_t n = 0;
        tk_wire_model_input_length(&req.prompt, &n, &e);
        r.has_prompt_logprobs = true;
        r.n_prompt_logprobs = (size_t)n;
        r.prompt_logprobs = tk_arena_alloc(a, ((size_t)n + 1) * sizeof(float));
        for (int64_t i = 0; i < n; i++) r.prompt_logprobs[i] = i == 0 ? NAN : -(float)i;
    }
    const char *ctype = NULL;
    tk_buf_clear(scratch);
    tk_wire_body_encode(TK_WIRE_MSG_SAMPLE_RESPONSE, accept, &r, scratch, &ctype, &e);
    out->status = 200;
    out->body = scratch->data;
    out->body_len = scratch->len;
    out->content_type = ctype;
    tk_arena_free(a);
}

static void future_result(fake_tinker *f, const fake_submit *s, const char *accept,
                          tk_mock_answer *out, tk_buf *scratch) {
    json_t *j = s->proto ? NULL : body_json(s->body, s->body_len);
    const char *p = s->path;
    if (!strcmp(p, "/api/v1/forward_backward") || !strcmp(p, "/api/v1/forward")) {
        fb_result(s, accept, out, scratch);
    } else if (!strcmp(p, "/api/v1/asample")) {
        sample_result(s, accept, out, scratch);
    } else if (!strcmp(p, "/api/v1/create_model")) {
        answer_json(out, scratch, 200, "{\"model_id\":\"%s:train:%lld\",\"type\":\"create_model\"}",
                    json_str(j, "session_id"), (long long)json_int(j, "model_seq_id", -1));
    } else if (!strcmp(p, "/api/v1/optim_step")) {
        answer_json(out, scratch, 200, "{\"metrics\":{\"seq:max\":%lld},\"type\":\"optim_step\"}",
                    (long long)s->seq);
    } else if (!strcmp(p, "/api/v1/save_weights")) {
        answer_json(out, scratch, 200, "{\"path\":\"tinker://%s/weights/%s\",\"type\":"
                    "\"save_weights\"}", json_str(j, "model_id"), json_str(j, "path"));
    } else if (!strcmp(p, "/api/v1/save_weights_for_sampler")) {
        if (json_object_get(j, "path"))
            answer_json(out, scratch, 200, "{\"path\":\"tinker://%s/sampler_weights/%s\"}",
                        json_str(j, "model_id"), json_str(j, "path"));
        else
            answer_json(out, scratch, 200, "{\"path\":null,\"sampling_session_id\":"
                        "\"fake:sample:%lld\"}", (long long)json_int(j, "sampling_session_seq_id",
                                                                    -1));
    } else if (!strcmp(p, "/api/v1/load_weights")) {
        answer_json(out, scratch, 200, "{\"path\":\"%s\",\"type\":\"load_weights\"}",
                    json_str(j, "path"));
    } else {
        answer_json(out, scratch, 200, "{\"model_id\":\"%s\",\"type\":\"unload_model\"}",
                    json_str(j, "model_id"));
    }
    (void)f;
    json_decref(j);
}

/* ---- the handler ------------------------------------------------------------------------------ */

static void handler(const tk_mock_request *req, tk_mock_answer *out, tk_buf *scratch, void *user) {
    fake_tinker *f = user;
    const char *p = req->path;
    if (!strcmp(p, "/api/v1/client/config")) {
        pthread_mutex_lock(&f->mu);
        answer_json(out, scratch, 200, "%s", f->config);
        pthread_mutex_unlock(&f->mu);
    } else if (!strcmp(p, "/api/v1/create_session")) {
        answer_json(out, scratch, 200, "{\"type\":\"create_session\",\"session_id\":\"fake\"}");
    } else if (!strcmp(p, "/api/v1/session_heartbeat")) {
        answer_json(out, scratch, 200, "{\"type\":\"session_heartbeat\"}");
    } else if (!strcmp(p, "/api/v1/create_sampling_session")) {
        json_t *j = body_json(req->body, req->body_len);
        answer_json(out, scratch, 200, "{\"sampling_session_id\":\"%s:sample:%lld\"}",
                    json_str(j, "session_id"), (long long)json_int(j, "sampling_session_seq_id", -1));
        json_decref(j);
    } else if (!strcmp(p, "/api/v1/weights_info")) {
        answer_json(out, scratch, 200, "{\"base_model\":\"fake/base\",\"is_lora\":true,"
                    "\"lora_rank\":8,\"train_unembed\":false}");
    } else if (!strcmp(p, "/api/v1/get_info")) {
        json_t *j = body_json(req->body, req->body_len);
        answer_json(out, scratch, 200, "{\"type\":\"get_info\",\"model_id\":\"%s\",\"model_data\":"
                    "{\"arch\":\"qwen3\",\"model_name\":\"fake/base\",\"tokenizer_id\":"
                    "\"fake/tok:v1\"},\"is_lora\":true,\"lora_rank\":8}", json_str(j, "model_id"));
        json_decref(j);
    } else if (!strcmp(p, "/api/v1/get_server_capabilities")) {
        answer_json(out, scratch, 200, "{\"supported_models\":[{\"model_name\":\"fake/base\","
                    "\"max_context_length\":64}]}");
    } else if (is_submit(p)) {
        fake_submit s = {0};
        snprintf(s.path, sizeof s.path, "%s", p);
        const char *ct = tk_mock_req_header(req, "Content-Type");
        snprintf(s.content_type, sizeof s.content_type, "%s", ct ? ct : "");
        s.proto = ct && strstr(ct, "x-protobuf");
        s.body = malloc(req->body_len + 1);
        memcpy(s.body, req->body, req->body_len);
        s.body_len = req->body_len;
        s.seq = -1;
        if (s.proto) {
            tk_arena *a = tk_arena_new(0);
            tk_wire_forward_backward_request r;
            tk_err e = {0};
            if (!tk_wire_proto_decode_forward_backward_request(s.body, s.body_len, a, &r, &e))
                s.seq = r.seq_id;
            tk_arena_free(a);
        } else {
            json_t *j = body_json(s.body, s.body_len);
            s.seq = json_int(j, !strcmp(p, "/api/v1/create_model") ? "model_seq_id" : "seq_id",
                             -1);
            json_decref(j);
        }
        pthread_mutex_lock(&f->mu);
        s.index = (int64_t)f->subs.len;
        snprintf(s.rid, sizeof s.rid, "r%lld", (long long)s.index);
        if (tk_vec_push(&f->subs, s)) free(s.body);
        pthread_mutex_unlock(&f->mu);
        answer_json(out, scratch, 200, "{\"request_id\":\"%s\"}", s.rid);
    } else if (!strcmp(p, "/api/v1/retrieve_future")) {
        json_t *j = body_json(req->body, req->body_len);
        const char *rid = json_str(j, "request_id");
        fake_submit s = {0};
        bool found = false;
        pthread_mutex_lock(&f->mu);
        f->polls++;
        for (size_t i = 0; i < f->subs.len && !found; i++)
            if (!strcmp(f->subs.data[i].rid, rid)) {
                s = f->subs.data[i];
                found = true;
            }
        pthread_mutex_unlock(&f->mu);
        if (!found) answer_json(out, scratch, 404, "{\"detail\":\"unknown request %s\"}", rid);
        else future_result(f, &s, tk_mock_req_header(req, "Accept"), out, scratch);
        json_decref(j);
    } else {
        answer_json(out, scratch, 404, "{\"detail\":\"fake: no route %s %s\"}", req->method, p);
    }
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

fake_tinker *fake_start(void) {
    fake_tinker *f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    snprintf(f->config, sizeof f->config, "{}");
    tk_err e = {0};
    if (tk_mock_start(NULL, NULL, &f->m, &e)) {
        free(f);
        return NULL;
    }
    tk_mock_set_handler(f->m, NULL, NULL, handler, f);
    return f;
}

void fake_stop(fake_tinker *f) {
    if (!f) return;
    tk_mock_stop(f->m);
    for (size_t i = 0; i < f->subs.len; i++) free(f->subs.data[i].body);
    tk_vec_free(&f->subs);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

bool fake_get(fake_tinker *f, const char *path, size_t k, fake_submit *out) {
    bool found = false;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->subs.len && !found; i++) {
        if (path && strcmp(f->subs.data[i].path, path)) continue;
        if (k-- == 0) {
            *out = f->subs.data[i];
            found = true;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return found;
}

size_t fake_count(fake_tinker *f, const char *path) {
    size_t n = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->subs.len; i++) n += !path || !strcmp(f->subs.data[i].path, path);
    pthread_mutex_unlock(&f->mu);
    return n;
}

tk_client_service *fake_service(fake_tinker *f, tk_client_encoding enc) {
    tk_client_service_options o;
    tk_client_service_options_init(&o);
    o.client.base_url = tk_mock_url(f->m);
    o.client.api_key = "tml-test-key";
    o.client.retry_time_scale = 0.001;
    o.client.seed = 99;
    o.fwdbwd_encoding = enc;
    tk_client_service *s = NULL;
    tk_err e = {0};
    if (tk_client_service_open(&o, &s, &e)) {
        fprintf(stderr, "fake_service: %s\n", e.msg);
        return NULL;
    }
    return s;
}
