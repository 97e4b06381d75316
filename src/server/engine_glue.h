/* The engine behind the server: base models resolved and loaded once, shared by every LoRA
 * adapter over them, and the worker-side jobs of the model routes. The HTTP side (decoding a
 * request, encoding a result) belongs to the wire layer and plugs in through the payload structs
 * (engine types) and the encoder callback below. Internal to the server layer. */
#ifndef TK_SERVER_ENGINE_GLUE_H
#define TK_SERVER_ENGINE_GLUE_H

#include "tinkerc/engine.h"
#include "tinkerc/wire.h"

#include "server_internal.h"

/* Attach the local engine to s (before tk_server_listen): base-model resolution becomes
 * tk_server_model_dir below, and --model entries without a max_context_length get theirs from
 * config.json. The loaded base models are freed by tk_server_stop. */
int tk_server_engine_attach(tk_server *s, tk_err *e);

/* Resolve a base model name to a Hugging Face model directory (caller frees *dir_out):
 *   1. a --model NAME=DIR entry;
 *   2. an absolute path to a directory holding config.json;
 *   3. the Hugging Face cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub,
 *      models--<org>--<name>/snapshots/<rev>/ with <rev> from refs/main (else the only snapshot).
 * TK_ENOTFOUND naming every place looked at. Thread-safe. */
int tk_server_model_dir(const tk_server *s, const char *name, char **dir_out, tk_err *e);

/* create_model's first job: load (or reuse) the base model and make a LoRA adapter with lc over
 * it. Result {"model_id", "type":"create_model"}. Use with tk_server_model_create. */
tk_server_job *tk_server_engine_create_job(const tk_engine_lora_config *lc);

/* optim_step: one AdamW step of the model's adapter. Result {"metrics": {"grad_norm:mean",
 * "learning_rate:mean", "step:max"}, "type": "optim_step"}. Not batchable (a barrier). */
tk_server_job *tk_server_engine_optim_job(const tk_engine_adam *p);

/* Encode the result of one forward / forward_backward request (the wire layer's
 * ForwardBackwardOutput encoder): logprobs and elementwise_loss hold tk_engine_request_tokens(req)
 * floats; loss_sum is the request's loss:sum. json must be filled; proto may be left empty. */
typedef int (*tk_server_fb_encode_fn)(const tk_engine_request *req, const tk_engine_output *out, tk_buf *json,
                                      tk_buf *proto, tk_err *e);

/* forward (forward_only) or forward_backward. req and everything it points to live in arena,
 * which the job takes (freed with the job). Batchable: consecutive requests of one model with
 * the same loss_fn, config and mode run as one engine call, their outputs split back per request;
 * a request that fails validation fails alone (category user). */
tk_server_job *tk_server_engine_fb_job(tk_arena *arena, const tk_engine_request *req, bool forward_only,
                                       tk_server_fb_encode_fn encode);

/* asample: w and everything it points to live in arena, which the job takes. The job joins the
 * decode loop of its sampling session's base model (loading the session's sampler checkpoint on
 * first use) and settles when the engine finishes it: SampleResponse as JSON {"type":"sample",…}
 * and protobuf. Sample jobs of every session are gathered: all that are queued join the loop
 * together, and the loop advances between other jobs. Use with tk_server_submit_sample. */
tk_server_job *tk_server_engine_sample_job(tk_arena *arena, const tk_wire_sample_request *w);

/* save_weights (kind WEIGHTS: adapter + optimizer state) or a named save_weights_for_sampler (kind
 * SAMPLER: adapter only): an engine checkpoint committed to the store as
 * tinker://<model>/<kind>/<name> (ttl_s <= 0: no expiry). An existing name without overwrite fails
 * the future (category user). Result {"path", "type"}. Not batchable. */
tk_server_job *tk_server_engine_save_job(tk_server_ckpt_kind kind, const char *name, bool overwrite, double ttl_s);

/* save_weights_for_sampler without a name: a copy of the model's adapter (weights only) becomes
 * the sampling session <model's session>:sample:<sampling_session_seq_id>. Result
 * {"path": null, "sampling_session_id", "type"}. */
tk_server_job *tk_server_engine_sampler_copy_job(int64_t sampling_session_seq_id);

/* load_weights of the checkpoint at tinker_path: into the model's adapter (legacy addressing; the
 * checkpoint's rank and modules must match), or, with creates_model, as the creation job of a
 * model whose adapter is made from the checkpoint (create-via-load; use with
 * tk_server_model_create). with optimizer: also the AdamW state and step. Result {"path",
 * "model_id", "type":"load_weights"}. */
tk_server_job *tk_server_engine_load_job(const char *tinker_path, bool optimizer, bool creates_model);

/* Counters of the decode loops, readable from any thread (tests and benchmarks). */
typedef struct tk_server_engine_stats {
    uint64_t decode_steps;         /* decode-loop steps run, over every base model */
    size_t max_step_requests;      /* most asample requests that shared one step */
    size_t inflight;               /* asample requests in a decode loop right now */
} tk_server_engine_stats;
void tk_server_engine_stats_get(tk_server *s, tk_server_engine_stats *out);

/* The adapter of a ready model (worker thread only), or NULL. */
tk_engine_adapter *tk_server_engine_adapter(tk_server_model *m);

#endif
