/*
 * tinkerc/wire.h — the Tinker data model and its two codecs (JSON and protobuf).
 *
 * Everything a Tinker client sends or a Tinker server answers (reference/tinker-protocol.md §3,
 * §5, §6, §7) has a plain C struct here, and every struct can be encoded and decoded in both
 * directions, so that the client (encode requests, decode results) and the loopback server
 * (decode requests, encode results) share one implementation.
 *
 * --------------------------------------------------------------------------------------------
 * Conventions (read once, they hold for every struct below)
 * --------------------------------------------------------------------------------------------
 *   - Field names are the JSON keys. An array field `T *x` has its length in `size_t n_x`.
 *     An optional scalar field `T x` (pydantic `Optional[...] = None`) has `bool has_x`; an
 *     optional string is NULL when absent. Absent fields are omitted on encode (§1.4: None is
 *     never sent); fields with a non-None default are always sent.
 *   - Integers are int64_t; token ids are int32_t (the protobuf wire form is int32).
 *   - Strings are NUL-terminated UTF-8. Encoders refuse invalid UTF-8 and say which field.
 *   - "raw JSON" fields (user_metadata with arbitrary values, telemetry event_data) hold compact
 *     JSON text of an object; NULL when absent.
 *   - Start a struct for encoding with tk_wire_init(TK_WIRE_MSG_…, &obj): it zeroes it and sets
 *     the SDK defaults (AdamParams 1e-4/0.9/0.95/1e-12/0/0, temperature 1, top_k -1, LoRA rank 32
 *     with all train_* true, num_samples 1, …).
 *
 * Ownership
 *   - Encoders never take ownership and never modify their input; arrays may point anywhere
 *     (a tokenizer's output, an engine buffer).
 *   - Decoders write into a caller-provided struct whose every pointer points into the caller's
 *     tk_arena. Use one arena per decoded message and free the whole message with one
 *     tk_arena_free (or tk_arena_reset to reuse it). On failure the struct is unspecified and
 *     whatever was allocated stays in the arena until it is freed: nothing leaks.
 *
 * Errors
 *   Every fallible function returns 0 or a negative TK_E… code and fills the caller's tk_err with
 *   a message that starts with the message name and the JSON path or protobuf field, e.g.
 *     "forward_backward request: forward_backward_input.data[3].loss_fn_inputs.weights: data has
 *      5 elements but shape [2,3] needs 6"
 *   TK_EPARSE: malformed JSON / protobuf / base64 / zstd; TK_EINVAL: well-formed but wrong
 *   (wrong type, missing required field, unknown request field, bad value); TK_ERANGE: a number
 *   outside its range; TK_ENOMEM: out of memory or a size cap exceeded; TK_EUNSUPPORTED: valid
 *   protocol we do not implement (dmel chunks).
 *
 * Typical use
 *   client, sending:   tk_wire_forward_backward_request req;
 *                      tk_wire_init(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &req);   // defaults
 *                      req.model_id = …; req.has_seq_id = true; req.seq_id = n; req.input.data = …;
 *                      tk_wire_proto_encode_forward_backward_request(&req, &body, &e);  // 0.25 form
 *                      (or tk_wire_json_encode(TK_WIRE_MSG_…, &obj, &body, &e) for everything else)
 *   client, receiving: tk_wire_future_reply_classify(body, len, arena, &reply, &e);
 *                      if reply.kind == TK_WIRE_REPLY_RESULT:
 *                          tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, content_type,
 *                                              NULL, body, len, 0, arena, &out, &e);
 *                      tk_wire_forward_backward_output_merge(chunks, n, arena, &merged, &e);
 *   server, receiving: tk_wire_body_decode(TK_WIRE_MSG_…_REQUEST, content_type, content_encoding,
 *                                          body, len, 0, arena, &req, &e);   // zstd, proto or JSON
 *                      tk_wire_datum_check(&req.input.data[i], req.input.loss_fn, "data[i]", &e);
 *   server, answering: tk_wire_body_encode(TK_WIRE_MSG_…, accept_header, &result, &out, &ctype, &e);
 *                      envelopes: TK_WIRE_MSG_TRY_AGAIN, _REQUEST_FAILED, _COMPLETE_METADATA.
 *
 * Thread safety: every function is reentrant; distinct objects may be used from distinct threads.
 * Byte order: the protobuf byte arrays are little-endian; tinkerc builds only on little-endian
 * hosts (checked at compile time).
 */
#ifndef TINKERC_WIRE_H
#define TINKERC_WIRE_H

#include "tinkerc/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================= */
/* Tensors (§6.3)                                                                                */
/* ============================================================================================= */

/* The two public dtypes. Protobuf int32 and bfloat16 tensors are widened to these on decode. */
typedef enum tk_wire_dtype {
    TK_WIRE_INT64 = 0,
    TK_WIRE_FLOAT32 = 1,
} tk_wire_dtype;

#define TK_WIRE_MAX_NDIM 8

/* TensorData: a dense row-major tensor. n == product(shape) always holds for decoded tensors
 * (tk_wire_tensor_validate checks it for tensors you build). ndim == 0 is a scalar (n == 1).
 * When JSON carries no "shape", a 1-D shape [n] is filled in. The sparse CSR form of the wire
 * (sparse_crow_indices / sparse_col_indices, protobuf SparseCsr) is EXPANDED to dense on decode,
 * after checking the indices; encoders always send dense. */
typedef struct tk_wire_tensor {
    tk_wire_dtype dtype;
    int ndim;
    int64_t shape[TK_WIRE_MAX_NDIM];
    size_t n;
    union {
        int64_t *i64;   /* dtype TK_WIRE_INT64 */
        float *f32;     /* dtype TK_WIRE_FLOAT32 */
        void *ptr;
    } data;
} tk_wire_tensor;

/* name -> tensor, in insertion order (loss_fn_inputs, one datum's loss_fn_outputs). */
typedef struct tk_wire_named_tensor {
    char *name;
    tk_wire_tensor tensor;
} tk_wire_named_tensor;

typedef struct tk_wire_tensor_map {
    tk_wire_named_tensor *items;
    size_t n;
} tk_wire_tensor_map;

/* Find a tensor by name; NULL if absent. */
const tk_wire_tensor *tk_wire_tensor_map_get(const tk_wire_tensor_map *m, const char *name);

/* ---- the TensorData bridge: C arrays <-> tensors (point 7) -------------------------------- */

/* Build a tensor from a C array, copying into arena a. shape == NULL means 1-D [n]; otherwise
 * product(shape[0..ndim)) must equal n. Conversions:
 *   int32, int64          -> int64 (exact)
 *   float                 -> float32 (exact)
 *   double                -> float32: NARROWING, rounds to nearest; a finite value beyond
 *                            ±FLT_MAX is TK_ERANGE (naming the index); NaN/inf are kept
 *   bfloat16 (uint16 bits)-> float32: exact widening (the bits become the upper half) */
int tk_wire_tensor_from_i32(tk_arena *a, const int32_t *src, size_t n, const int64_t *shape,
                            int ndim, tk_wire_tensor *out, tk_err *e);
int tk_wire_tensor_from_i64(tk_arena *a, const int64_t *src, size_t n, const int64_t *shape,
                            int ndim, tk_wire_tensor *out, tk_err *e);
int tk_wire_tensor_from_f32(tk_arena *a, const float *src, size_t n, const int64_t *shape,
                            int ndim, tk_wire_tensor *out, tk_err *e);
int tk_wire_tensor_from_f64(tk_arena *a, const double *src, size_t n, const int64_t *shape,
                            int ndim, tk_wire_tensor *out, tk_err *e);
int tk_wire_tensor_from_bf16(tk_arena *a, const uint16_t *src, size_t n, const int64_t *shape,
                             int ndim, tk_wire_tensor *out, tk_err *e);

/* A 1-D tensor that BORROWS p (no copy): for encoding data you already hold. */
static inline tk_wire_tensor tk_wire_tensor_view_i64(int64_t *p, size_t n) {
    tk_wire_tensor t = {TK_WIRE_INT64, 1, {(int64_t)n}, n, {.i64 = p}};
    return t;
}
static inline tk_wire_tensor tk_wire_tensor_view_f32(float *p, size_t n) {
    tk_wire_tensor t = {TK_WIRE_FLOAT32, 1, {(int64_t)n}, n, {.f32 = p}};
    return t;
}

/* Copy a tensor's elements out into dst[0..n) where n must equal t->n (TK_EINVAL otherwise).
 *   to_i64: int64 tensors only.  to_i32: int64 tensors, NARROWING with a range check (TK_ERANGE
 *   naming the first index that does not fit).  to_f32: float32 tensors only.  to_f64: float32
 *   tensors, exact widening.  A dtype mismatch is TK_EINVAL. `name` is used in messages. */
int tk_wire_tensor_to_i64(const tk_wire_tensor *t, const char *name, int64_t *dst, size_t n, tk_err *e);
int tk_wire_tensor_to_i32(const tk_wire_tensor *t, const char *name, int32_t *dst, size_t n, tk_err *e);
int tk_wire_tensor_to_f32(const tk_wire_tensor *t, const char *name, float *dst, size_t n, tk_err *e);
int tk_wire_tensor_to_f64(const tk_wire_tensor *t, const char *name, double *dst, size_t n, tk_err *e);

/* Check internal consistency: 0 <= ndim <= TK_WIRE_MAX_NDIM, dims >= 0, product(shape) == n
 * (overflow-checked), data != NULL when n > 0. */
int tk_wire_tensor_validate(const tk_wire_tensor *t, const char *name, tk_err *e);
/* Check dtype and shape: ndim must match and each dims[i] >= 0 must equal shape[i] (-1 = any). */
int tk_wire_tensor_check_shape(const tk_wire_tensor *t, const char *name, tk_wire_dtype dtype,
                               int ndim, const int64_t *dims, tk_err *e);

const char *tk_wire_dtype_name(tk_wire_dtype d);   /* "int64" / "float32" */

/* ============================================================================================= */
/* ModelInput and chunks (§6.1), Datum (§6.2)                                                    */
/* ============================================================================================= */

typedef enum tk_wire_chunk_type {
    TK_WIRE_CHUNK_ENCODED_TEXT = 0,        /* "encoded_text": tokens */
    TK_WIRE_CHUNK_IMAGE = 1,               /* "image": data (raw bytes; base64 in JSON), format */
    TK_WIRE_CHUNK_IMAGE_ASSET_POINTER = 2, /* "image_asset_pointer": location, format; JSON only */
} tk_wire_chunk_type;
/* "dmel" (audio) chunks are refused with TK_EUNSUPPORTED by both decoders. */

/* One chunk; only the members of its type are meaningful. */
typedef struct tk_wire_chunk {
    tk_wire_chunk_type type;
    int32_t *tokens;            /* encoded_text */
    size_t n_tokens;
    uint8_t *data;              /* image */
    size_t n_data;
    char *format;               /* image, image_asset_pointer: "png" or "jpeg" */
    char *location;             /* image_asset_pointer */
    bool has_expected_tokens;   /* image, image_asset_pointer: the chunk's length */
    int64_t expected_tokens;
} tk_wire_chunk;

typedef struct tk_wire_model_input {
    tk_wire_chunk *chunks;
    size_t n_chunks;
} tk_wire_model_input;

/* Sum of chunk lengths (tokens, or expected_tokens for images). TK_EINVAL naming the chunk when
 * an image chunk lacks expected_tokens (the SDK raises the same). */
int tk_wire_model_input_length(const tk_wire_model_input *mi, int64_t *len, tk_err *e);

typedef struct tk_wire_datum {
    tk_wire_model_input model_input;
    tk_wire_tensor_map loss_fn_inputs;
} tk_wire_datum;

/* ---- datum construction as the cookbook does it (reference/cookbook.md §3.1) --------------- */

typedef enum tk_wire_reduction {
    TK_WIRE_REDUCTION_NONE = 0,   /* raw weights: token-sum loss */
    TK_WIRE_REDUCTION_MEAN = 1,   /* weights / sum(weights) when the sum > 0: token-mean loss */
} tk_wire_reduction;

/* datum_from_model_input_weights: weights[0..n_weights) is aligned with model_input (n_weights
 * must equal its length). Steps: truncate to max_length from the right (max_length < 0: no
 * limit; text chunks are cut, image chunks dropped whole), drop empty text chunks and trailing
 * image chunks, then input = all tokens but the last, target_tokens = all tokens but the first
 * (image positions give target 0), weights = weights[1 .. len(targets)], reduced per `red`
 * (the sum is taken in double, the division in float32). The last chunk must then be text and
 * the length >= 2 (TK_EINVAL otherwise). The datum gets loss_fn_inputs {"weights": float32[N-1],
 * "target_tokens": int64[N-1]} in that order. The chunk array, targets and weights are allocated
 * in a; token arrays, image bytes and strings are shared with the input (not copied), so the
 * input must outlive the datum. The input itself is not modified. */
int tk_wire_datum_from_model_input_weights(const tk_wire_model_input *mi, const float *weights,
                                           size_t n_weights, int64_t max_length,
                                           tk_wire_reduction red, tk_arena *a, tk_wire_datum *out,
                                           tk_err *e);

/* ============================================================================================= */
/* Loss functions (§6.4, §6.8), optimizer (§7), sampling, LoRA                                   */
/* ============================================================================================= */

typedef enum tk_wire_loss_fn {
    TK_WIRE_LOSS_CROSS_ENTROPY = 0,
    TK_WIRE_LOSS_IMPORTANCE_SAMPLING = 1,
    TK_WIRE_LOSS_PPO = 2,
    TK_WIRE_LOSS_CISPO = 3,
    TK_WIRE_LOSS_DRO = 4,
    TK_WIRE_LOSS_COUNT_ = 5,
} tk_wire_loss_fn;

/* A loss function's contract. Config defaults: ppo/cispo clip_low_threshold 0.8,
 * clip_high_threshold 1.2 (ratio bounds, ε = 0.2); dro beta 0.05 (the docs' example value; the
 * real default is unverified). cross_entropy and importance_sampling take no config. */
typedef struct tk_wire_loss_fn_info {
    const char *name;                       /* "cross_entropy", … */
    const char *const *required_inputs;     /* NULL-terminated, e.g. target_tokens, weights */
    const tk_wire_dtype *input_dtypes;      /* dtype of each required input */
    const char *const *optional_inputs;     /* NULL-terminated extra inputs the loss accepts */
    const char *const *config_keys;         /* NULL-terminated loss_fn_config keys */
    const double *config_defaults;          /* default of each config key */
} tk_wire_loss_fn_info;

/* Never NULL for a valid fn; NULL otherwise. */
const tk_wire_loss_fn_info *tk_wire_loss_fn_get_info(tk_wire_loss_fn fn);
const char *tk_wire_loss_fn_name(tk_wire_loss_fn fn);     /* "?" for invalid values */
/* Parse a loss name; TK_EINVAL "unknown loss function \"x\" (expected one of …)". */
int tk_wire_loss_fn_parse(const char *name, tk_wire_loss_fn *out, tk_err *e);

/* map<string, double>: loss_fn_config, metrics. `present` distinguishes "absent" (None, omitted
 * on encode) from "{}"; for always-sent maps (ForwardBackwardOutput.metrics) it is ignored. */
typedef struct tk_wire_kv_f64 {
    char *key;
    double value;
} tk_wire_kv_f64;

typedef struct tk_wire_f64_map {
    bool present;
    tk_wire_kv_f64 *items;
    size_t n;
} tk_wire_f64_map;

/* Value of key in m, or NULL. */
const double *tk_wire_f64_map_get(const tk_wire_f64_map *m, const char *key);

/* The value of a config key for fn: cfg's value if present, else the default. TK_EINVAL when the
 * key is not a config key of fn. */
int tk_wire_loss_config_value(tk_wire_loss_fn fn, const tk_wire_f64_map *cfg, const char *key,
                              double *out, tk_err *e);
/* Reject config keys that fn does not take (what a strict server does). The JSON and protobuf
 * decoders do NOT call this: the SDK itself sends any key. */
int tk_wire_loss_config_check(tk_wire_loss_fn fn, const tk_wire_f64_map *cfg, tk_err *e);
/* Check one datum against fn's contract: every required input present with its dtype, every
 * input 1-D with length == model_input length, no input the loss does not know. `where` names
 * the datum in messages ("data[3]"). */
int tk_wire_datum_check(const tk_wire_datum *d, tk_wire_loss_fn fn, const char *where, tk_err *e);

/* AdamParams (§7) with the SDK defaults from tk_wire_init. */
typedef struct tk_wire_adam_params {
    double learning_rate;    /* 1e-4 */
    double beta1;            /* 0.9 */
    double beta2;            /* 0.95 */
    double eps;              /* 1e-12 */
    double weight_decay;     /* 0.0 */
    double grad_clip_norm;   /* 0.0 = off */
} tk_wire_adam_params;

/* SamplingParams.stop: a string, a list of strings, or a list of token ids. */
typedef enum tk_wire_stop_kind {
    TK_WIRE_STOP_NONE = 0,      /* absent (omitted) */
    TK_WIRE_STOP_STRING = 1,    /* "stop": "…" (stop_strings[0]) */
    TK_WIRE_STOP_STRINGS = 2,   /* "stop": ["…", …]; an empty list decodes as this kind */
    TK_WIRE_STOP_TOKENS = 3,    /* "stop": [id, …] */
} tk_wire_stop_kind;

typedef struct tk_wire_sampling_params {
    bool has_max_tokens;
    int64_t max_tokens;
    bool has_seed;
    int64_t seed;
    double temperature;         /* 1 */
    int64_t top_k;              /* -1 = off */
    double top_p;               /* 1 */
    tk_wire_stop_kind stop_kind;
    char **stop_strings;
    size_t n_stop_strings;
    int32_t *stop_tokens;
    size_t n_stop_tokens;
} tk_wire_sampling_params;

typedef struct tk_wire_lora_config {
    int64_t rank;               /* 32 */
    bool has_seed;
    int64_t seed;
    bool train_unembed;         /* true */
    bool train_mlp;             /* true */
    bool train_attn;            /* true */
} tk_wire_lora_config;

/* ============================================================================================= */
/* Results of forward/forward_backward (§6.5) and sample (§6.6)                                  */
/* ============================================================================================= */

typedef struct tk_wire_forward_backward_output {
    char *loss_fn_output_type;          /* "TorchLossReturn", "ArrayRecord", … (required) */
    tk_wire_tensor_map *loss_fn_outputs; /* one map per datum, in request order */
    size_t n_loss_fn_outputs;
    tk_wire_f64_map metrics;            /* keys "name:reduction"; always sent */
} tk_wire_forward_backward_output;

/* Metric merging across the chunks of one call (§6.5), exactly as the SDK does it: the keys of
 * chunk 0 are visited in order; each must contain exactly one ':' (TK_EINVAL naming the key
 * otherwise); an unknown reduction is dropped (debug log); a key missing from any chunk is
 * dropped; sum/min/max fold directly; mean and slack (max - mean) use the average weighted by
 * datum_counts (TK_EINVAL if those sum to 0, as numpy raises); hash_unordered is Python's
 * hash(tuple(sorted(int(v) for v in values))) converted to double; unique keeps chunk 0's value
 * under key and adds "key_1", "key_2", … for the others. Sums use numpy's pairwise order so the
 * results are bit-identical to the SDK's. out's strings are in a. */
int tk_wire_metrics_merge(const tk_wire_f64_map *const *chunks, const size_t *datum_counts,
                          size_t n_chunks, tk_arena *a, tk_wire_f64_map *out, tk_err *e);

/* combine_fwd_bwd_output_results: loss_fn_outputs concatenated in chunk order (the tensor maps
 * are shared, not copied), metrics merged weighted by each chunk's number of outputs, the type
 * taken from chunk 0. n == 0 gives an empty output with type "". */
int tk_wire_forward_backward_output_merge(const tk_wire_forward_backward_output *chunks, size_t n,
                                          tk_arena *a, tk_wire_forward_backward_output *out,
                                          tk_err *e);

typedef enum tk_wire_stop_reason {
    TK_WIRE_STOP_REASON_STOP = 0,     /* "stop": a stop string or token was produced */
    TK_WIRE_STOP_REASON_LENGTH = 1,   /* "length": max_tokens reached */
} tk_wire_stop_reason;

typedef struct tk_wire_sampled_sequence {
    tk_wire_stop_reason stop_reason;
    int32_t *tokens;
    size_t n_tokens;
    bool has_logprobs;                /* absent or empty logprobs decode as has_logprobs=false */
    float *logprobs;
    size_t n_logprobs;
} tk_wire_sampled_sequence;

/* Top-k prompt logprobs as the protobuf carries them: an n_positions x k row-major matrix; an
 * empty cell is token 0 with logprob -99999.0 (TK_WIRE_TOPK_MASK_LOGPROB). In JSON a row whose
 * first cell is empty is null, and trailing empty cells are trimmed (so "[]" decodes as an
 * empty row, which encodes back as null). */
#define TK_WIRE_TOPK_MASK_LOGPROB (-99999.0f)
typedef struct tk_wire_topk_prompt_logprobs {
    size_t n_positions;
    size_t k;
    int32_t *token_ids;
    float *logprobs;
} tk_wire_topk_prompt_logprobs;

typedef struct tk_wire_sample_response {
    tk_wire_sampled_sequence *sequences;
    size_t n_sequences;
    bool has_prompt_logprobs;
    float *prompt_logprobs;           /* NaN where JSON has null (position 0) */
    size_t n_prompt_logprobs;
    bool has_topk_prompt_logprobs;
    tk_wire_topk_prompt_logprobs topk_prompt_logprobs;
    int64_t prompt_cache_hit_tokens;  /* 0 */
} tk_wire_sample_response;

/* ============================================================================================= */
/* Requests and results of §3                                                                    */
/* ============================================================================================= */

typedef struct tk_wire_str_list {
    char **items;
    size_t n;
} tk_wire_str_list;

typedef struct tk_wire_kv_str {
    char *key;
    char *value;
} tk_wire_kv_str;

typedef struct tk_wire_str_map {       /* map<string,string>; present as in tk_wire_f64_map */
    bool present;
    tk_wire_kv_str *items;
    size_t n;
} tk_wire_str_map;

/* A message with no fields of its own (only a "type" tag, or nothing). */
typedef struct tk_wire_empty {
    char unused_;
} tk_wire_empty;

/* ---- bootstrap (§3.1) ---- */
typedef struct tk_wire_client_config_request {   /* client/config and client/dynamic_config */
    char *sdk_version;
} tk_wire_client_config_request;

typedef struct tk_wire_client_config {           /* every field optional; SDK defaults */
    bool pjwt_auth_enabled;                      /* false */
    char *credential_default_source;             /* "api_key" */
    int64_t sample_dispatch_bytes_semaphore_size;   /* 10485760 */
    int64_t inflight_response_bytes_semaphore_size; /* 52428800 */
    bool parallel_fwdbwd_chunks;                 /* true */
    bool proto_compress_fwdbwd;                  /* false */
    int64_t fwdbwd_max_chunk_len;                /* 1024 */
    int64_t fwdbwd_max_chunk_bytes_count;        /* 5000000 */
    int64_t fwdbwd_dispatch_bytes_semaphore_size;   /* 50000000 */
    int64_t billing_exception_max_pause_duration_sec; /* 3600 */
    bool sample_no_retries;                      /* false */
    bool sample_enable_stuck_detection;          /* true */
    int64_t sample_max_concurrent_requests;      /* 2000 */
    bool use_pyqwest_transport;                  /* true */
    bool create_model_via_load_weights;          /* false */
} tk_wire_client_config;

typedef struct tk_wire_dynamic_config {
    int64_t refresh_interval_sec;                /* 300 */
} tk_wire_dynamic_config;

typedef struct tk_wire_auth_token_response {
    char *jwt;
} tk_wire_auth_token_response;

typedef struct tk_wire_health_response {         /* {"status":"ok"}: the literal is checked */
    char *status;
} tk_wire_health_response;

typedef struct tk_wire_supported_model {
    char *model_name;
    bool has_max_context_length;
    int64_t max_context_length;
} tk_wire_supported_model;

typedef struct tk_wire_server_capabilities {
    tk_wire_supported_model *supported_models;
    size_t n_supported_models;
} tk_wire_server_capabilities;

/* ---- sessions (§3.2) ---- */
typedef struct tk_wire_create_session_request {
    tk_wire_str_list tags;
    char *user_metadata;        /* raw JSON object; required by the SDK: NULL is sent as {} */
    char *sdk_version;
    char *project_id;
} tk_wire_create_session_request;

typedef struct tk_wire_create_session_response {
    char *session_id;
    char *info_message;
    char *warning_message;
    char *error_message;
} tk_wire_create_session_response;

typedef struct tk_wire_session_heartbeat_request {
    char *session_id;
} tk_wire_session_heartbeat_request;

typedef struct tk_wire_create_sampling_session_request {
    char *session_id;
    int64_t sampling_session_seq_id;
    char *base_model;
    char *model_path;
} tk_wire_create_sampling_session_request;

typedef struct tk_wire_create_sampling_session_response {
    char *sampling_session_id;
} tk_wire_create_sampling_session_response;

/* ---- models (§3.3) ---- */
typedef struct tk_wire_create_model_request {
    char *session_id;
    int64_t model_seq_id;
    char *base_model;
    char *user_metadata;        /* raw JSON object or NULL */
    bool has_lora_config;
    tk_wire_lora_config lora_config;
} tk_wire_create_model_request;

typedef struct tk_wire_model_id_response {       /* create_model and unload_model results */
    char *model_id;
} tk_wire_model_id_response;

typedef struct tk_wire_model_id_request {        /* get_info and unload_model requests */
    char *model_id;
} tk_wire_model_id_request;

typedef struct tk_wire_model_data {
    char *arch;
    char *model_name;
    char *tokenizer_id;
} tk_wire_model_data;

typedef struct tk_wire_get_info_response {
    char *model_id;
    tk_wire_model_data model_data;
    bool has_is_lora;
    bool is_lora;
    bool has_lora_rank;
    int64_t lora_rank;
    char *model_name;
} tk_wire_get_info_response;

/* ---- training (§3.4) ---- */
typedef struct tk_wire_forward_backward_input {
    tk_wire_datum *data;
    size_t n_data;
    tk_wire_loss_fn loss_fn;
    tk_wire_f64_map loss_fn_config;   /* present=false: omitted */
} tk_wire_forward_backward_input;

/* POST /forward_backward and POST /forward. forward_only selects the JSON key "forward_input"
 * (the /forward body) instead of "forward_backward_input"; in protobuf it is field 6. The JSON
 * decoder accepts either key and sets forward_only accordingly. A protobuf body always has a
 * seq_id (0 when missing), so has_seq_id is true after a protobuf decode. */
typedef struct tk_wire_forward_backward_request {
    char *model_id;
    bool has_seq_id;
    int64_t seq_id;
    bool forward_only;
    tk_wire_forward_backward_input input;
} tk_wire_forward_backward_request;

typedef struct tk_wire_optim_step_request {
    char *model_id;
    bool has_seq_id;
    int64_t seq_id;
    tk_wire_adam_params adam_params;
} tk_wire_optim_step_request;

typedef struct tk_wire_optim_step_response {
    tk_wire_f64_map metrics;          /* optional: present=false when absent or null */
} tk_wire_optim_step_response;

/* ---- weights (§3.5) ---- */
typedef struct tk_wire_save_weights_request {
    char *model_id;
    char *path;
    bool has_seq_id;
    int64_t seq_id;
    bool has_ttl_seconds;
    int64_t ttl_seconds;
    bool overwrite;                   /* false, always sent */
} tk_wire_save_weights_request;

typedef struct tk_wire_save_weights_response {
    char *path;
} tk_wire_save_weights_response;

typedef struct tk_wire_save_weights_for_sampler_request {
    char *model_id;
    char *path;                       /* named form; NULL for the ephemeral form */
    bool has_sampling_session_seq_id; /* ephemeral form */
    int64_t sampling_session_seq_id;
    bool has_seq_id;
    int64_t seq_id;
    bool has_ttl_seconds;
    int64_t ttl_seconds;
} tk_wire_save_weights_for_sampler_request;

typedef struct tk_wire_save_weights_for_sampler_response {
    char *path;
    char *sampling_session_id;
} tk_wire_save_weights_for_sampler_response;

typedef struct tk_wire_load_weights_request {
    char *model_id;                   /* legacy addressing: model_id + seq_id */
    bool has_seq_id;
    int64_t seq_id;
    char *session_id;                 /* create-via-load: session_id + model_seq_id */
    bool has_model_seq_id;
    int64_t model_seq_id;
    char *base_model;
    char *user_metadata;              /* raw JSON object or NULL */
    char *path;                       /* required */
    bool optimizer;                   /* required */
    char *weights_access_token;
} tk_wire_load_weights_request;

typedef struct tk_wire_load_weights_response {
    char *path;
    char *model_id;
} tk_wire_load_weights_response;

typedef struct tk_wire_weights_info_request {
    char *tinker_path;
} tk_wire_weights_info_request;

typedef struct tk_wire_weights_info_response {
    char *base_model;
    bool is_lora;
    bool has_lora_rank;
    int64_t lora_rank;
    bool has_train_unembed;
    bool train_unembed;
    bool has_train_mlp;
    bool train_mlp;
    bool has_train_attn;
    bool train_attn;
} tk_wire_weights_info_response;

/* ---- sampling (§3.6) ---- */
typedef struct tk_wire_sample_request {
    char *sampling_session_id;
    bool has_seq_id;
    int64_t seq_id;
    int64_t num_samples;              /* 1 */
    tk_wire_model_input prompt;
    tk_wire_sampling_params sampling_params;
    char *base_model;                 /* legacy (<= 0.2.2) addressing */
    char *model_path;
    bool has_prompt_logprobs;
    bool prompt_logprobs;
    int64_t topk_prompt_logprobs;     /* 0 */
} tk_wire_sample_request;

/* ---- futures (§3.7, §6.7) ---- */
typedef struct tk_wire_untyped_future {          /* immediate answer of every F endpoint */
    char *request_id;
    char *model_id;
} tk_wire_untyped_future;

typedef struct tk_wire_retrieve_future_request {
    char *request_id;
    bool allow_metadata_only;         /* false, always sent */
} tk_wire_retrieve_future_request;

typedef enum tk_wire_queue_state {
    TK_WIRE_QUEUE_ACTIVE = 0,
    TK_WIRE_QUEUE_PAUSED_CAPACITY = 1,
    TK_WIRE_QUEUE_PAUSED_RATE_LIMIT = 2,
} tk_wire_queue_state;

typedef struct tk_wire_try_again {               /* {"type":"try_again",…} */
    char *request_id;
    tk_wire_queue_state queue_state;
    char *queue_state_reason;
} tk_wire_try_again;

typedef enum tk_wire_error_category {
    TK_WIRE_CATEGORY_UNKNOWN = 0,
    TK_WIRE_CATEGORY_SERVER = 1,
    TK_WIRE_CATEGORY_USER = 2,
} tk_wire_error_category;

typedef struct tk_wire_request_failed {          /* {"error":…,"category":…} */
    char *error;
    tk_wire_error_category category;  /* an unknown category decodes as UNKNOWN (as the SDK) */
} tk_wire_request_failed;

typedef struct tk_wire_complete_metadata {       /* {"status":"complete_metadata",…} */
    int64_t response_payload_size;
} tk_wire_complete_metadata;

/* What a retrieve_future JSON answer is, in the SDK's order of checks (§3.7): a "type" of
 * "try_again"; a "status" of "complete_metadata"; an "error" key; otherwise the bare result,
 * which the caller then decodes with the decoder of the type it expects. */
typedef enum tk_wire_future_reply_kind {
    TK_WIRE_REPLY_RESULT = 0,
    TK_WIRE_REPLY_TRY_AGAIN = 1,
    TK_WIRE_REPLY_METADATA_ONLY = 2,
    TK_WIRE_REPLY_FAILED = 3,
} tk_wire_future_reply_kind;

typedef struct tk_wire_future_reply {
    tk_wire_future_reply_kind kind;
    tk_wire_try_again try_again;            /* kind TRY_AGAIN */
    tk_wire_complete_metadata metadata;     /* kind METADATA_ONLY */
    tk_wire_request_failed failed;          /* kind FAILED */
} tk_wire_future_reply;

/* Classify (and for the envelopes, decode) a retrieve_future JSON body. */
int tk_wire_future_reply_classify(const char *json, size_t len, tk_arena *a,
                                  tk_wire_future_reply *out, tk_err *e);

/* ---- telemetry (§3.9) ---- */
typedef enum tk_wire_event_type {
    TK_WIRE_EVENT_SESSION_START = 0,
    TK_WIRE_EVENT_SESSION_END = 1,         /* + duration */
    TK_WIRE_EVENT_UNHANDLED_EXCEPTION = 2, /* + error_type, error_message, traceback? */
    TK_WIRE_EVENT_GENERIC_EVENT = 3,       /* + event_name, event_data */
} tk_wire_event_type;

typedef enum tk_wire_severity {
    TK_WIRE_SEVERITY_DEBUG = 0,
    TK_WIRE_SEVERITY_INFO = 1,
    TK_WIRE_SEVERITY_WARNING = 2,
    TK_WIRE_SEVERITY_ERROR = 3,
    TK_WIRE_SEVERITY_CRITICAL = 4,
} tk_wire_severity;

typedef struct tk_wire_telemetry_event {
    tk_wire_event_type event;
    char *event_id;
    int64_t event_session_index;
    tk_wire_severity severity;
    char *timestamp;                  /* ISO-8601 */
    char *duration;                   /* SESSION_END (required there) */
    char *error_type;                 /* UNHANDLED_EXCEPTION (required there) */
    char *error_message;              /* UNHANDLED_EXCEPTION (required there) */
    char *traceback;                  /* UNHANDLED_EXCEPTION, optional */
    char *event_name;                 /* GENERIC_EVENT (required there) */
    char *event_data;                 /* GENERIC_EVENT: raw JSON object, {} when NULL */
} tk_wire_telemetry_event;

typedef struct tk_wire_telemetry_request {
    tk_wire_telemetry_event *events;
    size_t n_events;
    char *platform;
    char *sdk_version;
    char *session_id;
    char *process_uuid;
} tk_wire_telemetry_request;

typedef struct tk_wire_status_response {         /* telemetry: {"status":"accepted"} */
    char *status;
} tk_wire_status_response;

/* ---- REST resources (§3.8) ---- */
typedef struct tk_wire_cursor {
    int64_t offset;
    int64_t limit;
    int64_t total_count;
} tk_wire_cursor;

typedef enum tk_wire_checkpoint_type {
    TK_WIRE_CHECKPOINT_TRAINING = 0,  /* "training": tinker://run/weights/name */
    TK_WIRE_CHECKPOINT_SAMPLER = 1,   /* "sampler":  tinker://run/sampler_weights/name */
} tk_wire_checkpoint_type;

typedef struct tk_wire_checkpoint {
    char *checkpoint_id;              /* "weights/step-1" */
    tk_wire_checkpoint_type checkpoint_type;
    char *time;                       /* ISO-8601 */
    char *tinker_path;
    bool has_size_bytes;
    int64_t size_bytes;
    bool is_public;                   /* JSON "public"; false */
    char *expires_at;                 /* ISO-8601 or NULL */
} tk_wire_checkpoint;

typedef struct tk_wire_training_run {
    char *training_run_id;
    char *base_model;
    char *model_owner;
    bool is_lora;
    bool corrupted;                   /* false */
    bool has_lora_rank;
    int64_t lora_rank;
    char *last_request_time;          /* ISO-8601 */
    bool has_last_checkpoint;
    tk_wire_checkpoint last_checkpoint;
    bool has_last_sampler_checkpoint;
    tk_wire_checkpoint last_sampler_checkpoint;
    tk_wire_str_map user_metadata;
} tk_wire_training_run;

typedef struct tk_wire_training_runs_response {
    tk_wire_training_run *training_runs;
    size_t n_training_runs;
    tk_wire_cursor cursor;
} tk_wire_training_runs_response;

typedef struct tk_wire_checkpoints_list_response {
    tk_wire_checkpoint *checkpoints;
    size_t n_checkpoints;
    bool has_cursor;
    tk_wire_cursor cursor;
} tk_wire_checkpoints_list_response;

typedef struct tk_wire_sampler_response {       /* GET /samplers/{id} */
    char *sampler_id;
    char *base_model;
    char *model_path;
} tk_wire_sampler_response;

typedef struct tk_wire_list_sessions_response {
    tk_wire_str_list sessions;
} tk_wire_list_sessions_response;

typedef struct tk_wire_session_response {        /* GET /sessions/{id} */
    tk_wire_str_list training_run_ids;
    tk_wire_str_list sampler_ids;
} tk_wire_session_response;

typedef struct tk_wire_session_project_request { /* PUT /sessions/{id}/project */
    char *project_id;
} tk_wire_session_project_request;

typedef struct tk_wire_checkpoint_ttl_request {  /* PUT …/ttl; absent ttl is sent as null */
    bool has_ttl_seconds;
    int64_t ttl_seconds;
} tk_wire_checkpoint_ttl_request;

typedef enum tk_wire_trace_status {
    TK_WIRE_TRACE_PENDING = 0,
    TK_WIRE_TRACE_READY = 1,
    TK_WIRE_TRACE_FAILED = 2,
} tk_wire_trace_status;

typedef struct tk_wire_trace_export_response {
    tk_wire_trace_status status;
    char *url;
    char *error;
} tk_wire_trace_export_response;

typedef struct tk_wire_archive_url_response {
    char *url;
    char *expires;                    /* ISO-8601 */
} tk_wire_archive_url_response;

typedef struct tk_wire_error_detail {            /* FastAPI-style error body {"detail":"…"} */
    char *detail;
} tk_wire_error_detail;

/* ============================================================================================= */
/* The JSON codec (§1.4)                                                                         */
/* ============================================================================================= */

/* Every message type, with its C struct. "Requests" (client -> server) are decoded strictly:
 * an unknown field is TK_EINVAL naming it, and a wrong "type" tag is refused. "Results" (server
 * -> client) ignore unknown fields and the value of "type". The nested types (ADAM_PARAMS, …)
 * are there so that each can be coded and tested on its own; they are strict. */
typedef enum tk_wire_msg {
    /* requests */
    TK_WIRE_MSG_CLIENT_CONFIG_REQUEST,         /* tk_wire_client_config_request */
    TK_WIRE_MSG_CREATE_SESSION_REQUEST,        /* tk_wire_create_session_request */
    TK_WIRE_MSG_SESSION_HEARTBEAT_REQUEST,     /* tk_wire_session_heartbeat_request */
    TK_WIRE_MSG_CREATE_SAMPLING_SESSION_REQUEST, /* tk_wire_create_sampling_session_request */
    TK_WIRE_MSG_CREATE_MODEL_REQUEST,          /* tk_wire_create_model_request */
    TK_WIRE_MSG_GET_INFO_REQUEST,              /* tk_wire_model_id_request, type "get_info" */
    TK_WIRE_MSG_UNLOAD_MODEL_REQUEST,          /* tk_wire_model_id_request, type "unload_model" */
    TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST,      /* tk_wire_forward_backward_request */
    TK_WIRE_MSG_OPTIM_STEP_REQUEST,            /* tk_wire_optim_step_request */
    TK_WIRE_MSG_SAVE_WEIGHTS_REQUEST,          /* tk_wire_save_weights_request */
    TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_REQUEST, /* tk_wire_save_weights_for_sampler_request */
    TK_WIRE_MSG_LOAD_WEIGHTS_REQUEST,          /* tk_wire_load_weights_request */
    TK_WIRE_MSG_WEIGHTS_INFO_REQUEST,          /* tk_wire_weights_info_request */
    TK_WIRE_MSG_SAMPLE_REQUEST,                /* tk_wire_sample_request */
    TK_WIRE_MSG_RETRIEVE_FUTURE_REQUEST,       /* tk_wire_retrieve_future_request */
    TK_WIRE_MSG_TELEMETRY_REQUEST,             /* tk_wire_telemetry_request */
    TK_WIRE_MSG_SESSION_PROJECT_REQUEST,       /* tk_wire_session_project_request */
    TK_WIRE_MSG_CHECKPOINT_TTL_REQUEST,        /* tk_wire_checkpoint_ttl_request */
    /* nested request-side types */
    TK_WIRE_MSG_TENSOR_DATA,                   /* tk_wire_tensor */
    TK_WIRE_MSG_MODEL_INPUT,                   /* tk_wire_model_input */
    TK_WIRE_MSG_DATUM,                         /* tk_wire_datum */
    TK_WIRE_MSG_ADAM_PARAMS,                   /* tk_wire_adam_params */
    TK_WIRE_MSG_SAMPLING_PARAMS,               /* tk_wire_sampling_params */
    TK_WIRE_MSG_LORA_CONFIG,                   /* tk_wire_lora_config */
    /* results */
    TK_WIRE_MSG_CLIENT_CONFIG,                 /* tk_wire_client_config */
    TK_WIRE_MSG_DYNAMIC_CONFIG,                /* tk_wire_dynamic_config */
    TK_WIRE_MSG_AUTH_TOKEN_RESPONSE,           /* tk_wire_auth_token_response */
    TK_WIRE_MSG_HEALTH_RESPONSE,               /* tk_wire_health_response */
    TK_WIRE_MSG_SERVER_CAPABILITIES,           /* tk_wire_server_capabilities */
    TK_WIRE_MSG_CREATE_SESSION_RESPONSE,       /* tk_wire_create_session_response */
    TK_WIRE_MSG_SESSION_HEARTBEAT_RESPONSE,    /* tk_wire_empty */
    TK_WIRE_MSG_CREATE_SAMPLING_SESSION_RESPONSE, /* tk_wire_create_sampling_session_response */
    TK_WIRE_MSG_UNTYPED_FUTURE,                /* tk_wire_untyped_future */
    TK_WIRE_MSG_CREATE_MODEL_RESPONSE,         /* tk_wire_model_id_response, type "create_model" */
    TK_WIRE_MSG_GET_INFO_RESPONSE,             /* tk_wire_get_info_response */
    TK_WIRE_MSG_UNLOAD_MODEL_RESPONSE,         /* tk_wire_model_id_response, type "unload_model" */
    TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT,       /* tk_wire_forward_backward_output */
    TK_WIRE_MSG_OPTIM_STEP_RESPONSE,           /* tk_wire_optim_step_response */
    TK_WIRE_MSG_SAVE_WEIGHTS_RESPONSE,         /* tk_wire_save_weights_response */
    TK_WIRE_MSG_SAVE_WEIGHTS_FOR_SAMPLER_RESPONSE, /* tk_wire_save_weights_for_sampler_response */
    TK_WIRE_MSG_LOAD_WEIGHTS_RESPONSE,         /* tk_wire_load_weights_response */
    TK_WIRE_MSG_WEIGHTS_INFO_RESPONSE,         /* tk_wire_weights_info_response */
    TK_WIRE_MSG_SAMPLE_RESPONSE,               /* tk_wire_sample_response */
    TK_WIRE_MSG_TRY_AGAIN,                     /* tk_wire_try_again */
    TK_WIRE_MSG_REQUEST_FAILED,                /* tk_wire_request_failed */
    TK_WIRE_MSG_COMPLETE_METADATA,             /* tk_wire_complete_metadata */
    TK_WIRE_MSG_TELEMETRY_RESPONSE,            /* tk_wire_status_response, "accepted" */
    TK_WIRE_MSG_CURSOR,                        /* tk_wire_cursor */
    TK_WIRE_MSG_CHECKPOINT,                    /* tk_wire_checkpoint */
    TK_WIRE_MSG_TRAINING_RUN,                  /* tk_wire_training_run */
    TK_WIRE_MSG_TRAINING_RUNS_RESPONSE,        /* tk_wire_training_runs_response */
    TK_WIRE_MSG_CHECKPOINTS_LIST_RESPONSE,     /* tk_wire_checkpoints_list_response */
    TK_WIRE_MSG_SAMPLER_RESPONSE,              /* tk_wire_sampler_response */
    TK_WIRE_MSG_LIST_SESSIONS_RESPONSE,        /* tk_wire_list_sessions_response */
    TK_WIRE_MSG_SESSION_RESPONSE,              /* tk_wire_session_response */
    TK_WIRE_MSG_TRACE_EXPORT_RESPONSE,         /* tk_wire_trace_export_response */
    TK_WIRE_MSG_ARCHIVE_URL_RESPONSE,          /* tk_wire_archive_url_response */
    TK_WIRE_MSG_ERROR_DETAIL,                  /* tk_wire_error_detail */
    TK_WIRE_MSG_COUNT_
} tk_wire_msg;

/* Static facts about a message type; NULL for an invalid value. */
typedef struct tk_wire_msg_info {
    const char *name;          /* "create_session request", used as the prefix of messages */
    const char *type_tag;      /* the JSON "type" literal it carries, or NULL */
    size_t size;               /* sizeof its C struct */
    bool is_request;           /* strict decoding */
} tk_wire_msg_info;
const tk_wire_msg_info *tk_wire_msg_get_info(tk_wire_msg type);

/* Zero *obj (size of type's struct) and set the SDK defaults. */
void tk_wire_init(tk_wire_msg type, void *obj);

/* Append the compact JSON of *obj to out. Fails (TK_EINVAL naming the field) on a missing
 * required string/array, invalid UTF-8, a tensor whose shape does not match its data, a
 * non-finite float (JSON has no NaN; prompt_logprobs NaN is written as null), an unknown enum
 * value. Floats are written as the shortest text that reads back to the same float32 / double
 * ("0.1", "1.0", "1e-05"), integers exactly. On failure out may hold a partial document. */
int tk_wire_json_encode(tk_wire_msg type, const void *obj, tk_buf *out, tk_err *e);

/* Decode json[0..len) into *obj (a struct of type's kind, zeroed first; defaults set for absent
 * fields), allocating in a. Accepts the JSON of RFC 8259 plus Python's NaN / Infinity /
 * -Infinity in float positions; nesting is limited to 64 levels; duplicate keys are refused. */
int tk_wire_json_decode(tk_wire_msg type, const char *json, size_t len, tk_arena *a, void *obj,
                        tk_err *e);

/* ============================================================================================= */
/* The protobuf codec (§5)                                                                       */
/* ============================================================================================= */

/* Hand-written for the three messages the SDK speaks in protobuf. Encoding is deterministic:
 * fields in number order, map entries sorted by key (as protobuf's deterministic mode), proto3
 * defaults omitted. Decoding skips unknown fields (protobuf's forward-compatibility rule), accepts
 * packed and unpacked repeated scalars, and refuses malformed varints, lengths past the end,
 * wrong wire types for known fields, byte arrays whose length is not a multiple of the element
 * size, and shapes that do not match the data, naming the field path.
 *
 * ForwardBackwardRequest: ImageAssetPointer chunks cannot be encoded (TK_EUNSUPPORTED); seq_id
 * must fit int32; a tensor without dims (ndim 0) is sent without a shape and so reads back as
 * 1-D [n]; an empty-but-present loss_fn_config reads back as absent (protobuf maps have no
 * presence).
 * ForwardBackwardOutput: every datum must carry the same field names; consecutive datums whose
 * fields share dtype and trailing shape go into one ArrayRecord (type_tag = loss_fn_output_type),
 * a change starts a new record. Each tensor needs ndim >= 1. The decoder widens int32 -> int64
 * and bfloat16 -> float32, checks that byte offsets start at 0, never decrease, stay inside data,
 * are multiples of the element size and end exactly at the end of data, that every record has
 * the same field names and as many datums per field as num_datums says (num_datums 0: the first
 * field's count), and strips the loss_fn_output_type to the text after its last ':' as the SDK
 * does (an output without records gets the type as sent, or "ArrayRecord").
 * SampleResponse: empty sequence logprobs / prompt_logprobs decode as absent; a top-k block with
 * k == 0 or no positions decodes as absent. */
int tk_wire_proto_encode_forward_backward_request(const tk_wire_forward_backward_request *req,
                                                  tk_buf *out, tk_err *e);
int tk_wire_proto_decode_forward_backward_request(const void *buf, size_t len, tk_arena *a,
                                                  tk_wire_forward_backward_request *out, tk_err *e);
int tk_wire_proto_encode_forward_backward_output(const tk_wire_forward_backward_output *o,
                                                 tk_buf *out, tk_err *e);
int tk_wire_proto_decode_forward_backward_output(const void *buf, size_t len, tk_arena *a,
                                                 tk_wire_forward_backward_output *out, tk_err *e);
int tk_wire_proto_encode_sample_response(const tk_wire_sample_response *r, tk_buf *out, tk_err *e);
int tk_wire_proto_decode_sample_response(const void *buf, size_t len, tk_arena *a,
                                         tk_wire_sample_response *out, tk_err *e);

/* zstd bodies (Content-Encoding: zstd). compress appends one frame (level 1..19; 0 = default).
 * decompress appends the content of every frame in in[0..len) to out, refusing (TK_ENOMEM,
 * "decompressed body exceeds N bytes") as soon as the output would pass max_out, whatever the
 * frame header claims; TK_EPARSE for corrupt or truncated input. */
int tk_wire_zstd_compress(const void *in, size_t len, int level, tk_buf *out, tk_err *e);
int tk_wire_zstd_decompress(const void *in, size_t len, size_t max_out, tk_buf *out, tk_err *e);

/* Default cap for decompressed request bodies (1 GiB, as SkyRL). */
#define TK_WIRE_MAX_DECOMPRESSED ((size_t)1 << 30)

/* Decode a request or result body as an HTTP peer sees it: content_encoding "zstd" (or NULL /
 * "identity") is undone first with the cap max_decompressed (0 = TK_WIRE_MAX_DECOMPRESSED); a
 * content_type containing "application/x-protobuf" selects the protobuf decoder (available for
 * FORWARD_BACKWARD_REQUEST, FORWARD_BACKWARD_OUTPUT and SAMPLE_RESPONSE; TK_EUNSUPPORTED for
 * the others), anything else JSON. */
int tk_wire_body_decode(tk_wire_msg type, const char *content_type, const char *content_encoding,
                        const void *body, size_t len, size_t max_decompressed, tk_arena *a,
                        void *obj, tk_err *e);

/* Encode a result as retrieve_future answers it (§3.7): protobuf when `accept` contains
 * "application/x-protobuf" and the type has a protobuf form (FORWARD_BACKWARD_OUTPUT,
 * SAMPLE_RESPONSE), JSON otherwise. *content_type receives the static Content-Type to send
 * ("application/x-protobuf" or "application/json"). Appends to out. */
int tk_wire_body_encode(tk_wire_msg type, const char *accept, const void *obj, tk_buf *out,
                        const char **content_type, tk_err *e);

/* ============================================================================================= */
/* tinker:// paths (§1.5)                                                                        */
/* ============================================================================================= */

typedef struct tk_wire_tinker_path {
    char *run_id;                       /* training run (model) id */
    tk_wire_checkpoint_type kind;       /* TRAINING = "weights", SAMPLER = "sampler_weights" */
    char *name;
    char *checkpoint_id;                /* "weights/<name>" or "sampler_weights/<name>" */
} tk_wire_tinker_path;

/* Parse "tinker://<run>/<weights|sampler_weights>/<name>": exactly three '/'-separated parts
 * after the scheme (the SDK's rule), plus tinkerc's own: run and name non-empty, no control
 * characters, valid UTF-8. Strings are allocated in a. */
int tk_wire_tinker_path_parse(const char *s, tk_arena *a, tk_wire_tinker_path *out, tk_err *e);
/* Append "tinker://run/kind/name" to out after the same checks on run and name. */
int tk_wire_tinker_path_format(const char *run_id, tk_wire_checkpoint_type kind, const char *name,
                               tk_buf *out, tk_err *e);
/* Parse a REST checkpoint id "weights/<name>" / "sampler_weights/<name>"; *name points into s. */
int tk_wire_checkpoint_id_parse(const char *s, tk_wire_checkpoint_type *kind, const char **name,
                                tk_err *e);

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_WIRE_H */
