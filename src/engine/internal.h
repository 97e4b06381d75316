/* Engine internals shared by the files of src/engine (and the engine's tests). */
#ifndef TK_ENGINE_INTERNAL_H
#define TK_ENGINE_INTERNAL_H

#include "tinkerc/engine.h"

/* ---- base weights: one flat fp32 buffer and a pointer table (llm.c style) -------------------- */

typedef struct tk_layer_weights {
    float *ln1;        /* input_layernorm            [H] */
    float *wq;         /* self_attn.q_proj           [nh*hd, H] */
    float *wk;         /* self_attn.k_proj           [nkv*hd, H] */
    float *wv;         /* self_attn.v_proj           [nkv*hd, H] */
    float *wo;         /* self_attn.o_proj           [H, nh*hd] */
    float *q_norm;     /* self_attn.q_norm (Qwen3)   [hd] */
    float *k_norm;     /* self_attn.k_norm (Qwen3)   [hd] */
    float *ln2;        /* post_attention_layernorm   [H] */
    float *wg;         /* mlp.gate_proj              [I, H] */
    float *wu;         /* mlp.up_proj                [I, H] */
    float *wd;         /* mlp.down_proj              [H, I] */
} tk_layer_weights;

/* LoRA-wrapped linear modules, per layer, in buffer order; the unembedding comes last. */
enum { TK_MOD_Q, TK_MOD_K, TK_MOD_V, TK_MOD_O, TK_MOD_GATE, TK_MOD_UP, TK_MOD_DOWN, TK_MODS_PER_LAYER };

/* One base tensor of the HF layout: name, shape, and where it lives in the flat buffer. */
typedef struct tk_weight_entry {
    char name[96];
    int ndim;
    int64_t shape[2];
    float **slot;      /* the pointer-table field that points at it */
    size_t numel;
} tk_weight_entry;

typedef struct tk_workspace {
    float *buf;
    size_t cap;        /* floats */
} tk_workspace;

struct tk_engine_model {
    tk_engine_config cfg;
    float *params;            /* every base weight, fp32 */
    size_t n_params;
    float *embed;             /* model.embed_tokens.weight [V, H] */
    float *final_norm;        /* model.norm.weight [H] */
    float *lm_head;           /* lm_head.weight [V, H] (== embed when tied) */
    tk_layer_weights *layers;
    tk_weight_entry *entries; /* the HF tensors, in file order */
    size_t n_entries;
    tk_workspace ws;
    int n_adapters;
    int n_samplers;
    /* decode weights: NULL (use the fp32 ones) or bf16 copies, see decode.c */
    struct tk_decode_weights *dec;
};

/* config.json text as transformers writes it (appended to out). */
int tk_config_to_json(const tk_engine_config *c, tk_buf *out);

/* Build the tensor table for cfg and allocate (uninitialised) params. */
int tk_model_alloc(const tk_engine_config *cfg, tk_engine_model **out, tk_err *e);

/* ---- adapters ----------------------------------------------------------------------------- */

typedef struct tk_lora_mod {
    bool on;
    int32_t in, out;          /* the wrapped linear: [out, in] */
    float *A, *B;             /* [r, in], [out, r] */
    float *dA, *dB;
} tk_lora_mod;

struct tk_engine_adapter {
    tk_engine_model *model;
    tk_engine_lora_config cfg;
    float scale;              /* alpha / rank */
    size_t n_params;
    float *params, *grads, *m, *v;   /* four flat buffers of n_params floats */
    tk_lora_mod *mods;        /* num_layers * TK_MODS_PER_LAYER + 1 (lm_head last) */
    tk_engine_tensor *tensors;/* names and views, 2 per active module */
    char (*names)[96];
    size_t n_tensors;
    int64_t step;
    int64_t pending_tokens;
    int busy;                 /* sample requests in flight that borrow this adapter */
};

/* ---- forward / backward -------------------------------------------------------------------- */

typedef enum { TK_LOSS_CE = 1, TK_LOSS_IS, TK_LOSS_PPO, TK_LOSS_CISPO, TK_LOSS_DRO } tk_loss_kind;

typedef struct tk_loss_spec {
    tk_loss_kind kind;
    double clip_lo, clip_hi, beta;
} tk_loss_spec;

/* Per-token loss inputs, widened into fp32/int32 arrays over the packed tokens. */
typedef struct tk_packed_batch {
    int32_t *tokens;          /* [T] */
    int32_t *targets;         /* [T] */
    float *weights;           /* [T] (cross_entropy) */
    float *advantages;        /* [T] (RL losses) */
    float *sampler_logprobs;  /* [T] (RL losses) */
    int32_t *starts;          /* [n_seq + 1] token offsets of each datum */
    int32_t *positions;       /* [T] position within its datum */
    int n_seq;
    size_t T;
    int32_t max_len;
} tk_packed_batch;

/* Parse/validate and pack a request (frees nothing on error; call tk_packed_free). */
int tk_loss_spec_parse(const tk_engine_request *req, tk_loss_spec *spec, tk_err *e);
int tk_pack_request(const tk_engine_model *m, const tk_engine_request *req, const tk_loss_spec *spec,
                    tk_packed_batch *pb, tk_err *e);
void tk_packed_free(tk_packed_batch *pb);

/* Elementwise loss and dL/dℓp for one token. */
void tk_loss_token(const tk_loss_spec *s, float lp, size_t t, const tk_packed_batch *pb, float *loss,
                   float *dlp);

/* Optional extras of a forward-only pass (prefill for sampling). */
typedef struct tk_run_hooks {
    float *const *k_out;      /* per layer: [T, kd] keys after norm and RoPE (NULL: not kept) */
    float *const *v_out;      /* per layer: [T, kd] values */
    float *final_hidden;      /* [T, H] output of the final norm; when set the head and the loss
                                 are skipped (spec, logprobs and loss_sum may be NULL) */
} tk_run_hooks;

/* The whole pass. When backward is true, adapter gradients are accumulated. logits_out, when not
 * NULL, receives the full [T, V] logits (tests only). hooks may be NULL. */
int tk_model_run(tk_engine_model *m, tk_engine_adapter *a, const tk_packed_batch *pb,
                 const tk_loss_spec *spec, bool backward, float *logprobs, float *losses,
                 double *loss_sum, float *logits_out, const tk_run_hooks *hooks, tk_err *e);

/* Test hook: full logits [T, V] for a single sequence of tokens with an optional adapter. */
int tk_engine_logits(tk_engine_model *m, tk_engine_adapter *a, const int32_t *tokens, size_t n,
                     float *logits, tk_err *e);

/* ---- sampling internals (sample.c, decode.c, sampling.c) -------------------------------------- */

struct tk_decode_weights;
void tk_decode_weights_free(struct tk_decode_weights *d);

/* Shared by the checkpoint and PEFT code: the module-name suffix of module j of a layer
 * ("self_attn.q_proj") and the PEFT short name ("q_proj"). */
extern const char *const tk_lora_module_names[TK_MODS_PER_LAYER];
extern const char *const tk_lora_module_short[TK_MODS_PER_LAYER];

#endif
