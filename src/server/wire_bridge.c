/* Conversions between wire structs and engine structs (see wire_bridge.h). */
#include "wire_bridge.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int tk_server_fb_check(const tk_wire_forward_backward_request *w, size_t max_tokens, tk_err *e) {
    if (!w->model_id || !*w->model_id) return tk_err_set(e, TK_EINVAL, "model_id: missing or empty");
    if (!w->has_seq_id || w->seq_id < 1)
        return tk_err_set(e, TK_EINVAL, "seq_id: must be >= 1 (the first request after create_model has seq_id 1)%s",
                          w->has_seq_id ? "" : "; it is missing");
    const tk_wire_forward_backward_input *in = &w->input;
    if (in->n_data == 0) return tk_err_set(e, TK_EINVAL, "data: no datums");
    size_t total = 0;
    for (size_t i = 0; i < in->n_data; i++) {
        const tk_wire_model_input *mi = &in->data[i].model_input;
        for (size_t c = 0; c < mi->n_chunks; c++)
            if (mi->chunks[c].type != TK_WIRE_CHUNK_ENCODED_TEXT)
                return tk_err_set(e, TK_EUNSUPPORTED,
                                  "data[%zu].model_input.chunks[%zu]: %s chunks are not supported by the local engine "
                                  "(it serves text-only models); send encoded_text chunks",
                                  i, c, mi->chunks[c].type == TK_WIRE_CHUNK_IMAGE ? "image" : "image_asset_pointer");
        char where[32];
        snprintf(where, sizeof where, "data[%zu]", i);
        int rc = tk_wire_datum_check(&in->data[i], in->loss_fn, where, e);
        if (rc) return rc;
        int64_t len = 0;
        if ((rc = tk_wire_model_input_length(mi, &len, e))) return rc;
        total += (size_t)len;
        if (total > max_tokens)
            return tk_err_set(e, TK_EINVAL,
                              "data: more than %zu tokens in one request (the server's max_request_tokens; reached at "
                              "data[%zu]); send fewer datums per request",
                              max_tokens, i);
    }
    return tk_wire_loss_config_check(in->loss_fn, &in->loss_fn_config, e);
}

static tk_engine_dtype engine_dtype(tk_wire_dtype d) { return d == TK_WIRE_INT64 ? TK_ENGINE_I64 : TK_ENGINE_F32; }

int tk_server_fb_to_engine(const tk_wire_forward_backward_request *w, tk_arena *a, tk_engine_request *out,
                           tk_err *e) {
    const tk_wire_forward_backward_input *in = &w->input;
    memset(out, 0, sizeof *out);
    out->loss_fn = tk_wire_loss_fn_name(in->loss_fn);
    tk_engine_kv *kv = in->loss_fn_config.n ? tk_arena_alloc(a, in->loss_fn_config.n * sizeof *kv) : NULL;
    tk_engine_datum *d = tk_arena_alloc(a, in->n_data * sizeof *d);
    if ((in->loss_fn_config.n && !kv) || !d) return tk_err_set(e, TK_ENOMEM, "out of memory");
    for (size_t i = 0; i < in->loss_fn_config.n; i++)
        kv[i] = (tk_engine_kv){in->loss_fn_config.items[i].key, in->loss_fn_config.items[i].value};
    for (size_t i = 0; i < in->n_data; i++) {
        const tk_wire_datum *wd = &in->data[i];
        const tk_wire_model_input *mi = &wd->model_input;
        size_t n = 0;
        for (size_t c = 0; c < mi->n_chunks; c++) n += mi->chunks[c].n_tokens;
        const int32_t *tokens;
        if (mi->n_chunks == 1) {
            tokens = mi->chunks[0].tokens;
        } else {
            int32_t *t = tk_arena_alloc(a, (n ? n : 1) * sizeof *t);
            if (!t) return tk_err_set(e, TK_ENOMEM, "out of memory");
            size_t at = 0;
            for (size_t c = 0; c < mi->n_chunks; c++) {
                if (mi->chunks[c].n_tokens) memcpy(t + at, mi->chunks[c].tokens, mi->chunks[c].n_tokens * sizeof *t);
                at += mi->chunks[c].n_tokens;
            }
            tokens = t;
        }
        const tk_wire_tensor_map *m = &wd->loss_fn_inputs;
        tk_engine_array *arr = m->n ? tk_arena_alloc(a, m->n * sizeof *arr) : NULL;
        if (m->n && !arr) return tk_err_set(e, TK_ENOMEM, "out of memory");
        for (size_t k = 0; k < m->n; k++) {
            const tk_wire_tensor *t = &m->items[k].tensor;
            arr[k] = (tk_engine_array){m->items[k].name, engine_dtype(t->dtype), t->data.ptr, t->n};
        }
        d[i] = (tk_engine_datum){TK_ENGINE_I32, tokens, n, arr, m->n};
    }
    out->config = kv;
    out->n_config = in->loss_fn_config.n;
    out->data = d;
    out->n_data = in->n_data;
    return 0;
}

int tk_server_fb_encode(const tk_engine_request *req, const tk_engine_output *out, tk_buf *json, tk_buf *proto,
                        tk_err *e) {
    tk_wire_forward_backward_output o;
    tk_wire_init(TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, &o);
    tk_wire_tensor_map *maps = tk_calloc_array(req->n_data ? req->n_data : 1, sizeof *maps);
    tk_wire_named_tensor *items = tk_calloc_array(req->n_data ? 2 * req->n_data : 1, sizeof *items);
    if (!maps || !items) {
        free(maps);
        free(items);
        return tk_err_set(e, TK_ENOMEM, "out of memory encoding the result");
    }
    size_t at = 0;
    for (size_t i = 0; i < req->n_data; i++) {
        size_t n = req->data[i].n_tokens;
        items[2 * i] = (tk_wire_named_tensor){"logprobs", tk_wire_tensor_view_f32(out->logprobs + at, n)};
        maps[i].items = &items[2 * i];
        maps[i].n = 1;
        if (out->elementwise_loss) {
            items[2 * i + 1] =
                (tk_wire_named_tensor){"elementwise_loss", tk_wire_tensor_view_f32(out->elementwise_loss + at, n)};
            maps[i].n = 2;
        }
        at += n;
    }
    tk_wire_kv_f64 loss = {"loss:sum", out->loss_sum};
    o.loss_fn_output_type = "ArrayRecord";
    o.loss_fn_outputs = maps;
    o.n_loss_fn_outputs = req->n_data;
    o.metrics = (tk_wire_f64_map){true, &loss, 1};
    int rc = tk_wire_json_encode(TK_WIRE_MSG_FORWARD_BACKWARD_OUTPUT, &o, json, e);
    if (!rc && proto) rc = tk_wire_proto_encode_forward_backward_output(&o, proto, e);
    free(maps);
    free(items);
    return rc;
}

/* ---- asample ----------------------------------------------------------------------------------------- */

int tk_server_sample_check(const tk_wire_sample_request *w, size_t max_tokens_total, tk_err *e) {
    if (!w->sampling_session_id || !*w->sampling_session_id)
        return tk_err_set(e, w->base_model || w->model_path ? TK_EUNSUPPORTED : TK_EINVAL,
                          "sampling_session_id: missing%s",
                          w->base_model || w->model_path
                              ? " (sampling by base_model / model_path without a session is the SDK <= 0.2 form; "
                                "create a sampling session with create_sampling_session)"
                              : "");
    if (!w->has_seq_id || w->seq_id < 0)
        return tk_err_set(e, TK_EINVAL, "seq_id: must be >= 0%s", w->has_seq_id ? "" : "; it is missing");
    const tk_wire_model_input *mi = &w->prompt;
    size_t n = 0;
    for (size_t c = 0; c < mi->n_chunks; c++) {
        if (mi->chunks[c].type != TK_WIRE_CHUNK_ENCODED_TEXT)
            return tk_err_set(e, TK_EUNSUPPORTED,
                              "prompt.chunks[%zu]: image chunks are not supported by the local engine (it serves "
                              "text-only models)", c);
        n += mi->chunks[c].n_tokens;
    }
    if (n == 0) return tk_err_set(e, TK_EINVAL, "prompt: no tokens");
    if (w->num_samples < 1 || w->num_samples > TK_ENGINE_MAX_NUM_SAMPLES)
        return tk_err_set(e, TK_EINVAL, "num_samples: %" PRId64 " is outside 1..%d", w->num_samples,
                          TK_ENGINE_MAX_NUM_SAMPLES);
    const tk_wire_sampling_params *p = &w->sampling_params;
    if (!p->has_max_tokens) return tk_err_set(e, TK_EINVAL, "sampling_params.max_tokens: required");
    if (p->max_tokens < 1) return tk_err_set(e, TK_EINVAL, "sampling_params.max_tokens: %" PRId64 " must be >= 1",
                                             p->max_tokens);
    if (!isfinite(p->temperature) || p->temperature < 0)
        return tk_err_set(e, TK_EINVAL, "sampling_params.temperature: %g must be a finite number >= 0", p->temperature);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return tk_err_set(e, TK_EINVAL, "sampling_params.top_p: %g is outside (0, 1]", p->top_p);
    if (p->top_k < -1 || p->top_k > INT32_MAX)
        return tk_err_set(e, TK_EINVAL, "sampling_params.top_k: %" PRId64 " must be -1 (off) or >= 0", p->top_k);
    if (p->has_seed && p->seed < 0)
        return tk_err_set(e, TK_EINVAL, "sampling_params.seed: %" PRId64 " must be >= 0", p->seed);
    if (w->topk_prompt_logprobs < 0 || w->topk_prompt_logprobs > TK_ENGINE_MAX_TOPK_PROMPT_LOGPROBS)
        return tk_err_set(e, TK_EINVAL, "topk_prompt_logprobs: %" PRId64 " is outside 0..%d", w->topk_prompt_logprobs,
                          TK_ENGINE_MAX_TOPK_PROMPT_LOGPROBS);
    for (size_t i = 0; i < p->n_stop_strings; i++) {
        size_t len = strlen(p->stop_strings[i]);
        if (len == 0) return tk_err_set(e, TK_EINVAL, "sampling_params.stop[%zu]: empty stop string", i);
        if (len > TK_ENGINE_MAX_STOP_STRING)
            return tk_err_set(e, TK_EINVAL, "sampling_params.stop[%zu]: %zu bytes is longer than %d", i, len,
                              TK_ENGINE_MAX_STOP_STRING);
    }
    /* the KV cache the request may grow: the prompt once, each sample's own tokens */
    uint64_t want = (uint64_t)n + (uint64_t)w->num_samples * (uint64_t)p->max_tokens;
    if (p->max_tokens > (int64_t)max_tokens_total || want > max_tokens_total)
        return tk_err_set(e, TK_EINVAL,
                          "prompt (%zu tokens) + num_samples (%" PRId64 ") x max_tokens (%" PRId64 ") is more than the "
                          "server's max_request_tokens (%zu); ask for fewer samples or tokens per request",
                          n, w->num_samples, p->max_tokens, max_tokens_total);
    return 0;
}

const int32_t *tk_server_sample_prompt(const tk_wire_sample_request *w, tk_arena *a, size_t *n, tk_err *e) {
    const tk_wire_model_input *mi = &w->prompt;
    size_t total = 0;
    for (size_t c = 0; c < mi->n_chunks; c++) total += mi->chunks[c].n_tokens;
    *n = total;
    if (mi->n_chunks == 1) return mi->chunks[0].tokens;
    int32_t *t = tk_arena_alloc(a, (total ? total : 1) * sizeof *t);
    if (!t) {
        tk_err_set(e, TK_ENOMEM, "out of memory");
        return NULL;
    }
    size_t at = 0;
    for (size_t c = 0; c < mi->n_chunks; c++) {
        if (mi->chunks[c].n_tokens) memcpy(t + at, mi->chunks[c].tokens, mi->chunks[c].n_tokens * sizeof *t);
        at += mi->chunks[c].n_tokens;
    }
    return t;
}

int tk_server_sample_encode(const tk_engine_sample_result *r, tk_buf *json, tk_buf *proto, tk_err *e) {
    tk_wire_sample_response o;
    tk_wire_init(TK_WIRE_MSG_SAMPLE_RESPONSE, &o);
    tk_wire_sampled_sequence *seqs = tk_calloc_array(r->n_sequences ? r->n_sequences : 1, sizeof *seqs);
    if (!seqs) return tk_err_set(e, TK_ENOMEM, "out of memory encoding the result");
    for (size_t i = 0; i < r->n_sequences; i++) {
        const tk_engine_sequence *q = &r->sequences[i];
        seqs[i].stop_reason = q->stop_reason == TK_ENGINE_STOP_STOP ? TK_WIRE_STOP_REASON_STOP : TK_WIRE_STOP_REASON_LENGTH;
        seqs[i].tokens = q->tokens;
        seqs[i].n_tokens = q->n_tokens;
        seqs[i].has_logprobs = true;
        seqs[i].logprobs = q->logprobs;
        seqs[i].n_logprobs = q->n_tokens;
    }
    o.sequences = seqs;
    o.n_sequences = r->n_sequences;
    if (r->prompt_logprobs) {
        o.has_prompt_logprobs = true;
        o.prompt_logprobs = r->prompt_logprobs;
        o.n_prompt_logprobs = r->n_prompt;
    }
    if (r->topk > 0 && r->topk_ids) {
        o.has_topk_prompt_logprobs = true;
        o.topk_prompt_logprobs = (tk_wire_topk_prompt_logprobs){r->n_prompt, (size_t)r->topk, r->topk_ids,
                                                                r->topk_logprobs};
    }
    int rc = tk_wire_json_encode(TK_WIRE_MSG_SAMPLE_RESPONSE, &o, json, e);
    if (!rc && proto) rc = tk_wire_proto_encode_sample_response(&o, proto, e);
    free(seqs);
    return rc;
}

/* ---- peeking at refused bodies --------------------------------------------------------------------- */

static bool varint(const unsigned char **p, const unsigned char *end, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Top-level fields 1 (model_id, bytes) and 2 (seq_id, varint) of a ForwardBackwardRequest, read up
 * to the first malformed field (a body cut short still names them: they come first). */
static bool peek_proto(const char *body, size_t len, char *model_id, size_t n, int64_t *seq_id) {
    const unsigned char *p = (const unsigned char *)body, *end = p + len;
    bool has_id = false, has_seq = false;
    while (p < end) {
        uint64_t key, v;
        if (!varint(&p, end, &key)) break;
        unsigned field = (unsigned)(key >> 3), wt = (unsigned)(key & 7);
        if (wt == 0) {
            if (!varint(&p, end, &v)) break;
            if (field == 2) {
                *seq_id = (int64_t)(int32_t)(uint32_t)v; /* int32 on the wire */
                has_seq = true;
            }
        } else if (wt == 2) {
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p)) break;
            if (field == 1 && v > 0 && v < n) {
                memcpy(model_id, p, (size_t)v);
                model_id[v] = '\0';
                has_id = !memchr(model_id, '\0', (size_t)v);
            }
            p += v;
        } else if (wt == 1 || wt == 5) {
            size_t w = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < w) break;
            p += w;
        } else
            break;
    }
    return has_id && has_seq;
}

/* Walk the length-delimited field `field` of message [p, end); calls fn on each occurrence. */
typedef bool (*pb_visit_fn)(const unsigned char *p, const unsigned char *end);

static bool any_field(const unsigned char *p, const unsigned char *end, unsigned want, pb_visit_fn fn) {
    while (p < end) {
        uint64_t key, v;
        if (!varint(&p, end, &key)) return false;
        unsigned field = (unsigned)(key >> 3), wt = (unsigned)(key & 7);
        if (wt == 0) {
            if (!varint(&p, end, &v)) return false;
        } else if (wt == 2) {
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p)) return false;
            if (field == want && fn(p, p + v)) return true;
            p += v;
        } else if (wt == 1 || wt == 5) {
            size_t w = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < w) return false;
            p += w;
        } else
            return false;
    }
    return false;
}

static bool always(const unsigned char *p, const unsigned char *end) {
    (void)p;
    (void)end;
    return true;
}
static bool tensor_sparse(const unsigned char *p, const unsigned char *end) { return any_field(p, end, 2, always); }
static bool entry_sparse(const unsigned char *p, const unsigned char *end) { return any_field(p, end, 2, tensor_sparse); }
static bool datum_sparse(const unsigned char *p, const unsigned char *end) { return any_field(p, end, 2, entry_sparse); }

bool tk_server_fb_has_sparse(const char *body, size_t len, bool proto) {
    if (!proto) return memmem(body, len, "sparse_crow_indices", 19) != NULL;
    const unsigned char *p = (const unsigned char *)body;
    return any_field(p, p + len, 3, datum_sparse); /* ForwardBackwardRequest.data */
}

bool tk_server_peek_model_seq(const char *body, size_t len, bool proto, char *model_id, size_t n, int64_t *seq_id) {
    if (!n) return false;
    model_id[0] = '\0';
    if (proto) return peek_proto(body, len, model_id, n, seq_id);
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *id = json_string_value(json_object_get(v, "model_id"));
    json_t *seq = json_object_get(v, "seq_id");
    bool ok = id && *id && strlen(id) < n && json_is_integer(seq);
    if (ok) {
        snprintf(model_id, n, "%s", id);
        *seq_id = (int64_t)json_integer_value(seq);
    }
    json_decref(v);
    return ok;
}
