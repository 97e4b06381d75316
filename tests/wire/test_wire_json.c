/* The JSON codec against the protocol reference: every JSON example of
 * reference/tinker-protocol.md (§3, §6) decodes to the values it states and re-encodes to the same
 * JSON (numbers by value, null members as absent); defaults are filled and sent; unknown fields
 * are refused in requests and ignored in results; and bad input of every kind gives an error that
 * names the field. */
#include "test_util.h"
#include "tinkerc/wire.h"
#include "wire_testlib.h"

#include <math.h>

typedef struct fx {
    tk_arena *a;
    tk_err e;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    f->a = tk_arena_new(0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    tk_arena_free(f->a);
    free(f);
    return 0;
}

/* Decode `json` as type into obj, re-encode, and check the re-encoding says the same thing. */
static void golden(fx *f, tk_wire_msg type, const char *json, void *obj) {
    tk_err e = {0};
    int rc = tk_wire_json_decode(type, json, strlen(json), f->a, obj, &e);
    if (rc) fail_msg("decode %s: %s", json, e.msg);
    tk_buf b = {0};
    if (tk_wire_json_encode(type, obj, &b, &e)) fail_msg("encode: %s", e.msg);
    /* results carry a "type" tag for tinkex (§3.7) even where the reference example has none */
    const tk_wire_msg_info *info = tk_wire_msg_get_info(type);
    if (!info->is_request && info->type_tag && !strstr(json, "\"type\"")) {
        char tag[96];
        snprintf(tag, sizeof tag, ",\"type\":\"%s\"", info->type_tag);
        char *at = strstr(b.data, tag);
        if (!at) {
            snprintf(tag, sizeof tag, "\"type\":\"%s\",", info->type_tag);
            at = strstr(b.data, tag);
        }
        assert_non_null(at);
        memmove(at, at + strlen(tag), strlen(at + strlen(tag)) + 1);
        b.len -= strlen(tag);
    }
    char why[512];
    if (!tw_json_same(json, strlen(json), b.data, b.len, why, sizeof why))
        fail_msg("re-encoding differs at %s\n  reference: %s\n  ours:      %s", why, json, b.data);
    tk_buf_free(&b);
}

/* ---- §3.1 - §3.3 -------------------------------------------------------------------------------- */

static void bootstrap_examples(void **state) {
    fx *f = *state;
    tk_wire_client_config_request cr;
    golden(f, TK_WIRE_MSG_CLIENT_CONFIG_REQUEST, "{\"sdk_version\":\"0.25.0\"}", &cr);
    assert_string_equal(cr.sdk_version, "0.25.0");

    /* "All fields are optional, so {} is valid", with the SDK defaults of §3.1 */
    tk_wire_client_config cc;
    assert_ok(tk_wire_json_decode(TK_WIRE_MSG_CLIENT_CONFIG, "{}", 2, f->a, &cc, &f->e), &f->e);
    assert_false(cc.pjwt_auth_enabled);
    assert_string_equal(cc.credential_default_source, "api_key");
    assert_int_equal(cc.sample_dispatch_bytes_semaphore_size, 10485760);
    assert_int_equal(cc.inflight_response_bytes_semaphore_size, 52428800);
    assert_true(cc.parallel_fwdbwd_chunks);
    assert_false(cc.proto_compress_fwdbwd);
    assert_int_equal(cc.fwdbwd_max_chunk_len, 1024);
    assert_int_equal(cc.fwdbwd_max_chunk_bytes_count, 5000000);
    assert_int_equal(cc.fwdbwd_dispatch_bytes_semaphore_size, 50000000);
    assert_int_equal(cc.billing_exception_max_pause_duration_sec, 3600);
    assert_false(cc.sample_no_retries);
    assert_true(cc.sample_enable_stuck_detection);
    assert_int_equal(cc.sample_max_concurrent_requests, 2000);
    assert_true(cc.use_pyqwest_transport);
    assert_false(cc.create_model_via_load_weights);
    /* the suggested loopback answer, plus a flag from the future that must be ignored */
    const char *loop = "{\"pjwt_auth_enabled\":false,\"use_pyqwest_transport\":false,\"proto_compress_fwdbwd\":false,"
                       "\"some_new_flag\":{\"x\":[1,2]}}";
    assert_ok(tk_wire_json_decode(TK_WIRE_MSG_CLIENT_CONFIG, loop, strlen(loop), f->a, &cc, &f->e), &f->e);
    assert_false(cc.use_pyqwest_transport);
    assert_int_equal(cc.fwdbwd_max_chunk_len, 1024);

    tk_wire_dynamic_config dc;
    golden(f, TK_WIRE_MSG_DYNAMIC_CONFIG, "{\"refresh_interval_sec\":300}", &dc);
    assert_int_equal(dc.refresh_interval_sec, 300);
    tk_wire_auth_token_response at;
    golden(f, TK_WIRE_MSG_AUTH_TOKEN_RESPONSE, "{\"jwt\":\"eyJabc\"}", &at);
    tk_wire_health_response h;
    golden(f, TK_WIRE_MSG_HEALTH_RESPONSE, "{\"status\":\"ok\"}", &h);
    assert_err(tk_wire_json_decode(TK_WIRE_MSG_HEALTH_RESPONSE, "{\"status\":\"bad\"}", 16, f->a, &h, &f->e),
               TK_EINVAL, &f->e, "status: expected \"ok\"");

    tk_wire_server_capabilities caps;
    golden(f, TK_WIRE_MSG_SERVER_CAPABILITIES,
           "{\"supported_models\":[{\"model_name\":\"Qwen/Qwen3-8B\",\"max_context_length\":32768},{}]}", &caps);
    assert_int_equal(caps.n_supported_models, 2);
    assert_string_equal(caps.supported_models[0].model_name, "Qwen/Qwen3-8B");
    assert_true(caps.supported_models[0].has_max_context_length);
    assert_int_equal(caps.supported_models[0].max_context_length, 32768);
    assert_null(caps.supported_models[1].model_name);
    assert_false(caps.supported_models[1].has_max_context_length);
    /* miles adds trainable/sampleable: ignored in a result */
    const char *miles = "{\"supported_models\":[{\"model_name\":\"m\",\"trainable\":true,\"sampleable\":false}]}";
    assert_ok(tk_wire_json_decode(TK_WIRE_MSG_SERVER_CAPABILITIES, miles, strlen(miles), f->a, &caps, &f->e), &f->e);
}

static void session_examples(void **state) {
    fx *f = *state;
    tk_wire_create_session_request cs;
    golden(f, TK_WIRE_MSG_CREATE_SESSION_REQUEST,
           "{\"tags\":[\"t1\"],\"user_metadata\":{},\"sdk_version\":\"0.25.0\",\"type\":\"create_session\","
           "\"project_id\":\"p-1\"}", &cs);
    assert_int_equal(cs.tags.n, 1);
    assert_string_equal(cs.tags.items[0], "t1");
    assert_string_equal(cs.user_metadata, "{}");
    assert_string_equal(cs.project_id, "p-1");
    /* project_id omitted when None; user_metadata is always sent */
    tk_wire_init(TK_WIRE_MSG_CREATE_SESSION_REQUEST, &cs);
    cs.sdk_version = "0.25.0";
    tk_buf b = {0};
    assert_ok(tk_wire_json_encode(TK_WIRE_MSG_CREATE_SESSION_REQUEST, &cs, &b, &f->e), &f->e);
    assert_string_equal(b.data, "{\"tags\":[],\"user_metadata\":{},\"sdk_version\":\"0.25.0\",\"type\":\"create_session\"}");
    tk_buf_free(&b);

    tk_wire_create_session_response csr;
    golden(f, TK_WIRE_MSG_CREATE_SESSION_RESPONSE,
           "{\"type\":\"create_session\",\"session_id\":\"s-1\",\"info_message\":null,\"warning_message\":null,"
           "\"error_message\":null}", &csr);
    assert_string_equal(csr.session_id, "s-1");
    assert_null(csr.info_message);

    tk_wire_session_heartbeat_request hb;
    golden(f, TK_WIRE_MSG_SESSION_HEARTBEAT_REQUEST, "{\"session_id\":\"s-1\",\"type\":\"session_heartbeat\"}", &hb);
    tk_wire_empty hbr;
    golden(f, TK_WIRE_MSG_SESSION_HEARTBEAT_RESPONSE, "{\"type\":\"session_heartbeat\"}", &hbr);
    /* "Every field has a default, so any JSON object is accepted" */
    assert_ok(tk_wire_json_decode(TK_WIRE_MSG_SESSION_HEARTBEAT_RESPONSE, "{\"x\":1}", 7, f->a, &hbr, &f->e), &f->e);

    tk_wire_create_sampling_session_request ss;
    golden(f, TK_WIRE_MSG_CREATE_SAMPLING_SESSION_REQUEST,
           "{\"session_id\":\"s-1\",\"sampling_session_seq_id\":0,\"model_path\":\"tinker://run/sampler_weights/x\","
           "\"type\":\"create_sampling_session\"}", &ss);
    assert_int_equal(ss.sampling_session_seq_id, 0);
    assert_null(ss.base_model);
    assert_string_equal(ss.model_path, "tinker://run/sampler_weights/x");
    tk_wire_create_sampling_session_response ssr;
    golden(f, TK_WIRE_MSG_CREATE_SAMPLING_SESSION_RESPONSE,
           "{\"type\":\"create_sampling_session\",\"sampling_session_id\":\"s-1:sample:0\"}", &ssr);
    assert_string_equal(ssr.sampling_session_id, "s-1:sample:0");
}

static void model_examples(void **state) {
    fx *f = *state;
    tk_wire_create_model_request cm;
    golden(f, TK_WIRE_MSG_CREATE_MODEL_REQUEST,
           "{\"session_id\":\"s-1\",\"model_seq_id\":0,\"base_model\":\"Qwen/Qwen3-8B\","
           "\"lora_config\":{\"rank\":32,\"train_unembed\":true,\"train_mlp\":true,\"train_attn\":true},"
           "\"type\":\"create_model\"}", &cm);
    assert_true(cm.has_lora_config);
    assert_int_equal(cm.lora_config.rank, 32);
    assert_false(cm.lora_config.has_seed);
    assert_null(cm.user_metadata);
    /* tk_wire_init gives the SDK's LoRA defaults */
    tk_wire_lora_config lc;
    tk_wire_init(TK_WIRE_MSG_LORA_CONFIG, &lc);
    assert_int_equal(lc.rank, 32);
    assert_true(lc.train_unembed && lc.train_mlp && lc.train_attn);
    assert_false(lc.has_seed);

    tk_wire_untyped_future uf;
    golden(f, TK_WIRE_MSG_UNTYPED_FUTURE, "{\"request_id\":\"r-1\",\"model_id\":\"s-1:train:0\"}", &uf);
    assert_string_equal(uf.model_id, "s-1:train:0");
    tk_wire_model_id_response mr;
    golden(f, TK_WIRE_MSG_CREATE_MODEL_RESPONSE, "{\"model_id\":\"s-1:train:0\",\"type\":\"create_model\"}", &mr);
    golden(f, TK_WIRE_MSG_UNLOAD_MODEL_RESPONSE, "{\"model_id\":\"m\",\"type\":\"unload_model\"}", &mr);
    tk_wire_model_id_request gi;
    golden(f, TK_WIRE_MSG_GET_INFO_REQUEST, "{\"model_id\":\"m\",\"type\":\"get_info\"}", &gi);
    golden(f, TK_WIRE_MSG_UNLOAD_MODEL_REQUEST, "{\"model_id\":\"m\",\"type\":\"unload_model\"}", &gi);
    assert_err(tk_wire_json_decode(TK_WIRE_MSG_GET_INFO_REQUEST, "{\"model_id\":\"m\",\"type\":\"unload_model\"}", 39,
                                   f->a, &gi, &f->e), TK_EINVAL, &f->e, "type: expected \"get_info\", got \"unload_model\"");

    tk_wire_get_info_response info;
    golden(f, TK_WIRE_MSG_GET_INFO_RESPONSE,
           "{\"type\":\"get_info\",\"model_id\":\"m\",\"model_name\":\"Qwen/Qwen3-8B\",\"is_lora\":true,\"lora_rank\":32,"
           "\"model_data\":{\"arch\":\"qwen3\",\"model_name\":\"Qwen/Qwen3-8B\",\"tokenizer_id\":\"Qwen/Qwen3-8B\"}}", &info);
    assert_string_equal(info.model_data.arch, "qwen3");
    assert_string_equal(info.model_data.tokenizer_id, "Qwen/Qwen3-8B");
    assert_true(info.has_is_lora && info.is_lora);
    assert_int_equal(info.lora_rank, 32);
    assert_err(tk_wire_json_decode(TK_WIRE_MSG_GET_INFO_RESPONSE, "{\"model_id\":\"m\"}", 16, f->a, &info, &f->e),
               TK_EINVAL, &f->e, "model_data: required field is missing");
}

/* ---- §3.4 - §3.6 -------------------------------------------------------------------------------- */

static const char *k_fb_example =
    "{\"model_id\":\"m\",\"seq_id\":1,"
    "\"forward_backward_input\":{"
    "\"loss_fn\":\"cross_entropy\","
    "\"loss_fn_config\":{\"clip_low_threshold\":0.8},"
    "\"data\":[{\"model_input\":{\"chunks\":[{\"tokens\":[1,2,3],\"type\":\"encoded_text\"}]},"
    "\"loss_fn_inputs\":{\"target_tokens\":{\"data\":[2,3,4],\"dtype\":\"int64\",\"shape\":[3]},"
    "\"weights\":{\"data\":[0,1,1],\"dtype\":\"float32\",\"shape\":[3]}}}]}}";

static void training_examples(void **state) {
    fx *f = *state;
    tk_wire_forward_backward_request fb;
    golden(f, TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, k_fb_example, &fb);
    assert_string_equal(fb.model_id, "m");
    assert_true(fb.has_seq_id);
    assert_int_equal(fb.seq_id, 1);
    assert_false(fb.forward_only);
    assert_int_equal(fb.input.loss_fn, TK_WIRE_LOSS_CROSS_ENTROPY);
    assert_true(fb.input.loss_fn_config.present);
    assert_true(*tk_wire_f64_map_get(&fb.input.loss_fn_config, "clip_low_threshold") == 0.8);
    assert_int_equal(fb.input.n_data, 1);
    const tk_wire_datum *d = &fb.input.data[0];
    assert_int_equal(d->model_input.n_chunks, 1);
    assert_int_equal(d->model_input.chunks[0].type, TK_WIRE_CHUNK_ENCODED_TEXT);
    assert_int_equal(d->model_input.chunks[0].n_tokens, 3);
    assert_int_equal(d->model_input.chunks[0].tokens[2], 3);
    const tk_wire_tensor *tt = tk_wire_tensor_map_get(&d->loss_fn_inputs, "target_tokens");
    const tk_wire_tensor *w = tk_wire_tensor_map_get(&d->loss_fn_inputs, "weights");
    assert_non_null(tt);
    assert_non_null(w);
    assert_int_equal(tt->dtype, TK_WIRE_INT64);
    assert_int_equal(tt->data.i64[0], 2);
    assert_int_equal(w->dtype, TK_WIRE_FLOAT32);
    assert_true(w->data.f32[0] == 0.0f && w->data.f32[1] == 1.0f);
    assert_int_equal(w->ndim, 1);
    assert_int_equal(w->shape[0], 3);

    /* /forward (<= 0.24.1): the same body under "forward_input" */
    char fwd[1024];
    snprintf(fwd, sizeof fwd, "%s", k_fb_example);
    char *k = strstr(fwd, "forward_backward_input");
    memmove(k + strlen("forward_input"), k + strlen("forward_backward_input"), strlen(k + strlen("forward_backward_input")) + 1);
    memcpy(k, "forward_input", strlen("forward_input"));
    golden(f, TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, fwd, &fb);
    assert_true(fb.forward_only);

    /* loss_fn_config omitted when None; shape is optional and inferred 1-D */
    const char *bare = "{\"model_id\":\"m\",\"forward_backward_input\":{\"loss_fn\":\"dro\",\"data\":[{\"model_input\":"
                       "{\"chunks\":[]},\"loss_fn_inputs\":{\"advantages\":{\"data\":[0.5,-1.5],\"dtype\":\"float32\"}}}]}}";
    assert_ok(tk_wire_json_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, bare, strlen(bare), f->a, &fb, &f->e), &f->e);
    assert_false(fb.input.loss_fn_config.present);
    assert_false(fb.has_seq_id);
    w = tk_wire_tensor_map_get(&fb.input.data[0].loss_fn_inputs, "advantages");
    assert_int_equal(w->ndim, 1);
    assert_int_equal(w->shape[0], 2);
    tk_buf b = {0};
    assert_ok(tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &fb, &b, &f->e), &f->e);
    assert_null(strstr(b.data, "loss_fn_config"));
    assert_null(strstr(b.data, "seq_id"));
    tk_buf_free(&b);

    tk_wire_optim_step_request os;
    golden(f, TK_WIRE_MSG_OPTIM_STEP_REQUEST,
           "{\"model_id\":\"m\",\"seq_id\":2,\"type\":\"optim_step\",\"adam_params\":{\"learning_rate\":0.0001,"
           "\"beta1\":0.9,\"beta2\":0.95,\"eps\":1e-12,\"weight_decay\":0.0,\"grad_clip_norm\":0.0}}", &os);
    assert_true(os.adam_params.eps == 1e-12);
    /* AdamParams defaults are sent (fields with a non-None default) */
    tk_wire_init(TK_WIRE_MSG_OPTIM_STEP_REQUEST, &os);
    os.model_id = "m";
    assert_ok(tk_wire_json_encode(TK_WIRE_MSG_OPTIM_STEP_REQUEST, &os, &b, &f->e), &f->e);
    assert_string_equal(b.data, "{\"adam_params\":{\"learning_rate\":0.0001,\"beta1\":0.9,\"beta2\":0.95,\"eps\":1e-12,"
                                "\"weight_decay\":0.0,\"grad_clip_norm\":0.0},\"model_id\":\"m\",\"type\":\"optim_step\"}");
    tk_buf_free(&b);
    tk_wire_optim_step_response osr;
    golden(f, TK_WIRE_MSG_OPTIM_STEP_RESPONSE, "{\"metrics\":{\"skyrl.ai/grad_norm\":0.5}}", &osr);
    assert_true(osr.metrics.present);
    assert_ok(tk_wire_json_decode(TK_WIRE_MSG_OPTIM_STEP_RESPONSE, "{\"metrics\":null}", 16, f->a, &osr, &f->e), &f->e);
    assert_false(osr.metrics.present);

    tk_wire_forward_backward_output fo;
    golden(f, TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT,
           "{\"loss_fn_output_type\":\"TorchLossReturn\",\"loss_fn_outputs\":[{\"logprobs\":{\"data\":[-0.5,-1.25],"
           "\"dtype\":\"float32\",\"shape\":[2]}}],\"metrics\":{\"loss:sum\":1.75}}", &fo);
    assert_int_equal(fo.n_loss_fn_outputs, 1);
    assert_true(*tk_wire_f64_map_get(&fo.metrics, "loss:sum") == 1.75);
}

static void weights_examples(void **state) {
    fx *f = *state;
    tk_wire_save_weights_request sw;
    golden(f, TK_WIRE_MSG_SAVE_WEIGHTS_REQUEST,
           "{\"model_id\":\"m\",\"path\":\"step-0010\",\"seq_id\":5,\"ttl_seconds\":604800,\"overwrite\":false,"
           "\"type\":\"save_weights\"}", &sw);
    assert_int_equal(sw.ttl_seconds, 604800);
    tk_wire_save_weights_response swr;
    golden(f, TK_WIRE_MSG_SAVE_WEIGHTS_RESPONSE, "{\"path\":\"tinker://m/weights/step-0010\",\"type\":\"save_weights\"}", &swr);
    tk_wire_save_weights_for_sampler_request sfs;
    golden(f, TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST,
           "{\"model_id\":\"m\",\"path\":\"x\",\"seq_id\":3,\"type\":\"save_weights_for_sampler\"}", &sfs);
    golden(f, TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST,
           "{\"model_id\":\"m\",\"seq_id\":3,\"sampling_session_seq_id\":0,\"type\":\"save_weights_for_sampler\"}", &sfs);
    assert_null(sfs.path);
    assert_true(sfs.has_sampling_session_seq_id);
    tk_wire_save_weights_for_sampler_response sfr;
    golden(f, TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_RESPONSE, "{\"path\":null,\"sampling_session_id\":\"s:sample:1\"}", &sfr);
    tk_wire_load_weights_request lw;
    golden(f, TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST,
           "{\"model_id\":\"m\",\"seq_id\":1,\"path\":\"tinker://r/weights/w\",\"optimizer\":true,\"type\":\"load_weights\"}", &lw);
    assert_true(lw.optimizer);
    golden(f, TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST,
           "{\"session_id\":\"s\",\"model_seq_id\":0,\"user_metadata\":{\"a\":[1]},\"path\":\"tinker://r/weights/w\","
           "\"optimizer\":false,\"type\":\"load_weights\"}", &lw);
    assert_string_equal(lw.user_metadata, "{\"a\":[1]}");
    assert_err(tk_wire_json_decode(TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST, "{\"path\":\"p\"}", 12, f->a, &lw, &f->e),
               TK_EINVAL, &f->e, "optimizer: required field is missing");
    tk_wire_load_weights_response lwr;
    golden(f, TK_WIRE_MSG_LOAD_WEIGHTS_RESPONSE, "{\"type\":\"load_weights\"}", &lwr);
    tk_wire_weights_info_request wi;
    golden(f, TK_WIRE_MSG_WEIGHTS_INFO_REQUEST, "{\"tinker_path\":\"tinker://r/weights/w\"}", &wi);
    tk_wire_weights_info_response wir;
    golden(f, TK_WIRE_MSG_WEIGHTS_INFO_RESPONSE,
           "{\"base_model\":\"Qwen/Qwen3-8B\",\"is_lora\":true,\"lora_rank\":8,\"train_mlp\":true}", &wir);
    assert_true(wir.has_train_mlp && !wir.has_train_attn);
}

static void sampling_examples(void **state) {
    fx *f = *state;
    tk_wire_sample_request sr;
    golden(f, TK_WIRE_MSG_SAMPLE_REQUEST,
           "{\"sampling_session_id\":\"s\",\"seq_id\":0,\"num_samples\":4,"
           "\"prompt\":{\"chunks\":[{\"tokens\":[1,2,3],\"type\":\"encoded_text\"}]},"
           "\"sampling_params\":{\"max_tokens\":64,\"seed\":7,\"stop\":[\"\\n\"],\"temperature\":0.7,\"top_k\":-1,\"top_p\":1.0},"
           "\"prompt_logprobs\":false,\"topk_prompt_logprobs\":0,\"type\":\"sample\"}", &sr);
    assert_int_equal(sr.num_samples, 4);
    assert_int_equal(sr.sampling_params.stop_kind, TK_WIRE_STOP_STRINGS);
    assert_string_equal(sr.sampling_params.stop_strings[0], "\n");
    assert_true(sr.sampling_params.temperature == 0.7);
    /* stop as one string, or as token ids */
    golden(f, TK_WIRE_MSG_SAMPLING_PARAMS, "{\"stop\":\"</s>\",\"temperature\":1.0,\"top_k\":-1,\"top_p\":1.0}", &sr.sampling_params);
    assert_int_equal(sr.sampling_params.stop_kind, TK_WIRE_STOP_STRING);
    golden(f, TK_WIRE_MSG_SAMPLING_PARAMS, "{\"stop\":[128009,128001],\"temperature\":1,\"top_k\":-1,\"top_p\":1}", &sr.sampling_params);
    assert_int_equal(sr.sampling_params.stop_kind, TK_WIRE_STOP_TOKENS);
    assert_int_equal(sr.sampling_params.stop_tokens[1], 128001);
    /* defaults: temperature 1, top_k -1, top_p 1; max_tokens, seed and stop omitted */
    tk_wire_sampling_params sp;
    tk_wire_init(TK_WIRE_MSG_SAMPLING_PARAMS, &sp);
    tk_buf b = {0};
    assert_ok(tk_wire_json_encode(TK_WIRE_MSG_SAMPLING_PARAMS, &sp, &b, &f->e), &f->e);
    assert_string_equal(b.data, "{\"temperature\":1.0,\"top_k\":-1,\"top_p\":1.0}");
    tk_buf_free(&b);

    /* §6.6's JSON SampleResponse */
    tk_wire_sample_response resp;
    golden(f, TK_WIRE_MSG_SAMPLE_RESPONSE,
           "{\"type\":\"sample\",\"sequences\":[{\"stop_reason\":\"stop\",\"tokens\":[11,12,13],\"logprobs\":[-0.1,-2.3,-0.01]}],"
           "\"prompt_logprobs\":[null,-9.5,-1.6],"
           "\"topk_prompt_logprobs\":[null,[[14924,-1.17],[755,-2.23]],[[25,-1.64],[3137,-2.39]]],"
           "\"prompt_cache_hit_tokens\":0}", &resp);
    assert_int_equal(resp.n_sequences, 1);
    assert_int_equal(resp.sequences[0].stop_reason, TK_WIRE_STOP_REASON_STOP);
    assert_true(resp.sequences[0].has_logprobs);
    assert_true(resp.sequences[0].logprobs[1] == -2.3f);
    assert_true(resp.has_prompt_logprobs);
    assert_true(isnan(resp.prompt_logprobs[0]));
    assert_true(resp.prompt_logprobs[2] == -1.6f);
    const tk_wire_topk_prompt_logprobs *t = &resp.topk_prompt_logprobs;
    assert_true(resp.has_topk_prompt_logprobs);
    assert_int_equal(t->n_positions, 3);
    assert_int_equal(t->k, 2);
    assert_int_equal(t->token_ids[0], 0);
    assert_true(t->logprobs[0] == TK_WIRE_TOPK_MASK_LOGPROB);
    assert_int_equal(t->token_ids[2], 14924);
    assert_int_equal(t->token_ids[5], 3137);
    assert_true(t->logprobs[5] == -2.39f);
}

/* ---- §3.7 - §3.9 -------------------------------------------------------------------------------- */

static void future_examples(void **state) {
    fx *f = *state;
    tk_wire_retrieve_future_request rf;
    golden(f, TK_WIRE_MSG_RETRIEVE_FUTURE_REQUEST, "{\"request_id\":\"r\",\"allow_metadata_only\":true}", &rf);
    assert_true(rf.allow_metadata_only);

    tk_wire_future_reply fr;
    const char *ta = "{\"type\":\"try_again\",\"request_id\":\"r\",\"queue_state\":\"paused_capacity\",\"queue_state_reason\":\"busy\"}";
    assert_ok(tk_wire_future_reply_classify(ta, strlen(ta), f->a, &fr, &f->e), &f->e);
    assert_int_equal(fr.kind, TK_WIRE_REPLY_TRY_AGAIN);
    assert_int_equal(fr.try_again.queue_state, TK_WIRE_QUEUE_PAUSED_CAPACITY);
    assert_string_equal(fr.try_again.queue_state_reason, "busy");
    tk_wire_try_again t2;
    golden(f, TK_WIRE_MSG_TRY_AGAIN, ta, &t2);
    const char *md = "{\"status\":\"complete_metadata\",\"response_payload_size\":123456789}";
    assert_ok(tk_wire_future_reply_classify(md, strlen(md), f->a, &fr, &f->e), &f->e);
    assert_int_equal(fr.kind, TK_WIRE_REPLY_METADATA_ONLY);
    assert_int_equal(fr.metadata.response_payload_size, 123456789);
    tk_wire_complete_metadata cm;
    golden(f, TK_WIRE_MSG_COMPLETE_METADATA, md, &cm);
    const char *err = "{\"error\":\"token 999999 out of range\",\"category\":\"user\"}";
    assert_ok(tk_wire_future_reply_classify(err, strlen(err), f->a, &fr, &f->e), &f->e);
    assert_int_equal(fr.kind, TK_WIRE_REPLY_FAILED);
    assert_int_equal(fr.failed.category, TK_WIRE_CATEGORY_USER);
    assert_string_equal(fr.failed.error, "token 999999 out of range");
    /* an unknown category becomes unknown, as in the SDK */
    const char *err2 = "{\"error\":\"x\",\"category\":\"Weird\"}";
    assert_ok(tk_wire_future_reply_classify(err2, strlen(err2), f->a, &fr, &f->e), &f->e);
    assert_int_equal(fr.failed.category, TK_WIRE_CATEGORY_UNKNOWN);
    /* anything else is the bare result */
    const char *res = "{\"model_id\":\"m\",\"type\":\"create_model\"}";
    assert_ok(tk_wire_future_reply_classify(res, strlen(res), f->a, &fr, &f->e), &f->e);
    assert_int_equal(fr.kind, TK_WIRE_REPLY_RESULT);
    /* try_again is checked before error (§3.7 order) */
    const char *both = "{\"type\":\"try_again\",\"request_id\":\"r\",\"queue_state\":\"active\",\"error\":\"x\"}";
    assert_ok(tk_wire_future_reply_classify(both, strlen(both), f->a, &fr, &f->e), &f->e);
    assert_int_equal(fr.kind, TK_WIRE_REPLY_TRY_AGAIN);
    assert_err(tk_wire_future_reply_classify("{\"error\":", 9, f->a, &fr, &f->e), TK_EPARSE, &f->e, "retrieve_future answer");

    tk_wire_telemetry_request tr;
    golden(f, TK_WIRE_MSG_TELEMETRY_REQUEST,
           "{\"events\":[{\"event\":\"SESSION_START\",\"event_id\":\"uuid\",\"event_session_index\":0,\"severity\":\"INFO\","
           "\"timestamp\":\"2026-01-01T00:00:00Z\"},{\"event\":\"GENERIC_EVENT\",\"event_id\":\"u2\",\"event_name\":\"n\","
           "\"event_session_index\":1,\"severity\":\"DEBUG\",\"timestamp\":\"2026-01-01T00:00:01Z\",\"event_data\":{\"k\":1}}],"
           "\"platform\":\"Linux\",\"sdk_version\":\"0.25.0\",\"session_id\":\"s\",\"process_uuid\":\"uuid\"}", &tr);
    assert_int_equal(tr.n_events, 2);
    assert_int_equal(tr.events[1].event, TK_WIRE_EVENT_GENERIC_EVENT);
    assert_string_equal(tr.events[1].event_data, "{\"k\":1}");
    const char *bad_ev = "{\"events\":[{\"event\":\"SESSION_END\",\"event_id\":\"u\",\"event_session_index\":0,"
                         "\"severity\":\"INFO\",\"timestamp\":\"2026-01-01T00:00:00Z\"}],\"platform\":\"L\","
                         "\"sdk_version\":\"v\",\"session_id\":\"s\",\"process_uuid\":\"u\"}";
    assert_err(tk_wire_json_decode(TK_WIRE_MSG_TELEMETRY_REQUEST, bad_ev, strlen(bad_ev), f->a, &tr, &f->e),
               TK_EINVAL, &f->e, "events[0]: duration: required for a SESSION_END event");
    tk_wire_status_response st;
    golden(f, TK_WIRE_MSG_TELEMETRY_RESPONSE, "{\"status\":\"accepted\"}", &st);
}

static void rest_examples(void **state) {
    fx *f = *state;
    const char *ck = "{\"checkpoint_id\":\"weights/step-1\",\"checkpoint_type\":\"training\","
                     "\"time\":\"2026-01-02T03:04:05.123456Z\",\"tinker_path\":\"tinker://r/weights/step-1\","
                     "\"size_bytes\":1024,\"public\":false,\"expires_at\":null}";
    tk_wire_checkpoint c;
    golden(f, TK_WIRE_MSG_CHECKPOINT, ck, &c);
    assert_int_equal(c.checkpoint_type, TK_WIRE_CHECKPOINT_TRAINING);
    assert_int_equal(c.size_bytes, 1024);
    assert_null(c.expires_at);
    char runs[2048];
    snprintf(runs, sizeof runs,
             "{\"training_runs\":[{\"training_run_id\":\"r\",\"base_model\":\"b\",\"model_owner\":\"o\",\"is_lora\":true,"
             "\"corrupted\":false,\"lora_rank\":32,\"last_request_time\":\"2026-01-02T03:04:05Z\",\"last_checkpoint\":%s,"
             "\"user_metadata\":{\"k\":\"v\"}}],\"cursor\":{\"offset\":0,\"limit\":20,\"total_count\":1}}", ck);
    tk_wire_training_runs_response trr;
    golden(f, TK_WIRE_MSG_TRAINING_RUNS_RESPONSE, runs, &trr);
    assert_int_equal(trr.n_training_runs, 1);
    assert_true(trr.training_runs[0].has_last_checkpoint);
    assert_false(trr.training_runs[0].has_last_sampler_checkpoint);
    assert_string_equal(trr.training_runs[0].user_metadata.items[0].value, "v");
    assert_int_equal(trr.cursor.limit, 20);
    tk_wire_checkpoints_list_response cl;
    char list[1024];
    snprintf(list, sizeof list, "{\"checkpoints\":[%s],\"cursor\":null}", ck);
    golden(f, TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE, list, &cl);
    assert_false(cl.has_cursor);
    tk_wire_sampler_response sm;
    golden(f, TK_WIRE_MSG_SAMPLER_RESPONSE, "{\"sampler_id\":\"s:sample:0\",\"base_model\":\"b\"}", &sm);
    tk_wire_list_sessions_response ls;
    golden(f, TK_WIRE_MSG_LIST_SESSIONS_RESPONSE, "{\"sessions\":[\"a\",\"b\"]}", &ls);
    tk_wire_session_response se;
    golden(f, TK_WIRE_MSG_SESSION_RESPONSE, "{\"training_run_ids\":[\"s:train:0\"],\"sampler_ids\":[]}", &se);
    tk_wire_session_project_request pr;
    golden(f, TK_WIRE_MSG_SESSION_PROJECT_REQUEST, "{\"project_id\":\"p\"}", &pr);
    tk_wire_checkpoint_ttl_request ttl;
    golden(f, TK_WIRE_MSG_CHECKPOINT_TTL_REQUEST, "{\"ttl_seconds\":86400}", &ttl);
    assert_true(ttl.has_ttl_seconds);
    /* null removes the expiry, so an absent ttl is sent as null, not omitted */
    ttl.has_ttl_seconds = false;
    tk_buf b = {0};
    assert_ok(tk_wire_json_encode(TK_WIRE_MSG_CHECKPOINT_TTL_REQUEST, &ttl, &b, &f->e), &f->e);
    assert_string_equal(b.data, "{\"ttl_seconds\":null}");
    tk_buf_free(&b);
    tk_wire_trace_export_response te;
    golden(f, TK_WIRE_MSG_TRACE_EXPORT_RESPONSE, "{\"status\":\"ready\",\"url\":\"https://x/y\"}", &te);
    tk_wire_archive_url_response au;
    golden(f, TK_WIRE_MSG_ARCHIVE_URL_RESPONSE, "{\"url\":\"https://x\",\"expires\":\"2026-01-01T00:15:00Z\"}", &au);
    tk_wire_error_detail ed;
    golden(f, TK_WIRE_MSG_ERROR_DETAIL, "{\"detail\":\"Not Found\"}", &ed);
}

/* ---- bad input ---------------------------------------------------------------------------------- */

static void expect_err(fx *f, tk_wire_msg type, const char *json, int code, const char *needle) {
    char buf[4096];
    assert_true(tk_wire_msg_get_info(type)->size <= sizeof buf);
    tk_err e = {0};
    int rc = tk_wire_json_decode(type, json, strlen(json), f->a, buf, &e);
    if (rc != code) fail_msg("%s -> %s (%s), expected %s", json, tk_code_name(rc), e.msg, tk_code_name(code));
    if (!strstr(e.msg, needle)) fail_msg("%s: message \"%s\" lacks \"%s\"", json, e.msg, needle);
}

static void malformed_json(void **state) {
    fx *f = *state;
    const tk_wire_msg FB = TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST;
    expect_err(f, FB, "", TK_EPARSE, "unexpected end of input");
    expect_err(f, FB, "{\"model_id\":\"m\",}", TK_EPARSE, "expected a string key");
    expect_err(f, FB, "{\"model_id\" \"m\"}", TK_EPARSE, "expected ':'");
    expect_err(f, FB, "[1,2]", TK_EINVAL, "expected object, got array");
    expect_err(f, FB, "{\"model_id\":\"m\",\"forward_input\":{\"loss_fn\":\"ppo\",\"data\":[]}} x", TK_EPARSE,
               "trailing characters");
    expect_err(f, FB, "{\"model_id\":\"a\\qb\"}", TK_EPARSE, "model_id: invalid JSON at byte 14: bad escape");
    expect_err(f, FB, "{\"model_id\":\"a\x01\"}", TK_EPARSE, "control character");
    expect_err(f, FB, "{\"model_id\":\"\xc3\x28\"}", TK_EPARSE, "invalid UTF-8");
    expect_err(f, FB, "{\"model_id\":\"\\ud800x\"}", TK_EPARSE, "unpaired UTF-16 surrogate");
    expect_err(f, FB, "{\"model_id\":\"\\u0000\"}", TK_EPARSE, "\\u0000");
    expect_err(f, FB, "{\"model_id\":\"m\",\"seq_id\":01}", TK_EPARSE, "seq_id: invalid JSON at byte 25: malformed number");
    expect_err(f, FB, "{\"model_id\":\"m\",\"seq_id\":1.}", TK_EPARSE, "malformed number");
    expect_err(f, FB, "{\"model_id\":\"m\",\"seq_id\":-}", TK_EPARSE, "malformed number");
    expect_err(f, FB, "{\"model_id\":\"m\",\"seq_id\":tru}", TK_EPARSE, "seq_id");
    expect_err(f, FB, "{\"model_id\":\"m\",\"model_id\":\"n\"}", TK_EINVAL, "model_id: duplicate key");
    /* nesting far deeper than any message: refused before the stack is at risk */
    char deep[400];
    size_t n = (size_t)snprintf(deep, sizeof deep, "{\"model_id\":\"m\",\"extra\":");
    for (int i = 0; i < 100; i++) deep[n++] = '[';
    deep[n] = '\0';
    tk_arena *a = f->a;
    char obj[512];
    tk_err e = {0};
    assert_err(tk_wire_json_decode(TK_WIRE_MSG_CLIENT_CONFIG, deep, n, a, obj, &e), TK_EPARSE, &e, "nested deeper than 64");

    /* every prefix of a valid body is refused (truncated bodies), with no crash and no leak */
    size_t len = strlen(k_fb_example);
    for (size_t cut = 0; cut < len; cut++) {
        tk_wire_forward_backward_request fb;
        tk_err e2 = {0};
        int rc = tk_wire_json_decode(FB, k_fb_example, cut, f->a, &fb, &e2);
        if (rc != TK_EPARSE && rc != TK_EINVAL) fail_msg("prefix of %zu bytes: %s (%s)", cut, tk_code_name(rc), e2.msg);
        assert_true(strlen(e2.msg) > 0);
    }
}

static void wrong_types_and_fields(void **state) {
    fx *f = *state;
    const tk_wire_msg FB = TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST;
    char buf[2048];
#define FBODY(inner) "{\"model_id\":\"m\",\"forward_backward_input\":{\"loss_fn\":\"cross_entropy\",\"data\":[" inner "]}}"
#define DATUM(tensors) "{\"model_input\":{\"chunks\":[{\"tokens\":[1,2],\"type\":\"encoded_text\"}]},\"loss_fn_inputs\":{" tensors "}}"
    expect_err(f, FB, "{\"model_id\":\"m\",\"seq_id\":\"1\",\"forward_backward_input\":{}}", TK_EINVAL,
               "seq_id: expected integer, got string");
    expect_err(f, FB, "{\"model_id\":5}", TK_EINVAL, "model_id: expected string, got integer");
    expect_err(f, FB, "{\"model_id\":\"m\",\"seq_id\":1.5}", TK_EINVAL, "seq_id: expected an integer, got a real number");
    expect_err(f, FB, "{\"model_id\":\"m\",\"seq_id\":9223372036854775808}", TK_ERANGE, "does not fit in 64 bits");
    expect_err(f, FB, "{\"seq_id\":1,\"forward_backward_input\":{\"loss_fn\":\"ppo\",\"data\":[]}}", TK_EINVAL,
               "model_id: required field is missing");
    /* unknown request fields are refused, naming the field and where it is */
    expect_err(f, FB, "{\"model_id\":\"m\",\"foo\":1}", TK_EINVAL, "(root): unknown field \"foo\"");
    expect_err(f, FB, "{\"model_id\":\"m\",\"forward_backward_input\":{\"loss_fn\":\"ppo\",\"data\":[],\"bar\":{}}}",
               TK_EINVAL, "forward_backward_input: unknown field \"bar\"");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[1,1],\"dtype\":\"float32\",\"extra\":1}")), TK_EINVAL,
               "forward_backward_input.data[0].loss_fn_inputs.weights: unknown field \"extra\"");
    expect_err(f, FB, FBODY("{\"model_input\":{\"chunks\":[{\"tokens\":[1],\"type\":\"encoded_text\",\"data\":\"AA==\"}]}}"),
               TK_EINVAL, "chunks[0]: unknown field \"data\" for a encoded_text chunk");
    /* both /forward and /forward_backward keys */
    expect_err(f, FB, "{\"model_id\":\"m\",\"forward_input\":{\"loss_fn\":\"ppo\",\"data\":[]},\"forward_backward_input\":{}}",
               TK_EINVAL, "only one of forward_backward_input and forward_input");
    /* unknown loss function */
    expect_err(f, FB, "{\"model_id\":\"m\",\"forward_backward_input\":{\"loss_fn\":\"mse\",\"data\":[]}}", TK_EINVAL,
               "forward_backward_input.loss_fn: unknown value \"mse\" (expected one of \"cross_entropy\"");
    /* tensors: data length != product of shape, negative / overflowing dims, bad dtype, types */
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[1,2,3,4,5],\"dtype\":\"float32\",\"shape\":[2,3]}")), TK_EINVAL,
               "data[0].loss_fn_inputs.weights: data has 5 elements but shape [2,3] needs 6");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[],\"dtype\":\"float32\",\"shape\":[2,-3]}")), TK_EINVAL,
               "weights.shape[1]: negative dimension -3");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[],\"dtype\":\"float32\",\"shape\":[4611686018427387904,4611686018427387904]}")),
               TK_ERANGE, "weights: shape overflows");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[],\"dtype\":\"float32\",\"shape\":[1,1,1,1,1,1,1,1,1]}")),
               TK_EINVAL, "weights.shape: 9 dimensions (at most 8)");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[1],\"dtype\":\"float16\"}")), TK_EINVAL,
               "weights.dtype: unknown dtype \"float16\"");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[1]}")), TK_EINVAL, "weights.dtype: required field is missing");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"dtype\":\"int64\"}")), TK_EINVAL, "weights.data: required field is missing");
    expect_err(f, FB, FBODY(DATUM("\"target_tokens\":{\"data\":[1,2.5],\"dtype\":\"int64\"}")), TK_EINVAL,
               "target_tokens.data[1]: expected an integer, got a real number");
    expect_err(f, FB, FBODY(DATUM("\"target_tokens\":{\"data\":[1,\"2\"],\"dtype\":\"int64\"}")), TK_EINVAL,
               "target_tokens.data[1]: expected integer, got string");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"dtype\":\"float32\",\"data\":[1,true]}")), TK_EINVAL,
               "weights.data[1]: expected number, got boolean");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"dtype\":\"float32\",\"data\":[1e39]}")), TK_ERANGE,
               "weights.data[0]: 1e39 is out of float32 range");
    expect_err(f, FB, FBODY(DATUM("\"target_tokens\":{\"data\":[9223372036854775808],\"dtype\":\"int64\"}")), TK_ERANGE,
               "target_tokens.data[0]: integer 9223372036854775808 does not fit in 64 bits");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[1],\"dtype\":\"float32\"},\"weights\":{\"data\":[1],\"dtype\":\"float32\"}")),
               TK_EINVAL, "loss_fn_inputs.weights: duplicate key");
    /* chunks */
    expect_err(f, FB, FBODY("{\"model_input\":{\"chunks\":[{\"tokens\":[1,4294967296],\"type\":\"encoded_text\"}]}}"),
               TK_ERANGE, "chunks[0].tokens[1]: token id 4294967296 does not fit in int32");
    expect_err(f, FB, FBODY("{\"model_input\":{\"chunks\":[{\"data\":\"!!!!\",\"format\":\"png\",\"type\":\"image\"}]}}"),
               TK_EPARSE, "chunks[0].data: invalid base64");
    expect_err(f, FB, FBODY("{\"model_input\":{\"chunks\":[{\"data\":\"AAAA\",\"format\":\"gif\",\"type\":\"image\"}]}}"),
               TK_EINVAL, "chunks[0].format: unknown image format \"gif\"");
    expect_err(f, FB, FBODY("{\"model_input\":{\"chunks\":[{\"data\":\"AAAA\",\"type\":\"image\"}]}}"),
               TK_EINVAL, "chunks[0].format: required field is missing for a image chunk");
    expect_err(f, FB, FBODY("{\"model_input\":{\"chunks\":[{\"dmel\":\"AAAA\",\"type\":\"dmel\"}]}}"),
               TK_EUNSUPPORTED, "chunks[0].dmel: \"dmel\" (audio) chunks are not supported");
    expect_err(f, FB, FBODY("{\"model_input\":{\"chunks\":[{\"type\":\"video\"}]}}"), TK_EINVAL, "unknown chunk type \"video\"");
    expect_err(f, FB, FBODY("{\"model_input\":{}}"), TK_EINVAL, "model_input.chunks: required field is missing");
    /* sparse CSR: valid forms expand, invalid ones are refused */
    snprintf(buf, sizeof buf, FBODY(DATUM("\"weights\":{\"data\":[5,6],\"dtype\":\"float32\",\"shape\":[2,3],"
                                          "\"sparse_crow_indices\":[0,1,2],\"sparse_col_indices\":[2,0]}")));
    tk_wire_forward_backward_request fb;
    assert_ok(tk_wire_json_decode(FB, buf, strlen(buf), f->a, &fb, &f->e), &f->e);
    const tk_wire_tensor *w = tk_wire_tensor_map_get(&fb.input.data[0].loss_fn_inputs, "weights");
    float want[6] = {0, 0, 5, 6, 0, 0};
    assert_int_equal(w->n, 6);
    assert_memory_equal(w->data.f32, want, sizeof want);
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[5,6],\"dtype\":\"float32\",\"shape\":[2,3],"
                                  "\"sparse_crow_indices\":[0,2,1],\"sparse_col_indices\":[2,0]}")),
               TK_EINVAL, "weights: sparse_crow_indices decreases at 2");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[5,6],\"dtype\":\"float32\",\"shape\":[2,3],"
                                  "\"sparse_crow_indices\":[0,1,2],\"sparse_col_indices\":[3,0]}")),
               TK_EINVAL, "sparse_col_indices[0] = 3 is outside [0,3)");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[5],\"dtype\":\"float32\",\"shape\":[100000,100000],"
                                  "\"sparse_crow_indices\":[0],\"sparse_col_indices\":[0]}")),
               TK_ERANGE, "is too large");
    expect_err(f, FB, FBODY(DATUM("\"weights\":{\"data\":[5],\"dtype\":\"float32\",\"sparse_crow_indices\":[0,1],"
                                  "\"sparse_col_indices\":[0]}")),
               TK_EINVAL, "a sparse tensor needs \"shape\"");
    /* a result ignores unknown fields, but still checks the ones it knows */
    tk_wire_forward_backward_output fo;
    const char *extra = "{\"loss_fn_output_type\":\"x\",\"loss_fn_outputs\":[{\"logprobs\":{\"data\":[1],\"dtype\":\"float32\","
                        "\"future\":[1,{\"a\":null}]}}],\"metrics\":{},\"elapsed\":1.5}";
    assert_ok(tk_wire_json_decode(TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, extra, strlen(extra), f->a, &fo, &f->e), &f->e);
    expect_err(f, TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, "{\"loss_fn_output_type\":\"x\",\"loss_fn_outputs\":[],\"metrics\":{\"a\":\"b\"}}",
               TK_EINVAL, "metrics.a: expected number, got string");
    expect_err(f, TK_WIRE_MSG_SAMPLE_RESPONSE, "{\"sequences\":[{\"stop_reason\":\"eos\",\"tokens\":[]}]}", TK_EINVAL,
               "sequences[0].stop_reason: unknown value \"eos\"");
    expect_err(f, TK_WIRE_MSG_SAMPLE_RESPONSE, "{\"sequences\":[],\"topk_prompt_logprobs\":[[[1,2,3]]]}", TK_EINVAL,
               "topk_prompt_logprobs[0][0][2]: a top-k entry is [token_id, logprob]");
    expect_err(f, TK_WIRE_MSG_CHECKPOINT, "{\"checkpoint_id\":\"weights/a\",\"checkpoint_type\":\"training\",\"time\":\"yesterday\","
               "\"tinker_path\":\"tinker://r/weights/a\"}", TK_EINVAL, "time: \"yesterday\" is not an ISO-8601 date-time");
    expect_err(f, TK_WIRE_MSG_SAMPLE_REQUEST, "{\"prompt\":{\"chunks\":[]},\"sampling_params\":{\"stop\":{}}}", TK_EINVAL,
               "sampling_params.stop: expected string or array, got object");
    expect_err(f, TK_WIRE_MSG_CREATE_SESSION_REQUEST, "{\"tags\":[],\"user_metadata\":[],\"sdk_version\":\"v\"}", TK_EINVAL,
               "user_metadata: expected object, got array");
#undef FBODY
#undef DATUM
}

static void encoder_refusals(void **state) {
    fx *f = *state;
    tk_buf b = {0};
    tk_err e = {0};
    /* a required string that is not set */
    tk_wire_session_heartbeat_request hb = {0};
    assert_err(tk_wire_json_encode(TK_WIRE_MSG_SESSION_HEARTBEAT_REQUEST, &hb, &b, &e), TK_EINVAL, &e,
               "session_heartbeat request: session_id: required field is not set");
    /* invalid UTF-8 */
    hb.session_id = "a\xff";
    tk_buf_clear(&b);
    assert_err(tk_wire_json_encode(TK_WIRE_MSG_SESSION_HEARTBEAT_REQUEST, &hb, &b, &e), TK_EINVAL, &e, "session_id: invalid UTF-8");
    /* non-finite floats and shape mismatches, named by path */
    float vals[3] = {0.5f, NAN, 1};
    tk_wire_named_tensor nt = {"weights", tk_wire_tensor_view_f32(vals, 3)};
    tk_wire_datum d = {{NULL, 0}, {&nt, 1}};
    tk_wire_forward_backward_request fb;
    tk_wire_init(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &fb);
    fb.model_id = "m";
    fb.input.data = &d;
    fb.input.n_data = 1;
    tk_buf_clear(&b);
    assert_err(tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &fb, &b, &e), TK_EINVAL, &e,
               "forward_backward_input.data[0].loss_fn_inputs.weights.data[1]: NaN is not representable in JSON");
    vals[1] = 2;
    nt.tensor.shape[0] = 4;
    tk_buf_clear(&b);
    assert_err(tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &fb, &b, &e), TK_EINVAL, &e,
               "data[0].loss_fn_inputs.weights: tensor: 3 elements but the shape needs 4");
    nt.tensor.shape[0] = 3;
    fb.input.loss_fn = (tk_wire_loss_fn)9;
    tk_buf_clear(&b);
    assert_err(tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &fb, &b, &e), TK_EINVAL, &e,
               "forward_backward_input.loss_fn: invalid enum value 9");
    /* user-supplied raw JSON must be one object */
    tk_wire_create_model_request cm;
    tk_wire_init(TK_WIRE_MSG_CREATE_MODEL_REQUEST, &cm);
    cm.session_id = "s";
    cm.base_model = "b";
    cm.user_metadata = "{\"a\":1} {";
    tk_buf_clear(&b);
    assert_err(tk_wire_json_encode(TK_WIRE_MSG_CREATE_MODEL_REQUEST, &cm, &b, &e), TK_EINVAL, &e,
               "user_metadata: not a JSON object");
    tk_buf_free(&b);
    (void)f;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bootstrap_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(session_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(model_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(training_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(weights_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(sampling_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(future_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(rest_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_json, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_types_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(encoder_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
