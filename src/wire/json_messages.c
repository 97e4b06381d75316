/* The field tables of every message of §3, §6 and §7 (field order = the SDK's pydantic order,
 * so our JSON reads like the SDK's), and the public JSON entry points. */
#include "json_internal.h"
#include "wire_internal.h"

#include <stddef.h>
#include <string.h>

#define FIELD(nm, k, fl, o, h, n, ax, dn, ds) \
    { nm, k, fl, (int32_t)(o), (int32_t)(h), (int32_t)(n), ax, dn, ds }
#define STR(T, m, fl) FIELD(#m, TK_FK_STR, fl, offsetof(T, m), -1, -1, NULL, 0, NULL)
#define STR_DEF(T, m, s) FIELD(#m, TK_FK_STR, TK_F_DEF, offsetof(T, m), -1, -1, NULL, 0, s)
#define LIT(T, m, s) FIELD(#m, TK_FK_STR, TK_F_REQ | TK_F_LITERAL, offsetof(T, m), -1, -1, s, 0, NULL)
#define DT(T, m, fl) FIELD(#m, TK_FK_DATETIME, fl, offsetof(T, m), -1, -1, NULL, 0, NULL)
#define I64(T, m) FIELD(#m, TK_FK_I64, TK_F_REQ, offsetof(T, m), -1, -1, NULL, 0, NULL)
#define I64_INIT(T, m, v) FIELD(#m, TK_FK_I64, TK_F_REQ, offsetof(T, m), -1, -1, NULL, v, NULL)
#define I64_OPT(T, m) FIELD(#m, TK_FK_I64, TK_F_OPT, offsetof(T, m), offsetof(T, has_##m), -1, NULL, 0, NULL)
#define I64_DEF(T, m, v) FIELD(#m, TK_FK_I64, TK_F_DEF, offsetof(T, m), -1, -1, NULL, v, NULL)
#define F64_DEF(T, m, v) FIELD(#m, TK_FK_F64, TK_F_DEF, offsetof(T, m), -1, -1, NULL, v, NULL)
#define BOOL(T, m) FIELD(#m, TK_FK_BOOL, TK_F_REQ, offsetof(T, m), -1, -1, NULL, 0, NULL)
#define BOOL_OPT(T, m) FIELD(#m, TK_FK_BOOL, TK_F_OPT, offsetof(T, m), offsetof(T, has_##m), -1, NULL, 0, NULL)
#define BOOL_DEF(T, m, v) FIELD(#m, TK_FK_BOOL, TK_F_DEF, offsetof(T, m), -1, -1, NULL, v, NULL)
#define ENUM(T, m, names, fl) FIELD(#m, TK_FK_ENUM, fl, offsetof(T, m), -1, -1, names, 0, NULL)
#define TAG(lit) FIELD("type", TK_FK_TAG, TK_F_DEF, -1, -1, -1, lit, 0, NULL)
#define TAGN(nm, lit) FIELD(nm, TK_FK_TAG, TK_F_DEF, -1, -1, -1, lit, 0, NULL)
#define STRLIST(T, m) FIELD(#m, TK_FK_STR_LIST, TK_F_REQ, offsetof(T, m), -1, -1, NULL, 0, NULL)
#define STRMAP_OPT(T, m) FIELD(#m, TK_FK_STR_MAP, TK_F_OPT, offsetof(T, m), -1, -1, NULL, 0, NULL)
#define F64MAP(T, m, fl) FIELD(#m, TK_FK_F64_MAP, fl, offsetof(T, m), -1, -1, NULL, 0, NULL)
#define RAW(T, m, fl) FIELD(#m, TK_FK_RAW_OBJ, fl, offsetof(T, m), -1, -1, NULL, 0, NULL)
#define OBJ(T, m, d) FIELD(#m, TK_FK_OBJ, TK_F_REQ, offsetof(T, m), -1, -1, &d, 0, NULL)
#define OBJ_OPT(T, m, d) FIELD(#m, TK_FK_OBJ, TK_F_OPT, offsetof(T, m), offsetof(T, has_##m), -1, &d, 0, NULL)
#define OBJARR(T, m, d) FIELD(#m, TK_FK_OBJ_ARRAY, TK_F_REQ, offsetof(T, m), -1, offsetof(T, n_##m), &d, 0, NULL)
#define I32ARR(T, m) FIELD(#m, TK_FK_I32_ARRAY, TK_F_REQ, offsetof(T, m), -1, offsetof(T, n_##m), NULL, 0, NULL)
#define F32ARR_OPT(T, m) \
    FIELD(#m, TK_FK_F32_ARRAY, TK_F_OPT, offsetof(T, m), offsetof(T, has_##m), offsetof(T, n_##m), NULL, 0, NULL)
#define CUSTOM(nm, T, m, cc, fl) FIELD(nm, TK_FK_CUSTOM, fl, offsetof(T, m), -1, -1, &cc, 0, NULL)
#define CUSTOM_N(nm, T, m, cc, fl) FIELD(nm, TK_FK_CUSTOM, fl, offsetof(T, m), -1, offsetof(T, n_##m), &cc, 0, NULL)

#define DESC(var, nm, tag, T, req, ...)                                                             \
    static const tk_field var##_fields[] = {__VA_ARGS__};                                          \
    const tk_msg_desc var = {{nm, tag, sizeof(T), req}, var##_fields,                               \
                             sizeof var##_fields / sizeof var##_fields[0], NULL, NULL, NULL, NULL}
#define DESC_CHECK(var, nm, tag, T, req, chk_dec, chk_enc, ...)                                      \
    static const tk_field var##_fields[] = {__VA_ARGS__};                                          \
    const tk_msg_desc var = {{nm, tag, sizeof(T), req}, var##_fields,                               \
                             sizeof var##_fields / sizeof var##_fields[0], chk_dec, chk_enc, NULL, NULL}

/* ---- enum name tables ----------------------------------------------------------------------- */

const char *const tk_wire_loss_fn_names[] = {"cross_entropy", "importance_sampling", "ppo", "cispo", "dro", NULL};
const char *const tk_wire_stop_reason_names[] = {"stop", "length", NULL};
static const char *const k_queue_states[] = {"active", "paused_capacity", "paused_rate_limit", NULL};
static const char *const k_categories[] = {"unknown", "server", "user", NULL};
static const char *const k_event_types[] = {"SESSION_START", "SESSION_END", "UNHANDLED_EXCEPTION", "GENERIC_EVENT", NULL};
static const char *const k_severities[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", NULL};
static const char *const k_checkpoint_types[] = {"training", "sampler", NULL};
static const char *const k_trace_status[] = {"pending", "ready", "failed", NULL};

/* ---- nested types --------------------------------------------------------------------------- */

static int tensor_decode_top(tk_jr *r, void *obj) { return tk_json_tensor_decode(r, obj); }
static int tensor_encode_top(tk_jw *w, const void *obj) { return tk_json_tensor_encode(w, obj); }
static const tk_msg_desc d_tensor = {{"TensorData", NULL, sizeof(tk_wire_tensor), true}, NULL, 0,
                                     NULL, NULL, tensor_decode_top, tensor_encode_top};

static int mi_decode_top(tk_jr *r, void *obj) { return tk_json_model_input_decode(r, obj); }
static int mi_encode_top(tk_jw *w, const void *obj) { return tk_json_model_input_encode(w, obj); }
static const tk_msg_desc d_model_input = {{"ModelInput", NULL, sizeof(tk_wire_model_input), true}, NULL, 0,
                                          NULL, NULL, mi_decode_top, mi_encode_top};

DESC(tk_desc_datum, "Datum", NULL, tk_wire_datum, true,
     CUSTOM("model_input", tk_wire_datum, model_input, tk_cc_model_input, TK_F_REQ),
     CUSTOM("loss_fn_inputs", tk_wire_datum, loss_fn_inputs, tk_cc_tensor_map, TK_F_DEF));

DESC(tk_desc_forward_backward_input, "ForwardBackwardInput", NULL, tk_wire_forward_backward_input, true,
     OBJARR(tk_wire_forward_backward_input, data, tk_desc_datum),
     ENUM(tk_wire_forward_backward_input, loss_fn, tk_wire_loss_fn_names, TK_F_REQ),
     F64MAP(tk_wire_forward_backward_input, loss_fn_config, TK_F_OPT));

DESC(d_adam, "AdamParams", NULL, tk_wire_adam_params, true,
     F64_DEF(tk_wire_adam_params, learning_rate, 1e-4), F64_DEF(tk_wire_adam_params, beta1, 0.9),
     F64_DEF(tk_wire_adam_params, beta2, 0.95), F64_DEF(tk_wire_adam_params, eps, 1e-12),
     F64_DEF(tk_wire_adam_params, weight_decay, 0.0), F64_DEF(tk_wire_adam_params, grad_clip_norm, 0.0));

DESC(d_sampling_params, "SamplingParams", NULL, tk_wire_sampling_params, true,
     I64_OPT(tk_wire_sampling_params, max_tokens), I64_OPT(tk_wire_sampling_params, seed),
     CUSTOM("stop", tk_wire_sampling_params, stop_kind, tk_cc_stop, TK_F_OPT),
     F64_DEF(tk_wire_sampling_params, temperature, 1.0), I64_DEF(tk_wire_sampling_params, top_k, -1),
     F64_DEF(tk_wire_sampling_params, top_p, 1.0));

DESC(d_lora, "LoraConfig", NULL, tk_wire_lora_config, true,
     I64_INIT(tk_wire_lora_config, rank, 32), I64_OPT(tk_wire_lora_config, seed),
     BOOL_DEF(tk_wire_lora_config, train_unembed, 1), BOOL_DEF(tk_wire_lora_config, train_mlp, 1),
     BOOL_DEF(tk_wire_lora_config, train_attn, 1));

/* ---- requests ------------------------------------------------------------------------------- */

DESC(d_client_config_request, "client_config request", NULL, tk_wire_client_config_request, true,
     STR(tk_wire_client_config_request, sdk_version, TK_F_REQ));

DESC(d_create_session_request, "create_session request", "create_session", tk_wire_create_session_request, true,
     STRLIST(tk_wire_create_session_request, tags),
     RAW(tk_wire_create_session_request, user_metadata, TK_F_REQ),
     STR(tk_wire_create_session_request, sdk_version, TK_F_REQ),
     STR(tk_wire_create_session_request, project_id, TK_F_OPT), TAG("create_session"));

DESC(d_session_heartbeat_request, "session_heartbeat request", "session_heartbeat",
     tk_wire_session_heartbeat_request, true,
     STR(tk_wire_session_heartbeat_request, session_id, TK_F_REQ), TAG("session_heartbeat"));

DESC(d_create_sampling_session_request, "create_sampling_session request", "create_sampling_session",
     tk_wire_create_sampling_session_request, true,
     STR(tk_wire_create_sampling_session_request, session_id, TK_F_REQ),
     I64(tk_wire_create_sampling_session_request, sampling_session_seq_id),
     STR(tk_wire_create_sampling_session_request, base_model, TK_F_OPT),
     STR(tk_wire_create_sampling_session_request, model_path, TK_F_OPT), TAG("create_sampling_session"));

DESC(d_create_model_request, "create_model request", "create_model", tk_wire_create_model_request, true,
     STR(tk_wire_create_model_request, session_id, TK_F_REQ), I64(tk_wire_create_model_request, model_seq_id),
     STR(tk_wire_create_model_request, base_model, TK_F_REQ),
     RAW(tk_wire_create_model_request, user_metadata, TK_F_OPT),
     OBJ_OPT(tk_wire_create_model_request, lora_config, d_lora), TAG("create_model"));

DESC(d_get_info_request, "get_info request", "get_info", tk_wire_model_id_request, true,
     STR(tk_wire_model_id_request, model_id, TK_F_REQ), TAG("get_info"));

DESC(d_unload_model_request, "unload_model request", "unload_model", tk_wire_model_id_request, true,
     STR(tk_wire_model_id_request, model_id, TK_F_REQ), TAG("unload_model"));

static const tk_msg_desc d_forward_backward_request = {
    {"forward_backward request", NULL, sizeof(tk_wire_forward_backward_request), true}, NULL, 0, NULL, NULL,
    tk_json_fb_request_decode, tk_json_fb_request_encode};

DESC(d_optim_step_request, "optim_step request", "optim_step", tk_wire_optim_step_request, true,
     OBJ(tk_wire_optim_step_request, adam_params, d_adam), STR(tk_wire_optim_step_request, model_id, TK_F_REQ),
     I64_OPT(tk_wire_optim_step_request, seq_id), TAG("optim_step"));

DESC(d_save_weights_request, "save_weights request", "save_weights", tk_wire_save_weights_request, true,
     STR(tk_wire_save_weights_request, model_id, TK_F_REQ), STR(tk_wire_save_weights_request, path, TK_F_OPT),
     I64_OPT(tk_wire_save_weights_request, seq_id), I64_OPT(tk_wire_save_weights_request, ttl_seconds),
     BOOL_DEF(tk_wire_save_weights_request, overwrite, 0), TAG("save_weights"));

DESC(d_save_weights_for_sampler_request, "save_weights_for_sampler request", "save_weights_for_sampler",
     tk_wire_save_weights_for_sampler_request, true,
     STR(tk_wire_save_weights_for_sampler_request, model_id, TK_F_REQ),
     STR(tk_wire_save_weights_for_sampler_request, path, TK_F_OPT),
     I64_OPT(tk_wire_save_weights_for_sampler_request, sampling_session_seq_id),
     I64_OPT(tk_wire_save_weights_for_sampler_request, seq_id),
     I64_OPT(tk_wire_save_weights_for_sampler_request, ttl_seconds), TAG("save_weights_for_sampler"));

DESC(d_load_weights_request, "load_weights request", "load_weights", tk_wire_load_weights_request, true,
     STR(tk_wire_load_weights_request, model_id, TK_F_OPT), I64_OPT(tk_wire_load_weights_request, seq_id),
     STR(tk_wire_load_weights_request, session_id, TK_F_OPT), I64_OPT(tk_wire_load_weights_request, model_seq_id),
     STR(tk_wire_load_weights_request, base_model, TK_F_OPT),
     RAW(tk_wire_load_weights_request, user_metadata, TK_F_OPT),
     STR(tk_wire_load_weights_request, path, TK_F_REQ), BOOL(tk_wire_load_weights_request, optimizer),
     STR(tk_wire_load_weights_request, weights_access_token, TK_F_OPT), TAG("load_weights"));

DESC(d_weights_info_request, "weights_info request", NULL, tk_wire_weights_info_request, true,
     STR(tk_wire_weights_info_request, tinker_path, TK_F_REQ));

DESC(d_sample_request, "sample request", "sample", tk_wire_sample_request, true,
     I64_DEF(tk_wire_sample_request, num_samples, 1),
     CUSTOM("prompt", tk_wire_sample_request, prompt, tk_cc_model_input, TK_F_REQ),
     OBJ(tk_wire_sample_request, sampling_params, d_sampling_params),
     STR(tk_wire_sample_request, base_model, TK_F_OPT), STR(tk_wire_sample_request, model_path, TK_F_OPT),
     STR(tk_wire_sample_request, sampling_session_id, TK_F_OPT), I64_OPT(tk_wire_sample_request, seq_id),
     BOOL_OPT(tk_wire_sample_request, prompt_logprobs), I64_DEF(tk_wire_sample_request, topk_prompt_logprobs, 0),
     TAG("sample"));

DESC(d_retrieve_future_request, "retrieve_future request", NULL, tk_wire_retrieve_future_request, true,
     STR(tk_wire_retrieve_future_request, request_id, TK_F_REQ),
     BOOL_DEF(tk_wire_retrieve_future_request, allow_metadata_only, 0));

/* Each telemetry event kind has its own required fields. */
static int event_missing(const tk_wire_telemetry_event *ev) {
    switch (ev->event) {
    case TK_WIRE_EVENT_SESSION_END: return ev->duration ? 0 : 1;
    case TK_WIRE_EVENT_UNHANDLED_EXCEPTION: return !ev->error_type ? 2 : !ev->error_message ? 3 : 0;
    case TK_WIRE_EVENT_GENERIC_EVENT: return ev->event_name ? 0 : 4;
    default: return 0;
    }
}
static const char *const k_event_field[] = {"", "duration", "error_type", "error_message", "event_name"};
static int event_check_decoded(tk_jr *r, void *obj) {
    int m = event_missing(obj);
    if (!m) return 0;
    return tk_jr_fail(r, TK_EINVAL, "%s: required for a %s event", k_event_field[m],
                      k_event_types[((tk_wire_telemetry_event *)obj)->event]);
}
static int event_check_encode(tk_jw *w, const void *obj) {
    const tk_wire_telemetry_event *ev = obj;
    if ((int)ev->event < 0 || ev->event > TK_WIRE_EVENT_GENERIC_EVENT)
        return tk_jw_fail(w, TK_EINVAL, "invalid event type %d", (int)ev->event);
    int m = event_missing(obj);
    if (!m) return 0;
    return tk_jw_fail(w, TK_EINVAL, "%s: required for a %s event", k_event_field[m], k_event_types[ev->event]);
}

DESC_CHECK(d_telemetry_event, "telemetry event", NULL, tk_wire_telemetry_event, true, event_check_decoded,
           event_check_encode,
           ENUM(tk_wire_telemetry_event, event, k_event_types, TK_F_REQ),
           STR(tk_wire_telemetry_event, event_id, TK_F_REQ), I64(tk_wire_telemetry_event, event_session_index),
           ENUM(tk_wire_telemetry_event, severity, k_severities, TK_F_REQ),
           DT(tk_wire_telemetry_event, timestamp, TK_F_REQ), STR(tk_wire_telemetry_event, duration, TK_F_OPT),
           STR(tk_wire_telemetry_event, error_type, TK_F_OPT),
           STR(tk_wire_telemetry_event, error_message, TK_F_OPT),
           STR(tk_wire_telemetry_event, traceback, TK_F_OPT), STR(tk_wire_telemetry_event, event_name, TK_F_OPT),
           RAW(tk_wire_telemetry_event, event_data, TK_F_OPT));

DESC(d_telemetry_request, "telemetry request", NULL, tk_wire_telemetry_request, true,
     OBJARR(tk_wire_telemetry_request, events, d_telemetry_event),
     STR(tk_wire_telemetry_request, platform, TK_F_REQ), STR(tk_wire_telemetry_request, sdk_version, TK_F_REQ),
     STR(tk_wire_telemetry_request, session_id, TK_F_REQ), STR(tk_wire_telemetry_request, process_uuid, TK_F_REQ));

DESC(d_session_project_request, "session project request", NULL, tk_wire_session_project_request, true,
     STR(tk_wire_session_project_request, project_id, TK_F_REQ));

DESC(d_checkpoint_ttl_request, "checkpoint ttl request", NULL, tk_wire_checkpoint_ttl_request, true,
     FIELD("ttl_seconds", TK_FK_I64, TK_F_NULL, offsetof(tk_wire_checkpoint_ttl_request, ttl_seconds),
           offsetof(tk_wire_checkpoint_ttl_request, has_ttl_seconds), -1, NULL, 0, NULL));

/* ---- results -------------------------------------------------------------------------------- */

DESC(d_client_config, "client_config response", NULL, tk_wire_client_config, false,
     BOOL_DEF(tk_wire_client_config, pjwt_auth_enabled, 0),
     STR_DEF(tk_wire_client_config, credential_default_source, "api_key"),
     I64_DEF(tk_wire_client_config, sample_dispatch_bytes_semaphore_size, 10485760),
     I64_DEF(tk_wire_client_config, inflight_response_bytes_semaphore_size, 52428800),
     BOOL_DEF(tk_wire_client_config, parallel_fwdbwd_chunks, 1),
     BOOL_DEF(tk_wire_client_config, proto_compress_fwdbwd, 0),
     I64_DEF(tk_wire_client_config, fwdbwd_max_chunk_len, 1024),
     I64_DEF(tk_wire_client_config, fwdbwd_max_chunk_bytes_count, 5000000),
     I64_DEF(tk_wire_client_config, fwdbwd_dispatch_bytes_semaphore_size, 50000000),
     I64_DEF(tk_wire_client_config, billing_exception_max_pause_duration_sec, 3600),
     BOOL_DEF(tk_wire_client_config, sample_no_retries, 0),
     BOOL_DEF(tk_wire_client_config, sample_enable_stuck_detection, 1),
     I64_DEF(tk_wire_client_config, sample_max_concurrent_requests, 2000),
     BOOL_DEF(tk_wire_client_config, use_pyqwest_transport, 1),
     BOOL_DEF(tk_wire_client_config, create_model_via_load_weights, 0));

DESC(d_dynamic_config, "dynamic_config response", NULL, tk_wire_dynamic_config, false,
     I64_DEF(tk_wire_dynamic_config, refresh_interval_sec, 300));

DESC(d_auth_token_response, "auth token response", NULL, tk_wire_auth_token_response, false,
     STR(tk_wire_auth_token_response, jwt, TK_F_REQ));

DESC(d_health_response, "healthz response", NULL, tk_wire_health_response, false,
     LIT(tk_wire_health_response, status, "ok"));

DESC(d_supported_model, "supported model", NULL, tk_wire_supported_model, false,
     STR(tk_wire_supported_model, model_name, TK_F_OPT), I64_OPT(tk_wire_supported_model, max_context_length));

DESC(d_server_capabilities, "get_server_capabilities response", NULL, tk_wire_server_capabilities, false,
     OBJARR(tk_wire_server_capabilities, supported_models, d_supported_model));

DESC(d_create_session_response, "create_session response", "create_session", tk_wire_create_session_response,
     false, TAG("create_session"), STR(tk_wire_create_session_response, info_message, TK_F_OPT),
     STR(tk_wire_create_session_response, warning_message, TK_F_OPT),
     STR(tk_wire_create_session_response, error_message, TK_F_OPT),
     STR(tk_wire_create_session_response, session_id, TK_F_REQ));

DESC(d_session_heartbeat_response, "session_heartbeat response", "session_heartbeat", tk_wire_empty, false,
     TAG("session_heartbeat"));

DESC(d_create_sampling_session_response, "create_sampling_session response", "create_sampling_session",
     tk_wire_create_sampling_session_response, false, TAG("create_sampling_session"),
     STR(tk_wire_create_sampling_session_response, sampling_session_id, TK_F_REQ));

DESC(d_untyped_future, "future", NULL, tk_wire_untyped_future, false,
     STR(tk_wire_untyped_future, request_id, TK_F_REQ), STR(tk_wire_untyped_future, model_id, TK_F_OPT));

DESC(d_create_model_response, "create_model result", "create_model", tk_wire_model_id_response, false,
     STR(tk_wire_model_id_response, model_id, TK_F_REQ), TAG("create_model"));

DESC(d_model_data, "model_data", NULL, tk_wire_model_data, false, STR(tk_wire_model_data, arch, TK_F_OPT),
     STR(tk_wire_model_data, model_name, TK_F_OPT), STR(tk_wire_model_data, tokenizer_id, TK_F_OPT));

DESC(d_get_info_response, "get_info response", "get_info", tk_wire_get_info_response, false, TAG("get_info"),
     OBJ(tk_wire_get_info_response, model_data, d_model_data), STR(tk_wire_get_info_response, model_id, TK_F_REQ),
     BOOL_OPT(tk_wire_get_info_response, is_lora), I64_OPT(tk_wire_get_info_response, lora_rank),
     STR(tk_wire_get_info_response, model_name, TK_F_OPT));

DESC(d_unload_model_response, "unload_model result", "unload_model", tk_wire_model_id_response, false,
     STR(tk_wire_model_id_response, model_id, TK_F_REQ), TAG("unload_model"));

DESC(d_forward_backward_output, "forward_backward result", NULL, tk_wire_forward_backward_output, false,
     STR(tk_wire_forward_backward_output, loss_fn_output_type, TK_F_REQ),
     CUSTOM_N("loss_fn_outputs", tk_wire_forward_backward_output, loss_fn_outputs, tk_cc_tensor_map_array, TK_F_REQ),
     F64MAP(tk_wire_forward_backward_output, metrics, TK_F_DEF));

DESC(d_optim_step_response, "optim_step result", "optim_step", tk_wire_optim_step_response, false,
     F64MAP(tk_wire_optim_step_response, metrics, TK_F_OPT), TAG("optim_step"));

DESC(d_save_weights_response, "save_weights result", "save_weights", tk_wire_save_weights_response, false,
     STR(tk_wire_save_weights_response, path, TK_F_REQ), TAG("save_weights"));

DESC(d_save_weights_for_sampler_response, "save_weights_for_sampler result", "save_weights_for_sampler",
     tk_wire_save_weights_for_sampler_response, false,
     STR(tk_wire_save_weights_for_sampler_response, path, TK_F_OPT),
     STR(tk_wire_save_weights_for_sampler_response, sampling_session_id, TK_F_OPT), TAG("save_weights_for_sampler"));

DESC(d_load_weights_response, "load_weights result", "load_weights", tk_wire_load_weights_response, false,
     STR(tk_wire_load_weights_response, path, TK_F_OPT), STR(tk_wire_load_weights_response, model_id, TK_F_OPT),
     TAG("load_weights"));

DESC(d_weights_info_response, "weights_info response", NULL, tk_wire_weights_info_response, false,
     STR(tk_wire_weights_info_response, base_model, TK_F_REQ), BOOL(tk_wire_weights_info_response, is_lora),
     I64_OPT(tk_wire_weights_info_response, lora_rank), BOOL_OPT(tk_wire_weights_info_response, train_unembed),
     BOOL_OPT(tk_wire_weights_info_response, train_mlp), BOOL_OPT(tk_wire_weights_info_response, train_attn));

DESC(d_sampled_sequence, "sampled sequence", NULL, tk_wire_sampled_sequence, false,
     ENUM(tk_wire_sampled_sequence, stop_reason, tk_wire_stop_reason_names, TK_F_REQ),
     I32ARR(tk_wire_sampled_sequence, tokens), F32ARR_OPT(tk_wire_sampled_sequence, logprobs));

DESC(d_sample_response, "sample result", "sample", tk_wire_sample_response, false, TAG("sample"),
     OBJARR(tk_wire_sample_response, sequences, d_sampled_sequence),
     CUSTOM("prompt_logprobs", tk_wire_sample_response, prompt_logprobs, tk_cc_prompt_logprobs, TK_F_OPT),
     CUSTOM("topk_prompt_logprobs", tk_wire_sample_response, topk_prompt_logprobs, tk_cc_topk, TK_F_OPT),
     I64_DEF(tk_wire_sample_response, prompt_cache_hit_tokens, 0));

DESC(d_try_again, "try_again", "try_again", tk_wire_try_again, false, TAG("try_again"),
     STR(tk_wire_try_again, request_id, TK_F_REQ),
     ENUM(tk_wire_try_again, queue_state, k_queue_states, TK_F_REQ | TK_F_LENIENT),
     STR(tk_wire_try_again, queue_state_reason, TK_F_OPT));

DESC(d_request_failed, "request failure", NULL, tk_wire_request_failed, false,
     STR(tk_wire_request_failed, error, TK_F_REQ),
     ENUM(tk_wire_request_failed, category, k_categories, TK_F_REQ | TK_F_LENIENT));

DESC(d_complete_metadata, "complete_metadata", NULL, tk_wire_complete_metadata, false,
     TAGN("status", "complete_metadata"), I64(tk_wire_complete_metadata, response_payload_size));

DESC(d_telemetry_response, "telemetry response", NULL, tk_wire_status_response, false,
     LIT(tk_wire_status_response, status, "accepted"));

DESC(d_cursor, "cursor", NULL, tk_wire_cursor, false, I64(tk_wire_cursor, offset), I64(tk_wire_cursor, limit),
     I64(tk_wire_cursor, total_count));

DESC(d_checkpoint, "checkpoint", NULL, tk_wire_checkpoint, false, STR(tk_wire_checkpoint, checkpoint_id, TK_F_REQ),
     ENUM(tk_wire_checkpoint, checkpoint_type, k_checkpoint_types, TK_F_REQ),
     DT(tk_wire_checkpoint, time, TK_F_REQ), STR(tk_wire_checkpoint, tinker_path, TK_F_REQ),
     I64_OPT(tk_wire_checkpoint, size_bytes),
     FIELD("public", TK_FK_BOOL, TK_F_DEF, offsetof(tk_wire_checkpoint, is_public), -1, -1, NULL, 0, NULL),
     DT(tk_wire_checkpoint, expires_at, TK_F_OPT));

DESC(d_training_run, "training run", NULL, tk_wire_training_run, false,
     STR(tk_wire_training_run, training_run_id, TK_F_REQ), STR(tk_wire_training_run, base_model, TK_F_REQ),
     STR(tk_wire_training_run, model_owner, TK_F_REQ), BOOL(tk_wire_training_run, is_lora),
     BOOL_DEF(tk_wire_training_run, corrupted, 0), I64_OPT(tk_wire_training_run, lora_rank),
     DT(tk_wire_training_run, last_request_time, TK_F_REQ),
     OBJ_OPT(tk_wire_training_run, last_checkpoint, d_checkpoint),
     OBJ_OPT(tk_wire_training_run, last_sampler_checkpoint, d_checkpoint),
     STRMAP_OPT(tk_wire_training_run, user_metadata));

DESC(d_training_runs_response, "training_runs response", NULL, tk_wire_training_runs_response, false,
     OBJARR(tk_wire_training_runs_response, training_runs, d_training_run),
     OBJ(tk_wire_training_runs_response, cursor, d_cursor));

DESC(d_checkpoints_list_response, "checkpoints response", NULL, tk_wire_checkpoints_list_response, false,
     OBJARR(tk_wire_checkpoints_list_response, checkpoints, d_checkpoint),
     OBJ_OPT(tk_wire_checkpoints_list_response, cursor, d_cursor));

DESC(d_sampler_response, "sampler response", NULL, tk_wire_sampler_response, false,
     STR(tk_wire_sampler_response, sampler_id, TK_F_REQ), STR(tk_wire_sampler_response, base_model, TK_F_REQ),
     STR(tk_wire_sampler_response, model_path, TK_F_OPT));

DESC(d_list_sessions_response, "sessions response", NULL, tk_wire_list_sessions_response, false,
     STRLIST(tk_wire_list_sessions_response, sessions));

DESC(d_session_response, "session response", NULL, tk_wire_session_response, false,
     STRLIST(tk_wire_session_response, training_run_ids), STRLIST(tk_wire_session_response, sampler_ids));

DESC(d_trace_export_response, "trace_export response", NULL, tk_wire_trace_export_response, false,
     ENUM(tk_wire_trace_export_response, status, k_trace_status, TK_F_REQ),
     STR(tk_wire_trace_export_response, url, TK_F_OPT), STR(tk_wire_trace_export_response, error, TK_F_OPT));

DESC(d_archive_url_response, "archive response", NULL, tk_wire_archive_url_response, false,
     STR(tk_wire_archive_url_response, url, TK_F_REQ), DT(tk_wire_archive_url_response, expires, TK_F_REQ));

DESC(d_error_detail, "error body", NULL, tk_wire_error_detail, false, STR(tk_wire_error_detail, detail, TK_F_REQ));

/* ---- registry ------------------------------------------------------------------------------- */

static const tk_msg_desc *const k_descs[TK_WIRE_MSG_COUNT_] = {
    [TK_WIRE_MSG_CLIENT_CONFIG_REQUEST] = &d_client_config_request,
    [TK_WIRE_MSG_CREATE_SESSION_REQUEST] = &d_create_session_request,
    [TK_WIRE_MSG_SESSION_HEARTBEAT_REQUEST] = &d_session_heartbeat_request,
    [TK_WIRE_MSG_CREATE_SAMPLING_SESSION_REQUEST] = &d_create_sampling_session_request,
    [TK_WIRE_MSG_CREATE_MODEL_REQUEST] = &d_create_model_request,
    [TK_WIRE_MSG_GET_INFO_REQUEST] = &d_get_info_request,
    [TK_WIRE_MSG_UNLOAD_MODEL_REQUEST] = &d_unload_model_request,
    [TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST] = &d_forward_backward_request,
    [TK_WIRE_MSG_OPTIM_STEP_REQUEST] = &d_optim_step_request,
    [TK_WIRE_MSG_SAVE_WEIGHTS_REQUEST] = &d_save_weights_request,
    [TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST] = &d_save_weights_for_sampler_request,
    [TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST] = &d_load_weights_request,
    [TK_WIRE_MSG_WEIGHTS_INFO_REQUEST] = &d_weights_info_request,
    [TK_WIRE_MSG_SAMPLE_REQUEST] = &d_sample_request,
    [TK_WIRE_MSG_RETRIEVE_FUTURE_REQUEST] = &d_retrieve_future_request,
    [TK_WIRE_MSG_TELEMETRY_REQUEST] = &d_telemetry_request,
    [TK_WIRE_MSG_SESSION_PROJECT_REQUEST] = &d_session_project_request,
    [TK_WIRE_MSG_CHECKPOINT_TTL_REQUEST] = &d_checkpoint_ttl_request,
    [TK_WIRE_MSG_TENSOR_DATA] = &d_tensor,
    [TK_WIRE_MSG_MODEL_INPUT] = &d_model_input,
    [TK_WIRE_MSG_DATUM] = &tk_desc_datum,
    [TK_WIRE_MSG_ADAM_PARAMS] = &d_adam,
    [TK_WIRE_MSG_SAMPLING_PARAMS] = &d_sampling_params,
    [TK_WIRE_MSG_LORA_CONFIG] = &d_lora,
    [TK_WIRE_MSG_CLIENT_CONFIG] = &d_client_config,
    [TK_WIRE_MSG_DYNAMIC_CONFIG] = &d_dynamic_config,
    [TK_WIRE_MSG_AUTH_TOKEN_RESPONSE] = &d_auth_token_response,
    [TK_WIRE_MSG_HEALTH_RESPONSE] = &d_health_response,
    [TK_WIRE_MSG_SERVER_CAPABILITIES] = &d_server_capabilities,
    [TK_WIRE_MSG_CREATE_SESSION_RESPONSE] = &d_create_session_response,
    [TK_WIRE_MSG_SESSION_HEARTBEAT_RESPONSE] = &d_session_heartbeat_response,
    [TK_WIRE_MSG_CREATE_SAMPLING_SESSION_RESPONSE] = &d_create_sampling_session_response,
    [TK_WIRE_MSG_UNTYPED_FUTURE] = &d_untyped_future,
    [TK_WIRE_MSG_CREATE_MODEL_RESPONSE] = &d_create_model_response,
    [TK_WIRE_MSG_GET_INFO_RESPONSE] = &d_get_info_response,
    [TK_WIRE_MSG_UNLOAD_MODEL_RESPONSE] = &d_unload_model_response,
    [TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT] = &d_forward_backward_output,
    [TK_WIRE_MSG_OPTIM_STEP_RESPONSE] = &d_optim_step_response,
    [TK_WIRE_MSG_SAVE_WEIGHTS_RESPONSE] = &d_save_weights_response,
    [TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_RESPONSE] = &d_save_weights_for_sampler_response,
    [TK_WIRE_MSG_LOAD_WEIGHTS_RESPONSE] = &d_load_weights_response,
    [TK_WIRE_MSG_WEIGHTS_INFO_RESPONSE] = &d_weights_info_response,
    [TK_WIRE_MSG_SAMPLE_RESPONSE] = &d_sample_response,
    [TK_WIRE_MSG_TRY_AGAIN] = &d_try_again,
    [TK_WIRE_MSG_REQUEST_FAILED] = &d_request_failed,
    [TK_WIRE_MSG_COMPLETE_METADATA] = &d_complete_metadata,
    [TK_WIRE_MSG_TELEMETRY_RESPONSE] = &d_telemetry_response,
    [TK_WIRE_MSG_CURSOR] = &d_cursor,
    [TK_WIRE_MSG_CHECKPOINT] = &d_checkpoint,
    [TK_WIRE_MSG_TRAINING_RUN] = &d_training_run,
    [TK_WIRE_MSG_TRAINING_RUNS_RESPONSE] = &d_training_runs_response,
    [TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE] = &d_checkpoints_list_response,
    [TK_WIRE_MSG_SAMPLER_RESPONSE] = &d_sampler_response,
    [TK_WIRE_MSG_LIST_SESSIONS_RESPONSE] = &d_list_sessions_response,
    [TK_WIRE_MSG_SESSION_RESPONSE] = &d_session_response,
    [TK_WIRE_MSG_TRACE_EXPORT_RESPONSE] = &d_trace_export_response,
    [TK_WIRE_MSG_ARCHIVE_URL_RESPONSE] = &d_archive_url_response,
    [TK_WIRE_MSG_ERROR_DETAIL] = &d_error_detail,
};

const tk_msg_desc *tk_wire_msg_desc(tk_wire_msg type) {
    if ((int)type < 0 || type >= TK_WIRE_MSG_COUNT_) return NULL;
    return k_descs[type];
}

const tk_wire_msg_info *tk_wire_msg_get_info(tk_wire_msg type) {
    const tk_msg_desc *d = tk_wire_msg_desc(type);
    return d ? &d->info : NULL;
}

void tk_wire_init(tk_wire_msg type, void *obj) {
    const tk_msg_desc *d = tk_wire_msg_desc(type);
    if (!d) return;
    if (d->fields) {
        tk_schema_init(d, obj);
    } else {
        memset(obj, 0, d->info.size);
        if (type == TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST)
            tk_schema_init(&tk_desc_forward_backward_input, &((tk_wire_forward_backward_request *)obj)->input);
    }
}

int tk_wire_json_encode(tk_wire_msg type, const void *obj, tk_buf *out, tk_err *e) {
    const tk_msg_desc *d = tk_wire_msg_desc(type);
    if (!d) return tk_err_set(e, TK_EINVAL, "tk_wire_json_encode: invalid message type %d", (int)type);
    tk_jw w;
    tk_jw_init(&w, out, e);
    int rc = tk_schema_encode(&w, d, obj);
    if (rc) tk_err_prefix(e, "%s: ", d->info.name);
    return rc;
}

int tk_wire_json_decode(tk_wire_msg type, const char *json, size_t len, tk_arena *a, void *obj, tk_err *e) {
    const tk_msg_desc *d = tk_wire_msg_desc(type);
    if (!d) return tk_err_set(e, TK_EINVAL, "tk_wire_json_decode: invalid message type %d", (int)type);
    if (!a) return tk_err_set(e, TK_EINVAL, "%s: tk_wire_json_decode needs an arena", d->info.name);
    tk_jr r;
    tk_jr_init(&r, json, len, a, d->info.is_request, e);
    int rc = tk_schema_decode(&r, d, obj);
    if (!rc) rc = tk_jr_end(&r);
    tk_jr_finish(&r);
    if (rc) tk_err_prefix(e, "%s: ", d->info.name);
    return rc;
}
