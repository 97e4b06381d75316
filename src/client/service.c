/* The service client: client/config, the session and its heartbeats, server capabilities, and
 * the tasks that create training and sampling clients (§3.1–§3.3, §9). */
#include "internal.h"
#include "sdk.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

/* The protocol level tinkerc speaks (protobuf forward_backward and results, sessions, …). It is
 * what create_session and client/config carry as sdk_version; User-Agent says "tinkerc". */
#define TK_CLIENT_SDK_VERSION "0.25.0"

/* ---- references, counters -------------------------------------------------------------------- */

void tk_svc_ref(tk_client_service *s) { atomic_fetch_add(&s->refs, 1); }

void tk_svc_unref(tk_client_service *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    if (s->c) tk_client_unref(s->c);   /* the struct outlives tk_client_close (our reference) */
    tk_arena_free(s->arena);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int64_t tk_svc_next_model_seq(tk_client_service *s) {
    pthread_mutex_lock(&s->mu);
    int64_t v = s->model_seq++;
    pthread_mutex_unlock(&s->mu);
    return v;
}

int64_t tk_svc_next_sampling_seq(tk_client_service *s) {
    pthread_mutex_lock(&s->mu);
    int64_t v = s->sampling_seq++;
    pthread_mutex_unlock(&s->mu);
    return v;
}

int tk_svc_client(tk_client_service *s, tk_client **c, tk_err *e) {
    if (atomic_load(&s->closed))
        return tk_err_set(e, TK_ESTATE, "the service client is closed");
    *c = s->c;
    return 0;
}

/* ---- opening ---------------------------------------------------------------------------------- */

void tk_client_service_options_init(tk_client_service_options *o) {
    memset(o, 0, sizeof *o);
    tk_client_options_init(&o->client);
}

/* One call, waited for, its answer decoded into the service's arena. */
static int sync_call(tk_client_service *s, const tk_client_call_spec *spec, const char *what,
                     tk_wire_msg type, void *out, tk_buf *raw, tk_err *e) {
    tk_client_future *f = NULL;
    int rc = tk_client_call(s->c, spec, &f, e);
    if (!rc) rc = tk_client_future_wait(f, -1, e);
    if (!rc) {
        const tk_client_response *r = tk_client_future_response(f);
        rc = tk_wire_body_decode(type, r->content_type, NULL, r->body.data ? r->body.data : "",
                                 r->body.len, 0, s->arena, out, e);
        if (!rc && raw && tk_buf_append(raw, r->body.data ? r->body.data : "", r->body.len))
            rc = tk_err_set(e, TK_ENOMEM, "out of memory");
    }
    tk_client_future_release(f);
    return rc ? tk_err_prefix(e, "%s: ", what) : 0;
}

/* The forward_backward body encoding (client.h "Encodings"). */
static bool choose_protobuf(tk_client_encoding want, const tk_buf *config_body) {
    if (want == TK_CLIENT_ENCODING_PROTOBUF) return true;
    if (want == TK_CLIENT_ENCODING_JSON) return false;
    const char *env = getenv("TINKERC_FWDBWD_ENCODING");
    if (env && !strcasecmp(env, "json")) return false;
    if (env && (!strcasecmp(env, "proto") || !strcasecmp(env, "protobuf"))) return true;
    bool proto = true;
    json_t *j = json_loadb(config_body->data ? config_body->data : "", config_body->len, 0, NULL);
    json_t *flag = j ? json_object_get(j, "proto_write_fwdbwd") : NULL;
    if (json_is_false(flag)) proto = false;
    json_decref(j);
    return proto;
}

static int create_session(tk_client_service *s, const char *user_metadata, tk_err *e) {
    tk_wire_create_session_request req;
    tk_wire_init(TK_WIRE_MSG_CREATE_SESSION_REQUEST, &req);
    size_t n_tags = 0;
    const char *const *tags = tk_client_tags(s->c, &n_tags);
    req.tags.items = (char **)tags;
    req.tags.n = n_tags;
    req.sdk_version = TK_CLIENT_SDK_VERSION;
    req.project_id = (char *)tk_client_project_id(s->c);
    if (user_metadata) {
        json_t *j = NULL;
        int rc = tk_json_parse(user_metadata, strlen(user_metadata), "user_metadata", &j, e);
        bool obj = !rc && json_is_object(j);
        json_decref(j);
        if (rc) return rc;
        if (!obj) return tk_err_set(e, TK_EINVAL, "user_metadata: must be a JSON object");
        req.user_metadata = (char *)user_metadata;
    }
    tk_buf body = {0};
    int rc = tk_wire_json_encode(TK_WIRE_MSG_CREATE_SESSION_REQUEST, &req, &body, e);
    if (rc) {
        tk_buf_free(&body);
        return rc;
    }
    /* Request-layer retries only: the SDK does not wrap create_session in execute_with_retries. */
    tk_client_call_spec spec = {.path = "/api/v1/create_session", .body = body.data,
                                .body_len = body.len, .give_body = true};
    tk_wire_create_session_response resp;
    rc = sync_call(s, &spec, "create_session", TK_WIRE_MSG_CREATE_SESSION_RESPONSE, &resp, NULL, e);
    if (rc) return rc;
    if (resp.info_message) tk_info("create_session: %s", resp.info_message);
    if (resp.warning_message) tk_warn("create_session: %s", resp.warning_message);
    if (resp.error_message) tk_error("create_session: %s", resp.error_message);
    s->session_id = resp.session_id;
    return 0;
}

int tk_client_service_open(const tk_client_service_options *opts, tk_client_service **out,
                           tk_err *e) {
    *out = NULL;
    tk_client_service_options defaults;
    if (!opts) {
        tk_client_service_options_init(&defaults);
        opts = &defaults;
    }
    tk_client_service *s = calloc(1, sizeof *s);
    if (!s) return tk_err_set(e, TK_ENOMEM, "tk_client_service_open: out of memory");
    atomic_init(&s->refs, 1);
    atomic_init(&s->closed, false);
    pthread_mutex_init(&s->mu, NULL);
    s->arena = tk_arena_new(0);
    if (!s->arena) {
        tk_svc_unref(s);
        return tk_err_set(e, TK_ENOMEM, "tk_client_service_open: out of memory");
    }
    int rc = tk_client_open(&opts->client, &s->c, e);
    if (rc) {
        s->c = NULL;
        tk_svc_unref(s);
        return rc;
    }
    tk_client_ref(s->c);   /* keeps the struct valid after tk_client_close (later calls: ESTATE) */
    s->base_url = tk_arena_strdup(s->arena, tk_client_base_url(s->c));

    tk_buf body = {0}, raw = {0};
    if (tk_buf_printf(&body, "{\"sdk_version\":\"%s\"}", TK_CLIENT_SDK_VERSION) || !s->base_url)
        rc = tk_err_set(e, TK_ENOMEM, "tk_client_service_open: out of memory");
    if (!rc) {
        tk_client_call_spec spec = {.path = "/api/v1/client/config", .body = body.data,
                                    .body_len = body.len, .exec_retries = true};
        rc = sync_call(s, &spec, "client/config", TK_WIRE_MSG_CLIENT_CONFIG, &s->config, &raw, e);
    }
    if (!rc) {
        s->proto_fwdbwd = choose_protobuf(opts->fwdbwd_encoding, &raw);
        s->call_deadline_s = opts->call_deadline_s > 0 ? opts->call_deadline_s : 0;
        if (s->config.fwdbwd_max_chunk_len <= 0) s->config.fwdbwd_max_chunk_len = 1024;
        if (s->config.fwdbwd_max_chunk_bytes_count <= 0)
            s->config.fwdbwd_max_chunk_bytes_count = 5000000;
    }
    tk_buf_free(&body);
    tk_buf_free(&raw);
    if (!rc && !opts->no_session) rc = create_session(s, opts->user_metadata, e);
    if (!rc && s->session_id) rc = tk_client_heartbeat_start(s->c, s->session_id, e);
    if (rc) {
        tk_client_service_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tk_client_service_close(tk_client_service *s) {
    if (!s) return;
    if (!atomic_exchange(&s->closed, true)) tk_client_close(s->c);
    tk_svc_unref(s);
}

tk_client *tk_client_service_client(tk_client_service *s) { return s->c; }
const char *tk_client_service_session_id(const tk_client_service *s) { return s->session_id; }
const tk_wire_client_config *tk_client_service_config(const tk_client_service *s) {
    return &s->config;
}
bool tk_client_service_uses_protobuf(const tk_client_service *s) { return s->proto_fwdbwd; }

/* ---- capabilities ------------------------------------------------------------------------------ */

int tk_client_service_get_server_capabilities(tk_client_service *s, tk_client_task **out,
                                              tk_err *e) {
    tk_client_call_spec spec = {.method = "GET", .path = "/api/v1/get_server_capabilities",
                                .exec_retries = true};
    return tk_task_call(s, TK_CLIENT_TASK_CALL, TK_WIRE_MSG_SERVER_CAPABILITIES,
                        "get_server_capabilities", &spec, out, e);
}

/* ---- create_model ------------------------------------------------------------------------------ */

typedef struct create_ctx {
    char *base_model;          /* malloc'd */
    char *path;                /* from_state: the checkpoint */
    bool optimizer;
    int stage;                 /* from_state: 1 weights_info, 2 create_model, 3 load_weights */
} create_ctx;

static void create_ctx_free(void *p) {
    create_ctx *x = p;
    if (!x) return;
    free(x->base_model);
    free(x->path);
    free(x);
}

static int need_session(tk_client_service *s, const char *what, tk_err *e) {
    if (!s->session_id)
        return tk_err_set(e, TK_ESTATE, "%s: the service was opened without a session "
                          "(no_session)", what);
    return 0;
}

/* Submit create_model for t (a CREATE_TRAINING task) and attach its future. */
static int submit_create_model(tk_task *t, const char *base_model, const tk_wire_lora_config *lc,
                               const char *user_metadata, tk_err *e) {
    tk_client_service *s = t->svc;
    tk_client *c = NULL;
    int rc = tk_svc_client(s, &c, e);
    if (rc) return rc;
    tk_wire_create_model_request req;
    tk_wire_init(TK_WIRE_MSG_CREATE_MODEL_REQUEST, &req);
    req.session_id = s->session_id;
    req.model_seq_id = tk_svc_next_model_seq(s);
    req.base_model = (char *)base_model;
    req.user_metadata = (char *)user_metadata;
    req.has_lora_config = true;
    req.lora_config = *lc;
    tk_buf body = {0};
    if ((rc = tk_wire_json_encode(TK_WIRE_MSG_CREATE_MODEL_REQUEST, &req, &body, e))) {
        tk_buf_free(&body);
        return rc;
    }
    tk_client_call_spec spec = {.path = "/api/v1/create_model", .body = body.data,
                                .body_len = body.len, .give_body = true, .exec_retries = true,
                                .is_future = true, .request_type = "CreateModel"};
    tk_svc_spec_defaults(s, &spec);
    tk_client_future *f = NULL;
    if ((rc = tk_client_call(c, &spec, &f, e))) return tk_err_prefix(e, "create_model: ");
    tk_task_attach(t, &f, NULL, 1);
    return 0;
}

/* create_model answered: make the training client. */
static int made_model(tk_task *t, const char *base_model, tk_err *e) {
    tk_arena *a = tk_arena_new(0);
    if (!a) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
    tk_wire_model_id_response r;
    int rc = tk_task_decode(t, tk_task_part_response(t, 0), TK_WIRE_MSG_CREATE_MODEL_RESPONSE, a,
                            &r, e);
    tk_client_training *tc = NULL;
    if (!rc) rc = tk_training_new(t->svc, r.model_id, base_model, 0, &tc, e);
    tk_arena_free(a);
    if (rc) return rc;
    pthread_mutex_lock(&t->mu);
    t->training = tc;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static int create_advance(tk_task *t, tk_err *e) {
    create_ctx *x = t->ctx;
    return made_model(t, x->base_model, e);
}

static const tk_task_ops create_ops = {.advance = create_advance, .free_ctx = create_ctx_free};

int tk_client_service_create_lora_training_client(tk_client_service *s, const char *base_model,
                                                  const tk_wire_lora_config *lora,
                                                  const char *user_metadata,
                                                  tk_client_task **out, tk_err *e) {
    *out = NULL;
    const char *what = "create_lora_training_client";
    int rc = need_session(s, what, e);
    if (rc) return rc;
    if (!base_model || !*base_model)
        return tk_err_set(e, TK_EINVAL, "%s: base_model is required", what);
    tk_wire_lora_config lc;
    if (lora) {
        lc = *lora;
    } else {
        tk_wire_init(TK_WIRE_MSG_LORA_CONFIG, &lc);
    }
    if (!lc.train_mlp && !lc.train_attn && !lc.train_unembed)
        return tk_err_set(e, TK_EINVAL, "%s: at least one of train_mlp, train_attn and "
                          "train_unembed must be true", what);
    if (lc.rank <= 0)
        return tk_err_set(e, TK_EINVAL, "%s: lora rank %lld must be > 0", what,
                          (long long)lc.rank);
    char name[96];
    snprintf(name, sizeof name, "create_model (%.60s)", base_model);
    tk_task *t = tk_task_new(s, TK_CLIENT_TASK_CREATE_TRAINING, TK_WIRE_MSG_COUNT_, name);
    create_ctx *x = calloc(1, sizeof *x);
    if (!t || !x || !(x->base_model = tk_strdup(base_model))) {
        free(x);
        tk_client_task_release(t);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    t->ops = &create_ops;
    t->ctx = x;
    if ((rc = submit_create_model(t, base_model, &lc, user_metadata, e))) {
        tk_client_task_release(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- create from state: weights_info -> create_model -> load_weights ------------------------ */

static int from_state_advance(tk_task *t, tk_err *e) {
    create_ctx *x = t->ctx;
    if (x->stage == 1) {
        tk_arena *a = tk_arena_new(0);
        if (!a) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
        tk_wire_weights_info_response wi;
        int rc = tk_task_decode(t, tk_task_part_response(t, 0), TK_WIRE_MSG_WEIGHTS_INFO_RESPONSE,
                                a, &wi, e);
        tk_wire_lora_config lc;
        tk_wire_init(TK_WIRE_MSG_LORA_CONFIG, &lc);
        if (!rc) {
            if (wi.has_lora_rank) lc.rank = wi.lora_rank;
            if (wi.has_train_mlp) lc.train_mlp = wi.train_mlp;
            if (wi.has_train_attn) lc.train_attn = wi.train_attn;
            if (wi.has_train_unembed) lc.train_unembed = wi.train_unembed;
            if (!(x->base_model = tk_strdup(wi.base_model)))
                rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
        }
        if (!rc) {
            tk_task_clear_parts(t);
            x->stage = 2;
            rc = submit_create_model(t, x->base_model, &lc, NULL, e);
        }
        tk_arena_free(a);
        return rc ? rc : TK_TASK_CONTINUE;
    }
    if (x->stage == 2) {
        int rc = made_model(t, x->base_model, e);
        if (rc) return rc;
        tk_task_clear_parts(t);
        x->stage = 3;
        /* load_weights at seq_id 1, in the new client's lane (§9 "Resume") */
        tk_client_training *tc = t->training;
        tk_wire_load_weights_request req;
        tk_wire_init(TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST, &req);
        req.model_id = tc->model_id;
        req.path = x->path;
        req.optimizer = x->optimizer;
        req.has_seq_id = true;
        tk_buf body = {0};
        pthread_mutex_lock(&tc->mu);
        req.seq_id = tc->seq + 1;
        rc = tk_wire_json_encode(TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST, &req, &body, e);
        if (!rc) {
            tk_client_call_spec spec;
            tk_training_spec(tc, &spec, "/api/v1/load_weights", "LoadWeights");
            spec.body = body.data;
            spec.body_len = body.len;
            spec.give_body = true;
            body.data = NULL;
            rc = tk_training_submit_locked(tc, &spec, 1, false, NULL, t, NULL, e);
            if (!rc) tc->seq++;
        }
        pthread_mutex_unlock(&tc->mu);
        tk_buf_free(&body);
        return rc ? rc : TK_TASK_CONTINUE;
    }
    return 0;   /* the load is done */
}

static const tk_task_ops from_state_ops = {.advance = from_state_advance,
                                           .free_ctx = create_ctx_free};

static int from_state(tk_client_service *s, const char *path, bool optimizer,
                      tk_client_task **out, tk_err *e) {
    *out = NULL;
    const char *what = optimizer ? "create_training_client_from_state_with_optimizer"
                                 : "create_training_client_from_state";
    int rc = need_session(s, what, e);
    if (rc) return rc;
    tk_arena *a = tk_arena_new(0);
    tk_wire_tinker_path tp;
    rc = a ? tk_wire_tinker_path_parse(path ? path : "", a, &tp, e)
           : tk_err_set(e, TK_ENOMEM, "out of memory");
    if (!rc && tp.kind != TK_WIRE_CHECKPOINT_TRAINING)
        rc = tk_err_set(e, TK_EINVAL, "%s: \"%s\" is sampler weights; a training checkpoint "
                        "(tinker://run/weights/name) is needed", what, path);
    tk_arena_free(a);
    if (rc) return tk_err_prefix(e, "%s: ", what);

    tk_wire_weights_info_request req = {.tinker_path = (char *)path};
    tk_buf body = {0};
    if ((rc = tk_wire_json_encode(TK_WIRE_MSG_WEIGHTS_INFO_REQUEST, &req, &body, e))) {
        tk_buf_free(&body);
        return rc;
    }
    char name[160];
    snprintf(name, sizeof name, "create training client from %.120s", path);
    tk_task *t = tk_task_new(s, TK_CLIENT_TASK_CREATE_TRAINING, TK_WIRE_MSG_COUNT_, name);
    create_ctx *x = calloc(1, sizeof *x);
    if (!t || !x || !(x->path = tk_strdup(path))) {
        free(x);
        tk_client_task_release(t);
        tk_buf_free(&body);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    x->optimizer = optimizer;
    x->stage = 1;
    t->ops = &from_state_ops;
    t->ctx = x;
    tk_client_call_spec spec = {.path = "/api/v1/weights_info", .body = body.data,
                                .body_len = body.len, .give_body = true, .exec_retries = true};
    if ((rc = tk_task_submit(t, &spec, e))) {
        tk_client_task_release(t);
        return rc;
    }
    *out = t;
    return 0;
}

int tk_client_service_create_training_client_from_state(tk_client_service *s, const char *path,
                                                        tk_client_task **out, tk_err *e) {
    return from_state(s, path, false, out, e);
}

int tk_client_service_create_training_client_from_state_with_optimizer(tk_client_service *s,
                                                                       const char *path,
                                                                       tk_client_task **out,
                                                                       tk_err *e) {
    return from_state(s, path, true, out, e);
}

/* ---- sampling sessions ------------------------------------------------------------------------ */

static int sampling_session_advance(tk_task *t, tk_err *e) {
    tk_arena *a = tk_arena_new(0);
    if (!a) return tk_err_set(e, TK_ENOMEM, "%s: out of memory", t->what);
    tk_wire_create_sampling_session_response r;
    int rc = tk_task_decode(t, tk_task_part_response(t, 0),
                            TK_WIRE_MSG_CREATE_SAMPLING_SESSION_RESPONSE, a, &r, e);
    tk_client_sampling *sc = NULL;
    if (!rc) rc = tk_sampling_new(t->svc, r.sampling_session_id, &sc, e);
    tk_arena_free(a);
    if (rc) return rc;
    pthread_mutex_lock(&t->mu);
    t->sampling = sc;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static const tk_task_ops sampling_session_ops = {.advance = sampling_session_advance};

int tk_client_service_create_sampling_client(tk_client_service *s, const char *model_path,
                                             const char *base_model, tk_client_task **out,
                                             tk_err *e) {
    *out = NULL;
    const char *what = "create_sampling_client";
    int rc = need_session(s, what, e);
    if (rc) return rc;
    if (!model_path && !base_model)
        return tk_err_set(e, TK_EINVAL, "%s: model_path or base_model is required", what);
    if (model_path) {
        tk_arena *a = tk_arena_new(0);
        tk_wire_tinker_path tp;
        rc = a ? tk_wire_tinker_path_parse(model_path, a, &tp, e)
               : tk_err_set(e, TK_ENOMEM, "out of memory");
        tk_arena_free(a);
        if (rc) return tk_err_prefix(e, "%s: model_path: ", what);
    }
    tk_wire_create_sampling_session_request req;
    tk_wire_init(TK_WIRE_MSG_CREATE_SAMPLING_SESSION_REQUEST, &req);
    req.session_id = s->session_id;
    req.sampling_session_seq_id = tk_svc_next_sampling_seq(s);
    req.model_path = (char *)model_path;
    req.base_model = (char *)base_model;
    tk_buf body = {0};
    if ((rc = tk_wire_json_encode(TK_WIRE_MSG_CREATE_SAMPLING_SESSION_REQUEST, &req, &body, e))) {
        tk_buf_free(&body);
        return rc;
    }
    char name[160];
    snprintf(name, sizeof name, "create_sampling_session (%.120s)",
             model_path ? model_path : base_model);
    tk_client_call_spec spec = {.path = "/api/v1/create_sampling_session", .body = body.data,
                                .body_len = body.len, .give_body = true, .exec_retries = true};
    tk_task *t = tk_task_new(s, TK_CLIENT_TASK_CREATE_SAMPLING, TK_WIRE_MSG_COUNT_, name);
    if (!t) {
        tk_buf_free(&body);
        return tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
    }
    t->ops = &sampling_session_ops;
    if ((rc = tk_task_submit(t, &spec, e))) {
        tk_client_task_release(t);
        return rc;
    }
    *out = t;
    return 0;
}
