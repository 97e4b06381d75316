/* Helpers for the conformance tests: raw HTTP with hand-built bodies against a server running the
 * real engine on the tiny model (harness_start_engine). */
#ifndef TK_TEST_SERVER_CONFORMANCE_H
#define TK_TEST_SERVER_CONFORMANCE_H

#include "harness.h"
#include "pb.h"

/* POST a JSON body and return the request_id of the future it answers (asserting 200). */
char *submit_json(harness *h, const char *path, const char *body);
char *submitf(harness *h, const char *path, const char *fmt, ...) TK_PRINTF(3, 4);
/* POST a body with the given content type (and Content-Encoding when not NULL); the answer. */
long post_raw(harness *h, const char *path, const char *content_type, const char *encoding, const void *body, size_t n,
              http_res *out);
/* Poll retrieve_future until the answer is not try_again, with Accept: application/x-protobuf when
 * proto; returns the status (the answer in *out). */
long retrieve(harness *h, const char *rid, bool proto, http_res *out);
/* retrieve() as JSON, asserting success (no "error"); returns the parsed result. */
json_t *result_json(harness *h, const char *rid);
/* submit_json() then result_json(). */
json_t *run_json(harness *h, const char *path, const char *body);
/* retrieve() as JSON, asserting a failed future of that category whose message contains needle. */
void expect_failed(harness *h, const char *rid, const char *category, const char *needle);
/* Assert an HTTP error: status, a JSON {"detail"} containing needle. */
void expect_error(long status, const tk_buf *body, long want, const char *needle);
/* hj() that asserts the status and that "detail" contains needle (status >= 400). */
void expect_json_error(harness *h, const char *path, const char *body, long want, const char *needle);

/* A session and a LoRA model over "test/tiny" with model_seq_id 0 (rank 4, seed 3); returns the
 * model id (caller frees) and the session id in *sid (caller frees; may be NULL). */
char *new_model(harness *h, char **sid);

/* JSON of one cross-entropy datum over tokens first..first+n-1 predicting first+1..first+n. */
void datum_json(tk_buf *b, int first, int n);
/* A forward_backward JSON body with nd datums of n tokens (datum d starts at token 1 + d). */
char *fb_body(const char *model_id, int64_t seq, int nd, int n, bool forward_key);
/* The same request as a hand-built protobuf ForwardBackwardRequest. */
void fb_proto(tk_buf *b, const char *model_id, int64_t seq, int nd, int n, bool forward_only);

/* The "logprobs" arrays of a JSON ForwardBackwardOutput, concatenated (caller frees), count in *n. */
float *json_logprobs(json_t *out, size_t *n);
/* The same from a protobuf ForwardBackwardOutput (checks the record structure); caller frees. */
float *proto_logprobs(const tk_buf *body, size_t *n, size_t *num_datums, double *loss_sum);

#endif
