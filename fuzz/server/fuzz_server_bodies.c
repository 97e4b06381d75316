/* Request bodies as the model routes read them, from untrusted bytes, in both encodings: the
 * peeks at refused bodies (model_id / seq_id for consuming a seq_id; sparse tensors before
 * decoding) and the decode -> check -> engine-request path of forward_backward and asample.
 * Properties: no crash or sanitizer report; a peeked model_id is a NUL-terminated string that
 * fits its buffer; a body without sparse tensors decodes to at most one tensor element per body
 * byte (so nothing a client sends is amplified into a large allocation); a checked request
 * converts into an engine request with exactly the tokens the wire request holds. */
#include <stdlib.h>
#include <string.h>

#include "../../src/server/wire_bridge.h"

static size_t tensor_elems(const tk_wire_forward_backward_request *w) {
    size_t n = 0;
    for (size_t i = 0; i < w->input.n_data; i++) {
        const tk_wire_datum *d = &w->input.data[i];
        for (size_t k = 0; k < d->loss_fn_inputs.n; k++) n += d->loss_fn_inputs.items[k].tensor.n;
        for (size_t c = 0; c < d->model_input.n_chunks; c++) n += d->model_input.chunks[c].n_tokens;
    }
    return n;
}

static void fb(const char *body, size_t n, bool proto) {
    char id[128];
    int64_t seq = 0;
    if (tk_server_peek_model_seq(body, n, proto, id, sizeof id, &seq) && strnlen(id, sizeof id) >= sizeof id) abort();
    bool sparse = tk_server_fb_has_sparse(body, n, proto);
    tk_arena *a = tk_arena_new(0);
    tk_wire_forward_backward_request w;
    tk_err e = {0};
    if (!tk_wire_body_decode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, proto ? "application/x-protobuf" : "application/json",
                             NULL, body, n, 1 << 20, a, &w, &e)) {
        if (!sparse && tensor_elems(&w) > n) abort();
        if (!tk_server_fb_check(&w, 4096, &e)) {
            tk_engine_request er;
            if (!tk_server_fb_to_engine(&w, a, &er, &e)) {
                size_t want = 0;
                for (size_t i = 0; i < w.input.n_data; i++)
                    for (size_t c = 0; c < w.input.data[i].model_input.n_chunks; c++)
                        want += w.input.data[i].model_input.chunks[c].n_tokens;
                if (tk_engine_request_tokens(&er) != want || er.n_data != w.input.n_data) abort();
            }
        } else if (!e.msg[0]) {
            abort(); /* every refusal says why */
        }
    }
    tk_arena_free(a);
}

static void sample(const char *body, size_t n) {
    tk_arena *a = tk_arena_new(0);
    tk_wire_sample_request w;
    tk_err e = {0};
    if (!tk_wire_json_decode(TK_WIRE_MSG_SAMPLE_REQUEST, body, n, a, &w, &e)) {
        if (!tk_server_sample_check(&w, 4096, &e)) {
            size_t np = 0;
            const int32_t *p = tk_server_sample_prompt(&w, a, &np, &e);
            if (!p || np == 0) abort();
        } else if (!e.msg[0]) {
            abort();
        }
    }
    tk_arena_free(a);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return 0;
    memcpy(s, data, n);
    s[n] = '\0';
    fb(s, n, true);
    fb(s, n, false);
    sample(s, n);
    free(s);
    return 0;
}
