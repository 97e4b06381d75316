/* tinker_public.ForwardBackwardRequest (§5) in both directions.
 *
 *   ForwardBackwardRequest { 1 model_id; 2 seq_id (int32); 3 repeated Datum; 4 loss_fn;
 *                            5 map<string,double> loss_fn_config; 6 forward_only }
 *   Datum { 1 repeated Chunk; 2 map<string,Tensor> loss_fn_inputs }
 *   Chunk { oneof: 1 EncodedTextChunk{1 tokens: int32 LE}; 2 ImageChunk{1 data; 2 format;
 *           3 optional expected_tokens}; 3 DmelChunk }
 *   Tensor { oneof: 1 dense | 2 SparseCsr{1 values; 2 crow_indices; 3 col_indices};
 *            3 dtype; 4 repeated int64 shape (packed) } */
#include "proto_internal.h"
#include "wire_internal.h"

#include <stdio.h>

/* ---- sizes (and every check) ---------------------------------------------------------------- */

static size_t elem_size(tk_wire_dtype d) { return d == TK_WIRE_INT64 ? 8 : 4; }

static size_t tensor_payload(const tk_wire_tensor *t) {
    size_t s = pb_len_size(1, t->n * elem_size(t->dtype)) + pb_varint_field_size(3, 1);
    if (t->ndim > 0) s += pb_len_size(4, pb_packed_i64_payload(t->shape, (size_t)t->ndim));
    return s;
}

static size_t text_inner(const tk_wire_chunk *c) { return c->n_tokens ? pb_len_size(1, c->n_tokens * 4) : 0; }

static size_t image_inner(const tk_wire_chunk *c) {
    size_t s = (c->n_data ? pb_len_size(1, c->n_data) : 0) + pb_len_size(2, strlen(c->format));
    if (c->has_expected_tokens) s += pb_varint_field_size(3, (uint64_t)c->expected_tokens);
    return s;
}

/* Chunk message payload: the oneof member as field 1 (text) or 2 (image). */
static size_t chunk_payload(const tk_wire_chunk *c) {
    if (c->type == TK_WIRE_CHUNK_ENCODED_TEXT) return pb_len_size(1, text_inner(c));
    return pb_len_size(2, image_inner(c));
}

static size_t tensor_entry_payload(const tk_wire_named_tensor *nt) {
    return pb_len_size(1, strlen(nt->name)) + pb_len_size(2, tensor_payload(&nt->tensor));
}

static size_t config_entry_payload(const tk_wire_kv_f64 *kv) {
    return pb_len_size(1, strlen(kv->key)) + pb_tag_size(2) + 8;
}

static int check_datum(const tk_wire_datum *d, size_t di, tk_err *e) {
    const tk_wire_model_input *mi = &d->model_input;
    if (mi->n_chunks && !mi->chunks) return tk_err_set(e, TK_EINVAL, "data[%zu].model_input: NULL chunks", di);
    for (size_t i = 0; i < mi->n_chunks; i++) {
        const tk_wire_chunk *c = &mi->chunks[i];
        switch (c->type) {
        case TK_WIRE_CHUNK_ENCODED_TEXT:
            if (c->n_tokens && !c->tokens) return tk_err_set(e, TK_EINVAL, "data[%zu].model_input.chunks[%zu]: NULL tokens", di, i);
            break;
        case TK_WIRE_CHUNK_IMAGE:
            if (!c->format || !tk_wire_image_format_ok(c->format))
                return tk_err_set(e, TK_EINVAL, "data[%zu].model_input.chunks[%zu].format: must be png or jpeg", di, i);
            if (c->n_data && !c->data) return tk_err_set(e, TK_EINVAL, "data[%zu].model_input.chunks[%zu]: NULL data", di, i);
            if (c->has_expected_tokens && (c->expected_tokens < 0 || c->expected_tokens > INT32_MAX))
                return tk_err_set(e, TK_ERANGE, "data[%zu].model_input.chunks[%zu].expected_tokens: outside int32", di, i);
            break;
        case TK_WIRE_CHUNK_IMAGE_ASSET_POINTER:
            return tk_err_set(e, TK_EUNSUPPORTED,
                              "data[%zu].model_input.chunks[%zu]: image_asset_pointer chunks cannot be sent as protobuf", di, i);
        default: return tk_err_set(e, TK_EINVAL, "data[%zu].model_input.chunks[%zu]: invalid chunk type", di, i);
        }
    }
    const tk_wire_tensor_map *m = &d->loss_fn_inputs;
    if (m->n && !m->items) return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs: NULL items", di);
    for (size_t i = 0; i < m->n; i++) {
        char name[160];
        if (!m->items[i].name) return tk_err_set(e, TK_EINVAL, "data[%zu].loss_fn_inputs[%zu]: no name", di, i);
        snprintf(name, sizeof name, "data[%zu].loss_fn_inputs.%s", di, m->items[i].name);
        int rc = tk_wire_tensor_validate(&m->items[i].tensor, name, e);
        if (rc) return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->items[j].name, m->items[i].name) == 0) return tk_err_set(e, TK_EINVAL, "%s: duplicate name", name);
    }
    return 0;
}

static size_t datum_payload(const tk_wire_datum *d) {
    size_t s = 0;
    for (size_t i = 0; i < d->model_input.n_chunks; i++) s += pb_len_size(1, chunk_payload(&d->model_input.chunks[i]));
    for (size_t i = 0; i < d->loss_fn_inputs.n; i++) s += pb_len_size(2, tensor_entry_payload(&d->loss_fn_inputs.items[i]));
    return s;
}

/* ---- writing -------------------------------------------------------------------------------- */

static uint8_t *put_tensor(uint8_t *p, const tk_wire_tensor *t) {
    p = pb_put_bytes(p, 1, t->data.ptr, t->n * elem_size(t->dtype));
    p = pb_put_varint_field(p, 3, t->dtype == TK_WIRE_INT64 ? PB_DTYPE_INT64 : PB_DTYPE_FLOAT32);
    if (t->ndim > 0) p = pb_put_packed_i64(p, 4, t->shape, (size_t)t->ndim);
    return p;
}

static uint8_t *put_datum(uint8_t *p, const tk_wire_datum *d, size_t *order) {
    for (size_t i = 0; i < d->model_input.n_chunks; i++) {
        const tk_wire_chunk *c = &d->model_input.chunks[i];
        p = pb_put_len(p, 1, chunk_payload(c));
        if (c->type == TK_WIRE_CHUNK_ENCODED_TEXT) {
            p = pb_put_len(p, 1, text_inner(c));
            if (c->n_tokens) p = pb_put_bytes(p, 1, c->tokens, c->n_tokens * 4);
        } else {
            p = pb_put_len(p, 2, image_inner(c));
            if (c->n_data) p = pb_put_bytes(p, 1, c->data, c->n_data);
            p = pb_put_string(p, 2, c->format);
            if (c->has_expected_tokens) p = pb_put_varint_field(p, 3, (uint64_t)c->expected_tokens);
        }
    }
    const tk_wire_tensor_map *m = &d->loss_fn_inputs;
    const char *keys[64] = {0};
    const char **kp = m->n <= 64 ? keys : malloc(m->n * sizeof *kp);
    for (size_t i = 0; i < m->n; i++) kp[i] = m->items[i].name;
    pb_sort_keys(kp, m->n, order);
    if (kp != keys) free(kp);
    for (size_t j = 0; j < m->n; j++) {
        const tk_wire_named_tensor *nt = &m->items[order[j]];
        p = pb_put_len(p, 2, tensor_entry_payload(nt));
        p = pb_put_string(p, 1, nt->name);
        p = pb_put_len(p, 2, tensor_payload(&nt->tensor));
        p = put_tensor(p, &nt->tensor);
    }
    return p;
}

int tk_wire_proto_encode_forward_backward_request(const tk_wire_forward_backward_request *req, tk_buf *out,
                                                  tk_err *e) {
    const tk_wire_forward_backward_input *in = &req->input;
    int rc = 0;
    const char *loss = tk_wire_loss_fn_name(in->loss_fn);
    if (!tk_wire_loss_fn_get_info(in->loss_fn))
        return tk_err_set(e, TK_EINVAL, "ForwardBackwardRequest.loss_fn: invalid value %d", (int)in->loss_fn);
    int64_t seq = req->has_seq_id ? req->seq_id : 0;
    if (seq < INT32_MIN || seq > INT32_MAX)
        return tk_err_set(e, TK_ERANGE, "ForwardBackwardRequest.seq_id: %lld does not fit int32", (long long)seq);
    if (in->n_data && !in->data) return tk_err_set(e, TK_EINVAL, "ForwardBackwardRequest.data: NULL array");
    size_t size = 0, max_inputs = 0;
    if (req->model_id && *req->model_id) size += pb_len_size(1, strlen(req->model_id));
    if (seq) size += pb_varint_field_size(2, (uint64_t)seq);
    for (size_t i = 0; i < in->n_data; i++) {
        if ((rc = check_datum(&in->data[i], i, e))) return tk_err_prefix(e, "ForwardBackwardRequest.");
        size += pb_len_size(3, datum_payload(&in->data[i]));
        if (in->data[i].loss_fn_inputs.n > max_inputs) max_inputs = in->data[i].loss_fn_inputs.n;
    }
    size += pb_len_size(4, strlen(loss));
    const tk_wire_f64_map *cfg = &in->loss_fn_config;
    if (cfg->present) {
        if (cfg->n && !cfg->items) return tk_err_set(e, TK_EINVAL, "ForwardBackwardRequest.loss_fn_config: NULL items");
        for (size_t i = 0; i < cfg->n; i++) {
            if (!cfg->items[i].key) return tk_err_set(e, TK_EINVAL, "ForwardBackwardRequest.loss_fn_config[%zu]: NULL key", i);
            size += pb_len_size(5, config_entry_payload(&cfg->items[i]));
        }
    }
    if (req->forward_only) size += pb_varint_field_size(6, 1);

    size_t n_order = max_inputs > cfg->n ? max_inputs : cfg->n;
    size_t *order = tk_malloc_array(n_order ? n_order : 1, sizeof *order);
    const char **ckeys = tk_malloc_array(cfg->n ? cfg->n : 1, sizeof *ckeys);
    uint8_t *start = pb_reserve(out, size);
    if (!order || !ckeys || !start) {
        free(order);
        free(ckeys);
        return tk_err_set(e, TK_ENOMEM, "ForwardBackwardRequest: out of memory for %zu bytes", size);
    }
    uint8_t *p = start;
    if (req->model_id && *req->model_id) p = pb_put_string(p, 1, req->model_id);
    if (seq) p = pb_put_varint_field(p, 2, (uint64_t)seq);
    for (size_t i = 0; i < in->n_data; i++) {
        p = pb_put_len(p, 3, datum_payload(&in->data[i]));
        p = put_datum(p, &in->data[i], order);
    }
    p = pb_put_string(p, 4, loss);
    if (cfg->present) {
        for (size_t i = 0; i < cfg->n; i++) ckeys[i] = cfg->items[i].key;
        pb_sort_keys(ckeys, cfg->n, order);
        for (size_t j = 0; j < cfg->n; j++) {
            const tk_wire_kv_f64 *kv = &cfg->items[order[j]];
            p = pb_put_len(p, 5, config_entry_payload(kv));
            p = pb_put_string(p, 1, kv->key);
            p = pb_put_double_field(p, 2, kv->value);
        }
    }
    if (req->forward_only) p = pb_put_varint_field(p, 6, 1);
    free(order);
    free(ckeys);
    return pb_commit(out, start, p, size, "ForwardBackwardRequest", e);
}

/* ---- reading -------------------------------------------------------------------------------- */

static int read_tensor(tk_pr *r, tk_wire_tensor *t) {
    memset(t, 0, sizeof *t);
    const uint8_t *dense = NULL, *vals = NULL, *crow = NULL, *col = NULL;
    size_t n_dense = 0, n_vals = 0, n_crow = 0, n_col = 0;
    bool is_dense = false, is_sparse = false;
    uint64_t dtype = 0;
    int64_t *shape = NULL;
    size_t ndim = 0;
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        if (f == 1) {
            if ((rc = tk_pr_want(r, wt, PB_LEN, "dense")) || (rc = tk_pr_bytes(r, &dense, &n_dense))) goto out;
            is_dense = true;
            is_sparse = false;
        } else if (f == 2) {
            const uint8_t *d;
            size_t len;
            if ((rc = tk_pr_want(r, wt, PB_LEN, "sparse_csr")) || (rc = tk_pr_bytes(r, &d, &len))) goto out;
            const uint8_t *old = tk_pr_enter(r, d, len);
            uint32_t f2;
            int wt2;
            vals = crow = col = NULL;
            n_vals = n_crow = n_col = 0;
            while ((rc = tk_pr_next(r, &f2, &wt2)) == 1) {
                const uint8_t **dst = f2 == 1 ? &vals : f2 == 2 ? &crow : f2 == 3 ? &col : NULL;
                size_t *nd = f2 == 1 ? &n_vals : f2 == 2 ? &n_crow : &n_col;
                if (!dst) { if ((rc = tk_pr_skip(r, wt2))) goto out; continue; }
                if ((rc = tk_pr_want(r, wt2, PB_LEN, "sparse_csr")) || (rc = tk_pr_bytes(r, dst, nd))) goto out;
            }
            if (rc < 0) goto out;
            tk_pr_leave(r, old);
            is_sparse = true;
            is_dense = false;
        } else if (f == 3) {
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "dtype")) || (rc = tk_pr_varint(r, &dtype))) goto out;
        } else if (f == 4) {
            if ((rc = tk_pr_repeated_i64(r, wt, &shape, &ndim, TK_WIRE_MAX_NDIM))) goto out;
        } else if ((rc = tk_pr_skip(r, wt))) {
            goto out;
        }
    }
    if (rc < 0) goto out;
    rc = 0;
    size_t es;
    bool widen32 = false, bf16 = false;
    switch (dtype) {
    case PB_DTYPE_FLOAT32: t->dtype = TK_WIRE_FLOAT32; es = 4; break;
    case PB_DTYPE_INT64: t->dtype = TK_WIRE_INT64; es = 8; break;
    case PB_DTYPE_INT32: t->dtype = TK_WIRE_INT64; es = 4; widen32 = true; break;
    case PB_DTYPE_BFLOAT16: t->dtype = TK_WIRE_FLOAT32; es = 2; bf16 = true; break;
    default: rc = tk_pr_fail(r, TK_EINVAL, "dtype: unsupported value %llu", (unsigned long long)dtype); goto out;
    }
    for (size_t i = 0; i < ndim; i++)
        if (shape[i] < 0) { rc = tk_pr_fail(r, TK_EINVAL, "shape[%zu]: negative dimension %lld", i, (long long)shape[i]); goto out; }
    const uint8_t *src = is_sparse ? vals : dense;
    size_t nbytes = is_sparse ? n_vals : n_dense;
    if (!is_dense && !is_sparse) { src = NULL; nbytes = 0; }
    if (nbytes % es) { rc = tk_pr_fail(r, TK_EINVAL, "%zu data bytes are not a multiple of %zu", nbytes, es); goto out; }
    size_t n = nbytes / es;
    void *data = n ? tk_arena_alloc(r->a, n * (t->dtype == TK_WIRE_INT64 ? 8 : 4)) : NULL;
    if (n && !data) { rc = tk_pr_fail(r, TK_ENOMEM, "out of memory"); goto out; }
    if (widen32) {
        for (size_t i = 0; i < n; i++) { int32_t v; memcpy(&v, src + 4 * i, 4); ((int64_t *)data)[i] = v; }
    } else if (bf16) {
        for (size_t i = 0; i < n; i++) { uint16_t v; memcpy(&v, src + 2 * i, 2); uint32_t b = (uint32_t)v << 16; memcpy((float *)data + i, &b, 4); }
    } else if (n) {
        memcpy(data, src, nbytes);
    }
    if (is_sparse) {
        if (n_crow % 8 || n_col % 8) { rc = tk_pr_fail(r, TK_EINVAL, "sparse_csr indices are not int64 arrays"); goto out; }
        int64_t *ci = tk_pr_copy(r, crow, n_crow), *co = tk_pr_copy(r, col, n_col);
        if ((n_crow && !ci) || (n_col && !co)) { rc = tk_pr_fail(r, TK_ENOMEM, "out of memory"); goto out; }
        if (ndim != 2 || n_crow == 0) { rc = tk_pr_fail(r, TK_EINVAL, "a sparse tensor needs a 2-D shape and row pointers"); goto out; }
        char where[300];
        snprintf(where, sizeof where, "%s.%s", r->msg, r->path);
        rc = tk_wire_csr_expand(r->a, t->dtype, data, n, ci, n_crow / 8, co, n_col / 8, shape, 2, t, where, r->e);
        goto out;
    }
    t->n = n;
    t->data.ptr = data;
    if (ndim == 0) {
        t->ndim = 1;
        t->shape[0] = (int64_t)n;
    } else {
        t->ndim = (int)ndim;
        memcpy(t->shape, shape, ndim * sizeof(int64_t));
        size_t numel;
        if (!tk_wire_shape_numel(t->shape, t->ndim, &numel)) { rc = tk_pr_fail(r, TK_ERANGE, "shape overflows"); goto out; }
        if (numel != n) { rc = tk_pr_fail(r, TK_EINVAL, "data has %zu elements but the shape needs %zu", n, numel); goto out; }
    }
out:
    free(shape);
    return rc < 0 ? rc : 0;
}

static int read_chunk(tk_pr *r, tk_wire_chunk *c) {
    memset(c, 0, sizeof *c);
    bool have = false;
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        if (f == 3) return tk_pr_fail(r, TK_EUNSUPPORTED, "dmel (audio) chunks are not supported");
        if (f != 1 && f != 2) { if ((rc = tk_pr_skip(r, wt))) return rc; continue; }
        const uint8_t *d;
        size_t len;
        if ((rc = tk_pr_want(r, wt, PB_LEN, f == 1 ? "encoded_text" : "image")) || (rc = tk_pr_bytes(r, &d, &len))) return rc;
        const uint8_t *old = tk_pr_enter(r, d, len);
        memset(c, 0, sizeof *c);
        have = true;
        uint32_t f2;
        int wt2;
        if (f == 1) {
            c->type = TK_WIRE_CHUNK_ENCODED_TEXT;
            while ((rc = tk_pr_next(r, &f2, &wt2)) == 1) {
                if (f2 != 1) { if ((rc = tk_pr_skip(r, wt2))) return rc; continue; }
                const uint8_t *tb;
                size_t tl;
                if ((rc = tk_pr_want(r, wt2, PB_LEN, "encoded_text.tokens")) || (rc = tk_pr_bytes(r, &tb, &tl))) return rc;
                if (tl % 4) return tk_pr_fail(r, TK_EINVAL, "encoded_text.tokens: %zu bytes is not a multiple of 4", tl);
                c->n_tokens = tl / 4;
                c->tokens = tk_pr_copy(r, tb, tl);
                if (tl && !c->tokens) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
            }
        } else {
            c->type = TK_WIRE_CHUNK_IMAGE;
            while ((rc = tk_pr_next(r, &f2, &wt2)) == 1) {
                if (f2 == 1) {
                    const uint8_t *db;
                    size_t dl;
                    if ((rc = tk_pr_want(r, wt2, PB_LEN, "image.data")) || (rc = tk_pr_bytes(r, &db, &dl))) return rc;
                    c->n_data = dl;
                    c->data = tk_pr_copy(r, db, dl);
                    if (dl && !c->data) return tk_pr_fail(r, TK_ENOMEM, "out of memory");
                } else if (f2 == 2) {
                    if ((rc = tk_pr_want(r, wt2, PB_LEN, "image.format")) || (rc = tk_pr_string(r, &c->format))) return rc;
                } else if (f2 == 3) {
                    uint64_t v;
                    if ((rc = tk_pr_want(r, wt2, PB_VARINT, "image.expected_tokens")) || (rc = tk_pr_varint(r, &v))) return rc;
                    int32_t x = (int32_t)(uint32_t)v;
                    if (x < 0) return tk_pr_fail(r, TK_EINVAL, "image.expected_tokens: negative (%d)", x);
                    c->has_expected_tokens = true;
                    c->expected_tokens = x;
                } else if ((rc = tk_pr_skip(r, wt2))) {
                    return rc;
                }
            }
            if (rc == 0 && (!c->format || !tk_wire_image_format_ok(c->format)))
                return tk_pr_fail(r, TK_EINVAL, "image.format: must be \"png\" or \"jpeg\"");
        }
        if (rc < 0) return rc;
        tk_pr_leave(r, old);
    }
    if (rc < 0) return rc;
    if (!have) return tk_pr_fail(r, TK_EINVAL, "empty chunk (no encoded_text or image)");
    return 0;
}

typedef struct tensor_slot {
    tk_wire_tensor t;
    bool seen;
} tensor_slot;

static int tensor_value(tk_pr *r, int wt, void *ctx) {
    tensor_slot *ts = ctx;
    const uint8_t *d;
    size_t len;
    int rc;
    if ((rc = tk_pr_want(r, wt, PB_LEN, "value")) || (rc = tk_pr_bytes(r, &d, &len))) return rc;
    const uint8_t *old = tk_pr_enter(r, d, len);
    if ((rc = read_tensor(r, &ts->t))) return rc;
    tk_pr_leave(r, old);
    ts->seen = true;
    return 0;
}

static int read_datum(tk_pr *r, tk_wire_datum *dt) {
    memset(dt, 0, sizeof *dt);
    tk_wire_chunk *chunks = NULL;
    tk_wire_named_tensor *ins = NULL;
    size_t nc = 0, cc = 0, ni = 0, ci = 0;
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        const uint8_t *d;
        size_t len;
        if (f != 1 && f != 2) { if ((rc = tk_pr_skip(r, wt))) goto out; continue; }
        if ((rc = tk_pr_want(r, wt, PB_LEN, f == 1 ? "model_input" : "loss_fn_inputs")) || (rc = tk_pr_bytes(r, &d, &len)))
            goto out;
        const uint8_t *old = tk_pr_enter(r, d, len);
        if (f == 1) {
            VEC_PUSH(chunks, nc, cc, tk_wire_chunk, r);
            size_t saved = tk_pr_push(r, ".model_input[%zu]", nc - 1);
            if ((rc = read_chunk(r, &chunks[nc - 1]))) goto out;
            tk_pr_pop(r, saved);
        } else {
            tensor_slot ts = {0};
            char *key;
            size_t saved = tk_pr_push(r, ".loss_fn_inputs[%zu]", ni);
            if ((rc = tk_pr_map_entry(r, &key, tensor_value, &ts))) goto out;
            tk_pr_pop(r, saved);
            if (!ts.seen) {   /* an entry without a value is a default Tensor, which has no dtype */
                rc = tk_pr_fail(r, TK_EINVAL, "loss_fn_inputs.%s: entry without a tensor", key);
                goto out;
            }
            tk_wire_named_tensor nt = {key, ts.t};
            size_t j;
            for (j = 0; j < ni; j++)   /* protobuf maps: the last entry for a key wins */
                if (strcmp(ins[j].name, key) == 0) break;
            if (j == ni) VEC_PUSH(ins, ni, ci, tk_wire_named_tensor, r);
            ins[j] = nt;
        }
        tk_pr_leave(r, old);
    }
    if (rc < 0) goto out;
    rc = 0;
    dt->model_input.n_chunks = nc;
    dt->model_input.chunks = tk_pr_copy(r, chunks, nc * sizeof *chunks);
    dt->loss_fn_inputs.n = ni;
    dt->loss_fn_inputs.items = tk_pr_copy(r, ins, ni * sizeof *ins);
    if ((nc && !dt->model_input.chunks) || (ni && !dt->loss_fn_inputs.items)) rc = tk_pr_fail(r, TK_ENOMEM, "out of memory");
out:
    free(chunks);
    free(ins);
    return rc;
}

int tk_wire_proto_decode_forward_backward_request(const void *buf, size_t len, tk_arena *a,
                                                  tk_wire_forward_backward_request *out, tk_err *e) {
    memset(out, 0, sizeof *out);
    if (!a) return tk_err_set(e, TK_EINVAL, "ForwardBackwardRequest: an arena is needed");
    tk_pr rd, *r = &rd;
    tk_pr_init(r, buf, len, a, "ForwardBackwardRequest", e);
    tk_wire_datum *data = NULL;
    tk_wire_kv_f64 *cfg = NULL;
    size_t nd = 0, cd = 0, ncfg = 0, ccfg = 0;
    char *loss = NULL;
    uint32_t f;
    int wt, rc;
    while ((rc = tk_pr_next(r, &f, &wt)) == 1) {
        switch (f) {
        case 1:
            if ((rc = tk_pr_want(r, wt, PB_LEN, "model_id")) || (rc = tk_pr_string(r, &out->model_id))) goto out;
            break;
        case 2: {
            uint64_t v;
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "seq_id")) || (rc = tk_pr_varint(r, &v))) goto out;
            out->seq_id = (int32_t)(uint32_t)v;
            break;
        }
        case 3: {
            const uint8_t *d;
            size_t l;
            if ((rc = tk_pr_want(r, wt, PB_LEN, "data")) || (rc = tk_pr_bytes(r, &d, &l))) goto out;
            VEC_PUSH(data, nd, cd, tk_wire_datum, r);
            size_t saved = tk_pr_push(r, "data[%zu]", nd - 1);
            const uint8_t *old = tk_pr_enter(r, d, l);
            if ((rc = read_datum(r, &data[nd - 1]))) goto out;
            tk_pr_leave(r, old);
            tk_pr_pop(r, saved);
            break;
        }
        case 4:
            if ((rc = tk_pr_want(r, wt, PB_LEN, "loss_fn")) || (rc = tk_pr_string(r, &loss))) goto out;
            break;
        case 5: {
            const uint8_t *d;
            size_t l;
            if ((rc = tk_pr_want(r, wt, PB_LEN, "loss_fn_config")) || (rc = tk_pr_bytes(r, &d, &l))) goto out;
            const uint8_t *old = tk_pr_enter(r, d, l);
            double v = 0;
            char *key;
            size_t saved = tk_pr_push(r, "loss_fn_config");
            if ((rc = tk_pr_map_entry(r, &key, tk_pr_f64_value, &v))) goto out;
            tk_pr_pop(r, saved);
            tk_pr_leave(r, old);
            size_t j;
            for (j = 0; j < ncfg; j++)
                if (strcmp(cfg[j].key, key) == 0) break;
            if (j == ncfg) VEC_PUSH(cfg, ncfg, ccfg, tk_wire_kv_f64, r);
            cfg[j].key = key;
            cfg[j].value = v;
            break;
        }
        case 6: {
            uint64_t v;
            if ((rc = tk_pr_want(r, wt, PB_VARINT, "forward_only")) || (rc = tk_pr_varint(r, &v))) goto out;
            out->forward_only = v != 0;
            break;
        }
        default:
            if ((rc = tk_pr_skip(r, wt))) goto out;
        }
    }
    if (rc < 0) goto out;
    rc = 0;
    out->has_seq_id = true;
    if (!loss) { rc = tk_pr_fail(r, TK_EINVAL, "loss_fn: required field is missing"); goto out; }
    {
        tk_err e2 = {0};
        if (tk_wire_loss_fn_parse(loss, &out->input.loss_fn, &e2)) {
            rc = tk_pr_fail(r, TK_EINVAL, "loss_fn: %s", e2.msg);
            goto out;
        }
    }
    out->input.n_data = nd;
    out->input.data = tk_pr_copy(r, data, nd * sizeof *data);
    out->input.loss_fn_config.present = ncfg > 0;
    out->input.loss_fn_config.n = ncfg;
    out->input.loss_fn_config.items = tk_pr_copy(r, cfg, ncfg * sizeof *cfg);
    if (!out->model_id && !(out->model_id = tk_arena_strdup(a, ""))) rc = tk_pr_fail(r, TK_ENOMEM, "out of memory");
    if ((nd && !out->input.data) || (ncfg && !out->input.loss_fn_config.items))
        rc = tk_pr_fail(r, TK_ENOMEM, "out of memory");
out:
    free(data);
    free(cfg);
    return rc;
}
