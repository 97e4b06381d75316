/* Training-model routes over the engine (protocol §3.3, §3.4): create_model, get_info,
 * forward_backward (JSON or protobuf, zstd undone by the HTTP layer), forward (JSON, SDK <= 0.24)
 * and optim_step. Each handler decodes and checks the body on its HTTP thread, then queues a job;
 * nothing runs here. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine_glue.h"
#include "routes.h"
#include "wire_bridge.h"

#define MAX_LORA_RANK 512

/* ---- create_model -------------------------------------------------------------------------------- */

static void h_create_model(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_arena *a = tk_arena_new(0);
    tk_wire_create_model_request w;
    tk_err e = {0};
    json_t *um = NULL;
    int status = a ? tk_server_req_wire(req, TK_WIRE_MSG_CREATE_MODEL_REQUEST, false, a, &w, &e)
                   : (tk_err_set(&e, TK_ENOMEM, "out of memory"), 503);
    tk_wire_lora_config lc;
    if (!status) {
        if (w.has_lora_config) lc = w.lora_config;
        else tk_wire_init(TK_WIRE_MSG_LORA_CONFIG, &lc);
        if (!w.session_id || !*w.session_id) status = 400, tk_err_set(&e, TK_EINVAL, "session_id: missing or empty");
        else if (!w.base_model || !*w.base_model) status = 400, tk_err_set(&e, TK_EINVAL, "base_model: missing or empty");
        else if (lc.rank < 1 || lc.rank > MAX_LORA_RANK)
            status = 400, tk_err_set(&e, TK_EINVAL, "lora_config.rank: %" PRId64 " is outside 1..%d", lc.rank,
                                     MAX_LORA_RANK);
        else if (!lc.train_attn && !lc.train_mlp && !lc.train_unembed)
            status = 400, tk_err_set(&e, TK_EINVAL, "lora_config: train_attn, train_mlp and train_unembed are all false; "
                                     "nothing would be trained");
        else if (lc.has_seed && lc.seed < 0)
            status = 400, tk_err_set(&e, TK_EINVAL, "lora_config.seed: must be >= 0");
    }
    if (!status && w.user_metadata && tk_json_parse(w.user_metadata, strlen(w.user_metadata), "user_metadata", &um, &e))
        status = 400;
    if (!status) {
        int rc = tk_server_resolve_base_model(s, w.base_model, &e);
        if (rc) status = rc == TK_ENOTFOUND ? 400 : tk_server_http_status(rc);
    }
    if (status) {
        tk_server_resp_error(resp, status, "create_model: %s", e.msg);
        goto out;
    }
    tk_engine_lora_config elc;
    tk_engine_lora_config_default(&elc);
    elc.rank = (int32_t)lc.rank;
    elc.seed = lc.has_seed ? (uint64_t)lc.seed : 0;
    elc.train_attn = lc.train_attn;
    elc.train_mlp = lc.train_mlp;
    elc.train_unembed = lc.train_unembed;
    tk_server_model_params p = {.base_model = w.base_model, .is_lora = true, .lora_rank = lc.rank,
                                .train_mlp = lc.train_mlp, .train_attn = lc.train_attn,
                                .train_unembed = lc.train_unembed, .user_metadata = um};
    tk_server_job *j = tk_server_engine_create_job(&elc);
    char rid[TK_SERVER_ID_MAX], mid[TK_SERVER_ID_MAX];
    int rc = j ? tk_server_model_create(s, w.session_id, w.model_seq_id, &p, req->api_key, j, rid, &e)
               : tk_err_set(&e, TK_ENOMEM, "out of memory");
    if (rc) {
        tk_server_resp_error(resp, tk_server_http_status(rc), "create_model: %s", e.msg);
    } else {
        snprintf(mid, sizeof mid, "%s:train:%" PRId64, w.session_id, w.model_seq_id);
        tk_server_resp_future(resp, rid, mid);
    }
out:
    json_decref(um);
    tk_arena_free(a);
}

/* ---- get_info ------------------------------------------------------------------------------------- */

static void h_get_info(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_arena *a = tk_arena_new(0);
    tk_wire_model_id_request w;
    tk_err e = {0};
    int status = a ? tk_server_req_wire(req, TK_WIRE_MSG_GET_INFO_REQUEST, false, a, &w, &e) : 503;
    tk_server_model *m = NULL;
    if (!status && (!w.model_id || !*w.model_id)) status = 400, tk_err_set(&e, TK_EINVAL, "model_id: missing or empty");
    if (!status && tk_server_model_get(s, w.model_id, &m, &e)) status = 404;
    char reason[600];
    tk_server_model_state st = m ? tk_server_model_state_of(s, m, reason, sizeof reason) : TK_SERVER_MODEL_FAILED;
    if (!status && st == TK_SERVER_MODEL_FAILED)
        status = 400, tk_err_set(&e, TK_EINVAL, "model %s could not be created: %s", m->id, reason);
    if (status) {
        tk_server_resp_error(resp, status, "get_info: %s", e.msg[0] ? e.msg : "out of memory");
    } else {
        /* arch and tokenizer_id are set by the creation job before the model turns ready */
        bool ready = st == TK_SERVER_MODEL_READY || st == TK_SERVER_MODEL_UNLOADED;
        json_t *md = json_pack("{s:s}", "model_name", m->base_model);
        if (md && ready && m->arch[0]) json_object_set_new(md, "arch", json_string(m->arch));
        if (md) json_object_set_new(md, "tokenizer_id", json_string(ready && m->tokenizer_id ? m->tokenizer_id
                                                                                             : m->base_model));
        tk_server_resp_json(resp, 200, json_pack("{s:s, s:s, s:s, s:b, s:I, s:o}", "type", "get_info", "model_id",
                                                 m->id, "model_name", m->base_model, "is_lora", m->is_lora,
                                                 "lora_rank", (json_int_t)m->lora_rank, "model_data", md));
    }
    tk_server_model_unref(s, m);
    tk_arena_free(a);
}

/* ---- forward_backward / forward --------------------------------------------------------------------- */

static void fb(tk_server *s, const tk_server_req *req, tk_server_resp *resp, bool forward_route) {
    const char *route = forward_route ? "forward" : "forward_backward";
    tk_arena *a = tk_arena_new(0);
    tk_wire_forward_backward_request w;
    memset(&w, 0, sizeof w);
    tk_err e = {0};
    if (!a) {
        tk_server_resp_error(resp, 503, "%s: out of memory", route);
        return;
    }
    int status = 0;
    if (tk_server_fb_has_sparse(req->body, req->body_len, req->body_type == TK_SERVER_BODY_PROTOBUF))
        status = 400, tk_err_set(&e, TK_EUNSUPPORTED, "sparse (CSR) tensors are not accepted: every loss input of the "
                                 "local engine is a 1-D tensor as long as its datum; send it dense");
    if (!status) status = tk_server_req_wire(req, TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, !forward_route, a, &w, &e);
    bool decoded = !status; /* a refused decode leaves w unspecified: peek at the body instead */
    if (!status) {
        if (forward_route) w.forward_only = true; /* /forward never accumulates, whichever key it used */
        if (tk_server_fb_check(&w, s->cfg.max_request_tokens, &e)) status = 400;
    }
    tk_engine_request er;
    if (!status && tk_server_fb_to_engine(&w, a, &er, &e)) status = 503;
    if (status) {
        tk_server_refuse_train(s, req, resp, route, status, decoded ? w.model_id : NULL, w.has_seq_id, w.seq_id, &e);
        tk_arena_free(a);
        return;
    }
    char mid[TK_SERVER_ID_MAX];
    snprintf(mid, sizeof mid, "%s", w.model_id);
    int64_t seq = w.seq_id;
    /* the job takes the arena that holds the request */
    tk_server_job *j = tk_server_engine_fb_job(a, &er, w.forward_only, tk_server_fb_encode);
    char rid[TK_SERVER_ID_MAX];
    int rc = j ? tk_server_submit_train(s, mid, seq, tk_hash_bytes(req->body, req->body_len), j, rid, &e)
               : tk_err_set(&e, TK_ENOMEM, "out of memory");
    if (rc) tk_server_resp_error(resp, tk_server_http_status(rc), "%s: %s", route, e.msg);
    else tk_server_resp_future(resp, rid, mid);
}

static void h_forward_backward(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    fb(s, req, resp, false);
}

static void h_forward(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    fb(s, req, resp, true);
}

/* ---- optim_step -------------------------------------------------------------------------------------- */

static int check_adam(const tk_wire_adam_params *p, tk_err *e) {
    struct { const char *name; double v, lo, hi; bool hi_open; } f[] = {
        {"learning_rate", p->learning_rate, 0, INFINITY, false}, {"beta1", p->beta1, 0, 1, true},
        {"beta2", p->beta2, 0, 1, true}, {"eps", p->eps, 0, INFINITY, false},
        {"weight_decay", p->weight_decay, 0, INFINITY, false}, {"grad_clip_norm", p->grad_clip_norm, 0, INFINITY, false},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!isfinite(f[i].v) || f[i].v < f[i].lo || (f[i].hi_open && f[i].v >= f[i].hi))
            return tk_err_set(e, TK_EINVAL, "adam_params.%s: %g is outside %s", f[i].name, f[i].v,
                              f[i].hi_open ? "[0, 1)" : "[0, inf) or not finite");
    return 0;
}

static void h_optim_step(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_arena *a = tk_arena_new(0);
    tk_wire_optim_step_request w;
    memset(&w, 0, sizeof w);
    tk_err e = {0};
    int status = a ? tk_server_req_wire(req, TK_WIRE_MSG_OPTIM_STEP_REQUEST, false, a, &w, &e) : 503;
    bool decoded = !status;
    if (!status && (!w.model_id || !*w.model_id)) status = 400, tk_err_set(&e, TK_EINVAL, "model_id: missing or empty");
    if (!status && (!w.has_seq_id || w.seq_id < 1))
        status = 400, tk_err_set(&e, TK_EINVAL, "seq_id: must be >= 1%s", w.has_seq_id ? "" : "; it is missing");
    if (!status && check_adam(&w.adam_params, &e)) status = 400;
    if (status) {
        tk_server_refuse_train(s, req, resp, "optim_step", status, decoded ? w.model_id : NULL, w.has_seq_id, w.seq_id,
                               &e);
        tk_arena_free(a);
        return;
    }
    tk_engine_adam p = {w.adam_params.learning_rate, w.adam_params.beta1, w.adam_params.beta2, w.adam_params.eps,
                        w.adam_params.weight_decay, w.adam_params.grad_clip_norm};
    tk_server_job *j = tk_server_engine_optim_job(&p);
    char rid[TK_SERVER_ID_MAX];
    int rc = j ? tk_server_submit_train(s, w.model_id, w.seq_id, tk_hash_bytes(req->body, req->body_len), j, rid, &e)
               : tk_err_set(&e, TK_ENOMEM, "out of memory");
    if (rc) tk_server_resp_error(resp, tk_server_http_status(rc), "optim_step: %s", e.msg);
    else tk_server_resp_future(resp, rid, w.model_id);
    tk_arena_free(a);
}

int tk_server_routes_train(tk_server *s, tk_err *e) {
    struct { const char *p; tk_server_handler fn; } r[] = {
        {"/api/v1/create_model", h_create_model}, {"/api/v1/get_info", h_get_info},
        {"/api/v1/forward_backward", h_forward_backward}, {"/api/v1/forward", h_forward},
        {"/api/v1/optim_step", h_optim_step},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        int rc = tk_server_route_add(s, "POST", r[i].p, r[i].fn, NULL, 0, e);
        if (rc) return rc;
    }
    return 0;
}

int tk_server_routes_engine(tk_server *s, tk_err *e) {
    int rc = tk_server_routes_train(s, e);
    if (!rc) rc = tk_server_routes_weights(s, e);
    if (!rc) rc = tk_server_routes_sample(s, e);
    return rc;
}
