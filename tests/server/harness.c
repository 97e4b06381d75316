/* Harness for the server tests (see harness.h). */
#include "test_util.h"

#include <curl/curl.h>
#include <stdatomic.h>

#include "harness.h"
#include "tinkerc/engine.h"

/* ---- HTTP ------------------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    http_res *r = ud;
    if (tk_buf_append(&r->body, p, sz * n)) return 0;
    return sz * n;
}

static void copy_header(const char *line, size_t len, const char *name, char *dst, size_t dn) {
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl)) return;
    const char *v = line + nl;
    size_t vl = len - nl;
    while (vl && (*v == ' ')) v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n')) vl--;
    snprintf(dst, dn, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    http_res *r = ud;
    copy_header(p, sz * n, "Content-Type:", r->content_type, sizeof r->content_type);
    copy_header(p, sz * n, "Location:", r->location, sizeof r->location);
    copy_header(p, sz * n, "Allow:", r->allow, sizeof r->allow);
    return sz * n;
}

long http_do(const char *method, const char *url, const char *const *headers, const void *body, size_t n,
             http_res *out) {
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *hl = NULL;
    bool has_key = false, no_key = false;
    for (const char *const *h = headers; h && *h; h++) {
        if (!strncasecmp(*h, "X-API-Key", 9)) has_key = true;
        if (!strcmp(*h, "NO-KEY")) { no_key = true; continue; }
        hl = curl_slist_append(hl, *h);
    }
    if (!has_key && !no_key) hl = curl_slist_append(hl, "X-API-Key: tml-test");
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    } else if (!strcmp(method, "GET")) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    double t0 = tk_now_s();
    CURLcode rc = curl_easy_perform(c);
    out->seconds = tk_now_s() - t0;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!out->body.data && tk_buf_puts(&out->body, "")) return 0;
    return out->status;
}

void http_res_free(http_res *r) { tk_buf_free(&r->body); }

json_t *hj(harness *h, const char *method, const char *path, const char *body, long *status) {
    char url[1024];
    snprintf(url, sizeof url, "%s%s", h->url, path);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    http_res r;
    long st = http_do(method, url, body ? hdr : NULL, body, body ? strlen(body) : 0, &r);
    if (status) *status = st;
    json_t *v = json_loadb(r.body.data, r.body.len, 0, NULL);
    http_res_free(&r);
    return v;
}

json_t *hjf(harness *h, const char *method, const char *path, long *status, const char *fmt, ...) {
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return hj(h, method, path, body, status);
}

json_t *wait_result(harness *h, const char *request_id, long *status) {
    for (int i = 0; i < 200; i++) {
        json_t *v = hjf(h, "POST", "/api/v1/retrieve_future", status, "{\"request_id\":\"%s\"}", request_id);
        const char *t = json_string_value(json_object_get(v, "type"));
        if (!t || strcmp(t, "try_again")) return v;
        json_decref(v);
    }
    fail_msg("request %s never finished", request_id);
    return NULL;
}

char *new_session(harness *h) {
    long st = 0;
    json_t *v = hj(h, "POST", "/api/v1/create_session",
                   "{\"tags\":[\"t\"],\"user_metadata\":{},\"sdk_version\":\"0.25.0\",\"type\":\"create_session\"}", &st);
    assert_int_equal(st, 200);
    char *id = tk_strdup(json_string_value(json_object_get(v, "session_id")));
    assert_non_null(id);
    json_decref(v);
    return id;
}

/* ---- the fake engine ---------------------------------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static tk_buf log_buf;
static atomic_int engine_frees;

void fake_log_reset(void) {
    pthread_mutex_lock(&log_mu);
    tk_buf_free(&log_buf);
    pthread_mutex_unlock(&log_mu);
    atomic_store(&engine_frees, 0);
}

char *fake_log(void) {
    pthread_mutex_lock(&log_mu);
    char *s = tk_strdup(log_buf.data ? log_buf.data : "");
    pthread_mutex_unlock(&log_mu);
    return s;
}

int fake_engine_frees(void) { return atomic_load(&engine_frees); }

static void log_job(const char *what) {
    pthread_mutex_lock(&log_mu);
    if (tk_buf_printf(&log_buf, "%s%s", log_buf.len ? " " : "", what)) abort();
    pthread_mutex_unlock(&log_mu);
}

typedef struct fake_req {
    char op[16];
    char name[64];
    int delay_ms;
    bool fail;
    int64_t ss_seq; /* save_for_sampler */
} fake_req;

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open = true;

void fake_gate_close(void) {
    pthread_mutex_lock(&gate_mu);
    gate_open = false;
    pthread_mutex_unlock(&gate_mu);
}

void fake_gate_open(void) {
    pthread_mutex_lock(&gate_mu);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void engine_free(void *p) {
    atomic_fetch_add(&engine_frees, 1);
    free(p);
}

static void succeed_json(tk_server *s, tk_server_job *j, json_t *v, const char *proto) {
    tk_buf b = {0}, p = {0};
    if (!v || tk_json_dump(v, &b)) abort();
    json_decref(v);
    if (proto && tk_buf_puts(&p, proto)) abort();
    tk_server_job_succeed(s, j, &b, proto ? &p : NULL);
}

/* Save a checkpoint through the store the way the engine glue will: stage, write, commit. */
static int fake_save(tk_server *s, tk_server_job *j, const char *name, tk_server_ckpt_kind kind, char *path) {
    tk_err e = {0};
    tk_server_stage *st = NULL;
    int rc = tk_server_store_stage(s->store, j->model->id, kind, name, false, &st, &e);
    if (!rc) {
        char text[64];
        snprintf(text, sizeof text, "weights after seq %lld", (long long)j->seq_id);
        char *p = tk_path_join(tk_server_stage_payload_dir(st), "adapter_model.safetensors");
        char *q = tk_path_join(tk_server_stage_payload_dir(st), "adapter_config.json");
        rc = tk_file_write_atomic(p, text, strlen(text), 0644, &e);
        if (!rc) rc = tk_file_write_atomic(q, "{\"r\":8}", 7, 0644, &e);
        free(p);
        free(q);
        if (rc) tk_server_store_abort(s->store, st);
        else rc = tk_server_store_commit(s->store, st, 0, NULL, path, &e);
    }
    if (rc) tk_server_job_fail(s, j, rc == TK_EEXIST ? TK_SERVER_CAT_USER : TK_SERVER_CAT_SERVER, "%s", e.msg);
    return rc;
}

static void fake_run(tk_server *s, tk_server_job **jobs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tk_server_job *j = jobs[i];
        fake_req *r = j->payload;
        if (r->delay_ms) tk_sleep_ms(r->delay_ms);
        if (!strcmp(r->op, "gate")) { /* hold the worker until the test opens the gate */
            pthread_mutex_lock(&gate_mu);
            while (!gate_open) pthread_cond_wait(&gate_cv, &gate_mu);
            pthread_mutex_unlock(&gate_mu);
        }
        char line[128];
        if (j->sampler)
            snprintf(line, sizeof line, "s%lld:%s/%zu", (long long)j->seq_id, r->op, n);
        else if (j->model && strcmp(strrchr(j->model->id, ':') + 1, "0"))
            snprintf(line, sizeof line, "m%s.%lld:%s/%zu", strrchr(j->model->id, ':') + 1, (long long)j->seq_id,
                     r->op, n);
        else
            snprintf(line, sizeof line, "%lld:%s/%zu", (long long)j->seq_id, r->op, n);
        log_job(line);
        if (r->fail) {
            tk_server_job_fail(s, j, TK_SERVER_CAT_USER, "fake engine: %s seq %lld failed as asked", r->op,
                               (long long)j->seq_id);
            continue;
        }
        if (!strcmp(r->op, "create")) {
            j->model->engine = malloc(16);
            j->model->engine_free = engine_free;
            succeed_json(s, j, json_pack("{s:s, s:s}", "model_id", j->model->id, "type", "create_model"), NULL);
        } else if (!strcmp(r->op, "save")) {
            char path[TK_SERVER_PATH_MAX];
            if (!fake_save(s, j, r->name, TK_SERVER_CKPT_WEIGHTS, path))
                succeed_json(s, j, json_pack("{s:s, s:s}", "path", path, "type", "save_weights"), NULL);
        } else if (!strcmp(r->op, "ssave")) {
            char path[TK_SERVER_PATH_MAX], sid[TK_SERVER_ID_MAX];
            tk_err e = {0};
            char name[64];
            snprintf(name, sizeof name, "ss%lld_seq%lld", (long long)r->ss_seq, (long long)j->seq_id);
            if (fake_save(s, j, name, TK_SERVER_CKPT_SAMPLER, path)) continue;
            if (tk_server_sampler_create(s, j->model->session_id, r->ss_seq, j->model->base_model, path, sid, NULL, &e))
                tk_server_job_fail(s, j, TK_SERVER_CAT_USER, "%s", e.msg);
            else
                succeed_json(s, j, json_pack("{s:s, s:s, s:s}", "path", path, "sampling_session_id", sid, "type",
                                             "save_weights_for_sampler"), NULL);
        } else {
            char proto[64];
            snprintf(proto, sizeof proto, "PROTO seq=%lld", (long long)j->seq_id);
            bool has_proto = !strcmp(r->op, "fwd") || !strcmp(r->op, "sample");
            succeed_json(s, j, json_pack("{s:s, s:I, s:I}", "type", r->op, "seq_id", (json_int_t)j->seq_id, "batch",
                                         (json_int_t)n), has_proto ? proto : NULL);
        }
    }
}

static fake_req *parse_fake(json_t *b, const char *op) {
    fake_req *r = calloc(1, sizeof *r);
    const char *o = json_string_value(json_object_get(b, "op"));
    snprintf(r->op, sizeof r->op, "%s", o ? o : op);
    const char *nm = json_string_value(json_object_get(b, "name"));
    snprintf(r->name, sizeof r->name, "%s", nm ? nm : "ckpt");
    r->delay_ms = (int)json_integer_value(json_object_get(b, "delay_ms"));
    r->fail = json_is_true(json_object_get(b, "fail"));
    r->ss_seq = json_integer_value(json_object_get(b, "sampling_session_seq_id"));
    return r;
}

static void answer(tk_server_resp *resp, int rc, const tk_err *e, const char *rid) {
    if (rc) tk_server_resp_err(resp, e);
    else tk_server_resp_json(resp, 200, json_pack("{s:s}", "request_id", rid));
}

static void h_create(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *sid = NULL;
    int64_t mseq = 0;
    int rc = tk_json_get_str(b, "session_id", "", &sid, &e);
    if (!rc) rc = tk_json_get_i64(b, "model_seq_id", "", &mseq, &e);
    const char *base = json_string_value(json_object_get(b, "base_model"));
    char rid[TK_SERVER_ID_MAX];
    if (!rc) {
        tk_server_model_params p = {.base_model = base ? base : "fake/base", .is_lora = true, .lora_rank = 8,
                                    .train_mlp = true, .train_attn = true};
        tk_server_job *j = tk_server_job_new("create_model", fake_run, false, parse_fake(b, "create"), free);
        rc = tk_server_model_create(s, sid, mseq, &p, req->api_key, j, rid, &e);
    }
    answer(resp, rc, &e, rid);
    json_decref(b);
}

static void h_train(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *mid = NULL;
    int64_t seq = 0;
    int rc = tk_json_get_str(b, "model_id", "", &mid, &e);
    if (!rc) rc = tk_json_get_i64(b, "seq_id", "", &seq, &e);
    uint64_t hash = tk_hash_bytes(req->body, req->body_len);
    if (!rc && json_is_true(json_object_get(b, "invalid"))) {
        /* what a real handler does when the body names its model and seq_id but fails validation */
        tk_server_reject_train(s, mid, seq, hash, "fake validation: invalid request");
        tk_server_resp_error(resp, 400, "fake validation: invalid request");
        json_decref(b);
        return;
    }
    char rid[TK_SERVER_ID_MAX];
    if (!rc) {
        fake_req *r = parse_fake(b, "fwd");
        bool batchable = !strcmp(r->op, "fwd");
        tk_server_job *j = tk_server_job_new(r->op, fake_run, batchable, r, free);
        rc = tk_server_submit_train(s, mid, seq, hash, j, rid, &e);
    }
    answer(resp, rc, &e, rid);
    json_decref(b);
}

static void h_sample(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    json_t *b = NULL;
    if (tk_server_req_json(req, resp, &b)) return;
    tk_err e = {0};
    const char *sid = NULL;
    int64_t seq = 0;
    int rc = tk_json_get_str(b, "sampling_session_id", "", &sid, &e);
    if (!rc) rc = tk_json_get_i64(b, "seq_id", "", &seq, &e);
    char rid[TK_SERVER_ID_MAX];
    if (!rc) {
        tk_server_job *j = tk_server_job_new("sample", fake_run, false, parse_fake(b, "sample"), free);
        rc = tk_server_submit_sample(s, sid, seq, tk_hash_bytes(req->body, req->body_len), j, rid, &e);
    }
    answer(resp, rc, &e, rid);
    json_decref(b);
}

static int fake_resolve(void *user, const char *base, tk_err *e) {
    (void)user;
    if (!strncmp(base, "fake/", 5)) return 0;
    return tk_err_set(e, TK_ENOTFOUND, "base model \"%s\" is not served (fake engine serves fake/*)", base);
}

/* ---- start / stop --------------------------------------------------------------------------------- */

void harness_config(tk_server_config *c) {
    tk_server_config_init(c);
    c->future_hold_s = 0.5;
    c->sweep_interval_s = 0.05;
}

void harness_start(harness *h, const tk_server_config *cfg, bool fake) {
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }
    tk_server_config c;
    if (cfg) c = *cfg;
    else harness_config(&c);
    if (!c.data_dir) {
        if (!h->dir) h->dir = tk_test_tmpdir();
        c.data_dir = h->dir;
    }
    tk_err e = {0};
    assert_ok(tk_server_create(&c, &h->s, &e), &e);
    assert_ok(tk_server_add_core_routes(h->s, &e), &e);
    if (fake) {
        tk_server_engine_hooks hooks = {.resolve_base_model = fake_resolve};
        tk_server_set_engine_hooks(h->s, &hooks);
        assert_ok(tk_server_route_add(h->s, "POST", "/test/create_model", h_create, NULL, 0, &e), &e);
        assert_ok(tk_server_route_add(h->s, "POST", "/test/train", h_train, NULL, 0, &e), &e);
        assert_ok(tk_server_route_add(h->s, "POST", "/test/sample", h_sample, NULL, 0, &e), &e);
    }
    assert_ok(tk_server_listen(h->s, &e), &e);
    snprintf(h->url, sizeof h->url, "%s", tk_server_url(h->s));
    fake_log_reset();
}

static char *tiny_dir;

static void remove_tiny(void) {
    tk_err e = {0};
    if (tiny_dir) tk_remove_tree(tiny_dir, &e);
    free(tiny_dir);
    tiny_dir = NULL;
}

const char *harness_tiny_model(void) {
    static char path[600];
    if (tiny_dir) return path;
    tiny_dir = tk_test_tmpdir();
    assert_non_null(tiny_dir);
    atexit(remove_tiny);
    snprintf(path, sizeof path, "%s/tiny", tiny_dir);
    tk_engine_config c;
    tk_engine_config_default(&c, TK_ENGINE_ARCH_QWEN3);
    c.vocab_size = 64;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_layers = 2;
    c.num_heads = 2;
    c.num_kv_heads = 1;
    c.head_dim = 8;
    c.max_position_embeddings = 96;
    tk_engine_model *m = NULL;
    tk_err e = {0};
    assert_ok(tk_engine_model_random(&c, 11, &m, &e), &e);
    assert_ok(tk_engine_model_save(m, path, TK_ENGINE_F32, &e), &e);
    tk_engine_model_free(m);
    return path;
}

void harness_start_engine(harness *h, const tk_server_config *cfg) {
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }
    tk_server_config c;
    if (cfg) c = *cfg;
    else harness_config(&c);
    if (!c.data_dir) {
        if (!h->dir) h->dir = tk_test_tmpdir();
        c.data_dir = h->dir;
    }
    tk_server_model_spec ms[] = {{"test/tiny", harness_tiny_model(), 0}};
    if (!c.n_models) {
        c.models = ms;
        c.n_models = 1;
    }
    tk_err e = {0};
    assert_ok(tk_server_start(&c, &h->s, &e), &e);
    snprintf(h->url, sizeof h->url, "%s", tk_server_url(h->s));
}

void harness_stop(harness *h, bool keep_dir) {
    fake_gate_open();
    tk_server_stop(h->s);
    h->s = NULL;
    if (!keep_dir && h->dir) {
        tk_err e = {0};
        tk_remove_tree(h->dir, &e);
        free(h->dir);
        h->dir = NULL;
    }
}
