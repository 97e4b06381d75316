/* Weights routes over the engine (protocol §3.5): save_weights, save_weights_for_sampler (named,
 * and unnamed: a new sampling session) and load_weights (legacy addressing by model_id + seq_id,
 * and create-via-load by session_id + model_seq_id). The checkpoint itself is written or read by
 * the job, in the model's seq_id order; the handlers only check and queue. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine_glue.h"
#include "routes.h"

/* The checks every seq_id'd weights request shares. */
static int check_train(const char *model_id, bool has_seq, int64_t seq, tk_err *e) {
    if (!model_id || !*model_id) return tk_err_set(e, TK_EINVAL, "model_id: missing or empty");
    if (!has_seq || seq < 1) return tk_err_set(e, TK_EINVAL, "seq_id: must be >= 1%s", has_seq ? "" : "; it is missing");
    return 0;
}

static int check_ttl(bool has, int64_t ttl, tk_err *e) {
    if (has && ttl <= 0) return tk_err_set(e, TK_EINVAL, "ttl_seconds: must be positive (omit it for no expiry), got %"
                                           PRId64, ttl);
    return 0;
}

/* Submit job for model_id/seq and answer. */
static void submit(tk_server *s, const tk_server_req *req, tk_server_resp *resp, const char *route, const char *model_id,
                   int64_t seq, tk_server_job *j) {
    tk_err e = {0};
    char rid[TK_SERVER_ID_MAX];
    int rc = j ? tk_server_submit_train(s, model_id, seq, tk_hash_bytes(req->body, req->body_len), j, rid, &e)
               : tk_err_set(&e, TK_ENOMEM, "out of memory");
    if (rc) tk_server_resp_error(resp, tk_server_http_status(rc), "%s: %s", route, e.msg);
    else tk_server_resp_future(resp, rid, model_id);
}

static void h_save_weights(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_arena *a = tk_arena_new(0);
    tk_wire_save_weights_request w;
    memset(&w, 0, sizeof w);
    tk_err e = {0};
    int status = a ? tk_server_req_wire(req, TK_WIRE_MSG_SAVE_WEIGHTS_REQUEST, false, a, &w, &e) : 503;
    bool decoded = !status;
    if (!status && check_train(w.model_id, w.has_seq_id, w.seq_id, &e)) status = 400;
    if (!status && !w.path)
        status = 400, tk_err_set(&e, TK_EINVAL, "path: missing (the checkpoint name, e.g. \"step-10\")");
    if (!status && tk_server_name_check("path (the checkpoint name)", w.path, false, &e)) status = 400;
    if (!status && check_ttl(w.has_ttl_seconds, w.ttl_seconds, &e)) status = 400;
    if (status)
        tk_server_refuse_train(s, req, resp, "save_weights", status, decoded ? w.model_id : NULL, w.has_seq_id,
                               w.seq_id, &e);
    else
        submit(s, req, resp, "save_weights", w.model_id, w.seq_id,
               tk_server_engine_save_job(TK_SERVER_CKPT_WEIGHTS, w.path, w.overwrite,
                                         w.has_ttl_seconds ? (double)w.ttl_seconds : 0));
    tk_arena_free(a);
}

static void h_save_for_sampler(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_arena *a = tk_arena_new(0);
    tk_wire_save_weights_for_sampler_request w;
    memset(&w, 0, sizeof w);
    tk_err e = {0};
    int status = a ? tk_server_req_wire(req, TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST, false, a, &w, &e) : 503;
    bool decoded = !status;
    if (!status && check_train(w.model_id, w.has_seq_id, w.seq_id, &e)) status = 400;
    if (!status && w.path && tk_server_name_check("path (the checkpoint name)", w.path, false, &e)) status = 400;
    if (!status && !w.path && !w.has_sampling_session_seq_id)
        status = 400, tk_err_set(&e, TK_EINVAL, "give path (a checkpoint name) or sampling_session_seq_id (for a "
                                 "sampling session without a saved checkpoint)");
    if (!status && w.has_sampling_session_seq_id && w.sampling_session_seq_id < 0)
        status = 400, tk_err_set(&e, TK_EINVAL, "sampling_session_seq_id: must be >= 0");
    if (!status && check_ttl(w.has_ttl_seconds, w.ttl_seconds, &e)) status = 400;
    if (status) {
        tk_server_refuse_train(s, req, resp, "save_weights_for_sampler", status, decoded ? w.model_id : NULL,
                               w.has_seq_id, w.seq_id, &e);
    } else if (w.path) {
        submit(s, req, resp, "save_weights_for_sampler", w.model_id, w.seq_id,
               tk_server_engine_save_job(TK_SERVER_CKPT_SAMPLER, w.path, false,
                                         w.has_ttl_seconds ? (double)w.ttl_seconds : 0));
    } else {
        submit(s, req, resp, "save_weights_for_sampler", w.model_id, w.seq_id,
               tk_server_engine_sampler_copy_job(w.sampling_session_seq_id));
    }
    tk_arena_free(a);
}

/* create-via-load: the model <session>:train:<model_seq_id> made from the checkpoint, with the
 * LoRA configuration the checkpoint records. */
static void create_via_load(tk_server *s, const tk_server_req *req, tk_server_resp *resp,
                            const tk_wire_load_weights_request *w) {
    tk_err e = {0};
    char *dir = NULL;
    json_t *info = NULL, *um = NULL;
    tk_engine_ckpt_info ci;
    memset(&ci, 0, sizeof ci);
    int rc = tk_server_store_find_path(s->store, w->path, &dir, &info, &e);
    if (!rc) rc = tk_engine_checkpoint_info(dir, &ci, &e);
    const char *run_base = json_string_value(json_object_get(json_object_get(info, "run"), "base_model"));
    const char *base = ci.base_model[0] ? ci.base_model : run_base;
    if (!rc && !base) rc = tk_err_set(&e, TK_EINVAL, "%s does not record its base model", w->path);
    if (!rc && w->base_model && strcmp(w->base_model, base))
        rc = tk_err_set(&e, TK_EINVAL, "base_model \"%s\" does not match the base model \"%s\" of %s", w->base_model,
                        base, w->path);
    if (!rc && (rc = tk_server_resolve_base_model(s, base, &e)) == TK_ENOTFOUND) rc = TK_EINVAL;
    if (!rc && w->user_metadata) rc = tk_json_parse(w->user_metadata, strlen(w->user_metadata), "user_metadata", &um, &e);
    char rid[TK_SERVER_ID_MAX], mid[TK_SERVER_ID_MAX];
    if (!rc) {
        tk_server_model_params p = {.base_model = base, .is_lora = true, .lora_rank = ci.lora.rank,
                                    .train_mlp = ci.lora.train_mlp, .train_attn = ci.lora.train_attn,
                                    .train_unembed = ci.lora.train_unembed, .user_metadata = um};
        tk_server_job *j = tk_server_engine_load_job(w->path, w->optimizer, true);
        rc = j ? tk_server_model_create(s, w->session_id, w->model_seq_id, &p, req->api_key, j, rid, &e)
               : tk_err_set(&e, TK_ENOMEM, "out of memory");
    }
    if (rc) {
        tk_server_resp_error(resp, tk_server_http_status(rc), "load_weights: %s", e.msg);
    } else {
        snprintf(mid, sizeof mid, "%s:train:%" PRId64, w->session_id, w->model_seq_id);
        tk_server_resp_future(resp, rid, mid);
    }
    json_decref(um);
    json_decref(info);
    free(dir);
}

static void h_load_weights(tk_server *s, const tk_server_req *req, tk_server_resp *resp, void *user) {
    (void)user;
    tk_arena *a = tk_arena_new(0);
    tk_wire_load_weights_request w;
    memset(&w, 0, sizeof w);
    tk_err e = {0};
    int status = a ? tk_server_req_wire(req, TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST, false, a, &w, &e) : 503;
    bool decoded = !status;
    char run[TK_SERVER_ID_MAX], name[TK_SERVER_NAME_MAX];
    tk_server_ckpt_kind kind;
    bool by_model = decoded && w.model_id;
    if (!status && !by_model && !(w.session_id && w.has_model_seq_id))
        status = 400, tk_err_set(&e, TK_EINVAL, "give model_id and seq_id (load into a model), or session_id and "
                                 "model_seq_id (create the model from the checkpoint)");
    if (!status && by_model && check_train(w.model_id, w.has_seq_id, w.seq_id, &e)) status = 400;
    if (!status && !by_model && w.model_seq_id < 0)
        status = 400, tk_err_set(&e, TK_EINVAL, "model_seq_id: must be >= 0");
    if (!status && !w.path) status = 400, tk_err_set(&e, TK_EINVAL, "path: missing (a tinker:// checkpoint path)");
    if (!status && tk_server_tinker_path_parse(w.path, run, &kind, name, &e)) status = 400;
    /* the checkpoint must exist and be readable by this key (the job finds it again when it runs) */
    if (!status) status = tk_server_req_ckpt_access(s, req, w.path, false, &e);
    if (status)
        tk_server_refuse_train(s, req, resp, "load_weights", status, by_model ? w.model_id : NULL, w.has_seq_id,
                               w.seq_id, &e);
    else if (by_model)
        submit(s, req, resp, "load_weights", w.model_id, w.seq_id, tk_server_engine_load_job(w.path, w.optimizer, false));
    else
        create_via_load(s, req, resp, &w);
    tk_arena_free(a);
}

int tk_server_routes_weights(tk_server *s, tk_err *e) {
    int rc = tk_server_route_add(s, "POST", "/api/v1/save_weights", h_save_weights, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "POST", "/api/v1/save_weights_for_sampler", h_save_for_sampler, NULL, 0, e);
    if (!rc) rc = tk_server_route_add(s, "POST", "/api/v1/load_weights", h_load_weights, NULL, 0, e);
    return rc;
}
