/* Helpers shared by the routes whose bodies are wire-layer messages (create_model, get_info,
 * forward_backward, forward, optim_step, save/load weights, asample), and the registration of
 * those routes. Internal to the server layer. */
#ifndef TK_SERVER_ROUTES_H
#define TK_SERVER_ROUTES_H

#include "tinkerc/wire.h"

#include "server_internal.h"

/* Decode req's body as a wire message of `type` into *obj (allocated in a). JSON bodies (or a
 * body without Content-Type) go to the JSON decoder; protobuf bodies to the protobuf decoder when
 * allow_proto (forward_backward), else they are refused. Returns 0, or the HTTP status to answer
 * (400 malformed / wrong, 415 wrong Content-Type) with e naming the problem. */
int tk_server_req_wire(const tk_server_req *req, tk_wire_msg type, bool allow_proto, tk_arena *a, void *obj,
                       tk_err *e);

/* A training request that is refused before it is queued (any 4xx): answer `status` with
 * "route: message" and record its seq_id as consumed (docs/server.md "Ordering", rule 4) so that later requests of
 * the model do not wait for it. model_id / seq_id are what the decoded body named (model_id NULL
 * or has_seq false: peek at the raw body for them). */
void tk_server_refuse_train(tk_server *s, const tk_server_req *req, tk_server_resp *resp, const char *route, int status,
                            const char *model_id, bool has_seq, int64_t seq_id, const tk_err *e);

/* {"request_id": rid, "model_id": model_id?} — the immediate answer of every future endpoint. */
void tk_server_resp_future(tk_server_resp *resp, const char *rid, const char *model_id);

/* Register the routes that need the engine (tk_server_start calls it after attaching the engine):
 * create_model, get_info, forward_backward, forward, optim_step, save_weights,
 * save_weights_for_sampler, load_weights, asample (and the legacy /sample). */
int tk_server_routes_engine(tk_server *s, tk_err *e);
int tk_server_routes_train(tk_server *s, tk_err *e);     /* routes_train.c */
int tk_server_routes_weights(tk_server *s, tk_err *e);   /* routes_weights.c */
int tk_server_routes_sample(tk_server *s, tk_err *e);    /* routes_sample.c */

#endif
