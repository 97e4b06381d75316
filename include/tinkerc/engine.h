/*
 * tinkerc/engine.h — the local model math: Hugging Face Llama 3 / Qwen3 models on the CPU in fp32,
 * LoRA adapters over a shared base model, forward and forward_backward with the five Tinker losses,
 * and AdamW. Depends only on the base layer.
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
 * Ownership: a model owns its weights and a scratch workspace; an adapter owns its LoRA weights,
 * gradient accumulator and AdamW moments, and borrows its model (free every adapter of a model
 * before the model). Request arrays are borrowed for the duration of a call only.
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
} tk_engine_lora_config;

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
