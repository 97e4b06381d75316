/* Between the wire layer's requests and results and the engine's: a decoded forward_backward
 * request becomes an engine request, an engine output becomes a ForwardBackwardOutput (JSON and
 * protobuf bytes). Pure conversions, no server state. Internal to the server layer. */
#ifndef TK_SERVER_WIRE_BRIDGE_H
#define TK_SERVER_WIRE_BRIDGE_H

#include "tinkerc/engine.h"
#include "tinkerc/wire.h"

/* Check a decoded forward / forward_backward request against what the server accepts before
 * anything is allocated for it: seq_id >= 1, at least one datum, every datum against its loss's
 * contract (tk_wire_datum_check: inputs, dtypes, lengths), loss_fn_config keys, no image chunks
 * (the local engine is text-only), and at most max_tokens tokens over all datums. TK_EINVAL /
 * TK_EUNSUPPORTED naming the datum and field. */
int tk_server_fb_check(const tk_wire_forward_backward_request *w, size_t max_tokens, tk_err *e);

/* The engine request for a checked wire request; arrays are shared with (or allocated in) a, so
 * the request lives as long as the arena that holds the decoded message. */
int tk_server_fb_to_engine(const tk_wire_forward_backward_request *w, tk_arena *a, tk_engine_request *out,
                           tk_err *e);

/* The ForwardBackwardOutput of one request: per datum "logprobs" and "elementwise_loss" (float32,
 * the datum's length), metrics {"loss:sum"}, type "ArrayRecord"; appended as JSON to json and as
 * protobuf to proto. Matches tk_server_fb_encode_fn. */
int tk_server_fb_encode(const tk_engine_request *req, const tk_engine_output *out, tk_buf *json, tk_buf *proto,
                        tk_err *e);

/* Check a decoded asample request before anything is allocated for it: a sampling session,
 * seq_id >= 0, a text-only prompt of >= 1 token, num_samples in 1..TK_ENGINE_MAX_NUM_SAMPLES,
 * max_tokens >= 1 (required), sampling parameters in range, topk_prompt_logprobs in
 * 0..TK_ENGINE_MAX_TOPK_PROMPT_LOGPROBS, and prompt + num_samples * max_tokens <= max_tokens_total.
 * TK_EINVAL / TK_EUNSUPPORTED naming the field. */
int tk_server_sample_check(const tk_wire_sample_request *w, size_t max_tokens_total, tk_err *e);

/* The prompt of a checked request as one int32 array (shared with w when it has one chunk, else
 * allocated in a); *n gets its length. */
const int32_t *tk_server_sample_prompt(const tk_wire_sample_request *w, tk_arena *a, size_t *n, tk_err *e);

/* The SampleResponse of an engine result, as JSON (with "type":"sample") and protobuf. */
int tk_server_sample_encode(const tk_engine_sample_result *r, tk_buf *json, tk_buf *proto, tk_err *e);

/* Does a forward_backward body carry a tensor in sparse CSR form? Checked before decoding: the
 * decoder would expand it to its dense shape (a small body asking for a large allocation), and
 * the local engine takes only 1-D loss inputs, which the SDK never sends sparse. JSON: a
 * "sparse_crow_indices" key anywhere; protobuf: Datum.loss_fn_inputs[*].sparse_csr. */
bool tk_server_fb_has_sparse(const char *body, size_t len, bool proto);

/* Read model_id (copied into model_id, at most n bytes) and seq_id from a forward_backward
 * body that the full decoder refused, so that its seq_id can still be recorded as consumed:
 * JSON (top-level "model_id" and "seq_id") or protobuf (fields 1 and 2). false when the body does
 * not name both. */
bool tk_server_peek_model_seq(const char *body, size_t len, bool proto, char *model_id, size_t n,
                              int64_t *seq_id);

#endif
