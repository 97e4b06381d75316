/* forward and forward_backward: chunking (§3.1 fwdbwd_max_chunk_len / _bytes_count), the body
 * of each chunk in protobuf or JSON (client.h "Encodings"), and the chunk group in the lane with
 * the first chunk POSTed last (§8.4). Results are merged when the caller asks (task.c). */
#include "internal.h"
#include "sdk.h"

#include <string.h>

/* The SDK's size estimate of one datum: 10 bytes per token and per loss-input element, image
 * bytes as they are, an image pointer by the length of its location. */
static size_t estimate_bytes(const tk_wire_datum *d) {
    size_t b = 0;
    for (size_t i = 0; i < d->model_input.n_chunks; i++) {
        const tk_wire_chunk *c = &d->model_input.chunks[i];
        switch (c->type) {
        case TK_WIRE_CHUNK_ENCODED_TEXT: b += c->n_tokens * 10; break;
        case TK_WIRE_CHUNK_IMAGE: b += c->n_data; break;
        case TK_WIRE_CHUNK_IMAGE_ASSET_POINTER: b += c->location ? strlen(c->location) : 0; break;
        }
    }
    for (size_t i = 0; i < d->loss_fn_inputs.n; i++) b += d->loss_fn_inputs.items[i].tensor.n * 10;
    return b;
}

int tk_fwdbwd_split(const tk_client_service *svc, const tk_wire_datum *data, size_t n,
                    tk_chunks *out, tk_err *e) {
    out->start = tk_malloc_array(n + 1, sizeof *out->start);
    out->n_chunks = 0;
    if (!out->start) return tk_err_set(e, TK_ENOMEM, "forward_backward: out of memory");
    size_t max_len = (size_t)svc->config.fwdbwd_max_chunk_len;
    size_t max_bytes = (size_t)svc->config.fwdbwd_max_chunk_bytes_count;
    size_t cur_n = 0, cur_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = estimate_bytes(&data[i]);
        if (cur_n > 0 && (cur_bytes + b > max_bytes || cur_n >= max_len)) {
            cur_n = 0;
            cur_bytes = 0;
        }
        if (cur_n == 0) out->start[out->n_chunks++] = i;
        cur_n++;
        cur_bytes += b;
    }
    out->start[out->n_chunks] = n;
    return 0;
}

void tk_fwdbwd_free_specs(tk_client_call_spec *specs, size_t n) {
    for (size_t i = 0; specs && i < n; i++) {
        if (specs[i].give_body) free((void *)specs[i].body);
        specs[i].body = NULL;
        specs[i].give_body = false;
    }
}

int tk_fwdbwd_build_specs(tk_client_training *t, const tk_wire_datum *data, const tk_chunks *ch,
                          bool forward_only, tk_wire_loss_fn loss_fn,
                          const tk_wire_f64_map *loss_fn_config, int64_t first_seq,
                          tk_client_call_spec *specs, tk_err *e) {
    const tk_client_service *svc = t->svc;
    bool proto = svc->proto_fwdbwd;
    memset(specs, 0, ch->n_chunks * sizeof *specs);
    for (size_t k = 0; k < ch->n_chunks; k++) {
        tk_wire_forward_backward_request req;
        tk_wire_init(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &req);
        req.model_id = t->model_id;
        req.has_seq_id = true;
        req.seq_id = first_seq + (int64_t)k;
        req.forward_only = forward_only;
        req.input.data = (tk_wire_datum *)data + ch->start[k];
        req.input.n_data = ch->start[k + 1] - ch->start[k];
        req.input.loss_fn = loss_fn;
        if (loss_fn_config) req.input.loss_fn_config = *loss_fn_config;
        tk_buf body = {0};
        int rc = proto ? tk_wire_proto_encode_forward_backward_request(&req, &body, e)
                       : tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_REQUEST, &req, &body, e);
        if (rc) {
            tk_buf_free(&body);
            tk_fwdbwd_free_specs(specs, k);
            return ch->n_chunks > 1 ? tk_err_prefix(e, "chunk %zu (data[%zu..%zu)): ", k,
                                                    ch->start[k], ch->start[k + 1])
                                    : rc;
        }
        const char *path = proto || !forward_only ? "/api/v1/forward_backward"
                                                  : "/api/v1/forward";
        tk_training_spec(t, &specs[k], path, forward_only ? "Forward" : "ForwardBackward");
        specs[k].body = body.data ? body.data : tk_strdup("");
        specs[k].body_len = body.len;
        specs[k].give_body = true;
        specs[k].content_type = proto ? "application/x-protobuf" : "application/json";
        specs[k].zstd = proto && svc->config.proto_compress_fwdbwd;
        specs[k].poll_accept = "application/x-protobuf, application/json";
        if (!specs[k].body) {
            tk_fwdbwd_free_specs(specs, k);
            return tk_err_set(e, TK_ENOMEM, "forward_backward: out of memory");
        }
    }
    return 0;
}

static int fb_submit(tk_client_training *t, const tk_wire_datum *data, size_t n,
                     tk_wire_loss_fn loss_fn, const tk_wire_f64_map *cfg, bool forward_only,
                     tk_client_task **out, tk_err *e) {
    *out = NULL;
    const char *what = forward_only ? "forward" : "forward_backward";
    if (!data || n == 0) return tk_err_set(e, TK_EINVAL, "%s: no data", what);
    if (!tk_wire_loss_fn_get_info(loss_fn))
        return tk_err_set(e, TK_EINVAL, "%s: unknown loss function %d", what, (int)loss_fn);
    for (size_t i = 0; i < n; i++) {
        char where[48];
        snprintf(where, sizeof where, "data[%zu]", i);
        int rc = tk_wire_datum_check(&data[i], loss_fn, where, e);
        if (rc) return tk_err_prefix(e, "%s: ", what);
    }
    tk_chunks ch;
    int rc = tk_fwdbwd_split(t->svc, data, n, &ch, e);
    if (rc) return rc;
    char name[160];
    snprintf(name, sizeof name, "%s (model %.100s, %zu datum%s)", what, t->model_id, n,
             n == 1 ? "" : "s");
    tk_task *task = tk_task_new(t->svc, forward_only ? TK_CLIENT_TASK_FORWARD
                                                     : TK_CLIENT_TASK_FORWARD_BACKWARD,
                                TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, name);
    tk_client_call_spec *specs = tk_calloc_array(ch.n_chunks, sizeof *specs);
    size_t *datums = tk_calloc_array(ch.n_chunks, sizeof *datums);
    if (!task || !specs || !datums) {
        rc = tk_err_set(e, TK_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    for (size_t k = 0; k < ch.n_chunks; k++) datums[k] = ch.start[k + 1] - ch.start[k];
    pthread_mutex_lock(&t->mu);
    rc = tk_fwdbwd_build_specs(t, data, &ch, forward_only, loss_fn, cfg, t->seq + 1, specs, e);
    if (rc) tk_err_prefix(e, "%s: ", what);
    else rc = tk_training_submit_locked(t, specs, ch.n_chunks, true, datums, task, NULL, e);
    if (!rc) t->seq += (int64_t)ch.n_chunks;
    pthread_mutex_unlock(&t->mu);
done:
    free(specs);
    free(datums);
    free(ch.start);
    if (rc) {
        tk_client_task_release(task);
        return rc;
    }
    *out = task;
    return 0;
}

int tk_client_training_forward(tk_client_training *t, const tk_wire_datum *data, size_t n,
                               tk_wire_loss_fn loss_fn, const tk_wire_f64_map *loss_fn_config,
                               tk_client_task **out, tk_err *e) {
    return fb_submit(t, data, n, loss_fn, loss_fn_config, true, out, e);
}

int tk_client_training_forward_backward(tk_client_training *t, const tk_wire_datum *data,
                                        size_t n, tk_wire_loss_fn loss_fn,
                                        const tk_wire_f64_map *loss_fn_config,
                                        tk_client_task **out, tk_err *e) {
    return fb_submit(t, data, n, loss_fn, loss_fn_config, false, out, e);
}
