/*
 * tinkerc/engine.h — the local model math: Hugging Face Llama 3 / Qwen3 models on the CPU in fp32,
 * LoRA adapters over a shared base model, forward and forward_backward with the five Tinker losses,
 * AdamW, sampling with a KV cache (many requests, each with its own adapter, in one decode loop),
 * prompt logprobs, checkpoints (training state / sampler weights) and PEFT adapters in and out.
 * Depends only on the base layer. docs/ENGINE.md has an API tour for the server.
 *
 * Typical use (the loopback server's single worker thread):
 *
 *   tk_engine_model *m;   tk_engine_model_load("models/qwen3-tiny", &m, &e);
 *   tk_engine_lora_config lc;  tk_engine_lora_config_default(&lc);  lc.rank = 8;
 *   tk_engine_adapter *a; tk_engine_adapter_new(m, &lc, &a, &e);
 *   tk_engine_forward_backward(a, &req, &out, &e);   // gradients accumulate (sum) ...
 *   tk_engine_forward_backward(a, &req2, &out2, &e); // ... across calls
 *   tk_engine_optim_step(a, &adam, NULL, &e);        // AdamW, then the accumulator is zeroed
 *   tk_engine_adapter_free(a); tk_engine_model_free(m);
 *
 *   sampling: tk_engine_sampler_new / _submit / _step / _take (or tk_engine_sample)
 *   checkpoints: tk_engine_checkpoint_save / _load / _load_into / _info
 *
 * Ownership: a model owns its weights and a scratch workspace; an adapter owns its LoRA weights,
 * gradient accumulator and AdamW moments, and borrows its model (free every adapter and sampler
 * of a model before the model). Request arrays are borrowed for the duration of a call only,
 * except what a sampler request says it borrows.
 *
 * Thread safety: none inside one model. Every call on a model or on any of its adapters must be
 * serialised by the caller (one worker thread). Different models are independent. The engine
 * itself uses OpenMP and OpenBLAS threads inside each call (tk_engine_set_num_threads); results are
 * deterministic for a fixed thread count.
 *
 * Errors: every int function returns 0 or a negative TK_E… code and fills *e with a message naming
 * the file, tensor, JSON field, datum index or loss input at fault. A failed request changes
 * nothing: inputs are validated before any gradient is accumulated.
 */
#ifndef TINKERC_ENGINE_H
#define TINKERC_ENGINE_H

#include "tinkerc/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================= */
/* Model configuration                                                                           */
/* ============================================================================================= */

typedef enum {
    TK_ENGINE_ARCH_LLAMA = 1,   /* LlamaForCausalLM (Llama 3.x; rope_scaling "llama3" supported) */
    TK_ENGINE_ARCH_QWEN3 = 2,   /* Qwen3ForCausalLM (per-head RMSNorm on q and k before RoPE) */
} tk_engine_arch;

/* The subset of a Hugging Face config.json the engine uses. All fields are plain values. */
typedef struct tk_engine_config {
    tk_engine_arch arch;
    int32_t vocab_size;
    int32_t hidden_size;
    int32_t intermediate_size;
    int32_t num_layers;            /* num_hidden_layers */
    int32_t num_heads;             /* num_attention_heads */
    int32_t num_kv_heads;          /* num_key_value_heads (grouped-query attention) */
    int32_t head_dim;              /* explicit in Qwen3 configs; else hidden_size / num_heads */
    int32_t max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    bool tie_word_embeddings;      /* lm_head shares model.embed_tokens.weight */
    /* rope_scaling {"rope_type": "llama3", ...}; off when rope_llama3 is false */
    bool rope_llama3;
    double rope_factor;
    double rope_low_freq_factor;
    double rope_high_freq_factor;
    int32_t rope_original_max_position;
    int32_t bos_token_id, eos_token_id;   /* -1 when absent; only copied into written configs */
} tk_engine_config;

/* Fill c with the family's usual defaults (eps, theta, tying, rope scaling off) and zero sizes. */
void tk_engine_config_default(tk_engine_config *c, tk_engine_arch arch);

/* Check sizes and values (positive sizes, heads divisible by kv heads, even head_dim, ...).
 * TK_EINVAL naming the field. */
int tk_engine_config_validate(const tk_engine_config *c, tk_err *e);

/* Parse a config.json text (`what` names it in messages). Unknown architectures and unsupported
 * features (attention_bias, rope types other than "llama3", hidden_act other than silu) are
 * TK_EUNSUPPORTED naming the field. */
int tk_engine_config_parse(const char *json_text, size_t len, const char *what,
                           tk_engine_config *out, tk_err *e);

/* "llama3" / "qwen3" (CLI names) <-> arch. from_name returns 0 when unknown. */
tk_engine_arch tk_engine_arch_from_name(const char *name);
const char *tk_engine_arch_name(tk_engine_arch arch);

/* ============================================================================================= */
/* Base models                                                                                   */
/* ============================================================================================= */

typedef struct tk_engine_model tk_engine_model;

/* Load a Hugging Face model directory: config.json plus model.safetensors, or the shards named by
 * model.safetensors.index.json. Files are memory-mapped, validated (header, offsets, dtypes F32/
 * F16/BF16, every tensor's shape against the config) and widened once into fp32; the maps are
 * released before returning. Free with tk_engine_model_free. */
int tk_engine_model_load(const char *dir, tk_engine_model **out, tk_err *e);

/* A model with seeded random weights: every matrix ~ N(0, 0.02²) (the HF initializer_range),
 * every norm weight 1. Same config and seed give the same weights on every machine. */
int tk_engine_model_random(const tk_engine_config *c, uint64_t seed, tk_engine_model **out,
                           tk_err *e);

/* Storage dtypes for tensors on disk and for loss inputs. */
typedef enum {
    TK_ENGINE_F32 = 1,
    TK_ENGINE_F16 = 2,
    TK_ENGINE_BF16 = 3,
    TK_ENGINE_I32 = 4,
    TK_ENGINE_I64 = 5,
} tk_engine_dtype;

/* Write config.json and model.safetensors (HF names; dtype F32, F16 or BF16, rounded to nearest
 * even) into dir (created if missing); each file is written atomically. */
int tk_engine_model_save(const tk_engine_model *m, const char *dir, tk_engine_dtype dtype,
                         tk_err *e);

/* Borrowed; valid while m lives. */
const tk_engine_config *tk_engine_model_config(const tk_engine_model *m);
/* Number of fp32 weights, and bytes currently held by the activation workspace. */
size_t tk_engine_model_num_params(const tk_engine_model *m);
size_t tk_engine_model_workspace_bytes(const tk_engine_model *m);
/* Release the activation workspace (it grows to the largest batch seen and is kept). */
void tk_engine_model_trim(tk_engine_model *m);
/* Frees m. Every adapter of m must have been freed before (a live one is logged as a bug and
 * leaked rather than left dangling). NULL is fine. */
void tk_engine_model_free(tk_engine_model *m);

/* `tinkerc model init`: a seeded random model written as a HF directory. */
typedef struct tk_engine_init_options {
    tk_engine_config config;       /* vocab_size may be 0 when tokenizer is given */
    uint64_t seed;
    tk_engine_dtype dtype;         /* F32, F16 or BF16 on disk (0 means BF16) */
    const char *tokenizer;         /* tokenizer.json, or a directory holding one (and optionally
                                      tokenizer_config.json, special_tokens_map.json); may be NULL */
    const char *out_dir;
} tk_engine_init_options;

/* Create the model, copy the tokenizer files in and, when config.vocab_size is 0, set it from the
 * tokenizer (largest id in model.vocab and added_tokens, plus one). A vocab_size smaller than the
 * tokenizer needs is TK_EINVAL. */
int tk_engine_model_init(const tk_engine_init_options *o, tk_err *e);

/* Largest token id in a tokenizer.json file (model.vocab and added_tokens) plus one. */
int tk_engine_tokenizer_vocab_size(const char *tokenizer_json_path, int32_t *out, tk_err *e);

/* ============================================================================================= */
/* LoRA adapters                                                                                 */
/* ============================================================================================= */

typedef struct tk_engine_adapter tk_engine_adapter;

/* Wire-level LoRA config. Each wrapped linear y = x·Wᵀ becomes y = x·Wᵀ + (alpha/rank)·(x·Aᵀ)·Bᵀ
 * with A [rank, in] ~ U(-1/√in, 1/√in) from the seed and B [out, rank] = 0, so a new adapter
 * leaves the model unchanged. */
typedef struct tk_engine_lora_config {
    int32_t rank;        /* >= 1 */
    double alpha;        /* scaling numerator; <= 0 means the default 32 */
    uint64_t seed;
    bool train_attn;     /* q_proj, k_proj, v_proj, o_proj of every layer */
    bool train_mlp;      /* gate_proj, up_proj, down_proj of every layer */
    bool train_unembed;  /* lm_head (also when tied to the embedding: only the output side) */
    /* Finer choice of wrapped modules (an imported PEFT adapter may wrap e.g. only q_proj and
     * v_proj): a bitmask of TK_ENGINE_LORA_* bits. 0 (the default) means "as the three flags
     * say". When non-zero it wins, and tk_engine_adapter_config reports the flags derived from
     * it (train_attn = any attention module, ...). */
    uint32_t modules;
} tk_engine_lora_config;

enum {
    TK_ENGINE_LORA_Q = 1u << 0, TK_ENGINE_LORA_K = 1u << 1, TK_ENGINE_LORA_V = 1u << 2,
    TK_ENGINE_LORA_O = 1u << 3, TK_ENGINE_LORA_GATE = 1u << 4, TK_ENGINE_LORA_UP = 1u << 5,
    TK_ENGINE_LORA_DOWN = 1u << 6, TK_ENGINE_LORA_LM_HEAD = 1u << 7,
    TK_ENGINE_LORA_ATTN = 0x0fu, TK_ENGINE_LORA_MLP = 0x70u, TK_ENGINE_LORA_ALL = 0xffu,
};

#define TK_ENGINE_LORA_ALPHA_DEFAULT 32.0

/* rank 32, alpha 32, seed 0, all three train flags on (the SDK's defaults). */
void tk_engine_lora_config_default(tk_engine_lora_config *c);

/* New adapter over m (many may share one model). TK_EINVAL for a bad rank or alpha. */
int tk_engine_adapter_new(tk_engine_model *m, const tk_engine_lora_config *c,
                          tk_engine_adapter **out, tk_err *e);
void tk_engine_adapter_free(tk_engine_adapter *a);   /* NULL is fine */

const tk_engine_lora_config *tk_engine_adapter_config(const tk_engine_adapter *a);
tk_engine_model *tk_engine_adapter_model(const tk_engine_adapter *a);
/* Number of trainable floats (sum over tensors of rows*cols). */
size_t tk_engine_adapter_num_params(const tk_engine_adapter *a);
/* AdamW steps taken so far (and a setter for restoring checkpoints). */
int64_t tk_engine_adapter_step(const tk_engine_adapter *a);
void tk_engine_adapter_set_step(tk_engine_adapter *a, int64_t step);
/* Tokens whose gradient sits in the accumulator since the last optim_step (0 = nothing pending). */
int64_t tk_engine_adapter_pending_tokens(const tk_engine_adapter *a);

/* One trainable tensor. Names follow HF module paths:
 * "model.layers.3.self_attn.q_proj.lora_A.weight", "lm_head.lora_B.weight". All four arrays are
 * row-major [rows, cols] fp32, borrowed from the adapter: param may be written (to load weights),
 * m and v are the AdamW moments, grad the accumulator. */
typedef struct tk_engine_tensor {
    const char *name;
    int32_t rows, cols;
    float *param, *grad, *m, *v;
} tk_engine_tensor;

size_t tk_engine_adapter_num_tensors(const tk_engine_adapter *a);
/* i < num_tensors, else TK_ERANGE. */
int tk_engine_adapter_tensor(tk_engine_adapter *a, size_t i, tk_engine_tensor *out, tk_err *e);
/* Zero the gradient accumulator (optim_step does it too). */
void tk_engine_adapter_zero_grad(tk_engine_adapter *a);

/* ============================================================================================= */
/* forward / forward_backward                                                                    */
/* ============================================================================================= */

/* A named 1-D loss input (a wire TensorData): target_tokens (I32/I64), weights, advantages,
 * logprobs (F32). len must equal the datum's n_tokens. */
typedef struct tk_engine_array {
    const char *name;
    tk_engine_dtype dtype;
    const void *data;
    size_t len;
} tk_engine_array;

/* One datum: the model input (token ids, I32 or I64, all < vocab_size) and its loss inputs.
 * Position i predicts target_tokens[i]. Datums in one call may have different lengths; they are
 * packed back to back, so no compute is spent on padding. */
typedef struct tk_engine_datum {
    tk_engine_dtype token_dtype;
    const void *tokens;
    size_t n_tokens;
    const tk_engine_array *inputs;
    size_t n_inputs;
} tk_engine_datum;

/* One loss_fn_config entry. */
typedef struct tk_engine_kv {
    const char *key;
    double value;
} tk_engine_kv;

/* The five losses, summed over tokens and datums (ℓp = learner logprob, ℓq = input logprobs,
 * r = exp(ℓp - ℓq)):
 *   cross_entropy        inputs target_tokens, weights              L = -w·ℓp           no config
 *   importance_sampling  inputs target_tokens, logprobs, advantages L = -r·A            no config
 *   ppo                  same inputs   L = -min(r·A, clip(r, lo, hi)·A)
 *                        config clip_low_threshold (0.8), clip_high_threshold (1.2)
 *   cispo                same inputs   L = -sg(clip(r, lo, hi))·ℓp·A       same config keys
 *   dro                  same inputs   L = -(ℓp·A - ½·beta·(ℓp - ℓq)²)      config beta (0.05)
 * A missing required input, an extra input, a wrong dtype or length, an unknown config key or a
 * non-finite value is TK_EINVAL naming the datum and field. */
typedef struct tk_engine_request {
    const char *loss_fn;
    const tk_engine_kv *config;
    size_t n_config;
    const tk_engine_datum *data;
    size_t n_data;
} tk_engine_request;

/* Results. logprobs (required) and elementwise_loss (optional, may be NULL) are caller-owned
 * arrays of tk_engine_request_tokens(req) floats: datum d's values start after the n_tokens of
 * datums 0..d-1. loss_sum is the `loss:sum` metric. */
typedef struct tk_engine_output {
    float *logprobs;
    float *elementwise_loss;
    double loss_sum;
} tk_engine_output;

/* Total tokens over all datums. */
size_t tk_engine_request_tokens(const tk_engine_request *req);

/* Validate req against m's vocabulary and the loss's contract without running anything. */
int tk_engine_request_validate(const tk_engine_model *m, const tk_engine_request *req, tk_err *e);

/* forward (forward_only): logprobs and losses, no gradient. a may be NULL (the base model);
 * otherwise a must belong to m. */
int tk_engine_forward(tk_engine_model *m, tk_engine_adapter *a, const tk_engine_request *req,
                      tk_engine_output *out, tk_err *e);

/* forward_backward: as forward, and the gradient of loss_sum with respect to the adapter's
 * trainable tensors is ADDED to its accumulator. */
int tk_engine_forward_backward(tk_engine_adapter *a, const tk_engine_request *req,
                               tk_engine_output *out, tk_err *e);

/* ============================================================================================= */
/* AdamW (optim_step)                                                                            */
/* ============================================================================================= */

typedef struct tk_engine_adam {
    double learning_rate;    /* 1e-4 */
    double beta1;            /* 0.9 */
    double beta2;            /* 0.95 */
    double eps;              /* 1e-12 */
    double weight_decay;     /* 0: decoupled, p -= lr·wd·p */
    double grad_clip_norm;   /* 0 = off; else the global L2 norm is clipped to this */
} tk_engine_adam;

void tk_engine_adam_default(tk_engine_adam *p);

typedef struct tk_engine_optim_stats {
    double grad_norm;        /* global L2 norm of the accumulated gradient, before clipping */
    bool clipped;
    int64_t step;            /* the adapter's step count after this step */
} tk_engine_optim_stats;

/* One AdamW step (torch.optim.AdamW semantics, bias correction with the adapter's own step
 * count, global-norm clipping first), then the accumulator is zeroed. Hyperparameters may change
 * every call. stats may be NULL. TK_EINVAL for a negative or non-finite hyperparameter or a beta
 * outside [0, 1). */
int tk_engine_optim_step(tk_engine_adapter *a, const tk_engine_adam *p,
                         tk_engine_optim_stats *stats, tk_err *e);

/* ============================================================================================= */
/* Sampling: prefill + KV-cache decode, many requests in one decode loop                         */
/* ============================================================================================= */

/* A token's bytes, for stop strings: the engine is tokenizer-free, so a request that has stop
 * strings passes this callback (e.g. a wrapper over tk_tokenizer_id_to_bytes). It returns the raw
 * bytes id decodes to (borrowed; valid until the next call) and sets *len, or NULL for an id
 * without text. Called on the engine's thread while the request runs. */
typedef const char *(*tk_engine_token_bytes_fn)(void *user, int32_t id, size_t *len);

/* Sampling parameters (the wire's SamplingParams).
 *
 * The procedure, per generated token, from the fp32 logits z of the position (docs/ENGINE.md
 * "Sampling procedure" has the exact definition that scripts/engine_reference.py reimplements):
 *   - temperature < TK_ENGINE_GREEDY_TEMPERATURE: greedy, argmax (lowest id on ties), no draw;
 *   - else weights w_j = exp(z_j/T − max z/T) in double; top_k keeps the k largest (ties: lower
 *     id first); top_p keeps the shortest prefix of the kept tokens sorted by (w desc, id asc)
 *     whose sum reaches top_p·(their total); one u = tk_rng_f64 draw picks the first kept token,
 *     in ascending id order, whose running sum exceeds u·(kept total).
 * Each sample of a request has its own tk_rng: a master generator seeded with `seed` gives one
 * tk_rng_u64 per sample (in sample order) and sample i's generator is seeded with the i-th.
 * Without a seed, the master seed comes from the OS.
 *
 * The reported logprob of a generated token is its log-softmax under the raw logits
 * (temperature 1, no top-k/top-p): the same number tk_engine_forward gives for that token, so
 * an on-policy RL ratio starts at exactly the model's own probability. */
typedef struct tk_engine_sampling_params {
    int32_t max_tokens;            /* >= 1 (generation also ends at max_position_embeddings) */
    double temperature;            /* >= 0 */
    int32_t top_k;                 /* -1 or 0: off; else >= 1 */
    double top_p;                  /* in (0, 1]; 1: off */
    bool has_seed;
    uint64_t seed;
    /* Stop token ids: generation ends when one is sampled; it is included in the output. */
    const int32_t *stop_tokens;
    size_t n_stop_tokens;
    /* Stop strings (non-empty, NUL-terminated): after each token, its bytes are appended to the
     * sequence's generated text and generation ends when a stop string occurs in that text (the
     * prompt is not searched). The token that completed the match is the last token returned;
     * nothing is trimmed (the caller trims the text at the match). Needs token_bytes. */
    const char *const *stop_strings;
    size_t n_stop_strings;
} tk_engine_sampling_params;

#define TK_ENGINE_GREEDY_TEMPERATURE 1e-5
#define TK_ENGINE_MAX_TOPK_PROMPT_LOGPROBS 20
#define TK_ENGINE_MAX_NUM_SAMPLES 1024
#define TK_ENGINE_MAX_STOP_STRING 1024            /* bytes */
/* Empty cells of top-k prompt logprobs (row 0, and k beyond the vocabulary), as the protocol. */
#define TK_ENGINE_TOPK_EMPTY_ID 0
#define TK_ENGINE_TOPK_EMPTY_LOGPROB (-99999.0f)

/* temperature 1, top_k -1, top_p 1, no seed, no stops; max_tokens 0 (the caller must set it). */
void tk_engine_sampling_params_default(tk_engine_sampling_params *p);

/* One asample request. Everything is copied by tk_engine_sampler_submit except adapter (and
 * token_bytes_user), which are borrowed until the request's result has been taken. */
typedef struct tk_engine_sample_request {
    tk_engine_adapter *adapter;    /* NULL: the base model; else an adapter of the same model */
    const int32_t *prompt;         /* n_prompt >= 1 ids < vocab_size */
    size_t n_prompt;
    int32_t num_samples;           /* 1..TK_ENGINE_MAX_NUM_SAMPLES; they share one prefill */
    tk_engine_sampling_params params;
    bool prompt_logprobs;          /* also implied by topk_prompt_logprobs > 0 */
    int32_t topk_prompt_logprobs;  /* 0..TK_ENGINE_MAX_TOPK_PROMPT_LOGPROBS */
    tk_engine_token_bytes_fn token_bytes;   /* required when there are stop strings */
    void *token_bytes_user;
} tk_engine_sample_request;

typedef enum {
    TK_ENGINE_STOP_STOP = 0,       /* a stop token or stop string ended it (protocol "stop") */
    TK_ENGINE_STOP_LENGTH = 1,     /* max_tokens or the context length was reached ("length") */
} tk_engine_stop_reason;

typedef struct tk_engine_sequence {
    tk_engine_stop_reason stop_reason;
    int32_t *tokens;               /* the generated ids (a stop token included) */
    float *logprobs;               /* one per token */
    size_t n_tokens;
} tk_engine_sequence;

/* A SampleResponse. Every array is owned by the result: free with tk_engine_sample_result_free. */
typedef struct tk_engine_sample_result {
    tk_engine_sequence *sequences; /* num_samples of them, in sample order */
    size_t n_sequences;
    size_t n_prompt;
    /* NULL unless asked: [n_prompt]; [0] is NaN (no prediction), [i] = log p(prompt[i] | <i) */
    float *prompt_logprobs;
    /* topk > 0 when asked: [n_prompt · topk] row-major, best first (ties: lower id first); row 0
     * and cells beyond the vocabulary hold TK_ENGINE_TOPK_EMPTY_ID / _LOGPROB. */
    int32_t topk;
    int32_t *topk_ids;
    float *topk_logprobs;
} tk_engine_sample_result;

void tk_engine_sample_result_free(tk_engine_sample_result *r);   /* NULL fine; leaves it {0} */

/* Check a request against m without running it (what tk_engine_sampler_submit checks):
 * TK_EINVAL / TK_ERANGE naming the field ("sampling_params.top_p: 1.5 is outside (0, 1]",
 * "prompt: 600 tokens do not fit the context of 512", "sampling_params.stop[1]: empty stop
 * string", "adapter: shape mismatch ..."). */
int tk_engine_sample_request_validate(const tk_engine_model *m, const tk_engine_sample_request *r,
                                      tk_err *e);

/* The sampler: a decode loop over a base model that any number of requests (each with its own
 * adapter, or none, and its own parameters) join and leave. The loopback server keeps one per
 * base model on its worker thread:
 *
 *   tk_engine_sampler *s;  tk_engine_sampler_new(m, &s, &e);
 *   on each asample:       tk_engine_sampler_submit(s, &req, &id, &e);   // validated here
 *   while (tk_engine_sampler_active(s)) {
 *       tk_engine_sampler_step(s, &e);          // prefill new requests, one token for the rest
 *       while (tk_engine_sampler_take(s, &id, &rc, &res, &err)) complete future id ...
 *       (submit newly arrived requests; other work on the model may run between steps)
 *   }
 *
 * Requests submitted together or while others run share every decode step: the base weights are
 * read once per step for all sequences (one GEMM per projection), each adapter's LoRA product
 * is applied to its own rows. What else is in the batch changes only the summation order of the
 * products (logits move by ~1e-7 relative), so a sequence's tokens are those it gets alone unless
 * its draw falls within that of a boundary between two tokens; with a fixed batch composition and
 * thread count every run is bit-identical.
 *
 * Memory: the prompt's K and V are kept once per request (shared by its samples), each sample
 * grows its own K/V for generated tokens: 2·layers·kv_heads·head_dim floats per token
 * (229 KiB for Qwen3-0.6B), released as soon as the sample finishes.
 *
 * Thread safety: none; the sampler, its model and the adapters in use belong to one thread. An
 * adapter must not be freed while a request using it is in flight (tk_engine_adapter_free then
 * logs a bug and leaks it); an optim_step on it between steps changes the remaining tokens. */
typedef struct tk_engine_sampler tk_engine_sampler;

int tk_engine_sampler_new(tk_engine_model *m, tk_engine_sampler **out, tk_err *e);
/* Drops unfinished requests and untaken results. Free it before its model. NULL is fine. */
void tk_engine_sampler_free(tk_engine_sampler *s);
/* Validate and queue (prefill happens in the next step). *id identifies it in take. On error
 * nothing is queued. */
int tk_engine_sampler_submit(tk_engine_sampler *s, const tk_engine_sample_request *req,
                             uint64_t *id, tk_err *e);
/* Prefill the queued requests (each sample gets its first token), then one decode step for every
 * running sequence. A failure that concerns one request (out of memory for its cache or its
 * prefill) finishes that request with the error, to be taken like a result, and returns 0. A
 * non-zero return (TK_ENOMEM for the step's shared scratch) means the decode step did not run and
 * nothing advanced: step again later, or cancel requests to need less memory. */
int tk_engine_sampler_step(tk_engine_sampler *s, tk_err *e);
/* Requests submitted and not yet taken (queued, running or finished). */
size_t tk_engine_sampler_pending(const tk_engine_sampler *s);
/* Requests still queued or running (the loop condition). */
size_t tk_engine_sampler_active(const tk_engine_sampler *s);
/* Take one finished request, in completion order: false when none is finished. When true, *id
 * is the request, *rc its outcome: 0 with *out filled (caller frees it), or a negative TK_E…
 * code with the message in *e and *out zeroed. */
bool tk_engine_sampler_take(tk_engine_sampler *s, uint64_t *id, int *rc,
                            tk_engine_sample_result *out, tk_err *e);
/* Stop a request (queued, running or finished-untaken) and drop it; TK_ENOTFOUND if unknown. */
int tk_engine_sampler_cancel(tk_engine_sampler *s, uint64_t id, tk_err *e);

/* Convenience: run one request to completion on a private sampler. */
int tk_engine_sample(tk_engine_model *m, const tk_engine_sample_request *req,
                     tk_engine_sample_result *out, tk_err *e);
/* Run n requests together in one decode loop. rcs[i] / errs[i] (errs may be NULL) receive each
 * request's outcome; outs[i] is filled when rcs[i] == 0. Returns 0 when the loop ran (even if some
 * requests failed), else the sampler-level error. */
int tk_engine_sample_batch(tk_engine_model *m, const tk_engine_sample_request *reqs, size_t n,
                           tk_engine_sample_result *outs, int *rcs, tk_err *errs, tk_err *e);

/* Weights used by decode: TK_ENGINE_F32 (default; the same numbers as forward) or
 * TK_ENGINE_BF16 (a bf16 copy of every projection and the unembedding, half the bytes read per
 * token, made on this call: +2 bytes per weight of memory; logits then differ from fp32 by bf16
 * rounding of the weights, ~1e-2 relative). Prefill, forward and training always use fp32. */
int tk_engine_model_set_decode_dtype(tk_engine_model *m, tk_engine_dtype dtype, tk_err *e);

/* ============================================================================================= */
/* Checkpoints: training state and sampler weights                                               */
/* ============================================================================================= */

/* A checkpoint is a directory:
 *   adapter_model.safetensors   the LoRA weights, F32, PEFT key layout (loadable by PEFT as is)
 *   adapter_config.json         PEFT's config (r, lora_alpha, target_modules, ...)
 *   optimizer.safetensors       training state only: AdamW exp_avg / exp_avg_sq per tensor, and
 *                               the gradient accumulator when a gradient was pending
 *   tinkerc_checkpoint.json     metadata: kind, base model, model shape, LoRA config, step
 * The directory is written under a temporary name beside it, every file fsynced, then renamed
 * into place (and the parent fsynced): a crash leaves the old checkpoint or the new one, never a
 * mix. Loading restores weights, moments, step and any pending gradient bit for bit, so the next
 * forward_backward / optim_step equals never having saved. */
typedef enum {
    TK_ENGINE_CKPT_STATE = 1,      /* save_weights: adapter + AdamW state + step */
    TK_ENGINE_CKPT_SAMPLER = 2,    /* save_weights_for_sampler: adapter only */
} tk_engine_ckpt_kind;

/* Write a's checkpoint to dir. base_model (the name the server was asked for; may be NULL) is
 * recorded for weights_info. An existing dir is TK_EEXIST unless overwrite (then it is replaced:
 * the old one is renamed aside, the new one renamed in, the old one removed). */
int tk_engine_checkpoint_save(tk_engine_adapter *a, const char *dir, tk_engine_ckpt_kind kind,
                              const char *base_model, bool overwrite, tk_err *e);

/* weights_info: what a checkpoint (or any PEFT adapter directory) holds, without a model. */
typedef struct tk_engine_ckpt_info {
    tk_engine_ckpt_kind kind;      /* 0 for a plain PEFT directory */
    char base_model[512];          /* "" when unknown */
    tk_engine_lora_config lora;    /* rank, alpha, seed, flags and modules */
    int64_t step;
    bool has_optimizer;
} tk_engine_ckpt_info;
int tk_engine_checkpoint_info(const char *dir, tk_engine_ckpt_info *out, tk_err *e);

/* A new adapter over m from a checkpoint or PEFT directory. with_optimizer: also restore the
 * AdamW moments, step and pending gradient (TK_EINVAL when the directory has none); otherwise
 * they start at zero. Shapes are checked against m: a mismatch is TK_EINVAL naming the tensor,
 * its shape and the expected one. */
int tk_engine_checkpoint_load(tk_engine_model *m, const char *dir, bool with_optimizer,
                              tk_engine_adapter **out, tk_err *e);
/* The same into an existing adapter (load_weights on a live model): the checkpoint's rank and
 * modules must equal a's (TK_EINVAL otherwise); alpha is taken from the checkpoint. On error a
 * is unchanged. */
int tk_engine_checkpoint_load_into(tk_engine_adapter *a, const char *dir, bool with_optimizer,
                                   tk_err *e);

/* ============================================================================================= */
/* PEFT interchange and merging                                                                  */
/* ============================================================================================= */

/* Export as a PEFT LoRA adapter directory (adapter_model.safetensors with keys
 * "base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight", "base_model.model.lm_head.
 * lora_B.weight", ...; adapter_config.json with r, lora_alpha, target_modules). dtype F32, F16 or
 * BF16. Files are written atomically into dir (created if missing). */
int tk_engine_adapter_export_peft(const tk_engine_adapter *a, const char *dir,
                                  const char *base_model, tk_engine_dtype dtype, tk_err *e);
/* Import a PEFT adapter directory: tk_engine_checkpoint_load(m, dir, false, out, e). Accepts any
 * lora_alpha, use_rslora, a subset of q/k/v/o/gate/up/down_proj and lm_head (a list, or
 * "all-linear"), F32/F16/BF16 tensors, keys with or without ".default". Refused by name: DoRA,
 * rank_pattern / alpha_pattern, layers_to_transform, embedding or bias adapters, unknown keys. */
int tk_engine_adapter_import_peft(tk_engine_model *m, const char *dir, tk_engine_adapter **out,
                                  tk_err *e);

/* Write base + adapter merged (W + (alpha/r)·B·A for every wrapped module) as a standard HF model
 * directory (config.json + model.safetensors in dtype). With tied embeddings and an lm_head
 * adapter the output is untied (lm_head.weight written, tie_word_embeddings false). Needs a
 * second copy of the weights in memory. */
int tk_engine_adapter_merge_save(const tk_engine_adapter *a, const char *dir, tk_engine_dtype dtype,
                                 tk_err *e);

/* ============================================================================================= */
/* Threads and diagnostics                                                                       */
/* ============================================================================================= */

/* Threads used by OpenMP loops and OpenBLAS from now on (<= 0: the number of CPUs). Call it from
 * the engine's thread, between calls. */
void tk_engine_set_num_threads(int n);
int tk_engine_num_threads(void);
/* "OpenBLAS <config> (openmp, 2 threads)": the BLAS the engine is linked with. Returns a static
 * buffer rewritten by each call (call it from the engine thread). */
const char *tk_engine_blas_info(void);

#ifdef __cplusplus
}
#endif
#endif /* TINKERC_ENGINE_H */
